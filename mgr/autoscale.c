/* SPDX-License-Identifier: MIT */
/*
 * Auto-scaling policy per service (services[].scale in the config): scale out
 * by one instance when, over a window of out_after_ms, the most loaded
 * instance's receive ring was on average at least out_occupancy_pct full (an
 * overloaded instance counting as full); scale in by one after in_idle_ms
 * without a packet; always within [min, max]. Runs on the control thread.
 */
#include <errno.h>
#include <stdlib.h>

#include <rte_ring.h>

#include "bulkhead/log.h"
#include "mgr/mgr.h"

struct mgr_autoscale {
	uint64_t win_start, win_sum, win_n; /* occupancy samples of the current window */
	uint64_t idle_since, last_rx;
};

int mgr_autoscale_init(struct mgr *m)
{
	m->autoscale = calloc(m->st->max_services, sizeof(*m->autoscale));
	return m->autoscale ? 0 : -ENOMEM;
}

void mgr_autoscale_fini(struct mgr *m)
{
	free(m->autoscale);
	m->autoscale = NULL;
}

void mgr_autoscale_tick(struct mgr *m)
{
	struct bh_state *st = m->st;
	uint64_t now = mgr_now_ns();

	for (unsigned svc = 0; svc < m->cfg.n_services; svc++) {
		const struct mgr_scale_conf *sc = &m->cfg.services[svc].scale;
		struct mgr_autoscale *a = &m->autoscale[svc];
		unsigned n = 0, worst = 0;
		uint64_t rx = 0;
		char err[128];

		if (!sc->on)
			continue;
		for (unsigned i = 0; i < st->max_nfs; i++) {
			struct bh_nf_slot *s = &st->nfs[i];
			if (s->service != svc || atomic_load(&s->state) != BH_SLOT_RUNNING)
				continue;
			/* An overloaded instance is held between its water marks by
			 * backpressure: its demand is more than its ring shows. */
			unsigned occ = atomic_load(&s->overloaded)
					       ? 100
					       : rte_ring_count(s->rx) * 100 / rte_ring_get_capacity(s->rx);
			worst = occ > worst ? occ : worst;
			rx += s->c.rx_pkts;
			n++;
		}
		if (n == 0 || m->pending_spawn[svc]) {
			a->win_start = 0; /* nothing to scale from, or a change under way */
			continue;
		}
		if (!a->win_start) {
			a->win_start = now;
			a->win_sum = a->win_n = 0;
		}
		a->win_sum += worst;
		a->win_n++;
		int busy = 0;
		if (now - a->win_start >= sc->out_after_ms * 1000000ull) {
			busy = a->win_sum >= (uint64_t)sc->out_occupancy_pct * a->win_n;
			a->win_start = 0;
		}
		int idle = rx == a->last_rx;
		a->idle_since = idle ? (a->idle_since ? a->idle_since : now) : 0;
		a->last_rx = rx;

		unsigned want = n;
		if (n < sc->min)
			want = sc->min;
		else if (busy && n < sc->max)
			want = n + 1;
		else if (a->idle_since && now - a->idle_since >= sc->in_idle_ms * 1000000ull && n > sc->min)
			want = n - 1;
		if (want == n)
			continue;
		bh_log(BH_LOG_INFO, "autoscale '%s': %u -> %u (%s)", st->services[svc].name, n, want,
		       busy ? "rings stayed full" : idle ? "idle" : "below min");
		if (mgr_service_scale(m, st->services[svc].name, want, err, sizeof(err)) < 0)
			bh_log(BH_LOG_WARN, "autoscale '%s': %s", st->services[svc].name, err);
		/* Give the change time to act before judging again. */
		a->win_start = 0;
		a->idle_since = want < n ? now : 0;
	}
}
