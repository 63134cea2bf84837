/* SPDX-License-Identifier: MIT */
/*
 * The control plane: a REST/JSON API on libmicrohttpd (docs/api.md). One
 * request at a time on MHD's own thread; handlers call into the registry and
 * statistics, which do their own locking. Mutating calls need the bearer token.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <limits.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

#include "bulkhead/log.h"
#include "mgr/mgr.h"

#define API_MAX_BODY 65536

/* Packets GET /api/v1/pool/held describes (it counts them all). */
#define API_POOL_HELD_MAX 64

struct api_req {
	char *body;
	size_t len;
	int too_big;
	int oom; /* short of memory reading the request: its body is not kept */
};

/* A request whose record could not be allocated: read and answered the 503
 * below (never written, shared by every thread). */
static struct api_req api_req_oom = {.oom = 1};

/*
 * Answers made at start, for when the memory to make the real one is short:
 * queueing one allocates nothing of ours (MHD builds the head in the
 * connection's own pool). api_oom: 503 {"error": "out of memory"}; api_made: {} with the
 * status of a change that was made, so that "503" keeps meaning "not made"
 * (a refused change's answer that cannot be made is the 503: not made).
 */
static struct MHD_Response *api_oom, *api_made;
static const char api_oom_text[] = "{\n \"error\": \"out of memory\"\n}";
static const char api_made_text[] = "{}";

/* What to answer when an answer cannot be made */
enum api_short {
	API_SHORT_503,    /* the 503 */
	API_SHORT_CHANGE, /* a change's: its status with {} when that is a success, else the 503 */
	API_SHORT_CLOSE,  /* none: the connection is closed (the event stream: a client
			     reconnects after that, as it would not after a 503) */
};

struct api_reply {
	unsigned status;
	json_t *doc; /* owned */
};

