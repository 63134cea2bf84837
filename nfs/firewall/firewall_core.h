/* SPDX-License-Identifier: MIT */
/*
 * firewall core: a first-match list of stateless 5-tuple rules. Pure code (no
 * DPDK), so the unit test drives it with crafted frames.
 *
 * Rules file, one rule per line; '#' starts a comment, blank lines are ignored:
 *
 *   allow|deny [proto P] [src PREFIX] [dst PREFIX] [sport RANGE] [dport RANGE]
 *   default allow|deny     policy when no rule matches (default: allow)
 *   nonip allow|deny       verdict for non-IPv4 frames, e.g. ARP (default: allow)
 *
 * P is tcp|udp|icmp|any|0..255; PREFIX as bh_parse_prefix(); RANGE as
 * bh_parse_port_range() and only with proto tcp or udp. Fields may come in any
 * order, each at most once.
 *
 * Counters: one per rule (index = rule number - 1), then default, nonip and
 * malformed (IPv4 frames too short or with a bad header: always dropped).
 *
 * Threads: a rule set is built once, then classified against from one thread.
 */
#ifndef FW_CORE_H
#define FW_CORE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define FW_NAME_LEN 48 /* counter names: 47 bytes and a NUL */

struct fw_rule {
	uint32_t src, dst; /* network addresses, host order */
	uint8_t src_len, dst_len;
	uint8_t proto;     /* 0: any */
	bool allow;
	uint16_t sport_lo, sport_hi, dport_lo, dport_hi;
	char name[FW_NAME_LEN]; /* "rule3 deny tcp dport 5001" */
};

struct fw_rules {
	struct fw_rule *rule; /* [n] */
	unsigned n, cap;
	bool default_allow, nonip_allow;
	unsigned default_line, nonip_line; /* 0: not set by the file */
};

/* Counter indices after the n rule counters. */
static inline unsigned fw_cnt_default(const struct fw_rules *r) { return r->n; }
static inline unsigned fw_cnt_nonip(const struct fw_rules *r) { return r->n + 1; }
static inline unsigned fw_cnt_malformed(const struct fw_rules *r) { return r->n + 2; }
static inline unsigned fw_n_counters(const struct fw_rules *r) { return r->n + 3; }

/* An empty rule set (allow everything) in *r. Release with fw_rules_free(). */
void fw_rules_init(struct fw_rules *r);
void fw_rules_free(struct fw_rules *r);

/*
 * Parse one line (without or with its '\n'), numbered lineno for messages.
 * Returns 0, -EINVAL with the reason in err (no file:line prefix), or -ENOMEM.
 */
int fw_rules_parse_line(struct fw_rules *r, const char *line, unsigned lineno, char *err,
			size_t errlen);

/*
 * Append every line of f to r. On failure returns -EINVAL/-ENOMEM/-EIO with
 * err = "NAME:LINE: reason" (name is only used for the message); r keeps the
 * rules read so far and still needs fw_rules_free().
 */
int fw_rules_read(struct fw_rules *r, FILE *f, const char *name, char *err, size_t errlen);

/* fw_rules_read() of the file at path; -errno with "PATH: reason" if it cannot open. */
int fw_rules_load(struct fw_rules *r, const char *path, char *err, size_t errlen);

/* Name of counter idx (< fw_n_counters()). The string lives as long as r. */
const char *fw_counter_name(const struct fw_rules *r, unsigned idx);

/*
 * Classify an Ethernet frame (len bytes readable at frame). Returns the index
 * of the counter to bump and sets *allow to the verdict.
 */
unsigned fw_classify(const struct fw_rules *r, const void *frame, uint32_t len, bool *allow);

#endif
