/* SPDX-License-Identifier: MIT */
/* Unit tests for the monitor core: flow accounting, top-N, table full. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "monitor_core.h"
#include "tests/unit/bh_test.h"

struct frame {
	uint8_t b[64];
	uint32_t len;
};

static void put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v & 0xff; }
static void put32(uint8_t *p, uint32_t v) { put16(p, v >> 16); put16(p + 2, v & 0xffff); }

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (b) << 16 | (c) << 8 | (d))

static struct frame mk(uint8_t proto, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport)
{
	struct frame f = {.len = 14 + 20 + 8};
	uint8_t *ip = f.b + 14;
	put16(f.b + 12, 0x0800);
	ip[0] = 0x45;
	ip[9] = proto;
	put32(ip + 12, src);
	put32(ip + 16, dst);
	put16(ip + 20, sport);
	put16(ip + 22, dport);
	return f;
}

/* Count a copy in a buffer of exactly len bytes so ASan sees any over-read. */
static void count(struct mon *m, const struct frame *f, uint32_t pkt_len)
{
	uint8_t *p = malloc(f->len ? f->len : 1);
	memcpy(p, f->b, f->len);
	mon_count(m, p, f->len, pkt_len);
	free(p);
}

static struct bh_flow_key key(uint8_t proto, uint32_t src, uint16_t sport, uint32_t dst,
			      uint16_t dport)
{
	return (struct bh_flow_key){.src_ip = src, .dst_ip = dst, .src_port = sport,
				    .dst_port = dport, .proto = proto};
}

static void test_init(void)
{
	struct mon m;
	CHECK_EQ(mon_init(&m, 0, 1), -EINVAL);
	CHECK_EQ(mon_init(&m, MON_MAX_FLOWS + 1, 1), -EINVAL);
	CHECK_EQ(mon_init(&m, 1, 1), 0);
	CHECK_EQ(m.mask + 1, 2);
	mon_fini(&m);
	CHECK_EQ(mon_init(&m, 65536, 1), 0);
	CHECK_EQ(m.mask + 1, 131072);
	mon_fini(&m);
}

static void test_accounting(void)
{
	struct mon m;
	CHECK_EQ(mon_init(&m, 16, 42), 0);
	struct frame a = mk(6, IP(198, 18, 0, 1), 40000, IP(198, 18, 1, 1), 5001);
	struct frame b = mk(6, IP(198, 18, 1, 1), 5001, IP(198, 18, 0, 1), 40000); /* reverse */
	struct frame arp = {.len = 42};
	put16(arp.b + 12, 0x0806);
	struct frame runt = {.len = 13};

	count(&m, &a, 1514);
	count(&m, &a, 1514);
	count(&m, &b, 60);
	count(&m, &arp, 60);
	count(&m, &runt, 13);

	CHECK_EQ(m.n, 2); /* directions are separate flows */
	CHECK_EQ(m.pkts, 5);
	CHECK_EQ(m.bytes, 1514 * 2 + 60 + 60 + 13);
	CHECK_EQ(m.nonip, 2);
	CHECK_EQ(m.untracked, 0);

	struct bh_flow_key ka = key(6, IP(198, 18, 0, 1), 40000, IP(198, 18, 1, 1), 5001);
	const struct mon_flow *f = mon_lookup(&m, &ka);
	CHECK(f != NULL);
	if (f) {
		CHECK_EQ(f->pkts, 2);
		CHECK_EQ(f->bytes, 3028);
	}
	struct bh_flow_key kb = key(6, IP(198, 18, 1, 1), 5001, IP(198, 18, 0, 1), 40000);
	f = mon_lookup(&m, &kb);
	CHECK(f && f->pkts == 1 && f->bytes == 60);
	/* same addresses and ports, other protocol: unknown */
	struct bh_flow_key kc = key(17, IP(198, 18, 0, 1), 40000, IP(198, 18, 1, 1), 5001);
	CHECK(mon_lookup(&m, &kc) == NULL);
	mon_fini(&m);
}

static void test_top(void)
{
	struct mon m;
	struct mon_flow top[8];
	CHECK_EQ(mon_init(&m, 64, 7), 0);
	CHECK_EQ(mon_top(&m, top, 5), 0); /* empty */

	/* flow i (1..10) sends i packets of 100*((i*7)%11) bytes: a scrambled order */
	for (unsigned i = 1; i <= 10; i++) {
		struct frame f = mk(17, IP(10, 0, 0, i), 1000, IP(10, 0, 1, 1), 53);
		for (unsigned p = 0; p < i; p++)
			count(&m, &f, 100 * ((i * 7) % 11));
	}
	/* bytes: 1:700 2:600 3:3000 4:2400 5:1000 6:5400 7:3500 8:800 9:7200
	 * 10:4000 -> order 9, 6, 10, 7, 3 */
	CHECK_EQ(mon_top(&m, top, 5), 5);
	static const unsigned want[5] = {9, 6, 10, 7, 3};
	for (unsigned i = 0; i < 5; i++) {
		CHECK_EQ(top[i].key.src_ip & 0xff, want[i]);
		CHECK_EQ(top[i].pkts, want[i]);
	}
	CHECK_EQ(top[0].bytes, 7200);
	CHECK_EQ(top[4].bytes, 3000);

	/* n larger than the number of flows: all of them, sorted */
	CHECK_EQ(mon_top(&m, top, 8), 8);
	for (unsigned i = 1; i < 8; i++)
		CHECK(top[i - 1].bytes >= top[i].bytes);
	CHECK_EQ(mon_top(&m, top, 0), 0);

	/* ties in bytes: more packets first, then the lower key */
	struct mon t;
	CHECK_EQ(mon_init(&t, 8, 7), 0);
	struct frame x = mk(6, IP(1, 1, 1, 3), 1, IP(2, 2, 2, 2), 2);
	struct frame y = mk(6, IP(1, 1, 1, 2), 1, IP(2, 2, 2, 2), 2);
	struct frame z = mk(6, IP(1, 1, 1, 1), 1, IP(2, 2, 2, 2), 2);
	count(&t, &x, 100);
	count(&t, &y, 100);
	count(&t, &z, 50);
	count(&t, &z, 50);
	CHECK_EQ(mon_top(&t, top, 3), 3);
	CHECK_EQ(top[0].key.src_ip, IP(1, 1, 1, 1)); /* 2 pkts */
	CHECK_EQ(top[1].key.src_ip, IP(1, 1, 1, 2));
	CHECK_EQ(top[2].key.src_ip, IP(1, 1, 1, 3));
	mon_fini(&t);
	mon_fini(&m);
}

