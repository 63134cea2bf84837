#!/usr/bin/env bash
# bench/isolation.sh: the HTTP NF's isolated design (requests parsed by
# sandboxed bh-http-worker processes that the zygote starts ahead of demand,
# large bodies passed back by descriptor and streamed by the NF) against its
# shared design (the NF parses every request itself), one after the other in
# one run, on the same CPUs.
#
#   client ns (198.18.0.1, wrk on CLIENT_CPU) --veth-- server ns: the manager
#   (af_packet) and bh-http (198.18.0.3), with its zygote and workers, all on
#   SERVER_CPU
#
# 1. matrix: for each mode (keep-alive; "Connection: close", a new connection
#    per request), each file (64 B .. 10 MiB) and each configuration (shared,
#    connection/fresh, connection/scrub, client/fresh, client/scrub,
#    pool:N/fresh: unit and recycling, docs/isolation.md), a fresh NF
#    (TIME-WAIT stays in its table: see bench/http.sh), then wrk: requests/s,
#    MB/s (heads included), p99 latency, and the ratio of each isolated
#    configuration to shared. The NF's worker counters after each run. The
#    configurations of one file run back to back, so that the points a ratio
#    compares are about a minute apart at most, on a host whose speed wanders
#    (ORDER=config: one NF per configuration for all the files, as before:
#    three minutes apart at most, a fifth of the NF starts).
# 1b. floor: what a request costs the isolated design in wake-ups alone
#    (bench/chan_pingpong.c: a parent and CONNS workers with a channel each,
#    all on SERVER_CPU, each message one wake, one sleep and a switch there
#    and back), and what that leaves of the shared design's keep-alive rate
#    at best when every connection has a worker of its own.
# 2. rate: new isolated connections per second: connection/fresh and
#    connection/scrub with "Connection: close" on the 64 B file (taken from
#    the matrix, measured here if the matrix did not have them).
# 3. idle: IDLE_CONNS keep-alive connections to HOLD_CONFIG opened by a small
#    client (one request answered on each) and held idle: PSS
#    (/proc/PID/smaps_rollup) of the processes in the workers' uid range, per
#    worker; the zygote's and the NF's (hugepages are not in PSS).
# 4. max: the same with MANY_CONNS connections: how many are open, how many
#    got a worker (their request answered, none closed) within HOLD_SECS, the
#    live workers and what they cost (PSS), the NF's descriptors.
#
# Prints a table and the goals of the isolated design, and writes
# bench/out/isolation.{txt,raw.txt,dat,png}.
#
# With ROUNDS > 1 the matrix is run that many times, the configurations
# taking turns in each round (each round starting one further on), and the
# table gives every figure's median and, for each ratio, the median of the
# rounds' ratios (each round's isolated figure over the same round's shared
# one).
#
# Environment: ROUNDS=1 SECS=5 WARMUP=1 CONNS=32 CLIENT_CPU=0 SERVER_CPU=1 ORDER=size
#   SIZES="64 1k 64k 1m 10m" MODES="keepalive close" (pipeline: PIPELINE=16)
#   POOL_N=2 CONFIGS="shared connection/fresh connection/scrub client/fresh
#   client/scrub pool:$POOL_N/fresh" PARTS="matrix floor rate idle max"
#   NF_ARGS="" CLOSE_NF_ARGS="--max-conns 262144" HTTP_MAX_CONNS=4096
#   UID_BASE=2000500000 UID_COUNT=4096 SPARES=16 INLINE_MAX=16384
#   HOLD_CONFIG=connection/fresh IDLE_CONNS=1000 MANY_CONNS=10000 HOLD_SECS=60
#   WORKER=build/workers/http/bh-http-worker (the worker program the zygote
#   confines and execs: another build of it, to compare)
#   PERF="CONFIG:MODE:SIZE ..." (perf record and perf stat of the whole server
#   CPU during those points of the last round: bench/out/isolation.perf.*.txt)
set -u
BENCH=isolation
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh" # ROOT, BH_BUILD, OUT, CLIENT_CPU, SERVER_CPU
bench_http_knobs # SIZES SECS WARMUP CONNS PIPELINE NF_ARGS CLOSE_NF_ARGS
MODES=${MODES:-keepalive close}
POOL_N=${POOL_N:-2}
CONFIGS=${CONFIGS:-shared connection/fresh connection/scrub client/fresh client/scrub pool:$POOL_N/fresh}
PARTS=${PARTS:-matrix floor rate idle max}
ROUNDS=${ROUNDS:-1}
ORDER=${ORDER:-size}
case $ORDER in size | config) ;; *) echo "$0: ORDER: expected size or config, not '$ORDER'" >&2; exit 2 ;; esac
HTTP_MAX_CONNS=${HTTP_MAX_CONNS:-4096}
UID_BASE=${UID_BASE:-2000500000} # not the e2e tests' range: PSS is summed by uid
UID_COUNT=${UID_COUNT:-4096}
SPARES=${SPARES:-16}
INLINE_MAX=${INLINE_MAX:-16384}
HOLD_CONFIG=${HOLD_CONFIG:-connection/fresh}
IDLE_CONNS=${IDLE_CONNS:-1000}
MANY_CONNS=${MANY_CONNS:-10000}
HOLD_SECS=${HOLD_SECS:-60}
WORKER=${WORKER:-$BH_BUILD/workers/http/bh-http-worker}
PERF=${PERF:-}
[ -z "$PERF" ] || command -v perf >/dev/null || die "PERF needs perf (Debian: linux-perf)"
bench_prepare "ip jq taskset wrk ps" mgr/bulkhead nfs/http/bh-http workers/http/bh-http-worker \
	bench/bh-chan-pingpong bench/bh-cksum-bench
