/* SPDX-License-Identifier: MIT */
/*
 * A hostile worker: enters the sandbox like any worker, then tries one escape and
 * reports on stdout whether it got anywhere. One attempt per process, so an
 * attempt that seccomp answers with SIGSYS kills only that attempt; the caller
 * (tests/iso/test_iso_sandbox.c) forks and execs this program once per attempt
 * and reads the exit status.
 *
 *   iso_escape_worker DOCROOT UID GID NETNS_FD FLAGS attempt NAME
 *   iso_escape_worker DOCROOT UID GID NETNS_FD FLAGS hold      (prints "ready",
 *                                                   stays confined until stdin EOF)
 *   iso_escape_worker DOCROOT UID GID NETNS_FD FLAGS bench N   (fork + enter timing)
 *   iso_escape_worker DOCROOT UID GID NETNS_FD FLAGS serve     (an honest worker:
 *                         channel memfd on fd 3, fd-passing socket on fd 4; reads a
 *                         file name from the channel, passes that file's descriptor
 *                         back and answers "sent" - the calls a real worker makes)
 *   iso_escape_worker DOCROOT UID GID NETNS_FD FLAGS exec-attempt NAME
 *   iso_escape_worker DOCROOT UID GID NETNS_FD FLAGS exec-hold
 *                         the same, but through iso_sandbox_exec() of the program
 *                         named by $BH_ISO_EXEC_PROG (a copy of this one, mode
 *                         0711): the new image starts as "confined NAME PPID FD"
 *                         and never calls the sandbox itself
 *   iso_escape_worker peer PID UID GID     (unconfined process of the same uid as
 *                                           a worker, trying to read its memory)
 *   iso_escape_worker --OPTION ...         (started by the HTTP NF in place of its
 *                         worker, tests/e2e/test_iso_escape.sh: serves frames on
 *                         its channel; "GET /NAME?PID" is the attempt NAME aimed
 *                         at process PID, answered with its verdict line;
 *                         "GET /www/FILE" serves FILE like an honest worker
 *                         ("GET /keep/FILE" the same, keeping the connection);
 *                         "GET /whoami" answers its pid and keeps the connection;
 *                         "GET /frames?SEED" sends frames that break the protocol
 *                         at random, tests/e2e/test_iso_frames.sh; "GET /ignore"
 *                         is never answered; "GET /spin" sends it into a loop;
 *                         "GET /spin_after" answers, keeping the connection,
 *                         then loops;
 *                         "GET /pass_opath" passes an O_PATH descriptor as a body)
 *
 * The docroot is expected to hold index.html (DOC_CONTENT), a mode 0666 file
 * "writable" and a symlink "passwd" -> /etc/passwd.
 *
 * Output lines: "NAME refused ERRNO", "NAME ok DETAIL", "NAME ESCAPED DETAIL".
 * Built static (for the exec modes) and without sanitizers: ASan's shadow reservation needs more address space
 * than RLIMIT_AS allows and its runtime makes calls the filter forbids.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <grp.h>

#include "bulkhead/iso.h"

#define DOC_CONTENT "hello from the docroot\n"

static pid_t parent;
static int leaked_fd = -1;
static char secret[] = "parent-secret";
static char said[256]; /* the last verdict line (the http mode answers with it) */

static int say(const char *name, const char *verdict, const char *detail)
{
	int n = snprintf(said, sizeof(said), "%s %s %s\n", name, verdict, detail);

	if (n >= (int)sizeof(said))
		n = (int)sizeof(said) - 1;
	return write(1, said, (size_t)n) == n ? 0 : 1;
}

/* Reads index.html's content from fd and closes it: its length, or -1 if it
 * is not DOC_CONTENT. */
static ssize_t read_index(int fd)
{
	char b[64];
	ssize_t n = read(fd, b, sizeof(b));

	close(fd);
	return n == (ssize_t)strlen(DOC_CONTENT) && !memcmp(b, DOC_CONTENT, (size_t)n) ? n : -1;
}

/* For a call that should fail: "refused ERRNO" if it did, "ESCAPED" if not. */
static int refused_if(const char *name, long rc, const char *what)
{
	if (rc < 0)
		return say(name, "refused", strerrorname_np(errno));
	return say(name, "ESCAPED", what);
}

