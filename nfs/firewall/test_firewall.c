/* SPDX-License-Identifier: MIT */
/* Unit tests for the firewall core: rule parsing, matching, counters. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "firewall_core.h"
#include "tests/unit/bh_test.h"

/* ---- frames ---------------------------------------------------------- */

struct frame {
	uint8_t b[128];
	uint32_t len;
};

static void put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v & 0xff; }

/* Ethernet + IPv4 (+ TCP/UDP ports or an ICMP header). */
static struct frame mk(uint8_t proto, const char *src, uint16_t sport, const char *dst,
		       uint16_t dport)
{
	struct frame f = {.len = 14 + 20 + (proto == 6 ? 20 : 8)};
	uint8_t *ip = f.b + 14;
	put16(f.b + 12, 0x0800);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(f.len - 14));
	ip[8] = 64;
	ip[9] = proto;
	inet_pton(AF_INET, src, ip + 12);
	inet_pton(AF_INET, dst, ip + 16);
	if (proto == 6 || proto == 17) {
		put16(ip + 20, sport);
		put16(ip + 22, dport);
	} else {
		ip[20] = 8; /* echo request */
	}
	return f;
}

static struct frame mk_arp(void)
{
	struct frame f = {.len = 14 + 28};
	put16(f.b + 12, 0x0806);
	return f;
}

/*
 * Classify a copy in a buffer of exactly len bytes, so ASan catches any read
 * past the frame. Returns the counter index; *allow gets the verdict.
 */
static unsigned classify(const struct fw_rules *r, const struct frame *f, bool *allow)
{
	uint8_t *p = malloc(f->len ? f->len : 1);
	memcpy(p, f->b, f->len);
	unsigned c = fw_classify(r, p, f->len, allow);
	free(p);
	return c;
}

/* Parse a whole rules text; returns fw_rules_read()'s result, message in err. */
static int load(struct fw_rules *r, const char *text, char *err, size_t errlen)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	fw_rules_init(r);
	err[0] = 0;
	int rc = fw_rules_read(r, f, "rules.txt", err, errlen);
	fclose(f);
	return rc;
}

/* ---- tests ----------------------------------------------------------- */

static void test_parse_good(void)
{
	struct fw_rules r;
	char err[256];
	const char *text = "# a comment\n"
			   "\n"
			   "   \t\n"
			   "deny proto tcp dst 198.18.1.0/24 dport 5001   # trailing comment\n"
			   "allow proto udp src 198.18.0.0/24 sport 1000-2000\r\n"
			   "allow\n"
			   "default deny\n"
			   "deny dport 22 proto 6\n" /* any field order, number proto */
			   "allow proto 47 src 10.1.2.3\n"
			   "nonip deny";               /* no final newline */
	CHECK_EQ(load(&r, text, err, sizeof(err)), 0);
	CHECK_EQ(err[0], 0);
	CHECK_EQ(r.n, 5);
	CHECK(!r.default_allow);
	CHECK(!r.nonip_allow);
	CHECK_EQ(r.default_line, 7);
	CHECK_EQ(r.nonip_line, 10);

	const struct fw_rule *a = &r.rule[0];
	CHECK(!a->allow);
	CHECK_EQ(a->proto, 6);
	CHECK_EQ(a->dst, 0xc6120100u);
	CHECK_EQ(a->dst_len, 24);
	CHECK_EQ(a->src_len, 0);
	CHECK_EQ(a->dport_lo, 5001);
	CHECK_EQ(a->dport_hi, 5001);
	CHECK_EQ(a->sport_lo, 0);
	CHECK_EQ(a->sport_hi, 65535);

	const struct fw_rule *b = &r.rule[1];
	CHECK(b->allow);
	CHECK_EQ(b->proto, 17);
	CHECK_EQ(b->src, 0xc6120000u);
	CHECK_EQ(b->sport_lo, 1000);
	CHECK_EQ(b->sport_hi, 2000);

	CHECK_EQ(r.rule[2].proto, 0);
	CHECK(r.rule[2].allow);
	CHECK_EQ(r.rule[4].src, 0x0a010203u);
	CHECK_EQ(r.rule[4].src_len, 32);

	/* counter names */
	CHECK_EQ(fw_n_counters(&r), 8);
	CHECK(!strcmp(fw_counter_name(&r, 0), "rule1 deny tcp dst 198.18.1.0/24 dport 5001"));
	/* 49 bytes, truncated to 47 */
	CHECK(!strcmp(fw_counter_name(&r, 1), "rule2 allow udp src 198.18.0.0/24 sport 1000-20"));
	CHECK(!strcmp(fw_counter_name(&r, 2), "rule3 allow"));
	CHECK(!strcmp(fw_counter_name(&r, 3), "rule4 deny tcp dport 22"));
	CHECK(!strcmp(fw_counter_name(&r, 4), "rule5 allow 47 src 10.1.2.3"));
	CHECK(!strcmp(fw_counter_name(&r, fw_cnt_default(&r)), "default"));
	CHECK(!strcmp(fw_counter_name(&r, fw_cnt_nonip(&r)), "nonip"));
	CHECK(!strcmp(fw_counter_name(&r, fw_cnt_malformed(&r)), "malformed"));
	CHECK(fw_counter_name(&r, fw_n_counters(&r)) == NULL);
	fw_rules_free(&r);
}

