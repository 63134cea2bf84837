/* SPDX-License-Identifier: MIT */
/* SipHash-2-4 reference vectors, RFC 6528 ISNs, SYN cookies. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tcp_cookie.h"
#include "tcp_isn.h"
#include "tcp_seq.h"
#include "tcp_siphash.h"
#include "tests/unit/bh_test.h"

/*
 * SipHash-2-4 with key 00 01 .. 0f over the messages 00, 00 01, .., 00 .. 3e
 * (length 0..63): the reference implementation's vectors, as 64-bit values
 * (output bytes read little-endian). Vector 15 is the one worked through in
 * the paper's appendix.
 */
static const uint64_t vectors[64] = {
	0x726fdb47dd0e0e31, 0x74f839c593dc67fd, 0x0d6c8009d9a94f5a, 0x85676696d7fb7e2d,
	0xcf2794e0277187b7, 0x18765564cd99a68d, 0xcbc9466e58fee3ce, 0xab0200f58b01d137,
	0x93f5f5799a932462, 0x9e0082df0ba9e4b0, 0x7a5dbbc594ddb9f3, 0xf4b32f46226bada7,
	0x751e8fbc860ee5fb, 0x14ea5627c0843d90, 0xf723ca908e7af2ee, 0xa129ca6149be45e5,
	0x3f2acc7f57c29bdb, 0x699ae9f52cbe4794, 0x4bc1b3f0968dd39c, 0xbb6dc91da77961bd,
	0xbed65cf21aa2ee98, 0xd0f2cbb02e3b67c7, 0x93536795e3a33e88, 0xa80c038ccd5ccec8,
	0xb8ad50c6f649af94, 0xbce192de8a85b8ea, 0x17d835b85bbb15f3, 0x2f2e6163076bcfad,
	0xde4daaaca71dc9a5, 0xa6a2506687956571, 0xad87a3535c49ef28, 0x32d892fad841c342,
	0x7127512f72f27cce, 0xa7f32346f95978e3, 0x12e0b01abb051238, 0x15e034d40fa197ae,
	0x314dffbe0815a3b4, 0x027990f029623981, 0xcadcd4e59ef40c4d, 0x9abfd8766a33735c,
	0x0e3ea96b5304a7d0, 0xad0c42d6fc585992, 0x187306c89bc215a9, 0xd4a60abcf3792b95,
	0xf935451de4f21df2, 0xa9538f0419755787, 0xdb9acddff56ca510, 0xd06c98cd5c0975eb,
	0xe612a3cb9ecba951, 0xc766e62cfcadaf96, 0xee64435a9752fe72, 0xa192d576b245165a,
	0x0a8787bf8ecb74b2, 0x81b3e73d20b49b6f, 0x7fa8220ba3b2ecea, 0x245731c13ca42499,
	0xb78dbfaf3a8d83bd, 0xea1ad565322a1a0b, 0x60e61c23a3795013, 0x6606d7e446282b93,
	0x6ca4ecb15c5f91e1, 0x9f626da15c9625f3, 0xe51b38608ef25f57, 0x958a324ceb064572,
};

static struct tcp_secret key_seq(void)
{
	struct tcp_secret k;
	for (int i = 0; i < 16; i++)
		k.k[i] = (uint8_t)i;
	return k;
}

