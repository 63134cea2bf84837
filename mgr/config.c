/* SPDX-License-Identifier: MIT */
/*
 * Every field is checked for type and range, unknown fields are rejected, and
 * the first problem is reported as "<path>: <reason>", so a user can find it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bulkhead/iso.h"
#include "bulkhead/net.h"
#include "mgr/config.h"

struct cfg_ctx {
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 2, 3))) static int cfg_fail(struct cfg_ctx *cx, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cx->err, cx->errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Reject members of obj not in the NULL-terminated list. */
static int cfg_known(struct cfg_ctx *cx, json_t *obj, const char *where, const char *const *keys)
{
	const char *k;
	json_t *v;
	json_object_foreach(obj, k, v) {
		int ok = 0;
		for (const char *const *p = keys; *p; p++)
			if (!strcmp(k, *p))
				ok = 1;
		if (!ok)
			return cfg_fail(cx, "%s%s%s: unknown field", where, *where ? "." : "", k);
	}
	return 0;
}

static int cfg_uint(struct cfg_ctx *cx, json_t *obj, const char *where, const char *key,
		    unsigned lo, unsigned hi, unsigned *out)
{
	json_t *v = json_object_get(obj, key);
	if (!v)
		return 0; /* keep the default */
	if (!json_is_integer(v))
		return cfg_fail(cx, "%s.%s: must be an integer", where, key);
	json_int_t x = json_integer_value(v);
	if (x < (json_int_t)lo || x > (json_int_t)hi)
		return cfg_fail(cx, "%s.%s: %lld is out of range [%u, %u]", where, key,
				(long long)x, lo, hi);
	*out = (unsigned)x;
	return 0;
}

int mgr_config_name_check(const char *s, char *err, size_t errlen)
{
	size_t n = strlen(s);
	if (n == 0 || n >= BH_NAME_LEN) {
		snprintf(err, errlen, "names are 1 to %d bytes", BH_NAME_LEN - 1);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-' || s[i] == '.')) {
			snprintf(err, errlen, "'%s' has a character outside [A-Za-z0-9_.-]", s);
			return -EINVAL;
		}
	/* A prefix names directories (/run/bulkhead/PREFIX): never . or .. */
	if (!strcmp(s, ".") || !strcmp(s, "..")) {
		snprintf(err, errlen, "'%s' is not a name", s);
		return -EINVAL;
	}
	return 0;
}

static int cfg_name(struct cfg_ctx *cx, json_t *v, const char *where, char out[BH_NAME_LEN])
{
	char why[80];
	if (!json_is_string(v))
		return cfg_fail(cx, "%s: must be a string", where);
	const char *s = json_string_value(v);
	if (mgr_config_name_check(s, why, sizeof(why)) < 0)
		return cfg_fail(cx, "%s: %s", where, why);
	memcpy(out, s, strlen(s) + 1);
	return 0;
}

static int cfg_find(char (*names)[BH_NAME_LEN], size_t stride, unsigned n, const char *name)
{
	const char *base = (const char *)names;
	for (unsigned i = 0; i < n; i++)
		if (!strcmp(base + i * stride, name))
			return (int)i;
	return -1;
}
#define CFG_FIND(arr, n, name) cfg_find((void *)(arr), sizeof(*(arr)), (n), (name))

static int cfg_section(struct cfg_ctx *cx, json_t *root, const char *key, json_t **out,
		       const char *const *keys)
{
	json_t *v = json_object_get(root, key);
	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_object(v))
		return cfg_fail(cx, "%s: must be an object", key);
	*out = v;
	return cfg_known(cx, v, key, keys);
}

