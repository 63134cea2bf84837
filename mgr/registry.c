/* SPDX-License-Identifier: MIT */
/*
 * NF registry: registration over rte_mp, death detection through pidfds, and
 * reclaim of a dead NF's rings and packets without restarting anything else.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
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

static int reg_send(struct bh_nf_slot *s, uint32_t type, uint32_t arg);
static unsigned reg_sweep(struct mgr *m, struct bh_nf_slot *s);

/*
 * Put a service's STARTING instances to work, up to its scale target, and
 * rebalance. Child NFs beyond the target (it was lowered while they were
 * starting) are told to stop: they were never in the table, so nobody can be
 * sending to them. An instance started by hand always joins. Caller holds m->lock.
 */
static void reg_activate(struct mgr *m, uint16_t svc)
{
	struct bh_state *st = m->st;
	unsigned running = 0, target = m->scale_target[svc]; /* want + 1; 0: none */
	for (unsigned i = 0; i < st->max_nfs; i++)
		running += st->nfs[i].service == svc && atomic_load(&st->nfs[i].state) == BH_SLOT_RUNNING;
	for (unsigned i = 0; i < st->max_nfs; i++) {
		struct bh_nf_slot *s = &st->nfs[i];
		if (s->service != svc || atomic_load(&s->state) != BH_SLOT_STARTING)
			continue;
		if (target && running >= target - 1 && s->parent != BH_NONE) {
			atomic_store(&s->state, BH_SLOT_STOPPING);
			reg_send(s, BH_MSG_STOP, 0);
			continue;
		}
		atomic_store_explicit(&s->state, BH_SLOT_RUNNING, memory_order_release);
		running++;
	}
	reg_reta_rebuild(m, svc, MGR_RETA_BALANCE);
}

void mgr_registry_expire(struct mgr *m)
{
	pthread_mutex_lock(&m->lock);
	for (unsigned i = 0; i < atomic_load(&m->nf_slots_hi); i++) /* the others have no ring */
		reg_sweep(m, &m->st->nfs[i]);
	for (unsigned svc = 0; svc < m->st->max_services; svc++)
		if (m->pending_spawn[svc] && mgr_now_ns() - m->pending_since[svc] > 5000000000ull) {
			bh_log(BH_LOG_WARN, "service '%s': %u child NF(s) did not register in time",
			       m->st->services[svc].name, m->pending_spawn[svc]);
			m->pending_spawn[svc] = 0;
			reg_activate(m, (uint16_t)svc);
		}
	pthread_mutex_unlock(&m->lock);
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
		/* Many producers (the manager, other NFs) on shared CPUs:
		 * relaxed tail sync, as for the pool (main.c). */
		s->rx = rte_ring_create(name, m->cfg.nf_rx_ring, SOCKET_ID_ANY,
					RING_F_MP_RTS_ENQ | RING_F_SC_DEQ | RING_F_EXACT_SZ);
	}
	if (!s->tx) {
		snprintf(name, sizeof(name), "bh_tx_%u", s->id);
		s->tx = rte_ring_create(name, m->cfg.nf_tx_ring, SOCKET_ID_ANY,
					RING_F_SP_ENQ | RING_F_SC_DEQ | RING_F_EXACT_SZ);
	}
	if (!s->msg) {
		snprintf(name, sizeof(name), "bh_msg_%u", s->id);
		s->msg = rte_ring_create_elem(name, sizeof(struct bh_msg), 64, SOCKET_ID_ANY,
					      RING_F_MP_RTS_ENQ | RING_F_SC_DEQ);
	}
	if (!s->rx || !s->tx || !s->msg)
		return -ENOMEM;
	if (atomic_load(&m->nf_slots_hi) <= s->id)
		atomic_store_explicit(&m->nf_slots_hi, s->id + 1u, memory_order_release);
	return 0;
}

/*
 * The CPU for a new instance of svc: the least used of the service's cores, or
 * of nf_cores; -1 when neither is configured (the scheduler places it).
 */
