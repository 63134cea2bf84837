/* SPDX-License-Identifier: MIT */
/* Internet checksum: known packets, a byte-wise reference, RFC 1624 updates. */
#include <stdlib.h>
#include <string.h>

#include "tcp_cksum.h"
#include "tests/unit/bh_test.h"

/* RFC 1071 done the slow, obvious way: big-endian 16-bit words, end-around carry. */
static uint16_t ref_sum(const uint8_t *p, size_t len, uint32_t s)
{
	for (size_t i = 0; i < len; i += 2) {
		s += (uint32_t)p[i] << 8 | (i + 1 < len ? p[i + 1] : 0);
		s = (s & 0xffff) + (s >> 16);
	}
	return (uint16_t)s;
}

static uint16_t ref_tcp(uint32_t src, uint32_t dst, const uint8_t *seg, size_t len)
{
	uint8_t ph[12] = {(uint8_t)(src >> 24), (uint8_t)(src >> 16), (uint8_t)(src >> 8),
			  (uint8_t)src, (uint8_t)(dst >> 24), (uint8_t)(dst >> 16),
			  (uint8_t)(dst >> 8), (uint8_t)dst, 0, 6, (uint8_t)(len >> 8),
			  (uint8_t)len};
	return (uint16_t)~ref_sum(seg, len, ref_sum(ph, 12, 0));
}

static uint32_t rnd = 2463534242u;
static uint32_t xorshift(void)
{
	rnd ^= rnd << 13, rnd ^= rnd >> 17, rnd ^= rnd << 5;
	return rnd;
}

