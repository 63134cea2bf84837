/* SPDX-License-Identifier: MIT */
/*
 * bh-cksum-bench: the TCP stack's Internet checksum (lib/tcp/tcp_cksum.c)
 * against DPDK's rte_raw_cksum() (rte_ip.h), the same bytes, the same sizes,
 * one after the other in one process (bench/cksum.sh runs it):
 *
 *   bh-cksum-bench [ITERATIONS]
 *
 * For each size, ITERATIONS (2,000,000) sums of a buffer at the 8 alignments
 * in turn, by each; both results are checked against each other (folded to
 * 16 bits) before any timing. One line per size: "SIZE OURS_NS DPDK_NS", the
 * nanoseconds per sum. Exit status 1 if the two ever disagree.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <rte_ip.h>

#include "../lib/tcp/tcp_cksum.h"

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
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
	long iters = argc > 1 ? atol(argv[1]) : 2000000;
	static uint8_t buf[65536 + 8];
	volatile uint32_t sink = 0;

	if (iters < 1) {
		fprintf(stderr, "usage: bh-cksum-bench [ITERATIONS]\n");
		return 2;
	}
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 131 + (i >> 7));
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
		double t0 = now_s();
		for (long i = 0; i < it; i++)
			sink += tcp_cksum_add((uint32_t)i, buf + (i & 7), n);
		double t1 = now_s();
		for (long i = 0; i < it; i++)
			sink += rte_raw_cksum(buf + (i & 7), n) + (uint32_t)i;
		double t2 = now_s();
		printf("%zu %.2f %.2f\n", n, (t1 - t0) / (double)it * 1e9, (t2 - t1) / (double)it * 1e9);
	}
	(void)sink; /* volatile: the sums are made, not optimised away */
	return 0;
}
