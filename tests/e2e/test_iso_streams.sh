#!/usr/bin/env bash
# A shared worker's streams: an id it may still hold is never a new
# connection's, a connection's end reaches its worker even when the ring was
# full as it closed, and a stream it leaves unanswered ends alone.
#   pool:1. One connection takes a big file and reads none of it; the worker
#   is stopped (SIGSTOP); the connection sends half a head of a second
#   request, a second connection a POST whose body fills the worker's ring;
#   both are reset, so the NF closes them with no room to tell the worker
#   (http.closes_late), the second though its input waits for room and the
#   NF reads none of it. The worker continued, 520 connections one after
#   another (each given the descriptor the reset one had) each GET a file:
#   every answer must be that file. With stream ids made of the descriptor
#   and 8 bits of generation, the reset stream's id came back within 256
#   connections and the worker took that connection's request for the rest
#   of the stale half head: a 400 instead of the file.
#   pool:1 with the hostile worker, which leaves one connection's request
#   unanswered while it answers another's: that one alone gets a 500 after
#   the header timeout + 2 s (http.stream_hangs), the worker lives on.
#   pool:1 with its output held back for want of room in the NF's queues:
#   once the queues have been full a second, the connections whose queues
#   do not move are reset and the answers behind the held frame go on; a reader
#   whose queue moves stays; the worker is not taken for hung, and the NF
#   does not spin meanwhile.
#   pool:1 and connection, a client that reads its pipelined answers slowly:
#   they wait for the client, and neither worker nor stream is taken for hung.
source "$(dirname "$0")/http_lib.sh"
bh_topology || exit 1
START=$(date +%s)
DOCROOT=$WORK/root
http_docroot "$DOCROOT" 8

HTTP_ISOLATION=pool:1
# long enough that the worker keeps the stale streams through the test
http_start '["http"]' "" --header-timeout-ms 100000 --idle-timeout-ms 100000 || exit 1
one_worker() { [ "$(http_workers | wc -l)" -eq 1 ]; }
check "the pool's one worker is up" bh_wait_for 10 one_worker
ip netns exec "$NS_A" ping -c 1 -W 2 $TCP_IP >/dev/null
check_json "a first GET is answered" <(hc send $TCP_IP 80 'GET /notes.txt HTTP/1.1\r\nHost: a\r\n\r\n' 2) \
	'.status == 200'
W=$(http_workers)
timeout 120 ip netns exec "$NS_A" $HC stale $TCP_IP 80 /notes.txt "$DOCROOT/notes.txt" /big.bin "$W" 520 \
	"$WORK/mark" >"$WORK/stale.json" &
STALE=$!
BH_PIDS+=("$STALE")
check "both connections reset" bh_wait_for 30 test -e "$WORK/mark"
closed_both() { bh_snap && [ "$(http_app conns_open)" -eq 0 ] && [ "$(http_app closes_late)" -ge 2 ]; }
check "  ... and closed, the worker still stopped (http.conns_open 0, closes_late 2)" \
	bh_wait_for 5 closed_both
touch "$WORK/mark.go"
wait "$STALE"
kill -CONT "$W" 2>/dev/null
echo "# $(cat "$WORK/stale.json")"
check_json "520 connections after the reset ones: every one got the file" "$WORK/stale.json" \
	'.served == 520'
check_cmp "the worker is the same one (not killed meanwhile)" "$(http_workers)" = "$W"
http_counters_settled
for c in worker_crashes worker_hangs worker_protocol_errors; do
	check_cmp "http.$c = 0" "$(http_app $c)" -eq 0
done

# A stream its worker never answers while it answers its others: that
# connection alone gets a 500 after the header timeout + 2 s (1 s + 2 s here),
# and the worker goes on. The hostile worker (tests/iso/escape_worker.c, its
# HTTP mode) follows the stream opened last: a request on an earlier one is
# never answered ("GET /ignore").
tcp_nf_stop http "$HTTP_PID"
install -m 0711 "$BH_BUILD/lib/iso/iso_escape_worker" "$WORK/libexec/worker" || exit 1
bh_start_nf http http -s http -- --ip $TCP_IP/24 --port p0 --root "$DOCROOT" \
	--isolation pool:1 --worker "$WORK/libexec/worker" --uid-range $HTTP_UID_BASE:$HTTP_UID_COUNT \
	--header-timeout-ms 1000 || exit 1
HTTP_PID=$NF_PID
check "pool:1, the hostile worker: its one worker is up" bh_wait_for 10 one_worker
W2=$(http_workers)
hc send $TCP_IP 80 'GET /ignore HTTP/1.1\r\nHost: a\r\n\r\n' 10 >"$WORK/ignored.json" &
IGNORED=$!
sleep 0.3
hc loop $TCP_IP 80 /keep/notes.txt "$DOCROOT/notes.txt" "$WORK/stop" 30 >"$WORK/loop.json" &
LOOP=$!
BH_PIDS+=("$IGNORED" "$LOOP")
wait "$IGNORED"
touch "$WORK/stop"
wait "$LOOP"
check_json "a request the worker never answers: a 500 after 3 s, and the connection closed" \
	"$WORK/ignored.json" '.status == 500 and .closed == "fin" and .seconds >= 2.5 and .seconds < 5' \
	'{status, closed, seconds}'
check_json "  ... while the worker answered another connection all along" "$WORK/loop.json" \
	'.fetches >= 20 and .bad == 0 and .errors == 0 and .connects == 1'
