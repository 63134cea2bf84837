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

# HTTP_ISOLATION (none, connection, client, pool:N): the design under test.
# Unset or none: the shared design; otherwise the NF relays to sandboxed
# workers (bh-http-worker, installed root-owned mode 0711 as it must be).
HTTP_ISOLATION=${HTTP_ISOLATION:-none}
HTTP_RECYCLE=${HTTP_RECYCLE:-fresh}
HTTP_UID_BASE=2000100000 # the workers' uids: [base, base + HTTP_UID_COUNT)
HTTP_UID_COUNT=${HTTP_UID_COUNT:-4096}
# HTTP_ISO_VIA: how the NF is given its policy: args (its command line) or
# config (the manager's, services[].isolation, which the NF reads from the
# manager's file before it attaches; tcp_config puts it there).
HTTP_ISO_VIA=${HTTP_ISO_VIA:-args}
HTTP_ISO_JSON=""
# HTTP_WORKER: the worker program (default: build/workers/http/bh-http-worker)
http_workers() { # the pids of the live workers
	ps -eo pid=,uid= | awk -v b=$HTTP_UID_BASE -v n="$HTTP_UID_COUNT" '$2 >= b && $2 < b + n {print $1}'
}
# http_iso_args: the bh-http options for $HTTP_ISOLATION in HTTP_ISO_ARGS, or
# (HTTP_ISO_VIA=config) the service's isolation for the config in HTTP_ISO_JSON;
# before tcp_config.
http_iso_args() {
	HTTP_ISO_ARGS=()
	HTTP_ISO_JSON=""
	[ "$HTTP_ISOLATION" = none ] && return 0
	install -d -m 0755 "$WORK/libexec" &&
		install -m 0711 "${HTTP_WORKER:-$BH_BUILD/workers/http/bh-http-worker}" \
			"$WORK/libexec/worker" || return 1
	if [ "$HTTP_ISO_VIA" = config ]; then
		HTTP_ISO_JSON=$(jq -nc --arg u "$HTTP_ISOLATION" --arg r "$HTTP_RECYCLE" \
			--arg w "$WORK/libexec/worker" --arg ur "$HTTP_UID_BASE:$HTTP_UID_COUNT" \
			'{unit:$u, recycle:$r, worker:$w, uid_range:$ur}')
	else
		HTTP_ISO_ARGS=(--isolation "$HTTP_ISOLATION" --recycle "$HTTP_RECYCLE"
			--worker "$WORK/libexec/worker" --uid-range $HTTP_UID_BASE:$HTTP_UID_COUNT)
	fi
	echo "# isolation: $HTTP_ISOLATION, recycle $HTTP_RECYCLE, given by $HTTP_ISO_VIA"
}
# http_iso_clean: the end state of the isolated design: no worker misbehaved
# (in these tests every one is well-behaved), and none is left over.
http_iso_clean() {
	[ "$HTTP_ISOLATION" = none ] && return 0
	local c
	check_cmp "isolation: workers were started" "$(http_app workers_started)" -gt 0
	for c in worker_crashes worker_seccomp_kills worker_limit_kills worker_hangs \
		worker_protocol_errors worker_spawn_failures; do
		check_cmp "isolation: http.$c = 0" "$(http_app $c)" -eq 0
	done
	if [ "$HTTP_ISOLATION" = connection ] && [ "$HTTP_RECYCLE" = fresh ]; then
		check_cmp "isolation: a worker for every connection served" "$(http_app workers_started)" \
			-ge $(($(http_app conns_accepted) - $(http_app conns_refused)))
	elif [ "$HTTP_ISOLATION" = connection ]; then
		check_cmp "isolation (scrub): workers reused, fewer started than connections served" \
			"$(http_app workers_started)" -lt $(($(http_app conns_accepted) - $(http_app conns_refused)))
	fi
	# The stack a worker has touched (resident pages of [stack]: a page
	# once touched stays) is within what --wipe zeroes (WK_STACK_WIPE),
	# so the wipe reaches every byte its calls left there. Measured on
	# workers that never wipe (recycle fresh): a wipe touches all of it.
	[ "$HTTP_RECYCLE" = fresh ] || return 0
	local wipe pid kib max=0 n=0
	wipe=$(sed -nE 's/^#define WK_STACK_WIPE \(([0-9]+)u << 10\).*/\1/p' "$BH_ROOT/workers/http/main.c")
	for pid in $(http_workers); do
		kib=$(awk '/\[stack\]$/ {s = 1; next} s && /^Rss:/ {print $2; exit}' "/proc/$pid/smaps" 2>/dev/null)
		[ -n "$kib" ] || continue
		n=$((n + 1))
		[ "$kib" -gt "$max" ] && max=$kib
	done
	echo "# the workers' stacks: at most $max KiB touched ($n workers; the wipe zeroes ${wipe:-?} KiB)"
	# pool workers serve every request of the test and stay
	if [[ $HTTP_ISOLATION == pool:* ]]; then
		check_cmp "isolation: the pool's workers' stacks measured" "$n" -gt 0
	fi
	if [ "$n" -gt 0 ]; then
		check_cmp "isolation: every worker's stack within what the wipe zeroes" "$max" -le "${wipe:-0}"
	fi
}

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
	http_iso_args || return 1
	tcp_config "$WORK/cfg.json" "$in_hops" "$out_hops"
	bh_start_mgr "$WORK/cfg.json" || return 1
	bh_start_nf http http -s http -- --ip $TCP_IP/24 --port p0 "${chain[@]}" --root "$DOCROOT" \
		--log "$WORK/access.log" "${HTTP_ISO_ARGS[@]}" "$@" || return 1
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
