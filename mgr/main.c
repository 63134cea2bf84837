/* SPDX-License-Identifier: MIT */
/*
 * bulkhead: the manager. DPDK primary process: ports, the shared packet pool,
 * NF rings and registry, flow director, chains and statistics.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <getopt.h>
#include <glob.h>
#include <mntent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_memzone.h>

#include "bulkhead/iso.h"
#include "bulkhead/log.h"
#include "bulkhead/nf.h"
#include "bulkhead/steer.h"
#include "mgr/mgr.h"
#include "mgr/pktpool.h"

int bh_meta_offset = -1;
static struct mgr *main_mgr;

static void main_usage(FILE *f)
{
	fprintf(f, "usage: bulkhead -c CONFIG.json [options]\n"
		   "  -c, --config FILE     configuration (docs/config.md)\n"
		   "  -P, --prefix NAME     DPDK file prefix (overrides the config's \"prefix\")\n"
		   "  -S, --stats-file FILE write statistics JSON there every interval\n"
		   "  -q, --quiet           do not print the statistics table\n"
		   "      --check           validate the configuration and exit\n"
		   "  -h, --help            this text\n");
}

static void main_on_signal(int sig)
{
	(void)sig;
	if (main_mgr) {
		uint64_t one = 1;
		main_mgr->stop = 1;
		if (write(main_mgr->st->mgr_efd, &one, sizeof(one)) < 0) {
			/* already signalled */
		}
	}
}

/*
 * The configured services' isolation policies, as the files their NFs read
 * before they attach (bulkhead/iso.h, "Service policy"): removed (whatever a
 * manager of this prefix left before), then, if create, written, each
 * whole before it appears. Called only while this manager owns the prefix
 * (DPDK's initialisation succeeded). Returns 0, or -errno after one line.
 */
static int main_iso_files(struct mgr *m, bool create)
{
	char dir[256], path[320], tmp[336];
	bool any = false;
	int rc = 0;

	snprintf(dir, sizeof(dir), ISO_POLICY_DIR "/%s", m->cfg.prefix);
	DIR *d = opendir(dir);
	if (d) {
		for (struct dirent *e; (e = readdir(d));) {
			size_t n = strlen(e->d_name);
			if ((n > 10 && !strcmp(e->d_name + n - 10, ".isolation")) ||
			    (n > 14 && !strcmp(e->d_name + n - 14, ".isolation.new")))
				unlinkat(dirfd(d), e->d_name, 0);
		}
		closedir(d);
	}
	for (unsigned i = 0; i < m->cfg.n_services; i++)
		any |= m->cfg.services[i].iso_text != NULL;
	if (!create || !any) {
		rmdir(dir);
		return 0;
	}
	struct stat sb;
	mkdir(ISO_POLICY_DIR, 0700);
	if ((mkdir(dir, 0700) < 0 && errno != EEXIST) || lstat(dir, &sb) < 0) {
		rc = -errno;
	} else if (!S_ISDIR(sb.st_mode) || sb.st_uid != 0 || (sb.st_mode & (S_IWGRP | S_IWOTH))) {
		rc = -EPERM;
	}
	for (unsigned i = 0; !rc && i < m->cfg.n_services; i++) {
		const char *text = m->cfg.services[i].iso_text;
		if (!text)
			continue;
		if ((rc = iso_policy_path(path, sizeof(path), m->cfg.prefix, m->cfg.services[i].name)))
			break;
		snprintf(tmp, sizeof(tmp), "%s.new", path);
		unlink(tmp);
		errno = 0; /* a short write sets none */
		int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		size_t len = strlen(text);
		if (fd < 0 || write(fd, text, len) != (ssize_t)len || fsync(fd) < 0 ||
		    rename(tmp, path) < 0)
			rc = errno ? -errno : -EIO;
		if (fd >= 0)
			close(fd);
		if (rc)
			unlink(tmp);
	}
	if (rc)
		fprintf(stderr, "bulkhead: services: cannot write the isolation policies into %s: %s\n",
			dir, rc == -EPERM ? "not a directory of root's, writable by root alone" :
			strerror(-rc));
	return rc;
}

