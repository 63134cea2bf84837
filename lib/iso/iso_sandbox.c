/* SPDX-License-Identifier: MIT */
/*
 * The worker sandbox: namespaces, rlimits, uid, capabilities, no-new-privs,
 * non-dumpable, then a seccomp allow-list. docs/isolation.md ("Sandbox") explains
 * each step; the comments here say why the order is what it is.
 *
 * Ordering constraints, in short:
 *  - everything needing privilege (setns, mounts, bounding set) happens while we
 *    are still root; setrlimit lowers hard limits, which also needs no privilege
 *    but is done before the uid change so nothing can race it;
 *  - PR_SET_DUMPABLE and PR_SET_PDEATHSIG are reset by a credential change, so
 *    they come after setresuid;
 *  - the seccomp filter is last, so none of the calls above need to be allowed.
 *
 * In three parts, so that a zygote pays for what every worker shares only once:
 * prepare() compiles the filter, view() enters the namespaces and empties the
 * bounding set (steps 2, 3, 5), and confine() is what each process takes for
 * itself (steps 4, 6-10).
 * iso_sandbox_enter() and iso_sandbox_exec() run all three in one process.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <grp.h>

#include "bulkhead/iso.h"

static const char *failed_step = "";

const char *iso_sandbox_failed_step(void)
{
	return failed_step;
}

/* Records the failing step and turns errno into the return value. */
static int fail_at(const char *step, int err)
{
	failed_step = step;
	return err > 0 ? -err : (err < 0 ? err : -EINVAL);
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

/* Closes every descriptor but the kept ones, so nothing the trusted side had open
 * (hugepage files, other channels, sockets) survives into the worker. */
static int close_other_fds(const int *keep, unsigned n)
{
	int sorted[64];
	unsigned i;
	unsigned lo = 0;

	if (n > 64)
		return -E2BIG;
	memcpy(sorted, keep, n * sizeof(*keep));
	qsort(sorted, n, sizeof(*sorted), cmp_int);
	for (i = 0; i < n; i++) {
		if (sorted[i] < 0)
			return -EBADF;
		if ((unsigned)sorted[i] > lo &&
		    syscall(SYS_close_range, lo, (unsigned)sorted[i] - 1, 0) < 0)
			return -errno;
		lo = (unsigned)sorted[i] + 1;
	}
	if (syscall(SYS_close_range, lo, ~0u, 0) < 0)
		return -errno;
	return 0;
}

/* Threads of this process, from /proc/self/task (still in view at this point). */
static int count_threads(void)
{
	struct dirent *de;
	DIR *d = opendir("/proc/self/task");
	int n = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static int join_netns(int fd)
{
	if (fd >= 0) {
		if (setns(fd, CLONE_NEWNET) < 0)
			return -errno;
		close(fd);
		return 0;
	}
	return unshare(CLONE_NEWNET) < 0 ? -errno : 0;
}

/*
 * A private mount namespace whose root is a small read-only tmpfs holding only
 * the document root, bound read-only at ISO_SANDBOX_DOCROOT. No /proc, no /dev,
 * no /tmp: a worker reads files and talks over descriptors it was given.
 */
static int enter_mount_view(const char *docroot)
{
	const unsigned long lock = MS_NOSUID | MS_NODEV | MS_NOEXEC;
	char src[64];
	int dfd = -1, rc;

	if (unshare(CLONE_NEWNS) < 0)
		return fail_at("unshare(CLONE_NEWNS)", errno);
	/* Our mounts and unmounts must not propagate back to the host. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return fail_at("make / private", errno);
	/* Held by descriptor so a docroot under /tmp survives the tmpfs put there. */
	dfd = open(docroot, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return fail_at("open docroot", errno);
	snprintf(src, sizeof(src), "/proc/self/fd/%d", dfd);
	if (mount("iso-root", "/tmp", "tmpfs", lock, "size=16k,nr_inodes=16,mode=0755") < 0) {
		rc = fail_at("mount tmpfs", errno);
		goto fail;
	}
	if (mkdir("/tmp" ISO_SANDBOX_DOCROOT, 0755) < 0) {
		rc = fail_at("mkdir docroot", errno);
		goto fail;
	}
	/* Not MS_REC: mounts below the docroot on the host stay out of view. */
	if (mount(src, "/tmp" ISO_SANDBOX_DOCROOT, NULL, MS_BIND, NULL) < 0) {
		rc = fail_at("bind docroot", errno);
		goto fail;
	}
	close(dfd);
	dfd = -1;
	/* A bind mount takes its own flags only on remount. */
	if (mount(NULL, "/tmp" ISO_SANDBOX_DOCROOT, NULL,
		  MS_REMOUNT | MS_BIND | MS_RDONLY | lock, NULL) < 0)
		return fail_at("remount docroot read-only", errno);
	/* pivot_root(".", "."): the old root ends up stacked on the new one and is
	 * detached at once, so no path leads back to the host's tree. */
	if (chdir("/tmp") < 0)
		return fail_at("chdir new root", errno);
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return fail_at("pivot_root", errno);
	if (umount2(".", MNT_DETACH) < 0)
		return fail_at("detach old root", errno);
	if (chdir("/") < 0)
		return fail_at("chdir /", errno);
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY | lock, NULL) < 0)
		return fail_at("remount root read-only", errno);
	if (chdir(ISO_SANDBOX_DOCROOT) < 0)
		return fail_at("chdir docroot", errno);
	return 0;
fail:
	if (dfd >= 0)
		close(dfd);
	return rc;
}

static int set_limit(int res, uint64_t v)
{
	struct rlimit rl = {.rlim_cur = v, .rlim_max = v};

	if (res == RLIMIT_CPU && v) /* SIGXCPU at the soft limit, SIGKILL a second on */
		rl.rlim_max = v + 1;
	return setrlimit(res, &rl) < 0 ? -errno : 0;
}

static int set_limits(const struct iso_policy *p)
{
	struct {
		int res;
		uint64_t v;
		const char *name;
	} lim[] = {
		{RLIMIT_AS, p->mem_bytes ? p->mem_bytes : RLIM_INFINITY, "RLIMIT_AS"},
		{RLIMIT_CPU, p->cpu_seconds ? p->cpu_seconds : RLIM_INFINITY, "RLIMIT_CPU"},
		{RLIMIT_NOFILE, p->max_fds ? p->max_fds : 64, "RLIMIT_NOFILE"},
		{RLIMIT_CORE, 0, "RLIMIT_CORE"},
		{RLIMIT_NPROC, 0, "RLIMIT_NPROC"},
		{RLIMIT_MEMLOCK, 0, "RLIMIT_MEMLOCK"},
		{RLIMIT_MSGQUEUE, 0, "RLIMIT_MSGQUEUE"},
	};
	unsigned i;
	int rc;

	for (i = 0; i < sizeof(lim) / sizeof(lim[0]); i++) {
		if (lim[i].v == RLIM_INFINITY && lim[i].res != RLIMIT_NOFILE)
			continue; /* leave as inherited */
		rc = set_limit(lim[i].res, lim[i].v);
		if (rc < 0)
			return fail_at(lim[i].name, -rc);
	}
	return 0;
}

/* Empties the bounding and ambient sets while we still hold CAP_SETPCAP; the
 * uid change below then clears permitted/effective/inheritable. */
static int drop_bounding_caps(void)
{
	int cap;

	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		return fail_at("clear ambient caps", errno);
	for (cap = 0; cap <= 63; cap++) {
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			if (errno == EINVAL)
				break; /* past the kernel's last capability */
			return fail_at("PR_CAPBSET_DROP", errno);
		}
	}
	return 0;
}

