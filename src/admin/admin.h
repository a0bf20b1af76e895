/* Shared state of luna-tasks-admin commands. */
#ifndef LUNA_ADMIN_H
#define LUNA_ADMIN_H
#include "common/config.h"
#include "common/db.h"

struct admin {
	struct luna_config cfg;
	const char *sql_dir;
};

/* import faces|events|attributes FILE.jsonl (argv[0] is the kind). Exit status. */
int admin_import(struct admin *ad, int argc, char **argv);
/* db check: every database, store and service of the configuration. Exit status. */
int admin_db_check(struct admin *ad);
/* As root, switch to the owner of a local result store; otherwise refuse
 * clearly when the store is not writable. 0 ok, -1 (message printed). */
int admin_become_store_owner(const struct luna_config *cfg);
#endif
