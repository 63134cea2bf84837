/* SPDX-License-Identifier: MIT */
/*
 * BSD sockets and epoll over the connection core (tcp_conn). The contract is
 * include/bulkhead/tcp.h; this file keeps the descriptor table, remembers
 * options until a connection exists to take them, and turns the core's
 * readiness notifications (cfg.event) into epoll ready lists, so that
 * bh_epoll_wait costs O(ready), never O(sockets).
 *
 * Errors follow Linux where the BSD manuals leave room (e.g. an error is
 * reported once, after which read gives 0 and write EPIPE), so ported code
 * sees what it saw on a kernel socket.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "bulkhead/tcp.h"
#include "tcp_buf.h"
#include "tcp_conn.h"

/*
 * <netinet/tcp.h> cannot be included next to tcp_conn.h (both define
 * TCP_ESTABLISHED ...): these are its values, part of the Linux ABI.
 */
#define SOCKOPT_TCP_NODELAY 1
#define SOCKOPT_TCP_MAXSEG 2
#define SOCKOPT_TCP_KEEPIDLE 4
#define SOCKOPT_TCP_KEEPINTVL 5
#define SOCKOPT_TCP_KEEPCNT 6

#define NPORTS 65536u
/* Ephemeral ports for listeners; tcp_connect takes its own from 49152 up, so
 * the two never compete. */
#define LISTEN_EPH_LO 32768u
#define LISTEN_EPH_N 16384u
/* tcp_recv / tcp_send take a uint32_t length: feed them slices. */
#define IO_SLICE (1u << 30)
#define IOV_MAX_CNT 1024
#define ARP_CAPACITY 4096u

enum fd_kind { FD_FREE, FD_SOCK, FD_EPOLL };
enum sock_state { SK_FRESH, SK_BOUND, SK_LISTEN, SK_CONN };

/* Option slots: the core's options by their enum, then ours. */
enum {
	OPT_REUSEADDR = TCP_O_LINGER0 + 1,
	OPT_LINGER,
	OPT_ERROR,
	OPT_TYPE,
	OPT_MAXSEG,
};

struct sock_opts {
	uint32_t v[OPT_REUSEADDR + 1]; /* values (LINGER0: l_onoff && !l_linger) */
	uint32_t set;                  /* core options the user set: bit per enum tcp_conn_opt */
	bool linger_on;
	int linger_s;
};

/* An intrusive circular list (a head is a sentinel; a node not in any list
 * points at itself), for the epoll sets' interest and ready lists. */
struct link {
	struct link *next, *prev;
};

static void link_init(struct link *n)
{
	n->next = n->prev = n;
}

static bool link_linked(const struct link *n)
{
	return n->next != n;
}

static void link_add_tail(struct link *head, struct link *n)
{
	n->prev = head->prev;
	n->next = head;
	head->prev->next = n;
	head->prev = n;
}

static void link_del(struct link *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	link_init(n);
}

struct epitem;

struct sock {
	enum sock_state state;
	bool bound;          /* bind() was called: port/addr are the user's */
	bool wr_shut, rd_shut;
	bool err_taken;      /* the connection's error was reported once */
	bool synced;         /* the connection was established (accepted, or connected) */
	bool on_drain;
	bool held;           /* written with MSG_MORE, not pushed yet: on held */
	uint16_t port;       /* bound or listening port (0: none yet) */
	uint32_t addr;       /* bound address, host order */
	struct tcp_conn *c;  /* SK_CONN */
	struct sock_opts o;
	struct epitem *items; /* this socket's registrations in epoll sets */
	struct sock *drain_next;
};

struct epoll_set {
	struct link interest; /* every registration, through epitem.ilink */
	struct link ready;    /* those to look at in wait, through epitem.rlink */
};

struct epitem {
	struct epoll_set *ep;
	struct sock *s;
	uint32_t events;     /* as given to epoll_ctl, flags included */
	epoll_data_t data;
	bool armed;          /* false once a EPOLLONESHOT report went out */
	struct epitem *snext; /* the socket's next registration */
	struct link ilink, rlink;
};

#define ITEM_OF(l, field) ((struct epitem *)(void *)((char *)(l) - offsetof(struct epitem, field)))

struct fdent {
	enum fd_kind kind;
	uint32_t next_free;
	union {
		struct sock s;
		struct epoll_set e;
	};
};

#define NR_CTRS (TCP_C_MAX + TCP_NET_C_MAX)

struct bh_tcp {
	struct tcp_stack *st;
	struct tcp_net *net;
	struct bh_tcp_conf conf;
	uint64_t now;
	struct fdent *fds;
	uint32_t max_fds, nr_fds, free_head;
	uint32_t *ports;     /* port -> fd + 1 of the socket bound to it, 0: free */
	uint32_t eph_next;
	struct sock_opts defaults;
	struct sock *drain;  /* SHUT_RD sockets that received data during a stack call */
	uint32_t *held;      /* descriptors of held sockets (bh_send with MSG_MORE) */
	uint32_t nr_held, held_cap;
	char ctr_names[NR_CTRS][48];
};

#define NO_FD UINT32_MAX

/* ---------------------------------------------------------------------- */
/* Descriptors */

static int fail(int err)
{
	errno = err;
	return -1;
}

static struct fdent *fd_get(struct bh_tcp *t, int fd)
{
	if (fd < 0 || (uint32_t)fd >= t->max_fds || t->fds[fd].kind == FD_FREE) {
		errno = EBADF;
		return NULL;
	}
	return &t->fds[fd];
}

/* An open descriptor of that kind, or NULL: errno EBADF, or err for
 * another kind. */
static struct fdent *fd_get_kind(struct bh_tcp *t, int fd, enum fd_kind kind, int err)
{
	struct fdent *e = fd_get(t, fd);
	if (e && e->kind != kind) {
		errno = err;
		return NULL;
	}
	return e;
}

static struct sock *sock_get(struct bh_tcp *t, int fd)
{
	struct fdent *e = fd_get_kind(t, fd, FD_SOCK, ENOTSOCK);
	return e ? &e->s : NULL;
}

