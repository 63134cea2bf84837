/* SPDX-License-Identifier: MIT */
/*
 * Live changes to chains and flow rules, without restarting NFs and without
 * losing packets in flight.
 *
 * A chain in use is never edited in place: packets carry its id and their hop
 * index, so a changed chain is a new version in a free chain slot. The flow
 * director is rebuilt with the rules pointing at the new version and swapped in
 * atomically; once the data plane has gone round its loop nobody can classify
 * onto the old version, whose packets still in rings finish on it. The old
 * version is retired and its slot reused only after MGR_RETIRE_NS.
 *
 * All changes hold m->topo_lock; the data plane never takes it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bulkhead/log.h"
#include "mgr/mgr.h"

#define MGR_RETIRE_NS 10000000000ull

static int topo_chain_find(struct mgr *m, const char *name)
{
	for (unsigned i = 0; i < m->st->max_chains; i++)
		if (atomic_load(&m->st->chains[i].in_use) == BH_CHAIN_ACTIVE &&
		    !strcmp(m->st->chains[i].name, name))
			return (int)i;
	return -1;
}

static int topo_port_lookup(void *ctx, const char *name)
{
	struct mgr *m = ctx;
	for (unsigned i = 0; i < m->st->n_ports; i++)
		if (!strcmp(m->st->ports[i].name, name))
			return (int)i;
	return -1;
}

static int topo_chain_lookup(void *ctx, const char *name) { return topo_chain_find(ctx, name); }

/* Wait until the data plane has passed a point where it holds no old pointer. */
static void topo_quiesce(struct mgr *m)
{
	uint64_t seen = atomic_load(&m->st->mgr_epoch), deadline = mgr_now_ns() + 200000000ull;
	while (atomic_load(&m->st->mgr_epoch) == seen && !atomic_load(&m->st->mgr_parked) &&
	       mgr_now_ns() < deadline)
		usleep(50);
}

/*
 * Build a flow director from m->rules and swap it in. hits_from[i]: index of
 * new rule i in the old director (-1: new rule), so counters carry over.
 */
static int topo_flowdir_swap(struct mgr *m, const int *hits_from)
{
	char name[64];
	snprintf(name, sizeof(name), "bh_fd_%d_%u", getpid(), ++m->fd_generation);
	struct mgr_flowdir *fd = mgr_flowdir_create(name, m->cfg.max_flows, m->n_rules + 1);
	if (!fd)
		return -ENOMEM;
	for (unsigned i = 0; i < m->n_rules; i++) {
		int rc = mgr_flowdir_add(fd, &m->rules[i]);
		if (rc < 0) {
			mgr_flowdir_free(fd);
			return rc;
		}
	}
	mgr_flowdir_set_default(fd, m->default_chain);
	struct mgr_flowdir *old = atomic_load(&m->fd);
	if (old)
		mgr_flowdir_copy_hits(fd, old, hits_from);
	atomic_store_explicit(&m->fd, fd, memory_order_release);
	if (old) {
		topo_quiesce(m);
		mgr_flowdir_free(old);
	}
	return 0;
}

/* Swap in a director for the same rules in the same order (a chain or default moved). */
static int topo_flowdir_swap_same(struct mgr *m)
{
	int *same = malloc((m->n_rules + 1) * sizeof(int));
	if (!same)
		return -ENOMEM;
	for (unsigned r = 0; r < m->n_rules; r++)
		same[r] = (int)r;
	int rc = topo_flowdir_swap(m, same);
	free(same);
	return rc;
}

int mgr_topology_init(struct mgr *m)
{
	struct mgr_config *c = &m->cfg;
	m->hop_used = calloc(c->max_hops, 1);
	m->chain_retired = calloc(c->max_chains, sizeof(*m->chain_retired));
	m->rules = calloc(c->n_rules + 1, sizeof(*m->rules));
	if (!m->hop_used || !m->chain_retired || !m->rules)
		return -ENOMEM;
	for (unsigned i = 0; i < c->n_chains; i++)
		for (unsigned h = 0; h < m->st->chains[i].len; h++)
			m->hop_used[m->st->chains[i].first + h] = 1;
	memcpy(m->rules, c->rules, c->n_rules * sizeof(*m->rules));
	m->n_rules = m->cap_rules = c->n_rules;
	m->default_chain = c->default_chain;
	int rc = topo_flowdir_swap(m, NULL);
	if (rc == -EEXIST || rc == -ENOSPC)
		fprintf(stderr, "bulkhead: rules: %s\n",
			rc == -EEXIST ? "duplicate exact rule" : "more exact rules than limits.flows");
	return rc;
}

