/* Additional extraction on the local objects database (see
 * objects_extract.h). Filters are translated by objects_where_build(), so
 * the ae filters behave exactly as the other tasks' filters; every value is
 * a bound parameter. */
#include "backends/objects_local.h"
#include "backends/objects_where.h"
#include "common/sql_build.h"
#include "common/uuid.h"
#include <string.h>

static const char *id_column(enum objects_kind kind)
{
	return kind == OBJ_FACES ? "face_id" : "event_id";
}

static const char *table_of(enum objects_kind kind)
{
	return kind == OBJ_FACES ? "face" : "event";
}

/* The filters without objects_type (which only picks the kind). */
static json_object *filters_without_type(json_object *ae)
{
	json_object *copy = json_object_new_object();
	if (!ae || !json_object_is_type(ae, json_type_object))
		return copy;
	json_object_object_foreach(ae, key, val)
	{
		if (strcmp(key, "objects_type") != 0)
			json_object_object_add(copy, key, json_object_get(val));
	}
	return copy;
}

/* The "lacks the target" condition on alias o; its parameters go to q. */
static const char *missing_condition(enum objects_kind kind, enum extract_target target, int version,
				     int default_version, struct sql_build *q)
{
	if (target == EXTRACT_BASIC_ATTRIBUTES) {
		sql_build_param(q, DBP_I64(DESCRIPTOR_FACE));
		sql_build_param(q, DBP_I64(default_version));
		if (kind == OBJ_EVENTS)
			return " AND EXISTS (SELECT 1 FROM descriptor d WHERE d.owner_id = o.event_id AND "
			       "d.descriptor_type = ? AND d.descriptor_version = ?) "
			       "AND o.age IS NULL AND o.gender IS NULL AND o.ethnic_group IS NULL";
		return " AND EXISTS (SELECT 1 FROM descriptor d WHERE d.owner_id = o.face_id AND "
		       "d.descriptor_type = ? AND d.descriptor_version = ?) "
		       "AND NOT EXISTS (SELECT 1 FROM attribute t WHERE (t.attribute_id = o.attribute_id OR "
		       "t.face_id = o.face_id) AND (t.age IS NOT NULL OR t.gender IS NOT NULL OR t.ethnicity IS NOT NULL))";
	}
	int type = target == EXTRACT_BODY_DESCRIPTOR ? DESCRIPTOR_BODY : DESCRIPTOR_FACE;
	sql_build_param(q, DBP_I64(type));
	sql_build_param(q, DBP_I64(default_version));
	sql_build_param(q, DBP_I64(type));
	sql_build_param(q, DBP_I64(version));
	if (kind == OBJ_EVENTS)
		return " AND EXISTS (SELECT 1 FROM descriptor d WHERE d.owner_id = o.event_id AND d.descriptor_type = ? "
		       "AND d.descriptor_version = ?) AND NOT EXISTS (SELECT 1 FROM descriptor d2 WHERE "
		       "d2.owner_id = o.event_id AND d2.descriptor_type = ? AND d2.descriptor_version = ?)";
	return " AND EXISTS (SELECT 1 FROM descriptor d WHERE d.owner_id = o.face_id AND d.descriptor_type = ? "
	       "AND d.descriptor_version = ?) AND NOT EXISTS (SELECT 1 FROM descriptor d2 WHERE "
	       "d2.owner_id = o.face_id AND d2.descriptor_type = ? AND d2.descriptor_version = ?)";
}

int objects_local_extract_page_missing(struct objects *o, struct arena *a, enum objects_kind kind,
				       json_object *ae_filters, const char *account_id, enum extract_target target,
				       int version, int default_version, const char *after, size_t limit, char ***ids,
				       size_t *n)
{
	struct objects_where w;
	struct sql_build q;
	struct db_result r;
	char err[256];
	json_object *filters = NULL;
	int rc = -1;

	*ids = NULL;
	*n = 0;
	if (kind != OBJ_FACES && kind != OBJ_EVENTS)
		return objects_local_fail(o, 1, "additional extraction works on faces or events only");
	filters = filters_without_type(ae_filters);
	if (objects_where_build(a, kind, filters, account_id, &w, err, sizeof(err))) {
		objects_local_fail(o, 1, "%s", err);
		goto out;
	}
	sql_build_init(&q, a, "");
	sql_build_params(&q, w.params, w.nparams);
	const char *missing = missing_condition(kind, target, version, default_version, &q);
	const char *col = id_column(kind);
	if (after)
		sql_build_param(&q, DBP_STR(after));
	sql_build_param(&q, DBP_I64(limit ? (long long)limit : (long long)1 << 40));
	/* The (NOT) EXISTS of the target per row: materialized, every page read
	 * every descriptor of the database. */
	char *sql = arena_printf(a, OBJECTS_ROW_EXISTS "SELECT o.%s FROM %s o WHERE (%s)%s%s ORDER BY o.%s LIMIT ?", col,
				 table_of(kind), w.sql, missing, after ? arena_printf(a, " AND o.%s > ?", col) : "", col);
	if (db_exec(local_db(o), a, sql, q.p, q.np, &r)) {
		objects_local_fail(o, 0, "objects database: objects lacking the extraction target: %s",
				   db_error(local_db(o)));
		goto out;
	}
	*ids = arena_alloc(a, (r.nrows ? r.nrows : 1) * sizeof(char *));
	for (size_t i = 0; i < r.nrows; i++)
		(*ids)[i] = r.rows[i][0];
	*n = r.nrows;
	rc = 0;
out:
	json_object_put(filters);
	return rc;
}

