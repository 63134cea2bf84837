/* SPDX-License-Identifier: MIT */
/*
 * The request reader: single and pipelined requests, every split of the
 * input (one byte at a time, and two pieces cut at every offset) giving the
 * same requests, each error status, limits exactly at and one over,
 * keep-alive rules of HTTP/1.0 and 1.1, field names in any case, obs-fold,
 * and input that ends against a guard page.
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bulkhead/http.h"
#include "tests/unit/bh_test.h"

#define OUT_CAP 8192

static const char *nz(const char *s)
{
	return s ? s : "(null)";
}

/* Everything the reader says about a request, as one comparable string. */
static void describe(const struct http_request *q, int rc, char *out, size_t cap)
{
	size_t n = strlen(out);
	snprintf(out + n, cap - n,
		 "[rc=%d st=%d m=%d %s v=%d.%d ka=%d t=%.*s p=%s d=%d q=%s host=%s conn=%s "
		 "range=%s ir=%s im=%s inm=%s ims=%s ius=%s te=%s cl=%s exp=%s ua=%s ref=%s hb=%u]",
		 rc, q->status, q->method, q->method_name, q->version_major, q->version_minor,
		 q->keep_alive, (int)q->target_len, q->target, nz(q->path), q->dir, nz(q->query),
		 nz(q->host), nz(q->connection), nz(q->range), nz(q->if_range), nz(q->if_match),
		 nz(q->if_none_match), nz(q->if_modified_since), nz(q->if_unmodified_since),
		 nz(q->transfer_encoding), nz(q->content_length), nz(q->expect), nz(q->user_agent),
		 nz(q->referer), q->head_bytes);
}

/* Feeds in[0..n) as a server would, cut at the offsets cuts[] (sorted), or
 * in pieces of `step` bytes if step > 0; describes every request and the
 * end state into out. Returns how many requests were complete. */
static int drive(const struct http_limits *lim, const char *in, size_t n, size_t step,
		 const size_t *cuts, int ncuts, char *out)
{
	struct http_reader *r = http_reader_new(lim);
	int nreq = 0, ci = 0;
	size_t off = 0;
	out[0] = '\0';
	if (!r)
		return -1;
	while (off < n) {
		size_t end = n;
		if (step)
			end = off + step < n ? off + step : n;
		else if (ci < ncuts)
			end = cuts[ci++];
		while (off < end) {
			size_t used;
			const struct http_request *q;
			int rc = http_reader_feed(r, in + off, end - off, &used, &q);
			if (used > end - off) {
				strcat(out, "[used too large]");
				goto out;
			}
			off += used;
			if (rc == 1) {
				describe(q, rc, out, OUT_CAP);
				nreq++;
			} else if (rc == -EBADMSG) {
				describe(q, rc, out, OUT_CAP);
				goto out;
			} else if (rc != -EAGAIN || off != end) {
				strcat(out, "[bad return]");
				goto out;
			}
		}
	}
	strcat(out, http_reader_idle(r) ? "[idle]" : "[partial]");
out:
	http_reader_free(r);
	return nreq;
}

/* Whole, byte by byte, and cut in two at every offset: all the same. */
static void check_splits(const struct http_limits *lim, const char *in, size_t n)
{
	char *whole = malloc(OUT_CAP), *other = malloc(OUT_CAP);
	int ok = 1;
	drive(lim, in, n, 0, NULL, 0, whole);
	drive(lim, in, n, 1, NULL, 0, other);
	if (strcmp(whole, other)) {
		fprintf(stderr, "byte by byte differs:\n  %s\n  %s\n", whole, other);
		ok = 0;
	}
	for (size_t k = 1; k < n && ok; k++) {
		drive(lim, in, n, 0, &k, 1, other);
		if (strcmp(whole, other)) {
			fprintf(stderr, "cut at %zu differs:\n  %s\n  %s\n", k, whole, other);
			ok = 0;
		}
	}
	CHECK(ok);
	free(whole);
	free(other);
}

