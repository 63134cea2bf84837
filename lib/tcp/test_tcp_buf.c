/* SPDX-License-Identifier: MIT */
/*
 * Chunk pool, send buffer, receive buffer: every operation, limits, trimming,
 * overlaps, duplicates, random segment orders reassembling to the exact
 * stream, wrap-around at 2^32, RFC 2018 SACK block order. Every test ends
 * with no chunk left allocated.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tcp_buf.h"
#include "tcp_seq.h"
#include "tests/unit/bh_test.h"

static uint64_t rng_state;

static uint32_t rnd(void) /* xorshift64*, fixed seeds: reproducible */
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 2685821657736338717ull) >> 32);
}

static uint32_t rnd_range(uint32_t lo, uint32_t hi) /* [lo, hi] */
{
	return lo + rnd() % (hi - lo + 1);
}

static uint8_t pat(uint64_t i)
{
	return (uint8_t)(i * 131 + (i >> 8) * 7 + 1);
}

static uint8_t *make_stream(size_t n)
{
	uint8_t *s = malloc(n);
	for (size_t i = 0; i < n; i++)
		s[i] = pat(i);
	return s;
}

/* A file holding make_stream(n)'s bytes. */
static int stream_file(const uint8_t *bytes, size_t n)
{
	int fd = memfd_create("tcp_buf", MFD_CLOEXEC);
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, bytes, n), (ssize_t)n);
	return fd;
}

/* "No allocation left": the pool has nothing live and frees its cache. */
static void check_pool_empty(struct tcp_chunk_pool *p)
{
	CHECK_EQ(p->nr_live, 0);
	CHECK_EQ(tcp_chunk_pool_fini(p), 0);
}

/* ----------------------------------------------------------------- pool */

static void test_pool(void)
{
	struct tcp_chunk_pool p;
	struct tcp_sndbuf a, b;
	uint8_t *s = make_stream(3 * TCP_CHUNK_SIZE);

	tcp_chunk_pool_init(&p, 4, 1);
	tcp_sndbuf_init(&a, &p, 1 << 20);
	tcp_sndbuf_init(&b, &p, 1 << 20);
	CHECK_EQ(tcp_sndbuf_append(&a, s, 3 * TCP_CHUNK_SIZE), 3 * TCP_CHUNK_SIZE);
	CHECK_EQ(p.nr_live, 3);
	/* Pool cap 4: b gets one chunk, then the pool refuses. */
	CHECK_EQ(tcp_sndbuf_append(&b, s, 3 * TCP_CHUNK_SIZE), TCP_CHUNK_SIZE);
	CHECK_EQ(tcp_sndbuf_append(&b, s, 10), -ENOMEM);
	CHECK_EQ(p.nr_live, 4);
	CHECK(p.nr_fail >= 2);
	/* Releasing gives chunks back: one stays cached, the rest are freed. */
	CHECK_EQ(tcp_sndbuf_release(&a, 3 * TCP_CHUNK_SIZE), 3 * TCP_CHUNK_SIZE);
	CHECK_EQ(a.nr_chunks, 0);
	CHECK_EQ(p.nr_live, 1);
	CHECK_EQ(p.nr_cached, 1);
	uint64_t mallocs = p.nr_malloc;
	CHECK_EQ(tcp_sndbuf_append(&b, s, 10), 10); /* reuses the cached chunk */
	CHECK_EQ(p.nr_malloc, mallocs);
	CHECK_EQ(p.nr_cached, 0);
	tcp_sndbuf_fini(&a);
	tcp_sndbuf_fini(&b);
	check_pool_empty(&p);
	free(s);
}

/* ---------------------------------------------------------- send buffer */

static void test_sndbuf_basic(void)
{
	struct tcp_chunk_pool p;
	struct tcp_sndbuf sb;
	uint8_t *s = make_stream(5000), out[5000];

	tcp_chunk_pool_init(&p, 0, 8);
	CHECK_EQ(tcp_sndbuf_init(&sb, &p, 10000), 0);
	CHECK_EQ(tcp_sndbuf_queued(&sb), 0);
	CHECK_EQ(tcp_sndbuf_space(&sb), 10000);
	CHECK_EQ(sb.nr_chunks, 0); /* no memory until data comes */
	CHECK_EQ(tcp_sndbuf_copy(&sb, 0, out, 10), 0);
	CHECK_EQ(tcp_sndbuf_append(&sb, s, 0), 0);

	CHECK_EQ(tcp_sndbuf_append(&sb, s, 100), 100);
	CHECK_EQ(tcp_sndbuf_append(&sb, s + 100, 4900), 4900);
	CHECK_EQ(tcp_sndbuf_queued(&sb), 5000);
	CHECK_EQ(tcp_sndbuf_space(&sb), 5000);
	CHECK_EQ(sb.nr_chunks, 3);
	/* Copy spanning the chunk boundary at 2048, and 4096. */
	memset(out, 0, sizeof(out));
	CHECK_EQ(tcp_sndbuf_copy(&sb, 1500, out, 3000), 3000);
	CHECK(memcmp(out, s + 1500, 3000) == 0);
	/* Backwards after the cached position, then all of it. */
	CHECK_EQ(tcp_sndbuf_copy(&sb, 10, out, 100), 100);
	CHECK(memcmp(out, s + 10, 100) == 0);
	CHECK_EQ(tcp_sndbuf_copy(&sb, 0, out, 5000), 5000);
	CHECK(memcmp(out, s, 5000) == 0);
	/* Truncated at the end; at / past the end nothing. */
	CHECK_EQ(tcp_sndbuf_copy(&sb, 4990, out, 100), 10);
	CHECK(memcmp(out, s + 4990, 10) == 0);
	CHECK_EQ(tcp_sndbuf_copy(&sb, 5000, out, 100), 0);
	CHECK_EQ(tcp_sndbuf_copy(&sb, 7000, out, 100), 0);
	CHECK_EQ(tcp_sndbuf_copy(&sb, 0, out, 0), 0);

	/* Release a prefix: offsets count from the new first byte. */
	CHECK_EQ(tcp_sndbuf_release(&sb, 2000), 2000);
	CHECK_EQ(tcp_sndbuf_queued(&sb), 3000);
	CHECK_EQ(sb.nr_chunks, 3); /* 48 bytes of the first chunk still held */
	CHECK_EQ(tcp_sndbuf_copy(&sb, 0, out, 100), 100);
	CHECK(memcmp(out, s + 2000, 100) == 0);
	CHECK_EQ(tcp_sndbuf_release(&sb, 48), 48);
	CHECK_EQ(sb.nr_chunks, 2); /* the first chunk went back */
	CHECK_EQ(tcp_sndbuf_copy(&sb, 0, out, 3000), 2952);
	CHECK(memcmp(out, s + 2048, 2952) == 0);
	CHECK_EQ(tcp_sndbuf_release(&sb, 0), 0);
	/* Releasing more than held drops only what is held, and frees all. */
	CHECK_EQ(tcp_sndbuf_release(&sb, 100000), 2952);
	CHECK_EQ(tcp_sndbuf_queued(&sb), 0);
	CHECK_EQ(sb.nr_chunks, 0);
	CHECK_EQ(p.nr_live, 0);
	/* Reusable after draining. */
	CHECK_EQ(tcp_sndbuf_append(&sb, s, 10), 10);
	CHECK_EQ(tcp_sndbuf_copy(&sb, 0, out, 10), 10);
	CHECK(memcmp(out, s, 10) == 0);
	tcp_sndbuf_fini(&sb);
	CHECK_EQ(sb.nr_chunks, 0);
	check_pool_empty(&p);
	free(s);
}