static void test_name_truncated(void)
{
	struct fw_rules r;
	char err[256];
	CHECK_EQ(load(&r, "allow proto udp src 198.18.0.0/24 sport 1000-2000 "
			  "dst 198.18.100.200/32 dport 60000-65535\n",
		      err, sizeof(err)),
		 0);
	const char *name = fw_counter_name(&r, 0);
	CHECK_EQ(strlen(name), 47);
	CHECK(!strncmp(name, "rule1 allow udp src 198.18.0.0/24 sport 1000-20", 47));
	fw_rules_free(&r);
}

static void test_parse_bad(void)
{
	static const struct {
		const char *text, *err;
	} cases[] = {
		{"permit\n", "rules.txt:1: unknown action 'permit' "
			     "(expected allow, deny, default or nonip)"},
		{"allow\n\n# c\ndeny port 80\n", "rules.txt:4: unknown field 'port' "
						  "(expected proto, src, dst, sport or dport)"},
		{"deny proto\n", "rules.txt:1: 'proto' needs a value"},
		{"deny proto tcp proto udp\n", "rules.txt:1: duplicate field 'proto'"},
		{"deny proto tcpx\n", "rules.txt:1: bad proto 'tcpx' "
				      "(expected tcp, udp, icmp, any or 0..255)"},
		{"deny proto 256\n", "rules.txt:1: bad proto '256' "
				     "(expected tcp, udp, icmp, any or 0..255)"},
		{"deny src 198.18.0.0/33\n", "rules.txt:1: bad src prefix '198.18.0.0/33'"},
		{"deny dst 198.18.0\n", "rules.txt:1: bad dst prefix '198.18.0'"},
		{"deny proto tcp sport 2000-1000\n", "rules.txt:1: bad sport range '2000-1000'"},
		{"deny proto udp dport 65536\n", "rules.txt:1: bad dport range '65536'"},
		{"deny dport 80\n", "rules.txt:1: dport needs proto tcp or udp"},
		{"deny proto icmp sport 1\n", "rules.txt:1: sport needs proto tcp or udp"},
		{"default\n", "rules.txt:1: 'default' needs allow or deny"},
		{"nonip drop\n", "rules.txt:1: 'nonip' takes allow or deny, not 'drop'"},
		{"default deny now\n", "rules.txt:1: unexpected 'now' after 'default' policy"},
		{"default deny\nallow\ndefault allow\n",
		 "rules.txt:3: duplicate 'default' line (first on line 1)"},
		{"ALLOW\n", "rules.txt:1: unknown action 'ALLOW' "
			    "(expected allow, deny, default or nonip)"},
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fw_rules r;
		char err[256];
		int rc = load(&r, cases[i].text, err, sizeof(err));
		CHECK_EQ(rc, -EINVAL);
		if (strcmp(err, cases[i].err))
			fprintf(stderr, "  case %u: got \"%s\"\n", i, err);
		CHECK(!strcmp(err, cases[i].err));
		fw_rules_free(&r);
	}

	/* "any" everywhere is accepted, and ports with proto any are only "any" */
	struct fw_rules r;
	char err[256];
	CHECK_EQ(load(&r, "deny proto any src any dst any sport any dport any\n", err,
		      sizeof(err)),
		 0);
	CHECK_EQ(r.n, 1);
	fw_rules_free(&r);

	CHECK_EQ(fw_rules_load(&r, "/nonexistent/fw.rules", err, sizeof(err)), -ENOENT);
	CHECK(!strcmp(err, "/nonexistent/fw.rules: No such file or directory"));
	fw_rules_free(&r);
}

