/* SPDX-License-Identifier: MIT */
/*
 * speed: an internal packet generator. It keeps `batch` packets looping through
 * a chain that starts and ends at this NF, and reports Mpps and loop latency.
 *
 *   bh-speed [nflib options] -- --chain NAME [--batch N] [--size BYTES]
 *            [--duration SEC] [--interval SEC] [--warmup SEC]
 *
 * The chain is ["speed", f1, ..., fH, "speed"] with no "out". Packets are
 * injected at hop 0 with verdict NEXT, so they go to f1; the last hop is this NF
 * again, whose handle callback stamps them, resets their hop to 0 and leaves them
 * NEXT: nflib dispatches them to f1 after the callback returns. That is the whole
 * loop: no allocation, no copy, one timestamp per packet per loop.
 *
 * Loop latency is the time between two arrivals of the same packet at speed.
 * A loop crosses len - 1 rings (speed -> f1 -> ... -> fH -> speed), which is
 * what "hops" means below; per-hop latency is the mean loop latency / hops.
 * With `batch` packets in flight the loop latency is mostly queueing
 * (Little's law: mean loop = batch / rate); a smaller --batch shows the
 * unloaded cost.
 *
 * The run: wait until every service of the chain has an instance, loop for
 * --warmup seconds (reported, not counted), measure for --duration seconds
 * (0: until SIGINT/SIGTERM), then drain: stop re-injecting, keep what comes
 * back, and free it once everything is back (or after SPD_DRAIN_NS).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_ether.h>
#include <rte_mbuf.h>

#include "bulkhead/nf.h"

#define SPD_MAGIC 0x53504431u /* "SPD1" */
#define SPD_ETHERTYPE 0x88b5  /* IEEE local experimental */
#define SPD_STAMP_OFF RTE_ETHER_HDR_LEN
#define SPD_MIN_SIZE 64
#define SPD_MAX_BATCH 65536
#define SPD_INJECT_CHUNK 64
#define SPD_DRAIN_NS 500000000ull   /* give up waiting for in-flight packets */
#define SPD_WAIT_POLL_NS 1000000ull /* re-check the chain's instances */
#define SPD_STALL_INTERVALS 3       /* intervals with nothing back: fail */

/* Log-linear histogram of TSC cycles: 16 sub-buckets per power of two (~6%). */
#define SPD_HIST_SUB_BITS 4
#define SPD_HIST_SUB (1u << SPD_HIST_SUB_BITS)
#define SPD_HIST_N (64u * SPD_HIST_SUB)

/* Application counters (name, description): one list for stats and this file. */
#define SPD_COUNTERS(X)                                                         \
	X(pkts, "packets that came back to speed after a full loop")           \
	X(loops, "circulations of the whole batch (pkts / batch)")             \
	X(inflight, "packets looping now")                                    \
	X(lost, "packets dropped in the chain (replaced)")                     \
	X(foreign, "packets without speed's stamp (dropped)")                  \
	X(lat_ns_p50, "median loop latency over the last interval")            \
	X(lat_ns_p99, "99th percentile loop latency over the last interval")

#define SPD_X_ENUM(name, desc) SPD_C_##name,
enum spd_counter { SPD_COUNTERS(SPD_X_ENUM) SPD_C_MAX };
#undef SPD_X_ENUM

enum spd_phase { SPD_WAIT, SPD_WARMUP, SPD_RUN, SPD_DRAIN, SPD_DONE };

struct spd_stamp {
	uint32_t magic;
	uint32_t seq;
	uint64_t tsc;
};

struct spd_hist {
	uint64_t n;
	uint64_t sum; /* cycles */
	uint64_t max;
	uint64_t b[SPD_HIST_N];
};

struct spd_opts {
	const char *chain;
	unsigned batch;
	unsigned size;
	double duration, interval, warmup;
};

