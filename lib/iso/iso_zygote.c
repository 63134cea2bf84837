/* SPDX-License-Identifier: MIT */
/*
 * The zygote (bulkhead/iso.h, "Zygote"; docs/isolation.md, "Zygote"): a small
 * trusted process that forks confined workers ahead of demand and hands them
 * to the NF over a control socket.
 *
 * Why it is fast: what is the same for every worker is done once, in the
 * zygote itself - it joins the shared network namespace and pivots into the
 * read-only view of the docroot (staying root, with its capabilities, and
 * holding the program and /dev/null it opened before), and compiles the
 * seccomp filter to BPF. A worker then inherits the view through fork and
 * takes for itself only what must differ: limits, uid, capabilities, flags,
 * the precompiled filter, the exec (iso_sandbox_exec_prepared()).
 *
 * Its descriptors sit at fixed numbers, chosen so that a worker's child can
 * dup2() its own into 3, 4, 5 without first moving anything out of the way:
 * the two the child overwrites (control socket, signalfd) are ones it does
 * not need, and a descriptor made per worker is never one of 0-6.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bulkhead/iso.h"

enum {
	Z_CTL = 3,                       /* control socket; a worker's channel in the child */
	Z_SIGFD = 4,                     /* SIGCHLD signalfd; a worker's socket in the child */
	Z_NOTIFY = ISO_WORKER_NOTIFY_FD, /* the NF's wake pipe, if any: every worker's too (write-only) */
	Z_PROG = 6,                      /* the worker program, close-on-exec */
	Z_NFIXED = 7,
};

#define Z_UIDS_MAX (1u << 20)   /* uid_count bound: the zygote's tables grow with it */
#define Z_START_TIMEOUT_MS 10000 /* for the zygote to report ready */
#define Z_STOP_TIMEOUT_MS 2000   /* for it to kill and reap its workers and exit */
#define Z_SPAWN_BATCH 8          /* workers made between two looks at the sockets */

/* Control messages. NF -> zygote: */
struct zreq {
	uint32_t n;   /* more workers wanted */
	int32_t kill; /* > 0: kill this worker (if it is one not reaped yet) */
};

/* Zygote -> NF, with the three descriptors of a WORKER as SCM_RIGHTS. */
struct zwire {
	int32_t type; /* enum iso_zmsg_type, or Z_READY */
	int32_t pid;
	uint32_t uid;
	int32_t status;
};
#define Z_READY 100 /* first message: status 0, or -errno of the zygote's setup */

struct iso_zygote {
	int sock;
	int pidfd;
	pid_t pid;
};

/* A message that could not be sent yet, with the descriptors it carries. */
struct zout {
	struct zwire m;
	int fds[3];
	int nfds;
};

/* The zygote's own state (in the zygote process only). */
struct zyg {
	const struct iso_zygote_conf *c; /* the zygote's copy of the caller's memory */
	struct iso_policy policy;
	struct iso_sandbox_prep *sp;
	pid_t self;
	uint64_t pending; /* workers asked for and not yet made */
	bool sent;        /* messages sent since the last notify */
	/* Uid slots: slot i is uid_base + i. pid_of[i] is its worker (0: free);
	 * free slots wait in a FIFO, so a freed uid is the last to be reused. */
	pid_t *pid_of;
	uint32_t *free_q, free_head, free_len;
	/* pid -> slot: chains through next[], heads in bucket[] (-1: end). */
	int32_t *bucket, *next;
	uint32_t nbucket;
	/* Unsent messages, oldest first: while there are any, no worker is made,
	 * so there are never more than the exits of the live workers and one. */
	struct zout *out;
	uint32_t out_head, out_len, out_cap;
};

/* ------------------------------------------------------------------ */
/* The NF's side                                                      */
/* ------------------------------------------------------------------ */

static bool ring_size_ok(uint32_t v)
{
	return v == 0 || (v >= ISO_CHAN_RING_MIN && v <= ISO_CHAN_RING_MAX && !(v & (v - 1)));
}

/* Whether any uid of the range (with gid, no supplementary groups) may read
 * a file of this mode: exec would leave such a worker dumpable. */
