/* SPDX-License-Identifier: MIT */
/*
 * Socket buffers of the TCP stack: a chunk allocator, the send buffer and the
 * receive buffer with out-of-order reassembly and RFC 2018 SACK blocks.
 *
 * Memory comes in fixed-size chunks (TCP_CHUNK_SIZE bytes of data) from a
 * struct tcp_chunk_pool, one per stack instance (per core). A buffer takes
 * chunks only as data arrives and gives them back as data is acknowledged
 * (send) or read (receive), so memory follows the load; each buffer is capped
 * by a byte limit given at init, and the pool can be capped as a whole.
 *
 * Pure C, no DPDK, no globals, no clock. Nothing here is thread-safe: a pool
 * and every buffer using it belong to the one core that owns the stack
 * instance, and only that core may call these functions.
 */
#ifndef BH_TCP_BUF_H
#define BH_TCP_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tcp_opt.h" /* struct tcp_sack_block */

#define TCP_CHUNK_SHIFT 11
#define TCP_CHUNK_SIZE (1u << TCP_CHUNK_SHIFT) /* 2 KiB of data per chunk */

struct tcp_chunk; /* private to tcp_buf.c */

/*
 * Chunk allocator. Chunks come from malloc; up to max_cached freed chunks are
 * kept on a free list for reuse, the rest go back to malloc, so an idle stack
 * shrinks. The fields are read-only for users (tests read the counters).
 */
struct tcp_chunk_pool {
	struct tcp_chunk *free_list;
	size_t nr_cached;    /* chunks on the free list */
	size_t max_cached;   /* free-list cap */
	size_t nr_live;      /* chunks held by buffers right now */
	size_t max_live;     /* cap on nr_live, 0 = none */
	uint64_t nr_malloc;  /* chunks ever obtained from malloc */
	uint64_t nr_fail;    /* allocations refused (cap reached or malloc failed) */
};

/*
 * Set up an empty pool. max_live caps the chunks all buffers of this pool may
 * hold together (0: no cap); max_cached caps the free list. Cannot fail.
 */
void tcp_chunk_pool_init(struct tcp_chunk_pool *p, size_t max_live, size_t max_cached);

/*
 * Free the cached chunks. Every buffer using the pool must have been
 * finalized first. Returns nr_live, which must be 0 ("no allocation left");
 * a non-zero value means a buffer leaked its chunks.
 */
size_t tcp_chunk_pool_fini(struct tcp_chunk_pool *p);

/* ---------------------------------------------------------------------- */
/*
 * Send buffer: bytes the application wrote that the peer has not yet
 * acknowledged, as a FIFO of chunks. Offset 0 is the oldest byte still held,
 * i.e. SND.UNA once the connection is established (offset = seq - SND.UNA);
 * the buffer itself knows no sequence numbers. SYN and FIN occupy sequence
 * space but no bytes here: the caller accounts for them.
 */
struct tcp_sndbuf {
	struct tcp_chunk_pool *pool;
	struct tcp_chunk *head, *tail;
	uint32_t head_off;  /* first held byte within head */
	uint32_t len;       /* bytes held */
	uint32_t limit;     /* cap on len */
	uint32_t nr_chunks;
	/* Lookup cache for tcp_sndbuf_copy: chunk cur starts at buffer offset
	 * cur_off (may be negative for the head chunk: -head_off). */
	struct tcp_chunk *cur;
	int64_t cur_off;
};

/* Empty buffer holding at most limit bytes; takes no memory yet. Returns 0. */
int tcp_sndbuf_init(struct tcp_sndbuf *sb, struct tcp_chunk_pool *pool, uint32_t limit);

/* Give every chunk back to the pool; the buffer is empty afterwards. */
void tcp_sndbuf_fini(struct tcp_sndbuf *sb);

/*
 * Copy up to len bytes from data at the end of the buffer. Takes
 * min(len, tcp_sndbuf_space()) bytes, fewer if the pool runs out.
 * Returns the bytes taken (0 when the buffer is full or len is 0), or
 * -ENOMEM when the pool gave no chunk and nothing was taken. data stays the
 * caller's.
 */
