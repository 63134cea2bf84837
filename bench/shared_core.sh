#!/usr/bin/env bash
# bench/shared_core.sh: shared-core execution. Three measurements, each in
# shared mode (NFs sleep on their futex doorbell when idle) next to busy
# polling ("mode": "poll"), in the same run:
#
#   1. chain: bh-speed (alone on one CPU) loops packets through N = 1, 8, 64,
#      256 forwarders all pinned to ONE other CPU: Mpps, loop latency p50/p99;
#   2. wake: batch 1 through one forwarder: the doorbell wake-up cost per hop
#      = (loop shared - loop poll) / hops, at p50 and p99, next to how often
#      the NFs really slept; once as is ("plain": most hops find the NF still
#      spinning) and once with the forwarder pausing so that every hop finds
#      its NF asleep ("asleep"); and, if perf works, the kernel's part of it;
#   3. idle: CPU time of the manager and IDLE_NFS idle NFs over 10 s.
#
# Prints tables, writes bench/out/shared_core.{txt,dat,png} and the raw lines
# in shared_core.raw.txt. See bench/README.md.
#
# Environment (all optional):
#   NFS="1 8 64 256"   chain sizes (forwarders between speed and speed)
#   SECS=3             measured seconds per point (after WARMUP)
#   WARMUP=0.5         seconds looped before measuring
#   BATCH=128          packets in flight in speed (chain measurement)
#   SIZE=64            packet size in bytes
#   INTERVAL=1         bh-speed's report interval; it gives up after 3 with
#                      nothing back (a loop slower than 3 s fails)
#   POLL_LONG_N=64     poll points with at least this many NFs get
#   POLL_LONG_SECS=15  seconds and a report interval of POLL_LONG_INTERVAL=5
#                      (they give up when nothing came back in warmup + 2
#                      intervals): a loop of 64 polling NFs takes seconds
#   START_BATCH=16     forwarders started at once (EAL start-up is CPU-heavy)
#   WAKE_SECS=4        measured seconds per wake-up run (batch 1, 1 forwarder)
#   WAKE_WORK_US=20    pause of the forwarder in the "asleep" wake-up variant
#   IDLE_NFS=64        idle platform size; measured on the chain run with that
#                      many NFs, after bh-speed left (a run of its own if that
#                      N is not in NFS)
#   IDLE_SECS=10       idle window in shared mode
#   IDLE_POLL_SECS=3   idle window in poll mode (scaled to IDLE_SECS)
#   PERF=1             also measure the kernel's part of a wake-up with perf
#                      (sched_waking -> sched_switch; skipped if perf is
#                      missing or refuses)
#   PARTS="chain wake idle"  which measurements to make
#   NF_CPU=last CPU, SPEED_CPU=0: where the forwarders and speed are pinned
#   BH_BUILD=...       build directory (default: build/ at the top)
#   OUT=...            output directory (default: bench/out)
#   KEEP_WORK=1        keep the logs of the manager and the NFs
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export BH_BUILD=${BH_BUILD:-$ROOT/build}
OUT=${OUT:-$ROOT/bench/out}
NFS=${NFS:-"1 8 64 256"}
SECS=${SECS:-3}
WARMUP=${WARMUP:-0.5}
BATCH=${BATCH:-128}
SIZE=${SIZE:-64}
INTERVAL=${INTERVAL:-1}
START_BATCH=${START_BATCH:-16}
WAKE_SECS=${WAKE_SECS:-4}
WAKE_WORK_US=${WAKE_WORK_US:-20}
IDLE_NFS=${IDLE_NFS:-64}
IDLE_SECS=${IDLE_SECS:-10}
IDLE_POLL_SECS=${IDLE_POLL_SECS:-3}
PERF=${PERF:-1}
PARTS=${PARTS:-"chain wake idle"}
POLL_LONG_N=${POLL_LONG_N:-64}
POLL_LONG_SECS=${POLL_LONG_SECS:-15}
POLL_LONG_INTERVAL=${POLL_LONG_INTERVAL:-5}
NF_CPU=${NF_CPU:-$(($(nproc) - 1))}
SPEED_CPU=${SPEED_CPU:-0}
MODES=${MODES:-"shared poll"}

BENCH=shared_core.sh
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
say() { echo "shared_core.sh: $*"; }
has_part() { [[ " $PARTS " == *" $1 "* ]]; }

[ "$(nproc)" -ge 2 ] || die "needs 2 CPUs: one for bh-speed, one shared by the forwarders"
[ "$NF_CPU" != "$SPEED_CPU" ] || die "NF_CPU and SPEED_CPU must differ"
T0=$SECONDS
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

bench_prepare "ip jq meson ninja awk taskset" mgr/bulkhead nfs/forward/bh-forward nfs/speed/bh-speed
bench_plot_tool

# --- topology, manager and NFs: tests/e2e/lib.sh ----------------------------
# shellcheck source=/dev/null
. "$ROOT/tests/e2e/lib.sh"
bh_topology || die "cannot build the namespace topology"
trap bh_teardown EXIT # kills what is left, removes namespaces, hugepage files, $WORK
trap 'exit 130' INT TERM
mkdir -p "$OUT"
RAW=$OUT/shared_core.raw.txt
: >"$RAW"

