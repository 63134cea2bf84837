#!/usr/bin/env bash
# scripts/fuzz.sh [SECONDS] [NAME...]: build the libFuzzer targets of
# tests/fuzz/ with clang and run each for SECONDS (default 60), one process
# each, one after the other. Inputs that add coverage are merged into
# tests/fuzz/corpus/NAME/ (libFuzzer -merge=1: only what is new is added);
# an input there that crashes (a kept reproducer) is left out of the run;
# crashes are kept in $FUZZ_BUILD/crashes/NAME/ and listed at the end (exit
# status 1 if any). Replay a corpus or a crash without clang:
# build-test/tests/fuzz/test_fuzz_NAME [FILE|DIR...] (tests/fuzz/README.md).
#
# Environment (all optional):
#   FUZZ_BUILD=build-fuzz  the clang build tree (ASan + UBSan + coverage)
#   MAX_LEN=4096           longest input libFuzzer makes
#   KEEP_GOING=1           do not stop at the first crash (libFuzzer -fork=1
#                          -ignore_crashes=1): collect them all
#   MINIMIZE=1             afterwards, rewrite the corpus: the seeds (seed-*)
#                          and reproducers (crash-*), and of the other files
#                          only those that reach edges beyond them
#   FUZZ_ARGS="..."        more libFuzzer flags
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
SECS=${1:-60}
shift 2>/dev/null || true
B=${FUZZ_BUILD:-build-fuzz}
MAX_LEN=${MAX_LEN:-4096}
die() { echo "fuzz.sh: $*" >&2; exit 2; }

[[ $SECS =~ ^[0-9]+$ ]] || die "SECONDS must be a number, not '$SECS'"
command -v clang >/dev/null || die "clang is missing (apt-get install clang)"
if [ ! -f "$B/build.ninja" ]; then
	# Every library is instrumented for coverage; UBSan aborts, so libFuzzer
	# sees its reports as crashes.
	CC=clang meson setup "$B" -Dbuildtype=debugoptimized -Db_sanitize=address,undefined \
		-Db_lundef=false -Dc_args="['-fsanitize=fuzzer-no-link', '-fno-sanitize-recover=undefined']" \
		>"$ROOT/$B.setup.log" 2>&1 || { cat "$ROOT/$B.setup.log"; die "meson setup $B failed"; }
fi

NAMES=("$@")
if [ ${#NAMES[@]} -eq 0 ]; then
	for f in tests/fuzz/fuzz_*.c; do
		n=$(basename "$f" .c)
		[ "$n" = fuzz_replay ] || NAMES+=("${n#fuzz_}")
	done
fi
for n in "${NAMES[@]}"; do
	ninja -C "$B" "tests/fuzz/fuzz_$n" "tests/fuzz/test_fuzz_$n" >"$B/fuzz-build.log" 2>&1 ||
		{ cat "$B/fuzz-build.log"; die "building fuzz_$n failed"; }
done

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
status=0
for n in "${NAMES[@]}"; do
	bin=$B/tests/fuzz/fuzz_$n
	corpus=tests/fuzz/corpus/$n
	crashes=$B/crashes/$n
	log=$B/fuzz-$n.log
	work=$(mktemp -d "/tmp/bh-fuzz-$n.XXXXXX")
	mkdir -p "$corpus" "$crashes" "$work/in" "$work/new" "$work/min"
	keep=()
	[ "${KEEP_GOING:-0}" = 1 ] && keep=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
	before=$(find "$corpus" -type f | wc -l)
	# An input of the corpus that crashes (a kept reproducer of a bug not
	# fixed yet) would stop libFuzzer while it loads the corpus: the replay
	# finds those, and they are left out of the run.
	"$B/tests/fuzz/test_fuzz_$n" "$corpus" 2>/dev/null | sed -n 's|^FAIL .*/\([^/:]*\): .*|\1|p' >"$work/known"
	for f in "$corpus"/*; do
		[ -f "$f" ] && ! grep -qxF "$(basename "$f")" "$work/known" || continue
		cp "$f" "$work/in/"
		[[ $(basename "$f") == seed-* || $(basename "$f") == crash-* ]] && cp "$f" "$work/min/"
	done
	[ -s "$work/known" ] && echo "fuzz.sh: fuzz_$n: left out, still crashing:" $(cat "$work/known")
	echo "fuzz.sh: fuzz_$n for ${SECS}s from $before inputs (log: $log)"
	# New inputs go to $work/new (the first directory); the rest is only read.
	# shellcheck disable=SC2086
	"$bin" -max_total_time="$SECS" -max_len="$MAX_LEN" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$crashes/" "${keep[@]}" ${FUZZ_ARGS:-} \
		"$work/new" "$work/in" >"$log" 2>&1
	rc=$?
	grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^stat::(number_of_executed_units|average_exec_per_sec|peak_rss)' "$log" |
		sed 's/^/  /'
	grep -E 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1 | sed 's/^/  last: /'
	# Keep what adds coverage, and nothing else: merged into the copy, then
	# what the merge added is copied into the corpus.
	ls "$work/in" >"$work/in.list"
	if "$bin" -merge=1 -max_len="$MAX_LEN" -timeout=10 "$work/in" "$work/new" >>"$log" 2>&1; then
		for f in $(ls "$work/in" | grep -vxFf "$work/in.list"); do cp "$work/in/$f" "$corpus/"; done
	else
		echo "fuzz.sh: merge for fuzz_$n failed (see $log)" >&2
	fi
	if [ "${MINIMIZE:-0}" = 1 ]; then
		# The seeds and reproducers stay (written by hand, named); of the
		# other inputs, keep only those that reach edges beyond them (hit
		# counts left out: a fraction of the files for the same edges).
		if "$bin" -merge=1 -use_counters=0 -max_len="$MAX_LEN" -timeout=10 "$work/min" "$work/in" \
			>>"$log" 2>&1; then
			find "$corpus" -type f ! -name 'seed-*' ! -name 'crash-*' -delete
			find "$work/min" -type f ! -name 'seed-*' ! -name 'crash-*' -exec cp {} "$corpus"/ \;
		else
			echo "fuzz.sh: minimizing fuzz_$n failed (see $log)" >&2
		fi
	fi
	rm -rf "$work"
	after=$(find "$corpus" -type f | wc -l)
	echo "fuzz.sh: fuzz_$n: corpus $before -> $after inputs"
	found=$(find "$crashes" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | sort)
	if [ -n "$found" ]; then
		echo "fuzz.sh: fuzz_$n: $(echo "$found" | wc -l) finding(s) in $crashes, e.g." \
			"(minimize and replay: tests/fuzz/README.md):"
		echo "$found" | head -n 5 | sed 's/^/  /'
		status=1
	elif [ "$rc" -ne 0 ]; then
		echo "fuzz.sh: fuzz_$n exited with status $rc (see $log)"
		status=1
	fi
done
exit $status
