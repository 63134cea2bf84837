#!/usr/bin/env bash
# The static-file server (bh-http) on the platform's TCP stack, driven by curl
# and a raw client from client A: GET and HEAD, keep-alive, pipelining,
# Content-Length, byte ranges, conditionals (ETag, Last-Modified), directory
# index and redirect, Date and Server, media types, symlinks in and out of
# the root, the access log line by line, 100 MiB byte-identical, a file that
# shrinks while it is sent (the connection reset, counted), then 100 MiB again
# with 1% loss each way through impair (p0 -> impair -> http, and http ->
# impair -> p0 with the stack's --chain), and the NF's counters against what
# was sent. HTTP_LOSS_BYTES_MIB (100) sizes the lossy download.
source "$(dirname "$0")/http_lib.sh"
bh_topology || exit 1
START=$(date +%s)
DOCROOT=$WORK/root
http_docroot "$DOCROOT" 100
printf 0123456789 >"$DOCROOT/ten.txt"
printf 'version 1\n' >"$DOCROOT/cond.txt"
touch -d '2021-03-04 05:06:07 UTC' "$DOCROOT/cond.txt"

http_iso_args || exit 1
tcp_config "$WORK/cfg.json" '["impair","http"]' '["impair"]'
bh_start_mgr "$WORK/cfg.json" || exit 1
bh_start_nf imp0 impair -s impair || exit 1 # passes everything until the loss case
IMP_PID=$NF_PID
bh_start_nf http http -s http -- --ip $TCP_IP/24 --port p0 --chain out --root "$DOCROOT" \
	--log "$WORK/access.log" --max-requests 50 "${HTTP_ISO_ARGS[@]}" || exit 1
HTTP_PID=$NF_PID

# fetch NAME [curl args...]: one request; head in $WORK/NAME.h, body in
# $WORK/NAME.b; prints the status.
fetch() {
	local n=$1
	shift
	hcurl -D "$WORK/$n.h" -o "$WORK/$n.b" -w '%{http_code}' "$@"
}
hdr() { # hdr NAME FIELD: the field's value in $WORK/NAME.h
	awk -v f="${2,,}" '{sub(/\r$/, "")} tolower(substr($0, 1, index($0, ":") - 1)) == f {
		print substr($0, index($0, ":") + 2); exit}' "$WORK/$1.h"
}
has_hdr() { grep -qi "^$2:" "$WORK/$1.h"; }
body() { cat "$WORK/$1.b"; }

# --- GET, HEAD ------------------------------------------------------------------
check "GET / is 200" [ "$(fetch root "$URL/")" = 200 ]
check "  ... with index.html" cmp -s "$WORK/root.b" "$DOCROOT/index.html"
check "  ... Content-Length is the file's size" [ "$(hdr root Content-Length)" = "$(stat -c %s "$DOCROOT/index.html")" ]
fetch nget "$URL/notes.txt" >/dev/null
fetch nhead -I "$URL/notes.txt" >/dev/null
check "HEAD has the same header fields as GET (Date aside)" \
	diff <(grep -vi '^date:' "$WORK/nget.h") <(grep -vi '^date:' "$WORK/nhead.h")
hc send $TCP_IP 80 'HEAD /notes.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n' >"$WORK/head.json"
check_json "HEAD: 200, Content-Length of the file, no body, then closed (Connection: close)" \
	"$WORK/head.json" '.status == 200 and .headers["content-length"] == "11" and .more == 0 and .closed == "fin"' 
for f in f.css loop.bin sub/page.html; do
	check "Content-Length of /$f is its size" \
		[ "$(hcurl -o /dev/null -w '%{size_download} %header{content-length}' "$URL/$f")" = "$(stat -c '%s %s' "$DOCROOT/$f")" ]
done

# --- keep-alive, pipelining -------------------------------------------------------
http_counters_settled
acc0=$(http_app conns_accepted)
out=$(hcurl -o /dev/null -o /dev/null -o /dev/null -o /dev/null -w '%{num_connects}%{http_code} ' \
	"$URL/notes.txt" "$URL/f.css" "$URL/sub/" "$URL/loop.bin")
