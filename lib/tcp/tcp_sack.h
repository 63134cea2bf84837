/* SPDX-License-Identifier: MIT */
/*
 * Sender-side SACK scoreboard (RFC 6675, with D-SACK detection of RFC 2883).
 *
 * Holds which bytes in (SND.UNA, SND.NXT) the peer reported with SACK, as a
 * sorted array of disjoint [start, end) ranges, and answers the questions
 * SACK-based loss recovery asks: IsLost(), NextSeg(), pipe. Bytes, not
 * segments: the rules of RFC 6675 stated per segment are applied per byte.
 *
 * IsLost(seq), DupThresh = 3 (it may rise: below): an un-SACKed byte is
 * lost when at least 3 discontiguous SACKed ranges lie above it, or more
 * than (3 - 1) * SMSS bytes above it are SACKed (RFC 6675 §4 wording; with
 * full-sized segments this is "3 SACKed segments above"). Every byte of one
 * hole has the same SACKed data above it, so a hole is lost or not as a
 * whole.
 *
 * DupThresh follows the reordering seen (RFC 4653's idea, Linux's measure):
 * it starts at 3, and when the peer shows that a segment arrived after data
 * sent later, it rises to the segments from it to the highest SACKed then
 * (at most TCP_SACK_REORDER_MAX): as many duplicate ACKs came while it was
 * late. Two signs: the cumulative ACK passes the hole at SND.UNA, never
 * resent, with SACKed data above it (the segment came late); and a D-SACK
 * reports the last resend from SND.UNA twice (its original came after all;
 * the distance is what was SACKed when the ACK passed it). A SACK block newly
 * reported below the highest is no sign, nor is a D-SACK of another resend:
 * a receiver repeats only its latest few blocks, so an older range may be
 * reported late, and a hole resent for it, without anything arriving late.
 * In force is at most half the segments in flight (tcp_sack_dupthresh), so
 * that a small flight still finds its losses. A retransmission timeout
 * brings DupThresh back to 3, and so do TCP_SACK_CALM recoveries begun with
 * no sign of reordering since the last one (RFC 8985's reo_wnd_persist):
 * reordering that has stopped no longer delays every loss's recovery.
 *
 * Bounded memory: at most max_ranges ranges, fixed at init. When a new block
 * would need one more, the scoreboard forgets the smallest range other than
 * the highest one (possibly the new block itself). It never merges across a
 * hole: that would claim bytes the peer does not have, and recovery would
 * never resend them (only the RTO would). Forgetting is the safe coarsening:
 * those bytes count as un-SACKed again, in pipe and possibly resent for
 * nothing; the highest range, which drives loss detection, is always kept.
 * The peer repeats its most recent blocks in every ACK, so what matters comes
 * back.
 *
 * Pure C, no clock, no globals. One scoreboard per connection; not
 * thread-safe, called only by the core that owns the connection.
 */
#ifndef BH_TCP_SACK_H
#define BH_TCP_SACK_H

#include <stdbool.h>
#include <stdint.h>

#include "tcp_opt.h" /* struct tcp_sack_block */

#define TCP_SACK_DUPTHRESH 3     /* DupThresh at the start and after a timeout */
#define TCP_SACK_REORDER_MAX 256 /* the most DupThresh rises to (segments) */
#define TCP_SACK_CALM 16         /* recoveries without a sign that bring it back to 3 */

struct tcp_sack_sb {
	struct tcp_sack_block *r; /* sorted, disjoint, non-adjacent, in (una, nxt] */
	uint32_t nr, max;
	uint32_t snd_una, snd_nxt;
	uint32_t rxt_nxt;      /* HighRxt + 1: everything below was retransmitted
				* in this recovery (RFC 6675 "HighRxt") */
	uint32_t una_mark;     /* SND.MAX when the hole at SND.UNA was last sent */
	bool una_marked;       /* una_mark holds (in this recovery) */
	uint32_t lost_below;   /* un-SACKed bytes below it are lost (tcp_sack_mark_lost_below) */
	bool lost_below_set;
	uint32_t dupthresh;    /* DupThresh in segments (reordering seen, above) */
	uint32_t calm;         /* recoveries begun since the last sign of reordering */
	uint32_t resent_hi;    /* no byte at or above it was ever resent (tcp_sack_note_resend) */
	bool resent_set;
	uint32_t una_rxt_seq, una_rxt_end; /* the last resend from SND.UNA */
	uint32_t una_rxt_fack; /* the highest SACK when the ACK passed it */
	bool una_rxt_set, una_rxt_passed;
	uint32_t smss;
	uint32_t sacked_bytes; /* sum of the ranges */
	uint64_t nr_dsack;     /* D-SACK notifications seen (RFC 2883) */
	uint64_t nr_reorder;   /* late segments seen (at least a segment overtook them) */
	uint64_t nr_ignored;   /* blocks ignored as invalid / out of range */
	uint64_t nr_forgotten; /* ranges dropped because the board was full */
};

