/* SPDX-License-Identifier: MIT */
/*
 * Option parsing (valid, malformed, every truncation, input ending against a
 * guard page so any over-read faults), building, round trips, the 40-byte limit.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tcp_opt.h"
#include "tests/unit/bh_test.h"

/* Two pages, the second PROT_NONE: guard_copy() puts data flush against it. */
static uint8_t *guard_base;
static size_t page;

static void guard_init(void)
{
	page = (size_t)sysconf(_SC_PAGESIZE);
	guard_base = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			  -1, 0);
	if (guard_base == MAP_FAILED || mprotect(guard_base + page, page, PROT_NONE) != 0) {
		fprintf(stderr, "guard page setup failed\n");
		guard_base = NULL;
	}
}

static const uint8_t *guard_copy(const uint8_t *src, size_t len)
{
	uint8_t *dst = guard_base + page - len;
	if (len)
		memcpy(dst, src, len);
	return dst;
}

static int parse_exact(const uint8_t *src, size_t len, struct tcp_opts *o)
{
	return tcp_opt_parse(guard_copy(src, len), len, o);
}

static int parse_hdr_exact(const uint8_t *src, size_t len, struct tcp_opts *o)
{
	return tcp_opt_parse_hdr(guard_copy(src, len), len, o);
}

/* A typical Linux SYN: MSS 1460, SACK-perm, TS, NOP, WS 7. */
static const uint8_t linux_syn[20] = {
	2, 4, 0x05, 0xb4,                                     /* MSS 1460 */
	4, 2,                                                 /* SACK-permitted */
	8, 10, 0x00, 0x01, 0xe2, 0x40, 0x00, 0x00, 0x00, 0x00, /* TS 123456, 0 */
	1,                                                    /* NOP */
	3, 3, 7,                                              /* WS 7 */
};

static void test_parse_valid(void)
{
	struct tcp_opts o;
	CHECK_EQ(parse_exact(linux_syn, sizeof(linux_syn), &o), 20);
	CHECK_EQ(o.present, TCP_OPTF_MSS | TCP_OPTF_SACK_PERM | TCP_OPTF_TS | TCP_OPTF_WSCALE);
	CHECK_EQ(o.mss, 1460);
	CHECK_EQ(o.wscale, 7);
	CHECK_EQ(o.tsval, 123456);
	CHECK_EQ(o.tsecr, 0);
	CHECK_EQ(o.nr_sack, 0);

	/* Empty option block. */
	CHECK_EQ(parse_exact(NULL, 0, &o), 0);
	CHECK_EQ(o.present, 0);

	/* Data ACK: NOP NOP TS, NOP NOP SACK with 2 blocks. */
	static const uint8_t ack[] = {
		1, 1, 8, 10, 0xff, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x01,
		1, 1, 5, 18, 0, 0, 0, 10, 0, 0, 0, 20, 0xff, 0xff, 0xff, 0xf0, 0, 0, 0, 5,
	};
	CHECK_EQ(parse_exact(ack, sizeof(ack), &o), (int)sizeof(ack));
	CHECK_EQ(o.present, TCP_OPTF_TS | TCP_OPTF_SACK);
	CHECK_EQ(o.tsval, 0xffffffffu);
	CHECK_EQ(o.tsecr, 0x80000001u);
	CHECK_EQ(o.nr_sack, 2);
	CHECK_EQ(o.sack[0].start, 10);
	CHECK_EQ(o.sack[0].end, 20);
	CHECK_EQ(o.sack[1].start, 0xfffffff0u);
	CHECK_EQ(o.sack[1].end, 5);

	/* Four SACK blocks (34 bytes) plus padding: the most that fits. */
	uint8_t four[36] = {1, 1, 5, 34};
	for (int i = 0; i < 32; i++)
		four[4 + i] = (uint8_t)i;
	CHECK_EQ(parse_exact(four, sizeof(four), &o), 36);
	CHECK_EQ(o.nr_sack, 4);
	CHECK_EQ(o.sack[3].start, 0x18191a1b);
	CHECK_EQ(o.sack[3].end, 0x1c1d1e1f);

	/* Window scale above 14 is used as 14 (RFC 7323 §2.3). */
	static const uint8_t ws15[] = {3, 3, 15, 0}, ws255[] = {3, 3, 255, 0},
			     ws14[] = {3, 3, 14, 0}, ws0[] = {3, 3, 0, 0};
	CHECK_EQ(parse_exact(ws15, 4, &o), 4);
	CHECK_EQ(o.wscale, 14);
	CHECK_EQ(parse_exact(ws255, 4, &o), 4);
	CHECK_EQ(o.wscale, 14);
	CHECK_EQ(parse_exact(ws14, 4, &o), 4);
	CHECK_EQ(o.wscale, 14);
	CHECK_EQ(parse_exact(ws0, 4, &o), 4);
	CHECK_EQ(o.wscale, 0);
	CHECK_EQ(o.present, TCP_OPTF_WSCALE);

	/* Unknown options are skipped by length (MD5 19, TFO 34, experimental 254). */
	static const uint8_t unk[] = {19, 18, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
				      254, 4, 0xf9, 0x89, 34, 2, 2, 4, 0x02, 0x18};
	CHECK_EQ(parse_exact(unk, sizeof(unk), &o), (int)sizeof(unk));
	CHECK_EQ(o.present, TCP_OPTF_MSS);
	CHECK_EQ(o.mss, 536);
	/* An unknown option whose bytes look like options is still skipped whole. */
	static const uint8_t unk2[] = {99, 6, 2, 4, 0, 1, 1, 1};
	CHECK_EQ(parse_exact(unk2, sizeof(unk2), &o), 8);
	CHECK_EQ(o.present, 0);

	/* EOL ends the list: what follows (even garbage) is not parsed. */
	static const uint8_t eol[] = {2, 4, 1, 0, 0, 0xff, 0xff, 0xff};
	CHECK_EQ(parse_exact(eol, sizeof(eol), &o), 8);
	CHECK_EQ(o.present, TCP_OPTF_MSS);
	CHECK_EQ(o.mss, 256);
	static const uint8_t eol0[] = {0, 2, 4, 5, 0xb4};
	CHECK_EQ(parse_exact(eol0, sizeof(eol0), &o), 5);
	CHECK_EQ(o.present, 0);

	/* All NOPs, 40 of them. */
	uint8_t nops[40];
	memset(nops, 1, sizeof(nops));
	CHECK_EQ(parse_exact(nops, 40, &o), 40);
	CHECK_EQ(o.present, 0);

	/* Duplicates: the last one wins. */
	static const uint8_t dup[] = {2, 4, 0, 100, 2, 4, 0, 200};
	CHECK_EQ(parse_exact(dup, sizeof(dup), &o), 8);
	CHECK_EQ(o.mss, 200);

	/* The struct is fully overwritten: stale fields from a previous parse vanish. */
	memset(&o, 0xaa, sizeof(o));
	CHECK_EQ(parse_exact(nops, 4, &o), 4);
	CHECK_EQ(o.present, 0);
	CHECK_EQ(o.nr_sack, 0);
}

