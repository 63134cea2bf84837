/* SPDX-License-Identifier: MIT */
/*
 * The isolation runtime (DESIGN.md §4): what the trusted TCP NF and an
 * untrusted worker process share, and how the worker is confined.
 * docs/isolation.md describes the layout, the protocol and the trust rules.
 *
 * No DPDK: workers link this library and are never DPDK processes.
 */
#ifndef BULKHEAD_ISO_H
#define BULKHEAD_ISO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ====================================================================== */
/* Channel                                                                */
/* ====================================================================== */
/*
 * One channel per worker: a sealed memfd holding two single-producer /
 * single-consumer byte rings, ISO_TO_WORKER (the client's bytes) and
 * ISO_FROM_WORKER (the response), an end-of-stream flag per direction, and
 * one futex doorbell per side so an idle side sleeps in the kernel.
 *
 * Trust: the trusted side (the handle iso_chan_create() returns, or one
 * attached with ISO_SIDE_TRUSTED) treats every byte of the shared mapping as
 * hostile. It keeps its own indices and the ring sizes in private memory,
 * bounds every index it reads from the mapping, and never reads or writes
 * outside the mapping whatever the worker writes there; a worker that
 * corrupts an index gets -EPROTO from then on (the handle is "broken"), a
 * worker that scribbles on the data gets garbage relayed, nothing more.
 *
 * Threads: a handle is used by one thread at a time. The two sides are
 * normally two processes; each side is single-producer on its outgoing ring
 * and single-consumer on its incoming one.
 *
 * Fast path: iso_chan_write() and iso_chan_read() make no system call
 * unless the peer has marked itself sleeping in iso_chan_wait(); then they
 * wake it with one FUTEX_WAKE (shared, not PRIVATE: the peer is another
 * process mapping the same memfd).
 */

enum iso_side {
	ISO_SIDE_TRUSTED = 0, /* writes ISO_TO_WORKER, reads ISO_FROM_WORKER */
	ISO_SIDE_WORKER = 1,  /* writes ISO_FROM_WORKER, reads ISO_TO_WORKER */
};

/* Ring sizes: powers of two, multiples of the page size, in this range. */
#define ISO_CHAN_RING_MIN 4096u
#define ISO_CHAN_RING_MAX (64u << 20)

/* Events for iso_chan_wait(). */
#define ISO_CHAN_IN  0x1u /* bytes to read, or the peer's end of stream */
#define ISO_CHAN_OUT 0x2u /* room to write */

struct iso_chan; /* opaque handle: a mapping plus this side's private state */

/* What this handle did, for counters and tests; private to the handle. */
struct iso_chan_stats {
	uint64_t wakes; /* FUTEX_WAKE calls made (the peer was sleeping) */
	uint64_t waits; /* FUTEX_WAIT calls made (this side slept) */
};

/*
 * Creates a channel: a memfd (MFD_ALLOW_SEALING | MFD_CLOEXEC) of the exact
 * size for the two rings, initialised, then sealed with F_SEAL_SHRINK |
 * F_SEAL_GROW | F_SEAL_SEAL, and mapped. Ring sizes as above; 0 selects
 * 64 KiB. Returns the trusted side's handle and stores the memfd in *memfd;
 * the caller owns the memfd (hand it to the worker, then close it: the
 * mapping does not need it). NULL with errno set on failure (EINVAL for a
 * bad size), and nothing left open.
 */
struct iso_chan *iso_chan_create(uint32_t to_worker_bytes, uint32_t from_worker_bytes,
				 int *memfd);

/*
 * Maps a channel from a descriptor another process created, as `side`
 * (normally a worker: ISO_SIDE_WORKER). Refuses, with NULL and errno
 * EINVAL, anything that is not a channel this library created: a
 * descriptor without the three seals (so its size could change under the
 * mapping), a size that is not exactly the one the header's ring sizes
 * give, a bad magic, version or ring size. Does not take ownership of fd:
 * the caller may close it right after. The header is read once, into
 * private memory, before anything depends on it.
 */
struct iso_chan *iso_chan_attach(int fd, enum iso_side side);

/* Unmaps and frees the handle (NULL is a no-op). Does not mark end of
 * stream (call iso_chan_shutdown() first for an orderly end) and does not
 * close any descriptor. */
void iso_chan_close(struct iso_chan *ch);

