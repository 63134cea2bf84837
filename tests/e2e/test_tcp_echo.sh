#!/usr/bin/env bash
# The TCP stack inside an NF (tcp-echo) against the kernel's stack in client A:
# ARP and ping answered, a closed port refuses (RST), 100 MiB echoed both ways
# byte-identical, the stack's counters in the platform's statistics (JSON and
# /metrics) and consistent with the packet accounting, the NF asleep when idle.
source "$(dirname "$0")/tcp_lib.sh"
bh_topology || exit 1
START=$(date +%s)
tcp_config "$WORK/cfg.json" '["tcp-echo"]'
bh_start_mgr "$WORK/cfg.json" || exit 1
bh_start_nf echo tcp-echo -s tcp-echo -- --ip $TCP_IP/24 --port p0 --listen 7 || exit 1
ECHO_PID=$NF_PID

# bad stack options are refused before attaching, naming the option
out=$("$BH_BUILD/nfs/tcp-echo/bh-tcp-echo" -P "$PREFIX" -- --ip $TCP_IP/24 --mtu 20 2>&1)
check "a bad option is refused with exit status 2" [ $? -eq 2 ]
check "  ... in one line naming it" grep -q -- '--mtu' <<<"$out"

out=$(ip netns exec "$NS_A" ping -c 5 -i 0.1 -W 2 $TCP_IP)
check "ping the stack's address" grep -q ' 0% packet loss' <<<"$out"
check "A learned the stack's MAC (derived from its address)" \
	bash -c "ip -n $NS_A neigh show $TCP_IP | grep -qi 'lladdr $TCP_MAC'"
out=$(ip netns exec "$NS_A" arping -c 2 -w 3 -I "bh${T}a" $TCP_IP 2>&1) # iputils-arping
check "arping is answered" grep -qi "from $TCP_IP \[$TCP_MAC\]" <<<"$out"
check "a closed port refuses the connection (RST)" \
	[ "$(ip netns exec "$NS_A" $NU tcp-try $TCP_IP 9 2)" = refused ]
check "the echo port accepts" [ "$(ip netns exec "$NS_A" $NU tcp-try $TCP_IP 7 2)" = open ]

tcp_echo_check "100 MiB echo" $((100 << 20))
echo "# 100 MiB each way took ${ECHO_S}s"

# counters, once the NF has published them after the traffic
sleep 0.5
bh_snap
check_cmp "tcp_established counted" "$(tcp_app echo tcp_established)" -ge 2
check_cmp "no segment with a bad checksum" "$(tcp_app echo tcp_bad_cksum)" -eq 0
check_cmp "every segment the stack built was sent (tcp_tx_no_route)" "$(tcp_app echo tcp_tx_no_route)" -eq 0
check_cmp "the stack announced itself (gratuitous ARP) and asked for A" "$(tcp_app echo net_arp_requests)" -ge 1
check_cmp "the stack answered ARP" "$(tcp_app echo net_arp_replied)" -ge 1
check_cmp "the stack answered pings" "$(tcp_app echo net_icmp_echo)" -ge 5
check_cmp "the closed port's SYN was counted (no_conn)" "$(tcp_app echo tcp_no_conn)" -ge 1
check_cmp "echo read 100 MiB" "$(tcp_app echo echo.bytes_in)" -eq $((100 << 20))
check_cmp "echo wrote it back" "$(tcp_app echo echo.bytes_out)" -eq $((100 << 20))
check_cmp "every connection closed" "$(tcp_app echo echo.conns_open)" -eq 0
check_cmp "no connection ended in an error" "$(tcp_app echo echo.conn_errors)" -eq 0
check_cmp "no frame lost for want of a buffer" "$(tcp_app echo nf.tx_nobuf)" -eq 0
check_cmp "no frame lost on the way out" "$(tcp_app echo nf.tx_lost)" -eq 0
rx=$(bh_nf_stat echo .rx_pkts)
check_cmp "the NF consumed every packet it received" "$(bh_nf_stat echo .consumed)" -eq "$rx"
check_cmp "  ... and handed every one to the stack" "$(tcp_app echo nf.rx_frames)" -eq "$rx"
check_cmp "the stack's frames all left the NF" "$(bh_nf_stat echo .tx_pkts)" -eq "$(tcp_app echo nf.tx_frames)"
check_cmp "the NF dropped nothing" "$(bh_nf_stat echo .drops_total)" -eq 0
check_cmp "port p0 received what the NF received" "$(bh_stat '.ports[0].rx_pkts')" -eq "$rx"
check_cmp "port p0 sent what the stack sent" "$(bh_stat '.ports[0].tx_pkts')" -eq "$(bh_nf_stat echo .tx_pkts)"
check_cmp "no port drops" "$(bh_stat '[.ports[].drops_total] | add')" -eq 0
check_pool_whole "no packet buffer held"
check "the stack's counters are in /metrics" bash -c \
	"ip netns exec $NS_M curl -s -m 5 http://127.0.0.1:8470/metrics | grep -q 'bulkhead_nf_app{nf=\"echo\",id=\"[0-9]*\",counter=\"tcp_established\"} [1-9]'"

# idle: the NF sleeps between timers and costs next to no CPU
sleep 1
bh_snap
w0=$(bh_nf_stat echo .loop.wakeups)
c0=$(tcp_cpu_ticks "$ECHO_PID")
sleep 2
bh_snap
check "the idle NF is asleep" [ "$(bh_nf_stat echo .sleeping)" = true ]
check_cmp "the idle NF woke at most 25 times in 2 s" $(($(bh_nf_stat echo .loop.wakeups) - w0)) -le 25
check_cmp "the idle NF used at most 40 ms of CPU in 2 s" $((($(tcp_cpu_ticks "$ECHO_PID") - c0) * 1000 / $(getconf CLK_TCK))) -le 40

tcp_nf_stop echo "$ECHO_PID"
echo "# test_tcp_echo took $(($(date +%s) - START))s"
bh_summary