static void test_sndbuf_limit(void)
{
	struct tcp_chunk_pool p;
	struct tcp_sndbuf sb;
	uint8_t *s = make_stream(8000), out[8000];

	tcp_chunk_pool_init(&p, 0, 0);
	tcp_sndbuf_init(&sb, &p, 3000);
	CHECK_EQ(tcp_sndbuf_append(&sb, s, 5000), 3000);
	CHECK_EQ(tcp_sndbuf_space(&sb), 0);
	CHECK_EQ(tcp_sndbuf_append(&sb, s + 3000, 1), 0); /* at the limit */
	CHECK_EQ(tcp_sndbuf_release(&sb, 1000), 1000);
	CHECK_EQ(tcp_sndbuf_space(&sb), 1000);
	CHECK_EQ(tcp_sndbuf_append(&sb, s + 3000, 2000), 1000);
	CHECK_EQ(tcp_sndbuf_copy(&sb, 0, out, 3000), 3000);
	CHECK(memcmp(out, s + 1000, 3000) == 0);
	/* Lowering the limit below what is held drops nothing. */
	tcp_sndbuf_set_limit(&sb, 1000);
	CHECK_EQ(tcp_sndbuf_space(&sb), 0);
	CHECK_EQ(tcp_sndbuf_queued(&sb), 3000);
	CHECK_EQ(tcp_sndbuf_append(&sb, s, 1), 0);
	CHECK_EQ(tcp_sndbuf_release(&sb, 2500), 2500);
	CHECK_EQ(tcp_sndbuf_space(&sb), 500);
	tcp_sndbuf_set_limit(&sb, 0); /* limit 0: takes nothing */
	CHECK_EQ(tcp_sndbuf_append(&sb, s, 1), 0);
	tcp_sndbuf_fini(&sb);
	check_pool_empty(&p);
	free(s);
}

/* Random appends / copies / releases against a flat model of the stream. */
static void test_sndbuf_random(void)
{
	enum { TOTAL = 1 << 20 };
	struct tcp_chunk_pool p;
	struct tcp_sndbuf sb;
	uint8_t *s = make_stream(TOTAL), out[9000];
	size_t wr = 0, una = 0, sent = 0;
	unsigned bad = 0, max_chunks = 0;

	int fd = stream_file(s, TOTAL);
	rng_state = 0x1234567;
	tcp_chunk_pool_init(&p, 0, 4);
	tcp_sndbuf_init(&sb, &p, 50000);
	while (una < TOTAL) {
		uint32_t n = rnd_range(0, 9000);
		if (n > TOTAL - wr)
			n = (uint32_t)(TOTAL - wr);
		/* Half the bytes from memory, half read from the same stream in
		 * a file. */
		int r = rnd() % 2 ? tcp_sndbuf_append(&sb, s + wr, n)
				  : tcp_sndbuf_append_fd(&sb, fd, wr, n);
		if (r < 0 || (uint32_t)r > n)
			bad++;
		else
			wr += (size_t)r;
		if (tcp_sndbuf_queued(&sb) != wr - una)
			bad++;
		/* Transmit sequentially, sometimes retransmit from the start. */
		for (int k = 0; k < 4; k++) {
			uint32_t off = (uint32_t)(sent - una), len = rnd_range(1, 1460);
			uint32_t got = tcp_sndbuf_copy(&sb, off, out, len);
			size_t exp = wr - sent < len ? wr - sent : len;
			if (got != exp || memcmp(out, s + sent, got) != 0)
				bad++;
			sent += got;
		}
		if (rnd() % 5 == 0) {
			uint32_t off = rnd_range(0, (uint32_t)(wr - una));
			uint32_t got = tcp_sndbuf_copy(&sb, off, out, 3000);
			if (memcmp(out, s + una + off, got) != 0)
				bad++;
		}
		uint32_t ack = rnd_range(0, (uint32_t)(sent - una));
		if (tcp_sndbuf_release(&sb, ack) != ack)
			bad++;
		una += ack;
		/* Memory follows the data: never more than one partly used chunk
		 * at each end. */
		uint32_t need = (uint32_t)((wr - una + TCP_CHUNK_SIZE - 1) / TCP_CHUNK_SIZE) + 1;
		if (sb.nr_chunks > need)
			bad++;
		if (sb.nr_chunks > max_chunks)
			max_chunks = sb.nr_chunks;
		if (p.nr_live != sb.nr_chunks)
			bad++;
	}
	CHECK_EQ(bad, 0);
	CHECK_EQ(wr, TOTAL);
	CHECK(max_chunks <= 50000 / TCP_CHUNK_SIZE + 2);
	CHECK_EQ(sb.nr_chunks, 0); /* all acked: all returned */
	tcp_sndbuf_fini(&sb);
	check_pool_empty(&p);
	close(fd);
	free(s);
}

