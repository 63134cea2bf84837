/* SPDX-License-Identifier: MIT */
/*
 * Ethernet, ARP, IPv4 and ICMP echo (tcp_net) with a virtual clock. Every frame
 * and every reply buffer is a heap block of exactly its size, so ASan catches
 * an over-read or over-write by one byte.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bulkhead/tcp_net.h"
#include "tests/unit/bh_test.h"

#define MS 1000000ull
#define SEC 1000000000ull
#define IP4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))
#define IP_US IP4(10, 0, 0, 1)
#define IP_B IP4(10, 0, 0, 2)
#define IP_GW IP4(10, 0, 0, 254)
#define C(name) TCP_NET_C_##name

static const uint8_t MAC_US[6] = {2, 0, 0, 0, 0, 1};
static const uint8_t MAC_B[6] = {2, 0, 0, 0, 0, 2};
static const uint8_t BCAST[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static const uint8_t ZERO[6];

static uint8_t reply[2048];   /* copy of the last reply */
static unsigned broken_rules; /* frames that broke an invariant checked in in() */

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void wr16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v; }
static void wr32(uint8_t *p, uint32_t v) { wr16(p, v >> 16), wr16(p + 2, v); }

/* Reference checksum, written independently of the library's. */
static uint16_t sum16(const uint8_t *p, uint32_t len)
{
	uint32_t s = 0;
	for (uint32_t i = 0; i < len; i++)
		s += i & 1 ? p[i] : (uint32_t)p[i] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static struct tcp_net *mk(uint32_t cap, uint16_t mtu, uint32_t gw)
{
	struct tcp_if ifc = {.mtu = mtu, .ip = IP_US, .mask = 0xffffff00u, .gw = gw};
	memcpy(ifc.mac, MAC_US, 6);
	struct tcp_arp_cfg a = {.capacity = cap};
	return tcp_net_create(&ifc, &a);
}

static uint64_t ctr(const struct tcp_net *n, enum tcp_net_ctr c) { return tcp_net_counters(n)[c]; }

static uint64_t outcomes(const struct tcp_net *n)
{
	uint64_t s = 0;
	for (unsigned c = 0; c < TCP_NET_C_MAX; c++)
		if (tcp_net_counter_kind(c) == TCP_NET_K_IN || tcp_net_counter_kind(c) == TCP_NET_K_DROP)
			s += tcp_net_counters(n)[c];
	return s;
}

/*
 * tcp_net_input on an exact-size copy of f, replying into an exact-size
 * buffer of out_cap bytes (none if 0); the reply is copied to reply[].
 * Checks the rules every frame must obey.
 */
static enum tcp_net_verdict in(struct tcp_net *n, const uint8_t *f, uint32_t len, uint64_t now,
			       uint32_t out_cap, struct tcp_net_result *res)
{
	uint8_t *copy = malloc(len ? len : 1);
	uint8_t *out = out_cap ? malloc(out_cap) : NULL;
	memcpy(copy, f, len);
	uint64_t before = outcomes(n), rx = ctr(n, C(rx_frames));
	res->out = out;
	res->out_cap = out_cap;
	enum tcp_net_verdict v = tcp_net_input(n, copy, len, now, res);

	int ok = outcomes(n) == before + 1 && ctr(n, C(rx_frames)) == rx + 1 &&
		 res->out_len <= out_cap && (v == TCP_NET_CONSUMED || res->out_len == 0);
	if (v == TCP_NET_DROPPED)
		ok = ok && res->drop < TCP_NET_C_MAX &&
		     tcp_net_counter_kind(res->drop) == TCP_NET_K_DROP;
	if (v == TCP_NET_L4)
		ok = ok && res->l4_off + res->l4_len <= len && res->l4_off >= 34;
	if (!ok)
		broken_rules++;
	if (res->out_len)
		memcpy(reply, out, res->out_len);
	res->out = NULL;
	free(out);
	free(copy);
	return v;
}

/* A frame expected to be dropped for reason c: checks verdict, reason and counter. */
static int dropped_as(struct tcp_net *n, const uint8_t *f, uint32_t len, enum tcp_net_ctr c)
{
	struct tcp_net_result res = {0};
	uint64_t was = ctr(n, c);
	enum tcp_net_verdict v = in(n, f, len, 0, 1514, &res);
	return v == TCP_NET_DROPPED && res.drop == c && ctr(n, c) == was + 1;
}

static uint32_t arp_frame(uint8_t *f, uint16_t op, const uint8_t *eth_dst, const uint8_t *sha,
			  uint32_t spa, const uint8_t *tha, uint32_t tpa)
{
	memcpy(f, eth_dst, 6);
	memcpy(f + 6, sha, 6);
	wr16(f + 12, 0x0806);
	uint8_t *a = f + 14;
	wr16(a, 1), wr16(a + 2, 0x0800), a[4] = 6, a[5] = 4, wr16(a + 6, op);
	memcpy(a + 8, sha, 6);
	wr32(a + 14, spa);
	memcpy(a + 18, tha, 6);
	wr32(a + 24, tpa);
	return 42;
}

static void ip_cksum_fix(uint8_t *ip)
{
	wr16(ip + 10, 0);
	wr16(ip + 10, sum16(ip, (ip[0] & 15u) * 4));
}

/* Ethernet + IPv4 (IHL 5, or 6 with one 4-byte option) + l4. */
static uint32_t ip_frame(uint8_t *f, uint32_t src, uint32_t dst, uint8_t proto, const uint8_t *l4,
			 uint32_t l4_len, int opt)
{
	uint32_t ihl = opt ? 24 : 20;
	memcpy(f, MAC_US, 6);
	memcpy(f + 6, MAC_B, 6);
	wr16(f + 12, 0x0800);
	uint8_t *ip = f + 14;
	memset(ip, 0, ihl);
	ip[0] = (uint8_t)(0x40 | ihl / 4);
	ip[1] = 0x02; /* ECT(0) */
	wr16(ip + 2, ihl + l4_len);
	wr16(ip + 4, 0x4242);
	ip[8] = 64;
	ip[9] = proto;
	wr32(ip + 12, src);
	wr32(ip + 16, dst);
	if (opt)
		ip[20] = 1, ip[21] = 1, ip[22] = 1, ip[23] = 0; /* NOPs, EOL */
	ip_cksum_fix(ip);
	memcpy(ip + ihl, l4, l4_len);
	return 14 + ihl + l4_len;
}

static uint32_t echo_req(uint8_t *l4, uint8_t type, uint16_t id, uint16_t seq, uint32_t dlen)
{
	l4[0] = type, l4[1] = 0;
	wr16(l4 + 2, 0), wr16(l4 + 4, id), wr16(l4 + 6, seq);
	for (uint32_t i = 0; i < dlen; i++)
		l4[8 + i] = (uint8_t)(i * 7 + 3);
	wr16(l4 + 2, sum16(l4, 8 + dlen));
	return 8 + dlen;
}

static int out_hdr(struct tcp_net *n, uint32_t dst, uint32_t l4_len, uint64_t now, uint8_t *hdr,
		   struct tcp_net_arp *arp)
{
	uint8_t *buf = malloc(TCP_NET_HDR_LEN);
	int rc = tcp_net_output(n, dst, 6, l4_len, now, buf, TCP_NET_HDR_LEN, arp);
	if (hdr)
		memcpy(hdr, buf, TCP_NET_HDR_LEN);
	free(buf);
	return rc;
}

static void test_config(void)
{
	struct tcp_if ok = {.mtu = 1500, .ip = IP_US, .mask = 0xffffff00u, .gw = IP_GW}, c;
	struct tcp_arp_cfg a = {.capacity = 4}, a0 = {0};
	memcpy(ok.mac, MAC_US, 6);
	struct tcp_net *n = tcp_net_create(&ok, &a);
	CHECK(n != NULL);
	tcp_net_free(n);
	CHECK(tcp_net_create(&ok, &a0) == NULL && errno == EINVAL);
	c = ok, c.mask = 0xff00ff00u;
	CHECK(tcp_net_create(&c, &a) == NULL);
	c = ok, c.mtu = 67;
	CHECK(tcp_net_create(&c, &a) == NULL);
	c = ok, c.mac[0] = 1; /* multicast */
	CHECK(tcp_net_create(&c, &a) == NULL);
	c = ok, c.gw = IP_US;
	CHECK(tcp_net_create(&c, &a) == NULL);
	c = ok, c.ip = IP4(10, 0, 0, 255); /* the subnet broadcast */
	CHECK(tcp_net_create(&c, &a) == NULL);
	for (unsigned i = 0; i < TCP_NET_C_MAX; i++)
		CHECK(tcp_net_counter_name(i) && tcp_net_counter_desc(i) && tcp_net_counter_kind(i) >= 0);
	CHECK(tcp_net_counter_name(TCP_NET_C_MAX) == NULL);
	CHECK_EQ(strcmp(tcp_net_counter_name(C(fragment)), "fragment"), 0);
}

static void test_arp_in(void)
{
	struct tcp_net *n = mk(16, 1500, IP_GW);
	struct tcp_net_result res = {0};
	uint8_t f[64] = {0}, exp[60] = {0}, mac[6];

	/* B asks for us: the reply, byte for byte; B is learned. */
	uint32_t len = arp_frame(f, 1, BCAST, MAC_B, IP_B, ZERO, IP_US);
	CHECK_EQ(in(n, f, len, 0, TCP_NET_ARP_LEN, &res), TCP_NET_CONSUMED);
	CHECK_EQ(res.out_len, 60);
	memcpy(exp, MAC_B, 6), memcpy(exp + 6, MAC_US, 6), wr16(exp + 12, 0x0806);
	wr16(exp + 14, 1), wr16(exp + 16, 0x0800), exp[18] = 6, exp[19] = 4, wr16(exp + 20, 2);
	memcpy(exp + 22, MAC_US, 6), wr32(exp + 28, IP_US);
	memcpy(exp + 32, MAC_B, 6), wr32(exp + 38, IP_B);
	CHECK_EQ(memcmp(reply, exp, 60), 0);
	CHECK_EQ(ctr(n, C(arp_replied)), 1);
	CHECK_EQ(tcp_net_arp_lookup(n, IP_B, mac), 0);
	CHECK_EQ(memcmp(mac, MAC_B, 6), 0);
	CHECK_EQ(res.resolved, TCP_NET_NO_ENTRY); /* nothing was waiting */

	/* Ethernet padding is fine; a buffer one byte short is a counted drop. */
	CHECK_EQ(in(n, f, 60, 0, 60, &res), TCP_NET_CONSUMED);
	res.drop = 0;
	CHECK_EQ(in(n, f, len, 0, 59, &res), TCP_NET_DROPPED);
	CHECK_EQ(res.drop, C(no_out_buffer));
	CHECK_EQ(in(n, f, len, 0, 0, &res), TCP_NET_DROPPED);
	CHECK_EQ(res.drop, C(no_out_buffer));

	/* For someone else, from a stranger: ignored, not learned. */
	len = arp_frame(f, 1, BCAST, (uint8_t[]){2, 0, 0, 0, 0, 4}, IP4(10, 0, 0, 4), ZERO,
			IP4(10, 0, 0, 3));
	CHECK(dropped_as(n, f, len, C(arp_not_for_us)));
	CHECK_EQ(tcp_net_arp_lookup(n, IP4(10, 0, 0, 4), mac), -ENOENT);

	/* For someone else, from B with a new MAC: B is updated (RFC 826 merge). */
	len = arp_frame(f, 1, BCAST, (uint8_t[]){2, 0, 0, 0, 0, 0x22}, IP_B, ZERO, IP4(10, 0, 0, 3));
	CHECK_EQ(in(n, f, len, 0, 60, &res), TCP_NET_CONSUMED);
	CHECK_EQ(res.out_len, 0);
	CHECK_EQ(ctr(n, C(arp_learned)), 1);
	CHECK_EQ(tcp_net_arp_lookup(n, IP_B, mac), 0);
	CHECK_EQ(mac[5], 0x22);

	/* A reply we never asked for creates nothing. */
	len = arp_frame(f, 2, MAC_US, (uint8_t[]){2, 0, 0, 0, 0, 5}, IP4(10, 0, 0, 5), MAC_US, IP_US);
	CHECK(dropped_as(n, f, len, C(arp_unsolicited)));
	CHECK_EQ(tcp_net_arp_lookup(n, IP4(10, 0, 0, 5), mac), -ENOENT);

	len = arp_frame(f, 1, BCAST, MAC_B, IP_US, ZERO, IP_US);
	CHECK(dropped_as(n, f, len, C(arp_our_ip)));
	len = arp_frame(f, 1, BCAST, MAC_B, IP4(192, 168, 1, 1), ZERO, IP_US);
	CHECK(dropped_as(n, f, len, C(arp_bad_sender)));
	len = arp_frame(f, 1, BCAST, MAC_B, IP4(10, 0, 0, 255), ZERO, IP_US);
	CHECK(dropped_as(n, f, len, C(arp_bad_sender)));
	len = arp_frame(f, 1, BCAST, MAC_B, IP_B, ZERO, IP_US);
	f[22] = 0x01; /* sender MAC multicast */
	CHECK(dropped_as(n, f, len, C(arp_bad_sender)));
	len = arp_frame(f, 1, BCAST, MAC_B, IP_B, ZERO, IP_US);
	f[14] = 9; /* htype */
	CHECK(dropped_as(n, f, len, C(arp_malformed)));
	len = arp_frame(f, 3, BCAST, MAC_B, IP_B, ZERO, IP_US);
	CHECK(dropped_as(n, f, len, C(arp_malformed)));

	/* RFC 5227 probe for our address: answered to target 0, nothing learned. */
	len = arp_frame(f, 1, BCAST, (uint8_t[]){2, 0, 0, 0, 0, 6}, 0, ZERO, IP_US);
	CHECK_EQ(in(n, f, len, 0, 60, &res), TCP_NET_CONSUMED);
	CHECK_EQ(res.out_len, 60);
	CHECK_EQ(reply[37], 6);
	CHECK_EQ(rd32(reply + 38), 0);
	CHECK_EQ(tcp_net_arp_lookup(n, 0, mac), -ENOENT);
	tcp_net_free(n);
}

static void test_arp_out(void)
{
	struct tcp_net *n = mk(16, 1500, IP_GW);
	struct tcp_net_result res = {0};
	struct tcp_net_arp arp;
	uint8_t f[64], h[TCP_NET_HDR_LEN], exp[60] = {0}, mac[6];

	/* Our request, byte for byte; the packet waits. */
	CHECK_EQ(out_hdr(n, IP_B, 100, 0, h, &arp), -EAGAIN);
	CHECK_EQ(arp.len, 60);
	memcpy(exp, BCAST, 6), memcpy(exp + 6, MAC_US, 6), wr16(exp + 12, 0x0806);
	wr16(exp + 14, 1), wr16(exp + 16, 0x0800), exp[18] = 6, exp[19] = 4, wr16(exp + 20, 1);
	memcpy(exp + 22, MAC_US, 6), wr32(exp + 28, IP_US), wr32(exp + 38, IP_B);
	CHECK_EQ(memcmp(arp.frame, exp, 60), 0);
	CHECK_EQ(arp.ip, IP_B);
	uint32_t entry = arp.entry;
	CHECK(entry < 16);
	CHECK_EQ(out_hdr(n, IP_B, 100, 1, h, &arp), -EAGAIN);
	CHECK_EQ(arp.len, 0); /* one request in flight is enough */
	CHECK_EQ(arp.entry, entry);
	CHECK_EQ(tcp_net_arp_lookup(n, IP_B, mac), -EAGAIN);

	/* B's reply resolves the entry and hands back the two waiting packets. */
	uint32_t len = arp_frame(f, 2, MAC_US, MAC_B, IP_B, MAC_US, IP_US);
	CHECK_EQ(in(n, f, len, 200 * MS, 60, &res), TCP_NET_CONSUMED);
	CHECK_EQ(res.out_len, 0);
	CHECK_EQ(res.resolved, entry);
	CHECK_EQ(res.resolved_pending, 2);
	CHECK_EQ(ctr(n, C(arp_resolved)), 1);
	CHECK_EQ(ctr(n, C(arp_learned)), 1);

	CHECK_EQ(out_hdr(n, IP_B, 100, 300 * MS, h, &arp), TCP_NET_HDR_LEN);
	CHECK_EQ(arp.len, 0);
	CHECK_EQ(memcmp(h, MAC_B, 6), 0);
	CHECK_EQ(memcmp(h + 6, MAC_US, 6), 0);
	CHECK_EQ(rd16(h + 12), 0x0800);
	const uint8_t *ip = h + 14;
	CHECK_EQ(ip[0], 0x45);
	CHECK_EQ(rd16(ip + 2), 120);
	CHECK_EQ(rd16(ip + 6), 0x4000);
	CHECK_EQ(ip[8], 64);
	CHECK_EQ(ip[9], 6);
	CHECK_EQ(rd32(ip + 12), IP_US);
	CHECK_EQ(rd32(ip + 16), IP_B);
	CHECK_EQ(sum16(ip, 20), 0);
	CHECK_EQ(ctr(n, C(tx_ip)), 1);

	/* Off the subnet: the gateway is resolved instead. */
	CHECK_EQ(out_hdr(n, IP4(8, 8, 8, 8), 10, 0, h, &arp), -EAGAIN);
	CHECK_EQ(arp.ip, IP_GW);
	CHECK_EQ(rd32(arp.frame + 38), IP_GW);

	/* Broadcasts need no ARP. */
	CHECK_EQ(out_hdr(n, 0xffffffffu, 10, 0, h, &arp), TCP_NET_HDR_LEN);
	CHECK_EQ(memcmp(h, BCAST, 6), 0);
	CHECK_EQ(out_hdr(n, IP4(10, 0, 0, 255), 10, 0, h, &arp), TCP_NET_HDR_LEN);
	CHECK_EQ(memcmp(h, BCAST, 6), 0);

	CHECK_EQ(out_hdr(n, IP4(127, 0, 0, 1), 10, 0, h, &arp), -ENETUNREACH);
	CHECK_EQ(out_hdr(n, IP4(224, 0, 0, 1), 10, 0, h, &arp), -ENETUNREACH);
	CHECK_EQ(out_hdr(n, IP_US, 10, 0, h, &arp), -ENETUNREACH);
	CHECK_EQ(ctr(n, C(no_route)), 3);
	CHECK_EQ(out_hdr(n, IP_B, 1481, 0, h, &arp), -EMSGSIZE);
	CHECK_EQ(ctr(n, C(too_big)), 1);
	CHECK_EQ(out_hdr(n, IP_B, 1480, 0, h, &arp), TCP_NET_HDR_LEN);
	CHECK_EQ(rd16(h + 16), 1500);
	CHECK_EQ(tcp_net_output(n, IP_B, 6, 10, 0, h, TCP_NET_HDR_LEN - 1, &arp), -ENOSPC);
	tcp_net_free(n);

	n = mk(16, 1500, 0); /* no gateway */
	CHECK_EQ(out_hdr(n, IP4(8, 8, 8, 8), 10, 0, h, &arp), -ENETUNREACH);
	CHECK_EQ(ctr(n, C(no_route)), 1);
	tcp_net_free(n);
}

static void test_pending_limit(void)
{
	struct tcp_net *n = mk(16, 1500, IP_GW);
	struct tcp_net_result res = {0};
	struct tcp_net_arp arp;
	uint8_t f[64];

	for (int i = 0; i < 8; i++)
		CHECK_EQ(out_hdr(n, IP_B, 10, 0, NULL, &arp), -EAGAIN);
	CHECK_EQ(out_hdr(n, IP_B, 10, 0, NULL, &arp), -ENOBUFS);
	CHECK_EQ(out_hdr(n, IP_B, 10, 0, NULL, &arp), -ENOBUFS);
	CHECK_EQ(ctr(n, C(arp_pending_full)), 2);
	CHECK_EQ(ctr(n, C(arp_requests)), 1);
	uint32_t len = arp_frame(f, 2, MAC_US, MAC_B, IP_B, MAC_US, IP_US);
	in(n, f, len, 0, 60, &res);
	CHECK_EQ(res.resolved_pending, 8);
	CHECK_EQ(out_hdr(n, IP_B, 10, 0, NULL, &arp), TCP_NET_HDR_LEN);
	tcp_net_free(n);
}

static void test_retransmit(void)
{
	struct tcp_net *n = mk(16, 1500, IP_GW);
	struct tcp_net_arp arp;
	uint8_t mac[6];

	CHECK_EQ(tcp_net_next_timer(n), UINT64_MAX); /* nothing armed: sleep */
	CHECK_EQ(out_hdr(n, IP_B, 10, 0, NULL, &arp), -EAGAIN);
	CHECK_EQ(tcp_net_next_timer(n), SEC); /* the first retry */
	uint32_t entry = arp.entry;
	CHECK_EQ(tcp_net_timer(n, 0, &arp), TCP_NET_IDLE);
	CHECK_EQ(tcp_net_timer(n, SEC - 1, &arp), TCP_NET_IDLE);
	CHECK_EQ(tcp_net_timer(n, SEC, &arp), TCP_NET_SEND_ARP);
	CHECK_EQ(arp.len, 60);
	CHECK_EQ(arp.entry, entry);
	CHECK_EQ(memcmp(arp.frame, BCAST, 6), 0);
	CHECK_EQ(rd32(arp.frame + 38), IP_B);
	CHECK_EQ(tcp_net_timer(n, SEC, &arp), TCP_NET_IDLE);
	CHECK_EQ(arp.len, 0);
	CHECK_EQ(tcp_net_timer(n, 1500 * MS, &arp), TCP_NET_IDLE);
	CHECK_EQ(tcp_net_timer(n, 2 * SEC, &arp), TCP_NET_SEND_ARP);
	CHECK_EQ(tcp_net_timer(n, 2 * SEC, &arp), TCP_NET_IDLE);
	CHECK_EQ(out_hdr(n, IP_B, 10, 2500 * MS, NULL, &arp), -EAGAIN);
	CHECK_EQ(arp.len, 0);
	CHECK_EQ(tcp_net_timer(n, 3 * SEC - 1, &arp), TCP_NET_IDLE);
	CHECK_EQ(tcp_net_timer(n, 3 * SEC, &arp), TCP_NET_GAVE_UP);
	CHECK_EQ(arp.entry, entry);
	CHECK_EQ(arp.ip, IP_B);
	CHECK_EQ(arp.pending, 2);
	CHECK_EQ(arp.len, 0);
	CHECK_EQ(tcp_net_timer(n, 3 * SEC, &arp), TCP_NET_IDLE);
	CHECK_EQ(ctr(n, C(arp_requests)), 3);
	CHECK_EQ(ctr(n, C(arp_gave_up)), 1);
	CHECK_EQ(ctr(n, C(arp_unresolved)), 2);
	CHECK_EQ(tcp_net_arp_lookup(n, IP_B, mac), -ENOENT);
	/* The next packet starts over. */
	CHECK_EQ(out_hdr(n, IP_B, 10, 4 * SEC, NULL, &arp), -EAGAIN);
	CHECK_EQ(arp.len, 60);
	CHECK_EQ(tcp_net_timer(n, 4 * SEC, &arp), TCP_NET_IDLE);
	CHECK_EQ(tcp_net_timer(n, 5 * SEC, &arp), TCP_NET_SEND_ARP);

	/* Several entries due at once come out one per call. */
	CHECK_EQ(out_hdr(n, IP4(10, 0, 0, 3), 10, 5 * SEC, NULL, &arp), -EAGAIN);
	CHECK_EQ(out_hdr(n, IP4(10, 0, 0, 4), 10, 5 * SEC, NULL, &arp), -EAGAIN);
	int sends = 0;
	while (tcp_net_timer(n, 6 * SEC, &arp) == TCP_NET_SEND_ARP && sends < 10)
		sends++;
	CHECK_EQ(sends, 3);
	tcp_net_free(n);
}

static void learn(struct tcp_net *n, uint64_t now)
{
	struct tcp_net_result res = {0};
	uint8_t f[64];
	uint32_t len = arp_frame(f, 1, BCAST, MAC_B, IP_B, ZERO, IP_US);
	in(n, f, len, now, 60, &res);
}

static void test_expiry_refresh(void)
{
	struct tcp_net *n = mk(16, 1500, IP_GW);
	struct tcp_net_result res = {0};
	struct tcp_net_arp arp;
	uint8_t f[64], h[TCP_NET_HDR_LEN], mac[6];

	/* Unused: gone after the TTL, silently. */
	learn(n, 0);
	CHECK_EQ(tcp_net_timer(n, 60 * SEC - 1, &arp), TCP_NET_IDLE);
	CHECK_EQ(tcp_net_arp_lookup(n, IP_B, mac), 0);
	CHECK_EQ(tcp_net_timer(n, 60 * SEC, &arp), TCP_NET_IDLE);
	CHECK_EQ(tcp_net_arp_lookup(n, IP_B, mac), -ENOENT);
	CHECK_EQ(ctr(n, C(arp_expired)), 1);

	/* Any ARP from the neighbor (here its gratuitous ARP) restarts the TTL. */
	learn(n, 100 * SEC);
	uint32_t len = arp_frame(f, 1, BCAST, MAC_B, IP_B, ZERO, IP_B);
	CHECK_EQ(in(n, f, len, 130 * SEC, 60, &res), TCP_NET_CONSUMED);
	CHECK_EQ(tcp_net_timer(n, 160 * SEC, &arp), TCP_NET_IDLE);
	CHECK_EQ(tcp_net_arp_lookup(n, IP_B, mac), 0);
	CHECK_EQ(tcp_net_timer(n, 190 * SEC, &arp), TCP_NET_IDLE);
	CHECK_EQ(tcp_net_arp_lookup(n, IP_B, mac), -ENOENT);

	/* Used: refreshed by unicast requests while packets keep flowing. */
	learn(n, 200 * SEC);
	CHECK_EQ(out_hdr(n, IP_B, 10, 210 * SEC, h, &arp), TCP_NET_HDR_LEN);
	CHECK_EQ(tcp_net_timer(n, 260 * SEC, &arp), TCP_NET_SEND_ARP);
	CHECK_EQ(memcmp(arp.frame, MAC_B, 6), 0);
	CHECK_EQ(rd32(arp.frame + 38), IP_B);
	CHECK_EQ(tcp_net_timer(n, 260 * SEC, &arp), TCP_NET_IDLE);
	CHECK_EQ(out_hdr(n, IP_B, 10, 260 * SEC + 500 * MS, h, &arp), TCP_NET_HDR_LEN);
	CHECK_EQ(arp.len, 0);
	len = arp_frame(f, 2, MAC_US, MAC_B, IP_B, MAC_US, IP_US);
	CHECK_EQ(in(n, f, len, 260 * SEC + 700 * MS, 60, &res), TCP_NET_CONSUMED);
	CHECK_EQ(res.resolved, TCP_NET_NO_ENTRY); /* nothing was waiting */
	CHECK_EQ(tcp_net_timer(n, 261 * SEC, &arp), TCP_NET_IDLE);
	CHECK_EQ(tcp_net_arp_lookup(n, IP_B, mac), 0);
	CHECK_EQ(tcp_net_timer(n, 320 * SEC + 700 * MS, &arp), TCP_NET_IDLE); /* unused since */
	CHECK_EQ(tcp_net_arp_lookup(n, IP_B, mac), -ENOENT);

	/* Used, and the refresh is never answered: usable until the last try. */
	learn(n, 400 * SEC);
	CHECK_EQ(out_hdr(n, IP_B, 10, 401 * SEC, h, &arp), TCP_NET_HDR_LEN);
	uint64_t expired = ctr(n, C(arp_expired));
	CHECK_EQ(tcp_net_timer(n, 460 * SEC, &arp), TCP_NET_SEND_ARP);
	CHECK_EQ(tcp_net_timer(n, 461 * SEC, &arp), TCP_NET_SEND_ARP);
	CHECK_EQ(tcp_net_timer(n, 462 * SEC, &arp), TCP_NET_SEND_ARP);
	CHECK_EQ(out_hdr(n, IP_B, 10, 462 * SEC + 500 * MS, h, &arp), TCP_NET_HDR_LEN);
	CHECK_EQ(tcp_net_timer(n, 463 * SEC, &arp), TCP_NET_IDLE);
	CHECK_EQ(tcp_net_arp_lookup(n, IP_B, mac), -ENOENT);
	CHECK_EQ(ctr(n, C(arp_expired)), expired + 1);
	CHECK_EQ(ctr(n, C(arp_gave_up)), 0);
	tcp_net_free(n);
}

static void test_capacity(void)
{
	struct tcp_net *n = mk(2, 1500, IP_GW);
	struct tcp_net_result res = {0};
	struct tcp_net_arp arp;
	uint8_t f[64], mac[6];

	CHECK_EQ(out_hdr(n, IP_B, 10, 0, NULL, &arp), -EAGAIN);
	CHECK_EQ(out_hdr(n, IP4(10, 0, 0, 3), 10, 0, NULL, &arp), -EAGAIN);
	CHECK_EQ(out_hdr(n, IP4(10, 0, 0, 4), 10, 0, NULL, &arp), -ENOBUFS);
	CHECK_EQ(ctr(n, C(arp_cache_full)), 1);
	/* A request from a stranger is answered but not learned when full. */
	uint32_t len = arp_frame(f, 1, BCAST, (uint8_t[]){2, 0, 0, 0, 0, 5}, IP4(10, 0, 0, 5), ZERO,
				 IP_US);
	CHECK_EQ(in(n, f, len, 0, 60, &res), TCP_NET_CONSUMED);
	CHECK_EQ(ctr(n, C(arp_not_learned)), 1);
	CHECK_EQ(tcp_net_arp_lookup(n, IP4(10, 0, 0, 5), mac), -ENOENT);
	/* Once B is resolved, it is the one to make room. */
	len = arp_frame(f, 2, MAC_US, MAC_B, IP_B, MAC_US, IP_US);
	in(n, f, len, 0, 60, &res);
	CHECK_EQ(out_hdr(n, IP4(10, 0, 0, 4), 10, 0, NULL, &arp), -EAGAIN);
	CHECK_EQ(ctr(n, C(arp_evicted)), 1);
	CHECK_EQ(tcp_net_arp_lookup(n, IP_B, mac), -ENOENT);
	CHECK_EQ(tcp_net_arp_lookup(n, IP4(10, 0, 0, 3), mac), -EAGAIN);
	tcp_net_free(n);
}

static void test_garp(void)
{
	struct tcp_net *n = mk(4, 1500, IP_GW);
	uint8_t *buf = malloc(TCP_NET_ARP_LEN), exp[60] = {0};
	memcpy(exp, BCAST, 6), memcpy(exp + 6, MAC_US, 6), wr16(exp + 12, 0x0806);
	wr16(exp + 14, 1), wr16(exp + 16, 0x0800), exp[18] = 6, exp[19] = 4, wr16(exp + 20, 1);
	memcpy(exp + 22, MAC_US, 6), wr32(exp + 28, IP_US), wr32(exp + 38, IP_US);
	CHECK_EQ(tcp_net_garp(n, buf, TCP_NET_ARP_LEN), TCP_NET_ARP_LEN);
	CHECK_EQ(memcmp(buf, exp, 60), 0);
	CHECK_EQ(tcp_net_garp(n, buf, TCP_NET_ARP_LEN - 1), -ENOSPC);
	free(buf);
	tcp_net_free(n);
}

static uint8_t tcp_seg[25] = {0x30, 0x39, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02};

static void test_ipv4(void)
{
	struct tcp_net *n = mk(16, 1500, IP_GW);
	struct tcp_net_result res = {0};
	uint8_t f[128], g[128];
	uint8_t *ip = g + 14;

	uint32_t len = ip_frame(f, IP_B, IP_US, 6, tcp_seg, sizeof(tcp_seg), 0);
	CHECK_EQ(in(n, f, len, 0, 0, &res), TCP_NET_L4);
	CHECK_EQ(res.proto, 6);
	CHECK_EQ(res.l4_off, 34);
	CHECK_EQ(res.l4_len, 25);
	CHECK_EQ(res.src, IP_B);
	CHECK_EQ(res.dst, IP_US);
	CHECK_EQ(res.tos, 2);
	CHECK_EQ(res.bcast, 0);
	CHECK_EQ(ctr(n, C(tcp)), 1);

#define MUTATE(stmt, fix) (memcpy(g, f, len), (stmt), (fix) ? ip_cksum_fix(ip) : (void)0)
	CHECK(dropped_as(n, f, 14 + 19, C(ip_short)));
	MUTATE(ip[0] = 0x65, 1);
	CHECK(dropped_as(n, g, len, C(ip_version)));
	MUTATE(ip[0] = 0x44, 0);
	CHECK(dropped_as(n, g, len, C(ip_ihl)));
	MUTATE(ip[0] = 0x4f, 0); /* 60-byte header in a 45-byte packet */
	CHECK(dropped_as(n, g, len, C(ip_short)));
	MUTATE(ip[0] = 0x4c, 0); /* 48 bytes in 45: just past the end */
	CHECK(dropped_as(n, g, len, C(ip_short)));
	MUTATE(wr16(ip + 2, len - 14 + 1), 1);
	CHECK(dropped_as(n, g, len, C(ip_len)));
	MUTATE(wr16(ip + 2, 19), 1);
	CHECK(dropped_as(n, g, len, C(ip_len)));
	MUTATE(ip[11] ^= 1, 0);
	CHECK(dropped_as(n, g, len, C(ip_cksum)));
	MUTATE(wr32(ip + 16, IP4(10, 0, 0, 9)), 1);
	CHECK(dropped_as(n, g, len, C(ip_not_for_us)));
	MUTATE(wr32(ip + 16, IP4(224, 0, 0, 1)), 1);
	CHECK(dropped_as(n, g, len, C(ip_not_for_us)));
	MUTATE(ip[6] = 0x20, 1); /* MF */
	CHECK(dropped_as(n, g, len, C(fragment)));
	MUTATE(ip[7] = 0x01, 1); /* offset 8 */
	CHECK(dropped_as(n, g, len, C(fragment)));
	MUTATE(wr32(ip + 12, IP_US), 1);
	CHECK(dropped_as(n, g, len, C(ip_bad_src)));
	MUTATE(wr32(ip + 12, 0), 1);
	CHECK(dropped_as(n, g, len, C(ip_bad_src)));
	MUTATE(ip[9] = 47, 1);
	CHECK(dropped_as(n, g, len, C(ip_proto)));
	MUTATE(ip[6] = 0x40, 1); /* DF alone is not a fragment */
	CHECK_EQ(in(n, g, len, 0, 0, &res), TCP_NET_L4);
	MUTATE(ip[8] = 0, 1); /* TTL 0 on arrival: fine for a host */
	CHECK_EQ(in(n, g, len, 0, 0, &res), TCP_NET_L4);
	/* Ethernet padding after the packet is not payload. */
	MUTATE(memset(g + len, 0, 10), 0);
	CHECK_EQ(in(n, g, len + 10, 0, 0, &res), TCP_NET_L4);
	CHECK_EQ(res.l4_len, 25);

	/* Ethernet. */
	CHECK(dropped_as(n, f, 13, C(eth_short)));
	MUTATE(g[5] = 9, 0);
	CHECK(dropped_as(n, g, len, C(eth_other_host)));
	MUTATE(g[0] = 1, 0);
	CHECK(dropped_as(n, g, len, C(eth_other_host)));
	MUTATE(g[6] = 1, 0);
	CHECK(dropped_as(n, g, len, C(eth_bad_src)));
	MUTATE(wr16(g + 12, 0x86dd), 0);
	CHECK(dropped_as(n, g, len, C(ethertype)));
	MUTATE(wr16(g + 12, 0x8100), 0);
	CHECK(dropped_as(n, g, len, C(ethertype)));
#undef MUTATE

	/* IP options are skipped. */
	len = ip_frame(f, IP_B, IP_US, 6, tcp_seg, sizeof(tcp_seg), 1);
	CHECK_EQ(in(n, f, len, 0, 0, &res), TCP_NET_L4);
	CHECK_EQ(res.l4_off, 38);
	CHECK_EQ(res.l4_len, 25);

	/* TCP and UDP bounds; broadcasts. */
	len = ip_frame(f, IP_B, IP_US, 6, tcp_seg, 19, 0);
	CHECK(dropped_as(n, f, len, C(tcp_short)));
	len = ip_frame(f, IP_B, IP4(10, 0, 0, 255), 6, tcp_seg, sizeof(tcp_seg), 0);
	CHECK(dropped_as(n, f, len, C(tcp_bcast)));
	uint8_t udp[12] = {0x00, 0x44, 0x00, 0x43, 0, 10};
	len = ip_frame(f, IP_B, 0xffffffffu, 17, udp, sizeof(udp), 0);
	CHECK_EQ(in(n, f, len, 0, 0, &res), TCP_NET_L4);
	CHECK_EQ(res.proto, 17);
	CHECK_EQ(res.bcast, 1);
	CHECK_EQ(res.l4_len, 10); /* trimmed to the UDP length */
	CHECK_EQ(ctr(n, C(udp)), 1);
	udp[5] = 13;
	len = ip_frame(f, IP_B, IP_US, 17, udp, sizeof(udp), 0);
	CHECK(dropped_as(n, f, len, C(udp_len)));
	udp[5] = 7;
	len = ip_frame(f, IP_B, IP_US, 17, udp, sizeof(udp), 0);
	CHECK(dropped_as(n, f, len, C(udp_len)));
	len = ip_frame(f, IP_B, IP_US, 17, udp, 7, 0);
	CHECK(dropped_as(n, f, len, C(udp_short)));
	tcp_net_free(n);
}

static void test_icmp(void)
{
	struct tcp_net *n = mk(16, 1500, IP_GW);
	struct tcp_net_result res = {0};
	uint8_t f[1600], l4[1600];

	uint32_t l4_len = echo_req(l4, 8, 0x1234, 7, 56);
	uint32_t len = ip_frame(f, IP_B, IP_US, 1, l4, l4_len, 0);
	CHECK_EQ(in(n, f, len, 0, 98, &res), TCP_NET_CONSUMED);
	CHECK_EQ(res.out_len, 98);
	CHECK_EQ(ctr(n, C(icmp_echo)), 1);
	CHECK_EQ(memcmp(reply, MAC_B, 6), 0);
	CHECK_EQ(memcmp(reply + 6, MAC_US, 6), 0);
	CHECK_EQ(rd16(reply + 12), 0x0800);
	const uint8_t *ip = reply + 14, *icmp = reply + 34;
	CHECK_EQ(ip[0], 0x45);
	CHECK_EQ(rd16(ip + 2), 84);
	CHECK_EQ(ip[8], 64);
	CHECK_EQ(ip[9], 1);
	CHECK_EQ(rd32(ip + 12), IP_US);
	CHECK_EQ(rd32(ip + 16), IP_B);
	CHECK_EQ(sum16(ip, 20), 0);
	CHECK_EQ(icmp[0], 0);
	CHECK_EQ(icmp[1], 0);
	CHECK_EQ(sum16(icmp, 64), 0);
	CHECK_EQ(rd16(icmp + 4), 0x1234);
	CHECK_EQ(rd16(icmp + 6), 7);
	CHECK_EQ(memcmp(icmp + 8, l4 + 8, 56), 0);
	/* Only the type changed: RFC 1624 gives the checksum. */
	CHECK_EQ(rd16(icmp + 2), (uint16_t)(rd16(l4 + 2) + 0x0800 + (rd16(l4 + 2) >= 0xf800)));

	/* The request's IP options are not echoed; the sizes follow. */
	len = ip_frame(f, IP_B, IP_US, 1, l4, l4_len, 1);
	CHECK_EQ(in(n, f, len, 0, 98, &res), TCP_NET_CONSUMED);
	CHECK_EQ(res.out_len, 98);
	CHECK_EQ(sum16(reply + 34, 64), 0);

	len = ip_frame(f, IP_B, IP_US, 1, l4, l4_len, 0);
	res.drop = 0;
	CHECK_EQ(in(n, f, len, 0, 97, &res), TCP_NET_DROPPED);
	CHECK_EQ(res.drop, C(no_out_buffer));
	f[34 + 20] ^= 0xff; /* a data byte */
	CHECK(dropped_as(n, f, len, C(icmp_cksum)));
	l4_len = echo_req(l4, 13, 1, 1, 12); /* timestamp request */
	len = ip_frame(f, IP_B, IP_US, 1, l4, l4_len, 0);
	CHECK(dropped_as(n, f, len, C(icmp_type)));
	l4_len = echo_req(l4, 8, 1, 1, 0);
	len = ip_frame(f, IP_B, IP4(10, 0, 0, 255), 1, l4, l4_len, 0);
	CHECK(dropped_as(n, f, len, C(icmp_bcast)));
	len = ip_frame(f, IP_B, IP_US, 1, l4, 7, 0);
	CHECK(dropped_as(n, f, len, C(icmp_short)));
	tcp_net_free(n);

	/* The reply never exceeds the MTU (we do not fragment). */
	n = mk(16, 576, IP_GW);
	l4_len = echo_req(l4, 8, 1, 1, 549);
	len = ip_frame(f, IP_B, IP_US, 1, l4, l4_len, 0);
	CHECK(dropped_as(n, f, len, C(icmp_too_big)));
	l4_len = echo_req(l4, 8, 1, 1, 548);
	len = ip_frame(f, IP_B, IP_US, 1, l4, l4_len, 0);
	CHECK_EQ(in(n, f, len, 0, 14 + 576, &res), TCP_NET_CONSUMED);
	CHECK_EQ(res.out_len, 14 + 576);
	tcp_net_free(n);
}

/* Valid frames used by the truncation and fuzz loops. */
static uint32_t templates(uint8_t t[][128], uint32_t *lens)
{
	uint8_t l4[128], udp[12] = {0x00, 0x44, 0x00, 0x43, 0, 12};
	uint32_t k = 0;
	lens[k] = arp_frame(t[k], 1, BCAST, MAC_B, IP_B, ZERO, IP_US), k++;
	lens[k] = arp_frame(t[k], 2, MAC_US, MAC_B, IP_B, MAC_US, IP_US), k++;
	lens[k] = ip_frame(t[k], IP_B, IP_US, 1, l4, echo_req(l4, 8, 9, 9, 40), 0), k++;
	lens[k] = ip_frame(t[k], IP_B, IP_US, 1, l4, echo_req(l4, 8, 9, 9, 40), 1), k++;
	lens[k] = ip_frame(t[k], IP_B, IP_US, 6, tcp_seg, sizeof(tcp_seg), 0), k++;
	lens[k] = ip_frame(t[k], IP_B, IP_US, 6, tcp_seg, sizeof(tcp_seg), 1), k++;
	lens[k] = ip_frame(t[k], IP_B, IP_US, 17, udp, sizeof(udp), 0), k++;
	return k;
}

static void test_truncation(void)
{
	struct tcp_net *n = mk(16, 1500, IP_GW);
	struct tcp_net_result res = {0};
	struct tcp_net_arp arp;
	uint8_t t[8][128];
	uint32_t lens[8], k = templates(t, lens);
	unsigned bad = 0;

	out_hdr(n, IP_B, 10, 0, NULL, &arp); /* so that B's reply is wanted */
	for (uint32_t i = 0; i < k; i++) {
		for (uint32_t l = 0; l < lens[i]; l++)
			if (in(n, t[i], l, 0, 1514, &res) != TCP_NET_DROPPED || res.out_len)
				bad++;
		CHECK(in(n, t[i], lens[i], 0, 1514, &res) != TCP_NET_DROPPED);
	}
	CHECK_EQ(bad, 0);
	tcp_net_free(n);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

/*
 * Random bytes, and mutations of valid frames from random neighbors, against
 * a small cache with random output and timer calls between them. The caller's
 * side of the pending queues is modelled to check that the counts the layer
 * hands back always match what was queued.
 */
static void test_fuzz(void)
{
	enum { CAP = 8, ROUNDS = 200000 };
	struct tcp_net *n = mk(CAP, 1500, IP_GW);
	struct tcp_net_result res = {0};
	struct tcp_net_arp arp;
	uint8_t t[8][128], f[160];
	uint32_t lens[8], k = templates(t, lens), queued[CAP] = {0};
	unsigned bad = 0;
	uint64_t now = 0;

	for (uint32_t r = 0; r < ROUNDS; r++) {
		uint32_t len;
		if (rnd() % 8 == 0) {
			len = rnd() % sizeof(f);
			for (uint32_t i = 0; i < len; i++)
				f[i] = (uint8_t)rnd();
		} else {
			uint32_t i = rnd() % k;
			memcpy(f, t[i], lens[i]);
			len = lens[i];
			uint8_t host = (uint8_t)(2 + rnd() % 16);
			f[11] = host;
			if (f[13] == 0x06) /* ARP: sender MAC and IP */
				f[27] = host, f[31] = host;
			else
				f[29] = host, ip_cksum_fix(f + 14);
			for (uint32_t m = rnd() % 4; m; m--)
				f[rnd() % len] = (uint8_t)rnd();
			if (rnd() % 4 == 0 && f[13] == 0x00 && len >= 34 && (f[14] & 15) >= 5 &&
			    14 + (f[14] & 15u) * 4 <= len)
				ip_cksum_fix(f + 14);
			if (rnd() % 8 == 0)
				len = rnd() % (len + 1);
		}
		now += rnd() % (50 * MS);
		if (in(n, f, len, now, 1514, &res) == TCP_NET_L4 && res.l4_off + res.l4_len > len)
			bad++;
		if (res.resolved != TCP_NET_NO_ENTRY) {
			if (res.resolved >= CAP || queued[res.resolved] != res.resolved_pending)
				bad++;
			else
				queued[res.resolved] = 0;
		}
		if (rnd() % 4 == 0) {
			int rc = out_hdr(n, IP4(10, 0, 0, 2 + rnd() % 16), 10, now, NULL, &arp);
			if (rc == -EAGAIN) {
				if (arp.entry >= CAP)
					bad++;
				else
					queued[arp.entry]++;
			} else if (rc != TCP_NET_HDR_LEN && rc != -ENOBUFS) {
				bad++;
			}
		}
		int loops = 0;
		enum tcp_net_tick tk;
		while ((tk = tcp_net_timer(n, now, &arp)) != TCP_NET_IDLE && loops++ < 4 * CAP)
			if (tk == TCP_NET_GAVE_UP) {
				if (arp.entry >= CAP || queued[arp.entry] != arp.pending)
					bad++;
				else
					queued[arp.entry] = 0;
			}
		if (loops > 2 * CAP)
			bad++;
	}
	CHECK_EQ(bad, 0);
	CHECK_EQ(ctr(n, C(rx_frames)), ROUNDS);
	CHECK_EQ(outcomes(n), ROUNDS);
	/* The fuzz got past the parsers, not only into the first drop. */
	CHECK(ctr(n, C(arp_replied)) > 1000);
	CHECK(ctr(n, C(icmp_echo)) > 1000);
	CHECK(ctr(n, C(tcp)) > 1000);
	CHECK(ctr(n, C(arp_resolved)) > 100);
	CHECK(ctr(n, C(arp_gave_up)) + ctr(n, C(arp_expired)) > 100);
	tcp_net_free(n);
}

int main(void)
{
	test_config();
	test_arp_in();
	test_arp_out();
	test_pending_limit();
	test_retransmit();
	test_expiry_refresh();
	test_capacity();
	test_garp();
	test_ipv4();
	test_icmp();
	test_truncation();
	test_fuzz();
	CHECK_EQ(broken_rules, 0);
	return bh_test_summary("tcp_net");
}