static void test_full(void)
{
	struct mon m;
	CHECK_EQ(mon_init(&m, 3, 99), 0);
	for (unsigned i = 0; i < 5; i++) {
		struct frame f = mk(6, IP(10, 0, 0, i), 1, IP(10, 0, 1, 1), 80);
		count(&m, &f, 100);
		count(&m, &f, 100);
	}
	CHECK_EQ(m.n, 3);
	CHECK_EQ(m.untracked, 4); /* flows 3 and 4, 2 packets each */
	CHECK_EQ(m.pkts, 10);
	CHECK_EQ(m.bytes, 1000);
	/* the first three keep counting when the table is full */
	struct frame f0 = mk(6, IP(10, 0, 0, 0), 1, IP(10, 0, 1, 1), 80);
	count(&m, &f0, 1000);
	struct bh_flow_key k0 = key(6, IP(10, 0, 0, 0), 1, IP(10, 0, 1, 1), 80);
	const struct mon_flow *f = mon_lookup(&m, &k0);
	CHECK(f && f->pkts == 3 && f->bytes == 1200);
	struct bh_flow_key k4 = key(6, IP(10, 0, 0, 4), 1, IP(10, 0, 1, 1), 80);
	CHECK(mon_lookup(&m, &k4) == NULL);
	CHECK_EQ(m.untracked, 4);
	mon_fini(&m);

	/* a big table filled to the brim: every flow found, none lost */
	CHECK_EQ(mon_init(&m, 50000, 12345), 0);
	for (unsigned i = 0; i < 60000; i++) {
		struct frame g = mk(17, IP(10, 1, i >> 8 & 255, i & 255), (uint16_t)i, IP(10, 2, 0, 1),
				    53);
		count(&m, &g, 64);
	}
	CHECK_EQ(m.n, 50000);
	CHECK_EQ(m.untracked, 10000);
	unsigned found = 0;
	for (unsigned i = 0; i < 50000; i++) {
		struct bh_flow_key k = key(17, IP(10, 1, i >> 8 & 255, i & 255), (uint16_t)i,
					   IP(10, 2, 0, 1), 53);
		const struct mon_flow *g = mon_lookup(&m, &k);
		found += g && g->pkts == 1;
	}
	CHECK_EQ(found, 50000);
	mon_fini(&m);
}

static void test_report(void)
{
	struct mon m;
	struct mon_flow top[2];
	char *buf = NULL, s[80];
	size_t len = 0;

	struct bh_flow_key k = key(1, IP(198, 18, 0, 1), 0, IP(198, 18, 1, 1), 0);
	CHECK_EQ(mon_flow_str(&k, s, sizeof(s)), (int)strlen("icmp 198.18.0.1 -> 198.18.1.1"));
	CHECK(!strcmp(s, "icmp 198.18.0.1 -> 198.18.1.1"));
	k = key(47, IP(255, 255, 255, 255), 0, IP(0, 0, 0, 0), 0);
	mon_flow_str(&k, s, sizeof(s));
	CHECK(!strcmp(s, "47 255.255.255.255 -> 0.0.0.0"));

	CHECK_EQ(mon_init(&m, 4, 1), 0);
	struct frame a = mk(6, IP(198, 18, 0, 1), 40000, IP(198, 18, 1, 1), 5001);
	struct frame b = mk(17, IP(198, 18, 0, 2), 53, IP(198, 18, 1, 2), 1234);
	struct frame c = mk(17, IP(198, 18, 0, 3), 1, IP(198, 18, 1, 3), 2);
	count(&m, &a, 1000);
	count(&m, &a, 1000);
	count(&m, &b, 500);
	count(&m, &c, 100);
	FILE *out = open_memstream(&buf, &len);
	mon_report(&m, out, top, 2);
	fclose(out);
	CHECK(!strcmp(buf, "monitor: 3 flows, 4 pkts, 2600 bytes, 0 untracked, 0 nonip\n"
			   "  1. tcp 198.18.0.1:40000 -> 198.18.1.1:5001 2 pkts 2000 bytes\n"
			   "  2. udp 198.18.0.2:53 -> 198.18.1.2:1234 1 pkts 500 bytes\n"));
	if (buf && strncmp(buf, "monitor: 3 flows", 16))
		fprintf(stderr, "  report was:\n%s", buf);
	free(buf);
	mon_fini(&m);
}

int main(void)
{
	test_init();
	test_accounting();
	test_top();
	test_full();
	test_report();
	return bh_test_summary("monitor");
}
