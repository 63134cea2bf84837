/* SPDX-License-Identifier: MIT */
/*
 * The manager's data plane: ports -> flow director -> first NF of the chain,
 * and NFs' tx rings -> ports. One thread, polling while there is traffic.
 *
 * When idle it sleeps in poll() on real events, so an idle platform costs
 * nothing and wakes within microseconds:
 *   - its eventfd doorbell, which NFs write when they queue packets for a port;
 *   - per port with a kernel interface (af_packet, tap), a raw packet
 *     socket on that interface whose BPF filter drops everything while the
 *     manager polls (no cost under load) and is switched to "accept" just
 *     before it sleeps; the packet it wakes on is read by the port as usual;
 *   - per af_xdp port, the port's own AF_XDP socket (readable while its
 *     receive ring holds frames): the XDP program hands the interface's
 *     frames to it before any packet socket could see them.
 * Ports without an interface (null, ring, memif) fall back to a timed sleep
 * that grows to DP_MAX_SLEEP_NS.
 */
#include <errno.h>
#include <sched.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <linux/if_ether.h>
#include <net/if.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <poll.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>

#include <rte_ethdev.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "bulkhead/log.h"
#include "bulkhead/net.h"
#include "bulkhead/nf.h"
#include "bulkhead/steer.h"
#include "mgr/mgr.h"

#define DP_SPIN_LOOPS 1024
#define DP_YIELD_EVERY 64 /* empty passes between yields while spinning */
#define DP_MIN_SLEEP_NS 10000ull
#define DP_MAX_SLEEP_NS 1000000ull

struct dp_bucket {
	uint16_t slot;
	uint16_t n;
	struct rte_mbuf **pkts;
};

struct dp {
	struct mgr *m;
	struct pollfd *pfd; /* [0]: the doorbell eventfd, then one per port that can wake us */
	unsigned n_pfd;
	unsigned n_raw;     /* pfd[1..n_raw]: packet sockets; the rest, AF_XDP sockets */
	int timed;          /* a port cannot wake us: bound the sleep */
	int pool_was_empty;
	unsigned burst;
	struct rte_mbuf **rx;
	struct dp_bucket *b; /* [burst] */
	unsigned n_b;
	struct rte_mbuf ***txq; /* [port][burst] */
	unsigned *n_txq;
	struct rte_mbuf **drops;
	unsigned n_drops;
};

static void dp_drop(struct dp *d, struct mgr_port *p, struct rte_mbuf *m, enum bh_port_drop why)
{
	p->drops[why]++;
	d->drops[d->n_drops++] = m;
	if (d->n_drops == d->burst) {
		bh_free_bulk(d->drops, d->n_drops);
		d->n_drops = 0;
	}
}

static void dp_tx_flush(struct dp *d, uint16_t port)
{
	struct mgr_port *p = &d->m->ports[port];
	unsigned n = d->n_txq[port];
	struct rte_mbuf **q = d->txq[port];
	if (!n)
		return;
	uint64_t bytes = 0;
	for (unsigned i = 0; i < n; i++)
		bytes += rte_pktmbuf_pkt_len(q[i]);
	/* NB: tx_burst takes ownership of the first k. */
	unsigned k = rte_eth_tx_burst(p->eth_id, 0, q, (uint16_t)n);
	for (unsigned i = k; i < n; i++) {
		bytes -= rte_pktmbuf_pkt_len(q[i]);
		dp_drop(d, p, q[i], BH_PDROP_tx_full);
	}
	p->tx_pkts += k;
	p->tx_bytes += bytes;
	d->n_txq[port] = 0;
}

static void dp_tx(struct dp *d, uint16_t port, struct rte_mbuf *m)
{
	bh_meta(m)->owner = 0;
	d->txq[port][d->n_txq[port]++] = m;
	if (d->n_txq[port] == d->burst)
		dp_tx_flush(d, port);
}

static void dp_steer_flush(struct dp *d, struct mgr_port *p)
{
	for (unsigned i = 0; i < d->n_b; i++) {
		struct dp_bucket *b = &d->b[i];
		unsigned k = bh_steer_to_slot(d->m->st, b->slot, b->pkts, b->n);
		for (unsigned j = k; j < b->n; j++)
			dp_drop(d, p, b->pkts[j], BH_PDROP_ring_full);
		b->n = 0;
	}
	d->n_b = 0;
}

