/* The unit tests' random numbers: xorshift64*, one stream per test program,
 * from the seed the program defines before including this header
 * (#define TEST_RNG_SEED 777), so every run draws the same values. */
#ifndef LUNA_TEST_RNG_H
#define LUNA_TEST_RNG_H
#include <stdint.h>

#ifndef TEST_RNG_SEED
#error "define TEST_RNG_SEED before including test_rng.h"
#endif

static uint64_t test_rng_state = TEST_RNG_SEED;

/* Uniform in [-1, 1). */
static inline double uniform(void)
{
	test_rng_state ^= test_rng_state >> 12;
	test_rng_state ^= test_rng_state << 25;
	test_rng_state ^= test_rng_state >> 27;
	return (double)((test_rng_state * 2685821657736338717ull) >> 11) * 0x1p-52 - 1.0;
}
#endif
