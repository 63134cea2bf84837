/* SPDX-License-Identifier: MIT */
/*
 * The manager's internal state, shared by its threads:
 *   - the data-plane thread (the EAL main lcore): port RX/TX, flow director;
 *   - the control thread: NF deaths (pidfds), reclaim, statistics;
 *   - DPDK's multi-process thread: NF registration (mgr_registry_on_register).
 * Registry changes take `lock`; the data plane reads slot states atomically.
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

struct MHD_Daemon;
struct mgr_autoscale;

struct mgr_port {
	uint16_t eth_id;
	uint64_t drops[BH_PORT_DROP_MAX]; /* written by the data plane only */
	uint64_t rx_pkts, rx_bytes, tx_pkts, tx_bytes;
};

struct mgr_dp_counters {
	uint64_t loops, idle_loops, sleeps;
};

struct mgr {
	struct mgr_config cfg;
	struct bh_state *st;
	struct rte_mempool *pool;
	struct mgr_flowdir *fd;
	struct mgr_port *ports;
	struct mgr_dp_counters dp;
	pthread_mutex_t lock;
	pthread_mutex_t stats_lock; /* guards stats_last */
	json_t *stats_last;
	int *pidfds;          /* per slot, -1 when none */
	unsigned *pending_spawn; /* per service: children asked for, not yet registered */
	uint64_t *pending_since; /* per service: when they were asked for */
	int epfd;             /* control thread: pidfds */
	volatile int stop;
	uint64_t start_ns;
	uint64_t nf_started, nf_exited, mbufs_reclaimed;
	struct MHD_Daemon *api;
	struct mgr_autoscale *autoscale; /* per service */
	char api_token[65];
	char api_token_path[256];
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
/* Put to work the children of a scale-out that did not all register within 5 s. */
void mgr_registry_expire(struct mgr *m);
/* Ask every NF to stop and wait up to timeout_ms for them to exit. */
void mgr_registry_stop_all(struct mgr *m, unsigned timeout_ms);

/* dataplane.c: runs until m->stop. */
int mgr_dataplane_run(struct mgr *m);

/* stats.c */
/* Take a new statistics snapshot, with rates since the previous one. Control thread. */
void mgr_stats_update(struct mgr *m);
/*
 * The latest snapshot of the whole platform's statistics (docs/config.md): a new
 * reference the caller releases with json_decref(); never modified afterwards.
 * NULL before the first update. Any thread.
 */
json_t *mgr_stats_json(struct mgr *m);
/* Print a snapshot as a table of ports and NFs. */
void mgr_stats_print(json_t *doc);

/* autoscale.c: services' scale policies, evaluated on the control thread. */
int mgr_autoscale_init(struct mgr *m);
void mgr_autoscale_tick(struct mgr *m);
void mgr_autoscale_fini(struct mgr *m);

/* api.c: the REST API (docs/api.md), when api.port is not 0. 0 or -errno. */
int mgr_api_start(struct mgr *m);
void mgr_api_stop(struct mgr *m);

uint64_t mgr_now_ns(void);

#endif
