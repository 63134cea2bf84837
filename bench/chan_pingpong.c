/* SPDX-License-Identifier: MIT */
/*
 * bh-chan-pingpong: what one request costs the isolated design in wake-ups
 * alone. A parent (the TCP NF's part) and K worker processes, each with a
 * channel of its own (lib/iso), all on one CPU; the parent writes a message
 * of SIZE bytes into every channel, and each worker, asleep on its doorbell
 * (iso_chan_wait), wakes, reads it and writes it back, then sleeps again.
 * The parent polls the channels as the NF polls the workers it waits on,
 * sends the next message on a channel as soon as the answer is back, and
 * yields the CPU (sched_yield) after a pass that found nothing, as the NF
 * does; workers run SCHED_BATCH, as the zygote starts them. Nothing else:
 * no parsing, no packets, no TCP.
 *
 *   bh-chan-pingpong [--cpu N (the first allowed)] [--workers K (32)]
 *                    [--size BYTES (64)] [--secs S (2)] [--warmup S (0.3)]
 *
 * Prints one line: "chan_pingpong: cpu=N workers=K size=S secs=.. msgs=..
 * per_s=.. us_per_msg=.. wakes_per_msg=.. waits_per_msg=.." where a message
 * is one round trip parent -> worker -> parent (one request's worth), and
 * the wakes and waits are the parent's FUTEX_WAKE calls and the workers'
 * FUTEX_WAIT calls (the workers' counters, sent back when they stop).
 */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bulkhead/iso.h"

#define MAX_WORKERS 1024
#define MAX_SIZE 4096

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "chan_pingpong: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* A worker: echo every message until end of stream, then send its count of
 * FUTEX_WAIT calls on the status pipe. */
static void worker(int memfd, size_t size, int status_wr)
{
	struct iso_chan *ch = iso_chan_attach(memfd, ISO_SIDE_WORKER);
	if (!ch)
		_exit(2);
	uint8_t buf[MAX_SIZE];
	size_t have = 0;
	for (;;) {
		ssize_t r = iso_chan_read(ch, buf + have, size - have);
		if (r == 0)
			break;
		if (r == -EAGAIN) {
			if (iso_chan_wait(ch, ISO_CHAN_IN, -1) < 0)
				_exit(3);
			continue;
		}
		if (r < 0)
			_exit(3);
		have += (size_t)r;
		if (have < size)
			continue;
		have = 0;
		if (iso_chan_write(ch, buf, size) != (ssize_t)size) /* the ring holds it */
			_exit(4);
	}
	struct iso_chan_stats st;
	iso_chan_stats(ch, &st);
	if (write(status_wr, &st.waits, sizeof(st.waits)) != sizeof(st.waits))
		_exit(5);
	_exit(0);
}

