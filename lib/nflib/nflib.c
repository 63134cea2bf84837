/* SPDX-License-Identifier: MIT */
/*
 * nflib: attach to the manager, run the packet loop, dispatch verdicts.
 *
 * Packets go straight to the next NF's ring; only packets leaving through a port
 * pass the manager (through this NF's tx ring). Each NF is single-threaded, so
 * the per-destination buckets below need no locking.
 */
#include <errno.h>
#include <getopt.h>
#include <linux/futex.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_memzone.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "bulkhead/nf.h"
#include "bulkhead/steer.h"

int bh_meta_offset = -1;

#define NFL_SPIN_LOOPS 256              /* empty polls before sleeping */
#define NFL_MAX_SLEEP_NS 500000000ull   /* re-check the manager at least this often */
#define NFL_WATCHED_SLEEP_NS 60000000000ull /* ... when the kernel tells its death (mgr_alive) */

struct nfl_bucket {
	uint16_t slot;
	uint16_t n;
	struct rte_mbuf **pkts;
};

struct bh_nf {
	struct bh_state *st;
	struct bh_nf_slot *slot;
	uint16_t id;
	uint16_t burst;
	volatile sig_atomic_t stop;
	int drain; /* stopped by the manager: finish what is in the ring first */
	int mgr_pidfd;
	int mgr_efd; /* our copy of the manager's doorbell eventfd */
	_Atomic uint32_t *alive; /* the slot's mgr_alive lock word, or NULL: look instead */
	int quiet;
	int poll_mode; /* busy-poll: never sleep */
	/* dispatch scratch, sized by burst */
	struct nfl_bucket *buckets;
	uint16_t n_buckets;
	struct rte_mbuf **tx, **drops;
	uint16_t n_tx, n_drops;
	unsigned hi_mark, lo_mark; /* rx ring occupancy: overloaded above hi, until below lo */
	struct rte_mbuf **rx;
	const struct rte_memzone *app_mz;
};

static struct bh_nf *nfl_current; /* for the signal handler */
static char **nfl_argv;           /* the program's arguments, for child NFs */

uint64_t bh_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int bh_nf_parse_args(int argc, char **argv, struct bh_nf_conf *conf)
{
	int i = 1;
	nfl_argv = argv;
	if (!conf->prefix)
		conf->prefix = "bulkhead";
	while (i < argc) {
		const char *a = argv[i];
		const char **dst = NULL;
		if (!strcmp(a, "--")) {
			i++;
			break;
		}
		if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
			conf->quiet = true;
			i++;
			continue;
		}
		if (!strcmp(a, "-P") || !strcmp(a, "--prefix"))
			dst = &conf->prefix;
		else if (!strcmp(a, "-s") || !strcmp(a, "--service"))
			dst = &conf->service;
		else if (!strcmp(a, "-n") || !strcmp(a, "--name"))
			dst = &conf->name;
		else if (a[0] == '-' && strcmp(a, "-h") && strcmp(a, "--help")) {
			fprintf(stderr, "%s: unknown option '%s' (NF options: -P prefix, "
					"-s service, -n name, -q, then -- and the NF's own)\n",
				argv[0], a);
			return -EINVAL;
		} else
			break; /* first NF-specific argument */
		if (i + 1 >= argc || !argv[i + 1][0]) {
			fprintf(stderr, "%s: option '%s' needs a value\n", argv[0], a);
			return -EINVAL;
		}
		*dst = argv[i + 1];
		i += 2;
	}
	if (!conf->service || !conf->service[0]) {
		fprintf(stderr, "%s: no service name (-s NAME)\n", argv[0]);
		return -EINVAL;
	}
	if (strlen(conf->service) >= BH_NAME_LEN ||
	    (conf->name && strlen(conf->name) >= BH_NAME_LEN)) {
		fprintf(stderr, "%s: service and NF names are at most %d bytes\n", argv[0],
			BH_NAME_LEN - 1);
		return -EINVAL;
	}
	return i;
}

static void nfl_on_signal(int sig)
{
	(void)sig;
	if (nfl_current)
		bh_nf_request_stop(nfl_current);
}