/* The one request (or error) in s, fed whole; *rc its return. */
static struct http_reader *one(const struct http_limits *lim, const char *s, int *rc,
			       const struct http_request **q, size_t *used)
{
	struct http_reader *r = http_reader_new(lim);
	*rc = http_reader_feed(r, s, strlen(s), used, q);
	return r;
}

static int status_of(const struct http_limits *lim, const char *s)
{
	int rc;
	size_t used;
	const struct http_request *q;
	struct http_reader *r = one(lim, s, &rc, &q, &used);
	int st = rc == 1 ? q->status : rc == -EBADMSG ? q->status : -1;
	if (rc == -EBADMSG && (q->status == 0 || q->keep_alive))
		st = -2; /* an error must carry a status and close */
	if (rc == 1 && used != strlen(s))
		st = -3;
	http_reader_free(r);
	return st;
}

/* ---------------------------------------------------------------- tests */

static void test_single(void)
{
	int rc;
	size_t used;
	const struct http_request *q;
	const char *s = "GET /docs/a%20b.html?x=1&y=%41 HTTP/1.1\r\n"
			"Host: example.org:8080\r\n"
			"User-Agent: curl/7.88.1\r\n"
			"Accept: */*\r\n"
			"Range: bytes=0-99\r\n"
			"If-None-Match:   \"abc\"  \r\n"
			"If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
			"Referer: http://example.org/\r\n"
			"\r\n";
	struct http_reader *r = one(NULL, s, &rc, &q, &used);
	CHECK_EQ(rc, 1);
	CHECK_EQ(used, strlen(s));
	CHECK_EQ(q->status, 0);
	CHECK_EQ(q->method, HTTP_METHOD_GET);
	CHECK(!strcmp(q->method_name, "GET"));
	CHECK_EQ(q->version_major, 1);
	CHECK_EQ(q->version_minor, 1);
	CHECK(q->keep_alive);
	CHECK(!strcmp(q->target, "/docs/a%20b.html?x=1&y=%41"));
	CHECK_EQ(q->target_len, strlen("/docs/a%20b.html?x=1&y=%41"));
	CHECK(!strcmp(q->path, "docs/a b.html"));
	CHECK(!q->dir);
	CHECK(q->query && !strcmp(q->query, "x=1&y=%41"));
	CHECK(!strcmp(q->host, "example.org:8080"));
	CHECK(!strcmp(q->user_agent, "curl/7.88.1"));
	CHECK(!strcmp(q->range, "bytes=0-99"));
	CHECK(!strcmp(q->if_none_match, "\"abc\""));
	CHECK(!strcmp(q->if_modified_since, "Sun, 06 Nov 1994 08:49:37 GMT"));
	CHECK(!strcmp(q->referer, "http://example.org/"));
	CHECK(q->connection == NULL && q->if_match == NULL && q->if_range == NULL);
	CHECK_EQ(q->head_bytes, strlen(s));
	CHECK(http_reader_idle(r));
	http_reader_free(r);

	/* HEAD, HTTP/1.0 without Host, a directory */
	r = one(NULL, "HEAD /sub/ HTTP/1.0\r\n\r\n", &rc, &q, &used);
	CHECK_EQ(rc, 1);
	CHECK_EQ(q->method, HTTP_METHOD_HEAD);
	CHECK(!strcmp(q->path, "sub"));
	CHECK(q->dir);
	CHECK(!q->keep_alive);
	CHECK(q->host == NULL);
	http_reader_free(r);

	/* empty lines before a request are skipped (RFC 9112 §2.2) */
	r = one(NULL, "\r\n\r\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", &rc, &q, &used);
	CHECK_EQ(rc, 1);
	CHECK(!strcmp(q->path, "") && q->dir);
	http_reader_free(r);

	/* absolute-form: the authority is the host (RFC 9112 §3.2.2) */
	r = one(NULL, "GET HTTP://Other.example:81/x/../y?q#frag HTTP/1.1\r\nHost: a\r\n\r\n", &rc,
		&q, &used);
	CHECK_EQ(rc, 1);
	CHECK(!strcmp(q->host, "Other.example:81"));
	CHECK(!strcmp(q->path, "y"));
	CHECK(!strcmp(q->query, "q"));
	http_reader_free(r);
	r = one(NULL, "GET http://h HTTP/1.1\r\nHost: h\r\n\r\n", &rc, &q, &used);
	CHECK_EQ(rc, 1);
	CHECK(!strcmp(q->path, "") && q->dir);
	http_reader_free(r);

	/* bare LF line ends are accepted (RFC 9112 §2.2 MAY) */
	r = one(NULL, "GET /a HTTP/1.1\nHost: a\n\n", &rc, &q, &used);
	CHECK_EQ(rc, 1);
	CHECK(!strcmp(q->path, "a"));
	http_reader_free(r);

	/* repeated field lines are joined; Content-Length 0 is no content */
	r = one(NULL,
		"GET / HTTP/1.1\r\nHost: a\r\nIf-None-Match: \"1\"\r\nX: y\r\n"
		"if-none-match: W/\"2\" \r\nConnection: foo\r\nCONNECTION: bar\r\n"
		"Content-Length: 0\r\nExpect: 100-continue\r\n\r\n",
		&rc, &q, &used);
	CHECK_EQ(rc, 1);
	CHECK(!strcmp(q->if_none_match, "\"1\", W/\"2\""));
	CHECK(!strcmp(q->connection, "foo, bar"));
	CHECK(!strcmp(q->content_length, "0"));
	CHECK(!strcmp(q->expect, "100-continue"));
	http_reader_free(r);

	/* an empty field value is present, and empty */
	r = one(NULL, "GET / HTTP/1.1\r\nHost:\r\nRange: \r\n\r\n", &rc, &q, &used);
	CHECK_EQ(rc, 1);
	CHECK(q->host && !strcmp(q->host, ""));
	CHECK(q->range && !strcmp(q->range, ""));
	http_reader_free(r);
}

