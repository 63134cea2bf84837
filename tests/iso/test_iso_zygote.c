/* SPDX-License-Identifier: MIT */
/*
 * The zygote, from the NF's side. Its workers are a root-owned, mode 0711
 * copy of the separately built, sanitizer-free iso_chan_echo_worker
 * (ISO_ECHO_WORKER), which echoes frames over its channel.
 *
 * Checks: bad configurations are refused without forking (and a zygote whose
 * setup fails is reaped, saying why); requested workers arrive with three
 * descriptors of the right kinds and distinct uids in range; a frame goes
 * round each worker's channel and the worker wakes this side through the
 * wake pipe; a worker's identity, capabilities, flags, filter, limits,
 * mounts and network as /proc shows them, and its descriptors; the zygote's
 * descriptors, view and network; every way a worker ends comes back as an
 * EXIT with its wait status (exit 0, SIGABRT, SIGSYS, SIGKILL); running out
 * of uids fails with -EUSERS until one is freed; iso_zygote_stop() leaves no
 * worker; the zygote and its workers die with the process that started it.
 * Every test ends with nothing left running and no descriptor left open.
 * Prints the spawn rate (measured, never asserted), with the same burst
 * started the old way (fork + iso_sandbox_exec per worker) for comparison.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bulkhead/iso.h"
#include "lib/iso/iso_test.h"
#include "tests/unit/bh_test.h"

#define UID_BASE 62610 /* stands for a service's reserved range */
#define GID 62610
#define NW 4           /* workers in the functional tests */
#define WAIT_MS 5000

static char docroot[] = "/tmp/bh-iso-zroot.XXXXXX";
static char prog711[] = "/tmp/bh-iso-zprog.XXXXXX"; /* the worker, mode 0711 */
static char *worker_argv[] = {"chan_echo_worker", NULL};
static int efd = -1; /* the wake pipe's read end: we poll it */
static int wfd = -1; /* its write end: the conf's notify_fd */

struct w {
	pid_t pid;
	uid_t uid;
	struct iso_chan *ch;
	int sock, pidfd;
};

