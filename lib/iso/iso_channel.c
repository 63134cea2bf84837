/* SPDX-License-Identifier: MIT */
/*
 * The channel between the trusted TCP NF and one worker: a sealed memfd of
 * two SPSC byte rings and two futex doorbells. docs/isolation.md, "Channel".
 *
 * Trust: either side may be hostile to the other, and the trusted side
 * must survive anything a worker writes into the shared pages. So:
 *  - a side never reads back what it owns: its own index, the ring sizes
 *    and the data offsets live in the private handle; only the peer's index,
 *    the peer's end-of-stream flag and the doorbells are read from the
 *    mapping, each exactly once per use (atomic loads, no double fetch);
 *  - the peer's index is accepted only if the distance to ours is within
 *    the ring's size; every copy offset is masked, every length bounded by
 *    the ring's size, so no value in the mapping can move a copy outside it;
 *  - a bad index breaks the handle for good (-EPROTO): the owner kills the
 *    worker; it never gets a second chance to steer a copy.
 * The memfd's seals make the mapping's size a fact, so no peer can turn a
 * page into SIGBUS by truncating the file.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "bulkhead/iso.h"

#define ISO_CHAN_MAGIC   0x4f534942u /* "BISO" little-endian */
#define ISO_CHAN_VERSION 1u
#define ISO_CHAN_CTL     4096u /* header + indices + doorbells, one page */
#define ISO_CHAN_DEFAULT (64u << 10)
#define ISO_SEALS        (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)
#define CACHE_LINE       64

/* Ring r: written by its producer (head, eof), by its consumer (tail). */
struct iso_ring_ctl {
	_Alignas(CACHE_LINE) _Atomic uint32_t head; /* bytes ever written */
	_Atomic uint32_t eof;                       /* producer shut down */
	_Alignas(CACHE_LINE) _Atomic uint32_t tail; /* bytes ever read */
};

/* The control page. Rings follow it: ring 0 at ISO_CHAN_CTL, ring 1 right
 * after ring 0. */
struct iso_chan_shm {
	uint32_t magic;
	uint32_t version;
	uint32_t ctl_bytes;
	uint32_t ring_bytes[2]; /* [ISO_TO_WORKER ring, ISO_FROM_WORKER ring] */
	uint64_t total_bytes;
	struct iso_ring_ctl ring[2];
	/* bell[s]: while side s sleeps (or is about to) in FUTEX_WAIT on it,
	 * the events it waits for; 0 when awake */
	_Alignas(CACHE_LINE) _Atomic uint32_t bell[2];
	_Alignas(CACHE_LINE) char pad_[CACHE_LINE];
};
_Static_assert(sizeof(struct iso_chan_shm) <= ISO_CHAN_CTL, "control page");

enum { RING_TO_WORKER = 0, RING_FROM_WORKER = 1 };

/* One direction as this side sees it; everything here is private. */
struct iso_end {
	struct iso_ring_ctl *ctl; /* in the mapping */
	uint8_t *data;            /* in the mapping, size bytes */
	uint32_t size;            /* power of two */
	uint32_t mine;            /* our index: head if we write, tail if we read */
};

struct iso_chan {
	struct iso_chan_shm *shm;
	size_t map_bytes;
	unsigned side;
	bool broken, shut;
	bool wipe;                /* zero what we consume (iso_chan_set_wipe) */
	int notify_fd;            /* eventfd or pipe written when we ring the peer, or -1 */
	struct iso_wake_batch *batch; /* wake-ups deferred to it, or NULL */
	struct iso_chan *next, **pprev; /* on batch->head's list while owed != 0 */
	unsigned owed;            /* events the peer has yet to be rung for */
	struct iso_end out, in;
	struct iso_chan_stats stats;
};

static bool ring_size_ok(uint32_t n)
{
	return n >= ISO_CHAN_RING_MIN && n <= ISO_CHAN_RING_MAX && (n & (n - 1)) == 0;
}

static long futex(_Atomic uint32_t *word, int op, uint32_t val, const struct timespec *ts)
{
	return syscall(SYS_futex, (uint32_t *)word, op, val, ts, NULL, 0);
}

