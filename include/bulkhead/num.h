/* SPDX-License-Identifier: MIT */
/*
 * Numbers from command lines and configuration text, one rule everywhere:
 * decimal, no sign, no spaces; with sized, an optional k, m or g suffix
 * (binary: 1k = 1024). Pure; header-only, so that libraries with no common
 * dependency (the TCP glue's option parser, a service's isolation policy)
 * share it.
 */
#ifndef BULKHEAD_NUM_H
#define BULKHEAD_NUM_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

/* Parses s as above into *out if it lies in lo..hi. Returns 0, or -EINVAL
 * (*out untouched). Any thread. */
static inline int bh_parse_num(const char *s, uint64_t lo, uint64_t hi, bool sized, uint64_t *out)
{
	char *end;
	if (!s[0] || s[0] < '0' || s[0] > '9')
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	if (sized && *end) {
		unsigned shift;
		switch (*end) {
		case 'k': case 'K': shift = 10; break;
		case 'm': case 'M': shift = 20; break;
		case 'g': case 'G': shift = 30; break;
		default: return -EINVAL;
		}
		end++;
		if (v > (UINT64_MAX >> shift))
			return -EINVAL;
		v <<= shift;
	}
	if (*end || v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

#endif
