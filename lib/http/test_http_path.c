/* SPDX-License-Identifier: MIT */
/*
 * Targets and files: a table of hostile targets with the path each becomes
 * or its rejection, random targets that must never normalise to anything
 * leaving the root, then a temporary tree with symlinks in and out of the
 * root, a FIFO, directories with and without index.html, opened through
 * openat2 and through the O_NOFOLLOW walk, and served end to end. Every
 * test ends with the same descriptors open as it started with.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bulkhead/http.h"
#include "lib/http/http_test.h"
#include "tests/unit/bh_test.h"

static const struct {
	const char *target;
	const char *path; /* NULL: rejected (400) */
	int dir;
	const char *query;
} paths[] = {
	{ "/", "", 1, NULL },
	{ "/index.html", "index.html", 0, NULL },
	{ "/a/b/c", "a/b/c", 0, NULL },
	{ "/a/b/", "a/b", 1, NULL },
	{ "//etc", "etc", 0, NULL },
	{ "//etc//passwd", "etc/passwd", 0, NULL },
	{ "/a//b///c//", "a/b/c", 1, NULL },
	{ "/./a/./b/.", "a/b", 1, NULL },
	{ "/a/..", "", 1, NULL },
	{ "/a/../b", "b", 0, NULL },
	{ "/a/b/../../c", "c", 0, NULL },
	{ "/a/b/c/../../../d/", "d", 1, NULL },
	/* climbing above the root */
	{ "/../etc/passwd", NULL, 0, NULL },
	{ "/..", NULL, 0, NULL },
	{ "/../", NULL, 0, NULL },
	{ "/a/../../b", NULL, 0, NULL },
	{ "/a/../..", NULL, 0, NULL },
	{ "/./../x", NULL, 0, NULL },
	{ "//../x", NULL, 0, NULL },
	/* encoded dots and slashes: decoded first, then normalised */
	{ "/%2e%2e/", NULL, 0, NULL },
	{ "/%2E%2E/etc/passwd", NULL, 0, NULL },
	{ "/.%2e/x", NULL, 0, NULL },
	{ "/%2e./x", NULL, 0, NULL },
	{ "/%2e/a", "a", 0, NULL },
	{ "/a%2f..%2f..", NULL, 0, NULL },
	{ "/a%2f..%2fb", "b", 0, NULL },
	{ "/a%2Fb", "a/b", 0, NULL },
	{ "/a%2f", "a", 1, NULL },
	{ "/%2f%2fetc", "etc", 0, NULL },
	/* decoded once only */
	{ "/%252e%252e/x", "%2e%2e/x", 0, NULL },
	{ "/%25", "%", 0, NULL },
	/* NUL, bad escapes, control characters */
	{ "/%00", NULL, 0, NULL },
	{ "/a%00.html", NULL, 0, NULL },
	{ "/a%", NULL, 0, NULL },
	{ "/a%2", NULL, 0, NULL },
	{ "/a%zz", NULL, 0, NULL },
	{ "/a%g0", NULL, 0, NULL },
	{ "/a%%30", NULL, 0, NULL },
	{ "/%01", NULL, 0, NULL },
	{ "/%0a", NULL, 0, NULL },
	{ "/%0d%0aSet-Cookie:x", NULL, 0, NULL },
	{ "/%1f", NULL, 0, NULL },
	{ "/%7f", NULL, 0, NULL },
	{ "/a b", NULL, 0, NULL },
	{ "/a\tb", NULL, 0, NULL },
	{ "/a\x7f", NULL, 0, NULL },
	{ "/a%20b", "a b", 0, NULL },
	{ "/a%09b", NULL, 0, NULL },
	/* UTF-8: valid passes, overlong / surrogate / out of range / cut fails */
	{ "/%c3%a9t%c3%a9", "\xc3\xa9t\xc3\xa9", 0, NULL },
	{ "/\xc3\xa9", "\xc3\xa9", 0, NULL },
	{ "/%f0%9f%98%80", "\xf0\x9f\x98\x80", 0, NULL },
	{ "/%c0%ae%c0%ae/x", NULL, 0, NULL },
	{ "/%c0%af", NULL, 0, NULL },
	{ "/%c1%9c", NULL, 0, NULL },
	{ "/%e0%80%ae", NULL, 0, NULL },
	{ "/%f0%80%80%ae", NULL, 0, NULL },
	{ "/%ed%a0%80", NULL, 0, NULL },
	{ "/%f4%90%80%80", NULL, 0, NULL },
	{ "/%f5%80%80%80", NULL, 0, NULL },
	{ "/%ff", NULL, 0, NULL },
	{ "/%c3", NULL, 0, NULL },
	{ "/%e2%82", NULL, 0, NULL },
	{ "/\xc0\xae\xc0\xae", NULL, 0, NULL },
	{ "/a\xc3/b", NULL, 0, NULL },
	/* backslashes: refused raw and encoded */
	{ "/a\\b", NULL, 0, NULL },
	{ "/..\\..\\etc\\passwd", NULL, 0, NULL },
	{ "/%5c..%5c..%5cetc", NULL, 0, NULL },
	{ "/a%5Cb", NULL, 0, NULL },
	/* queries and fragments */
	{ "/a?x=/../../", "a", 0, "x=/../../" },
	{ "/a?", "a", 0, "" },
	{ "/a#frag", "a", 0, NULL },
	{ "/a#f?g", "a", 0, NULL },
	{ "/a?q#f", "a", 0, "q" },
	{ "/a/..?q", "", 1, "q" },
	{ "/%3f?x", "?", 0, "x" },
	{ "/?%00", "", 1, "%00" },
	/* forms other than origin and absolute */
	{ "*", NULL, 0, NULL },
	{ "example.com:80", NULL, 0, NULL },
	{ "", NULL, 0, NULL },
	{ "a/b", NULL, 0, NULL },
	{ "../etc/passwd", NULL, 0, NULL },
	{ "file:///etc/passwd", NULL, 0, NULL },
	{ "http:/x", NULL, 0, NULL },
	{ "http://", NULL, 0, NULL },
	{ "http://u:p@h/", NULL, 0, NULL },
	{ "http:///etc", NULL, 0, NULL },
	{ "http://h/a/../b", "b", 0, NULL },
	{ "http://h/../b", NULL, 0, NULL },
	{ "HTTPS://h", "", 1, NULL },
	{ "http://h?x", "", 1, "x" },
	{ "http://h:8080//a", "a", 0, NULL },
	/* dots that are names */
	{ "/...", "...", 0, NULL },
	{ "/.hidden", ".hidden", 0, NULL },
	{ "/a/.../b", "a/.../b", 0, NULL },
	{ "/..a", "..a", 0, NULL },
	{ "/a..", "a..", 0, NULL },
	{ "/%2e%2e%2e", "...", 0, NULL },
};

