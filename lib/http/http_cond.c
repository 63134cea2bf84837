/* SPDX-License-Identifier: MIT */
/*
 * Dates, entity-tags, preconditions and byte ranges (RFC 9110 §5.6.7, §8.8,
 * §13, §14). The calendar is computed here (days from the civil date and
 * back) rather than by gmtime/timegm, so that the results depend on
 * nothing but the arguments: no TZ, no locale.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "bulkhead/http.h"
#include "http_int.h"

static const char wkdays[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
static const char *const weekdays[7] = { "Sunday",   "Monday", "Tuesday", "Wednesday",
					 "Thursday", "Friday", "Saturday" };
static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
				    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

void http_gmtime(time_t t, struct http_tm *tm)
{
	if (t < 0)
		t = 0;
	if (t > HTTP_TIME_MAX)
		t = HTTP_TIME_MAX;
	int64_t z = t / 86400, s = t % 86400;
	tm->wday = (int)((z + 4) % 7); /* 1970-01-01 was a Thursday */
	z += 719468;
	int64_t era = z / 146097, doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	tm->mday = (int)(doy - (153 * mp + 2) / 5 + 1);
	tm->mon = (int)(mp < 10 ? mp + 2 : mp - 10); /* 0 = January */
	tm->year = (int)(yoe + era * 400 + (tm->mon <= 1));
	tm->hour = (int)(s / 3600);
	tm->min = (int)(s / 60 % 60);
	tm->sec = (int)(s % 60);
}

const char *http_month_name(int mon)
{
	return months[mon];
}

static char *two_digits(char *p, int v)
{
	p[0] = (char)('0' + v / 10);
	p[1] = (char)('0' + v % 10);
	return p + 2;
}

/* Written by hand: every response has one or two of these, and printf's
 * machinery costs more than all the rest of the date. */
size_t http_date_format(time_t t, char *out)
{
	struct http_tm tm;
	http_gmtime(t, &tm);
	if (tm.year < 0 || tm.year > 9999) { /* no 4-digit year: cut to the length */
		snprintf(out, HTTP_DATE_LEN + 1, "%s, %02d %s %04d %02d:%02d:%02d GMT",
			 wkdays[tm.wday], tm.mday, months[tm.mon], tm.year, tm.hour, tm.min, tm.sec);
		return HTTP_DATE_LEN;
	}
	char *p = out;
	memcpy(p, wkdays[tm.wday], 3);
	memcpy(p + 3, ", ", 2);
	p = two_digits(p + 5, tm.mday);
	*p++ = ' ';
	memcpy(p, months[tm.mon], 3);
	p[3] = ' ';
	p = two_digits(p + 4, tm.year / 100);
	p = two_digits(p, tm.year % 100);
	*p++ = ' ';
	p = two_digits(p, tm.hour);
	*p++ = ':';
	p = two_digits(p, tm.min);
	*p++ = ':';
	p = two_digits(p, tm.sec);
	memcpy(p, " GMT", 5);
	return HTTP_DATE_LEN;
}

/* ------------------------------------------------------------ date parse */

static int digits(const char *s, int n) /* exactly n digits, or -1 */
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!http_is_digit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

static int month_of(const char *s) /* case-sensitive (RFC 9110 §5.6.7) */
{
	for (int m = 0; m < 12; m++)
		if (!strncmp(s, months[m], 3))
			return m;
	return -1;
}

static bool wkday_of(const char *s)
{
	for (int d = 0; d < 7; d++)
		if (!strncmp(s, wkdays[d], 3))
			return true;
	return false;
}

/* "HH:MM:SS" into seconds of the day, -1 if invalid (a leap second 60 is
 * taken, as the next second). */
static int time_of(const char *s)
{
	int h = digits(s, 2), m = digits(s + 3, 2), sec = digits(s + 6, 2);
	if (h < 0 || m < 0 || sec < 0 || s[2] != ':' || s[5] != ':' || h > 23 || m > 59 ||
	    sec > 60)
		return -1;
	return h * 3600 + m * 60 + sec;
}

static int make_time(int year, int mon, int day, int secs, time_t *out)
{
	static const int mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
	if (year < 0 || mon < 0 || day < 1 || day > mdays[mon] || (mon == 1 && day == 29 && !leap) ||
	    secs < 0)
		return -EBADMSG;
	*out = (time_t)(days_from_civil(year, mon + 1, day) * 86400 + secs);
	return 0;
}

