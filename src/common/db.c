/* MariaDB Connector/C wrapper: prepared statements with bound parameters,
 * text results, a small statement cache and reconnection after outages.
 * Workload: short OLTP statements (task rows) and a few long streams. */
#include "common/db.h"
#include "common/fmt.h"
#include "common/log.h"
#include <mysql.h>
#include <errmsg.h>
#include <mysqld_error.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#define STMT_CACHE 64

struct cached_stmt {
	char *sql_copy;       /* the statement text, the cache key */
	MYSQL_STMT *stmt;
};

/* The column buffers of a result, on the heap: a statement may have any
 * number of columns, and a thread's stack is small. A connection keeps one
 * set between statements (most statements need no allocation at all) and
 * grows it as needed. */
struct row_bufs {
	MYSQL_BIND *rb;
	unsigned long *lens;
	my_bool *nulls;
	char **cells, **bufs;
	size_t *caps;
	MYSQL_TIME *times;  /* DATETIME and TIMESTAMP columns are fetched as MYSQL_TIME */
	signed char *time_decimals;   /* their fraction digits; -1 for other columns */
	size_t ncols;       /* columns of the current result */
	size_t room;        /* columns the arrays hold */
};

/* A column buffer above this size is freed after its statement rather than
 * kept for the next one. */
#define KEEP_COLUMN_BYTES 65536
/* Parameters bound from the connection's own array; more are bound from the heap. */
#define KEPT_PARAMS 16

static void row_bufs_free(struct row_bufs *r)
{
	for (size_t c = 0; r->bufs && c < r->room; c++)
		free(r->bufs[c]);
	free(r->rb);
	free(r->lens);
	free(r->nulls);
	free(r->cells);
	free(r->bufs);
	free(r->caps);
	free(r->times);
	free(r->time_decimals);
	memset(r, 0, sizeof(*r));
}

struct db {
	struct db_settings s;
	MYSQL *conn;
	int in_txn;
	unsigned err;
	char errmsg[512];
	struct cached_stmt cache[STMT_CACHE];
	size_t ncache, next_evict;
	struct row_bufs rows;         /* the result being read, kept for the next */
	int rows_busy;                /* a result is being read */
	MYSQL_BIND params[KEPT_PARAMS];
};

static void set_error(struct db *db, unsigned code, const char *msg)
{
	db->err = code;
	snprintf(db->errmsg, sizeof(db->errmsg), "%s", msg ? msg : "unknown error");
}

static void clear_cache(struct db *db)
{
	for (size_t i = 0; i < db->ncache; i++) {
		if (db->cache[i].stmt)
			mysql_stmt_close(db->cache[i].stmt);
		free(db->cache[i].sql_copy);
	}
	db->ncache = 0;
	db->next_evict = 0;
}

static void disconnect(struct db *db)
{
	clear_cache(db);
	if (db->conn)
		mysql_close(db->conn);
	db->conn = NULL;
	db->in_txn = 0;
}