static void test_siphash(void)
{
	struct tcp_secret k = key_seq();
	uint8_t msg[64];
	for (int i = 0; i < 64; i++)
		msg[i] = (uint8_t)i;
	for (size_t n = 0; n < 64; n++) {
		/* Exact-size heap copy: ASan catches a read past the message. */
		uint8_t *c = malloc(n ? n : 1);
		memcpy(c, msg, n);
		uint64_t h = tcp_siphash24(&k, c, n);
		if (h != vectors[n])
			fprintf(stderr, "siphash len %zu: %016llx\n", n, (unsigned long long)h);
		CHECK(h == vectors[n]);
		free(c);
	}
	CHECK(tcp_siphash24(&k, NULL, 0) == vectors[0]);
	/* Unaligned input gives the same result. */
	uint8_t shifted[65];
	memcpy(shifted + 1, msg, 64);
	CHECK(tcp_siphash24(&k, shifted + 1, 63) == vectors[63]);
	/* Another key, another function. */
	struct tcp_secret k2 = k;
	k2.k[15] ^= 1;
	CHECK(tcp_siphash24(&k2, msg, 15) != vectors[15]);

	/* The tuple hash covers every field and the extra words. */
	struct tcp_tuple t = {0xc6120001, 0xc6120002, 80, 40000};
	uint32_t ex[2] = {1, 2};
	uint64_t base = tcp_siphash_tuple(&k, &t, ex, 2);
	CHECK(base == tcp_siphash_tuple(&k, &t, ex, 2));
	struct tcp_tuple u = t;
	u.laddr ^= 1;
	CHECK(tcp_siphash_tuple(&k, &u, ex, 2) != base);
	u = t, u.raddr ^= 0x80000000;
	CHECK(tcp_siphash_tuple(&k, &u, ex, 2) != base);
	u = t, u.lport ^= 1;
	CHECK(tcp_siphash_tuple(&k, &u, ex, 2) != base);
	u = t, u.rport ^= 0x8000;
	CHECK(tcp_siphash_tuple(&k, &u, ex, 2) != base);
	/* Swapping the ends is a different tuple. */
	u = (struct tcp_tuple){t.raddr, t.laddr, t.rport, t.lport};
	CHECK(tcp_siphash_tuple(&k, &u, ex, 2) != base);
	uint32_t ex2[2] = {1, 3};
	CHECK(tcp_siphash_tuple(&k, &t, ex2, 2) != base);
	CHECK(tcp_siphash_tuple(&k, &t, ex, 1) != base);
	CHECK(tcp_siphash_tuple(&k, &t, NULL, 0) != tcp_siphash_tuple(&k, &t, ex, 1));
}

static void test_isn(void)
{
	struct tcp_secret k = key_seq();
	struct tcp_tuple t = {0x0a000001, 0x0a000002, 80, 51000};
	uint64_t t0 = 1234567890123ull;
	uint32_t isn0 = tcp_isn(&k, &t, t0);
	/* The clock part: one tick per 4 µs. */
	CHECK_EQ(tcp_isn(&k, &t, t0), isn0);
	CHECK_EQ((uint32_t)(tcp_isn(&k, &t, t0 + 4) - isn0), 1);
	CHECK_EQ((uint32_t)(tcp_isn(&k, &t, t0 + 4000000) - isn0), 1000000);
	CHECK_EQ(tcp_isn_clock(400), 100);
	/* Monotonic in sequence space for later connections on the same tuple,
	 * across the 2^32 wrap of the ISN (which happens about every 4.77 h). */
	for (uint64_t dt = 4; dt < 10ull * 3600 * 1000000; dt = dt * 3 / 2 + 4)
		CHECK(tcp_seq_gt(tcp_isn(&k, &t, t0 + dt), tcp_isn(&k, &t, t0 + dt - 4)));
	uint32_t wrapped = 0;
	for (uint64_t now = t0; now < t0 + 6ull * 3600 * 1000000; now += 60ull * 1000000) {
		uint32_t a = tcp_isn(&k, &t, now), b = tcp_isn(&k, &t, now + 60ull * 1000000);
		CHECK(tcp_seq_gt(b, a));
		wrapped += b < a;
	}
	CHECK_EQ(wrapped, 1); /* wrapped once in 6 hours, and stayed "greater" */

	/* Different tuples, same time: unrelated ISNs (no collisions in 2000). */
	enum { N = 2000 };
	static uint32_t isns[N];
	for (int i = 0; i < N; i++) {
		struct tcp_tuple u = t;
		if (i < N / 2)
			u.rport = (uint16_t)(1024 + i); /* neighbouring ports */
		else
			u.raddr = 0x0a000000u + (uint32_t)i;
		isns[i] = tcp_isn(&k, &u, t0);
	}
	int same = 0, close = 0;
	for (int i = 0; i < N; i++) {
		for (int j = i + 1; j < N; j++) {
			same += isns[i] == isns[j];
			uint32_t d = isns[i] - isns[j];
			close += d < 65536 || -d < 65536;
		}
	}
	CHECK_EQ(same, 0);
	/* Pairs within 64 KiB: ~ N^2/2 * 2^17/2^32 = 61 expected at random; a
	 * linear F (ports added in) would give thousands. */
	CHECK(close < 200);
	/* The secret matters. */
	struct tcp_secret k2 = k;
	k2.k[0] ^= 0x55;
	CHECK(tcp_isn(&k2, &t, t0) != isn0);
}

