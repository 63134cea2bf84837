/* SPDX-License-Identifier: MIT */
/*
 * SACK scoreboard (contracts in tcp_sack.h). Ranges are compared as offsets
 * from SND.UNA: every live range is within (SND.UNA, SND.NXT], less than 2^31
 * wide, so plain unsigned compares of offsets are correct across the wrap.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tcp_sack.h"
#include "tcp_seq.h"

int tcp_sack_init(struct tcp_sack_sb *sb, uint32_t max_ranges, uint32_t smss, uint32_t snd_una)
{
	memset(sb, 0, sizeof(*sb));
	if (max_ranges == 0 || max_ranges > 65536 || smss == 0)
		return -EINVAL;
	/* One spare slot: a new range goes in first, then one is forgotten. */
	sb->r = calloc(max_ranges + 1, sizeof(*sb->r));
	if (!sb->r)
		return -ENOMEM;
	sb->max = max_ranges;
	sb->smss = smss;
	sb->snd_una = sb->snd_nxt = sb->rxt_nxt = snd_una;
	sb->dupthresh = TCP_SACK_DUPTHRESH;
	return 0;
}

void tcp_sack_fini(struct tcp_sack_sb *sb)
{
	free(sb->r);
	sb->r = NULL;
	sb->nr = 0;
	sb->sacked_bytes = 0;
}

static inline uint32_t rel(const struct tcp_sack_sb *sb, uint32_t seq)
{
	return seq - sb->snd_una;
}

uint32_t tcp_sack_dupthresh(const struct tcp_sack_sb *sb)
{
	uint32_t half = (sb->snd_nxt - sb->snd_una) / sb->smss / 2;
	if (half < TCP_SACK_DUPTHRESH)
		half = TCP_SACK_DUPTHRESH;
	return sb->dupthresh < half ? sb->dupthresh : half;
}

static bool resent(const struct tcp_sack_sb *sb, uint32_t seq)
{
	return sb->resent_set && tcp_seq_lt(seq, sb->resent_hi);
}

/* A segment arrived when the peer held data up to `bytes` beyond its
 * start: the segments those make, itself included, less one, overtook it,
 * and as many duplicate ACKs came; DupThresh must be above that. Returns
 * true if the distance was at least a segment. */
static bool reordered(struct tcp_sack_sb *sb, uint32_t bytes)
{
	if (bytes < sb->smss)
		return false;
	uint32_t segs = (bytes + sb->smss - 1) / sb->smss;
	if (segs > TCP_SACK_REORDER_MAX)
		segs = TCP_SACK_REORDER_MAX;
	if (segs > sb->dupthresh)
		sb->dupthresh = segs;
	sb->calm = 0;
	sb->nr_reorder++;
	return true;
}

static void advance_una(struct tcp_sack_sb *sb, uint32_t ack)
{
	uint32_t adv = ack - sb->snd_una, k = 0;

	for (uint32_t i = 0; i < sb->nr; i++) {
		struct tcp_sack_block b = sb->r[i];
		if (rel(sb, b.end) <= adv) {
			sb->sacked_bytes -= b.end - b.start;
			continue;
		}
		if (rel(sb, b.start) < adv) {
			sb->sacked_bytes -= ack - b.start;
			b.start = ack;
		}
		sb->r[k++] = b;
	}
	sb->nr = k;
	sb->snd_una = ack;
	/* Forget resends far behind: sequence comparisons with them would
	 * turn around. */
	if (sb->resent_set && (uint32_t)(ack - sb->resent_hi) < (1u << 31) &&
	    ack - sb->resent_hi > (1u << 30))
		sb->resent_set = false;
	if (sb->una_rxt_set && (uint32_t)(ack - sb->una_rxt_end) < (1u << 31) &&
	    ack - sb->una_rxt_end > (1u << 30))
		sb->una_rxt_set = false;
	/* Bytes from ack on retransmitted in this recovery: sent no later
	 * than now. */
	sb->una_marked = tcp_seq_lt(ack, sb->rxt_nxt);
	sb->una_mark = sb->snd_nxt;
	if (tcp_seq_lt(sb->rxt_nxt, ack))
		sb->rxt_nxt = ack;
	if (sb->lost_below_set && !tcp_seq_lt(ack, sb->lost_below))
		sb->lost_below_set = false;
}

