#!/usr/bin/env bash
# --worker-conns: how many connections one shared worker serves at once.
#   pool:1 with a share of 16: 200 connections at once, each with a request
#   ("Connection: close"); 16 are the worker's, the others wait in line
#   unread, and each is given to the worker as one before it closes. All 200
#   answered, none reset (a worker given more streams than it takes refuses
#   the rest with a reset).
#   pool:1 with a share of 4096: 3,276 connections that send nothing at
#   first, their OPENs filling the worker's ring as it sleeps, then each a
#   request: all answered at once.
#   client with a share of 16: 40 keep-alive connections from one address are
#   three workers' (16, 16, 8), all answered.
#   pool:1 with a share of 2 and two connections held: a third waits for the
#   header timeout, then is answered 503 and closed.
#   client with a share of 2: 50 addresses fetching 3 at once each, twice: all
#   answered; the second time mostly by the workers kept for those addresses.
source "$(dirname "$0")/http_lib.sh"
bh_topology || exit 1
START=$(date +%s)
DOCROOT=$WORK/root
http_docroot "$DOCROOT"

# run UNIT CMD N SHARE: the NF with that unit and share, N connections held by
# http_client.py CMD (many or many-close) until all are open, then a GET on
# each; the client's JSON in $WORK/many.json; the NF still running.
run() {
	local unit=$1 cmd=$2 n=$3 share=$4
	HTTP_ISOLATION=$unit
	http_iso_args || return 1
	bh_start_nf http http -s http -- --ip $TCP_IP/24 --port p0 --root "$DOCROOT" \
		--spares 0 --worker-conns "$share" "${HTTP_ISO_ARGS[@]}" || return 1
	HTTP_PID=$NF_PID
	ip netns exec "$NS_A" ping -c 1 -W 2 $TCP_IP >/dev/null
	rm -f "$WORK/go"
	timeout 120 ip netns exec "$NS_A" $HC "$cmd" $TCP_IP 80 "$n" /notes.txt "$DOCROOT/notes.txt" \
		"$WORK/go" >"$WORK/many.json" 2>"$WORK/many.err" &
	CLIENT=$!
	BH_PIDS+=("$CLIENT")
	bh_wait_for 30 grep -q "holding $n" "$WORK/many.err"
}
# served N: the client's answers, once it sent its requests
served() {
	touch "$WORK/go"
	wait "$CLIENT"
	echo "# answers: $(cat "$WORK/many.json")"
	check_cmp "every connection answered 200 with its file" "$(jq -r .answered "$WORK/many.json")" -eq "$1"
	check_cmp "  ... none reset or wrong" "$(jq -r '.bad + .unanswered + .connect_failed' "$WORK/many.json")" -eq 0
}
faults_none() {
	local c
	for c in worker_crashes worker_seccomp_kills worker_limit_kills worker_hangs worker_protocol_errors \
		worker_spawn_failures conn_errors conns_refused; do
		check_cmp "  http.$c = 0" "$(http_app $c)" -eq 0
	done
}

tcp_config "$WORK/cfg.json" '["http"]'
bh_start_mgr "$WORK/cfg.json" || exit 1

echo "# pool:1, --worker-conns 16: 200 connections at once"
check "the client holds 200 connections" run pool:1 many-close 200 16
http_counters_settled
check_cmp "  all 200 open in the NF" "$(http_app conns_open)" -eq 200
check_cmp "  184 of them wait for room in the worker" "$(http_app conns_waited)" -ge 184
served 200
http_counters_settled
check_cmp "one worker served them all" "$(http_app workers_started)" -eq 1
check_cmp "  http.workers_alive = 1" "$(http_app workers_alive)" -eq 1
check_cmp "  http.workers_spare = 0 (a pool keeps none)" "$(http_app workers_spare)" -eq 0
faults_none
tcp_nf_stop http "$HTTP_PID"

