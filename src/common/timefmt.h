/* Times: stored in MariaDB as UTC DATETIME(6) text ("YYYY-MM-DD HH:MM:SS.ffffff"),
 * shown to users as RFC 3339 with microseconds and an offset. */
#ifndef LUNA_TIMEFMT_H
#define LUNA_TIMEFMT_H
#include <stddef.h>
#include <stdint.h>

/* Days of a month (1..12) of a proleptic Gregorian year. */
int time_days_in_month(int year, int month);
/* Days since 1970-01-01 of a proleptic Gregorian date, and back, for any day
 * (H. Hinnant's days_from_civil and its inverse). */
int64_t time_days_from_civil(int year, int month, int day);
void time_civil_from_days(int64_t days, int *year, int *month, int *day);
/* Microseconds since the epoch, now. */
int64_t time_now_us(void);
/* RFC 3339 (any offset, optional fraction) → µs since epoch. 0 ok, -1 invalid. */
int time_parse_rfc3339(const char *s, int64_t *us);
/* DB text (UTC) → µs. 0 ok, -1 invalid. */
int time_parse_db(const char *s, int64_t *us);
/* The most bytes time_put_utc writes (a year of up to 7 digits and a sign). */
#define TIME_PUT_MAX 36
/* µs → "YYYY-MM-DD<sep>HH:MM:SS.ffffff" (UTC) at p, no NUL; returns the end. */
char *time_put_utc(char *p, int64_t us, char sep);
/* µs → DB text "YYYY-MM-DD HH:MM:SS.ffffff" (UTC); buf ≥ 27 bytes. */
void time_format_db(int64_t us, char *buf, size_t len);
/* µs → "2021-07-28T01:23:21.537604+03:00"; local = use the process time zone, else +00:00. buf ≥ 33. */
void time_format_rfc3339(int64_t us, int local, char *buf, size_t len);
#endif
