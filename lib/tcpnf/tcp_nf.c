/* SPDX-License-Identifier: MIT */
/*
 * tcp_nf: one TCP stack instance inside an NF (contract: bulkhead/tcp_nf.h).
 *
 * Frames in: the stack reads each frame in place (or from a copy when the
 * packet is chained) and the packet is then CONSUMEd. Frames out: the stack's
 * tx callback copies each frame into a new packet; they are sent in bursts at
 * the end of handle() and poll(), so the ACKs and data one burst of input
 * causes leave together.
 *
 * Timers: bh_tcp_timer() may scan every connection, so it runs when the
 * deadline it returned last is due, and otherwise at most once a millisecond
 * after activity (input or application work may have armed an earlier timer
 * than the one we know of). The wake-up time given to nflib is the earlier of
 * the known deadline and that millisecond, so an idle stack sleeps until its
 * next timer.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <rte_mbuf.h>

#include "bulkhead/iso.h"
#include "bulkhead/net.h"
#include "bulkhead/nf.h"
#include "bulkhead/tcp_nf.h"
#include "tcp_nf_opts.h"

#define TNF_BURST 32
#define TNF_FRAME_MAX 65536u
#define TNF_TIMER_NS 1000000ull      /* timers at most this often when busy */
#define TNF_PUBLISH_NS 100000000ull  /* counters at most this often */

/* The glue's own counters, published as "nf.<name>". */
#define TNF_COUNTERS(X)                                                          \
	X(rx_frames, "frames handed to the stack")                              \
	X(rx_too_long, "frames longer than 64 KiB: dropped")                    \
	X(tx_frames, "frames the stack sent, copied into packets")              \
	X(tx_nobuf, "frames lost: the packet pool was empty")                   \
	X(tx_lost, "frames lost on the way out (ring full, no route: nflib's drops)") \
	X(tx_detached, "frames the stack sent before the NF attached (lost)")

#define TNF_X_ENUM(name, desc) TNF_C_##name,
enum tnf_ctr { TNF_COUNTERS(TNF_X_ENUM) TNF_C_MAX };
#undef TNF_X_ENUM

struct tnf {
	struct bh_nf *nf;
	struct bh_tcp *t;
	const struct bh_tcp_app *app;
	void *ctx;
	int port;          /* fixed output port, -1: the latest arrival's */
	int chain;         /* output chain, -1: none */
	uint8_t last_port; /* where the latest frame arrived */
	struct rte_mbuf *tx[TNF_BURST];
	uint16_t n_tx;
	uint64_t deadline;   /* the stack's next timer as last reported */
	uint64_t last_timer; /* when bh_tcp_timer last ran */
	bool busy;           /* activity since then */
	bool dirty;          /* counters changed since the last publication */
	uint64_t next_publish;
	uint64_t c[TNF_C_MAX];
	/* publication: stack counters, glue counters, 2 gauges, the app's */
	struct bh_app_counter *pub;
	unsigned n_stack, n_pub;
	const char **names;
	uint64_t *vals;
	uint8_t frame[TNF_FRAME_MAX]; /* a chained packet's frame, made contiguous */
};

/* The waker (bh_tcp_nf_wake_add): one per process, as is the stack. */
static struct {
	pthread_once_t once;
	int ep;                       /* epoll of the registered descriptors */
	int err;                      /* why the thread could not start */
	_Atomic uint32_t woken;       /* a descriptor became readable since step() looked */
	struct bh_nf *_Atomic nf;     /* set once attached: whom to kick */
	_Atomic int kicking;          /* the thread is using nf */
} tnf_waker = {.once = PTHREAD_ONCE_INIT, .ep = -1};

static void *tnf_waker_run(void *arg)
{
	struct epoll_event ev[64];
	for (;;) {
		int n = epoll_wait(tnf_waker.ep, ev, 64, -1);
		if (n <= 0)
			continue; /* EINTR */
		atomic_store(&tnf_waker.woken, 1);
		atomic_fetch_add(&tnf_waker.kicking, 1);
		struct bh_nf *nf = atomic_load(&tnf_waker.nf);
		if (nf)
			bh_nf_kick(nf);
		atomic_fetch_sub(&tnf_waker.kicking, 1);
	}
	return arg;
}

