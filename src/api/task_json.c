/* Row rendering and WHERE building for the list endpoints (see task_json.h). */
#include "api/task_json.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/redact.h"
#include "common/timefmt.h"
#include "scheduler/task_host.h"
#include <json-c/printbuf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_object *str_or_null(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

json_object *int_or_null(const char *s)
{
	return s ? json_object_new_int64(strtoll(s, NULL, 10)) : NULL;
}

char **find_visible_row(struct request *req, const char *columns, const char *table, const char *id_column,
			int not_found, const char *not_found_detail)
{
	const char *acc = req_account(req);
	const char *sql = arena_printf(req->arena, "SELECT %s FROM %s WHERE %s = ? AND (? IS NULL OR account_id = ?)",
				       columns, table, id_column);
	struct db_result r;
	if (db_exec(req->api->db, req->arena, sql,
		    (const struct db_param[]){DBP_I64(req->path_id), DBP_STR(acc), DBP_STR(acc)}, 3, &r)) {
		reply_db_error(req);
		return NULL;
	}
	if (r.nrows == 0) {
		reply_error_format(req, not_found, not_found_detail, req->path_id);
		return NULL;
	}
	return r.rows[0];
}

static int is_secret_key(const char *k)
{
	static const char *const names[] = {"password", "secret_key", "secret_access_key", "token", NULL};
	for (size_t i = 0; names[i]; i++)
		if (strcmp(k, names[i]) == 0)
			return 1;
	return 0;
}

/* A string holding a URL with a password or a signature: the URL redacted. */
static void mask_url_secrets(json_object *o, const char *key, const char *text)
{
	char *clean = url_redact_dup(text);
	json_object_object_add(o, key, json_object_new_string(clean ? clean : "********"));
	free(clean);
}

void json_mask_secrets(json_object *o)
{
	if (json_object_is_type(o, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(o); i++) {
			json_object *v = json_object_array_get_idx(o, i);
			if (json_object_is_type(v, json_type_string) && url_has_secret(json_object_get_string(v))) {
				char *clean = url_redact_dup(json_object_get_string(v));
				json_object_array_put_idx(o, i, json_object_new_string(clean ? clean : "********"));
				free(clean);
			} else {
				json_mask_secrets(v);
			}
		}
		return;
	}
	if (!json_object_is_type(o, json_type_object))
		return;
	json_object_object_foreach(o, key, val) {
		if (is_secret_key(key) && val && !json_object_is_type(val, json_type_object))
			json_object_object_add(o, key, json_object_new_string("********"));
		else if (json_object_is_type(val, json_type_string) && url_has_secret(json_object_get_string(val)))
			mask_url_secrets(o, key, json_object_get_string(val));
		else
			json_mask_secrets(val);
	}
}

/* Whether stored content text may differ from what the API answers for it:
 * it may hold something json_mask_secrets changes (a key it masks, which
 * json-c writes as its plain characters in quotes, or a URL), or an escaped
 * slash (subtask contents are stored without JSON_C_TO_STRING_NOSLASHESCAPE,
 * which reply_json uses). */
static int content_needs_rendering(const char *text)
{
	static const char *const marks[] = {"\"password\"", "\"secret_key\"", "\"secret_access_key\"", "\"token\"",
					    "://", "\\/", NULL};
	for (size_t i = 0; marks[i]; i++)
		if (strstr(text, marks[i]))
			return 1;
	return 0;
}

/* Writes a content node as the stored text it came from. */
static int stored_text_to_json(json_object *o, struct printbuf *pb, int level, int flags)
{
	const char *text = json_object_get_userdata(o);
	(void)level;
	(void)flags;
	return printbuf_memappend(pb, text, (int)strlen(text));
}

/* node, written as the stored text it came from. */
static json_object *as_stored_text(json_object *node, const char *text)
{
	char *copy = strdup(text);
	if (copy)
		json_object_set_serializer(node, stored_text_to_json, copy, json_object_free_userdata);
	return node;
}

/* The stored content (an object; {} when missing or not JSON) with secrets
 * masked. Content that holds nothing to mask or escape is answered as the
 * very text stored (json-c wrote it, so these are the bytes a parse and a
 * new rendering by reply_json would give): a large content (a
 * roc markup of 20,000 items) is not parsed into a tree at every poll. Only
 * the response self-check, which validates the tree, still parses it. */
static json_object *content_json(struct request *req, const char *text)
{
	int verbatim = text && text[0] == '{' && !content_needs_rendering(text);
	if (verbatim && !req->api->cfg.response_self_check)
		return as_stored_text(json_object_new_object(), text);
	json_object *c = text ? json_tokener_parse(text) : NULL;
	if (!c)
		return json_object_new_object();
	if (verbatim)
		return as_stored_text(c, text);
	json_mask_secrets(c);
	return c;
}