static int change_ids(uid_t uid, gid_t gid)
{
	uid_t r, e, s;
	gid_t rg, eg, sg;

	if (setgroups(0, NULL) < 0)
		return fail_at("setgroups", errno);
	if (setresgid(gid, gid, gid) < 0)
		return fail_at("setresgid", errno);
	if (setresuid(uid, uid, uid) < 0)
		return fail_at("setresuid", errno);
	if (getresuid(&r, &e, &s) < 0 || r != uid || e != uid || s != uid)
		return fail_at("verify uid", EPERM);
	if (getresgid(&rg, &eg, &sg) < 0 || rg != gid || eg != gid || sg != gid)
		return fail_at("verify gid", EPERM);
	if (getgroups(0, NULL) != 0)
		return fail_at("verify groups", EPERM);
	return 0;
}

/* After the uid change the kernel has emptied permitted and effective; set them
 * to empty explicitly anyway and verify, so a SECBIT_KEEP_CAPS inherited from
 * somewhere cannot leave anything behind. */
static int clear_caps(void)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2];
	int cap;

	memset(d, 0, sizeof(d));
	if (syscall(SYS_capset, &h, d) < 0)
		return fail_at("capset", errno);
	memset(d, 0xff, sizeof(d));
	if (syscall(SYS_capget, &h, d) < 0)
		return fail_at("capget", errno);
	if (d[0].effective | d[0].permitted | d[0].inheritable | d[1].effective |
	    d[1].permitted | d[1].inheritable)
		return fail_at("verify caps empty", EPERM);
	for (cap = 0; cap <= 63; cap++) {
		int in = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);

		if (in < 0)
			break;
		if (in)
			return fail_at("verify bounding set empty", EPERM);
	}
	return 0;
}

