#!/bin/bash
# Compile and link a static musl program in one command, and say which headers
# it read (lib/iso/meson.build):
#   musl_cc.sh OUTPUT DEPFILE COMPILER [FLAGS AND INPUTS...]
# DEPFILE lists, in make's syntax, every header the C sources include, so that
# ninja rebuilds OUTPUT when one changes (a custom target knows no includes).
# gcc cannot write that file while it links several sources (each source's
# rules overwrite the last's), so the rules come from a -M pass first; it
# compiles nothing, and libraries among the inputs stay out of it.
set -euo pipefail
out=$1 dep=$2
shift 2
args=()
for a in "$@"; do
	[[ $a == *.a ]] || args+=("$a")
done
"${args[@]}" -M -MT "$out" > "$dep"
exec "$@" -o "$out"
