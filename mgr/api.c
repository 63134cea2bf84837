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
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

#include "bulkhead/log.h"
#include "mgr/mgr.h"

#define API_MAX_BODY 65536

struct api_req {
	char *body;
	size_t len;
	int too_big;
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
	json_t *doc = r->len ? json_loadb(r->body, r->len, JSON_REJECT_DUPLICATES, &je) : NULL;
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
	json_t *doc = mgr_stats_json(m);
	json_t *part = doc ? json_incref(json_object_get(doc, key)) : json_array();
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

static struct api_reply api_route(struct mgr *m, const char *method, const char *url,
				  const struct api_req *r)
{
	static const char svc_prefix[] = "/api/v1/services/";
	int get = !strcmp(method, "GET");

	if (!strcmp(url, "/api/v1/stats")) {
		if (!get)
			return api_error(MHD_HTTP_METHOD_NOT_ALLOWED, "%s %s: use GET", method, url);
		json_t *doc = mgr_stats_json(m);
		return api_ok(doc ? doc : json_object());
	}
	if (!strcmp(url, "/api/v1/nfs") || !strcmp(url, "/api/v1/ports") ||
	    !strcmp(url, "/api/v1/services") || !strcmp(url, "/api/v1/chains"))
		return get ? api_ok(api_stats_part(m, url + 8))
			   : api_error(MHD_HTTP_METHOD_NOT_ALLOWED, "%s %s: use GET", method, url);
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

static enum MHD_Result api_send(struct MHD_Connection *c, struct api_reply rep)
{
	char *text = json_dumps(rep.doc, JSON_INDENT(1) | JSON_SORT_KEYS);
	json_decref(rep.doc);
	size_t len = text ? strlen(text) : 0;
	struct MHD_Response *r = MHD_create_response_from_buffer(len, text ? text : (char *)"",
								 text ? MHD_RESPMEM_MUST_FREE
								      : MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(r, "Content-Type", "application/json");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	enum MHD_Result ret = MHD_queue_response(c, rep.status, r);
	MHD_destroy_response(r);
	return ret;
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
		if (!r)
			return MHD_NO;
		*con_cls = r;
		return MHD_YES;
	}
	if (*upload_size) {
		if (r->len + *upload_size > API_MAX_BODY) {
			r->too_big = 1;
		} else {
			char *b = realloc(r->body, r->len + *upload_size + 1);
			if (!b)
				return MHD_NO;
			memcpy(b + r->len, upload, *upload_size);
			r->body = b;
			r->len += *upload_size;
			b[r->len] = 0;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (r->too_big)
		return api_send(c, api_error(MHD_HTTP_CONTENT_TOO_LARGE, "body: at most %d bytes",
					     API_MAX_BODY));
	if (strcmp(method, "GET") && strcmp(method, "HEAD") && !api_authorized(m, c))
		return api_send(c, api_error(MHD_HTTP_UNAUTHORIZED,
					     "%s needs 'Authorization: Bearer TOKEN' (the token file is "
					     "%s)", method, m->api_token_path));
	return api_send(c, api_route(m, method, url, r));
}

static void api_done(void *cls, struct MHD_Connection *c, void **con_cls,
		     enum MHD_RequestTerminationCode toe)
{
	struct api_req *r = *con_cls;
	(void)cls;
	(void)c;
	(void)toe;
	if (r) {
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
		snprintf(m->api_token_path, sizeof(m->api_token_path), "(in the configuration)");
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
		snprintf(m->api_token_path, sizeof(m->api_token_path), "%s", m->cfg.api_token_file);
	else {
		mkdir("/run/bulkhead", 0700);
		snprintf(m->api_token_path, sizeof(m->api_token_path), "/run/bulkhead/%s.token",
			 m->cfg.prefix);
	}
	fd = open(m->api_token_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	fchmod(fd, 0600);
	ssize_t w = write(fd, m->api_token, strlen(m->api_token));
	w += write(fd, "\n", 1);
	close(fd);
	return w == (ssize_t)strlen(m->api_token) + 1 ? 0 : -EIO;
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
	inet_pton(AF_INET, m->cfg.api_bind, &sa.sin_addr);
	m->api = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG,
				  (uint16_t)m->cfg.api_port, NULL, NULL, api_handler, m,
				  MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
				  MHD_OPTION_NOTIFY_COMPLETED, api_done, m,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
	if (!m->api) {
		fprintf(stderr, "bulkhead: api: cannot listen on %s:%u (api.port in use?)\n",
			m->cfg.api_bind, m->cfg.api_port);
		return -EADDRINUSE;
	}
	printf("bulkhead: api on http://%s:%u/api/v1/ (token in %s)\n", m->cfg.api_bind,
	       m->cfg.api_port, m->api_token_path);
	return 0;
}

void mgr_api_stop(struct mgr *m)
{
	if (m->api)
		MHD_stop_daemon(m->api);
	m->api = NULL;
	if (!m->cfg.api_token && m->api_token_path[0] == '/')
		unlink(m->api_token_path);
}
