/* SPDX-License-Identifier: MIT */
/*
 * Flow director: which chain a packet entering the platform follows.
 * Exact 5-tuple rules (an rte_hash) are consulted first, then wildcard rules in
 * configuration order (first match wins), then the default chain.
 * Lookups come from the manager's data-plane thread only; rules are installed
 * before it starts.
 */
#ifndef MGR_FLOW_H
#define MGR_FLOW_H

#include <stdint.h>

#include "bulkhead/net.h"
#include "mgr/config.h"

struct mgr_flowdir;

/* NULL on failure (errno-style reason in rte_errno). max_exact: exact-rule capacity. */
struct mgr_flowdir *mgr_flowdir_create(const char *name, unsigned max_exact, unsigned max_wild);
void mgr_flowdir_free(struct mgr_flowdir *fd);

/* A rule is exact when it names one flow: /32 both ways, one port each way, tcp or
 * udp, any input port. Returns 0, -ENOSPC when full, -EEXIST for a duplicate exact rule. */
int mgr_flowdir_add(struct mgr_flowdir *fd, const struct mgr_rule_conf *r);
void mgr_flowdir_set_default(struct mgr_flowdir *fd, uint16_t chain);

/* The chain for this packet, or BH_NONE. */
uint16_t mgr_flowdir_lookup(struct mgr_flowdir *fd, const struct bh_flow_key *k, uint16_t in_port);

/* Carry hit counters over: new rule i had index from[i] in old (-1: none; from NULL: none). */
void mgr_flowdir_copy_hits(struct mgr_flowdir *fd, const struct mgr_flowdir *old, const int *from);

/* Hits per rule, in the order added (exact and wildcard together); n = rules added. */
const uint64_t *mgr_flowdir_hits(const struct mgr_flowdir *fd, unsigned *n, uint64_t *default_hits);

#endif
