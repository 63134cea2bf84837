/* SPDX-License-Identifier: MIT */
/*
 * NF registry: registration over rte_mp, death detection through pidfds, and
 * reclaim of a dead NF's rings and packets without restarting anything else.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_malloc.h>
#include <rte_mempool.h>
#include <rte_memzone.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "bulkhead/log.h"
#include "bulkhead/nf.h"
#include "bulkhead/steer.h"
#include "mgr/mgr.h"
#include "mgr/reta.h"

static struct mgr *reg_mgr; /* rte_mp callbacks carry no user pointer */

/* Recompute a service's redirection table from its running instances. Caller holds m->lock. */
static void reg_reta_rebuild(struct mgr *m, uint16_t svc, enum mgr_reta_mode mode)
{
	struct bh_state *st = m->st;
	uint16_t live[BH_RETA_SIZE];
	unsigned n = 0;

	for (unsigned i = 0; i < st->max_nfs && n < BH_RETA_SIZE; i++)
		if (st->nfs[i].service == svc &&
		    atomic_load(&st->nfs[i].state) == BH_SLOT_RUNNING)
			live[n++] = (uint16_t)i;
	st->services[svc].n_instances = (uint16_t)n;
	mgr_reta_rebuild(st->services[svc].reta, st->services[svc].reta_prev, live, n, mode);
}

static int reg_service(struct mgr *m, const char *name)
{
	struct bh_state *st = m->st;
	int free_id = -1;
	for (unsigned i = 0; i < st->max_services; i++) {
		if (!st->services[i].name[0]) {
			if (free_id < 0)
				free_id = (int)i;
		} else if (!strcmp(st->services[i].name, name)) {
			return (int)i;
		}
	}
	if (free_id < 0)
		return -ENOSPC;
	snprintf(st->services[free_id].name, BH_NAME_LEN, "%s", name);
	for (unsigned b = 0; b < BH_RETA_SIZE; b++) {
		atomic_store(&st->services[free_id].reta[b], BH_NONE);
		st->services[free_id].reta_prev[b] = BH_NONE;
	}
	return free_id;
}

static int reg_rings(struct mgr *m, struct bh_nf_slot *s)
{
	char name[RTE_RING_NAMESIZE];
	if (!s->rx) {
		snprintf(name, sizeof(name), "bh_rx_%u", s->id);
		s->rx = rte_ring_create(name, m->cfg.nf_rx_ring, SOCKET_ID_ANY,
					RING_F_SC_DEQ | RING_F_EXACT_SZ);
	}
	if (!s->tx) {
		snprintf(name, sizeof(name), "bh_tx_%u", s->id);
		s->tx = rte_ring_create(name, m->cfg.nf_tx_ring, SOCKET_ID_ANY,
					RING_F_SP_ENQ | RING_F_SC_DEQ | RING_F_EXACT_SZ);
	}
	if (!s->msg) {
		snprintf(name, sizeof(name), "bh_msg_%u", s->id);
		s->msg = rte_ring_create_elem(name, sizeof(struct bh_msg), 64, SOCKET_ID_ANY,
					      RING_F_SC_DEQ);
	}
	return s->rx && s->tx && s->msg ? 0 : -ENOMEM;
}

static int reg_register(struct mgr *m, const struct bh_reg_req *req, struct bh_reg_reply *rep)
{
	struct bh_state *st = m->st;
	char service[BH_NAME_LEN], name[BH_NAME_LEN];
	int svc, slot = -1, pidfd;

	memcpy(service, req->service, BH_NAME_LEN);
	memcpy(name, req->name, BH_NAME_LEN);
	service[BH_NAME_LEN - 1] = name[BH_NAME_LEN - 1] = 0;
	if (!service[0] || req->pid <= 0)
		return -EINVAL;
	svc = reg_service(m, service);
	if (svc < 0)
		return svc;
	for (unsigned i = 0; i < st->max_nfs; i++)
		if (atomic_load(&st->nfs[i].state) == BH_SLOT_FREE) {
			slot = (int)i;
			break;
		}
	if (slot < 0)
		return -ENOSPC;
	struct bh_nf_slot *s = &st->nfs[slot];
	if (reg_rings(m, s) < 0)
		return -ENOMEM;
	pidfd = (int)syscall(SYS_pidfd_open, req->pid, 0);
	if (pidfd < 0)
		return -ESRCH;
	/* The lowest instance number not taken in this service. */
	uint16_t inst = 0;
	for (int again = 1; again;) {
		again = 0;
		for (unsigned i = 0; i < st->max_nfs; i++)
			if (atomic_load(&st->nfs[i].state) != BH_SLOT_FREE &&
			    st->nfs[i].service == svc && st->nfs[i].instance == inst) {
				inst++;
				again = 1;
			}
	}
	s->pid = req->pid;
	s->service = (uint16_t)svc;
	s->instance = inst;
	s->generation++;
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->start_ns = mgr_now_ns();
	memset(&s->c, 0, sizeof(s->c));
	s->app_mz[0] = 0;
	atomic_store(&s->sleeping, 0);
	m->pidfds[slot] = pidfd;
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)slot};
	epoll_ctl(m->epfd, EPOLL_CTL_ADD, pidfd, &ev);
	atomic_store_explicit(&s->state, BH_SLOT_RUNNING, memory_order_release);
	reg_reta_rebuild(m, (uint16_t)svc, MGR_RETA_BALANCE);
	m->nf_started++;

	rep->slot = (uint16_t)slot;
	rep->service = (uint16_t)svc;
	rep->instance = inst;
	rep->generation = s->generation;
	bh_log(BH_LOG_INFO, "NF %d '%s' (pid %d) registered: service '%s' instance %u", slot,
	       name, req->pid, service, inst);
	return 0;
}