/* Forget the smallest range below the highest (ties: the lowest). */
static void forget_one(struct tcp_sack_sb *sb)
{
	uint32_t victim = 0;

	for (uint32_t i = 1; i + 1 < sb->nr; i++)
		if (sb->r[i].end - sb->r[i].start < sb->r[victim].end - sb->r[victim].start)
			victim = i;
	sb->sacked_bytes -= sb->r[victim].end - sb->r[victim].start;
	memmove(&sb->r[victim], &sb->r[victim + 1], (sb->nr - victim - 1) * sizeof(*sb->r));
	sb->nr--;
	sb->nr_forgotten++;
}

/* Add [start, end) (already validated); returns bytes newly SACKed. */
static uint32_t add_range(struct tcp_sack_sb *sb, uint32_t start, uint32_t end)
{
	uint32_t s = rel(sb, start), e = rel(sb, end), i, j, covered = 0;

	for (i = 0; i < sb->nr && rel(sb, sb->r[i].end) < s; i++)
		;
	for (j = i; j < sb->nr && rel(sb, sb->r[j].start) <= e; j++) {
		uint32_t os = rel(sb, sb->r[j].start), oe = rel(sb, sb->r[j].end);
		uint32_t lo = os > s ? os : s, hi = oe < e ? oe : e;
		if (hi > lo)
			covered += hi - lo;
	}
	uint32_t ms = s, me = e;
	if (j > i) {
		uint32_t fs = rel(sb, sb->r[i].start), le = rel(sb, sb->r[j - 1].end);
		ms = fs < ms ? fs : ms;
		me = le > me ? le : me;
		/* The merged range replaces i..j-1; their bytes are re-added. */
		for (uint32_t k = i; k < j; k++)
			sb->sacked_bytes -= sb->r[k].end - sb->r[k].start;
		memmove(&sb->r[i + 1], &sb->r[j], (sb->nr - j) * sizeof(*sb->r));
		sb->nr -= j - i - 1;
	} else {
		memmove(&sb->r[i + 1], &sb->r[i], (sb->nr - i) * sizeof(*sb->r));
		sb->nr++;
	}
	sb->r[i].start = sb->snd_una + ms;
	sb->r[i].end = sb->snd_una + me;
	sb->sacked_bytes += me - ms;
	if (sb->nr > sb->max)
		forget_one(sb);
	return (e - s) - covered;
}

int tcp_sack_update(struct tcp_sack_sb *sb, uint32_t ack, uint32_t snd_nxt,
		    const struct tcp_sack_block *blocks, unsigned n,
		    struct tcp_sack_ack_info *info)
{
	struct tcp_sack_ack_info res = {0, false, false};

	if (tcp_seq_gt(ack, snd_nxt))
		return -EINVAL;
	sb->snd_nxt = snd_nxt;
	uint32_t fack = tcp_sack_highest(sb);
	if (tcp_seq_gt(ack, sb->snd_una)) {
		/* The hole at SND.UNA, sent once, arrived after what is SACKed. */
		if (sb->nr && !resent(sb, sb->snd_una))
			res.reordered |= reordered(sb, fack - sb->snd_una);
		/* The last resend from SND.UNA is passed: what was SACKed
		 * then is how far its original, if it came, was overtaken. */
		if (sb->una_rxt_set && sb->una_rxt_seq == sb->snd_una && !sb->una_rxt_passed) {
			sb->una_rxt_passed = true;
			sb->una_rxt_fack = fack;
		}
		advance_una(sb, ack);
	}
	if (tcp_seq_gt(ack, fack))
		fack = ack;
	for (unsigned k = 0; k < n; k++) {
		uint32_t st = blocks[k].start, en = blocks[k].end;
		if (!tcp_seq_lt(st, en)) {
			sb->nr_ignored++;
			continue;
		}
		if (k == 0 && (tcp_seq_lt(st, ack) ||
			       (n > 1 && tcp_seq_geq(st, blocks[1].start) &&
				tcp_seq_leq(en, blocks[1].end) &&
				tcp_seq_lt(blocks[1].start, blocks[1].end)))) {
			res.dsack = true;
			sb->nr_dsack++;
			/* A resent segment reported twice: its original came late. */
			if (sb->una_rxt_set && tcp_seq_geq(st, sb->una_rxt_seq) &&
			    tcp_seq_leq(en, sb->una_rxt_end)) {
				uint32_t f = sb->una_rxt_passed ? sb->una_rxt_fack : fack;
				if (tcp_seq_lt(st, f))
					res.reordered |= reordered(sb, f - st);
			}
			continue;
		}
		if (tcp_seq_lt(st, sb->snd_una) || tcp_seq_gt(en, sb->snd_nxt)) {
			sb->nr_ignored++;
			continue;
		}
		res.newly_sacked += add_range(sb, st, en);
	}
	if (info)
		*info = res;
	return 0;
}