static bool readable_by_range(const struct stat *st, uid_t base, uint32_t count, gid_t gid)
{
	bool owner_in = st->st_uid >= base && st->st_uid - base < count;
	bool others_in = count > 1 || !owner_in; /* a uid of the range not the owner */

	if (owner_in && (st->st_mode & S_IRUSR))
		return true;
	return others_in && (st->st_mode & (st->st_gid == gid ? S_IRGRP : S_IROTH));
}

static int conf_ok(const struct iso_zygote_conf *c)
{
	if (!c || !c->prog || c->prog[0] != '/' || !c->argv || !c->argv[0] ||
	    !c->policy.docroot || c->uid_base == 0 || c->gid == 0 || c->uid_count == 0 ||
	    c->uid_count > Z_UIDS_MAX ||
	    (uint64_t)c->uid_base + c->uid_count > (uint64_t)(uid_t)-1 ||
	    !ring_size_ok(c->chan_to_worker) || !ring_size_ok(c->chan_from_worker))
		return -EINVAL;
	/* Every worker gets notify_fd: it must be one they can only write
	 * (a pipe's write end), or one worker could read away the wake-ups of
	 * the others. */
	if (c->notify_fd >= 0 && fcntl(c->notify_fd, F_GETFL) >= 0 &&
	    (fcntl(c->notify_fd, F_GETFL) & O_ACCMODE) != O_WRONLY)
		return -EINVAL;
	if ((c->notify_fd >= 0 && fcntl(c->notify_fd, F_GETFD) < 0) ||
	    (c->stderr_fd >= 0 && fcntl(c->stderr_fd, F_GETFD) < 0) ||
	    (c->policy.netns_fd >= 0 && fcntl(c->policy.netns_fd, F_GETFD) < 0))
		return -EBADF;
	return 0;
}

/* Opens the program and checks it can be a worker: a regular file no uid
 * of the range can read. Returns the O_PATH descriptor or -errno. */
static int open_program(const struct iso_zygote_conf *c)
{
	struct stat st;
	int fd = open(c->prog, O_PATH | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    readable_by_range(&st, c->uid_base, c->uid_count, c->gid)) {
		close(fd);
		return -EACCES;
	}
	return fd;
}

/* errno of a failed send or receive on the control socket, as returned. */
static int send_err(void)
{
	if (errno == EWOULDBLOCK)
		return -EAGAIN;
	return errno == ECONNRESET ? -EPIPE : -errno;
}

static void zygote_main(const struct iso_zygote_conf *c, int ctl, int prog, pid_t parent)
	__attribute__((noreturn));

/* Waits for the zygote's first message: 0 when it is ready, else -errno. */
static int wait_ready(struct iso_zygote *z)
{
	struct pollfd pf = {.fd = z->sock, .events = POLLIN};
	struct zwire m;
	ssize_t n;
	int rc;

	while ((rc = poll(&pf, 1, Z_START_TIMEOUT_MS)) < 0 && errno == EINTR)
		;
	if (rc <= 0)
		return rc < 0 ? -errno : -ETIMEDOUT;
	n = recv(z->sock, &m, sizeof(m), MSG_DONTWAIT);
	if (n <= 0)
		return n < 0 ? send_err() : -EPIPE; /* it died on the way */
	if (n != sizeof(m) || m.type != Z_READY || m.status > 0)
		return -EPROTO;
	return m.status;
}

static void reap_zygote(struct iso_zygote *z)
{
	siginfo_t si;

	while (waitid((idtype_t)P_PIDFD, (id_t)z->pidfd, &si, WEXITED) < 0 && errno == EINTR)
		;
}

struct iso_zygote *iso_zygote_start(const struct iso_zygote_conf *c)
{
	struct iso_zygote *z = NULL;
	struct stat st;
	int sv[2] = {-1, -1}, prog = -1, rc;
	pid_t parent = getpid();