static int cfg_sizes(struct cfg_ctx *cx, json_t *root, struct mgr_config *c)
{
	static const char *const pool_keys[] = {"mbufs", "cache", "data_room", NULL};
	static const char *const ring_keys[] = {"nf_rx", "nf_tx", "burst", "port_rx", "port_tx", NULL};
	static const char *const lim_keys[] = {"nfs", "services", "chains", "hops", "flows", NULL};
	static const char *const stat_keys[] = {"interval_ms", "print", "file", NULL};
	json_t *s;
	int rc;

	if ((rc = cfg_section(cx, root, "pool", &s, pool_keys)))
		return rc;
	if (s && ((rc = cfg_uint(cx, s, "pool", "mbufs", 1023, 1u << 24, &c->mbufs)) ||
		  (rc = cfg_uint(cx, s, "pool", "cache", 0, 512, &c->mbuf_cache)) ||
		  (rc = cfg_uint(cx, s, "pool", "data_room", 1152, 65535, &c->data_room))))
		return rc;
	/* Every process of the platform is lcore 0 (nflib, the manager): a per-lcore
	 * cache would be one cache written by several processes without a lock. */
	if (c->mbuf_cache)
		return cfg_fail(cx, "pool.cache: %u: only 0 works: the manager and every NF run as lcore 0, "
				    "and a per-lcore cache shared by processes would lose packet buffers",
				c->mbuf_cache);
	if ((rc = cfg_section(cx, root, "rings", &s, ring_keys)))
		return rc;
	if (s && ((rc = cfg_uint(cx, s, "rings", "nf_rx", 64, 1u << 20, &c->nf_rx_ring)) ||
		  (rc = cfg_uint(cx, s, "rings", "nf_tx", 64, 1u << 20, &c->nf_tx_ring)) ||
		  (rc = cfg_uint(cx, s, "rings", "burst", 1, 512, &c->burst)) ||
		  (rc = cfg_uint(cx, s, "rings", "port_rx", 64, 16384, &c->port_rx_desc)) ||
		  (rc = cfg_uint(cx, s, "rings", "port_tx", 64, 16384, &c->port_tx_desc))))
		return rc;
	if ((rc = cfg_section(cx, root, "limits", &s, lim_keys)))
		return rc;
	if (s && ((rc = cfg_uint(cx, s, "limits", "nfs", 1, 65534, &c->max_nfs)) ||
		  (rc = cfg_uint(cx, s, "limits", "services", 1, 65534, &c->max_services)) ||
		  (rc = cfg_uint(cx, s, "limits", "chains", 1, 65534, &c->max_chains)) ||
		  (rc = cfg_uint(cx, s, "limits", "hops", 1, 1u << 20, &c->max_hops)) ||
		  (rc = cfg_uint(cx, s, "limits", "flows", 1, 1u << 24, &c->max_flows))))
		return rc;
	if (c->burst > c->nf_rx_ring || c->burst > c->nf_tx_ring)
		return cfg_fail(cx, "rings.burst: %u is larger than an NF ring", c->burst);
	if ((rc = cfg_section(cx, root, "stats", &s, stat_keys)))
		return rc;
	if (s) {
		if ((rc = cfg_uint(cx, s, "stats", "interval_ms", 10, 3600000, &c->stats_interval_ms)))
			return rc;
		json_t *p = json_object_get(s, "print");
		if (p && !json_is_boolean(p))
			return cfg_fail(cx, "stats.print: must be true or false");
		if (p)
			c->stats_print = json_is_true(p);
		json_t *f = json_object_get(s, "file");
		if (f && !json_is_string(f))
			return cfg_fail(cx, "stats.file: must be a string");
		if (f && !(c->stats_file = strdup(json_string_value(f))))
			return -ENOMEM;
	}
	return 0;
}

