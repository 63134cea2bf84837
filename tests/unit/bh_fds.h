/* SPDX-License-Identifier: MIT */
/* For tests that check they left no descriptor behind. */
#ifndef BH_FDS_H
#define BH_FDS_H
#include <dirent.h>

/* Open descriptors of this process (the count includes the one reading). */
static inline int bh_test_count_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n;
}
#endif
