/* SPDX-License-Identifier: MIT */
/*
 * The channel: sizes, wrap-around, full and empty, end of stream, seals,
 * attach refusing what it must, byte-exact streams both ways with a forked
 * worker, the doorbell protocol (a sleeper is woken, no lost wake-up over
 * many short exchanges, no system call while the peer is awake), and a
 * worker that corrupts every word of the control page and scribbles on the
 * whole mapping: the trusted side answers with errors or garbage bytes and
 * never touches memory outside its mapping; frames whole or refused, and the
 * notify descriptor rung only while armed. Every test leaves no fd behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

#include "bulkhead/iso.h"
#include "lib/iso/iso_test.h"
#include "tests/unit/bh_test.h"

static uint8_t pat(uint32_t seed, uint64_t i)
{
	return (uint8_t)(((i * 2654435761u) >> 13) ^ (seed * 31u) ^ (i >> 9));
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Both sides of a fresh channel in this process; the memfd is closed. */
static struct iso_chan *chan_pair(uint32_t to_worker, uint32_t from_worker,
				  struct iso_chan **w)
{
	int fd;
	struct iso_chan *t = iso_chan_create(to_worker, from_worker, &fd);
	*w = iso_chan_attach(fd, ISO_SIDE_WORKER);
	close(fd);
	return t;
}

static void test_sizes(void)
{
	int before = bh_test_count_fds(), fd = -1;
	uint32_t bad[] = {1, 1000, 4095, 4097, 3 * 4096, ISO_CHAN_RING_MAX * 2u};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		CHECK(iso_chan_create(bad[i], 0, &fd) == NULL && errno == EINVAL);
		CHECK(iso_chan_create(0, bad[i], &fd) == NULL && errno == EINVAL);
	}
	struct iso_chan *t = iso_chan_create(0, ISO_CHAN_RING_MIN, &fd);
	CHECK(t != NULL);
	CHECK_EQ(iso_chan_writable(t), 64 << 10);
	CHECK_EQ(lseek(fd, 0, SEEK_END), 4096 + (64 << 10) + 4096);
	struct iso_chan *w = iso_chan_attach(fd, ISO_SIDE_WORKER);
	CHECK(w != NULL);
	CHECK_EQ(iso_chan_writable(w), ISO_CHAN_RING_MIN);
	iso_chan_close(w);
	iso_chan_close(t);
	close(fd);
	CHECK_EQ(bh_test_count_fds(), before);
}

/* Moves `total` bytes from a to b in random chunk sizes, checking each byte. */
static bool stream_through(struct iso_chan *a, struct iso_chan *b, uint32_t seed,
			   uint64_t total, uint32_t max_chunk)
{
	uint8_t *buf = malloc(max_chunk);
	uint64_t sent = 0, got = 0;
	bool ok = true;
	while (got < total && ok) {
		uint32_t n = 1 + iso_test_rnd() % max_chunk;
		if (n > total - sent)
			n = (uint32_t)(total - sent);
		for (uint32_t i = 0; i < n; i++)
			buf[i] = pat(seed, sent + i);
		ssize_t w = n ? iso_chan_write(a, buf, n) : 0;
		ok = w >= 0 && (size_t)w <= n;
		sent += w > 0 ? (uint64_t)w : 0;
		ssize_t r = iso_chan_read(b, buf, 1 + iso_test_rnd() % max_chunk);
		if (r == -EAGAIN)
			continue;
		ok = ok && r > 0;
		for (ssize_t i = 0; ok && i < r; i++)
			ok = buf[i] == pat(seed, got + (uint64_t)i);
		got += r > 0 ? (uint64_t)r : 0;
	}
	free(buf);
	return ok && sent == total && got == total;
}

static void test_wrap_full_empty(void)
{
	int before = bh_test_count_fds();
	struct iso_chan *w, *t = chan_pair(4096, 8192, &w);
	uint8_t buf[10000], out[10000];
	/* empty */
	CHECK_EQ(iso_chan_read(w, buf, sizeof(buf)), -EAGAIN);
	CHECK_EQ(iso_chan_readable(w), 0);
	CHECK_EQ(iso_chan_wait(w, ISO_CHAN_IN, 0), 0);
	CHECK_EQ(iso_chan_wait(t, ISO_CHAN_IN | ISO_CHAN_OUT, 0), ISO_CHAN_OUT);
	/* full: takes the ring's size, then nothing */
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = pat(1, i);
	CHECK_EQ(iso_chan_write(t, buf, sizeof(buf)), 4096);
	CHECK_EQ(iso_chan_write(t, buf, 1), 0);
	CHECK_EQ(iso_chan_writable(t), 0);
	CHECK_EQ(iso_chan_wait(t, ISO_CHAN_OUT, 0), 0);
	CHECK_EQ(iso_chan_readable(w), 4096);
	CHECK_EQ(iso_chan_wait(w, ISO_CHAN_IN, 5), ISO_CHAN_IN);
	CHECK_EQ(iso_chan_read(w, out, sizeof(out)), 4096);
	CHECK(memcmp(buf, out, 4096) == 0);
	CHECK_EQ(iso_chan_writable(t), 4096);
	/* the other ring is separate */
	CHECK_EQ(iso_chan_writable(w), 8192);
	CHECK_EQ(iso_chan_write(w, buf, sizeof(buf)), 8192);
	CHECK_EQ(iso_chan_readable(t), 8192);
	CHECK_EQ(iso_chan_read(t, out, 3), 3);
	CHECK_EQ(iso_chan_read(t, out + 3, sizeof(out)), 8189);
	CHECK(memcmp(buf, out, 8192) == 0);
	/* wrap-around, many times, both directions, odd sizes */
	CHECK(stream_through(t, w, 2, 3u << 20, 3001));
	CHECK(stream_through(w, t, 3, 3u << 20, 7919));
	CHECK(stream_through(t, w, 4, 1u << 20, 4096));
	struct iso_chan_stats st;
	iso_chan_stats(t, &st);
	CHECK(st.wakes == 0 && st.waits == 0);
	iso_chan_close(w);
	iso_chan_close(t);
	CHECK_EQ(bh_test_count_fds(), before);
}

