/* Local wake-ups of idle schedulers (wake.h): one datagram per created task
 * on an abstract unix socket named after the tasks database settings.
 * Workload: one datagram per POST of a task; the listener wakes at most
 * every WAKE_MIN_GAP_MS. */
#include "common/wake.h"
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static uint64_t fnv1a(uint64_t h, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ull;
	}
	return h;
}

/* The abstract address "\0luna-tasks-wake-HASH" of these database settings;
 * returns the address length. */
static socklen_t wake_address(const struct db_settings *db, struct sockaddr_un *sa)
{
	char port[16];
	uint64_t h = 14695981039346656037ull;
	snprintf(port, sizeof(port), "%d", db->port);
	/* Each field with its terminating NUL, so that fields cannot run into each other. */
	h = fnv1a(h, db->host, strlen(db->host) + 1);
	h = fnv1a(h, port, strlen(port) + 1);
	h = fnv1a(h, db->socket, strlen(db->socket) + 1);
	h = fnv1a(h, db->name, strlen(db->name) + 1);
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	int n = snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1, "luna-tasks-wake-%016llx", (unsigned long long)h);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

int wake_listen(const struct db_settings *tasks_db)
{
	struct sockaddr_un sa;
	socklen_t len = wake_address(tasks_db, &sa);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sa, len)) {
		close(fd);
		return -1;
	}
	return fd;
}

int wake_wait(int fd, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char buf[16];
	int got = 0;
	if (poll(&p, 1, timeout_ms) <= 0)
		return 0;
	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
		got = 1;
	return got;
}

void wake_send(const struct db_settings *tasks_db)
{
	struct sockaddr_un sa;
	socklen_t len = wake_address(tasks_db, &sa);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return;
	int saved = errno;
	(void)sendto(fd, "t", 1, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&sa, len);
	errno = saved;   /* nobody listening (ECONNREFUSED) is the common case, not an error */
	close(fd);
}