void bh_nf_request_stop(struct bh_nf *nf)
{
	nf->stop++;
	if (nf->slot)
		bh_doorbell_kick(&nf->slot->doorbell);
}

void bh_nf_kick(struct bh_nf *nf)
{
	if (nf->slot)
		bh_doorbell_kick(&nf->slot->doorbell);
}

static int nfl_register(struct bh_nf *nf, const struct bh_nf_conf *conf,
			struct bh_reg_reply *out)
{
	struct rte_mp_msg req;
	struct rte_mp_reply rep;
	struct timespec ts = {.tv_sec = 5};
	struct bh_reg_req r;
	int rc;

	memset(&req, 0, sizeof(req));
	memset(&r, 0, sizeof(r));
	r.pid = getpid();
	r.parent = BH_NONE;
	const char *parent = getenv("BH_PARENT");
	if (parent && *parent)
		r.parent = (uint16_t)strtoul(parent, NULL, 10);
	r.flags = conf->iso_applied ? BH_REG_ISO_APPLIED : 0;
	snprintf(r.service, sizeof(r.service), "%s", conf->service);
	snprintf(r.name, sizeof(r.name), "%s", conf->name ? conf->name : conf->service);
	snprintf(req.name, sizeof(req.name), "%s", BH_MP_REGISTER);
	req.len_param = sizeof(r);
	memcpy(req.param, &r, sizeof(r));
	if (rte_mp_request_sync(&req, &rep, &ts) < 0 || rep.nb_received != 1) {
		rc = -ETIMEDOUT;
		goto out;
	}
	if (rep.msgs[0].len_param != sizeof(*out)) {
		rc = -EPROTO;
		goto out;
	}
	memcpy(out, rep.msgs[0].param, sizeof(*out));
	rc = out->status;
out:
	free(rep.msgs);
	(void)nf;
	return rc;
}

static int nfl_alloc_scratch(struct bh_nf *nf)
{
	unsigned b = nf->burst;
	nf->buckets = calloc(b, sizeof(*nf->buckets));
	nf->tx = calloc(b, sizeof(void *));
	nf->drops = calloc(b, sizeof(void *));
	nf->rx = calloc(b, sizeof(void *));
	if (!nf->buckets || !nf->tx || !nf->drops || !nf->rx)
		return -ENOMEM;
	for (unsigned i = 0; i < b; i++) {
		nf->buckets[i].pkts = calloc(b, sizeof(void *));
		if (!nf->buckets[i].pkts)
			return -ENOMEM;
	}
	return 0;
}

static void nfl_free_scratch(struct bh_nf *nf)
{
	if (nf->buckets)
		for (unsigned i = 0; i < nf->burst; i++)
			free(nf->buckets[i].pkts);
	free(nf->buckets);
	free(nf->tx);
	free(nf->drops);
	free(nf->rx);
}

struct bh_nf *bh_nf_attach(const struct bh_nf_conf *conf)
{
	char prefix_arg[128], lcores_arg[64];
	const char *prog = "bh-nf";
	struct bh_reg_reply reply;
	const struct rte_memzone *mz;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	struct bh_nf *nf;
	int rc;