static int fd_alloc(struct bh_tcp *t, enum fd_kind kind)
{
	if (t->free_head == NO_FD)
		return fail(EMFILE);
	uint32_t fd = t->free_head;
	struct fdent *e = &t->fds[fd];
	t->free_head = e->next_free;
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	t->nr_fds++;
	return (int)fd;
}

static void fd_release(struct bh_tcp *t, int fd)
{
	struct fdent *e = &t->fds[fd];
	e->kind = FD_FREE;
	e->next_free = t->free_head;
	t->free_head = (uint32_t)fd;
	t->nr_fds--;
}

/* ---------------------------------------------------------------------- */
/* Readiness */

static uint32_t ev_to_epoll(unsigned ev)
{
	uint32_t m = 0;
	if (ev & TCP_EV_IN)
		m |= EPOLLIN | EPOLLRDNORM;
	if (ev & (TCP_EV_OUT | TCP_EV_CONN))
		m |= EPOLLOUT | EPOLLWRNORM;
	if (ev & TCP_EV_ERR)
		m |= EPOLLERR;
	if (ev & TCP_EV_HUP)
		m |= EPOLLHUP;
	if (ev & TCP_EV_RDHUP)
		m |= EPOLLRDHUP;
	return m;
}

/* What epoll reports for the socket now, as Linux's tcp_poll would. */
static uint32_t sock_poll(const struct bh_tcp *t, const struct sock *s)
{
	switch (s->state) {
	case SK_FRESH:
	case SK_BOUND:
		/* An unconnected socket: writing fails at once, and it is "hung
		 * up" (Linux reports the same). */
		return EPOLLOUT | EPOLLWRNORM | EPOLLHUP;
	case SK_LISTEN:
		return tcp_listen_pending(t->st, s->port) ? EPOLLIN | EPOLLRDNORM : 0;
	case SK_CONN:
		break;
	}
	uint32_t m = ev_to_epoll(tcp_conn_poll(s->c));
	/* Once dead, or after SHUT_WR, a write returns at once: Linux reports
	 * EPOLLOUT then, and ported event loops wait for it. */
	if (tcp_conn_state(s->c) == TCP_CLOSED)
		m |= EPOLLIN | EPOLLRDNORM | EPOLLOUT | EPOLLWRNORM | EPOLLHUP | EPOLLRDHUP;
	if (s->wr_shut)
		m |= EPOLLOUT | EPOLLWRNORM;
	if (s->rd_shut)
		m |= EPOLLIN | EPOLLRDNORM | EPOLLRDHUP;
	if (s->err_taken)
		m &= ~(uint32_t)EPOLLERR;
	return m;
}

static uint32_t item_mask(const struct epitem *it)
{
	return (it->events & ~(uint32_t)(EPOLLET | EPOLLONESHOT | EPOLLEXCLUSIVE | EPOLLWAKEUP)) |
	       EPOLLERR | EPOLLHUP;
}

static void ready_add(struct epitem *it)
{
	if (!link_linked(&it->rlink))
		link_add_tail(&it->ep->ready, &it->rlink);
}

/*
 * Conditions in `bits` may have become true: queue every armed registration
 * that cares. Whether to report, and what, is decided at wait time from the
 * state then (as Linux does), so a wake-up is cheap and may be spurious.
 */
static void sock_wake(struct sock *s, uint32_t bits)
{
	for (struct epitem *it = s->items; it; it = it->snext)
		if (it->armed && (bits & item_mask(it)))
			ready_add(it);
}

/* For socket calls that change readiness themselves (the core only reports
 * what its own input and timers change). */
static void sock_wake_new(const struct bh_tcp *t, struct sock *s, uint32_t before)
{
	uint32_t fresh = sock_poll(t, s) & ~before;
	if (fresh)
		sock_wake(s, fresh);
}

static struct sock *listener_of(struct bh_tcp *t, uint16_t port)
{
	uint32_t v = t->ports[port];
	if (!v || t->fds[v - 1].kind != FD_SOCK || t->fds[v - 1].s.state != SK_LISTEN)
		return NULL;
	return &t->fds[v - 1].s;
}

/* cfg.event: runs inside tcp_stack_input / tcp_stack_timer, so it only
 * records (the core must not be re-entered from here). */
static void on_event(void *ctx, struct tcp_conn *c, uint16_t lport, unsigned ev)
{
	struct bh_tcp *t = ctx;
	struct sock *s = c ? tcp_conn_user(c) : listener_of(t, lport);
	if (!s)
		return;
	if ((ev & (TCP_EV_CONN | TCP_EV_ERR)) == TCP_EV_CONN)
		s->synced = true;
	if (s->rd_shut && (ev & TCP_EV_IN) && !s->on_drain) {
		s->on_drain = true;
		s->drain_next = t->drain;
		t->drain = s;
	}
	sock_wake(s, ev_to_epoll(ev));
}

/* SHUT_RD discards input: throw away whatever is readable. */
static void sock_drain(struct bh_tcp *t, struct sock *s)
{
	uint8_t junk[2048];
	while (tcp_recv(s->c, junk, sizeof(junk), t->now) > 0)
		;
}

static void drain_pending(struct bh_tcp *t)
{
	while (t->drain) {
		struct sock *s = t->drain;
		t->drain = s->drain_next;
		s->on_drain = false;
		sock_drain(t, s);
	}
}

/* ---------------------------------------------------------------------- */
/* Addresses and options */

static int get_sin(const struct sockaddr *addr, socklen_t len, uint32_t *ip, uint16_t *port)
{
	if (!addr)
		return fail(EFAULT);
	if (len < sizeof(struct sockaddr_in))
		return fail(EINVAL);
	const struct sockaddr_in *sin = (const struct sockaddr_in *)addr;
	if (sin->sin_family != AF_INET)
		return fail(EAFNOSUPPORT);
	*ip = ntohl(sin->sin_addr.s_addr);
	*port = ntohs(sin->sin_port);
	return 0;
}

