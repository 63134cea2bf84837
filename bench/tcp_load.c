/* SPDX-License-Identifier: MIT */
/*
 * bh-tcp-load: a one-threaded epoll load generator over Linux sockets for the
 * TCP benchmark (bench/README.md): against our NFs (tcp-echo, tcp-sink,
 * tcp-source) or the kernel serving the same protocols (bh-tcp-kserver).
 *
 *   bh-tcp-load --to A.B.C.D:PORT --test bulk|rr|crr --conns K --seconds S
 *               [--size N] [--read] [--warmup S] [--timeout MS] [--linger0]
 *               [--cpu N]
 *
 *   bulk  K connections write continuously (to a sink); goodput is what the
 *         peer acknowledged (TCP_INFO tcpi_bytes_acked) in the measured time.
 *         --read: K connections read from a source instead, checking the
 *         tcp-source stream (65521 bytes of xorshift32 from offset
 *         local port * 7919 mod 65521, repeated).
 *   rr    K connections each send a SIZE-byte request (default 64) and wait
 *         for its SIZE-byte echo, then the next: transactions/s, latency.
 *   crr   K in parallel: connect, send SIZE bytes, read the echo, close,
 *         again: connections/s, latency from connect to the last echo byte.
 *         --linger0 closes with a RST (no TIME-WAIT on this side).
 *
 * Runs WARMUP (default 0) then S seconds, both fractional; only what
 * completes in the S seconds counts. Never hangs: a connect or an echo that
 * takes longer than --timeout (default 2000 ms) is counted and the
 * connection replaced; refused, reset and failed connections are counted and
 * retried after 10 ms. Echoed bytes are checked (bad_echo).
 *
 * Prints one JSON line on stdout (fields in bench/README.md); exit status 0
 * once it ran, 2 on a usage error, 1 if it could not start.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/tcp.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tcp_tools.h"

#define PROG "bh-tcp-load"
#define BULK_CHUNK (1u << 16)
#define MAX_SIZE (1u << 20)
#define MAX_EVENTS 1024
#define RETRY_NS (10 * 1000000ull)
#define TICK_MS 5

enum test { T_BULK, T_RR, T_CRR };
static const char *const test_names[] = {"bulk", "rr", "crr"};
enum sstate { S_IDLE, S_CONNECTING, S_SEND, S_RECV, S_STREAM };

struct slot {
	int fd;
	uint8_t st;
	uint32_t off;        /* rr/crr: bytes sent (S_SEND) or received (S_RECV) */
	uint32_t seq;        /* rr/crr: transactions on this slot: the request's content */
	uint32_t base;       /* bulk --read: stream offset of this connection */
	uint64_t got;        /* bulk --read: bytes read on this connection */
	uint64_t t_start;    /* connect (crr, connecting) or request start (rr) */
	uint64_t deadline;   /* 0: none */
	uint64_t retry_at;   /* S_IDLE: not before */
	uint64_t acked0;     /* bulk: tcpi_bytes_acked when measuring began */
	bool measured;       /* bulk: acked0 is set */
	bool corrupt;        /* bulk --read: the stream did not match */
};

/* Latency histogram: log-linear, 64 sub-buckets per power of two (1.6%). */
#define H_SUB 64
#define H_BUCKETS (64 * H_SUB)
struct hist {
	uint64_t n, sum, max;
	uint64_t b[H_BUCKETS];
};

static unsigned h_index(uint64_t v)
{
	if (v < H_SUB)
		return (unsigned)v;
	unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= 6 */
	return (e - 5u) * H_SUB + (unsigned)((v >> (e - 6u)) & (H_SUB - 1));
}

static uint64_t h_value(unsigned i)
{
	if (i < H_SUB)
		return i;
	unsigned e = i / H_SUB + 5u, sub = i % H_SUB;
	return ((uint64_t)(H_SUB + sub) << (e - 6u)) + ((1ull << (e - 6u)) >> 1); /* midpoint */
}

static void h_add(struct hist *h, uint64_t v)
{
	h->n++;
	h->sum += v;
	if (v > h->max)
		h->max = v;
	h->b[h_index(v)]++;
}

static uint64_t h_quantile(const struct hist *h, double q)
{
	if (!h->n)
		return 0;
	uint64_t rank = (uint64_t)ceil(q * (double)h->n), seen = 0;
	if (rank < 1)
		rank = 1;
	for (unsigned i = 0; i < H_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank)
			return h_value(i) < h->max ? h_value(i) : h->max;
	}
	return h->max;
}

