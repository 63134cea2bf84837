#!/usr/bin/env bash
# Many connections, and every TCP NF. In turn, as service "tcp" on 198.18.0.3:
#   tcp-echo:   10,000 connections from client A held open at once, a distinct
#               message echoed on each, checked before any is closed; the NF's
#               connection counters agree with the client;
#   tcp-source: --connect 198.18.0.1:PORT opens K connections to a kernel
#               listener in A and sends N bytes of its stream on each; the
#               listener checks every byte, and all K complete;
#   tcp-source: --listen serves its stream to a kernel client;
#   tcp-sink:   discards what a kernel client sends, counting every byte.
source "$(dirname "$0")/tcp_lib.sh"
bh_topology || exit 1
START=$(date +%s)
CONNS=${TCP_CONNS:-10000}
tcp_config "$WORK/cfg.json" '["tcp"]'
bh_start_mgr "$WORK/cfg.json" || exit 1
STACK=(-- --ip $TCP_IP/24 --port p0)

# --- tcp-echo: CONNS at once
bh_start_nf echo tcp-echo -s tcp "${STACK[@]}" --listen 7 || exit 1
ECHO_PID=$NF_PID
ip netns exec "$NS_A" ping -c 1 -W 2 $TCP_IP >/dev/null
t0=$(date +%s)
# the client needs a descriptor per connection
(ulimit -n $((CONNS + 1024)) && exec timeout 200 ip netns exec "$NS_A" $NU tcp-conns $TCP_IP 7 "$CONNS" 3) \
	>"$WORK/conns.json" 2>"$WORK/conns.err" &
client=$!
held=0
bh_wait_for 150 grep -q holding "$WORK/conns.err" && held=1
check "the client got to hold its connections" [ $held = 1 ]
bh_snap
echo "# while held: $(bh_nf_stat echo '.app | {"echo.conns_open", "tcp.conns", "tcp.fds", tcp_established}' | jq -c .)"
check_cmp "echo has them all open at once" "$(tcp_app echo echo.conns_open)" -eq "$CONNS"
check_cmp "  ... each one a connection of the stack" "$(tcp_app echo tcp.conns)" -ge "$CONNS"
wait $client
echo "# $CONNS connections: $(cat "$WORK/conns.json") in $(($(date +%s) - t0))s"
check_cmp "every connection was established" "$(jq -r .connected "$WORK/conns.json")" -eq "$CONNS"
check_cmp "every connection echoed its own message" "$(jq -r .echoed "$WORK/conns.json")" -eq "$CONNS"
all_closed() { jq -e '[.nfs[] | select(.name=="echo")][0].app["echo.conns_open"] == 0' "$STATS" >/dev/null; }
check "the connections all close" bh_wait_for 10 all_closed
sleep 0.5
bh_snap
check_cmp "echo accepted exactly the client's connections" "$(tcp_app echo echo.conns_accepted)" -eq "$CONNS"
check_cmp "the stack counted them established" "$(tcp_app echo tcp_established)" -eq "$CONNS"
check_cmp "  ... and accepted" "$(tcp_app echo tcp_accepted)" -eq "$CONNS"
check_cmp "no connection ended in an error" "$(tcp_app echo echo.conn_errors)" -eq 0
check_cmp "no SYN was refused for a full backlog" "$(tcp_app echo tcp_listen_full)" -eq 0
check_cmp "no frame lost for want of a buffer" "$(tcp_app echo nf.tx_nobuf)" -eq 0
kill -TERM "$ECHO_PID"
wait "$ECHO_PID" 2>/dev/null
check "tcp-echo left no buffer chunk behind" bash -c "! grep -q leaked $WORK/echo.log"

# --- tcp-source --connect: K connections out, N bytes each, checked by the kernel
K=${TCP_SOURCE_CONNS:-32}
N=$((4 << 20))
timeout 90 ip netns exec "$NS_A" $NU stream-recv 6000 "$K" 80 >"$WORK/stream.json" 2>"$WORK/stream.err" &
recv=$!
bh_wait_for 5 grep -q ready "$WORK/stream.err"
t0=$(date +%s.%N)
bh_start_nf src tcp-source -s tcp "${STACK[@]}" --connect 198.18.0.1:6000 --bytes $N --conns "$K" --parallel 16 || exit 1
SRC_PID=$NF_PID
check "tcp-source finished its connections" bh_wait_for 80 grep -q 'done:' "$WORK/src.log"
wait $recv
echo "# $(grep 'done:' "$WORK/src.log")"
echo "# the listener saw: $(cat "$WORK/stream.json")"
check_cmp "the listener accepted K connections" "$(jq -r .accepted "$WORK/stream.json")" -eq "$K"
check_cmp "  ... each ran to its end (FIN)" "$(jq -r .complete "$WORK/stream.json")" -eq "$K"
check_cmp "  ... each carried its stream intact" "$(jq -r .intact "$WORK/stream.json")" -eq "$K"
check_cmp "  ... N bytes on each (fewest)" "$(jq -r .min "$WORK/stream.json")" -eq "$N"
check_cmp "  ... N bytes on each (most)" "$(jq -r .max "$WORK/stream.json")" -eq "$N"
sleep 0.5
bh_snap
check_cmp "tcp-source counted K successes" "$(tcp_app src source.conns_ok)" -eq "$K"
check_cmp "  ... and no failure" "$(tcp_app src source.conns_failed)" -eq 0
check_cmp "  ... and sent K x N bytes" "$(tcp_app src source.bytes_out)" -eq $((K * N))
check_cmp "the stack opened K connections" "$(tcp_app src tcp_active_opens)" -eq "$K"
kill -TERM "$SRC_PID"
wait "$SRC_PID" 2>/dev/null

# --- tcp-source --listen: the stream to a kernel client
bh_start_nf chargen tcp-source -s tcp "${STACK[@]}" --listen 19 --bytes 1m || exit 1
ip netns exec "$NS_A" ping -c 1 -W 2 $TCP_IP >/dev/null
check "tcp-source --listen serves 1 MiB of its stream intact" \
	[ "$(timeout 30 ip netns exec "$NS_A" $NU stream-read $TCP_IP 19 $((1 << 20)))" = "$((1 << 20)) intact" ]
kill -TERM "$NF_PID"
wait "$NF_PID" 2>/dev/null

# --- tcp-sink: counts what it discards
bh_start_nf sink tcp-sink -s tcp "${STACK[@]}" --listen 9 || exit 1
ip netns exec "$NS_A" ping -c 1 -W 2 $TCP_IP >/dev/null
sent=$(timeout 60 ip netns exec "$NS_A" $NU tcp-send $TCP_IP 9 $((16 << 20)) 5)
check "16 MiB sent to tcp-sink" [ "${sent%% *}" = $((16 << 20)) ]
sleep 0.5
bh_snap
check_cmp "tcp-sink counted every byte" "$(tcp_app sink sink.bytes_in)" -eq $((16 << 20))
check_cmp "  ... and closed the connection" "$(tcp_app sink sink.conns_open)" -eq 0

sleep 0.5
bh_snap
check_pool_whole "no packet buffer held"
echo "# test_tcp_conns took $(($(date +%s) - START))s"
bh_summary
