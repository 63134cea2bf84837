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
#include <sys/uio.h>

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

/* Events for iso_chan_wait() and iso_chan_arm(). */
#define ISO_CHAN_IN    0x1u /* bytes to read, or the peer's end of stream */
#define ISO_CHAN_OUT   0x2u /* room to write */
#define ISO_CHAN_QUIET 0x4u /* ISO_CHAN_IN, and be woken by quiet writes too */

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
/* The same for the pieces of iov in order, as far as they fit, published
 * at once: one index update and one wake-up check for all of them. */
ssize_t iso_chan_writev(struct iso_chan *ch, const struct iovec *iov, int iovcnt);
/* The same, quietly: a peer asleep in iso_chan_wait() is woken only if it
 * waits with ISO_CHAN_QUIET; one that waits with ISO_CHAN_IN alone finds the
 * bytes when something else wakes it. For what a peer needs at once only
 * when it says so (flow-control credit: iso_frame_send_quiet()), so that it
 * is not switched to, on a shared CPU, to read what it has no use for yet.
 * A quiet write that leaves the ring more than half full rings as a plain
 * one does: quiet bytes never fill a sleeping reader's ring. */
ssize_t iso_chan_writev_quiet(struct iso_chan *ch, const struct iovec *iov, int iovcnt);

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

/* Wipe mode: every byte this side reads from the channel (iso_chan_read,
 * iso_chan_consume) is zeroed in the ring before the peer may write there
 * again, so that the ring keeps nothing that went through it. For a worker
 * reused for another unit (recycle scrub): both sides set it. Off by default. */
void iso_chan_set_wipe(struct iso_chan *ch, bool on);

/*
 * Waits until one of `events` (ISO_CHAN_IN, ISO_CHAN_OUT; ISO_CHAN_QUIET is
 * ISO_CHAN_IN woken by quiet writes too, and reports as ISO_CHAN_IN) holds, or
 * timeout_ms passes (-1: no limit; 0: just check). Sleeps on this side's
 * futex doorbell: marks itself sleeping, re-checks, then FUTEX_WAIT, so a
 * peer that writes, reads or shuts down in between is never missed.
 * Returns the events that hold (0 on timeout, or when woken by
 * iso_chan_wake() or a signal with nothing ready: callers loop), or
 * -EPROTO if the channel is broken. The trusted side never waits without a
 * timeout: a worker decides whether, and when, it rings.
 */
int iso_chan_wait(struct iso_chan *ch, unsigned events, int timeout_ms);
/* The same, with ISO_CHAN_OUT holding only once the outgoing ring has room
 * for `room` bytes (1 is iso_chan_wait(); more than the ring's size never
 * holds): for a writer holding a frame larger than the room there is, or
 * one waiting for the peer to have read everything. The peer's reads ring
 * such a waiter as any other, so it may wake with too little room still:
 * 0 then, as for a spurious wake-up (callers loop). */
int iso_chan_wait_room(struct iso_chan *ch, unsigned events, size_t room, int timeout_ms);

/* Wakes the peer if it is sleeping in iso_chan_wait() (write, read and
 * shutdown do this themselves). */
void iso_chan_wake(struct iso_chan *ch);

/* True if the peer is marked sleeping: a hint (the peer may be waking). */
bool iso_chan_peer_sleeping(struct iso_chan *ch);

/*
 * Batched wake-ups, for a side that serves many channels in turns. A channel
 * joined to a batch does not ring its peer's doorbell when it publishes: it
 * remembers what the peer may wait for and goes on the batch's list;
 * iso_wake_flush() then rings, once, every doorbell so owed (the protocol's
 * fence and check happen there, after everything was published). A peer
 * rung once after a turn finds the whole turn's work; rung at the first
 * piece, it may run, and sleep again, before the rest. The owner must
 * flush before it sleeps in its own way (iso_chan_wait() rings what its
 * channel owes before it sleeps). iso_chan_close() leaves the batch
 * (ringing what it owed). A batch is used by one thread.
 */
