/*
 * libbh-failmalloc.so: an LD_PRELOAD library that makes malloc, calloc and
 * realloc fail (NULL, errno ENOMEM) at random while a control file exists,
 * so that an end-to-end test can run a process through allocation failures
 * on its live paths (tests/e2e/test_alloc_faults.sh).
 *
 *   BH_FAILMALLOC=FILE      the control file: "PERMILLE [SEED]"; while it
 *                           exists, each call fails with that chance. It is
 *                           looked for at most every 20 ms.
 *   BH_FAILMALLOC_OUT=FILE  rewritten at each look while armed, when
 *                           disarmed and at exit: "failed F of N" (the calls
 *                           made while armed, and how many of them failed)
 *
 * The calls are passed on to the next definition (dlsym RTLD_NEXT): libc's,
 * or a sanitizer's when one is loaded after this library
 * (ASAN_OPTIONS=verify_asan_link_order=0). What dlsym itself allocates
 * before that is known comes from a small static arena, never freed.
 * Nothing here allocates; the files are read and written with plain
 * system calls.
 *
 * Only the program's own calls fail: none before this library's constructor
 * (the loader's, a sanitizer's start-up), and none a new thread makes before
 * its start routine runs (a sanitizer sets the thread up with allocations
 * that must not fail): pthread_create is wrapped to tell.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FM_LOOK_NS 20000000ull /* how often the control file is looked for */
#define FM_ARENA 65536         /* for dlsym's own allocations */

static void *(*next_malloc)(size_t);
static void *(*next_calloc)(size_t, size_t);
static void *(*next_realloc)(void *, size_t);
static void (*next_free)(void *);

static _Alignas(16) unsigned char arena[FM_ARENA];
static atomic_size_t arena_used;
static atomic_int resolving;

static _Atomic uint32_t permille;  /* 0: disarmed */
static atomic_ullong seed;
static _Atomic uint64_t next_look; /* CLOCK_MONOTONIC_COARSE ns */
static atomic_flag looking = ATOMIC_FLAG_INIT;
static atomic_ullong calls, failed;
static _Thread_local uint64_t rng __attribute__((tls_model("initial-exec")));

static void *arena_alloc(size_t n)
{
	n = (n + 15) & ~(size_t)15;
	size_t at = atomic_fetch_add(&arena_used, n);
	if (at + n > FM_ARENA)
		return NULL;
	return arena + at;
}

static int in_arena(const void *p)
{
	return (const unsigned char *)p >= arena && (const unsigned char *)p < arena + FM_ARENA;
}

static void resolve(void)
{
	if (next_free || atomic_exchange(&resolving, 1))
		return;
	next_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
	next_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
	next_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
	next_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
	if (!next_malloc || !next_calloc || !next_realloc || !next_free)
		abort();
}

static char *put_u64(char *p, unsigned long long v)
{
	char d[24];
	int n = 0;
	do
		d[n++] = (char)('0' + v % 10);
	while (v /= 10);
	while (n)
		*p++ = d[--n];
	return p;
}

static void write_out(void)
{
	const char *path = getenv("BH_FAILMALLOC_OUT");
	if (!path)
		return;
	char line[80], *p = line;
	memcpy(p, "failed ", 7);
	p = put_u64(p + 7, atomic_load(&failed));
	memcpy(p, " of ", 4);
	p = put_u64(p + 4, atomic_load(&calls));
	*p++ = '\n';
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	ssize_t w = write(fd, line, (size_t)(p - line));
	(void)w;
	close(fd);
}

/* At most every FM_LOOK_NS, by one thread: is the control file there, and
 * with what chance? */
