/* Private interface of the scheduler daemon (src/scheduler/).
 *
 * One process = one scheduler identity (worker id). The main thread takes
 * signals and recovers expired leases; the liveness thread (liveness.c)
 * writes the heartbeat, renews leases and watches for cancellation, with
 * no storage or network I/O and bounded DB statements; a small thread pings
 * the systemd watchdog while the liveness thread makes progress; the janitor
 * thread (janitor.c) deletes blobs and runs cleanup hooks; the schedules
 * thread (schedules.c) creates the tasks of due schedules. [SCHEDULER]
 * WORKERS worker threads each collect, plan and run whatever the DB offers
 * them. Every thread has its own DB connection. */
#ifndef LUNA_SCHED_H
#define LUNA_SCHED_H
#include <pthread.h>
#include <stdatomic.h>
#include "common/arena.h"
#include "common/config.h"
#include "common/db.h"
#include "common/status.h"
#include "backends/http_client.h"
#include "tasks/task_type.h"

#define SCHED_ID_MAX 128


/* What a worker holds a lease on while it works. */
enum hold_kind { HOLD_NONE, HOLD_PLAN, HOLD_SUBTASK, HOLD_COLLECT };

struct sched;

struct worker {
	struct sched *s;
	int index;
	pthread_t thread;
	int started;
	struct db *db;
	struct objects *objects;       /* NULL when there is no objects backend */
	struct storage *store;         /* NULL when the result store cannot be opened */
	/* Guarded by s->lock; the liveness thread reads them to renew and to watch. */
	enum hold_kind hold;
	long long hold_task, hold_subtask;
	unsigned long hold_gen;        /* bumped on every change of the hold */
	int exited;
	/* Set by the liveness thread (or at shutdown), read by the worker and its hook's
	 * threads (C11 atomic): the held work was cancelled,
	 * deleted, taken over, or the process stops. ctx->cancelled points here. */
	atomic_int cancelled;
	/* Consecutive DB failures, for the back-off and for not repeating logs. */
	int db_failures;
};

struct sched {
	struct luna_config cfg;
	char worker_id[SCHED_ID_MAX];
	char host[256];
	char started[32];              /* DB text of the start time */
	int throttle_ms;               /* --throttle-ms: pause before each subtask */
	int throttle_task_ms;          /* --throttle-task-ms: pause before each plan and collect */
	pthread_mutex_t lock;
	pthread_cond_t wake;           /* new work or stop; idle workers wait on it */
	unsigned long wake_gen;        /* under lock: bumped by every sched_wake_all */
	atomic_int stopping;           /* no new claims */
	struct worker *workers;
	int nworkers;
	/* The warm buffers of common/big_alloc.h go back after [SCHEDULER]
	 * SPARES_IDLE_S without work (worker.c): */
	atomic_int in_round;           /* workers inside a round of collect, plan, run */
	atomic_llong last_work_us;     /* when a round last did something */
	atomic_int spares_kept;        /* a round did something since the last release */
};

/* The liveness thread and its watchdog pinger (liveness.c). */
struct liveness {
	struct sched *s;
	struct db *db;                 /* its own; statements bounded by liveness_db_settings() */
	pthread_t thread, watchdog;
	int started, watchdog_started;
	atomic_int stop, stop_watchdog;
	atomic_llong progress_us;      /* when the liveness thread last moved on */
	unsigned long long watchdog_usec;  /* WATCHDOG_USEC; 0 = off */
	long long watchdog_grace_us;   /* how long it may show no progress and still count as alive */
	long long next_heartbeat, next_renew;
	int own_leases_released;
	int failures;
};

/* A thread that runs a round on a DB connection of its own every round_ms
 * until stopped, logging a failing DB as what (common.c): the janitor's and
 * the schedules' threads. */
struct sched_rounds {
	struct sched *s;
	struct db *db;                 /* its own */
	int (*round)(void *owner);     /* 0, or -1 on a DB failure */
	void *owner;
	const char *what;
	int round_ms;
	pthread_t thread;
	int started;
	atomic_int stop, exited;
};