/* What one ACK's SACK option told us (tcp_sack_update). */
struct tcp_sack_ack_info {
	uint32_t newly_sacked; /* bytes SACKed for the first time */
	bool dsack;            /* the first block was a D-SACK */
	bool reordered;        /* it showed a segment overtaken by at least one other */
};

/*
 * Empty scoreboard for a connection whose SND.UNA = SND.NXT = snd_una.
 * max_ranges >= 1 ranges (the memory bound), smss > 0 the sender MSS.
 * Returns 0, -EINVAL, or -ENOMEM.
 */
int tcp_sack_init(struct tcp_sack_sb *sb, uint32_t max_ranges, uint32_t smss, uint32_t snd_una);

/* DupThresh in force: the reordering seen, but no more than half the
 * segments in flight (at least TCP_SACK_DUPTHRESH). */
uint32_t tcp_sack_dupthresh(const struct tcp_sack_sb *sb);

/* Free the range table. */
void tcp_sack_fini(struct tcp_sack_sb *sb);

/*
 * Process an acceptable ACK (tcp_seq_ack_check gave NEW or DUP): SEG.ACK =
 * ack, the current SND.NXT = snd_nxt, and the n SACK blocks it carried (as
 * parsed, in wire order; n may be 0). SND.UNA moves to ack if ack is ahead,
 * and SACK state below it is dropped.
 * The first block is a D-SACK (counted in nr_dsack, not recorded) when it
 * starts below ack, or lies inside the second block (RFC 2883 §4).
 * Other blocks are ignored (nr_ignored) when empty or reversed, starting
 * below SND.UNA or ending beyond SND.NXT.
 * Returns 0 and fills *info if info is non-NULL; -EINVAL if ack is beyond
 * snd_nxt (nothing changed).
 */
int tcp_sack_update(struct tcp_sack_sb *sb, uint32_t ack, uint32_t snd_nxt,
		    const struct tcp_sack_block *blocks, unsigned n,
		    struct tcp_sack_ack_info *info);

/* True if byte seq was SACKed. */
bool tcp_sack_is_sacked(const struct tcp_sack_sb *sb, uint32_t seq);

/* RFC 6675 IsLost(seq), with the DupThresh in force (see above), or below
 * the mark of tcp_sack_mark_lost_below(). False for SACKed bytes, bytes
 * outside [SND.UNA, SND.NXT), and bytes above the highest SACK. */
bool tcp_sack_is_lost(const struct tcp_sack_sb *sb, uint32_t seq);

/*
 * RFC 6675 NextSeg() rule (1): the first un-SACKed, lost byte not yet
 * retransmitted in this recovery (>= rxt_nxt), as a segment of at most SMSS
 * bytes that stops at the next SACKed range. Returns true and sets *seq,
 * *len, or false (then rule (2), new data, is the caller's: it knows the
 * window and the send buffer). Does not mark anything: after sending, call
 * tcp_sack_mark_rxt().
 */
bool tcp_sack_next_lost(const struct tcp_sack_sb *sb, uint32_t *seq, uint32_t *len);

/*
 * RFC 6675 NextSeg() rule (3): the first un-SACKed byte >= rxt_nxt below
 * SND.NXT, lost or not, at most SMSS bytes up to the next SACKed range.
 * Returns true and sets *seq, *len, or false.
 */
bool tcp_sack_next_unsacked(const struct tcp_sack_sb *sb, uint32_t *seq, uint32_t *len);