static int cfg_ports(struct cfg_ctx *cx, json_t *root, struct mgr_config *c)
{
	static const char *const keys[] = {"name", "dev", "netns", NULL};
	json_t *a = json_object_get(root, "ports"), *p;
	size_t i;
	char where[64];
	int rc;

	if (!a)
		return 0;
	if (!json_is_array(a))
		return cfg_fail(cx, "ports: must be an array");
	if (json_array_size(a) > 255)
		return cfg_fail(cx, "ports: at most 255 ports");
	c->ports = calloc(json_array_size(a) + 1, sizeof(*c->ports));
	if (!c->ports)
		return -ENOMEM;
	json_array_foreach(a, i, p) {
		struct mgr_port_conf *pc = &c->ports[i];
		snprintf(where, sizeof(where), "ports[%zu]", i);
		if (!json_is_object(p))
			return cfg_fail(cx, "%s: must be an object", where);
		if ((rc = cfg_known(cx, p, where, keys)))
			return rc;
		snprintf(where, sizeof(where), "ports[%zu].name", i);
		if ((rc = cfg_name(cx, json_object_get(p, "name"), where, pc->name)))
			return rc;
		if (CFG_FIND(c->ports, (unsigned)i, pc->name) >= 0)
			return cfg_fail(cx, "%s: duplicate port name '%s'", where, pc->name);
		json_t *d = json_object_get(p, "dev");
		if (!json_is_string(d) || !json_string_value(d)[0])
			return cfg_fail(cx, "ports[%zu].dev: must be a DPDK device spec such as "
					    "\"net_af_packet0,iface=eth0\"", i);
		const char *dev = json_string_value(d);
		static const char *const ok[] = {"net_af_packet", "net_af_xdp", "net_tap",
						 "net_memif", "net_ring", "net_null"};
		int good = 0;
		for (unsigned k = 0; k < sizeof(ok) / sizeof(ok[0]); k++)
			if (!strncmp(dev, ok[k], strlen(ok[k])))
				good = 1;
		if (!good)
			return cfg_fail(cx, "ports[%zu].dev: '%s' is not a virtual device "
					    "(net_af_packet, net_af_xdp, net_tap, net_memif)", i, dev);
		if (!(pc->dev = strdup(dev)))
			return -ENOMEM;
		json_t *ns = json_object_get(p, "netns");
		if (ns) {
			char nsname[BH_NAME_LEN];
			snprintf(where, sizeof(where), "ports[%zu].netns", i);
			int rc2 = cfg_name(cx, ns, where, nsname);
			if (rc2) {
				free(pc->dev);
				pc->dev = NULL;
				return rc2;
			}
			if (!(pc->netns = strdup(nsname)))
				return -ENOMEM;
		}
		c->n_ports++;
	}
	return 0;
}

static int cfg_str_field(struct cfg_ctx *cx, json_t *r, const char *where, const char *key,
			 const char **out);

static int cfg_service_id(struct mgr_config *c, const char *name)
{
	int id = CFG_FIND(c->services, c->n_services, name);
	if (id >= 0)
		return id;
	if (c->n_services >= c->max_services)
		return -ENOSPC;
	snprintf(c->services[c->n_services].name, BH_NAME_LEN, "%s", name);
	return (int)c->n_services++;
}

/* An array of CPU numbers, each online-checkable later; here only the range. */
static int cfg_cores(struct cfg_ctx *cx, json_t *a, const char *where, int **out, unsigned *n)
{
	json_t *v;
	size_t i;
	if (!json_is_array(a) || json_array_size(a) == 0)
		return cfg_fail(cx, "%s: must be a non-empty array of CPU numbers", where);
	*out = calloc(json_array_size(a), sizeof(int));
	if (!*out)
		return -ENOMEM;
	json_array_foreach(a, i, v) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= 1024)
			return cfg_fail(cx, "%s[%zu]: must be a CPU number (0-1023)", where, i);
		(*out)[i] = (int)json_integer_value(v);
	}
	*n = (unsigned)json_array_size(a);
	return 0;
}

