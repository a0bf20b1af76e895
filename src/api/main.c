/* luna-tasks-api: the FastCGI responder. spawn-fcgi starts N of these on
 * one socket; each answers one request at a time with its own persistent
 * MariaDB connection. It validates, writes task rows and returns; it never
 * runs task work. */
#include "api/http.h"
#include "api/request_metrics.h"
#include "api/router.h"
#include "backends/storage.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/timefmt.h"
#include "common/uuid.h"
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static volatile sig_atomic_t stopping;

static void on_term(int sig)
{
	(void)sig;
	stopping = 1;
}

static char *slurp(const char *dir, const char *name, size_t *len)
{
	char path[2048];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = NULL;
	if (fseek(f, 0, SEEK_END) == 0) {
		long n = ftell(f);
		if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1))) {
			*len = fread(buf, 1, (size_t)n, f);
			buf[*len] = '\0';
		}
	}
	fclose(f);
	return buf;
}

static int api_init(struct api *api, const char *cfg_path)
{
	char err[1024], path[2048];
	if (config_load(&api->cfg, cfg_path, err, sizeof(err))) {
		log_error("config: %s", err);
		return -1;
	}
	log_set_level_name(api->cfg.log_level);
	api->time_local = strcasecmp(api->cfg.time_zone, "LOCAL") == 0;
	snprintf(path, sizeof(path), "%s/luna-tasks.yaml", api->cfg.docs_dir);
	api->spec = spec_load(path, err, sizeof(err));
	if (!api->spec) {
		log_error("cannot load the spec %s: %s ([API] DOCS_DIR)", path, err);
		return -1;
	}
	api->spec_yaml = slurp(api->cfg.docs_dir, "luna-tasks.yaml", &api->spec_yaml_len);
	api->manual_html = slurp(api->cfg.docs_dir, "manual.html", &api->manual_html_len);
	api->console_html.data = slurp(api->cfg.docs_dir, "ui/index.html", &api->console_html.len);
	api->console_js.data = slurp(api->cfg.docs_dir, "ui/console.js", &api->console_js.len);
	api->console_css.data = slurp(api->cfg.docs_dir, "ui/console.css", &api->console_css.len);
	if (router_init(api, err, sizeof(err))) {
		log_error("%s", err);
		return -1;
	}
	const char *const *slots;
	size_t nslots = router_slots(&slots);
	if (request_metrics_open(api->cfg.metrics_file, slots, nslots, err, sizeof(err))) {
		log_error("cannot share the request counters: %s", err);
		return -1;
	}
	api->store = storage_open(&api->cfg, err, sizeof(err));
	if (!api->store)
		log_warn("result store unavailable: %s", err);
	api->db = db_open(&api->cfg.tasks_db);
	return api->db ? 0 : -1;
}

static void api_free(struct api *api)
{
	db_close(api->db);
	request_metrics_close();
	storage_close(api->store);
	spec_free(api->spec);
	free(api->spec_yaml);
	free(api->spec_html);
	free(api->manual_html);
	free(api->console_html.data);
	free(api->console_js.data);
	free(api->console_css.data);
	router_free();
}

static void set_request_id(struct request *req)
{
	const char *given = req_header(req, "HTTP_LUNA_REQUEST_ID");
	if (given && request_id_valid(given))
		snprintf(req->request_id, sizeof(req->request_id), "%s", given);
	else
		request_id_new(req->request_id);
	log_set_request_id(req->request_id);
}

static void split_uri(struct request *req)
{
	const char *uri = req_header(req, "DOCUMENT_URI");
	if (!uri) {
		const char *full = req_header(req, "REQUEST_URI");
		full = full ? full : "/";
		const char *q = strchr(full, '?');
		uri = q ? arena_strndup(req->arena, full, (size_t)(q - full)) : full;
	}
	req->path = uri;
}

/* Answers one request; returns its arena, freed by the caller once the answer is sent
 * (FCGX_Finish_r): freeing a 1.3 MB roc body's parsed tree takes milliseconds the client
 * need not wait for. */
static struct arena *handle(struct api *api, FCGX_Request *fr)
{
	struct request req;
	memset(&req, 0, sizeof(req));
	req.fcgi = fr;
	req.api = api;
	req.arena = arena_new();
	req.start_us = time_now_us();
	req.method = req_header(&req, "REQUEST_METHOD");
	if (!req.method)
		req.method = "GET";
	set_request_id(&req);
	split_uri(&req);
	const char *qs = req_header(&req, "QUERY_STRING");
	req.query_malformed = query_parse(qs ? qs : "", &req.query) != 0;
	router_dispatch(&req);
	if (!req.answered)
		reply_error(&req, 500, E_INTERNAL, NULL);
	int64_t elapsed_us = time_now_us() - req.start_us;
	request_metrics_observe(req.route_slot, req.status, elapsed_us);
	log_info("%s %s %d %.3f ms", req.method, req.path, req.status, (double)elapsed_us / 1000.0);
	query_free(&req.query);
	log_set_request_id(NULL);
	return req.arena;
}

/* A request that reads a large row (a task whose content is a 1.3 MB roc
 * markup) makes buffers of its size: left to glibc, each one is a fresh
 * mmap or a heap top trimmed after the request, and every 4 KiB page of it
 * faults again at the next request (most of such a GET's CPU on a
 * paravirtualised kernel). Below API_KEEP_BYTES they come from the heap and
 * stay there for the next request: one request at a time per process, so
 * the heap holds about the largest request's memory. */
#define API_KEEP_BYTES (16 << 20)
static void keep_request_memory(void)
{
	mallopt(M_MMAP_THRESHOLD, API_KEEP_BYTES);
	mallopt(M_TRIM_THRESHOLD, 2 * API_KEEP_BYTES);
}

int main(int argc, char **argv)
{
	const char *cfg_path = NULL;
	int opt;
	while ((opt = getopt(argc, argv, "c:")) != -1) {
		if (opt == 'c')
			cfg_path = optarg;
		else {
			fprintf(stderr, "usage: %s [-c CONFIG]\n", argv[0]);
			return 2;
		}
	}
	log_init("luna-tasks-api");
	keep_request_memory();
	static struct api api;
	if (api_init(&api, cfg_path ? cfg_path : config_default_path())) {
		api_free(&api);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (FCGX_Init()) {
		log_error("FCGX_Init failed");
		return 1;
	}
	FCGX_Request fr;
	/* A stop signal interrupts the wait for the next request. */
	FCGX_InitRequest(&fr, 0, FCGI_FAIL_ACCEPT_ON_INTR);
	while (!stopping && FCGX_Accept_r(&fr) == 0) {
		struct arena *arena = handle(&api, &fr);
		FCGX_Finish_r(&fr);
		arena_free(arena);
	}
	FCGX_Free(&fr, 1);
	api_free(&api);
	return 0;
}
