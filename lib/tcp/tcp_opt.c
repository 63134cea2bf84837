/* SPDX-License-Identifier: MIT */
/* TCP option parsing, negotiation and building. Contracts in tcp_opt.h. */
#include <errno.h>
#include <string.h>

#include "tcp_opt.h"

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}
static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint8_t *put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v;
	return p + 2;
}
static uint8_t *put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
	return p + 4;
}

int tcp_opt_parse(const uint8_t *opt, size_t len, struct tcp_opts *out)
{
	memset(out, 0, sizeof(*out));
	if (len > TCP_OPT_MAX_LEN)
		return -EBADMSG;
	size_t i = 0;
	while (i < len) {
		uint8_t kind = opt[i];
		if (kind == TCP_OPT_EOL)
			break;
		if (kind == TCP_OPT_NOP) {
			i++;
			continue;
		}
		/* Every other option has a length byte, counting kind and itself. */
		if (len - i < 2)
			return -EBADMSG;
		uint8_t olen = opt[i + 1];
		if (olen < 2 || olen > len - i)
			return -EBADMSG;
		const uint8_t *v = opt + i + 2;
		switch (kind) {
		case TCP_OPT_MSS:
			if (olen != 4)
				return -EBADMSG;
			out->mss = get16(v);
			out->present |= TCP_OPTF_MSS;
			break;
		case TCP_OPT_WSCALE:
			if (olen != 3)
				return -EBADMSG;
			/* RFC 7323 §2.3: a shift above 14 MUST be used as 14. */
			out->wscale = v[0] > TCP_WSCALE_MAX ? TCP_WSCALE_MAX : v[0];
			out->present |= TCP_OPTF_WSCALE;
			break;
		case TCP_OPT_SACK_PERM:
			if (olen != 2)
				return -EBADMSG;
			out->present |= TCP_OPTF_SACK_PERM;
			break;
		case TCP_OPT_TS:
			if (olen != 10)
				return -EBADMSG;
			out->tsval = get32(v);
			out->tsecr = get32(v + 4);
			out->present |= TCP_OPTF_TS;
			break;
		case TCP_OPT_SACK: {
			/* olen <= 40 here, so at most 4 blocks: the array cannot overflow. */
			unsigned n = (unsigned)(olen - 2) / 8;
			if (olen < 10 || (olen - 2) % 8 != 0 || n > TCP_SACK_MAX_BLOCKS)
				return -EBADMSG;
			for (unsigned b = 0; b < n; b++) {
				out->sack[b].start = get32(v + 8 * b);
				out->sack[b].end = get32(v + 8 * b + 4);
			}
			out->nr_sack = (uint8_t)n;
			out->present |= TCP_OPTF_SACK;
			break;
		}
		default:
			break; /* unknown: skipped by its length */
		}
		i += olen;
	}
	return (int)len;
}

int tcp_opt_parse_hdr(const uint8_t *hdr, size_t len, struct tcp_opts *out)
{
	memset(out, 0, sizeof(*out));
	if (len < TCP_HDR_LEN)
		return -EBADMSG;
	size_t hlen = (size_t)(hdr[12] >> 4) * 4;
	if (hlen < TCP_HDR_LEN || hlen > len)
		return -EBADMSG;
	int rc = tcp_opt_parse(hdr + TCP_HDR_LEN, hlen - TCP_HDR_LEN, out);
	return rc < 0 ? rc : (int)hlen;
}

/* The SYN / SYN-ACK layout, as Linux sends it (middleboxes are used to it):
 * MSS, then SACK-perm folded into the timestamp's padding, then NOP WS. */
static int build_syn(uint8_t *buf, uint16_t mss, bool sack, bool ts, bool ws, uint8_t wscale,
		     uint32_t tsval, uint32_t tsecr)
{
	uint8_t *p = buf;
	*p++ = TCP_OPT_MSS, *p++ = 4;
	p = put16(p, mss);
	if (ts) {
		if (sack) {
			*p++ = TCP_OPT_SACK_PERM, *p++ = 2;
		} else {
			*p++ = TCP_OPT_NOP, *p++ = TCP_OPT_NOP;
		}
		*p++ = TCP_OPT_TS, *p++ = 10;
		p = put32(p, tsval);
		p = put32(p, tsecr);
	} else if (sack) {
		*p++ = TCP_OPT_NOP, *p++ = TCP_OPT_NOP;
		*p++ = TCP_OPT_SACK_PERM, *p++ = 2;
	}
	if (ws) {
		*p++ = TCP_OPT_NOP;
		*p++ = TCP_OPT_WSCALE, *p++ = 3;
		*p++ = wscale > TCP_WSCALE_MAX ? TCP_WSCALE_MAX : wscale;
	}
	return (int)(p - buf);
}

int tcp_opt_build_syn(uint8_t *buf, const struct tcp_syn_cfg *cfg, uint32_t tsval)
{
	return build_syn(buf, cfg->mss, cfg->sack, cfg->ts, cfg->ws, cfg->wscale, tsval, 0);
}

int tcp_opt_build_synack(uint8_t *buf, const struct tcp_syn_cfg *cfg,
			 const struct tcp_opts *peer, uint32_t tsval)
{
	bool sack = cfg->sack && (peer->present & TCP_OPTF_SACK_PERM);
	bool ts = cfg->ts && (peer->present & TCP_OPTF_TS);
	bool ws = cfg->ws && (peer->present & TCP_OPTF_WSCALE);
	return build_syn(buf, cfg->mss, sack, ts, ws, cfg->wscale, tsval, ts ? peer->tsval : 0);
}

void tcp_opt_negotiate(const struct tcp_syn_cfg *cfg, const struct tcp_opts *peer,
		       struct tcp_opt_neg *out)
{
	memset(out, 0, sizeof(*out));
	uint16_t mss = (peer->present & TCP_OPTF_MSS) ? peer->mss : TCP_MSS_DEFAULT;
	if (mss > cfg->mss)
		mss = cfg->mss;
	if (mss < TCP_MSS_MIN)
		mss = TCP_MSS_MIN;
	out->snd_mss = mss;
	out->ws = cfg->ws && (peer->present & TCP_OPTF_WSCALE);
	if (out->ws) {
		out->snd_wscale = peer->wscale; /* already clamped by the parser */
		out->rcv_wscale = cfg->wscale > TCP_WSCALE_MAX ? TCP_WSCALE_MAX : cfg->wscale;
	}
	out->sack = cfg->sack && (peer->present & TCP_OPTF_SACK_PERM);
	out->ts = cfg->ts && (peer->present & TCP_OPTF_TS);
}

int tcp_opt_build_data(uint8_t *buf, bool ts, uint32_t tsval, uint32_t tsecr,
		       const struct tcp_sack_block *sack, unsigned nr_sack)
{
	uint8_t *p = buf;
	if (ts) {
		*p++ = TCP_OPT_NOP, *p++ = TCP_OPT_NOP;
		*p++ = TCP_OPT_TS, *p++ = 10;
		p = put32(p, tsval);
		p = put32(p, tsecr);
	}
	unsigned max = tcp_opt_sack_max(ts);
	unsigned n = nr_sack < max ? nr_sack : max;
	if (n) {
		*p++ = TCP_OPT_NOP, *p++ = TCP_OPT_NOP;
		*p++ = TCP_OPT_SACK, *p++ = (uint8_t)(2 + 8 * n);
		for (unsigned b = 0; b < n; b++) {
			p = put32(p, sack[b].start);
			p = put32(p, sack[b].end);
		}
	}
	return (int)(p - buf);
}
