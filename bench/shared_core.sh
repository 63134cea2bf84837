#!/usr/bin/env bash
# bench/shared_core.sh: shared-core execution. Three measurements, each in
# shared mode (NFs sleep on their futex doorbell when idle) next to busy
# polling ("mode": "poll"), in the same run:
#
#   1. chain: bh-speed (alone on one CPU) loops packets through N = 1, 8, 64,
#      256 forwarders all pinned to ONE other CPU: Mpps, loop latency p50/p99;
#   2. wake: one forwarder, batch 1, so that every hop may find its NF asleep:
#      the doorbell wake-up cost per hop = (loop shared - loop poll) / hops, at
#      p50 and p99, checked against how often the NFs really slept (and, if
#      perf works, the scheduler's own wake-up delay of the NFs);
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
#   START_BATCH=16     forwarders started at once (EAL start-up is CPU-heavy)
#   WAKE_SECS=4        measured seconds per wake-up run (batch 1, 1 forwarder)
#   WAKE_WORK_US=20    pause of the forwarder in the "asleep" wake-up variant
#   IDLE_NFS=64        idle platform size; measured on the chain run with that
#                      many NFs, after bh-speed left (a run of its own if that
#                      N is not in NFS)
#   IDLE_SECS=10       idle window in shared mode
#   IDLE_POLL_SECS=3   idle window in poll mode (scaled to IDLE_SECS)
#   PERF=1             also record the scheduler's wake-up delay with perf
#                      sched (skipped if perf is missing or refuses)
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
NF_CPU=${NF_CPU:-$(($(nproc) - 1))}
SPEED_CPU=${SPEED_CPU:-0}
MODES="shared poll"

die() { echo "shared_core.sh: $*" >&2; exit 1; }
say() { echo "shared_core.sh: $*"; }
has_part() { [[ " $PARTS " == *" $1 "* ]]; }

[ "$(id -u)" = 0 ] || die "must run as root (namespaces, hugepages)"
for t in ip jq meson ninja awk; do command -v "$t" >/dev/null || die "'$t' is missing (scripts/setup.sh installs it)"; done
[ "$(nproc)" -ge 2 ] || die "needs 2 CPUs: one for bh-speed, one shared by the forwarders"
[ "$NF_CPU" != "$SPEED_CPU" ] || die "NF_CPU and SPEED_CPU must differ"
T0=$SECONDS

# --- build (only what this benchmark runs; a no-op when up to date) ---------
targets=(mgr/bulkhead nfs/forward/bh-forward nfs/speed/bh-speed)
if [ ! -f "$BH_BUILD/build.ninja" ]; then
	meson setup "$BH_BUILD" "$ROOT" >/dev/null || die "meson setup $BH_BUILD failed"
fi
if ! ninja -C "$BH_BUILD" "${targets[@]}" >"$BH_BUILD/shared-core-bench-build.log" 2>&1; then
	for t in "${targets[@]}"; do [ -x "$BH_BUILD/$t" ] || { cat "$BH_BUILD/shared-core-bench-build.log"; die "build failed"; }; done
	echo "shared_core.sh: warning: rebuild failed (see $BH_BUILD/shared-core-bench-build.log); using the existing binaries" >&2
fi

"$ROOT/scripts/setup.sh" --hugepages || die "hugepage setup failed"

# --- plotting tool: matplotlib, else gnuplot (installed if neither is there) -
PLOT=none
if /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then
	PLOT=matplotlib
elif command -v gnuplot >/dev/null; then
	PLOT=gnuplot
else
	say "installing gnuplot-nox for the plot"
	if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gnuplot-nox >/dev/null 2>&1 ||
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gnuplot-nox >/dev/null 2>&1; }; then
		PLOT=gnuplot
	else
		echo "shared_core.sh: warning: no matplotlib and no gnuplot: no plot" >&2
	fi
fi

# --- topology, manager and NFs: tests/e2e/lib.sh ----------------------------
# shellcheck source=/dev/null
. "$ROOT/tests/e2e/lib.sh"
bh_topology || die "cannot build the namespace topology"
PERF_PID=
sc_cleanup() {
	local rc=$?
	[ -n "$PERF_PID" ] && kill -INT "$PERF_PID" 2>/dev/null
	(exit $rc)
	bh_teardown # kills what is left, removes namespaces, hugepage files, $WORK; exits
}
trap sc_cleanup EXIT
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
	write_cfg "$cfg" "$n" "$mode" "$smode"
	bh_start_mgr "$cfg" || return 1
	t=$(date +%s.%N)
	start_forwarders "$n" || return 1
	START_S=$(awk -v a="$t" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
	PINNED=$(count_pinned "$NF_CPU" "${FWD_PIDS[@]}")
	[ "$PINNED" -eq "$n" ] || echo "shared_core.sh: warning: only $PINNED of $n forwarders pinned to CPU $NF_CPU" >&2
	if [ "$mode" = poll ]; then
		local np
		np=$(grep -l ', polling' "$WORK"/f*.log 2>/dev/null | wc -l)
		[ "$np" -eq "$n" ] || echo "shared_core.sh: warning: only $np of $n forwarders report polling" >&2
	fi
}

