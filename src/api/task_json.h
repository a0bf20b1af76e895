/* Task, subtask and error rows → the spec's JSON replies, and the
 * filter-to-SQL helpers the list endpoints share. */
#ifndef LUNA_API_TASK_JSON_H
#define LUNA_API_TASK_JSON_H
#include "api/http.h"
#include "common/sql_build.h"
#include "scheduler/task_host.h"

/* Columns task_json() expects, in order. */
#define TASK_COLUMNS "task_id, task_type, task_status, account_id, description, content, create_time, " \
	"last_update_time, end_time, result_id, count_task_parts_done, count_task_parts_all, schedule_id"
/* schedule_id (extension) is in the reply only for a task a schedule created,
 * so the reply of any other task is the one v.3.8.8 gives. */
json_object *task_json(struct request *req, char **row);

#define SUBTASK_COLUMNS "subtask_id, task_id, result_id, create_time, end_time, subtask_status, content"
json_object *subtask_json(struct request *req, char **row);

#define ERROR_COLUMNS TASK_ERROR_COLUMNS
/* task_error_json (scheduler/task_host.h): the one rendering of an error row. */
json_object *error_json(struct request *req, char **row);

/* A string or integer cell of a row as JSON; NULL (JSON null) for SQL NULL. */
json_object *str_or_null(const char *s);
json_object *int_or_null(const char *s);

/* The row (columns) of table whose id_column is the path's {id}, visible to
 * the request's account (account_id query parameter; none: any), or NULL,
 * answered: the error not_found (an E_ code whose detail template takes the
 * id as %lld), or 500 on a DB failure. columns, table and id_column are SQL
 * text of the caller, never a client's. */
char **find_visible_row(struct request *req, const char *columns, const char *table, const char *id_column,
			int not_found, const char *not_found_detail);
#define find_visible(req, columns, table, id_column, code) \
	find_visible_row((req), (columns), (table), (id_column), (code), code##_DETAIL)

/* Replaces secrets (passwords, secret keys) anywhere in o by "********", and
 * redacts URLs that carry credentials (common/redact.h) in any string. */
void json_mask_secrets(json_object *o);

/* A WHERE clause of query filters under construction (common/sql_build.h),
 * in the request's arena: "1=1" then " AND <cond>" per filter given. */
void where_init(struct sql_build *w, struct arena *a);
/* Appends " AND <cond>" (cond has one '?' per given param). */
void where_add(struct sql_build *w, const char *cond, const struct db_param *p, size_t np);
/* Adds the time bound of query parameter name (RFC 3339) on column with op. */
void where_time(struct sql_build *w, struct request *req, const char *name, const char *column, const char *op);
/* Adds "column IN (?, …)" for a comma-separated id list; -1 (answered 12012
 * naming the parameter) when malformed or longer than [LIMITS] MAX_QUERY_IDS. */
int where_id_list(struct sql_build *w, struct request *req, const char *name, const char *column);
/* Adds "column = ?" for an integer parameter, if given. */
void where_int(struct sql_build *w, struct request *req, const char *name, const char *column);
/* Adds "column = ?" for a string parameter, if given. */
void where_str(struct sql_build *w, struct request *req, const char *name, const char *column);
/* Appends the two parameters of " LIMIT ? OFFSET ?" from page and page_size. */
void where_page(struct sql_build *w, struct request *req);
#endif
