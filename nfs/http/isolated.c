/* SPDX-License-Identifier: MIT */
/*
 * The isolated design of the HTTP NF (docs/isolation.md, "The isolated HTTP
 * server"): this process accepts TCP connections and moves their bytes
 * between its sockets and the channels of sandboxed worker processes
 * (workers/http), which do all the parsing. It never interprets a client's
 * bytes; what it reads from a worker (frames, file descriptors) it checks as
 * hostile input.
 *
 * Units: connection (a worker per connection), client (a worker per client
 * address, kept --worker-idle-ms after its last connection), pool:N (N
 * workers share every connection). Recycling: fresh (a worker that served
 * its unit gets its channel shut and exits) or scrub (its streams are closed
 * and it waits as a spare for the next unit).
 *
 * Workers come from the zygote (lib/iso), started ahead of demand; a
 * connection with no spare waits (its bytes stay in the TCP stack).
 *
 * Streams: each worker's are numbered in order and an id is never given to
 * it twice, so nothing the worker still has of a closed stream (its CLOSE
 * waiting for room, its output on the way) can meet a new connection.
 *
 * Flow per connection: client bytes -> DATA frames on its stream (while the
 * worker's ring has room; else the connection is not read: the client is
 * held back by its own window); the client's FIN -> EOF. Frames from the
 * worker: DATA -> written to the socket (the rest kept when the socket is
 * full, and the worker's next frame held back until it drained); FILE -> the
 * descriptor the worker passed is streamed from the file; LOG -> counters
 * and the access log; END -> close (or reset) once sent.
 *
 * Waking: a worker being waited on is polled every turn (the NF does not
 * sleep meanwhile); one that has gone to sleep has its channel armed, and
 * its next output writes the wake pipe, which wakes the NF through the
 * glue's waker thread (bh_tcp_nf_wake_add).
 *
 * Faults: the zygote reports every exit with its status; a worker that
 * crashed, hit a limit or a forbidden system call is counted by cause, and
 * each of its connections is reset if a response had started, answered 500
 * if a request was waiting, else closed. A worker that owes output for
 * longer than the header timeout plus 2 s, or that does not exit within 2 s
 * of its channel being shut, is killed (by the zygote, its parent, which
 * never mistakes a reused pid for it) and counted as hung. A shared worker
 * that leaves one connection's request unanswered as long, while it may be
 * answering its others, is not: that connection alone ends (500, or reset),
 * and the worker is told the stream is gone. A worker that owes output
 * and spends --worker-spin-ms of CPU meanwhile (a request sent it into a
 * loop) is killed then, without waiting for that, and counted as stopped
 * by a limit: on a CPU it shares with the NF, it slows every connection.
 * So is one that spends as much owing nothing, nothing given to it and
 * nothing taken from it meanwhile (it answered, then looped).
 *
 * Descriptors: one per live worker (its fd socket); the NF raises its
 * RLIMIT_NOFILE for the uid range where it may, and never has more workers
 * alive than it has descriptors for.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bulkhead/iso.h"
#include "http_nf.h"

#define HISO_PROG "bh-http"
#define HISO_GRACE_NS 2000000000ull /* hang allowance beyond the worker's own timeouts */
#define HISO_RUNNABLE_MAX_NS 30000000000ull /* exit allowance while it waits for a CPU */
#define HISO_MAX_INFLIGHT 256u      /* workers asked of the zygote and not yet come */
#define HISO_RELAY_BUDGET 64        /* frames per worker per turn */
#define HISO_FDS_PER_WORKER 1       /* its fd socket, here */
#define HISO_QUEUE_BYTES (64u << 20) /* workers' output queued behind busy connections, in all */
#define HISO_QUEUE_FILES 256u       /* passed files queued so, in all (each a descriptor) */
#define HISO_FULL_MAX_NS 1000000000ull /* queues full so long: a queue as still is reset */
#define HISO_SPIN_LOOK_NS 100000000ull /* owing so long: its CPU time is looked at */
#define HISO_SPIN_LOOKS 256u        /* workers whose CPU time is read per scan, at most, */
#define HISO_SPIN_IDLE_LOOKS 64u    /* ... and of those owing nothing */
_Static_assert(sizeof(((struct hsrv *)0)->buf) >= ISO_FRAME_MAX, "a frame's payload fits s->buf");

struct hworker {
	pid_t pid;
	uid_t uid;
	int sock;              /* our end of its fd socket */
	struct iso_chan *ch;
	/* The connections it serves, by their streams: ids given in order,
	 * never one it has had before (until 2^32 of them), so that a stream
	 * it still holds (its CLOSE found the ring full, or its output is
	 * still on the way) is never taken for a new connection's; at slot
	 * id & ids_mask, at most half full. */
	struct { uint32_t id; int fd; } *ids; /* fd -1: a free slot */
	uint32_t ids_mask, next_id;
	uint32_t n_conns;      /* the slots taken */
	uint32_t n_blocked;    /* of those, the ones whose input waits for room */
	uint32_t *closes;      /* streams whose CLOSE waits for room in its ring */
	uint32_t n_closes, cap_closes;
	uint32_t client_addr;  /* unit client: whose worker it is */
	int poll_idx;          /* in hiso.poll, or -1 */
	int all_idx;           /* in hiso.all */
	bool spare;            /* in the spare list */
	bool pooled;           /* one of the pool:N workers */
	bool retiring;         /* channel shut: waiting for it to exit */
	bool killed;           /* we killed it, cause counted */
	bool kill_sent;        /* the zygote has our request to kill it */
	bool held;             /* a frame is held back: the queues are full (HISO_QUEUE_*) */
	bool give_retry;       /* a WINDOW did not fit in its ring: try again */
	struct iso_frame held_f;
	uint8_t *held_buf;
	uint64_t owed_ns;      /* input given and no frame since; 0: nothing owed */
	uint32_t acts;         /* input given and frames taken, counted (spinning()) */
	uint64_t retire_ns, idle_since;
	struct hworker *next_spare;
	/* spinning (spinning()): its CPU clock, and the CPU time it had when
	 * first looked at owing what it owes since spin_owed, or (spin_owed
	 * 0) owing nothing since its spin_acts-th act */
	clockid_t cpu_clock;
	bool has_clock, spin_seen; /* spin_seen: a first look was taken */
	uint64_t spin_owed, spin_cpu0;
	uint32_t spin_acts;
};

struct hiso {
	/* the policy, as the options and the manager's file gave it (bulkhead/iso.h) */
	struct iso_service_policy p;
	/* state */
	struct iso_zygote *z;
	int wake_rd;              /* the wake pipe's read end (zygote and workers write) */
	char *argv[24];
	char argbuf[16][24];
	struct hworker **by_uid;  /* uid - uid_base -> worker */
	struct hworker **all;     /* every worker alive */
	uint32_t n_all;
	struct hworker **poll;    /* workers looked at every turn */
	uint32_t n_poll;
	struct iso_wake_batch wakes; /* workers owed a wake-up this turn: hiso_flush() */
	struct hworker *spare;    /* started and unused (LIFO) */
	uint32_t n_spare, inflight, n_pool;
	uint32_t max_workers;     /* alive at once: the uid range, or the descriptors */
	struct { int fd; uint32_t token; } *waitq; /* connections waiting for a worker (FIFO) */
	uint32_t wq_head, wq_len, wq_cap;
	uint32_t wait_token;      /* names a connection's place in the line */
	struct hworker **clients; /* unit client: open addressing by address */
	uint32_t clients_cap;
	uint64_t q_bytes;         /* DATA queued behind busy connections, in all */
	uint32_t q_files;         /* passed files queued so, in all */
	uint32_t n_held;          /* workers with a frame held back (hworker.held) */
	bool held_due;            /* room came back in the queues: look at them (hiso_step) */
	uint64_t full_ns;         /* since when the queues have been full (a frame held back,
				     and never under 3/4 of either bound since); 0: not */
	uint32_t spin_next;       /* in all[]: where the next scan's CPU looks begin, */
	uint32_t spin_idle_next;  /* ... and those at workers owing nothing */
};

/* A worker's output for a connection that is still sending what came
 * before it: DATA bytes (data), or a passed file (file >= 0). */
struct hq {
	struct hq *next;
	uint8_t *data;
	uint32_t len;
	int file;
	uint64_t off, left;
};

static struct hiso hiso_conf;
static bool hiso_pol_ready;

static struct iso_service_policy *hiso_policy(void)
{
	if (!hiso_pol_ready) {
		iso_policy_init(&hiso_conf.p);
		hiso_pol_ready = true;
	}
	return &hiso_conf.p;
}

/* Time from t to now; 0 if t is later (stamps taken during a turn are later
 * than the turn's own now). */
static uint64_t since(uint64_t now, uint64_t t)
{
	return now > t ? now - t : 0;
}

/* ---------------------------------------------------------------------- */
/* Options */