	rc = conf_ok(c);
	if (!rc && stat(c->policy.docroot, &st) < 0)
		rc = -errno;
	else if (!rc && !S_ISDIR(st.st_mode))
		rc = -ENOTDIR;
	if (!rc) {
		prog = open_program(c);
		rc = prog < 0 ? prog : 0;
	}
	if (!rc) {
		z = calloc(1, sizeof(*z));
		rc = z ? 0 : -ENOMEM;
	}
	if (!rc && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		rc = -errno;
	if (rc)
		goto fail;
	z->sock = sv[0];
	z->pidfd = -1;
	z->pid = fork();
	if (z->pid < 0) {
		rc = -errno;
		goto fail;
	}
	if (z->pid == 0)
		zygote_main(c, sv[1], prog, parent);
	close(sv[1]);
	sv[1] = -1;
	close(prog);
	prog = -1;
	z->pidfd = pidfd_open(z->pid, 0);
	if (z->pidfd < 0) {
		rc = -errno;
		kill(z->pid, SIGKILL); /* not reaped yet: the pid is still its */
		waitpid(z->pid, NULL, 0);
		goto fail;
	}
	rc = wait_ready(z);
	if (rc < 0) {
		pidfd_send_signal(z->pidfd, SIGKILL, NULL, 0);
		reap_zygote(z);
		close(z->pidfd);
		goto fail;
	}
	return z;
fail:
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	if (prog >= 0)
		close(prog);
	free(z);
	errno = -rc;
	return NULL;
}

int iso_zygote_fd(const struct iso_zygote *z)
{
	return z->sock;
}

int iso_zygote_request(struct iso_zygote *z, uint32_t n)
{
	struct zreq r = {.n = n};

	if (n == 0)
		return 0;
	if (send(z->sock, &r, sizeof(r), MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		return send_err();
	return 0;
}

int iso_zygote_kill(struct iso_zygote *z, pid_t pid)
{
	struct zreq r = {.kill = pid};

	if (pid <= 0)
		return -EINVAL;
	if (send(z->sock, &r, sizeof(r), MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		return send_err();
	return 0;
}

/* The descriptors of every SCM_RIGHTS block into fds (up to cap; the count
 * goes on past cap, and those beyond are closed at once). */
static int take_fds(struct msghdr *msg, int *fds, int cap)
{
	struct cmsghdr *cm;
	int n = 0;

	for (cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR(msg, cm)) {
		size_t i, k;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < k; i++, n++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (n < cap)
				fds[n] = fd;
			else
				close(fd);
		}
	}
	return n;
}

int iso_zygote_recv(struct iso_zygote *z, struct iso_zmsg *m)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(8 * sizeof(int))];
	} ctl;
	struct zwire w = {0};
	struct iovec iov = {.iov_base = &w, .iov_len = sizeof(w)};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl.buf)};
	int fds[8], nfds, want, i;
	ssize_t n;

	n = recvmsg(z->sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return send_err();
	nfds = take_fds(&msg, fds, 8);
	if (n == 0 && nfds == 0)
		return -EPIPE;
	want = w.type == ISO_Z_WORKER ? 3 : 0;
	if (n != sizeof(w) || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || nfds != want ||
	    w.type < ISO_Z_WORKER || w.type > ISO_Z_FAILED) {
		for (i = 0; i < nfds && i < 8; i++)
			close(fds[i]);
		return -EPROTO;
	}
	*m = (struct iso_zmsg){.type = w.type, .pid = w.pid, .uid = w.uid, .status = w.status,
			       .chan_fd = want ? fds[0] : -1, .sock_fd = want ? fds[1] : -1,
			       .pidfd = want ? fds[2] : -1};
	return 1;
}

void iso_zygote_stop(struct iso_zygote *z)
{
	struct pollfd pf;
	int rc;

	if (!z)
		return;
	/* End of stream is the zygote's cue: it kills and reaps every worker,
	 * then exits. */
	shutdown(z->sock, SHUT_RDWR);
	pf = (struct pollfd){.fd = z->pidfd, .events = POLLIN};
	while ((rc = poll(&pf, 1, Z_STOP_TIMEOUT_MS)) < 0 && errno == EINTR)
		;
	if (rc <= 0) /* stuck: its workers follow it through PDEATHSIG */
		pidfd_send_signal(z->pidfd, SIGKILL, NULL, 0);
	reap_zygote(z);
	close(z->pidfd);
	close(z->sock);
	free(z);
}

/* ------------------------------------------------------------------ */
/* The zygote                                                         */
/* ------------------------------------------------------------------ */

