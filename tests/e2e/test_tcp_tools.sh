#!/usr/bin/env bash
# bh-tcp-kserver and bh-tcp-load (the TCP benchmark's kernel-side peer and load
# generator) against each other on the loopback of a private namespace: every
# test and mode briefly, echoed bytes and the source stream checked, refused
# and silent servers counted without hanging. About 8 seconds.
source "$(dirname "$0")/lib.sh"
T=$(bh_tag)
NS=bh-$T-tools
WORK=$(mktemp -d /tmp/bh-e2e-$T.XXXX)
SRV=$BH_BUILD/bench/bh-tcp-kserver
LOAD=$BH_BUILD/bench/bh-tcp-load
SRV_PID=
cleanup() {
	[ -n "$SRV_PID" ] && kill -KILL "$SRV_PID" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT

for b in "$SRV" "$LOAD"; do
	[ -x "$b" ] || { echo "FAIL - $b is not built (ninja -C $BH_BUILD)"; echo "$(basename "$0"): 0 passed, 1 failed"; exit 1; }
done
ip netns add "$NS" && ip -n "$NS" link set lo up || { echo "FAIL - cannot make namespace $NS"; exit 1; }
jf() { sed -n "s/.*\"$1\":\"\{0,1\}\([^,\"}]*\).*/\1/p" "$2"; } # jf FIELD FILE

# serve MODE PORT [args]: start a server, wait until it listens.
serve() {
	local mode=$1 port=$2
	shift 2
	# ip netns exec execs the server: $! is the server itself.
	ip netns exec "$NS" "$SRV" --listen "$port" --mode "$mode" "$@" >"$WORK/srv.json" 2>"$WORK/srv.err" &
	SRV_PID=$!
	bh_wait_for 3 grep -q listening "$WORK/srv.err"
}

# stop: SIGTERM; the server must exit 0 within 2 s with its JSON line.
stop() {
	local what=$1 rc
	kill -TERM "$SRV_PID"
	for _ in $(seq 1 20); do kill -0 "$SRV_PID" 2>/dev/null || break; sleep 0.1; done
	wait "$SRV_PID"
	rc=$?
	SRV_PID=
	check_cmp "$what server: exits 0 on SIGTERM" "$rc" -eq 0
	check_cmp "$what server: counted connections" "$(jf conns "$WORK/srv.json")" -gt 0
}

# load NAME ARGS...: run bh-tcp-load into $WORK/NAME.json; it must finish in time.
load() {
	local name=$1 start
	shift
	start=$(date +%s%N)
	timeout 10 ip netns exec "$NS" "$LOAD" "$@" >"$WORK/$name.json" 2>"$WORK/$name.err"
	check_cmp "$name: exit status" "$?" -eq 0
	ELAPSED_MS=$((($(date +%s%N) - start) / 1000000))
	echo "     $(cat "$WORK/$name.json")"
}

serve echo 7000 || check "echo server listens" false
load rr --to 127.0.0.1:7000 --test rr --conns 4 --seconds 1
check_cmp "rr: transactions" "$(jf transactions "$WORK/rr.json")" -gt 100
check "rr: p50 latency reported ($(jf lat_us_p50 "$WORK/rr.json") us)" \
	awk -v v="$(jf lat_us_p50 "$WORK/rr.json")" 'BEGIN {exit !(v > 0)}'
for f in bad_echo errors resets timeouts refused; do check_cmp "rr: $f" "$(jf $f "$WORK/rr.json")" -eq 0; done
load rr_big --to 127.0.0.1:7000 --test rr --conns 2 --seconds 0.5 --size 70000
check_cmp "rr 70000 B: transactions" "$(jf transactions "$WORK/rr_big.json")" -gt 0
check_cmp "rr 70000 B: bad_echo" "$(jf bad_echo "$WORK/rr_big.json")" -eq 0
load crr --to 127.0.0.1:7000 --test crr --conns 4 --seconds 1
check_cmp "crr: connections" "$(jf transactions "$WORK/crr.json")" -gt 10
check_cmp "crr: one connect per transaction, about" "$(jf connected "$WORK/crr.json")" -ge "$(jf transactions "$WORK/crr.json")"
for f in bad_echo refused timeouts; do check_cmp "crr: $f" "$(jf $f "$WORK/crr.json")" -eq 0; done
stop echo

serve sink 7001 || check "sink server listens" false
load bulk --to 127.0.0.1:7001 --test bulk --conns 2 --seconds 1
check_cmp "bulk write: bytes acked" "$(jf bytes_acked "$WORK/bulk.json")" -gt 1000000
check_cmp "bulk write: acked <= written" "$(jf bytes_acked "$WORK/bulk.json")" -le "$(jf bytes_written "$WORK/bulk.json")"
check_cmp "bulk write: errors" "$(jf errors "$WORK/bulk.json")" -eq 0
# A server that never answers: rr waits --timeout, counts it, and stops on time.
load silent --to 127.0.0.1:7001 --test rr --conns 2 --seconds 0.6 --timeout 100
check_cmp "silent server: timeouts counted" "$(jf timeouts "$WORK/silent.json")" -gt 0
check_cmp "silent server: no transaction" "$(jf transactions "$WORK/silent.json")" -eq 0
check_cmp "silent server: done within 2 s (ms)" "$ELAPSED_MS" -lt 2000
stop sink

serve source 7002 || check "source server listens" false
load read --to 127.0.0.1:7002 --test bulk --read --conns 2 --seconds 0.5
check_cmp "bulk read: bytes" "$(jf bytes_read "$WORK/read.json")" -gt 1000000
check_cmp "bulk read: stream intact" "$(jf corrupt "$WORK/read.json")" -eq 0
stop source
serve source 7003 --bytes 64k || check "source --bytes server listens" false
load streams --to 127.0.0.1:7003 --test bulk --read --conns 2 --seconds 0.5
check_cmp "source --bytes: whole streams read" "$(jf streams "$WORK/streams.json")" -gt 0
check_cmp "source --bytes: streams intact" "$(jf corrupt "$WORK/streams.json")" -eq 0
stop "source --bytes"

# Nobody listens: refused, counted, and no hang.
load refused --to 127.0.0.1:7009 --test crr --conns 2 --seconds 0.5
check_cmp "closed port: refusals counted" "$(jf refused "$WORK/refused.json")" -gt 0
check_cmp "closed port: no transaction" "$(jf transactions "$WORK/refused.json")" -eq 0
check_cmp "closed port: done within 2 s (ms)" "$ELAPSED_MS" -lt 2000

"$SRV" --listen 0 >/dev/null 2>&1
check_cmp "kserver: bad --listen is a usage error" "$?" -eq 2
"$LOAD" --to 127.0.0.1:1 --test nope --conns 1 --seconds 1 >/dev/null 2>&1
check_cmp "load: bad --test is a usage error" "$?" -eq 2
bh_summary