static int reg_place(struct mgr *m, int svc)
{
	const struct mgr_service_conf *sc = (unsigned)svc < m->cfg.n_services ? &m->cfg.services[svc] : NULL;
	const int *cores = sc && sc->n_cores ? sc->cores : m->cfg.nf_cores;
	unsigned n = sc && sc->n_cores ? sc->n_cores : m->cfg.n_nf_cores;
	int best = -1;
	unsigned best_load = UINT32_MAX;
	for (unsigned i = 0; i < n; i++) {
		unsigned load = 0;
		for (unsigned j = 0; j < m->st->max_nfs; j++)
			load += atomic_load(&m->st->nfs[j].state) != BH_SLOT_FREE &&
				m->st->nfs[j].core == cores[i];
		if (load < best_load) {
			best_load = load;
			best = cores[i];
		}
	}
	return best;
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
	/* A service with an isolation policy takes only NFs that applied it
	 * (they read it from the file before attaching), and one without takes
	 * none that applied some other. */
	bool iso = false;
	for (unsigned i = 0; i < m->cfg.n_services; i++)
		if (!strcmp(m->cfg.services[i].name, service))
			iso = m->cfg.services[i].iso_text != NULL;
	if (iso != !!(req->flags & BH_REG_ISO_APPLIED)) {
		bh_log(BH_LOG_WARN, "NF '%s' (pid %d) refused: %s", name, req->pid,
		       iso ? "its service has an isolation policy, which it did not apply"
			   : "it applied an isolation policy its service does not have");
		return iso ? -EPROTONOSUPPORT : -ESTALE;
	}
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
	reg_sweep(m, s); /* nothing meant for the slot's last NF reaches this one */
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
	s->parent = req->parent < st->max_nfs && st->nfs[req->parent].service == svc &&
				    atomic_load(&st->nfs[req->parent].state) != BH_SLOT_FREE
			    ? req->parent
			    : BH_NONE;
	s->core = (int16_t)reg_place(m, svc);
	s->poll_mode = (unsigned)svc < m->cfg.n_services && m->cfg.services[svc].poll;
	atomic_store(&s->overloaded, 0);
	if (s->core >= 0)
		for (unsigned i = 0; i < st->max_nfs; i++)
			if (i != (unsigned)slot && atomic_load(&st->nfs[i].state) != BH_SLOT_FREE &&
			    st->nfs[i].core == s->core && (s->poll_mode || st->nfs[i].poll_mode)) {
				bh_log(BH_LOG_WARN, "NF %d '%s' shares CPU %d with a polling NF (%u '%s'): "
						    "a poller holds the CPU for whole time slices; use "
						    "mode \"shared\" or give pollers their own cores",
				       slot, name, s->core, i, st->nfs[i].name);
				break;
			}
	s->generation++;
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->start_ns = mgr_now_ns();
	memset(&s->c, 0, sizeof(s->c));
	s->app_mz[0] = 0;
	atomic_store(&s->exiting, 0);
	atomic_store(&s->sleeping, 0);
	m->pidfds[slot] = pidfd;
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)slot};
	epoll_ctl(m->epfd, EPOLL_CTL_ADD, pidfd, &ev);
	m->nf_started++;
	atomic_store_explicit(&s->state, BH_SLOT_STARTING, memory_order_release);
	if (m->pending_spawn[svc] > 1) {
		/* More children of this scale-out are coming: wait for all of them and
		 * rebalance once, so a flow moves at most once for the whole change. */
		m->pending_spawn[svc]--;
	} else {
		m->pending_spawn[svc] = 0;
		reg_activate(m, (uint16_t)svc);
	}

	rep->slot = (uint16_t)slot;
	rep->service = (uint16_t)svc;
	rep->instance = inst;
	rep->generation = s->generation;
	rep->core = s->core;
	rep->poll_mode = s->poll_mode;
	mgr_event("started", s, service, "instance %u%s", inst, s->parent != BH_NONE ? ", child NF" : "");
	bh_log(BH_LOG_INFO, "NF %d '%s' (pid %d) registered: service '%s' instance %u%s%s", slot,
	       name, req->pid, service, inst, s->parent != BH_NONE ? ", child NF" : "",
	       s->poll_mode ? ", polling" : "");
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
		if (rep.status < 0 && rep.status != -EPROTONOSUPPORT && rep.status != -ESTALE)
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
	m->pending_spawn = calloc(st->max_services, sizeof(*m->pending_spawn));
	m->pending_since = calloc(st->max_services, sizeof(*m->pending_since));
	m->scale_target = calloc(st->max_services, sizeof(*m->scale_target));
	if (!m->pidfds || !m->pending_spawn || !m->pending_since || !m->scale_target)
		return -ENOMEM;
	for (unsigned i = 0; i < st->max_nfs; i++) {
		m->pidfds[i] = -1;
		st->nfs[i].id = (uint16_t)i;
		st->nfs[i].service = BH_NONE;
		st->nfs[i].parent = BH_NONE;
		st->nfs[i].core = -1;
	}
	for (unsigned i = 0; i < st->max_services; i++)
		for (unsigned b = 0; b < BH_RETA_SIZE; b++) {
			atomic_store(&st->services[i].reta[b], BH_NONE);
			st->services[i].reta_prev[b] = BH_NONE;
		}
	for (unsigned i = 0; i < m->cfg.n_services; i++)
		snprintf(st->services[i].name, BH_NAME_LEN, "%s", m->cfg.services[i].name);
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
	free(m->pending_spawn);
	free(m->pending_since);
	free(m->scale_target);
	if (m->epfd >= 0)
		close(m->epfd);
}

