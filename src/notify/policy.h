/* Notification policies of tasks: what a client asks to be told about
 * (task_callbacks: status changes of the task; subtask_callbacks: of its
 * subtasks) and where. The contract's notification_policy schema checks
 * the shape; here are the checks that depend on the configuration, the
 * rows of task_callback (migration 010) and the masked rendering for
 * replies. The notifications themselves are queued by the triggers of
 * migration 010 and delivered by the scheduler (notify/deliver.h).
 *
 * A callback: {"type": "http", "url", "authorization": {"type": "basic",
 * "login", "password"} | {"type": "bearer", "token"}, "params": {"timeout",
 * "headers": {name: value}}, "enable": 0 | 1}. */
#ifndef LUNA_NOTIFY_POLICY_H
#define LUNA_NOTIFY_POLICY_H
#include <json-c/json.h>
#include "common/arena.h"
#include "common/config.h"
#include "common/db.h"
#include "tasks/task_type.h"

/* task_callback.events: which status changes a callback hears of. */
#define NOTIFY_TASK_EVENTS 1
#define NOTIFY_SUBTASK_EVENTS 2
/* notification.state */
#define NOTIFY_QUEUED 0
#define NOTIFY_DELIVERED 1
#define NOTIFY_FAILED 2

/* The property of a task body, and the list of each kind of events. */
#define NOTIFY_POLICY_KEY "notification_policy"
const char *notify_list_name(int events);

/* The checks beyond the schema, on a policy that passed it: the number of
 * callbacks, each URL under the outbound policy ([OUTBOUND] ALLOW), the
 * timeout and the headers under [NOTIFICATIONS]. path is where the policy
 * sits in the body ("notification_policy", or "" for a PUT of the policy).
 * 0 ok; -1 with fail set to 400/12022 naming the JSON path. */
int notify_policy_check(const struct luna_config *cfg, json_object *policy, const char *path,
			struct task_fail *fail);

/* Makes policy the notification policy of task_id: the callbacks it had
 * are marked replaced, its own are inserted. The caller's transaction
 * should hold the task row first (every writer of a task locks it first).
 * policy NULL stores nothing. 0, or -1 on a DB error. */
int notify_policy_store(struct db *db, long long task_id, json_object *policy);

/* A PUT may send back what GET answered: each secret of policy that is the
 * mask ("********": an authorization password or token, a header value)
 * takes the value the task's current callback at the same place (list and
 * index; the same header name) has. 0 ok; -1 with fail set: 400/12022
 * naming the path when there is no such value, E_DB on a DB error. */
int notify_policy_unmask(struct db *db, struct arena *a, long long task_id, json_object *policy,
			 struct task_fail *fail);

/* The stored policy of task_id with its secrets masked (a new object; the
 * lists empty when it has none). NULL on a DB error. */
json_object *notify_policy_load(struct db *db, struct arena *a, long long task_id);

/* Masks the secrets of a callback in place: the authorization password or
 * token, the values of headers that carry credentials (notify_header_is_secret),
 * passwords and signatures in the URL. */
void notify_callback_mask(json_object *callback);
/* Whether a header (by name or value) carries credentials: Authorization,
 * Cookie, names with token, secret, key, auth, password, session or
 * signature in them, values that start with "Bearer " or "Basic ". */
int notify_header_is_secret(const char *name, const char *value);
#endif
