/* SPDX-License-Identifier: MIT */
/* Configuration parsing: good files, and bad ones rejected with the field named. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bh_test.h"
#include "mgr/config.h"

#define PORTS "\"ports\":[{\"name\":\"p0\",\"dev\":\"net_af_packet0,iface=a\"}," \
	      "{\"name\":\"p1\",\"dev\":\"net_tap0,iface=t\"}]"

static void good(void)
{
	struct mgr_config c;
	char err[256] = "";
	const char *j = "{\"prefix\":\"t1\"," PORTS ","
			"\"pool\":{\"mbufs\":4095,\"cache\":0,\"data_room\":2176},"
			"\"rings\":{\"nf_rx\":1000,\"nf_tx\":512,\"burst\":16},"
			"\"limits\":{\"nfs\":300,\"services\":20,\"chains\":9,\"hops\":100},"
			"\"services\":[\"extra\"],"
			"\"chains\":[{\"name\":\"c0\",\"hops\":[\"fw\",\"mon\",\"fw\"],\"out\":\"p1\"},"
			"{\"name\":\"direct\",\"hops\":[],\"out\":\"p0\"}],"
			"\"rules\":[{\"in_port\":\"p0\",\"proto\":\"tcp\",\"dport\":\"80-90\",\"chain\":\"c0\"},"
			"{\"src\":\"198.18.0.1\",\"dst\":\"198.18.0.2\",\"proto\":\"udp\",\"sport\":\"5\","
			"\"dport\":\"6\",\"chain\":\"direct\"}],"
			"\"default_chain\":\"c0\"}";
	int rc = mgr_config_parse(j, &c, err, sizeof(err));
	CHECK_EQ(rc, 0);
	if (rc) {
		fprintf(stderr, "unexpected error: %s\n", err);
		return;
	}
	CHECK(!strcmp(c.prefix, "t1"));
	CHECK_EQ(c.mbufs, 4095);
	CHECK_EQ(c.nf_rx_ring, 1000);
	CHECK_EQ(c.burst, 16);
	CHECK_EQ(c.max_nfs, 300);
	CHECK_EQ(c.n_ports, 2);
	CHECK_EQ(c.n_services, 3); /* extra, fw, mon */
	CHECK(!strcmp(c.services[0].name, "extra"));
	CHECK_EQ(c.n_chains, 2);
	CHECK_EQ(c.chains[0].n_hops, 3);
	CHECK_EQ(c.chains[0].hops[0], 1);
	CHECK_EQ(c.chains[0].hops[1], 2);
	CHECK_EQ(c.chains[0].hops[2], 1);
	CHECK_EQ(c.chains[0].out_port, 1);
	CHECK_EQ(c.chains[1].n_hops, 0);
	CHECK_EQ(c.chains[1].out_port, 0);
	CHECK_EQ(c.n_rules, 2);
	CHECK_EQ(c.rules[0].in_port, 0);
	CHECK_EQ(c.rules[0].proto, 6);
	CHECK_EQ(c.rules[0].dport_lo, 80);
	CHECK_EQ(c.rules[0].dport_hi, 90);
	CHECK_EQ(c.rules[1].src, 0xc6120001);
	CHECK_EQ(c.rules[1].src_len, 32);
	CHECK_EQ(c.rules[1].chain, 1);
	CHECK_EQ(c.default_chain, 0);
	mgr_config_free(&c);

	/* Services as objects: mode, cores, scale policy; nf_cores; api. */
	rc = mgr_config_parse("{" PORTS ",\"nf_cores\":[1,0],"
			      "\"services\":[\"plain\",{\"name\":\"fast\",\"mode\":\"poll\",\"cores\":[3]},"
			      "{\"name\":\"elastic\",\"scale\":{\"min\":2,\"max\":6,\"in_idle_ms\":500}}],"
			      "\"api\":{\"port\":9000,\"bind\":\"127.0.0.2\",\"token\":\"0123456789abcdef\"}}",
			      &c, err, sizeof(err));
	CHECK_EQ(rc, 0);
	if (!rc) {
		CHECK_EQ(c.n_nf_cores, 2);
		CHECK_EQ(c.nf_cores[0], 1);
		CHECK_EQ(c.n_services, 3);
		CHECK(!c.services[0].poll && !c.services[0].scale.on && c.services[0].n_cores == 0);
		CHECK(c.services[1].poll);
		CHECK_EQ(c.services[1].n_cores, 1);
		CHECK_EQ(c.services[1].cores[0], 3);
		CHECK(c.services[2].scale.on);
		CHECK_EQ(c.services[2].scale.min, 2);
		CHECK_EQ(c.services[2].scale.max, 6);
		CHECK_EQ(c.services[2].scale.out_occupancy_pct, 50); /* default */
		CHECK_EQ(c.services[2].scale.in_idle_ms, 500);
		CHECK_EQ(c.api_port, 9000);
		CHECK(!strcmp(c.api_bind, "127.0.0.2"));
		CHECK(!strcmp(c.api_token, "0123456789abcdef"));
		mgr_config_free(&c);
	}

	/* Defaults. */
	rc = mgr_config_parse("{" PORTS "}", &c, err, sizeof(err));
	CHECK_EQ(rc, 0);
	if (!rc) {
		CHECK(!strcmp(c.prefix, "bulkhead"));
		CHECK_EQ(c.default_chain, BH_NONE);
		CHECK_EQ(c.burst, 32);
		CHECK(c.stats_print);
		CHECK_EQ(c.api_port, 8470);
		CHECK(!strcmp(c.api_bind, "127.0.0.1"));
		CHECK(c.api_token == NULL);
		mgr_config_free(&c);
	}
}

