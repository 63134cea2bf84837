/* SPDX-License-Identifier: MIT */
/*
 * Chunk pool, send buffer and receive buffer (contracts in tcp_buf.h).
 *
 * Why chunks rather than one ring per socket: a ring sized for the limit
 * costs its full size for every idle connection; chunks cost memory only for
 * bytes actually held, and freed chunks are shared through the per-core pool.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "tcp_buf.h"
#include "tcp_seq.h"

struct tcp_chunk {
	struct tcp_chunk *next; /* send-buffer FIFO link, or free-list link */
	uint8_t data[TCP_CHUNK_SIZE];
};

#define CHUNK_MASK (TCP_CHUNK_SIZE - 1)

static inline uint32_t min_u32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

/* ---------------------------------------------------------------- pool */

void tcp_chunk_pool_init(struct tcp_chunk_pool *p, size_t max_live, size_t max_cached)
{
	memset(p, 0, sizeof(*p));
	p->max_live = max_live;
	p->max_cached = max_cached;
}

size_t tcp_chunk_pool_fini(struct tcp_chunk_pool *p)
{
	while (p->free_list) {
		struct tcp_chunk *c = p->free_list;
		p->free_list = c->next;
		free(c);
	}
	p->nr_cached = 0;
	return p->nr_live;
}

static struct tcp_chunk *chunk_alloc(struct tcp_chunk_pool *p)
{
	struct tcp_chunk *c;

	if (p->max_live && p->nr_live >= p->max_live) {
		p->nr_fail++;
		return NULL;
	}
	c = p->free_list;
	if (c) {
		p->free_list = c->next;
		p->nr_cached--;
	} else {
		c = malloc(sizeof(*c));
		if (!c) {
			p->nr_fail++;
			return NULL;
		}
		p->nr_malloc++;
	}
	c->next = NULL;
	p->nr_live++;
	return c;
}

static void chunk_free(struct tcp_chunk_pool *p, struct tcp_chunk *c)
{
	p->nr_live--;
	if (p->nr_cached < p->max_cached) {
		c->next = p->free_list;
		p->free_list = c;
		p->nr_cached++;
	} else {
		free(c);
	}
}

/* ----------------------------------------------------------- send buffer */

int tcp_sndbuf_init(struct tcp_sndbuf *sb, struct tcp_chunk_pool *pool, uint32_t limit)
{
	memset(sb, 0, sizeof(*sb));
	sb->pool = pool;
	sb->limit = limit;
	return 0;
}

static void sndbuf_free_head(struct tcp_sndbuf *sb)
{
	struct tcp_chunk *c = sb->head;

	sb->head = c->next;
	if (!sb->head)
		sb->tail = NULL;
	if (sb->cur == c)
		sb->cur = NULL;
	sb->nr_chunks--;
	chunk_free(sb->pool, c);
}

void tcp_sndbuf_fini(struct tcp_sndbuf *sb)
{
	while (sb->head)
		sndbuf_free_head(sb);
	sb->head_off = 0;
	sb->len = 0;
}

/*
 * Room for up to want more bytes at the end: the tail chunk's free space,
 * then new chunks, not yet linked (at most SB_ROOM_CHUNKS, fewer when the
 * pool runs out). Fills iov and returns its count; *n_new says how many of
 * the pieces are the new chunks, in fresh[].
 */
#define SB_ROOM_CHUNKS 32
static int sndbuf_room(struct tcp_sndbuf *sb, uint32_t want, struct iovec *iov,
		       struct tcp_chunk **fresh, int *n_new)
{
	int n = 0;
	*n_new = 0;
	if (sb->tail) {
		/* Bytes used in the tail chunk: everything from the head's first
		 * byte minus the full chunks before the tail. */
		uint32_t used = sb->head_off + sb->len - (sb->nr_chunks - 1) * TCP_CHUNK_SIZE;
		uint32_t k = min_u32(want, TCP_CHUNK_SIZE - used);
		if (k) {
			iov[n++] = (struct iovec){sb->tail->data + used, k};
			want -= k;
		}
	}
	while (want && *n_new < SB_ROOM_CHUNKS) {
		struct tcp_chunk *c = chunk_alloc(sb->pool);
		if (!c)
			break;
		uint32_t k = min_u32(want, TCP_CHUNK_SIZE);
		fresh[(*n_new)++] = c;
		iov[n++] = (struct iovec){c->data, k};
		want -= k;
	}
	return n;
}

/* The first got bytes of the room are data now: link the new chunks they
 * reached, give the others back. */