static void test_table(void)
{
	char out[256];
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		struct http_target t;
		const char *tg = paths[i].target;
		int rc = http_target_parse(tg, strlen(tg), out, strlen(tg) + 1, &t);
		if (!paths[i].path) {
			if (rc != -EBADMSG)
				fprintf(stderr, "accepted %s as %s\n", tg, out);
			CHECK_EQ(rc, -EBADMSG);
			continue;
		}
		if (rc != 0) {
			fprintf(stderr, "rejected %s\n", tg);
			CHECK_EQ(rc, 0);
			continue;
		}
		if (strcmp(t.path, paths[i].path) || t.dir != paths[i].dir)
			fprintf(stderr, "%s -> '%s' dir %d\n", tg, t.path, t.dir);
		CHECK(!strcmp(t.path, paths[i].path));
		CHECK_EQ(t.path_len, strlen(paths[i].path));
		CHECK_EQ(t.dir, paths[i].dir);
		CHECK(http_test_path_ok(t.path));
		if (paths[i].query)
			CHECK(t.query && t.query_len == strlen(paths[i].query) &&
			      !memcmp(t.query, paths[i].query, t.query_len));
		else
			CHECK(t.query == NULL);
	}
	struct http_target t;
	CHECK_EQ(http_target_parse("/abc", 4, out, 4, &t), -ENOSPC);
	CHECK_EQ(http_target_parse("/abc", 4, out, 5, &t), 0);
	CHECK_EQ(http_target_parse("http://h:1/x", 12, out, 13, &t), 0);
	CHECK(t.authority_len == 3 && !memcmp(t.authority, "h:1", 3));
	CHECK_EQ(http_target_parse("/x", 2, out, 3, &t), 0);
	CHECK(t.authority == NULL);
}

