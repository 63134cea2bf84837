/* SPDX-License-Identifier: MIT */
/*
 * Steering primitives shared by the manager's RX path and nflib's verdict
 * dispatch: pick a service instance for a flow, enqueue to an NF's ring and
 * wake it if it sleeps.
 *
 * Doorbell protocol (no lost wake-ups). Consumer: store sleeping=1 (seq_cst),
 * read the doorbell word, re-check its rings, then FUTEX_WAIT on the word.
 * Producer: enqueue, full fence, and if sleeping is set bump the word and
 * FUTEX_WAKE. Either the consumer's re-check sees the packets, or the producer
 * sees sleeping=1 and changes the word before or while the consumer waits.
 */
#ifndef BULKHEAD_STEER_H
#define BULKHEAD_STEER_H

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <rte_ring.h>

#include "bulkhead/nf.h"
#include "bulkhead/shm.h"

static inline void bh_doorbell_ring(_Atomic uint32_t *sleeping, _Atomic uint32_t *word)
{
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(sleeping, memory_order_relaxed)) {
		atomic_fetch_add_explicit(word, 1, memory_order_release);
		syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
	}
}

/* Ring the manager's eventfd doorbell (efd: this process's copy) if it sleeps. */
static inline void bh_mgr_doorbell_ring(const struct bh_state *st, int efd)
{
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&st->mgr_sleeping, memory_order_relaxed)) {
		uint64_t one = 1;
		ssize_t rc = write(efd, &one, sizeof(one)); /* EAGAIN: already pending */
		(void)rc;
	}
}

/* Wake whoever waits on word, sleeping or not (stop requests). Async-signal-safe. */
static inline void bh_doorbell_kick(_Atomic uint32_t *word)
{
	atomic_fetch_add_explicit(word, 1, memory_order_release);
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* Wait while *word == seen, at most timeout_ns. Returns 0 or -errno (ETIMEDOUT, EAGAIN, EINTR). */
static inline int bh_doorbell_wait(_Atomic uint32_t *word, uint32_t seen, uint64_t timeout_ns)
{
	struct timespec ts = {.tv_sec = (time_t)(timeout_ns / 1000000000u),
			      .tv_nsec = (long)(timeout_ns % 1000000000u)};
	if (syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT, seen, &ts, NULL, 0) < 0)
		return -errno;
	return 0;
}

/* Mark or clear an NF as overloaded, keeping the count of overloaded NFs. */
static inline void bh_overload_set(struct bh_state *st, struct bh_nf_slot *s, int on)
{
	if (atomic_load_explicit(&s->overloaded, memory_order_relaxed) == (uint32_t)on)
		return;
	if (atomic_exchange(&s->overloaded, (uint32_t)on) != (uint32_t)on)
		atomic_fetch_add(&st->n_overloaded, on ? 1u : (uint32_t)-1);
}

/* Slot id of the instance of `service` that owns this flow, or BH_NONE. */
static inline uint16_t bh_steer_pick(const struct bh_state *st, uint16_t service, uint32_t hash)
{
	if (service >= st->max_services)
		return BH_NONE;
	uint16_t slot = atomic_load_explicit(&st->services[service].reta[hash % BH_RETA_SIZE],
					     memory_order_relaxed);
	if (slot >= st->max_nfs ||
	    atomic_load_explicit(&st->nfs[slot].state, memory_order_acquire) != BH_SLOT_RUNNING)
		return BH_NONE;
	return slot;
}

enum bh_route_kind { BH_ROUTE_NF, BH_ROUTE_PORT, BH_ROUTE_DROP, BH_ROUTE_KEEP, BH_ROUTE_CONSUME };

/*
 * Where a packet goes after an NF's verdict. Returns the kind and sets *id to the
 * slot (NF), the port (PORT) or the drop reason (DROP). For NEXT it advances
 * md->hop. Pure: reads the shared state, writes only md.
 */
static inline enum bh_route_kind bh_route(const struct bh_state *st, struct bh_meta *md, uint16_t *id)
{
	uint16_t svc;
	switch (md->action) {
	case BH_ACT_NEXT: {
		if (md->chain >= st->max_chains) {
			*id = BH_DROP_no_route;
			return BH_ROUTE_DROP;
		}
		const struct bh_chain *c = &st->chains[md->chain];
		uint16_t hop = (uint16_t)(md->hop + 1);
		if (hop >= c->len) {
			if (c->out_port >= st->n_ports) {
				*id = BH_DROP_no_route;
				return BH_ROUTE_DROP;
			}
			*id = c->out_port;
			return BH_ROUTE_PORT;
		}
		md->hop = hop;
		svc = st->hops[c->first + hop];
		break;
	}
	case BH_ACT_TO_NF:
		svc = md->dest;
		if (svc >= st->max_services) {
			*id = BH_DROP_bad_verdict;
			return BH_ROUTE_DROP;
		}
		break;
	case BH_ACT_OUT:
		if (md->dest >= st->n_ports) {
			*id = BH_DROP_bad_verdict;
			return BH_ROUTE_DROP;
		}
		*id = md->dest;
		return BH_ROUTE_PORT;
	case BH_ACT_KEEP:
		return BH_ROUTE_KEEP;
	case BH_ACT_CONSUME:
		return BH_ROUTE_CONSUME;
	case BH_ACT_DROP:
		*id = BH_DROP_verdict;
		return BH_ROUTE_DROP;
	default:
		*id = BH_DROP_bad_verdict;
		return BH_ROUTE_DROP;
	}
	uint16_t slot = bh_steer_pick(st, svc, md->flow_hash);
	if (slot == BH_NONE) {
		*id = BH_DROP_no_instance;
		return BH_ROUTE_DROP;
	}
	*id = slot;
	return BH_ROUTE_NF;
}

/*
 * Enqueue pkts to slot's rx ring, tagging them as owned by it, and ring its
 * doorbell. Returns how many were enqueued; the rest stay with the caller.
 */
static inline unsigned bh_steer_to_slot(struct bh_state *st, uint16_t slot, struct rte_mbuf **pkts,
					unsigned n)
{
	struct bh_nf_slot *s = &st->nfs[slot];
	unsigned free_left;
	for (unsigned i = 0; i < n; i++)
		bh_meta(pkts[i])->owner = (uint16_t)(slot + 1);
	unsigned k = rte_ring_enqueue_burst(s->rx, (void **)pkts, n, &free_left);
	/* Producers mark a filling ring (the NF may be stalled and unable to);
	 * the NF clears the mark once it has drained below a quarter. */
	if (free_left < rte_ring_get_capacity(s->rx) / 4)
		bh_overload_set(st, s, 1);
	for (unsigned i = k; i < n; i++)
		bh_meta(pkts[i])->owner = 0;
	if (k)
		bh_doorbell_ring(&s->sleeping, &s->doorbell);
	return k;
}

/* Free packets, clearing their owner tag first (the reclaim walk relies on it). */
static inline void bh_free_bulk(struct rte_mbuf **pkts, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		bh_meta(pkts[i])->owner = 0;
	rte_pktmbuf_free_bulk(pkts, n);
}

#endif
