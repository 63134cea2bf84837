/* SPDX-License-Identifier: MIT */
/*
 * The open-file cache: small files a server answers often, kept open and in
 * memory, so that a request for one costs one fstat() instead of the nine
 * system calls of http_open_under_root() and a pread().
 *
 * Direct-mapped: a path's hash picks its one slot; a different path there
 * replaces it. An entry is trusted
 *   - within the second it was last resolved, as long as fstat() of its
 *     descriptor shows the same file (inode, size, mtime, ctime): a file
 *     written in place is seen at once;
 *   - never across a second: the first request of a new second resolves the
 *     path again from the root (the same fence as ever) and keeps the entry
 *     only if it still names the same unchanged file. A file renamed over,
 *     removed, or a symlink changed is seen within a second.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bulkhead/http.h"
#include "http_int.h"

struct http_file_cache {
	uint32_t n, max_file;
	struct http_fc_entry *e;
	struct http_file_cache_stats stats;
};

struct http_file_cache *http_file_cache_create(uint32_t entries, uint32_t max_file)
{
	if (!entries || entries > HTTP_FILE_CACHE_MAX_ENTRIES || !max_file ||
	    max_file > HTTP_FILE_CACHE_MAX_FILE) {
		errno = EINVAL;
		return NULL;
	}
	struct http_file_cache *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->e = calloc(entries, sizeof(*c->e));
	if (!c->e) {
		free(c);
		return NULL;
	}
	for (uint32_t i = 0; i < entries; i++)
		c->e[i].fd = -1;
	c->n = entries;
	c->max_file = max_file;
	return c;
}

static void entry_drop(struct http_file_cache *c, struct http_fc_entry *e)
{
	if (e->fd >= 0) {
		close(e->fd);
		c->stats.entries--;
	}
	free(e->key);
	free(e->data);
	*e = (struct http_fc_entry){.fd = -1};
}

void http_file_cache_clear(struct http_file_cache *c)
{
	for (uint32_t i = 0; c && i < c->n; i++) {
		if (c->e[i].key)
			memset(c->e[i].key, 0, strlen(c->e[i].key));
		entry_drop(c, &c->e[i]);
	}
}

void http_file_cache_destroy(struct http_file_cache *c)
{
	if (!c)
		return;
	for (uint32_t i = 0; i < c->n; i++)
		entry_drop(c, &c->e[i]);
	free(c->e);
	free(c);
}

void http_file_cache_get_stats(const struct http_file_cache *c, struct http_file_cache_stats *s)
{
	*s = c->stats;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* FNV-1a of the path and the directory flag. */
static uint32_t key_hash(const char *path, bool dir)
{
	uint32_t h = 2166136261u ^ (uint32_t)dir;
	for (const unsigned char *p = (const unsigned char *)path; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h;
}

/* Take fd (a small regular file, *st its fstat) into e, its bytes read
 * whole; e's old file goes. false (e and fd untouched) if it could not be. */
static bool entry_fill(struct http_file_cache *c, struct http_fc_entry *e, const char *path,
		       bool dir, uint32_t hash, int fd, const struct stat *st, time_t now)
{
	size_t size = (size_t)st->st_size, got = 0;
	char *key = strdup(path);
	char *data = malloc(size ? size : 1);
	while (key && data && got < size) {
		ssize_t r = pread(fd, data + got, size - got, (off_t)got);
		if (r <= 0)
			break; /* shrank or failed: the caller serves it uncached */
		got += (size_t)r;
	}
	if (!key || !data || got != size) {
		free(key);
		free(data);
		return false;
	}
	entry_drop(c, e);
	*e = (struct http_fc_entry){.key = key, .hash = hash, .dir = dir, .fd = fd, .st = *st,
				    .checked = now, .data = data};
	c->stats.entries++;
	return true;
}

int http_file_cache_open(struct http_file_cache *c, int root_dirfd, const char *path, bool dir,
			 unsigned flags, time_t now, struct stat *st,
			 const struct http_fc_entry **hit)
{
	uint32_t h = key_hash(path, dir);
	struct http_fc_entry *e = &c->e[h % c->n];
	struct stat now_st;
	int fd;
	*hit = NULL;
	if (e->fd >= 0 && e->hash == h && e->dir == dir && !strcmp(e->key, path)) {
		if (e->checked == now) {
			if (fstat(e->fd, &now_st) == 0 && same_file(&now_st, &e->st)) {
				c->stats.hits++;
				*st = e->st;
				*hit = e;
				return 0;
			}
		} else {
			fd = http_open_under_root(root_dirfd, path, dir, flags, &now_st);
			if (fd >= 0 && same_file(&now_st, &e->st)) {
				close(fd);
				e->checked = now;
				c->stats.hits++;
				c->stats.revalidated++;
				*st = e->st;
				*hit = e;
				return 0;
			}
			c->stats.stale++;
			entry_drop(c, e);
			if (fd < 0)
				return fd;
			*st = now_st;
			goto fill;
		}
		c->stats.stale++;
		entry_drop(c, e);
	}
	fd = http_open_under_root(root_dirfd, path, dir, flags, st);
	if (fd < 0)
		return fd;
fill:
	c->stats.misses++;
	if ((uint64_t)st->st_size > c->max_file || !entry_fill(c, e, path, dir, h, fd, st, now))
		return fd; /* too big to keep, or not read whole: served from the file */
	*hit = e; /* fd is the entry's now */
	return 0;
}
