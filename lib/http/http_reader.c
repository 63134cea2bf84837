/* SPDX-License-Identifier: MIT */
/*
 * The request reader: http_parser (Debian's libhttp-parser) checks the
 * syntax and splits the head into request line and fields; this file keeps
 * what the server needs and enforces what http_parser does not:
 *
 * - the method is read here first, so that a token http_parser does not
 *   know is a 501 and not a 400 (http_parser fails on its first byte);
 * - a line scanner runs ahead of http_parser over the head and finds where
 *   it ends, takes the request-target and counts the field lines (so the
 *   limits, and what the log shows, do not depend on how the bytes were
 *   split: http_parser's callbacks come at the end of each piece);
 *   http_parser is never given more than the head, nor more than
 *   the caller's head limit (its own limit is a process-wide setting),
 *   so a pipelined request is never touched while the current one is
 *   answered, and a head one byte over the limit is a 431 however it was
 *   split;
 * - the scanner also rejects what http_parser accepts but RFC 9112 does
 *   not allow here: obs-fold (§5.2) and whitespace before the first field
 *   (§2.2), and a bare CR (§2.2);
 * - field names with whitespace before the colon (§5.1), which http_parser
 *   passes on.
 *
 * Any content is refused (413) instead of being read: GET and HEAD have no
 * use for it, and not reading it at all leaves no framing ambiguity to
 * smuggle a request through. Every refusal closes the connection.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <http_parser.h>

#include "bulkhead/http.h"
#include "http_int.h"

#define METHOD_MAX 24 /* a longer token is still a method, just not one we know */

/* The fields kept, by lower-case name. */
#define HTTP_FIELDS(X)                                       \
	X(HOST, "host", host)                                \
	X(CONNECTION, "connection", connection)              \
	X(EXPECT, "expect", expect)                          \
	X(TE, "transfer-encoding", transfer_encoding)        \
	X(CL, "content-length", content_length)              \
	X(RANGE, "range", range)                             \
	X(IF_RANGE, "if-range", if_range)                    \
	X(IF_MATCH, "if-match", if_match)                    \
	X(IF_NONE_MATCH, "if-none-match", if_none_match)     \
	X(IMS, "if-modified-since", if_modified_since)       \
	X(IUS, "if-unmodified-since", if_unmodified_since)   \
	X(UA, "user-agent", user_agent)                      \
	X(REFERER, "referer", referer)

enum fld {
#define X(id, name, member) FLD_##id,
	HTTP_FIELDS(X)
#undef X
	FLD_COUNT,
	FLD_OTHER = -1,
};

static const char *const fld_names[FLD_COUNT] = {
#define X(id, name, member) name,
	HTTP_FIELDS(X)
#undef X
};

#define NAME_MAX_KEPT 24 /* longer than any name above */

/* Every method http_parser knows; only GET and HEAD are served. */
static const char *const known_methods[] = {
#define XX(num, name, string) #string,
	HTTP_METHOD_MAP(XX)
#undef XX
};

struct fld_line { /* one kept field line, its raw value in r->raw */
	int8_t id;
	uint32_t off, len;
};

enum phase { PH_START, PH_METHOD, PH_HEAD, PH_DONE, PH_FAILED };
enum hstate { HS_NONE, HS_NAME, HS_VALUE };

struct http_reader {
	http_parser parser;
	http_parser_settings settings;
	struct http_limits lim;
	struct http_request req;
	enum phase phase;
	uint32_t head_bytes;
	/* line scanner */
	bool sc_cr, sc_bol, sc_content;
	bool sc_first_line;
	enum { TG_BEFORE, TG_IN, TG_AFTER } sc_tg; /* the request-target, on the first line */
	int sc_status;                             /* of SCAN_BAD */
	size_t sc_tg0, sc_tg_from; /* target length before a scan, offset of its first new byte */
	uint32_t sc_fields;        /* field lines begun */
	/* callbacks */
	bool complete;
	int cb_status;
	enum hstate hstate;
	char name[NAME_MAX_KEPT];
	size_t name_len;
	bool name_long;
	int cur;
	uint32_t nheaders, nlines;
	char method[METHOD_MAX + 2];
	size_t method_len;
	/* storage, all inside mem[] */
	struct fld_line *lines; /* max_headers */
	char *target;           /* max_uri_bytes + 1 */
	char *path;             /* max_uri_bytes + 2 */
	char *raw;              /* max_head_bytes */
	size_t raw_len;
	char *joined;           /* max_head_bytes + 2 * max_headers + 2 * FLD_COUNT + max_uri + 16 */
	size_t joined_len, joined_cap;
	size_t mem_len;         /* of mem[] */
	_Alignas(8) char mem[];
};

