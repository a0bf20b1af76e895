/* db_explain: a connection that fails is named in an operator's words, with
 * the server's error number, and never shows the password. Needs no server:
 * a socket that does not exist and a port nothing listens on. */
#include "check.h"
#include "common/db_explain.h"
#include <stdio.h>
#include <string.h>

static void settings(struct db_settings *s, const char *socket, int port)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->host, sizeof(s->host), "127.0.0.1");
	s->port = port;
	snprintf(s->socket, sizeof(s->socket), "%s", socket);
	snprintf(s->user, sizeof(s->user), "luna");
	snprintf(s->password, sizeof(s->password), "secret-word");
	snprintf(s->name, sizeof(s->name), "luna_tasks");
	s->connect_timeout = 2;
	s->read_timeout = 2;
}

static void explains(const struct db_settings *s, const char *const *want)
{
	struct db *db = db_open(s);
	char buf[1600];
	CHECK(db_ping(db) != 0);
	db_explain(db, s, "[LUNA_TASKS_DB]", buf, sizeof(buf));
	for (size_t i = 0; want[i]; i++)
		CHECK(strstr(buf, want[i]) != NULL, "'%s' not in: %s", want[i], buf);
	CHECK(strstr(buf, "secret-word") == NULL, "%s", buf);
	db_close(db);
}

int main(void)
{
	struct db_settings s;
	settings(&s, "/nonexistent/luna-tasks-test.sock", 3306);
	explains(&s, (const char *const[]){"no server at the socket", "/nonexistent/luna-tasks-test.sock",
					   "SOCKET of [LUNA_TASKS_DB]", "MariaDB 2002", NULL});
	/* Port 1 on loopback: nothing listens there. */
	settings(&s, "", 1);
	explains(&s, (const char *const[]){"no server at that address", "127.0.0.1:1", "HOST and PORT", NULL});
	return CHECK_DONE();
}