/* Store ip:port as a sockaddr_in, truncated to *len as the kernel does;
 * *len becomes the full size. */
static void put_sin(struct sockaddr *addr, socklen_t *len, uint32_t ip, uint16_t port)
{
	struct sockaddr_in sin;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(ip);
	sin.sin_port = htons(port);
	memcpy(addr, &sin, *len < sizeof(sin) ? *len : sizeof(sin));
	*len = sizeof(sin);
}

struct optdef {
	int level, name;
	int id;          /* enum tcp_conn_opt, or OPT_* */
	uint32_t lo, hi; /* accepted values; booleans are normalized to 0/1 first */
	bool boolean, get_only;
};

static const struct optdef optdefs[] = {
	{SOL_SOCKET, SO_SNDBUF, TCP_O_SNDBUF, 536, 1u << 30, false, false},
	{SOL_SOCKET, SO_RCVBUF, TCP_O_RCVBUF, 536, 1u << 30, false, false},
	{SOL_SOCKET, SO_KEEPALIVE, TCP_O_KEEPALIVE, 0, 1, true, false},
	{SOL_SOCKET, SO_REUSEADDR, OPT_REUSEADDR, 0, 1, true, false},
	{SOL_SOCKET, SO_LINGER, OPT_LINGER, 0, INT_MAX, false, false},
	{SOL_SOCKET, SO_ERROR, OPT_ERROR, 0, 0, false, true},
	{SOL_SOCKET, SO_TYPE, OPT_TYPE, 0, 0, false, true},
	{IPPROTO_TCP, SOCKOPT_TCP_NODELAY, TCP_O_NODELAY, 0, 1, true, false},
	{IPPROTO_TCP, SOCKOPT_TCP_KEEPIDLE, TCP_O_KEEPIDLE, 1, 32767, false, false},
	{IPPROTO_TCP, SOCKOPT_TCP_KEEPINTVL, TCP_O_KEEPINTVL, 1, 32767, false, false},
	{IPPROTO_TCP, SOCKOPT_TCP_KEEPCNT, TCP_O_KEEPCNT, 1, 127, false, false},
	{IPPROTO_TCP, SOCKOPT_TCP_MAXSEG, OPT_MAXSEG, 0, 0, false, true},
};

static const struct optdef *optdef_find(int level, int name)
{
	for (size_t i = 0; i < sizeof(optdefs) / sizeof(optdefs[0]); i++)
		if (optdefs[i].level == level && optdefs[i].name == name)
			return &optdefs[i];
	errno = ENOPROTOOPT;
	return NULL;
}

/* The options the user set on a socket, onto its (new) connection. Values
 * were range-checked when set; a refusal (no memory to grow the receive
 * buffer) leaves the stack's default, as a kernel would under pressure. */
static void opts_apply(struct bh_tcp *t, struct tcp_conn *c, const struct sock_opts *o)
{
	for (unsigned k = 0; k <= TCP_O_LINGER0; k++)
		if (o->set & (1u << k))
			(void)tcp_conn_setopt(c, (enum tcp_conn_opt)k, o->v[k], t->now);
}

/* The connection's error, once: SO_ERROR, read, write or connect report it,
 * whichever comes first (Linux's sock_error()). */
static int sock_take_err(struct sock *s)
{
	if (s->state != SK_CONN || s->err_taken)
		return 0;
	int e = tcp_conn_error(s->c);
	if (e)
		s->err_taken = true;
	return e;
}

/* ---------------------------------------------------------------------- */
/* Sockets */

int bh_socket(struct bh_tcp *t, int domain, int type, int protocol)
{
	if (domain != AF_INET)
		return fail(EAFNOSUPPORT);
	if (type & ~(0xf | SOCK_NONBLOCK | SOCK_CLOEXEC))
		return fail(EINVAL);
	if ((type & 0xf) != SOCK_STREAM || (protocol != 0 && protocol != IPPROTO_TCP))
		return fail(EPROTONOSUPPORT);
	int fd = fd_alloc(t, FD_SOCK);
	if (fd < 0)
		return -1;
	struct sock *s = &t->fds[fd].s;
	s->state = SK_FRESH;
	s->o = t->defaults;
	return fd;
}

int bh_bind(struct bh_tcp *t, int fd, const struct sockaddr *addr, socklen_t len)
{
	struct sock *s = sock_get(t, fd);
	uint32_t ip;
	uint16_t port;
	if (!s || get_sin(addr, len, &ip, &port) < 0)
		return -1;
	if (s->state != SK_FRESH)
		return fail(EINVAL);
	if (ip != INADDR_ANY && ip != t->conf.ip)
		return fail(EADDRNOTAVAIL);
	if (port && t->ports[port])
		return fail(EADDRINUSE);
	if (port)
		t->ports[port] = (uint32_t)fd + 1;
	s->bound = true;
	s->addr = ip;
	s->port = port;
	s->state = SK_BOUND;
	return 0;
}

/* A free port for a listener that did not choose one. */
static int listen_ephemeral(struct bh_tcp *t, uint32_t backlog, uint16_t *port)
{
	for (uint32_t i = 0; i < LISTEN_EPH_N; i++) {
		uint16_t p = (uint16_t)(LISTEN_EPH_LO + t->eph_next++ % LISTEN_EPH_N);
		if (t->ports[p])
			continue;
		int r = tcp_listen(t->st, p, backlog);
		if (r == -EADDRINUSE)
			continue;
		if (r < 0)
			return r;
		*port = p;
		return 0;
	}
	return -EADDRINUSE;
}

int bh_listen(struct bh_tcp *t, int fd, int backlog)
{
	struct sock *s = sock_get(t, fd);
	if (!s)
		return -1;
	if (s->state == SK_LISTEN)
		return 0; /* the core cannot resize a backlog: keep the first */
	if (s->state == SK_CONN)
		return fail(EINVAL);
	/* Like Linux: at least 1, at most what the table can hold. */
	uint32_t bl = backlog < 1 ? 1u : (uint32_t)backlog;
	if (bl > t->conf.max_conns)
		bl = t->conf.max_conns;
	uint32_t before = sock_poll(t, s);
	int r;
	if (s->port) {
		r = tcp_listen(t->st, s->port, bl);
	} else {
		r = listen_ephemeral(t, bl, &s->port);
		if (!r)
			t->ports[s->port] = (uint32_t)fd + 1;
	}
	if (r < 0)
		return fail(-r);
	s->state = SK_LISTEN;
	sock_wake_new(t, s, before);
	return 0;
}

