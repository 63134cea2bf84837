#!/usr/bin/env bash
# make demo: the platform forwarding real traffic between two client namespaces
# through a chain forward -> firewall -> monitor, with live statistics.
#   DEMO_SECONDS=N  how long to keep the platform up after the traffic (default 5)
#   DEMO_KEEP=1     keep it running (with its console) until Ctrl-C
#   DEMO_API_PORT=N the console's port on 127.0.0.1 (default 8470)
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export BH_BUILD=${BH_BUILD:-$ROOT/build}
# The manager runs in this (the host's) namespace and opens its ports in their
# own, so its console on 127.0.0.1 is reachable from a browser here.
export BH_MGR_NETNS=host
API_PORT=${DEMO_API_PORT:-8470}
source "$ROOT/tests/e2e/lib.sh"
NU="$BH_PY $ROOT/tests/e2e/netutil.py"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

bh_topology || exit 1
KEEP_WORK=1
# client_link END PORT ADDR: another veth from client A (END, with ADDR) to the
# manager's namespace (PORT), offloads off so af_packet sees wire frames.
client_link() {
	ip link add "bh${T}$1" netns "$NS_A" type veth peer name "bh${T}$2" netns "$NS_M"
	ip -n "$NS_A" addr add "$3" dev "bh${T}$1"
	ip -n "$NS_A" link set "bh${T}$1" up
	ip -n "$NS_M" link set "bh${T}$2" up
	ip netns exec "$NS_A" ethtool -K "bh${T}$1" tx off rx off tso off gso off gro off >/dev/null 2>&1
	ip netns exec "$NS_M" ethtool -K "bh${T}$2" tx off rx off tso off gso off gro off >/dev/null 2>&1
}
client_link c p2 198.18.1.1/24 # where a TCP stack runs inside an NF
client_link d p3 198.18.2.1/24 # where the HTTP server NF serves a site
say "topology (namespaces $NS_A, $NS_B, manager in $NS_M)"
echo "  client A 198.18.0.1 --veth-- [p0  bulkhead  p1] --veth-- client B 198.18.0.2"
echo "  client A 198.18.1.1 --veth-- [p2] tcp-echo: the platform's TCP stack, 198.18.1.3"
echo "  client A 198.18.2.1 --veth-- [p3] http: the static-file server NF, 198.18.2.3"

cat >"$WORK/fw.rules" <<'R'
deny proto udp dport 9999
allow
R
bh_config "$WORK/cfg.json" <<'J'
{"chains":[{"name":"a2b","hops":["forward","firewall","monitor"],"out":"p1"},
           {"name":"b2a","hops":["forward","firewall","monitor"],"out":"p0"}],
 "rules":[{"in_port":"p0","chain":"a2b"},{"in_port":"p1","chain":"b2a"}],
 "stats":{"interval_ms":1000,"print":true}}
J
# The isolated HTTP server's worker program: root-owned, mode 0711 (a worker
# uid must not read it); the service's isolation policy is in the config.
install -d -m 0755 "$WORK/libexec"
install -m 0711 "$BH_BUILD/workers/http/bh-http-worker" "$WORK/libexec/"
jq --arg dev "net_af_packet_${T}2,iface=bh${T}p2" --arg ns "$NS_M" --arg worker "$WORK/libexec/bh-http-worker" \
	'.ports += [{name: "p2", dev: $dev, netns: $ns}] | .chains += [{name: "tcp", hops: ["tcp-echo"]}]
	 | .rules += [{in_port: "p2", chain: "tcp"}]
	 | .ports += [{name: "p3", dev: $web, netns: $ns}] | .chains += [{name: "web", hops: ["http"]}]
	 | .rules += [{in_port: "p3", chain: "web"}]
	 | .services = [{name: "http", isolation: {unit: "connection", recycle: "fresh", worker: $worker,
	                                         uid_range: "2000200000:4096", spares: 4}}]' \
	--arg web "net_af_packet_${T}3,iface=bh${T}p3" "$WORK/cfg.json" >"$WORK/cfg.tcp.json" &&
	mv "$WORK/cfg.tcp.json" "$WORK/cfg.json"
