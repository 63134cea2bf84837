/* SPDX-License-Identifier: MIT */
/*
 * The connection core of the TCP stack (RFC 9293): a stack instance with its
 * connection table and listeners, the state machine, data transfer with
 * retransmission and congestion control, and the close sequences.
 *
 * Pure C: no DPDK, no sockets, no globals, no clock reads. Time is passed in
 * (`now`, nanoseconds of any monotonic clock, the same clock as tcp_net);
 * frames go out through struct tcp_io as bytes. The stack owns a tcp_net
 * (Ethernet/ARP/IPv4) and feeds it every received frame.
 *
 * Threads: a stack and every connection in it belong to the thread that
 * created the stack; every call comes from that thread.
 *
 * What is here (and what is not yet):
 *   - passive and active open with MSS / window scale / SACK-permitted /
 *     timestamps negotiated (tcp_opt), SYN and SYN-ACK retransmission with
 *     RTO backoff, an accept queue per listener bounded by a backlog;
 *   - data: RFC 9293 acceptability (tcp_seq), in-order and out-of-order
 *     receive (tcp_rcvbuf), SACK blocks sent, window scaling, sending limited
 *     by min(peer window, cwnd), RTT sampling (TSecr, or Karn's rule),
 *     RTO with backoff (go-back-N from SND.UNA), fast retransmit, then
 *     SACK-based recovery (RFC 6675, tcp_sack) when SACK was agreed, else
 *     NewReno partial-ACK recovery (tcp_cc);
 *   - FIN both ways, every close state, TIME-WAIT for 2 MSL;
 *   - RST for segments to closed ports, RFC 5961 RST / SYN / ACK checks.
 *   - delayed ACK (every second segment, or the delack timer; at once for
 *     out-of-order data), Nagle unless NODELAY, persist (zero-window probes
 *     for as long as the peer answers), keep-alive, FIN-WAIT-2 limit for
 *     closed connections, PAWS, simultaneous open, SYN cookies when a
 *     backlog is full.
 * NOT here: urgent data (the urgent pointer is ignored), ICMP errors,
 * segments waiting on ARP (a segment whose next hop is unresolved is dropped
 * and counted; retransmission sends it again). Timers: a min-heap of the
 * connections with a deadline armed; a full table recycles the oldest
 * TIME-WAIT connection.
 */
#ifndef BH_TCP_CONN_H
#define BH_TCP_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "bulkhead/tcp_net.h"
#include "tcp_siphash.h"

struct tcp_conn; /* opaque handle */

/* Output: one Ethernet frame of len bytes. The buffer is the stack's and is
 * valid only during the call (copy it). Returns 0, or a negative errno
 * (counted as tx_fail; the segment counts as lost). */
struct tcp_io {
	void *ctx;
	int (*tx)(void *ctx, const uint8_t *frame, uint32_t len);
};

/* Stack configuration; 0 in a field selects the default in brackets. */
struct tcp_stack_cfg {
	struct tcp_if ifc;
	struct tcp_arp_cfg arp;
	struct tcp_io io;
	struct tcp_secret secret; /* ISN secret (RFC 6528); the caller draws it */
	uint32_t max_conns;       /* connection table capacity (required) */
	uint32_t sndbuf, rcvbuf;  /* per-connection buffer limits [256 KiB each] */
	uint32_t sndbuf_max, rcvbuf_max; /* auto-tuning grows them up to this [4 MiB
				   * each; at or below sndbuf / rcvbuf: off] */
	uint32_t max_ooo;         /* out-of-order ranges per receive buffer [16] */
	size_t pool_max_chunks;   /* cap on chunks held by all buffers [none] */
	bool no_ws, no_sack, no_ts; /* options NOT to offer */
	const char *cc;           /* "newreno" or "cubic" ["newreno"] */
	uint64_t msl_ns;          /* TIME-WAIT lasts 2 MSL [30 s] */
	uint32_t rto_min_us;      /* [TCP_RTO_MIN_US] */
	uint32_t syn_retries;     /* SYN / SYN-ACK retransmissions before giving up [5] */
	uint32_t data_retries;    /* data RTOs in a row before aborting [12] */
	uint32_t delack_us;       /* delayed-ACK timeout; UINT32_MAX: ACK every segment [40 ms] */
	uint32_t keep_idle_s;     /* keep-alive: idle time before the first probe [7200] */
	uint32_t keep_intvl_s;    /* keep-alive: between probes [75] */
	uint32_t keep_cnt;        /* keep-alive: unanswered probes before reset [9] */
	uint32_t fin_wait2_s;     /* FIN-WAIT-2 limit for connections the user closed [60] */
	bool no_syncookies;       /* never answer with SYN cookies when a backlog is full */
	/*
	 * Optional readiness notification: called whenever a connection may
	 * have become readable, writable, closed or errored, or (c == NULL) a
	 * listener on lport has a connection to accept. ev is a mask of
	 * TCP_EV_*: what may have changed; read tcp_conn_poll() for the state.
	 * Runs inside stack calls: it must only record, never call the stack.
	 */
	void (*event)(void *ctx, struct tcp_conn *c, uint16_t lport, unsigned ev);
	void *event_ctx;
};

