/* SPDX-License-Identifier: MIT */
/* SYN cookies. Layout and contracts in tcp_cookie.h. */
#include <errno.h>
#include <stddef.h>

#include "tcp_cookie.h"
#include "tcp_seq.h"

#define CNT_SHIFT 30
#define MSS_SHIFT 28
#define MAC_MASK ((1u << MSS_SHIFT) - 1)

/* Linux's IPv4 table: 536 (the RFC minimum) and the common Ethernet, PPPoE and
 * tunnel MSS values, so most clients lose nothing by the rounding. */
static const uint16_t mss_table[TCP_COOKIE_MSS_COUNT] = {536, 1300, 1440, 1460};

uint16_t tcp_cookie_mss_value(unsigned idx)
{
	return idx < TCP_COOKIE_MSS_COUNT ? mss_table[idx] : 0;
}

unsigned tcp_cookie_mss_index(uint16_t mss)
{
	unsigned i = TCP_COOKIE_MSS_COUNT - 1;
	while (i > 0 && mss_table[i] > mss)
		i--;
	return i;
}

static uint32_t mac(const struct tcp_secret *secret, const struct tcp_tuple *t,
		    uint32_t client_isn, uint32_t cnt, unsigned idx)
{
	uint32_t extra[2] = {client_isn, cnt << 2 | idx};
	return (uint32_t)tcp_siphash_tuple(secret, t, extra, 2) & MAC_MASK;
}

static uint32_t counter(uint64_t now_us)
{
	return (uint32_t)(now_us / TCP_COOKIE_PERIOD_US);
}

uint32_t tcp_cookie_make(const struct tcp_secret *secret, const struct tcp_tuple *t,
			 uint32_t client_isn, uint16_t mss, uint64_t now_us, uint16_t *mss_out)
{
	uint32_t cnt = counter(now_us);
	unsigned idx = tcp_cookie_mss_index(mss);
	if (mss_out)
		*mss_out = mss_table[idx];
	return (cnt & 3) << CNT_SHIFT | (uint32_t)idx << MSS_SHIFT |
	       mac(secret, t, client_isn, cnt, idx);
}

int tcp_cookie_check(const struct tcp_secret *secret, const struct tcp_tuple *t,
		     uint32_t client_isn, uint32_t cookie, uint64_t now_us)
{
	uint32_t now = counter(now_us);
	uint32_t bits = cookie >> CNT_SHIFT;
	unsigned idx = (cookie >> MSS_SHIFT) & 3;
	/* Which full counter the two bits stand for: now or now - 1, nothing else. */
	uint32_t cnt;
	if (bits == (now & 3))
		cnt = now;
	else if (now > 0 && bits == ((now - 1) & 3))
		cnt = now - 1;
	else
		return -ETIMEDOUT;
	if ((cookie & MAC_MASK) != mac(secret, t, client_isn, cnt, idx))
		return -EACCES;
	return mss_table[idx];
}

uint32_t tcp_cookie_ts_encode(uint32_t ts_now, bool ws, uint8_t wscale, bool sack)
{
	uint32_t mask = (1u << TCP_COOKIE_TS_BITS) - 1;
	uint32_t opts = ws ? (wscale > 14 ? 14u : wscale) : 0xfu;
	if (sack)
		opts |= 1u << 4;
	uint32_t ts = (ts_now & ~mask) | opts;
	if (tcp_seq_gt(ts, ts_now))
		ts -= mask + 1;
	return ts;
}

void tcp_cookie_ts_decode(uint32_t tsecr, struct tcp_cookie_opts *out)
{
	uint32_t ws = tsecr & 0xf;
	out->ws = ws != 0xf;
	out->wscale = out->ws ? (uint8_t)ws : 0;
	out->sack = (tsecr >> 4) & 1;
}
