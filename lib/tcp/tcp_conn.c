/* SPDX-License-Identifier: MIT */
/*
 * The connection core: see tcp_conn.h for the contract and the list of what
 * is not implemented yet. Segment processing follows RFC 9293 §3.10.7 in
 * order; the comments name the step.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tcp_buf.h"
#include "tcp_cc.h"
#include "tcp_cksum.h"
#include "tcp_conn.h"
#include "tcp_cookie.h"
#include "tcp_sack.h"
#include "tcp_isn.h"
#include "tcp_opt.h"
#include "tcp_rto.h"
#include "tcp_seq.h"

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_PSH 0x08
#define TH_ACK 0x10

#define NS_PER_US 1000ull
#define MIN_RTT_WIN (10ull * 1000000000ull) /* ns: how long the smallest RTT holds */
#define RTT_NONE UINT32_MAX                    /* no RTT sample (min_rtt_us) */
#define EPH_LO 49152u
#define EPH_N 16384u

struct tcp_listener {
	struct tcp_listener *next;
	uint16_t port;
	uint32_t backlog, nr_pending; /* SYN-RCVD + queued */
	uint32_t nr_ready;            /* queued and not closed since: what accept returns */
	struct tcp_conn *q_head, *q_tail;
};

#define UNDO_MAX 16 /* a recovery with more resends is not undone */

struct tcp_conn {
	struct tcp_stack *st;
	struct tcp_conn *hnext;       /* hash chain */
	struct tcp_conn *qnext;       /* accept queue */
	struct tcp_listener *lst;     /* listener until accepted */
	struct tcp_tuple t;
	enum tcp_state state;
	bool hashed, in_queue, user_owned, user_closed;
	bool fin_queued, fin_sent, fin_rcvd, rtt_active;
	uint32_t fin_seq;             /* valid once fin_sent */
	int err;

	uint32_t iss, irs;
	uint32_t snd_una, snd_nxt, snd_max, snd_wnd, snd_wl1, snd_wl2, max_snd_wnd;
	uint32_t rcv_adv;             /* right edge of the window we advertised */
	uint32_t rcv_adv_max;         /* the largest window we advertised */
	uint32_t rtt_seq;             /* Karn timing: sample when SND.UNA passes it */
	uint64_t rtt_start;

	struct tcp_syn_cfg syn;
	struct tcp_opts peer_syn;     /* options of the peer's SYN (passive side) */
	struct tcp_opt_neg neg;
	uint32_t ts_recent;

	struct tcp_sndbuf sb;
	struct tcp_rcvbuf rb;
	struct tcp_rto rto;
	struct tcp_cc cc;
	struct tcp_sack_sb sack;      /* what the peer SACKed (when sack_on) */
	bool sack_on;
	uint32_t retries;             /* RTO expiries in a row */
	uint64_t rto_at, tw_at;       /* 0: not armed */
	bool pto;                     /* rto_at is a probe timeout (tail loss probe) */
	bool tlp_out;                 /* a probe sent, SND.UNA not past it yet */
	bool tlp_rxt, tlp_dsack;      /* it resent data; a D-SACK showed it needless */
	bool tlp_in_rec;              /* it went out during a recovery */
	uint32_t tlp_seq, tlp_end;    /* its sequence space (tlp_end: its FIN included) */
	uint32_t dsack_seq, dsack_len; /* a duplicate to report in the next segment (RFC 2883) */
	/* The last recovery's resends, each crossed out when a D-SACK reports
	 * it (RFC 3708): when none is left the recovery was for nothing. */
	struct { uint32_t seq, end; } undo_rxt[UNDO_MAX];
	uint8_t undo_n;               /* resends not yet reported twice */
	bool undo_on;                 /* the list is whole (not overflowed, no timeout) */
	/* Buffer auto-tuning (buf_want): off for a buffer the user sized. */
	bool sndbuf_set, rcvbuf_set;
	/* The smallest RTT of the last MIN_RTT_WIN (min_rtt_sample; 0: a
	 * timestamp's sample under 1 ms), and the smallest seen since it;
	 * RTT_NONE: none. */
	uint32_t min_rtt_us, min_rtt_next_us;
	uint64_t min_rtt_at, min_rtt_next_at;
	uint32_t rtune_rd, stune_una; /* RD.NXT, SND.UNA when the current rounds began */
	uint64_t rtune_at, stune_at;  /* when they began, 0: not yet */

	void *user;
	bool want_mem;                /* a send found the memory cap reached */
	bool nodelay, keepalive, linger0;
	uint32_t keep_idle_s, keep_intvl_s, keep_cnt;
	uint32_t keep_probes;         /* probes sent since the peer was last heard */
	uint64_t keep_at;             /* next keep-alive deadline, 0: not armed */
	uint64_t delack_at;           /* delayed ACK due, 0: none pending */
	uint32_t segs_unacked;        /* in-order data segments not ACKed yet */
	uint64_t last_rx;             /* when a segment last arrived */
	uint64_t oow_ack_at;          /* last ACK answering a refused bare segment */
	/* Timer heap: position (HEAP_NONE: not in it) and the key it is filed
	 * under, never later than its earliest armed deadline (it may be
	 * earlier: disarming does not refile; the stack finds out when due). */
	uint32_t heap_idx;
	uint64_t heap_key;
	struct tcp_conn *tw_prev, *tw_next; /* TIME-WAIT list, when on it */
	bool on_tw;
};

/* What a readiness notification compares: the state before a stack call. */
struct conn_snap {
	uint32_t readable, writable;
	enum tcp_state state;
	bool fin_rcvd, notify;
};

struct tcp_stack {
	struct tcp_stack_cfg cfg;
	struct tcp_net *net;
	const struct tcp_cc_ops *cc_ops;
	struct tcp_chunk_pool pool;
	struct tcp_conn **tab;
	uint32_t tab_mask, nr_conns;
	struct tcp_listener *listeners;
	uint32_t eph_next;
	uint8_t *txbuf;
	uint32_t txcap;
	/* Connections with a timer armed, in a binary min-heap on heap_key. */
	struct tcp_conn **heap;
	uint32_t heap_n;
	/* TIME-WAIT connections, oldest first: recycled when the table is full.
	 * Their 2 MSL all last the same, so the list is in deadline order and
	 * its head is the next to expire: they stay out of the heap, which then
	 * holds only live connections however many thousand wait here. */
	struct tcp_conn *tw_head, *tw_tail;
	uint64_t cookie_sent_at;      /* last SYN cookie sent, 0: never */
	uint32_t nr_want_mem;         /* connections with want_mem set */
	uint64_t mem_retry_at;        /* when waiting senders try again, 0: not armed */
	uint64_t ctr[TCP_C_MAX];
};

static const char *const ctr_names[] = {
#define X(kind, name, desc) #name,
	TCP_STACK_COUNTERS(X)
#undef X
};
static const char *const ctr_descs[] = {
#define X(kind, name, desc) desc,
	TCP_STACK_COUNTERS(X)
#undef X
};

static inline void count(struct tcp_stack *st, enum tcp_stack_ctr c)
{
	st->ctr[c]++;
}

/* ---------------------------------------------------------------------- */
/* Timer heap: O(log n) to arm, O(1) to find the next deadline, and only
 * connections whose deadline came are touched. */

#define HEAP_NONE UINT32_MAX

static void heap_place(struct tcp_stack *st, uint32_t i, struct tcp_conn *c)
{
	st->heap[i] = c;
	c->heap_idx = i;
}

static void heap_up(struct tcp_stack *st, uint32_t i)
{
	struct tcp_conn *c = st->heap[i];
	while (i) {
		uint32_t p = (i - 1) / 2;
		if (st->heap[p]->heap_key <= c->heap_key)
			break;
		heap_place(st, i, st->heap[p]);
		i = p;
	}
	heap_place(st, i, c);
}

static void heap_down(struct tcp_stack *st, uint32_t i)
{
	struct tcp_conn *c = st->heap[i];
	for (;;) {
		uint32_t l = 2 * i + 1, m = i;
		uint64_t key = c->heap_key;
		if (l < st->heap_n && st->heap[l]->heap_key < key)
			m = l, key = st->heap[l]->heap_key;
		if (l + 1 < st->heap_n && st->heap[l + 1]->heap_key < key)
			m = l + 1;
		if (m == i)
			break;
		heap_place(st, i, st->heap[m]);
		i = m;
	}
	heap_place(st, i, c);
}

static void heap_del(struct tcp_conn *c)
{
	struct tcp_stack *st = c->st;
	uint32_t i = c->heap_idx;
	if (i == HEAP_NONE)
		return;
	c->heap_idx = HEAP_NONE;
	struct tcp_conn *last = st->heap[--st->heap_n];
	if (i == st->heap_n)
		return;
	heap_place(st, i, last);
	heap_down(st, i);
	heap_up(st, last->heap_idx);
}

/* File c under key (UINT64_MAX: take it out). */
static void heap_set(struct tcp_conn *c, uint64_t key)
{
	struct tcp_stack *st = c->st;
	if (key == UINT64_MAX) {
		heap_del(c);
		return;
	}
	if (c->heap_idx == HEAP_NONE) {
		c->heap_key = key;
		heap_place(st, st->heap_n++, c);
		heap_up(st, c->heap_idx);
		return;
	}
	uint64_t old = c->heap_key;
	c->heap_key = key;
	if (key < old)
		heap_up(st, c->heap_idx);
	else
		heap_down(st, c->heap_idx);
}

/* Arm one of a connection's deadlines. Arming later than it is filed keeps
 * the filing (it comes up early and is refiled then): no heap work per ACK. */
static void set_timer(struct tcp_conn *c, uint64_t *field, uint64_t at)
{
	*field = at;
	if (at && (c->heap_idx == HEAP_NONE || at < c->heap_key))
		heap_set(c, at);
}

static void tw_unlink(struct tcp_conn *c)
{
	struct tcp_stack *st = c->st;
	if (!c->on_tw)
		return;
	*(c->tw_prev ? &c->tw_prev->tw_next : &st->tw_head) = c->tw_next;
	*(c->tw_next ? &c->tw_next->tw_prev : &st->tw_tail) = c->tw_prev;
	c->tw_prev = c->tw_next = NULL;
	c->on_tw = false;
}

static bool user_watches(const struct tcp_conn *c)
{
	return c->st->cfg.event && c->user_owned && !c->user_closed;
}

static void snap_take(const struct tcp_conn *c, struct conn_snap *s)
{
	s->notify = user_watches(c);
	if (!s->notify)
		return;
	s->readable = tcp_rcvbuf_readable(&c->rb);
	s->writable = tcp_conn_writable(c);
	s->state = c->state;
	s->fin_rcvd = c->fin_rcvd;
}

/* Report what changed since snap_take (the connection is alive: a user-owned
 * connection is never freed by the stack). */
static void snap_notify(const struct tcp_conn *c, const struct conn_snap *s)
{
	if (!s->notify)
		return;
	unsigned ev = 0;
	if (tcp_rcvbuf_readable(&c->rb) > s->readable)
		ev |= TCP_EV_IN;
	if (tcp_conn_writable(c) > s->writable)
		ev |= TCP_EV_OUT;
	if (c->fin_rcvd && !s->fin_rcvd)
		ev |= TCP_EV_IN | TCP_EV_RDHUP;
	if (c->state != s->state) {
		if ((s->state == TCP_SYN_SENT || s->state == TCP_SYN_RCVD) &&
		    c->state != TCP_SYN_RCVD)
			ev |= TCP_EV_CONN | TCP_EV_OUT;
		if (c->state == TCP_CLOSED)
			ev |= TCP_EV_IN | TCP_EV_OUT | TCP_EV_HUP | (c->err ? TCP_EV_ERR : 0);
	}
	if (ev)
		c->st->cfg.event(c->st->cfg.event_ctx, (struct tcp_conn *)c, c->t.lport, ev);
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}
static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void wr16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}
static void wr32(uint8_t *p, uint32_t v)
{
	wr16(p, v >> 16);
	wr16(p + 2, v);
}

static uint64_t us_of(uint64_t now)
{
	return now / NS_PER_US;
}
/* Timestamp clock: 1 ms ticks (RFC 7323 §5.4 allows 1 ms .. 1 s). */
static uint32_t ts_now(uint64_t now)
{
	return (uint32_t)(now / 1000000ull);
}

/* ---------------------------------------------------------------------- */
/* Connection table */

static uint32_t tuple_hash(const struct tcp_stack *st, const struct tcp_tuple *t)
{
	uint32_t salt = 0x7461626cu; /* so the table hash is not the ISN offset */
	return (uint32_t)tcp_siphash_tuple(&st->cfg.secret, t, &salt, 1);
}

static bool tuple_eq(const struct tcp_tuple *a, const struct tcp_tuple *b)
{
	return a->laddr == b->laddr && a->raddr == b->raddr && a->lport == b->lport &&
	       a->rport == b->rport;
}

static struct tcp_conn *lookup(const struct tcp_stack *st, const struct tcp_tuple *t)
{
	for (struct tcp_conn *c = st->tab[tuple_hash(st, t) & st->tab_mask]; c; c = c->hnext)
		if (tuple_eq(&c->t, t))
			return c;
	return NULL;
}

static void hash_insert(struct tcp_conn *c)
{
	struct tcp_stack *st = c->st;
	struct tcp_conn **b = &st->tab[tuple_hash(st, &c->t) & st->tab_mask];
	c->hnext = *b;
	*b = c;
	c->hashed = true;
}

static void hash_remove(struct tcp_conn *c)
{
	struct tcp_stack *st = c->st;
	if (!c->hashed)
		return;
	struct tcp_conn **p = &st->tab[tuple_hash(st, &c->t) & st->tab_mask];
	while (*p != c)
		p = &(*p)->hnext;
	*p = c->hnext;
	c->hashed = false;
}

static struct tcp_listener *find_listener(const struct tcp_stack *st, uint16_t port)
{
	for (struct tcp_listener *l = st->listeners; l; l = l->next)
		if (l->port == port)
			return l;
	return NULL;
}

/* The shift we offer: enough for TCP_RCVBUF_SCALE_FOR, or the configured
 * buffer if larger, so SO_RCVBUF can grow a connection after the handshake
 * (the shift is fixed then). Granularity 2^shift bytes is the price. */