struct spd {
	struct bh_nf *nf;
	struct spd_opts o;
	uint16_t chain;
	uint16_t len;      /* chain length, speed counted at both ends */
	unsigned hops;     /* rings a loop crosses: len - 1 */
	uint64_t hz;       /* TSC cycles per second */
	enum spd_phase phase;
	uint64_t next_event;  /* TSC: the next time poll has work */
	uint64_t phase_start; /* TSC */
	uint64_t run_end;     /* TSC, 0: until a signal */
	uint64_t drain_end;   /* TSC */
	uint64_t ivl_start;   /* TSC */
	uint64_t ivl_pkts;
	uint64_t run_pkts;
	uint64_t run_tsc;     /* measured time */
	uint64_t drops_seen;  /* chain drops already accounted for */
	unsigned inflight;
	unsigned stalled;     /* consecutive intervals with nothing back */
	uint64_t handle_tsc;  /* TSC read by the last handle call, 0: used */
	unsigned poll_skip;   /* polls since poll last read the TSC itself */
	uint32_t seq;
	int failed;
	unsigned announced; /* "waiting for" printed */
	struct rte_mbuf **held; /* packets back during the drain */
	unsigned n_held, max_held;
	struct spd_hist ivl, total;
	struct bh_app_counter *ac;
	struct bh_app_counter ac_local[SPD_C_MAX]; /* if publishing failed */
};

static struct spd *spd_current;
static volatile sig_atomic_t spd_signals;

static inline unsigned spd_hist_idx(uint64_t v)
{
	if (v < SPD_HIST_SUB)
		return (unsigned)v;
	unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= SPD_HIST_SUB_BITS */
	return (e - SPD_HIST_SUB_BITS + 1) * SPD_HIST_SUB +
	       (unsigned)((v >> (e - SPD_HIST_SUB_BITS)) & (SPD_HIST_SUB - 1));
}

/* Middle of bucket i, in cycles. */
static double spd_hist_mid(unsigned i)
{
	if (i < SPD_HIST_SUB)
		return i;
	unsigned e = i / SPD_HIST_SUB + SPD_HIST_SUB_BITS - 1, sub = i % SPD_HIST_SUB;
	double width = ldexp(1.0, (int)(e - SPD_HIST_SUB_BITS));
	return ((double)(SPD_HIST_SUB + sub) + 0.5) * width;
}

static inline void spd_hist_add(struct spd_hist *h, uint64_t v)
{
	h->n++;
	h->sum += v;
	if (v > h->max)
		h->max = v;
	h->b[spd_hist_idx(v)]++;
}

static void spd_hist_merge(struct spd_hist *dst, const struct spd_hist *src)
{
	dst->n += src->n;
	dst->sum += src->sum;
	if (src->max > dst->max)
		dst->max = src->max;
	for (unsigned i = 0; i < SPD_HIST_N; i++)
		dst->b[i] += src->b[i];
}

/* Quantile q in (0, 1], in cycles (0 if empty). */
static double spd_hist_quantile(const struct spd_hist *h, double q)
{
	if (!h->n)
		return 0;
	uint64_t want = (uint64_t)ceil(q * (double)h->n), seen = 0;
	if (want == 0)
		want = 1;
	for (unsigned i = 0; i < SPD_HIST_N; i++) {
		seen += h->b[i];
		if (seen >= want)
			return RTE_MIN(spd_hist_mid(i), (double)h->max);
	}
	return (double)h->max;
}

static double spd_ns(const struct spd *s, double cycles) { return cycles * 1e9 / (double)s->hz; }

static uint64_t spd_cycles(const struct spd *s, double sec)
{
	return (uint64_t)(sec * (double)s->hz);
}

/*
 * Packets the chain's NFs dropped other than by a verdict (full ring, no
 * instance): the only way a looping packet disappears while its holder lives.
 * Read once per interval.
 */
