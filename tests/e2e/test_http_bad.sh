#!/usr/bin/env bash
# The static-file server (bh-http) against bad clients, from a raw client
# (http_client.py) in client A: malformed requests, methods, oversized heads
# and targets, versions, content on GET, paths out of the root, a slowloris
# client, idle keep-alive connections, a client that does not read, more
# connections than --http-max-conns.
# Each gets its exact status (then a close), an error page that shows nothing
# of the file system, its line in the access log and its counter, while a
# well-behaved client fetches a file on one keep-alive connection for the
# whole test and must see every byte of every response, undisturbed.
source "$(dirname "$0")/http_lib.sh"
bh_topology || exit 1
START=$(date +%s)
DOCROOT=$WORK/root
http_docroot "$DOCROOT" 32
HTO=2000 ITO=3000 STO=2000 MAXC=20
http_start '["http"]' "" --header-timeout-ms $HTO --idle-timeout-ms $ITO --send-timeout-ms $STO \
	--http-max-conns $MAXC || exit 1

# the well-behaved client, for the whole test
ip netns exec "$NS_A" $HC loop $TCP_IP 80 /loop.bin "$DOCROOT/loop.bin" "$WORK/stop" 120 >"$WORK/loop.json" &
LOOP_PID=$!
BH_PIDS+=("$LOOP_PID")

BAD_N=0     # requests the reader refuses (http.bad_request)
: >"$WORK/expect" # one status per line, for each bad input

# page_only STATUS: the body is exactly the fixed page naming STATUS
PAGE='^<!DOCTYPE html>\n<html><head><title>%s [A-Za-z -]+</title></head><body><h1>%s [A-Za-z -]+</h1></body></html>\n?$'
page_only() { jqt "$WORK/bad.json" ".body | test(\"$(printf "$PAGE" "$1" "$1")\")"; }

# bad LABEL STATUS REQ [JQ]: REQ in one write is answered STATUS with
# "Connection: close" and the connection closed; the body is the status's
# page; JQ, if given, must hold of the result too.
bad() {
	local label=$1 status=$2 req=$3 more=${4:-true}
	hc send $TCP_IP 80 "$req" 5 >"$WORK/bad.json"
	BAD_N=$((BAD_N + 1))
	echo "$status" >>"$WORK/expect"
	check_json "$label: $status, Connection: close, then closed" "$WORK/bad.json" \
		".status == $status and .headers.connection == \"close\" and .closed != \"open\" and ($more)" \
		'{status, headers, closed, more}'
	if [[ $req == HEAD* ]]; then
		check_json "  ... no body (HEAD)" "$WORK/bad.json" '.body == "" and .more == 0'
	else
		check "  ... the body is the $status page, nothing else" page_only "$status"
	fi
}

H='Host: a\r\n'
# --- malformed: 400 ----------------------------------------------------------------
bad "field line without a colon" 400 "GET / HTTP/1.1\r\n${H}Bad Header\r\n\r\n"
bad "no Host in HTTP/1.1" 400 'GET / HTTP/1.1\r\n\r\n'
bad "two Host lines" 400 "GET / HTTP/1.1\r\n${H}${H}\r\n"
bad "obs-fold (a line starting with a space)" 400 "GET / HTTP/1.1\r\n${H} folded\r\n\r\n"
bad "space before the colon" 400 "GET / HTTP/1.1\r\n${H}Accept : x\r\n\r\n"
bad "a bare CR" 400 "GET / HTTP/1.1\r\n${H}X: a\rb\r\n\r\n"
bad "a control character in a field" 400 "GET / HTTP/1.1\r\n${H}X: a\x01b\r\n\r\n"
bad "binary garbage" 400 '\x00\x01\x02\xff\xfe\r\n\r\n'
bad "no version (HTTP/0.9)" 400 'GET /\r\n\r\n'
bad "two Content-Length lines (smuggling)" 400 "GET / HTTP/1.1\r\n${H}Content-Length: 0\r\nContent-Length: 0\r\n\r\n"
bad "Content-Length and Transfer-Encoding (smuggling)" 400 \
	"GET / HTTP/1.1\r\n${H}Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