static struct api_reply api_error(unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static struct api_reply api_error(unsigned status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return (struct api_reply){status, json_pack("{s:s}", "error", msg)};
}

static struct api_reply api_ok(json_t *doc) { return (struct api_reply){MHD_HTTP_OK, doc}; }

/* Parse a JSON object body whose members are all in `keys`. */
static int api_body(const struct api_req *r, const char *const *keys, json_t **out, struct api_reply *err)
{
	json_error_t je;
	mgr_json_oom = 0;
	json_t *doc = r->len ? json_loadb(r->body, r->len, JSON_REJECT_DUPLICATES, &je) : NULL;
	if (!doc && r->len && mgr_json_oom) {
		*err = api_error(MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory reading the body");
		return -ENOMEM;
	}
	if (!doc) {
		*err = r->len ? api_error(MHD_HTTP_BAD_REQUEST, "body: line %d, column %d: %s", je.line,
					  je.column, je.text)
			      : api_error(MHD_HTTP_BAD_REQUEST, "body: a JSON object is required");
		return -EINVAL;
	}
	if (!json_is_object(doc)) {
		json_decref(doc);
		*err = api_error(MHD_HTTP_BAD_REQUEST, "body: must be a JSON object");
		return -EINVAL;
	}
	const char *k;
	json_t *v;
	json_object_foreach(doc, k, v) {
		int known = 0;
		for (const char *const *p = keys; *p; p++)
			known |= !strcmp(*p, k);
		if (!known) {
			*err = api_error(MHD_HTTP_BAD_REQUEST, "body.%s: unknown field", k);
			json_decref(doc);
			return -EINVAL;
		}
	}
	*out = doc;
	return 0;
}

static json_t *api_stats_part(struct mgr *m, const char *key)
{
	json_t *doc = mgr_stats_live(m);
	if (!doc)
		return NULL; /* out of memory */
	json_t *part = json_incref(json_object_get(doc, key));
	json_decref(doc);
	return part ? part : json_array();
}

static struct api_reply api_scale(struct mgr *m, const char *service, const struct api_req *r)
{
	static const char *const keys[] = {"instances", NULL};
	struct api_reply err;
	json_t *body;
	char msg[256];

	if (api_body(r, keys, &body, &err))
		return err;
	json_t *n = json_object_get(body, "instances");
	if (!json_is_integer(n) || json_integer_value(n) < 0 || json_integer_value(n) > 65534) {
		json_decref(body);
		return api_error(MHD_HTTP_BAD_REQUEST, "body.instances: an integer from 0 is required");
	}
	unsigned want = (unsigned)json_integer_value(n);
	json_decref(body);
	int rc = mgr_service_scale(m, service, want, msg, sizeof(msg));
	if (rc == -ENOENT && strstr(msg, "no service"))
		return api_error(MHD_HTTP_NOT_FOUND, "%s", msg);
	if (rc < 0)
		return api_error(rc == -ERANGE ? MHD_HTTP_BAD_REQUEST : MHD_HTTP_CONFLICT, "%s", msg);
	return (struct api_reply){MHD_HTTP_ACCEPTED,
				  json_pack("{s:s, s:i}", "service", service, "instances", (int)want)};
}

static enum MHD_Result api_send(struct MHD_Connection *c, struct api_reply rep);

/* What follows prefix in url, or NULL. (Out of line: GCC's string-bounds
 * analysis otherwise mistakes url for the literal it was compared with.) */
static __attribute__((noinline)) const char *api_after(const char *url, const char *prefix)
{
	size_t n = strlen(prefix);
	return strncmp(url, prefix, n) ? NULL : url + n;
}

/* "/api/v1/nfs/12/pause" -> id 12, rest "/pause". -1 if not a number. */
static long api_id(const char *p, const char **rest)
{
	char *end;
	if (*p < '0' || *p > '9')
		return -1;
	long v = strtol(p, &end, 10);
	if (v > 65535 || (*end && *end != '/'))
		return -1;
	*rest = end;
	return v;
}

static json_t *api_find_nf(struct mgr *m, long id)
{
	json_t *all = api_stats_part(m, "nfs"), *o, *found = NULL;
	size_t i;
	json_array_foreach(all, i, o)
		if (json_integer_value(json_object_get(o, "id")) == id)
			found = json_incref(o);
	json_decref(all);
	return found;
}

static struct api_reply api_errno(int rc, const char *msg)
{
	unsigned st = rc == -ENOENT ? MHD_HTTP_NOT_FOUND
		      : rc == -EBUSY || rc == -EEXIST || rc == -ENOSPC ? MHD_HTTP_CONFLICT
		      : rc == -EINVAL || rc == -ERANGE ? MHD_HTTP_BAD_REQUEST
		      : rc == -ENOMEM ? MHD_HTTP_SERVICE_UNAVAILABLE
				      : MHD_HTTP_INTERNAL_SERVER_ERROR;
	return api_error(st, "%s", msg);
}

static struct api_reply api_nf_op(struct mgr *m, long id, enum mgr_nf_op op)
{
	char msg[256];
	int rc = mgr_nf_control(m, (unsigned)id, op, msg, sizeof(msg));
	if (rc < 0)
		return api_errno(rc, msg);
	return (struct api_reply){MHD_HTTP_ACCEPTED,
				  json_pack("{s:i, s:s}", "id", (int)id, "requested",
					    op == MGR_NF_STOP ? "stop" : op == MGR_NF_PAUSE ? "pause" : "resume")};
}

static struct api_reply api_nf_start(struct mgr *m, const struct api_req *r)
{
	static const char *const keys[] = {"nf", "service", "name", "args", NULL};
	struct api_reply err;
	json_t *body, *v;
	char msg[256];
	size_t i;

	if (api_body(r, keys, &body, &err))
		return err;
	const char *nf = json_string_value(json_object_get(body, "nf"));
	const char *svc = json_string_value(json_object_get(body, "service"));
	const char *name = json_string_value(json_object_get(body, "name"));
	json_t *args = json_object_get(body, "args");
	if (!nf || (json_object_get(body, "service") && !svc) || (json_object_get(body, "name") && !name) ||
	    (args && !json_is_array(args))) {
		json_decref(body);
		return api_error(MHD_HTTP_BAD_REQUEST, "body: nf (string) is required; service and name "
						       "are strings, args an array of strings");
	}
	const char *argv[66];
	unsigned n = 0;
	json_array_foreach(args, i, v) {
		if (!json_is_string(v) || n >= 64) {
			json_decref(body);
			return api_error(MHD_HTTP_BAD_REQUEST, "body.args: at most 64 strings");
		}
		argv[n++] = json_string_value(v);
	}
	argv[n] = NULL;
	long pid = mgr_nf_start(m, nf, svc, name, argv, msg, sizeof(msg));
	struct api_reply rep = pid < 0 ? api_errno((int)pid, msg)
				       : (struct api_reply){MHD_HTTP_CREATED,
							    json_pack("{s:i, s:s}", "pid", (int)pid, "nf", nf)};
	json_decref(body); /* nf, svc, name and argv point into it */
	return rep;
}

static struct api_reply api_chains(struct mgr *m, const char *method, const char *name,
				   const struct api_req *r)
{
	static const char *const keys[] = {"name", "hops", "out", NULL};
	struct api_reply err;
	json_t *body;
	char msg[256];
	int rc;

	if (!name) {
		if (!strcmp(method, "GET"))
			return api_ok(api_stats_part(m, "chains"));
		if (strcmp(method, "POST"))
			return api_error(MHD_HTTP_METHOD_NOT_ALLOWED, "chains: use GET or POST");
		if (api_body(r, keys, &body, &err))
			return err;
		const char *nm = json_string_value(json_object_get(body, "name"));
		if (!nm || !*nm || strlen(nm) >= BH_NAME_LEN) {
			json_decref(body);
			return api_error(MHD_HTTP_BAD_REQUEST, "body.name: a chain name of 1-31 characters is required");
		}
		char cname[BH_NAME_LEN];
		snprintf(cname, sizeof(cname), "%s", nm);
		rc = mgr_chain_set(m, cname, body, 1, msg, sizeof(msg));
		json_decref(body);
		if (rc < 0)
			return api_errno(rc, msg);
		return (struct api_reply){MHD_HTTP_CREATED, json_pack("{s:s}", "created", cname)};
	}
	if (!strcmp(method, "PUT")) {
		if (api_body(r, keys, &body, &err))
			return err;
		json_object_del(body, "name");
		rc = mgr_chain_set(m, name, body, 0, msg, sizeof(msg));
		json_decref(body);
		return rc < 0 ? api_errno(rc, msg) : api_ok(json_pack("{s:s}", "changed", name));
	}
	if (!strcmp(method, "DELETE")) {
		rc = mgr_chain_delete(m, name, msg, sizeof(msg));
		return rc < 0 ? api_errno(rc, msg) : api_ok(json_pack("{s:s}", "deleted", name));
	}
	if (!strcmp(method, "GET")) {
		json_t *all = api_stats_part(m, "chains"), *o, *found = NULL;
		size_t i;
		json_array_foreach(all, i, o)
			if (!strcmp(json_string_value(json_object_get(o, "name")), name))
				found = json_incref(o);
		json_decref(all);
		return found ? api_ok(found) : api_error(MHD_HTTP_NOT_FOUND, "no chain named '%s'", name);
	}
	return api_error(MHD_HTTP_METHOD_NOT_ALLOWED, "chains/%s: use GET, PUT or DELETE", name);
}

static struct api_reply api_rules(struct mgr *m, const char *method, const char *rest,
				  const struct api_req *r)
{
	static const char *const keys[] = {"in_port", "src", "dst", "proto", "sport", "dport",
					   "chain", "index", NULL};
	struct api_reply err;
	json_t *body;
	char msg[256];

	if (!*rest) {
		if (!strcmp(method, "GET"))
			return api_ok(mgr_rules_json(m));
		if (strcmp(method, "POST"))
			return api_error(MHD_HTTP_METHOD_NOT_ALLOWED, "rules: use GET or POST");
		if (api_body(r, keys, &body, &err))
			return err;
		int rc = mgr_rule_insert(m, body, msg, sizeof(msg));
		json_decref(body);
		if (rc < 0)
			return api_errno(rc, msg);
		return (struct api_reply){MHD_HTTP_CREATED, json_pack("{s:i}", "index", rc)};
	}
	const char *tail = "";
	long k = rest[0] == '/' ? api_id(rest + 1, &tail) : -1;
	if (k < 0 || *tail)
		return api_error(MHD_HTTP_NOT_FOUND, "rules%s: no such resource", rest);
	if (strcmp(method, "DELETE"))
		return api_error(MHD_HTTP_METHOD_NOT_ALLOWED, "rules/%ld: use DELETE", k);
	int rc = mgr_rule_delete(m, (unsigned)k, msg, sizeof(msg));
	return rc < 0 ? api_errno(rc, msg) : api_ok(json_pack("{s:i}", "deleted", (int)k));
}

static struct api_reply api_default_chain(struct mgr *m, const char *method, const struct api_req *r)
{
	static const char *const keys[] = {"chain", NULL};
	struct api_reply err;
	json_t *body;
	char msg[256];
	if (strcmp(method, "PUT"))
		return api_error(MHD_HTTP_METHOD_NOT_ALLOWED, "default_chain: use PUT");
	if (api_body(r, keys, &body, &err))
		return err;
	json_t *c = json_object_get(body, "chain");
	if (!c || (!json_is_null(c) && !json_is_string(c))) {
		json_decref(body);
		return api_error(MHD_HTTP_BAD_REQUEST, "body.chain: a chain name or null is required");
	}
	int rc = mgr_default_chain_set(m, json_string_value(c), msg, sizeof(msg));
	json_decref(body);
	return rc < 0 ? api_errno(rc, msg) : api_ok(json_pack("{s:b}", "ok", 1));
}

static struct api_reply api_route(struct mgr *m, const char *method, const char *url,
				  const struct api_req *r)
{
	static const char svc_prefix[] = "/api/v1/services/";
	int get = !strcmp(method, "GET");
	const char *rest;

	if (!strcmp(url, "/api/v1/stats")) {
		if (!get)
			return api_error(MHD_HTTP_METHOD_NOT_ALLOWED, "%s %s: use GET", method, url);
		return api_ok(mgr_stats_live(m));
	}
	if (!strcmp(url, "/api/v1/stats/history"))
		return get ? api_ok(mgr_stats_history(m))
			   : api_error(MHD_HTTP_METHOD_NOT_ALLOWED, "%s %s: use GET", method, url);
	if (!strcmp(url, "/api/v1/pool/held")) {
		if (!get)
			return api_error(MHD_HTTP_METHOD_NOT_ALLOWED, "%s %s: use GET", method, url);
		json_t *held = mgr_pool_held(m, API_POOL_HELD_MAX);
		return held ? api_ok(held)
			    : api_error(MHD_HTTP_INTERNAL_SERVER_ERROR, "the pool cannot be read");
	}
	if (!strcmp(url, "/api/v1/catalog"))
		return get ? api_ok(mgr_catalog(m))
			   : api_error(MHD_HTTP_METHOD_NOT_ALLOWED, "%s %s: use GET", method, url);
	if (!strcmp(url, "/api/v1/ports") || !strcmp(url, "/api/v1/services"))
		return get ? api_ok(api_stats_part(m, url + 8))
			   : api_error(MHD_HTTP_METHOD_NOT_ALLOWED, "%s %s: use GET", method, url);
	if (!strcmp(url, "/api/v1/nfs")) {
		if (get)
			return api_ok(api_stats_part(m, "nfs"));
		if (!strcmp(method, "POST"))
			return api_nf_start(m, r);
		return api_error(MHD_HTTP_METHOD_NOT_ALLOWED, "%s %s: use GET or POST", method, url);
	}
	if (!strncmp(url, "/api/v1/nfs/", 12)) {
		long id = api_id(url + 12, &rest);
		if (id < 0)
			return api_error(MHD_HTTP_NOT_FOUND, "%s: NF ids are numbers", url);
		if (!*rest) {
			if (get) {
				json_t *nf = api_find_nf(m, id);
				return nf ? api_ok(nf) : api_error(MHD_HTTP_NOT_FOUND, "no NF %ld", id);
			}
			if (!strcmp(method, "DELETE"))
				return api_nf_op(m, id, MGR_NF_STOP);
			return api_error(MHD_HTTP_METHOD_NOT_ALLOWED, "%s %s: use GET or DELETE", method, url);
		}
		if (!strcmp(rest, "/pause") || !strcmp(rest, "/resume")) {
			if (strcmp(method, "POST"))
				return api_error(MHD_HTTP_METHOD_NOT_ALLOWED, "%s %s: use POST", method, url);
			return api_nf_op(m, id, rest[1] == 'p' ? MGR_NF_PAUSE : MGR_NF_RESUME);
		}
		return api_error(MHD_HTTP_NOT_FOUND, "%s: no such resource", url);
	}
	if (!strcmp(url, "/api/v1/chains"))
		return api_chains(m, method, NULL, r);
	const char *chain = api_after(url, "/api/v1/chains/");
	if (chain && *chain && !strchr(chain, '/'))
		return api_chains(m, method, chain, r);
	if (!strncmp(url, "/api/v1/rules", 13))
		return api_rules(m, method, url + 13, r);
	if (!strcmp(url, "/api/v1/default_chain"))
		return api_default_chain(m, method, r);
	if (!strncmp(url, svc_prefix, sizeof(svc_prefix) - 1)) {
		const char *name = url + sizeof(svc_prefix) - 1, *slash = strchr(name, '/');
		if (slash && !strcmp(slash, "/scale")) {
			char svc[BH_NAME_LEN];
			size_t n = (size_t)(slash - name);
			if (n == 0 || n >= sizeof(svc))
				return api_error(MHD_HTTP_NOT_FOUND, "%s: no such service", url);
			memcpy(svc, name, n);
			svc[n] = 0;
			if (strcmp(method, "POST"))
				return api_error(MHD_HTTP_METHOD_NOT_ALLOWED, "%s %s: use POST", method, url);
			return api_scale(m, svc, r);
		}
	}
	return api_error(MHD_HTTP_NOT_FOUND, "%s: no such resource", url);
}

/* Server-sent events: the last 50, then each new one, until the client goes. */
struct api_sse {
	struct mgr *m;
	uint64_t last;
	char *pending;
	size_t len, off;
};

static ssize_t api_sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct api_sse *e = cls;
	(void)pos;
	while (e->off == e->len) {
		free(e->pending);
		e->pending = NULL;
		e->len = e->off = 0;
		if (e->m->stop)
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (!mgr_events_wait(e->last, 15000)) {
			e->pending = strdup(": keep-alive\n\n");
			e->len = e->pending ? strlen(e->pending) : 0;
			break;
		}
		uint64_t last;
		json_t *evs = mgr_events_since(e->last, 1024, &last), *ev;
		size_t i;
		FILE *f = evs ? open_memstream(&e->pending, &e->len) : NULL;
		bool ok = f != NULL;
		json_array_foreach(evs, i, ev) {
			char *t = ok ? json_dumps(ev, JSON_COMPACT) : NULL;
			ok = t && fprintf(f, "id: %lld\ndata: %s\n\n",
					  json_integer_value(json_object_get(ev, "seq")), t) > 0;
			free(t);
		}
		if (f) {
			if (ferror(f))
				ok = false;
			/* glibc's fclose() says 0 when its last realloc() failed,
			 * and leaves the buffer NULL: the batch is lost then too */
			if (fclose(f) || !e->pending)
				ok = false;
		}
		json_decref(evs);
		if (!ok) /* out of memory: the client reconnects (EventSource does) */
			return MHD_CONTENT_READER_END_WITH_ERROR;
		e->last = last;
	}
	size_t n = e->len - e->off < max ? e->len - e->off : max;
	memcpy(buf, e->pending + e->off, n);
	e->off += n;
	return (ssize_t)n;
}

static void api_sse_free(void *cls)
{
	struct api_sse *e = cls;
	free(e->pending);
	free(e);
}

/* The answer made at start for an answer with this status that could not be
 * made (sh) */
static enum MHD_Result api_short(struct MHD_Connection *c, unsigned status, enum api_short sh)
{
	if (sh == API_SHORT_CLOSE)
		return MHD_NO;
	if (sh == API_SHORT_CHANGE && status >= 200 && status < 300)
		return MHD_queue_response(c, status, api_made);
	return MHD_queue_response(c, MHD_HTTP_SERVICE_UNAVAILABLE, api_oom);
}

/* Queue r with the headers hdr (name, value pairs, NULL-ended), and let it
 * go. Not made (NULL: out of memory), or a header that could not be added:
 * the answer made at start, as sh says. */
static enum MHD_Result api_queue(struct MHD_Connection *c, unsigned status, struct MHD_Response *r,
				 const char *const *hdr, enum api_short sh)
{
	if (!r)
		return api_short(c, status, sh);
	enum MHD_Result ret = MHD_YES;
	for (; *hdr && ret == MHD_YES; hdr += 2)
		ret = MHD_add_response_header(r, hdr[0], hdr[1]);
	if (ret == MHD_YES)
		ret = MHD_queue_response(c, status, r);
	else
		ret = api_short(c, status, sh);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result api_events(struct mgr *m, struct MHD_Connection *c)
{
	const char *since = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "since");
	if (since) {
		uint64_t last;
		return api_send(c, api_ok(mgr_events_since(strtoull(since, NULL, 10), 1024, &last)));
	}
	struct api_sse *e = calloc(1, sizeof(*e));
	if (!e)
		return MHD_NO;
	e->m = m;
	uint64_t last;
	json_t *past = mgr_events_since(0, 50, &last);
	if (!past) {
		api_sse_free(e);
		return MHD_NO;
	}
	e->last = json_array_size(past) ? (uint64_t)json_integer_value(json_object_get(
						  json_array_get(past, 0), "seq")) - 1
					: last;
	json_decref(past);
	/* A client reconnecting (EventSource does, with the id of the last
	 * event it had) resumes after it, while that is still kept; an id
	 * this manager never gave (it restarted) gets the last 50 again. */
	const char *lei = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Last-Event-ID");
	char *end;
	errno = 0;
	unsigned long long id = lei && *lei >= '0' && *lei <= '9' ? strtoull(lei, &end, 10) : 0;
	if (lei && *lei >= '0' && *lei <= '9' && !errno && !*end && id <= last)
		e->last = id;
	struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, api_sse_read,
								   e, api_sse_free);
	if (!r) {
		api_sse_free(e);
		return MHD_NO;
	}
	static const char *const hdr[] = {"Content-Type", "text/event-stream", "Cache-Control", "no-store",
					  NULL};
	return api_queue(c, MHD_HTTP_OK, r, hdr, API_SHORT_CLOSE);
}

