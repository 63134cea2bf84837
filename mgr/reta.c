/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "mgr/reta.h"

struct reta_work {
	_Atomic uint16_t *reta;
	uint16_t *prev;
	const uint16_t *live;
	unsigned n;
	unsigned cnt[BH_RETA_SIZE], target[BH_RETA_SIZE];
	int owner[BH_RETA_SIZE]; /* index into live[] of each bucket's owner, -1: none yet */
	unsigned moved;
};

static int reta_live_index(const struct reta_work *w, uint16_t slot)
{
	for (unsigned i = 0; i < w->n; i++)
		if (w->live[i] == slot)
			return (int)i;
	return -1;
}

/*
 * Give bucket b to live[li]. Its flows have now been on the old owner too, so
 * that becomes prev (whether the move is a return home or not); a bucket never
 * assigned before stays fresh.
 */
static void reta_assign(struct reta_work *w, unsigned b, int li)
{
	uint16_t old = atomic_load(&w->reta[b]);
	if (old != w->live[li]) {
		w->prev[b] = old;
		atomic_store(&w->reta[b], w->live[li]);
		w->moved++;
	}
	if (w->owner[b] >= 0)
		w->cnt[w->owner[b]]--;
	w->owner[b] = li;
	w->cnt[li]++;
}

/* The live instance with the largest deficit below its target, or -1. */
static int reta_neediest(const struct reta_work *w)
{
	int best = -1;
	long best_gap = 0;
	for (unsigned i = 0; i < w->n; i++) {
		long gap = (long)w->target[i] - (long)w->cnt[i];
		if (gap > best_gap) {
			best_gap = gap;
			best = (int)i;
		}
	}
	return best;
}

/* The least loaded live instance. */
static int reta_least(const struct reta_work *w)
{
	int best = 0;
	for (unsigned i = 1; i < w->n; i++)
		if (w->cnt[i] < w->cnt[best])
			best = (int)i;
	return best;
}

unsigned mgr_reta_rebuild(_Atomic uint16_t *reta, uint16_t *prev, const uint16_t *live, unsigned n,
			  enum mgr_reta_mode mode)
{
	struct reta_work w;
	unsigned b;

	memset(&w, 0, sizeof(w));
	w.reta = reta;
	w.prev = prev;
	w.live = live;
	w.n = n;
	if (n == 0) {
		for (b = 0; b < BH_RETA_SIZE; b++) {
			if (atomic_load(&reta[b]) != BH_NONE)
				w.moved++;
			atomic_store(&reta[b], BH_NONE);
			prev[b] = BH_NONE;
		}
		return w.moved;
	}
	for (unsigned i = 0; i < n; i++)
		w.target[i] = BH_RETA_SIZE / n + (i < BH_RETA_SIZE % n);
	/* Who owns what now. */
	for (b = 0; b < BH_RETA_SIZE; b++) {
		w.owner[b] = reta_live_index(&w, atomic_load(&reta[b]));
		if (w.owner[b] >= 0)
			w.cnt[w.owner[b]]++;
	}
	/* 1. Orphaned buckets whose flows came from a live instance go back there. */
	for (b = 0; b < BH_RETA_SIZE; b++) {
		int home;
		if (w.owner[b] < 0 && (home = reta_live_index(&w, prev[b])) >= 0)
			reta_assign(&w, b, home);
	}
	/* 2. The other orphans: to the neediest instance (or, keeping, the least loaded). */
	for (b = 0; b < BH_RETA_SIZE; b++) {
		if (w.owner[b] >= 0)
			continue;
		int to = mode == MGR_RETA_BALANCE ? reta_neediest(&w) : -1;
		reta_assign(&w, b, to >= 0 ? to : reta_least(&w));
	}
	if (mode == MGR_RETA_KEEP)
		return w.moved;
	/*
	 * 3. Balance: over-target instances hand buckets to under-target ones. First
	 * buckets going home, then buckets whose flows have seen only one instance,
	 * and only then the rest.
	 */
	for (int pass = 0; pass < 3; pass++) {
		for (b = 0; b < BH_RETA_SIZE; b++) {
			int from = w.owner[b];
			if (w.cnt[from] <= w.target[from])
				continue;
			int home = reta_live_index(&w, prev[b]);
			if (pass == 0) {
				if (home >= 0 && w.cnt[home] < w.target[home])
					reta_assign(&w, b, home);
			} else if (pass == 1 ? prev[b] == BH_NONE : 1) {
				int to = reta_neediest(&w);
				if (to >= 0)
					reta_assign(&w, b, to);
			}
		}
	}
	return w.moved;
}