bench_plot_tool

bench_topology
LOAD="$(uptime | sed 's/.*load average: //')"
bench_http_setup "$SIZES" # DOCROOT
head -c 64 /dev/urandom >"$DOCROOT/idle.bin"
chmod 644 "$DOCROOT/idle.bin"
# the sandbox refuses a program the workers' uids could read
{ install -d -m 0755 "$WORK/libexec" &&
	install -m 0711 "$WORKER" "$WORK/libexec/worker"; } ||
	die "cannot install the worker"
CNT=$WORK/counters.txt # "CONFIG MODE SIZE {NF counters}" after each run (SIZE all: one run for every size)
HOLD=$WORK/hold.txt    # "PART N {client, memory, counters}"
: >"$CNT"
: >"$HOLD"

# The client that holds connections (parts idle and max), and the PSS sums.
cat >"$WORK/hold.py" <<'PY'
import errno, json, os, resource, selectors, socket, sys, time

def hold(host, port, n, path, body_len, secs, stopfile):
    """n connections (at most 256 connecting at once), each sending one GET
    of path as soon as it is open; once every one is answered (200 and
    body_len bytes) or secs passed, one JSON line on stdout, and all are held
    open, idle, until stopfile exists."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    req = ("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path, host)).encode()
    sel = selectors.DefaultSelector()
    t0 = time.monotonic()
    c = dict(started=0, connecting=0, connected=0, connect_failed=0, answered=0, bad=0, closed=0)
    fd_limit, held, t_conn, t_ans = False, [], t0, t0
    def ended():
        return c["connect_failed"] + c["answered"] + c["bad"] + c["closed"]
    while (c["started"] < n and not fd_limit or ended() < c["started"]) and time.monotonic() - t0 < secs:
        while c["started"] < n and not fd_limit and c["connecting"] < 256:
            try:
                s = socket.socket()
            except OSError:
                fd_limit = True
                break
            s.setblocking(False)
            c["started"] += 1
            if s.connect_ex((host, port)) not in (0, errno.EINPROGRESS):
                c["connect_failed"] += 1
                s.close()
                continue
            c["connecting"] += 1
            sel.register(s, selectors.EVENT_WRITE)
        for key, _ in sel.select(timeout=0.1):
            s, now = key.fileobj, time.monotonic()
            if key.data is None:  # connected (or not): the request goes at once
                c["connecting"] -= 1
                try:
                    ok = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0 and s.send(req) == len(req)
                except OSError:
                    ok = False
                if not ok:
                    c["connect_failed"] += 1
                    sel.unregister(s)
                    s.close()
                    continue
                c["connected"] += 1
                t_conn = now
                held.append(s)
                sel.modify(s, selectors.EVENT_READ, bytearray())
                continue
            try:
                b = s.recv(65536)
            except OSError:
                b = b""
            key.data.extend(b)
            head, sep, body = bytes(key.data).partition(b"\r\n\r\n")
            if sep and len(body) >= body_len:
                ok = head.startswith(b"HTTP/1.1 200 ") and len(body) == body_len
                c["answered" if ok else "bad"] += 1
                t_ans = now
            elif b:
                continue
            else:
                c["closed"] += 1
            sel.unregister(s)
    out = {"wanted": n, "client_fd_limit": fd_limit, "connect_s": round(t_conn - t0, 2),
           "answer_s": round(t_ans - t0, 2)}
    out.update(c)
    out["unanswered"] = c["connected"] - c["answered"] - c["bad"] - c["closed"]
    print(json.dumps(out), flush=True)
    print("holding", file=sys.stderr, flush=True)
    while not os.path.exists(stopfile) and time.monotonic() - t0 < 3600:
        time.sleep(0.2)
    for s in held:
        s.close()

def pss(uid_base, uid_count, nf_pid):
    """PSS and RSS (KiB) of the processes with a uid in the range (the
    workers), of the NF's other children (the zygote) and of the NF; the
    NF's open descriptors and their limit."""
    def kb(pid, field):
        try:
            for line in open("/proc/%d/smaps_rollup" % pid):
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        except OSError:
            pass
        return None
    out = {"workers": 0, "workers_pss_kb": 0, "workers_rss_kb": 0, "zygote_pss_kb": 0,
           "nf_pss_kb": kb(nf_pid, "Pss") or 0, "nf_fds": len(os.listdir("/proc/%d/fd" % nf_pid))}
    for line in open("/proc/%d/limits" % nf_pid):
        if line.startswith("Max open files"):
            out["nf_nofile"] = int(line.split()[3])
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        pid = int(d)
        try:
            st = open("/proc/%d/status" % pid).read()
        except OSError:
            continue
        f = dict(l.split(":", 1) for l in st.splitlines() if ":" in l)
        uid, ppid = int(f["Uid"].split()[0]), int(f["PPid"])
        p, r = kb(pid, "Pss"), kb(pid, "Rss")
        if p is None:
            continue
        if uid_base <= uid < uid_base + uid_count:
            out["workers"] += 1
            out["workers_pss_kb"] += p
            out["workers_rss_kb"] += r
        elif ppid == nf_pid:
            out["zygote_pss_kb"] += p
    print(json.dumps(out))

