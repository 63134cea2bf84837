/* SPDX-License-Identifier: MIT */
/* Helpers for lib/iso's unit tests (not part of the library). */
#ifndef ISO_TEST_H
#define ISO_TEST_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/unit/bh_fds.h"

/* Waits for a child; true if it exited with status 0. */
static inline bool iso_test_child_ok(pid_t pid)
{
	int st = 0;
	pid_t r;
	while ((r = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
		;
	return r == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static uint64_t iso_test_rng = 0x9e3779b97f4a7c15ull;

static inline uint32_t iso_test_rnd(void) /* xorshift64*, fixed seed */
{
	iso_test_rng ^= iso_test_rng >> 12;
	iso_test_rng ^= iso_test_rng << 25;
	iso_test_rng ^= iso_test_rng >> 27;
	return (uint32_t)((iso_test_rng * 2685821657736338717ull) >> 32);
}
#endif