static void test_first_match(void)
{
	struct fw_rules r;
	char err[256];
	bool allow;
	CHECK_EQ(load(&r, "allow proto tcp src 198.18.0.5\n"
			  "deny proto tcp dst 198.18.1.0/24 dport 5001\n"
			  "allow proto tcp dport 5001\n"
			  "default deny\n",
		      err, sizeof(err)),
		 0);

	/* rule 1 shadows rule 2 for its source */
	struct frame f = mk(6, "198.18.0.5", 40000, "198.18.1.1", 5001);
	CHECK_EQ(classify(&r, &f, &allow), 0);
	CHECK(allow);
	/* rule 2 before rule 3 */
	f = mk(6, "198.18.0.6", 40000, "198.18.1.1", 5001);
	CHECK_EQ(classify(&r, &f, &allow), 1);
	CHECK(!allow);
	/* outside rule 2's dst: rule 3 */
	f = mk(6, "198.18.0.6", 40000, "198.18.2.1", 5001);
	CHECK_EQ(classify(&r, &f, &allow), 2);
	CHECK(allow);
	/* UDP to 5001 matches nothing: default deny */
	f = mk(17, "198.18.0.5", 40000, "198.18.1.1", 5001);
	CHECK_EQ(classify(&r, &f, &allow), fw_cnt_default(&r));
	CHECK(!allow);
	fw_rules_free(&r);

	/* with no rules at all, everything passes */
	fw_rules_init(&r);
	f = mk(1, "1.2.3.4", 0, "5.6.7.8", 0);
	CHECK_EQ(classify(&r, &f, &allow), fw_cnt_default(&r));
	CHECK(allow);
	fw_rules_free(&r);
}

static void test_edges(void)
{
	struct fw_rules r;
	char err[256];
	bool allow;
	CHECK_EQ(load(&r, "deny proto udp src 198.18.0.0/24 sport 1000-2000\n"
			  "deny proto tcp dst 10.0.0.1/32 dport 0\n"
			  "deny proto tcp dport 65535\n"
			  "deny proto icmp src 0.0.0.0/0\n",
		      err, sizeof(err)),
		 0);
	static const struct {
		uint8_t proto;
		const char *src;
		uint16_t sport;
		const char *dst;
		uint16_t dport;
		unsigned want;
	} t[] = {
		/* /24 boundaries and range edges of rule 1 */
		{17, "198.18.0.0", 1000, "9.9.9.9", 1, 0},
		{17, "198.18.0.255", 2000, "9.9.9.9", 1, 0},
		{17, "198.18.1.0", 1500, "9.9.9.9", 1, 4},
		{17, "198.17.255.255", 1500, "9.9.9.9", 1, 4},
		{17, "198.18.0.7", 999, "9.9.9.9", 1, 4},
		{17, "198.18.0.7", 2001, "9.9.9.9", 1, 4},
		{6, "198.18.0.7", 1500, "9.9.9.9", 1, 4}, /* wrong proto */
		/* /32 and port 0 */
		{6, "1.1.1.1", 1, "10.0.0.1", 0, 1},
		{6, "1.1.1.1", 1, "10.0.0.1", 1, 4},
		{6, "1.1.1.1", 1, "10.0.0.2", 0, 4},
		{6, "1.1.1.1", 1, "10.0.0.0", 0, 4},
		/* port 65535 */
		{6, "1.1.1.1", 1, "2.2.2.2", 65535, 2},
		{6, "1.1.1.1", 1, "2.2.2.2", 65534, 4},
		/* /0 */
		{1, "255.255.255.255", 0, "0.0.0.0", 0, 3},
	};
	for (unsigned i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct frame f = mk(t[i].proto, t[i].src, t[i].sport, t[i].dst, t[i].dport);
		unsigned got = classify(&r, &f, &allow);
		if (got != t[i].want)
			fprintf(stderr, "  edge case %u: counter %u, want %u\n", i, got,
				t[i].want);
		CHECK_EQ(got, t[i].want);
		CHECK_EQ(allow, t[i].want == 4);
	}
	fw_rules_free(&r);
}

