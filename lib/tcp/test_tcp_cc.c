/* SPDX-License-Identifier: MIT */
/* NewReno and CUBIC driven by simulated rounds of ACKs, against hand-computed values. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "tcp_cc.h"
#include "tests/unit/bh_test.h"

#define MSS 1460u
#define SEG(n) ((uint32_t)(n) * MSS)
#define NEAR(a, b, eps) ((a) - (b) < (eps) && (b) - (a) < (eps))

/* A sender with an endless backlog: each round sends one cwnd and gets it
 * all acked, per_ack segments per ACK, over rtt_us. */
struct sim {
	struct tcp_cc cc;
	uint32_t una, nxt, rtt_us;
	uint64_t now_us;
};

static void sim_init(struct sim *s, const char *algo, uint32_t rtt_us)
{
	memset(s, 0, sizeof(*s));
	CHECK_EQ(tcp_cc_init(&s->cc, tcp_cc_find(algo), MSS), 0);
	s->una = s->nxt = 1000;
	s->rtt_us = rtt_us;
	s->now_us = 5000000;
}

static void sim_round(struct sim *s, uint32_t per_ack)
{
	uint32_t total = tcp_cc_cwnd(&s->cc) / MSS * MSS, done = 0;
	uint64_t start = s->now_us;
	s->nxt += total;
	while (done < total) {
		uint32_t n = total - done < per_ack * MSS ? total - done : per_ack * MSS;
		done += n;
		s->una += n;
		s->now_us = start + (uint64_t)s->rtt_us * done / total;
		struct tcp_cc_ack a = {.ack = s->una, .bytes_acked = n,
				       .flight_size = s->nxt - s->una, .rtt_us = s->rtt_us,
				       .now_us = s->now_us};
		CHECK_EQ(tcp_cc_on_ack(&s->cc, &a), 0);
	}
}

/* Force congestion avoidance at cwnd = w. */
static void sim_set_ca(struct sim *s, uint32_t w)
{
	s->cc.cwnd = w;
	s->cc.ssthresh = w;
}

/* Three dupacks with a full window outstanding (the first segment lost). */
static unsigned sim_loss(struct sim *s)
{
	unsigned r = 0;
	s->nxt = s->una + tcp_cc_cwnd(&s->cc);
	for (int i = 0; i < 3; i++)
		r |= tcp_cc_on_dupack(&s->cc, s->una, s->nxt, s->nxt - s->una);
	return r;
}

/* Full ACK of everything, with `flight` of new data sent during recovery. */
static unsigned sim_full_ack(struct sim *s, uint32_t flight)
{
	uint32_t acked = s->nxt - s->una;
	s->una = s->nxt;
	s->nxt += flight;
	struct tcp_cc_ack a = {.ack = s->una, .bytes_acked = acked, .flight_size = flight,
			       .rtt_us = s->rtt_us, .now_us = s->now_us};
	return tcp_cc_on_ack(&s->cc, &a);
}

static void test_find_and_init(void)
{
	const struct tcp_cc_ops *nr = tcp_cc_find("newreno"), *cu = tcp_cc_find("cubic");
	CHECK(nr && strcmp(nr->name, "newreno") == 0);
	CHECK(cu && strcmp(cu->name, "cubic") == 0);
	CHECK(tcp_cc_find("reno") == NULL);
	CHECK(tcp_cc_find("CUBIC") == NULL);
	CHECK(tcp_cc_find(NULL) == NULL);
	struct tcp_cc cc;
	CHECK_EQ(tcp_cc_init(&cc, NULL, MSS), -EINVAL);
	CHECK_EQ(tcp_cc_init(&cc, nr, 0), -EINVAL);
	CHECK_EQ(tcp_cc_init(&cc, nr, 70000), -EINVAL);
	CHECK_EQ(tcp_cc_init(&cc, cu, MSS), 0);
	CHECK(strcmp(tcp_cc_name(&cc), "cubic") == 0);
	CHECK_EQ(tcp_cc_ssthresh(&cc), TCP_CC_CWND_MAX);
	CHECK(!tcp_cc_in_recovery(&cc));

	/* RFC 6928: min(10 MSS, max(2 MSS, 14600)). */
	CHECK_EQ(tcp_cc_initial_window(536), 5360);
	CHECK_EQ(tcp_cc_initial_window(1460), 14600);
	CHECK_EQ(tcp_cc_initial_window(4000), 14600);
	CHECK_EQ(tcp_cc_initial_window(9000), 18000);
	const uint32_t mss[] = {536, 1460, 9000}, iw[] = {5360, 14600, 18000};
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(tcp_cc_init(&cc, nr, mss[i]), 0);
		CHECK_EQ(tcp_cc_cwnd(&cc), iw[i]);
		CHECK_EQ(tcp_cc_init(&cc, cu, mss[i]), 0);
		CHECK_EQ(tcp_cc_cwnd(&cc), iw[i]);
	}
}