int hiso_policy_set(const char *name, const char *val, char *err, size_t errlen)
{
	int rc = iso_policy_set(hiso_policy(), name, val, err, errlen);
	if (rc == -ENOENT)
		snprintf(err, errlen, "'%s' is not an isolation option", name);
	return rc < 0 ? -EINVAL : 0;
}

int hiso_option(struct hsrv *s, const char *name, const char *val)
{
	char err[400];
	if (hiso_policy_set(name, val, err, sizeof(err)) < 0) {
		fprintf(stderr, HISO_PROG ": %s\n", err);
		return -EINVAL;
	}
	return 0;
}

bool hiso_wanted(const struct hsrv *s)
{
	return hiso_policy()->unit != ISO_UNIT_NONE;
}

/* ---------------------------------------------------------------------- */
/* Lists */

static void poll_add(struct hiso *h, struct hworker *w)
{
	if (w->poll_idx >= 0)
		return;
	iso_chan_disarm(w->ch);
	w->poll_idx = (int)h->n_poll;
	h->poll[h->n_poll++] = w;
}

static void poll_del(struct hiso *h, struct hworker *w)
{
	if (w->poll_idx < 0)
		return;
	struct hworker *last = h->poll[--h->n_poll];
	h->poll[w->poll_idx] = last;
	last->poll_idx = w->poll_idx;
	w->poll_idx = -1;
}

/* A new stream id for the connection fd, and the connection among w's. */
static int worker_add_conn(struct hworker *w, int fd, uint32_t *id)
{
	if ((w->n_conns + 1) * 2 > (w->ids ? w->ids_mask + 1 : 0)) {
		uint32_t cap = w->ids ? (w->ids_mask + 1) * 2 : 4;
		void *p = malloc(cap * sizeof(*w->ids));
		if (!p)
			return -ENOMEM;
		typeof(w->ids) ids = p;
		for (uint32_t i = 0; i < cap; i++)
			ids[i].fd = -1;
		/* live ids differ in their low bits, so in more of them too */
		for (uint32_t i = 0; w->ids && i <= w->ids_mask; i++)
			if (w->ids[i].fd >= 0)
				ids[w->ids[i].id & (cap - 1)] = w->ids[i];
		free(w->ids);
		w->ids = ids;
		w->ids_mask = cap - 1;
	}
	uint32_t i = w->next_id;
	while (w->ids[i & w->ids_mask].fd >= 0) /* at most half are taken */
		i++;
	w->ids[i & w->ids_mask].id = i;
	w->ids[i & w->ids_mask].fd = fd;
	w->next_id = i + 1;
	*id = i;
	w->n_conns++;
	return 0;
}

/* Whether c's input waits for room in its worker's ring (relay_in). */
static void set_blocked(struct hworker *w, struct hconn *c, bool blocked)
{
	if (c->in_blocked != blocked) {
		c->in_blocked = blocked;
		if (blocked)
			w->n_blocked++;
		else
			w->n_blocked--;
	}
}

/* The connection fd, c, leaves w. */
static void worker_del_conn(struct hworker *w, struct hconn *c, int fd)
{
	uint32_t id = c->stream;
	set_blocked(w, c, false);
	if (w->ids && w->ids[id & w->ids_mask].id == id && w->ids[id & w->ids_mask].fd == fd) {
		w->ids[id & w->ids_mask].fd = -1;
		w->n_conns--;
	}
}

/* The connection of w's stream slot i, or -1 for a free slot. */
static int worker_slot_fd(const struct hworker *w, uint32_t i)
{
	return w->ids && i <= w->ids_mask ? w->ids[i].fd : -1;
}

/* CLOSEs that found no room, sent as room comes (quietly: nothing to do at
 * once), oldest first. A stream's id is never given again (worker_add_conn),
 * so one told late cannot be taken for a newer. */
static void closes_flush(struct hworker *w)
{
	uint32_t k = 0;
	while (k < w->n_closes && iso_frame_send_quiet(w->ch, w->closes[k], ISO_F_CLOSE, 0, NULL, 0) == 0)
		k++;
	memmove(w->closes, w->closes + k, (w->n_closes - k) * sizeof(*w->closes));
	w->n_closes -= k;
}

/* A shared worker is told a stream is gone, now or once its ring has room;
 * out of memory, it is not, and forgets the stream at its own idle timeout. */
static void close_stream(struct hsrv *s, struct hworker *w, uint32_t stream)
{
	if (w->n_closes)
		closes_flush(w);
	if (!w->n_closes && iso_frame_send(w->ch, stream, ISO_F_CLOSE, 0, NULL, 0) == 0)
		return;
	if (w->n_closes == w->cap_closes) {
		uint32_t cap = w->cap_closes ? w->cap_closes * 2 : 8;
		uint32_t *p = realloc(w->closes, cap * sizeof(*p));
		if (!p)
			return;
		w->closes = p;
		w->cap_closes = cap;
	}
	w->closes[w->n_closes++] = stream;
	s->c[HTTP_C_closes_late]++;
}

static uint32_t client_slot(const struct hiso *h, uint32_t addr)
{
	return (addr * 2654435761u) & (h->clients_cap - 1);
}

/* A live worker of the client at addr with room for one more connection
 * (a client with more than --worker-conns at once has more than one). */
static struct hworker *client_find(struct hiso *h, uint32_t addr)
{
	for (uint32_t i = client_slot(h, addr), k = 0; k < h->clients_cap;
	     k++, i = (i + 1) & (h->clients_cap - 1)) {
		struct hworker *w = h->clients[i];
		if (!w)
			return NULL;
		if (w->client_addr == addr && !w->retiring && !w->killed &&
		    w->n_conns < h->p.worker_conns)
			return w;
	}
	return NULL;
}

/* Rebuilds the table without w (deletion in open addressing). */
static void client_forget(struct hiso *h, struct hworker *w)
{
	for (uint32_t i = 0; i < h->clients_cap; i++)
		if (h->clients[i] == w) {
			h->clients[i] = NULL;
			/* re-place the run that follows */
			for (uint32_t j = (i + 1) & (h->clients_cap - 1); h->clients[j];
			     j = (j + 1) & (h->clients_cap - 1)) {
				struct hworker *x = h->clients[j];
				h->clients[j] = NULL;
				uint32_t k = client_slot(h, x->client_addr);
				while (h->clients[k])
					k = (k + 1) & (h->clients_cap - 1);
				h->clients[k] = x;
			}
			return;
		}
}

static void client_put(struct hiso *h, struct hworker *w)
{
	uint32_t k = client_slot(h, w->client_addr);
	while (h->clients[k])
		k = (k + 1) & (h->clients_cap - 1);
	h->clients[k] = w;
}

/* ---------------------------------------------------------------------- */
/* Workers */

/* Through the zygote, its parent: it kills the worker only while it has not
 * reaped it, so never a process that took a reused pid. */
static void kill_request(struct hiso *h, struct hworker *w)
{
	if (!w->kill_sent && h->z && iso_zygote_kill(h->z, w->pid) != -EAGAIN)
		w->kill_sent = true; /* else again at the next scan */
}

static void worker_kill(struct hsrv *s, struct hworker *w, int counter)
{
	if (w->killed)
		return;
	w->killed = true;
	s->c[counter]++;
	kill_request(s->iso, w);
}

/* Worker w's scheduler state from /proc/PID/status ('R' running or waiting
 * for a CPU, 'S' asleep, 'Z' exited and not yet reaped, ...), or 0 when no
 * process of that pid has its uid: it exited and was reaped, and the
 * zygote's report of it has yet to come. */
static char worker_state(const struct hworker *w)
{
	char path[40], buf[2048];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)w->pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	const char *st = strstr(buf, "\nState:\t"), *uid = strstr(buf, "\nUid:\t");
	if (!st || !uid || strtoul(uid + 6, NULL, 10) != w->uid)
		return 0;
	return st[8];
}

/* A worker whose channel was shut `late` ns ago and is still counted alive:
 * hung if it sleeps, or after HISO_RUNNABLE_MAX_NS; not yet if it is
 * runnable, exiting, or gone with its exit not yet reported. On a loaded
 * host, thousands of workers whose connections closed at once wait seconds
 * for a CPU to exit on, and the zygote reaps and reports them one by one.
 * (Its connection is gone: waiting costs nobody an answer.) */
/* Whether w has spent more than --worker-spin-ms of CPU since it was
 * first looked at owing what it owes (owed_ns), or, owing nothing, with
 * nothing given to it or taken from it since (acts): its CPU clock read
 * now; the first look only takes the count it starts from. A worker that
 * parses a request and answers spends microseconds, and one that owes
 * nothing sleeps; one that runs on is in a loop, and takes the CPU from
 * the NF and every other worker. */
