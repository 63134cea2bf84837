#!/usr/bin/python3
"""Packet-level conformance probes against the user-level TCP stack.

Run inside the client namespace (the kernel's own RSTs towards the stack
must be dropped by nftables first: scapy plays the TCP peer by hand).

  tcp_conformance.py passive IFACE STACK_IP ECHO_PORT CLOSED_PORT STACK_MAC
  tcp_conformance.py active IFACE STACK_IP LISTEN_PORT READY_FILE

Prints one line per check: "CHECK 1 what" or "CHECK 0 what: detail".
"""
import random
import sys
import threading
import time

from scapy.all import (ARP, ICMP, IP, TCP, AsyncSniffer, Ether, Raw, conf,
                       get_if_hwaddr, send, sniff, srp1)

conf.verb = 0


def report(ok, what, detail=""):
    print(f"CHECK {1 if ok else 0} {what}" + ("" if ok else f": {detail}"), flush=True)
    return ok


def sniffer(iface, bpf, **kw):
    """An AsyncSniffer that is capturing when this returns: start() only
    launches its thread, and a reply sent before its socket is open is lost
    (a sleep of 50 ms was not always enough on a busy CPU)."""
    up = threading.Event()
    sn = AsyncSniffer(iface=iface, filter=bpf, started_callback=up.set, **kw)
    sn.start()
    if not up.wait(10):
        raise RuntimeError("the packet capture did not start within 10 s")
    return sn


def collect(sn):
    """What an AsyncSniffer caught (it may have stopped by itself)."""
    if sn.running:
        return sn.stop() or []
    return sn.results or []


def opts(pkt):
    return {k: v for k, v in pkt[TCP].options if k not in ("NOP", "EOL")}


class Peer:
    """One TCP connection played by hand from the client side."""

    def __init__(self, iface, dst, dport, syn_opts, ts=False):
        self.iface, self.dst, self.dport = iface, dst, dport
        self.sport = random.randint(20000, 40000)
        self.seq = random.randint(1, 2**31)
        self.syn_opts = syn_opts
        self.ts = ts
        self.tsval = 1000
        self.ts_recent = 0
        self.rcv_nxt = None

    def _filter(self):
        return f"tcp and src host {self.dst} and src port {self.dport} and dst port {self.sport}"

    def exchange(self, pkt, wait=0.6):
        """Send pkt, return the segments the stack sent back within wait s."""
        sn = sniffer(self.iface, self._filter())
        send(pkt, iface=self.iface)
        time.sleep(wait)
        got = collect(sn)
        return [p for p in got if TCP in p]

    def seg(self, flags, payload=b"", seq=None, ack=None, options=None):
        o = options
        if o is None:
            o = []
            if self.ts:
                self.tsval += 1
                o = [("NOP", None), ("NOP", None), ("Timestamp", (self.tsval, self.ts_recent))]
        p = IP(dst=self.dst) / TCP(sport=self.sport, dport=self.dport, flags=flags,
                                   seq=self.seq if seq is None else seq,
                                   ack=(self.rcv_nxt or 0) if ack is None else ack,
                                   window=65535, options=o)
        if payload:
            p = p / Raw(payload)
        return p

    def syn(self):
        got = self.exchange(self.seg("S", ack=0, options=self.syn_opts), wait=0.5)
        synack = [p for p in got if p[TCP].flags & 0x12 == 0x12]
        return synack[0] if synack else None

    def complete(self, synack):
        self.seq += 1
        self.rcv_nxt = synack[TCP].seq + 1
        o = opts(synack)
        if "Timestamp" in o:
            self.ts_recent = o["Timestamp"][0]
        send(self.seg("A"), iface=self.iface)

    def data(self, payload, wait=0.6):
        got = self.exchange(self.seg("PA", payload), wait=wait)
        self.data_tsval = self.tsval
        self.seq += len(payload)
        for p in got:
            if len(p[TCP].payload):
                end = p[TCP].seq + len(bytes(p[TCP].payload))
                if end > self.rcv_nxt:
                    self.rcv_nxt = end
                o = opts(p)
                if "Timestamp" in o:
                    self.ts_recent = o["Timestamp"][0]
        if any(len(p[TCP].payload) for p in got):
            send(self.seg("A"), iface=self.iface)  # or the stack retransmits
        return got


