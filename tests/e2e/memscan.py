#!/usr/bin/python3
"""Looks for byte strings in the memory of processes (run as root: the
workers are not dumpable, and only CAP_SYS_PTRACE reads them then).

  memscan.py MARKER[,MARKER...] PID...
      every readable mapping of each PID (its heap, stack, the channel's
      shared memory, everything) searched for each MARKER. JSON: pids
      (those read), bytes (read in all), found (a list of {pid, marker,
      mapping} for each marker found in a mapping; empty: none anywhere),
      unreadable (the names of mappings that could not be read)
"""
import json
import sys


def scan(pid, markers):
    found, read, bad = [], 0, []
    with open("/proc/%d/maps" % pid) as f:
        maps = [l.split() for l in f]
    with open("/proc/%d/mem" % pid, "rb", buffering=0) as mem:
        for m in maps:
            lo, hi = (int(x, 16) for x in m[0].split("-"))
            name = m[5] if len(m) > 5 else "[anon]"
            if "r" not in m[1] or name.startswith("[vvar") or name == "[vsyscall]":
                continue
            try:
                mem.seek(lo)
                data = mem.read(hi - lo)
            except OSError:
                bad.append(name)
                continue
            read += len(data)
            for k in markers:
                if k in data:
                    found.append({"pid": pid, "marker": k.decode(), "mapping": name})
    return found, read, bad


def main():
    markers = [m.encode() for m in sys.argv[1].split(",")]
    out = {"pids": [], "bytes": 0, "found": [], "unreadable": []}
    for p in sys.argv[2:]:
        try:
            found, read, bad = scan(int(p), markers)
        except OSError:
            continue  # gone meanwhile
        out["pids"].append(int(p))
        out["bytes"] += read
        out["found"] += found
        out["unreadable"] += bad
    print(json.dumps(out))


if __name__ == "__main__":
    main()