field() { sed -n "s/.*[ ]$1=\([^ ]*\).*/\1/p"; } # field NAME < line
# Quantile q of the numbers on stdin (nearest rank).
quantile() { sort -g | awk -v q="$1" '{v[NR]=$1} END {if (!NR) {print "nan"; exit} i=int(q*NR+0.999999); if (i<1) i=1; print v[i]}'; }

# Limits for the largest chain: NFs, services (f1..fN and speed), hops.
maxn=$IDLE_NFS
for n in $NFS; do [ "$n" -gt "$maxn" ] && maxn=$n; done
LIMIT=$((maxn + 44 > 300 ? maxn + 44 : 300))

# write_cfg FILE N MODE SPEED_MODE: chain ["speed", f1..fN, "speed"]; every
# forwarder on NF_CPU in MODE, speed alone on SPEED_CPU in SPEED_MODE.
write_cfg() {
	jq -n --argjson n "$2" --arg mode "$3" --arg smode "$4" --argjson c "$NF_CPU" \
		--argjson sc "$SPEED_CPU" --argjson lim "$LIMIT" \
		'{limits: {nfs: $lim, services: $lim, hops: $lim}, stats: {interval_ms: 1000},
		  services: ([{name: "speed", mode: $smode, cores: [$sc]}] +
		             [range(1; $n + 1) | {name: "f\(.)", mode: $mode, cores: [$c]}]),
		  chains: [{name: "loop", hops: (["speed"] + [range(1; $n + 1) | "f\(.)"] + ["speed"])}]}' |
		bh_config "$1"
}

# start_forwarders N: f1..fN, START_BATCH at a time, each batch attached before
# the next starts. Sets FWD_PIDS. Returns 1 if one did not attach.
start_forwarders() {
	local n=$1 i=1 j k
	FWD_PIDS=()
	while [ "$i" -le "$n" ]; do
		j=$((i + START_BATCH - 1))
		[ "$j" -gt "$n" ] && j=$n
		for k in $(seq "$i" "$j"); do
			"$BH_BUILD/nfs/forward/bh-forward" -P "$PREFIX" -s "f$k" -n "f$k" -- ${FWD_ARGS:-} >"$WORK/f$k.log" 2>&1 &
			BH_PIDS+=($!)
			FWD_PIDS+=($!)
		done
		local want=$((j - i + 1)) got=0
		for _ in $(seq 1 600); do # 60 s a batch at most
			got=$(for k in $(seq "$i" "$j"); do echo "$WORK/f$k.log"; done |
				xargs grep -l 'attached as NF' 2>/dev/null | wc -l)
			[ "$got" -ge "$want" ] && break
			kill -0 "$MGR_PID" 2>/dev/null || break
			sleep 0.1
		done
		if [ "$got" -lt "$want" ]; then
			echo "shared_core.sh: only $got of forwarders f$i..f$j attached:" >&2
			for k in $(seq "$i" "$j"); do grep -q 'attached as NF' "$WORK/f$k.log" || sed "s/^/  f$k: /" "$WORK/f$k.log" >&2; done
			return 1
		fi
		i=$((j + 1))
	done
}

# How many of the pids are pinned to exactly CPU $1.
count_pinned() {
	local cpu=$1 p c=0
	shift
	for p in "$@"; do
		[ "$(awk '/Cpus_allowed_list/ {print $2}' "/proc/$p/status" 2>/dev/null)" = "$cpu" ] && c=$((c + 1))
	done
	echo "$c"
}

