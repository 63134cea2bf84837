#!/usr/bin/env bash
# Ping, a TCP and a UDP transfer cross the platform through forward -> firewall
# -> out, both ways; a firewall rule blocks a UDP port and its counter matches
# the datagrams sent; every packet is accounted for and no buffer is leaked.
# The manager runs in the host's namespace here and opens its ports in their own
# (ports[].netns): the path the demo uses so its console is reachable.
BH_MGR_NETNS=host
source "$(dirname "$0")/lib.sh"
NU="$BH_PY $(dirname "$0")/netutil.py"
bh_topology || exit 1

cat >"$WORK/fw.rules" <<'R'
# block one UDP port and one TCP port towards B
deny proto udp dst 198.18.0.2 dport 6001
deny proto tcp dport 5002
allow
R
bh_config "$WORK/cfg.json" <<'J'
{"chains":[{"name":"a2b","hops":["forward","firewall"],"out":"p1"},
           {"name":"b2a","hops":["forward","firewall"],"out":"p0"}],
 "rules":[{"in_port":"p0","chain":"a2b"},{"in_port":"p1","chain":"b2a"}]}
J
bh_start_mgr "$WORK/cfg.json" || exit 1
bh_start_nf fwd forward -s forward || exit 1
bh_start_nf fw firewall -s firewall -- --rules "$WORK/fw.rules" || exit 1

out=$(ip netns exec "$NS_A" ping -c 5 -i 0.1 -W 2 198.18.0.2)
check "ping A->B through the chain" grep -q ' 0% packet loss' <<<"$out"
out=$(ip netns exec "$NS_B" ping -c 3 -i 0.1 -W 2 198.18.0.1)
check "ping B->A through the chain" grep -q ' 0% packet loss' <<<"$out"

# TCP: 8 MiB each way, checksummed.
for dir in AB BA; do
	if [ $dir = AB ]; then src=$NS_A dst=$NS_B ip=198.18.0.2; else src=$NS_B dst=$NS_A ip=198.18.0.1; fi
	ip netns exec "$dst" $NU tcp-recv 5001 30 >"$WORK/tcp.$dir" 2>/dev/null &
	sleep 0.3
	sent=$(ip netns exec "$src" $NU tcp-send $ip 5001 $((8 << 20)) 7)
	wait $!
	check "TCP 8 MiB $dir arrives byte-identical" [ "$sent" = "$(cat "$WORK/tcp.$dir")" ]
done

# UDP: 500 datagrams to an open port all arrive; 300 to the blocked port none.
ip netns exec "$NS_B" $NU udp-recv 6000 1 10 >"$WORK/udp.ok" 2>/dev/null &
r1=$!
ip netns exec "$NS_B" $NU udp-recv 6001 1 3 >"$WORK/udp.blocked" 2>/dev/null &
r2=$!
sleep 0.3
ip netns exec "$NS_A" $NU udp-send 198.18.0.2 6000 500 >/dev/null
ip netns exec "$NS_A" $NU udp-send 198.18.0.2 6001 300 >/dev/null
wait $r1 $r2
check_cmp "UDP datagrams to an open port arrive" "$(cat "$WORK/udp.ok")" -eq 500
check_cmp "UDP datagrams to the blocked port do not" "$(cat "$WORK/udp.blocked")" -eq 0

# TCP to the blocked port: the SYN is dropped, so the connection times out.
check "TCP to a blocked port times out" [ "$(ip netns exec "$NS_A" $NU tcp-try 198.18.0.2 5002 1)" = timeout ]

sleep 0.5
bh_snap
check_cmp "firewall rule 1 counted every blocked datagram" "$(bh_nf_stat fw '[.app | to_entries[] | select(.key|startswith("rule1 ")) | .value][0]')" -eq 300
check_cmp "firewall rule 2 counted the SYNs" "$(bh_nf_stat fw '[.app | to_entries[] | select(.key|startswith("rule2 ")) | .value][0]')" -ge 1
check_cmp "firewall verdict drops = rule hits" "$(bh_nf_stat fw '.drops.verdict')" -eq \
	"$(bh_nf_stat fw '[.app | to_entries[] | select(.key|test("^rule[12] ")) | .value] | add')"

# Accounting: what the ports received = what the forwarder received; forwarder
# passed all; firewall rx = tx + drops; ports transmitted what the firewall passed.
rx=$(bh_stat '[.ports[].rx_pkts] | add')
tx=$(bh_stat '[.ports[].tx_pkts] | add')
check_cmp "forward received every packet the ports received" "$(bh_nf_stat fwd .rx_pkts)" -eq "$rx"
check_cmp "forward passed every packet" "$(bh_nf_stat fwd .tx_pkts)" -eq "$rx"
check_cmp "firewall: rx = tx + drops" "$(bh_nf_stat fw .rx_pkts)" -eq \
	"$(( $(bh_nf_stat fw .tx_pkts) + $(bh_nf_stat fw .drops_total) ))"
check_cmp "ports sent what the firewall passed" "$tx" -eq "$(bh_nf_stat fw .tx_pkts)"
check_cmp "no port drops" "$(bh_stat '[.ports[].drops_total] | add')" -eq 0
check_pool_whole "all packet buffers back in the pool"
check "statistics carry rates" [ "$(bh_stat '[.ports[], .nfs[] | has("rx_pps") and has("tx_pps") and has("drops_ps")] | all')" = true ]
check "NFs are asleep when idle" [ "$(bh_stat '[.nfs[].sleeping] | all')" = true ]
bh_summary