static void test_parse_malformed(void)
{
	struct tcp_opts o;
	static const struct {
		uint8_t len;
		uint8_t b[12];
	} bad[] = {
		{1, {2}},                            /* kind with no length byte */
		{2, {2, 0}},                         /* length 0 */
		{2, {2, 1}},                         /* length 1 */
		{2, {99, 0}},                        /* unknown kind, length 0 (would loop) */
		{2, {99, 1}},                        /* unknown kind, length 1 */
		{4, {99, 5, 0, 0}},                  /* unknown kind past the end */
		{4, {2, 3, 5, 0}},                   /* MSS length 3 */
		{6, {2, 6, 5, 0xb4, 0, 0}},          /* MSS length 6 */
		{4, {3, 4, 7, 0}},                   /* WS length 4 */
		{4, {3, 2, 1, 1}},                   /* WS length 2 */
		{4, {4, 3, 0, 1}},                   /* SACK-perm length 3 */
		{10, {8, 9, 0, 0, 0, 0, 0, 0, 0, 0}}, /* TS length 9 */
		{12, {8, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}}, /* TS length 11 */
		{2, {5, 2}},                         /* SACK with no block */
		{10, {5, 9, 0, 0, 0, 0, 0, 0, 0, 0}}, /* SACK length 9 */
		{12, {5, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}}, /* SACK length 11 */
		{3, {1, 1, 2}},                      /* NOPs then a bare kind */
		{4, {1, 2, 4, 5}},                   /* MSS runs past the end */
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = parse_exact(bad[i].b, bad[i].len, &o);
		if (rc != -EBADMSG)
			fprintf(stderr, "malformed case %u parsed as %d\n", i, rc);
		CHECK_EQ(rc, -EBADMSG);
	}
	/* More than 40 bytes cannot be a TCP option block. */
	uint8_t nops[41];
	memset(nops, 1, sizeof(nops));
	CHECK_EQ(parse_exact(nops, 41, &o), -EBADMSG);
	/* A SACK longer than 4 blocks cannot fit, whatever the claimed length. */
	uint8_t big[40] = {5, 40};
	CHECK_EQ(parse_exact(big, 40, &o), -EBADMSG);
	big[1] = 42;
	CHECK_EQ(parse_exact(big, 40, &o), -EBADMSG);
}

