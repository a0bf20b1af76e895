/* luna-tasks-admin: operator commands.
 *   db migrate            create the databases if needed and apply sql/ migrations
 *   db check              connect to the databases, the result store and the handlers service
 *   config check          validate the configuration file (--connect: and db check)
 *   import KIND FILE      load faces, events or attributes (JSON lines) into the local objects DB
 * Every command reads the configuration given by -c (or $LUNA_TASKS_CONFIG). */
#include "admin/admin.h"
#include "common/db_explain.h"
#include "common/log.h"
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int usage(void)
{
	fputs("usage: luna-tasks-admin [-c CONFIG] [--sql-dir DIR] COMMAND\n"
	      "commands:\n"
	      "  db migrate                       apply the schema migrations (idempotent)\n"
	      "  db check                         connect to both databases, the result store and the\n"
	      "                                   handlers service; say what is wrong\n"
	      "  config check [--connect]         validate the configuration file, print the settings in\n"
	      "                                   effect (--connect: then db check)\n"
	      "  import faces|events|attributes FILE.jsonl\n"
	      "                                   load objects into the local objects database\n",
	      stderr);
	return 2;
}

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = NULL;
	size_t len = 0, cap = 0, n;
	char chunk[65536];
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (len + n + 1 > cap) {
			cap = (len + n + 1) * 2;
			char *nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
		}
		memcpy(buf + len, chunk, n);
		len += n;
	}
	fclose(f);
	if (!buf)
		buf = calloc(1, 1);
	else
		buf[len] = '\0';
	return buf;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Applies DIR/NNN_*.sql with NNN greater than the recorded version, in order. */
static int migrate_one(const struct db_settings *server, const char *section, const char *dbname, const char *dir)
{
	struct db_settings s = *server;
	s.name[0] = '\0';
	struct db *root = db_open(&s);
	struct db *db = NULL;
	int rc = -1;
	char sql[512], why[1600];
	snprintf(sql, sizeof(sql), "CREATE DATABASE IF NOT EXISTS `%s` CHARACTER SET utf8mb4", dbname);
	if (strchr(dbname, '`')) {
		fprintf(stderr, "bad database name '%s'\n", dbname);
		goto out;
	}
	/* A connection that fails is not a privilege problem: say which it is. */
	if (db_ping(root)) {
		fprintf(stderr, "%s: cannot connect: %s\n", dbname, db_explain(root, server, section, why, sizeof(why)));
		goto out;
	}
	if (db_exec_script(root, sql)) {
		fprintf(stderr, "cannot create database %s (user '%s' needs the CREATE privilege, or create it by hand): "
				"%s\n", dbname, s.user, db_error(root));
		goto out;
	}
	snprintf(s.name, sizeof(s.name), "%s", dbname);
	db = db_open(&s);
	if (db_exec_script(db, "CREATE TABLE IF NOT EXISTS schema_version (version INT NOT NULL PRIMARY KEY, "
			       "applied_at DATETIME(6) NOT NULL) ENGINE=InnoDB")) {
		fprintf(stderr, "%s: %s\n", dbname, db_error(db));
		goto out;
	}
	struct arena *a = arena_new();
	struct db_result r;
	long current = 0;
	if (DB_EXEC(db, a, &r, "SELECT COALESCE(MAX(version), 0) FROM schema_version") == 0 && r.nrows)
		current = atol(r.rows[0][0]);
	arena_free(a);
	DIR *d = opendir(dir);
	if (!d) {
		fprintf(stderr, "cannot open %s: %s\n", dir, strerror(errno));
		goto out;
	}
	char *names[1000];
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < 1000) {
		size_t l = strlen(e->d_name);
		if (l > 4 && strcmp(e->d_name + l - 4, ".sql") == 0 && e->d_name[0] >= '0' && e->d_name[0] <= '9')
			names[n++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(char *), cmp_names);
	rc = 0;
	for (size_t i = 0; i < n; i++) {
		long v = atol(names[i]);
		if (rc == 0 && v > current) {
			char path[2048];
			snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
			char *script = read_all(path);
			if (!script || db_exec_script(db, script) ||
			    DB_EXEC(db, NULL, NULL,
				    "INSERT INTO schema_version (version, applied_at) VALUES (?, UTC_TIMESTAMP(6))",
				    DBP_I64(v))) {
				fprintf(stderr, "%s: migration %s failed: %s\n", dbname, names[i],
					script ? db_error(db) : strerror(errno));
				rc = -1;
			} else {
				printf("%s: applied %s\n", dbname, names[i]);
			}
			free(script);
		}
		free(names[i]);
	}
	if (rc == 0)
		printf("%s: schema is up to date\n", dbname);
out:
	db_close(root);
	db_close(db);
	return rc;
}

static int cmd_db_migrate(struct admin *ad)
{
	char dir[1100];
	snprintf(dir, sizeof(dir), "%s/tasks", ad->sql_dir);
	if (migrate_one(&ad->cfg.tasks_db, "[LUNA_TASKS_DB]", ad->cfg.tasks_db.name, dir))
		return 1;
	if (strcmp(ad->cfg.objects_backend, "local") == 0) {
		snprintf(dir, sizeof(dir), "%s/objects", ad->sql_dir);
		if (migrate_one(&ad->cfg.objects_db, "[OBJECTS]", ad->cfg.objects_db.name, dir))
			return 1;
	}
	return 0;
}

static const char *default_sql_dir(void)
{
	static char buf[2048];
	const char *env = getenv("LUNA_TASKS_SQL_DIR");
	if (env && *env)
		return env;
	snprintf(buf, sizeof(buf), "%s/sql", PKGDATADIR);
	return buf;
}

int main(int argc, char **argv)
{
	struct admin ad;
	memset(&ad, 0, sizeof(ad));
	const char *cfg_path = NULL;
	ad.sql_dir = default_sql_dir();
	log_init("luna-tasks-admin");
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			cfg_path = argv[++i];
		else if (strcmp(argv[i], "--sql-dir") == 0 && i + 1 < argc)
			ad.sql_dir = argv[++i];
		else
			return usage();
	}
	if (i + 1 >= argc)
		return usage();
	if (!cfg_path)
		cfg_path = config_default_path();
	char err[1024];
	if (config_load(&ad.cfg, cfg_path, err, sizeof(err))) {
		fprintf(stderr, "config error: %s\n", err);
		return 1;
	}
	log_set_level_name(ad.cfg.log_level);
	const char *group = argv[i], *verb = argv[i + 1];
	int extra = argc - i - 2;
	if (strcmp(group, "config") == 0 && strcmp(verb, "check") == 0) {
		int connect = extra == 1 && strcmp(argv[i + 2], "--connect") == 0;
		if (extra && !connect)
			return usage();
		/* The settings in effect (defaults included, secrets masked). */
		char *ini = config_to_ini(&ad.cfg);
		printf("%s: OK (syntax and values)\n\n%s", cfg_path, ini ? ini : "");
		free(ini);
		return connect ? admin_db_check(&ad) : 0;
	}
	if (strcmp(group, "db") == 0 && strcmp(verb, "migrate") == 0 && !extra)
		return cmd_db_migrate(&ad);
	if (strcmp(group, "db") == 0 && strcmp(verb, "check") == 0 && !extra)
		return admin_db_check(&ad);
	if (strcmp(group, "import") == 0)
		return admin_import(&ad, argc - i - 1, argv + i + 1);
	return usage();
}