void mgr_topology_fini(struct mgr *m)
{
	mgr_flowdir_free(atomic_load(&m->fd));
	free(m->hop_used);
	free(m->chain_retired);
	free(m->rules);
}

/* A free run of n hop slots, or -1. */
static int topo_hops_alloc(struct mgr *m, unsigned n)
{
	unsigned run = 0;
	if (n == 0)
		return 0;
	for (unsigned i = 0; i < m->cfg.max_hops; i++) {
		run = m->hop_used[i] ? 0 : run + 1;
		if (run == n) {
			memset(m->hop_used + i + 1 - n, 1, n);
			return (int)(i + 1 - n);
		}
	}
	return -1;
}

/* A chain slot never used, or retired long enough ago; -1 if none. */
static int topo_chain_slot(struct mgr *m)
{
	uint64_t now = mgr_now_ns();
	int oldest = -1;
	for (unsigned i = 0; i < m->st->max_chains; i++) {
		uint32_t u = atomic_load(&m->st->chains[i].in_use);
		if (u == BH_CHAIN_FREE && !m->chain_retired[i])
			return (int)i;
		if (u == BH_CHAIN_RETIRED && now - m->chain_retired[i] > MGR_RETIRE_NS &&
		    (oldest < 0 || m->chain_retired[i] < m->chain_retired[oldest]))
			oldest = (int)i;
	}
	if (oldest >= 0) {
		struct bh_chain *c = &m->st->chains[oldest];
		memset(m->hop_used + c->first, 0, c->len);
		atomic_store(&c->in_use, BH_CHAIN_FREE);
	}
	return oldest;
}

static void topo_retire(struct mgr *m, int id)
{
	atomic_store(&m->st->chains[id].in_use, BH_CHAIN_RETIRED);
	m->chain_retired[id] = mgr_now_ns();
}

int mgr_chain_set(struct mgr *m, const char *name, json_t *body, int create, char *err, size_t errlen)
{
	static const char *const keys[] = {"name", "hops", "out", NULL};
	struct bh_state *st = m->st;
	uint16_t svc[BH_RETA_SIZE];
	int rc = -EINVAL, old, out = BH_NONE;
	const char *k;
	json_t *v, *hops = json_object_get(body, "hops"), *o = json_object_get(body, "out");

	json_object_foreach(body, k, v) {
		int known = 0;
		for (const char *const *p = keys; *p; p++)
			known |= !strcmp(*p, k);
		if (!known) {
			snprintf(err, errlen, "body.%s: unknown field", k);
			return -EINVAL;
		}
	}
	if (!json_is_array(hops) || json_array_size(hops) > BH_RETA_SIZE) {
		snprintf(err, errlen, "body.hops: an array of at most %d service names is required",
			 BH_RETA_SIZE);
		return -EINVAL;
	}
	if (o && !json_is_null(o)) {
		if (!json_is_string(o) || (out = topo_port_lookup(m, json_string_value(o))) < 0) {
			snprintf(err, errlen, "body.out: no port named '%s'",
				 json_is_string(o) ? json_string_value(o) : "(not a string)");
			return -EINVAL;
		}
	}
	if (json_array_size(hops) == 0 && out == BH_NONE) {
		snprintf(err, errlen, "body: a chain needs hops or an output port");
		return -EINVAL;
	}
	pthread_mutex_lock(&m->topo_lock);
	old = topo_chain_find(m, name);
	if (create && old >= 0) {
		snprintf(err, errlen, "chain '%s' exists", name);
		rc = -EEXIST;
		goto out;
	}
	if (!create && old < 0) {
		snprintf(err, errlen, "no chain named '%s'", name);
		rc = -ENOENT;
		goto out;
	}
	size_t i;
	json_array_foreach(hops, i, v) {
		int id = json_is_string(v) ? mgr_service_id(m, json_string_value(v)) : -EINVAL;
		if (id < 0) {
			snprintf(err, errlen, "body.hops[%zu]: %s", i,
				 id == -ENOSPC ? "no room for another service (limits.services)"
					       : "a service name of 1-31 characters [A-Za-z0-9_.-]");
			rc = id == -ENOSPC ? -ENOSPC : -EINVAL;
			goto out;
		}
		svc[i] = (uint16_t)id;
	}
	int slot = topo_chain_slot(m);
	int first = topo_hops_alloc(m, (unsigned)json_array_size(hops));
	if (slot < 0 || first < 0) {
		if (first > 0)
			memset(m->hop_used + first, 0, json_array_size(hops));
		snprintf(err, errlen, "no room for another chain (limits.chains, limits.hops)");
		rc = -ENOSPC;
		goto out;
	}
	struct bh_chain *c = &st->chains[slot];
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->len = (uint16_t)json_array_size(hops);
	c->out_port = (uint16_t)out;
	c->first = (uint32_t)first;
	for (unsigned h = 0; h < c->len; h++)
		st->hops[first + h] = svc[h];
	atomic_store_explicit(&c->in_use, BH_CHAIN_ACTIVE, memory_order_release);
	if (old >= 0) {
		/* Rules and the default chain move to the new version at once. */
		for (unsigned r = 0; r < m->n_rules; r++)
			if (m->rules[r].chain == old)
				m->rules[r].chain = (uint16_t)slot;
		if (m->default_chain == old)
			m->default_chain = (uint16_t)slot;
		rc = topo_flowdir_swap_same(m);
		if (rc < 0) {
			/* The old director stays in force, so the old version must too. */
			for (unsigned r = 0; r < m->n_rules; r++)
				if (m->rules[r].chain == slot)
					m->rules[r].chain = (uint16_t)old;
			if (m->default_chain == slot)
				m->default_chain = (uint16_t)old;
			topo_retire(m, slot);
			snprintf(err, errlen, "cannot rebuild the flow director");
			goto out;
		}
		topo_retire(m, old);
	}
	rc = 0;
	mgr_event("chain", NULL, NULL, "%s chain '%s' (%zu hops)", create ? "created" : "changed", name,
		  json_array_size(hops));
	bh_log(BH_LOG_INFO, "chain '%s' %s: %zu hop(s), id %d", name, create ? "created" : "changed",
	       json_array_size(hops), slot);
out:
	pthread_mutex_unlock(&m->topo_lock);
	return rc;
}

