#!/usr/bin/env bash
# Child NFs and flow affinity. Under steady multi-flow traffic a service scales
# 1 -> 4 -> 2 through the API (children are processes spawned by the first
# instance); every packet is accounted for, and each flow is handled by at most
# two instances over the whole run. Then a child killed with SIGKILL: its flows
# move to the survivors, the other flows stay where they were.
source "$(dirname "$0")/lib.sh"
NU="$BH_PY $(dirname "$0")/netutil.py"
bh_topology || exit 1
TOKEN=test-token-$T-0123456789
bh_config "$WORK/cfg.json" <<J
{"chains":[{"name":"a2b","hops":["monitor"],"out":"p1"},{"name":"b2a","hops":["monitor"],"out":"p0"}],
 "rules":[{"in_port":"p0","chain":"a2b"},{"in_port":"p1","chain":"b2a"}],
 "api":{"token":"$TOKEN"}}
J
bh_start_mgr "$WORK/cfg.json" || exit 1
mkdir -p "$WORK/d1" "$WORK/d2"
api() { ip netns exec "$NS_M" curl -s -m 5 -H "Authorization: Bearer $TOKEN" "$@"; }
scale() { api -X POST "127.0.0.1:8470/api/v1/services/monitor/scale" -d "{\"instances\":$1}" >/dev/null; }
instances() { api 127.0.0.1:8470/api/v1/stats | jq '[.nfs[] | select(.service=="monitor" and .state=="running")] | length'; }
mon_pids() { api 127.0.0.1:8470/api/v1/stats | jq -r '.nfs[] | select(.service=="monitor") | .pid'; }