static int rule(scmp_filter_ctx ctx, int nr)
{
	return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
}

/*
 * For iso_sandbox_exec(): the one exec, and what a statically linked program's
 * start-up needs (glibc: TLS, thread pointer, robust list, rseq, reading
 * RLIMIT_STACK, readlink of /proc/self/exe - answered ENOENT, there is no /proc).
 * The path argument of execveat cannot be checked, but with AT_EMPTY_PATH and a
 * regular file as dirfd a non-empty relative path fails (ENOTDIR) and an
 * absolute one lands in the view, which is noexec.
 */
static int add_exec_rules(scmp_filter_ctx ctx, int exec_fd)
{
	int rc;

	rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(execveat), 2,
			      SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)exec_fd),
			      SCMP_A4(SCMP_CMP_EQ, AT_EMPTY_PATH));
	if (!rc)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(arch_prctl), 1,
				      SCMP_A0(SCMP_CMP_EQ, 0x1002 /* ARCH_SET_FS */));
	if (!rc)
		rc = rule(ctx, SCMP_SYS(set_tid_address));
	if (!rc)
		rc = rule(ctx, SCMP_SYS(set_robust_list));
	if (!rc)
		rc = rule(ctx, SCMP_SYS(rseq));
	/* Reading its own limits only: pid 0, no new value. */
	if (!rc)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 2,
				      SCMP_A0(SCMP_CMP_EQ, 0), SCMP_A2(SCMP_CMP_EQ, 0));
	if (!rc)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOENT), SCMP_SYS(readlink), 0);
	return rc;
}

/*
 * The allow-list. Default: kill the whole process (SIGSYS), so a forbidden call
 * is never a silent error the worker can probe around, and the trusted side sees
 * it and counts it. Anything not named here is forbidden - socket, connect,
 * execve, fork/clone, ptrace, process_vm_*, mount, set*id, kill of others, ...
 *
 * "Its own pid" is written as SELF_PID, a value no pid can have (pid_max is at
 * most 2^22) and no other rule uses, and replaced by the confined process's pid
 * just before loading: one compiled filter then serves every worker a zygote
 * forks (load_prepared()).
 */
#define SELF_PID 0x5eed1d5u
#define OPEN_WRITE_FLAGS (O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND | (O_TMPFILE & ~O_DIRECTORY))