struct load {
	enum test test;
	bool read, linger0;
	struct sockaddr_in to;
	uint32_t conns, size;
	uint64_t timeout_ns;
	uint64_t t_meas, t_end;
	int ep;
	struct slot *s;
	/* Results (only what happened in the measured time). */
	uint64_t transactions, bytes, bytes_acked, streams;
	uint64_t connects, connected, refused, resets, timeouts, errors, bad_echo, corrupt;
	struct hist lat;
	uint8_t *req, *rbuf, *pattern;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int usage(void)
{
	fprintf(stderr,
		"usage: " PROG " --to A.B.C.D:PORT --test bulk|rr|crr --conns K --seconds S\n"
		"       [--size N] [--read] [--warmup S] [--timeout MS] [--linger0] [--cpu N]\n");
	return 2;
}

/* The byte at offset j of request number seq on slot i: echoes are checked. */
static uint8_t req_byte(uint32_t i, uint32_t seq, uint32_t j)
{
	return (uint8_t)(seq * 131u + j * 7u + i * 17u + (j >> 8));
}

static int watch(struct load *L, int fd, int op, uint32_t events, uint32_t i)
{
	struct epoll_event ev = {.events = events, .data.u32 = i};
	return epoll_ctl(L->ep, op, fd, &ev);
}

static uint64_t bytes_acked(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 ||
	    len < offsetof(struct tcp_info, tcpi_bytes_acked) + sizeof(ti.tcpi_bytes_acked))
		return 0;
	return ti.tcpi_bytes_acked;
}

static void count_error(struct load *L, int err, uint64_t now)
{
	if (now < L->t_meas)
		return;
	if (err == ECONNREFUSED)
		L->refused++;
	else if (err == ECONNRESET || err == EPIPE)
		L->resets++;
	else if (err == ETIMEDOUT)
		L->timeouts++;
	else
		L->errors++;
}

/* Close slot i; err != 0: it failed (counted, retried after RETRY_NS). */
static void slot_close(struct load *L, uint32_t i, int err, uint64_t now)
{
	struct slot *s = &L->s[i];
	if (s->fd < 0)
		return;
	if (L->test == T_BULK && !L->read && s->measured)
		L->bytes_acked += bytes_acked(s->fd) - s->acked0;
	if (L->test == T_BULK && L->read && s->corrupt && now >= L->t_meas)
		L->corrupt++;
	if (L->linger0 || err) {
		struct linger lg = {.l_onoff = 1, .l_linger = 0};
		setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	close(s->fd); /* also leaves the epoll set */
	s->fd = -1;
	s->st = S_IDLE;
	s->deadline = 0;
	s->retry_at = err ? now + RETRY_NS : 0;
	if (err)
		count_error(L, err, now);
}

static void slot_open(struct load *L, uint32_t i, uint64_t now)
{
	struct slot *s = &L->s[i];
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (now >= L->t_meas)
		L->connects++;
	if (fd < 0) {
		count_error(L, errno, now);
		s->retry_at = now + RETRY_NS;
		return;
	}
	int one = 1;
	if (L->test != T_BULK)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	s->fd = fd;
	s->st = S_CONNECTING;
	s->t_start = now;
	s->deadline = now + L->timeout_ns;
	s->off = 0;
	s->got = 0;
	s->corrupt = false;
	s->measured = false;
	if ((connect(fd, (struct sockaddr *)&L->to, sizeof(L->to)) < 0 && errno != EINPROGRESS) ||
	    watch(L, fd, EPOLL_CTL_ADD, EPOLLOUT, i) < 0) {
		slot_close(L, i, errno, now);
		return;
	}
}

static void start_request(struct load *L, uint32_t i, uint64_t now);

static void connected(struct load *L, uint32_t i, uint64_t now)
{
	struct slot *s = &L->s[i];
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		slot_close(L, i, err, now);
		return;
	}
	if (now >= L->t_meas)
		L->connected++;
	s->deadline = 0;
	if (L->test == T_BULK) {
		s->st = S_STREAM;
		if (now >= L->t_meas) {
			s->acked0 = bytes_acked(s->fd);
			s->measured = true;
		}
		if (L->read) {
			struct sockaddr_in me;
			socklen_t ml = sizeof(me);
			getsockname(s->fd, (struct sockaddr *)&me, &ml);
			s->base = tcp_stream_base(ntohs(me.sin_port));
			if (watch(L, s->fd, EPOLL_CTL_MOD, EPOLLIN, i) < 0)
				slot_close(L, i, errno, now);
		}
		return;
	}
	start_request(L, i, now);
}