static enum MHD_Result api_text(struct MHD_Connection *c, unsigned status, char *text, size_t len,
				const char *type)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (!r)
		free(text);
	const char *const hdr[] = {"Content-Type", type, NULL};
	return api_queue(c, status, r, hdr, API_SHORT_503);
}

/*
 * The web console: files under the web directory only. Paths are a plain
 * character set, no "..", no hidden names, and symbolic links are not followed
 * out of it (O_NOFOLLOW on the last component, realpath check on the rest).
 */
static enum MHD_Result api_static(struct mgr *m, struct MHD_Connection *c, const char *url)
{
	static const struct { const char *ext, *type; } types[] = {
		{".html", "text/html; charset=utf-8"}, {".js", "text/javascript"},
		{".mjs", "text/javascript"}, {".css", "text/css"}, {".json", "application/json"},
		{".svg", "image/svg+xml"}, {".png", "image/png"}, {".ico", "image/x-icon"},
	};
	char path[PATH_MAX], real[PATH_MAX];
	const char *rel = !strcmp(url, "/") ? "/index.html" : url;

	if (!m->web_dir[0])
		return api_send(c, api_error(MHD_HTTP_NOT_FOUND, "the web console is not installed"));
	for (const char *p = rel; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '/' || *p == '.' || *p == '-' || *p == '_'))
			return api_send(c, api_error(MHD_HTTP_NOT_FOUND, "%s: not found", url));
	if (strstr(rel, "/.") || strstr(rel, "//"))
		return api_send(c, api_error(MHD_HTTP_NOT_FOUND, "%s: not found", url));
	const char *type = NULL;
	for (unsigned i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		size_t le = strlen(types[i].ext), lr = strlen(rel);
		if (lr > le && !strcmp(rel + lr - le, types[i].ext))
			type = types[i].type;
	}
	snprintf(path, sizeof(path), "%s%s", m->web_dir, rel);
	int fd = type ? open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) : -1;
	struct stat sb;
	if (fd < 0 || fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || !realpath(path, real) ||
	    strncmp(real, m->web_dir, strlen(m->web_dir))) {
		if (fd >= 0)
			close(fd);
		return api_send(c, api_error(MHD_HTTP_NOT_FOUND, "%s: not found", url));
	}
	struct MHD_Response *r = MHD_create_response_from_fd((uint64_t)sb.st_size, fd);
	if (!r)
		close(fd);
	const char *const hdr[] = {"Content-Type", type, "X-Content-Type-Options", "nosniff",
				   "Content-Security-Policy",
				   "default-src 'self'; style-src 'self' 'unsafe-inline'", NULL};
	return api_queue(c, MHD_HTTP_OK, r, hdr, API_SHORT_503);
}

