/* schema_format.c - the "format" keyword: uuid, date-time (RFC 3339), date, uri, email, ipv4;
 * other formats are accepted. */
#include "common/schema_internal.h"
#include "common/encoding.h"
#include "common/timefmt.h"

#include <string.h>

static int num2(const char *s)
{
	return (s[0] - '0') * 10 + (s[1] - '0');
}

/* YYYY-MM-DD */
static int fmt_date(const char *s, size_t n)
{
	int y, m, d;

	if (n != 10 || s[4] != '-' || s[7] != '-' || !all_digits(s, 4) || !all_digits(s + 5, 2) ||
	    !all_digits(s + 8, 2))
		return 0;
	y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + num2(s + 2);
	m = num2(s + 5);
	d = num2(s + 8);
	return m >= 1 && m <= 12 && d >= 1 && d <= time_days_in_month(y, m);
}

/* RFC 3339 date-time */
static int fmt_datetime(const char *s, size_t n)
{
	size_t i = 19;
	int hh, mm, ss;

	if (n < 20 || !fmt_date(s, 10) || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
	    s[16] != ':' || !all_digits(s + 11, 2) || !all_digits(s + 14, 2) ||
	    !all_digits(s + 17, 2))
		return 0;
	hh = num2(s + 11);
	mm = num2(s + 14);
	ss = num2(s + 17);
	if (hh > 23 || mm > 59 || ss > 60 || (ss == 60 && mm != 59))
		return 0;
	if (s[i] == '.') {
		size_t start = ++i;

		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == start)
			return 0;
	}
	if (i < n && (s[i] == 'Z' || s[i] == 'z'))
		return i + 1 == n;
	if (i + 6 != n || (s[i] != '+' && s[i] != '-') || s[i + 3] != ':' ||
	    !all_digits(s + i + 1, 2) || !all_digits(s + i + 4, 2))
		return 0;
	return num2(s + i + 1) <= 23 && num2(s + i + 4) <= 59;
}

static int fmt_uuid(const char *s, size_t n)
{
	size_t i;

	if (n != 36)
		return 0;
	for (i = 0; i < n; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (hex_digit_value((unsigned char)s[i]) < 0) {
			return 0;
		}
	}
	return 1;
}

static int is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_alnum(char c)
{
	return is_alpha(c) || (c >= '0' && c <= '9');
}

/* absolute URI (RFC 3986): scheme ":" followed by URI characters and %-escapes */
static int fmt_uri(const char *s, size_t n)
{
	size_t i = 0;

	if (!n || !is_alpha(s[0]))
		return 0;
	while (i < n && (is_alnum(s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.'))
		i++;
	if (i >= n || s[i] != ':')
		return 0;
	for (i++; i < n; i++) {
		if (s[i] == '%') {
			if (i + 2 >= n || hex_digit_value((unsigned char)s[i + 1]) < 0 ||
			    hex_digit_value((unsigned char)s[i + 2]) < 0)
				return 0;
			i += 2;
		} else if (!is_alnum(s[i]) && !strchr("-._~:/?#[]@!$&'()*+,;=", s[i])) {
			return 0;
		}
	}
	return 1;
}

static int fmt_email(const char *s, size_t n)
{
	const char *at = memchr(s, '@', n);
	size_t i;

	if (!at || at == s || at == s + n - 1 || memchr(at + 1, '@', (size_t)(s + n - at - 1)))
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
			return 0;
	return 1;
}

static int fmt_ipv4(const char *s, size_t n)
{
	size_t i = 0, start, parts = 0;

	while (parts < 4) {
		int v = 0;

		start = i;
		while (i < n && s[i] >= '0' && s[i] <= '9' && i - start < 3)
			v = v * 10 + (s[i++] - '0');
		if (i == start || v > 255 || (s[start] == '0' && i - start > 1))
			return 0;
		parts++;
		if (parts < 4) {
			if (i >= n || s[i] != '.')
				return 0;
			i++;
		}
	}
	return i == n;
}

int schema_check_format(const char *fmt, const char *s, size_t n)
{
	if (!strcmp(fmt, "uuid"))
		return fmt_uuid(s, n);
	if (!strcmp(fmt, "date-time"))
		return fmt_datetime(s, n);
	if (!strcmp(fmt, "date"))
		return fmt_date(s, n);
	if (!strcmp(fmt, "uri"))
		return fmt_uri(s, n);
	if (!strcmp(fmt, "email"))
		return fmt_email(s, n);
	if (!strcmp(fmt, "ipv4"))
		return fmt_ipv4(s, n);
	return 1;
}
