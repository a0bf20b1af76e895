/* Unit tests of src/notify/: the checks of a policy against [NOTIFICATIONS]
 * and [OUTBOUND] ALLOW, the masking of secrets, the body of a notification
 * and the back-off between attempts. */
#include "common/config.h"
#include "notify/deliver.h"
#include "notify/policy.h"
#include "tests/unit/check.h"
#include <stdio.h>
#include <string.h>

static struct luna_config cfg;

static int checked(const char *policy_json, const char *want_in_detail)
{
	json_object *p = json_tokener_parse(policy_json);
	struct task_fail fail = {0};
	int rc = notify_policy_check(&cfg, p, "notification_policy", &fail);
	int ok = want_in_detail ? rc == -1 && fail.code == 12022 && strstr(fail.detail, want_in_detail) != NULL
				: rc == 0;
	CHECK(ok, "%s -> %d %s", policy_json, rc, fail.detail);
	json_object_put(p);
	return ok;
}

static void test_check(void)
{
	checked("{\"task_callbacks\": [{\"url\": \"http://127.0.0.1:8000/a\"}]}", NULL);
	checked("{}", NULL);
	checked("{\"task_callbacks\": [{\"url\": \"http://10.0.0.1/a\"}]}",
		"Path: 'notification_policy.task_callbacks.0.url'");
	checked("{\"subtask_callbacks\": [{\"url\": \"http://127.0.0.1/\"}, {\"url\": \"gopher://127.0.0.1/\"}]}",
		"Path: 'notification_policy.subtask_callbacks.1.url'");
	checked("{\"task_callbacks\": [{\"url\": \"http://127.0.0.1/\", \"params\": {\"timeout\": 61}}]}",
		"[NOTIFICATIONS] MAX_TIMEOUT");
	checked("{\"task_callbacks\": [{\"url\": \"http://127.0.0.1/\", \"params\": {\"timeout\": 60}}]}", NULL);
	checked("{\"task_callbacks\": [{\"url\": \"http://127.0.0.1/\", \"params\": {\"headers\": {\"Host\": \"x\"}}}]}",
		"not a header name");
	checked("{\"task_callbacks\": [{\"url\": \"http://127.0.0.1/\", \"params\": {\"headers\": {\"a:b\": \"x\"}}}]}",
		"not a header name");
	char many[4096] = "{\"task_callbacks\": [";
	for (int i = 0; i < 11; i++)
		strcat(many, i ? ", {\"url\": \"http://127.0.0.1/\"}" : "{\"url\": \"http://127.0.0.1/\"}");
	strcat(many, "]}");
	checked(many, "11 callbacks, more than the limit of 10 ([NOTIFICATIONS] MAX_CALLBACKS)");
}

static void test_mask(void)
{
	json_object *cb = json_tokener_parse(
		"{\"url\": \"http://u:pw@127.0.0.1/x\", \"authorization\": {\"type\": \"basic\", \"login\": \"l\", "
		"\"password\": \"pw\"}, \"params\": {\"headers\": {\"X-Api-Key\": \"k\", \"X-Trace\": \"Bearer abc\", "
		"\"Accept\": \"*/*\", \"Cookie\": \"c\"}}}");
	notify_callback_mask(cb);
	const char *s = json_object_to_json_string_ext(cb, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	CHECK(strcmp(s, "{\"url\":\"http://***@127.0.0.1/x\",\"authorization\":{\"type\":\"basic\",\"login\":\"l\","
		       "\"password\":\"********\"},\"params\":{\"headers\":{\"X-Api-Key\":\"********\","
		       "\"X-Trace\":\"********\",\"Accept\":\"*/*\",\"Cookie\":\"********\"}}}") == 0, "%s", s);
	json_object_put(cb);
	CHECK(notify_header_is_secret("x-session-id", "1"));
	CHECK(!notify_header_is_secret("X-Origin", "luna-tasks"));
}

static void test_body(void)
{
	struct notify_event ev = {.notification_id = "7", .task_id = "42", .task_type = "4", .status = "5",
				  .create_time = "2026-12-05 10:00:00.000000", .event_time = "2026-12-05 10:00:01.5",
				  .end_time = "2026-12-05 10:00:01.5", .parts_done = "1", .parts_all = "1",
				  .result_id = "8f0c1c6e-4a5e-4a5b-9a53-0d3e3b6f2f77"};
	snprintf(cfg.notify.public_url, sizeof(cfg.notify.public_url), "https://tasks.example.com");
	json_object *o = notify_body(&cfg, &ev);
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	CHECK(strcmp(s, "{\"notification_id\":7,\"event\":\"task_status\",\"task_id\":42,\"task_type\":4,"
		       "\"task_status\":5,\"create_time\":\"2026-12-05T10:00:00.000000+00:00\","
		       "\"last_update_time\":\"2026-12-05T10:00:01.500000+00:00\","
		       "\"end_time\":\"2026-12-05T10:00:01.500000+00:00\",\"count_task_parts_done\":1,"
		       "\"count_task_parts_all\":1,\"result_id\":\"8f0c1c6e-4a5e-4a5b-9a53-0d3e3b6f2f77\","
		       "\"result_url\":\"https://tasks.example.com/2/tasks/42/result\"}") == 0, "%s", s);
	json_object_put(o);
	ev.subtask_id = "9";
	ev.status = "4";
	ev.end_time = NULL;
	o = notify_body(&cfg, &ev);
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	CHECK(strstr(s, "\"event\":\"subtask_status\"") && strstr(s, "\"subtask_id\":9,\"subtask_status\":4") &&
		      strstr(s, "\"end_time\":null") && !strstr(s, "result_url") && !strstr(s, "count_task_parts"),
	      "%s", s);
	json_object_put(o);
}

static void test_retry_delay(void)
{
	int want[] = {1, 1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300};
	for (int attempts = 0; attempts < 12; attempts++)
		CHECK(notify_retry_delay(&cfg, attempts) == want[attempts], "%d -> %d", attempts,
		      notify_retry_delay(&cfg, attempts));
}

int main(void)
{
	char err[256];
	if (config_load(&cfg, NULL, err, sizeof(err))) {
		printf("config: %s\n", err);
		return 1;
	}
	snprintf(cfg.outbound_allow, sizeof(cfg.outbound_allow), "127.0.0.1");
	snprintf(cfg.time_zone, sizeof(cfg.time_zone), "UTC");
	test_check();
	test_mask();
	test_body();
	test_retry_delay();
	return CHECK_DONE();
}