int tcp_sndbuf_append(struct tcp_sndbuf *sb, const void *data, uint32_t len);

/*
 * Read up to len bytes of file fd from offset off (pread, fd's own offset
 * untouched) to the end of the buffer: min(len, tcp_sndbuf_space()) bytes
 * at most, and per call no more than the tail chunk's free space and 32 new
 * chunks (64 KiB); fewer if the pool runs out or the file ends. Returns the
 * bytes taken; 0 when len is 0 or the buffer is full; -ENODATA when the file
 * ends at off; -ENOMEM when the pool gave no chunk; -errno when the read
 * failed (nothing taken in those three cases).
 */
int tcp_sndbuf_append_fd(struct tcp_sndbuf *sb, int fd, uint64_t off, uint32_t len);

/*
 * Copy up to len bytes starting at offset off (seq - SND.UNA) into dst, for
 * a first transmission or a retransmission; may span chunks. Nothing is
 * consumed. Returns the bytes copied: min(len, queued - off), 0 if off is at
 * or past the end. Sequential calls with growing offsets cost O(len).
 */
uint32_t tcp_sndbuf_copy(struct tcp_sndbuf *sb, uint32_t off, void *dst, uint32_t len);

/*
 * Drop the first len bytes (newly acknowledged data: SEG.ACK - SND.UNA, not
 * counting a SYN or FIN), freeing chunks that become empty. Returns the bytes
 * dropped: min(len, queued).
 */
uint32_t tcp_sndbuf_release(struct tcp_sndbuf *sb, uint32_t len);

/* Change the cap. Lowering it below what is held drops nothing: append just
 * takes nothing until enough is released. */
static inline void tcp_sndbuf_set_limit(struct tcp_sndbuf *sb, uint32_t limit)
{
	sb->limit = limit;
}
static inline uint32_t tcp_sndbuf_queued(const struct tcp_sndbuf *sb)
{
	return sb->len;
}
static inline uint32_t tcp_sndbuf_space(const struct tcp_sndbuf *sb)
{
	return sb->len < sb->limit ? sb->limit - sb->len : 0;
}

/* ---------------------------------------------------------------------- */
/*
 * Receive buffer: in-order data not yet read by the application, plus
 * out-of-order data held by sequence number until the hole before it fills.
 *
 * Sequence space from the oldest unread byte (rd_nxt) to rd_nxt + limit is
 * the buffer: [rd_nxt, rcv_nxt) is readable, the window [rcv_nxt, rd_nxt +
 * limit) accepts data. So the advertised window is limit - readable: reading
 * opens it, in-order data closes it, out-of-order data does not change it,
 * and its right edge never moves left (RFC 9293 §3.8.6: no shrinking).
 * A byte of sequence s lives in chunk slot (s / TCP_CHUNK_SIZE) mod nr_slots;
 * chunks are taken when a byte is first stored in them and returned when the
 * application has read past their end. Sequence numbers wrap at 2^32 freely.
 *
 * Out-of-order data is tracked as at most max_ranges disjoint ranges; a
 * segment that would need one more is dropped (-ENOBUFS; never SACKed, so
 * dropping it is allowed: RFC 2018 §8 only forbids discarding what was
 * reported). SYN and FIN are the caller's: only data bytes go in here.
 */
struct tcp_rcvbuf {
	struct tcp_chunk_pool *pool;
	struct tcp_chunk **slot;
	uint32_t slot_mask;    /* nr_slots - 1 (a power of two) */
	uint32_t rd_nxt;       /* next byte the application reads */
	uint32_t rcv_nxt;      /* RCV.NXT: first byte not yet received in order */
	uint32_t limit;
	uint32_t ooo_bytes;    /* bytes held beyond rcv_nxt */
	uint32_t nr_chunks;
	struct tcp_sack_block *ooo; /* sorted, disjoint, non-adjacent, > rcv_nxt */
	uint32_t nr_ooo, max_ooo;
	/* SACK recency (RFC 2018 §4): one sequence number inside each of the
	 * most recently changed ranges, most recent first. */
	uint32_t recent[TCP_SACK_MAX_BLOCKS];
	uint32_t nr_recent;
	uint64_t nr_dup_bytes; /* bytes received that were already held or read */
};