def echoed(segs):
    return b"".join(bytes(p[TCP].payload) for p in sorted(segs, key=lambda p: p[TCP].seq)
                    if len(p[TCP].payload))


def passive(iface, stack, port, closed, mac):
    # ARP: the stack answers for its address with its MAC.
    r = srp1(Ether(dst="ff:ff:ff:ff:ff:ff", src=get_if_hwaddr(iface)) / ARP(pdst=stack),
             iface=iface, timeout=2)
    report(r is not None and ARP in r and r[ARP].op == 2 and r[ARP].psrc == stack
           and r[ARP].hwsrc.lower() == mac.lower(), "ARP request answered with the stack's MAC",
           r.summary() if r is not None else "no reply")

    # ICMP echo: reply with the same identifier, sequence and payload.
    sn = sniffer(iface, f"icmp and src host {stack}")
    send(IP(dst=stack) / ICMP(id=0x4242, seq=7) / Raw(b"bulkhead-ping"), iface=iface)
    time.sleep(0.5)
    got = collect(sn)
    ok = any(ICMP in p and p[ICMP].type == 0 and p[ICMP].id == 0x4242 and p[ICMP].seq == 7
             and bytes(p[ICMP].payload) == b"bulkhead-ping" for p in got)
    report(ok, "ICMP echo request answered with identical id, seq and payload",
           f"{len(got)} replies")

    # A SYN to a port nobody listens on: RST|ACK acknowledging the SYN.
    p = Peer(iface, stack, closed, [("MSS", 1460)])
    got = p.exchange(p.seg("S", ack=0, options=[("MSS", 1460)]))
    rst = [g for g in got if g[TCP].flags & 0x04]
    report(len(rst) == 1 and rst[0][TCP].flags & 0x10 and rst[0][TCP].ack == p.seq + 1
           and rst[0][TCP].seq == 0, "SYN to a closed port gets RST|ACK with ACK = SEQ + 1",
           [g.summary() for g in got])
    # An ACK to a closed port: RST with SEQ = SEG.ACK, no ACK flag.
    got = p.exchange(p.seg("A", seq=p.seq + 5, ack=123456))
    rst = [g for g in got if g[TCP].flags & 0x04]
    report(len(rst) == 1 and not rst[0][TCP].flags & 0x10 and rst[0][TCP].seq == 123456,
           "ACK to a closed port gets RST with SEQ = SEG.ACK", [g.summary() for g in got])
    # An RST to a closed port: no answer.
    got = p.exchange(p.seg("R", seq=p.seq + 5, ack=0), wait=0.4)
    report(not got, "RST to a closed port is not answered", [g.summary() for g in got])

    # Every option offered: all of them come back in the SYN-ACK.
    full = [("MSS", 1200), ("SAckOK", b""), ("Timestamp", (1000, 0)), ("NOP", None),
            ("WScale", 7)]
    p = Peer(iface, stack, port, full, ts=True)
    sa = p.syn()
    report(sa is not None, "SYN with MSS, SACK-permitted, timestamps, window scale: SYN-ACK")
    if sa is None:
        return
    o = opts(sa)
    report(sa[TCP].ack == p.seq + 1, "SYN-ACK acknowledges the SYN", sa[TCP].ack)
    report(o.get("MSS") == 1460, "SYN-ACK MSS = MTU 1500 - 40", o)
    report("SAckOK" in o, "SYN-ACK offers SACK-permitted back", o)
    report("WScale" in o and 0 <= o["WScale"] <= 14, "SYN-ACK carries a window scale", o)
    report("Timestamp" in o and o["Timestamp"][1] == 1000, "SYN-ACK echoes TSval in TSecr", o)
    report(sa[TCP].window <= 65535, "SYN-ACK window unscaled", sa[TCP].window)
    shift = o.get("WScale", 0)
    p.complete(sa)
    segs = p.data(b"hello, bulkhead")
    report(echoed(segs) == b"hello, bulkhead", "data echoed on the negotiated connection",
           echoed(segs))
    withdata = [s for s in segs if len(s[TCP].payload)]
    report(bool(withdata) and all("Timestamp" in opts(s) for s in segs),
           "every segment carries timestamps when both offered them", [opts(s) for s in segs])
    report(bool(withdata) and opts(withdata[0])["Timestamp"][1] == p.data_tsval,
           "TSecr echoes our latest TSval", [opts(s) for s in withdata])
    win = max((s[TCP].window for s in segs), default=0) << shift
    report(64 * 1024 < win <= 4 << 20, "window scaled by the advertised shift",
           f"{win} (field x 2^{shift})")
    # RFC 5961 §3.2: an RST in the window but not at RCV.NXT: challenge ACK.
    got = p.exchange(p.seg("R", seq=p.seq + 1000, ack=0, options=[]))
    chal = [g for g in got if g[TCP].flags & 0x10 and not g[TCP].flags & 0x04]
    report(len(chal) >= 1 and chal[0][TCP].ack == p.seq,
           "in-window RST not at RCV.NXT: challenge ACK (RFC 5961 3.2)", [g.summary() for g in got])
    # An RST far outside the window: silently dropped.
    got = p.exchange(p.seg("R", seq=(p.seq + 2**30) % 2**32, ack=0, options=[]), wait=0.4)
    report(not got, "RST outside the window: dropped", [g.summary() for g in got])
    # RFC 5961 §4.2: a SYN on a synchronized connection: challenge ACK.
    got = p.exchange(p.seg("S", seq=p.seq + 77, ack=0, options=[("MSS", 1200)]))
    chal = [g for g in got if g[TCP].flags & 0x10 and not g[TCP].flags & 0x06]
    report(len(chal) >= 1 and chal[0][TCP].ack == p.seq,
           "SYN on an established connection: challenge ACK (RFC 5961 4.2)",
           [g.summary() for g in got])
    # The connection survived all of that.
    segs = p.data(b"still here")
    report(echoed(segs) == b"still here", "connection alive after bad RSTs and SYN", echoed(segs))
    # RFC 2883: a duplicate is reported once, as the first SACK block (D-SACK):
    # an old one alone; an out-of-order one held already, then the range
    # holding it.
    old = p.seq - len(b"still here")
    got = p.exchange(p.seg("PA", b"still here", seq=old))
    ds = [opts(g).get("SAck") for g in got]
    report(any(d and tuple(d[:2]) == (old, old + 10) for d in ds),
           "an old duplicate is answered with a D-SACK of it (RFC 2883)", ds)
    ahead = p.seq + 100
    first = p.exchange(p.seg("PA", b"x" * 10, seq=ahead))
    got = p.exchange(p.seg("PA", b"x" * 10, seq=ahead))
    ds = [opts(g).get("SAck") for g in got]
    report(any(d and tuple(d[:4]) == (ahead, ahead + 10, ahead, ahead + 10) for d in ds) and
           bool(first) and all(tuple((opts(g).get("SAck") or (0, 0))[:2]) == (ahead, ahead + 10) for g in first),
           "an out-of-order duplicate: D-SACK, then its range (the first copy: its range only)",
           [opts(g).get("SAck") for g in first] + ds)
    # RFC 5961 §5.2: an ACK acknowledging data never sent: ACK, dropped.
    got = p.exchange(p.seg("A", ack=(p.rcv_nxt + 2**20) % 2**32))
    report(any(g[TCP].flags & 0x10 and g[TCP].ack == p.seq for g in got) and
           not any(g[TCP].flags & 0x04 for g in got),
           "ACK for unsent data: answered with an ACK, no reset", [g.summary() for g in got])
    # An exact RST: the connection is gone; more data gets a RST.
    send(p.seg("R", ack=0, options=[]), iface=p.iface)
    time.sleep(0.2)
    got = p.exchange(p.seg("PA", b"after reset"))
    report(any(g[TCP].flags & 0x04 for g in got), "RST at RCV.NXT closes: later data gets RST",
           [g.summary() for g in got])

    # Only MSS offered: no option comes back but MSS; no timestamps after.
    p = Peer(iface, stack, port, [("MSS", 1000)])
    sa = p.syn()
    report(sa is not None, "SYN with MSS only: SYN-ACK")
    if sa is None:
        return
    o = opts(sa)
    report(set(o) == {"MSS"}, "SYN-ACK carries MSS only (no WS, SACK, TS unless offered)", o)
    p.complete(sa)
    blob = bytes(random.getrandbits(8) for _ in range(3000))
    segs = []
    for i in range(0, len(blob), 1000):
        segs += p.data(blob[i:i + 1000], wait=0.3)
    time.sleep(0.3)
    report(echoed(segs) == blob, "3000 bytes echoed without options", len(echoed(segs)))
    report(all("Timestamp" not in opts(s) for s in segs), "no timestamps when not agreed",
           [opts(s) for s in segs])
    report(all(len(s[TCP].payload) <= 1000 for s in segs), "segments respect our MSS of 1000",
           [len(s[TCP].payload) for s in segs])
    report(all(s[TCP].window <= 65535 for s in segs), "windows unscaled without WS")
    send(p.seg("R", ack=0, options=[]), iface=p.iface)


