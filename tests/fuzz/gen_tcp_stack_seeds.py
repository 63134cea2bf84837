#!/usr/bin/python3
"""Seed inputs for fuzz_tcp_stack (the record format is in fuzz_tcp_stack.c).

    tests/fuzz/gen_tcp_stack_seeds.py [OUTDIR]   (default: corpus/tcp_stack/)

Writes seed-NAME files: handshakes and data both ways, every close sequence,
RST and SYN variants, out-of-order data, timers, ARP, ICMP, fragments and
truncated frames. Deterministic: running it again rewrites the same files.
"""
import os
import struct
import sys

RAW, SEG, TIME, ACCEPT, SEND, RECV, CLOSE, ABORT, SHUTDOWN, SETOPT, CONNECT, ARP, PING, \
    LISTEN, TXFAIL, DRAIN = range(16)
FIN, SYN, RST, PSH, ACK, URG, ECE, CWR = 1, 2, 4, 8, 16, 32, 64, 128
# SEG ctl bits
FAR, OPT_SYN, OPT_TS, OPT_SACK = 1, 2, 4, 6
IPOPT, PAD, FRAG, ECN, BADSUM = 8, 16, 32, 64, 128
# SETOPT options
NODELAY, SNDBUF, RCVBUF, KEEPALIVE, KEEPIDLE, KEEPINTVL, KEEPCNT, LINGER0 = range(8)
# configuration byte
C_NO_WS, C_NO_SACK, C_NO_TS, C_CUBIC, C_SMALL, C_NO_ARP, C_ACK_ALL, C_TIGHT = \
    1, 2, 4, 8, 16, 32, 64, 128
# SYN option sets (optarg of OPT_SYN): MSS, WS (shift in the high nibble), SACK-perm, TS
SYN_ALL = 0x1 | 0x2 | 0x4 | 0x8 | (7 << 4)

OUR_IP = bytes([198, 18, 0, 1])
PEER1_IP = bytes([198, 18, 0, 2])
OUR_MAC = bytes([2, 0, 0, 0, 0, 1])
PEER1_MAC = bytes([2, 0, 0, 0, 0, 2])


def s16(v):
    return struct.pack(">h", v) if v < 0 else struct.pack(">H", v & 0xffff)


def seg(slot, flags, seq=0, ack=0, win=65535, ctl=0, optarg=0, paylen=0, opts=b""):
    if (ctl >> 1) & 3 == 0:
        optarg = len(opts)
    r = bytes([SEG, slot, flags, ctl]) + s16(seq) + s16(ack) + struct.pack(">HBH", win, optarg, paylen)
    return r + (opts if (ctl >> 1) & 3 == 0 else b"")


def op(code, *args):
    return bytes([code, *args])


def op16(code, *args):
    """An opcode whose last argument is 16 bits."""
    return bytes([code, *args[:-1]]) + struct.pack(">H", args[-1])


def time_ms(ms):
    return op16(TIME, ms)


def time_s(s):
    return op16(TIME, 0x8000 | s)