int bh_accept4(struct bh_tcp *t, int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	struct sock *s = sock_get(t, fd);
	if (!s)
		return -1;
	if (s->state != SK_LISTEN || (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)))
		return fail(EINVAL);
	/* Check for a descriptor first, so EMFILE leaves the connection queued. */
	if (t->free_head == NO_FD)
		return fail(EMFILE);
	struct tcp_conn *c = tcp_accept(t->st, s->port);
	if (!c)
		return fail(EAGAIN);
	int nfd = fd_alloc(t, FD_SOCK);
	struct sock *ns = &t->fds[nfd].s;
	ns->state = SK_CONN;
	ns->synced = true;
	ns->c = c;
	ns->o = s->o;
	tcp_conn_set_user(c, ns);
	opts_apply(t, c, &ns->o);
	if (addr && len) {
		struct tcp_tuple tu;
		tcp_conn_tuple(c, &tu);
		put_sin(addr, len, tu.raddr, tu.rport);
	}
	return nfd;
}

int bh_accept(struct bh_tcp *t, int fd, struct sockaddr *addr, socklen_t *len)
{
	return bh_accept4(t, fd, addr, len, 0);
}

/* Give the connection to the stack: a graceful close, or a reset if data
 * is unread or SO_LINGER is {1, 0} (the connection's LINGER0 option). */
static void sock_drop_conn(struct bh_tcp *t, struct sock *s)
{
	tcp_conn_set_user(s->c, NULL);
	tcp_close(s->c, t->now);
	s->c = NULL;
}

/* connect() on a socket that has a connection already. */
static int connect_again(struct bh_tcp *t, struct sock *s)
{
	enum tcp_state cs = tcp_conn_state(s->c);
	if (cs == TCP_SYN_SENT)
		return fail(EALREADY);
	if (cs != TCP_CLOSED || s->synced)
		return fail(EISCONN);
	/* The attempt failed: report why, and leave the socket unconnected so
	 * that connect may be tried again (Linux). */
	int e = sock_take_err(s);
	uint32_t before = sock_poll(t, s);
	sock_drop_conn(t, s);
	s->state = s->bound ? SK_BOUND : SK_FRESH;
	s->wr_shut = s->rd_shut = s->err_taken = s->synced = false;
	sock_wake_new(t, s, before);
	return fail(e ? e : ECONNABORTED);
}

int bh_connect(struct bh_tcp *t, int fd, const struct sockaddr *addr, socklen_t len)
{
	struct sock *s = sock_get(t, fd);
	uint32_t ip;
	uint16_t port;
	if (!s)
		return -1;
	if (s->state == SK_CONN)
		return connect_again(t, s);
	if (get_sin(addr, len, &ip, &port) < 0)
		return -1;
	if (s->state == SK_LISTEN)
		return fail(EISCONN);
	if (!ip || !port)
		return fail(EINVAL);
	if (ip == t->conf.ip)
		return fail(ENETUNREACH); /* no loopback in this stack */
	uint32_t before = sock_poll(t, s);
	struct tcp_conn *c = tcp_connect(t->st, ip, port, s->port, t->now);
	if (!c)
		return -1; /* errno from tcp_connect */
	s->c = c;
	s->state = SK_CONN;
	s->err_taken = false;
	tcp_conn_set_user(c, s);
	opts_apply(t, c, &s->o);
	sock_wake_new(t, s, before);
	return fail(EINPROGRESS);
}

/* -1 and errno for a tcp_recv / tcp_send failure r (< 0) on s. */
static ssize_t conn_fail(struct sock *s, int r, bool writing)
{
	switch (r) {
	case -EAGAIN:
	case -EPIPE:
		return fail(-r);
	case -ENOTCONN:
		/* Still connecting: a non-blocking socket says EAGAIN. */
		if (tcp_conn_state(s->c) != TCP_CLOSED)
			return fail(EAGAIN);
		return fail(EPIPE);
	default:
		/* The connection died: its error once, then end of stream for
		 * a reader and EPIPE for a writer. */
		if (sock_take_err(s))
			return fail(-r);
		if (!writing)
			return 0;
		return fail(EPIPE);
	}
}

static int iov_check(const struct iovec *iov, int iovcnt)
{
	if (iovcnt < 0 || iovcnt > IOV_MAX_CNT || (iovcnt && !iov))
		return fail(EINVAL);
	size_t total = 0;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > (size_t)SSIZE_MAX - total)
			return fail(EINVAL);
		total += iov[i].iov_len;
	}
	return 0;
}

/* A connected socket for read/write, or NULL (errno). */
static struct sock *io_sock(struct bh_tcp *t, int fd, const struct iovec *iov, int iovcnt)
{
	struct sock *s = sock_get(t, fd);
	if (!s || iov_check(iov, iovcnt) < 0)
		return NULL;
	if (s->state != SK_CONN) {
		errno = ENOTCONN;
		return NULL;
	}
	return s;
}

/*
 * Move bytes between iov and the connection (tcp_send when sending, else
 * tcp_recv), in slices the core's uint32_t lengths can carry, until every
 * buffer is done or the core takes or gives less than asked. What was sent
 * is pushed unless hold (MSG_MORE) and the core took it all. Returns the
 * core's last result (<= 0 if it stopped on one); *moved is the total.
 */
