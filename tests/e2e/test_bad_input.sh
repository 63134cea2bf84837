#!/usr/bin/env bash
# Bad configuration and bad NF arguments: one clear line naming the field and the
# reason, and a non-zero exit; nothing is started.
source "$(dirname "$0")/lib.sh"
T=$(bh_tag)
PREFIX=bh$T
WORK=$(mktemp -d /tmp/bh-e2e-$T.XXXX)
trap 'rm -rf "$WORK" /var/run/dpdk/$PREFIX; rm -f /dev/hugepages/${PREFIX}map_*' EXIT
MGR=$BH_BUILD/mgr/bulkhead

# expect_fail "what" STATUS "stderr pattern" command...
expect_fail() {
	local what=$1 want=$2 pat=$3
	shift 3
	"$@" >"$WORK/out" 2>"$WORK/err"
	local rc=$?
	check_cmp "$what: exit status" "$rc" -eq "$want"
	if grep -q -- "$pat" "$WORK/err"; then
		check "$what: says '$pat'" true
	else
		check "$what: says '$pat' (got: $(head -c 300 "$WORK/err"))" false
	fi
}

cfg() { echo "$1" >"$WORK/c.json"; echo "$WORK/c.json"; }
P='"ports":[{"name":"p0","dev":"net_null0"}]'

expect_fail "no config" 2 "no configuration" "$MGR"
expect_fail "missing file" 2 "/nonexistent.json" "$MGR" -c /nonexistent.json
expect_fail "not JSON" 2 "c.json: line 1, column" "$MGR" -c "$(cfg '{"ports": [}')"
expect_fail "unknown field" 2 "chains\[0\].outt: unknown field" "$MGR" -c "$(cfg "{$P,\"chains\":[{\"name\":\"c\",\"hops\":[\"x\"],\"outt\":\"p0\"}]}")"
expect_fail "prefix '..'" 2 "prefix: '..' is not a name" "$MGR" -c "$(cfg "{$P,\"prefix\":\"..\"}")"
expect_fail "--prefix with a slash" 2 "\-\-prefix: '../x' has a character outside" "$MGR" -P ../x -c "$(cfg "{$P}")"
expect_fail "bad range" 2 "pool.mbufs: 5 is out of range" "$MGR" -c "$(cfg "{$P,\"pool\":{\"mbufs\":5}}")"
expect_fail "PCI device refused" 2 "ports\[0\].dev: '0000:00:04.0' is not a virtual device" "$MGR" -c "$(cfg '{"ports":[{"name":"p0","dev":"0000:00:04.0"}]}')"
expect_fail "unknown chain in rule" 2 "rules\[0\].chain: no chain named 'zz'" "$MGR" -c "$(cfg "{$P,\"chains\":[{\"name\":\"c\",\"hops\":[\"x\"]}],\"rules\":[{\"chain\":\"zz\"}]}")"
out=$("$MGR" --check -c "$(cfg "{$P,\"chains\":[{\"name\":\"c\",\"hops\":[\"x\"],\"out\":\"p0\"}]}")" 2>&1)
check "--check accepts a good config" grep -q ': ok (1 ports, 1 services, 1 chains' <<<"$out"
for ex in "$BH_ROOT"/examples/*.json; do
	check "--check accepts $(basename "$ex")" bash -c "'$MGR' --check -c '$ex' | grep -q ': ok ('"
done
# A port whose interface does not exist: named, and DPDK cleaned up.
expect_fail "missing interface" 1 "ports\[0\].dev: cannot attach 'net_af_packet0,iface=bhnope$T'" \
	"$MGR" -c "$(cfg "{\"prefix\":\"$PREFIX\",\"ports\":[{\"name\":\"p0\",\"dev\":\"net_af_packet0,iface=bhnope$T\"}]}")"
expect_fail "missing port namespace" 1 "ports\[0\].netns: cannot enter 'bhnons$T'" \
	"$MGR" -c "$(cfg "{\"prefix\":\"$PREFIX\",\"ports\":[{\"name\":\"p0\",\"dev\":\"net_af_packet0,iface=x\",\"netns\":\"bhnons$T\"}]}")"
check_cmp "no hugepage files left after a failed start" "$(ls /dev/hugepages/ | grep -c "^${PREFIX}map_")" -eq 0

# NF arguments.
FWD=$BH_BUILD/nfs/forward/bh-forward
expect_fail "NF: unknown option" 2 "unknown option '--bogus'" "$FWD" --bogus
expect_fail "NF: option without value" 2 "needs a value" "$FWD" -P
expect_fail "NF: service name too long" 2 "at most 31 bytes" "$FWD" -s "$(printf 'x%.0s' $(seq 40))"
expect_fail "NF: no manager" 1 "cannot attach to manager '$PREFIX'" "$FWD" -P "$PREFIX"
expect_fail "NF: NF-specific unknown option" 2 "unknown option" "$FWD" -P "$PREFIX" -- --frobnicate
printf 'allow\ndeny proto tcp dport 99999\n' >"$WORK/bad.rules"
expect_fail "firewall: bad rule" 2 "bad.rules:2" "$BH_BUILD/nfs/firewall/bh-firewall" -P "$PREFIX" -- --rules "$WORK/bad.rules"
expect_fail "impair: bad spec" 2 "loss" "$BH_BUILD/nfs/impair/bh-impair" -P "$PREFIX" -- --dir all loss=150%
bh_summary
