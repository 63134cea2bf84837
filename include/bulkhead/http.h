/* SPDX-License-Identifier: MIT */
/*
 * HTTP/1.1 for the static-file server (nfs/http) and its isolated worker
 * (workers/http): request reading, target normalisation, opening a file
 * under a document root, and the response to a GET or HEAD of that file
 * (conditionals, byte ranges), plus the access-log line. docs/http.md,
 * "Request handling", states the rules as a user sees them.
 *
 * Pure code: no DPDK, no sockets, no globals, no clock reads (every call
 * that needs the time takes it), no printing. The only system calls are in
 * http_open_under_root() and http_respond(), on the directory descriptor the
 * caller passes (openat2, openat, fstat, close).
 *
 * Threads: a struct http_reader belongs to one thread at a time; every other
 * function is reentrant and keeps no state between calls.
 *
 * Strings in this API are NUL-terminated unless a length goes with them.
 * Statuses are plain HTTP status codes (200, 404, ...).
 *
 * Per request the server does:
 *
 *   rc = http_reader_feed(r, data, len, &used, &req);
 *   -EAGAIN   -> read more from the client, feed it
 *   1         -> http_respond(req, root, now, buf, cap, &resp); send
 *                buf[0..resp.head_len), then resp.body_len bytes of
 *                resp.body_fd from resp.body_off; close the fd; if
 *                !resp.keep_alive close the connection, else feed
 *                data + used (the next pipelined request)
 *   -EBADMSG  -> http_respond() all the same (it builds the error
 *                response, "Connection: close"), send it, close.
 */
#ifndef BULKHEAD_HTTP_H
#define BULKHEAD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

/* ---------------------------------------------------------------------- */
/* Reading requests */

/* Bounds on what a client may send; 0 in a field selects the default in
 * brackets. Out-of-range values make http_reader_new() fail. */
struct http_limits {
	uint32_t max_head_bytes; /* [8192] request line + field lines + the empty
	                          * line, leading empty lines included:
	                          * 64 .. HTTP_HEAD_BYTES_MAX; more -> 431 */
	uint32_t max_uri_bytes;  /* [4096] raw request-target: 1 .. max_head_bytes;
	                          * more -> 414 */
	uint32_t max_headers;    /* [100] field lines: 1 .. 1024; more -> 431 */
};
#define HTTP_HEAD_BYTES_MAX 65536 /* under http_parser's own 80 KiB bound */

enum http_method_id {
	HTTP_METHOD_NONE = 0, /* no method read (garbage, or one not implemented) */
	HTTP_METHOD_GET,
	HTTP_METHOD_HEAD,
	HTTP_METHOD_OTHER, /* a method http_parser knows but the server does not serve */
};

/* One request, as the reader yields it. Every pointer points into the
 * reader and stays valid until the next http_reader_feed() or
 * http_reader_free() on that reader. */
struct http_request {
	/* 0: a GET or HEAD to serve. Otherwise the status to answer with before
	 * closing the connection: 400 malformed, 405 method not allowed, 413
	 * request content on GET/HEAD, 414 target too long, 431 head too large
	 * or too many fields, 501 method not implemented, 505 version. */
	int status;
	enum http_method_id method;
	const char *method_name;   /* as received, "" if none was read */
	int version_major;         /* as received; 0 before the request line ended */
	int version_minor;
	bool keep_alive;           /* RFC 9112 §9.3; false whenever status != 0 */
	const char *target;        /* raw request-target ("" if none was read) */
	size_t target_len;
	/* Only when status == 0: the decoded, normalised path relative to the
	 * document root ("" is the root itself, else "a/b.html": no leading,
	 * trailing or doubled '/', no "." or ".."), whether it named a directory
	 * (it ended with '/', "." or ".."), and the raw query after '?' (NULL if
	 * none). See http_target_parse(). */
	const char *path;
	bool dir;
	const char *query;
	/* Selected fields, value trimmed of surrounding whitespace, NULL when
	 * absent. Repeated field lines are joined with ", " (RFC 9110 §5.3), so
	 * a repeated singleton field (Range, If-Modified-Since, ...) becomes
	 * invalid and is ignored as such; a repeated Host is a 400. For an
	 * absolute-form target, host is the target's authority (RFC 9112
	 * §3.2.2). */
	const char *host, *connection, *expect, *transfer_encoding, *content_length;
	const char *range, *if_range, *if_match, *if_none_match;
	const char *if_modified_since, *if_unmodified_since;
	const char *user_agent, *referer;
	uint32_t head_bytes; /* bytes of this request's head */
};

