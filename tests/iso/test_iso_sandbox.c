/* SPDX-License-Identifier: MIT */
/*
 * The worker sandbox, tested from outside. Every confined process is the
 * separately built, sanitizer-free iso_escape_worker (ISO_ESCAPE_WORKER), forked
 * and exec'd once per attempt: ASan's runtime needs far more address space than
 * the sandbox's RLIMIT_AS and makes system calls its filter forbids, so the code
 * under test runs in a plain build while this harness runs under ASan/UBSan.
 * Nothing is skipped: a check that cannot run here (not root, no namespaces)
 * fails.
 *
 * Checks: every escape attempt fails - killed by SIGSYS where the filter forbids
 * the call, refused otherwise; the same attempts with the filter off are still
 * refused by the other layers; a confined worker's identity, capabilities,
 * no-new-privs, seccomp mode, limits, namespaces and mount table as the kernel
 * reports them in /proc/PID; a process of the same uid cannot read its memory;
 * a failed step stops the worker. Prints the fork + enter time.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bulkhead/iso.h"
#include "tests/unit/bh_fds.h"
#include "tests/unit/bh_test.h"

#define UID 62501 /* stands for one uid of a service's reserved range */
#define GID 62501

enum want { OK, REFUSED, SIGSYS_KILL, KERNEL_FAULT };

static char docroot[] = "/tmp/bh-iso-root.XXXXXX";
static char prog711[] = "/tmp/bh-iso-prog.XXXXXX"; /* the worker, mode 0711 */
/* How the worker is confined: "attempt" calls iso_sandbox_enter() itself,
 * "exec-attempt" is started by iso_sandbox_exec() and never calls it. */
static const char *via = "attempt";
static int netns_fd = -1;
static int n_sigsys, n_refused;

struct run {
	pid_t pid;
	int out;  /* worker's stdout */
	int in;   /* worker's stdin (hold mode), else -1 */
	int status;
	char text[1024];
};

static void write_file(const char *name, const char *s, mode_t mode)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", docroot, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK_EQ(write(fd, s, strlen(s)), (long long)strlen(s));
	CHECK_EQ(fchmod(fd, mode), 0);
	close(fd);
}

/* Starts the escape worker with the given mode; stdout (and stdin for "hold")
 * come back as pipes. The worker's netns is our iso_netns_create() fd, passed
 * as an inherited descriptor like a zygote would. */