static int connect_db(struct db *db)
{
	if (db->conn)
		return 0;
	MYSQL *c = mysql_init(NULL);
	if (!c) {
		set_error(db, CR_OUT_OF_MEMORY, "out of memory");
		return -1;
	}
	unsigned ct = (unsigned)db->s.connect_timeout, rt = (unsigned)db->s.read_timeout;
	mysql_options(c, MYSQL_OPT_CONNECT_TIMEOUT, &ct);
	mysql_options(c, MYSQL_OPT_READ_TIMEOUT, &rt);
	mysql_options(c, MYSQL_OPT_WRITE_TIMEOUT, &rt);
	mysql_options(c, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	char init[160] = "SET time_zone = '+00:00'";
	if (db->s.statement_timeout > 0)
		snprintf(init + strlen(init), sizeof(init) - strlen(init),
			 ", innodb_lock_wait_timeout = %d, max_statement_time = %d", db->s.statement_timeout,
			 db->s.statement_timeout);
	mysql_options(c, MYSQL_INIT_COMMAND, init);
	const char *sock = db->s.socket[0] ? db->s.socket : NULL;
	if (!mysql_real_connect(c, sock ? NULL : db->s.host, db->s.user, db->s.password,
				db->s.name[0] ? db->s.name : NULL, sock ? 0 : (unsigned)db->s.port, sock,
				CLIENT_FOUND_ROWS)) {
		set_error(db, mysql_errno(c), mysql_error(c));
		mysql_close(c);
		return -1;
	}
	db->conn = c;
	return 0;
}

struct db *db_open(const struct db_settings *s)
{
	struct db *db = calloc(1, sizeof(*db));
	if (db)
		db->s = *s;
	return db;
}

void db_close(struct db *db)
{
	if (!db)
		return;
	disconnect(db);
	row_bufs_free(&db->rows);
	free(db);
}

int db_error_is_connection(const struct db *db)
{
	return db->err == CR_SERVER_GONE_ERROR || db->err == CR_SERVER_LOST || db->err == CR_CONN_HOST_ERROR ||
	       db->err == CR_CONNECTION_ERROR || db->err == CR_SERVER_LOST_EXTENDED || db->err == CR_UNKNOWN_HOST ||
	       db->err == ER_CON_COUNT_ERROR || db->err == CR_OUT_OF_MEMORY || db->err == ER_SERVER_SHUTDOWN ||
	       db->err == CR_COMMANDS_OUT_OF_SYNC || db->err == 1927 /* ER_CONNECTION_KILLED */;
}

int db_error_is_retryable(const struct db *db)
{
	return db->err == ER_LOCK_DEADLOCK || db->err == ER_LOCK_WAIT_TIMEOUT;
}

unsigned db_errno(const struct db *db)
{
	return db->err;
}

const char *db_error(const struct db *db)
{
	return db->errmsg;
}

const char *db_name(const struct db *db)
{
	return db->s.name;
}

static MYSQL_STMT *prepare(struct db *db, const char *sql)
{
	for (size_t i = 0; i < db->ncache; i++)
		if (strcmp(db->cache[i].sql_copy, sql) == 0)
			return db->cache[i].stmt;
	MYSQL_STMT *st = mysql_stmt_init(db->conn);
	if (!st) {
		set_error(db, mysql_errno(db->conn), mysql_error(db->conn));
		return NULL;
	}
	if (mysql_stmt_prepare(st, sql, strlen(sql))) {
		set_error(db, mysql_stmt_errno(st), mysql_stmt_error(st));
		mysql_stmt_close(st);
		return NULL;
	}
	size_t slot;
	if (db->ncache < STMT_CACHE) {
		slot = db->ncache++;
	} else {
		slot = db->next_evict++ % STMT_CACHE;
		mysql_stmt_close(db->cache[slot].stmt);
		free(db->cache[slot].sql_copy);
	}
	db->cache[slot].sql_copy = strdup(sql);
	db->cache[slot].stmt = st;
	return st;
}

/* Connect if needed and prepare; after a lost connection (outside a
 * transaction) reconnect once, so one outage costs one failed request. */
static MYSQL_STMT *get_stmt(struct db *db, const char *sql)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		if (connect_db(db))
			return NULL;
		MYSQL_STMT *st = prepare(db, sql);
		if (st)
			return st;
		if (!db_error_is_connection(db) || db->in_txn)
			return NULL;
		disconnect(db);
	}
	return NULL;
}

