/* The per-request cost of the pool's shared request counters
 * (request_metrics_observe: the route's bucket and sum, two relaxed atomic
 * adds into a mapped file) next to a reference every request already pays:
 * its access log line, formatted and written to a file (here /dev/null), as
 * luna-tasks-api's log does. CPU time of the process (CLOCK_PROCESS_CPUTIME_ID),
 * best of ROUNDS, nanoseconds per call. */
#include "api/request_metrics.h"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const routes[] = {"unmatched", "GET:/version", "GET:/2/tasks", "GET:/2/tasks/{task_id}"};

static double cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double observe_ns(long n)
{
	double t0 = cpu_ns();
	for (long i = 0; i < n; i++)
		request_metrics_observe(3, i & 7 ? 200 : 404, 900 + (i & 1023));
	return (cpu_ns() - t0) / (double)n;
}

static double log_line_ns(long n, int fd)
{
	char line[256];
	double t0 = cpu_ns();
	for (long i = 0; i < n; i++) {
		int len = snprintf(line, sizeof(line), "%s %s %d %.3f ms\n", "GET", "/2/tasks/17", 200,
				   (double)(900 + (i & 1023)) / 1000.0);
		if (write(fd, line, (size_t)len) != len)
			return -1;
	}
	return (cpu_ns() - t0) / (double)n;
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "/tmp/bench-api-metrics";
	long n = argc > 2 ? atol(argv[2]) : 2000000;
	int rounds = argc > 3 ? atoi(argv[3]) : 5;
	char err[256];
	if (request_metrics_open(path, routes, 4, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	int fd = open("/dev/null", O_WRONLY);
	double ours = 1e30, ref = 1e30;
	for (int r = 0; r < rounds; r++) {
		double a = observe_ns(n), b = log_line_ns(n, fd);
		ours = a < ours ? a : ours;
		ref = b < ref ? b : ref;
	}
	printf("request_metrics_observe        %8.1f ns CPU per request\n", ours);
	printf("reference: access log line     %8.1f ns CPU per request (snprintf + write to /dev/null)\n", ref);
	printf("ratio ours/reference           %8.3f\n", ours / ref);
	close(fd);
	request_metrics_close();
	unlink(path);
	return 0;
}