static bool spinning(const struct hiso *h, struct hworker *w)
{
	struct timespec ts;
	if (clock_gettime(w->cpu_clock, &ts) < 0)
		return false; /* exited: its report is on its way */
	uint64_t cpu = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	if (!w->spin_seen || w->spin_owed != w->owed_ns || (!w->owed_ns && w->spin_acts != w->acts)) {
		w->spin_seen = true;
		w->spin_owed = w->owed_ns;
		w->spin_acts = w->acts;
		w->spin_cpu0 = cpu;
		return false;
	}
	/* 'R', of its uid: the pid is still the worker's, not reused */
	return cpu - w->spin_cpu0 > h->p.spin_ms * 1000000ull && worker_state(w) == 'R';
}

static bool exit_under_way(const struct hworker *w, uint64_t late)
{
	if (late > HISO_RUNNABLE_MAX_NS)
		return false;
	char st = worker_state(w);
	return st == 0 || st == 'R' || st == 'D' || st == 'Z' || st == 'X';
}

/* Its channel shut: a well-behaved worker exits 0. */
static void worker_retire(struct hsrv *s, struct hworker *w, uint64_t now)
{
	struct hiso *h = s->iso;
	if (w->retiring)
		return;
	w->retiring = true;
	w->retire_ns = now;
	if (h->p.unit == ISO_UNIT_CLIENT)
		client_forget(h, w);
	if (w->pooled) {
		w->pooled = false;
		h->n_pool--;
	}
	if (iso_chan_shutdown(w->ch) < 0)
		worker_kill(s, w, HTTP_C_worker_protocol_errors);
}

static void spare_push(struct hiso *h, struct hworker *w, uint64_t now)
{
	w->idle_since = now;
	w->spare = true;
	w->next_spare = h->spare;
	h->spare = w;
	h->n_spare++;
}

static struct hworker *spare_pop(struct hiso *h)
{
	struct hworker *w;
	while ((w = h->spare)) {
		h->spare = w->next_spare;
		h->n_spare--;
		w->spare = false;
		if (!w->retiring && !w->killed)
			return w;
	}
	return NULL;
}

static void spare_remove(struct hiso *h, struct hworker *w)
{
	for (struct hworker **p = &h->spare; *p; p = &(*p)->next_spare)
		if (*p == w) {
			*p = w->next_spare;
			h->n_spare--;
			w->spare = false;
			return;
		}
}

static void worker_free(struct hiso *h, struct hworker *w)
{
	poll_del(h, w);
	if (w->held)
		h->n_held--;
	if (w->spare)
		spare_remove(h, w);
	if (h->p.unit == ISO_UNIT_CLIENT)
		client_forget(h, w);
	if (w->pooled)
		h->n_pool--;
	struct hworker *last = h->all[--h->n_all];
	h->all[w->all_idx] = last;
	last->all_idx = w->all_idx;
	h->by_uid[w->uid - h->p.uid_base] = NULL;
	iso_chan_close(w->ch);
	close(w->sock);
	free(w->ids);
	free(w->closes);
	free(w->held_buf);
	free(w);
}

/* ---------------------------------------------------------------------- */
/* Connections */

/* Output of c's still to go: the rest of a frame, a file, the queue behind
 * them (which is never there without one of the first two). */
static bool out_pending(const struct hconn *c)
{
	return c->head || c->fleft || c->q;
}

static void set_events(struct bh_tcp *t, struct hsrv *s, int fd)
{
	struct hconn *c = &s->conns[fd];
	uint32_t ev = 0;
	if (c->w && !c->in_eof && !c->in_blocked && c->in_credit && !c->ended)
		ev |= EPOLLIN;
	if (out_pending(c))
		ev |= EPOLLOUT;
	if (c->iso_ev == ev)
		return;
	c->iso_ev = ev;
	hs_watch(t, s, fd, EPOLL_CTL_MOD, ev);
}

/* The connection fd, if `stream` still names a connection of w. */
static struct hconn *stream_conn(struct hsrv *s, struct hworker *w, uint32_t stream, int *fd)
{
	if (!w->ids || w->ids[stream & w->ids_mask].id != stream)
		return NULL;
	int i = w->ids[stream & w->ids_mask].fd;
	if (i < 0 || (uint32_t)i >= s->n_conns)
		return NULL;
	struct hconn *c = &s->conns[i];
	if (!c->open || c->w != w || c->stream != stream)
		return NULL;
	*fd = i;
	return c;
}

static void waitq_push(struct bh_tcp *t, struct hsrv *s, int fd);

static void conn_attach(struct bh_tcp *t, struct hsrv *s, struct hworker *w, int fd, uint64_t now)
{
	struct hiso *h = s->iso;
	struct hconn *c = &s->conns[fd];
	struct iso_open o = {.client_addr = c->client_addr, .client_port = c->client_port,
			     .local_port = s->port};
	c->waiting = false;
	if (worker_add_conn(w, fd, &c->stream) < 0) {
		s->c[HTTP_C_conn_errors]++;
		hs_conn_close(t, s, fd, true);
		return;
	}
	poll_add(h, w); /* before it hears of it (see relay_in); then armed once it sleeps */
	/* Quietly: the worker is woken by the connection's first bytes (or its
	 * end), which follow OPEN in the ring, rather than once for OPEN and
	 * again for them. Until then its timers do not run for it: a
	 * connection it has heard nothing of is timed out here (hiso_scan). */
	int rc = iso_frame_send_quiet(w->ch, c->stream, ISO_F_OPEN, 0, &o, sizeof(o));
	if (rc < 0)
		worker_del_conn(w, c, fd);
	if (rc == -EAGAIN) {
		/* a shared worker's ring is full: wait in line, try again */
		waitq_push(t, s, fd);
		return;
	}
	if (rc < 0) {
		s->c[HTTP_C_conn_errors]++;
		hs_conn_close(t, s, fd, true);
		return;
	}
	c->w = w;
	c->last_ns = now;
	c->in_credit = c->out_credit = ISO_WINDOW;
	w->idle_since = 0;
	if (h->p.unit == ISO_UNIT_CLIENT && !w->client_addr) {
		w->client_addr = c->client_addr;
		client_put(h, w);
	}
	set_events(t, s, fd);
}

/* The pool's least busy worker, if it has room for one more connection. */
static struct hworker *pool_pick(struct hiso *h)
{
	struct hworker *best = NULL;
	for (uint32_t i = 0; i < h->n_all; i++) {
		struct hworker *w = h->all[i];
		if (w->pooled && !w->retiring && !w->killed && (!best || w->n_conns < best->n_conns))
			best = w;
	}
	return best && best->n_conns < h->p.worker_conns ? best : NULL;
}

static struct hworker *pick_worker(struct hiso *h, struct hconn *c)
{
	struct hworker *w;
	switch (h->p.unit) {
	case ISO_UNIT_POOL: /* none with room: the connection waits */
		return pool_pick(h);
	case ISO_UNIT_CLIENT:
		w = client_find(h, c->client_addr);
		return w ? w : spare_pop(h);
	default:
		return spare_pop(h);
	}
}

void hiso_accepted(struct bh_tcp *t, struct hsrv *s, int fd, uint64_t now)
{
	struct hiso *h = s->iso;
	struct hconn *c = &s->conns[fd];
	c->iso_ev = 0; /* accept_all registered it with no events */
	struct hworker *w = pick_worker(h, c);
	if (w)
		conn_attach(t, s, w, fd, now);
	else
		waitq_push(t, s, fd);
}

/* No worker for it yet: it waits in line, and is not read meanwhile. */
static void waitq_push(struct bh_tcp *t, struct hsrv *s, int fd)
{
	struct hiso *h = s->iso;
	struct hconn *c = &s->conns[fd];
	if (h->wq_len == h->wq_cap) {
		uint32_t cap = h->wq_cap ? h->wq_cap * 2 : 64;
		void *q = malloc(cap * sizeof(*h->waitq));
		if (!q) {
			s->c[HTTP_C_conn_errors]++;
			hs_conn_close(t, s, fd, true);
			return;
		}
		for (uint32_t i = 0; i < h->wq_len; i++)
			memcpy((char *)q + i * sizeof(*h->waitq),
			       &h->waitq[(h->wq_head + i) % (h->wq_cap ? h->wq_cap : 1)],
			       sizeof(*h->waitq));
		free(h->waitq);
		h->waitq = q;
		h->wq_cap = cap;
		h->wq_head = 0;
	}
	c->waiting = true;
	c->stream = ++h->wait_token; /* no worker's: this place in line */
	uint32_t tail = (h->wq_head + h->wq_len++) % h->wq_cap;
	h->waitq[tail].fd = fd;
	h->waitq[tail].token = c->stream;
	if (!c->waited) {
		c->waited = true;
		s->c[HTTP_C_conns_waited]++;
	}
}