/* Each bad document must fail, and the message must contain `expect`. */
static void bad(const char *json, const char *expect)
{
	struct mgr_config c;
	char err[256] = "";
	int rc = mgr_config_parse(json, &c, err, sizeof(err));
	CHECK(rc < 0);
	if (rc == 0) {
		fprintf(stderr, "accepted: %s\n", json);
		mgr_config_free(&c);
		return;
	}
	if (!strstr(err, expect)) {
		fprintf(stderr, "for %s\n  got '%s', expected '%s'\n", json, err, expect);
		CHECK(0);
	} else {
		CHECK(1);
	}
}

int main(void)
{
	good();
	bad("", "");
	bad("[1]", "must be a JSON object");
	bad("{\"ports\":[]}", "ports: at least one port");
	bad("{" PORTS ",\"bogus\":1}", "bogus: unknown field");
	bad("{\"ports\":[{\"name\":\"p0\"}]}", "ports[0].dev");
	bad("{\"ports\":[{\"name\":\"p0\",\"dev\":\"0000:00:03.0\"}]}", "ports[0].dev: '0000:00:03.0' is not a virtual device");
	bad("{\"ports\":[{\"name\":\"p0\",\"dev\":\"net_tap0\"},{\"name\":\"p0\",\"dev\":\"net_tap1\"}]}",
	    "ports[1].name: duplicate port name");
	bad("{\"ports\":[{\"name\":\"bad name\",\"dev\":\"net_tap0\"}]}", "ports[0].name");
	bad("{" PORTS ",\"pool\":{\"mbufs\":10}}", "pool.mbufs: 10 is out of range");
	bad("{" PORTS ",\"pool\":{\"mbufs\":\"many\"}}", "pool.mbufs: must be an integer");
	bad("{" PORTS ",\"pool\":{\"size\":1}}", "pool.size: unknown field");
	bad("{" PORTS ",\"pool\":{\"cache\":32}}", "pool.cache: 32: only 0 works");
	bad("{" PORTS ",\"rings\":{\"nf_rx\":64,\"burst\":128}}", "rings.burst: 128 is larger");
	bad("{" PORTS ",\"limits\":{\"nfs\":0}}", "limits.nfs: 0 is out of range");
	bad("{" PORTS ",\"chains\":[{\"name\":\"c\",\"hops\":[\"a\"],\"out\":\"p9\"}]}",
	    "chains[0].out: no port named 'p9'");
	bad("{" PORTS ",\"chains\":[{\"name\":\"c\",\"hops\":\"a\"}]}", "chains[0].hops: must be an array");
	bad("{" PORTS ",\"chains\":[{\"name\":\"c\",\"hops\":[]}]}", "chains[0]: a chain needs hops or an output port");
	bad("{" PORTS ",\"chains\":[{\"name\":\"c\",\"hops\":[\"a\"]},{\"name\":\"c\",\"hops\":[\"b\"]}]}",
	    "chains[1].name: duplicate chain name");
	bad("{" PORTS ",\"limits\":{\"services\":1},\"chains\":[{\"name\":\"c\",\"hops\":[\"a\",\"b\"]}]}",
	    "chains[0].hops[1]: more services than limits.services");
	bad("{" PORTS ",\"limits\":{\"hops\":2},\"chains\":[{\"name\":\"c\",\"hops\":[\"a\",\"b\",\"a\"]}]}",
	    "limits.hops is 2");
	bad("{" PORTS ",\"chains\":[{\"name\":\"c\",\"hops\":[\"a\"]}],\"rules\":[{\"chain\":\"x\"}]}",
	    "rules[0].chain: no chain named 'x'");
	bad("{" PORTS ",\"chains\":[{\"name\":\"c\",\"hops\":[\"a\"]}],\"rules\":[{\"src\":\"1.2.3.4/33\",\"chain\":\"c\"}]}",
	    "rules[0].src: '1.2.3.4/33' is not an IPv4 prefix");
	bad("{" PORTS ",\"chains\":[{\"name\":\"c\",\"hops\":[\"a\"]}],\"rules\":[{\"dport\":\"80\",\"chain\":\"c\"}]}",
	    "rules[0]: ports need proto tcp or udp");
	bad("{" PORTS ",\"chains\":[{\"name\":\"c\",\"hops\":[\"a\"]}],\"rules\":[{\"proto\":\"tcp\",\"dport\":\"90-80\",\"chain\":\"c\"}]}",
	    "rules[0].dport: '90-80'");
	bad("{" PORTS ",\"chains\":[{\"name\":\"c\",\"hops\":[\"a\"]}],\"rules\":[{\"in_port\":\"p7\",\"chain\":\"c\"}]}",
	    "rules[0].in_port: no port named 'p7'");
	bad("{" PORTS ",\"default_chain\":\"nope\"}", "default_chain: no chain named 'nope'");
	bad("{" PORTS ",\"stats\":{\"print\":1}}", "stats.print: must be true or false");
	bad("{\"prefix\":\"a\",\"prefix\":\"b\"," PORTS "}", "duplicate");
	bad("{" PORTS ",\"services\":[{\"name\":\"s\",\"mode\":\"fast\"}]}", "services[0].mode: must be");
	bad("{" PORTS ",\"services\":[{\"name\":\"s\",\"cores\":[]}]}", "services[0].cores: must be a non-empty");
	bad("{" PORTS ",\"services\":[{\"name\":\"s\",\"cores\":[-1]}]}", "services[0].cores[0]");
	bad("{" PORTS ",\"services\":[{\"name\":\"s\",\"scale\":{\"min\":5,\"max\":2}}]}",
	    "services[0].scale: min (5) is larger than max (2)");
	bad("{" PORTS ",\"services\":[{\"name\":\"s\",\"scale\":{\"mni\":1}}]}", "services[0].scale.mni: unknown field");
	bad("{" PORTS ",\"services\":[{\"nme\":\"s\"}]}", "services[0].nme: unknown field");
	bad("{" PORTS ",\"nf_cores\":\"1\"}", "nf_cores: must be a non-empty array");
	bad("{" PORTS ",\"api\":{\"port\":70000}}", "api.port: 70000 is out of range");
	bad("{" PORTS ",\"api\":{\"bind\":\"localhost\"}}", "api.bind: 'localhost' is not an IPv4 address");
	bad("{" PORTS ",\"api\":{\"token\":\"short\"}}", "api.token: at least 16 characters");

	/* Files: a missing file names the path. */
	struct mgr_config c;
	char err[256];
	CHECK_EQ(mgr_config_load("/nonexistent/bh.json", &c, err, sizeof(err)), -ENOENT);
	CHECK(strstr(err, "/nonexistent/bh.json") != NULL);
	return bh_test_summary("test_config");
}