static int bind_params(struct db *db, MYSQL_STMT *st, const struct db_param *p, size_t np, MYSQL_BIND *b)
{
	if (mysql_stmt_param_count(st) != np) {
		set_error(db, CR_PARAMS_NOT_BOUND, "parameter count mismatch");
		log_error("db: statement wants %lu parameters, got %zu", mysql_stmt_param_count(st), np);
		return -1;
	}
	for (size_t i = 0; i < np; i++) {
		memset(&b[i], 0, sizeof(b[i]));
		switch (p[i].type) {
		case DB_T_NULL:
			b[i].buffer_type = MYSQL_TYPE_NULL;
			break;
		case DB_T_I64:
			b[i].buffer_type = MYSQL_TYPE_LONGLONG;
			b[i].buffer = (void *)&p[i].i;
			break;
		case DB_T_DOUBLE:
			b[i].buffer_type = MYSQL_TYPE_DOUBLE;
			b[i].buffer = (void *)&p[i].d;
			break;
		case DB_T_STR:
		case DB_T_BYTES:
			b[i].buffer_type = p[i].type == DB_T_BYTES ? MYSQL_TYPE_BLOB : MYSQL_TYPE_STRING;
			b[i].buffer = (void *)p[i].s;
			b[i].buffer_length = p[i].len;
			break;
		}
	}
	if (np && mysql_stmt_bind_param(st, b)) {
		set_error(db, mysql_stmt_errno(st), mysql_stmt_error(st));
		return -1;
	}
	return 0;
}

/* A row fetch of an unbuffered result that fails on the connection leaves
 * the reason on the connection, not on the statement: take it from there. */
static int stmt_failed(struct db *db, MYSQL_STMT *st)
{
	if (mysql_stmt_errno(st) == 0 && db->conn && mysql_errno(db->conn))
		set_error(db, mysql_errno(db->conn), mysql_error(db->conn));
	else
		set_error(db, mysql_stmt_errno(st), mysql_stmt_error(st));
	if (db_error_is_connection(db))
		disconnect(db);
	return -1;
}

/* Makes room for n bytes in a column buffer. */
static int reserve(char **buf, size_t *cap, size_t n)
{
	if (*cap >= n)
		return 0;
	char *nb = realloc(*buf, n);
	if (!nb)
		return -1;
	*buf = nb;
	*cap = n;
	return 0;
}

/* A DATETIME or TIMESTAMP as the driver converts it to text:
 * "%04u-%02u-%02u %02u:%02u:%02u", then for 1 to 6 decimals that many digits
 * of ".%06lu". By hand, as the driver's sprintf is slow in these processes
 * (common/fmt.h). Returns the length; out holds at least 64 bytes. */
static unsigned long format_datetime(char *out, const MYSQL_TIME *t, int decimals)
{
	char *p = fmt_dec(out, t->year, 4);
	*p++ = '-';
	p = fmt_dec(p, t->month, 2);
	*p++ = '-';
	p = fmt_dec(p, t->day, 2);
	*p++ = ' ';
	p = fmt_dec(p, t->hour, 2);
	*p++ = ':';
	p = fmt_dec(p, t->minute, 2);
	*p++ = ':';
	p = fmt_dec(p, t->second, 2);
	if (decimals > 0 && decimals <= 6) {
		char frac[24];
		char *end = fmt_dec(frac, (long long)t->second_part, 6);
		size_t n = (size_t)(end - frac) < (size_t)decimals ? (size_t)(end - frac) : (size_t)decimals;
		*p++ = '.';
		memcpy(p, frac, n);
		p += n;
	}
	*p = '\0';
	return (unsigned long)(p - out);
}

/* One column of the current row as text into its buffer, copied in full by
 * mysql_stmt_fetch_column. The length the first fetch reports is exact for
 * strings but not for numbers converted to text (a DOUBLE reports 0), so the
 * copy's own length wins. */
static int fetch_text_column(MYSQL_STMT *st, struct row_bufs *r, size_t c)
{
	if (reserve(&r->bufs[c], &r->caps[c], r->lens[c] + 1 > 64 ? r->lens[c] + 1 : 64))
		return -1;
	for (;;) {
		MYSQL_BIND one;
		unsigned long got = 0;
		memset(&one, 0, sizeof(one));
		one.buffer_type = MYSQL_TYPE_STRING;
		one.buffer = r->bufs[c];
		one.buffer_length = r->caps[c];
		one.length = &got;
		if (mysql_stmt_fetch_column(st, &one, (unsigned)c, 0))
			return -1;
		if (got < r->caps[c]) {
			r->lens[c] = got;
			break;
		}
		if (reserve(&r->bufs[c], &r->caps[c], got + 1))
			return -1;
	}
	r->bufs[c][r->lens[c]] = '\0';
	return 0;
}

