/* SPDX-License-Identifier: MIT */
/*
 * Statistics: one JSON document for the whole platform, built from the
 * counters the data plane and the NFs keep. The printer, the stats file and
 * (later) the control plane all read this one document.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <stdlib.h>

#include <rte_ethdev.h>
#include <rte_mempool.h>
#include <rte_memzone.h>
#include <rte_ring.h>

#include "mgr/mgr.h"

static const char *const st_state_names[] = {"free", "starting", "running", "paused",
					     "stopping", "dead"};

const char *mgr_slot_state_name(uint32_t state)
{
	return state < RTE_DIM(st_state_names) ? st_state_names[state] : "?";
}

#define BH_X_NAME(name, desc) #name,
static const char *const st_nf_drop_names[] = {BH_NF_DROPS(BH_X_NAME)};
static const char *const st_port_drop_names[] = {BH_PORT_DROPS(BH_X_NAME)};
#undef BH_X_NAME

uint64_t mgr_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static json_t *st_drops(const uint64_t *v, const char *const *names, unsigned n, uint64_t *total)
{
	json_t *o = json_object();
	*total = 0;
	for (unsigned i = 0; i < n; i++) {
		json_object_set_new(o, names[i], json_integer((json_int_t)v[i]));
		*total += v[i];
	}
	return o;
}

static json_t *st_ports(struct mgr *m)
{
	json_t *a = json_array();
	for (unsigned i = 0; i < m->st->n_ports; i++) {
		struct mgr_port *p = &m->ports[i];
		struct rte_eth_stats es;
		uint64_t total;
		memset(&es, 0, sizeof(es));
		rte_eth_stats_get(p->eth_id, &es);
		json_t *drops = st_drops(p->drops, st_port_drop_names, BH_PORT_DROP_MAX, &total);
		json_array_append_new(a, json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:I}",
			"name", m->st->ports[i].name,
			"rx_pkts", (json_int_t)p->rx_pkts, "rx_bytes", (json_int_t)p->rx_bytes,
			"tx_pkts", (json_int_t)p->tx_pkts, "tx_bytes", (json_int_t)p->tx_bytes,
			"rx_missed", (json_int_t)es.imissed, "rx_nombuf", (json_int_t)es.rx_nombuf,
			"tx_errors", (json_int_t)es.oerrors, "rx_errors", (json_int_t)es.ierrors,
			"drops", drops, "drops_total", (json_int_t)total));
	}
	return a;
}

static json_t *st_app(const char *mzname)
{
	json_t *o = json_object();
	const struct rte_memzone *mz = mzname[0] ? rte_memzone_lookup(mzname) : NULL;
	if (!mz)
		return o;
	const struct bh_app_counters *ac = mz->addr;
	for (unsigned i = 0; i < ac->n; i++) {
		char name[sizeof(ac->c[i].name)];
		memcpy(name, ac->c[i].name, sizeof(name));
		name[sizeof(name) - 1] = 0;
		json_object_set_new(o, name, json_integer((json_int_t)ac->c[i].value));
	}
	return o;
}

static json_t *st_nfs(struct mgr *m)
{
	struct bh_state *st = m->st;
	json_t *a = json_array();
	for (unsigned i = 0; i < st->max_nfs; i++) {
		struct bh_nf_slot *s = &st->nfs[i];
		uint32_t state = atomic_load(&s->state);
		if (state == BH_SLOT_FREE)
			continue;
		struct bh_nf_counters c = s->c;
		uint64_t total;
		json_t *drops = st_drops(c.drops, st_nf_drop_names, BH_NF_DROP_MAX, &total);
		json_t *o = json_pack("{s:i, s:s, s:s, s:i, s:i, s:s, s:b, s:I, s:I, s:o, s:I}",
			"id", (int)i, "name", s->name,
			"service", s->service < st->max_services ? st->services[s->service].name : "",
			"instance", (int)s->instance, "pid", (int)s->pid,
			"state", mgr_slot_state_name(state),
			"sleeping", (int)atomic_load(&s->sleeping),
			"rx_pkts", (json_int_t)c.rx_pkts, "tx_pkts", (json_int_t)c.tx_pkts,
			"drops", drops, "drops_total", (json_int_t)total);
		json_object_set_new(o, "consumed", json_integer((json_int_t)c.consumed));
		json_object_set_new(o, "ring", json_pack("{s:i, s:i, s:i, s:i}",
			"rx_count", (int)rte_ring_count(s->rx), "rx_size", (int)rte_ring_get_size(s->rx),
			"tx_count", (int)rte_ring_count(s->tx), "tx_size", (int)rte_ring_get_size(s->tx)));
		json_object_set_new(o, "loop", json_pack("{s:I, s:I, s:I, s:I}",
			"loops", (json_int_t)c.loops, "idle_loops", (json_int_t)c.idle_loops,
			"sleeps", (json_int_t)c.sleeps, "wakeups", (json_int_t)c.wakeups));
		json_object_set_new(o, "app", st_app(s->app_mz));
		json_object_set_new(o, "parent", s->parent < st->max_nfs ? json_integer(s->parent) : json_null());
		json_object_set_new(o, "core", json_integer(s->core));
		json_object_set_new(o, "mode", json_string(s->poll_mode ? "poll" : "shared"));
		json_object_set_new(o, "overloaded", json_boolean(atomic_load(&s->overloaded)));
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *st_topology(struct mgr *m, json_t *root)
{
	struct bh_state *st = m->st;
	json_t *svcs = json_array(), *chains = json_array(), *rules = NULL;
	for (unsigned i = 0; i < st->max_services; i++) {
		if (!st->services[i].name[0])
			continue;
		json_t *o = json_pack("{s:i, s:s, s:i}", "id", (int)i, "name", st->services[i].name,
				      "instances", (int)st->services[i].n_instances);
		/* Configured services keep their ids (mgr_config.services). */
		if (i < m->cfg.n_services && m->cfg.services[i].iso_json)
			json_object_set(o, "isolation", m->cfg.services[i].iso_json); /* shared, never changed */
		json_array_append_new(svcs, o);
	}
	for (unsigned i = 0; i < st->max_chains; i++) {
		const struct bh_chain *c = &st->chains[i];
		if (atomic_load(&c->in_use) != BH_CHAIN_ACTIVE)
			continue;
		json_t *hops = json_array();
		for (unsigned h = 0; h < c->len; h++)
			json_array_append_new(hops, json_string(st->services[st->hops[c->first + h]].name));
		json_array_append_new(chains, json_pack("{s:i, s:s, s:o, s:s?}", "id", (int)i,
			"name", c->name, "hops", hops,
			"out", c->out_port < st->n_ports ? st->ports[c->out_port].name : NULL));
	}
	json_decref(rules);
	json_object_set_new(root, "services", svcs);
	json_object_set_new(root, "chains", chains);
	return root;
}