static void say(const char *what, const char *step, int err)
{
	char line[200];
	int n = snprintf(line, sizeof(line), "iso_zygote: %s%s%s: %s\n", what, step[0] ? ": " : "",
			 step, strerror(err));

	if (n > 0 && write(2, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1) < 0)
		return;
}

/* Ends the zygote after a failed setup: tells the NF why, if it can. */
static void __attribute__((noreturn)) setup_failed(const char *step, int err)
{
	struct zwire m = {.type = Z_READY, .status = -err};

	say("setup failed", step, err);
	send(Z_CTL, &m, sizeof(m), MSG_DONTWAIT | MSG_NOSIGNAL);
	_exit(1);
}

/*
 * Gives the zygote exactly its descriptors, at their fixed numbers: the
 * sources are copied into a block above all of them (dup3 never lands on a
 * source, only on things about to be closed), everything else is closed, and
 * the block is placed. The netns descriptor, if any, stays in the block for
 * the view; *block and *netns say where.
 */
static int place_fds(const struct iso_zygote_conf *c, int ctl, int prog, int *block, int *netns)
{
	int src[5] = {ctl, prog, c->notify_fd, c->stderr_fd, c->policy.netns_fd};
	int hi = Z_NFIXED, i;

	for (i = 0; i < 5; i++)
		if (src[i] >= hi)
			hi = src[i] + 1;
	for (i = 0; i < 5; i++) {
		if (src[i] >= 0 && dup3(src[i], hi + i, O_CLOEXEC) < 0)
			return -errno;
		if (src[i] < 0)
			close(hi + i); /* whatever the NF had there */
	}
	if (syscall(SYS_close_range, 0, hi - 1, 0) < 0 ||
	    syscall(SYS_close_range, hi + 5, ~0u, 0) < 0)
		return -errno;
	if (open("/dev/null", O_RDWR) != 0) /* the lowest free number */
		return -EBADF;
	if (dup2(0, 1) < 0 || dup2(c->stderr_fd >= 0 ? hi + 3 : 0, 2) < 0 ||
	    dup2(hi, Z_CTL) < 0 || (c->notify_fd >= 0 && dup2(hi + 2, Z_NOTIFY) < 0) ||
	    dup3(hi + 1, Z_PROG, O_CLOEXEC) < 0)
		return -errno;
	*block = hi;
	*netns = c->policy.netns_fd >= 0 ? hi + 4 : -1;
	return 0;
}

/* Dispositions and mask a worker should start from, and SIGCHLD as a
 * descriptor: handled signals are reset by exec, ignored ones would not be. */
static int setup_signals(void)
{
	struct sigaction dfl = {.sa_handler = SIG_DFL}, old;
	sigset_t chld;
	int sig, fd;

	for (sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP && sigaction(sig, NULL, &old) == 0 &&
		    old.sa_handler == SIG_IGN)
			sigaction(sig, &dfl, NULL);
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	if (sigprocmask(SIG_SETMASK, &chld, NULL) < 0)
		return -errno;
	fd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0 || (fd != Z_SIGFD && dup2(fd, Z_SIGFD) < 0))
		return -errno;
	if (fd != Z_SIGFD)
		close(fd);
	return 0;
}

static int tables_init(struct zyg *z)
{
	uint32_t n = z->c->uid_count, i;

	for (z->nbucket = 16; z->nbucket < 2 * n; z->nbucket *= 2)
		;
	z->pid_of = calloc(n, sizeof(*z->pid_of));
	z->free_q = malloc(n * sizeof(*z->free_q));
	z->next = malloc(n * sizeof(*z->next));
	z->bucket = malloc(z->nbucket * sizeof(*z->bucket));
	z->out_cap = n + 2;
	z->out = malloc(z->out_cap * sizeof(*z->out));
	if (!z->pid_of || !z->free_q || !z->next || !z->bucket || !z->out)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		z->free_q[i] = i;
	z->free_len = n;
	memset(z->bucket, 0xff, z->nbucket * sizeof(*z->bucket));
	return 0;
}

static uint32_t pid_hash(const struct zyg *z, pid_t pid)
{
	return ((uint32_t)pid * 2654435761u) & (z->nbucket - 1);
}