static void test_eof(void)
{
	int before = bh_test_count_fds();
	struct iso_chan *w, *t = chan_pair(0, 0, &w);
	char buf[64];
	CHECK(!iso_chan_peer_done(w));
	CHECK_EQ(iso_chan_write(t, "0123456789", 10), 10);
	CHECK_EQ(iso_chan_shutdown(t), 0);
	CHECK_EQ(iso_chan_shutdown(t), 0);
	CHECK_EQ(iso_chan_write(t, "x", 1), -EPIPE);
	CHECK(iso_chan_peer_done(w));
	CHECK_EQ(iso_chan_wait(w, ISO_CHAN_IN, 0), ISO_CHAN_IN);
	CHECK_EQ(iso_chan_read(w, buf, 4), 4);
	CHECK_EQ(iso_chan_read(w, buf + 4, sizeof(buf)), 6);
	CHECK(memcmp(buf, "0123456789", 10) == 0);
	CHECK_EQ(iso_chan_read(w, buf, sizeof(buf)), 0);
	CHECK_EQ(iso_chan_wait(w, ISO_CHAN_IN, -1), ISO_CHAN_IN);
	/* the worker's direction is still open */
	CHECK(!iso_chan_peer_done(t));
	CHECK_EQ(iso_chan_write(w, "ok", 2), 2);
	CHECK_EQ(iso_chan_shutdown(w), 0);
	CHECK_EQ(iso_chan_read(t, buf, sizeof(buf)), 2);
	CHECK_EQ(iso_chan_read(t, buf, sizeof(buf)), 0);
	iso_chan_close(w);
	iso_chan_close(t);
	iso_chan_close(NULL);
	CHECK_EQ(bh_test_count_fds(), before);
}

static void test_seals(void)
{
	int before = bh_test_count_fds(), fd;
	struct iso_chan *t = iso_chan_create(0, 0, &fd);
	off_t size = lseek(fd, 0, SEEK_END);
	errno = 0;
	CHECK(ftruncate(fd, size + 4096) < 0 && errno == EPERM);
	errno = 0;
	CHECK(ftruncate(fd, 4096) < 0 && errno == EPERM);
	errno = 0;
	CHECK(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE) < 0 && errno == EPERM);
	CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	CHECK_EQ(lseek(fd, 0, SEEK_END), size);
	iso_chan_close(t);
	close(fd);
	CHECK_EQ(bh_test_count_fds(), before);
}

/* A copy of channel src's file (size bytes, plus `extra`), with the 32-bit
 * word at `off` replaced by v (off < 0: unchanged), sealed or not. */
static int copy_chan(int src, off_t size, off_t extra, long off, uint32_t v, bool seal)
{
	int fd = memfd_create("copy", MFD_ALLOW_SEALING | MFD_CLOEXEC);
	uint8_t *buf = calloc(1, (size_t)(extra > 0 ? size + extra : size));
	CHECK(pread(src, buf, (size_t)size, 0) == size);
	if (off >= 0)
		memcpy(buf + off, &v, sizeof(v));
	CHECK(write(fd, buf, (size_t)(size + extra)) == size + extra);
	free(buf);
	if (seal)
		CHECK_EQ(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL), 0);
	return fd;
}

static bool attach_refused(int fd)
{
	errno = 0;
	struct iso_chan *w = iso_chan_attach(fd, ISO_SIDE_WORKER);
	bool refused = w == NULL && errno == EINVAL;
	iso_chan_close(w);
	close(fd);
	return refused;
}

static void test_attach_refuses(void)
{
	int before = bh_test_count_fds(), fd, p[2];
	struct iso_chan *t = iso_chan_create(8192, 4096, &fd);
	off_t size = lseek(fd, 0, SEEK_END);
	/* the copy itself is accepted, so each refusal below is for its one change */
	int ok = copy_chan(fd, size, 0, -1, 0, true);
	struct iso_chan *w = iso_chan_attach(ok, ISO_SIDE_WORKER);
	CHECK(w != NULL);
	iso_chan_close(w);
	close(ok);
	CHECK(attach_refused(copy_chan(fd, size, 0, -1, 0, false)));   /* unsealed */
	CHECK(attach_refused(copy_chan(fd, size, 4096, -1, 0, true))); /* too long */
	CHECK(attach_refused(copy_chan(fd, size, -4096, -1, 0, true))); /* too short */
	CHECK(attach_refused(copy_chan(fd, size, 0, 0, 0x12345678, true))); /* magic */
	CHECK(attach_refused(copy_chan(fd, size, 0, 4, 2, true)));         /* version */
	CHECK(attach_refused(copy_chan(fd, size, 0, 8, 8192, true)));      /* control */
	CHECK(attach_refused(copy_chan(fd, size, 0, 12, 4096, true)));     /* ring 0 */
	CHECK(attach_refused(copy_chan(fd, size, 0, 16, 12288, true)));    /* ring 1 */
	CHECK(attach_refused(copy_chan(fd, size, 0, 16, 0, true)));
	CHECK(attach_refused(copy_chan(fd, size, 0, 24, 1 << 20, true))); /* total */
	CHECK(attach_refused(copy_chan(fd, 64, 0, -1, 0, true)));         /* header only */
	CHECK_EQ(pipe(p), 0);
	CHECK(attach_refused(p[0]));
	close(p[1]);
	CHECK(attach_refused(-1));
	CHECK(iso_chan_attach(fd, (enum iso_side)7) == NULL);
	iso_chan_close(t);
	close(fd);
	CHECK_EQ(bh_test_count_fds(), before);
}

/*
 * One side of a two-way stream: sends `out` bytes of pattern out_seed and
 * checks `in` bytes of pattern in_seed arrive, then end of stream; sleeps
 * in iso_chan_wait() whenever it can do nothing. True if every byte was
 * right.
 */
static bool pump(struct iso_chan *ch, uint32_t out_seed, uint64_t out, uint32_t in_seed,
		 uint64_t in)
{
	uint8_t buf[20000];
	uint64_t sent = 0, got = 0;
	bool eof = false, ok = true;
	while (ok && !(eof && sent == out)) {
		bool progress = false;
		if (sent < out) {
			uint32_t n = 1 + iso_test_rnd() % sizeof(buf);
			if (n > out - sent)
				n = (uint32_t)(out - sent);
			for (uint32_t i = 0; i < n; i++)
				buf[i] = pat(out_seed, sent + i);
			ssize_t w = iso_chan_write(ch, buf, n);
			ok = w >= 0;
			sent += w > 0 ? (uint64_t)w : 0;
			progress = w > 0;
			if (sent == out)
				ok = ok && iso_chan_shutdown(ch) == 0;
		}
		ssize_t r = iso_chan_read(ch, buf, 1 + iso_test_rnd() % sizeof(buf));
		if (r > 0) {
			for (ssize_t i = 0; ok && i < r; i++)
				ok = buf[i] == pat(in_seed, got + (uint64_t)i);
			got += (uint64_t)r;
			progress = true;
		} else if (r == 0) {
			eof = true;
		} else {
			ok = ok && r == -EAGAIN;
		}
		if (!progress && ok) {
			unsigned ev = (sent < out ? ISO_CHAN_OUT : 0) | (eof ? 0 : ISO_CHAN_IN);
			ok = iso_chan_wait(ch, ev, 2000) >= 0;
		}
	}
	return ok && got == in;
}

