/* Unit tests of src/common: arena, times, calendar, Python float repr, uuids, config, error table,
 * JSON paths. */
#include "common/arena.h"
#include "common/big_alloc.h"
#include "common/config.h"
#include "common/encoding.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/outbound.h"
#include "common/pyrepr.h"
#include "common/redact.h"
#include "common/sql_build.h"
#include "common/json_path.h"
#include "common/json_text.h"
#include "common/timefmt.h"
#include "common/uuid.h"
#include "tasks/task_type.h"
#include "tests/unit/check.h"
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <unistd.h>
#include <sys/wait.h>

static int cleanups;
static void count_cleanup(void *p)
{
	(void)p;
	cleanups++;
}

static void test_arena(void)
{
	struct arena *a = arena_new();
	char *s = arena_strdup(a, "hello");
	CHECK(strcmp(s, "hello") == 0);
	char *big = arena_alloc(a, 100000);
	big[99999] = 1;
	CHECK(strcmp(arena_printf(a, "%d-%s", 7, "x"), "7-x") == 0);
	for (int i = 0; i < 10000; i++)
		arena_alloc(a, 17);
	arena_defer(a, count_cleanup, s);
	arena_defer(a, count_cleanup, NULL);
	arena_free(a);
	CHECK(cleanups == 1);
	arena_free(NULL);
}

static void test_times(void)
{
	int64_t us;
	CHECK(time_parse_rfc3339("2021-07-28T01:23:21.537604+03:00", &us) == 0);
	char buf[40];
	time_format_rfc3339(us, 0, buf, sizeof(buf));
	CHECK(strcmp(buf, "2021-07-27T22:23:21.537604+00:00") == 0);
	time_format_db(us, buf, sizeof(buf));
	CHECK(strcmp(buf, "2021-07-27 22:23:21.537604") == 0);
	int64_t back;
	CHECK(time_parse_db(buf, &back) == 0 && back == us);
	CHECK(time_parse_rfc3339("2018-08-11T09:11:41.674Z", &us) == 0);
	time_format_db(us, buf, sizeof(buf));
	CHECK(strcmp(buf, "2018-08-11 09:11:41.674000") == 0);
	CHECK(time_parse_rfc3339("2018-08-11T09:11:41Z", &us) == 0);
	CHECK(time_parse_rfc3339("2018-02-30T09:11:41Z", &us) == -1);
	CHECK(time_parse_rfc3339("2018-08-11 09:11:41Z", &us) == -1);
	CHECK(time_parse_rfc3339("2018-08-11T09:11:41", &us) == -1);
	CHECK(time_parse_rfc3339("2018-08-11T09:11:41+0300", &us) == -1);
	CHECK(time_parse_rfc3339("yesterday", &us) == -1);
	CHECK(time_parse_rfc3339("", &us) == -1);
	setenv("TZ", "MSK-3", 1);
	tzset();
	CHECK(time_parse_rfc3339("2021-07-27T22:23:21.537604Z", &us) == 0);
	time_format_rfc3339(us, 1, buf, sizeof(buf));
	CHECK(strcmp(buf, "2021-07-28T01:23:21.537604+03:00") == 0);
	unsetenv("TZ");
}

/* What the formatters wrote with printf before, the reference for the
 * hand-written ones. */
static void printf_rfc3339(int64_t us, int local, char *buf, size_t len)
{
	time_t sec = (time_t)(us / 1000000);
	long frac = (long)(us % 1000000);
	if (frac < 0) {
		frac += 1000000;
		sec--;
	}
	struct tm tm;
	if (local)
		localtime_r(&sec, &tm);
	else
		gmtime_r(&sec, &tm);
	long off = local ? tm.tm_gmtoff : 0, aoff = off < 0 ? -off : off;
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%06ld%c%02ld:%02ld", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac, off < 0 ? '-' : '+', aoff / 3600,
		 (aoff % 3600) / 60);
}

