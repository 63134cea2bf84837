/* SPDX-License-Identifier: MIT */
/*
 * Initial sequence numbers per RFC 6528: ISN = M + F(4-tuple, secret), where
 * M is a clock ticking every 4 µs and F is SipHash-2-4 keyed with a secret
 * the stack draws at start (one per stack instance is fine; it must not be
 * the SYN cookie secret).
 *
 * Two connections on the same tuple get ISNs that grow with time (at 250,000
 * per second, wrapping every ~4.77 hours), so a new incarnation starts past
 * the old one's sequence space (RFC 9293 §3.4.1); different tuples get
 * unrelated offsets, so an off-path attacker cannot guess one tuple's ISN
 * from another's.
 *
 * Pure function, no clock read (time is passed in): safe from any thread.
 */
#ifndef BH_TCP_ISN_H
#define BH_TCP_ISN_H

#include <stdint.h>

#include "tcp_siphash.h"

/* now_us: any monotonic microsecond clock (e.g. TSC converted). */
static inline uint32_t tcp_isn_clock(uint64_t now_us)
{
	return (uint32_t)(now_us >> 2);
}

/* The ISN for a new connection on tuple t at time now_us (see above). */
uint32_t tcp_isn(const struct tcp_secret *secret, const struct tcp_tuple *t, uint64_t now_us);

#endif