/* The next connection still waiting, or -1. */
static int waitq_pop(struct hsrv *s)
{
	struct hiso *h = s->iso;
	while (h->wq_len) {
		int fd = h->waitq[h->wq_head].fd;
		uint32_t token = h->waitq[h->wq_head].token;
		h->wq_head = (h->wq_head + 1) % h->wq_cap;
		h->wq_len--;
		if ((uint32_t)fd < s->n_conns && s->conns[fd].open && s->conns[fd].waiting &&
		    s->conns[fd].stream == token)
			return fd;
	}
	return -1;
}

/* ---------------------------------------------------------------------- */
/* Output queued behind a busy connection, and the credit given back */

/* Room in the queues: the workers that hold a frame back for want of it
 * are looked at again (relay_out) at the next turn, once however many
 * times room came. */
static void held_wake(struct hiso *h)
{
	if (h->n_held)
		h->held_due = true;
}

/* After the queues shrank: are they full no longer? */
static void queues_eased(struct hiso *h)
{
	if (h->q_files <= HISO_QUEUE_FILES / 4 * 3 && h->q_bytes <= HISO_QUEUE_BYTES / 4 * 3)
		h->full_ns = 0;
}

static void queue_free(struct hiso *h, struct hconn *c)
{
	if (c->q)
		held_wake(h);
	while (c->q) {
		struct hq *q = c->q;
		c->q = q->next;
		if (q->file >= 0) {
			close(q->file);
			h->q_files--;
		} else {
			h->q_bytes -= q->len;
		}
		free(q->data);
		free(q);
	}
	c->q_tail = NULL;
	c->q_cost = 0;
	queues_eased(h);
}

/* Queues a DATA payload (file < 0) or a passed file behind what c is
 * sending. Returns 1, 0 when the queues are full (the caller holds the
 * frame back: HISO_QUEUE_*), -1 out of memory. */
static int enqueue(struct hiso *h, struct hconn *c, const uint8_t *p, uint32_t n, int file,
		   uint64_t off, uint64_t left, uint64_t now)
{
	if (file < 0 ? h->q_bytes + n > HISO_QUEUE_BYTES : h->q_files >= HISO_QUEUE_FILES)
		return 0;
	struct hq *q = calloc(1, sizeof(*q));
	if (!q)
		return -1;
	q->file = file;
	if (file < 0) {
		if (!(q->data = malloc(n))) {
			free(q);
			return -1;
		}
		memcpy(q->data, p, n);
		q->len = n;
		h->q_bytes += n;
		c->q_cost += n;
	} else {
		q->off = off;
		q->left = left;
		h->q_files++;
		c->q_cost += ISO_WINDOW_FILE;
	}
	if (c->q_tail) {
		c->q_tail->next = q;
	} else {
		c->q = q;
		c->q_ns = now;
	}
	c->q_tail = q;
	return 1;
}

/* The next queued item becomes what c is sending. */
static void dequeue(struct hiso *h, struct hconn *c, uint64_t now)
{
	struct hq *q = c->q;
	held_wake(h);
	c->q_ns = now; /* the queue moved */
	if (!(c->q = q->next))
		c->q_tail = NULL;
	if (q->file >= 0) {
		c->file = q->file;
		c->foff = q->off;
		c->fleft = q->left;
		h->q_files--;
		c->q_cost -= ISO_WINDOW_FILE;
	} else {
		c->head = (char *)q->data; /* hs_send_pending frees it */
		c->head_off = 0;
		c->head_len = q->len;
		h->q_bytes -= q->len;
		c->q_cost -= q->len;
	}
	free(q);
	queues_eased(h);
}

/* Gives the worker credit back for what of c's output has left for the
 * client, once that makes half a window: what it used less what we still
 * hold (the unsent head, a file being streamed, the queue). */
static void give_back(struct hsrv *s, struct hconn *c)
{
	struct hworker *w = c->w;
	if (!w || c->ended || w->killed || w->retiring)
		return;
	uint64_t held = (uint64_t)c->q_cost + (c->head ? c->head_len - c->head_off : 0) +
			(c->file >= 0 && c->fleft ? ISO_WINDOW_FILE : 0);
	uint32_t used = ISO_WINDOW - c->out_credit;
	if (held >= used || used - held < ISO_WINDOW / 2)
		return;
	uint32_t inc = used - (uint32_t)held;
	/* Quietly: a worker that is not waiting for this credit (it sleeps
	 * with ISO_CHAN_QUIET when it is) finds it with the next request,
	 * rather than being switched to now for it. */
	int rc = iso_frame_send_quiet(w->ch, c->stream, ISO_F_WINDOW, 0, &inc, sizeof(inc));
	if (rc == 0) {
		c->out_credit += inc;
	} else if (rc == -EAGAIN) { /* its ring is full: again when it has read */
		w->give_retry = true;
		poll_add(s->iso, w);
	}
}

/* A connection that failed: counted, and reset. */
static void conn_fail(struct bh_tcp *t, struct hsrv *s, int fd)
{
	s->c[HTTP_C_conn_errors]++;
	hs_conn_close(t, s, fd, true);
}

/* Sends what c has pending, then its queue, in order. Returns 1 when all
 * of it went, 0 when the socket is full, -1 when the connection failed. */
static int conn_push(struct bh_tcp *t, struct hsrv *s, int fd, uint64_t now)
{
	struct hconn *c = &s->conns[fd];
	int rc = 1;
	for (;;) {
		if (c->head || c->fleft) { /* not the queue: that is next */
			rc = hs_send_pending(t, s, fd, now);
			if (rc != 1)
				break;
		}
		if (!c->q)
			break;
		dequeue(s->iso, c, now);
	}
	if (rc >= 0)
		give_back(s, c);
	return rc;
}

/* Nothing more comes for c (it has no worker): what it has pending goes,
 * then it closes; with the socket full it waits for room (hiso_serve). */
static void conn_finish(struct bh_tcp *t, struct hsrv *s, int fd, uint64_t now)
{
	int rc = conn_push(t, s, fd, now);
	if (rc < 0)
		conn_fail(t, s, fd);
	else if (rc == 1)
		hs_conn_close(t, s, fd, false);
	else
		set_events(t, s, fd);
}

/* Called by hs_conn_close() before the connection's state is cleared. */
void hiso_conn_gone(struct hsrv *s, struct hconn *c)
{
	struct hiso *h = s->iso;
	struct hworker *w = c->w;
	c->waiting = false;
	queue_free(h, c);
	if (!w)
		return;
	c->w = NULL;
	worker_del_conn(w, c, (int)(c - s->conns));
	if (w->retiring || w->killed)
		return;
	if (w->held && w->held_f.stream == c->stream)
		poll_add(h, w); /* the frame it held back is dropped (relay_out) */
	uint64_t now = bh_tcp_nf_now();
	/* Unless it ended the stream itself, the worker still has it: a pool
	 * or client worker is told now or once its ring has room; a worker of
	 * one connection with no room to be told is retired. */
	bool told = c->ended;
	switch (h->p.unit) {
	case ISO_UNIT_POOL:
		if (!told)
			close_stream(s, w, c->stream);
		return;
	case ISO_UNIT_CLIENT:
		if (!told)
			close_stream(s, w, c->stream);
		if (!w->n_conns)
			w->idle_since = now; /* kept for the client's next connection */
		return;
	default:
		told = told || iso_frame_send(w->ch, c->stream, ISO_F_CLOSE, 0, NULL, 0) == 0;
		/* scrub: back among the spares for the next connection (the
		 * surplus beyond --spares leaves after --worker-idle-ms unused) */
		if (h->p.scrub && told && !w->held) {
			w->owed_ns = 0;
			w->acts++;
			poll_del(h, w);
			spare_push(h, w, now);
		} else {
			worker_retire(s, w, now);
		}
	}
}

/* The connection fd leaves its worker, and ends: a 500 if a request is
 * waiting for an answer, then a close once what is queued has gone. */
static void conn_orphan(struct bh_tcp *t, struct hsrv *s, struct hworker *w, int fd, uint64_t now)
{
	struct hconn *c = &s->conns[fd];
	worker_del_conn(w, c, fd);
	c->w = NULL;
	if (c->req_pending && !c->ended)
		hs_respond_status(t, s, fd, 500, now);
	c->ended = true;
	c->close_after = true;
	conn_finish(t, s, fd, now);
}

/* A worker is gone: what becomes of each of its connections. What is queued
 * of responses the worker completed (their LOG came) is sent, then the
 * connection closes; a response cut short is a reset; a request that got no
 * response at all gets a 500. */
static void conns_orphaned(struct bh_tcp *t, struct hsrv *s, struct hworker *w)
{
	for (uint32_t i = 0; i <= w->ids_mask && w->n_conns; i++) {
		int fd = worker_slot_fd(w, i);
		if (fd < 0)
			continue;
		struct hconn *c = &s->conns[fd];
		bool pending = out_pending(c);
		if (c->resp_started || (c->req_pending && pending)) {
			s->c[HTTP_C_conn_errors]++;
			hs_conn_close(t, s, fd, true);
			continue;
		}
		conn_orphan(t, s, w, fd, hs_now_ns());
	}
}