static void test_slow_start(void)
{
	const char *algos[] = {"newreno", "cubic"};
	for (int k = 0; k < 2; k++) {
		struct sim s;
		/* One ACK per segment: cwnd doubles each RTT, 10 -> 20 -> 40 -> 80. */
		sim_init(&s, algos[k], 100000);
		CHECK_EQ(tcp_cc_cwnd(&s.cc), SEG(10));
		for (int r = 1; r <= 3; r++) {
			sim_round(&s, 1);
			CHECK_EQ(tcp_cc_cwnd(&s.cc), SEG(10u << r));
		}
		/* Delayed ACKs (2 segments each): L = 2 SMSS still doubles. */
		sim_init(&s, algos[k], 100000);
		sim_round(&s, 2);
		CHECK_EQ(tcp_cc_cwnd(&s.cc), SEG(20));
		/* Stretch ACKs of 4 segments: at most L = 2 SMSS each (RFC 3465):
		 * 10 segments in ACKs of 4, 4, 2 give +2 +2 +2. */
		sim_init(&s, algos[k], 100000);
		sim_round(&s, 4);
		CHECK_EQ(tcp_cc_cwnd(&s.cc), SEG(16));
	}
}

static void test_newreno_ca(void)
{
	struct sim s;
	sim_init(&s, "newreno", 100000);
	sim_set_ca(&s, SEG(20));
	for (int r = 1; r <= 10; r++) {
		sim_round(&s, 1);
		CHECK_EQ(tcp_cc_cwnd(&s.cc), SEG(20 + r)); /* exactly 1 SMSS per RTT */
	}
	/* Delayed ACKs: the byte counter still gives 1 SMSS per RTT. */
	sim_set_ca(&s, SEG(20));
	s.cc.ca_acked = 0;
	for (int r = 1; r <= 10; r++)
		sim_round(&s, 2);
	CHECK(tcp_cc_cwnd(&s.cc) >= SEG(29) && tcp_cc_cwnd(&s.cc) <= SEG(30));
	/* Slow start overshoots ssthresh within one round, then grows linearly. */
	sim_init(&s, "newreno", 100000);
	s.cc.ssthresh = SEG(15);
	sim_round(&s, 1); /* 5 ACKs of slow start reach ssthresh, 5 count for CA */
	CHECK_EQ(tcp_cc_cwnd(&s.cc), SEG(15));
	sim_round(&s, 1);
	CHECK_EQ(tcp_cc_cwnd(&s.cc), SEG(16));
}

