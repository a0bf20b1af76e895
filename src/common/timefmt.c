/* RFC 3339 and DB time conversions (see timefmt.h). */
#include "common/timefmt.h"
#include <ctype.h>
#include <stdio.h>
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

static int days_in_month(int y, int m)
{
	static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return d[m - 1];
}

/* Parses "YYYY-MM-DD<sep>HH:MM:SS[.frac]" and returns the rest of the string. */
static const char *parse_civil(const char *s, const char *seps, int64_t *us)
{
	int y, mo, d, h, mi, se;
	if (strlen(s) < 19 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
	    digits(s + 8, 2, &d) || !strchr(seps, s[10]) || digits(s + 11, 2, &h) || s[13] != ':' ||
	    digits(s + 14, 2, &mi) || s[16] != ':' || digits(s + 17, 2, &se))
		return NULL;
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || se > 60)
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

void time_format_db(int64_t us, char *buf, size_t len)
{
	time_t sec;
	long frac = split_us(us, &sec);
	struct tm tm;
	gmtime_r(&sec, &tm);
	snprintf(buf, len, "%04d-%02d-%02d %02d:%02d:%02d.%06ld", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		 tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
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
		gmtime_r(&sec, &tm);
	}
	long aoff = off < 0 ? -off : off;
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%06ld%c%02ld:%02ld", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac, off < 0 ? '-' : '+', aoff / 3600,
		 (aoff % 3600) / 60);
}