static int cfg_scale(struct cfg_ctx *cx, json_t *o, const char *where, struct mgr_scale_conf *sc)
{
	static const char *const keys[] = {"min", "max", "out_occupancy_pct", "out_after_ms",
					   "in_idle_ms", NULL};
	int rc;
	if (!json_is_object(o))
		return cfg_fail(cx, "%s: must be an object", where);
	if ((rc = cfg_known(cx, o, where, keys)))
		return rc;
	sc->on = true;
	sc->min = 1;
	sc->max = 4;
	sc->out_occupancy_pct = 50;
	sc->out_after_ms = 1000;
	sc->in_idle_ms = 10000;
	if ((rc = cfg_uint(cx, o, where, "min", 1, 65534, &sc->min)) ||
	    (rc = cfg_uint(cx, o, where, "max", 1, 65534, &sc->max)) ||
	    (rc = cfg_uint(cx, o, where, "out_occupancy_pct", 1, 100, &sc->out_occupancy_pct)) ||
	    (rc = cfg_uint(cx, o, where, "out_after_ms", 0, 3600000, &sc->out_after_ms)) ||
	    (rc = cfg_uint(cx, o, where, "in_idle_ms", 100, 86400000, &sc->in_idle_ms)))
		return rc;
	if (sc->min > sc->max)
		return cfg_fail(cx, "%s: min (%u) is larger than max (%u)", where, sc->min, sc->max);
	return 0;
}

/*
 * services[].isolation: each value checked by the NF's own rules
 * (iso_policy_set), the whole by iso_policy_check, and kept as the file the
 * service's NFs read: one "OPTION VALUE" line per field given, in the
 * order of iso_policy_keys, so that what an NF applies is what was checked.
 */
static int cfg_isolation(struct cfg_ctx *cx, json_t *o, const char *where,
			 struct mgr_service_conf *sc)
{
	struct iso_service_policy pol;
	char err[400], val[64], *text = NULL;
	size_t len = 0;
	int rc;

	if (!json_is_object(o))
		return cfg_fail(cx, "%s: must be an object", where);
	if ((rc = cfg_known(cx, o, where, iso_policy_keys)))
		return rc;
	if (!json_object_get(o, "unit"))
		return cfg_fail(cx, "%s: unit is required (connection, client or pool:N)", where);
	iso_policy_init(&pol);
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return -ENOMEM;
	for (const char *const *k = iso_policy_keys; *k; k++) {
		json_t *v = json_object_get(o, *k);
		const char *s = val;
		if (!v)
			continue;
		if (json_is_string(v))
			s = json_string_value(v);
		else if (json_is_integer(v) && json_integer_value(v) >= 0)
			snprintf(val, sizeof(val), "%lld", (long long)json_integer_value(v));
		else
			rc = cfg_fail(cx, "%s.%s: must be a string or a non-negative integer", where, *k);
		if (!rc && iso_policy_set(&pol, iso_policy_option(*k), s, err, sizeof(err)) < 0) {
			const char *why = strstr(err, ": "); /* after "--OPTION" */
			rc = cfg_fail(cx, "%s.%s: %s", where, *k, why ? why + 2 : err);
		}
		if (rc)
			break;
		fprintf(f, "%s %s\n", iso_policy_option(*k), s);
	}
	/* glibc's fclose() says 0 when its last realloc() failed, leaving text NULL */
	bool lost = ferror(f);
	if ((fclose(f) != 0 || lost || !text) && !rc)
		rc = -ENOMEM;
	if (!rc && iso_policy_check(&pol, err, sizeof(err)) < 0)
		rc = cfg_fail(cx, "%s: %s", where, err);
	if (!rc && pol.unit == ISO_UNIT_NONE)
		rc = cfg_fail(cx, "%s.unit: none is the shared design: leave isolation out", where);
	if (rc) {
		free(text);
		return rc;
	}
	sc->iso_text = text;
	sc->iso_json = json_incref(o);
	return 0;
}