static void dp_steer(struct dp *d, struct mgr_port *p, struct rte_mbuf *m, uint16_t slot)
{
	struct dp_bucket *b = NULL;
	for (unsigned i = 0; i < d->n_b; i++)
		if (d->b[i].slot == slot) {
			b = &d->b[i];
			break;
		}
	if (!b) {
		b = &d->b[d->n_b++];
		b->slot = slot;
		b->n = 0;
	}
	b->pkts[b->n++] = m;
}

/*
 * Backpressure: is an instance this flow would reach further along its chain
 * overloaded? Then the packet is dropped here, at the entry, before any NF
 * spends work on it. Only looked at while some NF is overloaded.
 */
static int dp_congested(const struct bh_state *st, const struct bh_chain *c, uint32_t hash)
{
	for (unsigned h = 1; h < c->len; h++) {
		uint16_t slot = bh_steer_pick(st, st->hops[c->first + h], hash);
		if (slot != BH_NONE && atomic_load_explicit(&st->nfs[slot].overloaded, memory_order_relaxed))
			return 1;
	}
	return 0;
}

/* Classify one received burst (n <= burst, so buckets cannot overflow). */
static void dp_classify(struct dp *d, uint16_t port, struct rte_mbuf **pkts, unsigned n)
{
	struct mgr *m = d->m;
	struct bh_state *st = m->st;
	struct mgr_port *p = &m->ports[port];
	/* One load per burst: a rule change swaps the whole director. */
	struct mgr_flowdir *fd = atomic_load_explicit(&m->fd, memory_order_acquire);

	for (unsigned i = 0; i < n; i++) {
		struct rte_mbuf *mb = pkts[i];
		struct bh_meta *md = bh_meta(mb);
		struct bh_flow_key k;

		p->rx_bytes += rte_pktmbuf_pkt_len(mb);
		bh_flow_parse(rte_pktmbuf_mtod(mb, void *), rte_pktmbuf_data_len(mb), &k);
		md->flow_hash = bh_flow_hash_sym(&k);
		md->chain = mgr_flowdir_lookup(fd, &k, port);
		md->hop = 0;
		md->dest = BH_NONE;
		md->owner = 0;
		md->action = BH_ACT_NEXT;
		md->in_port = (uint8_t)port;
		if (md->chain == BH_NONE) {
			dp_drop(d, p, mb, BH_PDROP_no_chain);
			continue;
		}
		const struct bh_chain *c = &st->chains[md->chain];
		if (c->len == 0) {
			if (c->out_port >= st->n_ports)
				dp_drop(d, p, mb, BH_PDROP_bad_port);
			else
				dp_tx(d, c->out_port, mb);
			continue;
		}
		uint16_t slot = bh_steer_pick(st, st->hops[c->first], md->flow_hash);
		if (slot == BH_NONE) {
			dp_drop(d, p, mb, BH_PDROP_no_instance);
			continue;
		}
		if (atomic_load_explicit(&st->n_overloaded, memory_order_relaxed) &&
		    (atomic_load_explicit(&st->nfs[slot].overloaded, memory_order_relaxed) ||
		     dp_congested(st, c, md->flow_hash))) {
			dp_drop(d, p, mb, BH_PDROP_backpressure);
			continue;
		}
		dp_steer(d, p, mb, slot);
	}
	p->rx_pkts += n;
	dp_steer_flush(d, p);
}

/* Drain NFs' tx rings: dead NFs' rings too (the reclaimer waits on them), and
 * free slots' (a ring the reclaimer stopped waiting on must not keep its packets). */