static uint64_t spd_chain_drops(const struct spd *s)
{
	const struct bh_state *st = bh_nf_state(s->nf);
	const struct bh_chain *c = &st->chains[s->chain];
	uint64_t sum = 0;
	for (unsigned i = 0; i < st->max_nfs; i++) {
		const struct bh_nf_slot *sl = &st->nfs[i];
		unsigned h = 0;
		if (atomic_load_explicit(&sl->state, memory_order_relaxed) == BH_SLOT_FREE)
			continue;
		while (h < s->len && st->hops[c->first + h] != sl->service)
			h++;
		if (h == s->len)
			continue; /* not in the chain */
		for (unsigned d = 0; d < BH_NF_DROP_MAX; d++)
			if (d != BH_DROP_verdict)
				sum += sl->c.drops[d];
	}
	return sum;
}

/* Returns the first service of the chain with no instance, or -1 if all have one. */
static int spd_chain_missing(const struct spd *s)
{
	const struct bh_state *st = bh_nf_state(s->nf);
	const struct bh_chain *c = &st->chains[s->chain];
	for (unsigned h = 1; h < s->len; h++) {
		uint16_t svc = st->hops[c->first + h];
		if (st->services[svc].n_instances == 0)
			return svc;
	}
	return -1;
}

/* Allocate, stamp and send up to n new packets. Returns how many are looping. */
static unsigned spd_inject(struct spd *s, unsigned n)
{
	struct rte_mbuf *pkts[SPD_INJECT_CHUNK];
	unsigned done = 0;

	while (done < n) {
		unsigned want = RTE_MIN(n - done, (unsigned)SPD_INJECT_CHUNK), k = 0;
		uint64_t now = rte_rdtsc();
		for (; k < want; k++) {
			struct rte_mbuf *m = bh_nf_alloc(s->nf);
			if (!m)
				break;
			char *p = rte_pktmbuf_append(m, (uint16_t)s->o.size);
			if (!p) {
				bh_nf_free(s->nf, &m, 1);
				break;
			}
			memset(p, 0, s->o.size);
			struct rte_ether_hdr *eh = (struct rte_ether_hdr *)p;
			eh->dst_addr.addr_bytes[0] = 0x02;
			eh->dst_addr.addr_bytes[5] = 0x02;
			eh->src_addr.addr_bytes[0] = 0x02;
			eh->src_addr.addr_bytes[5] = 0x01;
			eh->ether_type = rte_cpu_to_be_16(SPD_ETHERTYPE);
			struct spd_stamp *sp = (struct spd_stamp *)(p + SPD_STAMP_OFF);
			sp->magic = SPD_MAGIC;
			sp->seq = s->seq++;
			sp->tsc = now;
			/* Spread over a service's instances, should it have several. */
			bh_meta(m)->flow_hash = sp->seq * 2654435761u;
			bh_nf_set_chain(s->nf, m, s->chain, 0);
			bh_next(m);
			pkts[k] = m;
		}
		if (!k)
			break;
		/* NB: bh_nf_send takes ownership of all k, drops the ones it cannot hand on. */
		unsigned sent = bh_nf_send(s->nf, pkts, (uint16_t)k);
		s->inflight += sent;
		done += sent;
		if (k < want || sent < k)
			break;
	}
	s->ac[SPD_C_inflight].value = s->inflight;
	return done;
}

static void spd_handle(struct bh_nf *nf, struct rte_mbuf **pkts, uint16_t n, void *ctx)
{
	struct spd *s = ctx;
	uint64_t now = rte_rdtsc();
	unsigned back = 0;

	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		struct spd_stamp *sp = rte_pktmbuf_mtod_offset(m, struct spd_stamp *, SPD_STAMP_OFF);
		if (rte_pktmbuf_data_len(m) < SPD_STAMP_OFF + sizeof(*sp) || sp->magic != SPD_MAGIC ||
		    bh_meta(m)->chain != s->chain) {
			s->ac[SPD_C_foreign].value++;
			bh_drop(m);
			continue;
		}
		back++;
		spd_hist_add(&s->ivl, now > sp->tsc ? now - sp->tsc : 0);
		if (s->phase >= SPD_DRAIN) {
			if (s->n_held < s->max_held) {
				bh_keep(m);
				s->held[s->n_held++] = m;
			} else {
				bh_drop(m);
			}
			continue;
		}
		/* Around again: the verdict stays NEXT, nflib sends it to hop 1. */
		sp->tsc = now;
		bh_nf_set_chain(nf, m, s->chain, 0);
	}
	s->ivl_pkts += back;
	s->handle_tsc = now;
	s->ac[SPD_C_pkts].value += back;
	if (s->phase >= SPD_DRAIN)
		s->inflight -= RTE_MIN(back, s->inflight);
}

