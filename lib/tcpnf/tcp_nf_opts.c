/* SPDX-License-Identifier: MIT */
/*
 * Stack options of a TCP NF. The ranges are checked here, not left to
 * bh_tcp_create(), so that a bad value is reported with the option's name.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulkhead/num.h"
#include "tcp_nf_opts.h"

const char tnf_opts_usage[] =
	"stack options:\n"
	"  --ip A.B.C.D/LEN        the stack's address and subnet (required)\n"
	"  --gw A.B.C.D            gateway for destinations off the subnet\n"
	"  --port NAME             platform port the stack lives on [the arrival port]\n"
	"  --chain NAME            send frames along this chain, not straight out\n"
	"  --mac XX:XX:XX:XX:XX:XX [02:00 + the address's four bytes]\n"
	"  --mtu N                 68..9216 [1500]\n"
	"  --max-conns N           1..1048576 [16384]\n"
	"  --sndbuf B, --rcvbuf B  per-socket buffers, 4k..256m [256k]\n"
	"  --sndbuf-max B, --rcvbuf-max B  auto-tuning grows them up to, 4k..256m [4m]\n"
	"  --max-mem B             cap on all socket buffers, 64k..64g [none]\n"
	"  --cc newreno|cubic      congestion control [cubic]\n"
	"  --no-sack --no-ts --no-ws --no-syncookies\n"
	"  --rto-min-ms N          1..60000      --delack-ms N    1..500\n"
	"  --msl-s N               1..600 (TIME-WAIT lasts 2 MSL)\n"
	"  --keepalive IDLE,INTVL,CNT  seconds, seconds, probes (SO_KEEPALIVE sockets)\n";

#define TNF_MAX_MTU 9216u

static int tnf_err(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int tnf_num(const char *s, uint64_t lo, uint64_t hi, bool sized, uint64_t *out)
{
	return bh_parse_num(s, lo, hi, sized, out);
}

static int tnf_ip(const char *s, uint32_t *ip)
{
	struct in_addr a;
	if (inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	*ip = ntohl(a.s_addr);
	return 0;
}

/* A host address: not 0/8, loopback, multicast or reserved. */
static bool tnf_unicast(uint32_t ip)
{
	return (ip >> 24) != 0 && (ip >> 24) != 127 && ip < 0xe0000000u;
}

static int tnf_parse_ip(const char *v, struct bh_tcp_conf *c)
{
	char buf[32];
	uint64_t len;
	const char *slash = strchr(v, '/');
	if (!slash || (size_t)(slash - v) >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, v, (size_t)(slash - v));
	buf[slash - v] = 0;
	if (tnf_ip(buf, &c->ip) < 0 || tnf_num(slash + 1, 1, 32, false, &len) < 0 || !tnf_unicast(c->ip))
		return -EINVAL;
	c->mask = ~0u << (32 - len);
	/* the subnet's own and broadcast addresses are not a host's (but /31, /32 have none) */
	if (len < 31 && ((c->ip & ~c->mask) == 0 || (c->ip | c->mask) == ~0u))
		return -EINVAL;
	return 0;
}

static int tnf_parse_mac(const char *v, uint8_t mac[6])
{
	unsigned b[6];
	char extra;
	if (sscanf(v, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &extra) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	if ((mac[0] & 1) || !(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]))
		return -EINVAL; /* multicast or zero */
	return 0;
}

static int tnf_parse_keepalive(const char *v, struct bh_tcp_conf *c)
{
	char buf[64], *save = NULL;
	uint64_t x[3];
	static const uint64_t hi[3] = {86400, 3600, 127};
	if (strlen(v) >= sizeof(buf))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", v);
	char *tok = strtok_r(buf, ",", &save);
	for (int i = 0; i < 3; i++, tok = strtok_r(NULL, ",", &save))
		if (!tok || tnf_num(tok, 1, hi[i], false, &x[i]) < 0)
			return -EINVAL;
	if (tok || strchr(v, ',') == v || strstr(v, ",,") || v[strlen(v) - 1] == ',')
		return -EINVAL;
	c->keep_idle_s = (uint32_t)x[0];
	c->keep_intvl_s = (uint32_t)x[1];
	c->keep_cnt = (uint32_t)x[2];
	return 0;
}

