/* SPDX-License-Identifier: MIT */
/*
 * late-producer: a test NF standing for a producer that stalled between picking
 * an instance and putting packets in its ring (preempted there, or stopped),
 * for longer than the manager waits when it reclaims a dead instance.
 *
 *   bh-late-producer [nflib options] -- TARGET COUNT
 *
 * It waits until the NF named TARGET runs and picks its slot, as routing
 * would; prints "picked SLOT"; waits for a line on stdin (the test sends one
 * once the manager has reclaimed TARGET); then puts COUNT packets in that
 * slot's ring as its delayed flush would, prints "sent K" and exits. The
 * manager must free them: nobody else will ever take them out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bulkhead/nf.h"
#include "bulkhead/steer.h"

#define LP_MAX 64

int main(int argc, char **argv)
{
	struct bh_nf_conf conf = {.service = "late"};
	int first = bh_nf_parse_args(argc, argv, &conf);
	if (first < 0)
		return 2;
	if (argc - first != 2) {
		fprintf(stderr, "usage: bh-late-producer [nflib options] -- TARGET COUNT (1-%d)\n", LP_MAX);
		return 2;
	}
	const char *target = argv[first];
	int count = atoi(argv[first + 1]);
	if (count < 1 || count > LP_MAX) {
		fprintf(stderr, "bh-late-producer: COUNT must be 1-%d\n", LP_MAX);
		return 2;
	}
	struct bh_nf *nf = bh_nf_attach(&conf);
	if (!nf)
		return 1;
	/* Routing reads the shared state and writes rings; so does this. */
	struct bh_state *st = (struct bh_state *)bh_nf_state(nf);
	int slot = -1;
	for (int tries = 0; slot < 0 && tries < 500; tries++) {
		for (unsigned i = 0; i < st->max_nfs; i++)
			if (atomic_load(&st->nfs[i].state) == BH_SLOT_RUNNING &&
			    !strcmp(st->nfs[i].name, target)) {
				slot = (int)i;
				break;
			}
		if (slot < 0)
			usleep(10000);
	}
	if (slot < 0) {
		fprintf(stderr, "bh-late-producer: no running NF named '%s'\n", target);
		bh_nf_detach(nf);
		return 1;
	}
	printf("picked %d\n", slot);
	fflush(stdout);

	char line[16];
	if (!fgets(line, sizeof(line), stdin)) {
		bh_nf_detach(nf);
		return 1;
	}
	struct rte_mbuf *pkts[LP_MAX];
	int n = 0;
	for (; n < count; n++) {
		pkts[n] = bh_nf_alloc(nf);
		if (!pkts[n] || !rte_pktmbuf_append(pkts[n], 60))
			break;
		memset(rte_pktmbuf_mtod(pkts[n], void *), 0, 60);
	}
	if (n < count) {
		fprintf(stderr, "bh-late-producer: no packet buffer\n");
		bh_nf_free(nf, pkts, (uint16_t)(n + (pkts[n] != NULL)));
		bh_nf_detach(nf);
		return 1;
	}
	unsigned k = bh_steer_to_slot(st, (uint16_t)slot, pkts, (unsigned)n);
	if (k < (unsigned)n)
		bh_nf_free(nf, pkts + k, (uint16_t)(n - k));
	printf("sent %u\n", k);
	fflush(stdout);
	bh_nf_detach(nf);
	return 0;
}
