#!/usr/bin/env bash
# Packet-level conformance of the user-level TCP stack, probed with scapy from
# the client namespace: ARP, ICMP echo, RST for closed ports, option
# negotiation in both directions (the stack as server and as client), RFC 5961
# RST / SYN / ACK handling. The kernel of the client namespace must stay out
# of the crafted connections: nftables drops its RSTs towards the stack.
source "$(dirname "$0")/lib.sh"
bh_topology || exit 1
STACK=198.18.0.3
MAC=02:00:c6:12:00:03
IFACE=bh${T}a

bh_config "$WORK/cfg.json" <<'J'
{"chains":[{"name":"tcp","hops":["tcp"],"out":"p0"}],
 "rules":[{"in_port":"p0","chain":"tcp"}]}
J
bh_start_mgr "$WORK/cfg.json" || exit 1
bh_start_nf echo tcp-echo -s tcp -- --ip $STACK/24 --port p0 --listen 7 || exit 1
ECHO_PID=$NF_PID

ip netns exec "$NS_A" nft -f - <<N
table ip bhconf {
	chain out {
		type filter hook output priority 0;
		ip daddr $STACK tcp flags rst drop
	}
}
N

# Run one probe script; turn each "CHECK 1|0 what" line into a check.
run_probes() {
	local line
	while IFS= read -r line; do
		case $line in
		"CHECK 1 "*) check "${line#CHECK 1 }" true ;;
		"CHECK 0 "*) check "${line#CHECK 0 }" false ;;
		*) echo "     $line" ;;
		esac
	done
}

ip netns exec "$NS_A" timeout 60 $BH_PY "$(dirname "$0")/tcp_conformance.py" \
	passive "$IFACE" $STACK 7 9 $MAC >"$WORK/passive.out" 2>&1
check "passive probes ran to the end" [ $? -eq 0 ]
run_probes <"$WORK/passive.out"

bh_snap
check_cmp "stack counted the challenge ACKs" \
	"$(bh_nf_stat echo '[.app | to_entries[] | select(.key | endswith("challenge_acks")) | .value][0]')" -ge 2
check_cmp "stack counted the RSTs to closed ports" \
	"$(bh_nf_stat echo '[.app | to_entries[] | select(.key | endswith("no_conn")) | .value][0]')" -ge 3

# The stack as client: tcp-source (same address, same service, once the echo
# NF is gone) opens one connection to a port where scapy answers by hand with
# a bare SYN-ACK.
kill -TERM "$ECHO_PID"
wait "$ECHO_PID" 2>/dev/null
rm -f "$WORK/ready"
ip netns exec "$NS_A" timeout 30 $BH_PY "$(dirname "$0")/tcp_conformance.py" \
	active "$IFACE" $STACK 9000 "$WORK/ready" >"$WORK/active.out" 2>&1 &
PROBE=$!
bh_wait_for 10 test -e "$WORK/ready"
bh_start_nf src tcp-source -s tcp -- --ip $STACK/24 --port p0 \
	--connect 198.18.0.1:9000 --bytes 4000 --conns 1 || exit 1
wait $PROBE
check "active probe ran to the end" [ $? -eq 0 ]
run_probes <"$WORK/active.out"

bh_summary
