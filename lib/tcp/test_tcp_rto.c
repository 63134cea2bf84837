/* SPDX-License-Identifier: MIT */
/* RFC 6298 estimator against hand-computed values; backoff, clamps, Karn. */
#include <errno.h>

#include "tcp_rto.h"
#include "tests/unit/bh_test.h"

static void test_init(void)
{
	struct tcp_rto r;
	CHECK_EQ(tcp_rto_init(&r, 0, 0, 0), 0);
	CHECK_EQ(r.min_us, TCP_RTO_MIN_US);
	CHECK_EQ(r.max_us, TCP_RTO_MAX_US);
	CHECK_EQ(r.g_us, TCP_RTO_G_US);
	CHECK_EQ(tcp_rto_get(&r), 1000000); /* RFC 6298 §2.1 */
	CHECK(!r.has_sample);
	CHECK_EQ(tcp_rto_init(&r, 2000000, 0, 0), 0);
	CHECK_EQ(tcp_rto_get(&r), 2000000); /* initial 1 s raised to the minimum */
	CHECK_EQ(tcp_rto_init(&r, 0, 500000, 0), 0);
	CHECK_EQ(tcp_rto_get(&r), 500000);
	CHECK_EQ(tcp_rto_init(&r, 3000000, 2000000, 0), -EINVAL);
	CHECK_EQ(tcp_rto_init(&r, 70000000, 0, 0), -EINVAL); /* above the default max */
}

static void test_samples(void)
{
	struct tcp_rto r;
	tcp_rto_init(&r, 0, 0, 0);
	/* R = 100 ms: SRTT 100, RTTVAR 50, RTO = 100 + 4 * 50 = 300 ms. */
	tcp_rto_sample(&r, 100000);
	CHECK_EQ(r.srtt_us, 100000);
	CHECK_EQ(r.rttvar_us, 50000);
	CHECK_EQ(tcp_rto_get(&r), 300000);
	/* R = 200 ms: RTTVAR = 3/4 50 + 1/4 |100 - 200| = 62.5,
	 * SRTT = 7/8 100 + 1/8 200 = 112.5, RTO = 112.5 + 250 = 362.5 ms. */
	tcp_rto_sample(&r, 200000);
	CHECK_EQ(r.rttvar_us, 62500);
	CHECK_EQ(r.srtt_us, 112500);
	CHECK_EQ(tcp_rto_get(&r), 362500);
	/* R = 100 ms: RTTVAR = 3/4 62.5 + 1/4 12.5 = 50, SRTT = 110.9375,
	 * RTO = 310.9375 ms (rounded to 310938 µs). */
	tcp_rto_sample(&r, 100000);
	CHECK_EQ(r.rttvar_us, 50000);
	CHECK_EQ(r.srtt_q8, 110937.5 * 256);
	CHECK_EQ(r.srtt_us, 110938);
	CHECK_EQ(tcp_rto_get(&r), 310938);
	/* R = 40 ms: RTTVAR = 3/4 50 + 1/4 70.9375 = 55.234375,
	 * SRTT = 7/8 110.9375 + 1/8 40 = 102.0703125,
	 * RTO = 102.0703125 + 220.9375 = 323.0078125 ms. */
	tcp_rto_sample(&r, 40000);
	CHECK_EQ(r.rttvar_q8, 55234.375 * 256);
	CHECK_EQ(r.srtt_q8, 102070.3125 * 256);
	CHECK_EQ(r.rttvar_us, 55234);
	CHECK_EQ(r.srtt_us, 102070);
	CHECK_EQ(tcp_rto_get(&r), 323008);

	/* A steady path: RTTVAR decays, SRTT converges, RTO meets the minimum. */
	for (int i = 0; i < 200; i++)
		tcp_rto_sample(&r, 50000);
	CHECK_EQ(r.srtt_us, 50000);
	CHECK_EQ(r.rttvar_us, 0);
	CHECK_EQ(tcp_rto_get(&r), 200000);

	/* Same with a 1 ms minimum: RTO = SRTT + G (G dominates a tiny RTTVAR). */
	tcp_rto_init(&r, 1000, 0, 0);
	for (int i = 0; i < 200; i++)
		tcp_rto_sample(&r, 50000);
	CHECK_EQ(tcp_rto_get(&r), 51000);

	/* A LAN RTT: 1 ms gives SRTT + 4 RTTVAR = 3 ms, clamped to 200 ms. */
	tcp_rto_init(&r, 0, 0, 0);
	tcp_rto_sample(&r, 1000);
	CHECK_EQ(tcp_rto_get(&r), 200000);
	/* A coarse granularity G = 10 ms with a 1 ms minimum: RTO = 1 + 10 ms. */
	tcp_rto_init(&r, 1000, 0, 10000);
	tcp_rto_sample(&r, 1000);
	CHECK_EQ(tcp_rto_get(&r), 11000);
	/* A 0 RTT (below a timestamp tick) is a valid sample. */
	tcp_rto_init(&r, 1000, 0, 0);
	tcp_rto_sample(&r, 0);
	CHECK(r.has_sample);
	CHECK_EQ(tcp_rto_get(&r), 1000);

	/* Huge RTTs: clamped to the maximum, no overflow. */
	tcp_rto_init(&r, 0, 0, 0);
	tcp_rto_sample(&r, 30000000);
	CHECK_EQ(tcp_rto_get(&r), 60000000); /* 30 + 60 s -> 60 s */
	tcp_rto_sample(&r, UINT32_MAX);
	CHECK_EQ(tcp_rto_get(&r), 60000000);
	tcp_rto_init(&r, 0, 0, 0);
	tcp_rto_sample(&r, UINT32_MAX);
	CHECK_EQ(r.rttvar_us, 1u << 31);
	CHECK_EQ(tcp_rto_get(&r), 60000000);
}

