/* SPDX-License-Identifier: MIT */
#ifndef MGR_RETA_H
#define MGR_RETA_H

#include <stdatomic.h>
#include <stdint.h>

#include "bulkhead/shm.h"

/*
 * Reassign the BH_RETA_SIZE buckets of a redirection table to the live
 * instances (slot ids, n <= BH_RETA_SIZE), moving as few buckets as possible:
 * a bucket stays with its instance while that instance is live and within its
 * fair share; buckets of gone instances and surplus ones go to instances below
 * their share. With n == 0 every bucket becomes BH_NONE. Each bucket is stored
 * atomically, so readers see either the old or the new owner.
 */
void mgr_reta_rebuild(_Atomic uint16_t *reta, const uint16_t *live, unsigned n);

#endif
