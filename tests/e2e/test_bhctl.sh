#!/usr/bin/env bash
# bhctl, the command-line client: every command against a live manager with a
# forward NF, checking what the tables and --json say against the platform
# (pids, counters, states), the changes it makes (scale, start/pause/resume/stop,
# chains, rules, default chain), events (listed and followed), history and
# metrics, and its errors: a wrong or missing token, an unknown NF, bad usage, a
# manager that is not there.
source "$(dirname "$0")/lib.sh"
BHCTL=$BH_ROOT/ctl/bhctl
bh_topology || exit 1
TOKEN=test-token-$T-0123456789
bh_config "$WORK/cfg.json" <<J
{"services":["forward",{"name":"web","isolation":{"unit":"client","recycle":"scrub","worker":"/usr/libexec/w"}}],
 "chains":[{"name":"a2b","hops":["forward"],"out":"p1"},{"name":"b2a","hops":["forward"],"out":"p0"}],
 "rules":[{"in_port":"p0","chain":"a2b"},{"in_port":"p1","chain":"b2a"}],
 "api":{"token":"$TOKEN"}}
J
bh_start_mgr "$WORK/cfg.json" || exit 1
bh_start_nf fwd forward -s forward || exit 1
FWD_PID=$NF_PID
printf '%s\n' "$TOKEN" >"$WORK/token"
chmod 600 "$WORK/token"

# bc ARGS...: bhctl in the manager's namespace, with no token from the environment.
bc() { ip netns exec "$NS_M" env -u BHCTL_TOKEN -u BHCTL_URL "$BHCTL" "$@"; }
bt() { bc --token "$TOKEN" "$@"; } # bt ARGS...: with the token
# run NAME ARGS...: bc with stdout in $WORK/NAME.out, stderr in $WORK/NAME.err; RC
run() {
	local n=$1
	shift
	bc "$@" >"$WORK/$n.out" 2>"$WORK/$n.err"
	RC=$?
}
out() { cat "$WORK/$1.out"; }
err() { cat "$WORK/$1.err"; }
# tcell FILE KEYCOL KEY COL: in the table whose header has KEYCOL and COL, the
# COL cell of the row whose KEYCOL cell is KEY (cells are 2+ spaces apart).
tcell() {
	awk -v kc="$2" -v k="$3" -v c="$4" '
		{ line = $0; sub(/^ +/, "", line); n = split(line, f, /   */) }
		line == "" { hdr = 0; next }
		!hdr { ki = ci = 0
		       for (i = 1; i <= n; i++) { if (f[i] == kc) ki = i; if (f[i] == c) ci = i }
		       if (ki && ci) hdr = 1
		       next }
		f[ki] == k { print f[ci]; exit }' "$1"
}
jqo() { jq -r "$2" "$WORK/$1.out"; } # jqo NAME JQ_EXPR: on a --json output
rc_and() { # rc_and N GREP_ARGS...: the last run exited N and grep finds it
	local n=$1
	shift
	[ "$RC" -eq "$n" ] && grep "$@"
}
eq2() { [ "$1" = "$2" ] && [ "$3" = "$4" ]; } # eq2 A B C D: A = B and C = D

ip netns exec "$NS_A" ping -c 4 -i 0.1 -W 2 198.18.0.2 >/dev/null

# --- help and usage ---------------------------------------------------------------
run help --help
check "--help: exit 0" [ "$RC" -eq 0 ]
missing=
for c in status ports nfs nf catalog start stop pause resume scale services chains chain rules rule \
	default-chain events history metrics; do
	grep -qE "^    $c " "$WORK/help.out" || missing="$missing $c"
done
check "--help lists every command${missing:+ (not:$missing)}" [ -z "$missing" ]
bad=
for c in status ports nfs nf catalog start stop pause resume scale services chains "chain add" \
	"chain set" "chain rm" rules "rule add" "rule rm" default-chain events history metrics; do
	# shellcheck disable=SC2086
	bc $c --help >"$WORK/h.out" 2>&1 && grep -q "^usage: bhctl $c" "$WORK/h.out" || bad="$bad $c"
