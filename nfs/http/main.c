/* SPDX-License-Identifier: MIT */
/*
 * http: a static-file HTTP/1.1 server over the platform's TCP stack (the
 * shared design: this one process parses every client's requests).
 *
 *   bh-http [nflib options] -- --ip A.B.C.D/LEN [stack options] --root DIR
 *           [--listen PORT] [--http-max-conns N] [--header-timeout-ms MS]
 *           [--idle-timeout-ms MS] [--send-timeout-ms MS] [--max-head-bytes N]
 *           [--max-uri-bytes N] [--max-headers N] [--max-requests N]
 *           [--log FILE|-] [--backlog N]
 *
 * What a request gets is decided by lib/http (bulkhead/http.h); this file
 * moves bytes and keeps time. Per connection: bytes read go to the request
 * reader; a complete request is answered (http_respond) by a head and, for
 * GET, the bytes of an open file, streamed from the file in chunks as the
 * send buffer takes them (never loaded whole). Pipelined requests are read
 * one after another from what the client sent; nothing more is read from the
 * socket while a response is being sent, so a client that does not read is
 * held back by its own window. Timeouts: a request head must be complete
 * within --header-timeout-ms of its first byte (else 408 and close); an idle
 * keep-alive connection is closed after --idle-timeout-ms; a client that
 * does not take a response for --send-timeout-ms is reset. Beyond
 * --http-max-conns, a new connection is answered 503 and closed (the
 * stack's own --max-conns bounds its connection table, TIME-WAIT included,
 * and must be larger: a SYN beyond it gets no answer at all).
 * docs/http.md describes it all as a user sees it.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


#include "http_nf.h"

uint64_t hs_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int hs_watch(struct bh_tcp *t, struct hsrv *s, int fd, int op, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.fd = fd};
	return bh_epoll_ctl(t, s->ep, op, fd, &ev);
}

/* The socket of a connection whose state is gone (closed, or done lingering). */
static void sock_close(struct bh_tcp *t, struct hsrv *s, int fd, bool reset)
{
	s->conns[fd] = (struct hconn){.file = -1};
	bh_epoll_ctl(t, s->ep, EPOLL_CTL_DEL, fd, NULL);
	if (reset) {
		struct linger l = {.l_onoff = 1, .l_linger = 0};
		bh_setsockopt(t, fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	}
	bh_close(t, fd);
	s->nr_open--;
}

/* Read away what the client has sent; true when it will send no more (its
 * end came, or the connection failed). */
static bool read_away(struct bh_tcp *t, int fd)
{
	char junk[2048];
	ssize_t r;
	while ((r = bh_read(t, fd, junk, sizeof(junk))) > 0)
		;
	return r == 0 || errno != EAGAIN;
}

void hs_conn_close(struct bh_tcp *t, struct hsrv *s, int fd, bool reset)
{
	struct hconn *c = &s->conns[fd];
	if (c->lingering) {
		sock_close(t, s, fd, reset);
		return;
	}
	if (s->iso)
		hiso_conn_gone(s, c);
	if (c->file >= 0)
		close(c->file);
	if (c->rd && s->n_spare_rd < HTTP_SPARE_READERS) {
		http_reader_reset(c->rd);
		s->spare_rd[s->n_spare_rd++] = c->rd;
	} else {
		http_reader_free(c->rd);
	}
	free(c->in);
	free(c->head);
	/* A graceful close while the client may still be sending (the rest of
	 * a refused head, a body nobody wants, a request behind a 503): bytes
	 * arriving at a closed socket would make it reset (RFC 2525), and a
	 * reset can cost the client the answer still on its way. So the
	 * sending side is shut (FIN after what is queued) and the socket
	 * lingers, reading away whatever comes, until the client's end or
	 * HTTP_LINGER_NS (hs_linger_read, hs_linger_scan). */
	if (!reset && !read_away(t, fd) && bh_shutdown(t, fd, SHUT_WR) == 0 &&
	    hs_watch(t, s, fd, EPOLL_CTL_MOD, EPOLLIN) == 0) {
		*c = (struct hconn){.open = true, .lingering = true, .file = -1,
				    .last_ns = bh_tcp_nf_now()};
		return;
	}
	sock_close(t, s, fd, reset);
}

void hs_linger_read(struct bh_tcp *t, struct hsrv *s, int fd)
{
	if (read_away(t, fd))
		sock_close(t, s, fd, false);
}

bool hs_linger_scan(struct bh_tcp *t, struct hsrv *s, int fd, uint64_t now)
{
	struct hconn *c = &s->conns[fd];
	if (!c->lingering)
		return false;
	if (now - c->last_ns > HTTP_LINGER_NS)
		sock_close(t, s, fd, false);
	return true;
}

static void log_line(struct hsrv *s, struct hconn *c, const struct http_request *req,
		     const struct http_response *resp)
{
	if (!s->log)
		return;
	char *line = s->log_line;
	int n = http_log_format(line, s->log_cap, c->client, req, resp->status,
				resp->content_bytes, time(NULL));
	if (n < 0) { /* cannot happen (see http_init); a prefix still ends its line */
		n = (int)strlen(line);
		line[n++] = '\n';
	}
	if (fwrite(line, 1, (size_t)n, s->log) != (size_t)n)
		s->c[HTTP_C_log_errors]++;
	s->log_dirty = true;
}

/* A line a worker formatted (isolated.c): "client text\n", every byte of
 * text outside 0x20..0x7e replaced, so one worker can neither forge a second
 * line nor smuggle control characters into the log. */
void hs_log_raw(struct hsrv *s, const char *client, const char *text, size_t len)
{
	if (!s->log)
		return;
	size_t n = strlen(client), room = s->log_cap - 2;
	if (n > room)
		n = room;
	memcpy(s->log_line, client, n);
	while (len && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		len--;
	for (size_t i = 0; i < len && n < room; i++) {
		unsigned char ch = (unsigned char)text[i];
		s->log_line[n++] = ch >= 0x20 && ch <= 0x7e ? (char)ch : '?';
	}
	s->log_line[n++] = '\n';
	if (fwrite(s->log_line, 1, n, s->log) != n)
		s->c[HTTP_C_log_errors]++;
	s->log_dirty = true;
}

void hs_count_status(struct hsrv *s, int status)
{
	s->c[HTTP_C_requests]++;
	if (status < 300)
		s->c[HTTP_C_status_2xx]++;
	else if (status < 400)
		s->c[HTTP_C_status_3xx]++;
	else if (status < 500)
		s->c[HTTP_C_status_4xx]++;
	else
		s->c[HTTP_C_status_5xx]++;
}

/* Send a response head at once (s->resp is the next response's) and queue
 * its body; what of the head the socket did not take is copied. Called only
 * with nothing else pending on the connection. */
static int queue_response(struct bh_tcp *t, struct hsrv *s, int fd,
			  const struct http_response *resp, uint64_t now)
{
	struct hconn *c = &s->conns[fd];
	/* MSG_MORE: the body, a FIN or the next response shares the segment */
	ssize_t w = bh_send(t, fd, s->resp, resp->head_len, MSG_MORE);
	if (w < 0)
		w = 0; /* a failed socket: hs_send_pending meets it again */
	else
		c->last_ns = now;
	size_t rest = resp->head_len - (size_t)w;
	c->head = NULL;
	if (rest) {
		c->head = malloc(rest);
		if (!c->head) {
			if (resp->body_fd >= 0)
				close(resp->body_fd);
			return -ENOMEM;
		}
		memcpy(c->head, s->resp + w, rest);
	}
	c->head_off = 0;
	c->head_len = (uint32_t)rest;
	c->body_in_head = resp->body_in_head;
	if (!rest) {
		if (!s->iso) /* the isolated design counts what the workers report */
			s->c[HTTP_C_bytes_out] += c->body_in_head;
		c->body_in_head = 0;
	}
	c->file = resp->body_fd;
	c->foff = resp->body_off;
	c->fleft = resp->body_fd >= 0 ? resp->body_len : 0;
	if (c->file >= 0 && !c->fleft) {
		close(c->file);
		c->file = -1;
	}
	if (!resp->keep_alive)
		c->close_after = true;
	hs_count_status(s, resp->status);
	return 0;
}

/* A status the server decides itself (408, 503), then close. */
void hs_respond_status(struct bh_tcp *t, struct hsrv *s, int fd, int status, uint64_t now)
{
	struct hconn *c = &s->conns[fd];
	struct http_response resp;
	if (http_respond_status(status, false, false, time(NULL), s->resp, s->resp_cap, &resp) == 0 &&
	    queue_response(t, s, fd, &resp, now) == 0)
		log_line(s, c, NULL, &resp);
	c->close_after = true;
}

/* An error of bh_sendfile() that is the connection's, not the file's. */
static bool sock_error(int e)
{
	return e == EPIPE || e == ECONNRESET || e == ETIMEDOUT || e == ENOTCONN;
}

/* Send what is pending: the rest of the head, then the file's next bytes,
 * read by the stack straight into the connection's send buffer. Both go
 * with MSG_MORE, so a small response (and what follows it in this turn: the
 * next response, a FIN) shares its segments. Returns 1 when all of it went,
 * 0 when the send buffer is full, -1 when the connection failed. */
int hs_send_pending(struct bh_tcp *t, struct hsrv *s, int fd, uint64_t now)
{
	struct hconn *c = &s->conns[fd];
	if (c->head_off < c->head_len) {
		ssize_t w = bh_send(t, fd, c->head + c->head_off, c->head_len - c->head_off,
				    MSG_MORE);
		if (w < 0)
			return errno == EAGAIN ? 0 : -1;
		c->last_ns = now;
		c->head_off += (uint32_t)w;
		if (c->head_off < c->head_len)
			return 0;
	}
	if (c->fleft) {
		ssize_t w = bh_sendfile(t, fd, c->file, c->foff, c->fleft, MSG_MORE);
		if (w < 0 && errno == EAGAIN)
			return 0;
		if (w <= 0) {
			/* The file shrank (0) or failed under us: the length is
			 * promised already, so the connection cannot go on. */
			if (w == 0 || !sock_error(errno))
				s->c[HTTP_C_file_errors]++;
			return -1;
		}
		c->last_ns = now;
		c->foff += (uint64_t)w;
		c->fleft -= (uint64_t)w;
		if (!s->iso) /* the isolated design counts what the workers report */
			s->c[HTTP_C_bytes_out] += (uint64_t)w;
		if (c->fleft)
			return 0;
	}
	if (c->head) {
		free(c->head);
		c->head = NULL;
		c->head_off = c->head_len = 0;
	}
	if (!s->iso)
		s->c[HTTP_C_bytes_out] += c->body_in_head;
	c->body_in_head = 0;
	if (c->file >= 0) {
		close(c->file);
		c->file = -1;
	}
	return 1;
}

/* Feed bytes to the reader; answer a complete request. Returns the bytes
 * taken, or -1 when the connection must go (out of memory). */
static ssize_t feed(struct bh_tcp *t, struct hsrv *s, int fd, const uint8_t *data, size_t len,
		    uint64_t now)
{
	struct hconn *c = &s->conns[fd];
	const struct http_request *req;
	size_t used = 0;
	if (!c->req_start_ns && http_reader_idle(c->rd))
		c->req_start_ns = now;
	int rc = http_reader_feed(c->rd, data, len, &used, &req);
	if (rc == -EAGAIN)
		return (ssize_t)used;
	struct http_response resp;
	struct http_request last;
	if (rc == -EBADMSG)
		s->c[HTTP_C_bad_request]++;
	else if (c->requests + 1 >= s->max_requests && req->keep_alive) {
		/* The last one this connection may make: say so in its response. */
		last = *req;
		last.keep_alive = false;
		req = &last;
	}
	if (http_respond_cached(req, s->rootfd, 0, s->fcache, time(NULL), s->resp, s->resp_cap,
				&resp) < 0 ||
	    queue_response(t, s, fd, &resp, now) < 0)
		return -1;
	log_line(s, c, req, &resp);
	c->req_start_ns = 0;
	if (++c->requests >= s->max_requests)
		c->close_after = true;
	return (ssize_t)used;
}

/* Keep the unfed rest of a read for after the current response. */
static int keep_input(struct hconn *c, const uint8_t *rest, size_t len)
{
	uint8_t *in = malloc(len);
	if (!in)
		return -1;
	memcpy(in, rest, len);
	free(c->in);
	c->in = in;
	c->in_off = 0;
	c->in_len = (uint32_t)len;
	return 0;
}

static void set_interest(struct bh_tcp *t, struct hsrv *s, int fd, bool out)
{
	struct hconn *c = &s->conns[fd];
	if (c->watching_out == out)
		return;
	c->watching_out = out;
	hs_watch(t, s, fd, EPOLL_CTL_MOD, out ? EPOLLOUT : EPOLLIN);
}

static void serve(struct bh_tcp *t, struct hsrv *s, int fd, uint64_t now)
{
	struct hconn *c = &s->conns[fd];
	for (unsigned turn = 0; turn < HTTP_BUDGET * 2; turn++) {
		if (c->head || c->fleft) {
			int rc = hs_send_pending(t, s, fd, now);
			if (rc < 0) {
				s->c[HTTP_C_conn_errors]++;
				hs_conn_close(t, s, fd, true);
				return;
			}
			if (rc == 0) {
				set_interest(t, s, fd, true);
				return;
			}
		}
		if (c->close_after) {
			hs_conn_close(t, s, fd, false);
			return;
		}
		set_interest(t, s, fd, false);
		if (c->in_len) { /* a pipelined request read earlier */
			ssize_t used = feed(t, s, fd, c->in + c->in_off, c->in_len, now);
			if (used < 0) {
				hs_conn_close(t, s, fd, true);
				return;
			}
			c->in_off += (uint32_t)used;
			c->in_len -= (uint32_t)used;
			if (!c->in_len) {
				free(c->in);
				c->in = NULL;
				c->in_off = 0;
			}
			continue;
		}
		ssize_t r = bh_read(t, fd, s->buf, HTTP_READ_CHUNK);
		if (r < 0) {
			if (errno == EAGAIN)
				return;
			s->c[HTTP_C_conn_errors]++;
			hs_conn_close(t, s, fd, true);
			return;
		}
		if (r == 0) { /* the client closed its side: nothing more to answer */
			hs_conn_close(t, s, fd, false);
			return;
		}
		c->last_ns = now;
		ssize_t used = feed(t, s, fd, s->buf, (size_t)r, now);
		if (used < 0 || (used < r && keep_input(c, s->buf + used, (size_t)(r - used)) < 0)) {
			hs_conn_close(t, s, fd, true);
			return;
		}
	}
	/* Budget spent with a response queued or pipelined requests read
	 * ahead: no new byte may come to call us again, so wait for the socket
	 * to be writable, which it is at once unless the client stopped
	 * reading. */
	set_interest(t, s, fd, true);
}

static void accept_all(struct bh_tcp *t, struct hsrv *s, uint64_t now)
{
	for (;;) {
		struct sockaddr_in peer;
		socklen_t plen = sizeof(peer);
		int fd = bh_accept(t, s->lfd, (struct sockaddr *)&peer, &plen);
		if (fd < 0)
			break;
		s->c[HTTP_C_conns_accepted]++;
		if (bh_tcp_nf_table((void **)&s->conns, &s->n_conns, sizeof(*s->conns), fd) < 0) {
			bh_close(t, fd);
			s->c[HTTP_C_conn_errors]++;
			continue;
		}
		struct hconn *c = &s->conns[fd];
		*c = (struct hconn){.open = true, .file = -1, .last_ns = now};
		inet_ntop(AF_INET, &peer.sin_addr, c->client, sizeof(c->client));
		s->nr_open++;
		/* An isolated connection starts with no events: it is not read
		 * before it has a worker (hiso_accepted). */
		bool iso = s->iso && s->nr_open <= s->max_conns;
		if (hs_watch(t, s, fd, EPOLL_CTL_ADD, iso ? 0 : EPOLLIN) < 0) {
			hs_conn_close(t, s, fd, true);
			s->c[HTTP_C_conn_errors]++;
			continue;
		}
		if (s->nr_open > s->max_conns) {
			s->c[HTTP_C_conns_refused]++;
			hs_respond_status(t, s, fd, 503, now);
			serve(t, s, fd, now);
			continue;
		}
		if (iso) {
			c->client_addr = peer.sin_addr.s_addr;
			c->client_port = ntohs(peer.sin_port);
			hiso_accepted(t, s, fd, now);
			continue;
		}
		c->rd = s->n_spare_rd ? s->spare_rd[--s->n_spare_rd] : http_reader_new(&s->lim);
		if (!c->rd) {
			hs_conn_close(t, s, fd, true);
			s->c[HTTP_C_conn_errors]++;
		}
	}
}

/* Timeouts, every HTTP_SCAN_NS. */
static void scan(struct bh_tcp *t, struct hsrv *s, uint64_t now)
{
	for (uint32_t fd = 0; fd < s->n_conns; fd++) {
		struct hconn *c = &s->conns[fd];
		if (!c->open || hs_linger_scan(t, s, (int)fd, now))
			continue;
		if (c->head || c->fleft) {
			if (now - c->last_ns > s->send_timeout_ns) {
				s->c[HTTP_C_send_timeouts]++;
				hs_conn_close(t, s, (int)fd, true);
			}
		} else if (c->req_start_ns && now - c->req_start_ns > s->header_timeout_ns) {
			s->c[HTTP_C_header_timeouts]++;
			hs_respond_status(t, s, (int)fd, 408, now);
			serve(t, s, (int)fd, now);
		} else if (!c->req_start_ns && now - c->last_ns > s->idle_timeout_ns) {
			s->c[HTTP_C_idle_timeouts]++;
			hs_conn_close(t, s, (int)fd, false);
		}
	}
}

static int http_step(struct bh_tcp *t, void *ctx)
{
	struct hsrv *s = ctx;
	struct epoll_event ev[HTTP_EVENTS];
	uint64_t now = bh_tcp_nf_now();
	int n = bh_epoll_wait(t, s->ep, ev, HTTP_EVENTS, 0);

	for (int i = 0; i < n; i++) {
		int fd = ev[i].data.fd;
		if (fd == s->lfd)
			accept_all(t, s, now);
		else if ((uint32_t)fd < s->n_conns && s->conns[fd].lingering)
			hs_linger_read(t, s, fd);
		else if ((uint32_t)fd < s->n_conns && s->conns[fd].open && s->iso &&
			 !s->conns[fd].rd)
			hiso_serve(t, s, fd, ev[i].events, now);
		else if ((uint32_t)fd < s->n_conns && s->conns[fd].open)
			serve(t, s, fd, now);
	}
	if (s->iso) {
		n += hiso_step(t, s, now);
		hiso_flush(s);
		/* Nothing to do but wait for workers, which may share this CPU:
		 * let them run now rather than after nflib's idle spin. */
		if (n == 0 && hiso_busy(s))
			sched_yield();
	}
	if (now >= s->next_scan) {
		s->next_scan = now + HTTP_SCAN_NS;
		if (s->iso) {
			hiso_scan(t, s, now);
			hiso_flush(s);
		} else {
			scan(t, s, now);
		}
		if (s->log_dirty) {
			fflush(s->log);
			s->log_dirty = false;
		}
	}
	s->c[HTTP_C_conns_open] = s->nr_open;
	if (s->fcache && n > 0) {
		struct http_file_cache_stats st;
		http_file_cache_get_stats(s->fcache, &st);
		s->c[HTTP_C_file_cache_hits] = st.hits;
		s->c[HTTP_C_file_cache_misses] = st.misses;
	}
	return n > 0 ? n : 0;
}

/* The next time the timeouts need looking at: none while no connection is
 * open, so an idle server sleeps. */
static uint64_t http_wake(struct bh_tcp *t, void *ctx)
{
	struct hsrv *s = ctx;
	if (s->iso && hiso_busy(s))
		return 0; /* a worker is answering: look again at once */
	return s->nr_open || s->log_dirty ? s->next_scan : UINT64_MAX;
}

/* The NF runs as root (a DPDK process), and root reads a file whatever its
 * permissions say: give up the two capabilities that override them, so a
 * file its owner made unreadable is a 404 here as for a server running as
 * a user. Root's own files stay readable by their owner bits. */
static int drop_dac_override(void)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];
	const uint32_t drop = 1u << CAP_DAC_OVERRIDE | 1u << CAP_DAC_READ_SEARCH;

	if (syscall(SYS_capget, &h, d) < 0)
		return -errno;
	d[0].effective &= ~drop;
	d[0].permitted &= ~drop;
	d[0].inheritable &= ~drop;
	return syscall(SYS_capset, &h, d) < 0 ? -errno : 0;
}

