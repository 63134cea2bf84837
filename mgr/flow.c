/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_jhash.h>

#include "bulkhead/shm.h"
#include "mgr/flow.h"

struct fd_wild {
	struct mgr_rule_conf r;
	unsigned index; /* position among all rules, for hits */
};

struct mgr_flowdir {
	struct rte_hash *exact;
	uint16_t *exact_chain; /* by hash position */
	unsigned *exact_index; /* by hash position: rule index for hits */
	struct fd_wild *wild;
	unsigned n_wild, max_wild, n_rules;
	uint64_t *hits; /* [max_exact + max_wild] */
	uint64_t default_hits;
	uint16_t default_chain;
};

struct mgr_flowdir *mgr_flowdir_create(const char *name, unsigned max_exact, unsigned max_wild)
{
	struct mgr_flowdir *fd = calloc(1, sizeof(*fd));
	if (!fd)
		return NULL;
	if (max_exact < 8)
		max_exact = 8; /* rte_hash's minimum */
	struct rte_hash_parameters p = {
		.name = name,
		.entries = max_exact,
		.key_len = sizeof(struct bh_flow_key),
		.hash_func = rte_jhash,
		.socket_id = SOCKET_ID_ANY,
	};
	fd->exact = rte_hash_create(&p);
	/* Positions returned by rte_hash run up to its max key id, which may
	 * exceed the requested capacity. */
	int32_t slots = fd->exact ? rte_hash_max_key_id(fd->exact) + 1 : 1;
	fd->exact_chain = calloc((size_t)slots, sizeof(*fd->exact_chain));
	fd->exact_index = calloc((size_t)slots, sizeof(*fd->exact_index));
	fd->wild = calloc(max_wild + 1, sizeof(*fd->wild));
	fd->hits = calloc(max_exact + max_wild + 1, sizeof(*fd->hits));
	fd->max_wild = max_wild;
	fd->default_chain = BH_NONE;
	if (!fd->exact || !fd->exact_chain || !fd->exact_index || !fd->wild || !fd->hits) {
		mgr_flowdir_free(fd);
		return NULL;
	}
	return fd;
}

void mgr_flowdir_free(struct mgr_flowdir *fd)
{
	if (!fd)
		return;
	rte_hash_free(fd->exact);
	free(fd->exact_chain);
	free(fd->exact_index);
	free(fd->wild);
	free(fd->hits);
	free(fd);
}

static int fd_is_exact(const struct mgr_rule_conf *r)
{
	return r->in_port == BH_NONE && r->src_len == 32 && r->dst_len == 32 &&
	       (r->proto == 6 || r->proto == 17) && r->sport_lo == r->sport_hi &&
	       r->dport_lo == r->dport_hi;
}

int mgr_flowdir_add(struct mgr_flowdir *fd, const struct mgr_rule_conf *r)
{
	if (fd_is_exact(r)) {
		struct bh_flow_key k = {.src_ip = r->src, .dst_ip = r->dst, .src_port = r->sport_lo,
					.dst_port = r->dport_lo, .proto = r->proto};
		if (rte_hash_lookup(fd->exact, &k) >= 0)
			return -EEXIST;
		int pos = rte_hash_add_key(fd->exact, &k);
		if (pos < 0)
			return pos == -ENOSPC ? -ENOSPC : pos;
		fd->exact_chain[pos] = r->chain;
		fd->exact_index[pos] = fd->n_rules++;
		return 0;
	}
	if (fd->n_wild >= fd->max_wild)
		return -ENOSPC;
	fd->wild[fd->n_wild].r = *r;
	fd->wild[fd->n_wild].index = fd->n_rules++;
	fd->n_wild++;
	return 0;
}

void mgr_flowdir_set_default(struct mgr_flowdir *fd, uint16_t chain) { fd->default_chain = chain; }

static int fd_match(const struct mgr_rule_conf *r, const struct bh_flow_key *k, uint16_t in_port)
{
	if (r->in_port != BH_NONE && r->in_port != in_port)
		return 0;
	if (r->proto && r->proto != k->proto)
		return 0;
	if (r->src_len && !bh_prefix_match(k->src_ip, r->src, r->src_len))
		return 0;
	if (r->dst_len && !bh_prefix_match(k->dst_ip, r->dst, r->dst_len))
		return 0;
	if (k->src_port < r->sport_lo || k->src_port > r->sport_hi)
		return 0;
	if (k->dst_port < r->dport_lo || k->dst_port > r->dport_hi)
		return 0;
	return 1;
}

uint16_t mgr_flowdir_lookup(struct mgr_flowdir *fd, const struct bh_flow_key *k, uint16_t in_port)
{
	if (k->proto == 6 || k->proto == 17) {
		int pos = rte_hash_lookup(fd->exact, k);
		if (pos >= 0) {
			fd->hits[fd->exact_index[pos]]++;
			return fd->exact_chain[pos];
		}
	}
	for (unsigned i = 0; i < fd->n_wild; i++)
		if (fd_match(&fd->wild[i].r, k, in_port)) {
			fd->hits[fd->wild[i].index]++;
			return fd->wild[i].r.chain;
		}
	fd->default_hits++;
	return fd->default_chain;
}

const uint64_t *mgr_flowdir_hits(const struct mgr_flowdir *fd, unsigned *n, uint64_t *default_hits)
{
	*n = fd->n_rules;
	*default_hits = fd->default_hits;
	return fd->hits;
}

void mgr_flowdir_copy_hits(struct mgr_flowdir *fd, const struct mgr_flowdir *old, const int *from)
{
	fd->default_hits = old->default_hits;
	for (unsigned i = 0; from && i < fd->n_rules; i++)
		if (from[i] >= 0 && (unsigned)from[i] < old->n_rules)
			fd->hits[i] = old->hits[from[i]];
}