static void test_newreno_fast_retransmit(void)
{
	struct sim s;
	sim_init(&s, "newreno", 100000);
	sim_set_ca(&s, SEG(20));
	s.nxt = s.una + SEG(20);
	CHECK_EQ(tcp_cc_on_dupack(&s.cc, s.una, s.nxt, SEG(20)), 0);
	CHECK_EQ(tcp_cc_on_dupack(&s.cc, s.una, s.nxt, SEG(20)), 0);
	CHECK_EQ(tcp_cc_cwnd(&s.cc), SEG(20));
	CHECK_EQ(tcp_cc_on_dupack(&s.cc, s.una, s.nxt, SEG(20)), TCP_CC_RETRANSMIT);
	CHECK(tcp_cc_in_recovery(&s.cc));
	CHECK_EQ(tcp_cc_ssthresh(&s.cc), SEG(10));  /* FlightSize / 2 */
	CHECK_EQ(tcp_cc_cwnd(&s.cc), SEG(13));      /* ssthresh + 3 SMSS */
	CHECK_EQ(s.cc.recover, s.nxt - 1);
	CHECK_EQ(tcp_cc_on_dupack(&s.cc, s.una, s.nxt, SEG(20)), 0);
	CHECK_EQ(tcp_cc_on_dupack(&s.cc, s.una, s.nxt, SEG(20)), 0);
	CHECK_EQ(tcp_cc_cwnd(&s.cc), SEG(15));      /* +1 SMSS per further dupack */

	/* Partial ACK of 3 segments: 15 - 3 + 1 = 13, still in recovery. */
	s.una += SEG(3);
	struct tcp_cc_ack a = {.ack = s.una, .bytes_acked = SEG(3), .flight_size = s.nxt - s.una,
			       .now_us = s.now_us};
	CHECK_EQ(tcp_cc_on_ack(&s.cc, &a), TCP_CC_RETRANSMIT);
	CHECK(tcp_cc_in_recovery(&s.cc));
	CHECK_EQ(tcp_cc_cwnd(&s.cc), SEG(13));
	/* A partial ACK of less than one SMSS: deflate only. */
	s.una += 100;
	a = (struct tcp_cc_ack){.ack = s.una, .bytes_acked = 100, .flight_size = s.nxt - s.una};
	CHECK_EQ(tcp_cc_on_ack(&s.cc, &a), TCP_CC_RETRANSMIT);
	CHECK_EQ(tcp_cc_cwnd(&s.cc), SEG(13) - 100);
	/* Up to and including recover - 1 is still partial... */
	a = (struct tcp_cc_ack){.ack = s.nxt - 1, .bytes_acked = s.nxt - 1 - s.una,
				.flight_size = 1};
	s.una = s.nxt - 1;
	CHECK_EQ(tcp_cc_on_ack(&s.cc, &a), TCP_CC_RETRANSMIT);
	CHECK(tcp_cc_in_recovery(&s.cc));
	CHECK(tcp_cc_cwnd(&s.cc) >= MSS);
	/* ...and the ACK covering recover ends it: min(ssthresh, max(flight,
	 * SMSS) + SMSS) with 5 segments of new data out. */
	a = (struct tcp_cc_ack){.ack = s.nxt, .bytes_acked = 1, .flight_size = SEG(5)};
	CHECK_EQ(tcp_cc_on_ack(&s.cc, &a), TCP_CC_RECOVERED);
	CHECK(!tcp_cc_in_recovery(&s.cc));
	CHECK_EQ(tcp_cc_cwnd(&s.cc), SEG(6));
	CHECK_EQ(tcp_cc_ssthresh(&s.cc), SEG(10));

	/* With a full pipe the full ACK sets cwnd = ssthresh. */
	sim_init(&s, "newreno", 100000);
	sim_set_ca(&s, SEG(20));
	CHECK_EQ(sim_loss(&s), TCP_CC_RETRANSMIT);
	CHECK_EQ(sim_full_ack(&s, SEG(20)), TCP_CC_RECOVERED);
	CHECK_EQ(tcp_cc_cwnd(&s.cc), SEG(10));
	/* Later dupacks above recover start a new recovery; a new ACK resets the count. */
	CHECK_EQ(tcp_cc_on_dupack(&s.cc, s.una, s.nxt, SEG(10)), 0);
	CHECK_EQ(tcp_cc_on_dupack(&s.cc, s.una, s.nxt, SEG(10)), 0);
	sim_round(&s, 1);
	CHECK_EQ(tcp_cc_on_dupack(&s.cc, s.una, s.nxt, SEG(10)), 0);
	CHECK(!tcp_cc_in_recovery(&s.cc));
	/* Small flight: ssthresh floors at 2 SMSS. */
	sim_init(&s, "newreno", 100000);
	s.nxt = s.una + SEG(2);
	for (int i = 0; i < 3; i++)
		tcp_cc_on_dupack(&s.cc, s.una, s.nxt, SEG(2));
	CHECK_EQ(tcp_cc_ssthresh(&s.cc), SEG(2));
	CHECK_EQ(tcp_cc_cwnd(&s.cc), SEG(5));
}

