/* SPDX-License-Identifier: MIT */
/*
 * The manager's JSON configuration (docs/config.md). Pure code: jansson only.
 */
#ifndef MGR_CONFIG_H
#define MGR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "bulkhead/shm.h"

struct mgr_port_conf {
	char name[BH_NAME_LEN];
	char *dev;   /* DPDK virtual-device spec, e.g. "net_af_packet0,iface=veth0" */
	char *netns; /* network namespace (ip netns name) the interface is in, or NULL */
};

/* Auto-scaling policy of a service (docs/config.md). */
struct mgr_scale_conf {
	bool on;
	unsigned min, max;
	unsigned out_occupancy_pct; /* scale out when the instances' rx rings are this full ... */
	unsigned out_after_ms;      /* ... for this long */
	unsigned in_idle_ms;        /* scale in after this long without packets */
};

struct mgr_service_conf {
	char name[BH_NAME_LEN]; /* first: looked up by name like ports and chains */
	bool poll;              /* busy-poll instead of sleeping when idle */
	unsigned n_cores;
	int *cores;             /* CPUs its instances are pinned to (round robin by load) */
	struct mgr_scale_conf scale;
	char *iso_text;         /* isolation policy: the file handed to its NFs ("OPTION VALUE"
	                           lines, bulkhead/iso.h), or NULL: none */
	json_t *iso_json;       /* the same as configured, for the statistics (a reference) */
};

struct mgr_chain_conf {
	char name[BH_NAME_LEN];
	unsigned n_hops;
	uint16_t *hops;    /* service indices into mgr_config.services */
	uint16_t out_port; /* port index or BH_NONE */
};

struct mgr_rule_conf {
	uint16_t in_port; /* BH_NONE: any */
	uint32_t src, dst;
	uint8_t src_len, dst_len;
	uint8_t proto; /* 0: any */
	uint16_t sport_lo, sport_hi, dport_lo, dport_hi;
	uint16_t chain;
};

struct mgr_config {
	char *prefix;
	unsigned mbufs, mbuf_cache, data_room;
	unsigned nf_rx_ring, nf_tx_ring, burst, port_rx_desc, port_tx_desc;
	unsigned max_nfs, max_services, max_chains, max_hops, max_flows;
	unsigned n_ports, n_services, n_chains, n_rules;
	struct mgr_port_conf *ports;
	struct mgr_service_conf *services; /* [max_services] */
	struct mgr_chain_conf *chains;
	struct mgr_rule_conf *rules;
	uint16_t default_chain; /* BH_NONE: drop unmatched */
	unsigned n_nf_cores;
	int *nf_cores; /* CPUs the manager places NFs on; none: NFs are not pinned */
	char *api_bind;       /* control-plane address (default 127.0.0.1) */
	unsigned api_port;    /* 0: no control plane */
	char *api_token;      /* bearer token for mutating calls; NULL: generated */
	char *api_token_file; /* where a generated token is written */
	unsigned stats_interval_ms;
	bool stats_print;
	char *stats_file;
};

/*
 * Parse a configuration from a JSON text (or a file). On failure returns
 * -EINVAL (or -ENOENT/-ENOMEM) and writes one line naming the field and the
 * reason into err. On success the caller owns *cfg and frees it with
 * mgr_config_free().
 */
int mgr_config_parse(const char *json, struct mgr_config *cfg, char *err, size_t errlen);
int mgr_config_load(const char *path, struct mgr_config *cfg, char *err, size_t errlen);
/* A name of ports, services, chains and the prefix: 1 to BH_NAME_LEN - 1
 * bytes of [A-Za-z0-9_.-], not "." or "..". 0, or -EINVAL with why in err. */
int mgr_config_name_check(const char *s, char *err, size_t errlen);
void mgr_config_free(struct mgr_config *cfg);

/* Resolve a port or chain name to its index, or -1. */
typedef int (*mgr_name_lookup)(void *ctx, const char *name);
/*
 * Parse one flow rule (a JSON object, as in the "rules" of the configuration)
 * named `where` in messages. 0, or -EINVAL with the reason in err.
 */
int mgr_rule_parse(json_t *r, const char *where, mgr_name_lookup port, mgr_name_lookup chain,
		   void *ctx, struct mgr_rule_conf *out, char *err, size_t errlen);

#endif
