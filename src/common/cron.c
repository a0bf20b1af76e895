/* Cron expressions (see cron.h). The search runs on local wall-clock
 * minutes (civil time, as if UTC) and then maps each candidate to the UTC
 * instants that show it: none in a gap, two in a repeat.
 * Workload: a few day steps per search; at most 8 years of days for an
 * expression that matches rarely (29 February). */
#include "common/cron.h"
#include "common/timefmt.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SEARCH_DAYS (366 * 8 + 2)

struct field {
	const char *name;
	int lo, hi;
	const char *const *names;   /* names for lo, lo+1, …; NULL: numbers only */
};

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
					  "jul", "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const day_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

static const struct field fields[5] = {
	{"minute", 0, 59, NULL},
	{"hour", 0, 23, NULL},
	{"day of month", 1, 31, NULL},
	{"month", 1, 12, month_names},
	{"day of week", 0, 7, day_names},
};

/* A number or a name at *p; -1 when there is none or it is out of range. */
static int read_value(const char **p, const struct field *f)
{
	const char *s = *p;
	if (isdigit((unsigned char)*s)) {
		long v = 0;
		while (isdigit((unsigned char)*s) && v <= 1000)
			v = v * 10 + (*s++ - '0');
		*p = s;
		return v >= f->lo && v <= f->hi ? (int)v : -1;
	}
	for (int i = 0; f->names && f->names[i]; i++)
		if (strncasecmp(s, f->names[i], 3) == 0 && !isalpha((unsigned char)s[3])) {
			*p = s + 3;
			return f->lo + i;
		}
	return -1;
}

/* One comma-separated item: *, *\/n, a, a-b, a-b/n, a/n (= a-hi/n). */
static int parse_item(const char **p, const struct field *f, uint64_t *bits, char *err, size_t errlen)
{
	const char *start = *p;
	int lo, hi, step = 1;
	if (**p == '*') {
		(*p)++;
		lo = f->lo;
		hi = f->hi;
	} else {
		if ((lo = read_value(p, f)) < 0)
			goto bad;
		hi = lo;
		if (**p == '-') {
			(*p)++;
			if ((hi = read_value(p, f)) < 0 || hi < lo)
				goto bad;
		}
	}
	if (**p == '/') {
		(*p)++;
		if (!isdigit((unsigned char)**p))
			goto bad;
		long v = strtol(*p, (char **)p, 10);
		if (v < 1 || v > f->hi)
			goto bad;
		step = (int)v;
		if (hi == lo && *start != '*')
			hi = f->hi;
	}
	if (**p != ',' && **p != ' ' && **p != '\t' && **p != '\0')
		goto bad;
	for (int v = lo; v <= hi; v += step)
		*bits |= 1ULL << v;
	return 0;
bad:
	snprintf(err, errlen, "%s field: '%.*s' is not a value, range or step of %d-%d", f->name,
		 (int)strcspn(start, ", \t"), start, f->lo, f->hi);
	return -1;
}

static int parse_field(const char **p, const struct field *f, uint64_t *bits, int *star, char *err, size_t errlen)
{
	*bits = 0;
	*star = **p == '*';
	for (;;) {
		if (parse_item(p, f, bits, err, errlen))
			return -1;
		if (**p != ',')
			return 0;
		(*p)++;
	}
}

int cron_parse(const char *expr, struct cron *c, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	if (!expr || strlen(expr) > CRON_EXPR_MAX) {
		snprintf(err, errlen, "the expression is longer than %d characters", CRON_EXPR_MAX);
		return -1;
	}
	const char *p = expr;
	uint64_t bits[5];
	int star[5];
	for (int i = 0; i < 5; i++) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p) {
			snprintf(err, errlen, "%d fields where 5 are needed (minute hour day-of-month month day-of-week)", i);
			return -1;
		}
		if (parse_field(&p, &fields[i], &bits[i], &star[i], err, errlen))
			return -1;
	}
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p) {
		snprintf(err, errlen, "more than 5 fields (minute hour day-of-month month day-of-week)");
		return -1;
	}
	c->minutes = bits[0];
	c->hours = (uint32_t)bits[1];
	c->mdays = (uint32_t)bits[2];
	c->months = (uint16_t)bits[3];
	c->wdays = (uint8_t)((bits[4] | bits[4] >> 7) & 0x7F);   /* 7 is Sunday too */
	c->min_star = star[0];
	c->hour_star = star[1];
	c->dom_star = star[2];
	c->dow_star = star[4];
	return 0;
}

