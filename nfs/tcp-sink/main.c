/* SPDX-License-Identifier: MIT */
/*
 * tcp-sink: RFC 863 discard over the platform's TCP stack: reads every byte,
 * counts it, and closes when the peer does.
 *   bh-tcp-sink [nflib options] -- --ip A.B.C.D/LEN [stack options] [--listen PORT] [--backlog N]
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "bulkhead/tcp_nf.h"

#define SINK_PROG "bh-tcp-sink"
#define SINK_CHUNK 65536u
#define SINK_BUDGET (1u << 20) /* bytes per connection per step */
#define SINK_EVENTS 512

#define SINK_COUNTERS(X)                                         \
	X(conns_accepted, "connections accepted")                \
	X(conns_closed, "connections closed")                    \
	X(conns_open, "connections open now")                    \
	X(conn_errors, "connections ended by an error (reset, timeout)") \
	X(bytes_in, "bytes read and discarded")

#define SINK_X_ENUM(name, desc) SINK_C_##name,
enum { SINK_COUNTERS(SINK_X_ENUM) SINK_C_MAX };
#undef SINK_X_ENUM

struct sink {
	int ep, lfd;
	uint64_t c[SINK_C_MAX];
	uint8_t buf[SINK_CHUNK];
};

static void sink_close(struct bh_tcp *t, struct sink *s, int fd, bool error)
{
	bh_epoll_ctl(t, s->ep, EPOLL_CTL_DEL, fd, NULL);
	bh_close(t, fd);
	s->c[SINK_C_conns_closed]++;
	s->c[SINK_C_conn_errors] += error;
}

static void sink_read(struct bh_tcp *t, struct sink *s, int fd)
{
	for (uint32_t done = 0; done < SINK_BUDGET;) {
		ssize_t r = bh_read(t, fd, s->buf, SINK_CHUNK);
		if (r <= 0) {
			if (r == 0 || errno != EAGAIN)
				sink_close(t, s, fd, r < 0);
			return;
		}
		s->c[SINK_C_bytes_in] += (uint64_t)r;
		done += (uint32_t)r;
	}
}

static int sink_step(struct bh_tcp *t, void *ctx)
{
	struct sink *s = ctx;
	struct epoll_event ev[SINK_EVENTS];
	int n = bh_epoll_wait(t, s->ep, ev, SINK_EVENTS, 0);

	for (int i = 0; i < n; i++) {
		int fd = ev[i].data.fd;
		if (fd != s->lfd) {
			sink_read(t, s, fd);
			continue;
		}
		while ((fd = bh_accept(t, s->lfd, NULL, NULL)) >= 0) {
			struct epoll_event e = {.events = EPOLLIN, .data.fd = fd};
			s->c[SINK_C_conns_accepted]++;
			if (bh_epoll_ctl(t, s->ep, EPOLL_CTL_ADD, fd, &e) < 0)
				sink_close(t, s, fd, true);
		}
	}
	s->c[SINK_C_conns_open] = s->c[SINK_C_conns_accepted] - s->c[SINK_C_conns_closed];
	return n > 0 ? n : 0;
}

static int sink_init(struct bh_tcp *t, int argc, char **argv, void *ctx)
{
	static const struct option opts[] = {
		{"listen", required_argument, NULL, 'l'},
		{"backlog", required_argument, NULL, 'b'},
		{NULL, 0, NULL, 0},
	};
	struct sink *s = ctx;
	uint64_t port = 9, backlog = 4096;
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'l' && bh_tcp_nf_num(SINK_PROG, "listen", optarg, 1, 65535, false, &port) < 0)
			return -EINVAL;
		if (c == 'b' && bh_tcp_nf_num(SINK_PROG, "backlog", optarg, 1, 65535, false, &backlog) < 0)
			return -EINVAL;
		if (c != 'l' && c != 'b') {
			fprintf(stderr, SINK_PROG ": unknown option or missing value '%s' (see --help)\n",
				argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, SINK_PROG ": unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	s->ep = bh_epoll_create(t);
	if (s->ep < 0) {
		fprintf(stderr, SINK_PROG ": epoll_create: %s\n", strerror(errno));
		return -errno;
	}
	s->lfd = bh_tcp_nf_listen(t, s->ep, (uint16_t)port, (int)backlog, SINK_PROG);
	return s->lfd < 0 ? s->lfd : 0;
}

int main(int argc, char **argv)
{
	static const char *const names[] = {
#define SINK_X_NAME(name, desc) "sink." #name,
		SINK_COUNTERS(SINK_X_NAME)
#undef SINK_X_NAME
	};
	static struct sink s;
	static const struct bh_tcp_app app = {
		.prog = SINK_PROG,
		.service = "tcp-sink",
		.usage = "  --listen PORT   port to discard on [9]\n"
			 "  --backlog N     connections waiting to be accepted [4096]\n",
		.counter_names = names,
		.counter_values = s.c,
		.n_counters = SINK_C_MAX,
		.init = sink_init,
		.step = sink_step,
	};
	return bh_tcp_nf_main(argc, argv, &app, &s);
}