static void test_case_insensitive(void)
{
	int rc;
	size_t used;
	const struct http_request *q;
	struct http_reader *r = one(NULL,
				    "GET / HTTP/1.1\r\nhOsT: x\r\nRANGE: bytes=1-\r\n"
				    "iF-mOdIfIeD-sInCe: d\r\nuser-agent: u\r\nREFERER: f\r\n"
				    "Connection: CLOSE\r\n\r\n",
				    &rc, &q, &used);
	CHECK_EQ(rc, 1);
	CHECK(!strcmp(nz(q->host), "x"));
	CHECK(!strcmp(nz(q->range), "bytes=1-"));
	CHECK(!strcmp(nz(q->if_modified_since), "d"));
	CHECK(!strcmp(nz(q->user_agent), "u"));
	CHECK(!strcmp(nz(q->referer), "f"));
	CHECK(!q->keep_alive);
	http_reader_free(r);
	/* methods are case-sensitive (RFC 9110 §9.1): "get" is not GET */
	CHECK_EQ(status_of(NULL, "get / HTTP/1.1\r\nHost: a\r\n\r\n"), 501);
}

static void test_pipelined(void)
{
	static const char *const reqs[3] = {
		"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n",
		"HEAD /2 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		"GET /3 HTTP/1.0\r\n\r\n",
	};
	char s[256];
	size_t ends[3], off = 0, used;
	snprintf(s, sizeof(s), "%s%s%sGET /4 HT", reqs[0], reqs[1], reqs[2]);
	for (int i = 0; i < 3; i++)
		ends[i] = (i ? ends[i - 1] : 0) + strlen(reqs[i]);
	size_t n = strlen(s);
	const struct http_request *q;
	struct http_reader *r = http_reader_new(NULL);
	const char *paths[3] = { "1", "2", "3" };
	int ka[3] = { 1, 0, 0 };

	for (int i = 0; i < 3; i++) {
		int rc = http_reader_feed(r, s + off, n - off, &used, &q);
		CHECK_EQ(rc, 1);
		off += used;
		CHECK_EQ(off, ends[i]);
		CHECK(q->path && !strcmp(q->path, paths[i]));
		CHECK_EQ(q->keep_alive, ka[i]);
		CHECK_EQ(q->head_bytes, ends[i] - (i ? ends[i - 1] : 0));
	}
	CHECK(http_reader_idle(r));
	CHECK_EQ(http_reader_feed(r, s + off, n - off, &used, &q), -EAGAIN);
	CHECK_EQ(used, n - off);
	CHECK(!http_reader_idle(r));
	CHECK_EQ(http_reader_feed(r, "TP/1.1\r\nHost: b\r\n\r\n", 19, &used, &q), 1);
	CHECK_EQ(used, 19);
	CHECK(!strcmp(q->path, "4") && !strcmp(q->host, "b"));
	http_reader_free(r);

	/* an Upgrade is not taken up: the next request is read as usual */
	const char *u = "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"
			"GET /next HTTP/1.1\r\nHost: a\r\n\r\n";
	char *out = malloc(OUT_CAP);
	CHECK_EQ(drive(NULL, u, strlen(u), 0, NULL, 0, out), 2);
	CHECK(strstr(out, "p=next") != NULL);
	free(out);
}