struct iso_wake_batch {
	struct iso_chan *head; /* channels owing a wake-up */
};
void iso_chan_join(struct iso_chan *ch, struct iso_wake_batch *b); /* NULL: ring at once again */
unsigned iso_wake_flush(struct iso_wake_batch *b);                 /* doorbells rung */
/* True if this channel owes its peer a wake-up (the peer has yet to hear of
 * something): it is not really asleep yet. */
bool iso_chan_wake_owed(const struct iso_chan *ch);

/* The size of this side's outgoing ring (private: not read from the mapping). */
uint32_t iso_chan_out_size(const struct iso_chan *ch);

/* Copies this handle's counters into *st. */
void iso_chan_stats(const struct iso_chan *ch, struct iso_chan_stats *st);

/*
 * Waking a trusted side that sleeps on something else. The trusted side
 * serves many channels from one loop and cannot FUTEX_WAIT on all their
 * bells; before it sleeps (in its own way) it arms the channels it expects
 * output from: iso_chan_arm() marks its bell with `events`, fences, and
 * returns which of them already hold (then it must not sleep). A worker
 * whose channel has a notify descriptor (an eventfd, or a pipe's write end,
 * that the trusted side polls: iso_chan_set_notify() on the worker's
 * handle) then writes 8 bytes to it whenever it rings that bell, besides the
 * FUTEX_WAKE. A worker that rings
 * without cause only costs the trusted side a wake-up.
 */
int iso_chan_arm(struct iso_chan *ch, unsigned events);   /* ready events, or -EPROTO */
void iso_chan_disarm(struct iso_chan *ch);                 /* clears this side's bell */
void iso_chan_set_notify(struct iso_chan *ch, int efd);    /* -1: none (the default) */

/*
 * Copies up to n bytes from the incoming ring without consuming them.
 * Returns the count (0 if empty), or -EPROTO if the channel is broken.
 * What a hostile peer wrote may change between a peek and the read that
 * follows: decide on the peeked copy only (iso_frame_recv() does).
 */
ssize_t iso_chan_peek(struct iso_chan *ch, void *buf, size_t n);

/*
 * Consumes skip + n bytes that are waiting, copying the last n into buf
 * (the first skip, such as a header already peeked, are not read again),
 * with one index update and one wake-up check. Returns n, -EAGAIN if fewer
 * than skip + n bytes are waiting (nothing is consumed), or -EPROTO if the
 * channel is broken.
 */
ssize_t iso_chan_consume(struct iso_chan *ch, size_t skip, void *buf, size_t n);

/* ====================================================================== */
/* Frames: streams over a channel                                         */
/* ====================================================================== */
/*
 * The bytes of a channel are frames: a 12-byte header and up to
 * ISO_FRAME_MAX bytes of payload, so one worker can serve several client
 * streams (unit client and pool:N) and say more than bytes (files, log
 * lines, the end of a stream). A sender writes a frame only when the whole
 * of it fits, so a well-behaved reader never sees half a frame; a reader
 * checks everything (a hostile worker can write anything).
 *
 * To the worker:  OPEN (payload struct iso_open), DATA (client bytes),
 *                 EOF (the client sends no more), CLOSE (the stream is gone:
 *                 reset or timed out; forget it, send nothing more for it).
 * From the worker: DATA (bytes for the client), FILE (payload struct
 *                 iso_file_ref: send `length` bytes of a file from
 *                 `offset` here; the descriptor went over the fd socket
 *                 just before, with the same iso_file_ref as its payload),
 *                 LOG (payload struct iso_log then the access-log line
 *                 without its client field: the trusted side prepends the
 *                 client's address, and replaces any byte outside 0x20..0x7e),
 *                 END (no more output for this stream: close it once what
 *                 is queued has gone; flags ISO_END_RESET: reset instead).
 * Both ways:      WINDOW (payload a uint32_t: credit given back).
 * Stream ids are chosen by the trusted side; a frame for a stream the
 * worker does not have (or no longer has) is ignored by either side.
 * A channel's end of stream (iso_chan_shutdown) from the trusted side
 * means: exit.
 *
 * Flow control, per stream and per direction, so that one stream whose
 * client does not read (or whose worker does not answer) never holds up
 * the others that share a channel: a sender starts with ISO_WINDOW bytes
 * of credit for a stream when it is opened; each DATA frame costs its
 * payload, each FILE frame ISO_WINDOW_FILE; a sender with too little
 * credit for its next frame sends nothing more on that stream until the
 * receiver gives credit back (WINDOW, on that stream) for what it has
 * passed on: the trusted side as bytes leave for the client, the worker
 * as it consumes the client's bytes. A receiver therefore never holds
 * more than ISO_WINDOW bytes of a stream, and never has to stop reading
 * the channel. A worker that sends beyond its credit breaks the protocol.
 */