/* Readiness bits (tcp_conn_poll, cfg.event). */
#define TCP_EV_IN 0x1u    /* data to read, or end of stream */
#define TCP_EV_OUT 0x2u   /* room in the send buffer */
#define TCP_EV_ERR 0x4u   /* the connection died (tcp_conn_error) */
#define TCP_EV_HUP 0x8u   /* closed both ways, or died */
#define TCP_EV_RDHUP 0x10u /* the peer's FIN arrived */
#define TCP_EV_CONN 0x20u /* SYN-SENT became ESTABLISHED (or failed: ERR) */

/*
 * Every counter of the stack, X(kind, name, description). Kinds:
 *   DROP   a received segment that was dropped (each one counts once);
 *   EVENT  anything else.
 */
#define TCP_STACK_COUNTERS(X)                                                       \
	X(DROP, not_tcp, "frame dropped by tcp_net, or UDP: nothing for TCP")     \
	X(DROP, bad_cksum, "TCP checksum wrong")                                  \
	X(DROP, bad_hdr, "TCP data offset or options malformed")                  \
	X(DROP, no_conn, "no connection or listener for the segment (RST sent unless RST)") \
	X(DROP, listen_nosyn, "segment to a listener without SYN (RST sent if ACK)") \
	X(DROP, listen_full, "SYN to a full backlog, SYN cookies off")            \
	X(DROP, syncookies_bad, "ACK to a listener with no valid SYN cookie (RST sent)") \
	X(DROP, table_full, "SYN dropped: connection table full")                 \
	X(DROP, no_mem, "SYN dropped: no memory for a connection")                \
	X(DROP, synsent_bad_ack, "SYN-SENT: ACK not for our SYN (RST sent unless RST)") \
	X(DROP, synsent_other, "SYN-SENT: neither SYN nor acceptable RST")        \
	X(DROP, unacceptable, "sequence number outside the window (ACK sent)")   \
	X(DROP, rst_out_of_window, "RST outside the window (RFC 5961)")          \
	X(DROP, rst_challenged, "RST in window but not exact: challenge ACK sent") \
	X(DROP, syn_challenged, "SYN in a synchronized state: challenge ACK sent") \
	X(DROP, no_ack, "segment without ACK in a synchronized state")            \
	X(DROP, synrcvd_bad_ack, "SYN-RCVD: ACK not for our SYN-ACK (RST sent)")  \
	X(DROP, ack_future, "ACK for data not sent yet (ACK sent)")               \
	X(DROP, ack_stale, "ACK older than the window (challenge ACK sent)")      \
	X(DROP, paws_rejected, "timestamp older than TS.Recent (PAWS, ACK sent)") \
	X(DROP, rcvbuf_full, "data not stored: out-of-order ranges or chunks exhausted") \
	X(DROP, data_after_close, "data for a connection the user closed (RST sent)") \
	X(EVENT, seg_in, "TCP segments processed by a connection or listener")    \
	X(EVENT, seg_out, "TCP segments handed to tcp_io")                        \
	X(EVENT, tx_fail, "tcp_io refused a frame")                               \
	X(EVENT, tx_no_route, "segment not sent: tcp_net refused it (no route, ARP full, too big)") \
	X(EVENT, tx_arp_wait, "segment not sent: next hop being resolved")        \
	X(EVENT, active_opens, "connections opened by tcp_connect")               \
	X(EVENT, passive_opens, "SYNs accepted by a listener")                    \
	X(EVENT, simultaneous_opens, "SYNs crossing ours in SYN-SENT")            \
	X(EVENT, syncookies_sent, "SYN-ACKs with a SYN cookie (backlog full)")    \
	X(EVENT, syncookies_ok, "connections rebuilt from a valid SYN cookie")    \
	X(EVENT, established, "connections that reached ESTABLISHED")             \
	X(EVENT, accepted, "connections taken by tcp_accept")                     \
	X(EVENT, rst_sent, "RST segments sent")                                   \
	X(EVENT, rst_accepted, "connections reset by a peer's RST")               \
	X(EVENT, challenge_acks, "challenge ACKs sent (RFC 5961)")                \
	X(EVENT, data_segs_in, "segments carrying data stored in order")          \
	X(EVENT, ooo_segs_in, "segments carrying data stored out of order")       \
	X(EVENT, dup_segs_in, "segments whose data was all held already")         \
	X(EVENT, dupacks_in, "duplicate ACKs (RFC 5681) received")                \
	X(EVENT, syn_retrans, "SYN or SYN-ACK retransmissions")                   \
	X(EVENT, rto_expired, "retransmission timeouts in data states")           \
	X(EVENT, fast_retrans, "fast retransmits (DupThresh dupacks, or a tail loss probe's SACK)") \
	X(EVENT, partial_retrans, "retransmits on a NewReno partial ACK")         \
	X(EVENT, sack_retrans, "retransmissions chosen by the SACK scoreboard (RFC 6675)") \
	X(EVENT, lost_retrans, "retransmissions resent, SACKs of later data showing them lost") \
	X(EVENT, tlp_probes, "tail loss probes sent (RFC 8985)")                   \
	X(EVENT, tlp_found_lost, "probes whose SACK showed the data sent before them lost") \
	X(EVENT, tlp_repaired, "losses a probe repaired alone (cwnd reduced as for a loss)") \
	X(EVENT, limited_transmits, "new segments sent on early dupacks (RFC 3042)") \
	X(EVENT, reorder_seen, "late segments seen (DupThresh follows them)")          \
	X(EVENT, rcvbuf_grown, "receive buffers grown by auto-tuning")            \
	X(EVENT, sndbuf_grown, "send buffers grown by auto-tuning")               \
	X(EVENT, spurious_undone, "recoveries undone: every resend D-SACKed (RFC 3708)") \
	X(EVENT, rtt_samples, "RTT samples fed to the estimator")                 \
	X(EVENT, timeouts, "connections given up after too many retransmissions") \
	X(EVENT, tw_expired, "TIME-WAIT connections expired")                     \
	X(EVENT, tw_recycled, "TIME-WAIT connections freed early to make room (table full)") \
	X(EVENT, tw_reopened, "TIME-WAIT connections replaced by a new SYN (RFC 6191)") \
	X(EVENT, keepalive_probes, "keep-alive probes sent")                      \
	X(EVENT, keepalive_drops, "connections reset after unanswered keep-alive probes") \
	X(EVENT, delayed_acks, "ACKs sent when the delayed-ACK timer expired")     \
	X(EVENT, nagle_held, "short segments held back by Nagle's algorithm")     \
	X(EVENT, persist_probes, "zero-window probes sent")                       \
	X(EVENT, oow_acks_held, "ACKs not sent for a refused bare segment (one per 500 ms)") \
	X(EVENT, zero_window_acks, "segments at RCV.NXT while our window was shut: ACK taken, data dropped") \
	X(EVENT, fin_wait2_timeouts, "closed connections freed after the FIN-WAIT-2 limit") \
	X(EVENT, conns_freed, "connections freed")

