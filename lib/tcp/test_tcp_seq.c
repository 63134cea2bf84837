/* SPDX-License-Identifier: MIT */
/* Sequence arithmetic around 2^32, acceptability, RFC 5961 checks. */
#include "tcp_seq.h"
#include "tests/unit/bh_test.h"

static const uint32_t bases[] = {0, 1, 0x7fffffff, 0x80000000, 0x80000001, 0xfffffffe,
				 0xffffffff, 0xffffff00, 0x12345678};
static const uint32_t deltas[] = {1, 2, 100, 0xffff, 1u << 30, 0x7ffffffe, 0x7fffffff};

static void test_compare(void)
{
	for (unsigned i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		uint32_t a = bases[i];
		CHECK(tcp_seq_leq(a, a) && tcp_seq_geq(a, a));
		CHECK(!tcp_seq_lt(a, a) && !tcp_seq_gt(a, a));
		for (unsigned j = 0; j < sizeof(deltas) / sizeof(deltas[0]); j++) {
			uint32_t b = a + deltas[j]; /* may wrap: still "after" a */
			CHECK(tcp_seq_lt(a, b));
			CHECK(tcp_seq_leq(a, b));
			CHECK(tcp_seq_gt(b, a));
			CHECK(tcp_seq_geq(b, a));
			CHECK(!tcp_seq_lt(b, a));
			CHECK(!tcp_seq_gt(a, b));
			CHECK(!tcp_seq_geq(a, b));
			CHECK(!tcp_seq_leq(b, a));
			CHECK_EQ(tcp_seq_max(a, b), b);
			CHECK_EQ(tcp_seq_max(b, a), b);
			CHECK_EQ(tcp_seq_min(a, b), a);
			CHECK_EQ(tcp_seq_min(b, a), a);
			/* Going backwards is "before" the same way. */
			CHECK(tcp_seq_lt(a - deltas[j], a));
		}
	}
	/* The wrap itself. */
	CHECK(tcp_seq_lt(0xffffffff, 0));
	CHECK(tcp_seq_gt(0, 0xffffffff));
	CHECK(tcp_seq_lt(0xfffffff0, 0x10));
	CHECK(TCP_SEQ_LT(0xfffffff0, 0x10) && TCP_SEQ_GT(0x10, 0xfffffff0));
	CHECK(TCP_SEQ_LEQ(5, 5) && TCP_SEQ_GEQ(0, 0xffffffff));
	/* 2^31 apart is the one ambiguous distance: a - b = INT32_MIN, so each is
	 * "before" the other. TCP never keeps live numbers that far apart. */
	CHECK(tcp_seq_lt(0, 0x80000000) && tcp_seq_lt(0x80000000, 0));
	CHECK_EQ(tcp_seq_max(0xfffffffe, 3), 3);
	CHECK_EQ(tcp_seq_min(0xfffffffe, 3), 0xfffffffe);
}

static void test_window(void)
{
	/* A window straddling the wrap: [0xfffffff0, 0x10). */
	uint32_t lo = 0xfffffff0, len = 0x20;
	CHECK(tcp_seq_in_window(0xfffffff0, lo, len));
	CHECK(tcp_seq_in_window(0xffffffff, lo, len));
	CHECK(tcp_seq_in_window(0, lo, len));
	CHECK(tcp_seq_in_window(0xf, lo, len));
	CHECK(!tcp_seq_in_window(0x10, lo, len));
	CHECK(!tcp_seq_in_window(0xffffffef, lo, len));
	CHECK(!tcp_seq_in_window(0x80000000, lo, len));
	/* Empty window contains nothing, not even lo. */
	for (unsigned i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		CHECK(!tcp_seq_in_window(bases[i], bases[i], 0));
		CHECK(tcp_seq_in_window(bases[i], bases[i], 1));
		CHECK(!tcp_seq_in_window(bases[i] + 1, bases[i], 1));
		CHECK(!tcp_seq_in_window(bases[i] - 1, bases[i], 1));
		/* The largest scaled window (65535 << 14) across every base. */
		uint32_t w = 65535u << 14;
		CHECK(tcp_seq_in_window(bases[i] + w - 1, bases[i], w));
		CHECK(!tcp_seq_in_window(bases[i] + w, bases[i], w));
	}
	CHECK(tcp_seq_between(0, 0xfffffffe, 2));
	CHECK(tcp_seq_between(2, 0xfffffffe, 2));
	CHECK(tcp_seq_between(0xfffffffe, 0xfffffffe, 2));
	CHECK(!tcp_seq_between(3, 0xfffffffe, 2));
	CHECK(!tcp_seq_between(0xfffffffd, 0xfffffffe, 2));
	CHECK(tcp_seq_between(7, 7, 7));
}

