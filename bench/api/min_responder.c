/* The references for bench/api: the smallest useful FastCGI responders.
 *
 * Without arguments it answers every request with the same task-shaped JSON,
 * so the benchmark measures what nginx + FastCGI + spawn-fcgi cost on their own.
 *
 * With --sql it also does what GET /2/tasks/{id} has to do at the least: the
 * service's one-row primary-key SELECT of the task (the same statement, the
 * same parameters), prepared once on a persistent MariaDB Connector/C
 * connection and executed per request; the row's cells are pasted into the
 * reply without any JSON library. The connection comes from the environment:
 * MIN_DB_SOCKET, MIN_DB_USER, MIN_DB_PASSWORD, MIN_DB_NAME. */
#include <fcgiapp.h>
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char reply[] =
	"Status: 200 OK\r\n"
	"Content-Type: application/json\r\n"
	"Luna-Request-Id: 1700000000,8b8b5937-2e9c-4e8b-a7a7-5caf86621b5a\r\n"
	"\r\n"
	"{\"task_id\": 1, \"task_type\": 2, \"task_status\": 0, "
	"\"create_time\": \"2024-01-01T00:00:00.000000+00:00\", "
	"\"last_update_time\": \"2024-01-01T00:00:00.000000+00:00\", \"end_time\": null, "
	"\"result_id\": null, \"account_id\": \"8b8b5937-2e9c-4e8b-a7a7-5caf86621b5a\", "
	"\"count_task_parts_done\": 0, \"count_task_parts_all\": 1, \"description\": \"bench\", "
	"\"content\": {\"objects_type\": \"faces\", \"filters\": "
	"{\"account_id\": \"8b8b5937-2e9c-4e8b-a7a7-5caf86621b5a\"}, \"threshold\": 0.81}}";

/* src/api/h_tasks.c find_task() with src/api/task_json.h TASK_COLUMNS. */
static const char task_select[] =
	"SELECT task_id, task_type, task_status, account_id, description, content, create_time, "
	"last_update_time, end_time, result_id, count_task_parts_done, count_task_parts_all "
	"FROM task WHERE task_id = ? AND (? IS NULL OR account_id = ?)";

enum { NCOLS = 12, CELL = 8192 };

struct task_query {
	MYSQL *conn;
	MYSQL_STMT *st;
	long long task_id;
	MYSQL_BIND params[3], cols[NCOLS];
	char cells[NCOLS][CELL];
	unsigned long lens[NCOLS];
	my_bool nulls[NCOLS];
};

static int fail(const char *what, const char *why)
{
	fprintf(stderr, "min_responder: %s: %s\n", what, why);
	return -1;
}

static const char *env_or_empty(const char *name)
{
	const char *v = getenv(name);
	return v ? v : "";
}

static int open_query(struct task_query *q)
{
	const char *sock = env_or_empty("MIN_DB_SOCKET"), *user = env_or_empty("MIN_DB_USER");
	const char *pass = env_or_empty("MIN_DB_PASSWORD"), *name = env_or_empty("MIN_DB_NAME");
	q->conn = mysql_init(NULL);
	if (!q->conn)
		return fail("mysql_init", "out of memory");
	mysql_options(q->conn, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	if (!mysql_real_connect(q->conn, NULL, user, pass, name, 0, sock, 0))
		return fail("connect", mysql_error(q->conn));
	q->st = mysql_stmt_init(q->conn);
	if (!q->st || mysql_stmt_prepare(q->st, task_select, sizeof(task_select) - 1))
		return fail("prepare", mysql_error(q->conn));
	memset(q->params, 0, sizeof(q->params));
	q->params[0].buffer_type = MYSQL_TYPE_LONGLONG;
	q->params[0].buffer = &q->task_id;
	q->params[1].buffer_type = MYSQL_TYPE_NULL; /* no account_id in the query string */
	q->params[2].buffer_type = MYSQL_TYPE_NULL;
	memset(q->cols, 0, sizeof(q->cols));
	for (int c = 0; c < NCOLS; c++) {
		q->cols[c].buffer_type = MYSQL_TYPE_STRING;
		q->cols[c].buffer = q->cells[c];
		q->cols[c].buffer_length = CELL;
		q->cols[c].length = &q->lens[c];
		q->cols[c].is_null = &q->nulls[c];
	}
	if (mysql_stmt_bind_param(q->st, q->params) || mysql_stmt_bind_result(q->st, q->cols))
		return fail("bind", mysql_stmt_error(q->st));
	return 0;
}

/* The task row into q->cells; 1 found, 0 not found, -1 error. */
static int run_query(struct task_query *q, long long task_id)
{
	q->task_id = task_id;
	if (mysql_stmt_execute(q->st))
		return -1;
	int r = mysql_stmt_fetch(q->st), found = r == 0 || r == MYSQL_DATA_TRUNCATED;
	mysql_stmt_free_result(q->st);
	if (r == 1)
		return -1;
	return found;
}

/* Column c as JSON: the text as it is (numbers, the stored content JSON), or
 * quoted when string is set; null for NULL. Strings are not escaped (the
 * benchmark's rows need none). */
static const char *cell(struct task_query *q, int c, int string)
{
	static char quoted[NCOLS][CELL + 2];
	if (q->nulls[c])
		return "null";
	unsigned long n = q->lens[c] < CELL ? q->lens[c] : CELL - 1;
	q->cells[c][n] = '\0';
	if (!string)
		return q->cells[c];
	snprintf(quoted[c], sizeof(quoted[c]), "\"%s\"", q->cells[c]);
	return quoted[c];
}

static void answer_task(struct task_query *q, FCGX_Stream *out, FCGX_ParamArray envp)
{
	const char *uri = FCGX_GetParam("REQUEST_URI", envp), *slash = uri ? strrchr(uri, '/') : NULL;
	int found = run_query(q, slash ? strtoll(slash + 1, NULL, 10) : 0);
	if (found != 1) {
		FCGX_FPrintF(out, "Status: %s\r\nContent-Type: application/json\r\n\r\n{}",
			     found == 0 ? "404 Not Found" : "500 Internal Server Error");
		return;
	}
	FCGX_FPrintF(out,
		     "Status: 200 OK\r\nContent-Type: application/json\r\n"
		     "Luna-Request-Id: 1700000000,8b8b5937-2e9c-4e8b-a7a7-5caf86621b5a\r\n\r\n"
		     "{\"task_id\": %s, \"task_type\": %s, \"task_status\": %s, \"account_id\": %s, "
		     "\"description\": %s, \"content\": %s, \"create_time\": %s, \"last_update_time\": %s, "
		     "\"end_time\": %s, \"result_id\": %s, \"count_task_parts_done\": %s, \"count_task_parts_all\": %s}",
		     cell(q, 0, 0), cell(q, 1, 0), cell(q, 2, 0), cell(q, 3, 1), cell(q, 4, 1), cell(q, 5, 0),
		     cell(q, 6, 1), cell(q, 7, 1), cell(q, 8, 1), cell(q, 9, 1), cell(q, 10, 0), cell(q, 11, 0));
}

int main(int argc, char **argv)
{
	static struct task_query q;
	int sql = argc > 1 && strcmp(argv[1], "--sql") == 0;
	if (sql && open_query(&q))
		return 1;
	FCGX_Stream *in, *out, *err;
	FCGX_ParamArray envp;
	while (FCGX_Accept(&in, &out, &err, &envp) >= 0) {
		if (sql)
			answer_task(&q, out, envp);
		else
			FCGX_PutStr(reply, (int)sizeof(reply) - 1, out);
	}
	return 0;
}
