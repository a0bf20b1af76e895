/* Logging to stderr (journald picks it up): one line per event, with the
 * level, the process component and the current request id. */
#ifndef LUNA_LOG_H
#define LUNA_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARNING, LOG_ERROR };

void log_init(const char *component);
int log_set_level_name(const char *name);           /* 0 ok, -1 unknown name */
void log_set_level(enum log_level level);
int log_enabled(enum log_level level);
/* Request id attached to every line of this thread until cleared (NULL). */
void log_set_request_id(const char *rid);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) do { if (log_enabled(LOG_DEBUG)) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#endif