int objects_local_extract_samples(struct objects *o, struct arena *a, enum objects_kind kind, const char *id,
				  enum extract_target target, char ***sample_ids, size_t *n)
{
	struct db_result r;
	int type = target == EXTRACT_BODY_DESCRIPTOR ? DESCRIPTOR_BODY : DESCRIPTOR_FACE;
	int rc;
	*sample_ids = NULL;
	*n = 0;
	if (kind == OBJ_FACES) {
		rc = DB_EXEC(local_db(o), a, &r,
			     "SELECT sample_id FROM sample WHERE sample_type = ? AND (owner_id = ? OR owner_id = "
			     "(SELECT attribute_id FROM face WHERE face_id = ?)) ORDER BY sample_id",
			     DBP_I64(type), DBP_STR(id), DBP_STR(id));
	} else {
		rc = DB_EXEC(local_db(o), a, &r,
			     "SELECT sample_id FROM sample WHERE owner_id = ? AND sample_type = ? ORDER BY sample_id",
			     DBP_STR(id), DBP_I64(type));
	}
	if (rc)
		return objects_local_fail(o, 0, "objects database: samples of %s: %s", id, db_error(local_db(o)));
	*sample_ids = arena_alloc(a, (r.nrows ? r.nrows : 1) * sizeof(char *));
	for (size_t i = 0; i < r.nrows; i++)
		(*sample_ids)[i] = r.rows[i][0];
	*n = r.nrows;
	return 0;
}

int objects_local_extract_account(struct objects *o, struct arena *a, enum objects_kind kind, const char *id,
				  char **account)
{
	struct db_result r;
	*account = NULL;
	const char *sql = kind == OBJ_FACES ? "SELECT account_id FROM face WHERE face_id = ?"
					    : "SELECT account_id FROM event WHERE event_id = ?";
	if (DB_EXEC(local_db(o), a, &r, sql, DBP_STR(id)))
		return objects_local_fail(o, 0, "objects database: account of %s: %s", id, db_error(local_db(o)));
	if (r.nrows)
		*account = r.rows[0][0];
	return 0;
}

static struct db_param attr_param(int v)
{
	return v < 0 ? DBP_NULL : DBP_I64(v);
}

/* A face's attributes: on its attribute row, made and linked when missing. */
static int put_face_attributes(struct objects *o, const char *face_id, const char *account_id, int age, int gender,
			       int ethnicity)
{
	struct db *db = local_db(o);
	struct arena *a = arena_new();
	struct db_result r;
	char new_id[37];
	int rc = -1;
	if (db_begin(db))
		goto fail;
	if (DB_EXEC(db, a, &r,
		    "SELECT attribute_id FROM face WHERE face_id = ? AND account_id = ? FOR UPDATE",
		    DBP_STR(face_id), DBP_STR(account_id)))
		goto fail;
	if (r.nrows == 0) {
		db_rollback(db);
		rc = objects_local_fail(o, 1, "face %s no longer exists", face_id);
		goto out;
	}
	const char *attribute_id = r.rows[0][0];
	struct db_result u = {0};
	if (attribute_id) {
		if (DB_EXEC(db, NULL, &u,
			    "UPDATE attribute SET age = ?, gender = ?, ethnicity = ? WHERE attribute_id = ?",
			    attr_param(age), attr_param(gender), attr_param(ethnicity), DBP_STR(attribute_id)))
			goto fail;
	}
	if (!attribute_id || u.affected == 0) {
		if (!attribute_id) {
			uuid4(new_id);
			attribute_id = new_id;
		}
		if (DB_EXEC(db, NULL, NULL,
			    "INSERT INTO attribute (attribute_id, account_id, face_id, create_time, age, gender, ethnicity) "
			    "VALUES (?, ?, ?, UTC_TIMESTAMP(6), ?, ?, ?) ON DUPLICATE KEY UPDATE age = VALUES(age), "
			    "gender = VALUES(gender), ethnicity = VALUES(ethnicity)",
			    DBP_STR(attribute_id), DBP_STR(account_id), DBP_STR(face_id), attr_param(age),
			    attr_param(gender), attr_param(ethnicity)) ||
		    DB_EXEC(db, NULL, NULL,
			    "UPDATE face SET attribute_id = ? WHERE face_id = ?",
			    DBP_STR(attribute_id), DBP_STR(face_id)))
			goto fail;
	}
	if (db_commit(db))
		goto fail;
	rc = 0;
	goto out;
fail:
	rc = objects_local_fail(o, 0, "objects database: basic attributes of face %s: %s", face_id, db_error(db));
	db_rollback(db);
out:
	arena_free(a);
	return rc;
}

int objects_local_extract_put_attributes(struct objects *o, enum objects_kind kind, const char *id,
					 const char *account_id, int age, int gender, int ethnicity)
{
	if (kind == OBJ_FACES)
		return put_face_attributes(o, id, account_id, age, gender, ethnicity);
	if (DB_EXEC(local_db(o), NULL, NULL,
		    "UPDATE event SET age = ?, gender = ?, ethnic_group = ? WHERE event_id = ? AND account_id = ?",
		    attr_param(age), attr_param(gender), attr_param(ethnicity), DBP_STR(id), DBP_STR(account_id)))
		return objects_local_fail(o, 0, "objects database: basic attributes of event %s: %s", id,
					  db_error(local_db(o)));
	return 0;
}
