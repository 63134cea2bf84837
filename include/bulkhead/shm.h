/* SPDX-License-Identifier: MIT */
/*
 * Shared state between the manager (DPDK primary) and the NFs (secondaries).
 *
 * One memzone, BH_STATE_MZ, created by the manager. Every pointer stored in it is
 * valid in every process: DPDK maps hugepage memory at the same addresses in
 * secondaries. Sizes come from the manager's config; nothing here is a
 * compile-time limit on what a user configures, except BH_RETA_SIZE, the
 * granularity at which a service's flows are split among its instances.
 *
 * Writers: the manager owns everything except the fields marked "NF" in
 * struct bh_nf_slot, which only the NF in that slot writes.
 */
#ifndef BULKHEAD_SHM_H
#define BULKHEAD_SHM_H

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>

#include <rte_common.h>

#define BH_STATE_MZ "bh_state"
#define BH_STATE_MAGIC 0x42484b31u /* "BHK1" */
#define BH_META_NAME "bulkhead_meta"
#define BH_MP_REGISTER "bh_register"

#define BH_NAME_LEN 32
#define BH_RETA_SIZE 256 /* buckets per service; a flow hash picks one */
#define BH_NONE 0xffffu  /* "no service / port / slot / chain" */

/* NF slot life cycle. */
enum bh_slot_state {
	BH_SLOT_FREE = 0,
	BH_SLOT_STARTING, /* registered, not yet in any redirection table */
	BH_SLOT_RUNNING,  /* receiving traffic */
	BH_SLOT_PAUSED,   /* registered, takes no new traffic */
	BH_SLOT_STOPPING, /* asked to stop: out of the redirection table, draining its ring */
	BH_SLOT_DEAD,     /* exited; the manager is reclaiming it */
};

/*
 * Drop reasons counted per NF. X(name, description): one list that the printer,
 * the JSON statistics and the tests all read.
 */
#define BH_NF_DROPS(X)                                                         \
	X(verdict, "the NF's verdict was DROP")                               \
	X(ring_full, "the next NF's receive ring was full")                  \
	X(tx_full, "the NF's transmit ring towards the manager was full")    \
	X(no_instance, "the target service has no running instance")         \
	X(no_route, "the chain ended with no output port")                   \
	X(bad_verdict, "verdict named an unknown service or port")

#define BH_PORT_DROPS(X)                                                       \
	X(no_chain, "no flow rule and no default chain matched")             \
	X(no_instance, "the chain's first service has no running instance")  \
	X(backpressure, "an NF further along the flow's chain was overloaded") \
	X(ring_full, "the first NF's receive ring was full")                 \
	X(tx_full, "the port's transmit queue was full")                     \
	X(bad_port, "a verdict named a port that does not exist")

#define BH_X_ENUM(name, desc) BH_DROP_##name,
enum bh_nf_drop { BH_NF_DROPS(BH_X_ENUM) BH_NF_DROP_MAX };
#undef BH_X_ENUM
#define BH_X_ENUM(name, desc) BH_PDROP_##name,
enum bh_port_drop { BH_PORT_DROPS(BH_X_ENUM) BH_PORT_DROP_MAX };
#undef BH_X_ENUM

struct bh_nf_counters {
	uint64_t rx_pkts;
	uint64_t tx_pkts; /* handed on: to another NF or a port (bytes: see the ports) */
	uint64_t consumed; /* used up by the NF (CONSUME verdict, a protocol stack): freed, not a drop */
	uint64_t drops[BH_NF_DROP_MAX];
	uint64_t loops, idle_loops, sleeps, wakeups;
	uint64_t overloads; /* times the rx ring crossed the high watermark */
	uint64_t children;  /* child NFs spawned */
};

/* A message from the manager to an NF (ring element). */
enum bh_msg_type {
	BH_MSG_STOP = 1,  /* drain the rx ring, then leave the run loop */
	BH_MSG_SPAWN = 2, /* start `arg` child NFs (same program, same arguments) */
	BH_MSG_USER = 100,
};
struct bh_msg {
	uint32_t type;
	uint32_t arg;
	uint64_t data;
};

/* Application counters an NF publishes (firewall rules, monitor totals ...). */
struct bh_app_counter {
	char name[48];
	uint64_t value;
};