static void conf_init(struct iso_zygote_conf *c, uint32_t count)
{
	*c = (struct iso_zygote_conf){
		.prog = prog711,
		.argv = worker_argv,
		.policy = {.docroot = docroot, .netns_fd = -1, .mem_bytes = 64u << 20,
			   .cpu_seconds = 10, .max_fds = 16},
		.uid_base = UID_BASE,
		.uid_count = count,
		.gid = GID,
		.notify_fd = wfd,
		.stderr_fd = 2,
	};
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Next message, waiting up to ms for it: 1, or what iso_zygote_recv said. */
static int next_msg(struct iso_zygote *z, struct iso_zmsg *m, int ms)
{
	struct pollfd pf = {.fd = iso_zygote_fd(z), .events = POLLIN};
	int rc;

	while ((rc = iso_zygote_recv(z, m)) == -EAGAIN)
		if (poll(&pf, 1, ms) <= 0)
			return -ETIMEDOUT;
	return rc;
}

static void close_msg(struct iso_zmsg *m)
{
	if (m->chan_fd >= 0)
		close(m->chan_fd);
	if (m->sock_fd >= 0)
		close(m->sock_fd);
	if (m->pidfd >= 0)
		close(m->pidfd);
}

/* The next message must be a WORKER: its channel attached as the trusted side. */
static int get_worker(struct iso_zygote *z, struct w *w)
{
	struct iso_zmsg m;
	int rc = next_msg(z, &m, WAIT_MS);

	memset(w, 0, sizeof(*w));
	w->sock = w->pidfd = -1;
	CHECK_EQ(rc, 1);
	if (rc != 1)
		return -1;
	CHECK_EQ(m.type, ISO_Z_WORKER);
	if (m.type != ISO_Z_WORKER) {
		fprintf(stderr, "FAIL expected a worker, got type %d status %d\n", m.type, m.status);
		close_msg(&m);
		return -1;
	}
	w->ch = iso_chan_attach(m.chan_fd, ISO_SIDE_TRUSTED);
	CHECK(w->ch != NULL);
	close(m.chan_fd);
	w->pid = m.pid;
	w->uid = m.uid;
	w->sock = m.sock_fd;
	w->pidfd = m.pidfd;
	return w->ch ? 0 : -1;
}

static void put_worker(struct w *w)
{
	iso_chan_close(w->ch);
	if (w->sock >= 0)
		close(w->sock);
	if (w->pidfd >= 0)
		close(w->pidfd);
	memset(w, 0, sizeof(*w));
	w->sock = w->pidfd = -1;
}

/* The next message must be the EXIT of w: returns its wait status (or -1). */
static int exit_of(struct iso_zygote *z, const struct w *w)
{
	struct iso_zmsg m;
	int rc = next_msg(z, &m, WAIT_MS);

	CHECK_EQ(rc, 1);
	if (rc != 1)
		return -1;
	CHECK(m.type == ISO_Z_EXIT && m.pid == w->pid && m.uid == w->uid);
	CHECK(m.chan_fd == -1 && m.sock_fd == -1 && m.pidfd == -1);
	close_msg(&m);
	return m.type == ISO_Z_EXIT ? m.status : -1;
}

static bool gone(pid_t pid)
{
	char path[32];

	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	return access(path, F_OK) < 0 && errno == ENOENT;
}

/* This process has no child left, not even a zombie. */
static void check_no_children(void)
{
	int st;

	CHECK(waitpid(-1, &st, WNOHANG) == -1 && errno == ECHILD);
}

/* The end of every test: nothing left running, no descriptor left open. */
static void check_clean(int fds)
{
	check_no_children();
	CHECK_EQ(bh_test_count_fds(), fds);
}

/* A zygote with count uids (NULL, counted as a failure, if it cannot start). */
static struct iso_zygote *zygote(uint32_t count, int notify_fd)
{
	struct iso_zygote_conf c;
	struct iso_zygote *z;

	conf_init(&c, count);
	c.notify_fd = notify_fd;
	z = iso_zygote_start(&c);
	CHECK(z != NULL);
	return z;
}

/* /proc/PID/name, or /proc/self/name for pid 0. */
static const char *proc_path(pid_t pid, const char *name, char *path, size_t cap)
{
	if (pid)
		snprintf(path, cap, "/proc/%d/%s", (int)pid, name);
	else
		snprintf(path, cap, "/proc/self/%s", name);
	return path;
}

/* A /proc file's text (as much as fits); its length, or -1. */
static ssize_t proc_read(pid_t pid, const char *name, char *buf, size_t cap)
{
	char path[64];
	FILE *f = fopen(proc_path(pid, name, path, sizeof(path)), "re");
	size_t n = f ? fread(buf, 1, cap - 1, f) : 0;

	buf[n] = 0;
	if (!f)
		return -1;
	fclose(f);
	return (ssize_t)n;
}

/* What follows `key` (and blanks) up to the end of its line, in out. */
static const char *value_of(const char *text, const char *key, char *out, size_t cap)
{
	const char *p = strstr(text, key);

	p = p ? p + strlen(key) + strspn(p + strlen(key), " \t") : "";
	snprintf(out, cap, "%.*s", (int)strcspn(p, "\n"), p);
	return out;
}

/* Where descriptor fd of pid (0: ours) points. */
static const char *link_of(pid_t pid, int fd, char *out, size_t cap)
{
	char name[32], path[64];
	ssize_t n;

	snprintf(name, sizeof(name), "fd/%d", fd);
	n = readlink(proc_path(pid, name, path, sizeof(path)), out, cap - 1);
	out[n > 0 ? n : 0] = 0;
	return out;
}

/* The inode of a namespace of pid (0: ours), 0 if there is none. */
static ino_t ns_of(pid_t pid, const char *ns)
{
	char name[32], path[64];
	struct stat st;

	snprintf(name, sizeof(name), "ns/%s", ns);
	return stat(proc_path(pid, name, path, sizeof(path)), &st) == 0 ? st.st_ino : 0;
}

/* The descriptors of /proc/PID/fd as a bit set (0..63), or -1 past 63. */
static long long fd_set_of(pid_t pid)
{
	char path[32];
	long long set = 0;
	struct dirent *de;
	DIR *d = opendir(proc_path(pid, "fd", path, sizeof(path)));

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.') {
			int fd = atoi(de->d_name);

			set = fd < 64 && set >= 0 ? set | 1ll << fd : -1;
		}
	closedir(d);
	return set;
}

static pid_t ppid_of(pid_t pid)
{
	char text[4096], v[32];

	if (proc_read(pid, "status", text, sizeof(text)) <= 0)
		return -1;
	return (pid_t)atoi(value_of(text, "PPid:", v, sizeof(v)));
}

/* The worker as root's 0711 file in a temp directory: its uids may run it
 * but not read it. */
static int install_worker(void)
{
	int in = open(ISO_ECHO_WORKER, O_RDONLY | O_CLOEXEC), out = mkostemp(prog711, O_CLOEXEC);
	struct stat st;
	int rc = -1;

	if (in >= 0 && out >= 0 && fstat(in, &st) == 0 &&
	    copy_file_range(in, NULL, out, NULL, (size_t)st.st_size, 0) == st.st_size)
		rc = fchmod(out, 0711);
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return rc;
}

/* ------------------------------------------------------------------ */

static void expect_refused(const struct iso_zygote_conf *c, int err, const char *what)
{
	struct iso_zygote *z;

	errno = 0;
	z = iso_zygote_start(c);
	CHECK(z == NULL);
	if (z) {
		iso_zygote_stop(z);
		return;
	}
	if (errno != err)
		fprintf(stderr, "FAIL %s: errno %s, expected %s\n", what, strerrorname_np(errno),
			strerrorname_np(err));
	CHECK_EQ(errno, err);
	printf("  %-36s refused %s\n", what, strerrorname_np(errno));
}

