/* luna-tasks-admin db check: can this configuration reach everything it
 * names? Connects to the tasks database and the objects database, writes to
 * the result store and asks the handlers service for its health, and says
 * for each what is wrong in an operator's words. Also the privilege drop of
 * commands that write into the result store. */
#include "admin/admin.h"
#include "backends/handlers.h"
#include "backends/storage.h"
#include "common/db_explain.h"
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int report(const char *what, int ok, const char *text)
{
	printf("%-16s %s  %s\n", what, ok ? "OK    " : "FAILED", text);
	return ok ? 0 : 1;
}

/* Connects, and reads the schema version the migrations recorded. */
static int check_database(const char *what, const struct db_settings *s, const char *section)
{
	struct db *db = db_open(s);
	char text[1600];
	int failed;
	if (!db)
		return report(what, 0, "out of memory");
	if (db_ping(db)) {
		failed = report(what, 0, db_explain(db, s, section, text, sizeof(text)));
	} else {
		struct arena *a = arena_new();
		struct db_result r;
		if (DB_EXEC(db, a, &r, "SELECT COALESCE(MAX(version), 0) FROM schema_version") == 0 &&
		    r.nrows) {
			snprintf(text, sizeof(text), "database %s as '%s', schema version %s", s->name, s->user,
				 r.rows[0][0]);
			failed = report(what, 1, text);
		} else {
			failed = report(what, 0, db_explain(db, s, section, text, sizeof(text)));
		}
		arena_free(a);
	}
	db_close(db);
	return failed;
}

static int check_store(const struct luna_config *cfg)
{
	char err[512], text[1200];
	struct storage *st = storage_open(cfg, err, sizeof(err));
	if (!st || st->ops->check(st, err, sizeof(err))) {
		snprintf(text, sizeof(text), "%s store: %s", cfg->storage_backend, err);
		storage_close(st);
		return report("result store", 0, text);
	}
	if (strcmp(cfg->storage_backend, "local") == 0)
		snprintf(text, sizeof(text), "local folder %s is writable", cfg->storage_path);
	else
		snprintf(text, sizeof(text), "s3 bucket %s at %s is writable", cfg->s3_bucket, cfg->s3_endpoint);
	storage_close(st);
	return report("result store", 1, text);
}

static int check_handlers(const struct luna_config *cfg)
{
	char err[512], text[1200];
	if (!cfg->handlers_url[0])
		return report("handlers", 1, "not configured ([HANDLERS] URL is empty): estimator and additional "
					     "extract tasks are refused");
	struct handlers *h = handlers_open(cfg, err, sizeof(err));
	int failed = !h || handlers_check(h, err, sizeof(err));
	if (failed)
		snprintf(text, sizeof(text), "%s: %s", cfg->handlers_url, err);
	else
		snprintf(text, sizeof(text), "%s answers its healthcheck", cfg->handlers_url);
	handlers_close(h);
	return report("handlers", !failed, text);
}

int admin_db_check(struct admin *ad)
{
	const struct luna_config *cfg = &ad->cfg;
	int failed = check_database("tasks database", &cfg->tasks_db, "[LUNA_TASKS_DB]");
	if (strcmp(cfg->objects_backend, "local") == 0)
		failed |= check_database("objects database", &cfg->objects_db, "[OBJECTS] (DB_* keys, else [LUNA_TASKS_DB])");
	failed |= check_store(cfg);
	failed |= check_handlers(cfg);
	printf(failed ? "db check: something above needs fixing\n" : "db check: everything answers\n");
	return failed;
}

/* Run as root, a command that writes sample images would leave root-owned
 * files in a store the services (user luna-tasks) must read, write and
 * delete: it becomes the owner of the store folder instead. */
int admin_become_store_owner(const struct luna_config *cfg)
{
	struct stat st;
	if (strcmp(cfg->storage_backend, "local") != 0)
		return 0;
	if (stat(cfg->storage_path, &st)) {
		fprintf(stderr, "result store %s: %s\n", cfg->storage_path, strerror(errno));
		return -1;
	}
	if (geteuid() != 0 || st.st_uid == 0) {
		if (access(cfg->storage_path, W_OK | X_OK) == 0)
			return 0;
		struct passwd *me = getpwuid(geteuid()), *owner = getpwuid(st.st_uid);
		fprintf(stderr,
			"result store %s is not writable by user %s: run this command as root (it then writes as the "
			"store's owner%s%s) or as that user\n",
			cfg->storage_path, me ? me->pw_name : "?", owner ? ", " : "", owner ? owner->pw_name : "");
		return -1;
	}
	struct passwd *pw = getpwuid(st.st_uid);
	if (!pw) {
		fprintf(stderr, "result store %s: its owner (uid %u) is no user of this system\n", cfg->storage_path,
			(unsigned)st.st_uid);
		return -1;
	}
	if (initgroups(pw->pw_name, pw->pw_gid) || setgid(pw->pw_gid) || setuid(pw->pw_uid)) {
		fprintf(stderr, "cannot become user %s (the owner of the result store %s): %s\n", pw->pw_name,
			cfg->storage_path, strerror(errno));
		return -1;
	}
	return 0;
}