static int reject(struct http_reader *r, int status)
{
	r->cb_status = status;
	return -1;
}

/* ------------------------------------------------------------ callbacks */

static int end_name(struct http_reader *r)
{
	r->cur = FLD_OTHER;
	if (!r->name_long)
		for (int f = 0; f < FLD_COUNT; f++)
			if (http_ieq(r->name, r->name_len, fld_names[f]))
				r->cur = f;
	if (r->cur == FLD_OTHER)
		return 0;
	if (r->cur == FLD_HOST)
		for (uint32_t i = 0; i < r->nlines; i++)
			if (r->lines[i].id == FLD_HOST)
				return reject(r, 400); /* RFC 9112 §3.2 */
	r->lines[r->nlines++] = (struct fld_line){ .id = (int8_t)r->cur, .off = (uint32_t)r->raw_len };
	return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
	struct http_reader *r = p->data;
	if (r->hstate != HS_NAME) {
		if (++r->nheaders > r->lim.max_headers)
			return reject(r, 431); /* the scanner stops before: a guard of lines[] */
		r->hstate = HS_NAME;
		r->name_len = 0;
		r->name_long = false;
	}
	for (size_t i = 0; i < n; i++)
		if (http_is_ows((unsigned char)at[i]))
			return reject(r, 400); /* RFC 9112 §5.1 */
	if (n > sizeof(r->name) - r->name_len) {
		r->name_long = true;
	} else {
		memcpy(r->name + r->name_len, at, n);
		r->name_len += n;
	}
	return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
	struct http_reader *r = p->data;
	if (r->hstate == HS_NAME) {
		r->hstate = HS_VALUE;
		if (end_name(r) < 0)
			return -1;
	}
	if (r->cur == FLD_OTHER || n == 0)
		return 0;
	if (n > r->lim.max_head_bytes - r->raw_len) /* cannot happen: values are in the head */
		return reject(r, 431);
	memcpy(r->raw + r->raw_len, at, n);
	r->raw_len += n;
	r->lines[r->nlines - 1].len += (uint32_t)n;
	return 0;
}

/* Copies n bytes and a NUL into the joined area; NULL if it is full. */
static char *keep(struct http_reader *r, const char *s, size_t n)
{
	if (n >= r->joined_cap - r->joined_len)
		return NULL;
	char *d = r->joined + r->joined_len;
	memcpy(d, s, n);
	d[n] = '\0';
	r->joined_len += n + 1;
	return d;
}

/* Joins the lines of each kept field with ", ", trimmed, into r->joined. */
static int join_fields(struct http_reader *r, const char **out[FLD_COUNT])
{
	for (int f = 0; f < FLD_COUNT; f++) {
		char *start = NULL;
		for (uint32_t i = 0; i < r->nlines; i++) {
			if (r->lines[i].id != f)
				continue;
			const char *v = r->raw + r->lines[i].off;
			size_t n = r->lines[i].len;
			while (n && http_is_ows((unsigned char)v[0]))
				v++, n--;
			while (n && http_is_ows((unsigned char)v[n - 1]))
				n--;
			if (start) {
				if (n + 2 >= r->joined_cap - r->joined_len)
					return -1;
				/* start's NUL is the last byte kept: extend in place */
				char *d = r->joined + r->joined_len - 1;
				memcpy(d, ", ", 2);
				memcpy(d + 2, v, n);
				d[2 + n] = '\0';
				r->joined_len += n + 2;
			} else if (!(start = keep(r, v, n))) {
				return -1;
			}
		}
		*out[f] = start;
	}
	return 0;
}

/* RFC 9110 §7.2 / RFC 3986 §3.2.2: host [ ":" port ], reg-name or IP literal. */
static bool host_valid(const char *h)
{
	for (; *h; h++) {
		unsigned char c = (unsigned char)*h;
		if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
			continue;
		if (!strchr("-._~%!$&'()*+,;=:[]", c))
			return false;
	}
	return true;
}