#define TCP_RCVBUF_SCALE_FOR (16u << 20)
static uint8_t pick_wscale(uint32_t rcvbuf)
{
	uint8_t s = 0;
	if (rcvbuf < TCP_RCVBUF_SCALE_FOR)
		rcvbuf = TCP_RCVBUF_SCALE_FOR;
	while (s < TCP_WSCALE_MAX && (rcvbuf >> s) > 65535u)
		s++;
	return s;
}

static void conn_closed(struct tcp_conn *c, int err);

static struct tcp_conn *conn_new(struct tcp_stack *st, const struct tcp_tuple *t, uint64_t now)
{
	/* A full table gives up its oldest TIME-WAIT connection nobody holds
	 * (RFC 6191 lets a new connection take over one; we make room). */
	for (struct tcp_conn *o = st->tw_head; o && st->nr_conns >= st->cfg.max_conns; o = o->tw_next)
		if (!o->user_owned || o->user_closed) {
			count(st, TCP_C_tw_recycled);
			conn_closed(o, 0);
			break;
		}
	if (st->nr_conns >= st->cfg.max_conns) {
		errno = ENFILE;
		return NULL;
	}
	struct tcp_conn *c = calloc(1, sizeof(*c));
	if (!c) {
		errno = ENOMEM;
		return NULL;
	}
	c->st = st;
	c->t = *t;
	c->heap_idx = HEAP_NONE;
	if (tcp_rcvbuf_init(&c->rb, &st->pool, 0, st->cfg.rcvbuf, st->cfg.max_ooo) < 0) {
		free(c);
		errno = ENOMEM;
		return NULL;
	}
	tcp_sndbuf_init(&c->sb, &st->pool, st->cfg.sndbuf);
	tcp_rto_init(&c->rto, st->cfg.rto_min_us, 0, 0);
	c->syn.mss = (uint16_t)(st->cfg.ifc.mtu - 40);
	c->syn.ws = !st->cfg.no_ws;
	c->syn.sack = !st->cfg.no_sack;
	c->syn.ts = !st->cfg.no_ts;
	c->syn.wscale = c->syn.ws ? pick_wscale(st->cfg.rcvbuf) : 0;
	c->keep_idle_s = st->cfg.keep_idle_s;
	c->keep_intvl_s = st->cfg.keep_intvl_s;
	c->keep_cnt = st->cfg.keep_cnt;
	c->last_rx = now;
	c->min_rtt_us = c->min_rtt_next_us = RTT_NONE;
	c->iss = tcp_isn(&st->cfg.secret, t, us_of(now));
	c->snd_una = c->snd_nxt = c->snd_max = c->iss;
	st->nr_conns++;
	hash_insert(c);
	return c;
}

static void conn_free(struct tcp_conn *c)
{
	struct tcp_stack *st = c->st;
	if (c->want_mem)
		st->nr_want_mem--;
	heap_del(c);
	tw_unlink(c);
	hash_remove(c);
	if (c->lst && !c->in_queue)
		c->lst->nr_pending--;
	tcp_sndbuf_fini(&c->sb);
	tcp_rcvbuf_fini(&c->rb);
	tcp_sack_fini(&c->sack);
	st->nr_conns--;
	count(st, TCP_C_conns_freed);
	free(c);
}

/*
 * The connection reached CLOSED. Free it unless someone still holds it: the
 * user (until tcp_close) or the accept queue (until tcp_accept skips it).
 */
static void conn_closed(struct tcp_conn *c, int err)
{
	if (c->in_queue && c->lst && c->state != TCP_CLOSED)
		c->lst->nr_ready--; /* reset before it was accepted */
	c->state = TCP_CLOSED;
	if (err && !c->err)
		c->err = err;
	c->rto_at = c->tw_at = c->keep_at = c->delack_at = 0;
	heap_del(c);
	tw_unlink(c);
	hash_remove(c);
	/* Nothing will be sent or received again: give the memory back now. */
	tcp_sndbuf_fini(&c->sb);
	if (c->in_queue || (c->user_owned && !c->user_closed))
		return;
	conn_free(c);
}

/* ---------------------------------------------------------------------- */
/* Output */

static uint32_t rcv_nxt(const struct tcp_conn *c)
{
	return tcp_rcvbuf_rcv_nxt(&c->rb) + (c->fin_rcvd ? 1u : 0u);
}

/* Hand one TCP segment (header + options + payload from the send buffer at
 * offset sb_off) to tcp_net and tcp_io. Returns 0 or -1 (counted). */
static int xmit(struct tcp_stack *st, const struct tcp_tuple *t, uint32_t seq, uint32_t ack,
		uint8_t flags, uint16_t wnd, const uint8_t *opt, unsigned optlen,
		struct tcp_sndbuf *sb, uint32_t sb_off, uint32_t len, uint64_t now)
{
	uint32_t l4 = TCP_HDR_LEN + optlen + len;
	struct tcp_net_arp arp;
	int rc = tcp_net_output(st->net, t->raddr, 6, l4, now, st->txbuf, st->txcap, &arp);
	if (rc == -EAGAIN) {
		count(st, TCP_C_tx_arp_wait);
		if (arp.len && st->cfg.io.tx(st->cfg.io.ctx, arp.frame, arp.len) < 0)
			count(st, TCP_C_tx_fail);
		return -1;
	}
	if (rc < 0) {
		count(st, TCP_C_tx_no_route);
		return -1;
	}
	uint8_t *h = st->txbuf + TCP_NET_HDR_LEN;
	wr16(h, t->lport);
	wr16(h + 2, t->rport);
	wr32(h + 4, seq);
	wr32(h + 8, ack);
	h[12] = (uint8_t)(((TCP_HDR_LEN + optlen) / 4) << 4);
	h[13] = flags;
	wr16(h + 14, wnd);
	wr16(h + 16, 0);
	wr16(h + 18, 0);
	if (optlen)
		memcpy(h + TCP_HDR_LEN, opt, optlen);
	if (len)
		tcp_sndbuf_copy(sb, sb_off, h + TCP_HDR_LEN + optlen, len);
	wr16(h + 16, tcp_cksum_ipv4(t->laddr, t->raddr, h, l4));
	count(st, TCP_C_seg_out);
	if (flags & TH_RST)
		count(st, TCP_C_rst_sent);
	if (st->cfg.io.tx(st->cfg.io.ctx, st->txbuf, TCP_NET_HDR_LEN + l4) < 0) {
		count(st, TCP_C_tx_fail);
		return -1;
	}
	return 0;
}

/* The window field for a non-SYN segment; records the advertised edge. */
static uint16_t adv_window(struct tcp_conn *c)
{
	uint32_t w = tcp_rcvbuf_window(&c->rb);
	uint32_t f = w >> c->neg.rcv_wscale;
	if (f > 65535u)
		f = 65535u;
	uint32_t edge = rcv_nxt(c) + (f << c->neg.rcv_wscale);
	if (tcp_seq_gt(edge, c->rcv_adv))
		c->rcv_adv = edge;
	if (f << c->neg.rcv_wscale > c->rcv_adv_max)
		c->rcv_adv_max = f << c->neg.rcv_wscale;
	return (uint16_t)f;
}

static uint16_t syn_window(const struct tcp_conn *c)
{
	uint32_t w = tcp_rcvbuf_window(&c->rb);
	return (uint16_t)(w > 65535u ? 65535u : w);
}

static unsigned data_opts(struct tcp_conn *c, uint8_t *opt, bool with_sack, uint64_t now)
{
	struct tcp_sack_block blk[TCP_SACK_MAX_BLOCKS];
	unsigned n = 0, max = tcp_opt_sack_max(c->neg.ts);
	/* A duplicate just received goes first, once (RFC 2883 §4); the
	 * range holding it, if out of order, is the most recent and follows. */
	if (c->dsack_len && c->neg.sack) {
		blk[n].start = c->dsack_seq;
		blk[n++].end = c->dsack_seq + c->dsack_len;
		with_sack = true;
	}
	c->dsack_len = 0;
	if (with_sack && c->neg.sack)
		n += tcp_rcvbuf_sack(&c->rb, blk + n, max - n);
	if (!c->neg.ts && !n)
		return 0;
	return (unsigned)tcp_opt_build_data(opt, c->neg.ts, ts_now(now), c->ts_recent, blk, n);
}

/* The sequence number of a segment without data (a bare ACK, a RST of our
 * own): RFC 9293's SND.NXT, which is our snd_max. Our snd_nxt goes back to
 * SND.UNA on a timeout (go-back-N) and may then lie below what the peer
 * received, and the peer drops such a segment as an old duplicate, its ACK
 * and window with it. With the peer's window shut, what lies past SND.UNA
 * is a probe's byte it had no room for: SND.UNA then (a zero window takes
 * only RCV.NXT). Before the handshake is done the window is not known. */
static uint32_t bare_seq(const struct tcp_conn *c)
{
	if (c->snd_wnd == 0 && c->state != TCP_SYN_SENT && c->state != TCP_SYN_RCVD)
		return c->snd_una;
	return c->snd_max;
}

/* Every segment we send carries the current ACK: nothing is owed after it. */
static void ack_sent(struct tcp_conn *c)
{
	c->delack_at = 0;
	c->segs_unacked = 0;
}

/* A bare ACK (with SACK blocks when something is out of order). */
static void send_ack(struct tcp_conn *c, uint64_t now)
{
	ack_sent(c);
	uint8_t opt[TCP_OPT_MAX_LEN];
	unsigned ol = data_opts(c, opt, true, now);
	xmit(c->st, &c->t, bare_seq(c), rcv_nxt(c), TH_ACK, adv_window(c), opt, ol, NULL, 0, 0,
	     now);
}

static void send_challenge_ack(struct tcp_conn *c, uint64_t now)
{
	count(c->st, TCP_C_challenge_acks);
	send_ack(c, now);
}

static void send_syn(struct tcp_conn *c, uint64_t now)
{
	uint8_t opt[TCP_OPT_MAX_LEN];
	int ol;
	uint8_t flags = TH_SYN;
	uint32_t ack = 0;
	if (c->state == TCP_SYN_RCVD) {
		ol = tcp_opt_build_synack(opt, &c->syn, &c->peer_syn, ts_now(now));
		flags |= TH_ACK;
		ack = rcv_nxt(c);
	} else {
		ol = tcp_opt_build_syn(opt, &c->syn, ts_now(now));
	}
	xmit(c->st, &c->t, c->iss, ack, flags, syn_window(c), opt, (unsigned)ol, NULL, 0, 0, now);
}

/* RST in answer to a segment that has no connection (RFC 9293 §3.10.7.1). */
static void send_rst_for(struct tcp_stack *st, const struct tcp_tuple *t, uint8_t flags,
			 uint32_t seq, uint32_t ack, uint32_t seg_len, uint64_t now)
{
	if (flags & TH_RST)
		return;
	if (flags & TH_ACK)
		xmit(st, t, ack, 0, TH_RST, 0, NULL, 0, NULL, 0, 0, now);
	else
		xmit(st, t, 0, seq + seg_len, TH_RST | TH_ACK, 0, NULL, 0, NULL, 0, 0, now);
}

static void arm_rto(struct tcp_conn *c, uint64_t now)
{
	c->pto = false;
	set_timer(c, &c->rto_at, now + (uint64_t)tcp_rto_get(&c->rto) * NS_PER_US);
}

/* Payload bytes per segment: the peer's MSS less our per-segment options. */
static uint32_t seg_payload_max(const struct tcp_conn *c)
{
	return c->neg.snd_mss - tcp_opt_data_len(c->neg.ts, 0);
}

/* Sequence number just past the last data byte queued. */
static uint32_t data_end(const struct tcp_conn *c)
{
	return c->snd_una + tcp_sndbuf_queued(&c->sb);
}

/* [seq, seq + len) goes out again: the scoreboard must not take its late
 * arrival for reordering, and a recovery's resend joins the undo list. */
static void note_resend(struct tcp_conn *c, uint32_t seq, uint32_t len)
{
	tcp_sack_note_resend(&c->sack, seq, len);
	if (!c->undo_on || !tcp_cc_in_recovery(&c->cc))
		return;
	if (c->undo_n == UNDO_MAX) {
		c->undo_on = false;
		return;
	}
	c->undo_rxt[c->undo_n].seq = seq;
	c->undo_rxt[c->undo_n++].end = seq + len;
}

/* A D-SACK for [start, end): cross out the resend it reports; when every
 * resend of the last recovery was reported twice, undo its reduction. */
static void undo_dsack(struct tcp_conn *c, uint32_t start, uint32_t end)
{
	for (unsigned i = 0; i < c->undo_n; i++) {
		if (tcp_seq_lt(start, c->undo_rxt[i].seq) || tcp_seq_gt(end, c->undo_rxt[i].end))
			continue;
		c->undo_rxt[i] = c->undo_rxt[--c->undo_n];
		if (!c->undo_n) {
			c->undo_on = false;
			if (tcp_cc_undo(&c->cc))
				count(c->st, TCP_C_spurious_undone);
		}
		return;
	}
}

/* Send (or resend) the segment starting at seq with up to max bytes; adds a
 * FIN if the FIN is queued and the segment reaches the end of the data.
 * Returns the sequence space used. */
static uint32_t send_data_seg(struct tcp_conn *c, uint32_t seq, uint32_t max, bool allow_fin,
			      uint64_t now)
{
	uint8_t opt[TCP_OPT_MAX_LEN];
	unsigned ol = data_opts(c, opt, c->rb.nr_ooo > 0, now);
	/* Options count against the MSS (RFC 6691): while SACK blocks ride
	 * along, segments carry that much less data. */
	uint32_t room = c->neg.snd_mss > ol ? c->neg.snd_mss - ol : 1;
	if (max > room)
		max = room;
	uint32_t end = data_end(c);
	uint32_t avail = tcp_seq_lt(seq, end) ? end - seq : 0;
	uint32_t len = avail < max ? avail : max;
	uint8_t flags = TH_ACK;
	/* A retransmission carries the FIN only if it was sent already. */
	if (c->fin_queued && seq + len == end && (allow_fin || c->fin_sent) &&
	    !(c->fin_sent && tcp_seq_gt(c->snd_una, c->fin_seq))) {
		flags |= TH_FIN;
		c->fin_sent = true;
		c->fin_seq = end;
	}
	if (len)
		flags |= TH_PSH;
	if (tcp_seq_lt(seq, c->snd_max) && c->sack_on)
		note_resend(c, seq, len + ((flags & TH_FIN) ? 1u : 0u));
	ack_sent(c);
	xmit(c->st, &c->t, seq, rcv_nxt(c), flags, adv_window(c), opt, ol, &c->sb,
	     seq - c->snd_una, len, now);
	return len + ((flags & TH_FIN) ? 1u : 0u);
}