enum iso_frame_type {
	ISO_F_OPEN = 1,
	ISO_F_DATA = 2,
	ISO_F_EOF = 3,
	ISO_F_CLOSE = 4,
	ISO_F_FILE = 5,
	ISO_F_LOG = 6,
	ISO_F_END = 7,
	ISO_F_WINDOW = 8,
};
#define ISO_END_RESET 0x1u /* END flags: reset the connection instead of a FIN */
#define ISO_END_IDLE  0x2u /*   closed for idleness (the trusted side counts it) */

#define ISO_FRAME_HDR 12u
#define ISO_FRAME_MAX 16384u /* payload bytes a frame may carry */
#define ISO_WINDOW 65536u     /* a stream's credit, each way, when it opens */
#define ISO_WINDOW_FILE 4096u /* what a FILE frame costs of it */

struct iso_frame {
	uint32_t stream;
	uint16_t type;  /* enum iso_frame_type */
	uint16_t flags;
	uint32_t len;   /* payload bytes that follow */
};
_Static_assert(sizeof(struct iso_frame) == ISO_FRAME_HDR, "frame header");

struct iso_open {          /* OPEN payload */
	uint32_t client_addr;  /* IPv4, network byte order */
	uint16_t client_port;  /* host byte order */
	uint16_t local_port;
};

struct iso_file_ref {      /* FILE payload, and the fd message's payload */
	uint32_t stream;
	uint32_t reserved;     /* 0 */
	uint64_t offset, length;
};

struct iso_log {           /* LOG payload, followed by the line's text */
	uint16_t status;       /* the response's status (for counters) */
	uint16_t flags;        /* ISO_LOG_* */
	uint16_t reserved[2];
	uint64_t content_bytes;
};
#define ISO_LOG_REFUSED 0x1u /* the request reader refused the request (400, 413, 501...) */
#define ISO_LOG_TIMEOUT 0x2u /* 408: the request head did not come in time */

/* Largest payload this side may send on ch: min(ISO_FRAME_MAX, out ring - header). */
uint32_t iso_frame_max(const struct iso_chan *ch);

/*
 * Sends one frame if all of it fits. Returns 0, -EAGAIN (no room for the
 * whole frame now: try again after the peer read), -EMSGSIZE (len beyond
 * iso_frame_max()), -EPIPE after shutdown, -EPROTO if broken.
 */
int iso_frame_send(struct iso_chan *ch, uint32_t stream, uint16_t type, uint16_t flags,
		   const void *payload, uint32_t len);
/* The same with the payload in pieces (at most 4), sent as one frame. */
int iso_frame_sendv(struct iso_chan *ch, uint32_t stream, uint16_t type, uint16_t flags,
		    const struct iovec *iov, int iovcnt);
/* iso_frame_send() through iso_chan_writev_quiet(). The trusted side sends
 * WINDOW frames so (a worker needs credit at once only while it waits for
 * it, and then it waits with ISO_CHAN_QUIET), and OPEN (a worker has
 * nothing to do for a stream before its first bytes, which ring). */
int iso_frame_send_quiet(struct iso_chan *ch, uint32_t stream, uint16_t type, uint16_t flags,
			 const void *payload, uint32_t len);

/*
 * Receives one whole frame: its header into *f, its payload into buf
 * (cap bytes). Returns 1, -EAGAIN (no whole frame yet), 0 (the peer shut
 * down and every frame was read), or -EPROTO: the channel is broken, a
 * payload is longer than ISO_FRAME_MAX or cap, the type is unknown, or the
 * peer shut down in the middle of a frame. The header is read once: what
 * the peer writes meanwhile changes nothing.
 */