/*
 * Copies up to n bytes into this side's outgoing ring. Returns the number
 * taken (0 when the ring is full), -EPIPE after iso_chan_shutdown(), or
 * -EPROTO if the channel is broken (the peer corrupted an index).
 */
ssize_t iso_chan_write(struct iso_chan *ch, const void *buf, size_t n);

/*
 * Copies up to n (> 0) bytes out of this side's incoming ring. Returns the
 * number copied (> 0), 0 at end of stream (the peer shut down and every
 * byte before that was read), -EAGAIN when nothing is there yet, -EINVAL
 * for n == 0 with bytes waiting, or -EPROTO if the channel is broken.
 */
ssize_t iso_chan_read(struct iso_chan *ch, void *buf, size_t n);

/* Bytes waiting in the incoming ring / room in the outgoing ring, or
 * -EPROTO if the channel is broken. Both are at most the ring's size. */
ssize_t iso_chan_readable(struct iso_chan *ch);
ssize_t iso_chan_writable(struct iso_chan *ch);

/* This side will write no more: sets its end-of-stream flag (after the
 * bytes already written) and wakes the peer if it sleeps. Returns 0, or
 * -EPROTO if the channel is broken. Idempotent. */
int iso_chan_shutdown(struct iso_chan *ch);

/* True once the peer has shut down its direction (there may still be
 * bytes to read before iso_chan_read() returns 0). */
bool iso_chan_peer_done(struct iso_chan *ch);

/*
 * Waits until one of `events` (ISO_CHAN_IN, ISO_CHAN_OUT) holds, or
 * timeout_ms passes (-1: no limit; 0: just check). Sleeps on this side's
 * futex doorbell: marks itself sleeping, re-checks, then FUTEX_WAIT, so a
 * peer that writes, reads or shuts down in between is never missed.
 * Returns the events that hold (0 on timeout, or when woken by
 * iso_chan_wake() or a signal with nothing ready: callers loop), or
 * -EPROTO if the channel is broken. The trusted side never waits without a
 * timeout: a worker decides whether, and when, it rings.
 */
int iso_chan_wait(struct iso_chan *ch, unsigned events, int timeout_ms);

/* Wakes the peer if it is sleeping in iso_chan_wait() (write, read and
 * shutdown do this themselves). */
void iso_chan_wake(struct iso_chan *ch);

/* True if the peer is marked sleeping: a hint (the peer may be waking). */
bool iso_chan_peer_sleeping(struct iso_chan *ch);

/* Copies this handle's counters into *st. */
void iso_chan_stats(const struct iso_chan *ch, struct iso_chan_stats *st);

/* ====================================================================== */
/* Descriptor passing                                                     */
/* ====================================================================== */
/*
 * How a worker hands the trusted side a file it opened inside its view,
 * so large bodies never cross the channel: one descriptor plus a small
 * payload per message, over an AF_UNIX socketpair made with
 * SOCK_SEQPACKET | SOCK_CLOEXEC (message boundaries are kept, so a payload
 * and its descriptor arrive together). Neither call ever blocks
 * (MSG_DONTWAIT), so the trusted side may call them from its packet loop.
 */

#define ISO_FD_PAYLOAD_MAX 256u /* largest payload either call accepts */

/* iso_fd_recv() flags */
#define ISO_FD_REGULAR 0x1u /* accept only a regular file (fstat), so a
                             * pipe or socket cannot stall a reader */

/*
 * Sends `len` bytes of payload (1 .. ISO_FD_PAYLOAD_MAX) and, if fd >= 0,
 * a duplicate of fd (the caller keeps its own). Returns 0, -EAGAIN if the
 * socket is full, -EINVAL for a bad length, -EPIPE if the peer is gone, or
 * another negative errno. Never raises SIGPIPE.
 */
int iso_fd_send(int sock, int fd, const void *payload, size_t len);

/*
 * Receives one message: copies its payload into buf (cap bytes) and its
 * descriptor, if it carried exactly one, into *fd (else *fd = -1); the
 * caller owns that descriptor (close-on-exec is set). Returns the payload
 * length (> 0), 0 if the peer closed the socket (or sent an empty message,
 * which ends the conversation just the same), -EAGAIN if no message is
 * waiting, or, for a message a well-behaved peer never sends, -EBADMSG
 * (more than one descriptor, a truncated control message (MSG_CTRUNC), a
 * descriptor with an empty payload, or not a regular file with
 * ISO_FD_REGULAR) or -EMSGSIZE
 * (payload longer than cap). On every error every descriptor the message
 * carried has been closed and *fd is -1.
 */
