/* SPDX-License-Identifier: MIT */
/*
 * nflib: the runtime every Bulkhead network function links.
 *
 * An NF is a DPDK secondary process attached to a running manager. It registers
 * as an instance of a service, receives bursts of packets on its rx ring, and
 * gives every packet exactly one verdict:
 *
 *   bh_next(m)        the next hop of the packet's chain (the default)
 *   bh_to_nf(m, svc)  an instance of service svc (chosen by flow affinity)
 *   bh_out(m, port)   transmit on a port
 *   bh_drop(m)        free it (counted as a verdict drop)
 *   bh_keep(m)        the NF keeps it (a delay queue, a reassembly buffer ...)
 *                     and later hands it on with bh_nf_send() or frees it with
 *                     bh_nf_free()
 *   bh_consume(m)     the packet reached its destination: the NF used its
 *                     contents (a protocol stack). Freed and counted as
 *                     `consumed`, which is not a loss: rx = tx + drops + consumed
 *                     for an NF that keeps nothing
 *
 * Packets are forwarded straight to the next NF's ring when the next hop is an
 * NF, and through the NF's tx ring to the manager when it is a port.
 *
 * Threads: an NF is single-threaded. Every bh_nf_* call is made from the thread
 * that called bh_nf_attach(), except bh_nf_request_stop() and bh_nf_kick(),
 * which are safe from a signal handler or any thread.
 *
 * The library never exits the process: errors come back as NULL or -errno and
 * are described in one line on stderr.
 */
#ifndef BULKHEAD_NF_H
#define BULKHEAD_NF_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>

#include "bulkhead/shm.h"

enum bh_action {
	BH_ACT_NEXT = 0,
	BH_ACT_DROP,
	BH_ACT_TO_NF,
	BH_ACT_OUT,
	BH_ACT_KEEP,
	BH_ACT_CONSUME,
};

/* Per-packet metadata, an mbuf dynamic field registered by the manager. */
struct bh_meta {
	uint32_t flow_hash; /* symmetric 5-tuple hash, set on arrival */
	uint16_t chain;     /* chain id (BH_NONE: none) */
	uint16_t hop;       /* index of the current hop in the chain */
	uint16_t dest;      /* service (TO_NF) or port (OUT) */
	uint16_t owner;     /* slot id + 1 of the holder; 0: the manager or free; BH_OWNER_SPARE */
	uint8_t action;     /* enum bh_action */
	uint8_t in_port;    /* port index the packet arrived on */
	uint16_t pad;
};

/* The owner tag of the pool's spares, never in circulation (mgr/pktpool.c). */
#define BH_OWNER_SPARE 0xffffu

extern int bh_meta_offset;

static inline struct bh_meta *bh_meta(struct rte_mbuf *m)
{
	return RTE_MBUF_DYNFIELD(m, bh_meta_offset, struct bh_meta *);
}
static inline void bh_next(struct rte_mbuf *m) { bh_meta(m)->action = BH_ACT_NEXT; }
static inline void bh_drop(struct rte_mbuf *m) { bh_meta(m)->action = BH_ACT_DROP; }
static inline void bh_keep(struct rte_mbuf *m) { bh_meta(m)->action = BH_ACT_KEEP; }
static inline void bh_consume(struct rte_mbuf *m) { bh_meta(m)->action = BH_ACT_CONSUME; }
static inline void bh_to_nf(struct rte_mbuf *m, uint16_t service)
{
	bh_meta(m)->action = BH_ACT_TO_NF;
	bh_meta(m)->dest = service;
}
static inline void bh_out(struct rte_mbuf *m, uint16_t port)
{
	bh_meta(m)->action = BH_ACT_OUT;
	bh_meta(m)->dest = port;
}

struct bh_nf; /* opaque handle */

struct bh_nf_conf {
	const char *prefix;  /* manager's DPDK file prefix (default "bulkhead") */
	const char *service; /* service to register as (required) */
	const char *name;    /* instance name for statistics (default: service) */
	bool quiet;          /* no informational lines on stdout */
	bool iso_applied;    /* the NF applies its service's isolation policy, read from
	                        the manager's file (bulkhead/iso.h): the manager refuses an
	                        NF whose service has a policy without this, and one with it
	                        whose service has none */
};

/*
 * Parse the options every NF takes, in front of its own:
 *   -P|--prefix NAME   -s|--service NAME   -n|--name NAME   -q|--quiet
 * ending at "--" or the first non-option. conf->service may be preset as the
 * default. Returns the index in argv of the first NF-specific argument, or
 * -EINVAL after printing one line naming the bad option.
 */
int bh_nf_parse_args(int argc, char **argv, struct bh_nf_conf *conf);

/*
 * Initialise DPDK as a secondary process of the manager (always with --no-pci),
 * register with the manager and wait until the NF may receive traffic.
 * Installs SIGINT/SIGTERM handlers that call bh_nf_request_stop().
 * Returns the handle, or NULL after printing why.
 */
struct bh_nf *bh_nf_attach(const struct bh_nf_conf *conf);

