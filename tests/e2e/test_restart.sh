#!/usr/bin/env bash
# The manager survives a SIGKILL/restart cycle: NFs of the dead manager notice and
# exit, a new manager with the same prefix starts with no manual clean-up, new NFs
# attach, traffic flows. A clean stop (SIGTERM) stops the NFs and leaves no
# hugepage files behind.
source "$(dirname "$0")/lib.sh"
bh_topology || exit 1
bh_config "$WORK/cfg.json" <<'J'
{"chains":[{"name":"a2b","hops":["forward"],"out":"p1"},{"name":"b2a","hops":["forward"],"out":"p0"}],
 "rules":[{"in_port":"p0","chain":"a2b"},{"in_port":"p1","chain":"b2a"}]}
J
ping_ok() { ip netns exec "$NS_A" ping -c 3 -i 0.1 -W 2 198.18.0.2 | grep -q ' 0% packet loss'; }

bh_start_mgr "$WORK/cfg.json" || exit 1
bh_start_nf fwd forward -s forward || exit 1
check "traffic flows (first manager)" ping_ok

for round in 1 2; do
	old=$MGR_PID nf=$NF_PID
	kill -KILL "$old"
	wait "$old" 2>/dev/null
	check "round $round: the NF exits by itself when its manager dies" bh_wait_for 3 bash -c "! kill -0 $nf 2>/dev/null"
	wait "$nf" 2>/dev/null
	check "round $round: the NF said why" grep -q 'the manager exited' "$WORK/fwd.log"
	mv "$WORK/mgr.log" "$WORK/mgr.$round.log"
	check "round $round: a new manager starts on the same prefix" bh_start_mgr "$WORK/cfg.json"
	check "round $round: a new NF attaches" bh_start_nf fwd forward -s forward
	check "round $round: traffic flows again" ping_ok
done

# Clean stop: NFs are told to stop, hugepage files are removed.
nf=$NF_PID
kill -TERM "$MGR_PID"
check "manager stops on SIGTERM" bh_wait_for 5 bash -c "! kill -0 $MGR_PID 2>/dev/null"
wait "$MGR_PID"
check_cmp "manager exit status" "$?" -eq 0
check "its NF stopped too" bh_wait_for 3 bash -c "! kill -0 $nf 2>/dev/null"
wait "$nf"
check_cmp "NF exit status" "$?" -eq 0
check_cmp "no hugepage files left" "$(ls /dev/hugepages/ | grep -c "^${PREFIX}map_")" -eq 0
bh_summary