/*
 * Every truncation of a valid option block, against the guard page: each
 * prefix either parses (if it ends on an option boundary) or is -EBADMSG,
 * and never reads a byte past its end.
 */
static void truncations(const uint8_t *opt, size_t len, const size_t *ok, size_t nok)
{
	struct tcp_opts o;
	for (size_t l = 0; l <= len; l++) {
		int want = -EBADMSG;
		for (size_t k = 0; k < nok; k++)
			if (ok[k] == l)
				want = (int)l;
		int rc = parse_exact(opt, l, &o);
		if (rc != want)
			fprintf(stderr, "truncation at %zu: got %d want %d\n", l, rc, want);
		CHECK_EQ(rc, want);
	}
}

static void test_truncations(void)
{
	/* Boundaries of linux_syn: 0, MSS 4, SACK-perm 6, TS 16, NOP 17, WS 20. */
	static const size_t syn_ok[] = {0, 4, 6, 16, 17, 20};
	truncations(linux_syn, sizeof(linux_syn), syn_ok, 6);

	uint8_t buf[TCP_OPT_MAX_LEN];
	struct tcp_sack_block blk[3] = {{1, 2}, {3, 4}, {5, 6}};
	int n = tcp_opt_build_data(buf, true, 7, 8, blk, 3);
	CHECK_EQ(n, 40);
	/* NOP 1, NOP 2, TS 12, NOP 13, NOP 14, SACK 40. */
	static const size_t data_ok[] = {0, 1, 2, 12, 13, 14, 40};
	truncations(buf, 40, data_ok, 7);

	/* Whole headers: 20 fixed bytes + options; exact-size buffers of every length. */
	uint8_t hdr[60] = {0};
	hdr[12] = (uint8_t)((20 + sizeof(linux_syn)) / 4) << 4;
	memcpy(hdr + 20, linux_syn, sizeof(linux_syn));
	struct tcp_opts o;
	for (size_t l = 0; l < 40; l++)
		CHECK_EQ(parse_hdr_exact(hdr, l, &o), -EBADMSG);
	CHECK_EQ(parse_hdr_exact(hdr, 40, &o), 40);
	CHECK_EQ(o.mss, 1460);
	CHECK_EQ(parse_hdr_exact(hdr, 60, &o), 40); /* with payload after the header */
	CHECK_EQ(o.wscale, 7);
}

static void test_parse_hdr(void)
{
	struct tcp_opts o;
	uint8_t hdr[60];
	memset(hdr, 1, sizeof(hdr)); /* options all NOP */
	for (unsigned doff = 0; doff < 16; doff++) {
		hdr[12] = (uint8_t)(doff << 4 | 0x0); /* reserved bits clear */
		int rc = parse_hdr_exact(hdr, 60, &o);
		CHECK_EQ(rc, doff < 5 ? -EBADMSG : (int)doff * 4);
		/* Header exactly as long as the data offset says. */
		if (doff >= 5) {
			CHECK_EQ(parse_hdr_exact(hdr, doff * 4, &o), (int)doff * 4);
			CHECK_EQ(parse_hdr_exact(hdr, doff * 4 - 1, &o), -EBADMSG);
		}
	}
	/* The low nibble of byte 12 (reserved, AE flag) does not change the length. */
	hdr[12] = 0x5f;
	CHECK_EQ(parse_hdr_exact(hdr, 20, &o), 20);
	/* A malformed option inside a well-formed header. */
	hdr[12] = 6 << 4;
	hdr[20] = 2, hdr[21] = 0;
	CHECK_EQ(parse_hdr_exact(hdr, 24, &o), -EBADMSG);
}

static void check_syn_roundtrip(const uint8_t *buf, int n, const struct tcp_syn_cfg *c,
				bool sack, bool ts, bool ws, uint32_t tsval, uint32_t tsecr)
{
	CHECK(n > 0 && n % 4 == 0 && n <= 20);
	struct tcp_opts o;
	CHECK_EQ(parse_exact(buf, (size_t)n, &o), n);
	uint8_t want = TCP_OPTF_MSS | (sack ? TCP_OPTF_SACK_PERM : 0) | (ts ? TCP_OPTF_TS : 0) |
		       (ws ? TCP_OPTF_WSCALE : 0);
	CHECK_EQ(o.present, want);
	CHECK_EQ(o.mss, c->mss);
	if (ws)
		CHECK_EQ(o.wscale, c->wscale > 14 ? 14 : c->wscale);
	if (ts) {
		CHECK_EQ(o.tsval, tsval);
		CHECK_EQ(o.tsecr, tsecr);
	}
	CHECK_EQ(n, 4 + (ts ? 12 : sack ? 4 : 0) + (ws ? 4 : 0));
}