/* The janitor thread (janitor.c). */
struct janitor {
	struct sched_rounds r;
	struct storage *store;         /* NULL when the result store cannot be opened */
};

/* The schedules thread (schedules.c). */
struct schedules {
	struct sched_rounds r;
};

/* A notification delivery thread (callbacks.c). */
struct deliverer {
	struct sched *s;
	struct db *db;                 /* its own */
	struct http_conn *conn;        /* its own */
	pthread_t thread;
	int started;
	atomic_int stop, exited;       /* stop also aborts a POST in flight */
	int failures;
};

/* The waker thread (waker.c): local wake-ups of the API (common/wake.h). */
struct waker {
	struct sched *s;
	int fd;                        /* -1: another scheduler on this host listens */
	pthread_t thread;
	int started;
	atomic_int stop;
};

/* Outcome of a transaction body. */
enum { TXN_COMMIT = 0, TXN_ABORT = 1, TXN_ERROR = -1 };
typedef int (*txn_body_fn)(struct db *db, struct arena *a, void *ud);
/* BEGIN, body, COMMIT (or ROLLBACK when it aborts or fails); retried after a
 * deadlock or lock wait timeout. TXN_COMMIT, TXN_ABORT, or TXN_ERROR with
 * the DB error left in db. */
int sched_txn(struct db *db, struct arena *a, txn_body_fn body, void *ud);

/* *ended = 1 when no subtask of the task is pending or running any more
 * (the one query for "unfinished subtasks"). 0, or -1 on a DB error. */
int sched_all_subtasks_ended(struct db *db, struct arena *a, long long task_id, int *ended);
/* An error row of a subtask of the task, counted in task.error_count;
 * inside the caller's transaction, which has locked the task row first. Not
 * limited by MAX_ERRORS: it says why work failed. */
int sched_insert_error(struct db *db, long long task_id, long long subtask_id, int code, const char *detail);
/* The steps that run outside subtasks. Their errors go to a failed subtask
 * row {"stage": "planning"|"collecting"} made for them, so every error row
 * names a subtask that exists (task_error.subtask_id is required). */
#define STAGE_PLANNING "planning"
#define STAGE_COLLECTING "collecting"
/* The step's subtask row and its error row; inside the caller's transaction. */
int sched_stage_error(struct db *db, long long task_id, const char *stage, int code, const char *detail);
/* Moves a task to failed with the step's error; inside the caller's transaction. */
int sched_fail_task(struct db *db, long long task_id, const char *stage, int code, const char *detail);
/* Planning or collecting takes a task: after MAX_ATTEMPTS interrupted tries
 * the task fails (*gave_up = 1); otherwise it gets our worker id, a lease and
 * one more attempt (collecting also moves it to status 4). Inside the
 * caller's transaction; returns TXN_COMMIT or TXN_ERROR. */
int sched_take_task(struct sched *s, struct db *db, long long task_id, int attempts, const char *phase,
		    int collecting, int *gave_up);
/* Logs a DB failure once per outage per thread and sleeps a growing back-off
 * (up to 5 s) unless the scheduler stops; the count resets on success. */
void sched_db_trouble(struct sched *s, struct db *db, int *failures, const char *what);
/* The same without the sleep, for threads that retry on their own clock. */
void sched_db_failed(struct db *db, int *failures, const char *what);
void sched_db_ok(int *failures);
/* A hint for errors that mean a missing migration, else "". */
const char *sched_db_hint(struct db *db);
/* Sleeps up to ms, waking early on stop or new work; not at all when
 * sched_wake_all was called since sched_wake_gen returned gen (the wake-up
 * came while the worker was looking and found nothing). 1 when woken by
 * sched_wake_all, 0 when the time ran out (or the scheduler stops). */
