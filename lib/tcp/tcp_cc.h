/* SPDX-License-Identifier: MIT */
/*
 * Congestion control: NewReno and CUBIC behind one small ops table, chosen
 * per connection by name (tcp_cc_find). Pure: no clock reads, no globals
 * (the two ops tables are const), no DPDK. Time and RTT come in with each
 * ACK. All windows are in bytes. One struct tcp_cc per connection, embedded
 * by the caller; not thread-safe, called by the core that owns the
 * connection.
 *
 * Shared by both algorithms (RFC 5681, RFC 3465, RFC 6582, RFC 6928):
 *   initial window  IW = min(10 SMSS, max(2 SMSS, 14600))       RFC 6928
 *   ssthresh        starts at TCP_CC_CWND_MAX ("arbitrarily high")
 *   slow start      cwnd < ssthresh: cwnd += min(bytes_acked, L),
 *                   L = 2 SMSS, or 1 SMSS in the slow start that follows an
 *                   RTO                                        RFC 3465 §2.2-2.3
 *   fast retransmit third duplicate ACK, unless the ACK does not cover
 *                   `recover` (RFC 6582 §3.2 step 1): ssthresh from the
 *                   algorithm, recover = snd_nxt - 1 (highest seq sent),
 *                   cwnd = ssthresh + 3 SMSS; each further dupack +1 SMSS
 *   partial ACK     (ack <= recover) in recovery: cwnd -= bytes acked, then
 *                   += SMSS if at least SMSS was acked; stay in recovery;
 *                   caller retransmits the first unacked segment
 *   full ACK        (ack > recover): cwnd = min(ssthresh,
 *                   max(FlightSize, SMSS) + SMSS) (RFC 6582 §3.2 step 3
 *                   option 1), leave recovery
 *   RTO             cwnd = LW = 1 SMSS; ssthresh from the algorithm, but held
 *                   when the timer fires again before new data is acked
 *                   (RFC 5681 §3.1 note); recover = snd_nxt - 1; recovery ends
 *   floor / cap     cwnd stays in [SMSS, TCP_CC_CWND_MAX] at all times
 *
 * NewReno: ssthresh = max(FlightSize / 2, 2 SMSS) on loss and RTO (RFC 5681
 * eq. 4); congestion avoidance is byte counted (RFC 3465 §2.1): bytes acked
 * accumulate and each full cwnd of them adds one SMSS, i.e. +1 SMSS per RTT.
 *
 * CUBIC (RFC 9438), in segments of SMSS, t in seconds since the current
 * congestion-avoidance epoch began (the first ACK in CA after slow start or
 * recovery), C = 0.4, beta = 0.7, alpha = 3(1 - beta)/(1 + beta) = 9/17:
 *   W_cubic(t) = C (t - K)^3 + W_max,  K = cbrt((W_max - cwnd_epoch) / C)
 *   (K = cbrt(W_max (1 - beta) / C) when the epoch starts at beta W_max)
 *   per ACK: target = W_cubic(t + RTT) clamped to [cwnd, 1.5 cwnd],
 *            cwnd += (target - cwnd) * bytes_acked / cwnd        (§4.4, 4.5)
 *   Reno-friendly: W_est starts at cwnd_epoch, += alpha * bytes_acked / cwnd
 *            per ACK (alpha becomes 1 once W_est >= cwnd_prior); whenever
 *            W_cubic(t) < W_est, cwnd = W_est                     (§4.3)
 *   on loss: ssthresh = max(FlightSize * beta, 2 SMSS); cwnd_prior = cwnd;
 *            W_max = cwnd, or cwnd (1 + beta) / 2 if cwnd < the previous
 *            W_max (fast convergence, §4.6-4.7)
 *   on RTO:  cwnd = 1 SMSS, ssthresh as on loss; the first CA epoch after it
 *            uses K = 0 and W_max = cwnd at the start of that epoch (§4.8)
 *   slow start: the shared RFC 5681/3465 slow start above. HyStart++
 *            (RFC 9406) is not implemented: slow start ends on loss or
 *            at ssthresh only. An epoch that starts with cwnd >= W_max (no
 *            loss yet) also uses K = 0, W_max = cwnd (convex probing).
 *   spurious loss: tcp_cc_undo() restores cwnd, ssthresh and the curve's
 *            state as they were before the recovery (§4.9).
 *   Not implemented: ECN, app-limited handling.
 *   The cubic function is evaluated in double; every step is a fixed
 *   sequence of IEEE operations (cube root by Newton iteration, no libm),
 *   so results are deterministic for a given input sequence.
 */
