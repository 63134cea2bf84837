/* SPDX-License-Identifier: MIT */
/* NewReno and CUBIC congestion control. Rules, RFCs and contracts in tcp_cc.h. */
#include <errno.h>
#include <string.h>

#include "tcp_cc.h"
#include "tcp_seq.h"

#define CUBIC_C 0.4
/* beta = 7/10 and alpha = 3 (1 - beta) / (1 + beta) = 9/17, kept as exact
 * integer ratios so the window arithmetic stays in integers. */
#define CUBIC_BETA_NUM 7
#define CUBIC_BETA_DEN 10
#define CUBIC_ALPHA_NUM 9
#define CUBIC_ALPHA_DEN 17

static uint32_t min_u32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

/* Every cwnd write goes through here: the [SMSS, TCP_CC_CWND_MAX] invariant. */
static void cwnd_set(struct tcp_cc *cc, uint64_t w)
{
	if (w > TCP_CC_CWND_MAX)
		w = TCP_CC_CWND_MAX;
	if (w < cc->smss)
		w = cc->smss;
	cc->cwnd = (uint32_t)w;
}

/* max(flight * num / den, 2 SMSS): RFC 5681 eq. 4 (1/2), RFC 9438 §4.6 (7/10). */
static uint32_t loss_ssthresh(const struct tcp_cc *cc, uint32_t flight, unsigned num,
			      unsigned den)
{
	uint64_t s = (uint64_t)flight * num / den, floor = 2ull * cc->smss;
	if (s < floor)
		s = floor;
	return s > TCP_CC_CWND_MAX ? TCP_CC_CWND_MAX : (uint32_t)s;
}

/* RFC 3465 §2.2-2.3: at most L per ACK, so stretch ACKs cannot cause bursts. */
static void slow_start(struct tcp_cc *cc, uint32_t acked)
{
	uint32_t l = cc->rto_ss ? cc->smss : 2 * cc->smss;
	cwnd_set(cc, (uint64_t)cc->cwnd + min_u32(acked, l));
	cc->ca_acked = 0;
}

/* ---- NewReno ---- */

static void newreno_init(struct tcp_cc *cc)
{
	cc->ca_acked = 0;
}

static void newreno_on_ack(struct tcp_cc *cc, const struct tcp_cc_ack *a)
{
	if (cc->cwnd < cc->ssthresh) {
		slow_start(cc, a->bytes_acked);
		return;
	}
	/* RFC 3465 §2.1: one SMSS per cwnd of acked bytes, at most one per ACK;
	 * the counter is kept below 2 cwnd so a huge ACK cannot overflow it. */
	uint64_t s = (uint64_t)cc->ca_acked + a->bytes_acked;
	if (s >= cc->cwnd) {
		s -= cc->cwnd;
		cwnd_set(cc, (uint64_t)cc->cwnd + cc->smss);
	}
	cc->ca_acked = (uint32_t)(s > cc->cwnd ? cc->cwnd : s);
}

static void newreno_enter_recovery(struct tcp_cc *cc, uint32_t flight)
{
	cc->ssthresh = loss_ssthresh(cc, flight, 1, 2);
}

static void newreno_exit_recovery(struct tcp_cc *cc)
{
	cc->ca_acked = 0;
}

static void newreno_on_rto(struct tcp_cc *cc, uint32_t flight, bool hold)
{
	if (!hold)
		cc->ssthresh = loss_ssthresh(cc, flight, 1, 2);
}

/* ---- CUBIC ---- */

/* Newton's method from above converges monotonically for the cube root;
 * stopping when it no longer decreases gives a fixed, libm-free sequence. */
static double cube_root(double x)
{
	if (!(x > 0))
		return 0;
	if (x > 1e30)
		x = 1e30; /* far beyond any window; keeps the doubling loop finite */
	double y = 1;
	while (y * y * y < x)
		y *= 2;
	for (int i = 0; i < 400; i++) {
		double n = (2 * y + x / (y * y)) / 3;
		if (!(n < y))
			break;
		y = n;
	}
	return y;
}