static int build_filter(scmp_filter_ctx ctx, int exec_fd)
{
	static const int plain[] = {
		/* I/O on descriptors it already holds (channel, files it opened) */
		SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev),
		SCMP_SYS(pread64), SCMP_SYS(close), SCMP_SYS(lseek), SCMP_SYS(fstat),
		SCMP_SYS(newfstatat), SCMP_SYS(statx), SCMP_SYS(getdents64),
		SCMP_SYS(stat), SCMP_SYS(lstat), /* musl's stat() and lstat() */
		/* fd passing over the inherited channel socket */
		SCMP_SYS(sendmsg), SCMP_SYS(recvmsg),
		/* waiting: futex doorbells, poll/epoll over its own descriptors */
		SCMP_SYS(futex), SCMP_SYS(ppoll), SCMP_SYS(poll), SCMP_SYS(epoll_wait),
		SCMP_SYS(epoll_pwait), SCMP_SYS(epoll_ctl), SCMP_SYS(epoll_create1),
		/* malloc */
		SCMP_SYS(brk), SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(madvise),
		/* time, identity of self, signals to self */
		SCMP_SYS(clock_gettime), SCMP_SYS(gettimeofday), SCMP_SYS(clock_nanosleep),
		SCMP_SYS(nanosleep), SCMP_SYS(getpid), SCMP_SYS(gettid),
		SCMP_SYS(rt_sigreturn), SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigaction),
		SCMP_SYS(restart_syscall), SCMP_SYS(sched_yield), SCMP_SYS(getrandom),
		SCMP_SYS(exit), SCMP_SYS(exit_group),
	};
	unsigned i;
	int rc = 0;

	for (i = 0; i < sizeof(plain) / sizeof(plain[0]) && !rc; i++)
		rc = rule(ctx, plain[i]);
	/* Memory, but never executable: no new code can be mapped or made runnable. */
	if (!rc)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
				      SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	if (!rc)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
				      SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	/* Read-only opens only: any access mode but O_RDONLY, or O_CREAT, O_TRUNC,
	 * O_APPEND, O_TMPFILE is a violation (the mount is read-only anyway). */
	if (!rc)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
				      SCMP_A2(SCMP_CMP_MASKED_EQ, OPEN_WRITE_FLAGS, 0));
	/* The same for open(), flags one argument earlier: musl's open() is it. */
	if (!rc)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(open), 1,
				      SCMP_A1(SCMP_CMP_MASKED_EQ, OPEN_WRITE_FLAGS, 0));
	/* openat2 hides its flags in a struct seccomp cannot read: answer ENOSYS so
	 * a library falls back to openat, which is checked above. */
	if (!rc)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(openat2), 0);
	/* fcntl for descriptor flags and reading seals (iso_chan_attach) only:
	 * F_SETOWN/F_SETSIG would aim signals at other processes. F_SETFL not on
	 * the wake pipe every worker shares (its O_NONBLOCK is everyone's). */
	for (i = 0; !rc && i < 4; i++) {
		static const int cmds[] = {F_GETFL, F_GETFD, F_SETFD, F_GET_SEALS};

		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 1,
				      SCMP_A1(SCMP_CMP_EQ, cmds[i]));
	}
	if (!rc)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 2,
				      SCMP_A0(SCMP_CMP_NE, ISO_WORKER_NOTIFY_FD),
				      SCMP_A1(SCMP_CMP_EQ, F_SETFL));
	/* Signals only to itself: abort() is tgkill on its own pid (glibc) or
	 * tkill on its own thread id (musl), which is its pid when it has one
	 * thread - and a worker cannot make another. */
	for (i = 0; !rc && i < 3; i++) {
		static const int sigs[] = {SCMP_SYS(kill), SCMP_SYS(tgkill), SCMP_SYS(tkill)};

		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, sigs[i], 1,
				      SCMP_A0(SCMP_CMP_EQ, SELF_PID));
	}
	if (!rc && exec_fd >= 0)
		rc = add_exec_rules(ctx, exec_fd);
	if (rc)
		return fail_at("seccomp_rule_add", -rc);
	/* Other architectures (int 0x80, x32) hit the bad-arch action: kill. */
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	/* Should a thread exist after all, it gets the filter too or the load fails
	 * (libseccomp's load would use the flag; load_prepared() passes it itself). */
	if (!rc)
		rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	/* The same rules as a binary search on the syscall number rather than a
	 * list: each process's load costs the kernel a walk of the filter for
	 * every syscall number (the seccomp action cache), half the load time
	 * with a list this long. */
	if (!rc)
		rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	return rc ? fail_at("seccomp_attr_set", -rc) : 0;
}

