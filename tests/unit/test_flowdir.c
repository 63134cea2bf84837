/* SPDX-License-Identifier: MIT */
/* Flow director: exact rules first, then wildcards in order, then the default. */
#include <errno.h>
#include <string.h>

#include "bh_eal.h"
#include "bh_test.h"
#include "mgr/flow.h"

static struct mgr_rule_conf any_rule(uint16_t chain)
{
	return (struct mgr_rule_conf){.in_port = BH_NONE, .sport_hi = 65535, .dport_hi = 65535,
				      .chain = chain};
}

int main(void)
{
	if (bh_test_eal_init() < 0) {
		fprintf(stderr, "EAL init failed\n");
		return 1;
	}
	struct mgr_flowdir *fd = mgr_flowdir_create("t_fd", 16, 8);
	CHECK(fd != NULL);
	if (!fd)
		return bh_test_summary("test_flowdir");

	/* 0: exact flow -> chain 5 */
	struct mgr_rule_conf r = any_rule(5);
	r.src = 0xc6120001, r.src_len = 32, r.dst = 0xc6120002, r.dst_len = 32, r.proto = 6;
	r.sport_lo = r.sport_hi = 1000, r.dport_lo = r.dport_hi = 80;
	CHECK_EQ(mgr_flowdir_add(fd, &r), 0);
	CHECK_EQ(mgr_flowdir_add(fd, &r), -EEXIST);
	/* 1: tcp dport 80-90 from 198.18.0.0/24 -> chain 1 */
	r = any_rule(1);
	r.src = 0xc6120000, r.src_len = 24, r.proto = 6, r.dport_lo = 80, r.dport_hi = 90;
	CHECK_EQ(mgr_flowdir_add(fd, &r), 0);
	/* 2: anything arriving on port 1 -> chain 2 */
	r = any_rule(2);
	r.in_port = 1;
	CHECK_EQ(mgr_flowdir_add(fd, &r), 0);
	/* 3: udp -> chain 3 */
	r = any_rule(3);
	r.proto = 17;
	CHECK_EQ(mgr_flowdir_add(fd, &r), 0);
	mgr_flowdir_set_default(fd, 9);

	struct bh_flow_key k = {.src_ip = 0xc6120001, .dst_ip = 0xc6120002, .src_port = 1000,
				.dst_port = 80, .proto = 6};
	CHECK_EQ(mgr_flowdir_lookup(fd, &k, 1), 5); /* exact beats everything */
	k.src_port = 1001;
	CHECK_EQ(mgr_flowdir_lookup(fd, &k, 1), 1); /* first wildcard, before in_port rule */
	k.dst_port = 91;
	CHECK_EQ(mgr_flowdir_lookup(fd, &k, 1), 2);
	CHECK_EQ(mgr_flowdir_lookup(fd, &k, 0), 9); /* default */
	k.proto = 17;
	CHECK_EQ(mgr_flowdir_lookup(fd, &k, 0), 3);
	k.src_ip = 0xc6120101, k.proto = 6, k.dst_port = 85;
	CHECK_EQ(mgr_flowdir_lookup(fd, &k, 0), 9); /* outside /24 */
	struct bh_flow_key arp = {0};
	CHECK_EQ(mgr_flowdir_lookup(fd, &arp, 1), 2);

	unsigned n;
	uint64_t dflt;
	const uint64_t *hits = mgr_flowdir_hits(fd, &n, &dflt);
	CHECK_EQ(n, 4);
	CHECK_EQ(hits[0], 1);
	CHECK_EQ(hits[1], 1);
	CHECK_EQ(hits[2], 2);
	CHECK_EQ(hits[3], 1);
	CHECK_EQ(dflt, 2);

	/* No default: unmatched is BH_NONE. Full tables refuse. */
	mgr_flowdir_set_default(fd, BH_NONE);
	k.proto = 1;
	CHECK_EQ(mgr_flowdir_lookup(fd, &k, 0), BH_NONE);
	for (int i = 0; i < 5; i++) { /* 3 wildcards so far, capacity 8 */
		r = any_rule(0);
		r.proto = 1;
		CHECK_EQ(mgr_flowdir_add(fd, &r), 0);
	}
	CHECK_EQ(mgr_flowdir_add(fd, &r), -ENOSPC); /* 8 wildcards max */
	mgr_flowdir_free(fd);
	rte_eal_cleanup();
	return bh_test_summary("test_flowdir");
}
