/* SPDX-License-Identifier: MIT */
/*
 * Logging. bh_log() writes one line to stderr with the program's name.
 * BH_LOG_RL() drops lines beyond `per_sec` a second at its call site (for paths
 * that packets can trigger). Thread-safe.
 */
#ifndef BULKHEAD_LOG_H
#define BULKHEAD_LOG_H

#include <stdint.h>

enum bh_log_level { BH_LOG_ERR, BH_LOG_WARN, BH_LOG_INFO, BH_LOG_DEBUG };

void bh_log_init(const char *prog, enum bh_log_level max_level);
void bh_log(enum bh_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Returns 1 if a line may be logged now at this site (token bucket of per_sec). */
int bh_log_ratelimit(uint64_t *state, unsigned per_sec);

#define BH_LOG_RL(per_sec, lvl, ...)                                   \
	do {                                                           \
		static uint64_t _rl_state;                             \
		if (bh_log_ratelimit(&_rl_state, (per_sec)))           \
			bh_log((lvl), __VA_ARGS__);                    \
	} while (0)

#endif