static void test_build_syn(void)
{
	uint8_t buf[TCP_OPT_MAX_LEN];
	/* Exact bytes of a full SYN: the Linux layout. */
	struct tcp_syn_cfg all = {.mss = 1460, .wscale = 7, .ws = true, .sack = true, .ts = true};
	CHECK_EQ(tcp_opt_build_syn(buf, &all, 123456), 20);
	CHECK(memcmp(buf, linux_syn, 20) == 0);

	for (unsigned m = 0; m < 8; m++) {
		struct tcp_syn_cfg c = {.mss = (uint16_t)(1000 + m), .wscale = (uint8_t)(m * 3),
					.ws = m & 1, .sack = m & 2, .ts = m & 4};
		int n = tcp_opt_build_syn(buf, &c, 0xdeadbeef);
		check_syn_roundtrip(buf, n, &c, c.sack, c.ts, c.ws, 0xdeadbeef, 0);

		/* SYN-ACK: for every combination the peer offered. */
		for (unsigned p = 0; p < 8; p++) {
			struct tcp_opts peer = {.present = TCP_OPTF_MSS, .mss = 1400,
						.tsval = 0x01020304};
			if (p & 1)
				peer.present |= TCP_OPTF_WSCALE, peer.wscale = 9;
			if (p & 2)
				peer.present |= TCP_OPTF_SACK_PERM;
			if (p & 4)
				peer.present |= TCP_OPTF_TS;
			n = tcp_opt_build_synack(buf, &c, &peer, 555);
			bool ws = c.ws && (p & 1), sack = c.sack && (p & 2), ts = c.ts && (p & 4);
			check_syn_roundtrip(buf, n, &c, sack, ts, ws, 555, 0x01020304);

			/* Negotiation agrees with what went on the wire, on both ends. */
			struct tcp_opt_neg neg;
			tcp_opt_negotiate(&c, &peer, &neg);
			CHECK_EQ(neg.ws, ws);
			CHECK_EQ(neg.sack, sack);
			CHECK_EQ(neg.ts, ts);
			CHECK_EQ(neg.snd_wscale, ws ? 9 : 0);
			CHECK_EQ(neg.rcv_wscale, ws ? (c.wscale > 14 ? 14 : c.wscale) : 0);
			CHECK_EQ(neg.snd_mss, c.mss < 1400 ? c.mss : 1400);
			/* The client parses the SYN-ACK and reaches the same verdict. */
			struct tcp_opts back;
			CHECK_EQ(parse_exact(buf, (size_t)n, &back), n);
			struct tcp_syn_cfg client = {.mss = 1400, .wscale = 9,
						     .ws = p & 1, .sack = p & 2, .ts = p & 4};
			struct tcp_opt_neg cneg;
			tcp_opt_negotiate(&client, &back, &cneg);
			CHECK_EQ(cneg.ws, ws);
			CHECK_EQ(cneg.sack, sack);
			CHECK_EQ(cneg.ts, ts);
			CHECK_EQ(cneg.snd_wscale, neg.rcv_wscale);
			CHECK_EQ(cneg.rcv_wscale, neg.snd_wscale);
		}
	}
	/* Our own shift is clamped when built. */
	struct tcp_syn_cfg big = {.mss = 9000, .wscale = 20, .ws = true};
	CHECK_EQ(tcp_opt_build_syn(buf, &big, 0), 8);
	CHECK_EQ(buf[7], 14);
}