static struct iso_chan *map_chan(int fd, const uint32_t ring_bytes[2], size_t total,
				 unsigned side)
{
	struct iso_chan *ch = calloc(1, sizeof(*ch));
	if (!ch)
		return NULL;
	void *p = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		free(ch);
		return NULL;
	}
	ch->shm = p;
	ch->map_bytes = total;
	ch->notify_fd = -1;
	ch->side = side;
	uint8_t *rings[2] = {(uint8_t *)p + ISO_CHAN_CTL, (uint8_t *)p + ISO_CHAN_CTL + ring_bytes[0]};
	unsigned o = side == ISO_SIDE_TRUSTED ? RING_TO_WORKER : RING_FROM_WORKER;
	ch->out = (struct iso_end){&ch->shm->ring[o], rings[o], ring_bytes[o], 0};
	ch->in = (struct iso_end){&ch->shm->ring[!o], rings[!o], ring_bytes[!o], 0};
	/* A side attaching late starts from what the mapping says; this is the
	 * only read of its own indices, bounded like any other by the checks
	 * against the peer's index. */
	ch->out.mine = atomic_load_explicit(&ch->out.ctl->head, memory_order_acquire);
	ch->in.mine = atomic_load_explicit(&ch->in.ctl->tail, memory_order_acquire);
	return ch;
}

struct iso_chan *iso_chan_create(uint32_t to_worker_bytes, uint32_t from_worker_bytes,
				 int *memfd)
{
	uint32_t rb[2] = {to_worker_bytes ? to_worker_bytes : ISO_CHAN_DEFAULT,
			  from_worker_bytes ? from_worker_bytes : ISO_CHAN_DEFAULT};
	if (!ring_size_ok(rb[0]) || !ring_size_ok(rb[1]) || !memfd) {
		errno = EINVAL;
		return NULL;
	}
	size_t total = (size_t)ISO_CHAN_CTL + rb[0] + rb[1];
	struct iso_chan *ch = NULL;
	int fd = memfd_create("bh-iso-chan", MFD_ALLOW_SEALING | MFD_CLOEXEC);
	if (fd < 0)
		return NULL;
	if (ftruncate(fd, (off_t)total) < 0)
		goto fail;
	/* A fresh memfd reads as zeros: indices, flags and bells start at 0. */
	ch = map_chan(fd, rb, total, ISO_SIDE_TRUSTED);
	if (!ch)
		goto fail;
	ch->shm->ctl_bytes = ISO_CHAN_CTL;
	ch->shm->ring_bytes[0] = rb[0];
	ch->shm->ring_bytes[1] = rb[1];
	ch->shm->total_bytes = total;
	ch->shm->version = ISO_CHAN_VERSION;
	atomic_thread_fence(memory_order_release);
	ch->shm->magic = ISO_CHAN_MAGIC;
	if (fcntl(fd, F_ADD_SEALS, ISO_SEALS) < 0)
		goto fail;
	*memfd = fd;
	return ch;
fail:;
	int e = errno;
	iso_chan_close(ch);
	close(fd);
	errno = e;
	return NULL;
}

struct iso_chan *iso_chan_attach(int fd, enum iso_side side)
{
	struct stat st;
	int seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || (seals & ISO_SEALS) != ISO_SEALS || fstat(fd, &st) < 0 ||
	    !S_ISREG(st.st_mode) || st.st_size < (off_t)ISO_CHAN_CTL ||
	    (side != ISO_SIDE_TRUSTED && side != ISO_SIDE_WORKER)) {
		errno = EINVAL;
		return NULL;
	}
	/* Read the header once into private memory (the creator may still be
	 * writing to the file). */
	struct iso_chan_shm h;
	if (pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h)) {
		errno = EINVAL;
		return NULL;
	}
	uint32_t rb[2] = {h.ring_bytes[0], h.ring_bytes[1]};
	if (h.magic != ISO_CHAN_MAGIC || h.version != ISO_CHAN_VERSION ||
	    h.ctl_bytes != ISO_CHAN_CTL || !ring_size_ok(rb[0]) || !ring_size_ok(rb[1]) ||
	    h.total_bytes != (uint64_t)ISO_CHAN_CTL + rb[0] + rb[1] ||
	    (uint64_t)st.st_size != h.total_bytes) {
		errno = EINVAL;
		return NULL;
	}
	return map_chan(fd, rb, (size_t)h.total_bytes, side);
}

void iso_chan_close(struct iso_chan *ch)
{
	if (!ch)
		return;
	iso_chan_join(ch, NULL);
	munmap(ch->shm, ch->map_bytes);
	free(ch);
}