int iso_frame_recv(struct iso_chan *ch, struct iso_frame *f, void *buf, size_t cap);

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
#define ISO_FD_REGULAR 0x1u /* accept only a regular file open for reading
                             * (fstat, F_GETFL): a pipe or socket could
                             * stall a reader, an O_PATH or write-only
                             * descriptor fails its reads */

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
 * descriptor with an empty payload, or not a regular file open for reading
 * with ISO_FD_REGULAR) or -EMSGSIZE
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
 * The same confinement in parts, for a zygote that confines many workers of
 * one policy: what they all share is done once, what each must have for
 * itself is done per worker (docs/isolation.md, "Zygote").
 *
 *   sp = iso_sandbox_prepare(&p, prog_fd);   once: compile the filter
 *   iso_sandbox_enter_view(&p);              once, in the zygote itself
 *   fork() or vfork(); in the child:
 *   iso_sandbox_exec_prepared(sp, &p, zygote_pid, argv, envp);
 *
 * A worker started this way is confined exactly as by iso_sandbox_exec(): the
 * view is inherited from the zygote, everything else is applied in the child.
 */
struct iso_sandbox_prep; /* opaque: the compiled filter and the program's fd */

/*
 * Compiles the seccomp filter for p->flags (none with ISO_SANDBOX_NO_SECCOMP)
 * admitting the one execveat of prog_fd (-1: no exec, as iso_sandbox_enter()).
 * prog_fd must be at the same number in every process that uses the result.
 * Changes nothing in the calling process. Returns an object the caller owns
 * (iso_sandbox_prep_free()), or NULL with errno set and
 * iso_sandbox_failed_step() naming the step.
 */
struct iso_sandbox_prep *iso_sandbox_prepare(const struct iso_policy *p, int prog_fd);
void iso_sandbox_prep_free(struct iso_sandbox_prep *sp); /* NULL is a no-op */

/*
 * The shared steps of iso_sandbox_enter() for the calling process: joins
 * p->netns_fd (closing it in this process) or unshares a new empty network
 * namespace (-1), then the mount view: the read-only docroot at
 * ISO_SANDBOX_DOCROOT as the only file tree, the cwd; then empties the
 * ambient and bounding capability sets (a child inherits them, and a bounding
 * set can only shrink). The caller stays root, with its effective
 * capabilities and descriptors, and must be single-threaded (-EBUSY
 * otherwise). Returns 0 or a negative errno (iso_sandbox_failed_step() says
 * where; the caller's view is then unspecified and it must _exit()).
 */
int iso_sandbox_enter_view(const struct iso_policy *p);

/*
 * The rest of iso_sandbox_exec() in a process forked (or vforked: it makes
 * only system calls, and writes only its stack, errno, the step name and the
 * pid operands in sp) from one that entered the view: checks the program (sp's prog_fd) as iso_sandbox_exec() does,
 * closes every descriptor but p->keep_fds and prog_fd, then limits, ambient
 * set, p->uid/p->gid (read back), no capabilities (read back, the bounding
 * set too: it must come empty from the view),
 * not dumpable, PDEATHSIG SIGKILL (and fails if the process is no longer a
 * child of `parent`), no-new-privs, sp's filter (with this process's pid
 * where the filter names "its own pid": sp's copy in this process is
 * changed), and execs the program. p->docroot and p->netns_fd are not used.
 * Returns only on failure: a negative errno, iso_sandbox_failed_step() says
 * where, and the caller must _exit().
 */
int iso_sandbox_exec_prepared(struct iso_sandbox_prep *sp, const struct iso_policy *p,
			      pid_t parent, char *const argv[], char *const envp[]);

/*
 * Creates a network namespace with no interface but a loopback that stays down,
 * for all workers of a service to join. The calling thread switches into it and
 * back. Needs CAP_SYS_ADMIN. Returns an O_CLOEXEC fd the caller owns and keeps
 * for as long as workers are spawned, or a negative errno (the calling thread is
 * back in its own namespace in every case but a failed switch back, which returns
 * -ENOTRECOVERABLE: the caller must then exit).
 */
int iso_netns_create(void);

