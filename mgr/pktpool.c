/* SPDX-License-Identifier: MIT */
/*
 * The shared packet pool.
 *
 * Its ring is relaxed-tail-sync (RTS): many processes share the pool on few
 * CPUs, and a producer preempted in the middle of a put must not make every
 * other process spin on the ring's tail until it runs again (the default
 * multi-producer ring does exactly that).
 *
 * The price: an RTS ring moves its consumer tail only when every dequeue in
 * flight has finished, while each dequeue hands its buffers out at once. A
 * buffer taken while another process's dequeue is preempted can be freed
 * again before the tail has passed its slot; until the tail moves it counts
 * twice, and a ring with room for exactly the pool's buffers refuses the put.
 * rte_mempool_put() ignores that: the buffer would be lost (up to the
 * consumers' head-tail distance of them, in a second of three threads
 * taking and freeing buffers on one CPU: tests/unit/test_pktpool.c). The lag
 * is at most that distance (htd_max, set here) plus one get's count, so the
 * ring is made that much larger than the buffers in circulation: the pool is
 * created with as many more, which the manager takes out at once and keeps.
 */
#include <errno.h>
#include <stdlib.h>

#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "bulkhead/nf.h"
#include "mgr/pktpool.h"

/* How far the consumers' head may run ahead of their tail: DPDK's default
 * (an eighth of the ring) within bounds. */
static unsigned pool_lag(unsigned n)
{
	return RTE_MIN(1024u, RTE_MAX(64u, n / 8));
}

unsigned mgr_pool_spares(unsigned n)
{
	return pool_lag(n) + MGR_POOL_GET_MAX;
}

struct rte_mempool *mgr_pool_create(const char *name, unsigned n, uint16_t data_room)
{
	unsigned spares = mgr_pool_spares(n);
	struct rte_mempool *mp = rte_pktmbuf_pool_create_by_ops(name, n + spares, 0, 0, data_room,
								SOCKET_ID_ANY, "ring_mt_rts");
	if (!mp)
		return NULL;
	struct rte_ring *r = mp->pool_data;
	void **objs = malloc(spares * sizeof(*objs));
	int err = !objs ? ENOMEM : 0;
	if (!err && (rte_ring_get_capacity(r) < n + spares ||
		     rte_ring_set_cons_htd_max(r, pool_lag(n)) < 0))
		err = ENOTSUP;
	if (!err && rte_mempool_get_bulk(mp, objs, spares) < 0)
		err = ENOBUFS;
	if (err) {
		free(objs);
		rte_mempool_free(mp);
		rte_errno = err;
		return NULL;
	}
	for (unsigned i = 0; i < spares; i++)
		bh_meta(objs[i])->owner = BH_OWNER_SPARE;
	free(objs); /* the buffers stay out: nobody ever frees them */
	return mp;
}
