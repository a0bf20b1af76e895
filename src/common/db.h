/* MariaDB access with parameters only: every value travels as a bound
 * parameter of a prepared statement, never inside the SQL text.
 * A struct db is one connection (not thread-safe: one per process or thread).
 * It connects lazily, reconnects after the server went away, and caches
 * prepared statements by their SQL text. */
#ifndef LUNA_DB_H
#define LUNA_DB_H
#include <stddef.h>
#include <string.h>
#include "common/arena.h"
#include "common/config.h"

enum db_ptype { DB_T_NULL, DB_T_I64, DB_T_DOUBLE, DB_T_STR, DB_T_BYTES };

struct db_param {
	enum db_ptype type;
	long long i;
	double d;
	const char *s;
	size_t len;
};

#define DBP_NULL ((struct db_param){.type = DB_T_NULL})
#define DBP_I64(v) ((struct db_param){.type = DB_T_I64, .i = (long long)(v)})
#define DBP_DBL(v) ((struct db_param){.type = DB_T_DOUBLE, .d = (v)})
#define DBP_STR(v) ((struct db_param){.type = (v) ? DB_T_STR : DB_T_NULL, .s = (v), .len = (v) ? strlen(v) : 0})
#define DBP_BLOB(p, n) ((struct db_param){.type = DB_T_STR, .s = (const char *)(p), .len = (n)})
/* Raw bytes for a BLOB column: sent as binary, never converted by the server's
 * character set code (a 2 KB descriptor costs the server a scan otherwise). */
#define DBP_BYTES(p, n) ((struct db_param){.type = DB_T_BYTES, .s = (const char *)(p), .len = (n)})

/* Rows as text (binary-safe: lens give the lengths; NULL cells are NULL). */
struct db_result {
	size_t nrows, ncols;
	char ***rows;
	unsigned long **lens;
	unsigned long long affected;
	unsigned long long insert_id;
};

/* The most parameters one prepared statement may have (the MariaDB protocol's
 * limit); a statement with more fails cleanly instead of being sent. */
#define DB_MAX_PARAMS 65535

struct db;
struct db *db_open(const struct db_settings *s);
void db_close(struct db *db);                       /* NULL ok */
/* Execute sql with params; rows (if any) are copied into arena a. out may be NULL. 0 ok, -1 error. */
int db_exec(struct db *db, struct arena *a, const char *sql, const struct db_param *p, size_t np,
	    struct db_result *out);
/* DB_EXEC(db, arena, out, sql, params...): db_exec with the parameters
 * written after the SQL and counted by the compiler, as the sizeof of the
 * compound-literal array they form, so the count cannot drift from the list
 * (the statement's '?' are still counted by the server). The leading
 * DBP_NULL only makes an empty list valid C; it is neither counted nor sent.
 * A list built at run time goes to db_exec with its length. */
#define DB_PARAM_LIST_(...) ((const struct db_param[]){DBP_NULL, __VA_ARGS__})
#define DB_EXEC(db, a, out, sql, ...) \
	db_exec((db), (a), (sql), DB_PARAM_LIST_(__VA_ARGS__) + 1, \
		sizeof(DB_PARAM_LIST_(__VA_ARGS__)) / sizeof(struct db_param) - 1, (out))
/* Stream rows without buffering the result: cb gets each row (cells valid during the call only).
 * cb returns nonzero to stop; it must not run statements on the same db (they fail). */
typedef int (*db_row_cb)(void *ud, size_t ncols, char **cells, unsigned long *lens);
int db_stream(struct db *db, const char *sql, const struct db_param *p, size_t np, db_row_cb cb, void *ud);
int db_begin(struct db *db);
int db_commit(struct db *db);
int db_rollback(struct db *db);
/* Ping (reconnecting if needed): 0 when the server answers. */
int db_ping(struct db *db);
unsigned db_errno(const struct db *db);
const char *db_error(const struct db *db);
/* True when the last error was a connection failure (not a bad statement). */
int db_error_is_connection(const struct db *db);
/* True for a deadlock or lock wait timeout (the caller may retry the transaction). */
int db_error_is_retryable(const struct db *db);
/* Run a whole SQL script (migrations): statements separated by ';' at line ends. */
int db_exec_script(struct db *db, const char *script);
/* The database name this connection selects. */
const char *db_name(const struct db *db);
#endif
