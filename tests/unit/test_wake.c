/* Unit test of common/wake.h: one listener per tasks database on a host, a
 * wake-up reaches the listener of its own database only, waits take every
 * datagram that arrived, and sending with nobody listening is harmless.
 * Workload: a handful of datagrams; instant. */
#include "common/wake.h"
#include "check.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Settings unique to this run, so that no stack on the host is disturbed. */
static struct db_settings settings(const char *name)
{
	struct db_settings db;
	memset(&db, 0, sizeof(db));
	snprintf(db.host, sizeof(db.host), "localhost");
	snprintf(db.socket, sizeof(db.socket), "/run/test-wake-%d.sock", (int)getpid());
	snprintf(db.name, sizeof(db.name), "%s", name);
	return db;
}

int main(void)
{
	struct db_settings a = settings("tasks_a"), b = settings("tasks_b"), nobody = settings("tasks_c");
	int fa = wake_listen(&a), fb = wake_listen(&b);
	CHECK(fa >= 0, "cannot listen: %s", strerror(errno));
	CHECK(fb >= 0, "cannot listen: %s", strerror(errno));
	CHECK(wake_listen(&a) == -1, "a second listener of one database");
	CHECK(wake_wait(fa, 0) == 0, "woken before anything was sent");
	wake_send(&a);
	wake_send(&a);
	CHECK(wake_wait(fa, 5000) == 1, "the wake-up did not arrive");
	CHECK(wake_wait(fa, 0) == 0, "the second datagram was not taken with the first");
	CHECK(wake_wait(fb, 0) == 0, "another database's listener was woken");
	errno = EINTR;
	wake_send(&nobody);
	CHECK(errno == EINTR, "sending with nobody listening changed errno to %d", errno);
	close(fa);
	close(fb);
	int again = wake_listen(&a);
	CHECK(again >= 0, "the address stays taken after its listener closed");
	if (again >= 0)
		close(again);
	return CHECK_DONE();
}
