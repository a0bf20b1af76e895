/* TZif reader (RFC 8536), see tzinfo.h. The 64-bit data block (version 2
 * and later) gives the transitions; times after the last one follow the
 * footer's POSIX TZ rule ("CET-1CEST,M3.5.0,M10.5.0/3"), of which the
 * forms the database uses are read: a fixed offset, or a standard and a
 * daylight offset with Mm.w.d rules. Workload: one file read per load;
 * tz_offset_at is a binary search. */
#include "common/tzinfo.h"
#include "common/timefmt.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TZIF_MAX_BYTES (1 << 20)

struct tz_rule_time {
	int month, week, wday;      /* Mm.w.d */
	int secs;                   /* local time of day of the change */
};

struct tz_zone {
	size_t ntrans;
	int64_t *trans;             /* transition times, ascending */
	int *trans_off;             /* offset in force from trans[i] on */
	int first_off;              /* before the first transition */
	int has_rule;               /* the footer rule applies after the last transition */
	int std_off, dst_off;       /* seconds east */
	int has_dst;
	struct tz_rule_time start, end;   /* dst from start (in std time) to end (in dst time) */
};

static int64_t be64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return (int64_t)v;
}

static int32_t be32(const unsigned char *p)
{
	return (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
}

static int name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > TZ_NAME_MAX || name[0] == '/' || strstr(name, ".."))
		return 0;
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("/_+-", *p))
			return 0;
	return 1;
}

static unsigned char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	unsigned char *buf = malloc(TZIF_MAX_BYTES);
	size_t n = buf ? fread(buf, 1, TZIF_MAX_BYTES, f) : 0;
	int too_big = n == TZIF_MAX_BYTES;
	fclose(f);
	if (!buf || too_big || n < 44) {
		free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}

/* POSIX TZ pieces: [+-]hh[:mm[:ss]] as seconds; returns the end or NULL. */
static const char *parse_hms(const char *p, int *secs)
{
	int sign = 1, h = 0, m = 0, s = 0;
	if (*p == '+' || *p == '-')
		sign = *p++ == '-' ? -1 : 1;
	if (!isdigit((unsigned char)*p))
		return NULL;
	while (isdigit((unsigned char)*p))
		h = h * 10 + (*p++ - '0');
	if (*p == ':') {
		m = (int)strtol(p + 1, (char **)&p, 10);
		if (*p == ':')
			s = (int)strtol(p + 1, (char **)&p, 10);
	}
	if (h > 167)
		return NULL;
	*secs = sign * (h * 3600 + m * 60 + s);
	return p;
}

static const char *skip_abbr(const char *p)
{
	if (*p == '<') {
		const char *e = strchr(p, '>');
		return e ? e + 1 : NULL;
	}
	const char *s = p;
	while (isalpha((unsigned char)*p))
		p++;
	return p - s >= 3 ? p : NULL;
}

static const char *parse_rule_time(const char *p, struct tz_rule_time *rt)
{
	if (*p != 'M' || sscanf(p, "M%d.%d.%d", &rt->month, &rt->week, &rt->wday) != 3 || rt->month < 1 ||
	    rt->month > 12 || rt->week < 1 || rt->week > 5 || rt->wday < 0 || rt->wday > 6)
		return NULL;   /* Jn and n forms: not used by the database */
	p++;
	while (isdigit((unsigned char)*p) || *p == '.')
		p++;
	rt->secs = 2 * 3600;
	if (*p == '/')
		p = parse_hms(p + 1, &rt->secs);
	return p;
}

/* The footer's rule; on anything unexpected the zone keeps its last offset. */
static void parse_footer(struct tz_zone *z, const char *s)
{
	int off;
	const char *p = skip_abbr(s);
	if (!p || !(p = parse_hms(p, &off)))
		return;
	z->std_off = -off;
	if (*p == '\0') {
		z->has_rule = 1;
		return;
	}
	if (!(p = skip_abbr(p)))
		return;
	z->dst_off = z->std_off + 3600;
	if (*p != ',' && *p) {
		if (!(p = parse_hms(p, &off)))
			return;
		z->dst_off = -off;
	}
	if (*p++ != ',' || !(p = parse_rule_time(p, &z->start)) || *p++ != ',' || !(p = parse_rule_time(p, &z->end)))
		return;
	z->has_dst = z->has_rule = 1;
}

/* UTC time of a rule's change in year, given the offset in force before it. */
static int64_t rule_change(const struct tz_rule_time *rt, int year, int off_before)
{
	int64_t first = time_days_from_civil(year, rt->month, 1);
	int first_wday = (int)(((first % 7) + 11) % 7);   /* 1970-01-01 was a Thursday (4) */
	int day = 1 + (rt->wday - first_wday + 7) % 7 + (rt->week - 1) * 7;
	while (day > time_days_in_month(year, rt->month))
		day -= 7;
	return (first + day - 1) * 86400 + rt->secs - off_before;
}

