#!/usr/bin/env bash
# The escape suite of the isolated HTTP server (docs/isolation.md). The NF
# (bh-http --isolation connection) runs a hostile worker program in place of
# its HTTP worker (tests/iso/escape_worker.c, http mode): each request
# "GET /NAME?PID" is one escape attempt aimed at process PID - the TCP NF, or
# another worker that holds a client's connection - and the worker answers
# with its verdict, "NAME refused ERRNO" or "NAME ESCAPED ...". An attempt
# the seccomp filter forbids kills the worker with SIGSYS before it answers:
# that client gets a 500, the NF counts the kill, and nothing else notices.
# Then, with the real worker: two clients fetching different files at once
# through a pool of shared workers never see each other's bytes, and killing
# a worker in the middle of its response cuts only its own connection.
source "$(dirname "$0")/http_lib.sh"
bh_topology || exit 1
START=$(date +%s)
DOCROOT=$WORK/root
mkdir -p "$DOCROOT"
printf 'hello from the docroot\n' >"$DOCROOT/index.html"
printf 'writable\n' >"$DOCROOT/writable"
chmod 0666 "$DOCROOT/writable"
ln -s /etc/passwd "$DOCROOT/passwd"
http_docroot "$DOCROOT/site" 32
chmod 755 "$WORK" "$DOCROOT"

HTTP_ISOLATION=connection HTTP_WORKER=$BH_BUILD/lib/iso/iso_escape_worker
http_start '["http"]' "" --spares 2 || exit 1