enum tnf_kind { TNF_FLAG, TNF_NUM, TNF_SIZE, TNF_OTHER };

struct tnf_opt {
	const char *name;
	enum tnf_kind kind;
	uint64_t lo, hi;
	const char *expect; /* for the error message (TNF_OTHER) */
};

static const struct tnf_opt tnf_table[] = {
	{"ip", TNF_OTHER, 0, 0, "A.B.C.D/LEN, a host address"},
	{"gw", TNF_OTHER, 0, 0, "A.B.C.D in the subnet of --ip"},
	{"port", TNF_OTHER, 0, 0, "a port name"},
	{"chain", TNF_OTHER, 0, 0, "a chain name"},
	{"mac", TNF_OTHER, 0, 0, "a unicast MAC XX:XX:XX:XX:XX:XX"},
	{"mtu", TNF_NUM, 68, TNF_MAX_MTU, NULL},
	{"max-conns", TNF_NUM, 1, 1u << 20, NULL},
	{"sndbuf", TNF_SIZE, 4096, 256u << 20, NULL},
	{"rcvbuf", TNF_SIZE, 4096, 256u << 20, NULL},
	{"sndbuf-max", TNF_SIZE, 4096, 256u << 20, NULL},
	{"rcvbuf-max", TNF_SIZE, 4096, 256u << 20, NULL},
	{"max-mem", TNF_SIZE, 64u << 10, 64ull << 30, NULL},
	{"cc", TNF_OTHER, 0, 0, "newreno or cubic"},
	{"no-sack", TNF_FLAG, 0, 0, NULL},
	{"no-ts", TNF_FLAG, 0, 0, NULL},
	{"no-ws", TNF_FLAG, 0, 0, NULL},
	{"no-syncookies", TNF_FLAG, 0, 0, NULL},
	{"rto-min-ms", TNF_NUM, 1, 60000, NULL},
	{"delack-ms", TNF_NUM, 1, 500, NULL},
	{"msl-s", TNF_NUM, 1, 600, NULL},
	{"keepalive", TNF_OTHER, 0, 0, "IDLE,INTVL,CNT: 1..86400 s, 1..3600 s, 1..127 probes"},
};

/* Store one option's value. 0 or -EINVAL. */
static int tnf_set(struct tnf_opts *o, const char *name, const char *v, uint64_t n, bool *have_ip,
		   bool *have_mac, uint32_t *gw)
{
	struct bh_tcp_conf *c = &o->conf;
	if (!strcmp(name, "ip")) {
		*have_ip = true;
		return tnf_parse_ip(v, c);
	}
	if (!strcmp(name, "gw"))
		return tnf_ip(v, gw) < 0 || !tnf_unicast(*gw) ? -EINVAL : 0;
	if (!strcmp(name, "port") || !strcmp(name, "chain")) {
		if (!v[0] || strlen(v) > 31)
			return -EINVAL;
		*(!strcmp(name, "port") ? &o->port : &o->chain) = v;
		return 0;
	}
	if (!strcmp(name, "mac")) {
		*have_mac = true;
		return tnf_parse_mac(v, c->mac);
	}
	if (!strcmp(name, "cc")) {
		if (strcmp(v, "newreno") && strcmp(v, "cubic"))
			return -EINVAL;
		c->cc = v;
		return 0;
	}
	if (!strcmp(name, "keepalive"))
		return tnf_parse_keepalive(v, c);
	if (!strcmp(name, "mtu")) c->mtu = (uint16_t)n;
	else if (!strcmp(name, "max-conns")) c->max_conns = (uint32_t)n;
	else if (!strcmp(name, "sndbuf")) c->sndbuf = (uint32_t)n;
	else if (!strcmp(name, "rcvbuf")) c->rcvbuf = (uint32_t)n;
	else if (!strcmp(name, "sndbuf-max")) c->sndbuf_max = (uint32_t)n;
	else if (!strcmp(name, "rcvbuf-max")) c->rcvbuf_max = (uint32_t)n;
	else if (!strcmp(name, "max-mem")) c->max_mem = (size_t)n;
	else if (!strcmp(name, "no-sack")) c->no_sack = true;
	else if (!strcmp(name, "no-ts")) c->no_ts = true;
	else if (!strcmp(name, "no-ws")) c->no_ws = true;
	else if (!strcmp(name, "no-syncookies")) c->no_syncookies = true;
	else if (!strcmp(name, "rto-min-ms")) c->rto_min_ms = (uint32_t)n;
	else if (!strcmp(name, "delack-ms")) c->delack_ms = (uint32_t)n;
	else if (!strcmp(name, "msl-s")) c->msl_s = (uint32_t)n;
	return 0;
}