double tcp_cc_cubic_k(double w_max, double cwnd_epoch)
{
	return w_max > cwnd_epoch ? cube_root((w_max - cwnd_epoch) / CUBIC_C) : 0;
}

double tcp_cc_cubic_w(double t_s, double k_s, double w_max)
{
	double d = t_s - k_s;
	return CUBIC_C * d * d * d + w_max;
}

static void cubic_init(struct tcp_cc *cc)
{
	memset(&cc->u.cubic, 0, sizeof(cc->u.cubic));
}

/* A window in segments (double) to bytes, clamped to [lo, hi] before the cast
 * so that no out-of-range double is ever converted. */
static uint32_t seg_to_bytes(double w, uint32_t smss, uint32_t lo, uint32_t hi)
{
	double b = w * smss;
	if (!(b > lo))
		return lo;
	if (b > hi)
		return hi;
	return (uint32_t)b;
}

static void cubic_start_epoch(struct tcp_cc *cc, uint64_t now_us)
{
	struct tcp_cubic *c = &cc->u.cubic;
	c->in_epoch = true;
	c->epoch_start_us = now_us;
	c->cwnd_epoch = cc->cwnd;
	/* No loss yet, or after an RTO (§4.8): W_max = cwnd, K = 0. */
	if (c->w_max <= cc->cwnd) {
		c->w_max = cc->cwnd;
		c->k_s = 0;
	} else {
		c->k_s = tcp_cc_cubic_k((double)c->w_max / cc->smss, (double)cc->cwnd / cc->smss);
	}
	c->w_est = cc->cwnd;
	c->cwnd_acc = c->w_est_acc = 0;
}

static void cubic_on_ack(struct tcp_cc *cc, const struct tcp_cc_ack *a)
{
	struct tcp_cubic *c = &cc->u.cubic;
	if (cc->cwnd < cc->ssthresh) {
		c->in_epoch = false;
		slow_start(cc, a->bytes_acked);
		return;
	}
	if (!c->in_epoch)
		cubic_start_epoch(cc, a->now_us);

	/* §4.3 Reno-friendly estimate: W_est += alpha * acked / cwnd segments. */
	uint64_t an = c->w_est >= c->cwnd_prior ? CUBIC_ALPHA_DEN : CUBIC_ALPHA_NUM;
	uint64_t den = (uint64_t)CUBIC_ALPHA_DEN * cc->cwnd;
	c->w_est_acc += (uint64_t)a->bytes_acked * cc->smss * an;
	uint64_t est = c->w_est + c->w_est_acc / den;
	c->w_est_acc %= den;
	c->w_est = (uint32_t)(est > TCP_CC_CWND_MAX ? TCP_CC_CWND_MAX : est);

	double t = 0;
	if (a->now_us > c->epoch_start_us)
		t = (double)(a->now_us - c->epoch_start_us) / 1e6;
	double wmax = (double)c->w_max / cc->smss;
	uint32_t w_t = seg_to_bytes(tcp_cc_cubic_w(t, c->k_s, wmax), cc->smss, 0, TCP_CC_CWND_MAX);
	if (w_t < c->w_est) {
		if (c->w_est > cc->cwnd)
			cwnd_set(cc, c->w_est);
		return;
	}
	/* §4.4-4.5: move toward W_cubic one RTT ahead, at most 1.5x per RTT. */
	uint64_t hi = (uint64_t)cc->cwnd * 3 / 2;
	if (hi > TCP_CC_CWND_MAX)
		hi = TCP_CC_CWND_MAX;
	uint32_t tgt = seg_to_bytes(tcp_cc_cubic_w(t + a->rtt_us / 1e6, c->k_s, wmax), cc->smss,
				    cc->cwnd, (uint32_t)hi);
	c->cwnd_acc += (uint64_t)(tgt - cc->cwnd) * a->bytes_acked;
	uint64_t w = cc->cwnd + c->cwnd_acc / cc->cwnd;
	c->cwnd_acc %= cc->cwnd;
	cwnd_set(cc, w > tgt ? tgt : w); /* a stretch ACK reaches the target, no further */
}

