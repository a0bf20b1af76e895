/* Cron expressions and IANA zones (src/common/cron.c, tzinfo.c): a table of
 * expressions with the next due time expected after a given time, including
 * the daylight saving changes of 2026 in Europe/Berlin and America/New_York
 * (and, past the transitions the tz files list, the footer rules in
 * Europe/Berlin and Australia/Sydney), then the expressions refused. */
#include "check.h"
#include "common/cron.h"
#include "common/timefmt.h"
#include <stdio.h>
#include <string.h>

/* "YYYY-MM-DD HH:MM" (UTC) → seconds since the epoch. */
static int64_t utc(const char *s)
{
	int y, mo, d, h, mi;
	if (sscanf(s, "%d-%d-%d %d:%d", &y, &mo, &d, &h, &mi) != 5)
		return -2;
	return time_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60;
}

static void show(int64_t t, char *buf, size_t len)
{
	if (t < 0) {
		snprintf(buf, len, "none");
		return;
	}
	time_format_db(t * 1000000, buf, len);
}

struct next_case {
	const char *zone, *expr, *after, *want;   /* UTC times; want NULL: no due time */
};

static const struct next_case next_cases[] = {
	{"UTC", "* * * * *", "2026-01-01 00:00", "2026-01-01 00:01"},
	{"UTC", "*/15 * * * *", "2026-01-01 00:07", "2026-01-01 00:15"},
	{"UTC", "5-10/2 * * * *", "2026-01-01 00:06", "2026-01-01 00:07"},
	{"UTC", "0 9 * * mon-fri", "2026-12-05 10:00", "2026-12-07 09:00"},       /* Saturday → Monday */
	{"UTC", "30 2 1 jan,JUL *", "2026-03-01 00:00", "2026-07-01 02:30"},
	{"UTC", "0 0 29 2 *", "2026-03-01 00:00", "2028-02-29 00:00"},
	{"UTC", "0 12 1 * 0", "2026-12-02 00:00", "2026-12-06 12:00"},           /* day 1 or Sunday */
	{"UTC", "0 12 1 * *", "2026-12-02 00:00", "2027-01-01 12:00"},
	{"UTC", "0 0 * * 7", "2026-12-05 00:00", "2026-12-06 00:00"},            /* 7 is Sunday */
	{"UTC", "0 22 * * 1,3,5", "2026-12-04 22:00", "2026-12-07 22:00"},       /* strictly after */
	{"UTC", "0 0 30 2 *", "2026-01-01 00:00", NULL},
	{"Europe/Berlin", "0 3 * * *", "2026-01-10 00:00", "2026-01-10 02:00"},  /* CET, +01:00 */
	{"Europe/Berlin", "0 3 * * *", "2026-06-10 00:00", "2026-06-10 01:00"},  /* CEST, +02:00 */
	/* 29 March 2026: 02:00 CET becomes 03:00 CEST (01:00 UTC). */
	{"Europe/Berlin", "30 2 * * *", "2026-03-28 12:00", "2026-03-29 01:00"}, /* fixed time in the gap: at the change */
	{"Europe/Berlin", "30 * * * *", "2026-03-29 00:45", "2026-03-29 01:30"}, /* wildcard: 02:30 does not exist, 03:30 */
	{"Europe/Berlin", "*/20 * * * *", "2026-03-29 00:50", "2026-03-29 01:00"},
	/* 25 October 2026: 03:00 CEST becomes 02:00 CET (01:00 UTC); 02:xx happens twice. */
	{"Europe/Berlin", "30 2 * * *", "2026-10-24 12:00", "2026-10-25 00:30"}, /* first pass */
	{"Europe/Berlin", "30 2 * * *", "2026-10-25 00:30", "2026-10-26 01:30"}, /* not again in the second */
	{"Europe/Berlin", "30 * * * *", "2026-10-25 00:30", "2026-10-25 01:30"}, /* wildcard: both passes */
	/* 8 March 2026: 02:00 EST becomes 03:00 EDT (07:00 UTC). */
	{"America/New_York", "0 2 * * *", "2026-03-07 12:00", "2026-03-08 07:00"},
	{"America/New_York", "0 2 * * *", "2026-03-08 07:00", "2026-03-09 06:00"},
	{"America/New_York", "15 * * * *", "2026-03-08 06:20", "2026-03-08 07:15"},
	/* 1 November 2026: 02:00 EDT becomes 01:00 EST (06:00 UTC). */
	{"America/New_York", "15 1 * * *", "2026-11-01 05:00", "2026-11-01 05:15"},
	{"America/New_York", "15 1 * * *", "2026-11-01 05:15", "2026-11-02 06:15"},
	{"America/New_York", "*/30 * * * *", "2026-11-01 05:45", "2026-11-01 06:00"},
	{"America/New_York", "0 9 * * mon-fri", "2026-11-01 12:00", "2026-11-02 14:00"},
	/* Past the files' transitions (2037): the footer's rules. */
	{"Europe/Berlin", "0 12 1 7 *", "2040-01-01 00:00", "2040-07-01 10:00"},
	{"Europe/Berlin", "0 12 1 1 *", "2039-12-01 00:00", "2040-01-01 11:00"},
	{"Australia/Sydney", "0 12 1 1 *", "2039-12-01 00:00", "2040-01-01 01:00"}, /* southern summer, +11:00 */
	{"Australia/Sydney", "0 12 1 7 *", "2040-01-01 00:00", "2040-07-01 02:00"},
};