static void test_long(void)
{
	size_t n = 20000;
	char *tg = malloc(n * 3 + 16), *out = malloc(n * 3 + 16);
	struct http_target t;

	/* a very long name: normalises; the file system will say ENAMETOOLONG */
	tg[0] = '/';
	memset(tg + 1, 'x', n);
	CHECK_EQ(http_target_parse(tg, n + 1, out, n + 2, &t), 0);
	CHECK_EQ(t.path_len, n);
	/* 1000 segments down, 1000 up: the root; one more up: rejected */
	size_t k = 0;
	for (int i = 0; i < 1000; i++)
		k += (size_t)sprintf(tg + k, "/a");
	for (int i = 0; i < 1000; i++)
		k += (size_t)sprintf(tg + k, "/..");
	CHECK_EQ(http_target_parse(tg, k, out, k + 1, &t), 0);
	CHECK(!strcmp(t.path, "") && t.dir);
	k += (size_t)sprintf(tg + k, "/..");
	CHECK_EQ(http_target_parse(tg, k, out, k + 1, &t), -EBADMSG);
	/* thousands of slashes collapse */
	memset(tg, '/', n);
	memcpy(tg + n, "x", 2);
	CHECK_EQ(http_target_parse(tg, n + 1, out, n + 2, &t), 0);
	CHECK(!strcmp(t.path, "x"));
	free(tg);
	free(out);
}

/* Random targets over an alphabet of trouble: whatever is accepted obeys
 * the invariants. */
static void test_random(void)
{
	static const char *const atoms[] = { "/", ".", "..", "%2e", "%2E", "%2f", "%2F", "%5c",
					     "a", "%",  "%0", "%00", "\\", "?", "#",  "%c0%ae",
					     "//", "%25" };
	uint64_t x = 88172645463325252ull;
	char tg[128], out[160];
	int accepted = 0;
	for (int i = 0; i < 200000; i++) {
		size_t k = 0;
		tg[k++] = '/';
		int atoms_n = 1 + (int)(x % 12);
		for (int j = 0; j < atoms_n; j++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			const char *a = atoms[x % (sizeof(atoms) / sizeof(atoms[0]))];
			size_t al = strlen(a);
			memcpy(tg + k, a, al);
			k += al;
		}
		struct http_target t;
		int rc = http_target_parse(tg, k, out, sizeof(out), &t);
		if (rc == 0) {
			accepted++;
			if (!http_test_path_ok(t.path)) {
				fprintf(stderr, "bad normalisation of %.*s: %s\n", (int)k, tg, t.path);
				CHECK(0);
				return;
			}
		} else if (rc != -EBADMSG) {
			CHECK_EQ(rc, -EBADMSG);
			return;
		}
	}
	CHECK(accepted > 1000);
}

/* ------------------------------------------------------------ file tree */

static struct http_test_tree tree;

static const char *read_fd(int fd)
{
	static char buf[256];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	buf[n < 0 ? 0 : n] = '\0';
	return buf;
}

/* What opening relpath gives: the content, or "-errno-name". */
static const char *open_result(const char *rel, bool dir, unsigned flags)
{
	struct stat st;
	int fd = http_open_under_root(tree.root_fd, rel, dir, flags, &st);
	if (fd == -EISDIR)
		return "EISDIR";
	if (fd == -ENOENT)
		return "ENOENT";
	if (fd < 0)
		return "other error";
	const char *s = read_fd(fd);
	if (!S_ISREG(st.st_mode) || (fcntl(fd, F_GETFD) & FD_CLOEXEC) == 0 ||
	    (fcntl(fd, F_GETFL) & O_NONBLOCK))
		s = "bad fd";
	close(fd);
	return s;
}

