/*
 * bench_data.h - deterministic benchmark data shared by the C bench and the
 * C++ FAISS reference: n unit rows of dimension d from a fixed seed, so both
 * programs search exactly the same vectors; and the CPU time both measure.
 *
 * Workload: 20000 x 512 floats (40 MB) per set, generated in ~0.1 s.
 */
#ifndef LUNA_BENCH_DATA_H
#define LUNA_BENCH_DATA_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>

static inline uint64_t bench_rng(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Rows: sum of three uniforms (roughly Gaussian), L2-normalised. */
static inline void bench_fill(float *x, size_t n, size_t d, uint64_t seed)
{
	uint64_t st = seed;
	for (size_t i = 0; i < n; i++) {
		double ss = 0;
		for (size_t k = 0; k < d; k++) {
			double v = 0;
			for (int u = 0; u < 3; u++)
				v += (double)(bench_rng(&st) >> 11) / 9007199254740992.0 - 0.5;
			x[i * d + k] = (float)v;
			ss += v * v;
		}
		for (size_t k = 0; k < d; k++)
			x[i * d + k] = (float)(x[i * d + k] / sqrt(ss));
	}
}

/* CPU time of the whole process (every thread), user + system: on a loaded
 * machine wall time mostly measures the other processes. */
static inline double bench_cpu_now(void)
{
	struct rusage u;
	getrusage(RUSAGE_SELF, &u);
	return (double)u.ru_utime.tv_sec + (double)u.ru_stime.tv_sec +
	       ((double)u.ru_utime.tv_usec + (double)u.ru_stime.tv_usec) * 1e-6;
}

#endif /* LUNA_BENCH_DATA_H */
