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

# --- the HTTP benchmarks (http.sh, isolation.sh) ------------------------------------------
BENCH_HTTP_IP=198.18.0.3 # the http NF's address
# wrk's summary (bench/http_wrk.lua's JSON line), as jq expressions
WRK_PER_S='.requests / .us * 1e6 | floor'
WRK_MB_S='.bytes / .us | . * 100 | floor / 100'
WRK_P99_MS='.p99_us / 1000'
WRK_ERRS='.connect_err + .read_err + .write_err + .status_err + .timeouts'

# bench_http_knobs: the knobs both HTTP benchmarks have, with their defaults
# unless set: SIZES (the files), SECS and WARMUP (per point), CONNS (wrk's
# connections), PIPELINE (requests per write when pipelining), NF_ARGS (stack
# options of the NF) and CLOSE_NF_ARGS (more for "Connection: close": a table
# big enough for the run's TIME-WAITs).
bench_http_knobs() {
	SIZES=${SIZES:-64 1k 64k 1m 10m}
	SECS=${SECS:-5}
	WARMUP=${WARMUP:-1}
	CONNS=${CONNS:-32}
	PIPELINE=${PIPELINE:-16}
	NF_ARGS=${NF_ARGS:-}
	CLOSE_NF_ARGS=${CLOSE_NF_ARGS:---max-conns 262144}
}

