/* Delivery of one queued notification (a row of the notification table,
 * migration 010) to its callback: the JSON body the receiver gets and the
 * POST itself, under the outbound policy. The scheduler's delivery threads
 * (src/scheduler/callbacks.c) claim the rows, call these and record the
 * outcome; nothing here touches the database.
 *
 * The body: {"notification_id", "event": "task_status" | "subtask_status",
 * "task_id", "task_type", "task_status" | ("subtask_id", "subtask_status"),
 * "create_time", "last_update_time" (when the status changed), "end_time",
 * and for a task "count_task_parts_done", "count_task_parts_all", with
 * "result_id" and "result_url" once it is done}. Receivers may get a
 * notification more than once (at-least-once): notification_id tells. */
#ifndef LUNA_NOTIFY_DELIVER_H
#define LUNA_NOTIFY_DELIVER_H
#include <json-c/json.h>
#include <stdatomic.h>
#include "backends/http_client.h"
#include "common/config.h"

/* One status change, as the notification row and its task hold it (DB
 * text; NULL where a column is NULL). */
struct notify_event {
	const char *notification_id, *task_id, *subtask_id;   /* subtask_id NULL: a task event */
	const char *task_type, *status;
	const char *create_time, *event_time, *end_time;
	const char *parts_done, *parts_all, *result_id;
};

/* The JSON body of ev (a new object). */
json_object *notify_body(const struct luna_config *cfg, const struct notify_event *ev);

/* The outcome of one attempt. */
struct notify_outcome {
	long http_status;              /* 0: no answer */
	char error[512];               /* why it failed (URL credentials redacted); "" on success */
};

/* POSTs body to callback (its JSON as stored): its URL under [OUTBOUND]
 * ALLOW, its authorization and headers, its timeout (at most [NOTIFICATIONS]
 * MAX_TIMEOUT). 0 when the receiver answered 2xx; -1 otherwise, with out
 * saying why. A nonzero *cancel (may be NULL) aborts the request. */
int notify_send(struct http_conn *conn, const struct luna_config *cfg, json_object *callback, const char *body,
		atomic_int *cancel, struct notify_outcome *out);

/* Seconds one attempt to callback may take: its params.timeout, or
 * [NOTIFICATIONS] TIMEOUT, at most MAX_TIMEOUT. */
long notify_callback_timeout(const struct luna_config *cfg, json_object *callback);

/* Seconds before attempt number attempts + 1 after attempts failed ones:
 * 1, 2, 4, ... up to [NOTIFICATIONS] RETRY_MAX_SECONDS. */
int notify_retry_delay(const struct luna_config *cfg, int attempts);
#endif