static bool can_send_data(const struct tcp_conn *c)
{
	switch (c->state) {
	case TCP_ESTABLISHED:
	case TCP_CLOSE_WAIT:
	case TCP_FIN_WAIT_1:
	case TCP_CLOSING:
	case TCP_LAST_ACK:
		return true;
	default:
		return false;
	}
}

/*
 * Tail loss probe (RFC 8985 §7). When a flight's last segments are lost, no
 * duplicate ACK comes, and only the retransmission timer (200 ms at least)
 * would resend them. With SACK and after no timeout, a probe timeout (PTO:
 * 2 SRTT and 2 ms, or 2 SRTT and the minimum RTO when a single segment is
 * out, for the peer's delayed ACK; never later than the RTO) runs in the
 * retransmission timer's place from every new segment, every ACK that
 * leaves data out, and every transmission of a recovery. When it fires, one
 * probe goes out, cwnd or not: a new segment if the peer's window takes
 * one, else the last segment again; then the retransmission timer runs.
 * One probe per flight: the next waits until the ACKs pass it.
 *
 * The probe's ACK: when the peer SACKs the probe (or reports it twice with
 * a D-SACK), every byte it lacks below the probe was sent a PTO before, and
 * is lost (tcp_sack_mark_lost_below): recovery starts at once, however few
 * segments are SACKed, and a resend of the hole at SND.UNA sent before the
 * probe is lost too (RFC 8985 §6 judges every segment so, by its send time;
 * the stack keeps no send times, and at a probe it knows them). A resent
 * last segment whose ACK covers it with no D-SACK, outside a recovery,
 * repaired a loss alone: cwnd is reduced as for one (§7.4.2).
 *
 * RFC 8985 §7.2 (and Linux) send no probe while SACKed data is outstanding
 * or during a recovery, leaving those to RACK's reordering timer, which the
 * stack does not have. Here a probe goes then too: in a small flight too
 * few segments may follow a loss for DupThresh; and in a recovery whose
 * pipe is full, when the peer's ACKs are lost (a Linux peer compresses the
 * ACKs of out-of-order data into few), nothing more is sent and only the
 * timer would speak.
 */
#define TLP_EXTRA_US 2000u

static bool tlp_may_probe(const struct tcp_conn *c)
{
	return c->sack_on && can_send_data(c) && !c->retries && !c->tlp_out && c->rto.has_sample &&
	       c->snd_nxt == c->snd_max && c->snd_una != c->snd_max && c->snd_wnd;
}

/* Run the probe timeout in the retransmission timer's place if a probe may
 * go and it comes first; restart: the retransmission timer would be
 * restarted now (else it runs on as armed). Returns false, touching
 * nothing, if no probe may go: the caller's timer stands. */
static bool pto_schedule(struct tcp_conn *c, bool restart, uint64_t now)
{
	if (!tlp_may_probe(c))
		return false;
	uint64_t us = 2ull * c->rto.srtt_us;
	us += c->snd_max - c->snd_una <= seg_payload_max(c) ? c->rto.min_us : TLP_EXTRA_US;
	uint64_t at = now + us * NS_PER_US;
	uint64_t rto_at = !restart && c->rto_at && !c->pto
				  ? c->rto_at
				  : now + (uint64_t)tcp_rto_get(&c->rto) * NS_PER_US;
	if (at >= rto_at) {
		if (restart || c->pto || !c->rto_at)
			arm_rto(c, now);
		return true;
	}
	set_timer(c, &c->rto_at, at);
	c->pto = true;
	return true;
}

/* The probe timeout fired: send the probe, then run the retransmission
 * timer. */
static void tlp_fire(struct tcp_conn *c, uint64_t now)
{
	c->pto = false;
	if (!tlp_may_probe(c)) {
		if (c->snd_una != c->snd_max || tcp_seq_lt(c->snd_nxt, data_end(c)))
			arm_rto(c, now);
		return;
	}
	uint32_t mss = seg_payload_max(c), end = data_end(c), seq, used;
	uint32_t avail = tcp_seq_lt(c->snd_max, end) ? end - c->snd_max : 0;
	uint32_t room = tcp_seq_lt(c->snd_max, c->snd_una + c->snd_wnd)
				? c->snd_una + c->snd_wnd - c->snd_max
				: 0;
	uint32_t len = avail < mss ? avail : mss;
	bool rxt = !len || len > room;
	if (!rxt) {
		seq = c->snd_max;
		used = send_data_seg(c, seq, len, true, now);
		c->snd_nxt = c->snd_max = c->snd_max + used;
	} else {
		/* The last segment sent, up to the FIN if that went too. */
		uint32_t top = c->fin_sent && c->snd_max == c->fin_seq + 1 ? c->fin_seq : c->snd_max;
		uint32_t out = top - c->snd_una;
		len = out < mss ? out : mss;
		seq = top - len;
		used = send_data_seg(c, seq, len, false, now);
		c->rtt_active = false;
	}
	count(c->st, TCP_C_tlp_probes);
	c->tlp_out = true;
	c->tlp_rxt = rxt;
	c->tlp_dsack = false;
	c->tlp_in_rec = tcp_cc_in_recovery(&c->cc);
	c->tlp_seq = seq;
	c->tlp_end = seq + used;
	arm_rto(c, now);
}

/* Send new data as the windows allow (no Nagle, see the header). */
static void sack_output(struct tcp_conn *c, uint64_t now);

static void output(struct tcp_conn *c, uint64_t now)
{
	if (!can_send_data(c))
		return;
	if (c->sack_on && tcp_cc_in_recovery(&c->cc)) {
		sack_output(c, now);
		return;
	}
	uint32_t mss = seg_payload_max(c), max0 = c->snd_max;
	for (;;) {
		uint32_t end = data_end(c);
		bool fin_pending = c->fin_queued &&
				   (!c->fin_sent || tcp_seq_leq(c->snd_nxt, c->fin_seq));
		uint32_t avail = tcp_seq_lt(c->snd_nxt, end) ? end - c->snd_nxt : 0;
		if (!avail && !fin_pending)
			break;
		uint32_t in_flight = c->snd_nxt - c->snd_una;
		uint32_t cwnd = tcp_cc_cwnd(&c->cc);
		uint32_t win = c->snd_wnd < cwnd ? c->snd_wnd : cwnd;
		uint32_t usable = win > in_flight ? win - in_flight : 0;
		uint32_t len = avail < mss ? avail : mss;
		if (len > usable)
			len = usable;
		/* Sender-side silly window avoidance (RFC 9293 §3.8.6.2.1). */
		if (avail && len < avail && len < mss && in_flight)
			break;
		/* Nagle (RFC 896, RFC 9293 §3.7.4): while data is in flight,
		 * hold back a short last segment unless it carries the FIN. */
		if (!c->nodelay && avail && len == avail && len < mss && in_flight &&
		    !c->fin_queued) {
			count(c->st, TCP_C_nagle_held);
			break;
		}
		if (avail && !len)
			break; /* zero window: the RTO timer probes */
		uint32_t used = send_data_seg(c, c->snd_nxt, len, true, now);
		if (!used)
			break;
		/* Karn: time only first transmissions. */
		if (!c->rtt_active && !c->neg.ts && len && c->snd_nxt == c->snd_max) {
			c->rtt_active = true;
			c->rtt_seq = c->snd_nxt;
			c->rtt_start = now;
		}
		c->snd_nxt += used;
		if (tcp_seq_gt(c->snd_nxt, c->snd_max))
			c->snd_max = c->snd_nxt;
		if (!c->rto_at)
			arm_rto(c, now);
	}
	/* Data waiting behind a zero window and nothing in flight: keep the timer
	 * running so a probe goes out. */
	if (!c->rto_at && tcp_seq_lt(c->snd_nxt, data_end(c)))
		arm_rto(c, now);
	if (c->snd_max != max0)
		pto_schedule(c, false, now);
}

/* Tell the scoreboard that [seq, seq + len) was just resent: HighRxt, and
 * for the hole at SND.UNA what was sent before it (SND.MAX). */
static void sack_mark_resent(struct tcp_conn *c, uint32_t seq, uint32_t len)
{
	tcp_sack_mark_rxt(&c->sack, seq, len);
	if (seq == c->snd_una)
		tcp_sack_mark_una_rxt(&c->sack, c->snd_max);
}

/* Retransmit [seq, seq + len) during SACK recovery and record it. */
static void sack_rexmit(struct tcp_conn *c, uint32_t seq, uint32_t len, uint64_t now)
{
	count(c->st, TCP_C_sack_retrans);
	c->rtt_active = false;
	uint32_t sent = send_data_seg(c, seq, len, false, now);
	sack_mark_resent(c, seq, sent < len ? sent : len);
	/* A probe's SACK says what was sent a PTO before it is lost: the
	 * probe timeout runs from every send of the recovery. */
	pto_schedule(c, false, now);
}

/* In SACK recovery, resend the hole at SND.UNA if its retransmission was
 * lost (tcp_sack_una_rxt_lost), instead of waiting for the timer. */
static void sack_lost_rexmit(struct tcp_conn *c, uint64_t now)
{
	uint32_t len;
	if (!c->sack_on || !tcp_cc_in_recovery(&c->cc) || !tcp_sack_una_rxt_lost(&c->sack, &len))
		return;
	count(c->st, TCP_C_lost_retrans);
	sack_rexmit(c, c->snd_una, len, now);
}

/*
 * Transmission during SACK-based loss recovery (RFC 6675 §5 steps (C)):
 * while cwnd - pipe >= 1 SMSS, send by NextSeg(): a lost hole first, else
 * new data the peer's window allows (rules 1 and 2). cwnd in
 * recovery is ssthresh (§5 step 4.2); the NewReno inflation of tcp_cc does
 * not apply here because pipe counts what is really in flight.
 */
static void sack_output(struct tcp_conn *c, uint64_t now)
{
	uint32_t mss = seg_payload_max(c);
	uint32_t cwnd = tcp_cc_ssthresh(&c->cc);
	for (unsigned guard = 0; guard < 256; guard++) {
		uint32_t pipe = tcp_sack_pipe(&c->sack, c->snd_max);
		if (pipe >= cwnd || cwnd - pipe < mss)
			break;
		uint32_t seq, len;
		if (tcp_sack_next_lost(&c->sack, &seq, &len)) {
			sack_rexmit(c, seq, len, now);
			continue;
		}
		uint32_t end = data_end(c);
		uint32_t avail = tcp_seq_lt(c->snd_max, end) ? end - c->snd_max : 0;
		uint32_t wnd_room = c->snd_una + c->snd_wnd - c->snd_max;
		if (tcp_seq_gt(c->snd_max, c->snd_una + c->snd_wnd))
			wnd_room = 0;
		if (avail && wnd_room >= (avail < mss ? avail : mss)) {
			uint32_t used = send_data_seg(c, c->snd_max, avail < mss ? avail : mss, true, now);
			c->snd_nxt = c->snd_max = c->snd_max + used;
			if (!c->rto_at)
				arm_rto(c, now);
			pto_schedule(c, false, now); /* as sack_rexmit() does */
			continue;
		}
		/* Rule (3), resending holes not known lost, is left out: with
		 * the peer's window full it resent data that was only in
		 * flight. A probe, or the retransmission timer, covers what
		 * remains. */
		break;
	}
}

/* ---------------------------------------------------------------------- */
/* Establishment */

static void keep_rearm(struct tcp_conn *c, uint64_t now);

static void conn_established(struct tcp_conn *c, const struct tcp_opts *peer, uint32_t wnd,
			     uint32_t seq, uint32_t ack, bool syn_timed_out, uint64_t now)
{
	struct tcp_stack *st = c->st;
	tcp_opt_negotiate(&c->syn, peer, &c->neg);
	c->state = TCP_ESTABLISHED;
	c->snd_wnd = wnd << c->neg.snd_wscale;
	c->max_snd_wnd = c->snd_wnd;
	c->snd_wl1 = seq;
	c->snd_wl2 = ack;
	tcp_cc_init(&c->cc, st->cc_ops, seg_payload_max(c));
	/* Without memory for a scoreboard the connection recovers as NewReno. */
	c->sack_on = c->neg.sack && tcp_sack_init(&c->sack, 16, seg_payload_max(c), ack) == 0;
	if (syn_timed_out)
		tcp_rto_syn_timed_out(&c->rto);
	c->retries = 0;
	c->rto_at = 0;
	keep_rearm(c, now);
	count(st, TCP_C_established);
}

/* ---------------------------------------------------------------------- */
/* Input */

struct seg {
	uint32_t seq, ack, len; /* len: payload bytes */
	uint16_t wnd;
	uint8_t flags;
	const uint8_t *data;
	struct tcp_opts opts;
};

static void take_ts(struct tcp_conn *c, const struct seg *s)
{
	/* RFC 7323 §4.3: remember TSval of segments covering RCV.NXT; PAWS
	 * already refused older ones. */
	if (c->neg.ts && (s->opts.present & TCP_OPTF_TS) && tcp_seq_leq(s->seq, rcv_nxt(c)) &&
	    tcp_seq_geq(s->opts.tsval, c->ts_recent))
		c->ts_recent = s->opts.tsval;
}

static void sync_input(struct tcp_conn *c, const struct seg *s, uint64_t now);

/*
 * The smallest RTT, for buffer auto-tuning (0: a timestamp's sample under
 * 1 ms), over a window of MIN_RTT_WIN, so that a path that lengthens is
 * followed (BBR's window for its own minimum). Two values: the smallest and
 * the smallest sampled after it; when the smallest is older than the
 * window, the other takes its place (it may itself be up to a window old:
 * the minimum follows a longer path within two windows).
 */
static void min_rtt_sample(struct tcp_conn *c, uint32_t us, uint64_t now)
{
	while (c->min_rtt_us != RTT_NONE && now - c->min_rtt_at >= MIN_RTT_WIN) {
		c->min_rtt_us = c->min_rtt_next_us;
		c->min_rtt_at = c->min_rtt_next_at;
		c->min_rtt_next_us = RTT_NONE;
	}
	if (us >= RTT_NONE)
		return;
	if (us <= c->min_rtt_us) {
		c->min_rtt_us = us;
		c->min_rtt_at = now;
		c->min_rtt_next_us = RTT_NONE;
	} else if (us <= c->min_rtt_next_us) {
		c->min_rtt_next_us = us;
		c->min_rtt_next_at = now;
	}
}

