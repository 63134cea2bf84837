/* SPDX-License-Identifier: MIT */
/*
 * The stack options of a TCP NF (see bulkhead/tcp_nf.h): pure parsing, no
 * DPDK, so it is unit-tested on its own.
 */
#ifndef BH_TCP_NF_OPTS_H
#define BH_TCP_NF_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bulkhead/tcp.h"

struct tnf_opts {
	struct bh_tcp_conf conf; /* tx and tx_ctx left NULL; 0: the stack's default */
	const char *port;        /* --port, NULL: follow arrivals */
	const char *chain;       /* --chain, NULL: straight out of the port */
	int app_argc;            /* what the stack did not take, argv[0] first */
	char **app_argv;         /* malloc'd, NULL-terminated; free with tnf_opts_free */
};

/*
 * Parse argv[first .. argc) (after nflib's options). Returns 0, 1 when -h or
 * --help was given (nothing else checked), -EINVAL with a one-line reason in
 * err (naming the option), or -ENOMEM. app_argv[0] is argv[0]. On success
 * (0 or 1) the caller frees o with tnf_opts_free.
 */
int tnf_opts_parse(int argc, char **argv, int first, struct tnf_opts *o, char *err, size_t errlen);
void tnf_opts_free(struct tnf_opts *o);

/* Decimal integer in [lo, hi], with a k/m/g (x1024) suffix when sized. 0 or -EINVAL. */
int tnf_num(const char *s, uint64_t lo, uint64_t hi, bool sized, uint64_t *out);

/* The stack options, for --help. */
extern const char tnf_opts_usage[];

#endif
