/* SPDX-License-Identifier: MIT */
/*
 * SACK scoreboard: recording blocks (validity, D-SACK, merging, ACK
 * advance), IsLost by the DupThresh rule, NextSeg, pipe, reset, the memory
 * bound, wrap-around, and a brute-force per-byte model on random blocks.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tcp_sack.h"
#include "tcp_seq.h"
#include "tests/unit/bh_test.h"

#define MSS 1000u

/* Segment k (1-based) of a flight starting at base, MSS bytes each. */
static struct tcp_sack_block sg(uint32_t base, uint32_t first, uint32_t last)
{
	struct tcp_sack_block b = {base + (first - 1) * MSS, base + last * MSS};
	return b;
}

static int sack1(struct tcp_sack_sb *sb, uint32_t ack, uint32_t nxt, struct tcp_sack_block b,
		 struct tcp_sack_ack_info *info)
{
	return tcp_sack_update(sb, ack, nxt, &b, 1, info);
}

/* Segments 2, 4, 5, 6 of 1..6 SACKed (RFC 6675-style): 1 and 3 are lost. */
static void check_scenario_2456(uint32_t base)
{
	struct tcp_sack_sb sb;
	struct tcp_sack_ack_info info;
	struct tcp_sack_block blk[2];
	uint32_t nxt = base + 6 * MSS, seq, len;

	CHECK_EQ(tcp_sack_init(&sb, 8, MSS, base), 0);
	/* Peer's ACKs as segments 2, 4, 5, 6 arrive (most recent block first). */
	CHECK_EQ(sack1(&sb, base, nxt, sg(base, 2, 2), &info), 0);
	CHECK_EQ(info.newly_sacked, MSS);
	CHECK(!info.dsack);
	CHECK(!tcp_sack_is_lost(&sb, base)); /* one segment above: not yet */
	blk[0] = sg(base, 4, 4);
	blk[1] = sg(base, 2, 2);
	CHECK_EQ(tcp_sack_update(&sb, base, nxt, blk, 2, &info), 0);
	CHECK_EQ(info.newly_sacked, MSS);
	/* 2 ranges, 2000 bytes above seg 1: not more than 2 * SMSS, not lost. */
	CHECK(!tcp_sack_is_lost(&sb, base));
	CHECK(!tcp_sack_next_lost(&sb, &seq, &len));
	blk[0] = sg(base, 4, 5);
	CHECK_EQ(tcp_sack_update(&sb, base, nxt, blk, 2, &info), 0);
	CHECK_EQ(info.newly_sacked, MSS);
	/* Seg 1 has 3 segments above now (2, 4, 5): lost. Seg 3 has 2. */
	CHECK(tcp_sack_is_lost(&sb, base));
	CHECK(!tcp_sack_is_lost(&sb, base + 2 * MSS));
	blk[0] = sg(base, 4, 6);
	CHECK_EQ(tcp_sack_update(&sb, base, nxt, blk, 2, &info), 0);
	CHECK_EQ(info.newly_sacked, MSS);
	CHECK_EQ(sb.nr, 2);
	CHECK_EQ(tcp_sack_sacked_bytes(&sb), 4 * MSS);
	CHECK_EQ(tcp_sack_highest(&sb), nxt);

	CHECK(tcp_sack_is_lost(&sb, base));              /* seg 1 */
	CHECK(tcp_sack_is_lost(&sb, base + MSS - 1));
	CHECK(!tcp_sack_is_lost(&sb, base + MSS));       /* seg 2: SACKed */
	CHECK(tcp_sack_is_lost(&sb, base + 2 * MSS));    /* seg 3 */
	CHECK(tcp_sack_is_lost(&sb, base + 3 * MSS - 1));
	CHECK(!tcp_sack_is_lost(&sb, base + 3 * MSS));   /* seg 4 */
	CHECK(!tcp_sack_is_lost(&sb, nxt));              /* not sent */
	CHECK(tcp_sack_is_sacked(&sb, base + MSS));
	CHECK(!tcp_sack_is_sacked(&sb, base + 2 * MSS));
	CHECK(tcp_sack_is_sacked(&sb, nxt - 1));

	/* Lost and not retransmitted: nothing in flight. */
	CHECK_EQ(tcp_sack_pipe(&sb, nxt), 0);
	tcp_sack_enter_recovery(&sb);
	CHECK(tcp_sack_next_lost(&sb, &seq, &len));
	CHECK_EQ(seq, base);
	CHECK_EQ(len, MSS);
	tcp_sack_mark_rxt(&sb, seq, len);
	CHECK_EQ(tcp_sack_pipe(&sb, nxt), MSS);
	CHECK(tcp_sack_next_lost(&sb, &seq, &len));
	CHECK_EQ(seq, base + 2 * MSS);
	CHECK_EQ(len, MSS);
	tcp_sack_mark_rxt(&sb, seq, len);
	CHECK_EQ(tcp_sack_pipe(&sb, nxt), 2 * MSS);
	CHECK(!tcp_sack_next_lost(&sb, &seq, &len));
	CHECK(!tcp_sack_next_unsacked(&sb, &seq, &len)); /* nothing left below nxt */
	/* New data sent (rule 2, the caller's) is in flight. */
	CHECK_EQ(tcp_sack_pipe(&sb, nxt + 2 * MSS), 4 * MSS);
	CHECK(tcp_sack_next_unsacked(&sb, &seq, &len) == false);

	/* The retransmission of seg 1 arrives: ACK to seg 3. */
	CHECK_EQ(tcp_sack_update(&sb, base + 2 * MSS, nxt, blk, 1, &info), 0);
	CHECK_EQ(sb.nr, 1);
	CHECK_EQ(tcp_sack_sacked_bytes(&sb), 3 * MSS);
	CHECK_EQ(tcp_sack_pipe(&sb, nxt), MSS); /* seg 3's retransmission */
	/* ACK everything: empty. */
	CHECK_EQ(tcp_sack_update(&sb, nxt, nxt, NULL, 0, &info), 0);
	CHECK_EQ(sb.nr, 0);
	CHECK_EQ(tcp_sack_sacked_bytes(&sb), 0);
	CHECK_EQ(tcp_sack_pipe(&sb, nxt), 0);
	tcp_sack_fini(&sb);
}