static void rtt_sample(struct tcp_conn *c, uint32_t us, uint64_t now)
{
	tcp_rto_sample(&c->rto, us);
	min_rtt_sample(c, us, now);
}

/*
 * Buffer auto-tuning. A buffer must hold what the path carries in a round
 * trip, twice over, or it is what limits a long path: the stack measures,
 * over rounds of at least the smallest RTT (of the last 10 s:
 * min_rtt_sample) and 1 ms, the bytes the application read (receive) or
 * the peer acknowledged (send), takes the rate times the smallest RTT as
 * the path's bandwidth-delay product, and grows the buffer to twice that
 * and 16 segments more (Linux's dynamic right-sizing, with the smallest
 * RTT in place of the smoothed one, which a full buffer's own queue
 * inflates). Up to rcvbuf_max / sndbuf_max, a receive window the
 * handshake's scale can express, and never down; not a buffer the user
 * sized (SO_RCVBUF, SO_SNDBUF). With a sample of 0 (the timestamps count
 * in ms: under 1 ms) nothing grows: on a path that short the default
 * buffers are not what limits. Returns the size wanted, or 0.
 */
static uint32_t buf_want(struct tcp_conn *c, uint64_t *at, uint32_t *mark, uint32_t pos,
			 uint32_t max, uint64_t now)
{
	if (!c->min_rtt_us || c->min_rtt_us == RTT_NONE)
		return 0;
	uint64_t round = (c->min_rtt_us < 1000u ? 1000u : c->min_rtt_us) * (uint64_t)NS_PER_US;
	if (!*at) {
		*at = now;
		*mark = pos;
		return 0;
	}
	if (now - *at < round)
		return 0;
	uint64_t bytes = pos - *mark;
	uint64_t bdp = bytes * c->min_rtt_us * NS_PER_US / (now - *at);
	*at = now;
	*mark = pos;
	uint64_t want = 2 * bdp + 16ull * seg_payload_max(c);
	return want > max ? max : (uint32_t)want;
}

/* The largest window the handshake's scale can express: a receive buffer
 * beyond it could never be offered. */
static uint32_t rcv_wnd_cap(const struct tcp_conn *c)
{
	return 65535u << c->neg.rcv_wscale;
}

static void rcvbuf_tune(struct tcp_conn *c, uint64_t now)
{
	uint32_t max = c->st->cfg.rcvbuf_max;
	uint32_t cap = rcv_wnd_cap(c);
	if (cap < max)
		max = cap;
	if (c->rcvbuf_set || max <= c->rb.limit)
		return;
	uint32_t want = buf_want(c, &c->rtune_at, &c->rtune_rd, c->rb.rd_nxt, max, now);
	if (want > c->rb.limit && tcp_rcvbuf_set_limit(&c->rb, want) == 0)
		count(c->st, TCP_C_rcvbuf_grown);
}

static void sndbuf_tune(struct tcp_conn *c, uint64_t now)
{
	uint32_t max = c->st->cfg.sndbuf_max;
	if (c->sndbuf_set || max <= c->sb.limit)
		return;
	uint32_t want = buf_want(c, &c->stune_at, &c->stune_una, c->snd_una, max, now);
	if (want > c->sb.limit) {
		tcp_sndbuf_set_limit(&c->sb, want);
		count(c->st, TCP_C_sndbuf_grown);
	}
}

/* The RTT a receiver sees: a data segment's TSecr echoes the ACK that let
 * the peer send it (ms; for the smallest RTT only, never the RTO's). */
static void rcv_rtt_sample(struct tcp_conn *c, const struct seg *s, uint64_t now)
{
	if (!s->len || !c->neg.ts || !(s->opts.present & TCP_OPTF_TS) || !s->opts.tsecr)
		return;
	int64_t r = tcp_rto_ts_rtt(ts_now(now), s->opts.tsecr, 1000);
	if (r >= 0)
		min_rtt_sample(c, (uint32_t)r, now);
}

/* An RTT sample from the segment's TSecr, when timestamps are in use and it
 * echoes one. Returns false when the segment carries none (the caller may
 * then time by Karn's rule). */
static bool ts_rtt_sample(struct tcp_conn *c, const struct seg *s, uint64_t now)
{
	if (!c->neg.ts || !(s->opts.present & TCP_OPTF_TS) || !s->opts.tsecr)
		return false;
	int64_t r = tcp_rto_ts_rtt(ts_now(now), s->opts.tsecr, 1000);
	if (r >= 0) {
		rtt_sample(c, (uint32_t)r, now);
		count(c->st, TCP_C_rtt_samples);
	}
	return true;
}

/* The peer's SYN arrived (to a listener, or crossing ours): take its sequence
 * number and options, answer with our SYN-ACK and wait in SYN-RCVD. What
 * the SYN-ACK offers is what the peer offered too, so the negotiation result
 * is known already; the window it advertises is unscaled either way. */
static void syn_received(struct tcp_conn *c, const struct seg *s, uint64_t now)
{
	c->state = TCP_SYN_RCVD;
	c->irs = s->seq;
	tcp_rcvbuf_set_rcv_nxt(&c->rb, s->seq + 1);
	c->peer_syn = s->opts;
	if (s->opts.present & TCP_OPTF_TS)
		c->ts_recent = s->opts.tsval;
	tcp_opt_negotiate(&c->syn, &c->peer_syn, &c->neg);
	c->snd_nxt = c->snd_max = c->iss + 1;
	c->rcv_adv = s->seq + 1 + syn_window(c);
	c->rcv_adv_max = syn_window(c);
	send_syn(c, now);
	arm_rto(c, now);
}

/* What the listener offers in its SYN-ACKs (the same for every connection). */
static void listener_syn_cfg(const struct tcp_stack *st, struct tcp_syn_cfg *sc)
{
	sc->mss = (uint16_t)(st->cfg.ifc.mtu - 40);
	sc->ws = !st->cfg.no_ws;
	sc->sack = !st->cfg.no_sack;
	sc->ts = !st->cfg.no_ts;
	sc->wscale = sc->ws ? pick_wscale(st->cfg.rcvbuf) : 0;
}

/*
 * SYN cookies (RFC 4987 §3.6): with the backlog full, answer a SYN without
 * keeping any state; the ISN carries the MSS, the TSval the other options
 * (tcp_cookie.h). Without timestamps the connection runs without WS and SACK.
 */
static void send_cookie_synack(struct tcp_stack *st, const struct tcp_tuple *t,
			       const struct seg *s, uint64_t now)
{
	struct tcp_syn_cfg sc;
	listener_syn_cfg(st, &sc);
	struct tcp_opts peer = s->opts;
	uint16_t peer_mss = (peer.present & TCP_OPTF_MSS) ? peer.mss : 536;
	uint16_t mss_out;
	uint32_t isn = tcp_cookie_make(&st->cfg.secret, t, s->seq,
				       peer_mss < sc.mss ? peer_mss : sc.mss, us_of(now), &mss_out);
	bool ts = sc.ts && (peer.present & TCP_OPTF_TS);
	if (!ts)
		peer.present &= (uint8_t) ~(TCP_OPTF_WSCALE | TCP_OPTF_SACK_PERM);
	uint32_t tsval = ts_now(now);
	if (ts)
		tsval = tcp_cookie_ts_encode(tsval, sc.ws && (peer.present & TCP_OPTF_WSCALE),
					     peer.wscale, sc.sack && (peer.present & TCP_OPTF_SACK_PERM));
	uint8_t opt[TCP_OPT_MAX_LEN];
	int ol = tcp_opt_build_synack(opt, &sc, &peer, tsval);
	uint32_t wnd = st->cfg.rcvbuf > 65535u ? 65535u : st->cfg.rcvbuf;
	count(st, TCP_C_syncookies_sent);
	st->cookie_sent_at = now;
	xmit(st, t, isn, s->seq + 1, TH_SYN | TH_ACK, (uint16_t)wnd, opt, (unsigned)ol, NULL, 0, 0,
	     now);
}

/* The ACK completing a cookie handshake: rebuild the connection from it.
 * Returns the connection in SYN-RCVD, ready for sync_input, or NULL. */
static struct tcp_conn *cookie_conn(struct tcp_stack *st, struct tcp_listener *l,
				    const struct tcp_tuple *t, const struct seg *s, uint64_t now)
{
	int mss = tcp_cookie_check(&st->cfg.secret, t, s->seq - 1, s->ack - 1, us_of(now));
	if (mss <= 0)
		return NULL;
	struct tcp_conn *c = conn_new(st, t, now);
	if (!c)
		return NULL;
	count(st, TCP_C_syncookies_ok);
	count(st, TCP_C_passive_opens);
	c->lst = l;
	l->nr_pending++;
	c->state = TCP_SYN_RCVD;
	c->iss = s->ack - 1;
	c->irs = s->seq - 1;
	c->snd_una = c->iss;
	c->snd_nxt = c->snd_max = c->iss + 1;
	tcp_rcvbuf_set_rcv_nxt(&c->rb, s->seq);
	memset(&c->peer_syn, 0, sizeof(c->peer_syn));
	c->peer_syn.present = TCP_OPTF_MSS;
	c->peer_syn.mss = (uint16_t)mss;
	if (c->syn.ts && (s->opts.present & TCP_OPTF_TS)) {
		struct tcp_cookie_opts co;
		tcp_cookie_ts_decode(s->opts.tsecr, &co);
		c->peer_syn.present |= TCP_OPTF_TS;
		c->peer_syn.tsval = s->opts.tsval;
		c->ts_recent = s->opts.tsval;
		if (co.ws) {
			c->peer_syn.present |= TCP_OPTF_WSCALE;
			c->peer_syn.wscale = co.wscale;
		}
		if (co.sack)
			c->peer_syn.present |= TCP_OPTF_SACK_PERM;
	}
	tcp_opt_negotiate(&c->syn, &c->peer_syn, &c->neg);
	c->rcv_adv = s->seq + syn_window(c);
	c->rcv_adv_max = syn_window(c);
	return c;
}

static void listen_input(struct tcp_stack *st, struct tcp_listener *l, const struct tcp_tuple *t,
			 const struct seg *s, uint64_t now)
{
	if (s->flags & TH_RST)
		{ count(st, TCP_C_listen_nosyn); return; }
	if (s->flags & TH_ACK) {
		/* Cookies are only looked for while they may be in use. */
		if (!(s->flags & TH_SYN) && st->cookie_sent_at &&
		    now - st->cookie_sent_at < 2 * TCP_COOKIE_PERIOD_US * NS_PER_US) {
			struct tcp_conn *c = cookie_conn(st, l, t, s, now);
			if (c) {
				sync_input(c, s, now);
				return;
			}
			count(st, TCP_C_syncookies_bad);
		} else {
			count(st, TCP_C_listen_nosyn);
		}
		send_rst_for(st, t, s->flags, s->seq, s->ack, 0, now);
		return;
	}
	if (!(s->flags & TH_SYN))
		{ count(st, TCP_C_listen_nosyn); return; }
	if (l->nr_pending >= l->backlog) {
		if (st->cfg.no_syncookies)
			count(st, TCP_C_listen_full);
		else
			send_cookie_synack(st, t, s, now);
		return;
	}
	struct tcp_conn *c = conn_new(st, t, now);
	if (!c)
		{ count(st, errno == ENFILE ? TCP_C_table_full : TCP_C_no_mem); return; }
	count(st, TCP_C_passive_opens);
	c->lst = l;
	l->nr_pending++;
	syn_received(c, s, now);
}

static void synsent_input(struct tcp_conn *c, const struct seg *s, uint64_t now)
{
	struct tcp_stack *st = c->st;
	bool ack_ok = false;
	if (s->flags & TH_ACK) {
		if (tcp_seq_leq(s->ack, c->iss) || tcp_seq_gt(s->ack, c->snd_max)) {
			count(st, TCP_C_synsent_bad_ack);
			send_rst_for(st, &c->t, s->flags, s->seq, s->ack, 0, now);
			return;
		}
		ack_ok = true;
	}
	if (s->flags & TH_RST) {
		if (ack_ok) {
			count(st, TCP_C_rst_accepted);
			conn_closed(c, ECONNREFUSED);
		} else {
			count(st, TCP_C_synsent_other);
		}
		return;
	}
	if ((s->flags & TH_SYN) && !ack_ok) {
		/* Simultaneous open (RFC 9293 §3.5, figure 8): answer with a
		 * SYN-ACK of our own ISS and wait in SYN-RCVD. */
		count(st, TCP_C_simultaneous_opens);
		c->retries = 0;
		syn_received(c, s, now);
		return;
	}
	if (!(s->flags & TH_SYN)) {
		count(st, TCP_C_synsent_other);
		return;
	}
	c->irs = s->seq;
	tcp_rcvbuf_set_rcv_nxt(&c->rb, s->seq + 1);
	c->snd_una = s->ack;
	if (s->opts.present & TCP_OPTF_TS)
		c->ts_recent = s->opts.tsval;
	bool timed_out = c->rto.backoff > 0;
	tcp_opt_negotiate(&c->syn, &s->opts, &c->neg);
	if (!ts_rtt_sample(c, s, now) && !timed_out) {
		rtt_sample(c, (uint32_t)((now - c->rtt_start) / NS_PER_US), now);
		count(st, TCP_C_rtt_samples);
	}
	/* The SYN-ACK's window is never scaled (RFC 7323 §2.2). */
	conn_established(c, &s->opts, s->wnd, s->seq, s->ack, timed_out, now);
	c->snd_wnd = s->wnd;
	c->max_snd_wnd = s->wnd;
	c->rcv_adv = s->seq + 1;
	send_ack(c, now);
	output(c, now);
}

/* Limited transmit (RFC 3042): on the first dupacks, one new segment each
 * (at most cwnd + 2 SMSS outstanding) keeps ACKs coming when the window is
 * too small to produce three dupacks otherwise. */
static void limited_transmit(struct tcp_conn *c, uint64_t now)
{
	uint32_t mss = seg_payload_max(c);
	uint32_t end = data_end(c);
	if (c->snd_nxt != c->snd_max || !tcp_seq_lt(c->snd_nxt, end))
		return;
	uint32_t avail = end - c->snd_nxt, len = avail < mss ? avail : mss;
	if (c->snd_max - c->snd_una + len > tcp_cc_cwnd(&c->cc) + 2 * mss ||
	    tcp_seq_gt(c->snd_nxt + len, c->snd_una + c->snd_wnd))
		return;
	count(c->st, TCP_C_limited_transmits);
	uint32_t used = send_data_seg(c, c->snd_nxt, len, true, now);
	c->snd_nxt = c->snd_max = c->snd_nxt + used;
}