/* Fetch all columns of the current row as text: times arrive as MYSQL_TIME
 * and are formatted here, every other column is bound with an empty buffer
 * and fetched on its own. */
static int fetch_row(MYSQL_STMT *st, struct row_bufs *r)
{
	int f = mysql_stmt_fetch(st);
	if (f == MYSQL_NO_DATA)
		return 1;
	if (f == 1)
		return -1;
	for (size_t c = 0; c < r->ncols; c++) {
		if (r->nulls[c]) {
			r->cells[c] = NULL;
			r->lens[c] = 0;
			continue;
		}
		if (r->time_decimals[c] >= 0) {
			if (reserve(&r->bufs[c], &r->caps[c], 64))
				return -1;
			r->lens[c] = format_datetime(r->bufs[c], &r->times[c], r->time_decimals[c]);
		} else if (fetch_text_column(st, r, c)) {
			return -1;
		}
		r->cells[c] = r->bufs[c];
	}
	return 0;
}

struct row_sink {
	struct arena *a;
	struct db_result *out;
	size_t cap;
};

static int collect_row(void *ud, size_t ncols, char **cells, unsigned long *lens)
{
	struct row_sink *s = ud;
	struct db_result *out = s->out;
	if (out->nrows == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		char ***rows = arena_alloc(s->a, cap * sizeof(*rows));
		unsigned long **l = arena_alloc(s->a, cap * sizeof(*l));
		if (out->nrows) {
			memcpy(rows, out->rows, out->nrows * sizeof(*rows));
			memcpy(l, out->lens, out->nrows * sizeof(*l));
		}
		out->rows = rows;
		out->lens = l;
		s->cap = cap;
	}
	char **row = arena_alloc(s->a, (ncols ? ncols : 1) * sizeof(char *));
	unsigned long *rl = arena_alloc(s->a, (ncols ? ncols : 1) * sizeof(unsigned long));
	for (size_t c = 0; c < ncols; c++) {
		row[c] = cells[c] ? arena_strndup(s->a, cells[c], lens[c]) : NULL;
		rl[c] = lens[c];
	}
	out->rows[out->nrows] = row;
	out->lens[out->nrows] = rl;
	out->nrows++;
	return 0;
}

/* A read, or a statement the server never received. */
static int safe_to_repeat(const struct db *db, const char *sql)
{
	while (*sql == ' ' || *sql == '\n' || *sql == '(')
		sql++;
	return strncasecmp(sql, "SELECT", 6) == 0 || db->err == CR_SERVER_GONE_ERROR;
}

/* Grows one array of r from r->room to n elements of size each, zeroing the new ones. */
static int grow(void **arr, size_t room, size_t n, size_t size)
{
	char *na = realloc(*arr, n * size);
	if (!na)
		return -1;
	memset(na + room * size, 0, (n - room) * size);
	*arr = na;
	return 0;
}

/* Makes r ready for a result of ncols columns described by fields. */
static int row_bufs_prepare(struct row_bufs *r, size_t ncols, const MYSQL_FIELD *fields)
{
	size_t n = ncols ? ncols : 1;
	if (n > r->room) {
		if (grow((void **)&r->rb, r->room, n, sizeof(*r->rb)) ||
		    grow((void **)&r->lens, r->room, n, sizeof(*r->lens)) ||
		    grow((void **)&r->nulls, r->room, n, sizeof(*r->nulls)) ||
		    grow((void **)&r->cells, r->room, n, sizeof(*r->cells)) ||
		    grow((void **)&r->bufs, r->room, n, sizeof(*r->bufs)) ||
		    grow((void **)&r->caps, r->room, n, sizeof(*r->caps)) ||
		    grow((void **)&r->times, r->room, n, sizeof(*r->times)) ||
		    grow((void **)&r->time_decimals, r->room, n, sizeof(*r->time_decimals)))
			return -1;   /* the arrays grown so far stay valid: room is still theirs */
		r->room = n;
	}
	r->ncols = ncols;
	for (size_t c = 0; c < ncols; c++) {
		memset(&r->rb[c], 0, sizeof(r->rb[c]));
		int is_time = fields[c].type == MYSQL_TYPE_DATETIME || fields[c].type == MYSQL_TYPE_TIMESTAMP;
		r->time_decimals[c] = is_time ? (signed char)(fields[c].decimals > 6 ? 7 : fields[c].decimals) : -1;
		if (is_time) {
			r->rb[c].buffer_type = MYSQL_TYPE_DATETIME;
			r->rb[c].buffer = &r->times[c];
			r->rb[c].buffer_length = sizeof(r->times[c]);
		} else {
			r->rb[c].buffer_type = MYSQL_TYPE_STRING;
		}
		r->rb[c].length = &r->lens[c];
		r->rb[c].is_null = &r->nulls[c];
		r->lens[c] = 0;
		r->nulls[c] = 0;
		r->cells[c] = NULL;
	}
	return 0;
}