struct bh_nf_ops {
	/*
	 * Give a verdict to each of pkts[0..n). Each packet arrives with action
	 * NEXT. Must not free the packets itself.
	 */
	void (*handle)(struct bh_nf *nf, struct rte_mbuf **pkts, uint16_t n, void *ctx);
	/*
	 * Optional, called on every loop iteration whether or not packets came:
	 * for NFs that generate packets or hold them until a deadline. Returns
	 * how much work it did (0: none), and may lower *wake_ns, the monotonic
	 * time (ns) by which it wants to be called again when idle.
	 */
	int (*poll)(struct bh_nf *nf, void *ctx, uint64_t *wake_ns);
	/* Optional, called about every tick_ns (default 1 s) with the time. */
	void (*tick)(struct bh_nf *nf, uint64_t now_ns, void *ctx);
	uint64_t tick_ns;
	/* Optional, for messages of type >= BH_MSG_USER. */
	void (*msg)(struct bh_nf *nf, const struct bh_msg *msg, void *ctx);
	/*
	 * Optional: once a stop is requested (signal or STOP message), called on
	 * every loop iteration instead of sleeping; the loop ends when it returns
	 * 0 (for NFs that drain what they hold first). A second stop request
	 * ends the loop regardless.
	 */
	int (*stop)(struct bh_nf *nf, void *ctx);
};

/*
 * Loop order, each iteration: receive a burst, handle(), dispatch its verdicts,
 * poll(), messages; tick() runs about every tick_ns and the manager-liveness
 * check about every 500 ms, whether the NF is busy or idle (an idle NF wakes
 * for them, for no tick if it has none, and sleeps again at once if they
 * bring no work). Packets an NF kept carry the
 * KEEP verdict: set another (bh_next ...) before bh_nf_send().
 *
 * Port numbers: bh_meta.in_port, bh_out() and bh_nf_port_id() use the same
 * index (the manager's port order, at most 255 ports).
 *
 * Application counters are plain 64-bit words the NF updates in place; the
 * manager reads them concurrently (aligned 64-bit loads and stores are atomic
 * on the platforms DPDK supports), so no locked increment is needed.
 */

/*
 * Run the packet loop until bh_nf_request_stop() or a STOP message from the
 * manager. When idle the NF sleeps on its doorbell; producers wake it.
 * Returns 0 on a requested stop, -ENOTCONN if the manager went away.
 */
int bh_nf_run(struct bh_nf *nf, const struct bh_nf_ops *ops, void *ctx);

/* Ask the loop to return. Async-signal-safe. */
void bh_nf_request_stop(struct bh_nf *nf);

/* Make the loop turn once more soon, waking it if it sleeps: for another
 * thread of the NF that learned of work the loop cannot see (a descriptor
 * became readable). Safe from any thread. */
void bh_nf_kick(struct bh_nf *nf);

/*
 * Dispatch packets the NF generated or kept, according to the verdict set on
 * each (bh_next/bh_to_nf/bh_out/bh_drop/bh_consume). Takes ownership of all n packets.
 * Returns how many were handed on (the rest were dropped and counted).
 */
uint16_t bh_nf_send(struct bh_nf *nf, struct rte_mbuf **pkts, uint16_t n);

/* Free packets the NF kept, counted as verdict drops. Takes ownership. */
void bh_nf_free(struct bh_nf *nf, struct rte_mbuf **pkts, uint16_t n);

/* Allocate a packet from the shared pool, owned by this NF. NULL if exhausted. */
struct rte_mbuf *bh_nf_alloc(struct bh_nf *nf);

/* The hop of a packet injected at a chain's entry: NEXT sends it to hop 0. */
#define BH_HOP_ENTRY 0xffffu

/* Set a packet's chain and hop (for packets an NF injects): with hop
 * BH_HOP_ENTRY, NEXT takes it to the chain's first hop; with hop h, to hop
 * h + 1 (the NF acts as hop h). */
static inline void bh_nf_set_chain(struct bh_nf *nf, struct rte_mbuf *m, uint16_t chain, uint16_t hop)
{
	(void)nf;
	bh_meta(m)->chain = chain;
	bh_meta(m)->hop = hop;
}

/* Look-ups by name. Return the id, or -ENOENT. */
int bh_nf_service_id(struct bh_nf *nf, const char *name);
int bh_nf_port_id(struct bh_nf *nf, const char *name);
int bh_nf_chain_id(struct bh_nf *nf, const char *name);

/* This NF's slot (read-only view for the NF's own reporting). */
const struct bh_nf_slot *bh_nf_slot(const struct bh_nf *nf);
const struct bh_state *bh_nf_state(const struct bh_nf *nf);

/*
 * Publish n application counters, visible in the manager's statistics under
 * this NF. Names are copied (truncated to 47 bytes). Call once, before
 * bh_nf_run(). Returns the array the NF updates in place, or NULL.
 */
struct bh_app_counter *bh_nf_app_counters(struct bh_nf *nf, const char *const *names, unsigned n);

/*
 * Start a child NF: this program again, with the same arguments, registering as
 * another instance of the same service (its parent noted). Children are
 * processes: a crash in one does not affect its siblings or its parent, and
 * they outlive the parent. The manager's SPAWN message calls this too.
 * Returns the child's pid, or -errno.
 */
int bh_nf_spawn(struct bh_nf *nf);

/* Unregister, release DPDK. The handle is invalid afterwards. */
void bh_nf_detach(struct bh_nf *nf);

/* Monotonic clock in nanoseconds. */
uint64_t bh_now_ns(void);

#endif
