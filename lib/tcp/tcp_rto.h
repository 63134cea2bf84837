/* SPDX-License-Identifier: MIT */
/*
 * Retransmission timeout estimator, RFC 6298:
 *
 *   first sample R:  SRTT = R, RTTVAR = R / 2
 *   later samples:   RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R|  (old SRTT)
 *                    SRTT   = 7/8 SRTT + 1/8 R
 *   RTO = SRTT + max(G, 4 RTTVAR), clamped to [min_rto, max_rto]
 *   before any sample: RTO = 1 s (§2.1)
 *   on expiry: RTO doubles (§5.5), capped at max_rto
 *
 * Deviation from the RFC, on purpose: the minimum RTO defaults to 200 ms, not
 * the RFC's 1 s (§2.4 "SHOULD"), as Linux (TCP_RTO_MIN) and most modern
 * stacks do; 1 s is far too long for data-centre RTTs and spurious timeouts
 * are recovered by the usual loss recovery. min_rto is configurable. The
 * maximum is 60 s (§2.5 allows a cap of at least 60 s).
 *
 * All times are microseconds. The averages are kept in 1/256 µs fixed point
 * and the RTO is rounded to the nearest microsecond. One estimator per connection; not thread-safe,
 * called by the core that owns the connection.
 */
#ifndef BH_TCP_RTO_H
#define BH_TCP_RTO_H

#include <stdbool.h>
#include <stdint.h>

#define TCP_RTO_INITIAL_US 1000000u   /* RFC 6298 §2.1 */
#define TCP_RTO_MIN_US 200000u        /* our default minimum, see above */
#define TCP_RTO_MAX_US 60000000u      /* RFC 6298 §2.5 */
#define TCP_RTO_SYN_FALLBACK_US 3000000u /* RFC 6298 §5.7 */
#define TCP_RTO_G_US 1000u            /* default clock granularity G: 1 ms */
#define TCP_RTO_BACKOFF_MAX 255       /* expiries counted; the RTO itself stops at max */

struct tcp_rto {
	uint64_t srtt_q8, rttvar_q8; /* in 1/256 µs, so the averages do not stall on
				      * integer rounding; valid once has_sample */
	uint32_t srtt_us, rttvar_us; /* the same, rounded to µs: for readers and stats */
	uint32_t base_us;            /* RTO before backoff, clamped */
	uint32_t min_us, max_us, g_us;
	uint8_t backoff;             /* expiries since the last sample / reset */
	bool has_sample;
};

/*
 * Set up an estimator with no samples (RTO = 1 s, clamped to [min, max]).
 * min_us, max_us, g_us of 0 select TCP_RTO_MIN_US, TCP_RTO_MAX_US, TCP_RTO_G_US.
 * Returns 0, or -EINVAL if min_us > max_us once defaults are applied.
 */
int tcp_rto_init(struct tcp_rto *r, uint32_t min_us, uint32_t max_us, uint32_t g_us);

/*
 * Feed one RTT measurement (microseconds). Updates SRTT/RTTVAR and the base RTO
 * and clears the backoff (RFC 6298 §5.7's "after backing off... a new sample
 * recomputes RTO"). Only feed samples tcp_rto_sample_ok() allows.
 */
void tcp_rto_sample(struct tcp_rto *r, uint32_t rtt_us);

/*
 * Karn's rule (RFC 6298 §3) and its timestamp exception (RFC 7323 §4):
 * a sample may be taken from an ACK only if it acknowledges new data, and,
 * without timestamps, only if none of the segments it covers was
 * retransmitted. With timestamps the RTT comes from the echoed TSecr, which
 * names the transmission that was actually answered, so retransmissions do
 * not make it ambiguous. Linux takes samples under the same conditions.
 */
static inline bool tcp_rto_sample_ok(bool acks_new_data, bool retransmitted, bool ts)
{
	return acks_new_data && (ts || !retransmitted);
}

/*
 * RTT from a timestamp echo: (ts_now - tsecr) ticks of ts_unit_us each.
 * Returns the RTT in microseconds (clamped to UINT32_MAX), or -ERANGE if
 * tsecr is ahead of ts_now (a bogus echo) or older than 2^31 ticks.
 * (0 is a valid RTT: below one tick.) Feed the result to tcp_rto_sample().
 */
int64_t tcp_rto_ts_rtt(uint32_t ts_now, uint32_t tsecr, uint32_t ts_unit_us);

/* The timer to arm now: base RTO doubled per backoff, capped at max_us. */
uint32_t tcp_rto_get(const struct tcp_rto *r);

/*
 * The retransmission timer expired: back off (double the RTO, RFC 6298 §5.5).
 * The count saturates at TCP_RTO_BACKOFF_MAX; give-up policy (how many
 * expiries before aborting) is the caller's, using r->backoff.
 * Returns the new tcp_rto_get().
 */
uint32_t tcp_rto_backoff(struct tcp_rto *r);

/*
 * RFC 6298 §5.7: if the SYN (or SYN-ACK) timed out and the handshake still
 * completed, call this when it completes: with no RTT sample taken, the RTO
 * becomes max(3 s, min_us) (capped by max_us) for the data phase. With a
 * sample (timestamps), nothing changes. Clears the backoff either way.
 */
void tcp_rto_syn_timed_out(struct tcp_rto *r);

#endif
