/* The pool's shared request counters (see request_metrics.h).
 *
 * File layout: a header (magic, a hash of the table's shape, the size), then
 * one cell per route x status slot; a cell is NBUCKETS + 1 counts (the last
 * one above the largest bound) and the latency sum in microseconds. A count
 * is the sum of its cell's buckets, so a request adds to two words only. */
#include "api/request_metrics.h"
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define METRICS_MAGIC 0x31534d4b53544c4cULL   /* "LLTSKMS1" */

/* Upper bounds of the latency buckets, seconds (those of the original
 * service's request histogram), and the same in microseconds. */
static const char *const bucket_text[] = {"0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01",
					  "0.025",  "0.05",    "0.075",  "0.1",   "0.25",   "0.5",   "0.75",
					  "1",      "2.5",     "5",      "7.5",   "10"};
static const int64_t bucket_us[] = {100,    250,    500,    1000,    2500,    5000,    10000,
				    25000,  50000,  75000,  100000,  250000,  500000,  750000,
				    1000000, 2500000, 5000000, 7500000, 10000000};
#define NBUCKETS (sizeof(bucket_us) / sizeof(bucket_us[0]))

/* The statuses the api answers with; any other is counted as "other". */
static const int statuses[] = {200, 201, 202, 204, 400, 401, 403, 404, 405, 409, 413, 415, 422, 429,
			       500, 501, 502, 503, 504};
#define NSTATUSES (sizeof(statuses) / sizeof(statuses[0]))
#define STATUS_SLOTS (NSTATUSES + 1)

/* Words of one cell: NBUCKETS bounded buckets, the overflow bucket, the sum. */
#define CELL_WORDS (NBUCKETS + 2)
#define SUM_WORD (NBUCKETS + 1)

struct metrics_header {
	uint64_t magic;
	uint64_t shape;     /* hash of routes, statuses and buckets */
	uint64_t size;      /* bytes of the whole file */
	uint64_t reserved;
};

static struct {
	void *map;
	size_t size;
	_Atomic uint64_t *cells;
	const char *const *routes;
	size_t nroutes;
} shm;

static uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static uint64_t table_shape(const char *const *routes, size_t nroutes)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < nroutes; i++)
		h = fnv1a(h, routes[i], strlen(routes[i]) + 1);
	h = fnv1a(h, statuses, sizeof(statuses));
	return fnv1a(h, bucket_us, sizeof(bucket_us));
}

/* Fills a fresh (empty) file: zeroed counters and the header. */
static int init_file(int fd, const struct metrics_header *want)
{
	if (ftruncate(fd, (off_t)want->size))
		return -1;
	return pwrite(fd, want, sizeof(*want), 0) == (ssize_t)sizeof(*want) ? 0 : -1;
}

static int header_matches(int fd, const struct metrics_header *want)
{
	struct metrics_header h;
	return pread(fd, &h, sizeof(h), 0) == (ssize_t)sizeof(h) && memcmp(&h, want, sizeof(h)) == 0;
}

/* A file of another shape (another version's routes) is replaced by a new
 * one under the same name: processes of that version keep their mapping. */
static int replace_file(const char *path, const struct metrics_header *want)
{
	char tmp[4096];
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= sizeof(tmp))
		return -1;
	int fd = mkstemp(tmp);
	if (fd < 0)
		return -1;
	if (init_file(fd, want) || rename(tmp, path)) {
		unlink(tmp);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* Opens path ready to map: locked while it is checked or made, so that one
 * process of a starting pool creates it and the others wait and map it.
 * Returns the fd (unlocked), or -1. */
static int open_ready(const char *path, const struct metrics_header *want)
{
	for (int attempt = 0; attempt < 8; attempt++) {
		int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0)
			return -1;
		struct stat held, named;
		if (flock(fd, LOCK_EX) || fstat(fd, &held)) {
			close(fd);
			return -1;
		}
		/* Replaced while we waited for the lock: open the new one. */
		if (stat(path, &named) || named.st_ino != held.st_ino || named.st_dev != held.st_dev) {
			close(fd);
			continue;
		}
		int ok = held.st_size == 0 ? init_file(fd, want) == 0 : header_matches(fd, want);
		if (!ok && held.st_size != 0 && replace_file(path, want) == 0) {
			close(fd);
			continue;
		}
		flock(fd, LOCK_UN);
		if (ok)
			return fd;
		close(fd);
		return -1;
	}
	errno = EAGAIN;
	return -1;
}