stop_all() { # TERM the NFs, then the manager; KILL what is left; forget them
	local p alive
	for p in "${BH_PIDS[@]}"; do [ "$p" != "${MGR_PID:-}" ] && kill -TERM "$p" 2>/dev/null; done
	# Polling NFs sharing a core get one time slice each per round: give them time.
	for _ in $(seq 1 $((50 + ${#BH_PIDS[@]} / 4))); do
		alive=0
		for p in "${BH_PIDS[@]}"; do [ "$p" != "${MGR_PID:-}" ] && kill -0 "$p" 2>/dev/null && { alive=1; break; }; done
		[ $alive = 0 ] && break
		sleep 0.1
	done
	[ -n "${MGR_PID:-}" ] && kill -TERM "$MGR_PID" 2>/dev/null
	for _ in $(seq 1 50); do kill -0 "${MGR_PID:-0}" 2>/dev/null || break; sleep 0.1; done
	for p in "${BH_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
	wait 2>/dev/null
	BH_PIDS=()
	FWD_PIDS=()
	MGR_PID=
	rm -f /dev/hugepages/"${PREFIX}"map_* 2>/dev/null
	rm -rf /var/run/dpdk/"$PREFIX" 2>/dev/null
}

# setup N MODE SPEED_MODE: manager and N forwarders. Sets START_S (seconds the
# forwarders took to start) and PINNED.
setup() {
	local n=$1 mode=$2 smode=$3 cfg=$WORK/cfg.json t
	rm -f "$WORK"/f*.log # the previous run's
	write_cfg "$cfg" "$n" "$mode" "$smode"
	bh_start_mgr "$cfg" || return 1
	t=$(date +%s.%N)
	start_forwarders "$n" || return 1
	START_S=$(awk -v a="$t" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
	PINNED=$(count_pinned "$NF_CPU" "${FWD_PIDS[@]}")
	[ "$PINNED" -eq "$n" ] || echo "shared_core.sh: warning: only $PINNED of $n forwarders pinned to CPU $NF_CPU" >&2
	if [ "$mode" = poll ]; then
		local np
		np=$(for k in $(seq 1 "$n"); do echo "$WORK/f$k.log"; done | xargs grep -l ', polling' 2>/dev/null | wc -l)
		[ "$np" -eq "$n" ] || echo "shared_core.sh: warning: only $np of $n forwarders report polling" >&2
	fi
}

# run_speed BATCH SECS [HOOK [INTERVAL]]: bh-speed through the chain, HOOK run
# once it is attached; sets LINE to its summary line (empty: no result;
# "speed: FAILED ..." if the loop broke) and SPEED_PID.
run_speed() {
	local batch=$1 secs=$2 hook=${3:-} ivl=${4:-$INTERVAL} pid limit
	LINE=
	bh_start_nf speed speed -s speed -- --chain loop --batch "$batch" --size "$SIZE" \
		--duration "$secs" --warmup "$WARMUP" --interval "$ivl" || return 1
	pid=$NF_PID
	SPEED_PID=$pid
	[ "$(count_pinned "$SPEED_CPU" "$pid")" = 1 ] ||
		{ SPEED_UNPINNED=1; echo "shared_core.sh: warning: bh-speed is not pinned to CPU $SPEED_CPU" >&2; }
	[ -n "$hook" ] && $hook "$pid"
	limit=$(awk -v s="$secs" -v w="$WARMUP" -v i="$ivl" 'BEGIN {print int((s + w + 4 * i + 30) * 10)}')
	for _ in $(seq 1 "$limit"); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$pid" 2>/dev/null; then
		echo "shared_core.sh: bh-speed did not finish; stopping it" >&2
		kill -INT "$pid"
		sleep 2
	fi
	wait "$pid" 2>/dev/null
	sed 's/^/    /' "$WORK/speed.log"
	LINE=$(grep -E '^speed: (FAILED )?nfs=' "$WORK/speed.log" | tail -1)
}

# cpu_sample: "time manager_ticks forwarder_ticks manager_ns forwarder_ns": CPU
# time as utime + stime in clock ticks (/proc/PID/stat) and as the scheduler's
# exact run time (/proc/PID/schedstat: with 64 processes, rounding to ticks
# is worth up to 64 ticks a window). Read on SPEED_CPU: on NF_CPU, among
# polling NFs, the reads themselves would wait for time slices.
cpu_sample() {
	local p files=("/proc/$MGR_PID/stat" "/proc/$MGR_PID/schedstat")
	for p in "${FWD_PIDS[@]}"; do files+=("/proc/$p/stat"); done
	for p in "${FWD_PIDS[@]}"; do files+=("/proc/$p/schedstat"); done
	taskset -c "$SPEED_CPU" sh -c 'date +%s.%N; cat "$@" 2>/dev/null; date +%s.%N' - "${files[@]}" |
		awk -v mgr="$MGR_PID" 'NR == 1 {t0 = $1; next} NF == 1 {t1 = $1; next}
			NF == 3 {if (n3++) fn += $1; else mn = $1; next}
			$1 == mgr {m += $14 + $15; next} {f += $14 + $15}
			END {printf "%.6f %d %d %.0f %.0f\n", (t0 + t1) / 2, m, f, mn, fn}'
}

# idle_cpu MODE: CPU of the manager and the forwarders now running, over the
# mode's window, scaled to IDLE_SECS; one "idle ..." line in IDLE_RES[MODE].
idle_cpu() {
	local mode=$1 win=$IDLE_SECS hz t0 m0 f0 mn0 fn0 t1 m1 f1 mn1 fn1 asleep
	[ "$mode" = poll ] && win=$IDLE_POLL_SECS
	hz=$(getconf CLK_TCK)
	sleep 2 # let bh-speed's departure settle
	read -r t0 m0 f0 mn0 fn0 < <(cpu_sample)
	sleep "$win"
	read -r t1 m1 f1 mn1 fn1 < <(cpu_sample)
	bh_snap
	asleep=$(bh_stat '[.nfs[] | select(.sleeping)] | length')
	IDLE_RES[$mode]=$(awk -v md="$mode" -v n="${#FWD_PIDS[@]}" -v s="$IDLE_SECS" -v hz="$hz" -v a="$asleep" \
		-v t0="$t0" -v t1="$t1" -v m="$((m1 - m0))" -v f="$((f1 - f0))" -v mn="$((mn1 - mn0))" -v fn="$((fn1 - fn0))" \
		'BEGIN {w = t1 - t0; k = s / w
			printf "idle mode=%s nfs=%d window_s=%.2f mgr_s=%.3f nfs_s=%.3f total_s=%.3f core_pct=%.1f " \
				"sched_mgr_s=%.4f sched_nfs_s=%.4f sched_total_s=%.4f sched_core_pct=%.2f asleep=%d per_s=%g\n",
			md, n, w, m / hz * k, f / hz * k, (m + f) / hz * k, (m + f) / hz / w * 100,
			mn / 1e9 * k, fn / 1e9 * k, (mn + fn) / 1e9 * k, (mn + fn) / 1e9 / w * 100, a, s}')
	echo "  ${IDLE_RES[$mode]}"
	echo "${IDLE_RES[$mode]}" >>"$RAW"
}

declare -A RES START PIN IDLE_RES WAKE SLEEPS SCHED
SPEED_UNPINNED=

# --- 1 (and 3): chains of N forwarders on one CPU ----------------------------
if has_part chain; then
	for n in $NFS; do
		for mode in $MODES; do
			say "chain: $n forwarder(s) on CPU $NF_CPU, $mode ..."
			if setup "$n" "$mode" shared; then
				START[$n,$mode]=$START_S
				PIN[$n,$mode]=$PINNED
				say "  $n forwarder(s) started in ${START_S}s, $PINNED pinned to CPU $NF_CPU"
				if [ "$mode" = poll ] && [ "$n" -ge "$POLL_LONG_N" ]; then
					run_speed "$BATCH" "$POLL_LONG_SECS" "" "$POLL_LONG_INTERVAL"
				else
					run_speed "$BATCH" "$SECS"
				fi
				[ -n "$LINE" ] && { echo "chain mode=$mode start_s=$START_S $LINE" >>"$RAW"; RES[$n,$mode]=$LINE; }
				[ -n "$LINE" ] || echo "shared_core.sh: no result for $n NF(s), $mode (logs: KEEP_WORK=1, $WORK)" >&2
				if has_part idle && [ "$n" = "$IDLE_NFS" ]; then
					say "idle: manager + $n forwarders, $mode ..."
					idle_cpu "$mode"
				fi
			fi
			stop_all
		done
	done
fi

# --- 3, if the chain part did not leave the idle measurement done -------------
if has_part idle; then
	for mode in $MODES; do
		[ -n "${IDLE_RES[$mode]:-}" ] && continue
		say "idle: manager + $IDLE_NFS forwarders, $mode ..."
		if setup "$IDLE_NFS" "$mode" shared; then
			idle_cpu "$mode"
		fi
		stop_all
	done
fi

# --- 2: doorbell wake-up, batch 1 through one forwarder ------------------------
# The stats file is written every second: two snapshots inside the measured
# window give how often each NF went to sleep per packet it received.
snap_counts() { # snap_counts FILE: "speed_rx speed_sleeps f1_rx f1_sleeps"
	jq -r '[(.nfs[] | select(.name == "speed") | .rx_pkts, .loop.sleeps),
		(.nfs[] | select(.name == "f1") | .rx_pkts, .loop.sleeps)] | map(tostring) | join(" ")' "$1"
}
wake_sample() { # hook of run_speed: sleeps per packet of speed and f1 inside the window
	local a b
	sleep "$(awk -v w="$WARMUP" 'BEGIN {print w + 0.3}')"
	bh_snap && cp "$WORK/snap.json" "$WORK/snap1.json"
	sleep "$(awk -v s="$WAKE_SECS" 'BEGIN {print (s > 3 ? s - 2.5 : 0.5)}')"
	bh_snap && cp "$WORK/snap.json" "$WORK/snap2.json"
	a=$(snap_counts "$WORK/snap1.json")
	b=$(snap_counts "$WORK/snap2.json")
	SAMPLE=$(echo "$a $b" | awk 'NF == 8 {
		printf "speed_sleeps_per_pkt=%.3f f1_sleeps_per_pkt=%.3f", ($6 - $2) / (($5 - $1) > 0 ? $5 - $1 : 1),
			($8 - $4) / (($7 - $3) > 0 ? $7 - $3 : 1)}')
	[ -n "$SAMPLE" ] || SAMPLE="speed_sleeps_per_pkt=nan f1_sleeps_per_pkt=nan"
	echo "    $SAMPLE"
}

# perf: the kernel's wake-up latency of the doorbell, from the producer's futex
# wake (sched_waking, in the producer) to the sleeper being on its CPU
# (sched_switch), for the wake-ups of speed by f1 and of f1 by speed only
# (not f1's own nanosleep timer). The futex call's entry in the producer and
# the return to user space in the sleeper are not in it.
perf_ok() { [ "$PERF" = 1 ] && command -v perf >/dev/null; }
perf_hook() {
	sleep "$(awk -v w="$WARMUP" 'BEGIN {print w + 0.3}')"
	perf record -q -a -e sched:sched_waking -e sched:sched_switch -o "$WORK/perf.data" -- sleep 1 \
		>"$WORK/perf.log" 2>&1
}
perf_delays() { # perf_delays PID_A PID_B: "p50 p99 count" (ns) of A waking B and B waking A
	perf script -i "$WORK/perf.data" --ns -F pid,time,event,trace 2>>"$WORK/perf.log" |
		awk -v a="$1" -v b="$2" '
		$3 == "sched:sched_waking:" && ($1 == a || $1 == b) {
			for (i = 4; i <= NF; i++) if ($i ~ /^pid=/) t = substr($i, 5)
			if ((t == a || t == b) && t != $1) since[t] = $2 + 0
		}
		$3 == "sched:sched_switch:" {
			for (i = 4; i <= NF; i++) if ($i ~ /^next_pid=/) t = substr($i, 10)
			if (t in since) { printf "%.0f\n", ($2 - since[t]) * 1e9; delete since[t] }
		}' >"$WORK/delays.txt"
	[ -s "$WORK/delays.txt" ] || return 1
	echo "$(quantile 0.50 <"$WORK/delays.txt") $(quantile 0.99 <"$WORK/delays.txt") $(wc -l <"$WORK/delays.txt")"
}

# Variants: "plain", the loop as it is; "asleep", f1 spends WAKE_WORK_US in
# nanosleep per packet (bh-forward --work-us, its timer slack cut to 1 ns so
# the pause is steady), which leaves each NF idle long enough to go to sleep
# on its doorbell before its next packet: every hop then wakes a sleeper.
if has_part wake; then
	for v in plain asleep; do
		for mode in $MODES; do
			FWD_ARGS=
			[ "$v" = asleep ] && FWD_ARGS="--work-us $WAKE_WORK_US"
			say "wake ($v): batch 1, 1 forwarder on CPU $NF_CPU${FWD_ARGS:+ ($FWD_ARGS)}, speed on CPU $SPEED_CPU, both $mode ..."
			SAMPLE=
			if setup 1 "$mode" "$mode"; then
				[ "$v" = asleep ] && { echo 1 >"/proc/${FWD_PIDS[0]}/timerslack_ns"; } 2>/dev/null
				run_speed 1 "$WAKE_SECS" wake_sample
				[ -n "$LINE" ] && { WAKE[$v,$mode]=$LINE; SLEEPS[$v,$mode]=$SAMPLE; echo "wake variant=$v mode=$mode $SAMPLE $LINE" >>"$RAW"; }
			fi
			stop_all
		done
	done
	if perf_ok; then
		say "wake (asleep): the same, shared, under perf record (1 s) ..."
		FWD_ARGS="--work-us $WAKE_WORK_US"
		if setup 1 shared shared; then
			echo 1 2>/dev/null >"/proc/${FWD_PIDS[0]}/timerslack_ns"
			f1pid=${FWD_PIDS[0]}
			run_speed 1 "$WAKE_SECS" perf_hook
			if [ -s "$WORK/perf.data" ] && d=$(perf_delays "$f1pid" "$SPEED_PID"); then
				SCHED[asleep]=$d
				echo "wake-sched variant=asleep mode=shared $(echo "$d" | awk '{printf "sched_p50_ns=%s sched_p99_ns=%s wakeups=%s", $1, $2, $3}')" >>"$RAW"
				say "  kernel wake-up latency, futex wake -> running (p50 p99 ns, wake-ups): $d"
			else
				echo "shared_core.sh: perf gave nothing (see KEEP_WORK=1 $WORK/perf.log)" >&2
			fi
		fi
		stop_all
		FWD_ARGS=
	fi
fi

# --- tables, data file, plot --------------------------------------------------
TABLE=$OUT/shared_core.txt
DATA=$OUT/shared_core.dat
ELAPSED=$((SECONDS - T0))

# kv LINE NAME: the value of NAME=value in a line of NAME=value words.
kv() { echo " $1" | field "$2"; }

# chain_fields LINE: "ok mpps p50_us p99_us waited_s"; ok: 1 measured, 0 the
# loop broke with nothing back, - no line. mpps from pkts / secs (speed prints
# 3 decimals, too few for polling NFs that share a core).
chain_fields() {
	[ -n "$1" ] || { echo "- nan nan nan nan"; return; }
	echo "$1" | awk -v w="$WARMUP" '{
		for (i = 1; i <= NF; i++) if (split($i, kv, "=") == 2) v[kv[1]] = kv[2]
		ok = ($2 != "FAILED" || v["pkts"] > 0) ? 1 : 0
		printf "%d %.6g %.6g %.6g %.2f\n", ok, (v["secs"] > 0 ? v["pkts"] / v["secs"] / 1e6 : 0),
			v["lat_ns_p50"] / 1e3, v["lat_ns_p99"] / 1e3, v["secs"] + w }'
}

{
	echo "# shared-core execution ($(date -u +%Y-%m-%dT%H:%MZ)): $(nproc) CPUs, load average $LOAD0 before the run, which took ${ELAPSED}s"
	echo "# shared: NFs sleep on their futex doorbell when idle; poll: \"mode\":\"poll\", they never sleep."
	echo "# Noisy: the machine is shared with other work; compare the two modes of one run, not runs."
} >"$TABLE"
: >"$DATA"

if has_part chain; then
	{
		echo
		echo "## 1. Chain throughput: N forwarders pinned to CPU $NF_CPU, bh-speed alone on CPU $SPEED_CPU, chain"
		echo "##    [speed, f1..fN, speed], batch $BATCH, $SIZE B, ${SECS}s a point (poll with N >= $POLL_LONG_N: ${POLL_LONG_SECS}s);"
		echo "##    p50/p99: loop latency (speed back to speed) in us; start: seconds to start the N forwarders"
		printf '%5s %5s | %10s %11s %11s %6s | %10s %11s %11s %6s | %9s\n' NFs hops \
			"shr Mpps" "shr p50" "shr p99" start "poll Mpps" "poll p50" "poll p99" start "shr/poll"
	} >>"$TABLE"
	echo "# chain: nfs hops shared_mpps shared_p50_us shared_p99_us shared_start_s poll_mpps poll_p50_us poll_p99_us poll_start_s shared_over_poll poll_waited_s poll_ok" >>"$DATA"
	for n in $NFS; do
		read -r sok smpps sp50 sp99 _ < <(chain_fields "${RES[$n,shared]:-}")
		read -r pok pmpps pp50 pp99 pwin < <(chain_fields "${RES[$n,poll]:-}")
		awk -v n="$n" -v sok="$sok" -v sm="$smpps" -v s5="$sp50" -v s9="$sp99" -v ss="${START[$n,shared]:-nan}" \
			-v pok="$pok" -v pm="$pmpps" -v p5="$pp50" -v p9="$pp99" -v ps="${START[$n,poll]:-nan}" -v pw="$pwin" \
			-v b="$BATCH" -v data="$DATA" 'BEGIN {
			ratio = "n/a"; r = "nan"
			if (sok == "1" && pok == "1" && pm > 0) { r = sm / pm; ratio = sprintf("%.3gx", r) }
			else if (sok == "1" && pok == "0" && pw > 0) ratio = sprintf(">%.3gx", sm / (b / pw / 1e6))
			if (sok == "1") sh = sprintf("%10.4g %11.1f %11.1f", sm, s5, s9)
			else sh = sprintf("%10s %11s %11s", sok == "0" ? "0" : "failed", "-", "-")
			if (pok == "1") po = sprintf("%10.4g %11.1f %11.1f", pm, p5, p9)
			else if (pok == "0") po = sprintf("%10s %11s %11s", "0", sprintf(">%.1fs", pw), "-")
			else po = sprintf("%10s %11s %11s", "failed", "-", "-")
			printf "%5d %5d | %s %6s | %s %6s | %9s\n", n, n + 1, sh, ss, po, ps, ratio
			printf "%d %d %s %s %s %s %s %s %s %s %s %s %s\n", n, n + 1, sok == "1" ? sm : "nan",
				sok == "1" ? s5 : "nan", sok == "1" ? s9 : "nan", ss,
				pok == "1" ? pm : (pok == "0" ? 0 : "nan"), pok == "1" ? p5 : "nan",
				pok == "1" ? p9 : "nan", ps, r, pw, pok >> data
		}' >>"$TABLE"
	done
	unpinned=
	[ -n "$SPEED_UNPINNED" ] && unpinned=" bh-speed"
	for n in $NFS; do
		for mode in $MODES; do
			[ -n "${PIN[$n,$mode]:-}" ] && [ "${PIN[$n,$mode]}" != "$n" ] && unpinned+=" $n/$mode:${PIN[$n,$mode]}"
		done
	done
	{
		[ -z "$unpinned" ] && echo "   every forwarder was pinned to CPU $NF_CPU (Cpus_allowed_list), bh-speed to CPU $SPEED_CPU"
		[ -n "$unpinned" ] && echo "   WARNING: not pinned as asked (N/mode:forwarders pinned):$unpinned"
		echo "   poll \"0  >Ts\": no packet came back in the T s bh-speed waited: the loop takes longer than T"
		echo "   (so poll < $BATCH/T pps); shr/poll: shared Mpps / poll Mpps (\">x\": against that bound)"
	} >>"$TABLE"
fi
printf '\n\n' >>"$DATA"

if has_part wake; then
	{
		echo
		echo "## 2. Doorbell wake-up: bh-speed --batch 1 through 1 forwarder; speed on CPU $SPEED_CPU, f1 on CPU $NF_CPU, both in the"
		echo "##    mode shown. plain: the loop as it is; asleep: f1 pauses ${WAKE_WORK_US} us (nanosleep) per packet, so that"
		echo "##    each NF is asleep when its packet comes. sleeps/pkt: doorbell sleeps per packet received (nflib counters)"
		printf '%-7s %-7s %9s %9s %9s %9s %12s %9s\n' variant mode Mpps "p50 ns" "p99 ns" "mean ns" "sleeps/pkt" "(f1)"
	} >>"$TABLE"
	echo "# wake: variant mode mpps p50_ns p99_ns mean_ns speed_sleeps_per_pkt f1_sleeps_per_pkt" >>"$DATA"
	for v in plain asleep; do
		for mode in $MODES; do
			l=${WAKE[$v,$mode]:-}
			[ -n "$l" ] || { printf '%-7s %-7s %9s\n' "$v" "$mode" failed >>"$TABLE"; continue; }
			sp=$(kv "${SLEEPS[$v,$mode]:-}" speed_sleeps_per_pkt)
			fp=$(kv "${SLEEPS[$v,$mode]:-}" f1_sleeps_per_pkt)
			echo "$l" | awk -v v="$v" -v md="$mode" -v sp="${sp:-nan}" -v fp="${fp:-nan}" -v data="$DATA" '{
				for (i = 1; i <= NF; i++) if (split($i, kv, "=") == 2) x[kv[1]] = kv[2]
				m = x["secs"] > 0 ? x["pkts"] / x["secs"] / 1e6 : 0
				printf "%-7s %-7s %9.4f %9.0f %9.0f %9.0f %12s %9s\n", v, md, m, x["lat_ns_p50"], x["lat_ns_p99"], x["lat_ns_mean"], sp, fp
				printf "%s %s %.6g %s %s %s %s %s\n", v, md, m, x["lat_ns_p50"], x["lat_ns_p99"], x["lat_ns_mean"], sp, fp >> data
			}' >>"$TABLE"
		done
	done
	printf '%-46s %8s %8s %12s\n' "wake-up cost, estimated" "p50 ns" "p99 ns" "mean/sleep" >>"$TABLE"
	printf '\n\n# wake_est: what p50_ns p99_ns mean_per_sleep_ns sleeps_a_loop\n' >>"$DATA"
	for v in plain asleep; do
		ls=${WAKE[$v,shared]:-}
		lp=${WAKE[$v,poll]:-}
		[ -n "$ls" ] && [ -n "$lp" ] || continue
		sp=$(kv "${SLEEPS[$v,shared]:-}" speed_sleeps_per_pkt)
		fp=$(kv "${SLEEPS[$v,shared]:-}" f1_sleeps_per_pkt)
		awk -v v="$v" -v a="$ls" -v b="$lp" -v sp="${sp:-nan}" -v fp="${fp:-nan}" -v data="$DATA" 'BEGIN {
			n = split(a, w, " "); for (i = 1; i <= n; i++) if (split(w[i], kv, "=") == 2) s[kv[1]] = kv[2]
			n = split(b, w, " "); for (i = 1; i <= n; i++) if (split(w[i], kv, "=") == 2) p[kv[1]] = kv[2]
			h = s["hops"]; d5 = s["lat_ns_p50"] - p["lat_ns_p50"]; d9 = s["lat_ns_p99"] - p["lat_ns_p99"]
			dm = s["lat_ns_mean"] - p["lat_ns_mean"]; k = sp + fp
			ms = k > 0.05 ? sprintf("%.0f", dm / k) : "-"
			printf "%-46s %8.0f %8.0f %12s  (%.2f sleeps a loop)\n", v ": (shared - poll) / " h " hops", d5 / h, d9 / h, ms, k
			printf "%s_per_hop %.0f %.0f %s %.3f\n", v, d5 / h, d9 / h, ms, k >> data
		}' >>"$TABLE"
	done
	if [ -n "${SCHED[asleep]:-}" ]; then
		read -r k5 k9 kn <<<"${SCHED[asleep]}"
		printf '%-46s %8.0f %8.0f %12s  (%s wake-ups in 1 s, under perf)\n' "asleep: kernel part: futex wake -> on CPU" \
			"$k5" "$k9" - "$kn" >>"$TABLE"
		echo "kernel_wake_to_run $k5 $k9 nan nan" >>"$DATA"
	fi
	{
		echo "   mean/sleep: (mean shared - mean poll) / doorbell sleeps a loop (speed's + f1's sleeps/pkt);"
		echo "   kernel part: sched_waking in the producer -> sched_switch to the sleeper (perf record, asleep, shared)."
	} >>"$TABLE"
	echo "   p99: a difference of quantiles is not the quantile of the difference: rough." >>"$TABLE"
