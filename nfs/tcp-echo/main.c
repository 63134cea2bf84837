/* SPDX-License-Identifier: MIT */
/*
 * tcp-echo: RFC 862 echo over the platform's TCP stack.
 *   bh-tcp-echo [nflib options] -- --ip A.B.C.D/LEN [stack options] [--listen PORT] [--backlog N]
 *
 * Every byte read is written back. Back-pressure: when the send buffer does
 * not take all of a read, the rest (at most one read, ECHO_CHUNK bytes) waits
 * in the connection and the connection stops reading until it is written, so
 * a peer that does not read its echo is throttled by its own receive window,
 * not buffered for. Events are level-triggered: a connection is registered
 * for EPOLLIN, or for EPOLLOUT while it has bytes waiting. A connection is
 * closed once the peer's FIN has been read and everything echoed.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulkhead/tcp_nf.h"

#define ECHO_PROG "bh-tcp-echo"
#define ECHO_CHUNK 16384u          /* bytes per read */
#define ECHO_BUDGET (256u * 1024u) /* bytes per connection per step: fairness */
#define ECHO_EVENTS 512

#define ECHO_COUNTERS(X)                                                  \
	X(conns_accepted, "connections accepted")                         \
	X(conns_closed, "connections closed (after the peer's FIN, or an error)") \
	X(conns_open, "connections open now")                             \
	X(conn_errors, "connections ended by an error (reset, timeout)")   \
	X(bytes_in, "bytes read")                                         \
	X(bytes_out, "bytes written back")                                \
	X(write_blocked, "reads whose echo did not fit: reading paused")

#define ECHO_X_ENUM(name, desc) ECHO_C_##name,
enum { ECHO_COUNTERS(ECHO_X_ENUM) ECHO_C_MAX };
#undef ECHO_X_ENUM

struct echo_conn {
	uint8_t *pend; /* bytes read but not yet taken by the send buffer */
	uint32_t off, len;
};

struct echo {
	uint16_t port;
	int backlog;
	int ep, lfd;
	struct echo_conn *conns; /* by descriptor */
	uint32_t n_conns;
	uint64_t c[ECHO_C_MAX];
	uint8_t buf[ECHO_CHUNK];
};

static void echo_close(struct bh_tcp *t, struct echo *e, int fd, bool error)
{
	struct echo_conn *c = &e->conns[fd];
	free(c->pend);
	*c = (struct echo_conn){0};
	bh_epoll_ctl(t, e->ep, EPOLL_CTL_DEL, fd, NULL);
	bh_close(t, fd);
	e->c[ECHO_C_conns_closed]++;
	e->c[ECHO_C_conn_errors] += error;
}

static int echo_watch(struct bh_tcp *t, struct echo *e, int fd, int op, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.fd = fd};
	return bh_epoll_ctl(t, e->ep, op, fd, &ev);
}

/* Write what waits; 1 when nothing is left, 0 when still blocked, -1 on error. */
static int echo_flush(struct bh_tcp *t, struct echo *e, int fd)
{
	struct echo_conn *c = &e->conns[fd];
	ssize_t w = bh_write(t, fd, c->pend + c->off, c->len - c->off);
	if (w < 0)
		return errno == EAGAIN ? 0 : -1;
	e->c[ECHO_C_bytes_out] += (uint64_t)w;
	c->off += (uint32_t)w;
	if (c->off < c->len)
		return 0;
	c->off = c->len = 0;
	return echo_watch(t, e, fd, EPOLL_CTL_MOD, EPOLLIN) < 0 ? -1 : 1;
}

/* Echo what can be read now, within the budget. */
static void echo_serve(struct bh_tcp *t, struct echo *e, int fd)
{
	struct echo_conn *c = &e->conns[fd];
	uint32_t done = 0;

	if (c->len) {
		int rc = echo_flush(t, e, fd);
		if (rc <= 0) {
			if (rc < 0)
				echo_close(t, e, fd, true);
			return;
		}
	}
	while (done < ECHO_BUDGET) {
		ssize_t r = bh_read(t, fd, e->buf, ECHO_CHUNK);
		if (r < 0) {
			if (errno != EAGAIN)
				echo_close(t, e, fd, true);
			return;
		}
		if (r == 0) { /* the peer's FIN; everything read was echoed */
			echo_close(t, e, fd, false);
			return;
		}
		e->c[ECHO_C_bytes_in] += (uint64_t)r;
		done += (uint32_t)r;
		ssize_t w = bh_write(t, fd, e->buf, (size_t)r);
		if (w < 0 && errno != EAGAIN) {
			echo_close(t, e, fd, true);
			return;
		}
		if (w < 0)
			w = 0;
		e->c[ECHO_C_bytes_out] += (uint64_t)w;
		if (w < r) { /* keep the rest, stop reading until it is written */
			if (!c->pend && !(c->pend = malloc(ECHO_CHUNK))) {
				echo_close(t, e, fd, true);
				return;
			}
			memcpy(c->pend, e->buf + w, (size_t)(r - w));
			c->off = 0;
			c->len = (uint32_t)(r - w);
			e->c[ECHO_C_write_blocked]++;
			if (echo_watch(t, e, fd, EPOLL_CTL_MOD, EPOLLOUT) < 0)
				echo_close(t, e, fd, true);
			return;
		}
	}
}