# a client whose worker holds its connection, and tells its pid
ip netns exec "$NS_A" $HC hold $TCP_IP 80 /whoami "$WORK/stop" 120 >"$WORK/held.json" &
HELD_PID=$!
BH_PIDS+=("$HELD_PID")
bh_wait_for 10 bash -c "[ -s '$WORK/held.json' ]"
WORKER=$(head -1 "$WORK/held.json" | jq -r .body | tr -d '\n')
check "a held connection's worker says its pid" kill -0 "$WORKER"
check "  ... a confined worker: uid from the range, Seccomp 2, NoNewPrivs 1, no capabilities" bash -c "
	awk '/^Uid:/ {u = \$2} /^Seccomp:/ {s = \$2} /^NoNewPrivs:/ {n = \$2} /^CapEff:/ {c = \$2}
	     END {exit !(u >= $HTTP_UID_BASE && s == 2 && n == 1 && c == \"0000000000000000\")}' /proc/$WORKER/status"
check "  ... a different process from the NF" [ "$WORKER" != "$HTTP_PID" ]

# attempt NAME PID: one request; its JSON in $WORK/a.json
attempt() { hc send $TCP_IP 80 "GET /$1?$2 HTTP/1.1\r\nHost: a\r\n\r\n" 5 >"$WORK/a.json"; }
refused() { # refused NAME PID ERRNO: answered "NAME refused ERRNO"
	attempt "$1" "$2"
	check_json "$1 (at pid $2): refused $3" "$WORK/a.json" \
		".status == 200 and .body == \"$1 refused $3\\n\"" '{status, body}'
}
SYS_N=0
killed() { # killed NAME PID: the worker dies of SIGSYS before it answers: 500
	attempt "$1" "$2"
	SYS_N=$((SYS_N + 1))
	check_json "$1 (at pid $2): the worker is killed (SIGSYS), the client gets 500" "$WORK/a.json" \
		'.status == 500 and (.body | test("ESCAPED") | not)' '{status, body}'
}

for target in "$HTTP_PID" "$WORKER"; do
	refused proc_parent_mem "$target" ENOENT # no /proc in the view
	killed process_vm_readv "$target"
	killed ptrace_attach "$target"
	killed kill_parent "$target"
done
refused etc_passwd 0 ENOENT
refused dotdot 0 ENOENT
refused symlink_out 0 ENOENT
refused hugepages 0 ENOENT
refused inherited_fd 0 EBADF
refused alloc_over_limit 0 ENOMEM
refused wake_pipe_read 0 EBADF # write-only: no worker can read away the others' wake-ups
for a in write_root create_file mkdir socket_inet socket_unix execve_sh execveat_other fork \
	setuid0 mount unshare_user mmap_exec make_dumpable wake_pipe_setfl; do
	killed "$a" 0
done
# int 0x80 (the i386 entry): where the kernel has no such entry the
# instruction faults (SIGSEGV, a crash to the NF) before the filter sees it.
FAULT_N=0
if { "$HTTP_WORKER" int80-probe >/dev/null; } 2>/dev/null; then
	killed int80 0
else
	echo "# int 0x80 faults on this kernel even unconfined (no i386 entry): a crash, not SIGSYS"
	attempt int80 0
	FAULT_N=1
	check_json "int80 (at pid 0): the worker dies of the kernel's fault, the client gets 500" "$WORK/a.json" \
		'.status == 500 and (.body | test("ESCAPED") | not)' '{status, body}'
fi
attempt www/index.html 0
check_json "the same program serves a file inside its view" "$WORK/a.json" \
	'.status == 200 and .body == "hello from the docroot\n"'
attempt log_flood 0
check_json "a worker that sends 100 log lines of its own after its answer: the answer arrives" \
	"$WORK/a.json" '.status == 200 and .body == "log_flood sent\n"'
http_counters_settled
check_cmp "  ... and not one of its lines is in the access log" "$(grep -c FORGED "$WORK/access.log")" -eq 0
# a client that reads nothing for 2 s, so that the flood backs up. The NF
# resets the connection (a capture showed the RST), yet the reader here may
# see the data it had queued and then an end of stream rather than a reset:
# the reset is checked by the NF's count.
http_counters_settled
CONN_ERRORS=$(http_app conn_errors)
ip netns exec "$NS_A" $HC stall $TCP_IP 80 "/credit_flood?0" 2 >"$WORK/a.json"
check_json "a worker that sends 8 MiB without waiting for credit: its client's answer is cut short" \
	"$WORK/a.json" '.closed != "open" and .bytes < 8388608' '{status, bytes, closed}'
http_counters_settled
check_cmp "  ... the worker killed once beyond its credit (http.worker_protocol_errors)" \
	"$(http_app worker_protocol_errors)" -eq 1
check_cmp "  ... and the connection reset, its answer having started (http.conn_errors)" \
	"$(http_app conn_errors)" -eq $((CONN_ERRORS + 1))

# A body passed as a descriptor opened O_PATH (which the filter allows, and
# every read of which fails): the worker is killed for breaking the protocol
# as the descriptor comes, its client's answer cut short after the head.
http_counters_settled
PROTO=$(http_app worker_protocol_errors)
hc send $TCP_IP 80 'GET /pass_opath HTTP/1.1\r\nHost: a\r\n\r\n' 5 >"$WORK/a.json"
check_json "a body passed as an O_PATH descriptor: the answer cut short after its head" "$WORK/a.json" \
	'.closed != "open" and (.body // "" | length) < 23' '{status, body, closed}'
http_counters_settled
check_cmp "  ... the worker killed for it (http.worker_protocol_errors)" "$(http_app worker_protocol_errors)" \
	-eq $((PROTO + 1))

# A request that sends its worker into a loop (no answer, no system call):
# the worker is killed once it has spent --worker-spin-ms (1 s by default)
# of CPU owing the answer, not at the header timeout + 2 s (12 s), and a
# keep-alive loop on another connection (its own worker) goes on meanwhile.
hc loop $TCP_IP 80 /keep/index.html "$DOCROOT/index.html" "$WORK/stop.loop" 30 >"$WORK/loop.json" &
LOOP=$!
BH_PIDS+=("$LOOP")
sleep 0.3
hc send $TCP_IP 80 'GET /spin HTTP/1.1\r\nHost: a\r\n\r\n' 20 >"$WORK/spin.json"
touch "$WORK/stop.loop"
wait "$LOOP"
echo "# spin: $(jq -c '{status, seconds}' "$WORK/spin.json"); loop: $(cat "$WORK/loop.json")"
check_json "a worker in a loop on its request: killed, its client gets 500 within 5 s" "$WORK/spin.json" \
	'.status == 500 and .seconds < 5' '{status, seconds}'
check_json "  ... while another connection's keep-alive loop went on, every answer right" \
	"$WORK/loop.json" '.fetches >= 10 and .bad == 0 and .errors == 0 and .connects == 1'
http_counters_settled
check_cmp "  ... counted as stopped by a limit (http.worker_limit_kills)" "$(http_app worker_limit_kills)" -eq 1

# A worker that answers, then loops (it owes nothing): killed once it has
# spent --worker-spin-ms of CPU so, its keep-alive connection then closed
# (before, the connection was still open 15 s later, the worker running).
hc send $TCP_IP 80 'GET /spin_after HTTP/1.1\r\nHost: a\r\n\r\n' 15 >"$WORK/spin_after.json"
echo "# spin_after: $(jq -c '{status, body, closed, seconds}' "$WORK/spin_after.json")"
check_json "a worker that answers, then loops: its answer whole, then its connection closed within 5 s" \
	"$WORK/spin_after.json" '.status == 200 and .body == "spin_after\n" and .closed != "open" and .seconds < 5' \
	'{status, body, closed, seconds}'
http_counters_settled
check_cmp "  ... counted as stopped by a limit (http.worker_limit_kills)" "$(http_app worker_limit_kills)" -eq 2

http_counters_settled
check_cmp "http.worker_seccomp_kills counts every forbidden call" "$(http_app worker_seccomp_kills)" -eq "$SYS_N"
check_cmp "  ... and nothing else went wrong (the two protocol errors and a kernel's fault aside)" \
	$(($(http_app worker_crashes) + $(http_app worker_hangs) + $(http_app worker_protocol_errors))) \
	-eq $((2 + FAULT_N))
check_cmp "  ... each answered 500 (and the loop's)" "$(http_app status_5xx)" -eq $((SYS_N + FAULT_N + 1))
check_cmp "  ... and the answers counted once each (http.requests = access-log lines)" \
	"$(http_app requests)" -eq "$(grep -c . "$WORK/access.log")"
check "the NF is alive" kill -0 "$HTTP_PID"
check "the held worker is alive" kill -0 "$WORKER"
touch "$WORK/stop"
wait "$HELD_PID"
check_json "  ... and its client's connection was never disturbed" "$WORK/held.json" \
	'select(has("closed")) | .closed == "open"'
check "no line of the access log escaped its connection (one line per answer, all printable)" \
	bash -c "! grep -Evq '^198\.18\.0\.1 - - ' '$WORK/access.log'"
tcp_nf_stop http "$HTTP_PID"
rm -f "$WORK/stop"

# --- the real worker: two clients through a pool of 2 shared workers ---------
DOCROOT=$DOCROOT/site
install -m 0711 "$BH_BUILD/workers/http/bh-http-worker" "$WORK/libexec/worker"
bh_start_nf http http -s http -- --ip $TCP_IP/24 --port p0 --root "$DOCROOT" \
	--isolation pool:2 --worker "$WORK/libexec/worker" --uid-range $HTTP_UID_BASE:4096 || exit 1
HTTP_PID=$NF_PID
head -c 300000 /dev/urandom >"$DOCROOT/other.bin"
for who in a b; do
	f=$([ $who = a ] && echo loop.bin || echo other.bin)
	ip netns exec "$NS_A" $HC loop $TCP_IP 80 /$f "$DOCROOT/$f" "$WORK/stop" 60 >"$WORK/loop_$who.json" &
	BH_PIDS+=($!)
	eval "LOOP_$who=$!"
done
sleep 4
touch "$WORK/stop"
wait "$LOOP_a" "$LOOP_b"
for who in a b; do
	check_json "pool of 2 workers, client $who: every response its own file, byte for byte" \
		"$WORK/loop_$who.json" '.fetches >= 20 and .bad == 0 and .errors == 0'
done
http_counters_settled
check_cmp "  ... through a pool of 2 worker processes" "$(http_workers | wc -l)" -eq 2
tcp_nf_stop http "$HTTP_PID"
rm -f "$WORK/stop"

# --- a client that reads nothing holds up nobody else on its worker ----------
# One worker serves every connection (pool:1). A sends 400 pipelined requests
# for a 16 KiB file (answered through the channel: 6.4 MiB) and reads
# nothing, so its answers back up into the server; B fetches all along on its
# own connection through the same worker and channel. Flow control per
# stream (docs/isolation.md, "Frames") stops A's answers at its credit and
# nothing else; A then reads all 400.
bh_start_nf http http -s http -- --ip $TCP_IP/24 --port p0 --root "$DOCROOT" \
	--isolation pool:1 --worker "$WORK/libexec/worker" --uid-range $HTTP_UID_BASE:4096 || exit 1
HTTP_PID=$NF_PID
head -c 16384 /dev/urandom >"$DOCROOT/f16k.bin"
ip netns exec "$NS_A" $HC glut $TCP_IP 80 /f16k.bin 400 "$DOCROOT/f16k.bin" "$WORK/stop_a" 60 \
	>"$WORK/glut.json" &
GLUT_PID=$!
BH_PIDS+=("$GLUT_PID")
bh_wait_for 10 bash -c "[ -s '$WORK/glut.json' ]"
sleep 1
ip netns exec "$NS_A" $HC loop $TCP_IP 80 /loop.bin "$DOCROOT/loop.bin" "$WORK/stop_b" 3 >"$WORK/loop_g.json"
touch "$WORK/stop_a"
wait "$GLUT_PID"
check_json "client B, on the worker whose other client reads nothing, is served all along" \
	"$WORK/loop_g.json" '.fetches >= 20 and .bad == 0 and .errors == 0 and .connects == 1'
tail -n 1 "$WORK/glut.json" >"$WORK/glut_end.json"
check_json "  ... and client A then gets all 400 answers, byte for byte, on its connection" \
	"$WORK/glut_end.json" '.answered == 400 and .bad == 0 and .closed == "open"'
http_counters_settled
check_cmp "  ... one worker served both" "$(http_workers | wc -l)" -eq 1
check_cmp "  ... and none was killed (http.worker_hangs + worker_protocol_errors)" \
	"$(($(http_app worker_hangs) + $(http_app worker_protocol_errors)))" -eq 0
tcp_nf_stop http "$HTTP_PID"

# slow_download WHO RATE [bh-http options]: an NF with no spare worker (so
# the only worker alive is the one serving WHO), and WHO downloading big.bin
# at RATE in the background into $WORK/WHO.got (pid WHO_PID, curl's code and
# byte count in $WORK/WHO.out); VICTIM is its worker.
slow_download() {
	local who=$1 rate=$2
	shift 2
	bh_start_nf http http -s http -- --ip $TCP_IP/24 --port p0 --root "$DOCROOT" \
		--isolation connection --worker "$WORK/libexec/worker" --uid-range $HTTP_UID_BASE:4096 \
		--spares 0 "$@" || exit 1
	HTTP_PID=$NF_PID
	ip netns exec "$NS_A" curl -s -m 30 --limit-rate "$rate" -o "$WORK/$who.got" \
		-w '%{http_code} %{size_download}' "$URL/big.bin" >"$WORK/$who.out" 2>/dev/null &
	WHO_PID=$!
	BH_PIDS+=("$WHO_PID")
	bh_wait_for 10 bash -c "[ -s '$WORK/$who.got' ]"
	VICTIM=$(http_workers | head -1)
	check_cmp "client $who's download is served by one worker" "$(http_workers | wc -l)" -eq 1
}

# --- crash containment: a worker killed mid-response -------------------------
# Bodies go through the channel (--inline-max 64m), so A's worker is busy for
# as long as A downloads slowly.
slow_download A 2M --inline-max 64m
A_PID=$WHO_PID
ip netns exec "$NS_A" $HC loop $TCP_IP 80 /loop.bin "$DOCROOT/loop.bin" "$WORK/stop" 60 >"$WORK/loop_b.json" &
LOOP_b=$!
BH_PIDS+=("$LOOP_b")
sleep 1
kill -KILL "$VICTIM"
sleep 2
touch "$WORK/stop"
wait "$LOOP_b"
wait "$A_PID"
a_rc=$?
read -r a_code a_bytes <"$WORK/A.out"
check "client A's download was cut short (curl exit $a_rc, $a_bytes of 33554432 bytes)" \
	[ "$a_rc" -ne 0 ] && [ "${a_bytes%.*}" -lt 33554432 ]
check "  ... what A got before is the file's beginning" cmp -s "$WORK/A.got" <(head -c "${a_bytes%.*}" "$DOCROOT/big.bin")
check_json "client B, fetching all along on its own connection, saw nothing of it" "$WORK/loop_b.json" \
	'.fetches >= 20 and .bad == 0 and .errors == 0 and .connects == 1'
http_counters_settled
check_cmp "the killed worker is counted (http.worker_crashes)" "$(http_app worker_crashes)" -eq 1
check "the NF is alive" kill -0 "$HTTP_PID"
tcp_nf_stop http "$HTTP_PID"

# --- a worker killed after it answered: the body it passed by descriptor still goes
# out in full (the NF streams the file itself; the worker is not needed for it)
slow_download C 4M
kill -KILL "$VICTIM"
wait "$WHO_PID"
c_rc=$?
check "client C still got all 32 MiB, byte-identical (curl exit $c_rc)" cmp -s "$WORK/C.got" "$DOCROOT/big.bin"
http_counters_settled
check_cmp "  ... from a descriptor the worker passed (http.files_passed)" "$(http_app files_passed)" -ge 1
check_cmp "  ... and the worker's death is counted" "$(http_app worker_crashes)" -eq 1
tcp_nf_stop http "$HTTP_PID"
echo "# test_iso_escape took $(($(date +%s) - START))s"
bh_summary