static void test_scenario(void)
{
	check_scenario_2456(1000);
	check_scenario_2456(0xFFFFF000u); /* segments 5 and 6 past 2^32 */
	check_scenario_2456(0xFFFFFFFFu - 2 * MSS);
	check_scenario_2456(0x7FFFF000u);
}

/* The range-count rule alone: 3 small discontiguous SACKs above a hole. */
static void test_dupthresh_count(void)
{
	struct tcp_sack_sb sb;
	uint32_t seq, len;
	struct tcp_sack_block b[3] = {{5100, 5200}, {5300, 5400}, {5500, 5600}};

	tcp_sack_init(&sb, 8, MSS, 5000);
	CHECK_EQ(tcp_sack_update(&sb, 5000, 6000, &b[0], 1, NULL), 0);
	CHECK_EQ(tcp_sack_update(&sb, 5000, 6000, &b[1], 1, NULL), 0);
	CHECK(!tcp_sack_is_lost(&sb, 5000)); /* 2 ranges, 200 bytes */
	CHECK_EQ(tcp_sack_update(&sb, 5000, 6000, &b[2], 1, NULL), 0);
	CHECK(tcp_sack_is_lost(&sb, 5000));   /* 3 ranges above */
	CHECK(tcp_sack_is_lost(&sb, 5099));
	CHECK(!tcp_sack_is_lost(&sb, 5200));  /* 2 ranges above */
	CHECK(!tcp_sack_is_lost(&sb, 5650));  /* above every SACK */
	CHECK(tcp_sack_next_lost(&sb, &seq, &len));
	CHECK_EQ(seq, 5000);
	CHECK_EQ(len, 100); /* stops at the SACKed range */
	tcp_sack_mark_rxt(&sb, seq, len);
	CHECK(!tcp_sack_next_lost(&sb, &seq, &len));
	/* Rule 3: the next un-SACKed bytes, lost or not. */
	CHECK(tcp_sack_next_unsacked(&sb, &seq, &len));
	CHECK_EQ(seq, 5200);
	CHECK_EQ(len, 100);
	tcp_sack_mark_rxt(&sb, 5200, 100);
	CHECK(tcp_sack_next_unsacked(&sb, &seq, &len));
	CHECK_EQ(seq, 5400);
	tcp_sack_mark_rxt(&sb, 5400, 100);
	CHECK(tcp_sack_next_unsacked(&sb, &seq, &len));
	CHECK_EQ(seq, 5600);
	CHECK_EQ(len, MSS < 400 ? MSS : 400);
	/* Pipe: [5000,5100) lost + rxt = 100; [5200,5300) not lost 100 + rxt 100;
	 * [5400,5500) 100 + 100; [5600,6000) 400. */
	CHECK_EQ(tcp_sack_pipe(&sb, 6000), 100 + 200 + 200 + 400);
	tcp_sack_fini(&sb);
}

/* Bytes rule: "more than (DupThresh - 1) * SMSS" SACKed bytes above. */
static void test_dupthresh_bytes(void)
{
	struct tcp_sack_sb sb;
	struct tcp_sack_block b = {1100, 1100 + 2 * MSS};

	tcp_sack_init(&sb, 8, MSS, 1000);
	CHECK_EQ(tcp_sack_update(&sb, 1000, 10000, &b, 1, NULL), 0);
	CHECK(!tcp_sack_is_lost(&sb, 1000)); /* exactly 2 * SMSS: not more */
	b.end++;
	CHECK_EQ(tcp_sack_update(&sb, 1000, 10000, &b, 1, NULL), 0);
	CHECK(tcp_sack_is_lost(&sb, 1000));
	tcp_sack_fini(&sb);
}