/* After a statement: large column buffers go back to the heap. */
static void row_bufs_trim(struct row_bufs *r)
{
	for (size_t c = 0; c < r->room; c++)
		if (r->caps[c] > KEEP_COLUMN_BYTES) {
			free(r->bufs[c]);
			r->bufs[c] = NULL;
			r->caps[c] = 0;
		}
}

/* Executes the statement with its parameters bound from pb (np of them; a
 * filter may bind thousands); at most one retry on a new connection. */
static MYSQL_STMT *execute(struct db *db, const char *sql, const struct db_param *p, size_t np, MYSQL_BIND *pb)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		MYSQL_STMT *st = get_stmt(db, sql);
		if (!st)
			return NULL;
		if (bind_params(db, st, p, np, pb))
			return NULL;
		if (mysql_stmt_execute(st) == 0)
			return st;
		int in_txn = db->in_txn;
		stmt_failed(db, st);
		/* A connection that died while idle (server restarted) is noticed
		 * only now: run the statement once more on a new connection when
		 * that cannot apply it twice. */
		if (attempt || in_txn || !db_error_is_connection(db) || !safe_to_repeat(db, sql))
			return NULL;
	}
	return NULL;
}

static int fetch_rows(struct db *db, MYSQL_STMT *st, struct row_bufs *r, db_row_cb cb, void *ud, int *stopped)
{
	if (mysql_stmt_bind_result(st, r->rb))
		return stmt_failed(db, st);
	for (;;) {
		int f = fetch_row(st, r);
		if (f == 1)
			return 0;
		if (f < 0)
			return stmt_failed(db, st);
		if (cb(ud, r->ncols, r->cells, r->lens)) {
			*stopped = 1;
			return 0;
		}
	}
}

static int run(struct db *db, const char *sql, const struct db_param *p, size_t np, db_row_cb cb, void *ud,
	       struct db_result *meta)
{
	if (np > DB_MAX_PARAMS) {
		set_error(db, CR_PARAMS_NOT_BOUND, "too many parameters for one statement");
		return -1;
	}
	/* From a row callback: the driver cannot run a statement while a result
	 * of the same connection is being read (it crashes on the outer one). */
	if (db->rows_busy) {
		set_error(db, CR_UNKNOWN_ERROR, "a statement cannot run while a result of its connection is read");
		log_error("db: %s", db->errmsg);
		return -1;
	}
	/* The driver copies the bindings at execute: the connection's array is
	 * free again once execute returns. */
	MYSQL_BIND *pb = db->params, *heap_pb = NULL;
	if (np > KEPT_PARAMS) {
		pb = heap_pb = calloc(np, sizeof(*pb));
		if (!pb) {
			set_error(db, CR_OUT_OF_MEMORY, "out of memory");
			return -1;
		}
	}
	MYSQL_STMT *st = execute(db, sql, p, np, pb);
	free(heap_pb);
	if (!st)
		return -1;
	if (meta) {
		meta->affected = mysql_stmt_affected_rows(st);
		meta->insert_id = mysql_stmt_insert_id(st);
	}
	MYSQL_RES *md = mysql_stmt_result_metadata(st);
	if (!md)
		return 0;
	size_t ncols = mysql_num_fields(md);
	if (meta)
		meta->ncols = ncols;
	int rc = 0, stopped = 0;
	if (row_bufs_prepare(&db->rows, ncols, mysql_fetch_fields(md))) {
		set_error(db, CR_OUT_OF_MEMORY, "out of memory");
		rc = -1;
	}
	mysql_free_result(md);
	if (rc == 0) {
		db->rows_busy = 1;
		rc = fetch_rows(db, st, &db->rows, cb, ud, &stopped);
	}
	/* Freeing the result is local; a reset costs a round trip and is only
	 * needed when rows were left unread or the statement failed. */
	if (db->conn)
		mysql_stmt_free_result(st);
	if (db->conn && (stopped || rc))
		mysql_stmt_reset(st);
	row_bufs_trim(&db->rows);
	db->rows_busy = 0;
	return rc;
}