int http_date_parse(const char *s, time_t now, time_t *out)
{
	size_t n = strlen(s);
	const char *c = strchr(s, ',');

	if (n == 29 && c == s + 3) { /* Sun, 06 Nov 1994 08:49:37 GMT */
		if (!wkday_of(s) || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
		    strcmp(s + 25, " GMT"))
			return -EBADMSG;
		return make_time(digits(s + 12, 4), month_of(s + 8), digits(s + 5, 2),
				 time_of(s + 17), out);
	}
	if (c && c > s && n == (size_t)(c - s) + 24) { /* Sunday, 06-Nov-94 08:49:37 GMT */
		const char *d = c + 2;
		int w;
		for (w = 0; w < 7; w++)
			if (strlen(weekdays[w]) == (size_t)(c - s) && !strncmp(s, weekdays[w], (size_t)(c - s)))
				break;
		if (w == 7 || c[1] != ' ' || d[2] != '-' || d[6] != '-' || d[9] != ' ' ||
		    strcmp(d + 18, " GMT"))
			return -EBADMSG;
		int yy = digits(d + 7, 2);
		if (yy < 0)
			return -EBADMSG;
		/* RFC 9110 §5.6.7: more than 50 years ahead is the century before */
		struct http_tm tm;
		http_gmtime(now, &tm);
		int year = tm.year - tm.year % 100 + yy;
		if (year > tm.year + 50)
			year -= 100;
		else if (year + 100 <= tm.year + 50)
			year += 100;
		return make_time(year, month_of(d + 3), digits(d, 2), time_of(d + 10), out);
	}
	if (n == 24 && !c) { /* Sun Nov  6 08:49:37 1994 */
		if (!wkday_of(s) || s[3] != ' ' || s[7] != ' ' || s[10] != ' ' || s[19] != ' ')
			return -EBADMSG;
		int day = s[8] == ' ' ? digits(s + 9, 1) : digits(s + 8, 2);
		if (s[8] == ' ' && day == 0)
			return -EBADMSG;
		return make_time(digits(s + 20, 4), month_of(s + 4), day, time_of(s + 11), out);
	}
	return -EBADMSG;
}

/* ------------------------------------------------------------ validators */

size_t http_etag_format(const struct stat *st, char *out)
{
	uint64_t ns = (uint64_t)st->st_mtim.tv_sec * 1000000000u + (uint64_t)st->st_mtim.tv_nsec;
	char *p = out;
	*p++ = '"';
	p += http_fmt_u64(p, (uint64_t)st->st_ino, 16);
	*p++ = '-';
	p += http_fmt_u64(p, (uint64_t)st->st_size, 16);
	*p++ = '-';
	p += http_fmt_u64(p, ns, 16);
	*p++ = '"';
	*p = '\0';
	return (size_t)(p - out); /* at most 3 * 16 + 4 < HTTP_ETAG_MAX */
}

static const char *skip_ows(const char *p)
{
	while (http_is_ows((unsigned char)*p))
		p++;
	return p;
}

/* One entity-tag at *pp (RFC 9110 §8.8.3): sets its opaque-tag (quotes
 * included) and whether it is weak, advances *pp; false if malformed. */
static bool entity_tag(const char **pp, const char **tag, size_t *len, bool *weak)
{
	const char *p = *pp;
	*weak = p[0] == 'W' && p[1] == '/';
	if (*weak)
		p += 2;
	if (*p != '"')
		return false;
	*tag = p++;
	for (; *p != '"'; p++) {
		unsigned char c = (unsigned char)*p;
		if (!(c == 0x21 || (c >= 0x23 && c <= 0x7e) || c >= 0x80))
			return false;
	}
	*len = (size_t)(++p - *tag);
	*pp = p;
	return true;
}

int http_etag_match(const char *list, const char *etag, bool weak)
{
	const char *p = skip_ows(list);
	size_t elen = strlen(etag);
	int match = 0;
	bool any = false;

	if (*p == '*')
		return *skip_ows(p + 1) ? -EBADMSG : 1;
	for (;;) {
		while (*p == ',' || http_is_ows((unsigned char)*p))
			p++; /* empty list elements are allowed (RFC 9110 §5.6.1.2) */
		if (!*p)
			break;
		const char *tag;
		size_t len;
		bool w;
		if (!entity_tag(&p, &tag, &len, &w))
			return -EBADMSG;
		if ((weak || !w) && len == elen && !memcmp(tag, etag, len))
			match = 1;
		any = true;
		p = skip_ows(p);
		if (*p && *p != ',')
			return -EBADMSG;
	}
	return any ? match : -EBADMSG;
}

