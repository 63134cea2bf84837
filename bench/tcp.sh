#!/usr/bin/env bash
# bench/tcp.sh: Bulkhead's user-level TCP stack against the Linux kernel's,
# serving the same protocols to the same client, side by side in one run.
#
#   client ns (198.18.0.1, bh-tcp-load on CLIENT_CPU) --veth-- server ns
#
#   kernel:   bh-tcp-kserver (echo on 7, sink on 9) in the server namespace
#             on the veth's address 198.18.0.4, pinned to SERVER_CPU;
#   bulkhead: the manager (af_packet on the same veth) and the tcp-echo /
#             tcp-sink NF (198.18.0.3) in the same namespace, all pinned to
#             SERVER_CPU (the NF sleeps when idle: shared-core mode).
#
# Tests (bh-tcp-load, see bench/README.md): bulk (one connection writing to a
# sink: Gbit/s acknowledged), rr (RR_CONNS connections, 64-byte request and
# echo: transactions/s, p50/p99 latency), crr (CRR_CONNS in parallel: connect,
# 64 bytes, echo, close: connections/s). Prints a table with the ratio
# bulkhead / kernel and writes bench/out/tcp.{txt,dat,png}.
#
# Note on fairness: the client's sends run the veth transmit and, for the
# kernel server, the server-side TCP receive processing in softirq on the
# CLIENT's CPU (veth delivers on the sending CPU); Bulkhead's receive path
# runs in the manager and the NF on SERVER_CPU. The kernel thus gets part of
# its work done on the other CPU for free; the table shows that as it is.
#
# Environment: SECS=5 WARMUP=1 RR_CONNS=32 CRR_CONNS=16 BULK_CONNS=1 NF_ARGS= (stack
# options for the NF, e.g. "--rcvbuf 1m")
#              SIZE=64 CLIENT_CPU=0 SERVER_CPU=1 TESTS="bulk rr crr"
#              ROUNDS=3 (the stacks alternate; the table gives medians)
#              CRR_LINGER0=1 (crr clients close with RST: without it the client's
#              own TIME-WAIT port reuse, about 25,000 connections/s here, caps
#              both servers alike) MGR_CPU (see bench/lib.sh)
set -u
BENCH=tcp
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BH_BUILD=${BH_BUILD:-$ROOT/build}
OUT=$ROOT/bench/out
SECS=${SECS:-5}
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-1}
RR_CONNS=${RR_CONNS:-32}
CRR_CONNS=${CRR_CONNS:-16}
BULK_CONNS=${BULK_CONNS:-1}
SIZE=${SIZE:-64}
CLIENT_CPU=${CLIENT_CPU:-0}
SERVER_CPU=${SERVER_CPU:-1}
TESTS=${TESTS:-bulk rr crr}
# shellcheck source=/dev/null
. "$ROOT/bench/lib.sh"
bench_prepare "ip jq taskset" mgr/bulkhead nfs/tcp-echo/bh-tcp-echo nfs/tcp-sink/bh-tcp-sink \
	bench/bh-tcp-kserver bench/bh-tcp-load
bench_plot_tool

bench_topology
LOAD=$BH_BUILD/bench/bh-tcp-load

# load STACK TEST IP PORT CONNS: one bh-tcp-load run from the client, pinned.
load() {
	local stack=$1 test=$2 ip=$3 port=$4 conns=$5 out
	local extra=()
	# crr: the client closes with a RST (no TIME-WAIT on its side), or its own
	# port reuse (tcp_tw_reuse waits a second per port) caps both servers alike.
	[ "$test" = crr ] && [ "${CRR_LINGER0:-1}" = 1 ] && extra=(--linger0)
	out=$(ip netns exec "$NS_A" "$LOAD" --to "$ip:$port" --test "$test" --conns "$conns" \
		--seconds "$SECS" --warmup "$WARMUP" --size "$SIZE" --cpu "$CLIENT_CPU" "${extra[@]}" \
		2>>"$WORK/load.err")
	[ -n "$out" ] || out='{}'
	echo "$stack $test $ROUND $out" >>"$RES"
	echo "  $stack $test: $(jq -c '{per_s, gbit_s, lat_us_p50, lat_us_p99, refused, resets, timeouts, errors, bad_echo}' <<<"$out" 2>/dev/null)"
}