/* Remove this prefix's hugepage files: nothing must be left for the next run. */
static void main_unlink_hugepages(const char *prefix)
{
	FILE *f = setmntent("/proc/mounts", "r");
	struct mntent *e;
	if (!f)
		return;
	while ((e = getmntent(f))) {
		if (strcmp(e->mnt_type, "hugetlbfs"))
			continue;
		char pat[512];
		glob_t g;
		snprintf(pat, sizeof(pat), "%s/%smap_*", e->mnt_dir, prefix);
		if (glob(pat, 0, NULL, &g) == 0) {
			for (size_t i = 0; i < g.gl_pathc; i++)
				unlink(g.gl_pathv[i]);
			globfree(&g);
		}
	}
	endmntent(f);
}

/*
 * Enter the named network namespace (NULL: stay). Returns a descriptor of the
 * namespace to come back to, -1 when nothing changed, -2 after an error line.
 */
static int main_netns_enter(const char *ns, unsigned port)
{
	char path[128];
	if (!ns)
		return -1;
	snprintf(path, sizeof(path), "/var/run/netns/%s", ns);
	int nsfd = open(path, O_RDONLY | O_CLOEXEC);
	int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (nsfd < 0 || home < 0 || setns(nsfd, CLONE_NEWNET) < 0) {
		fprintf(stderr, "bulkhead: ports[%u].netns: cannot enter '%s': %s\n", port, ns,
			strerror(errno));
		if (home >= 0)
			close(home);
		home = -2;
	}
	if (nsfd >= 0)
		close(nsfd);
	return home;
}

static int main_netns_leave(int home)
{
	if (home < 0)
		return 0;
	int rc = setns(home, CLONE_NEWNET);
	close(home);
	if (rc < 0)
		fprintf(stderr, "bulkhead: cannot return to the manager's network namespace: %s\n",
			strerror(errno));
	return rc;
}

#define MAIN_XSK_MAX 256 /* AF_XDP sockets looked for: one per af_xdp port */

/* An af_xdp port's frames go to its AF_XDP socket before any packet socket
 * on the interface could see them: the data plane sleeps on that socket
 * instead (readable while its receive ring holds frames). The port's driver
 * opened it just now: the one AF_XDP socket that was not there before. */
static void main_port_xsk(struct mgr_port *p, const int *before, int n_before)
{
	int after[MAIN_XSK_MAX], fd = -1, n_new = 0;
	if (n_before < 0)
		return;
	int n = mgr_xsk_fds(after, MAIN_XSK_MAX);
	for (int i = 0; i < n; i++) {
		bool old = false;
		for (int j = 0; j < n_before && !old; j++)
			old = after[i] == before[j];
		if (!old) {
			fd = after[i];
			n_new++;
		}
	}
	if (n_new != 1)
		return; /* not an af_xdp port (or one with several queues: not ours) */
	if (p->wake_fd >= 0)
		close(p->wake_fd);
	p->wake_fd = fd;
	p->wake_xsk = true;
}