static int cfg_services(struct cfg_ctx *cx, json_t *root, struct mgr_config *c)
{
	static const char *const keys[] = {"name", "mode", "cores", "scale", "isolation", NULL};
	json_t *a = json_object_get(root, "services"), *v;
	size_t i;
	char where[64], name[BH_NAME_LEN];
	int rc;

	c->services = calloc(c->max_services, sizeof(*c->services));
	if (!c->services)
		return -ENOMEM;
	if (!a)
		return 0;
	if (!json_is_array(a))
		return cfg_fail(cx, "services: must be an array of names or objects");
	json_array_foreach(a, i, v) {
		json_t *nm = v;
		snprintf(where, sizeof(where), "services[%zu]", i);
		if (json_is_object(v)) {
			if ((rc = cfg_known(cx, v, where, keys)))
				return rc;
			nm = json_object_get(v, "name");
			snprintf(where, sizeof(where), "services[%zu].name", i);
		}
		if ((rc = cfg_name(cx, nm, where, name)))
			return rc;
		if (CFG_FIND(c->services, c->n_services, name) >= 0)
			return cfg_fail(cx, "%s: duplicate service '%s'", where, name);
		int id = cfg_service_id(c, name);
		if (id < 0)
			return cfg_fail(cx, "%s: more services than limits.services (%u)", where,
					c->max_services);
		if (!json_is_object(v))
			continue;
		struct mgr_service_conf *sc = &c->services[id];
		json_t *mode = json_object_get(v, "mode");
		if (mode) {
			const char *m = json_is_string(mode) ? json_string_value(mode) : "";
			if (strcmp(m, "shared") && strcmp(m, "poll"))
				return cfg_fail(cx, "services[%zu].mode: must be \"shared\" or \"poll\"", i);
			sc->poll = !strcmp(m, "poll");
		}
		json_t *cores = json_object_get(v, "cores");
		snprintf(where, sizeof(where), "services[%zu].cores", i);
		if (cores && (rc = cfg_cores(cx, cores, where, &sc->cores, &sc->n_cores)))
			return rc;
		json_t *scale = json_object_get(v, "scale");
		snprintf(where, sizeof(where), "services[%zu].scale", i);
		if (scale && (rc = cfg_scale(cx, scale, where, &sc->scale)))
			return rc;
		json_t *iso = json_object_get(v, "isolation");
		snprintf(where, sizeof(where), "services[%zu].isolation", i);
		if (iso && (rc = cfg_isolation(cx, iso, where, sc)))
			return rc;
	}
	return 0;
}

static int cfg_api(struct cfg_ctx *cx, json_t *root, struct mgr_config *c)
{
	static const char *const keys[] = {"bind", "port", "token", "token_file", NULL};
	json_t *s;
	int rc;
	if ((rc = cfg_section(cx, root, "api", &s, keys)))
		return rc;
	const char *bind = "127.0.0.1", *token = NULL, *token_file = NULL;
	if (s) {
		if ((rc = cfg_uint(cx, s, "api", "port", 0, 65535, &c->api_port)) ||
		    (rc = cfg_str_field(cx, s, "api", "bind", &bind)) ||
		    (rc = cfg_str_field(cx, s, "api", "token", &token)) ||
		    (rc = cfg_str_field(cx, s, "api", "token_file", &token_file)))
			return rc;
		if (!bind)
			bind = "127.0.0.1";
		uint32_t a;
		uint8_t l;
		if (bh_parse_prefix(bind, &a, &l) || l != 32)
			return cfg_fail(cx, "api.bind: '%s' is not an IPv4 address", bind);
		if (token && strlen(token) < 16)
			return cfg_fail(cx, "api.token: at least 16 characters");
	}
	if (!(c->api_bind = strdup(bind)) || (token && !(c->api_token = strdup(token))) ||
	    (token_file && !(c->api_token_file = strdup(token_file))))
		return -ENOMEM;
	return 0;
}