check "keep-alive: four requests on one connection (curl's num_connects)" [ "$out" = "1200 0200 0200 0200 " ]
http_counters_settled
check_cmp "  ... the NF accepted one connection for them" $(($(http_app conns_accepted) - acc0)) -eq 1
http_counters_settled
seg0=$(tcp_app http tcp_seg_out)
held0=$(tcp_app http tcp_nagle_held)
fch0=$(http_app file_cache_hits)
urls=()
for _ in $(seq 1 50); do urls+=(-o /dev/null "$URL/ten.txt"); done
t0=$(date +%s.%N)
hcurl "${urls[@]}"
ms=$(echo "($(date +%s.%N) - $t0) * 1000 / 1" | bc)
http_counters_settled
check_cmp "keep-alive: 50 small responses in one connection take well under 1 s (no Nagle wait)" "$ms" -lt 1000
check_cmp "  ... none held back by Nagle" $(($(tcp_app http tcp_nagle_held) - held0)) -eq 0
check_cmp "  ... each response one segment (50, + handshake and close)" $(($(tcp_app http tcp_seg_out) - seg0)) -le 56
if [ "$HTTP_ISOLATION" = none ]; then # each worker keeps a cache of its own
	check_cmp "  ... 49 or more answered from the open-file cache (http.file_cache_hits)" \
		$(($(http_app file_cache_hits) - fch0)) -ge 49
fi
# pipe LABEL PATH...: the paths requested in one write; the responses in order
pipe() {
	local label=$1
	shift
	hc pipeline $TCP_IP 80 "$DOCROOT" "$@" >"$WORK/pipe.json"
	check_json "pipelining: $label" "$WORK/pipe.json" .ok '{requests, responses, errors: .errors[:3]}'
}
pipe "5 requests in one write, 5 responses in order" /notes.txt /f.css HEAD:/f.js /sub/ /ten.txt
paths=()
for _ in $(seq 1 8); do paths+=(/notes.txt /f.json HEAD:/f.svg /sub/page.html /ten.txt); done
pipe "40 requests for small files in one write, all answered in order" "${paths[@]}"
paths=()
for _ in $(seq 1 8); do paths+=(/notes.txt HEAD:/loop.bin /loop.bin /sub/); done
pipe "32 requests in one write, 256 KiB bodies among them, all answered in order" "${paths[@]}"
paths=()
for _ in $(seq 1 60); do paths+=(/ten.txt); done
hc pipeline $TCP_IP 80 "$DOCROOT" "${paths[@]}" >"$WORK/pipe.json"
check_json "--max-requests 50: 60 pipelined, 50 answered, the last with Connection: close, then closed" \
	"$WORK/pipe.json" '.responses == 50 and .last_connection == "close" and .closed == "fin"'

# --- byte ranges --------------------------------------------------------------------
rng() { fetch rng -H "Range: $1" "$URL/ten.txt"; }
check "Range bytes=2-4: 206" [ "$(rng bytes=2-4)" = 206 ]
check "  ... Content-Range bytes 2-4/10, 3 bytes '234'" \
	[ "$(hdr rng Content-Range) $(hdr rng Content-Length) $(body rng)" = "bytes 2-4/10 3 234" ]
check "Range bytes=5- (open): 206 '56789'" [ "$(rng bytes=5-) $(body rng)" = "206 56789" ]
check "Range bytes=-3 (suffix): 206 '789', Content-Range bytes 7-9/10" \
	[ "$(rng bytes=-3) $(body rng) $(hdr rng Content-Range)" = "206 789 bytes 7-9/10" ]
check "Range bytes=-30 (suffix beyond the size): 206, the whole file" [ "$(rng bytes=-30) $(body rng)" = "206 0123456789" ]
check "Range bytes=3-100: 206, clipped to bytes 3-9/10" \
	[ "$(rng bytes=3-100) $(hdr rng Content-Range)" = "206 bytes 3-9/10" ]
check "Range bytes=10- (beyond the end): 416, Content-Range bytes */10" \
	[ "$(rng bytes=10-) $(hdr rng Content-Range)" = "416 bytes */10" ]
check "Range bytes=-0: 416" [ "$(rng bytes=-0)" = 416 ]
check "several ranges (bytes=0-1,4-5): 200, the whole file" [ "$(rng bytes=0-1,4-5) $(body rng)" = "200 0123456789" ]
check "malformed range (bytes=4-2): 200, the whole file" [ "$(rng bytes=4-2) $(body rng)" = "200 0123456789" ]
check "HEAD ignores Range: 200" [ "$(fetch rngh -I -H 'Range: bytes=2-4' "$URL/ten.txt")" = 200 ]
fetch ten "$URL/ten.txt" >/dev/null
check "If-Range with the current ETag keeps the range: 206" \
	[ "$(fetch rng -H 'Range: bytes=2-4' -H "If-Range: $(hdr ten ETag)" "$URL/ten.txt")" = 206 ]
check "If-Range with another ETag: 200, the whole file" \
	[ "$(fetch rng -H 'Range: bytes=2-4' -H 'If-Range: "other"' "$URL/ten.txt") $(body rng)" = "200 0123456789" ]
