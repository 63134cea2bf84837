/* SPDX-License-Identifier: MIT */
/*
 * forward: hands every packet to a service, a port, or the next hop.
 *   bh-forward [nflib options] -- [--to-service NAME | --to-port NAME] [--work-us N]
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bulkhead/nf.h"

struct fwd {
	int action; /* BH_ACT_NEXT, BH_ACT_TO_NF or BH_ACT_OUT */
	uint16_t dest;
	unsigned work_us; /* modelled cost per packet (sleeping, not spinning) */
};

static void fwd_handle(struct bh_nf *nf, struct rte_mbuf **pkts, uint16_t n, void *ctx)
{
	const struct fwd *f = ctx;
	if (f->work_us) {
		uint64_t ns = (uint64_t)f->work_us * 1000u * n;
		struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000u), .tv_nsec = (long)(ns % 1000000000u)};
		nanosleep(&ts, NULL);
	}
	if (f->action == BH_ACT_NEXT)
		return; /* packets arrive with NEXT already */
	for (uint16_t i = 0; i < n; i++) {
		if (f->action == BH_ACT_TO_NF)
			bh_to_nf(pkts[i], f->dest);
		else
			bh_out(pkts[i], f->dest);
	}
}

int main(int argc, char **argv)
{
	struct bh_nf_conf conf = {.service = "forward"};
	const char *to_service = NULL, *to_port = NULL;
	struct fwd f = {.action = BH_ACT_NEXT};
	int first = bh_nf_parse_args(argc, argv, &conf);
	if (first < 0)
		return 2;

	static const struct option opts[] = {
		{"to-service", required_argument, NULL, 's'},
		{"to-port", required_argument, NULL, 'p'},
		{"work-us", required_argument, NULL, 'w'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	optind = 1;
	while ((c = getopt_long(argc - first + 1, argv + first - 1, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': to_service = optarg; break;
		case 'p': to_port = optarg; break;
		case 'w': {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);
			if (!*optarg || *end || v > 1000000) {
				fprintf(stderr, "bh-forward: --work-us: expected 0..1000000, not '%s'\n", optarg);
				return 2;
			}
			f.work_us = (unsigned)v;
			break;
		}
		case 'h':
			printf("usage: bh-forward [-P prefix] [-s service] [-n name] -- "
			       "[--to-service NAME | --to-port NAME] [--work-us N]\n"
			       "  --work-us N  model a slow NF: N microseconds per packet (asleep)\n");
			return 0;
		default:
			fprintf(stderr, "bh-forward: unknown option (see --help)\n");
			return 2;
		}
	}
	if (to_service && to_port) {
		fprintf(stderr, "bh-forward: --to-service and --to-port are exclusive\n");
		return 2;
	}

	struct bh_nf *nf = bh_nf_attach(&conf);
	if (!nf)
		return 1;
	if (to_service) {
		int id = bh_nf_service_id(nf, to_service);
		if (id < 0) {
			fprintf(stderr, "bh-forward: --to-service: no service named '%s'\n", to_service);
			bh_nf_detach(nf);
			return 2;
		}
		f.action = BH_ACT_TO_NF;
		f.dest = (uint16_t)id;
	} else if (to_port) {
		int id = bh_nf_port_id(nf, to_port);
		if (id < 0) {
			fprintf(stderr, "bh-forward: --to-port: no port named '%s'\n", to_port);
			bh_nf_detach(nf);
			return 2;
		}
		f.action = BH_ACT_OUT;
		f.dest = (uint16_t)id;
	}
	struct bh_nf_ops ops = {.handle = fwd_handle};
	int rc = bh_nf_run(nf, &ops, &f);
	bh_nf_detach(nf);
	return rc == 0 ? 0 : 1;
}