	nf = calloc(1, sizeof(*nf));
	if (!nf)
		return NULL;
	nf->mgr_pidfd = -1;
	nf->mgr_efd = -1;
	nf->quiet = conf->quiet;
	snprintf(prefix_arg, sizeof(prefix_arg), "--file-prefix=%s",
		 conf->prefix ? conf->prefix : "bulkhead");
	/* lcore 0 may float over every CPU: placement is the scheduler's (or the caller's
	 * taskset). The shared mbuf pool has no per-lcore cache, so NFs sharing lcore
	 * id 0 is safe. */
	snprintf(lcores_arg, sizeof(lcores_arg), "--lcores=0@(0-%ld)", ncpu > 1 ? ncpu - 1 : 0);
	char *eal_argv[] = {(char *)prog, "--proc-type=secondary", "--no-pci", prefix_arg,
			    lcores_arg, "--log-level=lib.eal:error", "--log-level=pmd:error",
			    "--no-telemetry", NULL};
	int eal_argc = (int)(sizeof(eal_argv) / sizeof(eal_argv[0])) - 1;
	if (rte_eal_init(eal_argc, eal_argv) < 0) {
		fprintf(stderr, "nflib: cannot attach to manager '%s': is it running with that "
				"prefix (-P)?\n",
			conf->prefix ? conf->prefix : "bulkhead");
		free(nf);
		return NULL;
	}
	mz = rte_memzone_lookup(BH_STATE_MZ);
	if (!mz || ((struct bh_state *)mz->addr)->magic != BH_STATE_MAGIC) {
		fprintf(stderr, "nflib: the manager's shared state is missing\n");
		goto fail;
	}
	nf->st = mz->addr;
	bh_meta_offset = rte_mbuf_dynfield_lookup(BH_META_NAME, NULL);
	if (bh_meta_offset < 0) {
		fprintf(stderr, "nflib: packet metadata field not registered by the manager\n");
		goto fail;
	}
	nf->burst = (uint16_t)nf->st->nf_burst;
	if (nfl_alloc_scratch(nf) < 0) {
		fprintf(stderr, "nflib: out of memory\n");
		goto fail;
	}
	nf->mgr_pidfd = (int)syscall(SYS_pidfd_open, nf->st->mgr_pid, 0);
	if (nf->mgr_pidfd >= 0)
		nf->mgr_efd = (int)syscall(SYS_pidfd_getfd, nf->mgr_pidfd, nf->st->mgr_efd, 0);
	if (nf->mgr_efd < 0) {
		fprintf(stderr, "nflib: cannot reach the manager's doorbell (pidfd_getfd): %s\n",
			strerror(errno));
		goto fail;
	}
	rc = nfl_register(nf, conf, &reply);
	if (rc < 0) {
		fprintf(stderr, "nflib: registration as '%s' refused: %s\n", conf->service,
			rc == -ENOSPC ? "no free NF slot (limits.nfs)"
			: rc == -ETIMEDOUT ? "no answer from the manager"
			: rc == -EPROTONOSUPPORT ? "the service has an isolation policy in the manager's "
						   "config, and this NF does not apply one"
			: rc == -ESTALE ? "this NF applied an isolation policy the manager does not "
					  "have for the service"
					  : strerror(-rc));
		goto fail;
	}
	nf->id = reply.slot;
	nf->slot = &nf->st->nfs[reply.slot];
	/* futex_waitv (Linux 5.16) answers EINVAL to no futexes, ENOSYS if absent */
	if (nf->slot->mgr_watch && syscall(SYS_futex_waitv, NULL, 0, 0, NULL, 0) < 0 &&
	    errno == EINVAL)
		nf->alive = (_Atomic uint32_t *)&nf->slot->mgr_alive.__data.__lock;
	nf->poll_mode = reply.poll_mode;
	nf->hi_mark = rte_ring_get_capacity(nf->slot->rx) * 3 / 4;
	nf->lo_mark = rte_ring_get_capacity(nf->slot->rx) / 4;
	if (reply.core >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(reply.core, &set);
		if (sched_setaffinity(0, sizeof(set), &set) < 0)
			fprintf(stderr, "nflib: cannot pin to CPU %d: %s\n", reply.core, strerror(errno));
	}
	nfl_current = nf;
	struct sigaction sa = {.sa_handler = nfl_on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	char where[48] = "";
	if (reply.core >= 0)
		snprintf(where, sizeof(where), ", pinned to CPU %d", reply.core);
	if (!nf->quiet)
		printf("%s: attached as NF %u, service '%s' (id %u) instance %u%s%s\n",
		       conf->name ? conf->name : conf->service, nf->id, conf->service,
		       reply.service, reply.instance, where, nf->poll_mode ? ", polling" : "");
	fflush(stdout);
	return nf;
fail:
	if (nf->mgr_efd >= 0)
		close(nf->mgr_efd);
	if (nf->mgr_pidfd >= 0)
		close(nf->mgr_pidfd);
	nfl_free_scratch(nf);
	rte_eal_cleanup();
	free(nf);
	return NULL;
}

/* Free m with the next bulk free (drops and consumed packets alike). */
static void nfl_release(struct bh_nf *nf, struct rte_mbuf *m)
{
	nf->drops[nf->n_drops++] = m;
	if (nf->n_drops == nf->burst) {
		bh_free_bulk(nf->drops, nf->n_drops);
		nf->n_drops = 0;
	}
}

static void nfl_drop(struct bh_nf *nf, struct rte_mbuf *m, enum bh_nf_drop why)
{
	nf->slot->c.drops[why]++;
	nfl_release(nf, m);
}

static void nfl_flush(struct bh_nf *nf)
{
	struct bh_nf_counters *c = &nf->slot->c;
	for (unsigned i = 0; i < nf->n_buckets; i++) {
		struct nfl_bucket *b = &nf->buckets[i];
		unsigned k = bh_steer_to_slot(nf->st, b->slot, b->pkts, b->n);
		c->tx_pkts += k;
		for (unsigned j = k; j < b->n; j++)
			nfl_drop(nf, b->pkts[j], BH_DROP_ring_full);
		b->n = 0;
	}
	nf->n_buckets = 0;
	if (nf->n_tx) {
		for (unsigned j = 0; j < nf->n_tx; j++)
			bh_meta(nf->tx[j])->owner = 0;
		unsigned k = rte_ring_enqueue_burst(nf->slot->tx, (void **)nf->tx, nf->n_tx, NULL);
		c->tx_pkts += k;
		for (unsigned j = k; j < nf->n_tx; j++)
			nfl_drop(nf, nf->tx[j], BH_DROP_tx_full);
		if (k)
			bh_mgr_doorbell_ring(nf->st, nf->mgr_efd);
		nf->n_tx = 0;
	}
	if (nf->n_drops) {
		bh_free_bulk(nf->drops, nf->n_drops);
		nf->n_drops = 0;
	}
}

static void nfl_to_slot(struct bh_nf *nf, struct rte_mbuf *m, uint16_t slot)
{
	struct nfl_bucket *b = NULL;
	for (unsigned i = 0; i < nf->n_buckets; i++)
		if (nf->buckets[i].slot == slot) {
			b = &nf->buckets[i];
			break;
		}
	if (!b) {
		if (nf->n_buckets == nf->burst)
			nfl_flush(nf);
		b = &nf->buckets[nf->n_buckets++];
		b->slot = slot;
		b->n = 0;
	}
	b->pkts[b->n++] = m;
	if (b->n == nf->burst)
		nfl_flush(nf);
}

static void nfl_to_port(struct bh_nf *nf, struct rte_mbuf *m, uint16_t port)
{
	bh_meta(m)->dest = port;
	nf->tx[nf->n_tx++] = m;
	if (nf->n_tx == nf->burst)
		nfl_flush(nf);
}

/* Route every packet by its verdict; packets kept by the NF are skipped. */
static uint16_t nfl_dispatch(struct bh_nf *nf, struct rte_mbuf **pkts, uint16_t n)
{
	uint16_t handed = 0;
	for (uint16_t i = 0; i < n; i++) {
		uint16_t id;
		switch (bh_route(nf->st, bh_meta(pkts[i]), &id)) {
		case BH_ROUTE_NF:
			nfl_to_slot(nf, pkts[i], id);
			handed++;
			break;
		case BH_ROUTE_PORT:
			nfl_to_port(nf, pkts[i], id);
			handed++;
			break;
		case BH_ROUTE_DROP:
			nfl_drop(nf, pkts[i], (enum bh_nf_drop)id);
			break;
		case BH_ROUTE_KEEP:
			break;
		case BH_ROUTE_CONSUME:
			nf->slot->c.consumed++;
			nfl_release(nf, pkts[i]);
			break;
		}
	}
	nfl_flush(nf);
	return handed;
}

uint16_t bh_nf_send(struct bh_nf *nf, struct rte_mbuf **pkts, uint16_t n)
{
	for (uint16_t i = 0; i < n; i++)
		bh_meta(pkts[i])->owner = (uint16_t)(nf->id + 1);
	return nfl_dispatch(nf, pkts, n);
}

void bh_nf_free(struct bh_nf *nf, struct rte_mbuf **pkts, uint16_t n)
{
	nf->slot->c.drops[BH_DROP_verdict] += n;
	bh_free_bulk(pkts, n);
}

struct rte_mbuf *bh_nf_alloc(struct bh_nf *nf)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(nf->st->pool);
	if (m) {
		struct bh_meta *md = bh_meta(m);
		memset(md, 0, sizeof(*md));
		md->chain = BH_NONE;
		md->owner = (uint16_t)(nf->id + 1);
	}
	return m;
}