echo "# pool:1, --worker-conns 4096: quiet frames fill the ring of a worker asleep"
# The NF tells a worker of a new connection (OPEN, 20 bytes) and gives a
# stream credit back (WINDOW, 16) quietly: they ring only a worker that waits
# for credit. A keep-alive connection takes three 16,000-byte files (its
# credit comes back once, while the worker sleeps), then 3,276 connections
# open and send nothing: 16 + 3,276 * 20 bytes fill the 64 KiB ring exactly.
# Their requests then found no room for a byte and nothing woke the worker:
# they waited until the keep-alive connection's idle timeout (60 s) rang it
# (56.8 s). A quiet write that leaves the ring more than half full rings as
# a plain one.
HTTP_ISOLATION=pool:1
http_iso_args || exit 1
bh_start_nf http http -s http -- --ip $TCP_IP/24 --port p0 --root "$DOCROOT" --spares 0 \
	--worker-conns 4096 "${HTTP_ISO_ARGS[@]}" || exit 1
HTTP_PID=$NF_PID
ip netns exec "$NS_A" ping -c 1 -W 2 $TCP_IP >/dev/null
head -c 16000 /dev/urandom >"$DOCROOT/f16k"
G='GET /f16k HTTP/1.1\r\nHost: a\r\n\r\n'
ip netns exec "$NS_A" $HC send $TCP_IP 80 "$G$G$G" 60 >/dev/null &
KEEP=$! # the client itself (ip execs it), so that the kill below ends it
BH_PIDS+=("$KEEP")
sleep 2
rm -f "$WORK/go"
timeout 120 ip netns exec "$NS_A" $HC many $TCP_IP 80 3276 /notes.txt "$DOCROOT/notes.txt" \
	"$WORK/go" >"$WORK/many.json" 2>"$WORK/many.err" &
CLIENT=$!
BH_PIDS+=("$CLIENT")
check "the client holds 3276 silent connections" bh_wait_for 30 grep -q "holding 3276" "$WORK/many.err"
sleep 1
served 3276
check_json "  ... within 10 s of their requests (before: when the keep-alive one ended)" "$WORK/many.json" \
	'.answer_seconds < 10' '{answer_seconds}'
kill "$KEEP" 2>/dev/null
wait "$KEEP" 2>/dev/null
http_counters_settled
faults_none
tcp_nf_stop http "$HTTP_PID"

echo "# client, --worker-conns 16: 40 connections from one address"
check "the client holds 40 connections" run client many 40 16
# at least three workers (a spare started while a connection waited may be
# among them); that no worker has more than its share shows in the answers:
# each takes twice its share of streams and refuses the rest with a reset
three() { [ "$(http_workers | wc -l)" -ge 3 ]; }
check "  at least three workers for them (16, 16, 8)" bh_wait_for 20 three
uids=$(ps -eo uid= | awk -v b=$HTTP_UID_BASE -v n="$HTTP_UID_COUNT" '$1 >= b && $1 < b + n' | sort -u | wc -l)
check_cmp "  each with a uid of its own" "$uids" -eq "$(http_workers | wc -l)"
served 40
http_counters_settled
faults_none
tcp_nf_stop http "$HTTP_PID"

echo "# pool:1, --worker-conns 2, header timeout 1 s: a third connection waits, then 503"
HTTP_ISOLATION=pool:1
http_iso_args || exit 1
bh_start_nf http http -s http -- --ip $TCP_IP/24 --port p0 --root "$DOCROOT" --worker-conns 2 \
	--header-timeout-ms 1000 "${HTTP_ISO_ARGS[@]}" || exit 1
HTTP_PID=$NF_PID
ip netns exec "$NS_A" ping -c 1 -W 2 $TCP_IP >/dev/null
rm -f "$WORK/stop"
holders=()
for i in 1 2; do
	ip netns exec "$NS_A" $HC hold $TCP_IP 80 /notes.txt "$WORK/stop" 30 >"$WORK/hold$i.json" &
	holders+=($!)
	BH_PIDS+=($!)
