/* SPDX-License-Identifier: MIT */
/*
 * impair: netem-like impairments (loss, delay, jitter, reordering, duplication,
 * corruption, rate limiting) applied per direction, a direction being the port
 * a packet arrived on.
 *
 *   bh-impair [nflib options] -- --dir PORT|all SPEC [--dir PORT|all SPEC ...]
 *   SPEC: loss=P%,delay=T,jitter=T,reorder=P%,dup=P%,corrupt=P%,rate=R,limit=N,seed=N
 *
 * `all` applies to every port; a port's own --dir overrides the items it names
 * (in any order on the command line), and a later --dir for the same port
 * overrides an earlier one. The decisions are made by impair_core.c; this file
 * only moves mbufs: kept packets wait in the core's queue and leave from
 * poll() when due. Packets of ports without a spec pass untouched.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_mbuf.h>

#include "bulkhead/nf.h"
#include "impair_core.h"

#define IMP_PROG "bh-impair"
#define IMP_MAX_ARGS 64     /* --dir options */
#define IMP_BURST 64        /* packets released per bh_nf_send() */
#define IMP_POLL_ROUNDS 16  /* bursts per poll() before yielding to rx */
#define IMP_VLAN_MAX 2

struct imp_dir_arg {
	const char *port; /* NULL: all */
	struct imp_spec spec;
};

struct imp_nf {
	struct bh_nf *nf;
	struct imp_core *core;
	struct rte_mempool *pool;
	struct bh_app_counter *ctr; /* [n_dirs * IMP_N_COUNTERS], NULL if not published */
	unsigned n_dirs;
	bool parse_l2[IMP_MAX_DIRS]; /* corruption configured: find the real L2 length */
};

/* Ethernet header length, with up to IMP_VLAN_MAX 802.1Q/802.1ad tags. */
static uint32_t imp_l2_len(const struct rte_mbuf *m)
{
	uint32_t off = 12;
	for (unsigned i = 0; i <= IMP_VLAN_MAX; i++) {
		uint16_t buf;
		const uint16_t *et = rte_pktmbuf_read(m, off, sizeof(buf), &buf);
		if (!et)
			break;
		uint16_t t = rte_be_to_cpu_16(*et);
		if (i == IMP_VLAN_MAX || (t != RTE_ETHER_TYPE_VLAN && t != RTE_ETHER_TYPE_QINQ))
			break;
		off += 4;
	}
	return off + 2;
}

/* Flip payload bit `bit` (counted from the end of the L2 header). 0, or -EPERM if the data is shared. */
static int imp_corrupt(struct rte_mbuf *m, uint32_t l2, uint32_t bit)
{
	uint32_t off = l2 + bit / 8;
	struct rte_mbuf *seg = m;

	while (seg && off >= seg->data_len) {
		off -= seg->data_len;
		seg = seg->next;
	}
	if (!seg)
		return -EINVAL;
	/* an indirect or shared segment is someone else's data too */
	if (!RTE_MBUF_DIRECT(seg) || rte_mbuf_refcnt_read(seg) != 1)
		return -EPERM;
	*rte_pktmbuf_mtod_offset(seg, uint8_t *, off) ^= (uint8_t)(1u << (bit & 7));
	return 0;
}

/* Copy m for a duplicate and queue the copy; the original is not touched. */
static void imp_dup(struct imp_nf *x, struct rte_mbuf *m, unsigned dir, uint64_t now, uint32_t l2)
{
	struct imp_stats *st = imp_core_stats(x->core, dir);
	uint32_t len = rte_pktmbuf_pkt_len(m);
	struct imp_verdict v;
	/* the copy carries m's bh_meta (chain, hop): dynfields are copied */
	struct rte_mbuf *c = rte_pktmbuf_copy(m, x->pool, 0, UINT32_MAX);

	if (!c) {
		st->dup--;
		st->nobuf++;
		return;
	}
	imp_core_packet(x->core, dir, now, len, len > l2 ? len - l2 : 0, IMP_F_COPY, c, &v);
	if (v.action == IMP_DROP) { /* overlimit, counted */
		bh_nf_free(x->nf, &c, 1); /* NB: frees the copy */
		return;
	}
	if (v.corrupt && imp_corrupt(c, l2, v.corrupt_bit) < 0)
		st->corrupt--;
	/* IMP_HOLD: the core owns the pointer now; poll() sends it */
}

