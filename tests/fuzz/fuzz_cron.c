/* fuzz_cron.c - libFuzzer target for cron expressions (src/common/cron.c)
 * and their next due times in IANA zones (src/common/tzinfo.c).
 *
 * Input: byte 0 picks the zone (UTC, Europe/Berlin, America/New_York,
 * Australia/Sydney, Asia/Kolkata), bytes 1-4 the start time (seconds from
 * 1900 on, up to 2036), the rest is the expression. Checked: a refused
 * expression has a message; an accepted one gives due times that increase
 * strictly, three in a row. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/cron.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const zones[] = {"UTC", "Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata"};
static struct tz_zone *loaded[5];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 5 || size > 512)
		return 0;
	size_t zi = data[0] % 5;
	if (!loaded[zi] && !(loaded[zi] = tz_load(zones[zi])))
		abort();   /* the tz database must be installed */
	uint32_t raw = (uint32_t)data[1] << 24 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 8 | data[4];
	int64_t t = -2208988800LL + (int64_t)raw;   /* from 1900-01-01 */
	char expr[512];
	memcpy(expr, data + 5, size - 5);
	expr[size - 5] = '\0';
	struct cron c;
	char err[256] = "";
	if (cron_parse(expr, &c, err, sizeof(err))) {
		if (!err[0])
			abort();
		return 0;
	}
	int64_t prev = t;
	for (int i = 0; i < 3; i++) {
		int64_t next = cron_next(&c, loaded[zi], prev);
		if (next < 0)
			break;
		if (next <= prev)
			abort();
		prev = next;
	}
	return 0;
}