static int cfg_chains(struct cfg_ctx *cx, json_t *root, struct mgr_config *c)
{
	static const char *const keys[] = {"name", "hops", "out", NULL};
	json_t *a = json_object_get(root, "chains"), *ch, *h;
	size_t i, j;
	unsigned total = 0;
	char where[80], name[BH_NAME_LEN];
	int rc;

	if (!a)
		return 0;
	if (!json_is_array(a))
		return cfg_fail(cx, "chains: must be an array");
	if (json_array_size(a) > c->max_chains)
		return cfg_fail(cx, "chains: %zu chains but limits.chains is %u", json_array_size(a),
				c->max_chains);
	c->chains = calloc(json_array_size(a) + 1, sizeof(*c->chains));
	if (!c->chains)
		return -ENOMEM;
	json_array_foreach(a, i, ch) {
		struct mgr_chain_conf *cc = &c->chains[i];
		snprintf(where, sizeof(where), "chains[%zu]", i);
		if (!json_is_object(ch))
			return cfg_fail(cx, "%s: must be an object", where);
		if ((rc = cfg_known(cx, ch, where, keys)))
			return rc;
		snprintf(where, sizeof(where), "chains[%zu].name", i);
		if ((rc = cfg_name(cx, json_object_get(ch, "name"), where, cc->name)))
			return rc;
		if (CFG_FIND(c->chains, (unsigned)i, cc->name) >= 0)
			return cfg_fail(cx, "%s: duplicate chain name '%s'", where, cc->name);
		json_t *hops = json_object_get(ch, "hops");
		if (!json_is_array(hops))
			return cfg_fail(cx, "chains[%zu].hops: must be an array of service names", i);
		cc->n_hops = (unsigned)json_array_size(hops);
		cc->hops = calloc(cc->n_hops + 1, sizeof(*cc->hops));
		if (!cc->hops)
			return -ENOMEM;
		json_array_foreach(hops, j, h) {
			snprintf(where, sizeof(where), "chains[%zu].hops[%zu]", i, j);
			if ((rc = cfg_name(cx, h, where, name)))
				return rc;
			int id = cfg_service_id(c, name);
			if (id < 0)
				return cfg_fail(cx, "%s: more services than limits.services (%u)",
						where, c->max_services);
			cc->hops[j] = (uint16_t)id;
		}
		total += cc->n_hops;
		cc->out_port = BH_NONE;
		json_t *out = json_object_get(ch, "out");
		if (out && !json_is_null(out)) {
			if (!json_is_string(out))
				return cfg_fail(cx, "chains[%zu].out: must be a port name or null", i);
			int p = CFG_FIND(c->ports, c->n_ports, json_string_value(out));
			if (p < 0)
				return cfg_fail(cx, "chains[%zu].out: no port named '%s'", i,
						json_string_value(out));
			cc->out_port = (uint16_t)p;
		}
		if (cc->n_hops == 0 && cc->out_port == BH_NONE)
			return cfg_fail(cx, "chains[%zu]: a chain needs hops or an output port", i);
		c->n_chains++;
	}
	if (total > c->max_hops)
		return cfg_fail(cx, "chains: %u hops in all but limits.hops is %u", total, c->max_hops);
	return 0;
}

static int cfg_str_field(struct cfg_ctx *cx, json_t *r, const char *where, const char *key,
			 const char **out)
{
	json_t *v = json_object_get(r, key);
	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_string(v))
		return cfg_fail(cx, "%s.%s: must be a string", where, key);
	*out = json_string_value(v);
	return 0;
}