static unsigned dp_drain_nfs(struct dp *d)
{
	struct bh_state *st = d->m->st;
	unsigned work = 0, hi = atomic_load_explicit(&d->m->nf_slots_hi, memory_order_acquire);
	for (unsigned s = 0; s < hi; s++) {
		struct bh_nf_slot *slot = &st->nfs[s];
		if (!slot->tx)
			continue;
		unsigned n = rte_ring_dequeue_burst(slot->tx, (void **)d->rx, d->burst, NULL);
		for (unsigned i = 0; i < n; i++) {
			uint16_t port = bh_meta(d->rx[i])->dest;
			if (port >= st->n_ports)
				dp_drop(d, &d->m->ports[0], d->rx[i], BH_PDROP_bad_port);
			else
				dp_tx(d, port, d->rx[i]);
		}
		work += n;
	}
	return work;
}

static struct sock_filter dp_bpf_drop[] = {{BPF_RET | BPF_K, 0, 0, 0}};
static struct sock_filter dp_bpf_accept[] = {{BPF_RET | BPF_K, 0, 0, 1}};

static int dp_filter(int fd, int accept)
{
	struct sock_fprog prog = {.len = 1, .filter = accept ? dp_bpf_accept : dp_bpf_drop};
	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog));
}

int mgr_xsk_fds(int *fds, int max)
{
	DIR *dir = opendir("/proc/self/fd");
	if (!dir)
		return -errno;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(dir)) && n < max) {
		char *end;
		long fd = strtol(e->d_name, &end, 10);
		int domain;
		socklen_t len = sizeof(domain);
		if (*end || end == e->d_name || fd == dirfd(dir))
			continue;
		if (getsockopt((int)fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 && domain == AF_XDP)
			fds[n++] = (int)fd;
	}
	closedir(dir);
	return n;
}

/*
 * A wake-up socket on the port's interface ("iface=NAME" in its spec), or -1.
 * Called in the interface's network namespace, when the port is attached.
 */
int mgr_wake_socket(const char *dev)
{
	const char *p = strstr(dev, "iface=");
	char ifname[IF_NAMESIZE];
	size_t n;
	if (!p)
		return -1;
	p += 6;
	n = strcspn(p, ",");
	if (n == 0 || n >= sizeof(ifname))
		return -1;
	memcpy(ifname, p, n);
	ifname[n] = 0;
	unsigned idx = if_nametoindex(ifname);
	if (!idx)
		return -1;
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int rcvbuf = 4096;
	struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
				  .sll_ifindex = (int)idx};
	if (dp_filter(fd, 0) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) < 0 ||
	    bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* d->pfd: [0] the eventfd, [1, n_raw] the ports' packet sockets, then the
 * ports' AF_XDP sockets (nothing to arm or drain: the port reads them). */
static void dp_wake_arm(struct dp *d, int on)
{
	for (unsigned i = 1; i <= d->n_raw; i++)
		dp_filter(d->pfd[i].fd, on);
}

static void dp_wake_drain(struct dp *d)
{
	char buf[64];
	uint64_t v;
	if (read(d->pfd[0].fd, &v, sizeof(v)) < 0) {
		/* nothing pending */
	}
	for (unsigned i = 1; i <= d->n_raw; i++)
		while (recv(d->pfd[i].fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC) >= 0)
			;
}

static int dp_init(struct dp *d, struct mgr *m)
{
	unsigned np = m->st->n_ports;
	memset(d, 0, sizeof(*d));
	d->m = m;
	d->burst = m->cfg.burst;
	d->rx = calloc(d->burst, sizeof(void *));
	d->drops = calloc(d->burst, sizeof(void *));
	d->b = calloc(d->burst, sizeof(*d->b));
	d->txq = calloc(np, sizeof(*d->txq));
	d->n_txq = calloc(np, sizeof(*d->n_txq));
	if (!d->rx || !d->drops || !d->b || !d->txq || !d->n_txq)
		return -ENOMEM;
	for (unsigned i = 0; i < d->burst; i++)
		if (!(d->b[i].pkts = calloc(d->burst, sizeof(void *))))
			return -ENOMEM;
	for (unsigned i = 0; i < np; i++)
		if (!(d->txq[i] = calloc(d->burst, sizeof(void *))))
			return -ENOMEM;
	d->pfd = calloc(np + 1, sizeof(*d->pfd));
	if (!d->pfd)
		return -ENOMEM;
	d->pfd[0] = (struct pollfd){.fd = m->st->mgr_efd, .events = POLLIN};
	d->n_pfd = 1;
	for (int xsk = 0; xsk <= 1; xsk++) {
		for (unsigned i = 0; i < np; i++) {
			int fd = m->ports[i].wake_fd;
			if (fd < 0)
				d->timed = 1;
			else if (m->ports[i].wake_xsk == xsk)
				d->pfd[d->n_pfd++] = (struct pollfd){.fd = fd, .events = POLLIN};
		}
		if (!xsk)
			d->n_raw = d->n_pfd - 1;
	}
	return 0;
}

