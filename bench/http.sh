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
# Environment: SECS=5 WARMUP=1 CONNS=32 PIPELINE=16 CLIENT_CPU=0 SERVER_CPU=1
#   SIZES="64 1k 64k 1m 10m" MODES="keepalive close pipeline" SERVERS="nginx bulkhead"
#   NF_ARGS="" CLOSE_NF_ARGS="--max-conns 262144" (stack options of the NF)
#   PERF=MODE:SIZE (perf record of the NF and the manager during that point,
#   flat profile in bench/out/http.perf.txt)
set -u
BENCH=http
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh" # ROOT, BH_BUILD, OUT, CLIENT_CPU, SERVER_CPU
SIZES=${SIZES:-64 1k 64k 1m 10m}
MODES=${MODES:-keepalive close pipeline}
SERVERS=${SERVERS:-nginx bulkhead}
SECS=${SECS:-5}
WARMUP=${WARMUP:-1}
CONNS=${CONNS:-32}
PIPELINE=${PIPELINE:-16}
NF_ARGS=${NF_ARGS:-}
CLOSE_NF_ARGS=${CLOSE_NF_ARGS:---max-conns 262144}
PERF=${PERF:-}
bench_prepare "ip jq taskset wrk nginx" mgr/bulkhead nfs/http/bh-http
bench_plot_tool

bench_topology
LOAD="$(uptime | sed 's/.*load average: //')"

# the document root, readable by nginx's worker (www-data)
DOCROOT=$WORK/root
mkdir -p "$DOCROOT"
chmod 755 "$WORK" "$DOCROOT"
for s in $SIZES; do
	head -c "$(numfmt --from=iec "${s^^}")" /dev/urandom >"$DOCROOT/f$s.bin"