/* The peer's index, bounded: how many bytes lie between the two indices of
 * ring e, or -1 (and a broken handle) if the peer's index is impossible. */
static int64_t ring_used(struct iso_chan *ch, struct iso_end *e, bool producer)
{
	if (ch->broken)
		return -1;
	uint32_t used;
	if (producer)
		used = e->mine - atomic_load_explicit(&e->ctl->tail, memory_order_acquire);
	else
		used = atomic_load_explicit(&e->ctl->head, memory_order_acquire) - e->mine;
	if (used > e->size) {
		ch->broken = true;
		return -1;
	}
	return used;
}

static void ring_peer(struct iso_chan *ch, unsigned ev);

/* After publishing an index or a flag that makes one of `ev` true: ring the
 * peer now, or owe it the wake-up in the channel's batch. */
static void wake_peer(struct iso_chan *ch, unsigned ev)
{
	if (ch->batch) {
		if (!ch->owed) {
			ch->next = ch->batch->head;
			if (ch->next)
				ch->next->pprev = &ch->next;
			ch->pprev = &ch->batch->head;
			ch->batch->head = ch;
		}
		ch->owed |= ev;
		return;
	}
	ring_peer(ch, ev);
}

/* Take ch off its batch's list. */
static void owed_unlink(struct iso_chan *ch)
{
	*ch->pprev = ch->next;
	if (ch->next)
		ch->next->pprev = ch->pprev;
	ch->next = NULL;
	ch->pprev = NULL;
	ch->owed = 0;
}

/* Ring now what ch owes its peer, if anything. */
static void ring_owed(struct iso_chan *ch)
{
	if (ch->owed) {
		unsigned ev = ch->owed;
		owed_unlink(ch);
		ring_peer(ch, ev);
	}
}

void iso_chan_join(struct iso_chan *ch, struct iso_wake_batch *b)
{
	ring_owed(ch);
	ch->batch = b;
}

unsigned iso_wake_flush(struct iso_wake_batch *b)
{
	unsigned n = 0;
	for (; b->head; n++)
		ring_owed(b->head);
	return n;
}

bool iso_chan_wake_owed(const struct iso_chan *ch)
{
	return ch->owed != 0;
}

/* Ring the peer's doorbell if it sleeps waiting for one of `ev` (published
 * before this call). The seq_cst fence pairs with the one in
 * iso_chan_wait(): either the peer sees what we published when it
 * re-checks, or we see its bell. Awake peer: one load. */
static void ring_peer(struct iso_chan *ch, unsigned ev)
{
	_Atomic uint32_t *bell = &ch->shm->bell[!ch->side];
	atomic_thread_fence(memory_order_seq_cst);
	if ((atomic_load_explicit(bell, memory_order_relaxed) & ev) &&
	    atomic_exchange_explicit(bell, 0, memory_order_relaxed)) {
		futex(bell, FUTEX_WAKE, 1, NULL);
		ch->stats.wakes++;
		if (ch->notify_fd >= 0) {
			uint64_t one = 1;
			/* It only fails when the eventfd's counter is saturated
			 * or the pipe is full, both readable: nothing to do. */
			ssize_t w = write(ch->notify_fd, &one, sizeof(one));
			(void)w;
		}
	}
}

uint32_t iso_chan_out_size(const struct iso_chan *ch)
{
	return ch->out.size;
}

void iso_chan_set_notify(struct iso_chan *ch, int efd)
{
	ch->notify_fd = efd;
}

void iso_chan_wake(struct iso_chan *ch)
{
	wake_peer(ch, ISO_CHAN_IN | ISO_CHAN_OUT);
}

/* Copies len (at most e->size) bytes between buf and ring e at our index,
 * wrapping once at the end of the ring. */
static void ring_copy(struct iso_end *e, uint8_t *buf, size_t len, bool to_ring)
{
	uint32_t pos = e->mine & (e->size - 1);
	size_t first = len < e->size - pos ? len : e->size - pos;
	if (to_ring) {
		memcpy(e->data + pos, buf, first);
		memcpy(e->data, buf + first, len - first);
	} else {
		memcpy(buf, e->data + pos, first);
		memcpy(buf + first, e->data, len - first);
	}
}

/* Zeroes len bytes of ring e from our index (wrapping once), in wipe mode:
 * ours until we publish the index past them. */
