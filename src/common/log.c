/* Line-oriented logger. Each line is written with one write(2) so lines of
 * concurrent processes and threads do not interleave. */
#include "common/log.h"
#include "common/fmt.h"
#include "common/redact.h"
#include "common/timefmt.h"
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static enum log_level min_level = LOG_INFO;
static char component[32] = "luna-tasks";
static _Thread_local char request_id[80];
static const char *level_names[] = {"DEBUG", "INFO", "WARNING", "ERROR"};
/* getpid() is a system call: the pid is kept, and forgotten in a forked child. */
static atomic_int cached_pid;
static pthread_once_t pid_once = PTHREAD_ONCE_INIT;

static void forget_pid(void)
{
	atomic_store_explicit(&cached_pid, 0, memory_order_relaxed);
}

static void watch_forks(void)
{
	pthread_atfork(NULL, NULL, forget_pid);
}

static int current_pid(void)
{
	pthread_once(&pid_once, watch_forks);
	int pid = atomic_load_explicit(&cached_pid, memory_order_relaxed);
	if (!pid) {
		pid = (int)getpid();
		atomic_store_explicit(&cached_pid, pid, memory_order_relaxed);
	}
	return pid;
}

/* Appends the NUL-terminated s (bounded by the caller's layout). */
static char *put_str(char *p, const char *s)
{
	size_t n = strlen(s);
	memcpy(p, s, n);
	return p + n;
}

void log_init(const char *name)
{
	snprintf(component, sizeof(component), "%s", name);
}

void log_set_level(enum log_level level)
{
	min_level = level;
}

int log_set_level_name(const char *name)
{
	for (int i = 0; i < 4; i++)
		if (strcasecmp(name, level_names[i]) == 0) {
			min_level = (enum log_level)i;
			return 0;
		}
	return -1;
}

int log_enabled(enum log_level level)
{
	return level >= min_level;
}

void log_set_request_id(const char *rid)
{
	size_t n = rid ? strnlen(rid, sizeof(request_id) - 1) : 0;
	memcpy(request_id, rid ? rid : "", n);
	request_id[n] = '\0';
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	if (level < min_level)
		return;
	/* The prefix "<time>Z <component>[<pid>] <LEVEL>[ [<request id>]]: "
	 * takes at most ~160 bytes: component and request id are bounded. */
	char line[2048];
	char *p = time_put_utc(line, time_now_us(), 'T');
	p = put_str(p, "Z ");
	p = put_str(p, component);
	*p++ = '[';
	p = fmt_dec(p, current_pid(), 1);
	p = put_str(p, "] ");
	p = put_str(p, level_names[level]);
	if (request_id[0]) {
		p = put_str(p, " [");
		p = put_str(p, request_id);
		*p++ = ']';
	}
	p = put_str(p, ": ");
	int n = (int)(p - line);
	va_list ap;
	va_start(ap, fmt);
	/* No URL credentials in any log line. */
	url_redact_vsnprintf(line + n, sizeof(line) - 1 - (size_t)n, fmt, ap);
	va_end(ap);
	n = (int)strlen(line);
	line[n++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, (size_t)n);
	(void)w;
}