enum tcp_stack_kind { TCP_STACK_K_DROP, TCP_STACK_K_EVENT };
#define TCP_STACK_X_ENUM(kind, name, desc) TCP_C_##name,
enum tcp_stack_ctr { TCP_STACK_COUNTERS(TCP_STACK_X_ENUM) TCP_C_MAX };
#undef TCP_STACK_X_ENUM

enum tcp_state {
	TCP_CLOSED,
	TCP_SYN_SENT,
	TCP_SYN_RCVD,
	TCP_ESTABLISHED,
	TCP_FIN_WAIT_1,
	TCP_FIN_WAIT_2,
	TCP_CLOSING,
	TCP_TIME_WAIT,
	TCP_CLOSE_WAIT,
	TCP_LAST_ACK,
};

struct tcp_stack;

/* Create a stack; copies cfg. Returns NULL (errno EINVAL or ENOMEM). */
struct tcp_stack *tcp_stack_create(const struct tcp_stack_cfg *cfg);

/*
 * Free the stack and every connection still in it (no segment is sent;
 * handles the user still holds become invalid). Returns the chunks still
 * live in the pool after everything was freed: 0 unless a buffer leaked.
 */
size_t tcp_stack_destroy(struct tcp_stack *st);

/*
 * One received Ethernet frame (the caller keeps it). ARP and ICMP echo are
 * answered through tcp_io; TCP segments are processed. Returns 0.
 */