static void test_known(void)
{
	/* RFC 1071 §3's example: words 0001 f203 f4f5 f6f7 sum to ddf2. */
	static const uint8_t ex[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
	CHECK_EQ(tcp_cksum_finish(tcp_cksum_add(0, ex, 8)), (uint16_t)~0xddf2);
	/* The same bytes in two pieces (first piece even). */
	CHECK_EQ(tcp_cksum_finish(tcp_cksum_add(tcp_cksum_add(0, ex, 2), ex + 2, 6)),
		 (uint16_t)~0xddf2);

	/* A well-known IPv4 header (192.168.0.1 -> 192.168.0.199, UDP): checksum b861. */
	uint8_t ip[20] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
			  0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
	CHECK_EQ(tcp_cksum_finish(tcp_cksum_add(0, ip, 20)), 0xb861);
	ip[10] = 0xb8, ip[11] = 0x61;
	CHECK_EQ(tcp_cksum_finish(tcp_cksum_add(0, ip, 20)), 0); /* verifies */

	/* scapy's default IP()/TCP(): 127.0.0.1:20 -> 127.0.0.1:80, SYN, seq 0,
	 * window 8192; IPv4 checksum 7ccd, TCP checksum 917c. */
	uint8_t pkt[40] = {
		0x45, 0x00, 0x00, 0x28, 0x00, 0x01, 0x00, 0x00, 0x40, 0x06,
		0x7c, 0xcd, 0x7f, 0x00, 0x00, 0x01, 0x7f, 0x00, 0x00, 0x01,
		0x00, 0x14, 0x00, 0x50, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x50, 0x02, 0x20, 0x00, 0x91, 0x7c, 0x00, 0x00,
	};
	CHECK_EQ(tcp_cksum_finish(tcp_cksum_add(0, pkt, 20)), 0);
	uint8_t *tcp = malloc(20); /* exact size: ASan sees any over-read */
	memcpy(tcp, pkt + 20, 20);
	CHECK(tcp_cksum_ipv4_ok(0x7f000001, 0x7f000001, tcp, 20));
	tcp[16] = tcp[17] = 0;
	CHECK_EQ(tcp_cksum_ipv4(0x7f000001, 0x7f000001, tcp, 20), 0x917c);
	tcp[16] = 0x91, tcp[17] = 0x7d; /* one bit off */
	CHECK(!tcp_cksum_ipv4_ok(0x7f000001, 0x7f000001, tcp, 20));
	free(tcp);

	/* The pseudo-header alone. */
	CHECK_EQ(tcp_cksum_pseudo(0x7f000001, 0x7f000001, 6, 20), 0xfe00 + 2 + 6 + 20);
	/* Odd length: the last byte is the high half of a zero-padded word. */
	static const uint8_t odd[3] = {0x12, 0x34, 0x56};
	CHECK_EQ(tcp_cksum_finish(tcp_cksum_add(0, odd, 3)), (uint16_t)~(0x1234 + 0x5600));
	CHECK_EQ(tcp_cksum_finish(tcp_cksum_add(0, NULL, 0)), 0xffff);
}

/* Against the reference: every length 0..300, every alignment 0..7, random data. */
static void test_reference(void)
{
	uint8_t buf[320];
	int bad = 0;
	for (size_t len = 0; len <= 300; len++) {
		for (size_t off = 0; off < 8; off++) {
			for (size_t i = 0; i < sizeof(buf); i++)
				buf[i] = (uint8_t)xorshift();
			uint32_t src = xorshift(), dst = xorshift();
			uint8_t *seg = malloc(len ? len + off : 1);
			memcpy(seg + off, buf, len);
			/* Exact-size copy at the requested misalignment. */
			uint8_t *p = seg + off;
			if (tcp_cksum_ipv4(src, dst, p, len) != ref_tcp(src, dst, p, len))
				bad++;
			uint16_t want = (uint16_t)~ref_sum(p, len, 0);
			if (tcp_cksum_finish(tcp_cksum_add(0, p, len)) != want)
				bad++;
			/* Pieces: split at every even point gives the same sum. */
			if (len > 2 && off == 0) {
				for (size_t cut = 0; cut <= len; cut += 2) {
					uint32_t s = tcp_cksum_add(0, p, cut);
					s = tcp_cksum_add(s, p + cut, len - cut);
					if (tcp_cksum_finish(s) != want)
						bad++;
				}
			}
			free(seg);
		}
	}
	CHECK_EQ(bad, 0);
	/* Longer than a segment, at random lengths and alignments, whole and
	 * cut in two at a random even point: the wide loop and its tail. */
	static uint8_t data[9000 + 8];
	bad = 0;
	for (int n = 0; n < 3000; n++) {
		size_t len = xorshift() % 9001, off = xorshift() % 8;
		for (size_t i = 0; i < len; i++)
			data[off + i] = (uint8_t)xorshift();
		const uint8_t *p = data + off;
		uint16_t want = (uint16_t)~ref_sum(p, len, 0);
		size_t cut = len ? (xorshift() % (len + 1)) & ~(size_t)1 : 0;
		if (tcp_cksum_finish(tcp_cksum_add(0, p, len)) != want ||
		    tcp_cksum_finish(tcp_cksum_add(tcp_cksum_add(0, p, cut), p + cut, len - cut)) != want)
			bad++;
	}
	CHECK_EQ(bad, 0);
	/* Words whose sums leave exactly one carry for the last fold (on a
	 * little-endian host: 2^64 - 1, 1, 2^64 - 1, 0). */
	static const uint8_t carry[32] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0,
					  0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	CHECK_EQ(tcp_cksum_finish(tcp_cksum_add(0, carry, 32)), (uint16_t)~ref_sum(carry, 32, 0));
	/* All 0xff (sums that carry on every word) and all zero, long. */
	static uint8_t big[65515];
	memset(big, 0xff, sizeof(big));
	CHECK_EQ(tcp_cksum_ipv4(1, 2, big, sizeof(big)), ref_tcp(1, 2, big, sizeof(big)));
	memset(big, 0, sizeof(big));
	CHECK_EQ(tcp_cksum_ipv4(1, 2, big, sizeof(big)), ref_tcp(1, 2, big, sizeof(big)));
}

static void test_incremental(void)
{
	/* RFC 1624 §4: HC 0xdd2f, m 0x5555 -> m' 0x3285 gives 0x0000 by eqn. 3. */
	CHECK_EQ(tcp_cksum_update16(0xdd2f, 0x5555, 0x3285), 0x0000);

	/* Random segments: change a 16-bit or 32-bit field (a port, the window, a
	 * sequence number, an address in the pseudo-header); the update must equal
	 * a full recomputation, bit for bit. */
	int bad = 0;
	for (int iter = 0; iter < 20000; iter++) {
		uint8_t seg[64];
		size_t len = 20 + (xorshift() % 44);
		for (size_t i = 0; i < len; i++)
			seg[i] = (uint8_t)xorshift();
		if (iter % 7 == 0)
			memset(seg, iter % 2 ? 0xff : 0, len); /* edge sums */
		uint32_t src = xorshift(), dst = xorshift();
		seg[16] = seg[17] = 0;
		uint16_t c = tcp_cksum_ipv4(src, dst, seg, len);
		seg[16] = (uint8_t)(c >> 8), seg[17] = (uint8_t)c;

		/* 16-bit field at an even offset (not the checksum itself). */
		size_t o = 2 * (xorshift() % 8); /* 0..14 */
		uint16_t old16 = (uint16_t)(seg[o] << 8 | seg[o + 1]);
		uint16_t new16 = iter % 5 == 0 ? (uint16_t)~old16 : (uint16_t)xorshift();
		seg[o] = (uint8_t)(new16 >> 8), seg[o + 1] = (uint8_t)new16;
		c = tcp_cksum_update16(c, old16, new16);
		seg[16] = seg[17] = 0;
		if (c != tcp_cksum_ipv4(src, dst, seg, len))
			bad++;
		seg[16] = (uint8_t)(c >> 8), seg[17] = (uint8_t)c;
		if (!tcp_cksum_ipv4_ok(src, dst, seg, len))
			bad++;

		/* 32-bit field: the sequence number (offset 4). */
		uint32_t old32 = (uint32_t)seg[4] << 24 | (uint32_t)seg[5] << 16 |
				 (uint32_t)seg[6] << 8 | seg[7];
		uint32_t new32 = old32 + 1460;
		seg[4] = (uint8_t)(new32 >> 24), seg[5] = (uint8_t)(new32 >> 16);
		seg[6] = (uint8_t)(new32 >> 8), seg[7] = (uint8_t)new32;
		c = tcp_cksum_update32(c, old32, new32);
		seg[16] = seg[17] = 0;
		if (c != tcp_cksum_ipv4(src, dst, seg, len))
			bad++;
		seg[16] = (uint8_t)(c >> 8), seg[17] = (uint8_t)c;

		/* The destination address (NAT): covered through the pseudo-header. */
		uint32_t ndst = xorshift();
		c = tcp_cksum_update32(c, dst, ndst);
		seg[16] = (uint8_t)(c >> 8), seg[17] = (uint8_t)c;
		if (!tcp_cksum_ipv4_ok(src, ndst, seg, len))
			bad++;
		seg[16] = seg[17] = 0;
		if (c != tcp_cksum_ipv4(src, ndst, seg, len))
			bad++;
	}
	CHECK_EQ(bad, 0);
}

int main(void)
{
	test_known();
	test_reference();
	test_incremental();
	return bh_test_summary("tcp_cksum");
}
