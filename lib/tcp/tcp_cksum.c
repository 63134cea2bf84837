/* SPDX-License-Identifier: MIT */
/* Internet checksum. Conventions and contracts in tcp_cksum.h. */
#include <string.h>

#include "tcp_cksum.h"

/* To 16 bits with end-around carries, in fixed steps: after the first at
 * most 2^33 - 2, then 0x2fffe, 0x10001, 0xffff. */
static uint32_t fold(uint64_t s)
{
	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (uint32_t)s;
}

static inline uint64_t load64(const uint8_t *p)
{
	uint64_t w;
	memcpy(&w, p, sizeof(w));
	return w;
}

uint32_t tcp_cksum_add(uint32_t sum, const void *buf, size_t len)
{
	/*
	 * Sum native-order words into a wider sum (no carry lost), then fold.
	 * The one's-complement sum is byte-order independent (RFC 1071 §2(B)):
	 * the folded native sum is the big-endian sum with its bytes swapped on
	 * a little-endian host, so one swap at the end fixes it. And the word
	 * size does not matter: 2^16 - 1 divides 2^32 - 1 and 2^64 - 1, so a
	 * 64-bit word's end-around-carry sum folds to the sum of its 16-bit
	 * halves.
	 */
	const uint8_t *p = buf;
	/* 64-bit words, each chain counting its carries apart (an add and an
	 * add-with-carry per word); over 32 bytes, two chains the CPU runs side
	 * by side: a payload is summed here once per segment sent and once per
	 * segment taken. */
	uint64_t a = 0, b = 0, ca = 0, cb = 0, w;
	for (; len >= 32; p += 32, len -= 32) {
		w = load64(p), a += w, ca += a < w;
		w = load64(p + 8), b += w, cb += b < w;
		w = load64(p + 16), a += w, ca += a < w;
		w = load64(p + 24), b += w, cb += b < w;
	}
	for (; len >= 8; p += 8, len -= 8)
		w = load64(p), a += w, ca += a < w;
	/* The sum is a + b + 2^64 (ca + cb); 2^64 is 1 mod 2^64 - 1 (and the
	 * carries, fewer than words, stay far below 2^63). */
	uint64_t t = a + b, c = ca + cb + (t < a);
	t += c;
	t += t < c; /* end-around carry: t is the sum mod 2^64 - 1 */
	uint64_t s = (t & 0xffffffff) + (t >> 32);
	if (len >= 4) {
		uint32_t v;
		memcpy(&v, p, 4);
		s += v;
		p += 4, len -= 4;
	}
	if (len >= 2) {
		uint16_t v;
		memcpy(&v, p, 2);
		s += v;
		p += 2, len -= 2;
	}
	if (len) {
		uint8_t last[2] = {p[0], 0}; /* odd byte: high half of a padded word */
		uint16_t v;
		memcpy(&v, last, 2);
		s += v;
	}
	uint16_t f = (uint16_t)fold(s);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	f = (uint16_t)(f << 8 | f >> 8);
#endif
	return (uint32_t)fold((uint64_t)sum + f);
}

uint16_t tcp_cksum_finish(uint32_t sum)
{
	return (uint16_t)~fold(sum);
}

uint32_t tcp_cksum_pseudo(uint32_t saddr, uint32_t daddr, uint8_t proto, uint16_t l4_len)
{
	uint64_t s = (uint64_t)(saddr >> 16) + (saddr & 0xffff) + (daddr >> 16) +
		     (daddr & 0xffff) + proto + l4_len;
	return fold(s);
}

uint16_t tcp_cksum_ipv4(uint32_t saddr, uint32_t daddr, const void *seg, size_t len)
{
	uint32_t s = tcp_cksum_pseudo(saddr, daddr, 6, (uint16_t)len);
	return tcp_cksum_finish(tcp_cksum_add(s, seg, len));
}

uint16_t tcp_cksum_update16(uint16_t cksum, uint16_t old, uint16_t new)
{
	uint32_t s = (uint32_t)(uint16_t)~cksum + (uint16_t)~old + new;
	return (uint16_t)~fold(s);
}

uint16_t tcp_cksum_update32(uint16_t cksum, uint32_t old, uint32_t new)
{
	uint32_t s = (uint32_t)(uint16_t)~cksum + (uint16_t)~(old >> 16) +
		     (uint16_t)~(old & 0xffff) + (new >> 16) + (new & 0xffff);
	return (uint16_t)~fold(s);
}