static int on_headers_complete(http_parser *p)
{
	struct http_reader *r = p->data;
	struct http_request *q = &r->req;
	const char **fields[FLD_COUNT] = {
#define X(id, name, member) [FLD_##id] = &q->member,
		HTTP_FIELDS(X)
#undef X
	};

	if (r->hstate == HS_NAME && end_name(r) < 0)
		return -1;
	if (join_fields(r, fields) < 0)
		return reject(r, 431);
	if (r->sc_tg != TG_AFTER)
		return reject(r, 400); /* "GET /": HTTP/0.9 is not served */
	q->version_major = p->http_major;
	q->version_minor = p->http_minor;
	if (p->http_major != 1 || p->http_minor > 1)
		return reject(r, 505);
	if (q->method == HTTP_METHOD_OTHER)
		return reject(r, 405);
	if ((p->http_minor == 1 && !q->host) || (q->host && !host_valid(q->host)))
		return reject(r, 400);
	if (q->transfer_encoding || (p->flags & F_CHUNKED) ||
	    ((p->flags & F_CONTENTLENGTH) && p->content_length > 0))
		return reject(r, 413);

	struct http_target t;
	if (http_target_parse(q->target, q->target_len, r->path, r->lim.max_uri_bytes + 2, &t) < 0)
		return reject(r, 400);
	q->path = t.path;
	q->dir = t.dir;
	if (t.query && !(q->query = keep(r, t.query, t.query_len)))
		return reject(r, 431);
	if (t.authority) {
		if (!(q->host = keep(r, t.authority, t.authority_len)) || !host_valid(q->host))
			return reject(r, q->host ? 400 : 431);
	}
	q->keep_alive = http_should_keep_alive(p);
	return 0;
}

static int on_message_complete(http_parser *p)
{
	struct http_reader *r = p->data;
	r->complete = true;
	http_parser_pause(p, 1);
	return 0;
}

/* ----------------------------------------------------------------- reader */

static void reset(struct http_reader *r)
{
	http_parser_init(&r->parser, HTTP_REQUEST);
	r->parser.data = r;
	r->phase = PH_START;
	r->head_bytes = 0;
	r->sc_cr = r->sc_bol = false;
	r->sc_content = true; /* the request line has its method */
	r->sc_first_line = true;
	r->sc_tg = TG_BEFORE;
	r->sc_fields = 0;
	r->complete = false;
	r->cb_status = 0;
	r->hstate = HS_NONE;
	r->cur = FLD_OTHER;
	r->nheaders = r->nlines = 0;
	r->method_len = 0;
	r->method[0] = '\0';
	r->raw_len = r->joined_len = 0;
	r->target[0] = '\0';
	r->req = (struct http_request){ .method_name = r->method, .target = r->target };
}

struct http_reader *http_reader_new(const struct http_limits *lim)
{
	struct http_limits l = lim ? *lim : (struct http_limits){ 0 };
	if (!l.max_head_bytes)
		l.max_head_bytes = 8192;
	if (!l.max_uri_bytes)
		l.max_uri_bytes = l.max_head_bytes < 4096 ? l.max_head_bytes : 4096;
	if (!l.max_headers)
		l.max_headers = 100;
	if (l.max_head_bytes < 64 || l.max_head_bytes > HTTP_HEAD_BYTES_MAX ||
	    l.max_uri_bytes > l.max_head_bytes || l.max_headers > 1024) {
		errno = EINVAL;
		return NULL;
	}
	size_t lines = ((size_t)l.max_headers * sizeof(struct fld_line) + 7) & ~(size_t)7;
	size_t joined = (size_t)l.max_head_bytes + 2 * (size_t)l.max_headers + 2 * FLD_COUNT +
			l.max_uri_bytes + 16;
	size_t total = lines + (l.max_uri_bytes + 1) + (l.max_uri_bytes + 2) + l.max_head_bytes +
		       joined;
	struct http_reader *r = malloc(sizeof(*r) + total);
	if (!r)
		return NULL;
	memset(r, 0, sizeof(*r));
	r->lim = l;
	r->mem_len = total;
	char *m = r->mem;
	r->lines = (struct fld_line *)(void *)m;
	m += lines;
	r->target = m;
	m += l.max_uri_bytes + 1;
	r->path = m;
	m += l.max_uri_bytes + 2;
	r->raw = m;
	m += l.max_head_bytes;
	r->joined = m;
	r->joined_cap = joined;
	http_parser_settings_init(&r->settings);
	r->settings.on_header_field = on_header_field;
	r->settings.on_header_value = on_header_value;
	r->settings.on_headers_complete = on_headers_complete;
	r->settings.on_message_complete = on_message_complete;
	reset(r);
	return r;
}

