/* SPDX-License-Identifier: MIT */
/*
 * The packet buffers out of the shared pool, one by one: who holds each (the
 * owner tag of its metadata), where it was going, and what it is. For finding a
 * buffer that never came back; GET /api/v1/pool/held (docs/api.md).
 *
 * The free buffers are those in the pool's ring between its consumer and
 * producer tails (the pool has no per-lcore cache: config.c). This is
 * a snapshot taken without stopping anybody: a buffer moving in or out at that
 * instant may be listed or missed. On a quiet platform it is exact.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include "bulkhead/nf.h"
#include "mgr/mgr.h"

static int pool_ptr_cmp(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
	return x < y ? -1 : x > y;
}

/* The free buffers (sorted) into *out; their count, or -1 without memory or
 * if the pool's ring is not the RTS ring mgr_pool_create() makes. */
static long pool_free_set(const struct rte_mempool *mp, uintptr_t **out)
{
	const struct rte_ring *r = mp->pool_data;
	uint32_t n = 0;
	if (rte_ring_get_cons_sync_type(r) != RTE_RING_SYNC_MT_RTS)
		return -1;
	/* The ring stores pointers after its header; the tails say which are
	 * filled. Consumer first: moving on meanwhile, the ring may look fuller
	 * than it can be; a snapshot only then. */
	uint32_t tail = r->rts_cons.tail.val.pos;
	uint32_t head = r->rts_prod.tail.val.pos;
	uint32_t count = RTE_MIN(head - tail, r->capacity);
	uintptr_t *set = malloc(((size_t)count + 1) * sizeof(*set));
	if (!set)
		return -1;
	void *const *slots = (void *const *)&r[1];
	for (uint32_t i = 0; i < count; i++)
		set[n++] = (uintptr_t)slots[(tail + i) & r->mask];
	qsort(set, n, sizeof(*set), pool_ptr_cmp);
	*out = set;
	return n;
}

/* "tcp 198.18.0.2:40000 > 198.18.0.3:7 [SA] seq 1 ack 2 len 0", or the ether type.
 * Reads the first segment only, within its buffer whatever its fields say. */
static void pool_describe(const struct rte_mbuf *m, char *buf, size_t len)
{
	const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);
	uint32_t room = m->buf_len > m->data_off ? (uint32_t)(m->buf_len - m->data_off) : 0;
	uint32_t have = RTE_MIN((uint32_t)rte_pktmbuf_data_len(m), room);
	if (have < sizeof(struct rte_ether_hdr)) {
		snprintf(buf, len, "%u bytes", have);
		return;
	}
	const struct rte_ether_hdr *eh = (const void *)p;
	uint16_t type = rte_be_to_cpu_16(eh->ether_type);
	if (type != RTE_ETHER_TYPE_IPV4 || have < sizeof(*eh) + sizeof(struct rte_ipv4_hdr)) {
		snprintf(buf, len, "ether type 0x%04x", type);
		return;
	}
	const struct rte_ipv4_hdr *ip = (const void *)(p + sizeof(*eh));
	unsigned ihl = rte_ipv4_hdr_len(ip), ip_len = rte_be_to_cpu_16(ip->total_length);
	char src[INET_ADDRSTRLEN], dst[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &ip->src_addr, src, sizeof(src));
	inet_ntop(AF_INET, &ip->dst_addr, dst, sizeof(dst));
	const uint8_t *l4 = (const uint8_t *)ip + ihl;
	if (ip->next_proto_id == IPPROTO_TCP && have >= sizeof(*eh) + ihl + sizeof(struct rte_tcp_hdr)) {
		const struct rte_tcp_hdr *th = (const void *)l4;
		static const char names[] = "FSRPAUEC";
		char flags[9];
		unsigned k = 0, hl = (th->data_off >> 4) * 4u;
		for (unsigned i = 0; i < 8; i++)
			if (th->tcp_flags & (1u << i))
				flags[k++] = names[i];
		flags[k] = 0;
		snprintf(buf, len, "tcp %s:%u > %s:%u [%s] seq %u ack %u len %u", src,
			 rte_be_to_cpu_16(th->src_port), dst, rte_be_to_cpu_16(th->dst_port), flags,
			 rte_be_to_cpu_32(th->sent_seq), rte_be_to_cpu_32(th->recv_ack),
			 ip_len > ihl + hl ? ip_len - ihl - hl : 0);
	} else if (ip->next_proto_id == IPPROTO_UDP && have >= sizeof(*eh) + ihl + sizeof(struct rte_udp_hdr)) {
		const struct rte_udp_hdr *uh = (const void *)l4;
		snprintf(buf, len, "udp %s:%u > %s:%u len %u", src, rte_be_to_cpu_16(uh->src_port), dst,
			 rte_be_to_cpu_16(uh->dst_port), ip_len > ihl + 8 ? ip_len - ihl - 8 : 0);
	} else {
		snprintf(buf, len, "ip proto %u %s > %s len %u", ip->next_proto_id, src, dst, ip_len);
	}
}

struct pool_walk {
	const struct mgr *m;
	const uintptr_t *free_set;
	long n_free;
	unsigned max;
	unsigned long held;
	json_t *list;
};

static void pool_walk_cb(struct rte_mempool *mp, void *arg, void *obj, unsigned idx)
{
	struct pool_walk *w = arg;
	struct rte_mbuf *m = obj;
	uintptr_t key = (uintptr_t)obj;
	(void)mp;
	(void)idx;
	if (bh_meta(m)->owner == BH_OWNER_SPARE ||
	    bsearch(&key, w->free_set, (size_t)w->n_free, sizeof(key), pool_ptr_cmp))
		return;
	w->held++;
	if (json_array_size(w->list) >= w->max)
		return;
	const struct bh_meta *md = bh_meta(m);
	const struct bh_state *st = w->m->st;
	char what[160];
	pool_describe(m, what, sizeof(what));
	static const char *const actions[] = {"next", "drop", "to_nf", "out", "keep", "consume"};
	json_t *e = json_pack("{s:i, s:i, s:i, s:i, s:s, s:i, s:i, s:i, s:s}", "owner", md->owner,
			      "refcnt", rte_mbuf_refcnt_read(m), "segs", m->nb_segs, "len", m->pkt_len,
			      "action", md->action < RTE_DIM(actions) ? actions[md->action] : "?", "dest",
			      md->dest, "chain", md->chain == BH_NONE ? -1 : md->chain, "hop", md->hop,
			      "packet", what);
	if (e && md->owner && md->owner <= st->max_nfs) {
		const struct bh_nf_slot *s = &st->nfs[md->owner - 1];
		json_object_set_new(e, "owner_name", json_string(s->name));
		json_object_set_new(e, "owner_state", json_string(mgr_slot_state_name(atomic_load(&s->state))));
	}
	json_array_append_new(w->list, e);
}

json_t *mgr_pool_held(struct mgr *m, unsigned max)
{
	uintptr_t *set = NULL;
	long n = pool_free_set(m->pool, &set);
	if (n < 0)
		return NULL;
	struct pool_walk w = {.m = m, .free_set = set, .n_free = n, .max = max, .list = json_array()};
	rte_mempool_obj_iter(m->pool, pool_walk_cb, &w);
	free(set);
	return json_pack("{s:i, s:i, s:I, s:o}", "size", (int)m->cfg.mbufs, "free", (int)n, "held",
			 (json_int_t)w.held, "packets", w.list);
}