done
check "every command has its own --help${bad:+ (not:$bad)}" [ -z "$bad" ]
run h start --help
check "start --help shows how NF arguments are passed" grep -q -- '-- ARGS' "$WORK/h.out"
run u nf abc
check "bad usage (nf abc): exit 2" [ "$RC" -eq 2 ]
check "  ... with argparse's message" grep -q "is not a number" "$WORK/u.err"
run u bogus
check "unknown command: exit 2" [ "$RC" -eq 2 ]
run u chain
check "chain without an action: exit 2" [ "$RC" -eq 2 ]
run u start forward --to-port p1
check "NF options before '--': exit 2" [ "$RC" -eq 2 ]

# --- status, ports, nfs, services, chains -------------------------------------
check "fwd falls asleep when idle" bh_wait_for 5 bash -c \
	"ip netns exec $NS_M $BHCTL nfs --json | jq -e '.[] | select(.name==\"fwd\") | .sleeping' >/dev/null"
run status status
check "status: exit 0" [ "$RC" -eq 0 ]
check "status: nothing on stderr" [ ! -s "$WORK/status.err" ]
check "status: the pool line" grep -Eq '^pool: [0-9]+ of 8191 buffers free' "$WORK/status.out"
check "status: port p0" [ -n "$(tcell "$WORK/status.out" PORT p0 RX)" ]
check "status: port p1" [ -n "$(tcell "$WORK/status.out" PORT p1 RX)" ]
check_cmp "status: p0 received the pings" "$(tcell "$WORK/status.out" PORT p0 RX)" -ge 4
check "status: fwd is a forward NF" [ "$(tcell "$WORK/status.out" NAME fwd SERVICE)" = forward ]
check "status: fwd's pid" [ "$(tcell "$WORK/status.out" NAME fwd PID)" = "$FWD_PID" ]
check "status: fwd running" [ "$(tcell "$WORK/status.out" NAME fwd STATE)" = running ]
check "status: fwd asleep" [ "$(tcell "$WORK/status.out" NAME fwd SLEEP)" = asleep ]
check "status: columns aligned (header and rows as wide)" bash -c \
	"grep -A3 '^PORT' '$WORK/status.out' | grep -v '^$' | awk '{print length}' | sort -u | wc -l | grep -qx 1"
run status --json status
check "status --json before the command: exit 0" [ "$RC" -eq 0 ]
check "status --json: the whole snapshot" [ "$(jqo status '.pool.size')" = 8191 ]
check "status --json: fwd" [ "$(jqo status '.nfs[] | select(.name=="fwd") | .pid')" = "$FWD_PID" ]
run status status --json # global options also after the command
check "--json after the command" [ "$(jqo status '.ports | length')" = 2 ]

run ports ports
check "ports: exit 0" [ "$RC" -eq 0 ]
run portsj ports --json
check "ports --json: p0 and p1" [ "$(jqo portsj '[.[].name] | join(",")')" = p0,p1 ]
check_cmp "ports: p1 TX >= 4 (the pings went out)" "$(tcell "$WORK/ports.out" PORT p1 TX)" -ge 4
check "ports: drop reasons column" grep -q 'DROP REASONS' "$WORK/ports.out"

run nfs nfs
check "nfs: fwd's pid" [ "$(tcell "$WORK/nfs.out" NAME fwd PID)" = "$FWD_PID" ]
check "nfs: fwd's instance 0" [ "$(tcell "$WORK/nfs.out" NAME fwd INST)" = 0 ]
run nfsj nfs --json
FWD_ID=$(jqo nfsj '.[] | select(.name=="fwd") | .id')
check "nfs --json: fwd with an id" [ -n "$FWD_ID" ]
check "nfs --json: fwd's service" [ "$(jqo nfsj '.[] | select(.name=="fwd") | .service')" = forward ]
check "nfs: the ID column matches --json" [ "$(tcell "$WORK/nfs.out" NAME fwd ID)" = "$FWD_ID" ]
check_cmp "nfs: RX counted" "$(tcell "$WORK/nfs.out" NAME fwd RX)" -ge 8

