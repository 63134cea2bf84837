/* SPDX-License-Identifier: MIT */
/* RFC 6528 ISN generation. Contract in tcp_isn.h. */
#include "tcp_isn.h"

uint32_t tcp_isn(const struct tcp_secret *secret, const struct tcp_tuple *t, uint64_t now_us)
{
	/* Low 32 bits of the PRF: any 32 bits of SipHash are as good as others. */
	return tcp_isn_clock(now_us) + (uint32_t)tcp_siphash_tuple(secret, t, NULL, 0);
}
