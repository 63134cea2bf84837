#!/usr/bin/env bash
# recycle scrub: a worker that serves another unit after this one keeps
# nothing of it. With `connection` and `client` units, recycle scrub, a
# client holds a keep-alive connection whose request names a unique marker;
# the memory of every worker (heap, stack, static data, the channel's shared
# rings: tests/e2e/memscan.py reads /proc/PID/mem) is searched for it: found
# while the connection is open (its worker holds its bytes: the search can
# see them); then another connection from the same address is answered by
# that worker (scrubbed, or kept for the client; none started), and the
# marker is found nowhere. Before --wipe the worker still held it in its
# heap, its static buffers and both rings.
source "$(dirname "$0")/http_lib.sh"
bh_topology || exit 1
START=$(date +%s)
DOCROOT=$WORK/root
http_docroot "$DOCROOT"
SCAN="$BH_PY $(dirname "$0")/memscan.py"
tcp_config "$WORK/cfg.json" '["http"]'
bh_start_mgr "$WORK/cfg.json" || exit 1

# found MARKER: how many (worker, mapping) pairs hold MARKER; the scan's JSON
# in $WORK/scan.json
found() {
	$SCAN "$1" $(http_workers) >"$WORK/scan.json"
	jq '.found | length' "$WORK/scan.json"
}

for unit in connection client; do
	echo "# $unit, recycle scrub"
	HTTP_ISOLATION=$unit
	HTTP_RECYCLE=scrub
	http_iso_args || exit 1
	# no spares: the one worker serves A, then (scrubbed, or kept for
	# the client) B; none leaves for being idle meanwhile
	bh_start_nf http http -s http -- --ip $TCP_IP/24 --port p0 --root "$DOCROOT" --spares 0 \
		--worker-idle-ms 60000 "${HTTP_ISO_ARGS[@]}" || exit 1
	HTTP_PID=$NF_PID
	ip netns exec "$NS_A" ping -c 1 -W 2 $TCP_IP >/dev/null
	M="Zq$RANDOM$$$unit$RANDOM"
	# a file whose name is the marker: the worker's open-file cache keeps
	# its path too
	echo "a small file" >"$DOCROOT/secret-$M.txt"
	rm -f "$WORK/stop"
	hc hold $TCP_IP 80 "/secret-$M.txt" "$WORK/stop" 30 >"$WORK/hold.json" &
	HOLD=$!
	BH_PIDS+=("$HOLD")
	check "$unit: a connection asks for /secret-MARKER.txt, and is held" \
		bh_wait_for 10 grep -q '"status": 200' "$WORK/hold.json"
	n=$(found "$M")
	echo "# while open: $(jq -c '[.found[] | .mapping] | unique' "$WORK/scan.json") ($(jq .bytes "$WORK/scan.json") bytes read)"
	check_cmp "$unit:   ... its worker holds the marker while the connection is open (the search sees it)" "$n" -gt 0
	W=$(http_workers)
	check_cmp "$unit:   ... one worker" "$(echo "$W" | wc -w)" -eq 1
	touch "$WORK/stop"
	wait "$HOLD"
	closed() { bh_snap && [ "$(http_app conns_open)" -eq 0 ]; }
	check "$unit:   ... the connection closed" bh_wait_for 10 closed
	W2=$(http_workers)
	check_cmp "$unit:   ... its worker still there (scrubbed, or kept for the client)" "$W2" = "$W"
	# The worker wipes what is left when the next unit's first frame comes:
	# by the time it has answered that one, nothing of the last may be left.
	started=$(http_app workers_started)
	check_json "$unit: another connection is answered" <(hc send $TCP_IP 80 'GET /notes.txt HTTP/1.1\r\nHost: b\r\n\r\n' 2) \
		'.status == 200'
	http_counters_settled
	check_cmp "$unit:   ... by that worker (none started for it)" "$(http_app workers_started)" -eq "$started"
	n=$(found "$M")
	echo "# then: $(jq -c '{pids, bytes, found, unreadable}' "$WORK/scan.json")"
	check_cmp "$unit:   ... and no worker holds the marker anywhere" "$n" -eq 0
	check_cmp "$unit:   ... every mapping read" "$(jq '.unreadable | length' "$WORK/scan.json")" -eq 0
	check_cmp "$unit:   ... the worker the same one" "$(http_workers)" = "$W"
	for c in worker_crashes worker_seccomp_kills worker_limit_kills worker_hangs worker_protocol_errors; do
		check_cmp "$unit:   ... http.$c = 0" "$(http_app $c)" -eq 0
	done
	tcp_nf_stop http "$HTTP_PID"
done

echo "# test_iso_wipe took $(($(date +%s) - START))s"
bh_summary
