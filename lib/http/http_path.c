/* SPDX-License-Identifier: MIT */
/*
 * From a request-target to an open file that cannot be outside the root.
 *
 * Two independent fences. The first is lexical: the path is decoded once,
 * then normalised (RFC 3986 §5.2.4 for "." and ".."), and a ".." with
 * nothing left to remove is an error, not clamped to the root, since a
 * client asking for it is probing. Decoding before normalising is what
 * makes "%2e%2e" and "..%2f" harmless; decoding exactly once is what makes
 * "%252e" a file named "%2e". The second fence is the kernel's: openat2
 * with RESOLVE_BENEATH refuses any resolution, through ".." or a symlink,
 * that leaves the directory it starts from, whatever the lexical step let
 * through.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bulkhead/http.h"
#include "http_int.h"

/* Strict UTF-8 (RFC 3629): no overlong forms, surrogates or code points
 * above U+10FFFF, so "%c0%ae" is no dot to anything downstream. */
static bool utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		unsigned char c = s[i];
		size_t k;
		unsigned char lo = 0x80, hi = 0xbf;
		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			k = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			k = 2;
			if (c == 0xe0)
				lo = 0xa0;
			if (c == 0xed)
				hi = 0x9f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			k = 3;
			if (c == 0xf0)
				lo = 0x90;
			if (c == 0xf4)
				hi = 0x8f;
		} else {
			return false;
		}
		if (n - i <= k)
			return false;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return false;
		for (size_t j = 2; j <= k; j++)
			if (s[i + j] < 0x80 || s[i + j] > 0xbf)
				return false;
		i += k + 1;
	}
	return true;
}

/* Decodes and normalises the path [p, end) into out as "seg/seg": returns
 * its length or -EBADMSG; *dir tells whether it named a directory. */
static int normalise(const char *p, const char *end, char *out, size_t cap, bool *dir)
{
	size_t w = 0, seg = 0;
	bool dots = false; /* the last segment was "." or ".." */

	for (;;) {
		bool last = p == end;
		int c;
		if (last) {
			c = '/';
		} else if (*p == '%') {
			int h, l;
			if (end - p < 3 || (h = http_hexval((unsigned char)p[1])) < 0 ||
			    (l = http_hexval((unsigned char)p[2])) < 0)
				return -EBADMSG;
			c = h << 4 | l;
			p += 3;
		} else {
			c = (unsigned char)*p++;
		}
		if (c != '/') {
			if (c < 0x20 || c == 0x7f || c == '\\')
				return -EBADMSG;
			if (w + 1 >= cap)
				return -EBADMSG;
			out[w++] = (char)c;
			continue;
		}
		size_t n = w - seg;
		if (n == 1 && out[seg] == '.') {
			w = seg;
			dots = true;
		} else if (n == 2 && out[seg] == '.' && out[seg + 1] == '.') {
			if (seg == 0)
				return -EBADMSG; /* above the root */
			w = seg - 1;
			while (w > 0 && out[w - 1] != '/')
				w--;
			dots = true;
		} else if (n > 0) {
			if (w + 1 >= cap)
				return -EBADMSG;
			out[w++] = '/';
			dots = false;
		}
		/* n == 0: an empty segment ("//"), collapsed */
		seg = w;
		if (last) {
			*dir = n == 0 || dots;
			break;
		}
	}
	if (w > 0)
		w--; /* the separator after the last segment */
	out[w] = '\0';
	if (!utf8_valid((const unsigned char *)out, w))
		return -EBADMSG;
	return (int)w;
}

int http_target_parse(const char *target, size_t len, char *out, size_t cap,
		      struct http_target *t)
{
	const char *p = target, *end = target + len;

	memset(t, 0, sizeof(*t));
	if (cap < len + 1 || len > INT_MAX)
		return -ENOSPC;
	if (len == 0)
		return -EBADMSG;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)target[i] <= 0x20 || target[i] == 0x7f)
			return -EBADMSG;
	if (*p != '/') {
		/* absolute-form (RFC 9112 §3.2.2); "*" and authority-form are not for GET */
		if (len > 7 && http_ieq(p, 7, "http://"))
			p += 7;
		else if (len > 8 && http_ieq(p, 8, "https://"))
			p += 8;
		else
			return -EBADMSG;
		const char *a = p;
		while (p < end && *p != '/' && *p != '?' && *p != '#')
			p++;
		if (p == a || memchr(a, '@', (size_t)(p - a)))
			return -EBADMSG; /* RFC 9110 §4.2.1 empty host, §4.2.4 userinfo */
		t->authority = a;
		t->authority_len = (size_t)(p - a);
	}
	const char *pend = p;
	while (pend < end && *pend != '?' && *pend != '#')
		pend++;
	if (pend < end && *pend == '?') {
		const char *q = pend + 1, *qe = q;
		while (qe < end && *qe != '#')
			qe++;
		t->query = q;
		t->query_len = (size_t)(qe - q);
	}
	int n = normalise(p, pend, out, cap, &t->dir);
	if (n < 0) {
		t->query = t->authority = NULL;
		t->query_len = t->authority_len = 0;
		return n;
	}
	t->path = out;
	t->path_len = (size_t)n;
	return 0;
}