/* What a process needs to confine itself that is the same for every worker of
 * a policy: the filter, compiled to BPF once (libseccomp's compiler is the
 * costly part of the filter), with the places that name "its own pid". */
struct iso_sandbox_prep {
	struct sock_filter *insns; /* NULL: ISO_SANDBOX_NO_SECCOMP */
	unsigned short len;
	unsigned short n_self;
	unsigned short self_at[8]; /* instructions comparing with SELF_PID */
	int exec_fd;
};

/* The BPF libseccomp would load, through seccomp_export_bpf() (to a memfd:
 * libseccomp 2.5 exports only to a descriptor), and where SELF_PID is in it.
 * SELF_PID must appear only as the operand of a "jump if equal" (the
 * comparison of an argument's low word): anything else means the compiler
 * changed in a way this does not know, and the filter is refused. */
static int export_filter(scmp_filter_ctx ctx, struct iso_sandbox_prep *sp)
{
	ssize_t size;
	unsigned i;
	int fd, rc;

	fd = memfd_create("iso-filter", MFD_CLOEXEC);
	if (fd < 0)
		return fail_at("seccomp_export_bpf", errno);
	rc = seccomp_export_bpf(ctx, fd);
	size = lseek(fd, 0, SEEK_END);
	if (rc || size <= 0 || size % sizeof(struct sock_filter) ||
	    size > BPF_MAXINSNS * (ssize_t)sizeof(struct sock_filter)) {
		close(fd);
		return fail_at("seccomp_export_bpf", rc ? -rc : EPROTO);
	}
	sp->insns = malloc((size_t)size);
	if (!sp->insns || pread(fd, sp->insns, (size_t)size, 0) != size) {
		close(fd);
		return fail_at("seccomp_export_bpf", sp->insns ? EIO : ENOMEM);
	}
	close(fd);
	sp->len = (unsigned short)(size / sizeof(struct sock_filter));
	for (i = 0; i < sp->len; i++) {
		if (sp->insns[i].k != SELF_PID)
			continue;
		if (sp->insns[i].code != (BPF_JMP | BPF_JEQ | BPF_K) ||
		    sp->n_self == sizeof(sp->self_at) / sizeof(sp->self_at[0]))
			return fail_at("seccomp_export_bpf", EPROTO);
		sp->self_at[sp->n_self++] = (unsigned short)i;
	}
	return sp->n_self ? 0 : fail_at("seccomp_export_bpf", EPROTO);
}

void iso_sandbox_prep_free(struct iso_sandbox_prep *sp)
{
	if (sp) {
		free(sp->insns);
		free(sp);
	}
}

static struct iso_sandbox_prep *prepare(const struct iso_policy *p, int exec_fd)
{
	struct iso_sandbox_prep *sp = calloc(1, sizeof(*sp));
	scmp_filter_ctx ctx;
	int rc;

	if (!sp) {
		errno = -fail_at("prepare", ENOMEM);
		return NULL;
	}
	sp->exec_fd = exec_fd;
	if (p->flags & ISO_SANDBOX_NO_SECCOMP)
		return sp;
	ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (!ctx) {
		rc = fail_at("seccomp_init", ENOMEM);
	} else {
		rc = build_filter(ctx, exec_fd);
		if (!rc)
			rc = export_filter(ctx, sp);
		seccomp_release(ctx);
	}
	if (rc < 0) {
		iso_sandbox_prep_free(sp);
		errno = -rc;
		return NULL;
	}
	return sp;
}

struct iso_sandbox_prep *iso_sandbox_prepare(const struct iso_policy *p, int prog_fd)
{
	failed_step = "";
	if (!p) {
		errno = -fail_at("policy", EINVAL);
		return NULL;
	}
	return prepare(p, prog_fd);
}

