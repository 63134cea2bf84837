/* SPDX-License-Identifier: MIT */
/* EAL for unit tests: no hugepages, no shared files, no PCI. */
#ifndef BH_EAL_H
#define BH_EAL_H
#include <rte_eal.h>

static inline int bh_test_eal_init(void)
{
	char *av[] = {"unit", "--no-huge", "--no-shconf", "--no-pci", "-m", "256",
		      "--no-telemetry", "--log-level=lib.eal:error", "--lcores=0@(0-1)", NULL};
	return rte_eal_init((int)(sizeof(av) / sizeof(av[0])) - 1, av);
}
#endif
