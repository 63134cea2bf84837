#!/usr/bin/env bash
# The isolation policy in the manager's config (services[].isolation):
#   a bad policy is refused by `bulkhead --check` with one line naming the field;
#   the manager leaves the policy for the service's NFs in
#   /run/bulkhead/PREFIX/SERVICE.isolation (root's, 0600), shows it in the
#   statistics, and removes it when it stops;
#   bh-http started with no isolation option reads it: workers as configured
#   (client unit, 4 spares, uids from the configured range, the configured
#   memory limit); its own options win (--spares 2, --isolation none);
#   NFs that do not apply a policy (bh-tcp-echo, bh-forward) are refused under
#   that service; a policy file for a service the manager has none for gets the
#   NF refused; one that others may write keeps the NF from starting.
# (test_http_iso_pool.sh and test_http_bad_iso_pool.sh run the whole HTTP
# suites with the policy given this way.)
source "$(dirname "$0")/http_lib.sh"
bh_topology || exit 1
START=$(date +%s)
DOCROOT=$WORK/root
http_docroot "$DOCROOT"
MGR=$BH_BUILD/mgr/bulkhead
HTTP_ISOLATION=client
http_iso_args || exit 1 # installs the worker program
W=$WORK/libexec/worker

echo "# bad policies: bulkhead --check"
# bad WHAT ISOLATION_JSON TEXT: refused, exit 2, the line says TEXT
bad() {
	jq -n --argjson iso "$2" '{ports:[{name:"p0",dev:"net_null0"}], services:[{name:"http", isolation:$iso}]}' \
		>"$WORK/bad.json"
	local out rc
	out=$("$MGR" --check -c "$WORK/bad.json" 2>&1)
	rc=$?
	check_cmp "$1: exit 2" "$rc" -eq 2
	if grep -qF -- "$3" <<<"$out"; then check "  ... says '$3'" true; else check "  ... says '$3' (got: $out)" false; fi
}
bad "no unit" '{"worker":"/w"}' "services[0].isolation: unit is required"
bad "an unknown unit" '{"unit":"conn","worker":"/w"}' "services[0].isolation.unit: expected none, connection, client or pool:N"
bad "pool:0" '{"unit":"pool:0","worker":"/w"}' "services[0].isolation.unit: expected"
bad "unit none" '{"unit":"none"}' "services[0].isolation.unit: none is the shared design"
bad "a relative worker path" '{"unit":"client","worker":"w"}' "services[0].isolation.worker: expected an absolute path"
bad "no worker" '{"unit":"client"}' "services[0].isolation: isolation needs the worker program"
bad "a scrubbed pool" '{"unit":"pool:2","recycle":"scrub","worker":"/w"}' "recycle applies to units connection and client"
bad "an unknown field" '{"unit":"client","worker":"/w","workers":3}' "services[0].isolation.workers: unknown field"
bad "a wrong type" '{"unit":"client","worker":"/w","spares":true}' "services[0].isolation.spares: must be a string or a non-negative integer"
bad "a negative number" '{"unit":"client","worker":"/w","spares":-1}' "services[0].isolation.spares: must be"
bad "out of range" '{"unit":"client","worker":"/w","worker_mem":"1m"}' "services[0].isolation.worker_mem: expected 16777216..1099511627776 (k, m, g suffixes), not '1m'"
bad "a spin bound out of range" '{"unit":"client","worker":"/w","worker_spin_ms":"1k"}' "services[0].isolation.worker_spin_ms: expected 0..86400000, not '1k'"
bad "too few uids" '{"unit":"client","worker":"/w","uid_range":"5000:4"}' "uid-range: 4 uids are fewer"
bad "not an object" '"client"' "services[0].isolation: must be an object"
jq -n '{ports:[{name:"p0",dev:"net_null0"}], services:[{name:"http", isolation:{unit:"pool:2", worker:"/w",
	worker_mem:"64m", worker_fds:32, worker_spin_ms:250, spares:0, inline_max:4096}}]}' >"$WORK/good.json"
check "a good policy: --check says ok" bash -c "'$MGR' --check -c '$WORK/good.json' | grep -q ': ok'"

echo "# the policy handed to the NF"
ISO=$(jq -nc --arg w "$W" --arg ur "$HTTP_UID_BASE:$HTTP_UID_COUNT" \
	'{unit:"client", recycle:"fresh", worker:$w, uid_range:$ur, spares:4, worker_mem:"128m"}')
bh_config "$WORK/cfg.json" <<J
{"services":[{"name":"http","isolation":$ISO}, {"name":"echo","isolation":$ISO}, "plain"],
 "chains":[{"name":"in","hops":["http"]}], "rules":[{"in_port":"p0","chain":"in"}]}
J
bh_start_mgr "$WORK/cfg.json" || exit 1
D=/run/bulkhead/$PREFIX
F=$D/http.isolation
check "the manager left the policy in $F" test -f "$F"
check_cmp "  ... root's, mode 0600, in a directory of root's, 0700" "$(stat -c %u:%a "$F" "$D" | tr '\n' ' ')" \
	== "0:600 0:700 "
check "  ... as the NF's options, the fields given" diff <(printf 'isolation client\nrecycle fresh\nworker %s\nuid-range %s\nworker-mem 128m\nspares 4\n' \
	"$W" "$HTTP_UID_BASE:$HTTP_UID_COUNT") "$F"
check "  ... and one for the other service with a policy" test -f "$D/echo.isolation"
check "  ... none for the service without" test ! -e "$D/plain.isolation"
bh_snap
check_cmp "the statistics show the service's isolation" "$(bh_stat '.services[] | select(.name == "http") | .isolation.unit + " " + (.isolation.spares | tostring)')" \
	== "client 4"