static json_t *st_collect(struct mgr *m)
{
	json_t *root = json_object();
	uint64_t now = mgr_now_ns();
	json_object_set_new(root, "time_ns", json_integer((json_int_t)now));
	json_object_set_new(root, "uptime_s", json_real((double)(now - m->start_ns) / 1e9));
	json_object_set_new(root, "prefix", json_string(m->cfg.prefix));
	json_object_set_new(root, "ports", st_ports(m));
	pthread_mutex_lock(&m->lock);
	json_object_set_new(root, "nfs", st_nfs(m));
	st_topology(m, root);
	json_object_set_new(root, "manager", json_pack("{s:i, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
		"pid", (int)m->st->mgr_pid, "sleeping", (int)atomic_load(&m->st->mgr_sleeping),
		"loops", (json_int_t)m->dp.loops, "idle_loops", (json_int_t)m->dp.idle_loops,
		"sleeps", (json_int_t)m->dp.sleeps, "nf_started", (json_int_t)m->nf_started,
		"nf_exited", (json_int_t)m->nf_exited, "mbufs_reclaimed", (json_int_t)m->mbufs_reclaimed,
		"mbufs_swept", (json_int_t)m->mbufs_swept));
	pthread_mutex_unlock(&m->lock);
	/* Rules take topo_lock, which is taken before m->lock elsewhere: not under m->lock. */
	const char *dchain;
	uint64_t dflt = mgr_default_hits(m, &dchain);
	json_object_set_new(root, "rules", mgr_rules_json(m));
	json_object_set_new(root, "default_chain", dchain ? json_string(dchain) : json_null());
	json_object_set_new(root, "default_hits", json_integer((json_int_t)dflt));
	json_object_set_new(root, "pool", json_pack("{s:i, s:i, s:I}",
		"size", (int)m->cfg.mbufs, "available", (int)rte_mempool_avail_count(m->pool),
		"empty_events", (json_int_t)m->dp.pool_empty));
	return root;
}