check "a range in the middle of 100 MiB: 206 of 4096 bytes" \
	[ "$(fetch brng -H 'Range: bytes=52428000-52432095' "$URL/big.bin")" = 206 ]
check "  ... the same bytes as the file's" cmp -s "$WORK/brng.b" <(tail -c +52428001 "$DOCROOT/big.bin" | head -c 4096)
check "Accept-Ranges: bytes" [ "$(hdr ten Accept-Ranges)" = bytes ]

# --- conditionals --------------------------------------------------------------------
fetch c1 "$URL/cond.txt" >/dev/null
etag=$(hdr c1 ETag)
lm=$(hdr c1 Last-Modified)
check "ETag is a strong quoted tag" grep -Eq '^"[0-9a-f]+-[0-9a-f]+-[0-9a-f]+"$' <<<"$etag"
check "Last-Modified is the file's mtime" [ "$lm" = "Thu, 04 Mar 2021 05:06:07 GMT" ]
check "If-None-Match with the ETag: 304" [ "$(fetch c304 -H "If-None-Match: $etag" "$URL/cond.txt")" = 304 ]
check "  ... no body, no Content-Length, ETag and Last-Modified repeated" \
	bash -c "[ ! -s $WORK/c304.b ] && ! grep -qi '^content-length' $WORK/c304.h && grep -q '$etag' $WORK/c304.h && grep -qi '^last-modified: $lm' $WORK/c304.h"
check "If-None-Match: W/ the ETag (weak comparison): 304" \
	[ "$(fetch c304 -H "If-None-Match: \"x\", W/$etag" "$URL/cond.txt")" = 304 ]
check "If-None-Match with another tag: 200" [ "$(fetch c200 -H 'If-None-Match: "nope"' "$URL/cond.txt")" = 200 ]
check "If-Modified-Since the Last-Modified: 304" [ "$(fetch c304 -H "If-Modified-Since: $lm" "$URL/cond.txt")" = 304 ]
check "If-Modified-Since a day before: 200" \
	[ "$(fetch c200 -H 'If-Modified-Since: Wed, 03 Mar 2021 05:06:07 GMT' "$URL/cond.txt")" = 200 ]
printf 'version 2\n' >"$DOCROOT/cond.txt" # same size, new mtime
touch -d '2022-01-01 00:00:00 UTC' "$DOCROOT/cond.txt"
check "changed file: If-None-Match with the old ETag: 200" \
	[ "$(fetch c2 -H "If-None-Match: $etag" "$URL/cond.txt") $(body c2)" = "200 version 2" ]
check "  ... and a new ETag" [ "$(hdr c2 ETag)" != "$etag" ]
check "changed file: If-Modified-Since the old Last-Modified: 200" \
	[ "$(fetch c2 -H "If-Modified-Since: $lm" "$URL/cond.txt")" = 200 ]

# --- directories, Date, Server, media types, symlinks ---------------------------
check "/sub/ is served by its index.html" [ "$(fetch d "$URL/sub/") $(body d)" = "200 sub index" ]
check "/noidx/ (no index.html, no listing): 404" [ "$(fetch d "$URL/noidx/")" = 404 ]
check "/noidx/a.txt: 200" [ "$(fetch d "$URL/noidx/a.txt")" = 200 ]
check "/sub (no slash): 301 to /sub/" [ "$(fetch d "$URL/sub") $(hdr d Location)" = "301 /sub/" ]
check "/sub?x=1: 301 to /sub/?x=1, query kept" [ "$(fetch d "$URL/sub?x=1") $(hdr d Location)" = "301 /sub/?x=1" ]
check "a missing file: 404" [ "$(fetch d "$URL/missing.html")" = 404 ]
check "Server: bulkhead" [ "$(hdr root Server)" = bulkhead ]
fetch dt "$URL/notes.txt" >/dev/null
d=$(date -d "$(hdr dt Date)" +%s 2>/dev/null || echo 0)
check_cmp "Date is now (IMF-fixdate, within 5 s)" $((d > $(date +%s) - 5 && d <= $(date +%s))) -eq 1
check "Date is in IMF-fixdate form" grep -Eq '^[A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT$' <<<"$(hdr dt Date)"
while read -r f type; do
	check "Content-Type of /$f: $type" [ "$(hcurl -o /dev/null -w '%{content_type}' "$URL/$f")" = "$type" ]
