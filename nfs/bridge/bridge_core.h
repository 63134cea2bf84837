/* SPDX-License-Identifier: MIT */
/*
 * bridge core: joins two ports. A packet that arrived on one leaves by the
 * other; anything else (from another port, or injected by an NF) is not the
 * bridge's business and follows its chain. Pure code, for the unit test.
 */
#ifndef BR_CORE_H
#define BR_CORE_H

#include <stdint.h>

struct br {
	uint16_t a, b; /* port indices as in bh_meta()->in_port and bh_out() */
};

/* Two distinct ports. 0, or -EINVAL if a == b or either is not a valid in_port. */
int br_init(struct br *br, int a, int b);

/* The port a packet that arrived on in_port leaves by, or -1 for "follow NEXT". */
int br_route(const struct br *br, uint16_t in_port);

#endif