run svc services
check "services: forward with 1 instance" [ "$(tcell "$WORK/svc.out" SERVICE forward INSTANCES)" = 1 ]
check "services: web's isolation policy (unit/recycle)" [ "$(tcell "$WORK/svc.out" SERVICE web ISOLATION)" = client/scrub ]
check "services: forward has none" [ "$(tcell "$WORK/svc.out" SERVICE forward ISOLATION)" = - ]
run svcj services --json
check "services --json" [ "$(jqo svcj '.[] | select(.name=="forward") | .instances')" = 1 ]

run ch chains
check "chains: a2b through forward" [ "$(tcell "$WORK/ch.out" CHAIN a2b HOPS)" = forward ]
check "chains: a2b out p1" [ "$(tcell "$WORK/ch.out" CHAIN a2b OUT)" = p1 ]
run chj chains --json
check "chains --json" [ "$(jqo chj '.[] | select(.name=="b2a") | .out')" = p0 ]

# --- rates in human units ---------------------------------------------------------
NU="$BH_PY $(dirname "$0")/netutil.py"
ip netns exec "$NS_A" $NU udp-flows 198.18.0.2 7000 10000 8 3000 3 >/dev/null &
SEND=$!
rate_k() { bc ports >"$WORK/rate.out" && tcell "$WORK/rate.out" PORT p0 RX/S | grep -Eq '^[0-9.]+k$'; }
check "ports: p0's rate shown in k (about 3k pps)" bh_wait_for 3 rate_k
check "status: fwd's rate shown in k" bash -c "ip netns exec $NS_M $BHCTL status | awk '/ fwd /' | grep -Eq ' [0-9.]+k '"
wait $SEND

# --- errors -------------------------------------------------------------------------
run tok --token wrong-token-0123456789 scale forward 1
check "bad token: exit 1" [ "$RC" -eq 1 ]
check "bad token: the API's message on stderr" grep -q "^bhctl: .*Authorization: Bearer" "$WORK/tok.err"
check "bad token: nothing on stdout" [ ! -s "$WORK/tok.out" ]
run tok --prefix "$PREFIX" scale forward 1
check "no token: exit 1" [ "$RC" -eq 1 ]
check "no token: says where it looked" grep -q "^bhctl: no token: /run/bulkhead/$PREFIX.token" "$WORK/tok.err"
run unr --url http://127.0.0.1:1 status
check "no manager: exit 1" [ "$RC" -eq 1 ]
check "no manager: the message" grep -qx "bhctl: cannot reach the manager at http://127.0.0.1:1 (is it running? --url)" "$WORK/unr.err"
run sc --token-file "$WORK/nonexistent" scale forward 1
check "unreadable token file: exit 1 and why" rc_and 1 -q "^bhctl: cannot read the token file" "$WORK/sc.err"
run sc --token "$TOKEN" scale nosuch 2
check "scale an unknown service: exit 1" [ "$RC" -eq 1 ]
check "  ... with the API's message" grep -qx "bhctl: no service named 'nosuch'" "$WORK/sc.err"