static void sndbuf_commit(struct tcp_sndbuf *sb, const struct iovec *iov, int n_iov,
			  struct tcp_chunk **fresh, int n_new, uint32_t got)
{
	int first_new = n_iov - n_new;
	sb->len += got;
	for (int i = 0; i < n_iov; i++) {
		uint32_t k = min_u32(got, (uint32_t)iov[i].iov_len);
		got -= k;
		if (i < first_new)
			continue;
		struct tcp_chunk *c = fresh[i - first_new];
		if (!k) {
			chunk_free(sb->pool, c);
			continue;
		}
		if (sb->tail)
			sb->tail->next = c;
		else
			sb->head = c;
		sb->tail = c;
		sb->nr_chunks++;
	}
}

int tcp_sndbuf_append(struct tcp_sndbuf *sb, const void *data, uint32_t len)
{
	const uint8_t *src = data;
	uint32_t want = min_u32(len, tcp_sndbuf_space(sb));
	uint32_t taken = 0;
	struct iovec iov[SB_ROOM_CHUNKS + 1];
	struct tcp_chunk *fresh[SB_ROOM_CHUNKS];
	int n_new;

	while (taken < want) {
		int n = sndbuf_room(sb, want - taken, iov, fresh, &n_new);
		if (!n)
			break;
		uint32_t got = 0;
		for (int i = 0; i < n; i++) {
			memcpy(iov[i].iov_base, src + taken + got, iov[i].iov_len);
			got += (uint32_t)iov[i].iov_len;
		}
		sndbuf_commit(sb, iov, n, fresh, n_new, got);
		taken += got;
	}
	if (taken == 0 && want > 0)
		return -ENOMEM;
	return (int)taken;
}

int tcp_sndbuf_append_fd(struct tcp_sndbuf *sb, int fd, uint64_t off, uint32_t len)
{
	uint32_t want = min_u32(len, tcp_sndbuf_space(sb));
	struct iovec iov[SB_ROOM_CHUNKS + 1];
	struct tcp_chunk *fresh[SB_ROOM_CHUNKS];
	int n_new;

	if (!want)
		return 0;
	if (off > (uint64_t)INT64_MAX - want)
		return -EINVAL;
	int n = sndbuf_room(sb, want, iov, fresh, &n_new);
	if (!n)
		return -ENOMEM;
	ssize_t r = preadv(fd, iov, n, (off_t)off);
	int err = r < 0 ? -errno : r == 0 ? -ENODATA : 0;
	sndbuf_commit(sb, iov, n, fresh, n_new, r > 0 ? (uint32_t)r : 0);
	return err ? err : (int)r;
}

uint32_t tcp_sndbuf_copy(struct tcp_sndbuf *sb, uint32_t off, void *dst, uint32_t len)
{
	uint8_t *out = dst;
	struct tcp_chunk *c;
	uint64_t pos, cpos; /* positions counted from the head chunk's data[0] */
	uint32_t n, done = 0;

	if (off >= sb->len)
		return 0;
	n = min_u32(len, sb->len - off);
	if (n == 0)
		return 0;
	pos = (uint64_t)sb->head_off + off;
	if (sb->cur && sb->cur_off + sb->head_off <= (int64_t)pos) {
		c = sb->cur;
		cpos = (uint64_t)(sb->cur_off + sb->head_off);
	} else {
		c = sb->head;
		cpos = 0;
	}
	while (pos >= cpos + TCP_CHUNK_SIZE) {
		c = c->next;
		cpos += TCP_CHUNK_SIZE;
	}
	for (;;) {
		uint32_t in = (uint32_t)(pos - cpos);
		uint32_t k = min_u32(n - done, TCP_CHUNK_SIZE - in);
		memcpy(out + done, c->data + in, k);
		done += k;
		pos += k;
		if (done == n)
			break;
		c = c->next;
		cpos += TCP_CHUNK_SIZE;
	}
	sb->cur = c;
	sb->cur_off = (int64_t)cpos - sb->head_off;
	return n;
}

uint32_t tcp_sndbuf_release(struct tcp_sndbuf *sb, uint32_t len)
{
	uint32_t n = min_u32(len, sb->len);

	/* Buffer offsets are counted from the first held byte, so the cached
	 * chunk's offset moves down by n; freeing whole chunks before it does
	 * not change it. */
	sb->len -= n;
	sb->head_off += n;
	sb->cur_off -= n;
	while (sb->head && sb->head_off >= TCP_CHUNK_SIZE) {
		sndbuf_free_head(sb);
		sb->head_off -= TCP_CHUNK_SIZE;
	}
	if (sb->len == 0) { /* drained: give back the partly used chunk too */
		while (sb->head)
			sndbuf_free_head(sb);
		sb->head_off = 0;
	}
	return n;
}