static void imp_publish(struct imp_nf *x)
{
	if (!x->ctr)
		return;
	for (unsigned d = 0; d < x->n_dirs; d++) {
		const struct imp_stats *st = imp_core_stats(x->core, d);
		struct bh_app_counter *c = &x->ctr[d * IMP_N_COUNTERS];
		unsigned k = 0;
#define IMP_X_PUB(name, desc) __atomic_store_n(&c[k++].value, st->name, __ATOMIC_RELAXED);
		IMP_COUNTERS(IMP_X_PUB)
#undef IMP_X_PUB
	}
}

static void imp_handle(struct bh_nf *nf, struct rte_mbuf **pkts, uint16_t n, void *ctx)
{
	struct imp_nf *x = ctx;
	uint64_t now = bh_now_ns();
	struct imp_verdict v;

	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		unsigned dir = bh_meta(m)->in_port;
		uint32_t len = rte_pktmbuf_pkt_len(m), l2;

		if (dir >= x->n_dirs)
			continue; /* not a port we know: untouched */
		l2 = x->parse_l2[dir] ? imp_l2_len(m) : RTE_ETHER_HDR_LEN;
		imp_core_packet(x->core, dir, now, len, len > l2 ? len - l2 : 0, 0, m, &v);
		if (v.action == IMP_DROP) {
			bh_drop(m);
			continue;
		}
		if (v.dup) /* before corrupting the original, as netem does */
			imp_dup(x, m, dir, now, l2);
		if (v.corrupt && imp_corrupt(m, l2, v.corrupt_bit) < 0)
			imp_core_stats(x->core, dir)->corrupt--;
		if (v.action == IMP_HOLD)
			bh_keep(m); /* the core holds it; poll() sends it when due */
		/* IMP_PASS: leaves with the NEXT verdict it came with */
	}
	imp_publish(x);
}

static int imp_poll(struct bh_nf *nf, void *ctx, uint64_t *wake_ns)
{
	struct imp_nf *x = ctx;
	uint64_t now = bh_now_ns(), next;
	void *held[IMP_BURST];
	struct rte_mbuf *out[IMP_BURST];
	int work = 0;

	for (unsigned r = 0; r < IMP_POLL_ROUNDS; r++) {
		unsigned k = imp_core_release(x->core, now, held, NULL, IMP_BURST);
		if (k == 0)
			break;
		for (unsigned i = 0; i < k; i++) {
			out[i] = held[i];
			bh_next(out[i]);
		}
		bh_nf_send(nf, out, (uint16_t)k); /* NB: takes all k; failures are counted by nflib */
		work += (int)k;
		if (k < IMP_BURST)
			break;
	}
	next = imp_core_next_ns(x->core);
	if (next < *wake_ns)
		*wake_ns = next;
	if (work)
		imp_publish(x);
	return work;
}

static void imp_usage(FILE *f)
{
	fprintf(f, "usage: " IMP_PROG " [-P prefix] [-s service] [-n name] [-q] -- "
		   "--dir PORT|all SPEC [--dir PORT|all SPEC ...]\n"
		   "  SPEC, comma separated: loss=P%% delay=T jitter=T reorder=P%% dup=P%% "
		   "corrupt=P%% rate=R limit=N seed=N\n"
		   "  T in s/ms/us, R in bit/kbit/mbit/gbit, P may have decimals (0.5%%)\n");
}

/* Parse the NF's own arguments. 0 (*help set for --help), or -EINVAL after one line on stderr. */
static int imp_parse_args(int argc, char **argv, int first, struct imp_dir_arg *args, unsigned *n_args,
			  bool *help)
{
	char err[IMP_ERR_LEN];

	*n_args = 0;
	*help = false;
	for (int i = first; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			*help = true;
			return 0;
		}
		if (strcmp(argv[i], "--dir") != 0) {
			fprintf(stderr, IMP_PROG ": unknown option '%s' (see --help)\n", argv[i]);
			return -EINVAL;
		}
		if (i + 2 >= argc) {
			fprintf(stderr, IMP_PROG ": --dir needs a port name (or all) and a spec\n");
			return -EINVAL;
		}
		if (*n_args == IMP_MAX_ARGS) {
			fprintf(stderr, IMP_PROG ": more than %d --dir options\n", IMP_MAX_ARGS);
			return -EINVAL;
		}
		struct imp_dir_arg *a = &args[(*n_args)++];
		a->port = strcmp(argv[i + 1], "all") == 0 ? NULL : argv[i + 1];
		if (imp_spec_parse(argv[i + 2], &a->spec, err, sizeof(err)) < 0) {
			fprintf(stderr, IMP_PROG ": --dir %s: %s\n", argv[i + 1], err);
			return -EINVAL;
		}
		i += 2;
	}
	return 0;
}

