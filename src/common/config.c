/* INI configuration loader driven by one table of keys. */
#include "common/config.h"
#include "common/outbound.h"
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <libgen.h>

enum kind { K_STR, K_INT, K_LONG, K_DOUBLE, K_PATH };

struct key {
	const char *section, *name;
	enum kind kind;
	size_t offset, size;      /* size: for strings */
	const char *def;
	int secret;
	double min, max;          /* numbers */
	const char *help;
};

#define S(sec, nm, field, d, help) {sec, nm, K_STR, offsetof(struct luna_config, field), \
	sizeof(((struct luna_config *)0)->field), d, 0, 0, 0, help}
#define SECRET(sec, nm, field, d, help) {sec, nm, K_STR, offsetof(struct luna_config, field), \
	sizeof(((struct luna_config *)0)->field), d, 1, 0, 0, help}
#define P(sec, nm, field, d, help) {sec, nm, K_PATH, offsetof(struct luna_config, field), \
	sizeof(((struct luna_config *)0)->field), d, 0, 0, 0, help}
#define I(sec, nm, field, d, lo, hi, help) {sec, nm, K_INT, offsetof(struct luna_config, field), \
	0, d, 0, lo, hi, help}
#define L(sec, nm, field, d, lo, hi, help) {sec, nm, K_LONG, offsetof(struct luna_config, field), \
	0, d, 0, lo, hi, help}
#define D(sec, nm, field, d, lo, hi, help) {sec, nm, K_DOUBLE, offsetof(struct luna_config, field), \
	0, d, 0, lo, hi, help}