struct http_reader;

/* A reader for one connection. lim NULL means every default. Returns NULL
 * if a limit is out of range or memory is short. Memory: about
 * 2 * max_head_bytes + 2 * max_uri_bytes + 24 * max_headers bytes. */
struct http_reader *http_reader_new(const struct http_limits *lim);
void http_reader_free(struct http_reader *r); /* NULL is a no-op */
/* Back to the state http_reader_new() gives (same limits), whatever was
 * fed: a server may keep readers of closed connections for new ones. */
void http_reader_reset(struct http_reader *r);
/* The same, and every byte it was fed, or made of them, zeroed: for a
 * reader kept for another client (an isolated worker reused: recycle
 * scrub). */
void http_reader_wipe(struct http_reader *r);

/* Feeds the next bytes the client sent. Stops at the end of the first
 * complete request, so pipelined requests come out one per call, and
 * accepts a request split anywhere across calls.
 *
 *   1        a request is complete: *req, status 0. *used bytes of data
 *            were taken; the next request starts at data + *used.
 *   -EAGAIN  all len bytes taken (*used = len), the request is not
 *            complete yet.
 *   -EBADMSG the client sent something this server does not serve: *req
 *            has the status to answer with and whatever was read before
 *            (for the log). *used bytes were taken. The connection is done:
 *            every further call returns -EBADMSG again.
 *
 * A request with content is never read past its head (413, see docs).
 * *req is set in every case (for -EAGAIN it is the partial request). */
int http_reader_feed(struct http_reader *r, const void *data, size_t len, size_t *used,
		     const struct http_request **req);

/* True when no byte of a next request has been fed: a timeout now is an
 * idle keep-alive connection (close quietly), not a slow request (408). */
bool http_reader_idle(const struct http_reader *r);

/* ---------------------------------------------------------------------- */
/* Targets and files */

struct http_target {
	const char *path;      /* in out: see struct http_request */
	size_t path_len;
	bool dir;
	const char *query;     /* into target, after '?' (NULL if none) */
	size_t query_len;
	const char *authority; /* into target: absolute-form only, else NULL */
	size_t authority_len;
};

/* Splits a raw request-target (origin-form "/p?q" or absolute-form
 * "http://host/p?q"; a fragment is dropped), percent-decodes the path once
 * and normalises it into out (cap >= len + 1): see docs/http.md for the
 * rules. Returns 0, -EBADMSG for a target to answer 400 (bad escape, %00,
 * a control character or '\' raw or decoded, invalid UTF-8, a ".." above
 * the root, "*", authority-form, a scheme other than http/https, userinfo,
 * an empty host), or -ENOSPC if cap is too small. */
int http_target_parse(const char *target, size_t len, char *out, size_t cap,
		      struct http_target *t);

#define HTTP_OPEN_NO_OPENAT2 1u /* walk with O_NOFOLLOW even if openat2 exists */
/* The root is all the process can see: a sandbox whose mount view holds
 * nothing but the document root, read-only, with no /proc (docs/isolation.md).
 * There the view is the fence, and a plain openat() following symlinks
 * cannot leave it: a symlink out of the root names nothing in the view. So a
 * sandboxed worker, whose seccomp filter answers openat2 with ENOSYS, still
 * serves symlinks that stay inside as the shared server does. Never set
 * this where the process sees more than the root. */
#define HTTP_OPEN_VIEW 2u

/* Opens relpath (as http_target_parse() makes it) under the directory
 * root_dirfd for reading, never resolving outside it: openat2() with
 * RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS, so a symlink is followed only
 * while it stays beneath the root; where openat2 fails with ENOSYS (old
 * kernel, or a seccomp filter answering ENOSYS), a component-by-component
 * walk that follows no symlink at all. Nothing that is not a regular file
 * is ever opened for reading (a first open with O_PATH classifies it).
 *
 * dir says the target named a directory (trailing '/'): a directory is
 * then served by its index.html, and a regular file is not found.
 *
 * Returns an fd (O_RDONLY | O_CLOEXEC, owned by the caller) with *st filled
 * by fstat, or: -EISDIR when relpath is a directory but dir is false
 * (redirect to the '/' form); -ENOENT for everything not servable (absent,
 * not a regular file, outside the root, permission, loops, names too long);
 * -EMFILE, -ENFILE, -ENOMEM when the process is short of resources. */