/* ====================================================================== */
/* Zygote: workers spawned ahead of demand                                */
/* ====================================================================== */
/*
 * The zygote is a small trusted process, forked by the service's NF before
 * it initialises DPDK (so it maps no packet pool and holds no hugepage
 * file), that forks and confines workers ahead of demand, off the packet
 * path. At start it enters the view every worker shares (the network
 * namespace and the read-only docroot: iso_sandbox_enter_view) and compiles
 * the seccomp filter (iso_sandbox_prepare), once; it stays root. Per worker
 * it creates the channel (iso_chan_create) and an fd socketpair
 * (SOCK_SEQPACKET), forks; the child places its descriptors at fixed numbers
 * and takes the rest of the sandbox with a uid of its own
 * (iso_sandbox_exec_prepared), so the worker program is confined exactly as
 * iso_sandbox_exec() would, before its first instruction. The zygote then
 * hands the NF the worker: pid, uid, the
 * channel memfd, the NF's end of the socketpair and a pidfd (so the NF can
 * kill it without a pid-reuse race), in one message over a control socket.
 * It is the workers' parent: it reaps them and reports each exit with its
 * wait status. A worker's PDEATHSIG is SIGKILL, and the zygote's own
 * PDEATHSIG is SIGKILL: when the NF goes, the zygote and every worker go
 * (the kernel ties PDEATHSIG to the thread that called iso_zygote_start():
 * it must live as long as the NF).
 *
 * Uids: each worker the zygote has alive holds a distinct uid from
 * [uid_base, uid_base + uid_count) (it returns to the free set when the
 * worker is reaped), so no two live workers share a uid; when none is free
 * a request fails (ISO_Z_FAILED with -EUSERS) rather than reuse one. Freed
 * uids are reused oldest first.
 *
 * The zygote's descriptors: 0 and 1 /dev/null, 2 stderr_fd, the control
 * socket, a signalfd, the wake pipe if any, the program; nothing else.
 * It sends every message without blocking, and while one waits for room it
 * makes no worker (so what it holds stays bounded by uid_count).
 */

/* Descriptors in a worker program, as it starts. */
#define ISO_WORKER_CHAN_FD   3 /* its channel memfd: iso_chan_attach(3, ISO_SIDE_WORKER) */
#define ISO_WORKER_SOCK_FD   4 /* its end of the fd socket: iso_fd_send() */
#define ISO_WORKER_NOTIFY_FD 5 /* the NF's wake pipe (write-only), to ring with the channel
                                * (iso_chan_set_notify); /dev/null if none. Never free: the
                                * filter forbids F_SETFL on 5, so no file may land there */

/* Exit status of a worker the zygote forked but could not confine or exec:
 * it ran nothing of the program (reported as ISO_Z_EXIT like any other end;
 * the zygote writes the reason on its stderr_fd). */
#define ISO_WORKER_UNCONFINED 126

struct iso_zygote_conf {
	const char *prog;        /* worker program: absolute path, static, root-owned, 0711 */
	char *const *argv;       /* its arguments, argv[0] included, NULL-terminated */
	struct iso_policy policy; /* docroot, netns_fd (the zygote joins it, the
	                           * caller keeps its descriptor; -1: the zygote
	                           * creates one namespace and every worker is in
	                           * it), mem_bytes, cpu_seconds, max_fds, flags;
	                           * uid, gid and keep_fds are the zygote's to set */
	uid_t uid_base;          /* > 0 */
	uint32_t uid_count;      /* 1 .. 2^20: at most this many workers alive at once */
	gid_t gid;               /* > 0 */
	uint32_t chan_to_worker, chan_from_worker; /* ring sizes; 0: 64 KiB */
	int notify_fd;           /* the write end of a pipe (O_WRONLY, O_NONBLOCK), or
	                          * -1: every worker gets it as ISO_WORKER_NOTIFY_FD
	                          * to ring when it speaks to an armed channel, and
	                          * the zygote writes to it after sending the NF
	                          * messages (once per round, not per message). The
	                          * NF polls and drains the read end. Write-only, so no
	                          * worker can read away another's wake-ups (anything
	                          * readable is refused, EINVAL), and the workers'
	                          * filter forbids F_SETFL on it (the blocking flag is
	                          * shared by every holder): a worker can only cost
	                          * the NF wake-ups. One descriptor for all workers
	                          * keeps the NF at one descriptor per worker. */
	int stderr_fd;           /* the workers' (and the zygote's) fd 2; -1: /dev/null */
};

