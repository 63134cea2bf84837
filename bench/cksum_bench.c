/* SPDX-License-Identifier: MIT */
/*
 * bh-cksum-bench: the TCP stack's Internet checksum (lib/tcp/tcp_cksum.c)
 * against DPDK's rte_raw_cksum() (rte_ip.h), the same bytes, the same sizes,
 * one after the other in one process (bench/cksum.sh runs it):
 *
 *   bh-cksum-bench [ITERATIONS]
 *   bh-cksum-bench --probe [ITERATIONS]
 *
 * For each size, ITERATIONS (2,000,000) sums of a buffer at the 8 alignments
 * in turn, by each, in 20 blocks that alternate between the two; both
 * results are checked against each other (folded to 16 bits) before any
 * timing. One line per size: "SIZE OURS_NS DPDK_NS", the nanoseconds per
 * sum. Exit status 1 if the two ever disagree.
 *
 * --probe: ours alone, ITERATIONS (500,000) sums of 1,448 bytes, and one
 * number, the nanoseconds of its own CPU time per sum: how fast this CPU
 * runs right now, whatever else shares it, a yardstick for runs of other
 * benchmarks on a host whose speed wanders (bench/isolation.sh takes it
 * around every point).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_ip.h>

#include "../lib/tcp/tcp_cksum.h"

static double clock_s(clockid_t id)
{
	struct timespec t;
	clock_gettime(id, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double now_s(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

/* Both folded to the same 16-bit form: the complement of the sum. */
static uint16_t ours(const uint8_t *p, size_t n)
{
	return tcp_cksum_finish(tcp_cksum_add(0, p, n));
}

static uint16_t dpdk(const uint8_t *p, size_t n)
{
	/* rte_raw_cksum sums native 16-bit words: the complement of its result is
	 * the checksum in memory order; tcp_cksum_* give host-order values. */
	uint16_t c = (uint16_t)~rte_raw_cksum(p, n);
	return (uint16_t)(c << 8 | c >> 8);
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = {20, 64, 536, 1448, 9000, 65515};
	int probe = argc > 1 && !strcmp(argv[1], "--probe");
	long iters = argc > 1 + probe ? atol(argv[1 + probe]) : probe ? 500000 : 2000000;
	static uint8_t buf[65536 + 8];
	volatile uint32_t sink = 0;

	if (iters < 1 || argc > 2 + probe) {
		fprintf(stderr, "usage: bh-cksum-bench [--probe] [ITERATIONS]\n");
		return 2;
	}
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 131 + (i >> 7));
	if (probe) {
		/* Its own CPU time, not the clock's: another process sharing the
		 * CPU meanwhile does not count, a slower CPU does. */
		double t0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
		for (long i = 0; i < iters; i++)
			sink += tcp_cksum_add((uint32_t)i, buf + (i & 7), 1448);
		printf("%.2f\n", (clock_s(CLOCK_THREAD_CPUTIME_ID) - t0) / (double)iters * 1e9);
		return 0;
	}
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		size_t n = sizes[s];
		long it = n > 4096 ? iters / 16 : iters;
		for (size_t a = 0; a < 8; a++) {
			if (ours(buf + a, n) != dpdk(buf + a, n)) {
				fprintf(stderr, "bh-cksum-bench: %zu bytes at +%zu: %#x, DPDK %#x\n", n, a,
					ours(buf + a, n), dpdk(buf + a, n));
				return 1;
			}
		}
		/* In 20 alternating blocks, so that both see the host alike. */
		long blk = it / 20 ? it / 20 : 1;
		double to = 0, td = 0;
		for (int b = 0; b < 20; b++) {
			double t0 = now_s();
			for (long i = 0; i < blk; i++)
				sink += tcp_cksum_add((uint32_t)i, buf + (i & 7), n);
			double t1 = now_s();
			for (long i = 0; i < blk; i++)
				sink += rte_raw_cksum(buf + (i & 7), n) + (uint32_t)i;
			to += t1 - t0;
			td += now_s() - t1;
		}
		printf("%zu %.2f %.2f\n", n, to / (double)(20 * blk) * 1e9, td / (double)(20 * blk) * 1e9);
	}
	(void)sink; /* volatile: the sums are made, not optimised away */
	return 0;
}