int http_open_under_root(int root_dirfd, const char *relpath, bool dir, unsigned flags,
			 struct stat *st);

/* ---------------------------------------------------------------------- */
/* Responses */

struct http_response {
	int status;
	size_t head_len;   /* bytes of buf to send: status line, fields, empty
	                    * line, and the small body of an error or redirect */
	int body_fd;       /* -1, or the file to send next: body_len bytes from
	                    * offset body_off. The caller owns it and closes it
	                    * (or passes it on) even if the client goes away. */
	uint64_t body_off, body_len;
	uint64_t content_bytes; /* content bytes sent (head excluded): the log's %b */
	uint64_t body_in_head;  /* of those, the file's bytes already at the end of
	                         * head_len (a file from the open-file cache) */
	bool keep_alive;        /* false: close after sending this response */
};

/* Room for any response head http_respond() builds for a request read
 * with a max_uri_bytes of max_uri (the Location of a redirect is the
 * longest field). */
#define HTTP_RESP_BUF_SIZE(max_uri) (1024 + 3 * (size_t)(max_uri))

/* Everything about one request: opens req->path under root_dirfd, decides
 * the status (200, 206, 301, 304, 404, 412, 416, 500, or req->status),
 * writes the head into buf and says which bytes of which file follow.
 * HEAD gets the same fields as GET, never a body. now is the current time
 * (Date, and the rfc850 two-digit years). Returns 0, or -ENOSPC if cap is
 * too small (no fd is left open then; see HTTP_RESP_BUF_SIZE). */
int http_respond(const struct http_request *req, int root_dirfd, time_t now, char *buf,
		 size_t cap, struct http_response *resp);

/* The same, opening the file with http_open_under_root() flags
 * (HTTP_OPEN_VIEW in a sandbox). */
int http_respond_in(const struct http_request *req, int root_dirfd, unsigned open_flags,
		    time_t now, char *buf, size_t cap, struct http_response *resp);

/*
 * The open-file cache (lib/http/http_cache.c): files of at most max_file
 * bytes kept open and in memory in `entries` slots (direct-mapped by path),
 * so that answering one costs an fstat() of its descriptor. What a request
 * sees is never older than a second: an entry is used within the second its
 * path was resolved while fstat() shows the same inode, size, mtime and
 * ctime, and the first request of a later second resolves the path again
 * (http_open_under_root()). A process owns it alone (not thread-safe); it
 * holds one descriptor per entry in use.
 */
#define HTTP_FILE_CACHE_MAX_ENTRIES 65536u
#define HTTP_FILE_CACHE_MAX_FILE (1u << 20)
struct http_file_cache;
struct http_file_cache_stats {
	uint64_t hits;        /* answered from an entry */
	uint64_t misses;      /* resolved and opened (then kept if small) */
	uint64_t stale;       /* entries dropped: the file changed or went */
	uint64_t revalidated; /* hits that resolved the path again (a new second) */
	uint32_t entries;     /* in use */
};
/* NULL with errno EINVAL (entries 1 .. HTTP_FILE_CACHE_MAX_ENTRIES, max_file
 * 1 .. HTTP_FILE_CACHE_MAX_FILE) or ENOMEM. */
struct http_file_cache *http_file_cache_create(uint32_t entries, uint32_t max_file);
void http_file_cache_destroy(struct http_file_cache *c);
/* Every entry dropped, the paths they were kept by zeroed before their
 * memory is freed (they are what clients asked for). */
void http_file_cache_clear(struct http_file_cache *c);
void http_file_cache_get_stats(const struct http_file_cache *c, struct http_file_cache_stats *s);

/* http_respond_in() through the cache fc (NULL: none): a cached file's
 * bytes follow the head in buf (resp->body_in_head) when they fit in cap,
 * else they come from a descriptor as always. */