fi
printf '\n\n' >>"$DATA"

if has_part idle; then
	{
		echo
		echo "## 3. Idle platform: manager + $IDLE_NFS forwarders pinned to CPU $NF_CPU, no traffic; CPU seconds per ${IDLE_SECS} s,"
		echo "##    measured over the window shown: utime + stime from /proc/PID/stat (ticks of 1/$(getconf CLK_TCK) s),"
		echo "##    then the exact run time from /proc/PID/schedstat"
		printf '%-7s %8s | %9s %8s %8s %7s | %9s %8s %8s %7s | %7s\n' mode "window s" manager NFs total "% core" \
			manager NFs total "% core" asleep
	} >>"$TABLE"
	echo "# idle: mode window_s mgr_s nfs_s total_s core_pct sched_mgr_s sched_nfs_s sched_total_s sched_core_pct asleep nfs (CPU seconds per $IDLE_SECS s; stat, then schedstat)" >>"$DATA"
	for mode in $MODES; do
		l=${IDLE_RES[$mode]:-}
		[ -n "$l" ] || { printf '%-7s %8s\n' "$mode" failed >>"$TABLE"; continue; }
		echo "$l" | awk -v data="$DATA" '{
			for (i = 1; i <= NF; i++) if (split($i, kv, "=") == 2) x[kv[1]] = kv[2]
			printf "%-7s %8s | %9s %8s %8s %7s | %9s %8s %8s %7s | %4s/%s\n", x["mode"], x["window_s"],
				x["mgr_s"], x["nfs_s"], x["total_s"], x["core_pct"],
				x["sched_mgr_s"], x["sched_nfs_s"], x["sched_total_s"], x["sched_core_pct"], x["asleep"], x["nfs"]
			print x["mode"], x["window_s"], x["mgr_s"], x["nfs_s"], x["total_s"], x["core_pct"], x["sched_mgr_s"],
				x["sched_nfs_s"], x["sched_total_s"], x["sched_core_pct"], x["asleep"], x["nfs"] >> data
		}' >>"$TABLE"
	done