/*
 * Empty buffer whose next expected byte is rcv_nxt (IRS + 1), holding at most
 * limit bytes (1 .. 2^30) and max_ranges out-of-order ranges (>= 1).
 * Allocates the slot and range tables (small: pointers, not data).
 * Returns 0, -EINVAL for bad sizes, -ENOMEM.
 */
int tcp_rcvbuf_init(struct tcp_rcvbuf *rb, struct tcp_chunk_pool *pool, uint32_t rcv_nxt,
		    uint32_t limit, uint32_t max_ranges);

/* Free all chunks and tables. */
void tcp_rcvbuf_fini(struct tcp_rcvbuf *rb);

/*
 * Set RCV.NXT of an empty buffer (e.g. once the SYN tells the IRS).
 * Returns 0, or -EBUSY if the buffer holds any data.
 */
int tcp_rcvbuf_set_rcv_nxt(struct tcp_rcvbuf *rb, uint32_t rcv_nxt);

/*
 * Store the data bytes of a segment starting at sequence seq. Bytes before
 * RCV.NXT and at or beyond the right window edge are trimmed off (the caller
 * has already run the RFC 9293 acceptability test). Bytes for a range
 * already held are ignored: the first copy wins (as BSD and Linux do; a
 * retransmission should carry the same bytes, and the first copy may already
 * have been reported by SACK). Overlaps merge; when the segment fills the
 * hole at RCV.NXT, RCV.NXT advances over it and every range it now reaches.
 * The segment is recorded as the most recent for tcp_rcvbuf_sack().
 * Returns how far RCV.NXT advanced (0 for out-of-order, duplicate or
 * out-of-window data), -ENOBUFS if the segment would need one out-of-order
 * range more than max_ranges (nothing stored), or -ENOMEM if the pool gave no
 * chunk (nothing stored). data stays the caller's.
 */
int tcp_rcvbuf_insert(struct tcp_rcvbuf *rb, uint32_t seq, const void *data, uint32_t len);

/*
 * Change the cap on the buffer (the window it offers). Never lowers it below
 * what is stored already (it becomes that instead); growing reallocates the
 * slot table. Returns 0, -EINVAL, -ENOMEM (unchanged).
 */
int tcp_rcvbuf_set_limit(struct tcp_rcvbuf *rb, uint32_t limit);

/* Copy up to len readable bytes into dst and consume them. Returns the count. */
uint32_t tcp_rcvbuf_read(struct tcp_rcvbuf *rb, void *dst, uint32_t len);

/* As tcp_rcvbuf_read but consumes nothing. */
uint32_t tcp_rcvbuf_peek(const struct tcp_rcvbuf *rb, void *dst, uint32_t len);

/*
 * Fill up to max SACK blocks (RFC 2018 §4): first the range holding the most
 * recently received segment (if it is still out of order), then the most
 * recently changed other ranges, then any remaining ranges in sequence
 * order. Returns the number of blocks written (0 if nothing is out of order).
 * max is what fits in the segment: tcp_opt_sack_max().
 */
unsigned tcp_rcvbuf_sack(const struct tcp_rcvbuf *rb, struct tcp_sack_block *blocks,
			 unsigned max);

static inline uint32_t tcp_rcvbuf_rcv_nxt(const struct tcp_rcvbuf *rb)
{
	return rb->rcv_nxt;
}
/* In-order bytes the application can read. */
static inline uint32_t tcp_rcvbuf_readable(const struct tcp_rcvbuf *rb)
{
	return rb->rcv_nxt - rb->rd_nxt;
}
/* RCV.WND to advertise, in bytes (before window-scale rounding). */
static inline uint32_t tcp_rcvbuf_window(const struct tcp_rcvbuf *rb)
{
	return rb->limit - tcp_rcvbuf_readable(rb);
}
/* Bytes held beyond RCV.NXT, in rb->nr_ooo ranges. */
static inline uint32_t tcp_rcvbuf_ooo_bytes(const struct tcp_rcvbuf *rb)
{
	return rb->ooo_bytes;
}

#endif