static int opt_num(const char *name, const char *v, uint64_t lo, uint64_t hi, uint64_t *out)
{
	return bh_tcp_nf_num(HTTP_PROG, name, v, lo, hi, false, out) < 0 ? -EINVAL : 0;
}

/* A line of the isolation policy the manager's config gives the service:
 * as the same option on the command line (which comes after, and wins). */
static int http_policy(void *ctx, const char *opt, const char *val, char *err, size_t errlen)
{
	(void)ctx;
	return hiso_policy_set(opt, val, err, errlen);
}

static int http_init(struct bh_tcp *t, int argc, char **argv, void *ctx)
{
	enum { O_LISTEN = 1, O_ROOT, O_MAXC, O_HTO, O_ITO, O_STO, O_MHB, O_MUB, O_MH, O_MR, O_LOG, O_BL,
	       O_FC, O_ISO };
	static const struct option opts[] = {
		{"listen", required_argument, NULL, O_LISTEN},
		{"root", required_argument, NULL, O_ROOT},
		{"http-max-conns", required_argument, NULL, O_MAXC},
		{"header-timeout-ms", required_argument, NULL, O_HTO},
		{"idle-timeout-ms", required_argument, NULL, O_ITO},
		{"send-timeout-ms", required_argument, NULL, O_STO},
		{"max-head-bytes", required_argument, NULL, O_MHB},
		{"max-uri-bytes", required_argument, NULL, O_MUB},
		{"max-headers", required_argument, NULL, O_MH},
		{"max-requests", required_argument, NULL, O_MR},
		{"log", required_argument, NULL, O_LOG},
		{"backlog", required_argument, NULL, O_BL},
		{"file-cache", required_argument, NULL, O_FC},
		{"isolation", required_argument, NULL, O_ISO},
		{"recycle", required_argument, NULL, O_ISO},
		{"worker", required_argument, NULL, O_ISO},
		{"uid-range", required_argument, NULL, O_ISO},
		{"worker-mem", required_argument, NULL, O_ISO},
		{"worker-cpu-s", required_argument, NULL, O_ISO},
		{"worker-spin-ms", required_argument, NULL, O_ISO},
		{"worker-fds", required_argument, NULL, O_ISO},
		{"worker-idle-ms", required_argument, NULL, O_ISO},
		{"spares", required_argument, NULL, O_ISO},
		{"worker-conns", required_argument, NULL, O_ISO},
		{"inline-max", required_argument, NULL, O_ISO},
		{NULL, 0, NULL, 0},
	};
	struct hsrv *s = ctx;
	uint64_t v;
	int o;

	s->port = 80;
	s->backlog = 4096;
	s->max_conns = 10000;
	s->max_requests = UINT32_MAX;
	s->header_timeout_ns = 10000ull * 1000000ull;
	s->idle_timeout_ns = 60000ull * 1000000ull;
	s->send_timeout_ns = 60000ull * 1000000ull;
	s->file_cache = HTTP_CACHE_ENTRIES;
	s->lfd = s->ep = s->rootfd = -1;
	optind = 1;
	opterr = 0;
	int li;
	while ((o = getopt_long(argc, argv, "", opts, &li)) != -1) {
		switch (o) {
		case O_ISO:
			if (hiso_option(s, opts[li].name, optarg) < 0)
				return -EINVAL;
			break;
		case O_LISTEN:
			if (opt_num("listen", optarg, 1, 65535, &v) < 0)
				return -EINVAL;
			s->port = (uint16_t)v;
			break;
		case O_ROOT:
			s->root = optarg;
			break;
		case O_FC:
			if (opt_num("file-cache", optarg, 0, HTTP_FILE_CACHE_MAX_ENTRIES, &v) < 0)
				return -EINVAL;
			s->file_cache = (uint32_t)v;
			break;
		case O_MAXC:
			if (opt_num("http-max-conns", optarg, 1, 10000000, &v) < 0)
				return -EINVAL;
			s->max_conns = (uint32_t)v;
			break;
		case O_HTO:
		case O_ITO:
		case O_STO:
			if (opt_num(o == O_HTO ? "header-timeout-ms" : o == O_ITO ? "idle-timeout-ms" :
				    "send-timeout-ms", optarg, 1, 86400000, &v) < 0)
				return -EINVAL;
			*(o == O_HTO ? &s->header_timeout_ns : o == O_ITO ? &s->idle_timeout_ns :
			  &s->send_timeout_ns) = v * 1000000ull;
			break;
		case O_MHB:
			if (opt_num("max-head-bytes", optarg, 64, HTTP_HEAD_BYTES_MAX, &v) < 0)
				return -EINVAL;
			s->lim.max_head_bytes = (uint32_t)v;
			break;
		case O_MUB:
			if (opt_num("max-uri-bytes", optarg, 1, HTTP_HEAD_BYTES_MAX, &v) < 0)
				return -EINVAL;
			s->lim.max_uri_bytes = (uint32_t)v;
			break;
		case O_MH:
			if (opt_num("max-headers", optarg, 1, 1024, &v) < 0)
				return -EINVAL;
			s->lim.max_headers = (uint32_t)v;
			break;
		case O_MR:
			if (opt_num("max-requests", optarg, 1, UINT32_MAX, &v) < 0)
				return -EINVAL;
			s->max_requests = (uint32_t)v;
			break;
		case O_LOG:
			s->log_path = optarg;
			break;
		case O_BL:
			if (opt_num("backlog", optarg, 1, 65535, &v) < 0)
				return -EINVAL;
			s->backlog = (int)v;
			break;
		default:
			fprintf(stderr, HTTP_PROG ": unknown option or missing value '%s' (see --help)\n",
				argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, HTTP_PROG ": unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (!s->root) {
		fprintf(stderr, HTTP_PROG ": --root DIR is required\n");
		return -EINVAL;
	}
	if (s->lim.max_uri_bytes && s->lim.max_head_bytes &&
	    s->lim.max_uri_bytes > s->lim.max_head_bytes) {
		fprintf(stderr, HTTP_PROG ": --max-uri-bytes must not exceed --max-head-bytes\n");
		return -EINVAL;
	}
	/* Check the limits once, as every connection will use them. */
	struct http_reader *probe = http_reader_new(&s->lim);
	if (!probe) {
		fprintf(stderr, HTTP_PROG ": invalid request limits\n");
		return -EINVAL;
	}
	http_reader_free(probe);
	int rc;
	/* The zygote is forked now: before DPDK exists in this process and
	 * before any thread, with every capability it needs. */
	if (hiso_wanted(s) && (rc = hiso_start(t, s)) < 0)
		return rc;
	rc = drop_dac_override();
	if (rc < 0) {
		fprintf(stderr, HTTP_PROG ": cannot give up CAP_DAC_OVERRIDE: %s\n", strerror(-rc));
		return rc;
	}
	s->rootfd = open(s->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (s->rootfd < 0) {
		fprintf(stderr, HTTP_PROG ": --root: cannot open directory '%s': %s\n", s->root,
			strerror(errno));
		return -EINVAL;
	}
	if (s->log_path) {
		s->log = strcmp(s->log_path, "-") ? fopen(s->log_path, "a") : stdout;
		if (!s->log) {
			fprintf(stderr, HTTP_PROG ": --log: cannot open '%s': %s\n", s->log_path,
				strerror(errno));
			return -EINVAL;
		}
		/* Everything a line quotes from the client comes from the request
		 * head, and escaping makes a byte at most four: a line never
		 * has to be cut. */
		s->log_cap = 4 * (size_t)(s->lim.max_head_bytes ? s->lim.max_head_bytes : 8192) + 256;
		s->log_line = malloc(s->log_cap);
		if (!s->log_line)
			return -ENOMEM;
	}
	s->resp_cap = HTTP_RESP_BUF_SIZE(s->lim.max_uri_bytes ? s->lim.max_uri_bytes : 4096);
	if (s->file_cache && !s->iso) { /* the workers keep their own */
		s->fcache = http_file_cache_create(s->file_cache, HTTP_CACHE_FILE);
		if (!s->fcache)
			return -ENOMEM;
		s->resp_cap += HTTP_CACHE_FILE; /* a cached file follows its head */
	}
	s->resp = malloc(s->resp_cap);
	if (!s->resp)
		return -ENOMEM;
	s->ep = bh_epoll_create(t);
	if (s->ep < 0) {
		fprintf(stderr, HTTP_PROG ": epoll_create: %s\n", strerror(errno));
		return -errno;
	}
	s->lfd = bh_tcp_nf_listen(t, s->ep, s->port, s->backlog, HTTP_PROG);
	if (s->lfd < 0)
		return s->lfd;
	/* No Nagle (inherited by every connection): the end of a response
	 * would wait for the ACK of its start, which a client delays while it
	 * waits for the rest: 40 ms per keep-alive request. */
	int one = 1;
	if (bh_setsockopt(t, s->lfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0) {
		fprintf(stderr, HTTP_PROG ": TCP_NODELAY: %s\n", strerror(errno));
		return -errno;
	}
	return 0;
}

static void http_fini(struct bh_tcp *t, void *ctx)
{
	struct hsrv *s = ctx;
	for (uint32_t fd = 0; fd < s->n_conns; fd++)
		if (s->conns[fd].open)
			hs_conn_close(t, s, (int)fd, true);
	hiso_stop(s);
	http_file_cache_destroy(s->fcache);
	while (s->n_spare_rd)
		http_reader_free(s->spare_rd[--s->n_spare_rd]);
	free(s->conns);
	free(s->resp);
	free(s->log_line);
	if (s->log && s->log != stdout)
		fclose(s->log);
	else if (s->log)
		fflush(s->log);
	if (s->rootfd >= 0)
		close(s->rootfd);
}

int main(int argc, char **argv)
{
	static const char *const names[] = {
#define HTTP_X_NAME(name, desc) "http." #name,
		HTTP_COUNTERS(HTTP_X_NAME)
#undef HTTP_X_NAME
	};
	static struct hsrv s;
	static const struct bh_tcp_app app = {
		.prog = HTTP_PROG,
		.service = "http",
		.policy = http_policy,
		.usage = "  --root DIR              document root (required)\n"
			 "  --listen PORT           [80]\n"
			 "  --http-max-conns N      open connections; beyond: 503 and close [10000]\n"
			 "                          (below the stack's --max-conns, which counts TIME-WAIT)\n"
			 "  --header-timeout-ms MS  a request head must arrive within [10000]\n"
			 "  --idle-timeout-ms MS    idle keep-alive connections are closed after [60000]\n"
			 "  --send-timeout-ms MS    a client not taking its response is reset after [60000]\n"
			 "  --max-head-bytes N      request head limit, 431 beyond [8192]\n"
			 "  --max-uri-bytes N       request-target limit, 414 beyond [4096]\n"
			 "  --max-headers N         field lines, 431 beyond [100]\n"
			 "  --max-requests N        requests per connection [unlimited]\n"
			 "  --log FILE|-            access log, combined log format [none]\n"
			 "  --backlog N             connections waiting to be accepted [4096]\n"
			 "  --file-cache N          open-file cache entries (files up to 16 KiB,\n"
			 "                          checked again each second), 0: none [256]\n"
			 HISO_USAGE,
		.counter_names = names,
		.counter_values = s.c,
		.n_counters = HTTP_C_MAX,
		.init = http_init,
		.step = http_step,
		.wake = http_wake,
		.fini = http_fini,
	};
	return bh_tcp_nf_main(argc, argv, &app, &s);
}