/* Rate of a counter between two documents (0 when absent). */
static double st_rate(json_t *now, json_t *prev, const char *key, double dt)
{
	json_t *a = json_object_get(now, key), *b = prev ? json_object_get(prev, key) : NULL;
	if (!a || !b || dt <= 0)
		return 0;
	return (double)(json_integer_value(a) - json_integer_value(b)) / dt;
}

/* The same NF (slot and pid) in an earlier document. */
static json_t *st_find_nf(json_t *prev, json_t *nf)
{
	json_t *a = prev ? json_object_get(prev, "nfs") : NULL, *o;
	size_t i;
	json_array_foreach(a, i, o)
		if (json_integer_value(json_object_get(o, "id")) ==
			    json_integer_value(json_object_get(nf, "id")) &&
		    json_integer_value(json_object_get(o, "pid")) ==
			    json_integer_value(json_object_get(nf, "pid")))
			return o;
	return NULL;
}

static void st_add_rates(json_t *o, json_t *p, double dt)
{
	json_object_set_new(o, "rx_pps", json_real(st_rate(o, p, "rx_pkts", dt)));
	json_object_set_new(o, "tx_pps", json_real(st_rate(o, p, "tx_pkts", dt)));
	if (json_object_get(o, "rx_bytes")) {
		json_object_set_new(o, "rx_bps", json_real(8 * st_rate(o, p, "rx_bytes", dt)));
		json_object_set_new(o, "tx_bps", json_real(8 * st_rate(o, p, "tx_bytes", dt)));
	}
	json_object_set_new(o, "drops_ps", json_real(st_rate(o, p, "drops_total", dt)));
}

/* A fresh document, with rates against an earlier one (or zeros); NULL when
 * an allocation failed on the way (a member would be missing). */
static json_t *st_with_rates(struct mgr *m, json_t *prev)
{
	int before = mgr_json_oom; /* (a caller's failure is still the caller's) */
	mgr_json_oom = 0;
	json_t *doc = st_collect(m), *o;
	double dt = prev ? (double)(json_integer_value(json_object_get(doc, "time_ns")) -
				    json_integer_value(json_object_get(prev, "time_ns"))) / 1e9
			 : 0;
	size_t i;
	json_array_foreach(json_object_get(doc, "ports"), i, o)
		st_add_rates(o, prev ? json_array_get(json_object_get(prev, "ports"), i) : NULL, dt);
	json_array_foreach(json_object_get(doc, "nfs"), i, o)
		st_add_rates(o, st_find_nf(prev, o), dt);
	if (mgr_json_oom) {
		json_decref(doc);
		return NULL;
	}
	mgr_json_oom = before;
	return doc;
}

_Thread_local int mgr_json_oom;

static void *mgr_json_malloc(size_t n)
{
	void *p = malloc(n);
	if (!p)
		mgr_json_oom = 1;
	return p;
}

void mgr_json_init(void)
{
	json_set_alloc_funcs(mgr_json_malloc, free);
}

json_t *mgr_stats_live(struct mgr *m)
{
	json_t *prev = mgr_stats_json(m);
	json_t *doc = st_with_rates(m, prev);
	json_decref(prev);
	return doc;
}

