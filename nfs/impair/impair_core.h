/* SPDX-License-Identifier: MIT */
/*
 * impair core: the pure part of bh-impair, a netem-like impairment NF.
 *
 * Given a packet's direction, length and arrival time it decides whether the
 * packet is lost, duplicated, corrupted or reordered, and when it may leave;
 * packets that must wait are kept in a per-direction release queue (a binary
 * heap ordered by release time, then arrival order). No DPDK, no clock, no
 * globals: the caller passes the time and packets are opaque pointers, so the
 * unit tests drive it with simulated time.
 *
 * Model, per direction (netem's, see tc-netem(8)):
 *   loss     the packet is dropped (nothing else is decided for it)
 *   dup      the caller copies the packet and submits the copy with
 *            IMP_F_COPY; the copy gets its own corruption, jitter and rate
 *            slot, and is never lost, duplicated or reordered itself
 *   corrupt  one uniformly chosen bit of the payload after the L2 header flips
 *   delay, jitter
 *            release = arrival + delay + uniform[-jitter, +jitter] (never
 *            before arrival); with jitter packets may overtake each other
 *   rate     serialisation after the delay stage, like a link behind a delay
 *            line: a packet leaves max(end of its delay, previous departure)
 *            + len*8/rate, so departures never exceed the rate (fractions of a
 *            ns carry over); no burst credit builds up while idle
 *   reorder  with delay > 0: the packet skips the delay stage (netem's "sent at
 *            once") and overtakes the packets still in it; with a rate it
 *            still waits for the link, so the rate holds. With delay = 0: the
 *            packet is held back until the next packet of its direction that
 *            is not held, then leaves right after it; if none comes within
 *            IMP_HOLD_NS it leaves then
 *   limit    at most `limit` packets waiting per direction (delay stage, link
 *            and held back together); more are dropped as overlimit
 * Each direction has its own PRNG (splitmix64) seeded from seed= (mixed with
 * the direction index) or the caller's default, so a run is reproducible per
 * direction whatever the other directions carry.
 *
 * A packet dropped (lost, or overlimit) is counted as such and nothing else:
 * dup, corrupt and reordered count only packets that go on.
 *
 * Threads: none of these functions lock; a core belongs to one thread.
 */
#ifndef BH_IMPAIR_CORE_H
#define BH_IMPAIR_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IMP_MAX_DIRS 256                    /* bh_meta.in_port is 8 bits */
#define IMP_LIMIT_DEFAULT 1000
#define IMP_LIMIT_MAX (1u << 20)
#define IMP_TIME_MAX_NS (60ull * 1000000000) /* delay, jitter */
#define IMP_RATE_MIN_BPS 1000ull
#define IMP_RATE_MAX_BPS 1000000000000ull   /* 1000 gbit */
#define IMP_PPB_ONE 1000000000u             /* 100% in parts per billion */
#define IMP_HOLD_MAX 64                     /* packets held back with delay=0 reorder */
#define IMP_HOLD_NS (10ull * 1000000)       /* longest such hold */
#define IMP_ERR_LEN 160

/* Which items a spec sets (for merging a port's spec over `all`). */
enum {
	IMP_HAS_LOSS = 1u << 0,
	IMP_HAS_DELAY = 1u << 1,
	IMP_HAS_JITTER = 1u << 2,
	IMP_HAS_REORDER = 1u << 3,
	IMP_HAS_DUP = 1u << 4,
	IMP_HAS_CORRUPT = 1u << 5,
	IMP_HAS_RATE = 1u << 6,
	IMP_HAS_LIMIT = 1u << 7,
	IMP_HAS_SEED = 1u << 8,
};

struct imp_spec {
	uint32_t has;                                     /* IMP_HAS_* */
	uint32_t loss_ppb, dup_ppb, corrupt_ppb, reorder_ppb; /* 0..IMP_PPB_ONE */
	uint64_t delay_ns, jitter_ns;
	uint64_t rate_bps;                                /* 0: unlimited */
	uint32_t limit;                                   /* 0 in a parsed spec: default */
	uint64_t seed;
};

/*
 * Parse a comma list "loss=1%,delay=10ms,..." into *spec (zeroed first; only
 * on success). Returns 0, or -EINVAL with one line in err naming the item and
 * the reason.
 */
