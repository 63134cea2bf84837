/* SPDX-License-Identifier: MIT */
/*
 * Ethernet, ARP, IPv4 and ICMP echo for one stack instance (see tcp_net.h).
 * We are a host, not a router: TTL is not checked on arrival, nothing is
 * forwarded, and replies go straight back to the MAC a request came from.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bulkhead/tcp_net.h"

#define ETH_HLEN 14
#define ARP_PLEN 28
#define IP_HLEN 20
#define ETYPE_IP 0x0800
#define ETYPE_ARP 0x0806
#define PROTO_ICMP 1
#define PROTO_TCP 6
#define PROTO_UDP 17
#define NONE TCP_NET_NO_ENTRY

enum { ENT_FREE, ENT_INCOMPLETE, ENT_RESOLVED, ENT_REFRESH };

struct tcp_arp_ent {
	uint32_t ip;
	uint32_t next;     /* hash chain, or free list */
	uint64_t deadline; /* RESOLVED: expiry; INCOMPLETE, REFRESH: next request */
	uint32_t pending;  /* INCOMPLETE: packets the caller queued */
	uint8_t mac[6];
	uint8_t state;
	uint8_t tries; /* requests sent for this resolution */
	uint8_t used;  /* RESOLVED: used by tcp_net_output since the last reply */
};

struct tcp_net {
	struct tcp_if ifc;
	uint32_t dbcast; /* subnet-directed broadcast; 0 on /31 and /32 (RFC 3021) */
	uint32_t cap, pending_max, tries;
	uint64_t ttl, retry;
	uint32_t shift; /* bucket = hash >> shift */
	uint32_t free_head;
	/* tcp_net_timer walks the entries from scan; next_due is a lower bound on
	 * every deadline, so most calls return at once. */
	uint32_t scan;
	uint64_t next_due, scan_min;
	uint16_t ip_id;
	uint64_t ctr[TCP_NET_C_MAX];
	uint32_t *bucket;
	struct tcp_arp_ent *ent;
};

static const uint8_t bcast_mac[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void wr16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v; }
static void wr32(uint8_t *p, uint32_t v)
{
	wr16(p, v >> 16);
	wr16(p + 2, v);
}