static void dp_fini(struct dp *d)
{
	for (unsigned i = 0; d->b && i < d->burst; i++)
		free(d->b[i].pkts);
	for (unsigned i = 0; d->txq && i < d->m->st->n_ports; i++)
		free(d->txq[i]);
	free(d->pfd); /* the wake sockets belong to the ports */
	free(d->rx);
	free(d->drops);
	free(d->b);
	free(d->txq);
	free(d->n_txq);
}

/* One pass over every port and every NF's tx ring. Returns the packets moved. */
static unsigned dp_pass(struct dp *d)
{
	struct mgr *m = d->m;
	struct bh_state *st = m->st;
	unsigned work = 0;

	atomic_store_explicit(&st->mgr_epoch, st->mgr_epoch + 1, memory_order_release);
	m->dp.loops++;
	for (uint16_t p = 0; p < st->n_ports; p++) {
		uint16_t n = rte_eth_rx_burst(m->ports[p].eth_id, 0, d->rx, (uint16_t)d->burst);
		if (n)
			dp_classify(d, p, d->rx, n);
		work += n;
	}
	if (!work) {
		/* Ports cannot receive into an empty pool; af_packet leaves such packets
		 * in the kernel and does not count what the kernel then drops. */
		int empty = rte_mempool_avail_count(st->pool) == 0;
		if (empty && !d->pool_was_empty)
			m->dp.pool_empty++;
		d->pool_was_empty = empty;
	}
	work += dp_drain_nfs(d);
	for (uint16_t p = 0; p < st->n_ports; p++)
		dp_tx_flush(d, p);
	if (d->n_drops) {
		bh_free_bulk(d->drops, d->n_drops);
		d->n_drops = 0;
	}
	return work;
}

int mgr_dataplane_run(struct mgr *m)
{
	struct bh_state *st = m->st;
	struct dp d;
	unsigned idle = 0;
	uint64_t sleep_ns = DP_MIN_SLEEP_NS;
	int rc = dp_init(&d, m);
	if (rc < 0)
		goto out;

	while (!m->stop) {
		if (dp_pass(&d)) {
			idle = 0;
			sleep_ns = DP_MIN_SLEEP_NS;
			continue;
		}
		m->dp.idle_loops++;
		if (++idle < DP_SPIN_LOOPS) {
			/* An NF sharing this CPU may be what we wait for: let it
			 * run now and then instead of spinning through its slice. */
			if (!(idle & (DP_YIELD_EVERY - 1)))
				sched_yield();
			continue;
		}
		/*
		 * Sleep protocol: announce it (NFs then ring the eventfd), open the
		 * wake sockets, look once more, and only then wait. Anything that
		 * arrives after the last look wakes the poll().
		 */
		atomic_store(&st->mgr_sleeping, 1);
		dp_wake_arm(&d, 1);
		if (!dp_pass(&d) && !m->stop) {
			struct timespec ts = {.tv_sec = d.timed ? 0 : 1,
					      .tv_nsec = d.timed ? (long)sleep_ns : 0};
			m->dp.sleeps++;
			atomic_store(&st->mgr_parked, 1);
			ppoll(d.pfd, d.n_pfd, &ts, NULL);
			atomic_store(&st->mgr_parked, 0);
			dp_wake_drain(&d);
			if (sleep_ns < DP_MAX_SLEEP_NS)
				sleep_ns *= 2;
		} else {
			idle = 0;
		}
		dp_wake_arm(&d, 0);
		atomic_store(&st->mgr_sleeping, 0);
	}
out:
	dp_fini(&d);
	return rc;
}
