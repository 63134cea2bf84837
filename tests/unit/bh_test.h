/* SPDX-License-Identifier: MIT */
/* Minimal unit-test harness: CHECK() records, bh_test_summary() prints the line. */
#ifndef BH_TEST_H
#define BH_TEST_H
#include <stdio.h>

static int bh_test_passed, bh_test_failed;

#define CHECK(cond)                                                                \
	do {                                                                       \
		if (cond) {                                                        \
			bh_test_passed++;                                          \
		} else {                                                           \
			bh_test_failed++;                                          \
			fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
		}                                                                  \
	} while (0)

#define CHECK_EQ(a, b)                                                             \
	do {                                                                       \
		long long _a = (long long)(a), _b = (long long)(b);                \
		if (_a == _b) {                                                    \
			bh_test_passed++;                                          \
		} else {                                                           \
			bh_test_failed++;                                          \
			fprintf(stderr, "FAIL %s:%d: %s == %s (%lld != %lld)\n", __FILE__, \
				__LINE__, #a, #b, _a, _b);                         \
		}                                                                  \
	} while (0)

/* Prints "N passed, N failed" and returns the exit status. */
static inline int bh_test_summary(const char *suite)
{
	printf("%s: %d passed, %d failed\n", suite, bh_test_passed, bh_test_failed);
	return bh_test_failed ? 1 : 0;
}
#endif