ssize_t iso_fd_recv(int sock, int *fd, void *buf, size_t cap, unsigned flags);

/* ====================================================================== */
/* Sandbox                                                                */
/* ====================================================================== */
/*
 * The confinement a worker enters after fork and before it reads a single client
 * byte (docs/isolation.md, "Sandbox", gives each step and why). All or nothing:
 * iso_sandbox_enter() either returns 0 with every layer in force, or returns a
 * negative errno and the caller must _exit() at once - the process is then in an
 * unspecified, partly confined state and must never go on to read client data.
 */

/* Where the document root appears inside the sandbox; it is also the cwd. */
#define ISO_SANDBOX_DOCROOT "/www"

/* struct iso_policy.flags */
enum {
	/* No seccomp filter: only for tests that show the other layers hold on
	 * their own (defense in depth). Never set this for a real worker. */
	ISO_SANDBOX_NO_SECCOMP = 1u << 0,
};

struct iso_policy {
	const char *docroot;   /* directory bound read-only at ISO_SANDBOX_DOCROOT */
	uid_t uid;             /* from the service's reserved range; never 0 */
	gid_t gid;             /* never 0 */
	int netns_fd;          /* iso_netns_create() result to join, or -1 to
	                          unshare a fresh empty network namespace */
	uint64_t mem_bytes;    /* RLIMIT_AS; 0 = leave unlimited */
	uint64_t cpu_seconds;  /* RLIMIT_CPU (SIGXCPU, then SIGKILL at +1 s); 0 = none */
	uint64_t max_fds;      /* RLIMIT_NOFILE; 0 = 64 */
	const int *keep_fds;   /* descriptors the worker keeps (channel, stdio...); */
	unsigned n_keep_fds;   /*   every other one is closed */
	unsigned flags;        /* ISO_SANDBOX_* */
};

/*
 * Confines the calling process. Call it as root (CAP_SYS_ADMIN, CAP_SETUID,
 * CAP_SETGID, CAP_SETPCAP) in a freshly forked, single-threaded child, before any
 * untrusted input. p->netns_fd, if any, is closed in the caller (it stays open in
 * the parent). Returns 0 when every layer is in force; a negative errno otherwise,
 * with iso_sandbox_failed_step() naming the step that failed: the caller must then
 * _exit() without touching client data.
 */
int iso_sandbox_enter(const struct iso_policy *p);

/*
 * Confines the calling process as iso_sandbox_enter() does, then replaces it
 * with the program open on prog_fd (a regular file opened, O_RDONLY or O_PATH,
 * before the call: it need not be inside the view). So any worker program is
 * confined the same way without its cooperation; what it runs under is fixed
 * before its first instruction. The filter admits exactly this one exec
 * (execveat(prog_fd, "", ..., AT_EMPTY_PATH)) and the start-up calls of a
 * statically linked program: the program must be static (there is no /lib in
 * view and no executable mapping), and must not be readable by p->uid (mode
 * 0711, say), because exec would otherwise make the process dumpable again.
 * envp NULL gives an empty environment. prog_fd is made close-on-exec.
 * Returns only on failure: a negative errno, iso_sandbox_failed_step() says
 * where, and the caller must _exit().
 */
int iso_sandbox_exec(const struct iso_policy *p, int prog_fd, char *const argv[],
		     char *const envp[]);

/* The step the last failed iso_sandbox_enter() or iso_sandbox_exec() stopped
 * at ("setns(CLONE_NEWNET)", "pivot_root", "seccomp_load", ...), or "" if none
 * failed. Static storage. */
const char *iso_sandbox_failed_step(void);

/*
 * Creates a network namespace with no interface but a loopback that stays down,
 * for all workers of a service to join. The calling thread switches into it and
 * back. Needs CAP_SYS_ADMIN. Returns an O_CLOEXEC fd the caller owns and keeps
 * for as long as workers are spawned, or a negative errno (the calling thread is
 * back in its own namespace in every case but a failed switch back, which returns
 * -ENOTRECOVERABLE: the caller must then exit).
 */
int iso_netns_create(void);

#endif