# --- scale (the token three ways) ---------------------------------------------------
running() { bc nfs --json | jq '[.[] | select(.service=="forward" and .state=="running")] | length'; }
run sc --token-file "$WORK/token" scale forward 2
check "scale forward 2 (--token-file): exit 0" [ "$RC" -eq 0 ]
check "  ... says so" grep -qx "scaling forward to 2 instances" "$WORK/sc.out"
check "  ... 2 instances running" bh_wait_for 5 bash -c "[ \"\$(ip netns exec $NS_M $BHCTL nfs --json | jq '[.[] | select(.service==\"forward\" and .state==\"running\")] | length')\" = 2 ]"
check "services: forward has 2 instances" bh_wait_for 3 bash -c "ip netns exec $NS_M $BHCTL services | grep -Eq '^ *[0-9]+ +forward +2( |\$)'"
ip netns exec "$NS_M" env BHCTL_TOKEN="$TOKEN" "$BHCTL" scale forward 1 --json >"$WORK/sc.out" 2>"$WORK/sc.err"
check "scale forward 1 (BHCTL_TOKEN) --json" [ "$(jqo sc .instances)" = 1 ]
check "  ... back to 1" bh_wait_for 5 bash -c "[ \"\$(ip netns exec $NS_M $BHCTL nfs --json | jq '[.[] | select(.service==\"forward\")] | length')\" = 1 ]"

# --- one NF -----------------------------------------------------------------------------
run nf nf "$FWD_ID"
check "nf ID: exit 0" [ "$RC" -eq 0 ]
check "nf ID: names it" grep -q "^NF $FWD_ID fwd (service forward, instance 0)" "$WORK/nf.out"
check "nf ID: its pid" grep -Eq "^  pid +$FWD_PID\$" "$WORK/nf.out"
run nfj nf "$FWD_ID" --json
check "nf ID --json" eq2 "$(jqo nfj .pid)" "$FWD_PID" "$(jqo nfj .name)" fwd
run nf nf 999
check "unknown NF id: exit 1" [ "$RC" -eq 1 ]
check "unknown NF id: the API's message names it" grep -Eq "^bhctl: .*999" "$WORK/nf.err"
run nf --token "$TOKEN" stop 999
check "stop an unknown NF: exit 1 with a message" rc_and 1 -Eq "^bhctl: .*999" "$WORK/nf.err"

# --- catalog, start, pause, resume, stop --------------------------------------------------
run cat catalog
check "catalog: forward is there" [ -n "$(tcell "$WORK/cat.out" NF forward PATH)" ]
run catj catalog --json
check "catalog --json: forward" [ "$(jqo catj 'any(.[]; .nf == "forward")')" = true ]
run st --token "$TOKEN" start forward --service fw2 --name f2 -- --work-us 1
check "start forward as f2: exit 0" [ "$RC" -eq 0 ]
check "  ... prints the pid" grep -Eq "^started forward as f2 \(pid [0-9]+\)$" "$WORK/st.out"
PRINTED=$(sed -n 's/.*(pid \([0-9]*\)).*/\1/p' "$WORK/st.out")
f2() { bc nfs --json | jq -r ".[] | select(.name==\"f2\") | $1"; }
check "  ... f2 registers in service fw2" bh_wait_for 5 bash -c "ip netns exec $NS_M $BHCTL nfs --json | jq -e '.[] | select(.name==\"f2\" and .service==\"fw2\" and .state==\"running\")' >/dev/null"
F2_ID=$(f2 .id)
F2_PID=$(f2 .pid)
check "  ... with the pid start printed" [ "${PRINTED:-none}" = "$F2_PID" ]
run p --token "$TOKEN" pause "$F2_ID"
check "pause: exit 0" rc_and 0 -qx "paused NF $F2_ID" "$WORK/p.out"
check "  ... nfs shows it paused" bh_wait_for 3 bash -c "ip netns exec $NS_M $BHCTL nfs | awk '\$2==\"f2\"' | grep -q ' paused '"
check "  ... and its process still runs" kill -0 "$F2_PID"
run p --token "$TOKEN" resume "$F2_ID"
check "resume: exit 0" rc_and 0 -qx "resumed NF $F2_ID" "$WORK/p.out"
check "  ... running again" bh_wait_for 3 bash -c "[ \"\$(ip netns exec $NS_M $BHCTL nfs --json | jq -r '.[] | select(.name==\"f2\") | .state')\" = running ]"
run p --token "$TOKEN" stop "$F2_ID"
check "stop: exit 0" rc_and 0 -qx "stopping NF $F2_ID" "$WORK/p.out"
check "  ... f2 is gone" bh_wait_for 5 bash -c "! ip netns exec $NS_M $BHCTL nfs --json | jq -e '.[] | select(.name==\"f2\")' >/dev/null"
check "  ... its process exited" bh_wait_for 5 bash -c "! kill -0 $F2_PID 2>/dev/null"