static int main_ports(struct mgr *m)
{
	struct mgr_config *c = &m->cfg;
	m->ports = calloc(c->n_ports, sizeof(*m->ports));
	if (!m->ports)
		return -ENOMEM;
	for (unsigned i = 0; i < c->n_ports; i++)
		m->ports[i].wake_fd = -1;
	for (unsigned i = 0; i < c->n_ports; i++) {
		char name[RTE_DEV_NAME_MAX_LEN];
		const char *dev = c->ports[i].dev, *comma = strchr(dev, ',');
		size_t n = comma ? (size_t)(comma - dev) : strlen(dev);
		uint16_t pid;
		int rc;

		if (n >= sizeof(name)) {
			fprintf(stderr, "bulkhead: ports[%u].dev: device name too long\n", i);
			return -EINVAL;
		}
		memcpy(name, dev, n);
		name[n] = 0;
		/* The port's interface may live in another network namespace: the
		 * device, its wake socket and the interface calls made while starting
		 * it happen there; the sockets stay bound to it afterwards. */
		int home = main_netns_enter(c->ports[i].netns, i);
		if (home == -2)
			return -EINVAL;
		int xsk_before[MAIN_XSK_MAX];
		int n_before = mgr_xsk_fds(xsk_before, MAIN_XSK_MAX);
		rc = rte_eal_hotplug_add("vdev", name, comma ? comma + 1 : "");
		m->ports[i].wake_fd = rc < 0 ? -1 : mgr_wake_socket(dev);
		if (rc < 0) {
			fprintf(stderr, "bulkhead: ports[%u].dev: cannot attach '%s': %s\n", i, dev,
				strerror(-rc));
			main_netns_leave(home);
			return rc;
		}
		if (rte_eth_dev_get_port_by_name(name, &pid) != 0) {
			fprintf(stderr, "bulkhead: ports[%u].dev: '%s' is not an ethernet device\n", i, name);
			main_netns_leave(home);
			return -ENODEV;
		}
		struct rte_eth_conf conf;
		memset(&conf, 0, sizeof(conf));
		uint16_t nrx = (uint16_t)c->port_rx_desc, ntx = (uint16_t)c->port_tx_desc;
		if ((rc = rte_eth_dev_configure(pid, 1, 1, &conf)) < 0 ||
		    (rc = rte_eth_dev_adjust_nb_rx_tx_desc(pid, &nrx, &ntx)) < 0 ||
		    (rc = rte_eth_rx_queue_setup(pid, 0, nrx, rte_eth_dev_socket_id(pid), NULL,
						 m->pool)) < 0 ||
		    (rc = rte_eth_tx_queue_setup(pid, 0, ntx, rte_eth_dev_socket_id(pid), NULL)) < 0 ||
		    (rc = rte_eth_dev_start(pid)) < 0) {
			fprintf(stderr, "bulkhead: ports[%u] '%s': cannot start: %s\n", i,
				c->ports[i].name, strerror(-rc));
			main_netns_leave(home);
			return rc;
		}
		rte_eth_promiscuous_enable(pid);
		main_port_xsk(&m->ports[i], xsk_before, n_before);
		if (main_netns_leave(home) < 0)
			return -EINVAL;
		m->ports[i].eth_id = pid;
	}
	return 0;
}

/* Hugepage memory to reserve at start: the pool, the rings, tables, and slack. */
static unsigned main_memory_mb(const struct mgr_config *c)
{
	uint64_t b = (uint64_t)(c->mbufs + mgr_pool_spares(c->mbufs)) * (c->data_room + 128 + 64);
	b += (uint64_t)c->max_nfs * ((uint64_t)c->nf_rx_ring + c->nf_tx_ring + 64) * 8;
	b += (uint64_t)c->max_nfs * (sizeof(struct bh_nf_slot) + 4096);
	b += (uint64_t)c->max_flows * 64 + (uint64_t)c->n_ports * 4 * 1024 * 1024;
	return (unsigned)(b >> 20) + 64;
}

static size_t main_align(size_t x) { return RTE_ALIGN_CEIL(x, RTE_CACHE_LINE_SIZE); }

/* Each NF slot's mgr_alive (bulkhead/shm.h), locked by this thread, the
 * main one, which runs until the manager ends: its death is then told to
 * every sleeping NF by the kernel (robust futexes). The kernel walks at
 * most 2048 entries of a thread's robust list: slots beyond
 * MAIN_WATCHED_SLOTS keep mgr_watch 0, and their NFs look now and then. */
#define MAIN_WATCHED_SLOTS 1024u
static void main_hold_slots(struct bh_state *st)
{
	pthread_mutexattr_t a;
	if (pthread_mutexattr_init(&a) != 0)
		return;
	if (pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED) == 0 &&
	    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST) == 0) {
		for (unsigned i = 0; i < st->max_nfs && i < MAIN_WATCHED_SLOTS; i++) {
			struct bh_nf_slot *s = &st->nfs[i];
			if (pthread_mutex_init(&s->mgr_alive, &a) == 0 &&
			    pthread_mutex_lock(&s->mgr_alive) == 0)
				s->mgr_watch = 1;
		}
	}
	pthread_mutexattr_destroy(&a);
}

