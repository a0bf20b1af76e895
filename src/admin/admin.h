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
#endif
