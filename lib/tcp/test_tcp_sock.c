/* SPDX-License-Identifier: MIT */
/*
 * The socket API: two instances, A (10.0.0.1) and B (10.0.0.2), joined by a
 * fake link (a ring of frames either side can be muted on) with a virtual
 * clock. Every test closes its descriptors and ends with lab_fini, which
 * checks that no descriptor, connection or buffer chunk was left behind.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bulkhead/tcp.h"
#include "tests/unit/bh_test.h"

#define MS 1000000ull
#define SEC 1000000000ull
#define IP_A 0x0a000001u
#define IP_B 0x0a000002u
#define PORT 8080
#define MAX_FRAME 2048

/* ---------------------------------------------------------------------- */
/* The lab: two instances and the wire between them */

struct lab;
struct side {
	struct lab *lab;
	int id; /* 0: A, 1: B */
};

struct slot {
	int to;
	uint32_t len;
	uint8_t bytes[MAX_FRAME];
};

struct lab {
	struct bh_tcp *t[2];
	struct side sides[2];
	struct slot *ring;
	size_t cap, first, count; /* frames in flight: ring[first .. first + count) */
	uint64_t now;
	bool mute[2];             /* drop whatever this side sends */
	uint64_t muted;
};

static int wire_tx(void *ctx, const uint8_t *frame, uint32_t len)
{
	struct side *sd = ctx;
	struct lab *l = sd->lab;
	if (l->mute[sd->id]) {
		l->muted++;
		return 0;
	}
	if (len > MAX_FRAME)
		return -EMSGSIZE;
	if (l->count == l->cap) {
		/* Grow and unwrap: the oldest frame moves to index 0. */
		size_t ncap = l->cap ? 2 * l->cap : 256;
		struct slot *r = malloc(ncap * sizeof(*r));
		for (size_t i = 0; i < l->count; i++)
			r[i] = l->ring[(l->first + i) % l->cap];
		free(l->ring);
		l->ring = r;
		l->cap = ncap;
		l->first = 0;
	}
	struct slot *s = &l->ring[(l->first + l->count) % l->cap];
	s->to = !sd->id;
	s->len = len;
	memcpy(s->bytes, frame, len);
	l->count++;
	return 0;
}

/* Deliver frames, and the ones they cause, until the wire is quiet.
 * Returns how many were delivered. */
static unsigned settle(struct lab *l)
{
	unsigned n = 0;
	struct slot s;
	while (l->count) {
		s = l->ring[l->first];
		l->first = (l->first + 1) % l->cap;
		l->count--;
		l->now += 10000; /* 10 us a frame */
		bh_tcp_input(l->t[s.to], s.bytes, s.len, l->now);
		n++;
	}
	return n;
}

/* Move the clock to the earliest deadline of either side (1 ms on if none)
 * and run both. */
static void tick(struct lab *l)
{
	uint64_t due = UINT64_MAX;
	for (int i = 0; i < 2; i++) {
		uint64_t d = bh_tcp_timer(l->t[i], l->now);
		if (d < due)
			due = d;
	}
	l->now = due > l->now && due != UINT64_MAX ? due : l->now + MS;
	for (int i = 0; i < 2; i++)
		bh_tcp_timer(l->t[i], l->now);
}

/* Let dt of virtual time pass, delivering frames as they come. */
static void wait_for(struct lab *l, uint64_t dt)
{
	uint64_t end = l->now + dt;
	settle(l);
	while (l->now < end) {
		tick(l);
		settle(l);
	}
}

static struct sockaddr_in sin_of(uint32_t ip, uint16_t port)
{
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(ip);
	a.sin_port = htons(port);
	return a;
}

#define SA(x) ((struct sockaddr *)(x))

static uint64_t ctr(const struct bh_tcp *t, const char *name);