run_tests() { # run_tests STACK IP START_ECHO START_SINK STOP
	local stack=$1 ip=$2
	for t in $TESTS; do
		case $t in
		bulk) $4 && load "$stack" bulk "$ip" 9 "$BULK_CONNS"; $5 ;;
		rr) $3 && load "$stack" rr "$ip" 7 "$RR_CONNS"; $5 ;;
		crr) $3 && load "$stack" crr "$ip" 7 "$CRR_CONNS"; $5 ;;
		esac
	done
}

# --- the kernel --------------------------------------------------------------
ip netns exec "$NS_M" sysctl -qw net.core.somaxconn=4096 net.ipv4.tcp_max_syn_backlog=4096
ip netns exec "$NS_A" sysctl -qw net.ipv4.ip_local_port_range="10000 60999" net.ipv4.tcp_tw_reuse=1
KS=()
k_start() { # k_start MODE PORT
	ip netns exec "$NS_M" "$BH_BUILD/bench/bh-tcp-kserver" --listen "$2" --mode "$1" \
		--cpu "$SERVER_CPU" >"$WORK/kserver.$1.json" 2>"$WORK/kserver.$1.log" &
	KS+=($!)
	BH_PIDS+=($!)
	bh_wait_for 5 grep -q listening "$WORK/kserver.$1.log"
}
k_stop() {
	local p
	for p in "${KS[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	KS=()
}
kernel_round() {
	echo "$BENCH: round $ROUND: kernel stack (bh-tcp-kserver on CPU $SERVER_CPU, 198.18.0.4)"
	ip -n "$NS_M" addr add 198.18.0.4/24 dev "$SIF"
	run_tests kernel 198.18.0.4 "k_start echo 7" "k_start sink 9" k_stop
	ip -n "$NS_M" addr flush dev "$SIF"
}

# --- Bulkhead -------------------------------------------------------------------
NFP=
b_start() { # b_start echo|sink PORT
	bh_start_nf "$1" "tcp-$1" -s tcp -- --ip 198.18.0.3/24 --port p0 --listen "$2" \
		--max-conns 65536 ${NF_ARGS:-} >/dev/null || die "tcp-$1 did not attach"
	NFP=$NF_PID
	# the kernel in the client namespace learns the new stack's MAC
	ip netns exec "$NS_A" ping -c 1 -W 1 198.18.0.3 >/dev/null 2>&1
}
b_stop() {
	[ -n "$NFP" ] && { kill -TERM "$NFP" 2>/dev/null; wait "$NFP" 2>/dev/null; }
	NFP=
	sleep 0.3
}
bulkhead_round() {
	echo "$BENCH: round $ROUND: Bulkhead (manager + NF on CPU $SERVER_CPU, 198.18.0.3)"
	bench_platform tcp
	run_tests bulkhead 198.18.0.3 "b_start echo 7" "b_start sink 9" b_stop
	kill -TERM "$MGR_PID" 2>/dev/null
	wait "$MGR_PID" 2>/dev/null
}

# The kernel's figures move by +-15 % from run to run here: ROUNDS rounds, the
# two stacks alternating, and the table gives each metric's median.
for ROUND in $(seq 1 "$ROUNDS"); do
	kernel_round
	bulkhead_round
done

