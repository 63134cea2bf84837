#!/usr/bin/env bash
# bench/speed.sh: bh-speed looping packets through chains of 1, 2, 4 and 8
# forwarders, next to a bare rte_ring burst ping-pong between two processes
# measured in the same run (the limit of this design). Prints a table, writes
# it with the raw lines and a plot into bench/out/. See bench/README.md.
#
# Environment (all optional):
#   NFS="1 2 4 8"  chain sizes (forwarders between speed and speed)
#   SECS=3         measured seconds per point (after WARMUP)
#   WARMUP=0.5     seconds looped before measuring
#   BATCH=128      packets in flight in speed
#   SIZE=64        packet size in bytes
#   PP_SECS=1.5    seconds per ring ping-pong run
#   PP_REPS=3      ping-pong runs per variant (the median is kept)
#   BH_BUILD=...   build directory (default: build/ at the top)
#   OUT=...        output directory (default: bench/out)
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export BH_BUILD=${BH_BUILD:-$ROOT/build}
OUT=${OUT:-$ROOT/bench/out}
NFS=${NFS:-"1 2 4 8"}
SECS=${SECS:-3}
WARMUP=${WARMUP:-0.5}
BATCH=${BATCH:-128}
SIZE=${SIZE:-64}
PP_SECS=${PP_SECS:-1.5}
PP_REPS=${PP_REPS:-3}
PP_BIN=$BH_BUILD/bench/bh-ring-pingpong

BENCH=speed.sh
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"


bench_prepare "ip jq meson ninja" mgr/bulkhead nfs/forward/bh-forward nfs/speed/bh-speed bench/bh-ring-pingpong
bench_plot_tool

# --- topology, manager and NFs: tests/e2e/lib.sh ----------------------------
# shellcheck source=/dev/null
. "$ROOT/tests/e2e/lib.sh"
bh_topology || die "cannot build the namespace topology"
PP_PREFIX=${PREFIX}pp
spd_cleanup() {
	local rc=$?
	rm -f /dev/hugepages/"${PP_PREFIX}"map_* 2>/dev/null
	rm -rf /var/run/dpdk/"$PP_PREFIX" 2>/dev/null
	(exit $rc)
	bh_teardown # kills what is left, removes namespaces, hugepage files, $WORK; exits
}
trap spd_cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$OUT"

# Median of the numbers on stdin.
median() { sort -g | awk '{v[NR]=$1} END {if (NR) print v[int((NR+1)/2)]; else print "nan"}'; }
field() { sed -n "s/.*[ ]$1=\([^ ]*\).*/\1/p"; } # field NAME < line

# --- the limit: bare ring ping-pong -----------------------------------------
pingpong() { # pingpong BURSTS: prints the median line's mpps and rtt
	local k=$1 lines=()
	for _ in $(seq 1 "$PP_REPS"); do
		local l
		l=$("$PP_BIN" --prefix "$PP_PREFIX" --burst 32 --bursts "$k" --duration "$PP_SECS" 2>>"$WORK/pp.err") ||
			{ cat "$WORK/pp.err" >&2; die "ring ping-pong failed"; }
		echo "$l" >>"$OUT/raw.txt"
		lines+=("$l")
	done
	local mpps rtt
	mpps=$(printf '%s\n' "${lines[@]}" | field mpps | median)
	rtt=$(printf '%s\n' "${lines[@]}" | grep " mpps=$mpps " | head -1 | field rtt_ns)
	echo "$mpps $rtt"
}

: >"$OUT/raw.txt"
echo "speed.sh: $(nproc) core(s), load average $(cut -d' ' -f1-3 /proc/loadavg); ring ping-pong ..."
read -r PP1_MPPS PP1_RTT < <(pingpong 1)
read -r PP4_MPPS PP4_RTT < <(pingpong 4)
if [ -z "${PP1_MPPS:-}" ] || [ "$PP1_MPPS" = nan ]; then die "no ring ping-pong result"; fi