# --- methods: 501, 405 -------------------------------------------------------------
bad "unknown method FOO" 501 "FOO / HTTP/1.1\r\n${H}\r\n"
bad "lower-case get (methods are case-sensitive)" 501 "get / HTTP/1.1\r\n${H}\r\n"
for m in POST PUT DELETE OPTIONS; do
	bad "$m" 405 "$m /notes.txt HTTP/1.1\r\n${H}Content-Length: 0\r\n\r\n" '.headers.allow == "GET, HEAD"'
done
bad "POST with a body" 405 "POST /x HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\nhello" '.headers.allow == "GET, HEAD"'
# The rest of a body the server refused comes after it answered and closed,
# while the file before the answer still waits in its send buffer (the
# client's receive buffer is small): read away (the socket lingers), not a
# reset that would cut the file short.
head -c 100000 /dev/urandom >"$DOCROOT/late.bin"
hc late $TCP_IP 80 "GET /late.bin HTTP/1.1\r\n${H}\r\nPOST /x HTTP/1.1\r\n${H}Content-Length: 100000\r\n\r\n" \
	65536 0.3 4096 >"$WORK/late.json"
BAD_N=$((BAD_N + 1))
printf '200\n405\n' >>"$WORK/expect"
check_json "a file, then a POST whose body comes after the 405: the whole file, the 405, a FIN" \
	"$WORK/late.json" '.statuses == [200, 405] and .lengths[0] == 100000 and .late_sent and .closed == "fin"'
# A client that is refused and then neither sends nor closes: its socket
# lingers (counted open) for 2 s, then goes; the client still gets its answer.
hc late $TCP_IP 80 "GET / HTTP/1.1\r\n\r\n" 0 2.5 >"$WORK/linger.json" &
LINGER_PID=$!
sleep 1
bh_snap
check_cmp "a refused client that holds its side open: its socket lingers (open 1 s on, with the loop's)" \
	"$(http_app conns_open)" -eq 2
sleep 2.5
bh_snap
check_cmp "  ... and is closed 2 s on, the client's side still open (only the loop's left)" \
	"$(http_app conns_open)" -eq 1
wait "$LINGER_PID"
BAD_N=$((BAD_N + 1))
echo 400 >>"$WORK/expect"
check_json "  ... the client reads its 400 and the FIN afterwards" "$WORK/linger.json" \
	'.statuses == [400] and .closed == "fin"'
# --- sizes: 431, 414 ----------------------------------------------------------------
big=$(printf 'X-Big: %09000d\\r\\n' 0)
bad "a header block over 8192 bytes" 431 "GET / HTTP/1.1\r\n${H}${big}\r\n"
many=$(for i in $(seq 1 101); do printf 'X-%d: y\\r\\n' "$i"; done | tr -d '\n')
bad "101 field lines" 431 "GET / HTTP/1.1\r\n${H}${many}\r\n"
bad "a request-target over 4096 bytes" 414 "GET /$(printf '%05000d' 0) HTTP/1.1\r\n${H}\r\n"
# --- versions: 505 -----------------------------------------------------------------
bad "HTTP/2.0" 505 "GET / HTTP/2.0\r\n${H}\r\n"
bad "HTTP/3.1" 505 "GET / HTTP/3.1\r\n${H}\r\n"
# --- content on GET or HEAD: 413 ----------------------------------------------------
bad "GET with Content-Length: 5 and a body" 413 "GET /notes.txt HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\nhello"
bad "GET with Transfer-Encoding: chunked" 413 "GET /notes.txt HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
bad "HEAD with Content-Length: 1" 413 "HEAD /notes.txt HTTP/1.1\r\n${H}Content-Length: 1\r\n\r\nx"
# --- out of the root: 400 (lexical), 404 (symlink) --------------------------------
bad "/../etc/passwd" 400 "GET /../etc/passwd HTTP/1.1\r\n${H}\r\n"
bad "/sub/../../outside.txt" 400 "GET /sub/../../outside.txt HTTP/1.1\r\n${H}\r\n"
bad "/%2e%2e/outside.txt (encoded dots)" 400 "GET /%2e%2e/outside.txt HTTP/1.1\r\n${H}\r\n"
bad "/sub%2f..%2f..%2foutside.txt (encoded slashes)" 400 "GET /sub%2f..%2f..%2foutside.txt HTTP/1.1\r\n${H}\r\n"
bad "/..%5c..%5cetc (backslash)" 400 "GET /..%5c..%5cetc HTTP/1.1\r\n${H}\r\n"
bad "/%00 (NUL)" 400 "GET /notes.txt%00.html HTTP/1.1\r\n${H}\r\n"
bad "absolute-form with userinfo" 400 "GET http://u@a/notes.txt HTTP/1.1\r\n${H}\r\n"
# a 404 is an answer, not a refusal: not counted as bad_request, the connection
# would stay open (the client asks it closed)
hc send $TCP_IP 80 "GET /link-out HTTP/1.1\r\n${H}Connection: close\r\n\r\n" 5 >"$WORK/bad.json"
echo 404 >>"$WORK/expect"
check_json "a symlink out of the root: 404" "$WORK/bad.json" '.status == 404 and .closed == "fin"'
check "  ... the body is the 404 page, nothing else" page_only 404
check "no error page names the document root" bash -c "! grep -qF '$WORK' '$WORK/access.log' && ! grep -rqF '$WORK' '$WORK'/bad.json"