/* A file's bytes read straight into the buffer: where they land, how much a
 * call takes, the file's end, failures, and chunks given back. */
static void test_sndbuf_fd(void)
{
	enum { FILE_LEN = 300000 };
	struct tcp_chunk_pool p;
	struct tcp_sndbuf sb;
	uint8_t *s = make_stream(FILE_LEN), *out = malloc(FILE_LEN);
	int fd = stream_file(s, FILE_LEN);

	tcp_chunk_pool_init(&p, 0, 64);
	tcp_sndbuf_init(&sb, &p, 200000);
	CHECK_EQ(tcp_sndbuf_append_fd(&sb, fd, 0, 0), 0);
	CHECK_EQ(p.nr_live, 0);
	/* Mid-file, after bytes from memory: the file's offset is its own. */
	CHECK_EQ(tcp_sndbuf_append(&sb, "abc", 3), 3);
	CHECK_EQ(tcp_sndbuf_append_fd(&sb, fd, 1000, 5000), 5000);
	CHECK_EQ(lseek(fd, 0, SEEK_CUR), FILE_LEN); /* pread: unmoved */
	CHECK_EQ(tcp_sndbuf_copy(&sb, 0, out, 6000), 5003);
	CHECK(memcmp(out, "abc", 3) == 0 && memcmp(out + 3, s + 1000, 5000) == 0);
	CHECK_EQ(sb.nr_chunks, 3);
	CHECK_EQ(p.nr_live, 3);
	/* A call takes the tail's room and 32 chunks at most. */
	uint32_t tail_room = 3 * TCP_CHUNK_SIZE - 5003;
	CHECK_EQ(tcp_sndbuf_append_fd(&sb, fd, 6000, 150000), (int)(tail_room + 32 * TCP_CHUNK_SIZE));
	uint32_t q = tcp_sndbuf_queued(&sb);
	CHECK_EQ(tcp_sndbuf_copy(&sb, 5003, out, q), q - 5003);
	CHECK(memcmp(out, s + 6000, q - 5003) == 0);
	/* Up to the limit, then nothing (and no chunk taken). */
	size_t off = 6000 + (q - 5003);
	int r;
	while ((r = tcp_sndbuf_append_fd(&sb, fd, off, FILE_LEN)) > 0)
		off += (size_t)r;
	CHECK_EQ(r, 0);
	CHECK_EQ(tcp_sndbuf_queued(&sb), 200000);
	CHECK_EQ(p.nr_live, sb.nr_chunks);
	CHECK_EQ(tcp_sndbuf_copy(&sb, 5003, out, 200000), 200000 - 5003);
	CHECK(memcmp(out, s + 6000, 200000 - 5003) == 0);
	tcp_sndbuf_fini(&sb);
	CHECK_EQ(p.nr_live, 0);

	/* The file's end: what is left of it, the chunks it did not need given
	 * back; then -ENODATA, nothing taken. */
	tcp_sndbuf_init(&sb, &p, 200000);
	CHECK_EQ(tcp_sndbuf_append_fd(&sb, fd, FILE_LEN - 2500, 60000), 2500);
	CHECK_EQ(sb.nr_chunks, 2);
	CHECK_EQ(p.nr_live, 2);
	CHECK_EQ(tcp_sndbuf_copy(&sb, 0, out, 3000), 2500);
	CHECK(memcmp(out, s + FILE_LEN - 2500, 2500) == 0);
	CHECK_EQ(tcp_sndbuf_append_fd(&sb, fd, FILE_LEN, 100), -ENODATA);
	CHECK_EQ(tcp_sndbuf_append_fd(&sb, fd, FILE_LEN + 5000, 100), -ENODATA);
	CHECK_EQ(tcp_sndbuf_queued(&sb), 2500);
	CHECK_EQ(p.nr_live, 2);
	/* A read that fails: its error, nothing taken, no chunk kept. */
	CHECK_EQ(tcp_sndbuf_append_fd(&sb, -1, 0, 100), -EBADF);
	int pipefd[2];
	CHECK(pipe(pipefd) == 0);
	CHECK_EQ(tcp_sndbuf_append_fd(&sb, pipefd[0], 0, 100), -ESPIPE);
	close(pipefd[0]);
	close(pipefd[1]);
	CHECK_EQ(tcp_sndbuf_append_fd(&sb, fd, UINT64_MAX - 10, 100), -EINVAL);
	CHECK_EQ(tcp_sndbuf_queued(&sb), 2500);
	CHECK_EQ(p.nr_live, 2);
	tcp_sndbuf_fini(&sb);
	check_pool_empty(&p);

	/* A capped pool: what its chunks hold, then -ENOMEM. */
	tcp_chunk_pool_init(&p, 2, 64);
	tcp_sndbuf_init(&sb, &p, 200000);
	CHECK_EQ(tcp_sndbuf_append_fd(&sb, fd, 0, 10000), 2 * TCP_CHUNK_SIZE);
	CHECK_EQ(tcp_sndbuf_append_fd(&sb, fd, 2 * TCP_CHUNK_SIZE, 10000), -ENOMEM);
	CHECK_EQ(tcp_sndbuf_copy(&sb, 0, out, 10000), 2 * TCP_CHUNK_SIZE);
	CHECK(memcmp(out, s, 2 * TCP_CHUNK_SIZE) == 0);
	tcp_sndbuf_fini(&sb);
	check_pool_empty(&p);
	close(fd);
	free(out);
	free(s);
}