# --- speed through chains of N forwarders -----------------------------------
stop_all() { # TERM the NFs, then the manager; KILL what is left; forget them
	local p
	for p in "${BH_PIDS[@]}"; do [ "$p" != "${MGR_PID:-}" ] && kill -TERM "$p" 2>/dev/null; done
	for _ in $(seq 1 30); do
		local alive=0
		for p in "${BH_PIDS[@]}"; do [ "$p" != "${MGR_PID:-}" ] && kill -0 "$p" 2>/dev/null && alive=1; done
		[ $alive = 0 ] && break
		sleep 0.1
	done
	[ -n "${MGR_PID:-}" ] && kill -TERM "$MGR_PID" 2>/dev/null
	for _ in $(seq 1 50); do kill -0 "${MGR_PID:-0}" 2>/dev/null || break; sleep 0.1; done
	for p in "${BH_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
	wait 2>/dev/null
	BH_PIDS=()
	MGR_PID=
	rm -f /dev/hugepages/"${PREFIX}"map_* 2>/dev/null
	rm -rf /var/run/dpdk/"$PREFIX" 2>/dev/null
}

run_point() { # run_point N: sets LINE to speed's summary line (empty: failed)
	local n=$1 hops='"speed"' cfg=$WORK/cfg$1.json
	LINE=
	for i in $(seq 1 "$n"); do hops+=",\"f$i\""; done
	hops+=',"speed"'
	printf '{"limits":{"nfs":16},"stats":{"interval_ms":1000},"chains":[{"name":"loop","hops":[%s]}]}' \
		"$hops" | bh_config "$cfg"
	bh_start_mgr "$cfg" || return 1
	for i in $(seq 1 "$n"); do bh_start_nf "f$i" forward -s "f$i" || return 1; done
	bh_start_nf speed speed -s speed -- --chain loop --batch "$BATCH" --size "$SIZE" \
		--duration "$SECS" --warmup "$WARMUP" --interval 1 || return 1
	local pid=$NF_PID limit
	limit=$(awk -v s="$SECS" -v w="$WARMUP" 'BEGIN {print int((s + w + 20) * 10)}')
	for _ in $(seq 1 "$limit"); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$pid" 2>/dev/null; then
		echo "speed.sh: bh-speed did not finish; stopping it" >&2
		kill -INT "$pid"
		sleep 1
	fi
	sed 's/^/  /' "$WORK/speed.log"
	LINE=$(grep '^speed: nfs=' "$WORK/speed.log" | tail -1)
}

declare -A RES
for n in $NFS; do
	echo "speed.sh: $n NF(s) ..."
	run_point "$n"
	stop_all
	[ -n "$LINE" ] || { echo "speed.sh: no result for $n NF(s) (logs: KEEP_WORK=1, $WORK)" >&2; continue; }
	echo "$LINE" >>"$OUT/raw.txt"
	RES[$n]=$LINE
done

# --- table, data file, plot ---------------------------------------------------
TABLE=$OUT/speed.txt
DATA=$OUT/speed.dat
{
	echo "# bh-speed: batch $BATCH, $SIZE-byte packets, ${SECS}s a point; $(nproc) cores shared by"
	echo "# the manager, speed and N forwarders (they time-share); load average $(cut -d' ' -f1-3 /proc/loadavg)"
	printf '# ring ping-pong (2 processes, burst 32):  32 in flight %s Mpps, rtt %s ns;  128 in flight %s Mpps, rtt %s ns\n' \
		"$PP1_MPPS" "$PP1_RTT" "$PP4_MPPS" "$PP4_RTT"
	printf '%4s %5s %8s %10s %10s %10s %10s %8s %9s %5s\n' NFs hops Mpps lat_mean lat_p50 lat_p99 per_hop \
		"vs_ring" "vs_ring128" lost
} >"$TABLE"
echo "# nfs hops mpps lat_mean_ns lat_p50_ns lat_p99_ns per_hop_ns ring32_mpps ring128_mpps ring32_rtt_ns ring128_rtt_ns" >"$DATA"
for n in $NFS; do
	l=${RES[$n]:-}
	[ -n "$l" ] || { printf '%4s %5s %8s\n' "$n" - failed >>"$TABLE"; continue; }
	read -r hops mpps mean p50 p99 ph lost < <(for f in hops mpps lat_ns_mean lat_ns_p50 lat_ns_p99 per_hop_ns lost; do
		echo "$l" | field "$f"; done | paste -sd' ')
	awk -v n="$n" -v h="$hops" -v m="$mpps" -v a="$mean" -v b="$p50" -v c="$p99" -v p="$ph" -v l="$lost" \
		-v r1="$PP1_MPPS" -v r4="$PP4_MPPS" \
		'BEGIN {printf "%4d %5d %8.3f %10.0f %10.0f %10.0f %10.1f %7.2fx %8.2fx %5d\n", n, h, m, a, b, c, p, m / r1, m / r4, l}' >>"$TABLE"
	echo "$n $hops $mpps $mean $p50 $p99 $ph $PP1_MPPS $PP4_MPPS $PP1_RTT $PP4_RTT" >>"$DATA"
