/* Unit tests of src/tasks/export_values.c: row values as the result files
 * show them (Python literals, floats, RFC 3339 times). */
#include "tasks/export_values.h"
#include "tests/unit/check.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct csv_buf out, text;

/* The text out holds, NUL-terminated. */
static const char *got(void)
{
	csv_buf_putc(&out, '\0');
	out.len--;
	return out.p;
}

static void check_json(const char *json, const char *want)
{
	out.len = 0;
	export_render_json(&out, &text, json, strlen(json));
	CHECK(strcmp(got(), want) == 0, "%s -> %s", json, got());
}

static void test_json(void)
{
	check_json("{\"face_id\": \"a\", \"similarity\": 0.6}", "{'face_id': 'a', 'similarity': 0.6}");
	check_json("[1, -2.50, 1e-5, 0.123456789012345, 12345678901234567.0]",
		   "[1, -2.5, 1e-05, 0.123456789012345, 1.2345678901234568e+16]");
	check_json("{\"t\": true, \"f\": false, \"n\": null, \"e\": {}, \"a\": []}",
		   "{'t': True, 'f': False, 'n': None, 'e': {}, 'a': []}");
	check_json("\"it's \\\"x\\\"\\n\\u00e9\\ud83d\\ude00\"", "'it\\'s \"x\"\\né😀'");
	check_json("\"it's\"", "\"it's\"");
	check_json("null", "");
	check_json("not json", "not json");
	check_json("[1,", "[1,");
}

static void check_double(const char *s, const char *want)
{
	out.len = 0;
	export_render_double(&out, s, strlen(s));
	CHECK(strcmp(got(), want) == 0, "%s -> %s", s, got());
}

static void check_ids(const char *s, const char *want)
{
	out.len = 0;
	export_render_id_list(&out, s, s ? strlen(s) : 0);
	CHECK(strcmp(got(), want) == 0, "%s -> %s", s ? s : "NULL", got());
}

static void check_time(struct export_zone *z, const char *s, const char *want)
{
	out.len = 0;
	export_render_time(&out, z, s, strlen(s));
	CHECK(strcmp(got(), want) == 0, "%s -> %s", s, got());
}

static void test_double_and_ids(void)
{
	check_double("55.7558", "55.7558");
	check_double("1e-05", "1e-05");
	check_double("-0", "-0.0");
	check_double("12345678901234567", "1.2345678901234568e+16");
	check_ids("a,b", "['a', 'b']");
	check_ids("it's", "[\"it's\"]");
	check_ids(NULL, "[]");
}

static void test_time(void)
{
	struct export_zone utc = {0, INT64_MIN, 0};
	check_time(&utc, "2021-07-27 22:23:21.537604", "2021-07-27T22:23:21.537604+00:00");
	check_time(&utc, "1969-12-31 23:59:59", "1969-12-31T23:59:59.000000+00:00");
	check_time(&utc, "yesterday", "yesterday");
	setenv("TZ", "Europe/Moscow", 1);
	struct export_zone msk = {1, INT64_MIN, 0};
	check_time(&msk, "2021-12-31 22:00:00.5", "2022-01-01T01:00:00.500000+03:00");
}

int main(void)
{
	test_json();
	test_double_and_ids();
	test_time();
	csv_buf_free(&out);
	csv_buf_free(&text);
	return CHECK_DONE();
}