done <<'M'
index.html text/html; charset=utf-8
UPPER.HTML text/html; charset=utf-8
notes.txt text/plain; charset=utf-8
f.css text/css; charset=utf-8
f.js text/javascript; charset=utf-8
f.json application/json
f.png image/png
f.jpg image/jpeg
f.gif image/gif
f.svg image/svg+xml
f.pdf application/pdf
f.wasm application/wasm
f.woff2 font/woff2
f.mp4 video/mp4
f.xyz application/octet-stream
M
check "a symlink inside the root (link-in -> notes.txt) is served" [ "$(fetch l "$URL/link-in") $(body l)" = "200 some notes" ]
check "a symlink out of the root (link-out -> ../outside.txt): 404" [ "$(fetch l "$URL/link-out")" = 404 ]
check "  ... the same 404 page as a missing file" cmp -s "$WORK/l.b" "$WORK/d.b"
check "an absolute symlink (even to a file inside): 404" [ "$(fetch l "$URL/abs-link")" = 404 ]
check "a file without read permission: 404" [ "$(fetch l "$URL/secret.txt")" = 404 ]
check "  ... the same 404 page as a missing file" cmp -s "$WORK/l.b" "$WORK/d.b"

# --- the access log ------------------------------------------------------------------
n404=$(stat -c %s "$WORK/d.b")
hcurl -o /dev/null -A 'bh-log "1"' -e 'http://ref.example/a' "$URL/notes.txt"
hcurl -o /dev/null -I -A bh-log-2 "$URL/notes.txt"
hcurl -o /dev/null -A bh-log-3 -H 'Range: bytes=2-4' "$URL/ten.txt"
hcurl -o /dev/null -A bh-log-4 "$URL/nope%20here.html"
n301=$(hcurl -o /dev/null -A bh-log-5 -w '%{size_download}' "$URL/sub")
hcurl -o /dev/null -A bh-log-6 -H "If-None-Match: $(hdr c2 ETag)" "$URL/cond.txt"
http_counters_settled # the log is flushed within 100 ms
LOG_PFX='198\.18\.0\.1 - - \[[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} \+0000\] '
logline() { # logline "description" EXPECTED_REST (fixed string after the time)
	local esc
	esc=$(printf '%s' "$2" | sed 's/[][\.*^$/]/\\&/g')
	check "access log: $1" grep -Eq "^$LOG_PFX$esc\$" "$WORK/access.log"
}
logline "GET 200 with its size, Referer and User-Agent (quotes escaped)" \
	'"GET /notes.txt HTTP/1.1" 200 11 "http://ref.example/a" "bh-log \"1\""'
logline "HEAD 200, no content sent (-)" '"HEAD /notes.txt HTTP/1.1" 200 - "-" "bh-log-2"'
logline "range 206 of 3 bytes" '"GET /ten.txt HTTP/1.1" 206 3 "-" "bh-log-3"'
logline "404 with the size of its page" "\"GET /nope%20here.html HTTP/1.1\" 404 $n404 \"-\" \"bh-log-4\""
logline "301 with the size of its page" "\"GET /sub HTTP/1.1\" 301 $n301 \"-\" \"bh-log-5\""
logline "304, no content (-)" '"GET /cond.txt HTTP/1.1" 304 - "-" "bh-log-6"'
# client, time, "request line" status bytes "referer" "user-agent"; \" and \\ inside quotes
Q='"([^"\\]|\\.)*"'
check "access log: every line in the combined log format" \
	bash -c '! grep -Evq "$1" "$2"' _ "^$LOG_PFX$Q [0-9]{3} ([0-9]+|-) $Q $Q\$" "$WORK/access.log"

# --- 100 MiB ------------------------------------------------------------------------
WANT=$(sha256sum <"$DOCROOT/big.bin" | cut -d' ' -f1)
http_counters_settled
b0=$(http_app bytes_out)
r0=$(http_app requests)
t0=$(date +%s.%N)
got=$(hcurl -m 60 "$URL/big.bin" | sha256sum | cut -d' ' -f1)
T_BIG=$(echo "$(date +%s.%N) - $t0" | bc)
check "100 MiB downloaded byte-identical (SHA-256)" [ "$got" = "$WANT" ]
echo "# 100 MiB took $(printf '%.1f' "$T_BIG") s"
http_counters_settled
check_cmp "  ... bytes_out grew by exactly 100 MiB" $(($(http_app bytes_out) - b0)) -eq $((100 << 20))
check_cmp "  ... one request" $(($(http_app requests) - r0)) -eq 1