# --- slowloris: 408 after --header-timeout-ms ------------------------------------
hc slow $TCP_IP 80 "GET /notes.txt HTTP/1.1\r\n${H}User-Agent: slow\r\n\r\n" 1.0 20 >"$WORK/bad.json"
echo 408 >>"$WORK/expect"
check_json "a header byte per second: 408, then closed" \
	"$WORK/bad.json" '.status == 408 and .headers.connection == "close" and .closed == "fin"'
check "  ... the body is the 408 page, nothing else" page_only 408
check_json "  ... answered $HTO ms after the first byte (within 1 s more)" \
	"$WORK/bad.json" ".answered_s >= $HTO / 1000 - 0.05 and .answered_s <= $HTO / 1000 + 1"
echo "# slowloris: $(jq -c '{sent, answered_s, closed}' "$WORK/bad.json")"

# --- idle keep-alive connections: closed after --idle-timeout-ms, quietly --------
hc idle $TCP_IP 80 /notes.txt 10 >"$WORK/idle.json"
echo 200 >>"$WORK/expect"
check_json "an idle keep-alive connection is closed (FIN) with nothing sent" \
	"$WORK/idle.json" '.status == 200 and .closed == "fin" and .more == 0'
check_json "  ... after $ITO ms (within 1 s more)" \
	"$WORK/idle.json" ".idle_s >= $ITO / 1000 - 0.05 and .idle_s <= $ITO / 1000 + 1"
hc send $TCP_IP 80 '' 10 >"$WORK/bad.json"
check_json "a connection that never sends a byte: closed quietly after $ITO ms" \
	"$WORK/bad.json" ".status == 0 and .closed == \"fin\" and .seconds >= $ITO / 1000 - 0.05 and .seconds <= $ITO / 1000 + 1"

# --- a client that does not read: reset after --send-timeout-ms ----------------
hc stall $TCP_IP 80 /big.bin 5 >"$WORK/stall.json"
echo 200 >>"$WORK/expect"
# (the stack's reset goes out with the sequence number after its zero-window
# probe, which the client's kernel ignores; it learns of the reset when it
# reads again, and then sees only the end of the stream)
check_json "a client not reading its 32 MiB for 5 s: 200, then the connection ends short of the body" \
	"$WORK/stall.json" '.status == 200 and .bytes > 0 and .bytes < 33554432 and .closed != "open"'