/* A shared worker left the connection fd unanswered for the header timeout
 * + 2 s while it may be answering its others: that connection alone ends (a
 * 500 if a request waited, a reset if a response had started), and the
 * worker is told the stream is gone; what it may still send for it is
 * dropped (its id is never given again). */
static void stream_hung(struct bh_tcp *t, struct hsrv *s, int fd, uint64_t now)
{
	struct hconn *c = &s->conns[fd];
	struct hworker *w = c->w;
	s->c[HTTP_C_stream_hangs]++;
	fprintf(stderr, HISO_PROG ": worker %d (uid %u) left a connection unanswered for %llu ms\n",
		(int)w->pid, (unsigned)w->uid, (unsigned long long)(since(now, c->owed_ns) / 1000000));
	if (c->resp_started) {
		hs_conn_close(t, s, fd, true); /* the worker is told (hiso_conn_gone) */
		return;
	}
	if (!w->retiring && !w->killed)
		close_stream(s, w, c->stream);
	conn_orphan(t, s, w, fd, now);
}

/* ---------------------------------------------------------------------- */
/* Relaying */

/* Write what a DATA frame carries; keep what the socket did not take. */
static int data_out(struct bh_tcp *t, struct hsrv *s, int fd, const uint8_t *p, uint32_t n,
		    uint64_t now)
{
	struct hconn *c = &s->conns[fd];
	/* MSG_MORE: what follows in this turn (the rest, a FIN) shares its segments */
	ssize_t w = bh_send(t, fd, p, n, MSG_MORE);
	if (w < 0) {
		if (errno != EAGAIN)
			return -1;
		w = 0;
	}
	c->last_ns = now;
	if ((uint32_t)w < n) {
		c->head = malloc(n - (size_t)w);
		if (!c->head)
			return -1;
		memcpy(c->head, p + w, n - (size_t)w);
		c->head_off = 0;
		c->head_len = n - (uint32_t)w;
	}
	return 0;
}

/*
 * One frame from w. Returns 1 when handled, 0 when its connection cannot
 * take it yet (the caller holds it), -1 when the worker broke the protocol.
 */
static int deliver(struct bh_tcp *t, struct hsrv *s, struct hworker *w, const struct iso_frame *f,
		   const uint8_t *p, uint64_t now)
{
	int fd = -1;
	struct hconn *c = stream_conn(s, w, f->stream, &fd);
	if (c && f->type != ISO_F_WINDOW)
		c->owed_ns = 0; /* an answer, or part of one */
	switch (f->type) {
	case ISO_F_DATA:
		if (!c || c->ended)
			return 1;
		if (f->len > c->out_credit)
			return -1; /* beyond its credit */
		/* relayed, now or from the queue: its LOG is a response's, and
		 * the worker's death now cuts a response short */
		c->resp_started = true;
		if (out_pending(c)) {
			int rc = enqueue(s->iso, c, p, f->len, -1, 0, 0, now);
			if (rc == 0)
				return 0;
			c->out_credit -= f->len;
			if (rc < 0)
				conn_fail(t, s, fd);
			return 1;
		}
		c->out_credit -= f->len;
		if (data_out(t, s, fd, p, f->len, now) < 0) {
			conn_fail(t, s, fd);
		} else {
			give_back(s, c);
			set_events(t, s, fd);
		}
		return 1;
	case ISO_F_FILE: {
		struct iso_file_ref ref, got;
		int file = -1;
		if (f->len != sizeof(ref))
			return -1;
		bool busy = c && !c->ended && out_pending(c);
		if (busy && s->iso->q_files >= HISO_QUEUE_FILES)
			return 0; /* held, its descriptor still in the socket */
		memcpy(&ref, p, sizeof(ref));
		ssize_t r = iso_fd_recv(w->sock, &file, &got, sizeof(got), ISO_FD_REGULAR);
		if (r != (ssize_t)sizeof(got) || file < 0 || memcmp(&got, &ref, sizeof(ref)) ||
		    ref.offset > INT64_MAX || ref.length > INT64_MAX - ref.offset) {
			if (file >= 0)
				close(file);
			return -1;
		}
		if (!c || c->ended) {
			close(file);
			return 1;
		}
		if (c->out_credit < ISO_WINDOW_FILE) {
			close(file);
			return -1; /* beyond its credit */
		}
		c->out_credit -= ISO_WINDOW_FILE;
		if (!ref.length) {
			close(file);
			give_back(s, c);
			return 1;
		}
		c->resp_started = true;
		s->c[HTTP_C_files_passed]++;
		int rc;
		if (busy) {
			rc = enqueue(s->iso, c, NULL, 0, file, ref.offset, ref.length, now);
			if (rc < 0) {
				close(file);
				conn_fail(t, s, fd);
			}
			return 1; /* not 0: the queue had room for a file (checked above) */
		}
		c->file = file;
		c->foff = ref.offset;
		c->fleft = ref.length;
		rc = conn_push(t, s, fd, now);
		if (rc < 0)
			conn_fail(t, s, fd);
		else
			set_events(t, s, fd);
		return 1;
	}
	case ISO_F_LOG: {
		struct iso_log lg;
		if (f->len < sizeof(lg))
			return -1;
		/* One line per response: a LOG with nothing relayed or asked
		 * since the last one is not a response, and a worker must not
		 * fill the log (or the counters) on its own. */
		if (!c || !(c->resp_started || c->req_pending))
			return 1;
		memcpy(&lg, p, sizeof(lg));
		hs_count_status(s, lg.status >= 100 && lg.status <= 599 ? lg.status : 500);
		if (lg.status >= 200 && lg.status < 300) /* as the shared design counts */
			s->c[HTTP_C_bytes_out] += lg.content_bytes;
		if (lg.flags & ISO_LOG_REFUSED)
			s->c[HTTP_C_bad_request]++;
		if (lg.flags & ISO_LOG_TIMEOUT)
			s->c[HTTP_C_header_timeouts]++;
		hs_log_raw(s, c->client, (const char *)p + sizeof(lg), f->len - sizeof(lg));
		c->resp_started = false;
		c->req_pending = false;
		return 1;
	}
	case ISO_F_END:
		if (!c || c->ended)
			return 1;
		c->ended = true;
		c->close_after = true;
		if (f->flags & ISO_END_IDLE)
			s->c[HTTP_C_idle_timeouts]++;
		if (f->flags & ISO_END_RESET)
			conn_fail(t, s, fd);
		else if (!out_pending(c))
			hs_conn_close(t, s, fd, false);
		return 1;
	case ISO_F_WINDOW: {
		uint32_t inc;
		if (f->len != sizeof(inc))
			return -1;
		if (!c || c->ended)
			return 1;
		memcpy(&inc, p, sizeof(inc));
		/* never more than a window: a worker that gives more only loses */
		c->in_credit = inc > ISO_WINDOW - c->in_credit ? ISO_WINDOW : c->in_credit + inc;
		set_events(t, s, fd); /* level-triggered: unread bytes report at once */
		return 1;
	}
	default: /* OPEN, EOF, CLOSE go to workers, not from them */
		return -1;
	}
}

/* While w held a frame back its answers waited for us, not for it: the
 * clocks of what it owes start again now. */
static void held_clocks(struct hsrv *s, struct hworker *w, uint64_t now)
{
	if (w->owed_ns)
		w->owed_ns = now;
	for (uint32_t i = 0; i <= w->ids_mask; i++) {
		int fd = worker_slot_fd(w, i);
		if (fd >= 0 && s->conns[fd].owed_ns)
			s->conns[fd].owed_ns = now;
	}
}

/* Frames from w until none, a budget, or a busy connection. Returns the
 * frames handled. */
static int relay_out(struct bh_tcp *t, struct hsrv *s, struct hworker *w, uint64_t now)
{
	struct hiso *h = s->iso;
	int n = 0;
	if (w->give_retry) {
		w->give_retry = false;
		for (uint32_t i = 0; i <= w->ids_mask && !w->give_retry; i++) {
			int fd = worker_slot_fd(w, i);
			if (fd >= 0)
				give_back(s, &s->conns[fd]);
		}
	}
	if (w->held) {
		int rc = deliver(t, s, w, &w->held_f, w->held_buf, now);
		if (rc == 0) {
			/* still no room: looked at again when there is (held_wake,
			 * the connection's EPOLLOUT or its end), not every turn */
			poll_del(h, w);
			return 0;
		}
		w->held = false;
		h->n_held--;
		held_clocks(s, w, now);
		if (rc < 0) {
			poll_del(h, w);
			worker_kill(s, w, HTTP_C_worker_protocol_errors);
			return 1;
		}
		n++;
	}
	for (; n < HISO_RELAY_BUDGET; n++) {
		struct iso_frame f;
		int rc = iso_frame_recv(w->ch, &f, s->buf, sizeof(s->buf));
		if (rc == -EAGAIN)
			break;
		if (rc == 0) { /* the worker ended its side: it is exiting */
			poll_del(h, w);
			break;
		}
		if (rc < 0) {
			poll_del(h, w);
			worker_kill(s, w, HTTP_C_worker_protocol_errors);
			break;
		}
		w->owed_ns = 0;
		w->acts++;
		rc = deliver(t, s, w, &f, s->buf, now);
		if (rc < 0) {
			poll_del(h, w);
			worker_kill(s, w, HTTP_C_worker_protocol_errors);
			break;
		}
		if (rc == 0) {
			if (!w->held_buf && !(w->held_buf = malloc(ISO_FRAME_MAX))) {
				worker_kill(s, w, HTTP_C_worker_protocol_errors);
				break;
			}
			memcpy(w->held_buf, s->buf, f.len);
			w->held_f = f;
			w->held = true;
			if (!h->full_ns)
				h->full_ns = now;
			h->n_held++;
			poll_del(h, w); /* resumed by held_wake, its connection's EPOLLOUT or end */
			break;
		}
	}
	return n;
}