# --- counters against the access log ---------------------------------------------------
# (before the lossy case: every request so far is in the log, and nothing else ran)
http_counters_settled
logsum() { awk "$1" "$WORK/access.log"; }
check_cmp "http.requests = access-log lines" "$(http_app requests)" -eq "$(logsum 'END {print NR}')"
check_cmp "http.status_2xx = 200 and 206 lines" "$(http_app status_2xx)" -eq "$(logsum '$9 ~ /^2/ {n++} END {print n + 0}')"
check_cmp "http.status_3xx = 301 and 304 lines" "$(http_app status_3xx)" -eq "$(logsum '$9 ~ /^3/ {n++} END {print n + 0}')"
check_cmp "http.status_4xx = 4xx lines" "$(http_app status_4xx)" -eq "$(logsum '$9 ~ /^4/ {n++} END {print n + 0}')"
check_cmp "http.status_5xx = 0" "$(http_app status_5xx)" -eq 0
check_cmp "http.bytes_out = content bytes of the 2xx lines" "$(http_app bytes_out)" -eq \
	"$(logsum '$9 ~ /^2/ && $10 != "-" {n += $10} END {printf "%d", n}')"
check_cmp "http.conns_accepted = the stack's accepted connections" "$(http_app conns_accepted)" -eq "$(tcp_app http tcp_accepted)"
check_cmp "http.conns_open = 0 (every client closed)" "$(http_app conns_open)" -eq 0
check_cmp "no request refused by the reader" "$(http_app bad_request)" -eq 0
for c in conn_errors file_errors log_errors header_timeouts send_timeouts conns_refused; do
	check_cmp "http.$c = 0" "$(http_app $c)" -eq 0
done

# --- a file that shrinks while it is sent ---------------------------------------------
# (after the counters: its response is cut short, so bytes_out and the log disagree)
head -c $((32 << 20)) "$DOCROOT/big.bin" >"$DOCROOT/shrink.bin"
http_counters_settled
fe0=$(http_app file_errors)
ce0=$(http_app conn_errors)
hc stall $TCP_IP 80 /shrink.bin 3 >"$WORK/shrink.json" &
SHRINK_PID=$!
sleep 1 # the client reads nothing meanwhile: the server stops at its window
truncate -s $((1 << 20)) "$DOCROOT/shrink.bin"
wait "$SHRINK_PID"
check_json "a 32 MiB file cut to 1 MiB while it is sent: 200, no byte past the new end, then a reset" \
	"$WORK/shrink.json" '.status == 200 and .bytes > 0 and .bytes <= 1048576 and .closed == "reset"'
http_counters_settled
check_cmp "  ... counted in http.file_errors" $(($(http_app file_errors) - fe0)) -eq 1
check_cmp "  ... and the connection reset (http.conn_errors)" $(($(http_app conn_errors) - ce0)) -eq 1

# --- 100 MiB with 1% loss each way ----------------------------------------------------
kill -TERM "$IMP_PID"
wait "$IMP_PID" 2>/dev/null
bh_start_nf imp1 impair -s impair -- --dir all loss=1%,seed=7 || exit 1
LOSS_MIB=${HTTP_LOSS_BYTES_MIB:-100}
http_counters_settled
b0=$(http_app bytes_out)
rt0=$(($(tcp_app http tcp_rto_expired) + $(tcp_app http tcp_fast_retrans) + $(tcp_app http tcp_sack_retrans)))
t0=$(date +%s.%N)
got=$(hcurl -m 60 -r 0-$(((LOSS_MIB << 20) - 1)) "$URL/big.bin" | sha256sum | cut -d' ' -f1)
T_LOSS=$(echo "$(date +%s.%N) - $t0" | bc)
check "$LOSS_MIB MiB with 1% loss each way: byte-identical (SHA-256)" \
	[ "$got" = "$(head -c $((LOSS_MIB << 20)) "$DOCROOT/big.bin" | sha256sum | cut -d' ' -f1)" ]
echo "# $LOSS_MIB MiB with 1% loss took $(printf '%.1f' "$T_LOSS") s"
http_counters_settled
check_cmp "  ... impair dropped packets" "$(tcp_app imp1 dir0.lost)" -gt 0
check_cmp "  ... the stack retransmitted" \
	$(($(tcp_app http tcp_rto_expired) + $(tcp_app http tcp_fast_retrans) + $(tcp_app http tcp_sack_retrans) - rt0)) -gt 0
check_cmp "  ... bytes_out grew by exactly $LOSS_MIB MiB" $(($(http_app bytes_out) - b0)) -eq $((LOSS_MIB << 20))
check_cmp "no segment with a bad checksum" "$(tcp_app http tcp_bad_cksum)" -eq 0
check_cmp "no frame lost for want of a buffer" "$(tcp_app http nf.tx_nobuf)" -eq 0

http_iso_clean
tcp_nf_stop http "$HTTP_PID"
echo "# test_http took $(($(date +%s) - START))s"
bh_summary
