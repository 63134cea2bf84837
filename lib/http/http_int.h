/* SPDX-License-Identifier: MIT */
/* Character classes and small helpers shared by lib/http's files. */
#ifndef HTTP_INT_H
#define HTTP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "bulkhead/http.h"

/* tchar (RFC 9110 §5.6.2): the characters of a token. */
static inline bool http_is_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return true;
	switch (c) {
	case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
	case '-': case '.': case '^': case '_': case '`': case '|': case '~':
		return true;
	}
	return false;
}

static inline bool http_is_ows(unsigned char c)
{
	return c == ' ' || c == '\t';
}

static inline bool http_is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* v in base 10 or 16 (lower case) at out, no NUL; returns the digits
 * written (at most 20). */
static inline size_t http_fmt_u64(char *out, uint64_t v, unsigned base)
{
	char tmp[20];
	size_t n = 0;
	do {
		tmp[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	for (size_t i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return n;
}

static inline int http_hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static inline unsigned char http_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* ASCII case-insensitive comparison of a counted string with a C string. */
static inline bool http_ieq(const char *s, size_t n, const char *lit)
{
	size_t i;
	for (i = 0; i < n; i++)
		if (!lit[i] || http_lower((unsigned char)s[i]) != http_lower((unsigned char)lit[i]))
			return false;
	return lit[i] == '\0';
}

/* Broken-down UTC time, for the formats of http_cond.c and the log line. */
struct http_tm {
	int year, mon, mday, hour, min, sec, wday; /* mon 0 = January, wday 0 = Sunday */
};
#define HTTP_TIME_MAX 253402300799 /* 9999-12-31 23:59:59 */

/* t clamped to 0 .. HTTP_TIME_MAX. */
void http_gmtime(time_t t, struct http_tm *tm);
const char *http_month_name(int mon); /* "Jan" for 0 */

/* One file of the open-file cache (http_cache.c). */
struct http_fc_entry {
	char *key;        /* the path as http_target_parse() made it */
	uint32_t hash;
	bool dir;         /* asked for as a directory: key/index.html */
	int fd;           /* -1: the slot is free */
	struct stat st;   /* as when read */
	time_t checked;   /* the second the path was last resolved */
	char *data;       /* st.st_size bytes */
};

/* The file for a request, through the cache: 0 with *hit set (serve
 * (*hit)->data; nothing to close), an fd (uncached: too big, or not read
 * whole) with *st filled, or http_open_under_root()'s -errno. */
int http_file_cache_open(struct http_file_cache *c, int root_dirfd, const char *path, bool dir,
			 unsigned flags, time_t now, struct stat *st,
			 const struct http_fc_entry **hit);

#endif
