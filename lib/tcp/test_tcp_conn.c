/* SPDX-License-Identifier: MIT */
/*
 * The connection core: two stacks, A (10.0.0.1) and B (10.0.0.2), back to
 * back through a fake link (a FIFO of frames that can drop, reorder and
 * duplicate deterministically) with a virtual clock. Every test ends by
 * checking that no connection and no chunk was left behind.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tcp_cksum.h"
#include "tcp_conn.h"
#include "tcp_isn.h"
#include "tcp_seq.h"
#include "tests/unit/bh_test.h"

#define MS 1000000ull
#define SEC 1000000000ull
#define IP4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))
#define IP_A IP4(10, 0, 0, 1)
#define IP_B IP4(10, 0, 0, 2)
#define PORT 8080
#define C(name) TCP_C_##name
#define CTR(st, name) (tcp_stack_counters(st)[TCP_C_##name])

struct frame {
	struct frame *next;
	int dst; /* 0: A, 1: B */
	uint64_t due; /* delivered no sooner (the world's delay) */
	uint32_t len;
	uint8_t data[];
};

struct world;
struct end {
	struct world *w;
	int self;
};

/* Returns true to drop the frame (a test's own selective loss). */
typedef bool (*filter_fn)(struct world *w, int dst, const uint8_t *f, uint32_t len);

struct world {
	struct tcp_stack *st[2];
	struct end ends[2];
	struct frame *head, *tail;
	uint64_t now;
	uint64_t rng;
	unsigned loss_pm, reorder_pm, dup_pm; /* per mille, TCP frames only */
	uint64_t delay_ns;              /* one way, every frame */
	filter_fn filter;
	unsigned filter_state;
	uint64_t delivered, dropped;
	unsigned ev[2];                 /* readiness events seen per stack (OR) */
	unsigned lst_ev[2];             /* listener events per stack */
	bool capture;                   /* keep the next frame to A instead of delivering */
	uint8_t captured[2048];
	uint32_t captured_len;
};

static uint32_t rnd(struct world *w)
{
	w->rng = w->rng * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(w->rng >> 33);
}

static void enqueue(struct world *w, int dst, const uint8_t *f, uint32_t len)
{
	struct frame *fr = malloc(sizeof(*fr) + len);
	fr->next = NULL;
	fr->dst = dst;
	fr->due = w->now + w->delay_ns;
	fr->len = len;
	memcpy(fr->data, f, len);
	if (w->tail)
		w->tail->next = fr;
	else
		w->head = fr;
	w->tail = fr;
}

static int tx(void *ctx, const uint8_t *f, uint32_t len)
{
	struct end *e = ctx;
	enqueue(e->w, !e->self, f, len);
	return 0;
}

static void drop_frames(struct world *w);

static bool is_tcp(const uint8_t *f, uint32_t len)
{
	return len >= 54 && f[12] == 0x08 && f[13] == 0x00 && f[23] == 6;
}

/* Deliver every queued frame (and those they cause). Returns how many.
 * Frames that keep causing frames for ever (two ends answering each
 * other's ACKs) fail the test instead of hanging it. */
static unsigned pump(struct world *w)
{
	unsigned n = 0;
	while (w->head) {
		if (n == 1000000) {
			CHECK(n < 1000000);
			drop_frames(w);
			break;
		}
		struct frame *f = w->head;
		if (f->due > w->now)
			break; /* still in flight (the world's delay): tick() waits for it */
		w->head = f->next;
		if (!w->head)
			w->tail = NULL;
		bool tcp = is_tcp(f->data, f->len);
		if (tcp && w->reorder_pm && w->head && rnd(w) % 1000 < w->reorder_pm) {
			/* Swap with the next frame. */
			struct frame *g = w->head;
			f->next = g->next;
			g->next = f;
			if (w->tail == g)
				w->tail = f;
			continue;
		}
		if (tcp && w->dup_pm && rnd(w) % 1000 < w->dup_pm)
			enqueue(w, f->dst, f->data, f->len);
		bool drop = tcp && w->loss_pm && rnd(w) % 1000 < w->loss_pm;
		if (!drop && tcp && w->filter && w->filter(w, f->dst, f->data, f->len))
			drop = true;
		if (!drop && w->capture && f->dst == 0 && tcp) {
			memcpy(w->captured, f->data, f->len);
			w->captured_len = f->len;
			w->capture = false;
			drop = true;
		}
		if (drop) {
			w->dropped++;
		} else {
			w->delivered++;
			w->now += 10000; /* 10 us per frame: RTTs are not all zero */
			tcp_stack_input(w->st[f->dst], f->data, f->len, w->now);
		}
		free(f);
		n++;
	}
	return n;
}

/* Jump the clock to the next timer, or the next frame's arrival, and run
 * both stacks' timers. */
static void tick(struct world *w)
{
	uint64_t a = tcp_stack_next_timer(w->st[0]), b = tcp_stack_next_timer(w->st[1]);
	uint64_t t = a < b ? a : b;
	if (w->head && w->head->due > w->now && w->head->due < t)
		t = w->head->due;
	if (t == UINT64_MAX || t < w->now)
		t = w->now + MS;
	w->now = t;
	tcp_stack_timer(w->st[0], w->now);
	tcp_stack_timer(w->st[1], w->now);
}

struct opts {
	bool no_ws[2], no_sack[2], no_ts[2];
	const char *cc;
	uint32_t rcvbuf, sndbuf_max, rcvbuf_max;
	uint64_t delay_ns; /* one way */
	uint32_t fin_wait2_s;
	size_t pool_max_chunks[2];
	bool no_syncookies;
	bool secret_set[2];
	struct tcp_secret secret[2];
};

static void on_event(void *ctx, struct tcp_conn *c, uint16_t lport, unsigned ev)
{
	struct end *e = ctx;
	if (c)
		e->w->ev[e->self] |= ev;
	else
		e->w->lst_ev[e->self] |= ev;
}

static void world_init(struct world *w, const struct opts *o)
{
	memset(w, 0, sizeof(*w));
	w->now = 1 * SEC;
	w->rng = 12345;
	for (int i = 0; i < 2; i++) {
		struct tcp_stack_cfg cfg = {0};
		cfg.ifc.mac[0] = 2;
		cfg.ifc.mac[5] = (uint8_t)(i + 1);
		cfg.ifc.mtu = 1500;
		cfg.ifc.ip = i ? IP_B : IP_A;
		cfg.ifc.mask = 0xffffff00u;
		cfg.arp.capacity = 16;
		cfg.arp.ttl_ns = 3600 * SEC;
		w->ends[i].w = w;
		w->ends[i].self = i;
		cfg.io.ctx = &w->ends[i];
		cfg.io.tx = tx;
		for (int k = 0; k < 16; k++)
			cfg.secret.k[k] = (uint8_t)(k * 7 + i);
		cfg.max_conns = 64;
		cfg.msl_ns = 1 * SEC;
		cfg.rcvbuf = o && o->rcvbuf ? o->rcvbuf : 0;
		cfg.sndbuf_max = o ? o->sndbuf_max : 0;
		cfg.rcvbuf_max = o ? o->rcvbuf_max : 0;
		cfg.event = on_event;
		cfg.event_ctx = &w->ends[i];
		if (o) {
			cfg.fin_wait2_s = o->fin_wait2_s;
			cfg.pool_max_chunks = o->pool_max_chunks[i];
			cfg.no_syncookies = o->no_syncookies;
			if (o->secret_set[i])
				cfg.secret = o->secret[i];
			cfg.no_ws = o->no_ws[i];
			cfg.no_sack = o->no_sack[i];
			cfg.no_ts = o->no_ts[i];
			cfg.cc = o->cc;
		}
		w->st[i] = tcp_stack_create(&cfg);
		CHECK(w->st[i] != NULL);
	}
	/* Prime ARP both ways: A asks for B, B answers and learns A. */
	uint8_t buf[128];
	struct tcp_net_arp arp;
	int rc = tcp_net_output(tcp_stack_net(w->st[0]), IP_B, 6, 20, w->now, buf, sizeof(buf), &arp);
	CHECK_EQ(rc, -EAGAIN);
	CHECK(arp.len > 0);
	enqueue(w, 1, arp.frame, arp.len);
	pump(w);
	w->delay_ns = o ? o->delay_ns : 0;
	uint8_t mac[6];
	CHECK_EQ(tcp_net_arp_lookup(tcp_stack_net(w->st[0]), IP_B, mac), 0);
	CHECK_EQ(tcp_net_arp_lookup(tcp_stack_net(w->st[1]), IP_A, mac), 0);
}

/* Run until both stacks hold no connection; then free everything and check
 * that nothing was left. */
/* Forget the frames in flight. */
static void drop_frames(struct world *w)
{
	while (w->head) {
		struct frame *f = w->head;
		w->head = f->next;
		free(f);
	}
	w->tail = NULL;
}

static void world_fini(struct world *w)
{
	for (int i = 0; i < 100000 && (tcp_stack_nr_conns(w->st[0]) || tcp_stack_nr_conns(w->st[1]));
	     i++) {
		pump(w);
		if (tcp_stack_nr_conns(w->st[0]) || tcp_stack_nr_conns(w->st[1]))
			tick(w);
	}
	pump(w);
	CHECK_EQ(tcp_stack_nr_conns(w->st[0]), 0);
	CHECK_EQ(tcp_stack_nr_conns(w->st[1]), 0);
	CHECK_EQ(tcp_stack_chunks_live(w->st[0]), 0);
	CHECK_EQ(tcp_stack_chunks_live(w->st[1]), 0);
	CHECK_EQ(tcp_stack_destroy(w->st[0]), 0);
	CHECK_EQ(tcp_stack_destroy(w->st[1]), 0);
	drop_frames(w);
}

/*
 * Connect A to B's listener; returns both ends (A's in *a, B's in *b). On failure
 * the world is released and false returned, so a test just returns.
 */
static bool handshake(struct world *w, struct tcp_conn **a, struct tcp_conn **b)
{
	CHECK_EQ(tcp_listen(w->st[1], PORT, 16), 0);
	*a = tcp_connect(w->st[0], IP_B, PORT, 0, w->now);
	CHECK(*a != NULL);
	*b = NULL;
	for (int i = 0; i < 200 && !*b; i++) {
		pump(w);
		*b = tcp_accept(w->st[1], PORT);
		if (!*b)
			tick(w);
	}
	pump(w);
	CHECK(*b != NULL);
	bool ok = *a && *b;
	if (ok) {
		CHECK_EQ(tcp_conn_state(*a), TCP_ESTABLISHED);
		CHECK_EQ(tcp_conn_state(*b), TCP_ESTABLISHED);
		ok = tcp_conn_state(*a) == TCP_ESTABLISHED && tcp_conn_state(*b) == TCP_ESTABLISHED;
	}
	if (!ok)
		world_fini(w);
	return ok;
}

/* A default world with A connected to B. */
static bool connected(struct world *w, struct tcp_conn **a, struct tcp_conn **b)
{
	world_init(w, NULL);
	return handshake(w, a, b);
}

/* ---------------------------------------------------------------------- */

static void test_handshake_options(void)
{
	static const struct {
		struct opts o;
		bool ws, sack, ts;
	} cases[] = {
		{{{0}}, true, true, true},
		{{.no_ws = {true, false}}, false, true, true},
		{{.no_ws = {false, true}}, false, true, true},
		{{.no_sack = {false, true}}, true, false, true},
		{{.no_ts = {true, false}}, true, true, false},
		{{.no_ts = {false, true}}, true, true, false},
		{{.no_ws = {true, true}, .no_sack = {true, true}, .no_ts = {true, true}}, false, false,
		 false},
	};
	for (unsigned k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct world w;
		world_init(&w, &cases[k].o);
		struct tcp_conn *a, *b;
		if (handshake(&w, &a, &b)) {
			struct tcp_conn_info ia, ib;
			tcp_conn_info(a, &ia);
			tcp_conn_info(b, &ib);
			CHECK_EQ(ia.ws, cases[k].ws);
			CHECK_EQ(ib.ws, cases[k].ws);
			CHECK_EQ(ia.sack, cases[k].sack);
			CHECK_EQ(ib.sack, cases[k].sack);
			CHECK_EQ(ia.ts, cases[k].ts);
			CHECK_EQ(ib.ts, cases[k].ts);
			CHECK_EQ(ia.snd_mss, 1460);
			CHECK_EQ(ib.snd_mss, 1460);
			/* 256 KiB buffers need a shift of 3 when WS is on. */
			CHECK_EQ(ia.rcv_wscale, cases[k].ws ? 9 : 0);
			CHECK_EQ(ia.snd_wscale, ib.rcv_wscale);
			CHECK_EQ(ib.snd_wscale, ia.rcv_wscale);
			CHECK_EQ(ia.rport, PORT);
			CHECK_EQ(ib.lport, PORT);
			CHECK_EQ(CTR(w.st[0], active_opens), 1);
			CHECK_EQ(CTR(w.st[1], passive_opens), 1);
			CHECK_EQ(CTR(w.st[1], accepted), 1);
			CHECK_EQ(CTR(w.st[0], syn_retrans), 0);
			tcp_close(a, w.now);
			tcp_close(b, w.now);
			world_fini(&w);
		}
	}
}

/* Drop the first n SYN-ACKs (filter_state counts them down). */
static bool drop_synack(struct world *w, int dst, const uint8_t *f, uint32_t len)
{
	(void)len;
	if (dst == 0 && (f[34 + 13] & 0x12) == 0x12 && w->filter_state) {
		w->filter_state--;
		return true;
	}
	return false;
}
/* Drop the first n SYNs. */
static bool drop_syn(struct world *w, int dst, const uint8_t *f, uint32_t len)
{
	(void)len;
	if (dst == 1 && (f[34 + 13] & 0x12) == 0x02 && w->filter_state) {
		w->filter_state--;
		return true;
	}
	return false;
}

