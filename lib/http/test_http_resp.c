/* SPDX-License-Identifier: MIT */
/*
 * Responses: byte ranges in every form (edges at 0 and size-1, empty
 * files, numbers past 64 bits), conditionals (entity-tag lists, weak tags,
 * "*", the three date forms, invalid dates), If-Range, media types, the
 * Date format against the C library's, whole responses to GET and HEAD of
 * files in a temporary directory, and the combined log line.
 */
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bulkhead/http.h"
#include "lib/http/http_test.h"
#include "tests/unit/bh_test.h"

#define NOW 1700000000 /* Tue, 14 Nov 2023 22:13:20 GMT */
#define T1994 784111777 /* Sun, 06 Nov 1994 08:49:37 GMT */

static void test_ranges(void)
{
	static const struct {
		const char *v;
		uint64_t size;
		enum http_range_result res;
		uint64_t first, len;
	} cases[] = {
		{ "bytes=0-0", 10, HTTP_RANGE_OK, 0, 1 },
		{ "bytes=0-9", 10, HTTP_RANGE_OK, 0, 10 },
		{ "bytes=0-", 10, HTTP_RANGE_OK, 0, 10 },
		{ "bytes=9-", 10, HTTP_RANGE_OK, 9, 1 },
		{ "bytes=9-9", 10, HTTP_RANGE_OK, 9, 1 },
		{ "bytes=8-9", 10, HTTP_RANGE_OK, 8, 2 },
		{ "bytes=5-100", 10, HTTP_RANGE_OK, 5, 5 },
		{ "bytes=10-", 10, HTTP_RANGE_UNSATISFIABLE, 0, 0 },
		{ "bytes=10-10", 10, HTTP_RANGE_UNSATISFIABLE, 0, 0 },
		{ "bytes=11-20", 10, HTTP_RANGE_UNSATISFIABLE, 0, 0 },
		{ "bytes=-1", 10, HTTP_RANGE_OK, 9, 1 },
		{ "bytes=-9", 10, HTTP_RANGE_OK, 1, 9 },
		{ "bytes=-10", 10, HTTP_RANGE_OK, 0, 10 },
		{ "bytes=-11", 10, HTTP_RANGE_OK, 0, 10 },
		{ "bytes=-0", 10, HTTP_RANGE_UNSATISFIABLE, 0, 0 },
		{ "bytes=0-0", 1, HTTP_RANGE_OK, 0, 1 },
		{ "bytes=-1", 1, HTTP_RANGE_OK, 0, 1 },
		{ "bytes=1-", 1, HTTP_RANGE_UNSATISFIABLE, 0, 0 },
		/* an empty file has no byte to give */
		{ "bytes=0-0", 0, HTTP_RANGE_UNSATISFIABLE, 0, 0 },
		{ "bytes=0-", 0, HTTP_RANGE_UNSATISFIABLE, 0, 0 },
		{ "bytes=-1", 0, HTTP_RANGE_UNSATISFIABLE, 0, 0 },
		/* case, whitespace and empty list elements */
		{ "BYTES=1-2", 10, HTTP_RANGE_OK, 1, 2 },
		{ "Bytes=1-2", 10, HTTP_RANGE_OK, 1, 2 },
		{ "bytes= 1-2 ", 10, HTTP_RANGE_OK, 1, 2 },
		{ "bytes=1-2,", 10, HTTP_RANGE_OK, 1, 2 },
		{ "bytes=, ,1-2", 10, HTTP_RANGE_OK, 1, 2 },
		{ "bytes=\t-3", 10, HTTP_RANGE_OK, 7, 3 },
		/* several ranges: the whole representation */
		{ "bytes=0-1,2-3", 10, HTTP_RANGE_IGNORE, 0, 0 },
		{ "bytes=0-1, 5-", 10, HTTP_RANGE_IGNORE, 0, 0 },
		{ "bytes=-1,-2", 10, HTTP_RANGE_IGNORE, 0, 0 },
		{ "bytes=0-1,0-1", 10, HTTP_RANGE_IGNORE, 0, 0 },
		{ "bytes=50-60,0-1", 10, HTTP_RANGE_IGNORE, 0, 0 },
		/* malformed: ignored */
		{ "bytes=5-4", 10, HTTP_RANGE_IGNORE, 0, 0 },
		{ "bytes 0-1", 10, HTTP_RANGE_IGNORE, 0, 0 },
		{ "bytes=", 10, HTTP_RANGE_IGNORE, 0, 0 },
		{ "bytes=,", 10, HTTP_RANGE_IGNORE, 0, 0 },
		{ "bytes=-", 10, HTTP_RANGE_IGNORE, 0, 0 },
		{ "bytes=--1", 10, HTTP_RANGE_IGNORE, 0, 0 },
		{ "bytes=a-b", 10, HTTP_RANGE_IGNORE, 0, 0 },
		{ "bytes=1-2-3", 10, HTTP_RANGE_IGNORE, 0, 0 },
		{ "bytes=1", 10, HTTP_RANGE_IGNORE, 0, 0 },
		{ "bytes=0x1-", 10, HTTP_RANGE_IGNORE, 0, 0 },
		{ "bytes=+1-", 10, HTTP_RANGE_IGNORE, 0, 0 },
		{ "bytes=1 -2", 10, HTTP_RANGE_IGNORE, 0, 0 },
		{ "bytes=1- 2", 10, HTTP_RANGE_IGNORE, 0, 0 },
		{ "bytes=0-1;x", 10, HTTP_RANGE_IGNORE, 0, 0 },
		{ "bytes =0-1", 10, HTTP_RANGE_IGNORE, 0, 0 },
		{ "bytesx=0-1", 10, HTTP_RANGE_IGNORE, 0, 0 },
		{ "items=0-1", 10, HTTP_RANGE_IGNORE, 0, 0 },
		{ "byte", 10, HTTP_RANGE_IGNORE, 0, 0 },
		{ "", 10, HTTP_RANGE_IGNORE, 0, 0 },
		/* numbers past 64 bits are large, not malformed */
		{ "bytes=18446744073709551615-", 10, HTTP_RANGE_UNSATISFIABLE, 0, 0 },
		{ "bytes=99999999999999999999999-", 10, HTTP_RANGE_UNSATISFIABLE, 0, 0 },
		{ "bytes=0-99999999999999999999999", 10, HTTP_RANGE_OK, 0, 10 },
		{ "bytes=3-18446744073709551616", 10, HTTP_RANGE_OK, 3, 7 },
		{ "bytes=-99999999999999999999999", 10, HTTP_RANGE_OK, 0, 10 },
		{ "bytes=99999999999999999999-99999999999999999998", 10, HTTP_RANGE_IGNORE, 0, 0 },
		{ "bytes=99999999999999999998-99999999999999999999", 10, HTTP_RANGE_UNSATISFIABLE, 0, 0 },
		{ "bytes=00099999999999999999999-99999999999999999999999", 10, HTTP_RANGE_UNSATISFIABLE,
		  0, 0 },
		{ "bytes=18446744073709551615-18446744073709551614", 10, HTTP_RANGE_IGNORE, 0, 0 },
		{ "bytes=18446744073709551616-18446744073709551615", 10, HTTP_RANGE_IGNORE, 0, 0 },
		{ "bytes=18446744073709551614-18446744073709551615", UINT64_MAX, HTTP_RANGE_OK,
		  18446744073709551614u, 1 },
		{ "bytes=0-", UINT64_MAX, HTTP_RANGE_OK, 0, UINT64_MAX },
		{ "bytes=-1", UINT64_MAX, HTTP_RANGE_OK, UINT64_MAX - 1, 1 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t first = 7777, len = 7777;
		enum http_range_result r = http_range_parse(cases[i].v, cases[i].size, &first, &len);
		if (r != cases[i].res)
			fprintf(stderr, "range '%s' size %llu: %d\n", cases[i].v,
				(unsigned long long)cases[i].size, r);
		CHECK_EQ(r, cases[i].res);
		if (r == HTTP_RANGE_OK) {
			CHECK(first == cases[i].first);
			CHECK(len == cases[i].len);
			CHECK(first + len - 1 <= cases[i].size - 1);
		}
	}
	uint64_t f, l;
	CHECK_EQ(http_range_parse(NULL, 10, &f, &l), HTTP_RANGE_IGNORE);
}

/* ------------------------------------------------------------------ dates */

static void test_dates(void)
{
	static const struct {
		const char *s;
		time_t t; /* -1: invalid */
	} cases[] = {
		{ "Sun, 06 Nov 1994 08:49:37 GMT", T1994 },
		{ "Sunday, 06-Nov-94 08:49:37 GMT", T1994 },
		{ "Sun Nov  6 08:49:37 1994", T1994 },
		{ "Sun Nov 06 08:49:37 1994", T1994 },
		{ "Thu, 01 Jan 1970 00:00:00 GMT", 0 },
		{ "Tue, 29 Feb 2000 00:00:00 GMT", 951782400 },
		{ "Fri, 31 Dec 9999 23:59:59 GMT", 253402300799 },
		{ "Wed, 31 Dec 1969 23:59:59 GMT", -1 - 0 }, /* valid: one second before */
		{ "Sun, 06 Nov 1994 08:49:60 GMT", T1994 + 23 },
		/* the weekday is not checked against the date */
		{ "Mon, 06 Nov 1994 08:49:37 GMT", T1994 },
		/* rfc850: two-digit years within 50 years ahead of now (2023) */
		{ "Tuesday, 14-Nov-23 22:13:20 GMT", NOW },
		{ "Monday, 01-Jan-73 00:00:00 GMT", 3250454400 },
		{ "Monday, 01-Jan-74 00:00:00 GMT", 126230400 },
		{ "Monday, 01-Jan-00 00:00:00 GMT", 946684800 },
	};
	static const char *const bad[] = {
		"Sun, 06 Nov 1994 08:49:37 UTC",
		"sun, 06 Nov 1994 08:49:37 GMT",
		"Sun, 06 nov 1994 08:49:37 GMT",
		"Sun, 6 Nov 1994 08:49:37 GMT",
		"Sun, 06 Nov 94 08:49:37 GMT",
		"Sun, 31 Feb 1994 08:49:37 GMT",
		"Thu, 29 Feb 1900 00:00:00 GMT",
		"Sun, 00 Nov 1994 08:49:37 GMT",
		"Sun, 32 Oct 1994 08:49:37 GMT",
		"Sun, 06 Nov 1994 24:00:00 GMT",
		"Sun, 06 Nov 1994 08:60:00 GMT",
		"Sun, 06 Nov 1994 08:49:61 GMT",
		"Sun, 06 Nov 1994 08:49:37 GMT ",
		" Sun, 06 Nov 1994 08:49:37 GMT",
		"Sun, 06 Nov 1994 08-49-37 GMT",
		"Sun,06 Nov 1994 08:49:37 GMT ",
		"Xyz, 06 Nov 1994 08:49:37 GMT",
		"Sun, 06 Nov 199x 08:49:37 GMT",
		"Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT",
		"Sunday, 06-Nov-1994 08:49:37 GMT",
		"Sun, 06-Nov-94 08:49:37 GMT",
		"Someday, 06-Nov-94 08:49:37 GMT",
		"Sunday, 06 Nov 94 08:49:37 GMT",
		"Sun Nov 6 08:49:37 1994",
		"Sun Nov  0 08:49:37 1994",
		"Sun Nov  6 08:49:37 94",
		"Sun Nov  6 08:49:37 1994 ",
		"Sun  Nov 6 08:49:37 1994",
		"",
		"0",
		"784111777",
		", ",
		",                        ",
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		time_t t = 12345;
		int rc = http_date_parse(cases[i].s, NOW, &t);
		if (rc || t != cases[i].t)
			fprintf(stderr, "date '%s': %d %lld\n", cases[i].s, rc, (long long)t);
		CHECK_EQ(rc, 0);
		CHECK_EQ(t, cases[i].t);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		time_t t;
		int rc = http_date_parse(bad[i], NOW, &t);
		if (rc != -EBADMSG)
			fprintf(stderr, "date '%s' accepted\n", bad[i]);
		CHECK_EQ(rc, -EBADMSG);
	}

	char d[HTTP_DATE_LEN + 1];
	CHECK_EQ(http_date_format(0, d), HTTP_DATE_LEN);
	CHECK(!strcmp(d, "Thu, 01 Jan 1970 00:00:00 GMT"));
	http_date_format(T1994, d);
	CHECK(!strcmp(d, "Sun, 06 Nov 1994 08:49:37 GMT"));
	http_date_format(NOW, d);
	CHECK(!strcmp(d, "Tue, 14 Nov 2023 22:13:20 GMT"));
	http_date_format(-5, d);
	CHECK(!strcmp(d, "Thu, 01 Jan 1970 00:00:00 GMT"));
	http_date_format((time_t)1 << 50, d);
	CHECK(!strcmp(d, "Fri, 31 Dec 9999 23:59:59 GMT"));
	CHECK_EQ(strlen(d), HTTP_DATE_LEN);

	/* against the C library, and back through the parser */
	uint64_t x = 0x9e3779b97f4a7c15ull;
	int same = 1;
	for (int i = 0; i < 100000 && same; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		time_t t = (time_t)(x % 253402300800ull);
		if (i < 3)
			t = (time_t[]){ 951782399, 951868800, 4107542400 }[i];
		struct tm tm;
		char ref[64];
		gmtime_r(&t, &tm);
		strftime(ref, sizeof(ref), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		http_date_format(t, d);
		time_t back = 0;
		if (strcmp(d, ref) || http_date_parse(d, NOW, &back) || back != t) {
			fprintf(stderr, "date %lld: '%s' vs '%s', back %lld\n", (long long)t, d, ref,
				(long long)back);
			same = 0;
		}
	}
	CHECK(same);
}

/* ----------------------------------------------------------- conditionals */

static void test_etags(void)
{
	/* http_etag_format: "inode-size-mtime in ns", in hex */
	static const uint64_t v[][4] = {
		{0, 0, 0, 0}, {0x1234, 64, 1, 5}, {UINT64_MAX, INT64_MAX, 1700000000, 999999999},
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct stat st = {.st_ino = (ino_t)v[i][0], .st_size = (off_t)v[i][1]};
		st.st_mtim.tv_sec = (time_t)v[i][2];
		st.st_mtim.tv_nsec = (long)v[i][3];
		char got[HTTP_ETAG_MAX], want[HTTP_ETAG_MAX];
		snprintf(want, sizeof(want), "\"%" PRIx64 "-%" PRIx64 "-%" PRIx64 "\"", v[i][0], v[i][1],
			 v[i][2] * 1000000000u + v[i][3]);
		CHECK_EQ(http_etag_format(&st, got), strlen(want));
		CHECK(!strcmp(got, want));
	}
	const char *e = "\"abc\"";
	static const struct {
		const char *list;
		int weak, strong; /* http_etag_match results */
	} cases[] = {
		{ "\"abc\"", 1, 1 },
		{ "W/\"abc\"", 1, 0 },
		{ "\"x\", \"abc\"", 1, 1 },
		{ "\"x\",W/\"abc\"", 1, 0 },
		{ "\"x\"", 0, 0 },
		{ "\"ABC\"", 0, 0 },
		{ "\"abc", -EBADMSG, -EBADMSG },
		{ "abc", -EBADMSG, -EBADMSG },
		{ "*", 1, 1 },
		{ " * ", 1, 1 },
		{ "*, \"abc\"", -EBADMSG, -EBADMSG },
		{ ", ,\"abc\" ,", 1, 1 },
		{ "\"x\" \"abc\"", -EBADMSG, -EBADMSG },
		{ "w/\"abc\"", -EBADMSG, -EBADMSG },
		{ "W/ \"abc\"", -EBADMSG, -EBADMSG },
		{ "\"a\"bc\"", -EBADMSG, -EBADMSG },
		{ "\"a b\"", -EBADMSG, -EBADMSG },
		{ "\"\"", 0, 0 },
		{ "", -EBADMSG, -EBADMSG },
		{ " , ", -EBADMSG, -EBADMSG },
		{ "\"\xc3\xa9\", \"abc\"", 1, 1 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int w = http_etag_match(cases[i].list, e, true);
		int s = http_etag_match(cases[i].list, e, false);
		if (w != cases[i].weak || s != cases[i].strong)
			fprintf(stderr, "etag list '%s': weak %d strong %d\n", cases[i].list, w, s);
		CHECK_EQ(w, cases[i].weak);
		CHECK_EQ(s, cases[i].strong);
	}

	struct stat st = { 0 };
	char tag[HTTP_ETAG_MAX], tag2[HTTP_ETAG_MAX];
	st.st_ino = 0x1234;
	st.st_size = 10;
	st.st_mtim.tv_sec = 1;
	st.st_mtim.tv_nsec = 5;
	CHECK_EQ(http_etag_format(&st, tag), strlen("\"1234-a-3b9aca05\""));
	CHECK(!strcmp(tag, "\"1234-a-3b9aca05\""));
	st.st_mtim.tv_nsec = 6; /* a sub-second change is a new tag */
	http_etag_format(&st, tag2);
	CHECK(strcmp(tag, tag2) != 0);
	st.st_ino = (ino_t)-1;
	st.st_size = INT64_MAX;
	st.st_mtim.tv_sec = INT64_MAX / 2000000000;
	st.st_mtim.tv_nsec = 999999999;
	CHECK(http_etag_format(&st, tag) < HTTP_ETAG_MAX);
}

static void test_conditional(void)
{
	const char *e = "\"abc\"";
	const time_t lm = T1994;
	static const struct {
		const char *im, *inm, *ims, *ius;
		int expect;
	} cases[] = {
		{ NULL, NULL, NULL, NULL, 0 },
		/* If-None-Match: weak comparison; 304 for GET and HEAD */
		{ NULL, "\"abc\"", NULL, NULL, 304 },
		{ NULL, "W/\"abc\"", NULL, NULL, 304 },
		{ NULL, "\"x\", \"abc\"", NULL, NULL, 304 },
		{ NULL, "*", NULL, NULL, 304 },
		{ NULL, "\"x\"", NULL, NULL, 0 },
		/* If-Modified-Since only without If-None-Match */
		{ NULL, "\"x\"", "Sun, 06 Nov 1994 08:49:37 GMT", NULL, 0 },
		{ NULL, NULL, "Sun, 06 Nov 1994 08:49:37 GMT", NULL, 304 },
		{ NULL, NULL, "Sunday, 06-Nov-94 08:49:37 GMT", NULL, 304 },
		{ NULL, NULL, "Sun Nov  6 08:49:37 1994", NULL, 304 },
		{ NULL, NULL, "Sun, 06 Nov 1994 08:49:36 GMT", NULL, 0 },
		{ NULL, NULL, "Sun, 06 Nov 2022 08:49:37 GMT", NULL, 304 },
		{ NULL, NULL, "Sun, 06 Nov 2044 08:49:37 GMT", NULL, 0 }, /* in the future */
		{ NULL, NULL, "not a date", NULL, 0 },
		{ NULL, NULL, "Sun, 06 Nov 1994 08:49:37 GMT, Sun, 06 Nov 1994 08:49:37 GMT", NULL, 0 },
		/* an invalid If-None-Match counts as absent */
		{ NULL, "abc", "Sun, 06 Nov 1994 08:49:37 GMT", NULL, 304 },
		{ NULL, "abc", NULL, NULL, 0 },
		/* If-Match: strong comparison, 412 when false or invalid */
		{ "\"abc\"", NULL, NULL, NULL, 0 },
		{ "*", NULL, NULL, NULL, 0 },
		{ "W/\"abc\"", NULL, NULL, NULL, 412 },
		{ "\"x\"", NULL, NULL, NULL, 412 },
		{ "bad", NULL, NULL, NULL, 412 },
		{ "\"abc\"", "\"abc\"", NULL, NULL, 304 },
		/* If-Unmodified-Since, only without If-Match */
		{ NULL, NULL, NULL, "Sun, 06 Nov 1994 08:49:36 GMT", 412 },
		{ NULL, NULL, NULL, "Sun, 06 Nov 1994 08:49:37 GMT", 0 },
		{ NULL, NULL, NULL, "garbage", 0 },
		{ "\"abc\"", NULL, NULL, "Sun, 06 Nov 1994 08:49:36 GMT", 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct http_request q = { .method = HTTP_METHOD_GET,
					  .if_match = cases[i].im,
					  .if_none_match = cases[i].inm,
					  .if_modified_since = cases[i].ims,
					  .if_unmodified_since = cases[i].ius };
		int rc = http_conditional(&q, e, lm, NOW);
		if (rc != cases[i].expect)
			fprintf(stderr, "conditional case %zu: %d\n", i, rc);
		CHECK_EQ(rc, cases[i].expect);
	}

	CHECK(http_if_range(NULL, e, lm, NOW));
	CHECK(http_if_range("\"abc\"", e, lm, NOW));
	CHECK(!http_if_range("W/\"abc\"", e, lm, NOW));
	CHECK(!http_if_range("\"x\"", e, lm, NOW));
	CHECK(!http_if_range("\"abc\", \"x\"", e, lm, NOW));
	CHECK(http_if_range("Sun, 06 Nov 1994 08:49:37 GMT", e, lm, NOW));
	CHECK(!http_if_range("Sun, 06 Nov 1994 08:49:38 GMT", e, lm, NOW));
	CHECK(!http_if_range("garbage", e, lm, NOW));
}

static void test_mime(void)
{
	static const struct {
		const char *name, *type;
	} cases[] = {
		{ "index.html", "text/html; charset=utf-8" },
		{ "A/B.HTML", "text/html; charset=utf-8" },
		{ "x.htm", "text/html; charset=utf-8" },
		{ "s.css", "text/css; charset=utf-8" },
		{ "app.js", "text/javascript; charset=utf-8" },
		{ "d.json", "application/json" },
		{ "r.txt", "text/plain; charset=utf-8" },
		{ "i.png", "image/png" },
		{ "i.jpg", "image/jpeg" },
		{ "i.JPEG", "image/jpeg" },
		{ "i.gif", "image/gif" },
		{ "i.svg", "image/svg+xml" },
		{ "favicon.ico", "image/vnd.microsoft.icon" },
		{ "doc.pdf", "application/pdf" },
		{ "m.wasm", "application/wasm" },
		{ "v.mp4", "video/mp4" },
		{ "f.woff2", "font/woff2" },
		{ "f.woff", "font/woff" },
		{ "a.tar.gz", "application/gzip" },
		{ "noext", "application/octet-stream" },
		{ "dir.d/file", "application/octet-stream" },
		{ "file.", "application/octet-stream" },
		{ ".hidden", "application/octet-stream" },
		{ "x.unknown", "application/octet-stream" },
		{ "x.htmlx", "application/octet-stream" },
		{ "x.ht", "application/octet-stream" },
		{ "", "application/octet-stream" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (strcmp(http_mime_type(cases[i].name), cases[i].type))
			fprintf(stderr, "mime %s: %s\n", cases[i].name, http_mime_type(cases[i].name));
		CHECK(!strcmp(http_mime_type(cases[i].name), cases[i].type));
	}
}

/* ------------------------------------------------------------- responses */

static struct http_test_tree tree;

static void put_file(const char *name, const char *content, time_t mtime)
{
	int fd = openat(tree.root_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, content, strlen(content)) != (ssize_t)strlen(content))
		abort();
	struct timespec ts[2] = { { mtime, 0 }, { mtime, 0 } };
	futimens(fd, ts);
	close(fd);
}

/* The response to a GET or HEAD of path with extra field lines. */
static struct http_response respond(const char *method, const char *path, const char *fields,
				    char *buf, size_t cap, int *rc)
{
	char req[1024];
	struct http_reader *r = http_reader_new(NULL);
	const struct http_request *q;
	size_t used;
	struct http_response resp;
	snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: h\r\n%s\r\n", method, path, fields);
	http_reader_feed(r, req, strlen(req), &used, &q);
	*rc = http_respond(q, tree.root_fd, NOW, buf, cap, &resp);
	if (*rc == 0)
		buf[resp.head_len < cap ? resp.head_len : cap - 1] = '\0';
	http_reader_free(r);
	return resp;
}

/* The status of a GET or HEAD, its body descriptor closed. */
static int status_of(const char *method, const char *path, const char *fields)
{
	char buf[4096];
	int rc;
	struct http_response resp = respond(method, path, fields, buf, sizeof(buf), &rc);
	if (resp.body_fd >= 0)
		close(resp.body_fd);
	return rc ? rc : resp.status;
}

static const char *field(const char *head, const char *name) /* value, in a static buffer */
{
	static char v[256];
	char key[64];
	snprintf(key, sizeof(key), "\r\n%s: ", name);
	const char *p = strstr(head, key);
	if (!p)
		return NULL;
	p += strlen(key);
	size_t n = strcspn(p, "\r");
	snprintf(v, sizeof(v), "%.*s", (int)n, p);
	return v;
}

static bool is(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

static void test_responses(void)
{
	char buf[4096], head_get[4096], etag[HTTP_ETAG_MAX], ir[256];
	struct http_response resp;
	struct stat st;
	int rc, fds = http_test_count_fds();

	if (http_test_tree_make(&tree) < 0) {
		CHECK(0);
		http_test_tree_remove(&tree);
		return;
	}
	put_file("f.txt", "0123456789", 1000000000);
	put_file("empty.bin", "", 1000000000);
	put_file("future.css", "p{}", NOW + 3600);
	fstatat(tree.root_fd, "f.txt", &st, 0);
	http_etag_format(&st, etag);

	/* GET: every field */
	resp = respond("GET", "/f.txt", "", buf, sizeof(buf), &rc);
	CHECK_EQ(rc, 0);
	CHECK_EQ(resp.status, 200);
	CHECK(!strncmp(buf, "HTTP/1.1 200 OK\r\n", 17));
	CHECK(is(field(buf, "Date"), "Tue, 14 Nov 2023 22:13:20 GMT"));
	CHECK(is(field(buf, "Server"), "bulkhead"));
	CHECK(is(field(buf, "Content-Type"), "text/plain; charset=utf-8"));
	CHECK(is(field(buf, "Content-Length"), "10"));
	CHECK(is(field(buf, "Last-Modified"), "Sun, 09 Sep 2001 01:46:40 GMT"));
	CHECK(is(field(buf, "ETag"), etag));
	CHECK(is(field(buf, "Accept-Ranges"), "bytes"));
	CHECK(is(field(buf, "Connection"), "keep-alive"));
	CHECK(field(buf, "Content-Range") == NULL);
	CHECK_EQ(strlen(buf), resp.head_len);
	CHECK(!strcmp(buf + resp.head_len - 4, "\r\n\r\n"));
	CHECK(resp.body_fd >= 0 && resp.body_off == 0 && resp.body_len == 10);
	CHECK(resp.content_bytes == 10 && resp.keep_alive);
	strcpy(head_get, buf);
	if (resp.body_fd >= 0)
		close(resp.body_fd);

	/* HEAD: the same head, no body, nothing left open */
	resp = respond("HEAD", "/f.txt", "", buf, sizeof(buf), &rc);
	CHECK_EQ(resp.status, 200);
	CHECK(!strcmp(buf, head_get));
	CHECK(resp.body_fd == -1 && resp.body_len == 0 && resp.content_bytes == 0);
	/* HEAD ignores Range (defined for GET only) */
	resp = respond("HEAD", "/f.txt", "Range: bytes=0-1\r\n", buf, sizeof(buf), &rc);
	CHECK_EQ(resp.status, 200);
	CHECK(resp.body_fd == -1);

	/* ranges */
	resp = respond("GET", "/f.txt", "Range: bytes=2-4\r\n", buf, sizeof(buf), &rc);
	CHECK_EQ(resp.status, 206);
	CHECK(!strncmp(buf, "HTTP/1.1 206 Partial Content\r\n", 30));
	CHECK(is(field(buf, "Content-Range"), "bytes 2-4/10"));
	CHECK(is(field(buf, "Content-Length"), "3"));
	CHECK(resp.body_fd >= 0 && resp.body_off == 2 && resp.body_len == 3);
	if (resp.body_fd >= 0)
		close(resp.body_fd);
	resp = respond("GET", "/f.txt", "Range: bytes=-1\r\n", buf, sizeof(buf), &rc);
	CHECK(is(field(buf, "Content-Range"), "bytes 9-9/10"));
	CHECK(resp.body_off == 9 && resp.body_len == 1);
	if (resp.body_fd >= 0)
		close(resp.body_fd);
	resp = respond("GET", "/f.txt", "Range: bytes=10-\r\n", buf, sizeof(buf), &rc);
	CHECK_EQ(resp.status, 416);
	CHECK(is(field(buf, "Content-Range"), "bytes */10"));
	CHECK(resp.body_fd == -1 && resp.keep_alive);
	resp = respond("GET", "/f.txt", "Range: bytes=0-1,3-4\r\n", buf, sizeof(buf), &rc);
	CHECK_EQ(resp.status, 200);
	CHECK(resp.body_len == 10);
	if (resp.body_fd >= 0)
		close(resp.body_fd);
	CHECK_EQ(status_of("GET", "/f.txt", "Range: bytes=4-2\r\n"), 200);
	/* two Range lines make one invalid value */
	CHECK_EQ(status_of("GET", "/f.txt", "Range: bytes=0-1\r\nRange: bytes=3-4\r\n"), 200);
	/* If-Range: a strong tag or the exact date keeps the range */
	snprintf(ir, sizeof(ir), "Range: bytes=1-1\r\nIf-Range: %s\r\n", etag);
	CHECK_EQ(status_of("GET", "/f.txt", ir), 206);
	snprintf(ir, sizeof(ir), "Range: bytes=1-1\r\nIf-Range: W/%s\r\n", etag);
	CHECK_EQ(status_of("GET", "/f.txt", ir), 200);
	CHECK_EQ(status_of("GET", "/f.txt",
			   "Range: bytes=1-1\r\nIf-Range: Sun, 09 Sep 2001 01:46:40 GMT\r\n"),
		 206);
	CHECK_EQ(status_of("GET", "/f.txt", "Range: bytes=1-1\r\nIf-Range: \"old\"\r\n"), 200);

	/* empty file: 200 with no body to stream; any range is unsatisfiable */
	resp = respond("GET", "/empty.bin", "", buf, sizeof(buf), &rc);
	CHECK_EQ(resp.status, 200);
	CHECK(is(field(buf, "Content-Length"), "0"));
	CHECK(is(field(buf, "Content-Type"), "application/octet-stream"));
	CHECK(resp.body_fd == -1 && resp.body_len == 0);
	resp = respond("GET", "/empty.bin", "Range: bytes=0-\r\n", buf, sizeof(buf), &rc);
	CHECK_EQ(resp.status, 416);
	CHECK(is(field(buf, "Content-Range"), "bytes */0"));

	/* conditionals through the whole path */
	snprintf(ir, sizeof(ir), "If-None-Match: \"zz\", W/%s\r\n", etag);
	resp = respond("GET", "/f.txt", ir, buf, sizeof(buf), &rc);
	CHECK_EQ(resp.status, 304);
	CHECK(!strncmp(buf, "HTTP/1.1 304 Not Modified\r\n", 27));
	CHECK(is(field(buf, "ETag"), etag));
	CHECK(is(field(buf, "Last-Modified"), "Sun, 09 Sep 2001 01:46:40 GMT"));
	CHECK(field(buf, "Date") != NULL);
	CHECK(field(buf, "Content-Length") == NULL && field(buf, "Content-Type") == NULL);
	CHECK(resp.body_fd == -1 && resp.content_bytes == 0 && resp.keep_alive);
	CHECK(!strcmp(buf + resp.head_len - 4, "\r\n\r\n"));
	resp = respond("HEAD", "/f.txt", "If-Modified-Since: Sun, 09 Sep 2001 01:46:40 GMT\r\n", buf,
		       sizeof(buf), &rc);
	CHECK_EQ(resp.status, 304);
	CHECK_EQ(status_of("GET", "/f.txt", "If-Modified-Since: Sun, 09 Sep 2001 01:46:39 GMT\r\n"),
		 200);
	resp = respond("GET", "/f.txt", "If-Match: \"other\"\r\n", buf, sizeof(buf), &rc);
	CHECK_EQ(resp.status, 412);
	CHECK(resp.body_fd == -1);
	snprintf(ir, sizeof(ir), "If-None-Match: %s\r\nRange: bytes=0-1\r\n", etag);
	resp = respond("GET", "/f.txt", ir, buf, sizeof(buf), &rc);
	CHECK_EQ(resp.status, 304); /* conditionals before ranges */

	/* a file dated in the future is Last-Modified now */
	resp = respond("GET", "/future.css", "", buf, sizeof(buf), &rc);
	CHECK(is(field(buf, "Last-Modified"), "Tue, 14 Nov 2023 22:13:20 GMT"));
	CHECK(is(field(buf, "Content-Type"), "text/css; charset=utf-8"));
	if (resp.body_fd >= 0)
		close(resp.body_fd);

	/* errors: fixed bodies, Allow on 405, close after what the reader refused */
	resp = respond("GET", "/nope", "", buf, sizeof(buf), &rc);
	CHECK_EQ(resp.status, 404);
	CHECK(is(field(buf, "Content-Type"), "text/html; charset=utf-8"));
	CHECK(strstr(buf, "<h1>404 Not Found</h1>") != NULL);
	CHECK(resp.content_bytes > 0 && resp.keep_alive);
	CHECK_EQ(atoi(field(buf, "Content-Length")), resp.content_bytes);
	resp = respond("HEAD", "/nope", "", buf, sizeof(buf), &rc);
	CHECK_EQ(resp.status, 404);
	CHECK(field(buf, "Content-Length") != NULL);
	CHECK(strstr(buf, "<h1>") == NULL && resp.content_bytes == 0);
	resp = respond("DELETE", "/f.txt", "", buf, sizeof(buf), &rc);
	CHECK_EQ(resp.status, 405);
	CHECK(is(field(buf, "Allow"), "GET, HEAD"));
	CHECK(is(field(buf, "Connection"), "close"));
	CHECK(!resp.keep_alive);
	resp = respond("BREW", "/f.txt", "", buf, sizeof(buf), &rc);
	CHECK_EQ(resp.status, 501);
	CHECK(!strncmp(buf, "HTTP/1.1 501 Not Implemented\r\n", 30));
	resp = respond("GET", "/f.txt", "Content-Length: 4\r\n", buf, sizeof(buf), &rc);
	CHECK_EQ(resp.status, 413);
	CHECK(!resp.keep_alive);

	/* a buffer too small: -ENOSPC and no descriptor left behind */
	for (size_t cap = 0; cap < 400; cap += 7) {
		resp = respond("GET", "/f.txt", "", buf, cap, &rc);
		if (rc == 0) {
			CHECK(resp.head_len < cap);
			if (resp.body_fd >= 0)
				close(resp.body_fd);
		} else {
			CHECK_EQ(rc, -ENOSPC);
			CHECK(resp.body_fd == -1);
		}
	}
	resp = respond("GET", "/f.txt", "", buf, 400, &rc);
	CHECK_EQ(rc, 0);
	if (resp.body_fd >= 0)
		close(resp.body_fd);
	resp = respond("GET", "/nope", "", buf, 100, &rc);
	CHECK_EQ(rc, -ENOSPC);

	/* responses the server decides itself */
	CHECK_EQ(http_respond_status(408, false, false, NOW, buf, sizeof(buf), &resp), 0);
	buf[resp.head_len] = '\0';
	CHECK(!strncmp(buf, "HTTP/1.1 408 Request Timeout\r\n", 30));
	CHECK(is(field(buf, "Connection"), "close"));
	CHECK_EQ(http_respond_status(503, true, true, NOW, buf, sizeof(buf), &resp), 0);
	buf[resp.head_len] = '\0';
	CHECK(is(field(buf, "Connection"), "keep-alive") && strstr(buf, "<h1>") == NULL);
	CHECK(!strcmp(http_reason(999), "Unknown"));

	http_test_tree_remove(&tree);
	CHECK_EQ(http_test_count_fds(), fds);
}

/* ------------------------------------------------------- open-file cache */

/* The whole response (head, then the body from its descriptor if any) to a
 * request, through fc (NULL: none), at time now; its length, -1 on error. */
static ssize_t whole(struct http_file_cache *fc, const char *method, const char *path,
		     const char *fields, time_t now, char *out, size_t cap,
		     struct http_response *resp)
{
	char req[1024];
	struct http_reader *r = http_reader_new(NULL);
	const struct http_request *q;
	size_t used;
	snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: h\r\n%s\r\n", method, path, fields);
	http_reader_feed(r, req, strlen(req), &used, &q);
	int rc = http_respond_cached(q, tree.root_fd, 0, fc, now, out, cap, resp);
	http_reader_free(r);
	if (rc < 0)
		return -1;
	size_t n = resp->head_len;
	if (resp->body_fd >= 0) {
		ssize_t k = pread(resp->body_fd, out + n, resp->body_len, (off_t)resp->body_off);
		close(resp->body_fd);
		if (k != (ssize_t)resp->body_len)
			return -1;
		n += (size_t)k;
	}
	return (ssize_t)n;
}

static void test_file_cache(void)
{
	static char a[64 << 10], b[64 << 10];
	struct http_response ra, rb;
	struct http_file_cache_stats st;
	int fds = http_test_count_fds();

	errno = 0;
	CHECK(!http_file_cache_create(0, 100) && errno == EINVAL);
	CHECK(!http_file_cache_create(HTTP_FILE_CACHE_MAX_ENTRIES + 1, 100) && errno == EINVAL);
	CHECK(!http_file_cache_create(4, 0) && errno == EINVAL);
	CHECK(!http_file_cache_create(4, HTTP_FILE_CACHE_MAX_FILE + 1) && errno == EINVAL);
	if (http_test_tree_make(&tree) < 0) {
		CHECK(0);
		http_test_tree_remove(&tree);
		return;
	}
	memset(a, 'x', 20000);
	a[20000] = '\0';
	put_file("f.txt", "0123456789", 1000000000);
	put_file("big.bin", a, 1000000000);
	struct http_file_cache *fc = http_file_cache_create(64, 16384);
	CHECK(fc != NULL);
	if (!fc)
		return;

	/* Every kind of answer is the same byte for byte with and without the
	 * cache, the first time (a miss) and the second (a hit). */
	static const char *const reqs[][3] = {
		{"GET", "/f.txt", ""}, {"HEAD", "/f.txt", ""}, {"GET", "/f.txt", "Range: bytes=2-4\r\n"},
		{"GET", "/f.txt", "Range: bytes=20-\r\n"}, {"GET", "/sub/", ""}, {"GET", "/sub", ""},
		{"GET", "/nope", ""}, {"GET", "/big.bin", ""}, {"GET", "/a.txt", ""},
		{"GET", "/empty.bin", ""}, {"GET", "/link_out", ""}, {"GET", "/sub/up", ""},
		{"GET", "/f.txt", "If-Modified-Since: Sun, 09 Sep 2001 01:46:40 GMT\r\n"},
	};
	for (int round = 0; round < 2; round++)
		for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
			ssize_t na = whole(NULL, reqs[i][0], reqs[i][1], reqs[i][2], NOW, a, sizeof(a), &ra);
			ssize_t nb = whole(fc, reqs[i][0], reqs[i][1], reqs[i][2], NOW, b, sizeof(b), &rb);
			if (na != nb || na < 0 || memcmp(a, b, (size_t)na))
				fprintf(stderr, "cache: %s %s %s: %zd vs %zd\n", reqs[i][0], reqs[i][1],
					reqs[i][2], na, nb);
			CHECK(na == nb && na > 0 && !memcmp(a, b, (size_t)na));
			CHECK_EQ(ra.status, rb.status);
			CHECK_EQ(ra.content_bytes, rb.content_bytes);
		}
	http_file_cache_get_stats(fc, &st);
	/* cached: f.txt, sub/index.html, a.txt, empty.bin, sub/up (its target) */
	CHECK_EQ(st.entries, 5);
	/* the first round: f.txt once missed then 4 hits, the rest missed; the
	 * second: all 9 requests for those files hit */
	CHECK_EQ(st.hits, 4 + 9);
	whole(fc, "GET", "/f.txt", "", NOW, b, sizeof(b), &rb);
	CHECK_EQ(rb.body_fd, -1);
	CHECK_EQ(rb.body_in_head, 10);
	CHECK(!memcmp(b + rb.head_len - 10, "0123456789", 10));
	whole(fc, "GET", "/big.bin", "", NOW, b, sizeof(b), &rb);
	CHECK_EQ(rb.body_in_head, 0); /* too big: from its descriptor */
	CHECK_EQ(rb.content_bytes, 20000);

	/* Written in place within the second: seen at once. */
	uint64_t stale = (http_file_cache_get_stats(fc, &st), st.stale);
	put_file("f.txt", "abcdefghij", 1000000001);
	whole(fc, "GET", "/f.txt", "", NOW, b, sizeof(b), &rb);
	CHECK(!memcmp(b + rb.head_len - 10, "abcdefghij", 10));
	http_file_cache_get_stats(fc, &st);
	CHECK_EQ(st.stale, stale + 1);
	/* Renamed over: by the next second at the latest, the new file (within
	 * the second, the old one may still be served). */
	put_file("g.txt", "ABCDEFGHIJ", 1000000001);
	CHECK_EQ(renameat(tree.root_fd, "g.txt", tree.root_fd, "f.txt"), 0);
	whole(fc, "GET", "/f.txt", "", NOW + 1, b, sizeof(b), &rb);
	CHECK(!memcmp(b + rb.head_len - 10, "ABCDEFGHIJ", 10));
	/* unchanged in a new second: kept, counted as revalidated */
	uint64_t reval = (http_file_cache_get_stats(fc, &st), st.revalidated);
	whole(fc, "GET", "/a.txt", "", NOW + 1, b, sizeof(b), &rb);
	http_file_cache_get_stats(fc, &st);
	CHECK_EQ(st.revalidated, reval + 1);
	/* removed: 404 from the next second on, and the entry goes */
	uint32_t entries = st.entries;
	CHECK_EQ(unlinkat(tree.root_fd, "f.txt", 0), 0);
	whole(fc, "GET", "/f.txt", "", NOW + 2, b, sizeof(b), &rb);
	CHECK_EQ(rb.status, 404);
	http_file_cache_get_stats(fc, &st);
	CHECK_EQ(st.entries, entries - 1);
	http_file_cache_destroy(fc);

	/* One slot: two files take turns in it, each answered right. */
	put_file("f.txt", "0123456789", 1000000000);
	fc = http_file_cache_create(1, 16384);
	for (int i = 0; fc && i < 6; i++) {
		whole(fc, "GET", i & 1 ? "/a.txt" : "/f.txt", "", NOW, b, sizeof(b), &rb);
		CHECK_EQ(rb.status, 200);
		CHECK(!memcmp(b + rb.head_len - 10, "0123456789", 10));
	}
	if (fc) {
		http_file_cache_get_stats(fc, &st);
		CHECK_EQ(st.entries, 1);
		CHECK_EQ(st.misses, 6);
		/* cleared: nothing kept, its descriptor closed; then as new */
		int open_fds = http_test_count_fds();
		http_file_cache_clear(fc);
		http_file_cache_get_stats(fc, &st);
		CHECK_EQ(st.entries, 0);
		CHECK_EQ(http_test_count_fds(), open_fds - 1);
		whole(fc, "GET", "/a.txt", "", NOW, b, sizeof(b), &rb);
		CHECK_EQ(rb.status, 200);
		http_file_cache_get_stats(fc, &st);
		CHECK_EQ(st.entries, 1);
		CHECK_EQ(st.misses, 7);
	}
	http_file_cache_destroy(fc);
	http_test_tree_remove(&tree);
	CHECK_EQ(http_test_count_fds(), fds); /* every entry's descriptor closed */
}

/* ------------------------------------------------------------ access log */

static void test_log(void)
{
	char buf[1024];
	struct http_request q = { .method = HTTP_METHOD_GET,
				  .method_name = "GET",
				  .target = "/x?y",
				  .target_len = 4,
				  .version_major = 1,
				  .version_minor = 1,
				  .referer = "http://r/",
				  .user_agent = "curl/8.0" };
	const char *want = "198.18.0.2 - - [14/Nov/2023:22:13:20 +0000] \"GET /x?y HTTP/1.1\" "
			   "200 1234 \"http://r/\" \"curl/8.0\"\n";
	CHECK_EQ(http_log_format(buf, sizeof(buf), "198.18.0.2", &q, 200, 1234, NOW),
		 strlen(want));
	CHECK(!strcmp(buf, want));

	/* client text is escaped: no quote ends a field, no newline a line */
	q.referer = "a\"b\\c";
	q.user_agent = "evil\r\n198.18.0.9 - - [x] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"\x01\xff";
	q.target = "/\xc3\xa9";
	q.target_len = 3;
	want = "198.18.0.2 - - [14/Nov/2023:22:13:20 +0000] \"GET /\\xc3\\xa9 HTTP/1.1\" 404 - "
	       "\"a\\\"b\\\\c\" \"evil\\x0d\\x0a198.18.0.9 - - [x] \\\"GET / HTTP/1.1\\\" 200 1 "
	       "\\\"-\\\" \\\"-\\\"\\x01\\xff\"\n";
	int n = http_log_format(buf, sizeof(buf), "198.18.0.2", &q, 404, 0, NOW);
	CHECK(n > 0 && !strcmp(buf, want));
	CHECK(strchr(buf, '\n') == buf + n - 1);

	/* nothing read: "-" everywhere */
	struct http_request empty = { .method_name = "", .target = "" };
	want = "- - - [01/Jan/1970:00:00:00 +0000] \"-\" 400 173 \"-\" \"-\"\n";
	CHECK_EQ(http_log_format(buf, sizeof(buf), NULL, &empty, 400, 173, 0), strlen(want));
	CHECK(!strcmp(buf, want));
	CHECK(http_log_format(buf, sizeof(buf), "::1", NULL, 408, 0, NOW) > 0);
	CHECK(!strncmp(buf, "::1 - - [14/Nov/2023:22:13:20 +0000] \"-\" 408 -", 46));
	/* a method read, the target cut by the 414: what there is */
	struct http_request part = { .method_name = "GET", .target = "/aaa", .target_len = 4 };
	http_log_format(buf, sizeof(buf), "c", &part, 414, 0, NOW);
	CHECK(strstr(buf, "\"GET /aaa\" 414") != NULL);

	/* too small: -ENOSPC with a terminated prefix */
	q = (struct http_request){ .method_name = "GET", .target = "/", .target_len = 1 };
	for (size_t cap = 0; cap < 80; cap++) {
		memset(buf, 'Z', sizeof(buf));
		n = http_log_format(buf, cap, "1.2.3.4", &q, 200, 5, NOW);
		if (n >= 0) {
			CHECK((size_t)n < cap && buf[n] == '\0');
		} else {
			CHECK_EQ(n, -ENOSPC);
			CHECK(cap == 0 || memchr(buf, '\0', cap) != NULL);
		}
	}
}

int main(void)
{
	test_ranges();
	test_dates();
	test_etags();
	test_conditional();
	test_mime();
	test_responses();
	test_file_cache();
	test_log();
	return bh_test_summary("test_http_resp");
}
