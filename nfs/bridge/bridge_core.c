/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "bridge_core.h"

int br_init(struct br *br, int a, int b)
{
	/* in_port is 8 bits wide: a port beyond it could never be matched. */
	if (a < 0 || b < 0 || a > UINT8_MAX || b > UINT8_MAX || a == b)
		return -EINVAL;
	br->a = (uint16_t)a;
	br->b = (uint16_t)b;
	return 0;
}

int br_route(const struct br *br, uint16_t in_port)
{
	if (in_port == br->a)
		return br->b;
	if (in_port == br->b)
		return br->a;
	return -1;
}