json_object *task_json(struct request *req, char **row)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "task_id", int_or_null(row[0]));
	json_object_object_add(o, "task_type", int_or_null(row[1]));
	json_object_object_add(o, "task_status", int_or_null(row[2]));
	json_object_object_add(o, "account_id", str_or_null(row[3]));
	/* task_description is a string; rows from before migration 006 may hold NULL. */
	json_object_object_add(o, "description", json_object_new_string(row[4] ? row[4] : ""));
	json_object_object_add(o, "content", content_json(req, row[5]));
	json_object_object_add(o, "create_time", json_time_from_db(req, row[6]));
	json_object_object_add(o, "last_update_time", json_time_from_db(req, row[7]));
	json_object_object_add(o, "end_time", json_time_from_db(req, row[8]));
	json_object_object_add(o, "result_id", str_or_null(row[9]));
	json_object_object_add(o, "count_task_parts_done", int_or_null(row[10]));
	json_object_object_add(o, "count_task_parts_all", int_or_null(row[11]));
	if (row[12])
		json_object_object_add(o, "schedule_id", int_or_null(row[12]));
	return o;
}

json_object *subtask_json(struct request *req, char **row)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "subtask_id", int_or_null(row[0]));
	json_object_object_add(o, "task_id", int_or_null(row[1]));
	json_object_object_add(o, "result_id", str_or_null(row[2]));
	json_object_object_add(o, "create_time", json_time_from_db(req, row[3]));
	json_object_object_add(o, "end_time", json_time_from_db(req, row[4]));
	json_object_object_add(o, "subtask_status", int_or_null(row[5]));
	json_object_object_add(o, "content", content_json(req, row[6]));
	return o;
}

json_object *error_json(struct request *req, char **row)
{
	return task_error_json(&req->api->cfg, row);
}

void where_init(struct sql_build *w, struct arena *a)
{
	sql_build_init(w, a, "1=1");
}

void where_add(struct sql_build *w, const char *cond, const struct db_param *p, size_t np)
{
	sql_build_text(w, " AND ");
	sql_build_text(w, cond);
	sql_build_params(w, p, np);
}

void where_time(struct sql_build *w, struct request *req, const char *name, const char *column, const char *op)
{
	const char *v = req_param_str(req, name);
	int64_t us;
	if (!v || time_parse_rfc3339(v, &us))
		return;
	char *db = arena_alloc(req->arena, 32);
	time_format_db(us, db, 32);
	char cond[128];
	snprintf(cond, sizeof(cond), "%s %s ?", column, op);
	struct db_param p = DBP_STR(db);
	where_add(w, cond, &p, 1);
}

/* Parses "1,2,3" (positive ids, no empty item) into ids[max]; the count, or
 * -1 when malformed or longer than max. */
static long parse_id_list(const char *s, struct db_param *ids, size_t max)
{
	size_t n = 0;
	while (*s) {
		char *end;
		long long id = strtoll(s, &end, 10);
		if (end == s || id < 1 || (*end && *end != ',') || n == max)
			return -1;
		ids[n++] = DBP_I64(id);
		s = *end ? end + 1 : end;
		if (*end == ',' && !*s)
			return -1;
	}
	return n ? (long)n : -1;
}

int where_id_list(struct sql_build *w, struct request *req, const char *name, const char *column)
{
	const char *v = req_param_str(req, name);
	if (!v)
		return 0;
	size_t max = (size_t)req->api->cfg.limits.max_query_ids;
	struct db_param *ids = arena_alloc(req->arena, max * sizeof(*ids));
	long n = parse_id_list(v, ids, max);
	if (n < 0) {
		log_info("query parameter %s: not a list of at most %zu ids ([LIMITS] MAX_QUERY_IDS)", name, max);
		reply_errorf(req, E_BAD_QUERY, name);
		return -1;
	}
	char *cond = arena_alloc(req->arena, strlen(column) + 8 + 3 * (size_t)n);
	char *p = cond + sprintf(cond, "%s IN (?", column);
	for (long i = 1; i < n; i++)
		p += sprintf(p, ", ?");
	strcpy(p, ")");
	where_add(w, cond, ids, (size_t)n);
	return 0;
}

void where_int(struct sql_build *w, struct request *req, const char *name, const char *column)
{
	json_object *v = req_param(req, name);
	if (!v)
		return;
	char cond[128];
	snprintf(cond, sizeof(cond), "%s = ?", column);
	struct db_param p = DBP_I64(json_object_get_int64(v));
	where_add(w, cond, &p, 1);
}

void where_str(struct sql_build *w, struct request *req, const char *name, const char *column)
{
	const char *v = req_param_str(req, name);
	if (!v)
		return;
	char cond[128];
	snprintf(cond, sizeof(cond), "%s = ?", column);
	struct db_param p = DBP_STR(v);
	where_add(w, cond, &p, 1);
}

void where_page(struct sql_build *w, struct request *req)
{
	json_object *page = req_param(req, "page"), *size = req_param(req, "page_size");
	long long pg = page ? json_object_get_int64(page) : 1, ps = size ? json_object_get_int64(size) : 10;
	if (pg < 1)
		pg = 1;
	if (pg > 1000000000LL)
		pg = 1000000000LL;
	struct db_param limit[] = {DBP_I64(ps), DBP_I64((pg - 1) * ps)};
	sql_build_params(w, limit, 2);
}