static void test_bad_confs(void)
{
	struct iso_zygote_conf c;
	int fds = bh_test_count_fds(), p[2];
	char line[256] = "";
	ssize_t n;

	static const struct {
		const char *what;
		int err;
	} bad[] = {
		{"relative program path", EINVAL},
		{"uid_base 0", EINVAL},
		{"gid 0", EINVAL},
		{"uid_count 0", EINVAL},
		{"ring size not a power of two", EINVAL},
		{"notify_fd not open", EBADF},
		{"notify_fd readable (workers could read away wake-ups)", EINVAL},
		{"program readable by the workers", EACCES},
		{"program a directory", EACCES},
		{"program missing", ENOENT},
		{"docroot missing", ENOENT},
	};
	unsigned i;

	printf("bad configurations:\n");
	expect_refused(NULL, EINVAL, "no configuration");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		conf_init(&c, NW);
		switch (i) {
		case 0: c.prog = "chan_echo_worker"; break;
		case 1: c.uid_base = 0; break;
		case 2: c.gid = 0; break;
		case 3: c.uid_count = 0; break;
		case 4: c.chan_to_worker = 5000; break;
		case 5: c.notify_fd = 1000; break;
		case 6: c.notify_fd = efd; break; /* the read end */
		case 7: c.prog = ISO_ECHO_WORKER; break; /* as built: 0755 */
		case 8: c.prog = "/tmp"; break;
		case 9: c.prog = "/nonexistent-bh-worker"; break;
		default: c.policy.docroot = "/nonexistent-bh-docroot";
		}
		expect_refused(&c, bad[i].err, bad[i].what);
	}
	/* Nothing was forked for any of these. */
	check_no_children();

	/* One that only the zygote can find wrong: a "network namespace" that
	 * is a pipe. It is reaped, and says why on its stderr. */
	conf_init(&c, NW);
	CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
	c.policy.netns_fd = efd;
	c.stderr_fd = p[1];
	expect_refused(&c, EINVAL, "netns_fd not a namespace");
	close(p[1]);
	n = read(p[0], line, sizeof(line) - 1);
	line[n > 0 ? n : 0] = 0;
	close(p[0]);
	printf("    the zygote said: %s", line);
	CHECK(strstr(line, "iso_zygote: setup failed: setns(CLONE_NEWNET): ") == line);
	check_clean(fds);
}

