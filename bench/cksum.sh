#!/usr/bin/env bash
# bench/cksum.sh: the TCP stack's Internet checksum (lib/tcp/tcp_cksum.c)
# against DPDK's rte_raw_cksum(), the same bytes at the same sizes, in one
# process pinned to one CPU (bh-cksum-bench). Prints a table (nanoseconds per
# sum, GB/s, DPDK's time over ours), writes it with a plot into bench/out/.
# See bench/README.md.
#
# Environment (all optional):
#   ROUNDS=5          runs of the program; the median of each figure is kept
#   ITERS=2000000     sums per size and side in a run (a sixteenth above 4 KiB)
#   CPU=1             the CPU it runs on
#   BH_BUILD=...      build directory (default: build/ at the top)
#   OUT=...           output directory (default: bench/out)
set -uo pipefail
BENCH=cksum
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROUNDS=${ROUNDS:-5}
ITERS=${ITERS:-2000000}
CPU=${CPU:-$SERVER_CPU}
BIN=$BH_BUILD/bench/bh-cksum-bench

[ -f "$BH_BUILD/build.ninja" ] || meson setup "$BH_BUILD" "$ROOT" >/dev/null || die "meson setup failed"
ninja -C "$BH_BUILD" bench/bh-cksum-bench >/dev/null || die "build failed"
mkdir -p "$OUT"
bench_plot_tool
RAW=$OUT/cksum.raw.txt
: >"$RAW"
for r in $(seq 1 "$ROUNDS"); do
	taskset -c "$CPU" "$BIN" "$ITERS" >>"$RAW" || die "bh-cksum-bench failed (round $r): the two sums disagree or it could not run"
done
# size ours_ns dpdk_ns per line, ROUNDS lines per size: medians (bench_median
# takes the numbers as JSON documents).
{
	echo "cksum: median of $ROUNDS runs, $ITERS sums per size (a sixteenth above 4 KiB), CPU $CPU; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
	printf '%-6s | %10s %8s | %10s %8s | %s\n' bytes "ours ns" "GB/s" "DPDK ns" "GB/s" "DPDK / ours"
} >"$OUT/cksum.txt"
: >"$OUT/cksum.dat"
for n in $(awk '{print $1}' "$RAW" | awk '!seen[$0]++'); do
	o=$(awk -v n="$n" '$1 == n {print $2}' "$RAW" | bench_median .)
	d=$(awk -v n="$n" '$1 == n {print $3}' "$RAW" | bench_median .)
	awk -v n="$n" -v o="$o" -v d="$d" 'BEGIN {printf "%-6s | %10.1f %8.2f | %10.1f %8.2f | %.2f\n", n, o, n / o, d, n / d, d / o}' >>"$OUT/cksum.txt"
	echo "lib/tcp $n $(bench_ratio "$d" "$o")" >>"$OUT/cksum.dat"
done
cat "$OUT/cksum.txt"
bench_bars "$OUT/cksum.dat" "$OUT/cksum.png" "time per sum, DPDK / ours" "Internet checksum: DPDK's rte_raw_cksum over lib/tcp's"
exit 0
