/* SPDX-License-Identifier: MIT */
/*
 * tcp-source: sends a deterministic byte stream over the platform's TCP stack.
 *   bh-tcp-source [nflib options] -- --ip A.B.C.D/LEN [stack options]
 *       --listen PORT [--bytes N] [--backlog N]                 (chargen-like server)
 *     | --connect A.B.C.D:PORT [--bytes N] [--conns K] [--parallel P]   (client)
 *
 * The stream: P = 65521 (a prime) bytes of xorshift32 output (the top byte of
 * each step from x = 2463534242), repeated; a connection's stream starts at
 * offset (port of the connecting side * 7919) mod P, so every connection's
 * bytes differ and a receiver that knows both ends' ports can check them
 * (tests/e2e/netutil.py builds the same stream).
 *
 * --connect opens K connections (at most P at a time), sends N bytes on each,
 * shuts down its side, reads until the peer's FIN and closes: a connection
 * succeeds when all of that happened. When all K are done it prints one line
 * "bh-tcp-source: done: ..." and idles. --listen serves every connection N
 * bytes (then the same shutdown) or, without --bytes, until the peer goes away.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bulkhead/tcp_nf.h"

#define SRC_PROG "bh-tcp-source"
#define SRC_PERIOD 65521u
#define SRC_EVENTS 512
#define SRC_BUDGET (1u << 20)  /* bytes per connection per step */
#define SRC_REPORT_FAILURES 5  /* failures described on stderr */

#define SRC_COUNTERS(X)                                                     \
	X(conns_opened, "connections opened (--connect)")                   \
	X(conns_accepted, "connections accepted (--listen)")               \
	X(conns_ok, "connections that sent everything and closed cleanly")  \
	X(conns_failed, "connections refused, reset or timed out")          \
	X(conns_open, "connections open now")                               \
	X(bytes_out, "stream bytes sent")                                   \
	X(bytes_in, "bytes received (read and discarded)")

#define SRC_X_ENUM(name, desc) SRC_C_##name,
enum { SRC_COUNTERS(SRC_X_ENUM) SRC_C_MAX };
#undef SRC_X_ENUM

enum src_state { SRC_FREE, SRC_CONNECTING, SRC_SENDING, SRC_DRAINING };

struct src_conn {
	uint8_t state;
	uint32_t base; /* the stream's offset for this connection */
	uint64_t sent;
};

struct source {
	bool connect;
	struct sockaddr_in dst;
	uint16_t listen_port;
	uint64_t bytes; /* per connection; 0: unlimited (--listen only) */
	uint64_t conns, parallel, backlog;
	int ep, lfd;
	struct src_conn *tab; /* by descriptor */
	uint32_t n_tab;
	uint64_t started, finished;
	uint64_t t0;
	bool reported;
	uint64_t c[SRC_C_MAX];
	uint8_t buf[65536];
	uint8_t pattern[2 * SRC_PERIOD]; /* twice, so any window of up to P bytes is contiguous */
};

static uint64_t src_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void src_pattern(uint8_t *p)
{
	uint32_t x = 2463534242u;
	for (uint32_t i = 0; i < SRC_PERIOD; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = p[i + SRC_PERIOD] = (uint8_t)(x >> 24);
	}
}

static void src_end(struct bh_tcp *t, struct source *s, int fd, int err)
{
	bh_epoll_ctl(t, s->ep, EPOLL_CTL_DEL, fd, NULL);
	bh_close(t, fd);
	s->tab[fd].state = SRC_FREE;
	s->finished++;
	if (err) {
		if (s->c[SRC_C_conns_failed]++ < SRC_REPORT_FAILURES)
			fprintf(stderr, SRC_PROG ": a connection failed: %s\n", strerror(err));
	} else {
		s->c[SRC_C_conns_ok]++;
	}
}

static int src_watch(struct bh_tcp *t, struct source *s, int fd, int op, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.fd = fd};
	return bh_epoll_ctl(t, s->ep, op, fd, &ev);
}

/* Start sending on a connected socket whose connecting side used port `port`. */
static void src_established(struct source *s, int fd, uint16_t port)
{
	s->tab[fd].state = SRC_SENDING;
	s->tab[fd].base = (uint32_t)(((uint64_t)port * 7919u) % SRC_PERIOD);
	s->tab[fd].sent = 0;
}

static void src_send(struct bh_tcp *t, struct source *s, int fd)
{
	struct src_conn *c = &s->tab[fd];
	for (uint32_t done = 0; done < SRC_BUDGET && (!s->bytes || c->sent < s->bytes);) {
		uint64_t left = s->bytes ? s->bytes - c->sent : SRC_PERIOD;
		size_t n = (size_t)(left < SRC_PERIOD ? left : SRC_PERIOD);
		ssize_t w = bh_write(t, fd, s->pattern + (c->base + c->sent) % SRC_PERIOD, n);
		if (w < 0) {
			if (errno == EAGAIN)
				return;
			/* without --bytes the peer ends the stream: that is success */
			src_end(t, s, fd, s->bytes ? errno : 0);
			return;
		}
		c->sent += (uint64_t)w;
		s->c[SRC_C_bytes_out] += (uint64_t)w;
		done += (uint32_t)w;
	}
	if (s->bytes && c->sent == s->bytes) {
		c->state = SRC_DRAINING;
		if (bh_shutdown(t, fd, SHUT_WR) < 0 || src_watch(t, s, fd, EPOLL_CTL_MOD, EPOLLIN) < 0)
			src_end(t, s, fd, errno);
	}
}