static int api_authorized(struct mgr *m, struct MHD_Connection *c)
{
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	if (!h || strncmp(h, "Bearer ", 7))
		return 0;
	const char *tok = h + 7, *want = m->api_token;
	size_t n = strlen(want);
	if (strlen(tok) != n)
		return 0;
	unsigned char diff = 0; /* constant time */
	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)(tok[i] ^ want[i]);
	return diff == 0;
}

/* Send rep; no document (out of memory making it), or no text: the answer
 * made at start, as sh says */
static enum MHD_Result api_send_as(struct MHD_Connection *c, struct api_reply rep, enum api_short sh)
{
	char *text = rep.doc ? json_dumps(rep.doc, JSON_INDENT(1) | JSON_SORT_KEYS) : NULL;
	json_decref(rep.doc);
	struct MHD_Response *r =
		text ? MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE) : NULL;
	if (!r)
		free(text);
	static const char *const hdr[] = {"Content-Type", "application/json", "Cache-Control", "no-store",
					  NULL};
	return api_queue(c, rep.status, r, hdr, sh);
}

/* An answer to a GET, or a refusal */
static enum MHD_Result api_send(struct MHD_Connection *c, struct api_reply rep)
{
	return api_send_as(c, rep, API_SHORT_503);
}

static enum MHD_Result api_handler(void *cls, struct MHD_Connection *c, const char *url,
				   const char *method, const char *version, const char *upload,
				   size_t *upload_size, void **con_cls)
{
	struct mgr *m = cls;
	struct api_req *r = *con_cls;
	(void)version;

	if (!r) {
		r = calloc(1, sizeof(*r));
		*con_cls = r ? r : &api_req_oom;
		return MHD_YES;
	}
	if (*upload_size) {
		if (r->oom || r->too_big) {
			/* not kept */
		} else if (r->len + *upload_size > API_MAX_BODY) {
			r->too_big = 1;
		} else {
			char *b = realloc(r->body, r->len + *upload_size + 1);
			if (!b) {
				r->oom = 1;
				*upload_size = 0;
				return MHD_YES;
			}
			memcpy(b + r->len, upload, *upload_size);
			r->body = b;
			r->len += *upload_size;
			b[r->len] = 0;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (r->oom)
		return api_short(c, MHD_HTTP_SERVICE_UNAVAILABLE, API_SHORT_503);
	if (r->too_big)
		return api_send(c, api_error(MHD_HTTP_CONTENT_TOO_LARGE, "body: at most %d bytes",
					     API_MAX_BODY));
	int get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
	if (!get && !api_authorized(m, c))
		return api_send(c, api_error(MHD_HTTP_UNAUTHORIZED,
					     "%s needs 'Authorization: Bearer TOKEN' (%s)", method,
					     m->api_token_path));
	if (get && !strcmp(url, "/metrics")) {
		size_t len;
		char *text = mgr_stats_metrics(m, &len);
		if (!text)
			return api_short(c, MHD_HTTP_SERVICE_UNAVAILABLE, API_SHORT_503);
		return api_text(c, MHD_HTTP_OK, text, len, "text/plain; version=0.0.4");
	}
	if (get && !strcmp(url, "/api/v1/events"))
		return api_events(m, c);
	if (get && strncmp(url, "/api/", 5))
		return api_static(m, c, url);
	/* What a GET answers is whole or not sent: out of memory on the way, a
	 * 503 (a change reports its own errors, and may have been made). */
	mgr_json_oom = 0;
	struct api_reply rep = api_route(m, method, url, r);
	if (get && (mgr_json_oom || !rep.doc)) {
		json_decref(rep.doc);
		rep = api_error(MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
	}
	return api_send_as(c, rep, get ? API_SHORT_503 : API_SHORT_CHANGE);
}

static void api_done(void *cls, struct MHD_Connection *c, void **con_cls,
		     enum MHD_RequestTerminationCode toe)
{
	struct api_req *r = *con_cls;
	(void)cls;
	(void)c;
	(void)toe;
	if (r && r != &api_req_oom) {
		free(r->body);
		free(r);
	}
	*con_cls = NULL;
}

/* The configured token, or a new random one written to a root-only file. */
static int api_token(struct mgr *m)
{
	if (m->cfg.api_token) {
		snprintf(m->api_token, sizeof(m->api_token), "%s", m->cfg.api_token);
		snprintf(m->api_token_path, sizeof(m->api_token_path), "the token is api.token in the configuration");
		return 0;
	}
	unsigned char raw[16];
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || read(fd, raw, sizeof(raw)) != (ssize_t)sizeof(raw)) {
		if (fd >= 0)
			close(fd);
		return -EIO;
	}
	close(fd);
	for (unsigned i = 0; i < sizeof(raw); i++)
		snprintf(m->api_token + 2 * i, 3, "%02x", raw[i]);
	if (m->cfg.api_token_file)
		snprintf(m->api_token_file, sizeof(m->api_token_file), "%s", m->cfg.api_token_file);
	else {
		mkdir("/run/bulkhead", 0700);
		snprintf(m->api_token_file, sizeof(m->api_token_file), "/run/bulkhead/%s.token",
			 m->cfg.prefix);
	}
	snprintf(m->api_token_path, sizeof(m->api_token_path), "token in %s", m->api_token_file);
	fd = open(m->api_token_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	fchmod(fd, 0600);
	ssize_t w = write(fd, m->api_token, strlen(m->api_token));
	w += write(fd, "\n", 1);
	close(fd);
	return w == (ssize_t)strlen(m->api_token) + 1 ? 0 : -EIO;
}

/* The answers for when memory is short (api_oom, api_made). 0 or -ENOMEM. */
static int api_short_make(void)
{
	api_oom = MHD_create_response_from_buffer(strlen(api_oom_text), (void *)api_oom_text,
						  MHD_RESPMEM_PERSISTENT);
	api_made = MHD_create_response_from_buffer(strlen(api_made_text), (void *)api_made_text,
						   MHD_RESPMEM_PERSISTENT);
	struct MHD_Response *rs[] = {api_oom, api_made};
	for (unsigned i = 0; i < 2; i++)
		if (!rs[i] || MHD_add_response_header(rs[i], "Content-Type", "application/json") != MHD_YES ||
		    MHD_add_response_header(rs[i], "Cache-Control", "no-store") != MHD_YES)
			return -ENOMEM;
	return 0;
}

static void api_short_free(void)
{
	if (api_oom)
		MHD_destroy_response(api_oom);
	if (api_made)
		MHD_destroy_response(api_made);
	api_oom = api_made = NULL;
}

int mgr_api_start(struct mgr *m)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)m->cfg.api_port)};
	int rc;
	if (m->cfg.api_port == 0)
		return 0;
	if ((rc = api_token(m)) < 0) {
		fprintf(stderr, "bulkhead: api: cannot create the token file %s: %s\n",
			m->api_token_path, strerror(-rc));
		return rc;
	}
	if (api_short_make() < 0) {
		api_short_free();
		fprintf(stderr, "bulkhead: api: out of memory\n");
		return -ENOMEM;
	}
	inet_pton(AF_INET, m->cfg.api_bind, &sa.sin_addr);
	/* A thread per connection: an event stream blocks its thread, not the others. */
	mgr_web_dir(m);
	m->api = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
					  MHD_USE_ERROR_LOG,
				  (uint16_t)m->cfg.api_port, NULL, NULL, api_handler, m,
				  MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
				  MHD_OPTION_NOTIFY_COMPLETED, api_done, m,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
	if (!m->api) {
		api_short_free();
		fprintf(stderr, "bulkhead: api: cannot listen on %s:%u (api.port in use?)\n",
			m->cfg.api_bind, m->cfg.api_port);
		return -EADDRINUSE;
	}
	printf("bulkhead: api on http://%s:%u/api/v1/ (%s)%s%s\n", m->cfg.api_bind,
	       m->cfg.api_port, m->api_token_path, m->web_dir[0] ? ", console from " : "", m->web_dir);
	return 0;
}

void mgr_api_stop(struct mgr *m)
{
	if (m->api)
		MHD_stop_daemon(m->api);
	m->api = NULL;
	api_short_free();
	if (!m->cfg.api_token && m->api_token_file[0] == '/')
		unlink(m->api_token_file);
}
