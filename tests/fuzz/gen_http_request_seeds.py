#!/usr/bin/python3
"""Seed inputs for fuzz_http_request (the input format is in fuzz_http_request.c).

    tests/fuzz/gen_http_request_seeds.py [OUTDIR]   (default: corpus/http_request/)

Writes seed-NAME files: one configuration byte, then what a client sends.
Requests served, redirected, refused with each status, pipelined, split in
every way the configuration byte offers, conditionals, ranges, and bare
field values for the parsers the target also calls directly.
Deterministic: running it again rewrites the same files.
"""
import os
import sys

WHOLE, BYTE, TWO, THREE, SEVEN, SIXTEEN, SIXTY4, FROM_INPUT = range(8)
SMALL, WALK, TINYBUF = 8, 16, 32


def req(target, fields=(), method="GET", version="HTTP/1.1", host="h"):
    lines = [f"{method} {target} {version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    lines += list(fields)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


SEEDS = {
    "get-root": (WHOLE, req("/")),
    "get-range-bytewise": (BYTE, req("/a.txt", ["Range: bytes=2-5"])),
    "head-dir": (TWO, req("/sub/", method="HEAD")),
    "redirect": (THREE, req("/sub?x=1&y=%2F")),
    "pipelined": (SEVEN, req("/a.txt") + req("/sub/page.css", method="HEAD") +
                  req("/index.html", ["Connection: close"])),
    "symlink-out": (SIXTEEN, req("/link_out") + req("/link_abs")),
    "symlink-in-walk": (WALK | SIXTY4, req("/link_in")),
    "fifo": (WHOLE, req("/fifo") + req("/nodir/") + req("/a.txt/")),
    "dotdot": (BYTE, req("/../etc/passwd")),
    "dotdot-encoded": (TWO, req("/%2e%2e/%2E%2E/etc/passwd")),
    "slash-encoded": (WHOLE, req("/a%2f..%2f..") + req("/sub%2fpage.css")),
    "overlong-utf8": (WHOLE, req("/%c0%ae%c0%ae/x")),
    "post-405": (THREE, req("/", ["Content-Length: 4"], method="POST") + b"body"),
    "brew-501": (WHOLE, req("/pot", method="BREW")),
    "version-505": (BYTE, req("/", version="HTTP/2.0")),
    "http09": (WHOLE, b"GET /\r\n\r\n"),
    "content-413": (WHOLE, req("/", ["Content-Length: 5"]) + b"hello"),
    "chunked-413": (SEVEN, req("/", ["Transfer-Encoding: chunked"]) + b"0\r\n\r\n"),
    "uri-414": (SMALL | TWO, req("/" + "a" * 80)),
    "fields-431": (SMALL, req("/", [f"X-{i}: {i}" for i in range(12)])),
    "head-431": (SMALL | SIXTEEN, req("/", ["X: " + "p" * 300])),
    "obs-fold": (WHOLE, b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n"),
    "bare-cr": (BYTE, b"GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n"),
    "no-host": (WHOLE, req("/", host=None)),
    "two-hosts": (WHOLE, req("/", ["Host: i"])),
    "conditional-etag": (WHOLE, req("/a.txt", ['If-None-Match: "x", W/"y", *']) +
                         req("/a.txt", ['If-Match: "nope"'])),
    "conditional-dates": (FROM_INPUT,
                          req("/a.txt", ["If-Modified-Since: Sun, 06 Nov 2022 08:49:37 GMT"]) +
                          req("/a.txt", ["If-Modified-Since: Sunday, 06-Nov-22 08:49:37 GMT"]) +
                          req("/a.txt", ["If-Modified-Since: Sun Nov  6 08:49:37 2022"]) +
                          req("/a.txt", ["If-Unmodified-Since: Sun, 06 Nov 1994 08:49:37 GMT"])),
    "if-range": (WHOLE, req("/a.txt", ["Range: bytes=1-3",
                                       "If-Range: Sun, 06 Nov 1994 08:49:37 GMT"]) +
                 req("/a.txt", ["Range: bytes=1-3", 'If-Range: "x"'])),
    "ranges": (THREE, req("/a.txt", ["Range: bytes=-3"]) + req("/a.txt", ["Range: bytes=0-1,4-5"]) +
               req("/a.txt", ["Range: bytes=99999999999999999999999-"]) +
               req("/a.txt", ["Range: bytes=5-2"]) + req("/empty.bin", ["Range: bytes=0-"])),
    "absolute-form": (WHOLE, req("http://example.org:8080/sub/../a.txt?q#f")),
    "http10-keepalive": (SEVEN, req("/a.txt", ["Connection: keep-alive"], version="HTTP/1.0",
                                    host=None) + req("/", version="HTTP/1.0", host=None)),
    "leading-crlf-close": (TWO, b"\r\n\r\n" + req("/", ["Connection: close"]) + req("/a.txt")),
    "log-escapes": (WHOLE, req("/a.txt", ["User-Agent: \"x\"\\\xff", "Referer: http://r/\""])),
    "tiny-buffer": (TINYBUF, req("/sub?" + "q" * 100) + req("/a.txt")),
    "split-request": (BYTE, req("/index.html", ["Accept: */*", "User-Agent: curl/7.88.1"])[:40]),
    "tls-hello": (WHOLE, bytes([0x16, 3, 1, 2, 0, 1, 0, 1, 0xfc, 3, 3]) + bytes(range(32))),
    "raw-date": (WHOLE, b"Sun, 06 Nov 1994 08:49:37 GMT"),
    "raw-range": (WHOLE, b"bytes=0-5"),
    "raw-target": (WALK, b"/sub/../a.txt"),
    "raw-etags": (WHOLE, b'W/"abc", "x"'),
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus", "http_request")
    os.makedirs(out, exist_ok=True)
    for name, (cfg, data) in SEEDS.items():
        with open(os.path.join(out, "seed-" + name), "wb") as f:
            f.write(bytes([cfg]) + data)
    print(f"{len(SEEDS)} seeds in {out}")


if __name__ == "__main__":
    main()
