/* SPDX-License-Identifier: MIT */
/*
 * A service's isolation policy: one parser for the NF's command line and the
 * manager's configuration, and the file through which the manager hands a
 * configured policy to the service's NFs (bulkhead/iso.h, "Service policy").
 *
 * The file, not the registration reply: an NF forks its zygote before DPDK
 * exists in it (so that no worker's ancestor ever mapped the packet pool),
 * and that is before it can attach and hear anything from the manager.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bulkhead/iso.h"
#include "bulkhead/num.h"

#define ISO_POLICY_FILE_MAX 4096

/* Each configuration key and the option it stands for, in the docs' order. */
#define ISO_POLICY_FIELDS(X)                                                              \
	X("unit", "isolation") X("recycle", "recycle") X("worker", "worker")                \
	X("uid_range", "uid-range") X("worker_mem", "worker-mem")                          \
	X("worker_cpu_s", "worker-cpu-s") X("worker_spin_ms", "worker-spin-ms")            \
	X("worker_fds", "worker-fds")                                                      \
	X("worker_idle_ms", "worker-idle-ms") X("spares", "spares")                        \
	X("worker_conns", "worker-conns") X("inline_max", "inline-max")

#define ISO_PAIR(k, o) {k, o},
#define ISO_KEY(k, o) k,
static const struct {
	const char *key, *opt;
} iso_policy_names[] = {ISO_POLICY_FIELDS(ISO_PAIR)};
const char *const iso_policy_keys[] = {ISO_POLICY_FIELDS(ISO_KEY) NULL};
#undef ISO_PAIR
#undef ISO_KEY

void iso_policy_init(struct iso_service_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->unit = ISO_UNIT_NONE;
	p->uid_base = 2000000000u;
	p->uid_count = 65536;
	p->mem = 256u << 20;
	p->spin_ms = 1000;
	p->fds = 64;
	p->idle_ms = 10000;
	p->spares = 16;
	p->worker_conns = 1024;
	p->inline_max = 16384;
}

const char *iso_policy_option(const char *key)
{
	for (size_t i = 0; i < sizeof(iso_policy_names) / sizeof(iso_policy_names[0]); i++)
		if (!strcmp(key, iso_policy_names[i].key))
			return iso_policy_names[i].opt;
	return NULL;
}

static int pol_range(char *err, size_t errlen, const char *opt, const char *val, uint64_t lo,
		     uint64_t hi, bool sized)
{
	snprintf(err, errlen, "--%s: expected %llu..%llu%s, not '%s'", opt, (unsigned long long)lo,
		 (unsigned long long)hi, sized ? " (k, m, g suffixes)" : "", val);
	return -EINVAL;
}

int iso_policy_set(struct iso_service_policy *p, const char *opt, const char *val, char *err,
		   size_t errlen)
{
	/* Numeric options: where the value goes, its range, suffixes. */
	static const struct {
		const char *opt;
		size_t off, size;
		uint64_t lo, hi;
		bool sized;
	} nums[] = {
#define NUM(o, f, lo, hi, sz)                                                                      \
	{o, offsetof(struct iso_service_policy, f), sizeof(((struct iso_service_policy *)0)->f), lo, \
	 hi, sz}
		NUM("worker-mem", mem, 16u << 20, 1ull << 40, true),
		NUM("worker-cpu-s", cpu_s, 0, 86400, false),
		NUM("worker-spin-ms", spin_ms, 0, 86400000, false),
		NUM("worker-fds", fds, 8, 65536, false),
		NUM("worker-idle-ms", idle_ms, 1, 86400000, false),
		NUM("spares", spares, 0, ISO_SPARES_MAX, false),
		NUM("worker-conns", worker_conns, 1, ISO_WORKER_CONNS_MAX, false),
		NUM("inline-max", inline_max, 0, UINT32_MAX, true),
#undef NUM
	};
	uint64_t v;

	if (!strcmp(opt, "isolation")) {
		if (!strcmp(val, "none")) {
			p->unit = ISO_UNIT_NONE;
		} else if (!strcmp(val, "connection")) {
			p->unit = ISO_UNIT_CONNECTION;
		} else if (!strcmp(val, "client")) {
			p->unit = ISO_UNIT_CLIENT;
		} else if (!strncmp(val, "pool:", 5) && bh_parse_num(val + 5, 1, ISO_POOL_MAX, false, &v) == 0) {
			p->unit = ISO_UNIT_POOL;
			p->pool_n = (uint32_t)v;
		} else {
			snprintf(err, errlen, "--isolation: expected none, connection, client or pool:N "
				 "(N 1..%u), not '%s'", ISO_POOL_MAX, val);
			return -EINVAL;
		}
		return 0;
	}
	if (!strcmp(opt, "recycle")) {
		if (strcmp(val, "fresh") && strcmp(val, "scrub")) {
			snprintf(err, errlen, "--recycle: expected fresh or scrub, not '%s'", val);
			return -EINVAL;
		}
		p->scrub = !strcmp(val, "scrub");
		return 0;
	}
	if (!strcmp(opt, "worker")) {
		size_t n = strlen(val);
		bool ctl = false;
		for (const char *c = val; *c; c++)
			ctl |= (unsigned char)*c < 0x20 || *c == 0x7f;
		if (val[0] != '/' || n >= sizeof(p->worker) || ctl) {
			snprintf(err, errlen, "--worker: expected an absolute path of at most %zu bytes "
				 "without control characters, not '%.64s%s'", sizeof(p->worker) - 1,
				 ctl ? "(control characters)" : val, !ctl && n > 64 ? "..." : "");
			return -EINVAL;
		}
		memcpy(p->worker, val, n + 1);
		return 0;
	}
	if (!strcmp(opt, "uid-range")) {
		char *end;
		unsigned long long b = 0, n = 0;
		bool ok = val[0] >= '0' && val[0] <= '9';
		errno = 0;
		if (ok)
			b = strtoull(val, &end, 10);
		ok = ok && !errno && *end == ':' && end[1] >= '0' && end[1] <= '9';
		if (ok)
			n = strtoull(end + 1, &end, 10);
		if (!ok || errno || *end || b == 0 || n == 0 || n > (1u << 20) || b + n > 4294967294ull) {
			snprintf(err, errlen, "--uid-range: expected BASE:COUNT (BASE > 0, COUNT "
				 "1..1048576), not '%s'", val);
			return -EINVAL;
		}
		p->uid_base = (uint32_t)b;
		p->uid_count = (uint32_t)n;
		return 0;
	}
	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		if (strcmp(opt, nums[i].opt))
			continue;
		if (bh_parse_num(val, nums[i].lo, nums[i].hi, nums[i].sized, &v) < 0)
			return pol_range(err, errlen, opt, val, nums[i].lo, nums[i].hi, nums[i].sized);
		uint8_t *f = (uint8_t *)p + nums[i].off;
		if (nums[i].size == sizeof(uint32_t)) {
			uint32_t v32 = (uint32_t)v;
			memcpy(f, &v32, sizeof(v32));
		} else {
			memcpy(f, &v, sizeof(v));
		}
		return 0;
	}
	return -ENOENT;
}