if sys.argv[1] == "hold":
    a = sys.argv[2:]
    hold(a[0], int(a[1]), int(a[2]), a[3], int(a[4]), float(a[5]), a[6])
else:
    pss(*(int(x) for x in sys.argv[2:5]))
PY

# workers COUNT: the pids of the live workers (uids UID_BASE .. + COUNT).
workers() { ps -eo pid=,uid= | awk -v b="$UID_BASE" -v n="$1" '$2 >= b && $2 < b + n {print $1}'; }

# nf_start CONFIG MODE [ARGS...]: a fresh NF for CONFIG (shared, or UNIT/RECYCLE)
# and MODE, ARGS last (they win); the workers' uids: UID_BASE .. + NF_UIDS
# (default UID_COUNT).
nf_start() {
	local cfg=$1 mode=$2 unit recycle iso=() extra=$NF_ARGS
	shift 2
	[ "$mode" = close ] && extra="$extra $CLOSE_NF_ARGS"
	if [ "$cfg" != shared ]; then
		unit=${cfg%%/*}
		recycle=${cfg#*/}
		[ "$recycle" = "$cfg" ] && recycle=fresh
		iso=(--isolation "$unit" --recycle "$recycle" --worker "$WORK/libexec/worker"
			--uid-range "$UID_BASE:${NF_UIDS:-$UID_COUNT}" --spares "$SPARES" --inline-max "$INLINE_MAX")
	fi
	# shellcheck disable=SC2086
	bench_http_nf --http-max-conns "$HTTP_MAX_CONNS" $extra "${iso[@]}" "$@"
	pinned_check
}