#ifndef BH_TCP_CC_H
#define BH_TCP_CC_H

#include <stdbool.h>
#include <stdint.h>

#define TCP_CC_CWND_MAX (1u << 30) /* largest window RFC 7323 allows; cwnd cap */
#define TCP_CC_DUPACK_THRESH 3     /* RFC 5681 §3.2; the default of tcp_cc.dupthresh */
#define TCP_CC_NAME_MAX 16

/* Returned by tcp_cc_on_ack / tcp_cc_on_dupack (bit flags). */
#define TCP_CC_RETRANSMIT 1u /* retransmit the first unacknowledged segment now */
#define TCP_CC_RECOVERED 2u  /* this full ACK ended fast recovery */

/* One ACK of new data, as the caller saw it. */
struct tcp_cc_ack {
	uint32_t ack;         /* cumulative ACK number (the new SND.UNA) */
	uint32_t bytes_acked; /* newly acknowledged bytes (0: nothing to do) */
	uint32_t flight_size; /* bytes still outstanding after this ACK */
	uint32_t rtt_us;      /* smoothed RTT (CUBIC uses it; 0 if unknown) */
	uint64_t now_us;      /* caller's monotonic clock */
};

/* CUBIC per-connection state (RFC 9438 names); windows in bytes. */
struct tcp_cubic {
	uint64_t epoch_start_us; /* valid when in_epoch */
	double k_s;              /* K of this epoch, seconds */
	uint32_t w_max;          /* 0: unknown (start, after RTO) */
	uint32_t cwnd_epoch, cwnd_prior, w_est;
	uint64_t cwnd_acc, w_est_acc; /* remainders of the per-ACK divisions */
	bool in_epoch;
};

struct tcp_cc;

/*
 * Algorithm hooks. Called only through the tcp_cc_* functions, which run
 * the shared recovery state machine above. All mandatory.
 *   init:           set the algorithm's own state (cwnd/ssthresh already set)
 *   on_ack:         grow cwnd for an ACK of new data outside recovery
 *   enter_recovery: a loss was detected (third dupack): set ssthresh
 *   exit_recovery:  recovery ended (cwnd already set by the full-ACK rule)
 *   on_rto:         the retransmission timer fired: set ssthresh (the caller
 *                   then sets cwnd = 1 SMSS); hold tells it to keep ssthresh
 */
struct tcp_cc_ops {
	const char *name;
	void (*init)(struct tcp_cc *cc);
	void (*on_ack)(struct tcp_cc *cc, const struct tcp_cc_ack *a);
	void (*enter_recovery)(struct tcp_cc *cc, uint32_t flight_size);
	void (*exit_recovery)(struct tcp_cc *cc);
	void (*on_rto)(struct tcp_cc *cc, uint32_t flight_size, bool hold);
};

/* Per-connection state; fixed size, embed it. Read through the getters. */
struct tcp_cc {
	const struct tcp_cc_ops *ops;
	uint32_t smss;
	uint32_t cwnd, ssthresh; /* bytes */
	uint32_t recover;        /* RFC 6582; valid when recover_valid */
	uint32_t ca_acked;       /* RFC 3465 byte counter in CA (NewReno) */
	uint16_t dupacks;
	uint16_t dupthresh;      /* dupacks that start a recovery (tcp_cc_set_dupthresh) */
	bool in_recovery, recover_valid;
	bool undo_valid; /* the prior_* fields hold the state before the last loss's reduction */
	uint32_t prior_cwnd, prior_ssthresh, prior_ca_acked;
	bool rto_ss;      /* in the slow start that follows an RTO: L = 1 SMSS */
	bool rto_pending; /* RTO fired, no new data acked since: hold ssthresh */
	union {
		struct tcp_cubic cubic;
	} u, prior_u;
};

/*
 * The ops table for "newreno" or "cubic" (exact, lower case), or NULL if
 * name is NULL or unknown. The tables are static const: safe from any thread.
 */
const struct tcp_cc_ops *tcp_cc_find(const char *name);

/* RFC 6928 initial window in bytes: min(10 SMSS, max(2 SMSS, 14600)). */
uint32_t tcp_cc_initial_window(uint32_t smss);

/*
 * Start a connection's congestion control: cwnd = IW, ssthresh =
 * TCP_CC_CWND_MAX, no recovery. smss is the effective send MSS (bytes).
 * Returns 0, or -EINVAL if ops is NULL or smss is 0 or above 65535.
 */
int tcp_cc_init(struct tcp_cc *cc, const struct tcp_cc_ops *ops, uint32_t smss);

