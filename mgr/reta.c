/* SPDX-License-Identifier: MIT */
#include "mgr/reta.h"

void mgr_reta_rebuild(_Atomic uint16_t *reta, const uint16_t *live, unsigned n)
{
	unsigned cnt[BH_RETA_SIZE] = {0}, target[BH_RETA_SIZE], n_spare = 0;
	uint16_t spare[BH_RETA_SIZE];

	if (n == 0) {
		for (unsigned b = 0; b < BH_RETA_SIZE; b++)
			atomic_store(&reta[b], BH_NONE);
		return;
	}
	for (unsigned i = 0; i < n; i++)
		target[i] = BH_RETA_SIZE / n + (i < BH_RETA_SIZE % n);
	for (unsigned b = 0; b < BH_RETA_SIZE; b++) {
		uint16_t owner = atomic_load(&reta[b]);
		int li = -1;
		for (unsigned i = 0; i < n; i++)
			if (live[i] == owner)
				li = (int)i;
		if (li < 0 || cnt[li] >= target[li])
			spare[n_spare++] = (uint16_t)b;
		else
			cnt[li]++;
	}
	unsigned li = 0;
	for (unsigned k = 0; k < n_spare; k++) {
		while (cnt[li] >= target[li])
			li++;
		atomic_store(&reta[spare[k]], live[li]);
		cnt[li]++;
	}
}
