#!/usr/bin/env bash
# Packet-pool exhaustion: with a small pool and a stalled NF holding all of it,
# arriving packets find no buffer. The manager counts the episode (pool
# empty_events; af_packet leaves the packets in the kernel's ring and does not
# report what the kernel then drops), nothing crashes, and once the NF resumes
# traffic flows and every buffer is back in the pool.
source "$(dirname "$0")/lib.sh"
NU="$BH_PY $(dirname "$0")/netutil.py"
bh_topology || exit 1
bh_config "$WORK/cfg.json" <<'J'
{"pool":{"mbufs":1023},"rings":{"nf_rx":4096},
 "chains":[{"name":"a2b","hops":["forward"],"out":"p1"},{"name":"b2a","hops":[],"out":"p0"}],
 "rules":[{"in_port":"p0","chain":"a2b"},{"in_port":"p1","chain":"b2a"}]}
J
bh_start_mgr "$WORK/cfg.json" || exit 1
bh_start_nf fwd forward -s forward || exit 1
ip netns exec "$NS_A" ping -c 1 -W 2 198.18.0.2 >/dev/null

kill -STOP "$NF_PID"
ip netns exec "$NS_A" $NU udp-send 198.18.0.2 7000 3000 >/dev/null
sleep 0.5
bh_snap
held=$(bh_nf_stat fwd .ring.rx_count)
check_cmp "the stalled NF holds most of the pool" "$held" -ge 900
check_cmp "the pool ran dry" "$(bh_stat .pool.available)" -le 64
check_cmp "the empty pool was counted" "$(bh_stat .pool.empty_events)" -ge 1
check_cmp "  ... and nothing was received past it" "$(bh_stat '.ports[0].rx_pkts')" -le 1100
check "the manager is still running" kill -0 "$MGR_PID"
kill -CONT "$NF_PID"
sleep 1
ip netns exec "$NS_B" $NU udp-recv 7001 1.5 10 >"$WORK/recv" 2>/dev/null &
r=$!
sleep 0.3
ip netns exec "$NS_A" $NU udp-send 198.18.0.2 7001 300 >/dev/null
wait $r
check_cmp "traffic flows again once the NF resumes" "$(cat "$WORK/recv")" -eq 300
sleep 0.5
bh_snap
check_pool_whole "every buffer is back in the pool"
bh_summary
