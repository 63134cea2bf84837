/* SPDX-License-Identifier: MIT */
/*
 * firewall: stateless first-match rules over the 5-tuple (see firewall_core.h).
 *   bh-firewall [nflib options] -- --rules FILE
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulkhead/nf.h"
#include "firewall_core.h"

#define FW_USAGE "usage: bh-firewall [-P prefix] [-s service] [-n name] [-q] -- --rules FILE\n"

struct fw_ctx {
	struct fw_rules rules;
	struct bh_app_counter *cnt; /* [fw_n_counters()], in shared memory */
};

static void fw_handle(struct bh_nf *nf, struct rte_mbuf **pkts, uint16_t n, void *ctx)
{
	struct fw_ctx *fw = ctx;
	for (uint16_t i = 0; i < n; i++) {
		bool allow;
		unsigned c = fw_classify(&fw->rules, rte_pktmbuf_mtod(pkts[i], void *),
					 rte_pktmbuf_data_len(pkts[i]), &allow);
		fw->cnt[c].value++;
		if (!allow)
			bh_drop(pkts[i]);
	}
}

/* Returns the rules file, NULL after --help (*rc = 0) or an error (*rc = 2). */
static const char *fw_parse_opts(int argc, char **argv, int *rc)
{
	static const struct option opts[] = {
		{"rules", required_argument, NULL, 'r'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *rules = NULL;
	char opt[3] = "-?";
	int c;

	*rc = 2;
	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'r': rules = optarg; break;
		case 'h': fputs(FW_USAGE, stdout); *rc = 0; return NULL;
		case ':':
			fprintf(stderr, "bh-firewall: option '%s' needs a value\n", argv[optind - 1]);
			return NULL;
		default: /* optopt is 0 for an unknown long option */
			opt[1] = (char)optopt;
			fprintf(stderr, "bh-firewall: unknown option '%s' (see --help)\n",
				optopt ? opt : argv[optind - 1]);
			return NULL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "bh-firewall: unexpected argument '%s' (see --help)\n", argv[optind]);
		return NULL;
	}
	if (!rules)
		fprintf(stderr, "bh-firewall: --rules FILE is required (see --help)\n");
	return rules;
}

int main(int argc, char **argv)
{
	struct bh_nf_conf conf = {.service = "firewall"};
	struct fw_ctx fw;
	char err[512];
	int rc;

	int first = bh_nf_parse_args(argc, argv, &conf);
	if (first < 0)
		return 2;
	/* argv[first - 1] stands in for the program name. */
	const char *path = fw_parse_opts(argc - first + 1, argv + first - 1, &rc);
	if (!path)
		return rc;

	fw_rules_init(&fw.rules);
	if (fw_rules_load(&fw.rules, path, err, sizeof(err)) < 0) {
		fprintf(stderr, "bh-firewall: %s\n", err);
		fw_rules_free(&fw.rules);
		return 2;
	}

	unsigned n = fw_n_counters(&fw.rules);
	const char **names = malloc(n * sizeof(*names));
	if (!names) {
		fprintf(stderr, "bh-firewall: out of memory\n");
		fw_rules_free(&fw.rules);
		return 1;
	}
	for (unsigned i = 0; i < n; i++)
		names[i] = fw_counter_name(&fw.rules, i);

	rc = 1;
	struct bh_nf *nf = bh_nf_attach(&conf);
	if (!nf)
		goto out;
	fw.cnt = bh_nf_app_counters(nf, names, n);
	if (!fw.cnt) {
		fprintf(stderr, "bh-firewall: cannot publish %u counters\n", n);
		goto detach;
	}
	if (!conf.quiet)
		printf("bh-firewall: %u rules from %s, default %s, nonip %s\n", fw.rules.n, path,
		       fw.rules.default_allow ? "allow" : "deny",
		       fw.rules.nonip_allow ? "allow" : "deny");
	fflush(stdout);
	struct bh_nf_ops ops = {.handle = fw_handle};
	rc = bh_nf_run(nf, &ops, &fw) == 0 ? 0 : 1;
detach:
	bh_nf_detach(nf);
out:
	free(names);
	fw_rules_free(&fw.rules);
	return rc;
}
