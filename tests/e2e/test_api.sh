#!/usr/bin/env bash
# The REST API with curl: every endpoint, good and bad input; a chain change and
# rule changes under traffic with every packet accounted for; a scale change
# visible in the statistics; events and metrics.
source "$(dirname "$0")/lib.sh"
NU="$BH_PY $(dirname "$0")/netutil.py"
bh_topology || exit 1
TOKEN=api-test-$T-0123456789
bh_config "$WORK/cfg.json" <<J
{"chains":[{"name":"a2b","hops":["forward"],"out":"p1"},{"name":"b2a","hops":[],"out":"p0"}],
 "rules":[{"in_port":"p0","chain":"a2b"},{"in_port":"p1","chain":"b2a"}],
 "api":{"token":"$TOKEN"}}
J
bh_start_mgr "$WORK/cfg.json" || exit 1
bh_start_nf fwd forward -s forward || exit 1
URL=http://127.0.0.1:8470
# call METHOD PATH [BODY]: the body in $WORK/body, the status in $WORK/code
call() {
	ip netns exec "$NS_M" curl -s -m 10 -o "$WORK/body" -w '%{http_code}' -X "$1" \
		-H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
		${3:+--data "$3"} "$URL$2" >"$WORK/code"
	cat "$WORK/body"
}
expect() { # expect "what" CODE METHOD PATH [BODY] [jq-check]
	local what=$1 want=$2 body
	body=$(call "$3" "$4" "${5:-}")
	check_cmp "$what: HTTP status" "$(cat "$WORK/code")" -eq "$want"
	if [ -n "${6:-}" ]; then
		if jq -e "$6" >/dev/null 2>&1 <<<"$body"; then check "$what: $6" true
		else check "$what: $6 (got: $(head -c 200 <<<"$body"))" false; fi
	fi
}