int http_respond_cached(const struct http_request *req, int root_dirfd, unsigned open_flags,
			struct http_file_cache *fc, time_t now, char *buf, size_t cap,
			struct http_response *resp);

/* A response with no file behind it: status and its small HTML body (none
 * for HEAD or 304), for what the server decides itself (408 on a slow
 * request, 503 when full). keep_alive goes into the Connection field.
 * Returns 0 or -ENOSPC. */
int http_respond_status(int status, bool head, bool keep_alive, time_t now, char *buf,
			size_t cap, struct http_response *resp);

/* The reason phrase of a status ("Not Found"); "Unknown" for others. */
const char *http_reason(int status);

/* The media type for a file name, from its extension (case-insensitive):
 * "text/html; charset=utf-8", ..., "application/octet-stream" by default. */
const char *http_mime_type(const char *name);

/* ---------------------------------------------------------------------- */
/* Validators and ranges (RFC 9110 §8.8, §13, §14), used by http_respond()
 * and exposed for tests and for servers that build their own responses. */

#define HTTP_DATE_LEN 29 /* "Sun, 06 Nov 1994 08:49:37 GMT" */
#define HTTP_ETAG_MAX 64

/* IMF-fixdate of t (clamped to years 1970 .. 9999) into out, which has
 * room for HTTP_DATE_LEN + 1 bytes. Returns HTTP_DATE_LEN. */
size_t http_date_format(time_t t, char *out);

/* Parses an HTTP-date in any of its three forms (IMF-fixdate, rfc850,
 * asctime), nothing before or after. now resolves rfc850's two-digit year
 * (RFC 9110 §5.6.7). Returns 0 and *out, or -EBADMSG. */
int http_date_parse(const char *s, time_t now, time_t *out);

/* The strong entity-tag of a file, quoted: "inode-size-mtime" in hex, mtime
 * in nanoseconds. out has room for HTTP_ETAG_MAX bytes. Returns its length. */
size_t http_etag_format(const struct stat *st, char *out);

/* Whether the field value list (If-Match / If-None-Match: "*" or a list of
 * entity-tags) matches etag. weak selects the weak comparison (W/ ignored),
 * else the strong one (a weak tag matches nothing). Returns 1, 0, or
 * -EBADMSG if the list is not valid. */
int http_etag_match(const char *list, const char *etag, bool weak);

/* RFC 9110 §13.2.2 steps 1-4 for a GET or HEAD of a representation that
 * exists: If-Match, If-Unmodified-Since, If-None-Match, If-Modified-Since.
 * Returns 0 (go on), 304 or 412. */
int http_conditional(const struct http_request *req, const char *etag, time_t last_modified,
		     time_t now);

/* If-Range (RFC 9110 §13.1.5): true when the Range may be used: an
 * entity-tag that matches etag strongly, or a date equal to last_modified. */
bool http_if_range(const char *value, const char *etag, time_t last_modified, time_t now);

enum http_range_result {
	HTTP_RANGE_IGNORE,        /* malformed, other unit, several ranges: send 200 */
	HTTP_RANGE_OK,            /* send 206 of *first, *len */
	HTTP_RANGE_UNSATISFIABLE, /* send 416, Content-Range "bytes *" then "/size" */
};

/* Parses a Range field value against a representation of size bytes: one
 * bytes range "a-b", "a-" or "-n"; numbers too large for 64 bits count as
 * huge, not as malformed. */
enum http_range_result http_range_parse(const char *value, uint64_t size, uint64_t *first,
					uint64_t *len);

/* ---------------------------------------------------------------------- */
/* Access log */

/* One line in the combined log format, newline-terminated, into buf:
 *   client - - [10/Oct/2000:13:55:36 +0000] "GET /a HTTP/1.1" 200 2326 "ref" "ua"
 * Time in UTC; bytes 0 prints "-"; the request line is "-" when no method
 * was read. Client-sent text is escaped (\" \\ \xHH) so a line can never be
 * split or forged. req may be NULL. Returns the length (NUL not counted),
 * or -ENOSPC if it does not fit in cap (buf then holds a NUL-terminated
 * prefix). */
int http_log_format(char *buf, size_t cap, const char *client, const struct http_request *req,
		    int status, uint64_t bytes, time_t t);

#endif