fi
echo
cat "$TABLE"

TITLE="shared-core execution: $(nproc) CPUs, forwarders on CPU $NF_CPU, bh-speed on CPU $SPEED_CPU ($(date -u +%Y-%m-%dT%H:%MZ))"
rm -f "$OUT/shared_core.png"
case $PLOT in
matplotlib)
	/usr/bin/python3 - "$DATA" "$OUT/shared_core.png" "$TITLE" "$BATCH" "$IDLE_SECS" <<'PYEOF' || echo "shared_core.sh: plot failed" >&2
import math
import sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

# Sections start with "# name: columns"; rows follow.
sec, name = {}, None
for line in open(sys.argv[1]):
    line = line.strip()
    if line.startswith("# "):
        name = line[2:].split(":")[0]
        sec[name] = []
    elif line and name:
        sec[name].append(line.split())


def num(x):
    try:
        return float(x)
    except ValueError:
        return math.nan


batch = float(sys.argv[4])
fig, ax = plt.subplots(2, 2, figsize=(12, 8.5))
fig.suptitle(sys.argv[3], fontsize=9)
a, b, c, d = ax[0][0], ax[0][1], ax[1][0], ax[1][1]
chain = sec.get("chain", [])
if chain:
    n = [int(r[0]) for r in chain]
    for mode, i, mk in (("shared", 2, "o-"), ("poll", 6, "s-")):
        pts = [(x, num(r[i])) for x, r in zip(n, chain) if num(r[i]) > 0]
        if pts:
            a.plot(*zip(*pts), mk, label=mode)
    pts = [(x, batch / num(r[11]) / 1e6) for x, r in zip(n, chain) if r[12] == "0" and num(r[11]) > 0]
    if pts:
        a.plot(*zip(*pts), "rv", label="poll: no loop completed (upper bound)")
    a.set_xscale("log", base=2); a.set_yscale("log"); a.set_xticks(n); a.set_xticklabels(n)
    a.set_xlabel("forwarders sharing one CPU"); a.set_ylabel("Mpps"); a.legend(fontsize=7)
    a.set_title("Chain throughput, batch %d" % batch)
    for mode, i, col in (("shared", 3, "C0"), ("poll", 7, "C1")):
        pts = [(x, num(r[i]), num(r[i + 1])) for x, r in zip(n, chain) if num(r[i]) > 0]
        if pts:
            xs, p50, p99 = zip(*pts)
            b.plot(xs, p50, "o-", color=col, label=mode + " p50")
            b.plot(xs, p99, "^--", color=col, label=mode + " p99")
    b.set_xscale("log", base=2); b.set_yscale("log"); b.set_xticks(n); b.set_xticklabels(n)
    b.set_xlabel("forwarders sharing one CPU"); b.set_ylabel("loop latency (us)"); b.legend(fontsize=7)
    b.set_title("Loop latency")
