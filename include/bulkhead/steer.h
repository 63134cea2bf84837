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

/* Wait while *word == seen, at most timeout_ns. Returns 0 or -errno (ETIMEDOUT, EAGAIN, EINTR). */
static inline int bh_doorbell_wait(_Atomic uint32_t *word, uint32_t seen, uint64_t timeout_ns)
{
	struct timespec ts = {.tv_sec = (time_t)(timeout_ns / 1000000000u),
			      .tv_nsec = (long)(timeout_ns % 1000000000u)};
	if (syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT, seen, &ts, NULL, 0) < 0)
		return -errno;
	return 0;
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

/*
 * Enqueue pkts to slot's rx ring, tagging them as owned by it, and ring its
 * doorbell. Returns how many were enqueued; the rest stay with the caller.
 */
static inline unsigned bh_steer_to_slot(struct bh_state *st, uint16_t slot, struct rte_mbuf **pkts,
					unsigned n)
{
	struct bh_nf_slot *s = &st->nfs[slot];
	for (unsigned i = 0; i < n; i++)
		bh_meta(pkts[i])->owner = (uint16_t)(slot + 1);
	unsigned k = rte_ring_enqueue_burst(s->rx, (void **)pkts, n, NULL);
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