static void ring_wipe(struct iso_chan *ch, struct iso_end *e, size_t len)
{
	if (!ch->wipe || !len)
		return;
	uint32_t pos = e->mine & (e->size - 1);
	size_t first = len < e->size - pos ? len : e->size - pos;
	memset(e->data + pos, 0, first);
	memset(e->data, 0, len - first);
}

void iso_chan_set_wipe(struct iso_chan *ch, bool on)
{
	ch->wipe = on;
}

ssize_t iso_chan_readable(struct iso_chan *ch)
{
	int64_t used = ring_used(ch, &ch->in, false);
	return used < 0 ? -EPROTO : (ssize_t)used;
}

ssize_t iso_chan_writable(struct iso_chan *ch)
{
	int64_t used = ring_used(ch, &ch->out, true);
	return used < 0 ? -EPROTO : (ssize_t)(ch->out.size - used);
}

ssize_t iso_chan_write(struct iso_chan *ch, const void *buf, size_t n)
{
	struct iovec v = {(void *)buf, n};
	return iso_chan_writev(ch, &v, 1);
}

/* Writes the pieces, then wakes a peer that waits for `ev`: ISO_CHAN_IN
 * (every reader that sleeps) or ISO_CHAN_QUIET (only one that asked). */
static ssize_t chan_writev(struct iso_chan *ch, const struct iovec *iov, int iovcnt, unsigned ev)
{
	struct iso_end *e = &ch->out;
	if (ch->shut)
		return -EPIPE;
	ssize_t room = iso_chan_writable(ch);
	if (room <= 0)
		return room;
	uint32_t start = e->mine;
	size_t left = (size_t)room;
	for (int i = 0; i < iovcnt && left; i++) {
		size_t len = iov[i].iov_len < left ? iov[i].iov_len : left;
		if (!len)
			continue; /* an empty piece may have no base */
		ring_copy(e, iov[i].iov_base, len, true);
		e->mine += (uint32_t)len;
		left -= len;
	}
	if (e->mine == start)
		return 0;
	/* One index update and one wake check for the whole. A quiet write
	 * that leaves the ring more than half full rings every sleeping
	 * reader: one asleep for ISO_CHAN_IN alone would otherwise let quiet
	 * bytes fill its ring with nothing left to wake it, and the next
	 * write find no room while the reader sleeps on. */
	if (ev == ISO_CHAN_QUIET && e->size - (size_t)room + (e->mine - start) > e->size / 2)
		ev = ISO_CHAN_IN;
	atomic_store_explicit(&e->ctl->head, e->mine, memory_order_release);
	wake_peer(ch, ev);
	return (ssize_t)(e->mine - start);
}

ssize_t iso_chan_writev(struct iso_chan *ch, const struct iovec *iov, int iovcnt)
{
	return chan_writev(ch, iov, iovcnt, ISO_CHAN_IN);
}

ssize_t iso_chan_writev_quiet(struct iso_chan *ch, const struct iovec *iov, int iovcnt)
{
	return chan_writev(ch, iov, iovcnt, ISO_CHAN_QUIET);
}

ssize_t iso_chan_peek(struct iso_chan *ch, void *buf, size_t n)
{
	ssize_t avail = iso_chan_readable(ch);
	if (avail <= 0)
		return avail;
	size_t len = n < (size_t)avail ? n : (size_t)avail;
	ring_copy(&ch->in, buf, len, false);
	return (ssize_t)len;
}

ssize_t iso_chan_read(struct iso_chan *ch, void *buf, size_t n)
{
	struct iso_end *e = &ch->in;
	/* The flag before the index: the peer sets it after its last byte. */
	bool eof = atomic_load_explicit(&e->ctl->eof, memory_order_acquire);
	ssize_t avail = iso_chan_readable(ch);
	if (avail < 0)
		return avail;
	if (avail == 0)
		return eof ? 0 : -EAGAIN;
	size_t len = n < (size_t)avail ? n : (size_t)avail;
	if (len == 0)
		return -EINVAL;
	ring_copy(e, buf, len, false);
	ring_wipe(ch, e, len);
	e->mine += (uint32_t)len;
	atomic_store_explicit(&e->ctl->tail, e->mine, memory_order_release);
	wake_peer(ch, ISO_CHAN_OUT);
	return (ssize_t)len;
}