/*
 * [seq, seq + len) was just sent again, for whatever reason (a recovery, a
 * probe, a timeout): its late arrival is no sign of reordering. Every
 * resend must be reported, in or out of a recovery.
 */
void tcp_sack_note_resend(struct tcp_sack_sb *sb, uint32_t seq, uint32_t len);

/* Record that [seq, seq + len) was retransmitted in the recovery (advances
 * HighRxt; tcp_sack_note_resend() too). */
void tcp_sack_mark_rxt(struct tcp_sack_sb *sb, uint32_t seq, uint32_t len);

/*
 * The hole at SND.UNA was just retransmitted, with SND.MAX = snd_max: what
 * the peer SACKs from snd_max on was sent after it.
 */
void tcp_sack_mark_una_rxt(struct tcp_sack_sb *sb, uint32_t snd_max);

/*
 * Was the retransmission of the hole at SND.UNA lost? True when more than
 * (DupThresh - 1) * SMSS bytes sent after it (tcp_sack_mark_una_rxt) are
 * SACKed, or a lost mark (tcp_sack_mark_lost_below) at or above its mark
 * says a probe sent after it was, and SND.UNA has not moved: RFC 6675's
 * IsLost() applied to the retransmission, by what was sent after it (the
 * idea of RFC 8985's time-based detection, with send order in place of
 * time). RFC 6675 alone
 * resends a hole once per recovery and leaves a lost retransmission to the
 * retransmission timer. When SND.UNA moves onto bytes already retransmitted
 * in this recovery, their mark is taken as SND.NXT at that moment (later
 * than they were sent: slower to tell, never wrong). Sets *len to the
 * hole's first segment (at most SMSS bytes).
 */
bool tcp_sack_una_rxt_lost(const struct tcp_sack_sb *sb, uint32_t *len);

/*
 * Every un-SACKed byte below seq is lost, whatever DupThresh says: the peer
 * has reported a segment sent at least a probe timeout after all of them
 * (a tail loss probe, RFC 8985 §7; the time-based rule of its §6 in the one
 * case where the sender knows the times without keeping them per segment).
 * Holds until SND.UNA reaches seq or tcp_sack_reset(). A hole is lost as a
 * whole: one that ends above seq is judged by DupThresh alone.
 */
void tcp_sack_mark_lost_below(struct tcp_sack_sb *sb, uint32_t seq);

/*
 * RFC 6675 SetPipe(), in bytes, for data up to snd_nxt (pass the current
 * SND.NXT: new data sent since the last ACK counts). Each un-SACKed byte in
 * [SND.UNA, snd_nxt) counts once if not lost, and once more if retransmitted.
 */
uint32_t tcp_sack_pipe(const struct tcp_sack_sb *sb, uint32_t snd_nxt);

/*
 * Entering loss recovery: HighRxt = HighACK (nothing retransmitted yet),
 * unless the last recovery resent bytes from SND.UNA on that the peer still
 * lacks: their resends may still arrive, and a copy sent now would come
 * back reported twice (the recovery undone, as if for nothing). HighRxt
 * then stays and true is returned: the hole at SND.UNA goes again once its
 * resend is known lost (tcp_sack_una_rxt_lost). A probe's lost mark
 * (tcp_sack_mark_lost_below) says all below it are: HighRxt = HighACK then.
 * Counts the recovery toward TCP_SACK_CALM (above).
 */
bool tcp_sack_enter_recovery(struct tcp_sack_sb *sb);

/*
 * After a retransmission timeout: forget every SACK (the peer may have
 * reneged, RFC 2018 §8), the retransmission marks and the lost mark;
 * DupThresh back to TCP_SACK_DUPTHRESH.
 */
void tcp_sack_reset(struct tcp_sack_sb *sb);

static inline uint32_t tcp_sack_sacked_bytes(const struct tcp_sack_sb *sb)
{
	return sb->sacked_bytes;
}
/* End of the highest SACKed range, or SND.UNA when nothing is SACKed. */
static inline uint32_t tcp_sack_highest(const struct tcp_sack_sb *sb)
{
	return sb->nr ? sb->r[sb->nr - 1].end : sb->snd_una;
}

#endif