void http_reader_free(struct http_reader *r)
{
	free(r);
}

void http_reader_reset(struct http_reader *r)
{
	reset(r);
}

void http_reader_wipe(struct http_reader *r)
{
	memset(r->mem, 0, r->mem_len);
	memset(r->name, 0, sizeof(r->name));
	memset(r->method, 0, sizeof(r->method));
	memset(&r->req, 0, sizeof(r->req));
	http_parser_init(&r->parser, HTTP_REQUEST);
	reset(r);
}

bool http_reader_idle(const struct http_reader *r)
{
	return r->phase == PH_DONE || (r->phase == PH_START && r->head_bytes == 0);
}

static int fail(struct http_reader *r, int status)
{
	r->phase = PH_FAILED;
	r->req.status = status;
	r->req.keep_alive = false;
	r->req.path = NULL;
	r->req.query = NULL;
	r->req.dir = false;
	return -EBADMSG;
}

/* The method token is complete: classify it, then give it to http_parser. */
static int end_method(struct http_reader *r)
{
	size_t n = r->method_len, i;
	r->method[n] = '\0';
	for (i = 0; i < sizeof(known_methods) / sizeof(known_methods[0]); i++)
		if (!strcmp(r->method, known_methods[i]))
			break;
	if (i == sizeof(known_methods) / sizeof(known_methods[0]))
		return fail(r, 501);
	r->req.method = !strcmp(r->method, "GET")    ? HTTP_METHOD_GET
			: !strcmp(r->method, "HEAD") ? HTTP_METHOD_HEAD
						     : HTTP_METHOD_OTHER;
	r->method[n] = ' ';
	size_t fed = http_parser_execute(&r->parser, &r->settings, r->method, n + 1);
	r->method[n] = '\0';
	if (fed != n + 1 || HTTP_PARSER_ERRNO(&r->parser) != HPE_OK)
		return fail(r, 400);
	r->phase = PH_HEAD;
	return 0;
}

enum scan { SCAN_MORE, SCAN_END, SCAN_BAD };

/* Runs the line scanner over s[0..n): returns SCAN_END with *at the length
 * of the head's rest (its last LF included), SCAN_BAD with *at the offset
 * of the offending byte and r->sc_status, or SCAN_MORE (all n bytes are
 * head). The request-target is taken here, not from http_parser's on_url,
 * whose pieces depend on how the input was split: here it is the same
 * bytes however they came, and a target one byte over the limit is a 414
 * at that byte. */
static enum scan scan_head(struct http_reader *r, const char *s, size_t n, size_t *at)
{
	r->sc_tg0 = r->req.target_len;
	r->sc_tg_from = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		r->sc_status = 400;
		*at = i;
		if (r->sc_cr && c != '\n')
			return SCAN_BAD; /* bare CR */
		if ((c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f)
			return SCAN_BAD; /* control characters, in a field value too (§5.5) */
		if (c == '\r') {
			r->sc_cr = true;
		} else if (c == '\n') {
			if (!r->sc_content) {
				*at = i + 1;
				return SCAN_END;
			}
			r->sc_cr = false;
			r->sc_bol = true;
			r->sc_content = false;
			r->sc_first_line = false;
		} else if (r->sc_bol && http_is_ows(c)) {
			return SCAN_BAD; /* obs-fold, or whitespace before the first field */
		} else {
			/* counted here, not in on_header_field, which http_parser
			 * calls at a piece's end or at the name's, as it happens */
			if (r->sc_bol && ++r->sc_fields > r->lim.max_headers) {
				r->sc_status = 431;
				return SCAN_BAD;
			}
			if (r->sc_first_line && r->sc_tg != TG_AFTER) {
				if (c == ' ') {
					if (r->sc_tg == TG_IN)
						r->sc_tg = TG_AFTER; /* a version follows */
				} else if (r->req.target_len == r->lim.max_uri_bytes) {
					r->sc_status = 414;
					return SCAN_BAD;
				} else {
					if (r->req.target_len == r->sc_tg0)
						r->sc_tg_from = i;
					r->sc_tg = TG_IN;
					r->target[r->req.target_len++] = (char)c;
					r->target[r->req.target_len] = '\0';
				}
			}
			r->sc_bol = false;
			r->sc_content = true;
		}
	}
	*at = n;
	return SCAN_MORE;
}