static void tnf_waker_start(void)
{
	pthread_t th;
	pthread_attr_t a;
	tnf_waker.ep = epoll_create1(EPOLL_CLOEXEC);
	if (tnf_waker.ep < 0) {
		tnf_waker.err = errno;
		return;
	}
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&a, 64 * 1024);
	tnf_waker.err = pthread_create(&th, &a, tnf_waker_run, NULL);
	pthread_attr_destroy(&a);
	if (!tnf_waker.err)
		pthread_setname_np(th, "bh-waker");
}

int bh_tcp_nf_wake_add(int fd)
{
	pthread_once(&tnf_waker.once, tnf_waker_start);
	if (tnf_waker.err)
		return -tnf_waker.err;
	struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.fd = fd};
	return epoll_ctl(tnf_waker.ep, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

bool bh_tcp_nf_woken(void)
{
	return atomic_load_explicit(&tnf_waker.woken, memory_order_relaxed) &&
	       atomic_exchange(&tnf_waker.woken, 0);
}

static void tnf_flush(struct tnf *x)
{
	if (!x->n_tx)
		return;
	uint16_t k = bh_nf_send(x->nf, x->tx, x->n_tx); /* NB: takes all; failures are nflib's drops */
	x->c[TNF_C_tx_lost] += (uint64_t)(x->n_tx - k);
	x->n_tx = 0;
}

/* A packet holding frame[0 .. len), chained when one buffer is too small; NULL if the pool is empty. */
static struct rte_mbuf *tnf_copy(struct tnf *x, const uint8_t *frame, uint32_t len)
{
	struct rte_mbuf *head = NULL, *last = NULL;
	uint32_t off = 0;

	do {
		struct rte_mbuf *m = head ? rte_pktmbuf_alloc(bh_nf_state(x->nf)->pool) : bh_nf_alloc(x->nf);
		if (!m) {
			if (head) {
				bh_meta(head)->owner = 0; /* the reclaim walk must not see it again */
				rte_pktmbuf_free(head);
			}
			return NULL;
		}
		if (head)
			bh_meta(m)->owner = 0; /* only a chain's head carries the owner tag */
		uint32_t n = RTE_MIN(len - off, (uint32_t)rte_pktmbuf_tailroom(m));
		memcpy(rte_pktmbuf_append(m, (uint16_t)n), frame + off, n);
		off += n;
		if (!head) {
			head = last = m;
		} else {
			last->next = m;
			last = m;
			head->nb_segs++;
			head->pkt_len += n;
		}
	} while (off < len);
	return head;
}

static int tnf_tx(void *ctx, const uint8_t *frame, uint32_t len)
{
	struct tnf *x = ctx;
	if (!x->nf) {
		x->c[TNF_C_tx_detached]++;
		return -ENOTCONN;
	}
	struct rte_mbuf *m = tnf_copy(x, frame, len);
	if (!m) {
		x->c[TNF_C_tx_nobuf]++;
		return -ENOBUFS;
	}
	if (x->chain >= 0) {
		struct bh_flow_key k;
		bh_flow_parse(frame, len, &k);
		bh_meta(m)->flow_hash = bh_flow_hash_sym(&k); /* the flow's instances, as on arrival */
		bh_meta(m)->in_port = x->last_port;
		bh_nf_set_chain(x->nf, m, (uint16_t)x->chain, BH_HOP_ENTRY);
		bh_next(m);
	} else {
		bh_out(m, (uint16_t)(x->port >= 0 ? x->port : x->last_port));
	}
	x->c[TNF_C_tx_frames]++;
	x->tx[x->n_tx++] = m;
	if (x->n_tx == TNF_BURST)
		tnf_flush(x);
	x->dirty = true;
	return 0;
}

static void tnf_publish(struct tnf *x, uint64_t now)
{
	x->next_publish = now + TNF_PUBLISH_NS;
	x->dirty = false;
	if (!x->pub)
		return;
	unsigned n = bh_tcp_counters(x->t, x->names, x->vals, x->n_stack);
	for (unsigned i = 0; i < TNF_C_MAX; i++)
		x->vals[n++] = x->c[i];
	x->vals[n++] = bh_tcp_nr_fds(x->t);
	x->vals[n++] = bh_tcp_nr_conns(x->t);
	for (unsigned i = 0; i < x->app->n_counters; i++)
		x->vals[n++] = x->app->counter_values[i];
	for (unsigned i = 0; i < x->n_pub; i++)
		__atomic_store_n(&x->pub[i].value, x->vals[i], __ATOMIC_RELAXED);
}

/* Publish every counter under its name: the stack's, "nf.*", the gauges, the app's. */
static int tnf_counters_init(struct tnf *x)
{
	static const char *const own[] = {
#define TNF_X_NAME(name, desc) "nf." #name,
		TNF_COUNTERS(TNF_X_NAME)
#undef TNF_X_NAME
	};
	x->n_stack = bh_tcp_counters(x->t, NULL, NULL, 0); /* how many */
	x->n_pub = x->n_stack + TNF_C_MAX + 2 + x->app->n_counters;
	x->names = calloc(x->n_pub, sizeof(char *));
	x->vals = calloc(x->n_pub, sizeof(uint64_t));
	if (!x->names || !x->vals)
		return -ENOMEM;
	unsigned n = bh_tcp_counters(x->t, x->names, x->vals, x->n_stack);
	for (unsigned i = 0; i < TNF_C_MAX; i++)
		x->names[n++] = own[i];
	x->names[n++] = "tcp.fds";
	x->names[n++] = "tcp.conns";
	for (unsigned i = 0; i < x->app->n_counters; i++)
		x->names[n++] = x->app->counter_names[i];
	x->pub = bh_nf_app_counters(x->nf, x->names, n);
	x->n_pub = n;
	return x->pub ? 0 : -ENOMEM;
}

static void tnf_handle(struct bh_nf *nf, struct rte_mbuf **pkts, uint16_t n, void *ctx)
{
	struct tnf *x = ctx;
	uint64_t now = bh_now_ns();

	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		uint32_t len = rte_pktmbuf_pkt_len(m);
		if (len > TNF_FRAME_MAX) {
			x->c[TNF_C_rx_too_long]++;
			bh_drop(m);
			continue;
		}
		const uint8_t *f = rte_pktmbuf_read(m, 0, len, x->frame);
		x->last_port = bh_meta(m)->in_port;
		bh_tcp_input(x->t, f, len, now);
		x->c[TNF_C_rx_frames]++;
		bh_consume(m);
	}
	x->busy = true;
	x->dirty = true;
	tnf_flush(x);
}

