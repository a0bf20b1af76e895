/* Cron expressions of five fields (minute hour day-of-month month
 * day-of-week) as crontab(5) of Debian's cron reads them: '*', numbers,
 * ranges a-b, lists a,b, steps (a star or a range, then /n), names of months (jan..dec)
 * and days (sun..sat), day of week 0..7 (0 and 7: Sunday); when both day
 * fields are restricted a day matches either. Times are evaluated in an
 * IANA time zone, with daylight saving changes handled as cron(8) does:
 *   - a time skipped by a change forward runs at the change when the job
 *     names a fixed time (neither minute nor hour starts with '*'); jobs
 *     with a wildcard there simply have no such time;
 *   - a time repeated by a change back runs once (at its first occurrence)
 *     for fixed-time jobs; wildcard jobs run in both passes. */
#ifndef LUNA_CRON_H
#define LUNA_CRON_H
#include <stddef.h>
#include <stdint.h>
#include "common/tzinfo.h"

struct cron {
	uint64_t minutes;      /* bit m: minute m (0..59) */
	uint32_t hours;        /* bit h (0..23) */
	uint32_t mdays;        /* bit d (1..31) */
	uint16_t months;       /* bit m (1..12) */
	uint8_t wdays;         /* bit d (0..6, 0 = Sunday) */
	unsigned dom_star : 1, dow_star : 1, min_star : 1, hour_star : 1;
};

/* The longest expression accepted. */
#define CRON_EXPR_MAX 256

/* 0 ok; -1 with err saying what is wrong (which field, which value). */
int cron_parse(const char *expr, struct cron *c, char *err, size_t errlen);
/* The first due time strictly after t (seconds since the epoch, UTC) in
 * zone z; -1 when the expression matches no date within 8 years (e.g.
 * "0 0 30 2 *"), which cron_parse does not refuse by itself. */
int64_t cron_next(const struct cron *c, const struct tz_zone *z, int64_t t);

/* cron_parse, tz_load and cron_next in one: the first due time of expr in
 * zone strictly after t, in *next (-1: none within 8 years). 0 ok; -1 with
 * err when expr is refused; -2 when zone is no zone of the tz database. */
int cron_next_in_zone(const char *expr, const char *zone, int64_t t, int64_t *next, char *err, size_t errlen);
#endif