static void test_handshake_retransmit(void)
{
	struct world w;
	struct tcp_conn *a, *b;

	world_init(&w, NULL);
	w.filter = drop_synack;
	w.filter_state = 2;
	uint64_t t0 = w.now;
	if (handshake(&w, &a, &b)) {
		/* B resent its SYN-ACK on its own timer (1 s, then 2 s), and A
		 * answered A's retransmitted SYN with a re-sent SYN-ACK too. */
		CHECK(CTR(w.st[1], syn_retrans) >= 1);
		CHECK(w.now - t0 >= 1 * SEC);
		tcp_close(a, w.now);
		tcp_close(b, w.now);
		world_fini(&w);
	}

	world_init(&w, NULL);
	w.filter = drop_syn;
	w.filter_state = 2;
	t0 = w.now;
	if (handshake(&w, &a, &b)) {
		CHECK_EQ(CTR(w.st[0], syn_retrans), 2);
		/* Backoff: 1 s + 2 s before the third SYN. */
		CHECK(w.now - t0 >= 3 * SEC);
		tcp_close(a, w.now);
		tcp_close(b, w.now);
		world_fini(&w);
	}

	/* All SYNs lost: gives up with ETIMEDOUT after syn_retries (5). */
	world_init(&w, NULL);
	w.filter = drop_syn;
	w.filter_state = 1000;
	a = tcp_connect(w.st[0], IP_B, PORT, 0, w.now);
	for (int i = 0; i < 100 && tcp_conn_state(a) != TCP_CLOSED; i++) {
		pump(&w);
		tick(&w);
	}
	CHECK_EQ(tcp_conn_state(a), TCP_CLOSED);
	CHECK_EQ(tcp_conn_error(a), ETIMEDOUT);
	CHECK_EQ(CTR(w.st[0], syn_retrans), 5);
	CHECK_EQ(CTR(w.st[0], timeouts), 1);
	CHECK_EQ(tcp_send(a, "x", 1, w.now), -ETIMEDOUT);
	tcp_close(a, w.now);
	world_fini(&w);
}

/* ---------------------------------------------------------------------- */
/* Bulk transfer both ways */

struct xfer {
	struct tcp_conn *c;
	uint8_t *tx;
	uint8_t *rx;
	size_t len, tx_off, rx_off;
	bool shut, eof;
};