/* ------------------------------------------------------- receive buffer */

static void test_rcvbuf_init(void)
{
	struct tcp_chunk_pool p;
	struct tcp_rcvbuf rb;

	tcp_chunk_pool_init(&p, 0, 0);
	CHECK_EQ(tcp_rcvbuf_init(&rb, &p, 1, 0, 4), -EINVAL);
	CHECK_EQ(tcp_rcvbuf_init(&rb, &p, 1, 1000, 0), -EINVAL);
	CHECK_EQ(tcp_rcvbuf_init(&rb, &p, 1, (1u << 30) + 1, 4), -EINVAL);
	CHECK_EQ(tcp_rcvbuf_init(&rb, &p, 1000, 65535, 8), 0);
	CHECK_EQ(tcp_rcvbuf_rcv_nxt(&rb), 1000);
	CHECK_EQ(tcp_rcvbuf_window(&rb), 65535);
	CHECK_EQ(tcp_rcvbuf_readable(&rb), 0);
	CHECK_EQ(tcp_rcvbuf_ooo_bytes(&rb), 0);
	CHECK_EQ(rb.nr_chunks, 0);
	CHECK_EQ(tcp_rcvbuf_set_rcv_nxt(&rb, 5000), 0);
	CHECK_EQ(tcp_rcvbuf_rcv_nxt(&rb), 5000);
	CHECK_EQ(tcp_rcvbuf_insert(&rb, 5000, "abc", 3), 3);
	CHECK_EQ(tcp_rcvbuf_set_rcv_nxt(&rb, 9000), -EBUSY);
	CHECK_EQ(tcp_rcvbuf_insert(&rb, 5000, "abc", 0), 0);
	tcp_rcvbuf_fini(&rb);
	check_pool_empty(&p);
}

static void test_rcvbuf_inorder(void)
{
	struct tcp_chunk_pool p;
	struct tcp_rcvbuf rb;
	uint8_t *s = make_stream(10000), out[10000];
	uint32_t isn = 777;

	tcp_chunk_pool_init(&p, 0, 0);
	tcp_rcvbuf_init(&rb, &p, isn, 8000, 8);
	CHECK_EQ(tcp_rcvbuf_insert(&rb, isn, s, 1000), 1000);
	CHECK_EQ(tcp_rcvbuf_insert(&rb, isn + 1000, s + 1000, 3000), 3000);
	CHECK_EQ(tcp_rcvbuf_rcv_nxt(&rb), isn + 4000);
	CHECK_EQ(tcp_rcvbuf_readable(&rb), 4000);
	CHECK_EQ(tcp_rcvbuf_window(&rb), 4000);
	CHECK_EQ(tcp_rcvbuf_peek(&rb, out, 10000), 4000);
	CHECK(memcmp(out, s, 4000) == 0);
	CHECK_EQ(tcp_rcvbuf_readable(&rb), 4000); /* peek consumes nothing */
	CHECK_EQ(tcp_rcvbuf_read(&rb, out, 1500), 1500);
	CHECK(memcmp(out, s, 1500) == 0);
	CHECK_EQ(tcp_rcvbuf_window(&rb), 5500);
	CHECK_EQ(tcp_rcvbuf_read(&rb, out, 0), 0);
	CHECK_EQ(tcp_rcvbuf_read(&rb, out, 10000), 2500);
	CHECK(memcmp(out, s + 1500, 2500) == 0);
	CHECK_EQ(tcp_rcvbuf_read(&rb, out, 10), 0);
	CHECK_EQ(tcp_rcvbuf_peek(&rb, out, 10), 0);
	CHECK_EQ(rb.nr_chunks, 0); /* drained: memory goes back */
	CHECK_EQ(tcp_rcvbuf_window(&rb), 8000);
	tcp_rcvbuf_fini(&rb);
	check_pool_empty(&p);
	free(s);
}

