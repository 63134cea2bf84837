/* SPDX-License-Identifier: MIT */
/*
 * The Internet checksum (RFC 1071) for TCP over IPv4, and its incremental
 * update (RFC 1624).
 *
 * Convention: every uint16_t / uint32_t here is a host-order VALUE of a
 * big-endian wire field. A checksum c is stored as hdr[16] = c >> 8,
 * hdr[17] = c & 0xff (or *(uint16_t *)p = htons(c)). Addresses are host order
 * as in struct bh_flow_key.
 *
 * Partial sums (uint32_t "sum" arguments) are unfolded one's-complement sums;
 * start from 0 or tcp_cksum_pseudo(), chain tcp_cksum_add() over the pieces,
 * end with tcp_cksum_finish().
 *
 * Pure functions, no state: safe from any thread.
 */
#ifndef BH_TCP_CKSUM_H
#define BH_TCP_CKSUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Add buf[0..len) to a partial sum. Every piece but the last must have an even
 * length (the pieces are 16-bit words laid end to end). Any alignment.
 */
uint32_t tcp_cksum_add(uint32_t sum, const void *buf, size_t len);

/* Fold a partial sum to 16 bits and complement it: the checksum to store. */
uint16_t tcp_cksum_finish(uint32_t sum);

/* Partial sum of the IPv4 pseudo-header: saddr, daddr, zero, proto, l4_len. */
uint32_t tcp_cksum_pseudo(uint32_t saddr, uint32_t daddr, uint8_t proto, uint16_t l4_len);

/*
 * TCP checksum of seg[0..len) (header + payload, the checksum field read as
 * is: zero it first when computing) with the IPv4 pseudo-header (proto 6).
 * len must fit the IPv4 total length (<= 65515).
 */
uint16_t tcp_cksum_ipv4(uint32_t saddr, uint32_t daddr, const void *seg, size_t len);

/* True if a received segment's checksum (left in place) is correct. */
static inline bool tcp_cksum_ipv4_ok(uint32_t saddr, uint32_t daddr, const void *seg,
				     size_t len)
{
	return tcp_cksum_ipv4(saddr, daddr, seg, len) == 0;
}

/*
 * RFC 1624 eqn. 3: the new checksum after one 16-bit word of the covered data
 * changes from old to new: HC' = ~(~HC + ~m + m'). Gives exactly what a full
 * recomputation gives (never the 0xffff/0x0000 confusion of eqn. 2).
 */
uint16_t tcp_cksum_update16(uint16_t cksum, uint16_t old, uint16_t new);

/* The same for an aligned 32-bit field (an address, a sequence number). */
uint16_t tcp_cksum_update32(uint16_t cksum, uint32_t old, uint32_t new);

#endif