static int iov_move(struct bh_tcp *t, struct tcp_conn *c, const struct iovec *iov, int iovcnt,
		    bool sending, bool hold, size_t *moved)
{
	int r = 0;
	bool all = true;
	*moved = 0;
	for (int i = 0; i < iovcnt && all; i++) {
		uint8_t *p = iov[i].iov_base;
		size_t left = iov[i].iov_len;
		while (left) {
			uint32_t n = left < IO_SLICE ? (uint32_t)left : IO_SLICE;
			/* Pieces only queue; one push sends them as full segments. */
			r = sending ? tcp_send_more(c, p, n, true, t->now) : tcp_recv(c, p, n, t->now);
			if (r <= 0)
				break;
			*moved += (size_t)r;
			p += r;
			left -= (size_t)r;
			if ((uint32_t)r < n)
				break; /* nothing more now: buffer full, or empty */
		}
		all = !left;
	}
	/* A full buffer is pushed even with hold: nothing else would make room. */
	if (sending && *moved && (!hold || !all))
		tcp_push(c, t->now);
	return r;
}

ssize_t bh_readv(struct bh_tcp *t, int fd, const struct iovec *iov, int iovcnt)
{
	struct sock *s = io_sock(t, fd, iov, iovcnt);
	if (!s)
		return -1;
	if (s->rd_shut) {
		sock_drain(t, s);
		return 0;
	}
	size_t total;
	int r = iov_move(t, s->c, iov, iovcnt, false, false, &total);
	if (total || r == 0)
		return (ssize_t)total;
	return conn_fail(s, r, false);
}

ssize_t bh_read(struct bh_tcp *t, int fd, void *buf, size_t n)
{
	struct iovec iov = {.iov_base = buf, .iov_len = n};
	return bh_readv(t, fd, &iov, 1);
}

ssize_t bh_writev(struct bh_tcp *t, int fd, const struct iovec *iov, int iovcnt)
{
	struct sock *s = io_sock(t, fd, iov, iovcnt);
	if (!s)
		return -1;
	if (s->wr_shut)
		return fail(EPIPE);
	size_t total;
	int r = iov_move(t, s->c, iov, iovcnt, true, false, &total);
	if (total)
		return (ssize_t)total;
	if (r == 0) {
		for (int i = 0; i < iovcnt; i++)
			if (iov[i].iov_len)
				return fail(EAGAIN); /* the send buffer is full */
		return 0; /* nothing was asked */
	}
	return conn_fail(s, r, true);
}

ssize_t bh_write(struct bh_tcp *t, int fd, const void *buf, size_t n)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = n};
	return bh_writev(t, fd, &iov, 1);
}

/* Remember s for bh_tcp_flush. false when there is no room to (the caller
 * pushes now instead). */
static bool sock_hold(struct bh_tcp *t, struct sock *s, int fd)
{
	if (s->held)
		return true;
	if (t->nr_held == t->held_cap) {
		uint32_t cap = t->held_cap ? 2 * t->held_cap : 64;
		uint32_t *h = realloc(t->held, cap * sizeof(*h));
		if (!h)
			return false;
		t->held = h;
		t->held_cap = cap;
	}
	t->held[t->nr_held++] = (uint32_t)fd;
	s->held = true;
	return true;
}

ssize_t bh_send(struct bh_tcp *t, int fd, const void *buf, size_t n, int flags)
{
	if (flags & ~(MSG_MORE | MSG_DONTWAIT | MSG_NOSIGNAL))
		return fail(EOPNOTSUPP);
	if (!(flags & MSG_MORE))
		return bh_write(t, fd, buf, n);
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = n};
	struct sock *s = io_sock(t, fd, &iov, 1);
	if (!s)
		return -1;
	if (s->wr_shut)
		return fail(EPIPE);
	size_t total;
	/* not held (pushed now) if there is no room to remember it */
	int r = iov_move(t, s->c, &iov, 1, true, sock_hold(t, s, fd), &total);
	if (total || n == 0)
		return (ssize_t)total;
	return r == 0 ? fail(EAGAIN) : conn_fail(s, r, true);
}

ssize_t bh_sendfile(struct bh_tcp *t, int fd, int in_fd, uint64_t offset, size_t n, int flags)
{
	if (flags & ~(MSG_MORE | MSG_DONTWAIT | MSG_NOSIGNAL))
		return fail(EOPNOTSUPP);
	struct sock *s = io_sock(t, fd, NULL, 0);
	if (!s)
		return -1;
	if (s->wr_shut)
		return fail(EPIPE);
	int r = tcp_send_check(s->c);
	if (r < 0)
		return conn_fail(s, r, true);
	/* From here on an error is the file's. */
	bool hold = (flags & MSG_MORE) && sock_hold(t, s, fd);
	size_t total = 0;
	while (total < n) {
		size_t left = n - total;
		r = tcp_send_file(s->c, in_fd, offset + total,
				  left < IO_SLICE ? (uint32_t)left : IO_SLICE, true, t->now);
		if (r <= 0)
			break;
		total += (size_t)r;
	}
	/* A full buffer is pushed even with hold: nothing else would make room. */
	if (total && (!hold || total < n))
		tcp_push(s->c, t->now);
	if (total || n == 0)
		return (ssize_t)total;
	if (r == -ENODATA)
		return 0;
	return fail(r == 0 ? EAGAIN : -r);
}

void bh_tcp_flush(struct bh_tcp *t)
{
	for (uint32_t i = 0; i < t->nr_held; i++) {
		struct fdent *e = &t->fds[t->held[i]];
		if (e->kind != FD_SOCK || !e->s.held)
			continue; /* closed since (close sent what was held) */
		e->s.held = false;
		if (e->s.state == SK_CONN && e->s.c)
			tcp_push(e->s.c, t->now);
	}
	t->nr_held = 0;
}

int bh_shutdown(struct bh_tcp *t, int fd, int how)
{
	struct sock *s = sock_get(t, fd);
	if (!s)
		return -1;
	if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
		return fail(EINVAL);
	if (s->state != SK_CONN)
		return fail(ENOTCONN);
	enum tcp_state cs = tcp_conn_state(s->c);
	if (cs == TCP_SYN_SENT || cs == TCP_CLOSED)
		return fail(ENOTCONN);
	uint32_t before = sock_poll(t, s);
	if (how != SHUT_RD) {
		int r = tcp_shutdown_write(s->c, t->now);
		if (r < 0)
			return fail(-r);
		s->wr_shut = true;
	}
	if (how != SHUT_WR) {
		s->rd_shut = true;
		sock_drain(t, s);
	}
	sock_wake_new(t, s, before);
	return 0;
}

