/* SPDX-License-Identifier: MIT */
/*
 * The HTTP NF's state, shared by the two designs: main.c (every request
 * parsed here) and isolated.c (requests parsed by sandboxed workers; this
 * process only relays bytes). One process, one thread.
 */
#ifndef BH_HTTP_NF_H
#define BH_HTTP_NF_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>

#include "bulkhead/http.h"
#include "bulkhead/tcp_nf.h"

#define HTTP_PROG "bh-http"
#define HTTP_READ_CHUNK 16384u
#define HTTP_EVENTS 512
#define HTTP_SCAN_NS 100000000ull /* timeout scan period */
#define HTTP_BUDGET 8             /* responses per connection per step: fairness */
#define HTTP_CACHE_FILE 16384u    /* largest file the open-file cache keeps */
#define HTTP_CACHE_ENTRIES 256u   /* --file-cache default */
#define HTTP_SPARE_READERS 64     /* readers of closed connections kept for new ones */
#define HTTP_LINGER_NS 2000000000ull /* a closed connection reads away what still comes for */

#define HTTP_COUNTERS(X)                                                           \
	X(conns_accepted, "connections accepted")                                  \
	X(conns_open, "connections open now")                                      \
	X(conns_refused, "connections answered 503 and closed: over --http-max-conns, or no worker for them within the header timeout") \
	X(requests, "requests answered (any status)")                              \
	X(status_2xx, "responses 200 and 206")                                     \
	X(status_3xx, "responses 301 and 304")                                     \
	X(status_4xx, "responses 400..499")                                        \
	X(status_5xx, "responses 500..599")                                        \
	X(bad_request, "requests refused by the reader (400, 405, 413, 414, 431, 501, 505)") \
	X(header_timeouts, "request heads not complete in time (408)")             \
	X(idle_timeouts, "idle keep-alive connections closed")                     \
	X(send_timeouts, "connections reset: the client did not take its response") \
	X(conn_errors, "connections ended by a reset or a stack error")            \
	X(bytes_out, "content bytes sent (heads excluded)")                        \
	X(file_errors, "responses cut short: the file could not be read")          \
	X(log_errors, "access-log lines that could not be written")                \
	X(workers_started, "isolated workers the zygote started")                  \
	X(workers_exited, "isolated workers that exited (any cause)")              \
	X(workers_alive, "isolated worker processes alive now (spares included)")  \
	X(workers_spare, "isolated workers started ahead of demand, unused now")  \
	X(worker_crashes, "workers dead of a signal not ours (crash, abort, a kill from outside) or an error exit") \
	X(worker_seccomp_kills, "workers killed for a forbidden system call (SIGSYS)") \
	X(worker_limit_kills, "workers stopped by a limit: CPU time (SIGXCPU, or --worker-spin-ms owing an answer or owing nothing), memory (exit 4)") \
	X(worker_hangs, "workers killed for not answering in time")                \
	X(worker_protocol_errors, "workers killed for breaking the channel protocol") \
	X(worker_spawn_failures, "workers the zygote could not start")             \
	X(conns_waited, "connections that waited for a worker (none spare, or no room in the pool)") \
	X(files_passed, "response bodies sent from a descriptor a worker passed")    \
	X(stream_hangs, "connections a shared worker left unanswered for the header timeout + 2 s while it went on: 500 or reset") \
	X(closes_late, "connections whose worker was told of their end later: its ring had no room then") \
	X(queue_resets, "connections reset: answers queued for them did not move for 1 s while the queues had been full for 1 s (isolated design)") \
	X(file_cache_hits, "files answered from the open-file cache (shared design)") \
	X(file_cache_misses, "files opened from the root (shared design)")

#define HTTP_X_ENUM(name, desc) HTTP_C_##name,
enum { HTTP_COUNTERS(HTTP_X_ENUM) HTTP_C_MAX };
#undef HTTP_X_ENUM

struct hconn {
	bool open;
	bool lingering;         /* closed gracefully: its socket reads away what still comes */
	bool close_after;       /* close once the pending output is sent */
	bool watching_out;      /* registered for EPOLLOUT (else EPOLLIN) */
	struct http_reader *rd;
	uint8_t *in;            /* bytes read and not fed yet (pipelining) */
	uint32_t in_off, in_len;
	char *head;             /* response head still to send */
	uint32_t head_off, head_len;
	uint64_t body_in_head;  /* of head, the file's bytes (from the open-file cache) */
	int file;               /* body still to send: file, offset, bytes */
	uint64_t foff, fleft;
	uint32_t requests;      /* answered on this connection */
	uint64_t last_ns;       /* last byte in or out */
	uint64_t req_start_ns;  /* first byte of the request being read, 0: none */
	char client[INET_ADDRSTRLEN];
	/* isolated design (isolated.c) */
	struct hworker *w;      /* the worker serving it; NULL: waiting for one */
	uint32_t stream;        /* its stream id on that worker's channel */
	uint32_t client_addr;   /* network byte order */
	uint16_t client_port;
	bool in_eof;            /* the client closed its side (EOF sent on) */
	bool heard;             /* a byte or the end of it went to the worker (OPEN goes quietly) */
	bool in_blocked;        /* the worker's ring had no room for more input */
	bool ended;             /* the worker sent END for it */
	bool resp_started;      /* bytes of a response relayed since the last LOG */
	bool req_pending;       /* input given since the last LOG */
	uint64_t owed_ns;       /* input given and no answer frame for it since; 0: none */
	bool waiting;           /* in the queue for a spare worker */
	bool waited;            /* counted in conns_waited */
	uint32_t iso_ev;        /* the epoll events registered for it */
	/* flow control with its worker (bulkhead/iso.h, "Frames") */
	uint32_t in_credit;     /* client bytes the worker may still be sent (0: not read) */
	uint32_t out_credit;    /* what the worker may still send for it */
	struct hq *q, *q_tail;  /* its output behind head and file, in order */
	uint32_t q_cost;        /* what q holds, in credit */
	uint64_t q_ns;          /* when q began, or last gave an item to be sent */
};

