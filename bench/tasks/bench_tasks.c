/* bench/tasks helper: makes the benchmark's objects and times the bare
 * matching kernels on exactly the same descriptors.
 *
 *   bench_tasks gen FILE MARKUP N D PEOPLE SEED ACCOUNT USER_DATA
 *       writes N faces (JSON lines for luna-tasks-admin import, vector_b64)
 *       and MARKUP, a JSON array of {face_id, label} for a roc task
 *   bench_tasks kernel WHICH N D PEOPLE SEED_A SEED_B THRESHOLD LIMIT
 *       regenerates the two sets and prints the seconds one kernel takes
 *       (WHICH), wall time then CPU time of the process (every thread):
 *       clustering (match_pairs_above on A), cross_match (match_topk A x B)
 *       or roc (match_pair_histogram on A plus match_topk A x A)
 *
 * Descriptors are unit vectors around one random centre per person (samples
 * of a person about 0.94 similar), from a seeded generator, so both modes
 * see the same floats. Workload: N = 20000, D = 512. */
#include "match/match.h"
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HIST_BINS (1u << 20)

struct rng {
	uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double rng_gauss(struct rng *r)
{
	double u1 = ((double)(rng_next(r) >> 11) + 1.0) / 9007199254740993.0;
	double u2 = (double)(rng_next(r) >> 11) / 9007199254740992.0;
	return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static void unit(float *v, size_t d)
{
	double s = 0;
	for (size_t i = 0; i < d; i++)
		s += (double)v[i] * v[i];
	for (size_t i = 0; i < d; i++)
		v[i] = (float)(v[i] / sqrt(s));
}

/* n descriptors (row-major) and their person labels. */
static float *make_set(size_t n, size_t d, size_t people, uint64_t seed, int32_t *labels)
{
	struct rng r = {seed};
	float *centres = malloc(people * d * sizeof(float)), *x = malloc(n * d * sizeof(float));
	if (!centres || !x) {
		free(centres);
		free(x);
		return NULL;
	}
	struct rng rc = {0x5eed};      /* the same people in every set */
	for (size_t p = 0; p < people; p++) {
		for (size_t k = 0; k < d; k++)
			centres[p * d + k] = (float)rng_gauss(&rc);
		unit(centres + p * d, d);
	}
	for (size_t i = 0; i < n; i++) {
		size_t p = (size_t)(rng_next(&r) % people);
		for (size_t k = 0; k < d; k++)
			x[i * d + k] = centres[p * d + k] + (float)(rng_gauss(&r) * 0.25 / sqrt((double)d));
		unit(x + i * d, d);
		if (labels)
			labels[i] = (int32_t)p;
	}
	free(centres);
	return x;
}

static void b64_encode(const unsigned char *in, size_t n, FILE *out)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
			     (i + 2 < n ? in[i + 2] : 0);
		fputc(tab[v >> 18 & 63], out);
		fputc(tab[v >> 12 & 63], out);
		fputc(i + 1 < n ? tab[v >> 6 & 63] : '=', out);
		fputc(i + 2 < n ? tab[v & 63] : '=', out);
	}
}

static void uuid_from(struct rng *r, char out[37])
{
	uint64_t a = rng_next(r), b = rng_next(r);
	a = (a & ~0xf000ull) | 0x4000ull;
	b = (b & ~(3ull << 62)) | (2ull << 62);
	snprintf(out, 37, "%08x-%04x-%04x-%04x-%012llx", (unsigned)(a >> 32), (unsigned)(a >> 16 & 0xffff),
		 (unsigned)(a & 0xffff), (unsigned)(b >> 48), (unsigned long long)(b & 0xffffffffffffull));
}