static int try_read_file(const char *name, const char *path)
{
	char buf[64];
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return say(name, "refused", strerrorname_np(errno));
	if (read(fd, buf, sizeof(buf)) < 0) {
		close(fd);
		return say(name, "refused", strerrorname_np(errno));
	}
	close(fd);
	return say(name, "ESCAPED", path);
}

static int attempt(const char *name)
{
	char path[64];
	char buf[64];
	long rc;

	if (!strcmp(name, "proc_parent_mem")) {
		snprintf(path, sizeof(path), "/proc/%d/mem", (int)parent);
		return try_read_file(name, path);
	}
	if (!strcmp(name, "process_vm_readv")) {
		struct iovec l = {buf, sizeof(secret)}, r = {secret, sizeof(secret)};

		return refused_if(name, process_vm_readv(parent, &l, 1, &r, 1, 0), "read parent");
	}
	if (!strcmp(name, "ptrace_attach"))
		return refused_if(name, ptrace(PTRACE_ATTACH, parent, 0, 0), "attached");
	if (!strcmp(name, "kill_parent"))
		return refused_if(name, kill(parent, SIGTERM), "signalled parent");
	if (!strcmp(name, "etc_passwd"))
		return try_read_file(name, "/etc/passwd");
	if (!strcmp(name, "dotdot"))
		return try_read_file(name, "../../../../etc/passwd");
	if (!strcmp(name, "symlink_out")) /* docroot/passwd -> /etc/passwd */
		return try_read_file(name, "passwd");
	if (!strcmp(name, "hugepages")) {
		rc = open("/dev/hugepages", O_RDONLY | O_DIRECTORY);
		return refused_if(name, rc, "opened /dev/hugepages");
	}
	if (!strcmp(name, "wake_pipe_read")) /* the wake pipe every worker holds: write-only */
		return refused_if(name, read(ISO_WORKER_NOTIFY_FD, buf, sizeof(buf)), "read the wake pipe");
	if (!strcmp(name, "wake_pipe_setfl")) /* its O_NONBLOCK is every worker's */
		return refused_if(name, fcntl(ISO_WORKER_NOTIFY_FD, F_SETFL, 0), "made it blocking");
	if (!strcmp(name, "inherited_fd"))
		return refused_if(name, read(leaked_fd, buf, sizeof(buf)), "read leaked fd");
	if (!strcmp(name, "write_root"))
		return refused_if(name, open("writable", O_WRONLY), "opened for write");
	if (!strcmp(name, "write_root_old_open"))
		return refused_if(name, (int)syscall(SYS_open, "writable", O_WRONLY), "opened for write");
	if (!strcmp(name, "tkill_parent"))
		return refused_if(name, (int)syscall(SYS_tkill, parent, SIGTERM), "signalled parent");
	if (!strcmp(name, "create_file"))
		return refused_if(name, open("/new", O_WRONLY | O_CREAT, 0644), "created /new");
	if (!strcmp(name, "mkdir"))
		return refused_if(name, mkdir("/www/d", 0755), "made a directory");
	if (!strcmp(name, "socket_inet"))
		return refused_if(name, socket(AF_INET, SOCK_STREAM, 0), "socket");
	if (!strcmp(name, "socket_unix"))
		return refused_if(name, socket(AF_UNIX, SOCK_STREAM, 0), "socket");
	if (!strcmp(name, "connect_out")) {
		/* Only meaningful without the filter: the network namespace alone. */
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(80),
					.sin_addr.s_addr = htonl(0xc6120001)}; /* 198.18.0.1 */
		int s = socket(AF_INET, SOCK_DGRAM, 0);

		if (s < 0)
			return say(name, "refused", strerrorname_np(errno));
		rc = connect(s, (struct sockaddr *)&a, sizeof(a));
		return refused_if(name, rc, "route to 198.18.0.1");
	}
	if (!strcmp(name, "execve_sh")) {
		char *argv[] = {"sh", "-c", "echo execve_sh ESCAPED shell", NULL};

		execve("/bin/sh", argv, NULL);
		return say(name, "refused", strerrorname_np(errno));
	}
	if (!strcmp(name, "execveat_other")) {
		char *argv[] = {"index.html", NULL};

		syscall(SYS_execveat, AT_FDCWD, "/www/index.html", argv, NULL, 0);
		return say(name, "refused", strerrorname_np(errno));
	}
	if (!strcmp(name, "fork")) {
		pid_t c = fork();

		if (c == 0)
			_exit(0);
		if (c > 0)
			waitpid(c, NULL, 0);
		return refused_if(name, c, "forked");
	}
	if (!strcmp(name, "setuid0"))
		return refused_if(name, setuid(0), "uid 0");
	if (!strcmp(name, "mount"))
		return refused_if(name, mount("none", "/www", "tmpfs", 0, NULL), "mounted");
	if (!strcmp(name, "unshare_user"))
		return refused_if(name, unshare(CLONE_NEWUSER), "new user namespace");
	if (!strcmp(name, "mmap_exec")) {
		void *m = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		return refused_if(name, m == MAP_FAILED ? -1 : 0, "executable mapping");
	}
	if (!strcmp(name, "make_dumpable"))
		return refused_if(name, prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), "dumpable again");
	if (!strcmp(name, "int80")) {
		/* The i386 entry point from a 64-bit process: getpid (20) there. */
		long ret = 20;

		__asm__ volatile("int $0x80" : "+a"(ret) : : "memory");
		return refused_if(name, ret < 0 ? (errno = (int)-ret, -1) : 0, "i386 syscall");
	}
	if (!strcmp(name, "alloc_over_limit")) {
		void *m = mmap(NULL, 1ul << 30, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		return refused_if(name, m == MAP_FAILED ? -1 : 0, "mapped 1 GiB");
	}
	if (!strcmp(name, "cpu_spin")) {
		/* Run with BH_ISO_CPU_SECONDS=1: the CPU limit must end this. */
		volatile uint64_t x = 0;

		for (;;)
			x++;
	}
	if (!strcmp(name, "read_inside")) {
		int fd = open("index.html", O_RDONLY);

		if (fd < 0)
			return say(name, "FAILED", strerrorname_np(errno));
		if (read_index(fd) < 0)
			return say(name, "FAILED", "wrong content");
		return say(name, "ok", "index.html");
	}
	if (!strcmp(name, "read_inside_old_calls")) { /* what musl's open() and stat() make */
		struct stat st;
		ssize_t n;
		int fd = (int)syscall(SYS_open, "index.html", O_RDONLY | O_CLOEXEC);

		if (fd < 0)
			return say(name, "FAILED", strerrorname_np(errno));
		if ((n = read_index(fd)) < 0)
			return say(name, "FAILED", "wrong content");
		if (syscall(SYS_stat, "index.html", &st) || st.st_size != n ||
		    syscall(SYS_lstat, "passwd", &st) || !S_ISLNK(st.st_mode))
			return say(name, "FAILED", strerrorname_np(errno));
		return say(name, "ok", "open, stat, lstat");
	}
	if (!strcmp(name, "list_root")) {
		/* The whole file view: "/" must hold nothing but the docroot. */
		char names[128] = "";
		struct dirent *de;
		DIR *d = opendir("/");

		if (!d)
			return say(name, "FAILED", strerrorname_np(errno));
		while ((de = readdir(d)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
				strncat(names, de->d_name, sizeof(names) - strlen(names) - 2);
				strcat(names, ",");
			}
		closedir(d);
		return say(name, "ok", names[0] ? names : "(empty)");
	}
	if (!strcmp(name, "net_ifaces")) {
		/* Only meaningful without the filter: which interfaces exist, and up? */
		struct if_nameindex *ifs = if_nameindex(), *i;
		char names[128] = "";
		struct ifreq ifr;
		int s = socket(AF_INET, SOCK_DGRAM, 0);

		if (!ifs || s < 0)
			return say(name, "FAILED", strerrorname_np(errno));
		for (i = ifs; i->if_index; i++) {
			memset(&ifr, 0, sizeof(ifr));
			snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", i->if_name);
			if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
				return say(name, "FAILED", strerrorname_np(errno));
			strncat(names, i->if_name, sizeof(names) - strlen(names) - 8);
			strcat(names, ifr.ifr_flags & IFF_UP ? ":up," : ":down,");
		}
		if_freenameindex(ifs);
		return say(name, "ok", names[0] ? names : "(none)");
	}
	return say(name, "FAILED", "unknown attempt");
}

static int hold(void)
{
	char c;

	if (write(1, "ready\n", 6) != 6)
		return 1;
	while (read(0, &c, 1) > 0)
		;
	return 0;
}

/* Enters through iso_sandbox_exec(): the program it starts is confined before its
 * first instruction and gets no environment. */
static int exec_confined(const struct iso_policy *p, const char *what)
{
	char ppid[16], fd[16], line[200];
	char *argv[] = {"iso_escape_worker", "confined", (char *)what, ppid, fd, NULL};
	const char *prog = getenv("BH_ISO_EXEC_PROG");
	int pfd, rc;

	if (!prog)
		return 4;
	pfd = open(prog, O_PATH | O_CLOEXEC);
	if (pfd < 0)
		return 4;
	snprintf(ppid, sizeof(ppid), "%d", (int)parent);
	snprintf(fd, sizeof(fd), "%d", leaked_fd);
	rc = iso_sandbox_exec(p, pfd, argv, NULL);
	snprintf(line, sizeof(line), "enter FAILED %s: %s\n", iso_sandbox_failed_step(),
		 strerror(-rc));
	if (write(1, line, strlen(line)) < 0)
		return 3;
	return 3;
}

static int run_peer(pid_t pid, uid_t uid, gid_t gid)
{
	char path[64], buf[16];
	struct iovec l = {buf, sizeof(buf)}, r = {(void *)0x400000, sizeof(buf)};
	int fails = 0;

	if (setgroups(0, NULL) || setresgid(gid, gid, gid) || setresuid(uid, uid, uid))
		return say("peer", "FAILED", "cannot take the worker's uid");
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	fails += try_read_file("peer_proc_mem", path);
	fails += refused_if("peer_process_vm_readv", process_vm_readv(pid, &l, 1, &r, 1, 0),
			    "read worker");
	fails += refused_if("peer_ptrace_attach", ptrace(PTRACE_ATTACH, pid, 0, 0), "attached");
	return fails;
}

/* What a real worker does, under the filter: attach its channel, sleep on the
 * doorbell, read a request, open a file inside its view and pass the descriptor
 * back, answer over the channel, end the stream. */
static int serve(void)
{
	char name[128];
	size_t len = 0;
	ssize_t n;
	int fd, rc;
	struct iso_chan *ch = iso_chan_attach(3, ISO_SIDE_WORKER);

	if (!ch)
		return 10;
	close(3);
	while (!memchr(name, '\n', len)) {
		if (len == sizeof(name) - 1)
			return 11;
		n = iso_chan_read(ch, name + len, sizeof(name) - 1 - len);
		if (n == -EAGAIN) {
			if (iso_chan_wait(ch, ISO_CHAN_IN, 5000) < 0)
				return 12;
			continue;
		}
		if (n <= 0)
			return 13;
		len += (size_t)n;
	}
	name[strcspn(name, "\n")] = 0;
	fd = open(name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 14;
	rc = iso_fd_send(4, fd, "file", 4);
	close(fd);
	if (rc < 0)
		return 15;
	if (iso_chan_write(ch, "sent\n", 5) != 5 || iso_chan_shutdown(ch) < 0)
		return 16;
	iso_chan_close(ch);
	return 0;
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* Mean microseconds from fork to a confined child's exit seen by waitpid. */
static double bench(const struct iso_policy *p, int n, int enter)
{
	double t0 = now_us();
	int i, st;

	for (i = 0; i < n; i++) {
		pid_t c = fork();

		if (c < 0)
			return -1;
		if (c == 0)
			_exit(enter && iso_sandbox_enter(p) < 0 ? 1 : 0);
		if (waitpid(c, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
			return -1;
	}
	return (now_us() - t0) / n;
}

/* Sends one whole response on stream: status 200 and body, its LOG, and
 * END unless keep (then the connection stays open). */
static int http_answer(struct iso_chan *ch, uint32_t stream, const char *body, size_t blen,
		       bool keep)
{
	char head[128];
	struct {
		struct iso_log lg;
		char text[8];
	} log = {{.status = 200, .content_bytes = blen}, " - - -"};
	int hl = snprintf(head, sizeof(head),
			  "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n%s\r\n", blen,
			  keep ? "" : "Connection: close\r\n");

	for (size_t off = 0; off < (size_t)hl + blen;) {
		/* head, then body, in frames that fit; waits for room */
		char buf[4096];
		size_t n = 0;
		if (off < (size_t)hl) {
			n = (size_t)hl - off;
			memcpy(buf, head + off, n);
		} else {
			n = blen - (off - (size_t)hl) < sizeof(buf) ? blen - (off - (size_t)hl) : sizeof(buf);
			memcpy(buf, body + (off - (size_t)hl), n);
		}
		int rc = iso_frame_send(ch, stream, ISO_F_DATA, 0, buf, (uint32_t)n);
		if (rc == -EAGAIN) {
			iso_chan_wait(ch, ISO_CHAN_OUT, 100);
			continue;
		}
		if (rc < 0)
			return rc;
		off += n;
	}
	while (iso_frame_send(ch, stream, ISO_F_LOG, 0, &log, sizeof(log.lg) + 6) == -EAGAIN)
		iso_chan_wait(ch, ISO_CHAN_OUT, 100);
	while (!keep && iso_frame_send(ch, stream, ISO_F_END, 0, NULL, 0) == -EAGAIN)
		iso_chan_wait(ch, ISO_CHAN_OUT, 100);
	return 0;
}

/* xorshift64*: the frame fuzzer's numbers, the same for the same seed. */
static uint64_t fz;
static uint32_t rnd(void)
{
	fz ^= fz >> 12;
	fz ^= fz << 25;
	fz ^= fz >> 27;
	return (uint32_t)((fz * 0x2545F4914F6CDD1Dull) >> 32);
}

static uint64_t rnd64(void)
{
	static const uint64_t odd[] = {0, 1, 4095, 4096, 65536, 1ull << 31, 1ull << 32,
				       INT64_MAX, (uint64_t)INT64_MAX + 1, UINT64_MAX};
	return rnd() % 2 ? odd[rnd() % (sizeof(odd) / sizeof(odd[0]))]
			 : (uint64_t)rnd() << 32 | rnd();
}

/* A descriptor to pass with a FILE frame's message: a good file, the
 * document root (a directory), its own channel or fd socket, stdin, or none;
 * *own: opened here (to close once passed). */
static int fuzz_fd(bool *own)
{
	*own = false;
	switch (rnd() % 6) {
	case 0: *own = true; return open("index.html", O_RDONLY);
	case 1: *own = true; return open(".", O_RDONLY | O_DIRECTORY);
	case 2: return ISO_WORKER_CHAN_FD;
	case 3: return ISO_WORKER_SOCK_FD;
	case 4: return 0;
	default: return -1;
	}
}

/*
 * "GET /frames?SEED": what a worker that does not keep the protocol may
 * send, from SEED (tests/e2e/test_iso_frames.sh): 1-16 frames of any type
 * (the known ones and others), on its stream or on another (an id a few
 * before or after its own, a random one), with any
 * flags, any length up to what the ring takes and payloads random or shaped
 * as the type's (FILE references with odd offsets and lengths, and perhaps
 * a descriptor of any kind on the fd socket, its reference matching or not;
 * LOG lines with control bytes and line ends; WINDOW credit of any size);
 * now and then raw bytes in place of a frame, or random words written over
 * the control page of its channel (the ring indices and doorbells the NF
 * reads). Then, if the NF has not killed it, an honest answer.
 */
static int frame_fuzz(struct iso_chan *ch, uint32_t stream, unsigned seed)
{
	static uint8_t pl[ISO_FRAME_MAX];
	fz = 0x9E3779B97F4A7C15ull * (seed + 1);
	int n = 1 + (int)(rnd() % 16);
	for (int i = 0; i < n; i++) {
		uint32_t what = rnd() % 16;
		if (what == 0) { /* raw bytes, not a frame */
			for (uint32_t k = 0; k < 64; k++)
				pl[k] = (uint8_t)rnd();
			iso_chan_write(ch, pl, 1 + rnd() % 64);
			continue;
		}
		if (what == 1) { /* words over the control page */
			uint32_t *ctl = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED,
					     ISO_WORKER_CHAN_FD, 0);
			if (ctl == MAP_FAILED)
				continue;
			for (int k = 1 + (int)(rnd() % 3); k > 0; k--)
				ctl[rnd() % 64] = rnd() % 2 ? rnd() : ctl[rnd() % 64] + (rnd() % 9) - 4;
			munmap(ctl, 4096);
			continue;
		}
		uint16_t type = (uint16_t)(rnd() % 11);
		uint32_t st = stream;
		switch (rnd() % 5) {
		case 0: st = rnd(); break;
		/* ids are given in order: its other streams, gone or to come */
		case 1: st = stream + 1 + rnd() % 4; break;
		case 2: st = stream - 1 - rnd() % 4; break;
		default: break;
		}
		uint16_t flags = rnd() % 4 ? 0 : (uint16_t)rnd();
		uint32_t max = iso_frame_max(ch), len;
		switch (rnd() % 6) {
		case 0: len = 0; break;
		case 1: len = sizeof(struct iso_file_ref) + (rnd() % 3) - 1; break;
		case 2: len = sizeof(struct iso_log) + rnd() % 200; break;
		case 3: len = 4; break;
		case 4: len = rnd() % 64; break;
		default: len = rnd() % (max + 1); break;
		}
		if (len > max)
			len = max;
		for (uint32_t k = 0; k < len; k++)
			pl[k] = (uint8_t)rnd();
		if (type == ISO_F_FILE && len >= sizeof(struct iso_file_ref)) {
			struct iso_file_ref ref = {.stream = rnd() % 4 ? st : rnd(),
						   .reserved = rnd() % 4 ? 0 : rnd(),
						   .offset = rnd() % 2 ? 0 : rnd64(),
						   .length = rnd() % 2 ? rnd() % 100 : rnd64()};
			memcpy(pl, &ref, sizeof(ref));
			if (rnd() % 4) { /* the descriptor's message */
				struct iso_file_ref sent = ref;
				if (rnd() % 4 == 0)
					sent.length ^= 1;
				bool own;
				int fd = fuzz_fd(&own);
				iso_fd_send(ISO_WORKER_SOCK_FD, fd, &sent, sizeof(sent));
				if (own && fd >= 0)
					close(fd);
			}
		} else if (type == ISO_F_LOG && len >= sizeof(struct iso_log)) {
			struct iso_log lg = {.status = (uint16_t)rnd(), .flags = (uint16_t)(rnd() % 4),
					     .content_bytes = rnd64()};
			memcpy(pl, &lg, sizeof(lg));
			for (uint32_t k = sizeof(lg); k < len; k++) /* line ends, controls, text */
				pl[k] = rnd() % 4 ? (uint8_t)(' ' + rnd() % 95) : (uint8_t)(rnd() % 32);
		}
		int rc;
		for (int tries = 0; (rc = iso_frame_send(ch, st, type, flags, pl, len)) == -EAGAIN &&
				    tries < 10; tries++)
			iso_chan_wait(ch, ISO_CHAN_OUT, 100);
		if (rc < 0 && rc != -EAGAIN && rc != -EMSGSIZE)
			break; /* the channel is broken: the NF has given up on it */
	}
	static const char done[] = "frames done\n";
	return http_answer(ch, stream, done, sizeof(done) - 1, false);
}

/* A loop with no system call, for ever. */
static _Noreturn void spin(void)
{
	for (volatile unsigned long x = 0;; x = x + 1)
		;
}

/* In place of the HTTP worker: one attempt per request (see the top). */
static int http_hostile(void)
{
	static uint8_t buf[ISO_FRAME_MAX];
	static char req[4096], file[1 << 16];
	size_t len = 0;
	uint32_t stream = 0, taken = 0; /* client bytes taken since credit was given back */
	struct iso_chan *ch = iso_chan_attach(3, ISO_SIDE_WORKER);

	if (!ch)
		return 10;
	if (fcntl(5, F_GETFD) >= 0)
		iso_chan_set_notify(ch, 5);
	leaked_fd = 6; /* nothing beyond the channel, socket and eventfd may be open */
	for (;;) {
		struct iso_frame f;
		int rc = iso_frame_recv(ch, &f, buf, sizeof(buf));

		if (rc == -EAGAIN) {
			iso_chan_wait(ch, ISO_CHAN_IN, -1);
			continue;
		}
		if (rc <= 0)
			return rc == 0 ? 0 : 11;
		if (f.type == ISO_F_OPEN) {
			stream = f.stream;
			len = 0;
			taken = 0;
			continue;
		}
		if (f.type != ISO_F_DATA || f.stream != stream)
			continue;
		/* credit back for the client's bytes, as the HTTP worker gives it:
		 * without it a long keep-alive connection stops once its requests
		 * have used the stream's window */
		taken += f.len;
		if (taken >= ISO_WINDOW / 2) {
			while ((rc = iso_frame_send(ch, stream, ISO_F_WINDOW, 0, &taken, sizeof(taken))) ==
			       -EAGAIN)
				iso_chan_wait(ch, ISO_CHAN_OUT, 100);
			if (rc < 0)
				return 12;
			taken = 0;
		}
		if (len + f.len >= sizeof(req))
			continue;
		memcpy(req + len, buf, f.len);
		len += f.len;
		req[len] = 0;
		if (!strstr(req, "\r\n\r\n"))
			continue;
		char name[128] = "";
		int pid = 0;
		if (sscanf(req, "GET /%127[^? ]?%d", name, &pid) < 1)
			snprintf(name, sizeof(name), "bad");
		len = 0;
		if (!strncmp(name, "www/", 4) || !strncmp(name, "keep/", 5)) {
			bool keep = name[0] == 'k'; /* keep/: the connection stays */
			int fd = open(name + (keep ? 5 : 4), O_RDONLY);
			ssize_t n = fd < 0 ? -1 : read(fd, file, sizeof(file));
			if (fd >= 0)
				close(fd);
			rc = http_answer(ch, stream, file, n < 0 ? 0 : (size_t)n, keep);
		} else if (!strcmp(name, "log_flood")) {
			/* its answer, then log lines of its own making before END */
			struct {
				struct iso_log lg;
				char text[16];
			} forged = {{.status = 200, .content_bytes = 1}, " FORGED x"};
			int n = snprintf(file, sizeof(file), "log_flood sent\n");
			rc = http_answer(ch, stream, file, (size_t)n, true);
			for (int i = 0; rc == 0 && i < 100; i++)
				while ((rc = iso_frame_send(ch, stream, ISO_F_LOG, 0, &forged,
							    sizeof(forged.lg) + 9)) == -EAGAIN)
					iso_chan_wait(ch, ISO_CHAN_OUT, 100);
			while (rc == 0 && (rc = iso_frame_send(ch, stream, ISO_F_END, 0, NULL, 0)) == -EAGAIN)
				iso_chan_wait(ch, ISO_CHAN_OUT, 100);
		} else if (!strcmp(name, "credit_flood")) {
			/* a head promising 8 MiB, then all of it, never waiting for
			 * credit: once its client's answer backs up, that is beyond
			 * the stream's credit (ISO_WINDOW) */
			int hl = snprintf(file, sizeof(file),
					  "HTTP/1.1 200 OK\r\nContent-Length: 8388608\r\n\r\n");
			while ((rc = iso_frame_send(ch, stream, ISO_F_DATA, 0, file, (uint32_t)hl)) ==
			       -EAGAIN)
				iso_chan_wait(ch, ISO_CHAN_OUT, 100);
			memset(file, 'f', 16384);
			for (int i = 0; rc == 0 && i < 512; i++)
				while ((rc = iso_frame_send(ch, stream, ISO_F_DATA, 0, file, 16384)) ==
				       -EAGAIN)
					iso_chan_wait(ch, ISO_CHAN_OUT, 100);
		} else if (!strcmp(name, "ignore")) {
			rc = 0; /* never answered; the connection stays the NF's to end */
		} else if (!strcmp(name, "pass_opath")) {
			/* a head, then index.html passed as the body, but opened
			 * O_PATH (the filter lets that open by): no read of it works */
			static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 23\r\n\r\n";
			struct iso_file_ref ref = {.stream = stream, .offset = 0, .length = 23};
			int fd = open("index.html", O_PATH);
			rc = fd < 0 ? -1 : iso_frame_send(ch, stream, ISO_F_DATA, 0, head, sizeof(head) - 1);
			if (rc == 0)
				rc = iso_fd_send(ISO_WORKER_SOCK_FD, fd, &ref, sizeof(ref));
			if (rc == 0)
				rc = iso_frame_send(ch, stream, ISO_F_FILE, 0, &ref, sizeof(ref));
			if (fd >= 0)
				close(fd);
		} else if (!strcmp(name, "spin")) {
			spin(); /* a request that sends it into a loop: no answer */
		} else if (!strcmp(name, "spin_after")) {
			/* its answer, whole, then a loop: it owes nothing */
			int n = snprintf(file, sizeof(file), "spin_after\n");
			if (http_answer(ch, stream, file, (size_t)n, true) < 0)
				return 12;
			spin();
		} else if (!strcmp(name, "frames")) {
			rc = frame_fuzz(ch, stream, (unsigned)pid);
		} else if (!strcmp(name, "whoami")) { /* and the connection stays */
			int n = snprintf(file, sizeof(file), "%d\n", (int)getpid());
			rc = http_answer(ch, stream, file, (size_t)n, true);
		} else if (pid == getpid()) {
			say(name, "FAILED", "aimed at itself");
			rc = http_answer(ch, stream, said, strlen(said), false);
		} else {
			parent = pid;
			attempt(name);
			rc = http_answer(ch, stream, said, strlen(said), false);
		}
		if (rc < 0)
			return 12;
	}
}

int main(int argc, char **argv)
{
	static const int keep[] = {0, 1, 2, 3, 4};
	struct iso_policy p = {0};
	const char *mode, *cpu;
	char line[256];
	int rc;

	if (argc == 5 && !strcmp(argv[1], "confined")) {
		/* The image iso_sandbox_exec() started: already confined. */
		parent = atoi(argv[3]);
		leaked_fd = atoi(argv[4]);
		return !strcmp(argv[2], "hold") ? hold() : attempt(argv[2]);
	}
	if (argc == 2 && !strcmp(argv[1], "int80-probe")) {
		/* Unconfined: does this kernel take int 0x80 from a 64-bit
		 * process at all? Some fault (SIGSEGV) instead. */
		signal(SIGSEGV, SIG_DFL);
		long ret = 20; /* getpid there */
		__asm__ volatile("int $0x80" : "+a"(ret) : : "memory");
		printf("int80 taken %ld\n", ret);
		return 0;
	}
	if (argc >= 2 && !strncmp(argv[1], "--", 2))
		return http_hostile();
	if (argc == 5 && !strcmp(argv[1], "peer"))
		return run_peer(atoi(argv[2]), (uid_t)atoi(argv[3]), (gid_t)atoi(argv[4]));
	if (argc < 7) {
		fprintf(stderr, "usage: %s DOCROOT UID GID NETNS_FD FLAGS MODE [ARG]\n", argv[0]);
		return 2;
	}
	p.docroot = argv[1];
	p.uid = (uid_t)atoi(argv[2]);
	p.gid = (gid_t)atoi(argv[3]);
	p.netns_fd = atoi(argv[4]);
	p.flags = (unsigned)atoi(argv[5]);
	p.mem_bytes = 256u << 20;
	cpu = getenv("BH_ISO_CPU_SECONDS");
	p.cpu_seconds = cpu ? strtoull(cpu, NULL, 10) : 5;
	p.max_fds = 32;
	p.keep_fds = keep;
	p.n_keep_fds = 3;
	mode = argv[6];
	if (!strcmp(mode, "serve"))
		p.n_keep_fds = 5; /* the channel and the fd-passing socket */

	if (!strcmp(mode, "bench")) {
		int n = argc > 7 ? atoi(argv[7]) : 50;
		double base = bench(&p, n, 0), join = bench(&p, n, 1), nofilter, fresh;

		p.flags |= ISO_SANDBOX_NO_SECCOMP;
		nofilter = bench(&p, n, 1);
		p.flags &= ~ISO_SANDBOX_NO_SECCOMP;
		p.netns_fd = -1;
		fresh = bench(&p, n, 1);
		snprintf(line, sizeof(line),
			 "fork + enter + exit + wait, mean of %d: plain fork %.0f us; "
			 "sandbox joining the netns %.0f us (without the filter %.0f us); "
			 "sandbox with a netns of its own %.0f us\n",
			 n, base, join, nofilter, fresh);
		if (write(1, line, strlen(line)) < 0)
			return 1;
		return base > 0 && join > 0 && nofilter > 0 && fresh > 0 ? 0 : 1;
	}

	parent = getppid();
	/* Stands for a descriptor the trusted side forgot to mark close-on-exec. */
	leaked_fd = open("/etc/passwd", O_RDONLY);
	if (!strcmp(mode, "exec-hold"))
		return exec_confined(&p, "hold");
	if (!strcmp(mode, "exec-attempt") && argc > 7)
		return exec_confined(&p, argv[7]);
	rc = iso_sandbox_enter(&p);
	if (rc < 0) {
		snprintf(line, sizeof(line), "enter FAILED %s: %s\n", iso_sandbox_failed_step(),
			 strerror(-rc));
		if (write(1, line, strlen(line)) < 0)
			return 3;
		return 3;
	}
	if (!strcmp(mode, "hold"))
		return hold();
	if (!strcmp(mode, "serve"))
		return serve();
	if (!strcmp(mode, "attempt") && argc > 7)
		return attempt(argv[7]);
	return 2;
}