static void test_validation(void)
{
	struct tcp_sack_sb sb;
	struct tcp_sack_ack_info info;
	struct tcp_sack_block b[3];

	CHECK_EQ(tcp_sack_init(&sb, 0, MSS, 0), -EINVAL);
	CHECK_EQ(tcp_sack_init(&sb, 4, 0, 0), -EINVAL);
	CHECK_EQ(tcp_sack_init(&sb, 4, MSS, 1000), 0);
	CHECK_EQ(tcp_sack_update(&sb, 9000, 8000, NULL, 0, &info), -EINVAL);
	CHECK_EQ(sb.snd_una, 1000);
	/* Beyond SND.NXT, empty, reversed, below SND.UNA: ignored. */
	b[0] = (struct tcp_sack_block){7000, 9000};
	CHECK_EQ(tcp_sack_update(&sb, 1000, 8000, b, 1, &info), 0);
	b[0] = (struct tcp_sack_block){3000, 3000};
	CHECK_EQ(tcp_sack_update(&sb, 1000, 8000, b, 1, &info), 0);
	b[0] = (struct tcp_sack_block){4000, 3000};
	CHECK_EQ(tcp_sack_update(&sb, 1000, 8000, b, 1, &info), 0);
	CHECK_EQ(sb.nr_ignored, 3);
	CHECK_EQ(sb.nr, 0);
	CHECK_EQ(tcp_sack_update(&sb, 2000, 8000, NULL, 0, &info), 0);
	b[0] = (struct tcp_sack_block){3000, 4000};
	b[1] = (struct tcp_sack_block){1500, 2500}; /* straddles SND.UNA */
	b[2] = (struct tcp_sack_block){500, 900};   /* below SND.UNA */
	CHECK_EQ(tcp_sack_update(&sb, 2000, 8000, b, 3, &info), 0);
	CHECK_EQ(sb.nr_ignored, 5);
	CHECK_EQ(sb.nr, 1);
	CHECK_EQ(info.newly_sacked, 1000);
	CHECK(!info.dsack);
	/* Same block again: nothing new. Overlapping: only the new part. */
	CHECK_EQ(tcp_sack_update(&sb, 2000, 8000, b, 1, &info), 0);
	CHECK_EQ(info.newly_sacked, 0);
	b[0] = (struct tcp_sack_block){3500, 4500};
	CHECK_EQ(tcp_sack_update(&sb, 2000, 8000, b, 1, &info), 0);
	CHECK_EQ(info.newly_sacked, 500);
	CHECK_EQ(sb.nr, 1);
	/* Adjacent: merges. */
	b[0] = (struct tcp_sack_block){4500, 5000};
	CHECK_EQ(tcp_sack_update(&sb, 2000, 8000, b, 1, &info), 0);
	CHECK_EQ(sb.nr, 1);
	CHECK_EQ(sb.r[0].start, 3000);
	CHECK_EQ(sb.r[0].end, 5000);
	/* Bridging two ranges and covering both. */
	b[0] = (struct tcp_sack_block){6000, 7000};
	CHECK_EQ(tcp_sack_update(&sb, 2000, 8000, b, 1, &info), 0);
	CHECK_EQ(sb.nr, 2);
	b[0] = (struct tcp_sack_block){2500, 7500};
	CHECK_EQ(tcp_sack_update(&sb, 2000, 8000, b, 1, &info), 0);
	CHECK_EQ(info.newly_sacked, 500 + 1000 + 500);
	CHECK_EQ(sb.nr, 1);
	CHECK_EQ(tcp_sack_sacked_bytes(&sb), 5000);
	/* ACK into the middle of a range trims it. */
	CHECK_EQ(tcp_sack_update(&sb, 3000, 8000, NULL, 0, &info), 0);
	CHECK_EQ(sb.r[0].start, 3000);
	CHECK_EQ(tcp_sack_sacked_bytes(&sb), 4500);
	tcp_sack_fini(&sb);
}

static void test_dsack(void)
{
	struct tcp_sack_sb sb;
	struct tcp_sack_ack_info info;
	struct tcp_sack_block b[2];

	tcp_sack_init(&sb, 4, MSS, 1000);
	/* RFC 2883 §4.1.1: first block below the cumulative ACK. */
	b[0] = (struct tcp_sack_block){1000, 2000};
	CHECK_EQ(tcp_sack_update(&sb, 3000, 8000, b, 1, &info), 0);
	CHECK(info.dsack);
	CHECK_EQ(sb.nr_dsack, 1);
	CHECK_EQ(sb.nr, 0);
	CHECK_EQ(info.newly_sacked, 0);
	/* RFC 2883 §4.1.3: first block inside the second, above the ACK. */
	b[0] = (struct tcp_sack_block){5000, 6000};
	b[1] = (struct tcp_sack_block){4000, 7000};
	CHECK_EQ(tcp_sack_update(&sb, 3000, 8000, b, 2, &info), 0);
	CHECK(info.dsack);
	CHECK_EQ(sb.nr_dsack, 2);
	CHECK_EQ(info.newly_sacked, 3000);
	CHECK_EQ(sb.nr, 1);
	/* A plain first block is no D-SACK; nor is a later block below the ACK. */
	b[0] = (struct tcp_sack_block){7000, 8000};
	b[1] = (struct tcp_sack_block){1000, 2000};
	CHECK_EQ(tcp_sack_update(&sb, 3000, 8000, b, 2, &info), 0);
	CHECK(!info.dsack);
	CHECK_EQ(sb.nr_dsack, 2);
	CHECK_EQ(sb.nr, 1); /* 4000..8000 merged */
	tcp_sack_fini(&sb);
}

/* DupThresh follows the reordering seen: a hole at SND.UNA, sent once,
 * passed by the cumulative ACK; a D-SACK of a resend; not a resent hole,
 * nor a duplicate of data sent once; a timeout brings it back. */
