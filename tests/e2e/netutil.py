#!/usr/bin/python3
"""Small traffic tools for the end-to-end tests (run with Debian's /usr/bin/python3).

  netutil.py udp-send HOST PORT COUNT [SIZE]   send COUNT datagrams, paced
  netutil.py udp-recv PORT IDLE_S [MAX_S]      print how many arrived (until IDLE_S of silence)
  netutil.py tcp-recv PORT [MAX_S]             accept one connection, print "bytes sha256"
  netutil.py tcp-send HOST PORT BYTES [SEED]   send BYTES pseudo-random bytes, print "bytes sha256"
  netutil.py tcp-try HOST PORT TIMEOUT_S       print "open", "refused" (RST), "timeout" or "closed"
                                               (another error)
  netutil.py udp-flows HOST PORT SPORT0 NFLOWS PPS SECONDS
                                               NFLOWS flows (source ports SPORT0...) at PPS in
                                               all for SECONDS; prints JSON {sport: sent}
  netutil.py udp-count PORT IDLE_S MAX_S       prints JSON {sport: datagrams received}
  netutil.py tcp-echo HOST PORT BYTES [SEED [MAX_S]]
                                               write BYTES pseudo-random bytes while reading the
                                               echo; prints JSON: bytes and SHA-256 each way, time
  netutil.py tcp-conns HOST PORT N [HOLD_S [BATCH]]
                                               hold N connections open at once, a distinct message
                                               echoed on each; "holding" on stderr while they are
                                               held HOLD_S seconds; prints JSON counts
  netutil.py stream-recv PORT K [MAX_S]        accept K connections, check each against the
                                               tcp-source stream; prints JSON counts
  netutil.py stream-read HOST PORT BYTES       read BYTES of the tcp-source stream, check them
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
    n, h = recv_all(c)
    print(n, h.hexdigest())


def recv_all(s):
    """Read until the end of the stream: (bytes, their SHA-256 object)."""
    h, n = hashlib.sha256(), 0
    while True:
        b = s.recv(1 << 16)
        if not b:
            return n, h
        h.update(b)
        n += len(b)


def seeded_chunks(nbytes, seed):
    """nbytes pseudo-random bytes from a seed, in chunks of up to 64 KiB."""
    rnd, left = random.Random(seed), nbytes
    while left:
        chunk = rnd.randbytes(min(left, 1 << 16))
        left -= len(chunk)
        yield chunk


def tcp_send(host, port, nbytes, seed=1):
    s = socket.create_connection((host, port), timeout=10)
    s.settimeout(60)
    h = hashlib.sha256()
    for chunk in seeded_chunks(nbytes, seed):
        s.sendall(chunk)
        h.update(chunk)
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
    except ConnectionRefusedError:
        print("refused")
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


def tcp_echo(host, port, nbytes, seed=1, limit=120.0):
    import json
    import threading
    s = socket.create_connection((host, port), timeout=10)
    s.settimeout(limit)
    sent, errors = hashlib.sha256(), []

    def writer():
        try:
            for chunk in seeded_chunks(nbytes, seed):
                s.sendall(chunk)
                sent.update(chunk)
            s.shutdown(socket.SHUT_WR)
        except OSError as e:
            errors.append("send: %s" % e)

    start = time.time()
    w = threading.Thread(target=writer)
    w.start()
    got, n = hashlib.sha256(), 0
    try:
        n, got = recv_all(s)
    except OSError as e:
        errors.append("recv: %s" % e)
    w.join()
    secs = time.time() - start
    s.close()
    print(json.dumps({"bytes": nbytes, "received": n, "sent_sha": sent.hexdigest(),
                      "recv_sha": got.hexdigest(), "seconds": round(secs, 3),
                      "mbit_s": round(nbytes * 8 / secs / 1e6, 1), "errors": errors}))


def tcp_conns(host, port, n, hold=0.0, batch=512, limit=120.0):
    """N connections open at once; each echoes its own message; closed only at the end."""
    import errno
    import json
    import selectors
    sel = selectors.DefaultSelector()
    start, deadline = time.time(), time.time() + limit
    conns, pending, failed, i = [], {}, 0, 0
    while (i < n or pending) and time.time() < deadline:
        while i < n and len(pending) < batch:
            s = socket.socket()
            s.setblocking(False)
            if s.connect_ex((host, port)) not in (0, errno.EINPROGRESS):
                failed += 1
                s.close()
            else:
                pending[s.fileno()] = (s, i)
                sel.register(s, selectors.EVENT_WRITE)
            i += 1
        for key, _ in sel.select(timeout=1.0):
            s, idx = pending.pop(key.fd)
            sel.unregister(s)
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                failed += 1
                s.close()
            else:
                conns.append((s, idx))
    failed += len(pending)
    connected = time.time()
    want = {}
    for s, idx in conns:
        msg = b"connection %06d says %s\n" % (idx, hashlib.sha256(b"%d" % idx).hexdigest()[:16].encode())
        want[s.fileno()] = [s, msg, b""]
        s.send(msg)
        sel.register(s, selectors.EVENT_READ)
    left = len(want)
    while left and time.time() < deadline:
        for key, _ in sel.select(timeout=1.0):
            st = want[key.fd]
            try:
                b = st[0].recv(4096)
            except OSError:
                b = b""
            st[2] += b
            if not b or len(st[2]) >= len(st[1]):
                sel.unregister(st[0])
                left -= 1
    good = sum(1 for s, msg, got in want.values() if got == msg)
    echoed = time.time()
    if hold > 0:
        print("holding %d" % len(conns), file=sys.stderr, flush=True)
        time.sleep(hold)
    for s, _ in conns:
        s.close()
    print(json.dumps({"asked": n, "connected": len(conns), "failed": failed, "echoed": good,
                      "connect_s": round(connected - start, 2), "echo_s": round(echoed - connected, 2)}))


STREAM_P = 65521


def stream_pattern():
    """The tcp-source stream's period (twice, so windows up to STREAM_P are slices)."""
    x, out = 2463534242, bytearray(STREAM_P)
    for i in range(STREAM_P):
        x ^= (x << 13) & 0xffffffff
        x ^= x >> 17
        x ^= (x << 5) & 0xffffffff
        out[i] = x >> 24
    return bytes(out) * 2