int tcp_stack_input(struct tcp_stack *st, const uint8_t *frame, uint32_t len, uint64_t now);

/* Run every timer due at now (retransmission, TIME-WAIT, ARP). */
void tcp_stack_timer(struct tcp_stack *st, uint64_t now);

/* When to call tcp_stack_timer next: no timer (TCP or ARP) is due before it
 * (UINT64_MAX: none armed). A lower bound: a deadline disarmed since may still show, and
 * calling tcp_stack_timer then does nothing but refresh it. O(1). */
uint64_t tcp_stack_next_timer(const struct tcp_stack *st);

/* TCP_C_MAX counters indexed by enum tcp_stack_ctr; valid while st lives. */
const uint64_t *tcp_stack_counters(const struct tcp_stack *st);
const char *tcp_stack_counter_name(unsigned c);
const char *tcp_stack_counter_desc(unsigned c);
/* Connections allocated (any state, including TIME-WAIT and unaccepted). */
uint32_t tcp_stack_nr_conns(const struct tcp_stack *st);
/* Chunks held by all buffers of the stack. */
size_t tcp_stack_chunks_live(const struct tcp_stack *st);
/* The stack's network layer (for ARP priming, counters). */
struct tcp_net *tcp_stack_net(struct tcp_stack *st);

/* Listen on port with at most backlog connections waiting (SYN-RCVD or in
 * the accept queue). Returns 0, -EADDRINUSE, -EINVAL, -ENOMEM. */
int tcp_listen(struct tcp_stack *st, uint16_t port, uint32_t backlog);
/* Stop listening: connections not yet accepted are reset and freed.
 * Returns 0 or -ENOENT. */
int tcp_unlisten(struct tcp_stack *st, uint16_t port, uint64_t now);

/* The oldest established connection of the listener on port, or NULL
 * (errno EAGAIN: none yet; ENOENT: no listener). The caller owns the handle
 * until tcp_close / tcp_abort. */
struct tcp_conn *tcp_accept(struct tcp_stack *st, uint16_t port);

/* Open a connection to raddr:rport from lport (0: an ephemeral port); sends
 * the SYN. Returns the handle (owned by the caller until tcp_close /
 * tcp_abort), or NULL (errno ENOMEM, ENFILE: table full, EADDRNOTAVAIL: no
 * free port, EADDRINUSE: lport taken for that peer). */
struct tcp_conn *tcp_connect(struct tcp_stack *st, uint32_t raddr, uint16_t rport,
			     uint16_t lport, uint64_t now);

/* Connections waiting in the accept queue of the listener on port. */
uint32_t tcp_listen_pending(const struct tcp_stack *st, uint16_t port);

/* Queue up to len bytes (copied). Returns the bytes taken (0 when the send
 * buffer is full), -ENOTCONN before ESTABLISHED, -EPIPE after shutdown,
 * -ECONNRESET / -ETIMEDOUT once the connection died. */
int tcp_send(struct tcp_conn *c, const void *data, uint32_t len, uint64_t now);

/* tcp_send, but with more set the data only queues (nothing is sent until
 * a call without it, or tcp_push): a write of several pieces goes out in
 * full segments even with NODELAY. */
int tcp_send_more(struct tcp_conn *c, const void *data, uint32_t len, bool more, uint64_t now);

/* 0 when the connection takes data now, else the error tcp_send returns. */
int tcp_send_check(const struct tcp_conn *c);

