/* SPDX-License-Identifier: MIT */
/*
 * bh-tcp-kserver: the Linux kernel's TCP serving what our NFs serve, for the
 * TCP benchmark's side-by-side runs (bench/README.md).
 *
 *   bh-tcp-kserver --listen PORT [--mode echo|sink|source] [--bind A.B.C.D]
 *                  [--bytes N] [--backlog N] [--cpu N]
 *
 * The same protocols as nfs/tcp-echo, tcp-sink and tcp-source --listen:
 *   echo    RFC 862: every byte read is written back. When the send buffer
 *           does not take a whole read, the rest waits and the connection
 *           stops reading until it is written (the peer is throttled by its
 *           own window, not buffered for). Closed once the peer's FIN was
 *           read and everything echoed.
 *   sink    RFC 863: read and discard; closed when the peer closes.
 *   source  writes the tcp-source stream: 65521 bytes of xorshift32 output
 *           (the top byte of each step from x = 2463534242), repeated, from
 *           offset (the peer's port * 7919) mod 65521; --bytes N per
 *           connection then shutdown and read until the peer's FIN, else
 *           until the peer goes away (a write error ends it: success).
 *
 * One thread, one epoll set, non-blocking sockets, level-triggered. SIGTERM
 * or SIGINT (through a signalfd) closes everything and exits 0 after one
 * JSON line of totals on stdout:
 *   {"mode":"echo","conns":N,"closed":N,"errors":N,"bytes_in":N,"bytes_out":N,"accept_errors":N}
 * Messages (and "listening on ...", once the socket listens) go to stderr.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tcp_tools.h"

#define PROG "bh-tcp-kserver"
#define ECHO_CHUNK 16384u         /* bytes per echo read, as tcp-echo */
#define IO_BUDGET (1u << 20)      /* bytes per connection per wake-up: fairness */
#define MAX_EVENTS 512

enum mode { M_ECHO, M_SINK, M_SOURCE };
static const char *const mode_names[] = {"echo", "sink", "source"};

enum cstate { C_FREE, C_OPEN, C_DRAINING };

struct conn {
	uint8_t state;
	bool eof;         /* echo: the peer's FIN was read */
	bool blocked;     /* echo: waiting for EPOLLOUT, not reading */
	uint32_t pend_off, pend_len; /* echo: bytes read, not yet written back */
	uint32_t base;    /* source: stream offset of this connection */
	uint64_t sent;    /* source: bytes written */
	uint8_t *buf;     /* echo: ECHO_CHUNK bytes */
};

struct server {
	enum mode mode;
	int ep, lfd, sfd;
	uint64_t bytes; /* source: per connection, 0: unlimited */
	bool accept_paused;
	struct conn *tab;
	size_t n_tab;
	uint64_t conns, closed, errors, bytes_in, bytes_out, accept_errors;
	uint8_t pattern[2 * TCP_STREAM_P];
	uint8_t rbuf[1u << 18];
};

static int die_usage(void)
{
	fprintf(stderr,
		"usage: " PROG " --listen PORT [--mode echo|sink|source] [--bind A.B.C.D]\n"
		"       [--bytes N] [--backlog N] [--cpu N]\n");
	return 2;
}

static bool parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || v > max)
		return false;
	switch (*end) {
	case 'k': v <<= 10; end++; break;
	case 'm': v <<= 20; end++; break;
	case 'g': v <<= 30; end++; break;
	}
	if (*end)
		return false;
	*out = v;
	return true;
}

static int watch(struct server *s, int fd, int op, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.fd = fd};
	return epoll_ctl(s->ep, op, fd, &ev);
}

static struct conn *conn_get(struct server *s, int fd)
{
	if ((size_t)fd >= s->n_tab) {
		size_t n = s->n_tab ? s->n_tab : 1024;
		while (n <= (size_t)fd)
			n *= 2;
		struct conn *t = realloc(s->tab, n * sizeof(*t));
		if (!t)
			return NULL;
		memset(t + s->n_tab, 0, (n - s->n_tab) * sizeof(*t));
		s->tab = t;
		s->n_tab = n;
	}
	return &s->tab[fd];
}