static void slot_bind(struct zyg *z, uint32_t slot, pid_t pid)
{
	uint32_t h = pid_hash(z, pid);

	z->pid_of[slot] = pid;
	z->next[slot] = z->bucket[h];
	z->bucket[h] = (int32_t)slot;
}

/* Frees the slot of a reaped worker: returns it, or -1 if pid is not one. */
static int32_t slot_release(struct zyg *z, pid_t pid)
{
	int32_t *link = &z->bucket[pid_hash(z, pid)], s;

	while ((s = *link) >= 0 && z->pid_of[s] != pid)
		link = &z->next[s];
	if (s < 0)
		return -1;
	*link = z->next[s];
	z->pid_of[s] = 0;
	z->free_q[(z->free_head + z->free_len++) % z->c->uid_count] = (uint32_t)s;
	return s;
}

/* The slot of a live (not yet reaped) worker, or -1. */
static int32_t slot_of(const struct zyg *z, pid_t pid)
{
	int32_t s = z->bucket[pid_hash(z, pid)];

	while (s >= 0 && z->pid_of[s] != pid)
		s = z->next[s];
	return s;
}

static int32_t slot_take(struct zyg *z)
{
	uint32_t s;

	if (!z->free_len)
		return -1;
	s = z->free_q[z->free_head];
	z->free_head = (z->free_head + 1) % z->c->uid_count;
	z->free_len--;
	return (int32_t)s;
}

static void slot_untake(struct zyg *z, int32_t s)
{
	z->free_head = (z->free_head + z->c->uid_count - 1) % z->c->uid_count;
	z->free_q[z->free_head] = (uint32_t)s;
	z->free_len++;
}