done
chmod 644 "$DOCROOT"/*

ip netns exec "$NS_A" sysctl -qw net.ipv4.ip_local_port_range="10000 60999" net.ipv4.tcp_tw_reuse=1

# point SERVER IP MODE SIZE: wrk for WARMUP then SECS seconds; one result line.
point() {
	local server=$1 ip=$2 mode=$3 size=$4 depth=1 hdr=() out
	case $mode in
	close) hdr=(-H 'Connection: close') ;;
	pipeline) depth=$PIPELINE ;;
	esac
	wrk_run() { # wrk_run SECONDS
		ip netns exec "$NS_A" taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"$1"s --timeout 5s \
			"${hdr[@]}" -s "$ROOT/bench/http_wrk.lua" "http://$ip/f$size.bin" -- "$depth" 2>>"$WORK/wrk.err"
	}
	[ "$WARMUP" = 0 ] || wrk_run "$WARMUP" >/dev/null
	[ "$PERF" = "$mode:$size" ] && [ "$server" = bulkhead ] && perf_start
	out=$(wrk_run "$SECS" | grep '^{' | tail -n 1)
	[ "$PERF" = "$mode:$size" ] && [ "$server" = bulkhead ] && perf_stop
	[ -n "$out" ] || out='{}'
	echo "$server $mode $size $out" >>"$RES"
	echo "  $server $mode $size: $(jq -c '{per_s: (.requests / .us * 1e6 | floor),
		mb_s: (.bytes / .us | . * 100 | floor / 100), p99_ms: (.p99_us / 1000),
		errors: (.connect_err + .read_err + .write_err + .status_err + .timeouts)}' <<<"$out" 2>/dev/null)"
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
if [[ " $SERVERS " == *" nginx "* ]]; then
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
	echo "$BENCH: nginx $(nginx -v 2>&1 | sed 's/.*\///') (1 worker on CPU $SERVER_CPU, 198.18.0.4)"
	run_points nginx 198.18.0.4
	kill -QUIT "$NGINX_PID" 2>/dev/null
	wait "$NGINX_PID" 2>/dev/null
	ip -n "$NS_M" addr flush dev "$SIF"
fi

# --- Bulkhead -------------------------------------------------------------------------
if [[ " $SERVERS " == *" bulkhead "* ]]; then
	bench_platform http
	nf_start() { # nf_start MODE
		local extra=$NF_ARGS
		[ "$1" = close ] && extra="$extra $CLOSE_NF_ARGS"
		# shellcheck disable=SC2086
		bh_start_nf http http -s http -- --ip 198.18.0.3/24 --port p0 --root "$DOCROOT" \
			--http-max-conns 100000 $extra >/dev/null || die "bh-http did not attach"
		HTTP_PID=$NF_PID
		ip netns exec "$NS_A" ping -c 1 -W 1 198.18.0.3 >/dev/null 2>&1
	}
	nf_stop() {
		kill -TERM "$HTTP_PID" 2>/dev/null
		wait "$HTTP_PID" 2>/dev/null
		sleep 0.3
	}
	echo "$BENCH: Bulkhead (manager + bh-http on CPU $SERVER_CPU, 198.18.0.3)"
	run_points bulkhead 198.18.0.3 nf_start nf_stop
fi

# --- table and plot --------------------------------------------------------------------
metric() { # metric SERVER MODE SIZE JQ
	awk -v s="$1" -v m="$2" -v z="$3" '$1 == s && $2 == m && $3 == z {$1 = $2 = $3 = ""; print}' "$RES" |
		jq -r "$4 // empty" 2>/dev/null
}
PER_S='.requests / .us * 1e6 | floor'
MB_S='.bytes / .us | . * 100 | floor / 100'
P99='.p99_us / 1000'
p99() { [ "$2" = pipeline ] && echo - || metric "$1" "$2" "$3" "$P99"; } # wrk's is meaningless when pipelining
ERRS='.connect_err + .read_err + .write_err + .status_err + .timeouts'
{
	echo "http: $SECS s per point, $CONNS connections, pipeline $PIPELINE; client CPU $CLIENT_CPU," \
		"server CPU $SERVER_CPU; $(nproc) CPUs; load average before: $LOAD"
	printf '%-9s %-5s | %10s %10s %6s | %9s %9s %6s | %9s %9s | %s\n' mode size "nginx r/s" "bh r/s" ratio \
		"nginx MB/s" "bh MB/s" ratio "ngx p99ms" "bh p99ms" "errors ngx/bh"
	for m in $MODES; do
		for s in $SIZES; do
			nr=$(metric nginx "$m" "$s" "$PER_S")
			br=$(metric bulkhead "$m" "$s" "$PER_S")
			nm=$(metric nginx "$m" "$s" "$MB_S")
			bm=$(metric bulkhead "$m" "$s" "$MB_S")
			printf '%-9s %-5s | %10s %10s %6s | %9s %9s %6s | %9s %9s | %s/%s\n' "$m" "$s" "${nr:--}" \
				"${br:--}" "$(bench_ratio "$br" "$nr")" "${nm:--}" "${bm:--}" "$(bench_ratio "$bm" "$nm")" \
				"$(p99 nginx "$m" "$s")" "$(p99 bulkhead "$m" "$s")" \
				"$(metric nginx "$m" "$s" "$ERRS")" "$(metric bulkhead "$m" "$s" "$ERRS")"
		done
	done
	echo "load average after: $(uptime | sed 's/.*load average: //')"
} | tee "$OUT/http.txt"
cp "$RES" "$OUT/http.raw.txt"

# requests/s ratio per mode and size, for the plot
for m in $MODES; do
	for s in $SIZES; do
		echo "$m $s $(bench_ratio "$(metric bulkhead "$m" "$s" "$PER_S")" "$(metric nginx "$m" "$s" "$PER_S")")"
	done
done >"$OUT/http.dat"
case $PLOT in
matplotlib)
	/usr/bin/python3 - "$OUT/http.dat" "$OUT/http.png" <<'P'
import sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
rows = [l.split() for l in open(sys.argv[1]) if len(l.split()) == 3 and l.split()[2] != "-"]
modes = list(dict.fromkeys(r[0] for r in rows))
sizes = list(dict.fromkeys(r[1] for r in rows))
w = 0.8 / max(1, len(modes))
fig, ax = plt.subplots(figsize=(8, 4))
for i, m in enumerate(modes):
    xs = [sizes.index(r[1]) + (i - (len(modes) - 1) / 2) * w for r in rows if r[0] == m]
    ys = [float(r[2]) for r in rows if r[0] == m]
    ax.bar(xs, ys, w, label=m)
    for x, y in zip(xs, ys):
        ax.text(x, y, f"{y:.2f}", ha="center", va="bottom", fontsize=7)
ax.axhline(1.0, color="gray", linestyle="--", linewidth=1)
ax.set_xticks(range(len(sizes)), [s + " B" if s.isdigit() else s.upper()[:-1] + " " + s[-1].upper() + "iB" for s in sizes])
ax.set_ylabel("requests/s, bulkhead / nginx")
ax.set_title("bh-http vs nginx (same client, same server CPU)")
ax.legend()
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=120)
P
	;;
gnuplot)
	gnuplot <<G
set terminal pngcairo size 900,420
set output "$OUT/http.png"
set style data histograms
set style histogram cluster gap 1
set style fill solid
set yrange [0:*]
set ylabel "requests/s, bulkhead / nginx"
set title "bh-http vs nginx (same client, same server CPU)"
$(for m in $MODES; do awk -v m="$m" '$1 == m && $3 != "-" {print $2, $3}' "$OUT/http.dat" >"$OUT/http.$m.dat"; done)
plot $(for m in $MODES; do printf '"%s" using 2:xtic(1) title "%s", ' "$OUT/http.$m.dat" "$m"; done) 1 with lines dt 2 notitle
G
	;;
esac
[ -f "$OUT/http.png" ] && echo "$BENCH: plot in $OUT/http.png"