/* Trimming before RCV.NXT and beyond the window; zero window and reopening. */
static void test_rcvbuf_window(void)
{
	struct tcp_chunk_pool p;
	struct tcp_rcvbuf rb;
	uint8_t *s = make_stream(20000), out[20000];
	uint32_t isn = 100000;

	tcp_chunk_pool_init(&p, 0, 0);
	tcp_rcvbuf_init(&rb, &p, isn, 5000, 8);
	CHECK_EQ(tcp_rcvbuf_insert(&rb, isn, s, 1000), 1000);
	/* Entirely old: a duplicate. */
	CHECK_EQ(tcp_rcvbuf_insert(&rb, isn + 200, s + 200, 800), 0);
	CHECK_EQ(rb.nr_dup_bytes, 800);
	/* Starts before RCV.NXT: the old part is trimmed, the rest taken. */
	CHECK_EQ(tcp_rcvbuf_insert(&rb, isn + 500, s + 500, 1000), 500);
	CHECK_EQ(rb.nr_dup_bytes, 1300);
	CHECK_EQ(tcp_rcvbuf_rcv_nxt(&rb), isn + 1500);
	/* Window is 3500: [isn+1500, isn+5000). Entirely beyond: dropped. */
	CHECK_EQ(tcp_rcvbuf_window(&rb), 3500);
	CHECK_EQ(tcp_rcvbuf_insert(&rb, isn + 5000, s + 5000, 100), 0);
	CHECK_EQ(tcp_rcvbuf_ooo_bytes(&rb), 0);
	/* Way beyond and way before (more than 2^31 away) too. */
	CHECK_EQ(tcp_rcvbuf_insert(&rb, isn + 0x90000000u, s, 100), 0);
	CHECK_EQ(tcp_rcvbuf_insert(&rb, isn - 0x70000000u, s, 100), 0);
	CHECK_EQ(tcp_rcvbuf_ooo_bytes(&rb), 0);
	/* Straddling the right edge: trimmed to the window (out of order). */
	CHECK_EQ(tcp_rcvbuf_insert(&rb, isn + 4500, s + 4500, 1000), 0);
	CHECK_EQ(tcp_rcvbuf_ooo_bytes(&rb), 500);
	CHECK_EQ(rb.ooo[0].start, isn + 4500);
	CHECK_EQ(rb.ooo[0].end, isn + 5000);
	/* Larger than the whole window, starting in the past: fills to the edge. */
	CHECK_EQ(tcp_rcvbuf_insert(&rb, isn + 1000, s + 1000, 10000), 3500);
	CHECK_EQ(tcp_rcvbuf_rcv_nxt(&rb), isn + 5000);
	CHECK_EQ(tcp_rcvbuf_ooo_bytes(&rb), 0);
	CHECK_EQ(rb.nr_ooo, 0);
	/* Zero window: nothing fits, not even one byte at RCV.NXT. */
	CHECK_EQ(tcp_rcvbuf_window(&rb), 0);
	CHECK_EQ(tcp_rcvbuf_insert(&rb, isn + 5000, s + 5000, 1), 0);
	CHECK_EQ(tcp_rcvbuf_readable(&rb), 5000);
	/* Reading reopens it by exactly what was read. */
	CHECK_EQ(tcp_rcvbuf_read(&rb, out, 1200), 1200);
	CHECK(memcmp(out, s, 1200) == 0);
	CHECK_EQ(tcp_rcvbuf_window(&rb), 1200);
	CHECK_EQ(tcp_rcvbuf_insert(&rb, isn + 5000, s + 5000, 2000), 1200);
	CHECK_EQ(tcp_rcvbuf_window(&rb), 0);
	CHECK_EQ(tcp_rcvbuf_read(&rb, out, 20000), 5000);
	CHECK(memcmp(out, s + 1200, 5000) == 0);
	CHECK_EQ(tcp_rcvbuf_window(&rb), 5000);
	CHECK_EQ(rb.nr_chunks, 0);
	tcp_rcvbuf_fini(&rb);
	check_pool_empty(&p);
	free(s);
}

/* Overlaps, duplicates (first copy wins), holes filling, range limit. */
static void test_rcvbuf_ooo(void)
{
	struct tcp_chunk_pool p;
	struct tcp_rcvbuf rb;
	uint8_t *s = make_stream(10000), out[10000], junk[10000];
	uint32_t b = 50;

	memset(junk, 0xEE, sizeof(junk));
	tcp_chunk_pool_init(&p, 0, 0);
	tcp_rcvbuf_init(&rb, &p, b, 10000, 3);
	CHECK_EQ(tcp_rcvbuf_insert(&rb, b + 100, s + 100, 100), 0);
	CHECK_EQ(tcp_rcvbuf_ooo_bytes(&rb), 100);
	CHECK_EQ(tcp_rcvbuf_readable(&rb), 0);
	CHECK_EQ(tcp_rcvbuf_window(&rb), 10000); /* OOO data does not close it */
	CHECK_EQ(tcp_rcvbuf_insert(&rb, b + 300, s + 300, 100), 0);
	CHECK_EQ(rb.nr_ooo, 2);
	/* Exact duplicate with different bytes: ignored, first copy wins. */
	CHECK_EQ(tcp_rcvbuf_insert(&rb, b + 100, junk, 100), 0);
	CHECK_EQ(tcp_rcvbuf_ooo_bytes(&rb), 200);
	CHECK_EQ(rb.nr_dup_bytes, 100);
	/* Overlapping both ranges: only the gap [200, 300) is new. */
	CHECK_EQ(tcp_rcvbuf_insert(&rb, b + 150, junk, 200), 0);
	CHECK_EQ(rb.nr_ooo, 1);
	CHECK_EQ(tcp_rcvbuf_ooo_bytes(&rb), 300);
	CHECK_EQ(rb.ooo[0].start, b + 100);
	CHECK_EQ(rb.ooo[0].end, b + 400);
	/* Adjacent ranges merge. */
	CHECK_EQ(tcp_rcvbuf_insert(&rb, b + 500, s + 500, 100), 0);
	CHECK_EQ(tcp_rcvbuf_insert(&rb, b + 400, s + 400, 100), 0);
	CHECK_EQ(rb.nr_ooo, 1);
	CHECK_EQ(rb.ooo[0].end, b + 600);
	CHECK_EQ(tcp_rcvbuf_ooo_bytes(&rb), 500);
	/* Range limit 3: a fourth disjoint range is refused, nothing stored. */
	CHECK_EQ(tcp_rcvbuf_insert(&rb, b + 1000, s + 1000, 10), 0);
	CHECK_EQ(tcp_rcvbuf_insert(&rb, b + 2000, s + 2000, 10), 0);
	CHECK_EQ(rb.nr_ooo, 3);
	CHECK_EQ(tcp_rcvbuf_insert(&rb, b + 3000, s + 3000, 10), -ENOBUFS);
	CHECK_EQ(tcp_rcvbuf_ooo_bytes(&rb), 520);
	/* ...but one that extends an existing range is fine, and so is one
	 * that bridges two ranges. */
	CHECK_EQ(tcp_rcvbuf_insert(&rb, b + 1010, s + 1010, 990), 0);
	CHECK_EQ(rb.nr_ooo, 2);
	CHECK_EQ(tcp_rcvbuf_ooo_bytes(&rb), 1510);
	CHECK_EQ(tcp_rcvbuf_insert(&rb, b + 3000, s + 3000, 10), 0);
	CHECK_EQ(rb.nr_ooo, 3);
	/* Fill [0, 100) the hole at RCV.NXT: RCV.NXT jumps to 600. */
	CHECK_EQ(tcp_rcvbuf_insert(&rb, b, s, 100), 600);
	CHECK_EQ(tcp_rcvbuf_ooo_bytes(&rb), 1020);
	/* A segment covering the next hole and overlapping the range after it
	 * and before it: advances over both. */
	CHECK_EQ(tcp_rcvbuf_insert(&rb, b + 550, junk, 500), 1410);
	CHECK_EQ(tcp_rcvbuf_rcv_nxt(&rb), b + 2010);
	CHECK_EQ(tcp_rcvbuf_ooo_bytes(&rb), 10);
	CHECK_EQ(tcp_rcvbuf_read(&rb, out, 10000), 2010);
	/* Each byte is its first copy: [200, 300) and [600, 1000) first came
	 * in junk segments, the rest first came from s (later junk over
	 * [100, 200), [300, 350) and [1000, 1050) was ignored). */
	CHECK(memcmp(out, s, 200) == 0);
	CHECK(memcmp(out + 200, junk, 100) == 0);
	CHECK(memcmp(out + 300, s + 300, 300) == 0);
	CHECK(memcmp(out + 600, junk, 400) == 0);
	CHECK(memcmp(out + 1000, s + 1000, 1010) == 0);
	tcp_rcvbuf_fini(&rb);
	check_pool_empty(&p);
	free(s);
}