/* Forks a worker process that attaches to fd and runs fn; returns its pid. */
static pid_t fork_worker(int fd, int (*fn)(struct iso_chan *))
{
	pid_t pid = fork();
	if (pid == 0) {
		iso_test_rng ^= (uint64_t)getpid() << 20;
		struct iso_chan *w = iso_chan_attach(fd, ISO_SIDE_WORKER);
		close(fd);
		int rc = w ? fn(w) : 2;
		iso_chan_close(w);
		_exit(rc);
	}
	return pid;
}

#define STREAM_TO   (5u << 20) /* a few MiB each way, through 16 KiB rings */
#define STREAM_FROM ((3u << 20) + 12345)

static int worker_stream(struct iso_chan *w)
{
	return pump(w, 8, STREAM_FROM, 7, STREAM_TO) ? 0 : 1;
}

static void test_fork_stream(void)
{
	int before = bh_test_count_fds(), fd;
	struct iso_chan *t = iso_chan_create(16384, 16384, &fd);
	pid_t pid = fork_worker(fd, worker_stream);
	close(fd);
	CHECK(pump(t, 7, STREAM_TO, 8, STREAM_FROM));
	CHECK(iso_test_child_ok(pid));
	struct iso_chan_stats st;
	iso_chan_stats(t, &st);
	printf("fork stream: %u + %u bytes, trusted side woke the worker %llu times, slept %llu times\n",
	       STREAM_TO, STREAM_FROM, (unsigned long long)st.wakes, (unsigned long long)st.waits);
	iso_chan_close(t);
	CHECK_EQ(bh_test_count_fds(), before);
}

/* Sleeps until a byte arrives; answers with it plus one. Fails if the
 * wait took the whole timeout (the wake-up was lost) or never slept. */
static int worker_sleeper(struct iso_chan *w)
{
	uint8_t b;
	double t0 = now_ms();
	int ev = iso_chan_wait(w, ISO_CHAN_IN, 10000);
	double dt = now_ms() - t0;
	struct iso_chan_stats st;
	iso_chan_stats(w, &st);
	if (ev != ISO_CHAN_IN || dt > 5000 || st.waits != 1 || iso_chan_read(w, &b, 1) != 1)
		return 1;
	b++;
	return iso_chan_write(w, &b, 1) == 1 ? 0 : 1;
}

static void test_sleep_wake(void)
{
	int before = bh_test_count_fds(), fd;
	struct iso_chan *t = iso_chan_create(0, 0, &fd);
	pid_t pid = fork_worker(fd, worker_sleeper);
	close(fd);
	double deadline = now_ms() + 5000;
	while (!iso_chan_peer_sleeping(t) && now_ms() < deadline)
		usleep(1000);
	CHECK(iso_chan_peer_sleeping(t));
	usleep(20000); /* let it reach FUTEX_WAIT */
	uint8_t b = 41;
	CHECK_EQ(iso_chan_write(t, &b, 1), 1);
	struct iso_chan_stats st;
	iso_chan_stats(t, &st);
	CHECK_EQ(st.wakes, 1);
	CHECK(!iso_chan_peer_sleeping(t));
	for (int i = 0; i < 100 && iso_chan_read(t, &b, 1) == -EAGAIN; i++)
		iso_chan_wait(t, ISO_CHAN_IN, 100);
	CHECK_EQ(b, 42);
	CHECK(iso_test_child_ok(pid));
	iso_chan_close(t);
	CHECK_EQ(bh_test_count_fds(), before);
}

/* The writer (the worker here) fills its ring but for 96 bytes and waits
 * for room for 500; the reader takes 50 bytes (still too little: the
 * waiter wakes and sleeps again), then 1000. */
static int worker_room_waiter(struct iso_chan *w)
{
	static uint8_t fill[4000];
	if (iso_chan_write(w, fill, sizeof(fill)) != (ssize_t)sizeof(fill))
		return 1;
	if (iso_chan_wait_room(w, ISO_CHAN_OUT, 97, 0) != 0 ||
	    iso_chan_wait_room(w, ISO_CHAN_OUT, 96, 0) != ISO_CHAN_OUT)
		return 2;
	double t0 = now_ms();
	unsigned spurious = 0;
	int ev;
	while ((ev = iso_chan_wait_room(w, ISO_CHAN_OUT, 500, 8000)) == 0 && now_ms() - t0 < 8000) {
		if (iso_chan_writable(w) >= 500)
			return 3; /* room enough, and not told */
		spurious++;
	}
	if (ev != ISO_CHAN_OUT || iso_chan_writable(w) < 500)
		return 4;
	if (now_ms() - t0 >= 8000)
		return 5; /* woken by the time limit, not by the read */
	uint8_t b = (uint8_t)spurious;
	return iso_chan_write(w, &b, 1) == 1 ? 0 : 6;
}

static void test_wait_room(void)
{
	int before = bh_test_count_fds(), fd;
	struct iso_chan *t = iso_chan_create(0, 4096, &fd);
	pid_t pid = fork_worker(fd, worker_room_waiter);
	close(fd);
	static uint8_t buf[4000];
	double deadline = now_ms() + 5000;
	while (!(iso_chan_readable(t) == 4000 && iso_chan_peer_sleeping(t)) && now_ms() < deadline)
		usleep(1000);
	CHECK(iso_chan_peer_sleeping(t));
	usleep(20000); /* let it reach FUTEX_WAIT */
	CHECK_EQ(iso_chan_read(t, buf, 50), 50);
	usleep(50000);
	CHECK_EQ(iso_chan_read(t, buf, 1000), 1000);
	ssize_t r = -EAGAIN;
	deadline = now_ms() + 5000; /* its byte, after the 2950 still there */
	while (iso_chan_readable(t) == 2950 && now_ms() < deadline)
		usleep(1000);
	CHECK_EQ(iso_chan_read(t, buf, 2950), 2950);
	r = iso_chan_read(t, buf, 1);
	CHECK_EQ(r, 1);
	printf("wait for room: woken %u time(s) with too little\n", r == 1 ? buf[0] : 0);
	CHECK(iso_test_child_ok(pid));
	iso_chan_close(t);
	CHECK_EQ(bh_test_count_fds(), before);
}