/* The time this step began (bh_tcp_nf_now); one process runs one glue. */
static uint64_t tnf_step_now;

uint64_t bh_tcp_nf_now(void)
{
	return tnf_step_now;
}

static int tnf_poll(struct bh_nf *nf, void *ctx, uint64_t *wake_ns)
{
	struct tnf *x = ctx;
	uint64_t now = bh_now_ns(), wake;
	int work = 0;

	tnf_step_now = now;

	if (now >= x->deadline || (x->busy && now - x->last_timer >= TNF_TIMER_NS)) {
		x->deadline = bh_tcp_timer(x->t, now);
		x->last_timer = now;
		x->busy = false;
	}
	int w = x->app->step(x->t, x->ctx);
	bh_tcp_flush(x->t); /* what the step wrote with MSG_MORE goes now */
	if (w > 0) {
		work += w;
		x->busy = true;
		x->dirty = true;
	}
	if (x->n_tx)
		work++;
	tnf_flush(x);
	if (x->dirty && now >= x->next_publish)
		tnf_publish(x, now);

	wake = x->deadline;
	if (x->app->wake) {
		uint64_t a = x->app->wake(x->t, x->ctx);
		if (a < wake)
			wake = a;
	}
	if (x->busy && x->last_timer + TNF_TIMER_NS < wake)
		wake = x->last_timer + TNF_TIMER_NS;
	if (x->dirty && x->next_publish < wake)
		wake = x->next_publish;
	if (wake < *wake_ns)
		*wake_ns = wake;
	return work;
}

static int tnf_stop(struct bh_nf *nf, void *ctx)
{
	struct tnf *x = ctx;
	return x->app->stop ? x->app->stop(x->t, x->ctx) : 0;
}