int sched_idle(struct sched *s, int ms, unsigned long gen);
unsigned long sched_wake_gen(struct sched *s);
void sched_wake_all(struct sched *s);
/* Publishes what worker w holds (for lease renewal and the cancellation watch). */
void sched_set_hold(struct worker *w, enum hold_kind kind, long long task_id, long long subtask_id);
/* Adds value to a counter of GET /metrics kept in the tasks database
 * (common/task_metrics.h); inside the caller's transaction, as its last
 * statement, so that the counter's row stays locked only until the commit. */
int sched_count(struct db *db, const char *metric, int task_type, const char *label, double value);
/* One observation of the subtask run time histogram: its bucket and the sum. */
int sched_count_subtask_duration(struct db *db, int task_type, double seconds);
/* Failures of the infrastructure (the objects database was away) rather than
 * of the work: worth retrying, up to MAX_ATTEMPTS. */
int sched_failure_is_transient(const struct task_fail *fail);
/* Seconds before retry number `attempts` (2, 4, 8, … up to 60). */
int sched_retry_delay(int attempts);
/* Keeps the plan (status 0) or collect (status 4) lease of task_id but lets
 * it run out in delay_s seconds, so anyone may retry then; the attempt stays
 * counted. 1 deferred, 0 no longer ours, -1 DB error. */
int sched_defer_task(struct worker *w, long long task_id, int status, int delay_s);
/* Gives up a plan or collect lease of task_id (status 0 or 4) that is still
 * ours, without counting the attempt: the work was told to stop. */
void sched_release_task(struct worker *w, long long task_id);
/* What the scheduler offers task hooks (common.c): task_host_reads and the
 * writes (error rows, the created handler). */
extern const struct task_host sched_task_host;
/* A context for task hooks, with an arena that dies with the work item. */
void sched_ctx_init(struct worker *w, struct task_ctx *ctx, struct arena *a, long long task_id,
		    long long subtask_id, const char *account_id, const char *request_id);
/* Sleeps ms in short slices, returning early once w->cancelled is set. */
void sched_throttle(struct worker *w, int ms);
/* Sleeps ms in short slices, returning early once *stop is set. */
void sched_nap(atomic_int *stop, int ms);
/* Waits up to wait_us for a thread to set *exited: 0 once it did, -1 when
 * it is still busy (the caller leaves it behind). */
int sched_wait_exited(atomic_int *exited, long long wait_us);
/* Opens the rounds' connection (r zeroed first). 0, or -1. */
int sched_rounds_open(struct sched_rounds *r, struct sched *s);
/* Starts the thread that calls round(owner) every round_ms. 0, or -1. */
int sched_rounds_start(struct sched_rounds *r, const char *what, int round_ms, int (*round)(void *), void *owner);
/* Tells it to stop and waits up to wait_us, then closes its connection; -1
 * when it is still inside a round (it is then left behind, like a stuck
 * worker). */
int sched_rounds_stop(struct sched_rounds *r, long long wait_us);
/* Parses JSON text into an object owned by arena a; NULL when invalid. */
json_object *sched_parse_json(struct arena *a, const char *text);
/* Hands o (may be NULL) to arena a, which puts it when it dies. Returns o. */
json_object *sched_own_json(struct arena *a, json_object *o);

/* The rows each worker step claims, as SQL conditions; the idle look
 * (sched_work_visible) asks for the same rows. COLLECTABLE: every subtask of
 * the task finished, or a collect was interrupted (status 4, lease expired
 * or handed back). */
#define SQL_COLLECTABLE \
	"((task_status = " SQL_VAL(TASK_RUNNING) " AND planned = 1 " \
	"AND count_task_parts_done >= count_task_parts_all) " \
	"OR (task_status = " SQL_VAL(TASK_COLLECTING) " AND (worker_id IS NULL OR lease_until < UTC_TIMESTAMP(6))))"
#define SQL_PLANNABLE \
	"(task_status = " SQL_VAL(TASK_PENDING) " AND planned = 0 " \
	"AND (worker_id IS NULL OR lease_until < UTC_TIMESTAMP(6)))"
