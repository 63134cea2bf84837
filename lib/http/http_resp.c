/* SPDX-License-Identifier: MIT */
/*
 * Responses: the decision for one request (http_respond), the fixed error
 * pages, the media types, and the access-log line.
 *
 * Error pages name the status and nothing else: a 404 looks the same
 * whether the file is absent, unreadable, a device, or a symlink out of
 * the root.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bulkhead/http.h"
#include "http_int.h"

/* A bounded writer: once something does not fit, nothing more is written
 * and full stays set; buf always holds a NUL-terminated prefix. */
struct out {
	char *buf;
	size_t cap, len;
	bool full;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	if (o->full)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len)
		o->full = true;
	else
		o->len += (size_t)n;
}

static void put_char(struct out *o, char c)
{
	if (o->full || o->cap - o->len < 2) {
		o->full = true;
		return;
	}
	o->buf[o->len++] = c;
	o->buf[o->len] = '\0';
}

/* put(o, "%s", s) and put(o, "%" PRIu64, v) without printf: the head of every
 * response is made of these. */
static void put_mem(struct out *o, const char *s, size_t n)
{
	if (o->full || o->cap - o->len < n + 1) {
		o->full = true;
		return;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

static void put_str(struct out *o, const char *s)
{
	put_mem(o, s, strlen(s));
}

static void put_u64(struct out *o, uint64_t v)
{
	char d[20];
	put_mem(o, d, http_fmt_u64(d, v, 10));
}

const char *http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 412: return "Precondition Failed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 416: return "Range Not Satisfiable";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	}
	return "Unknown";
}

/* ------------------------------------------------------------ media types */

static const struct {
	const char *ext, *type;
} mime_types[] = {
	{ "html", "text/html; charset=utf-8" },
	{ "htm", "text/html; charset=utf-8" },
	{ "css", "text/css; charset=utf-8" },
	{ "js", "text/javascript; charset=utf-8" },
	{ "mjs", "text/javascript; charset=utf-8" },
	{ "json", "application/json" },
	{ "map", "application/json" },
	{ "txt", "text/plain; charset=utf-8" },
	{ "md", "text/markdown; charset=utf-8" },
	{ "csv", "text/csv; charset=utf-8" },
	{ "xml", "application/xml" },
	{ "png", "image/png" },
	{ "jpg", "image/jpeg" },
	{ "jpeg", "image/jpeg" },
	{ "gif", "image/gif" },
	{ "webp", "image/webp" },
	{ "avif", "image/avif" },
	{ "svg", "image/svg+xml" },
	{ "ico", "image/vnd.microsoft.icon" },
	{ "bmp", "image/bmp" },
	{ "pdf", "application/pdf" },
	{ "wasm", "application/wasm" },
	{ "mp4", "video/mp4" },
	{ "webm", "video/webm" },
	{ "mp3", "audio/mpeg" },
	{ "ogg", "audio/ogg" },
	{ "wav", "audio/wav" },
	{ "woff", "font/woff" },
	{ "woff2", "font/woff2" },
	{ "ttf", "font/ttf" },
	{ "otf", "font/otf" },
	{ "zip", "application/zip" },
	{ "gz", "application/gzip" },
	{ "tar", "application/x-tar" },
};

const char *http_mime_type(const char *name)
{
	const char *slash = strrchr(name, '/');
	const char *dot = strrchr(slash ? slash + 1 : name, '.');
	if (dot && dot[1])
		for (size_t i = 0; i < sizeof(mime_types) / sizeof(mime_types[0]); i++)
			if (http_ieq(dot + 1, strlen(dot + 1), mime_types[i].ext))
				return mime_types[i].type;
	return "application/octet-stream";
}

/* -------------------------------------------------------------- responses */

static void head_start(struct out *o, int status, time_t now)
{
	char date[HTTP_DATE_LEN + 1];
	http_date_format(now, date);
	put_str(o, "HTTP/1.1 ");
	put_u64(o, (uint64_t)status);
	put_char(o, ' ');
	put_str(o, http_reason(status));
	put_str(o, "\r\nDate: ");
	put_mem(o, date, HTTP_DATE_LEN);
	put_str(o, "\r\nServer: bulkhead\r\n");
}

static void head_end(struct out *o, bool keep_alive)
{
	put_str(o, keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n");
}

/* The small HTML body that goes with a status, and the rest of the head. */
static void html_body(struct out *o, int status, bool head, bool keep_alive,
		      struct http_response *resp)
{
	char body[192];
	const char *why = http_reason(status);
	int n = snprintf(body, sizeof(body),
			 "<!DOCTYPE html>\n<html><head><title>%d %s</title></head>"
			 "<body><h1>%d %s</h1></body></html>\n",
			 status, why, status, why);
	put(o, "Content-Type: text/html; charset=utf-8\r\nContent-Length: %d\r\n", n);
	head_end(o, keep_alive);
	if (!head) {
		put(o, "%s", body);
		resp->content_bytes = (uint64_t)n;
	}
}

static int done(struct out *o, struct http_response *resp)
{
	if (o->full) {
		if (resp->body_fd >= 0)
			close(resp->body_fd);
		resp->body_fd = -1;
		resp->head_len = 0;
		return -ENOSPC;
	}
	resp->head_len = o->len;
	return 0;
}

int http_respond_status(int status, bool head, bool keep_alive, time_t now, char *buf,
			size_t cap, struct http_response *resp)
{
	struct out o = { buf, cap, 0, cap == 0 };
	*resp = (struct http_response){ .status = status, .body_fd = -1, .keep_alive = keep_alive };
	head_start(&o, status, now);
	if (status == 304) {
		head_end(&o, keep_alive);
	} else {
		if (status == 405)
			put(&o, "Allow: GET, HEAD\r\n");
		html_body(&o, status, head, keep_alive, resp);
	}
	return done(&o, resp);
}

/* The Location of a directory asked for without its '/': the path
 * percent-encoded where RFC 3986 §3.3 needs it, '/', the query as sent. */
static void location(struct out *o, const struct http_request *req)
{
	put(o, "Location: /");
	for (const unsigned char *p = (const unsigned char *)req->path; *p; p++) {
		if ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    strchr("/-._~!$&'()*+,;=:@", *p))
			put_char(o, (char)*p);
		else
			put(o, "%%%02X", *p);
	}
	if (req->path[0])
		put_char(o, '/');
	if (req->query) {
		put_char(o, '?');
		for (const unsigned char *p = (const unsigned char *)req->query; *p; p++) {
			if (*p > 0x20 && *p < 0x7f)
				put_char(o, (char)*p);
			else
				put(o, "%%%02X", *p);
		}
	}
	put(o, "\r\n");
}

int http_respond(const struct http_request *req, int root_dirfd, time_t now, char *buf,
		 size_t cap, struct http_response *resp)
{
	return http_respond_in(req, root_dirfd, 0, now, buf, cap, resp);
}

int http_respond_in(const struct http_request *req, int root_dirfd, unsigned open_flags,
		    time_t now, char *buf, size_t cap, struct http_response *resp)
{
	return http_respond_cached(req, root_dirfd, open_flags, NULL, now, buf, cap, resp);
}

int http_respond_cached(const struct http_request *req, int root_dirfd, unsigned open_flags,
			struct http_file_cache *fc, time_t now, char *buf, size_t cap,
			struct http_response *resp)
{
	bool head = req->method == HTTP_METHOD_HEAD;
	struct out o = { buf, cap, 0, cap == 0 };
	struct stat st;
	char etag[HTTP_ETAG_MAX], lmdate[HTTP_DATE_LEN + 1];
	const struct http_fc_entry *hit = NULL;

	if (req->status || !req->path)
		return http_respond_status(req->status ? req->status : 400, head, false, now, buf,
					   cap, resp);
	int fd = fc ? http_file_cache_open(fc, root_dirfd, req->path, req->dir, open_flags, now,
					   &st, &hit)
		    : http_open_under_root(root_dirfd, req->path, req->dir, open_flags, &st);
	if (hit)
		fd = -1; /* nothing of ours to close: the bytes are in the entry */
	if (fd == -EISDIR) {
		*resp = (struct http_response){ .status = 301, .body_fd = -1,
						.keep_alive = req->keep_alive };
		head_start(&o, 301, now);
		location(&o, req);
		html_body(&o, 301, head, req->keep_alive, resp);
		return done(&o, resp);
	}
	if (fd < 0 && !hit)
		return http_respond_status(fd == -ENOENT ? 404 : 500, head, req->keep_alive, now, buf,
					   cap, resp);

	*resp = (struct http_response){ .body_fd = -1, .keep_alive = req->keep_alive };
	http_etag_format(&st, etag);
	time_t lm = st.st_mtime < now ? st.st_mtime : now; /* RFC 9110 §8.8.2.1 */
	http_date_format(lm, lmdate);
	uint64_t size = (uint64_t)st.st_size, first = 0, len = size;
	int status = http_conditional(req, etag, lm, now);
	if (!status) {
		status = 200;
		/* RFC 9110 §14.2: Range is defined for GET only */
		if (req->method == HTTP_METHOD_GET && req->range &&
		    http_if_range(req->if_range, etag, lm, now)) {
			switch (http_range_parse(req->range, size, &first, &len)) {
			case HTTP_RANGE_OK:
				status = 206;
				break;
			case HTTP_RANGE_UNSATISFIABLE:
				status = 416;
				break;
			case HTTP_RANGE_IGNORE:
				break;
			}
		}
	}
	resp->status = status;
	head_start(&o, status, now);
	switch (status) {
	case 304:
		put(&o, "ETag: %s\r\nLast-Modified: %s\r\n", etag, lmdate);
		head_end(&o, req->keep_alive);
		break;
	case 412:
		html_body(&o, status, head, req->keep_alive, resp);
		break;
	case 416:
		put(&o, "Content-Range: bytes */%" PRIu64 "\r\n", size);
		html_body(&o, status, head, req->keep_alive, resp);
		break;
	default:
		put_str(&o, "Content-Type: ");
		put_str(&o, http_mime_type(req->dir ? "index.html" : req->path));
		put_str(&o, "\r\nContent-Length: ");
		put_u64(&o, len);
		put_str(&o, "\r\nLast-Modified: ");
		put_mem(&o, lmdate, HTTP_DATE_LEN);
		put_str(&o, "\r\nETag: ");
		put_str(&o, etag);
		put_str(&o, "\r\nAccept-Ranges: bytes\r\n");
		if (status == 206)
			put(&o, "Content-Range: bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64 "\r\n", first,
			    first + len - 1, size);
		head_end(&o, req->keep_alive);
		if (!head && len > 0 && hit && o.cap - o.len > len) {
			put_mem(&o, hit->data + first, (size_t)len);
			resp->content_bytes = resp->body_in_head = len;
		} else if (!head && len > 0 && hit) {
			/* no room after the head: from a descriptor of its own */
			fd = fcntl(hit->fd, F_DUPFD_CLOEXEC, 0);
			if (fd < 0)
				return http_respond_status(500, head, req->keep_alive, now, buf, cap,
							   resp);
			resp->body_fd = fd;
			resp->body_off = first;
			resp->body_len = len;
			resp->content_bytes = len;
			fd = -1;
		} else if (!head && len > 0) {
			resp->body_fd = fd;
			resp->body_off = first;
			resp->body_len = len;
			resp->content_bytes = len;
			fd = -1;
		}
		break;
	}
	if (fd >= 0)
		close(fd);
	return done(&o, resp);
}

/* ------------------------------------------------------------- access log */

/* Client text, escaped as Apache does so that it cannot end the field or
 * the line: \" \\ and \xHH for bytes outside printable ASCII. */
static void put_escaped(struct out *o, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			put_char(o, '\\');
			put_char(o, (char)c);
		} else if (c < 0x20 || c >= 0x7f) {
			put(o, "\\x%02x", c);
		} else {
			put_char(o, (char)c);
		}
	}
}

