/* SPDX-License-Identifier: MIT */
/* Header parsing (with exact-size buffers, so ASan catches over-reads) and parsers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bh_test.h"
#include "bulkhead/net.h"

static size_t frame(uint8_t *f, int vlan, uint8_t proto, uint16_t frag)
{
	size_t o = 12;
	memset(f, 0, 80);
	if (vlan) {
		f[o++] = 0x81, f[o++] = 0x00, f[o++] = 0, f[o++] = 5;
	}
	f[o++] = 0x08, f[o++] = 0x00;
	uint8_t *ip = f + o;
	ip[0] = 0x45;
	ip[6] = (uint8_t)(frag >> 8), ip[7] = (uint8_t)frag;
	ip[9] = proto;
	memcpy(ip + 12, (uint8_t[]){198, 18, 0, 1}, 4);
	memcpy(ip + 16, (uint8_t[]){198, 18, 0, 2}, 4);
	uint8_t *l4 = ip + 20;
	l4[0] = 0x30, l4[1] = 0x39; /* 12345 */
	l4[2] = 0x00, l4[3] = 0x50; /* 80 */
	return o + 20 + 8;
}

/* Parse a copy of exactly len bytes. */
static int parse_exact(const uint8_t *f, size_t len, struct bh_flow_key *k)
{
	uint8_t *c = malloc(len ? len : 1);
	memcpy(c, f, len);
	int rc = bh_flow_parse(c, (uint32_t)len, k);
	free(c);
	return rc;
}

int main(void)
{
	uint8_t f[80];
	struct bh_flow_key k, r;

	size_t n = frame(f, 0, 6, 0);
	CHECK_EQ(parse_exact(f, n, &k), 0);
	CHECK_EQ(k.src_ip, 0xc6120001);
	CHECK_EQ(k.dst_ip, 0xc6120002);
	CHECK_EQ(k.src_port, 12345);
	CHECK_EQ(k.dst_port, 80);
	CHECK_EQ(k.proto, 6);
	/* Every truncation is handled without reading past the end. */
	for (size_t l = 0; l < n; l++) {
		int rc = parse_exact(f, l, &k);
		CHECK(rc == 0 || rc == -EBADMSG);
		if (l < 34)
			CHECK_EQ(rc, -EBADMSG);
	}
	n = frame(f, 1, 17, 0);
	CHECK_EQ(parse_exact(f, n, &k), 0);
	CHECK_EQ(k.proto, 17);
	CHECK_EQ(k.dst_port, 80);
	/* Non-first fragment: no ports. */
	n = frame(f, 0, 17, 0x0010);
	CHECK_EQ(parse_exact(f, n, &k), 0);
	CHECK_EQ(k.src_port, 0);
	/* ICMP: no ports. */
	n = frame(f, 0, 1, 0);
	CHECK_EQ(parse_exact(f, n, &k), 0);
	CHECK_EQ(k.dst_port, 0);
	/* ARP. */
	n = frame(f, 0, 6, 0);
	f[12] = 0x08, f[13] = 0x06;
	CHECK_EQ(parse_exact(f, n, &k), -EPROTONOSUPPORT);
	/* Bad IHL. */
	n = frame(f, 0, 6, 0);
	f[14] = 0x43;
	CHECK_EQ(parse_exact(f, n, &k), -EBADMSG);

	/* The hash is the same both ways. */
	k = (struct bh_flow_key){.src_ip = 1, .dst_ip = 2, .src_port = 3, .dst_port = 4, .proto = 6};
	r = (struct bh_flow_key){.src_ip = 2, .dst_ip = 1, .src_port = 4, .dst_port = 3, .proto = 6};
	CHECK_EQ(bh_flow_hash_sym(&k), bh_flow_hash_sym(&r));
	r.dst_port = 5;
	CHECK(bh_flow_hash_sym(&k) != bh_flow_hash_sym(&r));
	/* and spreads flows over buckets */
	unsigned buckets[16] = {0};
	for (uint32_t i = 0; i < 16000; i++) {
		k.src_port = (uint16_t)i;
		k.src_ip = 0xc6120000 + i / 300;
		buckets[bh_flow_hash_sym(&k) % 16]++;
	}
	for (int i = 0; i < 16; i++)
		CHECK(buckets[i] > 800 && buckets[i] < 1200);

	uint32_t a;
	uint8_t l;
	uint16_t lo, hi;
	uint8_t p;
	CHECK_EQ(bh_parse_prefix("198.18.0.0/15", &a, &l), 0);
	CHECK_EQ(a, 0xc6120000);
	CHECK_EQ(l, 15);
	CHECK_EQ(bh_parse_prefix("198.19.7.7/15", &a, &l), 0);
	CHECK_EQ(a, 0xc6120000); /* host bits cleared */
	CHECK_EQ(bh_parse_prefix("10.1.2.3", &a, &l), 0);
	CHECK_EQ(l, 32);
	CHECK_EQ(bh_parse_prefix("any", &a, &l), 0);
	CHECK_EQ(l, 0);
	CHECK_EQ(bh_parse_prefix("1.2.3.4/", &a, &l), -EINVAL);
	CHECK_EQ(bh_parse_prefix("1.2.3/8", &a, &l), -EINVAL);
	CHECK_EQ(bh_parse_prefix("1.2.3.4/x", &a, &l), -EINVAL);
	CHECK_EQ(bh_parse_prefix("/8", &a, &l), -EINVAL);
	CHECK(bh_prefix_match(0xc6130101, 0xc6120000, 15));
	CHECK(!bh_prefix_match(0xc6140101, 0xc6120000, 15));
	CHECK(bh_prefix_match(0x01020304, 0, 0));
	CHECK_EQ(bh_parse_port_range("80", &lo, &hi), 0);
	CHECK_EQ(lo, 80);
	CHECK_EQ(hi, 80);
	CHECK_EQ(bh_parse_port_range("0-65535", &lo, &hi), 0);
	CHECK_EQ(hi, 65535);
	CHECK_EQ(bh_parse_port_range("65536", &lo, &hi), -EINVAL);
	CHECK_EQ(bh_parse_port_range("5-", &lo, &hi), -EINVAL);
	CHECK_EQ(bh_parse_port_range("-5", &lo, &hi), -EINVAL);
	CHECK_EQ(bh_parse_port_range("", &lo, &hi), -EINVAL);
	CHECK_EQ(bh_parse_port_range("8a", &lo, &hi), -EINVAL);
	CHECK_EQ(bh_parse_proto("udp", &p), 0);
	CHECK_EQ(p, 17);
	CHECK_EQ(bh_parse_proto("132", &p), 0);
	CHECK_EQ(p, 132);
	CHECK_EQ(bh_parse_proto("256", &p), -EINVAL);
	CHECK_EQ(bh_parse_proto("sctp", &p), -EINVAL);
	return bh_test_summary("test_net");
}