#define SQL_CLAIMABLE \
	"(subtask_status = " SQL_VAL(SUB_PENDING) " AND (lease_until IS NULL OR lease_until <= UTC_TIMESTAMP(6)))"

/* Worker steps: 1 = did something, 0 = nothing to do, -1 = DB trouble. */
int sched_collect_one(struct worker *w);
int sched_plan_one(struct worker *w);
int sched_run_one(struct worker *w);
/* Collects task_id now if all its subtasks are finished (after a worker finished the last one). */
int sched_collect_task(struct worker *w, long long task_id);
void *sched_worker_main(void *arg);

/* Monitor duties (monitor.c), each on the caller's own connection mdb:
 * the liveness thread's (heartbeat, renewal, cancellation watch, expiring
 * and handing back our own leases) and the main thread's (recovery). */
int sched_heartbeat(struct sched *s, struct db *mdb);
void sched_heartbeat_remove(struct sched *s, struct db *mdb);
int sched_renew_leases(struct sched *s, struct db *mdb);
int sched_watch_cancellation(struct sched *s, struct db *mdb);
int sched_recover_expired(struct sched *s, struct db *mdb);
/* At start: leases still held under our worker id belong to a dead previous
 * run with the same --worker-id; expire them so recovery takes them now. */
int sched_expire_own_leases(struct sched *s, struct db *mdb);
/* At shutdown: gives back whatever the workers still hold. */
void sched_hand_back(struct sched *s, struct db *mdb);

/* The liveness connection: the tasks DB settings with connect and read
 * timeouts and a server-side statement bound (lock waits, execution) of
 * LEASE_SECONDS/3 (at least 1 s, at most the configured timeouts). */
struct db_settings liveness_db_settings(const struct luna_config *cfg);
/* Opens the liveness connection and, under systemd, starts the watchdog
 * pinger (the main thread marks progress until the liveness thread runs). */
int liveness_init(struct liveness *l, struct sched *s);
void liveness_mark_progress(struct liveness *l);
/* Starts the liveness thread. */
int liveness_start(struct liveness *l);
/* Stops the liveness thread after it handed back what the workers still
 * hold; l->db stays open for the caller (e.g. to remove the heartbeat). */
void liveness_stop(struct liveness *l);
/* Stops the watchdog pinger and closes the connection. */
void liveness_close(struct liveness *l);
/* Listens for local wake-ups and starts the waker thread; when another
 * scheduler on this host listens (or the thread cannot start), says so and
 * starts nothing: the workers poll as ever. */
void waker_start(struct waker *k, struct sched *s);
void waker_stop(struct waker *k);
/* Starts the janitor thread with its own connection and result store. */
int janitor_start(struct janitor *j, struct sched *s);
/* Tells it to stop and waits up to wait_us; -1 when it is still inside a
 * store call (it is then left behind, like a stuck worker). */
int janitor_stop(struct janitor *j, long long wait_us);

/* Starts the schedules thread with its own connection: every second it
 * creates the tasks of the due schedules, each in its own transaction
 * holding the schedule row. */
int schedules_start(struct schedules *t, struct sched *s);
/* Tells it to stop and waits up to wait_us; -1 when it is still inside a
 * check (a handlers call) and was left behind. */
int schedules_stop(struct schedules *t, long long wait_us);

/* Starts n delivery threads of notification callbacks, each with its own DB
 * and HTTP connection. */
int callbacks_start(struct deliverer *d, int n, struct sched *s);
/* Tells them to stop (a POST in flight is aborted) and waits up to wait_us
 * for each; returns how many are still stuck (left behind). */
int callbacks_stop(struct deliverer *d, int n, long long wait_us);

/* systemd notification (no-ops without systemd). */
void notify_ready(void);
void notify_stopping(void);
void notify_watchdog(void);
void notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Watchdog interval in microseconds, 0 when the watchdog is off. */
unsigned long long notify_watchdog_usec(void);
#endif
