/* SPDX-License-Identifier: MIT */
/*
 * tcp_nf: runs one instance of the TCP stack (bulkhead/tcp.h) inside an NF.
 *
 * The glue owns the NF loop: every frame the NF receives goes to the stack
 * (bh_tcp_input) and is then freed with the CONSUME verdict (counted as
 * `consumed`, not as a drop); every frame the stack sends is copied into a
 * packet from the shared pool and leaves through a port (or along a chain).
 * Between packets it runs the stack's timers and the application's step(),
 * and tells nflib when the next timer is due, so an idle NF sleeps on its
 * doorbell instead of polling.
 *
 * An application (nfs/tcp-echo, nfs/tcp-sink, nfs/tcp-source) is a struct
 * bh_tcp_app and a main() that calls bh_tcp_nf_main(). Command line:
 *
 *   bh-NAME [nflib options] -- --ip A.B.C.D/LEN [stack options] [app options]
 *
 * The stack options (docs/tcp.md, "Configuration"), taken wherever they
 * appear after the "--":
 *   --ip A.B.C.D/LEN     the stack's address and subnet (required)
 *   --gw A.B.C.D         next hop for other destinations (in the subnet)
 *   --port NAME          the platform port the stack lives on [the port the
 *                        latest packet arrived on; port 0 until one arrives]
 *   --chain NAME         send frames along this chain instead of straight out
 *                        of the port (to put NFs such as impair on the way out)
 *   --mac XX:XX:XX:XX:XX:XX  [02:00 followed by the four bytes of the address]
 *   --mtu N              [1500]          --max-conns N   [16384]
 *   --sndbuf BYTES --rcvbuf BYTES        [256k each; k, m suffixes]
 *   --sndbuf-max BYTES --rcvbuf-max BYTES  auto-tuning's ceiling [4m each; at
 *                        or below --sndbuf / --rcvbuf: no auto-tuning]
 *   --max-mem BYTES      cap on all socket buffers together [none]
 *   --cc newreno|cubic   [cubic]
 *   --no-sack --no-ts --no-ws --no-syncookies
 *   --rto-min-ms N  --delack-ms N  --msl-s N  --keepalive IDLE,INTVL,CNT
 * Every other argument goes, in order, to the application's init(). A bad
 * value stops the program before it attaches, with one line naming the option
 * and exit status 2.
 *
 * Application counters: the NF publishes (bh_nf_app_counters) the stack's
 * counters under their own names (bh_tcp_counters), the glue's own under
 * "nf." (rx_frames, tx_frames, tx_nobuf: frames lost because the packet pool
 * was empty, ...), the gauges "tcp.fds" and "tcp.conns", then the
 * application's counters. They are refreshed at most every 100 ms while
 * anything happens, and once more after it stops.
 *
 * Threads: everything runs on the NF's one thread; the callbacks are called
 * from bh_tcp_nf_main() only.
 */
#ifndef BULKHEAD_TCP_NF_H
#define BULKHEAD_TCP_NF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bulkhead/tcp.h"

struct bh_tcp_app {
	const char *prog;    /* program name for messages: "bh-tcp-echo" (required) */
	const char *service; /* default service name (-s overrides) (required) */
	const char *usage;   /* the application's options for --help, or NULL */

	/* The application's counters, published after the stack's: names
	 * (copied, at most 47 bytes) and the n_counters values the application
	 * updates in place (read on the NF's thread between callbacks). */
	const char *const *counter_names;
	const uint64_t *counter_values;
	unsigned n_counters;

	/*
	 * Required. Called once, with argv[0] the program name and the
	 * arguments the stack did not take, after the stack exists and BEFORE
	 * the NF attaches: parse options, create listening sockets. Nothing can
	 * be sent yet (a frame sent now is lost and counted as nf.tx_detached),
	 * so open outward connections from step(). Returns 0, or -EINVAL after
	 * printing one line naming the bad option (exit status 2), or another
	 * -errno after printing why (exit status 1).
	 */
	int (*init)(struct bh_tcp *t, int argc, char **argv, void *ctx);