static void test_newreno_rto(void)
{
	struct sim s;
	sim_init(&s, "newreno", 100000);
	sim_set_ca(&s, SEG(20));
	s.nxt = s.una + SEG(20);
	tcp_cc_on_rto(&s.cc, s.nxt, SEG(20));
	CHECK_EQ(tcp_cc_cwnd(&s.cc), MSS);          /* LW = 1 SMSS */
	CHECK_EQ(tcp_cc_ssthresh(&s.cc), SEG(10));  /* max(FlightSize / 2, 2 SMSS) */
	/* Fires again before anything is acked: ssthresh held (RFC 5681 §3.1). */
	tcp_cc_on_rto(&s.cc, s.nxt, MSS);
	CHECK_EQ(tcp_cc_ssthresh(&s.cc), SEG(10));
	CHECK_EQ(tcp_cc_cwnd(&s.cc), MSS);
	/* Slow start after an RTO counts at most 1 SMSS per ACK (RFC 3465 §2.3). */
	s.una += SEG(2);
	struct tcp_cc_ack a = {.ack = s.una, .bytes_acked = SEG(2), .flight_size = s.nxt - s.una};
	CHECK_EQ(tcp_cc_on_ack(&s.cc, &a), 0);
	CHECK_EQ(tcp_cc_cwnd(&s.cc), SEG(2));
	/* Dupacks for data sent before the RTO (ack <= recover): no fast retransmit. */
	for (int i = 0; i < 4; i++)
		CHECK_EQ(tcp_cc_on_dupack(&s.cc, s.una, s.nxt + SEG(2), SEG(2)), 0);
	CHECK(!tcp_cc_in_recovery(&s.cc));
	CHECK_EQ(tcp_cc_ssthresh(&s.cc), SEG(10));
	/* A new RTO after that ACK reduces again, with the 2 SMSS floor. */
	tcp_cc_on_rto(&s.cc, s.nxt, MSS);
	CHECK_EQ(tcp_cc_ssthresh(&s.cc), SEG(2));
	CHECK_EQ(tcp_cc_cwnd(&s.cc), MSS);
	/* RTO in the middle of fast recovery ends it. */
	sim_init(&s, "newreno", 100000);
	sim_set_ca(&s, SEG(20));
	sim_loss(&s);
	tcp_cc_on_rto(&s.cc, s.nxt, SEG(20));
	CHECK(!tcp_cc_in_recovery(&s.cc));
	CHECK_EQ(tcp_cc_cwnd(&s.cc), MSS);
}

static void test_cubic_curve(void)
{
	/* W_max = 100, epoch at beta W_max = 70: K = cbrt(30 / 0.4) = cbrt(75). */
	double k = tcp_cc_cubic_k(100, 70);
	CHECK(NEAR(k, 4.2172, 1e-4));
	CHECK(NEAR(k * k * k, 75.0, 1e-9));
	CHECK(NEAR(tcp_cc_cubic_w(0, k, 100), 70.0, 1e-9));
	CHECK(NEAR(tcp_cc_cubic_w(k, k, 100), 100.0, 1e-12));
	CHECK(NEAR(tcp_cc_cubic_w(k + 1, k, 100), 100.4, 1e-9));
	CHECK(NEAR(tcp_cc_cubic_w(k - 1, k, 100), 99.6, 1e-9));
	CHECK(NEAR(tcp_cc_cubic_w(2 * k, k, 100), 130.0, 1e-9));
	/* W_max = 10: K = cbrt(7.5) = 1.9574. */
	CHECK(NEAR(tcp_cc_cubic_k(10, 7), 1.9574, 1e-4));
	CHECK(NEAR(tcp_cc_cubic_k(1000, 700), 9.0856, 1e-4)); /* cbrt(750) */
	CHECK_EQ(tcp_cc_cubic_k(100, 100), 0);
	CHECK_EQ(tcp_cc_cubic_k(50, 100), 0);
}

