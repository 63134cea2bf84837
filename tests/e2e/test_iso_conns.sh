#!/usr/bin/env bash
# 10,000 concurrent isolated connections (bh-http --isolation connection):
# client A opens them all and holds them; each gets a sandboxed worker of its
# own (a process with a uid of its own); once all are held, one request on
# each, all in flight together, each answer checked; and what it all cost in
# memory: the proportional set size (PSS) of the workers, the zygote and the NF.
# ISO_CONNS (10000) sets the count.
source "$(dirname "$0")/http_lib.sh"
bh_topology || exit 1
START=$(date +%s)
CONNS=${ISO_CONNS:-10000}
DOCROOT=$WORK/root
http_docroot "$DOCROOT"
HTTP_ISOLATION=connection
HTTP_UID_COUNT=$((CONNS + 4096))
tcp_config "$WORK/cfg.json" '["http"]'
http_iso_args || exit 1
bh_start_mgr "$WORK/cfg.json" || exit 1
# A connection waits for its worker at most the header timeout (then 503),
# and one that sends nothing is closed at the idle timeout: the defaults (10 s,
# 60 s) measure how fast workers start and how long the PSS takes to read, not
# whether all are held and served. On a busy host (two CPU-bound loops beside
# the test) 10,000 workers took over 10 s to start and 1,660 connections got a
# 503; so both timeouts here are beyond this test's own bounds.
bh_start_nf http http -s http -- --ip $TCP_IP/24 --port p0 --root "$DOCROOT" \
	--max-conns $((CONNS + 4096)) --http-max-conns $((CONNS + 16)) --spares 64 \
	--header-timeout-ms 200000 --idle-timeout-ms 400000 "${HTTP_ISO_ARGS[@]}" || exit 1
HTTP_PID=$NF_PID
ip netns exec "$NS_A" ping -c 1 -W 2 $TCP_IP >/dev/null

t0=$(date +%s)
(ulimit -n $((CONNS + 1024)) && exec timeout 300 ip netns exec "$NS_A" $HC many $TCP_IP 80 "$CONNS" \
	/notes.txt "$DOCROOT/notes.txt" "$WORK/go") >"$WORK/many.json" 2>"$WORK/many.err" &
client=$!
BH_PIDS+=("$client")
held=0
bh_wait_for 200 grep -q holding "$WORK/many.err" && held=1
check "the client got to hold its connections" [ $held = 1 ]
echo "# the client held its connections after $(($(date +%s) - t0)) s"
# Waits on the NF's count of live workers (a snapshot), then looks at the
# processes: ps over 10,000 of them takes 0.4 s here, and polled ten times a
# second it took most of a CPU from the workers it waited for.
alive() { bh_snap; [ "$(http_app workers_alive)" "$1" "$2" ]; }
all_workers() { [ "$(http_workers | wc -l)" -ge "$CONNS" ]; }
bh_wait_for 120 alive -ge "$CONNS"
check "a worker for each of the $CONNS connections" bh_wait_for 30 all_workers
echo "# $CONNS connections held, each with its worker, after $(($(date +%s) - t0)) s"
bh_snap
# what the NF's stack and workers went through to get here (to read a failure by)
bh_nf_stat http '.app | {tcp_seg_in, tcp_seg_out, tcp_unacceptable, tcp_oow_acks_held, tcp_syncookies_sent,
	tcp_listen_full, tcp_table_full, tcp_rst_sent, "http.conns_waited", "http.workers_started",
	"http.worker_spawn_failures", "http.conns_refused"}' | jq -c . | sed 's/^/# counters: /'
check_cmp "the NF has them all open" "$(http_app conns_open)" -eq "$CONNS"
check_cmp "  ... and counts a worker for each (http.workers_alive)" "$(http_app workers_alive)" -ge "$CONNS"
uids=$(ps -eo uid= | awk -v b=$HTTP_UID_BASE -v n="$HTTP_UID_COUNT" '$1 >= b && $1 < b + n' | sort -u | wc -l)
check_cmp "every worker has a uid of its own" "$uids" -eq "$(http_workers | wc -l)"

# memory: PSS of every worker, the zygote (the workers' parent) and the NF
pss() { awk '/^Pss:/ {s += $2} END {print s + 0}' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0; }
# one reader for all of them (a process per worker takes minutes on a slow host)
http_workers >"$WORK/workers.txt"
n=$(grep -c . "$WORK/workers.txt")
w_kb=$(sed 's|.*|/proc/&/smaps_rollup|' "$WORK/workers.txt" | xargs cat 2>/dev/null |
	awk '/^Pss:/ {s += $2} END {print s + 0}')
zyg=$(ps -o ppid= -p "$(http_workers | head -1)" | tr -d ' ')
nf_kb=$(pss "$HTTP_PID")
z_kb=$(pss "$zyg")
total_kb=$((w_kb + nf_kb + z_kb))
echo "# memory (PSS): $n workers $((w_kb / 1024)) MiB ($((w_kb / n)) KiB each), zygote $((z_kb / 1024)) MiB, NF $((nf_kb / 1024)) MiB (hugepages not counted): $((total_kb / 1024)) MiB in all"
check_cmp "$CONNS isolated connections within 4 GiB (PSS of workers, zygote and NF, in MiB)" \
	$((total_kb / 1024)) -lt 4096

touch "$WORK/go"
wait $client
echo "# answers: $(cat "$WORK/many.json")"
check_cmp "every connection answered 200 with its file" "$(jq -r .answered "$WORK/many.json")" -eq "$CONNS"
check_cmp "  ... no wrong answer" "$(jq -r '.bad + .unanswered + .connect_failed' "$WORK/many.json")" -eq 0
gone() { [ "$(http_workers | wc -l)" -le 64 ]; }
bh_wait_for 60 alive -le 64
check "once closed, the workers exit (the spares stay)" bh_wait_for 30 gone
http_counters_settled
check_cmp "workers started >= connections" "$(http_app workers_started)" -ge "$CONNS"
for c in worker_crashes worker_seccomp_kills worker_limit_kills worker_hangs worker_protocol_errors \
	worker_spawn_failures conn_errors conns_refused; do
	check_cmp "http.$c = 0" "$(http_app $c)" -eq 0
done
tcp_nf_stop http "$HTTP_PID"
echo "# test_iso_conns took $(($(date +%s) - START))s"
bh_summary
