/* SPDX-License-Identifier: MIT */
/*
 * bh-http-worker: the isolated HTTP worker (DESIGN.md §4). The trusted NF
 * moves stream bytes between its TCP sockets and this program's channel;
 * this program parses the requests and answers them, confined.
 *
 *   bh-http-worker [--root DIR] [--max-head-bytes N] [--max-uri-bytes N]
 *                  [--max-headers N] [--max-requests N] [--header-timeout-ms MS]
 *                  [--idle-timeout-ms MS] [--inline-max BYTES] [--max-streams N]
 *                  [--file-cache N] [--no-log-line] [--wipe]
 *
 * It starts confined already (a zygote forks it and calls iso_sandbox_exec):
 * cwd is the read-only document root at /www, no /proc, no /dev, and a
 * seccomp allow-list that kills it on any other system call, so it is built
 * static and without sanitizers, and makes only these (strace): futex (the
 * channel's doorbells: sleeping, with a timeout when it polls, and ringing),
 * write/writev (the notify eventfd; stderr when it dies), pread64 (bodies),
 * openat (HTTP_OPEN_VIEW: in the view, symlinks are followed by the kernel;
 * with --root, lib/http's openat2 fence, or its walk), open (the root, once:
 * musl's open() is the old call), fstat, close, fcntl (F_GETFD, F_GET_SEALS,
 * and F_GETFL/F_SETFL in lib/http), sendmsg (passing descriptors), mmap (the
 * channel), brk/mmap/munmap/madvise (malloc), nanosleep (polling with no
 * input to wait for), exit_group, plus musl's start-up calls (arch_prctl,
 * set_tid_address). It is a musl program (lib/iso/meson.build). Time is
 * clock_gettime, from the vDSO: no time(), no localtime() (lib/http formats
 * dates itself, in UTC).
 *
 * Descriptors: the channel memfd on fd 3 (ISO_WORKER_CHAN_FD), the fd socket
 * on fd 4 (ISO_WORKER_SOCK_FD), and, if open, an eventfd on fd 5
 * (ISO_WORKER_NOTIFY_FD) that the channel writes whenever it wakes a trusted
 * side that armed it.
 *
 * The channel carries frames (bulkhead/iso.h, "Frames"). Per stream, the
 * same behaviour as the shared NF (nfs/http) per connection, through the
 * same lib/http calls:
 *  - OPEN makes a stream (a request reader); beyond --max-streams it is
 *    answered by END with ISO_END_RESET at once. An OPEN for a live stream
 *    id is ignored. DATA is fed to the reader, pipelined requests answered
 *    in order; EOF: what was complete is answered, then END; CLOSE: the
 *    stream is forgotten at once. Frames for unknown streams are ignored.
 *  - A response is its head (and a body of at most --inline-max bytes, read
 *    from the file chunk by chunk) as DATA frames of at most
 *    iso_frame_max() bytes; a larger body never crosses the channel: its
 *    descriptor goes over the fd socket (iso_fd_send, payload a struct
 *    iso_file_ref {stream, 0, offset, length}), then a FILE frame with the
 *    same iso_file_ref. Then a LOG frame: struct iso_log, then the access
 *    log line (http_log_format) WITHOUT its client field and WITHOUT its
 *    trailing newline: it starts with the space after the client
 *    (" - - [10/Oct/2000:13:55:36 +0000] \"GET / HTTP/1.1\" 200 ..."), so the
 *    trusted side writes address + line + '\n'. A line longer than a frame
 *    (a head full of bytes the log escapes as \xHH) is cut to fit.
 *  - A response that closes (bad request, the last of --max-requests,
 *    Connection: close) is followed by END, and the stream is forgotten.
 *    A head not complete --header-timeout-ms after its first byte gets 408
 *    and END; a stream with no request in progress and no byte for
 *    --idle-timeout-ms gets END alone. A body file that fails under us
 *    (shrunk) ends the stream with ISO_END_RESET: its length was promised.
 *  - --wipe (a worker reused for another unit: recycle scrub): whatever a
 *    client gave or was given goes before the next unit's first byte is
 *    read. The frame, head and log-line buffers are zeroed as each use
 *    ends, memory given back (freed, or left by a buffer that grew) before
 *    it goes, a closed stream's buffers and reader as it closes; each byte
 *    read from the channel is zeroed in the ring as it is taken
 *    (iso_chan_set_wipe; the trusted side does the same with ours). With
 *    no stream left, before the next frame is taken: the open-file cache
 *    (its paths are what clients asked for) and the stack below the loop,
 *    and the trusted side must have read all we wrote. So the next unit's
 *    bytes find nothing of the last one's here, even if they take the
 *    process over.
 *  - For the trusted side's counters, where bulkhead/iso.h defines them:
 *    LOG flags ISO_LOG_REFUSED (the reader refused the request) and
 *    ISO_LOG_TIMEOUT (408), END flag ISO_END_IDLE (idle timeout).
 *
 * Output never blocks and never spins: a stream whose next frame does not
 * fit in the ring, or in the stream's credit (bulkhead/iso.h, "Frames":
 * ISO_WINDOW, given back by WINDOW frames as the client reads), keeps it,
 * and answers nothing further (order) until it went; the other streams go
 * on. The worker sleeps in iso_chan_wait() (wait_for_work() says when it
 * has to poll instead); the trusted side gives credit back quietly
 * (iso_frame_send_quiet), so it waits with ISO_CHAN_QUIET while a stream
 * waits for credit, with ISO_CHAN_IN otherwise (an OPEN comes quietly too:
 * it is read with the stream's first bytes). While a stream's response is
 * held back its further input is kept; the trusted side sends at most a
 * window of it unconsumed (we give credit back, WINDOW, for each half
 * window consumed), so that stays below WK_IN_CAP and the channel is never
 * stopped for one stream.
 * Beyond WK_IN_CAP (a trusted side without flow control) the worker would
 * stop taking frames until that stream moves.
 *
 * Exit status: 0 when the trusted side shuts the channel down; 2 bad
 * options or descriptors; 3 a broken channel (-EPROTO); 4 out of memory;
 * 1 anything else. Each non-zero exit says why in one line on stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bulkhead/http.h"
#include "bulkhead/iso.h"

#define WK_PROG "bh-http-worker"
#define WK_EXIT_USAGE 2
#define WK_EXIT_PROTO 3
#define WK_EXIT_NOMEM 4
#define WK_IN_CAP (64u << 10) /* unfed bytes a held-back stream may keep */
#define WK_IN_KEEP (16u << 10) /* input buffer kept while empty */
#define WK_SPARE_MAX 64        /* closed streams kept for the next (stream_free()) */
#define WK_BUDGET 8           /* responses per stream per pass: fairness */
#define WK_PUMP_MAX 64        /* frames taken per pass */
#define WK_POLL_MAX_MS 16     /* see wait_for_work() */
#define WK_CHAN_END 1000      /* pump(): the trusted side shut the channel */
#define WK_STACK_WIPE (64u << 10) /* stack zeroed below the loop (--wipe) */