static void test_reordering(void)
{
	struct tcp_sack_sb sb;
	struct tcp_sack_ack_info info;
	uint32_t base = 0xFFFFE000u, nxt = base + 20 * MSS; /* wraps */
	CHECK_EQ(tcp_sack_init(&sb, 8, MSS, base), 0);
	CHECK_EQ(sb.dupthresh, TCP_SACK_DUPTHRESH);
	/* 2..6 SACKed: 1 is lost by DupThresh 3 */
	CHECK_EQ(sack1(&sb, base, nxt, sg(base, 2, 6), &info), 0);
	CHECK(!info.reordered);
	CHECK(tcp_sack_is_lost(&sb, base));
	/* 1 arrives, never resent: five segments overtook it */
	CHECK_EQ(sack1(&sb, base + 6 * MSS, nxt, sg(base, 2, 6), &info), 0);
	CHECK(info.reordered);
	CHECK_EQ(sb.dupthresh, 6);
	CHECK_EQ(sb.nr_reorder, 1);
	/* now 8..12 SACKed above a hole at 7 (five segments): not lost */
	CHECK_EQ(sack1(&sb, base + 6 * MSS, nxt, sg(base, 8, 12), &info), 0);
	CHECK(!tcp_sack_is_lost(&sb, base + 6 * MSS));
	CHECK_EQ(sack1(&sb, base + 6 * MSS, nxt, sg(base, 8, 13), &info), 0);
	CHECK(tcp_sack_is_lost(&sb, base + 6 * MSS)); /* six: lost */
	/* 7 resent, then ACKed: no sign (the resend may be what came) */
	tcp_sack_note_resend(&sb, base + 6 * MSS, MSS);
	CHECK_EQ(sack1(&sb, base + 13 * MSS, nxt, sg(base, 15, 15), &info), 0);
	CHECK(!info.reordered);
	CHECK_EQ(sb.dupthresh, 6);
	/* a D-SACK of 7 (resent): its original came, overtaken by what was
	 * SACKed when the ACK passed it (8..13), not by 15 SACKed since */
	struct tcp_sack_block d = sg(base, 7, 7);
	CHECK_EQ(sack1(&sb, base + 13 * MSS, nxt, d, &info), 0);
	CHECK(info.dsack && info.reordered);
	CHECK_EQ(sb.dupthresh, 7); /* 7..13 */
	/* 14, sent once, arrives after 15: one overtook it, below DupThresh */
	CHECK_EQ(tcp_sack_update(&sb, base + 15 * MSS, nxt, NULL, 0, &info), 0);
	CHECK(info.reordered);
	CHECK_EQ(sb.dupthresh, 7);
	CHECK_EQ(sb.nr_reorder, 3);
	/* a D-SACK of 14, sent once: the network's duplicate, no sign */
	d = sg(base, 14, 14);
	CHECK_EQ(tcp_sack_update(&sb, base + 15 * MSS, nxt, &d, 1, &info), 0);
	CHECK(info.dsack && !info.reordered);
	CHECK_EQ(sb.nr_reorder, 3);
	/* the cap */
	nxt = base + 400 * MSS;
	CHECK_EQ(sack1(&sb, base + 17 * MSS, nxt, sg(base, 19, 399), &info), 0);
	CHECK_EQ(sack1(&sb, base + 399 * MSS, nxt, sg(base, 399, 399), &info), 0);
	CHECK_EQ(sb.dupthresh, TCP_SACK_REORDER_MAX);
	/* a D-SACK of a resend not from SND.UNA: no sign (the hole resent
	 * may never have been one: a peer repeats only its latest blocks) */
	nxt = base + 410 * MSS;
	tcp_sack_note_resend(&sb, base + 401 * MSS, MSS);
	struct tcp_sack_block two[2] = {sg(base, 402, 402), sg(base, 401, 403)};
	CHECK_EQ(tcp_sack_update(&sb, base + 399 * MSS, nxt, two, 2, &info), 0);
	CHECK(info.dsack && !info.reordered);
	tcp_sack_reset(&sb);
	CHECK_EQ(sb.dupthresh, TCP_SACK_DUPTHRESH);
	tcp_sack_fini(&sb);
}

/* DupThresh comes back to 3 after TCP_SACK_CALM recoveries begun with no
 * sign of reordering since the last; a sign starts the count again. */
static void test_reordering_calm(void)
{
	struct tcp_sack_sb sb;
	struct tcp_sack_ack_info info;
	uint32_t base = 1000, nxt = base + 20 * MSS;
	CHECK_EQ(tcp_sack_init(&sb, 8, MSS, base), 0);
	/* 1 arrives after 2..6, never resent: DupThresh 6 */
	CHECK_EQ(sack1(&sb, base, nxt, sg(base, 2, 6), &info), 0);
	CHECK_EQ(sack1(&sb, base + 6 * MSS, nxt, sg(base, 2, 6), &info), 0);
	CHECK(info.reordered);
	CHECK_EQ(sb.dupthresh, 6);
	for (int i = 1; i < TCP_SACK_CALM; i++)
		tcp_sack_enter_recovery(&sb);
	CHECK_EQ(sb.dupthresh, 6); /* 15 calm recoveries */
	/* 7 arrives after 8..12: a sign, the count starts again */
	CHECK_EQ(sack1(&sb, base + 6 * MSS, nxt, sg(base, 8, 12), &info), 0);
	CHECK_EQ(sack1(&sb, base + 12 * MSS, nxt, sg(base, 14, 14), &info), 0);
	CHECK(info.reordered);
	CHECK_EQ(sb.dupthresh, 6);
	for (int i = 1; i < TCP_SACK_CALM; i++)
		tcp_sack_enter_recovery(&sb);
	CHECK_EQ(sb.dupthresh, 6);
	tcp_sack_enter_recovery(&sb); /* the 16th since the sign */
	CHECK_EQ(sb.dupthresh, TCP_SACK_DUPTHRESH);
	/* at 3 it stays; a hole with five segments SACKed above is lost */
	for (int i = 0; i < TCP_SACK_CALM; i++)
		tcp_sack_enter_recovery(&sb);
	CHECK_EQ(sb.dupthresh, TCP_SACK_DUPTHRESH);
	CHECK_EQ(sack1(&sb, base + 12 * MSS, nxt, sg(base, 14, 18), &info), 0);
	CHECK(tcp_sack_is_lost(&sb, base + 12 * MSS));
	tcp_sack_fini(&sb);
}

