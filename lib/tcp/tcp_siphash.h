/* SPDX-License-Identifier: MIT */
/*
 * SipHash-2-4 (Aumasson & Bernstein, 2012): a keyed 64-bit PRF, the F of the
 * RFC 6528 ISN and the MAC of the SYN cookies.
 * Pure function, no state: safe from any thread.
 */
#ifndef BH_TCP_SIPHASH_H
#define BH_TCP_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

/* A 128-bit secret. The stack fills it from getrandom() once at start. */
struct tcp_secret {
	uint8_t k[16];
};

/* SipHash-2-4 of data[0..len) under key; the 64-bit result as the reference
 * implementation defines it (its 8 output bytes read little-endian). */
uint64_t tcp_siphash24(const struct tcp_secret *key, const void *data, size_t len);

/* A connection's 4-tuple as this end sees it, host byte order. */
struct tcp_tuple {
	uint32_t laddr, raddr;
	uint16_t lport, rport;
};

/*
 * SipHash of the tuple followed by up to two 32-bit words (extra[0..n)), in a
 * fixed byte layout (so padding and host byte order never matter).
 * n is 0, 1 or 2.
 */
uint64_t tcp_siphash_tuple(const struct tcp_secret *key, const struct tcp_tuple *t,
			   const uint32_t *extra, unsigned n);

#endif