/* ------------------------------------------------------------------ open */

/* Errors the client may learn about: none. Only the process's own troubles
 * are told apart, as the server may answer those differently. */
static int not_found(int err)
{
	return err == EMFILE || err == ENFILE || err == ENOMEM ? -err : -ENOENT;
}

/* Opens path under dirfd without following a symlink: each directory
 * with O_PATH | O_DIRECTORY | O_NOFOLLOW, the last component with oflags
 * | O_NOFOLLOW (O_PATH then gives the symlink itself, which fstat shows is
 * no regular file). */
static int walk(int dirfd, const char *path, int oflags)
{
	int cur = dirfd;
	char comp[NAME_MAX + 1];

	for (;;) {
		const char *slash = strchr(path, '/');
		size_t n = slash ? (size_t)(slash - path) : strlen(path);
		int fd, err;
		if (n == 0 || n > NAME_MAX || (n == 1 && path[0] == '.') ||
		    (n == 2 && path[0] == '.' && path[1] == '.')) {
			fd = -1;
			err = ENOENT;
		} else {
			memcpy(comp, path, n);
			comp[n] = '\0';
			fd = openat(cur, comp,
				    (slash ? O_PATH | O_DIRECTORY : oflags) | O_NOFOLLOW | O_CLOEXEC |
					    O_NOCTTY);
			err = errno;
		}
		if (cur != dirfd)
			close(cur);
		if (fd < 0)
			return not_found(err);
		if (!slash)
			return fd;
		cur = fd;
		path = slash + 1;
	}
}

static int resolve(int dirfd, const char *path, unsigned flags, int oflags)
{
	if (!*path)
		path = ".";
	if (flags & HTTP_OPEN_VIEW) {
		int fd = openat(dirfd, path, oflags | O_CLOEXEC | (oflags & O_PATH ? 0 : O_NOCTTY));
		return fd < 0 ? not_found(errno) : fd;
	}
	if (!(flags & HTTP_OPEN_NO_OPENAT2)) {
		/* openat2 refuses O_NOCTTY with O_PATH (EINVAL) */
		struct open_how how = {
			.flags = (uint64_t)(oflags | O_CLOEXEC | (oflags & O_PATH ? 0 : O_NOCTTY)),
			.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
		};
		long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
		if (fd >= 0)
			return (int)fd;
		if (errno != ENOSYS)
			return not_found(errno);
	}
	if (!strcmp(path, ".")) {
		int fd = openat(dirfd, ".", oflags | O_CLOEXEC | O_NOCTTY);
		return fd < 0 ? not_found(errno) : fd;
	}
	return walk(dirfd, path, oflags);
}

/* Opens the regular file path for reading: first with O_PATH to see what it
 * is without opening a device or a FIFO, then for reading, checking it is
 * still the same file. */
static int open_regular(int root, const char *path, unsigned flags, struct stat *st)
{
	struct stat st2;
	int fd = resolve(root, path, flags, O_RDONLY | O_NONBLOCK);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st2) < 0 || !S_ISREG(st2.st_mode) || st2.st_dev != st->st_dev ||
	    st2.st_ino != st->st_ino) {
		close(fd);
		return -ENOENT;
	}
	/* O_NONBLOCK guarded the open against a FIFO swapped in; drop it */
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	*st = st2;
	return fd;
}

int http_open_under_root(int root_dirfd, const char *relpath, bool dir, unsigned flags,
			 struct stat *st)
{
	char index[PATH_MAX];
	const char *path = relpath;
	int fd = resolve(root_dirfd, relpath, flags, O_PATH);
	if (fd < 0)
		return fd;
	if (fstat(fd, st) < 0) {
		int err = errno;
		close(fd);
		return not_found(err);
	}
	close(fd);
	if (S_ISDIR(st->st_mode)) {
		if (!dir)
			return -EISDIR;
		/* index.html is resolved from the root, so a symlink in it has
		 * the same fence as any other */
		size_t n = strlen(relpath);
		if (n + sizeof("/index.html") > sizeof(index))
			return -ENOENT;
		memcpy(index, relpath, n);
		if (n)
			index[n++] = '/';
		memcpy(index + n, "index.html", sizeof("index.html"));
		path = index;
		fd = resolve(root_dirfd, path, flags, O_PATH);
		if (fd < 0)
			return fd;
		int rc = fstat(fd, st);
		int err = errno;
		close(fd);
		if (rc < 0)
			return not_found(err);
	} else if (dir) {
		return -ENOENT; /* "file/": not a directory */
	}
	if (!S_ISREG(st->st_mode))
		return -ENOENT;
	return open_regular(root_dirfd, path, flags, st);
}