static void do_send(struct load *L, uint32_t i, uint64_t now)
{
	struct slot *s = &L->s[i];
	while (s->off < L->size) {
		for (uint32_t j = s->off; j < L->size; j++)
			L->req[j] = req_byte(i, s->seq, j);
		ssize_t w = send(s->fd, L->req + s->off, L->size - s->off, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EAGAIN) {
				watch(L, s->fd, EPOLL_CTL_MOD, EPOLLOUT, i);
				return;
			}
			slot_close(L, i, errno, now);
			return;
		}
		s->off += (uint32_t)w;
	}
	s->st = S_RECV;
	s->off = 0;
	if (watch(L, s->fd, EPOLL_CTL_MOD, EPOLLIN, i) < 0)
		slot_close(L, i, errno, now);
}

static void start_request(struct load *L, uint32_t i, uint64_t now)
{
	struct slot *s = &L->s[i];
	s->st = S_SEND;
	s->off = 0;
	s->seq++;
	if (L->test == T_RR)
		s->t_start = now; /* crr: from the connect */
	s->deadline = now + L->timeout_ns;
	do_send(L, i, now);
}

static void do_recv(struct load *L, uint32_t i, uint64_t now)
{
	struct slot *s = &L->s[i];
	while (s->off < L->size) {
		ssize_t r = recv(s->fd, L->rbuf, L->size - s->off, 0);
		if (r < 0) {
			if (errno != EAGAIN)
				slot_close(L, i, errno, now);
			return;
		}
		if (r == 0) { /* the server closed mid-transaction */
			slot_close(L, i, ECONNRESET, now);
			return;
		}
		for (ssize_t j = 0; j < r; j++)
			if (L->rbuf[j] != req_byte(i, s->seq, s->off + (uint32_t)j)) {
				if (now >= L->t_meas)
					L->bad_echo++;
				slot_close(L, i, 0, now);
				s->retry_at = now + RETRY_NS;
				return;
			}
		s->off += (uint32_t)r;
	}
	if (now >= L->t_meas && now <= L->t_end) {
		L->transactions++;
		h_add(&L->lat, now - s->t_start);
	}
	if (L->test == T_RR) {
		start_request(L, i, now);
	} else {
		slot_close(L, i, 0, now);
		slot_open(L, i, now);
	}
}

static void do_bulk_write(struct load *L, uint32_t i, uint64_t now)
{
	struct slot *s = &L->s[i];
	for (int k = 0; k < 16; k++) {
		ssize_t w = send(s->fd, L->req, BULK_CHUNK, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno != EAGAIN)
				slot_close(L, i, errno, now);
			return;
		}
		if (now >= L->t_meas)
			L->bytes += (uint64_t)w;
	}
}

static void do_bulk_read(struct load *L, uint32_t i, uint64_t now)
{
	struct slot *s = &L->s[i];
	for (int k = 0; k < 16; k++) {
		ssize_t r = recv(s->fd, L->rbuf, BULK_CHUNK, 0);
		if (r < 0) {
			if (errno != EAGAIN)
				slot_close(L, i, errno, now);
			return;
		}
		if (r == 0) { /* a source with --bytes: the stream is done */
			if (now >= L->t_meas)
				L->streams++;
			slot_close(L, i, 0, now);
			slot_open(L, i, now);
			return;
		}
		uint32_t at = (uint32_t)((s->base + s->got) % TCP_STREAM_P);
		for (uint32_t done = 0; done < (uint32_t)r && !s->corrupt;) {
			uint32_t n = (uint32_t)r - done;
			if (n > TCP_STREAM_P)
				n = TCP_STREAM_P;
			if (memcmp(L->rbuf + done, L->pattern + at, n))
				s->corrupt = true;
			done += n;
			at = (at + n) % TCP_STREAM_P;
		}
		s->got += (uint64_t)r;
		if (now >= L->t_meas)
			L->bytes += (uint64_t)r;
	}
}