int bh_nf_service_id(struct bh_nf *nf, const char *name)
{
	for (unsigned i = 0; i < nf->st->max_services; i++)
		if (nf->st->services[i].name[0] && !strcmp(nf->st->services[i].name, name))
			return (int)i;
	return -ENOENT;
}

int bh_nf_port_id(struct bh_nf *nf, const char *name)
{
	for (unsigned i = 0; i < nf->st->n_ports; i++)
		if (!strcmp(nf->st->ports[i].name, name))
			return (int)i;
	return -ENOENT;
}

int bh_nf_chain_id(struct bh_nf *nf, const char *name)
{
	for (unsigned i = 0; i < nf->st->max_chains; i++)
		if (atomic_load(&nf->st->chains[i].in_use) == BH_CHAIN_ACTIVE &&
		    !strcmp(nf->st->chains[i].name, name))
			return (int)i;
	return -ENOENT;
}

const struct bh_nf_slot *bh_nf_slot(const struct bh_nf *nf) { return nf->slot; }
const struct bh_state *bh_nf_state(const struct bh_nf *nf) { return nf->st; }

struct bh_app_counter *bh_nf_app_counters(struct bh_nf *nf, const char *const *names, unsigned n)
{
	char mzname[BH_NAME_LEN];
	if (nf->app_mz)
		return NULL;
	snprintf(mzname, sizeof(mzname), "bh_app_%u_%u", nf->id, nf->slot->generation);
	const struct rte_memzone *mz =
		rte_memzone_reserve(mzname, sizeof(struct bh_app_counters) +
						    (size_t)n * sizeof(struct bh_app_counter),
				    SOCKET_ID_ANY, 0);
	if (!mz)
		return NULL;
	struct bh_app_counters *ac = mz->addr;
	for (unsigned i = 0; i < n; i++) {
		snprintf(ac->c[i].name, sizeof(ac->c[i].name), "%s", names[i]);
		ac->c[i].value = 0;
	}
	ac->n = n;
	nf->app_mz = mz;
	snprintf(nf->slot->app_mz, sizeof(nf->slot->app_mz), "%s", mzname);
	return ac->c;
}

