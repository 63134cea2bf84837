#!/usr/bin/python3
"""Measure what an impairment did to a stream of UDP datagrams (Debian's /usr/bin/python3).

  impair_probe.py send HOST PORT COUNT PPS [SIZE]
      send COUNT datagrams of SIZE bytes (default 64) paced at PPS, each carrying
      a sequence number and its CLOCK_REALTIME send time; prints a JSON line:
      sent, secs (first to last send), pps, kbps (Ethernet frame bits/s).
  impair_probe.py recv PORT COUNT IDLE_S MAX_S [EARLY_MS]
      receive until IDLE_S of silence after the first datagram (at most MAX_S),
      print "ready" on stderr once bound; prints a JSON line:
        received, unique, dups (extra copies), lost (of COUNT)
        lost_bp, dup_bp          per 10000 datagrams sent
        dmin_us, dmed_us, dp99_us, dmax_us
                                 one-way delay of each first copy: kernel receive
                                 time (SO_TIMESTAMPNS) minus send time, both
                                 CLOCK_REALTIME, which every namespace shares
        early, early_bp          first copies with a delay below EARLY_MS
        slow_dmin_us, slow_d1_us the shortest delay of the others, and their 1st percentile
        overtook, overtook_bp    datagrams that arrived before one sent earlier
        late                     arrivals with a lower number than one already seen (RFC 4737)
        kbps                     Ethernet frame bits/s between the first and last arrival
All rates are integers so a shell can compare them.
"""
import json
import socket
import struct
import sys
import time

MAGIC = 0x42484950  # "BHIP"
HDR = struct.Struct("!IIQ")  # magic, seq, send time (ns)
ETH_IP_UDP = 14 + 20 + 8  # what the impair NF counts for the rate: the Ethernet frame
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # asm-generic value


def send(host, port, count, pps, size=64):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    pad = bytes(max(0, size - HDR.size))
    gap = 1.0 / pps
    start = time.monotonic()
    first = last = None
    i = 0
    while i < count:
        ahead = start + i * gap - time.monotonic()
        if ahead > 0.0005:
            time.sleep(ahead)
            continue
        # send whatever is due, so a late wake-up catches up in a burst
        while i < count and start + i * gap <= time.monotonic() + 0.0005:
            now = time.time_ns()
            try:
                s.sendto(HDR.pack(MAGIC, i, now) + pad, (host, port))
            except BlockingIOError:
                time.sleep(0.0005)
                continue
            first = first or now
            last = now
            i += 1
    secs = (last - first) / 1e9 if count > 1 else 0.0
    rate = (count - 1) / secs if secs > 0 else 0.0
    print(json.dumps({"sent": count, "secs": round(secs, 3), "pps": int(rate),
                      "kbps": int(rate * (max(size, HDR.size) + ETH_IP_UDP) * 8 / 1000)}))


def median(xs):
    return xs[len(xs) // 2] if xs else 0


def recv(port, count, idle, limit, early_ms=0.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    s.bind(("0.0.0.0", port))
    s.settimeout(0.05)
    print("ready", file=sys.stderr, flush=True)
    arrivals = []  # (seq, sent_ns, rx_ns, wire bytes) in arrival order
    end = time.monotonic() + limit
    quiet_since = time.monotonic()
    while time.monotonic() < end:
        try:
            data, anc, _, _ = s.recvmsg(65536, 64)
        except socket.timeout:
            if arrivals and time.monotonic() - quiet_since >= idle:
                break
            continue
        quiet_since = time.monotonic()
        if len(data) < HDR.size:
            continue
        magic, seq, sent = HDR.unpack_from(data)
        if magic != MAGIC or seq >= count:
            continue
        rx = time.time_ns()
        for level, kind, val in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(val) >= 16:
                sec, nsec = struct.unpack_from("qq", val)
                rx = sec * 1000000000 + nsec
        arrivals.append((seq, sent, rx, len(data) + ETH_IP_UDP))

    seen, firsts = set(), []
    for a in arrivals:
        if a[0] not in seen:
            seen.add(a[0])
            firsts.append(a)
    delays = sorted((rx - sent) // 1000 for _, sent, rx, _ in firsts)
    early = sum(1 for d in delays if d < early_ms * 1000) if early_ms > 0 else 0
    slow = delays[early:]
    overtook, low = 0, None
    for seq, _, _, _ in reversed(firsts):
        if low is not None and low < seq:
            overtook += 1
        low = seq if low is None else min(low, seq)
    late, high = 0, -1
    for seq, _, _, _ in arrivals:
        if seq < high:
            late += 1
        high = max(high, seq)
    kbps = 0
    if len(arrivals) > 1:
        span = arrivals[-1][2] - arrivals[0][2]
        bits = sum(a[3] for a in arrivals[1:]) * 8
        kbps = int(bits * 1e6 / span) if span > 0 else 0
    n = len(firsts)
    print(json.dumps({
        "received": len(arrivals), "unique": n, "dups": len(arrivals) - n, "lost": count - n,
        "lost_bp": round((count - n) * 10000 / count), "dup_bp": round((len(arrivals) - n) * 10000 / count),
        "dmin_us": delays[0] if delays else 0, "dmed_us": median(delays),
        "dp99_us": delays[len(delays) * 99 // 100] if delays else 0, "dmax_us": delays[-1] if delays else 0,
        "early": early, "early_bp": round(early * 10000 / n) if n else 0,
        "slow_dmin_us": slow[0] if slow else 0, "slow_d1_us": slow[len(slow) // 100] if slow else 0,
        "overtook": overtook, "overtook_bp": round(overtook * 10000 / n) if n else 0,
        "late": late, "kbps": kbps}))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "send":
        send(args[0], int(args[1]), int(args[2]), float(args[3]), *(int(a) for a in args[4:]))
    elif cmd == "recv":
        recv(int(args[0]), int(args[1]), float(args[2]), float(args[3]), *(float(a) for a in args[4:]))
    else:
        sys.exit("unknown command " + cmd)
