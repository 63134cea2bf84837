/* SPDX-License-Identifier: MIT */
/*
 * bh-ring-pingpong: the limit of the Bulkhead data plane. Two DPDK processes
 * (a primary and a secondary it execs) bounce bursts of mbuf pointers through
 * two rte_rings, nothing else: no metadata, no verdicts, no doorbells.
 *
 *   bh-ring-pingpong [--prefix NAME] [--burst N (32)] [--bursts K (1)]
 *                    [--duration SEC (2)] [--warmup SEC (0.3)]
 *
 * The primary puts K bursts of N pointers on "ping"; the secondary moves
 * whatever it dequeues from "ping" to "pong"; the primary moves "pong" back to
 * "ping". Every pointer that comes back to the primary counts once, as bh-speed
 * counts a packet once per loop, so the Mpps are comparable. Mean round trip is
 * in-flight / rate (Little's law); with K = 1 it is the time one burst takes to
 * go there and back.
 *
 * Prints "ring_pingpong: burst=N inflight=N*K secs=.. mpps=.. rtt_ns=..".
 * Both processes use --no-pci and the private file prefix; the primary removes
 * its hugepage files and runtime directory on exit.
 */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <sched.h>
#include <glob.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_memzone.h>
#include <rte_ring.h>

#define PP_PING "pp_ping"
#define PP_PONG "pp_pong"
#define PP_CTL "pp_ctl"
#define PP_POOL "pp_pool"
#define PP_RING_SIZE 4096
#define PP_MAX_BURST 512
#define PP_MAX_INFLIGHT 2048 /* half a ring: enqueues never fail */
/*
 * Empty polls before sched_yield(). Free when the peer runs on another core (it
 * answers long before), but on a shared, oversubscribed machine it stops a
 * waiting side from spinning away its whole time slice while its peer waits
 * for the CPU: NFs do the same (nflib sleeps after 256 empty polls).
 */
#define PP_SPIN 1024

struct pp_ctl {
	_Atomic uint32_t ready; /* secondary attached */
	_Atomic uint32_t stop;  /* primary: secondary, leave */
	uint64_t moved;         /* secondary: pointers moved */
};

struct pp_opts {
	const char *prefix;
	unsigned burst, bursts;
	double duration, warmup;
	int secondary;
};

static volatile sig_atomic_t pp_interrupted;

static void pp_on_signal(int sig)
{
	(void)sig;
	pp_interrupted = 1;
}

static int pp_eal(const struct pp_opts *o, const char *prog)
{
	char prefix_arg[128], lcores_arg[64];
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	snprintf(prefix_arg, sizeof(prefix_arg), "--file-prefix=%s", o->prefix);
	/* Float like the manager and the NFs do: placement is the scheduler's. */
	snprintf(lcores_arg, sizeof(lcores_arg), "--lcores=0@(0-%ld)", ncpu > 1 ? ncpu - 1 : 0);
	char *argv[] = {(char *)prog, "--no-pci", prefix_arg, lcores_arg,
			o->secondary ? "--proc-type=secondary" : "--proc-type=primary",
			"--log-level=lib.eal:error", "--no-telemetry", NULL};
	int argc = (int)(sizeof(argv) / sizeof(argv[0])) - 1;
	if (rte_eal_init(argc, argv) < 0) {
		fprintf(stderr, "bh-ring-pingpong: DPDK initialisation failed (%s, prefix '%s'): %s\n",
			o->secondary ? "secondary" : "primary", o->prefix, rte_strerror(rte_errno));
		return -EIO;
	}
	return 0;
}

/* The secondary: ping -> pong until told to stop. */
static int pp_secondary(const struct pp_opts *o, const char *prog)
{
	void *buf[PP_MAX_BURST];
	int rc = pp_eal(o, prog);
	if (rc < 0)
		return rc;
	const struct rte_memzone *mz = rte_memzone_lookup(PP_CTL);
	struct rte_ring *ping = rte_ring_lookup(PP_PING), *pong = rte_ring_lookup(PP_PONG);
	if (!mz || !ping || !pong) {
		fprintf(stderr, "bh-ring-pingpong: secondary: the primary's rings are missing\n");
		rte_eal_cleanup();
		return -ENOENT;
	}
	struct pp_ctl *ctl = mz->addr;
	uint64_t moved = 0;
	unsigned idle = 0;
	atomic_store(&ctl->ready, 1);
	while (!atomic_load_explicit(&ctl->stop, memory_order_relaxed) && !pp_interrupted) {
		unsigned n = rte_ring_dequeue_burst(ping, buf, o->burst, NULL);
		if (!n) {
			if (++idle >= PP_SPIN) {
				sched_yield();
				idle = 0;
			}
			continue;
		}
		idle = 0;
		/* The ring has room for everything in flight. */
		unsigned k = 0;
		while (k < n)
			k += rte_ring_enqueue_burst(pong, buf + k, n - k, NULL);
		moved += n;
	}
	ctl->moved = moved;
	rte_eal_cleanup();
	return 0;
}