int bh_nf_spawn(struct bh_nf *nf)
{
	extern char **environ;
	char parent[32], **envp;
	size_t n = 0, k = 0;
	pid_t pid;

	if (!nfl_argv)
		return -EINVAL;
	while (environ[n])
		n++;
	envp = calloc(n + 2, sizeof(char *));
	if (!envp)
		return -ENOMEM;
	snprintf(parent, sizeof(parent), "BH_PARENT=%u", nf->id);
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "BH_PARENT=", 10))
			envp[k++] = environ[i];
	envp[k++] = parent;
	/* Children are reaped by the kernel: they are siblings, not dependants. */
	signal(SIGCHLD, SIG_IGN);
	pid = fork();
	if (pid == 0) {
		/* Only async-signal-safe calls between fork and exec. */
		execve("/proc/self/exe", nfl_argv, envp);
		_exit(127);
	}
	free(envp);
	if (pid < 0)
		return -errno;
	nf->slot->c.children++;
	if (!nf->quiet)
		printf("nflib: NF %u spawned child pid %d\n", nf->id, (int)pid);
	fflush(stdout);
	return pid;
}

static int nfl_manager_gone(struct bh_nf *nf)
{
	if (nf->mgr_pidfd < 0)
		return kill(nf->st->mgr_pid, 0) < 0 && errno == ESRCH;
	struct pollfd p = {.fd = nf->mgr_pidfd, .events = POLLIN};
	return poll(&p, 1, 0) > 0;
}

