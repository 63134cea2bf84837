/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the impairment core: spec parsing, the statistics of the random
 * impairments, delay/jitter bounds, rate, queue limit, reordering and seeding,
 * all over simulated time. Packets are fake pointers (ids); every test checks
 * that each packet it handed in came back exactly once.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "impair_core.h"
#include "tests/unit/bh_test.h"

#define MS 1000000ull
#define US 1000ull
#define SEC 1000000000ull

static void *pkt_of(uint64_t id) { return (void *)(uintptr_t)(id + 1); }
static uint64_t id_of(void *p) { return (uint64_t)(uintptr_t)p - 1; }

static struct imp_spec spec_of(const char *s)
{
	struct imp_spec sp;
	char err[IMP_ERR_LEN];
	if (imp_spec_parse(s, &sp, err, sizeof(err)) != 0) {
		fprintf(stderr, "FAIL: spec '%s' did not parse: %s\n", s, err);
		bh_test_failed++;
		memset(&sp, 0, sizeof(sp));
	}
	return sp;
}

static struct imp_core *core_of(const char *s)
{
	struct imp_spec sp = spec_of(s);
	struct imp_core *c = imp_core_create(&sp, 1, 1);
	CHECK(c != NULL);
	if (!c)
		exit(1);
	return c;
}

static int within(const char *what, double got, double want, double tol)
{
	int ok = got >= want - tol && got <= want + tol;
	printf("  %-42s %8.4f%%  (want %.2f%% +- %.2f%%)%s\n", what, got * 100, want * 100, tol * 100,
	       ok ? "" : "  <-- OUT OF TOLERANCE");
	return ok;
}

/* ---------------------------------------------------------------- parsing */

static void test_parse_good(void)
{
	struct imp_spec sp = spec_of("loss=1%,delay=10ms,jitter=2ms,reorder=0.5%,dup=5%,corrupt=0.1%,"
				     "rate=10mbit,limit=50,seed=42");
	CHECK_EQ(sp.loss_ppb, 10000000);
	CHECK_EQ(sp.delay_ns, 10 * MS);
	CHECK_EQ(sp.jitter_ns, 2 * MS);
	CHECK_EQ(sp.reorder_ppb, 5000000);
	CHECK_EQ(sp.dup_ppb, 50000000);
	CHECK_EQ(sp.corrupt_ppb, 1000000);
	CHECK_EQ(sp.rate_bps, 10000000);
	CHECK_EQ(sp.limit, 50);
	CHECK_EQ(sp.seed, 42);
	CHECK_EQ(sp.has, IMP_HAS_LOSS | IMP_HAS_DELAY | IMP_HAS_JITTER | IMP_HAS_REORDER | IMP_HAS_DUP |
				 IMP_HAS_CORRUPT | IMP_HAS_RATE | IMP_HAS_LIMIT | IMP_HAS_SEED);

	CHECK_EQ(spec_of("delay=1.5ms").delay_ns, 1500 * US);
	CHECK_EQ(spec_of("delay=250us").delay_ns, 250 * US);
	CHECK_EQ(spec_of("delay=2s").delay_ns, 2 * SEC);
	CHECK_EQ(spec_of("delay=0.000001s").delay_ns, 1000);
	CHECK_EQ(spec_of("delay=0ms").delay_ns, 0);
	CHECK_EQ(spec_of("rate=64kbit").rate_bps, 64000);
	CHECK_EQ(spec_of("rate=2.5gbit").rate_bps, 2500000000ull);
	CHECK_EQ(spec_of("rate=1500bit").rate_bps, 1500);
	CHECK_EQ(spec_of("rate=1000gbit").rate_bps, 1000000000000ull);
	CHECK_EQ(spec_of("loss=100%").loss_ppb, IMP_PPB_ONE);
	CHECK_EQ(spec_of("loss=0%").loss_ppb, 0);
	CHECK_EQ(spec_of("loss=0.0000001%").loss_ppb, 1);
	CHECK_EQ(spec_of("limit=1048576").limit, 1048576);
	CHECK_EQ(spec_of("seed=18446744073709551615").seed, UINT64_MAX);
	CHECK_EQ(spec_of("delay=10ms,delay=20ms").delay_ns, 20 * MS); /* later item wins */

	/* format then parse gives the same spec */
	char buf[256];
	imp_spec_format(&sp, buf, sizeof(buf));
	CHECK(strcmp(buf, "loss=1% delay=10ms jitter=2ms reorder=0.5% dup=5% corrupt=0.1% "
			  "rate=10mbit limit=50 seed=42") == 0);
	for (char *p = buf; *p; p++)
		if (*p == ' ')
			*p = ',';
	struct imp_spec back = spec_of(buf);
	CHECK(memcmp(&back, &sp, sizeof(sp)) == 0);
	struct imp_spec none = {0};
	imp_spec_format(&none, buf, sizeof(buf));
	CHECK(strcmp(buf, "none") == 0);

	/* a port's spec overrides only the items it sets */
	struct imp_spec all = spec_of("loss=1%,delay=10ms"), port = spec_of("delay=5ms,dup=2%");
	struct imp_spec m = {0};
	imp_spec_merge(&m, &all);
	imp_spec_merge(&m, &port);
	CHECK_EQ(m.loss_ppb, 10000000);
	CHECK_EQ(m.delay_ns, 5 * MS);
	CHECK_EQ(m.dup_ppb, 20000000);
	CHECK_EQ(m.has, IMP_HAS_LOSS | IMP_HAS_DELAY | IMP_HAS_DUP);
}