static void printf_db(int64_t us, char *buf, size_t len)
{
	time_t sec = (time_t)(us / 1000000);
	long frac = (long)(us % 1000000);
	if (frac < 0) {
		frac += 1000000;
		sec--;
	}
	struct tm tm;
	gmtime_r(&sec, &tm);
	snprintf(buf, len, "%04d-%02d-%02d %02d:%02d:%02d.%06ld", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		 tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

static void check_formats_like_printf(int64_t us)
{
	char got[64], want[64];
	for (int local = 0; local < 2; local++) {
		time_format_rfc3339(us, local, got, sizeof(got));
		printf_rfc3339(us, local, want, sizeof(want));
		CHECK(strcmp(got, want) == 0, "rfc3339 %lld local %d: %s, not %s", (long long)us, local, got, want);
	}
	time_format_db(us, got, sizeof(got));
	printf_db(us, want, sizeof(want));
	CHECK(strcmp(got, want) == 0, "db %lld: %s, not %s", (long long)us, got, want);
}

static void test_time_formats(void)
{
	const int64_t S = 1000000, DAY = 86400 * S;
	const int64_t edges[] = {
		0, -1, 1, 999999, -999999, -1000000, S - 1, 59 * S + 999999,
		951782400 * S,                      /* 2000-02-29 */
		951868800 * S - 1,                  /* the last µs of 2000-02-29 */
		4107456000 * S,                     /* 2100-02-28: no leap day */
		-62135596800 * S,                   /* 0001-01-01 */
		-62135596800 * S - 1,               /* year 0 */
		-30610224000 * S + 123456,          /* 1000-01-01 */
		-30610224000 * S - 1,               /* 0999-12-31 */
		-62198755200 * S - DAY,             /* year -2 */
		253402300799 * S + 999999,          /* 9999-12-31T23:59:59.999999 */
		253402300800 * S,                   /* 10000-01-01 */
		1627424601537604, -1627424601537604,
	};
	const char *zones[] = {"UTC0", "MSK-3", "EST5EDT", "<-0330>3:30", "<+0545>-5:45"};
	for (size_t z = 0; z < sizeof(zones) / sizeof(*zones); z++) {
		setenv("TZ", zones[z], 1);
		tzset();
		for (size_t i = 0; i < sizeof(edges) / sizeof(*edges); i++)
			check_formats_like_printf(edges[i]);
		/* Days and times all over 1600..2400, with any microseconds. */
		uint64_t x = 88172645463325252ull;
		for (int i = 0; i < 2000; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			check_formats_like_printf((int64_t)(x % (800 * 366 * (uint64_t)DAY)) - 11676096000 * S);
		}
	}
	unsetenv("TZ");
	tzset();
	char buf[40];
	setenv("TZ", "<-0330>3:30", 1);
	tzset();
	time_format_rfc3339(1627424601000000, 1, buf, sizeof(buf));
	CHECK(strcmp(buf, "2021-07-27T18:53:21.000000-03:30") == 0, "%s", buf);
	unsetenv("TZ");
	tzset();
	time_format_rfc3339(1627424601999999, 0, buf, sizeof(buf));
	CHECK(strcmp(buf, "2021-07-27T22:23:21.999999+00:00") == 0, "%s", buf);
	time_format_db(-1, buf, sizeof(buf));
	CHECK(strcmp(buf, "1969-12-31 23:59:59.999999") == 0, "%s", buf);
	time_format_db(-30610224000 * S - 1, buf, sizeof(buf));
	CHECK(strcmp(buf, "0999-12-31 23:59:59.999999") == 0, "%s", buf);
	/* A short buffer is cut like snprintf cuts. */
	time_format_db(0, buf, 11);
	CHECK(strcmp(buf, "1970-01-01") == 0, "%s", buf);
	time_format_rfc3339(0, 0, buf, 1);
	CHECK(buf[0] == '\0');
}

/* Days in month, day numbers and back, against timegm/gmtime_r. */
static void test_calendar(void)
{
	CHECK(time_days_in_month(2024, 2) == 29 && time_days_in_month(2023, 2) == 28);
	CHECK(time_days_in_month(1900, 2) == 28 && time_days_in_month(2000, 2) == 29);
	CHECK(time_days_in_month(2023, 4) == 30 && time_days_in_month(2023, 12) == 31);
	CHECK(time_days_from_civil(1970, 1, 1) == 0);
	CHECK(time_days_from_civil(1969, 12, 31) == -1);
	CHECK(time_days_from_civil(2000, 3, 1) == 11017);
	CHECK(time_days_from_civil(1, 1, 1) == -719162);
	int bad = 0;
	for (int64_t day = -800000; day <= 3000000; day += 97) {
		int y, m, d;
		time_civil_from_days(day, &y, &m, &d);
		time_t sec = (time_t)(day * 86400);
		struct tm tm;
		gmtime_r(&sec, &tm);
		if (y != tm.tm_year + 1900 || m != tm.tm_mon + 1 || d != tm.tm_mday ||
		    time_days_from_civil(y, m, d) != day || d > time_days_in_month(y, m))
			bad++;
	}
	CHECK(bad == 0, "%d days differ from gmtime_r", bad);
}

/* repr() of floats, as Python 3 prints them. */
static void test_pyrepr(void)
{
	static const struct {
		double v;
		const char *repr;
	} floats[] = {
		{0.0, "0.0"}, {-0.0, "-0.0"}, {0.1, "0.1"}, {0.6, "0.6"}, {1.0, "1.0"}, {-2.5, "-2.5"},
		{1.0 / 3, "0.3333333333333333"}, {0.1 + 0.2, "0.30000000000000004"}, {1e16, "1e+16"},
		{1e15, "1000000000000000.0"}, {9999999999999998.0, "9999999999999998.0"},
		{0.0001, "0.0001"}, {0.00001, "1e-05"}, {1.5e-7, "1.5e-07"}, {1e100, "1e+100"},
		{5e-324, "5e-324"}, {1.7976931348623157e308, "1.7976931348623157e+308"},
		{123456789012345678.0, "1.2345678901234568e+17"}, {55.7558, "55.7558"},
		{NAN, "nan"}, {INFINITY, "inf"}, {-INFINITY, "-inf"},
	};
	char out[PY_FLOAT_MAX];
	for (size_t i = 0; i < sizeof(floats) / sizeof(floats[0]); i++) {
		size_t n = py_float_repr(floats[i].v, out);
		CHECK(strcmp(out, floats[i].repr) == 0 && n == strlen(out), "%s: %s", floats[i].repr, out);
	}
	static const struct {
		const char *text, *repr;   /* repr NULL: the caller converts */
	} texts[] = {
		{"55.7558", "55.7558"}, {"-12.50", "-12.5"}, {"+3", "3.0"}, {"0.001", "0.001"},
		{"0.00001", "1e-05"}, {"0.000000000000000000012", "1.2e-20"}, {".5", "0.5"}, {"7.", "7.0"}, {"10000000000000000", NULL},
		{"1000000000000000", "1000000000000000.0"}, {"123456789012345", "123456789012345.0"},
		{"0.123456789012345", "0.123456789012345"}, {"1234567890123456", NULL},
		{"0", NULL}, {"-0.0", NULL}, {"1e5", NULL}, {"1.2.3", NULL}, {"", NULL}, {"-", NULL},
	};
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		size_t n = py_decimal_repr(texts[i].text, strlen(texts[i].text), out);
		if (texts[i].repr)
			CHECK(n == strlen(texts[i].repr) && strcmp(out, texts[i].repr) == 0, "%s: %s", texts[i].text,
			      n ? out : "(none)");
		else
			CHECK(n == 0, "%s: %s", texts[i].text, out);
	}
}

static void test_uuid(void)
{
	char a[37], b[37], rid[48];
	uuid4(a);
	uuid4(b);
	CHECK(uuid_valid(a) && uuid_valid(b) && strcmp(a, b));
	CHECK(a[14] == '4');
	CHECK(!uuid_valid("557D54EC-29ad-4f3c-93b4-c9092ef12515"));
	CHECK(!uuid_valid("557d54ec-29ad-4f3c-93b4-c9092ef1251"));
	request_id_new(rid);
	CHECK(request_id_valid(rid));
	CHECK(request_id_valid("1536751345,8b8b5937-2e9c-4e8b-a7a7-5caf86621b5a"));
	CHECK(!request_id_valid("153675134,8b8b5937-2e9c-4e8b-a7a7-5caf86621b5a"));
	CHECK(!request_id_valid("1536751345;8b8b5937-2e9c-4e8b-a7a7-5caf86621b5a"));
	CHECK(rid[10] == ',' && strtoll(rid, NULL, 10) > 1500000000);
	/* Uuids from the pooled random bytes: well-formed, version 4, variant
	 * 10xx, and no repeats across several refills of the pool. */
	enum { N = 1000 };
	static char seen[N][37];
	int bad = 0, dup = 0;
	for (int i = 0; i < N; i++) {
		uuid4(seen[i]);
		bad += !uuid_valid(seen[i]) || seen[i][14] != '4' || !strchr("89ab", seen[i][19]);
	}
	for (int i = 0; i < N; i++)
		for (int j = i + 1; j < N; j++)
			dup += strcmp(seen[i], seen[j]) == 0;
	CHECK(bad == 0 && dup == 0, "%d malformed, %d repeated", bad, dup);
	/* A forked child draws other bytes than its parent, even from a pool
	 * the parent filled before the fork. */
	int fds[2];
	CHECK(pipe(fds) == 0);
	pid_t child = fork();
	if (child == 0) {
		char u[37];
		uuid4(u);
		ssize_t w = write(fds[1], u, 36);
		_exit(w == 36 ? 0 : 1);
	}
	char mine[37], theirs[37] = {0};
	uuid4(mine);
	CHECK(read(fds[0], theirs, 36) == 36);
	int status = 0;
	waitpid(child, &status, 0);
	close(fds[0]);
	close(fds[1]);
	CHECK(uuid_valid(theirs) && strcmp(mine, theirs) != 0, "%s %s", mine, theirs);
}

static const char *write_tmp(const char *text)
{
	static char path[64];
	strcpy(path, "/tmp/luna-test-conf-XXXXXX");
	int fd = mkstemp(path);
	ssize_t w = write(fd, text, strlen(text));
	(void)w;
	close(fd);
	return path;
}

static void test_config(void)
{
	struct luna_config cfg;
	char err[512];
	CHECK(config_load(&cfg, NULL, err, sizeof(err)) == 0);
	CHECK(cfg.workers == 2 && cfg.clustering_threshold > 0.80 && cfg.clustering_threshold < 0.82);
	CHECK(cfg.spares_idle_s == 60);
	const char *p = write_tmp("[LUNA_TASKS_DB]\nPASSWORD = s3cret\nSOCKET = run/db.sock\n[SCHEDULER]\nWORKERS = 4\n");
	CHECK(config_load(&cfg, p, err, sizeof(err)) == 0);
	CHECK(cfg.workers == 4);
	CHECK(strcmp(cfg.objects_db.password, "s3cret") == 0);
	CHECK(strcmp(cfg.tasks_db.socket, "/tmp/run/db.sock") == 0);
	json_object *j = config_to_json(&cfg);
	CHECK(strstr(json_object_to_json_string(j), "s3cret") == NULL);
	CHECK(strstr(json_object_to_json_string(j), "********") != NULL);
	json_object_put(j);
	char *ini = config_to_ini(&cfg);
	CHECK(ini && strstr(ini, "[SCHEDULER]\n") && strstr(ini, "WORKERS = 4\n") && !strstr(ini, "s3cret"));
	free(ini);
	unlink(p);
	p = write_tmp("[SCHEDULER]\nWORKERS = many\n");
	CHECK(config_load(&cfg, p, err, sizeof(err)) == -1 && strstr(err, "WORKERS"));
	unlink(p);
	p = write_tmp("[SCHEDULER]\nSPARES_IDLE_S = 0\n");
	CHECK(config_load(&cfg, p, err, sizeof(err)) == 0 && cfg.spares_idle_s == 0, "%s", err);
	unlink(p);
	p = write_tmp("[SCHEDULER]\nSPARES_IDLE_S = -1\n");
	CHECK(config_load(&cfg, p, err, sizeof(err)) == -1 && strstr(err, "SPARES_IDLE_S"));
	unlink(p);
	p = write_tmp("[SCHEDULER]\nWORKRS = 1\n");
	CHECK(config_load(&cfg, p, err, sizeof(err)) == -1 && strstr(err, "WORKRS"));
	unlink(p);
	p = write_tmp("[API]\nTIME_ZONE = Mars\n");
	CHECK(config_load(&cfg, p, err, sizeof(err)) == -1 && strstr(err, "TIME_ZONE"));
	unlink(p);
	CHECK(config_load(&cfg, "/nonexistent/luna.conf", err, sizeof(err)) == -1);
}

static void test_errors(void)
{
	json_object *e = luna_error_json(E_TASK_NOT_FOUND, "Task with id '146' not found");
	CHECK(strcmp(json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
		     "{\"error_code\":28001,\"desc\":\"Object not found\",\"detail\":\"Task with id '146' not found\","
		     "\"link\":\"https://docs.visionlabs.ai/info/luna/troubleshooting/errors-description/code-28001\"}") == 0);
	json_object_put(e);
	char buf[256];
	luna_error_detail(buf, sizeof(buf), E_CANNOT_CANCEL, 146LL, 5);
	CHECK(strcmp(buf, "Task '146' with status 5 can not canceled") == 0);
	CHECK(luna_error_def(424242)->code == E_INTERNAL);
	CHECK(luna_error_def(E_BAD_QUERY)->http_status == 400);
	/* A task failure takes its status from the table unless given one. */
	struct task_fail f = {0};
	task_fail(&f, E_TASK_NOT_FOUND, "no task %d", 7);
	CHECK(f.status == 404 && f.code == E_TASK_NOT_FOUND && strcmp(f.detail, "no task 7") == 0);
	task_fail_detail(&f, E_LIST_NOT_FOUND, "l1");
	CHECK(f.status == 400 && f.code == E_LIST_NOT_FOUND && strcmp(f.detail, "List with id 'l1' not found") == 0);
	task_fail_set(&f, 400, E_TASK_CANCELLED, E_TASK_CANCELLED_DETAIL, 146LL);
	CHECK(f.status == 400 && strcmp(f.detail, "Task '146' has been cancelled") == 0);
}

/* The builder grows past its first allocation: every clause and value kept, in order. */
static void test_sql_build(void)
{
	struct arena *a = arena_new();
	struct sql_build b;
	sql_build_init(&b, a, "1=1");
	CHECK(strcmp(b.sql, "1=1") == 0 && b.np == 0);
	sql_build_params(&b, NULL, 0);
	for (int i = 0; i < 500; i++) {
		sql_build_text(&b, " AND x = ?");
		sql_build_param(&b, DBP_I64(i));
	}
	CHECK(b.len == strlen(b.sql) && b.len == 3 + 500 * strlen(" AND x = ?"));
	CHECK(strncmp(b.sql + b.len - 10, " AND x = ?", 10) == 0);
	CHECK(b.np == 500 && b.p[0].i == 0 && b.p[499].i == 499 && b.p[499].type == DB_T_I64);
	struct sql_build e;
	sql_build_init(&e, a, "");
	CHECK(e.sql && e.sql[0] == 0 && e.len == 0);
	arena_free(a);
}

static int redacts_to(const char *in, const char *want)
{
	char out[512];
	url_redact(in, out, sizeof(out));
	if (strcmp(out, want) != 0) {
		printf("  url_redact(%s) = %s\n", in, out);
		return 0;
	}
	return 1;
}

static void test_redact(void)
{
	CHECK(redacts_to("cannot download http://user:s3cret@host:8080/a.zip: refused",
			 "cannot download http://***@host:8080/a.zip: refused"));
	CHECK(redacts_to("'https://u:p@x/y?a=1&X-Amz-Signature=abc&x-amz-credential=AK%2F1#f' answered 403",
			 "'https://***@x/y?a=1&X-Amz-Signature=***&x-amz-credential=***#f' answered 403"));
	CHECK(redacts_to("ftp://h/p?AWSAccessKeyId=AK&Signature=zz;sig=q", "ftp://h/p?AWSAccessKeyId=***&Signature=***;sig=***"));
	/* A password with an unencoded '/' or '@' is masked as a whole. */
	CHECK(redacts_to("http://u:pa/ss@h/x and http://a:b@c@d/", "http://***@h/x and http://***@d/"));
	CHECK(redacts_to("no url here: a@b, ://x", "no url here: a@b, ://x"));
	CHECK(redacts_to("http://host/path?q=1", "http://host/path?q=1"));
	CHECK(url_has_secret("x http://u:p@h/") && !url_has_secret("http://h/?a=b") && !url_has_secret(NULL));
	/* In place, cut to the buffer: never half a password. */
	char small[32] = "http://user:longpassword@h";
	url_redact_inplace(small, 14);
	CHECK(strcmp(small, "http://***@h") == 0, "%s", small);
	char *dup = url_redact_dup("a://@");
	CHECK(dup && strcmp(dup, "a://***@") == 0);
	free(dup);
}

static void redact_printf(char *out, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void redact_printf(char *out, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	url_redact_vsnprintf(out, len, fmt, ap);
	va_end(ap);
}

static void test_redact_printf(void)
{
	char out[40];
	redact_printf(out, sizeof(out), "%s %d", "plain", 7);
	CHECK(strcmp(out, "plain 7") == 0, "%s", out);
	redact_printf(out, sizeof(out), "get %s: %d", "http://h/a", 404);
	CHECK(strcmp(out, "get http://h/a: 404") == 0, "%s", out);
	redact_printf(out, sizeof(out), "get %s", "http://u:pw@h/a?key=k1");
	CHECK(strcmp(out, "get http://***@h/a?key=***") == 0, "%s", out);
	/* Cut after redaction: the cut never shows part of the password. */
	redact_printf(out, 16, "%s", "http://user:password1234@h");
	CHECK(strcmp(out, "http://***@h") == 0, "%s", out);
	redact_printf(out, 8, "%s", "abcdefghijkl");
	CHECK(strcmp(out, "abcdefg") == 0, "%s", out);
}

/* The lines log_msg writes to stderr while fn runs. */
static void capture_log(void (*fn)(void), char *out, size_t len)
{
	FILE *f = tmpfile();
	int saved = dup(STDERR_FILENO);
	dup2(fileno(f), STDERR_FILENO);
	fn();
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(f);
	size_t n = fread(out, 1, len - 1, f);
	out[n] = '\0';
	fclose(f);
}

static void log_two_lines(void)
{
	log_init("unit");
	log_set_request_id("1536751345,8b8b5937-2e9c-4e8b-a7a7-5caf86621b5a");
	log_info("hello %d", 42);
	log_set_request_id(NULL);
	log_warn("see %s", "http://u:p@h/");
}

static void log_in_child(void)
{
	pid_t child = fork();
	if (child == 0) {
		log_info("child");
		_exit(0);
	}
	int status;
	waitpid(child, &status, 0);
	char pid[32];
	snprintf(pid, sizeof(pid), "%d", (int)child);
	log_info("%s", pid);
}

static void test_log_line(void)
{
	char text[1024];
	capture_log(log_two_lines, text, sizeof(text));
	char want[256];
	snprintf(want, sizeof(want),
		 "Z unit[%d] INFO [1536751345,8b8b5937-2e9c-4e8b-a7a7-5caf86621b5a]: hello 42\n", (int)getpid());
	int64_t us;
	char stamp[32];
	memcpy(stamp, text, 27);
	stamp[27] = '\0';
	CHECK(strncmp(text + 26, want, strlen(want)) == 0, "%s", text);
	CHECK(time_parse_rfc3339(stamp, &us) == 0 && llabs(us - time_now_us()) < 60000000, "%s", stamp);
	char *second = strchr(text, '\n') + 1;
	snprintf(want, sizeof(want), "Z unit[%d] WARNING: see http://***@h/\n", (int)getpid());
	CHECK(strcmp(second + 26, want) == 0, "%s", second);
	/* A forked child logs its own pid, not the one its parent had cached. */
	capture_log(log_in_child, text, sizeof(text));
	char *nl = strchr(text, '\n');
	char *parent_line = nl ? nl + 1 : text;
	const char *child_pid = strstr(parent_line, "INFO: ") ? strstr(parent_line, "INFO: ") + 6 : "?";
	char child_prefix[64];
	snprintf(child_prefix, sizeof(child_prefix), "unit[%.*s] INFO: child\n", (int)strcspn(child_pid, "\n"),
		 child_pid);
	CHECK(strstr(text, child_prefix) != NULL && strcmp(child_pid, "?") != 0, "%s", text);
}

static struct sockaddr_storage addr_of(const char *ip, int port)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((unsigned short)port);
		inet_pton(AF_INET6, ip, &in6->sin6_addr);
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		in->sin_family = AF_INET;
		in->sin_port = htons((unsigned short)port);
		inet_pton(AF_INET, ip, &in->sin_addr);
	}
	return ss;
}

