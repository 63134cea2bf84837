/* SPDX-License-Identifier: MIT */
/*
 * monitor core: per-flow packet and byte counts since start, and a top-N
 * report. Pure code (no DPDK), so the unit test drives it with crafted frames.
 *
 * A flow is a directed IPv4 5-tuple. The table holds at most `cap` flows and
 * never forgets one; once full, packets of new flows are counted as
 * `untracked`. Frames without an IPv4 5-tuple (ARP, malformed IPv4) are counted
 * as `nonip`. Totals (pkts, bytes) count every frame.
 *
 * Threads: one thread owns a struct mon.
 */
#ifndef MON_CORE_H
#define MON_CORE_H

#include <stdint.h>
#include <stdio.h>

#include "bulkhead/net.h"

#define MON_MAX_FLOWS (1u << 24)

struct mon_flow {
	struct bh_flow_key key;
	uint64_t pkts, bytes;
};

struct mon {
	struct mon_flow *flow; /* [cap]: flow[0..n) in use, in arrival order */
	uint32_t *index;       /* [mask + 1] open addressing: flow index + 1, 0 empty */
	uint32_t mask, cap, n;
	uint64_t seed;         /* random per process, so collisions can't be planned */
	uint64_t untracked, nonip, pkts, bytes;
};

/* Room for cap flows (1..MON_MAX_FLOWS). 0, -EINVAL or -ENOMEM. */
int mon_init(struct mon *m, uint32_t cap, uint64_t seed);
void mon_fini(struct mon *m);

/*
 * Account one frame: len bytes readable at frame (the headers), pkt_len its
 * full length (what bytes counts).
 */
void mon_count(struct mon *m, const void *frame, uint32_t len, uint32_t pkt_len);

/* The tracked flow with this key, or NULL. */
const struct mon_flow *mon_lookup(const struct mon *m, const struct bh_flow_key *k);

/*
 * Copy the up to n flows with the most bytes into out[], most first (ties: more
 * packets first, then the lower key). Returns how many were copied.
 */
unsigned mon_top(const struct mon *m, struct mon_flow *out, unsigned n);

/* Write every tracked flow, one a line: "<flow> <pkts> <bytes>". 0 or -EIO. */
int mon_dump(const struct mon *m, FILE *out);

/* "tcp 198.18.0.1:40000 -> 198.18.1.1:5001" (no ports unless TCP/UDP); snprintf's result. */
int mon_flow_str(const struct bh_flow_key *k, char *buf, size_t len);

/*
 * Print a summary line and the top n flows (scratch: room for n) to out:
 *   monitor: 3 flows, 120 pkts, 98000 bytes, 0 untracked, 2 nonip
 *     1. tcp 198.18.0.1:40000 -> 198.18.1.1:5001 100 pkts 90000 bytes
 */
void mon_report(const struct mon *m, FILE *out, struct mon_flow *scratch, unsigned n);

#endif
