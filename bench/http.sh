#!/usr/bin/env bash
# bench/http.sh: the static-file server NF (bh-http on Bulkhead's TCP stack)
# against nginx (Debian's nginx-light) serving the same files to the same
# client, one after the other in one run.
#
#   client ns (198.18.0.1, wrk on CLIENT_CPU) --veth-- server ns
#
#   nginx:    one worker, sendfile on, access log off, listening on the
#             veth's address 198.18.0.4 in the server namespace; master and
#             worker pinned to SERVER_CPU;
#   bulkhead: the manager (af_packet on the same veth) and the http NF
#             (198.18.0.3), both pinned to SERVER_CPU, no access log.
#
# Files of 64 B, 1 KiB, 64 KiB, 1 MiB and 10 MiB; for each, three modes of
# wrk (CONNS connections, one thread): keep-alive, "Connection: close" (a
# new connection per request), and keep-alive with PIPELINE requests per
# write (bench/http_wrk.lua). Prints requests/s, MB/s (wrk's bytes, heads
# included) and p99 latency (not when pipelining: see bench/http_wrk.lua) for
# both, with the ratio bulkhead / nginx, and writes
# bench/out/http.{txt,raw.txt,dat,png}.
#
# Fairness: veth delivers a frame on the CPU that sends it, so the kernel's
# receive processing for what the client sends runs in softirq on the
# CLIENT's CPU, for nginx (its TCP) and for Bulkhead (the af_packet socket
# the manager reads); what a server sends is received by the client's
# kernel on SERVER_CPU, in nginx's sendfile or in the manager's sendto. With
# "Connection: close" the server closes first and holds TIME-WAIT (60 s):
# the NF's stack keeps those in its connection table, so the NF is
# restarted for each mode, with NF_ARGS, and for "close" with CLOSE_NF_ARGS
# too (a table big enough for the run's TIME-WAITs).
#
# Each point moves by 10-30 % from run to run on a 2-CPU VM: ROUNDS rounds,
# nginx then Bulkhead in each, and the table gives every figure's median.
#
# Environment: ROUNDS=3 SECS=5 WARMUP=1 CONNS=32 PIPELINE=16 CLIENT_CPU=0 SERVER_CPU=1
#   SIZES="64 1k 64k 1m 10m" MODES="keepalive close pipeline" SERVERS="nginx bulkhead"
#   NF_ARGS="" CLOSE_NF_ARGS="--max-conns 262144" (stack options of the NF)
#   PERF=MODE:SIZE (perf record of the NF and the manager during that point,
#   flat profile in bench/out/http.perf.txt)
set -u
BENCH=http
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh" # ROOT, BH_BUILD, OUT, CLIENT_CPU, SERVER_CPU
bench_http_knobs # SIZES SECS WARMUP CONNS PIPELINE NF_ARGS CLOSE_NF_ARGS
MODES=${MODES:-keepalive close pipeline}
SERVERS=${SERVERS:-nginx bulkhead}
ROUNDS=${ROUNDS:-3}
PERF=${PERF:-}
bench_prepare "ip jq taskset wrk nginx" mgr/bulkhead nfs/http/bh-http
bench_plot_tool

bench_topology
LOAD="$(uptime | sed 's/.*load average: //')"

bench_http_setup "$SIZES" # DOCROOT

# point SERVER IP MODE SIZE: wrk for WARMUP then SECS seconds; one result line.
point() {
	local prof=()
	[ "$PERF" = "$3:$4" ] && [ "$1" = bulkhead ] && [ "$ROUND" = "$ROUNDS" ] && prof=(perf_start perf_stop)
	bench_wrk_point "$1 $3 $4" "$3" "http://$2/f$4.bin" "${prof[@]}"
}

perf_start() {
	perf record -g -o "$WORK/perf.data" -p "$MGR_PID,$HTTP_PID" -- sleep "$SECS" >/dev/null 2>&1 &
	PERF_PID=$!
}
perf_stop() {
	wait "$PERF_PID"
	{
		perf report -i "$WORK/perf.data" --no-children --sort comm,dso -g none --stdio 2>/dev/null
		perf report -i "$WORK/perf.data" --no-children --sort comm,dso,symbol -g none \
			--percent-limit 0.4 --stdio 2>/dev/null
	} | grep -v '^#' | grep -v '^$' >"$OUT/http.perf.txt"
	echo "  perf profile ($PERF) in $OUT/http.perf.txt"
}

run_points() { # run_points SERVER IP [START STOP]: every point; START MODE / STOP around each mode
	local m z
	for m in $MODES; do
		[ -z "${3:-}" ] || $3 "$m"
		for z in $SIZES; do point "$1" "$2" "$m" "$z"; done
		[ -z "${4:-}" ] || $4
	done
}