static int addr_ok(const char *spec, const char *host, const char *ip, int port, int check_port)
{
	struct sockaddr_storage ss = addr_of(ip, port);
	return outbound_address_allowed(spec, host, (struct sockaddr *)&ss, check_port);
}

static void test_outbound(void)
{
	char err[400];
	const char *spec = " files.example.com:443, *.cdn.example.net ,10.1.0.0/16:9000, 192.0.2.7,"
			   "[fd00::/8]:8443, [2001:db8::1], 2001:db8:1::/48";
	CHECK(outbound_spec_check(spec, err, sizeof(err)) == 0, "%s", err);
	CHECK(outbound_spec_check("", err, sizeof(err)) == 0);
	static const char *const bad[] = {"10.0.0.0/33", "host:0", "host:70000", "bad host", "[fd00::/200]",
					  "1.2.3", "[::1", "*.", "10.0.0.1/8:x", NULL};
	for (size_t i = 0; bad[i]; i++)
		CHECK(outbound_spec_check(bad[i], err, sizeof(err)) == -1 && strstr(err, bad[i]), "%s", bad[i]);

	/* Before connecting: names by name entries, literals by address entries. */
	CHECK(outbound_host_verdict(spec, "FILES.example.com", 443) == OUTBOUND_ALLOWED);
	CHECK(outbound_host_verdict(spec, "files.example.com", 80) == OUTBOUND_BY_ADDRESS);
	CHECK(outbound_host_verdict(spec, "a.b.cdn.example.net", 1) == OUTBOUND_ALLOWED);
	CHECK(outbound_host_verdict(spec, "cdn.example.net", 1) == OUTBOUND_BY_ADDRESS);
	CHECK(outbound_host_verdict(spec, "10.1.200.3", 9000) == OUTBOUND_ALLOWED);
	CHECK(outbound_host_verdict(spec, "10.1.200.3", 9001) == OUTBOUND_DENIED);
	CHECK(outbound_host_verdict(spec, "10.2.0.1", 9000) == OUTBOUND_DENIED);
	CHECK(outbound_host_verdict(spec, "192.0.2.7", 22) == OUTBOUND_ALLOWED);
	CHECK(outbound_host_verdict(spec, "[fd12::5]", 8443) == OUTBOUND_ALLOWED);
	CHECK(outbound_host_verdict(spec, "fd12::5", 80) == OUTBOUND_DENIED);
	CHECK(outbound_host_verdict(spec, "[2001:db8::1]", 80) == OUTBOUND_ALLOWED);
	CHECK(outbound_host_verdict(spec, "[2001:db8:1:ff::9]", 80) == OUTBOUND_ALLOWED);
	CHECK(outbound_host_verdict(spec, "[::ffff:192.0.2.7]", 80) == OUTBOUND_ALLOWED);
	CHECK(outbound_host_verdict(spec, "169.254.169.254", 80) == OUTBOUND_DENIED);
	CHECK(outbound_host_verdict("", "files.example.com", 443) == OUTBOUND_DENIED);
	CHECK(outbound_host_verdict("127.0.0.1", "localhost", 80) == OUTBOUND_BY_ADDRESS);
	CHECK(outbound_host_verdict("files.example.com", "localhost", 80) == OUTBOUND_DENIED);

	/* When connecting: the address decides, or a name entry for the URL's name. */
	CHECK(addr_ok(spec, "evil.example", "10.1.2.3", 9000, 1));
	CHECK(!addr_ok(spec, "evil.example", "10.1.2.3", 9001, 1));
	CHECK(addr_ok(spec, NULL, "10.1.2.3", 21, 0));   /* FTP data: no port check */
	CHECK(!addr_ok(spec, "evil.example", "127.0.0.1", 80, 1));
	CHECK(addr_ok(spec, "files.example.com", "127.0.0.1", 443, 1));
	CHECK(!addr_ok(spec, "files.example.com", "127.0.0.1", 80, 1));
	CHECK(addr_ok(spec, NULL, "::ffff:192.0.2.7", 80, 1));
	CHECK(addr_ok(spec, NULL, "fd00::1", 8443, 1) && !addr_ok(spec, NULL, "fe80::1", 8443, 1));
	/* A literal in the URL is judged by its address, not as a name. */
	CHECK(!addr_ok("127.0.0.1", "127.0.0.2", "127.0.0.2", 80, 1));
	CHECK(!addr_ok("", "files.example.com", "10.1.2.3", 443, 1));
}