# --- reading ---
expect "GET stats" 200 GET /api/v1/stats "" '.ports | length == 2'
expect "GET ports" 200 GET /api/v1/ports "" '.[0].name == "p0"'
expect "GET nfs" 200 GET /api/v1/nfs "" '.[0].name == "fwd" and .[0].state == "running"'
expect "GET one NF" 200 GET /api/v1/nfs/0 "" '.service == "forward" and .mode == "shared"'
expect "GET unknown NF" 404 GET /api/v1/nfs/77 "" '.error | test("no NF 77")'
expect "GET services" 200 GET /api/v1/services "" 'map(.name) | index("forward") != null'
expect "GET chains" 200 GET /api/v1/chains "" 'map(.name) == ["a2b","b2a"]'
expect "GET rules" 200 GET /api/v1/rules "" '.[0].in_port == "p0" and .[0].chain == "a2b"'
expect "GET catalog" 200 GET /api/v1/catalog "" 'map(.nf) | index("forward") != null and index("firewall") != null'
expect "GET unknown resource" 404 GET /api/v1/bogus "" '.error | test("no such resource")'
expect "wrong method" 405 DELETE /api/v1/stats "" '.error | test("use GET")'
code=$(ip netns exec "$NS_M" curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/api/v1/services/forward/scale" -d '{"instances":2}')
check_cmp "mutating call without the token: 401" "$code" -eq 401
code=$(ip netns exec "$NS_M" curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Authorization: Bearer wrong-token-xxxxxxxx' "$URL/api/v1/services/forward/scale" -d '{"instances":2}')
check_cmp "mutating call with a wrong token: 401" "$code" -eq 401

# --- bad input never changes anything ---
expect "malformed JSON" 400 POST /api/v1/chains '{"name":' '.error | test("body: line 1")'
expect "unknown field" 400 POST /api/v1/chains '{"name":"x","hops":["a"],"colour":"red"}' '.error == "body.colour: unknown field"'
expect "bad hops" 400 POST /api/v1/chains '{"name":"x","hops":"a"}' '.error | test("body.hops")'
expect "bad out port" 400 POST /api/v1/chains '{"name":"x","hops":["a"],"out":"p9"}' '.error | test("no port named .p9.")'
expect "duplicate chain" 409 POST /api/v1/chains '{"name":"a2b","hops":["a"]}' '.error | test("exists")'
expect "rule to unknown chain" 400 POST /api/v1/rules '{"chain":"nope"}' '.error | test("no chain named")'
expect "rule with bad prefix" 400 POST /api/v1/rules '{"src":"1.2.3.4/40","chain":"a2b"}' '.error | test("body.src")'
expect "delete a chain in use" 409 DELETE /api/v1/chains/a2b "" '.error | test("used by rule 0")'
expect "scale: bad count" 400 POST /api/v1/services/forward/scale '{"instances":-1}' '.error | test("instances")'
expect "scale: unknown service" 404 POST /api/v1/services/zzz/scale '{"instances":1}'
expect "nothing changed" 200 GET /api/v1/chains "" 'map(.name) == ["a2b","b2a"]'
expect "oversized body" 413 POST /api/v1/chains "$(printf '{"name":"%070000d"}' 0)"

# --- a chain change and rule changes under traffic ---
bh_start_nf fwd2 forward -s other || exit 1
ip netns exec "$NS_A" ping -c 1 -W 2 198.18.0.2 >/dev/null
ip netns exec "$NS_B" $NU udp-count 7000 2 30 >"$WORK/recv" 2>/dev/null &
RECV=$!
sleep 0.3
ip netns exec "$NS_A" $NU udp-flows 198.18.0.2 7000 10000 16 3000 4 >"$WORK/sent" &
SEND=$!
sleep 1
expect "change the chain under traffic" 200 PUT /api/v1/chains/a2b '{"hops":["other","forward"],"out":"p1"}'
sleep 1
expect "insert a rule under traffic" 201 POST /api/v1/rules '{"in_port":"p0","proto":"udp","dport":"7000","chain":"a2b","index":0}' '.index == 0'
sleep 0.5
expect "delete it again" 200 DELETE /api/v1/rules/0
wait $SEND $RECV
sleep 0.5
bh_snap
sent=$(jq '[.[]] | add' "$WORK/sent")
recv=$(jq '[.[]] | add' "$WORK/recv")
drops=$(bh_stat '([.ports[].drops_total] | add) + ([.nfs[].drops_total] | add)')
check_cmp "every packet accounted for across the changes (sent $sent)" "$((recv + drops))" -eq "$sent"
check_cmp "none lost" "$recv" -eq "$sent"
check_cmp "traffic went through the new hop after the change" "$(bh_nf_stat fwd2 .rx_pkts)" -gt 1000
expect "the chain reads back changed" 200 GET /api/v1/chains/a2b "" '.hops == ["other","forward"]'
expect "rules back to two" 200 GET /api/v1/rules "" 'length == 2 and .[0].hits > 0'
expect "create a chain" 201 POST /api/v1/chains '{"name":"spare","hops":["forward"],"out":"p1"}'
expect "delete an unused chain" 200 DELETE /api/v1/chains/spare
expect "default chain" 200 PUT /api/v1/default_chain '{"chain":"b2a"}'
expect "default chain reads back" 200 GET /api/v1/stats "" '.default_chain == "b2a"'
expect "default chain: bad" 404 PUT /api/v1/default_chain '{"chain":"nope"}'

# --- NF lifecycle: pause, resume, scale, stop, start from the catalog ---
expect "pause" 202 POST /api/v1/nfs/1/pause
expect "paused state" 200 GET /api/v1/nfs/1 "" '.state == "paused"'
expect "pause twice" 409 POST /api/v1/nfs/1/pause "" '.error | test("paused")'
expect "resume" 202 POST /api/v1/nfs/1/resume
expect "scale forward to 3" 202 POST /api/v1/services/forward/scale '{"instances":3}'
check "the scale change shows in the statistics" bh_wait_for 8 bash -c \
	"ip netns exec $NS_M curl -s $URL/api/v1/services | jq -e '.[] | select(.name==\"forward\") | .instances == 3' >/dev/null"
expect "start an NF from the catalog" 201 POST /api/v1/nfs '{"nf":"monitor","service":"mon","name":"m1","args":["--top","0"]}' '.pid > 0'
check "it registers" bh_wait_for 8 bash -c "ip netns exec $NS_M curl -s $URL/api/v1/nfs | jq -e 'map(.name) | index(\"m1\") != null' >/dev/null"
expect "start: unknown NF" 404 POST /api/v1/nfs '{"nf":"../../bin/sh"}' '.error | test("catalog")'
expect "start: bad body" 400 POST /api/v1/nfs '{"nf":"forward","args":"x"}'
m1=$(call GET /api/v1/nfs | jq '.[] | select(.name=="m1") | .id')
expect "stop it" 202 DELETE "/api/v1/nfs/$m1"
check "it is gone" bh_wait_for 8 bash -c "ip netns exec $NS_M curl -s $URL/api/v1/nfs | jq -e 'map(.name) | index(\"m1\") == null' >/dev/null"

# --- history, events, metrics ---
expect "history" 200 GET /api/v1/stats/history "" '(.t | length) > 3 and (.ports.p0.rx_pps | length) == (.t | length)'
expect "events" 200 GET "/api/v1/events?since=0" "" '(map(.type) | index("started")) != null and (map(.type) | index("scaled")) != null and (map(.type) | index("stopped")) != null and (map(.type) | index("paused")) != null'
ip netns exec "$NS_M" timeout 2 curl -s -N "$URL/api/v1/events" >"$WORK/sse" 2>/dev/null
check "event stream sends past events" grep -q '^data: {.*"type": *"started"' "$WORK/sse"
metrics=$(ip netns exec "$NS_M" curl -s "$URL/metrics")
check "metrics: port counters" grep -q '^bulkhead_port_packets_total{port="p0",dir="rx"} [1-9]' <<<"$metrics"
check "metrics: NF counters" grep -q '^bulkhead_nf_rx_packets_total{nf="fwd",id="0",service="forward"} [1-9]' <<<"$metrics"
check "metrics: service instances" grep -q '^bulkhead_service_instances{service="forward"} 3' <<<"$metrics"
check "metrics: HELP and TYPE lines" grep -q '^# TYPE bulkhead_nf_drops_total counter' <<<"$metrics"
bh_summary