/* The manager's main thread ended (its robust lock marked dead or let go). */
static bool nfl_alive_gone(const struct bh_nf *nf, uint32_t v)
{
	return (v & FUTEX_OWNER_DIED) || (v & FUTEX_TID_MASK) != (uint32_t)nf->st->mgr_pid;
}

/* Sleep while the doorbell reads `bell`, at most timeout_ns, and (nf->alive)
 * while the manager lives: its death wakes us through the lock word. Returns
 * 0 or -errno (ETIMEDOUT, EAGAIN, EINTR). */
static int nfl_sleep(struct bh_nf *nf, uint32_t bell, uint64_t timeout_ns)
{
	if (!nf->alive)
		return bh_doorbell_wait(&nf->slot->doorbell, bell, timeout_ns);
	uint32_t v = atomic_load(nf->alive);
	if (nfl_alive_gone(nf, v))
		return 0;
	/* the kernel wakes a waiter at the owner's death only if this is set */
	if (!(v & FUTEX_WAITERS) && !atomic_compare_exchange_strong(nf->alive, &v, v | FUTEX_WAITERS))
		return 0; /* changed meanwhile: look again */
	v |= FUTEX_WAITERS;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t ns = (uint64_t)ts.tv_nsec + timeout_ns % 1000000000u;
	ts.tv_sec += (time_t)(timeout_ns / 1000000000u + ns / 1000000000u);
	ts.tv_nsec = (long)(ns % 1000000000u);
	struct futex_waitv w[2] = {
		{.val = bell, .uaddr = (uintptr_t)&nf->slot->doorbell, .flags = FUTEX_32},
		{.val = v, .uaddr = (uintptr_t)nf->alive, .flags = FUTEX_32},
	};
	if (syscall(SYS_futex_waitv, w, 2, 0, &ts, CLOCK_MONOTONIC) < 0)
		return -errno;
	return 0;
}

static void nfl_handle_msgs(struct bh_nf *nf, const struct bh_nf_ops *ops, void *ctx)
{
	struct bh_msg msg;
	while (rte_ring_dequeue_elem(nf->slot->msg, &msg, sizeof(msg)) == 0) {
		if (msg.type == BH_MSG_STOP) {
			/* The manager took this NF out of every redirection table and
			 * waited for producers before sending this: drain, then stop. */
			nf->drain = 1;
			nf->stop++;
		}
		else if (msg.type == BH_MSG_SPAWN) {
			for (uint32_t k = 0; k < msg.arg && k < 1024; k++)
				if (bh_nf_spawn(nf) < 0)
					break;
		} else if (msg.type >= BH_MSG_USER && ops->msg)
			ops->msg(nf, &msg, ctx);
	}
}

/* Keep looping? A first stop request lets ops->stop drain; a second one ends it. */
static int nfl_running(struct bh_nf *nf, const struct bh_nf_ops *ops, void *ctx)
{
	if (!nf->stop)
		return 1;
	if (nf->stop > 1)
		return 0;
	if (nf->drain && !rte_ring_empty(nf->slot->rx))
		return 1;
	return ops->stop && ops->stop(nf, ctx) != 0;
}