enum iso_zmsg_type {
	ISO_Z_WORKER = 1, /* a new confined worker, waiting on its channel */
	ISO_Z_EXIT = 2,   /* a worker was reaped: status is its wait status */
	ISO_Z_FAILED = 3, /* a requested worker could not be made: status is -errno */
};

struct iso_zmsg {
	int type;      /* enum iso_zmsg_type */
	pid_t pid;     /* WORKER, EXIT */
	uid_t uid;     /* WORKER, EXIT */
	int status;    /* EXIT: wait status; FAILED: -errno */
	int chan_fd;   /* WORKER: the channel memfd (iso_chan_attach(.., TRUSTED)) */
	int sock_fd;   /* WORKER: the NF's end of the fd socket */
	int pidfd;     /* WORKER: pidfd of the worker (pidfd_send_signal); an NF short
	                * of descriptors may close it and use iso_zygote_kill() */
};                     /* the receiver owns the three descriptors (close-on-exec) */

struct iso_zygote;

/*
 * Forks the zygote. Call before starting threads and before DPDK is
 * initialised. Checks the configuration first and returns NULL with errno
 * set without forking if it cannot work: EINVAL (no conf, a relative program
 * path, no argv[0], no docroot, uid_base, gid or uid_count 0, uid_count too
 * large, a bad ring size), EBADF (notify_fd, stderr_fd or policy.netns_fd
 * set but not open), ENOENT/ENOTDIR (program or docroot missing),
 * EACCES (the program is not a regular file, or a worker uid could read it).
 * Then waits (up to 10 s) until the zygote has entered the view and compiled
 * the filter: NULL with errno the zygote's (EPERM without privilege, ...;
 * EPIPE if it died, ETIMEDOUT), the zygote reaped, its reason on stderr_fd.
 * The caller may close conf's descriptors afterwards (the zygote has its
 * own). The zygote makes no worker until asked.
 */
struct iso_zygote *iso_zygote_start(const struct iso_zygote_conf *c);

/* The control socket: poll it for readability (a message waits), or use
 * the wake pipe (notify_fd). */
int iso_zygote_fd(const struct iso_zygote *z);

/* Asks for n more workers (they arrive as ISO_Z_WORKER or ISO_Z_FAILED
 * messages). Never blocks: 0, -EAGAIN (the socket is full: ask again
 * later), -EPIPE (the zygote is gone). */
int iso_zygote_request(struct iso_zygote *z, uint32_t n);

/* Asks the zygote to SIGKILL worker pid, if it is one of its workers not yet
 * reaped (so never another process that took a reused pid); the exit is
 * reported as any other. Never blocks: 0, -EAGAIN, -EPIPE, -EINVAL. */
int iso_zygote_kill(struct iso_zygote *z, pid_t pid);

/* Takes one message. Never blocks: 1 (*m filled; descriptors a message does
 * not carry are -1), -EAGAIN (none), -EPIPE (the zygote is gone: every
 * worker is gone with it), -EPROTO (a malformed message: a wrong size or
 * type, a truncated control message, or not exactly three descriptors with
 * WORKER and none otherwise; every descriptor it carried is closed). */
int iso_zygote_recv(struct iso_zygote *z, struct iso_zmsg *m);

/* Ends the zygote: it kills (SIGKILL) and reaps every worker it made, then
 * exits; waits for that (up to 2 s, then SIGKILLs the zygote, whose workers
 * then die of their PDEATHSIG), reaps the zygote, closes the socket and frees
 * z. When it returns, no worker is left (but after that timeout). Blocks.
 * Also the way to release z after -EPIPE. NULL is a no-op. */
void iso_zygote_stop(struct iso_zygote *z);

/* ====================================================================== */
/* Service policy                                                         */
/* ====================================================================== */
/*
 * How a connection NF isolates its clients: one policy per service. It is
 * given in the manager's configuration (services[].isolation, docs/config.md)
 * or on the NF's command line (--isolation, --recycle, ...), the command line
 * winning field by field. The manager checks a configured policy with these
 * functions and hands it to the service's NFs as a file of "OPTION VALUE"
 * lines, iso_policy_path(): an NF reads it before it attaches (before DPDK,
 * when it forks its zygote). No DPDK, no libseccomp: the manager, nflib's
 * TCP glue and the NFs share it.
 *
 * Names: OPTION is the NF's long option without "--"; the configuration's
 * keys are the same with '_' for '-', except "unit" for "isolation".
 */

