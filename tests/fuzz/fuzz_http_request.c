/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for lib/http (bulkhead/http.h): the bytes a client sends
 * on one connection, read and answered as the server would, against a small
 * document root made once per process in a temporary directory (the tree
 * of lib/http/http_test.h: files, directories with and without index.html,
 * a FIFO, symlinks in and out of the root, a secret file outside it).
 *
 * Input: one configuration byte, then the stream. Configuration: bits 0-2
 * how the stream is cut into reads (whole, 1, 2, 3, 7, 16, 64 bytes, or at
 * lengths taken from the stream itself), bit 3 small limits (head 256,
 * target 64, 8 fields), bit 4 the O_NOFOLLOW walk instead of openat2 (for
 * http_open_under_root called directly), bit 5 a 200-byte response buffer.
 *
 * The run aborts (a finding) on a sanitizer report or when:
 *   - the requests and errors read differ between the stream fed whole and
 *     fed in the configured pieces;
 *   - a request to serve has a path that is absolute, has an empty, "." or
 *     ".." segment, a control character or a backslash;
 *   - a response head does not start with "HTTP/1.1 ", does not end its
 *     fields with an empty line, is longer than the buffer, or does not fit
 *     in HTTP_RESP_BUF_SIZE;
 *   - a file to stream is not one made inside the root (the secret outside
 *     is never opened), or its range runs past its size;
 *   - a reader error is answered with keep-alive, or a refusal other than
 *     400 405 413 414 431 501 505;
 *   - the log line does not end with its only newline;
 *   - a descriptor is left open.
 * The raw stream also goes to http_target_parse, http_range_parse,
 * http_date_parse and http_etag_match, with the same path invariants.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bulkhead/http.h"
#include "lib/http/http_test.h"

