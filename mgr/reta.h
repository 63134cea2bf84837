/* SPDX-License-Identifier: MIT */
#ifndef MGR_RETA_H
#define MGR_RETA_H

#include <stdatomic.h>
#include <stdint.h>

#include "bulkhead/shm.h"

enum mgr_reta_mode {
	/* Instances were added or removed on purpose: end balanced. */
	MGR_RETA_BALANCE,
	/* An instance died: move only the buckets of instances no longer live. */
	MGR_RETA_KEEP,
};

/*
 * Reassign the BH_RETA_SIZE buckets of a service's redirection table to its live
 * instances (slot ids, n <= BH_RETA_SIZE). A bucket is moved only when it must:
 * its instance is gone, or (BALANCE) its instance has more than its fair share.
 *
 * prev[b] remembers the other instance bucket b's flows have already been on
 * (BH_NONE if only the current one). Moves prefer sending a bucket back to that
 * instance, and otherwise moving buckets that have only ever been on one
 * instance, so that across scale-out followed by scale-in a flow is handled by
 * at most two instances. With n == 0 every bucket becomes BH_NONE.
 *
 * Each bucket is stored atomically: readers see the old or the new owner.
 * Returns how many buckets moved.
 */
unsigned mgr_reta_rebuild(_Atomic uint16_t *reta, uint16_t *prev, const uint16_t *live, unsigned n,
			  enum mgr_reta_mode mode);

#endif
