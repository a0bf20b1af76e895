/* Minimal checking for the unit test programs: each CHECK counts; a failed
 * one prints where and the condition, then the printf-style message when one
 * is given (CHECK(n == 3, "n is %d", n)). CHECK_DONE prints
 * "N passed, M failed" and gives the exit status. */
#ifndef LUNA_CHECK_H
#define LUNA_CHECK_H
#include <stdio.h>

static int check_passed, check_failed;

#define CHECK(cond, ...)                                                               \
	do {                                                                           \
		if (cond) {                                                            \
			check_passed++;                                                \
		} else {                                                               \
			check_failed++;                                                \
			printf("FAIL %s:%d: %s", __FILE__, __LINE__, #cond);           \
			__VA_OPT__(printf(": "); printf(__VA_ARGS__);)                 \
			printf("\n");                                                  \
		}                                                                      \
	} while (0)

#define CHECK_DONE()                                                                   \
	(printf("%d passed, %d failed\n", check_passed, check_failed), check_failed ? 1 : 0)
#endif