check_cmp "  ... and none for the service without" "$(bh_stat '.services[] | select(.name == "plain") | .isolation')" == null
check_cmp "  ... and GET /api/v1/services has it" "$(ip netns exec "$NS_M" curl -s -m 5 http://127.0.0.1:8470/api/v1/services |
	jq -r '.[] | select(.name == "http") | .isolation.worker_mem')" == 128m

bh_start_nf http http -s http -- --ip $TCP_IP/24 --port p0 --root "$DOCROOT" || exit 1
HTTP_PID=$NF_PID
check "bh-http with no isolation option says where its policy came from" \
	grep -q "isolation policy of service 'http' from the manager's config ($F)" "$WORK/http.log"
ip netns exec "$NS_A" ping -c 1 -W 2 $TCP_IP >/dev/null
hcurl -o "$WORK/notes.out" "$URL/notes.txt"
check "a file fetched through it, whole" cmp -s "$WORK/notes.out" "$DOCROOT/notes.txt"
spares() { bh_snap && [ "$(http_app workers_spare)" = "$1" ]; }
check "  ... served by a worker, and 4 spares kept (the config's spares)" bh_wait_for 10 spares 4
http_counters_settled
check_cmp "  http.workers_started >= 5" "$(http_app workers_started)" -ge 5
check_cmp "  http.requests = 1" "$(http_app requests)" -eq 1
check_cmp "  every worker has a uid of the configured range" "$(http_workers | wc -l)" -ge 5
w1=$(http_workers | head -1)
check_cmp "  ... and the configured memory limit (128 MiB address space)" \
	"$(awk '/^Max address space/ {print $4}' /proc/"$w1"/limits)" -eq $((128 << 20))
tcp_nf_stop http "$HTTP_PID"

bh_start_nf http http -s http -- --ip $TCP_IP/24 --port p0 --root "$DOCROOT" --spares 2 || exit 1
HTTP_PID=$NF_PID
hcurl -o "$WORK/notes.out" "$URL/notes.txt"
check "with --spares 2 on its command line: a file fetched, whole" cmp -s "$WORK/notes.out" "$DOCROOT/notes.txt"
check "  ... and 2 spares kept: the command line wins" bh_wait_for 10 spares 2
tcp_nf_stop http "$HTTP_PID"

bh_start_nf http http -s http -- --ip $TCP_IP/24 --port p0 --root "$DOCROOT" --isolation none || exit 1
HTTP_PID=$NF_PID
hcurl -o "$WORK/notes.out" "$URL/notes.txt"
check "with --isolation none: a file fetched, whole" cmp -s "$WORK/notes.out" "$DOCROOT/notes.txt"
http_counters_settled
check_cmp "  ... by the shared design: no worker started" "$(http_app workers_started)" -eq 0
check_cmp "  ... none alive" "$(http_workers | wc -l)" -eq 0
tcp_nf_stop http "$HTTP_PID"

echo "# NFs that do not apply a policy, and policies the manager did not give"
# refused WHAT TEXT MGR_TEXT command...: the NF exits 1 saying TEXT; the manager's log MGR_TEXT
refused() {
	local what=$1 text=$2 mtext=$3 rc
	shift 3
	timeout 30 "$@" >"$WORK/refused.log" 2>&1
	rc=$?
	check_cmp "$what: the NF exits 1" "$rc" -eq 1
	check "  ... saying why" grep -qF -- "$text" "$WORK/refused.log"
	check "  ... and the manager logs it" grep -qF -- "$mtext" "$WORK/mgr.log"
}
refused "bh-tcp-echo under a service with a policy" \
	"registration as 'echo' refused: the service has an isolation policy in the manager's config, and this NF does not apply one" \
	"refused: its service has an isolation policy, which it did not apply" \
	"$BH_BUILD/nfs/tcp-echo/bh-tcp-echo" -P "$PREFIX" -s echo -- --ip 198.18.0.9/24 --port p0 --listen 7
refused "bh-forward under a service with a policy" \
	"registration as 'echo' refused: the service has an isolation policy" "refused: its service has an isolation policy" \
	"$BH_BUILD/nfs/forward/bh-forward" -P "$PREFIX" -s echo
install -m 0600 "$F" "$D/plain.isolation"
refused "bh-http with a policy file the manager did not write (service plain)" \
	"registration as 'plain' refused: this NF applied an isolation policy the manager does not have" \
	"refused: it applied an isolation policy its service does not have" \
	"$BH_BUILD/nfs/http/bh-http" -P "$PREFIX" -s plain -- --ip 198.18.0.9/24 --port p0 --root "$DOCROOT"
rm -f "$D/plain.isolation"
gone() { [ "$(http_workers | wc -l)" = 0 ]; }
check "  ... and the workers its zygote started are gone with it" bh_wait_for 10 gone
chmod 0666 "$F"
timeout 30 "$BH_BUILD/nfs/http/bh-http" -P "$PREFIX" -s http -- --ip $TCP_IP/24 --port p0 --root "$DOCROOT" \
	>"$WORK/unsafe.log" 2>&1
check_cmp "a policy file others may write: bh-http exits 2" "$?" -eq 2
check "  ... saying why" grep -qF "isolation policy of service 'http': $F: not a regular file owned by root and writable by root alone" \
	"$WORK/unsafe.log"
check_cmp "  ... having started no worker" "$(http_workers | wc -l)" -eq 0
chmod 0600 "$F"

kill -TERM "$MGR_PID"
check "the manager stops" bh_wait_for 10 bash -c "! kill -0 $MGR_PID 2>/dev/null"
check "  ... and removes the policy files and their directory" test ! -e "$D"
echo "# $(($(date +%s) - START)) s"
bh_summary