bool tcp_sack_is_sacked(const struct tcp_sack_sb *sb, uint32_t seq)
{
	for (uint32_t i = 0; i < sb->nr; i++)
		if (tcp_seq_in_window(seq, sb->r[i].start, sb->r[i].end - sb->r[i].start))
			return true;
	return false;
}

/* Is the hole just below range k lost? Ranges k..nr-1 are above it. */
static bool hole_lost(const struct tcp_sack_sb *sb, uint32_t k, uint32_t bytes_above)
{
	uint32_t th = tcp_sack_dupthresh(sb);
	return sb->nr - k >= th || bytes_above > (th - 1) * sb->smss ||
	       (sb->lost_below_set && k < sb->nr &&
		rel(sb, sb->r[k].start) <= rel(sb, sb->lost_below));
}

bool tcp_sack_is_lost(const struct tcp_sack_sb *sb, uint32_t seq)
{
	uint32_t o = rel(sb, seq), above = sb->sacked_bytes;

	if (o >= rel(sb, sb->snd_nxt))
		return false;
	for (uint32_t k = 0; k < sb->nr; k++) {
		if (o < rel(sb, sb->r[k].start))
			return hole_lost(sb, k, above);
		if (o < rel(sb, sb->r[k].end))
			return false; /* SACKed */
		above -= sb->r[k].end - sb->r[k].start;
	}
	return false; /* above every SACK */
}

static uint32_t rxt_from(const struct tcp_sack_sb *sb)
{
	return tcp_seq_lt(sb->rxt_nxt, sb->snd_una) ? 0 : rel(sb, sb->rxt_nxt);
}

/* First un-SACKed byte >= rxt_nxt in holes below the highest SACK (only
 * lost holes if lost_only) or, if !lost_only, in the tail up to SND.NXT. */
static bool next_seg(const struct tcp_sack_sb *sb, bool lost_only, uint32_t *seq, uint32_t *len)
{
	uint32_t from = rxt_from(sb), lo = 0, above = sb->sacked_bytes;

	for (uint32_t k = 0; k <= sb->nr; k++) {
		uint32_t hi = k < sb->nr ? rel(sb, sb->r[k].start) : rel(sb, sb->snd_nxt);
		if (k == sb->nr && lost_only)
			break;
		uint32_t c = lo > from ? lo : from;
		if (c < hi && (!lost_only || hole_lost(sb, k, above))) {
			uint32_t l = hi - c;
			*seq = sb->snd_una + c;
			*len = l < sb->smss ? l : sb->smss;
			return true;
		}
		if (k < sb->nr) {
			above -= sb->r[k].end - sb->r[k].start;
			lo = rel(sb, sb->r[k].end);
		}
	}
	return false;
}

bool tcp_sack_next_lost(const struct tcp_sack_sb *sb, uint32_t *seq, uint32_t *len)
{
	return next_seg(sb, true, seq, len);
}

bool tcp_sack_next_unsacked(const struct tcp_sack_sb *sb, uint32_t *seq, uint32_t *len)
{
	return next_seg(sb, false, seq, len);
}

