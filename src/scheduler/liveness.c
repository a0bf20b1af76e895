/* The liveness thread: what tells the rest of the world that this scheduler
 * is alive and still owns its work. Four times a second it watches the held
 * work for cancellation; once a second it writes the heartbeat
 * (/healthcheck); every LEASE_SECONDS/3 it renews the leases of what the
 * workers hold. It never touches the result store or any other network
 * service: only its own tasks-DB connection, whose every statement is
 * bounded (see liveness_db_settings), so a silent store can never let a
 * lease lapse and a stalled DB costs one bounded wait per tick. A second
 * small thread pings the systemd watchdog while this one makes progress.
 *
 * Workload: a handful of primary-key statements per tick per busy worker. */
#include "scheduler/sched.h"
#include "common/log.h"
#include "common/timefmt.h"
#include <errno.h>
#include <string.h>

#define TICK_MS 250
#define HEARTBEAT_US 1000000LL

struct db_settings liveness_db_settings(const struct luna_config *cfg)
{
	struct db_settings d = cfg->tasks_db;
	int bound = cfg->lease_seconds / 3 > 1 ? cfg->lease_seconds / 3 : 1;
	if (d.connect_timeout > bound)
		d.connect_timeout = bound;
	if (d.read_timeout > bound)
		d.read_timeout = bound;
	d.statement_timeout = bound;
	return d;
}

static void mark_progress(struct liveness *l)
{
	atomic_store(&l->progress_us, time_now_us());
}

/* Runs the duties that are due; the first DB failure ends the tick. */
static int run_duties(struct liveness *l, long long now)
{
	struct sched *s = l->s;
	if (!l->own_leases_released) {
		if (sched_expire_own_leases(s, l->db))
			return -1;
		l->own_leases_released = 1;
	}
	if (now >= l->next_heartbeat) {
		if (sched_heartbeat(s, l->db))
			return -1;
		l->next_heartbeat = now + HEARTBEAT_US;
	}
	mark_progress(l);
	if (now >= l->next_renew) {
		if (sched_renew_leases(s, l->db))
			return -1;
		l->next_renew = now + (long long)s->cfg.lease_seconds * 1000000LL / 3;
	}
	mark_progress(l);
	return sched_watch_cancellation(s, l->db);
}

static void tick(struct liveness *l)
{
	mark_progress(l);
	if (run_duties(l, time_now_us()) == 0)
		sched_db_ok(&l->failures);
	else
		sched_db_failed(l->db, &l->failures, "liveness");
}

static void *liveness_main(void *arg)
{
	struct liveness *l = arg;
	while (!atomic_load(&l->stop)) {
		tick(l);
		sched_nap(&l->stop, TICK_MS);
	}
	sched_hand_back(l->s, l->db);
	return NULL;
}

/* The systemd watchdog is pinged while the liveness thread makes progress.
 * One blocked in a DB call (a hung server: up to its bounded connect and
 * read timeouts) still counts as alive for a while, so a DB outage does not
 * get the scheduler killed; one stuck longer does. */
static void *watchdog_main(void *arg)
{
	struct liveness *l = arg;
	int warned = 0;
	while (!atomic_load(&l->stop_watchdog)) {
		long long idle = time_now_us() - atomic_load(&l->progress_us);
		if (idle < l->watchdog_grace_us) {
			notify_watchdog();
			warned = 0;
		} else if (!warned) {
			log_error("the liveness thread has made no progress for %lld s; no more watchdog pings",
				  idle / 1000000);
			warned = 1;
		}
		sched_nap(&l->stop_watchdog, (int)(l->watchdog_usec / 2000));
	}
	return NULL;
}

void liveness_mark_progress(struct liveness *l)
{
	mark_progress(l);
}

int liveness_init(struct liveness *l, struct sched *s)
{
	struct db_settings d = liveness_db_settings(&s->cfg);
	memset(l, 0, sizeof(*l));
	l->s = s;
	if (!(l->db = db_open(&d)))
		return -1;
	mark_progress(l);
	l->watchdog_usec = notify_watchdog_usec();
	if (!l->watchdog_usec)
		return 0;
	l->watchdog_grace_us = (long long)l->watchdog_usec + 2LL * (d.connect_timeout + d.read_timeout) * 1000000LL;
	if (pthread_create(&l->watchdog, NULL, watchdog_main, l) == 0)
		l->watchdog_started = 1;
	return 0;
}

int liveness_start(struct liveness *l)
{
	/* Before any worker claims under our id; the first tick retries it if the DB is away. */
	l->own_leases_released = sched_expire_own_leases(l->s, l->db) == 0;
	mark_progress(l);
	if (pthread_create(&l->thread, NULL, liveness_main, l)) {
		log_error("cannot start the liveness thread: %s", strerror(errno));
		return -1;
	}
	l->started = 1;
	return 0;
}

void liveness_stop(struct liveness *l)
{
	if (!l->started)
		return;
	atomic_store(&l->stop, 1);
	pthread_join(l->thread, NULL);
	l->started = 0;
}

void liveness_close(struct liveness *l)
{
	if (l->watchdog_started) {
		atomic_store(&l->stop_watchdog, 1);
		pthread_join(l->watchdog, NULL);
		l->watchdog_started = 0;
	}
	db_close(l->db);
	l->db = NULL;
}