struct hsrv {
	/* options */
	uint16_t port;
	int backlog;
	const char *root;
	uint32_t max_conns, max_requests;
	uint64_t header_timeout_ns, idle_timeout_ns, send_timeout_ns;
	struct http_limits lim;
	const char *log_path;
	uint32_t file_cache;  /* entries of the open-file cache, 0: none */
	/* state */
	struct http_file_cache *fcache;
	/* Readers are some 30 KiB each: kept, not freed and made again for
	 * every connection. */
	struct http_reader *spare_rd[HTTP_SPARE_READERS];
	uint32_t n_spare_rd;
	int ep, lfd, rootfd;
	FILE *log;
	bool log_dirty;     /* lines written since the last flush */
	char *log_line;     /* room for any line (see http_init) */
	size_t log_cap;
	struct hconn *conns; /* by descriptor */
	uint32_t n_conns, nr_open;
	uint64_t next_scan;
	size_t resp_cap;
	char *resp;         /* response heads are built here */
	uint8_t buf[HTTP_READ_CHUNK]; /* client bytes read; in isolation, a frame's payload */
	uint64_t c[HTTP_C_MAX];
	struct hiso *iso;   /* the isolated design, or NULL */
};

uint64_t hs_now_ns(void);
int hs_watch(struct bh_tcp *t, struct hsrv *s, int fd, int op, uint32_t events);
void hs_conn_close(struct bh_tcp *t, struct hsrv *s, int fd, bool reset);
/* A connection closed gracefully lingers (hs_conn_close): its readable
 * events go to hs_linger_read(); the timeout scans give each open one to
 * hs_linger_scan() first, which says whether it was lingering. */
void hs_linger_read(struct bh_tcp *t, struct hsrv *s, int fd);
bool hs_linger_scan(struct bh_tcp *t, struct hsrv *s, int fd, uint64_t now);
void hs_count_status(struct hsrv *s, int status);
void hs_respond_status(struct bh_tcp *t, struct hsrv *s, int fd, int status, uint64_t now);
int hs_send_pending(struct bh_tcp *t, struct hsrv *s, int fd, uint64_t now);
void hs_log_raw(struct hsrv *s, const char *client, const char *text, size_t len);

/* isolated.c: options, start (from init), and the hooks of the NF loop. */
int hiso_option(struct hsrv *s, const char *name, const char *val);
/* One field of the isolation policy (bulkhead/iso.h), from the manager's
 * file: 0, or -EINVAL with one line in err. */
int hiso_policy_set(const char *name, const char *val, char *err, size_t errlen);
bool hiso_wanted(const struct hsrv *s);
int hiso_start(struct bh_tcp *t, struct hsrv *s);
void hiso_accepted(struct bh_tcp *t, struct hsrv *s, int fd, uint64_t now);
void hiso_serve(struct bh_tcp *t, struct hsrv *s, int fd, uint32_t events, uint64_t now);
int hiso_step(struct bh_tcp *t, struct hsrv *s, uint64_t now);
void hiso_scan(struct bh_tcp *t, struct hsrv *s, uint64_t now);
void hiso_flush(struct hsrv *s); /* wake the workers given something this turn */
bool hiso_busy(const struct hsrv *s);
void hiso_conn_gone(struct hsrv *s, struct hconn *c);
void hiso_stop(struct hsrv *s);
#define HISO_USAGE                                                                   \
	"isolated design (docs/isolation.md): requests parsed by sandboxed workers; the\n" \
	"service's isolation in the manager's config gives the same, these override it\n" \
	"  --isolation UNIT        none | connection | client | pool:N [none]\n"           \
	"  --recycle fresh|scrub   a spent worker exits, or is reset and reused [fresh]\n"  \
	"  --worker PATH           worker program: static, root-owned, mode 0711 (required\n" \
	"                          with --isolation)\n"                                     \
	"  --uid-range BASE:COUNT  a uid of its own per live worker [2000000000:65536]\n"   \
	"  --worker-mem BYTES      address-space limit per worker (k, m, g) [256m]\n"      \
	"  --worker-cpu-s S        CPU seconds per worker, 0: none [0]\n"                   \
	"  --worker-spin-ms MS     CPU a worker may use owing an answer (no frame since\n"  \
	"                          the request's bytes), or owing nothing with nothing\n"  \
	"                          given or taken, 0: no bound [1000]\n"                   \
	"  --worker-fds N          descriptors per worker [64]\n"                           \
	"  --worker-idle-ms MS     a worker with no connection (client unit; surplus scrubbed\n" \
	"                          spares) exits after [10000]\n"                            \
	"  --spares N              workers kept started ahead of demand [16]\n"             \
	"  --worker-conns N        connections one worker serves at once (client: a client\n" \
	"                          with more gets another worker; pool: more wait) [1024]\n" \
	"  --inline-max BYTES      bodies up to this size are copied through the channel;\n" \
	"                          larger ones are sent from the worker's descriptor [16384]\n"

#endif