static const struct key keys[] = {
	S("LUNA_TASKS_DB", "HOST", tasks_db.host, "127.0.0.1", "MariaDB host of the tasks database"),
	I("LUNA_TASKS_DB", "PORT", tasks_db.port, "3306", 0, 65535, "MariaDB port"),
	P("LUNA_TASKS_DB", "SOCKET", tasks_db.socket, "", "unix socket; wins over HOST/PORT when set"),
	S("LUNA_TASKS_DB", "USER", tasks_db.user, "luna", "database user"),
	SECRET("LUNA_TASKS_DB", "PASSWORD", tasks_db.password, "luna", "database password"),
	S("LUNA_TASKS_DB", "NAME", tasks_db.name, "luna_tasks", "database name"),
	I("LUNA_TASKS_DB", "CONNECT_TIMEOUT", tasks_db.connect_timeout, "5", 1, 3600, "seconds"),
	I("LUNA_TASKS_DB", "READ_TIMEOUT", tasks_db.read_timeout, "30", 1, 86400, "seconds"),
	S("OBJECTS", "BACKEND", objects_backend, "local", "local (MariaDB database) or luna"),
	S("OBJECTS", "DB_NAME", objects_db.name, "luna_objects", "objects database name"),
	S("OBJECTS", "DB_HOST", objects_db.host, "", "empty: as LUNA_TASKS_DB"),
	I("OBJECTS", "DB_PORT", objects_db.port, "0", 0, 65535, "0: as LUNA_TASKS_DB"),
	P("OBJECTS", "DB_SOCKET", objects_db.socket, "", "empty: as LUNA_TASKS_DB"),
	S("OBJECTS", "DB_USER", objects_db.user, "", "empty: as LUNA_TASKS_DB"),
	SECRET("OBJECTS", "DB_PASSWORD", objects_db.password, "", "empty: as LUNA_TASKS_DB"),
	S("STORAGE", "BACKEND", storage_backend, "local", "local (a directory) or s3"),
	P("STORAGE", "PATH", storage_path, "/var/lib/luna-tasks/store", "directory of the local store"),
	S("STORAGE", "S3_ENDPOINT", s3_endpoint, "", "S3 endpoint URL"),
	S("STORAGE", "S3_REGION", s3_region, "us-east-1", "S3 region"),
	S("STORAGE", "S3_BUCKET", s3_bucket, "luna-tasks", "S3 bucket"),
	S("STORAGE", "S3_ACCESS_KEY", s3_access_key, "", "S3 access key"),
	SECRET("STORAGE", "S3_SECRET_KEY", s3_secret_key, "", "S3 secret key"),
	I("STORAGE", "S3_TIMEOUT", s3_timeout, "300", 1, 86400, "seconds one S3 request of the result store may take"),
	I("STORAGE", "S3_CONNECT_TIMEOUT", s3_connect_timeout, "10", 1, 600, "seconds to connect to the S3 endpoint"),
	S("HANDLERS", "URL", handlers_url, "", "Handlers-compatible service; empty disables estimator/additional extract"),
	I("HANDLERS", "TIMEOUT", handlers_timeout, "30", 1, 3600, "seconds per handlers call"),
	I("HANDLERS", "CONCURRENCY", handlers_concurrency, "4", 1, 256, "parallel handlers calls per subtask"),
	L("API", "MAX_BODY_SIZE", max_body_size, "10485760", 1024, 1073741824, "largest accepted request body, bytes"),
	P("API", "DOCS_DIR", docs_dir, PKGDATADIR, "folder with luna-tasks.yaml and the manual"),
	S("API", "TIME_ZONE", time_zone, "LOCAL", "LOCAL or UTC: offset of rendered times"),
	I("API", "RESPONSE_SELF_CHECK", response_self_check, "0", 0, 1,
	  "1: check every answer against the contract, log each mismatch"),
	P("API", "METRICS_FILE", metrics_file, "/var/lib/luna-tasks/api-metrics",
	  "file the api processes of a pool share their request counters in (GET /metrics); made by the first"),
	S("API", "NETWORK_DISK_ROOTS", network_disk_roots, "", "colon-separated folders estimator tasks may read"),
	S("OUTBOUND", "ALLOW", outbound_allow, "",
	  "hosts, networks and ports URLs written by clients may reach (zip references, S3 and FTP sources): "
	  "host[:port], *.domain[:port], address[/len][:port], [ipv6[/len]][:port], comma-separated; empty: none"),
	I("SCHEDULER", "WORKERS", workers, "2", 1, CONFIG_MAX_WORKERS, "worker threads per scheduler"),
	S("SCHEDULER", "MATCH_KERNEL", match_kernel, "auto",
	  "auto, fp32, int8 or int8-256: the product that proposes clustering and cross match candidates"),
	I("SCHEDULER", "POLL_INTERVAL_MS", poll_interval_ms, "200", 10, 60000, "how often the DB is polled"),
	I("SCHEDULER", "LEASE_SECONDS", lease_seconds, "30", 2, 86400, "subtask lease; renewed while running"),
	I("SCHEDULER", "MAX_ATTEMPTS", max_attempts, "3", 1, 100, "attempts of a subtask before it fails"),
	I("SCHEDULER", "HEARTBEAT_TTL", heartbeat_ttl, "10", 1, 3600, "seconds a heartbeat stays fresh"),
	I("SCHEDULER", "MATCH_THREADS", match_threads, "0", 0, CONFIG_MAX_WORKERS,
	  "threads one matching call of a subtask uses; 0: every core the process may run on"),
	I("SCHEDULER", "SPARES_IDLE_S", spares_idle_s, "60", 0, 86400,
	  "seconds without a task after which a scheduler gives back the warm buffers it keeps for the next "
	  "task; 0: as soon as its workers find no more work"),
	D("TASKS", "CLUSTERING_THRESHOLD", clustering_threshold, "0.81", 0, 1, "default clustering threshold"),
	I("TASKS", "DEFAULT_FACE_DESCRIPTOR_VERSION", face_descriptor_version, "59", 1, 1000000, "face descriptor version"),
	I("TASKS", "DEFAULT_BODY_DESCRIPTOR_VERSION", body_descriptor_version, "110", 1, 1000000, "body descriptor version"),
	I("TASKS", "LINKER_CHUNK", linker_chunk, "1000", 1, 100000, "objects per linker subtask"),
	I("TASKS", "CROSS_MATCH_REFERENCES_PER_SUBTASK", cross_match_references, "20000", 1, 100000,
	  "references per cross match subtask"),
	I("TASKS", "CROSS_MATCH_CANDIDATE_RANGES", cross_match_candidate_ranges, "8", 1, 1024,
	  "candidate id ranges of a cross match (each of at least MATCH_BLOCK_ROWS candidates and a chunk's "
	  "references), a subtask each per reference chunk"),
	I("TASKS", "MATCH_BLOCK_ROWS", match_block_rows, "16384", 1, 1048576,
	  "candidate descriptors a cross match subtask reads and matches at a time (at least its chunk's "
	  "references)"),
	I("TASKS", "MATCH_READ_AHEAD", match_read_ahead, "1", 0, 1,
	  "1: a cross match subtask reads the next block of candidates (on a second objects connection) "
	  "while it matches the current one"),
	I("TASKS", "ESTIMATOR_CHUNK", estimator_chunk, "100", 1, 100000, "images per estimator subtask"),
	I("TASKS", "MAX_ERRORS", max_errors, "100000", 0, 10000000, "errors kept per task"),
	I("LIMITS", "MAX_QUERY_IDS", limits.max_query_ids, "100", 1, 1000,
	  "ids in a task_ids or error_ids query parameter; more: 400/12012"),
	I("LIMITS", "MAX_LIST_ITEMS", limits.max_list_items, "10000", 1, 50000,
	  "items of any list in a task body (filter id lists, tags, columns, ...); more: 400/12022; "
	  "a lower maxItems of the spec still applies"),
	I("LIMITS", "MAX_ROC_MARKUP", limits.max_roc_markup, "20000", 2, 20000, "items of a roc markup"),
	I("LIMITS", "MAX_MATCH_LIMIT", limits.max_match_limit, "1000", 1, 20000,
	  "largest limit (candidates per reference) of cross match and roc"),
	L("LIMITS", "MAX_SOURCE_FILES", limits.max_source_files, "1000000", 1, 100000000,
	  "files one estimator source may list"),
	L("LIMITS", "MAX_IMAGE_BYTES", limits.max_image_bytes, "33554432", 1024, 1073741824,
	  "one image of an estimator source, bytes (uncompressed)"),
	L("LIMITS", "MAX_ARCHIVE_BYTES", limits.max_archive_bytes, "8589934592", 1024, 1099511627776,
	  "a downloaded zip archive, bytes"),
	L("LIMITS", "MAX_ARCHIVE_UNPACKED_BYTES", limits.max_archive_unpacked_bytes, "17179869184", 1024,
	  1099511627776, "all entries of a zip archive, uncompressed, bytes"),
	I("LIMITS", "MAX_COMPRESSION_RATIO", limits.max_compression_ratio, "100", 1, 100000,
	  "uncompressed / compressed size of a zip entry of 1 MiB or more (a higher one is a zip bomb)"),
	I("LIMITS", "MAX_SOURCE_DEPTH", limits.max_source_depth, "32", 1, 1024, "folder nesting of an estimator source"),
	I("LIMITS", "SOURCE_DOWNLOAD_TIMEOUT", limits.source_download_timeout, "3600", 1, 86400,
	  "seconds a zip archive download may take"),
	I("LIMITS", "SOURCE_FTP_TIMEOUT", limits.source_ftp_timeout, "120", 1, 86400,
	  "seconds one FTP listing or file may take"),
	I("NOTIFICATIONS", "THREADS", notify.threads, "4", 0, CONFIG_MAX_NOTIFY_THREADS,
	  "threads of a scheduler that deliver notification callbacks; 0: this scheduler delivers none"),
	I("NOTIFICATIONS", "TIMEOUT", notify.timeout, "10", 1, 3600, "seconds of a callback that names no timeout"),
	I("NOTIFICATIONS", "MAX_TIMEOUT", notify.max_timeout, "60", 1, 3600,
	  "largest timeout (seconds) a callback may name; more: 400/12022"),
	I("NOTIFICATIONS", "MAX_CALLBACKS", notify.max_callbacks, "10", 1, 100,
	  "callbacks in task_callbacks, and in subtask_callbacks, of a policy; more: 400/12022"),
	I("NOTIFICATIONS", "MAX_HEADERS", notify.max_headers, "16", 0, 100, "headers of a callback; more: 400/12022"),
	I("NOTIFICATIONS", "MAX_HEADER_BYTES", notify.max_header_bytes, "1024", 16, 65536,
	  "bytes of one header of a callback, name and value; more: 400/12022"),
	I("NOTIFICATIONS", "MAX_ATTEMPTS", notify.max_attempts, "5", 1, 100,
	  "attempts to deliver one notification before it is given up as failed"),
	I("NOTIFICATIONS", "RETRY_MAX_SECONDS", notify.retry_max_seconds, "300", 1, 86400,
	  "longest wait between two attempts (the wait doubles from 1 s)"),
	I("NOTIFICATIONS", "IDLE_POLL_MAX_MS", notify.idle_poll_max_ms, "1000", 10, 60000,
	  "longest pause of a scheduler between two looks at an empty notification queue (it doubles from "
	  "[SCHEDULER] POLL_INTERVAL_MS): the most a status change waits before its notification is sent"),
	S("NOTIFICATIONS", "PUBLIC_URL", notify.public_url, "",
	  "the service's address as receivers reach it (e.g. http://tasks.example.com), the base of result_url; "
	  "empty: result_url is the path /2/tasks/{task_id}/result"),
	S("LOGGING", "LEVEL", log_level, "INFO", "DEBUG, INFO, WARNING or ERROR"),
};