int mgr_chain_delete(struct mgr *m, const char *name, char *err, size_t errlen)
{
	int rc = 0;
	pthread_mutex_lock(&m->topo_lock);
	int id = topo_chain_find(m, name);
	if (id < 0) {
		snprintf(err, errlen, "no chain named '%s'", name);
		rc = -ENOENT;
		goto out;
	}
	for (unsigned r = 0; r < m->n_rules; r++)
		if (m->rules[r].chain == id) {
			snprintf(err, errlen, "chain '%s' is used by rule %u", name, r);
			rc = -EBUSY;
			goto out;
		}
	if (m->default_chain == id) {
		snprintf(err, errlen, "chain '%s' is the default chain", name);
		rc = -EBUSY;
		goto out;
	}
	topo_retire(m, id);
	mgr_event("chain", NULL, NULL, "deleted chain '%s'", name);
out:
	pthread_mutex_unlock(&m->topo_lock);
	return rc;
}

int mgr_rule_insert(struct mgr *m, json_t *body, char *err, size_t errlen)
{
	struct mgr_rule_conf r;
	json_t *idx = json_object_get(body, "index");
	long index = -1;
	int rc;

	if (idx) {
		if (!json_is_integer(idx) || json_integer_value(idx) < 0) {
			snprintf(err, errlen, "body.index: an integer from 0 is required");
			return -EINVAL;
		}
		index = (long)json_integer_value(idx);
		json_object_del(body, "index");
	}
	pthread_mutex_lock(&m->topo_lock);
	rc = mgr_rule_parse(body, "body", topo_port_lookup, topo_chain_lookup, m, &r, err, errlen);
	if (rc)
		goto out;
	if (index < 0 || (unsigned long)index > m->n_rules)
		index = (long)m->n_rules;
	if (m->n_rules == m->cap_rules) {
		unsigned cap = m->cap_rules ? m->cap_rules * 2 : 16;
		struct mgr_rule_conf *nr = realloc(m->rules, (cap + 1) * sizeof(*nr));
		if (!nr) {
			rc = -ENOMEM;
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		m->rules = nr;
		m->cap_rules = cap;
	}
	memmove(&m->rules[index + 1], &m->rules[index], (m->n_rules - (unsigned)index) * sizeof(r));
	m->rules[index] = r;
	m->n_rules++;
	int *from = malloc(m->n_rules * sizeof(int));
	for (unsigned i = 0; from && i < m->n_rules; i++)
		from[i] = i < (unsigned)index ? (int)i : i == (unsigned)index ? -1 : (int)i - 1;
	rc = topo_flowdir_swap(m, from);
	free(from);
	if (rc < 0) { /* undo */
		memmove(&m->rules[index], &m->rules[index + 1], (m->n_rules - 1 - (unsigned)index) * sizeof(r));
		m->n_rules--;
		snprintf(err, errlen, "%s", rc == -EEXIST ? "an exact rule for this flow exists"
				 : rc == -ENOSPC ? "no room for another exact rule (limits.flows)"
						 : "cannot rebuild the flow director");
		goto out;
	}
	mgr_event("rule", NULL, NULL, "rule inserted at %ld", index);
	rc = (int)index;
out:
	pthread_mutex_unlock(&m->topo_lock);
	return rc;
}

int mgr_rule_delete(struct mgr *m, unsigned index, char *err, size_t errlen)
{
	int rc;
	pthread_mutex_lock(&m->topo_lock);
	if (index >= m->n_rules) {
		snprintf(err, errlen, "no rule %u (there are %u)", index, m->n_rules);
		rc = -ENOENT;
		goto out;
	}
	struct mgr_rule_conf gone = m->rules[index];
	memmove(&m->rules[index], &m->rules[index + 1], (m->n_rules - index - 1) * sizeof(gone));
	m->n_rules--;
	int *from = malloc((m->n_rules + 1) * sizeof(int));
	for (unsigned i = 0; from && i < m->n_rules; i++)
		from[i] = i < index ? (int)i : (int)(i + 1);
	rc = topo_flowdir_swap(m, from);
	free(from);
	if (rc < 0) { /* undo: the old director, with the rule, stays in force */
		memmove(&m->rules[index + 1], &m->rules[index], (m->n_rules - index) * sizeof(gone));
		m->rules[index] = gone;
		m->n_rules++;
		snprintf(err, errlen, "cannot rebuild the flow director");
	} else {
		mgr_event("rule", NULL, NULL, "rule %u deleted", index);
	}
out:
	pthread_mutex_unlock(&m->topo_lock);
	return rc;
}

int mgr_default_chain_set(struct mgr *m, const char *name, char *err, size_t errlen)
{
	int rc = 0;
	pthread_mutex_lock(&m->topo_lock);
	int id = name ? topo_chain_find(m, name) : (int)BH_NONE;
	if (id < 0) {
		snprintf(err, errlen, "no chain named '%s'", name);
		rc = -ENOENT;
		goto out;
	}
	uint16_t was = m->default_chain;
	m->default_chain = (uint16_t)id;
	rc = topo_flowdir_swap_same(m);
	if (rc < 0) {
		m->default_chain = was;
		snprintf(err, errlen, "cannot rebuild the flow director");
		goto out;
	}
	mgr_event("rule", NULL, NULL, "default chain %s", name ? name : "none");
out:
	pthread_mutex_unlock(&m->topo_lock);
	return rc;
}

static json_t *topo_prefix(uint32_t a, uint8_t len)
{
	char buf[32];
	if (len == 0)
		return json_string("any");
	snprintf(buf, sizeof(buf), "%u.%u.%u.%u/%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255, len);
	return json_string(buf);
}

static json_t *topo_range(uint16_t lo, uint16_t hi)
{
	char buf[16];
	if (lo == 0 && hi == 65535)
		return json_string("any");
	if (lo == hi)
		snprintf(buf, sizeof(buf), "%u", lo);
	else
		snprintf(buf, sizeof(buf), "%u-%u", lo, hi);
	return json_string(buf);
}

json_t *mgr_rules_json(struct mgr *m)
{
	json_t *a = json_array();
	unsigned n;
	uint64_t dflt;
	pthread_mutex_lock(&m->topo_lock);
	const uint64_t *hits = mgr_flowdir_hits(atomic_load(&m->fd), &n, &dflt);
	for (unsigned i = 0; i < m->n_rules; i++) {
		const struct mgr_rule_conf *r = &m->rules[i];
		char proto[8];
		snprintf(proto, sizeof(proto), "%u", r->proto);
		json_array_append_new(a, json_pack("{s:i, s:s, s:o, s:o, s:s, s:o, s:o, s:s, s:I}",
			"index", (int)i,
			"in_port", r->in_port < m->st->n_ports ? m->st->ports[r->in_port].name : "any",
			"src", topo_prefix(r->src, r->src_len), "dst", topo_prefix(r->dst, r->dst_len),
			"proto", r->proto == 0 ? "any" : r->proto == 6 ? "tcp" : r->proto == 17 ? "udp"
				 : r->proto == 1 ? "icmp" : proto,
			"sport", topo_range(r->sport_lo, r->sport_hi),
			"dport", topo_range(r->dport_lo, r->dport_hi),
			"chain", m->st->chains[r->chain].name, "hits", (json_int_t)(i < n ? hits[i] : 0)));
	}
	pthread_mutex_unlock(&m->topo_lock);
	return a;
}

uint64_t mgr_default_hits(struct mgr *m, const char **chain)
{
	unsigned n;
	uint64_t dflt;
	pthread_mutex_lock(&m->topo_lock);
	mgr_flowdir_hits(atomic_load(&m->fd), &n, &dflt);
	*chain = m->default_chain < m->st->max_chains ? m->st->chains[m->default_chain].name : NULL;
	pthread_mutex_unlock(&m->topo_lock);
	return dflt;
}
