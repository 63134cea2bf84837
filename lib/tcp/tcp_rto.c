/* SPDX-License-Identifier: MIT */
/* RFC 6298 RTO estimator. Formulas, defaults and contracts in tcp_rto.h. */
#include <errno.h>
#include <string.h>

#include "tcp_rto.h"

static uint32_t clamp(const struct tcp_rto *r, uint64_t v)
{
	if (v < r->min_us)
		return r->min_us;
	if (v > r->max_us)
		return r->max_us;
	return (uint32_t)v;
}

static void recompute(struct tcp_rto *r)
{
	uint64_t var4 = 4 * r->rttvar_q8, g = (uint64_t)r->g_us << 8;
	r->base_us = clamp(r, (r->srtt_q8 + (var4 > g ? var4 : g) + 128) >> 8);
	r->srtt_us = (uint32_t)((r->srtt_q8 + 128) >> 8);
	r->rttvar_us = (uint32_t)((r->rttvar_q8 + 128) >> 8);
}

int tcp_rto_init(struct tcp_rto *r, uint32_t min_us, uint32_t max_us, uint32_t g_us)
{
	memset(r, 0, sizeof(*r));
	r->min_us = min_us ? min_us : TCP_RTO_MIN_US;
	r->max_us = max_us ? max_us : TCP_RTO_MAX_US;
	r->g_us = g_us ? g_us : TCP_RTO_G_US;
	if (r->min_us > r->max_us)
		return -EINVAL;
	r->base_us = clamp(r, TCP_RTO_INITIAL_US);
	return 0;
}

void tcp_rto_sample(struct tcp_rto *r, uint32_t rtt_us)
{
	uint64_t rq = (uint64_t)rtt_us << 8;
	if (!r->has_sample) {
		r->srtt_q8 = rq;
		r->rttvar_q8 = rq / 2;
		r->has_sample = true;
	} else {
		/* beta = 1/4, alpha = 1/8; RTTVAR uses the SRTT before this update. */
		uint64_t delta = r->srtt_q8 > rq ? r->srtt_q8 - rq : rq - r->srtt_q8;
		r->rttvar_q8 = (3 * r->rttvar_q8 + delta) / 4;
		r->srtt_q8 = (7 * r->srtt_q8 + rq) / 8;
	}
	r->backoff = 0;
	recompute(r);
}

int64_t tcp_rto_ts_rtt(uint32_t ts_now, uint32_t tsecr, uint32_t ts_unit_us)
{
	int32_t ticks = (int32_t)(ts_now - tsecr);
	if (ticks < 0)
		return -ERANGE;
	uint64_t us = (uint64_t)(uint32_t)ticks * ts_unit_us;
	return us > UINT32_MAX ? (int64_t)UINT32_MAX : (int64_t)us;
}

uint32_t tcp_rto_get(const struct tcp_rto *r)
{
	uint64_t v = r->base_us;
	for (unsigned i = 0; i < r->backoff && v < r->max_us; i++)
		v <<= 1;
	return v > r->max_us ? r->max_us : (uint32_t)v;
}

uint32_t tcp_rto_backoff(struct tcp_rto *r)
{
	if (r->backoff < TCP_RTO_BACKOFF_MAX)
		r->backoff++;
	return tcp_rto_get(r);
}

void tcp_rto_syn_timed_out(struct tcp_rto *r)
{
	r->backoff = 0;
	if (r->has_sample)
		return;
	uint32_t v = TCP_RTO_SYN_FALLBACK_US > r->min_us ? TCP_RTO_SYN_FALLBACK_US : r->min_us;
	r->base_us = v > r->max_us ? r->max_us : v;
}
