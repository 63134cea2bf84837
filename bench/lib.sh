# shellcheck shell=bash
# What every benchmark script does first: check it may run, build only what it
# runs, reserve hugepages, and pick a plotting tool. Set BENCH (the script's
# name) before sourcing; ROOT (the tree), BH_BUILD ($ROOT/build), OUT
# ($ROOT/bench/out), CLIENT_CPU (0) and SERVER_CPU (1) keep what they are
# set to, else get these defaults.
ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
BH_BUILD=${BH_BUILD:-$ROOT/build}
OUT=${OUT:-$ROOT/bench/out}
CLIENT_CPU=${CLIENT_CPU:-0}
SERVER_CPU=${SERVER_CPU:-1}

die() { echo "$BENCH: $*" >&2; exit 1; }

# bench_prepare "tools..." targets...: root, tools present, targets built (a
# no-op when up to date; stale binaries are used with a warning if the rebuild
# fails), hugepages reserved.
bench_prepare() {
	local tools=$1 log="$BH_BUILD/$BENCH-build.log" t
	shift
	[ "$(id -u)" = 0 ] || die "must run as root (namespaces, hugepages)"
	for t in $tools; do command -v "$t" >/dev/null || die "'$t' is missing (scripts/setup.sh installs it)"; done
	if [ ! -f "$BH_BUILD/build.ninja" ]; then
		meson setup "$BH_BUILD" "$ROOT" >/dev/null || die "meson setup $BH_BUILD failed"
	fi
	if ! ninja -C "$BH_BUILD" "$@" >"$log" 2>&1; then
		for t in "$@"; do [ -x "$BH_BUILD/$t" ] || { cat "$log"; die "build failed"; }; done
		echo "$BENCH: warning: rebuild failed (see $log); using the existing binaries" >&2
	fi
	"$ROOT/scripts/setup.sh" --hugepages || die "hugepage setup failed"
}

# bench_plot_tool: sets PLOT to matplotlib or gnuplot (installing gnuplot-nox if
# neither is there), or none.
bench_plot_tool() {
	PLOT=none
	if /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then
		PLOT=matplotlib
	elif command -v gnuplot >/dev/null; then
		PLOT=gnuplot
	else
		echo "$BENCH: installing gnuplot-nox for the plot"
		if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gnuplot-nox >/dev/null 2>&1 ||
			{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gnuplot-nox >/dev/null 2>&1; }; then
			PLOT=gnuplot
		else
			echo "$BENCH: warning: no matplotlib and no gnuplot: no plot" >&2
		fi
	fi
}

# bench_topology: the namespaces and veth pairs of tests/e2e/lib.sh (the
# client in $NS_A, the server side in $NS_M), removed on exit or interrupt.
# Sets SIF (the server side of the client's veth, in $NS_M) and RES (an empty
# results file in $WORK), and makes $OUT.
bench_topology() {
	# shellcheck source=/dev/null
	. "$ROOT/tests/e2e/lib.sh"
	bh_topology || die "cannot build the namespace topology"
	trap bh_teardown EXIT
	trap 'exit 130' INT TERM
	mkdir -p "$OUT"
	SIF=bh${T}p0
	RES=$WORK/results.txt
	: >"$RES"
}

# bench_ratio A B: A / B with two decimals, "-" when either is missing or B is 0.
bench_ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.2f", a / b}'; }

# bench_platform SERVICE: the manager on port p0 (the server side of the
# client's veth) with every frame from p0 going to SERVICE and out of p0, the
# service in shared-core mode on SERVER_CPU, and the manager pinned to
# MGR_CPU (default SERVER_CPU; MGR_CPU=$CLIENT_CPU puts the port work where
# the kernel's softirq does it, on the sending CPU).
bench_platform() {
	jq -n --argjson c "$SERVER_CPU" --arg s "$1" \
		'{services: [{name: $s, mode: "shared", cores: [$c]}],
		  chains: [{name: $s, hops: [$s], out: "p0"}], rules: [{in_port: "p0", chain: $s}],
		  stats: {interval_ms: 1000}}' | bh_config "$WORK/cfg.json"
	bh_start_mgr "$WORK/cfg.json" || die "the manager did not start"
	taskset -a -p -c "${MGR_CPU:-$SERVER_CPU}" "$MGR_PID" >/dev/null
}