done
echo "   (latencies in ns; per_hop = mean loop latency / hops; vs_ring = Mpps / ring ping-pong Mpps)" >>"$TABLE"
echo
cat "$TABLE"

TITLE="bh-speed, batch $BATCH, $SIZE B, $(nproc) cores shared by all processes ($(date -u +%Y-%m-%dT%H:%MZ))"
if [ "$(grep -vc '^#' "$DATA")" -gt 0 ]; then
	case $PLOT in
	matplotlib)
		/usr/bin/python3 - "$DATA" "$OUT/speed.png" "$TITLE" <<'EOF' || echo "speed.sh: plot failed" >&2
import sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
rows = [l.split() for l in open(sys.argv[1]) if l.strip() and not l.startswith("#")]
n = [int(r[0]) for r in rows]
mpps = [float(r[2]) for r in rows]
p50 = [float(r[4]) for r in rows]
p99 = [float(r[5]) for r in rows]
ph = [float(r[6]) for r in rows]
r32, r128 = float(rows[0][7]), float(rows[0][8])
rtt32 = float(rows[0][9])
fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
fig.suptitle(sys.argv[3], fontsize=9)
a.plot(n, mpps, "o-", label="speed loop")
a.axhline(r32, color="r", ls="--", label="ring ping-pong, 32 in flight")
a.axhline(r128, color="m", ls=":", label="ring ping-pong, 128 in flight")
a.axhline(r32 / 2, color="r", ls="-.", lw=0.8, label="goal: half of the 32 ping-pong")
a.set_xlabel("NFs in the chain"); a.set_ylabel("Mpps"); a.set_xticks(n); a.set_ylim(bottom=0)
a.legend(fontsize=7); a.set_title("Throughput")
b.plot(n, p50, "o-", label="loop p50")
b.plot(n, p99, "s-", label="loop p99")
b.plot(n, ph, "^-", label="per hop (mean / hops)")
b.axhline(rtt32, color="r", ls="--", label="ring ping-pong round trip, 32 in flight")
b.set_yscale("log"); b.set_xlabel("NFs in the chain"); b.set_ylabel("ns"); b.set_xticks(n)
b.legend(fontsize=7); b.set_title("Latency")
fig.tight_layout(rect=(0, 0, 1, 0.94))
fig.savefig(sys.argv[2], dpi=100)
EOF
		;;
	gnuplot)
		gnuplot <<EOF || echo "speed.sh: plot failed" >&2
set terminal png size 1000,400
set output "$OUT/speed.png"
set multiplot layout 1,2 title "$TITLE"
set xlabel "NFs in the chain"; set ylabel "Mpps"; set yrange [0:*]; set key top right
plot "$DATA" using 1:3 with linespoints title "speed loop", \
     "$DATA" using 1:8 with lines dt 2 title "ring ping-pong, 32 in flight", \
     "$DATA" using 1:9 with lines dt 3 title "ring ping-pong, 128 in flight"
set ylabel "ns"; set logscale y; set yrange [*:*]
plot "$DATA" using 1:5 with linespoints title "loop p50", \
     "$DATA" using 1:6 with linespoints title "loop p99", \
     "$DATA" using 1:7 with linespoints title "per hop", \
     "$DATA" using 1:10 with lines dt 2 title "ring ping-pong round trip, 32 in flight"
unset multiplot
EOF
		;;
	esac
	[ -f "$OUT/speed.png" ] && echo "plot: $OUT/speed.png"
fi
echo "table: $TABLE  raw: $OUT/raw.txt"