static void test_cubic_decrease_and_growth(void)
{
	struct sim s;
	sim_init(&s, "cubic", 100000);
	sim_set_ca(&s, SEG(100));
	CHECK_EQ(sim_loss(&s), TCP_CC_RETRANSMIT);
	CHECK_EQ(tcp_cc_ssthresh(&s.cc), SEG(70)); /* beta = 0.7 */
	CHECK_EQ(tcp_cc_cwnd(&s.cc), SEG(73));
	CHECK_EQ(s.cc.u.cubic.w_max, SEG(100));
	CHECK_EQ(sim_full_ack(&s, SEG(100)), TCP_CC_RECOVERED);
	CHECK_EQ(tcp_cc_cwnd(&s.cc), SEG(70));

	/* RTT 100 ms: rounds r = 0.1 s steps since the epoch. */
	uint32_t w[80], w_est20 = 0;
	w[0] = tcp_cc_cwnd(&s.cc);
	for (int r = 1; r < 80; r++) {
		sim_round(&s, 1);
		w[r] = tcp_cc_cwnd(&s.cc);
		CHECK(w[r] >= w[r - 1]);
		if (r == 20)
			w_est20 = s.cc.u.cubic.w_est;
	}
	CHECK(NEAR(s.cc.u.cubic.k_s, 4.2172, 1e-4));
	/* Concave: fast at first, flattening toward W_max near t = K (round 42). */
	CHECK(w[10] - w[0] > SEG(10));
	CHECK(w[42] - w[32] < SEG(2));
	CHECK(w[10] - w[0] > 5 * (w[42] - w[32]));
	CHECK(w[42] >= SEG(98) && w[42] <= SEG(102));
	/* Convex: growth picks up again beyond W_max. */
	CHECK(w[52] - w[42] < w[62] - w[52]);
	CHECK(w[62] - w[52] < w[72] - w[62]);
	CHECK(w[72] > SEG(110));
	/* The cubic curve, not Reno, drove this (large RTT): at 2 s W_est is
	 * 70 + 20 * 9/17 = 80.6 segments against the curve's ~96. */
	CHECK(w_est20 >= SEG(80) && w_est20 <= SEG(81));
	CHECK(w[20] > w_est20 + SEG(10));
	/* Against the curve one RTT ahead: W(2 s + 0.1 s) = 100 - 0.4 (4.2172 - 2.1)^3 = 96.2. */
	CHECK(w[20] >= SEG(94) && w[20] <= SEG(97));
}

static void test_cubic_fast_convergence(void)
{
	struct sim s;
	sim_init(&s, "cubic", 100000);
	sim_set_ca(&s, SEG(100));
	sim_loss(&s);
	sim_full_ack(&s, SEG(100));
	CHECK_EQ(s.cc.u.cubic.w_max, SEG(100));
	/* Next loss below the old W_max: W_max = cwnd (1 + beta) / 2 = 0.85 * 80. */
	sim_set_ca(&s, SEG(80));
	sim_loss(&s);
	CHECK_EQ(s.cc.u.cubic.w_max, SEG(68));
	CHECK_EQ(tcp_cc_ssthresh(&s.cc), SEG(56));
	sim_full_ack(&s, SEG(80));
	/* The next epoch aims at the lowered W_max: K = cbrt((68 - 56) / 0.4). */
	sim_round(&s, 1);
	CHECK(NEAR(s.cc.u.cubic.k_s, tcp_cc_cubic_k(68, 56), 1e-12));
	CHECK(NEAR(s.cc.u.cubic.k_s, 3.1072, 1e-4));
	/* A loss above W_max just records cwnd. */
	sim_set_ca(&s, SEG(90));
	sim_loss(&s);
	CHECK_EQ(s.cc.u.cubic.w_max, SEG(90));
}

static void test_cubic_reno_friendly(void)
{
	/* W_max = 10 segments, RTT 1 ms: the cubic curve barely moves in 20 ms
	 * (K = 1.96 s) while Reno grows ~1 segment per RTT, so W_est wins. */
	struct sim s;
	sim_init(&s, "cubic", 1000);
	sim_set_ca(&s, SEG(10));
	sim_loss(&s);
	sim_full_ack(&s, SEG(10));
	CHECK_EQ(tcp_cc_cwnd(&s.cc), SEG(7));
	uint64_t t0 = s.now_us;
	for (int r = 0; r < 20; r++)
		sim_round(&s, 1);
	double wc = tcp_cc_cubic_w((double)(s.now_us - t0) / 1e6, s.cc.u.cubic.k_s, 10);
	CHECK(wc < 7.2);
	/* alpha = 9/17 per RTT until W_est reaches cwnd_prior = 10 (~6 RTTs),
	 * then 1 per RTT: about 10 + 14 = 24 segments. */
	CHECK(tcp_cc_cwnd(&s.cc) >= SEG(22) && tcp_cc_cwnd(&s.cc) <= SEG(25));
	CHECK_EQ(tcp_cc_cwnd(&s.cc), s.cc.u.cubic.w_est);
}

