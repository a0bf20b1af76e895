/* Local wake-ups of idle schedulers: a shortcut, never a guarantee.
 *
 * The API sends one datagram after it created a task; the scheduler on the
 * same host (and network namespace) that listens wakes its idle workers, so
 * the task is planned at once instead of at the next poll. Schedulers on
 * other hosts, and the ones on this host that do not listen (one listens per
 * tasks database and host), learn of the task from the database as before,
 * at their next poll: correctness never depends on a wake-up.
 *
 * The address is an abstract unix socket named after the tasks database
 * settings (host, port, socket, database), so two stacks on one host do not
 * wake each other, and nothing is left on disk. Anyone on the host may send
 * to it; a wake-up only makes idle workers look at the database once more,
 * and the listener takes at most one per WAKE_MIN_GAP_MS. */
#ifndef LUNA_WAKE_H
#define LUNA_WAKE_H
#include "common/config.h"

/* Shortest time between two wake-ups the listener passes on. */
#define WAKE_MIN_GAP_MS 5

/* The listening socket (non-blocking), or -1 when another process on this
 * host already listens for this tasks database (or no socket can be made). */
int wake_listen(const struct db_settings *tasks_db);

/* Waits up to timeout_ms for wake-ups on fd and takes all that arrived:
 * 1 when there was at least one, 0 when none came (or a signal interrupted). */
int wake_wait(int fd, int timeout_ms);

/* Tells the listener of this tasks database, if any, that there is new
 * work; never blocks, errors (nobody listens) are ignored. */
void wake_send(const struct db_settings *tasks_db);
#endif
