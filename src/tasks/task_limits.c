/* Bounds of the lists and numbers a client sizes in a task body ([LIMITS]).
 * One walk over the body checks every list against the table below: the
 * first row whose task type and path match gives the limit, and any other
 * list has [LIMITS] MAX_LIST_ITEMS (filter id lists, tags, columns, key
 * FPRs, ...). The spec's own maxItems still applies where it is lower: the
 * schema check runs after this one.
 * Workload: one walk per created task, before the schema check, so that a
 * body of 200 000 ids is refused without validating each of them. */
#include "tasks/task_limits.h"
#include "common/json_path.h"
#include "common/errors.h"
#include <stddef.h>
#include <stdio.h>
#include <string.h>

enum limit_kind {
	LIM_ITEMS,      /* a list: at most this many items */
	LIM_MAXIMUM,    /* a number: at most this value */
};

struct body_limit {
	const char *type;          /* task type name; NULL: every type */
	const char *path;          /* dot-joined JSON path; NULL: any list */
	enum limit_kind kind;
	size_t field;              /* int field of struct luna_limits */
	const char *key;           /* its [LIMITS] key, named in the error */
};

#define LIMIT(f) offsetof(struct luna_limits, f)

static const struct body_limit body_limits[] = {
	{"roc", "content.markup", LIM_ITEMS, LIMIT(max_roc_markup), "MAX_ROC_MARKUP"},
	{"roc", "content.limit", LIM_MAXIMUM, LIMIT(max_match_limit), "MAX_MATCH_LIMIT"},
	{"cross_match", "content.limit", LIM_MAXIMUM, LIMIT(max_match_limit), "MAX_MATCH_LIMIT"},
	{NULL, NULL, LIM_ITEMS, LIMIT(max_list_items), "MAX_LIST_ITEMS"},
};

struct walk {
	const struct luna_limits *limits;
	const char *type;
	struct task_fail *fail;
	struct json_path path;
};

static const struct body_limit *find_limit(const struct walk *w, enum limit_kind kind)
{
	for (size_t i = 0; i < sizeof(body_limits) / sizeof(body_limits[0]); i++) {
		const struct body_limit *l = &body_limits[i];
		if (l->kind == kind && (!l->type || strcmp(l->type, w->type) == 0) &&
		    (!l->path || json_path_is(&w->path, l->path)))
			return l;
	}
	return NULL;
}

static int limit_value(const struct walk *w, const struct body_limit *l)
{
	return *(const int *)((const char *)w->limits + l->field);
}

static int refuse(struct walk *w, const char *what, long long limit, const char *key)
{
	char path[512];
	task_fail(w->fail, E_BAD_JSON,
		  "Failed to validate input json. Path: '%s', message: '%s, more than the limit of %lld ([LIMITS] %s)'",
		  json_path_text(&w->path, path, sizeof(path)), what, limit, key);
	return -1;
}

static int check_number(struct walk *w, json_object *v)
{
	const struct body_limit *l = find_limit(w, LIM_MAXIMUM);
	if (!l)
		return 0;
	double x = json_object_get_double(v);
	if (x <= limit_value(w, l))
		return 0;
	char what[64];
	snprintf(what, sizeof(what), "%.15g is too large", x);
	return refuse(w, what, limit_value(w, l), l->key);
}

static int walk_value(struct walk *w, json_object *v);

/* Walks a child of the current path (pushed by the caller), then pops it. */
static int walk_child(struct walk *w, int push_rc, json_object *v)
{
	if (push_rc)
		return 0;   /* deeper than any parser allows */
	int rc = walk_value(w, v);
	json_path_pop(&w->path);
	return rc;
}

static int walk_value(struct walk *w, json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_int:
	case json_type_double:
		return check_number(w, v);
	case json_type_object: {
		json_object_object_foreach(v, key, val) {
			if (walk_child(w, json_path_push_key(&w->path, key), val))
				return -1;
		}
		return 0;
	}
	case json_type_array: {
		size_t n = json_object_array_length(v);
		const struct body_limit *l = find_limit(w, LIM_ITEMS);
		if (n > (size_t)limit_value(w, l)) {
			char what[64];
			snprintf(what, sizeof(what), "%zu items", n);
			return refuse(w, what, limit_value(w, l), l->key);
		}
		for (size_t i = 0; i < n; i++)
			if (walk_child(w, json_path_push_index(&w->path, i), json_object_array_get_idx(v, i)))
				return -1;
		return 0;
	}
	default:
		return 0;
	}
}

int task_limits_check(const struct luna_config *cfg, const char *type, json_object *value, const char *path,
		      struct task_fail *fail)
{
	struct walk w = {.limits = &cfg->limits, .type = type, .fail = fail};
	json_path_init(&w.path, path);
	return walk_value(&w, value);
}