static void *field(struct luna_config *cfg, const struct key *k)
{
	return (char *)cfg + k->offset;
}

static const void *cfield(const struct luna_config *cfg, const struct key *k)
{
	return (const char *)cfg + k->offset;
}

static int set_value(struct luna_config *cfg, const struct key *k, const char *val, const char *base_dir,
		     char *err, size_t errlen)
{
	char *end;
	errno = 0;
	switch (k->kind) {
	case K_STR:
	case K_PATH:
		if (strlen(val) >= k->size) {
			snprintf(err, errlen, "[%s] %s: value too long", k->section, k->name);
			return -1;
		}
		if (k->kind == K_PATH && val[0] && val[0] != '/' && base_dir) {
			if ((size_t)snprintf(field(cfg, k), k->size, "%s/%s", base_dir, val) >= k->size) {
				snprintf(err, errlen, "[%s] %s: path too long", k->section, k->name);
				return -1;
			}
		} else {
			memcpy(field(cfg, k), val, strlen(val) + 1);
		}
		return 0;
	case K_INT:
	case K_LONG: {
		long long v = strtoll(val, &end, 10);
		if (errno || end == val || *end || v < k->min || v > k->max) {
			snprintf(err, errlen, "[%s] %s: '%s' is not an integer in [%.0f, %.0f]", k->section,
				 k->name, val, k->min, k->max);
			return -1;
		}
		if (k->kind == K_INT)
			*(int *)field(cfg, k) = (int)v;
		else
			*(long *)field(cfg, k) = (long)v;
		return 0;
	}
	case K_DOUBLE: {
		double v = strtod(val, &end);
		if (errno || end == val || *end || v < k->min || v > k->max) {
			snprintf(err, errlen, "[%s] %s: '%s' is not a number in [%g, %g]", k->section, k->name,
				 val, k->min, k->max);
			return -1;
		}
		*(double *)field(cfg, k) = v;
		return 0;
	}
	}
	return -1;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static const struct key *find_key(const char *section, const char *name)
{
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcasecmp(keys[i].section, section) == 0 && strcasecmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

static int check_enums(struct luna_config *cfg, char *err, size_t errlen)
{
	if (strcasecmp(cfg->time_zone, "LOCAL") && strcasecmp(cfg->time_zone, "UTC")) {
		snprintf(err, errlen, "[API] TIME_ZONE: '%s' is not LOCAL or UTC", cfg->time_zone);
		return -1;
	}
	/* One spelling from here on, so readers may compare with strcmp. */
	for (char *p = cfg->time_zone; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	if (strcmp(cfg->storage_backend, "local") && strcmp(cfg->storage_backend, "s3")) {
		snprintf(err, errlen, "[STORAGE] BACKEND: '%s' is not local or s3", cfg->storage_backend);
		return -1;
	}
	if (strcmp(cfg->match_kernel, "auto") && strcmp(cfg->match_kernel, "fp32") &&
	    strcmp(cfg->match_kernel, "int8") && strcmp(cfg->match_kernel, "int8-256")) {
		snprintf(err, errlen, "[SCHEDULER] MATCH_KERNEL: '%s' is not auto, fp32, int8 or int8-256",
		         cfg->match_kernel);
		return -1;
	}
	if (strcmp(cfg->objects_backend, "local")) {
		snprintf(err, errlen, "[OBJECTS] BACKEND: '%s' is not supported (local)", cfg->objects_backend);
		return -1;
	}
	char why[400];
	if (outbound_spec_check(cfg->outbound_allow, why, sizeof(why))) {
		snprintf(err, errlen, "[OUTBOUND] ALLOW: %s", why);
		return -1;
	}
	static const char *levels[] = {"DEBUG", "INFO", "WARNING", "ERROR"};
	for (int i = 0; i < 4; i++)
		if (strcasecmp(cfg->log_level, levels[i]) == 0)
			return 0;
	snprintf(err, errlen, "[LOGGING] LEVEL: '%s' is not DEBUG, INFO, WARNING or ERROR", cfg->log_level);
	return -1;
}

static void inherit_objects_db(struct luna_config *cfg)
{
	struct db_settings *o = &cfg->objects_db;
	const struct db_settings *t = &cfg->tasks_db;
	if (!o->host[0])
		memcpy(o->host, t->host, sizeof(o->host));
	if (!o->port)
		o->port = t->port;
	if (!o->socket[0])
		memcpy(o->socket, t->socket, sizeof(o->socket));
	if (!o->user[0])
		memcpy(o->user, t->user, sizeof(o->user));
	if (!o->password[0])
		memcpy(o->password, t->password, sizeof(o->password));
	o->connect_timeout = t->connect_timeout;
	o->read_timeout = t->read_timeout;
}

static int read_file(struct luna_config *cfg, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "cannot open config file %s: %s", path, strerror(errno));
		return -1;
	}
	char dirbuf[1024];
	snprintf(dirbuf, sizeof(dirbuf), "%s", path);
	const char *base_dir = dirname(dirbuf);
	char line[4096], section[64] = "";
	int lineno = 0, rc = 0;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		char *s = trim(line);
		if (!*s || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			char *e = strchr(s, ']');
			if (!e || e[1] || e - s - 1 >= (long)sizeof(section)) {
				snprintf(err, errlen, "%s:%d: bad section header", path, lineno);
				rc = -1;
				break;
			}
			*e = '\0';
			snprintf(section, sizeof(section), "%s", s + 1);
			continue;
		}
		char *eq = strchr(s, '=');
		if (!eq) {
			snprintf(err, errlen, "%s:%d: expected KEY = value", path, lineno);
			rc = -1;
			break;
		}
		*eq = '\0';
		char *name = trim(s), *val = trim(eq + 1);
		const struct key *k = find_key(section, name);
		if (!k) {
			snprintf(err, errlen, "%s:%d: unknown key [%s] %s", path, lineno, section, name);
			rc = -1;
			break;
		}
		if (set_value(cfg, k, val, base_dir, err, errlen)) {
			rc = -1;
			break;
		}
	}
	fclose(f);
	return rc;
}

