/* The waker thread: takes the local wake-ups that the API on this host sends
 * after it created a task (common/wake.h) and wakes the idle workers, so a
 * new task is planned at once instead of at the next poll. One scheduler per
 * host and tasks database listens; the others, and every scheduler on other
 * hosts, still find the task at their next poll of the database.
 * Workload: one wake-up per created task, passed on at most every
 * WAKE_MIN_GAP_MS. */
#include "scheduler/sched.h"
#include "common/log.h"
#include "common/wake.h"
#include <unistd.h>

/* How long one wait lasts, so that a stop is seen soon. */
#define WAKER_TICK_MS 250

static void *waker_main(void *arg)
{
	struct waker *k = arg;
	while (!atomic_load(&k->stop)) {
		if (wake_wait(k->fd, WAKER_TICK_MS) <= 0)
			continue;
		sched_wake_all(k->s);
		sched_nap(&k->stop, WAKE_MIN_GAP_MS);
	}
	return NULL;
}

void waker_start(struct waker *k, struct sched *s)
{
	k->s = s;
	k->fd = wake_listen(&s->cfg.tasks_db);
	if (k->fd >= 0 && pthread_create(&k->thread, NULL, waker_main, k) == 0) {
		k->started = 1;
		log_info("wake-ups: tasks created through an API on this host are planned at once");
		return;
	}
	if (k->fd >= 0)
		close(k->fd);
	k->fd = -1;
	log_info("wake-ups: another scheduler on this host takes them (or none can be received); new tasks "
		 "are found by polling every %d ms", s->cfg.poll_interval_ms);
}

void waker_stop(struct waker *k)
{
	if (!k->started)
		return;
	atomic_store(&k->stop, 1);
	pthread_join(k->thread, NULL);
	close(k->fd);
	k->started = 0;
}