void mgr_stats_update(struct mgr *m)
{
	json_t *prev = m->stats_last;
	json_t *doc = st_with_rates(m, prev);
	if (!doc)
		return; /* out of memory: the last one stays */
	pthread_mutex_lock(&m->stats_lock);
	m->stats_last = doc; /* published documents are never modified */
	json_t *old = m->hist[m->hist_head];
	m->hist[m->hist_head] = json_incref(doc);
	m->hist_head = (m->hist_head + 1) % MGR_HISTORY;
	if (m->hist_n < MGR_HISTORY)
		m->hist_n++;
	pthread_mutex_unlock(&m->stats_lock);
	json_decref(old);
	json_decref(prev);
}

void mgr_stats_fini(struct mgr *m)
{
	for (unsigned i = 0; i < MGR_HISTORY; i++) {
		json_decref(m->hist[i]);
		m->hist[i] = NULL;
	}
	json_decref(m->stats_last);
	m->stats_last = NULL;
}

/* Append v to series[name][key], creating what is missing. */
static void st_series_add(json_t *series, const char *name, const char *key, json_t *v, size_t at)
{
	json_t *o = json_object_get(series, name);
	if (!o) {
		o = json_object();
		json_object_set_new(series, name, o);
	}
	json_t *a = json_object_get(o, key);
	if (!a) {
		a = json_array();
		json_object_set_new(o, key, a);
	}
	while (json_array_size(a) < at) /* appeared late: pad with nulls */
		json_array_append_new(a, json_null());
	json_array_append(a, v ? v : json_null());
}

json_t *mgr_stats_history(struct mgr *m)
{
	static const char *const port_keys[] = {"rx_pps", "tx_pps", "drops_ps"};
	static const char *const nf_keys[] = {"rx_pps", "tx_pps", "drops_ps", "sleeping"};
	json_t *docs[MGR_HISTORY];
	unsigned n;
	struct timespec rt;
	clock_gettime(CLOCK_REALTIME, &rt);
	uint64_t now_mono = mgr_now_ns();

	pthread_mutex_lock(&m->stats_lock);
	n = m->hist_n;
	for (unsigned i = 0; i < n; i++)
		docs[i] = json_incref(m->hist[(m->hist_head + MGR_HISTORY - n + i) % MGR_HISTORY]);
	pthread_mutex_unlock(&m->stats_lock);

	json_t *t = json_array(), *ports = json_object(), *nfs = json_object();
	for (unsigned i = 0; i < n; i++) {
		json_t *o;
		size_t j;
		uint64_t at_ns = (uint64_t)json_integer_value(json_object_get(docs[i], "time_ns"));
		json_array_append_new(t, json_real((double)rt.tv_sec + rt.tv_nsec / 1e9 -
						   (double)(now_mono - at_ns) / 1e9));
		json_array_foreach(json_object_get(docs[i], "ports"), j, o)
			for (unsigned k = 0; k < 3; k++)
				st_series_add(ports, json_string_value(json_object_get(o, "name")),
					      port_keys[k], json_object_get(o, port_keys[k]), i);
		json_array_foreach(json_object_get(docs[i], "nfs"), j, o) {
			char key[BH_NAME_LEN + 16];
			snprintf(key, sizeof(key), "%s#%lld", json_string_value(json_object_get(o, "name")),
				 json_integer_value(json_object_get(o, "id")));
			for (unsigned k = 0; k < 4; k++)
				st_series_add(nfs, key, nf_keys[k], json_object_get(o, nf_keys[k]), i);
		}
		json_decref(docs[i]);
	}
	return json_pack("{s:i, s:o, s:o, s:o}", "interval_ms", (int)m->cfg.stats_interval_ms, "t", t,
			 "ports", ports, "nfs", nfs);
}

/* Prometheus label value: backslash, quote and newline escaped. */
static void st_label(FILE *f, const char *v)
{
	if (!v)
		return;
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', f);
		if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
}