int bh_nf_run(struct bh_nf *nf, const struct bh_nf_ops *ops, void *ctx)
{
	struct bh_nf_slot *s = nf->slot;
	struct bh_nf_counters *c = &s->c;
	uint64_t tick_ns = ops->tick_ns ? ops->tick_ns : 1000000000ull;
	/* An NF without a tick is not woken for one. */
	uint64_t now = bh_now_ns(), next_tick = ops->tick ? now + tick_ns : UINT64_MAX;
	uint64_t check_ns = nf->alive ? NFL_WATCHED_SLEEP_NS : NFL_MAX_SLEEP_NS;
	uint64_t next_check = now + check_ns;
	unsigned idle = 0;
	int rc = 0;

	while (nfl_running(nf, ops, ctx)) {
		uint64_t wake = UINT64_MAX;
		int work = 0;
		/* The doorbell before this turn's work: a kick while poll() runs
		 * (bh_nf_kick() from another thread, for work the rings do not
		 * show) then ends the sleep below at once instead of being lost. */
		uint32_t bell = atomic_load(&s->doorbell);

		atomic_store_explicit(&s->epoch, s->epoch + 1, memory_order_release);
		c->loops++;
		unsigned left;
		unsigned n = rte_ring_dequeue_burst(s->rx, (void **)nf->rx, nf->burst, &left);
		if (left > nf->hi_mark && !atomic_load_explicit(&s->overloaded, memory_order_relaxed)) {
			bh_overload_set(nf->st, s, 1);
			c->overloads++;
		} else if (left < nf->lo_mark) {
			bh_overload_set(nf->st, s, 0);
		}
		if (n) {
			/* Only the metadata's cache line is touched here: byte counts
			 * would pull in a second line of every packet at every hop. */
			for (unsigned i = 0; i < n; i++)
				bh_meta(nf->rx[i])->action = BH_ACT_NEXT;
			c->rx_pkts += n;
			ops->handle(nf, nf->rx, (uint16_t)n, ctx);
			nfl_dispatch(nf, nf->rx, (uint16_t)n);
			work += (int)n;
		}
		if (ops->poll)
			work += ops->poll(nf, ctx, &wake);
		if (!rte_ring_empty(s->msg))
			nfl_handle_msgs(nf, ops, ctx);
		if (work) {
			idle = 0;
			if (c->loops & 255) /* busy: look at the clock now and then */
				continue;
		} else {
			c->idle_loops++;
			if (++idle < NFL_SPIN_LOOPS) {
				/* Whoever we wait for may share this CPU: let it run. */
				if (!(idle & 63))
					sched_yield();
				continue;
			}
		}

		now = bh_now_ns();
		if (now >= next_tick) {
			ops->tick(nf, now, ctx);
			next_tick = now + tick_ns;
		}
		if (now >= next_check) {
			if (nfl_manager_gone(nf)) {
				fprintf(stderr, "nflib: the manager exited; stopping\n");
				rc = -ENOTCONN;
				break;
			}
			next_check = now + check_ns;
		}
		if (work || nf->stop || wake <= now || nf->poll_mode)
			continue;
		uint64_t deadline = RTE_MIN(RTE_MIN(wake, next_tick), next_check);
		if (deadline - now < 20000)
			continue; /* too close to be worth a futex round trip */

		atomic_store(&s->sleeping, 1);
		bool timed_out = false;
		if (rte_ring_empty(s->rx) && rte_ring_empty(s->msg) && !nf->stop) {
			c->sleeps++;
			timed_out = nfl_sleep(nf, bell, deadline - now) == -ETIMEDOUT;
		}
		atomic_store(&s->sleeping, 0);
		c->wakeups++;
		if (nf->alive && nfl_alive_gone(nf, atomic_load(nf->alive))) {
			/* told of the manager's death: look now (and from now on,
			 * in case its main thread alone ended) */
			nf->alive = NULL;
			check_ns = NFL_MAX_SLEEP_NS;
			next_check = 0;
		}
		/* Woken by a kick, work is coming: look for it a while before
		 * sleeping again. Woken by our own deadline (a tick, a timer, the
		 * manager check): one look, then back to sleep if it finds
		 * nothing, so that an idle NF costs a turn per deadline. */
		idle = timed_out ? NFL_SPIN_LOOPS - 1 : 0;
	}
	return rc;
}

void bh_nf_detach(struct bh_nf *nf)
{
	if (!nf)
		return;
	nfl_current = NULL;
	/* The manager sees the exit through its pidfd and reclaims the slot, its
	 * rings and any packet still tagged with it; this says it was no crash. */
	if (nf->slot)
		atomic_store(&nf->slot->exiting, 1);
	if (nf->mgr_pidfd >= 0)
		close(nf->mgr_pidfd);
	if (nf->mgr_efd >= 0)
		close(nf->mgr_efd);
	nfl_free_scratch(nf);
	rte_eal_cleanup();
	free(nf);
}
