#!/usr/bin/python3
"""Differential client for the HTTP server tests (test_http_iso_diff.sh), run
with Debian's /usr/bin/python3: the same random sessions against two designs
of the server must get the same bytes back.

  http_fuzz.py run HOST PORT SEED N OUT [PARALLEL]
      N sessions made from SEED (the same SEED, the same sessions, split the
      same way), PARALLEL (8) at a time. A session is one connection: up to
      eight requests (files, heads, ranges, conditionals, redirects, missing
      and refused paths, case and spacing variants), the last of them
      (and, less often, any other) perhaps one the server answers and
      closes on (a malformed head, a body
      it refuses, Connection: close, HTTP/1.0, or a valid request with bytes
      flipped, cut or repeated; the first sessions end on each refused head
      of test_http_bad.sh in turn). Its bytes go out in random pieces with
      short random pauses, then the client shuts its side (the server must
      finish and close) and reads to the end; one client in five has a 4 KiB
      receive buffer, one in five starts reading late (50 or 200 ms), so
      that answers back up into the server. OUT gets a JSON line per
      session: id, sent (bytes), got (bytes), sha (SHA-256 of what came
      back, each Date field's value blanked), statuses (the code of each
      status line, in order: one followed by the Date field, wherever it
      starts), end ("fin", "reset" or "timeout": no end within
      10 s), text (the first 16 KiB of what came back, Latin-1).
      Prints one JSON object: sessions, requests, responses (status lines
      found), fin, reset, timeout, bytes.
  http_fuzz.py diff A B
      the sessions of two runs compared. JSON: sessions, same, differ (the
      first 5 that differ: id, A's and B's end, statuses, and the text
      around the first byte that differs)
"""
import concurrent.futures
import hashlib
import json
import random
import re
import socket
import sys
import threading
import time

FILES = ["/", "/index.html", "/sub/", "/sub/page.html", "/noidx/a.txt", "/notes.txt",
         "/f.css", "/f.js", "/f.json", "/f.png", "/f.svg", "/f.xyz", "/UPPER.HTML",
         "/link-in", "/loop.bin", "/sub/%70age.html", "/sub/./page.html",
         "/sub/../notes.txt", "/notes.txt?x=1&y=%20", "//notes.txt", "/%6eotes.txt"]
MISSING = ["/missing.html", "/noidx/", "/link-out", "/abs-link", "/secret.txt", "/sub",
           "/sub?q=1", "/Notes.txt", "/sub/page.html/", "/notes.txt%20"]
DATES = ["Thu, 04 Mar 2021 05:06:07 GMT", "Sun, 06 Nov 1994 08:49:37 GMT",
         "Fri, 01 Jan 2100 00:00:00 GMT", "yesterday"]
RANGES = ["bytes=0-0", "bytes=2-4", "bytes=5-", "bytes=-3", "bytes=-0", "bytes=0-1,4-5",
          "bytes=4-2", "bytes=100000-", "bytes=1000-200000", "bytes=-300000", "items=0-1",
          "bytes= 1-2", "bytes=0-18446744073709551616"]
# Heads the server refuses (and then closes): as test_http_bad.sh sends them.
REFUSED = [
    "GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n",
    "GET / HTTP/1.1\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\nAccept : x\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",
    "\x00\x01\x02\xff\xfe\r\n\r\n",
    "GET /\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n",
    "FOO / HTTP/1.1\r\nHost: a\r\n\r\n",
    "get / HTTP/1.1\r\nHost: a\r\n\r\n",
    "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    "GET / HTTP/1.1\r\nHost: a\r\nX: " + "y" * 9000 + "\r\n\r\n",
    "GET /" + "a" * 5000 + " HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET / HTTP/2.0\r\nHost: a\r\n\r\n",
    "GET /notes.txt HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    "GET /notes.txt HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "GET /../etc/passwd HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET /%2e%2e/outside.txt HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET /notes.txt%00.html HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET http://u@a/notes.txt HTTP/1.1\r\nHost: a\r\n\r\n",
]
END_S = 10.0


def request(rng, last):
    """One request (Latin-1 text); with last, perhaps one that ends the connection."""
    if last and rng.random() < 0.45:
        kind = rng.choice(["refused", "mutated", "close", "http10"])
        if kind == "refused":
            return rng.choice(REFUSED)
        if kind == "mutated":
            return mutate(rng, request(rng, False))
        r = request(rng, False)
        if kind == "close":
            return r.replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n", 1)
        return r.replace(" HTTP/1.1\r\n", " HTTP/1.0\r\n", 1)
    method = "HEAD" if rng.random() < 0.2 else "GET"
    path = rng.choice(FILES if rng.random() < 0.75 else MISSING)
    fields = ["Host: " + rng.choice(["a", "198.18.0.3", "example.org:80", "x.y"])]
    if rng.random() < 0.3:
        fields.append("Range: " + rng.choice(RANGES))
    if rng.random() < 0.2:
        fields.append("If-Modified-Since: " + rng.choice(DATES))
    if rng.random() < 0.15:
        fields.append("If-None-Match: " + rng.choice(['"nope"', "*", 'W/"x", "y"']))
    if rng.random() < 0.1:
        fields.append("If-Range: " + rng.choice(DATES[:2] + ['"nope"']))
    if rng.random() < 0.3:
        fields.append(rng.choice(["User-Agent", "user-agent", "ACCEPT", "X-Pad"]) + ":" +
                      " " * rng.randint(0, 3) + "v" * rng.randint(0, 200) + " " * rng.randint(0, 2))
    if rng.random() < 0.2:
        fields.append("Connection: " + rng.choice(["keep-alive", "Keep-Alive", "x, keep-alive"]))
    rng.shuffle(fields)
    return "%s %s HTTP/1.1\r\n%s\r\n\r\n" % (method, path, "\r\n".join(fields))


