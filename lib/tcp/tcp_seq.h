/* SPDX-License-Identifier: MIT */
/*
 * TCP sequence-number arithmetic (RFC 9293 §3.4) and the per-segment checks
 * built on it: segment acceptability (RFC 9293 §3.10.7.4), the RFC 5961
 * RST and ACK checks, and the send-window update rule.
 *
 * Sequence numbers live in a 2^32 ring. a < b means "b is ahead of a by less
 * than 2^31", i.e. (int32_t)(a - b) < 0. This is only meaningful for numbers
 * less than 2^31 apart, which TCP guarantees for live state (windows are at
 * most 2^30, RFC 7323 §2.3). Never compare sequence numbers with < directly.
 *
 * Pure inline functions, no state: safe from any thread.
 */
#ifndef BH_TCP_SEQ_H
#define BH_TCP_SEQ_H

#include <stdbool.h>
#include <stdint.h>

static inline bool tcp_seq_lt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}
static inline bool tcp_seq_leq(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) <= 0;
}
static inline bool tcp_seq_gt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) > 0;
}
static inline bool tcp_seq_geq(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) >= 0;
}
/* The later / earlier of two sequence numbers. */
static inline uint32_t tcp_seq_max(uint32_t a, uint32_t b)
{
	return tcp_seq_gt(a, b) ? a : b;
}
static inline uint32_t tcp_seq_min(uint32_t a, uint32_t b)
{
	return tcp_seq_lt(a, b) ? a : b;
}

/* The RFC-style names, for code that reads like the RFC's pseudo-code. */
#define TCP_SEQ_LT(a, b) tcp_seq_lt((a), (b))
#define TCP_SEQ_LEQ(a, b) tcp_seq_leq((a), (b))
#define TCP_SEQ_GT(a, b) tcp_seq_gt((a), (b))
#define TCP_SEQ_GEQ(a, b) tcp_seq_geq((a), (b))

/*
 * lo <= seq < lo + len, in sequence space. An empty window (len 0) contains
 * nothing. Correct for any len up to 2^32 - 1, across the wrap.
 */
static inline bool tcp_seq_in_window(uint32_t seq, uint32_t lo, uint32_t len)
{
	return seq - lo < len;
}

/* lo <= seq <= hi, in sequence space (hi not before lo). */
static inline bool tcp_seq_between(uint32_t seq, uint32_t lo, uint32_t hi)
{
	return seq - lo <= hi - lo;
}

/*
 * RFC 9293 §3.10.7.4 acceptability test, for synchronized states.
 * seg_len counts SYN and FIN as one each (SEG.LEN); rcv_wnd is RCV.WND in
 * bytes (already scaled). The four cases:
 *   len 0, wnd 0:   SEG.SEQ = RCV.NXT
 *   len 0, wnd >0:  RCV.NXT =< SEG.SEQ < RCV.NXT+RCV.WND
 *   len >0, wnd 0:  not acceptable
 *   len >0, wnd >0: the first or the last octet of the segment in the window.
 * A segment that starts before RCV.NXT and ends past the window passes
 * neither test, so the RFC's rule rejects it (Linux accepts any overlap); we
 * follow the RFC: the ACK we answer with makes the peer resend from RCV.NXT.
 * Returns true if acceptable. An unacceptable segment is still to be
 * processed for a valid ACK and RST (RFC 9293 says so for a zero window);
 * that, and trimming the segment to the window, is the caller's job.
 */
static inline bool tcp_seq_acceptable(uint32_t seg_seq, uint32_t seg_len,
				      uint32_t rcv_nxt, uint32_t rcv_wnd)
{
	if (seg_len == 0) {
		if (rcv_wnd == 0)
			return seg_seq == rcv_nxt;
		return tcp_seq_in_window(seg_seq, rcv_nxt, rcv_wnd);
	}
	if (rcv_wnd == 0)
		return false;
	return tcp_seq_in_window(seg_seq, rcv_nxt, rcv_wnd) ||
	       tcp_seq_in_window(seg_seq + seg_len - 1, rcv_nxt, rcv_wnd);
}

/* What to do with an RST in a synchronized state (RFC 5961 §3.2). */
enum tcp_rst_verdict {
	TCP_RST_DROP = 0,      /* outside the window: discard silently */
	TCP_RST_CHALLENGE = 1, /* in window but not exact: send a challenge ACK */
	TCP_RST_ACCEPT = 2,    /* SEG.SEQ == RCV.NXT: reset the connection */
};

static inline enum tcp_rst_verdict tcp_seq_rst_check(uint32_t seg_seq, uint32_t rcv_nxt,
						     uint32_t rcv_wnd)
{
	if (seg_seq == rcv_nxt)
		return TCP_RST_ACCEPT;
	if (tcp_seq_in_window(seg_seq, rcv_nxt, rcv_wnd))
		return TCP_RST_CHALLENGE;
	return TCP_RST_DROP;
}

/* Classification of SEG.ACK in a synchronized state (RFC 9293 + RFC 5961 §5.2). */
enum tcp_ack_verdict {
	TCP_ACK_NEW = 0,    /* SND.UNA < SEG.ACK =< SND.NXT: acknowledges new data */
	TCP_ACK_DUP = 1,    /* SND.UNA - MAX.SND.WND =< SEG.ACK =< SND.UNA: old, still
			     * process the segment (window update, dup-ACK counting) */
	TCP_ACK_FUTURE = 2, /* SEG.ACK > SND.NXT: send an ACK, drop the segment */
	TCP_ACK_STALE = 3,  /* SEG.ACK < SND.UNA - MAX.SND.WND: RFC 5961 says
			     * drop and send a (challenge) ACK */
};

/*
 * max_snd_wnd is MAX.SND.WND, the largest window the peer has ever advertised
 * (scaled). Every segment not TCP_ACK_NEW or TCP_ACK_DUP must be discarded.
 */
static inline enum tcp_ack_verdict tcp_seq_ack_check(uint32_t seg_ack, uint32_t snd_una,
						     uint32_t snd_nxt, uint32_t max_snd_wnd)
{
	if (tcp_seq_gt(seg_ack, snd_nxt))
		return TCP_ACK_FUTURE;
	if (tcp_seq_gt(seg_ack, snd_una))
		return TCP_ACK_NEW;
	if (tcp_seq_geq(seg_ack, snd_una - max_snd_wnd))
		return TCP_ACK_DUP;
	return TCP_ACK_STALE;
}

/*
 * RFC 9293 §3.10.7.4: update SND.WND from this segment only if it is not older
 * than the one that last did: SND.WL1 < SEG.SEQ, or SND.WL1 = SEG.SEQ and
 * SND.WL2 =< SEG.ACK. Call only for acceptable segments with an acceptable ACK.
 */
static inline bool tcp_seq_wnd_update_ok(uint32_t seg_seq, uint32_t seg_ack, uint32_t snd_wl1,
					 uint32_t snd_wl2)
{
	return tcp_seq_lt(snd_wl1, seg_seq) ||
	       (snd_wl1 == seg_seq && tcp_seq_leq(snd_wl2, seg_ack));
}

#endif