static int rule_offset(const struct tz_zone *z, int64_t t)
{
	if (!z->has_dst)
		return z->std_off;
	int year, month, day;
	time_civil_from_days((t + z->std_off) / 86400 - ((t + z->std_off) % 86400 < 0), &year, &month, &day);
	int64_t start = rule_change(&z->start, year, z->std_off), end = rule_change(&z->end, year, z->dst_off);
	int in_dst = start < end ? (t >= start && t < end) : (t >= start || t < end);   /* southern zones wrap */
	return in_dst ? z->dst_off : z->std_off;
}

/* Reads the 64-bit block at p (header included); 0 ok. */
static int parse_v2(struct tz_zone *z, const unsigned char *p, const unsigned char *end)
{
	if (end - p < 44 || memcmp(p, "TZif", 4))
		return -1;
	uint32_t isutcnt = (uint32_t)be32(p + 20), isstdcnt = (uint32_t)be32(p + 24), leapcnt = (uint32_t)be32(p + 28);
	uint32_t timecnt = (uint32_t)be32(p + 32), typecnt = (uint32_t)be32(p + 36), charcnt = (uint32_t)be32(p + 40);
	if (typecnt == 0 || typecnt > 256 || timecnt > 100000 || leapcnt > 1000)
		return -1;
	const unsigned char *times = p + 44, *idx = times + (size_t)timecnt * 8, *types = idx + timecnt;
	const unsigned char *footer = types + (size_t)typecnt * 6 + charcnt + (size_t)leapcnt * 12 + isstdcnt + isutcnt;
	if (footer > end)
		return -1;
	z->trans = malloc((timecnt ? timecnt : 1) * sizeof(*z->trans));
	z->trans_off = malloc((timecnt ? timecnt : 1) * sizeof(*z->trans_off));
	if (!z->trans || !z->trans_off)
		return -1;
	for (uint32_t i = 0; i < timecnt; i++) {
		if (idx[i] >= typecnt)
			return -1;
		z->trans[i] = be64(times + (size_t)i * 8);
		z->trans_off[i] = be32(types + (size_t)idx[i] * 6);
	}
	z->ntrans = timecnt;
	z->first_off = be32(types);   /* type 0 applies before the first transition */
	z->std_off = timecnt ? z->trans_off[timecnt - 1] : z->first_off;
	if (footer < end && *footer == '\n') {
		const unsigned char *nl = memchr(footer + 1, '\n', (size_t)(end - footer - 1));
		if (nl && nl - footer < 128) {
			char rule[128];
			memcpy(rule, footer + 1, (size_t)(nl - footer - 1));
			rule[nl - footer - 1] = '\0';
			parse_footer(z, rule);
		}
	}
	return 0;
}

struct tz_zone *tz_load(const char *name)
{
	if (!name || !name_ok(name))
		return NULL;
	const char *dir = getenv("TZDIR");
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name);
	size_t len;
	unsigned char *buf = read_file(path, &len);
	struct tz_zone *z = buf ? calloc(1, sizeof(*z)) : NULL;
	if (!z && !buf && strcmp(name, "UTC") == 0)   /* no tz database installed: UTC still works */
		z = calloc(1, sizeof(*z));
	if (!buf)
		return z;
	int ok = z && memcmp(buf, "TZif", 4) == 0 && buf[4] >= '2';
	if (ok) {
		/* Skip the 32-bit block to reach the 64-bit one. */
		size_t v1 = 44 + (size_t)be32(buf + 32) * 5 + (size_t)be32(buf + 36) * 6 + (size_t)be32(buf + 40) +
			    (size_t)be32(buf + 28) * 8 + (size_t)be32(buf + 24) + (size_t)be32(buf + 20);
		ok = v1 < len && parse_v2(z, buf + v1, buf + len) == 0;
	}
	free(buf);
	if (!ok) {
		tz_free(z);
		return NULL;
	}
	return z;
}

void tz_free(struct tz_zone *z)
{
	if (!z)
		return;
	free(z->trans);
	free(z->trans_off);
	free(z);
}

int tz_offset_at(const struct tz_zone *z, int64_t t)
{
	if (z->ntrans == 0)
		return z->has_rule ? rule_offset(z, t) : z->first_off;
	if (t < z->trans[0])
		return z->first_off;
	if (t >= z->trans[z->ntrans - 1] && z->has_rule)
		return rule_offset(z, t);
	size_t lo = 0, hi = z->ntrans;   /* last transition <= t */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (z->trans[mid] <= t)
			lo = mid;
		else
			hi = mid;
	}
	return z->trans_off[lo];
}