static int reg_on_register(const struct rte_mp_msg *msg, const void *peer)
{
	struct mgr *m = reg_mgr;
	struct rte_mp_msg out;
	struct bh_reg_reply rep;
	struct bh_reg_req req;

	memset(&out, 0, sizeof(out));
	memset(&rep, 0, sizeof(rep));
	if (msg->len_param != sizeof(req)) {
		rep.status = -EPROTO;
	} else {
		memcpy(&req, msg->param, sizeof(req));
		pthread_mutex_lock(&m->lock);
		rep.status = reg_register(m, &req, &rep);
		pthread_mutex_unlock(&m->lock);
		if (rep.status < 0)
			bh_log(BH_LOG_WARN, "NF registration (pid %d) refused: %s", req.pid,
			       strerror(-rep.status));
	}
	snprintf(out.name, sizeof(out.name), "%s", BH_MP_REGISTER);
	out.len_param = sizeof(rep);
	memcpy(out.param, &rep, sizeof(rep));
	return rte_mp_reply(&out, peer);
}

int mgr_registry_init(struct mgr *m)
{
	struct bh_state *st = m->st;
	reg_mgr = m;
	m->pidfds = malloc(st->max_nfs * sizeof(int));
	if (!m->pidfds)
		return -ENOMEM;
	for (unsigned i = 0; i < st->max_nfs; i++) {
		m->pidfds[i] = -1;
		st->nfs[i].id = (uint16_t)i;
		st->nfs[i].service = BH_NONE;
	}
	for (unsigned i = 0; i < st->max_services; i++)
		for (unsigned b = 0; b < BH_RETA_SIZE; b++) {
			atomic_store(&st->services[i].reta[b], BH_NONE);
			st->services[i].reta_prev[b] = BH_NONE;
		}
	for (unsigned i = 0; i < m->cfg.n_services; i++)
		snprintf(st->services[i].name, BH_NAME_LEN, "%s", m->cfg.services[i]);
	m->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (m->epfd < 0)
		return -errno;
	if (rte_mp_action_register(BH_MP_REGISTER, reg_on_register) < 0)
		return -errno;
	return 0;
}

void mgr_registry_fini(struct mgr *m)
{
	rte_mp_action_unregister(BH_MP_REGISTER);
	for (unsigned i = 0; m->pidfds && i < m->st->max_nfs; i++)
		if (m->pidfds[i] >= 0)
			close(m->pidfds[i]);
	free(m->pidfds);
	if (m->epfd >= 0)
		close(m->epfd);
}

/*
 * Wait until every other running NF and the data plane have gone round their
 * loop (or are asleep), so nobody still holds a pointer to the dead slot's ring
 * taken from the old redirection table.
 */
static void reg_quiesce(struct mgr *m, uint16_t dead)
{
	struct bh_state *st = m->st;
	uint64_t *seen = calloc(st->max_nfs, sizeof(*seen));
	uint64_t mgr_seen = atomic_load(&st->mgr_epoch);
	uint64_t deadline = mgr_now_ns() + 200000000ull;
	if (!seen)
		return;
	for (unsigned i = 0; i < st->max_nfs; i++)
		seen[i] = atomic_load(&st->nfs[i].epoch);
	for (;;) {
		int busy = !atomic_load(&st->mgr_sleeping) && atomic_load(&st->mgr_epoch) == mgr_seen;
		for (unsigned i = 0; i < st->max_nfs && !busy; i++) {
			struct bh_nf_slot *s = &st->nfs[i];
			if (i == dead || atomic_load(&s->state) != BH_SLOT_RUNNING)
				continue;
			if (!atomic_load(&s->sleeping) && atomic_load(&s->epoch) == seen[i])
				busy = 1;
		}
		if (!busy || mgr_now_ns() > deadline)
			break;
		usleep(200);
	}
	free(seen);
}