static void test_backoff(void)
{
	struct tcp_rto r;
	tcp_rto_init(&r, 0, 0, 0);
	tcp_rto_sample(&r, 100000); /* RTO 300 ms */
	static const uint32_t want[] = {600000, 1200000, 2400000, 4800000, 9600000,
					19200000, 38400000, 60000000, 60000000, 60000000};
	for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		CHECK_EQ(tcp_rto_backoff(&r), want[i]);
		CHECK_EQ(r.backoff, i + 1);
	}
	/* The count saturates; the RTO stays at the cap. */
	for (int i = 0; i < 1000; i++)
		tcp_rto_backoff(&r);
	CHECK_EQ(r.backoff, TCP_RTO_BACKOFF_MAX);
	CHECK_EQ(tcp_rto_get(&r), 60000000);
	/* A new sample collapses the backoff (RFC 6298 §5.7 / Karn). */
	tcp_rto_sample(&r, 100000);
	CHECK_EQ(r.backoff, 0);
	CHECK(tcp_rto_get(&r) < 1000000);

	/* Before any sample: 1, 2, 4, .., 32, 60, 60 s. */
	tcp_rto_init(&r, 0, 0, 0);
	static const uint32_t want0[] = {2000000, 4000000, 8000000, 16000000, 32000000,
					 60000000, 60000000};
	for (unsigned i = 0; i < sizeof(want0) / sizeof(want0[0]); i++)
		CHECK_EQ(tcp_rto_backoff(&r), want0[i]);

	/* A custom cap. */
	tcp_rto_init(&r, 0, 5000000, 0);
	CHECK_EQ(tcp_rto_backoff(&r), 2000000);
	CHECK_EQ(tcp_rto_backoff(&r), 4000000);
	CHECK_EQ(tcp_rto_backoff(&r), 5000000);
	CHECK_EQ(tcp_rto_backoff(&r), 5000000);
}

static void test_syn_fallback(void)
{
	struct tcp_rto r;
	tcp_rto_init(&r, 0, 0, 0);
	tcp_rto_backoff(&r); /* SYN timed out once */
	tcp_rto_syn_timed_out(&r);
	CHECK_EQ(tcp_rto_get(&r), 3000000);
	CHECK_EQ(r.backoff, 0);
	tcp_rto_sample(&r, 100000); /* first data sample replaces it */
	CHECK_EQ(tcp_rto_get(&r), 300000);
	/* With a sample from the handshake (timestamps), nothing changes. */
	tcp_rto_init(&r, 0, 0, 0);
	tcp_rto_backoff(&r);
	tcp_rto_sample(&r, 100000);
	tcp_rto_syn_timed_out(&r);
	CHECK_EQ(tcp_rto_get(&r), 300000);
	/* Limits still apply. */
	tcp_rto_init(&r, 5000000, 0, 0);
	tcp_rto_syn_timed_out(&r);
	CHECK_EQ(tcp_rto_get(&r), 5000000);
	tcp_rto_init(&r, 0, 2000000, 0);
	tcp_rto_syn_timed_out(&r);
	CHECK_EQ(tcp_rto_get(&r), 2000000);
}

static void test_karn_and_ts(void)
{
	/* acks_new_data, retransmitted, ts */
	CHECK(tcp_rto_sample_ok(true, false, false));
	CHECK(!tcp_rto_sample_ok(true, true, false));  /* Karn */
	CHECK(tcp_rto_sample_ok(true, true, true));    /* TSecr disambiguates */
	CHECK(tcp_rto_sample_ok(true, false, true));
	CHECK(!tcp_rto_sample_ok(false, false, false)); /* duplicate ACK */
	CHECK(!tcp_rto_sample_ok(false, false, true));
	CHECK(!tcp_rto_sample_ok(false, true, true));

	CHECK_EQ(tcp_rto_ts_rtt(1010, 1000, 1000), 10000);
	CHECK_EQ(tcp_rto_ts_rtt(1000, 1000, 1000), 0);
	CHECK_EQ(tcp_rto_ts_rtt(5, 0xfffffffb, 1000), 10000); /* across the wrap */
	CHECK_EQ(tcp_rto_ts_rtt(1000, 1001, 1000), -ERANGE); /* echo from the future */
	CHECK_EQ(tcp_rto_ts_rtt(0, 0x80000000, 1), -ERANGE);
	CHECK_EQ(tcp_rto_ts_rtt(0x7fffffff, 0, 1000), UINT32_MAX); /* clamped */
	CHECK_EQ(tcp_rto_ts_rtt(250, 0, 1), 250);                 /* µs clock */

	/* Sampling through timestamps drives the estimator as direct samples do. */
	struct tcp_rto a, b;
	tcp_rto_init(&a, 0, 0, 0);
	tcp_rto_init(&b, 0, 0, 0);
	int64_t rtt = tcp_rto_ts_rtt(2000 + 120, 2000, 1000);
	CHECK_EQ(rtt, 120000);
	tcp_rto_sample(&a, (uint32_t)rtt);
	tcp_rto_sample(&b, 120000);
	CHECK_EQ(tcp_rto_get(&a), tcp_rto_get(&b));
	CHECK_EQ(tcp_rto_get(&a), 360000);
}

int main(void)
{
	test_init();
	test_samples();
	test_backoff();
	test_syn_fallback();
	test_karn_and_ts();
	return bh_test_summary("tcp_rto");
}