/* Has the NF in slot i exited (its pidfd readable) though it is not reaped yet? */
static bool reg_exited(struct mgr *m, unsigned i)
{
	int fd = m->pidfds[i];
	struct pollfd p = {.fd = fd, .events = POLLIN};
	return fd >= 0 && poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

/*
 * Wait until every other running NF and the data plane have gone round their
 * loop (or are asleep), so nobody still holds a pointer to the dead slot's ring
 * taken from the old redirection table. False if some NF did not within 200 ms.
 */
static bool reg_quiesce(struct mgr *m, uint16_t dead)
{
	struct bh_state *st = m->st;
	uint64_t *seen = calloc(st->max_nfs, sizeof(*seen));
	uint64_t mgr_seen = atomic_load(&st->mgr_epoch);
	uint64_t deadline = mgr_now_ns() + 200000000ull;
	bool quiet = false;
	if (!seen)
		return false;
	for (unsigned i = 0; i < st->max_nfs; i++)
		seen[i] = atomic_load(&st->nfs[i].epoch);
	for (;;) {
		int busy = !atomic_load(&st->mgr_parked) && atomic_load(&st->mgr_epoch) == mgr_seen;
		for (unsigned i = 0; i < st->max_nfs && !busy; i++) {
			struct bh_nf_slot *s = &st->nfs[i];
			uint32_t state = atomic_load(&s->state);
			if (i == dead || state == BH_SLOT_FREE || state == BH_SLOT_DEAD)
				continue; /* every live NF may be a producer, paused or not */
			if (atomic_load(&s->exiting) || reg_exited(m, i))
				continue; /* done: it will not enqueue again (its reap is next) */
			if (!atomic_load(&s->sleeping) && atomic_load(&s->epoch) == seen[i])
				busy = 1;
		}
		if (!busy) {
			quiet = true;
			break;
		}
		if (mgr_now_ns() > deadline)
			break;
		usleep(200);
	}
	free(seen);
	return quiet;
}

/* Empty s's rx ring, the caller its only consumer, and free what it held
 * (with tagged_only, only packets tagged as s's). Returns how many were freed. */
static unsigned reg_drain_rx(struct bh_nf_slot *s, bool tagged_only)
{
	struct rte_mbuf *pkts[64];
	unsigned n, freed = 0;
	while ((n = rte_ring_dequeue_burst(s->rx, (void **)pkts, 64, NULL)) > 0) {
		unsigned k = n;
		if (tagged_only) {
			k = 0;
			for (unsigned i = 0; i < n; i++)
				if (bh_meta(pkts[i])->owner == (uint16_t)(s->id + 1))
					pkts[k++] = pkts[i];
		}
		bh_free_bulk(pkts, k);
		freed += k;
	}
	return freed;
}

/*
 * Free what sits in the rx ring of a FREE slot. Nothing should: the reaper
 * empties a dead NF's ring once every producer went round its loop. But a
 * producer that did not (preempted for longer than reg_quiesce waits) may
 * still put a burst there afterwards, and nobody else would ever take it out:
 * those packets are freed here, by the control thread's sweep and before a
 * new NF takes the slot (they were meant for the one that died). Caller holds
 * m->lock, so no registration makes the slot anyone else's meanwhile.
 */
static unsigned reg_sweep(struct mgr *m, struct bh_nf_slot *s)
{
	if (!s->rx || atomic_load(&s->state) != BH_SLOT_FREE)
		return 0;
	/* A packet put there while the reclaim walk ran may have been freed by
	 * it (and taken since by someone else): the walk clears the tag, a packet
	 * enqueued here carries the slot's. */
	unsigned freed = reg_drain_rx(s, true);
	if (freed) {
		m->mbufs_swept += freed;
		bh_log(BH_LOG_WARN, "slot %u: freed %u packets that reached its ring after its NF '%s' "
				    "was reclaimed", s->id, freed, s->name);
	}
	return freed;
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
	uint64_t freed = 0;

	pthread_mutex_lock(&m->lock);
	uint32_t was = atomic_exchange(&s->state, BH_SLOT_DEAD);
	bh_overload_set(st, s, 0);
	/* A planned stop rebalances; a death moves only the dead instance's flows. */
	reg_reta_rebuild(m, s->service, was == BH_SLOT_STOPPING ? MGR_RETA_BALANCE : MGR_RETA_KEEP);
	if (m->pidfds[slot] >= 0) {
		epoll_ctl(m->epfd, EPOLL_CTL_DEL, m->pidfds[slot], NULL);
		close(m->pidfds[slot]);
		m->pidfds[slot] = -1;
	}
	pthread_mutex_unlock(&m->lock);

	if (!reg_quiesce(m, slot))
		bh_log(BH_LOG_WARN, "NF %u '%s': some producer did not go round its loop within "
				    "200 ms; packets it sends to the slot later are freed by the sweep",
		       slot, s->name);
	/* Nobody enqueues to the dead slot any more; this thread is its consumer now. */
	freed += reg_drain_rx(s, false);
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
	int status, clean = was == BH_SLOT_STOPPING || atomic_load(&s->exiting);
	if (waitpid(s->pid, &status, WNOHANG) == s->pid) /* an NF the manager started */
		clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	if (clean)
		mgr_event("stopped", s, st->services[s->service].name, "reclaimed %lu packets",
			  (unsigned long)freed);
	else
		mgr_event("crashed", s, st->services[s->service].name,
			  "exited without stopping; reclaimed %lu packets", (unsigned long)freed);
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

static int reg_send(struct bh_nf_slot *s, uint32_t type, uint32_t arg)
{
	struct bh_msg msg = {.type = type, .arg = arg};
	if (rte_ring_enqueue_elem(s->msg, &msg, sizeof(msg)) < 0)
		return -ENOBUFS;
	bh_doorbell_kick(&s->doorbell);
	return 0;
}

int mgr_service_scale(struct mgr *m, const char *service, unsigned want, char *err, size_t errlen)
{
	struct bh_state *st = m->st;
	uint16_t stop[BH_RETA_SIZE];
	unsigned n_stop = 0, cur = 0;
	int svc = -1, parent = -1, rc = 0;

	pthread_mutex_lock(&m->lock);
	for (unsigned i = 0; i < st->max_services; i++)
		if (st->services[i].name[0] && !strcmp(st->services[i].name, service))
			svc = (int)i;
	if (svc < 0) {
		snprintf(err, errlen, "no service named '%s'", service);
		rc = -ENOENT;
		goto out;
	}
	if (want > st->max_nfs || want > BH_RETA_SIZE) {
		snprintf(err, errlen, "instances: at most %u", RTE_MIN(st->max_nfs, (unsigned)BH_RETA_SIZE));
		rc = -ERANGE;
		goto out;
	}
	/* Running instances, lowest instance number first (the parent of new ones). */
	for (unsigned inst = 0, seen = 0; seen < st->services[svc].n_instances && inst < 65535; inst++)
		for (unsigned i = 0; i < st->max_nfs; i++) {
			struct bh_nf_slot *s = &st->nfs[i];
			if (s->service != svc || s->instance != inst ||
			    atomic_load(&s->state) != BH_SLOT_RUNNING)
				continue;
			seen++;
			if (parent < 0)
				parent = (int)i;
			if (++cur > want)
				stop[n_stop++] = (uint16_t)i;
		}
	/* Children of a scale-out under way: registered (waiting for their batch) or not yet. */
	unsigned starting = 0;
	for (unsigned i = 0; i < st->max_nfs; i++)
		starting += st->nfs[i].service == svc && atomic_load(&st->nfs[i].state) == BH_SLOT_STARTING;
	unsigned have = cur + starting + m->pending_spawn[svc];
	m->scale_target[svc] = want + 1;
	if (want > have) {
		if (parent < 0) {
			snprintf(err, errlen, "service '%s' has no running instance to spawn from", service);
			rc = -ENOENT;
			goto out;
		}
		rc = reg_send(&st->nfs[parent], BH_MSG_SPAWN, want - have);
		if (rc == 0) {
			m->pending_spawn[svc] += want - have;
			m->pending_since[svc] = mgr_now_ns();
			bh_log(BH_LOG_INFO, "scale '%s' %u -> %u: NF %d spawns %u child(ren)", service,
			       cur, want, parent, want - have);
			mgr_event("scaled", NULL, service, "%u -> %u instances", cur, want);
		}
		goto out;
	}
	if (n_stop == 0)
		goto out;
	/* Out of the redirection table first; once no producer can still be using the
	 * old table, tell them to drain and stop. */
	for (unsigned k = 0; k < n_stop; k++)
		atomic_store(&st->nfs[stop[k]].state, BH_SLOT_STOPPING);
	reg_reta_rebuild(m, (uint16_t)svc, MGR_RETA_BALANCE);
	pthread_mutex_unlock(&m->lock);
	reg_quiesce(m, BH_NONE);
	bh_log(BH_LOG_INFO, "scale '%s' %u -> %u: stopping %u instance(s)", service, cur, want, n_stop);
	mgr_event("scaled", NULL, service, "%u -> %u instances", cur, want);
	for (unsigned k = 0; k < n_stop; k++)
		reg_send(&st->nfs[stop[k]], BH_MSG_STOP, 0);
	return 0;
out:
	pthread_mutex_unlock(&m->lock);
	return rc;
}

int mgr_nf_control(struct mgr *m, unsigned id, enum mgr_nf_op op, char *err, size_t errlen)
{
	struct bh_state *st = m->st;
	static const char *const names[] = {"stop", "pause", "resume"};
	if (id >= st->max_nfs) {
		snprintf(err, errlen, "no NF %u", id);
		return -ENOENT;
	}
	struct bh_nf_slot *s = &st->nfs[id];
	pthread_mutex_lock(&m->lock);
	uint32_t state = atomic_load(&s->state);
	if (state == BH_SLOT_FREE || state == BH_SLOT_DEAD) {
		pthread_mutex_unlock(&m->lock);
		snprintf(err, errlen, "no NF %u", id);
		return -ENOENT;
	}
	uint32_t want = op == MGR_NF_STOP ? BH_SLOT_STOPPING : op == MGR_NF_PAUSE ? BH_SLOT_PAUSED : BH_SLOT_RUNNING;
	int ok = op == MGR_NF_STOP ? state != BH_SLOT_STOPPING
		 : op == MGR_NF_PAUSE ? state == BH_SLOT_RUNNING
				      : state == BH_SLOT_PAUSED;
	if (!ok) {
		pthread_mutex_unlock(&m->lock);
		snprintf(err, errlen, "NF %u is %s: cannot %s it", id,
			 state == BH_SLOT_STOPPING ? "stopping" : state == BH_SLOT_PAUSED ? "paused"
				 : state == BH_SLOT_STARTING ? "starting" : "running", names[op]);
		return -EBUSY;
	}
	atomic_store(&s->state, want);
	/* Pausing moves only this instance's flows; resuming (and stopping)
	 * rebalances, and flows go back where they were when they can. */
	reg_reta_rebuild(m, s->service, op == MGR_NF_PAUSE ? MGR_RETA_KEEP : MGR_RETA_BALANCE);
	const char *svc = st->services[s->service].name;
	pthread_mutex_unlock(&m->lock);
	mgr_event(op == MGR_NF_STOP ? "stopping" : op == MGR_NF_PAUSE ? "paused" : "resumed", s, svc,
		  "by request");
	bh_log(BH_LOG_INFO, "NF %u '%s': %s", id, s->name, names[op]);
	if (op == MGR_NF_STOP) {
		reg_quiesce(m, BH_NONE);
		return reg_send(s, BH_MSG_STOP, 0);
	}
	return 0;
}

int mgr_service_id(struct mgr *m, const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n >= BH_NAME_LEN)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
		      (name[i] >= '0' && name[i] <= '9') || name[i] == '_' || name[i] == '-' || name[i] == '.'))
			return -EINVAL;
	pthread_mutex_lock(&m->lock);
	int id = reg_service(m, name);
	pthread_mutex_unlock(&m->lock);
	return id;
}

int mgr_registry_knows(struct mgr *m, int pid)
{
	for (unsigned i = 0; i < m->st->max_nfs; i++)
		if (atomic_load(&m->st->nfs[i].state) != BH_SLOT_FREE && m->st->nfs[i].pid == pid)
			return 1;
	return 0;
}