static void test_nonip_and_malformed(void)
{
	struct fw_rules r;
	char err[256];
	bool allow;
	struct frame arp = mk_arp();

	/* ARP crosses by default, even under "default deny" and a catch-all deny */
	CHECK_EQ(load(&r, "deny\ndefault deny\n", err, sizeof(err)), 0);
	CHECK_EQ(classify(&r, &arp, &allow), fw_cnt_nonip(&r));
	CHECK(allow);
	fw_rules_free(&r);

	CHECK_EQ(load(&r, "nonip deny\n", err, sizeof(err)), 0);
	CHECK_EQ(classify(&r, &arp, &allow), fw_cnt_nonip(&r));
	CHECK(!allow);

	/* truncated IPv4 header: malformed, dropped under default allow */
	struct frame f = mk(6, "1.1.1.1", 1, "2.2.2.2", 2);
	f.len = 14 + 19;
	CHECK_EQ(classify(&r, &f, &allow), fw_cnt_malformed(&r));
	CHECK(!allow);
	/* runt */
	f.len = 10;
	CHECK_EQ(classify(&r, &f, &allow), fw_cnt_malformed(&r));
	CHECK(!allow);
	f.len = 0;
	CHECK_EQ(classify(&r, &f, &allow), fw_cnt_malformed(&r));
	fw_rules_free(&r);

	/* VLAN-tagged IPv4 is matched like untagged */
	CHECK_EQ(load(&r, "deny proto tcp dport 80\n", err, sizeof(err)), 0);
	struct frame v = mk(6, "1.1.1.1", 1, "2.2.2.2", 80), t = v;
	memmove(t.b + 16, v.b + 12, v.len - 12);
	put16(t.b + 12, 0x8100);
	put16(t.b + 14, 7);
	t.len = v.len + 4;
	CHECK_EQ(classify(&r, &t, &allow), 0);
	CHECK(!allow);
	/* a non-first fragment has no ports: it does not match a port rule */
	put16(v.b + 14 + 6, 10); /* fragment offset 80 bytes */
	CHECK_EQ(classify(&r, &v, &allow), fw_cnt_default(&r));
	fw_rules_free(&r);
}

static void test_counts(void)
{
	struct fw_rules r;
	char err[256];
	CHECK_EQ(load(&r, "deny proto tcp dst 198.18.1.0/24 dport 5001\n"
			  "allow proto udp src 198.18.0.0/24 sport 1000-2000\n"
			  "deny proto icmp\n"
			  "default deny\n",
		      err, sizeof(err)),
		 0);
	struct frame arp = mk_arp(), runt = {.len = 5}, frames[] = {
		mk(6, "198.18.0.1", 40000, "198.18.1.1", 5001),  /* rule1 */
		mk(6, "198.18.0.1", 40001, "198.18.1.9", 5001),  /* rule1 */
		mk(6, "198.18.0.1", 40000, "198.18.1.1", 5002),  /* default */
		mk(17, "198.18.0.3", 1000, "198.18.1.1", 53),    /* rule2 */
		mk(17, "198.18.0.3", 2000, "198.18.1.1", 53),    /* rule2 */
		mk(17, "198.18.0.3", 2001, "198.18.1.1", 53),    /* default */
		mk(1, "198.18.0.3", 0, "198.18.1.1", 0),         /* rule3 */
		arp, arp, arp,                                   /* nonip */
		runt,                                            /* malformed */
	};
	uint64_t cnt[16] = {0};
	unsigned allowed = 0, n = sizeof(frames) / sizeof(frames[0]);
	for (unsigned i = 0; i < n; i++) {
		bool allow;
		unsigned c = classify(&r, &frames[i], &allow);
		CHECK(c < fw_n_counters(&r));
		cnt[c]++;
		allowed += allow;
	}
	CHECK_EQ(cnt[0], 2);
	CHECK_EQ(cnt[1], 2);
	CHECK_EQ(cnt[2], 1);
	CHECK_EQ(cnt[fw_cnt_default(&r)], 2);
	CHECK_EQ(cnt[fw_cnt_nonip(&r)], 3);
	CHECK_EQ(cnt[fw_cnt_malformed(&r)], 1);
	CHECK_EQ(allowed, 5); /* rule2 x2 + ARP x3 */
	fw_rules_free(&r);
}

static void test_many_rules(void)
{
	/* no fixed maximum: 5000 rules, the last one matches */
	size_t cap = 5000 * 40 + 64, off = 0;
	char *text = malloc(cap), err[256];
	for (unsigned i = 0; i < 5000; i++)
		off += (size_t)snprintf(text + off, cap - off, "deny proto udp dport %u\n", i + 1);
	struct fw_rules r;
	bool allow = true;
	CHECK_EQ(load(&r, text, err, sizeof(err)), 0);
	CHECK_EQ(r.n, 5000);
	struct frame f = mk(17, "1.1.1.1", 9, "2.2.2.2", 5000);
	CHECK_EQ(classify(&r, &f, &allow), 4999);
	CHECK(!allow);
	CHECK(!strcmp(fw_counter_name(&r, 4999), "rule5000 deny udp dport 5000"));
	fw_rules_free(&r);
	free(text);
}

int main(void)
{
	test_parse_good();
	test_name_truncated();
	test_parse_bad();
	test_first_match();
	test_edges();
	test_nonip_and_malformed();
	test_counts();
	test_many_rules();
	return bh_test_summary("firewall");
}