def raw(frame):
    return op16(RAW, len(frame)) + frame


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(">%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def ipv4(payload, proto=6, src=PEER1_IP, dst=OUR_IP, frag=0x4000, ihl=5, tot=None, opts=b""):
    tot = 4 * ihl + len(payload) if tot is None else tot
    h = struct.pack(">BBHHHBBH4s4s", 0x40 | ihl, 0, tot, 7, frag, 64, proto, 0, src, dst) + opts
    h = h[:10] + struct.pack(">H", csum(h)) + h[12:]
    return OUR_MAC + PEER1_MAC + b"\x08\x00" + h + payload


def tcp(sport, dport, seq, ack, flags, win=65535, opts=b"", data=b"", doff=None, src=PEER1_IP):
    doff = (20 + len(opts)) // 4 if doff is None else doff
    h = struct.pack(">HHIIBBHHH", sport, dport, seq, ack, doff << 4, flags, win, 0, 0) + opts + data
    ph = src + OUR_IP + struct.pack(">BBH", 0, 6, len(h))
    return h[:16] + struct.pack(">H", csum(ph + h)) + h[18:]


# A handshake on slot 0 (peer port 40000 -> 80) with every option; the
# accepted connection becomes handle 1 (handle 0 is the active connection).
HS = seg(0, SYN, ctl=OPT_SYN, optarg=SYN_ALL) + seg(0, ACK, ctl=OPT_TS) + op(ACCEPT, 0)
HS_PLAIN = seg(0, SYN) + seg(0, ACK) + op(ACCEPT, 0)

SEEDS = {
    "handshake-data-fin": bytes([0]) + HS
    + seg(0, ACK | PSH, ctl=OPT_TS, paylen=100) + op16(RECV, 1, 1000)
    + op16(SEND, 1, 200) + seg(0, ACK, ctl=OPT_TS)
    + seg(0, FIN | ACK, ctl=OPT_TS) + op16(RECV, 1, 100) + op(CLOSE, 1)
    + seg(0, ACK, ctl=OPT_TS) + time_s(3),
    "handshake-plain-no-options": bytes([C_NO_WS | C_NO_SACK | C_NO_TS]) + HS_PLAIN
    + seg(0, ACK | PSH, paylen=536) + op16(RECV, 1, 4096) + op16(SEND, 1, 3000)
    + seg(0, ACK) + op(SHUTDOWN, 1) + seg(0, ACK) + seg(0, FIN | ACK) + time_s(5),
    "syn-every-option": bytes([0])
    + seg(0, SYN, opts=bytes([2, 4, 5, 0xb4, 1, 3, 3, 14, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0,
                              30, 4, 0xab, 0xcd, 1, 0]))
    + seg(1, SYN, opts=bytes([2, 4, 0, 0, 3, 3, 15, 1, 1, 1, 4, 2]))
    + seg(2, SYN, opts=bytes([2, 4, 0, 1, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8, 1, 1]))
    + seg(3, SYN | ECE | CWR, opts=bytes([5, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 1]))
    + seg(0, ACK) + seg(1, ACK) + seg(2, ACK) + seg(3, ACK)
    + op(ACCEPT, 0) * 4 + op16(SEND, 1, 5000) + op16(SEND, 2, 5000) + op16(SEND, 3, 5000),
    "syn-bad-options": bytes([0])
    + seg(0, SYN, opts=bytes([2, 3, 5, 1]))
    + seg(0, SYN, opts=bytes([8, 40] + [0] * 2))
    + seg(0, SYN, opts=bytes([3]))
    + seg(0, SYN, opts=bytes([1] * 40))
    + seg(0, SYN, opts=bytes([5, 2, 0, 0])),
    "rst-variants": bytes([0]) + HS
    + seg(0, RST, seq=100) + seg(0, RST, seq=0, ctl=FAR | OPT_TS) + seg(0, RST | ACK, seq=-1)
    + seg(0, RST, seq=0) + op16(RECV, 1, 10) + op16(SEND, 1, 10)
    + seg(1, RST) + seg(1, RST | ACK) + seg(5, RST) + seg(5, ACK, seq=3) + seg(5, SYN, paylen=10)
    + seg(4, RST) + seg(4, RST | ACK) + op(CLOSE, 1) + op(CLOSE, 0),
    "rst-in-syn-rcvd": bytes([0]) + seg(1, SYN, ctl=OPT_SYN, optarg=0xf)
    + seg(1, RST, seq=1) + seg(2, SYN) + seg(2, SYN) + seg(2, SYN, seq=5) + seg(2, ACK, ack=7)
    + seg(2, ACK, ack=-5) + seg(2, RST | ACK) + op(ACCEPT, 0),
    "out-of-order": bytes([0]) + HS
    + seg(0, ACK, seq=1000, ctl=OPT_TS, paylen=500) + seg(0, ACK, seq=2000, ctl=OPT_TS, paylen=500)
    + seg(0, ACK, seq=3000, ctl=OPT_TS, paylen=200) + seg(0, ACK, seq=0, ctl=OPT_TS, paylen=1000)
    + op16(RECV, 1, 2000) + seg(0, ACK, seq=0, ctl=OPT_TS, paylen=1000)
    + seg(0, ACK, seq=-200, ctl=OPT_TS, paylen=300) + op16(RECV, 1, 5000)
    + seg(0, ACK | FIN, seq=600, ctl=OPT_TS, paylen=10) + seg(0, ACK | FIN, ctl=OPT_TS, paylen=600)
    + op16(RECV, 1, 5000) + op16(RECV, 1, 5000) + op(CLOSE, 1) + seg(0, ACK, ctl=OPT_TS),
    "out-of-order-small-bufs": bytes([C_SMALL]) + HS
    + b"".join(seg(0, ACK, seq=600 * k, ctl=OPT_TS, paylen=300) for k in range(1, 8))
    + seg(0, ACK, seq=0, paylen=536) + seg(0, ACK, seq=0, paylen=536) * 3
    + op16(RECV, 1, 100) + seg(0, ACK, paylen=536) * 8 + op16(RECV, 1, 8000),
    "synack-active": bytes([0]) + seg(4, SYN | ACK, ctl=OPT_SYN, optarg=SYN_ALL)
    + op16(SEND, 0, 3000) + seg(4, ACK, ack=-3000, ctl=OPT_TS) * 4 + seg(4, ACK, ack=-1500, ctl=OPT_TS)
    + seg(4, ACK, ctl=OPT_SACK, optarg=0x7) + op16(SEND, 0, 20000) + seg(4, ACK, ctl=OPT_TS)
    + seg(4, ACK | PSH, ctl=OPT_TS, paylen=64) + op16(RECV, 0, 64) + seg(4, ACK | FIN, ctl=OPT_TS)
    + op(CLOSE, 0) + seg(4, ACK, ctl=OPT_TS) + time_s(3),
    "synack-active-bad": bytes([0]) + seg(4, SYN | ACK, ack=5) + seg(4, SYN | ACK, ack=-1)
    + seg(4, ACK) + seg(4, SYN) + seg(4, RST) + seg(4, RST | ACK, ack=3) + seg(4, RST | ACK),
    "sack-recovery": bytes([0]) + seg(4, SYN | ACK, ctl=OPT_SYN, optarg=SYN_ALL)
    + op16(SEND, 0, 14600) + b"".join(seg(4, ACK, ack=-14600, ctl=OPT_SACK, optarg=a)
                                      for a in (0x38, 0x39, 0x3a, 0x3a, 0x3a))
    + seg(4, ACK, ack=-12000, ctl=OPT_SACK, optarg=0x39) + seg(4, ACK, ack=-6000, ctl=OPT_TS)
    + op(DRAIN, 1) + seg(4, ACK, ctl=OPT_TS),
    "syncookie-timestamps": bytes([C_TIGHT]) + seg(0, SYN, ctl=OPT_SYN, optarg=SYN_ALL)
    + seg(1, SYN, ctl=OPT_SYN, optarg=SYN_ALL) + seg(2, SYN, ctl=OPT_SYN, optarg=SYN_ALL)
    + seg(3, SYN, ctl=OPT_SYN, optarg=0x1) + seg(2, ACK, ctl=OPT_TS) + seg(3, ACK)
    + seg(6, ACK, ack=77) + op(ACCEPT, 0) * 3 + op16(SEND, 1, 2000) + seg(2, ACK, ctl=OPT_TS),
    "dupacks-fast-retransmit": bytes([C_NO_TS]) + seg(4, SYN | ACK, ctl=OPT_SYN, optarg=0x7)
    + op16(SEND, 0, 14600) + b"".join(seg(4, ACK, ack=-14600 + 1460 * k) for k in (0, 1))
    + seg(4, ACK, ack=-14600 + 2920) * 4 + seg(4, ACK, ack=-5000) + seg(4, ACK) + time_s(1),
    "rto-go-back-n-cubic": bytes([C_CUBIC]) + HS + op16(SEND, 1, 50000) + time_ms(300)
    + op(DRAIN, 2) + seg(0, ACK, ack=-30000, ctl=OPT_TS) + time_s(2) + seg(0, ACK, ctl=OPT_TS)
    + op16(SEND, 1, 60000) + seg(0, ACK, ctl=OPT_TS) + op16(SEND, 1, 60000) + op(DRAIN, 31),
    "zero-window": bytes([0]) + seg(0, SYN) + seg(0, ACK, win=0) + op(ACCEPT, 0)
    + op16(SEND, 1, 1000) + op(DRAIN, 3) + seg(0, ACK, win=0, ack=-1) + op(DRAIN, 2)
    + seg(0, ACK, win=8192) + op(DRAIN, 1) + seg(0, ACK),
    "time-wait-active-close": bytes([0]) + HS + op(CLOSE, 1) + seg(0, ACK, ctl=OPT_TS)
    + seg(0, FIN | ACK, ctl=OPT_TS) + seg(0, FIN | ACK, ctl=OPT_TS, seq=-1)
    + seg(0, SYN, seq=10) + time_s(3) + seg(0, ACK),
    "closing-simultaneous": bytes([C_ACK_ALL]) + HS + op(SHUTDOWN, 1)
    + seg(0, FIN | ACK, ack=-1, ctl=OPT_TS) + seg(0, ACK, ctl=OPT_TS) + op16(RECV, 1, 10)
    + op(CLOSE, 1) + time_s(3),
    "last-ack": bytes([0]) + HS + seg(0, FIN | ACK, ctl=OPT_TS) + op16(RECV, 1, 10)
    + op16(SEND, 1, 100) + op(CLOSE, 1) + seg(0, ACK, ack=-1, ctl=OPT_TS) + seg(0, ACK, ctl=OPT_TS),
    "data-after-close": bytes([0]) + HS + op(CLOSE, 1) + seg(0, ACK | PSH, ctl=OPT_TS, paylen=20)
    + seg(0, ACK, paylen=5),
    "unread-data-close-resets": bytes([0]) + HS + seg(0, ACK | PSH, paylen=50) + op(CLOSE, 1)
    + seg(0, ACK | PSH, paylen=50),
    "challenge-acks": bytes([0]) + HS + seg(0, SYN, ctl=OPT_TS) + seg(0, ACK, ack=-30000)
    + seg(0, ACK, ack=-2, ctl=FAR) + seg(0, ACK, ack=100) + seg(0, ACK, seq=-1, ctl=FAR)
    + seg(0, 0, paylen=10) + seg(0, ACK | URG | PSH, paylen=10),
    "keepalive": bytes([0]) + HS + op16(SETOPT, 1, KEEPALIVE, 1) + op16(SETOPT, 1, KEEPIDLE, 1)
    + op16(SETOPT, 1, KEEPINTVL, 1) + op16(SETOPT, 1, KEEPCNT, 2) + op(DRAIN, 1) + seg(0, ACK)
    + op(DRAIN, 8) + op16(RECV, 1, 10),
    "setopts": bytes([0]) + HS + b"".join(op16(SETOPT, 1, o, v) for o, v in (
        (NODELAY, 1), (NODELAY, 2), (SNDBUF, 8), (SNDBUF, 100), (RCVBUF, 100), (RCVBUF, 60000),
        (KEEPIDLE, 0), (KEEPIDLE, 40000), (KEEPCNT, 200), (LINGER0, 1), (LINGER0, 3)))
    + op16(SEND, 1, 10000) + op(CLOSE, 1),
    "linger0-abort": bytes([0]) + HS + op16(SETOPT, 1, LINGER0, 1) + op(CLOSE, 1) + HS
    + op(ABORT, 1) + op(ABORT, 0),
    "backlog-and-table-full": bytes([C_TIGHT]) + b"".join(seg(k, SYN) for k in range(4))
    + seg(6, SYN) + b"".join(seg(k, ACK) for k in range(4)) + op(ACCEPT, 0) * 3
    + op(CONNECT, 0) + op(CONNECT, 4) + op(DRAIN, 31),
    "unlisten-pending": bytes([0]) + seg(0, SYN) + seg(0, ACK) + seg(1, SYN)
    + op(LISTEN, 0) + op(LISTEN, 0) + seg(2, SYN) + op(LISTEN, 1) + op(LISTEN, 1) + seg(2, SYN)
    + seg(2, ACK) + op(ACCEPT, 0),
    "listen-81": bytes([0]) + op(LISTEN, 2) + seg(5, SYN) + seg(5, ACK) + op(ACCEPT, 1)
    + op(LISTEN, 2) + op16(SEND, 1, 100) + op(LISTEN, 3) + op(LISTEN, 3) + seg(5, ACK),
    "connect-variants": bytes([0]) + op(CONNECT, 0) + op(CONNECT, 1) + op(CONNECT, 4)
    + op(CONNECT, 4) + op(CONNECT, 2) + seg(0, SYN) + seg(0, SYN | ACK) + op(CONNECT, 8)
    + seg(7, SYN | ACK) + op(DRAIN, 5),
    "arp-unprimed-connect": bytes([C_NO_ARP]) + op(DRAIN, 0) + op(ARP, 2) + op(DRAIN, 0)
    + seg(4, SYN | ACK, ctl=OPT_SYN, optarg=SYN_ALL) + op16(SEND, 0, 100) + seg(4, ACK),
    "arp-peer2": bytes([0]) + seg(6, SYN) + op(ARP, 3) + op(DRAIN, 0) + seg(6, ACK)
    + op(ACCEPT, 0) + op(ARP, 7) + op16(SEND, 1, 100) + time_s(70) + op(DRAIN, 3),
    "arp-variants": bytes([0]) + b"".join(op(ARP, k) for k in (
        0, 1, 2, 3, 4, 6, 8, 9, 16, 18, 17, 32, 34, 64, 128, 130, 160, 162))
    + op(DRAIN, 3) + time_s(61) + op(DRAIN, 3),
    "arp-evict": bytes([C_TIGHT]) + op(CONNECT, 8) + op(ARP, 3) + op(DRAIN, 0) + op(CONNECT, 16)
    + op(DRAIN, 3) + op(ARP, 32 | 2) + op(CONNECT, 17) + op(DRAIN, 10),
    "arp-gives-up": bytes([C_NO_ARP]) + op(DRAIN, 31) + op(CONNECT, 8) + op(DRAIN, 31),
    "icmp-echo": bytes([0]) + op(PING, 0, 56) + op(PING, 1, 56) + op(PING, 2, 56) + op(PING, 4, 56)
    + op(PING, 8, 20) + op(PING, 16, 200) + op(PING, 16, 180) + op(PING, 0, 0)
    + op(PING, 32, 8) + op(PING, 64, 8) + op(PING, 64 | 8, 8) + op(PING, 128, 8)
    + op(PING, 2 | 8, 8),
    "ip-fragments-and-options": bytes([0]) + seg(0, SYN, ctl=FRAG) + seg(0, SYN, ctl=IPOPT)
    + seg(0, ACK, ctl=PAD) + seg(0, ACK | PSH, ctl=ECN | PAD, paylen=10)
    + raw(ipv4(tcp(40001, 80, 1, 0, SYN)[:8], frag=0x2000))
    + raw(ipv4(tcp(40001, 80, 1, 0, SYN)[8:], frag=0x0001))
    + seg(0, ACK, ctl=BADSUM) + op(ACCEPT, 0) + op16(RECV, 1, 100),
    "truncated-frames": bytes([0]) + raw(b"") + raw(OUR_MAC + PEER1_MAC)
    + raw(OUR_MAC + PEER1_MAC + b"\x08\x00\x45")
    + raw(ipv4(tcp(40001, 80, 1, 0, SYN))[:40])
    + raw(ipv4(tcp(40001, 80, 1, 0, SYN), tot=60))
    + raw(ipv4(tcp(40001, 80, 1, 0, SYN))[:-1])
    + raw(ipv4(b"\0" * 10))
    + raw(ipv4(tcp(40001, 80, 1, 0, SYN), ihl=6, opts=b"\1\1\1\0"))
    + raw(ipv4(tcp(40001, 80, 1, 0, SYN), ihl=15))
    + raw(OUR_MAC + PEER1_MAC + b"\x08\x06" + b"\0\1\x08\0\6\4\0\1")
    + raw(OUR_MAC + PEER1_MAC + b"\x81\x00\0\1\x08\x00" + b"\x45" * 30),
    "tcp-bad-header-valid-checksum": bytes([0])
    + raw(ipv4(tcp(40001, 80, 1, 0, SYN, doff=4)))
    + raw(ipv4(tcp(40001, 80, 1, 0, SYN, doff=15)))
    + raw(ipv4(tcp(40001, 80, 1, 0, SYN, opts=bytes([2, 9, 0, 0]))))
    + raw(ipv4(tcp(40001, 80, 1, 0, SYN, opts=bytes([8, 10] + [0] * 6))))
    + raw(ipv4(tcp(40001, 80, 0xfffffff0, 0, SYN, opts=bytes([2, 4, 0, 88]))))
    + raw(ipv4(tcp(40001, 80, 0xfffffff1, 0, ACK, data=b"x" * 40)))
    + raw(ipv4(tcp(40002, 81, 1, 5, ACK | FIN, data=b"y")))
    + raw(ipv4(tcp(40002, 81, 1, 5, 0)))
    + raw(ipv4(tcp(40002, 80, 1, 5, 0, data=b"z"), src=bytes([198, 18, 0, 9])))
    + raw(ipv4(b"\0" * 8, proto=17)) + raw(ipv4(b"\0" * 8, proto=47)),
    "seq-wrap-slot3": bytes([0]) + seg(3, SYN, ctl=OPT_SYN, optarg=SYN_ALL) + seg(3, ACK, ctl=OPT_TS)
    + op(ACCEPT, 0) + seg(3, ACK, ctl=OPT_TS, paylen=1000) + seg(3, ACK, ctl=OPT_TS, paylen=1000)
    + op16(RECV, 1, 3000) + op16(SEND, 1, 4000) + seg(3, ACK, ctl=OPT_TS) + seg(3, FIN | ACK)
    + op(CLOSE, 1) + seg(3, ACK),
    "txfail": bytes([0]) + op(TXFAIL, 5) + HS + op16(SEND, 1, 3000) + op(DRAIN, 3)
    + seg(0, ACK, ctl=OPT_TS) + op(TXFAIL, 15) + op(CLOSE, 1) + op(DRAIN, 31),
    "syn-retransmit-timeout": bytes([C_TIGHT]) + seg(0, SYN) + op(DRAIN, 31) + op(DRAIN, 31)
    + seg(0, ACK),
    "fin-wait-2-stuck": bytes([C_SMALL | C_CUBIC]) + HS + op16(SEND, 1, 30000) + op(SHUTDOWN, 1)
    + seg(0, ACK, ctl=OPT_TS) + op16(SEND, 1, 10) + seg(0, ACK | PSH, ctl=OPT_TS, paylen=300)
    + op16(RECV, 1, 300) + time_s(100) + op(DRAIN, 5),
    "window-scale-big": bytes([0]) + seg(0, SYN, ctl=OPT_SYN, optarg=0xff) + seg(0, ACK, win=1)
    + op(ACCEPT, 0) + op16(SEND, 1, 65535) + seg(0, ACK, win=0xffff) + op16(SEND, 1, 65535)
    + seg(0, ACK, win=0xffff) + op16(SETOPT, 1, RCVBUF, 10) + seg(0, ACK, paylen=2000)
    + op16(RECV, 1, 30000),
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus", "tcp_stack")
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, "seed-" + name), "wb") as f:
            f.write(data)
    print("%d seeds in %s" % (len(SEEDS), out))


if __name__ == "__main__":
    main()