/* tcp_send_more, the bytes read from file fd at offset off straight into the
 * send buffer (tcp_sndbuf_append_fd: a call takes 64 KiB at most). Also
 * -ENODATA when the file ends at off, -errno when reading it failed. */
int tcp_send_file(struct tcp_conn *c, int fd, uint64_t off, uint32_t len, bool more, uint64_t now);
void tcp_push(struct tcp_conn *c, uint64_t now);

/* Read up to len bytes. Returns the count, 0 at end of stream (FIN read),
 * -EAGAIN if nothing yet, -ECONNRESET / -ETIMEDOUT once it died. */
int tcp_recv(struct tcp_conn *c, void *buf, uint32_t len, uint64_t now);

/* Send a FIN after the queued data. Returns 0, -ENOTCONN. Idempotent. */
int tcp_shutdown_write(struct tcp_conn *c, uint64_t now);

/*
 * Give up the handle. A graceful close (FIN after queued data) unless
 * unread data remains, in which case the connection is reset (RFC 2525).
 * The stack frees the connection when it reaches CLOSED (after TIME-WAIT).
 * Data arriving afterwards is answered with RST.
 */
void tcp_close(struct tcp_conn *c, uint64_t now);

/* Reset the connection (RST if synchronized) and free the handle. */
void tcp_abort(struct tcp_conn *c, uint64_t now);

/* Level-triggered readiness of a connection: a mask of TCP_EV_*. */
unsigned tcp_conn_poll(const struct tcp_conn *c);
/* Bytes ready to read; room in the send buffer. */
uint32_t tcp_conn_readable(const struct tcp_conn *c);
uint32_t tcp_conn_writable(const struct tcp_conn *c);

/* One pointer of the user's per connection (NULL until set). */
void tcp_conn_set_user(struct tcp_conn *c, void *p);
void *tcp_conn_user(const struct tcp_conn *c);

/* Addresses and ports of the connection (host order). */
void tcp_conn_tuple(const struct tcp_conn *c, struct tcp_tuple *out);

/*
 * Per-connection options, all with immediate effect:
 *   NODELAY     0/1: Nagle off when 1
 *   SNDBUF      bytes the send buffer may hold (>= 1 MSS)
 *   RCVBUF      bytes the receive buffer may hold (capped by the window
 *               scale agreed in the handshake; shrinking never reneges on an
 *               advertised window)
 *   KEEPALIVE   0/1; KEEPIDLE, KEEPINTVL seconds; KEEPCNT probes
 *   LINGER0     1: tcp_close resets the connection instead of a FIN
 * Return 0, or -EINVAL for an unknown option or a value out of range.
 */
enum tcp_conn_opt {
	TCP_O_NODELAY,
	TCP_O_SNDBUF,
	TCP_O_RCVBUF,
	TCP_O_KEEPALIVE,
	TCP_O_KEEPIDLE,
	TCP_O_KEEPINTVL,
	TCP_O_KEEPCNT,
	TCP_O_LINGER0,
};
int tcp_conn_setopt(struct tcp_conn *c, enum tcp_conn_opt o, uint32_t v, uint64_t now);
int tcp_conn_getopt(const struct tcp_conn *c, enum tcp_conn_opt o, uint32_t *v);

enum tcp_state tcp_conn_state(const struct tcp_conn *c);
const char *tcp_state_name(enum tcp_state s);
/* Why the connection died: 0, ECONNRESET, ECONNREFUSED or ETIMEDOUT. */
int tcp_conn_error(const struct tcp_conn *c);
/* Bytes queued and not yet acknowledged by the peer. */
uint32_t tcp_conn_unacked(const struct tcp_conn *c);

/* What the handshake agreed on (valid once synchronized). */
struct tcp_conn_info {
	uint16_t snd_mss;
	uint8_t snd_wscale, rcv_wscale;
	bool ws, sack, ts;
	uint32_t cwnd, ssthresh, srtt_us, rto_us;
	uint32_t min_rtt_us; /* the smallest RTT of the last 10 s (UINT32_MAX: none yet) */
	uint16_t lport, rport;
	uint32_t iss, irs; /* initial send / receive sequence numbers */
};
void tcp_conn_info(const struct tcp_conn *c, struct tcp_conn_info *out);

#endif