static int json_ok(const char *s)
{
	return json_text_check(s, strlen(s), NULL, NULL) == 0;
}

static void test_json_text(void)
{
	static const char *const good[] = {
		"{}", "[]", " {\"a\": [1, -0, 0.5, 1e5, -2E-3, true, false, null, \"x\"]} ", "\"\\u00e9\\ud83d\\ude00\"",
		"0", "\"caf\xc3\xa9 \xe2\x98\x83 \xf0\x9f\x98\x80\"", "{\"a\":{\"b\":[[],{}]}}", "\"\\\"\\/\\b\\f\\n\\r\\t\"",
	};
	static const char *const bad[] = {
		"", " ", "{", "[1,]", "{\"a\":1,}", "01", "-01", "[00]", "1.", ".5", "1e", "+1", "NaN", "Infinity", "-Infinity",
		"nul", "'x'", "{a:1}", "\"a\nb\"", "\"a\x01\"", "\"a\tb\"", "\"\xc0\xaf\"", "\"\xe0\x80\xaf\"",
		"\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", "\"\xff\"", "\"\xc3\"", "\"\\ud800\"", "\"\\udc00\"",
		"\"\\ud800\\u0041\"", "\"\\x\"", "\"\\u12\"", "{} {}", "[1 2]", "{\"a\" 1}", "\"abc",
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		CHECK(json_ok(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(!json_ok(bad[i]));
	char deep[200];
	memset(deep, '[', 64);
	memset(deep + 64, ']', 64);
	deep[128] = '\0';
	CHECK(json_ok(deep));
	memset(deep, '[', 65);
	memset(deep + 65, ']', 65);
	deep[130] = '\0';
	CHECK(!json_ok(deep));
	CHECK(json_text_check("1\0", 2, NULL, NULL) != 0);
}

/* json_path: both texts of one path (the walks' and the validator's), a cut text, the depth
 * limit, and json_path_is against the walks' text. */
static void test_json_path(void)
{
	struct json_path p;
	char out[64], small[12];

	json_path_init(&p, NULL);
	CHECK(strcmp(json_path_text(&p, out, sizeof(out)), "") == 0);
	CHECK(strcmp(json_path_text_ellipsis(&p, out, sizeof(out)), "") == 0);
	CHECK(json_path_is(&p, ""));
	CHECK(json_path_push_key(&p, "items") == 0 && json_path_push_index(&p, 12) == 0 &&
	      json_path_push_key(&p, "0") == 0);
	CHECK(strcmp(json_path_text(&p, out, sizeof(out)), "items.12.0") == 0);
	CHECK(strcmp(json_path_text_ellipsis(&p, out, sizeof(out)), "items.12.0") == 0);
	CHECK(json_path_is(&p, "items.12.0") && !json_path_is(&p, "items.12") && !json_path_is(&p, "items.12.00"));
	json_path_pop(&p);
	json_path_pop(&p);
	CHECK(json_path_is(&p, "items"));

	/* leading empty keys: the walks' text drops their dots, the validator's keeps them */
	json_path_init(&p, "");
	json_path_push_key(&p, "");
	json_path_push_key(&p, "a");
	json_path_push_key(&p, "");
	CHECK(strcmp(json_path_text(&p, out, sizeof(out)), "a.") == 0, "%s", out);
	CHECK(strcmp(json_path_text_ellipsis(&p, out, sizeof(out)), ".a.") == 0, "%s", out);
	CHECK(json_path_is(&p, "a."));
	json_path_init(&p, "content");
	json_path_push_key(&p, "");
	json_path_push_index(&p, 3);
	CHECK(strcmp(json_path_text(&p, out, sizeof(out)), "content..3") == 0);
	CHECK(json_path_is(&p, "content..3") && !json_path_is(&p, "content.3"));

	/* cut: as snprintf, or ending in "..." before a whole UTF-8 character */
	json_path_init(&p, NULL);
	json_path_push_key(&p, "ab");
	json_path_push_key(&p, "\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87\xd0\xb8");   /* 5 characters, 10 bytes */
	CHECK(strcmp(json_path_text(&p, small, sizeof(small)), "ab.\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87") == 0);
	CHECK(strcmp(json_path_text_ellipsis(&p, small, sizeof(small)), "ab.\xd0\xba\xd0\xbb...") == 0, "%s", small);
	CHECK(strcmp(json_path_text_ellipsis(&p, small, 3), "ab") == 0);
	CHECK(strcmp(json_path_text(&p, out, 1), "") == 0);

	json_path_init(&p, "x");
	for (size_t i = 0; i < JSON_PATH_MAX_DEPTH; i++)
		CHECK(json_path_push_index(&p, i) == 0);
	CHECK(json_path_push_key(&p, "deeper") == -1 && json_path_push_index(&p, 0) == -1 &&
	      p.depth == JSON_PATH_MAX_DEPTH);
}

/* base64_decode: whole groups, 2- and 3-character tails, both alphabets,
 * anything else refused. */
static void test_base64(void)
{
	unsigned char out[64];
	size_t n = 0;
	CHECK(base64_decode("TWFu", 4, out, &n) == 0 && n == 3 && memcmp(out, "Man", 3) == 0);
	CHECK(base64_decode("TWFuTQ", 6, out, &n) == 0 && n == 4 && memcmp(out, "ManM", 4) == 0);
	CHECK(base64_decode("TWFuTWE", 7, out, &n) == 0 && n == 5 && memcmp(out, "ManMa", 5) == 0);
	CHECK(base64_decode("+/-_", 4, out, &n) == 0 && n == 3 && out[0] == 0xfb && out[1] == 0xff && out[2] == 0xbf,
	      "%zu %02x %02x %02x", n, out[0], out[1], out[2]);
	CHECK(base64_decode("", 0, out, &n) == 0 && n == 0);
	CHECK(base64_decode("TW=u", 4, out, &n) != 0);
	CHECK(base64_decode("TWFu\n", 5, out, &n) != 0);
	CHECK(base64_decode("TWFuT\x80", 6, out, &n) != 0);
	/* float32 0.5 and 1.0, little-endian */
	float f[2];
	CHECK(base64_decode("AAAAPwAAgD8", 11, out, &n) == 0 && n == 8);
	floats_from_le32(f, out, 2);
	CHECK(f[0] == 0.5f && f[1] == 1.0f, "%g %g", f[0], f[1]);
}

/* Block p of bytes used as big_alloc's callers use theirs (filled right
 * away): a byte written in each of its huge pages, which big_free_warm then
 * counts (an unwritten one it does not: test_big_free_warm_written). */
static char *written(char *p, size_t bytes)
{
	for (size_t at = 0; p && at < bytes; at += BIG_ALLOC_HUGE)
		p[at] = 'w';
	return p;
}

/* big_alloc takes the smallest spare big_free_warm kept that fits (and is
 * at most a quarter larger); at most four spares and BIG_ALLOC_SPARE_MAX
 * bytes, the smallest making room (none when that is not enough); small and
 * too large blocks are freed (ASan reports a leak or a double free
 * otherwise). A spare counts its whole huge pages: glibc's usable size may
 * add 2 MiB more, so the sizes here leave that room. */
static int in_blocks(char *p, char **s, int *taken, int n)
{
	for (int k = 0; k < n; k++)
		if (p == s[k] && !taken[k])
			return taken[k] = 1;
	return 0;
}

static void test_big_free_warm(void)
{
	const size_t mb = (size_t)1 << 20;
	char *a = written(big_alloc(8 * mb), 8 * mb), *b = written(big_alloc(16 * mb), 16 * mb);
	CHECK(a != NULL && b != NULL);
	a[0] = 1;
	big_free_warm(a);
	big_free_warm(b);
	char *c = big_alloc(7 * mb);
	CHECK(c == a && c[0] == 1, "the spare that fits is handed out, as it was");
	char *fresh = big_alloc(4 * mb);
	CHECK(fresh != b, "a spare more than a quarter larger is not taken whole");
	free(fresh);
	CHECK(big_alloc(11 * mb) == b, "it stays a spare of the pages it kept");
	free(b);
	free(c);
	/* BIG_ALLOC_SPARES spares of 4 MiB fit in BIG_ALLOC_SPARE_MAX; one more,
	 * smaller, is freed (no slot, and no smaller spare to drop for it) */
	enum { NS = BIG_ALLOC_SPARES };
	char *s[NS + 1];
	int taken[NS] = {0};
	CHECK(NS * 4 * mb <= BIG_ALLOC_SPARE_MAX);
	for (int k = 0; k <= NS; k++)
		s[k] = written(big_alloc(k < NS ? 4 * mb : 2 * mb), k < NS ? 4 * mb : 2 * mb);
	for (int k = 0; k <= NS; k++)
		big_free_warm(s[k]);
	for (int k = 0; k < NS; k++) {
		s[NS] = big_alloc(4 * mb);
		CHECK(in_blocks(s[NS], s, taken, NS), "spare %d", k);
	}
	for (int k = 0; k < NS; k++)
		free(s[k]);
	big_free_warm(big_alloc(BIG_ALLOC_SPARE_MAX + mb));
	big_free_warm(big_alloc(100));
	big_free_warm(NULL);
	/* a block that cannot be kept even by dropping the smaller spares drops
	 * none of them; one that can drops the smallest */
	const size_t cap = BIG_ALLOC_SPARE_MAX;   /* 160 MiB: large 132, other 128 */
	/* (mid is taken first: taken later, it would be filled from the end of
	 * the larger spare) */
	char *small = written(big_alloc(8 * mb), 8 * mb);
	char *large = written(big_alloc(cap - 28 * mb), cap - 28 * mb);
	char *other = written(big_alloc(cap - 32 * mb), cap - 32 * mb);
	char *mid = written(big_alloc(24 * mb), 24 * mb);
	CHECK(small != NULL && large != NULL && other != NULL && mid != NULL);
	big_free_warm(small);
	big_free_warm(large);
	big_free_warm(other);
	CHECK(big_alloc(8 * mb) == small, "the smaller spare stays");
	big_free_warm(small);
	big_free_warm(mid);
	CHECK(big_alloc(24 * mb) == mid, "kept by dropping the smallest");
	CHECK(big_alloc(cap - 28 * mb) == large);
	free(mid);
	free(large);
}

/* A block that no spare fits takes the pages of the spares smaller than it,
 * the largest first, with what was written into them (so they were moved,
 * not fresh), and those spares are gone. A spare may count 2 MiB of glibc's
 * alignment slack more than was asked for, so where each one lands in the
 * block comes from the counts. */
static int all_bytes(const char *p, char c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != c)
			return 0;
	return 1;
}

static void test_big_alloc_from_spares(void)
{
	const size_t mb = (size_t)1 << 20;
	big_alloc_release_spares();
	char *a = big_alloc(8 * mb), *b = big_alloc(2 * mb);
	CHECK(a != NULL && b != NULL);
	memset(a, 'a', 8 * mb);
	memset(b, 'b', 2 * mb);
	big_free_warm(a);
	size_t sa = big_alloc_spare_bytes(NULL);
	big_free_warm(b);
	size_t sb = big_alloc_spare_bytes(NULL) - sa;
	CHECK(sa >= 8 * mb && sb >= 2 * mb && sb < sa, "spares of %zu and %zu bytes", sa, sb);
	char *c = big_alloc(sa + sb + 2 * mb);
	int blocks;
	CHECK(c != NULL && big_alloc_spare_bytes(&blocks) == 0 && blocks == 0, "%d spares left", blocks);
	CHECK(c && all_bytes(c, 'a', 8 * mb) && all_bytes(c + sa, 'b', 2 * mb),
	      "the larger spare's pages first, then the smaller one's");
	if (c)
		memset(c, 'c', sa + sb + 2 * mb); /* all of it is the block's */
	free(c);
}

/* Spares a (a_mb, written 'a') and b (32 MiB, 'b'); a big_alloc of want_mb
 * that neither fits takes the last pages of the largest spare, b, with what
 * was written there, whether a is larger than the block too or smaller (the
 * largest spare was most likely written whole, where a smaller one may be
 * scratch with pages never touched). b stays a spare of the pages before
 * them and a stays as it was: a big_alloc of each one's size gets it back,
 * its first pages as they were. */
static void check_largest_spare_first(size_t a_mb, size_t want_mb)
{
	const size_t mb = (size_t)1 << 20, want = want_mb * mb;
	big_alloc_release_spares();
	char *a = big_alloc(a_mb * mb), *b = big_alloc(32 * mb);
	CHECK(a != NULL && b != NULL);
	if (!a || !b)
		return;
	memset(a, 'a', a_mb * mb);
	memset(b, 'b', 32 * mb);
	big_free_warm(a);
	size_t sa = big_alloc_spare_bytes(NULL);
	big_free_warm(b);
	size_t total = big_alloc_spare_bytes(NULL), sb = total - sa;
	int blocks;
	char *c = big_alloc(want);
	CHECK(c != NULL && all_bytes(c, 'b', want), "the last pages of the largest spare");
	CHECK(big_alloc_spare_bytes(&blocks) == total - want && blocks == 2,
	      "%zu of %zu bytes left in %d spares", big_alloc_spare_bytes(NULL), total, blocks);
	char *d = big_alloc(sa), *e = big_alloc(sb - want);
	CHECK(d == a && all_bytes(d, 'a', a_mb * mb), "the other spare as it was");
	CHECK(e == b && all_bytes(e, 'b', sb - want), "the spare of the pages before them");
	if (c)
		memset(c, 'c', want); /* all of it is the block's */
	free(c);
	free(d);
	free(e);
	big_alloc_release_spares();
}

/* big_free_warm counts a block's whole huge pages up to its last one ever
 * written: the pages past it (glibc's alignment slack, a tail the caller
 * never reached) would be fresh ones for the block that later takes the
 * spare's end. A block of size_mb MiB written up to upto MiB (and one byte at
 * byte, when not 0) counts from lo to hi MiB. */
static void check_written_count(size_t size_mb, size_t upto, size_t byte, size_t lo, size_t hi)
{
	const size_t mb = (size_t)1 << 20;
	int blocks;
	big_alloc_release_spares();
	char *a = big_alloc(size_mb * mb);
	CHECK(a != NULL);
	if (!a)
		return;
	memset(a, 'a', upto * mb);
	if (byte)
		a[byte] = 'a';
	big_free_warm(a);
	size_t kept = big_alloc_spare_bytes(&blocks);
	CHECK(kept >= lo * mb && kept <= hi * mb && blocks <= 1, "%zu bytes in %d spares", kept, blocks);
	big_alloc_release_spares();
}

static void test_big_free_warm_written(void)
{
	const size_t mb = (size_t)1 << 20;
	check_written_count(8, 4, 0, 4, 4);          /* its written half */
	check_written_count(8, 2, 6 * mb + 1, 8, 8); /* one byte counts a huge page */
	check_written_count(4, 0, 0, 0, 2); /* never written past ASan's first 4 KiB, if that */
}

/* big_alloc_scratch: 64-byte aligned; from an eighth of a huge page on a
 * whole one, kept as a spare by big_free_warm and handed out again as it
 * was; smaller, from malloc, never a spare. */
static void test_big_alloc_scratch(void)
{
	const size_t kb = 1024;
	big_alloc_release_spares();
	char *small = big_alloc_scratch(100 * kb), *mid = big_alloc_scratch(528 * kb);
	CHECK(small != NULL && mid != NULL);
	if (!small || !mid)
		return;
	CHECK((uintptr_t)small % 64 == 0 && (uintptr_t)mid % BIG_ALLOC_HUGE == 0);
	memset(small, 's', 100 * kb);
	memset(mid, 'm', BIG_ALLOC_HUGE); /* a whole huge page is the caller's */
	big_free_warm(small);
	int blocks;
	CHECK(big_alloc_spare_bytes(&blocks) == 0 && blocks == 0, "%d spares", blocks);
	big_free_warm(mid);
	CHECK(big_alloc_spare_bytes(&blocks) >= BIG_ALLOC_HUGE && blocks == 1, "%d spares", blocks);
	char *again = big_alloc_scratch(300 * kb);
	CHECK(again == mid && all_bytes(again, 'm', BIG_ALLOC_HUGE), "the spare, as it was");
	free(again);
}

static void test_big_alloc_from_larger(void)
{
	check_largest_spare_first(16, 6); /* a is larger than the block too */
	check_largest_spare_first(4, 10); /* a is smaller */
}

/* big_alloc_release_spares gives every spare back: it returns the bytes
 * they counted, the counters are zero after it, and a big_alloc of a
 * released block's size gets fresh memory (zero pages from the kernel; ASan
 * fills only the first 4 KiB), not the block with what was written into it.
 * It runs first in main: in a fresh process glibc maps such blocks and
 * unmaps them when released, and the next one is memory never used before;
 * once blocks were freed into its heap (the tests after it), one may come
 * back from there as it was. */
static void test_big_alloc_release_spares(void)
{
	const size_t mb = (size_t)1 << 20;
	int blocks = -1;
	char *a = written(big_alloc(8 * mb), 8 * mb), *b = written(big_alloc(16 * mb), 16 * mb);
	CHECK(a != NULL && b != NULL);
	a[mb] = b[mb] = 0x5a;
	big_free_warm(a);
	big_free_warm(b);
	size_t kept = big_alloc_spare_bytes(&blocks);
	CHECK(kept >= 24 * mb && blocks == 2, "%zu bytes in %d spares", kept, blocks);
	CHECK(big_alloc_release_spares() == kept);
	CHECK(big_alloc_spare_bytes(&blocks) == 0 && blocks == 0, "%d spares left", blocks);
	char *c = big_alloc(8 * mb);
	CHECK(c != NULL && c[mb] != 0x5a, "a released spare was handed out");
	CHECK(big_alloc_spare_bytes(&blocks) == 0 && blocks == 0);
	free(c);
	CHECK(big_alloc_release_spares() == 0, "nothing is released twice");
}

/* Releasing while other threads take and give back spares: every block is
 * freed once (ASan reports a double free or a leak otherwise). */
static void *spare_churn(void *arg)
{
	const size_t mb = (size_t)1 << 20;
	(void)arg;
	for (int k = 0; k < 200; k++) {
		char *p = written(big_alloc((size_t)(2 + k % 3) * 2 * mb), (size_t)(2 + k % 3) * 2 * mb);
		if (p)
			p[0] = (char)k;
		big_free_warm(p);
	}
	return NULL;
}

static void test_big_alloc_release_concurrent(void)
{
	pthread_t t[2];
	int started[2];
	for (int k = 0; k < 2; k++)
		started[k] = pthread_create(&t[k], NULL, spare_churn, NULL) == 0;
	CHECK(started[0] && started[1]);
	size_t released = 0;
	for (int k = 0; k < 200; k++)
		released += big_alloc_release_spares();
	for (int k = 0; k < 2; k++)
		if (started[k])
			pthread_join(t[k], NULL);
	released += big_alloc_release_spares();
	int blocks = -1;
	CHECK(released > 0 && big_alloc_spare_bytes(&blocks) == 0 && blocks == 0, "%zu released, %d left",
	      released, blocks);
}

int main(void)
{
	test_big_alloc_release_spares();   /* first: see there */
	test_big_alloc_release_concurrent();
	test_big_free_warm();
	test_big_alloc_from_spares();
	test_big_alloc_from_larger();
	test_big_alloc_scratch();
	test_big_free_warm_written();
	test_json_text();
	test_json_path();
	test_arena();
	test_times();
	test_time_formats();
	test_calendar();
	test_pyrepr();
	test_uuid();
	test_config();
	test_errors();
	test_sql_build();
	test_redact();
	test_redact_printf();
	test_log_line();
	test_outbound();
	test_base64();
	return CHECK_DONE();
}
