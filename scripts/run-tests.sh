#!/usr/bin/env bash
# Runs every test: unit tests (sanitizer build), then end-to-end scripts,
# then the end-to-end scripts again (all but SAN_SKIP) against the sanitizer
# build (scripts/san-e2e.sh).
# Each test prints "NAME: N passed, N failed"; this sums them and ends with
# one line "N passed, N failed". Exit status is non-zero on any failure,
# including a test that crashed or printed no summary.
#   scripts/run-tests.sh [--unit-only | --e2e-only | --san-only] [filter]
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
UNIT_BUILD=${TEST_BUILD:-build-test}
export BH_BUILD=${BH_BUILD:-$ROOT/build}
MODE=all
[ "${1:-}" = --unit-only ] && { MODE=unit; shift; }
[ "${1:-}" = --e2e-only ] && { MODE=e2e; shift; }
[ "${1:-}" = --san-only ] && { MODE=san; shift; }
# The end-to-end tests run again under the sanitizers, all but SAN_SKIP,
# whose code paths other tests of the pass run:
# * the TCP transfers under loss and reordering (two minutes; the stack's
#   recovery runs in test_http's transfers at 1% loss, and in the unit
#   tests test_tcp_conn and test_fuzz_tcp_stack);
# * the idle NFs' CPU time (a bound measured on the normal build; the
#   sanitizers would make it a bound on themselves);
# * the HTTP suites in a worker per client and a pool, and the bad-input
#   suite per client and per connection (the NF's side of every isolation
#   unit runs in test_http_iso_diff, test_http_iso_connection and
#   test_http_bad_iso_pool; what parses requests there is the worker, built
#   without the sanitizers);
# * 10,000 concurrent connections, and a shared worker's share of
#   connections (test_http_iso_diff queues connections for a worker too);
# * impair's statistics (its core runs under the sanitizers in
#   unit/test_impair, its NF's loop in every NF).
SAN_SKIP=${SAN_SKIP-test_tcp_impair test_shared_core test_http_iso_client test_http_iso_pool
	test_http_bad_iso_client test_http_bad_iso_connection test_iso_conns test_iso_worker_conns test_impair}
SAN_SKIP=$(echo $SAN_SKIP) # one line
if [ -z "${SAN_E2E:-}" ]; then
	SAN_E2E=""
	for t in tests/e2e/test_*.sh; do
		t=$(basename "$t" .sh)
		[[ " $SAN_SKIP " == *" $t "* ]] || SAN_E2E+="$t "
	done
fi
FILTER=${1:-}
LOGDIR=$(mktemp -d /tmp/bh-tests.XXXXXX)
passed=0 failed=0
failed_names=()

run_one() { # name, command...
	local name=$1 log="$LOGDIR/${1//\//_}.log" start rc line p f
	shift
	start=$(date +%s)
	timeout --kill-after=10 600 "$@" >"$log" 2>&1
	rc=$?
	line=$(grep -oE '[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
	if [ -z "$line" ]; then
		p=0 f=1
		echo "FAIL $name: no result line (exit $rc); last lines:"
		tail -n 15 "$log" | sed 's/^/    /'
	else
		read -r p _ f _ <<<"${line//,/}"
		if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
			f=1
			echo "FAIL $name: exit status $rc"
		fi
		printf '%-4s %-28s %4d passed, %d failed  (%ds)\n' "$([ "$f" -eq 0 ] && echo ok || echo FAIL)" \
			"$name" "$p" "$f" $(($(date +%s) - start))
		[ "$f" -eq 0 ] || grep -E '^(FAIL|not ok)' "$log" | head -n 20 | sed 's/^/    /'
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	[ "$f" -eq 0 ] || failed_names+=("$name")
}

if [ "$MODE" = all ] || [ "$MODE" = unit ]; then
	echo "== unit tests ($UNIT_BUILD, ASan+UBSan)"
	# Unit tests live beside the part they test: every test_* program in the tree.
	for t in $(find "$UNIT_BUILD" -type f -perm -u+x -name 'test_*' ! -name '*.p' ! -path '*/meson-*' | sort); do
		name=unit/$(basename "$t")
		[ -n "$FILTER" ] && [[ "$name" != *"$FILTER"* ]] && continue
		ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 run_one "$name" "$t"
	done
fi
if [ "$MODE" = all ] || [ "$MODE" = e2e ]; then
	echo "== end-to-end tests ($BH_BUILD)"
	for t in tests/e2e/test_*.sh; do
		name=e2e/$(basename "$t" .sh)
		[ -n "$FILTER" ] && [[ "$name" != *"$FILTER"* ]] && continue
		run_one "$name" bash "$t"
	done
fi
if [ "$MODE" = all ] || [ "$MODE" = san ]; then
	echo "== end-to-end tests under ASan+UBSan ($UNIT_BUILD)"
	for t in $SAN_E2E; do
		name=san/$t
		[ -n "$FILTER" ] && [[ "$name" != *"$FILTER"* ]] && continue
		BH_BUILD=$ROOT/$UNIT_BUILD run_one "$name" bash scripts/san-e2e.sh "tests/e2e/$t.sh"
	done
fi
[ ${#failed_names[@]} -eq 0 ] || echo "failed: ${failed_names[*]} (logs in $LOGDIR)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