def active(iface, stack, port, ready):
    """Play the server for a connection the stack opens (tcp-source --connect)."""
    seen = {}

    def on(pkt):
        if TCP not in pkt or pkt[IP].src != stack:
            return
        t = pkt[TCP]
        if t.flags & 0x02 and not t.flags & 0x10 and "syn" not in seen:
            seen["syn"] = pkt
            seen["iss"] = random.randint(1, 2**31)
            # Answer with no options at all: the stack must fall back to
            # MSS 536, no timestamps, no scaling, no SACK.
            send(IP(dst=stack) / TCP(sport=port, dport=t.sport, flags="SA", seq=seen["iss"],
                                     ack=t.seq + 1, window=8192), iface=iface)
            seen["rcv_nxt"] = t.seq + 1
        elif "syn" in seen and t.dport == port and not t.flags & 0x02:
            seen.setdefault("after", []).append(pkt)
            if len(t.payload) or t.flags & 0x01:
                end = t.seq + len(t.payload) + (1 if t.flags & 0x01 else 0)
                if t.seq <= seen["rcv_nxt"] < end or t.seq == seen["rcv_nxt"]:
                    seen["rcv_nxt"] = max(seen["rcv_nxt"], end)
                send(IP(dst=stack) / TCP(sport=port, dport=t.sport, flags="A",
                                         seq=seen["iss"] + 1, ack=seen["rcv_nxt"], window=8192),
                     iface=iface)

    sn = sniffer(iface, f"tcp and src host {stack} and dst port {port}", prn=on, store=False)
    open(ready, "w").close()
    t0 = time.time()
    while time.time() - t0 < 12:
        after = seen.get("after", [])
        if any(p[TCP].flags & 0x01 for p in after):
            break
        time.sleep(0.1)
    time.sleep(0.3)
    collect(sn)
    syn = seen.get("syn")
    report(syn is not None, "the stack's active open sends a SYN")
    if syn is None:
        return
    o = opts(syn)
    report(o.get("MSS") == 1460 and "SAckOK" in o and "Timestamp" in o and "WScale" in o,
           "the stack's SYN offers MSS 1460, SACK-permitted, timestamps, window scale", o)
    report(syn[TCP].window <= 65535, "SYN window unscaled", syn[TCP].window)
    after = seen.get("after", [])
    data = [p for p in after if len(p[TCP].payload)]
    report(bool(after) and after[0][TCP].ack == seen["iss"] + 1 and after[0][TCP].flags & 0x10,
           "the stack ACKs our SYN-ACK", [p.summary() for p in after[:2]])
    report(all("Timestamp" not in opts(p) for p in after),
           "no timestamps after a SYN-ACK without them", [opts(p) for p in after[:3]])
    report(bool(data) and all(len(p[TCP].payload) <= 536 for p in data),
           "segments no larger than the default MSS 536 when the peer sent no MSS",
           sorted({len(p[TCP].payload) for p in data}))
    report(any(p[TCP].flags & 0x01 for p in after), "the stack closes with a FIN")
    total = sum(len(p[TCP].payload) for p in {p[TCP].seq: p for p in data}.values())
    report(total == 4000, "4000 bytes arrived", total)


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "passive":
        passive(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6])
    else:
        active(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
