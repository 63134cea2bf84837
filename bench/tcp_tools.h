/* SPDX-License-Identifier: MIT */
/*
 * What bh-tcp-kserver and bh-tcp-load share: the tcp-source stream, option
 * words, CPU pinning. Header-only; no state.
 */
#ifndef BH_BENCH_TCP_TOOLS_H
#define BH_BENCH_TCP_TOOLS_H

#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The stream's period: a prime, so that it never lines up with buffer sizes. */
#define TCP_STREAM_P 65521u

/*
 * The tcp-source stream (nfs/tcp-source, tests/e2e/netutil.py): the top byte
 * of each xorshift32 step from x = 2463534242, period TCP_STREAM_P. Fills
 * p[0 .. 2 * TCP_STREAM_P): twice, so that any window of up to one period
 * starting inside the first is one slice. A connection's stream starts at
 * offset (the connecting side's port * 7919) mod TCP_STREAM_P.
 */
static inline void tcp_stream_fill(uint8_t *p)
{
	uint32_t x = 2463534242u;
	for (uint32_t i = 0; i < TCP_STREAM_P; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = p[i + TCP_STREAM_P] = (uint8_t)(x >> 24);
	}
}

static inline uint32_t tcp_stream_base(uint16_t connecting_port)
{
	return (uint32_t)(((uint64_t)connecting_port * 7919u) % TCP_STREAM_P);
}

/* The index of arg in names[0 .. n), or -1. */
static inline int tcp_tools_pick(const char *arg, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(arg, names[i]))
			return i;
	return -1;
}

/* Run this process on one CPU. Returns 0, or -1 after saying why on stderr. */
static inline int tcp_tools_pin(const char *prog, int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) == 0)
		return 0;
	fprintf(stderr, "%s: cannot run on CPU %d: %s\n", prog, cpu, strerror(errno));
	return -1;
}

#endif