def mutate(rng, r):
    b = list(r)
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(b))
        op = rng.random()
        if op < 0.4:
            b[i] = chr(rng.choice([0, 9, 10, 13, 32, 34, 37, 47, 58, 127, 128, 255, rng.randrange(256)]))
        elif op < 0.7:
            del b[i]
        else:
            b[i:i] = b[i:i + rng.randint(1, 8)]
    return "".join(b)


def session(rng, sid):
    """A session's bytes and where they are cut, with the pause after each piece.
    The first sessions end on each refused head in turn, and every tenth
    pipelines eight requests, so that no run misses them."""
    n = 8 if sid % 10 == 0 else rng.randint(1, 8)
    # Any request may end the connection, the last most often: what is
    # pipelined behind one that does must go unanswered. (Not in the first
    # sessions: their last, a refused head, must be reached.)
    early = sid < len(REFUSED)
    reqs = [request(rng, i == n - 1 or (not early and rng.random() < 0.1)) for i in range(n)]
    if sid < len(REFUSED):
        reqs[-1] = REFUSED[sid]
    data = "".join(reqs).encode("latin-1")
    pieces, at = [], 0
    while at < len(data):
        k = len(data) - at if rng.random() < 0.3 else rng.randint(1, max(1, min(len(data) - at, 300)))
        pause = rng.choice([0, 0, 0, 0.001, 0.005, 0.02])
        pieces.append((data[at:at + k], pause))
        at += k
    # some clients read slowly: a small receive buffer, a late first read
    rcvbuf = 4096 if rng.random() < 0.2 else 0
    late = rng.choice([0.05, 0.2]) if rng.random() < 0.2 else 0
    return n, pieces, rcvbuf, late


DATE = re.compile(rb"\r\nDate: [^\r\n]*")
# A status line wherever it starts (a body before it need not end in a line
# end), known by the Date field the server sends first.
STATUS = re.compile(rb"HTTP/1\.[01] (\d{3}) [^\r\n]*\r\nDate: ")


TEXT_MAX = 16384


def text(b):
    """What came back, as Latin-1 text: the first TEXT_MAX bytes."""
    return b[:TEXT_MAX].decode("latin-1")


def run_one(host, port, sid, n, pieces, rcvbuf, late):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:  # before the handshake, so that the window stays small
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(5)
    s.connect((host, port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def writer():
        try:
            for p, pause in pieces:
                s.sendall(p)
                if pause:
                    time.sleep(pause)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server closed first: what it sent is what counts

    t = threading.Thread(target=writer)
    t.start()
    time.sleep(late)
    got, end, deadline = bytearray(), "timeout", time.monotonic() + END_S
    while time.monotonic() < deadline:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            b = s.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            end = "reset"
            break
        if not b:
            end = "fin"
            break
        got += b
    t.join()
    s.close()
    norm = DATE.sub(b"\r\nDate: -", bytes(got))
    return {"id": sid, "requests": n, "sent": sum(len(p) for p, _ in pieces), "got": len(got),
            "sha": hashlib.sha256(norm).hexdigest(),
            "statuses": [int(m.group(1)) for m in STATUS.finditer(norm)],
            "end": end, "text": text(norm)}


def run(host, port, seed, count, out, parallel=8):
    rng = random.Random(seed)
    sessions = [session(rng, i) for i in range(count)]
    with concurrent.futures.ThreadPoolExecutor(parallel) as ex:
        res = list(ex.map(lambda a: run_one(host, port, a[0], *a[1]), enumerate(sessions)))
    with open(out, "w") as f:
        for r in res:
            f.write(json.dumps(r) + "\n")
    ends = [r["end"] for r in res]
    print(json.dumps({"sessions": len(res), "requests": sum(r["requests"] for r in res),
                      "responses": sum(len(r["statuses"]) for r in res),
                      "fin": ends.count("fin"), "reset": ends.count("reset"),
                      "timeout": ends.count("timeout"), "bytes": sum(r["got"] for r in res)}))


def diff(fa, fb):
    a = [json.loads(l) for l in open(fa)]
    b = [json.loads(l) for l in open(fb)]
    differ = []
    for x, y in zip(a, b):
        if x["sha"] == y["sha"] and x["end"] == y["end"]:
            continue
        tx, ty = x["text"], y["text"]
        i = next((k for k in range(min(len(tx), len(ty))) if tx[k] != ty[k]), min(len(tx), len(ty)))
        differ.append({"id": x["id"], "end": [x["end"], y["end"]],
                       "statuses": [x["statuses"], y["statuses"]],
                       "at": i, "a": tx[max(0, i - 80):i + 160], "b": ty[max(0, i - 80):i + 160]})
    print(json.dumps({"sessions": min(len(a), len(b)), "lengths": [len(a), len(b)],
                      "same": min(len(a), len(b)) - len(differ), "differ": differ[:5],
                      "differ_ids": [d["id"] for d in differ]}))


if __name__ == "__main__":
    cmd, a = sys.argv[1], sys.argv[2:]
    if cmd == "run":
        run(a[0], int(a[1]), int(a[2]), int(a[3]), a[4], *(int(x) for x in a[5:]))
    elif cmd == "diff":
        diff(a[0], a[1])
    else:
        sys.exit("unknown command " + cmd)