static const struct tnf_opt *tnf_find(const char *arg, const char **inline_val, size_t *namelen)
{
	if (strncmp(arg, "--", 2) || !arg[2])
		return NULL;
	const char *name = arg + 2, *eq = strchr(name, '=');
	size_t n = eq ? (size_t)(eq - name) : strlen(name);
	for (size_t i = 0; i < sizeof(tnf_table) / sizeof(tnf_table[0]); i++)
		if (strlen(tnf_table[i].name) == n && !strncmp(tnf_table[i].name, name, n)) {
			*inline_val = eq ? eq + 1 : NULL;
			*namelen = n;
			return &tnf_table[i];
		}
	return NULL;
}

int tnf_opts_parse(int argc, char **argv, int first, struct tnf_opts *o, char *err, size_t errlen)
{
	bool have_ip = false, have_mac = false;
	uint32_t gw = 0;
	int rc = 0;

	memset(o, 0, sizeof(*o));
	o->app_argv = calloc((size_t)argc + 1, sizeof(char *));
	if (!o->app_argv)
		return -ENOMEM;
	o->app_argv[o->app_argc++] = argv[0];
	for (int i = first; i < argc; i++)
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return 1;
	for (int i = first; i < argc; i++) {
		const char *val = NULL;
		size_t nl;
		const struct tnf_opt *op = tnf_find(argv[i], &val, &nl);
		uint64_t n = 0;
		if (!op) {
			o->app_argv[o->app_argc++] = argv[i];
			continue;
		}
		if (op->kind == TNF_FLAG) {
			if (val) {
				rc = tnf_err(err, errlen, "--%s takes no value", op->name);
				goto fail;
			}
		} else if (!val) {
			if (i + 1 >= argc) {
				rc = tnf_err(err, errlen, "--%s needs a value", op->name);
				goto fail;
			}
			val = argv[++i];
		}
		if ((op->kind == TNF_NUM || op->kind == TNF_SIZE) &&
		    tnf_num(val, op->lo, op->hi, op->kind == TNF_SIZE, &n) < 0) {
			rc = tnf_err(err, errlen, "--%s: expected %llu..%llu%s, not '%s'", op->name,
				     (unsigned long long)op->lo, (unsigned long long)op->hi,
				     op->kind == TNF_SIZE ? " bytes (k, m, g suffixes)" : "", val);
			goto fail;
		}
		if (tnf_set(o, op->name, val ? val : "", n, &have_ip, &have_mac, &gw) < 0) {
			rc = tnf_err(err, errlen, "--%s: expected %s, not '%s'", op->name, op->expect, val);
			goto fail;
		}
	}
	if (!have_ip) {
		rc = tnf_err(err, errlen, "--ip A.B.C.D/LEN is required");
		goto fail;
	}
	if (gw) {
		if (gw == o->conf.ip || ((gw ^ o->conf.ip) & o->conf.mask)) {
			rc = tnf_err(err, errlen, "--gw: %u.%u.%u.%u is not another host in the subnet of --ip",
				     gw >> 24, (gw >> 16) & 255, (gw >> 8) & 255, gw & 255);
			goto fail;
		}
		o->conf.gw = gw;
	}
	if (!have_mac) { /* locally administered, unicast, one per address */
		uint32_t ip = o->conf.ip;
		uint8_t mac[6] = {0x02, 0x00, (uint8_t)(ip >> 24), (uint8_t)(ip >> 16), (uint8_t)(ip >> 8),
				  (uint8_t)ip};
		memcpy(o->conf.mac, mac, sizeof(mac));
	}
	return 0;
fail:
	tnf_opts_free(o);
	return rc;
}

void tnf_opts_free(struct tnf_opts *o)
{
	free(o->app_argv);
	o->app_argv = NULL;
	o->app_argc = 0;
}
