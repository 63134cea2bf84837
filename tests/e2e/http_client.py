#!/usr/bin/python3
"""Raw HTTP/1.1 clients for the HTTP server tests (test_http*.sh), run with
Debian's /usr/bin/python3. Every command prints one JSON object.

REQ arguments are Python string escapes ('GET / HTTP/1.1\\r\\nHost: a\\r\\n\\r\\n'),
sent as Latin-1 bytes.

  http_client.py pipeline HOST PORT ROOT [HEAD:]PATH...
      all the requests in one write on one connection, then the responses
      read in order (framed by Content-Length); each must be 200 with the
      bytes of ROOT/PATH (index.html for a PATH ending in '/'), no body for
      HEAD. JSON: requests, responses, ok, errors, last_connection (the
      last response's Connection), closed (how the stream ended, if it did),
      seconds (from the write to the end)
  http_client.py trickle HOST PORT ROOT PATH N RATE [GROUP PAUSE_S]
      N GETs of PATH, as pipeline, the responses read at RATE bytes a second
      (a 16 KiB receive buffer); with GROUP, the requests go GROUP at a
      time, each group as the answers to the one before it begin to be
      read; with PAUSE_S, once half the answers are read, nothing is read
      for PAUSE_S (a group due then goes a quarter into it, after 1 s at
      most). JSON as pipeline
  http_client.py send HOST PORT REQ [MAX_S]
      REQ in one write, then read until the server closes (or MAX_S). JSON:
      status, headers, body (first response), more (bytes after it),
      closed ("fin", "reset" or "open"), seconds (from the write to the close);
      a reset before the request is out counts as "reset". (Any command
      that gets no connection at all prints status 0, "open" and an error.)
  http_client.py sends HOST PORT REQ FIRST LAST PARALLEL [MAX_S]
      send, once for each N from FIRST to LAST with "{}" in REQ replaced by
      N, each on its own connection, PARALLEL at a time: a line each, as
      send's, in the order they end
  http_client.py late HOST PORT REQ LATE_BYTES WAIT_S [RCVBUF]
      REQ in one write (with RCVBUF, a receive buffer that small, so that
      what the server sends waits in its own buffer); WAIT_S later (the
      server has answered and closed, say) LATE_BYTES more ('x'), and WAIT_S
      after that every response is read, then the stream to its end. JSON:
      statuses, lengths (of the bodies), closed, late_sent (the late bytes
      could be written), more (bytes after the last whole response)
  http_client.py slow HOST PORT REQ INTERVAL_S [MAX_S]
      REQ one byte every INTERVAL_S until an answer comes. JSON as send,
      plus sent (bytes written) and answered_s (first byte to the answer)
  http_client.py idle HOST PORT PATH [MAX_S]
      one keep-alive GET, then wait. JSON: status, closed, idle_s (from the
      end of the response to the close), more (bytes after the response)
  http_client.py stall HOST PORT PATH WAIT_S
      GET PATH, then read nothing for WAIT_S, then read to the end. JSON:
      status, bytes (of the body read), closed ("fin", "reset")
  http_client.py conns HOST PORT N PATH AFTER [EAGER]
      open N connections one after another; those answered at once with
      503 and a close are refused; then EAGER (0) more, one at a time, each
      sending a GET of PATH at once; each of the first N not refused then
      GETs PATH; all are closed, then AFTER new connections each GET PATH.
      JSON: refused, refused_clean (503, Connection: close, FIN), served,
      eager, eager_clean (likewise), after_served
  http_client.py loop HOST PORT PATH FILE STOPFILE [MAX_S]
      GET PATH on one keep-alive connection again and again until STOPFILE
      exists, each response checked byte for byte against FILE. JSON:
      fetches, bad (not 200 with FILE's bytes), wrong (200 with other
      bytes), statuses (how many of each), errors, timeouts (errors that
      were 5 s without an answer, the connection still open), connects,
      slowest (the longest a fetch that was answered took, in seconds)
  http_client.py glut HOST PORT PATH N FILE STOPFILE [MAX_S]
      N pipelined GETs of PATH on one connection with a small receive
      buffer, then nothing read until STOPFILE exists (the answers back up
      into the server); then all N read, each checked against FILE. JSON,
      one line when the requests went (sent), one at the end: answered,
      bad, closed, seconds (from the write to the last answer)
  http_client.py many HOST PORT N PATH FILE HOLDFILE [MAX_S]
  http_client.py many-close ...
      N connections opened and held ("holding N" on stderr) until HOLDFILE
      exists, then one GET of PATH on each at once (many-close: with
      "Connection: close"), each answer checked against FILE. JSON: opened,
      connect_failed, answered, bad (a wrong answer, a reset, or a request
      that could not be sent), unanswered, seconds (from the start),
      answer_seconds (from the requests' send to the last answer)
  http_client.py held HOST PORT BIG PATH FILE N DEPTH BIGFILE
      one keep-alive connection GETs PATH; a reader pipelines 8 GETs of BIG
      and reads them at 2 MB/s; N more connections open, then each pipelines
      DEPTH GETs of BIG and reads nothing (4 KiB receive buffers); a second
      later the first GETs PATH again. JSON: first (its first answer's
      status), status, ok (the second's body is FILE's), seconds (from that
      request to its answer), closed; reader: answers (whole, BIGFILE's
      bytes, in a row), closed
  http_client.py stale HOST PORT PATH FILE BIG PID N MARK
      for a pool of one worker, PID: one connection GETs BIG and reads none
      of it; PID is stopped (SIGSTOP); that connection sends half a head of
      a second request, a second one a POST whose body fills the worker's
      ring; both are reset (the first while the NF sends it the file, the
      second while its input waits for room), so that the NF closes them
      with no room to tell the worker; then MARK is created, and once
      MARK.go exists PID is continued (SIGCONT), one connection opened and
      held, and N more one after another each GET PATH with
      "Connection: close", every answer checked against FILE. JSON:
      fill_sent (the POST's bytes the client's kernel took), served, bad
      (the first few: status, the body's first bytes, how the stream ended)
"""
import json
import os
import select
import signal
import socket
import sys
import threading
import time