/* Loads the prepared filter with "its own pid" set to ours: the same call
 * libseccomp's seccomp_load() makes with TSYNC (seccomp(2), never prctl), which
 * returns a thread's id if that thread could not take the filter. */
static int load_prepared(struct iso_sandbox_prep *sp)
{
	struct sock_fprog prog = {.len = sp->len, .filter = sp->insns};
	uint32_t self = (uint32_t)getpid();
	long rc;
	unsigned i;

	for (i = 0; i < sp->n_self; i++)
		sp->insns[sp->self_at[i]].k = self;
	rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog);
	if (rc < 0)
		return fail_at("seccomp_load", errno);
	return rc ? fail_at("seccomp_load", ESRCH) : 0;
}

/* Steps 2, 3 and 5: what every worker of a policy shares - the namespaces, and
 * a bounding set that is empty (it can only ever shrink, and a child inherits
 * it: once emptied in a zygote, it is empty in every worker). The caller keeps
 * its effective capabilities for the steps that follow. */
static int view(const struct iso_policy *p)
{
	int rc = join_netns(p->netns_fd);

	if (rc < 0)
		return fail_at(p->netns_fd >= 0 ? "setns(CLONE_NEWNET)" : "unshare(CLONE_NEWNET)", -rc);
	rc = enter_mount_view(p->docroot);
	return rc < 0 ? rc : drop_bounding_caps();
}

/* Steps 4 and 6 to 10: what each process takes for itself, from the limits to
 * the filter, after view(). `parent` is the process it must not outlive. */
static int confine(const struct iso_policy *p, struct iso_sandbox_prep *sp, pid_t parent)
{
	int rc;

	/* 4. Limits, hard = soft so they cannot be raised again. */
	rc = set_limits(p);
	if (rc < 0)
		return rc;
	/* 5. The bounding set was emptied with the view; the ambient set is per
	 *    process (and a uid change clears it anyway). */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		return fail_at("clear ambient caps", errno);
	/* 6. Identity; then every capability set read back, the bounding set too. */
	rc = change_ids(p->uid, p->gid);
	if (rc < 0)
		return rc;
	rc = clear_caps();
	if (rc < 0)
		return rc;
	/* 7. Reset by the credential change above, hence here. Not dumpable: no core,
	 *    /proc/PID/mem and ptrace refused even to a process of the same uid. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return fail_at("PR_SET_DUMPABLE", errno);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		return fail_at("PR_SET_PDEATHSIG", errno);
	if (getppid() != parent) /* it died before the line above took effect */
		return fail_at("parent exited", ESRCH);
	/* 8. No setuid/file-capability gain ever again, and seccomp without root. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return fail_at("PR_SET_NO_NEW_PRIVS", errno);
	if (!sp->insns)
		return 0;
	/* 9. Last: the system call allow-list. */
	return load_prepared(sp);
}

/* Step 1 with the policy's descriptors and up to two more of ours. */
static int close_all_but(const struct iso_policy *p, int a, int b)
{
	int keep[65];
	unsigned n = p->n_keep_fds;
	int rc;

	if (n)
		memcpy(keep, p->keep_fds, n * sizeof(int));
	if (a >= 0)
		keep[n++] = a;
	if (b >= 0)
		keep[n++] = b;
	rc = close_other_fds(keep, n);
	return rc < 0 ? fail_at("close descriptors", -rc) : 0;
}

/* Ids that are never root's, and room for our own descriptors beside the kept ones. */
static int ids_ok(const struct iso_policy *p)
{
	return p && p->uid != 0 && p->gid != 0 && p->n_keep_fds <= 63;
}