/* A worker's descriptors as the NF receives them. */
static void check_kinds(const struct iso_zmsg *m)
{
	char l[128];
	struct stat st;
	int type = 0;
	socklen_t len = sizeof(type);

	CHECK(fstat(m->chan_fd, &st) == 0 && S_ISREG(st.st_mode));
	CHECK_EQ(fcntl(m->chan_fd, F_GET_SEALS), F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	link_of(0, m->chan_fd, l, sizeof(l));
	CHECK(!strncmp(l, "/memfd:", 7));
	CHECK(fstat(m->sock_fd, &st) == 0 && S_ISSOCK(st.st_mode));
	CHECK(getsockopt(m->sock_fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
	      type == SOCK_SEQPACKET);
	link_of(0, m->pidfd, l, sizeof(l));
	CHECK(!strcmp(l, "anon_inode:[pidfd]"));
	CHECK(fcntl(m->chan_fd, F_GETFD) == FD_CLOEXEC && fcntl(m->sock_fd, F_GETFD) == FD_CLOEXEC &&
	      fcntl(m->pidfd, F_GETFD) == FD_CLOEXEC);
}

/* One frame round the worker's channel; the worker must wake us through the
 * wake pipe (we sleep on it, not on the channel). */
static void round_trip(struct iso_zygote *z, struct w *w, int i)
{
	char msg[32], back[64];
	struct pollfd pf = {.fd = efd, .events = POLLIN};
	struct iso_frame f;
	struct iso_zmsg m;
	uint64_t v;
	int len = snprintf(msg, sizeof(msg), "hello worker %d", i), rc;

	CHECK_EQ(iso_chan_arm(w->ch, ISO_CHAN_IN), 0);
	CHECK_EQ(iso_frame_send(w->ch, 7, ISO_F_DATA, 0, msg, (uint32_t)len), 0);
	CHECK_EQ(poll(&pf, 1, WAIT_MS), 1);
	CHECK(read(efd, &v, sizeof(v)) == sizeof(v) && v >= 1);
	CHECK_EQ(iso_zygote_recv(z, &m), -EAGAIN); /* so the wake was the worker's */
	rc = iso_frame_recv(w->ch, &f, back, sizeof(back));
	CHECK_EQ(rc, 1);
	CHECK(rc == 1 && f.stream == 7 && f.type == ISO_F_DATA && f.len == (uint32_t)len &&
	      !memcmp(back, msg, (size_t)len));
	iso_chan_disarm(w->ch);
}

/* Keys of a /proc file and the value each must have (or start with). */
struct want {
	const char *key, *value;
};

static void check_values(pid_t pid, const char *name, const struct want *w, unsigned n,
			 bool prefix)
{
	static char text[8192];
	char v[128];
	unsigned i;

	CHECK(proc_read(pid, name, text, sizeof(text)) > 0);
	for (i = 0; i < n; i++) {
		bool ok;

		value_of(text, w[i].key, v, sizeof(v));
		ok = prefix ? !strncmp(v, w[i].value, strlen(w[i].value)) : !strcmp(v, w[i].value);
		if (!ok)
			fprintf(stderr, "FAIL /proc/%d/%s: %s \"%s\", expected \"%s\"\n", (int)pid,
				name, w[i].key, v, w[i].value);
		CHECK(ok);
	}
}

/* Exactly the descriptors in `set`, the first n of them pointing at what
 * links[] says (a prefix). */
static void check_fds(pid_t pid, long long set, const char *const *links, int n)
{
	char l[256];
	int fd;

	CHECK_EQ(fd_set_of(pid), set);
	for (fd = 0; fd < n; fd++)
		if (links[fd])
			CHECK(!strncmp(link_of(pid, fd, l, sizeof(l)), links[fd], strlen(links[fd])));
}

/* The view: a read-only tmpfs "/" and a read-only /www, nothing else; and a
 * network namespace that is not ours, holding only lo. */
static void check_view(pid_t pid)
{
	static char text[8192];
	char *save = NULL, *l;
	int lines = 0, ro = 0;

	CHECK(proc_read(pid, "mounts", text, sizeof(text)) > 0);
	for (l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save), lines++)
		ro += strstr(l, " ro,") && strstr(l, "nosuid") && strstr(l, "noexec") &&
		      (!strncmp(l, "iso-root / tmpfs ", 17) || strstr(l, " /www "));
	CHECK_EQ(lines, 2);
	CHECK_EQ(ro, 2);
	CHECK(ns_of(pid, "mnt") != 0 && ns_of(pid, "mnt") != ns_of(0, "mnt"));
	CHECK(ns_of(pid, "net") != 0 && ns_of(pid, "net") != ns_of(0, "net"));
	CHECK(proc_read(pid, "net/dev", text, sizeof(text)) > 0);
	l = strchr(text, '\n');
	l = l ? strchr(l + 1, '\n') : NULL; /* two header lines, then one per interface */
	CHECK(l && strstr(l, "lo:") && !strchr(strstr(l, "lo:"), '\n')[1]);
}

/* What the kernel says about a confined worker. */
static void check_confined(const struct w *w, bool verbose)
{
	static const char *const links[] = {"/dev/null", "/dev/null", NULL, NULL, "socket:",
					    "pipe:"};
	char uids[64], gids[64], path[64];
	const struct want status[] = {
		{"Uid:", uids}, {"Gid:", gids}, {"Groups:", ""},
		{"CapInh:", "0000000000000000"}, {"CapPrm:", "0000000000000000"},
		{"CapEff:", "0000000000000000"}, {"CapBnd:", "0000000000000000"},
		{"CapAmb:", "0000000000000000"}, {"NoNewPrivs:", "1"}, {"Seccomp:", "2"},
	};
	static const struct want limits[] = {
		{"Max address space", "67108864 "}, {"Max cpu time", "10 "},
		{"Max open files", "16 "}, {"Max processes", "0 "}, {"Max core file size", "0 "},
	};
	struct stat st;

	snprintf(uids, sizeof(uids), "%u\t%u\t%u\t%u", w->uid, w->uid, w->uid, w->uid);
	snprintf(gids, sizeof(gids), "%u\t%u\t%u\t%u", GID, GID, GID, GID);
	check_values(w->pid, "status", status, sizeof(status) / sizeof(status[0]), false);
	CHECK_EQ(sched_getscheduler(w->pid), SCHED_BATCH);
	/* Not dumpable: the kernel gives its /proc files to root. */
	CHECK(stat(proc_path(w->pid, "mem", path, sizeof(path)), &st) == 0 && st.st_uid == 0);
	if (!verbose)
		return;
	printf("  worker %d: Uid and Gid %s, no groups, Cap{Inh,Prm,Eff,Bnd,Amb} 0, "
	       "NoNewPrivs 1, Seccomp 2, not dumpable, SCHED_BATCH\n", (int)w->pid, uids);
	check_values(w->pid, "limits", limits, sizeof(limits) / sizeof(limits[0]), true);
	check_view(w->pid);
	printf("  limits as configured; mounts: read-only tmpfs / and /www only; netns: lo only\n");
	/* /dev/null on 0 and 1, our stderr on 2, its socket and the notify
	 * wake pipe; the channel's memfd it closed itself after mapping it, and the
	 * program's descriptor went at exec. */
	check_fds(w->pid, 0x37, links, 6);
	printf("  its descriptors: 0, 1 /dev/null, 2 stderr, 4 socket, 5 the wake pipe (write end)\n");
}

/* The zygote holds exactly what it needs, lives in the view, and is root. */
static void check_zygote(pid_t zpid, const struct w *w)
{
	static const struct want status[] = {{"Uid:", "0\t"}};
	char err[256], text[512], v[32];
	const char *const links[] = {"/dev/null", "/dev/null", link_of(0, 2, err, sizeof(err)),
				     "socket:", "anon_inode:[signalfd]", "pipe:",
				     prog711};

	printf("zygote %d:\n", (int)zpid);
	check_fds(zpid, 0x7f, links, 7);
	printf("  descriptors: 0, 1 /dev/null, 2 stderr, 3 control socket, 4 signalfd, "
	       "5 the wake pipe, 6 %s\n", prog711);
	/* The program is close-on-exec: it never reaches a worker's program. */
	CHECK(proc_read(zpid, "fdinfo/6", text, sizeof(text)) > 0 &&
	      (strtoul(value_of(text, "flags:", v, sizeof(v)), NULL, 8) & O_CLOEXEC));
	check_view(zpid);
	CHECK(ns_of(zpid, "mnt") == ns_of(w->pid, "mnt") && ns_of(zpid, "net") == ns_of(w->pid, "net"));
	check_values(zpid, "status", status, 1, true);
	printf("  in the view (same mount and network namespaces as its workers), uid 0\n");
}

static void test_workers(void)
{
	struct iso_zygote *z;
	struct w w[NW];
	pid_t zpid = 0;
	uint64_t v;
	int fds = bh_test_count_fds(), i, j;

	z = zygote(8, wfd);
	if (!z)
		return;
	while (read(efd, &v, sizeof(v)) > 0)
		;
	CHECK_EQ(iso_zygote_request(z, NW), 0);
	printf("%d workers:\n", NW);
	for (i = 0; i < NW; i++) {
		struct iso_zmsg m;
		int rc = next_msg(z, &m, WAIT_MS);

		memset(&w[i], 0, sizeof(w[i]));
		w[i].sock = w[i].pidfd = -1;
		CHECK_EQ(rc, 1);
		CHECK_EQ(m.type, ISO_Z_WORKER);
		if (rc != 1 || m.type != ISO_Z_WORKER) {
			if (rc == 1)
				close_msg(&m);
			continue;
		}
		check_kinds(&m);
		CHECK(m.uid >= UID_BASE && m.uid < UID_BASE + 8);
		for (j = 0; j < i; j++)
			CHECK(w[j].uid != m.uid && w[j].pid != m.pid);
		w[i].ch = iso_chan_attach(m.chan_fd, ISO_SIDE_TRUSTED);
		CHECK(w[i].ch != NULL);
		close(m.chan_fd);
		w[i].pid = m.pid;
		w[i].uid = m.uid;
		w[i].sock = m.sock_fd;
		w[i].pidfd = m.pidfd;
		printf("  worker %d uid %u\n", (int)m.pid, m.uid);
	}
	/* The zygote woke us for them (it writes after it sent, so maybe not yet). */
	{
		struct pollfd pf = {.fd = efd, .events = POLLIN};

		CHECK_EQ(poll(&pf, 1, WAIT_MS), 1);
		CHECK(read(efd, &v, sizeof(v)) == sizeof(v) && v >= 1);
		/* From here on the zygote has nothing to say (no worker comes or
		 * goes), so a wake-up is a worker's. */
		usleep(20 * 1000);
		while (read(efd, &v, sizeof(v)) > 0)
			;
	}
	for (i = 0; i < NW; i++)
		if (w[i].ch)
			round_trip(z, &w[i], i);
	printf("  a frame round each worker's channel, each woke us by the wake pipe\n");
	for (i = 0; i < NW; i++)
		if (w[i].ch)
			check_confined(&w[i], i == 0);
	if (w[0].ch) {
		zpid = ppid_of(w[0].pid);
		for (i = 1; i < NW; i++)
			CHECK_EQ(ppid_of(w[i].pid), zpid);
		CHECK(zpid > 0 && zpid != getpid());
		check_zygote(zpid, &w[0]);
	}
	/* The end of its channel is the end of a worker: exit 0. */
	for (i = 0; i < NW; i++) {
		int st;

		if (!w[i].ch)
			continue;
		CHECK_EQ(iso_chan_shutdown(w[i].ch), 0);
		st = exit_of(z, &w[i]);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		CHECK(gone(w[i].pid));
		put_worker(&w[i]);
	}
	printf("  channel shut down: each EXIT with status 0\n");
	iso_zygote_stop(z);
	CHECK(zpid <= 0 || gone(zpid));
	check_clean(fds);
}

static void test_deaths(void)
{
	static const char *how[] = {"crash", "syscall", "SIGKILL by pidfd", "iso_zygote_kill"};
	static const int sig[] = {SIGABRT, SIGSYS, SIGKILL, SIGKILL};
	struct iso_zygote *z;
	struct w w[4];
	int fds = bh_test_count_fds(), i, st;

	z = zygote(8, wfd);
	if (!z)
		return;
	printf("workers that end badly:\n");
	CHECK_EQ(iso_zygote_request(z, 4), 0);
	for (i = 0; i < 4; i++)
		get_worker(z, &w[i]);
	for (i = 0; i < 4; i++) {
		if (!w[i].ch)
			continue;
		if (i < 2)
			CHECK_EQ(iso_frame_send(w[i].ch, 1, ISO_F_DATA, 0, how[i],
						(uint32_t)strlen(how[i])), 0);
		else if (i == 2)
			CHECK_EQ(pidfd_send_signal(w[i].pidfd, SIGKILL, NULL, 0), 0);
		else
			CHECK_EQ(iso_zygote_kill(z, w[i].pid), 0);
		st = exit_of(z, &w[i]);
		printf("  %-18s EXIT, killed by SIG%s\n", how[i],
		       WIFSIGNALED(st) ? sigabbrev_np(WTERMSIG(st)) : "(none: not killed)");
		CHECK(WIFSIGNALED(st) && WTERMSIG(st) == sig[i]);
		CHECK(gone(w[i].pid));
		put_worker(&w[i]);
	}
	iso_zygote_stop(z);
	check_clean(fds);
}

/* Without a wake pipe a worker's descriptor 5 is /dev/null, never free: a
 * file it opens can not land where the filter forbids F_SETFL. */
static void test_no_pipe(void)
{
	struct iso_zygote *z;
	struct w w;
	char l[128];
	int fds = bh_test_count_fds(), st;

	z = zygote(2, -1);
	if (!z)
		return;
	CHECK_EQ(iso_zygote_request(z, 1), 0);
	if (get_worker(z, &w) == 0) {
		CHECK(!strcmp(link_of(w.pid, 5, l, sizeof(l)), "/dev/null"));
		printf("no wake pipe: the worker's descriptor 5 is %s\n", l);
		CHECK_EQ(iso_chan_shutdown(w.ch), 0);
		st = exit_of(z, &w);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		put_worker(&w);
	}
	iso_zygote_stop(z);
	check_clean(fds);
}

static void test_uids(void)
{
	struct iso_zygote *z;
	struct iso_zmsg m;
	struct w a, b, d;
	int fds = bh_test_count_fds(), st;

	z = zygote(2, wfd);
	if (!z)
		return;
	CHECK_EQ(iso_zygote_request(z, 3), 0);
	get_worker(z, &a);
	get_worker(z, &b);
	CHECK(a.uid != b.uid);
	CHECK_EQ(next_msg(z, &m, WAIT_MS), 1);
	CHECK(m.type == ISO_Z_FAILED && m.status == -EUSERS);
	CHECK(m.chan_fd == -1 && m.sock_fd == -1 && m.pidfd == -1);
	printf("uids: 2 in the range, 3 asked: %u, %u, then FAILED %s\n", a.uid, b.uid,
	       strerrorname_np(-m.status));
	CHECK_EQ(iso_chan_shutdown(a.ch), 0);
	st = exit_of(z, &a);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK_EQ(iso_zygote_request(z, 1), 0);
	if (get_worker(z, &d) == 0) {
		CHECK_EQ(d.uid, a.uid);
		printf("  after uid %u's worker exited, the next worker has uid %u\n", a.uid, d.uid);
		put_worker(&d);
	}
	put_worker(&a);
	put_worker(&b);
	iso_zygote_stop(z);
	check_clean(fds);
}

static void test_stop(void)
{
	struct iso_zygote *z;
	struct w w[3];
	pid_t zpid = 0;
	int fds = bh_test_count_fds(), i;

	z = zygote(8, wfd);
	if (!z)
		return;
	CHECK_EQ(iso_zygote_request(z, 3), 0);
	for (i = 0; i < 3; i++)
		get_worker(z, &w[i]);
	if (w[0].pid)
		zpid = ppid_of(w[0].pid);
	CHECK(zpid > 0);
	iso_zygote_stop(z);
	for (i = 0; i < 3; i++) {
		struct pollfd pf = {.fd = w[i].pidfd, .events = POLLIN};

		CHECK(w[i].pid && gone(w[i].pid));
		CHECK_EQ(poll(&pf, 1, 0), 1); /* the pidfd says it exited */
		put_worker(&w[i]);
	}
	CHECK(zpid > 0 && gone(zpid));
	printf("iso_zygote_stop() with 3 live workers: zygote and workers gone from /proc\n");
	check_clean(fds);
}

/* One frame round the channel, sleeping on the channel itself. */
static int echo_once(struct w *w)
{
	struct iso_frame f;
	char back[8];
	int rc;

	if (!w->ch || iso_frame_send(w->ch, 1, ISO_F_DATA, 0, "ping", 4) < 0)
		return -1;
	while ((rc = iso_frame_recv(w->ch, &f, back, sizeof(back))) == -EAGAIN)
		if (iso_chan_wait(w->ch, ISO_CHAN_IN, WAIT_MS) <= 0)
			return -1;
	return rc == 1 ? 0 : -1;
}

/* The process that started the zygote is SIGKILLed: the zygote and its workers
 * follow. We are their subreaper meanwhile, so we see how they died. */
static void test_parent_death(void)
{
	int p[2], fds = bh_test_count_fds(), found = 0, bad = 0, st, i;
	pid_t c, pids[3] = {0, 0, 0};
	char line[64] = "";
	double deadline;
	ssize_t n;

	CHECK_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
	CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
	c = fork();
	if (c == 0) {
		struct iso_zygote_conf conf;
		struct iso_zygote *z;
		struct w a = {0}, b = {0};

		conf_init(&conf, 8);
		z = iso_zygote_start(&conf);
		/* Each answers once first, so it runs the program (confined)
		 * when its zygote goes. */
		if (z && iso_zygote_request(z, 2) == 0) {
			get_worker(z, &a);
			get_worker(z, &b);
			echo_once(&a);
			echo_once(&b);
		}
		snprintf(line, sizeof(line), "%d %d %d\n", a.pid ? (int)ppid_of(a.pid) : 0,
			 (int)a.pid, (int)b.pid);
		if (write(p[1], line, strlen(line)) < 0)
			_exit(1);
		for (;;)
			pause();
	}
	close(p[1]);
	n = read(p[0], line, sizeof(line) - 1);
	line[n > 0 ? n : 0] = 0;
	close(p[0]);
	CHECK(sscanf(line, "%d %d %d", &pids[0], &pids[1], &pids[2]) == 3);
	CHECK(c > 0 && pids[0] > 0 && pids[1] > 0 && pids[2] > 0);
	if (c > 0) {
		kill(c, SIGKILL);
		CHECK(waitpid(c, &st, 0) == c && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	}
	/* Either the zygote's PDEATHSIG takes it (SIGKILL), and its workers
	 * theirs, all three then ours to reap; or it sees its control socket
	 * close first, kills and reaps its workers itself and exits 0. */
	deadline = now_ms() + WAIT_MS;
	while (now_ms() < deadline && !(gone(pids[0]) && gone(pids[1]) && gone(pids[2]))) {
		pid_t r = waitpid(-1, &st, WNOHANG);

		if (r <= 0) {
			usleep(1000);
			continue;
		}
		for (i = 0; i < 3; i++)
			if (r == pids[i]) {
				found++;
				bad += !((WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) ||
					 (i == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0));
			}
	}
	CHECK(found >= 1); /* the zygote, at least */
	CHECK_EQ(bad, 0);
	for (i = 0; i < 3; i++)
		CHECK(pids[i] > 0 && gone(pids[i]));
	printf("the process that started the zygote SIGKILLed: zygote %d and workers %d, %d "
	       "killed too\n", pids[0], pids[1], pids[2]);
	CHECK_EQ(prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0), 0);
	check_clean(fds);
}

/* ------------------------------------------------------------------ */
/* Spawn rate: measured, printed, never asserted.                       */

#define BURST 2000
#define INFLIGHT 64

/* A burst through the zygote: every worker is started, attached, told to end
 * (its channel shut down) and reaped, with up to INFLIGHT alive at once. */
static void spawn_rate(void)
{
	struct iso_zygote *z;
	int asked, made = 0, ended = 0, bad = 0, fds = bh_test_count_fds();
	double t0, t1, lat = 0;

	z = zygote(INFLIGHT, -1);
	if (!z)
		return;
	/* Latency first: one worker at a time, asked to arrived. */
	for (asked = 0; asked < 50; asked++) {
		struct w w;

		t0 = now_ms();
		iso_zygote_request(z, 1);
		if (get_worker(z, &w) < 0)
			break;
		lat += now_ms() - t0;
		iso_chan_shutdown(w.ch);
		exit_of(z, &w);
		put_worker(&w);
	}
	t0 = now_ms();
	CHECK_EQ(iso_zygote_request(z, INFLIGHT), 0);
	asked = INFLIGHT;
	while (ended < BURST) {
		struct iso_zmsg m;
		struct iso_chan *ch;

		if (next_msg(z, &m, WAIT_MS) != 1)
			break;
		if (m.type == ISO_Z_WORKER) {
			made++;
			ch = iso_chan_attach(m.chan_fd, ISO_SIDE_TRUSTED);
			if (!ch)
				bad++;
			iso_chan_shutdown(ch);
			iso_chan_close(ch);
		} else {
			ended += m.type == ISO_Z_EXIT;
			bad += m.type != ISO_Z_EXIT || !WIFEXITED(m.status) || WEXITSTATUS(m.status);
			if (asked < BURST && iso_zygote_request(z, 1) == 0)
				asked++;
		}
		close_msg(&m);
	}
	t1 = now_ms();
	CHECK_EQ(ended, BURST);
	CHECK_EQ(made, BURST);
	CHECK_EQ(bad, 0);
	printf("spawn rate, zygote: %d workers started, attached, ended and reaped in %.0f ms: "
	       "%.0f workers/s, %.3f ms per worker (up to %d alive); one at a time, "
	       "request to arrival %.3f ms\n",
	       BURST, t1 - t0, BURST * 1000.0 / (t1 - t0), (t1 - t0) / BURST, INFLIGHT,
	       lat / 50);
	iso_zygote_stop(z);
	check_clean(fds);
}

/* The same burst the old way: fork and a whole iso_sandbox_exec() per worker. */
static pid_t spawn_old(const struct iso_policy *base, int prog, int netns, uid_t uid)
{
	static const int keep[] = {0, 1, 2, ISO_WORKER_CHAN_FD, ISO_WORKER_SOCK_FD};
	struct iso_chan *ch;
	int memfd, sv[2];
	pid_t pid;

	ch = iso_chan_create(0, 0, &memfd);
	if (!ch)
		return -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		iso_chan_close(ch);
		close(memfd);
		return -1;
	}
	pid = fork();
	if (pid == 0) {
		struct iso_policy p = *base;
		int null = open("/dev/null", O_RDWR);

		p.uid = uid;
		p.netns_fd = netns;
		p.keep_fds = keep;
		p.n_keep_fds = 5;
		if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 ||
		    dup2(memfd, ISO_WORKER_CHAN_FD) < 0 || dup2(sv[1], ISO_WORKER_SOCK_FD) < 0)
			_exit(125);
		iso_sandbox_exec(&p, prog, worker_argv, NULL);
		_exit(ISO_WORKER_UNCONFINED);
	}
	close(memfd);
	close(sv[0]);
	close(sv[1]);
	iso_chan_shutdown(ch); /* it ends as soon as it looks */
	iso_chan_close(ch);
	return pid;
}

