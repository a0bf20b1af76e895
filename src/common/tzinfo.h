/* IANA time zones read from the system's tz database (TZif files under
 * $TZDIR, default /usr/share/zoneinfo), without touching the process's TZ:
 * localtime_r() answers for one zone per process and switching it with
 * setenv("TZ")/tzset() would change the local time of every other thread.
 * A loaded zone is immutable, so any thread may use it. */
#ifndef LUNA_TZINFO_H
#define LUNA_TZINFO_H
#include <stdint.h>

struct tz_zone;

/* The longest zone name accepted (the longest IANA name is 32 characters). */
#define TZ_NAME_MAX 64

/* Loads zone name ("UTC", "Europe/Berlin", …): NULL when the name is not a
 * zone of the database (or not a plain name: no "..", no leading '/'). */
struct tz_zone *tz_load(const char *name);
void tz_free(struct tz_zone *z);                 /* NULL ok */
/* Seconds east of UTC in force at t (seconds since the epoch, UTC). */
int tz_offset_at(const struct tz_zone *z, int64_t t);
#endif