/* Lay out the shared state memzone from the configured limits. */
static int main_state(struct mgr *m)
{
	struct mgr_config *c = &m->cfg;
	size_t off_nfs = main_align(sizeof(struct bh_state));
	size_t off_svc = off_nfs + main_align(c->max_nfs * sizeof(struct bh_nf_slot));
	size_t off_ch = off_svc + main_align(c->max_services * sizeof(struct bh_service));
	size_t off_hops = off_ch + main_align(c->max_chains * sizeof(struct bh_chain));
	size_t off_ports = off_hops + main_align(c->max_hops * sizeof(uint16_t));
	size_t total = off_ports + main_align(c->n_ports * sizeof(struct bh_port_info));

	const struct rte_memzone *mz =
		rte_memzone_reserve(BH_STATE_MZ, total, SOCKET_ID_ANY, RTE_MEMZONE_SIZE_HINT_ONLY);
	if (!mz)
		return -ENOMEM;
	memset(mz->addr, 0, total);
	char *base = mz->addr;
	struct bh_state *st = mz->addr;
	st->mgr_pid = getpid();
	st->max_nfs = c->max_nfs;
	st->max_services = c->max_services;
	st->max_chains = c->max_chains;
	st->max_hops = c->max_hops;
	st->n_ports = c->n_ports;
	st->nf_burst = c->burst;
	st->pool = m->pool;
	st->nfs = (struct bh_nf_slot *)(base + off_nfs);
	st->services = (struct bh_service *)(base + off_svc);
	st->chains = (struct bh_chain *)(base + off_ch);
	st->hops = (uint16_t *)(base + off_hops);
	st->ports = (struct bh_port_info *)(base + off_ports);
	for (unsigned i = 0; i < c->n_ports; i++) {
		snprintf(st->ports[i].name, BH_NAME_LEN, "%s", c->ports[i].name);
		st->ports[i].port_id = m->ports[i].eth_id;
	}
	uint32_t next = 0;
	for (unsigned i = 0; i < c->n_chains; i++) {
		struct bh_chain *ch = &st->chains[i];
		snprintf(ch->name, BH_NAME_LEN, "%s", c->chains[i].name);
		ch->len = (uint16_t)c->chains[i].n_hops;
		ch->out_port = c->chains[i].out_port;
		ch->first = next;
		for (unsigned h = 0; h < ch->len; h++)
			st->hops[next++] = c->chains[i].hops[h];
		atomic_store(&ch->in_use, BH_CHAIN_ACTIVE);
	}
	st->mgr_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (st->mgr_efd < 0)
		return -errno;
	main_hold_slots(st);
	m->st = st;
	return 0;
}

static void write_stats_file(const char *path, json_t *doc)
{
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (json_dump_file(doc, tmp, JSON_COMPACT) == 0)
		rename(tmp, path);
}