jq --argjson port "$API_PORT" '.api = {port: $port}' "$WORK/cfg.json" >"$WORK/cfg.api.json" && mv "$WORK/cfg.api.json" "$WORK/cfg.json"
say "starting the manager and three NFs (chain: forward -> firewall -> monitor -> out)"
bh_start_mgr "$WORK/cfg.json" || exit 1
bh_start_nf fwd forward -s forward || exit 1
bh_start_nf fw firewall -s firewall -- --rules "$WORK/fw.rules" || exit 1
bh_start_nf mon monitor -s monitor -- --interval 5 --top 3 || exit 1
tail -n +1 -f "$WORK/mgr.log" | grep -v '^bulkhead: info' &
TAILPID=$!
BH_PIDS+=("$TAILPID")

TOKEN=$(cat "/run/bulkhead/$PREFIX.token")
CONSOLE="http://127.0.0.1:$API_PORT/#token=$TOKEN"
say "console: $CONSOLE"
echo "  API: http://127.0.0.1:$API_PORT/api/v1/  token: $TOKEN  (also in /run/bulkhead/$PREFIX.token)"
echo "  CLI: $ROOT/ctl/bhctl --url http://127.0.0.1:$API_PORT --prefix $PREFIX status"

say "client A pings B"
ip netns exec "$NS_A" ping -c 5 -i 0.2 198.18.0.2 | tail -n 2
say "client A sends 32 MiB to B over TCP"
ip netns exec "$NS_B" $NU tcp-recv 5001 30 >"$WORK/tcp.recv" 2>/dev/null &
sleep 0.3
start=$(date +%s.%N)
sent=$(ip netns exec "$NS_A" $NU tcp-send 198.18.0.2 5001 $((32 << 20)) 1)
wait $!
end=$(date +%s.%N)
echo "  sent     $sent"
echo "  received $(cat "$WORK/tcp.recv")  ($(echo "scale=1; 32*8/($end-$start)" | bc) Mbit/s)"
say "client A sends 200 UDP datagrams to B's port 9999 (the firewall denies it)"
ip netns exec "$NS_A" $NU udp-send 198.18.0.2 9999 200 >/dev/null
say "client A echoes 64 MiB through tcp-echo: the platform's own TCP stack in an NF"
bh_start_nf echo tcp-echo -s tcp-echo -- --ip 198.18.1.3/24 --port p2 --listen 7 || exit 1
ip netns exec "$NS_A" ping -c 2 -i 0.2 198.18.1.3 | tail -n 2
out=$(ip netns exec "$NS_A" $NU tcp-echo 198.18.1.3 7 $((64 << 20)) 3 60)
echo "  $(jq -r '"\(.received / 1048576) MiB back of \(.bytes / 1048576) MiB in \(.seconds) s: \(.mbit_s) Mbit/s each way, " +
	(if .sent_sha == .recv_sha then "byte-identical" else "DIFFERENT" end)' <<<"$out")"
say "client A browses a site served by the isolated HTTP server: the NF (on the platform's TCP stack) relays each connection to a sandboxed worker process of its own (services[].isolation in the config: unit connection, recycle fresh, 4 spares)"
mkdir -p "$WORK/site/docs"
cat >"$WORK/site/index.html" <<'H'
<!doctype html><title>Bulkhead</title><link rel="stylesheet" href="style.css">
<h1>Served by an NF</h1><p>This page crossed the platform's own TCP stack.</p>
H
echo 'body { font-family: sans-serif; }' >"$WORK/site/style.css"
echo 'the docs index' >"$WORK/site/docs/index.html"
head -c $((8 << 20)) /dev/urandom >"$WORK/site/big.bin"
bh_start_nf web http -s http -- --ip 198.18.2.3/24 --port p3 --root "$WORK/site" \
	--log "$WORK/access.log" || exit 1
