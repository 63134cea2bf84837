#!/usr/bin/env bash
# Web console. The manager serves web/ at /; Debian's headless Chromium, driven
# by playwright-core (tests/e2e/console.mjs), opens the dashboard with the
# token in the address as `make demo` prints it. Under traffic the page lists
# the running NFs and their counters move; a click on a service's "+" scales it
# and the API then reports one instance more. A service's isolation policy is
# shown on its card. Every request the page made went
# to the manager. A screenshot is kept in bench/out/console.png.
source "$(dirname "$0")/lib.sh"
NU="$BH_PY $(dirname "$0")/netutil.py"
bh_topology || exit 1
TOKEN=test-token-$T-0123456789
bh_config "$WORK/cfg.json" <<J
{"services":[{"name":"web","isolation":{"unit":"client","recycle":"scrub","worker":"/usr/libexec/bh-http-worker"}}],
 "chains":[{"name":"a2b","hops":["forward","monitor"],"out":"p1"},{"name":"b2a","hops":["forward"],"out":"p0"}],
 "rules":[{"in_port":"p0","chain":"a2b"},{"in_port":"p1","chain":"b2a"}],
 "api":{"token":"$TOKEN"}}
J
bh_start_mgr "$WORK/cfg.json" || exit 1
bh_start_nf fwd forward -s forward || exit 1
bh_start_nf mon monitor -s monitor -- --top 0 || exit 1
BASE=http://127.0.0.1:8470
get() { ip netns exec "$NS_M" curl -s -m 5 "$@"; }
running() { get "$BASE/api/v1/stats" | jq "[.nfs[] | select(.service==\"$1\" and .state==\"running\")] | length"; }

# --- what the page needs -------------------------------------------------------
check "Debian's chromium is installed (scripts/setup.sh)" [ -x /usr/bin/chromium ]
check "playwright-core and uplot are installed in web/node_modules (scripts/setup.sh)" \
	[ -f "$BH_ROOT/web/node_modules/playwright-core/package.json" -a -f "$BH_ROOT/web/node_modules/uplot/dist/uPlot.iife.min.js" ]
check "the manager serves the console at /" bash -c "ip netns exec $NS_M curl -sf -m 5 $BASE/ | grep -q 'Bulkhead console'"
check "the manager serves app.js and app.css" bash -c \
	"ip netns exec $NS_M curl -sf -m 5 -o /dev/null $BASE/app.js && ip netns exec $NS_M curl -sf -m 5 -o /dev/null $BASE/app.css"
check "the manager serves uPlot from web/node_modules" \
	ip netns exec "$NS_M" curl -sf -m 5 -o /dev/null "$BASE/node_modules/uplot/dist/uPlot.iife.min.js"
check "the manager does not serve files outside web/" bash -c \
	"[ \"\$(ip netns exec $NS_M curl -s -m 5 --path-as-is -o /dev/null -w '%{http_code}' $BASE/../../meson.build)\" != 200 ]"

# --- the browser, under traffic ------------------------------------------------
ip netns exec "$NS_A" ping -c 1 -W 2 198.18.0.2 >/dev/null # ARP first
ip netns exec "$NS_B" $NU udp-count 7000 3 60 >"$WORK/recv" 2>/dev/null &
BH_PIDS+=($!)
ip netns exec "$NS_A" $NU udp-flows 198.18.0.2 7000 10000 16 400 30 >"$WORK/sent" &
SEND=$!
BH_PIDS+=("$SEND")
sleep 1
before=$(running monitor)
timeout 120 ip netns exec "$NS_M" node "$(dirname "$0")/console.mjs" "$BASE/" "$TOKEN" monitor \
	"$WORK/console.png" "$WORK/console.json" >"$WORK/node.log" 2>&1
echo "node exit $?"
R=$WORK/console.json
[ -f "$R" ] || echo '{"error":"console.mjs wrote no result"}' >"$R"
r() { jq -r "$1" "$R"; }
[ "$(r .error)" = null ] || { echo "browser: $(r .error)"; cat "$WORK/node.log"; }

check "the dashboard loads and shows the services' NF tables" [ "$(r .loaded)" = true ]
check "the page lists the running NFs fwd and mon" bash -c "jq -e '.nfs | index(\"fwd\") and index(\"mon\")' $R >/dev/null"
check "each NF shows a state (running/asleep)" bash -c "jq -e '.states | length >= 2 and all(. == \"running\" or . == \"asleep\")' $R >/dev/null"
check_cmp "fwd's rx_pkts move on the page under traffic" "$(r '.after.fwd // empty')" -gt "$(r '.before.fwd // empty')"
check_cmp "mon's rx_pkts move on the page under traffic" "$(r '.after.mon // empty')" -gt "$(r '.before.mon // empty')"
check "the #token= in the address is stored and taken out of the address" \
	bash -c "[ \"\$(jq -r .token_stored $R)\" = '$TOKEN' ] && ! jq -r .address_after $R | grep -q token="
check "a service's isolation policy is shown (web: client, scrub)" [ "$(r .isolation)" = "isolated: client, scrub" ]
check_cmp "  ... and none for a service without one (monitor)" "$(r .not_isolated)" -eq 0
check "the scale button was clicked" [ "$(r .clicked)" = true ]
check_cmp "the page shows one more monitor instance" "$(r '.ui_instances_after // empty')" -eq "$(( $(r '.ui_instances_before // 0') + 1 ))"
check "the API reports $((before + 1)) running monitor instances" bh_wait_for 5 bash -c "[ \"\$(ip netns exec $NS_M curl -s $BASE/api/v1/services | jq '.[] | select(.name==\"monitor\") | .instances')\" = $((before + 1)) ]"
check_cmp "running monitor NFs in the statistics" "$(running monitor)" -eq "$((before + 1))"
check "no script error on the page" [ "$(r '.page_errors | length')" = 0 ]
check "nothing refused by the manager's Content-Security-Policy" \
	bash -c "! jq -r '.console_errors[]' $R | grep -qi 'content security policy'"
check "every request went to the manager (nothing from outside)" \
	bash -c "jq -e '.requests | length > 0 and all(startswith(\"$BASE/\"))' $R >/dev/null"
check "the screenshot was saved" [ -s "$WORK/console.png" ]
r '.page_errors[], .console_errors[]'
mkdir -p "$BH_ROOT/bench/out"
[ -s "$WORK/console.png" ] && cp "$WORK/console.png" "$BH_ROOT/bench/out/console.png" && echo "screenshot: bench/out/console.png"
kill "$SEND" 2>/dev/null
bh_summary