static void tnf_usage(const struct bh_tcp_app *app)
{
	printf("usage: %s [-P prefix] [-s service] [-n name] [-q] -- --ip A.B.C.D/LEN "
	       "[stack options] [%s options]\n%s",
	       app->prog, app->prog, tnf_opts_usage);
	if (app->usage)
		printf("%s options:\n%s", app->prog, app->usage);
}

/* Resolve --port and --chain once attached. 0 or -ENOENT after one line. */
static int tnf_resolve(struct tnf *x, const struct tnf_opts *o)
{
	x->port = x->chain = -1;
	if (o->port && (x->port = bh_nf_port_id(x->nf, o->port)) < 0) {
		fprintf(stderr, "%s: --port: no port named '%s'\n", x->app->prog, o->port);
		return -ENOENT;
	}
	if (o->chain && (x->chain = bh_nf_chain_id(x->nf, o->chain)) < 0) {
		fprintf(stderr, "%s: --chain: no chain named '%s'\n", x->app->prog, o->chain);
		return -ENOENT;
	}
	if (x->port >= 0)
		x->last_port = (uint8_t)x->port;
	return 0;
}

int bh_tcp_nf_main(int argc, char **argv, const struct bh_tcp_app *app, void *ctx)
{
	struct bh_nf_conf conf = {.service = app->service};
	struct tnf_opts o;
	char err[600];
	struct tnf *x = NULL;
	int rc, status = 1;
	bool inited = false;

	int first = bh_nf_parse_args(argc, argv, &conf);
	if (first < 0)
		return 2;
	rc = tnf_opts_parse(argc, argv, first, &o, err, sizeof(err));
	if (rc == 1) {
		tnf_usage(app);
		tnf_opts_free(&o);
		return 0;
	}
	if (rc < 0) {
		fprintf(stderr, "%s: %s\n", app->prog, rc == -EINVAL ? err : strerror(-rc));
		return rc == -EINVAL ? 2 : 1;
	}
	x = calloc(1, sizeof(*x));
	if (!x) {
		fprintf(stderr, "%s: out of memory\n", app->prog);
		goto out;
	}
	x->app = app;
	x->ctx = ctx;
	x->port = x->chain = -1;
	o.conf.tx = tnf_tx;
	o.conf.tx_ctx = x;
	uint64_t now = bh_now_ns();
	x->t = bh_tcp_create(&o.conf, now);
	if (!x->t) {
		status = errno == EINVAL ? 2 : 1;
		fprintf(stderr, "%s: cannot create the TCP stack: %s\n", app->prog, strerror(errno));
		goto out;
	}
	if (app->policy) {
		/* The service's isolation policy from the manager's configuration,
		 * before init() (which may fork a zygote) and before attaching. */
		char path[256];
		const char *prefix = conf.prefix ? conf.prefix : "bulkhead";
		rc = iso_policy_path(path, sizeof(path), prefix, conf.service);
		if (rc == 0)
			rc = iso_policy_read(path, app->policy, ctx, err, sizeof(err));
		else
			snprintf(err, sizeof(err), "prefix and service name too long");
		if (rc < 0) {
			fprintf(stderr, "%s: isolation policy of service '%s': %s\n", app->prog,
				conf.service, err);
			status = 2;
			goto out;
		}
		conf.iso_applied = rc == 1;
		if (rc == 1 && !conf.quiet)
			printf("%s: isolation policy of service '%s' from the manager's config (%s)\n",
			       app->prog, conf.service, path);
	}
	rc = app->init(x->t, o.app_argc, o.app_argv, ctx);
	if (rc < 0) {
		status = rc == -EINVAL ? 2 : 1;
		goto out;
	}
	inited = true;

	x->nf = bh_nf_attach(&conf);
	if (!x->nf)
		goto out;
	atomic_store(&tnf_waker.nf, x->nf);
	if (atomic_load(&tnf_waker.woken))
		bh_nf_kick(x->nf);
	if (tnf_resolve(x, &o) < 0) {
		status = 2;
		goto detach;
	}
	if (tnf_counters_init(x) < 0)
		fprintf(stderr, "%s: warning: counters not published\n", app->prog);
	now = bh_now_ns();
	bh_tcp_announce(x->t, now); /* gratuitous ARP */
	x->deadline = bh_tcp_timer(x->t, now);
	x->last_timer = now;
	tnf_flush(x);
	tnf_publish(x, now);
	if (!conf.quiet) {
		const uint8_t *mac = o.conf.mac;
		unsigned plen = (unsigned)__builtin_popcount(o.conf.mask);
		const struct bh_state *st = bh_nf_state(x->nf);
		printf("%s: %u.%u.%u.%u/%u mac %02x:%02x:%02x:%02x:%02x:%02x on port %s%s%s\n", app->prog,
		       o.conf.ip >> 24, (o.conf.ip >> 16) & 255, (o.conf.ip >> 8) & 255, o.conf.ip & 255, plen,
		       mac[0], mac[1], mac[2], mac[3], mac[4], mac[5],
		       x->port >= 0 ? st->ports[x->port].name : "of arrival",
		       o.chain ? ", out along chain " : "", o.chain ? o.chain : "");
		fflush(stdout);
	}

	struct bh_nf_ops ops = {.handle = tnf_handle, .poll = tnf_poll, .stop = tnf_stop};
	rc = bh_nf_run(x->nf, &ops, x);
	status = rc == 0 ? 0 : 1;
	tnf_flush(x);
	tnf_publish(x, bh_now_ns());
detach:
	/* After this the waker no longer touches the NF, which detaches below. */
	atomic_store(&tnf_waker.nf, NULL);
	while (atomic_load(&tnf_waker.kicking))
		sched_yield();
	if (app->fini)
		app->fini(x->t, ctx);
	inited = false;
	tnf_flush(x);
out:
	if (inited && app->fini)
		app->fini(x->t, ctx);
	if (x && x->t) {
		size_t leaked = bh_tcp_destroy(x->t);
		if (leaked)
			fprintf(stderr, "%s: the stack leaked %zu buffer chunks\n", app->prog, leaked);
	}
	if (x && x->nf)
		bh_nf_detach(x->nf);
	if (x) {
		free(x->names);
		free(x->vals);
	}
	free(x);
	tnf_opts_free(&o);
	return status;
}