# --- chains, rules, default chain ---------------------------------------------------------
run c --token "$TOKEN" chain add t1 --hops forward --out p0
check "chain add t1: exit 0" rc_and 0 -qx "chain t1: forward, out p0" "$WORK/c.out"
run ch chains
check "  ... chains shows it" [ "$(tcell "$WORK/ch.out" CHAIN t1 OUT)" = p0 ]
run c --token "$TOKEN" chain add t1 --hops forward
check "chain add an existing name: exit 1 with a message" rc_and 1 -q "^bhctl: .*t1" "$WORK/c.err"
run c --token "$TOKEN" chain set t1 --hops forward,forward
check "chain set t1 --hops: exit 0" [ "$RC" -eq 0 ]
run chj chains --json
check "  ... new hops" [ "$(jqo chj '.[] | select(.name=="t1") | .hops | join(",")')" = forward,forward ]
check "  ... output kept" [ "$(jqo chj '.[] | select(.name=="t1") | .out')" = p0 ]
run c --token "$TOKEN" chain set t1 --no-out
check "chain set t1 --no-out: exit 0" [ "$RC" -eq 0 ]
check "  ... no output" [ "$(bc chains --json | jq -r '.[] | select(.name=="t1") | .out')" = null ]

run r rules
check "rules: exit 0" [ "$RC" -eq 0 ]
check "rules: rule 0 from p0 to a2b" eq2 "$(tcell "$WORK/r.out" '#' 0 IN_PORT)" p0 "$(tcell "$WORK/r.out" '#' 0 CHAIN)" a2b
check_cmp "rules: rule 0's hits" "$(tcell "$WORK/r.out" '#' 0 HITS)" -ge 4
run r --token "$TOKEN" rule add --chain t1 --proto udp --dst 198.18.0.2 --dport 9000-9001 --index 0
check "rule add at 0: exit 0" [ "$RC" -eq 0 ]
run rj rules --json
check "  ... rules has 3" [ "$(jqo rj length)" = 3 ]
check "  ... the new one first" eq2 "$(jqo rj '.[0].chain')" t1 "$(jqo rj '.[0].dport')" 9000-9001
check "  ... the old ones after it" [ "$(jqo rj '.[1].chain')" = a2b ]
run r --token "$TOKEN" chain rm t1
check "chain rm while a rule uses it: exit 1 with a message" rc_and 1 -q "^bhctl: " "$WORK/r.err"
run r --token "$TOKEN" rule rm 0
check "rule rm 0: exit 0" [ "$RC" -eq 0 ]
check "  ... 2 rules left" [ "$(bc rules --json | jq length)" = 2 ]
run r --token "$TOKEN" rule rm 99
check "rule rm 99: exit 1 with a message" rc_and 1 -q "^bhctl: " "$WORK/r.err"
run r --token "$TOKEN" default-chain a2b
check "default-chain a2b: exit 0" rc_and 0 -qx "default chain: a2b" "$WORK/r.out"
run r --token "$TOKEN" default-chain nosuch
check "default-chain to no chain: exit 1 naming it" rc_and 1 -q "^bhctl: .*nosuch" "$WORK/r.err"
run r --token "$TOKEN" default-chain none
check "default-chain none: exit 0" [ "$RC" -eq 0 ]
run r --token "$TOKEN" chain rm t1
check "chain rm t1: exit 0" [ "$RC" -eq 0 ]
check "  ... gone from chains" [ "$(bc chains --json | jq '[.[] | select(.name=="t1")] | length')" = 0 ]

