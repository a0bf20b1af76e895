/* luna-tasks-scheduler: the daemon that plans, runs and collects tasks.
 *
 *   luna-tasks-scheduler -c CONFIG [--worker-id ID] [--throttle-ms MS] [--throttle-task-ms MS]
 *
 * The main thread starts the liveness thread (heartbeat, lease renewal,
 * cancellation watch, systemd watchdog: liveness.c), the janitor thread
 * (blob cleanup and cleanup hooks: janitor.c), the schedules thread (tasks of
 * due schedules: schedules.c) and [SCHEDULER] WORKERS worker threads, then
 * waits for SIGTERM/SIGINT, recovering expired leases once a second
 * meanwhile; nothing on this thread waits on the network. On a stop signal
 * it stops claiming, lets running work finish for up to LEASE_SECONDS, hands
 * back the rest and exits 0. A DB outage is logged and waited out, never
 * fatal. Workload: a long-lived process per host (systemd Type=notify). */
#include "scheduler/sched.h"
#include "common/big_alloc.h"
#include "common/db_explain.h"
#include "common/log.h"
#include "common/timefmt.h"
#include "match/match.h"
#include <cblas.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TICK_MS 250
#define RECOVER_US 1000000LL
#define EXIT_GRACE_US 5000000LL
#define JANITOR_WAIT_US 2000000LL
#define THROTTLE_MAX_MS 3600000
#define THROTTLE_ENV "LUNA_TASKS_SCHEDULER_THROTTLE_MS"
#define THROTTLE_TASK_ENV "LUNA_TASKS_SCHEDULER_THROTTLE_TASK_MS"

struct options {
	const char *config;
	const char *worker_id;
	int throttle_ms, throttle_task_ms;
};

/* The main thread's part: recovery of expired leases, every second, on its
 * own connection. */
struct recovery {
	struct db *db;
	long long next;
	int failures;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: luna-tasks-scheduler [-c CONFIG] [--worker-id ID] [--throttle-ms MS] [--throttle-task-ms MS]\n"
		"  -c, --config FILE       configuration (default: $LUNA_TASKS_CONFIG or %s)\n"
		"  -w, --worker-id ID      name of this scheduler in leases and heartbeats (default HOST:PID)\n"
		"  --throttle-ms MS        pause MS milliseconds before each subtask (reproducing races, demos);\n"
		"                          also $" THROTTLE_ENV "\n"
		"  --throttle-task-ms MS   the same before planning and before collecting a task;\n"
		"                          also $" THROTTLE_TASK_ENV "\n",
		config_default_path());
}