static void spd_print_interval(struct spd *s, uint64_t now, const char *label)
{
	double secs = (double)(now - s->ivl_start) / (double)s->hz;
	const struct spd_hist *h = &s->ivl;
	double mean = h->n ? spd_ns(s, (double)h->sum / (double)h->n) : 0;
	double p50 = spd_ns(s, spd_hist_quantile(h, 0.50));
	double p99 = spd_ns(s, spd_hist_quantile(h, 0.99));

	printf("speed: %-6s t=%6.2fs mpps=%.3f lat_ns mean=%.0f p50=%.0f p99=%.0f "
	       "per_hop_ns=%.0f inflight=%u\n",
	       label, (double)(now - s->phase_start) / (double)s->hz,
	       secs > 0 ? (double)s->ivl_pkts / secs / 1e6 : 0, mean, p50, p99,
	       mean / s->hops, s->inflight);
	fflush(stdout);
	s->ac[SPD_C_lat_ns_p50].value = (uint64_t)p50;
	s->ac[SPD_C_lat_ns_p99].value = (uint64_t)p99;
}

/* Close the current interval; count it if it belongs to the measurement. */
static void spd_close_interval(struct spd *s, uint64_t now, int print, const char *label)
{
	if (print)
		spd_print_interval(s, now, label);
	if (s->phase == SPD_RUN) {
		spd_hist_merge(&s->total, &s->ivl);
		s->run_pkts += s->ivl_pkts;
		s->run_tsc += now - s->ivl_start;
	}
	s->stalled = s->ivl_pkts ? 0 : s->stalled + 1;
	memset(&s->ivl, 0, sizeof(s->ivl));
	s->ivl_pkts = 0;
	s->ivl_start = now;
	s->ac[SPD_C_loops].value = s->ac[SPD_C_pkts].value / s->o.batch;
}

/* Replace packets the chain dropped, so that `batch` stay in flight. */
static void spd_replace_lost(struct spd *s)
{
	uint64_t drops = spd_chain_drops(s);
	if (drops > s->drops_seen) {
		unsigned lost = (unsigned)RTE_MIN(drops - s->drops_seen, (uint64_t)s->inflight);
		s->inflight -= lost;
		s->ac[SPD_C_lost].value += lost;
	}
	s->drops_seen = drops;
	if (s->inflight < s->o.batch)
		spd_inject(s, s->o.batch - s->inflight);
}

static void spd_begin_drain(struct spd *s, uint64_t now)
{
	if (s->phase == SPD_RUN)
		spd_close_interval(s, now, now > s->ivl_start, "run");
	else if (s->phase == SPD_WARMUP)
		spd_close_interval(s, now, 0, "");
	s->phase = SPD_DRAIN;
	s->drain_end = now + spd_cycles(s, SPD_DRAIN_NS / 1e9);
	s->next_event = now;
}

/* The current TSC, cheaply: poll runs on every loop iteration, and rdtsc costs. */
static uint64_t spd_poll_now(struct spd *s)
{
	uint64_t now = s->handle_tsc;
	if (s->phase != SPD_RUN && s->phase != SPD_WARMUP)
		return rte_rdtsc();
	if (now) { /* packets came this iteration: handle read the clock */
		s->handle_tsc = 0;
		return now;
	}
	/* Idle spin: every 16th call is timely enough (nflib spins 256 times). */
	return ++s->poll_skip & 15 ? 0 : rte_rdtsc();
}

