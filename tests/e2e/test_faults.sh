#!/usr/bin/env bash
# Faults: an NF killed by SIGKILL mid-traffic (even one holding packets in a
# delay queue) is detected, its packets reclaimed, its service stops receiving,
# and a restarted instance takes over without restarting the manager. A stopped
# (SIGSTOP) NF fills its ring: backpressure drops the flow's packets at the
# chain's entry, counted, and traffic resumes. Packets a stalled producer puts in
# a reclaimed instance's ring are freed. Nothing leaks from the pool.
source "$(dirname "$0")/lib.sh"
NU="$BH_PY $(dirname "$0")/netutil.py"
bh_topology || exit 1

bh_config "$WORK/cfg.json" <<'J'
{"rings":{"nf_rx":256},
 "chains":[{"name":"a2b","hops":["forward","impair"],"out":"p1"},
           {"name":"b2a","hops":["forward","impair"],"out":"p0"}],
 "rules":[{"in_port":"p0","chain":"a2b"},{"in_port":"p1","chain":"b2a"}]}
J
bh_start_mgr "$WORK/cfg.json" || exit 1
bh_start_nf fwd forward -s forward || exit 1
FWD=$NF_PID
bh_start_nf imp impair -s impair -- --dir all delay=300ms || exit 1
IMP=$NF_PID

udp_round() { # udp_round PORT COUNT [LIMIT_S] -> datagrams received
	ip netns exec "$NS_B" $NU udp-recv "$1" 1.5 "${3:-15}" >"$WORK/udp.$1" 2>/dev/null &
	local r=$!
	sleep 0.3
	ip netns exec "$NS_A" $NU udp-send 198.18.0.2 "$1" "$2" >/dev/null
	wait $r
	cat "$WORK/udp.$1"
}
# Resolve ARP first: datagrams queued behind a 300 ms ARP exchange would overflow
# the kernel's unresolved-neighbour queue.
ip netns exec "$NS_A" ping -c 1 -W 3 198.18.0.2 >/dev/null
check_cmp "traffic flows through forward -> impair(300 ms)" "$(udp_round 7000 200)" -eq 200

# Kill impair while it holds packets in its delay queue.
ip netns exec "$NS_A" $NU udp-send 198.18.0.2 7001 400 >/dev/null &
sender=$!
sleep 0.25
kill -KILL "$IMP"
wait "$IMP" 2>/dev/null
check "manager saw the NF die" bh_wait_for 5 grep -q "NF 1 'imp' (pid $IMP) exited" "$WORK/mgr.log"
reclaimed=$(sed -n "s/.*NF 1 'imp' (pid $IMP) exited; reclaimed \([0-9]*\) packets.*/\1/p" "$WORK/mgr.log")
check_cmp "packets held by the dead NF were reclaimed" "${reclaimed:-0}" -gt 0
wait $sender
bh_snap
check_cmp "service impair has no instance" "$(bh_stat '.services[] | select(.name=="impair") | .instances')" -eq 0
check_pool_whole "no packet buffer leaked"
check_cmp "manager still running" "$(kill -0 "$MGR_PID" && echo 1 || echo 0)" -eq 1
# While impair is gone, the forwarder drops what it cannot hand on, counted.
before=$(bh_nf_stat fwd .drops.no_instance)
# (none comes: the receiver waits 3 s, not its 15, the 50 sent within the first)
check_cmp "no traffic passes without the service" "$(udp_round 7002 50 3)" -eq 0
bh_snap
check_cmp "those packets were counted as no_instance drops" "$(bh_nf_stat fwd .drops.no_instance)" -ge $((before + 50))

# A restarted instance takes over.
bh_start_nf imp2 impair -s impair -- --dir all delay=1ms || exit 1
IMP2=$NF_PID
check_cmp "traffic resumes through the restarted NF" "$(udp_round 7003 200)" -eq 200