grep "isolation policy" "$WORK/web.log" | sed 's/^/  /'
WEB_PID=$NF_PID
CURL=(ip netns exec "$NS_A" curl -s -m 10)
echo "  GET / :"
"${CURL[@]}" -i http://198.18.2.3/ | sed 's/\r$//; s/^/    /'
etag=$("${CURL[@]}" -I http://198.18.2.3/style.css | tr -d '\r' | sed -n 's/^ETag: //p')
echo "  GET /style.css with If-None-Match: $etag -> $("${CURL[@]}" -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" http://198.18.2.3/style.css)"
echo "  GET /docs (a directory) -> $("${CURL[@]}" -o /dev/null -w '%{http_code} %{redirect_url}' http://198.18.2.3/docs)"
echo "  GET /big.bin, bytes 100-199 -> $("${CURL[@]}" -o /dev/null -w '%{http_code} %{size_download} bytes' -r 100-199 http://198.18.2.3/big.bin)"
echo "  GET /../etc/passwd -> $("${CURL[@]}" -o /dev/null -w '%{http_code}' --path-as-is http://198.18.2.3/../etc/passwd)"
"${CURL[@]}" -o "$WORK/big.got" -w '  GET /big.bin (8 MiB) -> %{http_code} in %{time_total} s, %{speed_download} B/s' http://198.18.2.3/big.bin
cmp -s "$WORK/big.got" "$WORK/site/big.bin" && echo ", byte-identical" || echo ", DIFFERENT"
echo "  its workers now (spares, waiting for the next connection), each a process with a uid of its own:"
ps -o pid=,uid=,rss=,args= --ppid "$(pgrep -P "$WEB_PID" | head -1)" | head -4 |
	awk '{printf "    pid %s uid %s rss %s KiB  %s\n", $1, $2, $3, $4}'
w=$(ps -o pid= --ppid "$(pgrep -P "$WEB_PID" | head -1)" | head -1 | tr -d ' ')
[ -n "$w" ] && echo "    confined: $(grep -E '^(NoNewPrivs|Seccomp):' /proc/$w/status | tr -s '\t\n' '  ')$(grep -c . /proc/$w/mounts) mounts, $(ls /proc/$w/fd | wc -l) descriptors"
sleep "${DEMO_SECONDS:-5}"
kill "$TAILPID" 2>/dev/null

bh_snap
say "what happened"
{ echo "port rx_pkts tx_pkts drops"
  bh_stat '.ports[] | "\(.name) \(.rx_pkts) \(.tx_pkts) \(.drops_total)"'; } | column -t | sed 's/^/  /'
echo
{ echo "nf service rx_pkts tx_pkts drops state"
  bh_stat '.nfs[] | "\(.name) \(.service) \(.rx_pkts) \(.tx_pkts) \(.drops_total) \(if .sleeping then "asleep" else .state end)"'; } | column -t | sed 's/^/  /'
echo "  firewall rule counters: $(bh_nf_stat fw '.app | to_entries | map("\(.key)=\(.value)") | join(", ")')"
echo "  tcp-echo's stack: $(bh_nf_stat echo '.app | to_entries | map(select(.value > 0 and (.key | test("^(tcp_(established|seg_in|seg_out|rto_expired|fast_retrans|delayed_acks)|echo\\.bytes|tcp\\.|net_arp_replied|net_icmp_echo)")))) | map("\(.key)=\(.value)") | join(", ")')"
echo "  http server: $(bh_nf_stat web '.app | to_entries | map(select(.value > 0 and (.key | startswith("http.")))) | map("\(.key)=\(.value)") | join(", ")')"
echo "  its access log:"
sed 's/^/    /' "$WORK/access.log"
echo "  monitor's last report:"
grep -A4 'flows' "$WORK/mon.log" | tail -n 5 | sed 's/^/    /'
say "the control plane: scale the monitor to 3 instances (child NFs), watch them sleep"
BHCTL=("$ROOT/ctl/bhctl" --url "http://127.0.0.1:$API_PORT" --token "$TOKEN")
"${BHCTL[@]}" scale monitor 3
bh_wait_for 10 bash -c "[ \$($ROOT/ctl/bhctl --url http://127.0.0.1:$API_PORT --json services | jq '.[] | select(.name==\"monitor\") | .instances') = 3 ]"
ip netns exec "$NS_A" ping -c 3 -i 0.2 198.18.0.2 >/dev/null
sleep 1.5
"${BHCTL[@]}" nfs
echo
"${BHCTL[@]}" events | tail -n 8
say "statistics JSON: $WORK/snap.json"
if [ -n "${DEMO_KEEP:-}" ]; then
	say "running until Ctrl-C: open $CONSOLE"
	while sleep 1; do :; done
fi
say "stopping (manager, NFs, namespaces and hugepages are cleaned up)"