/* -------------------------------------------------------- receive buffer */

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t p = 1;
	while (p < n)
		p <<= 1;
	return p;
}

int tcp_rcvbuf_init(struct tcp_rcvbuf *rb, struct tcp_chunk_pool *pool, uint32_t rcv_nxt,
		    uint32_t limit, uint32_t max_ranges)
{
	uint32_t nr_slots;

	memset(rb, 0, sizeof(*rb));
	if (limit == 0 || limit > (1u << 30) || max_ranges == 0 || max_ranges > 65536)
		return -EINVAL;
	/* [rd_nxt, rd_nxt + limit) touches at most limit / CHUNK + 2 chunks;
	 * that many slots, rounded up to a power of two (which divides 2^32,
	 * so the slot of a sequence number survives the wrap), never alias. */
	nr_slots = pow2_at_least((limit >> TCP_CHUNK_SHIFT) + 2);
	rb->slot = calloc(nr_slots, sizeof(*rb->slot));
	rb->ooo = calloc(max_ranges, sizeof(*rb->ooo));
	if (!rb->slot || !rb->ooo) {
		free(rb->slot);
		free(rb->ooo);
		rb->slot = NULL;
		rb->ooo = NULL;
		return -ENOMEM;
	}
	rb->pool = pool;
	rb->slot_mask = nr_slots - 1;
	rb->rd_nxt = rb->rcv_nxt = rcv_nxt;
	rb->limit = limit;
	rb->max_ooo = max_ranges;
	return 0;
}

void tcp_rcvbuf_fini(struct tcp_rcvbuf *rb)
{
	/* Most connections end with everything read: no slot to visit. */
	for (uint32_t i = 0; rb->slot && rb->nr_chunks && i <= rb->slot_mask; i++)
		if (rb->slot[i]) {
			chunk_free(rb->pool, rb->slot[i]);
			rb->nr_chunks--;
		}
	free(rb->slot);
	free(rb->ooo);
	rb->slot = NULL;
	rb->ooo = NULL;
	rb->nr_chunks = 0;
	rb->nr_ooo = 0;
	rb->ooo_bytes = 0;
	rb->nr_recent = 0;
	rb->rd_nxt = rb->rcv_nxt;
}

int tcp_rcvbuf_set_rcv_nxt(struct tcp_rcvbuf *rb, uint32_t rcv_nxt)
{
	if (tcp_rcvbuf_readable(rb) || rb->nr_ooo)
		return -EBUSY;
	rb->rd_nxt = rb->rcv_nxt = rcv_nxt;
	return 0;
}

int tcp_rcvbuf_set_limit(struct tcp_rcvbuf *rb, uint32_t limit)
{
	if (limit == 0 || limit > (1u << 30))
		return -EINVAL;
	uint32_t held = rb->rcv_nxt - rb->rd_nxt + rb->ooo_bytes;
	if (rb->nr_ooo)
		held = rb->ooo[rb->nr_ooo - 1].end - rb->rd_nxt;
	if (limit < held)
		limit = held; /* never below what is stored */
	uint32_t nr_slots = pow2_at_least((limit >> TCP_CHUNK_SHIFT) + 2);
	if (nr_slots > rb->slot_mask + 1) {
		struct tcp_chunk **ns = calloc(nr_slots, sizeof(*ns));
		if (!ns)
			return -ENOMEM;
		/* The old window never aliased: move each block to its new slot. */
		uint32_t first = rb->rd_nxt >> TCP_CHUNK_SHIFT;
		for (uint32_t i = 0; i <= rb->slot_mask; i++) {
			uint32_t b = first + i;
			struct tcp_chunk *ch = rb->slot[b & rb->slot_mask];
			if (ch)
				ns[b & (nr_slots - 1)] = ch;
		}
		free(rb->slot);
		rb->slot = ns;
		rb->slot_mask = nr_slots - 1;
	}
	rb->limit = limit;
	return 0;
}

static inline struct tcp_chunk **rb_slot(const struct tcp_rcvbuf *rb, uint32_t seq)
{
	return &rb->slot[(seq >> TCP_CHUNK_SHIFT) & rb->slot_mask];
}

/* Make sure every chunk holding [seq, seq + len) exists (len > 0). Counts
 * chunks rather than comparing indexes, which wrap with the sequence space. */
