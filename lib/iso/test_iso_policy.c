/* SPDX-License-Identifier: MIT */
/*
 * A service's isolation policy: every option's good and bad values (a bad
 * one leaves the policy as it was), the checks across fields, the key names,
 * and the file: applied line by line, refused when malformed, oversized, not
 * root's or writable by others, a symlink, a line its callback refuses; no
 * file is no policy. Every test leaves no fd behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bulkhead/iso.h"
#include "lib/iso/iso_test.h"
#include "tests/unit/bh_test.h"

static char err[512];

static int set(struct iso_service_policy *p, const char *opt, const char *val)
{
	err[0] = 0;
	return iso_policy_set(p, opt, val, err, sizeof(err));
}

/* A bad value: -EINVAL, a line naming the option, the policy untouched. */
static void refused(const char *opt, const char *val)
{
	struct iso_service_policy p, before;
	iso_policy_init(&p);
	before = p;
	CHECK_EQ(set(&p, opt, val), -EINVAL);
	char want[64];
	snprintf(want, sizeof(want), "--%s: ", opt);
	CHECK(strncmp(err, want, strlen(want)) == 0);
	CHECK(memcmp(&p, &before, sizeof(p)) == 0);
}

static void test_values(void)
{
	struct iso_service_policy p;
	iso_policy_init(&p);
	CHECK_EQ(p.unit, ISO_UNIT_NONE);
	CHECK_EQ(p.uid_base, 2000000000u);
	CHECK_EQ(p.uid_count, 65536u);
	CHECK_EQ(p.mem, 256ull << 20);
	CHECK_EQ(p.spares, 16u);
	CHECK_EQ(p.worker_conns, 1024u);
	CHECK_EQ(p.inline_max, 16384u);
	CHECK_EQ(p.spin_ms, 1000u);
	CHECK_EQ(p.worker[0], 0);

	CHECK_EQ(set(&p, "isolation", "connection"), 0);
	CHECK_EQ(p.unit, ISO_UNIT_CONNECTION);
	CHECK_EQ(set(&p, "isolation", "client"), 0);
	CHECK_EQ(p.unit, ISO_UNIT_CLIENT);
	CHECK_EQ(set(&p, "isolation", "pool:4096"), 0);
	CHECK_EQ(p.unit, ISO_UNIT_POOL);
	CHECK_EQ(p.pool_n, 4096u);
	CHECK_EQ(set(&p, "isolation", "none"), 0);
	CHECK_EQ(p.unit, ISO_UNIT_NONE);
	CHECK_EQ(set(&p, "recycle", "scrub"), 0);
	CHECK(p.scrub);
	CHECK_EQ(set(&p, "recycle", "fresh"), 0);
	CHECK(!p.scrub);
	CHECK_EQ(set(&p, "worker", "/usr/libexec/bh-http-worker"), 0);
	CHECK(strcmp(p.worker, "/usr/libexec/bh-http-worker") == 0);
	CHECK_EQ(set(&p, "uid-range", "3000000:100"), 0);
	CHECK_EQ(p.uid_base, 3000000u);
	CHECK_EQ(p.uid_count, 100u);
	CHECK_EQ(set(&p, "worker-mem", "64m"), 0);
	CHECK_EQ(p.mem, 64ull << 20);
	CHECK_EQ(set(&p, "worker-mem", "1g"), 0);
	CHECK_EQ(p.mem, 1ull << 30);
	CHECK_EQ(set(&p, "worker-cpu-s", "0"), 0);
	CHECK_EQ(set(&p, "worker-cpu-s", "86400"), 0);
	CHECK_EQ(p.cpu_s, 86400u);
	CHECK_EQ(set(&p, "worker-spin-ms", "0"), 0);
	CHECK_EQ(p.spin_ms, 0u);
	CHECK_EQ(set(&p, "worker-spin-ms", "250"), 0);
	CHECK_EQ(p.spin_ms, 250u);
	CHECK_EQ(set(&p, "worker-fds", "8"), 0);
	CHECK_EQ(p.fds, 8u);
	CHECK_EQ(set(&p, "worker-idle-ms", "250"), 0);
	CHECK_EQ(p.idle_ms, 250u);
	CHECK_EQ(set(&p, "spares", "0"), 0);
	CHECK_EQ(p.spares, 0u);
	CHECK_EQ(set(&p, "worker-conns", "524288"), 0);
	CHECK_EQ(p.worker_conns, 524288u);
	CHECK_EQ(set(&p, "inline-max", "64k"), 0);
	CHECK_EQ(p.inline_max, 65536u);
	CHECK_EQ(set(&p, "inline-max", "0"), 0);
	CHECK_EQ(p.inline_max, 0u);
	CHECK_EQ(set(&p, "root", "/srv"), -ENOENT);

	refused("isolation", "");
	refused("isolation", "conn");
	refused("isolation", "pool:");
	refused("isolation", "pool:0");
	refused("isolation", "pool:4097");
	refused("isolation", "pool:2x");
	refused("isolation", "pool:-1");
	refused("recycle", "Fresh");
	refused("worker", "bh-http-worker");
	refused("worker", "");
	refused("worker", "/a\nb");
	char longp[300];
	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = 0;
	refused("worker", longp);
	refused("uid-range", "0:10");
	refused("uid-range", "100");
	refused("uid-range", "100:");
	refused("uid-range", ":10");
	refused("uid-range", "100:0");
	refused("uid-range", "100:1048577");
	refused("uid-range", "4294967290:10");
	refused("uid-range", "-5:10");
	refused("uid-range", "5:10x");
	refused("worker-mem", "1m");
	refused("worker-mem", "2t");
	refused("worker-mem", "");
	refused("worker-cpu-s", "86401");
	refused("worker-cpu-s", "1k");
	refused("worker-spin-ms", "86400001");
	refused("worker-spin-ms", "-1");
	refused("worker-fds", "7");
	refused("worker-fds", "65537");
	refused("worker-idle-ms", "0");
	refused("spares", "4097");
	refused("spares", " 1");
	refused("worker-conns", "0");
	refused("worker-conns", "524289");
	refused("inline-max", "4g");
	refused("inline-max", "+1");
}

