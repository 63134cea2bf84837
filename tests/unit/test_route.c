/* SPDX-License-Identifier: MIT */
/* Verdict handling and chain resolution (bh_route) against a state built in memory. */
#include <string.h>

#include "bh_test.h"
#include "bulkhead/steer.h"

int bh_meta_offset = -1;

static struct bh_nf_slot nfs[4];
static struct bh_service svcs[4];
static struct bh_chain chains[3];
static uint16_t hops[8];
static struct bh_state st;

static void set_reta(unsigned svc, uint16_t a, uint16_t b)
{
	for (unsigned i = 0; i < BH_RETA_SIZE; i++)
		svcs[svc].reta[i] = i % 2 ? b : a;
}

static enum bh_route_kind route(uint16_t chain, uint16_t hop, uint8_t action, uint16_t dest,
				uint32_t hash, uint16_t *id, uint16_t *hop_after)
{
	struct bh_meta md = {.flow_hash = hash, .chain = chain, .hop = hop, .dest = dest, .action = action};
	enum bh_route_kind k = bh_route(&st, &md, id);
	*hop_after = md.hop;
	return k;
}

int main(void)
{
	uint16_t id, hop;
	st.max_nfs = 4;
	st.max_services = 4;
	st.max_chains = 3;
	st.max_hops = 8;
	st.n_ports = 2;
	st.nfs = nfs;
	st.services = svcs;
	st.chains = chains;
	st.hops = hops;
	for (unsigned i = 0; i < 4; i++)
		nfs[i].state = BH_SLOT_RUNNING;
	nfs[2].state = BH_SLOT_DEAD;
	set_reta(0, 0, 0);
	set_reta(1, 1, 3); /* two instances: slots 1 and 3 */
	set_reta(2, 2, 2); /* its only instance is dead */
	for (unsigned i = 0; i < BH_RETA_SIZE; i++)
		svcs[3].reta[i] = BH_NONE; /* no instance at all */
	/* chain 0: svc0 -> svc1 -> port 1; chain 1: svc2, no output; chain 2: unused (len 0) */
	chains[0] = (struct bh_chain){.len = 2, .out_port = 1, .first = 0};
	hops[0] = 0;
	hops[1] = 1;
	chains[1] = (struct bh_chain){.len = 1, .out_port = BH_NONE, .first = 2};
	hops[2] = 2;

	/* NEXT walks the chain, then leaves through its port. */
	CHECK_EQ(route(0, 0, BH_ACT_NEXT, 0, 0, &id, &hop), BH_ROUTE_NF);
	CHECK_EQ(id, 1);
	CHECK_EQ(hop, 1);
	CHECK_EQ(route(0, 0, BH_ACT_NEXT, 0, 1, &id, &hop), BH_ROUTE_NF);
	CHECK_EQ(id, 3); /* the other bucket, the other instance */
	CHECK_EQ(route(0, 1, BH_ACT_NEXT, 0, 0, &id, &hop), BH_ROUTE_PORT);
	CHECK_EQ(id, 1);
	/* End of a chain with no output: counted no_route. */
	CHECK_EQ(route(1, 0, BH_ACT_NEXT, 0, 0, &id, &hop), BH_ROUTE_DROP);
	CHECK_EQ(id, BH_DROP_no_route);
	CHECK_EQ(route(BH_NONE, 0, BH_ACT_NEXT, 0, 0, &id, &hop), BH_ROUTE_DROP);
	CHECK_EQ(id, BH_DROP_no_route);
	/* TO_NF picks by flow hash; same hash, same instance. */
	for (uint32_t h = 0; h < 64; h++) {
		uint16_t a, b;
		route(0, 0, BH_ACT_TO_NF, 1, h, &a, &hop);
		route(0, 0, BH_ACT_TO_NF, 1, h, &b, &hop);
		CHECK_EQ(a, b);
		CHECK_EQ(a, h % 2 ? 3 : 1);
	}
	CHECK_EQ(route(0, 0, BH_ACT_TO_NF, 1, 0, &id, &hop), BH_ROUTE_NF);
	CHECK_EQ(hop, 0); /* TO_NF keeps the chain position */
	CHECK_EQ(route(0, 0, BH_ACT_TO_NF, 2, 0, &id, &hop), BH_ROUTE_DROP);
	CHECK_EQ(id, BH_DROP_no_instance);
	CHECK_EQ(route(0, 0, BH_ACT_TO_NF, 3, 0, &id, &hop), BH_ROUTE_DROP);
	CHECK_EQ(id, BH_DROP_no_instance);
	CHECK_EQ(route(0, 0, BH_ACT_TO_NF, 9, 0, &id, &hop), BH_ROUTE_DROP);
	CHECK_EQ(id, BH_DROP_bad_verdict);
	/* A dead instance in the middle of a chain drops, never enqueues to it. */
	chains[2] = (struct bh_chain){.len = 2, .out_port = 0, .first = 3};
	hops[3] = 0;
	hops[4] = 2;
	CHECK_EQ(route(2, 0, BH_ACT_NEXT, 0, 0, &id, &hop), BH_ROUTE_DROP);
	CHECK_EQ(id, BH_DROP_no_instance);
	/* OUT, DROP, KEEP, CONSUME, injection, garbage. */
	CHECK_EQ(route(0, 0, BH_ACT_OUT, 1, 0, &id, &hop), BH_ROUTE_PORT);
	CHECK_EQ(id, 1);
	CHECK_EQ(route(0, 0, BH_ACT_OUT, 2, 0, &id, &hop), BH_ROUTE_DROP);
	CHECK_EQ(id, BH_DROP_bad_verdict);
	CHECK_EQ(route(0, 0, BH_ACT_DROP, 0, 0, &id, &hop), BH_ROUTE_DROP);
	CHECK_EQ(id, BH_DROP_verdict);
	CHECK_EQ(route(0, 0, BH_ACT_KEEP, 0, 0, &id, &hop), BH_ROUTE_KEEP);
	CHECK_EQ(route(0, 0, BH_ACT_CONSUME, 0, 0, &id, &hop), BH_ROUTE_CONSUME);
	/* A packet injected at a chain's entry goes to its first hop. */
	CHECK_EQ(route(0, BH_HOP_ENTRY, BH_ACT_NEXT, 0, 0, &id, &hop), BH_ROUTE_NF);
	CHECK_EQ(id, 0);
	CHECK_EQ(hop, 0);
	CHECK_EQ(route(0, 0, 77, 0, 0, &id, &hop), BH_ROUTE_DROP);
	CHECK_EQ(id, BH_DROP_bad_verdict);
	return bh_test_summary("test_route");
}