struct stream {
	uint32_t id;
	struct stream *prev, *next; /* the service order */
	struct http_reader *rd;
	uint8_t *in;                /* received, not fed yet */
	uint32_t in_off, in_len, in_cap;
	bool eof;                   /* the client sends no more */
	bool busy;                  /* something is queued (below) */
	uint32_t requests;          /* answered */
	uint64_t last_ns;           /* last byte in, or last response out */
	uint64_t req_start_ns;      /* first byte of the request being read, 0: none */
	/* What is queued, sent in this order. */
	char *head;                 /* DATA: the response head */
	uint32_t head_off, head_len, head_cap;
	int file;                   /* the body: inline DATA, or by reference */
	uint64_t foff, fleft;
	bool by_ref, ref_sent;      /* ref_sent: the descriptor went, FILE has not */
	uint8_t *log;               /* the LOG frame's payload, log_len 0: none */
	uint32_t log_len, log_cap;
	bool end_pending;           /* END follows; nothing more is read */
	uint16_t end_flags;
	/* Flow control (bulkhead/iso.h, "Frames") */
	uint32_t out_credit;        /* what we may still send: DATA bytes, FILE frames */
	uint32_t in_done;           /* client bytes consumed and not yet given back */
};

struct worker {
	/* options */
	const char *root;
	unsigned open_flags;        /* HTTP_OPEN_VIEW when the root is the sandbox's view */
	bool no_log_line;           /* LOG frames without the access-log line */
	bool wipe;                  /* --wipe */
	uint32_t file_cache;        /* open-file cache entries, 0: none */
	struct http_file_cache *fcache;
	struct http_limits lim;
	uint32_t max_requests, max_streams;
	uint64_t header_timeout_ns, idle_timeout_ns, inline_max;
	/* state */
	struct iso_chan *ch;
	int sock, rootfd;
	uint32_t frame_max;
	struct stream **slots;      /* open addressing by id, linear probing */
	uint32_t n_slots, n_streams;
	struct stream list;         /* sentinel of the service order */
	struct stream *spare;       /* closed streams to reuse (through next) */
	uint32_t n_spare;
	char *resp;                 /* response heads are built here */
	size_t resp_cap;
	char *line;                 /* access-log lines are formatted here */
	size_t line_cap;
	/* what the last pass ran into, for wait_for_work() */
	bool in_stalled;            /* stopped taking frames (see pump) */
	uint32_t out_need;          /* a frame did not fit: the least room one needs, or 0 */
	bool out_sock;              /* the fd socket was full */
	bool credit_wait;           /* a stream waits for credit (WINDOW) */
	bool wipe_wait;             /* wiped: the trusted side is still reading our ring */
	bool wipe_due;              /* --wipe, the last stream closed: wipe_done() */
	bool wiped;                 /* ... and the memory is zeroed */
	/* The trusted side's doorbell is rung once per pass, not at each
	 * frame read or written (run() flushes after each pass). */
	struct iso_wake_batch wake;
	uint8_t inbuf[ISO_FRAME_MAX];
	uint8_t outbuf[ISO_FRAME_MAX];
};

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The wall clock for Date and the log, read without time(): its vDSO-less
 * fallback is a system call the filter does not allow. */
static time_t wall_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec;
}

/* ------------------------------------------------------------- stream table */

static uint32_t slot_hash(uint32_t id)
{
	id ^= id >> 16;
	id *= 0x7feb352du;
	id ^= id >> 15;
	id *= 0x846ca68bu;
	return id ^ (id >> 16);
}

static struct stream **slot_find(struct worker *w, uint32_t id)
{
	uint32_t mask = w->n_slots - 1;
	for (uint32_t i = slot_hash(id) & mask;; i = (i + 1) & mask)
		if (!w->slots[i] || w->slots[i]->id == id)
			return &w->slots[i];
}

static struct stream *stream_find(struct worker *w, uint32_t id)
{
	return *slot_find(w, id);
}