static void test_cubic_rto(void)
{
	struct sim s;
	sim_init(&s, "cubic", 100000);
	sim_set_ca(&s, SEG(100));
	s.nxt = s.una + SEG(100);
	tcp_cc_on_rto(&s.cc, s.nxt, SEG(100));
	CHECK_EQ(tcp_cc_cwnd(&s.cc), MSS);
	CHECK_EQ(tcp_cc_ssthresh(&s.cc), SEG(70));
	s.una = s.nxt;
	/* Slow start (L = 1 SMSS after the RTO) up to ssthresh, then an epoch
	 * with K = 0 and W_max = cwnd at its start (RFC 9438 §4.8). */
	for (int r = 0; r < 12 && !s.cc.u.cubic.in_epoch; r++)
		sim_round(&s, 1);
	CHECK(s.cc.u.cubic.in_epoch);
	CHECK_EQ(s.cc.u.cubic.k_s, 0);
	CHECK_EQ(s.cc.u.cubic.w_max, s.cc.u.cubic.cwnd_epoch);
	CHECK(s.cc.u.cubic.cwnd_epoch >= SEG(70));
	/* Convex from the start: W = 0.4 t^3 + W_max overtakes the linear
	 * Reno estimate after a few seconds and accelerates. */
	uint32_t a = tcp_cc_cwnd(&s.cc);
	for (int r = 0; r < 30; r++)
		sim_round(&s, 1);
	uint32_t b = tcp_cc_cwnd(&s.cc);
	for (int r = 0; r < 30; r++)
		sim_round(&s, 1);
	uint32_t c = tcp_cc_cwnd(&s.cc);
	CHECK(b > a && c - b > b - a);
}

static void check_bounds(const struct tcp_cc *cc)
{
	CHECK(tcp_cc_cwnd(cc) >= cc->smss && tcp_cc_cwnd(cc) <= TCP_CC_CWND_MAX);
	CHECK(tcp_cc_ssthresh(cc) >= 2 * cc->smss && tcp_cc_ssthresh(cc) <= TCP_CC_CWND_MAX);
}

static void test_bounds(void)
{
	const char *algos[] = {"newreno", "cubic"};
	for (int k = 0; k < 2; k++) {
		struct tcp_cc cc;
		tcp_cc_init(&cc, tcp_cc_find(algos[k]), MSS);
		/* Repeated timeouts with nothing in flight. */
		for (int i = 0; i < 5; i++) {
			tcp_cc_on_rto(&cc, 1000, 0);
			CHECK_EQ(tcp_cc_cwnd(&cc), MSS);
			check_bounds(&cc);
		}
		/* A partial ACK far larger than cwnd. */
		tcp_cc_init(&cc, tcp_cc_find(algos[k]), MSS);
		for (int i = 0; i < 3; i++)
			tcp_cc_on_dupack(&cc, 1000, 1000 + SEG(10), SEG(10));
		struct tcp_cc_ack a = {.ack = 1001, .bytes_acked = UINT32_MAX};
		CHECK_EQ(tcp_cc_on_ack(&cc, &a), TCP_CC_RETRANSMIT);
		CHECK_EQ(tcp_cc_cwnd(&cc), MSS);
		/* Growth saturates at the cap, in slow start, CA and recovery. */
		tcp_cc_init(&cc, tcp_cc_find(algos[k]), MSS);
		cc.cwnd = TCP_CC_CWND_MAX - 100;
		a = (struct tcp_cc_ack){.ack = 2000, .bytes_acked = UINT32_MAX,
					.rtt_us = UINT32_MAX, .now_us = 1};
		tcp_cc_on_ack(&cc, &a);
		CHECK_EQ(tcp_cc_cwnd(&cc), TCP_CC_CWND_MAX);
		cc.ssthresh = cc.cwnd = TCP_CC_CWND_MAX - 100;
		for (int i = 0; i < 4; i++) {
			a.now_us = i ? UINT64_MAX : 0;
			tcp_cc_on_ack(&cc, &a);
			check_bounds(&cc);
		}
		for (int i = 0; i < 10; i++)
			tcp_cc_on_dupack(&cc, 1, 2000, UINT32_MAX);
		check_bounds(&cc);
		CHECK(tcp_cc_in_recovery(&cc));

		/* Deterministic random event soup: the invariants always hold. */
		uint64_t x = 0x9e3779b97f4a7c15ull;
		uint32_t una = 1000, nxt = 1000;
		uint64_t now = 0;
		tcp_cc_init(&cc, tcp_cc_find(algos[k]), 536);
		for (int i = 0; i < 200000; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			uint32_t r = (uint32_t)(x >> 32), ev = r % 16;
			now += r % 5000;
			if (ev < 2) {
				tcp_cc_on_rto(&cc, nxt, nxt - una);
			} else if (ev < 6) {
				tcp_cc_on_dupack(&cc, una, nxt, nxt - una);
			} else {
				nxt += (r >> 8) % (2 * tcp_cc_cwnd(&cc) + 1);
				uint32_t n = (x & 0xffff) % (nxt - una + 1);
				una += n;
				struct tcp_cc_ack b = {.ack = una, .bytes_acked = n,
						       .flight_size = nxt - una,
						       .rtt_us = (r >> 4) % 300000, .now_us = now};
				tcp_cc_on_ack(&cc, &b);
			}
			if (tcp_cc_cwnd(&cc) < cc.smss || tcp_cc_cwnd(&cc) > TCP_CC_CWND_MAX ||
			    tcp_cc_ssthresh(&cc) < 2 * cc.smss) {
				CHECK(0);
				break;
			}
			if (nxt - una > (1u << 30))
				una = nxt;
		}
		check_bounds(&cc);
	}
}

