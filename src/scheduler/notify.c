/* systemd service notification (Type=notify): readiness, watchdog pings,
 * stopping and a status line. Without libsystemd, or when not started by
 * systemd (no $NOTIFY_SOCKET), every call does nothing. */
#include "config.h"
#include "scheduler/sched.h"
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

static void send_state(const char *state)
{
#ifdef HAVE_SYSTEMD
	sd_notify(0, state);
#else
	(void)state;
#endif
}

void notify_ready(void)
{
	send_state("READY=1");
}

void notify_stopping(void)
{
	send_state("STOPPING=1");
}

void notify_watchdog(void)
{
	send_state("WATCHDOG=1");
}

void notify_status(const char *fmt, ...)
{
	char line[256] = "STATUS=";
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line + 7, sizeof(line) - 7, fmt, ap);
	va_end(ap);
	send_state(line);
}

unsigned long long notify_watchdog_usec(void)
{
#ifdef HAVE_SYSTEMD
	uint64_t usec = 0;
	if (sd_watchdog_enabled(0, &usec) > 0)
		return usec;
#endif
	return 0;
}
