/* SPDX-License-Identifier: MIT */
/*
 * monitor: passes every packet on and counts packets and bytes per flow;
 * prints the top flows by bytes every interval (see monitor_core.h).
 *   bh-monitor [nflib options] -- [--flows N] [--interval SEC] [--top N]
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "bulkhead/nf.h"
#include "monitor_core.h"

#define MON_USAGE                                                                    \
	"usage: bh-monitor [-P prefix] [-s service] [-n name] [-q] -- [--flows N] "  \
	"[--interval SEC] [--top N] [--dump DIR]\n"                                  \
	"  --flows N       flows tracked (default 65536, at most 16777216)\n"        \
	"  --interval SEC  seconds between reports (default 1)\n"                    \
	"  --top N         flows per report, by bytes (default 5; 0: no report)\n"  \
	"  --dump DIR      at stop, write every flow to DIR/monitor-PID.flows\n"

enum { MON_C_FLOWS, MON_C_UNTRACKED, MON_C_PKTS, MON_C_BYTES, MON_C_NONIP, MON_C_MAX };
static const char *const mon_counter_names[MON_C_MAX] = {"flows", "untracked", "pkts", "bytes",
							  "nonip"};

struct mon_ctx {
	struct mon mon;
	struct mon_flow *top; /* [ntop] report scratch */
	unsigned ntop;
	struct bh_app_counter *cnt;
};

static void mon_handle(struct bh_nf *nf, struct rte_mbuf **pkts, uint16_t n, void *ctx)
{
	struct mon_ctx *mc = ctx;
	struct mon *m = &mc->mon;
	for (uint16_t i = 0; i < n; i++)
		mon_count(m, rte_pktmbuf_mtod(pkts[i], void *), rte_pktmbuf_data_len(pkts[i]),
			  rte_pktmbuf_pkt_len(pkts[i]));
	/* every verdict stays NEXT */
	mc->cnt[MON_C_FLOWS].value = m->n;
	mc->cnt[MON_C_UNTRACKED].value = m->untracked;
	mc->cnt[MON_C_PKTS].value = m->pkts;
	mc->cnt[MON_C_BYTES].value = m->bytes;
	mc->cnt[MON_C_NONIP].value = m->nonip;
}

static void mon_tick(struct bh_nf *nf, uint64_t now_ns, void *ctx)
{
	struct mon_ctx *mc = ctx;
	if (mc->ntop == 0)
		return;
	mon_report(&mc->mon, stdout, mc->top, mc->ntop);
	fflush(stdout);
}

/* Whole decimal number in [lo, hi], or -EINVAL. */
static int mon_parse_uint(const char *s, unsigned long lo, unsigned long hi, unsigned long *v)
{
	char *end;
	errno = 0;
	*v = strtoul(s, &end, 10);
	return (s[0] < '0' || s[0] > '9' || *end || errno || *v < lo || *v > hi) ? -EINVAL : 0;
}

struct mon_opts {
	unsigned long flows, top;
	double interval;
	const char *dump; /* directory for the flow table at stop */
};

/* 0 to run, 1 after --help, -EINVAL after printing one line. */
static int mon_parse_opts(int argc, char **argv, struct mon_opts *o)
{
	static const struct option opts[] = {
		{"flows", required_argument, NULL, 'f'},
		{"interval", required_argument, NULL, 'i'},
		{"top", required_argument, NULL, 't'},
		{"dump", required_argument, NULL, 'd'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	char opt[3] = "-?", *end;
	int c;

	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (mon_parse_uint(optarg, 1, MON_MAX_FLOWS, &o->flows) == 0)
				break;
			fprintf(stderr, "bh-monitor: --flows: expected 1..%u, not '%s'\n",
				MON_MAX_FLOWS, optarg);
			return -EINVAL;
		case 't':
			if (mon_parse_uint(optarg, 0, 100000, &o->top) == 0)
				break;
			fprintf(stderr, "bh-monitor: --top: expected 0..100000, not '%s'\n", optarg);
			return -EINVAL;
		case 'i':
			o->interval = strtod(optarg, &end);
			if (end != optarg && !*end && o->interval >= 0.001 && o->interval <= 86400)
				break;
			fprintf(stderr, "bh-monitor: --interval: expected 0.001..86400 seconds, "
					"not '%s'\n", optarg);
			return -EINVAL;
		case 'd': o->dump = optarg; break;
		case 'h': fputs(MON_USAGE, stdout); return 1;
		case ':':
			fprintf(stderr, "bh-monitor: option '%s' needs a value\n", argv[optind - 1]);
			return -EINVAL;
		default: /* optopt is 0 for an unknown long option */
			opt[1] = (char)optopt;
			fprintf(stderr, "bh-monitor: unknown option '%s' (see --help)\n",
				optopt ? opt : argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "bh-monitor: unexpected argument '%s' (see --help)\n", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct bh_nf_conf conf = {.service = "monitor"};
	struct mon_opts o = {.flows = 65536, .top = 5, .interval = 1.0};
	struct mon_ctx mc = {0};
	uint64_t seed;
	int rc = 1;

	int first = bh_nf_parse_args(argc, argv, &conf);
	if (first < 0)
		return 2;
	/* argv[first - 1] stands in for the program name. */
	int prc = mon_parse_opts(argc - first + 1, argv + first - 1, &o);
	if (prc != 0)
		return prc > 0 ? 0 : 2;

	if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
		seed = bh_now_ns();
	mc.ntop = (unsigned)o.top;
	mc.top = calloc(mc.ntop ? mc.ntop : 1, sizeof(*mc.top));
	if (!mc.top || mon_init(&mc.mon, (uint32_t)o.flows, seed) < 0) {
		fprintf(stderr, "bh-monitor: out of memory for %lu flows\n", o.flows);
		goto out;
	}

	struct bh_nf *nf = bh_nf_attach(&conf);
	if (!nf)
		goto out;
	mc.cnt = bh_nf_app_counters(nf, mon_counter_names, MON_C_MAX);
	if (!mc.cnt) {
		fprintf(stderr, "bh-monitor: cannot publish counters\n");
		goto detach;
	}
	struct bh_nf_ops ops = {
		.handle = mon_handle,
		.tick = mon_tick,
		.tick_ns = (uint64_t)(o.interval * 1e9 + 0.5),
	};
	rc = bh_nf_run(nf, &ops, &mc) == 0 ? 0 : 1;
	if (o.dump) {
		/* One file per process: instances of a service (children too) share options. */
		char path[4096];
		snprintf(path, sizeof(path), "%s/monitor-%d.flows", o.dump, (int)getpid());
		FILE *f = fopen(path, "w");
		if (!f || mon_dump(&mc.mon, f) < 0) {
			fprintf(stderr, "bh-monitor: --dump: cannot write %s: %s\n", path, strerror(errno));
			rc = 1;
		}
		if (f)
			fclose(f);
	}
detach:
	bh_nf_detach(nf);
out:
	mon_fini(&mc.mon);
	free(mc.top);
	return rc;
}