int imp_spec_parse(const char *s, struct imp_spec *spec, char *err, size_t errlen);
/* Overlay the items src sets onto dst. */
void imp_spec_merge(struct imp_spec *dst, const struct imp_spec *src);
/* "loss=1% delay=10ms ..." ("none" when nothing is set); snprintf's return. */
int imp_spec_format(const struct imp_spec *spec, char *buf, size_t len);

/* Counters per direction: X(name, description). */
#define IMP_COUNTERS(X)                                                        \
	X(in, "packets that arrived in this direction")                        \
	X(lost, "dropped by random loss")                                      \
	X(dup, "duplicated (copies made)")                                     \
	X(corrupt, "had one payload bit flipped (copies included)")            \
	X(reordered, "reordered: skipped the delay, or held behind the next")  \
	X(delayed, "queued to leave later (delay, jitter, rate)")              \
	X(overlimit, "dropped because the direction's queue was full")         \
	X(nobuf, "duplicate not made: no mbuf for the copy")

struct imp_stats {
#define IMP_X_FIELD(name, desc) uint64_t name;
	IMP_COUNTERS(IMP_X_FIELD)
#undef IMP_X_FIELD
};
#define IMP_X_ONE(name, desc) +1
enum { IMP_N_COUNTERS = 0 IMP_COUNTERS(IMP_X_ONE) };
#undef IMP_X_ONE

enum imp_action {
	IMP_PASS = 0, /* leave now (the caller keeps the NEXT verdict) */
	IMP_HOLD,     /* queued: the core stored pkt, imp_core_release() returns it */
	IMP_DROP,     /* lost or overlimit: the caller drops it */
};

struct imp_verdict {
	uint8_t action;       /* enum imp_action */
	bool overlimit;       /* DROP because the queue was full (else random loss) */
	bool dup;             /* copy the packet and submit the copy with IMP_F_COPY */
	bool corrupt;         /* flip bit corrupt_bit of the payload */
	bool reordered;
	uint32_t corrupt_bit; /* < payload_len * 8 */
	uint64_t release_ns;  /* PASS: now. HOLD: when it is due if known now (no
			       * rate, or straight onto the link), else the end
			       * of its delay (a lower bound); for a delay=0
			       * reorder hold, the latest it may wait */
};

#define IMP_F_COPY 1u /* a duplicate: no loss/dup/reorder, never PASS */

struct imp_core;

/*
 * Create a core for directions 0..n_dirs-1 (n_dirs <= IMP_MAX_DIRS), one spec
 * each (copied). default_seed seeds directions whose spec has no seed.
 * Returns NULL on bad arguments or no memory.
 */
struct imp_core *imp_core_create(const struct imp_spec *specs, unsigned n_dirs, uint64_t default_seed);
/* Frees the core; any packet still held is forgotten (drain first). */
void imp_core_destroy(struct imp_core *c);

/*
 * Decide for one packet of direction dir arriving at now_ns: len is its wire
 * length (for the rate), payload_len the bytes after its L2 header (for
 * corruption). Fills *v. On HOLD the core keeps pkt until it is released or
 * drained; otherwise pkt stays with the caller. A direction >= n_dirs passes.
 */
void imp_core_packet(struct imp_core *c, unsigned dir, uint64_t now_ns, uint32_t len,
		     uint32_t payload_len, unsigned flags, void *pkt, struct imp_verdict *v);

/*
 * Hand back up to max held packets whose release time is <= now_ns, each
 * direction in release order, and (if due is not NULL) each one's exact
 * release time. Returns how many were written; the packets belong to the
 * caller.
 */
unsigned imp_core_release(struct imp_core *c, uint64_t now_ns, void **pkts, uint64_t *due, unsigned max);
/* When to call imp_core_release() next (never later than a packet is due); UINT64_MAX if none is held. */
uint64_t imp_core_next_ns(const struct imp_core *c);
/* Hand back up to max held packets regardless of time (for shutdown). */
unsigned imp_core_drain(struct imp_core *c, void **pkts, unsigned max);
/* Packets held in all directions. */
unsigned imp_core_held(const struct imp_core *c);

unsigned imp_core_dirs(const struct imp_core *c);
/* Counters of a direction (writable: the caller records nobuf), NULL if out of range. */
struct imp_stats *imp_core_stats(struct imp_core *c, unsigned dir);
/* The spec in effect and the seed actually used. */
const struct imp_spec *imp_core_spec(const struct imp_core *c, unsigned dir);

#endif