/* Client bytes to the worker while its ring has room. */
static void relay_in(struct bh_tcp *t, struct hsrv *s, int fd, uint64_t now)
{
	struct hconn *c = &s->conns[fd];
	struct hworker *w = c->w;
	set_blocked(w, c, false);
	while (!c->in_eof && !c->ended) { /* after END the worker has forgotten it */
		ssize_t room = iso_chan_writable(w->ch);
		if (room < 0) {
			worker_kill(s, w, HTTP_C_worker_protocol_errors);
			return;
		}
		if (room <= (ssize_t)ISO_FRAME_HDR) {
			set_blocked(w, c, true);
			poll_add(s->iso, w); /* to see the room come back */
			break;
		}
		size_t n = (size_t)room - ISO_FRAME_HDR;
		uint32_t fmax = iso_frame_max(w->ch);
		if (n > fmax)
			n = fmax;
		if (n > c->in_credit)
			n = c->in_credit;
		if (!n) /* no credit: the worker's WINDOW lets it go on (set_events) */
			break;
		ssize_t r = bh_read(t, fd, s->buf, n);
		if (r < 0) {
			if (errno == EAGAIN)
				break;
			conn_fail(t, s, fd);
			return;
		}
		c->last_ns = now;
		/* Polled (and disarmed) before it hears of it: woken, the worker
		 * may run at once on this CPU, and an armed bell would make its
		 * answer ring the wake pipe for nothing. One that holds a frame
		 * back waits for room (relay_out). */
		if (!w->held)
			poll_add(s->iso, w);
		c->heard = true;
		if (r == 0) {
			c->in_eof = true;
			iso_frame_send(w->ch, c->stream, ISO_F_EOF, 0, NULL, 0);
		} else {
			iso_frame_send(w->ch, c->stream, ISO_F_DATA, 0, s->buf, (uint32_t)r);
			c->in_credit -= (uint32_t)r;
			c->req_pending = true;
		}
		/* It owes an answer, unless its output for this connection is
		 * backed up (it may be waiting for credit). */
		if (!w->owed_ns && !out_pending(c))
			w->owed_ns = now;
		w->acts++;
		if (!c->owed_ns)
			c->owed_ns = now;
	}
	set_events(t, s, fd);
}

void hiso_serve(struct bh_tcp *t, struct hsrv *s, int fd, uint32_t events, uint64_t now)
{
	struct hconn *c = &s->conns[fd];
	if (!c->w) {
		if (c->waiting && (events & (EPOLLERR | EPOLLHUP)))
			hs_conn_close(t, s, fd, true);
		else if (!c->waiting)
			conn_finish(t, s, fd, now);
		return;
	}
	if (events & EPOLLERR) {
		/* reset: nothing more either way, and its input may be held
		 * back (a full ring) where no read would find the error */
		conn_fail(t, s, fd);
		return;
	}
	if (out_pending(c)) {
		int rc = conn_push(t, s, fd, now);
		if (rc < 0) {
			conn_fail(t, s, fd);
			return;
		}
		if (rc == 1 && c->ended) {
			hs_conn_close(t, s, fd, false);
			return;
		}
		if (rc == 1 && c->w->held) {
			struct hworker *w = c->w;
			relay_out(t, s, w, now);
			if (!w->held && !w->killed)
				poll_add(s->iso, w);
			if (!s->conns[fd].open || s->conns[fd].w != w)
				return;
		}
	}
	relay_in(t, s, fd, now);
}

/* ---------------------------------------------------------------------- */
/* The zygote's messages */

static void worker_exited(struct bh_tcp *t, struct hsrv *s, const struct iso_zmsg *m)
{
	struct hiso *h = s->iso;
	s->c[HTTP_C_workers_exited]++;
	if (m->uid < h->p.uid_base || m->uid - h->p.uid_base >= h->p.uid_count)
		return;
	struct hworker *w = h->by_uid[m->uid - h->p.uid_base];
	if (!w || w->pid != m->pid)
		return;
	int st = m->status;
	if (WIFSIGNALED(st)) {
		int sig = WTERMSIG(st);
		if (sig == SIGSYS)
			s->c[HTTP_C_worker_seccomp_kills]++;
		else if (sig == SIGXCPU)
			s->c[HTTP_C_worker_limit_kills]++;
		else if (!(sig == SIGKILL && w->killed)) /* ours was counted by cause */
			s->c[HTTP_C_worker_crashes]++;
	} else if (WIFEXITED(st) && WEXITSTATUS(st) == 4) {
		s->c[HTTP_C_worker_limit_kills]++;
	} else if (WIFEXITED(st) && WEXITSTATUS(st) != 0) {
		s->c[HTTP_C_worker_crashes]++;
	}
	/* What it said before it went still counts. */
	if (!w->killed && w->n_conns)
		relay_out(t, s, w, hs_now_ns());
	conns_orphaned(t, s, w);
	worker_free(h, w);
}

static void worker_arrived(struct bh_tcp *t, struct hsrv *s, struct iso_zmsg *m, uint64_t now)
{
	struct hiso *h = s->iso;
	struct hworker *w = NULL;
	struct iso_chan *ch = NULL;
	if (h->inflight)
		h->inflight--;
	s->c[HTTP_C_workers_started]++;
	if (m->uid >= h->p.uid_base && m->uid - h->p.uid_base < h->p.uid_count &&
	    !h->by_uid[m->uid - h->p.uid_base])
		ch = iso_chan_attach(m->chan_fd, ISO_SIDE_TRUSTED);
	close(m->chan_fd);
	if (ch)
		w = calloc(1, sizeof(*w));
	/* Killed through the zygote: its pidfd would only cost a descriptor. */
	close(m->pidfd);
	if (!w) {
		iso_chan_close(ch);
		iso_zygote_kill(h->z, m->pid);
		close(m->sock_fd);
		s->c[HTTP_C_worker_spawn_failures]++;
		return;
	}
	*w = (struct hworker){.pid = m->pid, .uid = m->uid, .sock = m->sock_fd, .ch = ch,
			      .poll_idx = -1, .all_idx = (int)h->n_all};
	w->has_clock = clock_getcpuclockid(w->pid, &w->cpu_clock) == 0;
	/* A shared worker's wake-ups wait for the end of the turn, so that it
	 * finds all the turn's requests; a connection's own worker has one at a
	 * time and answers best woken at once, within the turn. */
	if (h->p.unit != ISO_UNIT_CONNECTION)
		iso_chan_join(ch, &h->wakes);
	iso_chan_set_wipe(ch, h->p.scrub);
	h->all[h->n_all++] = w;
	h->by_uid[m->uid - h->p.uid_base] = w;
	int fd = waitq_pop(s);
	if (fd >= 0) {
		conn_attach(t, s, w, fd, now);
		if (h->p.unit != ISO_UNIT_POOL)
			return;
	}
	if (h->p.unit == ISO_UNIT_POOL && h->n_pool < h->p.pool_n) {
		w->pooled = true;
		h->n_pool++;
		/* those waiting, as many as it takes (each once: one its ring
		 * has no room for waits again); the rest at the next turns */
		for (uint32_t k = h->wq_len; k && w->n_conns < h->p.worker_conns; k--) {
			if ((fd = waitq_pop(s)) < 0)
				break;
			conn_attach(t, s, w, fd, now);
		}
		return;
	}
	if (h->p.unit == ISO_UNIT_POOL) { /* more than the pool needs */
		worker_retire(s, w, now);
		return;
	}
	/* arm it: a spare says nothing until given a stream, but a broken one
	 * must not go unnoticed */
	spare_push(h, w, now);
}

