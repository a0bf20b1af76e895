/* Line-oriented logger. Each line is written with one write(2) so lines of
 * concurrent processes and threads do not interleave. */
#include "common/log.h"
#include "common/redact.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static enum log_level min_level = LOG_INFO;
static char component[32] = "luna-tasks";
static _Thread_local char request_id[80];
static const char *level_names[] = {"DEBUG", "INFO", "WARNING", "ERROR"};

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
	snprintf(request_id, sizeof(request_id), "%s", rid ? rid : "");
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	if (level < min_level)
		return;
	char line[2048];
	struct timeval tv;
	struct tm tm;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ %s[%d] %s%s%s%s: ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
			 (long)tv.tv_usec, component, (int)getpid(), level_names[level],
			 request_id[0] ? " [" : "", request_id, request_id[0] ? "]" : "");
	if (n < 0 || (size_t)n >= sizeof(line) - 2)
		return;
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