/* Control thread: reap dead NFs as soon as their pidfd fires; statistics on a timer. */
static void *main_control(void *arg)
{
	struct mgr *m = arg;
	uint64_t interval = (uint64_t)m->cfg.stats_interval_ms * 1000000ull;
	uint64_t next = mgr_now_ns() + interval;

	while (!m->stop) {
		struct epoll_event ev[16];
		uint64_t now = mgr_now_ns();
		int timeout = now >= next ? 0 : (int)((next - now) / 1000000 + 1);
		if (timeout > 100)
			timeout = 100;
		int n = epoll_wait(m->epfd, ev, 16, timeout);
		for (int i = 0; i < n; i++)
			mgr_registry_reap(m, (uint16_t)ev[i].data.u32);
		mgr_registry_expire(m);
		mgr_autoscale_tick(m);
		/* NFs the manager started that died before registering. */
		int status;
		pid_t dead;
		while ((dead = waitpid(-1, &status, WNOHANG)) > 0)
			if (!mgr_registry_knows(m, dead))
				bh_log(BH_LOG_WARN, "NF pid %d exited before registering (%s %d)", (int)dead,
				       WIFSIGNALED(status) ? "signal" : "status",
				       WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
		now = mgr_now_ns();
		if (now < next)
			continue;
		mgr_stats_update(m);
		json_t *doc = mgr_stats_json(m); /* NULL: none made yet (out of memory) */
		if (doc && m->cfg.stats_print)
			mgr_stats_print(doc);
		if (doc && m->cfg.stats_file)
			write_stats_file(m->cfg.stats_file, doc);
		json_decref(doc);
		next = now + interval;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'}, {"prefix", required_argument, NULL, 'P'},
		{"stats-file", required_argument, NULL, 'S'}, {"quiet", no_argument, NULL, 'q'},
		{"check", no_argument, NULL, 'C'}, {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	static struct mgr mgr;
	struct mgr *m = &mgr;
	const char *config = NULL, *prefix = NULL, *stats_file = NULL;
	int quiet = 0, check = 0, c, rc;
	char err[512];

	bh_log_init("bulkhead", BH_LOG_INFO);
	mgr_json_init();
	while ((c = getopt_long(argc, argv, "c:P:S:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 'P': prefix = optarg; break;
		case 'S': stats_file = optarg; break;
		case 'q': quiet = 1; break;
		case 'C': check = 1; break;
		case 'h': main_usage(stdout); return 0;
		default: main_usage(stderr); return 2;
		}
	}
	if (!config || optind != argc) {
		fprintf(stderr, "bulkhead: %s\n", config ? "unexpected argument" : "no configuration (-c FILE)");
		main_usage(stderr);
		return 2;
	}
	rc = mgr_config_load(config, &m->cfg, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "bulkhead: config %s: %s\n", config, err);
		return 2;
	}
	if (prefix && mgr_config_name_check(prefix, err, sizeof(err)) < 0) {
		fprintf(stderr, "bulkhead: --prefix: %s\n", err);
		mgr_config_free(&m->cfg);
		return 2;
	}
	if (prefix) {
		free(m->cfg.prefix);
		m->cfg.prefix = strdup(prefix);
	}
	if (stats_file) {
		free(m->cfg.stats_file);
		m->cfg.stats_file = strdup(stats_file);
	}
	if (quiet)
		m->cfg.stats_print = false;
	if (check) {
		printf("bulkhead: config %s: ok (%u ports, %u services, %u chains, %u rules)\n", config,
		       m->cfg.n_ports, m->cfg.n_services, m->cfg.n_chains, m->cfg.n_rules);
		mgr_config_free(&m->cfg);
		return 0;
	}

	char prefix_arg[128], lcores_arg[64], mem_arg[32];
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	snprintf(prefix_arg, sizeof(prefix_arg), "--file-prefix=%s", m->cfg.prefix);
	/*
	 * All hugepage memory is reserved up front: if the heap had to grow later,
	 * every growth would be a synchronous round of messages through the primary
	 * to every secondary, which stalls registration when many NFs start at once.
	 */
	snprintf(mem_arg, sizeof(mem_arg), "-m%u", main_memory_mb(&m->cfg));
	snprintf(lcores_arg, sizeof(lcores_arg), "--lcores=0@(0-%ld)", ncpu > 1 ? ncpu - 1 : 0);
	/* Never probe PCI: the machine's own NIC is not ours. Ports are virtual devices
	 * attached below, one by one, so a bad one is reported by name. */
	char *eal_argv[] = {argv[0], "--no-pci", "--proc-type=primary", prefix_arg, lcores_arg, mem_arg,
			    "--log-level=lib.eal:warning", "--log-level=pmd:warning",
			    "--no-telemetry",
#ifdef __SANITIZE_ADDRESS__
			    /* Every NF maps the packet memory at the manager's addresses.
			     * AddressSanitizer's shadow and allocator take most of the
			     * address space, so where DPDK would put it in one process
			     * may be taken in another: in a sanitized build, a place
			     * between the shadow's end (16 TiB) and the allocator's
			     * start (96 TiB) that no process uses. */
			    "--base-virtaddr=0x200000000000",
#endif
			    NULL};
	if (rte_eal_init((int)(sizeof(eal_argv) / sizeof(eal_argv[0])) - 1, eal_argv) < 0) {
		fprintf(stderr, "bulkhead: DPDK initialisation failed (prefix '%s'): %s\n",
			m->cfg.prefix, rte_strerror(rte_errno));
		return 1;
	}
	pthread_mutex_init(&m->lock, NULL);
	pthread_mutex_init(&m->stats_lock, NULL);
	mgr_event_init();
	m->epfd = -1;
	m->start_ns = mgr_now_ns();
	if (main_iso_files(m, true) < 0)
		goto fail;

	static const struct rte_mbuf_dynfield meta_desc = {
		.name = BH_META_NAME,
		.size = sizeof(struct bh_meta),
		.align = __alignof__(struct bh_meta),
	};
	bh_meta_offset = rte_mbuf_dynfield_register(&meta_desc);
	if (bh_meta_offset < 0) {
		fprintf(stderr, "bulkhead: cannot register packet metadata: %s\n", rte_strerror(rte_errno));
		goto fail;
	}
	m->pool = mgr_pool_create("bh_pool", m->cfg.mbufs, (uint16_t)m->cfg.data_room);
	if (!m->pool) {
		fprintf(stderr, "bulkhead: pool.mbufs: cannot allocate %u packet buffers: %s "
				"(are enough hugepages reserved?)\n",
			m->cfg.mbufs, rte_strerror(rte_errno));
		goto fail;
	}
	if (main_ports(m) < 0)
		goto fail;
	if (main_state(m) < 0) {
		fprintf(stderr, "bulkhead: limits: cannot allocate the shared state\n");
		goto fail;
	}
	pthread_mutex_init(&m->topo_lock, NULL);
	if (mgr_topology_init(m) < 0)
		goto fail;
	if ((rc = mgr_registry_init(m)) < 0) {
		fprintf(stderr, "bulkhead: registry: %s\n", strerror(-rc));
		goto fail;
	}
	m->st->magic = BH_STATE_MAGIC; /* NFs may attach from here on */
	main_mgr = m;
	struct sigaction sa = {.sa_handler = main_on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (mgr_autoscale_init(m) < 0 || mgr_api_start(m) < 0)
		goto fail;
	pthread_t ctl;
	if (pthread_create(&ctl, NULL, main_control, m) != 0) {
		fprintf(stderr, "bulkhead: cannot start the control thread\n");
		goto fail;
	}
	printf("bulkhead: running, prefix '%s', %u port(s), %u chain(s); NFs attach with -P %s\n",
	       m->cfg.prefix, m->cfg.n_ports, m->cfg.n_chains, m->cfg.prefix);
	fflush(stdout);
	rc = mgr_dataplane_run(m);
	m->stop = 1;
	mgr_event("stopping", NULL, NULL, "the manager is stopping"); /* wakes event streams */
	mgr_api_stop(m);
	pthread_join(ctl, NULL);
	mgr_registry_stop_all(m, 2000);
	printf("bulkhead: stopped\n");
	for (unsigned i = 0; i < m->cfg.n_ports; i++) {
		int home = main_netns_enter(m->cfg.ports[i].netns, i);
		rte_eth_dev_stop(m->ports[i].eth_id);
		rte_eth_dev_close(m->ports[i].eth_id);
		main_netns_leave(home);
		if (m->ports[i].wake_fd >= 0 && !m->ports[i].wake_xsk)
			close(m->ports[i].wake_fd);
	}
	mgr_registry_fini(m);
	mgr_autoscale_fini(m);
	mgr_topology_fini(m);
	mgr_stats_fini(m);
	main_iso_files(m, false);
	rte_eal_cleanup();
	main_unlink_hugepages(m->cfg.prefix);
	mgr_config_free(&m->cfg);
	free(m->ports);
	return rc < 0 ? 1 : 0;
fail:
	mgr_api_stop(m);
	main_iso_files(m, false);
	rte_eal_cleanup();
	main_unlink_hugepages(m->cfg.prefix);
	mgr_config_free(&m->cfg);
	return 1;
}
