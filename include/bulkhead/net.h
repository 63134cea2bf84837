/* SPDX-License-Identifier: MIT */
/*
 * Packet-header helpers shared by the manager and packet NFs: pure functions,
 * no DPDK state, safe from any thread.
 */
#ifndef BULKHEAD_NET_H
#define BULKHEAD_NET_H

#include <stdint.h>

/* A flow's 5-tuple, host byte order. proto 0 with ports 0 for non-IPv4. */
struct bh_flow_key {
	uint32_t src_ip, dst_ip;
	uint16_t src_port, dst_port;
	uint8_t proto;
	uint8_t pad[3];
};

/*
 * Read the 5-tuple of an Ethernet frame (optionally one 802.1Q tag). Ports are
 * read for TCP and UDP first fragments only. Never reads past len.
 * Returns 0 for IPv4, -EPROTONOSUPPORT for other ethertypes (key zeroed),
 * -EBADMSG for a truncated or malformed IPv4 header.
 */
int bh_flow_parse(const void *frame, uint32_t len, struct bh_flow_key *key);

/* Hash equal for both directions of a flow. */
uint32_t bh_flow_hash_sym(const struct bh_flow_key *k);

/* "198.18.0.0/15", "198.18.0.1" (= /32) or "any" (= /0). 0 or -EINVAL. */
int bh_parse_prefix(const char *s, uint32_t *addr, uint8_t *len);
/* "80", "1000-2000" or "any". 0 or -EINVAL. */
int bh_parse_port_range(const char *s, uint16_t *lo, uint16_t *hi);
/* "tcp", "udp", "icmp", "any" (0) or a number 0..255. 0 or -EINVAL. */
int bh_parse_proto(const char *s, uint8_t *proto);

static inline uint32_t bh_prefix_mask(uint8_t len)
{
	return len == 0 ? 0 : ~0u << (32 - len);
}
static inline int bh_prefix_match(uint32_t ip, uint32_t net, uint8_t len)
{
	return ((ip ^ net) & bh_prefix_mask(len)) == 0;
}

#endif
