#!/usr/bin/env bash
# One end-to-end test against the sanitizer build (BH_BUILD: ASan + UBSan):
# the manager, the NFs and every other program of ours the test starts (but
# the isolated workers: static, without sanitizers) write what the sanitizers
# find (a memory error, undefined behaviour, a leak at exit) to files of
# their own, and any such report is one more failure.
# Prints the test's output, then that check and the sum.
#   scripts/san-e2e.sh tests/e2e/test_X.sh
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d /tmp/bh-san.XXXXXX)
out=$(mktemp /tmp/bh-san-out.XXXXXX)
trap 'rm -rf "$dir" "$out"' EXIT
# ASan and LeakSanitizer write to files here (DPDK's own start-up
# allocations, never freed, are not ours to report); UBSan, beside ASan,
# writes to stderr only, and tests/e2e/lib.sh copies its reports here from
# the test's logs.
export ASAN_OPTIONS="detect_leaks=1:log_path=$dir/asan"
export LSAN_OPTIONS="suppressions=$ROOT/scripts/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1"
export BH_SAN_DIR=$dir
bash "$1" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
line=$(grep -oE '[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
[ -n "$line" ] || exit "$rc"
read -r p _ f _ <<<"${line//,/}"
reports=$(find "$dir" -type f | sort)
if [ -z "$reports" ]; then
	echo "ok   - no sanitizer report from any process"
	p=$((p + 1))
else
	echo "FAIL - sanitizer reports: $(echo "$reports" | wc -l)"
	for r in $reports; do
		echo "# $(basename "$r"):"
		grep -v '^$' "$r" | head -n 40 | sed 's/^/#   /'
	done
	f=$((f + 1))
fi
echo "$(basename "$1" .sh) under the sanitizers: $p passed, $f failed"
[ "$rc" -eq 0 ] && [ "$f" -eq 0 ]
