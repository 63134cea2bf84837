/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "monitor_core.h"

int mon_init(struct mon *m, uint32_t cap, uint64_t seed)
{
	memset(m, 0, sizeof(*m));
	if (cap == 0 || cap > MON_MAX_FLOWS)
		return -EINVAL;
	/* At most half the index in use keeps linear probes short and always
	 * leaves an empty slot to end a probe. */
	uint32_t slots = 2;
	while (slots < 2 * cap)
		slots <<= 1;
	m->flow = calloc(cap, sizeof(*m->flow));
	m->index = calloc(slots, sizeof(*m->index));
	if (!m->flow || !m->index) {
		mon_fini(m);
		return -ENOMEM;
	}
	m->mask = slots - 1;
	m->cap = cap;
	m->seed = seed;
	return 0;
}

void mon_fini(struct mon *m)
{
	free(m->flow);
	free(m->index);
	memset(m, 0, sizeof(*m));
}

static uint64_t mon_mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint32_t mon_hash(const struct bh_flow_key *k, uint64_t seed)
{
	uint64_t a = (uint64_t)k->src_ip << 32 | k->dst_ip;
	uint64_t b = (uint64_t)k->src_port << 24 | (uint64_t)k->dst_port << 8 | k->proto;
	return (uint32_t)mon_mix(mon_mix(a ^ seed) ^ b);
}

static bool mon_key_eq(const struct bh_flow_key *a, const struct bh_flow_key *b)
{
	return a->src_ip == b->src_ip && a->dst_ip == b->dst_ip && a->src_port == b->src_port &&
	       a->dst_port == b->dst_port && a->proto == b->proto;
}

/* The index slot holding k, or the empty slot where it would go. */
static uint32_t *mon_slot(const struct mon *m, const struct bh_flow_key *k)
{
	for (uint32_t i = mon_hash(k, m->seed) & m->mask;; i = (i + 1) & m->mask) {
		uint32_t *s = &m->index[i];
		if (*s == 0 || mon_key_eq(&m->flow[*s - 1].key, k))
			return s;
	}
}

const struct mon_flow *mon_lookup(const struct mon *m, const struct bh_flow_key *k)
{
	uint32_t *s = mon_slot(m, k);
	return *s ? &m->flow[*s - 1] : NULL;
}

void mon_count(struct mon *m, const void *frame, uint32_t len, uint32_t pkt_len)
{
	struct bh_flow_key k;

	m->pkts++;
	m->bytes += pkt_len;
	if (bh_flow_parse(frame, len, &k) < 0) {
		m->nonip++;
		return;
	}
	uint32_t *s = mon_slot(m, &k);
	if (*s == 0) {
		if (m->n == m->cap) {
			m->untracked++;
			return;
		}
		m->flow[m->n].key = k;
		*s = ++m->n;
	}
	struct mon_flow *f = &m->flow[*s - 1];
	f->pkts++;
	f->bytes += pkt_len;
}

static int mon_cmp_key(const struct bh_flow_key *a, const struct bh_flow_key *b)
{
	if (a->src_ip != b->src_ip)
		return a->src_ip < b->src_ip ? -1 : 1;
	if (a->dst_ip != b->dst_ip)
		return a->dst_ip < b->dst_ip ? -1 : 1;
	if (a->src_port != b->src_port)
		return a->src_port < b->src_port ? -1 : 1;
	if (a->dst_port != b->dst_port)
		return a->dst_port < b->dst_port ? -1 : 1;
	return (a->proto > b->proto) - (a->proto < b->proto);
}

/* Does a rank above b? */
static bool mon_above(const struct mon_flow *a, const struct mon_flow *b)
{
	if (a->bytes != b->bytes)
		return a->bytes > b->bytes;
	if (a->pkts != b->pkts)
		return a->pkts > b->pkts;
	return mon_cmp_key(&a->key, &b->key) < 0;
}

unsigned mon_top(const struct mon *m, struct mon_flow *out, unsigned n)
{
	unsigned have = 0;
	if (n == 0)
		return 0;
	/* Insertion into a sorted window of n: most flows lose against the
	 * last place and cost one comparison. */
	for (uint32_t i = 0; i < m->n; i++) {
		const struct mon_flow *f = &m->flow[i];
		if (have == n && !mon_above(f, &out[n - 1]))
			continue;
		unsigned j = have < n ? have++ : n - 1;
		while (j > 0 && mon_above(f, &out[j - 1])) {
			out[j] = out[j - 1];
			j--;
		}
		out[j] = *f;
	}
	return have;
}

int mon_flow_str(const struct bh_flow_key *k, char *buf, size_t len)
{
	char proto[8];
	uint32_t s = k->src_ip, d = k->dst_ip;

	switch (k->proto) {
	case 1: strcpy(proto, "icmp"); break;
	case 6: strcpy(proto, "tcp"); break;
	case 17: strcpy(proto, "udp"); break;
	default: snprintf(proto, sizeof(proto), "%u", k->proto); break;
	}
	if (k->proto == 6 || k->proto == 17)
		return snprintf(buf, len, "%s %u.%u.%u.%u:%u -> %u.%u.%u.%u:%u", proto,
				s >> 24, s >> 16 & 255, s >> 8 & 255, s & 255, k->src_port,
				d >> 24, d >> 16 & 255, d >> 8 & 255, d & 255, k->dst_port);
	return snprintf(buf, len, "%s %u.%u.%u.%u -> %u.%u.%u.%u", proto, s >> 24,
			s >> 16 & 255, s >> 8 & 255, s & 255, d >> 24, d >> 16 & 255,
			d >> 8 & 255, d & 255);
}

void mon_report(const struct mon *m, FILE *out, struct mon_flow *scratch, unsigned n)
{
	char flow[64];
	unsigned top = mon_top(m, scratch, n);

	fprintf(out, "monitor: %" PRIu32 " flows, %" PRIu64 " pkts, %" PRIu64 " bytes, %" PRIu64
		     " untracked, %" PRIu64 " nonip\n",
		m->n, m->pkts, m->bytes, m->untracked, m->nonip);
	for (unsigned i = 0; i < top; i++) {
		mon_flow_str(&scratch[i].key, flow, sizeof(flow));
		fprintf(out, "  %u. %s %" PRIu64 " pkts %" PRIu64 " bytes\n", i + 1, flow,
			scratch[i].pkts, scratch[i].bytes);
	}
}

int mon_dump(const struct mon *m, FILE *out)
{
	char buf[96];
	for (uint32_t i = 0; i < m->n; i++) {
		mon_flow_str(&m->flow[i].key, buf, sizeof(buf));
		fprintf(out, "%s %llu %llu\n", buf, (unsigned long long)m->flow[i].pkts,
			(unsigned long long)m->flow[i].bytes);
	}
	return ferror(out) ? -EIO : 0;
}