# --- events -------------------------------------------------------------------------------
run ev events
check "events: exit 0" [ "$RC" -eq 0 ]
check "events: fwd started" bash -c "awk '\$4==\"started\"' '$WORK/ev.out' | grep -q 'fwd'"
check "events: the scaling" grep -q " scaled " "$WORK/ev.out"
run evj events --json
check "events --json: fwd's start with its pid" [ "$(jqo evj "any(.[]; .type==\"started\" and .nf==\"fwd\" and .pid==$FWD_PID)")" = true ]
last=$(jqo evj '[.[].seq] | max')
run evs events --since "${last:-0}" --json
check "events --since the last: none" [ "$(jqo evs length)" = 0 ]
ip netns exec "$NS_M" "$BHCTL" events --follow >"$WORK/follow.out" 2>"$WORK/follow.err" &
FOLLOW=$!
BH_PIDS+=("$FOLLOW")
ip netns exec "$NS_M" "$BHCTL" events --follow --json >"$WORK/followj.out" 2>&1 &
FOLLOWJ=$!
BH_PIDS+=("$FOLLOWJ")
past=$(jqo evj '[.[] | select(.type=="scaled")] | length')
check "events --follow: the past events first" bh_wait_for 3 grep -q ' started .*fwd' "$WORK/follow.out"
bt scale forward 2 >/dev/null
check "events --follow: a new scaling, as it happens" bh_wait_for 5 bash -c "[ \$(grep -c ' scaled ' '$WORK/follow.out') -gt ${past:-0} ]"
check "events --follow --json: one JSON object per line" bh_wait_for 3 bash -c "tail -n 1 '$WORK/followj.out' | jq -e .seq >/dev/null"
kill -TERM "$FOLLOWJ"
wait "$FOLLOWJ"
check "events --follow ends quietly (exit 0) when interrupted" [ $? -eq 0 ]
bt scale forward 1 >/dev/null

# --- history, metrics ---------------------------------------------------------------------
run h history
check "history: exit 0" [ "$RC" -eq 0 ]
check "history: interval line" grep -Eq '^interval [0-9]+ ms, [0-9]+ points' "$WORK/h.out"
check "history: p0's rx_pps row" grep -Eq '^port p0 +rx_pps ' "$WORK/h.out"
check "history: fwd's row" grep -Eq "^nf fwd#$FWD_ID +rx_pps " "$WORK/h.out"
run hj history --json
check "history --json" [ "$(jqo hj '.interval_ms > 0 and (.t | length) > 0 and (.ports.p0.rx_pps | length) == (.t | length)')" = true ]
run m metrics
check "metrics: exit 0" [ "$RC" -eq 0 ]
check "metrics: p0's received packets" grep -Eq '^bulkhead_port_packets_total\{port="p0",dir="rx"\} [0-9]+' "$WORK/m.out"
run mj metrics --json
check "metrics --json: the pool" [ "$(jqo mj '.[] | select(.name=="bulkhead_pool_available") | .value > 0')" = true ]

# --- the manager goes away -------------------------------------------------------------
kill -TERM "$MGR_PID"
wait "$MGR_PID" 2>/dev/null
check "events --follow says when the stream ends" bh_wait_for 5 bash -c "! kill -0 $FOLLOW 2>/dev/null"
wait "$FOLLOW"
rc=$?
RC=$rc
check "  ... exit 1 with the message" rc_and 1 -q '^bhctl: the event stream ended' "$WORK/follow.err"
run gone status
check "manager stopped: status exits 1" [ "$RC" -eq 1 ]
check "  ... cannot reach the manager" grep -qx "bhctl: cannot reach the manager at http://127.0.0.1:8470 (is it running? --url)" "$WORK/gone.err"
bh_summary