# --- nginx ---------------------------------------------------------------------------
nginx_round() {
	ip -n "$NS_M" addr add 198.18.0.4/24 dev "$SIF"
	ip netns exec "$NS_M" sysctl -qw net.core.somaxconn=4096
	mkdir -p "$WORK/nginx"
	cat >"$WORK/nginx/nginx.conf" <<N
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
	include /etc/nginx/mime.types;
	default_type application/octet-stream;
	sendfile on;
	access_log off;
	keepalive_requests 1000000;
	client_body_temp_path $WORK/nginx/body;
	proxy_temp_path $WORK/nginx/proxy;
	fastcgi_temp_path $WORK/nginx/fastcgi;
	uwsgi_temp_path $WORK/nginx/uwsgi;
	scgi_temp_path $WORK/nginx/scgi;
	server {
		listen 198.18.0.4:80 backlog=4096;
		root $DOCROOT;
	}
}
N
	ip netns exec "$NS_M" taskset -c "$SERVER_CPU" nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" \
		-g 'daemon off;' >"$WORK/nginx/out.log" 2>&1 &
	NGINX_PID=$!
	BH_PIDS+=("$NGINX_PID")
	bh_wait_for 5 ip netns exec "$NS_A" curl -sf -o /dev/null "http://198.18.0.4/f${SIZES%% *}.bin" ||
		{ cat "$WORK/nginx/out.log" "$WORK/nginx/error.log"; die "nginx did not start"; }
	echo "$BENCH: round $ROUND: nginx $(nginx -v 2>&1 | sed 's/.*\///') (1 worker on CPU $SERVER_CPU, 198.18.0.4)"
	run_points nginx 198.18.0.4
	kill -QUIT "$NGINX_PID" 2>/dev/null
	wait "$NGINX_PID" 2>/dev/null
	ip -n "$NS_M" addr flush dev "$SIF"
}

# --- Bulkhead -------------------------------------------------------------------------
nf_start() { # nf_start MODE
	local extra=$NF_ARGS
	[ "$1" = close ] && extra="$extra $CLOSE_NF_ARGS"
	# shellcheck disable=SC2086
	bench_http_nf --http-max-conns 100000 $extra
}
bulkhead_round() {
	bench_platform http
	echo "$BENCH: round $ROUND: Bulkhead (manager + bh-http on CPU $SERVER_CPU, $BENCH_HTTP_IP)"
	run_points bulkhead "$BENCH_HTTP_IP" nf_start bench_http_nf_stop
	kill -TERM "$MGR_PID" 2>/dev/null
	wait "$MGR_PID" 2>/dev/null
}

for ROUND in $(seq 1 "$ROUNDS"); do
	[[ " $SERVERS " != *" nginx "* ]] || nginx_round
	[[ " $SERVERS " != *" bulkhead "* ]] || bulkhead_round
done

# --- table and plot --------------------------------------------------------------------
metric() { bench_http_metric "$@"; } # metric SERVER MODE SIZE JQ
p99() { [ "$2" = pipeline ] && echo - || metric "$1" "$2" "$3" "$WRK_P99_MS"; } # wrk's is meaningless when pipelining
{
	echo "http: median of $ROUNDS rounds, $SECS s per point, $CONNS connections, pipeline $PIPELINE; client CPU $CLIENT_CPU," \
		"server CPU $SERVER_CPU; $(nproc) CPUs; load average before: $LOAD"
	printf '%-9s %-5s | %10s %10s %6s | %9s %9s %6s | %9s %9s | %s\n' mode size "nginx r/s" "bh r/s" ratio \
		"nginx MB/s" "bh MB/s" ratio "ngx p99ms" "bh p99ms" "errors ngx/bh"
	for m in $MODES; do
		for s in $SIZES; do
			nr=$(metric nginx "$m" "$s" "$WRK_PER_S")
			br=$(metric bulkhead "$m" "$s" "$WRK_PER_S")
			nm=$(metric nginx "$m" "$s" "$WRK_MB_S")
			bm=$(metric bulkhead "$m" "$s" "$WRK_MB_S")
			printf '%-9s %-5s | %10s %10s %6s | %9s %9s %6s | %9s %9s | %s/%s\n' "$m" "$s" "${nr:--}" \
				"${br:--}" "$(bench_ratio "$br" "$nr")" "${nm:--}" "${bm:--}" "$(bench_ratio "$bm" "$nm")" \
				"$(p99 nginx "$m" "$s")" "$(p99 bulkhead "$m" "$s")" \
				"$(metric nginx "$m" "$s" "$WRK_ERRS")" "$(metric bulkhead "$m" "$s" "$WRK_ERRS")"
		done
	done
	if [ "$ROUNDS" -gt 1 ]; then
		echo "requests/s in each round (nginx | bulkhead):"
		for m in $MODES; do
			for s in $SIZES; do
				printf '  %-9s %-5s %s| %s\n' "$m" "$s" "$(bench_http_rounds nginx "$m" "$s" "$WRK_PER_S")" \
					"$(bench_http_rounds bulkhead "$m" "$s" "$WRK_PER_S")"
			done
		done
	fi
	echo "load average after: $(uptime | sed 's/.*load average: //')"
} | tee "$OUT/http.txt"
cp "$RES" "$OUT/http.raw.txt"

# requests/s ratio per mode and size, for the plot
for m in $MODES; do
	for s in $SIZES; do
		echo "$m $s $(bench_ratio "$(metric bulkhead "$m" "$s" "$WRK_PER_S")" "$(metric nginx "$m" "$s" "$WRK_PER_S")")"
	done
done >"$OUT/http.dat"
bench_bars "$OUT/http.dat" "$OUT/http.png" "requests/s, bulkhead / nginx" \
	"bh-http vs nginx (same client, same server CPU)"
