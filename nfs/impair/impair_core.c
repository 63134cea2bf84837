/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "impair_core.h"

/* ---------------------------------------------------------------- parsing */

/*
 * Fixed-point decimals ("0.5", "10", "1.25") parsed by hand: exact, no locale,
 * no exponent forms. *out = value * 10^frac_digits; more fractional digits
 * than that, an empty number or overflow is an error. Stops at the first
 * character that is neither a digit nor the one '.'.
 */
static int imp_parse_fixed(const char **sp, unsigned frac_digits, uint64_t *out, const char **why)
{
	const char *s = *sp;
	uint64_t v = 0;
	unsigned ndig = 0, nfrac = 0;
	bool dot = false;

	for (;; s++) {
		if (*s == '.' && !dot) {
			dot = true;
			continue;
		}
		if (*s < '0' || *s > '9')
			break;
		if (dot && ++nfrac > frac_digits) {
			*why = "too many decimals";
			return -EINVAL;
		}
		if (v > (UINT64_MAX - 9) / 10) {
			*why = "number too large";
			return -EINVAL;
		}
		v = v * 10 + (uint64_t)(*s - '0');
		ndig++;
	}
	if (ndig == 0) {
		*why = "expected a number";
		return -EINVAL;
	}
	for (; nfrac < frac_digits; nfrac++) {
		if (v > UINT64_MAX / 10) {
			*why = "number too large";
			return -EINVAL;
		}
		v *= 10;
	}
	*out = v;
	*sp = s;
	return 0;
}

struct imp_unit {
	const char *name;
	uint64_t mult;
};

static const struct imp_unit imp_time_units[] = {
	{"s", 1000000000ull}, {"ms", 1000000ull}, {"us", 1000ull}, {"ns", 1ull}, {NULL, 0},
};
static const struct imp_unit imp_rate_units[] = {
	{"bit", 1ull}, {"kbit", 1000ull}, {"mbit", 1000000ull}, {"gbit", 1000000000ull}, {NULL, 0},
};

/* value with 9 decimals * unit, must come out a whole number <= max. */
static int imp_parse_unit(const char *s, const struct imp_unit *units, uint64_t max, uint64_t *out,
			  const char **why)
{
	uint64_t fixed;
	int rc = imp_parse_fixed(&s, 9, &fixed, why);
	if (rc)
		return rc;
	if (*s == '\0') {
		*why = "missing unit";
		return -EINVAL;
	}
	for (const struct imp_unit *u = units; u->name; u++) {
		if (strcmp(s, u->name) != 0)
			continue;
		unsigned __int128 v = (unsigned __int128)fixed * u->mult;
		if (v % 1000000000u) {
			*why = "finer than the unit's resolution";
			return -EINVAL;
		}
		v /= 1000000000u;
		if (v > max) {
			*why = "too large";
			return -EINVAL;
		}
		*out = (uint64_t)v;
		return 0;
	}
	*why = "unknown unit";
	return -EINVAL;
}

static int imp_parse_pct(const char *s, uint32_t *ppb, const char **why)
{
	uint64_t v;
	/* percent with 7 decimals = parts per billion */
	int rc = imp_parse_fixed(&s, 7, &v, why);
	if (rc)
		return rc;
	if (strcmp(s, "%") != 0) {
		*why = *s ? "expected '%' after the number" : "missing '%'";
		return -EINVAL;
	}
	if (v > IMP_PPB_ONE) {
		*why = "above 100%";
		return -EINVAL;
	}
	*ppb = (uint32_t)v;
	return 0;
}