static void test_check(void)
{
	struct iso_service_policy p;
	iso_policy_init(&p);
	CHECK_EQ(iso_policy_check(&p, err, sizeof(err)), 0); /* none needs nothing */
	CHECK_EQ(set(&p, "isolation", "connection"), 0);
	CHECK_EQ(iso_policy_check(&p, err, sizeof(err)), -EINVAL); /* no worker */
	CHECK(strstr(err, "worker") != NULL);
	CHECK_EQ(set(&p, "worker", "/w"), 0);
	CHECK_EQ(iso_policy_check(&p, err, sizeof(err)), 0);
	CHECK_EQ(set(&p, "uid-range", "1000:16"), 0); /* 16 spares need 17 */
	CHECK_EQ(iso_policy_check(&p, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "uid-range") != NULL);
	CHECK_EQ(set(&p, "spares", "15"), 0);
	CHECK_EQ(iso_policy_check(&p, err, sizeof(err)), 0);
	CHECK_EQ(set(&p, "isolation", "pool:17"), 0);
	CHECK_EQ(iso_policy_check(&p, err, sizeof(err)), -EINVAL);
	CHECK_EQ(set(&p, "isolation", "pool:16"), 0);
	CHECK_EQ(iso_policy_check(&p, err, sizeof(err)), 0);
	CHECK_EQ(set(&p, "recycle", "scrub"), 0);
	CHECK_EQ(iso_policy_check(&p, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "pool") != NULL);
}

static void test_keys(void)
{
	unsigned n = 0;
	for (const char *const *k = iso_policy_keys; *k; k++, n++) {
		const char *opt = iso_policy_option(*k);
		CHECK(opt != NULL);
		/* every key's option is one iso_policy_set knows */
		struct iso_service_policy p;
		iso_policy_init(&p);
		CHECK(set(&p, opt, "x") != -ENOENT);
	}
	CHECK_EQ(n, 12u);
	CHECK(strcmp(iso_policy_option("unit"), "isolation") == 0);
	CHECK(strcmp(iso_policy_option("worker_idle_ms"), "worker-idle-ms") == 0);
	CHECK(iso_policy_option("isolation") == NULL);
	CHECK(iso_policy_option("worker-mem") == NULL);
	char path[64];
	CHECK_EQ(iso_policy_path(path, sizeof(path), "bulkhead", "http"), 0);
	CHECK(strcmp(path, "/run/bulkhead/bulkhead/http.isolation") == 0);
	CHECK_EQ(iso_policy_path(path, 20, "bulkhead", "http"), -ENAMETOOLONG);
}

struct applied {
	struct iso_service_policy p;
	unsigned lines;
};

static int apply(void *arg, const char *opt, const char *val, char *why, size_t len)
{
	struct applied *a = arg;
	a->lines++;
	return iso_policy_set(&a->p, opt, val, why, len) < 0 ? -EINVAL : 0;
}

static char dir[] = "/tmp/bh-iso-policy-XXXXXX";