static void top_up(struct hsrv *s)
{
	struct hiso *h = s->iso;
	uint32_t have = h->p.unit == ISO_UNIT_POOL ? h->n_pool : h->n_spare;
	uint32_t want = h->p.unit == ISO_UNIT_POOL ? h->p.pool_n : h->p.spares + h->wq_len;
	if (have + h->inflight >= want || h->inflight >= HISO_MAX_INFLIGHT)
		return;
	uint32_t n = want - have - h->inflight;
	if (n > HISO_MAX_INFLIGHT - h->inflight)
		n = HISO_MAX_INFLIGHT - h->inflight;
	if (h->n_all + h->inflight + n > h->max_workers) /* a connection waits instead */
		n = h->max_workers > h->n_all + h->inflight ? h->max_workers - h->n_all - h->inflight : 0;
	if (!n)
		return;
	if (iso_zygote_request(h->z, n) == 0)
		h->inflight += n;
}

static int zygote_messages(struct bh_tcp *t, struct hsrv *s, uint64_t now)
{
	struct hiso *h = s->iso;
	struct iso_zmsg m;
	int n = 0, rc;
	while ((rc = iso_zygote_recv(h->z, &m)) == 1) {
		n++;
		if (m.type == ISO_Z_WORKER)
			worker_arrived(t, s, &m, now);
		else if (m.type == ISO_Z_EXIT)
			worker_exited(t, s, &m);
		else if (m.type == ISO_Z_FAILED) {
			s->c[HTTP_C_worker_spawn_failures]++;
			if (h->inflight)
				h->inflight--;
		}
	}
	if (rc == -EPIPE && h->z) {
		fprintf(stderr, HISO_PROG ": the zygote is gone: no more workers\n");
		iso_zygote_stop(h->z);
		h->z = NULL;
	}
	return n;
}

int hiso_step(struct bh_tcp *t, struct hsrv *s, uint64_t now)
{
	struct hiso *h = s->iso;
	int work = 0;
	if (bh_tcp_nf_woken()) {
		char drain[4096];
		while (read(h->wake_rd, drain, sizeof(drain)) > 0)
			; /* then look: what rang after this rings again */
		if (h->z)
			work += zygote_messages(t, s, now);
		/* a sleeping worker spoke (or a spurious wake): look at the
		 * armed ones */
		for (uint32_t i = 0; i < h->n_all; i++) {
			struct hworker *w = h->all[i];
			if (w->poll_idx < 0 && !w->held && !w->spare && iso_chan_readable(w->ch) != 0)
				poll_add(h, w);
		}
	}
	if (h->held_due) {
		h->held_due = false;
		for (uint32_t i = 0; h->n_held && i < h->n_all; i++)
			if (h->all[i]->held && !h->all[i]->killed)
				poll_add(h, h->all[i]);
	}
	for (uint32_t i = 0; i < h->n_poll;) {
		struct hworker *w = h->poll[i];
		work += relay_out(t, s, w, now);
		if (w->poll_idx != (int)i) /* removed itself: the slot holds another */
			continue;
		if (w->n_closes)
			closes_flush(w);
		/* blocked input can move again once the worker read */
		for (uint32_t k = 0; w->n_blocked && k <= w->ids_mask; k++) {
			int fd = worker_slot_fd(w, k);
			if (fd >= 0 && s->conns[fd].in_blocked &&
			    iso_chan_writable(w->ch) > (ssize_t)ISO_FRAME_HDR) {
				relay_in(t, s, fd, now);
				break; /* the table may have changed */
			}
		}
		if (w->poll_idx != (int)i)
			continue;
		/* asleep with nothing for us: arm it and stop looking */
		if (!w->n_blocked && iso_chan_peer_sleeping(w->ch) && !iso_chan_wake_owed(w->ch) &&
		    iso_chan_arm(w->ch, ISO_CHAN_IN) == 0) {
			poll_del(h, w);
			continue;
		}
		i++;
	}
	/* Connections waiting for a shared worker with room (in its share or
	 * its ring) or, client, a spare: each looked at once, in order; none
	 * while every pool worker is full. */
	if (h->wq_len && (h->p.unit == ISO_UNIT_CLIENT || (h->p.unit == ISO_UNIT_POOL && pool_pick(h)))) {
		for (uint32_t k = h->wq_len; k; k--) {
			int fd = waitq_pop(s);
			if (fd < 0)
				break;
			struct hworker *w = pick_worker(h, &s->conns[fd]);
			if (w)
				conn_attach(t, s, w, fd, now);
			else
				waitq_push(t, s, fd);
		}
	}
	if (h->z)
		top_up(s);
	s->c[HTTP_C_workers_alive] = h->n_all;
	s->c[HTTP_C_workers_spare] = h->n_spare;
	return work;
}

/* Wake every worker that was given something this turn, once, now that the
 * turn gave it all it will: woken at its first request, a worker may run,
 * and sleep again, before the rest comes. Before the NF yields or sleeps. */
void hiso_flush(struct hsrv *s)
{
	iso_wake_flush(&s->iso->wakes);
}

bool hiso_busy(const struct hsrv *s)
{
	return s->iso->n_poll > 0 || s->iso->held_due;
}

void hiso_scan(struct bh_tcp *t, struct hsrv *s, uint64_t now)
{
	struct hiso *h = s->iso;
	/* Spares beyond --spares (scrubbed workers after a burst) leave once
	 * unused for --worker-idle-ms; the most recent stay (the list is LIFO). */
	if (h->n_spare > h->p.spares) {
		uint32_t k = 0;
		for (struct hworker **p = &h->spare; *p;) {
			struct hworker *w = *p;
			if (++k > h->p.spares && since(now, w->idle_since) > h->p.idle_ms * 1000000ull) {
				*p = w->next_spare;
				h->n_spare--;
				w->spare = false;
				worker_retire(s, w, now);
				continue;
			}
			p = &w->next_spare;
		}
	}
	/* Queues full for HISO_FULL_MAX_NS: they hold answers that clients do
	 * not take, and a worker whose frame did not fit holds every stream
	 * behind it in its ring. Every connection whose queue has not moved
	 * for as long is reset (queue_resets), so that the workers go on
	 * without waiting for those clients' send timeout. A client that
	 * takes its answers moves its queue (each item it finishes brings the
	 * next) and stays. */
	bool shed = h->full_ns && since(now, h->full_ns) > HISO_FULL_MAX_NS;
	for (uint32_t fd = 0; fd < s->n_conns; fd++) {
		struct hconn *c = &s->conns[fd];
		if (!c->open || c->rd || hs_linger_scan(t, s, (int)fd, now))
			continue;
		if (shed && c->q && since(now, c->q_ns) > HISO_FULL_MAX_NS) {
			s->c[HTTP_C_queue_resets]++;
			hs_conn_close(t, s, (int)fd, true);
		} else if (out_pending(c)) {
			if (since(now, c->last_ns) > s->send_timeout_ns) {
				s->c[HTTP_C_send_timeouts]++;
				hs_conn_close(t, s, (int)fd, true);
			}
		} else if (c->waiting && since(now, c->last_ns) > s->header_timeout_ns) {
			/* no worker for it in time: 503 and close, as a connection
			 * over --http-max-conns (its place in line is dropped) */
			c->waiting = false;
			s->c[HTTP_C_conns_refused]++;
			hs_respond_status(t, s, (int)fd, 503, now);
			conn_finish(t, s, (int)fd, now);
		} else if (c->w && c->owed_ns && !c->w->held && h->p.unit != ISO_UNIT_CONNECTION &&
			   since(now, c->owed_ns) > s->header_timeout_ns + HISO_GRACE_NS) {
			/* a shared worker left this one unanswered (one that owes
			 * its only connection is killed as hung: below) */
			stream_hung(t, s, (int)fd, now);
		} else if (c->w && !c->heard && since(now, c->last_ns) > s->idle_timeout_ns) {
			/* not a byte since it opened: its worker may not even know
			 * of it (OPEN goes quietly), so its idle timeout is ours */
			s->c[HTTP_C_idle_timeouts]++;
			hs_conn_close(t, s, (int)fd, false);
		} else if (since(now, c->last_ns) > s->idle_timeout_ns + HISO_GRACE_NS) {
			/* the worker should have closed it: a backstop */
			s->c[HTTP_C_idle_timeouts]++;
			hs_conn_close(t, s, (int)fd, false);
		}
	}
	/* The CPU time of workers owing output for HISO_SPIN_LOOK_NS (one
	 * system call each), at most HISO_SPIN_LOOKS a scan, taking turns;
	 * then of workers owing nothing, HISO_SPIN_IDLE_LOOKS a scan (a
	 * worker in a loop after its answer, or before its first request). */
	for (int idle = 0; h->p.spin_ms && idle < 2; idle++) {
		uint32_t *next = idle ? &h->spin_idle_next : &h->spin_next;
		uint32_t looks = 0, j = h->n_all ? *next % h->n_all : 0;
		uint32_t most = idle ? HISO_SPIN_IDLE_LOOKS : HISO_SPIN_LOOKS;
		for (uint32_t k = 0; k < h->n_all && looks < most; k++) {
			struct hworker *w = h->all[j];
			j = (j + 1) % h->n_all;
			if (w->held || w->killed || w->retiring || !w->has_clock ||
			    (idle ? w->owed_ns != 0
				  : !w->owed_ns || since(now, w->owed_ns) < HISO_SPIN_LOOK_NS))
				continue;
			looks++;
			if (spinning(h, w)) {
				fprintf(stderr, HISO_PROG ": worker %d (uid %u) killed: over %llu ms of CPU "
					"owing %s\n", (int)w->pid, (unsigned)w->uid,
					(unsigned long long)h->p.spin_ms, idle ? "nothing" : "an answer");
				worker_kill(s, w, HTTP_C_worker_limit_kills);
			}
		}
		*next = j;
	}
	for (uint32_t i = 0; i < h->n_all; i++) {
		struct hworker *w = h->all[i];
		if (w->killed) {
			kill_request(h, w);
			continue;
		}
		/* (not while we hold its output back: relay_out) */
		bool owes = !w->held && w->owed_ns &&
			    since(now, w->owed_ns) > s->header_timeout_ns + HISO_GRACE_NS;
		bool stays = w->retiring && since(now, w->retire_ns) > HISO_GRACE_NS &&
			     !exit_under_way(w, since(now, w->retire_ns));
		if (owes || stays) {
			char st = worker_state(w);
			fprintf(stderr, HISO_PROG ": worker %d (uid %u, state %c) killed: %s for %llu ms\n",
				(int)w->pid, (unsigned)w->uid, st ? st : '?',
				owes ? "owing an answer" : "not exiting after its channel closed",
				(unsigned long long)(since(now, owes ? w->owed_ns : w->retire_ns) / 1000000));
			worker_kill(s, w, HTTP_C_worker_hangs);
		}
		else if (h->p.unit == ISO_UNIT_CLIENT && !w->n_conns && w->idle_since && !w->retiring &&
			 !w->spare && since(now, w->idle_since) > h->p.idle_ms * 1000000ull) {
			if (h->p.scrub && !w->held && !w->n_closes) {
				/* scrubbed: its streams were closed (each told);
				 * any client next */
				client_forget(h, w);
				w->client_addr = 0;
				w->owed_ns = 0;
				poll_del(h, w);
				spare_push(h, w, now);
			} else {
				worker_retire(s, w, now);
			}
		}
	}
}