static int imp_parse_uint(const char *s, uint64_t max, uint64_t *out, const char **why)
{
	uint64_t v = 0;
	if (*s == '\0') {
		*why = "expected a number";
		return -EINVAL;
	}
	for (; *s; s++) {
		if (*s < '0' || *s > '9') {
			*why = "expected a whole number";
			return -EINVAL;
		}
		if (v > UINT64_MAX / 10 || (uint64_t)(*s - '0') > UINT64_MAX - v * 10) {
			*why = "number too large";
			return -EINVAL;
		}
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v > max) {
		*why = "too large";
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int imp_parse_item(char *item, struct imp_spec *sp, const char **why)
{
	char *val = strchr(item, '=');
	uint64_t v;
	int rc;

	if (!val) {
		*why = "expected NAME=VALUE";
		return -EINVAL;
	}
	*val++ = '\0';
	if (strcmp(item, "loss") == 0) {
		rc = imp_parse_pct(val, &sp->loss_ppb, why);
		sp->has |= IMP_HAS_LOSS;
	} else if (strcmp(item, "dup") == 0) {
		rc = imp_parse_pct(val, &sp->dup_ppb, why);
		sp->has |= IMP_HAS_DUP;
	} else if (strcmp(item, "corrupt") == 0) {
		rc = imp_parse_pct(val, &sp->corrupt_ppb, why);
		sp->has |= IMP_HAS_CORRUPT;
	} else if (strcmp(item, "reorder") == 0) {
		rc = imp_parse_pct(val, &sp->reorder_ppb, why);
		sp->has |= IMP_HAS_REORDER;
	} else if (strcmp(item, "delay") == 0) {
		rc = imp_parse_unit(val, imp_time_units, IMP_TIME_MAX_NS, &sp->delay_ns, why);
		if (rc == -EINVAL && strcmp(*why, "too large") == 0)
			*why = "above 60s";
		sp->has |= IMP_HAS_DELAY;
	} else if (strcmp(item, "jitter") == 0) {
		rc = imp_parse_unit(val, imp_time_units, IMP_TIME_MAX_NS, &sp->jitter_ns, why);
		if (rc == -EINVAL && strcmp(*why, "too large") == 0)
			*why = "above 60s";
		sp->has |= IMP_HAS_JITTER;
	} else if (strcmp(item, "rate") == 0) {
		rc = imp_parse_unit(val, imp_rate_units, IMP_RATE_MAX_BPS, &sp->rate_bps, why);
		if (rc == 0 && sp->rate_bps < IMP_RATE_MIN_BPS) {
			*why = "below 1kbit";
			rc = -EINVAL;
		} else if (rc == -EINVAL && strcmp(*why, "too large") == 0) {
			*why = "above 1000gbit";
		}
		sp->has |= IMP_HAS_RATE;
	} else if (strcmp(item, "limit") == 0) {
		rc = imp_parse_uint(val, IMP_LIMIT_MAX, &v, why);
		if (rc == -EINVAL && strcmp(*why, "too large") == 0)
			*why = "above 1048576";
		if (rc == 0 && v == 0) {
			*why = "must be at least 1";
			rc = -EINVAL;
		}
		sp->limit = (uint32_t)v;
		sp->has |= IMP_HAS_LIMIT;
	} else if (strcmp(item, "seed") == 0) {
		rc = imp_parse_uint(val, UINT64_MAX, &sp->seed, why);
		sp->has |= IMP_HAS_SEED;
	} else {
		*why = "unknown item (loss, delay, jitter, reorder, dup, corrupt, rate, limit, seed)";
		rc = -EINVAL;
	}
	return rc;
}

int imp_spec_parse(const char *s, struct imp_spec *spec, char *err, size_t errlen)
{
	char buf[512];
	struct imp_spec sp;
	const char *why = NULL;
	char *item, *next;

	memset(&sp, 0, sizeof(sp));
	if (strlen(s) >= sizeof(buf)) {
		snprintf(err, errlen, "spec longer than %zu bytes", sizeof(buf) - 1);
		return -EINVAL;
	}
	strcpy(buf, s);
	if (buf[0] == '\0') {
		snprintf(err, errlen, "empty spec");
		return -EINVAL;
	}
	for (item = buf; item; item = next) {
		next = strchr(item, ',');
		if (next)
			*next++ = '\0';
		if (*item == '\0') {
			snprintf(err, errlen, "empty item in '%s'", s);
			return -EINVAL;
		}
		/* keep the item's text for the message: parsing cuts it at '=' */
		char shown[sizeof(buf)];
		snprintf(shown, sizeof(shown), "%s", item);
		if (imp_parse_item(item, &sp, &why) < 0) {
			snprintf(err, errlen, "'%s': %s", shown, why);
			return -EINVAL;
		}
	}
	*spec = sp;
	return 0;
}

void imp_spec_merge(struct imp_spec *dst, const struct imp_spec *src)
{
	uint32_t h = src->has;
	if (h & IMP_HAS_LOSS)
		dst->loss_ppb = src->loss_ppb;
	if (h & IMP_HAS_DUP)
		dst->dup_ppb = src->dup_ppb;
	if (h & IMP_HAS_CORRUPT)
		dst->corrupt_ppb = src->corrupt_ppb;
	if (h & IMP_HAS_REORDER)
		dst->reorder_ppb = src->reorder_ppb;
	if (h & IMP_HAS_DELAY)
		dst->delay_ns = src->delay_ns;
	if (h & IMP_HAS_JITTER)
		dst->jitter_ns = src->jitter_ns;
	if (h & IMP_HAS_RATE)
		dst->rate_bps = src->rate_bps;
	if (h & IMP_HAS_LIMIT)
		dst->limit = src->limit;
	if (h & IMP_HAS_SEED)
		dst->seed = src->seed;
	dst->has |= h;
}

static int imp_fmt_pct(char *b, size_t n, const char *name, uint32_t ppb)
{
	char frac[8];
	int i = 7;
	snprintf(frac, sizeof(frac), "%07u", ppb % 10000000u);
	while (i > 0 && frac[i - 1] == '0')
		frac[--i] = '\0';
	return snprintf(b, n, " %s=%u%s%s%%", name, ppb / 10000000u, i ? "." : "", frac);
}

static int imp_fmt_unit(char *b, size_t n, const char *name, uint64_t v, const struct imp_unit *u,
			unsigned n_units)
{
	/* the largest unit that divides the value exactly */
	for (unsigned k = n_units; k-- > 0;)
		if (u[k].mult && v % u[k].mult == 0 && (v || k == 0))
			return snprintf(b, n, " %s=%llu%s", name, (unsigned long long)(v / u[k].mult), u[k].name);
	return 0;
}

int imp_spec_format(const struct imp_spec *sp, char *buf, size_t len)
{
	/* units ordered small to large for imp_fmt_unit */
	static const struct imp_unit tu[] = {{"ns", 1ull}, {"us", 1000ull}, {"ms", 1000000ull}, {"s", 1000000000ull}};
	static const struct imp_unit ru[] = {{"bit", 1ull}, {"kbit", 1000ull}, {"mbit", 1000000ull}, {"gbit", 1000000000ull}};
	char b[512];
	size_t o = 0;

#define IMP_APPEND(expr)                                                        \
	do {                                                                    \
		int _n = (expr);                                                \
		if (_n > 0)                                                     \
			o = o + (size_t)_n < sizeof(b) ? o + (size_t)_n : sizeof(b) - 1; \
	} while (0)
	b[0] = '\0';
	if (sp->has & IMP_HAS_LOSS)
		IMP_APPEND(imp_fmt_pct(b + o, sizeof(b) - o, "loss", sp->loss_ppb));
	if (sp->has & IMP_HAS_DELAY)
		IMP_APPEND(imp_fmt_unit(b + o, sizeof(b) - o, "delay", sp->delay_ns, tu, 4));
	if (sp->has & IMP_HAS_JITTER)
		IMP_APPEND(imp_fmt_unit(b + o, sizeof(b) - o, "jitter", sp->jitter_ns, tu, 4));
	if (sp->has & IMP_HAS_REORDER)
		IMP_APPEND(imp_fmt_pct(b + o, sizeof(b) - o, "reorder", sp->reorder_ppb));
	if (sp->has & IMP_HAS_DUP)
		IMP_APPEND(imp_fmt_pct(b + o, sizeof(b) - o, "dup", sp->dup_ppb));
	if (sp->has & IMP_HAS_CORRUPT)
		IMP_APPEND(imp_fmt_pct(b + o, sizeof(b) - o, "corrupt", sp->corrupt_ppb));
	if (sp->has & IMP_HAS_RATE)
		IMP_APPEND(imp_fmt_unit(b + o, sizeof(b) - o, "rate", sp->rate_bps, ru, 4));
	if (sp->has & IMP_HAS_LIMIT)
		IMP_APPEND(snprintf(b + o, sizeof(b) - o, " limit=%u", sp->limit));
	if (sp->has & IMP_HAS_SEED)
		IMP_APPEND(snprintf(b + o, sizeof(b) - o, " seed=%llu", (unsigned long long)sp->seed));
#undef IMP_APPEND
	return snprintf(buf, len, "%s", o ? b + 1 : "none");
}

/* ------------------------------------------------------------------- core */

struct imp_ent {
	uint64_t t, seq; /* end of the delay stage, then arrival order */
	void *pkt;
	uint32_t len;
};

struct imp_wire {
	uint64_t t; /* departure: serialised at the rate */
	void *pkt;
};

struct imp_held {
	void *pkt;
	uint32_t len;
	uint64_t since;
};

/*
 * A direction is two queues in tandem, like a delay line in front of a link:
 * the heap holds packets in the delay stage (by the time they leave it); with
 * a rate, packets leaving it join the wire FIFO, where each departs one
 * serialisation time after the previous one. The heap is moved into the FIFO
 * lazily but exactly (each entry at its own time, in time order) before
 * anything else joins the FIFO, so a reordered packet that skips the delay
 * overtakes what is still in the delay line and never the link's rate.
 */
struct imp_dir {
	struct imp_spec spec;
	bool active;     /* any impairment at all */
	uint64_t rng;
	/* event iff rand < thr; *_all: probability 1 */
	uint64_t loss_thr, dup_thr, corrupt_thr, reorder_thr;
	bool loss_all, dup_all, corrupt_all, reorder_all;
	uint64_t rate_next;  /* departure of the last packet put on the wire */
	uint64_t rate_rem;   /* remainder of len*8e9 / rate, carried to the next packet */
	uint64_t seq;
	uint32_t limit;
	struct imp_ent *heap;
	uint32_t n_heap;
	struct imp_wire *wire; /* ring of `limit`, only with a rate */
	uint32_t wire_head, n_wire;
	struct imp_held hold[IMP_HOLD_MAX]; /* ring, delay=0 reorder */
	uint32_t hold_head, n_hold;
	struct imp_stats st;
};

struct imp_core {
	unsigned n_dirs;
	unsigned rr; /* first direction imp_core_release() serves */
	struct imp_dir dirs[];
};

/* splitmix64 (Steele, Lea, Flood 2014): tiny, fast, passes BigCrush. */
static inline uint64_t imp_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, n) (n > 0), by a 64x64->128 multiply (bias < n / 2^64). */
static inline uint64_t imp_uniform(uint64_t *s, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)imp_rand(s) * n) >> 64);
}