static void put_field(struct out *o, const char *s)
{
	put_char(o, '"');
	if (s && *s)
		put_escaped(o, s, strlen(s));
	else
		put_char(o, '-');
	put_char(o, '"');
}

int http_log_format(char *buf, size_t cap, const char *client, const struct http_request *req,
		    int status, uint64_t bytes, time_t t)
{
	struct out o = { buf, cap, 0, cap == 0 };
	struct http_tm tm;

	if (cap)
		buf[0] = '\0';
	http_gmtime(t, &tm);
	if (client && *client)
		put_escaped(&o, client, strlen(client));
	else
		put_char(&o, '-');
	put(&o, " - - [%02d/%s/%04d:%02d:%02d:%02d +0000] \"", tm.mday, http_month_name(tm.mon),
	    tm.year, tm.hour, tm.min, tm.sec);
	if (req && req->method_name && req->method_name[0]) {
		put_escaped(&o, req->method_name, strlen(req->method_name));
		if (req->target_len) {
			put_char(&o, ' ');
			put_escaped(&o, req->target, req->target_len);
		}
		if (req->version_major)
			put(&o, " HTTP/%d.%d", req->version_major, req->version_minor);
	} else {
		put_char(&o, '-');
	}
	put(&o, "\" %d ", status);
	if (bytes)
		put(&o, "%" PRIu64 " ", bytes);
	else
		put(&o, "- ");
	put_field(&o, req ? req->referer : NULL);
	put_char(&o, ' ');
	put_field(&o, req ? req->user_agent : NULL);
	put_char(&o, '\n');
	return o.full ? -ENOSPC : (int)o.len;
}