/* ---------------------------------------------------------------------- */
/* Start and stop */

int hiso_start(struct bh_tcp *t, struct hsrv *s)
{
	struct hiso *h = &hiso_conf;
	const struct iso_service_policy *p = hiso_policy();
	char err[400];
	if (iso_policy_check(p, err, sizeof(err)) < 0) {
		fprintf(stderr, HISO_PROG ": %s\n", err);
		return -EINVAL;
	}
	/* Each live worker costs this process a descriptor (its fd socket; the
	 * TCP connections are the stack's, not the kernel's): make room for the
	 * whole uid range as far as the system allows, and never ask for more
	 * workers than there is room for. */
	struct rlimit rl;
	uint64_t need = (uint64_t)h->p.uid_count * HISO_FDS_PER_WORKER + 1024;
	uint64_t sys_max = 1048576;
	FILE *f = fopen("/proc/sys/fs/nr_open", "r");
	if (f) {
		unsigned long long v;
		if (fscanf(f, "%llu", &v) == 1)
			sys_max = v;
		fclose(f);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < need) {
		struct rlimit up = {need < sys_max ? need : sys_max, 0};
		up.rlim_max = up.rlim_cur > rl.rlim_max ? up.rlim_cur : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			rl = up;
		else
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	uint64_t room = rl.rlim_cur > 1024 ? (rl.rlim_cur - 1024) / HISO_FDS_PER_WORKER : 0;
	h->max_workers = room < h->p.uid_count ? (uint32_t)room : h->p.uid_count;
	if (h->max_workers < h->p.uid_count)
		fprintf(stderr, HISO_PROG ": warning: descriptors for only %u workers alive at once "
			"(RLIMIT_NOFILE %llu)\n", h->max_workers, (unsigned long long)rl.rlim_cur);
	if (!h->max_workers) {
		fprintf(stderr, HISO_PROG ": no descriptors left for workers\n");
		return -EMFILE;
	}
	h->by_uid = calloc(h->p.uid_count, sizeof(*h->by_uid));
	h->all = calloc(h->p.uid_count, sizeof(*h->all));
	h->poll = calloc(h->p.uid_count, sizeof(*h->poll));
	h->clients_cap = 1;
	while (h->clients_cap < 2 * h->p.uid_count)
		h->clients_cap <<= 1;
	if (h->p.unit == ISO_UNIT_CLIENT)
		h->clients = calloc(h->clients_cap, sizeof(*h->clients));
	if (!h->by_uid || !h->all || !h->poll || (h->p.unit == ISO_UNIT_CLIENT && !h->clients))
		return -ENOMEM;
	/* The wake pipe: the zygote writes it after its messages, and every
	 * worker gets its write end (write-only, so none can read away the
	 * others' wake-ups) to ring when it speaks to an armed channel. */
	int wp[2];
	if (pipe2(wp, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	h->wake_rd = wp[0];

	/* the worker's argv: the request limits and timeouts of this NF */
	unsigned a = 0, b = 0;
	h->argv[a++] = (char *)"bh-http-worker";
#define ARG(opt, val)                                                                  \
	do {                                                                           \
		h->argv[a++] = (char *)(opt);                                          \
		snprintf(h->argbuf[b], sizeof(h->argbuf[b]), "%llu", (unsigned long long)(val)); \
		h->argv[a++] = h->argbuf[b++];                                         \
	} while (0)
	if (s->lim.max_head_bytes)
		ARG("--max-head-bytes", s->lim.max_head_bytes);
	if (s->lim.max_uri_bytes)
		ARG("--max-uri-bytes", s->lim.max_uri_bytes);
	if (s->lim.max_headers)
		ARG("--max-headers", s->lim.max_headers);
	if (s->max_requests != UINT32_MAX)
		ARG("--max-requests", s->max_requests);
	ARG("--header-timeout-ms", s->header_timeout_ns / 1000000ull);
	ARG("--idle-timeout-ms", s->idle_timeout_ns / 1000000ull);
	ARG("--inline-max", h->p.inline_max);
	/* Room for every stream it is given, and as many again: those the NF
	 * closed but could not tell it of (its ring full), which it forgets at
	 * its idle timeout. */
	ARG("--max-streams", 2 * (h->p.unit == ISO_UNIT_CONNECTION ? 1 : h->p.worker_conns));
	/* The NF's --file-cache, within what the worker's descriptors allow
	 * (one per entry): an eighth of them. */
	ARG("--file-cache", s->file_cache < h->p.fds / 8 ? s->file_cache : h->p.fds / 8);
#undef ARG
	if (!s->log_path) /* no access log: spare the workers formatting its lines */
		h->argv[a++] = (char *)"--no-log-line";
	/* a worker that serves another unit after this one keeps nothing of
	 * it (the worker zeroes; we zero the ring bytes we read: below) */
	if (h->p.scrub)
		h->argv[a++] = (char *)"--wipe";
	h->argv[a] = NULL;

	struct iso_zygote_conf zc = {
		.prog = h->p.worker,
		.argv = h->argv,
		.policy = {.docroot = s->root, .netns_fd = -1, .mem_bytes = h->p.mem,
			   .cpu_seconds = h->p.cpu_s, .max_fds = h->p.fds},
		.uid_base = h->p.uid_base,
		.uid_count = h->p.uid_count,
		.gid = h->p.uid_base,
		.notify_fd = wp[1],
		.stderr_fd = 2,
	};
	h->z = iso_zygote_start(&zc);
	close(wp[1]); /* the zygote has its own */
	if (!h->z) {
		int e = errno;
		fprintf(stderr, HISO_PROG ": cannot start the worker zygote for '%s': %s\n",
			h->p.worker, strerror(e));
		return e == ENOMEM ? -ENOMEM : -EINVAL;
	}
	int rc = bh_tcp_nf_wake_add(h->wake_rd);
	if (rc < 0) {
		fprintf(stderr, HISO_PROG ": cannot watch the workers: %s\n", strerror(-rc));
		return rc;
	}
	s->iso = h;
	top_up(s);
	return 0;
}

void hiso_stop(struct hsrv *s)
{
	struct hiso *h = s->iso;
	if (!h)
		return;
	iso_zygote_stop(h->z); /* every worker goes with it */
	h->z = NULL;
	while (h->n_all)
		worker_free(h, h->all[h->n_all - 1]);
	free(h->by_uid);
	free(h->all);
	free(h->poll);
	free(h->waitq);
	free(h->clients);
	close(h->wake_rd);
	s->iso = NULL;
}