#define PINGS 20000

/* Reads one byte, sleeping for it; the longest single wait goes to *max_ms. */
static int ping_read(struct iso_chan *ch, uint8_t *b, double *max_ms)
{
	double t0 = now_ms();
	ssize_t r;
	while ((r = iso_chan_read(ch, b, 1)) == -EAGAIN)
		if (iso_chan_wait(ch, ISO_CHAN_IN, 3000) < 0)
			return -1;
	double dt = now_ms() - t0;
	if (dt > *max_ms)
		*max_ms = dt;
	return r == 1 ? 0 : -1;
}

static int worker_pong(struct iso_chan *w)
{
	double max_ms = 0;
	for (int i = 0; i < PINGS; i++) {
		uint8_t b;
		if (ping_read(w, &b, &max_ms) < 0 || b != (uint8_t)i)
			return 1;
		b++;
		if (iso_chan_write(w, &b, 1) != 1)
			return 1;
	}
	return max_ms < 2500 ? 0 : 3;
}

static void test_ping_pong(void)
{
	int before = bh_test_count_fds(), fd;
	struct iso_chan *t = iso_chan_create(0, 0, &fd);
	pid_t pid = fork_worker(fd, worker_pong);
	close(fd);
	double max_ms = 0, t0 = now_ms();
	bool ok = true;
	for (int i = 0; i < PINGS && ok; i++) {
		uint8_t b = (uint8_t)i;
		ok = iso_chan_write(t, &b, 1) == 1 && ping_read(t, &b, &max_ms) == 0 &&
		     b == (uint8_t)(i + 1);
	}
	CHECK(ok);
	/* a lost wake-up costs a whole 3 s timeout */
	CHECK(max_ms < 2500);
	CHECK(iso_test_child_ok(pid));
	struct iso_chan_stats st;
	iso_chan_stats(t, &st);
	CHECK(st.wakes > 0);
	printf("ping-pong: %d exchanges in %.0f ms, longest wait %.1f ms, %llu wakes, %llu waits\n",
	       PINGS, now_ms() - t0, max_ms, (unsigned long long)st.wakes,
	       (unsigned long long)st.waits);
	iso_chan_close(t);
	CHECK_EQ(bh_test_count_fds(), before);
}

#define SPIN_BYTES (1u << 20)

/* Never sleeps: spins until every byte and the end of stream arrived. */
static int worker_spinner(struct iso_chan *w)
{
	uint8_t buf[4096];
	uint64_t got = 0;
	ssize_t r;
	while ((r = iso_chan_read(w, buf, sizeof(buf))) != 0) {
		if (r == -EAGAIN) {
			sched_yield();
			continue;
		}
		if (r < 0)
			return 1;
		for (ssize_t i = 0; i < r; i++)
			if (buf[i] != pat(9, got + (uint64_t)i))
				return 1;
		got += (uint64_t)r;
	}
	struct iso_chan_stats st;
	iso_chan_stats(w, &st);
	/* the trusted side never slept either, so reading woke nobody */
	return got == SPIN_BYTES && st.wakes == 0 && st.waits == 0 ? 0 : 1;
}

static void test_fast_path(void)
{
	int before = bh_test_count_fds(), fd;
	struct iso_chan *t = iso_chan_create(8192, 0, &fd);
	pid_t pid = fork_worker(fd, worker_spinner);
	close(fd);
	uint8_t buf[97];
	uint64_t sent = 0;
	unsigned writes = 0;
	while (sent < SPIN_BYTES) {
		size_t n = sizeof(buf) < SPIN_BYTES - sent ? sizeof(buf) : SPIN_BYTES - sent;
		for (size_t i = 0; i < n; i++)
			buf[i] = pat(9, sent + i);
		ssize_t w = iso_chan_write(t, buf, n);
		if (w == 0)
			sched_yield();
		sent += w > 0 ? (uint64_t)w : 0;
		writes += w > 0;
	}
	CHECK_EQ(iso_chan_shutdown(t), 0);
	CHECK(iso_test_child_ok(pid));
	struct iso_chan_stats st;
	iso_chan_stats(t, &st);
	/* the shutdown may not wake either: the worker never slept */
	CHECK_EQ(st.wakes, 0);
	CHECK_EQ(st.waits, 0);
	printf("fast path: %u writes to an awake worker, %llu futex wakes\n", writes,
	       (unsigned long long)st.wakes);
	iso_chan_close(t);
	CHECK_EQ(bh_test_count_fds(), before);
}

/* Batched wake-ups: a joined channel owes its sleeping peer the wake-up
 * instead of ringing; one flush rings each owed doorbell once; leaving the
 * batch (or closing) rings what was owed and takes the channel off its list. */
