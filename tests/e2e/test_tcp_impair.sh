#!/usr/bin/env bash
# The TCP stack (tcp-echo) over a bad network: 100 MiB echoed byte-identical
# through impair (placed on both ways: p0 -> impair -> tcp-echo, and
# tcp-echo -> impair -> p0 with the stack's --chain) with 1% and 5% loss,
# reordering, duplication, 10 ms delay and a 200 Mbit/s rate limit, then with
# 2% random loss on the client's own output (nftables numgen). One impair
# instance per case, replaced between cases; the echo NF stays. Both ways
# arrive on p0, so one spec (--dir all) applies to both directions, and a rate
# limit is shared by them. Each case prints its time and must finish within
# TCP_IMPAIR_LIMIT seconds (60), the 5% loss case within 180 s: with 5% of the
# packets lost each way, 100 MiB takes 10-15 s (a minute when every lost
# retransmission and every lost tail waited for the 200 ms timer).
# Each case prints the stack's loss-recovery and buffer counters; under loss, tail loss
# probes must have been sent, and at 5% have found data lost; reordering must
# have been seen, and neither reordering nor duplication alone may start more
# than a few recoveries.
# TCP_IMPAIR_BYTES (100 MiB) and TCP_STACK_OPTS (extra stack options, e.g.
# --no-sack) are for experiments.
source "$(dirname "$0")/tcp_lib.sh"
bh_topology || exit 1
START=$(date +%s)
BYTES=${TCP_IMPAIR_BYTES:-$((100 << 20))}
LIMIT=${TCP_IMPAIR_LIMIT:-60} # seconds per case
tcp_config "$WORK/cfg.json" '["impair","tcp-echo"]' '["impair"]'
bh_start_mgr "$WORK/cfg.json" || exit 1
bh_start_nf echo tcp-echo -s tcp-echo -- --ip $TCP_IP/24 --port p0 --chain out --listen 7 ${TCP_STACK_OPTS:-} || exit 1
CASE=0
TIMES=()
# The stack's buffer auto-tuning: on a 20 ms round trip the buffers must
# grow (without delay this machine's round trips sample at 0 or 1 ms, and
# some connections grow a step: not checked here; the unit test's world
# without delay must not).
GROWN="rcvbuf_grown sndbuf_grown"
# The stack's loss-recovery counters, printed per case (without "tcp_").
RECOVERY="rto_expired fast_retrans sack_retrans lost_retrans tlp_probes tlp_found_lost tlp_repaired reorder_seen spurious_undone"

# impaired LABEL SPEC COUNTER [LIMIT]: echo BYTES through impair with SPEC (none:
# pass) within LIMIT seconds; COUNTER is an impair counter that must have
# counted (dir0.lost ...), or "".
impaired() {
	local label=$1 spec=$2 counter=$3 limit=${4:-$LIMIT} bytes=$BYTES ok=0 t0 n0 k line=""
	local -A c0
	CASE=$((CASE + 1))
	if [ "$spec" = none ]; then
		bh_start_nf "imp$CASE" impair -s impair || exit 1
	else
		bh_start_nf "imp$CASE" impair -s impair -- --dir all "$spec,seed=$((40 + CASE))" || exit 1
	fi
	local imp=$NF_PID
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		ip netns exec "$NS_A" ping -c 1 -W 1 $TCP_IP >/dev/null && ok=1 && break
	done
	check "$label: ping through impair" [ $ok = 1 ]
	bh_snap
	for k in $RECOVERY $GROWN; do c0[$k]=$(tcp_app echo "tcp_$k"); done
	n0=$(tcp_app echo tcp_tx_no_route)
	t0=$(date +%s.%N)
	tcp_echo_check "$label" "$bytes" "$CASE" "$limit"
	TIMES+=("$label: $(printf '%.1f' "$(echo "$(date +%s.%N) - $t0" | bc)")s")
	sleep 0.3
	bh_snap
	for k in $RECOVERY $GROWN; do c0[$k]=$(($(tcp_app echo "tcp_$k") - c0[$k])) && line+=" $k ${c0[$k]}"; done
	check_cmp "$label: every segment the stack built was sent (none refused as too big: net_too_big)" \
		$(($(tcp_app echo tcp_tx_no_route) - n0)) -eq 0
	if [ -n "$counter" ]; then
		check_cmp "$label: impair's $counter counted" "$(tcp_app "imp$CASE" "$counter")" -gt 0
	fi
	echo "# $label: the stack's recovery:$line"
	if [ "${label#loss}" != "$label" ]; then
		check_cmp "$label: tail loss probes sent" "${c0[tlp_probes]}" -gt 0
	fi
	if [ "$label" = "loss 5%" ]; then
		check_cmp "$label: a probe's SACK showed data lost" "${c0[tlp_found_lost]}" -gt 0
	fi
	# Reordering alone: DupThresh follows it (a first late segment may
	# start a recovery, undone by the D-SACK of its resend); ~300 recoveries
	# when DupThresh stayed 3. Duplicates alone: their D-SACKs are no
	# duplicate ACKs (RFC 6675 §2); 145-179 recoveries when they counted.
	if [ "${label#reordering}" != "$label" ]; then
		check_cmp "$label: late segments seen" "${c0[reorder_seen]}" -gt 0
		check_cmp "$label: few recoveries" "${c0[fast_retrans]}" -lt 50
	fi
	if [ "$label" = "delay 10 ms" ]; then
		check_cmp "$label: receive buffers grown" "${c0[rcvbuf_grown]}" -gt 0
		check_cmp "$label: send buffers grown" "${c0[sndbuf_grown]}" -gt 0
	fi
	if [ "${label#duplication}" != "$label" ]; then
		check_cmp "$label: few recoveries" "${c0[fast_retrans]}" -lt 20
	fi
	kill -TERM "$imp"
	wait "$imp" 2>/dev/null
}

impaired "loss 1%" loss=1% dir0.lost
impaired "loss 5%" loss=5% dir0.lost 180
impaired "reordering 5% (2 ms delay)" delay=2ms,reorder=5% dir0.reordered
impaired "duplication 5%" dup=5% dir0.dup
impaired "delay 10 ms" delay=10ms dir0.delayed
impaired "rate 200 Mbit/s" rate=200mbit,limit=2000 dir0.in

# random loss on the client's own output, in its namespace
ip netns exec "$NS_A" nft -f - <<'N'
table inet bhloss {
	chain out {
		type filter hook output priority 0; policy accept;
		ip daddr 198.18.0.3 numgen random mod 100 < 2 counter drop
	}
}
N
impaired "client-side 2% loss (nftables)" none ""
dropped=$(ip netns exec "$NS_A" nft -j list table inet bhloss | jq '[.. | .counter? | objects | .packets] | add')
check_cmp "client-side loss: nftables dropped packets" "$dropped" -gt 0
ip netns exec "$NS_A" nft delete table inet bhloss

sleep 0.5
bh_snap
check_cmp "no segment with a bad checksum" "$(tcp_app echo tcp_bad_cksum)" -eq 0
check_cmp "echo connections all closed" "$(tcp_app echo echo.conns_open)" -eq 0
check_cmp "no echo connection ended in an error" "$(tcp_app echo echo.conn_errors)" -eq 0
check_pool_whole "no packet buffer held"
printf '# %s\n' "${TIMES[@]}"
echo "# test_tcp_impair took $(($(date +%s) - START))s"
bh_summary