int bh_tcp_nf_listen(struct bh_tcp *t, int epfd, uint16_t port, int backlog, const char *prog)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = INADDR_ANY};
	struct epoll_event ev = {.events = EPOLLIN};
	int one = 1, err;
	int fd = bh_socket(t, AF_INET, SOCK_STREAM, 0);
	if (fd < 0) {
		err = errno;
		fprintf(stderr, "%s: socket: %s\n", prog, strerror(err));
		return -err;
	}
	ev.data.fd = fd;
	if (bh_setsockopt(t, fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bh_bind(t, fd, (const struct sockaddr *)&a, sizeof(a)) < 0 || bh_listen(t, fd, backlog) < 0 ||
	    bh_epoll_ctl(t, epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		err = errno;
		fprintf(stderr, "%s: cannot listen on port %u: %s\n", prog, port, strerror(err));
		bh_close(t, fd);
		return -err;
	}
	return fd;
}

int bh_tcp_nf_num(const char *prog, const char *opt, const char *val, uint64_t lo, uint64_t hi,
		  bool sized, uint64_t *out)
{
	if (tnf_num(val, lo, hi, sized, out) == 0)
		return 0;
	fprintf(stderr, "%s: --%s: expected %llu..%llu%s, not '%s'\n", prog, opt, (unsigned long long)lo,
		(unsigned long long)hi, sized ? " (k, m, g suffixes)" : "", val);
	return -EINVAL;
}

int bh_tcp_nf_table(void **tab, uint32_t *n, size_t elem, int fd)
{
	if (fd < 0)
		return -EINVAL;
	if ((uint32_t)fd < *n)
		return 0;
	uint32_t want = *n ? *n : 1024;
	while (want <= (uint32_t)fd)
		want *= 2;
	uint8_t *p = realloc(*tab, (size_t)want * elem);
	if (!p)
		return -ENOMEM;
	memset(p + (size_t)*n * elem, 0, (size_t)(want - *n) * elem);
	*tab = p;
	*n = want;
	return 0;
}
