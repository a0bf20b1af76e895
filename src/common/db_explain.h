/* What a failed connection to MariaDB means, in an operator's words. */
#ifndef LUNA_DB_EXPLAIN_H
#define LUNA_DB_EXPLAIN_H
#include <stddef.h>
#include "common/config.h"
#include "common/db.h"

/* One sentence naming the cause (wrong password, missing socket, no server
 * at HOST:PORT, missing database, …) and what to check, followed by the
 * server's own message and error number. s are the settings db was opened
 * with; section names their configuration section ("[LUNA_TASKS_DB]").
 * Never shows the password. Returns buf. */
const char *db_explain(const struct db *db, const struct db_settings *s, const char *section, char *buf,
		       size_t len);
#endif