# --- more connections than --http-max-conns ----------------------------------------
# 25 more besides the well-behaved client's: 19 fit under 20, 6 get 503; then,
# the limit reached, 40 that send a request at once get 503 too
hc conns $TCP_IP 80 25 /notes.txt 5 40 >"$WORK/conns.json"
for _ in $(seq 46); do echo 503 >>"$WORK/expect"; done
for _ in $(seq 19); do echo 200 >>"$WORK/expect"; done
for _ in $(seq 5); do echo 200 >>"$WORK/expect"; done
echo "# conns: $(jq -c . "$WORK/conns.json")"
check_json "25 connections over a limit of 20 (one held by the loop): 6 answered 503" "$WORK/conns.json" '.refused == 6'
check_json "  ... each 503 with Connection: close, then closed cleanly (FIN)" "$WORK/conns.json" '.refused_clean == 6'
check_json "  ... and 40 more, each sending its request at once: the same, not a reset" "$WORK/conns.json" \
	'.eager_clean == 40'
check_json "  ... the other 19 are served" "$WORK/conns.json" '.served == 19'
check_json "  ... once they closed, new connections are served again" "$WORK/conns.json" '.after_served == 5'

# --- the well-behaved client --------------------------------------------------------
touch "$WORK/stop"
wait "$LOOP_PID"
echo "# well-behaved client: $(jq -c . "$WORK/loop.json")"
check_json "the well-behaved client fetched all along" "$WORK/loop.json" '.fetches >= 20'
check_json "  ... every response 200 with every byte right" "$WORK/loop.json" '.bad == 0 and .errors == 0'
check_json "  ... on one keep-alive connection" "$WORK/loop.json" '.connects == 1'

# --- counters and the access log ------------------------------------------------------
http_counters_settled
loop_n=$(jf "$WORK/loop.json" .fetches)
check_cmp "http.bad_request counts each refused request" "$(http_app bad_request)" -eq "$BAD_N"
check_cmp "http.header_timeouts: the slowloris client" "$(http_app header_timeouts)" -eq 1
check_cmp "http.idle_timeouts: the two idle connections" "$(http_app idle_timeouts)" -eq 2
check_cmp "http.conns_refused: the 46 over the limit" "$(http_app conns_refused)" -eq 46
check_cmp "http.send_timeouts: the client that did not read" "$(http_app send_timeouts)" -eq 1
check_cmp "http.status_4xx = the 4xx answers" "$(http_app status_4xx)" -eq "$(grep -c '^4' "$WORK/expect")"
check_cmp "http.status_5xx = 501, 505, 503 answers" "$(http_app status_5xx)" -eq "$(grep -c '^5' "$WORK/expect")"
check_cmp "http.status_2xx = the 200s and the loop's" "$(http_app status_2xx)" -eq $(($(grep -c '^2' "$WORK/expect") + loop_n))
check_cmp "http.requests = all of them" "$(http_app requests)" -eq $(($(wc -l <"$WORK/expect") + loop_n))
check_cmp "http.conns_open = 0" "$(http_app conns_open)" -eq 0
check_cmp "no connection ended in an error (the reset one is a send timeout)" "$(http_app conn_errors)" -eq 0
# the access log, in order, is the expected statuses with the loop's 200s among them
grep -v '"GET /loop.bin HTTP/1.1" 200 ' "$WORK/access.log" | sed -E 's/^[^"]*"([^"\\]|\\.)*" ([0-9]{3}) .*/\2/' >"$WORK/got"
check "the access log has each answer's status, in order" diff "$WORK/expect" "$WORK/got"
check_cmp "  ... and each of the loop's fetches" "$(grep -c '"GET /loop.bin HTTP/1.1" 200 262144 ' "$WORK/access.log")" -eq "$loop_n"
check "a refused request's line shows what was read (FOO)" grep -q '"FOO" 501 ' "$WORK/access.log"
check "the 414's line is one whole line, with the target as far as it was read" \
	grep -Eq '^198\.18\.0\.1 - - \[[^]]+\] "GET /0{4000,}" 414 [0-9]+ "-" "-"$' "$WORK/access.log"
check "the 408 line has no request (-)" grep -Eq '\] "-" 408 [0-9]+ "-" "-"$' "$WORK/access.log"
http_iso_clean
tcp_nf_stop http "$HTTP_PID"
echo "# test_http_bad took $(($(date +%s) - START))s"
bh_summary