struct bh_nf_slot {
	/* manager */
	_Atomic uint32_t state;  /* enum bh_slot_state */
	int32_t pid;
	uint16_t id;             /* slot index */
	uint16_t service;        /* service id */
	uint16_t instance;       /* instance number within the service */
	uint16_t parent;         /* slot of the NF that spawned this one, or BH_NONE */
	int16_t core;            /* CPU the NF is pinned to, -1: not pinned */
	uint8_t poll_mode;       /* 1: busy-polls, never sleeps */
	uint8_t mgr_watch;       /* 1: mgr_alive is held by the manager (below) */
	uint32_t generation;     /* bumped each time the slot is reused */
	char name[BH_NAME_LEN];
	struct rte_ring *rx;     /* packets to this NF (MP/SC) */
	struct rte_ring *tx;     /* packets from this NF to ports (SP/SC) */
	struct rte_ring *msg;    /* struct bh_msg elements (SP/SC) */
	uint64_t start_ns;
	/* A robust, process-shared mutex the manager's main thread locks at
	 * start and never unlocks: when that thread ends, however it ends, the
	 * kernel marks the lock word FUTEX_OWNER_DIED and wakes one waiter on
	 * it. The slot's NF sleeps on its doorbell and on this word at once
	 * (futex_waitv), so it learns of the manager's death without waking
	 * to look (nflib). One per slot: a death wakes one waiter per word. */
	pthread_mutex_t mgr_alive;

	/* NF: read by every producer after each enqueue, written only when the NF
	 * goes to sleep or wakes, so it has a cache line of its own. */
	alignas(64) _Atomic uint32_t sleeping; /* 1 while in (or about to enter) futex wait */
	_Atomic uint32_t doorbell;            /* futex word: producers bump it and wake */
	_Atomic uint32_t overloaded;          /* rx ring above its high watermark */
	_Atomic uint32_t exiting;             /* set by nflib on a clean stop: not a crash */

	/* NF: written on every loop iteration. */
	alignas(64) _Atomic uint64_t epoch;   /* bumped every loop iteration (quiescence) */
	struct bh_nf_counters c;
	/* Application counters live in a memzone named here ("" if none). */
	char app_mz[BH_NAME_LEN];
} __rte_cache_aligned;

struct bh_service {
	char name[BH_NAME_LEN];
	uint16_t n_instances;
	uint16_t pad;
	/* Redirection table: flow-hash bucket -> slot id (BH_NONE: none). */
	_Atomic uint16_t reta[BH_RETA_SIZE];
	/* Manager only: the other instance each bucket's flows have been on. */
	uint16_t reta_prev[BH_RETA_SIZE];
};

/* bh_chain.in_use */
enum { BH_CHAIN_FREE = 0, BH_CHAIN_ACTIVE = 1, BH_CHAIN_RETIRED = 2 /* old version, still routes */ };

struct bh_chain {
	char name[BH_NAME_LEN];
	uint16_t len;       /* number of hops */
	uint16_t out_port;  /* where the packet goes after the last hop (BH_NONE: drop) */
	uint32_t first;     /* index of the first hop in bh_state.hops */
	_Atomic uint32_t in_use;
};

struct bh_port_info {
	char name[BH_NAME_LEN];
	uint16_t port_id;   /* DPDK ethdev port id */
	uint16_t pad;
};

struct bh_state {
	uint32_t magic;
	int32_t mgr_pid;
	uint64_t mgr_start_ns;
	uint32_t max_nfs, max_services, max_chains, max_hops;
	uint32_t n_ports;
	uint32_t nf_burst;
	struct rte_mempool *pool;

	/* NFs currently overloaded: the data plane checks chains only when > 0. */
	alignas(64) _Atomic uint32_t n_overloaded;

	/* The manager's own doorbell: an eventfd in the manager (NFs duplicate it
	 * with pidfd_getfd) that they write after filling their tx ring while the
	 * manager sleeps. The manager sleeps in poll() on it and on its ports. */
	alignas(64) _Atomic uint32_t mgr_sleeping; /* set before its last look, until it wakes */
	_Atomic uint32_t mgr_parked;              /* inside poll(): not touching any ring */
	int32_t mgr_efd;
	_Atomic uint64_t mgr_epoch;

	alignas(64) struct bh_nf_slot *nfs;   /* [max_nfs] */
	struct bh_service *services;          /* [max_services] */
	struct bh_chain *chains;              /* [max_chains] */
	uint16_t *hops;                       /* [max_hops]: service ids */
	struct bh_port_info *ports;           /* [n_ports] */
};

/* Registration over DPDK's multi-process channel (rte_mp), NF -> manager. */
enum { BH_REG_ISO_APPLIED = 1 }; /* bh_reg_req.flags: bh_nf_conf.iso_applied */
struct bh_reg_req {
	int32_t pid;
	uint16_t parent; /* slot of the spawning NF (BH_PARENT in the environment), or BH_NONE */
	uint16_t flags;  /* BH_REG_* */
	char service[BH_NAME_LEN];
	char name[BH_NAME_LEN];
};
struct bh_reg_reply {
	int32_t status; /* 0 or -errno */
	uint16_t slot;
	uint16_t service;
	uint16_t instance;
	int16_t core;      /* pin to this CPU, -1: leave placement alone */
	uint32_t generation;
	uint8_t poll_mode; /* busy-poll instead of sleeping when idle */
	uint8_t pad[3];
};

/* Header of an NF's application-counter memzone, followed by the counters. */
struct bh_app_counters {
	uint32_t n;
	uint32_t pad;
	struct bh_app_counter c[];
};

#endif