static void imp_threshold(uint32_t ppb, uint64_t *thr, bool *all)
{
	*all = ppb >= IMP_PPB_ONE;
	*thr = *all ? 0 : (uint64_t)(((unsigned __int128)ppb << 64) / IMP_PPB_ONE);
}

/* One random draw per configured probability, so the stream depends only on the spec. */
static inline bool imp_chance(struct imp_dir *d, uint64_t thr, bool all, uint32_t ppb)
{
	if (ppb == 0)
		return false;
	uint64_t r = imp_rand(&d->rng);
	return all || r < thr;
}

struct imp_core *imp_core_create(const struct imp_spec *specs, unsigned n_dirs, uint64_t default_seed)
{
	struct imp_core *c;

	if (n_dirs == 0 || n_dirs > IMP_MAX_DIRS || !specs)
		return NULL;
	c = calloc(1, sizeof(*c) + n_dirs * sizeof(c->dirs[0]));
	if (!c)
		return NULL;
	c->n_dirs = n_dirs;
	for (unsigned i = 0; i < n_dirs; i++) {
		struct imp_dir *d = &c->dirs[i];
		const struct imp_spec *sp = &specs[i];

		d->spec = *sp;
		d->limit = sp->limit ? sp->limit : IMP_LIMIT_DEFAULT;
		if (d->limit > IMP_LIMIT_MAX || sp->loss_ppb > IMP_PPB_ONE || sp->dup_ppb > IMP_PPB_ONE ||
		    sp->corrupt_ppb > IMP_PPB_ONE || sp->reorder_ppb > IMP_PPB_ONE ||
		    sp->delay_ns > IMP_TIME_MAX_NS || sp->jitter_ns > IMP_TIME_MAX_NS ||
		    (sp->rate_bps && (sp->rate_bps < IMP_RATE_MIN_BPS || sp->rate_bps > IMP_RATE_MAX_BPS)))
			goto fail;
		d->spec.limit = d->limit;
		if (!(sp->has & IMP_HAS_SEED))
			d->spec.seed = default_seed;
		d->spec.has |= IMP_HAS_SEED;
		/* distinct streams per direction for one seed */
		d->rng = d->spec.seed ^ (0xd1b54a32d192ed03ull * (i + 1));
		imp_threshold(sp->loss_ppb, &d->loss_thr, &d->loss_all);
		imp_threshold(sp->dup_ppb, &d->dup_thr, &d->dup_all);
		imp_threshold(sp->corrupt_ppb, &d->corrupt_thr, &d->corrupt_all);
		imp_threshold(sp->reorder_ppb, &d->reorder_thr, &d->reorder_all);
		d->active = sp->loss_ppb || sp->dup_ppb || sp->corrupt_ppb || sp->reorder_ppb ||
			    sp->delay_ns || sp->jitter_ns || sp->rate_bps;
		if (!d->active)
			continue; /* never holds: no queue needed */
		d->heap = calloc(d->limit, sizeof(d->heap[0]));
		if (!d->heap)
			goto fail;
		if (sp->rate_bps && !(d->wire = calloc(d->limit, sizeof(d->wire[0]))))
			goto fail;
	}
	return c;
fail:
	imp_core_destroy(c);
	return NULL;
}