static int day_matches(const struct cron *c, int64_t days)
{
	int y, m, d;
	time_civil_from_days(days, &y, &m, &d);
	if (!(c->months >> m & 1))
		return 0;
	int wday = (int)(((days % 7) + 11) % 7);   /* 1970-01-01 was a Thursday */
	int dom = c->mdays >> d & 1, dow = c->wdays >> wday & 1;
	return c->dom_star || c->dow_star ? dom && dow : dom || dow;
}

/* The first matching wall-clock minute >= w (civil seconds), or -1. */
static int64_t next_wall(const struct cron *c, int64_t w)
{
	int64_t day = w / 86400 - (w % 86400 < 0);
	int from = (int)((w - day * 86400) / 60);   /* minute of the day */
	for (int n = 0; n < SEARCH_DAYS; n++, day++, from = 0) {
		if (!day_matches(c, day))
			continue;
		for (int h = from / 60; h < 24; h++) {
			if (!(c->hours >> h & 1))
				continue;
			for (int m = h == from / 60 ? from % 60 : 0; m < 60; m++)
				if (c->minutes >> m & 1)
					return day * 86400 + h * 3600 + m * 60;
		}
	}
	return -1;
}

/* The instant of the change forward that skips wall time w: the clock
 * shows w - off_before.. just before it and w - off_after.. after, so it
 * lies in (w - off_after, w - off_before]. */
static int64_t gap_change(const struct tz_zone *z, int64_t w, int off_before, int off_after)
{
	int64_t lo = w - off_after, hi = w - off_before;
	while (hi - lo > 1) {
		int64_t mid = lo + (hi - lo) / 2;
		if (tz_offset_at(z, mid) == off_before)
			lo = mid;
		else
			hi = mid;
	}
	return hi;
}

/* The larger of the offsets in force a day before and a day after t (a
 * zone changes its offset at most once a day). */
static int max_offset_near(const struct tz_zone *z, int64_t t)
{
	int a = tz_offset_at(z, t - 86400), b = tz_offset_at(z, t + 86400);
	return a > b ? a : b;
}

int64_t cron_next(const struct cron *c, const struct tz_zone *z, int64_t t)
{
	int fixed = !c->min_star && !c->hour_star;
	/* Any instant after t shows a wall time after t + the smaller offset
	 * of the day to come (a change back repeats earlier wall times). */
	int off_now = tz_offset_at(z, t), off_later = tz_offset_at(z, t + 86400);
	int64_t w = t + (off_now < off_later ? off_now : off_later) + 1;
	w += ((60 - w % 60) % 60 + 60) % 60;
	int64_t best = -1;
	for (int guard = 0; guard < 100000; guard++, w += 60) {
		if ((w = next_wall(c, w)) < 0)
			return best;
		if (best >= 0 && w - max_offset_near(z, best) > best)
			return best;   /* later wall times map after best */
		int off_a = tz_offset_at(z, w - 86400), off_b = tz_offset_at(z, w + 86400);
		int64_t cand[2] = {w - off_a, w - off_b};
		int valid[2] = {tz_offset_at(z, cand[0]) == off_a, tz_offset_at(z, cand[1]) == off_b && off_a != off_b};
		int64_t u = -1;
		if (!valid[0] && !valid[1]) {
			if (fixed)
				u = gap_change(z, w, off_a, off_b);   /* skipped by a change forward: run at the change */
		} else if (valid[0] && valid[1]) {
			int64_t first = cand[0] < cand[1] ? cand[0] : cand[1], second = cand[0] ^ cand[1] ^ first;
			u = first > t ? first : (!fixed && second > t ? second : -1);
		} else {
			u = valid[0] ? cand[0] : cand[1];
		}
		if (u > t && (best < 0 || u < best))
			best = u;
	}
	return best;
}

int cron_next_in_zone(const char *expr, const char *zone, int64_t t, int64_t *next, char *err, size_t errlen)
{
	struct cron c;
	if (cron_parse(expr, &c, err, errlen))
		return -1;
	struct tz_zone *z = tz_load(zone);
	if (!z) {
		snprintf(err, errlen, "'%.64s' is not a time zone of the tz database", zone ? zone : "");
		return -2;
	}
	*next = cron_next(&c, z, t);
	tz_free(z);
	return 0;
}