/* A reset reader reads a new request as a new one reads it, whatever it was
 * left in: mid-head, refused, or between requests. */
static void test_reset(void)
{
	static const char *const before[] = {
		"GET /half HTTP/1.1\r\nHost: x\r\nX-Long: aaaa",
		"BREW /pot HTTP/1.1\r\n\r\n",
		"GET /done HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		"",
	};
	static const char next[] = "HEAD /n?q=1 HTTP/1.1\r\nHost: h\r\nRange: bytes=1-2\r\n\r\n";
	for (size_t i = 0; i < sizeof(before) / sizeof(before[0]); i++) {
		const struct http_request *q;
		size_t used;
		int rc;
		struct http_reader *r = one(NULL, before[i], &rc, &q, &used);
		http_reader_reset(r);
		CHECK(http_reader_idle(r));
		CHECK_EQ(http_reader_feed(r, next, strlen(next), &used, &q), 1);
		CHECK_EQ(used, strlen(next));
		CHECK(q->method == HTTP_METHOD_HEAD && !strcmp(q->path, "n") && !strcmp(q->query, "q=1"));
		CHECK(!strcmp(q->host, "h") && q->range && !strcmp(q->range, "bytes=1-2"));
		CHECK(q->keep_alive && q->status == 0 && q->head_bytes == strlen(next));
		http_reader_free(r);
	}
}

/* A wiped reader keeps no byte it was fed (the whole allocation searched),
 * and reads the next request as a new one. */
static void test_wipe(void)
{
	static const char req[] = "GET /Zq-secret-path HTTP/1.1\r\nHost: h\r\nCookie: Zq-secret-cookie\r\n"
				  "X-Half: Zq-secret-half";
	static const char next[] = "GET /n HTTP/1.1\r\nHost: h\r\n\r\n";
	const struct http_request *q;
	size_t used;
	int rc;
	struct http_reader *r = one(NULL, req, &rc, &q, &used);
	size_t len = malloc_usable_size(r);
	CHECK_EQ(rc, -EAGAIN);
	CHECK(memmem(r, len, "Zq-secret", 9) != NULL); /* what the search is for */
	http_reader_wipe(r);
	CHECK(memmem(r, len, "Zq-secret", 9) == NULL);
	CHECK(memmem(r, len, "Host", 4) == NULL && memmem(r, len, "Cookie", 6) == NULL);
	CHECK(http_reader_idle(r));
	CHECK_EQ(http_reader_feed(r, next, strlen(next), &used, &q), 1);
	CHECK(q->method == HTTP_METHOD_GET && !strcmp(q->path, "n") && !strcmp(q->host, "h"));
	http_reader_free(r);
}