static void test_wake_batch(void)
{
	int before = bh_test_count_fds();
	struct iso_wake_batch b = {0};
	struct iso_chan *t[3], *w[3];
	struct iso_chan_stats st;
	uint8_t buf[64] = {0};
	for (int i = 0; i < 3; i++) {
		int fd;
		t[i] = iso_chan_create(4096, 4096, &fd);
		w[i] = iso_chan_attach(fd, ISO_SIDE_WORKER);
		close(fd);
		CHECK(t[i] && w[i]);
		if (!t[i] || !w[i])
			return;
		iso_chan_join(t[i], &b);
		CHECK_EQ(iso_chan_arm(w[i], ISO_CHAN_IN), 0); /* the worker is about to sleep */
	}
	CHECK_EQ(iso_chan_write(t[0], buf, 10), 10);
	CHECK_EQ(iso_chan_write(t[0], buf, 10), 10);
	CHECK_EQ(iso_chan_write(t[1], buf, 10), 10);
	iso_chan_stats(t[0], &st);
	CHECK_EQ(st.wakes, 0);
	CHECK(iso_chan_wake_owed(t[0]) && iso_chan_wake_owed(t[1]) && !iso_chan_wake_owed(t[2]));
	CHECK(iso_chan_peer_sleeping(t[0])); /* not rung yet */
	CHECK_EQ(iso_wake_flush(&b), 2);      /* t[0] once for both writes, t[1] */
	iso_chan_stats(t[0], &st);
	CHECK_EQ(st.wakes, 1);
	CHECK(!iso_chan_peer_sleeping(t[0]) && !iso_chan_peer_sleeping(t[1]));
	CHECK(!iso_chan_wake_owed(t[0]) && !iso_chan_wake_owed(t[1]));
	CHECK(iso_chan_peer_sleeping(t[2])); /* given nothing: not woken */
	CHECK_EQ(iso_wake_flush(&b), 0);
	/* leaving the batch rings at once what was owed */
	CHECK_EQ(iso_chan_write(t[2], buf, 10), 10);
	CHECK(iso_chan_wake_owed(t[2]));
	iso_chan_join(t[2], NULL);
	CHECK(!iso_chan_wake_owed(t[2]) && !iso_chan_peer_sleeping(t[2]));
	CHECK_EQ(iso_chan_write(t[2], buf, 10), 10); /* out of the batch: no debt */
	CHECK(!iso_chan_wake_owed(t[2]));
	/* a channel closed while it owes leaves the list */
	CHECK_EQ(iso_chan_read(w[1], buf, sizeof(buf)), 10);
	CHECK_EQ(iso_chan_arm(w[1], ISO_CHAN_IN), 0);
	CHECK_EQ(iso_chan_write(t[1], buf, 10), 10);
	CHECK_EQ(iso_chan_write(t[0], buf, 10), 10);
	iso_chan_close(t[1]);
	CHECK_EQ(iso_wake_flush(&b), 1);
	/* a side that waits rings what its channel owes before it sleeps */
	CHECK_EQ(iso_chan_read(w[2], buf, sizeof(buf)), 20); /* nothing left for it to read */
	CHECK_EQ(iso_chan_arm(t[2], ISO_CHAN_IN), 0); /* the trusted side is about to sleep */
	iso_chan_join(w[2], &b);
	CHECK_EQ(iso_chan_write(w[2], buf, 10), 10);
	CHECK(iso_chan_wake_owed(w[2]) && iso_chan_peer_sleeping(w[2]));
	CHECK_EQ(iso_chan_wait(w[2], ISO_CHAN_OUT, 0), ISO_CHAN_OUT); /* only a look: nothing rung */
	CHECK(iso_chan_wake_owed(w[2]));
	CHECK_EQ(iso_chan_wait(w[2], ISO_CHAN_IN, 1), 0);
	CHECK(!iso_chan_wake_owed(w[2]) && !iso_chan_peer_sleeping(w[2]));
	CHECK_EQ(b.head, NULL);
	for (int i = 0; i < 3; i++) {
		if (i != 1)
			iso_chan_close(t[i]);
		iso_chan_close(w[i]);
	}
	CHECK_EQ(bh_test_count_fds(), before);
}

/* Wipe mode: what a side reads is zeroed in the ring (the whole shared
 * mapping searched), both ways; what it has not read yet stays. */
static void test_wipe(void)
{
	int before = bh_test_count_fds(), fd;
	struct iso_chan *t = iso_chan_create(4096, 4096, &fd);
	struct iso_chan *w = t ? iso_chan_attach(fd, ISO_SIDE_WORKER) : NULL;
	struct stat st;
	uint8_t *m = MAP_FAILED;
	size_t len = 0;
	if (t && fstat(fd, &st) == 0) {
		len = (size_t)st.st_size;
		m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	}
	close(fd);
	CHECK(t && w && m != MAP_FAILED);
	if (!t || !w || m == MAP_FAILED)
		goto out;
	char got[64];
	struct iso_frame f;
	/* off: read bytes stay in the ring */
	CHECK_EQ(iso_chan_write(t, "Zq-plain-secret", 15), 15);
	CHECK_EQ(iso_chan_read(w, got, sizeof(got)), 15);
	CHECK(memmem(m, len, "Zq-plain-secret", 15) != NULL);
	/* on, each way: iso_chan_read, and frames (iso_chan_consume: the
	 * header skipped, the payload taken); a frame wrapping round the end */
	iso_chan_set_wipe(t, true);
	iso_chan_set_wipe(w, true);
	CHECK_EQ(iso_chan_write(t, "Zq-one-secret", 13), 13);
	CHECK_EQ(iso_chan_read(w, got, sizeof(got)), 13);
	CHECK(memmem(m, len, "Zq-one-secret", 13) == NULL);
	for (int i = 0; i < 200; i++) {
		CHECK_EQ(iso_frame_send(w, 9, ISO_F_DATA, 0, "Zq-two-secret", 13), 0);
		CHECK_EQ(iso_frame_recv(t, &f, got, sizeof(got)), 1);
		CHECK(f.len == 13 && !memcmp(got, "Zq-two-secret", 13));
		CHECK(memmem(m, len, "Zq-two-secret", 13) == NULL);
	}
	/* not yet read: there until read */
	CHECK_EQ(iso_chan_write(t, "Zq-three-secret", 15), 15);
	CHECK(memmem(m, len, "Zq-three-secret", 15) != NULL);
	CHECK_EQ(iso_chan_read(w, got, sizeof(got)), 15);
	CHECK(memmem(m, len, "Zq-three-secret", 15) == NULL);
out:
	if (m != MAP_FAILED)
		munmap(m, len);
	iso_chan_close(t);
	iso_chan_close(w);
	CHECK_EQ(bh_test_count_fds(), before);
}

/* Quiet writes (iso_chan_writev_quiet, iso_frame_send_quiet) ring only a
 * peer that waits with ISO_CHAN_QUIET; every other write rings it too. */