#define NOW 1700000000
#define FUZZ_CHECK(c)                                                                   \
	do {                                                                            \
		if (!(c)) {                                                             \
			fprintf(stderr, "fuzz_http_request: %s:%d: %s\n", __FILE__, __LINE__, \
				#c);                                                    \
			abort();                                                        \
		}                                                                       \
	} while (0)

static struct http_test_tree tree;

static void remove_tree(void)
{
	http_test_tree_remove(&tree);
}

static void check_path(const char *p)
{
	FUZZ_CHECK(http_test_path_ok(p));
}

/* A file handed out for streaming must be one of ours, inside the root. */
static void check_file(int fd, uint64_t off, uint64_t len)
{
	struct stat st;
	FUZZ_CHECK(fstat(fd, &st) == 0 && S_ISREG(st.st_mode));
	FUZZ_CHECK(!(st.st_dev == tree.secret.st_dev && st.st_ino == tree.secret.st_ino));
	FUZZ_CHECK(len > 0 && off + len <= (uint64_t)st.st_size && off + len > off);
}

static void check_response(const struct http_request *q, const struct http_response *resp,
			   const char *buf, size_t cap, bool refused)
{
	FUZZ_CHECK(resp->head_len <= cap);
	FUZZ_CHECK(resp->head_len > 9 && !memcmp(buf, "HTTP/1.1 ", 9));
	const char *end = memmem(buf, resp->head_len, "\r\n\r\n", 4);
	FUZZ_CHECK(end != NULL);
	size_t body = resp->head_len - (size_t)(end + 4 - buf);
	FUZZ_CHECK(body == (resp->body_fd < 0 ? resp->content_bytes : 0));
	if (refused) {
		FUZZ_CHECK(!resp->keep_alive && resp->body_fd < 0);
		int s = q->status;
		FUZZ_CHECK(s == 400 || s == 405 || s == 413 || s == 414 || s == 431 || s == 501 ||
			   s == 505);
	}
	if (resp->body_fd >= 0) {
		FUZZ_CHECK(q->method == HTTP_METHOD_GET);
		check_file(resp->body_fd, resp->body_off, resp->body_len);
		close(resp->body_fd);
	}
}

/* Reads the stream in pieces, answering each request; appends a line per
 * request to trace. cut: piece length, 0 for the whole, -1 lengths taken
 * from the stream. */
static void run(const uint8_t *data, size_t size, int cut, const struct http_limits *lim,
		size_t cap, char *trace, size_t tcap)
{
	struct http_reader *r = http_reader_new(lim);
	char *buf = malloc(cap ? cap : 1), logline[1024];
	size_t off = 0, t = 0, k = 0;
	FUZZ_CHECK(r && buf);
	trace[0] = '\0';
	while (off < size) {
		size_t n = size - off;
		if (cut > 0 && n > (size_t)cut)
			n = (size_t)cut;
		if (cut < 0) {
			size_t piece = (size_t)data[k++ % size] % 32 + 1;
			n = n < piece ? n : piece;
		}
		size_t end = off + n;
		while (off < end) {
			size_t used;
			const struct http_request *q;
			int rc = http_reader_feed(r, data + off, end - off, &used, &q);
			FUZZ_CHECK(used <= end - off);
			off += used;
			if (rc == -EAGAIN) {
				FUZZ_CHECK(off == end);
				continue;
			}
			FUZZ_CHECK(rc == 1 || rc == -EBADMSG);
			FUZZ_CHECK((rc == 1) == (q->status == 0));
			if (rc == 1) {
				FUZZ_CHECK(q->path && (q->method == HTTP_METHOD_GET ||
						       q->method == HTTP_METHOD_HEAD));
				check_path(q->path);
			}
			struct http_response resp;
			int rr = http_respond(q, tree.root_fd, NOW, buf, cap, &resp);
			FUZZ_CHECK(rr == 0 || (rr == -ENOSPC && cap < 1024)); /* HTTP_RESP_BUF_SIZE */
			if (rr == 0)
				check_response(q, &resp, buf, cap, rc != 1);
			int ln = http_log_format(logline, sizeof(logline), "198.18.0.2", q,
						 rr ? 0 : resp.status, resp.content_bytes, NOW);
			if (ln > 0)
				FUZZ_CHECK(memchr(logline, '\n', (size_t)ln) == logline + ln - 1);
			if (t < tcap)
				t += (size_t)snprintf(trace + t, tcap - t, "%d %d %s %d %d %.*s|%s\n", rc,
						      q->status, q->path ? q->path : "-", q->dir,
						      q->keep_alive, (int)q->target_len, q->target,
						      q->range ? q->range : "-");
			if (t >= tcap)
				t = tcap - 1;
			if (rc != 1)
				goto out;
		}
	}
out:
	free(buf);
	http_reader_free(r);
}

/* The pure parsers on the raw stream. */
static void parse_pieces(const uint8_t *data, size_t size, unsigned flags)
{
	char *s = malloc(size + 1), *out = malloc(size + 2);
	struct http_target t;
	FUZZ_CHECK(s && out);
	memcpy(s, data, size);
	s[size] = '\0';
	int rc = http_target_parse(s, size, out, size + 2, &t);
	FUZZ_CHECK(rc == 0 || rc == -EBADMSG);
	if (rc == 0) {
		check_path(t.path);
		FUZZ_CHECK(t.path_len == strlen(t.path));
		struct stat st;
		int fd = http_open_under_root(tree.root_fd, t.path, t.dir, flags, &st);
		if (fd >= 0) {
			check_file(fd, 0, st.st_size ? (uint64_t)st.st_size : 1);
			close(fd);
		}
	}
	uint64_t first, len;
	enum http_range_result rr = http_range_parse(s, size, &first, &len);
	if (rr == HTTP_RANGE_OK)
		FUZZ_CHECK(len > 0 && first + len <= size);
	time_t d;
	char back[HTTP_DATE_LEN + 1];
	if (http_date_parse(s, NOW, &d) == 0 && d >= 0 && d <= 253402300799) {
		/* an IMF-fixdate formats back to a date that parses to the same time */
		http_date_format(d, back);
		time_t d2;
		FUZZ_CHECK(http_date_parse(back, NOW, &d2) == 0 && d2 == d);
	}
	int m = http_etag_match(s, "\"abc\"", size & 1);
	FUZZ_CHECK(m == 0 || m == 1 || m == -EBADMSG);
	free(s);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int cuts[8] = { 0, 1, 2, 3, 7, 16, 64, -1 };
	static char whole[16384], pieces[16384];
	if (!tree.base[0]) {
		FUZZ_CHECK(http_test_tree_make(&tree) == 0);
		atexit(remove_tree);
	}
	if (size < 1)
		return 0;
	uint8_t cfg = data[0];
	data++;
	size--;
	int fds = http_test_count_fds();
	struct http_limits small = { .max_head_bytes = 256, .max_uri_bytes = 64, .max_headers = 8 };
	const struct http_limits *lim = cfg & 8 ? &small : NULL;
	size_t cap = cfg & 32 ? 200 : HTTP_RESP_BUF_SIZE(cfg & 8 ? 64 : 4096);

	run(data, size, 0, lim, cap, whole, sizeof(whole));
	if (cuts[cfg & 7]) {
		run(data, size, cuts[cfg & 7], lim, cap, pieces, sizeof(pieces));
		if (strcmp(whole, pieces)) {
			fprintf(stderr, "whole:\n%s\npieces (cut %d):\n%s\n", whole, cuts[cfg & 7],
				pieces);
			FUZZ_CHECK(!"the same stream read differently");
		}
	}
	parse_pieces(data, size, cfg & 16 ? HTTP_OPEN_NO_OPENAT2 : 0);
	FUZZ_CHECK(http_test_count_fds() == fds);
	return 0;
}