int request_metrics_open(const char *path, const char *const *routes, size_t nroutes, char *err, size_t errlen)
{
	size_t cells = nroutes * STATUS_SLOTS * CELL_WORDS;
	struct metrics_header want = {METRICS_MAGIC, table_shape(routes, nroutes),
				      sizeof(struct metrics_header) + cells * sizeof(uint64_t), 0};
	int fd = open_ready(path, &want);
	if (fd < 0) {
		snprintf(err, errlen, "[API] METRICS_FILE %s: %s", path, strerror(errno));
		return -1;
	}
	void *map = mmap(NULL, want.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	int map_errno = errno;
	close(fd);
	if (map == MAP_FAILED) {
		snprintf(err, errlen, "[API] METRICS_FILE %s: mmap: %s", path, strerror(map_errno));
		return -1;
	}
	shm.map = map;
	shm.size = want.size;
	shm.cells = (_Atomic uint64_t *)((char *)map + sizeof(struct metrics_header));
	shm.routes = routes;
	shm.nroutes = nroutes;
	return 0;
}

void request_metrics_close(void)
{
	if (shm.map)
		munmap(shm.map, shm.size);
	memset(&shm, 0, sizeof(shm));
}

static size_t status_slot(int status)
{
	for (size_t i = 0; i < NSTATUSES; i++)
		if (statuses[i] == status)
			return i;
	return NSTATUSES;
}

static _Atomic uint64_t *cell(size_t route, size_t status_slot_index)
{
	return shm.cells + (route * STATUS_SLOTS + status_slot_index) * CELL_WORDS;
}

void request_metrics_observe(size_t route, int status, int64_t elapsed_us)
{
	if (!shm.map || route >= shm.nroutes)
		return;
	size_t b = 0;
	while (b < NBUCKETS && elapsed_us > bucket_us[b])
		b++;
	_Atomic uint64_t *c = cell(route, status_slot(status));
	atomic_fetch_add_explicit(&c[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&c[SUM_WORD], (uint64_t)(elapsed_us > 0 ? elapsed_us : 0), memory_order_relaxed);
}

/* One cell as read at scrape time. */
struct cell_view {
	uint64_t cumulative[NBUCKETS + 1];   /* the last one is +Inf: the count */
	uint64_t sum_us;
};

static void read_cell(size_t route, size_t slot, struct cell_view *v)
{
	_Atomic uint64_t *c = cell(route, slot);
	uint64_t run = 0;
	for (size_t b = 0; b <= NBUCKETS; b++) {
		run += atomic_load_explicit(&c[b], memory_order_relaxed);
		v->cumulative[b] = run;
	}
	v->sum_us = atomic_load_explicit(&c[SUM_WORD], memory_order_relaxed);
}

static void status_label(size_t slot, char *buf, size_t len)
{
	if (slot < NSTATUSES)
		snprintf(buf, len, "%d", statuses[slot]);
	else
		snprintf(buf, len, "other");
}

/* Both families come from one read of the table, so that each series'
 * count and its histogram's _count agree. */
void request_metrics_render(FILE *out)
{
	size_t n = shm.map ? shm.nroutes * STATUS_SLOTS : 0;
	struct cell_view *views = n ? calloc(n, sizeof(*views)) : NULL;
	if (!views)
		n = 0;
	for (size_t i = 0; i < n; i++)
		read_cell(i / STATUS_SLOTS, i % STATUS_SLOTS, &views[i]);
	char status[16];
	fputs("# HELP luna_tasks_request_count_total Requests answered by the api pool, by route and status.\n"
	      "# TYPE luna_tasks_request_count_total counter\n", out);
	for (size_t i = 0; i < n; i++) {
		if (!views[i].cumulative[NBUCKETS])
			continue;
		status_label(i % STATUS_SLOTS, status, sizeof(status));
		fprintf(out, "luna_tasks_request_count_total{path=\"%s\",status_code=\"%s\"} %llu\n",
			shm.routes[i / STATUS_SLOTS], status, (unsigned long long)views[i].cumulative[NBUCKETS]);
	}
	fputs("# HELP luna_tasks_request_duration_seconds Time from a request's arrival in an api process to its "
	      "answer, by route and status.\n"
	      "# TYPE luna_tasks_request_duration_seconds histogram\n", out);
	for (size_t i = 0; i < n; i++) {
		const struct cell_view *v = &views[i];
		if (!v->cumulative[NBUCKETS])
			continue;
		status_label(i % STATUS_SLOTS, status, sizeof(status));
		const char *route = shm.routes[i / STATUS_SLOTS];
		for (size_t b = 0; b <= NBUCKETS; b++)
			fprintf(out,
				"luna_tasks_request_duration_seconds_bucket{path=\"%s\",status_code=\"%s\",le=\"%s\"} "
				"%llu\n",
				route, status, b < NBUCKETS ? bucket_text[b] : "+Inf", (unsigned long long)v->cumulative[b]);
		fprintf(out, "luna_tasks_request_duration_seconds_sum{path=\"%s\",status_code=\"%s\"} %.6f\n", route,
			status, (double)v->sum_us / 1e6);
		fprintf(out, "luna_tasks_request_duration_seconds_count{path=\"%s\",status_code=\"%s\"} %llu\n", route,
			status, (unsigned long long)v->cumulative[NBUCKETS]);
	}
	free(views);
}