#define ISO_WORKER_PATH_MAX 256          /* bytes, with the terminating NUL */
#define ISO_WORKER_CONNS_MAX (1u << 19)  /* worker-conns; a worker takes twice as many */
#define ISO_POOL_MAX 4096u               /* pool:N */
#define ISO_SPARES_MAX 4096u

enum iso_unit {
	ISO_UNIT_NONE,       /* the shared design: no workers */
	ISO_UNIT_CONNECTION, /* a worker per TCP connection */
	ISO_UNIT_CLIENT,     /* a worker per client address */
	ISO_UNIT_POOL,       /* pool_n workers share every connection */
};

struct iso_service_policy {
	enum iso_unit unit;
	uint32_t pool_n;                  /* ISO_UNIT_POOL */
	bool scrub;                       /* recycle: scrub (else fresh) */
	char worker[ISO_WORKER_PATH_MAX]; /* absolute path; "" until given */
	uint32_t uid_base, uid_count;     /* uid-range BASE:COUNT */
	uint64_t mem;                     /* worker-mem: RLIMIT_AS, bytes */
	uint64_t cpu_s;                   /* worker-cpu-s: RLIMIT_CPU, 0: none */
	uint64_t spin_ms;                 /* worker-spin-ms: CPU owing an answer, 0: no bound */
	uint64_t fds;                     /* worker-fds: RLIMIT_NOFILE */
	uint64_t idle_ms;                 /* worker-idle-ms */
	uint32_t spares;                  /* spares */
	uint32_t worker_conns;            /* worker-conns */
	uint64_t inline_max;              /* inline-max: bodies copied through the channel */
};

/* Fills *p with the defaults (docs/isolation.md's option table). */
void iso_policy_init(struct iso_service_policy *p);

/*
 * Sets one field from its option name (without "--") and its text, checked
 * as the NF's command line checks it. Returns 0; -ENOENT if opt is not a
 * policy option (err not written); -EINVAL with err holding one line,
 * "--OPT: expected ..., not 'VAL'", and *p unchanged.
 */
int iso_policy_set(struct iso_service_policy *p, const char *opt, const char *val, char *err,
		   size_t errlen);

/*
 * What no single field shows: a unit other than none without a worker
 * program, recycling a pool, a uid range smaller than the workers it must
 * hold. Returns 0, or -EINVAL with one line in err.
 */
int iso_policy_check(const struct iso_service_policy *p, char *err, size_t errlen);

/* The option a configuration key stands for ("unit" -> "isolation",
 * "worker_mem" -> "worker-mem"), or NULL if key is not one. */
const char *iso_policy_option(const char *key);

/* The configuration keys, NULL-terminated, in the order of the docs. */
extern const char *const iso_policy_keys[];

/* Where the manager of prefix leaves service's policy:
 * /run/bulkhead/PREFIX/SERVICE.isolation (ISO_POLICY_DIR). Returns 0, or
 * -ENAMETOOLONG. */
#define ISO_POLICY_DIR "/run/bulkhead"
int iso_policy_path(char *buf, size_t len, const char *prefix, const char *service);

/*
 * Reads a policy file and calls apply(arg, OPTION, VALUE, why, len) for each
 * line, in order; apply checks the value (iso_policy_set(), say) and returns
 * 0, or a negative errno with one line in why. The file must be a regular
 * file owned by root and writable by nobody else, at most 4 KiB of "OPTION
 * VALUE" lines. Returns 1 (read and applied), 0 (no such file: the service
 * has no policy), -EINVAL (apply refused a line: "PATH:LINE: why" in err),
 * or another negative errno with one line in err (unreadable, unsafe,
 * malformed). Lines before a refused one have been applied.
 */
int iso_policy_read(const char *path,
		    int (*apply)(void *arg, const char *opt, const char *val, char *err, size_t errlen),
		    void *arg, char *err, size_t errlen);

#endif
