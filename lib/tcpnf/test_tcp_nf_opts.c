/* SPDX-License-Identifier: MIT */
/* The TCP NF's stack options: values, defaults, the rest left to the application, errors. */
#include <errno.h>
#include <string.h>

#include "tests/unit/bh_test.h"
#include "tcp_nf_opts.h"

static char err[256];

/* Parse a NULL-terminated list as "prog" + args (nflib's options already taken). */
static int parse(struct tnf_opts *o, const char **args)
{
	char *argv[64] = {"bh-test"};
	int argc = 1;
	while (*args)
		argv[argc++] = (char *)*args++;
	err[0] = 0;
	return tnf_opts_parse(argc, argv, 1, o, err, sizeof(err));
}

/* A bad command line is refused with a message naming the option. */
static void refused(const char **args, const char *option)
{
	struct tnf_opts o;
	CHECK_EQ(parse(&o, args), -EINVAL);
	CHECK(strstr(err, option) != NULL);
	if (!strstr(err, option))
		fprintf(stderr, "  message was: %s\n", err);
}

int main(void)
{
	struct tnf_opts o;

	/* Everything set, in both spellings; the rest is the application's, in order. */
	const char *all[] = {"--listen", "7", "--ip", "198.18.0.3/24", "--gw=198.18.0.254", "--port", "p0",
			     "--mtu", "9000", "--max-conns", "100", "--sndbuf", "64k", "--rcvbuf=1m",
			     "--sndbuf-max", "8m", "--rcvbuf-max=64k",
			     "--max-mem", "1g", "--cc", "newreno", "--no-sack", "--no-ts", "--no-ws",
			     "--no-syncookies", "--rto-min-ms", "200", "--delack-ms", "40", "--msl-s", "5",
			     "--keepalive", "60,10,5", "--mac", "02:11:22:33:44:55", "--chain", "out", "-x",
			     NULL};
	CHECK_EQ(parse(&o, all), 0);
	CHECK_EQ(o.conf.ip, 0xc6120003u);
	CHECK_EQ(o.conf.mask, 0xffffff00u);
	CHECK_EQ(o.conf.gw, 0xc61200feu);
	CHECK(o.port && !strcmp(o.port, "p0"));
	CHECK(o.chain && !strcmp(o.chain, "out"));
	CHECK_EQ(o.conf.mtu, 9000);
	CHECK_EQ(o.conf.max_conns, 100);
	CHECK_EQ(o.conf.sndbuf, 65536);
	CHECK_EQ(o.conf.rcvbuf, 1 << 20);
	CHECK_EQ(o.conf.sndbuf_max, 8 << 20);
	CHECK_EQ(o.conf.rcvbuf_max, 64 << 10);
	CHECK_EQ(o.conf.max_mem, 1ull << 30);
	CHECK(o.conf.cc && !strcmp(o.conf.cc, "newreno"));
	CHECK(o.conf.no_sack && o.conf.no_ts && o.conf.no_ws && o.conf.no_syncookies);
	CHECK_EQ(o.conf.rto_min_ms, 200);
	CHECK_EQ(o.conf.delack_ms, 40);
	CHECK_EQ(o.conf.msl_s, 5);
	CHECK_EQ(o.conf.keep_idle_s, 60);
	CHECK_EQ(o.conf.keep_intvl_s, 10);
	CHECK_EQ(o.conf.keep_cnt, 5);
	CHECK_EQ(o.conf.mac[0], 0x02);
	CHECK_EQ(o.conf.mac[5], 0x55);
	CHECK(o.conf.tx == NULL);
	CHECK_EQ(o.app_argc, 4);
	CHECK(!strcmp(o.app_argv[0], "bh-test") && !strcmp(o.app_argv[1], "--listen") &&
	      !strcmp(o.app_argv[2], "7") && !strcmp(o.app_argv[3], "-x") && o.app_argv[4] == NULL);
	tnf_opts_free(&o);

	/* Only --ip: the stack's defaults (0), a MAC derived from the address. */
	const char *min[] = {"--ip", "10.1.2.3/8", NULL};
	CHECK_EQ(parse(&o, min), 0);
	CHECK_EQ(o.conf.mask, 0xff000000u);
	CHECK_EQ(o.conf.gw, 0);
	CHECK_EQ(o.conf.mtu, 0);
	CHECK(o.conf.cc == NULL && !o.conf.no_sack && o.port == NULL && o.chain == NULL);
	static const uint8_t mac[6] = {0x02, 0x00, 10, 1, 2, 3};
	CHECK(memcmp(o.conf.mac, mac, 6) == 0);
	CHECK_EQ(o.app_argc, 1);
	tnf_opts_free(&o);
	const char *host32[] = {"--ip", "198.18.0.3/32", NULL};
	CHECK_EQ(parse(&o, host32), 0);
	tnf_opts_free(&o);

	/* --help wins over anything, even bad values. */
	const char *help[] = {"--mtu", "1", "--help", NULL};
	CHECK_EQ(parse(&o, help), 1);
	tnf_opts_free(&o);

	/* Errors name the option. */
	refused((const char *[]){"--listen", "7", NULL}, "--ip");
	refused((const char *[]){"--ip", "198.18.0.3", NULL}, "--ip");
	refused((const char *[]){"--ip", "198.18.0.3/33", NULL}, "--ip");
	refused((const char *[]){"--ip", "198.18.0.0/24", NULL}, "--ip");
	refused((const char *[]){"--ip", "198.18.0.255/24", NULL}, "--ip");
	refused((const char *[]){"--ip", "224.0.0.1/24", NULL}, "--ip");
	refused((const char *[]){"--ip", "127.0.0.1/8", NULL}, "--ip");
	refused((const char *[]){"--ip", "1.2.3/24", NULL}, "--ip");
	refused((const char *[]){"--ip", "198.18.0.3/24", "--gw", "198.18.1.1", NULL}, "--gw");
	refused((const char *[]){"--ip", "198.18.0.3/24", "--gw", "198.18.0.3", NULL}, "--gw");
	refused((const char *[]){"--ip", "198.18.0.3/24", "--gw", "x", NULL}, "--gw");
	refused((const char *[]){"--ip", "198.18.0.3/24", "--mtu", "67", NULL}, "--mtu");
	refused((const char *[]){"--ip", "198.18.0.3/24", "--mtu", "9217", NULL}, "--mtu");
	refused((const char *[]){"--ip", "198.18.0.3/24", "--mtu", "15OO", NULL}, "--mtu");
	refused((const char *[]){"--ip", "198.18.0.3/24", "--mtu", NULL}, "--mtu");
	refused((const char *[]){"--ip", "198.18.0.3/24", "--max-conns", "0", NULL}, "--max-conns");
	refused((const char *[]){"--ip", "198.18.0.3/24", "--max-conns", "-1", NULL}, "--max-conns");
	refused((const char *[]){"--ip", "198.18.0.3/24", "--sndbuf", "1k", NULL}, "--sndbuf");
	refused((const char *[]){"--ip", "198.18.0.3/24", "--rcvbuf-max", "512m", NULL}, "--rcvbuf-max");
	refused((const char *[]){"--ip", "198.18.0.3/24", "--rcvbuf", "10x", NULL}, "--rcvbuf");
	refused((const char *[]){"--ip", "198.18.0.3/24", "--rcvbuf", "99999999999999999999g", NULL}, "--rcvbuf");
	refused((const char *[]){"--ip", "198.18.0.3/24", "--max-mem", "1k", NULL}, "--max-mem");
	refused((const char *[]){"--ip", "198.18.0.3/24", "--cc", "reno", NULL}, "--cc");
	refused((const char *[]){"--ip", "198.18.0.3/24", "--no-sack=1", NULL}, "--no-sack");
	refused((const char *[]){"--ip", "198.18.0.3/24", "--rto-min-ms", "0", NULL}, "--rto-min-ms");
	refused((const char *[]){"--ip", "198.18.0.3/24", "--delack-ms", "501", NULL}, "--delack-ms");
	refused((const char *[]){"--ip", "198.18.0.3/24", "--msl-s", "0", NULL}, "--msl-s");
	refused((const char *[]){"--ip", "198.18.0.3/24", "--keepalive", "60,10", NULL}, "--keepalive");
	refused((const char *[]){"--ip", "198.18.0.3/24", "--keepalive", "60,10,5,1", NULL}, "--keepalive");
	refused((const char *[]){"--ip", "198.18.0.3/24", "--keepalive", "60,,10,5", NULL}, "--keepalive");
	refused((const char *[]){"--ip", "198.18.0.3/24", "--keepalive", "0,10,5", NULL}, "--keepalive");
	refused((const char *[]){"--ip", "198.18.0.3/24", "--mac", "01:00:00:00:00:01", NULL}, "--mac");
	refused((const char *[]){"--ip", "198.18.0.3/24", "--mac", "00:00:00:00:00:00", NULL}, "--mac");
	refused((const char *[]){"--ip", "198.18.0.3/24", "--mac", "02:00:00:00:00", NULL}, "--mac");
	refused((const char *[]){"--ip", "198.18.0.3/24", "--port", "", NULL}, "--port");
	return bh_test_summary("test_tcp_nf_opts");
}
