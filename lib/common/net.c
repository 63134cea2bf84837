/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "bulkhead/net.h"

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int bh_flow_parse(const void *frame, uint32_t len, struct bh_flow_key *key)
{
	const uint8_t *p = frame;
	uint32_t off = 14;
	uint16_t type;

	memset(key, 0, sizeof(*key));
	if (len < 14)
		return -EBADMSG;
	type = rd16(p + 12);
	if (type == 0x8100) { /* one VLAN tag */
		if (len < 18)
			return -EBADMSG;
		type = rd16(p + 16);
		off = 18;
	}
	if (type != 0x0800)
		return -EPROTONOSUPPORT;
	if (len < off + 20)
		return -EBADMSG;
	const uint8_t *ip = p + off;
	uint32_t ihl = (ip[0] & 0x0f) * 4u;
	if ((ip[0] >> 4) != 4 || ihl < 20 || len < off + ihl)
		return -EBADMSG;
	key->proto = ip[9];
	key->src_ip = rd32(ip + 12);
	key->dst_ip = rd32(ip + 16);
	uint16_t frag = rd16(ip + 6);
	if ((key->proto == 6 || key->proto == 17) && (frag & 0x1fff) == 0 &&
	    len >= off + ihl + 4) {
		key->src_port = rd16(ip + ihl);
		key->dst_port = rd16(ip + ihl + 2);
	}
	return 0;
}

static uint32_t mix32(uint32_t h)
{
	h ^= h >> 16;
	h *= 0x7feb352du;
	h ^= h >> 15;
	h *= 0x846ca68bu;
	h ^= h >> 16;
	return h;
}

uint32_t bh_flow_hash_sym(const struct bh_flow_key *k)
{
	/* Order-independent combination of the two endpoints. */
	uint32_t a = mix32(k->src_ip ^ ((uint32_t)k->src_port << 16));
	uint32_t b = mix32(k->dst_ip ^ ((uint32_t)k->dst_port << 16));
	return mix32((a ^ b) + (a + b) * 0x9e3779b9u + k->proto);
}

int bh_parse_prefix(const char *s, uint32_t *addr, uint8_t *len)
{
	char buf[32];
	const char *slash;
	struct in_addr in;
	long l = 32;

	if (!s)
		return -EINVAL;
	if (!strcmp(s, "any")) {
		*addr = 0;
		*len = 0;
		return 0;
	}
	slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = 0;
	if (inet_pton(AF_INET, buf, &in) != 1)
		return -EINVAL;
	if (slash) {
		char *end;
		if (!slash[1])
			return -EINVAL;
		l = strtol(slash + 1, &end, 10);
		if (*end || l < 0 || l > 32)
			return -EINVAL;
	}
	*len = (uint8_t)l;
	*addr = ntohl(in.s_addr) & bh_prefix_mask(*len);
	return 0;
}

static int parse_u16(const char *s, const char *end, uint16_t *v)
{
	long x = 0;
	if (s == end || end - s > 5)
		return -EINVAL;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		x = x * 10 + (*s - '0');
	}
	if (x > 65535)
		return -EINVAL;
	*v = (uint16_t)x;
	return 0;
}

int bh_parse_port_range(const char *s, uint16_t *lo, uint16_t *hi)
{
	if (!s)
		return -EINVAL;
	if (!strcmp(s, "any")) {
		*lo = 0;
		*hi = 65535;
		return 0;
	}
	const char *dash = strchr(s, '-');
	const char *end = s + strlen(s);
	if (!dash) {
		if (parse_u16(s, end, lo))
			return -EINVAL;
		*hi = *lo;
		return 0;
	}
	if (parse_u16(s, dash, lo) || parse_u16(dash + 1, end, hi) || *lo > *hi)
		return -EINVAL;
	return 0;
}

int bh_parse_proto(const char *s, uint8_t *proto)
{
	static const struct { const char *n; uint8_t v; } names[] = {
		{"any", 0}, {"icmp", 1}, {"tcp", 6}, {"udp", 17},
	};
	uint16_t v;
	if (!s)
		return -EINVAL;
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(s, names[i].n)) {
			*proto = names[i].v;
			return 0;
		}
	if (parse_u16(s, s + strlen(s), &v) || v > 255)
		return -EINVAL;
	*proto = (uint8_t)v;
	return 0;
}