static void test_reset(void)
{
	struct tcp_sack_sb sb;
	struct tcp_sack_block b = {3000, 6000};
	uint32_t seq, len;

	tcp_sack_init(&sb, 4, MSS, 1000);
	CHECK_EQ(tcp_sack_update(&sb, 1000, 7000, &b, 1, NULL), 0);
	CHECK(tcp_sack_is_lost(&sb, 1000));
	tcp_sack_enter_recovery(&sb);
	CHECK(tcp_sack_next_lost(&sb, &seq, &len));
	tcp_sack_mark_rxt(&sb, seq, len);
	CHECK_EQ(sb.rxt_nxt, 2000);
	/* RTO: all forgotten; everything un-SACKed and in flight again. */
	tcp_sack_reset(&sb);
	CHECK_EQ(sb.nr, 0);
	CHECK_EQ(tcp_sack_sacked_bytes(&sb), 0);
	CHECK_EQ(sb.rxt_nxt, 1000);
	CHECK(!tcp_sack_is_lost(&sb, 1000));
	CHECK(!tcp_sack_is_sacked(&sb, 3000));
	CHECK_EQ(tcp_sack_pipe(&sb, 7000), 6000);
	CHECK(!tcp_sack_next_lost(&sb, &seq, &len));
	CHECK(tcp_sack_next_unsacked(&sb, &seq, &len));
	CHECK_EQ(seq, 1000);
	CHECK_EQ(len, MSS);
	/* The ACK from before the reset still advances it. */
	CHECK_EQ(tcp_sack_update(&sb, 2000, 7000, NULL, 0, NULL), 0);
	CHECK_EQ(tcp_sack_pipe(&sb, 7000), 5000);
	tcp_sack_fini(&sb);
}

/* Full board: forgets the smallest non-highest range, never fills a hole. */
static void test_bound(void)
{
	struct tcp_sack_sb sb;
	struct tcp_sack_block b;

	tcp_sack_init(&sb, 3, 100, 0);
	b = (struct tcp_sack_block){100, 300}; /* 200 */
	tcp_sack_update(&sb, 0, 100000, &b, 1, NULL);
	b = (struct tcp_sack_block){400, 450}; /* 50 */
	tcp_sack_update(&sb, 0, 100000, &b, 1, NULL);
	b = (struct tcp_sack_block){500, 900}; /* 400 */
	tcp_sack_update(&sb, 0, 100000, &b, 1, NULL);
	CHECK_EQ(sb.nr, 3);
	b = (struct tcp_sack_block){1000, 1010}; /* 10, highest */
	tcp_sack_update(&sb, 0, 100000, &b, 1, NULL);
	CHECK_EQ(sb.nr, 3);
	CHECK_EQ(sb.nr_forgotten, 1);
	CHECK(!tcp_sack_is_sacked(&sb, 420));  /* the 50-byte range went */
	CHECK(tcp_sack_is_sacked(&sb, 1005));  /* the highest stays */
	CHECK(!tcp_sack_is_sacked(&sb, 950));  /* holes stay holes */
	CHECK(!tcp_sack_is_sacked(&sb, 350));
	CHECK_EQ(tcp_sack_sacked_bytes(&sb), 200 + 400 + 10);
	/* A small new block in the middle is the one forgotten. */
	b = (struct tcp_sack_block){950, 960};
	tcp_sack_update(&sb, 0, 100000, &b, 1, NULL);
	CHECK_EQ(sb.nr, 3);
	CHECK_EQ(sb.nr_forgotten, 2);
	CHECK(!tcp_sack_is_sacked(&sb, 955));
	CHECK_EQ(tcp_sack_sacked_bytes(&sb), 610);
	/* Max 1: only the highest is ever kept. */
	tcp_sack_fini(&sb);
	tcp_sack_init(&sb, 1, 100, 0);
	b = (struct tcp_sack_block){500, 900};
	tcp_sack_update(&sb, 0, 100000, &b, 1, NULL);
	b = (struct tcp_sack_block){1000, 1010};
	tcp_sack_update(&sb, 0, 100000, &b, 1, NULL);
	CHECK_EQ(sb.nr, 1);
	CHECK_EQ(sb.r[0].start, 1000);
	CHECK_EQ(tcp_sack_sacked_bytes(&sb), 10);
	tcp_sack_fini(&sb);
}

/* ----------------------------------------- random blocks vs. byte model */

static uint64_t rng_state;

static uint32_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 2685821657736338717ull) >> 32);
}

enum { SPAN = 6000, SMSS = 300 };

static uint32_t max_u(uint32_t a, uint32_t b)
{
	return a > b ? a : b;
}

