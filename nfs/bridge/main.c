/* SPDX-License-Identifier: MIT */
/*
 * bridge: what arrives on port A leaves by port B and vice versa; other packets
 * follow their chain (see bridge_core.h).
 *   bh-bridge [nflib options] -- PORT_A PORT_B
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "bulkhead/nf.h"
#include "bridge_core.h"

#define BR_USAGE "usage: bh-bridge [-P prefix] [-s service] [-n name] [-q] -- PORT_A PORT_B\n"

static void br_handle(struct bh_nf *nf, struct rte_mbuf **pkts, uint16_t n, void *ctx)
{
	const struct br *br = ctx;
	for (uint16_t i = 0; i < n; i++) {
		int out = br_route(br, bh_meta(pkts[i])->in_port);
		if (out >= 0)
			bh_out(pkts[i], (uint16_t)out);
	}
}

/* 0 with the two port names, 1 after --help, -EINVAL after printing one line. */
static int br_parse_opts(int argc, char **argv, const char **a, const char **b)
{
	static const struct option opts[] = {
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	char opt[3] = "-?";
	int c;

	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			fputs(BR_USAGE, stdout);
			return 1;
		}
		opt[1] = (char)optopt; /* 0 for an unknown long option */
		fprintf(stderr, "bh-bridge: unknown option '%s' (see --help)\n",
			optopt ? opt : argv[optind - 1]);
		return -EINVAL;
	}
	if (argc - optind != 2) {
		fprintf(stderr, "bh-bridge: expected two port names, PORT_A PORT_B (see --help)\n");
		return -EINVAL;
	}
	*a = argv[optind];
	*b = argv[optind + 1];
	if (!strcmp(*a, *b)) {
		fprintf(stderr, "bh-bridge: PORT_A and PORT_B are both '%s'\n", *a);
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct bh_nf_conf conf = {.service = "bridge"};
	const char *name_a, *name_b;
	struct br br;

	int first = bh_nf_parse_args(argc, argv, &conf);
	if (first < 0)
		return 2;
	/* argv[first - 1] stands in for the program name. */
	int rc = br_parse_opts(argc - first + 1, argv + first - 1, &name_a, &name_b);
	if (rc != 0)
		return rc > 0 ? 0 : 2;

	struct bh_nf *nf = bh_nf_attach(&conf);
	if (!nf)
		return 1;
	int a = bh_nf_port_id(nf, name_a), b = bh_nf_port_id(nf, name_b);
	if (a < 0 || b < 0 || br_init(&br, a, b) < 0) {
		if (a < 0 || b < 0)
			fprintf(stderr, "bh-bridge: no port named '%s'\n", a < 0 ? name_a : name_b);
		else
			fprintf(stderr, "bh-bridge: ports '%s' and '%s' cannot be bridged "
					"(same port, or index above 255)\n", name_a, name_b);
		bh_nf_detach(nf);
		return 2;
	}
	if (!conf.quiet)
		printf("bh-bridge: %s (%d) <-> %s (%d)\n", name_a, a, name_b, b);
	fflush(stdout);
	struct bh_nf_ops ops = {.handle = br_handle};
	rc = bh_nf_run(nf, &ops, &br) == 0 ? 0 : 1;
	bh_nf_detach(nf);
	return rc;
}