http_counters_settled
check_cmp "  ... http.stream_hangs = 1" "$(http_app stream_hangs)" -eq 1
check_cmp "  ... the worker not killed: http.workers_exited = 0" "$(http_app workers_exited)" -eq 0
check_cmp "  ... and the same one" "$(http_workers)" = "$W2"
tcp_nf_stop http "$HTTP_PID"

# A shared worker's output held back for want of room in the NF's queues
# (at most 256 passed files wait behind busy connections, in all): 24
# connections each pipeline 20 GETs of a 1 MB file and read nothing, their
# files fill the queue, and the worker's next frame for one of them is held,
# and with it everything behind it in its ring. A keep-alive connection on
# the same worker asks again: once the queues have been full a second,
# every connection whose queue has not moved for as long is reset
# (http.queue_resets), and the answer comes. A reader that pipelined 8 GETs
# of the same file before the gluttons came, and reads them at 2 MB/s (its
# queue moves every half second), is not reset: all 8 come whole. Before,
# the answer waited for the gluttons' send timeout (60 s by default), and
# before that the NF looked at the held worker every turn (it spun: 3 s of
# CPU) and, the answer late, took the worker for hung after the header
# timeout + 2 s: a 500, the worker killed and every glutton reset.
head -c 1000000 /dev/urandom >"$DOCROOT/m1.bin"
HTTP_ISOLATION=pool:1
http_iso_args || exit 1 # the HTTP worker again, in the hostile one's place
bh_start_nf http http -s http -- --ip $TCP_IP/24 --port p0 --root "$DOCROOT" "${HTTP_ISO_ARGS[@]}" \
	--header-timeout-ms 1000 || exit 1
HTTP_PID=$NF_PID
check "pool:1: its one worker is up" bh_wait_for 10 one_worker
W3=$(http_workers)
cpu() { awk '{print $14 + $15}' "/proc/$HTTP_PID/stat"; }
T0=$(cpu)
timeout 90 ip netns exec "$NS_A" $HC held $TCP_IP 80 /m1.bin /notes.txt "$DOCROOT/notes.txt" 24 20 \
	"$DOCROOT/m1.bin" >"$WORK/held.json"
T1=$(cpu)
echo "# $(cat "$WORK/held.json"); the NF's CPU meanwhile $((T1 - T0)) ticks"
check_json "a connection whose answer waits behind a held frame: answered whole" \
	"$WORK/held.json" '.first == 200 and .status == 200 and .ok and .closed == "open"'
check_json "  ... within 5 s (the gluttons' send timeout is 60 s)" "$WORK/held.json" \
	'.seconds < 5' '{seconds}'
check_json "  ... the reader whose queue moved: its 8 answers whole, not reset" "$WORK/held.json" \
	'.reader.answers == 8 and .reader.closed == "open"' '{reader}'
check_cmp "  ... the NF idle meanwhile, not looking at the held worker each turn (CPU ticks)" \
	$((T1 - T0)) -lt 150
http_counters_settled
check_cmp "  ... http.queue_resets > 0 (what freed the queue)" "$(http_app queue_resets)" -gt 0
check_cmp "  ... http.send_timeouts = 0" "$(http_app send_timeouts)" -eq 0
check_cmp "  ... http.worker_hangs = 0" "$(http_app worker_hangs)" -eq 0
check_cmp "  ... http.stream_hangs = 0" "$(http_app stream_hangs)" -eq 0
check_cmp "  ... the worker the same one" "$(http_workers)" = "$W3"
tcp_nf_stop http "$HTTP_PID"

# A client that reads its pipelined answers slowly: the worker sends each
# (inline, 16,000 bytes) as the client's reading gives it credit back. The
# requests go ten at a time, each ten as the answers to the ten before begin
# to be read (so they come while answers wait for the client); halfway the
# client reads nothing for 4 s (longer than the header timeout + 2 s), and
# sends ten more 1 s into it, when the worker has spent its credit (64 KiB
# beyond what the NF's 64 KiB send buffer holds: eight answers).
# Neither the worker (its only connection's, with unit connection) nor the
# stream is taken for hung: the answers wait for the client, not for the
# worker.
head -c 16000 /dev/urandom >"$DOCROOT/k16.bin"
for unit in pool:1 connection; do
	HTTP_ISOLATION=$unit
	http_iso_args || exit 1
	bh_start_nf http http -s http -- --ip $TCP_IP/24 --port p0 --root "$DOCROOT" "${HTTP_ISO_ARGS[@]}" \
		--header-timeout-ms 1000 --sndbuf 64k || exit 1
	HTTP_PID=$NF_PID
	ip netns exec "$NS_A" ping -c 1 -W 2 $TCP_IP >/dev/null
	timeout 60 ip netns exec "$NS_A" $HC trickle $TCP_IP 80 "$DOCROOT" /k16.bin 120 400000 10 4 \
		>"$WORK/trickle.json"
	echo "# $unit: $(jq -c '{responses, ok, closed, seconds, errors: .errors[:3]}' "$WORK/trickle.json")"
	check_json "$unit: 120 pipelined answers read at 400 kB/s with a 4 s pause, every one whole" \
		"$WORK/trickle.json" '.responses == 120 and .ok and .closed == "open"'
	check_json "$unit:   ... the pause taken" "$WORK/trickle.json" '.seconds > 8' '{seconds}'
	http_counters_settled
	for c in worker_hangs stream_hangs send_timeouts status_5xx; do
		check_cmp "$unit:   ... http.$c = 0" "$(http_app $c)" -eq 0
	done
	tcp_nf_stop http "$HTTP_PID"
done

echo "# test_iso_streams took $(($(date +%s) - START))s"
bh_summary