static int spd_poll(struct bh_nf *nf, void *ctx, uint64_t *wake_ns)
{
	struct spd *s = ctx;

	if (spd_signals && s->phase < SPD_DRAIN)
		spd_begin_drain(s, rte_rdtsc());
	uint64_t now = spd_poll_now(s);
	if (now < s->next_event)
		return 0;

	switch (s->phase) {
	case SPD_WAIT:
		int missing = spd_chain_missing(s);
		if (missing >= 0) {
			if (!s->announced++) {
				printf("speed: waiting for an instance of '%s'\n",
				       bh_nf_state(nf)->services[missing].name);
				fflush(stdout);
			}
			s->next_event = now + spd_cycles(s, SPD_WAIT_POLL_NS / 1e9);
			*wake_ns = bh_now_ns() + SPD_WAIT_POLL_NS;
			return 0;
		}
		s->drops_seen = spd_chain_drops(s);
		s->phase = SPD_WARMUP;
		s->phase_start = s->ivl_start = now;
		s->next_event = now + spd_cycles(s, s->o.warmup);
		if (spd_inject(s, s->o.batch) < s->o.batch)
			fprintf(stderr, "bh-speed: only %u of %u packets in flight (pool exhausted?)\n",
				s->inflight, s->o.batch);
		return 1;
	case SPD_WARMUP:
		if (s->o.warmup > 0)
			spd_close_interval(s, now, 1, "warmup");
		else
			spd_close_interval(s, now, 0, "");
		spd_replace_lost(s);
		s->phase = SPD_RUN;
		s->phase_start = s->ivl_start = now;
		s->run_end = s->o.duration > 0 ? now + spd_cycles(s, s->o.duration) : 0;
		s->next_event = now + spd_cycles(s, s->o.interval);
		if (s->run_end && s->run_end < s->next_event)
			s->next_event = s->run_end;
		return 1;
	case SPD_RUN:
		if (s->run_end && now >= s->run_end) {
			spd_begin_drain(s, now);
			return 1;
		}
		spd_close_interval(s, now, 1, "run");
		if (s->stalled >= SPD_STALL_INTERVALS) {
			fprintf(stderr, "bh-speed: nothing came back for %u intervals: the loop is "
					"broken (an NF of the chain exited?)\n", s->stalled);
			s->failed = 1;
			spd_begin_drain(s, now);
			return 1;
		}
		spd_replace_lost(s);
		s->next_event = now + spd_cycles(s, s->o.interval);
		if (s->run_end && s->run_end < s->next_event)
			s->next_event = s->run_end;
		return 1;
	case SPD_DRAIN:
		if (s->inflight && now < s->drain_end) {
			/* nflib sleeps only until this, so the deadline is kept. */
			*wake_ns = bh_now_ns() + 1000000ull;
			s->next_event = now + spd_cycles(s, 1e-3);
			return 0;
		}
		s->phase = SPD_DONE;
		bh_nf_request_stop(nf);
		return 1;
	case SPD_DONE:
		return 0;
	}
	return 0;
}

/* First signal: drain and report. Second: stop now. */
static void spd_on_signal(int sig)
{
	(void)sig;
	if (spd_signals++ && spd_current)
		bh_nf_request_stop(spd_current->nf);
}