static void test_negotiate_mss(void)
{
	struct tcp_syn_cfg c = {.mss = 1460};
	struct tcp_opts peer = {0};
	struct tcp_opt_neg neg;
	tcp_opt_negotiate(&c, &peer, &neg); /* no MSS option: 536 */
	CHECK_EQ(neg.snd_mss, TCP_MSS_DEFAULT);
	peer.present = TCP_OPTF_MSS;
	peer.mss = 9000; /* capped by ours */
	tcp_opt_negotiate(&c, &peer, &neg);
	CHECK_EQ(neg.snd_mss, 1460);
	peer.mss = 0; /* hostile: floored */
	tcp_opt_negotiate(&c, &peer, &neg);
	CHECK_EQ(neg.snd_mss, TCP_MSS_MIN);
	peer.mss = 1220;
	tcp_opt_negotiate(&c, &peer, &neg);
	CHECK_EQ(neg.snd_mss, 1220);
	/* WS offered by us only: both shifts 0 (RFC 7323 §2.2). */
	struct tcp_syn_cfg w = {.mss = 1460, .wscale = 10, .ws = true};
	tcp_opt_negotiate(&w, &peer, &neg);
	CHECK(!neg.ws);
	CHECK_EQ(neg.snd_wscale, 0);
	CHECK_EQ(neg.rcv_wscale, 0);
	/* WS offered by the peer only: also off. */
	peer.present |= TCP_OPTF_WSCALE, peer.wscale = 5;
	tcp_opt_negotiate(&c, &peer, &neg);
	CHECK(!neg.ws);
	CHECK_EQ(neg.snd_wscale, 0);
	/* Peer shift 0 is a valid offer: WS on with shift 0 that way. */
	peer.wscale = 0;
	tcp_opt_negotiate(&w, &peer, &neg);
	CHECK(neg.ws);
	CHECK_EQ(neg.snd_wscale, 0);
	CHECK_EQ(neg.rcv_wscale, 10);
}

static void test_build_data(void)
{
	uint8_t buf[TCP_OPT_MAX_LEN + 8];
	struct tcp_sack_block blk[5] = {
		{0xfffffff0, 0x10}, {100, 200}, {300, 400}, {500, 600}, {700, 800},
	};
	for (int ts = 0; ts < 2; ts++) {
		for (unsigned nr = 0; nr <= 5; nr++) {
			memset(buf, 0xee, sizeof(buf));
			int n = tcp_opt_build_data(buf, ts, 0xfffffffe, 42, blk, nr);
			unsigned fit = nr < tcp_opt_sack_max(ts) ? nr : tcp_opt_sack_max(ts);
			CHECK_EQ(n, (int)tcp_opt_data_len(ts, nr));
			CHECK(n % 4 == 0 && n <= TCP_OPT_MAX_LEN);
			CHECK_EQ(buf[TCP_OPT_MAX_LEN], 0xee); /* nothing written past 40 */
			CHECK_EQ(n, (ts ? 12 : 0) + (fit ? 4 + 8 * (int)fit : 0));
			struct tcp_opts o;
			CHECK_EQ(parse_exact(buf, (size_t)n, &o), n);
			CHECK_EQ(!!(o.present & TCP_OPTF_TS), ts);
			CHECK_EQ(!!(o.present & TCP_OPTF_SACK), fit > 0);
			CHECK_EQ(o.nr_sack, fit);
			if (ts) {
				CHECK_EQ(o.tsval, 0xfffffffe);
				CHECK_EQ(o.tsecr, 42);
			}
			for (unsigned b = 0; b < fit; b++) {
				CHECK_EQ(o.sack[b].start, blk[b].start);
				CHECK_EQ(o.sack[b].end, blk[b].end);
			}
		}
	}
	CHECK_EQ(tcp_opt_sack_max(true), 3);
	CHECK_EQ(tcp_opt_sack_max(false), 4);
	CHECK_EQ(tcp_opt_data_len(true, 3), 40);
	CHECK_EQ(tcp_opt_data_len(false, 4), 36);
	CHECK_EQ(tcp_opt_data_len(true, 0), 12);
	CHECK_EQ(tcp_opt_data_len(false, 0), 0);

	/* Exact bytes: NOP NOP TS(1, 2) NOP NOP SACK{(3, 4)}. */
	static const uint8_t want[] = {1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2,
				       1, 1, 5, 10, 0, 0, 0, 3, 0, 0, 0, 4};
	struct tcp_sack_block one = {3, 4};
	CHECK_EQ(tcp_opt_build_data(buf, true, 1, 2, &one, 1), 24);
	CHECK(memcmp(buf, want, sizeof(want)) == 0);

	/* Round trip through a whole header. */
	uint8_t hdr[60] = {0};
	int n = tcp_opt_build_data(hdr + 20, true, 9, 10, blk, 3);
	hdr[12] = (uint8_t)((20 + n) / 4) << 4;
	struct tcp_opts o;
	CHECK_EQ(parse_hdr_exact(hdr, (size_t)(20 + n), &o), 20 + n);
	CHECK_EQ(o.nr_sack, 3);
	CHECK_EQ(o.tsval, 9);
}

int main(void)
{
	guard_init();
	if (!guard_base)
		return 1;
	test_parse_valid();
	test_parse_malformed();
	test_truncations();
	test_parse_hdr();
	test_build_syn();
	test_negotiate_mss();
	test_build_data();
	munmap(guard_base, 2 * page);
	return bh_test_summary("tcp_opt");
}
