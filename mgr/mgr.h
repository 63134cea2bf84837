/* SPDX-License-Identifier: MIT */
/*
 * The manager's internal state, shared by its threads:
 *   - the data-plane thread (the EAL main lcore): port RX/TX, flow director;
 *   - the control thread: NF deaths (pidfds), reclaim, statistics;
 *   - DPDK's multi-process thread: NF registration (mgr_registry_on_register).
 * Registry changes take `lock`; the data plane reads slot states atomically.
 * Lock order: topo_lock before lock before stats_lock.
 */
#ifndef MGR_MGR_H
#define MGR_MGR_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <jansson.h>

#include "bulkhead/shm.h"
#include "mgr/config.h"
#include "mgr/flow.h"

#define MGR_HISTORY 300 /* snapshots kept for /stats/history */

struct MHD_Daemon;
struct mgr_autoscale;

struct mgr_port {
	uint16_t eth_id;
	/* What wakes the sleeping data plane for this port: a packet socket on
	 * its interface, or (wake_xsk) the port's own AF_XDP socket, whose
	 * frames the interface's packet sockets never see; -1: none. */
	int wake_fd;
	bool wake_xsk; /* wake_fd belongs to the port's driver: not ours to close */
	uint64_t drops[BH_PORT_DROP_MAX]; /* written by the data plane only */
	uint64_t rx_pkts, rx_bytes, tx_pkts, tx_bytes;
};

struct mgr_dp_counters {
	uint64_t loops, idle_loops, sleeps;
	uint64_t pool_empty; /* times the data plane found the packet pool empty */
};

struct mgr {
	struct mgr_config cfg;
	struct bh_state *st;
	struct rte_mempool *pool;
	_Atomic(struct mgr_flowdir *) fd; /* swapped whole on a rule change (topology.c) */
	pthread_mutex_t topo_lock;         /* chains, rules, default chain */
	unsigned fd_generation;
	uint8_t *hop_used;                 /* [max_hops] */
	uint64_t *chain_retired;           /* [max_chains] when retired, 0: never */
	struct mgr_rule_conf *rules;       /* the live rules, in match order */
	unsigned n_rules, cap_rules;
	uint16_t default_chain;
	struct mgr_port *ports;
	_Atomic unsigned nf_slots_hi; /* slots [0, hi) have rings: the data plane looks at no more */
	struct mgr_dp_counters dp;
	pthread_mutex_t lock;
	pthread_mutex_t stats_lock; /* guards stats_last and hist */
	json_t *stats_last;
	json_t *hist[MGR_HISTORY]; /* the last snapshots, a ring */
	unsigned hist_head, hist_n;
	int *pidfds;          /* per slot, -1 when none */
	unsigned *pending_spawn; /* per service: children asked for, not yet registered */
	uint64_t *pending_since; /* per service: when they were asked for */
	unsigned *scale_target;  /* per service: instances last asked for + 1 (0: none yet) */
	int epfd;             /* control thread: pidfds */
	volatile int stop;
	uint64_t start_ns;
	uint64_t nf_started, nf_exited, mbufs_reclaimed;
	uint64_t mbufs_swept; /* late packets freed from FREE slots' rings (registry.c) */
	struct MHD_Daemon *api;
	struct mgr_autoscale *autoscale; /* per service */
	char api_token[65];
	char api_token_path[320];  /* where the token is, for messages */
	char api_token_file[256];  /* the generated token's file, removed at exit */
	char web_dir[4096];        /* the web console's files, "" if none */
};

/* registry.c */
int mgr_registry_init(struct mgr *m);
void mgr_registry_fini(struct mgr *m);
/* Handle a readable pidfd: the NF in `slot` exited. Control thread. */
void mgr_registry_reap(struct mgr *m, uint16_t slot);
/*
 * Scale a service to `want` running instances: spawn children from its first
 * instance, or drain and stop the highest-numbered ones. Returns once the
 * change is under way (0), or -errno with a reason in err. Any thread.
 */
int mgr_service_scale(struct mgr *m, const char *service, unsigned want, char *err, size_t errlen);
enum mgr_nf_op { MGR_NF_STOP, MGR_NF_PAUSE, MGR_NF_RESUME };
/*
 * Stop (drain, then exit), pause (out of its service's redirection table, still
 * running) or resume an NF. 0, or -ENOENT / -EBUSY with a reason in err.
 */
int mgr_nf_control(struct mgr *m, unsigned id, enum mgr_nf_op op, char *err, size_t errlen);
/* Is pid a registered NF? */
int mgr_registry_knows(struct mgr *m, int pid);
/* Put to work the children of a scale-out that did not all register within 5 s;
 * free packets that reached a free slot's ring after its NF was reclaimed. */
