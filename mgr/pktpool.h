/* SPDX-License-Identifier: MIT */
/* The shared packet pool: its creation (mgr/pktpool.c). */
#ifndef MGR_PKTPOOL_H
#define MGR_PKTPOOL_H

#include <rte_mempool.h>

/* Gets of at most this many buffers at once keep the pool whole (pktpool.c). */
#define MGR_POOL_GET_MAX 64

/* Buffers made beyond n and kept out of circulation for a pool of n. */
unsigned mgr_pool_spares(unsigned n);

/*
 * The pool of n packet buffers of data_room bytes that every process shares,
 * on a relaxed-tail-sync ring with room to spare (pktpool.c). Its spares are
 * tagged BH_OWNER_SPARE and never handed out. NULL with rte_errno set.
 */
struct rte_mempool *mgr_pool_create(const char *name, unsigned n, uint16_t data_room);

#endif