# run_speed BATCH SECS [on_attach_cmd]: bh-speed through the chain; sets LINE
# to its summary line (empty: no result; "speed: FAILED ..." if the loop broke).
run_speed() {
	local batch=$1 secs=$2 hook=${3:-} pid limit
	LINE=
	bh_start_nf speed speed -s speed -- --chain loop --batch "$batch" --size "$SIZE" \
		--duration "$secs" --warmup "$WARMUP" --interval "$INTERVAL" || return 1
	pid=$NF_PID
	SPEED_PID=$pid
	[ "$(count_pinned "$SPEED_CPU" "$pid")" = 1 ] || echo "shared_core.sh: warning: bh-speed is not pinned to CPU $SPEED_CPU" >&2
	[ -n "$hook" ] && $hook "$pid"
	limit=$(awk -v s="$secs" -v w="$WARMUP" -v i="$INTERVAL" 'BEGIN {print int((s + w + 4 * i + 30) * 10)}')
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

# CPU time (clock ticks: utime + stime) of the pids, summed.
cpu_ticks() { local p; for p in "$@"; do awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null; done | awk '{s += $1} END {print s + 0}'; }

# idle_cpu MODE: CPU of the manager and the forwarders now running, over the
# mode's window; one "idle ..." line in IDLE_RES[MODE].
idle_cpu() {
	local mode=$1 win=$IDLE_SECS hz m0 m1 f0 f1 asleep
	[ "$mode" = poll ] && win=$IDLE_POLL_SECS
	hz=$(getconf CLK_TCK)
	sleep 2 # let bh-speed's departure settle
	m0=$(cpu_ticks "$MGR_PID")
	f0=$(cpu_ticks "${FWD_PIDS[@]}")
	sleep "$win"
	m1=$(cpu_ticks "$MGR_PID")
	f1=$(cpu_ticks "${FWD_PIDS[@]}")
	bh_snap
	asleep=$(bh_stat '[.nfs[] | select(.sleeping)] | length')
	IDLE_RES[$mode]=$(awk -v md="$mode" -v n="${#FWD_PIDS[@]}" -v w="$win" -v s="$IDLE_SECS" -v hz="$hz" \
		-v m="$((m1 - m0))" -v f="$((f1 - f0))" -v a="$asleep" \
		'BEGIN {k = s / w; printf "idle mode=%s nfs=%d window_s=%g mgr_s=%.3f nfs_s=%.3f total_s=%.3f core_pct=%.1f asleep=%d per_s=%g\n",
			md, n, w, m / hz * k, f / hz * k, (m + f) / hz * k, (m + f) / hz / w * 100, a, s}')
	echo "  ${IDLE_RES[$mode]}"
	echo "${IDLE_RES[$mode]}" >>"$RAW"
}

declare -A RES START PIN IDLE_RES WAKE SLEEPS SCHED

# --- 1 (and 3): chains of N forwarders on one CPU ----------------------------
if has_part chain; then
	for n in $NFS; do
		for mode in $MODES; do
			say "chain: $n forwarder(s) on CPU $NF_CPU, $mode ..."
			if setup "$n" "$mode" shared; then
				START[$n,$mode]=$START_S
				PIN[$n,$mode]=$PINNED
				say "  $n forwarder(s) started in ${START_S}s, $PINNED pinned to CPU $NF_CPU"
				run_speed "$BATCH" "$SECS"
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

# perf sched: the scheduler's wake-up delay (sched_wakeup -> running) of speed
# and f1, p50 and p99 in ns. Prints "sched_p50 sched_p99 wakeups", or nothing.
perf_ok() { [ "$PERF" = 1 ] && command -v perf >/dev/null; }
perf_hook() {
	sleep "$(awk -v w="$WARMUP" 'BEGIN {print w + 0.3}')"
	perf sched record -q -o "$WORK/perf.data" -- sleep 1 >"$WORK/perf.log" 2>&1
}
perf_delays() { # perf_delays PID...: "p50 p99 count" of those threads' sch delay
	perf sched timehist -i "$WORK/perf.data" 2>/dev/null |
		awk -v pids=" $* " '$5 ~ /^[0-9.]+$/ && match($3, /\[[0-9]+[]\/]/) {
			tid = substr($3, RSTART + 1, RLENGTH - 2)
			if (index(pids, " " tid " ")) print $5 * 1e6 }' >"$WORK/delays.txt"
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
		say "wake (asleep): the same, shared, under perf sched record (1 s) ..."
		FWD_ARGS="--work-us $WAKE_WORK_US"
		if setup 1 shared shared; then
			echo 1 2>/dev/null >"/proc/${FWD_PIDS[0]}/timerslack_ns"
			f1pid=${FWD_PIDS[0]}
			run_speed 1 "$WAKE_SECS" perf_hook
			if [ -s "$WORK/perf.data" ] && d=$(perf_delays "$f1pid" "$SPEED_PID"); then
				SCHED[asleep]=$d
				echo "wake-sched variant=asleep mode=shared $(echo "$d" | awk '{printf "sched_p50_ns=%s sched_p99_ns=%s wakeups=%s", $1, $2, $3}')" >>"$RAW"
				say "  scheduler wake-up delay (p50 p99 ns, wake-ups): $d"
			else
				echo "shared_core.sh: perf sched gave nothing (see KEEP_WORK=1 $WORK/perf.log)" >&2
			fi
		fi
		stop_all
		FWD_ARGS=
	fi
fi