static void test_quiet(void)
{
	int before = bh_test_count_fds(), fd;
	struct iso_wake_batch b = {0};
	struct iso_chan_stats st;
	struct iso_frame f;
	uint8_t buf[64] = {0}, got[64];
	uint32_t inc = 4096, inc_got = 0;
	struct iso_chan *t = iso_chan_create(4096, 4096, &fd);
	struct iso_chan *w = iso_chan_attach(fd, ISO_SIDE_WORKER);
	close(fd);
	CHECK(t && w);
	if (!t || !w)
		return;
	struct iovec v = {buf, 10};

	/* a worker asleep for input alone: a quiet write leaves it asleep */
	CHECK_EQ(iso_chan_arm(w, ISO_CHAN_IN), 0);
	CHECK_EQ(iso_chan_writev_quiet(t, &v, 1), 10);
	iso_chan_stats(t, &st);
	CHECK_EQ(st.wakes, 0);
	CHECK(iso_chan_peer_sleeping(t));
	/* what it finds when something else wakes it: the bytes, in order */
	CHECK_EQ(iso_chan_write(t, buf, 5), 5);
	iso_chan_stats(t, &st);
	CHECK_EQ(st.wakes, 1);
	CHECK(!iso_chan_peer_sleeping(t));
	CHECK_EQ(iso_chan_read(w, got, sizeof(got)), 15);

	/* asleep with ISO_CHAN_QUIET: a quiet write rings it, and so does a plain one */
	CHECK_EQ(iso_chan_arm(w, ISO_CHAN_QUIET), 0);
	CHECK(iso_chan_peer_sleeping(t));
	CHECK_EQ(iso_chan_writev_quiet(t, &v, 1), 10);
	iso_chan_stats(t, &st);
	CHECK_EQ(st.wakes, 2);
	CHECK(!iso_chan_peer_sleeping(t));
	CHECK_EQ(iso_chan_arm(w, ISO_CHAN_QUIET), ISO_CHAN_IN); /* ready, reported as input */
	CHECK_EQ(iso_chan_read(w, got, sizeof(got)), 10);
	CHECK_EQ(iso_chan_arm(w, ISO_CHAN_QUIET), 0);
	CHECK_EQ(iso_chan_write(t, buf, 1), 1);
	iso_chan_stats(t, &st);
	CHECK_EQ(st.wakes, 3);
	CHECK_EQ(iso_chan_read(w, got, sizeof(got)), 1);
	/* and asleep for room only, a quiet write does not ring it */
	CHECK_EQ(iso_chan_arm(w, ISO_CHAN_OUT), ISO_CHAN_OUT); /* there is room: ready */
	iso_chan_disarm(w);

	/* through a wake batch: owed, but at the flush rung only for a quiet waiter */
	iso_chan_join(t, &b);
	CHECK_EQ(iso_chan_arm(w, ISO_CHAN_IN), 0);
	CHECK_EQ(iso_frame_send_quiet(t, 7, ISO_F_WINDOW, 0, &inc, sizeof(inc)), 0);
	CHECK(iso_chan_wake_owed(t));
	iso_wake_flush(&b);
	iso_chan_stats(t, &st);
	CHECK_EQ(st.wakes, 3);
	CHECK(iso_chan_peer_sleeping(t));
	CHECK_EQ(iso_chan_arm(w, ISO_CHAN_QUIET), ISO_CHAN_IN); /* the frame is there */
	CHECK_EQ(iso_frame_recv(w, &f, &inc_got, sizeof(inc_got)), 1);
	CHECK(f.stream == 7 && f.type == ISO_F_WINDOW && f.len == sizeof(inc) && inc_got == inc);
	CHECK_EQ(iso_chan_arm(w, ISO_CHAN_QUIET), 0);
	CHECK_EQ(iso_frame_send_quiet(t, 7, ISO_F_WINDOW, 0, &inc, sizeof(inc)), 0);
	iso_wake_flush(&b);
	iso_chan_stats(t, &st);
	CHECK_EQ(st.wakes, 4);
	CHECK(!iso_chan_peer_sleeping(t));
	CHECK_EQ(iso_frame_recv(w, &f, &inc_got, sizeof(inc_got)), 1);
	/* a frame too large goes quietly no more than loudly */
	CHECK_EQ(iso_frame_send_quiet(t, 7, ISO_F_DATA, 0, buf, iso_frame_max(t) + 1), -EMSGSIZE);
	iso_chan_join(t, NULL);

	/* Quiet frames that leave the ring more than half full ring a worker
	 * asleep for input alone: quiet bytes never fill its ring while it
	 * sleeps on. Half full exactly stays quiet. */
	CHECK_EQ(iso_chan_arm(w, ISO_CHAN_IN), 0);
	struct iovec half[2] = {{buf, sizeof(buf)}, {buf, sizeof(buf)}};
	for (int i = 0; i < 2048 / 128; i++)
		CHECK_EQ(iso_chan_writev_quiet(t, half, 2), 128);
	iso_chan_stats(t, &st);
	CHECK_EQ(st.wakes, 4);
	CHECK(iso_chan_peer_sleeping(t));
	CHECK_EQ(iso_chan_writev_quiet(t, &v, 1), 10); /* 2058 of 4096 */
	iso_chan_stats(t, &st);
	CHECK_EQ(st.wakes, 5);
	CHECK(!iso_chan_peer_sleeping(t));
	CHECK_EQ(iso_chan_read(w, got, sizeof(got)), sizeof(got));
	CHECK_EQ(iso_chan_readable(w), 2058 - (ssize_t)sizeof(got));
	iso_chan_close(t);
	iso_chan_close(w);
	CHECK_EQ(bh_test_count_fds(), before);
}

/* Every call of the trusted side on a channel the worker scribbled on:
 * results within bounds, or an error. False if any result is impossible. */
static bool trusted_ops_bounded(struct iso_chan *t, uint8_t *buf, size_t cap, uint32_t ring)
{
	/* first, so it sleeps only when the scribble leaves nothing ready */
	int ev = iso_chan_wait(t, ISO_CHAN_IN | ISO_CHAN_OUT, 1);
	bool ok = ev == -EPROTO || (ev >= 0 && ev <= 3);
	ssize_t r = iso_chan_readable(t), w = iso_chan_writable(t);
	ok = ok && (r == -EPROTO || (r >= 0 && r <= ring)) && (w == -EPROTO || (w >= 0 && w <= ring));
	r = iso_chan_read(t, buf, cap);
	ok = ok && (r == -EPROTO || r == -EAGAIN || (r >= 0 && r <= ring));
	w = iso_chan_write(t, buf, cap);
	ok = ok && (w == -EPROTO || w == -EPIPE || (w >= 0 && w <= ring));
	iso_chan_wake(t);
	(void)iso_chan_peer_done(t);
	(void)iso_chan_peer_sleeping(t);
	int s = iso_chan_shutdown(t);
	return ok && (s == 0 || s == -EPROTO);
}

#define HOSTILE_RING 4096u