static void test_open(void)
{
	static const struct {
		const char *rel;
		bool dir;
		const char *beneath; /* with openat2 */
		const char *walk;    /* with the O_NOFOLLOW walk */
	} cases[] = {
		{ "a.txt", false, "0123456789", "0123456789" },
		{ "a.txt", true, "ENOENT", "ENOENT" }, /* "a.txt/" */
		{ "", true, "<p>root</p>\n", "<p>root</p>\n" },
		{ "", false, "EISDIR", "EISDIR" },
		{ "sub", false, "EISDIR", "EISDIR" },
		{ "sub", true, "<p>sub</p>\n", "<p>sub</p>\n" },
		{ "sub/page.css", false, "p{}\n", "p{}\n" },
		{ "nodir", true, "ENOENT", "ENOENT" },
		{ "ixdir", true, "ENOENT", "ENOENT" },
		{ "missing", false, "ENOENT", "ENOENT" },
		{ "sub/missing/x", false, "ENOENT", "ENOENT" },
		{ "a.txt/x", false, "ENOENT", "ENOENT" },
		/* symlinks that stay inside: followed by openat2, never by the walk */
		{ "link_in", false, "0123456789", "ENOENT" },
		{ "link_sub/page.css", false, "p{}\n", "ENOENT" },
		{ "link_sub", true, "<p>sub</p>\n", "ENOENT" },
		{ "sub/up", false, "0123456789", "ENOENT" },
		/* symlinks out of the root */
		{ "link_out", false, "ENOENT", "ENOENT" },
		{ "sub/dotdot_out", false, "ENOENT", "ENOENT" },
		{ "link_abs", false, "ENOENT", "ENOENT" },
		{ "link_abs_in", false, "ENOENT", "ENOENT" },
		{ "link_outdir/secret.txt", false, "ENOENT", "ENOENT" },
		{ "link_outdir", true, "ENOENT", "ENOENT" },
		{ "link_proc", false, "ENOENT", "ENOENT" },
		{ "link_loop", false, "ENOENT", "ENOENT" },
		{ "lnkix", true, "ENOENT", "ENOENT" },
		/* not a regular file: never opened for reading (a FIFO would block) */
		{ "fifo", false, "ENOENT", "ENOENT" },
		/* what normalisation never passes, refused here all the same */
		{ "../outside/secret.txt", false, "ENOENT", "ENOENT" },
		{ "sub/../../outside/secret.txt", false, "ENOENT", "ENOENT" },
		{ "/etc/passwd", false, "ENOENT", "ENOENT" },
		{ "./a.txt", false, "0123456789", "ENOENT" },
		{ "sub//page.css", false, "p{}\n", "ENOENT" },
	};
	int fds = http_test_count_fds();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *b = open_result(cases[i].rel, cases[i].dir, 0);
		const char *w = open_result(cases[i].rel, cases[i].dir, HTTP_OPEN_NO_OPENAT2);
		if (strcmp(b, cases[i].beneath) || strcmp(w, cases[i].walk))
			fprintf(stderr, "open %s%s: beneath '%s' walk '%s'\n", cases[i].rel,
				cases[i].dir ? "/" : "", b, w);
		CHECK(!strcmp(b, cases[i].beneath));
		CHECK(!strcmp(w, cases[i].walk));
	}
	/* HTTP_OPEN_VIEW (a sandbox whose view is the root): the kernel follows
	 * symlinks, the rest holds as before. Out-of-root links are not tried
	 * here: outside a sandbox they lead out, which is why the flag is for
	 * views only. */
	static const struct {
		const char *rel;
		bool dir;
		const char *want;
	} view[] = {
		{ "a.txt", false, "0123456789" },
		{ "a.txt", true, "ENOENT" },
		{ "", true, "<p>root</p>\n" },
		{ "sub", false, "EISDIR" },
		{ "sub", true, "<p>sub</p>\n" },
		{ "missing", false, "ENOENT" },
		{ "link_in", false, "0123456789" },
		{ "link_sub/page.css", false, "p{}\n" },
		{ "link_sub", true, "<p>sub</p>\n" },
		{ "sub/up", false, "0123456789" },
		{ "link_loop", false, "ENOENT" },
		{ "fifo", false, "ENOENT" },
	};
	for (size_t i = 0; i < sizeof(view) / sizeof(view[0]); i++) {
		const char *v = open_result(view[i].rel, view[i].dir, HTTP_OPEN_VIEW);
		if (strcmp(v, view[i].want))
			fprintf(stderr, "open %s%s in a view: '%s'\n", view[i].rel,
				view[i].dir ? "/" : "", v);
		CHECK(!strcmp(v, view[i].want));
	}
	/* a name too long for the file system */
	char longname[600];
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	CHECK(!strcmp(open_result(longname, false, 0), "ENOENT"));
	CHECK(!strcmp(open_result(longname, false, HTTP_OPEN_NO_OPENAT2), "ENOENT"));
	CHECK(!strcmp(open_result(longname, true, 0), "ENOENT"));
	/* a bad root descriptor */
	struct stat st;
	CHECK(http_open_under_root(-1, "a.txt", false, 0, &st) < 0);
	CHECK_EQ(http_test_count_fds(), fds);
}

/* A request through reader and http_respond; the response head in buf. */
static struct http_response serve(const char *req, char *buf, size_t cap)
{
	struct http_reader *r = http_reader_new(NULL);
	const struct http_request *q;
	size_t used;
	struct http_response resp = { .body_fd = -1 };
	int rc = http_reader_feed(r, req, strlen(req), &used, &q);
	CHECK(rc == 1 || rc == -EBADMSG);
	buf[0] = '\0';
	CHECK_EQ(http_respond(q, tree.root_fd, 1700000000, buf, cap, &resp), 0);
	if (resp.head_len < cap)
		buf[resp.head_len] = '\0';
	http_reader_free(r);
	return resp;
}

