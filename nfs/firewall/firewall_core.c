/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "bulkhead/net.h"
#include "firewall_core.h"

#define FW_WS " \t\r\n"

enum { FW_F_PROTO, FW_F_SRC, FW_F_SPORT, FW_F_DST, FW_F_DPORT, FW_F_MAX };
/* In the order counter names list them. */
static const char *const fw_fields[FW_F_MAX] = {"proto", "src", "sport", "dst", "dport"};

void fw_rules_init(struct fw_rules *r)
{
	memset(r, 0, sizeof(*r));
	r->default_allow = true;
	r->nonip_allow = true;
}

void fw_rules_free(struct fw_rules *r)
{
	free(r->rule);
	fw_rules_init(r);
}

__attribute__((format(printf, 3, 4)))
static int fw_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Appends " s" (or "s" at the start), silently truncating at FW_NAME_LEN - 1. */
static void fw_name_add(char *name, const char *s)
{
	size_t used = strlen(name);
	if (used + 1 < FW_NAME_LEN)
		snprintf(name + used, FW_NAME_LEN - used, "%s%s", used ? " " : "", s);
}

static int fw_push(struct fw_rules *r, const struct fw_rule *nr)
{
	if (r->n == r->cap) {
		unsigned cap = r->cap ? r->cap * 2 : 16;
		struct fw_rule *p = realloc(r->rule, (size_t)cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		r->rule = p;
		r->cap = cap;
	}
	r->rule[r->n++] = *nr;
	return 0;
}

static int fw_parse_rule(struct fw_rules *r, bool allow, char **save, char *err, size_t errlen)
{
	struct fw_rule nr = {.allow = allow, .sport_hi = 65535, .dport_hi = 65535};
	const char *val[FW_F_MAX] = {NULL};
	char *tok;

	while ((tok = strtok_r(NULL, FW_WS, save))) {
		unsigned f = 0;
		while (f < FW_F_MAX && strcmp(tok, fw_fields[f]))
			f++;
		if (f == FW_F_MAX)
			return fw_fail(err, errlen, "unknown field '%s' "
				       "(expected proto, src, dst, sport or dport)", tok);
		if (val[f])
			return fw_fail(err, errlen, "duplicate field '%s'", tok);
		if (!(val[f] = strtok_r(NULL, FW_WS, save)))
			return fw_fail(err, errlen, "'%s' needs a value", tok);
	}
	if (val[FW_F_PROTO] && bh_parse_proto(val[FW_F_PROTO], &nr.proto))
		return fw_fail(err, errlen, "bad proto '%s' (expected tcp, udp, icmp, any or 0..255)",
			       val[FW_F_PROTO]);
	if (val[FW_F_SRC] && bh_parse_prefix(val[FW_F_SRC], &nr.src, &nr.src_len))
		return fw_fail(err, errlen, "bad src prefix '%s'", val[FW_F_SRC]);
	if (val[FW_F_DST] && bh_parse_prefix(val[FW_F_DST], &nr.dst, &nr.dst_len))
		return fw_fail(err, errlen, "bad dst prefix '%s'", val[FW_F_DST]);
	if (val[FW_F_SPORT] && bh_parse_port_range(val[FW_F_SPORT], &nr.sport_lo, &nr.sport_hi))
		return fw_fail(err, errlen, "bad sport range '%s'", val[FW_F_SPORT]);
	if (val[FW_F_DPORT] && bh_parse_port_range(val[FW_F_DPORT], &nr.dport_lo, &nr.dport_hi))
		return fw_fail(err, errlen, "bad dport range '%s'", val[FW_F_DPORT]);
	/* Only TCP and UDP have ports: a port test on anything else could only
	 * ever see 0, which is surely not what the rule's author meant. */
	if (nr.proto != 6 && nr.proto != 17) {
		if (nr.sport_lo != 0 || nr.sport_hi != 65535)
			return fw_fail(err, errlen, "sport needs proto tcp or udp");
		if (nr.dport_lo != 0 || nr.dport_hi != 65535)
			return fw_fail(err, errlen, "dport needs proto tcp or udp");
	}

	char num[16];
	snprintf(nr.name, sizeof(nr.name), "rule%u %s", r->n + 1, allow ? "allow" : "deny");
	for (unsigned f = 0; f < FW_F_MAX; f++) {
		if (f == FW_F_PROTO) {
			if (nr.proto == 0)
				continue;
			snprintf(num, sizeof(num), "%u", nr.proto);
			fw_name_add(nr.name, nr.proto == 6 ? "tcp" : nr.proto == 17 ? "udp" :
					     nr.proto == 1 ? "icmp" : num);
		} else if (val[f]) {
			fw_name_add(nr.name, fw_fields[f]);
			fw_name_add(nr.name, val[f]);
		}
	}
	return fw_push(r, &nr);
}

static int fw_parse_policy(struct fw_rules *r, const char *kw, char **save, unsigned lineno,
			   char *err, size_t errlen)
{
	bool nonip = !strcmp(kw, "nonip");
	unsigned *line = nonip ? &r->nonip_line : &r->default_line;
	const char *v = strtok_r(NULL, FW_WS, save), *extra;

	if (!v)
		return fw_fail(err, errlen, "'%s' needs allow or deny", kw);
	if (strcmp(v, "allow") && strcmp(v, "deny"))
		return fw_fail(err, errlen, "'%s' takes allow or deny, not '%s'", kw, v);
	if ((extra = strtok_r(NULL, FW_WS, save)))
		return fw_fail(err, errlen, "unexpected '%s' after '%s' policy", extra, kw);
	if (*line)
		return fw_fail(err, errlen, "duplicate '%s' line (first on line %u)", kw, *line);
	*line = lineno;
	if (nonip)
		r->nonip_allow = v[0] == 'a';
	else
		r->default_allow = v[0] == 'a';
	return 0;
}

int fw_rules_parse_line(struct fw_rules *r, const char *line, unsigned lineno, char *err,
			size_t errlen)
{
	char *buf = strdup(line), *save = NULL, *tok, *hash;
	int rc = 0;

	if (!buf)
		return -ENOMEM;
	if ((hash = strchr(buf, '#')))
		*hash = 0;
	tok = strtok_r(buf, FW_WS, &save);
	if (!tok)
		; /* blank or comment */
	else if (!strcmp(tok, "allow") || !strcmp(tok, "deny"))
		rc = fw_parse_rule(r, tok[0] == 'a', &save, err, errlen);
	else if (!strcmp(tok, "default") || !strcmp(tok, "nonip"))
		rc = fw_parse_policy(r, tok, &save, lineno, err, errlen);
	else
		rc = fw_fail(err, errlen, "unknown action '%s' "
			     "(expected allow, deny, default or nonip)", tok);
	free(buf);
	return rc;
}

int fw_rules_read(struct fw_rules *r, FILE *f, const char *name, char *err, size_t errlen)
{
	char *line = NULL, why[256];
	size_t cap = 0;
	unsigned lineno = 0;
	int rc = 0;

	while (getline(&line, &cap, f) >= 0) {
		lineno++;
		rc = fw_rules_parse_line(r, line, lineno, why, sizeof(why));
		if (rc == -ENOMEM)
			snprintf(why, sizeof(why), "out of memory");
		if (rc < 0) {
			snprintf(err, errlen, "%s:%u: %s", name, lineno, why);
			goto out;
		}
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s:%u: read error", name, lineno + 1);
		rc = -EIO;
	}
out:
	free(line);
	return rc;
}

int fw_rules_load(struct fw_rules *r, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		int e = errno;
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	int rc = fw_rules_read(r, f, path, err, errlen);
	fclose(f);
	return rc;
}

const char *fw_counter_name(const struct fw_rules *r, unsigned idx)
{
	if (idx < r->n)
		return r->rule[idx].name;
	static const char *const extra[] = {"default", "nonip", "malformed"};
	idx -= r->n;
	return idx < 3 ? extra[idx] : NULL;
}

static bool fw_match(const struct fw_rule *r, const struct bh_flow_key *k)
{
	return (r->proto == 0 || r->proto == k->proto) &&
	       bh_prefix_match(k->src_ip, r->src, r->src_len) &&
	       bh_prefix_match(k->dst_ip, r->dst, r->dst_len) &&
	       k->src_port >= r->sport_lo && k->src_port <= r->sport_hi &&
	       k->dst_port >= r->dport_lo && k->dst_port <= r->dport_hi;
}

unsigned fw_classify(const struct fw_rules *r, const void *frame, uint32_t len, bool *allow)
{
	struct bh_flow_key k;
	int rc = bh_flow_parse(frame, len, &k);

	if (rc == -EPROTONOSUPPORT) {
		*allow = r->nonip_allow;
		return fw_cnt_nonip(r);
	}
	if (rc < 0) {
		*allow = false;
		return fw_cnt_malformed(r);
	}
	/* Linear first match: rule sets here are tens of lines, not thousands. */
	for (unsigned i = 0; i < r->n; i++)
		if (fw_match(&r->rule[i], &k)) {
			*allow = r->rule[i].allow;
			return i;
		}
	*allow = r->default_allow;
	return fw_cnt_default(r);
}
