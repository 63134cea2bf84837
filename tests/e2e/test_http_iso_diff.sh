#!/usr/bin/env bash
# The isolated designs answer exactly as the shared one: the same random
# sessions (http_fuzz.py: files, heads, ranges, conditionals, missing and
# refused paths, malformed and mutated heads, bodies, HTTP/1.0, pipelined up
# to eight deep, sent in random pieces with random pauses, then the client's
# side shut) against bh-http in the shared design, then with a pool of two
# workers, a worker per client (scrubbed), a fresh worker per connection, a
# scrubbed one, and one worker with room for three connections at a time (the
# rest wait in line).
# Every session must get back the same bytes (Date aside) and end the same
# way, and the NF's counters must agree; the shared run itself must show that
# the sessions reached every kind of answer (so a generator gone dull fails).
source "$(dirname "$0")/http_lib.sh"
bh_topology || exit 1
START=$(date +%s)
DOCROOT=$WORK/root
http_docroot "$DOCROOT"
touch -d '2021-03-04 05:06:07 UTC' "$DOCROOT"/*.* "$DOCROOT"/sub/* "$DOCROOT"/noidx/*
SEED=${SEED:-$RANDOM}
N=${N:-240}
FUZZ="$BH_PY $(dirname "$0")/http_fuzz.py"
echo "# seed $SEED, $N sessions (SEED=$SEED N=$N bash $0 to repeat)"
COUNTERS="requests status_2xx status_3xx status_4xx status_5xx bad_request bytes_out"

HTTP_ISOLATION=pool:2 # the worker installed; each run below says its own design
http_iso_args || exit 1
tcp_config "$WORK/cfg.json" '["http"]' ""
bh_start_mgr "$WORK/cfg.json" || exit 1

# design NAME [bh-http options...]: a fresh NF in that design, the sessions,
# its counters in $WORK/NAME.counters; then stopped (it must exit cleanly).
design() {
	local name=$1 c
	shift
	bh_start_nf http http -s http -- --ip $TCP_IP/24 --port p0 --root "$DOCROOT" \
		--log "$WORK/$name.log" "$@" || return 1
	local pid=$NF_PID
	ip netns exec "$NS_A" $FUZZ run $TCP_IP 80 "$SEED" "$N" "$WORK/$name.out" >"$WORK/$name.json"
	echo "# $name: $(cat "$WORK/$name.json")"
	check_json "$name: every session ended by the server (none left open 10 s after the client's side shut)" \
		"$WORK/$name.json" '.sessions == '"$N"' and .timeout == 0'
	# the counters once two snapshots agree (the NF publishes them a little
	# after its last turn)
	local prev="" cur=""
	for _ in $(seq 10); do
		http_counters_settled
		cur=$(for c in $COUNTERS; do echo "$c $(http_app $c)"; done)
		[ "$cur" = "$prev" ] && break
		prev=$cur
	done
	echo "$cur" >"$WORK/$name.counters"
	if [ "$name" != shared ]; then
		for c in worker_crashes worker_seccomp_kills worker_limit_kills worker_hangs \
			worker_protocol_errors worker_spawn_failures; do
			check_cmp "$name: http.$c = 0" "$(http_app $c)" -eq 0
		done
		check_cmp "$name: workers were started" "$(http_app workers_started)" -gt 0
	fi
	tcp_nf_stop http "$pid"
}

design shared || exit 1
# The generator reached every kind of answer, and the server's closes.
st() { jq -s "[.[].statuses[]] | map(select(. == $1)) | length" "$WORK/shared.out"; }
for s in 200 206 301 304 400 404 405 413 414 416 431 501 505; do
	check_cmp "shared: sessions got $s answers" "$(st $s)" -gt 0
done
check_cmp "shared: some sessions pipelined eight requests, all answered" \
	"$(jq -s '[.[] | select(.requests == 8 and (.statuses | length) == 8)] | length' "$WORK/shared.out")" -gt 0
check_cmp "shared: some sessions were cut short by an answer-and-close" \
	"$(jq -s '[.[] | select((.statuses | length) < .requests)] | length' "$WORK/shared.out")" -gt 0

iso() { # iso NAME UNIT RECYCLE [bh-http options...]
	local name=$1 unit=$2 recycle=$3
	shift 3
	design "$name" --isolation "$unit" --recycle "$recycle" --worker "$WORK/libexec/worker" \
		--uid-range $HTTP_UID_BASE:$HTTP_UID_COUNT "$@" || return 1
	$FUZZ diff "$WORK/shared.out" "$WORK/$name.out" >"$WORK/$name.diff"
	check_json "$name: every session got the shared design's bytes and end" "$WORK/$name.diff" \
		".same == $N and .lengths == [$N, $N]" '{same, differ_ids, differ}'
	check "$name: the NF's counters are the shared design's ($(tr '\n' ' ' <"$WORK/$name.counters"))" \
		cmp -s "$WORK/shared.counters" "$WORK/$name.counters"
	cmp -s "$WORK/shared.counters" "$WORK/$name.counters" ||
		diff "$WORK/shared.counters" "$WORK/$name.counters" | sed 's/^/#   /'
}
iso pool pool:2 fresh || exit 1
iso client client scrub || exit 1
iso connection connection fresh || exit 1
iso connection-scrub connection scrub || exit 1
# one worker with room for three connections: the other sessions wait in line
iso pool-1x3 pool:1 fresh --worker-conns 3 || exit 1
# (the snapshot is the one design took of that run, before it stopped the NF)
check_cmp "pool-1x3: connections waited for room in the worker" "$(http_app conns_waited)" -gt 0
check_pool_whole "every packet buffer back in the pool"

echo "# test_http_iso_diff took $(($(date +%s) - START))s"
bh_summary