static void test_cookie_mss_table(void)
{
	CHECK_EQ(tcp_cookie_mss_value(0), 536);
	CHECK_EQ(tcp_cookie_mss_value(1), 1300);
	CHECK_EQ(tcp_cookie_mss_value(2), 1440);
	CHECK_EQ(tcp_cookie_mss_value(3), 1460);
	CHECK_EQ(tcp_cookie_mss_value(4), 0);
	CHECK_EQ(tcp_cookie_mss_index(0), 0);
	CHECK_EQ(tcp_cookie_mss_index(535), 0);
	CHECK_EQ(tcp_cookie_mss_index(536), 0);
	CHECK_EQ(tcp_cookie_mss_index(1299), 0);
	CHECK_EQ(tcp_cookie_mss_index(1300), 1);
	CHECK_EQ(tcp_cookie_mss_index(1439), 1);
	CHECK_EQ(tcp_cookie_mss_index(1440), 2);
	CHECK_EQ(tcp_cookie_mss_index(1459), 2);
	CHECK_EQ(tcp_cookie_mss_index(1460), 3);
	CHECK_EQ(tcp_cookie_mss_index(8960), 3);
	CHECK_EQ(tcp_cookie_mss_index(65535), 3);
	/* Never rounds up: the value is never above what was asked for, unless
	 * below the table (536 is what every IPv4 host must accept). */
	for (unsigned m = 0; m <= 0xffff; m += 7) {
		uint16_t v = tcp_cookie_mss_value(tcp_cookie_mss_index((uint16_t)m));
		CHECK(v <= m || v == 536);
	}
}