/* Resend up to len bytes from SND.UNA: only what was sent before. With
 * less than a segment outstanding (a small window, a short write) a full
 * segment from SND.UNA would carry new data past snd_max, past the peer's
 * window too, and the peer's ACK for it would be one for data never sent:
 * refused (ack_future), and the connection stuck. */
static uint32_t rexmit_head(struct tcp_conn *c, uint32_t len, uint64_t now)
{
	uint32_t out = c->snd_max - c->snd_una;
	return send_data_seg(c, c->snd_una, len < out ? len : out, false, now);
}

/* What an acceptable ACK (verdict chk) says of the probe out (RFC 8985
 * §7.4). probe_sacked: its first byte was SACKed before this ACK. */
static void tlp_ack(struct tcp_conn *c, const struct seg *s, enum tcp_ack_verdict chk,
		    const struct tcp_sack_ack_info *si, bool probe_sacked)
{
	bool has_data = c->tlp_seq != c->tlp_end &&
			!(c->fin_sent && c->tlp_seq == c->fin_seq);
	bool dsack = false;
	if (si->dsack) {
		const struct tcp_sack_block *b = &s->opts.sack[0];
		dsack = tcp_seq_lt(b->start, c->tlp_end) && tcp_seq_gt(b->end, c->tlp_seq);
		c->tlp_dsack |= dsack;
	}
	if (has_data && c->sack_on && tcp_seq_lt(c->sack.snd_una, c->tlp_seq) &&
	    (dsack || (!probe_sacked && tcp_sack_is_sacked(&c->sack, c->tlp_seq)))) {
		tcp_sack_mark_lost_below(&c->sack, c->tlp_seq);
		count(c->st, TCP_C_tlp_found_lost);
	}
	if (tcp_seq_lt(s->ack, c->tlp_end))
		return;
	if (!c->tlp_rxt || c->tlp_dsack) {
		c->tlp_out = false; /* new data delivered, or both copies */
	} else if (tcp_seq_gt(s->ack, c->tlp_end)) {
		/* Acknowledged beyond it, no D-SACK: one copy was lost (in a
		 * recovery, whose reduction covers it). */
		c->tlp_out = false;
		if (!c->tlp_in_rec) {
			count(c->st, TCP_C_tlp_repaired);
			tcp_cc_on_repaired_loss(&c->cc);
		}
	} else if (chk == TCP_ACK_DUP && !s->len && !si->newly_sacked) {
		c->tlp_out = false; /* a plain duplicate: the peer had both (no D-SACK) */
	}
}

/* Recovery begins (RFC 5681 §3.2 step 2, RFC 6675 §5 step 4): resend the
 * first unacknowledged segment, unless the last recovery resent it and
 * that resend may still arrive (tcp_sack_enter_recovery). */
static void fast_retransmit(struct tcp_conn *c, uint64_t now)
{
	count(c->st, TCP_C_fast_retrans);
	c->rtt_active = false;
	c->tlp_out = false; /* the recovery's reduction covers the probe's flight */
	c->undo_on = c->sack_on;
	c->undo_n = 0;
	uint32_t len = seg_payload_max(c);
	if (c->sack_on) {
		if (tcp_sack_enter_recovery(&c->sack)) {
			/* The last recovery resent the hole at SND.UNA: again only
			 * if that resend was lost. */
			sack_lost_rexmit(c, now);
			return;
		}
		uint32_t seq;
		if (!tcp_sack_next_unsacked(&c->sack, &seq, &len))
			len = seg_payload_max(c);
	}
	uint32_t sent = rexmit_head(c, len, now);
	if (c->sack_on)
		sack_mark_resent(c, c->snd_una, sent < len ? sent : len);
	arm_rto(c, now);
	pto_schedule(c, false, now);
}

/* Recovery starts once the scoreboard shows the hole at SND.UNA lost
 * (RFC 6675 §5, IsLost (HighACK + 1)), whatever ACK showed it: beside the
 * duplicate ACKs (ack_input), a probe's SACK or D-SACK (everything below
 * it is lost: tcp_sack_mark_lost_below), or a cumulative ACK whose SACK
 * blocks leave the next hole lost. A receiver that coalesces its SACKs
 * (Linux does, for out-of-order data) may report a whole flight in the
 * ACK that moves SND.UNA and send no duplicate after it: the hole would
 * wait for the timer. Returns whether it started one. */
static bool sack_loss_check(struct tcp_conn *c, uint32_t ack, uint64_t now)
{
	if (!c->sack_on || tcp_cc_in_recovery(&c->cc) || c->snd_una == c->snd_max ||
	    !tcp_sack_is_lost(&c->sack, c->snd_una) ||
	    !(tcp_cc_on_loss(&c->cc, ack, c->snd_max, c->snd_max - c->snd_una) & TCP_CC_RETRANSMIT))
		return false;
	fast_retransmit(c, now);
	sack_output(c, now);
	return true;
}

/* ACK processing for synchronized states (RFC 9293 §3.10.7.4, fifth step).
 * Returns false if the segment must be dropped. */
static bool ack_input(struct tcp_conn *c, const struct seg *s, uint64_t now)
{
	struct tcp_stack *st = c->st;
	enum tcp_ack_verdict chk = tcp_seq_ack_check(s->ack, c->snd_una, c->snd_max, c->max_snd_wnd);
	struct tcp_sack_ack_info sinfo = {0};
	bool probe_sacked = c->tlp_out && c->sack_on && tcp_sack_is_sacked(&c->sack, c->tlp_seq);
	if (c->sack_on && (chk == TCP_ACK_NEW || chk == TCP_ACK_DUP)) {
		tcp_sack_update(&c->sack, s->ack, c->snd_max, s->opts.sack,
				(s->opts.present & TCP_OPTF_SACK) ? s->opts.nr_sack : 0, &sinfo);
		if (sinfo.reordered)
			count(st, TCP_C_reorder_seen);
		tcp_cc_set_dupthresh(&c->cc, tcp_sack_dupthresh(&c->sack));
		if (sinfo.dsack && c->undo_on)
			undo_dsack(c, s->opts.sack[0].start, s->opts.sack[0].end);
	}
	if (c->tlp_out && (chk == TCP_ACK_NEW || chk == TCP_ACK_DUP))
		tlp_ack(c, s, chk, &sinfo, probe_sacked);
	switch (chk) {
	case TCP_ACK_FUTURE:
		count(st, TCP_C_ack_future);
		send_ack(c, now);
		return false;
	case TCP_ACK_STALE:
		count(st, TCP_C_ack_stale);
		send_challenge_ack(c, now);
		return false;
	case TCP_ACK_DUP: {
		uint32_t wnd = (uint32_t)s->wnd << c->neg.snd_wscale;
		/* Not while the window is zero: the ACKs that answer persist
		 * probes say the probe found no room, not that data was lost. */
		bool dup = s->ack == c->snd_una && !s->len && !(s->flags & (TH_SYN | TH_FIN)) &&
			   wnd == c->snd_wnd && wnd != 0 && c->snd_una != c->snd_max;
		/* RFC 6675 §2: with SACK, a duplicate ACK is one that SACKs new
		 * data, even when it carries data or a window change (a two-way
		 * transfer piggybacks every ACK); one that does not (a D-SACK
		 * of a segment the network duplicated, a window update) says
		 * nothing of a loss. */
		if (c->sack_on)
			dup = s->ack == c->snd_una && sinfo.newly_sacked && c->snd_una != c->snd_max;
		uint32_t was = c->snd_wnd;
		if (tcp_seq_wnd_update_ok(s->seq, s->ack, c->snd_wl1, c->snd_wl2)) {
			c->snd_wnd = wnd;
			c->snd_wl1 = s->seq;
			c->snd_wl2 = s->ack;
			if (wnd > c->max_snd_wnd)
				c->max_snd_wnd = wnd;
		}
		if (c->snd_wnd == 0)
			c->retries = 0; /* a persist probe was answered */
		else if (was == 0 && s->ack == c->snd_una && c->snd_nxt != c->snd_una) {
			/* The window opens with what lay past it unacknowledged: a
			 * persist probe's byte, which a peer may drop (it was beyond
			 * the window). Resume from SND.UNA, or the peer would see a
			 * hole there and only a recovery would fill it. */
			c->snd_nxt = c->snd_una;
			c->rtt_active = false;
		}
		if (dup) {
			count(st, TCP_C_dupacks_in);
			unsigned r = tcp_cc_on_dupack(&c->cc, s->ack, c->snd_max,
						      c->snd_max - c->snd_una);
			if (r & TCP_CC_RETRANSMIT) {
				fast_retransmit(c, now);
			} else if (!tcp_cc_in_recovery(&c->cc)) {
				/* RFC 6675 §5: once the scoreboard shows HighACK + 1
				 * lost, recovery starts without waiting for DupThresh
				 * duplicate ACKs. */
				if (!sack_loss_check(c, s->ack, now))
					limited_transmit(c, now);
				return true;
			} else {
				sack_lost_rexmit(c, now);
			}
			if (c->sack_on && tcp_cc_in_recovery(&c->cc))
				sack_output(c, now);
		} else {
			sack_loss_check(c, s->ack, now); /* a probe's D-SACK, say */
		}
		return true;
	}
	case TCP_ACK_NEW:
		break;
	}
	uint32_t acked = s->ack - c->snd_una;
	uint32_t data = acked;
	uint32_t q = tcp_sndbuf_queued(&c->sb);
	if (data > q)
		data = q; /* the rest is our FIN */
	tcp_sndbuf_release(&c->sb, data);
	c->snd_una = s->ack;
	if (tcp_seq_lt(c->snd_nxt, c->snd_una))
		c->snd_nxt = c->snd_una;
	c->retries = 0;

	/* RTT sample: TSecr with timestamps, else the timed segment (Karn). */
	if (!ts_rtt_sample(c, s, now) && c->rtt_active && tcp_seq_gt(s->ack, c->rtt_seq)) {
		c->rtt_active = false;
		rtt_sample(c, (uint32_t)((now - c->rtt_start) / NS_PER_US), now);
		count(st, TCP_C_rtt_samples);
	}

	uint32_t wnd = (uint32_t)s->wnd << c->neg.snd_wscale;
	if (tcp_seq_wnd_update_ok(s->seq, s->ack, c->snd_wl1, c->snd_wl2)) {
		c->snd_wnd = wnd;
		c->snd_wl1 = s->seq;
		c->snd_wl2 = s->ack;
		if (wnd > c->max_snd_wnd)
			c->max_snd_wnd = wnd;
	}

	struct tcp_cc_ack a = {
		.ack = s->ack,
		.bytes_acked = data,
		.flight_size = c->snd_max - c->snd_una,
		.rtt_us = c->rto.srtt_us,
		.now_us = us_of(now),
	};
	unsigned r = tcp_cc_on_ack(&c->cc, &a);
	sndbuf_tune(c, now);
	/* RFC 6298 §5.2-5.3: stop the timer when all is acked, else restart it
	 * (or run the probe timeout in its place). */
	if (c->snd_una == c->snd_max)
		c->rto_at = 0;
	else if (!pto_schedule(c, true, now))
		arm_rto(c, now);
	if (r & TCP_CC_RETRANSMIT) {
		c->rtt_active = false;
		if (c->sack_on) {
			sack_lost_rexmit(c, now);
			sack_output(c, now); /* the holes the scoreboard knows, not just one */
		} else {
			count(st, TCP_C_partial_retrans);
			rexmit_head(c, seg_payload_max(c), now);
		}
	} else {
		sack_loss_check(c, s->ack, now);
	}
	return true;
}

static bool our_fin_acked(const struct tcp_conn *c)
{
	return c->fin_sent && tcp_seq_gt(c->snd_una, c->fin_seq);
}

/* A connection the user closed cannot wait in FIN-WAIT-2 forever for a peer
 * that never closes: give it fin_wait2_s (the tw_at deadline). */
static void fw2_arm(struct tcp_conn *c, uint64_t now)
{
	if (c->state == TCP_FIN_WAIT_2 && c->user_closed)
		set_timer(c, &c->tw_at, now + (uint64_t)c->st->cfg.fin_wait2_s * 1000000000ull);
}

/* (Re)start TIME-WAIT's 2 MSL: c goes to the tail of the list. */
static void tw_arm(struct tcp_conn *c, uint64_t now)
{
	struct tcp_stack *st = c->st;
	tw_unlink(c);
	c->tw_at = now + 2 * st->cfg.msl_ns;
	c->on_tw = true;
	c->tw_prev = st->tw_tail;
	c->tw_next = NULL;
	*(st->tw_tail ? &st->tw_tail->tw_next : &st->tw_head) = c;
	st->tw_tail = c;
}

static void enter_time_wait(struct tcp_conn *c, uint64_t now)
{
	c->state = TCP_TIME_WAIT;
	c->rto_at = c->keep_at = c->delack_at = 0;
	heap_del(c); /* no other timer runs in TIME-WAIT: the list keeps it */
	tw_arm(c, now);
	tcp_sndbuf_fini(&c->sb);
}

/* Answer a segment refused by the sequence checks with an ACK, but a bare
 * one (no data, SYN or FIN) at most every TCP_OOW_ACK_NS: two ends that
 * each refuse the other's bare ACKs would otherwise answer each other for
 * ever, as fast as the link goes (Linux limits these the same way). */
#define TCP_OOW_ACK_NS (500 * 1000000ull)
static void answer_refused(struct tcp_conn *c, uint32_t seg_len, uint64_t now)
{
	if (!seg_len && c->oow_ack_at && now - c->oow_ack_at < TCP_OOW_ACK_NS) {
		count(c->st, TCP_C_oow_acks_held);
		return;
	}
	if (!seg_len)
		c->oow_ack_at = now;
	send_ack(c, now);
}