# The dump files name the process; a flow "in" a file was handled by that instance.
# affinity DIR SPORT0 N SENT_JSON: "max_instances moved full_flows" over the flows
affinity() {
	local dir=$1 lo=$2 n=$3 sent=$4
	for f in "$dir"/*.flows; do
		awk -v lo="$lo" -v hi=$((lo + n - 1)) -v f="$f" '
			$1 == "udp" && $4 == "198.18.0.2:7000" { split($2, a, ":"); if (a[2] >= lo && a[2] <= hi) print f, a[2], $5 }' "$f"
	done | jq -R -s --argjson sent "$sent" '
		[split("\n")[] | select(length > 0) | split(" ") | {file: .[0], port: .[1], pkts: (.[2] | tonumber)}]
		| group_by(.port)
		| { max: (map(length) | max),
		    moved: (map(select(length > 1)) | length),
		    full: (map(select((map(.pkts) | add) == $sent[.[0].port])) | length),
		    flows: length }
		| "\(.max) \(.moved) \(.full) \(.flows)"' -r
}

# --- 1 -> 4 -> 2 under traffic -------------------------------------------------
bh_start_nf mon monitor -s monitor -- --top 0 --dump "$WORK/d1" || exit 1
ip netns exec "$NS_A" ping -c 1 -W 2 198.18.0.2 >/dev/null # ARP, before the counted traffic
ip netns exec "$NS_B" $NU udp-count 7000 2 30 >"$WORK/recv1" 2>/dev/null &
RECV=$!
sleep 0.3
ip netns exec "$NS_A" $NU udp-flows 198.18.0.2 7000 10000 64 2000 8 >"$WORK/sent1" &
SEND=$!
sleep 2
scale 4
check "scale-out: 4 instances running" bh_wait_for 5 bash -c "[ \"\$(ip netns exec $NS_M curl -s 127.0.0.1:8470/api/v1/stats | jq '[.nfs[] | select(.service==\"monitor\" and .state==\"running\")] | length')\" = 4 ]"
check "the new instances are child NFs" [ "$(api 127.0.0.1:8470/api/v1/stats | jq '[.nfs[] | select(.service=="monitor") | .loop] | length')" -ge 4 ]
sleep 2.5
scale 2
check "scale-in: 2 instances left" bh_wait_for 5 bash -c "[ \"\$(ip netns exec $NS_M curl -s 127.0.0.1:8470/api/v1/stats | jq '[.nfs[] | select(.service==\"monitor\")] | length')\" = 2 ]"
wait $SEND $RECV
sleep 0.5
bh_snap
for p in $(mon_pids); do kill -TERM "$p"; done
check "every instance exited and wrote its flows" bh_wait_for 5 bash -c "[ \$(ls $WORK/d1 | wc -l) -ge 4 ]"
sent=$(jq '[.[]] | add' "$WORK/sent1")
recv=$(jq '[.[]] | add' "$WORK/recv1")
drops=$(bh_stat '([.ports[].drops_total] | add) + ([.nfs[].drops_total] | add)')
echo "# counted drops, by kind (none: {}): $(jq -c '[(.ports[] | {(.name): .drops}),
	(.nfs[] | {("\(.name)/\(.instance)"): .drops})] | add | map_values(with_entries(select(.value > 0)))
	| with_entries(select(.value != {}))' "$WORK/snap.json")"
check_cmp "every packet accounted for: received + counted drops = sent" "$((recv + drops))" -eq "$sent"
check_cmp "no packet lost" "$recv" -eq "$sent"
read -r max moved full flows <<<"$(affinity "$WORK/d1" 10000 64 "$(cat "$WORK/sent1")")"
check_cmp "all 64 flows seen by the instances" "$flows" -eq 64
check_cmp "each flow handled by at most two instances" "$max" -le 2
check_cmp "scaling moved some flows" "$moved" -gt 0
check_cmp "each flow's packets all counted across instances" "$full" -eq 64
bh_wait_for 5 bash -c "[ \"\$(ip netns exec $NS_M curl -s 127.0.0.1:8470/api/v1/stats | jq '.nfs | length')\" = 0 ]"

# --- a child killed --------------------------------------------------------------
bh_start_nf mon2 monitor -s monitor -- --top 0 --dump "$WORK/d2" || exit 1
scale 3
check "3 instances" bh_wait_for 5 bash -c "[ \"\$(ip netns exec $NS_M curl -s 127.0.0.1:8470/api/v1/stats | jq '[.nfs[] | select(.service==\"monitor\" and .state==\"running\")] | length')\" = 3 ]"
victim=$(api 127.0.0.1:8470/api/v1/stats | jq -r '[.nfs[] | select(.service=="monitor" and .instance==2)][0].pid')
ip netns exec "$NS_B" $NU udp-count 7000 2 30 >"$WORK/recv2" 2>/dev/null &
RECV=$!
sleep 0.3
ip netns exec "$NS_A" $NU udp-flows 198.18.0.2 7000 20000 48 1500 5 >"$WORK/sent2" &
SEND=$!
sleep 2
kill -KILL "$victim"
check "the killed child is reaped" bh_wait_for 5 grep -q "(pid $victim) exited" "$WORK/mgr.log"
wait $SEND $RECV
sleep 0.5
bh_snap
check_cmp "2 instances after the kill" "$(bh_stat '[.nfs[] | select(.service=="monitor")] | length')" -eq 2
for p in $(mon_pids); do kill -TERM "$p"; done
check "survivors wrote their flows" bh_wait_for 5 bash -c "[ \$(ls $WORK/d2 | wc -l) -eq 2 ]"
read -r max moved full flows <<<"$(affinity "$WORK/d2" 20000 48 "$(cat "$WORK/sent2")")"
check_cmp "no flow moved between surviving instances" "$max" -eq 1
check_cmp "all flows reached a survivor" "$flows" -eq 48
check_cmp "flows that never were on the dead child kept every packet" "$full" -ge 16
check_cmp "the dead child's flows moved (some packets went with it)" "$full" -lt 48
sent=$(jq '[.[]] | add' "$WORK/sent2")
recv=$(jq '[.[]] | add' "$WORK/recv2")
reclaimed=$(sed -n "s/.*(pid $victim) exited; reclaimed \([0-9]*\) packets.*/\1/p" "$WORK/mgr.log")
lost=$((sent - recv))
check_cmp "packets lost with the killed child are the ones it held (reclaimed)" "$lost" -le "$((reclaimed + 64))"

# --- scale calls racing a scale-out ---------------------------------------------
bh_wait_for 5 bash -c "[ \"\$(ip netns exec $NS_M curl -s 127.0.0.1:8470/api/v1/stats | jq '.nfs | length')\" = 0 ]"
bh_start_nf mon3 monitor -s monitor -- --top 0 || exit 1
spawns0=$(grep -c 'spawns' "$WORK/mgr.log")
scale 4
scale 4 # again, while the children are starting: nothing more is spawned
scale 2 # lowered while they are starting: the extra children stop
check "scale-out then scale-in mid-spawn settles at 2 instances" bh_wait_for 8 bash -c \
	"[ \"\$(ip netns exec $NS_M curl -s 127.0.0.1:8470/api/v1/stats | jq '.nfs | length')\" = 2 ]"
check_cmp "a repeated scale call spawned nothing more" "$(( $(grep -c 'spawns' "$WORK/mgr.log") - spawns0 ))" -eq 1
bh_start_nf mon4 monitor -s monitor -- --top 0 || exit 1
check "an instance started by hand still joins" bh_wait_for 5 bash -c \
	"[ \"\$(ip netns exec $NS_M curl -s 127.0.0.1:8470/api/v1/stats | jq '[.nfs[] | select(.state==\"running\")] | length')\" = 3 ]"
bh_summary