static void on_event(struct load *L, uint32_t i, uint32_t ev, uint64_t now)
{
	struct slot *s = &L->s[i];
	if (s->fd < 0)
		return;
	switch (s->st) {
	case S_CONNECTING:
		connected(L, i, now);
		break;
	case S_SEND:
		do_send(L, i, now);
		break;
	case S_RECV:
		do_recv(L, i, now);
		break;
	case S_STREAM:
		if (L->read)
			do_bulk_read(L, i, now);
		else if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			do_bulk_write(L, i, now);
		break;
	}
}

static bool parse_to(const char *arg, struct sockaddr_in *to)
{
	char host[64];
	const char *colon = strrchr(arg, ':');
	if (!colon || (size_t)(colon - arg) >= sizeof(host))
		return false;
	memcpy(host, arg, (size_t)(colon - arg));
	host[colon - arg] = 0;
	char *end;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (*end || !port || port > 65535)
		return false;
	memset(to, 0, sizeof(*to));
	to->sin_family = AF_INET;
	to->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &to->sin_addr) == 1;
}

static bool parse_num(const char *s, double lo, double hi, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= lo && v <= hi))
		return false;
	*out = v;
	return true;
}

int main(int argc, char **argv)
{
	static struct load load;
	struct load *L = &load;
	double secs = -1, warmup = 0, conns = 0, size = 64, timeout_ms = 2000, cpu = -1;
	bool have_to = false, have_test = false;
	static const struct option opts[] = {
		{"to", required_argument, NULL, 't'},      {"test", required_argument, NULL, 'T'},
		{"conns", required_argument, NULL, 'k'},   {"seconds", required_argument, NULL, 's'},
		{"size", required_argument, NULL, 'z'},    {"read", no_argument, NULL, 'r'},
		{"warmup", required_argument, NULL, 'w'},  {"timeout", required_argument, NULL, 'o'},
		{"linger0", no_argument, NULL, 'l'},       {"cpu", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		bool ok = true;
		switch (o) {
		case 't': ok = have_to = parse_to(optarg, &L->to); break;
		case 'T': {
			int t = tcp_tools_pick(optarg, test_names, 3);
			ok = have_test = t >= 0;
			L->test = (enum test)(t >= 0 ? t : 0);
			break;
		}
		case 'k': ok = parse_num(optarg, 1, 1 << 20, &conns) && conns == floor(conns); break;
		case 's': ok = parse_num(optarg, 0.001, 86400, &secs); break;
		case 'z': ok = parse_num(optarg, 1, MAX_SIZE, &size) && size == floor(size); break;
		case 'r': L->read = true; break;
		case 'w': ok = parse_num(optarg, 0, 3600, &warmup); break;
		case 'o': ok = parse_num(optarg, 1, 3600000, &timeout_ms); break;
		case 'l': L->linger0 = true; break;
		case 'c': ok = parse_num(optarg, 0, CPU_SETSIZE - 1, &cpu) && cpu == floor(cpu); break;
		default: ok = false; break;
		}
		if (!ok)
			return usage();
	}
	if (!have_to || !have_test || !conns || secs < 0 || optind != argc)
		return usage();
	if (L->read && L->test != T_BULK) {
		fprintf(stderr, PROG ": --read is for --test bulk\n");
		return 2;
	}
	L->conns = (uint32_t)conns;
	L->size = (uint32_t)size;
	L->timeout_ns = (uint64_t)(timeout_ms * 1e6);
	if (cpu >= 0 && tcp_tools_pin(PROG, (int)cpu) < 0)
		return 1;
	/* Room for K sockets and some. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max &&
	    rl.rlim_cur < (rlim_t)L->conns + 64) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	L->s = calloc(L->conns, sizeof(*L->s));
	L->req = malloc(L->size > BULK_CHUNK ? L->size : BULK_CHUNK);
	L->rbuf = malloc(L->size > BULK_CHUNK ? L->size : BULK_CHUNK);
	L->pattern = malloc(2 * TCP_STREAM_P); /* twice: any window up to P is a slice */
	L->ep = epoll_create1(EPOLL_CLOEXEC);
	if (!L->s || !L->req || !L->rbuf || !L->pattern || L->ep < 0) {
		fprintf(stderr, PROG ": out of memory\n");
		return 1;
	}
	tcp_stream_fill(L->pattern);
	for (uint32_t j = 0; j < BULK_CHUNK && L->test == T_BULK; j++)
		L->req[j] = L->pattern[j % TCP_STREAM_P];

	uint64_t t0 = now_ns();
	L->t_meas = t0 + (uint64_t)(warmup * 1e9);
	L->t_end = L->t_meas + (uint64_t)(secs * 1e9);
	for (uint32_t i = 0; i < L->conns; i++) {
		L->s[i].fd = -1;
		slot_open(L, i, t0);
	}
	struct epoll_event evs[MAX_EVENTS];
	bool measuring = t0 >= L->t_meas;
	uint64_t last_scan = t0;
	for (;;) {
		uint64_t now = now_ns();
		if (now >= L->t_end)
			break;
		if (!measuring && now >= L->t_meas) {
			/* Bulk goodput counts from here. */
			measuring = true;
			for (uint32_t i = 0; i < L->conns; i++)
				if (L->s[i].fd >= 0 && L->s[i].st == S_STREAM) {
					L->s[i].acked0 = bytes_acked(L->s[i].fd);
					L->s[i].measured = true;
				}
		}
		int left_ms = (int)((L->t_end - now + 999999) / 1000000);
		int n = epoll_wait(L->ep, evs, MAX_EVENTS, left_ms < TICK_MS ? left_ms : TICK_MS);
		now = now_ns();
		for (int k = 0; k < n; k++)
			on_event(L, evs[k].data.u32, evs[k].events, now);
		if (now - last_scan >= TICK_MS * 1000000ull) {
			last_scan = now;
			for (uint32_t i = 0; i < L->conns; i++) {
				struct slot *s = &L->s[i];
				if (s->fd >= 0 && s->deadline && now >= s->deadline)
					slot_close(L, i, ETIMEDOUT, now);
				if (s->fd < 0 && now >= s->retry_at && now < L->t_end)
					slot_open(L, i, now);
			}
		}
	}
	uint64_t t_stop = now_ns();
	for (uint32_t i = 0; i < L->conns; i++)
		slot_close(L, i, 0, t_stop);
	double elapsed = (double)(t_stop - L->t_meas) / 1e9;
	if (elapsed <= 0)
		elapsed = 1e-9;

	char ip[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &L->to.sin_addr, ip, sizeof(ip));
	printf("{\"test\":\"%s\",\"to\":\"%s:%u\",\"conns\":%u,\"size\":%u,\"seconds\":%.3f",
	       test_names[L->test], ip, ntohs(L->to.sin_port), L->conns, L->size, elapsed);
	if (L->test == T_BULK && !L->read) {
		printf(",\"direction\":\"write\",\"bytes_written\":%llu,\"bytes_acked\":%llu,"
		       "\"gbit_s\":%.4f",
		       (unsigned long long)L->bytes, (unsigned long long)L->bytes_acked,
		       (double)L->bytes_acked * 8 / elapsed / 1e9);
	} else if (L->test == T_BULK) {
		printf(",\"direction\":\"read\",\"bytes_read\":%llu,\"gbit_s\":%.4f,\"streams\":%llu,"
		       "\"corrupt\":%llu",
		       (unsigned long long)L->bytes, (double)L->bytes * 8 / elapsed / 1e9,
		       (unsigned long long)L->streams, (unsigned long long)L->corrupt);
	} else {
		printf(",\"transactions\":%llu,\"per_s\":%.1f,\"lat_us_mean\":%.2f,\"lat_us_p50\":%.2f,"
		       "\"lat_us_p99\":%.2f,\"lat_us_max\":%.2f,\"bad_echo\":%llu",
		       (unsigned long long)L->transactions, (double)L->transactions / elapsed,
		       L->lat.n ? (double)L->lat.sum / (double)L->lat.n / 1e3 : 0.0,
		       (double)h_quantile(&L->lat, 0.50) / 1e3, (double)h_quantile(&L->lat, 0.99) / 1e3,
		       (double)L->lat.max / 1e3, (unsigned long long)L->bad_echo);
	}
	printf(",\"connects\":%llu,\"connected\":%llu,\"refused\":%llu,\"resets\":%llu,"
	       "\"timeouts\":%llu,\"errors\":%llu}\n",
	       (unsigned long long)L->connects, (unsigned long long)L->connected,
	       (unsigned long long)L->refused, (unsigned long long)L->resets,
	       (unsigned long long)L->timeouts, (unsigned long long)L->errors);
	fflush(stdout);
	return 0;
}
