# shellcheck shell=bash
# Helpers for the TCP-stack tests (test_tcp_*.sh), on top of lib.sh:
#
#   client A (ns $NS_A, 198.18.0.1, kernel TCP) --veth-- port p0 -- [chain] -- tcp NF (198.18.0.3)
#
# Everything arriving on p0 follows the chain "in" (the TCP NF last); what the
# stack sends leaves through p0 directly, or along the chain "out" when the
# test puts NFs (impair) on that way too.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
NU="$BH_PY $(dirname "${BASH_SOURCE[0]}")/netutil.py"
TCP_IP=198.18.0.3
TCP_MAC=02:00:c6:12:00:03 # derived from the address by the glue

# tcp_config FILE IN_HOPS_JSON [OUT_HOPS_JSON]: chain "in" = IN_HOPS from p0;
# with OUT_HOPS a chain "out" = OUT_HOPS then p0 (start the NF with --chain out).
# With HTTP_ISO_JSON set (http_lib.sh), the service "http" has that isolation.
tcp_config() {
	local out=$1 in_hops=$2 out_hops=${3:-} svc=""
	[ -n "${HTTP_ISO_JSON:-}" ] && svc="\"services\":[{\"name\":\"http\",\"isolation\":$HTTP_ISO_JSON}],"
	if [ -n "$out_hops" ]; then
		bh_config "$out" <<J
{$svc"chains":[{"name":"in","hops":$in_hops},{"name":"out","hops":$out_hops,"out":"p0"}],
 "rules":[{"in_port":"p0","chain":"in"}]}
J
	else
		bh_config "$out" <<J
{$svc"chains":[{"name":"in","hops":$in_hops}], "rules":[{"in_port":"p0","chain":"in"}]}
J
	fi
}

# tcp_app NF COUNTER: one of the NF's application counters in the snapshot (0 if absent).
tcp_app() { bh_nf_stat "$1" ".app[\"$2\"] // 0"; }

# tcp_echo_check LABEL BYTES [SEED [MAX_S]]: BYTES through the echo service, both
# ways byte-identical within MAX_S seconds (default 120); the client's JSON in
# $WORK/echo.json, the time in ECHO_S.
tcp_echo_check() {
	local label=$1 bytes=$2 seed=${3:-7} limit=${4:-120}
	timeout "$limit" ip netns exec "$NS_A" $NU tcp-echo $TCP_IP 7 "$bytes" "$seed" "$limit" >"$WORK/echo.json"
	[ -s "$WORK/echo.json" ] || echo '{"received":0,"errors":["no answer within '"$limit"' s"]}' >"$WORK/echo.json"
	ECHO_S=$(jq -r '.seconds // "?"' "$WORK/echo.json")
	echo "# $label: $(jq -c '{bytes, received, seconds, mbit_s, errors}' "$WORK/echo.json" 2>/dev/null)"
	check "$label: every byte came back" [ "$(jq -r .received "$WORK/echo.json")" = "$bytes" ]
	check "$label: byte-identical (SHA-256 of sent = of received)" tcp_echo_identical
}

tcp_echo_identical() { jq -e '.sent_sha == .recv_sha and (.errors | length) == 0' "$WORK/echo.json" >/dev/null; }

# tcp_cpu_ticks PID: user + system CPU time of a process, in clock ticks.
tcp_cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# tcp_nf_stop NAME PID: stops a TCP NF, which must exit holding no packet and
# having leaked no buffer chunk.
tcp_nf_stop() {
	kill -TERM "$2"
	check "the NF exits cleanly, holding no packet" bh_wait_for 5 grep -q "'$1' (pid $2) exited; reclaimed 0 packets" "$WORK/mgr.log"
	wait "$2" 2>/dev/null
	check "  ... with no buffer chunk leaked" bash -c "! grep -q leaked $WORK/$1.log"
}