static void test_rcvbuf_enomem(void)
{
	struct tcp_chunk_pool p;
	struct tcp_rcvbuf rb;
	uint8_t *s = make_stream(10000), out[10000];

	tcp_chunk_pool_init(&p, 2, 0);
	tcp_rcvbuf_init(&rb, &p, 0, 10000, 4);
	/* Needs 3 chunks, the pool has 2: refused whole, nothing stored. */
	CHECK_EQ(tcp_rcvbuf_insert(&rb, 0, s, 5000), -ENOMEM);
	CHECK_EQ(tcp_rcvbuf_readable(&rb), 0);
	CHECK_EQ(tcp_rcvbuf_rcv_nxt(&rb), 0);
	CHECK_EQ(tcp_rcvbuf_insert(&rb, 0, s, 4000), 4000);
	CHECK_EQ(tcp_rcvbuf_read(&rb, out, 4000), 4000);
	CHECK(memcmp(out, s, 4000) == 0);
	tcp_rcvbuf_fini(&rb);
	check_pool_empty(&p);
	free(s);
}

/* Invariants: ranges sorted, disjoint, non-adjacent, in the window; ooo_bytes. */
static int rb_invariants_ok(const struct tcp_rcvbuf *rb)
{
	uint32_t sum = 0, prev = rb->rcv_nxt;
	uint32_t edge = rb->rd_nxt + rb->limit;

	for (uint32_t i = 0; i < rb->nr_ooo; i++) {
		const struct tcp_sack_block *r = &rb->ooo[i];
		if (!tcp_seq_gt(r->start, prev) || !tcp_seq_lt(r->start, r->end) ||
		    tcp_seq_gt(r->end, edge))
			return 0;
		sum += r->end - r->start;
		prev = r->end;
	}
	return sum == rb->ooo_bytes;
}

/*
 * A sender throwing random segments (random lengths, overlaps, duplicates,
 * some before RCV.NXT, some beyond the window) at the buffer, in random
 * order, while the application reads random amounts. The bytes read must be
 * exactly the stream. Starts close to 2^32 so the sequence space wraps.
 */
static void reassemble_random(uint64_t seed, uint32_t isn, uint32_t limit, uint32_t total)
{
	struct tcp_chunk_pool p;
	struct tcp_rcvbuf rb;
	uint8_t *s = make_stream(total), *got = malloc(total);
	uint32_t nread = 0, max_ranges_seen = 0;
	unsigned bad = 0, iter = 0, nr_refused = 0;

	rng_state = seed;
	tcp_chunk_pool_init(&p, 0, 16);
	CHECK_EQ(tcp_rcvbuf_init(&rb, &p, isn, limit, 64), 0);
	while (nread < total && iter++ < 1000000) {
		uint32_t nxt = tcp_rcvbuf_rcv_nxt(&rb) - isn;
		for (int k = rnd_range(1, 8); k > 0; k--) {
			int64_t lo = (int64_t)nxt - 3000;
			int64_t off = lo + rnd_range(0, tcp_rcvbuf_window(&rb) + 6000);
			uint32_t len = rnd_range(1, 1500);
			if (rnd() % 8 == 0)
				off = nxt; /* keep the hole at RCV.NXT filling */
			if (off < 0)
				off = 0;
			if (off >= total)
				continue;
			if (len > total - off)
				len = (uint32_t)(total - off);
			uint32_t before = tcp_rcvbuf_rcv_nxt(&rb);
			int r = tcp_rcvbuf_insert(&rb, isn + (uint32_t)off, s + off, len);
			if (r == -ENOBUFS) {
				nr_refused++;
				continue;
			}
			if (rb.nr_ooo > max_ranges_seen)
				max_ranges_seen = rb.nr_ooo;
			if (r < 0 || tcp_rcvbuf_rcv_nxt(&rb) - before != (uint32_t)r)
				bad++;
			if (!rb_invariants_ok(&rb))
				bad++;
		}
		uint32_t want = rnd_range(0, 4000);
		if (rnd() % 4 == 0)
			want = 0; /* let the window fill up sometimes */
		nread += tcp_rcvbuf_read(&rb, got + nread, want);
		if (tcp_rcvbuf_window(&rb) + tcp_rcvbuf_readable(&rb) != limit)
			bad++;
		if (rb.nr_chunks > (limit >> TCP_CHUNK_SHIFT) + 2)
			bad++;
	}
	CHECK_EQ(bad, 0);
	CHECK_EQ(nread, total);
	CHECK(memcmp(got, s, total) == 0);
	/* The run did exercise holes, duplicates and (big windows) the range cap. */
	CHECK(max_ranges_seen >= (limit >= (1u << 18) ? 64u : 2u));
	CHECK(rb.nr_dup_bytes > 0);
	fprintf(stderr, "  random isn %#x limit %u: %u iterations, max %u ranges, %u refused\n",
		isn, limit, iter, max_ranges_seen, nr_refused);
	CHECK_EQ(tcp_rcvbuf_ooo_bytes(&rb), 0);
	CHECK_EQ(rb.nr_chunks, 0);
	tcp_rcvbuf_fini(&rb);
	check_pool_empty(&p);
	free(s);
	free(got);
}