static int cmd_gen(char **argv)
{
	size_t n = strtoul(argv[2], NULL, 10), d = strtoul(argv[3], NULL, 10), people = strtoul(argv[4], NULL, 10);
	uint64_t seed = strtoull(argv[5], NULL, 10);
	int32_t *labels = malloc(n * sizeof(int32_t));
	float *x = make_set(n, d, people, seed, labels);
	FILE *f = fopen(argv[0], "w"), *m = fopen(argv[1], "w");
	struct rng ids = {seed ^ 0xabcdefull};
	int rc = 1;
	if (!x || !labels || !f || !m)
		goto out;
	fputc('[', m);
	for (size_t i = 0; i < n; i++) {
		char id[37];
		uuid_from(&ids, id);
		unsigned char raw[4];
		fprintf(f, "{\"face_id\":\"%s\",\"account_id\":\"%s\",\"user_data\":\"%s\",\"descriptors\":[{\"type\":"
			   "\"face\",\"vector_b64\":\"", id, argv[6], argv[7]);
		unsigned char *buf = malloc(d * 4);
		for (size_t k = 0; k < d; k++) {
			memcpy(raw, &x[i * d + k], 4);   /* little-endian host */
			memcpy(buf + 4 * k, raw, 4);
		}
		b64_encode(buf, d * 4, f);
		free(buf);
		fputs("\"}]}\n", f);
		fprintf(m, "%s{\"face_id\":\"%s\",\"label\":%d}", i ? "," : "", id, labels[i]);
	}
	fputs("]\n", m);
	rc = 0;
out:
	if (f)
		fclose(f);
	if (m)
		fclose(m);
	free(x);
	free(labels);
	return rc;
}

static double clock_s(clockid_t clock)
{
	struct timespec t;
	clock_gettime(clock, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int count_pair(void *ud, uint32_t i, uint32_t j, float sim)
{
	(void)i;
	(void)j;
	(void)sim;
	(*(uint64_t *)ud)++;
	return 0;
}

static int cmd_kernel(const char *which, char **argv)
{
	size_t n = strtoul(argv[0], NULL, 10), d = strtoul(argv[1], NULL, 10), people = strtoul(argv[2], NULL, 10);
	uint64_t sa = strtoull(argv[3], NULL, 10), sb = strtoull(argv[4], NULL, 10);
	float threshold = strtof(argv[5], NULL);
	size_t k = strtoul(argv[6], NULL, 10);
	int32_t *labels = malloc(n * sizeof(int32_t));
	float *a = make_set(n, d, people, sa, labels), *b = make_set(n, d, people, sb, NULL);
	struct match_hit *hits = malloc(n * k * sizeof(*hits));
	size_t *counts = malloc(n * sizeof(size_t));
	uint64_t *pos = malloc(HIST_BINS * sizeof(uint64_t)), *neg = malloc(HIST_BINS * sizeof(uint64_t));
	uint64_t pairs = 0;
	int rc = 1;
	if (!labels || !a || !b || !hits || !counts || !pos || !neg)
		goto out;
	match_normalize(a, n, d);
	match_normalize(b, n, d);
	double t0 = clock_s(CLOCK_MONOTONIC), cpu0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
	if (strcmp(which, "clustering") == 0) {
		if (match_pairs_above(a, n, d, threshold, 0, count_pair, &pairs))
			goto out;
	} else if (strcmp(which, "cross_match") == 0) {
		if (match_topk(a, n, b, n, d, k, 0.0f, 0, 0, hits, counts))
			goto out;
	} else if (strcmp(which, "roc") == 0) {
		if (match_pair_histogram(a, labels, n, d, HIST_BINS, 0, pos, neg) ||
		    match_topk(a, n, a, n, d, k, 0.0f, 1, 0, hits, counts))
			goto out;
	} else {
		fprintf(stderr, "unknown kernel %s\n", which);
		goto out;
	}
	printf("%.3f %.3f\n", clock_s(CLOCK_MONOTONIC) - t0, clock_s(CLOCK_PROCESS_CPUTIME_ID) - cpu0);
	rc = 0;
out:
	free(labels);
	free(a);
	free(b);
	free(hits);
	free(counts);
	free(pos);
	free(neg);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc == 10 && strcmp(argv[1], "gen") == 0)
		return cmd_gen(argv + 2);
	if (argc == 10 && strcmp(argv[1], "kernel") == 0)
		return cmd_kernel(argv[2], argv + 3);
	fputs("usage: bench_tasks gen FILE MARKUP N D PEOPLE SEED ACCOUNT USER_DATA\n"
	      "       bench_tasks kernel WHICH N D PEOPLE SEED_A SEED_B THRESHOLD LIMIT\n",
	      stderr);
	return 2;
}
