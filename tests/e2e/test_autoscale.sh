#!/usr/bin/env bash
# Auto-scaling policy: a slow service whose ring stays half full scales out (up
# to its max); once traffic stops it scales back in, one instance per idle
# period, down to its min. Every packet is delivered or counted.
source "$(dirname "$0")/lib.sh"
NU="$BH_PY $(dirname "$0")/netutil.py"
bh_topology || exit 1
bh_config "$WORK/cfg.json" <<'J'
{"rings":{"nf_rx":256},
 "services":[{"name":"slow","scale":{"min":1,"max":3,"out_occupancy_pct":50,"out_after_ms":300,"in_idle_ms":1500}}],
 "chains":[{"name":"a2b","hops":["slow"],"out":"p1"},{"name":"b2a","hops":[],"out":"p0"}],
 "rules":[{"in_port":"p0","chain":"a2b"},{"in_port":"p1","chain":"b2a"}]}
J
bh_start_mgr "$WORK/cfg.json" || exit 1
# About 1000 packets/s per instance (1 ms each, asleep, so no CPU is burnt).
bh_start_nf slow forward -s slow -- --work-us 1000 || exit 1
running() { jq '[.nfs[] | select(.service=="slow" and .state=="running")] | length' "$STATS"; }
ip netns exec "$NS_A" ping -c 1 -W 2 198.18.0.2 >/dev/null

ip netns exec "$NS_B" $NU udp-count 7000 3 40 >"$WORK/recv" 2>/dev/null &
RECV=$!
sleep 0.3
ip netns exec "$NS_A" $NU udp-flows 198.18.0.2 7000 10000 32 2500 6 >"$WORK/sent" &
SEND=$!
check "under load the service scales out to its max (3)" bh_wait_for 6 bash -c "[ \$(jq '[.nfs[] | select(.service==\"slow\" and .state==\"running\")] | length' $STATS) -eq 3 ]"
wait $SEND $RECV
check_cmp "it never went beyond max" "$(grep -c 'autoscale .slow.: [0-9]* -> [4-9]' "$WORK/mgr.log")" -eq 0
check "idle, it scales back in to its min (1)" bh_wait_for 12 bash -c "[ \$(jq '[.nfs[] | select(.service==\"slow\")] | length' $STATS) -eq 1 ]"
check_cmp "scale-in went one instance at a time" "$(grep -c "autoscale 'slow': 3 -> 2" "$WORK/mgr.log")" -eq 1
check_cmp "  ... then 2 -> 1" "$(grep -c "autoscale 'slow': 2 -> 1" "$WORK/mgr.log")" -eq 1
sleep 0.5
bh_snap
sent=$(jq '[.[]] | add' "$WORK/sent")
recv=$(jq '[.[]] | add' "$WORK/recv")
drops=$(bh_stat '([.ports[].drops_total] | add) + ([.nfs[].drops_total] | add)')
reclaimed=$(bh_stat '.manager.mbufs_reclaimed')
check_cmp "every packet delivered or counted (sent $sent, received $recv, dropped $drops)" \
	"$((recv + drops))" -eq "$sent"
check_cmp "no packet was left in a stopped instance" "$reclaimed" -eq 0
check_cmp "until scaled out, the overload was shed at the entry (backpressure)" \
	"$(bh_stat '.ports[0].drops.backpressure')" -gt 0
bh_summary
