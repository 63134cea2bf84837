/* SPDX-License-Identifier: MIT */
/*
 * Helpers for lib/http's unit tests and its fuzz target (not part of the
 * library): a document root with symlinks in and out of it, the invariant
 * every normalised path keeps, and a count of open descriptors.
 */
#ifndef HTTP_TEST_H
#define HTTP_TEST_H

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit/bh_fds.h"

/* Open descriptors of this process (the count includes the one reading). */
static inline int http_test_count_fds(void)
{
	return bh_test_count_fds();
}

/* A normalised path: relative, no empty, "." or ".." segment, no trailing
 * '/', no control character or backslash. */
static inline bool http_test_path_ok(const char *p)
{
	if (p[0] == '/')
		return false;
	for (const char *s = p; *s;) {
		const char *e = strchr(s, '/');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
			return false;
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)s[i] < 0x20 || s[i] == '\\' || s[i] == 0x7f)
				return false;
		s += n + (e != NULL);
		if (e && !*s)
			return false;
	}
	return true;
}

/* A temporary directory BASE with:
 *
 *   BASE/outside/secret.txt     "secret\n" (must never be served)
 *   BASE/root/                  the document root, root_fd
 *     index.html a.txt ("0123456789") empty.bin  fifo
 *     sub/index.html  sub/page.css  sub/up -> ../a.txt
 *     sub/dotdot_out -> ../../outside/secret.txt
 *     nodir/ (no index)  "sp ace"/index.html  ixdir/index.html/ (a directory)
 *     lnkix/index.html -> ../../outside/secret.txt
 *     link_in -> a.txt  link_sub -> sub  link_out -> ../outside/secret.txt
 *     link_abs -> /etc/passwd  link_abs_in -> BASE/root/a.txt (absolute)
 *     link_loop -> link_loop  link_outdir -> ../outside
 *     link_proc -> /proc/self/root/etc/passwd
 */
struct http_test_tree {
	char base[64];
	int root_fd;
	struct stat secret;
};

static inline int http_test_put(const struct http_test_tree *t, const char *rel,
				const char *content)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", t->base, rel);
	FILE *f = fopen(p, "w");
	if (!f)
		return -1;
	fputs(content, f);
	return fclose(f);
}

static inline int http_test_tree_make(struct http_test_tree *t)
{
	static const char *const dirs[] = { "root", "outside", "root/sub", "root/nodir",
					    "root/sp ace", "root/ixdir", "root/ixdir/index.html",
					    "root/lnkix" };
	static const char *const files[][2] = {
		{ "outside/secret.txt", "secret\n" }, { "root/index.html", "<p>root</p>\n" },
		{ "root/a.txt", "0123456789" },       { "root/empty.bin", "" },
		{ "root/sub/index.html", "<p>sub</p>\n" }, { "root/sub/page.css", "p{}\n" },
		{ "root/sp ace/index.html", "sp\n" },
	};
	static const char *const links[][2] = {
		{ "a.txt", "root/link_in" },
		{ "sub", "root/link_sub" },
		{ "../a.txt", "root/sub/up" },
		{ "../outside/secret.txt", "root/link_out" },
		{ "../../outside/secret.txt", "root/sub/dotdot_out" },
		{ "/etc/passwd", "root/link_abs" },
		{ "link_loop", "root/link_loop" },
		{ "../outside", "root/link_outdir" },
		{ "/proc/self/root/etc/passwd", "root/link_proc" },
		{ "../../outside/secret.txt", "root/lnkix/index.html" },
	};
	char p[256], q[256];
	int bad = 0;

	strcpy(t->base, "/tmp/bh-http-test.XXXXXX");
	t->root_fd = -1;
	if (!mkdtemp(t->base))
		return -1;
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", t->base, dirs[i]);
		bad |= mkdir(p, 0755);
	}
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		bad |= http_test_put(t, files[i][0], files[i][1]);
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", t->base, links[i][1]);
		bad |= symlink(links[i][0], p);
	}
	snprintf(p, sizeof(p), "%s/root/link_abs_in", t->base);
	snprintf(q, sizeof(q), "%s/root/a.txt", t->base);
	bad |= symlink(q, p);
	snprintf(p, sizeof(p), "%s/root/fifo", t->base);
	bad |= mkfifo(p, 0644);
	snprintf(p, sizeof(p), "%s/outside/secret.txt", t->base);
	bad |= stat(p, &t->secret);
	snprintf(p, sizeof(p), "%s/root", t->base);
	t->root_fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return bad || t->root_fd < 0 ? -1 : 0;
}

static inline int http_test_rm(const char *path, const struct stat *st, int type,
			       struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path) < 0 ? -1 : 0;
}

static inline void http_test_tree_remove(struct http_test_tree *t)
{
	if (t->root_fd >= 0)
		close(t->root_fd);
	t->root_fd = -1;
	if (t->base[0] && nftw(t->base, http_test_rm, 16, FTW_DEPTH | FTW_PHYS) < 0)
		fprintf(stderr, "could not remove %s\n", t->base);
	t->base[0] = '\0';
}

#endif