# --- table and plot ---------------------------------------------------------
metric() { # metric STACK TEST JQ: the median over the rounds
	awk -v s="$1" -v t="$2" '$1 == s && $2 == t {$1 = ""; $2 = ""; $3 = ""; print}' "$RES" |
		bench_median "$3"
}
rounds() { # rounds STACK TEST JQ: the value of every round
	awk -v s="$1" -v t="$2" '$1 == s && $2 == t {$1 = ""; $2 = ""; $3 = ""; print}' "$RES" |
		jq -r "$3 // \"-\"" 2>/dev/null | tr '\n' ' '
}
{
	printf '%-44s %14s %14s %8s\n' "median of $ROUNDS ($SECS s each, CPUs: client $CLIENT_CPU, server $SERVER_CPU)" kernel bulkhead ratio
	row() { # row LABEL TEST JQ
		local k b
		k=$(metric kernel "$2" "$3")
		b=$(metric bulkhead "$2" "$3")
		printf '%-44s %14s %14s %8s\n' "$1" "${k:--}" "${b:--}" "$(bench_ratio "$b" "$k")"
	}
	for t in $TESTS; do
		case $t in
		bulk) row "bulk, $BULK_CONNS conn, Gbit/s" bulk '.gbit_s' ;;
		rr)
			row "rr $SIZE B, $RR_CONNS conns, transactions/s" rr '.per_s | floor'
			row "  rr latency p50, us (lower is better)" rr '.lat_us_p50'
			row "  rr latency p99, us (lower is better)" rr '.lat_us_p99'
			;;
		crr)
			row "crr $SIZE B, $CRR_CONNS in parallel, connections/s" crr '.per_s | floor'
			row "  crr latency p99, us (lower is better)" crr '.lat_us_p99'
			;;
		esac
	done
	echo "every round (throughput; failures = refused+resets+timeouts+errors+bad_echo):"
	for s in kernel bulkhead; do
		for t in $TESTS; do
			case $t in bulk) q='.gbit_s' ;; *) q='.per_s | floor' ;; esac
			printf '  %-9s %-5s %s  failures: %s\n' "$s" "$t" "$(rounds "$s" "$t" "$q")" \
				"$(rounds "$s" "$t" '(.refused + .resets + .timeouts + .errors + (.bad_echo // 0))')"
		done
	done
} | tee "$OUT/tcp.txt"
cp "$RES" "$OUT/tcp.raw.txt"

# ratio per test (throughput-like metrics only) for the plot
{
	for t in $TESTS; do
		case $t in bulk) q='.gbit_s' ;; *) q='.per_s' ;; esac
		echo "$t $(metric kernel "$t" "$q") $(metric bulkhead "$t" "$q")"
	done
} >"$OUT/tcp.dat"
case $PLOT in
matplotlib)
	/usr/bin/python3 - "$OUT/tcp.dat" "$OUT/tcp.png" <<'P'
import sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
rows = [l.split() for l in open(sys.argv[1]) if len(l.split()) == 3]
names = [r[0] for r in rows]
ratios = [float(r[2]) / float(r[1]) if float(r[1]) else 0 for r in rows]
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.bar(names, ratios, color="#3b7dd8")
ax.axhline(1.0, color="gray", linestyle="--", linewidth=1)
ax.set_ylabel("bulkhead / kernel")
ax.set_title("User-level TCP vs Linux (same client, same CPUs)")
for i, r in enumerate(ratios):
    ax.text(i, r, f"{r:.2f}", ha="center", va="bottom")
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=120)
P
	;;
gnuplot)
	awk '$2 > 0 {print $1, $3 / $2}' "$OUT/tcp.dat" >"$OUT/tcp.ratio.dat"
	gnuplot <<G
set terminal pngcairo size 720,420
set output "$OUT/tcp.png"
set style fill solid
set boxwidth 0.6
set yrange [0:*]
set ylabel "bulkhead / kernel"
set title "User-level TCP vs Linux (same client, same CPUs)"
plot "$OUT/tcp.ratio.dat" using 0:2:xtic(1) with boxes notitle, 1 with lines dt 2 notitle
G
	;;
esac
[ -f "$OUT/tcp.png" ] && echo "$BENCH: plot in $OUT/tcp.png"