static void epoll_unlink(struct epitem *it)
{
	link_del(&it->rlink);
	link_del(&it->ilink);
}

static void sock_unlink(struct epitem *it)
{
	struct epitem **p = &it->s->items;
	while (*p != it)
		p = &(*p)->snext;
	*p = it->snext;
}

int bh_close(struct bh_tcp *t, int fd)
{
	struct fdent *e = fd_get(t, fd);
	if (!e)
		return -1;
	if (e->kind == FD_EPOLL) {
		struct link *head = &e->e.interest;
		while (link_linked(head)) {
			struct epitem *it = ITEM_OF(head->next, ilink);
			epoll_unlink(it);
			sock_unlink(it);
			free(it);
		}
		fd_release(t, fd);
		return 0;
	}
	struct sock *s = &e->s;
	/* Closing the descriptor removes it from every epoll set (Linux, when
	 * no other descriptor refers to the file). */
	for (struct epitem *it = s->items, *n; it; it = n) {
		n = it->snext;
		epoll_unlink(it);
		free(it);
	}
	if (s->state == SK_LISTEN)
		tcp_unlisten(t->st, s->port, t->now);
	else if (s->state == SK_CONN)
		sock_drop_conn(t, s);
	if (s->port && t->ports[s->port] == (uint32_t)fd + 1)
		t->ports[s->port] = 0;
	fd_release(t, fd);
	return 0;
}

/* getsockname (peer false) and getpeername. */
static int sock_name(struct bh_tcp *t, int fd, struct sockaddr *addr, socklen_t *len, bool peer)
{
	struct sock *s = sock_get(t, fd);
	if (!s)
		return -1;
	if (!addr || !len)
		return fail(EFAULT);
	if (s->state != SK_CONN) {
		if (peer)
			return fail(ENOTCONN);
		put_sin(addr, len, s->addr, s->port);
		return 0;
	}
	enum tcp_state cs = tcp_conn_state(s->c);
	if (peer && (cs == TCP_SYN_SENT || cs == TCP_CLOSED))
		return fail(ENOTCONN);
	struct tcp_tuple tu;
	tcp_conn_tuple(s->c, &tu);
	put_sin(addr, len, peer ? tu.raddr : tu.laddr, peer ? tu.rport : tu.lport);
	return 0;
}

int bh_getsockname(struct bh_tcp *t, int fd, struct sockaddr *addr, socklen_t *len)
{
	return sock_name(t, fd, addr, len, false);
}

int bh_getpeername(struct bh_tcp *t, int fd, struct sockaddr *addr, socklen_t *len)
{
	return sock_name(t, fd, addr, len, true);
}

/* Remember a connection option, and apply it if the connection exists. */
static int opt_store(struct bh_tcp *t, struct sock *s, enum tcp_conn_opt o, uint32_t v)
{
	if (s->state == SK_CONN) {
		uint32_t before = sock_poll(t, s);
		int r = tcp_conn_setopt(s->c, o, v, t->now);
		if (r < 0)
			return fail(-r);
		sock_wake_new(t, s, before); /* a larger SO_SNDBUF makes room */
	}
	s->o.v[o] = v;
	s->o.set |= 1u << o;
	return 0;
}

int bh_setsockopt(struct bh_tcp *t, int fd, int level, int name, const void *val,
		  socklen_t len)
{
	struct sock *s = sock_get(t, fd);
	const struct optdef *d = s ? optdef_find(level, name) : NULL;
	if (!d)
		return -1;
	if (d->get_only)
		return fail(ENOPROTOOPT);
	if (!val)
		return fail(EFAULT);
	if (d->id == OPT_LINGER) {
		struct linger l;
		if (len < sizeof(l))
			return fail(EINVAL);
		memcpy(&l, val, sizeof(l));
		if (l.l_linger < 0)
			return fail(EINVAL);
		/* A non-zero time behaves as a graceful close: only {1, 0}
		 * reaches the connection. */
		if (opt_store(t, s, TCP_O_LINGER0, l.l_onoff && !l.l_linger) < 0)
			return -1;
		s->o.linger_on = l.l_onoff != 0;
		s->o.linger_s = l.l_linger;
		return 0;
	}
	int iv;
	if (len < sizeof(iv))
		return fail(EINVAL);
	memcpy(&iv, val, sizeof(iv));
	uint32_t v = d->boolean ? (iv != 0) : (uint32_t)iv;
	if (iv < 0 || v < d->lo || v > d->hi)
		return fail(EINVAL);
	if (d->id == OPT_REUSEADDR) {
		s->o.v[OPT_REUSEADDR] = v; /* no TIME-WAIT conflicts to relax */
		return 0;
	}
	return opt_store(t, s, (enum tcp_conn_opt)d->id, v);
}