static bool lab_init_fds(struct lab *l, uint32_t max_fds_b)
{
	memset(l, 0, sizeof(*l));
	l->now = 5 * SEC;
	for (int i = 0; i < 2; i++) {
		struct bh_tcp_conf c;
		memset(&c, 0, sizeof(c));
		c.ip = i ? IP_B : IP_A;
		c.mask = 0xffffff00u;
		c.mac[0] = 2;
		c.mac[5] = (uint8_t)(0x10 + i);
		c.max_conns = 2048;
		c.max_fds = i ? max_fds_b : 0;
		c.msl_s = 1;
		c.tx = wire_tx;
		c.tx_ctx = &l->sides[i];
		l->sides[i].lab = l;
		l->sides[i].id = i;
		l->t[i] = bh_tcp_create(&c, l->now);
		CHECK(l->t[i] != NULL);
		if (!l->t[i])
			return false;
	}
	/* Let the two resolve each other: A's first SYN waits on ARP, A's
	 * request teaches B about A, B's reply teaches A, and the SYN goes out
	 * the moment it does (no retransmission timeout): refused at once. */
	int fd = bh_socket(l->t[0], AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in b = sin_of(IP_B, 9);
	uint64_t t0 = l->now;
	CHECK_EQ(bh_connect(l->t[0], fd, SA(&b), sizeof(b)), -1);
	settle(l);
	int err = -1;
	socklen_t el = sizeof(err);
	CHECK_EQ(bh_getsockopt(l->t[0], fd, SOL_SOCKET, SO_ERROR, &err, &el), 0);
	CHECK_EQ(err, ECONNREFUSED);
	CHECK(l->now - t0 < 100 * MS);
	CHECK_EQ(ctr(l->t[0], "tcp_tx_arp_wait"), 1);
	CHECK_EQ(bh_close(l->t[0], fd), 0);
	return true;
}

static bool lab_init(struct lab *l)
{
	return lab_init_fds(l, 0);
}

/* Every test ends here: no descriptor left, connections drained (TIME-WAIT
 * included), no chunk leaked. */
static void lab_fini(struct lab *l)
{
	for (int i = 0; i < 2; i++)
		CHECK_EQ(bh_tcp_nr_fds(l->t[i]), 0);
	for (int k = 0; k < 1000 && (bh_tcp_nr_conns(l->t[0]) || bh_tcp_nr_conns(l->t[1])); k++)
		wait_for(l, 100 * MS);
	for (int i = 0; i < 2; i++) {
		CHECK_EQ(bh_tcp_nr_conns(l->t[i]), 0);
		CHECK_EQ(bh_tcp_destroy(l->t[i]), 0);
	}
	free(l->ring);
}

static uint64_t ctr(const struct bh_tcp *t, const char *name)
{
	const char *names[256];
	uint64_t vals[256];
	unsigned n = bh_tcp_counters(t, names, vals, 256);
	for (unsigned i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return vals[i];
	CHECK(!"no such counter");
	return 0;
}

/* -1 with the errno expected. */
#define CHECK_ERR(call, err)                                                       \
	do {                                                                       \
		errno = 0;                                                         \
		CHECK_EQ((call), -1);                                              \
		CHECK_EQ(errno, (err));                                            \
	} while (0)

static int listener(struct bh_tcp *t, uint16_t port, int backlog)
{
	int fd = bh_socket(t, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = sin_of(INADDR_ANY, port);
	CHECK_EQ(bh_bind(t, fd, SA(&a), sizeof(a)), 0);
	CHECK_EQ(bh_listen(t, fd, backlog), 0);
	return fd;
}

static int dial(struct bh_tcp *t, uint32_t ip, uint16_t port)
{
	int fd = bh_socket(t, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, IPPROTO_TCP);
	CHECK(fd >= 0);
	struct sockaddr_in a = sin_of(ip, port);
	CHECK_ERR(bh_connect(t, fd, SA(&a), sizeof(a)), EINPROGRESS);
	return fd;
}

/*
 * A lab with A's cfd connected to B's sfd, accepted from B's listener lfd
 * on PORT. A test closes what it is done with and sets it to -1; duo_down
 * closes the rest and ends the lab.
 */
struct duo {
	struct lab l;
	struct bh_tcp *a, *b;
	int lfd, sfd, cfd;
};

/* The lab alone: a test may make A's socket (and set options on it) before
 * duo_connect. */
static bool duo_lab(struct duo *d)
{
	d->lfd = d->sfd = d->cfd = -1;
	if (!lab_init(&d->l))
		return false;
	d->a = d->l.t[0];
	d->b = d->l.t[1];
	return true;
}

/* Connect cfd (A's socket, or -1 for a new one) to B's listener (made here
 * unless the test made it). */
static void duo_connect(struct duo *d, int cfd)
{
	if (d->lfd < 0)
		d->lfd = listener(d->b, PORT, 16);
	if (cfd < 0) {
		cfd = dial(d->a, IP_B, PORT);
	} else {
		struct sockaddr_in to = sin_of(IP_B, PORT);
		CHECK_ERR(bh_connect(d->a, cfd, SA(&to), sizeof(to)), EINPROGRESS);
	}
	d->cfd = cfd;
	settle(&d->l);
	d->sfd = bh_accept(d->b, d->lfd, NULL, NULL);
	CHECK(d->sfd >= 0);
}

static bool duo_up(struct duo *d)
{
	if (!duo_lab(d))
		return false;
	duo_connect(d, -1);
	return true;
}

/* Close one of the pair's descriptors now (duo_down skips it). */
static void duo_close(struct duo *d, int *fd)
{
	if (*fd >= 0)
		CHECK_EQ(bh_close(fd == &d->cfd ? d->a : d->b, *fd), 0);
	*fd = -1;
}

/* Close the pair's descriptors that are still open. */
static void duo_hangup(struct duo *d)
{
	duo_close(d, &d->cfd);
	duo_close(d, &d->sfd);
	duo_close(d, &d->lfd);
}

static void duo_down(struct duo *d)
{
	duo_hangup(d);
	lab_fini(&d->l);
}

static int get_int(struct bh_tcp *t, int fd, int level, int name)
{
	int v = -12345;
	socklen_t len = sizeof(v);
	CHECK_EQ(bh_getsockopt(t, fd, level, name, &v, &len), 0);
	CHECK_EQ(len, sizeof(int));
	return v;
}

static int set_int(struct bh_tcp *t, int fd, int level, int name, int v)
{
	return bh_setsockopt(t, fd, level, name, &v, sizeof(v));
}

static int ep_add(struct bh_tcp *t, int ep, int fd, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.fd = fd};
	return bh_epoll_ctl(t, ep, EPOLL_CTL_ADD, fd, &ev);
}

/* Wait once: the events reported for fd (0 if none), and the total count. */
static uint32_t ep_events(struct bh_tcp *t, int ep, int fd, int *total)
{
	struct epoll_event evs[64];
	int n = bh_epoll_wait(t, ep, evs, 64, 0);
	uint32_t m = 0;
	for (int i = 0; i < n; i++)
		if (evs[i].data.fd == fd)
			m |= evs[i].events;
	if (total)
		*total = n;
	return m;
}

static void close_all(struct bh_tcp *t, const int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		CHECK_EQ(bh_close(t, fds[i]), 0);
}

/* ---------------------------------------------------------------------- */

static void test_socket_errors(void)
{
	struct lab l;
	if (!lab_init(&l))
		return;
	struct bh_tcp *a = l.t[0], *b = l.t[1];
	char buf[16];

	CHECK_ERR(bh_socket(a, AF_INET6, SOCK_STREAM, 0), EAFNOSUPPORT);
	CHECK_ERR(bh_socket(a, AF_INET, SOCK_DGRAM, 0), EPROTONOSUPPORT);
	CHECK_ERR(bh_socket(a, AF_INET, SOCK_STREAM, IPPROTO_UDP), EPROTONOSUPPORT);
	CHECK_ERR(bh_socket(a, AF_INET, SOCK_STREAM | 0x100000, 0), EINVAL);
	int s = bh_socket(a, AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	CHECK(s >= 0);
	CHECK_EQ(get_int(a, s, SOL_SOCKET, SO_TYPE), SOCK_STREAM);

	/* EBADF and ENOTSOCK. */
	CHECK_ERR(bh_read(a, 4000000, buf, 1), EBADF);
	CHECK_ERR(bh_close(a, -1), EBADF);
	CHECK_ERR(bh_write(a, 77, buf, 1), EBADF);
	int ep = bh_epoll_create(a);
	CHECK(ep >= 0);
	struct sockaddr_in any = sin_of(INADDR_ANY, 0);
	CHECK_ERR(bh_bind(a, ep, SA(&any), sizeof(any)), ENOTSOCK);
	CHECK_ERR(bh_read(a, ep, buf, 1), ENOTSOCK);
	CHECK_ERR(bh_listen(a, ep, 1), ENOTSOCK);
	CHECK_ERR(set_int(a, ep, SOL_SOCKET, SO_KEEPALIVE, 1), ENOTSOCK);
	CHECK_ERR(bh_epoll_wait(a, s, (struct epoll_event[1]){0}, 1, 0), EINVAL);

	/* Unconnected: ENOTCONN. */
	CHECK_ERR(bh_read(a, s, buf, 1), ENOTCONN);
	CHECK_ERR(bh_write(a, s, "x", 1), ENOTCONN);
	CHECK_ERR(bh_shutdown(a, s, SHUT_WR), ENOTCONN);
	CHECK_ERR(bh_shutdown(a, s, 7), EINVAL);
	struct sockaddr_in peer;
	socklen_t plen = sizeof(peer);
	CHECK_ERR(bh_getpeername(a, s, SA(&peer), &plen), ENOTCONN);
	CHECK_ERR(bh_accept(a, s, NULL, NULL), EINVAL);

	/* bind: EINVAL, EAFNOSUPPORT, EADDRNOTAVAIL, EADDRINUSE. */
	struct sockaddr_in mine = sin_of(IP_A, 7000), other = sin_of(IP_B, 7001);
	CHECK_ERR(bh_bind(a, s, SA(&mine), 8), EINVAL);
	struct sockaddr_in v6 = mine;
	v6.sin_family = AF_INET6;
	CHECK_ERR(bh_bind(a, s, SA(&v6), sizeof(v6)), EAFNOSUPPORT);
	CHECK_ERR(bh_bind(a, s, SA(&other), sizeof(other)), EADDRNOTAVAIL);
	CHECK_EQ(bh_bind(a, s, SA(&mine), sizeof(mine)), 0);
	CHECK_ERR(bh_bind(a, s, SA(&mine), sizeof(mine)), EINVAL);
	int s2 = bh_socket(a, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in any7000 = sin_of(INADDR_ANY, 7000);
	CHECK_ERR(bh_bind(a, s2, SA(&any7000), sizeof(any7000)), EADDRINUSE);

	/* listen twice is fine; accept with nothing pending: EAGAIN. */
	CHECK_EQ(bh_listen(a, s, 4), 0);
	CHECK_EQ(bh_listen(a, s, 8), 0);
	CHECK_ERR(bh_accept(a, s, NULL, NULL), EAGAIN);
	CHECK_ERR(bh_accept4(a, s, NULL, NULL, 0x4000000), EINVAL);
	CHECK_ERR(bh_read(a, s, buf, 1), ENOTCONN);
	struct sockaddr_in to_b = sin_of(IP_B, PORT);
	CHECK_ERR(bh_connect(a, s, SA(&to_b), sizeof(to_b)), EISCONN);
	/* The port is free again once the listener is closed. */
	CHECK_EQ(bh_close(a, s), 0);
	CHECK_ERR(bh_close(a, s), EBADF);
	CHECK_EQ(bh_bind(a, s2, SA(&any7000), sizeof(any7000)), 0);

	/* connect: EAFNOSUPPORT, EINVAL, ENETUNREACH (no loopback),
	 * EINPROGRESS, EALREADY, then EISCONN; EAGAIN while connecting. */
	int lfd = listener(b, PORT, 4);
	CHECK_ERR(bh_connect(a, s2, SA(&v6), sizeof(v6)), EAFNOSUPPORT);
	struct sockaddr_in zero_port = sin_of(IP_B, 0), self = sin_of(IP_A, 80);
	CHECK_ERR(bh_connect(a, s2, SA(&zero_port), sizeof(zero_port)), EINVAL);
	CHECK_ERR(bh_connect(a, s2, SA(&self), sizeof(self)), ENETUNREACH);
	CHECK_ERR(bh_connect(a, s2, SA(&to_b), sizeof(to_b)), EINPROGRESS);
	CHECK_ERR(bh_connect(a, s2, SA(&to_b), sizeof(to_b)), EALREADY);
	CHECK_ERR(bh_write(a, s2, "x", 1), EAGAIN);
	CHECK_ERR(bh_read(a, s2, buf, 1), EAGAIN);
	CHECK_ERR(bh_shutdown(a, s2, SHUT_WR), ENOTCONN);
	CHECK_ERR(bh_listen(a, s2, 1), EINVAL);
	settle(&l);
	CHECK_ERR(bh_connect(a, s2, SA(&to_b), sizeof(to_b)), EISCONN);
	CHECK_EQ(get_int(a, s2, SOL_SOCKET, SO_ERROR), 0);
	CHECK_ERR(bh_read(a, s2, buf, 1), EAGAIN);
	struct sockaddr_in from;
	socklen_t flen = sizeof(from);
	int sfd = bh_accept4(b, lfd, SA(&from), &flen, SOCK_NONBLOCK | SOCK_CLOEXEC);
	CHECK(sfd >= 0);
	CHECK_EQ(flen, sizeof(from));
	CHECK_EQ(ntohl(from.sin_addr.s_addr), IP_A);
	CHECK_EQ(ntohs(from.sin_port), 7000);
	CHECK_EQ(bh_write(a, s2, "", 0), 0);
	CHECK_EQ(bh_read(b, sfd, buf, 0), 0);

	int fds_a[] = {ep, s2}, fds_b[] = {sfd, lfd};
	close_all(a, fds_a, 2);
	close_all(b, fds_b, 2);
	lab_fini(&l);
}

static void test_emfile(void)
{
	struct lab l;
	if (!lab_init_fds(&l, 3))
		return;
	struct bh_tcp *a = l.t[0], *b = l.t[1];
	int lfd = listener(b, PORT, 4);
	int s1 = bh_socket(b, AF_INET, SOCK_STREAM, 0);
	int ep = bh_epoll_create(b);
	CHECK(s1 >= 0 && ep >= 0);
	CHECK_EQ(bh_tcp_nr_fds(b), 3);
	CHECK_ERR(bh_socket(b, AF_INET, SOCK_STREAM, 0), EMFILE);
	CHECK_ERR(bh_epoll_create(b), EMFILE);
	/* A connection waits in the queue while the table is full. */
	int cfd = dial(a, IP_B, PORT);
	settle(&l);
	CHECK_ERR(bh_accept(b, lfd, NULL, NULL), EMFILE);
	CHECK_EQ(bh_close(b, s1), 0);
	int sfd = bh_accept(b, lfd, NULL, NULL);
	CHECK(sfd >= 0);
	CHECK_EQ(bh_write(b, sfd, "ok", 2), 2);
	settle(&l);
	char buf[4];
	CHECK_EQ(bh_read(a, cfd, buf, sizeof(buf)), 2);
	int fds_b[] = {sfd, lfd, ep};
	close_all(b, fds_b, 3);
	CHECK_EQ(bh_close(a, cfd), 0);
	lab_fini(&l);
}

static void test_refused(void)
{
	struct lab l;
	if (!lab_init(&l))
		return;
	struct bh_tcp *a = l.t[0];
	int ep = bh_epoll_create(a);
	int fd = dial(a, IP_B, 9999);
	CHECK_EQ(ep_add(a, ep, fd, EPOLLOUT), 0);
	CHECK_EQ(ep_events(a, ep, fd, NULL), 0); /* still connecting */
	settle(&l);
	uint32_t m = ep_events(a, ep, fd, NULL);
	CHECK((m & (EPOLLOUT | EPOLLERR)) == (EPOLLOUT | EPOLLERR));
	CHECK_EQ(get_int(a, fd, SOL_SOCKET, SO_ERROR), ECONNREFUSED);
	CHECK_EQ(get_int(a, fd, SOL_SOCKET, SO_ERROR), 0); /* read clears it */
	CHECK_EQ(ep_events(a, ep, fd, NULL) & EPOLLERR, 0);
	CHECK_EQ(ctr(a, "tcp_rst_accepted"), 2); /* this one and lab_init's */
	CHECK_EQ(ctr(l.t[1], "tcp_no_conn"), 2);
	/* The failed socket may connect again (Linux): first the reason... */
	struct sockaddr_in to = sin_of(IP_B, 9999);
	CHECK_ERR(bh_connect(a, fd, SA(&to), sizeof(to)), ECONNABORTED);
	/* ... then a fresh attempt, here to a listener. */
	int lfd = listener(l.t[1], PORT, 4);
	to = sin_of(IP_B, PORT);
	CHECK_ERR(bh_connect(a, fd, SA(&to), sizeof(to)), EINPROGRESS);
	settle(&l);
	CHECK_EQ(get_int(a, fd, SOL_SOCKET, SO_ERROR), 0);
	CHECK_EQ(ep_events(a, ep, fd, NULL), EPOLLOUT);
	int sfd = bh_accept(l.t[1], lfd, NULL, NULL);
	CHECK(sfd >= 0);
	/* A second refused connect whose error nobody read: connect reports it. */
	int fd2 = dial(a, IP_B, 9998);
	settle(&l);
	char c;
	CHECK_ERR(bh_read(a, fd2, &c, 1), ECONNREFUSED);
	CHECK_EQ(bh_read(a, fd2, &c, 1), 0);
	CHECK_ERR(bh_write(a, fd2, &c, 1), EPIPE);
	int fd3 = dial(a, IP_B, 9997);
	settle(&l);
	CHECK_ERR(bh_connect(a, fd3, SA(&to), sizeof(to)), ECONNREFUSED);
	int fds_a[] = {fd, fd2, fd3, ep}, fds_b[] = {sfd, lfd};
	close_all(a, fds_a, 4);
	close_all(l.t[1], fds_b, 2);
	lab_fini(&l);
}

/* ---------------------------------------------------------------------- */
/* Data */

static uint64_t fnv1a(uint64_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static void test_small_data(void)
{
	struct duo d;
	if (!duo_up(&d))
		return;
	struct bh_tcp *a = d.a, *b = d.b;
	CHECK_EQ(set_int(a, d.cfd, IPPROTO_TCP, TCP_NODELAY, 1), 0); /* no Nagle wait */
	char buf[64];
	CHECK_EQ(bh_write(a, d.cfd, "hello", 5), 5);
	struct iovec wv[3] = {{"one ", 4}, {"", 0}, {"two", 3}};
	CHECK_EQ(bh_writev(a, d.cfd, wv, 3), 7);
	settle(&d.l);
	char x[3], y[32];
	struct iovec rv[2] = {{x, sizeof(x)}, {y, sizeof(y)}};
	CHECK_EQ(bh_readv(b, d.sfd, rv, 2), 12);
	CHECK(memcmp(x, "hel", 3) == 0 && memcmp(y, "loone two", 9) == 0);
	CHECK_ERR(bh_read(b, d.sfd, buf, sizeof(buf)), EAGAIN);
	CHECK_EQ(bh_write(b, d.sfd, "back", 4), 4);
	settle(&d.l);
	CHECK_EQ(bh_read(a, d.cfd, buf, sizeof(buf)), 4);
	CHECK(memcmp(buf, "back", 4) == 0);
	CHECK_ERR(bh_readv(a, d.cfd, rv, -1), EINVAL);
	CHECK_ERR(bh_writev(a, d.cfd, wv, 5000), EINVAL);
	CHECK_EQ(bh_readv(a, d.cfd, rv, 0), 0);
	duo_close(&d, &d.sfd);
	wait_for(&d.l, 100 * MS); /* B's "back" waited for a delayed ACK (Nagle) */
	CHECK_EQ(bh_read(a, d.cfd, buf, sizeof(buf)), 0); /* end of stream */
	duo_down(&d);
}

struct flow {
	int fd;
	const uint8_t *src;
	size_t len, sent, got;
	uint64_t hash_in;
	bool eof, shut;
};

/* One step of a bulk stream: write what fits (writev, two pieces), read what
 * came (readv, two pieces). Returns true on progress. */
static bool flow_step(struct bh_tcp *t, struct flow *f, size_t expect)
{
	bool moved = false;
	if (f->sent < f->len) {
		size_t left = f->len - f->sent, cut = left / 3 + 1;
		struct iovec iv[2] = {{(void *)(f->src + f->sent), cut},
				      {(void *)(f->src + f->sent + cut), left - cut}};
		ssize_t r = bh_writev(t, f->fd, iv, 2);
		if (r > 0) {
			f->sent += (size_t)r;
			moved = true;
		} else {
			CHECK_EQ(errno, EAGAIN);
		}
	} else if (!f->shut) {
		CHECK_EQ(bh_shutdown(t, f->fd, SHUT_WR), 0);
		f->shut = moved = true;
	}
	while (!f->eof) {
		uint8_t p1[1000], p2[3000];
		struct iovec iv[2] = {{p1, sizeof(p1)}, {p2, sizeof(p2)}};
		ssize_t r = bh_readv(t, f->fd, iv, 2);
		if (r < 0) {
			CHECK_EQ(errno, EAGAIN);
			break;
		}
		moved = true;
		if (r == 0) {
			f->eof = true;
			break;
		}
		size_t n1 = (size_t)r < sizeof(p1) ? (size_t)r : sizeof(p1);
		f->hash_in = fnv1a(f->hash_in, p1, n1);
		f->hash_in = fnv1a(f->hash_in, p2, (size_t)r - n1);
		f->got += (size_t)r;
	}
	CHECK(f->got <= expect);
	return moved;
}

static void test_bulk_both_ways(void)
{
	struct duo d;
	if (!duo_up(&d))
		return;
	const size_t len = 1u << 20;
	uint8_t *data[2];
	uint64_t hash[2];
	for (int i = 0; i < 2; i++) {
		data[i] = malloc(len);
		uint32_t x = 2463534242u + (uint32_t)i;
		for (size_t k = 0; k < len; k++) {
			x ^= x << 13, x ^= x >> 17, x ^= x << 5;
			data[i][k] = (uint8_t)x;
		}
		hash[i] = fnv1a(0xcbf29ce484222325ull, data[i], len);
	}
	struct flow f[2] = {
		{.fd = d.cfd, .src = data[0], .len = len, .hash_in = 0xcbf29ce484222325ull},
		{.fd = d.sfd, .src = data[1], .len = len, .hash_in = 0xcbf29ce484222325ull},
	};
	for (int it = 0; it < 200000 && !(f[0].eof && f[1].eof); it++) {
		bool moved = flow_step(d.a, &f[0], len);
		moved |= flow_step(d.b, &f[1], len);
		if (!settle(&d.l) && !moved)
			tick(&d.l);
	}
	CHECK(f[0].eof && f[1].eof);
	CHECK_EQ(f[0].got, len);
	CHECK_EQ(f[1].got, len);
	CHECK(f[0].hash_in == hash[1]);
	CHECK(f[1].hash_in == hash[0]);
	CHECK_EQ(ctr(d.a, "tcp_rto_expired") + ctr(d.b, "tcp_rto_expired"), 0);
	free(data[0]);
	free(data[1]);
	duo_down(&d);
}

static void test_half_close(void)
{
	struct duo d;
	if (!duo_up(&d))
		return;
	struct bh_tcp *a = d.a, *b = d.b;
	int ep = bh_epoll_create(b);
	CHECK_EQ(ep_add(b, ep, d.sfd, EPOLLIN | EPOLLRDHUP), 0);
	CHECK_EQ(ep_events(b, ep, d.sfd, NULL), 0);
	CHECK_EQ(bh_write(a, d.cfd, "last", 4), 4);
	CHECK_EQ(bh_shutdown(a, d.cfd, SHUT_WR), 0);
	CHECK_EQ(bh_shutdown(a, d.cfd, SHUT_WR), 0); /* idempotent */
	CHECK_ERR(bh_write(a, d.cfd, "x", 1), EPIPE);
	settle(&d.l);
	/* B sees the data, then end of stream, and EPOLLRDHUP. */
	uint32_t m = ep_events(b, ep, d.sfd, NULL);
	CHECK_EQ(m, EPOLLIN | EPOLLRDHUP);
	char buf[4096];
	CHECK_EQ(bh_read(b, d.sfd, buf, sizeof(buf)), 4);
	CHECK_EQ(bh_read(b, d.sfd, buf, sizeof(buf)), 0);
	CHECK_EQ(bh_read(b, d.sfd, buf, sizeof(buf)), 0);
	/* B keeps sending: 200 KB flow to A's half-closed socket. */
	size_t sent = 0, got = 0;
	uint64_t hs = 0xcbf29ce484222325ull, hr = hs;
	for (int it = 0; it < 10000 && got < 200000; it++) {
		if (sent < 200000) {
			uint8_t chunk[1500];
			for (size_t k = 0; k < sizeof(chunk); k++)
				chunk[k] = (uint8_t)((sent + k) * 7);
			size_t n = 200000 - sent < sizeof(chunk) ? 200000 - sent : sizeof(chunk);
			ssize_t r = bh_write(b, d.sfd, chunk, n);
			if (r > 0) {
				hs = fnv1a(hs, chunk, (size_t)r);
				sent += (size_t)r;
			}
		}
		if (!settle(&d.l))
			tick(&d.l); /* the tail waits on a delayed ACK (Nagle) */
		ssize_t r;
		while ((r = bh_read(a, d.cfd, buf, sizeof(buf))) > 0) {
			hr = fnv1a(hr, (uint8_t *)buf, (size_t)r);
			got += (size_t)r;
		}
	}
	CHECK_EQ(got, 200000);
	CHECK(hs == hr);
	/* B closes: A reads end of stream, both sides are done. */
	duo_close(&d, &d.sfd);
	wait_for(&d.l, 100 * MS);
	CHECK_EQ(bh_read(a, d.cfd, buf, sizeof(buf)), 0);
	CHECK_EQ(bh_close(b, ep), 0);
	duo_down(&d);
}

static void test_shut_rd(void)
{
	struct duo d;
	if (!duo_up(&d))
		return;
	struct bh_tcp *a = d.a, *b = d.b;
	CHECK_EQ(bh_write(a, d.cfd, "early", 5), 5);
	settle(&d.l);
	CHECK_EQ(bh_shutdown(b, d.sfd, SHUT_RD), 0);
	char buf[64];
	CHECK_EQ(bh_read(b, d.sfd, buf, sizeof(buf)), 0);
	/* Input is discarded as it comes: A can send far more than B's
	 * receive buffer holds. */
	static uint8_t big[64 << 10];
	size_t sent = 0;
	for (int it = 0; it < 2000 && sent < (1u << 20); it++) {
		ssize_t r = bh_write(a, d.cfd, big, sizeof(big));
		if (r > 0)
			sent += (size_t)r;
		if (!settle(&d.l))
			tick(&d.l);
	}
	CHECK(sent >= (1u << 20));
	CHECK_EQ(bh_read(b, d.sfd, buf, sizeof(buf)), 0);
	/* Writing the other way still works. */
	CHECK_EQ(bh_write(b, d.sfd, "still", 5), 5);
	settle(&d.l);
	CHECK_EQ(bh_read(a, d.cfd, buf, sizeof(buf)), 5);
	/* No unread data at close: a graceful close, A sees end of stream. */
	duo_close(&d, &d.sfd);
	settle(&d.l);
	CHECK_EQ(bh_read(a, d.cfd, buf, sizeof(buf)), 0);
	duo_down(&d);
}

/* ---------------------------------------------------------------------- */
/* Resets */

static void test_close_unread_resets(void)
{
	struct duo d;
	if (!duo_up(&d))
		return;
	struct bh_tcp *a = d.a, *b = d.b;
	int ep = bh_epoll_create(a);
	CHECK_EQ(ep_add(a, ep, d.cfd, EPOLLIN), 0);
	CHECK_EQ(bh_write(a, d.cfd, "unread", 6), 6);
	settle(&d.l);
	uint64_t rst0 = ctr(b, "tcp_rst_sent");
	duo_close(&d, &d.sfd);
	settle(&d.l);
	CHECK_EQ(ctr(b, "tcp_rst_sent"), rst0 + 1);
	uint32_t m = ep_events(a, ep, d.cfd, NULL);
	CHECK((m & (EPOLLIN | EPOLLHUP | EPOLLERR)) == (EPOLLIN | EPOLLHUP | EPOLLERR));
	char buf[8];
	CHECK_ERR(bh_read(a, d.cfd, buf, sizeof(buf)), ECONNRESET);
	/* Reported once; then end of stream, EPIPE, and no more EPOLLERR. */
	CHECK_EQ(bh_read(a, d.cfd, buf, sizeof(buf)), 0);
	CHECK_ERR(bh_write(a, d.cfd, "x", 1), EPIPE);
	CHECK_EQ(get_int(a, d.cfd, SOL_SOCKET, SO_ERROR), 0);
	m = ep_events(a, ep, d.cfd, NULL);
	CHECK_EQ(m & EPOLLERR, 0);
	CHECK(m & EPOLLHUP);
	CHECK_ERR(bh_shutdown(a, d.cfd, SHUT_RDWR), ENOTCONN);
	CHECK_EQ(bh_close(a, ep), 0);
	duo_down(&d);
}

static void test_linger(void)
{
	struct duo d;
	if (!duo_up(&d))
		return;
	struct bh_tcp *a = d.a, *b = d.b;
	struct linger lg = {1, 0}, got;
	socklen_t len = sizeof(got);
	CHECK_ERR(bh_setsockopt(b, d.sfd, SOL_SOCKET, SO_LINGER, &lg, 4), EINVAL);
	CHECK_EQ(bh_setsockopt(b, d.sfd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	CHECK_EQ(bh_getsockopt(b, d.sfd, SOL_SOCKET, SO_LINGER, &got, &len), 0);
	CHECK_EQ(len, sizeof(got));
	CHECK(got.l_onoff == 1 && got.l_linger == 0);
	uint64_t rst0 = ctr(b, "tcp_rst_sent");
	duo_close(&d, &d.sfd); /* nothing unread: only SO_LINGER resets */
	settle(&d.l);
	CHECK_EQ(ctr(b, "tcp_rst_sent"), rst0 + 1);
	char buf[8];
	CHECK_ERR(bh_read(a, d.cfd, buf, sizeof(buf)), ECONNRESET);
	duo_hangup(&d);

	/* A non-zero linger time closes gracefully (set before connect). */
	int cfd = bh_socket(a, AF_INET, SOCK_STREAM, 0);
	lg.l_linger = 5;
	CHECK_EQ(bh_setsockopt(a, cfd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	duo_connect(&d, cfd);
	len = sizeof(got);
	CHECK_EQ(bh_getsockopt(a, d.cfd, SOL_SOCKET, SO_LINGER, &got, &len), 0);
	CHECK(got.l_onoff == 1 && got.l_linger == 5);
	rst0 = ctr(a, "tcp_rst_sent");
	CHECK_EQ(bh_write(a, d.cfd, "bye", 3), 3);
	duo_close(&d, &d.cfd);
	settle(&d.l);
	CHECK_EQ(ctr(a, "tcp_rst_sent"), rst0);
	CHECK_EQ(bh_read(b, d.sfd, buf, sizeof(buf)), 3);
	CHECK_EQ(bh_read(b, d.sfd, buf, sizeof(buf)), 0);
	duo_down(&d);
}

/* ---------------------------------------------------------------------- */
/* Options */

static void test_sndbuf(void)
{
	struct duo d;
	if (!duo_lab(&d))
		return;
	struct bh_tcp *a = d.a, *b = d.b;
	d.cfd = bh_socket(a, AF_INET, SOCK_STREAM, 0);
	CHECK_EQ(get_int(a, d.cfd, SOL_SOCKET, SO_SNDBUF), 256 << 10);
	CHECK_ERR(set_int(a, d.cfd, SOL_SOCKET, SO_SNDBUF, 100), EINVAL);
	CHECK_ERR(set_int(a, d.cfd, SOL_SOCKET, SO_SNDBUF, -1), EINVAL);
	int v = 4096;
	CHECK_ERR(bh_setsockopt(a, d.cfd, SOL_SOCKET, SO_SNDBUF, &v, 2), EINVAL);
	CHECK_EQ(set_int(a, d.cfd, SOL_SOCKET, SO_SNDBUF, 4096), 0);
	CHECK_EQ(get_int(a, d.cfd, SOL_SOCKET, SO_SNDBUF), 4096);
	duo_connect(&d, d.cfd);
	CHECK_EQ(get_int(a, d.cfd, SOL_SOCKET, SO_SNDBUF), 4096);
	static uint8_t big[100000];
	/* Until B acknowledges, 4 KiB is all A takes. */
	CHECK_EQ(bh_write(a, d.cfd, big, sizeof(big)), 4096);
	CHECK_ERR(bh_write(a, d.cfd, big, sizeof(big)), EAGAIN);
	int ep = bh_epoll_create(a);
	CHECK_EQ(ep_add(a, ep, d.cfd, EPOLLOUT | EPOLLET), 0);
	CHECK_EQ(ep_events(a, ep, d.cfd, NULL), 0);
	wait_for(&d.l, 100 * MS); /* the last segment's ACK is a delayed one */
	CHECK_EQ(ep_events(a, ep, d.cfd, NULL), EPOLLOUT); /* the ACKs made room */
	CHECK_EQ(bh_write(a, d.cfd, big, sizeof(big)), 4096);
	/* Raising SO_SNDBUF makes room at once, and says so. */
	CHECK_EQ(set_int(a, d.cfd, SOL_SOCKET, SO_SNDBUF, 65536), 0);
	CHECK_EQ(ep_events(a, ep, d.cfd, NULL), EPOLLOUT);
	CHECK_EQ(bh_write(a, d.cfd, big, sizeof(big)), 65536 - 4096);
	wait_for(&d.l, 100 * MS);
	char buf[4096];
	ssize_t r;
	size_t got = 0;
	while ((r = bh_read(b, d.sfd, buf, sizeof(buf))) > 0)
		got += (size_t)r;
	CHECK_EQ(got, 4096 + 65536);
	CHECK_EQ(bh_close(a, ep), 0);
	duo_down(&d);
}

/* B floods A, who does not read; returns the bytes A then holds. */
static size_t held_unread(struct duo *d, int rcvbuf)
{
	int cfd = bh_socket(d->a, AF_INET, SOCK_STREAM, 0);
	if (rcvbuf) {
		CHECK_EQ(set_int(d->a, cfd, SOL_SOCKET, SO_RCVBUF, rcvbuf), 0);
		CHECK_EQ(get_int(d->a, cfd, SOL_SOCKET, SO_RCVBUF), rcvbuf);
	}
	duo_connect(d, cfd);
	static uint8_t big[32 << 10];
	for (int it = 0; it < 50; it++) {
		(void)bh_write(d->b, d->sfd, big, sizeof(big));
		if (!settle(&d->l))
			tick(&d->l);
	}
	size_t held = 0;
	char buf[4096];
	ssize_t r;
	while ((r = bh_read(d->a, d->cfd, buf, sizeof(buf))) > 0)
		held += (size_t)r;
	if (rcvbuf)
		CHECK_EQ(get_int(d->a, d->cfd, SOL_SOCKET, SO_RCVBUF), rcvbuf);
	duo_hangup(d);
	settle(&d->l);
	return held;
}

static void test_rcvbuf(void)
{
	struct duo d;
	if (!duo_lab(&d))
		return;
	size_t small = held_unread(&d, 8192);
	size_t dflt = held_unread(&d, 0);
	CHECK(small > 0 && small <= 8192);
	CHECK(dflt > 128 << 10);
	CHECK_ERR(set_int(d.a, 42, SOL_SOCKET, SO_RCVBUF, 8192), EBADF);
	duo_down(&d);
}

static void test_nodelay_and_others(void)
{
	struct duo d;
	if (!duo_lab(&d))
		return;
	struct bh_tcp *a = d.a, *b = d.b;
	d.lfd = listener(b, PORT, 4);
	CHECK_EQ(get_int(b, d.lfd, IPPROTO_TCP, TCP_NODELAY), 0);
	CHECK_EQ(set_int(b, d.lfd, IPPROTO_TCP, TCP_NODELAY, 5), 0); /* any non-zero: on */
	CHECK_EQ(get_int(b, d.lfd, IPPROTO_TCP, TCP_NODELAY), 1);
	CHECK_EQ(set_int(b, d.lfd, SOL_SOCKET, SO_REUSEADDR, 1), 0);
	CHECK_EQ(get_int(b, d.lfd, SOL_SOCKET, SO_REUSEADDR), 1);
	CHECK_EQ(get_int(b, d.lfd, IPPROTO_TCP, TCP_MAXSEG), 1460);
	CHECK_ERR(set_int(b, d.lfd, IPPROTO_TCP, TCP_MAXSEG, 1000), ENOPROTOOPT);
	CHECK_ERR(set_int(b, d.lfd, SOL_SOCKET, SO_ERROR, 0), ENOPROTOOPT);
	CHECK_ERR(set_int(b, d.lfd, SOL_SOCKET, SO_BROADCAST, 1), ENOPROTOOPT);
	CHECK_ERR(set_int(b, d.lfd, IPPROTO_TCP, TCP_INFO, 1), ENOPROTOOPT);
	CHECK_ERR(set_int(b, d.lfd, IPPROTO_IP, IP_TOS, 1), ENOPROTOOPT);
	CHECK_ERR(set_int(b, d.lfd, IPPROTO_TCP, TCP_KEEPCNT, 0), EINVAL);
	CHECK_ERR(set_int(b, d.lfd, IPPROTO_TCP, TCP_KEEPIDLE, 40000), EINVAL);
	CHECK_ERR(bh_setsockopt(b, d.lfd, SOL_SOCKET, SO_KEEPALIVE, NULL, 4), EFAULT);
	int v;
	socklen_t len = 2;
	CHECK_ERR(bh_getsockopt(b, d.lfd, IPPROTO_TCP, TCP_NODELAY, &v, &len), EINVAL);
	duo_connect(&d, -1);
	CHECK_EQ(get_int(b, d.sfd, IPPROTO_TCP, TCP_NODELAY), 1); /* inherited */
	CHECK_EQ(get_int(b, d.sfd, SOL_SOCKET, SO_REUSEADDR), 1);
	CHECK_EQ(get_int(a, d.cfd, IPPROTO_TCP, TCP_NODELAY), 0);
	CHECK_EQ(set_int(a, d.cfd, IPPROTO_TCP, TCP_NODELAY, 1), 0);
	CHECK_EQ(get_int(a, d.cfd, IPPROTO_TCP, TCP_NODELAY), 1);
	CHECK_EQ(set_int(b, d.sfd, IPPROTO_TCP, TCP_NODELAY, 0), 0);
	CHECK_EQ(get_int(b, d.sfd, IPPROTO_TCP, TCP_NODELAY), 0);
	CHECK_EQ(get_int(a, d.cfd, IPPROTO_TCP, TCP_MAXSEG), 1460);
	CHECK_EQ(get_int(a, d.cfd, SOL_SOCKET, SO_KEEPALIVE), 0);
	CHECK_EQ(get_int(a, d.cfd, IPPROTO_TCP, TCP_KEEPIDLE), 7200);
	CHECK_EQ(get_int(a, d.cfd, IPPROTO_TCP, TCP_KEEPINTVL), 75);
	CHECK_EQ(get_int(a, d.cfd, IPPROTO_TCP, TCP_KEEPCNT), 9);
	/* TCP_NODELAY has effect: with Nagle, a short write waits while
	 * another is unacknowledged (B delays its ACK); without, it goes. */
	CHECK_EQ(set_int(a, d.cfd, IPPROTO_TCP, TCP_NODELAY, 0), 0);
	char two[2];
	CHECK_EQ(bh_write(a, d.cfd, "n", 1), 1);
	wait_for(&d.l, 100 * MS);
	CHECK_EQ(bh_read(b, d.sfd, two, 2), 1);
	uint64_t held = ctr(a, "tcp_nagle_held");
	CHECK_EQ(bh_write(a, d.cfd, "b", 1), 1);
	CHECK_EQ(bh_write(a, d.cfd, "c", 1), 1);
	CHECK_EQ(ctr(a, "tcp_nagle_held"), held + 1);
	settle(&d.l);
	CHECK_EQ(bh_read(b, d.sfd, two, 2), 1);
	wait_for(&d.l, 100 * MS);
	CHECK_EQ(bh_read(b, d.sfd, two, 2), 1);
	CHECK_EQ(two[0], 'c');
	CHECK_EQ(set_int(a, d.cfd, IPPROTO_TCP, TCP_NODELAY, 1), 0);
	CHECK_EQ(bh_write(a, d.cfd, "d", 1), 1);
	CHECK_EQ(bh_write(a, d.cfd, "e", 1), 1);
	settle(&d.l);
	CHECK_EQ(bh_read(b, d.sfd, two, 2), 2);
	CHECK_EQ(ctr(a, "tcp_nagle_held"), held + 1);
	duo_down(&d);
}

/* writev with TCP_NODELAY: the pieces of one call leave as one segment. */
static void test_writev_one_segment(void)
{
	struct duo d;
	if (!duo_up(&d))
		return;
	CHECK_EQ(set_int(d.a, d.cfd, IPPROTO_TCP, TCP_NODELAY, 1), 0);
	char head[261], body[10];
	memset(head, 'h', sizeof(head));
	memset(body, 'b', sizeof(body));
	struct iovec iov[2] = {{head, sizeof(head)}, {body, sizeof(body)}};
	uint64_t out = ctr(d.a, "tcp_seg_out");
	CHECK_EQ(bh_writev(d.a, d.cfd, iov, 2), (ssize_t)(sizeof(head) + sizeof(body)));
	CHECK_EQ(ctr(d.a, "tcp_seg_out"), out + 1);
	settle(&d.l);
	char buf[512];
	CHECK_EQ(bh_read(d.b, d.sfd, buf, sizeof(buf)), (ssize_t)(sizeof(head) + sizeof(body)));
	CHECK(memcmp(buf + sizeof(head), body, sizeof(body)) == 0);
	duo_down(&d);
}

/* MSG_MORE holds bytes until a write without it, a close (the FIN rides on
 * them), bh_tcp_flush, bh_epoll_wait or bh_tcp_timer; a full send buffer
 * goes at once. */
static void test_send_more(void)
{
	struct duo d;
	if (!duo_up(&d))
		return;
	char buf[8192];
	static char big[1 << 20];
	CHECK_EQ(set_int(d.b, d.sfd, IPPROTO_TCP, TCP_NODELAY, 1), 0);
	CHECK_ERR(bh_send(d.b, d.sfd, "x", 1, MSG_OOB), EOPNOTSUPP);
	CHECK_ERR(bh_send(d.b, 999, "x", 1, MSG_MORE), EBADF);
	uint64_t out = ctr(d.b, "tcp_seg_out");
	CHECK_EQ(bh_send(d.b, d.sfd, "ab", 2, MSG_MORE | MSG_NOSIGNAL), 2);
	CHECK_EQ(bh_send(d.b, d.sfd, "cd", 2, MSG_MORE | MSG_DONTWAIT), 2);
	CHECK_EQ(ctr(d.b, "tcp_seg_out"), out);
	bh_tcp_flush(d.b);
	CHECK_EQ(ctr(d.b, "tcp_seg_out"), out + 1);
	bh_tcp_flush(d.b); /* nothing held now */
	CHECK_EQ(ctr(d.b, "tcp_seg_out"), out + 1);
	/* a write without the flag sends what was held with it */
	CHECK_EQ(bh_send(d.b, d.sfd, "ef", 2, MSG_MORE), 2);
	CHECK_EQ(bh_send(d.b, d.sfd, "gh", 2, 0), 2);
	CHECK_EQ(ctr(d.b, "tcp_seg_out"), out + 2);
	/* the next epoll_wait, or the timer, pushes */
	int ep = bh_epoll_create(d.b);
	struct epoll_event ev;
	CHECK_EQ(bh_send(d.b, d.sfd, "ij", 2, MSG_MORE), 2);
	CHECK_EQ(bh_epoll_wait(d.b, ep, &ev, 1, 0), 0);
	CHECK_EQ(ctr(d.b, "tcp_seg_out"), out + 3);
	CHECK_EQ(bh_send(d.b, d.sfd, "kl", 2, MSG_MORE), 2);
	bh_tcp_timer(d.b, d.l.now);
	CHECK_EQ(ctr(d.b, "tcp_seg_out"), out + 4);
	bh_close(d.b, ep);
	settle(&d.l);
	CHECK_EQ(bh_read(d.a, d.cfd, buf, sizeof(buf)), 12);
	CHECK(memcmp(buf, "abcdefghijkl", 12) == 0);
	/* more than the buffer takes: what it took goes at once */
	CHECK_EQ(set_int(d.b, d.sfd, SOL_SOCKET, SO_SNDBUF, 4096), 0);
	out = ctr(d.b, "tcp_seg_out");
	ssize_t n = bh_send(d.b, d.sfd, big, sizeof(big), MSG_MORE);
	CHECK(n > 0 && n < (ssize_t)sizeof(big));
	CHECK(ctr(d.b, "tcp_seg_out") > out);
	CHECK_ERR(bh_send(d.b, d.sfd, big, sizeof(big), MSG_MORE), EAGAIN);
	while (bh_read(d.a, d.cfd, buf, sizeof(buf)) > 0 || d.l.count) {
		settle(&d.l);
		tick(&d.l);
	}
	/* held, then close: one segment with data and FIN */
	out = ctr(d.b, "tcp_seg_out");
	CHECK_EQ(bh_send(d.b, d.sfd, "bye", 3, MSG_MORE), 3);
	duo_close(&d, &d.sfd);
	CHECK_EQ(ctr(d.b, "tcp_seg_out"), out + 1);
	bh_tcp_flush(d.b); /* the descriptor is gone: nothing more */
	CHECK_EQ(ctr(d.b, "tcp_seg_out"), out + 1);
	settle(&d.l);
	CHECK_EQ(bh_read(d.a, d.cfd, buf, sizeof(buf)), 3);
	CHECK_EQ(bh_read(d.a, d.cfd, buf, sizeof(buf)), 0);
	CHECK_EQ(bh_shutdown(d.a, d.cfd, SHUT_WR), 0);
	CHECK_ERR(bh_send(d.a, d.cfd, "x", 1, MSG_MORE), EPIPE);
	duo_down(&d);
}

/* bh_sendfile: a head and a file in one segment, a file larger than the
 * send buffer streamed whole, the file's end, its errors and the socket's. */
static void test_sendfile(void)
{
	struct duo d;
	if (!duo_up(&d))
		return;
	const size_t len = 700000;
	uint8_t *data = malloc(len), *got = malloc(len);
	for (size_t k = 0; k < len; k++)
		data[k] = (uint8_t)(k * 7 + (k >> 9));
	int fd = memfd_create("sendfile", MFD_CLOEXEC);
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, data, len), (ssize_t)len);
	CHECK_EQ(set_int(d.b, d.sfd, IPPROTO_TCP, TCP_NODELAY, 1), 0);
	CHECK_ERR(bh_sendfile(d.b, d.sfd, fd, 0, 10, MSG_OOB), EOPNOTSUPP);
	CHECK_ERR(bh_sendfile(d.b, 999, fd, 0, 10, 0), EBADF);
	CHECK_EQ(bh_sendfile(d.b, d.sfd, fd, 0, 0, 0), 0);
	/* A head, then 100 bytes of the file from offset 5000, held: one segment. */
	uint64_t out = ctr(d.b, "tcp_seg_out");
	CHECK_EQ(bh_send(d.b, d.sfd, "HEAD", 4, MSG_MORE), 4);
	CHECK_EQ(bh_sendfile(d.b, d.sfd, fd, 5000, 100, MSG_MORE), 100);
	CHECK_EQ(ctr(d.b, "tcp_seg_out"), out);
	bh_tcp_flush(d.b);
	CHECK_EQ(ctr(d.b, "tcp_seg_out"), out + 1);
	settle(&d.l);
	CHECK_EQ(bh_read(d.a, d.cfd, got, len), 104);
	CHECK(memcmp(got, "HEAD", 4) == 0 && memcmp(got + 4, data + 5000, 100) == 0);
	/* Without the flag it goes at once; the file's own offset never moves. */
	CHECK_EQ(bh_sendfile(d.b, d.sfd, fd, 0, 10, 0), 10);
	CHECK_EQ(ctr(d.b, "tcp_seg_out"), out + 2);
	CHECK_EQ(lseek(fd, 0, SEEK_CUR), (off_t)len);
	settle(&d.l);
	CHECK_EQ(bh_read(d.a, d.cfd, got, len), 10);
	/* More than the buffer takes, held: what it took goes at once. */
	CHECK_EQ(set_int(d.b, d.sfd, SOL_SOCKET, SO_SNDBUF, 4096), 0);
	out = ctr(d.b, "tcp_seg_out");
	ssize_t took = bh_sendfile(d.b, d.sfd, fd, 0, 100000, MSG_MORE);
	CHECK(took > 0 && took < 100000);
	CHECK(ctr(d.b, "tcp_seg_out") > out);
	settle(&d.l);
	CHECK_EQ(bh_read(d.a, d.cfd, got, len), took);
	CHECK(memcmp(got, data, (size_t)took) == 0);
	/* The whole file through a 64 KiB send buffer: what a call took, the
	 * rest later, as the peer reads. */
	CHECK_EQ(set_int(d.b, d.sfd, SOL_SOCKET, SO_SNDBUF, 65536), 0);
	size_t off = 0, rd = 0;
	int eagain = 0, bad = 0;
	for (int it = 0; it < 100000 && rd < len; it++) {
		while (off < len) { /* until the buffer is full */
			ssize_t n = bh_sendfile(d.b, d.sfd, fd, off, len - off, MSG_MORE);
			if (n > 0) {
				off += (size_t)n;
				continue;
			}
			if (n < 0 && errno == EAGAIN)
				eagain++;
			else
				bad++;
			break;
		}
		ssize_t r = bh_read(d.a, d.cfd, got + rd, len - rd);
		if (r > 0)
			rd += (size_t)r;
		if (!settle(&d.l))
			tick(&d.l);
	}
	CHECK_EQ(bad, 0);
	CHECK(eagain > 0);
	CHECK_EQ(rd, len);
	CHECK(memcmp(got, data, len) == 0);
	/* The file's end: 0, as sendfile(2); fewer bytes than asked if it ends
	 * first; a read that fails: its error. */
	CHECK_EQ(bh_sendfile(d.b, d.sfd, fd, len, 10, 0), 0);
	CHECK_EQ(bh_sendfile(d.b, d.sfd, fd, len - 3, 10, 0), 3);
	int pipefd[2];
	CHECK(pipe(pipefd) == 0);
	CHECK_ERR(bh_sendfile(d.b, d.sfd, pipefd[0], 0, 10, 0), ESPIPE);
	CHECK_ERR(bh_sendfile(d.b, d.sfd, -1, 0, 10, 0), EBADF);
	close(pipefd[0]);
	close(pipefd[1]);
	settle(&d.l);
	CHECK_EQ(bh_read(d.a, d.cfd, got, len), 3);
	CHECK(memcmp(got, data + len - 3, 3) == 0);
	/* After shutdown: EPIPE, the file not read. */
	CHECK_EQ(bh_shutdown(d.b, d.sfd, SHUT_WR), 0);
	CHECK_ERR(bh_sendfile(d.b, d.sfd, fd, 0, 10, 0), EPIPE);
	close(fd);
	free(data);
	free(got);
	duo_down(&d);
}

static void test_keepalive(void)
{
	struct duo d;
	if (!duo_lab(&d))
		return;
	struct bh_tcp *a = d.a, *b = d.b;
	/* Set before connect: applied when the connection exists. */
	d.cfd = bh_socket(a, AF_INET, SOCK_STREAM, 0);
	CHECK_EQ(set_int(a, d.cfd, SOL_SOCKET, SO_KEEPALIVE, 1), 0);
	CHECK_EQ(set_int(a, d.cfd, IPPROTO_TCP, TCP_KEEPIDLE, 2), 0);
	CHECK_EQ(set_int(a, d.cfd, IPPROTO_TCP, TCP_KEEPINTVL, 1), 0);
	CHECK_EQ(set_int(a, d.cfd, IPPROTO_TCP, TCP_KEEPCNT, 3), 0);
	duo_connect(&d, d.cfd);
	CHECK_EQ(get_int(a, d.cfd, SOL_SOCKET, SO_KEEPALIVE), 1);
	CHECK_EQ(get_int(a, d.cfd, IPPROTO_TCP, TCP_KEEPIDLE), 2);
	CHECK_EQ(get_int(a, d.cfd, IPPROTO_TCP, TCP_KEEPINTVL), 1);
	CHECK_EQ(get_int(a, d.cfd, IPPROTO_TCP, TCP_KEEPCNT), 3);
	int ep = bh_epoll_create(a);
	CHECK_EQ(ep_add(a, ep, d.cfd, EPOLLIN | EPOLLET), 0);
	/* B answers the probes: the connection stays. */
	wait_for(&d.l, 7 * SEC);
	uint64_t probes = ctr(a, "tcp_keepalive_probes");
	CHECK(probes >= 2);
	CHECK_EQ(ctr(a, "tcp_keepalive_drops"), 0);
	CHECK_EQ(ep_events(a, ep, d.cfd, NULL), 0);
	/* B goes silent: three probes, then the connection is dropped. */
	d.l.mute[1] = true;
	uint32_t m = 0;
	uint64_t t0 = d.l.now;
	while (!m && d.l.now - t0 < 20 * SEC) {
		wait_for(&d.l, 100 * MS);
		m = ep_events(a, ep, d.cfd, NULL);
	}
	CHECK((m & (EPOLLERR | EPOLLHUP)) == (EPOLLERR | EPOLLHUP));
	CHECK(d.l.now - t0 <= 6 * SEC);
	CHECK_EQ(ctr(a, "tcp_keepalive_probes"), probes + 3);
	CHECK_EQ(ctr(a, "tcp_keepalive_drops"), 1);
	CHECK_EQ(get_int(a, d.cfd, SOL_SOCKET, SO_ERROR), ETIMEDOUT);
	char c;
	CHECK_EQ(bh_read(a, d.cfd, &c, 1), 0);
	d.l.mute[1] = false;
	/* A's RST reached B. */
	CHECK_ERR(bh_read(b, d.sfd, &c, 1), ECONNRESET);
	CHECK_EQ(bh_close(a, ep), 0);
	duo_down(&d);
}

static void test_names(void)
{
	struct lab l;
	if (!lab_init(&l))
		return;
	struct bh_tcp *a = l.t[0], *b = l.t[1];
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	/* bind to port 0, then listen: an ephemeral port. */
	int lfd = bh_socket(b, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in any = sin_of(INADDR_ANY, 0);
	CHECK_EQ(bh_bind(b, lfd, SA(&any), sizeof(any)), 0);
	CHECK_EQ(bh_getsockname(b, lfd, SA(&sa), &len), 0);
	CHECK_EQ(ntohs(sa.sin_port), 0);
	CHECK_EQ(bh_listen(b, lfd, 4), 0);
	len = sizeof(sa);
	CHECK_EQ(bh_getsockname(b, lfd, SA(&sa), &len), 0);
	uint16_t port = ntohs(sa.sin_port);
	CHECK(port >= 32768 && port < 49152);
	CHECK_EQ(sa.sin_family, AF_INET);
	CHECK_EQ(sa.sin_addr.s_addr, htonl(INADDR_ANY));
	CHECK_ERR(bh_getsockname(b, lfd, NULL, &len), EFAULT);
	/* Listening without bind picks another one. */
	int lfd2 = bh_socket(b, AF_INET, SOCK_STREAM, 0);
	CHECK_EQ(bh_listen(b, lfd2, 4), 0);
	len = sizeof(sa);
	CHECK_EQ(bh_getsockname(b, lfd2, SA(&sa), &len), 0);
	CHECK(ntohs(sa.sin_port) != port && ntohs(sa.sin_port) >= 32768);
	/* A connects from a chosen port on its own address. */
	int cfd = bh_socket(a, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in mine = sin_of(IP_A, 5555);
	CHECK_EQ(bh_bind(a, cfd, SA(&mine), sizeof(mine)), 0);
	struct sockaddr_in to = sin_of(IP_B, port);
	CHECK_ERR(bh_connect(a, cfd, SA(&to), sizeof(to)), EINPROGRESS);
	len = sizeof(sa);
	CHECK_ERR(bh_getpeername(a, cfd, SA(&sa), &len), ENOTCONN); /* not yet */
	settle(&l);
	int sfd = bh_accept(b, lfd, NULL, NULL);
	CHECK(sfd >= 0);
	len = sizeof(sa);
	CHECK_EQ(bh_getsockname(a, cfd, SA(&sa), &len), 0);
	CHECK(ntohl(sa.sin_addr.s_addr) == IP_A && ntohs(sa.sin_port) == 5555);
	len = sizeof(sa);
	CHECK_EQ(bh_getpeername(a, cfd, SA(&sa), &len), 0);
	CHECK(ntohl(sa.sin_addr.s_addr) == IP_B && ntohs(sa.sin_port) == port);
	len = sizeof(sa);
	CHECK_EQ(bh_getsockname(b, sfd, SA(&sa), &len), 0);
	CHECK(ntohl(sa.sin_addr.s_addr) == IP_B && ntohs(sa.sin_port) == port);
	len = sizeof(sa);
	CHECK_EQ(bh_getpeername(b, sfd, SA(&sa), &len), 0);
	CHECK(ntohl(sa.sin_addr.s_addr) == IP_A && ntohs(sa.sin_port) == 5555);
	/* A short buffer gets a truncated address and the full length. */
	uint8_t tiny[4] = {0};
	len = sizeof(tiny);
	CHECK_EQ(bh_getpeername(b, sfd, (struct sockaddr *)tiny, &len), 0);
	CHECK_EQ(len, sizeof(struct sockaddr_in));
	CHECK_EQ(tiny[2] << 8 | tiny[3], 5555);
	/* The port stays taken while the connected socket has it. */
	int other = bh_socket(a, AF_INET, SOCK_STREAM, 0);
	CHECK_ERR(bh_bind(a, other, SA(&mine), sizeof(mine)), EADDRINUSE);
	int fds_a[] = {cfd, other}, fds_b[] = {sfd, lfd, lfd2};
	close_all(a, fds_a, 2);
	close_all(b, fds_b, 3);
	lab_fini(&l);
}

/* ---------------------------------------------------------------------- */
/* epoll */

static void test_epoll_level(void)
{
	struct lab l;
	if (!lab_init(&l))
		return;
	struct bh_tcp *a = l.t[0], *b = l.t[1];
	int lfd = listener(b, PORT, 4);
	int ep = bh_epoll_create(b);
	CHECK_EQ(ep_add(b, ep, lfd, EPOLLIN), 0);
	CHECK_EQ(ep_events(b, ep, lfd, NULL), 0);
	int cfd = dial(a, IP_B, PORT);
	settle(&l);
	/* Listener: EPOLLIN while a connection waits. */
	CHECK_EQ(ep_events(b, ep, lfd, NULL), EPOLLIN);
	CHECK_EQ(ep_events(b, ep, lfd, NULL), EPOLLIN);
	int sfd = bh_accept(b, lfd, NULL, NULL);
	CHECK(sfd >= 0);
	CHECK_EQ(set_int(a, cfd, IPPROTO_TCP, TCP_NODELAY, 1), 0); /* each write a segment */
	int total;
	CHECK_EQ(ep_events(b, ep, lfd, &total), 0);
	CHECK_EQ(total, 0);
	/* Level-triggered: reported while unread. */
	CHECK_EQ(ep_add(b, ep, sfd, EPOLLIN), 0);
	CHECK_EQ(ep_events(b, ep, sfd, NULL), 0);
	CHECK_EQ(bh_write(a, cfd, "abcdef", 6), 6);
	settle(&l);
	CHECK_EQ(ep_events(b, ep, sfd, NULL), EPOLLIN);
	CHECK_EQ(ep_events(b, ep, sfd, NULL), EPOLLIN);
	char buf[8];
	CHECK_EQ(bh_read(b, sfd, buf, 3), 3);
	CHECK_EQ(ep_events(b, ep, sfd, NULL), EPOLLIN);
	CHECK_EQ(bh_read(b, sfd, buf, 8), 3);
	CHECK_EQ(ep_events(b, ep, sfd, &total), 0);
	CHECK_EQ(total, 0);
	/* EPOLLOUT on a connected socket; MOD changes the interest. */
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.fd = sfd};
	CHECK_EQ(bh_epoll_ctl(b, ep, EPOLL_CTL_MOD, sfd, &ev), 0);
	CHECK_EQ(ep_events(b, ep, sfd, NULL), EPOLLOUT);
	CHECK_EQ(ep_events(b, ep, sfd, NULL), EPOLLOUT);
	/* maxevents 1 takes turns between ready sockets. */
	CHECK_EQ(bh_write(a, cfd, "x", 1), 1);
	int ep2 = bh_epoll_create(b);
	CHECK_EQ(ep_add(b, ep2, lfd, EPOLLIN), 0);
	CHECK_EQ(ep_add(b, ep2, sfd, EPOLLIN), 0);
	int cfd2 = dial(a, IP_B, PORT);
	settle(&l);
	struct epoll_event one[1];
	int seen_l = 0, seen_s = 0;
	for (int i = 0; i < 4; i++) {
		CHECK_EQ(bh_epoll_wait(b, ep2, one, 1, 0), 1);
		seen_l += one[0].data.fd == lfd;
		seen_s += one[0].data.fd == sfd;
	}
	CHECK(seen_l == 2 && seen_s == 2);
	/* Errors of epoll_ctl and epoll_wait. */
	CHECK_ERR(ep_add(b, ep, sfd, EPOLLIN), EEXIST);
	CHECK_ERR(bh_epoll_ctl(b, ep, EPOLL_CTL_MOD, lfd + 100, &ev), EBADF);
	CHECK_ERR(bh_epoll_ctl(b, ep, EPOLL_CTL_ADD, ep, &ev), EINVAL);
	CHECK_ERR(bh_epoll_ctl(b, ep, EPOLL_CTL_ADD, ep2, &ev), EPERM);
	CHECK_ERR(bh_epoll_ctl(b, ep, 99, sfd, &ev), EINVAL);
	CHECK_ERR(bh_epoll_ctl(b, ep, EPOLL_CTL_ADD, lfd, NULL), EFAULT);
	CHECK_ERR(bh_epoll_ctl(b, sfd, EPOLL_CTL_ADD, lfd, &ev), EINVAL);
	CHECK_ERR(bh_epoll_wait(b, ep, one, 1, 10), EINVAL);
	CHECK_ERR(bh_epoll_wait(b, ep, one, 0, 0), EINVAL);
	/* DEL: no more reports; DEL again: ENOENT. */
	CHECK_EQ(bh_epoll_ctl(b, ep, EPOLL_CTL_DEL, sfd, NULL), 0);
	CHECK_ERR(bh_epoll_ctl(b, ep, EPOLL_CTL_DEL, sfd, NULL), ENOENT);
	CHECK_ERR(bh_epoll_ctl(b, ep, EPOLL_CTL_MOD, sfd, &ev), ENOENT);
	CHECK_EQ(ep_events(b, ep, sfd, NULL), 0);
	/* Closing a socket removes it from every set it is in (here ep2),
	 * and a new socket on the same number is not registered. */
	CHECK_EQ(ep_events(b, ep2, sfd, NULL), EPOLLIN);
	CHECK_EQ(bh_close(b, sfd), 0);
	CHECK_EQ(ep_events(b, ep2, sfd, NULL), 0);
	int again = bh_socket(b, AF_INET, SOCK_STREAM, 0);
	CHECK_EQ(again, sfd);
	CHECK_ERR(bh_epoll_ctl(b, ep2, EPOLL_CTL_DEL, again, NULL), ENOENT);
	int s2 = bh_accept(b, lfd, NULL, NULL);
	CHECK(s2 >= 0);
	int fds_a[] = {cfd, cfd2}, fds_b[] = {again, s2, lfd, ep, ep2};
	close_all(a, fds_a, 2);
	close_all(b, fds_b, 5);
	lab_fini(&l);
}

static void test_epoll_edge_oneshot(void)
{
	struct duo d;
	if (!duo_up(&d))
		return;
	struct bh_tcp *a = d.a, *b = d.b;
	CHECK_EQ(set_int(a, d.cfd, IPPROTO_TCP, TCP_NODELAY, 1), 0); /* each write a segment */
	int et = bh_epoll_create(b), os = bh_epoll_create(b), lt = bh_epoll_create(b);
	/* The same socket in three sets, each with its own mode. */
	CHECK_EQ(ep_add(b, et, d.sfd, EPOLLIN | EPOLLET), 0);
	CHECK_EQ(ep_add(b, os, d.sfd, EPOLLIN | EPOLLONESHOT), 0);
	CHECK_EQ(ep_add(b, lt, d.sfd, EPOLLIN), 0);
	CHECK_EQ(bh_write(a, d.cfd, "1", 1), 1);
	settle(&d.l);
	CHECK_EQ(ep_events(b, et, d.sfd, NULL), EPOLLIN);
	CHECK_EQ(ep_events(b, os, d.sfd, NULL), EPOLLIN);
	CHECK_EQ(ep_events(b, lt, d.sfd, NULL), EPOLLIN);
	/* Nothing new: edge and one-shot stay quiet, level repeats. */
	int total;
	CHECK_EQ(ep_events(b, et, d.sfd, &total), 0);
	CHECK_EQ(total, 0);
	CHECK_EQ(ep_events(b, os, d.sfd, NULL), 0);
	CHECK_EQ(ep_events(b, lt, d.sfd, NULL), EPOLLIN);
	/* More data: one new edge; one-shot still disarmed. */
	CHECK_EQ(bh_write(a, d.cfd, "2", 1), 1);
	settle(&d.l);
	CHECK_EQ(ep_events(b, et, d.sfd, NULL), EPOLLIN);
	CHECK_EQ(ep_events(b, et, d.sfd, NULL), 0);
	CHECK_EQ(ep_events(b, os, d.sfd, NULL), 0);
	/* Reading part of it is no new edge. */
	char c;
	CHECK_EQ(bh_read(b, d.sfd, &c, 1), 1);
	CHECK_EQ(ep_events(b, et, d.sfd, NULL), 0);
	/* MOD re-arms the one-shot (still readable: reported once more). */
	struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT, .data.fd = d.sfd};
	CHECK_EQ(bh_epoll_ctl(b, os, EPOLL_CTL_MOD, d.sfd, &ev), 0);
	CHECK_EQ(ep_events(b, os, d.sfd, NULL), EPOLLIN);
	CHECK_EQ(ep_events(b, os, d.sfd, NULL), 0);
	CHECK_EQ(bh_read(b, d.sfd, &c, 1), 1);
	CHECK_EQ(bh_epoll_ctl(b, os, EPOLL_CTL_MOD, d.sfd, &ev), 0);
	CHECK_EQ(ep_events(b, os, d.sfd, NULL), 0);
	CHECK_EQ(bh_write(a, d.cfd, "3", 1), 1);
	settle(&d.l);
	CHECK_EQ(ep_events(b, os, d.sfd, NULL), EPOLLIN);
	CHECK_EQ(bh_read(b, d.sfd, &c, 1), 1);
	/* The peer's FIN: EPOLLRDHUP only to those who asked. */
	ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
	CHECK_EQ(bh_epoll_ctl(b, et, EPOLL_CTL_MOD, d.sfd, &ev), 0);
	CHECK_EQ(ep_events(b, et, d.sfd, NULL), 0);
	CHECK_EQ(bh_shutdown(a, d.cfd, SHUT_WR), 0);
	settle(&d.l);
	CHECK_EQ(ep_events(b, et, d.sfd, NULL), EPOLLIN | EPOLLRDHUP);
	CHECK_EQ(ep_events(b, et, d.sfd, NULL), 0);
	CHECK_EQ(ep_events(b, lt, d.sfd, NULL), EPOLLIN);
	/* B shuts down too: both directions closed is EPOLLHUP, an edge for
	 * the ET set as well. */
	CHECK_EQ(bh_shutdown(b, d.sfd, SHUT_WR), 0);
	uint32_t m = ep_events(b, et, d.sfd, NULL);
	CHECK(m & EPOLLHUP);
	CHECK_EQ(ep_events(b, et, d.sfd, NULL), 0);
	/* Closing the epoll set leaves the socket usable. */
	CHECK_EQ(bh_close(b, et), 0);
	CHECK_EQ(bh_read(b, d.sfd, &c, 1), 0);
	int fds_b[] = {os, lt};
	close_all(b, fds_b, 2);
	duo_down(&d);
}

static void test_epoll_connect_out(void)
{
	struct lab l;
	if (!lab_init(&l))
		return;
	struct bh_tcp *a = l.t[0], *b = l.t[1];
	int lfd = listener(b, PORT, 4);
	int ep = bh_epoll_create(a);
	int fd = bh_socket(a, AF_INET, SOCK_STREAM, 0);
	/* An unconnected socket: EPOLLOUT | EPOLLHUP (as on Linux). */
	CHECK_EQ(ep_add(a, ep, fd, EPOLLOUT | EPOLLET), 0);
	CHECK_EQ(ep_events(a, ep, fd, NULL), EPOLLOUT | EPOLLHUP);
	struct sockaddr_in to = sin_of(IP_B, PORT);
	CHECK_ERR(bh_connect(a, fd, SA(&to), sizeof(to)), EINPROGRESS);
	CHECK_EQ(ep_events(a, ep, fd, NULL), 0);
	settle(&l);
	CHECK_EQ(ep_events(a, ep, fd, NULL), EPOLLOUT); /* connected */
	CHECK_EQ(ep_events(a, ep, fd, NULL), 0);
	CHECK_EQ(get_int(a, fd, SOL_SOCKET, SO_ERROR), 0);
	int sfd = bh_accept(b, lfd, NULL, NULL);
	int fds_b[] = {sfd, lfd};
	close_all(b, fds_b, 2);
	int fds_a[] = {fd, ep};
	close_all(a, fds_a, 2);
	lab_fini(&l);
}

/* ---------------------------------------------------------------------- */
/* Many connections through one listener, driven by epoll on both sides */

#define NCONN 1000

struct client {
	int fd;
	char msg[32];
	size_t len, sent, got;
	char echo[32];
	bool done;
};

static void server_events(struct bh_tcp *b, int ep, int lfd, unsigned *accepted,
			  unsigned *finished)
{
	struct epoll_event evs[64];
	int n = bh_epoll_wait(b, ep, evs, 64, 0);
	for (int i = 0; i < n; i++) {
		int fd = evs[i].data.fd;
		if (fd == lfd) {
			int s;
			while ((s = bh_accept(b, lfd, NULL, NULL)) >= 0) {
				CHECK_EQ(ep_add(b, ep, s, EPOLLIN | EPOLLRDHUP | EPOLLET), 0);
				(*accepted)++;
			}
			CHECK_EQ(errno, EAGAIN);
			continue;
		}
		/* Edge-triggered: read until EAGAIN or end of stream. */
		char buf[64];
		ssize_t r;
		while ((r = bh_read(b, fd, buf, sizeof(buf))) > 0)
			CHECK_EQ(bh_write(b, fd, buf, (size_t)r), r);
		if (r == 0) {
			CHECK_EQ(bh_close(b, fd), 0);
			(*finished)++;
		} else {
			CHECK_EQ(errno, EAGAIN);
		}
	}
}

static void client_events(struct bh_tcp *a, int ep, struct client *cl, unsigned *done)
{
	struct epoll_event evs[64];
	int n = bh_epoll_wait(a, ep, evs, 64, 0);
	for (int i = 0; i < n; i++) {
		struct client *c = &cl[evs[i].data.u32];
		CHECK_EQ(evs[i].events & EPOLLERR, 0);
		if ((evs[i].events & EPOLLOUT) && c->sent < c->len) {
			ssize_t r = bh_write(a, c->fd, c->msg + c->sent, c->len - c->sent);
			CHECK(r > 0);
			if (r > 0)
				c->sent += (size_t)r;
			if (c->sent == c->len) {
				struct epoll_event ev = {.events = EPOLLIN, .data = evs[i].data};
				CHECK_EQ(bh_epoll_ctl(a, ep, EPOLL_CTL_MOD, c->fd, &ev), 0);
			}
		}
		ssize_t r;
		while (c->got < c->len &&
		       (r = bh_read(a, c->fd, c->echo + c->got, sizeof(c->echo) - c->got)) > 0)
			c->got += (size_t)r;
		if (!c->done && c->got == c->len) {
			CHECK(memcmp(c->echo, c->msg, c->len) == 0);
			CHECK_EQ(bh_close(a, c->fd), 0);
			c->done = true;
			(*done)++;
		}
	}
}

static void test_many_connections(void)
{
	struct lab l;
	if (!lab_init(&l))
		return;
	struct bh_tcp *a = l.t[0], *b = l.t[1];
	int lfd = listener(b, PORT, NCONN);
	int sep = bh_epoll_create(b), cep = bh_epoll_create(a);
	CHECK_EQ(ep_add(b, sep, lfd, EPOLLIN), 0);
	struct client *cl = calloc(NCONN, sizeof(*cl));
	for (unsigned i = 0; i < NCONN; i++) {
		cl[i].len = (size_t)snprintf(cl[i].msg, sizeof(cl[i].msg), "client %u says hi", i);
		cl[i].fd = dial(a, IP_B, PORT);
		struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = i};
		CHECK_EQ(bh_epoll_ctl(a, cep, EPOLL_CTL_ADD, cl[i].fd, &ev), 0);
	}
	CHECK_EQ(bh_tcp_nr_fds(a), NCONN + 1);
	unsigned accepted = 0, finished = 0, done = 0;
	for (int it = 0; it < 100000 && (done < NCONN || finished < NCONN); it++) {
		server_events(b, sep, lfd, &accepted, &finished);
		client_events(a, cep, cl, &done);
		if (!settle(&l))
			tick(&l);
	}
	CHECK_EQ(accepted, NCONN);
	CHECK_EQ(done, NCONN);
	CHECK_EQ(finished, NCONN);
	CHECK_EQ(ctr(b, "tcp_accepted"), NCONN);
	CHECK_EQ(ctr(a, "tcp_syn_retrans"), 0);
	CHECK_EQ(bh_tcp_nr_fds(a), 1);
	CHECK_EQ(bh_tcp_nr_fds(b), 2);
	free(cl);
	CHECK_EQ(bh_close(a, cep), 0);
	int fds_b[] = {lfd, sep};
	close_all(b, fds_b, 2);
	lab_fini(&l);
}

/* ---------------------------------------------------------------------- */
/* Instance */

static void test_instance(void)
{
	struct lab l;
	if (!lab_init(&l))
		return;
	struct bh_tcp *a = l.t[0], *b = l.t[1];
	const char *names[256];
	uint64_t vals[256];
	unsigned total = bh_tcp_counters(a, NULL, NULL, 0);
	CHECK(total > 40 && total <= 256);
	CHECK_EQ(bh_tcp_counters(a, names, vals, 256), total);
	CHECK_EQ(bh_tcp_counters(a, names, vals, 3), 3);
	bh_tcp_counters(a, names, vals, 256);
	unsigned ntcp = 0, nnet = 0;
	for (unsigned i = 0; i < total; i++) {
		CHECK(strlen(names[i]) <= 47);
		ntcp += strncmp(names[i], "tcp_", 4) == 0;
		nnet += strncmp(names[i], "net_", 4) == 0;
		for (unsigned j = 0; j < i; j++)
			CHECK(strcmp(names[i], names[j]) != 0);
	}
	CHECK_EQ(ntcp + nnet, total);
	CHECK(ntcp > 20 && nnet > 20);
	CHECK(strcmp(names[0], "tcp_not_tcp") == 0);
	/* The priming SYN waited on ARP; B answered A's request. */
	CHECK_EQ(ctr(a, "tcp_tx_arp_wait"), 1);
	CHECK_EQ(ctr(b, "net_arp_replied"), 1);
	/* A gratuitous ARP reaches B, which knows A: it refreshes. */
	uint64_t req = ctr(a, "net_arp_requests"), learned = ctr(b, "net_arp_learned");
	bh_tcp_announce(a, l.now);
	CHECK_EQ(ctr(a, "net_arp_requests"), req + 1);
	settle(&l);
	CHECK_EQ(ctr(b, "net_arp_learned"), learned + 1);
	CHECK_EQ(bh_tcp_now(b), l.now);
	uint64_t due = bh_tcp_timer(a, l.now + SEC);
	CHECK_EQ(bh_tcp_now(a), l.now + SEC);
	CHECK(due > l.now + SEC && due != UINT64_MAX); /* ARP's refresh, 60 s */
	l.now += SEC;
	/* Bad configurations. */
	struct bh_tcp_conf c;
	memset(&c, 0, sizeof(c));
	errno = 0;
	CHECK(bh_tcp_create(&c, 0) == NULL); /* no tx */
	CHECK_EQ(errno, EINVAL);
	c.tx = wire_tx;
	c.ip = IP_A;
	c.mask = 0xffffff00u;
	c.mac[0] = 2;
	c.cc = "vegas";
	CHECK(bh_tcp_create(&c, 0) == NULL);
	c.cc = "newreno";
	struct bh_tcp *t = bh_tcp_create(&c, 0);
	CHECK(t != NULL);
	/* Destroying with sockets open frees them. */
	int s = bh_socket(t, AF_INET, SOCK_STREAM, 0);
	int ep = bh_epoll_create(t);
	CHECK_EQ(ep_add(t, ep, s, EPOLLIN), 0);
	CHECK_EQ(bh_tcp_nr_fds(t), 2);
	CHECK_EQ(bh_tcp_destroy(t), 0);
	lab_fini(&l);
}

/* A connection alive at destroy is freed by it, a dead one too. */
static void test_destroy_with_connections(void)
{
	struct duo d;
	if (!duo_up(&d))
		return;
	CHECK_EQ(bh_write(d.a, d.cfd, "pending", 7), 7);
	settle(&d.l);
	int dead = dial(d.a, IP_B, 9999);
	settle(&d.l);
	int ep = bh_epoll_create(d.a);
	CHECK_EQ(ep_add(d.a, ep, d.cfd, EPOLLIN), 0);
	CHECK_EQ(ep_add(d.a, ep, dead, EPOLLIN), 0);
	CHECK_EQ(bh_tcp_nr_conns(d.a), 2);
	CHECK_EQ(bh_tcp_destroy(d.a), 0);
	CHECK_EQ(bh_tcp_destroy(d.b), 0);
	free(d.l.ring);
}

int main(void)
{
	test_socket_errors();
	test_emfile();
	test_refused();
	test_small_data();
	test_bulk_both_ways();
	test_half_close();
	test_shut_rd();
	test_close_unread_resets();
	test_linger();
	test_sndbuf();
	test_rcvbuf();
	test_nodelay_and_others();
	test_keepalive();
	test_writev_one_segment();
	test_send_more();
	test_sendfile();
	test_names();
	test_epoll_level();
	test_epoll_edge_oneshot();
	test_epoll_connect_out();
	test_many_connections();
	test_instance();
	test_destroy_with_connections();
	return bh_test_summary("tcp_sock");
}
