# shellcheck shell=bash
# Helpers for end-to-end tests: a private topology, the manager, NFs, checks.
#
#   client A (ns $NS_A, 198.18.0.1) --veth-- manager ns $NS_M, port p0
#   client B (ns $NS_B, 198.18.0.2) --veth-- manager ns $NS_M, port p1
#
# Every name carries a random tag so runs never collide; bh_teardown (installed
# as an EXIT trap by bh_topology) removes all of it.

BH_ROOT=${BH_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BH_BUILD=${BH_BUILD:-$BH_ROOT/build}
BH_PY=/usr/bin/python3
BH_PASS=0
BH_FAIL=0
BH_PIDS=()

bh_tag() { printf '%04x%02x' $((RANDOM)) $((RANDOM % 256)); }

check() { # check "description" command...; returns the command's truth
	local what=$1
	shift
	if "$@"; then
		BH_PASS=$((BH_PASS + 1))
		echo "ok   - $what"
	else
		BH_FAIL=$((BH_FAIL + 1))
		echo "FAIL - $what"
		return 1
	fi
}

check_cmp() { # check_cmp "description" A OP B   (integer comparison: -eq -ge -le -lt -gt)
	local what=$1 a=$2 op=$3 b=$4
	if [ -n "$a" ] && [ -n "$b" ] && [ "$a" "$op" "$b" ] 2>/dev/null; then
		BH_PASS=$((BH_PASS + 1))
		echo "ok   - $what ($a $op $b)"
	else
		BH_FAIL=$((BH_FAIL + 1))
		echo "FAIL - $what ('$a' $op '$b')"
	fi
}

bh_summary() {
	echo "$(basename "$0"): $BH_PASS passed, $BH_FAIL failed"
	[ "$BH_FAIL" -eq 0 ]
}

bh_topology() {
	T=${T:-$(bh_tag)}
	NS_A=bh-$T-a NS_B=bh-$T-b NS_M=bh-$T-m
	PREFIX=bh$T
	WORK=$(mktemp -d /tmp/bh-e2e-$T.XXXX)
	STATS=$WORK/stats.json
	trap bh_teardown EXIT
	ip netns add "$NS_A" && ip netns add "$NS_B" && ip netns add "$NS_M" || return 1
	ip link add "bh${T}a" netns "$NS_A" type veth peer name "bh${T}p0" netns "$NS_M"
	ip link add "bh${T}b" netns "$NS_B" type veth peer name "bh${T}p1" netns "$NS_M"
	ip -n "$NS_A" addr add 198.18.0.1/24 dev "bh${T}a"
	ip -n "$NS_B" addr add 198.18.0.2/24 dev "bh${T}b"
	for ns in "$NS_A" "$NS_B" "$NS_M"; do
		ip -n "$ns" link set lo up
		# No IPv6 autoconfiguration chatter: tests count every packet.
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	done
	ip -n "$NS_A" link set "bh${T}a" up
	ip -n "$NS_B" link set "bh${T}b" up
	ip -n "$NS_M" link set "bh${T}p0" up
	ip -n "$NS_M" link set "bh${T}p1" up
	# No offloads the far side would have to finish: af_packet sees what the wire sees.
	for x in "$NS_A bh${T}a" "$NS_B bh${T}b" "$NS_M bh${T}p0" "$NS_M bh${T}p1"; do
		set -- $x
		ip netns exec "$1" ethtool -K "$2" tx off rx off tso off gso off gro off >/dev/null 2>&1 || true
	done
	PORT0="net_af_packet_${T}0,iface=bh${T}p0"
	PORT1="net_af_packet_${T}1,iface=bh${T}p1"
}

bh_any_alive() { # true while a process of BH_PIDS still runs
	local p
	for p in "${BH_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && return 0; done
	return 1
}

bh_teardown() {
	local rc=$?
	# A second signal (timeout(1) forwards one, a user presses Ctrl-C twice)
	# must not cut the clean-up short and leave namespaces behind.
	trap '' TERM INT HUP
	set +e
	for p in "${BH_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	sleep 0.3
	# Under scripts/san-e2e.sh a process takes up to a second to exit
	# (LeakSanitizer looks through its memory then); killed before, it may
	# leave part of a report.
	if [ -n "${BH_SAN_DIR:-}" ]; then
		local i
		for i in $(seq 100); do
			bh_any_alive || break
			sleep 0.1
		done
	fi
	for p in "${BH_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
	wait 2>/dev/null
	for ns in "$NS_A" "$NS_B" "$NS_M"; do ip netns del "$ns" 2>/dev/null; done
	rm -f /dev/hugepages/"${PREFIX}"map_* 2>/dev/null
	rm -rf /var/run/dpdk/"$PREFIX" 2>/dev/null
	# what a manager killed before it could stop leaves: its token, its services' isolation policies
	rm -rf /run/bulkhead/"$PREFIX" /run/bulkhead/"$PREFIX".token 2>/dev/null
	# Under scripts/san-e2e.sh: UBSan, beside ASan, reports to stderr only
	# (not to ASAN_OPTIONS' log_path), so its reports are taken from the logs.
	if [ -n "${BH_SAN_DIR:-}" ]; then
		grep -rl --include='*.log' --include='*.err' "runtime error:" "$WORK" 2>/dev/null |
			while read -r f; do grep -A12 "runtime error:" "$f" >"$BH_SAN_DIR/ubsan.$T.$(basename "$f")"; done
	fi
	[ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
	exit $rc
}

# bh_config FILE: writes a config with ports p0/p1 and whatever JSON follows on stdin
# merged in (chains, rules ...). Uses jq.
# With BH_MGR_NETNS=host the manager runs in the host's namespace and opens its
# ports in $NS_M ("netns" in the port config); its API is then off unless the
# merged JSON turns it on (a fixed port on the host could collide).
bh_config() {
	local out=$1 ns=""
	[ "${BH_MGR_NETNS:-}" = host ] && ns=$NS_M
	jq -n --arg p0 "$PORT0" --arg p1 "$PORT1" --arg prefix "$PREFIX" --arg stats "$STATS" --arg ns "$ns" \
		'{prefix:$prefix, pool:{mbufs:8191}, ports:[{name:"p0",dev:$p0},{name:"p1",dev:$p1}],
		  stats:{interval_ms:250, print:false, file:$stats}}
		 | if $ns != "" then (.ports[] |= . + {netns:$ns}) | .api = {port:0} else . end' >"$out.base"
	jq -s '.[0] * .[1]' "$out.base" - >"$out"
}

# bh_start_mgr CONFIG: starts the manager (in $NS_M, or see bh_config), waits for
# it to accept NFs.
bh_start_mgr() {
	local in_ns=(ip netns exec "$NS_M")
	[ "${BH_MGR_NETNS:-}" = host ] && in_ns=()
	"${in_ns[@]}" "$BH_BUILD/mgr/bulkhead" -c "$1" >"$WORK/mgr.log" 2>&1 &
	MGR_PID=$!
	BH_PIDS+=("$MGR_PID")
	for _ in $(seq 1 100); do
		grep -q 'bulkhead: running' "$WORK/mgr.log" 2>/dev/null && return 0
		kill -0 "$MGR_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "manager did not start:"; cat "$WORK/mgr.log"
	return 1
}

# bh_start_nf NAME BINARY [args...]: starts an NF (log in $WORK/NAME.log), waits
# until it is attached. Sets NF_PID.
bh_start_nf() {
	local name=$1 bin=$2
	shift 2
	"$BH_BUILD/nfs/$bin/bh-$bin" -P "$PREFIX" -n "$name" "$@" >"$WORK/$name.log" 2>&1 &
	NF_PID=$!
	BH_PIDS+=("$NF_PID")
	for _ in $(seq 1 100); do
		grep -q 'attached as NF' "$WORK/$name.log" 2>/dev/null && return 0
		kill -0 "$NF_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "NF $name did not attach:"; cat "$WORK/$name.log"
	return 1
}

# bh_snap: take one consistent statistics snapshot (written after this call),
# which bh_stat and bh_nf_stat then read, so related counters come from one instant.
bh_snap() {
	local before
	before=$(stat -c %y "$STATS" 2>/dev/null)
	for _ in $(seq 1 50); do
		sleep 0.1
		[ "$(stat -c %y "$STATS" 2>/dev/null)" != "$before" ] && break
	done
	cp "$STATS" "$WORK/snap.json"
}

bh_stat() { jq -r "$1" "$WORK/snap.json"; } # bh_stat JQ_EXPR

# check_pool_whole LABEL: a check that every packet buffer is back in the pool.
# It re-snapshots for up to 5 s first (a frame the kernel sends on its own, an ARP
# probe say, may be in flight at any instant); a buffer that is really held never
# comes back and fails it. The last snapshot stays for bh_stat.
check_pool_whole() {
	local i
	for i in $(seq 1 25); do
		bh_snap
		[ "$(bh_stat .pool.available)" -eq "$(bh_stat .pool.size)" ] && break
		sleep 0.1
	done
	check_cmp "$1" "$(bh_stat .pool.available)" -eq "$(bh_stat .pool.size)"
	[ "$(bh_stat .pool.available)" -eq "$(bh_stat .pool.size)" ] || bh_pool_held
}

# bh_pool_held: print the packet buffers out of the pool (GET /api/v1/pool/held),
# one line each: who holds it and what it is. Needs the API (in $NS_M, port 8470).
bh_pool_held() {
	local ns=()
	[ "${BH_MGR_NETNS:-}" = host ] || ns=(ip netns exec "$NS_M")
	"${ns[@]}" curl -s -m 10 http://127.0.0.1:8470/api/v1/pool/held |
		jq -r '"# held: \(.held) of \(.size) (\(.free) free)",
		       (.packets[] | "#   owner \(.owner) \(.owner_name // "-") (\(.owner_state // "-")) action \(.action) dest \(.dest) chain \(.chain) hop \(.hop) refcnt \(.refcnt) segs \(.segs) len \(.len): \(.packet)")' ||
		echo "# held packets: the manager's API did not answer"
}

bh_nf_stat() { # bh_nf_stat NF_NAME FIELD_EXPR
	bh_stat "[.nfs[] | select(.name==\"$1\")][0] | $2"
}

bh_wait_for() { # bh_wait_for SECONDS command...: until the command succeeds
	local t=$1
	shift
	for _ in $(seq 1 $((t * 10))); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}