static void sync_input(struct tcp_conn *c, const struct seg *s, uint64_t now)
{
	struct tcp_stack *st = c->st;
	uint32_t seg_len = s->len + ((s->flags & TH_SYN) ? 1u : 0u) + ((s->flags & TH_FIN) ? 1u : 0u);
	uint32_t wnd = tcp_rcvbuf_window(&c->rb);
	if (c->fin_rcvd)
		wnd = 0;

	/* First: RST (RFC 5961 §3.2). */
	if (s->flags & TH_RST) {
		switch (tcp_seq_rst_check(s->seq, rcv_nxt(c), wnd ? wnd : 1)) {
		case TCP_RST_ACCEPT:
			count(st, TCP_C_rst_accepted);
			if (c->state == TCP_SYN_RCVD || c->state == TCP_TIME_WAIT ||
			    c->state == TCP_LAST_ACK || c->state == TCP_CLOSING)
				conn_closed(c, 0);
			else
				conn_closed(c, ECONNRESET);
			return;
		case TCP_RST_CHALLENGE:
			count(st, TCP_C_rst_challenged);
			send_challenge_ack(c, now);
			return;
		case TCP_RST_DROP:
			count(st, TCP_C_rst_out_of_window);
			return;
		}
	}
	/* Simultaneous open: in SYN-RCVD the peer's SYN-ACK repeats its SYN
	 * and acknowledges ours; what counts is the ACK. */
	struct seg synack_as_ack;
	if (c->state == TCP_SYN_RCVD && (s->flags & (TH_SYN | TH_ACK)) == (TH_SYN | TH_ACK) &&
	    s->seq == c->irs && s->ack == c->iss + 1 && !c->lst) {
		synack_as_ack = *s;
		synack_as_ack.seq = s->seq + 1;
		synack_as_ack.flags &= (uint8_t)~TH_SYN;
		s = &synack_as_ack;
		seg_len = s->len + ((s->flags & TH_FIN) ? 1u : 0u);
	}
	/* A retransmitted SYN in SYN-RCVD: our SYN-ACK was lost. */
	if (c->state == TCP_SYN_RCVD && (s->flags & TH_SYN) && !(s->flags & TH_ACK) &&
	    s->seq == c->irs) {
		count(st, TCP_C_syn_challenged);
		send_syn(c, now);
		return;
	}
	/* PAWS (RFC 7323 §5.3): a TSval older than TS.Recent marks an old
	 * duplicate. (TS.Recent older than 24 days would be invalidated; our
	 * idle connections do not live that long without keep-alive traffic.) */
	if (c->neg.ts && (s->opts.present & TCP_OPTF_TS) && c->state != TCP_SYN_RCVD &&
	    tcp_seq_lt(s->opts.tsval, c->ts_recent)) {
		count(st, TCP_C_paws_rejected);
		answer_refused(c, seg_len, now);
		return;
	}
	/* Acceptability (RFC 9293 §3.10.7.4 first check). With the window
	 * zero no segment carrying data is acceptable, "but special allowance
	 * should be made to accept valid ACKs": one at RCV.NXT has its ACK
	 * (and window) taken, its data and FIN are dropped and answered. Else
	 * two ends whose windows are both shut, each retransmitting into the
	 * other's, never learn that their data arrived: neither frees its
	 * send buffer, neither application reads, neither window opens. */
	bool ack_only = false;
	if (wnd == 0 && seg_len && s->seq == rcv_nxt(c) && !c->fin_rcvd &&
	    (s->flags & (TH_ACK | TH_SYN)) == TH_ACK) {
		count(st, TCP_C_zero_window_acks);
		ack_only = true;
	} else if (!tcp_seq_acceptable(s->seq, seg_len, rcv_nxt(c), wnd) &&
		   !(seg_len == 0 && s->seq == rcv_nxt(c) + wnd)) {
		/* (A bare segment at the window's right edge passes: a peer
		 * that filled the window sends its ACKs from there. RFC 9293's
		 * test refuses it; Linux takes it, and so do we.) */
		count(st, TCP_C_unacceptable);
		if (s->len && tcp_seq_leq(s->seq + s->len, rcv_nxt(c))) {
			c->dsack_seq = s->seq; /* an old duplicate */
			c->dsack_len = s->len;
		}
		answer_refused(c, seg_len, now);
		if (c->state == TCP_TIME_WAIT && (s->flags & TH_FIN))
			tw_arm(c, now);
		return;
	}
	/* SYN in a synchronized state: challenge ACK (RFC 5961 §4.2). */
	if (s->flags & TH_SYN) {
		count(st, TCP_C_syn_challenged);
		send_challenge_ack(c, now);
		return;
	}
	if (!(s->flags & TH_ACK))
		{ count(st, TCP_C_no_ack); return; }

	if (c->state == TCP_SYN_RCVD) {
		if (!tcp_seq_gt(s->ack, c->snd_una) || tcp_seq_gt(s->ack, c->snd_max)) {
			count(st, TCP_C_synrcvd_bad_ack);
			send_rst_for(st, &c->t, s->flags, s->seq, s->ack, 0, now);
			return;
		}
		bool timed_out = c->rto.backoff > 0;
		ts_rtt_sample(c, s, now);
		conn_established(c, &c->peer_syn, s->wnd, s->seq, s->ack, timed_out, now);
		c->snd_una = s->ack;
		if (c->fin_queued)
			c->state = TCP_FIN_WAIT_1;
		/* The accept queue holds it until tcp_accept (a simultaneous
		 * open has no listener: the user holds it already). */
		struct tcp_listener *l = c->lst;
		if (l) {
			c->in_queue = true; /* still counted in l->nr_pending */
			c->qnext = NULL;
			if (l->q_tail)
				l->q_tail->qnext = c;
			else
				l->q_head = c;
			l->q_tail = c;
			l->nr_ready++;
			if (st->cfg.event)
				st->cfg.event(st->cfg.event_ctx, NULL, l->port, TCP_EV_IN);
		}
	} else if (!ack_input(c, s, now)) {
		return;
	}
	rcv_rtt_sample(c, s, now);
	take_ts(c, s);

	switch (c->state) {
	case TCP_FIN_WAIT_1:
		if (our_fin_acked(c)) {
			c->state = TCP_FIN_WAIT_2;
			c->rto_at = 0;
			fw2_arm(c, now);
		}
		break;
	case TCP_CLOSING:
		if (our_fin_acked(c))
			enter_time_wait(c, now);
		break;
	case TCP_LAST_ACK:
		if (our_fin_acked(c)) {
			conn_closed(c, 0);
			return;
		}
		break;
	case TCP_TIME_WAIT:
		if (s->flags & TH_FIN) {
			send_ack(c, now);
			tw_arm(c, now);
		}
		return;
	default:
		break;
	}

	/* Data (sixth step, without URG). In-order data may wait for a
	 * delayed ACK (RFC 9293 §3.8.6.3: at most delack, and every second
	 * segment); anything else is ACKed at once (RFC 5681 §4.2). */
	bool need_ack = ack_only, in_order = false;
	bool fin_ok = !ack_only;
	if (s->len && !ack_only) {
		if (c->state != TCP_ESTABLISHED && c->state != TCP_FIN_WAIT_1 &&
		    c->state != TCP_FIN_WAIT_2) {
			fin_ok = false; /* data after the peer's FIN: ignore */
		} else if (c->user_closed) {
			count(st, TCP_C_data_after_close);
			xmit(st, &c->t, bare_seq(c), 0, TH_RST, 0, NULL, 0, NULL, 0, 0, now);
			conn_closed(c, ECONNRESET);
			return;
		} else {
			uint32_t before = tcp_rcvbuf_rcv_nxt(&c->rb);
			bool had_ooo = c->rb.nr_ooo > 0;
			uint64_t dup0 = c->rb.nr_dup_bytes;
			int r = tcp_rcvbuf_insert(&c->rb, s->seq, s->data, s->len);
			if (r < 0) {
				count(st, TCP_C_rcvbuf_full);
				fin_ok = false;
			} else if (r > 0) {
				count(st, TCP_C_data_segs_in);
				in_order = !had_ooo && c->rb.nr_ooo == 0;
			} else if (tcp_seq_gt(s->seq, before)) {
				count(st, TCP_C_ooo_segs_in);
			} else {
				count(st, TCP_C_dup_segs_in);
			}
			if (r >= 0 && c->rb.nr_dup_bytes - dup0 == s->len) {
				c->dsack_seq = s->seq; /* all of it held already */
				c->dsack_len = s->len;
			}
			need_ack = !in_order;
		}
	}
	/* FIN (eighth step): only once every byte before it is here. */
	if ((s->flags & TH_FIN) && fin_ok && !c->fin_rcvd &&
	    s->seq + s->len == tcp_rcvbuf_rcv_nxt(&c->rb)) {
		c->fin_rcvd = true;
		need_ack = true;
		switch (c->state) {
		case TCP_ESTABLISHED:
			c->state = TCP_CLOSE_WAIT;
			break;
		case TCP_FIN_WAIT_1:
			if (our_fin_acked(c))
				enter_time_wait(c, now);
			else
				c->state = TCP_CLOSING;
			break;
		case TCP_FIN_WAIT_2:
			enter_time_wait(c, now);
			break;
		default:
			break;
		}
	} else if ((s->flags & TH_FIN) && c->fin_rcvd) {
		need_ack = true; /* a retransmitted FIN: our ACK was lost */
	}
	if (in_order && !need_ack) {
		if (++c->segs_unacked >= 2 || st->cfg.delack_us == UINT32_MAX)
			need_ack = true;
		else if (!c->delack_at)
			set_timer(c, &c->delack_at, now + (uint64_t)st->cfg.delack_us * NS_PER_US);
	}
	/* Data going out now carries the ACK. */
	uint64_t sent = st->ctr[TCP_C_seg_out];
	output(c, now);
	if (need_ack && st->ctr[TCP_C_seg_out] == sent)
		send_ack(c, now);
}

/* Chunks came back while senders waited on the memory cap: tell them. */
static void mem_returned(struct tcp_stack *st)
{
	for (uint32_t b = 0; b <= st->tab_mask && st->nr_want_mem; b++)
		for (struct tcp_conn *c = st->tab[b]; c; c = c->hnext)
			if (c->want_mem) {
				c->want_mem = false;
				st->nr_want_mem--;
				if (user_watches(c))
					st->cfg.event(st->cfg.event_ctx, c, c->t.lport, TCP_EV_OUT);
			}
}

/* A SYN for a connection in TIME-WAIT starts a new one if it cannot be an
 * old duplicate: its timestamp is newer than TS.Recent (RFC 6191), or,
 * without timestamps, its sequence number is beyond what the old
 * connection received. */
static bool tw_new_syn(const struct tcp_conn *c, const struct seg *s)
{
	if (c->neg.ts && (s->opts.present & TCP_OPTF_TS))
		return tcp_seq_gt(s->opts.tsval, c->ts_recent);
	return tcp_seq_gt(s->seq, rcv_nxt(c));
}

/*
 * A neighbor just resolved. Segments to it were not sent while it was
 * unresolved (tx_arp_wait): send the handshake or the unacknowledged data
 * again now instead of at the next retransmission timeout. Rare: a scan.
 */
static void arp_resolved(struct tcp_stack *st, uint32_t hop, uint64_t now)
{
	const struct tcp_if *ifc = &st->cfg.ifc;
	if (!hop)
		return;
	for (uint32_t b = 0; b <= st->tab_mask; b++)
		for (struct tcp_conn *c = st->tab[b]; c; c = c->hnext) {
			bool local = ((c->t.raddr ^ ifc->ip) & ifc->mask) == 0;
			if ((local ? c->t.raddr : ifc->gw) != hop)
				continue;
			if (c->state == TCP_SYN_SENT || c->state == TCP_SYN_RCVD) {
				send_syn(c, now);
			} else if (can_send_data(c) && c->snd_una != c->snd_nxt) {
				c->snd_nxt = c->snd_una;
				output(c, now);
			}
		}
}