static int start_with(struct run *r, unsigned flags, const char *mode, const char *arg,
		      const char *cpu_seconds, int fd3, int fd4)
{
	int op[2], ip[2];
	char uid[16], gid[16], nsfd[16], fl[16];

	memset(r, 0, sizeof(*r));
	r->in = -1;
	if (pipe2(op, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(ip, O_CLOEXEC) < 0) {
		close(op[0]);
		close(op[1]);
		return -errno;
	}
	r->pid = fork();
	if (r->pid < 0)
		return -errno;
	if (r->pid == 0) {
		/* Out of the way of 0..4 first, then into place (dup2 clears
		 * close-on-exec); the netns descriptor is inherited, not kept. */
		int ns = fcntl(netns_fd, F_DUPFD, 20);
		int a = fd3 >= 0 ? fcntl(fd3, F_DUPFD_CLOEXEC, 20) : -1;
		int b = fd4 >= 0 ? fcntl(fd4, F_DUPFD_CLOEXEC, 20) : -1;

		dup2(op[1], 1);
		dup2(ip[0], 0);
		if (a >= 0)
			dup2(a, 3);
		if (b >= 0)
			dup2(b, 4);
		snprintf(uid, sizeof(uid), "%d", UID);
		snprintf(gid, sizeof(gid), "%d", GID);
		snprintf(nsfd, sizeof(nsfd), "%d", ns);
		snprintf(fl, sizeof(fl), "%u", flags);
		if (cpu_seconds)
			setenv("BH_ISO_CPU_SECONDS", cpu_seconds, 1);
		alarm(30); /* survives exec and cannot be cancelled inside */
		execl(ISO_ESCAPE_WORKER, "iso_escape_worker", docroot, uid, gid, nsfd, fl,
		      mode, arg, (char *)NULL);
		_exit(127);
	}
	close(op[1]);
	close(ip[0]);
	r->out = op[0];
	r->in = ip[1];
	return 0;
}

static int start(struct run *r, unsigned flags, const char *mode, const char *arg,
		 const char *cpu_seconds)
{
	return start_with(r, flags, mode, arg, cpu_seconds, -1, -1);
}

/* Reads what the worker printed up to n bytes or EOF. */
static void read_out(struct run *r, size_t stop_at_line)
{
	size_t len = strlen(r->text);
	ssize_t n;

	while (len < sizeof(r->text) - 1 &&
	       (n = read(r->out, r->text + len, sizeof(r->text) - 1 - len)) > 0) {
		len += (size_t)n;
		r->text[len] = 0;
		if (stop_at_line && strchr(r->text, '\n'))
			break;
	}
}

static void finish(struct run *r)
{
	if (r->in >= 0)
		close(r->in);
	read_out(r, 0);
	close(r->out);
	if (waitpid(r->pid, &r->status, 0) < 0)
		r->status = -1;
}

static const char *describe(int st)
{
	static char buf[64];

	if (WIFSIGNALED(st))
		snprintf(buf, sizeof(buf), "killed by %s", sigabbrev_np(WTERMSIG(st)) ?: "?");
	else
		snprintf(buf, sizeof(buf), "exit %d", WEXITSTATUS(st));
	return buf;
}

/* One attempt in a fresh sandboxed process; asserts its fate. `detail`, if set,
 * must appear in the worker's line (an errno name or what it saw). */
static void attempt(unsigned flags, const char *name, enum want want, const char *detail)
{
	char expect[128];
	struct run r;
	int ok;

	if (start(&r, flags, via, name, NULL) < 0) {
		CHECK(!"fork/exec of the escape worker");
		return;
	}
	finish(&r);
	r.text[strcspn(r.text, "\n")] = 0;
	switch (want) {
	case SIGSYS_KILL:
		ok = WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGSYS && !r.text[0];
		n_sigsys += ok;
		break;
	case KERNEL_FAULT:
		ok = WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGSEGV && !r.text[0];
		break;
	case REFUSED:
		snprintf(expect, sizeof(expect), "%s refused ", name);
		ok = WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0 &&
		     !strncmp(r.text, expect, strlen(expect));
		n_refused += ok;
		break;
	default:
		snprintf(expect, sizeof(expect), "%s ok ", name);
		ok = WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0 &&
		     !strncmp(r.text, expect, strlen(expect));
	}
	if (ok && detail && !strstr(r.text, detail))
		ok = 0;
	printf("  %-8s %-18s %-16s %s\n",
	       flags & ISO_SANDBOX_NO_SECCOMP ? "layers" : strcmp(via, "attempt") ? "exec" : "full",
	       name, describe(r.status), r.text);
	if (!ok)
		fprintf(stderr, "FAIL attempt %s (%s, %s): %s, \"%s\"\n", name, via,
			flags & ISO_SANDBOX_NO_SECCOMP ? "no seccomp" : "full", describe(r.status),
			r.text);
	CHECK(ok);
}

/* Whether this kernel takes the i386 system-call entry (int 0x80) from a
 * 64-bit process at all. Some do not (built or booted without IA32
 * emulation, or a hypervisor without 32-bit user mode): the instruction
 * then faults (SIGSEGV) before any filter sees it. Tried in a child with
 * no sandbox; anything but that fault counts as taken, the stricter
 * expectation. */
static bool int80_taken(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		signal(SIGSEGV, SIG_DFL); /* not a sanitizer's report: the fault itself */
		long ret = 20; /* getpid there */
		__asm__ volatile("int $0x80" : "+a"(ret) : : "memory");
		_exit(0);
	}
	int st;
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return true;
	return !(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
}

static void test_escapes(void)
{
	static const char *killed[] = {
		"write_root", "create_file", "mkdir", "socket_inet", "socket_unix",
		"execve_sh", "fork", "setuid0", "int80", "mmap_exec", "make_dumpable",
		"mount", "unshare_user", "kill_parent", "ptrace_attach", "process_vm_readv",
		"execveat_other", "write_root_old_open", "tkill_parent",
	};
	unsigned i;

	static const char *const vias[] = {"attempt", "exec-attempt"};
	unsigned v;
	bool int80 = int80_taken();

	if (!int80)
		printf("int 0x80 faults on this kernel even unconfined (no i386 entry): the "
		       "attempt must die of SIGSEGV instead of SIGSYS\n");

	for (v = 0; v < 2; v++) {
		via = vias[v];
		n_sigsys = n_refused = 0;
		printf("escape attempts (full sandbox, %s):\n",
		       v ? "started by iso_sandbox_exec()" : "worker calls iso_sandbox_enter()");
		attempt(0, "read_inside", OK, NULL);
		attempt(0, "read_inside_old_calls", OK, "read_inside_old_calls ok open, stat, lstat");
		attempt(0, "list_root", OK, "list_root ok www,");
		attempt(0, "etc_passwd", REFUSED, "ENOENT");
		attempt(0, "dotdot", REFUSED, "ENOENT");
		attempt(0, "symlink_out", REFUSED, "ENOENT");
		attempt(0, "hugepages", REFUSED, "ENOENT");
		attempt(0, "proc_parent_mem", REFUSED, "ENOENT");
		attempt(0, "inherited_fd", REFUSED, "EBADF");
		attempt(0, "alloc_over_limit", REFUSED, "ENOMEM");
		/* int 0x80 where the kernel has no such entry: the kernel's
		 * fault kills it, before the filter's verdict */
		for (i = 0; i < sizeof(killed) / sizeof(killed[0]); i++)
			attempt(0, killed[i],
				strcmp(killed[i], "int80") || int80 ? SIGSYS_KILL : KERNEL_FAULT, NULL);
		printf("  -> %d killed by SIGSYS, %d refused\n", n_sigsys, n_refused);
		CHECK_EQ(n_sigsys, (int)(sizeof(killed) / sizeof(killed[0])) - !int80);
		CHECK_EQ(n_refused, 7);
	}
	via = "attempt";

	/* The same attempts with no filter: the other layers hold on their own. */
	printf("escape attempts (no seccomp filter: namespaces, uid, limits alone):\n");
	attempt(ISO_SANDBOX_NO_SECCOMP, "write_root", REFUSED, "EROFS");
	attempt(ISO_SANDBOX_NO_SECCOMP, "create_file", REFUSED, "EROFS");
	attempt(ISO_SANDBOX_NO_SECCOMP, "mkdir", REFUSED, "EROFS");
	attempt(ISO_SANDBOX_NO_SECCOMP, "etc_passwd", REFUSED, "ENOENT");
	attempt(ISO_SANDBOX_NO_SECCOMP, "hugepages", REFUSED, "ENOENT");
	attempt(ISO_SANDBOX_NO_SECCOMP, "proc_parent_mem", REFUSED, "ENOENT");
	attempt(ISO_SANDBOX_NO_SECCOMP, "kill_parent", REFUSED, "EPERM");
	attempt(ISO_SANDBOX_NO_SECCOMP, "ptrace_attach", REFUSED, "EPERM");
	attempt(ISO_SANDBOX_NO_SECCOMP, "process_vm_readv", REFUSED, "EPERM");
	attempt(ISO_SANDBOX_NO_SECCOMP, "setuid0", REFUSED, "EPERM");
	attempt(ISO_SANDBOX_NO_SECCOMP, "fork", REFUSED, "EAGAIN");
	attempt(ISO_SANDBOX_NO_SECCOMP, "execve_sh", REFUSED, "ENOENT");
	attempt(ISO_SANDBOX_NO_SECCOMP, "mount", REFUSED, "EPERM");
	attempt(ISO_SANDBOX_NO_SECCOMP, "connect_out", REFUSED, "ENETUNREACH");
	attempt(ISO_SANDBOX_NO_SECCOMP, "net_ifaces", OK, "net_ifaces ok lo:down,");
	attempt(ISO_SANDBOX_NO_SECCOMP, "alloc_over_limit", REFUSED, "ENOMEM");
}

/* The controls: the things refused inside are there and readable outside, so a
 * refusal is the sandbox's doing and not a missing file. */
static void test_controls(void)
{
	struct stat st;
	int fd = open("/etc/passwd", O_RDONLY | O_CLOEXEC);

	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	CHECK_EQ(stat("/dev/hugepages", &st), 0);
	CHECK_EQ(stat("/proc/self/mem", &st), 0);
}

/* Value of "Key:" in a /proc status-style file, or "" if absent. */
static const char *field(const char *text, const char *key, char *out, size_t cap)
{
	const char *p = strstr(text, key);
	size_t n;

	out[0] = 0;
	if (!p)
		return out;
	p += strlen(key);
	p += strspn(p, " \t");
	n = strcspn(p, "\n");
	if (n >= cap)
		n = cap - 1;
	memcpy(out, p, n);
	out[n] = 0;
	return out;
}

static ssize_t slurp(const char *path, char *buf, size_t cap)
{
	ssize_t n, len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	buf[0] = 0;
	if (fd < 0)
		return -errno;
	while (len < (ssize_t)cap - 1 && (n = read(fd, buf + len, cap - 1 - (size_t)len)) > 0)
		len += n;
	buf[len] = 0;
	close(fd);
	return len;
}

static ino_t ino_of(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_ino : 0;
}

/* A confined worker that waits on stdin, examined from outside through
 * /proc/PID as the kernel sees it. */
static void test_held_worker(const char *mode)
{
	static char text[8192];
	char path[96], v[128];
	struct stat st, ns;
	struct run r, peer;
	char pid[16];

	if (start(&r, 0, mode, NULL, NULL) < 0) {
		CHECK(!"fork/exec of the escape worker");
		return;
	}
	read_out(&r, 1);
	CHECK(!strcmp(r.text, "ready\n"));
	if (strcmp(r.text, "ready\n")) {
		fprintf(stderr, "FAIL worker did not get ready: \"%s\"\n", r.text);
		finish(&r);
		return;
	}

	snprintf(path, sizeof(path), "/proc/%d/status", (int)r.pid);
	CHECK(slurp(path, text, sizeof(text)) > 0);
	printf("confined worker %d (%s), from /proc/%d/status:\n", (int)r.pid, mode, (int)r.pid);
	CHECK(!strcmp(field(text, "Uid:", v, sizeof(v)), "62501\t62501\t62501\t62501"));
	printf("  Uid: %s\n", v);
	CHECK(!strcmp(field(text, "Gid:", v, sizeof(v)), "62501\t62501\t62501\t62501"));
	CHECK(!strcmp(field(text, "Groups:", v, sizeof(v)), ""));
	CHECK(!strcmp(field(text, "CapEff:", v, sizeof(v)), "0000000000000000"));
	printf("  CapEff: %s\n", v);
	CHECK(!strcmp(field(text, "CapPrm:", v, sizeof(v)), "0000000000000000"));
	CHECK(!strcmp(field(text, "CapInh:", v, sizeof(v)), "0000000000000000"));
	CHECK(!strcmp(field(text, "CapBnd:", v, sizeof(v)), "0000000000000000"));
	printf("  CapBnd: %s\n", v);
	CHECK(!strcmp(field(text, "CapAmb:", v, sizeof(v)), "0000000000000000"));
	CHECK(!strcmp(field(text, "NoNewPrivs:", v, sizeof(v)), "1"));
	printf("  NoNewPrivs: %s\n", v);
	CHECK(!strcmp(field(text, "Seccomp:", v, sizeof(v)), "2"));
	printf("  Seccomp: %s (filter)\n", v);

	/* Not dumpable: the kernel gives its /proc files to root, not its uid. */
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)r.pid);
	CHECK(stat(path, &st) == 0 && st.st_uid == 0);
	printf("  /proc/%d/mem owner uid %d (not dumpable)\n", (int)r.pid, (int)st.st_uid);

	snprintf(path, sizeof(path), "/proc/%d/limits", (int)r.pid);
	CHECK(slurp(path, text, sizeof(text)) > 0);
	CHECK(strstr(field(text, "Max address space", v, sizeof(v)), "268435456") == v);
	CHECK(strstr(field(text, "Max cpu time", v, sizeof(v)), "5 ") == v);
	CHECK(strstr(field(text, "Max open files", v, sizeof(v)), "32 ") == v);
	CHECK(strstr(field(text, "Max core file size", v, sizeof(v)), "0 ") == v);
	CHECK(strstr(field(text, "Max processes", v, sizeof(v)), "0 ") == v);
	CHECK(strstr(field(text, "Max locked memory", v, sizeof(v)), "0 ") == v);
	printf("  limits: as 256 MiB, cpu 5 s, nofile 32, core 0, nproc 0, memlock 0\n");

	/* Network: the namespace we created, holding only lo, down. */
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)r.pid);
	CHECK(fstat(netns_fd, &ns) == 0 && ino_of(path) == ns.st_ino);
	CHECK(ino_of(path) != ino_of("/proc/self/ns/net"));
	snprintf(path, sizeof(path), "/proc/%d/net/dev", (int)r.pid);
	CHECK(slurp(path, text, sizeof(text)) > 0);
	{
		/* two header lines, then one per interface */
		const char *l = strchr(text, '\n');

		l = l ? strchr(l + 1, '\n') : NULL;
		CHECK(l && strstr(l, "lo:") && !strchr(strstr(l, "lo:"), '\n')[1]);
	}
	/* Files: its own mount namespace, "/" a read-only tmpfs, /www read-only. */
	snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)r.pid);
	CHECK(ino_of(path) != ino_of("/proc/self/ns/mnt"));
	snprintf(path, sizeof(path), "/proc/%d/mounts", (int)r.pid);
	CHECK(slurp(path, text, sizeof(text)) > 0);
	printf("  mounts:\n%s", text);
	{
		int lines = 0, ro = 0;
		char *save = NULL, *l;

		for (l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
			lines++;
			ro += strstr(l, " ro,") != NULL && strstr(l, "nosuid") && strstr(l, "noexec");
		}
		CHECK_EQ(lines, 2);
		CHECK_EQ(ro, 2);
	}

	/* Another process of the same uid, unconfined (a worker of the same uid in
	 * pool mode, say) cannot read or trace it. */
	snprintf(pid, sizeof(pid), "%d", (int)r.pid);
	memset(&peer, 0, sizeof(peer));
	{
		int op[2];

		CHECK_EQ(pipe2(op, O_CLOEXEC), 0);
		peer.pid = fork();
		if (peer.pid == 0) {
			char u[16];

			dup2(op[1], 1);
			snprintf(u, sizeof(u), "%d", UID);
			alarm(30);
			execl(ISO_ESCAPE_WORKER, "iso_escape_worker", "peer", pid, u, u,
			      (char *)NULL);
			_exit(127);
		}
		close(op[1]);
		peer.out = op[0];
		peer.in = -1;
	}
	CHECK(peer.pid > 0);
	if (peer.pid > 0) {
		finish(&peer);
		printf("same uid, unconfined peer against it:\n%s", peer.text);
		CHECK(WIFEXITED(peer.status) && WEXITSTATUS(peer.status) == 0);
		CHECK(strstr(peer.text, "peer_proc_mem refused EACCES\n") != NULL);
		CHECK(strstr(peer.text, "peer_process_vm_readv refused EPERM\n") != NULL);
		CHECK(strstr(peer.text, "peer_ptrace_attach refused EPERM\n") != NULL);
		CHECK(strstr(peer.text, "ESCAPED") == NULL);
	} else {
		close(peer.out);
	}
	finish(&r);
	CHECK(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
}

