/* The api pool's shared request counters (src/api/request_metrics.c):
 * processes that map one file count into the same table; a file of another
 * route list is replaced without disturbing a process that still maps it. */
#include "api/request_metrics.h"
#include "check.h"
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHILDREN 4
#define PER_CHILD 5000

static const char *const routes[] = {"unmatched", "GET:/version", "GET:/2/tasks/{task_id}"};
static const char *const other_routes[] = {"unmatched", "GET:/version", "GET:/2/tasks/{task_id}", "GET:/metrics"};

static char *render(void)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	request_metrics_render(f);
	fclose(f);
	return text;
}

/* The value of the sample line that starts with `series ` in text, or -1. */
static double sample(const char *text, const char *series)
{
	size_t n = strlen(series);
	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			return atof(p + n + 1);
	return -1;
}

/* CHILDREN processes open the file themselves (as the pool's processes do,
 * racing to create it) and count PER_CHILD requests each. */
static void count_in_children(const char *path)
{
	pid_t pids[CHILDREN];
	for (int c = 0; c < CHILDREN; c++) {
		pids[c] = fork();
		if (pids[c] == 0) {
			char err[256];
			if (request_metrics_open(path, routes, 3, err, sizeof(err)))
				_exit(2);
			for (int i = 0; i < PER_CHILD; i++)
				request_metrics_observe(2, i % 2 ? 200 : 404, 300 + i % 7);
			request_metrics_observe(1, 299, 20000000);
			_exit(0);
		}
	}
	for (int c = 0; c < CHILDREN; c++) {
		int st = -1;
		waitpid(pids[c], &st, 0);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d: status %d", c, st);
	}
}

static void test_shared_between_processes(const char *path)
{
	count_in_children(path);
	char err[256];
	CHECK(request_metrics_open(path, routes, 3, err, sizeof(err)) == 0, "%s", err);
	char *text = render();
	CHECK(sample(text, "luna_tasks_request_count_total{path=\"GET:/2/tasks/{task_id}\",status_code=\"200\"}") ==
	      CHILDREN * PER_CHILD / 2);
	CHECK(sample(text, "luna_tasks_request_count_total{path=\"GET:/2/tasks/{task_id}\",status_code=\"404\"}") ==
	      CHILDREN * PER_CHILD / 2);
	/* 300..306 us: all in the 0.0005 s bucket, none in 0.00025. */
	CHECK(sample(text, "luna_tasks_request_duration_seconds_bucket{path=\"GET:/2/tasks/{task_id}\","
			   "status_code=\"200\",le=\"0.00025\"}") == 0);
	CHECK(sample(text, "luna_tasks_request_duration_seconds_bucket{path=\"GET:/2/tasks/{task_id}\","
			   "status_code=\"200\",le=\"0.0005\"}") == CHILDREN * PER_CHILD / 2);
	/* A status outside the list, and a time above the last bound. */
	CHECK(sample(text, "luna_tasks_request_count_total{path=\"GET:/version\",status_code=\"other\"}") == CHILDREN);
	CHECK(sample(text, "luna_tasks_request_duration_seconds_bucket{path=\"GET:/version\",status_code=\"other\","
			   "le=\"10\"}") == 0);
	CHECK(sample(text, "luna_tasks_request_duration_seconds_bucket{path=\"GET:/version\",status_code=\"other\","
			   "le=\"+Inf\"}") == CHILDREN);
	CHECK(sample(text, "luna_tasks_request_duration_seconds_sum{path=\"GET:/version\",status_code=\"other\"}") ==
	      20.0 * CHILDREN);
	/* Nothing counted: no series. */
	CHECK(!strstr(text, "path=\"unmatched\""));
	free(text);
}

static void test_other_routes_replace_the_file(const char *path)
{
	struct stat before, after;
	CHECK(stat(path, &before) == 0);
	/* This process still maps the old file (test_shared_between_processes). */
	request_metrics_observe(1, 200, 10);
	pid_t pid = fork();
	if (pid == 0) {
		char err[256];
		_exit(request_metrics_open(path, other_routes, 4, err, sizeof(err)) ? 2 : 0);
	}
	int st = -1;
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK(stat(path, &after) == 0 && after.st_ino != before.st_ino, "a new file under the same name");
	request_metrics_observe(1, 200, 10);
	char *text = render();
	CHECK(sample(text, "luna_tasks_request_count_total{path=\"GET:/version\",status_code=\"200\"}") == 2,
	      "the old mapping keeps counting");
	free(text);
	request_metrics_close();
	char err[256];
	CHECK(request_metrics_open(path, other_routes, 4, err, sizeof(err)) == 0, "%s", err);
	text = render();
	CHECK(!strstr(text, "luna_tasks_request_count_total{"), "the new file starts from zero");
	free(text);
	request_metrics_close();
}

static void test_unwritable_folder(void)
{
	char err[256] = "";
	CHECK(request_metrics_open("/proc/no-such-folder/api-metrics", routes, 3, err, sizeof(err)) != 0);
	CHECK(strstr(err, "[API] METRICS_FILE") != NULL, "%s", err);
	char *text = render();
	CHECK(strstr(text, "# TYPE luna_tasks_request_count_total counter\n") != NULL);
	free(text);
}

int main(void)
{
	char dir[] = "/tmp/luna-request-metrics-XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	char path[256];
	snprintf(path, sizeof(path), "%s/api-metrics", dir);
	test_shared_between_processes(path);
	test_other_routes_replace_the_file(path);
	test_unwritable_folder();
	unlink(path);
	rmdir(dir);
	return CHECK_DONE();
}