static void conn_close(struct server *s, int fd, bool error)
{
	struct conn *c = &s->tab[fd];
	epoll_ctl(s->ep, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
	free(c->buf);
	memset(c, 0, sizeof(*c));
	s->closed++;
	if (error)
		s->errors++;
	if (s->accept_paused && watch(s, s->lfd, EPOLL_CTL_MOD, EPOLLIN) == 0)
		s->accept_paused = false;
}

static void do_accept(struct server *s)
{
	for (;;) {
		struct sockaddr_in peer;
		socklen_t len = sizeof(peer);
		int fd = accept4(s->lfd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			s->accept_errors++;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				/* Level-triggered: stop asking until a connection closes. */
				if (watch(s, s->lfd, EPOLL_CTL_MOD, 0) == 0)
					s->accept_paused = true;
			}
			return;
		}
		struct conn *c = conn_get(s, fd);
		uint32_t events = s->mode == M_SOURCE ? EPOLLOUT : EPOLLIN;
		if (!c || (s->mode == M_ECHO && !(c->buf = malloc(ECHO_CHUNK))) ||
		    watch(s, fd, EPOLL_CTL_ADD, events) < 0) {
			if (c) {
				free(c->buf);
				c->buf = NULL;
			}
			close(fd);
			s->accept_errors++;
			continue;
		}
		c->state = C_OPEN;
		c->base = tcp_stream_base(ntohs(peer.sin_port));
		s->conns++;
	}
}

/* Echo: write back what is pending; then read more, unless blocked. */
static void do_echo(struct server *s, int fd)
{
	struct conn *c = &s->tab[fd];
	for (uint32_t done = 0; done < IO_BUDGET;) {
		if (c->pend_len) {
			ssize_t w = send(fd, c->buf + c->pend_off, c->pend_len, MSG_NOSIGNAL);
			if (w < 0) {
				if (errno == EAGAIN) {
					if (!c->blocked && watch(s, fd, EPOLL_CTL_MOD, EPOLLOUT) == 0)
						c->blocked = true;
					return;
				}
				conn_close(s, fd, true);
				return;
			}
			s->bytes_out += (uint64_t)w;
			c->pend_off += (uint32_t)w;
			c->pend_len -= (uint32_t)w;
			done += (uint32_t)w;
			if (c->pend_len)
				continue;
			c->pend_off = 0;
			if (c->blocked && watch(s, fd, EPOLL_CTL_MOD, EPOLLIN) == 0)
				c->blocked = false;
		}
		if (c->eof) {
			conn_close(s, fd, false);
			return;
		}
		ssize_t r = recv(fd, c->buf, ECHO_CHUNK, 0);
		if (r < 0) {
			if (errno != EAGAIN)
				conn_close(s, fd, true);
			return;
		}
		if (r == 0) {
			c->eof = true;
			continue;
		}
		s->bytes_in += (uint64_t)r;
		c->pend_len = (uint32_t)r;
		done += (uint32_t)r;
	}
}

/* Sink, and a source draining after its FIN: read until EOF. */
static void do_read(struct server *s, int fd)
{
	for (uint32_t done = 0; done < IO_BUDGET;) {
		ssize_t r = recv(fd, s->rbuf, sizeof(s->rbuf), 0);
		if (r < 0) {
			if (errno != EAGAIN)
				conn_close(s, fd, true);
			return;
		}
		if (r == 0) {
			conn_close(s, fd, false);
			return;
		}
		s->bytes_in += (uint64_t)r;
		done += (uint32_t)r;
	}
}

static void do_source(struct server *s, int fd)
{
	struct conn *c = &s->tab[fd];
	for (uint32_t done = 0; done < IO_BUDGET && (!s->bytes || c->sent < s->bytes);) {
		uint64_t left = s->bytes ? s->bytes - c->sent : TCP_STREAM_P;
		size_t n = (size_t)(left < TCP_STREAM_P ? left : TCP_STREAM_P);
		ssize_t w = send(fd, s->pattern + (c->base + c->sent) % TCP_STREAM_P, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EAGAIN)
				return;
			/* Without --bytes the peer ends the stream: that is success. */
			conn_close(s, fd, s->bytes != 0);
			return;
		}
		c->sent += (uint64_t)w;
		s->bytes_out += (uint64_t)w;
		done += (uint32_t)w;
	}
	if (s->bytes && c->sent == s->bytes) {
		c->state = C_DRAINING;
		if (shutdown(fd, SHUT_WR) < 0 || watch(s, fd, EPOLL_CTL_MOD, EPOLLIN) < 0)
			conn_close(s, fd, true);
	}
}

