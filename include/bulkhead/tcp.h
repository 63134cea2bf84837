/* SPDX-License-Identifier: MIT */
/*
 * The socket API of Bulkhead's user-level TCP stack: BSD sockets and epoll,
 * close enough that code written for them ports by renaming calls.
 *
 * A `struct bh_tcp` is one stack instance (one per NF process, that is per
 * core) with its own descriptor table. Descriptors are small ints private to
 * that instance, not kernel fds. The stack is driven by its owner's loop
 * (bh_tcp_input / bh_tcp_timer, see the end of this file); every socket call
 * is therefore non-blocking: an operation that would block fails with
 * EAGAIN (read, write, accept) or EINPROGRESS (connect), whether or not the
 * socket was created with SOCK_NONBLOCK, and readiness comes from
 * bh_epoll_wait(). bh_epoll_wait() never sleeps: the NF loop sleeps for it.
 *
 * Errors: every call returns -1 and sets errno as its BSD counterpart
 * would (EBADF, ENOTSOCK, EINVAL, EAGAIN, ENOTCONN, EPIPE, ECONNRESET, ...),
 * so ported code keeps its error handling. SIGPIPE is never raised.
 *
 * Threads: a bh_tcp and its descriptors belong to the thread that created it.
 *
 * Memory: socket buffers grow from a chunk pool shared by the instance and
 * shrink as data is acknowledged or read; the limits are the per-socket
 * buffer sizes (SO_SNDBUF, SO_RCVBUF) and the instance's optional cap on
 * chunks. Descriptors: up to bh_tcp_conf.max_fds.
 */
#ifndef BULKHEAD_TCP_H
#define BULKHEAD_TCP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h> /* struct epoll_event, EPOLLIN ... (kernel values) */
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

struct bh_tcp;

/* ---------------------------------------------------------------------- */
/* Sockets (see socket(2) and friends for the semantics each one keeps) */

/* AF_INET, SOCK_STREAM (| SOCK_NONBLOCK | SOCK_CLOEXEC, accepted and
 * ignored), protocol 0 or IPPROTO_TCP. Returns a descriptor or -1
 * (EAFNOSUPPORT, EPROTONOSUPPORT, EMFILE). */
int bh_socket(struct bh_tcp *t, int domain, int type, int protocol);

/* Address INADDR_ANY or the instance's own; port 0 picks an ephemeral port
 * at listen/connect. EADDRINUSE if a listener already has the port,
 * EADDRNOTAVAIL for another address, EINVAL if already bound. */
int bh_bind(struct bh_tcp *t, int fd, const struct sockaddr *addr, socklen_t len);
int bh_listen(struct bh_tcp *t, int fd, int backlog);

/* The next established connection, or -1 EAGAIN. addr/len may be NULL.
 * The new socket inherits the listener's socket options. */
int bh_accept(struct bh_tcp *t, int fd, struct sockaddr *addr, socklen_t *len);
int bh_accept4(struct bh_tcp *t, int fd, struct sockaddr *addr, socklen_t *len, int flags);

/* Starts the handshake: -1 EINPROGRESS. Completion shows as EPOLLOUT; then
 * SO_ERROR tells success (0) or why it failed (ECONNREFUSED, ETIMEDOUT).
 * A second call while connecting: EALREADY; once connected: EISCONN. */
int bh_connect(struct bh_tcp *t, int fd, const struct sockaddr *addr, socklen_t len);

/* read: bytes read, 0 at end of stream, -1 EAGAIN / ECONNRESET / ETIMEDOUT /
 * ENOTCONN. write/writev: bytes queued (possibly fewer than asked), -1 EAGAIN
 * when the send buffer is full, EPIPE after shutdown(SHUT_WR) or close by the
 * stack, ECONNRESET. */
ssize_t bh_read(struct bh_tcp *t, int fd, void *buf, size_t n);
ssize_t bh_write(struct bh_tcp *t, int fd, const void *buf, size_t n);
ssize_t bh_writev(struct bh_tcp *t, int fd, const struct iovec *iov, int iovcnt);
ssize_t bh_readv(struct bh_tcp *t, int fd, const struct iovec *iov, int iovcnt);

/* write with flags. MSG_MORE queues the bytes without sending them (as
 * TCP_CORK would): they go out, in full segments and with whatever follows
 * them, at the next write without it, shutdown or close (a FIN then rides
 * on the last of them), bh_tcp_flush, bh_epoll_wait or bh_tcp_timer, or at
 * once when the send buffer filled. MSG_DONTWAIT and MSG_NOSIGNAL are
 * accepted (every socket is non-blocking; there are no signals); any other
 * flag: -1 EOPNOTSUPP. */
ssize_t bh_send(struct bh_tcp *t, int fd, const void *buf, size_t n, int flags);

/* bh_send of n bytes of file in_fd from offset (pread: in_fd's own offset
 * stays), read straight into the send buffer (not through a buffer of the
 * caller's), and only as far as the buffer has room. Bytes queued (possibly
 * fewer than asked; the caller's offset moves on by them); 0 when the file
 * ends at offset; -1 EAGAIN when the send buffer is full, EPIPE / ECONNRESET /
 * ... as bh_send, or the error of reading the file (EBADF, EIO, ...). The
 * flags of bh_send. */
ssize_t bh_sendfile(struct bh_tcp *t, int fd, int in_fd, uint64_t offset, size_t n, int flags);

