/* SPDX-License-Identifier: MIT */
/*
 * The link and network layers under the TCP stack: Ethernet, ARP, IPv4 and
 * ICMP echo, for one stack instance (one core).
 *
 * Pure code on byte buffers: no DPDK, no sockets, no clock reads, no globals.
 * The caller passes the time (now, in ns of any monotonic clock) and owns every
 * buffer; nothing here keeps a pointer to a frame after a call returns.
 *
 * Threads: a struct tcp_net belongs to the thread that created it; every call
 * on it comes from that thread. Addresses are IPv4 in host byte order; MACs and
 * frames are in wire order.
 *
 * The ARP cache does not hold packets. A packet whose next hop is unresolved
 * stays with the caller, queued under the neighbor's entry index; this layer
 * only counts how many wait (at most pending_max per entry) and tells the
 * caller when that entry resolved (send them: call tcp_net_output again) or was
 * given up (drop them; already counted).
 */
#ifndef BULKHEAD_TCP_NET_H
#define BULKHEAD_TCP_NET_H

#include <stdint.h>

#define TCP_NET_HDR_LEN 34  /* Ethernet + IPv4 without options */
#define TCP_NET_ARP_LEN 60  /* an ARP frame, padded to the Ethernet minimum */
#define TCP_NET_NO_ENTRY UINT32_MAX

/* The interface a stack instance owns. */
struct tcp_if {
	uint8_t mac[6];    /* unicast, not zero */
	uint16_t mtu;      /* largest IPv4 packet, header included: 68 .. 9216 */
	uint32_t ip, mask; /* our address; mask contiguous (/0 .. /32) */
	uint32_t gw;       /* next hop for destinations off the subnet; 0 = none */
};

/* ARP cache tuning; 0 in a field selects the default in brackets. */
struct tcp_arp_cfg {
	uint32_t capacity;    /* neighbor entries, 1 .. 1 << 20 (required) */
	uint32_t pending_max; /* packets that may wait on one unresolved neighbor [8] */
	uint32_t tries;       /* requests sent before giving up, 1 .. 255 [3] */
	uint64_t ttl_ns;      /* how long a reply is trusted [60 s] */
	uint64_t retry_ns;    /* time between requests [1 s] */
};

/*
 * Every counter of this layer, X(kind, name, description): one list that the
 * stats printer, /metrics and the tests read. Kinds:
 *   IN      a received frame that was used;
 *   DROP    a received frame that was dropped (res->drop names it);
 *   TXDROP  a packet the caller wanted to send that was dropped;
 *   EVENT   anything else.
 * Each call to tcp_net_input adds exactly one to one IN or DROP counter, so
 * rx_frames == sum(IN) + sum(DROP).
 */