static void test_acceptable(void)
{
	for (unsigned i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		uint32_t nxt = bases[i];
		/* len 0, wnd 0: only SEG.SEQ = RCV.NXT. */
		CHECK(tcp_seq_acceptable(nxt, 0, nxt, 0));
		CHECK(!tcp_seq_acceptable(nxt + 1, 0, nxt, 0));
		CHECK(!tcp_seq_acceptable(nxt - 1, 0, nxt, 0));
		/* len 0, wnd > 0: RCV.NXT =< SEG.SEQ < RCV.NXT + RCV.WND. */
		CHECK(tcp_seq_acceptable(nxt, 0, nxt, 1000));
		CHECK(tcp_seq_acceptable(nxt + 999, 0, nxt, 1000));
		CHECK(!tcp_seq_acceptable(nxt + 1000, 0, nxt, 1000));
		CHECK(!tcp_seq_acceptable(nxt - 1, 0, nxt, 1000));
		/* len > 0, wnd 0: never, even exactly at RCV.NXT. */
		CHECK(!tcp_seq_acceptable(nxt, 1, nxt, 0));
		CHECK(!tcp_seq_acceptable(nxt, 1000, nxt, 0));
		CHECK(!tcp_seq_acceptable(nxt - 10, 20, nxt, 0));
		/* len > 0, wnd > 0: first or last octet in the window. */
		CHECK(tcp_seq_acceptable(nxt, 100, nxt, 1000));
		CHECK(tcp_seq_acceptable(nxt + 999, 100, nxt, 1000));  /* first octet in */
		CHECK(!tcp_seq_acceptable(nxt + 1000, 100, nxt, 1000));
		CHECK(tcp_seq_acceptable(nxt - 50, 100, nxt, 1000));   /* last octet in */
		CHECK(tcp_seq_acceptable(nxt - 99, 100, nxt, 1000));   /* last = nxt */
		CHECK(!tcp_seq_acceptable(nxt - 100, 100, nxt, 1000)); /* all old */
		CHECK(tcp_seq_acceptable(nxt - 1, 1, nxt, 1) == false);
		CHECK(tcp_seq_acceptable(nxt, 1, nxt, 1));
		/* Starting before and ending after a small window: neither the first nor
		 * the last octet is inside, so the RFC's test rejects it. */
		CHECK(!tcp_seq_acceptable(nxt - 10, 30, nxt, 5));
	}
	/* Across the wrap, RCV.NXT just below 2^32. */
	CHECK(tcp_seq_acceptable(0x10, 10, 0xfffffff0, 0x100));
	CHECK(tcp_seq_acceptable(0xffffffe0, 0x20, 0xfffffff0, 0x100)); /* last octet 0xffffffff */
	CHECK(!tcp_seq_acceptable(0xffffffe0, 0x10, 0xfffffff0, 0x100));
	CHECK(tcp_seq_acceptable(0xffffffff, 2, 0, 10)); /* last octet is 0 */
	CHECK(!tcp_seq_acceptable(0xfffffffe, 2, 0, 10));
}

static void test_rfc5961(void)
{
	uint32_t nxt = 0xfffffffa, wnd = 100;
	CHECK_EQ(tcp_seq_rst_check(nxt, nxt, wnd), TCP_RST_ACCEPT);
	CHECK_EQ(tcp_seq_rst_check(nxt + 1, nxt, wnd), TCP_RST_CHALLENGE);
	CHECK_EQ(tcp_seq_rst_check(nxt + 99, nxt, wnd), TCP_RST_CHALLENGE);
	CHECK_EQ(tcp_seq_rst_check(nxt + 100, nxt, wnd), TCP_RST_DROP);
	CHECK_EQ(tcp_seq_rst_check(nxt - 1, nxt, wnd), TCP_RST_DROP);
	CHECK_EQ(tcp_seq_rst_check(nxt, nxt, 0), TCP_RST_ACCEPT);
	CHECK_EQ(tcp_seq_rst_check(nxt + 1, nxt, 0), TCP_RST_DROP);

	/* SND.UNA = 0xfffffff0, SND.NXT = 0x10, MAX.SND.WND = 0x100. */
	uint32_t una = 0xfffffff0, snxt = 0x10, maxw = 0x100;
	CHECK_EQ(tcp_seq_ack_check(0x10, una, snxt, maxw), TCP_ACK_NEW);
	CHECK_EQ(tcp_seq_ack_check(0, una, snxt, maxw), TCP_ACK_NEW);
	CHECK_EQ(tcp_seq_ack_check(una + 1, una, snxt, maxw), TCP_ACK_NEW);
	CHECK_EQ(tcp_seq_ack_check(una, una, snxt, maxw), TCP_ACK_DUP);
	CHECK_EQ(tcp_seq_ack_check(una - 0x100, una, snxt, maxw), TCP_ACK_DUP);
	CHECK_EQ(tcp_seq_ack_check(una - 0x101, una, snxt, maxw), TCP_ACK_STALE);
	CHECK_EQ(tcp_seq_ack_check(0x11, una, snxt, maxw), TCP_ACK_FUTURE);
	CHECK_EQ(tcp_seq_ack_check(0x7000000, una, snxt, maxw), TCP_ACK_FUTURE);
	/* Nothing in flight: only SND.NXT = SND.UNA is not stale/future. */
	CHECK_EQ(tcp_seq_ack_check(5, 5, 5, 0), TCP_ACK_DUP);
	CHECK_EQ(tcp_seq_ack_check(6, 5, 5, 0), TCP_ACK_FUTURE);
	CHECK_EQ(tcp_seq_ack_check(4, 5, 5, 0), TCP_ACK_STALE);

	/* Window update rule (WL1, WL2) across the wrap. */
	CHECK(tcp_seq_wnd_update_ok(0, 0, 0xffffffff, 0));        /* newer seq */
	CHECK(!tcp_seq_wnd_update_ok(0xfffffffe, 0, 0xffffffff, 0)); /* older seq */
	CHECK(tcp_seq_wnd_update_ok(7, 1, 7, 0xffffffff));        /* same seq, newer ack */
	CHECK(tcp_seq_wnd_update_ok(7, 9, 7, 9));                 /* same seq, same ack */
	CHECK(!tcp_seq_wnd_update_ok(7, 0xffffffff, 7, 1));       /* same seq, older ack */
}

int main(void)
{
	test_compare();
	test_window();
	test_acceptable();
	test_rfc5961();
	return bh_test_summary("tcp_seq");
}