done
held() { [ "$(cat "$WORK/hold1.json" "$WORK/hold2.json" 2>/dev/null | grep -c '"status": 200')" = 2 ]; }
check "two keep-alive connections answered and held: the worker's share" bh_wait_for 10 held
hc send $TCP_IP 80 'GET /notes.txt HTTP/1.1\r\nHost: a\r\n\r\n' 10 >"$WORK/third.json"
check_json "a third: 503, Connection: close, then closed" "$WORK/third.json" \
	'.status == 503 and .headers.connection == "close" and .closed == "fin"' '{status, headers, closed, seconds}'
check_json "  ... once it waited the header timeout (1 s)" "$WORK/third.json" '.seconds >= 0.9 and .seconds < 5' \
	'{seconds}'
touch "$WORK/stop"
wait "${holders[@]}"
check "  ... and the two held ones were left alone" bash -c "grep -h closed $WORK/hold1.json $WORK/hold2.json | grep -c '\"open\"' | grep -qx 2"
http_counters_settled
check_cmp "  http.conns_refused = 1" "$(http_app conns_refused)" -eq 1
check_cmp "  http.conn_errors = 0" "$(http_app conn_errors)" -eq 0
tcp_nf_stop http "$HTTP_PID"

echo "# client, --worker-conns 2: 50 addresses, 3 connections at once from each, twice"
HTTP_ISOLATION=client
http_iso_args || exit 1
bh_start_nf http http -s http -- --ip $TCP_IP/24 --port p0 --root "$DOCROOT" --worker-conns 2 \
	"${HTTP_ISO_ARGS[@]}" || exit 1
HTTP_PID=$NF_PID
for i in $(seq 10 59); do ip netns exec "$NS_A" ip addr add 198.18.0.$i/24 dev "bh${T}a"; done
ip netns exec "$NS_A" ping -c 1 -W 2 $TCP_IP >/dev/null
# round R: 150 curl fetches at once, each from its address; prints how many came back whole
round() {
	local i j pids=() ok=0
	for i in $(seq 10 59); do
		for j in 1 2 3; do
			ip netns exec "$NS_A" curl -s -m 20 --interface 198.18.0.$i -o "$WORK/out.$1.$i.$j" \
				"$URL/notes.txt" &
			pids+=($!)
		done
	done
	wait "${pids[@]}"
	for i in $(seq 10 59); do
		for j in 1 2 3; do cmp -s "$WORK/out.$1.$i.$j" "$DOCROOT/notes.txt" && ok=$((ok + 1)); done
	done
	echo $ok
}
check_cmp "round 1: all 150 fetches whole" "$(round 1)" -eq 150
closed() { bh_snap && [ "$(http_app conns_open)" = 0 ]; }
check "  ... and all closed in the NF" bh_wait_for 10 closed
started=$(http_app workers_started)
# one worker at least for each address (two where its three fetches overlapped)
check_cmp "  ... at least one worker for each address" "$started" -ge 50
check_cmp "round 2: all 150 whole again" "$(round 2)" -eq 150
http_counters_settled
# an address whose three fetches did not overlap in round 1 has one worker and
# may need a second now (a spare, replaced): at most about 50 start; with the
# workers not found again, every fetch takes a spare: 150
check_cmp "  ... mostly by the workers kept for their addresses: fewer than 100 started" \
	$(($(http_app workers_started) - started)) -lt 100
spares_back() { bh_snap && [ "$(http_app workers_spare)" = 16 ]; }
check "  http.workers_spare back to the 16 spares" bh_wait_for 10 spares_back
# (a worker that just exited is counted until its exit is reported: settle)
alive_agree() { bh_snap && [ "$(http_app workers_alive)" -eq "$(http_workers | wc -l)" ]; }
bh_wait_for 10 alive_agree
check_cmp "  http.workers_alive = the worker processes there are" "$(http_app workers_alive)" -eq \
	"$(http_workers | wc -l)"
faults_none
tcp_nf_stop http "$HTTP_PID"

echo "# test_iso_worker_conns took $(($(date +%s) - START))s"
bh_summary