static void test_serve(void)
{
	char buf[4096];
	int fds = http_test_count_fds();
	struct http_response resp;

	resp = serve("GET /sub HTTP/1.1\r\nHost: h\r\n\r\n", buf, sizeof(buf));
	CHECK_EQ(resp.status, 301);
	CHECK(strstr(buf, "\r\nLocation: /sub/\r\n") != NULL);
	CHECK(resp.keep_alive && resp.body_fd < 0);
	resp = serve("GET /sub?x=1&y=%2F HTTP/1.1\r\nHost: h\r\n\r\n", buf, sizeof(buf));
	CHECK(strstr(buf, "\r\nLocation: /sub/?x=1&y=%2F\r\n") != NULL);
	/* the longest Location fits in HTTP_RESP_BUF_SIZE: every byte escaped */
	{
		char *big = malloc(8192), *out = malloc(HTTP_RESP_BUF_SIZE(4096));
		if (!big || !out)
			abort();
		int n = sprintf(big, "GET /sp%%20ace?");
		memset(big + n, 0xff, 4096 - 14);
		strcpy(big + n + 4096 - 14, " HTTP/1.1\r\nHost: h\r\n\r\n");
		resp = serve(big, out, HTTP_RESP_BUF_SIZE(4096));
		CHECK_EQ(resp.status, 301);
		CHECK(strstr(out, "\r\nLocation: /sp%20ace/?%FF%FF") != NULL);
		free(big);
		free(out);
	}
	resp = serve("GET /sp%20ace HTTP/1.1\r\nHost: h\r\n\r\n", buf, sizeof(buf));
	CHECK(strstr(buf, "\r\nLocation: /sp%20ace/\r\n") != NULL);
	resp = serve("GET /a/../sub/. HTTP/1.1\r\nHost: h\r\n\r\n", buf, sizeof(buf));
	CHECK_EQ(resp.status, 200); /* "sub/." names the directory */
	CHECK(resp.body_fd >= 0);
	if (resp.body_fd >= 0) {
		CHECK(!strcmp(read_fd(resp.body_fd), "<p>sub</p>\n"));
		close(resp.body_fd);
	}
	CHECK(strstr(buf, "\r\nContent-Type: text/html; charset=utf-8\r\n") != NULL);
	resp = serve("GET / HTTP/1.1\r\nHost: h\r\n\r\n", buf, sizeof(buf));
	CHECK_EQ(resp.status, 200);
	CHECK_EQ(resp.body_len, strlen("<p>root</p>\n"));
	close(resp.body_fd);
	resp = serve("GET /%73ub/ HTTP/1.1\r\nHost: h\r\n\r\n", buf, sizeof(buf));
	CHECK_EQ(resp.status, 200);
	close(resp.body_fd);
	resp = serve("GET /link_in HTTP/1.1\r\nHost: h\r\n\r\n", buf, sizeof(buf));
	CHECK_EQ(resp.status, 200);
	close(resp.body_fd);

	/* the 404s all look the same, and say nothing of the file system */
	static const char *const hidden[] = { "/link_out", "/link_abs", "/fifo", "/missing",
					      "/nodir/", "/a.txt/", "/link_loop",
					      "/link_outdir/secret.txt" };
	char first[1024] = "";
	for (size_t i = 0; i < sizeof(hidden) / sizeof(hidden[0]); i++) {
		char req[128];
		snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: h\r\n\r\n", hidden[i]);
		resp = serve(req, buf, sizeof(buf));
		CHECK_EQ(resp.status, 404);
		CHECK(resp.body_fd < 0 && resp.keep_alive);
		CHECK(strstr(buf, "secret") == NULL && strstr(buf, "link") == NULL &&
		      strstr(buf, "fifo") == NULL && strstr(buf, tree.base) == NULL);
		char *body = strstr(buf, "\r\n\r\n");
		if (!first[0] && body)
			snprintf(first, sizeof(first), "%s", body);
		CHECK(body && !strcmp(body, first));
	}
	resp = serve("GET /../outside/secret.txt HTTP/1.1\r\nHost: h\r\n\r\n", buf, sizeof(buf));
	CHECK_EQ(resp.status, 400);
	CHECK(!resp.keep_alive);
	CHECK(strstr(buf, "\r\nConnection: close\r\n") != NULL);
	CHECK_EQ(http_test_count_fds(), fds);
}

int main(void)
{
	test_table();
	test_long();
	test_random();
	if (http_test_tree_make(&tree) < 0) {
		CHECK(0);
		http_test_tree_remove(&tree);
		return bh_test_summary("test_http_path");
	}
	test_open();
	test_serve();
	http_test_tree_remove(&tree);
	return bh_test_summary("test_http_path");
}