static int parse_int(const char *text, int lo, int hi, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(text, &end, 10);
	if (errno || end == text || *end || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

static int parse_ms_env(const char *name, int *out)
{
	const char *env = getenv(name);
	if (!env || !env[0] || parse_int(env, 0, THROTTLE_MAX_MS, out) == 0)
		return 0;
	fprintf(stderr, "%s: not a number of milliseconds: %s\n", name, env);
	return -1;
}

/* 0 run, 1 exit 0 (help), 2 usage error. */
static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longs[] = {
		{"config", required_argument, NULL, 'c'}, {"worker-id", required_argument, NULL, 'w'},
		{"throttle-ms", required_argument, NULL, 't'}, {"throttle-task-ms", required_argument, NULL, 'T'},
		{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
	};
	memset(o, 0, sizeof(*o));
	if (parse_ms_env(THROTTLE_ENV, &o->throttle_ms) || parse_ms_env(THROTTLE_TASK_ENV, &o->throttle_task_ms))
		return 2;
	int c;
	while ((c = getopt_long(argc, argv, "c:w:h", longs, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->config = optarg;
			break;
		case 'w':
			if (!optarg[0] || strlen(optarg) >= SCHED_ID_MAX - 1) {
				fprintf(stderr, "--worker-id: 1 to %d characters\n", SCHED_ID_MAX - 2);
				return 2;
			}
			o->worker_id = optarg;
			break;
		case 't':
		case 'T':
			if (parse_int(optarg, 0, THROTTLE_MAX_MS, c == 't' ? &o->throttle_ms : &o->throttle_task_ms)) {
				fprintf(stderr, "--%s: not a number of milliseconds: %s\n",
					c == 't' ? "throttle-ms" : "throttle-task-ms", optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	if (!o->config)
		o->config = config_default_path();
	return 0;
}

static int init_identity(struct sched *s, const struct options *o)
{
	if (gethostname(s->host, sizeof(s->host)))
		snprintf(s->host, sizeof(s->host), "localhost");
	s->host[sizeof(s->host) - 1] = '\0';
	if (o->worker_id)
		snprintf(s->worker_id, sizeof(s->worker_id), "%s", o->worker_id);
	else
		snprintf(s->worker_id, sizeof(s->worker_id), "%.100s:%d", s->host, (int)getpid());
	time_format_db(time_now_us(), s->started, sizeof(s->started));
	return 0;
}

static int init_sync(struct sched *s)
{
	pthread_condattr_t ca;
	if (pthread_mutex_init(&s->lock, NULL) || pthread_condattr_init(&ca))
		return -1;
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	int rc = pthread_cond_init(&s->wake, &ca);
	pthread_condattr_destroy(&ca);
	return rc ? -1 : 0;
}

/* Stop signals are taken by sigtimedwait in the main thread only. */
/* [SCHEDULER] MATCH_KERNEL (checked by config_load) for every matching call. */
static void choose_match_kernel(const struct luna_config *cfg)
{
	enum match_kernel k = MATCH_KERNEL_AUTO;
	if (strcmp(cfg->match_kernel, "fp32") == 0)
		k = MATCH_KERNEL_FP32;
	else if (strcmp(cfg->match_kernel, "int8") == 0)
		k = MATCH_KERNEL_INT8;
	else if (strcmp(cfg->match_kernel, "int8-256") == 0)
		k = MATCH_KERNEL_INT8_256;
	match_set_kernel(k);
	log_info("matching kernel %s ([SCHEDULER] MATCH_KERNEL = %s)", match_kernel_in_use(),
		 cfg->match_kernel);
}

static void block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static int start_workers(struct sched *s)
{
	s->nworkers = s->cfg.workers;
	s->workers = calloc((size_t)s->nworkers, sizeof(*s->workers));
	if (!s->workers)
		return -1;
	for (int i = 0; i < s->nworkers; i++) {
		struct worker *w = &s->workers[i];
		w->s = s;
		w->index = i;
		if (pthread_create(&w->thread, NULL, sched_worker_main, w)) {
			log_error("cannot start worker %d: %s", i, strerror(errno));
			return -1;
		}
		w->started = 1;
	}
	return 0;
}

static int workers_running(struct sched *s)
{
	int n = 0;
	pthread_mutex_lock(&s->lock);
	for (int i = 0; i < s->nworkers; i++)
		n += s->workers[i].started && !s->workers[i].exited;
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* Workers holding work (a plan, a subtask or a collect), not idle ones. */
static int workers_busy(struct sched *s)
{
	int n = 0;
	pthread_mutex_lock(&s->lock);
	for (int i = 0; i < s->nworkers; i++)
		n += s->workers[i].started && !s->workers[i].exited && s->workers[i].hold != HOLD_NONE;
	pthread_mutex_unlock(&s->lock);
	return n;
}

static void recover(struct sched *s, struct recovery *r)
{
	long long now = time_now_us();
	if (now < r->next)
		return;
	r->next = now + RECOVER_US;
	if (sched_recover_expired(s, r->db) == 0)
		sched_db_ok(&r->failures);
	else
		sched_db_failed(r->db, &r->failures, "recovery");
}

/* Waits for a stop signal, recovering expired leases meanwhile. */
static void run_until_stopped(struct sched *s, struct recovery *r, const sigset_t *signals)
{
	struct timespec tick = {0, TICK_MS * 1000000L};
	for (;;) {
		int sig = sigtimedwait(signals, NULL, &tick);
		if (sig == SIGTERM || sig == SIGINT) {
			log_info("%s received: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
			return;
		}
		if (sig == SIGHUP)
			log_info("SIGHUP ignored: restart the scheduler to apply a new configuration");
		recover(s, r);
	}
}

/* Stop claiming, let running work finish for up to LEASE_SECONDS (the
 * liveness thread keeps renewing it), hand back the rest, wait briefly for
 * the workers. A second SIGINT (Ctrl-C twice) cuts the wait short; repeated
 * SIGTERMs do not (service managers and scripts may send more than one). */
static void shut_down(struct sched *s, struct liveness *l, const sigset_t *signals)
{
	struct timespec tick = {0, TICK_MS * 1000000L};
	atomic_store(&s->stopping, 1);
	sched_wake_all(s);
	notify_stopping();
	long long deadline = time_now_us() + (long long)s->cfg.lease_seconds * 1000000LL;
	int busy = workers_busy(s);
	if (busy)
		log_info("waiting up to %d s for %d busy worker%s", s->cfg.lease_seconds, busy, busy == 1 ? "" : "s");
	while (workers_running(s) && time_now_us() < deadline) {
		int sig = sigtimedwait(signals, NULL, &tick);
		if (sig == SIGINT) {
			log_info("second SIGINT: handing back running work now");
			break;
		}
		if (sig == SIGTERM)
			log_debug("SIGTERM again: still waiting for running work");
	}
	liveness_stop(l);   /* hands back what is still held */
	sched_wake_all(s);
	long long grace = time_now_us() + EXIT_GRACE_US;
	while (workers_running(s) && time_now_us() < grace) {
		struct timespec ts = {0, 50 * 1000000L};
		nanosleep(&ts, NULL);
	}
}

/* Joins the workers that ended; 0 when all did. */
static int join_workers(struct sched *s)
{
	int left = 0;
	for (int i = 0; i < s->nworkers; i++) {
		struct worker *w = &s->workers[i];
		if (!w->started)
			continue;
		pthread_mutex_lock(&s->lock);
		int exited = w->exited;
		pthread_mutex_unlock(&s->lock);
		if (exited)
			pthread_join(w->thread, NULL);
		else
			left++;
	}
	return left;
}

/* Start-up: the scheduler is ready (READY=1, threads started) only once the
 * tasks database answers. Each failed connect is logged with its reason
 * (wrong password, missing socket, ...); the wait backs off up to 30 s and
 * ends early on SIGTERM/SIGINT, and the watchdog is pinged meanwhile.
 * 0 when the database answers, -1 on a stop. */
static int wait_for_database(struct sched *sc, struct db *db, struct liveness *l, const sigset_t *signals)
{
	const struct db_settings *s = &sc->cfg.tasks_db;
	char why[1600];
	int delay = 1;
	for (int attempt = 1;; attempt++) {
		liveness_mark_progress(l);
		if (db_ping(db) == 0) {
			if (attempt > 1)
				log_info("the tasks database answers after %d failed connects", attempt - 1);
			return 0;
		}
		db_explain(db, s, "[LUNA_TASKS_DB]", why, sizeof(why));
		log_error("cannot connect to the tasks database %s (attempt %d): %s; retrying in %d s", s->name,
			  attempt, why, delay);
		notify_status("waiting for the tasks database: %s", why);
		struct timespec wait = {delay, 0};
		int sig = sigtimedwait(signals, NULL, &wait);
		if (sig == SIGTERM || sig == SIGINT) {
			log_info("%s received while waiting for the database: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
			return -1;
		}
		delay = delay * 2 > 30 ? 30 : delay * 2;
	}
}

int main(int argc, char **argv)
{
	static struct sched sched;
	static struct liveness live;
	static struct janitor janitor;
	static struct waker waker;
	static struct schedules schedules;
	static struct deliverer deliverers[CONFIG_MAX_NOTIFY_THREADS];
	struct sched *s = &sched;
	struct options opt;
	struct recovery rec = {0};
	char err[512] = "";
	sigset_t signals;
	int rc = parse_args(argc, argv, &opt);
	if (rc)
		return rc == 1 ? 0 : 2;
	log_init("luna-tasks-scheduler");
	big_alloc_init();
	if (config_load(&s->cfg, opt.config, err, sizeof(err))) {
		log_error("configuration %s: %s", opt.config, err);
		return 2;
	}
	if (log_set_level_name(s->cfg.log_level))
		log_warn("[LOGGING] LEVEL: unknown level '%s'; using INFO", s->cfg.log_level);
	s->throttle_ms = opt.throttle_ms;
	s->throttle_task_ms = opt.throttle_task_ms;
	init_identity(s, &opt);
	choose_match_kernel(&s->cfg);
	block_signals(&signals);
	if (init_sync(s) || !(rec.db = db_open(&s->cfg.tasks_db)) || liveness_init(&live, s)) {
		log_error("cannot start: %s", strerror(errno));
		return 1;
	}
	if (wait_for_database(s, rec.db, &live, &signals)) {
		liveness_close(&live);
		db_close(rec.db);
		return 0;
	}
	int ndeliverers = s->cfg.notify.threads;
	if (liveness_start(&live) || start_workers(s) || janitor_start(&janitor, s) ||
	    callbacks_start(deliverers, ndeliverers, s) || schedules_start(&schedules, s)) {
		log_error("cannot start: %s", strerror(errno));
		return 1;
	}
	waker_start(&waker, s);
	notify_ready();
	notify_status("worker id %s, %d workers", s->worker_id, s->nworkers);
	log_info("started as %s: %d workers, lease %d s, at most %d attempts%s", s->worker_id, s->nworkers,
		 s->cfg.lease_seconds, s->cfg.max_attempts, s->throttle_ms || s->throttle_task_ms ? ", throttled" : "");
	/* OPENBLAS_CORETYPE forces a kernel; a wrong one costs matching speed (manual). */
	const char *coretype = getenv("OPENBLAS_CORETYPE");
	log_info("OpenBLAS kernel %s (OPENBLAS_CORETYPE %s), %d OpenBLAS threads outside matching",
		 openblas_get_corename(), coretype && *coretype ? coretype : "unset", openblas_get_num_threads());
	run_until_stopped(s, &rec, &signals);
	waker_stop(&waker);
	atomic_store(&janitor.r.stop, 1);
	atomic_store(&schedules.r.stop, 1);
	shut_down(s, &live, &signals);
	int stuck = join_workers(s);
	int janitor_stuck = janitor_stop(&janitor, JANITOR_WAIT_US) != 0;
	int callbacks_stuck = callbacks_stop(deliverers, ndeliverers, JANITOR_WAIT_US);
	int schedules_stuck = schedules_stop(&schedules, JANITOR_WAIT_US) != 0;
	sched_heartbeat_remove(s, live.db);
	liveness_close(&live);
	if (stuck || janitor_stuck || callbacks_stuck || schedules_stuck) {
		/* A hook ignores cancellation, or a store or handlers call is still
		 * waiting: the work was handed back; do not wait for it. */
		if (stuck)
			log_warn("%d workers did not stop; exiting anyway", stuck);
		if (janitor_stuck)
			log_warn("the cleanup thread is still waiting for the result store; exiting anyway");
		if (callbacks_stuck)
			log_warn("%d notification delivery threads did not stop; exiting anyway", callbacks_stuck);
		if (schedules_stuck)
			log_warn("the schedules thread is still checking a task (a handlers or database call); exiting anyway");
		_exit(0);
	}
	db_close(rec.db);
	free(s->workers);
	pthread_cond_destroy(&s->wake);
	pthread_mutex_destroy(&s->lock);
	log_info("stopped");
	return 0;
}