# bench_http_setup SIZES: after bench_topology, DOCROOT ($WORK/root) with one file
# of random bytes per size, f<size>.bin (64, 1k, 10m: as numfmt --from=iec reads
# them, any case), readable by anyone (nginx's worker, the isolated workers'
# uids); the client namespace gets ports enough for "Connection: close".
bench_http_setup() {
	local s
	DOCROOT=$WORK/root
	mkdir -p "$DOCROOT"
	chmod 755 "$WORK" "$DOCROOT"
	for s in $1; do
		head -c "$(numfmt --from=iec "${s^^}")" /dev/urandom >"$DOCROOT/f$s.bin"
	done
	chmod 644 "$DOCROOT"/*
	ip netns exec "$NS_A" sysctl -qw net.ipv4.ip_local_port_range="10000 60999" net.ipv4.tcp_tw_reuse=1
}

# bench_wrk SECONDS MODE URL: one wrk run (one thread, CONNS connections, from
# $NS_A on CLIENT_CPU); MODE keepalive, close ("Connection: close") or pipeline
# (PIPELINE requests per write). Prints bench/http_wrk.lua's JSON line, or
# nothing; wrk's stderr goes to $WORK/wrk.err.
bench_wrk() {
	local depth=1 hdr=()
	case $2 in
	close) hdr=(-H 'Connection: close') ;;
	pipeline) depth=$PIPELINE ;;
	esac
	ip netns exec "$NS_A" taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"$1"s --timeout 5s \
		"${hdr[@]}" -s "$ROOT/bench/http_wrk.lua" "$3" -- "$depth" 2>>"$WORK/wrk.err" | grep '^{' | tail -n 1
}

# bench_wrk_point "KEY" MODE URL [BEFORE AFTER]: wrk for WARMUP (not counted),
# then SECS seconds, the commands BEFORE and AFTER (if given) run around the
# measured part. Appends "KEY JSON" to $RES ({} when wrk said nothing) and
# prints the point's summary. KEY is three words (bench_http_metric finds them).
bench_wrk_point() {
	local out
	[ "$WARMUP" = 0 ] || bench_wrk "$WARMUP" "$2" "$3" >/dev/null
	[ -z "${4:-}" ] || $4
	out=$(bench_wrk "$SECS" "$2" "$3")
	[ -z "${5:-}" ] || $5
	[ -n "$out" ] || out='{}'
	echo "$1 $out" >>"$RES"
	echo "  $1: $(jq -c "{per_s: ($WRK_PER_S), mb_s: ($WRK_MB_S), p99_ms: ($WRK_P99_MS),
		errors: ($WRK_ERRS)}" <<<"$out" 2>/dev/null)"
}

# bench_median JQ: the median of JQ over the JSON documents on stdin (one a
# line; those without it are skipped), to 3 decimals; nothing if none has it.
bench_median() {
	jq -s -r "[.[] | try ($1) catch null | select(. != null)] | sort |
		if length == 0 then empty elif length % 2 == 1 then .[length / 2 | floor]
		else (.[length / 2 - 1] + .[length / 2]) / 2 end | . * 1000 | round / 1000" 2>/dev/null
}

# bench_http_metric A B C JQ: JQ of the result of the point "A B C" in $RES
# (the median when it was measured in several rounds), or nothing.
bench_http_metric() {
	awk -v a="$1" -v b="$2" -v c="$3" '$1 == a && $2 == b && $3 == c {$1 = $2 = $3 = ""; print}' "$RES" |
		bench_median "$4"
}

# bench_http_rounds A B C JQ: JQ of every round of the point "A B C", space-separated.
bench_http_rounds() {
	awk -v a="$1" -v b="$2" -v c="$3" '$1 == a && $2 == b && $3 == c {$1 = $2 = $3 = ""; print}' "$RES" |
		jq -r "try ($4 // \"-\") catch \"-\"" 2>/dev/null | tr '\n' ' '
}

# bench_paired_ratio "A1 A2 ..." "B1 B2 ...": the median of the ratios Ai / Bi of
# the same rounds (two decimals), so that what changes from one round to the
# next (other guests on the host) weighs on both sides of each ratio; the
# ratio of the medians when the two lists are not of the same rounds.
bench_paired_ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		na = split(a, x, " "); nb = split(b, y, " ")
		if (na != nb) {
			for (i = 1; i <= na; i++) if (x[i] != "-") xa[++ka] = x[i] + 0
			for (i = 1; i <= nb; i++) if (y[i] != "-") yb[++kb] = y[i] + 0
			ma = med(xa, ka); mb = med(yb, kb)
			if (ma == "" || mb == "" || mb == 0) print "-"; else printf "%.2f\n", ma / mb
			exit
		}
		for (i = 1; i <= na; i++)
			if (x[i] != "-" && y[i] != "-" && y[i] + 0 != 0) r[++k] = x[i] / y[i]
		m = med(r, k)
		if (m == "") print "-"; else printf "%.2f\n", m
	}
	function med(v, n,   i, j, t) {
		if (n == 0) return ""
		for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
		return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
	}'
}

# bench_http_nf ARGS...: after bench_platform http, starts bh-http as the NF
# "http" (BENCH_HTTP_IP on port p0, document root DOCROOT) with ARGS (stack and
# bh-http options) and waits until it is attached and answers ARP; sets
# HTTP_PID. It starts with SERVER_CPU as its only CPU, so that every process
# it makes (the isolated design's zygote, before DPDK, and its workers) stays
# there, and once attached its every thread is put there too (DPDK gives its
# own threads every CPU; nflib pins the main thread to the service's core).
bench_http_nf() {
	local cpus rc
	cpus=$(taskset -p -c $$ | sed 's/.*: //')
	taskset -p -c "$SERVER_CPU" $$ >/dev/null
	bh_start_nf http http -s http -- --ip "$BENCH_HTTP_IP/24" --port p0 --root "$DOCROOT" "$@" >&2
	rc=$?
	taskset -p -c "$cpus" $$ >/dev/null
	[ "$rc" = 0 ] || die "bh-http did not attach"
	HTTP_PID=$NF_PID
	taskset -a -p -c "$SERVER_CPU" "$HTTP_PID" >/dev/null
	ip netns exec "$NS_A" ping -c 1 -W 1 "$BENCH_HTTP_IP" >/dev/null 2>&1
}

# bench_http_nf_stop: stops the NF bench_http_nf started (and so its workers).
bench_http_nf_stop() {
	kill -TERM "$HTTP_PID" 2>/dev/null
	wait "$HTTP_PID" 2>/dev/null
	sleep 0.3
}

# bench_bars DAT PNG YLABEL TITLE [HLINES]: a bar chart of DAT with PLOT (see
# bench_plot_tool). DAT lines: "SERIES X VALUE", or "PANEL SERIES X VALUE" for
# one panel per PANEL side by side; VALUE "-" is left out. X are file sizes (64,
# 1k, 1m: labelled 64 B, 1 KiB, 1 MiB). HLINES: y values of reference lines,
# the first dashed, the others dotted ("1" by default).
bench_bars() {
	local dat=$1 png=$2 ylabel=$3 title=$4 hlines=${5:-1} panels np p s i j files
	rm -f "$png"
	awk 'NF >= 3 && $NF != "-" {found = 1} END {exit !found}' "$dat" || { echo "$BENCH: no data to plot"; return 0; }
	case $PLOT in
	matplotlib)
		/usr/bin/python3 - "$dat" "$png" "$ylabel" "$title" "$hlines" <<'P'
import sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
dat, png, ylabel, title, hlines = sys.argv[1:6]
rows = []
for line in open(dat):
    f = line.split()
    if len(f) == 3:
        f = [""] + f
    if len(f) == 4 and f[3] != "-":
        rows.append(f)
panels = list(dict.fromkeys(r[0] for r in rows)) or [""]
fig, axes = plt.subplots(1, len(panels), figsize=(1 + 7 * len(panels), 4.4), squeeze=False)
def size(s):
    return s + " B" if s.isdigit() else s.upper()[:-1] + " " + s[-1].upper() + "iB"
for ax, p in zip(axes[0], panels):
    pr = [r for r in rows if r[0] == p]
    series = list(dict.fromkeys(r[1] for r in pr))
    xs = list(dict.fromkeys(r[2] for r in pr))
    w = 0.8 / max(1, len(series))
    for i, s in enumerate(series):
        pts = [(xs.index(r[2]) + (i - (len(series) - 1) / 2) * w, float(r[3])) for r in pr if r[1] == s]
        ax.bar([x for x, _ in pts], [y for _, y in pts], w, label=s)
        for x, y in pts:
            ax.text(x, y, f"{y:.2f}", ha="center", va="bottom", fontsize=7 if len(series) < 4 else 5,
                    rotation=0 if len(series) < 4 else 90)
    for j, h in enumerate(hlines.split()):
        ax.axhline(float(h), color="gray", linestyle="--" if j == 0 else ":", linewidth=1)
    ax.set_xticks(range(len(xs)), [size(x) for x in xs])
    ax.set_ylim(0, 1.15 * max([float(r[3]) for r in rows] + [float(h) for h in hlines.split()]))
    ax.set_ylabel(ylabel)
    ax.set_title(p or title)
    if len(panels) == 1:
        ax.legend(fontsize=8)
if len(panels) > 1:  # one legend for all, below
    fig.suptitle(title)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
else:
    fig.tight_layout()
fig.savefig(png, dpi=120)
P
		;;
	gnuplot)
		panels=$(awk 'NF == 4 {print $1} NF == 3 {print "-"}' "$dat" | awk '!seen[$0]++')
		np=$(wc -w <<<"$panels")
		{
			echo "set terminal pngcairo size $((100 + 700 * np)),480"
			echo "set output \"$png\""
			echo 'set style data histograms'
			echo 'set style histogram cluster gap 1'
			echo 'set style fill solid'
			# room above the highest bar and reference line, as with matplotlib
			awk -v h="$hlines" 'BEGIN {n = split(h, a, " "); for (i = 1; i <= n; i++) if (a[i] > m) m = a[i]}
				NF >= 3 && $NF != "-" && $NF + 0 > m {m = $NF + 0}
				END {printf "set yrange [0:%g]\n", 1.15 * m}' "$dat"
			echo 'set key outside bottom center horizontal' # below the bars, never on them
			echo 'set datafile missing "-"'
			echo "set ylabel \"$ylabel\""
			echo "set multiplot layout 1,$np title \"$([ "$panels" = - ] || echo "$title")\""
			i=0
			for p in $panels; do
				i=$((i + 1))
				echo "set title \"$([ "$p" = - ] && echo "$title" || echo "$p")\""
				files=
				j=0
				while read -r s; do
					j=$((j + 1))
					awk -v p="$p" -v s="$s" '((NF == 4 && $1 == p) || (NF == 3 && p == "-")) &&
						$(NF - 2) == s {print $(NF - 1), $NF}' "$dat" >"$dat.$i.$j"
					files+="\"$dat.$i.$j\" using 2:xtic(1) title \"$s\", "
				done < <(awk -v p="$p" '(NF == 4 && $1 == p) || (NF == 3 && p == "-") {print $(NF - 2)}' "$dat" |
					awk '!seen[$0]++')
				echo "plot $files $(for h in $hlines; do printf '%s with lines dt %s lc "gray" notitle, ' "$h" \
					"$([ "$h" = "${hlines%% *}" ] && echo 2 || echo 3)"; done | sed 's/, $//')"
			done
			echo 'unset multiplot'
		} | gnuplot
		rm -f "$dat".[0-9]*.[0-9]*
		;;
	esac
	[ -f "$png" ] && echo "$BENCH: plot in $png"
}