int tcp_stack_input(struct tcp_stack *st, const uint8_t *frame, uint32_t len, uint64_t now)
{
	struct tcp_net_result res;
	res.out = st->txbuf;
	res.out_cap = st->txcap;
	enum tcp_net_verdict v = tcp_net_input(st->net, frame, len, now, &res);
	/* The reply tcp_net built in txbuf goes first: what waited on ARP is
	 * rebuilt in the same buffer. */
	if (v == TCP_NET_CONSUMED && res.out_len &&
	    st->cfg.io.tx(st->cfg.io.ctx, st->txbuf, res.out_len) < 0)
		count(st, TCP_C_tx_fail);
	if (res.resolved != TCP_NET_NO_ENTRY)
		arp_resolved(st, tcp_net_entry_ip(st->net, res.resolved), now);
	if (v == TCP_NET_CONSUMED)
		return 0;
	if (v != TCP_NET_L4 || res.proto != 6) {
		count(st, TCP_C_not_tcp);
		return 0;
	}
	const uint8_t *h = frame + res.l4_off;
	if (!tcp_cksum_ipv4_ok(res.src, res.dst, h, res.l4_len)) {
		count(st, TCP_C_bad_cksum);
		return 0;
	}
	struct seg s;
	int hl = tcp_opt_parse_hdr(h, res.l4_len, &s.opts);
	if (hl < 0) {
		count(st, TCP_C_bad_hdr);
		return 0;
	}
	struct tcp_tuple t = {
		.laddr = res.dst, .raddr = res.src, .lport = rd16(h + 2), .rport = rd16(h)};
	s.seq = rd32(h + 4);
	s.ack = rd32(h + 8);
	s.flags = h[13];
	s.wnd = rd16(h + 14);
	s.data = h + hl;
	s.len = res.l4_len - (uint32_t)hl;
	uint32_t seg_len = s.len + ((s.flags & TH_SYN) ? 1u : 0u) + ((s.flags & TH_FIN) ? 1u : 0u);

	struct tcp_conn *c = lookup(st, &t);
	if (c && c->state == TCP_TIME_WAIT && (s.flags & (TH_SYN | TH_ACK | TH_RST)) == TH_SYN &&
	    find_listener(st, t.lport) && tw_new_syn(c, &s)) {
		/* A new incarnation of the connection (RFC 9293 §3.10.7.4, RFC
		 * 6191): TIME-WAIT gives way and the listener takes the SYN. */
		count(st, TCP_C_tw_reopened);
		conn_closed(c, 0);
		c = NULL;
	}
	if (!c) {
		struct tcp_listener *l = find_listener(st, t.lport);
		if (l) {
			count(st, TCP_C_seg_in);
			listen_input(st, l, &t, &s, now);
			return 0;
		}
		count(st, TCP_C_no_conn);
		send_rst_for(st, &t, s.flags, s.seq, s.ack, seg_len, now);
		return 0;
	}
	count(st, TCP_C_seg_in);
	struct conn_snap snap;
	snap_take(c, &snap);
	c->last_rx = now;
	c->keep_probes = 0;
	size_t live = st->pool.nr_live;
	if (c->state == TCP_SYN_SENT)
		synsent_input(c, &s, now);
	else
		sync_input(c, &s, now);
	snap_notify(c, &snap);
	if (st->nr_want_mem && st->pool.nr_live < live)
		mem_returned(st);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Timers */

/* Keep-alive (RFC 9293 §3.8.4): after keep_idle of silence, probe with a
 * segment one below SND.UNA (which forces an ACK) every keep_intvl; after
 * keep_cnt unanswered probes, reset. Only while synchronized and open. */
static bool keep_applies(const struct tcp_conn *c)
{
	return c->keepalive && (c->state == TCP_ESTABLISHED || c->state == TCP_CLOSE_WAIT ||
				c->state == TCP_FIN_WAIT_2);
}

static void keep_rearm(struct tcp_conn *c, uint64_t now)
{
	c->keep_probes = 0;
	set_timer(c, &c->keep_at,
		  keep_applies(c) ? now + (uint64_t)c->keep_idle_s * 1000000000ull : 0);
}

static void keep_fire(struct tcp_conn *c, uint64_t now)
{
	struct tcp_stack *st = c->st;
	c->keep_at = 0;
	if (!keep_applies(c))
		return;
	uint64_t idle_end = c->last_rx + (uint64_t)c->keep_idle_s * 1000000000ull;
	if (!c->keep_probes && now < idle_end) {
		set_timer(c, &c->keep_at, idle_end); /* heard from the peer since */
		return;
	}
	if (c->keep_probes >= c->keep_cnt) {
		count(st, TCP_C_keepalive_drops);
		xmit(st, &c->t, bare_seq(c), 0, TH_RST, 0, NULL, 0, NULL, 0, 0, now);
		conn_closed(c, ETIMEDOUT);
		return;
	}
	c->keep_probes++;
	count(st, TCP_C_keepalive_probes);
	uint8_t opt[TCP_OPT_MAX_LEN];
	unsigned ol = data_opts(c, opt, false, now);
	xmit(st, &c->t, c->snd_una - 1, rcv_nxt(c), TH_ACK, adv_window(c), opt, ol, NULL, 0, 0,
	     now);
	set_timer(c, &c->keep_at, now + (uint64_t)c->keep_intvl_s * 1000000000ull);
}

static int conn_set_rcvbuf(struct tcp_conn *c, uint32_t v)
{
	if (v < 536 || v > (1u << 30))
		return -EINVAL;
	if (c->state != TCP_CLOSED && c->state != TCP_SYN_SENT) {
		/* The scale is fixed by the handshake; an advertised window
		 * is never taken back (RFC 9293 §3.8.6.2.2). */
		uint32_t cap = rcv_wnd_cap(c);
		if (v > cap)
			v = cap;
		uint32_t promised = c->rcv_adv - c->rb.rd_nxt;
		if (v < promised && promised <= (1u << 30))
			v = promised;
	}
	return tcp_rcvbuf_set_limit(&c->rb, v);
}

static void rto_fire(struct tcp_conn *c, uint64_t now)
{
	struct tcp_stack *st = c->st;
	c->rto_at = 0;
	if (c->pto) {
		tlp_fire(c, now);
		return;
	}
	if (c->state == TCP_SYN_SENT || c->state == TCP_SYN_RCVD) {
		if (++c->retries > st->cfg.syn_retries) {
			count(st, TCP_C_timeouts);
			conn_closed(c, ETIMEDOUT);
			return;
		}
		count(st, TCP_C_syn_retrans);
		tcp_rto_backoff(&c->rto);
		send_syn(c, now);
		arm_rto(c, now);
		return;
	}
	if (!can_send_data(c))
		return;
	if (++c->retries > st->cfg.data_retries) {
		count(st, TCP_C_timeouts);
		xmit(st, &c->t, bare_seq(c), 0, TH_RST, 0, NULL, 0, NULL, 0, 0, now);
		conn_closed(c, ETIMEDOUT);
		return;
	}
	tcp_rto_backoff(&c->rto);
	c->rtt_active = false;
	if (c->snd_wnd == 0 && tcp_seq_lt(c->snd_una, data_end(c) + (c->fin_queued ? 1u : 0u))) {
		/* Persist: the peer's window is zero. Probe with one byte past it
		 * (RFC 9293 §3.8.6.1); an answering ACK shows the peer is alive
		 * (retries restart), so probing goes on as long as it answers. */
		count(st, TCP_C_persist_probes);
		uint32_t used = send_data_seg(c, c->snd_una, 1, true, now);
		if (tcp_seq_gt(c->snd_una + used, c->snd_max))
			c->snd_max = c->snd_una + used;
		c->snd_nxt = c->snd_max;
		arm_rto(c, now);
		return;
	}
	count(st, TCP_C_rto_expired);
	c->tlp_out = false;
	c->undo_on = false; /* resends of the timeout are not tracked */
	tcp_cc_on_rto(&c->cc, c->snd_max, c->snd_max - c->snd_una);
	if (c->sack_on)
		tcp_sack_reset(&c->sack); /* the peer may have reneged (RFC 2018 §8) */
	/* Go back N: resend from SND.UNA as cwnd (now 1 SMSS) allows. */
	c->snd_nxt = c->snd_una;
	arm_rto(c, now);
	output(c, now);
}

static uint64_t conn_next_deadline(const struct tcp_conn *c)
{
	uint64_t m = UINT64_MAX;
	const uint64_t at[] = {c->rto_at, c->tw_at, c->keep_at, c->delack_at};
	for (unsigned i = 0; i < sizeof(at) / sizeof(at[0]); i++)
		if (at[i] && at[i] < m)
			m = at[i];
	return m;
}

static void conn_timer(struct tcp_conn *c, uint64_t now)
{
	if (c->tw_at && now >= c->tw_at) {
		count(c->st, c->state == TCP_FIN_WAIT_2 ? TCP_C_fin_wait2_timeouts : TCP_C_tw_expired);
		conn_closed(c, 0);
		return;
	}
	if (conn_next_deadline(c) <= now) {
		/* A timer may close a connection nobody holds, which frees it:
		 * the freed counter tells, and c must not be touched then. */
		const uint64_t *freed = &c->st->ctr[TCP_C_conns_freed];
		uint64_t freed0 = *freed;
		struct conn_snap snap;
		snap_take(c, &snap);
		if (c->rto_at && now >= c->rto_at)
			rto_fire(c, now);
		if (*freed != freed0)
			return;
		if (c->state != TCP_CLOSED && c->keep_at && now >= c->keep_at)
			keep_fire(c, now);
		if (*freed != freed0)
			return;
		if (c->state != TCP_CLOSED && c->delack_at && now >= c->delack_at) {
			count(c->st, TCP_C_delayed_acks);
			send_ack(c, now);
		}
		snap_notify(c, &snap);
	}
}

void tcp_stack_timer(struct tcp_stack *st, uint64_t now)
{
	/* Every firing moves the connection's deadlines past now or frees it;
	 * the bound only guards against a timer that would not move. */
	for (uint32_t guard = 2 * st->heap_n + 16; st->heap_n && st->heap[0]->heap_key <= now && guard;
	     guard--) {
		struct tcp_conn *c = st->heap[0];
		uint64_t freed = st->ctr[TCP_C_conns_freed];
		conn_timer(c, now);
		if (st->ctr[TCP_C_conns_freed] != freed)
			continue; /* c is gone, and out of the heap */
		uint64_t d = conn_next_deadline(c);
		heap_set(c, d > now ? d : now + 1);
	}
	/* TIME-WAIT ends in list order; each one leaves the list. */
	while (st->tw_head && st->tw_head->tw_at <= now)
		conn_timer(st->tw_head, now);
	if (st->mem_retry_at && now >= st->mem_retry_at) {
		st->mem_retry_at = 0;
		mem_returned(st); /* a sender that still finds none arms it again */
	}
	struct tcp_net_arp arp;
	for (int i = 0; i < 64; i++) {
		enum tcp_net_tick k = tcp_net_timer(st->net, now, &arp);
		if (k == TCP_NET_IDLE)
			break;
		if (k == TCP_NET_SEND_ARP && arp.len &&
		    st->cfg.io.tx(st->cfg.io.ctx, arp.frame, arp.len) < 0)
			count(st, TCP_C_tx_fail);
	}
}

uint64_t tcp_stack_next_timer(const struct tcp_stack *st)
{
	/* A lower bound: a deadline that was disarmed since leaves a wake-up
	 * that finds nothing to do and recomputes. ARP's timers count too. */
	uint64_t net = tcp_net_next_timer(st->net);
	uint64_t tcp = st->heap_n ? st->heap[0]->heap_key : UINT64_MAX;
	if (st->tw_head && st->tw_head->tw_at < tcp)
		tcp = st->tw_head->tw_at;
	if (st->mem_retry_at && st->mem_retry_at < tcp)
		tcp = st->mem_retry_at;
	return net < tcp ? net : tcp;
}

/* ---------------------------------------------------------------------- */
/* Stack */

struct tcp_stack *tcp_stack_create(const struct tcp_stack_cfg *cfg)
{
	if (!cfg || !cfg->io.tx || cfg->max_conns == 0 || cfg->max_conns > (1u << 24)) {
		errno = EINVAL;
		return NULL;
	}
	struct tcp_stack *st = calloc(1, sizeof(*st));
	if (!st) {
		errno = ENOMEM;
		return NULL;
	}
	st->cfg = *cfg;
	if (!st->cfg.sndbuf)
		st->cfg.sndbuf = 256u << 10;
	if (!st->cfg.rcvbuf)
		st->cfg.rcvbuf = 256u << 10;
	if (!st->cfg.sndbuf_max)
		st->cfg.sndbuf_max = 4u << 20;
	if (!st->cfg.rcvbuf_max)
		st->cfg.rcvbuf_max = 4u << 20;
	if (!st->cfg.max_ooo)
		st->cfg.max_ooo = 16;
	if (!st->cfg.msl_ns)
		st->cfg.msl_ns = 30ull * 1000000000ull;
	if (!st->cfg.syn_retries)
		st->cfg.syn_retries = 5;
	if (!st->cfg.data_retries)
		st->cfg.data_retries = 12;
	if (!st->cfg.delack_us)
		st->cfg.delack_us = 40000;
	if (!st->cfg.keep_idle_s)
		st->cfg.keep_idle_s = 7200;
	if (!st->cfg.keep_intvl_s)
		st->cfg.keep_intvl_s = 75;
	if (!st->cfg.keep_cnt)
		st->cfg.keep_cnt = 9;
	if (!st->cfg.fin_wait2_s)
		st->cfg.fin_wait2_s = 60;
	st->cc_ops = tcp_cc_find(cfg->cc ? cfg->cc : "newreno");
	if (!st->cc_ops || st->cfg.rcvbuf > (1u << 30) || st->cfg.sndbuf_max > (1u << 30) ||
	    st->cfg.rcvbuf_max > (1u << 30) || cfg->ifc.mtu < 68 + 40) {
		free(st);
		errno = EINVAL;
		return NULL;
	}
	st->net = tcp_net_create(&cfg->ifc, &cfg->arp);
	if (!st->net) {
		int e = errno;
		free(st);
		errno = e;
		return NULL;
	}
	uint32_t nb = 1;
	while (nb < cfg->max_conns)
		nb <<= 1;
	st->tab = calloc(nb, sizeof(*st->tab));
	st->tab_mask = nb - 1;
	st->heap = calloc(cfg->max_conns, sizeof(*st->heap));
	st->txcap = 14u + cfg->ifc.mtu;
	if (st->txcap < 128)
		st->txcap = 128;
	st->txbuf = malloc(st->txcap);
	if (!st->tab || !st->txbuf || !st->heap) {
		tcp_net_free(st->net);
		free(st->heap);
		free(st->tab);
		free(st->txbuf);
		free(st);
		errno = ENOMEM;
		return NULL;
	}
	tcp_chunk_pool_init(&st->pool, cfg->pool_max_chunks, 64);
	return st;
}

size_t tcp_stack_destroy(struct tcp_stack *st)
{
	if (!st)
		return 0;
	for (struct tcp_listener *l = st->listeners; l;) {
		struct tcp_listener *n = l->next;
		for (struct tcp_conn *c = l->q_head, *cn; c; c = cn) {
			cn = c->qnext;
			c->in_queue = false;
			c->lst = NULL;
			if (c->state == TCP_CLOSED)
				conn_free(c);
			/* else still hashed: freed below */
		}
		free(l);
		l = n;
	}
	st->listeners = NULL;
	for (uint32_t b = 0; b <= st->tab_mask; b++) {
		struct tcp_conn *c = st->tab[b], *next;
		for (; c; c = next) {
			next = c->hnext;
			c->lst = NULL;
			conn_free(c);
		}
	}
	/* Handles the user kept after the connection closed are unhashed; they
	 * are the user's to close first. */
	size_t live = tcp_chunk_pool_fini(&st->pool);
	tcp_net_free(st->net);
	free(st->heap);
	free(st->tab);
	free(st->txbuf);
	free(st);
	return live;
}

const uint64_t *tcp_stack_counters(const struct tcp_stack *st)
{
	return st->ctr;
}
const char *tcp_stack_counter_name(unsigned c)
{
	return c < TCP_C_MAX ? ctr_names[c] : NULL;
}
const char *tcp_stack_counter_desc(unsigned c)
{
	return c < TCP_C_MAX ? ctr_descs[c] : NULL;
}
uint32_t tcp_stack_nr_conns(const struct tcp_stack *st)
{
	return st->nr_conns;
}
size_t tcp_stack_chunks_live(const struct tcp_stack *st)
{
	return st->pool.nr_live;
}
struct tcp_net *tcp_stack_net(struct tcp_stack *st)
{
	return st->net;
}

/* ---------------------------------------------------------------------- */
/* API */

int tcp_listen(struct tcp_stack *st, uint16_t port, uint32_t backlog)
{
	if (!port || !backlog)
		return -EINVAL;
	if (find_listener(st, port))
		return -EADDRINUSE;
	struct tcp_listener *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->port = port;
	l->backlog = backlog;
	l->next = st->listeners;
	st->listeners = l;
	return 0;
}

int tcp_unlisten(struct tcp_stack *st, uint16_t port, uint64_t now)
{
	struct tcp_listener **p = &st->listeners;
	while (*p && (*p)->port != port)
		p = &(*p)->next;
	struct tcp_listener *l = *p;
	if (!l)
		return -ENOENT;
	*p = l->next;
	for (struct tcp_conn *c = l->q_head, *cn; c; c = cn) {
		cn = c->qnext;
		c->in_queue = false;
		c->lst = NULL;
		if (c->state != TCP_CLOSED)
			xmit(st, &c->t, bare_seq(c), 0, TH_RST, 0, NULL, 0, NULL, 0, 0, now);
		conn_free(c);
	}
	/* Connections still in SYN-RCVD point at l: reset them too. */
	for (uint32_t b = 0; b <= st->tab_mask; b++) {
		struct tcp_conn *c = st->tab[b], *next;
		for (; c; c = next) {
			next = c->hnext;
			if (c->lst == l) {
				c->lst = NULL;
				xmit(st, &c->t, bare_seq(c), 0, TH_RST, 0, NULL, 0, NULL, 0, 0, now);
				conn_free(c);
			}
		}
	}
	free(l);
	return 0;
}

struct tcp_conn *tcp_accept(struct tcp_stack *st, uint16_t port)
{
	struct tcp_listener *l = find_listener(st, port);
	if (!l) {
		errno = ENOENT;
		return NULL;
	}
	while (l->q_head) {
		struct tcp_conn *c = l->q_head;
		l->q_head = c->qnext;
		if (!l->q_head)
			l->q_tail = NULL;
		c->qnext = NULL;
		c->in_queue = false;
		l->nr_pending--;
		c->lst = NULL;
		if (c->state == TCP_CLOSED) {
			conn_free(c); /* reset before it was accepted */
			continue;
		}
		c->user_owned = true;
		l->nr_ready--;
		count(st, TCP_C_accepted);
		return c;
	}
	errno = EAGAIN;
	return NULL;
}

struct tcp_conn *tcp_connect(struct tcp_stack *st, uint32_t raddr, uint16_t rport,
			     uint16_t lport, uint64_t now)
{
	struct tcp_tuple t = {.laddr = st->cfg.ifc.ip, .raddr = raddr, .rport = rport};
	if (!raddr || !rport) {
		errno = EINVAL;
		return NULL;
	}
	if (lport) {
		t.lport = lport;
		if (lookup(st, &t)) {
			errno = EADDRINUSE;
			return NULL;
		}
	} else {
		uint32_t i;
		for (i = 0; i < EPH_N; i++) {
			t.lport = (uint16_t)(EPH_LO + (st->eph_next++ % EPH_N));
			if (!lookup(st, &t) && !find_listener(st, t.lport))
				break;
		}
		if (i == EPH_N) {
			errno = EADDRNOTAVAIL;
			return NULL;
		}
	}
	struct tcp_conn *c = conn_new(st, &t, now);
	if (!c)
		return NULL;
	count(st, TCP_C_active_opens);
	c->user_owned = true;
	c->state = TCP_SYN_SENT;
	c->snd_nxt = c->snd_max = c->iss + 1;
	c->rtt_start = now;
	send_syn(c, now);
	arm_rto(c, now);
	return c;
}

int tcp_send_check(const struct tcp_conn *c)
{
	if (c->state == TCP_CLOSED)
		return c->err ? -c->err : -ENOTCONN;
	if (c->fin_queued)
		return -EPIPE;
	if (c->state != TCP_ESTABLISHED && c->state != TCP_CLOSE_WAIT)
		return -ENOTCONN;
	return 0;
}

#define TCP_MEM_RETRY_NS (10 * 1000000ull)

/* What the buffer took (n from an append): 0 for no chunk, the connection
 * then waiting for memory; sent now unless more. A chunk coming back in a
 * segment's input or a read tells the waiting senders at once; but chunks
 * also come back where nothing tells (a connection closed or aborted, its
 * buffers freed), and an allocator that failed may succeed later with no
 * chunk returned at all: so they are told again after TCP_MEM_RETRY_NS,
 * and again after each try that still finds no chunk. */
static int queued(struct tcp_conn *c, int n, bool more, uint64_t now)
{
	if (n == -ENOMEM) {
		n = 0;
		if (!c->want_mem) {
			c->want_mem = true;
			c->st->nr_want_mem++;
		}
		if (!c->st->mem_retry_at)
			c->st->mem_retry_at = now + TCP_MEM_RETRY_NS;
	}
	if (n > 0 && !more)
		output(c, now);
	return n;
}

int tcp_send_more(struct tcp_conn *c, const void *data, uint32_t len, bool more, uint64_t now)
{
	int rc = tcp_send_check(c);
	return rc ? rc : queued(c, tcp_sndbuf_append(&c->sb, data, len), more, now);
}

int tcp_send_file(struct tcp_conn *c, int fd, uint64_t off, uint32_t len, bool more, uint64_t now)
{
	int rc = tcp_send_check(c);
	return rc ? rc : queued(c, tcp_sndbuf_append_fd(&c->sb, fd, off, len), more, now);
}

int tcp_send(struct tcp_conn *c, const void *data, uint32_t len, uint64_t now)
{
	return tcp_send_more(c, data, len, false, now);
}

void tcp_push(struct tcp_conn *c, uint64_t now)
{
	output(c, now);
}

int tcp_recv(struct tcp_conn *c, void *buf, uint32_t len, uint64_t now)
{
	if (c->state == TCP_CLOSED && c->err)
		return -c->err;
	size_t live = c->st->pool.nr_live;
	uint32_t n = tcp_rcvbuf_read(&c->rb, buf, len);
	if (c->st->nr_want_mem && c->st->pool.nr_live < live)
		mem_returned(c->st);
	if (n) {
		rcvbuf_tune(c, now);
		/* Window update once reading opened at least min(half the
		 * buffer, 2 MSS) beyond what we advertised (RFC 9293 §3.8.6.2.2),
		 * and only while what the peer may still send is at most half
		 * the largest window it was given: with more than that it is
		 * not held back, and the segment that answers what it sends
		 * (the response to a request, the ACK of data) carries the
		 * window. Else the first request of every connection would
		 * cost a bare ACK: the handshake's window, at most 65,535,
		 * always looks opened by the first read. */
		uint32_t edge = c->rb.rd_nxt + c->rb.limit;
		uint32_t thresh = c->rb.limit / 2;
		if (c->syn.mss * 2u < thresh)
			thresh = c->syn.mss * 2u;
		uint32_t left = tcp_seq_gt(c->rcv_adv, rcv_nxt(c)) ? c->rcv_adv - rcv_nxt(c) : 0;
		if (c->state != TCP_CLOSED && c->state != TCP_SYN_SENT &&
		    c->state != TCP_SYN_RCVD && !c->fin_rcvd && edge - c->rcv_adv >= thresh &&
		    tcp_seq_gt(edge, c->rcv_adv) && left <= c->rcv_adv_max / 2)
			send_ack(c, now);
		return (int)n;
	}
	if (c->fin_rcvd || c->state == TCP_CLOSED)
		return 0;
	return -EAGAIN;
}

int tcp_shutdown_write(struct tcp_conn *c, uint64_t now)
{
	switch (c->state) {
	case TCP_ESTABLISHED:
		c->fin_queued = true;
		c->state = TCP_FIN_WAIT_1;
		break;
	case TCP_CLOSE_WAIT:
		c->fin_queued = true;
		c->state = TCP_LAST_ACK;
		break;
	case TCP_SYN_RCVD:
		c->fin_queued = true; /* FIN-WAIT-1 once established */
		return 0;
	case TCP_FIN_WAIT_1:
	case TCP_FIN_WAIT_2:
	case TCP_CLOSING:
	case TCP_TIME_WAIT:
	case TCP_LAST_ACK:
		return 0;
	default:
		return -ENOTCONN;
	}
	output(c, now);
	return 0;
}

void tcp_close(struct tcp_conn *c, uint64_t now)
{
	c->user_closed = true;
	switch (c->state) {
	case TCP_CLOSED:
	case TCP_SYN_SENT:
		conn_closed(c, 0);
		return;
	default:
		break;
	}
	if (tcp_rcvbuf_readable(&c->rb) || c->linger0) {
		tcp_abort(c, now);
		return;
	}
	tcp_shutdown_write(c, now);
	fw2_arm(c, now);
}

void tcp_abort(struct tcp_conn *c, uint64_t now)
{
	c->user_closed = true;
	if (c->state != TCP_CLOSED && c->state != TCP_SYN_SENT && c->state != TCP_TIME_WAIT)
		xmit(c->st, &c->t, bare_seq(c), 0, TH_RST, 0, NULL, 0, NULL, 0, 0, now);
	conn_closed(c, 0);
}

uint32_t tcp_listen_pending(const struct tcp_stack *st, uint16_t port)
{
	const struct tcp_listener *l = find_listener(st, port);
	return l ? l->nr_ready : 0;
}

unsigned tcp_conn_poll(const struct tcp_conn *c)
{
	unsigned ev = 0;
	if (tcp_rcvbuf_readable(&c->rb) || c->fin_rcvd)
		ev |= TCP_EV_IN;
	if (c->fin_rcvd)
		ev |= TCP_EV_RDHUP;
	if (tcp_conn_writable(c))
		ev |= TCP_EV_OUT;
	if (c->state == TCP_CLOSED) {
		ev |= TCP_EV_IN | TCP_EV_HUP;
		if (c->err)
			ev |= TCP_EV_ERR;
	} else if (c->fin_rcvd && c->fin_queued) {
		ev |= TCP_EV_HUP;
	}
	return ev;
}

uint32_t tcp_conn_readable(const struct tcp_conn *c)
{
	return tcp_rcvbuf_readable(&c->rb);
}

uint32_t tcp_conn_writable(const struct tcp_conn *c)
{
	if ((c->state != TCP_ESTABLISHED && c->state != TCP_CLOSE_WAIT) || c->fin_queued)
		return 0;
	const struct tcp_chunk_pool *p = &c->st->pool;
	if (p->max_live && p->nr_live >= p->max_live)
		return 0; /* the memory cap: nothing fits until chunks come back */
	return tcp_sndbuf_space(&c->sb);
}

void tcp_conn_set_user(struct tcp_conn *c, void *p)
{
	c->user = p;
}

void *tcp_conn_user(const struct tcp_conn *c)
{
	return c->user;
}

void tcp_conn_tuple(const struct tcp_conn *c, struct tcp_tuple *out)
{
	*out = c->t;
}

int tcp_conn_setopt(struct tcp_conn *c, enum tcp_conn_opt o, uint32_t v, uint64_t now)
{
	switch (o) {
	case TCP_O_NODELAY:
		if (v > 1)
			return -EINVAL;
		c->nodelay = v;
		if (v)
			output(c, now);
		return 0;
	case TCP_O_SNDBUF:
		if (v < 536 || v > (1u << 30))
			return -EINVAL;
		tcp_sndbuf_set_limit(&c->sb, v);
		c->sndbuf_set = true;
		return 0;
	case TCP_O_RCVBUF: {
		int rc = conn_set_rcvbuf(c, v);
		if (!rc)
			c->rcvbuf_set = true;
		return rc;
	}
	case TCP_O_KEEPALIVE:
		if (v > 1)
			return -EINVAL;
		c->keepalive = v;
		keep_rearm(c, now);
		return 0;
	case TCP_O_KEEPIDLE:
	case TCP_O_KEEPINTVL:
		if (v < 1 || v > 32767)
			return -EINVAL;
		*(o == TCP_O_KEEPIDLE ? &c->keep_idle_s : &c->keep_intvl_s) = v;
		keep_rearm(c, now);
		return 0;
	case TCP_O_KEEPCNT:
		if (v < 1 || v > 127)
			return -EINVAL;
		c->keep_cnt = v;
		return 0;
	case TCP_O_LINGER0:
		if (v > 1)
			return -EINVAL;
		c->linger0 = v;
		return 0;
	}
	return -EINVAL;
}

int tcp_conn_getopt(const struct tcp_conn *c, enum tcp_conn_opt o, uint32_t *v)
{
	switch (o) {
	case TCP_O_NODELAY: *v = c->nodelay; return 0;
	case TCP_O_SNDBUF: *v = c->sb.limit; return 0;
	case TCP_O_RCVBUF: *v = c->rb.limit; return 0;
	case TCP_O_KEEPALIVE: *v = c->keepalive; return 0;
	case TCP_O_KEEPIDLE: *v = c->keep_idle_s; return 0;
	case TCP_O_KEEPINTVL: *v = c->keep_intvl_s; return 0;
	case TCP_O_KEEPCNT: *v = c->keep_cnt; return 0;
	case TCP_O_LINGER0: *v = c->linger0; return 0;
	}
	return -EINVAL;
}

enum tcp_state tcp_conn_state(const struct tcp_conn *c)
{
	return c->state;
}

const char *tcp_state_name(enum tcp_state s)
{
	static const char *const n[] = {"CLOSED",     "SYN-SENT",   "SYN-RCVD",  "ESTABLISHED",
					"FIN-WAIT-1", "FIN-WAIT-2", "CLOSING",   "TIME-WAIT",
					"CLOSE-WAIT", "LAST-ACK"};
	return (unsigned)s < sizeof(n) / sizeof(n[0]) ? n[s] : "?";
}

int tcp_conn_error(const struct tcp_conn *c)
{
	return c->err;
}

uint32_t tcp_conn_unacked(const struct tcp_conn *c)
{
	return tcp_sndbuf_queued(&c->sb);
}

void tcp_conn_info(const struct tcp_conn *c, struct tcp_conn_info *o)
{
	memset(o, 0, sizeof(*o));
	o->snd_mss = c->neg.snd_mss;
	o->snd_wscale = c->neg.snd_wscale;
	o->rcv_wscale = c->neg.rcv_wscale;
	o->ws = c->neg.ws;
	o->sack = c->neg.sack;
	o->ts = c->neg.ts;
	o->cwnd = c->cc.ops ? tcp_cc_cwnd(&c->cc) : 0;
	o->ssthresh = c->cc.ops ? tcp_cc_ssthresh(&c->cc) : 0;
	o->srtt_us = c->rto.srtt_us;
	o->rto_us = tcp_rto_get(&c->rto);
	o->min_rtt_us = c->min_rtt_us;
	o->lport = c->t.lport;
	o->rport = c->t.rport;
	o->iss = c->iss;
	o->irs = c->irs;
}