int mgr_rule_parse(json_t *r, const char *where, mgr_name_lookup port, mgr_name_lookup chain,
		   void *ctx, struct mgr_rule_conf *out, char *err, size_t errlen)
{
	static const char *const keys[] = {"in_port", "src", "dst", "proto", "sport", "dport",
					   "chain", NULL};
	struct cfg_ctx cx_ = {err, errlen}, *cx = &cx_;
	const char *in_port, *src, *dst, *proto, *sport, *dport, *ch;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(r))
		return cfg_fail(cx, "%s: must be an object", where);
	if ((rc = cfg_known(cx, r, where, keys)) ||
	    (rc = cfg_str_field(cx, r, where, "in_port", &in_port)) ||
	    (rc = cfg_str_field(cx, r, where, "src", &src)) ||
	    (rc = cfg_str_field(cx, r, where, "dst", &dst)) ||
	    (rc = cfg_str_field(cx, r, where, "proto", &proto)) ||
	    (rc = cfg_str_field(cx, r, where, "sport", &sport)) ||
	    (rc = cfg_str_field(cx, r, where, "dport", &dport)) ||
	    (rc = cfg_str_field(cx, r, where, "chain", &ch)))
		return rc;
	out->in_port = BH_NONE;
	if (in_port && strcmp(in_port, "any")) {
		int p = port(ctx, in_port);
		if (p < 0)
			return cfg_fail(cx, "%s.in_port: no port named '%s'", where, in_port);
		out->in_port = (uint16_t)p;
	}
	if (bh_parse_prefix(src ? src : "any", &out->src, &out->src_len))
		return cfg_fail(cx, "%s.src: '%s' is not an IPv4 prefix", where, src);
	if (bh_parse_prefix(dst ? dst : "any", &out->dst, &out->dst_len))
		return cfg_fail(cx, "%s.dst: '%s' is not an IPv4 prefix", where, dst);
	if (bh_parse_proto(proto ? proto : "any", &out->proto))
		return cfg_fail(cx, "%s.proto: '%s' is not tcp, udp, icmp, any or 0-255", where, proto);
	if (bh_parse_port_range(sport ? sport : "any", &out->sport_lo, &out->sport_hi))
		return cfg_fail(cx, "%s.sport: '%s' is not a port or range", where, sport);
	if (bh_parse_port_range(dport ? dport : "any", &out->dport_lo, &out->dport_hi))
		return cfg_fail(cx, "%s.dport: '%s' is not a port or range", where, dport);
	if ((sport || dport) && out->proto != 6 && out->proto != 17)
		return cfg_fail(cx, "%s: ports need proto tcp or udp", where);
	if (!ch)
		return cfg_fail(cx, "%s.chain: missing", where);
	int id = chain(ctx, ch);
	if (id < 0)
		return cfg_fail(cx, "%s.chain: no chain named '%s'", where, ch);
	out->chain = (uint16_t)id;
	return 0;
}

static int cfg_port_lookup(void *ctx, const char *name)
{
	struct mgr_config *c = ctx;
	return CFG_FIND(c->ports, c->n_ports, name);
}

static int cfg_chain_lookup(void *ctx, const char *name)
{
	struct mgr_config *c = ctx;
	return CFG_FIND(c->chains, c->n_chains, name);
}

static int cfg_rules(struct cfg_ctx *cx, json_t *root, struct mgr_config *c)
{
	json_t *a = json_object_get(root, "rules"), *r;
	size_t i;
	char where[64];
	int rc;

	if (!a)
		return 0;
	if (!json_is_array(a))
		return cfg_fail(cx, "rules: must be an array");
	c->rules = calloc(json_array_size(a) + 1, sizeof(*c->rules));
	if (!c->rules)
		return -ENOMEM;
	json_array_foreach(a, i, r) {
		snprintf(where, sizeof(where), "rules[%zu]", i);
		if ((rc = mgr_rule_parse(r, where, cfg_port_lookup, cfg_chain_lookup, c, &c->rules[i],
					 cx->err, cx->errlen)))
			return rc;
		c->n_rules++;
	}
	return 0;
}

static void cfg_defaults(struct mgr_config *c)
{
	memset(c, 0, sizeof(*c));
	c->mbufs = 16383;
	c->mbuf_cache = 0;
	c->data_room = 2048 + 128;
	c->nf_rx_ring = 4096;
	c->nf_tx_ring = 4096;
	c->burst = 32;
	c->port_rx_desc = 1024;
	c->port_tx_desc = 1024;
	c->max_nfs = 64;
	c->max_services = 64;
	c->max_chains = 64;
	c->max_hops = 1024;
	c->max_flows = 65536;
	c->default_chain = BH_NONE;
	c->stats_interval_ms = 1000;
	c->api_port = 8470;
	c->stats_print = true;
}