int http_conditional(const struct http_request *req, const char *etag, time_t last_modified,
		     time_t now)
{
	time_t d;
	if (req->if_match) {
		if (http_etag_match(req->if_match, etag, false) != 1)
			return 412;
	} else if (req->if_unmodified_since &&
		   http_date_parse(req->if_unmodified_since, now, &d) == 0 && last_modified > d) {
		return 412;
	}
	int inm = req->if_none_match ? http_etag_match(req->if_none_match, etag, true) : -EBADMSG;
	if (inm >= 0)
		return inm ? 304 : 0;
	/* If-None-Match absent (or not valid, taken as absent): the date. A date
	 * in the future says nothing about our clock's past (RFC 7232 §3.3). */
	if (req->if_modified_since && http_date_parse(req->if_modified_since, now, &d) == 0 &&
	    d <= now && last_modified <= d)
		return 304;
	return 0;
}

bool http_if_range(const char *value, const char *etag, time_t last_modified, time_t now)
{
	time_t d;
	if (!value)
		return true;
	if (value[0] == '"' || (value[0] == 'W' && value[1] == '/'))
		return !strcmp(value, etag); /* strong: a weak tag never equals ours */
	return http_date_parse(value, now, &d) == 0 && d == last_modified;
}

/* ---------------------------------------------------------------- ranges */

/* Digits at *pp, saturating at UINT64_MAX; false if there are none. */
static bool number(const char **pp, uint64_t *v)
{
	const char *p = *pp;
	uint64_t n = 0;
	if (!http_is_digit((unsigned char)*p))
		return false;
	for (; http_is_digit((unsigned char)*p); p++) {
		unsigned d = (unsigned)(*p - '0');
		n = n > (UINT64_MAX - d) / 10 ? UINT64_MAX : n * 10 + d;
	}
	*v = n;
	*pp = p;
	return true;
}

/* Compares two runs of digits as the numbers they write, however long. */
static int digits_cmp(const char *a, const char *ae, const char *b, const char *be)
{
	while (a < ae - 1 && *a == '0')
		a++;
	while (b < be - 1 && *b == '0')
		b++;
	if (ae - a != be - b)
		return ae - a < be - b ? -1 : 1;
	int c = memcmp(a, b, (size_t)(ae - a));
	return (c > 0) - (c < 0);
}

enum http_range_result http_range_parse(const char *value, uint64_t size, uint64_t *first,
					uint64_t *len)
{
	uint64_t a = 0, b = UINT64_MAX;
	bool suffix = false;
	int specs = 0;

	if (!value || !http_ieq(value, strnlen(value, 5), "bytes") || value[5] != '=')
		return HTTP_RANGE_IGNORE;
	for (const char *p = value + 6;;) {
		while (*p == ',' || http_is_ows((unsigned char)*p))
			p++;
		if (!*p)
			break;
		if (++specs > 1)
			return HTTP_RANGE_IGNORE; /* several ranges: the whole file */
		if (*p == '-') {
			p++;
			suffix = true;
			if (!number(&p, &b))
				return HTTP_RANGE_IGNORE;
		} else {
			const char *as = p, *ae, *bs;
			if (!number(&p, &a) || *p != '-')
				return HTTP_RANGE_IGNORE;
			ae = p++;
			bs = p;
			/* last < first: invalid (§14.1.1), compared exactly when huge */
			if (number(&p, &b) &&
			    (b < a || (b == UINT64_MAX && digits_cmp(bs, p, as, ae) < 0)))
				return HTTP_RANGE_IGNORE;
		}
		p = skip_ows(p);
		if (*p && *p != ',')
			return HTTP_RANGE_IGNORE;
	}
	if (specs == 0)
		return HTTP_RANGE_IGNORE;
	if (suffix) {
		if (b == 0 || size == 0)
			return HTTP_RANGE_UNSATISFIABLE;
		*len = b < size ? b : size;
		*first = size - *len;
		return HTTP_RANGE_OK;
	}
	if (a >= size)
		return HTTP_RANGE_UNSATISFIABLE;
	*first = a;
	*len = (b < size - 1 ? b : size - 1) - a + 1;
	return HTTP_RANGE_OK;
}
