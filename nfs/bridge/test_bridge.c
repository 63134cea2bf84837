/* SPDX-License-Identifier: MIT */
/* Unit tests for the bridge core. */
#include <errno.h>

#include "bridge_core.h"
#include "tests/unit/bh_test.h"

int main(void)
{
	struct br br;

	CHECK_EQ(br_init(&br, 1, 1), -EINVAL);
	CHECK_EQ(br_init(&br, -2, 1), -EINVAL); /* e.g. -ENOENT from a failed look-up */
	CHECK_EQ(br_init(&br, 0, 256), -EINVAL);
	CHECK_EQ(br_init(&br, 255, 0), 0);
	CHECK_EQ(br_route(&br, 255), 0);
	CHECK_EQ(br_route(&br, 0), 255);

	CHECK_EQ(br_init(&br, 2, 0), 0);
	CHECK_EQ(br_route(&br, 2), 0);
	CHECK_EQ(br_route(&br, 0), 2);
	CHECK_EQ(br_route(&br, 1), -1);
	CHECK_EQ(br_route(&br, 3), -1);
	CHECK_EQ(br_route(&br, 0xffff), -1); /* BH_NONE */
	return bh_test_summary("bridge");
}