/* A channel with bytes in flight both ways, as a worker would leave it. */
static struct iso_chan *busy_chan(uint8_t *buf, uint32_t **words)
{
	int fd;
	struct iso_chan *t = iso_chan_create(HOSTILE_RING, HOSTILE_RING, &fd);
	struct iso_chan *w = iso_chan_attach(fd, ISO_SIDE_WORKER);
	/* the worker's view of the whole mapping, to scribble on */
	*words = mmap(NULL, 4096 + 2 * HOSTILE_RING, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	iso_chan_write(t, buf, 1000);
	iso_chan_write(w, buf, 3000);
	iso_chan_read(w, buf, 500);
	iso_chan_close(w);
	return t;
}

static void test_hostile(void)
{
	int before = bh_test_count_fds();
	size_t cap = 3 * HOSTILE_RING;
	uint8_t *buf = calloc(1, cap);
	const uint32_t values[] = {0,          1,          HOSTILE_RING - 1, HOSTILE_RING,
				   HOSTILE_RING + 1, 2 * HOSTILE_RING, 0x7fffffffu, 0x80000000u,
				   0xfffff000u, 0xffffffffu};
	unsigned cases = 0, broken = 0;
	bool ok = true;
	/* every word of the control page, every nasty value */
	for (unsigned off = 0; off < 4096 / 4; off++) {
		for (size_t v = 0; v < sizeof(values) / sizeof(values[0]); v++) {
			uint32_t *words;
			struct iso_chan *t = busy_chan(buf, &words);
			words[off] = values[v];
			ok = ok && trusted_ops_bounded(t, buf, cap, HOSTILE_RING);
			broken += iso_chan_readable(t) == -EPROTO;
			cases++;
			munmap(words, 4096 + 2 * HOSTILE_RING);
			iso_chan_close(t);
		}
	}
	CHECK(ok);
	CHECK(broken > 0);
	/* random scribbles over the whole mapping, between every call */
	uint32_t *words;
	struct iso_chan *t = busy_chan(buf, &words);
	for (unsigned i = 0; i < 5000; i++) {
		unsigned n = 1 + iso_test_rnd() % 8;
		for (unsigned k = 0; k < n; k++) {
			unsigned at = iso_test_rnd() % ((4096 + 2 * HOSTILE_RING) / 4);
			words[at % 4 == 0 ? at / 4 : at] = iso_test_rnd();
		}
		ok = ok && trusted_ops_bounded(t, buf, 1 + iso_test_rnd() % cap, HOSTILE_RING);
		if (iso_chan_readable(t) == -EPROTO) {
			munmap(words, 4096 + 2 * HOSTILE_RING);
			iso_chan_close(t);
			t = busy_chan(buf, &words);
			broken++;
		}
		cases++;
	}
	CHECK(ok);
	munmap(words, 4096 + 2 * HOSTILE_RING);
	iso_chan_close(t);
	printf("hostile worker: %u corruptions, %u detected as broken indices, no stray access\n",
	       cases, broken);
	free(buf);
	CHECK_EQ(bh_test_count_fds(), before);
}

/* Frames: whole ones round trip; a sender never writes half of one; a
 * receiver refuses what a hostile peer makes of them; arm/notify. */
static void test_frames(void)
{
	int before = bh_test_count_fds();
	struct iso_chan *w, *t = chan_pair(4096, 4096, &w);
	uint8_t big[8192], got[ISO_FRAME_MAX];
	struct iso_frame f;
	if (!t)
		return;
	memset(big, 0x5a, sizeof(big));
	CHECK_EQ(iso_frame_max(t), 4096u - ISO_FRAME_HDR);
	CHECK_EQ(iso_frame_send(t, 7, ISO_F_OPEN, 0, NULL, 0), 0);
	CHECK_EQ(iso_frame_send(t, 7, ISO_F_DATA, 3, "hello", 5), 0);
	CHECK_EQ(iso_frame_send(t, 7, ISO_F_DATA, 0, big, 4096), -EMSGSIZE);
	CHECK_EQ(iso_frame_recv(w, &f, got, sizeof(got)), 1);
	CHECK(f.stream == 7 && f.type == ISO_F_OPEN && f.len == 0);
	CHECK_EQ(iso_frame_recv(w, &f, got, sizeof(got)), 1);
	CHECK(f.stream == 7 && f.type == ISO_F_DATA && f.flags == 3 && f.len == 5 &&
	      !memcmp(got, "hello", 5));
	CHECK_EQ(iso_frame_recv(w, &f, got, sizeof(got)), -EAGAIN);
	/* no room for the whole frame: nothing of it is written */
	CHECK_EQ(iso_frame_send(t, 1, ISO_F_DATA, 0, big, 3000), 0);
	CHECK_EQ(iso_frame_send(t, 1, ISO_F_DATA, 0, big, 2000), -EAGAIN);
	CHECK_EQ(iso_chan_readable(w), (ssize_t)(ISO_FRAME_HDR + 3000));
	/* a payload longer than the receiver's buffer: refused */
	CHECK_EQ(iso_frame_recv(w, &f, got, 100), -EPROTO);
	CHECK_EQ(iso_frame_recv(w, &f, got, sizeof(got)), 1);
	CHECK_EQ(f.len, 3000u);
	/* hostile headers, written raw by the "worker" */
	struct iso_frame h = {.stream = 1, .type = ISO_F_DATA, .len = ISO_FRAME_MAX + 1};
	CHECK_EQ(iso_chan_write(w, &h, sizeof(h)), (ssize_t)sizeof(h));
	CHECK_EQ(iso_frame_recv(t, &f, got, sizeof(got)), -EPROTO); /* too long */
	iso_chan_close(t);
	iso_chan_close(w);
	t = chan_pair(4096, 4096, &w);
	h = (struct iso_frame){.stream = 1, .type = 99, .len = 0};
	CHECK_EQ(iso_chan_write(w, &h, sizeof(h)), (ssize_t)sizeof(h));
	CHECK_EQ(iso_frame_recv(t, &f, got, sizeof(got)), -EPROTO); /* unknown type */
	iso_chan_close(t);
	iso_chan_close(w);
	t = chan_pair(4096, 4096, &w);
	h = (struct iso_frame){.stream = 1, .type = ISO_F_DATA, .len = 100};
	CHECK_EQ(iso_chan_write(w, &h, sizeof(h)), (ssize_t)sizeof(h));
	CHECK_EQ(iso_chan_write(w, big, 50), 50);
	CHECK_EQ(iso_frame_recv(t, &f, got, sizeof(got)), -EAGAIN); /* half a frame */
	CHECK_EQ(iso_chan_shutdown(w), 0);
	CHECK_EQ(iso_frame_recv(t, &f, got, sizeof(got)), -EPROTO); /* cut short by the end */
	iso_chan_close(t);
	iso_chan_close(w);
	t = chan_pair(4096, 4096, &w);
	CHECK_EQ(iso_chan_write(w, "abc", 3), 3);
	CHECK_EQ(iso_chan_shutdown(w), 0);
	CHECK_EQ(iso_frame_recv(t, &f, got, sizeof(got)), -EPROTO); /* half a header, then the end */
	iso_chan_close(t);
	iso_chan_close(w);
	/* clean end of stream; peek does not consume */
	t = chan_pair(4096, 4096, &w);
	CHECK_EQ(iso_frame_send(w, 2, ISO_F_END, 0, NULL, 0), 0);
	CHECK_EQ(iso_chan_shutdown(w), 0);
	CHECK_EQ(iso_chan_peek(t, &h, sizeof(h)), (ssize_t)sizeof(h));
	CHECK_EQ(iso_chan_readable(t), (ssize_t)sizeof(h));
	CHECK_EQ(iso_frame_recv(t, &f, got, sizeof(got)), 1);
	CHECK_EQ(f.type, ISO_F_END);
	CHECK_EQ(iso_frame_recv(t, &f, got, sizeof(got)), 0);
	iso_chan_close(t);
	iso_chan_close(w);
	/* arm + notify: the worker's write rings the pipe only while armed */
	int p[2];
	CHECK_EQ(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	t = chan_pair(4096, 4096, &w);
	iso_chan_set_notify(w, p[1]);
	char b[64];
	CHECK_EQ(iso_frame_send(w, 1, ISO_F_DATA, 0, "x", 1), 0);
	CHECK(read(p[0], b, sizeof(b)) < 0 && errno == EAGAIN); /* not armed: silent */
	CHECK_EQ(iso_chan_arm(t, ISO_CHAN_IN), ISO_CHAN_IN);    /* already readable */
	CHECK_EQ(iso_frame_recv(t, &f, got, sizeof(got)), 1);
	CHECK_EQ(iso_chan_arm(t, ISO_CHAN_IN), 0);
	CHECK_EQ(iso_frame_send(w, 1, ISO_F_DATA, 0, "y", 1), 0);
	CHECK_EQ(read(p[0], b, sizeof(b)), 8);                  /* rang once */
	CHECK_EQ(iso_frame_send(w, 1, ISO_F_DATA, 0, "z", 1), 0);
	CHECK(read(p[0], b, sizeof(b)) < 0 && errno == EAGAIN); /* the bell was cleared */
	iso_chan_disarm(t);
	iso_chan_close(t);
	iso_chan_close(w);
	close(p[0]);
	close(p[1]);
	CHECK_EQ(bh_test_count_fds(), before);
}

/* Pieces written as one (iso_chan_writev, iso_frame_sendv) and bytes taken
 * after a skipped prefix (iso_chan_consume), across the ring's end. */
static void test_gather(void)
{
	int before = bh_test_count_fds();
	struct iso_chan *w, *t = chan_pair(4096, 4096, &w);
	uint8_t buf[4096], out[4096], got[ISO_FRAME_MAX];
	if (!t)
		return;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = pat(5, i);
	/* move both indices near the end, so what follows wraps */
	CHECK_EQ(iso_chan_write(t, buf, 4000), 4000);
	CHECK_EQ(iso_chan_read(w, out, sizeof(out)), 4000);
	struct iovec v[3] = {{buf, 50}, {buf + 50, 0}, {buf + 1000, 100}};
	CHECK_EQ(iso_chan_writev(t, v, 3), 150);
	CHECK_EQ(iso_chan_readable(w), 150);
	/* more than is there: nothing taken */
	CHECK_EQ(iso_chan_consume(w, 50, out, 101), -EAGAIN);
	CHECK_EQ(iso_chan_consume(w, 151, out, 0), -EAGAIN);
	CHECK_EQ(iso_chan_readable(w), 150);
	CHECK_EQ(iso_chan_consume(w, 50, out, 100), 100);
	CHECK(memcmp(out, buf + 1000, 100) == 0);
	CHECK_EQ(iso_chan_readable(w), 0);
	CHECK_EQ(iso_chan_writable(t), 4096);
	/* partial: as far as the room goes, in order */
	CHECK_EQ(iso_chan_write(t, buf, 4000), 4000);
	struct iovec p[2] = {{buf + 7, 60}, {buf + 300, 100}};
	CHECK_EQ(iso_chan_writev(t, p, 2), 96);
	CHECK_EQ(iso_chan_writev(t, p, 2), 0);
	CHECK_EQ(iso_chan_consume(w, 4000, out, 96), 96);
	CHECK(memcmp(out, buf + 7, 60) == 0 && memcmp(out + 60, buf + 300, 36) == 0);
	/* a frame in pieces: one header, the pieces in order */
	struct iso_frame f;
	struct iovec fv[4] = {{buf, 5}, {NULL, 0}, {buf + 2000, 1500}, {buf + 9, 1}};
	CHECK_EQ(iso_frame_sendv(t, 3, ISO_F_DATA, 0, fv, 4), 0);
	CHECK_EQ(iso_frame_recv(w, &f, got, sizeof(got)), 1);
	CHECK(f.stream == 3 && f.type == ISO_F_DATA && f.len == 1506);
	CHECK(!memcmp(got, buf, 5) && !memcmp(got + 5, buf + 2000, 1500) && got[1505] == buf[9]);
	struct iovec five[5] = {{buf, 1}, {buf, 1}, {buf, 1}, {buf, 1}, {buf, 1}};
	CHECK_EQ(iso_frame_sendv(t, 3, ISO_F_DATA, 0, five, 5), -EINVAL);
	struct iovec huge[2] = {{buf, 4000}, {buf, 100}};
	CHECK_EQ(iso_frame_sendv(t, 3, ISO_F_DATA, 0, huge, 2), -EMSGSIZE);
	struct iovec wraps[2] = {{buf, SIZE_MAX}, {buf, 2}}; /* a sum that would wrap to 1 */
	CHECK_EQ(iso_frame_sendv(t, 3, ISO_F_DATA, 0, wraps, 2), -EMSGSIZE);
	/* no room for the whole: nothing of it written */
	CHECK_EQ(iso_chan_write(t, buf, 3000), 3000);
	huge[0].iov_len = 1000;
	CHECK_EQ(iso_frame_sendv(t, 3, ISO_F_DATA, 0, huge, 2), -EAGAIN);
	CHECK_EQ(iso_chan_readable(w), 3000);
	iso_chan_close(w);
	iso_chan_close(t);
	CHECK_EQ(bh_test_count_fds(), before);
}

int main(void)
{
	test_sizes();
	test_wrap_full_empty();
	test_eof();
	test_seals();
	test_attach_refuses();
	test_fork_stream();
	test_sleep_wake();
	test_wait_room();
	test_ping_pong();
	test_fast_path();
	test_wake_batch();
	test_quiet();
	test_wipe();
	test_hostile();
	test_frames();
	test_gather();
	return bh_test_summary("iso_channel");
}