/* Keeps the table at most half full. */
static int slots_reserve(struct worker *w)
{
	if ((w->n_streams + 1) * 2 <= w->n_slots)
		return 0;
	uint32_t n = w->n_slots * 2;
	struct stream **old = w->slots, **slots = calloc(n, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	uint32_t old_n = w->n_slots;
	w->slots = slots;
	w->n_slots = n;
	for (uint32_t i = 0; i < old_n; i++)
		if (old[i])
			*slot_find(w, old[i]->id) = old[i];
	free(old);
	return 0;
}

/* Removes s from the table, shifting back the entries that probed past its
 * slot (no tombstones). */
static void slot_remove(struct worker *w, struct stream *s)
{
	uint32_t mask = w->n_slots - 1;
	uint32_t i = (uint32_t)(slot_find(w, s->id) - w->slots);
	w->slots[i] = NULL;
	for (uint32_t j = (i + 1) & mask; w->slots[j]; j = (j + 1) & mask) {
		uint32_t k = slot_hash(w->slots[j]->id) & mask;
		/* The entry at j may move to i unless its home k lies in (i, j]. */
		bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
		if (!stays) {
			w->slots[i] = w->slots[j];
			w->slots[j] = NULL;
			i = j;
		}
	}
}

static void list_unlink(struct stream *s)
{
	s->prev->next = s->next;
	s->next->prev = s->prev;
}

static void list_append(struct worker *w, struct stream *s)
{
	s->prev = w->list.prev;
	s->next = &w->list;
	w->list.prev->next = s;
	w->list.prev = s;
}

static struct stream *stream_new(struct worker *w, uint32_t id, uint64_t now)
{
	if (slots_reserve(w) < 0)
		return NULL;
	struct stream *s = w->spare;

	if (s) { /* keep its reader and buffers, forget the rest */
		struct stream keep = *s;

		w->spare = s->next;
		w->n_spare--;
		memset(s, 0, sizeof(*s));
		s->rd = keep.rd;
		http_reader_reset(s->rd);
		s->in = keep.in;
		s->in_cap = keep.in_cap;
		s->head = keep.head;
		s->head_cap = keep.head_cap;
		s->log = keep.log;
		s->log_cap = keep.log_cap;
	} else {
		s = calloc(1, sizeof(*s));
		if (!s)
			return NULL;
		s->rd = http_reader_new(&w->lim); /* the limits were checked at start */
		if (!s->rd) {
			free(s);
			return NULL;
		}
	}
	s->id = id;
	s->file = -1;
	s->last_ns = now;
	s->out_credit = ISO_WINDOW;
	*slot_find(w, id) = s;
	list_append(w, s);
	w->n_streams++;
	return s;
}

/* A buffer of cap bytes grown to new_cap, its first keep bytes kept. With
 * --wipe the memory it leaves is zeroed first, so that the allocator keeps
 * no client's bytes for the next. */
static void *wk_grow(const struct worker *w, void *p, size_t cap, size_t keep, size_t new_cap)
{
	if (!w->wipe)
		return realloc(p, new_cap);
	void *q = malloc(new_cap);
	if (q && p) {
		memcpy(q, p, keep);
		explicit_bzero(p, cap);
		free(p);
	}
	return q;
}

/* Gives back an empty input buffer's memory if it grew beyond WK_IN_KEEP. */
static void in_shrink(const struct worker *w, struct stream *s)
{
	if (s->in_cap > WK_IN_KEEP) {
		if (w->wipe)
			explicit_bzero(s->in, s->in_cap);
		free(s->in);
		s->in = NULL;
		s->in_cap = 0;
	}
}

/* Zeroes what a closed stream kept of its client (--wipe). */
static void stream_wipe(struct stream *s)
{
	http_reader_wipe(s->rd);
	if (s->in)
		memset(s->in, 0, s->in_cap);
	if (s->head)
		memset(s->head, 0, s->head_cap);
	if (s->log)
		memset(s->log, 0, s->log_cap);
	s->in_off = s->in_len = 0;
}

static void stream_release(struct stream *s)
{
	http_reader_free(s->rd);
	free(s->in);
	free(s->head);
	free(s->log);
	free(s);
}

/* A closed stream's memory (its reader alone is ~27 KiB with the default
 * limits) is kept for the next one, up to WK_SPARE_MAX streams (~1.8 MiB):
 * an allocator that gives such blocks back to the kernel at once (musl's)
 * would otherwise map and unmap them for every connection. A worker keeps
 * what its busiest moment needed, as a caching allocator would; one that
 * never had more than one stream at a time keeps one. */
static void stream_free(struct worker *w, struct stream *s)
{
	slot_remove(w, s);
	list_unlink(s);
	w->n_streams--;
	if (s->file >= 0)
		close(s->file);
	s->file = -1;
	if (w->wipe) {
		stream_wipe(s);
		if (!w->n_streams)
			w->wipe_due = true;
	}
	if (w->n_spare >= WK_SPARE_MAX) {
		stream_release(s);
		return;
	}
	in_shrink(w, s);
	s->next = w->spare;
	w->spare = s;
	w->n_spare++;
}

/* ------------------------------------------------------------------- input */

static void in_consume(const struct worker *w, struct stream *s, size_t n)
{
	s->in_done += (uint32_t)n;
	s->in_off += (uint32_t)n;
	s->in_len -= (uint32_t)n;
	if (s->in_len)
		return;
	s->in_off = 0;
	in_shrink(w, s); /* a burst is over */
}

static int in_append(const struct worker *w, struct stream *s, const uint8_t *p, uint32_t n)
{
	if (s->in_off && s->in_len + n > s->in_cap - s->in_off) {
		memmove(s->in, s->in + s->in_off, s->in_len);
		s->in_off = 0;
	}
	if (s->in_len + n > s->in_cap) {
		uint32_t cap = s->in_cap ? 2 * s->in_cap : 1024;
		if (cap < s->in_len + n)
			cap = s->in_len + n;
		uint8_t *in = wk_grow(w, s->in, s->in_cap, s->in_off + s->in_len, cap);
		if (!in)
			return -ENOMEM;
		s->in = in;
		s->in_cap = cap;
	}
	memcpy(s->in + s->in_off + s->in_len, p, n);
	s->in_len += n;
	return 0;
}

/* A frame needing `need` bytes of the ring did not fit: wait_for_work()
 * sleeps until the least such need is met. */
static void out_blocked(struct worker *w, size_t need)
{
	if (!w->out_need || need < w->out_need)
		w->out_need = (uint32_t)need;
}

/* Whether the next frame, whose header h was peeked, must wait: DATA for a
 * stream already holding WK_IN_CAP unfed bytes, or an OPEN to refuse while
 * the ring has no room for the END that refuses it. */
static bool must_wait(struct worker *w, const struct iso_frame *h)
{
	struct stream *s = stream_find(w, h->stream);
	if (h->type == ISO_F_DATA)
		return s && s->in_len >= WK_IN_CAP;
	if (h->type == ISO_F_OPEN && !s && w->n_streams >= w->max_streams) {
		ssize_t room = iso_chan_writable(w->ch);
		if (room >= 0 && room < (ssize_t)ISO_FRAME_HDR) {
			out_blocked(w, ISO_FRAME_HDR);
			return true;
		}
	}
	return false;
}

static int on_frame(struct worker *w, const struct iso_frame *f, uint64_t now)
{
	struct stream *s = stream_find(w, f->stream);
	switch (f->type) {
	case ISO_F_OPEN:
		if (s)
			return 0; /* the trusted side's mistake: keep the live one */
		if (w->n_streams >= w->max_streams)
			return iso_frame_send(w->ch, f->stream, ISO_F_END, ISO_END_RESET, NULL, 0);
		return stream_new(w, f->stream, now) ? 0 : -ENOMEM;
	case ISO_F_DATA:
		if (!s || s->eof || s->end_pending || !f->len)
			return 0; /* a closing stream reads no more */
		s->last_ns = now;
		return in_append(w, s, w->inbuf, f->len);
	case ISO_F_EOF:
		if (s)
			s->eof = true;
		return 0;
	case ISO_F_CLOSE:
		if (s)
			stream_free(w, s);
		return 0;
	case ISO_F_WINDOW: {
		uint32_t inc;
		if (!s || f->len != sizeof(inc))
			return 0;
		memcpy(&inc, w->inbuf, sizeof(inc));
		/* never more than a window: the trusted side gives back only what it had */
		s->out_credit = inc > ISO_WINDOW - s->out_credit ? ISO_WINDOW : s->out_credit + inc;
		return 0;
	}
	}
	return 0; /* FILE, LOG, END go the other way: ignored */
}

/* Zeroes the stack below the caller's frame: what the last streams' calls
 * left there. */
__attribute__((noinline)) static void stack_wipe(void)
{
	uint8_t pad[WK_STACK_WIPE];
	explicit_bzero(pad, sizeof(pad));
	__asm__ volatile("" : : "r"(pad) : "memory");
}

/* --wipe, no stream left and a frame to take: zeroes what is left of the
 * last streams (once: their own buffers went as each closed, the head, log
 * and frame buffers as each use ended), and says whether the trusted side
 * has read (and zeroed) all we wrote. Until then no frame is taken. */
static bool wipe_done(struct worker *w)
{
	if (!w->wiped) {
		http_file_cache_clear(w->fcache);
		stack_wipe();
		w->wiped = true;
	}
	if (iso_chan_writable(w->ch) != (ssize_t)iso_chan_out_size(w->ch)) {
		w->wipe_wait = true;
		return false;
	}
	w->wipe_due = w->wiped = false;
	return true;
}

/* Takes the frames waiting in the channel (at most WK_PUMP_MAX). Returns
 * whether it took any, WK_CHAN_END, or a negative errno. */
static int pump(struct worker *w, uint64_t now)
{
	int took = 0;
	for (unsigned n = 0; n < WK_PUMP_MAX; n++) {
		struct iso_frame h, f;
		/* Decide on a peeked header; the frame is taken only if it can be
		 * handled now. */
		ssize_t p = iso_chan_peek(w->ch, &h, sizeof(h));
		if (p < 0)
			return (int)p;
		/* the last unit's leftovers go before the next one's first byte */
		if (p > 0 && w->wipe_due && !wipe_done(w)) {
			w->in_stalled = true;
			break;
		}
		if (p == (ssize_t)sizeof(h) && must_wait(w, &h)) {
			w->in_stalled = true;
			break;
		}
		int rc = iso_frame_recv(w->ch, &f, w->inbuf, sizeof(w->inbuf));
		if (rc == -EAGAIN)
			break;
		if (rc <= 0)
			return rc == 0 ? WK_CHAN_END : rc;
		took = 1;
		rc = on_frame(w, &f, now);
		if (w->wipe)
			memset(w->inbuf, 0, f.len);
		if (rc < 0)
			return rc;
	}
	return took;
}

/* ------------------------------------------------------------------ output */

/* Drops the rest of a body; the stream is reset after its LOG. */
static void body_failed(struct stream *s)
{
	if (s->file >= 0)
		close(s->file);
	s->file = -1;
	s->fleft = 0;
	s->ref_sent = false;
	s->end_pending = true;
	s->end_flags = ISO_END_RESET;
}

enum { FL_DONE, FL_BLOCKED };

/* The head, then an inline body, as DATA frames that fill what room there
 * is (so a full ring is exactly full, and iso_chan_wait(ISO_CHAN_OUT)
 * sleeps until the trusted side reads). */
static int flush_data(struct worker *w, struct stream *s, bool *sent)
{
	while (s->head_off < s->head_len || (!s->by_ref && s->fleft)) {
		ssize_t room = iso_chan_writable(w->ch);
		if (room < 0)
			return (int)room;
		if (room <= (ssize_t)ISO_FRAME_HDR) {
			out_blocked(w, ISO_FRAME_HDR + 1);
			return FL_BLOCKED;
		}
		if (!s->out_credit) {
			w->credit_wait = true;
			return FL_BLOCKED; /* until the trusted side gives credit back */
		}
		size_t cap = (size_t)room - ISO_FRAME_HDR;
		if (cap > w->frame_max)
			cap = w->frame_max;
		if (cap > s->out_credit)
			cap = s->out_credit;
		size_t hl = s->head_len - s->head_off, fl = 0;
		if (hl > cap)
			hl = cap;
		if (!s->by_ref && s->fleft && hl < cap) {
			size_t want = s->fleft < cap - hl ? (size_t)s->fleft : cap - hl;
			ssize_t r = pread(s->file, w->outbuf, want, (off_t)s->foff);
			if (r <= 0) {
				/* The file shrank or failed: its length is promised. */
				body_failed(s);
				if (!hl)
					break;
			} else {
				fl = (size_t)r;
			}
		}
		/* the head (with a cached body in it) straight from where it was
		 * made, the file's bytes after it: one frame */
		struct iovec v[2] = {{s->head + s->head_off, hl}, {w->outbuf, fl}};
		int rc = iso_frame_sendv(w->ch, s->id, ISO_F_DATA, 0, v, 2);
		if (rc < 0)
			return rc; /* not -EAGAIN: the room was there, and we are its only writer */
		*sent = true;
		if (w->wipe)
			memset(w->outbuf, 0, fl);
		s->out_credit -= (uint32_t)(hl + fl);
		s->head_off += (uint32_t)hl;
		s->foff += fl;
		s->fleft -= fl;
	}
	return FL_DONE;
}

/* A frame that must go whole: FL_BLOCKED while it does not fit. */
static int send_whole(struct worker *w, struct stream *s, uint16_t type, uint16_t flags,
		      const void *p, uint32_t len, bool *sent)
{
	int rc = iso_frame_send(w->ch, s->id, type, flags, p, len);
	if (rc == -EAGAIN) {
		out_blocked(w, ISO_FRAME_HDR + len);
		return FL_BLOCKED;
	}
	if (rc == 0)
		*sent = true;
	return rc;
}

/* Sends what s has queued, in order, as far as it goes. Returns FL_DONE
 * (all went: s is no longer busy; if END went, s is to be freed),
 * FL_BLOCKED, or a negative errno (the channel is unusable). */
static int flush(struct worker *w, struct stream *s, bool *sent)
{
	int rc = flush_data(w, s, sent);
	if (rc != FL_DONE)
		return rc;
	if (s->by_ref && s->fleft) {
		struct iso_file_ref ref = {.stream = s->id, .offset = s->foff, .length = s->fleft};
		if (s->out_credit < ISO_WINDOW_FILE) {
			w->credit_wait = true;
			return FL_BLOCKED; /* checked before the descriptor goes: FILE follows it */
		}
		if (!s->ref_sent) {
			rc = iso_fd_send(w->sock, s->file, &ref, sizeof(ref));
			if (rc == -EAGAIN || rc == -ETOOMANYREFS || rc == -ENOBUFS) {
				/* Full, or too many descriptors in flight for our
				 * RLIMIT_NOFILE: the trusted side has yet to take them. */
				w->out_sock = true;
				return FL_BLOCKED;
			}
			if (rc < 0) {
				body_failed(s); /* the trusted side is going away */
			} else {
				/* It has its own copy now. */
				close(s->file);
				s->file = -1;
				s->ref_sent = true;
				*sent = true;
			}
		}
		if (s->ref_sent) {
			rc = send_whole(w, s, ISO_F_FILE, 0, &ref, sizeof(ref), sent);
			if (rc != FL_DONE)
				return rc;
			s->out_credit -= ISO_WINDOW_FILE;
			s->ref_sent = false;
			s->fleft = 0;
		}
	}
	if (s->file >= 0) { /* an inline body, all sent */
		close(s->file);
		s->file = -1;
	}
	if (s->log_len) {
		rc = send_whole(w, s, ISO_F_LOG, 0, s->log, s->log_len, sent);
		if (rc != FL_DONE)
			return rc;
		s->log_len = 0;
	}
	if (s->end_pending) {
		rc = send_whole(w, s, ISO_F_END, s->end_flags, NULL, 0, sent);
		if (rc != FL_DONE)
			return rc;
	}
	s->busy = false;
	s->head_off = s->head_len = 0;
	return FL_DONE;
}

/* Queues END alone (client EOF, idle timeout, a response we cannot make). */
static void queue_end(struct stream *s, uint16_t flags)
{
	s->busy = true;
	s->end_pending = true;
	s->end_flags = flags;
}

/* Queues a response built in w->resp, and its LOG line. On failure the body
 * descriptor is closed. */
static int queue_response(struct worker *w, struct stream *s, const struct http_request *req,
			  const struct http_response *resp, time_t wall, uint16_t log_flags)
{
	if (resp->head_len > s->head_cap) {
		char *head = wk_grow(w, s->head, s->head_cap, 0, resp->head_len);
		if (!head)
			goto nomem;
		s->head = head;
		s->head_cap = (uint32_t)resp->head_len;
	}
	/* No line when the NF keeps no log (--no-log-line): the LOG frame
	 * still carries the status, flags and byte count for its counters. */
	int n = w->no_log_line ? 0 :
		http_log_format(w->line, w->line_cap, "", req, resp->status,
				resp->content_bytes, wall);
	/* Cannot fail (line_cap); a cut line is still a line. */
	size_t len = n < 0 ? strlen(w->line) : (size_t)n;
	const char *text = w->line;
	/* Without the client field (http_log_format wrote "-" for "") and
	 * without the newline: see the top of this file. */
	if (len && text[0] == '-') {
		text++;
		len--;
	}
	if (len && text[len - 1] == '\n')
		len--;
	if (len > w->frame_max - sizeof(struct iso_log))
		len = w->frame_max - sizeof(struct iso_log);
	uint32_t log_len = (uint32_t)(sizeof(struct iso_log) + len);
	if (log_len > s->log_cap) {
		uint8_t *log = wk_grow(w, s->log, s->log_cap, 0, log_len);
		if (!log)
			goto nomem;
		s->log = log;
		s->log_cap = log_len;
	}
	struct iso_log lg = {.status = (uint16_t)resp->status, .content_bytes = resp->content_bytes};
	lg.flags = log_flags;
	memcpy(s->log, &lg, sizeof(lg));
	memcpy(s->log + sizeof(lg), text, len);
	s->log_len = log_len;
	if (w->wipe && n != 0)
		memset(w->line, 0, strnlen(w->line, w->line_cap));

	memcpy(s->head, w->resp, resp->head_len);
	if (w->wipe)
		memset(w->resp, 0, resp->head_len);
	s->head_off = 0;
	s->head_len = (uint32_t)resp->head_len;
	s->file = resp->body_fd;
	s->foff = resp->body_off;
	s->fleft = resp->body_fd >= 0 ? resp->body_len : 0;
	if (s->file >= 0 && !s->fleft) {
		close(s->file);
		s->file = -1;
	}
	s->by_ref = s->fleft > w->inline_max;
	s->ref_sent = false;
	s->busy = true;
	if (!resp->keep_alive) {
		s->end_pending = true;
		s->end_flags = 0;
	}
	return 0;
nomem:
	if (resp->body_fd >= 0)
		close(resp->body_fd);
	return -ENOMEM;
}

/* ---------------------------------------------------------------- requests */

/* Feeds the stream's unfed bytes to its reader; answers a complete request
 * (as nfs/http's feed() does). Returns 0 or -ENOMEM. */
static int feed(struct worker *w, struct stream *s, uint64_t now)
{
	const struct http_request *req;
	size_t used = 0;
	if (!s->req_start_ns && http_reader_idle(s->rd))
		s->req_start_ns = now;
	int rc = http_reader_feed(s->rd, s->in + s->in_off, s->in_len, &used, &req);
	in_consume(w, s, used);
	if (rc == -EAGAIN)
		return 0;
	struct http_request last;
	if (rc != -EBADMSG && s->requests + 1 >= w->max_requests && req->keep_alive) {
		/* The last one this stream may make: say so in its response. */
		last = *req;
		last.keep_alive = false;
		req = &last;
	}
	struct http_response resp;
	time_t wall = wall_now();
	s->req_start_ns = 0;
	if (http_respond_cached(req, w->rootfd, w->open_flags, w->fcache, wall, w->resp,
				w->resp_cap, &resp) < 0) {
		queue_end(s, ISO_END_RESET); /* cannot happen: resp_cap fits any head */
		return 0;
	}
	rc = queue_response(w, s, req, &resp, wall, rc == -EBADMSG ? ISO_LOG_REFUSED : 0);
	if (rc < 0)
		return rc;
	if (++s->requests >= w->max_requests && !s->end_pending) {
		s->end_pending = true;
		s->end_flags = 0;
	}
	if (s->end_pending)
		in_consume(w, s, s->in_len); /* nothing more is read from a closing stream */
	return 0;
}

/* 408: the request head did not arrive in time. */
static int header_timeout(struct worker *w, struct stream *s)
{
	struct http_response resp;
	time_t wall = wall_now();
	s->req_start_ns = 0;
	if (http_respond_status(408, false, false, wall, w->resp, w->resp_cap, &resp) < 0) {
		queue_end(s, 0);
		return 0;
	}
	return queue_response(w, s, NULL, &resp, wall, ISO_LOG_TIMEOUT);
}

/* The next time s needs looking at (UINT64_MAX: none), for a stream with
 * nothing queued. */
static uint64_t stream_deadline(const struct worker *w, const struct stream *s)
{
	if (s->busy)
		return UINT64_MAX;
	if (s->req_start_ns)
		return s->req_start_ns + w->header_timeout_ns;
	if (!s->in_len && !s->eof)
		return s->last_ns + w->idle_timeout_ns;
	return UINT64_MAX;
}

/* Gives the trusted side credit back for the client bytes s consumed, once
 * they make half a window: until then it still has the other half (what
 * it sent and we have not consumed is waiting for our answers to drain).
 * A full ring keeps it for the next pass. */
static int give_back(struct worker *w, struct stream *s, bool *sent)
{
	if (s->in_done < ISO_WINDOW / 2)
		return 0;
	uint32_t inc = s->in_done;
	int rc = iso_frame_send(w->ch, s->id, ISO_F_WINDOW, 0, &inc, sizeof(inc));
	if (rc == -EAGAIN) {
		out_blocked(w, ISO_FRAME_HDR + sizeof(inc));
		return 0;
	}
	if (rc < 0)
		return rc;
	s->in_done = 0;
	*sent = true;
	return 0;
}

/* Moves one stream on: sends what is queued, then answers what it has read,
 * then its timeouts. Frees it once its END went. Returns whether it did
 * anything, or a negative errno. *deadline is lowered to its next timeout. */
static int service(struct worker *w, struct stream *s, uint64_t now, uint64_t *deadline)
{
	bool did = false;
	int rc = give_back(w, s, &did);
	if (rc < 0)
		return rc;
	for (unsigned turn = 0; turn < 2 * WK_BUDGET; turn++) {
		if (s->busy) {
			bool sent = false;
			int rc = flush(w, s, &sent);
			did |= sent;
			if (rc < 0)
				return rc;
			if (rc == FL_BLOCKED)
				return did;
			if (s->end_pending) {
				stream_free(w, s);
				return 1;
			}
			s->last_ns = now;
		}
		rc = 0;
		if (s->in_len) {
			rc = feed(w, s, now);
		} else if (s->eof) {
			/* A partial request at the client's end is not answered. */
			queue_end(s, 0);
		} else {
			uint64_t t = stream_deadline(w, s);
			if (now < t) {
				if (t < *deadline)
					*deadline = t;
				return did;
			}
			if (s->req_start_ns)
				rc = header_timeout(w, s);
			else
				queue_end(s, ISO_END_IDLE);
		}
		if (rc < 0)
			return rc;
		did = true;
	}
	return 1; /* budget spent: more to do */
}

/* ---------------------------------------------------------------- the loop */

/* Sleeps until there may be something to do: input, room in the ring for
 * the least frame held back (out_need), the trusted side having read all
 * we wrote (wipe_wait), the next deadline. The trusted side's reads ring
 * us while we wait for room, so each read wakes us to look. Only the fd
 * socket (full, it has no doorbell) and half a frame in (the trusted side
 * is writing it) make us poll, backing off from 1 ms to WK_POLL_MAX_MS. */
static int wait_for_work(struct worker *w, uint64_t now, uint64_t deadline, unsigned *poll_ms)
{
	unsigned ev = 0;
	bool poll = w->out_sock;
	size_t need = 1;
	if (!w->in_stalled) {
		ssize_t n = iso_chan_readable(w->ch);
		if (n < 0)
			return (int)n;
		struct iso_frame h;
		/* The trusted side gives credit back quietly (iso_frame_send_quiet):
		 * it wakes us only while we wait for it. */
		if (n == 0 || iso_chan_peer_done(w->ch))
			ev |= w->credit_wait ? ISO_CHAN_QUIET : ISO_CHAN_IN;
		else if (n >= (ssize_t)sizeof(h) && iso_chan_peek(w->ch, &h, sizeof(h)) == sizeof(h) &&
			 (size_t)n >= sizeof(h) + h.len)
			return 0; /* a whole frame came in since pump() looked */
		else
			poll = true; /* half a frame: the trusted side is writing it */
	}
	if (w->out_need || w->wipe_wait) {
		need = w->wipe_wait ? iso_chan_out_size(w->ch) : w->out_need;
		if (w->out_need && w->out_need < need)
			need = w->out_need;
		ssize_t room = iso_chan_writable(w->ch);
		if (room < 0)
			return (int)room;
		if ((size_t)room >= need)
			return 0; /* the trusted side read since the pass looked */
		ev |= ISO_CHAN_OUT;
	}
	int timeout = -1;
	if (deadline != UINT64_MAX) {
		uint64_t ms = deadline > now ? (deadline - now + 999999) / 1000000 : 0;
		timeout = ms > 86400000 ? 86400000 : (int)ms;
	}
	if (poll) {
		if (timeout < 0 || (unsigned)timeout > *poll_ms)
			timeout = (int)*poll_ms;
		if (*poll_ms < WK_POLL_MAX_MS)
			*poll_ms *= 2;
	} else {
		*poll_ms = 1;
	}
	if (ev) {
		int rc = iso_chan_wait_room(w->ch, ev, need, timeout);
		return rc < 0 ? rc : 0;
	}
	if (timeout < 0) /* cannot happen: nothing to wait for is a poll */
		timeout = WK_POLL_MAX_MS;
	struct timespec ts = {timeout / 1000, (long)(timeout % 1000) * 1000000};
	nanosleep(&ts, NULL);
	return 0;
}

/* Serves until the trusted side shuts the channel down (0) or a negative
 * errno. */
static int run(struct worker *w)
{
	unsigned poll_ms = 1;
	for (;;) {
		uint64_t now = mono_ns(), deadline = UINT64_MAX;
		w->in_stalled = w->out_sock = w->credit_wait = w->wipe_wait = false;
		w->out_need = 0;
		/* The trusted side's end of stream means: exit, now. Whatever is
		 * still queued either way has nobody left to go to (and a worker
		 * blocked on a full ring would otherwise never see the end). */
		if (iso_chan_peer_done(w->ch))
			return 0;
		int rc = pump(w, now);
		if (rc == WK_CHAN_END)
			return 0;
		if (rc < 0)
			return rc;
		bool progress = rc > 0;
		/* Each pass starts one stream further on, so no stream always
		 * gets the ring's room first. */
		if (w->list.next != &w->list && w->list.next->next != &w->list) {
			struct stream *first = w->list.next;
			list_unlink(first);
			list_append(w, first);
		}
		struct stream *s, *next;
		for (s = w->list.next; s != &w->list; s = next) {
			next = s->next;
			rc = service(w, s, now, &deadline);
			if (rc < 0)
				return rc;
			progress |= rc > 0;
		}
		iso_wake_flush(&w->wake);
		if (progress) {
			poll_ms = 1;
			continue;
		}
		rc = wait_for_work(w, now, deadline, &poll_ms);
		if (rc < 0)
			return rc;
	}
}

/* ----------------------------------------------------------------- options */

static int opt_num(const char *name, const char *v, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long n = v[0] >= '0' && v[0] <= '9' ? strtoull(v, &end, 10) : 0;
	if (v[0] < '0' || v[0] > '9' || errno || *end || n < lo || n > hi) {
		fprintf(stderr, WK_PROG ": --%s: expected a number from %llu to %llu, not '%s'\n",
			name, (unsigned long long)lo, (unsigned long long)hi, v);
		return -EINVAL;
	}
	*out = n;
	return 0;
}

static int parse_options(struct worker *w, int argc, char **argv)
{
	static const struct option opts[] = {
		{"root", required_argument, NULL, 'r'},
		{"max-head-bytes", required_argument, NULL, 'H'},
		{"max-uri-bytes", required_argument, NULL, 'U'},
		{"max-headers", required_argument, NULL, 'F'},
		{"max-requests", required_argument, NULL, 'R'},
		{"header-timeout-ms", required_argument, NULL, 'h'},
		{"idle-timeout-ms", required_argument, NULL, 'i'},
		{"inline-max", required_argument, NULL, 'I'},
		{"max-streams", required_argument, NULL, 'S'},
		{"no-log-line", no_argument, NULL, 'L'},
		{"file-cache", required_argument, NULL, 'C'},
		{"wipe", no_argument, NULL, 'W'},
		{NULL, 0, NULL, 0},
	};
	uint64_t v = 0;
	int o, rc = 0;

	w->root = ".";
	w->max_requests = UINT32_MAX;
	w->max_streams = 1024;
	w->header_timeout_ns = 10000ull * 1000000ull;
	w->idle_timeout_ns = 60000ull * 1000000ull;
	w->inline_max = 16384;
	/* By default the root is the cwd, the sandbox's view: nothing else is
	 * in sight, so files open with a plain openat that follows symlinks
	 * (a symlink out of the root names nothing in the view). */
	w->open_flags = HTTP_OPEN_VIEW;
	opterr = 0;
	while (rc == 0 && (o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		const char *name = NULL;
		for (const struct option *p = opts; p->name; p++)
			if (p->val == o)
				name = p->name;
		switch (o) {
		case 'r': /* a root that is not the whole view (tests): fenced by lib/http */
			w->root = optarg;
			w->open_flags = 0;
			break;
		case 'H':
			if (!(rc = opt_num(name, optarg, 0, HTTP_HEAD_BYTES_MAX, &v)))
				w->lim.max_head_bytes = (uint32_t)v;
			break;
		case 'U':
			if (!(rc = opt_num(name, optarg, 0, HTTP_HEAD_BYTES_MAX, &v)))
				w->lim.max_uri_bytes = (uint32_t)v;
			break;
		case 'F':
			if (!(rc = opt_num(name, optarg, 0, 1024, &v)))
				w->lim.max_headers = (uint32_t)v;
			break;
		case 'R': /* 0: no limit */
			if (!(rc = opt_num(name, optarg, 0, UINT32_MAX, &v)))
				w->max_requests = v ? (uint32_t)v : UINT32_MAX;
			break;
		case 'h':
		case 'i':
			if (!(rc = opt_num(name, optarg, 1, 86400000, &v)))
				*(o == 'h' ? &w->header_timeout_ns : &w->idle_timeout_ns) = v * 1000000ull;
			break;
		case 'I':
			if (!(rc = opt_num(name, optarg, 0, UINT32_MAX, &v)))
				w->inline_max = v;
			break;
		case 'S':
			if (!(rc = opt_num(name, optarg, 1, 1u << 20, &v)))
				w->max_streams = (uint32_t)v;
			break;
		case 'L':
			w->no_log_line = true;
			break;
		case 'W':
			w->wipe = true;
			break;
		case 'C':
			if (!(rc = opt_num(name, optarg, 0, HTTP_FILE_CACHE_MAX_ENTRIES, &v)))
				w->file_cache = (uint32_t)v;
			break;
		default:
			fprintf(stderr, WK_PROG ": unknown option or missing value '%s'\n",
				argv[optind - 1]);
			rc = -EINVAL;
		}
	}
	if (rc == 0 && optind < argc) {
		fprintf(stderr, WK_PROG ": unexpected argument '%s'\n", argv[optind]);
		rc = -EINVAL;
	}
	return rc;
}

/* Everything but the options: the limits (checked once, as every stream
 * uses them), the document root, the channel, the buffers. */
static int setup(struct worker *w)
{
	struct http_reader *probe = http_reader_new(&w->lim);
	if (!probe) {
		fprintf(stderr, WK_PROG ": invalid request limits (--max-head-bytes, "
				"--max-uri-bytes, --max-headers)\n");
		return WK_EXIT_USAGE;
	}
	http_reader_free(probe);
	w->rootfd = open(w->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (w->rootfd < 0) {
		fprintf(stderr, WK_PROG ": --root: cannot open directory '%s': %s\n", w->root,
			strerror(errno));
		return WK_EXIT_USAGE;
	}
	w->ch = iso_chan_attach(ISO_WORKER_CHAN_FD, ISO_SIDE_WORKER);
	if (!w->ch) {
		fprintf(stderr, WK_PROG ": fd %d is not a channel: %s\n", ISO_WORKER_CHAN_FD,
			strerror(errno));
		return WK_EXIT_USAGE;
	}
	close(ISO_WORKER_CHAN_FD); /* the mapping stays */
	iso_chan_join(w->ch, &w->wake);
	iso_chan_set_wipe(w->ch, w->wipe);
	w->sock = ISO_WORKER_SOCK_FD;
	if (fcntl(w->sock, F_GETFD) < 0) {
		fprintf(stderr, WK_PROG ": no fd socket on fd %d\n", ISO_WORKER_SOCK_FD);
		return WK_EXIT_USAGE;
	}
	if (fcntl(ISO_WORKER_NOTIFY_FD, F_GETFD) >= 0)
		iso_chan_set_notify(w->ch, ISO_WORKER_NOTIFY_FD);
	w->frame_max = iso_frame_max(w->ch);
	size_t max_uri = w->lim.max_uri_bytes ? w->lim.max_uri_bytes : 4096;
	size_t max_head = w->lim.max_head_bytes ? w->lim.max_head_bytes : 8192;
	w->resp_cap = HTTP_RESP_BUF_SIZE(max_uri);
	/* Files that go inline anyway (at most --inline-max), up to 16 KiB, are
	 * kept open and in memory: one fstat per request for them. */
	uint64_t cache_max = w->inline_max < 16384 ? w->inline_max : 16384;
	if (w->file_cache && cache_max) {
		w->fcache = http_file_cache_create(w->file_cache, (uint32_t)cache_max);
		if (!w->fcache) {
			fprintf(stderr, WK_PROG ": out of memory\n");
			return WK_EXIT_NOMEM;
		}
		/* A cached file follows its head: with this room the library never
		 * falls back to a dup'd descriptor (F_DUPFD is not in the filter). */
		w->resp_cap += cache_max;
	}
	/* Everything a line quotes from the client comes from the request
	 * head, and escaping makes a byte at most four. */
	w->line_cap = 4 * max_head + 256;
	w->n_slots = 16;
	w->resp = malloc(w->resp_cap);
	w->line = malloc(w->line_cap);
	w->slots = calloc(w->n_slots, sizeof(*w->slots));
	if (!w->resp || !w->line || !w->slots) {
		fprintf(stderr, WK_PROG ": out of memory\n");
		return WK_EXIT_NOMEM;
	}
	return 0;
}

static void teardown(struct worker *w)
{
	while (w->list.next != &w->list)
		stream_free(w, w->list.next);
	while (w->spare) {
		struct stream *s = w->spare;

		w->spare = s->next;
		stream_release(s);
	}
	if (w->ch) {
		iso_chan_shutdown(w->ch);
		iso_chan_close(w->ch);
	}
	http_file_cache_destroy(w->fcache);
	if (w->rootfd >= 0)
		close(w->rootfd);
	close(ISO_WORKER_SOCK_FD);
	free(w->slots);
	free(w->resp);
	free(w->line);
}

int main(int argc, char **argv)
{
	static struct worker w = {.rootfd = -1};
	w.list.next = w.list.prev = &w.list;
	if (parse_options(&w, argc, argv) < 0)
		return WK_EXIT_USAGE;
	int status = setup(&w);
	if (status == 0) {
		int rc = run(&w);
		if (rc == -EPROTO) {
			fprintf(stderr, WK_PROG ": the channel is broken\n");
			status = WK_EXIT_PROTO;
		} else if (rc == -ENOMEM) {
			fprintf(stderr, WK_PROG ": out of memory\n");
			status = WK_EXIT_NOMEM;
		} else if (rc < 0) {
			fprintf(stderr, WK_PROG ": channel: %s\n", strerror(-rc));
			status = 1;
		}
	}
	teardown(&w);
	return status;
}