void mgr_registry_expire(struct mgr *m);
/* Ask every NF to stop and wait up to timeout_ms for them to exit. */
void mgr_registry_stop_all(struct mgr *m, unsigned timeout_ms);

/* dataplane.c: runs until m->stop. */
/* A socket on the port's interface that wakes the sleeping data plane, or -1. */
int mgr_wake_socket(const char *dev);
/* The AF_XDP sockets this process has open (at most max of them, into fds):
 * their count, or -errno. */
int mgr_xsk_fds(int *fds, int max);
int mgr_dataplane_run(struct mgr *m);

/* stats.c */
/* jansson allocates through mgr_json_init()'s functions: a failed allocation
 * sets mgr_json_oom in its thread, so a document built after clearing it is
 * known whole (jansson drops a member it cannot add, and tells bad input from
 * a failed allocation only sometimes). Call first thing in main(). */
extern _Thread_local int mgr_json_oom;
void mgr_json_init(void);
/* Take a new statistics snapshot, with rates since the previous one (out of
 * memory: the previous one stays). Control thread. */
void mgr_stats_update(struct mgr *m);
/*
 * The latest snapshot of the whole platform's statistics (docs/config.md): a new
 * reference the caller releases with json_decref(); never modified afterwards.
 * NULL before the first update. Any thread.
 */
json_t *mgr_stats_json(struct mgr *m);
/* The platform's state now (rates since the last periodic snapshot). New reference;
 * NULL when out of memory. */
json_t *mgr_stats_live(struct mgr *m);
/* Print a snapshot as a table of ports and NFs. */
void mgr_stats_print(json_t *doc);
/* The last MGR_HISTORY snapshots as time series (docs/api.md). New reference. */
json_t *mgr_stats_history(struct mgr *m);
/* /metrics in Prometheus text format: malloc'd, *len bytes; NULL when out of memory. */
char *mgr_stats_metrics(struct mgr *m, size_t *len);
void mgr_stats_fini(struct mgr *m);
/* "free", "running", ... for an NF slot's state. */
const char *mgr_slot_state_name(uint32_t state);

/* pool.c: the packet buffers out of the pool now, the first max of them described
 * (docs/api.md, GET /api/v1/pool/held). New reference; NULL if it cannot be read. */
json_t *mgr_pool_held(struct mgr *m, unsigned max);

/* topology.c: live chains and rules (docs/api.md). 0 or -errno with err set. */
int mgr_topology_init(struct mgr *m);
void mgr_topology_fini(struct mgr *m);
int mgr_chain_set(struct mgr *m, const char *name, json_t *body, int create, char *err, size_t errlen);
int mgr_chain_delete(struct mgr *m, const char *name, char *err, size_t errlen);
/* Returns the index the rule went to. */
int mgr_rule_insert(struct mgr *m, json_t *body, char *err, size_t errlen);
int mgr_rule_delete(struct mgr *m, unsigned index, char *err, size_t errlen);
int mgr_default_chain_set(struct mgr *m, const char *name, char *err, size_t errlen);
json_t *mgr_rules_json(struct mgr *m);
uint64_t mgr_default_hits(struct mgr *m, const char **chain);
/* registry.c: the id of a service, created if new. -EINVAL bad name, -ENOSPC full. */
int mgr_service_id(struct mgr *m, const char *name);

/* catalog.c: NF programs the API can start, and the web console's directory. */
json_t *mgr_catalog(struct mgr *m);
/* Start an NF from the catalog (a child of the manager). Its pid, or -errno with err. */
long mgr_nf_start(struct mgr *m, const char *nf, const char *service, const char *name,
		  const char *const *args, char *err, size_t errlen);
void mgr_web_dir(struct mgr *m);

/* events.c: the event log the API serves. mgr_event: any thread. */
void mgr_event_init(void);
void mgr_event(const char *type, const struct bh_nf_slot *s, const char *service, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Events with seq > since (at most max, the latest), as a JSON array (NULL, out of
 * memory: all of them or none); *last: newest seq. */
json_t *mgr_events_since(uint64_t since, unsigned max, uint64_t *last);
/* Wait up to timeout_ms for an event newer than `after`. 1 if there is one. */
int mgr_events_wait(uint64_t after, unsigned timeout_ms);

/* autoscale.c: services' scale policies, evaluated on the control thread. */
int mgr_autoscale_init(struct mgr *m);
void mgr_autoscale_tick(struct mgr *m);
void mgr_autoscale_fini(struct mgr *m);

/* api.c: the REST API (docs/api.md), when api.port is not 0. 0 or -errno. */
int mgr_api_start(struct mgr *m);
void mgr_api_stop(struct mgr *m);

uint64_t mgr_now_ns(void);

#endif