#define TCP_NET_COUNTERS(X)                                                         \
	X(IN, arp_replied, "ARP request for our address: answered")                \
	X(IN, arp_learned, "ARP from a neighbor we know or asked for: cache updated") \
	X(IN, icmp_echo, "ICMP echo request: answered")                            \
	X(IN, tcp, "TCP segment handed to the caller")                             \
	X(IN, udp, "UDP datagram handed to the caller")                            \
	X(DROP, eth_short, "frame shorter than an Ethernet header")                \
	X(DROP, eth_other_host, "destination MAC neither ours nor broadcast")      \
	X(DROP, eth_bad_src, "source MAC is multicast or broadcast")               \
	X(DROP, ethertype, "neither IPv4 nor ARP (VLAN tags included)")            \
	X(DROP, arp_malformed, "ARP truncated, not Ethernet/IPv4, or unknown opcode") \
	X(DROP, arp_bad_sender, "ARP sender MAC not unicast, or sender IP not a neighbor's") \
	X(DROP, arp_our_ip, "ARP sender claims our IP: our own echoed, or a conflict") \
	X(DROP, arp_not_for_us, "ARP for another address, from a neighbor we do not know") \
	X(DROP, arp_unsolicited, "ARP reply to us from a neighbor we did not ask")   \
	X(DROP, ip_short, "IPv4 shorter than 20 bytes or than its IHL")            \
	X(DROP, ip_version, "IP version is not 4")                                 \
	X(DROP, ip_ihl, "IPv4 IHL below 5")                                        \
	X(DROP, ip_len, "IPv4 total length below the IHL or past the frame")       \
	X(DROP, ip_cksum, "IPv4 header checksum wrong")                            \
	X(DROP, ip_not_for_us, "IPv4 destination neither our address nor broadcast") \
	X(DROP, ip_bad_src, "IPv4 source is ours, zero, broadcast, multicast or loopback") \
	X(DROP, fragment, "IPv4 fragment (MF or offset set): we do not reassemble") \
	X(DROP, ip_proto, "IPv4 protocol other than ICMP, TCP, UDP")               \
	X(DROP, icmp_short, "ICMP shorter than 8 bytes")                           \
	X(DROP, icmp_cksum, "ICMP checksum wrong")                                 \
	X(DROP, icmp_type, "ICMP other than echo request")                         \
	X(DROP, icmp_bcast, "ICMP echo request to a broadcast address: not answered") \
	X(DROP, icmp_too_big, "ICMP echo reply would exceed the MTU")              \
	X(DROP, no_out_buffer, "a reply was due but res->out was missing or too small") \
	X(DROP, tcp_short, "TCP shorter than 20 bytes")                            \
	X(DROP, tcp_bcast, "TCP to a broadcast address (RFC 1122 4.2.3.10)")       \
	X(DROP, udp_short, "UDP shorter than 8 bytes")                             \
	X(DROP, udp_len, "UDP length field below 8 or past the IPv4 payload")      \
	X(TXDROP, no_route, "destination not unicast, or off the subnet with no gateway") \
	X(TXDROP, too_big, "packet longer than the MTU")                           \
	X(TXDROP, arp_cache_full, "no entry for a new neighbor: all are awaiting replies") \
	X(TXDROP, arp_pending_full, "pending_max packets already wait for this neighbor") \
	X(TXDROP, arp_unresolved, "packets that waited for a neighbor that never answered") \
	X(EVENT, rx_frames, "frames passed to tcp_net_input")                       \
	X(EVENT, tx_ip, "IPv4 headers built for a resolved next hop")              \
	X(EVENT, arp_requests, "ARP requests built: first tries, retries, refreshes, announcements") \
	X(EVENT, arp_resolved, "neighbors resolved while packets could wait on them") \
	X(EVENT, arp_gave_up, "neighbors given up after the last try")            \
	X(EVENT, arp_expired, "entries removed at expiry (unused, or refresh unanswered)") \
	X(EVENT, arp_evicted, "resolved entries evicted to make room")            \
	X(EVENT, arp_not_learned, "requester not learned: cache full")

enum tcp_net_kind { TCP_NET_K_IN, TCP_NET_K_DROP, TCP_NET_K_TXDROP, TCP_NET_K_EVENT };

#define TCP_NET_X_ENUM(kind, name, desc) TCP_NET_C_##name,
enum tcp_net_ctr { TCP_NET_COUNTERS(TCP_NET_X_ENUM) TCP_NET_C_MAX };
#undef TCP_NET_X_ENUM

/* What the caller does with a received frame. */
enum tcp_net_verdict {
	TCP_NET_CONSUMED, /* used here; if res->out_len, transmit res->out */
	TCP_NET_DROPPED,  /* res->drop names the counter (already counted) */
	TCP_NET_L4,       /* TCP or UDP for the caller: see res */
};

struct tcp_net_result {
	/* Set by the caller: where replies (ARP, ICMP echo) are built. */
	uint8_t *out;
	uint32_t out_cap;
	/* Set by tcp_net_input. */
	uint32_t out_len;          /* > 0: transmit out[0 .. out_len) */
	uint16_t drop;             /* DROPPED: enum tcp_net_ctr */
	uint8_t proto;             /* L4: 6 or 17 */
	uint8_t bcast;             /* L4: sent to a broadcast address (UDP only) */
	uint8_t tos;               /* L4: the IPv4 TOS byte (ECN in the low 2 bits) */
	uint32_t src, dst;         /* L4: IPv4 addresses */
	uint32_t l4_off, l4_len;   /* L4: header + payload inside the frame */
	uint32_t resolved;         /* any verdict: entry that became resolved, or NO_ENTRY */
	uint32_t resolved_pending; /* packets the caller queued on it: send them now */
};

/* An ARP frame to send, and the neighbor entry it concerns. */
struct tcp_net_arp {
	uint32_t entry;   /* index in the cache (< capacity), or NO_ENTRY */
	uint32_t ip;      /* the neighbor's address */
	uint32_t pending; /* GAVE_UP: packets the caller queued on entry: drop them */
	uint16_t len;     /* 0: nothing to send; else frame[0 .. len) */
	uint8_t frame[TCP_NET_ARP_LEN];
};

