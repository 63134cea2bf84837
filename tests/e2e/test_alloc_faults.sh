#!/usr/bin/env bash
# The HTTP NF through allocation failures on its live paths: with
# tests/tools/libbh-failmalloc.so preloaded, malloc, calloc and realloc fail
# at random (PERMILLE in a thousand) for FAIL_S seconds while clients fetch
# files on keep-alive connections and on a new connection each time; in the
# shared design, with a pool of two workers, and with a worker per
# connection. A request may then be refused (500, 503) or its connection
# reset, and nothing else: the NF lives on, no answer is a 200 with other
# bytes, no connection is left waiting for an answer, and once the allocator works again every file is served whole, every
# connection closes, and the NF exits holding no packet and no buffer chunk
# (under the sanitizers: no memory error, and nothing leaked).
source "$(dirname "$0")/http_lib.sh"
bh_topology || exit 1
START=$(date +%s)
DOCROOT=$WORK/root
http_docroot "$DOCROOT"
PERMILLE=${PERMILLE:-20}
FAIL_S=${FAIL_S:-5}
FM=$BH_BUILD/tests/tools/libbh-failmalloc.so
check "the failing allocator is built ($FM)" test -f "$FM" || { bh_summary; exit 1; }
tcp_config "$WORK/cfg.json" '["http"]'
bh_start_mgr "$WORK/cfg.json" || exit 1

# new_conns STOPFILE OUT: one GET on a new connection after another until
# STOPFILE exists; each status (000: no answer) a line of OUT
new_conns() {
	while [ ! -e "$1" ]; do
		ip netns exec "$NS_A" curl -s -m 5 -o /dev/null -w '%{http_code}\n' "$URL/notes.txt" >>"$2"
	done
}

for design in none pool:2 connection; do
	HTTP_ISOLATION=$design
	http_iso_args || exit 1
	rm -f "$WORK/fm.ctl" "$WORK/fm.out" "$WORK/stop" "$WORK/codes"
	BH_FAILMALLOC=$WORK/fm.ctl BH_FAILMALLOC_OUT=$WORK/fm.out LD_PRELOAD=$FM \
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
		bh_start_nf http http -s http -- --ip $TCP_IP/24 --port p0 --root "$DOCROOT" \
		--log "$WORK/access.log" "${HTTP_ISO_ARGS[@]}" || exit 1
	HTTP_PID=$NF_PID
	ip netns exec "$NS_A" ping -c 1 -W 2 $TCP_IP >/dev/null
	LOOPS=()
	for f in loop.bin notes.txt index.html; do
		ip netns exec "$NS_A" $HC loop $TCP_IP 80 "/$f" "$DOCROOT/$f" "$WORK/stop" 60 >"$WORK/loop-$f.json" &
		LOOPS+=($!)
	done
	new_conns "$WORK/stop" "$WORK/codes" &
	LOOPS+=($!)
	BH_PIDS+=("${LOOPS[@]}")
	sleep 1
	echo "$PERMILLE $RANDOM" >"$WORK/fm.ctl"
	sleep "$FAIL_S"
	rm -f "$WORK/fm.ctl"
	sleep 2
	touch "$WORK/stop"
	wait "${LOOPS[@]}"
	echo "# $design: the allocator $(cat "$WORK/fm.out" 2>/dev/null)"
	for f in loop.bin notes.txt index.html; do
		echo "# $design: /$f $(cat "$WORK/loop-$f.json")"
	done
	echo "# $design: new connections: $(sort "$WORK/codes" | uniq -c | tr -s ' \n' ' ')"
	check "$design: the NF lived through it" kill -0 "$HTTP_PID"
	failed=$(awk '{print $2}' "$WORK/fm.out" 2>/dev/null)
	check_cmp "$design: allocations failed meanwhile" "${failed:-0}" -gt 0
	for f in loop.bin notes.txt index.html; do
		check_json "$design: /$f again and again on keep-alive connections: no 200 with other bytes" \
			"$WORK/loop-$f.json" '.fetches > 0 and .wrong == 0'
		check_json "$design:   ... answered 200, 500 or 503 (or reset)" "$WORK/loop-$f.json" \
			'.statuses | keys | all(. == "200" or . == "500" or . == "503")'
		check_json "$design:   ... none left waiting (5 s without an answer, the connection open)" \
			"$WORK/loop-$f.json" '.timeouts == 0'
	done
	check "$design: new connections each answered 200, 500 or 503 (or reset)" \
		bash -c "! grep -qvE '^(200|500|503|000)$' '$WORK/codes'"
	check_cmp "$design:   ... and most of them 200" "$(grep -c '^200$' "$WORK/codes")" -gt \
		$(($(wc -l <"$WORK/codes") / 2))
	for f in loop.bin notes.txt index.html sub/page.html; do
		check "$design: then /$f served whole" \
			bash -c "ip netns exec $NS_A curl -sf -m 10 '$URL/$f' | cmp -s - '$DOCROOT/$f'"
	done
	settled() { bh_snap && [ "$(http_app conns_open)" -eq 0 ]; }
	check "$design: every connection closed" bh_wait_for 10 settled
	line=""
	for c in requests status_5xx conn_errors conns_refused workers_started worker_spawn_failures \
		worker_crashes worker_protocol_errors; do
		line+=" $c $(http_app $c)"
	done
	echo "# $design: http.{$line }"
	tcp_nf_stop http "$HTTP_PID"
done

echo "# test_alloc_faults took $(($(date +%s) - START))s"
bh_summary