static int cfg_from_json(struct cfg_ctx *cx, json_t *root, struct mgr_config *c)
{
	static const char *const keys[] = {"prefix", "pool", "rings", "limits", "ports",
					   "services", "chains", "rules", "default_chain",
					   "stats", "nf_cores", "api", NULL};
	int rc;

	if (!json_is_object(root))
		return cfg_fail(cx, "(top level): must be a JSON object");
	if ((rc = cfg_known(cx, root, "", keys)))
		return rc;
	json_t *p = json_object_get(root, "prefix");
	char name[BH_NAME_LEN];
	if (p && (rc = cfg_name(cx, p, "prefix", name)))
		return rc;
	if (!(c->prefix = strdup(p ? name : "bulkhead")))
		return -ENOMEM;
	if ((rc = cfg_sizes(cx, root, c)) || (rc = cfg_ports(cx, root, c)) ||
	    (rc = cfg_services(cx, root, c)) || (rc = cfg_chains(cx, root, c)) ||
	    (rc = cfg_rules(cx, root, c)) || (rc = cfg_api(cx, root, c)))
		return rc;
	json_t *nc = json_object_get(root, "nf_cores");
	if (nc && (rc = cfg_cores(cx, nc, "nf_cores", &c->nf_cores, &c->n_nf_cores)))
		return rc;
	if (c->n_ports == 0)
		return cfg_fail(cx, "ports: at least one port is needed");
	json_t *d = json_object_get(root, "default_chain");
	if (d && !json_is_null(d)) {
		if (!json_is_string(d))
			return cfg_fail(cx, "default_chain: must be a chain name or null");
		int ch = CFG_FIND(c->chains, c->n_chains, json_string_value(d));
		if (ch < 0)
			return cfg_fail(cx, "default_chain: no chain named '%s'", json_string_value(d));
		c->default_chain = (uint16_t)ch;
	}
	return 0;
}

static int cfg_finish(struct cfg_ctx *cx, json_t *root, json_error_t *jerr, struct mgr_config *cfg)
{
	int rc;
	cfg_defaults(cfg);
	if (!root) {
		if (json_error_code(jerr) == json_error_cannot_open_file)
			cfg_fail(cx, "%s", jerr->text);
		else
			cfg_fail(cx, "line %d, column %d: %s", jerr->line, jerr->column, jerr->text);
		return json_error_code(jerr) == json_error_cannot_open_file ? -ENOENT : -EINVAL;
	}
	rc = cfg_from_json(cx, root, cfg);
	json_decref(root);
	if (rc) {
		if (rc == -ENOMEM)
			cfg_fail(cx, "out of memory");
		mgr_config_free(cfg);
	}
	return rc;
}

int mgr_config_parse(const char *json, struct mgr_config *cfg, char *err, size_t errlen)
{
	struct cfg_ctx cx = {err, errlen};
	json_error_t jerr;
	json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
	return cfg_finish(&cx, root, &jerr, cfg);
}

int mgr_config_load(const char *path, struct mgr_config *cfg, char *err, size_t errlen)
{
	struct cfg_ctx cx = {err, errlen};
	json_error_t jerr;
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	return cfg_finish(&cx, root, &jerr, cfg);
}

void mgr_config_free(struct mgr_config *c)
{
	if (c->ports)
		for (unsigned i = 0; i < c->n_ports; i++) {
			free(c->ports[i].dev);
			free(c->ports[i].netns);
		}
	if (c->chains)
		for (unsigned i = 0; c->chains[i].hops || i < c->n_chains; i++)
			free(c->chains[i].hops);
	free(c->ports);
	for (unsigned i = 0; c->services && i < c->max_services; i++) {
		free(c->services[i].cores);
		free(c->services[i].iso_text);
		json_decref(c->services[i].iso_json);
	}
	free(c->services);
	free(c->nf_cores);
	free(c->api_bind);
	free(c->api_token);
	free(c->api_token_file);
	free(c->chains);
	free(c->rules);
	free(c->prefix);
	free(c->stats_file);
	memset(c, 0, sizeof(*c));
}
