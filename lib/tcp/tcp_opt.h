/* SPDX-License-Identifier: MIT */
/*
 * TCP options: parse them from a received header, negotiate what a SYN /
 * SYN-ACK exchange agreed on, and build them for outgoing segments.
 *
 * Options handled: EOL, NOP, MSS (RFC 9293), window scale and timestamps
 * (RFC 7323), SACK-permitted and SACK (RFC 2018). Everything else is skipped
 * by its length.
 *
 * Pure functions, no state: safe from any thread. Wire data is big-endian;
 * every value in the structs below is in host byte order.
 */
#ifndef BH_TCP_OPT_H
#define BH_TCP_OPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TCP_OPT_EOL 0
#define TCP_OPT_NOP 1
#define TCP_OPT_MSS 2
#define TCP_OPT_WSCALE 3
#define TCP_OPT_SACK_PERM 4
#define TCP_OPT_SACK 5
#define TCP_OPT_TS 8

#define TCP_HDR_LEN 20       /* without options */
#define TCP_OPT_MAX_LEN 40   /* data offset 15 words minus the fixed header */
#define TCP_WSCALE_MAX 14    /* RFC 7323 §2.3 */
#define TCP_SACK_MAX_BLOCKS 4 /* what fits in 40 bytes: 2 + 4 * 8 = 34 */
#define TCP_MSS_DEFAULT 536  /* RFC 9293 §3.7.1: assumed when no MSS option (IPv4) */
#define TCP_MSS_MIN 88       /* floor for a peer's MSS, as Linux's TCP_MIN_MSS */

/* Which options a parsed header carried (struct tcp_opts.present). */
#define TCP_OPTF_MSS (1u << 0)
#define TCP_OPTF_WSCALE (1u << 1)
#define TCP_OPTF_SACK_PERM (1u << 2)
#define TCP_OPTF_SACK (1u << 3)
#define TCP_OPTF_TS (1u << 4)

/* A SACK block: [start, end) in sequence space (RFC 2018 §3). */
struct tcp_sack_block {
	uint32_t start, end;
};

/* Options found in one segment. A field is meaningful only if its bit is in present. */
struct tcp_opts {
	uint8_t present;      /* TCP_OPTF_* */
	uint8_t wscale;       /* shift count, already clamped to TCP_WSCALE_MAX */
	uint16_t mss;         /* as sent, not sanity-clamped (0 is possible) */
	uint8_t nr_sack;      /* 1..TCP_SACK_MAX_BLOCKS when TCP_OPTF_SACK */
	struct tcp_sack_block sack[TCP_SACK_MAX_BLOCKS]; /* as sent, not validated */
	uint32_t tsval, tsecr;
};

/*
 * Parse the option bytes of a TCP header: opt points at the byte after the
 * fixed 20-byte header, len = data offset * 4 - 20. Reads only opt[0..len).
 * Parsing stops at EOL; unknown kinds are skipped by their length byte. If an
 * option appears twice the last one wins.
 * Returns len (bytes consumed) and fills *out (fully overwritten), or
 * -EBADMSG when len > 40, when an option other than EOL/NOP has no length
 * byte, a length < 2 or one that runs past len, or when a known option has the
 * wrong length (MSS 4, WS 3, SACK-perm 2, TS 10, SACK 2 + 8n with n >= 1).
 * The caller drops a -EBADMSG segment and counts it (RFC 9293 MUST-7 leaves
 * the choice; dropping is the conservative one).
 * Options that only mean something on a SYN (MSS, WS, SACK-perm) are reported
 * on any segment: ignoring them elsewhere is the caller's decision.
 */
int tcp_opt_parse(const uint8_t *opt, size_t len, struct tcp_opts *out);

/*
 * Parse the options of the TCP header at hdr, of which len bytes are
 * available (the segment may continue with payload). Checks that the data
 * offset is at least 5 and that the header fits in len.
 * Returns the header length (data offset * 4, where the payload starts) and
 * fills *out, or -EBADMSG.
 */