static void test_parse_bad(void)
{
	static const struct {
		const char *spec, *must_contain;
	} bad[] = {
		{"", "empty"},
		{"loss=1%,,dup=1%", "empty item"},
		{"loss=1%,", "empty item"},
		{"loss", "loss"},
		{"loss=", "loss="},
		{"loss=1", "'%'"},
		{"loss=101%", "above 100%"},
		{"loss=100.0000001%", "above 100%"},
		{"loss=-1%", "number"},
		{"loss=1.2.3%", "loss=1.2.3%"},
		{"loss=0.00000001%", "decimals"},
		{"loss=1%%", "loss=1%%"},
		{"loss=1e2%", "loss=1e2%"},
		{"delay=10", "missing unit"},
		{"delay=10xs", "unknown unit"},
		{"delay=10 ms", "unknown unit"},
		{"delay=61s", "above 60s"},
		{"delay=99999999999999999999s", "too large"},
		{"delay=ms", "number"},
		{"delay=0.5ns", "resolution"},
		{"jitter=1min", "jitter=1min"},
		{"rate=10mbps", "unknown unit"},
		{"rate=10", "missing unit"},
		{"rate=0mbit", "below 1kbit"},
		{"rate=999bit", "below 1kbit"},
		{"rate=1001gbit", "above 1000gbit"},
		{"rate=0.5bit", "resolution"},
		{"limit=0", "at least 1"},
		{"limit=1048577", "above"},
		{"limit=abc", "whole number"},
		{"limit=10p", "whole number"},
		{"seed=-1", "whole number"},
		{"seed=18446744073709551616", "too large"},
		{"foo=1", "unknown item"},
		{"Loss=1%", "unknown item"},
		{"delay=10ms,bogus", "bogus"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct imp_spec sp;
		char err[IMP_ERR_LEN] = "";
		memset(&sp, 0x5a, sizeof(sp));
		int rc = imp_spec_parse(bad[i].spec, &sp, err, sizeof(err));
		CHECK_EQ(rc, -EINVAL);
		if (rc != -EINVAL || !strstr(err, bad[i].must_contain) || strchr(err, '\n'))
			fprintf(stderr, "  spec '%s' -> '%s' (wanted it to mention '%s')\n", bad[i].spec, err,
				bad[i].must_contain);
		CHECK(strstr(err, bad[i].must_contain) != NULL);
		CHECK(((unsigned char *)&sp)[0] == 0x5a); /* untouched on error */
	}
	/* an overlong spec is refused, not truncated */
	char big[1024];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	char err[IMP_ERR_LEN];
	struct imp_spec sp;
	CHECK_EQ(imp_spec_parse(big, &sp, err, sizeof(err)), -EINVAL);
}

/* ------------------------------------------------------------ simulation */

/* Drive a core like main.c does: copies are submitted for dup, due packets are released at every step. */
struct sim {
	struct imp_core *c;
	uint64_t next_id;
	uint64_t submitted, passed, released, dropped;
	uint64_t copies;
};

static void sim_release(struct sim *s, uint64_t now)
{
	void *out[64];
	unsigned n;
	while ((n = imp_core_release(s->c, now, out, NULL, 64)) > 0)
		s->released += n;
}

static void sim_packet(struct sim *s, uint64_t now, uint32_t len, struct imp_verdict *v)
{
	uint64_t id = s->next_id++;
	s->submitted++;
	imp_core_packet(s->c, 0, now, len, len > 14 ? len - 14 : 0, 0, pkt_of(id), v);
	if (v->action == IMP_PASS)
		s->passed++;
	else if (v->action == IMP_DROP)
		s->dropped++;
	if (v->action != IMP_DROP && v->dup) {
		struct imp_verdict cv;
		uint64_t cid = s->next_id++;
		s->submitted++;
		s->copies++;
		imp_core_packet(s->c, 0, now, len, len > 14 ? len - 14 : 0, IMP_F_COPY, pkt_of(cid), &cv);
		CHECK(cv.action != IMP_PASS);
		if (cv.action == IMP_DROP)
			s->dropped++;
	}
}

/* Let time run until everything held came out; checks nothing was lost inside. */
static void sim_finish(struct sim *s)
{
	uint64_t t;
	unsigned guard = 0;
	while ((t = imp_core_next_ns(s->c)) != UINT64_MAX && guard++ < 10000000)
		sim_release(s, t);
	CHECK_EQ(imp_core_held(s->c), 0);
	CHECK_EQ(s->passed + s->released + s->dropped, s->submitted);
	imp_core_destroy(s->c);
	s->c = NULL;
}

static void test_rates(void)
{
	struct sim s = {.c = core_of("loss=1%,dup=5%,corrupt=1%,reorder=5%,delay=10ms,limit=100000,seed=12345")};
	struct imp_verdict v;
	const uint64_t n = 100000;
	uint64_t now = 0, reordered_at_once = 0, other_early = 0;

	printf("rates over %llu packets:\n", (unsigned long long)n);
	for (uint64_t i = 0; i < n; i++, now += 10 * US) {
		sim_release(&s, now);
		sim_packet(&s, now, 1000, &v);
		if (v.reordered && v.action == IMP_PASS)
			reordered_at_once++;
		else if (v.action == IMP_HOLD && v.release_ns < now + 10 * MS)
			other_early++;
	}
	const struct imp_stats *st = imp_core_stats(s.c, 0);
	CHECK_EQ(st->in, n);
	double survivors = (double)(st->in - st->lost);
	CHECK(within("loss=1%", (double)st->lost / (double)st->in, 0.01, 0.002));
	CHECK(within("dup=5% (of survivors)", (double)st->dup / survivors, 0.05, 0.005));
	CHECK(within("corrupt=1% (of survivors + copies)", (double)st->corrupt / (survivors + (double)st->dup),
		     0.01, 0.002));
	CHECK(within("reorder=5% (of survivors)", (double)st->reordered / survivors, 0.05, 0.005));
	CHECK_EQ(st->dup, s.copies);
	CHECK_EQ(reordered_at_once, st->reordered); /* with delay, a reordered packet leaves at once */
	CHECK_EQ(other_early, 0);
	CHECK_EQ(st->overlimit, 0);
	CHECK_EQ(st->delayed + st->reordered, st->in - st->lost + st->dup);
	sim_finish(&s);

	/* other probabilities, with no delay: nothing is held */
	static const struct {
		const char *spec;
		double want, tol;
	} more[] = {
		{"loss=0.5%,seed=1", 0.005, 0.001},
		{"loss=25%,seed=2", 0.25, 0.01},
		{"loss=100%,seed=3", 1.0, 0.0},
		{"loss=0%,seed=4", 0.0, 0.0},
	};
	for (size_t k = 0; k < sizeof(more) / sizeof(more[0]); k++) {
		struct sim t = {.c = core_of(more[k].spec)};
		for (uint64_t i = 0; i < n; i++)
			sim_packet(&t, i * US, 100, &v);
		st = imp_core_stats(t.c, 0);
		CHECK(within(more[k].spec, (double)st->lost / (double)st->in, more[k].want, more[k].tol));
		CHECK_EQ(imp_core_held(t.c), 0);
		sim_finish(&t);
	}

	/* dup and corrupt at 100%: every packet, every copy */
	struct sim u = {.c = core_of("dup=100%,corrupt=100%,seed=5")};
	for (uint64_t i = 0; i < 1000; i++)
		sim_packet(&u, i * US, 100, &v);
	st = imp_core_stats(u.c, 0);
	CHECK_EQ(st->dup, 1000);
	CHECK_EQ(st->corrupt, 2000);
	CHECK_EQ(u.released, 0); /* copies wait for the next release */
	sim_finish(&u);
	CHECK_EQ(u.released, 1000);
}

static void test_corrupt_bits(void)
{
	struct imp_core *c = core_of("corrupt=100%,seed=9");
	struct imp_verdict v;
	static unsigned hits[800];
	unsigned bad = 0, zero_corrupted = 0;

	for (unsigned i = 0; i < 100000; i++) {
		imp_core_packet(c, 0, i, 114, 100, 0, pkt_of(i), &v);
		if (!v.corrupt || v.corrupt_bit >= 800)
			bad++;
		else
			hits[v.corrupt_bit]++;
		imp_core_packet(c, 0, i, 14, 0, 0, pkt_of(i), &v); /* nothing after L2 */
		zero_corrupted += v.corrupt;
	}
	CHECK_EQ(bad, 0);
	CHECK_EQ(zero_corrupted, 0);
	unsigned lo = UINT32_MAX, hi = 0;
	for (unsigned b = 0; b < 800; b++) {
		lo = hits[b] < lo ? hits[b] : lo;
		hi = hits[b] > hi ? hits[b] : hi;
	}
	/* 125 expected per bit; a missing or heavily favoured bit is a bug */
	CHECK(lo >= 70 && hi <= 190);
	CHECK_EQ(imp_core_stats(c, 0)->corrupt, 100000);
	imp_core_destroy(c);
}

/* Every packet is released no earlier than decided, at the step it becomes due, in time order. */
static void check_release_order(struct imp_core *c, const uint64_t *decided, uint64_t now, uint64_t step,
				uint64_t *last_due, uint64_t *count, unsigned *late, unsigned *early,
				unsigned *disorder)
{
	void *out[64];
	uint64_t due[64];
	unsigned n;
	while ((n = imp_core_release(c, now, out, due, 64)) > 0) {
		for (unsigned k = 0; k < n; k++) {
			uint64_t t = decided[id_of(out[k])];
			*early += t > now || due[k] != t;
			*late += now >= t + step;
			*disorder += t < *last_due;
			*last_due = t;
			(*count)++;
		}
	}
}

static void test_delay_jitter(void)
{
	const uint64_t n = 100000, step = 10 * US;
	uint64_t *due = calloc(n, sizeof(*due));
	struct imp_verdict v;
	uint64_t lo = UINT64_MAX, hi = 0, sum = 0, last = 0, count = 0, now = 0;
	unsigned outside = 0, late = 0, early = 0, disorder = 0, inversions = 0, not_held = 0;

	struct imp_core *c = core_of("delay=10ms,jitter=2ms,limit=100000,seed=77");
	for (uint64_t i = 0; i < n; i++, now += step) {
		check_release_order(c, due, now, step, &last, &count, &late, &early, &disorder);
		imp_core_packet(c, 0, now, 500, 486, 0, pkt_of(i), &v);
		not_held += v.action != IMP_HOLD;
		due[i] = v.release_ns;
		uint64_t d = v.release_ns - now;
		outside += d < 8 * MS || d > 12 * MS;
		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
		sum += d;
		if (i && due[i] < due[i - 1])
			inversions++;
	}
	for (uint64_t t; (t = imp_core_next_ns(c)) != UINT64_MAX; now = t > now + step ? t : now + step)
		check_release_order(c, due, now, step, &last, &count, &late, &early, &disorder);
	printf("delay=10ms jitter=2ms: min %.3f ms, mean %.3f ms, max %.3f ms; %u of %llu due before their predecessor\n",
	       lo / 1e6, (double)sum / (double)n / 1e6, hi / 1e6, inversions, (unsigned long long)n);
	CHECK_EQ(not_held, 0);
	CHECK_EQ(outside, 0);
	CHECK(lo < 8 * MS + 20 * US && hi > 12 * MS - 20 * US); /* the whole range is used */
	CHECK((double)sum / (double)n > 9.98e6 && (double)sum / (double)n < 10.02e6);
	CHECK(inversions > 0); /* jitter reorders, netem-like */
	CHECK_EQ(count, n);
	CHECK_EQ(early, 0);
	CHECK_EQ(late, 0);
	CHECK_EQ(disorder, 0);
	CHECK_EQ(imp_core_stats(c, 0)->delayed, n);
	CHECK_EQ(imp_core_held(c), 0);
	imp_core_destroy(c);

	/* no jitter: exact delay, FIFO */
	c = core_of("delay=3ms");
	count = 0, last = 0, now = 0, late = early = disorder = 0;
	unsigned wrong = 0, fifo = 0;
	uint64_t prev = 0;
	for (uint64_t i = 0; i < 10000; i++, now += step) {
		void *out[64];
		unsigned k;
		while ((k = imp_core_release(c, now, out, NULL, 64)) > 0)
			for (unsigned j = 0; j < k; j++, count++) {
				fifo += count && id_of(out[j]) != prev + 1;
				prev = id_of(out[j]);
			}
		imp_core_packet(c, 0, now, 60, 46, 0, pkt_of(i), &v);
		wrong += v.action != IMP_HOLD || v.release_ns != now + 3 * MS;
	}
	CHECK_EQ(wrong, 0);
	CHECK_EQ(fifo, 0);
	CHECK_EQ(imp_core_next_ns(c), now); /* the first not yet released: arrived at now - 3 ms */
	void *out[64];
	while (imp_core_drain(c, out, 64) > 0)
		;
	CHECK_EQ(imp_core_held(c), 0);
	imp_core_destroy(c);

	/* jitter larger than the delay: never before arrival */
	c = core_of("delay=1ms,jitter=5ms,seed=3");
	wrong = 0;
	unsigned passed = 0;
	for (uint64_t i = 0; i < 10000; i++) {
		imp_core_packet(c, 0, 1 * SEC + i * step, 60, 46, 0, pkt_of(i), &v);
		wrong += v.release_ns < 1 * SEC + i * step || v.release_ns > 1 * SEC + i * step + 6 * MS;
		passed += v.action == IMP_PASS;
		while (imp_core_release(c, 1 * SEC + i * step, out, NULL, 64) > 0)
			;
	}
	CHECK_EQ(wrong, 0);
	CHECK(passed > 3000 && passed < 5000); /* (5-1)/10 of the jitter range falls before arrival */
	while (imp_core_drain(c, out, 64) > 0)
		;
	imp_core_destroy(c);
	free(due);
}

/*
 * Offer `offered_bps` of packets (1000 bytes, or random 64..1500) to a core
 * limited to `rate_bps` and count the bytes whose departure falls in
 * [from, to). Checks that departures are never closer than a serialisation
 * time and that every packet comes out exactly once.
 */
static double run_rate(const char *spec, uint64_t rate_bps, uint64_t offered_bps, bool random_size,
		       uint64_t from, uint64_t to, uint64_t *overlimit, unsigned *too_fast)
{
	struct imp_core *c = core_of(spec);
	struct imp_verdict v;
	uint64_t rng = 42, now = 0, bytes = 0, prev_t = 0, n = 0, out_n = 0, passed = 0, dropped = 0;
	static uint32_t lens[4000000];
	void *out[64];
	uint64_t due[64];
	unsigned k;

	*too_fast = 0;
	while (now < to + SEC && n < 4000000) {
		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		uint32_t len = random_size ? 64 + (uint32_t)((rng >> 33) % 1437) : 1000;
		lens[n] = len;
		imp_core_packet(c, 0, now, len, len - 14, 0, pkt_of(n), &v);
		passed += v.action == IMP_PASS;
		dropped += v.action == IMP_DROP;
		n++;
		now += (uint64_t)len * 8 * SEC / offered_bps;
		while ((k = imp_core_release(c, now, out, due, 64)) > 0) {
			for (unsigned j = 0; j < k; j++, out_n++) {
				uint64_t id = id_of(out[j]), t = due[j];
				/* consecutive departures are at least a serialisation time apart */
				if (prev_t && (t < prev_t || t - prev_t + 1 < (uint64_t)lens[id] * 8 * SEC / rate_bps))
					(*too_fast)++;
				prev_t = t;
				if (t > now)
					(*too_fast)++; /* released before it was due */
				if (t >= from && t < to)
					bytes += lens[id];
			}
		}
	}
	*overlimit = imp_core_stats(c, 0)->overlimit;
	CHECK_EQ(passed, 0); /* with a rate, every packet waits for the link */
	CHECK_EQ(out_n + imp_core_held(c) + dropped, n);
	while (imp_core_drain(c, out, 64) > 0)
		;
	imp_core_destroy(c);
	return (double)bytes * 8 / ((double)(to - from) / SEC);
}

static void test_rate(void)
{
	uint64_t over;
	unsigned fast;
	double got;

	printf("rate:\n");
	/* 2x overload, 1000-byte packets, first second: 1250 packets of 800 us */
	got = run_rate("rate=10mbit", 10000000, 20000000, false, 0, SEC, &over, &fast);
	CHECK(within("10mbit, 2x offered, 1000 B (rel. err)", got / 10e6 - 1, 0, 0.02));
	CHECK(over > 0); /* the default limit of 1000 overflowed */
	CHECK_EQ(fast, 0);
	/* odd rate, random sizes, 2x overload, steady state */
	got = run_rate("rate=3.3mbit,limit=100000", 3300000, 6600000, true, SEC / 2, 3 * SEC / 2, &over, &fast);
	CHECK(within("3.3mbit, 2x offered, 64-1500 B (rel. err)", got / 3.3e6 - 1, 0, 0.02));
	CHECK_EQ(over, 0);
	CHECK_EQ(fast, 0);
	/* fast link, small packets */
	got = run_rate("rate=1gbit,limit=100000", 1000000000, 1500000000, true, SEC / 2, 3 * SEC / 2, &over, &fast);
	CHECK(within("1gbit, 1.5x offered, 64-1500 B (rel. err)", got / 1e9 - 1, 0, 0.02));
	CHECK_EQ(fast, 0);
	/* under load: everything gets through at the offered rate */
	got = run_rate("rate=10mbit", 10000000, 5000000, true, SEC / 2, 3 * SEC / 2, &over, &fast);
	CHECK(within("10mbit, 0.5x offered (rel. to offered)", got / 5e6 - 1, 0, 0.02));
	CHECK_EQ(over, 0);
	/* with delay, jitter and reordering in front of the link the rate still holds */
	got = run_rate("rate=10mbit,delay=10ms,jitter=3ms,reorder=10%,limit=100000,seed=8", 10000000, 20000000,
		       true, SEC / 2, 3 * SEC / 2, &over, &fast);
	CHECK(within("10mbit+delay+jitter+reorder=10%, 2x (rel. err)", got / 10e6 - 1, 0, 0.02));
	CHECK_EQ(fast, 0);

	/* an idle link gives no burst credit; a lone packet takes its serialisation time after the delay */
	struct imp_core *c = core_of("rate=8mbit,delay=1ms"); /* 1000 B: 1 ms */
	struct imp_verdict v;
	void *out[8];
	uint64_t due[8];
	imp_core_packet(c, 0, 5 * SEC, 1000, 986, 0, pkt_of(0), &v);
	CHECK(v.action == IMP_HOLD && v.release_ns == 5 * SEC + 1 * MS); /* lower bound: end of delay */
	imp_core_packet(c, 0, 5 * SEC, 1000, 986, 0, pkt_of(1), &v);
	CHECK_EQ(imp_core_next_ns(c), 5 * SEC + 1 * MS);
	CHECK_EQ(imp_core_release(c, 5 * SEC + 1 * MS, out, due, 8), 0); /* on the wire now */
	CHECK_EQ(imp_core_next_ns(c), 5 * SEC + 2 * MS);
	CHECK_EQ(imp_core_release(c, 5 * SEC + 2 * MS, out, due, 8), 1);
	CHECK(out[0] == pkt_of(0) && due[0] == 5 * SEC + 2 * MS);
	CHECK_EQ(imp_core_release(c, 6 * SEC, out, due, 8), 1);
	CHECK(out[0] == pkt_of(1) && due[0] == 5 * SEC + 3 * MS);
	imp_core_packet(c, 0, 9 * SEC, 500, 486, 0, pkt_of(2), &v);
	CHECK_EQ(imp_core_release(c, 10 * SEC, out, due, 8), 1);
	CHECK_EQ(due[0], 9 * SEC + 1 * MS + 500 * US);
	/* rate alone: the departure is known on arrival */
	imp_core_destroy(c);
	c = core_of("rate=8mbit");
	imp_core_packet(c, 0, 1 * SEC, 1000, 986, 0, pkt_of(0), &v);
	CHECK(v.action == IMP_HOLD && v.release_ns == 1 * SEC + 1 * MS);
	imp_core_packet(c, 0, 1 * SEC, 1000, 986, 0, pkt_of(1), &v);
	CHECK(v.action == IMP_HOLD && v.release_ns == 1 * SEC + 2 * MS);
	CHECK_EQ(imp_core_drain(c, out, 8), 2);
	imp_core_destroy(c);

	/* reorder with delay and a rate: a reordered packet overtakes the delay line, not the link */
	c = core_of("rate=8mbit,delay=20ms,reorder=100%"); /* every packet skips the delay */
	imp_core_packet(c, 0, 0, 1000, 986, 0, pkt_of(0), &v);
	CHECK(v.action == IMP_HOLD && v.reordered && v.release_ns == 1 * MS);
	imp_core_packet(c, 0, 0, 1000, 986, 0, pkt_of(1), &v);
	CHECK(v.action == IMP_HOLD && v.reordered && v.release_ns == 2 * MS);
	CHECK_EQ(imp_core_drain(c, out, 8), 2);
	imp_core_destroy(c);
}

static void test_reorder_delay_rate(void)
{
	/* under load the link is idle most of the time: reordered packets overtake the delayed ones */
	struct imp_core *c = core_of("rate=10mbit,delay=10ms,reorder=5%,limit=100000,seed=4");
	struct imp_verdict v;
	const uint64_t n = 20000;
	static bool reordered[20000];
	uint64_t max_seen = 0, n_out = 0, overtook = 0, behind = 0;
	void *out[64];
	unsigned k;

	for (uint64_t i = 0; i < n; i++) {
		uint64_t now = i * 2 * MS; /* 1000 B every 2 ms: 4 mbit */
		imp_core_packet(c, 0, now, 1000, 986, 0, pkt_of(i), &v);
		reordered[i] = v.reordered;
		while ((k = imp_core_release(c, now, out, NULL, 64)) > 0)
			for (unsigned j = 0; j < k; j++, n_out++) {
				uint64_t id = id_of(out[j]);
				if (reordered[id] && id > max_seen && n_out > 0)
					overtook += id - max_seen > 1; /* left before earlier arrivals */
				if (!reordered[id] && id < max_seen)
					behind++;
				max_seen = id > max_seen ? id : max_seen;
			}
	}
	while (imp_core_drain(c, out, 64) > 0)
		;
	const struct imp_stats *st = imp_core_stats(c, 0);
	CHECK(within("reorder=5% with delay and rate", (double)st->reordered / (double)n, 0.05, 0.005));
	CHECK(overtook > st->reordered * 9 / 10); /* ~5 delayed packets are in flight each time */
	CHECK(behind > 0);
	imp_core_destroy(c);
}

static void test_limit(void)
{
	struct imp_core *c = core_of("rate=1mbit,limit=10");
	struct imp_verdict v;
	unsigned held = 0, dropped = 0;
	for (unsigned i = 0; i < 50; i++) {
		imp_core_packet(c, 0, 0, 1000, 986, 0, pkt_of(i), &v);
		held += v.action == IMP_HOLD;
		dropped += v.action == IMP_DROP && v.overlimit;
	}
	CHECK_EQ(held, 10);
	CHECK_EQ(dropped, 40);
	CHECK_EQ(imp_core_stats(c, 0)->overlimit, 40);
	CHECK_EQ(imp_core_stats(c, 0)->delayed, 10);
	CHECK_EQ(imp_core_held(c), 10);
	/* after one packet left, one more fits */
	void *out[16];
	CHECK_EQ(imp_core_release(c, 8 * MS, out, NULL, 16), 1);
	imp_core_packet(c, 0, 8 * MS, 1000, 986, 0, pkt_of(50), &v);
	CHECK(v.action == IMP_HOLD);
	imp_core_packet(c, 0, 8 * MS, 1000, 986, 0, pkt_of(51), &v);
	CHECK(v.action == IMP_DROP && v.overlimit);
	CHECK_EQ(imp_core_stats(c, 0)->overlimit, 41);
	CHECK_EQ(imp_core_release(c, 88 * MS, out, NULL, 16), 10);
	CHECK_EQ(imp_core_held(c), 0);
	imp_core_destroy(c);

	/* a packet dropped for the limit counts as nothing else */
	c = core_of("rate=1mbit,limit=10,corrupt=100%,dup=100%");
	unsigned dups = 0;
	for (unsigned i = 0; i < 50; i++) {
		imp_core_packet(c, 0, 0, 1000, 986, 0, pkt_of(i), &v);
		CHECK(v.action == IMP_DROP ? !v.dup && !v.corrupt : v.dup && v.corrupt);
		dups += v.dup;
	}
	CHECK_EQ(imp_core_stats(c, 0)->overlimit, 40);
	CHECK_EQ(imp_core_stats(c, 0)->corrupt, 10);
	CHECK_EQ(imp_core_stats(c, 0)->dup, 10);
	CHECK_EQ(dups, 10);
	while (imp_core_drain(c, out, 16) > 0)
		;
	imp_core_destroy(c);

	/* the default limit is 1000 */
	c = core_of("delay=10ms");
	held = dropped = 0;
	for (unsigned i = 0; i < 1500; i++) {
		imp_core_packet(c, 0, i, 100, 86, 0, pkt_of(i), &v);
		held += v.action == IMP_HOLD;
		dropped += v.action == IMP_DROP;
	}
	CHECK_EQ(held, 1000);
	CHECK_EQ(dropped, 500);
	CHECK_EQ(imp_core_stats(c, 0)->overlimit, 500);
	while (imp_core_drain(c, out, 16) > 0)
		;
	imp_core_destroy(c);
}

static void test_reorder_hold(void)
{
	/* delay=0: a selected packet waits behind the next one */
	struct imp_core *c = core_of("reorder=5%,limit=100000,seed=31");
	struct imp_verdict v;
	uint64_t n = 100000;
	uint64_t *outq = calloc(n + 1000, sizeof(*outq));
	uint64_t n_out = 0, max_seen = 0, overtaken = 0, i;
	unsigned far = 0, lost = 0;
	void *out[64];
	unsigned k;

	/* run on until nothing is held, so every selected packet had a next one */
	for (i = 0; i < n || (imp_core_held(c) && i < n + 1000); i++) {
		uint64_t now = i * 10 * US;
		imp_core_packet(c, 0, now, 100, 86, 0, pkt_of(i), &v);
		if (v.action == IMP_PASS)
			outq[n_out++] = i; /* sent before the burst's released packets */
		while ((k = imp_core_release(c, now, out, NULL, 64)) > 0)
			for (unsigned j = 0; j < k; j++)
				outq[n_out++] = id_of(out[j]);
	}
	CHECK_EQ(imp_core_held(c), 0);
	CHECK_EQ(n_out, i);
	n = i;
	for (uint64_t j = 0; j < n_out; j++) {
		if (j && outq[j] < max_seen) {
			overtaken++;
			far += max_seen - outq[j] > 64; /* bounded by IMP_HOLD_MAX */
		}
		max_seen = outq[j] > max_seen ? outq[j] : max_seen;
	}
	uint64_t *seen = calloc(n + 1000, sizeof(*seen));
	for (uint64_t j = 0; j < n_out; j++)
		seen[outq[j]]++;
	for (uint64_t j = 0; j < n; j++)
		lost += seen[j] != 1;
	const struct imp_stats *st = imp_core_stats(c, 0);
	printf("reorder=5%% delay=0: %llu of %llu overtaken\n", (unsigned long long)overtaken,
	       (unsigned long long)n);
	CHECK(within("reorder=5% (delay=0, overtaken)", (double)overtaken / (double)n, 0.05, 0.005));
	CHECK_EQ(overtaken, st->reordered);
	CHECK_EQ(far, 0);
	CHECK_EQ(lost, 0);
	CHECK_EQ(st->delayed, 0);
	imp_core_destroy(c);
	free(outq);
	free(seen);

	/* with no next packet, a held one leaves after IMP_HOLD_NS */
	c = core_of("reorder=100%");
	imp_core_packet(c, 0, 1 * SEC, 100, 86, 0, pkt_of(0), &v);
	CHECK(v.action == IMP_HOLD && v.reordered);
	CHECK_EQ(v.release_ns, 1 * SEC + IMP_HOLD_NS);
	CHECK_EQ(imp_core_next_ns(c), 1 * SEC + IMP_HOLD_NS);
	CHECK_EQ(imp_core_release(c, 1 * SEC + IMP_HOLD_NS - 1, out, NULL, 64), 0);
	CHECK_EQ(imp_core_release(c, 1 * SEC + IMP_HOLD_NS, out, NULL, 64), 1);
	CHECK_EQ(imp_core_next_ns(c), UINT64_MAX);
	/* at 100% the hold ring fills, then the next packet leads them all out */
	for (unsigned i = 0; i < IMP_HOLD_MAX; i++) {
		imp_core_packet(c, 0, 2 * SEC, 100, 86, 0, pkt_of(i), &v);
		CHECK(v.action == IMP_HOLD);
	}
	imp_core_packet(c, 0, 2 * SEC, 100, 86, 0, pkt_of(IMP_HOLD_MAX), &v);
	CHECK(v.action == IMP_PASS && !v.reordered);
	unsigned got = 0, order = 0;
	while ((k = imp_core_release(c, 2 * SEC, out, NULL, 64)) > 0)
		for (unsigned j = 0; j < k; j++, got++)
			order += id_of(out[j]) != got;
	CHECK_EQ(got, IMP_HOLD_MAX);
	CHECK_EQ(order, 0);
	imp_core_destroy(c);

	/* delay=0 with a rate: held packets go through the rate right after the next one */
	c = core_of("reorder=100%,rate=8mbit"); /* 1000 B take 1 ms */
	for (unsigned i = 0; i < IMP_HOLD_MAX; i++)
		imp_core_packet(c, 0, 0, 1000, 986, 0, pkt_of(i), &v);
	imp_core_packet(c, 0, 0, 1000, 986, 0, pkt_of(IMP_HOLD_MAX), &v);
	CHECK(v.action == IMP_HOLD && !v.reordered);
	CHECK_EQ(v.release_ns, 1 * MS);
	got = order = 0;
	for (uint64_t t = 1 * MS; t <= (IMP_HOLD_MAX + 1) * MS; t += 1 * MS) {
		k = imp_core_release(c, t, out, NULL, 64);
		order += k != 1;
		if (k == 1)
			order += id_of(out[0]) != (t == 1 * MS ? IMP_HOLD_MAX : t / MS - 2);
		got += k;
	}
	CHECK_EQ(got, IMP_HOLD_MAX + 1);
	CHECK_EQ(order, 0);
	CHECK_EQ(imp_core_held(c), 0);
	imp_core_destroy(c);
}

static bool verdict_eq(const struct imp_verdict *a, const struct imp_verdict *b)
{
	return a->action == b->action && a->overlimit == b->overlimit && a->dup == b->dup &&
	       a->corrupt == b->corrupt && a->reordered == b->reordered && a->corrupt_bit == b->corrupt_bit &&
	       a->release_ns == b->release_ns;
}

static void test_seed(void)
{
	const char *spec = "loss=10%,dup=10%,corrupt=10%,reorder=10%,delay=1ms,jitter=500us,limit=100000";
	struct imp_spec sp = spec_of(spec);
	struct imp_spec two[2] = {sp, sp};
	two[0].seed = two[1].seed = 99;
	two[0].has |= IMP_HAS_SEED;
	two[1].has |= IMP_HAS_SEED;
	struct imp_core *a = imp_core_create(two, 2, 1), *b = imp_core_create(two, 2, 2);
	two[0].seed = two[1].seed = 100;
	struct imp_core *d = imp_core_create(two, 2, 1);
	unsigned same_ab = 0, same_ad = 0, same_dirs = 0;
	const unsigned n = 10000;
	void *out[64];

	for (unsigned i = 0; i < n; i++) {
		struct imp_verdict va, vb, vd, va1;
		imp_core_packet(a, 0, i * US, 200, 186, 0, pkt_of(i), &va);
		imp_core_packet(b, 0, i * US, 200, 186, 0, pkt_of(i), &vb);
		imp_core_packet(d, 0, i * US, 200, 186, 0, pkt_of(i), &vd);
		imp_core_packet(a, 1, i * US, 200, 186, 0, pkt_of(i), &va1);
		same_ab += verdict_eq(&va, &vb);
		same_ad += verdict_eq(&va, &vd);
		same_dirs += verdict_eq(&va, &va1);
	}
	CHECK_EQ(same_ab, n);     /* same seed: same decisions (default seed differs, unused) */
	CHECK(same_ad < n / 2);   /* other seed: other decisions */
	CHECK(same_dirs < n / 2); /* each direction has its own stream */
	CHECK_EQ(memcmp(imp_core_stats(a, 0), imp_core_stats(b, 0), sizeof(struct imp_stats)), 0);
	while (imp_core_drain(a, out, 64) > 0)
		;
	while (imp_core_drain(b, out, 64) > 0)
		;
	while (imp_core_drain(d, out, 64) > 0)
		;
	imp_core_destroy(a);
	imp_core_destroy(b);
	imp_core_destroy(d);

	/* without seed=, the caller's default is used and reported */
	struct imp_core *c = core_of("loss=1%");
	CHECK_EQ(imp_core_spec(c, 0)->seed, 1);
	CHECK(imp_core_spec(c, 0)->has & IMP_HAS_SEED);
	imp_core_destroy(c);
}

static void test_misc(void)
{
	struct imp_spec sp[3] = {{0}};
	struct imp_verdict v;
	void *out[4];

	CHECK(imp_core_create(sp, 0, 1) == NULL);
	CHECK(imp_core_create(sp, IMP_MAX_DIRS + 1, 1) == NULL);
	sp[1] = spec_of("delay=1ms");
	struct imp_core *c = imp_core_create(sp, 3, 1);
	CHECK_EQ(imp_core_dirs(c), 3);
	/* a direction with nothing configured passes and counts */
	imp_core_packet(c, 0, 0, 100, 86, 0, pkt_of(0), &v);
	CHECK(v.action == IMP_PASS);
	CHECK_EQ(imp_core_stats(c, 0)->in, 1);
	/* an unknown direction passes */
	imp_core_packet(c, 7, 0, 100, 86, 0, pkt_of(0), &v);
	CHECK(v.action == IMP_PASS);
	CHECK(imp_core_stats(c, 7) == NULL);
	/* directions are independent */
	imp_core_packet(c, 1, 0, 100, 86, 0, pkt_of(1), &v);
	CHECK(v.action == IMP_HOLD && v.release_ns == 1 * MS);
	CHECK_EQ(imp_core_stats(c, 1)->in, 1);
	CHECK_EQ(imp_core_release(c, 1 * MS, out, NULL, 4), 1);
	CHECK(out[0] == pkt_of(1));
	imp_core_destroy(c);
}

int main(void)
{
	test_parse_good();
	test_parse_bad();
	test_rates();
	test_corrupt_bits();
	test_delay_jitter();
	test_rate();
	test_reorder_delay_rate();
	test_limit();
	test_reorder_hold();
	test_seed();
	test_misc();
	return bh_test_summary("impair");
}