/* One message to the NF now: 0, -EAGAIN (socket full), or -errno (gone). */
static int send_now(const struct zout *o)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(3 * sizeof(int))];
	} ctl;
	struct iovec iov = {.iov_base = (void *)&o->m, .iov_len = sizeof(o->m)};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};

	if (o->nfds) {
		struct cmsghdr *cm;

		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = CMSG_SPACE(o->nfds * sizeof(int));
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(o->nfds * sizeof(int));
		memcpy(CMSG_DATA(cm), o->fds, o->nfds * sizeof(int));
	}
	if (sendmsg(Z_CTL, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		return send_err();
	return 0;
}

static void sent(struct zyg *z, const struct zout *o)
{
	int i;

	for (i = 0; i < o->nfds; i++)
		close(o->fds[i]);
	z->sent = true;
}

/* Sends what waits, oldest first. 0, or -errno if the NF is gone. */
static int flush(struct zyg *z)
{
	while (z->out_len) {
		struct zout *o = &z->out[z->out_head];
		int rc = send_now(o);

		if (rc == -EAGAIN)
			return 0;
		if (rc < 0)
			return rc;
		sent(z, o);
		z->out_head = (z->out_head + 1) % z->out_cap;
		z->out_len--;
	}
	return 0;
}

/* Sends a message after those waiting, or queues it (with its descriptors,
 * which are closed once it has gone). 0, or -errno if the NF is gone. */
static int post(struct zyg *z, const struct zout *o)
{
	int rc = z->out_len ? -EAGAIN : send_now(o);

	if (rc == 0) {
		sent(z, o);
		return 0;
	}
	if (rc != -EAGAIN)
		return rc;
	if (z->out_len == z->out_cap) /* cannot happen: see struct zyg */
		return -ENOBUFS;
	z->out[(z->out_head + z->out_len++) % z->out_cap] = *o;
	return 0;
}

static int post_failed(struct zyg *z, int err)
{
	struct zout o = {.m = {.type = ISO_Z_FAILED, .status = err}};

	return post(z, &o);
}

/*
 * In the worker's child: its descriptors into place, then the per-process
 * part of the sandbox and the exec. Never returns.
 *
 * It runs after vfork(), in the zygote's memory while the zygote waits: it
 * only makes system calls and writes its own stack - but for the pid in the
 * filter (iso_sandbox_exec_prepared() sets it in sp, each worker its own),
 * errno and the sandbox's failed step, none of which the zygote reads
 * afterwards - and it never returns into spawn(). Between its uid change and the exec it shares the zygote's
 * memory as the worker uid: no other process has that uid, and the change
 * made the memory non-dumpable, so nothing can ptrace or read it meanwhile.
 */
static void __attribute__((noreturn)) worker_child(struct zyg *z, int memfd, int sock, uid_t uid)
{
	static const int keep[] = {0, 1, 2, ISO_WORKER_CHAN_FD, ISO_WORKER_SOCK_FD,
				   ISO_WORKER_NOTIFY_FD};
	struct iso_policy p = z->policy;
	const char *step = "descriptors";
	char what[48];
	sigset_t none;
	struct sched_param batch = {0};
	int rc;

	sigemptyset(&none);
	/* memfd and sock are not 3 or 4 (see the enum), so dup2 clears their
	 * close-on-exec; the wake pipe already sits at 5 without it. Without
	 * one, /dev/null takes 5: a file the worker opens never lands there,
	 * where the filter forbids F_SETFL (lib/http's open would be killed). */
	if (sigprocmask(SIG_SETMASK, &none, NULL) < 0 || dup2(memfd, ISO_WORKER_CHAN_FD) < 0 ||
	    dup2(sock, ISO_WORKER_SOCK_FD) < 0 ||
	    (z->c->notify_fd < 0 && dup2(0, ISO_WORKER_NOTIFY_FD) < 0)) {
		rc = -errno;
	} else if (sched_setscheduler(0, SCHED_BATCH, &batch) < 0) {
		/* A worker woken by the NF never preempts it (the kernel leaves
		 * batch tasks to the tick): the NF ends its turn, having filled
		 * every channel it had bytes for, and the workers then run one
		 * after another on the CPU they share with it. The filter keeps
		 * a worker from changing it back. */
		rc = -errno;
		step = "scheduling policy";
	} else {
		p.uid = uid;
		p.gid = z->c->gid;
		p.keep_fds = keep;
		p.n_keep_fds = 6;
		rc = iso_sandbox_exec_prepared(z->sp, &p, z->self, z->c->argv, NULL);
		step = iso_sandbox_failed_step();
	}
	snprintf(what, sizeof(what), "worker uid %u", (unsigned)uid);
	say(what, step, -rc);
	_exit(ISO_WORKER_UNCONFINED);
}

/* Makes one worker and tells the NF (WORKER, or FAILED). 0, or -errno if the
 * NF is gone. */
static int spawn(struct zyg *z)
{
	struct zout o = {.m = {.type = ISO_Z_WORKER}, .nfds = 3};
	struct iso_chan *ch;
	int memfd = -1, sv[2] = {-1, -1}, err;
	int32_t slot = slot_take(z);
	pid_t pid;

	z->pending--;
	if (slot < 0)
		return post_failed(z, -EUSERS);
	/* The zygote needs only the memfd: the mapping goes at once. */
	ch = iso_chan_create(z->c->chan_to_worker, z->c->chan_from_worker, &memfd);
	if (!ch)
		goto fail;
	iso_chan_close(ch);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		goto fail;
	/* vfork: no copy of the zygote's address space to make, fault in and
	 * tear down again at exec (a seventh of a worker's cost). The zygote
	 * waits meanwhile; worker_child() keeps to what vfork allows. */
	pid = vfork();
	if (pid == 0)
		worker_child(z, memfd, sv[1], z->c->uid_base + (uid_t)slot);
	if (pid < 0)
		goto fail;
	close(sv[1]);
	sv[1] = -1;
	/* Before anything could reap it, so the pidfd is that worker's. */
	o.fds[2] = pidfd_open(pid, 0);
	if (o.fds[2] < 0) {
		err = errno;
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		errno = err;
		goto fail;
	}
	slot_bind(z, (uint32_t)slot, pid);
	o.m.pid = pid;
	o.m.uid = z->c->uid_base + (uid_t)slot;
	o.fds[0] = memfd;
	o.fds[1] = sv[0];
	return post(z, &o);
fail:
	err = errno;
	if (memfd >= 0)
		close(memfd);
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	slot_untake(z, slot);
	return post_failed(z, -err);
}

/* Reaps every worker that ended and reports it. 0, or -errno if the NF is gone. */
static int reap(struct zyg *z)
{
	struct signalfd_siginfo si[8];
	int st, rc = 0;
	pid_t pid;

	while (read(Z_SIGFD, si, sizeof(si)) > 0)
		;
	while (rc == 0 && (pid = waitpid(-1, &st, WNOHANG)) > 0) {
		int32_t slot = slot_release(z, pid);
		struct zout o = {.m = {.type = ISO_Z_EXIT, .pid = pid, .status = st}};

		if (slot < 0)
			continue;
		o.m.uid = z->c->uid_base + (uid_t)slot;
		rc = post(z, &o);
	}
	return rc;
}

/* Takes the NF's requests. 0, or -1 once it has closed its end. */
static int take_requests(struct zyg *z)
{
	struct zreq r;
	ssize_t n;

	while ((n = recv(Z_CTL, &r, sizeof(r), MSG_DONTWAIT)) != 0) {
		if (n < 0)
			return errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
		if (n != sizeof(r))
			continue;
		z->pending += r.n;
		/* A worker not reaped yet is still ours: its pid cannot have been
		 * reused, so this kills that worker and no other process. */
		if (r.kill > 0 && slot_of(z, r.kill) >= 0)
			kill(r.kill, SIGKILL);
	}
	return -1;
}

static void serve(struct zyg *z)
{
	static const uint64_t one = 1;

	for (;;) {
		struct pollfd pf[2] = {{.fd = Z_CTL, .events = POLLIN | (z->out_len ? POLLOUT : 0)},
				       {.fd = Z_SIGFD, .events = POLLIN}};
		bool more = z->pending && !z->out_len;
		int i;

		if (poll(pf, 2, more ? 0 : -1) < 0 && errno != EINTR)
			return;
		if ((pf[1].revents && reap(z) < 0) || (pf[0].revents && take_requests(z) < 0) ||
		    flush(z) < 0)
			return;
		for (i = 0; i < Z_SPAWN_BATCH && z->pending && !z->out_len; i++)
			if (spawn(z) < 0)
				return;
		/* One wake-up for the NF per round, however many messages. */
		if (z->sent && z->c->notify_fd >= 0 && write(Z_NOTIFY, &one, sizeof(one)) < 0 &&
		    errno != EAGAIN)
			return;
		z->sent = false;
	}
}

/* The NF is gone or asked us to stop: no worker outlives the zygote. */
static void __attribute__((noreturn)) finish(struct zyg *z)
{
	uint32_t i;

	for (i = 0; i < z->c->uid_count; i++)
		if (z->pid_of[i])
			kill(z->pid_of[i], SIGKILL); /* not reaped yet: still ours */
	while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
		;
	_exit(0);
}

static void zygote_main(const struct iso_zygote_conf *c, int ctl, int prog, pid_t parent)
{
	struct zyg z = {.c = c, .policy = c->policy};
	struct zwire ready = {.type = Z_READY};
	int block = Z_NFIXED, rc;

	/* Dies with the NF; and if the NF is already gone, at once. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != parent)
		_exit(1);
	if (place_fds(c, ctl, prog, &block, &z.policy.netns_fd) < 0)
		_exit(1); /* no control socket to say it on: the NF sees EPIPE */
	rc = setup_signals();
	if (rc < 0)
		setup_failed("signals", -rc);
	if (tables_init(&z) < 0)
		setup_failed("tables", ENOMEM);
	z.self = getpid();
	/* Compiled once, for every worker; the view, entered once, is theirs
	 * through fork. */
	z.sp = iso_sandbox_prepare(&z.policy, Z_PROG);
	if (!z.sp)
		setup_failed(iso_sandbox_failed_step(), errno);
	rc = iso_sandbox_enter_view(&z.policy);
	if (rc < 0)
		setup_failed(iso_sandbox_failed_step(), -rc);
	syscall(SYS_close_range, block, ~0u, 0);
	z.policy.netns_fd = -1;
	if (send(Z_CTL, &ready, sizeof(ready), MSG_NOSIGNAL) != sizeof(ready))
		_exit(1);
	serve(&z);
	finish(&z);
}