static int pp_unlink_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* What EAL leaves behind for a prefix: hugepage files and the runtime directory. */
static void pp_clean_prefix(const char *prefix)
{
	char pat[512];
	glob_t g;
	snprintf(pat, sizeof(pat), "/dev/hugepages/%smap_*", prefix);
	if (glob(pat, 0, NULL, &g) == 0) {
		for (size_t i = 0; i < g.gl_pathc; i++)
			unlink(g.gl_pathv[i]);
		globfree(&g);
	}
	snprintf(pat, sizeof(pat), "/var/run/dpdk/%s", prefix);
	nftw(pat, pp_unlink_cb, 8, FTW_DEPTH | FTW_PHYS);
}

static pid_t pp_spawn(const struct pp_opts *o, const char *self)
{
	char burst[16];
	snprintf(burst, sizeof(burst), "%u", o->burst);
	pid_t pid = fork();
	if (pid == 0) {
		/* Only exec here: the parent is a DPDK process with threads. If the
		 * primary dies, so does the secondary (kept across execve). */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		char *argv[] = {(char *)self, "--secondary", "--prefix", (char *)o->prefix,
				"--burst", burst, NULL};
		execv(self, argv);
		_exit(127);
	}
	return pid;
}

static int pp_primary(const struct pp_opts *o, const char *prog)
{
	const unsigned inflight = o->burst * o->bursts;
	struct rte_mbuf *mbufs[PP_MAX_INFLIGHT];
	void *buf[PP_MAX_BURST];
	struct rte_mempool *pool = NULL;
	struct rte_ring *ping = NULL, *pong = NULL;
	const struct rte_memzone *mz = NULL;
	struct pp_ctl *ctl = NULL;
	pid_t child = -1;
	int rc = -ENOMEM, allocated = 0;
	char self[4096];

	ssize_t sl = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (sl <= 0) {
		fprintf(stderr, "bh-ring-pingpong: cannot find my own executable\n");
		return -ENOENT;
	}
	self[sl] = 0;
	if ((rc = pp_eal(o, prog)) < 0) {
		pp_clean_prefix(o->prefix);
		return rc;
	}
	rc = -ENOMEM;
	pool = rte_pktmbuf_pool_create(PP_POOL, 4095, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	ping = rte_ring_create(PP_PING, PP_RING_SIZE, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
	pong = rte_ring_create(PP_PONG, PP_RING_SIZE, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
	mz = rte_memzone_reserve(PP_CTL, sizeof(*ctl), SOCKET_ID_ANY, 0);
	if (!pool || !ping || !pong || !mz) {
		fprintf(stderr, "bh-ring-pingpong: cannot create the pool, rings or control zone: %s\n",
			rte_strerror(rte_errno));
		goto fail;
	}
	ctl = mz->addr;
	memset(ctl, 0, sizeof(*ctl));
	if (rte_pktmbuf_alloc_bulk(pool, mbufs, inflight) < 0) {
		fprintf(stderr, "bh-ring-pingpong: cannot allocate %u mbufs\n", inflight);
		goto fail;
	}
	allocated = 1;

	child = pp_spawn(o, self);
	if (child < 0) {
		rc = -errno;
		fprintf(stderr, "bh-ring-pingpong: fork: %s\n", strerror(errno));
		goto fail;
	}
	uint64_t hz = rte_get_tsc_hz();
	uint64_t give_up = rte_rdtsc() + 10 * hz;
	while (!atomic_load(&ctl->ready)) {
		int st;
		if (waitpid(child, &st, WNOHANG) == child || rte_rdtsc() > give_up || pp_interrupted) {
			fprintf(stderr, "bh-ring-pingpong: the secondary did not start\n");
			child = -1;
			rc = -ECHILD;
			goto fail;
		}
		usleep(1000);
	}

	for (unsigned i = 0; i < inflight; i += o->burst)
		rte_ring_enqueue_bulk(ping, (void **)mbufs + i, o->burst, NULL);
	uint64_t now = rte_rdtsc(), t0 = now + (uint64_t)(o->warmup * (double)hz);
	uint64_t t1 = t0 + (uint64_t)(o->duration * (double)hz);
	uint64_t count = 0, counted_from = 0;
	unsigned iter = 0, idle = 0;
	int measuring = 0;
	while (!pp_interrupted) {
		unsigned n = rte_ring_dequeue_burst(pong, buf, o->burst, NULL);
		if (!n) {
			if (++idle >= PP_SPIN) {
				sched_yield();
				idle = 0;
			}
			continue;
		}
		idle = 0;
		unsigned k = 0;
		while (k < n)
			k += rte_ring_enqueue_burst(ping, buf + k, n - k, NULL);
		count += n;
		if (++iter & 31)
			continue; /* the clock is read every 32 bursts */
		now = rte_rdtsc();
		if (!measuring && now >= t0) {
			measuring = 1;
			counted_from = count;
			t0 = now;
		} else if (measuring && now >= t1) {
			break;
		}
	}
	atomic_store(&ctl->stop, 1);
	int status = 0;
	waitpid(child, &status, 0);
	child = -1;
	if (!measuring || pp_interrupted) {
		fprintf(stderr, "bh-ring-pingpong: interrupted before the measurement ended\n");
		rc = -EINTR;
		goto fail;
	}
	double secs = (double)(now - t0) / (double)hz;
	uint64_t pkts = count - counted_from;
	double rate = (double)pkts / secs;
	printf("ring_pingpong: burst=%u inflight=%u secs=%.2f pkts=%llu mpps=%.3f rtt_ns=%.0f "
	       "ns_per_pkt=%.2f\n",
	       o->burst, inflight, secs, (unsigned long long)pkts, rate / 1e6,
	       (double)inflight / rate * 1e9, 1e9 / rate);
	fflush(stdout);
	rc = 0;
fail:
	if (child > 0) {
		if (ctl)
			atomic_store(&ctl->stop, 1);
		waitpid(child, NULL, 0);
	}
	if (allocated)
		rte_pktmbuf_free_bulk(mbufs, inflight); /* the secondary is gone; rings go too */
	rte_ring_free(ping);
	rte_ring_free(pong);
	if (mz)
		rte_memzone_free(mz);
	rte_mempool_free(pool);
	rte_eal_cleanup();
	pp_clean_prefix(o->prefix);
	return rc;
}

static void pp_usage(FILE *f)
{
	fprintf(f, "usage: bh-ring-pingpong [--prefix NAME] [--burst N (32)] [--bursts K (1)]\n"
		   "                        [--duration SEC (2)] [--warmup SEC (0.3)]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"prefix", required_argument, NULL, 'P'},  {"burst", required_argument, NULL, 'b'},
		{"bursts", required_argument, NULL, 'k'},  {"duration", required_argument, NULL, 'd'},
		{"warmup", required_argument, NULL, 'w'},  {"secondary", no_argument, NULL, 'S'},
		{"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
	};
	static char prefix[64];
	struct pp_opts o = {.burst = 32, .bursts = 1, .duration = 2, .warmup = 0.3};
	int c;

	snprintf(prefix, sizeof(prefix), "bhpp%d", (int)getpid());
	o.prefix = prefix;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'P': o.prefix = optarg; break;
		case 'b': o.burst = (unsigned)atoi(optarg); break;
		case 'k': o.bursts = (unsigned)atoi(optarg); break;
		case 'd': o.duration = atof(optarg); break;
		case 'w': o.warmup = atof(optarg); break;
		case 'S': o.secondary = 1; break;
		case 'h': pp_usage(stdout); return 0;
		default: pp_usage(stderr); return 2;
		}
	}
	if (optind != argc || o.burst < 1 || o.burst > PP_MAX_BURST || o.bursts < 1 ||
	    o.burst * o.bursts > PP_MAX_INFLIGHT || !(o.duration > 0) || !(o.warmup >= 0) ||
	    !o.prefix[0]) {
		fprintf(stderr, "bh-ring-pingpong: bad arguments: burst 1-%d, burst * bursts <= %d, "
				"duration > 0\n", PP_MAX_BURST, PP_MAX_INFLIGHT);
		pp_usage(stderr);
		return 2;
	}
	struct sigaction sa = {.sa_handler = pp_on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	int rc = o.secondary ? pp_secondary(&o, argv[0]) : pp_primary(&o, argv[0]);
	return rc < 0 ? 1 : 0;
}
