/* SPDX-License-Identifier: MIT */
/*
 * Redirection table: balanced shares, minimal movement, and flow history: over
 * scale 1 -> 4 -> 2, and when an instance dies, no bucket's flows see more than
 * two instances, and a death moves only the dead instance's buckets.
 */
#include <string.h>

#include "bh_test.h"
#include "mgr/reta.h"

static _Atomic uint16_t reta[BH_RETA_SIZE];
static uint16_t prev[BH_RETA_SIZE];
/* seen[b]: the distinct owners bucket b has had since the last reset */
static uint16_t seen[BH_RETA_SIZE][8];
static unsigned n_seen[BH_RETA_SIZE];

static void reset(void)
{
	for (unsigned b = 0; b < BH_RETA_SIZE; b++) {
		reta[b] = BH_NONE;
		prev[b] = BH_NONE;
		n_seen[b] = 0;
	}
}

static void record(void)
{
	for (unsigned b = 0; b < BH_RETA_SIZE; b++) {
		int known = 0;
		for (unsigned i = 0; i < n_seen[b]; i++)
			known |= seen[b][i] == reta[b];
		if (!known && reta[b] != BH_NONE && n_seen[b] < 8)
			seen[b][n_seen[b]++] = reta[b];
	}
}

static unsigned max_seen(void)
{
	unsigned m = 0;
	for (unsigned b = 0; b < BH_RETA_SIZE; b++)
		m = n_seen[b] > m ? n_seen[b] : m;
	return m;
}

static unsigned count(uint16_t slot)
{
	unsigned n = 0;
	for (unsigned b = 0; b < BH_RETA_SIZE; b++)
		n += reta[b] == slot;
	return n;
}

static void snap(uint16_t *out)
{
	for (unsigned b = 0; b < BH_RETA_SIZE; b++)
		out[b] = reta[b];
}

static unsigned rebuild(const uint16_t *live, unsigned n, enum mgr_reta_mode mode)
{
	unsigned moved = mgr_reta_rebuild(reta, prev, live, n, mode);
	record();
	return moved;
}

int main(void)
{
	uint16_t before[BH_RETA_SIZE];
	const uint16_t one[] = {7}, four[] = {7, 3, 9, 12}, two[] = {7, 9};

	/* Scale 1 -> 4 -> 2: balanced each time, at most two instances per bucket. */
	reset();
	rebuild(one, 1, MGR_RETA_BALANCE);
	CHECK_EQ(count(7), BH_RETA_SIZE);
	snap(before);
	CHECK_EQ(rebuild(four, 4, MGR_RETA_BALANCE), BH_RETA_SIZE * 3 / 4); /* minimal */
	for (unsigned i = 0; i < 4; i++)
		CHECK_EQ(count(four[i]), BH_RETA_SIZE / 4);
	unsigned bad = 0;
	for (unsigned b = 0; b < BH_RETA_SIZE; b++)
		bad += reta[b] != before[b] && before[b] != 7;
	CHECK_EQ(bad, 0); /* only 7's buckets moved */
	rebuild(two, 2, MGR_RETA_BALANCE);
	CHECK_EQ(count(7), BH_RETA_SIZE / 2);
	CHECK_EQ(count(9), BH_RETA_SIZE / 2);
	CHECK_EQ(max_seen(), 2);
	/* Rebuilding with the same set moves nothing. */
	CHECK_EQ(rebuild(two, 2, MGR_RETA_BALANCE), 0);

	/* 1 -> 4, then an instance dies: only its buckets move, back where they came from. */
	reset();
	rebuild(one, 1, MGR_RETA_BALANCE);
	rebuild(four, 4, MGR_RETA_BALANCE);
	snap(before);
	const uint16_t three[] = {7, 3, 12}; /* 9 died */
	CHECK_EQ(rebuild(three, 3, MGR_RETA_KEEP), BH_RETA_SIZE / 4);
	bad = 0;
	for (unsigned b = 0; b < BH_RETA_SIZE; b++)
		bad += reta[b] != before[b] && before[b] != 9;
	CHECK_EQ(bad, 0);
	CHECK_EQ(count(9), 0);
	CHECK_EQ(max_seen(), 2);

	/* Two fresh instances, one dies: its buckets go to the survivor. */
	reset();
	const uint16_t pair[] = {1, 2}, first[] = {1};
	rebuild(pair, 2, MGR_RETA_BALANCE);
	CHECK_EQ(count(1), BH_RETA_SIZE / 2);
	CHECK_EQ(rebuild(first, 1, MGR_RETA_KEEP), BH_RETA_SIZE / 2);
	CHECK_EQ(count(1), BH_RETA_SIZE);

	/* Uneven split: 3 instances of 256 buckets -> 86, 85, 85. */
	reset();
	const uint16_t three2[] = {7, 9, 20};
	rebuild(three2, 3, MGR_RETA_BALANCE);
	CHECK_EQ(count(7) + count(9) + count(20), BH_RETA_SIZE);
	CHECK(count(7) >= 85 && count(7) <= 86);
	CHECK(count(20) >= 85 && count(20) <= 86);

	/* Repeated churn stays balanced and never loses a bucket. */
	reset();
	uint16_t live[16];
	for (unsigned round = 0; round < 200; round++) {
		unsigned n = 1 + (round * 7) % 16;
		for (unsigned i = 0; i < n; i++)
			live[i] = (uint16_t)((round + i * 3) % 40);
		rebuild(live, n, round % 3 ? MGR_RETA_BALANCE : MGR_RETA_KEEP);
		unsigned total = 0, over = 0;
		for (unsigned i = 0; i < n; i++) {
			unsigned c = count(live[i]);
			total += c;
			if (round % 3 && (c < BH_RETA_SIZE / n || c > BH_RETA_SIZE / n + 1))
				over++;
		}
		CHECK_EQ(total, BH_RETA_SIZE);
		CHECK_EQ(over, 0);
	}

	/* None left: every bucket empty. */
	rebuild(NULL, 0, MGR_RETA_BALANCE);
	CHECK_EQ(count(BH_NONE), BH_RETA_SIZE);
	return bh_test_summary("test_reta");
}