wake = sec.get("wake", [])
if wake:
    x = list(range(len(wake)))
    c.bar([i - 0.2 for i in x], [num(r[3]) for r in wake], 0.4, label="loop p50")
    c.bar([i + 0.2 for i in x], [num(r[4]) for r in wake], 0.4, label="loop p99")
    c.set_xticks(x); c.set_xticklabels(["%s\n%s" % (r[0], r[1]) for r in wake], fontsize=8)
    c.set_yscale("log"); c.set_ylabel("loop latency (ns)"); c.legend(fontsize=7, loc="lower right")
    est = sec.get("wake_est", [])
    c.text(0.02, 0.98, "wake-up, p50 / p99 ns:\n" + "\n".join("%-20s %6s / %s" % (r[0], r[1], r[2]) for r in est),
           transform=c.transAxes, va="top", fontsize=7, family="monospace")
    c.set_title("Batch 1 through 1 forwarder")
idle = sec.get("idle", [])
if idle:
    modes = [r[0] for r in idle]
    mgr = [max(num(r[6]), 1e-3) for r in idle]
    nfs = [max(num(r[7]), 1e-3) for r in idle]
    d.bar(modes, mgr, label="manager")
    d.bar(modes, nfs, bottom=mgr, label="NFs")
    for i, r in enumerate(idle):
        d.text(i, (mgr[i] + nfs[i]) * 1.15, "%s s (%s%% of a core)" % (r[8], r[9]), ha="center", fontsize=8)
    d.set_yscale("log"); d.set_ylim(top=10 * float(sys.argv[5])); d.set_ylabel("CPU seconds per %s s" % sys.argv[5]); d.legend(fontsize=7)
    d.set_title("Idle platform: manager + %s NFs (schedstat)" % idle[0][11])
fig.tight_layout(rect=(0, 0, 1, 0.95))
fig.savefig(sys.argv[2], dpi=100)
PYEOF
	;;
gnuplot)
	gnuplot <<GPEOF || echo "shared_core.sh: plot failed" >&2
set terminal png size 1000,400
set output "$OUT/shared_core.png"
set multiplot layout 1,2 title "$TITLE"
set logscale xy; set xlabel "forwarders sharing one CPU"; set ylabel "Mpps"; set key top right
plot "$DATA" index 0 using 1:(\$3 > 0 ? \$3 : 1/0) with linespoints title "shared", \
     "$DATA" index 0 using 1:(\$7 > 0 ? \$7 : 1/0) with linespoints title "poll"
set ylabel "loop latency p50 (us)"
plot "$DATA" index 0 using 1:(\$4 > 0 ? \$4 : 1/0) with linespoints title "shared", \
     "$DATA" index 0 using 1:(\$8 > 0 ? \$8 : 1/0) with linespoints title "poll"
unset multiplot
GPEOF
	;;
esac
[ -f "$OUT/shared_core.png" ] && echo "plot: $OUT/shared_core.png"
echo "table: $TABLE  data: $DATA  raw lines: $RAW  (whole run ${ELAPSED}s)"