int db_exec(struct db *db, struct arena *a, const char *sql, const struct db_param *p, size_t np,
	    struct db_result *out)
{
	struct db_result tmp;
	if (!out)
		out = &tmp;
	memset(out, 0, sizeof(*out));
	struct arena *own = NULL;
	if (!a)
		a = own = arena_new();
	struct row_sink sink = {a, out, 0};
	int rc = run(db, sql, p, np, collect_row, &sink, out);
	if (rc)
		log_debug("db error %u: %s", db->err, db->errmsg);
	if (own) {
		arena_free(own);
		if (out != &tmp) {
			out->rows = NULL;
			out->lens = NULL;
		}
	}
	return rc;
}

int db_stream(struct db *db, const char *sql, const struct db_param *p, size_t np, db_row_cb cb, void *ud)
{
	return run(db, sql, p, np, cb, ud, NULL);
}

static int simple(struct db *db, const char *sql)
{
	if (connect_db(db))
		return -1;
	if (mysql_real_query(db->conn, sql, strlen(sql))) {
		set_error(db, mysql_errno(db->conn), mysql_error(db->conn));
		if (db_error_is_connection(db))
			disconnect(db);
		return -1;
	}
	MYSQL_RES *r = mysql_store_result(db->conn);
	if (r)
		mysql_free_result(r);
	return 0;
}

int db_begin(struct db *db)
{
	/* simple() connects if needed; a stale connection fails here, before
	 * any work, and is replaced once. */
	if (simple(db, "START TRANSACTION")) {
		if (!db_error_is_connection(db) || simple(db, "START TRANSACTION"))
			return -1;
	}
	db->in_txn = 1;
	return 0;
}

int db_commit(struct db *db)
{
	db->in_txn = 0;
	return simple(db, "COMMIT");
}

int db_rollback(struct db *db)
{
	db->in_txn = 0;
	if (!db->conn)
		return 0;
	return simple(db, "ROLLBACK");
}

int db_ping(struct db *db)
{
	if (connect_db(db))
		return -1;
	if (mysql_ping(db->conn)) {
		set_error(db, mysql_errno(db->conn), mysql_error(db->conn));
		disconnect(db);
		if (connect_db(db))
			return -1;
	}
	return 0;
}

int db_exec_script(struct db *db, const char *script)
{
	if (connect_db(db))
		return -1;
	mysql_set_server_option(db->conn, MYSQL_OPTION_MULTI_STATEMENTS_ON);
	int rc = 0;
	if (mysql_real_query(db->conn, script, strlen(script))) {
		set_error(db, mysql_errno(db->conn), mysql_error(db->conn));
		rc = -1;
	}
	/* Drain every statement's result; stop at the first failing one. */
	while (rc == 0) {
		MYSQL_RES *r = mysql_store_result(db->conn);
		if (r)
			mysql_free_result(r);
		int more = mysql_next_result(db->conn);
		if (more > 0) {
			set_error(db, mysql_errno(db->conn), mysql_error(db->conn));
			rc = -1;
		}
		if (more != 0)
			break;
	}
	mysql_set_server_option(db->conn, MYSQL_OPTION_MULTI_STATEMENTS_OFF);
	if (rc)
		disconnect(db);
	return rc;
}