/* Every split of every input gives the same requests and errors. */
static void test_splits(void)
{
	static const char *const inputs[] = {
		"GET /a/b?c HTTP/1.1\r\nHost: h\r\nRange: bytes=1-2\r\n\r\nHEAD / HTTP/1.0\r\n\r\n",
		"\r\nGET / HTTP/1.1\r\nHost: h\r\nIf-None-Match: \"x\"\r\nIf-None-Match: \"y\"\r\n\r\n"
		"GET /2 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGET /3",
		"GET http://h/x HTTP/1.1\nHost: h\n\nGET /y HTTP/1.1\r\nHost: h\r\n\r\n",
		"POST /form HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc",
		"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc",
		"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"BREW /pot HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n",
		"GET / HTTP/1.1\r\n Host: h\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\rX: y\r\n\r\n",
		"GET / HTTP/2.0\r\nHost: h\r\n\r\n",
		"GET /%2e%2e/etc/passwd HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
		"GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nX: "
		"0123456789012345678901234567890123456789012345678901234567890123456789"
		"0123456789012345678901234567890123456789012345678901234567890123456789"
		"0123456789012345678901234567890123456789012345678901234567890123456789"
		"0123456789012345678901234567890123456789012345678901234567890123456789\r\n\r\n",
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
		/* one field line too many, malformed: 431 however it is split */
		"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\nD 4\r\n\r\n",
		/* targets http_parser refuses part-way: the same target kept, the same status */
		"GET /a<b>c HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET /a\"b HTTP/1.1\r\n\r\n",
		"GET  /x\\y{z} HTTP/1.1\r\n\r\n",
		"GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"x "
		"HTTP/1.1\r\n\r\n",
		"GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa "
		"HTTP/1.1\r\n\r\n",
	};
	struct http_limits lim = { .max_head_bytes = 256, .max_uri_bytes = 64, .max_headers = 4 };
	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		check_splits(NULL, inputs[i], strlen(inputs[i]));
		check_splits(&lim, inputs[i], strlen(inputs[i]));
	}
}