/* Publish dirN.<counter> for every port. The names live until exit. */
static struct bh_app_counter *imp_counters(struct bh_nf *nf, unsigned n_dirs)
{
	static const char *const what[] = {
#define IMP_X_NAME(name, desc) #name,
		IMP_COUNTERS(IMP_X_NAME)
#undef IMP_X_NAME
	};
	static char names[IMP_MAX_DIRS * IMP_N_COUNTERS][48];
	static const char *ptrs[IMP_MAX_DIRS * IMP_N_COUNTERS];
	unsigned n = 0;

	for (unsigned d = 0; d < n_dirs; d++)
		for (unsigned k = 0; k < IMP_N_COUNTERS; k++, n++) {
			snprintf(names[n], sizeof(names[n]), "dir%u.%s", d, what[k]);
			ptrs[n] = names[n];
		}
	return bh_nf_app_counters(nf, ptrs, n);
}

int main(int argc, char **argv)
{
	static struct imp_dir_arg args[IMP_MAX_ARGS];
	static struct imp_spec specs[IMP_MAX_DIRS];
	struct bh_nf_conf conf = {.service = "impair"};
	struct imp_nf x = {0};
	unsigned n_args;
	bool help;
	int rc;

	int first = bh_nf_parse_args(argc, argv, &conf);
	if (first < 0)
		return 2;
	if (imp_parse_args(argc, argv, first, args, &n_args, &help) < 0)
		return 2;
	if (help) {
		imp_usage(stdout);
		return 0;
	}

	x.nf = bh_nf_attach(&conf);
	if (!x.nf)
		return 1;
	const struct bh_state *state = bh_nf_state(x.nf);
	x.pool = state->pool;
	x.n_dirs = state->n_ports;
	if (x.n_dirs > IMP_MAX_DIRS)
		x.n_dirs = IMP_MAX_DIRS; /* in_port is 8 bits */
	if (x.n_dirs == 0)
		x.n_dirs = 1;

	/* `all` first, then each port's own items over it */
	for (unsigned a = 0; a < n_args; a++)
		if (!args[a].port)
			for (unsigned d = 0; d < x.n_dirs; d++)
				imp_spec_merge(&specs[d], &args[a].spec);
	for (unsigned a = 0; a < n_args; a++) {
		if (!args[a].port)
			continue;
		int id = bh_nf_port_id(x.nf, args[a].port);
		if (id < 0 || (unsigned)id >= x.n_dirs) {
			fprintf(stderr, IMP_PROG ": --dir: no port named '%s'\n", args[a].port);
			bh_nf_detach(x.nf);
			return 2;
		}
		imp_spec_merge(&specs[id], &args[a].spec);
	}

	/* a default seed that differs per run; printed so the run can be repeated */
	uint64_t seed = bh_now_ns() ^ ((uint64_t)getpid() << 32);
	x.core = imp_core_create(specs, x.n_dirs, seed);
	if (!x.core) {
		fprintf(stderr, IMP_PROG ": out of memory for the queues\n");
		bh_nf_detach(x.nf);
		return 1;
	}
	for (unsigned d = 0; d < x.n_dirs; d++)
		x.parse_l2[d] = specs[d].corrupt_ppb > 0;
	x.ctr = imp_counters(x.nf, x.n_dirs);
	if (!x.ctr)
		fprintf(stderr, IMP_PROG ": warning: application counters not published\n");
	if (!conf.quiet) {
		for (unsigned d = 0; d < x.n_dirs; d++) {
			char buf[512];
			if (!specs[d].has)
				continue;
			imp_spec_format(imp_core_spec(x.core, d), buf, sizeof(buf));
			printf(IMP_PROG ": dir%u (%s): %s\n", d,
			       d < state->n_ports ? state->ports[d].name : "?", buf);
		}
		if (n_args == 0)
			printf(IMP_PROG ": no --dir given: every packet passes untouched\n");
		fflush(stdout);
	}

	struct bh_nf_ops ops = {.handle = imp_handle, .poll = imp_poll};
	rc = bh_nf_run(x.nf, &ops, &x);

	/* packets still waiting are freed, counted as verdict drops by nflib */
	void *held[IMP_BURST];
	struct rte_mbuf *out[IMP_BURST];
	unsigned k;
	while ((k = imp_core_drain(x.core, held, IMP_BURST)) > 0) {
		for (unsigned i = 0; i < k; i++)
			out[i] = held[i];
		bh_nf_free(x.nf, out, (uint16_t)k); /* NB: frees them */
	}
	imp_publish(&x);
	imp_core_destroy(x.core);
	bh_nf_detach(x.nf);
	return rc == 0 ? 0 : 1;
}
