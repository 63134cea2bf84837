#!/usr/bin/python3
"""Small traffic tools for the end-to-end tests (run with Debian's /usr/bin/python3).

  netutil.py udp-send HOST PORT COUNT [SIZE]   send COUNT datagrams, paced
  netutil.py udp-recv PORT IDLE_S [MAX_S]      print how many arrived (until IDLE_S of silence)
  netutil.py tcp-recv PORT [MAX_S]             accept one connection, print "bytes sha256"
  netutil.py tcp-send HOST PORT BYTES [SEED]   send BYTES pseudo-random bytes, print "bytes sha256"
  netutil.py tcp-try HOST PORT TIMEOUT_S       print "open" or "closed"/"timeout"
  netutil.py udp-flows HOST PORT SPORT0 NFLOWS PPS SECONDS
                                               NFLOWS flows (source ports SPORT0...) at PPS in
                                               all for SECONDS; prints JSON {sport: sent}
  netutil.py udp-count PORT IDLE_S MAX_S       prints JSON {sport: datagrams received}
"""
import hashlib
import random
import socket
import sys
import time


def udp_send(host, port, count, size=200):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    payload = bytes(size)
    for i in range(count):
        s.sendto(i.to_bytes(4, "big") + payload[4:], (host, port))
        if i % 20 == 19:
            time.sleep(0.002)
    print(count)


def udp_recv(port, idle, limit=30.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind(("0.0.0.0", port))
    s.settimeout(idle)
    seen = set()
    end = time.time() + limit
    print("ready", file=sys.stderr, flush=True)
    while time.time() < end:
        try:
            data, _ = s.recvfrom(65536)
        except socket.timeout:
            if seen:
                break
            continue
        seen.add(int.from_bytes(data[:4], "big"))
    print(len(seen))


def tcp_recv(port, limit=60.0):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", port))
    ls.listen(1)
    ls.settimeout(limit)
    print("ready", file=sys.stderr, flush=True)
    c, _ = ls.accept()
    c.settimeout(limit)
    h, n = hashlib.sha256(), 0
    while True:
        b = c.recv(1 << 16)
        if not b:
            break
        h.update(b)
        n += len(b)
    print(n, h.hexdigest())


def tcp_send(host, port, nbytes, seed=1):
    rnd = random.Random(seed)
    s = socket.create_connection((host, port), timeout=10)
    s.settimeout(60)
    h, left = hashlib.sha256(), nbytes
    while left:
        chunk = rnd.randbytes(min(left, 1 << 16))
        s.sendall(chunk)
        h.update(chunk)
        left -= len(chunk)
    s.shutdown(socket.SHUT_WR)
    s.recv(1)
    s.close()
    print(nbytes, h.hexdigest())


def tcp_try(host, port, timeout):
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        print("open")
    except socket.timeout:
        print("timeout")
    except OSError:
        print("closed")


def udp_flows(host, port, sport0, nflows, pps, seconds):
    import json
    socks = []
    for i in range(nflows):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("0.0.0.0", sport0 + i))
        socks.append(s)
    sent = [0] * nflows
    start = time.time()
    n = 0
    while True:
        now = time.time()
        if now - start >= seconds:
            break
        due = int((now - start) * pps)
        while n < due:
            i = n % nflows
            socks[i].sendto(n.to_bytes(4, "big") + bytes(60), (host, port))
            sent[i] += 1
            n += 1
        time.sleep(0.001)
    print(json.dumps({str(sport0 + i): sent[i] for i in range(nflows)}))


def udp_count(port, idle, limit):
    import json
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind(("0.0.0.0", port))
    s.settimeout(idle)
    got = {}
    end = time.time() + limit
    print("ready", file=sys.stderr, flush=True)
    while time.time() < end:
        try:
            _, addr = s.recvfrom(65536)
        except socket.timeout:
            if got:
                break
            continue
        got[str(addr[1])] = got.get(str(addr[1]), 0) + 1
    print(json.dumps(got))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "udp-send":
        udp_send(args[0], int(args[1]), int(args[2]), *(int(a) for a in args[3:]))
    elif cmd == "udp-recv":
        udp_recv(int(args[0]), float(args[1]), *(float(a) for a in args[2:]))
    elif cmd == "tcp-recv":
        tcp_recv(int(args[0]), *(float(a) for a in args[1:]))
    elif cmd == "tcp-send":
        tcp_send(args[0], int(args[1]), int(args[2]), *(int(a) for a in args[3:]))
    elif cmd == "udp-flows":
        udp_flows(args[0], int(args[1]), int(args[2]), int(args[3]), float(args[4]), float(args[5]))
    elif cmd == "udp-count":
        udp_count(int(args[0]), float(args[1]), float(args[2]))
    elif cmd == "tcp-try":
        tcp_try(args[0], int(args[1]), float(args[2]))
    else:
        sys.exit("unknown command " + cmd)