# Same for the first hop, killed under load.
ip netns exec "$NS_A" $NU udp-send 198.18.0.2 7004 2000 >/dev/null &
sender=$!
sleep 0.2
kill -KILL "$FWD"
wait $sender
check "forward's death detected" bh_wait_for 5 grep -q "(pid $FWD) exited" "$WORK/mgr.log"
bh_start_nf fwd2 forward -s forward || exit 1
check_cmp "traffic resumes after the first hop restarts" "$(udp_round 7005 200)" -eq 200

# SIGSTOP the forwarder (first hop): its ring (256) fills to the high-water mark,
# then the entry drops the flow's packets as backpressure; all counted.
kill -STOP "$NF_PID"
bh_snap
p0_before=$(bh_stat '.ports[0].drops_total')
ip netns exec "$NS_A" $NU udp-send 198.18.0.2 7006 1000 >/dev/null
bh_snap
queued=$(bh_nf_stat fwd2 .ring.rx_count)
dropped=$(( $(bh_stat '.ports[0].drops_total') - p0_before ))
check_cmp "entry drops counted as backpressure" "$(bh_stat '.ports[0].drops.backpressure')" -ge 500
check_cmp "the stalled NF's ring was filled to its high-water mark" "$queued" -ge 192
check_cmp "every datagram queued or counted" "$((queued + dropped))" -ge 1000
kill -CONT "$NF_PID"
check_cmp "traffic flows again after the NF resumes" "$(udp_round 7007 200)" -eq 200

# SIGSTOP the second hop: the first NF is not fed packets it would only drop;
# the chain's entry drops them instead.
kill -STOP "$IMP2"
bh_snap
bp_before=$(bh_stat '.ports[0].drops.backpressure')
full_before=$(bh_nf_stat fwd2 .drops.ring_full)
ip netns exec "$NS_A" $NU udp-send 198.18.0.2 7008 2000 >/dev/null
bh_snap
bp=$(( $(bh_stat '.ports[0].drops.backpressure') - bp_before ))
full=$(( $(bh_nf_stat fwd2 .drops.ring_full) - full_before ))
check_cmp "downstream stall: dropped at the entry" "$bp" -ge 1000
check_cmp "downstream stall: few drops after the first NF did its work" "$full" -le 64
kill -CONT "$IMP2"
check_cmp "traffic flows again" "$(udp_round 7009 200)" -eq 200

# A producer that picked an instance and stalled (preempted, stopped) until
# after the manager reclaimed that instance puts its burst in the ring of a
# slot nobody consumes: the manager frees it (the sweep), counted.
bh_start_nf victim forward -s victim || exit 1
VICTIM=$NF_PID
mkfifo "$WORK/late.in"
"$BH_BUILD/tests/tools/bh-late-producer" -P "$PREFIX" -n late -- victim 16 <"$WORK/late.in" >"$WORK/late.log" 2>&1 &
LATE=$!
BH_PIDS+=("$LATE")
exec 7>"$WORK/late.in"
check "the late producer picked the victim's slot" bh_wait_for 5 grep -q '^picked' "$WORK/late.log"
bh_snap
swept0=$(bh_stat .manager.mbufs_swept)
kill -TERM "$VICTIM"
wait "$VICTIM" 2>/dev/null
check "the victim was reclaimed" bh_wait_for 5 grep -q "(pid $VICTIM) exited; reclaimed" "$WORK/mgr.log"
(trap '' PIPE; echo go >&7) 2>/dev/null # should it have died, the checks below say so
exec 7>&-
wait "$LATE"
check "the late producer put 16 packets in the free slot's ring" grep -qx 'sent 16' "$WORK/late.log"
swept_all() { bh_snap; [ "$(bh_stat .manager.mbufs_swept)" -eq $((swept0 + 16)) ]; }
check "the manager freed them (manager.mbufs_swept +16)" bh_wait_for 3 swept_all
check "and said so in its log" grep -q "freed 16 packets that reached its ring after its NF 'victim'" "$WORK/mgr.log"
sleep 0.5
bh_snap
check_pool_whole "no packet buffer leaked at the end"
check_cmp "NFs started / exited" "$(bh_stat '.manager.nf_started - .manager.nf_exited')" -eq 2 # fwd2, imp2
bh_summary