/* After our FIN: read (and discard) until the peer's. */
static void src_drain(struct bh_tcp *t, struct source *s, int fd)
{
	for (;;) {
		ssize_t r = bh_read(t, fd, s->buf, sizeof(s->buf));
		if (r < 0) {
			if (errno != EAGAIN)
				src_end(t, s, fd, errno);
			return;
		}
		if (r == 0) {
			src_end(t, s, fd, 0);
			return;
		}
		s->c[SRC_C_bytes_in] += (uint64_t)r;
	}
}

static void src_connected(struct bh_tcp *t, struct source *s, int fd)
{
	struct sockaddr_in me;
	socklen_t len = sizeof(me);
	int err = 0;
	socklen_t elen = sizeof(err);
	if (bh_getsockopt(t, fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
		err = errno;
	if (!err && bh_getsockname(t, fd, (struct sockaddr *)&me, &len) < 0)
		err = errno;
	if (err) {
		src_end(t, s, fd, err);
		return;
	}
	src_established(s, fd, ntohs(me.sin_port));
	src_send(t, s, fd);
}

/* Open connections up to the limits. Returns how many. */
static int src_open(struct bh_tcp *t, struct source *s)
{
	int n = 0;
	if (!s->t0)
		s->t0 = src_now();
	while (s->started < s->conns && s->started - s->finished < s->parallel) {
		int fd = bh_socket(t, AF_INET, SOCK_STREAM, 0);
		s->started++;
		n++;
		s->c[SRC_C_conns_opened]++;
		if (fd < 0) {
			s->finished++;
			s->c[SRC_C_conns_failed]++;
			continue;
		}
		if (bh_tcp_nf_table((void **)&s->tab, &s->n_tab, sizeof(*s->tab), fd) < 0 ||
		    (bh_connect(t, fd, (struct sockaddr *)&s->dst, sizeof(s->dst)) < 0 && errno != EINPROGRESS) ||
		    src_watch(t, s, fd, EPOLL_CTL_ADD, EPOLLOUT) < 0) {
			int err = errno;
			if ((uint32_t)fd < s->n_tab) {
				src_end(t, s, fd, err);
			} else {
				bh_close(t, fd);
				s->finished++;
				s->c[SRC_C_conns_failed]++;
			}
			continue;
		}
		s->tab[fd].state = SRC_CONNECTING;
	}
	return n;
}

static void src_accept(struct bh_tcp *t, struct source *s)
{
	struct sockaddr_in peer;
	socklen_t len = sizeof(peer);
	int fd;
	while ((fd = bh_accept(t, s->lfd, (struct sockaddr *)&peer, &len)) >= 0) {
		s->c[SRC_C_conns_accepted]++;
		s->started++;
		if (bh_tcp_nf_table((void **)&s->tab, &s->n_tab, sizeof(*s->tab), fd) < 0 ||
		    src_watch(t, s, fd, EPOLL_CTL_ADD, EPOLLOUT) < 0) {
			bh_close(t, fd);
			s->finished++;
			s->c[SRC_C_conns_failed]++;
			continue;
		}
		src_established(s, fd, ntohs(peer.sin_port));
		len = sizeof(peer);
	}
}

static void src_report(struct source *s)
{
	double secs = (double)(src_now() - s->t0) / 1e9;
	char ip[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &s->dst.sin_addr, ip, sizeof(ip));
	printf(SRC_PROG ": done: %llu connections to %s:%u, %llu ok, %llu failed, %llu bytes in %.2f s"
	       " (%.1f Mbit/s)\n",
	       (unsigned long long)s->conns, ip, ntohs(s->dst.sin_port),
	       (unsigned long long)s->c[SRC_C_conns_ok], (unsigned long long)s->c[SRC_C_conns_failed],
	       (unsigned long long)s->c[SRC_C_bytes_out], secs,
	       secs > 0 ? (double)s->c[SRC_C_bytes_out] * 8 / secs / 1e6 : 0.0);
	fflush(stdout);
	s->reported = true;
}

static int src_step(struct bh_tcp *t, void *ctx)
{
	struct source *s = ctx;
	struct epoll_event ev[SRC_EVENTS];
	int work = s->connect ? src_open(t, s) : 0;
	int n = bh_epoll_wait(t, s->ep, ev, SRC_EVENTS, 0);

	for (int i = 0; i < n; i++) {
		int fd = ev[i].data.fd;
		if (!s->connect && fd == s->lfd) {
			src_accept(t, s);
			continue;
		}
		switch (s->tab[fd].state) {
		case SRC_CONNECTING: src_connected(t, s, fd); break;
		case SRC_SENDING: src_send(t, s, fd); break;
		case SRC_DRAINING: src_drain(t, s, fd); break;
		default: break;
		}
	}
	if (s->connect && !s->reported && s->finished == s->conns)
		src_report(s);
	s->c[SRC_C_conns_open] = s->started - s->finished;
	return work + (n > 0 ? n : 0);
}

static int src_parse_dst(struct source *s, const char *v)
{
	char ip[32];
	uint64_t port;
	const char *colon = strrchr(v, ':');
	if (!colon || (size_t)(colon - v) >= sizeof(ip))
		goto bad;
	memcpy(ip, v, (size_t)(colon - v));
	ip[colon - v] = 0;
	s->dst.sin_family = AF_INET;
	if (inet_pton(AF_INET, ip, &s->dst.sin_addr) != 1)
		goto bad;
	if (bh_tcp_nf_num(SRC_PROG, "connect", colon + 1, 1, 65535, false, &port) < 0)
		return -EINVAL;
	s->dst.sin_port = htons((uint16_t)port);
	s->connect = true;
	return 0;
bad:
	fprintf(stderr, SRC_PROG ": --connect: expected A.B.C.D:PORT, not '%s'\n", v);
	return -EINVAL;
}

static int src_init(struct bh_tcp *t, int argc, char **argv, void *ctx)
{
	static const struct option opts[] = {
		{"listen", required_argument, NULL, 'l'},
		{"connect", required_argument, NULL, 'c'},
		{"bytes", required_argument, NULL, 'n'},
		{"conns", required_argument, NULL, 'k'},
		{"parallel", required_argument, NULL, 'p'},
		{"backlog", required_argument, NULL, 'b'},
		{NULL, 0, NULL, 0},
	};
	struct source *s = ctx;
	uint64_t port = 0;
	bool have_conns = false;
	int c, rc = 0;

	s->conns = 1;
	s->parallel = 64;
	s->backlog = 4096;
	optind = 1;
	opterr = 0;
	while (rc == 0 && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'l': rc = bh_tcp_nf_num(SRC_PROG, "listen", optarg, 1, 65535, false, &port); break;
		case 'c': rc = src_parse_dst(s, optarg); break;
		case 'n': rc = bh_tcp_nf_num(SRC_PROG, "bytes", optarg, 1, 1ull << 50, true, &s->bytes); break;
		case 'k':
			rc = bh_tcp_nf_num(SRC_PROG, "conns", optarg, 1, 1000000, false, &s->conns);
			have_conns = true;
			break;
		case 'p': rc = bh_tcp_nf_num(SRC_PROG, "parallel", optarg, 1, 1000000, false, &s->parallel); break;
		case 'b': rc = bh_tcp_nf_num(SRC_PROG, "backlog", optarg, 1, 65535, false, &s->backlog); break;
		default:
			fprintf(stderr, SRC_PROG ": unknown option or missing value '%s' (see --help)\n",
				argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (rc < 0)
		return rc;
	if (optind < argc) {
		fprintf(stderr, SRC_PROG ": unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (!!port == s->connect) {
		fprintf(stderr, SRC_PROG ": give either --listen PORT or --connect A.B.C.D:PORT\n");
		return -EINVAL;
	}
	if (!s->connect && have_conns) {
		fprintf(stderr, SRC_PROG ": --conns goes with --connect\n");
		return -EINVAL;
	}
	if (s->connect && !s->bytes)
		s->bytes = 1 << 20;
	src_pattern(s->pattern);
	s->ep = bh_epoll_create(t);
	if (s->ep < 0) {
		fprintf(stderr, SRC_PROG ": epoll_create: %s\n", strerror(errno));
		return -errno;
	}
	s->lfd = -1;
	if (!s->connect) {
		s->lfd = bh_tcp_nf_listen(t, s->ep, (uint16_t)port, (int)s->backlog, SRC_PROG);
		if (s->lfd < 0)
			return s->lfd;
	}
	return 0;
}

static void src_fini(struct bh_tcp *t, void *ctx)
{
	struct source *s = ctx;
	free(s->tab);
	s->tab = NULL;
}

int main(int argc, char **argv)
{
	static const char *const names[] = {
#define SRC_X_NAME(name, desc) "source." #name,
		SRC_COUNTERS(SRC_X_NAME)
#undef SRC_X_NAME
	};
	static struct source s;
	static const struct bh_tcp_app app = {
		.prog = SRC_PROG,
		.service = "tcp-source",
		.usage = "  --listen PORT           serve the stream to every connection\n"
			 "  --connect A.B.C.D:PORT  open connections and send the stream\n"
			 "  --bytes N               bytes per connection (k, m, g) [--listen: unlimited,"
			 " --connect: 1m]\n"
			 "  --conns K               connections to open [1]\n"
			 "  --parallel P            connections open at once at most [64]\n"
			 "  --backlog N             connections waiting to be accepted [4096]\n",
		.counter_names = names,
		.counter_values = s.c,
		.n_counters = SRC_C_MAX,
		.init = src_init,
		.step = src_step,
		.fini = src_fini,
	};
	return bh_tcp_nf_main(argc, argv, &app, &s);
}
