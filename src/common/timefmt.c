/* RFC 3339 and DB time conversions (see timefmt.h). */
#include "common/timefmt.h"
#include "common/fmt.h"
#include <ctype.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

int64_t time_now_us(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

static int digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

int time_days_in_month(int y, int m)
{
	static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return d[m - 1];
}

int64_t time_days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;                                            /* [0, 399] */
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;           /* [0, 365] */
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;                    /* [0, 146096] */
	return era * 146097 + doe - 719468;
}

void time_civil_from_days(int64_t z, int *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);                            /* [0, 146096] */
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;   /* [0, 399] */
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                 /* [0, 365] */
	unsigned mp = (5 * doy + 2) / 153;                                      /* March = 0 */
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*y = (int)((int64_t)yoe + era * 400 + (*m <= 2));
}

/* Parses "YYYY-MM-DD<sep>HH:MM:SS[.frac]" and returns the rest of the string. */
static const char *parse_civil(const char *s, const char *seps, int64_t *us)
{
	int y, mo, d, h, mi, se;
	if (strlen(s) < 19 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
	    digits(s + 8, 2, &d) || !strchr(seps, s[10]) || digits(s + 11, 2, &h) || s[13] != ':' ||
	    digits(s + 14, 2, &mi) || s[16] != ':' || digits(s + 17, 2, &se))
		return NULL;
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > time_days_in_month(y, mo) || h > 23 || mi > 59 || se > 60)
		return NULL;
	if (se == 60)
		se = 59;
	s += 19;
	int64_t frac = 0;
	if (*s == '.') {
		s++;
		int n = 0;
		while (isdigit((unsigned char)s[n])) {
			if (n < 6)
				frac = frac * 10 + (s[n] - '0');
			n++;
		}
		if (n == 0)
			return NULL;
		for (int k = n; k < 6; k++)
			frac *= 10;
		s += n;
	}
	struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = se};
	*us = (int64_t)timegm(&tm) * 1000000 + frac;
	return s;
}

int time_parse_rfc3339(const char *s, int64_t *us)
{
	int64_t t;
	const char *rest = parse_civil(s, "Tt", &t);
	if (!rest)
		return -1;
	if ((rest[0] == 'Z' || rest[0] == 'z') && rest[1] == '\0') {
		*us = t;
		return 0;
	}
	int oh, om;
	if ((rest[0] != '+' && rest[0] != '-') || strlen(rest) != 6 || digits(rest + 1, 2, &oh) || rest[3] != ':' ||
	    digits(rest + 4, 2, &om) || oh > 23 || om > 59)
		return -1;
	int64_t off = ((int64_t)oh * 3600 + om * 60) * 1000000;
	*us = rest[0] == '+' ? t - off : t + off;
	return 0;
}

int time_parse_db(const char *s, int64_t *us)
{
	const char *rest = parse_civil(s, " T", us);
	return rest && *rest == '\0' ? 0 : -1;
}

/* The whole seconds of us in *sec and the microseconds past them (0..999999),
 * also for times before 1970. */
static long split_us(int64_t us, time_t *sec)
{
	*sec = (time_t)(us / 1000000);
	long frac = (long)(us % 1000000);
	if (frac < 0) {
		frac += 1000000;
		(*sec)--;
	}
	return frac;
}

/* The UTC calendar date of a day number (days since 1970-01-01). */
static void civil_from_days(int64_t z, struct tm *tm)
{
	int y, m, d;
	time_civil_from_days(z, &y, &m, &d);
	tm->tm_mday = d;
	tm->tm_mon = m - 1;
	tm->tm_year = y - 1900;
}

/* gmtime_r without the time zone lock. */
static void utc_tm(time_t sec, struct tm *tm)
{
	int64_t days = sec / 86400, rem = sec % 86400;
	if (rem < 0) {
		rem += 86400;
		days--;
	}
	civil_from_days(days, tm);
	tm->tm_hour = (int)(rem / 3600);
	tm->tm_min = (int)(rem % 3600 / 60);
	tm->tm_sec = (int)(rem % 60);
}

/* "%04d-%02d-%02d<sep>%02d:%02d:%02d.%06ld" of tm and frac; returns the end. */
static char *put_civil(char *p, const struct tm *tm, char sep, long frac)
{
	p = fmt_dec(p, (long long)tm->tm_year + 1900, 4);
	*p++ = '-';
	p = fmt_dec(p, tm->tm_mon + 1, 2);
	*p++ = '-';
	p = fmt_dec(p, tm->tm_mday, 2);
	*p++ = sep;
	p = fmt_dec(p, tm->tm_hour, 2);
	*p++ = ':';
	p = fmt_dec(p, tm->tm_min, 2);
	*p++ = ':';
	p = fmt_dec(p, tm->tm_sec, 2);
	*p++ = '.';
	return fmt_dec(p, frac, 6);
}

/* Copies [text, end) into buf like snprintf(buf, len, "%s", ...) would. */
static void put_cut(char *buf, size_t len, const char *text, const char *end)
{
	if (!len)
		return;
	size_t n = (size_t)(end - text);
	if (n > len - 1)
		n = len - 1;
	memcpy(buf, text, n);
	buf[n] = '\0';
}

char *time_put_utc(char *p, int64_t us, char sep)
{
	time_t sec;
	long frac = split_us(us, &sec);
	struct tm tm;
	utc_tm(sec, &tm);
	return put_civil(p, &tm, sep, frac);
}

void time_format_db(int64_t us, char *buf, size_t len)
{
	char text[TIME_PUT_MAX];
	put_cut(buf, len, text, time_put_utc(text, us, ' '));
}

void time_format_rfc3339(int64_t us, int local, char *buf, size_t len)
{
	time_t sec;
	long frac = split_us(us, &sec);
	struct tm tm;
	long off = 0;
	if (local) {
		localtime_r(&sec, &tm);
		off = tm.tm_gmtoff;
	} else {
		utc_tm(sec, &tm);
	}
	long aoff = off < 0 ? -off : off;
	char text[TIME_PUT_MAX + 16];
	char *p = put_civil(text, &tm, 'T', frac);
	*p++ = off < 0 ? '-' : '+';
	p = fmt_dec(p, aoff / 3600, 2);
	*p++ = ':';
	p = fmt_dec(p, (aoff % 3600) / 60, 2);
	put_cut(buf, len, text, p);
}