static void random_model(uint64_t seed, uint32_t base)
{
	struct tcp_sack_sb sb;
	static uint8_t sacked[SPAN];
	uint32_t una = 0, nxt = SPAN, rxt = 0;
	uint32_t rsnt = 0, max_th = 0; /* every resent byte lies below rsnt */
	uint32_t mth = TCP_SACK_DUPTHRESH, urs = 0, ure = 0, ufack = 0;
	bool has_urs = false, upassed = false;
	unsigned bad = 0;

	rng_state = seed;
	memset(sacked, 0, sizeof(sacked));
	tcp_sack_init(&sb, 1024, SMSS, base);
	tcp_sack_enter_recovery(&sb);
	for (int it = 0; it < 3000; it++) {
		struct tcp_sack_block b[4];
		unsigned n = rnd() % 4 + 1;
		uint32_t ack = una;
		if (rnd() % 10 == 0 && una < nxt)
			ack = una + rnd() % ((nxt - una) / 4 + 1);
		for (unsigned k = 0; k < n; k++) {
			uint32_t s = ack + 1 + rnd() % (nxt - ack + 1);
			uint32_t l = 1 + rnd() % 400;
			if (s + l > nxt)
				l = nxt > s ? nxt - s : 1;
			b[k].start = base + s;
			b[k].end = base + s + l;
		}
		/* Model of DupThresh: the hole at una, never resent, passed by
		 * the ACK with SACKed data above; a D-SACK of the last resend
		 * from una, as far as was SACKed when the ACK passed it. */
		uint32_t fack = una, th = sb.dupthresh;
		for (uint32_t i = una; i < nxt; i++)
			if (sacked[i])
				fack = i + 1;
		bool reord = false;
		if (ack > una && fack > una && una >= rsnt && fack - una >= SMSS) {
			th = max_u(th, (fack - una + SMSS - 1) / SMSS);
			reord = true;
		}
		if (ack > una && has_urs && urs == una && !upassed) {
			upassed = true;
			ufack = fack;
		}
		if (ack > fack)
			fack = ack;
		uint32_t d = b[0].start - base, f = upassed ? ufack : fack;
		if (n > 1 && d >= b[1].start - base && b[0].end - base <= b[1].end - base &&
		    b[1].start != b[1].end && b[0].start != b[0].end && has_urs && d >= urs &&
		    b[0].end - base <= ure && d < f && f - d >= SMSS) {
			th = max_u(th, (f - d + SMSS - 1) / SMSS);
			reord = true;
		}
		struct tcp_sack_ack_info info;
		if (tcp_sack_update(&sb, base + ack, base + nxt, b, n, &info))
			bad++;
		if (sb.dupthresh != th || info.reordered != reord)
			bad++;
		mth = th;
		max_th = max_u(max_th, th);
		/* Model: first block D-SACK rule, then the valid blocks. */
		for (uint32_t i = una; i < ack; i++)
			sacked[i] = 0;
		una = ack;
		if (rxt < una)
			rxt = una;
		uint32_t newly = 0;
		for (unsigned k = 0; k < n; k++) {
			uint32_t s = b[k].start - base, e = b[k].end - base;
			if (k == 0 && n > 1 && s >= b[1].start - base && e <= b[1].end - base &&
			    b[1].start != b[1].end)
				continue;
			if (s >= e || e > nxt)
				continue;
			for (uint32_t i = s; i < e; i++) {
				newly += !sacked[i];
				sacked[i] = 1;
			}
		}
		if (info.newly_sacked != newly)
			bad++;
		/* Compare every byte: sacked, lost, and sums. */
		uint32_t total = 0;
		for (uint32_t i = una; i < nxt; i++)
			total += sacked[i];
		if (total != tcp_sack_sacked_bytes(&sb))
			bad++;
		uint32_t above = 0, runs = 0, pipe = 0;
		int first_lost = -1;
		for (int32_t i = (int32_t)nxt - 1; i >= (int32_t)una; i--) {
			/* DupThresh in force: the model's (its cumulative ACKs
			 * pass holes never resent: reordering), at most half
			 * the segments in flight */
			uint32_t th = (nxt - una) / SMSS / 2;
			th = th < TCP_SACK_DUPTHRESH ? TCP_SACK_DUPTHRESH : th;
			th = mth < th ? mth : th;
			if (th != tcp_sack_dupthresh(&sb))
				bad++;
			bool lost = !sacked[i] && (runs >= th || above > (th - 1) * SMSS);
			if (sacked[i] != tcp_sack_is_sacked(&sb, base + (uint32_t)i))
				bad++;
			if (lost != tcp_sack_is_lost(&sb, base + (uint32_t)i))
				bad++;
			if (!sacked[i]) {
				pipe += !lost;
				pipe += (uint32_t)i < rxt;
			}
			if (lost && (uint32_t)i >= rxt)
				first_lost = i;
			if (sacked[i]) {
				above++;
				if ((uint32_t)i + 1 == nxt || !sacked[i + 1])
					runs++;
			}
		}
		if (pipe != tcp_sack_pipe(&sb, base + nxt))
			bad++;
		uint32_t seq, len;
		bool got = tcp_sack_next_lost(&sb, &seq, &len);
		if (got != (first_lost >= 0) || (got && seq != base + (uint32_t)first_lost))
			bad++;
		if (got && rnd() % 2) {
			tcp_sack_mark_rxt(&sb, seq, len);
			rxt = seq - base + len;
			rsnt = rxt > rsnt ? rxt : rsnt;
			if (seq == base + una) { /* the last resend from SND.UNA */
				has_urs = true;
				upassed = false;
				urs = una;
				ure = rxt;
			}
		}
		if (una >= nxt - 10) { /* start over */
			tcp_sack_reset(&sb);
			memset(sacked, 0, sizeof(sacked));
			tcp_sack_fini(&sb);
			tcp_sack_init(&sb, 1024, SMSS, base);
			una = 0;
			rxt = 0;
			rsnt = 0;
			has_urs = false;
		}
	}
	CHECK_EQ(bad, 0);
	CHECK(max_th > TCP_SACK_DUPTHRESH); /* the model saw DupThresh move */
	tcp_sack_fini(&sb);
}