/* The worker must stop at `step`, before its attempt, saying so. */
static void expect_stop(const char *mode, const char *step)
{
	char expect[128];
	struct run r;

	if (start(&r, 0, mode, "read_inside", NULL) < 0) {
		CHECK(!"fork/exec of the escape worker");
		return;
	}
	finish(&r);
	snprintf(expect, sizeof(expect), "enter FAILED %s:", step);
	CHECK(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 3);
	CHECK(strstr(r.text, expect) == r.text);
	printf("%s: %s", step, r.text);
}

/* A root-owned copy of the worker its uid can run but not read. */
static int copy_program(const char *from, char *to_template, mode_t mode)
{
	char buf[65536];
	ssize_t n = 0;
	int in, out, rc = 0;

	in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -errno;
	out = mkostemp(to_template, O_CLOEXEC);
	if (out < 0) {
		rc = -errno;
		close(in);
		return rc;
	}
	while (rc == 0 && (n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			rc = -EIO;
	if (n < 0 || fchmod(out, mode) < 0)
		rc = -errno;
	close(in);
	close(out);
	return rc;
}

static void *idle_thread(void *arg)
{
	pause();
	return arg;
}

/* A worker whose sandbox cannot be entered stops before reading anything. */
static void test_failures(void)
{
	struct iso_policy p = {.docroot = docroot, .uid = 0, .gid = GID, .netns_fd = -1};
	char saved[sizeof(docroot)];

	CHECK_EQ(iso_sandbox_enter(&p), -EINVAL); /* uid 0 is never a worker uid */
	CHECK(!strcmp(iso_sandbox_failed_step(), "policy"));
	p.uid = UID;
	p.gid = 0;
	CHECK_EQ(iso_sandbox_enter(&p), -EINVAL);
	CHECK_EQ(iso_sandbox_enter(NULL), -EINVAL);

	/* A second thread would keep its namespaces, ids and (without TSYNC) its
	 * freedom: refused before anything changes. In a child, to be safe. */
	{
		pid_t c = fork();
		int st = -1;

		if (c == 0) {
			pthread_t t;

			p.gid = GID;
			if (pthread_create(&t, NULL, idle_thread, NULL))
				_exit(2);
			_exit(iso_sandbox_enter(&p) == -EBUSY &&
			      !strcmp(iso_sandbox_failed_step(), "single-threaded") ? 0 : 1);
		}
		CHECK(c > 0 && waitpid(c, &st, 0) == c);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}

	/* A program the worker uid could read would be dumpable after exec. */
	setenv("BH_ISO_EXEC_PROG", ISO_ESCAPE_WORKER, 1);
	expect_stop("exec-attempt", "program readable by the worker");
	setenv("BH_ISO_EXEC_PROG", prog711, 1);

	memcpy(saved, docroot, sizeof(saved));
	strcpy(docroot, "/nonexistent-bh-docroot");
	expect_stop("attempt", "open docroot");
	memcpy(docroot, saved, sizeof(saved));
}

/* An honest worker does its job under the filter: the channel (mapping, futex
 * sleep and wake) and descriptor passing need nothing the allow-list forbids. */
static void test_serve(void)
{
	struct iso_chan *ch;
	char buf[64], payload[16];
	int memfd = -1, sp[2], fd = -1;
	ssize_t n;
	size_t len = 0;
	struct run r;

	ch = iso_chan_create(0, 0, &memfd);
	CHECK(ch != NULL);
	CHECK_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
	if (!ch)
		return;
	if (start_with(&r, 0, "serve", NULL, NULL, memfd, sp[1]) < 0) {
		CHECK(!"fork/exec of the escape worker");
		close(memfd);
		close(sp[0]);
		close(sp[1]);
		iso_chan_close(ch);
		return;
	}
	close(memfd);
	close(sp[1]);
	usleep(50 * 1000); /* let it go to sleep on its doorbell first */
	CHECK_EQ(iso_chan_write(ch, "index.html\n", 11), 11);
	while (len < sizeof(buf) - 1) {
		n = iso_chan_read(ch, buf + len, sizeof(buf) - 1 - len);
		if (n == -EAGAIN) {
			if (iso_chan_wait(ch, ISO_CHAN_IN, 5000) <= 0)
				break;
			continue;
		}
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = 0;
	CHECK(!strcmp(buf, "sent\n"));
	n = iso_fd_recv(sp[0], &fd, payload, sizeof(payload), ISO_FD_REGULAR);
	CHECK_EQ(n, 4);
	CHECK(fd >= 0);
	if (fd >= 0) {
		n = pread(fd, buf, sizeof(buf) - 1, 0);
		CHECK(n == 23 && !memcmp(buf, "hello from the docroot\n", 23));
		close(fd);
	}
	finish(&r);
	printf("honest worker over its channel, passing a file back: %s\n", describe(r.status));
	CHECK(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
	close(sp[0]);
	iso_chan_close(ch);
}

/* The CPU limit ends a spinning worker (SIGXCPU at the soft limit). */
static void test_cpu_limit(void)
{
	struct run r;

	if (start(&r, 0, "attempt", "cpu_spin", "1") < 0) {
		CHECK(!"fork/exec of the escape worker");
		return;
	}
	finish(&r);
	printf("cpu_spin with a 1 s CPU limit: %s\n", describe(r.status));
	CHECK(WIFSIGNALED(r.status) &&
	      (WTERMSIG(r.status) == SIGXCPU || WTERMSIG(r.status) == SIGKILL));
}

static void bench(void)
{
	struct run r;

	if (start(&r, 0, "bench", "100", NULL) < 0) {
		CHECK(!"fork/exec of the escape worker");
		return;
	}
	finish(&r);
	CHECK(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
	printf("%s", r.text); /* measured, not asserted */
}

int main(void)
{
	char path[128];
	int fds_before, fds_after;

	if (geteuid() != 0) {
		/* Loud, not skipped: the sandbox is set up by root. */
		fprintf(stderr, "FAIL test_iso_sandbox must run as root\n");
		CHECK(geteuid() == 0);
		return bh_test_summary("iso_sandbox");
	}
	fds_before = bh_test_count_fds();
	CHECK(mkdtemp(docroot) != NULL);
	CHECK_EQ(chmod(docroot, 0755), 0);
	write_file("index.html", "hello from the docroot\n", 0644);
	write_file("writable", "", 0666);
	snprintf(path, sizeof(path), "%s/passwd", docroot);
	CHECK_EQ(symlink("/etc/passwd", path), 0);

	CHECK_EQ(copy_program(ISO_ESCAPE_WORKER, prog711, 0711), 0);
	setenv("BH_ISO_EXEC_PROG", prog711, 1);

	netns_fd = iso_netns_create();
	CHECK(netns_fd >= 0);
	if (netns_fd < 0) {
		fprintf(stderr, "FAIL iso_netns_create: %s\n", strerror(-netns_fd));
	} else {
		CHECK(ino_of("/proc/self/ns/net") != 0);
		test_controls();
		test_escapes();
		test_held_worker("hold");
		test_held_worker("exec-hold");
		test_failures();
		test_serve();
		test_cpu_limit();
		bench();
		close(netns_fd);
	}

	unlink(path);
	unlink(prog711);
	snprintf(path, sizeof(path), "%s/index.html", docroot);
	unlink(path);
	snprintf(path, sizeof(path), "%s/writable", docroot);
	unlink(path);
	CHECK_EQ(rmdir(docroot), 0);
	fds_after = bh_test_count_fds();
	CHECK_EQ(fds_after, fds_before); /* no descriptor left behind */
	return bh_test_summary("iso_sandbox");
}