static void test_next(void)
{
	for (size_t i = 0; i < sizeof(next_cases) / sizeof(next_cases[0]); i++) {
		const struct next_case *k = &next_cases[i];
		struct cron c;
		char err[256], got[40], want[40];
		struct tz_zone *z = tz_load(k->zone);
		CHECK(z != NULL, "zone %s", k->zone);
		CHECK(cron_parse(k->expr, &c, err, sizeof(err)) == 0, "%s: %s", k->expr, err);
		if (!z)
			continue;
		int64_t next = cron_next(&c, z, utc(k->after));
		show(next, got, sizeof(got));
		show(k->want ? utc(k->want) : -1, want, sizeof(want));
		CHECK(strcmp(got, want) == 0, "%s '%s' after %s: got %s, want %s", k->zone, k->expr, k->after, got, want);
		tz_free(z);
	}
}

static void test_refused(void)
{
	static const struct {
		const char *expr, *says;
	} bad[] = {
		{"61 * * * *", "minute field"},     {"* 24 * * *", "hour field"},
		{"* * 0 * *", "day of month"},      {"* * * 13 *", "month field"},
		{"* * * * 8", "day of week"},       {"* * * *", "4 fields"},
		{"* * * * * *", "more than 5"},     {"*/0 * * * *", "minute field"},
		{"5-1 * * * *", "'5-1'"},           {"a * * * *", "minute field"},
		{"* * * foo *", "'foo'"},           {"1,,2 * * * *", "minute field"},
		{"", "0 fields"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cron c;
		char err[256] = "";
		CHECK(cron_parse(bad[i].expr, &c, err, sizeof(err)) == -1, "'%s' accepted", bad[i].expr);
		CHECK(strstr(err, bad[i].says) != NULL, "'%s': '%s' does not say '%s'", bad[i].expr, err, bad[i].says);
	}
}

static void test_zones(void)
{
	CHECK(tz_load("Not/AZone") == NULL);
	CHECK(tz_load("../../etc/passwd") == NULL);
	CHECK(tz_load("/etc/localtime") == NULL);
	CHECK(tz_load("zone.tab") == NULL, "not a TZif file");
	CHECK(tz_load("") == NULL);
	struct tz_zone *z = tz_load("UTC");
	CHECK(z && tz_offset_at(z, utc("2026-07-01 00:00")) == 0);
	tz_free(z);
	z = tz_load("Asia/Kolkata");
	CHECK(z && tz_offset_at(z, utc("2026-07-01 00:00")) == 19800);
	tz_free(z);
}

int main(void)
{
	test_next();
	test_refused();
	test_zones();
	return CHECK_DONE();
}