static void test_random(void)
{
	random_model(11, 0);
	random_model(12, 0xFFFFF000u);
	random_model(13, 0x7FFFF800u);
}

/* A lost retransmission of the hole at SND.UNA, told by SACKs of data sent
 * after it; and SND.UNA moving onto bytes resent earlier in the recovery. */
/* 1..6 sent from base; 2, 4..6 SACKed: 1 and 3 lost, and a recovery
 * resends both (1 with 6 the last sent). */
static void holes_resent(struct tcp_sack_sb *sb, uint32_t base)
{
	uint32_t nxt = base + 6 * MSS, seq, len;
	CHECK_EQ(tcp_sack_init(sb, 8, MSS, base), 0);
	struct tcp_sack_block blk[2] = {sg(base, 4, 6), sg(base, 2, 2)};
	CHECK_EQ(tcp_sack_update(sb, base, nxt, blk, 2, NULL), 0);
	CHECK(!tcp_sack_enter_recovery(sb)); /* nothing resent yet */
	CHECK(!tcp_sack_una_rxt_lost(sb, &len));
	CHECK(tcp_sack_next_lost(sb, &seq, &len) && seq == base);
	tcp_sack_mark_rxt(sb, seq, len);
	tcp_sack_mark_una_rxt(sb, nxt);
	CHECK(tcp_sack_next_lost(sb, &seq, &len) && seq == base + 2 * MSS);
	tcp_sack_mark_rxt(sb, seq, len);
}

static void test_lost_rexmit(void)
{
	struct tcp_sack_sb sb;
	uint32_t base = 5000, nxt = base + 6 * MSS, seq, len;
	holes_resent(&sb, base);
	CHECK(!tcp_sack_una_rxt_lost(&sb, &len)); /* nothing sent after it SACKed */
	/* new data 7..10; 7 and 8 SACKed: two segments after the resend */
	uint32_t top = nxt + 4 * MSS;
	CHECK_EQ(sack1(&sb, base, top, sg(base, 7, 8), NULL), 0);
	CHECK(!tcp_sack_una_rxt_lost(&sb, &len));
	/* and 9: more than DupThresh - 1 segments after it, seg 1 still out */
	CHECK_EQ(sack1(&sb, base, top, sg(base, 9, 9), NULL), 0);
	CHECK(tcp_sack_una_rxt_lost(&sb, &len));
	CHECK_EQ(len, MSS);
	CHECK(!tcp_sack_next_lost(&sb, &seq, &len)); /* RFC 6675 alone: nothing more to send */
	/* resent again with 11 sent: 9 and before do not count for it */
	top += MSS;
	tcp_sack_mark_una_rxt(&sb, top);
	CHECK(!tcp_sack_una_rxt_lost(&sb, &len));
	/* seg 1 arrives, ACK to 3 (resent, still out): its mark is SND.NXT now */
	CHECK_EQ(sack1(&sb, base + 2 * MSS, top, sg(base, 10, 10), NULL), 0);
	CHECK(!tcp_sack_una_rxt_lost(&sb, &len));
	top += 3 * MSS; /* 12..14 sent after, SACKed: seg 3's resend was lost too */
	CHECK_EQ(sack1(&sb, base + 2 * MSS, top, sg(base, 12, 14), NULL), 0);
	CHECK(tcp_sack_una_rxt_lost(&sb, &len));
	CHECK_EQ(len, MSS);
	/* ACK past every resent byte, to 11: no mark */
	CHECK_EQ(sack1(&sb, base + 10 * MSS, top, sg(base, 12, 14), NULL), 0);
	CHECK(!tcp_sack_una_rxt_lost(&sb, &len));
	/* 11 resent before 12..14 were sent: lost by them */
	tcp_sack_mark_una_rxt(&sb, base + 11 * MSS);
	CHECK(tcp_sack_una_rxt_lost(&sb, &len));
	/* a new recovery, or a timeout, forgets the mark */
	CHECK(tcp_sack_una_rxt_lost(&sb, &len));
	tcp_sack_enter_recovery(&sb);
	CHECK(!tcp_sack_una_rxt_lost(&sb, &len));
	tcp_sack_mark_una_rxt(&sb, base + 11 * MSS);
	CHECK(tcp_sack_una_rxt_lost(&sb, &len));
	tcp_sack_reset(&sb);
	CHECK(!tcp_sack_una_rxt_lost(&sb, &len));
	tcp_sack_fini(&sb);
}

/* A recovery that starts while the last one's resends are out does not
 * resend them again (tcp_sack_enter_recovery): only once one is known
 * lost, or when a probe's lost mark says all below it are. */
static void test_recovery_carry(void)
{
	struct tcp_sack_sb sb;
	uint32_t base = 0x7FFFF000u, nxt = base + 6 * MSS, seq, len;
	holes_resent(&sb, base);
	/* 1 arrives: ACK to 3, whose resend is out; 7 is sent */
	nxt += MSS;
	CHECK_EQ(sack1(&sb, base + 2 * MSS, nxt, sg(base, 4, 6), NULL), 0);
	CHECK(tcp_sack_is_lost(&sb, base + 2 * MSS));
	/* a new recovery here leaves 3 alone */
	CHECK(tcp_sack_enter_recovery(&sb));
	CHECK(!tcp_sack_next_lost(&sb, &seq, &len));
	CHECK(!tcp_sack_una_rxt_lost(&sb, &len));
	/* 8..10 sent after SND.UNA reached 3, SACKed: its resend was lost */
	nxt += 3 * MSS;
	CHECK_EQ(sack1(&sb, base + 2 * MSS, nxt, sg(base, 8, 10), NULL), 0);
	CHECK(tcp_sack_una_rxt_lost(&sb, &len) && len == MSS);
	/* a probe's lost mark: every resend below it is lost, HighRxt = SND.UNA */
	tcp_sack_mark_lost_below(&sb, base + 7 * MSS);
	CHECK(!tcp_sack_enter_recovery(&sb));
	CHECK(tcp_sack_next_lost(&sb, &seq, &len) && seq == base + 2 * MSS);
	tcp_sack_fini(&sb);
}

