/* Request counts and latencies of the whole api pool. Every process of the
 * pool maps one file ([API] METRICS_FILE) holding a fixed table of counters:
 * route x status code x latency bucket. The first process creates and sizes
 * it; the others map what it made. A request costs two relaxed atomic adds
 * (its bucket and the latency sum), no lock and no I/O, and /metrics reads
 * the same table whichever process answers the scrape. */
#ifndef LUNA_API_REQUEST_METRICS_H
#define LUNA_API_REQUEST_METRICS_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * Maps path (creating it when missing, replacing it when it was made for
 * another table: another route list after an upgrade). routes[0..nroutes)
 * name the route slots, as the path label shows them ("GET:/2/tasks"); the
 * strings must outlive the mapping. 0 ok; -1 with err.
 */
int request_metrics_open(const char *path, const char *const *routes, size_t nroutes, char *err, size_t errlen);
void request_metrics_close(void);
/* Counts one answered request of route slot `route` (no-op before open). */
void request_metrics_observe(size_t route, int status, int64_t elapsed_us);
/* Writes luna_tasks_request_count_total and luna_tasks_request_duration_seconds
 * (HELP, TYPE and one series per route and status seen so far). */
void request_metrics_render(FILE *out);
#endif
