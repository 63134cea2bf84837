/* SPDX-License-Identifier: MIT */
/* SipHash-2-4, written from the paper's description. Contracts in tcp_siphash.h. */
#include <string.h>

#include "tcp_siphash.h"

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static uint64_t load_le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void sipround(uint64_t v[4])
{
	v[0] += v[1], v[1] = ROTL(v[1], 13), v[1] ^= v[0], v[0] = ROTL(v[0], 32);
	v[2] += v[3], v[3] = ROTL(v[3], 16), v[3] ^= v[2];
	v[0] += v[3], v[3] = ROTL(v[3], 21), v[3] ^= v[0];
	v[2] += v[1], v[1] = ROTL(v[1], 17), v[1] ^= v[2], v[2] = ROTL(v[2], 32);
}

uint64_t tcp_siphash24(const struct tcp_secret *key, const void *data, size_t len)
{
	const uint8_t *in = data;
	uint64_t k0 = load_le64(key->k), k1 = load_le64(key->k + 8);
	uint64_t v[4] = {
		k0 ^ 0x736f6d6570736575ull, /* "somepseudorandomlygeneratedbytes" */
		k1 ^ 0x646f72616e646f6dull,
		k0 ^ 0x6c7967656e657261ull,
		k1 ^ 0x7465646279746573ull,
	};
	size_t full = len & ~(size_t)7;
	for (size_t i = 0; i < full; i += 8) {
		uint64_t m = load_le64(in + i);
		v[3] ^= m;
		sipround(v), sipround(v);
		v[0] ^= m;
	}
	/* Last block: the remaining 0..7 bytes, with len mod 256 in the top byte. */
	uint8_t tail[8] = {0};
	if (len > full)
		memcpy(tail, in + full, len - full);
	uint64_t m = load_le64(tail) | (uint64_t)(len & 0xff) << 56;
	v[3] ^= m;
	sipround(v), sipround(v);
	v[0] ^= m;
	v[2] ^= 0xff;
	sipround(v), sipround(v), sipround(v), sipround(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

static uint8_t *put32le(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
	return p + 4;
}

uint64_t tcp_siphash_tuple(const struct tcp_secret *key, const struct tcp_tuple *t,
			   const uint32_t *extra, unsigned n)
{
	uint8_t buf[20], *p = buf;
	p = put32le(p, t->laddr);
	p = put32le(p, t->raddr);
	p = put32le(p, (uint32_t)t->lport << 16 | t->rport);
	for (unsigned i = 0; i < n && i < 2; i++)
		p = put32le(p, extra[i]);
	return tcp_siphash24(key, buf, (size_t)(p - buf));
}