static int parse_error(struct http_reader *r)
{
	switch (HTTP_PARSER_ERRNO(&r->parser)) {
	case HPE_CB_header_field:
	case HPE_CB_header_value:
	case HPE_CB_headers_complete:
		return fail(r, r->cb_status ? r->cb_status : 400);
	case HPE_HEADER_OVERFLOW:
		return fail(r, 431);
	default:
		return fail(r, 400);
	}
}

/* Feeds the head's bytes from s: returns how many were taken, having moved
 * to PH_DONE or PH_FAILED, or taken them all. */
static size_t feed_head(struct http_reader *r, const char *s, size_t n)
{
	size_t budget = r->lim.max_head_bytes - r->head_bytes, at, fed = 0;
	if (budget == 0) {
		fail(r, 431);
		return 0;
	}
	if (n > budget)
		n = budget;
	enum scan sc = scan_head(r, s, n, &at);
	if (at)
		fed = http_parser_execute(&r->parser, &r->settings, s, at);
	r->head_bytes += (uint32_t)fed;
	enum http_errno e = HTTP_PARSER_ERRNO(&r->parser);
	if (r->complete && e == HPE_PAUSED) {
		/* http_parser must end the message where the scanner ends the head */
		if (sc != SCAN_END || fed != at) {
			fail(r, 400);
		} else {
			r->req.head_bytes = r->head_bytes;
			r->phase = PH_DONE;
		}
		return fed;
	}
	if (e != HPE_OK && r->req.target_len > r->sc_tg0) {
		/* keep the target bytes http_parser took before it failed, the
		 * same whether the bytes after came in this piece or not */
		size_t keep = fed > r->sc_tg_from ? fed - r->sc_tg_from : 0;
		if (keep < r->req.target_len - r->sc_tg0) {
			r->req.target_len = r->sc_tg0 + keep;
			r->target[r->req.target_len] = '\0';
		}
	}
	if (e != HPE_OK)
		parse_error(r);
	else if (sc != SCAN_MORE)
		fail(r, sc == SCAN_BAD ? r->sc_status : 400); /* or a head http_parser did not end */
	else if (r->head_bytes == r->lim.max_head_bytes)
		fail(r, 431); /* the budget is spent and the head goes on */
	return fed;
}

int http_reader_feed(struct http_reader *r, const void *data, size_t len, size_t *used,
		     const struct http_request **req)
{
	const char *s = data;
	size_t i = 0;

	*req = &r->req;
	*used = 0;
	if (r->phase == PH_DONE)
		reset(r);
	if (r->phase == PH_FAILED)
		return -EBADMSG;
	while (i < len) {
		unsigned char c = (unsigned char)s[i];
		switch (r->phase) {
		case PH_START: /* RFC 9112 §2.2: empty lines before a request are ignored */
			if (c != '\r' && c != '\n') {
				r->phase = PH_METHOD;
				continue;
			}
			if (++r->head_bytes > r->lim.max_head_bytes) {
				*used = i;
				return fail(r, 431);
			}
			i++;
			break;
		case PH_METHOD:
			if (++r->head_bytes > r->lim.max_head_bytes) {
				*used = i;
				return fail(r, 431);
			}
			i++;
			if (c == ' ' && r->method_len > 0) {
				if (end_method(r) < 0) {
					*used = i;
					return -EBADMSG;
				}
			} else if (!http_is_tchar(c)) {
				*used = i;
				r->method_len = 0;
				r->method[0] = '\0'; /* not a method: log none */
				return fail(r, 400);
			} else if (r->method_len == METHOD_MAX) {
				*used = i;
				return fail(r, 501);
			} else {
				r->method[r->method_len++] = (char)c;
				r->method[r->method_len] = '\0';
			}
			break;
		case PH_HEAD:
			i += feed_head(r, s + i, len - i);
			if (r->phase == PH_DONE) {
				*used = i;
				return 1;
			}
			if (r->phase == PH_FAILED) {
				*used = i;
				return -EBADMSG;
			}
			break;
		case PH_DONE:
		case PH_FAILED:
			break; /* not reached: both return above */
		}
	}
	*used = len;
	return -EAGAIN;
}