/* A loss found by a tail loss probe: recovery at once, as on the third
 * dupack, under the same conditions; a loss it repaired: the reduction
 * alone, from cwnd. */
static void test_probe_losses(void)
{
	struct sim s;
	sim_init(&s, "newreno", 100000);
	sim_set_ca(&s, SEG(20));
	s.nxt = s.una + SEG(4); /* a tail: 4 segments out */
	CHECK_EQ(tcp_cc_on_loss(&s.cc, s.una, s.nxt, SEG(4)), TCP_CC_RETRANSMIT);
	CHECK(tcp_cc_in_recovery(&s.cc));
	CHECK_EQ(tcp_cc_ssthresh(&s.cc), SEG(2)); /* FlightSize / 2, 2 SMSS floor */
	CHECK_EQ(tcp_cc_cwnd(&s.cc), SEG(5));
	CHECK_EQ(s.cc.recover, s.nxt - 1);
	CHECK_EQ(tcp_cc_on_loss(&s.cc, s.una, s.nxt, SEG(4)), 0); /* in recovery already */
	/* After an RTO, not for data sent before it (ack <= recover). */
	sim_init(&s, "newreno", 100000);
	sim_set_ca(&s, SEG(20));
	s.nxt = s.una + SEG(20);
	tcp_cc_on_rto(&s.cc, s.nxt, SEG(20));
	CHECK_EQ(tcp_cc_on_loss(&s.cc, s.una + SEG(1), s.nxt, SEG(19)), 0);
	CHECK(!tcp_cc_in_recovery(&s.cc));
	CHECK_EQ(tcp_cc_on_loss(&s.cc, s.nxt, s.nxt + SEG(2), SEG(2)), TCP_CC_RETRANSMIT);

	/* Repaired: ssthresh from cwnd (20), cwnd = ssthresh, no recovery. */
	sim_init(&s, "newreno", 100000);
	sim_set_ca(&s, SEG(20));
	tcp_cc_on_repaired_loss(&s.cc);
	CHECK(!tcp_cc_in_recovery(&s.cc));
	CHECK_EQ(tcp_cc_ssthresh(&s.cc), SEG(10));
	CHECK_EQ(tcp_cc_cwnd(&s.cc), SEG(10));
	sim_init(&s, "cubic", 100000);
	sim_set_ca(&s, SEG(20));
	tcp_cc_on_repaired_loss(&s.cc);
	CHECK_EQ(tcp_cc_ssthresh(&s.cc), SEG(14)); /* beta 0.7 */
	CHECK_EQ(tcp_cc_cwnd(&s.cc), SEG(14));
	CHECK_EQ(s.cc.u.cubic.w_max, SEG(20));
	/* Nothing in recovery: that recovery's reduction stands. */
	CHECK_EQ(sim_loss(&s), TCP_CC_RETRANSMIT);
	uint32_t ss = tcp_cc_ssthresh(&s.cc), cw = tcp_cc_cwnd(&s.cc);
	tcp_cc_on_repaired_loss(&s.cc);
	CHECK_EQ(tcp_cc_ssthresh(&s.cc), ss);
	CHECK_EQ(tcp_cc_cwnd(&s.cc), cw);
}