	/*
	 * Optional: the application isolates its clients and takes its
	 * service's isolation policy from the manager's configuration
	 * (bulkhead/iso.h, "Service policy"). Called before init(), for each
	 * "OPTION VALUE" line of the file the manager left for the service, if
	 * there is one; init()'s options then override. Returns 0, or -EINVAL
	 * with one line in err (exit status 2). An NF without it is refused by
	 * a manager that has a policy for its service.
	 */
	int (*policy)(void *ctx, const char *opt, const char *val, char *err, size_t errlen);

	/*
	 * Required. Called on every turn of the NF loop once attached, after
	 * received frames went through the stack and due timers ran: take
	 * events (bh_epoll_wait), read, write, accept, connect. Never blocks.
	 * Returns how much work it did (0: nothing was ready). Returning > 0
	 * when nothing happened keeps the NF from sleeping.
	 */
	int (*step)(struct bh_tcp *t, void *ctx);

	/*
	 * Optional: when (monotonic ns, the clock of bh_now_ns) the application
	 * wants step() called again even if nothing arrives, for its own
	 * timeouts; UINT64_MAX for never. Asked after every step(); the NF
	 * sleeps until the earliest of this and the stack's timers.
	 */
	uint64_t (*wake)(struct bh_tcp *t, void *ctx);

	/*
	 * Optional: called on every turn once a stop was requested (SIGTERM,
	 * the manager's STOP); the NF exits when it returns 0 (a second stop
	 * request ends it regardless). Without it the NF exits at once.
	 */
	int (*stop)(struct bh_tcp *t, void *ctx);

	/* Optional: called after the loop ended, before the stack is freed
	 * (a summary on stdout, freeing the application's memory). */
	void (*fini)(struct bh_tcp *t, void *ctx);
};

/*
 * The whole program: parse the command line, create the stack, init() the
 * application, attach to the manager, announce the address (gratuitous ARP),
 * run the loop until stopped, detach. Returns the exit status for main():
 * 0, 1 (could not attach, the manager went away, out of memory) or 2 (bad
 * command line).
 */
int bh_tcp_nf_main(int argc, char **argv, const struct bh_tcp_app *app, void *ctx);

/* ---------------------------------------------------------------------- */
/* Helpers for applications */

/*
 * Descriptors that wake the NF. The loop sleeps on its doorbell, which only
 * producers of packets and messages ring; an application that also waits for
 * descriptors other processes make readable (a pipe or eventfd workers
 * write, a socket) registers them here. A thread of the glue waits on them with an
 * edge-triggered epoll and rings the doorbell when one becomes readable; it
 * never reads them. bh_tcp_nf_woken() then tells step() (test and clear)
 * that one did since the last look, and the application looks at its own
 * descriptors. Callable from init() on (before the NF attaches a wake-up is
 * only remembered). The thread starts with the first bh_tcp_nf_wake_add().
 * Returns 0 or -errno.
 */
int bh_tcp_nf_wake_add(int fd);
bool bh_tcp_nf_woken(void);

/* CLOCK_MONOTONIC in ns as the glue read it just before calling step(): for
 * step() and what it calls, one clock read a turn instead of one each. */
uint64_t bh_tcp_nf_now(void);

/*
 * A listening socket on INADDR_ANY:port, registered with epfd for EPOLLIN
 * (level-triggered, data.fd = the socket). Returns the descriptor, or -errno
 * after printing one line starting with prog.
 */
int bh_tcp_nf_listen(struct bh_tcp *t, int epfd, uint16_t port, int backlog, const char *prog);

/*
 * Make *tab (an array of *n elements of elem bytes, indexed by descriptor)
 * hold index fd: grows it (doubling, new elements zeroed). 0 or -ENOMEM (the
 * table is unchanged).
 */
int bh_tcp_nf_table(void **tab, uint32_t *n, size_t elem, int fd);

/*
 * An option's integer value in [lo, hi]; with sized, a k, m or g suffix
 * multiplies by 1024, 1024^2, 1024^3. Returns 0, or -EINVAL after printing
 * "prog: --opt: expected lo..hi, not 'val'".
 */
int bh_tcp_nf_num(const char *prog, const char *opt, const char *val, uint64_t lo, uint64_t hi,
		  bool sized, uint64_t *out);

#endif