static void test_cookie(void)
{
	struct tcp_secret k = key_seq();
	k.k[3] = 0x99; /* not the ISN key */
	struct tcp_tuple t = {0xc0a80001, 0xc0a80063, 443, 33333};
	const uint64_t P = TCP_COOKIE_PERIOD_US;
	uint64_t now = 1000 * P + 17; /* early in window 1000 */
	uint32_t cisn = 0xfffffffe;

	/* Round trip for each MSS, and the MSS the SYN-ACK must announce. */
	static const uint16_t mss_in[] = {100, 536, 1200, 1300, 1400, 1440, 1452, 1460, 9000};
	static const uint16_t mss_out[] = {536, 536, 536, 1300, 1300, 1440, 1440, 1460, 1460};
	for (unsigned i = 0; i < sizeof(mss_in) / sizeof(mss_in[0]); i++) {
		uint16_t got = 0;
		uint32_t c = tcp_cookie_make(&k, &t, cisn, mss_in[i], now, &got);
		CHECK_EQ(got, mss_out[i]);
		CHECK_EQ(tcp_cookie_check(&k, &t, cisn, c, now), mss_out[i]);
		CHECK_EQ(tcp_cookie_check(&k, &t, cisn, c, now + 1000000), mss_out[i]);
	}

	uint32_t c = tcp_cookie_make(&k, &t, cisn, 1460, now, NULL);
	/* Deterministic: the same SYN retransmitted gets the same cookie. */
	CHECK_EQ(tcp_cookie_make(&k, &t, cisn, 1460, now + 5, NULL), c);
	/* Accepted in its window and the next, whatever the phase. */
	CHECK_EQ(tcp_cookie_check(&k, &t, cisn, c, 1000 * P), 1460);
	CHECK_EQ(tcp_cookie_check(&k, &t, cisn, c, 1001 * P - 1), 1460);
	CHECK_EQ(tcp_cookie_check(&k, &t, cisn, c, 1001 * P), 1460);
	CHECK_EQ(tcp_cookie_check(&k, &t, cisn, c, 1002 * P - 1), 1460);
	/* Rejected two windows on (and three), and before it was made. */
	CHECK_EQ(tcp_cookie_check(&k, &t, cisn, c, 1002 * P), -ETIMEDOUT);
	CHECK_EQ(tcp_cookie_check(&k, &t, cisn, c, 1003 * P + 5), -ETIMEDOUT);
	CHECK_EQ(tcp_cookie_check(&k, &t, cisn, c, 999 * P), -ETIMEDOUT);
	/* Four and five windows on, the counter's two bits match again: the MAC
	 * over the full counter still rejects it. */
	CHECK_EQ(tcp_cookie_check(&k, &t, cisn, c, 1004 * P), -EACCES);
	CHECK_EQ(tcp_cookie_check(&k, &t, cisn, c, 1005 * P), -EACCES);
	CHECK_EQ(tcp_cookie_check(&k, &t, cisn, c, 1000 * P + 64 * 4 * P), -EACCES);

	/* Wrong tuple, wrong client ISN, wrong secret. */
	struct tcp_tuple u = t;
	u.rport++;
	CHECK_EQ(tcp_cookie_check(&k, &u, cisn, c, now), -EACCES);
	u = t, u.raddr++;
	CHECK_EQ(tcp_cookie_check(&k, &u, cisn, c, now), -EACCES);
	u = t, u.lport = 80;
	CHECK_EQ(tcp_cookie_check(&k, &u, cisn, c, now), -EACCES);
	u = t, u.laddr = 0;
	CHECK_EQ(tcp_cookie_check(&k, &u, cisn, c, now), -EACCES);
	CHECK_EQ(tcp_cookie_check(&k, &t, cisn + 1, c, now), -EACCES);
	struct tcp_secret k2 = k;
	k2.k[0] ^= 1;
	CHECK_EQ(tcp_cookie_check(&k2, &t, cisn, c, now), -EACCES);
	/* Any single flipped bit is caught: counter bits give -ETIMEDOUT or a
	 * MAC mismatch, MSS and MAC bits a MAC mismatch. */
	for (int b = 0; b < 32; b++) {
		int rc = tcp_cookie_check(&k, &t, cisn, c ^ (1u << b), now);
		CHECK(rc == -EACCES || rc == -ETIMEDOUT);
	}
	/* Changing the MSS index alone (to claim a larger MSS) fails. */
	uint32_t small = tcp_cookie_make(&k, &t, cisn, 536, now, NULL);
	CHECK_EQ(tcp_cookie_check(&k, &t, cisn, small | 3u << 28, now), -EACCES);

	/* Blind guessing: random cookies for a live tuple and ISN essentially never
	 * pass (expected 2^17 * 2^-28 * 1/2 ~ 0.0002). */
	uint32_t x = 12345;
	int accepted = 0;
	for (int i = 0; i < 1 << 17; i++) {
		x = x * 1103515245u + 12345u;
		uint32_t guess = x ^ (x >> 7) << 13;
		accepted += tcp_cookie_check(&k, &t, cisn, guess, now) > 0 && guess != c;
	}
	CHECK_EQ(accepted, 0);

	/* Very early clock (window 0): no "previous" window to wrap into. */
	uint32_t c0 = tcp_cookie_make(&k, &t, 7, 1300, 5, NULL);
	CHECK_EQ(tcp_cookie_check(&k, &t, 7, c0, 5), 1300);
	CHECK_EQ(tcp_cookie_check(&k, &t, 7, c0, P + 5), 1300);
	CHECK_EQ(tcp_cookie_check(&k, &t, 7, c0, 2 * P + 5), -ETIMEDOUT);
}

static void test_cookie_ts(void)
{
	static const uint32_t nows[] = {0, 1, 31, 32, 33, 1000, 0x7fffffff, 0xffffffe0,
					0xffffffff, 0x12345678};
	for (unsigned i = 0; i < sizeof(nows) / sizeof(nows[0]); i++) {
		for (int ws = 0; ws <= 16; ws++) { /* 16 = no WS */
			for (int sack = 0; sack < 2; sack++) {
				uint32_t now = nows[i];
				uint32_t ts = tcp_cookie_ts_encode(now, ws < 16, (uint8_t)ws, sack);
				/* Never ahead of the clock, at most 31 ticks behind. */
				CHECK(tcp_seq_leq(ts, now));
				CHECK(now - ts <= 31);
				struct tcp_cookie_opts o;
				tcp_cookie_ts_decode(ts, &o);
				CHECK_EQ(o.ws, ws < 16);
				CHECK_EQ(o.wscale, ws < 16 ? (ws > 14 ? 14 : ws) : 0);
				CHECK_EQ(o.sack, sack);
			}
		}
	}
	/* Low bits already right: the clock value is kept. */
	CHECK_EQ(tcp_cookie_ts_encode(0x100 | 0x17, true, 7, true), 0x117);
}

int main(void)
{
	test_siphash();
	test_isn();
	test_cookie_mss_table();
	test_cookie();
	test_cookie_ts();
	return bh_test_summary("tcp_hash");
}