/* A recovery for nothing undone: cwnd, ssthresh and CUBIC's curve as
 * before it, recovery over; once only; never after a timeout. And the
 * duplicate ACKs that start a recovery follow tcp_cc_set_dupthresh. */
static void test_undo_and_dupthresh(void)
{
	struct sim s;
	sim_init(&s, "cubic", 100000);
	sim_set_ca(&s, SEG(40));
	sim_round(&s, 2);
	uint32_t cw = tcp_cc_cwnd(&s.cc), ss = tcp_cc_ssthresh(&s.cc);
	struct tcp_cubic before = s.cc.u.cubic;
	CHECK_EQ(sim_loss(&s), TCP_CC_RETRANSMIT);
	CHECK(tcp_cc_cwnd(&s.cc) < cw && tcp_cc_ssthresh(&s.cc) < ss);
	CHECK(tcp_cc_undo(&s.cc));
	CHECK(!tcp_cc_in_recovery(&s.cc));
	CHECK_EQ(tcp_cc_cwnd(&s.cc), cw);
	CHECK_EQ(tcp_cc_ssthresh(&s.cc), ss);
	CHECK_EQ(s.cc.u.cubic.w_max, before.w_max);
	CHECK_EQ(s.cc.u.cubic.epoch_start_us, before.epoch_start_us);
	CHECK(!tcp_cc_undo(&s.cc)); /* once */
	/* the next loss may start a recovery at once (recover forgotten) */
	CHECK_EQ(tcp_cc_on_loss(&s.cc, s.una, s.nxt, SEG(40)), TCP_CC_RETRANSMIT);
	/* undone after the recovery ended too */
	sim_full_ack(&s, 0);
	CHECK(!tcp_cc_in_recovery(&s.cc));
	CHECK(tcp_cc_cwnd(&s.cc) < cw);
	CHECK(tcp_cc_undo(&s.cc));
	CHECK_EQ(tcp_cc_cwnd(&s.cc), cw);
	/* not after a timeout */
	CHECK_EQ(sim_loss(&s), TCP_CC_RETRANSMIT);
	tcp_cc_on_rto(&s.cc, s.nxt, SEG(40));
	CHECK(!tcp_cc_undo(&s.cc));
	CHECK_EQ(tcp_cc_cwnd(&s.cc), MSS);

	sim_init(&s, "newreno", 100000);
	sim_set_ca(&s, SEG(40));
	tcp_cc_set_dupthresh(&s.cc, 6);
	CHECK_EQ(s.cc.dupthresh, 6);
	CHECK_EQ(sim_loss(&s), 0); /* three: not yet */
	for (int i = 0; i < 2; i++)
		CHECK_EQ(tcp_cc_on_dupack(&s.cc, s.una, s.nxt, s.nxt - s.una), 0);
	CHECK_EQ(tcp_cc_on_dupack(&s.cc, s.una, s.nxt, s.nxt - s.una), TCP_CC_RETRANSMIT);
	tcp_cc_set_dupthresh(&s.cc, 1);
	CHECK_EQ(s.cc.dupthresh, TCP_CC_DUPACK_THRESH);
	tcp_cc_set_dupthresh(&s.cc, 5000);
	CHECK_EQ(s.cc.dupthresh, 1000);
}

int main(void)
{
	test_find_and_init();
	test_slow_start();
	test_newreno_ca();
	test_newreno_fast_retransmit();
	test_newreno_rto();
	test_cubic_curve();
	test_cubic_decrease_and_growth();
	test_cubic_fast_convergence();
	test_cubic_reno_friendly();
	test_cubic_rto();
	test_bounds();
	test_probe_losses();
	test_undo_and_dupthresh();
	return bh_test_summary("tcp_cc");
}