static int enter(const struct iso_policy *p, int exec_fd)
{
	struct iso_sandbox_prep *sp;
	pid_t parent = getppid();
	int rc;

	failed_step = "";
	if (!ids_ok(p) || !p->docroot)
		return fail_at("policy", EINVAL);
	/* Namespaces, ids and the filter are per thread in places: another thread
	 * would escape some of them. */
	rc = count_threads();
	if (rc != 1)
		return fail_at("single-threaded", rc < 0 ? -rc : EBUSY);
	sp = prepare(p, exec_fd);
	if (!sp)
		return -errno;
	/* 1. Descriptors: nothing of the trusted side's survives. */
	rc = close_all_but(p, p->netns_fd, exec_fd);
	/* 2, 3, 5. Network: a namespace with no interface up; files: the read-only
	 * document root and nothing else; no capability can come back. */
	if (!rc)
		rc = view(p);
	if (!rc)
		rc = confine(p, sp, parent);
	/* A loaded filter is the kernel's copy: ours can go. */
	iso_sandbox_prep_free(sp);
	return rc;
}

int iso_sandbox_enter(const struct iso_policy *p)
{
	return enter(p, -1);
}

/* Whether uid/gid (no supplementary groups) may read a file of this mode. */
static int readable_by(const struct stat *st, uid_t uid, gid_t gid)
{
	if (st->st_uid == uid)
		return !!(st->st_mode & S_IRUSR);
	if (st->st_gid == gid)
		return !!(st->st_mode & S_IRGRP);
	return !!(st->st_mode & S_IROTH);
}

/* The program iso_sandbox_exec() and iso_sandbox_exec_prepared() may start. */
static int check_program(const struct iso_policy *p, int prog_fd)
{
	struct stat st;

	if (fstat(prog_fd, &st) < 0)
		return fail_at("program", errno);
	if (!S_ISREG(st.st_mode))
		return fail_at("program", EACCES);
	/* exec makes a process dumpable again unless its uid cannot read the file
	 * (the kernel's would_dump); refuse rather than run ptrace-able. */
	if (readable_by(&st, p->uid, p->gid))
		return fail_at("program readable by the worker", EPERM);
	/* Gone from the new image's descriptor table. */
	if (fcntl(prog_fd, F_SETFD, FD_CLOEXEC) < 0)
		return fail_at("program", errno);
	return 0;
}

static int exec_program(int prog_fd, char *const argv[], char *const envp[])
{
	static char *const no_env[] = {NULL};

	syscall(SYS_execveat, prog_fd, "", argv, envp ? envp : no_env, AT_EMPTY_PATH);
	return fail_at("execveat", errno);
}

int iso_sandbox_exec(const struct iso_policy *p, int prog_fd, char *const argv[],
		     char *const envp[])
{
	int rc;

	failed_step = "";
	if (!p || prog_fd < 0 || !argv || !argv[0])
		return fail_at("policy", EINVAL);
	rc = check_program(p, prog_fd);
	if (rc < 0)
		return rc;
	rc = enter(p, prog_fd);
	return rc < 0 ? rc : exec_program(prog_fd, argv, envp);
}

int iso_sandbox_enter_view(const struct iso_policy *p)
{
	int rc;

	failed_step = "";
	if (!p || !p->docroot)
		return fail_at("policy", EINVAL);
	rc = count_threads();
	if (rc != 1)
		return fail_at("single-threaded", rc < 0 ? -rc : EBUSY);
	return view(p);
}

int iso_sandbox_exec_prepared(struct iso_sandbox_prep *sp, const struct iso_policy *p,
			      pid_t parent, char *const argv[], char *const envp[])
{
	int rc;

	failed_step = "";
	if (!sp || sp->exec_fd < 0 || !ids_ok(p) || !argv || !argv[0])
		return fail_at("policy", EINVAL);
	rc = check_program(p, sp->exec_fd);
	if (!rc)
		rc = close_all_but(p, sp->exec_fd, -1);
	if (!rc)
		rc = confine(p, sp, parent);
	return rc < 0 ? rc : exec_program(sp->exec_fd, argv, envp);
}

int iso_netns_create(void)
{
	int old, fd;

	old = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (old < 0)
		return -errno;
	if (unshare(CLONE_NEWNET) < 0) {
		fd = -errno;
		close(old);
		return fd;
	}
	fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fd = -errno;
	if (setns(old, CLONE_NEWNET) < 0) {
		close(old);
		if (fd >= 0)
			close(fd);
		return -ENOTRECOVERABLE;
	}
	close(old);
	return fd;
}