static void look(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	if (now < atomic_load_explicit(&next_look, memory_order_relaxed) ||
	    atomic_flag_test_and_set(&looking))
		return;
	atomic_store(&next_look, now + FM_LOOK_NS);
	const char *path = getenv("BH_FAILMALLOC");
	int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	uint32_t was = atomic_load(&permille), pm = 0;
	if (fd >= 0) {
		char buf[64];
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		unsigned long long v[2] = {0, 0};
		int k = 0;
		for (ssize_t i = 0; i < n && k < 2; i++) {
			if (buf[i] >= '0' && buf[i] <= '9')
				v[k] = v[k] * 10 + (unsigned)(buf[i] - '0');
			else if (i > 0 && buf[i - 1] >= '0' && buf[i - 1] <= '9')
				k++;
		}
		pm = v[0] > 1000 ? 1000 : (uint32_t)v[0];
		atomic_store(&seed, v[1]);
	}
	atomic_store(&permille, pm);
	if (pm || was)
		write_out();
	atomic_flag_clear(&looking);
}

/* No call fails, and nothing is looked at, before this library's
 * constructor: earlier calls come from the loader and from a sanitizer's
 * start-up, when libc may not be ready for us. Nor in a thread before its
 * start routine runs. */
static atomic_int ready;
/* (initial-exec: loaded at start-up, this library's thread-locals need no
 * call to reach) */
static _Thread_local int in_program __attribute__((tls_model("initial-exec")));

__attribute__((constructor)) static void fm_start(void)
{
	in_program = 1; /* the main thread */
	atomic_store(&ready, 1);
}

struct fm_thread {
	void *(*fn)(void *);
	void *arg;
};

static void *fm_thread_start(void *p)
{
	struct fm_thread t = *(struct fm_thread *)p;
	free(p);
	in_program = 1;
	return t.fn(t.arg);
}

int pthread_create(pthread_t *th, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
	static int (*next_create)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
	if (!next_create)
		next_create = (int (*)(pthread_t *, const pthread_attr_t *, void *(*)(void *),
				       void *))dlsym(RTLD_NEXT, "pthread_create");
	if (!next_create)
		return EAGAIN;
	struct fm_thread *t = malloc(sizeof(*t)); /* may fail: as pthread_create may */
	if (!t)
		return EAGAIN;
	t->fn = fn;
	t->arg = arg;
	int rc = next_create(th, attr, fm_thread_start, t);
	if (rc)
		free(t);
	return rc;
}

/* The counts once more as the process ends (if it was ever armed). */
__attribute__((destructor)) static void fm_end(void)
{
	if (atomic_load(&calls))
		write_out();
}

/* Whether this call fails. */
static int fail_now(void)
{
	if (!atomic_load_explicit(&ready, memory_order_relaxed) || !in_program)
		return 0;
	look();
	uint32_t pm = atomic_load_explicit(&permille, memory_order_relaxed);
	if (!pm)
		return 0;
	atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed);
	if (!rng)
		rng = (atomic_load(&seed) ^ ((uint64_t)gettid() << 32) ^ (uintptr_t)&rng) | 1;
	rng ^= rng << 13; /* xorshift64 */
	rng ^= rng >> 7;
	rng ^= rng << 17;
	if (rng % 1000 >= pm)
		return 0;
	atomic_fetch_add_explicit(&failed, 1, memory_order_relaxed);
	errno = ENOMEM;
	return 1;
}

void *malloc(size_t n)
{
	resolve();
	if (!next_malloc)
		return arena_alloc(n);
	return fail_now() ? NULL : next_malloc(n);
}

void *calloc(size_t k, size_t n)
{
	resolve();
	if (!next_calloc) /* the arena is zeroed and never reused */
		return n && k > SIZE_MAX / n ? NULL : arena_alloc(k * n);
	return fail_now() ? NULL : next_calloc(k, n);
}

void *realloc(void *p, size_t n)
{
	resolve();
	if (p && in_arena(p)) { /* moved out: what it held, at most n bytes */
		void *q = malloc(n);
		if (q) {
			size_t room = (size_t)(arena + FM_ARENA - (unsigned char *)p);
			memcpy(q, p, n < room ? n : room);
		}
		return q;
	}
	if (!next_realloc)
		return arena_alloc(n);
	return fail_now() ? NULL : next_realloc(p, n);
}

void free(void *p)
{
	if (!p || in_arena(p))
		return;
	resolve();
	next_free(p);
}