int bh_getsockopt(struct bh_tcp *t, int fd, int level, int name, void *val, socklen_t *len)
{
	struct sock *s = sock_get(t, fd);
	const struct optdef *d = s ? optdef_find(level, name) : NULL;
	if (!d)
		return -1;
	if (!val || !len)
		return fail(EFAULT);
	if (d->id == OPT_LINGER) {
		struct linger l = {.l_onoff = s->o.linger_on, .l_linger = s->o.linger_s};
		if (*len < sizeof(l))
			return fail(EINVAL);
		memcpy(val, &l, sizeof(l));
		*len = sizeof(l);
		return 0;
	}
	if (*len < sizeof(int))
		return fail(EINVAL);
	uint32_t v = 0;
	bool live = s->state == SK_CONN && tcp_conn_state(s->c) != TCP_SYN_SENT &&
		    tcp_conn_state(s->c) != TCP_CLOSED;
	switch (d->id) {
	case OPT_ERROR:
		v = (uint32_t)sock_take_err(s);
		break;
	case OPT_TYPE:
		v = SOCK_STREAM;
		break;
	case OPT_MAXSEG:
		if (live) {
			struct tcp_conn_info ci;
			tcp_conn_info(s->c, &ci);
			v = ci.snd_mss;
		} else {
			v = t->conf.mtu - 40u;
		}
		break;
	case OPT_REUSEADDR:
		v = s->o.v[OPT_REUSEADDR];
		break;
	default:
		if (s->state != SK_CONN ||
		    tcp_conn_getopt(s->c, (enum tcp_conn_opt)d->id, &v) < 0)
			v = s->o.v[d->id];
		break;
	}
	int iv = (int)v;
	memcpy(val, &iv, sizeof(iv));
	*len = sizeof(iv);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* epoll */

int bh_epoll_create(struct bh_tcp *t)
{
	int fd = fd_alloc(t, FD_EPOLL);
	if (fd >= 0) {
		link_init(&t->fds[fd].e.interest);
		link_init(&t->fds[fd].e.ready);
	}
	return fd;
}

static struct epoll_set *epoll_get(struct bh_tcp *t, int epfd)
{
	struct fdent *e = fd_get_kind(t, epfd, FD_EPOLL, EINVAL);
	return e ? &e->e : NULL;
}

static struct epitem *item_find(const struct sock *s, const struct epoll_set *ep)
{
	struct epitem *it = s->items;
	while (it && it->ep != ep)
		it = it->snext;
	return it;
}

/* Linux checks readiness when a registration is made or changed, so a
 * socket that is ready already is reported once even with EPOLLET. */
static void item_arm(struct bh_tcp *t, struct epitem *it, const struct epoll_event *ev)
{
	it->events = ev->events;
	it->data = ev->data;
	it->armed = true;
	if (sock_poll(t, it->s) & item_mask(it))
		ready_add(it);
	else
		link_del(&it->rlink);
}

int bh_epoll_ctl(struct bh_tcp *t, int epfd, int op, int fd, struct epoll_event *ev)
{
	struct epoll_set *ep = epoll_get(t, epfd);
	if (!ep)
		return -1;
	struct fdent *e = fd_get(t, fd);
	if (!e)
		return -1;
	if (fd == epfd)
		return fail(EINVAL);
	if (e->kind != FD_SOCK)
		return fail(EPERM); /* no nested epoll sets */
	struct sock *s = &e->s;
	struct epitem *it = item_find(s, ep);
	switch (op) {
	case EPOLL_CTL_ADD:
		if (!ev)
			return fail(EFAULT);
		if (it)
			return fail(EEXIST);
		it = calloc(1, sizeof(*it));
		if (!it)
			return fail(ENOMEM);
		it->ep = ep;
		it->s = s;
		it->snext = s->items;
		s->items = it;
		link_init(&it->rlink);
		link_add_tail(&ep->interest, &it->ilink);
		item_arm(t, it, ev);
		return 0;
	case EPOLL_CTL_MOD:
		if (!ev)
			return fail(EFAULT);
		if (!it)
			return fail(ENOENT);
		if (ev->events & EPOLLEXCLUSIVE)
			return fail(EINVAL);
		item_arm(t, it, ev);
		return 0;
	case EPOLL_CTL_DEL:
		if (!it)
			return fail(ENOENT);
		epoll_unlink(it);
		sock_unlink(it);
		free(it);
		return 0;
	default:
		return fail(EINVAL);
	}
}

int bh_epoll_wait(struct bh_tcp *t, int epfd, struct epoll_event *evs, int maxevents,
		  int timeout)
{
	struct epoll_set *ep = epoll_get(t, epfd);
	if (!ep)
		return -1;
	if (maxevents <= 0 || timeout != 0)
		return fail(EINVAL);
	if (!evs)
		return fail(EFAULT);
	bh_tcp_flush(t);
	/* Visit each item queued now once: level-triggered items that stay
	 * ready go back to the tail, after `last`. */
	struct link *last = ep->ready.prev;
	int n = 0;
	while (n < maxevents && link_linked(&ep->ready)) {
		struct link *l = ep->ready.next;
		struct epitem *it = ITEM_OF(l, rlink);
		link_del(l);
		uint32_t rep = sock_poll(t, it->s) & item_mask(it);
		if (rep && it->armed) {
			evs[n].events = rep;
			evs[n].data = it->data;
			n++;
			if (it->events & EPOLLONESHOT)
				it->armed = false;
			else if (!(it->events & EPOLLET))
				ready_add(it);
		}
		if (l == last)
			break;
	}
	return n;
}

/* ---------------------------------------------------------------------- */
/* Instance */

static uint32_t or_default(uint32_t v, uint32_t def)
{
	return v ? v : def;
}

static int draw_secret(struct tcp_secret *sec)
{
	size_t got = 0;
	while (got < sizeof(sec->k)) {
		ssize_t r = getrandom(sec->k + got, sizeof(sec->k) - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

struct bh_tcp *bh_tcp_create(const struct bh_tcp_conf *conf, uint64_t now_ns)
{
	if (!conf || !conf->tx) {
		errno = EINVAL;
		return NULL;
	}
	struct bh_tcp *t = calloc(1, sizeof(*t));
	if (!t) {
		errno = ENOMEM;
		return NULL;
	}
	t->conf = *conf;
	struct bh_tcp_conf *k = &t->conf;
	k->mtu = (uint16_t)or_default(k->mtu, 1500);
	k->max_conns = or_default(k->max_conns, 16384);
	k->max_fds = or_default(k->max_fds, k->max_conns + 1024);
	k->sndbuf = or_default(k->sndbuf, 256u << 10);
	k->rcvbuf = or_default(k->rcvbuf, 256u << 10);
	k->cc = k->cc ? k->cc : "cubic";
	t->now = now_ns;

	struct tcp_stack_cfg cfg;
	memset(&cfg, 0, sizeof(cfg));
	memcpy(cfg.ifc.mac, k->mac, 6);
	cfg.ifc.mtu = k->mtu;
	cfg.ifc.ip = k->ip;
	cfg.ifc.mask = k->mask;
	cfg.ifc.gw = k->gw;
	cfg.arp.capacity = ARP_CAPACITY;
	cfg.arp.ttl_ns = (uint64_t)k->arp_timeout_s * 1000000000ull;
	cfg.io.tx = k->tx;
	cfg.io.ctx = k->tx_ctx;
	cfg.max_conns = k->max_conns;
	cfg.sndbuf = k->sndbuf;
	cfg.rcvbuf = k->rcvbuf;
	cfg.sndbuf_max = k->sndbuf_max;
	cfg.rcvbuf_max = k->rcvbuf_max;
	/* 0 means no cap to the pool: a cap below one chunk is one chunk. */
	cfg.pool_max_chunks = k->max_mem ? (k->max_mem + TCP_CHUNK_SIZE - 1) / TCP_CHUNK_SIZE : 0;
	cfg.no_ws = k->no_ws;
	cfg.no_sack = k->no_sack;
	cfg.no_ts = k->no_ts;
	cfg.no_syncookies = k->no_syncookies;
	cfg.cc = k->cc;
	cfg.msl_ns = (uint64_t)k->msl_s * 1000000000ull;
	cfg.rto_min_us = k->rto_min_ms * 1000u;
	cfg.delack_us = k->delack_ms * 1000u;
	cfg.keep_idle_s = k->keep_idle_s;
	cfg.keep_intvl_s = k->keep_intvl_s;
	cfg.keep_cnt = k->keep_cnt;
	cfg.fin_wait2_s = k->fin_wait2_s;
	cfg.event = on_event;
	cfg.event_ctx = t;
	if (draw_secret(&cfg.secret) < 0)
		goto fail;
	t->st = tcp_stack_create(&cfg);
	if (!t->st)
		goto fail;
	t->net = tcp_stack_net(t->st);

	t->max_fds = k->max_fds;
	t->fds = calloc(t->max_fds, sizeof(*t->fds));
	t->ports = calloc(NPORTS, sizeof(*t->ports));
	if (!t->fds || !t->ports) {
		errno = ENOMEM;
		goto fail;
	}
	for (uint32_t i = 0; i < t->max_fds; i++)
		t->fds[i].next_free = i + 1 < t->max_fds ? i + 1 : NO_FD;
	t->free_head = 0;

	struct sock_opts *d = &t->defaults;
	d->v[TCP_O_SNDBUF] = k->sndbuf;
	d->v[TCP_O_RCVBUF] = k->rcvbuf;
	d->v[TCP_O_KEEPIDLE] = or_default(k->keep_idle_s, 7200);
	d->v[TCP_O_KEEPINTVL] = or_default(k->keep_intvl_s, 75);
	d->v[TCP_O_KEEPCNT] = or_default(k->keep_cnt, 9);

	for (unsigned c = 0; c < TCP_C_MAX; c++)
		snprintf(t->ctr_names[c], sizeof(t->ctr_names[c]), "tcp_%s",
			 tcp_stack_counter_name(c));
	for (unsigned c = 0; c < TCP_NET_C_MAX; c++)
		snprintf(t->ctr_names[TCP_C_MAX + c], sizeof(t->ctr_names[0]), "net_%s",
			 tcp_net_counter_name(c));
	return t;
fail:;
	int e = errno;
	if (t->st)
		tcp_stack_destroy(t->st);
	free(t->fds);
	free(t->ports);
	free(t);
	errno = e;
	return NULL;
}

size_t bh_tcp_destroy(struct bh_tcp *t)
{
	if (!t)
		return 0;
	for (uint32_t fd = 0; fd < t->max_fds; fd++) {
		struct fdent *e = &t->fds[fd];
		if (e->kind == FD_EPOLL) {
			bh_close(t, (int)fd);
		} else if (e->kind == FD_SOCK && e->s.state == SK_CONN) {
			/* The core frees the connections in its table; one that
			 * already closed is only ours: close it (no segment). */
			tcp_conn_set_user(e->s.c, NULL);
			if (tcp_conn_state(e->s.c) == TCP_CLOSED)
				tcp_close(e->s.c, t->now);
		}
	}
	size_t live = tcp_stack_destroy(t->st);
	free(t->fds);
	free(t->ports);
	free(t->held);
	free(t);
	return live;
}

void bh_tcp_input(struct bh_tcp *t, const uint8_t *frame, uint32_t len, uint64_t now_ns)
{
	t->now = now_ns;
	tcp_stack_input(t->st, frame, len, now_ns);
	drain_pending(t);
}

uint64_t bh_tcp_timer(struct bh_tcp *t, uint64_t now_ns)
{
	t->now = now_ns;
	bh_tcp_flush(t);
	tcp_stack_timer(t->st, now_ns);
	drain_pending(t);
	return tcp_stack_next_timer(t->st);
}

void bh_tcp_announce(struct bh_tcp *t, uint64_t now_ns)
{
	(void)now_ns;
	uint8_t buf[TCP_NET_ARP_LEN];
	int n = tcp_net_garp(t->net, buf, sizeof(buf));
	if (n > 0)
		(void)t->conf.tx(t->conf.tx_ctx, buf, (uint32_t)n);
}

uint64_t bh_tcp_now(const struct bh_tcp *t)
{
	return t->now;
}

unsigned bh_tcp_counters(const struct bh_tcp *t, const char **names, uint64_t *values,
			 unsigned max)
{
	if (!names || !values)
		return NR_CTRS;
	const uint64_t *tc = tcp_stack_counters(t->st), *nc = tcp_net_counters(t->net);
	unsigned n = 0;
	for (; n < max && n < NR_CTRS; n++) {
		names[n] = t->ctr_names[n];
		values[n] = n < TCP_C_MAX ? tc[n] : nc[n - TCP_C_MAX];
	}
	return n;
}

uint32_t bh_tcp_nr_fds(const struct bh_tcp *t)
{
	return t->nr_fds;
}

uint32_t bh_tcp_nr_conns(const struct bh_tcp *t)
{
	return tcp_stack_nr_conns(t->st);
}