int tcp_opt_parse_hdr(const uint8_t *hdr, size_t len, struct tcp_opts *out);

/*
 * What this end offers in its SYN or SYN-ACK. wscale is our receive shift
 * (clamped to 14 when built), offered only if ws is true.
 */
struct tcp_syn_cfg {
	uint16_t mss; /* our MSS: MTU - 40 */
	uint8_t wscale;
	bool ws, sack, ts;
};

/*
 * Options for a SYN: MSS always, then SACK-permitted, timestamps (TSval =
 * tsval, TSecr = 0) and window scale as cfg enables them, NOP-padded to a
 * multiple of 4 (at most 20 bytes). buf must hold TCP_OPT_MAX_LEN bytes.
 * Returns the number of bytes written.
 */
int tcp_opt_build_syn(uint8_t *buf, const struct tcp_syn_cfg *cfg, uint32_t tsval);

/*
 * Options for a SYN-ACK answering a SYN whose options are peer: MSS always;
 * window scale, timestamps and SACK-permitted only if cfg enables them AND the
 * peer offered them (RFC 7323 §2.2, §3.2; RFC 2018 §2). TSecr echoes the
 * peer's TSval. Same layout and return as tcp_opt_build_syn.
 */
int tcp_opt_build_synack(uint8_t *buf, const struct tcp_syn_cfg *cfg,
			 const struct tcp_opts *peer, uint32_t tsval);

/* What a handshake agreed on (tcp_opt_negotiate). */
struct tcp_opt_neg {
	uint16_t snd_mss;   /* peer's MSS (TCP_MSS_DEFAULT if absent), capped by ours */
	uint8_t snd_wscale; /* shift for windows the peer sends us; 0 if WS off */
	uint8_t rcv_wscale; /* shift for windows we send; 0 if WS off */
	bool ws, sack, ts;
};

/*
 * Combine what we offered (cfg) with what the other side's SYN or SYN-ACK
 * carried (peer). Each of WS, TS and SACK is on only if both sides offered it;
 * with WS off both shifts are 0 (RFC 7323 §2.2). Works for both ends: the
 * active opener passes the SYN-ACK's options, the passive one the SYN's.
 * The MSS from the peer is floored at TCP_MSS_MIN so a hostile MSS option
 * cannot make us cut data into tiny segments.
 */
void tcp_opt_negotiate(const struct tcp_syn_cfg *cfg, const struct tcp_opts *peer,
		       struct tcp_opt_neg *out);

/* How many SACK blocks fit in a non-SYN segment: 3 with timestamps, else 4. */
static inline unsigned tcp_opt_sack_max(bool ts)
{
	return ts ? 3 : 4;
}

/*
 * Option bytes tcp_opt_build_data writes for these arguments (nr_sack is
 * capped as there). Effective payload per segment = snd_mss - this.
 */
static inline unsigned tcp_opt_data_len(bool ts, unsigned nr_sack)
{
	unsigned max = tcp_opt_sack_max(ts);
	unsigned n = nr_sack < max ? nr_sack : max;
	return (ts ? 12u : 0u) + (n ? 4u + 8u * n : 0u);
}

/*
 * Options for a non-SYN segment: NOP NOP TS(tsval, tsecr) if ts, then
 * NOP NOP SACK with the first min(nr_sack, tcp_opt_sack_max(ts)) blocks
 * (put the most recent block first, RFC 2018 §4). Always a multiple of 4 and
 * at most 40 bytes. buf must hold TCP_OPT_MAX_LEN bytes.
 * Returns the number of bytes written (tcp_opt_data_len(ts, nr_sack)).
 */
int tcp_opt_build_data(uint8_t *buf, bool ts, uint32_t tsval, uint32_t tsecr,
		       const struct tcp_sack_block *sack, unsigned nr_sack);

#endif