static void fill(uint8_t *p, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

static bool xfer_step(struct world *w, struct xfer *x)
{
	bool progress = false;
	if (x->tx_off < x->len) {
		size_t n = x->len - x->tx_off;
		if (n > 65536)
			n = 65536;
		int r = tcp_send(x->c, x->tx + x->tx_off, (uint32_t)n, w->now);
		if (r > 0) {
			x->tx_off += (size_t)r;
			progress = true;
		}
	} else if (!x->shut) {
		CHECK_EQ(tcp_shutdown_write(x->c, w->now), 0);
		x->shut = true;
		progress = true;
	}
	while (!x->eof) {
		/* Read in odd-sized pieces, at most one byte past what is due. */
		uint32_t cap = (uint32_t)(x->len + 1 - x->rx_off);
		if (cap > 7777)
			cap = 7777;
		int r = tcp_recv(x->c, x->rx + x->rx_off, cap, w->now);
		if (r > 0) {
			x->rx_off += (size_t)r;
			progress = true;
		} else if (r == 0) {
			x->eof = true;
			progress = true;
		} else {
			CHECK_EQ(r, -EAGAIN);
			break;
		}
	}
	return progress;
}

/* Both ways at once, len bytes each, through the impaired link; returns the
 * virtual time it took (ns) and leaves the world's counters in *ctr_a. */
static uint64_t transfer_with(const struct opts *o, filter_fn filter, unsigned loss_pm,
			      unsigned reorder_pm, unsigned dup_pm, size_t len, bool expect_rto,
			      bool expect_fast, uint64_t *ctr_a);

static void transfer(const char *cc, unsigned loss_pm, unsigned reorder_pm, unsigned dup_pm,
		     size_t len, bool expect_rto, bool expect_fast)
{
	struct opts o = {.cc = cc};
	transfer_with(&o, NULL, loss_pm, reorder_pm, dup_pm, len, expect_rto, expect_fast, NULL);
}

static uint64_t transfer_with(const struct opts *o, filter_fn filter, unsigned loss_pm,
			      unsigned reorder_pm, unsigned dup_pm, size_t len, bool expect_rto,
			      bool expect_fast, uint64_t *ctr_a)
{
	struct world w;
	const char *cc = o->cc ? o->cc : "newreno";
	world_init(&w, o);
	w.filter = filter;
	struct tcp_conn *a, *b;
	w.loss_pm = loss_pm;
	w.reorder_pm = reorder_pm;
	w.dup_pm = dup_pm;
	if (!handshake(&w, &a, &b))
		return 0;
	if (o->secret_set[0] && o->secret_set[1]) {
		/* Chosen secrets: both directions' sequence numbers wrap. */
		struct tcp_conn_info ia, ib;
		tcp_conn_info(a, &ia);
		tcp_conn_info(b, &ib);
		CHECK(ia.iss > 0u - (uint32_t)len && ib.iss > 0u - (uint32_t)len);
		CHECK_EQ(ia.irs, ib.iss);
	}
	struct xfer x[2] = {{.c = a, .len = len}, {.c = b, .len = len}};
	for (int i = 0; i < 2; i++) {
		x[i].tx = malloc(len);
		x[i].rx = malloc(len + 1);
		fill(x[i].tx, len, 77u + (uint32_t)i);
	}
	uint64_t steps = 0, t_start = w.now;
	while (!(x[0].eof && x[1].eof && x[0].shut && x[1].shut) && steps < 2000000) {
		bool p = xfer_step(&w, &x[0]);
		p |= xfer_step(&w, &x[1]);
		unsigned n = pump(&w);
		if (!p && !n)
			tick(&w);
		steps++;
	}
	CHECK(x[0].eof && x[1].eof);
	CHECK_EQ(x[0].rx_off, len);
	CHECK_EQ(x[1].rx_off, len);
	CHECK(memcmp(x[0].rx, x[1].tx, len) == 0);
	CHECK(memcmp(x[1].rx, x[0].tx, len) == 0);
	const uint64_t *ca = tcp_stack_counters(w.st[0]), *cb = tcp_stack_counters(w.st[1]);
	printf("transfer %-7s loss %3u reorder %3u dup %3u /1000: %zu B each way in %.3f s "
	       "virtual, %llu frames (%llu dropped), rto %llu, fast %llu, partial %llu, ooo %llu\n",
	       cc, loss_pm, reorder_pm, dup_pm, len, (double)(w.now - t_start) / SEC,
	       (unsigned long long)(w.delivered + w.dropped), (unsigned long long)w.dropped,
	       (unsigned long long)(ca[C(rto_expired)] + cb[C(rto_expired)]),
	       (unsigned long long)(ca[C(fast_retrans)] + cb[C(fast_retrans)]),
	       (unsigned long long)(ca[C(partial_retrans)] + cb[C(partial_retrans)]),
	       (unsigned long long)(ca[C(ooo_segs_in)] + cb[C(ooo_segs_in)]));
	if (expect_rto)
		CHECK(ca[C(rto_expired)] + cb[C(rto_expired)] > 0);
	if (expect_fast)
		CHECK(ca[C(fast_retrans)] + cb[C(fast_retrans)] > 0);
	if (!loss_pm && !reorder_pm && !dup_pm && !filter) {
		CHECK_EQ(ca[C(rto_expired)] + cb[C(rto_expired)], 0);
		CHECK_EQ(ca[C(fast_retrans)] + cb[C(fast_retrans)], 0);
		CHECK_EQ(ca[C(ooo_segs_in)] + cb[C(ooo_segs_in)], 0);
	}
	if (reorder_pm || loss_pm)
		CHECK(ca[C(ooo_segs_in)] + cb[C(ooo_segs_in)] > 0);
	if (dup_pm) /* a duplicate lies before RCV.NXT: unacceptable, ACKed */
		CHECK(ca[C(unacceptable)] + cb[C(unacceptable)] > 0);
	/* Every segment built was sent: none too big for the MTU (options,
	 * SACK blocks included, count against the MSS). */
	CHECK_EQ(ca[C(tx_no_route)], 0);
	CHECK_EQ(cb[C(tx_no_route)], 0);
	/* No ACK for data never sent: a retransmission carries only what was. */
	CHECK_EQ(ca[C(ack_future)] + cb[C(ack_future)], 0);
	if (ctr_a)
		memcpy(ctr_a, ca, sizeof(uint64_t) * TCP_C_MAX);
	uint64_t took = w.now - t_start;
	/* Both sides sent a FIN: one of them ends in TIME-WAIT (or both). */
	tcp_close(a, w.now);
	tcp_close(b, w.now);
	for (int i = 0; i < 2; i++) {
		free(x[i].tx);
		free(x[i].rx);
	}
	w.loss_pm = w.reorder_pm = w.dup_pm = 0;
	w.filter = NULL;
	world_fini(&w);
	return took;
}

/* Drop the 200th, 203rd and 206th data segment A sends: three holes in one
 * window, the first transmission of each. */
/* Payload bytes of a TCP frame (no IP options). */
static uint32_t payload_of(const uint8_t *f, uint32_t len)
{
	return len <= 14 + 20 + 20 ? 0 : len - 34 - (uint32_t)((f[34 + 12] >> 4) * 4);
}

static bool drop_three(struct world *w, int dst, const uint8_t *f, uint32_t len)
{
	if (dst != 1 || !payload_of(f, len))
		return false;
	unsigned k = ++w->filter_state;
	return k == 200 || k == 203 || k == 206;
}

static void test_sack_recovery(void)
{
	uint64_t ctr_sack[TCP_C_MAX], ctr_reno[TCP_C_MAX];
	struct opts o = {.cc = "newreno"};
	uint64_t t_sack = transfer_with(&o, drop_three, 0, 0, 0, 1u << 20, false, true, ctr_sack);
	o.no_sack[0] = o.no_sack[1] = true;
	uint64_t t_reno = transfer_with(&o, drop_three, 0, 0, 0, 1u << 20, false, true, ctr_reno);
	printf("three holes in one window: SACK %.3f ms (%llu SACK retransmissions), NewReno "
	       "%.3f ms (%llu partial-ACK retransmissions)\n",
	       (double)t_sack / MS, (unsigned long long)ctr_sack[C(sack_retrans)],
	       (double)t_reno / MS, (unsigned long long)ctr_reno[C(partial_retrans)]);
	/* SACK repairs all three in one recovery without a timeout. */
	CHECK_EQ(ctr_sack[C(rto_expired)], 0);
	CHECK_EQ(ctr_sack[C(fast_retrans)], 1);
	CHECK(ctr_sack[C(sack_retrans)] >= 2);
	CHECK_EQ(ctr_sack[C(partial_retrans)], 0);
	CHECK_EQ(ctr_sack[C(fast_retrans)] + ctr_sack[C(sack_retrans)], 3); /* nothing twice */
	/* NewReno needs a partial ACK (one RTT) per further hole. */
	CHECK_EQ(ctr_reno[C(sack_retrans)], 0);
	CHECK(ctr_reno[C(partial_retrans)] >= 2);
	CHECK(t_sack <= t_reno);
}

/* Drop the 200th data segment A sends and its first retransmission. */
static uint32_t drop_rxt_seq;
static bool drop_rxt_twice(struct world *w, int dst, const uint8_t *f, uint32_t len)
{
	if (dst != 1 || !payload_of(f, len))
		return false;
	uint32_t seq = (uint32_t)f[38] << 24 | (uint32_t)f[39] << 16 | (uint32_t)f[40] << 8 | f[41];
	unsigned k = ++w->filter_state;
	if (k == 200)
		drop_rxt_seq = seq;
	if (k >= 200 && seq == drop_rxt_seq && w->filter_state < 100000) {
		if (k > 200) /* the retransmission: drop no further copy */
			w->filter_state = 100000;
		return true;
	}
	return false;
}

static void test_sack_lost_rexmit(void)
{
	uint64_t ctr[TCP_C_MAX];
	struct opts o = {.cc = "newreno"};
	uint64_t t = transfer_with(&o, drop_rxt_twice, 0, 0, 0, 1u << 20, false, true, ctr);
	printf("a lost retransmission: %.3f ms (%llu resent as lost, %llu timeouts)\n", (double)t / MS,
	       (unsigned long long)ctr[C(lost_retrans)], (unsigned long long)ctr[C(rto_expired)]);
	/* SACKs of what was sent after the retransmission tell it lost: no timeout */
	CHECK_EQ(ctr[C(fast_retrans)], 1);
	CHECK_EQ(ctr[C(lost_retrans)], 1);
	CHECK_EQ(ctr[C(rto_expired)], 0);
}

/* Hold back A's 200th and 600th data segments to B until eight more have
 * come to B: reordering, no loss. */
static uint8_t late_frame[2048];
static uint32_t late_len;
static bool delay_two(struct world *w, int dst, const uint8_t *f, uint32_t len)
{
	if (dst != 1 || !payload_of(f, len))
		return false;
	unsigned k = ++w->filter_state;
	if ((k == 200 || k == 600) && len <= sizeof(late_frame)) {
		memcpy(late_frame, f, len);
		late_len = len;
		return true;
	}
	if ((k == 208 || k == 608) && late_len) {
		/* next, right after this one */
		struct frame *fr = malloc(sizeof(*fr) + late_len);
		fr->dst = 1;
		fr->due = w->now;
		fr->len = late_len;
		memcpy(fr->data, late_frame, late_len);
		fr->next = w->head;
		w->head = fr;
		if (!w->tail)
			w->tail = fr;
		late_len = 0;
	}
	return false;
}

/* The first late segment is taken for lost; the D-SACK of its resend undoes
 * the reduction (RFC 3708), and DupThresh rises above the reordering seen
 * (tcp_sack.h), so the second, as late, starts no recovery. Without SACK
 * each is a recovery. */
static void test_reordering(void)
{
	uint64_t ctr[TCP_C_MAX];
	struct opts o = {.cc = "cubic"};
	uint64_t t = transfer_with(&o, delay_two, 0, 0, 0, 1u << 20, false, true, ctr);
	printf("two segments eight late: %.3f ms (%llu recoveries, %llu undone, %llu late seen)\n",
	       (double)t / MS, (unsigned long long)ctr[C(fast_retrans)],
	       (unsigned long long)ctr[C(spurious_undone)], (unsigned long long)ctr[C(reorder_seen)]);
	CHECK_EQ(ctr[C(fast_retrans)], 1);
	CHECK_EQ(ctr[C(spurious_undone)], 1);
	CHECK(ctr[C(reorder_seen)] >= 1);
	CHECK_EQ(ctr[C(rto_expired)], 0);
	o.no_sack[0] = o.no_sack[1] = true;
	transfer_with(&o, delay_two, 0, 0, 0, 1u << 20, false, true, ctr);
	CHECK(ctr[C(fast_retrans)] >= 2);
	CHECK_EQ(ctr[C(spurious_undone)], 0);
	CHECK_EQ(ctr[C(reorder_seen)], 0);
}

/* Buffer auto-tuning: over a 20 ms round trip, 4 MiB each way, the buffers
 * grow and the transfer takes less (virtual) time than with the 256 KiB
 * defaults held (the ceiling at the default); with no delay nothing grows. */
static void test_buffer_tuning(void)
{
	uint64_t ca[TCP_C_MAX];
	const size_t len = 4u << 20;
	struct opts o = {.cc = "cubic", .delay_ns = 10 * MS};
	uint64_t t_tuned = transfer_with(&o, NULL, 0, 0, 0, len, false, false, ca);
	uint64_t grown_r = ca[C(rcvbuf_grown)], grown_s = ca[C(sndbuf_grown)];
	o.sndbuf_max = o.rcvbuf_max = 256u << 10;
	uint64_t t_fixed = transfer_with(&o, NULL, 0, 0, 0, len, false, false, ca);
	printf("4 MiB each way over 20 ms: auto-tuned %.3f s (%llu + %llu steps), 256 KiB "
	       "held %.3f s\n",
	       (double)t_tuned / SEC, (unsigned long long)grown_r, (unsigned long long)grown_s,
	       (double)t_fixed / SEC);
	CHECK(grown_r > 0 && grown_s > 0);
	CHECK_EQ(ca[C(rcvbuf_grown)] + ca[C(sndbuf_grown)], 0);
	CHECK(t_tuned > 0 && t_tuned < t_fixed);
	o.sndbuf_max = o.rcvbuf_max = 0;
	o.delay_ns = 0;
	transfer_with(&o, NULL, 0, 0, 0, len, false, false, ca);
	CHECK_EQ(ca[C(rcvbuf_grown)] + ca[C(sndbuf_grown)], 0);
}

/* A sends len bytes to B, which reads them all; returns the virtual time
 * it took (ns). */
static uint64_t one_way(struct world *w, struct tcp_conn *a, struct tcp_conn *b, size_t len)
{
	static uint8_t buf[65536];
	size_t sent = 0, got = 0;
	uint64_t t0 = w->now;
	fill(buf, sizeof(buf), 5);
	for (unsigned steps = 0; got < len && steps < 1000000; steps++) {
		bool p = false;
		if (sent < len) {
			size_t n = len - sent < sizeof(buf) ? len - sent : sizeof(buf);
			int r = tcp_send(a, buf, (uint32_t)n, w->now);
			if (r > 0) {
				sent += (size_t)r;
				p = true;
			}
		}
		for (int r; (r = tcp_recv(b, buf, sizeof(buf), w->now)) > 0;) {
			got += (size_t)r;
			p = true;
		}
		if (!pump(w) && !p)
			tick(w);
	}
	CHECK_EQ(got, len);
	for (int i = 0; i < 1000 && tcp_conn_unacked(a); i++)
		if (!pump(w))
			tick(w);
	return w->now - t0;
}

/* The smallest RTT holds 10 s: a path that lengthens is followed after
 * that, and the buffers grow to the longer path (with the old minimum its
 * product looked small). */
static void test_min_rtt_window(void)
{
	struct world w;
	struct opts o = {.cc = "cubic", .delay_ns = 1 * MS};
	world_init(&w, &o);
	struct tcp_conn *a, *b;
	if (!handshake(&w, &a, &b))
		return;
	struct tcp_conn_info ia, ib;
	one_way(&w, a, b, 64u << 10);
	tcp_conn_info(a, &ia);
	tcp_conn_info(b, &ib);
	CHECK(ia.min_rtt_us >= 2000 && ia.min_rtt_us < 3000);
	CHECK(ib.min_rtt_us >= 2000 && ib.min_rtt_us < 4000); /* timestamps: ms */
	const uint64_t *ca = tcp_stack_counters(w.st[0]), *cb = tcp_stack_counters(w.st[1]);
	/* The path lengthens to a 40 ms round trip: within the window the old
	 * minimum holds, and the buffers stay (rate times 2 ms is small). */
	w.delay_ns = 20 * MS;
	uint64_t t_old = one_way(&w, a, b, 1u << 20);
	tcp_conn_info(a, &ia);
	CHECK(ia.min_rtt_us < 3000);
	CHECK_EQ(ca[C(sndbuf_grown)] + cb[C(rcvbuf_grown)], 0);
	/* 10 s later the minimum is the longer path's, and the buffers grow. */
	w.now += 11 * SEC;
	tcp_stack_timer(w.st[0], w.now);
	tcp_stack_timer(w.st[1], w.now);
	one_way(&w, a, b, 64u << 10);
	tcp_conn_info(a, &ia);
	tcp_conn_info(b, &ib);
	CHECK(ia.min_rtt_us >= 40000 && ia.min_rtt_us < 41000);
	CHECK(ib.min_rtt_us >= 40000 && ib.min_rtt_us < 42000);
	uint64_t t_new = one_way(&w, a, b, 1u << 20);
	printf("min RTT window: 1 MiB over 40 ms with the 2 ms minimum %.3f s, with 40 ms "
	       "%.3f s (%llu + %llu steps)\n",
	       (double)t_old / SEC, (double)t_new / SEC,
	       (unsigned long long)ca[C(sndbuf_grown)], (unsigned long long)cb[C(rcvbuf_grown)]);
	CHECK(ca[C(sndbuf_grown)] > 0 && cb[C(rcvbuf_grown)] > 0);
	CHECK(t_new < t_old);
	tcp_close(a, w.now);
	tcp_close(b, w.now);
	world_fini(&w);
}

/*
 * Tail loss probes (RFC 8985 §7). A writes segs full segments at once and
 * nothing more; the filter drops A's k-th data segment (in the order sent,
 * first transmissions and retransmissions alike) when bit k - 1 of
 * tail_drop is set, and, with tail_drop_acks, every segment to A until B
 * is sent something a second time; with tail_blackout, every segment to A
 * for that long (ns) from the first time B is sent something again. Once
 * all is acknowledged, A writes 10 bytes more (so that an ACK goes beyond a
 * probe). With tail_coalesce, of B's ACKs on their way to A at once only the
 * last arrives, until B is sent something again (a receiver that
 * coalesces its SACKs). Leaves A's counters in ctr; returns the time
 * until B had the segs segments (ns), 0 if it never did.
 */
static unsigned tail_drop;
static bool tail_drop_acks, tail_seen;
static uint32_t tail_seen_end;
static uint64_t tail_blackout, tail_blackout_until; /* ns; see tail_case */

static bool tail_coalesce; /* see tail_case */
static bool drop_tail(struct world *w, int dst, const uint8_t *f, uint32_t len)
{
	if (dst == 0) {
		if (tail_coalesce) /* only the last of the ACKs on their way */
			for (const struct frame *g = w->head; g; g = g->next)
				if (g->dst == 0)
					return true;
		return tail_drop_acks || w->now < tail_blackout_until;
	}
	uint32_t pl = payload_of(f, len);
	if (!pl)
		return false;
	uint32_t seq = (uint32_t)f[38] << 24 | (uint32_t)f[39] << 16 | (uint32_t)f[40] << 8 | f[41];
	if (tail_seen && tcp_seq_lt(seq, tail_seen_end)) {
		tail_drop_acks = false; /* sent again: B's answer goes through */
		tail_coalesce = false;
		if (tail_blackout) { /* the first resend: nothing to A for a while */
			tail_blackout_until = w->now + tail_blackout;
			tail_blackout = 0;
		}
	}
	if (!tail_seen || tcp_seq_gt(seq + pl, tail_seen_end))
		tail_seen_end = seq + pl;
	tail_seen = true;
	unsigned k = ++w->filter_state;
	return k <= 32 && ((tail_drop >> (k - 1)) & 1u);
}

static uint64_t tail_case(const char *what, bool sack, unsigned segs, unsigned drop,
			  bool drop_acks, uint64_t *ctr)
{
	struct world w;
	struct opts o = {.cc = "newreno", .no_sack = {!sack, !sack}};
	world_init(&w, &o);
	struct tcp_conn *a, *b;
	if (!handshake(&w, &a, &b))
		return 0;
	struct tcp_conn_info ia;
	tcp_conn_info(a, &ia);
	uint32_t seg = ia.snd_mss - (ia.ts ? 12u : 0u), len = segs * seg;
	static uint8_t tx[16 * 1500], rx[16 * 1500];
	CHECK(len <= sizeof(tx));
	fill(tx, len, 9);
	tail_drop = drop;
	tail_drop_acks = drop_acks;
	tail_seen = false;
	tail_blackout_until = 0;
	w.filter = drop_tail;
	w.filter_state = 0;
	uint64_t t0 = w.now;
	CHECK_EQ(tcp_send(a, tx, len, w.now), (int)len);
	size_t got = 0;
	for (int i = 0; i < 2000 && got < len; i++) {
		int n = tcp_recv(b, rx + got, len - (uint32_t)got, w.now);
		if (n > 0)
			got += (size_t)n;
		if (got < len && !pump(&w))
			tick(&w);
	}
	uint64_t took = got == len ? w.now - t0 : 0;
	CHECK_EQ(got, len);
	CHECK(memcmp(rx, tx, len) == 0);
	for (int i = 0; i < 100 && tcp_conn_unacked(a); i++)
		if (!pump(&w))
			tick(&w);
	CHECK_EQ(tcp_send(a, tx, 10, w.now), 10);
	for (int i = 0; i < 100 && (tcp_conn_unacked(a) || tcp_conn_readable(b) < 10); i++)
		if (!pump(&w))
			tick(&w);
	CHECK_EQ(tcp_conn_unacked(a), 0);
	CHECK_EQ(tcp_recv(b, rx, 10, w.now), 10);
	memcpy(ctr, tcp_stack_counters(w.st[0]), sizeof(uint64_t) * TCP_C_MAX);
	printf("tail loss, %s: %u segments in %.3f ms; probes %llu, found lost %llu, repaired "
	       "%llu, fast retransmits %llu, timeouts %llu\n",
	       what, segs, (double)took / MS, (unsigned long long)ctr[C(tlp_probes)],
	       (unsigned long long)ctr[C(tlp_found_lost)], (unsigned long long)ctr[C(tlp_repaired)],
	       (unsigned long long)ctr[C(fast_retrans)], (unsigned long long)ctr[C(rto_expired)]);
	w.filter = NULL;
	tcp_close(a, w.now);
	tcp_close(b, w.now);
	world_fini(&w);
	return took;
}

/* A's counters after a SACK tail case: probes, losses they found, losses
 * they repaired, fast retransmits, and no timeout. */
static void tail_expect(const uint64_t *c, uint64_t probes, uint64_t found, uint64_t repaired,
			uint64_t fast)
{
	CHECK_EQ(c[C(tlp_probes)], probes);
	CHECK_EQ(c[C(tlp_found_lost)], found);
	CHECK_EQ(c[C(tlp_repaired)], repaired);
	CHECK_EQ(c[C(fast_retrans)], fast);
	CHECK_EQ(c[C(rto_expired)], 0);
}

static void test_tail_loss_probe(void)
{
	uint64_t c[TCP_C_MAX], t;
	/* The last two of four lost: the probe (the fourth again) is SACKed,
	 * the third is lost below it, recovery resends it. */
	t = tail_case("last two of four", true, 4, 0xc, false, c);
	CHECK(t > 0 && t < 50 * MS);
	tail_expect(c, 1, 1, 0, 1);
	/* Without SACK no probe: the retransmission timer (200 ms at least). */
	t = tail_case("last two of four, no SACK", false, 4, 0xc, false, c);
	CHECK(t >= 200 * MS);
	CHECK_EQ(c[C(tlp_probes)], 0);
	CHECK(c[C(rto_expired)] >= 1);
	/* The first of three lost: two SACKed, too few for recovery; the probe
	 * (the third again) comes back as a D-SACK, and the first is lost. */
	t = tail_case("first of three", true, 3, 0x1, false, c);
	CHECK(t > 0 && t < 50 * MS);
	tail_expect(c, 1, 1, 0, 1);
	/* The last lost alone: the probe repairs it, and the ACK for the next
	 * write, beyond it with no D-SACK, tells cwnd to shrink. */
	t = tail_case("last of four", true, 4, 0x8, false, c);
	CHECK(t > 0 && t < 50 * MS);
	tail_expect(c, 1, 0, 1, 0);
	/* In a recovery: the second of ten lost, and B's ACKs for 1.5 ms from
	 * its resend on (all of them). With nothing more to send, A waits; a
	 * probe (the tenth again) brings the ACK, no timeout. */
	tail_blackout = 3 * MS / 2;
	t = tail_case("the ACKs of a recovery", true, 10, 0x2, false, c);
	CHECK(tail_blackout == 0); /* it happened */
	CHECK(t > 0 && t < 50 * MS);
	tail_expect(c, 1, 0, 0, 1);
	/* Nothing lost but the ACKs: the probe arrives twice, B's D-SACK says
	 * so, and nothing is counted lost or repaired. */
	tail_case("ACKs lost", true, 4, 0, true, c);
	tail_expect(c, 1, 0, 0, 0);
	/* The fifth of ten lost, and of B's ACKs only the last: it moves
	 * SND.UNA to the fifth and SACKs the five above, no duplicate follows.
	 * Recovery starts from that ACK, with no probe to wait for. */
	tail_coalesce = true;
	t = tail_case("ACKs coalesced", true, 10, 0x10, false, c);
	CHECK(!tail_coalesce); /* the resend came */
	tail_coalesce = false;
	CHECK(t > 0 && t < 50 * MS);
	tail_expect(c, 0, 0, 0, 1);
}

static void test_transfer(void)
{
	test_sack_recovery();
	test_sack_lost_rexmit();
	test_reordering();
	test_buffer_tuning();
	test_min_rtt_window();
	test_tail_loss_probe();
	const size_t MiB = 1u << 20;
	transfer("newreno", 0, 0, 0, MiB, false, false);
	transfer("cubic", 0, 0, 0, MiB, false, false);
	transfer("newreno", 10, 0, 0, MiB, false, true);  /* 1% loss */
	transfer("newreno", 100, 0, 0, MiB, true, true);  /* 10% loss */
	transfer("cubic", 100, 0, 0, MiB, false, true); /* no timeout: probes */
	transfer("newreno", 0, 50, 0, MiB, false, false); /* 5% reordering */
	transfer("newreno", 0, 0, 20, MiB, false, false); /* 2% duplicates */
	transfer("cubic", 20, 30, 10, MiB, false, false);  /* all three */
}

/* The end of a run through an impaired link: no ACK was for data never
 * sent; the connections close (or, if the run stuck, are aborted) over a
 * clean link, and the world must come out empty. */
static void lossy_end(struct world *w, struct tcp_conn *a, struct tcp_conn *b, bool ok)
{
	CHECK_EQ(CTR(w->st[0], ack_future) + CTR(w->st[1], ack_future), 0);
	w->loss_pm = w->reorder_pm = w->dup_pm = 0;
	if (ok) {
		tcp_close(a, w->now);
		tcp_close(b, w->now);
	} else {
		tcp_abort(a, w->now);
		tcp_abort(b, w->now);
	}
	world_fini(w);
}

/*
 * A writes len bytes and reads them back; B echoes as an echo server does:
 * it reads only what it can write, so with the way back slow its window
 * shuts. Both ways lose loss_pm per mille. Returns true if every byte came
 * back; 120 s of virtual time without progress (two retransmission
 * timeouts at their 60 s cap) count as stuck.
 */
static bool echo_lossy(const struct opts *o, uint64_t seed, unsigned loss_pm, size_t len)
{
	struct world w;
	world_init(&w, o);
	struct tcp_conn *a, *b;
	if (!handshake(&w, &a, &b))
		return false;
	w.rng = seed;
	w.loss_pm = loss_pm;
	struct xfer x = {.c = a, .len = len};
	x.tx = malloc(len);
	x.rx = malloc(len + 1);
	fill(x.tx, len, 11u + (uint32_t)seed);
	static uint8_t buf[16384];
	uint32_t pend = 0, off = 0;
	bool b_eof = false, b_shut = false;
	uint64_t last = w.now;
	size_t last_rx = 0;
	while (!(x.eof && x.shut && b_shut) && w.now - last < 120 * SEC) {
		bool p = xfer_step(&w, &x);
		for (;;) {
			if (pend) {
				int r = tcp_send(b, buf + off, pend, w.now);
				if (r > 0) {
					off += (uint32_t)r;
					pend -= (uint32_t)r;
					p = true;
				}
				if (pend)
					break;
			}
			if (b_eof) {
				if (!b_shut) {
					CHECK_EQ(tcp_shutdown_write(b, w.now), 0);
					b_shut = p = true;
				}
				break;
			}
			int r = tcp_recv(b, buf, sizeof(buf), w.now);
			if (r <= 0) {
				b_eof = r == 0;
				p |= b_eof;
				if (r < 0)
					break;
				continue;
			}
			off = 0;
			pend = (uint32_t)r;
			p = true;
		}
		if (!pump(&w) && !p)
			tick(&w);
		if (x.rx_off != last_rx) {
			last_rx = x.rx_off;
			last = w.now;
		}
	}
	bool ok = x.eof && x.rx_off == len && memcmp(x.rx, x.tx, len) == 0;
	if (!ok)
		printf("echo seed %llu loss %u/1000: %zu of %zu bytes back, stuck at %.1f s\n",
		       (unsigned long long)seed, loss_pm, x.rx_off, len, (double)w.now / SEC);
	free(x.tx);
	free(x.rx);
	lossy_end(&w, a, b, ok);
	return ok;
}

/* Echo through a lossy link, as test_tcp_impair does through impair: both
 * windows shut by turns, retransmissions both ways. Runs here stuck (17 of
 * 56) while bare ACKs carried SND.NXT after a timeout and retransmissions
 * could carry new data; test_bare_ack_seq, test_zero_window_ack and the
 * ack_future checks test those mechanisms one by one. */
static void test_echo_lossy(void)
{
	struct opts sack = {.cc = "newreno"};
	struct opts plain = {.cc = "cubic", .no_sack = {true, true}, .no_ts = {true, true}};
	unsigned done = 0, runs = 0;
	for (uint64_t seed = 1; seed <= 10; seed++, runs++)
		done += echo_lossy(&sack, seed, 50, 2u << 20); /* 5% */
	for (uint64_t seed = 1; seed <= 40; seed++, runs++)
		done += echo_lossy(&plain, seed, 100, 2u << 20); /* 10% */
	for (uint64_t seed = 1005; seed <= 1010; seed++, runs++)
		done += echo_lossy(&plain, seed, 10, 1u << 20); /* 1% */
	printf("echo through loss: %u of %u runs complete\n", done, runs);
	CHECK_EQ(done, runs);
}

/*
 * Both ends at once, as applications might: writes and reads of random
 * sizes, each end now and then not reading for up to 3 s (its window
 * shuts), then a half-close each; random options, buffer size, congestion
 * control, loss, reordering and duplication. Every byte must arrive both
 * ways and both ends close; a silence of 200 s (virtual) counts as stuck.
 */
struct soak_end {
	struct tcp_conn *c;
	uint8_t *tx, *rx;
	size_t len, tx_off, rx_off;
	bool shut, eof;
	uint64_t pause_until;
};

static bool soak_step(struct world *w, struct soak_end *x, size_t peer_len, bool *busy)
{
	bool p = false;
	if (x->tx_off < x->len && rnd(w) % 4 == 0) {
		*busy = true; /* it will write, later */
	} else if (x->tx_off < x->len) {
		size_t n = x->len - x->tx_off, m = 1 + rnd(w) % 70000;
		int k = tcp_send(x->c, x->tx + x->tx_off, (uint32_t)(n < m ? n : m), w->now);
		if (k > 0) {
			x->tx_off += (size_t)k;
			p = true;
		}
	} else if (!x->shut) {
		CHECK_EQ(tcp_shutdown_write(x->c, w->now), 0);
		x->shut = p = true;
	}
	if (x->pause_until <= w->now && rnd(w) % 64 == 0)
		x->pause_until = w->now + (rnd(w) % 3000) * MS;
	while (x->pause_until <= w->now && !x->eof) {
		uint32_t cap = 1 + rnd(w) % 70000;
		if (cap > peer_len + 1 - x->rx_off)
			cap = (uint32_t)(peer_len + 1 - x->rx_off);
		int k = tcp_recv(x->c, x->rx + x->rx_off, cap, w->now);
		if (k < 0) {
			CHECK_EQ(k, -EAGAIN);
			break;
		}
		x->rx_off += (size_t)k;
		x->eof = k == 0;
		p = true;
		if (rnd(w) % 3 == 0) {
			*busy = true; /* reads the rest later */
			break;
		}
	}
	return p;
}

static bool soak_one(uint64_t seed)
{
	struct world w;
	struct opts o = {0};
	w.rng = seed; /* the options first, from the seed alone */
	o.cc = rnd(&w) % 2 ? "cubic" : "newreno";
	o.rcvbuf = rnd(&w) % 2 ? 0 : 4096 + rnd(&w) % 65536;
	for (int i = 0; i < 2; i++) {
		o.no_sack[i] = rnd(&w) % 4 == 0;
		o.no_ts[i] = rnd(&w) % 4 == 0;
		o.no_ws[i] = rnd(&w) % 4 == 0;
	}
	uint64_t r = w.rng;
	world_init(&w, &o);
	struct tcp_conn *a, *b;
	if (!handshake(&w, &a, &b))
		return false;
	w.rng = r;
	w.loss_pm = rnd(&w) % 80;
	w.reorder_pm = rnd(&w) % 3 ? 0 : rnd(&w) % 60;
	w.dup_pm = rnd(&w) % 3 ? 0 : rnd(&w) % 40;
	struct soak_end e[2] = {{.c = a}, {.c = b}};
	for (int i = 0; i < 2; i++) {
		e[i].len = rnd(&w) % (2u << 20);
		e[i].tx = malloc(e[i].len + 1);
		fill(e[i].tx, e[i].len, rnd(&w));
	}
	for (int i = 0; i < 2; i++)
		e[i].rx = malloc(e[!i].len + 1);
	uint64_t last = w.now;
	size_t seen = 0;
	while (!(e[0].eof && e[1].eof && e[0].shut && e[1].shut) && w.now - last < 200 * SEC) {
		bool busy = false;
		bool p = soak_step(&w, &e[0], e[1].len, &busy);
		p |= soak_step(&w, &e[1], e[0].len, &busy);
		if (!pump(&w) && !p && !busy) {
			/* Nothing to do: on to the next timer or end of a pause. */
			uint64_t t = tcp_stack_next_timer(w.st[0]), tb = tcp_stack_next_timer(w.st[1]);
			t = tb < t ? tb : t;
			for (int i = 0; i < 2; i++)
				if (e[i].pause_until > w.now && e[i].pause_until < t)
					t = e[i].pause_until;
			w.now = t == UINT64_MAX || t < w.now ? w.now + MS : t;
			tcp_stack_timer(w.st[0], w.now);
			tcp_stack_timer(w.st[1], w.now);
		}
		size_t now_seen = e[0].tx_off + e[1].tx_off + e[0].rx_off + e[1].rx_off + e[0].eof +
				  e[1].eof;
		if (now_seen != seen) {
			seen = now_seen;
			last = w.now;
		}
	}
	bool ok = e[0].eof && e[1].eof && e[0].rx_off == e[1].len && e[1].rx_off == e[0].len &&
		  !memcmp(e[0].rx, e[1].tx, e[1].len) && !memcmp(e[1].rx, e[0].tx, e[0].len);
	if (!ok)
		printf("soak seed %llu: %zu of %zu and %zu of %zu bytes, stuck at %.1f s\n",
		       (unsigned long long)seed, e[1].rx_off, e[0].len, e[0].rx_off, e[1].len,
		       (double)w.now / SEC);
	lossy_end(&w, a, b, ok);
	for (int i = 0; i < 2; i++) {
		free(e[i].tx);
		free(e[i].rx);
	}
	return ok;
}

static void test_soak(void)
{
	unsigned ok = 0, n = 150;
	for (uint64_t seed = 1; seed <= n; seed++)
		ok += soak_one(seed);
	printf("soak: %u of %u random two-way runs complete\n", ok, n);
	CHECK_EQ(ok, n);
}

/* ---------------------------------------------------------------------- */
/* Close sequences */

static void test_close_active_half(void)
{
	struct world w;
	struct tcp_conn *a, *b;
	if (!connected(&w, &a, &b))
		return;
	char buf[64];
	/* A closes its side: FIN-WAIT-1, then FIN-WAIT-2 once B ACKs; B is in
	 * CLOSE-WAIT and reads end of stream. */
	CHECK_EQ(tcp_shutdown_write(a, w.now), 0);
	CHECK_EQ(tcp_conn_state(a), TCP_FIN_WAIT_1);
	pump(&w);
	CHECK_EQ(tcp_conn_state(a), TCP_FIN_WAIT_2);
	CHECK_EQ(tcp_conn_state(b), TCP_CLOSE_WAIT);
	CHECK_EQ(tcp_recv(b, buf, sizeof(buf), w.now), 0);
	CHECK_EQ(tcp_send(a, "x", 1, w.now), -EPIPE);
	/* Half-close: B still sends, A still receives. */
	CHECK_EQ(tcp_send(b, "hello", 5, w.now), 5);
	pump(&w);
	CHECK_EQ(tcp_recv(a, buf, sizeof(buf), w.now), 5);
	CHECK(memcmp(buf, "hello", 5) == 0);
	CHECK_EQ(tcp_recv(a, buf, sizeof(buf), w.now), -EAGAIN);
	/* B closes: LAST-ACK, then CLOSED (freed); A in TIME-WAIT. */
	tcp_close(b, w.now);
	CHECK_EQ(tcp_conn_state(b), TCP_LAST_ACK);
	CHECK_EQ(tcp_stack_nr_conns(w.st[1]), 1);
	pump(&w);
	CHECK_EQ(tcp_stack_nr_conns(w.st[1]), 0);
	CHECK_EQ(tcp_conn_state(a), TCP_TIME_WAIT);
	CHECK_EQ(tcp_recv(a, buf, sizeof(buf), w.now), 0);
	tcp_close(a, w.now); /* the stack keeps TIME-WAIT */
	CHECK_EQ(tcp_stack_nr_conns(w.st[0]), 1);
	/* TIME-WAIT lasts 2 MSL = 2 s. next_timer is a lower bound: follow the
	 * deadlines it gives until the connection goes. */
	uint64_t tw_start = w.now, due;
	unsigned wakeups = 0;
	while ((due = tcp_stack_next_timer(w.st[0])) != UINT64_MAX && wakeups++ < 16) {
		CHECK(due > w.now || due <= tw_start);
		if (due > w.now)
			w.now = due;
		tcp_stack_timer(w.st[0], w.now);
		if (!tcp_stack_nr_conns(w.st[0]))
			break;
		CHECK(w.now < tw_start + 2 * SEC);
	}
	CHECK_EQ(tcp_stack_nr_conns(w.st[0]), 0);
	CHECK(w.now <= tw_start + 2 * SEC && w.now + 10 * MS >= tw_start + 2 * SEC);
	CHECK_EQ(CTR(w.st[0], tw_expired), 1);
	world_fini(&w);
}

static void test_close_passive(void)
{
	/* B (the passive opener) closes first after sending data. */
	struct world w;
	struct tcp_conn *a, *b;
	if (!connected(&w, &a, &b))
		return;
	char buf[64];
	CHECK_EQ(tcp_send(b, "bye", 3, w.now), 3);
	tcp_close(b, w.now);
	CHECK_EQ(tcp_conn_state(b), TCP_FIN_WAIT_1);
	pump(&w);
	CHECK_EQ(tcp_conn_state(a), TCP_CLOSE_WAIT);
	CHECK_EQ(tcp_recv(a, buf, sizeof(buf), w.now), 3);
	CHECK_EQ(tcp_recv(a, buf, sizeof(buf), w.now), 0);
	tcp_close(a, w.now);
	pump(&w);
	CHECK_EQ(tcp_stack_nr_conns(w.st[0]), 0);
	CHECK_EQ(tcp_stack_nr_conns(w.st[1]), 1); /* TIME-WAIT */
	world_fini(&w);
}

static void test_close_simultaneous(void)
{
	struct world w;
	struct tcp_conn *a, *b;
	if (!connected(&w, &a, &b))
		return;
	/* Both FINs cross: FIN-WAIT-1 -> CLOSING -> TIME-WAIT on both sides. */
	tcp_shutdown_write(a, w.now);
	tcp_shutdown_write(b, w.now);
	/* Deliver the two FINs before any ACK: both enter CLOSING. */
	struct frame *f1 = w.head;
	CHECK(f1 && f1->next && !f1->next->next);
	w.head = w.tail = NULL;
	struct frame *f2 = f1->next;
	w.now += 1000;
	tcp_stack_input(w.st[f1->dst], f1->data, f1->len, w.now);
	tcp_stack_input(w.st[f2->dst], f2->data, f2->len, w.now);
	free(f1);
	free(f2);
	CHECK_EQ(tcp_conn_state(a), TCP_CLOSING);
	CHECK_EQ(tcp_conn_state(b), TCP_CLOSING);
	pump(&w);
	CHECK_EQ(tcp_conn_state(a), TCP_TIME_WAIT);
	CHECK_EQ(tcp_conn_state(b), TCP_TIME_WAIT);
	tcp_close(a, w.now);
	tcp_close(b, w.now);
	uint64_t t0 = w.now;
	w.now = t0 + 2 * SEC;
	tcp_stack_timer(w.st[0], w.now);
	tcp_stack_timer(w.st[1], w.now);
	CHECK_EQ(CTR(w.st[0], tw_expired), 1);
	CHECK_EQ(CTR(w.st[1], tw_expired), 1);
	world_fini(&w);
}

static void test_close_with_unread_data(void)
{
	/* Closing with unread data resets (RFC 2525); the peer sees ECONNRESET. */
	struct world w;
	struct tcp_conn *a, *b;
	if (!connected(&w, &a, &b))
		return;
	CHECK_EQ(tcp_send(a, "unread", 6, w.now), 6);
	pump(&w);
	tcp_close(b, w.now);
	pump(&w);
	CHECK_EQ(tcp_conn_state(a), TCP_CLOSED);
	CHECK_EQ(tcp_conn_error(a), ECONNRESET);
	char buf[8];
	CHECK_EQ(tcp_recv(a, buf, sizeof(buf), w.now), -ECONNRESET);
	CHECK_EQ(CTR(w.st[1], rst_sent), 1);
	CHECK_EQ(CTR(w.st[0], rst_accepted), 1);
	tcp_close(a, w.now);
	world_fini(&w);
}

/* ---------------------------------------------------------------------- */
/* RST */

static void test_rst_closed_port(void)
{
	struct world w;
	world_init(&w, NULL);
	struct tcp_conn *a = tcp_connect(w.st[0], IP_B, 9999, 0, w.now);
	CHECK(a != NULL);
	pump(&w);
	CHECK_EQ(tcp_conn_state(a), TCP_CLOSED);
	CHECK_EQ(tcp_conn_error(a), ECONNREFUSED);
	CHECK_EQ(CTR(w.st[1], no_conn), 1);
	CHECK_EQ(CTR(w.st[1], rst_sent), 1);
	CHECK_EQ(CTR(w.st[0], rst_accepted), 1);
	CHECK_EQ(tcp_send(a, "x", 1, w.now), -ECONNREFUSED);
	tcp_close(a, w.now);
	CHECK_EQ(tcp_stack_nr_conns(w.st[0]), 0);
	world_fini(&w);
}

/* A copy of the captured B->A segment with new flags, sequence number and
 * (if it has one) timestamp value. */
static void inject_ts(struct world *w, uint8_t flags, uint32_t seq_delta, uint32_t ts_delta)
{
	uint8_t f[2048];
	memcpy(f, w->captured, w->captured_len);
	uint8_t *h = f + 34;
	uint32_t l4 = w->captured_len - 34;
	for (unsigned i = 20; i + 10 <= (unsigned)(h[12] >> 4) * 4;) {
		if (h[i] == 1) {
			i++;
			continue;
		}
		if (h[i] == 8 && h[i + 1] == 10) {
			uint32_t v = ((uint32_t)h[i + 2] << 24 | (uint32_t)h[i + 3] << 16 |
				      (uint32_t)h[i + 4] << 8 | h[i + 5]) + ts_delta;
			h[i + 2] = (uint8_t)(v >> 24), h[i + 3] = (uint8_t)(v >> 16);
			h[i + 4] = (uint8_t)(v >> 8), h[i + 5] = (uint8_t)v;
			break;
		}
		if (h[i] < 2 || h[i + 1] < 2)
			break;
		i += h[i + 1];
	}
	uint32_t seq = (uint32_t)h[4] << 24 | (uint32_t)h[5] << 16 | (uint32_t)h[6] << 8 | h[7];
	seq += seq_delta;
	h[4] = (uint8_t)(seq >> 24), h[5] = (uint8_t)(seq >> 16), h[6] = (uint8_t)(seq >> 8),
	h[7] = (uint8_t)seq;
	h[13] = flags;
	h[16] = h[17] = 0;
	uint16_t ck = tcp_cksum_ipv4(IP_B, IP_A, h, l4);
	h[16] = (uint8_t)(ck >> 8), h[17] = (uint8_t)ck;
	w->now += 1000;
	tcp_stack_input(w->st[0], f, w->captured_len, w->now);
}

static void inject(struct world *w, uint8_t flags, uint32_t seq_delta)
{
	inject_ts(w, flags, seq_delta, 0);
}

static void test_rst_rfc5961(void)
{
	struct world w;
	struct tcp_conn *a, *b;
	if (!connected(&w, &a, &b))
		return;
	/* Capture B's pure ACK of A's data: its seq is exactly A's RCV.NXT.
	 * One small segment: B delays its ACK until the delayed-ACK timer. */
	CHECK_EQ(tcp_send(a, "ping", 4, w.now), 4);
	w.capture = true;
	pump(&w);
	CHECK_EQ(w.captured_len, 0);
	CHECK(tcp_stack_next_timer(w.st[1]) <= w.now + 40 * MS);
	w.now += 40 * MS;
	tcp_stack_timer(w.st[1], w.now);
	CHECK_EQ(CTR(w.st[1], delayed_acks), 1);
	pump(&w);
	if (w.captured_len < 54)
		{ CHECK(w.captured_len >= 54); world_fini(&w); return; }
	CHECK_EQ(w.captured[34 + 13], 0x10);

	/* In window, not exact: challenge ACK, the connection lives. */
	uint64_t out0 = CTR(w.st[0], seg_out);
	inject(&w, 0x04, 100);
	CHECK_EQ(CTR(w.st[0], rst_challenged), 1);
	CHECK_EQ(CTR(w.st[0], challenge_acks), 1);
	CHECK_EQ(CTR(w.st[0], seg_out), out0 + 1);
	CHECK_EQ(tcp_conn_state(a), TCP_ESTABLISHED);
	pump(&w); /* B gets the challenge ACK: a duplicate, nothing happens */
	CHECK_EQ(tcp_conn_state(b), TCP_ESTABLISHED);

	/* Outside the window: silently dropped. */
	inject(&w, 0x04, 0x40000000u);
	CHECK_EQ(CTR(w.st[0], rst_out_of_window), 1);
	CHECK_EQ(tcp_conn_state(a), TCP_ESTABLISHED);

	/* A SYN in ESTABLISHED: challenge ACK (RFC 5961 §4). */
	inject(&w, 0x02, 0);
	CHECK_EQ(CTR(w.st[0], syn_challenged), 1);
	CHECK_EQ(CTR(w.st[0], challenge_acks), 2);
	CHECK_EQ(tcp_conn_state(a), TCP_ESTABLISHED);
	pump(&w);

	/* Exact: reset. */
	inject(&w, 0x04, 0);
	CHECK_EQ(tcp_conn_state(a), TCP_CLOSED);
	CHECK_EQ(tcp_conn_error(a), ECONNRESET);
	CHECK_EQ(CTR(w.st[0], rst_accepted), 1);
	tcp_close(a, w.now);
	tcp_abort(b, w.now); /* B's RST goes to a closed port: A answers nothing */
	pump(&w);
	CHECK_EQ(CTR(w.st[0], no_conn), 1);
	CHECK_EQ(CTR(w.st[0], rst_sent), 0);
	world_fini(&w);
}

/* Bare segments the sequence checks refuse: one at the window's right edge
 * is taken (a peer that filled the window sends its ACKs from there); one
 * beyond it is answered with an ACK, but at most every 500 ms, or two ends
 * refusing each other's ACKs would answer each other for ever. A refused
 * segment with a FIN (or data) is answered every time. */
static void test_refused_bare(void)
{
	struct world w;
	struct tcp_conn *a, *b;
	if (!connected(&w, &a, &b))
		return;
	CHECK_EQ(tcp_send(a, "ping", 4, w.now), 4); /* capture B's ACK, as above */
	w.capture = true;
	pump(&w);
	w.now += 40 * MS;
	tcp_stack_timer(w.st[1], w.now);
	pump(&w);
	if (w.captured_len < 54)
		{ CHECK(w.captured_len >= 54); world_fini(&w); return; }
	uint32_t wnd = 0; /* A holds nothing unread: its window is its buffer */
	CHECK_EQ(tcp_conn_getopt(a, TCP_O_RCVBUF, &wnd), 0);
	CHECK_EQ(tcp_conn_readable(a), 0);
	uint64_t out0 = CTR(w.st[0], seg_out), bad0 = CTR(w.st[0], unacceptable);
	inject(&w, 0x10, wnd); /* at the right edge */
	CHECK_EQ(CTR(w.st[0], unacceptable), bad0);
	CHECK_EQ(CTR(w.st[0], seg_out), out0);
	inject(&w, 0x10, wnd + 1); /* past it: refused, answered */
	CHECK_EQ(CTR(w.st[0], unacceptable), bad0 + 1);
	CHECK_EQ(CTR(w.st[0], seg_out), out0 + 1);
	for (int i = 0; i < 5; i++)
		inject(&w, 0x10, wnd + 1); /* again at once: not answered */
	CHECK_EQ(CTR(w.st[0], unacceptable), bad0 + 6);
	CHECK_EQ(CTR(w.st[0], oow_acks_held), 5);
	CHECK_EQ(CTR(w.st[0], seg_out), out0 + 1);
	inject(&w, 0x11, wnd + 1); /* a FIN: answered all the same */
	CHECK_EQ(CTR(w.st[0], seg_out), out0 + 2);
	w.now += 500 * MS;
	inject(&w, 0x10, wnd + 1); /* 500 ms on: answered again */
	CHECK_EQ(CTR(w.st[0], seg_out), out0 + 3);
	CHECK_EQ(CTR(w.st[0], oow_acks_held), 5);
	drop_frames(&w);
	CHECK_EQ(tcp_conn_state(a), TCP_ESTABLISHED);
	char buf[8];
	CHECK_EQ(tcp_recv(b, buf, sizeof(buf), w.now), 4);
	tcp_close(a, w.now);
	tcp_close(b, w.now);
	world_fini(&w);
}

/* ---------------------------------------------------------------------- */
/* Delayed ACK, Nagle, persist, keep-alive, FIN-WAIT-2, PAWS */

static void test_delayed_ack(void)
{
	struct world w;
	struct tcp_conn *a, *b;
	if (!connected(&w, &a, &b))
		return;
	static uint8_t data[2 * 1448];
	char buf[4096];
	/* One segment: B holds its ACK until the delayed-ACK timer. */
	uint64_t out = CTR(w.st[1], seg_out);
	CHECK_EQ(tcp_send(a, data, 100, w.now), 100);
	pump(&w);
	CHECK_EQ(CTR(w.st[1], seg_out), out);
	CHECK_EQ(tcp_conn_unacked(a), 100);
	uint64_t due = tcp_stack_next_timer(w.st[1]);
	CHECK(due > w.now && due <= w.now + 40 * MS);
	tick(&w);
	pump(&w);
	CHECK_EQ(CTR(w.st[1], seg_out), out + 1);
	CHECK_EQ(CTR(w.st[1], delayed_acks), 1);
	CHECK_EQ(tcp_conn_unacked(a), 0);
	/* Two full segments: the second is ACKed at once. */
	out = CTR(w.st[1], seg_out);
	CHECK_EQ(tcp_send(a, data, sizeof(data), w.now), (int)sizeof(data));
	pump(&w);
	CHECK_EQ(CTR(w.st[1], seg_out), out + 1);
	CHECK_EQ(CTR(w.st[1], delayed_acks), 1);
	CHECK_EQ(tcp_conn_unacked(a), 0);
	/* An answer written before the timer carries the ACK: no bare ACK. */
	CHECK_EQ(tcp_recv(b, buf, sizeof(buf), w.now), 100 + (int)sizeof(data));
	pump(&w);
	CHECK_EQ(tcp_send(a, data, 10, w.now), 10);
	pump(&w);
	out = CTR(w.st[1], seg_out);
	CHECK(tcp_recv(b, buf, sizeof(buf), w.now) > 0);
	CHECK_EQ(tcp_send(b, "pong", 4, w.now), 4);
	CHECK_EQ(CTR(w.st[1], seg_out), out + 1);
	pump(&w);
	CHECK_EQ(tcp_conn_unacked(a), 0);
	CHECK_EQ(CTR(w.st[1], delayed_acks), 1);
	CHECK(w.ev[0] & TCP_EV_IN);
	tcp_close(a, w.now);
	tcp_close(b, w.now);
	world_fini(&w);
}

static void test_nagle(void)
{
	struct world w;
	struct tcp_conn *a, *b;
	if (!connected(&w, &a, &b))
		return;
	char buf[64];
	/* Nagle: with "a" in flight, "b" and "c" wait for its ACK, then go
	 * together in one segment. */
	uint64_t out = CTR(w.st[0], seg_out);
	CHECK_EQ(tcp_send(a, "a", 1, w.now), 1);
	CHECK_EQ(tcp_send(a, "b", 1, w.now), 1);
	CHECK_EQ(tcp_send(a, "c", 1, w.now), 1);
	CHECK_EQ(CTR(w.st[0], seg_out), out + 1);
	CHECK(CTR(w.st[0], nagle_held) >= 2);
	pump(&w); /* B delays its ACK */
	tick(&w);
	pump(&w);
	CHECK_EQ(CTR(w.st[0], seg_out), out + 2);
	CHECK_EQ(tcp_recv(b, buf, sizeof(buf), w.now), 3);
	CHECK(memcmp(buf, "abc", 3) == 0);
	/* TCP_NODELAY: each write goes at once. */
	uint32_t v = 9;
	CHECK_EQ(tcp_conn_setopt(a, TCP_O_NODELAY, 1, w.now), 0);
	CHECK_EQ(tcp_conn_getopt(a, TCP_O_NODELAY, &v), 0);
	CHECK_EQ(v, 1);
	out = CTR(w.st[0], seg_out);
	CHECK_EQ(tcp_send(a, "d", 1, w.now), 1);
	CHECK_EQ(tcp_send(a, "e", 1, w.now), 1);
	CHECK_EQ(tcp_send(a, "f", 1, w.now), 1);
	CHECK_EQ(CTR(w.st[0], seg_out), out + 3);
	pump(&w);
	CHECK_EQ(tcp_recv(b, buf, sizeof(buf), w.now), 3);
	CHECK_EQ(tcp_conn_setopt(a, TCP_O_NODELAY, 2, w.now), -EINVAL);
	tcp_close(a, w.now);
	tcp_close(b, w.now);
	world_fini(&w);
}

/* B reads until len bytes came (or the world stops moving); the count. */
static size_t read_all(struct world *w, struct tcp_conn *b, uint8_t *rx, size_t len)
{
	size_t got = 0;
	for (int i = 0; i < 2000 && got < len; i++) {
		int n = tcp_recv(b, rx + got, (uint32_t)(len - got), w->now);
		if (n > 0)
			got += (size_t)n;
		if (!pump(w))
			tick(w);
	}
	return got;
}

/* A sends len bytes to B, which does not read (options o), and the world
 * ticks until A has sent min_probes persist probes (max_ticks at most).
 * False if the handshake failed. */
static bool probing(struct world *w, const struct opts *o, const uint8_t *tx, uint32_t len,
		    uint64_t min_probes, int max_ticks, struct tcp_conn **a, struct tcp_conn **b)
{
	world_init(w, o);
	if (!handshake(w, a, b))
		return false;
	CHECK_EQ(tcp_send(*a, tx, len, w->now), (int)len);
	for (int i = 0; i < max_ticks && CTR(w->st[0], persist_probes) < min_probes; i++) {
		pump(w);
		tick(w);
	}
	return true;
}

static void test_persist(void)
{
	struct world w;
	struct opts o = {.rcvbuf = 8192};
	struct tcp_conn *a, *b;
	enum { LEN = 64 << 10 };
	static uint8_t tx[LEN], rx[LEN];
	fill(tx, LEN, 5);
	/* B does not read: its window closes; A probes far beyond the
	 * retransmission limit because B answers every probe. */
	if (!probing(&w, &o, tx, LEN, 16, 400, &a, &b))
		return;
	CHECK(CTR(w.st[0], persist_probes) >= 16);
	CHECK_EQ(CTR(w.st[0], timeouts), 0);
	CHECK_EQ(tcp_conn_state(a), TCP_ESTABLISHED);
	/* Full but for what the window's 2^9 granularity cannot express
	 * (probes then slip in a byte at a time). */
	CHECK(tcp_conn_readable(b) > 8192 - 512 && tcp_conn_readable(b) <= 8192);
	/* B reads: the window opens and everything arrives intact. */
	CHECK_EQ(read_all(&w, b, rx, LEN), LEN);
	CHECK(memcmp(tx, rx, LEN) == 0);
	tcp_close(a, w.now);
	tcp_close(b, w.now);
	world_fini(&w);
}

/* The window opens again after probes the peer refused (it dropped the byte
 * each carried, beyond its window): the data resumes from that byte, not one
 * past it, so the peer sees no hole and nothing needs recovering. */
static void test_persist_resume(void)
{
	struct world w;
	/* Without window scaling the window is exact: B refuses every probe. */
	struct opts o = {.rcvbuf = 8192, .no_ws = {true, true}};
	struct tcp_conn *a, *b;
	enum { LEN = 64 << 10 };
	static uint8_t tx[LEN], rx[LEN];
	fill(tx, LEN, 9);
	if (!probing(&w, &o, tx, LEN, 3, 100, &a, &b))
		return;
	pump(&w);
	CHECK(CTR(w.st[0], persist_probes) >= 3);
	CHECK(CTR(w.st[1], zero_window_acks) >= 3); /* the probes: ACK taken, byte refused */
	uint64_t rto0 = CTR(w.st[0], rto_expired);
	CHECK_EQ(read_all(&w, b, rx, LEN), LEN);
	CHECK(memcmp(tx, rx, LEN) == 0);
	CHECK_EQ(CTR(w.st[1], ooo_segs_in), 0);    /* no hole at B */
	CHECK_EQ(CTR(w.st[0], dupacks_in), 0);
	CHECK_EQ(CTR(w.st[0], fast_retrans), 0);
	CHECK_EQ(CTR(w.st[0], rto_expired), rto0); /* nor a timeout */
	tcp_close(a, w.now);
	tcp_close(b, w.now);
	world_fini(&w);
}

/* The same client port again while the server still holds TIME-WAIT: the new
 * SYN (newer timestamp, higher sequence number) opens a new connection at once
 * instead of drawing an ACK and a SYN retransmission a second later. */
static void tw_reopen_case(bool ts)
{
	struct world w;
	struct opts o = {0};
	o.no_ts[0] = !ts;
	world_init(&w, &o);
	CHECK_EQ(tcp_listen(w.st[1], PORT, 16), 0);
	for (int round = 0; round < 2; round++) {
		struct tcp_conn *a = tcp_connect(w.st[0], IP_B, PORT, 40000, w.now);
		CHECK(a != NULL);
		pump(&w);
		struct tcp_conn *b = tcp_accept(w.st[1], PORT);
		CHECK(b != NULL);
		if (!a || !b)
			break;
		CHECK_EQ(tcp_conn_state(a), TCP_ESTABLISHED);
		tcp_close(b, w.now); /* the server closes first: TIME-WAIT on B */
		pump(&w);
		tcp_close(a, w.now);
		pump(&w);
		w.now += 5 * MS;
	}
	CHECK_EQ(CTR(w.st[1], tw_reopened), 1);
	CHECK_EQ(CTR(w.st[0], syn_retrans), 0);
	CHECK_EQ(CTR(w.st[1], established), 2);
	CHECK_EQ(tcp_unlisten(w.st[1], PORT, w.now), 0);
	world_fini(&w);
}

static void test_time_wait_reopen(void)
{
	tw_reopen_case(true);
	tw_reopen_case(false);
}

/* Aborting after a zero-window probe: the RST must be inside the peer's
 * window (SND.NXT is one past it), or the peer would ignore it. */
static void test_abort_after_probe(void)
{
	struct world w;
	/* Without window scaling the window is exact: B refuses every probe. */
	struct opts o = {.rcvbuf = 8192, .no_ws = {true, true}};
	struct tcp_conn *a, *b;
	static uint8_t tx[32 << 10];
	/* B's buffer fills to the byte; then A probes and B refuses. */
	if (!probing(&w, &o, tx, sizeof(tx), 2, 100, &a, &b))
		return;
	pump(&w);
	CHECK_EQ(tcp_conn_readable(b), 8192);
	CHECK(CTR(w.st[0], persist_probes) >= 2);
	CHECK(CTR(w.st[1], zero_window_acks) >= 2); /* the probes: ACK taken, byte refused */
	tcp_abort(a, w.now);
	pump(&w);
	CHECK_EQ(CTR(w.st[1], rst_accepted), 1);
	char buf[16];
	CHECK_EQ(tcp_recv(b, buf, sizeof(buf), w.now) , -ECONNRESET);
	tcp_close(b, w.now);
	world_fini(&w);
}

static bool drop_to_a(struct world *w, int dst, const uint8_t *f, uint32_t len)
{
	return dst == 0;
}

static bool drop_bare_to_b(struct world *w, int dst, const uint8_t *f, uint32_t len)
{
	return dst == 1 && is_tcp(f, len) && !payload_of(f, len);
}

/* Both ways shut: B does not read, its window is zero, and of what A sends
 * only its zero-window probes reach B, each a byte at B's RCV.NXT. B must
 * take their ACK (RFC 9293 §3.10.7.4: a zero window still accepts valid
 * ACKs) and learn that its own data arrived, though it refuses the byte. */
static void test_zero_window_ack(void)
{
	struct world w;
	struct opts o = {.rcvbuf = 8192, .no_ws = {true, true}};
	struct tcp_conn *a, *b;
	static uint8_t tx[32 << 10], rx[32 << 10];
	fill(tx, sizeof(tx), 3);
	if (!probing(&w, &o, tx, sizeof(tx), 1, 100, &a, &b))
		return;
	pump(&w);
	w.filter = drop_bare_to_b;
	CHECK_EQ(tcp_send(b, "reply", 5, w.now), 5);
	uint64_t z0 = CTR(w.st[1], zero_window_acks), p0 = CTR(w.st[0], persist_probes);
	for (int i = 0; i < 50 && tcp_conn_unacked(b); i++) {
		pump(&w);
		tick(&w);
	}
	pump(&w);
	CHECK_EQ(tcp_conn_unacked(b), 0);
	CHECK(CTR(w.st[0], persist_probes) > p0);
	CHECK(CTR(w.st[1], zero_window_acks) > z0);
	CHECK_EQ(tcp_conn_readable(b), 8192); /* the probes' bytes refused */
	w.filter = NULL;
	CHECK_EQ(read_all(&w, b, rx, sizeof(rx)), sizeof(rx));
	CHECK(memcmp(tx, rx, sizeof(rx)) == 0);
	char got[8];
	CHECK_EQ(tcp_recv(a, got, sizeof(got), w.now), 5);
	tcp_close(a, w.now);
	tcp_close(b, w.now);
	world_fini(&w);
}

/* After a timeout A resends from SND.UNA (go-back-N) while B holds all A
 * sent. A bare ACK from A must then carry SND.MAX: SND.NXT lies below B's
 * RCV.NXT, and B would drop the segment, its ACK with it, as an old
 * duplicate. */
static void test_bare_ack_seq(void)
{
	struct world w;
	struct opts o = {.no_ts = {true, true}};
	world_init(&w, &o);
	struct tcp_conn *a, *b;
	if (!handshake(&w, &a, &b))
		return;
	/* B's data, held back; nothing else reaches A until A times out. */
	w.capture = true;
	CHECK_EQ(tcp_send(b, "late", 4, w.now), 4);
	pump(&w);
	CHECK(w.captured_len > 0);
	w.filter = drop_to_a;
	static uint8_t tx[8 * 1460]; /* whole segments: Nagle holds none back */
	CHECK_EQ(tcp_send(a, tx, sizeof(tx), w.now), (int)sizeof(tx));
	pump(&w);
	for (int i = 0; i < 20 && !CTR(w.st[0], rto_expired); i++) {
		tick(&w);
		pump(&w);
	}
	CHECK(CTR(w.st[0], rto_expired) > 0);
	CHECK_EQ(tcp_conn_readable(b), sizeof(tx));
	/* B's data arrives, its ACK the old one; A answers with a bare ACK. */
	w.filter = NULL;
	uint64_t bad0 = CTR(w.st[1], unacceptable), acks0 = CTR(w.st[0], delayed_acks);
	enqueue(&w, 0, w.captured, w.captured_len);
	pump(&w);
	if (tcp_conn_unacked(b)) { /* the ACK may wait for the delayed-ACK timer */
		tick(&w);
		CHECK(CTR(w.st[0], delayed_acks) > acks0);
		pump(&w);
	}
	CHECK_EQ(tcp_conn_unacked(b), 0);
	CHECK_EQ(CTR(w.st[1], unacceptable), bad0);
	tcp_close(a, w.now);
	tcp_close(b, w.now);
	world_fini(&w);
}

static void test_keepalive(void)
{
	struct world w;
	struct tcp_conn *a, *b;
	if (!connected(&w, &a, &b))
		return;
	CHECK_EQ(tcp_conn_setopt(a, TCP_O_KEEPIDLE, 10, w.now), 0);
	CHECK_EQ(tcp_conn_setopt(a, TCP_O_KEEPINTVL, 2, w.now), 0);
	CHECK_EQ(tcp_conn_setopt(a, TCP_O_KEEPCNT, 3, w.now), 0);
	CHECK_EQ(tcp_conn_setopt(a, TCP_O_KEEPCNT, 0, w.now), -EINVAL);
	CHECK_EQ(tcp_conn_setopt(a, TCP_O_KEEPALIVE, 1, w.now), 0);
	uint64_t t0 = w.now;
	/* B answers every probe: the connection stays up. */
	while (CTR(w.st[0], keepalive_probes) < 3 && w.now < t0 + 100 * SEC) {
		tick(&w);
		pump(&w);
	}
	CHECK_EQ(CTR(w.st[0], keepalive_probes), 3);
	CHECK(w.now >= t0 + 30 * SEC); /* one probe per idle period */
	CHECK_EQ(tcp_conn_state(a), TCP_ESTABLISHED);
	/* B goes silent: three unanswered probes, then the reset. */
	w.filter = drop_to_a;
	w.ev[0] = 0;
	t0 = w.now;
	while (tcp_conn_state(a) != TCP_CLOSED && w.now < t0 + 100 * SEC) {
		tick(&w);
		pump(&w);
	}
	CHECK_EQ(tcp_conn_state(a), TCP_CLOSED);
	CHECK_EQ(tcp_conn_error(a), ETIMEDOUT);
	CHECK_EQ(CTR(w.st[0], keepalive_drops), 1);
	CHECK_EQ(CTR(w.st[0], keepalive_probes), 6);
	CHECK(w.now <= t0 + 10 * SEC + 4 * 2 * SEC);
	CHECK((w.ev[0] & (TCP_EV_ERR | TCP_EV_HUP)) == (TCP_EV_ERR | TCP_EV_HUP));
	w.filter = NULL;
	tcp_close(a, w.now);
	tcp_abort(b, w.now);
	world_fini(&w);
}

static void test_fin_wait2_limit(void)
{
	struct world w;
	struct opts o = {.fin_wait2_s = 5};
	world_init(&w, &o);
	struct tcp_conn *a, *b;
	if (!handshake(&w, &a, &b))
		return;
	/* A closes; B never does. A waits 5 s in FIN-WAIT-2, then goes. */
	uint64_t t0 = w.now;
	tcp_close(a, w.now);
	pump(&w);
	CHECK_EQ(tcp_conn_state(b), TCP_CLOSE_WAIT);
	CHECK_EQ(tcp_stack_nr_conns(w.st[0]), 1);
	while (tcp_stack_nr_conns(w.st[0]) && w.now < t0 + 20 * SEC)
		tick(&w);
	CHECK_EQ(tcp_stack_nr_conns(w.st[0]), 0);
	CHECK_EQ(CTR(w.st[0], fin_wait2_timeouts), 1);
	CHECK(w.now >= t0 + 5 * SEC && w.now < t0 + 6 * SEC);
	/* B's late FIN finds nothing: RST. */
	tcp_close(b, w.now);
	pump(&w);
	CHECK_EQ(CTR(w.st[0], no_conn), 1);
	world_fini(&w);
}

static void test_paws(void)
{
	struct world w;
	struct tcp_conn *a, *b;
	if (!connected(&w, &a, &b))
		return;
	CHECK_EQ(tcp_send(b, "data", 4, w.now), 4);
	w.capture = true;
	pump(&w);
	if (w.captured_len < 58)
		{ CHECK(w.captured_len >= 58); world_fini(&w); return; }
	char buf[16];
	CHECK_EQ(tcp_recv(a, buf, sizeof(buf), w.now), -EAGAIN); /* captured, not delivered */
	/* The same segment with an older timestamp: an old duplicate. */
	inject_ts(&w, 0x18, 0, (uint32_t)-1000);
	CHECK_EQ(CTR(w.st[0], paws_rejected), 1);
	CHECK_EQ(tcp_recv(a, buf, sizeof(buf), w.now), -EAGAIN);
	/* With its own timestamp it is accepted. */
	inject_ts(&w, 0x18, 0, 0);
	CHECK_EQ(tcp_recv(a, buf, sizeof(buf), w.now), 4);
	pump(&w);
	tcp_close(a, w.now);
	tcp_close(b, w.now);
	world_fini(&w);
}

static void test_simultaneous_open(void)
{
	struct world w;
	world_init(&w, NULL);
	/* Both connect to each other at once from fixed ports: the SYNs cross. */
	struct tcp_conn *a = tcp_connect(w.st[0], IP_B, 7000, 6000, w.now);
	struct tcp_conn *b = tcp_connect(w.st[1], IP_A, 6000, 7000, w.now);
	CHECK(a && b);
	if (!a || !b)
		{ world_fini(&w); return; }
	CHECK(tcp_connect(w.st[0], IP_B, 7000, 6000, w.now) == NULL && errno == EADDRINUSE);
	for (int i = 0; i < 50 && (tcp_conn_state(a) != TCP_ESTABLISHED ||
				   tcp_conn_state(b) != TCP_ESTABLISHED); i++)
		if (!pump(&w))
			tick(&w);
	CHECK_EQ(tcp_conn_state(a), TCP_ESTABLISHED);
	CHECK_EQ(tcp_conn_state(b), TCP_ESTABLISHED);
	CHECK_EQ(CTR(w.st[0], simultaneous_opens), 1);
	CHECK_EQ(CTR(w.st[1], simultaneous_opens), 1);
	CHECK(w.ev[0] & TCP_EV_CONN);
	CHECK(w.ev[1] & TCP_EV_CONN);
	struct tcp_conn_info ia, ib;
	tcp_conn_info(a, &ia);
	tcp_conn_info(b, &ib);
	CHECK(ia.ts && ia.sack && ia.ws && ib.ts && ib.sack && ib.ws);
	char buf[16];
	CHECK_EQ(tcp_send(a, "ab", 2, w.now), 2);
	CHECK_EQ(tcp_send(b, "ba", 2, w.now), 2);
	pump(&w);
	CHECK_EQ(tcp_recv(a, buf, sizeof(buf), w.now), 2);
	CHECK(memcmp(buf, "ba", 2) == 0);
	CHECK_EQ(tcp_recv(b, buf, sizeof(buf), w.now), 2);
	CHECK(memcmp(buf, "ab", 2) == 0);
	tcp_close(a, w.now);
	tcp_close(b, w.now);
	world_fini(&w);
}

/* Three connections to a listener with a backlog of 1: the first is a
 * normal handshake, the other two are answered with SYN cookies and rebuilt
 * from their ACKs; all three carry data. */
static void syncookies_case(bool ts)
{
	struct world w;
	struct opts o = {0};
	o.no_ts[0] = !ts;
	world_init(&w, &o);
	CHECK_EQ(tcp_listen(w.st[1], PORT, 1), 0);
	struct tcp_conn *a[3], *b[3];
	for (int i = 0; i < 3; i++)
		a[i] = tcp_connect(w.st[0], IP_B, PORT, 0, w.now);
	pump(&w);
	CHECK_EQ(CTR(w.st[1], syncookies_sent), 2);
	CHECK_EQ(CTR(w.st[1], syncookies_ok), 2);
	CHECK(w.lst_ev[1] & TCP_EV_IN);
	CHECK_EQ(tcp_listen_pending(w.st[1], PORT), 3);
	for (int i = 0; i < 3; i++) {
		b[i] = tcp_accept(w.st[1], PORT);
		CHECK(a[i] && b[i]);
		if (!a[i] || !b[i])
			{ world_fini(&w); return; }
		CHECK_EQ(tcp_conn_state(a[i]), TCP_ESTABLISHED);
		struct tcp_conn_info ia, ib;
		tcp_conn_info(a[i], &ia);
		tcp_conn_info(b[i], &ib);
		/* Both ends agree; cookies without timestamps lose WS and SACK. */
		CHECK_EQ(ia.ts, ts);
		CHECK_EQ(ib.ts, ts);
		CHECK_EQ(ia.ws, ib.ws);
		CHECK_EQ(ia.sack, ib.sack);
		CHECK_EQ(ia.snd_wscale, ib.rcv_wscale);
		CHECK_EQ(ia.rcv_wscale, ib.snd_wscale);
		if (i > 0 && !ts)
			CHECK(!ib.ws && !ib.sack);
		if (ts)
			CHECK(ib.ws && ib.sack);
		CHECK(ib.snd_mss >= 1300);
	}
	static uint8_t tx[100000], rx[100000];
	fill(tx, sizeof(tx), 9);
	for (int i = 0; i < 3; i++) {
		size_t sent = 0, got = 0;
		for (int k = 0; k < 5000 && got < sizeof(tx); k++) {
			if (sent < sizeof(tx)) {
				int n = tcp_send(a[i], tx + sent, (uint32_t)(sizeof(tx) - sent), w.now);
				if (n > 0)
					sent += (size_t)n;
			}
			int n = tcp_recv(b[i], rx + got, (uint32_t)(sizeof(rx) - got), w.now);
			if (n > 0)
				got += (size_t)n;
			if (!pump(&w))
				tick(&w);
		}
		CHECK_EQ(got, sizeof(tx));
		CHECK(memcmp(tx, rx, sizeof(tx)) == 0);
		tcp_close(a[i], w.now);
		tcp_close(b[i], w.now);
	}
	world_fini(&w);
}

static void test_syncookies(void)
{
	syncookies_case(true);
	syncookies_case(false);
	/* Cookies off: the extra SYNs are dropped and counted. */
	struct world w;
	struct opts o = {.no_syncookies = true};
	world_init(&w, &o);
	CHECK_EQ(tcp_listen(w.st[1], PORT, 1), 0);
	struct tcp_conn *a1 = tcp_connect(w.st[0], IP_B, PORT, 0, w.now);
	struct tcp_conn *a2 = tcp_connect(w.st[0], IP_B, PORT, 0, w.now);
	pump(&w);
	CHECK_EQ(CTR(w.st[1], syncookies_sent), 0);
	CHECK_EQ(CTR(w.st[1], listen_full), 1);
	CHECK_EQ(tcp_conn_state(a2), TCP_SYN_SENT);
	tcp_abort(a1, w.now);
	tcp_abort(a2, w.now);
	CHECK_EQ(tcp_unlisten(w.st[1], PORT, w.now), 0);
	world_fini(&w);
}

/* Sequence numbers that wrap: pick secrets whose ISNs lie half a MiB below
 * 2^32, then move 1 MiB each way. */
static bool isn_near_wrap(struct tcp_secret *sec, const struct tcp_tuple *t, uint64_t now_us,
			  uint8_t tag)
{
	for (uint32_t k = 0; k < 10000000; k++) {
		memset(sec, 0, sizeof(*sec));
		sec->k[0] = tag;
		memcpy(&sec->k[4], &k, sizeof(k));
		uint32_t isn = tcp_isn(sec, t, now_us);
		if (isn >= 0u - (600u << 10) && isn <= 0u - (400u << 10))
			return true;
	}
	return false;
}

static void test_seq_wrap(void)
{
	struct opts o = {.cc = "cubic"};
	/* The world's clock at the SYN: 1 s plus the ARP exchange. */
	uint64_t now_us = (1 * SEC + 2 * 10000) / 1000;
	struct tcp_tuple ta = {.laddr = IP_A, .raddr = IP_B, .lport = 49152, .rport = PORT};
	struct tcp_tuple tb = {.laddr = IP_B, .raddr = IP_A, .lport = PORT, .rport = 49152};
	CHECK(isn_near_wrap(&o.secret[0], &ta, now_us, 1));
	CHECK(isn_near_wrap(&o.secret[1], &tb, now_us + 10, 2));
	o.secret_set[0] = o.secret_set[1] = true;
	uint64_t ctr[TCP_C_MAX];
	transfer_with(&o, NULL, 20, 20, 0, 1u << 20, false, false, ctr);
}

static void test_conn_options(void)
{
	struct world w;
	struct tcp_conn *a, *b;
	if (!connected(&w, &a, &b))
		return;
	uint32_t v;
	static uint8_t big[10000];
	/* SO_SNDBUF: the send buffer takes no more than it allows. */
	CHECK_EQ(tcp_conn_setopt(a, TCP_O_SNDBUF, 4096, w.now), 0);
	CHECK_EQ(tcp_conn_getopt(a, TCP_O_SNDBUF, &v), 0);
	CHECK_EQ(v, 4096);
	CHECK_EQ(tcp_conn_writable(a), 4096);
	CHECK_EQ(tcp_send(a, big, sizeof(big), w.now), 4096);
	CHECK_EQ(tcp_conn_setopt(a, TCP_O_SNDBUF, 10, w.now), -EINVAL);
	/* SO_RCVBUF: growing takes effect; shrinking never takes back the
	 * window already advertised. */
	CHECK_EQ(tcp_conn_setopt(b, TCP_O_RCVBUF, 300000, w.now), 0);
	CHECK_EQ(tcp_conn_getopt(b, TCP_O_RCVBUF, &v), 0);
	CHECK_EQ(v, 300000);
	/* ... up to what the window scale agreed in the handshake can express. */
	CHECK_EQ(tcp_conn_setopt(b, TCP_O_RCVBUF, 1u << 26, w.now), 0);
	CHECK_EQ(tcp_conn_getopt(b, TCP_O_RCVBUF, &v), 0);
	CHECK_EQ(v, 65535u << 9); /* the shift offered covers 16 MiB */
	CHECK_EQ(tcp_conn_setopt(b, TCP_O_RCVBUF, 4096, w.now), 0);
	CHECK_EQ(tcp_conn_getopt(b, TCP_O_RCVBUF, &v), 0);
	CHECK(v >= 4096);
	pump(&w);
	char buf[8192];
	CHECK_EQ(tcp_recv(b, buf, sizeof(buf), w.now), 4096);
	CHECK_EQ(tcp_conn_setopt(a, (enum tcp_conn_opt)99, 1, w.now), -EINVAL);
	/* LINGER0: close resets. */
	CHECK_EQ(tcp_conn_setopt(a, TCP_O_LINGER0, 1, w.now), 0);
	uint64_t rst = CTR(w.st[0], rst_sent);
	tcp_close(a, w.now);
	CHECK_EQ(CTR(w.st[0], rst_sent), rst + 1);
	pump(&w);
	CHECK_EQ(tcp_recv(b, buf, sizeof(buf), w.now), -ECONNRESET);
	CHECK(tcp_conn_poll(b) & TCP_EV_ERR);
	struct tcp_tuple t;
	tcp_conn_tuple(b, &t);
	CHECK_EQ(t.lport, PORT);
	CHECK_EQ(t.raddr, IP_A);
	tcp_close(b, w.now);
	world_fini(&w);
}

/* At the memory cap nothing is writable; OUT is raised when chunks return. */
static void test_memory_cap(void)
{
	struct world w;
	struct opts o = {0};
	o.pool_max_chunks[0] = 8;
	world_init(&w, &o);
	struct tcp_conn *a, *b;
	if (!handshake(&w, &a, &b))
		return;
	static uint8_t data[100000];
	int n = tcp_send(a, data, sizeof(data), w.now);
	CHECK(n > 0 && n <= 8 * 2048);
	CHECK_EQ(tcp_send(a, data, sizeof(data), w.now), 0);
	CHECK_EQ(tcp_conn_writable(a), 0);
	CHECK_EQ(tcp_conn_poll(a) & TCP_EV_OUT, 0);
	w.ev[0] = 0;
	pump(&w);
	CHECK(w.ev[0] & TCP_EV_OUT);
	CHECK(tcp_conn_writable(a) > 0);
	char buf[4096];
	while (tcp_recv(b, buf, sizeof(buf), w.now) > 0)
		;
	tcp_close(a, w.now);
	tcp_close(b, w.now);
	world_fini(&w);
}

/* Chunks that come back with no segment or read to tell (a connection
 * aborted, its unread data freed) still reach a sender waiting on the cap:
 * it is told again after a while. */
static void test_memory_cap_freed_quietly(void)
{
	struct world w;
	struct opts o = {0};
	o.pool_max_chunks[0] = 8;
	world_init(&w, &o);
	struct tcp_conn *a1, *b1, *a2, *b2;
	if (!handshake(&w, &a1, &b1))
		return;
	a2 = tcp_connect(w.st[0], IP_B, PORT, 0, w.now);
	CHECK(a2 != NULL);
	pump(&w);
	b2 = tcp_accept(w.st[1], PORT);
	CHECK(b2 != NULL);
	if (!a2 || !b2)
		return;
	/* B sends to a2, which does not read: its receive buffer takes the cap. */
	static uint8_t data[100000];
	CHECK(tcp_send(b2, data, sizeof(data), w.now) > 0);
	pump(&w);
	CHECK_EQ(tcp_stack_chunks_live(w.st[0]), 8);
	CHECK_EQ(tcp_send(a1, data, 1000, w.now), 0);
	w.ev[0] = 0;
	tcp_abort(a2, w.now); /* its chunks go back; nothing arrives for a1 */
	CHECK(tcp_stack_chunks_live(w.st[0]) < 8);
	pump(&w);
	for (int i = 0; i < 5 && !(w.ev[0] & TCP_EV_OUT); i++)
		tick(&w);
	CHECK(w.ev[0] & TCP_EV_OUT);
	CHECK_EQ(tcp_send(a1, data, 1000, w.now), 1000);
	pump(&w);
	char buf[4096];
	CHECK_EQ(tcp_recv(b1, buf, sizeof(buf), w.now), 1000);
	tcp_close(a1, w.now);
	tcp_close(b1, w.now);
	tcp_close(b2, w.now);
	world_fini(&w);
}

/* A connection reset while it waits in the accept queue is not offered. */
static void test_accept_queue_reset(void)
{
	struct world w;
	world_init(&w, NULL);
	CHECK_EQ(tcp_listen(w.st[1], PORT, 4), 0);
	struct tcp_conn *a1 = tcp_connect(w.st[0], IP_B, PORT, 0, w.now);
	struct tcp_conn *a2 = tcp_connect(w.st[0], IP_B, PORT, 0, w.now);
	pump(&w);
	CHECK_EQ(tcp_listen_pending(w.st[1], PORT), 2);
	tcp_abort(a1, w.now);
	pump(&w);
	CHECK_EQ(tcp_listen_pending(w.st[1], PORT), 1);
	struct tcp_conn *b2 = tcp_accept(w.st[1], PORT);
	CHECK(b2 != NULL);
	CHECK_EQ(tcp_listen_pending(w.st[1], PORT), 0);
	CHECK(tcp_accept(w.st[1], PORT) == NULL && errno == EAGAIN);
	if (b2)
		tcp_close(b2, w.now);
	tcp_close(a2, w.now);
	world_fini(&w);
}

/* A full table makes room by freeing its oldest TIME-WAIT connection. */
static void test_time_wait_recycling(void)
{
	struct world w;
	world_init(&w, NULL); /* 64 connections per stack */
	CHECK_EQ(tcp_listen(w.st[1], PORT, 16), 0);
	unsigned ok = 0;
	for (int i = 0; i < 80; i++) {
		struct tcp_conn *a = tcp_connect(w.st[0], IP_B, PORT, 0, w.now);
		if (!a)
			break;
		pump(&w);
		struct tcp_conn *b = tcp_accept(w.st[1], PORT);
		if (!b || tcp_conn_state(a) != TCP_ESTABLISHED) {
			tcp_abort(a, w.now);
			if (b)
				tcp_abort(b, w.now);
			break;
		}
		tcp_close(a, w.now); /* A closes first: A keeps TIME-WAIT */
		pump(&w);
		tcp_close(b, w.now);
		pump(&w);
		ok++;
	}
	CHECK_EQ(ok, 80);
	CHECK_EQ(tcp_stack_nr_conns(w.st[0]), 64);
	CHECK_EQ(CTR(w.st[0], tw_recycled), 80 - 64);
	CHECK_EQ(tcp_unlisten(w.st[1], PORT, w.now), 0);
	world_fini(&w);
}

/* A request and its answer, as a server with "Connection: close" sees them:
 * reading the request sends nothing (the window left is wide open), the
 * answer queued with more and the close go out as one segment, data and FIN,
 * which carries the ACK of the request. A window that was at least half used
 * is still announced at the read. */
static void test_answer_frames(void)
{
	struct world w;
	struct opts o = {.rcvbuf = 8192};
	world_init(&w, &o);
	struct tcp_conn *a, *b;
	if (!handshake(&w, &a, &b))
		return;
	static uint8_t data[6000];
	char buf[8192];
	static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	CHECK_EQ(tcp_send(a, req, sizeof(req) - 1, w.now), (int)sizeof(req) - 1);
	pump(&w);
	uint64_t out = CTR(w.st[1], seg_out);
	CHECK_EQ(tcp_recv(b, buf, sizeof(buf), w.now), (int)sizeof(req) - 1);
	CHECK_EQ(CTR(w.st[1], seg_out), out); /* no bare window update */
	CHECK_EQ(tcp_send_more(b, "HTTP/1.1 200 OK\r\n", 17, true, w.now), 17);
	CHECK_EQ(tcp_send_more(b, "\r\nhi", 4, true, w.now), 4);
	CHECK_EQ(CTR(w.st[1], seg_out), out);
	tcp_close(b, w.now);
	CHECK_EQ(CTR(w.st[1], seg_out), out + 1);
	w.capture = true;
	pump(&w);
	CHECK(!w.capture);
	CHECK_EQ(w.captured[34 + 13], 0x19); /* FIN, PSH, ACK */
	tcp_stack_input(w.st[0], w.captured, w.captured_len, w.now);
	CHECK_EQ(tcp_conn_unacked(a), 0);
	CHECK_EQ(tcp_conn_state(a), TCP_CLOSE_WAIT);
	CHECK_EQ(tcp_recv(a, buf, sizeof(buf), w.now), 21);
	CHECK(memcmp(buf, "HTTP/1.1 200 OK\r\n\r\nhi", 21) == 0);
	CHECK_EQ(tcp_recv(a, buf, sizeof(buf), w.now), 0);
	tcp_close(a, w.now);
	world_fini(&w);

	/* 6000 of 8192 bytes in: the read announces the window at once. */
	world_init(&w, &o);
	if (!handshake(&w, &a, &b))
		return;
	CHECK_EQ(tcp_send(a, data, sizeof(data), w.now), (int)sizeof(data));
	for (int i = 0; i < 10 && tcp_conn_unacked(a); i++) {
		pump(&w); /* Nagle holds the last piece until an ACK */
		tick(&w);
	}
	pump(&w);
	CHECK_EQ(tcp_conn_unacked(a), 0);
	out = CTR(w.st[1], seg_out);
	CHECK_EQ(tcp_recv(b, buf, sizeof(buf), w.now), (int)sizeof(data));
	CHECK_EQ(CTR(w.st[1], seg_out), out + 1);
	/* 1000 bytes in: nothing at the read; the delayed ACK follows. */
	CHECK_EQ(tcp_send(a, data, 1000, w.now), 1000);
	pump(&w);
	out = CTR(w.st[1], seg_out);
	CHECK_EQ(tcp_recv(b, buf, sizeof(buf), w.now), 1000);
	CHECK_EQ(CTR(w.st[1], seg_out), out);
	tick(&w);
	pump(&w);
	CHECK_EQ(CTR(w.st[1], seg_out), out + 1);
	CHECK_EQ(tcp_conn_unacked(a), 0);
	tcp_close(a, w.now);
	tcp_close(b, w.now);
	world_fini(&w);
}

/* TIME-WAIT connections end in the order they began, each 2 MSL after it
 * began, and a retransmitted FIN starts one's 2 MSL again (RFC 9293
 * §3.10.7.4), behind the others. next_timer tells the first deadline. */
static void test_time_wait_order(void)
{
	struct world w;
	world_init(&w, NULL);
	CHECK_EQ(tcp_listen(w.st[1], PORT, 16), 0);
	struct tcp_conn *a[3];
	uint64_t began[3];
	uint8_t fin[3][2048];
	uint32_t fin_len[3];
	for (int i = 0; i < 3; i++) {
		a[i] = tcp_connect(w.st[0], IP_B, PORT, 0, w.now);
		CHECK(a[i] != NULL);
		pump(&w);
		struct tcp_conn *b = tcp_accept(w.st[1], PORT);
		CHECK(b != NULL);
		if (!a[i] || !b) {
			world_fini(&w);
			return;
		}
		tcp_shutdown_write(a[i], w.now);
		pump(&w);
		CHECK_EQ(tcp_conn_state(a[i]), TCP_FIN_WAIT_2);
		tcp_close(b, w.now);
		w.capture = true; /* B's FIN: kept, to be sent again later */
		pump(&w);
		memcpy(fin[i], w.captured, w.captured_len);
		fin_len[i] = w.captured_len;
		tcp_stack_input(w.st[0], fin[i], fin_len[i], w.now);
		CHECK_EQ(tcp_conn_state(a[i]), TCP_TIME_WAIT);
		began[i] = w.now;
		pump(&w);
		tcp_close(a[i], w.now);
		w.now += 300 * MS;
	}
	CHECK_EQ(tcp_stack_nr_conns(w.st[0]), 3);
	CHECK_EQ(tcp_stack_nr_conns(w.st[1]), 0);
	/* A lower bound only until 2 s: the ARP cache's scan is due then. */
	CHECK(tcp_stack_next_timer(w.st[0]) <= began[0] + 2 * SEC);
	/* The first one's FIN again, 1 s into its TIME-WAIT: its ACK goes (B no
	 * longer knows it: the frame is dropped) and its 2 MSL restart. */
	w.now = began[0] + SEC;
	uint64_t out = CTR(w.st[0], seg_out), again = w.now;
	tcp_stack_input(w.st[0], fin[0], fin_len[0], w.now);
	CHECK_EQ(CTR(w.st[0], seg_out), out + 1);
	drop_frames(&w);
	CHECK(tcp_stack_next_timer(w.st[0]) <= began[1] + 2 * SEC);
	/* Just before, at and after each deadline. */
	const uint64_t at[3] = {began[1] + 2 * SEC, began[2] + 2 * SEC, again + 2 * SEC};
	for (int i = 0; i < 3; i++) {
		tcp_stack_timer(w.st[0], at[i] - 1);
		CHECK_EQ(tcp_stack_nr_conns(w.st[0]), 3u - (unsigned)i);
		tcp_stack_timer(w.st[0], at[i]);
		CHECK_EQ(tcp_stack_nr_conns(w.st[0]), 2u - (unsigned)i);
		CHECK_EQ(CTR(w.st[0], tw_expired), (uint64_t)i + 1);
		if (i < 2) /* past 2 s nothing else is armed: exactly the next end */
			CHECK_EQ(tcp_stack_next_timer(w.st[0]), at[i + 1]);
	}
	w.now = at[2];
	CHECK_EQ(tcp_unlisten(w.st[1], PORT, w.now), 0);
	world_fini(&w);
}

static void test_counter_names(void)
{
	CHECK(strcmp(tcp_stack_counter_name(C(no_conn)), "no_conn") == 0);
	CHECK(tcp_stack_counter_desc(C(no_conn)) != NULL);
	CHECK(tcp_stack_counter_name(TCP_C_MAX) == NULL);
	CHECK(strcmp(tcp_state_name(TCP_TIME_WAIT), "TIME-WAIT") == 0);
}

int main(void)
{
	test_counter_names();
	test_handshake_options();
	test_handshake_retransmit();
	test_close_active_half();
	test_close_passive();
	test_close_simultaneous();
	test_close_with_unread_data();
	test_rst_closed_port();
	test_rst_rfc5961();
	test_refused_bare();
	test_transfer();
	test_echo_lossy();
	test_soak();
	test_delayed_ack();
	test_nagle();
	test_persist();
	test_persist_resume();
	test_keepalive();
	test_fin_wait2_limit();
	test_paws();
	test_simultaneous_open();
	test_syncookies();
	test_seq_wrap();
	test_conn_options();
	test_memory_cap();
	test_memory_cap_freed_quietly();
	test_accept_queue_reset();
	test_time_wait_recycling();
	test_time_wait_order();
	test_answer_frames();
	test_abort_after_probe();
	test_zero_window_ack();
	test_bare_ack_seq();
	test_time_wait_reopen();
	return bh_test_summary("tcp_conn");
}
