/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "bulkhead/log.h"

static const char *log_prog = "bulkhead";
static enum bh_log_level log_max = BH_LOG_INFO;

void bh_log_init(const char *prog, enum bh_log_level max_level)
{
	log_prog = prog;
	log_max = max_level;
}

void bh_log(enum bh_log_level lvl, const char *fmt, ...)
{
	static const char *names[] = {"error", "warning", "info", "debug"};
	char line[512];
	va_list ap;
	int n;

	if (lvl > log_max)
		return;
	n = snprintf(line, sizeof(line), "%s: %s: ", log_prog, names[lvl]);
	va_start(ap, fmt);
	if (n > 0 && n < (int)sizeof(line))
		vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", line); /* one write per line */
}

int bh_log_ratelimit(uint64_t *state, unsigned per_sec)
{
	/* state: high 32 bits = second, low 32 bits = lines in that second. */
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	uint64_t sec = (uint64_t)ts.tv_sec & 0xffffffffu;
	uint64_t old = __atomic_load_n(state, __ATOMIC_RELAXED);
	uint64_t nw = (old >> 32) == sec ? old + 1 : (sec << 32) | 1;
	__atomic_store_n(state, nw, __ATOMIC_RELAXED);
	return (nw & 0xffffffffu) <= per_sec;
}
