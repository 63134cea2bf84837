/* SPDX-License-Identifier: MIT */
/* Redirection table: balanced shares, and minimal movement when instances change. */
#include <string.h>

#include "bh_test.h"
#include "mgr/reta.h"

static _Atomic uint16_t reta[BH_RETA_SIZE];

static unsigned count(uint16_t slot)
{
	unsigned n = 0;
	for (unsigned b = 0; b < BH_RETA_SIZE; b++)
		n += reta[b] == slot;
	return n;
}

static unsigned moved(const uint16_t *before)
{
	unsigned n = 0;
	for (unsigned b = 0; b < BH_RETA_SIZE; b++)
		n += before[b] != reta[b];
	return n;
}

static void snap(uint16_t *out)
{
	for (unsigned b = 0; b < BH_RETA_SIZE; b++)
		out[b] = reta[b];
}

int main(void)
{
	uint16_t before[BH_RETA_SIZE];
	for (unsigned b = 0; b < BH_RETA_SIZE; b++)
		reta[b] = BH_NONE;

	const uint16_t one[] = {7};
	mgr_reta_rebuild(reta, one, 1);
	CHECK_EQ(count(7), BH_RETA_SIZE);

	/* 1 -> 4: each new instance takes a quarter, instance 7 keeps its own. */
	const uint16_t four[] = {7, 3, 9, 12};
	snap(before);
	mgr_reta_rebuild(reta, four, 4);
	for (unsigned i = 0; i < 4; i++)
		CHECK_EQ(count(four[i]), BH_RETA_SIZE / 4);
	CHECK_EQ(moved(before), BH_RETA_SIZE * 3 / 4);
	for (unsigned b = 0; b < BH_RETA_SIZE; b++)
		if (reta[b] != before[b])
			CHECK(before[b] == 7); /* only 7's buckets moved */

	/* 4 -> 2 (3 and 12 gone): only their buckets move. */
	const uint16_t two[] = {7, 9};
	snap(before);
	mgr_reta_rebuild(reta, two, 2);
	CHECK_EQ(count(7), BH_RETA_SIZE / 2);
	CHECK_EQ(count(9), BH_RETA_SIZE / 2);
	int only_gone = 1;
	for (unsigned b = 0; b < BH_RETA_SIZE; b++)
		if (reta[b] != before[b] && before[b] != 3 && before[b] != 12)
			only_gone = 0;
	CHECK(only_gone);
	CHECK_EQ(moved(before), BH_RETA_SIZE / 2);

	/* Rebuilding with the same set changes nothing. */
	snap(before);
	mgr_reta_rebuild(reta, two, 2);
	CHECK_EQ(moved(before), 0);

	/* Uneven split: 3 instances of 256 buckets -> 86, 85, 85. */
	const uint16_t three[] = {7, 9, 20};
	mgr_reta_rebuild(reta, three, 3);
	CHECK_EQ(count(7) + count(9) + count(20), BH_RETA_SIZE);
	CHECK(count(7) >= 85 && count(7) <= 86);
	CHECK(count(20) >= 85 && count(20) <= 86);

	/* None left: every bucket empty. */
	mgr_reta_rebuild(reta, NULL, 0);
	CHECK_EQ(count(BH_NONE), BH_RETA_SIZE);
	return bh_test_summary("test_reta");
}