char *mgr_stats_metrics(struct mgr *m, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	if (!f)
		return NULL;
	json_t *doc = mgr_stats_json(m), *o, *v; /* NULL (none yet): the headers only */
	size_t i;
	const char *k;
#define ST_HELP(name, type, help) fprintf(f, "# HELP " name " " help "\n# TYPE " name " " type "\n")
	ST_HELP("bulkhead_port_packets_total", "counter", "Packets received (dir=rx) or sent (dir=tx) on a port.");
	json_array_foreach(json_object_get(doc, "ports"), i, o)
		for (int d = 0; d < 2; d++) {
			fputs("bulkhead_port_packets_total{port=\"", f);
			st_label(f, json_string_value(json_object_get(o, "name")));
			fprintf(f, "\",dir=\"%s\"} %lld\n", d ? "tx" : "rx",
				json_integer_value(json_object_get(o, d ? "tx_pkts" : "rx_pkts")));
		}
	ST_HELP("bulkhead_port_drops_total", "counter", "Packets dropped at a port, by reason.");
	json_array_foreach(json_object_get(doc, "ports"), i, o)
		json_object_foreach(json_object_get(o, "drops"), k, v) {
			fputs("bulkhead_port_drops_total{port=\"", f);
			st_label(f, json_string_value(json_object_get(o, "name")));
			fprintf(f, "\",reason=\"%s\"} %lld\n", k, json_integer_value(v));
		}
	static const struct { const char *metric, *type, *help, *key, *sub; } nf_metrics[] = {
		{"bulkhead_nf_rx_packets_total", "counter", "Packets an NF received.", "rx_pkts", NULL},
		{"bulkhead_nf_tx_packets_total", "counter", "Packets an NF handed on.", "tx_pkts", NULL},
		{"bulkhead_nf_consumed_packets_total", "counter", "Packets an NF used up (a protocol stack's input).", "consumed", NULL},
		{"bulkhead_nf_sleeping", "gauge", "1 while the NF sleeps on its doorbell.", "sleeping", NULL},
		{"bulkhead_nf_ring_count", "gauge", "Packets waiting in the NF's receive ring.", "ring", "rx_count"},
		{"bulkhead_nf_sleeps_total", "counter", "Times the NF went to sleep.", "loop", "sleeps"},
	};
	for (unsigned mi = 0; mi < sizeof(nf_metrics) / sizeof(nf_metrics[0]); mi++) {
		fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", nf_metrics[mi].metric, nf_metrics[mi].help,
			nf_metrics[mi].metric, nf_metrics[mi].type);
		json_array_foreach(json_object_get(doc, "nfs"), i, o) {
			json_t *x = json_object_get(o, nf_metrics[mi].key);
			if (nf_metrics[mi].sub)
				x = json_object_get(x, nf_metrics[mi].sub);
			fprintf(f, "%s{nf=\"", nf_metrics[mi].metric);
			st_label(f, json_string_value(json_object_get(o, "name")));
			fprintf(f, "\",id=\"%lld\",service=\"", json_integer_value(json_object_get(o, "id")));
			st_label(f, json_string_value(json_object_get(o, "service")));
			fprintf(f, "\"} %lld\n", json_is_boolean(x) ? (long long)json_is_true(x) : json_integer_value(x));
		}
	}
	ST_HELP("bulkhead_nf_drops_total", "counter", "Packets an NF dropped, by reason.");
	json_array_foreach(json_object_get(doc, "nfs"), i, o)
		json_object_foreach(json_object_get(o, "drops"), k, v) {
			fputs("bulkhead_nf_drops_total{nf=\"", f);
			st_label(f, json_string_value(json_object_get(o, "name")));
			fprintf(f, "\",id=\"%lld\",reason=\"%s\"} %lld\n",
				json_integer_value(json_object_get(o, "id")), k, json_integer_value(v));
		}
	ST_HELP("bulkhead_nf_app", "untyped", "An NF's own counters (the app object of the statistics).");
	json_array_foreach(json_object_get(doc, "nfs"), i, o)
		json_object_foreach(json_object_get(o, "app"), k, v) {
			fputs("bulkhead_nf_app{nf=\"", f);
			st_label(f, json_string_value(json_object_get(o, "name")));
			fprintf(f, "\",id=\"%lld\",counter=\"", json_integer_value(json_object_get(o, "id")));
			st_label(f, k);
			fprintf(f, "\"} %lld\n", json_integer_value(v));
		}
	ST_HELP("bulkhead_service_instances", "gauge", "Running instances of a service.");
	json_array_foreach(json_object_get(doc, "services"), i, o) {
		fputs("bulkhead_service_instances{service=\"", f);
		st_label(f, json_string_value(json_object_get(o, "name")));
		fprintf(f, "\"} %lld\n", json_integer_value(json_object_get(o, "instances")));
	}
	ST_HELP("bulkhead_pool_available", "gauge", "Free packet buffers in the shared pool.");
	fprintf(f, "bulkhead_pool_available %lld\n",
		json_integer_value(json_object_get(json_object_get(doc, "pool"), "available")));
	ST_HELP("bulkhead_nfs_started_total", "counter", "NF instances registered since start.");
	fprintf(f, "bulkhead_nfs_started_total %lld\n",
		json_integer_value(json_object_get(json_object_get(doc, "manager"), "nf_started")));