def stream_recv(port, k, limit=60.0):
    """Accept K connections from tcp-source --connect; each must carry its stream."""
    import json
    import selectors
    pat = stream_pattern()
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", port))
    ls.listen(4096)
    ls.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(ls, selectors.EVENT_READ)
    state, done, accepted = {}, [], 0
    deadline = time.time() + limit
    print("ready", file=sys.stderr, flush=True)
    while len(done) < k and time.time() < deadline:
        for key, _ in sel.select(timeout=0.5):
            if key.fileobj is ls:
                while True:
                    try:
                        c, addr = ls.accept()
                    except BlockingIOError:
                        break
                    accepted += 1
                    c.setblocking(False)
                    # the connecting side (the NF) picks the stream's start from its port
                    state[c.fileno()] = [c, (addr[1] * 7919) % STREAM_P, 0, True]
                    sel.register(c, selectors.EVENT_READ)
                continue
            st = state[key.fd]
            try:
                b = st[0].recv(32768)
            except OSError:
                b = b""
            if b:
                at = (st[1] + st[2]) % STREAM_P
                st[3] = st[3] and b == pat[at:at + len(b)]
                st[2] += len(b)
                continue
            sel.unregister(st[0])
            st[0].close()
            done.append((st[2], st[3]))
            del state[key.fd]
    sizes = [n for n, _ in done]
    print(json.dumps({"accepted": accepted, "complete": len(done), "intact": sum(1 for _, ok in done if ok),
                      "bytes": sum(sizes), "min": min(sizes) if sizes else 0,
                      "max": max(sizes) if sizes else 0}))


def stream_read(host, port, nbytes):
    pat = stream_pattern()
    s = socket.create_connection((host, port), timeout=10)
    base, pos, ok = (s.getsockname()[1] * 7919) % STREAM_P, 0, True
    while pos < nbytes:
        b = s.recv(min(32768, nbytes - pos))
        if not b:
            break
        at = (base + pos) % STREAM_P
        ok = ok and b == pat[at:at + len(b)]
        pos += len(b)
    s.close()
    print(pos, "intact" if ok else "corrupt")


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
    elif cmd == "tcp-echo":
        tcp_echo(args[0], int(args[1]), int(args[2]), *(int(a) if i == 0 else float(a) for i, a in enumerate(args[3:])))
    elif cmd == "tcp-conns":
        tcp_conns(args[0], int(args[1]), int(args[2]), *(float(a) if i == 0 else int(a) for i, a in enumerate(args[3:])))
    elif cmd == "stream-recv":
        stream_recv(int(args[0]), int(args[1]), *(float(a) for a in args[2:]))
    elif cmd == "stream-read":
        stream_read(args[0], int(args[1]), int(args[2]))
    elif cmd == "tcp-try":
        tcp_try(args[0], int(args[1]), float(args[2]))
    else:
        sys.exit("unknown command " + cmd)