/* RFC 1071. Temporary: to be replaced by the shared tcp_cksum. */
static uint16_t inet_cksum(const uint8_t *p, uint32_t len)
{
	uint64_t s = 0;
	for (; len > 1; p += 2, len -= 2)
		s += rd16(p);
	if (len)
		s += (uint32_t)p[0] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static int mac_unicast(const uint8_t *m)
{
	static const uint8_t zero[6];
	return !(m[0] & 1) && memcmp(m, zero, 6) != 0;
}

static int is_bcast(const struct tcp_net *n, uint32_t a)
{
	return a == 0xffffffffu || (n->dbcast && a == n->dbcast);
}

/* Zero, multicast, class E, loopback, a broadcast or ourselves: never a peer. */
static int bad_peer(const struct tcp_net *n, uint32_t a)
{
	return a == 0 || a >= 0xe0000000u || (a >> 24) == 127 || a == n->ifc.ip ||
	       is_bcast(n, a);
}

static int on_link(const struct tcp_net *n, uint32_t a)
{
	return ((a ^ n->ifc.ip) & n->ifc.mask) == 0 || (n->ifc.gw && a == n->ifc.gw);
}

static void count(struct tcp_net *n, enum tcp_net_ctr c) { n->ctr[c]++; }

/* ---- ARP cache ---- */

static uint32_t bucket_of(const struct tcp_net *n, uint32_t ip)
{
	return (ip * 0x9e3779b1u) >> n->shift;
}

static uint32_t lookup(const struct tcp_net *n, uint32_t ip)
{
	uint32_t i = n->bucket[bucket_of(n, ip)];
	while (i != NONE && n->ent[i].ip != ip)
		i = n->ent[i].next;
	return i;
}

static void set_deadline(struct tcp_net *n, struct tcp_arp_ent *e, uint64_t d)
{
	e->deadline = d;
	if (d < n->next_due)
		n->next_due = d;
	if (d < n->scan_min)
		n->scan_min = d;
}

static void free_entry(struct tcp_net *n, uint32_t i)
{
	uint32_t *pp = &n->bucket[bucket_of(n, n->ent[i].ip)];
	while (*pp != i)
		pp = &n->ent[*pp].next;
	*pp = n->ent[i].next;
	memset(&n->ent[i], 0, sizeof(n->ent[i]));
	n->ent[i].next = n->free_head;
	n->free_head = i;
}

/*
 * A free entry for ip, linked in. When full, the resolved entry closest to
 * expiry goes if may_evict; entries with packets waiting never do, so the
 * caller's queues stay valid until resolution or give-up. The O(capacity)
 * search runs only when the cache is full.
 */
static uint32_t alloc_entry(struct tcp_net *n, uint32_t ip, int may_evict)
{
	uint32_t i = n->free_head;
	if (i == NONE) {
		if (!may_evict)
			return NONE;
		for (uint32_t j = 0; j < n->cap; j++)
			if (n->ent[j].state != ENT_INCOMPLETE &&
			    (i == NONE || n->ent[j].deadline < n->ent[i].deadline))
				i = j;
		if (i == NONE)
			return NONE;
		free_entry(n, i);
		count(n, TCP_NET_C_arp_evicted);
	}
	n->free_head = n->ent[i].next;
	uint32_t b = bucket_of(n, ip);
	n->ent[i].ip = ip;
	n->ent[i].next = n->bucket[b];
	n->bucket[b] = i;
	return i;
}

static void resolve(struct tcp_net *n, uint32_t i, const uint8_t *mac, uint64_t now,
		    struct tcp_net_result *res)
{
	struct tcp_arp_ent *e = &n->ent[i];
	if (e->state == ENT_INCOMPLETE) {
		res->resolved = i;
		res->resolved_pending = e->pending;
		e->pending = 0;
		count(n, TCP_NET_C_arp_resolved);
	}
	memcpy(e->mac, mac, 6);
	e->state = ENT_RESOLVED;
	e->tries = 0;
	e->used = 0;
	set_deadline(n, e, now + n->ttl);
}

/* ARP frame: Ethernet header, 28-byte body, zero padding to 60. */
static void build_arp(const struct tcp_net *n, uint8_t *f, uint16_t op, const uint8_t *eth_dst,
		      const uint8_t *tha, uint32_t tpa)
{
	memset(f, 0, TCP_NET_ARP_LEN);
	memcpy(f, eth_dst, 6);
	memcpy(f + 6, n->ifc.mac, 6);
	wr16(f + 12, ETYPE_ARP);
	uint8_t *a = f + ETH_HLEN;
	wr16(a, 1);
	wr16(a + 2, ETYPE_IP);
	a[4] = 6;
	a[5] = 4;
	wr16(a + 6, op);
	memcpy(a + 8, n->ifc.mac, 6);
	wr32(a + 14, n->ifc.ip);
	if (tha)
		memcpy(a + 18, tha, 6);
	wr32(a + 24, tpa);
}

/* A request for entry i: broadcast to resolve, unicast to refresh (RFC 1122 2.3.2.1). */
static void send_request(struct tcp_net *n, uint32_t i, struct tcp_net_arp *arp)
{
	const struct tcp_arp_ent *e = &n->ent[i];
	build_arp(n, arp->frame, 1, e->state == ENT_REFRESH ? e->mac : bcast_mac, NULL, e->ip);
	arp->len = TCP_NET_ARP_LEN;
	arp->entry = i;
	arp->ip = e->ip;
	count(n, TCP_NET_C_arp_requests);
}

/* ---- input ---- */

static enum tcp_net_verdict drop(struct tcp_net *n, struct tcp_net_result *res,
				 enum tcp_net_ctr c)
{
	count(n, c);
	res->drop = (uint16_t)c;
	return TCP_NET_DROPPED;
}

static enum tcp_net_verdict arp_reply(struct tcp_net *n, const uint8_t *a,
				      struct tcp_net_result *res)
{
	if (!res->out || res->out_cap < TCP_NET_ARP_LEN)
		return drop(n, res, TCP_NET_C_no_out_buffer);
	build_arp(n, res->out, 2, a + 8, a + 8, rd32(a + 14));
	res->out_len = TCP_NET_ARP_LEN;
	count(n, TCP_NET_C_arp_replied);
	return TCP_NET_CONSUMED;
}

/*
 * RFC 826 with Linux's caution: any ARP refreshes a neighbor we already know,
 * but only a request for our address creates an entry, so unsolicited replies
 * can neither fill the cache nor plant an entry.
 */
static enum tcp_net_verdict arp_input(struct tcp_net *n, const uint8_t *f, uint32_t len,
				      uint64_t now, struct tcp_net_result *res)
{
	const uint8_t *a = f + ETH_HLEN;
	if (len < ETH_HLEN + ARP_PLEN || rd16(a) != 1 || rd16(a + 2) != ETYPE_IP || a[4] != 6 ||
	    a[5] != 4 || (rd16(a + 6) != 1 && rd16(a + 6) != 2))
		return drop(n, res, TCP_NET_C_arp_malformed);
	int request = rd16(a + 6) == 1;
	const uint8_t *sha = a + 8;
	uint32_t spa = rd32(a + 14);
	int for_us = rd32(a + 24) == n->ifc.ip;

	if (!mac_unicast(sha))
		return drop(n, res, TCP_NET_C_arp_bad_sender);
	if (spa == n->ifc.ip)
		return drop(n, res, TCP_NET_C_arp_our_ip);
	if (spa == 0) { /* RFC 5227 probe: answer, learn nothing */
		if (request && for_us)
			return arp_reply(n, a, res);
		return drop(n, res, TCP_NET_C_arp_not_for_us);
	}
	if (bad_peer(n, spa) || !on_link(n, spa))
		return drop(n, res, TCP_NET_C_arp_bad_sender);

	int learned = 0;
	uint32_t i = lookup(n, spa);
	if (i == NONE && request && for_us) {
		i = alloc_entry(n, spa, 0);
		if (i == NONE)
			count(n, TCP_NET_C_arp_not_learned);
	}
	if (i != NONE) {
		resolve(n, i, sha, now, res);
		learned = 1;
	}
	if (request && for_us)
		return arp_reply(n, a, res);
	if (learned) {
		count(n, TCP_NET_C_arp_learned);
		return TCP_NET_CONSUMED;
	}
	return drop(n, res, for_us ? TCP_NET_C_arp_unsolicited : TCP_NET_C_arp_not_for_us);
}

static void ip_header(struct tcp_net *n, uint8_t *p, uint8_t proto, uint32_t dst,
		      uint32_t l4_len, int df)
{
	p[0] = 0x45;
	p[1] = 0;
	wr16(p + 2, IP_HLEN + l4_len);
	wr16(p + 4, n->ip_id++);
	wr16(p + 6, df ? 0x4000 : 0);
	p[8] = 64;
	p[9] = proto;
	wr16(p + 10, 0);
	wr32(p + 12, n->ifc.ip);
	wr32(p + 16, dst);
	wr16(p + 10, inet_cksum(p, IP_HLEN));
}

static enum tcp_net_verdict icmp_input(struct tcp_net *n, const uint8_t *f, const uint8_t *icmp,
				       uint32_t len, uint32_t src, int bcast,
				       struct tcp_net_result *res)
{
	if (len < 8)
		return drop(n, res, TCP_NET_C_icmp_short);
	if (inet_cksum(icmp, len) != 0)
		return drop(n, res, TCP_NET_C_icmp_cksum);
	if (icmp[0] != 8)
		return drop(n, res, TCP_NET_C_icmp_type);
	if (bcast) /* smurf amplification */
		return drop(n, res, TCP_NET_C_icmp_bcast);
	if (IP_HLEN + len > n->ifc.mtu) /* we never fragment */
		return drop(n, res, TCP_NET_C_icmp_too_big);
	uint32_t olen = ETH_HLEN + IP_HLEN + len;
	if (!res->out || res->out_cap < olen)
		return drop(n, res, TCP_NET_C_no_out_buffer);

	uint8_t *o = res->out;
	memcpy(o, f + 6, 6);
	memcpy(o + 6, n->ifc.mac, 6);
	wr16(o + 12, ETYPE_IP);
	ip_header(n, o + ETH_HLEN, PROTO_ICMP, src, len, 0);
	uint8_t *r = o + ETH_HLEN + IP_HLEN;
	memcpy(r, icmp, len); /* id, sequence and data echoed */
	r[0] = 0;
	r[1] = 0;
	wr16(r + 2, 0);
	wr16(r + 2, inet_cksum(r, len));
	res->out_len = olen;
	count(n, TCP_NET_C_icmp_echo);
	return TCP_NET_CONSUMED;
}

static enum tcp_net_verdict ip_input(struct tcp_net *n, const uint8_t *f, uint32_t len,
				     struct tcp_net_result *res)
{
	const uint8_t *ip = f + ETH_HLEN;
	uint32_t avail = len - ETH_HLEN;
	if (avail < IP_HLEN)
		return drop(n, res, TCP_NET_C_ip_short);
	if (ip[0] >> 4 != 4)
		return drop(n, res, TCP_NET_C_ip_version);
	uint32_t ihl = (ip[0] & 0x0fu) * 4;
	if (ihl < IP_HLEN)
		return drop(n, res, TCP_NET_C_ip_ihl);
	if (ihl > avail)
		return drop(n, res, TCP_NET_C_ip_short);
	uint32_t tot = rd16(ip + 2);
	if (tot < ihl || tot > avail) /* less is Ethernet padding */
		return drop(n, res, TCP_NET_C_ip_len);
	if (inet_cksum(ip, ihl) != 0)
		return drop(n, res, TCP_NET_C_ip_cksum);
	uint32_t src = rd32(ip + 12), dst = rd32(ip + 16);
	int bcast = is_bcast(n, dst);
	if (dst != n->ifc.ip && !bcast)
		return drop(n, res, TCP_NET_C_ip_not_for_us);
	if (rd16(ip + 6) & 0x3fff)
		return drop(n, res, TCP_NET_C_fragment);
	if (bad_peer(n, src))
		return drop(n, res, TCP_NET_C_ip_bad_src);

	const uint8_t *l4 = ip + ihl;
	uint32_t l4_len = tot - ihl;
	switch (ip[9]) {
	case PROTO_ICMP:
		return icmp_input(n, f, l4, l4_len, src, bcast, res);
	case PROTO_TCP:
		if (bcast)
			return drop(n, res, TCP_NET_C_tcp_bcast);
		if (l4_len < 20)
			return drop(n, res, TCP_NET_C_tcp_short);
		count(n, TCP_NET_C_tcp);
		break;
	case PROTO_UDP:
		if (l4_len < 8)
			return drop(n, res, TCP_NET_C_udp_short);
		if (rd16(l4 + 4) < 8 || rd16(l4 + 4) > l4_len)
			return drop(n, res, TCP_NET_C_udp_len);
		l4_len = rd16(l4 + 4);
		count(n, TCP_NET_C_udp);
		break;
	default:
		return drop(n, res, TCP_NET_C_ip_proto);
	}
	res->proto = ip[9];
	res->bcast = (uint8_t)bcast;
	res->tos = ip[1];
	res->src = src;
	res->dst = dst;
	res->l4_off = ETH_HLEN + ihl;
	res->l4_len = l4_len;
	return TCP_NET_L4;
}

enum tcp_net_verdict tcp_net_input(struct tcp_net *n, const uint8_t *f, uint32_t len,
				   uint64_t now, struct tcp_net_result *res)
{
	uint8_t *out = res->out;
	uint32_t out_cap = res->out_cap;
	memset(res, 0, sizeof(*res));
	res->out = out;
	res->out_cap = out_cap;
	res->resolved = NONE;

	count(n, TCP_NET_C_rx_frames);
	if (len < ETH_HLEN)
		return drop(n, res, TCP_NET_C_eth_short);
	if (memcmp(f, n->ifc.mac, 6) != 0 && memcmp(f, bcast_mac, 6) != 0)
		return drop(n, res, TCP_NET_C_eth_other_host);
	if (f[6] & 1)
		return drop(n, res, TCP_NET_C_eth_bad_src);
	switch (rd16(f + 12)) {
	case ETYPE_ARP:
		return arp_input(n, f, len, now, res);
	case ETYPE_IP:
		return ip_input(n, f, len, res);
	}
	return drop(n, res, TCP_NET_C_ethertype);
}

/* ---- output ---- */

int tcp_net_output(struct tcp_net *n, uint32_t dst, uint8_t proto, uint32_t l4_len,
		   uint64_t now, uint8_t *buf, uint32_t cap, struct tcp_net_arp *arp)
{
	arp->entry = NONE;
	arp->ip = 0;
	arp->pending = 0;
	arp->len = 0;
	if (cap < TCP_NET_HDR_LEN)
		return -ENOSPC;
	if (l4_len > (uint32_t)n->ifc.mtu - IP_HLEN) {
		count(n, TCP_NET_C_too_big);
		return -EMSGSIZE;
	}
	const uint8_t *mac = bcast_mac;
	if (!is_bcast(n, dst)) {
		if (bad_peer(n, dst)) {
			count(n, TCP_NET_C_no_route);
			return -ENETUNREACH;
		}
		uint32_t hop = ((dst ^ n->ifc.ip) & n->ifc.mask) == 0 ? dst : n->ifc.gw;
		if (hop == 0) {
			count(n, TCP_NET_C_no_route);
			return -ENETUNREACH;
		}
		uint32_t i = lookup(n, hop);
		if (i == NONE) {
			i = alloc_entry(n, hop, 1);
			if (i == NONE) {
				count(n, TCP_NET_C_arp_cache_full);
				return -ENOBUFS;
			}
			struct tcp_arp_ent *e = &n->ent[i];
			e->state = ENT_INCOMPLETE;
			e->tries = 1;
			set_deadline(n, e, now + n->retry);
			send_request(n, i, arp);
		}
		struct tcp_arp_ent *e = &n->ent[i];
		if (e->state == ENT_INCOMPLETE) {
			arp->entry = i;
			arp->ip = hop;
			if (e->pending >= n->pending_max) {
				count(n, TCP_NET_C_arp_pending_full);
				return -ENOBUFS;
			}
			e->pending++;
			return -EAGAIN;
		}
		e->used = 1;
		mac = e->mac;
	}
	memcpy(buf, mac, 6);
	memcpy(buf + 6, n->ifc.mac, 6);
	wr16(buf + 12, ETYPE_IP);
	/* DF: TCP sizes segments to the MTU; RFC 6864 lets the ID just count. */
	ip_header(n, buf + ETH_HLEN, proto, dst, l4_len, 1);
	count(n, TCP_NET_C_tx_ip);
	return TCP_NET_HDR_LEN;
}

enum tcp_net_tick tcp_net_timer(struct tcp_net *n, uint64_t now, struct tcp_net_arp *arp)
{
	arp->entry = NONE;
	arp->ip = 0;
	arp->pending = 0;
	arp->len = 0;
	/* A pass resumed at a later now may have passed entries now due: go again.
	 * It ends, as every entry handled gets a deadline after now. */
	for (;;) {
		if (n->scan == 0 && now < n->next_due)
			return TCP_NET_IDLE;
		while (n->scan < n->cap) {
			uint32_t i = n->scan++;
			struct tcp_arp_ent *e = &n->ent[i];
			if (e->state == ENT_FREE)
				continue;
			if (now < e->deadline) {
				if (e->deadline < n->scan_min)
					n->scan_min = e->deadline;
				continue;
			}
			if (e->state == ENT_RESOLVED) {
				if (!e->used) {
					free_entry(n, i);
					count(n, TCP_NET_C_arp_expired);
					continue;
				}
				e->state = ENT_REFRESH;
				e->tries = 0;
			}
			if (e->tries < n->tries) {
				e->tries++;
				set_deadline(n, e, now + n->retry);
				send_request(n, i, arp);
				return TCP_NET_SEND_ARP;
			}
			if (e->state == ENT_REFRESH) {
				free_entry(n, i);
				count(n, TCP_NET_C_arp_expired);
				continue;
			}
			arp->entry = i;
			arp->ip = e->ip;
			arp->pending = e->pending;
			n->ctr[TCP_NET_C_arp_unresolved] += e->pending;
			count(n, TCP_NET_C_arp_gave_up);
			free_entry(n, i);
			return TCP_NET_GAVE_UP;
		}
		n->scan = 0;
		n->next_due = n->scan_min;
		n->scan_min = UINT64_MAX;
	}
}

uint64_t tcp_net_next_timer(const struct tcp_net *n)
{
	return n->scan ? 0 : n->next_due; /* a pass left unfinished: call again now */
}

int tcp_net_garp(struct tcp_net *n, uint8_t *buf, uint32_t cap)
{
	if (cap < TCP_NET_ARP_LEN)
		return -ENOSPC;
	build_arp(n, buf, 1, bcast_mac, NULL, n->ifc.ip);
	count(n, TCP_NET_C_arp_requests);
	return TCP_NET_ARP_LEN;
}

uint32_t tcp_net_entry_ip(const struct tcp_net *n, uint32_t entry)
{
	if (entry >= n->cap || n->ent[entry].state == ENT_FREE)
		return 0;
	return n->ent[entry].ip;
}

int tcp_net_arp_lookup(const struct tcp_net *n, uint32_t ip, uint8_t mac[6])
{
	uint32_t i = lookup(n, ip);
	if (i == NONE)
		return -ENOENT;
	if (n->ent[i].state == ENT_INCOMPLETE)
		return -EAGAIN;
	memcpy(mac, n->ent[i].mac, 6);
	return 0;
}

/* ---- life cycle, counters ---- */

struct tcp_net *tcp_net_create(const struct tcp_if *ifc, const struct tcp_arp_cfg *arp)
{
	struct tcp_net *n = NULL;
	uint32_t hostmask = ~ifc->mask;

	if (!mac_unicast(ifc->mac) || ifc->mtu < 68 || ifc->mtu > 9216 || ifc->ip == 0 ||
	    (hostmask & (hostmask + 1)) != 0 || arp->capacity == 0 ||
	    arp->capacity > 1u << 20 || arp->tries > 255) {
		errno = EINVAL;
		return NULL;
	}
	n = calloc(1, sizeof(*n));
	if (!n)
		goto fail;
	n->ifc = *ifc;
	n->dbcast = hostmask > 1 ? ifc->ip | hostmask : 0;
	n->cap = arp->capacity;
	n->pending_max = arp->pending_max ? arp->pending_max : 8;
	n->tries = arp->tries ? arp->tries : 3;
	n->ttl = arp->ttl_ns ? arp->ttl_ns : 60000000000ull;
	n->retry = arp->retry_ns ? arp->retry_ns : 1000000000ull;
	n->next_due = n->scan_min = UINT64_MAX;
	if (ifc->ip >= 0xe0000000u || (ifc->ip >> 24) == 127 || ifc->ip == n->dbcast ||
	    (ifc->gw && bad_peer(n, ifc->gw))) {
		tcp_net_free(n);
		errno = EINVAL;
		return NULL;
	}

	uint32_t bits = 1;
	while ((1u << bits) < n->cap)
		bits++;
	n->shift = 32 - bits;
	n->bucket = malloc(sizeof(*n->bucket) << bits);
	n->ent = calloc(n->cap, sizeof(*n->ent));
	if (!n->bucket || !n->ent)
		goto fail;
	memset(n->bucket, 0xff, sizeof(*n->bucket) << bits);
	for (uint32_t i = 0; i < n->cap; i++)
		n->ent[i].next = i + 1 < n->cap ? i + 1 : NONE;
	n->free_head = 0;
	return n;
fail:
	tcp_net_free(n);
	errno = ENOMEM;
	return NULL;
}

void tcp_net_free(struct tcp_net *n)
{
	if (!n)
		return;
	free(n->bucket);
	free(n->ent);
	free(n);
}

const struct tcp_if *tcp_net_if(const struct tcp_net *n) { return &n->ifc; }
const uint64_t *tcp_net_counters(const struct tcp_net *n) { return n->ctr; }

#define X_NAME(kind, name, desc) #name,
#define X_DESC(kind, name, desc) desc,
#define X_KIND(kind, name, desc) TCP_NET_K_##kind,
static const char *const ctr_name[] = {TCP_NET_COUNTERS(X_NAME)};
static const char *const ctr_desc[] = {TCP_NET_COUNTERS(X_DESC)};
static const uint8_t ctr_kind[] = {TCP_NET_COUNTERS(X_KIND)};

const char *tcp_net_counter_name(unsigned c) { return c < TCP_NET_C_MAX ? ctr_name[c] : NULL; }
const char *tcp_net_counter_desc(unsigned c) { return c < TCP_NET_C_MAX ? ctr_desc[c] : NULL; }
int tcp_net_counter_kind(unsigned c) { return c < TCP_NET_C_MAX ? ctr_kind[c] : -1; }