/* The whole stream cut into segments and inserted in a random permutation. */
static void reassemble_permutation(uint64_t seed, uint32_t isn, uint32_t total)
{
	struct tcp_chunk_pool p;
	struct tcp_rcvbuf rb;
	uint8_t *s = make_stream(total), *got = malloc(total);
	uint32_t nseg = 0, *segoff = malloc(sizeof(uint32_t) * (total + 1));
	unsigned advanced = 0;

	rng_state = seed;
	for (uint32_t o = 0; o < total; o += rnd_range(1, 1460))
		segoff[nseg++] = o;
	segoff[nseg] = total;
	uint32_t *order = malloc(sizeof(uint32_t) * nseg);
	for (uint32_t i = 0; i < nseg; i++)
		order[i] = i;
	for (uint32_t i = nseg - 1; i > 0; i--) { /* Fisher-Yates */
		uint32_t j = rnd() % (i + 1), t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	tcp_chunk_pool_init(&p, 0, 0);
	tcp_rcvbuf_init(&rb, &p, isn, total, nseg);
	for (uint32_t i = 0; i < nseg; i++) {
		uint32_t k = order[i];
		int r = tcp_rcvbuf_insert(&rb, isn + segoff[k], s + segoff[k],
					  segoff[k + 1] - segoff[k]);
		CHECK(r >= 0);
		advanced += r > 0 ? (unsigned)r : 0;
		/* Every third segment sent twice. */
		if (i % 3 == 0)
			CHECK_EQ(tcp_rcvbuf_insert(&rb, isn + segoff[k], s + segoff[k],
						   segoff[k + 1] - segoff[k]),
				 0);
	}
	CHECK_EQ(advanced, total);
	CHECK_EQ(tcp_rcvbuf_rcv_nxt(&rb), isn + total);
	CHECK_EQ(tcp_rcvbuf_window(&rb), 0);
	CHECK_EQ(tcp_rcvbuf_read(&rb, got, total), total);
	CHECK(memcmp(got, s, total) == 0);
	CHECK_EQ(rb.nr_chunks, 0);
	tcp_rcvbuf_fini(&rb);
	check_pool_empty(&p);
	free(order);
	free(segoff);
	free(s);
	free(got);
}

static void test_rcvbuf_random(void)
{
	reassemble_random(1, 0xFFFF0000u, 65535, 1 << 20);   /* wraps at 2^32 */
	reassemble_random(2, 0, 10000, 300000);              /* small window, often 0 */
	reassemble_random(3, 0xFFFFFFFFu, 1 << 18, 1 << 21); /* ISN at 2^32 - 1 */
	reassemble_random(4, 0x7FFFFF00u, 4096, 100000);     /* across 2^31 */
	reassemble_permutation(5, 0xFFFFFF00u, 200000);
	reassemble_permutation(6, 12345, 50000);
}

/* Across the wrap by hand: slots, SACK blocks and window edges. */
static void test_rcvbuf_wrap(void)
{
	struct tcp_chunk_pool p;
	struct tcp_rcvbuf rb;
	struct tcp_sack_block blk[4];
	uint8_t *s = make_stream(6000), out[6000];
	uint32_t b = 0xFFFFF000u; /* 4096 bytes before the wrap */

	tcp_chunk_pool_init(&p, 0, 0);
	tcp_rcvbuf_init(&rb, &p, b, 6000, 4);
	CHECK_EQ(tcp_rcvbuf_insert(&rb, b + 4000, s + 4000, 1000), 0); /* over 0 */
	CHECK_EQ(tcp_rcvbuf_sack(&rb, blk, 4), 1);
	CHECK_EQ(blk[0].start, 0xFFFFFFA0u);
	CHECK_EQ(blk[0].end, 0x388u);
	/* Beyond the right edge b + 6000 = 0x770 (after the wrap): trimmed. */
	CHECK_EQ(tcp_rcvbuf_insert(&rb, b + 5500, s + 5500, 500), 0);
	CHECK_EQ(tcp_rcvbuf_insert(&rb, 0x770u, s, 100), 0);
	CHECK_EQ(tcp_rcvbuf_ooo_bytes(&rb), 1500);
	CHECK_EQ(tcp_rcvbuf_insert(&rb, b, s, 4000), 5000);
	CHECK_EQ(tcp_rcvbuf_rcv_nxt(&rb), 0x388u);
	CHECK_EQ(tcp_rcvbuf_sack(&rb, blk, 4), 1);
	CHECK_EQ(blk[0].start, b + 5500);
	CHECK_EQ(tcp_rcvbuf_insert(&rb, 0x388u, s + 5000, 500), 1000);
	CHECK_EQ(tcp_rcvbuf_rcv_nxt(&rb), 0x770u);
	CHECK_EQ(tcp_rcvbuf_read(&rb, out, 6000), 6000);
	CHECK(memcmp(out, s, 6000) == 0);
	CHECK_EQ(tcp_rcvbuf_sack(&rb, blk, 4), 0);
	tcp_rcvbuf_fini(&rb);
	check_pool_empty(&p);
	free(s);
}

/* Insert one 500-byte segment starting at seq (data content irrelevant). */
static int seg(struct tcp_rcvbuf *rb, uint32_t seq)
{
	static uint8_t z[500];
	return tcp_rcvbuf_insert(rb, seq, z, 500);
}

#define CHECK_BLK(blk, i, s, e)                      \
	do {                                         \
		CHECK_EQ((blk)[i].start, (s));       \
		CHECK_EQ((blk)[i].end, (e));         \
	} while (0)

/*
 * RFC 2018 §6 (Examples), case 3: eight 500-byte segments from 5000, the
 * 2nd, 4th, 6th and 8th dropped; then the 4th and the 2nd arrive.
 */
static void test_sack_rfc2018(void)
{
	struct tcp_chunk_pool p;
	struct tcp_rcvbuf rb;
	struct tcp_sack_block blk[4];

	tcp_chunk_pool_init(&p, 0, 0);
	tcp_rcvbuf_init(&rb, &p, 5000, 65535, 16);
	CHECK_EQ(seg(&rb, 5000), 500); /* ACK 5500, no block */
	CHECK_EQ(tcp_rcvbuf_sack(&rb, blk, 4), 0);
	CHECK_EQ(seg(&rb, 6000), 0);
	CHECK_EQ(tcp_rcvbuf_sack(&rb, blk, 4), 1);
	CHECK_BLK(blk, 0, 6000, 6500);
	CHECK_EQ(seg(&rb, 7000), 0);
	CHECK_EQ(tcp_rcvbuf_sack(&rb, blk, 4), 2);
	CHECK_BLK(blk, 0, 7000, 7500);
	CHECK_BLK(blk, 1, 6000, 6500);
	CHECK_EQ(seg(&rb, 8000), 0);
	CHECK_EQ(tcp_rcvbuf_sack(&rb, blk, 4), 3);
	CHECK_BLK(blk, 0, 8000, 8500);
	CHECK_BLK(blk, 1, 7000, 7500);
	CHECK_BLK(blk, 2, 6000, 6500);
	/* With room for only 2 blocks (timestamps + ...), the oldest is left out. */
	CHECK_EQ(tcp_rcvbuf_sack(&rb, blk, 2), 2);
	CHECK_BLK(blk, 0, 8000, 8500);
	CHECK_BLK(blk, 1, 7000, 7500);
	/* The 4th segment (6500) arrives: ACK 5500, blocks 6000-7500, 8000-8500. */
	CHECK_EQ(seg(&rb, 6500), 0);
	CHECK_EQ(tcp_rcvbuf_sack(&rb, blk, 4), 2);
	CHECK_BLK(blk, 0, 6000, 7500);
	CHECK_BLK(blk, 1, 8000, 8500);
	/* The 2nd (5500) arrives: ACK 7500, block 8000-8500. */
	CHECK_EQ(seg(&rb, 5500), 2000);
	CHECK_EQ(tcp_rcvbuf_rcv_nxt(&rb), 7500);
	CHECK_EQ(tcp_rcvbuf_sack(&rb, blk, 4), 1);
	CHECK_BLK(blk, 0, 8000, 8500);
	/* A duplicate of held OOO data puts its block first again. */
	CHECK_EQ(seg(&rb, 10000), 0);
	CHECK_EQ(tcp_rcvbuf_sack(&rb, blk, 4), 2);
	CHECK_BLK(blk, 0, 10000, 10500);
	CHECK_EQ(seg(&rb, 8000), 0);
	CHECK_EQ(tcp_rcvbuf_sack(&rb, blk, 4), 2);
	CHECK_BLK(blk, 0, 8000, 8500);
	CHECK_BLK(blk, 1, 10000, 10500);
	tcp_rcvbuf_fini(&rb);
	check_pool_empty(&p);
}

/* More ranges than blocks: the 4 most recent first, others fill freed room. */
static void test_sack_many(void)
{
	struct tcp_chunk_pool p;
	struct tcp_rcvbuf rb;
	struct tcp_sack_block blk[4];

	tcp_chunk_pool_init(&p, 0, 0);
	tcp_rcvbuf_init(&rb, &p, 0, 65535, 16);
	for (uint32_t i = 1; i <= 6; i++)
		CHECK_EQ(seg(&rb, i * 1000), 0);
	CHECK_EQ(rb.nr_ooo, 6);
	CHECK_EQ(tcp_rcvbuf_sack(&rb, blk, 3), 3);
	CHECK_BLK(blk, 0, 6000, 6500);
	CHECK_BLK(blk, 1, 5000, 5500);
	CHECK_BLK(blk, 2, 4000, 4500);
	/* Bridge 5000..6500: one range, reported first; then the other recent
	 * ones (4000, 3000); then, in the room the merge freed, the lowest
	 * range not recently reported (1000). */
	CHECK_EQ(seg(&rb, 5500), 0);
	CHECK_EQ(rb.nr_ooo, 5);
	CHECK_EQ(tcp_rcvbuf_sack(&rb, blk, 4), 4);
	CHECK_BLK(blk, 0, 5000, 6500);
	CHECK_BLK(blk, 1, 4000, 4500);
	CHECK_BLK(blk, 2, 3000, 3500);
	CHECK_BLK(blk, 3, 1000, 1500);
	/* More than TCP_SACK_MAX_BLOCKS asked for: capped. */
	struct tcp_sack_block big[8];
	CHECK_EQ(tcp_rcvbuf_sack(&rb, big, 8), 4);
	tcp_rcvbuf_fini(&rb);
	check_pool_empty(&p);
}

int main(void)
{
	test_pool();
	test_sndbuf_basic();
	test_sndbuf_limit();
	test_sndbuf_random();
	test_sndbuf_fd();
	test_rcvbuf_init();
	test_rcvbuf_inorder();
	test_rcvbuf_window();
	test_rcvbuf_ooo();
	test_rcvbuf_enomem();
	test_rcvbuf_random();
	test_rcvbuf_wrap();
	test_sack_rfc2018();
	test_sack_many();
	return bh_test_summary("tcp_buf");
}
