# shellcheck shell=bash
# What every benchmark script does first: check it may run, build only what it
# runs, reserve hugepages, and pick a plotting tool. Set BENCH (the script's
# name), ROOT and BH_BUILD before sourcing.

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
