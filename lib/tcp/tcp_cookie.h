/* SPDX-License-Identifier: MIT */
/*
 * SYN cookies: when the SYN queue is full, a listener answers a SYN without
 * keeping state, encoding what it must remember into the ISN of its SYN-ACK,
 * and rebuilds the connection from the client's ACK.
 *
 * Cookie layout (the server ISN, 32 bits):
 *
 *   31      30 29     28 27                                  0
 *  +----------+---------+-------------------------------------+
 *  | cnt % 4  | MSS idx |  MAC (low 28 bits of SipHash)        |
 *  +----------+---------+-------------------------------------+
 *
 * cnt = now_us / TCP_COOKIE_PERIOD_US (64 s). MAC = SipHash-2-4 keyed with the
 * cookie secret over (tuple, client ISN, cnt << 2 | MSS idx): the full
 * counter and the MSS index are authenticated, so neither can be altered and
 * an old cookie does not come back to life when cnt % 4 wraps.
 * A cookie is accepted in the window it was made in and the next one, so it
 * lives between 64 and 128 s. An attacker who cannot see the SYN-ACK must
 * guess 28 bits per try.
 *
 * Options (optional, only with timestamps): the low 5 bits of the SYN-ACK's
 * TSval carry the client's window scale (bits 0-3, 15 = no WS) and
 * SACK-permitted (bit 4); the client echoes them in the ACK's TSecr. As with
 * Linux, these bits are not authenticated: a client can only claim options it
 * could have asked for in its SYN anyway. Without timestamps a cookie
 * connection runs without WS and SACK. Our own receive shift is not encoded:
 * it comes from the listener's configuration, which must not change.
 *
 * Pure functions, no clock read (time is passed in): safe from any thread.
 */
#ifndef BH_TCP_COOKIE_H
#define BH_TCP_COOKIE_H

#include <stdbool.h>
#include <stdint.h>

#include "tcp_siphash.h"

#define TCP_COOKIE_PERIOD_US (64ull * 1000000ull)
#define TCP_COOKIE_MSS_COUNT 4

/* The MSS table: index 0..3 -> 536, 1300, 1440, 1460; 0 for an index out of range. */
uint16_t tcp_cookie_mss_value(unsigned idx);
/* The largest table entry not above mss (index 0 if mss is below all of them). */
unsigned tcp_cookie_mss_index(uint16_t mss);

/*
 * The server ISN for a SYN from client_isn on tuple t (t as the server sees
 * it), at time now_us. mss is the MSS to use: the client's, capped by ours.
 * It is rounded down to the table; *mss_out (if not NULL) gets the value the
 * SYN-ACK must advertise and the connection will use.
 */
uint32_t tcp_cookie_make(const struct tcp_secret *secret, const struct tcp_tuple *t,
			 uint32_t client_isn, uint16_t mss, uint64_t now_us, uint16_t *mss_out);

/*
 * Check the cookie of an ACK arriving for a listener: client_isn = SEG.SEQ - 1,
 * cookie = SEG.ACK - 1 (the ACK must have no SYN/RST/FIN-only quirks: that is
 * the caller's check).
 * Returns the MSS the cookie carries (> 0), -ETIMEDOUT if the cookie's counter
 * is neither the current nor the previous window (expired, or not a cookie),
 * or -EACCES if the MAC does not match (forged, or wrong tuple/ISN/secret).
 */
int tcp_cookie_check(const struct tcp_secret *secret, const struct tcp_tuple *t,
		     uint32_t client_isn, uint32_t cookie, uint64_t now_us);

/* Options recovered from a cookie ACK's TSecr. */
struct tcp_cookie_opts {
	bool ws;        /* the client offered window scaling */
	uint8_t wscale; /* the client's shift (0..14) when ws */
	bool sack;      /* the client offered SACK-permitted */
};

#define TCP_COOKIE_TS_BITS 5

/*
 * The TSval for a cookie SYN-ACK: ts_now with its low 5 bits replaced by the
 * options the SYN offered (and we accept). Never above ts_now (in sequence
 * space), at most 31 ticks below, so the connection's later TSvals stay
 * monotonic. wscale is clamped to 14.
 */
uint32_t tcp_cookie_ts_encode(uint32_t ts_now, bool ws, uint8_t wscale, bool sack);

/* Read the options back from the TSecr of the client's ACK. */
void tcp_cookie_ts_decode(uint32_t tsecr, struct tcp_cookie_opts *out);

#endif