ssize_t iso_chan_consume(struct iso_chan *ch, size_t skip, void *buf, size_t n)
{
	struct iso_end *e = &ch->in;
	ssize_t avail = iso_chan_readable(ch);
	if (avail < 0)
		return avail;
	if (skip > (size_t)avail || n > (size_t)avail - skip)
		return -EAGAIN;
	if (skip + n == 0)
		return 0;
	ring_wipe(ch, e, skip);
	e->mine += (uint32_t)skip;
	if (n)
		ring_copy(e, buf, n, false);
	ring_wipe(ch, e, n);
	e->mine += (uint32_t)n;
	atomic_store_explicit(&e->ctl->tail, e->mine, memory_order_release);
	wake_peer(ch, ISO_CHAN_OUT);
	return (ssize_t)n;
}

int iso_chan_shutdown(struct iso_chan *ch)
{
	if (ch->broken)
		return -EPROTO;
	if (!ch->shut) {
		ch->shut = true;
		atomic_store_explicit(&ch->out.ctl->eof, 1, memory_order_release);
		wake_peer(ch, ISO_CHAN_IN | ISO_CHAN_OUT);
	}
	return 0;
}

bool iso_chan_peer_done(struct iso_chan *ch)
{
	return atomic_load_explicit(&ch->in.ctl->eof, memory_order_acquire) != 0;
}

bool iso_chan_peer_sleeping(struct iso_chan *ch)
{
	return atomic_load_explicit(&ch->shm->bell[!ch->side], memory_order_relaxed) != 0;
}

void iso_chan_stats(const struct iso_chan *ch, struct iso_chan_stats *st)
{
	*st = ch->stats;
}

/* What a side waiting for `events` marks its bell with: a quiet waiter is
 * an ISO_CHAN_IN waiter too, rung by every write. */
static uint32_t bell_mark(unsigned events)
{
	uint32_t mark = events & (ISO_CHAN_IN | ISO_CHAN_OUT | ISO_CHAN_QUIET);
	return mark & ISO_CHAN_QUIET ? mark | ISO_CHAN_IN : mark;
}

/* Which of `events` hold now (ISO_CHAN_QUIET as ISO_CHAN_IN; ISO_CHAN_OUT
 * with at least `room` bytes free), or -EPROTO. */
static int ready(struct iso_chan *ch, unsigned events, size_t room)
{
	int r = 0;
	if (events & (ISO_CHAN_IN | ISO_CHAN_QUIET)) {
		ssize_t n = iso_chan_readable(ch);
		if (n < 0)
			return (int)n;
		if (n > 0 || iso_chan_peer_done(ch))
			r |= ISO_CHAN_IN;
	}
	if (events & ISO_CHAN_OUT) {
		ssize_t n = iso_chan_writable(ch);
		if (n < 0)
			return (int)n;
		if (n > 0 && (size_t)n >= room)
			r |= ISO_CHAN_OUT;
	}
	return r;
}

int iso_chan_wait(struct iso_chan *ch, unsigned events, int timeout_ms)
{
	return iso_chan_wait_room(ch, events, 1, timeout_ms);
}

int iso_chan_wait_room(struct iso_chan *ch, unsigned events, size_t room, int timeout_ms)
{
	int r = ready(ch, events, room);
	uint32_t mark = bell_mark(events);
	if (r != 0 || timeout_ms == 0 || mark == 0)
		return r;
	/* About to sleep: a peer owed a wake-up (a batch not flushed) may be
	 * what we wait for. */
	ring_owed(ch);
	_Atomic uint32_t *bell = &ch->shm->bell[ch->side];
	atomic_store_explicit(bell, mark, memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
	r = ready(ch, events, room);
	if (r == 0) {
		struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000};
		/* Returns at once if the peer cleared the bell meanwhile. */
		futex(bell, FUTEX_WAIT, mark, timeout_ms < 0 ? NULL : &ts);
		ch->stats.waits++;
		r = ready(ch, events, room);
	}
	atomic_store_explicit(bell, 0, memory_order_relaxed);
	return r;
}

int iso_chan_arm(struct iso_chan *ch, unsigned events)
{
	uint32_t mark = bell_mark(events);
	atomic_store_explicit(&ch->shm->bell[ch->side], mark, memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
	return ready(ch, events, 1);
}

void iso_chan_disarm(struct iso_chan *ch)
{
	atomic_store_explicit(&ch->shm->bell[ch->side], 0, memory_order_relaxed);
}