static void echo_accept(struct bh_tcp *t, struct echo *e)
{
	int fd;
	while ((fd = bh_accept(t, e->lfd, NULL, NULL)) >= 0) {
		e->c[ECHO_C_conns_accepted]++;
		if (bh_tcp_nf_table((void **)&e->conns, &e->n_conns, sizeof(*e->conns), fd) < 0 ||
		    echo_watch(t, e, fd, EPOLL_CTL_ADD, EPOLLIN) < 0) {
			bh_close(t, fd);
			e->c[ECHO_C_conns_closed]++;
			e->c[ECHO_C_conn_errors]++;
		}
	}
}

static int echo_step(struct bh_tcp *t, void *ctx)
{
	struct echo *e = ctx;
	struct epoll_event ev[ECHO_EVENTS];
	int n = bh_epoll_wait(t, e->ep, ev, ECHO_EVENTS, 0);

	for (int i = 0; i < n; i++) {
		if (ev[i].data.fd == e->lfd)
			echo_accept(t, e);
		else
			echo_serve(t, e, ev[i].data.fd);
	}
	e->c[ECHO_C_conns_open] = e->c[ECHO_C_conns_accepted] - e->c[ECHO_C_conns_closed];
	return n > 0 ? n : 0;
}

static int echo_init(struct bh_tcp *t, int argc, char **argv, void *ctx)
{
	static const struct option opts[] = {
		{"listen", required_argument, NULL, 'l'},
		{"backlog", required_argument, NULL, 'b'},
		{NULL, 0, NULL, 0},
	};
	struct echo *e = ctx;
	uint64_t v;
	int c;

	e->port = 7;
	e->backlog = 4096;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			if (bh_tcp_nf_num(ECHO_PROG, "listen", optarg, 1, 65535, false, &v) < 0)
				return -EINVAL;
			e->port = (uint16_t)v;
			break;
		case 'b':
			if (bh_tcp_nf_num(ECHO_PROG, "backlog", optarg, 1, 65535, false, &v) < 0)
				return -EINVAL;
			e->backlog = (int)v;
			break;
		default:
			fprintf(stderr, ECHO_PROG ": unknown option or missing value '%s' (see --help)\n",
				argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, ECHO_PROG ": unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	e->ep = bh_epoll_create(t);
	if (e->ep < 0) {
		fprintf(stderr, ECHO_PROG ": epoll_create: %s\n", strerror(errno));
		return -errno;
	}
	e->lfd = bh_tcp_nf_listen(t, e->ep, e->port, e->backlog, ECHO_PROG);
	return e->lfd < 0 ? e->lfd : 0;
}

static void echo_fini(struct bh_tcp *t, void *ctx)
{
	struct echo *e = ctx;
	for (uint32_t i = 0; i < e->n_conns; i++)
		free(e->conns[i].pend);
	free(e->conns);
	e->conns = NULL;
}

int main(int argc, char **argv)
{
	static const char *const names[] = {
#define ECHO_X_NAME(name, desc) "echo." #name,
		ECHO_COUNTERS(ECHO_X_NAME)
#undef ECHO_X_NAME
	};
	static struct echo e;
	static const struct bh_tcp_app app = {
		.prog = ECHO_PROG,
		.service = "tcp-echo",
		.usage = "  --listen PORT   port to echo on [7]\n"
			 "  --backlog N     connections waiting to be accepted [4096]\n",
		.counter_names = names,
		.counter_values = e.c,
		.n_counters = ECHO_C_MAX,
		.init = echo_init,
		.step = echo_step,
		.fini = echo_fini,
	};
	return bh_tcp_nf_main(argc, argv, &app, &e);
}
