# shellcheck shell=bash
# Helpers for the HTTP server tests (test_http*.sh), on top of tcp_lib.sh:
#
#   client A (ns $NS_A, 198.18.0.1: curl, http_client.py) --veth-- port p0
#       -- chain "in" -- http NF (bh-http, 198.18.0.3:80, document root $DOCROOT)
#
# The access log goes to $WORK/access.log.
source "$(dirname "${BASH_SOURCE[0]}")/tcp_lib.sh"
HC="$BH_PY $(dirname "${BASH_SOURCE[0]}")/http_client.py"
# shellcheck disable=SC2034 # URL and HTTP_PID are for the tests
URL=http://$TCP_IP

hc() { ip netns exec "$NS_A" $HC "$@"; }                # http_client.py from client A
hcurl() { ip netns exec "$NS_A" curl -s -m 20 "$@"; }   # curl from client A
http_app() { tcp_app http "http.$1"; }                  # an HTTP counter in the snapshot

# http_docroot DIR [BIG_MIB]: the document root both tests serve:
#   index.html; sub/ (index.html, page.html); noidx/ (a.txt, no index.html);
#   f.EXT for several media types; UPPER.HTML; loop.bin (256 KiB random);
#   link-in -> notes.txt (inside), link-out -> ../outside.txt (outside the
#   root), abs-link -> DIR/notes.txt (absolute, so refused though inside);
#   secret.txt (mode 000); big.bin of BIG_MIB MiB random when given.
http_docroot() {
	local d=$1 ext
	mkdir -p "$d/sub" "$d/noidx"
	printf '<!DOCTYPE html>\n<title>home</title>\n' >"$d/index.html"
	printf 'sub index\n' >"$d/sub/index.html"
	printf '<p>page</p>\n' >"$d/sub/page.html"
	printf 'no index here\n' >"$d/noidx/a.txt"
	printf 'some notes\n' >"$d/notes.txt"
	for ext in css js json png jpg gif svg pdf wasm woff2 mp4 xyz; do
		printf 'content of f.%s\n' "$ext" >"$d/f.$ext"
	done
	printf '<p>upper</p>\n' >"$d/UPPER.HTML"
	head -c $((256 << 10)) /dev/urandom >"$d/loop.bin"
	printf 'outside the root\n' >"$d/../outside.txt"
	ln -s notes.txt "$d/link-in"
	ln -s ../outside.txt "$d/link-out"
	ln -s "$d/notes.txt" "$d/abs-link"
	printf 'secret\n' >"$d/secret.txt"
	chmod 000 "$d/secret.txt"
	[ -z "${2:-}" ] || head -c $(($2 << 20)) /dev/urandom >"$d/big.bin"
}

# http_start IN_HOPS_JSON OUT_HOPS_JSON [bh-http options...]: config (tcp_config),
# the manager, and the http NF on $DOCROOT (named "http", pid HTTP_PID). With
# OUT_HOPS_JSON not "" the NF sends along the chain "out".
http_start() {
	local in_hops=$1 out_hops=$2 chain=()
	shift 2
	[ -n "$out_hops" ] && chain=(--chain out)
	tcp_config "$WORK/cfg.json" "$in_hops" "$out_hops"
	bh_start_mgr "$WORK/cfg.json" || return 1
	bh_start_nf http http -s http -- --ip $TCP_IP/24 --port p0 "${chain[@]}" --root "$DOCROOT" \
		--log "$WORK/access.log" "$@" || return 1
	# shellcheck disable=SC2034
	HTTP_PID=$NF_PID
}

# http_counters_settled: one snapshot after the NF published its latest counters.
http_counters_settled() {
	sleep 0.4
	bh_snap
}

jf() { jq -r "$2" "$1"; }              # jf FILE JQ: a field of a JSON result
jqt() { jq -e "$2" "$1" >/dev/null; }  # jqt FILE JQ: true when JQ is true of it

# check_json LABEL FILE JQ [SHOW_JQ]: a check that JQ holds of the JSON in
# FILE; when it does not, SHOW_JQ of it (all of it by default) is printed.
check_json() {
	local failed=$BH_FAIL
	check "$1" jqt "$2" "$3"
	[ "$BH_FAIL" = "$failed" ] || echo "#   got: $(jq -c "${4:-.}" "$2" | cut -c1-400)"
}
