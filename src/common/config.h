/* Configuration: an INI file (sections, KEY = value, # comments) read into
 * one struct. Every key is described once in the table of config.c (type,
 * default, whether it is secret); the loader, /2/config and the manual's
 * reference all come from that table. */
#ifndef LUNA_CONFIG_H
#define LUNA_CONFIG_H
#include <json-c/json.h>
#include <stddef.h>

/* Upper bound of [SCHEDULER] WORKERS: per-worker tables may have this fixed size. */
#define CONFIG_MAX_WORKERS 256
/* Upper bound of [NOTIFICATIONS] THREADS. */
#define CONFIG_MAX_NOTIFY_THREADS 16

struct db_settings {
	char host[256];
	int port;
	char socket[512];
	char user[128];
	char password[256];
	char name[128];
	int connect_timeout;
	int read_timeout;
	/* Not a config key: > 0 bounds every statement of the connection on the
	 * server too (row lock waits and execution, seconds); 0 = the server's. */
	int statement_timeout;
};

/* [LIMITS]: every list and number a client sizes is bounded by one of these. */
struct luna_limits {
	int max_query_ids;                /* ids in a task_ids / error_ids query list */
	int max_list_items;               /* items of any list in a task body */
	int max_roc_markup;               /* items of a roc markup */
	int max_match_limit;              /* limit of cross match and roc */
	long max_source_files;            /* names one estimator source may list */
	long max_image_bytes;             /* one image of a source */
	long max_archive_bytes;           /* a downloaded zip archive */
	long max_archive_unpacked_bytes;  /* all entries of a zip archive, uncompressed */
	int max_compression_ratio;        /* uncompressed / compressed size of a zip entry */
	int max_source_depth;             /* folder nesting of a source */
	int source_download_timeout;      /* seconds for downloading a zip archive */
	int source_ftp_timeout;           /* seconds for one FTP listing or file */
};

/* [NOTIFICATIONS]: callbacks of task notification policies (src/notify/). */
struct luna_notifications {
	int threads;                      /* delivery threads per scheduler; 0: this scheduler delivers none */
	int timeout;                      /* seconds of a callback that names none */
	int max_timeout;                  /* largest timeout a callback may name */
	int max_callbacks;                /* callbacks per list of a policy */
	int max_headers;                  /* headers per callback */
	int max_header_bytes;             /* one header, name and value */
	int max_attempts;                 /* deliveries of one notification before it fails */
	int retry_max_seconds;            /* cap of the back-off between attempts */
	int idle_poll_max_ms;             /* longest pause between two looks at an empty queue */
	char public_url[512];             /* base of result_url; empty: a path */
};

struct luna_config {
	char path[1024];                  /* file the config came from */
	struct db_settings tasks_db;
	struct db_settings objects_db;    /* empty fields inherit from tasks_db */
	char objects_backend[32];
	char storage_backend[32];
	char storage_path[1024];
	char s3_endpoint[512], s3_region[64], s3_bucket[128], s3_access_key[256], s3_secret_key[256];
	int s3_timeout, s3_connect_timeout;  /* seconds per result-store request / connect */
	char handlers_url[512];
	int handlers_timeout, handlers_concurrency;
	long max_body_size;
	char docs_dir[1024];
	char metrics_file[1024];          /* the api pool's shared request counters (api/request_metrics.h) */
	char time_zone[16];               /* LOCAL or UTC */
	char match_kernel[16];            /* auto, fp32, int8 or int8-256 (src/match) */
	int response_self_check;          /* check every answer against the contract */
	int workers, poll_interval_ms, lease_seconds, max_attempts, heartbeat_ttl;
	int match_threads;                /* threads of one matching call; 0: every core */
	int spares_idle_s;                /* idle seconds before the warm buffers go back (common/big_alloc.h) */
	double clustering_threshold;
	int face_descriptor_version, body_descriptor_version;
	int linker_chunk, estimator_chunk, max_errors;
	int cross_match_references;       /* references per cross match subtask */
	int cross_match_candidate_ranges; /* candidate id ranges per reference chunk (at most) */
	int match_block_rows;             /* candidates read and matched at a time */
	int match_read_ahead;             /* 1: the next candidate block is read while one is matched */
	char log_level[16];
	char network_disk_roots[2048];    /* colon-separated allowed roots */
	char outbound_allow[2048];        /* hosts/networks client-given URLs may reach (common/outbound.h) */
	struct luna_limits limits;
	struct luna_notifications notify;
};

/* Defaults, then the file (if path is not NULL). Relative paths in the file
 * are resolved against the file's folder. 0 ok; -1 with err naming the key. */
int config_load(struct luna_config *cfg, const char *path, char *err, size_t errlen);
/* {"SECTION": {"KEY": value}} with secrets shown as "********". */
json_object *config_to_json(const struct luna_config *cfg);
/* The same as INI text; caller frees. */
char *config_to_ini(const struct luna_config *cfg);
/* Path of the config file: -c argument, else $LUNA_TASKS_CONFIG, else the system one. */
const char *config_default_path(void);
#endif