/* §4.6-4.7: a congestion event (loss detected, or RTO). */
static void cubic_loss(struct tcp_cc *cc, uint32_t flight)
{
	struct tcp_cubic *c = &cc->u.cubic;
	c->cwnd_prior = cc->cwnd;
	if (cc->cwnd < c->w_max) /* fast convergence: release bandwidth to newer flows */
		c->w_max = (uint32_t)((uint64_t)cc->cwnd * (CUBIC_BETA_DEN + CUBIC_BETA_NUM) /
				      (2 * CUBIC_BETA_DEN));
	else
		c->w_max = cc->cwnd;
	cc->ssthresh = loss_ssthresh(cc, flight, CUBIC_BETA_NUM, CUBIC_BETA_DEN);
	c->in_epoch = false;
}

static void cubic_enter_recovery(struct tcp_cc *cc, uint32_t flight)
{
	cubic_loss(cc, flight);
}

static void cubic_exit_recovery(struct tcp_cc *cc)
{
	cc->u.cubic.in_epoch = false; /* the next CA ACK starts the epoch */
}

static void cubic_on_rto(struct tcp_cc *cc, uint32_t flight, bool hold)
{
	if (!hold)
		cubic_loss(cc, flight);
	/* §4.8: the first CA epoch after a timeout uses K = 0, W_max = its cwnd. */
	cc->u.cubic.w_max = 0;
	cc->u.cubic.in_epoch = false;
}

static const struct tcp_cc_ops newreno_ops = {
	.name = "newreno",
	.init = newreno_init,
	.on_ack = newreno_on_ack,
	.enter_recovery = newreno_enter_recovery,
	.exit_recovery = newreno_exit_recovery,
	.on_rto = newreno_on_rto,
};

static const struct tcp_cc_ops cubic_ops = {
	.name = "cubic",
	.init = cubic_init,
	.on_ack = cubic_on_ack,
	.enter_recovery = cubic_enter_recovery,
	.exit_recovery = cubic_exit_recovery,
	.on_rto = cubic_on_rto,
};

/* ---- shared state machine ---- */

const struct tcp_cc_ops *tcp_cc_find(const char *name)
{
	static const struct tcp_cc_ops *const all[] = {&newreno_ops, &cubic_ops};
	if (!name)
		return NULL;
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (strcmp(all[i]->name, name) == 0)
			return all[i];
	return NULL;
}

uint32_t tcp_cc_initial_window(uint32_t smss)
{
	uint64_t ten = 10ull * smss, two = 2ull * smss;
	uint64_t lo = two > 14600 ? two : 14600;
	uint64_t w = ten < lo ? ten : lo;
	return w > TCP_CC_CWND_MAX ? TCP_CC_CWND_MAX : (uint32_t)w;
}

int tcp_cc_init(struct tcp_cc *cc, const struct tcp_cc_ops *ops, uint32_t smss)
{
	if (!ops || smss == 0 || smss > 65535)
		return -EINVAL;
	memset(cc, 0, sizeof(*cc));
	cc->ops = ops;
	cc->smss = smss;
	cc->cwnd = tcp_cc_initial_window(smss);
	cc->ssthresh = TCP_CC_CWND_MAX;
	cc->dupthresh = TCP_CC_DUPACK_THRESH;
	ops->init(cc);
	return 0;
}

unsigned tcp_cc_on_ack(struct tcp_cc *cc, const struct tcp_cc_ack *a)
{
	if (a->bytes_acked == 0)
		return 0;
	cc->dupacks = 0;
	cc->rto_pending = false;
	if (cc->in_recovery) {
		if (tcp_seq_gt(a->ack, cc->recover)) {
			/* RFC 6582 §3.2 step 3, option 1: no burst on leaving recovery. */
			uint64_t f = (a->flight_size > cc->smss ? a->flight_size : cc->smss);
			f += cc->smss;
			cwnd_set(cc, f < cc->ssthresh ? f : cc->ssthresh);
			cc->in_recovery = false;
			cc->ops->exit_recovery(cc);
			return TCP_CC_RECOVERED;
		}
		/* Partial ACK (step 4): deflate by what left the network, add back
		 * one SMSS for the retransmission it triggers. */
		uint64_t w = cc->cwnd > a->bytes_acked ? cc->cwnd - a->bytes_acked : 0;
		if (a->bytes_acked >= cc->smss)
			w += cc->smss;
		cwnd_set(cc, w);
		return TCP_CC_RETRANSMIT;
	}
	cc->ops->on_ack(cc, a);
	if (cc->cwnd >= cc->ssthresh)
		cc->rto_ss = false;
	return 0;
}