/* The lost mark of a tail loss probe: holes below it are lost whatever
 * DupThresh says; one above it, or past SND.UNA, is not. */
static void test_lost_below(void)
{
	struct tcp_sack_sb sb;
	uint32_t base = 0xFFFFF000u, nxt = base + 8 * MSS, seq, len;
	CHECK_EQ(tcp_sack_init(&sb, 8, MSS, base), 0);
	/* 1..8 sent; 3 and 6 SACKed: two ranges, too few for DupThresh */
	struct tcp_sack_block blk[2] = {sg(base, 6, 6), sg(base, 3, 3)};
	CHECK_EQ(tcp_sack_update(&sb, base, nxt, blk, 2, NULL), 0);
	CHECK(!tcp_sack_is_lost(&sb, base));
	CHECK(!tcp_sack_next_lost(&sb, &seq, &len));
	uint32_t pipe0 = tcp_sack_pipe(&sb, nxt);
	CHECK_EQ(pipe0, 6 * MSS);
	/* out of range: at SND.UNA, beyond SND.NXT: ignored */
	tcp_sack_mark_lost_below(&sb, base);
	tcp_sack_mark_lost_below(&sb, nxt + 1);
	CHECK(!sb.lost_below_set);
	/* the probe was 3 (its first byte): 1-2 lost, 4-5 not (above it) */
	tcp_sack_mark_lost_below(&sb, base + 2 * MSS);
	CHECK(tcp_sack_is_lost(&sb, base));
	CHECK(tcp_sack_is_lost(&sb, base + 2 * MSS - 1));
	CHECK(!tcp_sack_is_lost(&sb, base + 3 * MSS));
	CHECK(!tcp_sack_is_lost(&sb, base + 2 * MSS)); /* SACKed */
	CHECK_EQ(tcp_sack_pipe(&sb, nxt), pipe0 - 2 * MSS);
	CHECK(tcp_sack_next_lost(&sb, &seq, &len) && seq == base && len == MSS);
	/* a lower mark later does not lower it; a higher one (6) raises it */
	tcp_sack_mark_lost_below(&sb, base + MSS);
	CHECK(tcp_sack_is_lost(&sb, base + MSS));
	tcp_sack_mark_lost_below(&sb, base + 5 * MSS);
	CHECK(tcp_sack_is_lost(&sb, base + 4 * MSS));
	CHECK(!tcp_sack_is_lost(&sb, base + 6 * MSS)); /* 7, 8: above every SACK */
	tcp_sack_enter_recovery(&sb); /* recovery keeps it */
	CHECK(tcp_sack_is_lost(&sb, base + 3 * MSS));
	/* 1 resent with 8 the last sent: a mark below 8 says nothing of the
	 * resend, one from 8 on (a probe sent after it) that it was lost */
	tcp_sack_mark_rxt(&sb, base, MSS);
	tcp_sack_mark_una_rxt(&sb, nxt);
	CHECK(!tcp_sack_una_rxt_lost(&sb, &len));
	nxt += MSS; /* 9, a probe, SACKed */
	CHECK_EQ(sack1(&sb, base, nxt, sg(base, 9, 9), NULL), 0);
	CHECK(!tcp_sack_una_rxt_lost(&sb, &len));
	tcp_sack_mark_lost_below(&sb, base + 8 * MSS);
	CHECK(tcp_sack_una_rxt_lost(&sb, &len) && len == MSS);
	/* ACK to 4: holds below 9; ACK to 9 (9 itself SACKed): gone */
	CHECK_EQ(tcp_sack_update(&sb, base + 3 * MSS, nxt, NULL, 0, NULL), 0);
	CHECK(tcp_sack_is_lost(&sb, base + 3 * MSS));
	CHECK_EQ(tcp_sack_update(&sb, base + 8 * MSS, nxt, NULL, 0, NULL), 0);
	CHECK(!sb.lost_below_set);
	/* a timeout forgets it */
	nxt += 2 * MSS;
	CHECK_EQ(sack1(&sb, base + 8 * MSS, nxt, sg(base, 11, 11), NULL), 0);
	tcp_sack_mark_lost_below(&sb, base + 10 * MSS);
	CHECK(tcp_sack_is_lost(&sb, base + 9 * MSS)); /* 10; 9 is SACKed */
	tcp_sack_reset(&sb);
	CHECK(!sb.lost_below_set);
	CHECK(!tcp_sack_is_lost(&sb, base + 9 * MSS));
	tcp_sack_fini(&sb);
}

int main(void)
{
	test_scenario();
	test_dupthresh_count();
	test_dupthresh_bytes();
	test_reordering_calm();
	test_validation();
	test_dsack();
	test_reordering();
	test_reset();
	test_bound();
	test_random();
	test_lost_rexmit();
	test_recovery_carry();
	test_lost_below();
	return bh_test_summary("tcp_sack");
}