int main(int argc, char **argv)
{
	int cpu = -1, k = 32;
	size_t size = 64;
	double secs = 2, warmup = 0.3;
	static const struct option opts[] = {
		{"cpu", required_argument, NULL, 'c'},	 {"workers", required_argument, NULL, 'w'},
		{"size", required_argument, NULL, 's'},	 {"secs", required_argument, NULL, 't'},
		{"warmup", required_argument, NULL, 'u'}, {NULL, 0, NULL, 0}};
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'c': cpu = atoi(optarg); break;
		case 'w': k = atoi(optarg); break;
		case 's': size = (size_t)strtoul(optarg, NULL, 0); break;
		case 't': secs = atof(optarg); break;
		case 'u': warmup = atof(optarg); break;
		default:
			fprintf(stderr, "usage: bh-chan-pingpong [--cpu N] [--workers K] [--size BYTES] "
					"[--secs S] [--warmup S]\n");
			return 2;
		}
	}
	if (k < 1 || k > MAX_WORKERS || size < 1 || size > MAX_SIZE || secs <= 0 || warmup < 0) {
		fprintf(stderr, "chan_pingpong: workers 1..%d, size 1..%d, secs > 0\n", MAX_WORKERS,
			MAX_SIZE);
		return 2;
	}
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		die("sched_getaffinity");
	if (cpu < 0)
		for (cpu = 0; cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &set); cpu++)
			;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0) /* the workers inherit it */
		die("sched_setaffinity");

	int status[2];
	if (pipe(status) < 0)
		die("pipe");
	struct iso_chan *ch[MAX_WORKERS];
	pid_t pid[MAX_WORKERS];
	for (int i = 0; i < k; i++) {
		int memfd;
		ch[i] = iso_chan_create(0, 0, &memfd);
		if (!ch[i])
			die("iso_chan_create");
		pid[i] = fork();
		if (pid[i] < 0)
			die("fork");
		if (pid[i] == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			struct sched_param sp = {0};
			if (sched_setscheduler(0, SCHED_BATCH, &sp) < 0)
				_exit(6);
			close(status[0]);
			worker(memfd, size, status[1]);
		}
		close(memfd);
	}
	close(status[1]);

	uint8_t msg[MAX_SIZE], back[MAX_SIZE];
	memset(msg, 'x', size);
	size_t got[MAX_WORKERS] = {0};
	for (int i = 0; i < k; i++)
		if (iso_chan_write(ch[i], msg, size) != (ssize_t)size)
			die("first write");
	uint64_t msgs = 0, wakes0 = 0, msgs0 = 0;
	double t0 = now_s(), start = 0, end = t0 + warmup + secs;
	for (;;) {
		int moved = 0;
		for (int i = 0; i < k; i++) {
			ssize_t r = iso_chan_read(ch[i], back, size - got[i]);
			if (r == -EAGAIN)
				continue;
			if (r <= 0) {
				errno = r ? (int)-r : EPIPE;
				die("read");
			}
			moved = 1;
			got[i] += (size_t)r;
			if (got[i] < size)
				continue;
			got[i] = 0;
			msgs++;
			if (iso_chan_write(ch[i], msg, size) != (ssize_t)size)
				die("write");
		}
		if (!moved) {
			double t = now_s();
			if (!start && t >= t0 + warmup) {
				start = t;
				msgs0 = msgs;
				for (int i = 0; i < k; i++) {
					struct iso_chan_stats st;
					iso_chan_stats(ch[i], &st);
					wakes0 += st.wakes;
				}
			}
			if (t >= end)
				break;
			sched_yield();
		}
	}
	double t1 = now_s();
	uint64_t wakes = 0, waits = 0;
	for (int i = 0; i < k; i++) {
		struct iso_chan_stats st;
		iso_chan_stats(ch[i], &st);
		wakes += st.wakes;
		iso_chan_shutdown(ch[i]);
	}
	for (int i = 0; i < k; i++) {
		uint64_t w;
		if (read(status[0], &w, sizeof(w)) == sizeof(w))
			waits += w;
	}
	int bad = 0;
	for (int i = 0; i < k; i++) {
		int st;
		if (waitpid(pid[i], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
			bad++;
		iso_chan_close(ch[i]);
	}
	if (bad || !start) {
		fprintf(stderr, "chan_pingpong: FAILED: %d worker(s) did not end well%s\n", bad,
			start ? "" : ", the warm-up never ended");
		return 1;
	}
	uint64_t n = msgs - msgs0;
	double s = t1 - start;
	/* the workers' waits are whole-run counts: scale them by the share of messages measured */
	printf("chan_pingpong: cpu=%d workers=%d size=%zu secs=%.2f msgs=%llu per_s=%.0f "
	       "us_per_msg=%.3f wakes_per_msg=%.2f waits_per_msg=%.2f\n",
	       cpu, k, size, s, (unsigned long long)n, n / s, s * 1e6 / (double)(n ? n : 1),
	       (double)(wakes - wakes0) / (double)(n ? n : 1),
	       (double)waits / (double)(msgs ? msgs : 1));
	return 0;
}