unsigned tcp_cc_on_dupack(struct tcp_cc *cc, uint32_t ack, uint32_t snd_nxt,
			  uint32_t flight_size)
{
	if (cc->in_recovery) {
		cwnd_set(cc, (uint64_t)cc->cwnd + cc->smss); /* RFC 5681 §3.2 step 4 */
		return 0;
	}
	if (cc->dupacks < UINT16_MAX)
		cc->dupacks++;
	if (cc->dupacks != cc->dupthresh)
		return 0;
	return tcp_cc_on_loss(cc, ack, snd_nxt, flight_size);
}

unsigned tcp_cc_on_loss(struct tcp_cc *cc, uint32_t ack, uint32_t snd_nxt, uint32_t flight_size)
{
	if (cc->in_recovery)
		return 0;
	/* RFC 6582 §3.2 step 1: dupacks for data sent before the last loss
	 * event (e.g. after an RTO) must not cause a second reduction. */
	if (cc->recover_valid && !tcp_seq_gt(ack, cc->recover))
		return 0;
	cc->prior_cwnd = cc->cwnd;
	cc->prior_ssthresh = cc->ssthresh;
	cc->prior_ca_acked = cc->ca_acked;
	cc->prior_u = cc->u;
	cc->undo_valid = true;
	cc->ops->enter_recovery(cc, flight_size);
	cc->recover = snd_nxt - 1;
	cc->recover_valid = true;
	cc->in_recovery = true;
	cwnd_set(cc, (uint64_t)cc->ssthresh + 3ull * cc->smss);
	return TCP_CC_RETRANSMIT;
}

void tcp_cc_on_repaired_loss(struct tcp_cc *cc)
{
	if (cc->in_recovery)
		return;
	cc->undo_valid = false; /* an earlier recovery's state is no longer the one before */
	cc->ops->enter_recovery(cc, cc->cwnd);
	cwnd_set(cc, cc->ssthresh);
	cc->ops->exit_recovery(cc);
}

bool tcp_cc_undo(struct tcp_cc *cc)
{
	if (!cc->undo_valid)
		return false;
	cc->undo_valid = false;
	if (cc->prior_cwnd > cc->cwnd) {
		cwnd_set(cc, cc->prior_cwnd);
		cc->ca_acked = cc->prior_ca_acked;
		cc->u = cc->prior_u;
	}
	if (cc->prior_ssthresh > cc->ssthresh)
		cc->ssthresh = cc->prior_ssthresh;
	cc->in_recovery = false;
	cc->recover_valid = false;
	cc->dupacks = 0;
	return true;
}

void tcp_cc_set_dupthresh(struct tcp_cc *cc, unsigned thresh)
{
	if (thresh < TCP_CC_DUPACK_THRESH)
		thresh = TCP_CC_DUPACK_THRESH;
	cc->dupthresh = (uint16_t)(thresh > 1000 ? 1000 : thresh);
}

void tcp_cc_on_rto(struct tcp_cc *cc, uint32_t snd_nxt, uint32_t flight_size)
{
	cc->undo_valid = false;
	cc->ops->on_rto(cc, flight_size, cc->rto_pending);
	cwnd_set(cc, cc->smss); /* LW, RFC 5681 §3.1 */
	cc->in_recovery = false;
	cc->dupacks = 0;
	cc->ca_acked = 0;
	cc->recover = snd_nxt - 1;
	cc->recover_valid = true;
	cc->rto_pending = true;
	cc->rto_ss = true;
}