static void spawn_rate_old(int n)
{
	struct iso_policy p = {.docroot = docroot, .gid = GID, .mem_bytes = 64u << 20,
			       .cpu_seconds = 10, .max_fds = 16};
	int prog = open(prog711, O_PATH | O_CLOEXEC), netns = iso_netns_create();
	int alive = 0, started = 0, ended = 0, bad = 0, st, fd;
	pid_t slot[INFLIGHT + 1] = {0};
	double t0, t1;

	CHECK(prog >= 0 && netns >= 0);
	/* Out of the way of the worker's 3 and 4. */
	fd = fcntl(prog, F_DUPFD_CLOEXEC, 10);
	close(prog);
	prog = fd;
	fd = fcntl(netns, F_DUPFD_CLOEXEC, 10);
	close(netns);
	netns = fd;
	/* Each live worker a uid of its own, as the zygote does: exec refuses a
	 * process whose new uid already has one (RLIMIT_NPROC 0). */
	t0 = now_ms();
	while (ended < n && prog >= 0 && netns >= 0) {
		pid_t pid;
		int i;

		if (started < n && alive < INFLIGHT) {
			for (i = 0; slot[i]; i++)
				;
			pid = spawn_old(&p, prog, netns, UID_BASE + (uid_t)i);
			started++;
			if (pid < 0) {
				bad++;
				ended++;
				continue;
			}
			slot[i] = pid;
			alive++;
			continue;
		}
		pid = waitpid(-1, &st, 0);
		if (pid <= 0)
			break;
		for (i = 0; i < INFLIGHT; i++)
			if (slot[i] == pid)
				slot[i] = 0;
		alive--;
		ended++;
		bad += !WIFEXITED(st) || WEXITSTATUS(st);
	}
	t1 = now_ms();
	CHECK_EQ(bad, 0);
	printf("spawn rate, fork + iso_sandbox_exec() per worker from this process: %d in "
	       "%.0f ms: %.0f workers/s, %.3f ms per worker\n",
	       n, t1 - t0, n * 1000.0 / (t1 - t0), (t1 - t0) / n);
	if (prog >= 0)
		close(prog);
	if (netns >= 0)
		close(netns);
	check_no_children();
}

int main(void)
{
	int fds = bh_test_count_fds();

	/* Loud, not skipped: only root can start a zygote. */
	CHECK(geteuid() == 0);
	if (geteuid() != 0)
		return bh_test_summary("iso_zygote");
	setvbuf(stdout, NULL, _IOLBF, 0);
	int wp[2];
	CHECK_EQ(pipe2(wp, O_NONBLOCK | O_CLOEXEC), 0);
	efd = wp[0];
	wfd = wp[1];
	CHECK(mkdtemp(docroot) != NULL); /* an empty docroot will do */
	CHECK_EQ(install_worker(), 0);

	test_bad_confs();
	test_workers();
	test_deaths();
	test_uids();
	test_no_pipe();
	test_stop();
	test_parent_death();
	spawn_rate();
	spawn_rate_old(500);

	close(efd);
	close(wfd);
	unlink(prog711);
	CHECK_EQ(rmdir(docroot), 0);
	check_clean(fds);
	return bh_test_summary("iso_zygote");
}