static void test_errors(void)
{
	/* 400: malformed */
	CHECK_EQ(status_of(NULL, "GET / HTTP/1.1\r\nHost a\r\n\r\n"), 400);
	CHECK_EQ(status_of(NULL, "GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
	CHECK_EQ(status_of(NULL, "GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n"), 400);
	CHECK_EQ(status_of(NULL, "GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n"), 400); /* bare CR */
	CHECK_EQ(status_of(NULL, "GET / HTTP/1.1\r\nHost : a\r\n\r\n"), 400);      /* §5.1 */
	CHECK_EQ(status_of(NULL, "GET / HTTP/1.1\r\nHo st: a\r\n\r\n"), 400);
	CHECK_EQ(status_of(NULL, " GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
	CHECK_EQ(status_of(NULL, "G(T / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
	CHECK_EQ(status_of(NULL, "GET / HTTP/x.y\r\nHost: a\r\n\r\n"), 400);
	CHECK_EQ(status_of(NULL, "GET /\r\n\r\n"), 400); /* HTTP/0.9 */
	CHECK_EQ(status_of(NULL, "GET * HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
	CHECK_EQ(status_of(NULL, "GET ftp://h/x HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
	CHECK_EQ(status_of(NULL, "GET http://u@h/x HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
	CHECK_EQ(status_of(NULL, "GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
	CHECK_EQ(status_of(NULL, "GET /../x HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
	CHECK_EQ(status_of(NULL, "GET /a%00 HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
	CHECK_EQ(status_of(NULL, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"), 400); /* TLS */
	/* obs-fold, and whitespace before the first field (RFC 9112 §5.2, §2.2) */
	CHECK_EQ(status_of(NULL, "GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n"), 400);
	CHECK_EQ(status_of(NULL, "GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n\tc\r\n\r\n"), 400);
	CHECK_EQ(status_of(NULL, "GET / HTTP/1.1\r\n Host: a\r\n\r\n"), 400);
	/* Host: missing on 1.1, repeated, invalid (RFC 9112 §3.2) */
	CHECK_EQ(status_of(NULL, "GET / HTTP/1.1\r\n\r\n"), 400);
	CHECK_EQ(status_of(NULL, "GET http://h/ HTTP/1.1\r\n\r\n"), 400);
	CHECK_EQ(status_of(NULL, "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n"), 400);
	CHECK_EQ(status_of(NULL, "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), 400);
	CHECK_EQ(status_of(NULL, "GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), 400);
	CHECK_EQ(status_of(NULL, "GET / HTTP/1.0\r\n\r\n"), 0);
	CHECK_EQ(status_of(NULL, "GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n"), 0);
	/* 501: a method nobody implements here; 405: one we know but do not serve */
	CHECK_EQ(status_of(NULL, "BREW /pot HTTP/1.1\r\nHost: a\r\n\r\n"), 501);
	CHECK_EQ(status_of(NULL, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 501);
	CHECK_EQ(status_of(NULL, "AVERYLONGMETHODNAMEOFTWENTYFIVE / HTTP/1.1\r\n\r\n"), 501);
	CHECK_EQ(status_of(NULL, "POST / HTTP/1.1\r\nHost: a\r\n\r\n"), 405);
	CHECK_EQ(status_of(NULL, "PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx"), 405);
	CHECK_EQ(status_of(NULL, "DELETE /x HTTP/1.1\r\nHost: a\r\n\r\n"), 405);
	CHECK_EQ(status_of(NULL, "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"), 405);
	CHECK_EQ(status_of(NULL, "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n"), 405);
	CHECK_EQ(status_of(NULL, "TRACE / HTTP/1.1\r\nHost: a\r\n\r\n"), 405);
	/* 505 */
	CHECK_EQ(status_of(NULL, "GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505);
	CHECK_EQ(status_of(NULL, "GET / HTTP/1.2\r\nHost: a\r\n\r\n"), 505);
	CHECK_EQ(status_of(NULL, "GET / HTTP/0.9\r\nHost: a\r\n\r\n"), 505);
	CHECK_EQ(status_of(NULL, "GET / HTTP/3.0\r\n\r\n"), 505);
	/* 413: content on GET/HEAD, whatever its framing */
	CHECK_EQ(status_of(NULL, "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"), 413);
	CHECK_EQ(status_of(NULL, "HEAD / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\n"), 413);
	CHECK_EQ(status_of(NULL, "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"),
		 413);
	CHECK_EQ(status_of(NULL, "GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), 413);
	CHECK_EQ(status_of(NULL, "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"), 0);
	/* framing that could smuggle: both, twice, or not a number */
	CHECK_EQ(status_of(NULL, "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n"
				 "Content-Length: 2\r\n\r\n"),
		 400);
	CHECK_EQ(status_of(NULL, "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n"
				 "Transfer-Encoding: chunked\r\n\r\n"),
		 400);
	CHECK_EQ(status_of(NULL, "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n"), 400);
	CHECK_EQ(status_of(NULL, "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n"),
		 413);

	/* a NUL anywhere in the head */
	{
		static const char nul[] = "GET / HTTP/1.1\r\nHost: a\r\nX: \0\r\n\r\n";
		struct http_reader *rn = http_reader_new(NULL);
		size_t u;
		const struct http_request *qn;
		CHECK_EQ(http_reader_feed(rn, nul, sizeof(nul) - 1, &u, &qn), -EBADMSG);
		CHECK_EQ(qn->status, 400);
		http_reader_free(rn);
	}

	/* after an error the reader stays failed */
	int rc;
	size_t used;
	const struct http_request *q;
	struct http_reader *r = one(NULL, "BREW / HTTP/1.1\r\n\r\n", &rc, &q, &used);
	CHECK_EQ(rc, -EBADMSG);
	CHECK_EQ(q->status, 501);
	CHECK(!strcmp(q->method_name, "BREW"));
	CHECK_EQ(used, 5); /* up to the method's end */
	CHECK_EQ(http_reader_feed(r, "GET / HTTP/1.1\r\n\r\n", 18, &used, &q), -EBADMSG);
	CHECK_EQ(used, 0);
	CHECK(!q->keep_alive && q->path == NULL);
	http_reader_free(r);
	/* a 405 has what the log needs */
	r = one(NULL, "DELETE /x?y HTTP/1.1\r\nHost: a\r\nUser-Agent: z\r\n\r\n", &rc, &q, &used);
	CHECK_EQ(q->status, 405);
	CHECK(!strcmp(q->method_name, "DELETE") && !strcmp(q->target, "/x?y"));
	CHECK_EQ(q->version_minor, 1);
	CHECK(!strcmp(nz(q->user_agent), "z"));
	http_reader_free(r);

	CHECK(http_reader_new(&(struct http_limits){ .max_head_bytes = 63 }) == NULL);
	CHECK(http_reader_new(&(struct http_limits){ .max_head_bytes = HTTP_HEAD_BYTES_MAX + 1 }) ==
	      NULL);
	CHECK(http_reader_new(&(struct http_limits){ .max_head_bytes = 100, .max_uri_bytes = 101 }) ==
	      NULL);
	CHECK(http_reader_new(&(struct http_limits){ .max_headers = 1025 }) == NULL);
}

/* A request of exactly `size` head bytes: a padding field fills it. */
static char *sized_request(size_t size)
{
	const char *pre = "GET / HTTP/1.1\r\nHost: a\r\nX: ";
	char *s = malloc(size + 1);
	size_t n = strlen(pre);
	memcpy(s, pre, n);
	memset(s + n, 'p', size - n - 4);
	memcpy(s + size - 4, "\r\n\r\n", 5);
	return s;
}

static char *target_of(size_t len) /* "GET /ppp...p HTTP/1.1..." with a target of len */
{
	char *s = malloc(len + 64);
	memcpy(s, "GET /", 5);
	memset(s + 5, 'p', len - 1);
	strcpy(s + 4 + len, " HTTP/1.1\r\nHost: a\r\n\r\n");
	return s;
}

static void test_limits(void)
{
	struct http_limits lim = { .max_head_bytes = 200, .max_uri_bytes = 50, .max_headers = 3 };
	char *s;

	s = sized_request(200);
	CHECK_EQ(strlen(s), 200);
	CHECK_EQ(status_of(&lim, s), 0);
	check_splits(&lim, s, 200);
	free(s);
	s = sized_request(201);
	CHECK_EQ(status_of(&lim, s), 431);
	check_splits(&lim, s, 201);
	free(s);
	/* the head limit counts empty lines before the request too */
	s = sized_request(199);
	char *t = malloc(203);
	memcpy(t, "\r\n", 2);
	strcpy(t + 2, s);
	CHECK_EQ(status_of(&lim, t), 431);
	CHECK_EQ(status_of(&lim, t + 1), 0);
	free(t);
	free(s);
	/* a head that never ends is refused once the limit is spent */
	s = malloc(300);
	memset(s, 'a', 299);
	memcpy(s, "GET / HTTP/1.1\r\nX: ", 19);
	s[299] = '\0';
	CHECK_EQ(status_of(&lim, s), 431);
	free(s);

	s = target_of(50);
	CHECK_EQ(status_of(&lim, s), 0);
	check_splits(&lim, s, strlen(s));
	free(s);
	s = target_of(51);
	CHECK_EQ(status_of(&lim, s), 414);
	check_splits(&lim, s, strlen(s));
	free(s);

	CHECK_EQ(status_of(&lim, "GET / HTTP/1.1\r\nHost: a\r\nB: 1\r\nC: 2\r\n\r\n"), 0);
	CHECK_EQ(status_of(&lim, "GET / HTTP/1.1\r\nHost: a\r\nB: 1\r\nC: 2\r\nD: 3\r\n\r\n"), 431);
	CHECK_EQ(status_of(&lim, "GET / HTTP/1.1\r\nHost: a\r\nB: 1\r\nC:\r\nD:\r\n\r\n"), 431);

	/* the largest limits work */
	struct http_limits big = { .max_head_bytes = HTTP_HEAD_BYTES_MAX,
				   .max_uri_bytes = HTTP_HEAD_BYTES_MAX - 64,
				   .max_headers = 1024 };
	s = sized_request(HTTP_HEAD_BYTES_MAX);
	CHECK_EQ(status_of(&big, s), 0);
	free(s);
	s = sized_request(HTTP_HEAD_BYTES_MAX + 1);
	CHECK_EQ(status_of(&big, s), 431);
	free(s);
	s = target_of(HTTP_HEAD_BYTES_MAX - 64);
	CHECK_EQ(status_of(&big, s), 0);
	free(s);
	/* 1024 field lines each repeating a kept field: all joined */
	s = malloc(64 + 1025 * 10);
	strcpy(s, "GET / HTTP/1.1\r\nHost: a\r\n");
	for (int i = 0; i < 1023; i++)
		strcat(s, "Range:1\r\n");
	strcat(s, "\r\n");
	int rc;
	size_t used;
	const struct http_request *q;
	struct http_reader *r = one(&big, s, &rc, &q, &used);
	CHECK_EQ(rc, 1);
	CHECK_EQ(strlen(nz(q->range)), 1023 * 3 - 2);
	http_reader_free(r);
	s[strlen(s) - 2] = '\0';
	strcat(s, "A:1\r\n\r\n");
	CHECK_EQ(status_of(&big, s), 431);
	free(s);
}

static void test_keep_alive(void)
{
	static const struct {
		const char *req;
		int ka;
	} cases[] = {
		{ "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 1 },
		{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 0 },
		{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n", 0 },
		{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\n\r\n", 0 },
		{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n", 1 },
		{ "GET / HTTP/1.0\r\n\r\n", 0 },
		{ "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 1 },
		{ "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 1 },
		{ "GET / HTTP/1.0\r\nConnection: close\r\n\r\n", 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc;
		size_t used;
		const struct http_request *q;
		struct http_reader *r = one(NULL, cases[i].req, &rc, &q, &used);
		CHECK_EQ(rc, 1);
		CHECK_EQ(q->keep_alive, cases[i].ka);
		http_reader_free(r);
	}
}

/* Input ending right before a PROT_NONE page: any read past it faults. */
static void test_guard_page(void)
{
	static const char *const inputs[] = {
		"GET /index.html HTTP/1.1\r\nHost: example\r\nRange: bytes=0-1\r\n\r\n",
		"GET /a%2",
		"GET http://h",
		"HEAD / HTTP/1.0\r\nConnection: keep-alive\r\nIf-None-Match: \"x\"",
		"BREW",
		"GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n ",
		"GET / HTTP/1.1\r\nHost: a\r",
		"\r\n\r",
	};
	long pg = sysconf(_SC_PAGESIZE);
	char *m = mmap(NULL, 2 * (size_t)pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		       0);
	CHECK(m != MAP_FAILED);
	if (m == MAP_FAILED)
		return;
	CHECK_EQ(mprotect(m + pg, (size_t)pg, PROT_NONE), 0);
	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		size_t n = strlen(inputs[i]);
		for (size_t k = 1; k <= n; k++) { /* every prefix, ending at the guard */
			char *p = m + pg - k;
			memcpy(p, inputs[i], k);
			struct http_reader *r = http_reader_new(NULL);
			size_t used;
			const struct http_request *q;
			int rc = http_reader_feed(r, p, k, &used, &q);
			CHECK(rc == 1 || rc == -EAGAIN || rc == -EBADMSG);
			CHECK(used <= k);
			/* the target and path parser on the same bytes */
			char out[512];
			struct http_target t;
			int tr = http_target_parse(p, k, out, sizeof(out), &t);
			CHECK(tr == 0 || tr == -EBADMSG);
			http_reader_free(r);
		}
	}
	munmap(m, 2 * (size_t)pg);
}

int main(void)
{
	test_single();
	test_case_insensitive();
	test_pipelined();
	test_reset();
	test_wipe();
	test_splits();
	test_errors();
	test_limits();
	test_keep_alive();
	test_guard_page();
	return bh_test_summary("test_http_parse");
}