/*
 * A stack instance's network layer. Copies both configs. Returns NULL on bad
 * configuration or no memory (errno EINVAL or ENOMEM). Free with tcp_net_free.
 */
struct tcp_net *tcp_net_create(const struct tcp_if *ifc, const struct tcp_arp_cfg *arp);
void tcp_net_free(struct tcp_net *n);
const struct tcp_if *tcp_net_if(const struct tcp_net *n);

/*
 * Classify one received Ethernet frame of len bytes; never reads past len and
 * never writes past res->out_cap. The caller keeps the frame; for TCP_NET_L4,
 * frame[l4_off .. l4_off + l4_len) is the segment, its checksum NOT verified
 * (the TCP/UDP layer does that, or trusts the NIC). l4_len excludes Ethernet
 * padding; a UDP datagram is trimmed to its length field.
 * Fields of res other than out and out_cap are overwritten.
 */
enum tcp_net_verdict tcp_net_input(struct tcp_net *n, const uint8_t *frame, uint32_t len,
				   uint64_t now, struct tcp_net_result *res);

/*
 * Write the Ethernet and IPv4 headers (TCP_NET_HDR_LEN bytes: TTL 64, DF set,
 * header checksum done) for an l4_len-byte payload of protocol proto to dst.
 * The payload's own checksum is the caller's. Broadcast destinations need no
 * ARP. arp->len is 0 unless a request must go out.
 * Returns:
 *   TCP_NET_HDR_LEN  buf holds the headers;
 *   -EAGAIN      the next hop is being resolved: queue the packet under
 *                arp->entry and send arp->frame if arp->len (no headers written);
 *   -ENOBUFS     arp_pending_full or arp_cache_full (counted): drop it;
 *   -ENETUNREACH no_route (counted); -EMSGSIZE too_big (counted);
 *   -ENOSPC      cap < TCP_NET_HDR_LEN (a caller bug; not counted).
 */
int tcp_net_output(struct tcp_net *n, uint32_t dst, uint8_t proto, uint32_t l4_len,
		   uint64_t now, uint8_t *buf, uint32_t cap, struct tcp_net_arp *arp);

enum tcp_net_tick {
	TCP_NET_IDLE,     /* nothing more due now */
	TCP_NET_SEND_ARP, /* send arp->frame (a retry or a refresh), then call again */
	TCP_NET_GAVE_UP,  /* drop the arp->pending packets queued on arp->entry; call again */
};

/*
 * ARP timers: retries every retry_ns, giving up after `tries` requests; expiry
 * after ttl_ns (an entry used since its last reply is refreshed first: the
 * packets keep flowing to the old MAC while up to `tries` unicast requests go
 * out). Call until it returns TCP_NET_IDLE, every few ms or less; an idle call
 * costs one comparison.
 */
enum tcp_net_tick tcp_net_timer(struct tcp_net *n, uint64_t now, struct tcp_net_arp *arp);

/* No ARP timer is due before this time (a lower bound; UINT64_MAX: none).
 * O(1): for sleeping until the next call of tcp_net_timer is needed. */
uint64_t tcp_net_next_timer(const struct tcp_net *n);

/*
 * The gratuitous ARP announcement (RFC 5227: request, sender = target = our IP)
 * to send when the interface starts. Returns TCP_NET_ARP_LEN, or -ENOSPC.
 */
int tcp_net_garp(struct tcp_net *n, uint8_t *buf, uint32_t cap);

/*
 * The neighbor's MAC if known: 0 (mac filled), -EAGAIN (being resolved) or
 * -ENOENT. Changes nothing.
 */
int tcp_net_arp_lookup(const struct tcp_net *n, uint32_t ip, uint8_t mac[6]);
/* The neighbor address of a cache entry (as in tcp_net_result.resolved), or 0. */
uint32_t tcp_net_entry_ip(const struct tcp_net *n, uint32_t entry);

/* TCP_NET_C_MAX counters indexed by enum tcp_net_ctr; valid while n lives. */
const uint64_t *tcp_net_counters(const struct tcp_net *n);
/* For c < TCP_NET_C_MAX; NULL or -1 otherwise. */
const char *tcp_net_counter_name(unsigned c);
const char *tcp_net_counter_desc(unsigned c);
int tcp_net_counter_kind(unsigned c);

#endif