#undef ST_HELP
	json_decref(doc);
	bool failed = ferror(f);
	if (fclose(f) || failed) { /* out of memory on the way: not half an answer */
		free(buf);
		return NULL;
	}
	return buf;
}

json_t *mgr_stats_json(struct mgr *m)
{
	pthread_mutex_lock(&m->stats_lock);
	json_t *doc = json_incref(m->stats_last);
	pthread_mutex_unlock(&m->stats_lock);
	return doc;
}

static json_t *st_get2(json_t *o, const char *a, const char *b)
{
	return json_object_get(json_object_get(o, a), b);
}

void mgr_stats_print(json_t *doc)
{
	json_t *o;
	size_t i;
	printf("--- bulkhead %.0fs  pool %lld/%lld free ---\n",
	       json_real_value(json_object_get(doc, "uptime_s")),
	       json_integer_value(st_get2(doc, "pool", "available")),
	       json_integer_value(st_get2(doc, "pool", "size")));
	printf("%-4s %-14s %12s %10s %12s %10s %10s\n", "port", "name", "rx_pkts", "rx_pps",
	       "tx_pkts", "tx_pps", "drops");
	json_array_foreach(json_object_get(doc, "ports"), i, o)
		printf("%-4zu %-14s %12lld %10.0f %12lld %10.0f %10lld\n", i,
		       json_string_value(json_object_get(o, "name")),
		       json_integer_value(json_object_get(o, "rx_pkts")),
		       json_real_value(json_object_get(o, "rx_pps")),
		       json_integer_value(json_object_get(o, "tx_pkts")),
		       json_real_value(json_object_get(o, "tx_pps")),
		       json_integer_value(json_object_get(o, "drops_total")));
	printf("%-4s %-14s %-12s %-8s %12s %10s %12s %10s %8s %9s\n", "nf", "name", "service",
	       "state", "rx_pkts", "rx_pps", "tx_pkts", "tx_pps", "drops", "ring");
	json_array_foreach(json_object_get(doc, "nfs"), i, o) {
		char ring[32];
		snprintf(ring, sizeof(ring), "%lld/%lld",
			 json_integer_value(st_get2(o, "ring", "rx_count")),
			 json_integer_value(st_get2(o, "ring", "rx_size")));
		printf("%-4lld %-14s %-12s %-8s %12lld %10.0f %12lld %10.0f %8lld %9s\n",
		       json_integer_value(json_object_get(o, "id")),
		       json_string_value(json_object_get(o, "name")),
		       json_string_value(json_object_get(o, "service")),
		       json_is_true(json_object_get(o, "sleeping"))
			       ? "asleep"
			       : json_string_value(json_object_get(o, "state")),
		       json_integer_value(json_object_get(o, "rx_pkts")),
		       json_real_value(json_object_get(o, "rx_pps")),
		       json_integer_value(json_object_get(o, "tx_pkts")),
		       json_real_value(json_object_get(o, "tx_pps")),
		       json_integer_value(json_object_get(o, "drops_total")), ring);
	}
	fflush(stdout);
}