static int rb_prealloc(struct tcp_rcvbuf *rb, uint32_t seq, uint32_t len)
{
	uint32_t n = (((seq & CHUNK_MASK) + len - 1) >> TCP_CHUNK_SHIFT) + 1;

	for (uint32_t i = 0; i < n; i++) {
		struct tcp_chunk **s = rb_slot(rb, seq + i * TCP_CHUNK_SIZE);
		if (!*s) {
			*s = chunk_alloc(rb->pool);
			if (!*s)
				return -ENOMEM;
			rb->nr_chunks++;
		}
	}
	return 0;
}

static void rb_write(struct tcp_rcvbuf *rb, uint32_t seq, const uint8_t *src, uint32_t len)
{
	while (len) {
		uint32_t in = seq & CHUNK_MASK;
		uint32_t k = min_u32(len, TCP_CHUNK_SIZE - in);
		memcpy((*rb_slot(rb, seq))->data + in, src, k);
		seq += k;
		src += k;
		len -= k;
	}
}

/* Keep the recency list to sequence numbers inside live out-of-order ranges. */
static void rb_recent_drop_if(struct tcp_rcvbuf *rb, uint32_t lo, uint32_t hi, bool below_nxt)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < rb->nr_recent; i++) {
		uint32_t m = rb->recent[i];
		bool drop = below_nxt ? tcp_seq_lt(m, rb->rcv_nxt)
				      : tcp_seq_in_window(m, lo, hi - lo);
		if (!drop)
			rb->recent[n++] = m;
	}
	rb->nr_recent = n;
}

int tcp_rcvbuf_insert(struct tcp_rcvbuf *rb, uint32_t seq, const void *data, uint32_t len)
{
	const uint8_t *src = data;
	uint32_t base = rb->rcv_nxt;
	uint32_t wnd = tcp_rcvbuf_window(rb);
	uint32_t s, e, i, j, gap = 0;
	int32_t off = (int32_t)(seq - base);

	if (len == 0)
		return 0;
	if (off < 0) { /* starts before RCV.NXT: drop what we already have */
		uint32_t skip = (uint32_t)-(int64_t)off;
		if (skip >= len) {
			rb->nr_dup_bytes += len;
			return 0;
		}
		rb->nr_dup_bytes += skip;
		src += skip;
		len -= skip;
		off = 0;
	}
	if ((uint32_t)off >= wnd)
		return 0; /* beyond the window (or zero window) */
	len = min_u32(len, wnd - (uint32_t)off);
	/* From here on, offsets from RCV.NXT: all in [0, wnd], plain compares. */
	s = (uint32_t)off;
	e = s + len;

	/* Ranges i..j-1 overlap or touch [s, e) and merge with it. */
	for (i = 0; i < rb->nr_ooo && rb->ooo[i].end - base < s; i++)
		;
	for (j = i; j < rb->nr_ooo && rb->ooo[j].start - base <= e; j++)
		;
	if (s > 0 && rb->nr_ooo - (j - i) + 1 > rb->max_ooo)
		return -ENOBUFS;

	/* Allocate for the bytes not yet held (the gaps), then copy them:
	 * first copy wins, so bytes inside ranges i..j-1 are left alone. */
	for (int pass = 0; pass < 2; pass++) {
		uint32_t p = s;
		for (uint32_t k = i; k <= j; k++) {
			uint32_t gs = p;
			uint32_t ge = k < j ? min_u32(rb->ooo[k].start - base, e) : e;
			if (ge > gs) {
				if (pass == 0) {
					if (rb_prealloc(rb, base + gs, ge - gs))
						return -ENOMEM;
				} else {
					rb_write(rb, base + gs, src + (gs - s), ge - gs);
					gap += ge - gs;
				}
			}
			if (k < j && rb->ooo[k].end - base > p)
				p = rb->ooo[k].end - base;
		}
	}
	rb->nr_dup_bytes += len - gap;
	rb->ooo_bytes += gap;

	/* Replace ranges i..j-1 by their union with [s, e). */
	uint32_t ms = s, me = e;
	if (j > i) {
		ms = min_u32(ms, rb->ooo[i].start - base);
		me = e > rb->ooo[j - 1].end - base ? e : rb->ooo[j - 1].end - base;
	}
	if (ms == 0) { /* fills the hole at RCV.NXT: all of it is in order now */
		rb->ooo_bytes -= me;
		memmove(&rb->ooo[0], &rb->ooo[j], (rb->nr_ooo - j) * sizeof(*rb->ooo));
		rb->nr_ooo -= j;
		rb->rcv_nxt = base + me;
		rb_recent_drop_if(rb, 0, 0, true);
		return (int)me;
	}
	uint32_t removed = j - i;
	if (removed == 0) {
		memmove(&rb->ooo[i + 1], &rb->ooo[i], (rb->nr_ooo - i) * sizeof(*rb->ooo));
		rb->nr_ooo++;
	} else if (removed > 1) {
		memmove(&rb->ooo[i + 1], &rb->ooo[j], (rb->nr_ooo - j) * sizeof(*rb->ooo));
		rb->nr_ooo -= removed - 1;
	}
	rb->ooo[i].start = base + ms;
	rb->ooo[i].end = base + me;

	/* This segment's range goes first in the recency list (RFC 2018 §4). */
	rb_recent_drop_if(rb, base + ms, base + me, false);
	if (rb->nr_recent == TCP_SACK_MAX_BLOCKS)
		rb->nr_recent--;
	memmove(&rb->recent[1], &rb->recent[0], rb->nr_recent * sizeof(rb->recent[0]));
	rb->recent[0] = base + s;
	rb->nr_recent++;
	return 0;
}

