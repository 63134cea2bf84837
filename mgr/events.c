/* SPDX-License-Identifier: MIT */
/*
 * Platform events (NF started, stopped, crashed, scaled ...): a ring of the last
 * MGR_EVENTS_KEEP, numbered, that API clients read or follow (server-sent
 * events). Any thread may post; readers wait on a condition variable.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bulkhead/log.h"
#include "mgr/mgr.h"

#define MGR_EVENTS_KEEP 1024

struct mgr_event {
	uint64_t seq;
	double time;
	char type[16];
	char nf[BH_NAME_LEN];
	char service[BH_NAME_LEN];
	int nf_id, pid;
	char detail[160];
};

static struct mgr_event ev_ring[MGR_EVENTS_KEEP];
static uint64_t ev_next = 1; /* seq of the next event */
static pthread_mutex_t ev_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ev_cond;
static int ev_cond_ready;

void mgr_event_init(void)
{
	pthread_condattr_t a;
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&ev_cond, &a);
	pthread_condattr_destroy(&a);
	ev_cond_ready = 1;
}

void mgr_event(const char *type, const struct bh_nf_slot *s, const char *service, const char *fmt, ...)
{
	struct timespec ts;
	va_list ap;
	clock_gettime(CLOCK_REALTIME, &ts);
	pthread_mutex_lock(&ev_lock);
	struct mgr_event *e = &ev_ring[ev_next % MGR_EVENTS_KEEP];
	memset(e, 0, sizeof(*e));
	e->seq = ev_next++;
	e->time = (double)ts.tv_sec + ts.tv_nsec / 1e9;
	snprintf(e->type, sizeof(e->type), "%s", type);
	e->nf_id = s ? s->id : -1;
	e->pid = s ? s->pid : 0;
	if (s)
		snprintf(e->nf, sizeof(e->nf), "%s", s->name);
	snprintf(e->service, sizeof(e->service), "%s", service ? service : "");
	va_start(ap, fmt);
	vsnprintf(e->detail, sizeof(e->detail), fmt, ap);
	va_end(ap);
	if (ev_cond_ready)
		pthread_cond_broadcast(&ev_cond);
	pthread_mutex_unlock(&ev_lock);
}

static json_t *ev_json(const struct mgr_event *e)
{
	json_t *o = json_pack("{s:I, s:f, s:s, s:s, s:s, s:i, s:s}", "seq", (json_int_t)e->seq,
			      "time", e->time, "type", e->type, "nf", e->nf, "service", e->service,
			      "pid", e->pid, "detail", e->detail);
	json_object_set_new(o, "nf_id", e->nf_id >= 0 ? json_integer(e->nf_id) : json_null());
	return o;
}

json_t *mgr_events_since(uint64_t since, unsigned max, uint64_t *last)
{
	int before = mgr_json_oom; /* (a caller's failure is still the caller's) */
	mgr_json_oom = 0;
	json_t *a = json_array();
	pthread_mutex_lock(&ev_lock);
	uint64_t first = ev_next > MGR_EVENTS_KEEP ? ev_next - MGR_EVENTS_KEEP : 1;
	if (since + 1 > first)
		first = since + 1;
	if (ev_next - first > max)
		first = ev_next - max;
	for (uint64_t q = first; a && !mgr_json_oom && q < ev_next; q++)
		json_array_append_new(a, ev_json(&ev_ring[q % MGR_EVENTS_KEEP]));
	*last = ev_next - 1;
	pthread_mutex_unlock(&ev_lock);
	if (mgr_json_oom) { /* all or nothing, so that no event is skipped */
		json_decref(a);
		return NULL;
	}
	mgr_json_oom = before;
	return a;
}

int mgr_events_wait(uint64_t after, unsigned timeout_ms)
{
	struct timespec ts;
	int more;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&ev_lock);
	while (!(more = ev_next - 1 > after))
		if (pthread_cond_timedwait(&ev_cond, &ev_lock, &ts))
			break;
	more = ev_next - 1 > after;
	pthread_mutex_unlock(&ev_lock);
	return more;
}