def req_bytes(s):
    return s.encode("latin-1").decode("unicode_escape").encode("latin-1")


class Conn:
    """One client connection and its unparsed input."""

    def __init__(self, host, port, timeout=5.0, rcvbuf=0):
        if rcvbuf:  # before the handshake, so that the window stays small
            self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.s.settimeout(timeout)
            self.s.connect((host, port))
        else:
            self.s = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        self.closed = "open"
        self.status = 0  # of the latest head read, whole response or not
        self.rate = 0  # bytes a second fill() reads at most (0: as they come)
        self.t0 = time.monotonic()
        self.got = 0  # bytes read in all

    def fill(self, timeout=None):
        """Read once more; False at the end of the stream (self.closed says how,
        as it first ended: a read after a reset finds only the end)."""
        if self.closed != "open":
            return False
        if timeout is not None:
            self.s.settimeout(timeout)
        if self.rate:  # not before the bytes read so far are due
            time.sleep(max(0.0, self.t0 + self.got / self.rate - time.monotonic()))
        try:
            b = self.s.recv(max(1, self.rate // 20) if self.rate else 1 << 16)
        except ConnectionResetError:
            self.closed = "reset"
            return False
        if not b:
            self.closed = "fin"
            return False
        self.buf += b
        self.got += len(b)
        return True

    def response(self, head=False, timeout=5.0):
        """The next response: (status, {lower-case name: value}, body), or None
        if the stream ended (or timed out) before a whole one came."""
        try:
            while b"\r\n\r\n" not in self.buf:
                if not self.fill(timeout):
                    return None
            end = self.buf.index(b"\r\n\r\n")
            lines = self.buf[:end].decode("latin-1").split("\r\n")
            try:
                status = int(lines[0].split(" ")[1])
            except (IndexError, ValueError):
                status = -1  # not a status line: what follows, to the end, is its body
            self.status = status
            hdrs = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                hdrs[name.strip().lower()] = value.strip()
            self.buf = self.buf[end + 4:]
            if head or status == 304 or 0 <= status < 200:
                n = 0
            elif status > 0 and hdrs.get("content-length", "").isdigit():
                n = int(hdrs["content-length"])
            else:
                while self.fill(timeout):
                    pass
                n = len(self.buf)
            while len(self.buf) < n:
                if not self.fill(timeout):
                    return None
            body, self.buf = self.buf[:n], self.buf[n:]
            return status, hdrs, body
        except socket.timeout:
            return None

    def drain(self, limit):
        """Read until the server closes or limit seconds pass; the seconds taken."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < limit:
            try:
                if not self.fill(max(0.01, limit - (time.monotonic() - t0))):
                    break
            except socket.timeout:
                break
        return time.monotonic() - t0


def get(path, close=False):
    return ("GET %s HTTP/1.1\r\nHost: bh\r\n%s\r\n" % (path, "Connection: close\r\n" if close else "")).encode()


def file_for(root, path):
    p = os.path.join(root, path.lstrip("/"))
    return os.path.join(p, "index.html") if path.endswith("/") else p


def pipeline(host, port, root, paths, rate=0, group=0, pause=0.0):
    """group: the requests go GROUP at a time, each group as the answers to
    the one before it begin to be read; pause: once half the answers are
    read, PAUSE seconds without reading (a group due then goes a quarter
    into it, after 1 s at most)"""
    reqs = []
    for p in paths:
        method, path = ("HEAD", p[5:]) if p.startswith("HEAD:") else ("GET", p)
        reqs.append((method, path))
    group = group or len(reqs)
    c = Conn(host, port, rcvbuf=16384 if rate else 0)

    def send(k):  # requests k .. k + group - 1
        c.s.sendall(b"".join(("%s %s HTTP/1.1\r\nHost: bh\r\n\r\n" % r).encode() for r in reqs[k:k + group]))

    send(0)
    c.rate, c.t0 = rate, time.monotonic()
    t0 = c.t0
    got, errors, last = 0, [], None
    for i, (method, path) in enumerate(reqs):
        half = pause and i == len(reqs) // 2
        if half:  # what waits for us stops the worker first (its credit spent)
            time.sleep(min(1.0, pause / 4))
        if i % group == 0 and i + group < len(reqs):
            send(i + group)
        if half:
            time.sleep(pause - min(1.0, pause / 4))
            c.t0 += pause
        r = c.response(head=method == "HEAD")
        if r is None:
            errors.append("#%d %s %s: no response (%s)" % (i, method, path, c.closed))
            break
        got += 1
        status, hdrs, body = r
        last = hdrs.get("connection")
        want = open(file_for(root, path), "rb").read()
        if status != 200:
            errors.append("#%d %s %s: status %d" % (i, method, path, status))
        elif int(hdrs.get("content-length", -1)) != len(want):
            errors.append("#%d %s %s: Content-Length %s" % (i, method, path, hdrs.get("content-length")))
        elif body != (b"" if method == "HEAD" else want):
            errors.append("#%d %s %s: wrong body (%d bytes)" % (i, method, path, len(body)))
    extra = len(c.buf)
    if got == len(reqs):
        c.drain(0.2)
    print(json.dumps({"requests": len(reqs), "responses": got, "extra": extra, "last_connection": last,
                      "closed": c.closed, "ok": got == len(reqs) and not errors and not extra,
                      "errors": errors, "seconds": round(time.monotonic() - t0, 3)}))


def result(c, r, t0, **more):
    status, hdrs, body = r if r else (0, {}, b"")
    out = {"status": status, "headers": hdrs, "body": body.decode("latin-1"), "more": len(c.buf),
           "closed": c.closed, "seconds": round(time.monotonic() - t0, 3)}
    out.update(more)
    return out


def no_connection(e):
    """The record of a command that got no connection (or lost it with an error)."""
    return {"status": 0, "closed": "open", "error": str(e)}


def report(c, r, t0, **more):
    print(json.dumps(result(c, r, t0, **more)))


def send_one(host, port, req, limit):
    c = Conn(host, port)
    head = req.startswith("HEAD ")
    t0 = time.monotonic()
    try:
        c.s.sendall(req_bytes(req))
    except (ConnectionResetError, BrokenPipeError):
        c.closed = "reset"  # reset before the request was out: ended all the same
    r = c.response(head=head, timeout=limit)
    c.drain(limit - (time.monotonic() - t0))
    return result(c, r, t0)


def send(host, port, req, limit=5.0):
    print(json.dumps(send_one(host, port, req, limit)))


def sends(host, port, req, first, last, parallel, limit=5.0):
    """send for each N from first to last, "{}" in req replaced by N, parallel
    connections at a time; a line each, in the order they end."""
    lock = threading.Lock()
    todo = iter(range(first, last + 1))

    def run():
        while True:
            with lock:
                n = next(todo, None)
            if n is None:
                return
            try:
                out = send_one(host, port, req.replace("{}", str(n)), limit)
            except OSError as e:
                out = no_connection(e)
            with lock:
                print(json.dumps(out), flush=True)

    threads = [threading.Thread(target=run) for _ in range(parallel)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def late(host, port, req, n, wait, rcvbuf=0):
    c = Conn(host, port, rcvbuf=rcvbuf)
    c.s.sendall(req_bytes(req))
    time.sleep(wait)
    try:
        c.s.sendall(b"x" * n)
        sent = True
    except OSError:
        sent = False
    time.sleep(wait)
    statuses, lengths = [], []
    while True:
        r = c.response()
        if r is None:
            break
        statuses.append(r[0])
        lengths.append(len(r[2]))
    c.drain(5.0)
    print(json.dumps({"statuses": statuses, "lengths": lengths, "closed": c.closed,
                      "late_sent": sent, "more": len(c.buf)}))


def slow(host, port, req, interval, limit=30.0):
    c = Conn(host, port)
    data = req_bytes(req)
    t0 = time.monotonic()
    sent = 0
    while sent < len(data) and time.monotonic() - t0 < limit:
        try:
            c.s.send(data[sent:sent + 1])
        except OSError:
            break
        sent += 1
        ready, _, _ = select.select([c.s], [], [], interval)
        if ready:
            break
    answered = round(time.monotonic() - t0, 3)
    r = c.response(timeout=limit)
    c.drain(2.0)
    report(c, r, t0, sent=sent, answered_s=answered)


def idle(host, port, path, limit=10.0):
    c = Conn(host, port)
    c.s.sendall(get(path))
    r = c.response()
    t0 = time.monotonic()
    c.drain(limit)
    print(json.dumps({"status": r[0] if r else 0, "closed": c.closed,
                      "idle_s": round(time.monotonic() - t0, 3), "more": len(c.buf)}))


def hold(host, port, path, stopfile, limit=60.0):
    """GET path, print its status and body at once, then keep the connection
    until stopfile appears; print how it ended ("open": still up)."""
    c = Conn(host, port)
    c.s.sendall(get(path))
    r = c.response()
    print(json.dumps({"status": r[0] if r else 0, "body": r[2].decode("latin-1") if r else ""}),
          flush=True)
    t0 = time.monotonic()
    while not os.path.exists(stopfile) and time.monotonic() - t0 < limit and c.closed == "open":
        c.drain(0.2)
    print(json.dumps({"closed": c.closed, "held_s": round(time.monotonic() - t0, 1)}), flush=True)


def stall(host, port, path, wait):
    c = Conn(host, port)
    c.s.sendall(get(path))
    time.sleep(wait)
    r = c.response(timeout=5.0)  # None: the stream ended within the body
    c.drain(5.0)
    print(json.dumps({"status": c.status, "bytes": len(r[2]) if r else len(c.buf), "closed": c.closed}))


def conns(host, port, n, path, after, eager=0):
    cs = [Conn(host, port) for _ in range(n)]
    time.sleep(0.5)
    refused, clean, served, after_served = [], 0, 0, 0
    for c in cs:
        c.s.setblocking(False)
        try:
            b = c.s.recv(1 << 16)
            c.buf += b
            if not b:
                c.closed = "fin"
        except BlockingIOError:
            continue
        except ConnectionResetError:
            c.closed = "reset"
        c.s.setblocking(True)
        refused.append(c)
    for c in refused:
        r = c.response(timeout=2.0)
        c.drain(2.0)
        if r and r[0] == 503 and r[1].get("connection") == "close" and c.closed == "fin":
            clean += 1
    # with the server at its limit, connections that send their request at
    # once (it may be there before the server takes the connection)
    eager_clean = 0
    for _ in range(eager):
        c = Conn(host, port)
        c.s.sendall(get(path))
        r = c.response(timeout=2.0)
        c.drain(2.0)
        eager_clean += bool(r and r[0] == 503 and r[1].get("connection") == "close" and c.closed == "fin")
        c.s.close()
    for c in cs:
        if c in refused:
            continue
        c.s.setblocking(True)
        c.s.sendall(get(path))
        r = c.response()
        served += bool(r and r[0] == 200)
    for c in cs:
        c.s.close()
    time.sleep(0.5)
    for _ in range(after):
        c = Conn(host, port)
        c.s.sendall(get(path, close=True))
        r = c.response()
        after_served += bool(r and r[0] == 200)
        c.s.close()
    print(json.dumps({"opened": n, "refused": len(refused), "refused_clean": clean, "served": served,
                      "eager": eager, "eager_clean": eager_clean, "after_served": after_served}))


def loop(host, port, path, fname, stopfile, limit=300.0):
    want = open(fname, "rb").read()
    fetches = bad = wrong = errors = timeouts = connects = 0
    slowest = 0.0
    statuses = {}
    c = None
    t0 = time.monotonic()
    while not os.path.exists(stopfile) and time.monotonic() - t0 < limit:
        try:
            if c is None:
                c = Conn(host, port)
                connects += 1
            t1 = time.monotonic()
            c.s.sendall(get(path))
            r = c.response()
            if r is None:
                timeouts += c.closed == "open"
                raise OSError("no response: " + c.closed)
            fetches += 1
            slowest = max(slowest, time.monotonic() - t1)
            statuses[r[0]] = statuses.get(r[0], 0) + 1
            if r[0] != 200 or r[2] != want:
                bad += 1
                wrong += r[0] == 200
        except OSError:
            errors += 1
            c = None
            time.sleep(0.1)
        time.sleep(0.005)
    print(json.dumps({"fetches": fetches, "bad": bad, "wrong": wrong, "statuses": statuses, "errors": errors,
                      "timeouts": timeouts, "connects": connects, "slowest": round(slowest, 3),
                      "seconds": round(time.monotonic() - t0, 1)}))


def glut(host, port, path, n, fname, stopfile, limit=60.0):
    want = open(fname, "rb").read()
    c = Conn(host, port, rcvbuf=4096)
    t0 = time.monotonic()
    c.s.sendall(get(path) * n)
    print(json.dumps({"sent": n}), flush=True)
    while not os.path.exists(stopfile) and time.monotonic() - t0 < limit:
        time.sleep(0.05)
    answered = bad = 0
    for _ in range(n):
        r = c.response(timeout=10.0)
        if r is None:
            break
        answered += 1
        bad += r[0] != 200 or r[2] != want
    print(json.dumps({"answered": answered, "bad": bad, "closed": c.closed,
                      "seconds": round(time.monotonic() - t0, 1)}))


def many(host, port, n, path, fname, holdfile, limit=180.0, close=False):
    """n connections at once: open them all, say "holding" on stderr and wait
    for holdfile, then one GET of path on each (all in flight together, with
    "Connection: close" if close), each answer checked against fname (a
    request that cannot be sent is a bad one); then close them all."""
    import selectors
    want = open(fname, "rb").read()
    t0 = time.monotonic()
    socks, failed = [], 0
    for _ in range(n):
        try:
            s = socket.create_connection((host, port), timeout=10)
            s.setblocking(False)
            socks.append(s)
        except OSError:
            failed += 1
    print("holding %d" % len(socks), file=sys.stderr, flush=True)
    while not os.path.exists(holdfile) and time.monotonic() - t0 < limit:
        time.sleep(0.1)
    sel = selectors.DefaultSelector()
    bufs = {}
    req = get(path, close)
    ok = bad = 0
    for s in socks:
        try:
            s.send(req)
        except OSError:
            bad += 1
            continue
        bufs[s] = b""
        sel.register(s, selectors.EVENT_READ)
    t_sent = time.monotonic()
    deadline = t_sent + 60
    while bufs and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1.0):
            s = key.fileobj
            try:
                b = s.recv(1 << 16)
            except OSError:
                b = b""
            done = not b
            bufs[s] += b
            head, sep, body = bufs[s].partition(b"\r\n\r\n")
            if sep and len(body) >= len(want):
                ok += head.startswith(b"HTTP/1.1 200 ") and body[:len(want)] == want
                bad += not (head.startswith(b"HTTP/1.1 200 ") and body[:len(want)] == want)
                done = True
            elif done:
                bad += 1
            if done:
                sel.unregister(s)
                del bufs[s]
    t_answered = time.monotonic()
    for s in socks:
        s.close()
    print(json.dumps({"opened": len(socks), "connect_failed": failed, "answered": ok, "bad": bad,
                      "unanswered": len(bufs), "seconds": round(time.monotonic() - t0, 1),
                      "answer_seconds": round(t_answered - t_sent, 2)}))


def rst(sock):
    """Close with a reset (SO_LINGER {1, 0})."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
    sock.close()


def held(host, port, big, path, fname, n, depth, bigname):
    want = open(fname, "rb").read()
    want_big = open(bigname, "rb").read()
    c = Conn(host, port)
    c.s.sendall(get(path))
    r = c.response(timeout=10.0)
    first = r[0] if r else 0
    rd = Conn(host, port)
    rd.rate = 2000000
    rd.s.sendall(get(big) * 8)
    got = {"answers": 0}

    def read_all():
        for _ in range(8):
            x = rd.response(timeout=20.0)
            if not (x and x[0] == 200 and x[2] == want_big):
                break
            got["answers"] += 1

    reader = threading.Thread(target=read_all)
    reader.start()
    gluts = [Conn(host, port, rcvbuf=4096) for _ in range(n)]
    time.sleep(0.3)
    for g in gluts:
        g.s.sendall(get(big) * depth)
    time.sleep(1.0)
    t0 = time.monotonic()
    c.s.sendall(get(path))
    r = c.response(timeout=60.0)
    secs = time.monotonic() - t0
    reader.join()
    print(json.dumps({"first": first, "status": r[0] if r else 0, "ok": bool(r and r[2] == want),
                      "seconds": round(secs, 2), "closed": c.closed,
                      "reader": {"answers": got["answers"], "closed": rd.closed}}))
    for g in gluts:
        g.s.close()


def stale(host, port, path, fname, big, pid, n, mark):
    want = open(fname, "rb").read()
    # a big file on its way out, the client reading none of it
    half = Conn(host, port, rcvbuf=4096)
    half.s.sendall(get(big))
    time.sleep(0.5)
    os.kill(pid, signal.SIGSTOP)
    time.sleep(0.2)
    half.s.sendall(b"GET /not-this HTTP/1.1\r\nHost: a\r\n")
    time.sleep(0.3)
    fill = Conn(host, port)
    fill.s.setblocking(False)
    body = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 400000
    sent, t0 = 0, time.monotonic()
    while sent < len(body) and time.monotonic() - t0 < 1.5:
        try:
            sent += fill.s.send(body[sent:])
        except BlockingIOError:
            time.sleep(0.01)
    time.sleep(0.5)
    rst(half.s)  # the NF's next write to it fails: it closes it then
    time.sleep(0.2)
    rst(fill.s)  # its input held back by the full ring: the reset alone tells
    time.sleep(0.5)
    open(mark, "w").close()  # the caller looks at the NF, the worker still stopped
    t0 = time.monotonic()
    while not os.path.exists(mark + ".go") and time.monotonic() - t0 < 30:
        time.sleep(0.05)
    os.kill(pid, signal.SIGCONT)
    time.sleep(0.5)
    # The filler's descriptor, freed after the half head's, is the next one
    # given: held by this connection, the half head's comes next, each time.
    anchor = Conn(host, port)
    served, bad = 0, []
    for _ in range(n):
        c = Conn(host, port)
        c.s.sendall(get(path, close=True))
        r = c.response()
        c.drain(2.0)
        c.s.close()
        if r and r[0] == 200 and r[2] == want:
            served += 1
        elif len(bad) < 5:
            bad.append({"status": r[0] if r else 0, "body": r[2][:40].decode("latin-1") if r else "",
                        "closed": c.closed})
        time.sleep(0.002)
    anchor.s.close()
    print(json.dumps({"fill_sent": sent, "served": served, "bad": bad}))


def main(cmd, a):
    if cmd == "pipeline":
        pipeline(a[0], int(a[1]), a[2], a[3:])
    elif cmd == "trickle":
        pipeline(a[0], int(a[1]), a[2], [a[3]] * int(a[4]), rate=int(a[5]),
                 group=int(a[6]) if len(a) > 6 else 0, pause=float(a[7]) if len(a) > 7 else 0.0)
    elif cmd == "send":
        send(a[0], int(a[1]), a[2], *(float(x) for x in a[3:]))
    elif cmd == "sends":
        sends(a[0], int(a[1]), a[2], int(a[3]), int(a[4]), int(a[5]), *(float(x) for x in a[6:]))
    elif cmd == "late":
        late(a[0], int(a[1]), a[2], int(a[3]), float(a[4]), *(int(x) for x in a[5:]))
    elif cmd == "slow":
        slow(a[0], int(a[1]), a[2], float(a[3]), *(float(x) for x in a[4:]))
    elif cmd == "idle":
        idle(a[0], int(a[1]), a[2], *(float(x) for x in a[3:]))
    elif cmd in ("many", "many-close"):
        many(a[0], int(a[1]), int(a[2]), a[3], a[4], a[5], *(float(x) for x in a[6:]),
             close=cmd == "many-close")
    elif cmd == "hold":
        hold(a[0], int(a[1]), a[2], a[3], *(float(x) for x in a[4:]))
    elif cmd == "stall":
        stall(a[0], int(a[1]), a[2], float(a[3]))
    elif cmd == "conns":
        conns(a[0], int(a[1]), int(a[2]), a[3], int(a[4]), *(int(x) for x in a[5:6]))
    elif cmd == "glut":
        glut(a[0], int(a[1]), a[2], int(a[3]), a[4], a[5], *(float(x) for x in a[6:]))
    elif cmd == "held":
        held(a[0], int(a[1]), a[2], a[3], a[4], int(a[5]), int(a[6]), a[7])
    elif cmd == "stale":
        stale(a[0], int(a[1]), a[2], a[3], a[4], int(a[5]), int(a[6]), a[7])
    elif cmd == "loop":
        loop(a[0], int(a[1]), a[2], a[3], a[4], *(float(x) for x in a[5:]))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    try:
        main(sys.argv[1], sys.argv[2:])
    except OSError as e:  # no connection at all: still one JSON object
        print(json.dumps(no_connection(e)))