static void spd_summary(const struct spd *s)
{
	const struct spd_hist *h = &s->total;
	double secs = (double)s->run_tsc / (double)s->hz;
	double mean = h->n ? spd_ns(s, (double)h->sum / (double)h->n) : 0;

	/* A broken run keeps its numbers but not the prefix scripts look for. */
	printf("speed: %snfs=%u hops=%u batch=%u size=%u secs=%.2f pkts=%llu mpps=%.3f "
	       "lat_ns_mean=%.0f lat_ns_p50=%.0f lat_ns_p99=%.0f lat_ns_max=%.0f per_hop_ns=%.1f "
	       "lost=%llu\n",
	       s->failed ? "FAILED " : "", s->len - 2u, s->hops, s->o.batch, s->o.size, secs,
	       (unsigned long long)s->run_pkts, secs > 0 ? (double)s->run_pkts / secs / 1e6 : 0, mean,
	       spd_ns(s, spd_hist_quantile(h, 0.50)), spd_ns(s, spd_hist_quantile(h, 0.99)),
	       spd_ns(s, (double)h->max), mean / s->hops,
	       (unsigned long long)s->ac[SPD_C_lost].value);
	fflush(stdout);
}

static void spd_usage(FILE *f)
{
	fprintf(f, "usage: bh-speed [-P prefix] [-s service] [-n name] [-q] -- --chain NAME\n"
		   "         [--batch N (128)] [--size BYTES (64)] [--duration SEC (0: until "
		   "SIGINT)]\n"
		   "         [--interval SEC (1)] [--warmup SEC (0.5)]\n"
		   "The chain is [\"speed\", f1, ..., \"speed\"]: it must end at this NF's service.\n");
}

