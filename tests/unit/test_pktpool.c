/* SPDX-License-Identifier: MIT */
/*
 * The shared packet pool stays whole when the processes taking and freeing
 * its buffers are preempted in the middle of it: three threads on one CPU
 * take and free buffers (one at a time, and MGR_POOL_GET_MAX at once) for a
 * second and a half; afterwards every buffer is back and no spare was ever
 * handed out. Made as a plain RTS pool of exactly n buffers, this loses
 * hundreds of them in that time (mgr/pktpool.c).
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <unistd.h>

#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_ring.h>

#include "bh_eal.h"
#include "bh_test.h"
#include "bulkhead/nf.h"
#include "mgr/pktpool.h"

int bh_meta_offset = -1;

#define N_BUFS 8191u /* a ring of 8192 would have no room to spare */

static struct rte_mempool *pool;
static atomic_int stop;
static atomic_ulong spares_seen, rounds;

struct worker {
	int cpu;
	unsigned batch; /* buffers taken at once (bulk when > 4) */
};

static void *worker_run(void *arg)
{
	const struct worker *w = arg;
	struct rte_mbuf *m[MGR_POOL_GET_MAX];
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(w->cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	unsigned long k = 0;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		unsigned n = 0;
		if (w->batch > 4) {
			if (rte_pktmbuf_alloc_bulk(pool, m, w->batch) == 0)
				n = w->batch;
		} else {
			for (unsigned i = 0; i < w->batch; i++)
				if ((m[n] = rte_pktmbuf_alloc(pool)))
					n++;
		}
		for (unsigned i = 0; i < n; i++)
			if (bh_meta(m[i])->owner == BH_OWNER_SPARE)
				atomic_fetch_add(&spares_seen, 1);
		rte_pktmbuf_free_bulk(m, n);
		k++;
	}
	atomic_fetch_add(&rounds, k);
	return NULL;
}

int main(void)
{
	if (bh_test_eal_init() < 0) {
		fprintf(stderr, "EAL init failed\n");
		return 1;
	}
	static const struct rte_mbuf_dynfield meta = {
		.name = BH_META_NAME, .size = sizeof(struct bh_meta), .align = __alignof__(struct bh_meta)};
	bh_meta_offset = rte_mbuf_dynfield_register(&meta);
	CHECK(bh_meta_offset >= 0);
	pool = mgr_pool_create("t_pool", N_BUFS, 2176);
	CHECK(pool != NULL);
	if (!pool || bh_meta_offset < 0)
		return bh_test_summary("test_pktpool");

	struct rte_ring *r = pool->pool_data;
	unsigned spares = mgr_pool_spares(N_BUFS);
	CHECK_EQ(rte_mempool_avail_count(pool), N_BUFS);
	CHECK(rte_ring_get_capacity(r) >= N_BUFS + spares);
	CHECK(rte_ring_get_cons_htd_max(r) + MGR_POOL_GET_MAX <= rte_ring_get_capacity(r) - N_BUFS);

	/* all three on the last CPU: the scheduler preempts them mid-operation */
	int cpu = (int)sysconf(_SC_NPROCESSORS_ONLN) - 1;
	struct worker w[3] = {{cpu, 1}, {cpu, 4}, {cpu, MGR_POOL_GET_MAX}};
	pthread_t th[3];
	for (unsigned i = 0; i < 3; i++)
		CHECK_EQ(pthread_create(&th[i], NULL, worker_run, &w[i]), 0);
	usleep(1500 * 1000);
	atomic_store(&stop, 1);
	for (unsigned i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	printf("# %lu rounds of taking and freeing\n", (unsigned long)atomic_load(&rounds));
	CHECK(atomic_load(&rounds) > 1000);
	CHECK_EQ(rte_mempool_avail_count(pool), N_BUFS);
	CHECK_EQ(atomic_load(&spares_seen), 0);
	return bh_test_summary("test_pktpool");
}
