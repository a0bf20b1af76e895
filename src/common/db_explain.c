/* Operator words for MariaDB connection errors (luna-tasks-admin db check,
 * db migrate, the scheduler's start-up). */
#include "common/db_explain.h"
#include <errmsg.h>
#include <mysqld_error.h>
#include <stdio.h>

/* Where the settings point: the socket when one is set, else HOST:PORT. */
static void describe_server(const struct db_settings *s, char *buf, size_t len)
{
	if (s->socket[0])
		snprintf(buf, len, "socket %s", s->socket);
	else
		snprintf(buf, len, "%s:%d", s->host[0] ? s->host : "localhost", s->port ? s->port : 3306);
}

const char *db_explain(const struct db *db, const struct db_settings *s, const char *section, char *buf,
		       size_t len)
{
	char where[600];
	const char *cause;
	char detail[900];
	describe_server(s, where, sizeof(where));
	switch (db_errno(db)) {
	case ER_ACCESS_DENIED_ERROR:
	case ER_ACCESS_DENIED_NO_PASSWORD_ERROR:
		cause = "wrong user or password";
		snprintf(detail, sizeof(detail), "the server at %s refused user '%s': check USER and PASSWORD of %s "
			 "and that the user exists (CREATE USER ... IDENTIFIED BY ...)", where, s->user, section);
		break;
	case ER_DBACCESS_DENIED_ERROR:
		cause = "no rights on the database";
		snprintf(detail, sizeof(detail), "user '%s' may not use database %s: GRANT ALL ON %s.* TO the user",
			 s->user, s->name, s->name);
		break;
	case ER_BAD_DB_ERROR:
		cause = "the database does not exist";
		snprintf(detail, sizeof(detail), "database %s is missing at %s: run luna-tasks-admin db migrate", s->name,
			 where);
		break;
	case ER_HOST_NOT_PRIVILEGED:
		cause = "this host may not connect";
		snprintf(detail, sizeof(detail), "the server at %s does not let user '%s' connect from this host", where,
			 s->user);
		break;
	/* Connector/C reports a refused TCP connect as 2002 too: the settings
	 * tell a socket from an address. */
	case CR_CONNECTION_ERROR:
	case CR_CONN_HOST_ERROR:
		if (s->socket[0]) {
			cause = "no server at the socket";
			snprintf(detail, sizeof(detail), "%s is missing or nobody listens on it: is MariaDB running, and "
				 "is SOCKET of %s the server's socket (/run/mysqld/mysqld.sock on Debian)?", where, section);
		} else {
			cause = "no server at that address";
			snprintf(detail, sizeof(detail), "nothing answers at %s: is MariaDB running and listening there "
				 "(HOST and PORT of %s; or set SOCKET)?", where, section);
		}
		break;
	case CR_UNKNOWN_HOST:
		cause = "unknown host";
		snprintf(detail, sizeof(detail), "HOST '%s' of %s does not resolve", s->host, section);
		break;
	case CR_SERVER_GONE_ERROR:
	case CR_SERVER_LOST:
		cause = "the server closed the connection";
		snprintf(detail, sizeof(detail), "the server at %s went away (restarting, overloaded or a timeout)",
			 where);
		break;
	case ER_CON_COUNT_ERROR:
		cause = "too many connections";
		snprintf(detail, sizeof(detail), "the server at %s is at max_connections", where);
		break;
	case ER_NO_SUCH_TABLE:
	case ER_BAD_FIELD_ERROR:
		cause = "the schema is not up to date";
		snprintf(detail, sizeof(detail), "database %s lacks a table or column: run luna-tasks-admin db migrate",
			 s->name);
		break;
	default:
		cause = "database error";
		snprintf(detail, sizeof(detail), "at %s", where);
		break;
	}
	snprintf(buf, len, "%s: %s (MariaDB %u: %s)", cause, detail, db_errno(db), db_error(db));
	return buf;
}