void imp_core_destroy(struct imp_core *c)
{
	if (!c)
		return;
	for (unsigned i = 0; i < c->n_dirs; i++) {
		free(c->dirs[i].heap);
		free(c->dirs[i].wire);
	}
	free(c);
}

static inline bool imp_before(const struct imp_ent *a, const struct imp_ent *b)
{
	return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

static inline uint32_t imp_queued(const struct imp_dir *d)
{
	return d->n_heap + d->n_wire + d->n_hold;
}

/* Caller checked imp_queued() < limit (or moves a packet already counted). */
static void imp_heap_push(struct imp_dir *d, uint64_t t, void *pkt, uint32_t len)
{
	struct imp_ent e = {.t = t, .seq = d->seq++, .pkt = pkt, .len = len};
	uint32_t i = d->n_heap++;
	while (i > 0) {
		uint32_t p = (i - 1) / 2;
		if (!imp_before(&e, &d->heap[p]))
			break;
		d->heap[i] = d->heap[p];
		i = p;
	}
	d->heap[i] = e;
}

static struct imp_ent imp_heap_pop(struct imp_dir *d)
{
	struct imp_ent top = d->heap[0];
	struct imp_ent last = d->heap[--d->n_heap];
	uint32_t i = 0, n = d->n_heap;
	for (;;) {
		uint32_t l = 2 * i + 1, m;
		if (l >= n)
			break;
		m = l + 1 < n && imp_before(&d->heap[l + 1], &d->heap[l]) ? l + 1 : l;
		if (!imp_before(&d->heap[m], &last))
			break;
		d->heap[i] = d->heap[m];
		i = m;
	}
	if (n)
		d->heap[i] = last;
	return top;
}

/* Serialisation time of len bytes; the sub-ns remainder carries over so the long-run rate is exact. */
static inline uint64_t imp_tx_ns(struct imp_dir *d, uint32_t len)
{
	uint64_t num = (uint64_t)len * 8u * 1000000000u + d->rate_rem;
	d->rate_rem = num % d->spec.rate_bps;
	return num / d->spec.rate_bps;
}

/* Put a packet on the wire at time t: it leaves when it and everything before it is serialised. */
static uint64_t imp_wire_push(struct imp_dir *d, uint64_t t, void *pkt, uint32_t len)
{
	if (d->rate_next > t)
		t = d->rate_next;
	t += imp_tx_ns(d, len);
	d->rate_next = t;
	d->wire[(d->wire_head + d->n_wire) % d->limit] = (struct imp_wire){.t = t, .pkt = pkt};
	d->n_wire++;
	return t;
}

/* Move what left the delay stage by `now` onto the wire, each at its own time. */
static void imp_advance(struct imp_dir *d, uint64_t now)
{
	if (!d->wire)
		return;
	while (d->n_heap && d->heap[0].t <= now) {
		struct imp_ent e = imp_heap_pop(d);
		imp_wire_push(d, e.t, e.pkt, e.len);
	}
}

/* Delay stage: arrival + delay + uniform[-jitter, +jitter], not before arrival. */
static inline uint64_t imp_delay_stage(struct imp_dir *d, uint64_t now)
{
	uint64_t delay = d->spec.delay_ns, j = d->spec.jitter_ns;
	if (j) {
		uint64_t off = imp_uniform(&d->rng, 2 * j + 1); /* 0..2j */
		delay = delay + off >= j ? delay + off - j : 0;
	}
	return now + delay;
}

/*
 * Queue a packet that leaves the delay stage at t (>= now, the caller made
 * room). Returns when it is due, as far as known now: exact without a rate or
 * when it goes on the wire at once, else the end of its delay (a lower bound).
 */
static uint64_t imp_enqueue(struct imp_dir *d, uint64_t t, uint64_t now, void *pkt, uint32_t len)
{
	if (d->wire && t <= now)
		return imp_wire_push(d, now, pkt, len); /* imp_advance(now) ran first */
	imp_heap_push(d, t, pkt, len);
	return t;
}

/* Queue the packets held back by a delay=0 reorder right behind one that left the delay stage at t. */
static void imp_hold_flush(struct imp_dir *d, uint64_t t, uint64_t now)
{
	while (d->n_hold) {
		struct imp_held *h = &d->hold[d->hold_head];
		d->hold_head = (d->hold_head + 1) % IMP_HOLD_MAX;
		d->n_hold--;
		imp_enqueue(d, t, now, h->pkt, h->len); /* its slot was counted while held */
	}
}

void imp_core_packet(struct imp_core *c, unsigned dir, uint64_t now, uint32_t len, uint32_t payload_len,
		     unsigned flags, void *pkt, struct imp_verdict *v)
{
	struct imp_dir *d;
	bool copy = flags & IMP_F_COPY, reorder, corrupt;
	uint64_t t;

	memset(v, 0, sizeof(*v));
	v->action = IMP_PASS;
	v->release_ns = now;
	if (dir >= c->n_dirs)
		return;
	d = &c->dirs[dir];
	if (!copy)
		d->st.in++;
	if (!d->active) {
		/* no queue here (a copy cannot come from such a direction) */
		if (copy) {
			v->action = IMP_DROP;
			v->overlimit = true;
		}
		return;
	}

	/* Draw everything first: the stream of draws depends only on the spec. */
	if (!copy && imp_chance(d, d->loss_thr, d->loss_all, d->spec.loss_ppb)) {
		d->st.lost++;
		v->action = IMP_DROP;
		return;
	}
	v->dup = !copy && imp_chance(d, d->dup_thr, d->dup_all, d->spec.dup_ppb);
	corrupt = imp_chance(d, d->corrupt_thr, d->corrupt_all, d->spec.corrupt_ppb);
	if (corrupt && payload_len > 0) {
		v->corrupt = true;
		v->corrupt_bit = (uint32_t)imp_uniform(&d->rng, (uint64_t)payload_len * 8);
	}
	reorder = !copy && imp_chance(d, d->reorder_thr, d->reorder_all, d->spec.reorder_ppb);
	imp_advance(d, now); /* the wire's order up to now is settled before anything joins it */

	if (reorder && d->spec.delay_ns > 0) {
		/* netem: skip the delay queue, overtaking the delayed packets; the link's rate still holds */
		v->reordered = true;
		if (d->wire) {
			if (imp_queued(d) >= d->limit)
				goto overlimit;
			v->action = IMP_HOLD;
			v->release_ns = imp_wire_push(d, now, pkt, len);
		}
		goto accept;
	}
	if (reorder && d->n_hold < IMP_HOLD_MAX) {
		/* delay=0: wait behind the next packet that is not held */
		if (imp_queued(d) >= d->limit)
			goto overlimit;
		struct imp_held *h = &d->hold[(d->hold_head + d->n_hold) % IMP_HOLD_MAX];
		h->pkt = pkt;
		h->len = len;
		h->since = now;
		d->n_hold++;
		v->reordered = true;
		v->action = IMP_HOLD;
		v->release_ns = d->hold[d->hold_head].since + IMP_HOLD_NS;
		goto accept;
	}

	t = imp_delay_stage(d, now);
	if (t <= now && !d->wire && !copy) {
		/* leaves now; anything held back goes right after it */
		imp_hold_flush(d, now, now);
		goto accept;
	}
	if (imp_queued(d) >= d->limit)
		goto overlimit;
	v->action = IMP_HOLD;
	v->release_ns = imp_enqueue(d, t, now, pkt, len);
	if (v->release_ns > now)
		d->st.delayed++;
	imp_hold_flush(d, t, now);
accept:
	/* counted only for packets that go on */
	d->st.dup += v->dup;
	d->st.corrupt += v->corrupt;
	d->st.reordered += v->reordered;
	return;
overlimit:
	d->st.overlimit++;
	memset(v, 0, sizeof(*v));
	v->action = IMP_DROP;
	v->overlimit = true;
	v->release_ns = now;
}

unsigned imp_core_release(struct imp_core *c, uint64_t now, void **pkts, uint64_t *due, unsigned max)
{
	unsigned n = 0;

	for (unsigned k = 0; k < c->n_dirs && n < max; k++) {
		struct imp_dir *d = &c->dirs[(c->rr + k) % c->n_dirs];
		imp_advance(d, now);
		if (d->n_hold && now >= d->hold[d->hold_head].since + IMP_HOLD_NS)
			imp_hold_flush(d, now, now); /* nothing came to overtake them */
		if (d->wire) {
			while (n < max && d->n_wire && d->wire[d->wire_head].t <= now) {
				if (due)
					due[n] = d->wire[d->wire_head].t;
				pkts[n++] = d->wire[d->wire_head].pkt;
				d->wire_head = (d->wire_head + 1) % d->limit;
				d->n_wire--;
			}
			continue;
		}
		while (n < max && d->n_heap && d->heap[0].t <= now) {
			struct imp_ent e = imp_heap_pop(d);
			if (due)
				due[n] = e.t;
			pkts[n++] = e.pkt;
		}
	}
	c->rr = (c->rr + 1) % c->n_dirs;
	return n;
}

uint64_t imp_core_next_ns(const struct imp_core *c)
{
	uint64_t t = UINT64_MAX;
	for (unsigned i = 0; i < c->n_dirs; i++) {
		const struct imp_dir *d = &c->dirs[i];
		/* with a rate, the end of a delay is when a packet joins the wire: early, never late */
		if (d->n_heap && d->heap[0].t < t)
			t = d->heap[0].t;
		if (d->n_wire && d->wire[d->wire_head].t < t)
			t = d->wire[d->wire_head].t;
		if (d->n_hold && d->hold[d->hold_head].since + IMP_HOLD_NS < t)
			t = d->hold[d->hold_head].since + IMP_HOLD_NS;
	}
	return t;
}

unsigned imp_core_drain(struct imp_core *c, void **pkts, unsigned max)
{
	unsigned n = 0;
	for (unsigned i = 0; i < c->n_dirs && n < max; i++) {
		struct imp_dir *d = &c->dirs[i];
		while (n < max && d->n_wire) {
			pkts[n++] = d->wire[d->wire_head].pkt;
			d->wire_head = (d->wire_head + 1) % d->limit;
			d->n_wire--;
		}
		while (n < max && d->n_heap)
			pkts[n++] = imp_heap_pop(d).pkt;
		while (n < max && d->n_hold) {
			pkts[n++] = d->hold[d->hold_head].pkt;
			d->hold_head = (d->hold_head + 1) % IMP_HOLD_MAX;
			d->n_hold--;
		}
	}
	return n;
}

unsigned imp_core_held(const struct imp_core *c)
{
	unsigned n = 0;
	for (unsigned i = 0; i < c->n_dirs; i++)
		n += imp_queued(&c->dirs[i]);
	return n;
}

unsigned imp_core_dirs(const struct imp_core *c)
{
	return c->n_dirs;
}

struct imp_stats *imp_core_stats(struct imp_core *c, unsigned dir)
{
	return dir < c->n_dirs ? &c->dirs[dir].st : NULL;
}

const struct imp_spec *imp_core_spec(const struct imp_core *c, unsigned dir)
{
	return dir < c->n_dirs ? &c->dirs[dir].spec : NULL;
}