/* SHUT_WR sends a FIN after queued data; SHUT_RD discards further input;
 * SHUT_RDWR both. */
int bh_shutdown(struct bh_tcp *t, int fd, int how);

/* Release the descriptor. The connection closes gracefully in the
 * background (FIN after queued data) unless unread data remains or
 * SO_LINGER is on with a zero timeout, in which case it is reset. A
 * non-zero linger time is accepted and behaves as a graceful close. */
int bh_close(struct bh_tcp *t, int fd);

int bh_getsockname(struct bh_tcp *t, int fd, struct sockaddr *addr, socklen_t *len);
int bh_getpeername(struct bh_tcp *t, int fd, struct sockaddr *addr, socklen_t *len);

/*
 * Options with real effect: SOL_SOCKET SO_RCVBUF, SO_SNDBUF, SO_KEEPALIVE,
 * SO_LINGER, SO_REUSEADDR (accepted), SO_ERROR (get only, and clears it),
 * SO_TYPE (get); IPPROTO_TCP TCP_NODELAY, TCP_KEEPIDLE, TCP_KEEPINTVL,
 * TCP_KEEPCNT, TCP_MAXSEG (get), TCP_INFO is not provided. Anything else:
 * ENOPROTOOPT. Values out of range: EINVAL. Options set before connect or on
 * a listener apply to the connection(s) it makes.
 */
int bh_setsockopt(struct bh_tcp *t, int fd, int level, int name, const void *val,
		  socklen_t len);
int bh_getsockopt(struct bh_tcp *t, int fd, int level, int name, void *val, socklen_t *len);

/* ---------------------------------------------------------------------- */
/* Events (see epoll(7)): level-triggered by default, EPOLLET edge-triggered,
 * EPOLLONESHOT disarms after one report until re-armed with EPOLL_CTL_MOD.
 * Events: EPOLLIN (data, end of stream, or a connection to accept),
 * EPOLLOUT, EPOLLRDHUP, EPOLLERR and EPOLLHUP (always reported). */

int bh_epoll_create(struct bh_tcp *t);
int bh_epoll_ctl(struct bh_tcp *t, int epfd, int op, int fd, struct epoll_event *ev);
/* Never blocks: timeout must be 0 (-1 EINVAL otherwise). Returns the number
 * of events stored (0 when nothing is ready). */
int bh_epoll_wait(struct bh_tcp *t, int epfd, struct epoll_event *evs, int maxevents,
		  int timeout);

/* ---------------------------------------------------------------------- */
/* Driving the instance (the NF glue calls these; applications need not) */

struct bh_tcp_conf {
	uint32_t ip, mask, gw;  /* host order; gw 0: none */
	uint8_t mac[6];
	uint16_t mtu;           /* [1500] */
	uint32_t max_conns;     /* connection table [16384] */
	uint32_t max_fds;       /* descriptors [max_conns + 1024] */
	uint32_t sndbuf, rcvbuf; /* default per-socket buffer sizes [256 KiB] */
	uint32_t sndbuf_max, rcvbuf_max; /* auto-tuning ceiling [4 MiB]; at or below
				  * sndbuf / rcvbuf: no auto-tuning */
	size_t max_mem;         /* cap on buffer memory, bytes [none] */
	const char *cc;         /* "newreno" | "cubic" ["cubic"] */
	bool no_ws, no_sack, no_ts, no_syncookies;
	uint32_t rto_min_ms, delack_ms, msl_s, fin_wait2_s;
	uint32_t keep_idle_s, keep_intvl_s, keep_cnt;
	uint32_t arp_timeout_s;
	/* Frame output: copy the frame out; return 0 or -errno. */
	int (*tx)(void *ctx, const uint8_t *frame, uint32_t len);
	void *tx_ctx;
};

/* Create an instance (draws its ISN secret from getrandom). NULL on error
 * (errno). */
struct bh_tcp *bh_tcp_create(const struct bh_tcp_conf *conf, uint64_t now_ns);
/* Free it with every socket (no segment sent). Returns buffer chunks that
 * leaked (0 unless there is a bug). */
size_t bh_tcp_destroy(struct bh_tcp *t);

/* One received Ethernet frame (kept by the caller). */
void bh_tcp_input(struct bh_tcp *t, const uint8_t *frame, uint32_t len, uint64_t now_ns);
/* Run due timers; returns the next deadline (ns, UINT64_MAX: none). */
uint64_t bh_tcp_timer(struct bh_tcp *t, uint64_t now_ns);
/* Send what bh_send(MSG_MORE) held back: the end of an application's turn
 * (lib/tcpnf calls it after every step). */
void bh_tcp_flush(struct bh_tcp *t);
/* Send a gratuitous ARP for the instance's address. */
void bh_tcp_announce(struct bh_tcp *t, uint64_t now_ns);
/* The clock socket calls use: the latest now_ns given to input/timer. */
uint64_t bh_tcp_now(const struct bh_tcp *t);

/* Counters: the stack's and the network layer's, as name/value pairs.
 * Returns the count; names stay valid while the instance lives. */
unsigned bh_tcp_counters(const struct bh_tcp *t, const char **names, uint64_t *values,
			 unsigned max);
/* Sockets open, connections in the table. */
uint32_t bh_tcp_nr_fds(const struct bh_tcp *t);
uint32_t bh_tcp_nr_conns(const struct bh_tcp *t);

#endif