int iso_policy_check(const struct iso_service_policy *p, char *err, size_t errlen)
{
	if (p->unit == ISO_UNIT_NONE)
		return 0;
	if (!p->worker[0]) {
		snprintf(err, errlen, "isolation needs the worker program (--worker PATH, or worker in "
			 "the service's isolation)");
		return -EINVAL;
	}
	if (p->unit == ISO_UNIT_POOL && p->scrub) {
		snprintf(err, errlen, "recycle applies to units connection and client, not to a pool");
		return -EINVAL;
	}
	if (p->uid_count < p->spares + 1 || (p->unit == ISO_UNIT_POOL && p->uid_count < p->pool_n)) {
		snprintf(err, errlen, "uid-range: %u uids are fewer than the workers it must hold "
			 "(spares + 1, and N of pool:N)", p->uid_count);
		return -EINVAL;
	}
	return 0;
}

int iso_policy_path(char *buf, size_t len, const char *prefix, const char *service)
{
	int n = snprintf(buf, len, ISO_POLICY_DIR "/%s/%s.isolation", prefix, service);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int iso_policy_read(const char *path,
		    int (*apply)(void *arg, const char *opt, const char *val, char *err, size_t errlen),
		    void *arg, char *err, size_t errlen)
{
	char text[ISO_POLICY_FILE_MAX + 1], why[400];
	struct stat sb;
	ssize_t n;
	int rc;

	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return rc;
	}
	/* Whoever could write it would choose the worker program root confines
	 * and the limits of every client's sandbox. */
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_uid != 0 ||
	    (sb.st_mode & (S_IWGRP | S_IWOTH))) {
		snprintf(err, errlen, "%s: not a regular file owned by root and writable by root alone",
			 path);
		close(fd);
		return -EPERM;
	}
	n = read(fd, text, sizeof(text));
	rc = n < 0 ? -errno : 0;
	close(fd);
	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	if (n > ISO_POLICY_FILE_MAX || memchr(text, 0, (size_t)n)) {
		snprintf(err, errlen, "%s: %s", path, n > ISO_POLICY_FILE_MAX ? "larger than 4 KiB" :
			 "a NUL byte in it");
		return -EBADMSG;
	}
	text[n] = 0;
	unsigned line = 0;
	for (char *s = text, *nl; *s; s = nl + 1) {
		line++;
		nl = strchr(s, '\n');
		if (!nl) {
			snprintf(err, errlen, "%s:%u: the last line has no end", path, line);
			return -EBADMSG;
		}
		*nl = 0;
		char *sp = strchr(s, ' ');
		if (!sp || sp == s || !sp[1]) {
			snprintf(err, errlen, "%s:%u: expected 'OPTION VALUE'", path, line);
			return -EBADMSG;
		}
		*sp = 0;
		why[0] = 0;
		if (apply(arg, s, sp + 1, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "%s:%u: %s", path, line, why);
			return -EINVAL;
		}
	}
	return 1;
}
