#!/usr/bin/env bash
# Idempotent machine setup: Debian packages, hugepages, hugetlbfs.
# Usage: scripts/setup.sh            (packages + hugepages)
#        scripts/setup.sh --hugepages (hugepages only)
set -euo pipefail

PKGS=(build-essential meson ninja-build pkg-config clang
      libdpdk-dev dpdk libjansson-dev libmicrohttpd-dev libhttp-parser-dev libseccomp-dev musl-tools curl
      iproute2 iputils-ping iputils-arping nftables socat netcat-openbsd python3 python3-scapy
      procps jq bc ethtool bsdextrautils chromium nginx-light wrk)
HUGE_MB=${BH_HUGE_MB:-1024}

need_root() { [ "$(id -u)" = 0 ] || { echo "setup: must run as root (packages, hugepages)" >&2; exit 1; }; }

install_packages() {
	local missing=()
	for p in "${PKGS[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "setup: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

setup_hugepages() {
	local want=$((HUGE_MB / 2)) have
	have=$(cat /proc/sys/vm/nr_hugepages)
	if [ "$have" -lt "$want" ]; then
		echo "$want" > /proc/sys/vm/nr_hugepages
		have=$(cat /proc/sys/vm/nr_hugepages)
		[ "$have" -ge "$want" ] || { echo "setup: could only reserve $have of $want 2 MiB hugepages" >&2; exit 1; }
	fi
	mkdir -p /dev/hugepages
	if ! mount | grep -q ' /dev/hugepages type hugetlbfs'; then
		mount -t hugetlbfs -o pagesize=2M nodev /dev/hugepages
	fi
}

# The web console's npm packages (web/package-lock.json), from the npm registry,
# again whenever the lockfile is newer than what is installed.
install_web() {
	local web
	web="$(cd "$(dirname "$0")/.." && pwd)/web"
	[ -d "$web/node_modules" ] && [ ! "$web/package-lock.json" -nt "$web/node_modules" ] && return 0
	command -v npm >/dev/null || { echo "setup: npm (Node.js 20) is needed for $web" >&2; exit 1; }
	echo "setup: npm ci in $web"
	npm ci --prefix "$web" --no-audit --no-fund >/dev/null
	touch "$web/node_modules"
}

need_root
[ "${1:-}" = --hugepages ] || install_packages
setup_hugepages
[ "${1:-}" = --hugepages ] || install_web