void tcp_sack_note_resend(struct tcp_sack_sb *sb, uint32_t seq, uint32_t len)
{
	uint32_t end = seq + (len ? len : 1);

	if (!sb->resent_set || tcp_seq_gt(end, sb->resent_hi))
		sb->resent_hi = end;
	sb->resent_set = true;
	if (seq == sb->snd_una) {
		sb->una_rxt_seq = seq;
		sb->una_rxt_end = end;
		sb->una_rxt_set = true;
		sb->una_rxt_passed = false;
	}
}

void tcp_sack_mark_rxt(struct tcp_sack_sb *sb, uint32_t seq, uint32_t len)
{
	uint32_t end = seq + len;

	tcp_sack_note_resend(sb, seq, len);
	if (tcp_seq_gt(end, sb->rxt_nxt))
		sb->rxt_nxt = end;
}

void tcp_sack_mark_una_rxt(struct tcp_sack_sb *sb, uint32_t snd_max)
{
	sb->una_marked = true;
	sb->una_mark = snd_max;
}

bool tcp_sack_una_rxt_lost(const struct tcp_sack_sb *sb, uint32_t *len)
{
	if (!sb->una_marked || !sb->nr)
		return false;
	uint32_t after = 0, mark = rel(sb, sb->una_mark);
	/* a probe sent after it was SACKed (tcp_sack_mark_lost_below) */
	bool probe = sb->lost_below_set && mark <= rel(sb, sb->lost_below);
	for (uint32_t k = 0; k < sb->nr && !probe; k++) {
		uint32_t lo = rel(sb, sb->r[k].start), hi = rel(sb, sb->r[k].end);
		if (hi > mark)
			after += hi - (lo > mark ? lo : mark);
	}
	if (!probe && after <= (tcp_sack_dupthresh(sb) - 1) * sb->smss)
		return false;
	uint32_t hole = rel(sb, sb->r[0].start);
	*len = hole < sb->smss ? hole : sb->smss;
	return hole > 0;
}

uint32_t tcp_sack_pipe(const struct tcp_sack_sb *sb, uint32_t snd_nxt)
{
	uint32_t top = rel(sb, snd_nxt), rx = rxt_from(sb), lo = 0, pipe = 0;
	uint32_t above = sb->sacked_bytes;

	if (top > (1u << 31))
		return 0; /* snd_nxt behind SND.UNA: nothing in flight */
	for (uint32_t k = 0; k <= sb->nr; k++) {
		uint32_t hi = k < sb->nr ? rel(sb, sb->r[k].start) : top;
		if (hi > top)
			hi = top;
		if (hi > lo) {
			if (k == sb->nr || !hole_lost(sb, k, above))
				pipe += hi - lo;
			if (rx > lo)
				pipe += (rx < hi ? rx : hi) - lo;
		}
		if (k < sb->nr) {
			above -= sb->r[k].end - sb->r[k].start;
			lo = rel(sb, sb->r[k].end);
		}
	}
	return pipe;
}

void tcp_sack_mark_lost_below(struct tcp_sack_sb *sb, uint32_t seq)
{
	if (!tcp_seq_gt(seq, sb->snd_una) || tcp_seq_gt(seq, sb->snd_nxt))
		return;
	if (!sb->lost_below_set || tcp_seq_gt(seq, sb->lost_below))
		sb->lost_below = seq;
	sb->lost_below_set = true;
}

bool tcp_sack_enter_recovery(struct tcp_sack_sb *sb)
{
	if (sb->dupthresh > TCP_SACK_DUPTHRESH && ++sb->calm >= TCP_SACK_CALM) {
		sb->dupthresh = TCP_SACK_DUPTHRESH; /* the reordering has stopped */
		sb->calm = 0;
	}
	if (tcp_seq_gt(sb->rxt_nxt, sb->snd_una) && !sb->lost_below_set)
		return true; /* the last recovery's resends stand */
	sb->rxt_nxt = sb->snd_una;
	sb->una_marked = false;
	return false;
}

void tcp_sack_reset(struct tcp_sack_sb *sb)
{
	sb->nr = 0;
	sb->sacked_bytes = 0;
	sb->rxt_nxt = sb->snd_una;
	sb->una_marked = false;
	sb->lost_below_set = false;
	sb->dupthresh = TCP_SACK_DUPTHRESH;
	sb->calm = 0;
}