static uint32_t rb_copy(const struct tcp_rcvbuf *rb, uint8_t *dst, uint32_t len)
{
	uint32_t n = min_u32(len, tcp_rcvbuf_readable(rb));
	uint32_t seq = rb->rd_nxt;

	for (uint32_t done = 0; done < n;) {
		uint32_t in = seq & CHUNK_MASK;
		uint32_t k = min_u32(n - done, TCP_CHUNK_SIZE - in);
		memcpy(dst + done, (*rb_slot(rb, seq))->data + in, k);
		done += k;
		seq += k;
	}
	return n;
}

uint32_t tcp_rcvbuf_peek(const struct tcp_rcvbuf *rb, void *dst, uint32_t len)
{
	return rb_copy(rb, dst, len);
}

static void rb_free_slot(struct tcp_rcvbuf *rb, uint32_t seq)
{
	struct tcp_chunk **s = rb_slot(rb, seq);

	if (*s) {
		chunk_free(rb->pool, *s);
		*s = NULL;
		rb->nr_chunks--;
	}
}

uint32_t tcp_rcvbuf_read(struct tcp_rcvbuf *rb, void *dst, uint32_t len)
{
	uint32_t n = rb_copy(rb, dst, len);
	uint32_t end = rb->rd_nxt + n;

	/* Free every chunk whose last byte was just read. */
	while (rb->rd_nxt != end) {
		uint32_t to_chunk_end = TCP_CHUNK_SIZE - (rb->rd_nxt & CHUNK_MASK);
		uint32_t k = min_u32(to_chunk_end, end - rb->rd_nxt);
		if (k == to_chunk_end)
			rb_free_slot(rb, rb->rd_nxt);
		rb->rd_nxt += k;
	}
	/* Drained: the partly read chunk goes back too (idle sockets hold none). */
	if (n && rb->rd_nxt == rb->rcv_nxt && rb->nr_ooo == 0)
		rb_free_slot(rb, rb->rd_nxt);
	return n;
}

static int rb_find_range(const struct tcp_rcvbuf *rb, uint32_t seq)
{
	for (uint32_t i = 0; i < rb->nr_ooo; i++)
		if (tcp_seq_in_window(seq, rb->ooo[i].start, rb->ooo[i].end - rb->ooo[i].start))
			return (int)i;
	return -1;
}

unsigned tcp_rcvbuf_sack(const struct tcp_rcvbuf *rb, struct tcp_sack_block *blocks,
			 unsigned max)
{
	int idx[TCP_SACK_MAX_BLOCKS];
	unsigned n = 0;

	if (max > TCP_SACK_MAX_BLOCKS)
		max = TCP_SACK_MAX_BLOCKS;

	for (uint32_t r = 0; r < rb->nr_recent && n < max; r++) {
		int k = rb_find_range(rb, rb->recent[r]);
		bool dup = false;
		if (k < 0)
			continue;
		for (unsigned q = 0; q < n; q++)
			dup |= idx[q] == k;
		if (dup)
			continue;
		idx[n] = k;
		blocks[n++] = rb->ooo[k];
	}
	for (uint32_t k = 0; k < rb->nr_ooo && n < max; k++) {
		bool dup = false;
		for (unsigned q = 0; q < n; q++)
			dup |= idx[q] == (int)k;
		if (!dup) {
			idx[n] = (int)k;
			blocks[n++] = rb->ooo[k];
		}
	}
	return n;
}