static int spd_parse_secs(const char *arg, const char *what, double min, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(arg, &end);
	if (errno || end == arg || *end || !(v >= min) || v > 86400) {
		fprintf(stderr, "bh-speed: %s: '%s' is not a number of seconds >= %g\n", what, arg, min);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int spd_parse_uint(const char *arg, const char *what, unsigned lo, unsigned hi,
			  unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(arg, &end, 10);
	if (errno || end == arg || *end || arg[0] == '-' || v < lo || v > hi) {
		fprintf(stderr, "bh-speed: %s: '%s' is not an integer in [%u, %u]\n", what, arg, lo, hi);
		return -EINVAL;
	}
	*out = (unsigned)v;
	return 0;
}

/* Returns 0, 1 for --help, or -EINVAL after printing why. */
static int spd_parse(int argc, char **argv, struct spd_opts *o)
{
	static const struct option opts[] = {
		{"chain", required_argument, NULL, 'c'},   {"batch", required_argument, NULL, 'b'},
		{"size", required_argument, NULL, 'z'},    {"duration", required_argument, NULL, 'd'},
		{"interval", required_argument, NULL, 'i'}, {"warmup", required_argument, NULL, 'w'},
		{"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
	};
	int c, rc = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c': o->chain = optarg; break;
		case 'b': rc = spd_parse_uint(optarg, "--batch", 1, SPD_MAX_BATCH, &o->batch); break;
		case 'z': rc = spd_parse_uint(optarg, "--size", SPD_MIN_SIZE, 65535, &o->size); break;
		case 'd': rc = spd_parse_secs(optarg, "--duration", 0, &o->duration); break;
		case 'i': rc = spd_parse_secs(optarg, "--interval", 0.01, &o->interval); break;
		case 'w': rc = spd_parse_secs(optarg, "--warmup", 0, &o->warmup); break;
		case 'h': spd_usage(stdout); return 1;
		default: spd_usage(stderr); return -EINVAL;
		}
		if (rc < 0)
			return rc;
	}
	if (optind != argc) {
		fprintf(stderr, "bh-speed: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (!o->chain) {
		fprintf(stderr, "bh-speed: --chain NAME is required\n");
		return -EINVAL;
	}
	return 0;
}

/* Resolve and check the chain; set up counters and buffers. */
static int spd_setup(struct spd *s)
{
	static const char *const names[] = {
#define SPD_X_NAME(name, desc) #name,
		SPD_COUNTERS(SPD_X_NAME)
#undef SPD_X_NAME
	};
	const struct bh_state *st = bh_nf_state(s->nf);
	const struct bh_nf_slot *self = bh_nf_slot(s->nf);
	int id = bh_nf_chain_id(s->nf, s->o.chain);

	if (id < 0) {
		fprintf(stderr, "bh-speed: --chain: no chain named '%s'\n", s->o.chain);
		return -ENOENT;
	}
	const struct bh_chain *c = &st->chains[id];
	s->chain = (uint16_t)id;
	s->len = c->len;
	if (c->len < 2 || st->hops[c->first + c->len - 1] != self->service) {
		fprintf(stderr, "bh-speed: chain '%s' must end at this NF's service '%s' (e.g. "
				"[\"%s\", \"f1\", \"%s\"])\n",
			s->o.chain, st->services[self->service].name, st->services[self->service].name,
			st->services[self->service].name);
		return -EINVAL;
	}
	if (st->hops[c->first] != self->service)
		fprintf(stderr, "bh-speed: note: chain '%s' does not start at '%s'; hop 0 is "
				"skipped anyway\n",
			s->o.chain, st->services[self->service].name);
	s->hops = c->len - 1u;

	struct rte_mbuf *probe = bh_nf_alloc(s->nf);
	if (!probe) {
		fprintf(stderr, "bh-speed: the packet pool is empty\n");
		return -ENOMEM;
	}
	unsigned room = rte_pktmbuf_tailroom(probe);
	bh_nf_free(s->nf, &probe, 1);
	if (s->o.size > room) {
		fprintf(stderr, "bh-speed: --size: %u bytes do not fit a packet buffer (%u)\n",
			s->o.size, room);
		return -EINVAL;
	}

	s->max_held = s->o.batch;
	s->held = calloc(s->max_held, sizeof(*s->held));
	if (!s->held)
		return -ENOMEM;
	s->ac = bh_nf_app_counters(s->nf, names, SPD_C_MAX);
	if (!s->ac) {
		fprintf(stderr, "bh-speed: cannot publish counters; continuing without\n");
		s->ac = s->ac_local;
	}
	s->hz = rte_get_tsc_hz();
	return 0;
}

int main(int argc, char **argv)
{
	struct bh_nf_conf conf = {.service = "speed"};
	static struct spd s; /* two histograms: keep them off the stack */
	int first = bh_nf_parse_args(argc, argv, &conf);
	if (first < 0)
		return 2;

	s.o = (struct spd_opts){.batch = 128, .size = 64, .interval = 1.0, .warmup = 0.5};
	int rc = spd_parse(argc - first + 1, argv + first - 1, &s.o);
	if (rc)
		return rc > 0 ? 0 : 2;

	s.nf = bh_nf_attach(&conf);
	if (!s.nf)
		return 1;
	if (spd_setup(&s) < 0) {
		free(s.held);
		bh_nf_detach(s.nf);
		return 2;
	}
	/* Replace nflib's handlers: the first signal drains and reports. */
	spd_current = &s;
	struct sigaction sa = {.sa_handler = spd_on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	printf("speed: chain '%s': %u NF(s), %u hops a loop, batch %u, %u bytes, tsc %.3f GHz\n",
	       s.o.chain, s.len - 2u, s.hops, s.o.batch, s.o.size, (double)s.hz / 1e9);
	fflush(stdout);

	struct bh_nf_ops ops = {.handle = spd_handle, .poll = spd_poll};
	rc = bh_nf_run(s.nf, &ops, &s);
	for (unsigned i = 0; i < s.n_held; i += UINT16_MAX) /* NB: frees them */
		bh_nf_free(s.nf, s.held + i, (uint16_t)RTE_MIN(s.n_held - i, (unsigned)UINT16_MAX));
	if (s.inflight)
		fprintf(stderr, "bh-speed: %u packet(s) still in the chain at exit; the manager "
				"reclaims them\n", s.inflight);
	int measured = s.run_tsc > 0;
	if (measured)
		spd_summary(&s);
	else
		fprintf(stderr, "bh-speed: stopped before any measurement\n");
	free(s.held);
	bh_nf_detach(s.nf);
	if (rc < 0 || s.failed || !measured)
		return 1;
	return 0;
}