# pinned_check: a warning if a thread of the NF or its zygote may run
# elsewhere than SERVER_CPU (the workers inherit the zygote's CPUs).
pinned_check() {
	local p t
	for p in "$HTTP_PID" $(cat /proc/"$HTTP_PID"/task/*/children 2>/dev/null); do
		for t in /proc/"$p"/task/*; do
			[ "$(awk '/^Cpus_allowed_list:/ {print $2}' "$t/status" 2>/dev/null)" = "$SERVER_CPU" ] ||
				echo "$BENCH: warning: $t is not pinned to CPU $SERVER_CPU" >&2
		done
	done
}

NF_COUNTERS='[.nfs[] | select(.name == "http")][0].app | with_entries(select(.key |
	test("^http\\.(work|conns_|requests|status_5xx|conn_errors|files_passed)"))) |
	with_entries(.key |= ltrimstr("http."))'
FAULTS='.worker_crashes + .worker_seccomp_kills + .worker_limit_kills + .worker_hangs +
	.worker_protocol_errors + .worker_spawn_failures'

# counters CONFIG MODE: the NF's counters once its last run is in them.
counters() {
	local c
	sleep 1.2
	bh_snap
	c=$(jq -c "$NF_COUNTERS" "$WORK/snap.json")
	echo "$1 $2 $3 $c" >>"$CNT"
	[ "$1" = shared ] || echo "  $1 $2 $3: workers started $(jq -r .workers_started <<<"$c")," \
		"faults $(jq -r "$FAULTS" <<<"$c"), connections that waited $(jq -r .conns_waited <<<"$c")"
}

# point CONFIG MODE SIZE; profiled (in the last round) if PERF names it. The
# server CPU's time while wrk measured (/proc/stat, in clock ticks) goes into
# the point's result: srv_busy (user, system, interrupts), srv_idle, srv_steal
# (taken by the hypervisor: the CPU ran something else); and host_ns, how
# fast the server CPU ran around it (bh-cksum-bench --probe just before and
# just after: the mean of its CPU time per 1,448-byte checksum, in ns).
probe() { taskset -c "$SERVER_CPU" "$BH_BUILD/bench/bh-cksum-bench" --probe 2>/dev/null; }
point() {
	PROF=
	[[ " $PERF " == *" $1:$2:$3 "* ]] && [ "${ROUND:-1}" = "$ROUNDS" ] && PROF=1
	local last cpu host h0 h1
	h0=$(probe)
	bench_wrk_point "$1 $2 $3" "$2" "http://$BENCH_HTTP_IP/f$3.bin" point_start point_stop
	h1=$(probe)
	host=$(awk -v a="$h0" -v b="$h1" 'BEGIN {if (a == "" || b == "") print "null"; else printf "%.1f", (a + b) / 2}')
	[ -z "$PROF" ] || perf_report "$1:$2:$3"
	last=$(tail -n 1 "$RES")
	cpu=$(paste "$WORK/cpu.0" "$WORK/cpu.1" | awk -v h="$host" '{printf "{\"srv_busy\": %d, \"srv_idle\": %d, \"srv_steal\": %d, \"host_ns\": %s}", $4 - $1, $5 - $2, $6 - $3, h}')
	sed -i '$d' "$RES"
	echo "$1 $2 $3 $(cut -d' ' -f4- <<<"$last" | jq -c ". + $cpu")" >>"$RES"
}

# nf_points CONFIG MODE LABEL SIZE...: a fresh NF for CONFIG in MODE, a point
# for each SIZE, then its counters (under LABEL) and its stop.
nf_points() {
	local cfg=$1 m=$2 label=$3 z
	shift 3
	nf_start "$cfg" "$m"
	for z in "$@"; do point "$cfg" "$m" "$z"; done
	counters "$cfg" "$m" "$label"
	bench_http_nf_stop
}

# cpu_ticks: the server CPU's busy, idle and steal ticks so far.
cpu_ticks() { awk -v c="cpu$SERVER_CPU" '$1 == c {print $2 + $3 + $4 + $7 + $8, $5 + $6, $9}' /proc/stat; }
point_start() {
	[ -z "$PROF" ] || perf_start
	cpu_ticks >"$WORK/cpu.0"
}
point_stop() {
	cpu_ticks >"$WORK/cpu.1"
	[ -z "$PROF" ] || perf_stop
}

# segs: the client's TCP segments in and out so far (its namespace's counters).
segs() { ip netns exec "$NS_A" nstat -az TcpInSegs TcpOutSegs | awk '/^Tcp/ {print $1, $2}'; }

# perf_start / perf_stop: the whole server CPU for SECS seconds (every
# process on it: the manager, the NF, the zygote, the workers, and the kernel
# work done there), each process's kernel and user share, a flat profile,
# and the switches and system calls per request, in
# $OUT/isolation.perf.CONFIG-MODE-SIZE.txt.
perf_start() {
	segs >"$WORK/segs.0"
	perf record -a -C "$SERVER_CPU" -g -o "$WORK/perf.data" -- sleep "$SECS" >/dev/null 2>&1 &
	PERF_REC=$!
	perf stat -a -C "$SERVER_CPU" -x, -e context-switches,raw_syscalls:sys_enter,cpu-clock \
		-o "$WORK/perf.stat" -- sleep "$SECS" >/dev/null 2>&1 &
	PERF_STAT=$!
}
perf_stop() {
	wait "$PERF_REC" "$PERF_STAT"
	segs >"$WORK/segs.1"
}
perf_report() { # perf_report CONFIG:MODE:SIZE, once its point is in $RES
	local f req
	f=$OUT/isolation.perf.$(tr ':/' '--' <<<"$1").txt
	req=$(tail -n 1 "$RES" | cut -d' ' -f4- | jq -r "($WRK_PER_S) * $SECS | floor" 2>/dev/null)
	{
		echo "$1: $req requests in $SECS s"
		awk -F, -v r="${req:-0}" '$3 != "" && r > 0 {
			if ($3 == "cpu-clock") printf "  %-26s %12.0f  %8.3f us per request\n", $3 " (ms)", $1, $1 * 1000 / r
			else printf "  %-26s %12.0f  %8.3f per request\n", $3, $1, $1 / r}' "$WORK/perf.stat"
		paste "$WORK/segs.0" "$WORK/segs.1" | awk -v r="${req:-0}" -v s="$SECS" \
			'r > 0 {printf "  client %-19s %12.0f  %8.3f per request (wrk ran %d s of it)\n", $1, $4 - $2, ($4 - $2) / r, s}'
		perf report -i "$WORK/perf.data" --no-children --sort comm -g none --stdio 2>/dev/null
		echo "each process's kernel and user time (share of all samples):"
		perf report -i "$WORK/perf.data" --no-children --sort comm,dso -g none --stdio 2>/dev/null |
			awk '$1 ~ /%$/ {k = ($3 == "[kernel.kallsyms]") ? "kernel" : "user"; s[$2 " " k] += $1}
			     END {for (x in s) printf "  %6.2f%%  %s\n", s[x], x}' | sort -k2,2 -k3,3
		perf report -i "$WORK/perf.data" --no-children --sort comm,dso,symbol -g none \
			--percent-limit 0.4 --stdio 2>/dev/null
		# perf cannot read the worker's symbols (it runs in a mount namespace
		# of its own): its samples' addresses, resolved in the build
		echo "the worker's own code (share of its samples there):"
		perf script -i "$WORK/perf.data" -G -F ip,dso 2>/dev/null | awk '$2 ~ "libexec/worker" {print $1}' |
			/usr/bin/python3 -c '
import collections, subprocess, sys
ips = [int(l, 16) for l in sys.stdin]
addrs = sorted(set(ips))
out = subprocess.run(["addr2line", "-f", "-e", sys.argv[1]] + [hex(a) for a in addrs],
                     capture_output=True, text=True).stdout.split("\n")
name = {a: out[2 * i] for i, a in enumerate(addrs)}
for fn, k in collections.Counter(name[a] for a in ips).most_common(30):
    print("  %5.1f%%  %s" % (100 * k / len(ips), fn))' "$WORKER"
	} | grep -v '^#' | grep -v '^$' >"$f"
	echo "  perf profile of CPU $SERVER_CPU in $f"
}
have() { [ -n "$(bench_http_metric "$1" "$2" "$3" "$WRK_PER_S")" ]; }      # have CONFIG MODE SIZE

# hold PART N: N keep-alive connections to HOLD_CONFIG held by hold.py (from
# $NS_A, on CLIENT_CPU); the live workers counted meanwhile; once every request
# was answered or HOLD_SECS passed, the memory and counters, while all are
# held. One line "PART N {...}" in $HOLD.
hold() {
	local part=$1 n=$2 NF_UIDS=$(($2 + SPARES + 64)) t0 w max_w=0 max_t=0 now mem c
	# timeouts beyond HOLD_SECS: a connection waiting for its worker (the
	# header timeout's 503) or idle is not ended before the part's own bound
	nf_start "$HOLD_CONFIG" keepalive --max-conns $((n + 4096)) --http-max-conns $((n + 16)) \
		--header-timeout-ms 3600000 --idle-timeout-ms 3600000
	rm -f "$WORK/stop" "$WORK/hold.json"
	t0=$(date +%s%N)
	ip netns exec "$NS_A" taskset -c "$CLIENT_CPU" "$BH_PY" "$WORK/hold.py" hold "$BENCH_HTTP_IP" 80 "$n" \
		/idle.bin 64 "$HOLD_SECS" "$WORK/stop" >"$WORK/hold.json" 2>"$WORK/hold.err" &
	HOLD_PID=$!
	BH_PIDS+=("$HOLD_PID")
	while kill -0 "$HOLD_PID" 2>/dev/null && ! [ -s "$WORK/hold.json" ]; do
		w=$(workers "$NF_UIDS" | wc -l)
		now=$((($(date +%s%N) - t0) / 1000000))
		[ "$w" -gt "$max_w" ] && max_w=$w max_t=$now
		[ "$now" -lt $((3 * HOLD_SECS * 1000)) ] || break
		sleep 0.5
	done
	[ -s "$WORK/hold.json" ] || { cat "$WORK/hold.err" >&2; echo '{}' >"$WORK/hold.json"; }
	mem=$("$BH_PY" "$WORK/hold.py" pss "$UID_BASE" "$NF_UIDS" "$HTTP_PID")
	bh_snap
	c=$(jq -c "$NF_COUNTERS" "$WORK/snap.json")
	touch "$WORK/stop"
	wait "$HOLD_PID" 2>/dev/null
	jq -c -n --argjson h "$(cat "$WORK/hold.json")" --argjson m "$mem" --argjson c "$c" \
		--argjson w "$max_w" --argjson t "$max_t" --arg note "$(grep -m1 -i 'warning' "$WORK/http.log")" \
		'$h + $m + {counters: $c, max_workers: ([$w, $m.workers] | max), max_workers_s: ($t / 1000), nf_note: $note}' |
		sed "s|^|$part $n |" >>"$HOLD"
	echo "  $part: $(cut -d' ' -f3- <"$HOLD" | tail -n 1 | jq -c 'del(.counters)')"
	bench_http_nf_stop
}

# --- 1. the matrix -------------------------------------------------------------------
bench_platform http
echo "$BENCH: manager + bh-http (+ zygote and workers) on CPU $SERVER_CPU, wrk on CPU $CLIENT_CPU"
if [[ " $PARTS " == *" matrix "* ]]; then
	for ROUND in $(seq 1 "$ROUNDS"); do
		[ "$ROUNDS" = 1 ] || echo "$BENCH: round $ROUND of $ROUNDS"
		# each round starts one configuration further on, so that none is
		# always measured first (or last) in a round
		read -r -a cfgs <<<"$CONFIGS"
		k=$(((ROUND - 1) % ${#cfgs[@]}))
		order="${cfgs[*]:k} ${cfgs[*]:0:k}"
		for m in $MODES; do
			if [ "$ORDER" = config ]; then
				# shellcheck disable=SC2086
				for cfg in $order; do nf_points "$cfg" "$m" all $SIZES; done
			else
				for z in $SIZES; do
					for cfg in $order; do nf_points "$cfg" "$m" "$z" "$z"; done
				done
			fi
		done
	done
fi

# --- 1b. the wake-ups' floor ------------------------------------------------------------
FLOOR=$WORK/floor.txt # bh-chan-pingpong's lines
: >"$FLOOR"
if [[ " $PARTS " == *" floor "* ]]; then
	for ROUND in $(seq 1 "$ROUNDS"); do
		"$BH_BUILD/bench/bh-chan-pingpong" --cpu "$SERVER_CPU" --workers "$CONNS" --size 64 \
			--secs "$SECS" >>"$FLOOR" || die "bh-chan-pingpong failed"
	done
	echo "  floor: $(tail -n 1 "$FLOOR")"
fi

# --- 2. new isolated connections per second ------------------------------------------
RATE_SIZE=64
if [[ " $PARTS " == *" rate "* ]]; then
	[ -f "$DOCROOT/f$RATE_SIZE.bin" ] || head -c "$RATE_SIZE" /dev/urandom >"$DOCROOT/f$RATE_SIZE.bin"
	chmod 644 "$DOCROOT/f$RATE_SIZE.bin"
	for cfg in shared connection/fresh connection/scrub; do
		have "$cfg" close "$RATE_SIZE" || nf_points "$cfg" close "$RATE_SIZE" "$RATE_SIZE"
	done
fi

# --- 3. and 4. held connections: memory per idle worker, concurrent connections --------
if [[ " $PARTS " == *" idle "* ]]; then
	echo "$BENCH: $IDLE_CONNS idle keep-alive connections ($HOLD_CONFIG)"
	hold idle "$IDLE_CONNS"
fi
if [[ " $PARTS " == *" max "* ]]; then
	echo "$BENCH: $MANY_CONNS concurrent connections ($HOLD_CONFIG)"
	hold max "$MANY_CONNS"
fi

# --- table, goals and plot -----------------------------------------------------------
metric() { bench_http_metric "$@"; } # metric CONFIG MODE SIZE JQ
# ratio CONFIG MODE SIZE JQ: CONFIG's JQ over shared's, round by round (the median)
ratio() { bench_paired_ratio "$(bench_http_rounds "$1" "$2" "$3" "$4")" "$(bench_http_rounds shared "$2" "$3" "$4")"; }
# The server CPU's time per request (us), busy only: what a request costs
# whatever the hypervisor took; and the share it took (steal, %).
HZ=$(getconf CLK_TCK)
CPU_US="if (.requests // 0) > 0 and .srv_busy != null then .srv_busy * 1e6 / $HZ / .requests else null end"
STEAL_PCT='.srv_steal * 100 / (.srv_busy + .srv_idle + .srv_steal) | . * 10 | round / 10'
# cpu_ratio CONFIG MODE SIZE: shared's CPU per request over CONFIG's (above 1: CONFIG costs less)
cpu_ratio() { bench_paired_ratio "$(bench_http_rounds shared "$2" "$3" "$CPU_US")" "$(bench_http_rounds "$1" "$2" "$3" "$CPU_US")"; }
# host_ratio CONFIG MODE SIZE: how fast the server CPU ran around CONFIG's
# point against around shared's (shared's probe time over CONFIG's, round by
# round): below 1, CONFIG was measured on a slower host than shared was.
HOST_NS='.host_ns'
host_ratio() { bench_paired_ratio "$(bench_http_rounds shared "$2" "$3" "$HOST_NS")" "$(bench_http_rounds "$1" "$2" "$3" "$HOST_NS")"; }
ISO_CONFIGS=$(for c in $CONFIGS; do [ "$c" = shared ] || echo "$c"; done)
hold_f() { awk -v p="$1" '$1 == p {$1 = $2 = ""; print}' "$HOLD" | tail -n 1 | jq -r "$2 // empty" 2>/dev/null; }
uniq_words() { printf '%s\n' "$@" | awk '!seen[$0]++'; }
mib() { awk -v k="$1" 'BEGIN {if (k == "") print "-"; else printf "%.1f", k / 1024}'; }

# goal_ratio LABEL MIN MODES SIZE_TEST: for each isolated configuration, the
# ratio of requests/s on the points of MODES whose size in bytes passes
# SIZE_TEST (an awk condition on s), and whether all that were measured reach MIN.
goal_ratio() {
	local cfg m z r line verdict
	echo "  $1"
	for cfg in $ISO_CONFIGS; do
		line=
		verdict="not measured"
		for m in $3; do
			[[ " $MODES " == *" $m "* ]] || continue
			for z in $SIZES; do
				awk -v s="$(numfmt --from=iec "${z^^}")" "BEGIN {exit !($4)}" || continue
				r=$(ratio "$cfg" "$m" "$z" "$WRK_PER_S")
				line+=" $m/$z $r (CPU $(cpu_ratio "$cfg" "$m" "$z"), host $(host_ratio "$cfg" "$m" "$z"))"
				[ "$r" = - ] && continue
				if awk -v r="$r" -v min="$2" 'BEGIN {exit !(r + 0 >= min)}'; then
					[ "$verdict" = "does not hold" ] || verdict=holds
				else
					verdict="does not hold"
				fi
			done
		done
		printf '    %-16s%s: %s\n' "$cfg" "$line" "$verdict"
	done
}

{
	echo "isolation: $([ "$ROUNDS" = 1 ] || echo "median of $ROUNDS rounds, ")$SECS s per point, $CONNS connections; client CPU $CLIENT_CPU, server CPU $SERVER_CPU" \
		"(manager, NF, zygote, workers); $(nproc) CPUs; spares $SPARES, inline-max $INLINE_MAX;" \
		"load average before: $LOAD"
	if [ -s "$RES" ]; then
		printf '%-9s %-5s %-16s | %9s %6s | %9s %6s | %9s %6s | %s | %10s %6s %6s | %7s %6s\n' mode size config "req/s" ratio \
			"MB/s" ratio "p99 ms" ratio errors "CPU us/req" ratio steal% "host ns" ratio
		# shellcheck disable=SC2086
		for m in $(uniq_words $MODES close); do
			# shellcheck disable=SC2086
			for z in $(uniq_words $SIZES $RATE_SIZE); do
				# shellcheck disable=SC2086
				for cfg in $(uniq_words $CONFIGS connection/fresh connection/scrub); do
					have "$cfg" "$m" "$z" || continue
					rr=- rb=- rp=- rc=- rh=-
					if [ "$cfg" != shared ]; then
						rr=$(ratio "$cfg" "$m" "$z" "$WRK_PER_S")
						rb=$(ratio "$cfg" "$m" "$z" "$WRK_MB_S")
						rp=$(ratio "$cfg" "$m" "$z" "$WRK_P99_MS")
						rc=$(cpu_ratio "$cfg" "$m" "$z")
						rh=$(host_ratio "$cfg" "$m" "$z")
					fi
					printf '%-9s %-5s %-16s | %9s %6s | %9s %6s | %9s %6s | %s | %10s %6s %6s | %7s %6s\n' "$m" "$z" "$cfg" \
						"$(metric "$cfg" "$m" "$z" "$WRK_PER_S")" "$rr" "$(metric "$cfg" "$m" "$z" "$WRK_MB_S")" "$rb" \
						"$(metric "$cfg" "$m" "$z" "$WRK_P99_MS")" "$rp" "$(metric "$cfg" "$m" "$z" "$WRK_ERRS")" \
						"$(metric "$cfg" "$m" "$z" "$CPU_US" | awk '{printf "%.2f", $1}')" "$rc" \
						"$(metric "$cfg" "$m" "$z" "$STEAL_PCT")" "$(metric "$cfg" "$m" "$z" "$HOST_NS")" "$rh"
				done
			done
		done
	fi
	if [ -s "$CNT" ]; then
		echo
		echo "workers (NF counters after each run): config mode size: started, faults (crash, seccomp, limit," \
			"hang, protocol, spawn), connections that waited for a worker, files passed by descriptor"
		while read -r cfg m z c; do
			[ "$cfg" = shared ] && continue
			printf '  %-16s %-9s %-4s %7s %3s %7s %7s\n' "$cfg" "$m" "$z" "$(jq -r .workers_started <<<"$c")" \
				"$(jq -r "$FAULTS" <<<"$c")" "$(jq -r .conns_waited <<<"$c")" "$(jq -r .files_passed <<<"$c")"
		done <"$CNT"
	fi
	echo
	rf=$(metric connection/fresh close "$RATE_SIZE" "$WRK_PER_S")
	rs=$(metric connection/scrub close "$RATE_SIZE" "$WRK_PER_S")
	r0=$(metric shared close "$RATE_SIZE" "$WRK_PER_S")
	echo "(a) new isolated connections/s ($CONNS at a time, Connection: close, $RATE_SIZE B):" \
		"connection/fresh ${rf:--}, connection/scrub ${rs:--} (shared ${r0:--})"
	if [ -s "$HOLD" ] && [ -n "$(hold_f idle .workers)" ]; then
		w=$(hold_f idle .workers)
		echo "(b) memory per idle worker ($(hold_f idle .wanted) keep-alive connections to $HOLD_CONFIG," \
			"$(hold_f idle .answered) answered, then held): $w workers alive, PSS" \
			"$(awk -v k="$(hold_f idle .workers_pss_kb)" -v n="$w" 'BEGIN {printf "%.0f", n ? k / n : 0}') KiB" \
			"each (RSS $(awk -v k="$(hold_f idle .workers_rss_kb)" -v n="$w" 'BEGIN {printf "%.0f", n ? k / n : 0}') KiB);" \
			"all workers $(mib "$(hold_f idle .workers_pss_kb)") MiB, zygote $(mib "$(hold_f idle .zygote_pss_kb)") MiB," \
			"NF $(mib "$(hold_f idle .nf_pss_kb)") MiB (hugepages not counted)"
	fi
	if [ -s "$HOLD" ] && [ -n "$(hold_f max .wanted)" ]; then
		echo "(c) concurrent isolated connections ($HOLD_CONFIG; $(hold_f max .wanted) wanted, each sending" \
			"one request once open; $HOLD_SECS s at most):"
		echo "    $(hold_f max .connected) connected (the last after $(hold_f max .connect_s) s; the NF had" \
			"$(hold_f max .counters.conns_open) open, $(hold_f max .counters.conns_waited) waited for a worker)"
		echo "    $(hold_f max .answered) got a worker (their request answered, the last after" \
			"$(hold_f max .answer_s) s), $(hold_f max .unanswered) did not; live workers: at most" \
			"$(hold_f max .max_workers) (reached after $(hold_f max .max_workers_s) s)," \
			"$(hold_f max .workers) at the end; spawn failures $(hold_f max .counters.worker_spawn_failures)"
		echo "    PSS: workers $(mib "$(hold_f max .workers_pss_kb)") MiB, zygote" \
			"$(mib "$(hold_f max .zygote_pss_kb)") MiB, NF $(mib "$(hold_f max .nf_pss_kb)") MiB (hugepages" \
			"not counted); the NF's descriptors: $(hold_f max .nf_fds) open, limit $(hold_f max .nf_nofile)"
		[ -z "$(hold_f max .nf_note)" ] || echo "    NF: $(hold_f max .nf_note)"
	fi
	echo
	echo "goals:"
	echo "  (CPU: the server CPU's busy time per request, shared over isolated: the same ratio were the"
	echo "   CPU all ours; the hypervisor's steal, in the table, moves requests/s but not this."
	echo "   host: how fast that CPU ran around the point against around shared's, by a checksum"
	echo "   loop; away from 1, the two were measured on hosts of different speed)"
	goal_ratio "keep-alive, files up to 1 KiB: isolated / shared >= 0.95 (requests/s)" 0.95 keepalive 's <= 1024'
	if [ -s "$FLOOR" ]; then
		# the median of the rounds' microseconds per message
		fus=$(sed -n 's/.* us_per_msg=\([0-9.]*\).*/{"us": \1}/p' "$FLOOR" | bench_median .us)
		r0=$(metric shared keepalive 64 "$WRK_PER_S")
		echo "    a worker per connection, all on one CPU: wake-ups alone cost $fus us per request" \
			"(bh-chan-pingpong, $CONNS workers, median of $(wc -l <"$FLOOR"));" \
			"$(awk -v f="$fus" -v r="$r0" 'BEGIN {
				if (r == "" || r == "-" || r + 0 == 0) print "the shared rate at 64 B was not measured"
				else { u = 1e6 / r; printf "the shared design spends %.2f us of the CPU per request at 64 B, so at best %.2f", u, u / (u + f) }}')"
	fi
	goal_ratio "files of 1 MiB and larger: isolated / shared >= 1.2 (requests/s)" 1.2 "$MODES" 's >= 1048576'
	echo "  new isolated connections >= 8,000/s: connection/fresh ${rf:--}, connection/scrub ${rs:--}:" \
		"$(awk -v a="$rf" -v b="$rs" 'BEGIN {
			v = (a b == "") ? "not measured" : (a >= 8000 || b >= 8000) ? "holds" : "does not hold"; print v}')"
	if [ -s "$HOLD" ] && [ -n "$(hold_f max .wanted)" ]; then
		tot=$(hold_f max '.workers_pss_kb + .zygote_pss_kb + .nf_pss_kb')
		ans=$(hold_f max .answered)
		echo "  10,000 concurrent isolated connections within 4 GiB: $ans of $(hold_f max .wanted) got a" \
			"worker, $(mib "$tot") MiB (PSS of workers, zygote and NF): $(awk -v a="$ans" -v t="$tot" \
				'BEGIN {print (a >= 10000 && t <= 4 * 1048576) ? "holds" : "does not hold"}')"
	fi
	echo "load average after: $(uptime | sed 's/.*load average: //')"
} | tee "$OUT/isolation.txt"
{
	cat "$RES"
	sed 's/^/counters /' "$CNT"
	sed 's/^/hold /' "$HOLD"
} >"$OUT/isolation.raw.txt"

# requests/s of each isolated configuration / shared, per mode and size
for m in $MODES; do
	for cfg in $ISO_CONFIGS; do
		for z in $SIZES; do echo "$m $cfg $z $(ratio "$cfg" "$m" "$z" "$WRK_PER_S")"; done
	done
done >"$OUT/isolation.dat"
bench_bars "$OUT/isolation.dat" "$OUT/isolation.png" "requests/s, isolated / shared" \
	"bh-http: isolated designs vs shared (same client, same server CPU)" "1 0.95 1.2"