/* Writes text to dir/name with mode, owned by uid; returns its path. */
static const char *file(const char *name, const char *text, mode_t mode, uid_t uid)
{
	static char path[128];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	CHECK_EQ(fchmod(fd, mode), 0);
	CHECK_EQ(fchown(fd, uid, 0), 0);
	close(fd);
	return path;
}

static int read_policy(const char *path, struct applied *a)
{
	memset(a, 0, sizeof(*a));
	iso_policy_init(&a->p);
	err[0] = 0;
	return iso_policy_read(path, apply, a, err, sizeof(err));
}

static void test_file(void)
{
	struct applied a;
	int before = bh_test_count_fds();
	CHECK(mkdtemp(dir) != NULL);

	CHECK_EQ(read_policy("/tmp/bh-iso-policy-none/x.isolation", &a), 0);
	CHECK_EQ(a.lines, 0u);

	const char *good = "isolation pool:3\nworker /opt/w w\nworker-mem 64m\nspares 2\n";
	CHECK_EQ(read_policy(file("good", good, 0600, 0), &a), 1);
	CHECK_EQ(a.lines, 4u);
	CHECK_EQ(a.p.unit, ISO_UNIT_POOL);
	CHECK_EQ(a.p.pool_n, 3u);
	CHECK(strcmp(a.p.worker, "/opt/w w") == 0); /* the value is the rest of the line */
	CHECK_EQ(a.p.mem, 64ull << 20);
	CHECK_EQ(a.p.spares, 2u);
	CHECK_EQ(read_policy(file("empty", "", 0644, 0), &a), 1); /* readable by others: fine */
	CHECK_EQ(a.lines, 0u);

	/* a line the callback refuses: named with its line, the lines before applied */
	CHECK_EQ(read_policy(file("bad", "spares 3\nisolation pool:0\nspares 4\n", 0600, 0), &a),
		 -EINVAL);
	CHECK(strstr(err, "/bad:2: --isolation: expected") != NULL);
	CHECK_EQ(a.p.spares, 3u);
	CHECK_EQ(a.lines, 2u);
	CHECK_EQ(read_policy(file("unknown", "root /\n", 0600, 0), &a), -EINVAL);
	CHECK(strstr(err, "/unknown:1:") != NULL);

	/* malformed */
	static const char *const bad[] = {
		"spares 3",         /* no end of line */
		"spares\n",         /* no value */
		"spares \n",        /* empty value */
		" spares 3\n",      /* no option */
		"\n",               /* empty line */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_EQ(read_policy(file("malformed", bad[i], 0600, 0), &a), -EBADMSG);
		CHECK_EQ(a.lines, 0u);
		CHECK(strstr(err, "/malformed") != NULL);
	}
	char nul[] = "spares 3\nx\0y\n";
	const char *p = file("nul", "", 0600, 0);
	int fd = open(p, O_WRONLY);
	CHECK_EQ(write(fd, nul, sizeof(nul) - 1), (ssize_t)sizeof(nul) - 1);
	close(fd);
	CHECK_EQ(read_policy(p, &a), -EBADMSG);
	CHECK_EQ(a.lines, 0u);
	char *big = malloc(5000);
	for (int i = 0; i < 5000; i += 10)
		memcpy(big + i, "spares 3\n\n", 10);
	big[4999] = 0;
	CHECK_EQ(read_policy(file("big", big, 0600, 0), &a), -EBADMSG);
	CHECK(strstr(err, "4 KiB") != NULL);
	free(big);

	/* unsafe: not root's, writable by others, a symlink, not a file */
	CHECK_EQ(read_policy(file("theirs", good, 0600, 65534), &a), -EPERM);
	CHECK_EQ(read_policy(file("group", good, 0620, 0), &a), -EPERM);
	CHECK_EQ(read_policy(file("world", good, 0602, 0), &a), -EPERM);
	CHECK_EQ(a.lines, 0u);
	char link[128], target[128];
	snprintf(target, sizeof(target), "%s/good", dir);
	snprintf(link, sizeof(link), "%s/link", dir);
	CHECK_EQ(symlink(target, link), 0);
	CHECK(read_policy(link, &a) < 0);
	CHECK_EQ(a.lines, 0u);
	CHECK_EQ(read_policy(dir, &a), -EPERM);

	char cmd[160];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_EQ(system(cmd), 0);
	CHECK_EQ(bh_test_count_fds(), before);
}

int main(void)
{
	test_values();
	test_check();
	test_keys();
	if (geteuid() != 0) {
		fprintf(stderr, "test_iso_policy: the file tests need root (files owned by others)\n");
		CHECK(geteuid() == 0);
	} else {
		test_file();
	}
	return bh_test_summary("iso_policy");
}