int main(int argc, char **argv)
{
	static struct server srv;
	struct server *s = &srv;
	uint64_t port = 0, backlog = 4096, cpu = UINT64_MAX;
	struct in_addr bind_addr = {.s_addr = htonl(INADDR_ANY)};
	static const struct option opts[] = {
		{"listen", required_argument, NULL, 'l'}, {"mode", required_argument, NULL, 'm'},
		{"bind", required_argument, NULL, 'b'},   {"bytes", required_argument, NULL, 'n'},
		{"backlog", required_argument, NULL, 'q'}, {"cpu", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
	int o;
	s->mode = M_ECHO;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'l':
			if (!parse_u64(optarg, 65535, &port) || !port)
				return die_usage();
			break;
		case 'm': {
			int m = tcp_tools_pick(optarg, mode_names, 3);
			if (m < 0)
				return die_usage();
			s->mode = (enum mode)m;
			break;
		}
		case 'b':
			if (inet_pton(AF_INET, optarg, &bind_addr) != 1)
				return die_usage();
			break;
		case 'n':
			if (!parse_u64(optarg, UINT64_MAX >> 30, &s->bytes))
				return die_usage();
			break;
		case 'q':
			if (!parse_u64(optarg, 1u << 20, &backlog) || !backlog)
				return die_usage();
			break;
		case 'c':
			if (!parse_u64(optarg, CPU_SETSIZE - 1, &cpu))
				return die_usage();
			break;
		default:
			return die_usage();
		}
	}
	if (!port || optind != argc)
		return die_usage();
	if (s->bytes && s->mode != M_SOURCE) {
		fprintf(stderr, PROG ": --bytes is for --mode source\n");
		return 2;
	}
	if (cpu != UINT64_MAX && tcp_tools_pin(PROG, (int)cpu) < 0)
		return 1;
	if (s->mode == M_SOURCE)
		tcp_stream_fill(s->pattern);

	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	s->sfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
	s->ep = epoll_create1(EPOLL_CLOEXEC);
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr = bind_addr};
	if (s->sfd < 0 || s->ep < 0 || s->lfd < 0 ||
	    setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s->lfd, (int)backlog) < 0 ||
	    watch(s, s->lfd, EPOLL_CTL_ADD, EPOLLIN) < 0 || watch(s, s->sfd, EPOLL_CTL_ADD, EPOLLIN) < 0) {
		fprintf(stderr, PROG ": cannot listen on port %llu: %s\n", (unsigned long long)port,
			strerror(errno));
		return 1;
	}
	char ip[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &bind_addr, ip, sizeof(ip));
	fprintf(stderr, PROG ": listening on %s:%llu, mode %s\n", ip, (unsigned long long)port,
		mode_names[s->mode]);

	struct epoll_event evs[MAX_EVENTS];
	bool stop = false;
	while (!stop) {
		int n = epoll_wait(s->ep, evs, MAX_EVENTS, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, PROG ": epoll_wait: %s\n", strerror(errno));
			return 1;
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == s->sfd) {
				stop = true;
				continue;
			}
			if (fd == s->lfd) {
				do_accept(s);
				continue;
			}
			if ((size_t)fd >= s->n_tab || s->tab[fd].state == C_FREE)
				continue; /* closed earlier in this batch */
			if (s->mode == M_ECHO)
				do_echo(s, fd);
			else if (s->mode == M_SINK || s->tab[fd].state == C_DRAINING)
				do_read(s, fd);
			else
				do_source(s, fd);
		}
	}
	for (size_t fd = 0; fd < s->n_tab; fd++)
		if (s->tab[fd].state != C_FREE) {
			close((int)fd);
			free(s->tab[fd].buf);
		}
	free(s->tab);
	close(s->lfd);
	close(s->ep);
	close(s->sfd);
	printf("{\"mode\":\"%s\",\"conns\":%llu,\"closed\":%llu,\"errors\":%llu,\"bytes_in\":%llu,"
	       "\"bytes_out\":%llu,\"accept_errors\":%llu}\n",
	       mode_names[s->mode], (unsigned long long)s->conns, (unsigned long long)s->closed,
	       (unsigned long long)s->errors, (unsigned long long)s->bytes_in,
	       (unsigned long long)s->bytes_out, (unsigned long long)s->accept_errors);
	return 0;
}