struct reg_walk {
	uint16_t tag;
	uint64_t freed;
};

static void reg_walk_cb(struct rte_mempool *mp, void *arg, void *obj, unsigned idx)
{
	struct reg_walk *w = arg;
	struct rte_mbuf *mb = obj;
	(void)mp;
	(void)idx;
	if (bh_meta(mb)->owner == w->tag) {
		bh_meta(mb)->owner = 0;
		rte_pktmbuf_free(mb);
		w->freed++;
	}
}

void mgr_registry_reap(struct mgr *m, uint16_t slot)
{
	struct bh_state *st = m->st;
	struct bh_nf_slot *s = &st->nfs[slot];
	struct rte_mbuf *pkts[64];
	unsigned n;
	uint64_t freed = 0;

	pthread_mutex_lock(&m->lock);
	uint32_t was = atomic_exchange(&s->state, BH_SLOT_DEAD);
	/* A planned stop rebalances; a death moves only the dead instance's flows. */
	reg_reta_rebuild(m, s->service, was == BH_SLOT_STOPPING ? MGR_RETA_BALANCE : MGR_RETA_KEEP);
	if (m->pidfds[slot] >= 0) {
		epoll_ctl(m->epfd, EPOLL_CTL_DEL, m->pidfds[slot], NULL);
		close(m->pidfds[slot]);
		m->pidfds[slot] = -1;
	}
	pthread_mutex_unlock(&m->lock);

	reg_quiesce(m, slot);
	/* Nobody enqueues to the dead slot any more; this thread is its consumer now. */
	while ((n = rte_ring_dequeue_burst(s->rx, (void **)pkts, 64, NULL)) > 0) {
		bh_free_bulk(pkts, n);
		freed += n;
	}
	/* The data plane drains DEAD slots' tx rings; wait for it. */
	for (int i = 0; i < 1000 && !rte_ring_empty(s->tx); i++)
		usleep(1000);
	struct bh_msg msg;
	while (rte_ring_dequeue_elem(s->msg, &msg, sizeof(msg)) == 0)
		;
	/* Packets the NF held (in hand, or in a delay queue) are still tagged with it. */
	struct reg_walk w = {.tag = (uint16_t)(slot + 1)};
	rte_mempool_obj_iter(st->pool, reg_walk_cb, &w);
	freed += w.freed;
	if (s->app_mz[0]) {
		const struct rte_memzone *mz = rte_memzone_lookup(s->app_mz);
		if (mz)
			rte_memzone_free(mz);
	}

	pthread_mutex_lock(&m->lock);
	bh_log(BH_LOG_INFO, "NF %u '%s' (pid %d) exited; reclaimed %lu packets; service '%s' has "
			    "%u instance(s)",
	       slot, s->name, s->pid, (unsigned long)freed, st->services[s->service].name,
	       st->services[s->service].n_instances);
	m->nf_exited++;
	m->mbufs_reclaimed += freed;
	s->pid = 0;
	s->app_mz[0] = 0;
	atomic_store(&s->state, BH_SLOT_FREE);
	pthread_mutex_unlock(&m->lock);
}

void mgr_registry_stop_all(struct mgr *m, unsigned timeout_ms)
{
	struct bh_state *st = m->st;
	struct bh_msg stop = {.type = BH_MSG_STOP};
	uint64_t deadline = mgr_now_ns() + (uint64_t)timeout_ms * 1000000ull;

	pthread_mutex_lock(&m->lock);
	for (unsigned i = 0; i < st->max_nfs; i++) {
		struct bh_nf_slot *s = &st->nfs[i];
		if (atomic_load(&s->state) == BH_SLOT_FREE || !s->msg)
			continue;
		rte_ring_enqueue_elem(s->msg, &stop, sizeof(stop));
		bh_doorbell_kick(&s->doorbell);
	}
	pthread_mutex_unlock(&m->lock);
	for (unsigned i = 0; i < st->max_nfs; i++) {
		if (m->pidfds[i] < 0)
			continue;
		struct pollfd p = {.fd = m->pidfds[i], .events = POLLIN};
		int64_t left = (int64_t)(deadline - mgr_now_ns()) / 1000000;
		if (left > 0 && poll(&p, 1, (int)left) <= 0)
			bh_log(BH_LOG_WARN, "NF %u (pid %d) did not stop in time", i, st->nfs[i].pid);
	}
}