int config_load(struct luna_config *cfg, const char *path, char *err, size_t errlen)
{
	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (set_value(cfg, &keys[i], keys[i].def, NULL, err, errlen))
			return -1;
	if (path) {
		snprintf(cfg->path, sizeof(cfg->path), "%s", path);
		if (read_file(cfg, path, err, errlen))
			return -1;
	}
	if (check_enums(cfg, err, errlen))
		return -1;
	inherit_objects_db(cfg);
	return 0;
}

static json_object *value_json(const struct luna_config *cfg, const struct key *k)
{
	if (k->secret && *(const char *)cfield(cfg, k))
		return json_object_new_string("********");
	switch (k->kind) {
	case K_INT:
		return json_object_new_int(*(const int *)cfield(cfg, k));
	case K_LONG:
		return json_object_new_int64(*(const long *)cfield(cfg, k));
	case K_DOUBLE:
		return json_object_new_double(*(const double *)cfield(cfg, k));
	default:
		return json_object_new_string(cfield(cfg, k));
	}
}

json_object *config_to_json(const struct luna_config *cfg)
{
	json_object *root = json_object_new_object();
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		json_object *sec;
		if (!json_object_object_get_ex(root, keys[i].section, &sec)) {
			sec = json_object_new_object();
			json_object_object_add(root, keys[i].section, sec);
		}
		json_object_object_add(sec, keys[i].name, value_json(cfg, &keys[i]));
	}
	return root;
}

char *config_to_ini(const struct luna_config *cfg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	const char *last = "";
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const struct key *k = &keys[i];
		if (strcmp(last, k->section))
			fprintf(f, "%s[%s]\n", i ? "\n" : "", k->section);
		last = k->section;
		json_object *v = value_json(cfg, k);
		fprintf(f, "%s = %s\n", k->name,
			json_object_is_type(v, json_type_string) ? json_object_get_string(v)
								 : json_object_to_json_string(v));
		json_object_put(v);
	}
	fclose(f);
	return buf;
}

const char *config_default_path(void)
{
	const char *env = getenv("LUNA_TASKS_CONFIG");
	return env && *env ? env : SYSCONFDIR "/luna-tasks/luna-tasks.conf";
}