/*
 * An ACK that acknowledges new data (SND.UNA advances). Clears the dupack
 * count. In recovery applies the partial / full ACK rules; otherwise the
 * algorithm grows cwnd. Returns TCP_CC_* flags: TCP_CC_RETRANSMIT on a
 * partial ACK (retransmit the first unacked segment and, per RFC 6582,
 * reset the retransmission timer on the first one), TCP_CC_RECOVERED on
 * the full ACK, 0 otherwise.
 */
unsigned tcp_cc_on_ack(struct tcp_cc *cc, const struct tcp_cc_ack *a);

/*
 * A duplicate ACK as RFC 5681 §2 defines it (the caller decides that).
 * ack is its cumulative ACK number, snd_nxt the next sequence number to be
 * sent, flight_size the bytes outstanding. On the third one, unless already
 * in recovery or the ACK does not cover `recover`, enters fast recovery and
 * returns TCP_CC_RETRANSMIT (fast retransmit now). In recovery each dupack
 * inflates cwnd by SMSS. Returns 0 otherwise. Limited transmit (RFC 3042)
 * is the caller's.
 */
unsigned tcp_cc_on_dupack(struct tcp_cc *cc, uint32_t ack, uint32_t snd_nxt,
			  uint32_t flight_size);

/*
 * A loss found otherwise than by duplicate ACKs (the SACK of a tail loss
 * probe): enters fast recovery as the third dupack would, with the same
 * conditions, and returns TCP_CC_RETRANSMIT, or 0.
 */
unsigned tcp_cc_on_loss(struct tcp_cc *cc, uint32_t ack, uint32_t snd_nxt, uint32_t flight_size);

/*
 * A loss that a tail loss probe repaired with no recovery (RFC 8985 §7.4.2):
 * the reduction of a loss, at once: ssthresh from the algorithm, cwnd =
 * ssthresh. The algorithm is given cwnd as the flight size (as Linux does):
 * at a tail what was in flight is what the application had left to send,
 * not what the path could take. Nothing if in recovery.
 */
void tcp_cc_on_repaired_loss(struct tcp_cc *cc);

/*
 * The recovery that started last (tcp_cc_on_dupack, tcp_cc_on_loss) was for
 * nothing: every segment it resent reached the peer twice (RFC 3708, by
 * D-SACKs; the caller tells). Restores cwnd and ssthresh (the larger of now
 * and before the reduction) and the algorithm's state as they were, and
 * ends the recovery if it is still on, without its full-ACK rule; the next
 * loss may start a recovery at once (recover is forgotten). Returns true if
 * there was a reduction to undo (once per recovery; never after a timeout).
 */
bool tcp_cc_undo(struct tcp_cc *cc);

/*
 * Duplicate ACKs that start a recovery: TCP_CC_DUPACK_THRESH at init; a
 * SACK sender raises it to the reordering it has seen (RFC 4653's idea,
 * tcp_sack.h). thresh is clamped to [TCP_CC_DUPACK_THRESH, 1000].
 */
void tcp_cc_set_dupthresh(struct tcp_cc *cc, unsigned thresh);

/*
 * The retransmission timer fired. flight_size: bytes outstanding before the
 * timeout; snd_nxt: next sequence number to send (recover = snd_nxt - 1).
 * Sets ssthresh, cwnd = 1 SMSS, leaves recovery.
 */
void tcp_cc_on_rto(struct tcp_cc *cc, uint32_t snd_nxt, uint32_t flight_size);

static inline uint32_t tcp_cc_cwnd(const struct tcp_cc *cc)
{
	return cc->cwnd;
}
static inline uint32_t tcp_cc_ssthresh(const struct tcp_cc *cc)
{
	return cc->ssthresh;
}
static inline bool tcp_cc_in_recovery(const struct tcp_cc *cc)
{
	return cc->in_recovery;
}
static inline const char *tcp_cc_name(const struct tcp_cc *cc)
{
	return cc->ops->name;
}

/*
 * The CUBIC curve, exposed for tests and diagnostics; pure, any thread.
 * Windows in segments, times in seconds.
 * tcp_cc_cubic_k: K = cbrt((w_max - cwnd_epoch) / C), 0 if w_max <= cwnd_epoch.
 * tcp_cc_cubic_w: W_cubic(t) = C (t - K)^3 + w_max.
 */
double tcp_cc_cubic_k(double w_max, double cwnd_epoch);
double tcp_cc_cubic_w(double t_s, double k_s, double w_max);

#endif
