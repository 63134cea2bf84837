/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the TCP stack (lib/tcp/tcp_conn.h), driven only
 * through its public API and the frames it sends through tcp_io.
 *
 * One stack per input: address 198.18.0.1/24, a listener on port 80, the ARP
 * entry of peer 1 (198.18.0.2) primed by an ARP request from it, and one
 * active connection opened to peer 1 port 443 (SYN-SENT). Peer 2
 * (198.18.0.3) is unknown to ARP, so segments to it wait on resolution.
 *
 * Input: one configuration byte, then records until the input ends (a record
 * cut short ends the run). A record is an opcode byte (taken modulo 16, so
 * every byte is an opcode) and its arguments, big-endian:
 *
 *   0 RAW      len:2 bytes:len      an Ethernet frame as is (len & 0x3fff,
 *                                   cut to what is left of the input)
 *   1 SEG      slot:1 flags:1 ctl:1 seq:2 ack:2 win:2 optarg:1 paylen:2
 *                                   [optarg % 41 option bytes if ctl asks]
 *              a TCP segment from the peer of slot % 8, built well-formed
 *              (IPv4 and TCP checksums right) towards the stack:
 *                seq = the stack's last ACK on the slot (its RCV.NXT; the
 *                      slot's own ISN before the stack acked anything)
 *                      + (int16)seq, ack = past the highest sequence number
 *                      the stack sent on the slot + (int16)ack; both offsets
 *                      shifted left 16 when ctl bit 0 is set;
 *                ctl bits 1-2: options: 0 raw bytes from the input, 1 SYN
 *                      options chosen by optarg (bit 0 MSS, 1 WS with shift
 *                      optarg >> 4, 2 SACK-permitted, 3 timestamps), 2
 *                      timestamps (TSecr the stack's last TSval, or 0 if
 *                      optarg bit 0), 3 timestamps and (optarg & 3) + 1
 *                      SACK blocks (at most 3) of ((optarg >> 2) + 1) * 100
 *                      bytes above the segment's ACK, with holes between;
 *                ctl bit 3: 4 bytes of IPv4 options; 4: 8 bytes of
 *                      Ethernet padding; 5: a fragment (MF); 6: ECN CE in
 *                      the TOS; 7: a wrong TCP checksum;
 *                payload: paylen % 2048 bytes, each the low byte of its own
 *                      sequence number (so any stream read back is
 *                      1, 2, 3, ... modulo 256 whatever the segmentation);
 *   2 TIME     step:2               advance the clock (0: to the next timer;
 *                                   bit 15 set: seconds, else ms), run timers
 *   3 ACCEPT   sel:1                tcp_accept on port 80 (sel bit 0: 81)
 *   4 SEND     h:1 len:2            tcp_send of len bytes on handle h % 8
 *   5 RECV     h:1 len:2            tcp_recv of up to len bytes
 *   6 CLOSE    h:1                  tcp_close
 *   7 ABORT    h:1                  tcp_abort
 *   8 SHUTDOWN h:1                  tcp_shutdown_write
 *   9 SETOPT   h:1 opt:1 val:2      tcp_conn_setopt(opt % 8, val; x64 for
 *                                   the buffer sizes)
 *  10 CONNECT  sel:1                tcp_connect: bit 0 port 444 (else 443);
 *                                   bits 1-2 the local port (ephemeral, 80
 *                                   towards port 40000, 50000, 50001);
 *                                   bit 3 to peer 2, bit 4 to peer 3
 *                                   (198.18.0.4, never answers); becomes
 *                                   slot 7
 *  11 ARP      sel:1                an ARP frame from peer 1 (bit 0: peer 2):
 *                                   bit 1 a reply (else a request), bit 2
 *                                   from another MAC, bit 3 for another
 *                                   target address, bit 4 gratuitous; the
 *                                   sender is bit 5 peer 3, bit 7 our own
 *                                   address, both 198.19.0.9 (off the
 *                                   subnet); bit 6 a broadcast sender MAC
 *  12 PING     sel:1 len:1          ICMP echo from peer 1 (bit 0: peer 2),
 *                                   bit 1 to the broadcast address, bit 2
 *                                   wrong checksum, bit 3 UDP instead, bit 4
 *                                   payload len * 8 (else len), bit 5 ICMP
 *                                   type 13, bit 6 cut to 4 bytes, bit 7
 *                                   from 127.0.0.1
 *  13 LISTEN   sel:1                sel % 4: unlisten 80, listen 80, listen
 *                                   81 (backlog 1), unlisten 81
 *  14 TXFAIL   n:1                  tcp_io refuses the next n % 16 frames
 *  15 DRAIN    n:1                  jump to the next timer and run it,
 *                                   n % 32 + 1 times
 *
 * Configuration byte: bit 0 no window scaling, 1 no SACK, 2 no timestamps,
 * 3 CUBIC, 4 small buffers (4 KiB, 2 out-of-order ranges, 48 chunks) and
 * MTU 576, 5 no ARP priming, 6 no delayed ACK and no SYN cookies, 7 tight
 * limits (4 connections, backlog 2, 2 ARP entries).
 *
 * Slots (the peers' ends): 0-3 peer 1 ports 40000-40003 to port 80 (slot 3
 * starts its sequence numbers just below 2^32), 4 the active connection
 * (peer 1 port 443), 5 peer 1 port 40100 to port 81, 6 peer 2 port 40000 to
 * port 80, 7 the last CONNECT (peer 1 port 444 to 50000 before any).
 *
 * The run aborts (a finding) on a sanitizer report or when:
 *   - a frame the stack sends is malformed: bad IPv4 or TCP checksum, bad
 *     lengths, options running past the header, SYN with RST or FIN, payload
 *     on a RST or without ACK, not from our address or MAC;
 *   - a payload byte the stack sends is not the byte tcp_send was given at
 *     that stream offset (SEND writes a known pattern);
 *   - bytes read back are not in sequence (1, 2, 3, ...), data arrives after
 *     end of stream, or tcp_recv returns more than was readable;
 *   - counters disagree: tcp_net's rx_frames != sum(IN) + sum(DROP); the
 *     stack's not_tcp != tcp_net drops + UDP; tcp_net's tcp != bad_cksum +
 *     bad_hdr + no_conn + seg_in; segment drops > seg_in; connections
 *     allocated != opens - frees, or above max_conns; seg_out / rst_sent
 *     != the TCP / RST frames tcp_io saw; chunks above the pool cap;
 *   - readiness disagrees with state (readable without IN, writable without
 *     OUT, an error while not CLOSED), an event names a connection the user
 *     does not hold or a port not listened on, a timer is still due after
 *     tcp_stack_timer ran;
 *   - tcp_stack_destroy reports leaked chunks (after every handle is closed).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/tcp/tcp_conn.h"

#define MS 1000000ull
#define SEC 1000000000ull
#define IP4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))
#define OUR_IP IP4(198, 18, 0, 1)
#define PEER1_IP IP4(198, 18, 0, 2)
#define PEER2_IP IP4(198, 18, 0, 3)
#define PEER3_IP IP4(198, 18, 0, 4)
#define BCAST_IP IP4(198, 18, 0, 255)
#define PORT_A 80
#define PORT_B 81
#define NSLOT 8
#define NHANDLE 8
#define NOPS 16
#define MAX_FRAME 16384

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_PSH 0x08
#define TH_ACK 0x10

enum { OP_RAW, OP_SEG, OP_TIME, OP_ACCEPT, OP_SEND, OP_RECV, OP_CLOSE, OP_ABORT,
       OP_SHUTDOWN, OP_SETOPT, OP_CONNECT, OP_ARP, OP_PING, OP_LISTEN, OP_TXFAIL, OP_DRAIN };

static const uint8_t our_mac[6] = {0x02, 0, 0, 0, 0, 0x01};
static const uint8_t peer_macs[4][6] = {{0x02, 0, 0, 0, 0, 0x02},
					  {0x02, 0, 0, 0, 0, 0x03},
					  {0x02, 0, 0, 0, 0, 0x22},
					  {0x02, 0, 0, 0, 0, 0x04}};
static const uint8_t bcast_mac[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

/* A peer's end of one 4-tuple, and what the stack said on it. */
struct slot {
	uint32_t raddr;
	uint16_t rport, lport;
	uint32_t peer_iss;  /* where this peer's sequence numbers start */
	bool ack_known;     /* rcv_ack is valid */
	uint32_t rcv_ack;   /* the ACK field of the stack's last segment */
	uint32_t snd_max;   /* past the highest sequence number the stack sent */
	bool iss_known;     /* iss is the ISN of the connection now on the tuple */
	uint32_t iss;
	uint32_t tsval;     /* the stack's last TSval */
	unsigned syn_gen;   /* SYNs seen from the stack */
};

struct handle {
	struct tcp_conn *c;
	uint16_t lport;
	uint32_t written; /* bytes tcp_send took: the next one is pattern(written) */
	bool have_last, eof;
	uint8_t last;     /* last byte read */
};

struct fz {
	struct tcp_stack *st;
	uint64_t now;
	uint32_t mtu, max_conns;
	size_t pool_max;
	uint32_t backlog;
	bool listening[2];
	struct slot slot[NSLOT];
	struct handle h[NHANDLE];
	unsigned tx_fail_next;
	uint64_t fed, tx_tcp, tx_rst;
	bool tainted; /* a raw frame reached a connection: data checks are off */
	int bind_slot; /* slot for the SYN of a tcp_connect in progress, or -1 */
	uint32_t bind_raddr;
	uint16_t bind_rport;
	uint16_t ip_id;
	const uint8_t *in;
	size_t len, pos;
};

static struct fz Z;
static uint8_t frame_buf[MAX_FRAME];
static uint8_t io_buf[65536];

static void fz_fail(int line, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "fuzz_tcp_stack: check failed (line %d): ", line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}
#define FZ_CHECK(cond, ...)                                                        \
	do {                                                                       \
		if (!(cond))                                                       \
			fz_fail(__LINE__, __VA_ARGS__);                            \
	} while (0)

/* The byte tcp_send is given at stream offset o (period far above 256). */
static uint8_t pattern(uint32_t o)
{
	return (uint8_t)(o * 131u + (o >> 8) * 7u + (o >> 16));
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}
static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}
static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v);
}

/* RFC 1071, written here rather than taken from lib/tcp: the oracle must not
 * share the code it checks. */
static uint32_t sum16(uint32_t s, const uint8_t *p, size_t n)
{
	for (; n > 1; p += 2, n -= 2)
		s += (uint32_t)(p[0] << 8 | p[1]);
	if (n)
		s += (uint32_t)p[0] << 8;
	return s;
}
static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}
static uint32_t pseudo(uint32_t src, uint32_t dst, uint8_t proto, uint32_t len)
{
	return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + proto + len;
}

static bool seq_gt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) > 0;
}

/* ---------------------------------------------------------------------- */
/* Input reader: false once the input is exhausted. */

static bool rd8(uint8_t *v)
{
	if (Z.len - Z.pos < 1)
		return false;
	*v = Z.in[Z.pos++];
	return true;
}
static bool rd16(uint16_t *v)
{
	if (Z.len - Z.pos < 2)
		return false;
	*v = get16(Z.in + Z.pos);
	Z.pos += 2;
	return true;
}

/* ---------------------------------------------------------------------- */
/* Slots and handles */

static struct slot *slot_find(uint32_t raddr, uint16_t rport, uint16_t lport)
{
	for (int i = 0; i < NSLOT; i++) {
		struct slot *s = &Z.slot[i];
		if (s->raddr == raddr && s->rport == rport && s->lport == lport)
			return s;
	}
	return NULL;
}

static void slot_set(int i, uint32_t raddr, uint16_t rport, uint16_t lport, uint32_t iss)
{
	struct slot *s = &Z.slot[i];
	memset(s, 0, sizeof(*s));
	s->raddr = raddr;
	s->rport = rport;
	s->lport = lport;
	s->peer_iss = iss;
}

static int handle_of(const struct tcp_conn *c)
{
	for (int i = 0; i < NHANDLE; i++)
		if (Z.h[i].c == c)
			return i;
	return -1;
}

static int handle_add(struct tcp_conn *c)
{
	int i = handle_of(NULL);
	struct tcp_tuple t;
	tcp_conn_tuple(c, &t);
	FZ_CHECK(t.laddr == OUR_IP, "connection with local address %08x", t.laddr);
	FZ_CHECK(tcp_conn_user(c) == NULL, "a new connection has a user pointer");
	memset(&Z.h[i], 0, sizeof(Z.h[i]));
	Z.h[i].c = c;
	Z.h[i].lport = t.lport;
	tcp_conn_set_user(c, &Z.h[i]);
	return i;
}

/* Reads a handle number: false at the end of the input; *out is NULL if
 * the handle is not in use. */
static bool handle_arg(struct handle **out)
{
	uint8_t b;
	if (!rd8(&b))
		return false;
	struct handle *h = &Z.h[b % NHANDLE];
	*out = h->c ? h : NULL;
	return true;
}

/* ---------------------------------------------------------------------- */
/* What the stack sends */

/* Walk TCP options; false if one runs past the header. Records a TSval. */
static bool out_opts(const uint8_t *o, unsigned n, bool syn, uint32_t *tsval, bool *ts)
{
	*ts = false;
	for (unsigned i = 0; i < n;) {
		if (o[i] == 0)
			break;
		if (o[i] == 1) {
			i++;
			continue;
		}
		if (i + 1 >= n || o[i + 1] < 2 || i + o[i + 1] > n)
			return false;
		unsigned k = o[i], l = o[i + 1];
		if ((k == 2 && l != 4) || (k == 3 && l != 3) || (k == 4 && l != 2) ||
		    (k == 8 && l != 10) || (k == 5 && (l < 10 || (l - 2) % 8)))
			return false;
		if (!syn && (k == 2 || k == 3 || k == 4))
			return false; /* SYN-only options on another segment */
		if (k == 2 && get16(o + i + 2) + 40u > Z.mtu)
			return false; /* an MSS the MTU cannot carry */
		if (k == 3 && o[i + 2] > 14)
			return false;
		if (k == 8) {
			*ts = true;
			*tsval = get32(o + i + 2);
		}
		i += l;
	}
	return true;
}

static void out_tcp(const uint8_t *ip, uint32_t tot)
{
	const uint8_t *t = ip + 20;
	uint32_t l4 = tot - 20;
	FZ_CHECK(l4 >= 20, "TCP segment of %u bytes", l4);
	FZ_CHECK(fold(sum16(pseudo(get32(ip + 12), get32(ip + 16), 6, l4), t, l4)) == 0,
		 "TCP checksum wrong in a segment sent");
	unsigned hl = (unsigned)(t[12] >> 4) * 4;
	FZ_CHECK(hl >= 20 && hl <= l4, "TCP data offset %u in %u bytes", hl, l4);
	uint8_t fl = t[13];
	uint32_t plen = l4 - hl, seq = get32(t + 4);
	FZ_CHECK(!((fl & TH_SYN) && (fl & (TH_RST | TH_FIN))), "flags %02x sent", fl);
	FZ_CHECK(!(plen && (fl & TH_RST)), "RST with %u bytes of payload", plen);
	FZ_CHECK(!(plen && !(fl & TH_ACK)), "payload without ACK (flags %02x)", fl);
	FZ_CHECK(!(plen && (fl & TH_SYN)), "SYN with payload");
	uint32_t tsval = 0;
	bool ts;
	FZ_CHECK(out_opts(t + 20, hl - 20, fl & TH_SYN, &tsval, &ts),
		 "malformed options sent (flags %02x)", fl);
	Z.tx_tcp++;
	if (fl & TH_RST)
		Z.tx_rst++;

	struct slot *s = slot_find(get32(ip + 16), get16(t + 2), get16(t));
	if (!s && Z.bind_slot >= 0 && (fl & (TH_SYN | TH_ACK)) == TH_SYN &&
	    get32(ip + 16) == Z.bind_raddr && get16(t + 2) == Z.bind_rport) {
		/* tcp_connect's SYN: bind the pending slot to its tuple. */
		s = &Z.slot[Z.bind_slot];
		slot_set(Z.bind_slot, Z.bind_raddr, Z.bind_rport, get16(t),
			 0x10000000u * (uint32_t)(Z.bind_slot + 1));
	}
	if (!s)
		return;
	if (ts)
		s->tsval = tsval;
	if (fl & TH_RST)
		return; /* its numbers may be the peer's, not the connection's */
	if (fl & TH_ACK) {
		s->ack_known = true;
		s->rcv_ack = get32(t + 8);
	}
	if (fl & TH_SYN) {
		s->iss = seq;
		s->iss_known = true;
		s->snd_max = seq + 1;
		s->syn_gen++;
		return;
	}
	uint32_t end = seq + plen + ((fl & TH_FIN) ? 1u : 0u);
	if (seq_gt(end, s->snd_max))
		s->snd_max = end;
	if (plen && s->iss_known) {
		const uint8_t *p = t + hl;
		for (uint32_t i = 0; i < plen; i++) {
			uint32_t off = seq + i - s->iss - 1;
			FZ_CHECK(p[i] == pattern(off),
				 "byte at stream offset %u sent as %02x, tcp_send was given %02x "
				 "(seq %u, iss %u, port %u)",
				 off, p[i], pattern(off), seq + i, s->iss, s->rport);
		}
	}
}

static void out_frame(const uint8_t *f, uint32_t len)
{
	FZ_CHECK(len >= 14 && len <= 14u + Z.mtu, "frame of %u bytes sent", len);
	FZ_CHECK(!memcmp(f + 6, our_mac, 6), "frame sent from another MAC");
	uint16_t type = get16(f + 12);
	if (type == 0x0806) {
		const uint8_t *a = f + 14;
		FZ_CHECK(len >= 42 && get16(a) == 1 && get16(a + 2) == 0x0800 && a[4] == 6 &&
			     a[5] == 4 && (get16(a + 6) == 1 || get16(a + 6) == 2),
			 "malformed ARP sent");
		FZ_CHECK(!memcmp(a + 8, our_mac, 6) && get32(a + 14) == OUR_IP,
			 "ARP sent for someone else");
		return;
	}
	FZ_CHECK(type == 0x0800, "ethertype %04x sent", type);
	const uint8_t *ip = f + 14;
	FZ_CHECK(len >= 34 && ip[0] == 0x45, "IPv4 header %02x sent", len >= 15 ? ip[0] : 0);
	uint32_t tot = get16(ip + 2);
	FZ_CHECK(tot >= 20 && tot <= len - 14, "IPv4 total length %u in a %u-byte frame", tot, len);
	FZ_CHECK(fold(sum16(0, ip, 20)) == 0, "IPv4 header checksum wrong in a frame sent");
	FZ_CHECK(get32(ip + 12) == OUR_IP, "IPv4 sent from %08x", get32(ip + 12));
	FZ_CHECK((get16(ip + 6) & 0x3fff) == 0, "fragment sent");
	if (ip[9] == 1) {
		FZ_CHECK(tot >= 28 && fold(sum16(0, ip + 20, tot - 20)) == 0 && ip[20] == 0,
			 "ICMP sent is not a well-formed echo reply");
		return;
	}
	FZ_CHECK(ip[9] == 6, "IPv4 protocol %u sent", ip[9]);
	out_tcp(ip, tot);
}

static int fz_tx(void *ctx, const uint8_t *frame, uint32_t len)
{
	(void)ctx;
	out_frame(frame, len);
	if (Z.tx_fail_next) {
		Z.tx_fail_next--;
		return -ENOBUFS;
	}
	return 0;
}

static void fz_event(void *ctx, struct tcp_conn *c, uint16_t lport, unsigned ev)
{
	(void)ctx;
	FZ_CHECK(ev && !(ev & ~0x3fu), "event mask %x", ev);
	if (!c) {
		FZ_CHECK((lport == PORT_A && Z.listening[0]) || (lport == PORT_B && Z.listening[1]),
			 "accept event for port %u, not listened on", lport);
		return;
	}
	int i = handle_of(c);
	FZ_CHECK(i >= 0, "event %x for a connection the user does not hold", ev);
	FZ_CHECK(Z.h[i].lport == lport, "event names port %u, the connection is on %u", lport,
		 Z.h[i].lport);
}

/* ---------------------------------------------------------------------- */
/* Input to the stack */

/* Feed one frame from an exact-size copy, so that an over-read is caught by
 * AddressSanitizer. */
static void feed(const uint8_t *f, uint32_t len)
{
	uint8_t *copy = malloc(len ? len : 1);
	if (!copy)
		abort();
	memcpy(copy, f, len);
	Z.now += 10000; /* 10 us a frame: RTT samples are not all zero */
	Z.fed++;
	tcp_stack_input(Z.st, copy, len, Z.now);
	free(copy);
}

static void eth_hdr(uint8_t *f, const uint8_t *dst, const uint8_t *src, uint16_t type)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	put16(f + 12, type);
}

static void ip_hdr(uint8_t *ip, unsigned ihl, uint8_t tos, uint32_t tot, uint16_t frag,
		   uint8_t proto, uint32_t src, uint32_t dst)
{
	ip[0] = (uint8_t)(0x40 | ihl / 4);
	ip[1] = tos;
	put16(ip + 2, tot);
	put16(ip + 4, ++Z.ip_id);
	put16(ip + 6, frag);
	ip[8] = 64;
	ip[9] = proto;
	put16(ip + 10, 0);
	put32(ip + 12, src);
	put32(ip + 16, dst);
	for (unsigned i = 20; i < ihl; i++)
		ip[i] = i + 1 < ihl ? 1 : 0; /* NOPs, then EOL */
	put16(ip + 10, fold(sum16(0, ip, ihl)));
}

static const uint8_t *peer_mac(uint32_t ip)
{
	return ip == PEER2_IP ? peer_macs[1] : ip == PEER3_IP ? peer_macs[3] : peer_macs[0];
}

static unsigned build_opts(uint8_t *o, unsigned mode, uint8_t arg, const struct slot *s,
			   bool has_ack, uint32_t ack, bool *ok)
{
	unsigned n = 0;
	uint32_t tsval = (uint32_t)(Z.now / MS) + 1000u;
	*ok = true;
	switch (mode) {
	case 0: {
		unsigned k = arg % 41u;
		if (Z.len - Z.pos < k) {
			*ok = false;
			return 0;
		}
		memcpy(o, Z.in + Z.pos, k);
		Z.pos += k;
		n = k;
		break;
	}
	case 1:
		if (arg & 1) {
			o[n++] = 2, o[n++] = 4;
			put16(o + n, Z.mtu - 40);
			n += 2;
		}
		if (arg & 4) {
			o[n++] = 4, o[n++] = 2;
		} else if (arg & 8) {
			o[n++] = 1, o[n++] = 1;
		}
		if (arg & 8) {
			o[n++] = 8, o[n++] = 10;
			put32(o + n, tsval);
			put32(o + n + 4, has_ack ? s->tsval : 0);
			n += 8;
		}
		if (arg & 2) {
			o[n++] = 1, o[n++] = 3, o[n++] = 3;
			o[n++] = (uint8_t)(arg >> 4);
		}
		break;
	case 2:
	case 3:
		o[n++] = 1, o[n++] = 1, o[n++] = 8, o[n++] = 10;
		put32(o + n, tsval + (arg >> 1));
		put32(o + n + 4, (arg & 1) ? 0 : s->tsval);
		n += 8;
		if (mode == 3) {
			unsigned nb = (arg & 3) + 1u, step = ((arg >> 2) + 1u) * 100u;
			if (nb > 3)
				nb = 3;
			o[n++] = 1, o[n++] = 1, o[n++] = 5, o[n++] = (uint8_t)(2 + 8 * nb);
			/* Blocks above the ACK, leaving holes: what a receiver
			 * that lost the segment at the ACK point sends. */
			for (unsigned i = 0; i < nb; i++) {
				put32(o + n, ack + (2 * i + 1) * step);
				put32(o + n + 4, ack + (2 * i + 2) * step);
				n += 8;
			}
		}
		break;
	}
	while (n % 4)
		o[n++] = 0;
	return n;
}

static bool op_seg(void)
{
	uint8_t sl, fl, ctl, optarg;
	uint16_t so, ao, win, plen;
	if (!rd8(&sl) || !rd8(&fl) || !rd8(&ctl) || !rd16(&so) || !rd16(&ao) || !rd16(&win) ||
	    !rd8(&optarg) || !rd16(&plen))
		return false;
	struct slot *s = &Z.slot[sl % NSLOT];
	unsigned sh = (ctl & 1) ? 16 : 0;
	uint32_t seq = (s->ack_known ? s->rcv_ack : s->peer_iss) + ((uint32_t)(int32_t)(int16_t)so << sh);
	uint32_t ack = s->snd_max + ((uint32_t)(int32_t)(int16_t)ao << sh);
	uint8_t opt[44];
	bool ok;
	unsigned olen = build_opts(opt, (ctl >> 1) & 3u, optarg, s, fl & TH_ACK, ack, &ok);
	if (!ok)
		return false;
	unsigned ihl = (ctl & 8) ? 24 : 20;
	unsigned pad = (ctl & 16) ? 8 : 0;
	uint32_t pay = plen % 2048u;
	uint32_t l4 = 20 + olen + pay;
	uint8_t *f = frame_buf, *ip = f + 14, *t = ip + ihl;
	eth_hdr(f, our_mac, peer_mac(s->raddr), 0x0800);
	ip_hdr(ip, ihl, (ctl & 64) ? 3 : 0, ihl + l4, (ctl & 32) ? 0x2000 : 0x4000, 6, s->raddr,
	       OUR_IP);
	put16(t, s->rport);
	put16(t + 2, s->lport);
	put32(t + 4, seq);
	put32(t + 8, ack);
	t[12] = (uint8_t)(((20 + olen) / 4) << 4);
	t[13] = fl;
	put16(t + 14, win);
	put16(t + 16, 0);
	put16(t + 18, 0);
	memcpy(t + 20, opt, olen);
	/* Each payload byte is the low byte of its sequence number. */
	uint32_t dseq = seq + ((fl & TH_SYN) ? 1u : 0u);
	for (uint32_t i = 0; i < pay; i++)
		t[20 + olen + i] = (uint8_t)(dseq + i);
	uint16_t ck = fold(sum16(pseudo(s->raddr, OUR_IP, 6, l4), t, l4));
	if (ctl & 128)
		ck ^= 1;
	put16(t + 16, ck);
	memset(t + l4, 0xa5, pad);
	uint32_t passive = (uint32_t)tcp_stack_counters(Z.st)[TCP_C_passive_opens];
	unsigned gen = s->syn_gen;
	feed(f, 14 + ihl + l4 + pad);
	if (tcp_stack_counters(Z.st)[TCP_C_passive_opens] != passive && s->syn_gen == gen) {
		if (fl & TH_SYN) {
			s->iss_known = false; /* a new connection, SYN-ACK unseen */
		} else {
			/* Rebuilt from a SYN cookie: the ACK acked its ISN. */
			s->iss = ack - 1;
			s->iss_known = true;
		}
	}
	return true;
}

static bool op_raw(void)
{
	uint16_t n;
	if (!rd16(&n))
		return false;
	size_t k = n & 0x3fff;
	if (k > Z.len - Z.pos)
		k = Z.len - Z.pos;
	const uint64_t *c = tcp_stack_counters(Z.st);
	uint64_t seg_in = c[TCP_C_seg_in], passive = c[TCP_C_passive_opens];
	unsigned gen[NSLOT];
	for (int i = 0; i < NSLOT; i++)
		gen[i] = Z.slot[i].syn_gen;
	feed(Z.in + Z.pos, (uint32_t)k);
	Z.pos += k;
	if (c[TCP_C_seg_in] != seg_in)
		Z.tainted = true;
	if (c[TCP_C_passive_opens] != passive)
		for (int i = 0; i < NSLOT; i++)
			if (Z.slot[i].syn_gen == gen[i])
				Z.slot[i].iss_known = false;
	return true;
}

/* An ARP frame from a peer (see ARP in the header for sel). */
static void arp_from_peer(uint8_t sel)
{
	static const uint32_t senders[4] = {0, PEER3_IP, OUR_IP, IP4(198, 19, 0, 9)};
	uint32_t pip = (sel & 0xa0) ? senders[(sel >> 5 & 1) | (sel >> 6 & 2)]
				    : (sel & 1) ? PEER2_IP : PEER1_IP;
	const uint8_t *mac = (sel & 64) ? bcast_mac : (sel & 4) ? peer_macs[2] : peer_mac(pip);
	bool reply = sel & 2;
	uint32_t target = (sel & 16) ? pip : (sel & 8) ? IP4(198, 18, 0, 77) : OUR_IP;
	uint8_t *f = frame_buf, *a = f + 14;
	memset(f, 0, 60);
	eth_hdr(f, reply ? our_mac : bcast_mac, mac, 0x0806);
	put16(a, 1);
	put16(a + 2, 0x0800);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, reply ? 2 : 1);
	memcpy(a + 8, mac, 6);
	put32(a + 14, pip);
	if (reply)
		memcpy(a + 18, our_mac, 6);
	put32(a + 24, target);
	feed(f, 60);
}

static bool op_arp(void)
{
	uint8_t sel;
	if (!rd8(&sel))
		return false;
	arp_from_peer(sel);
	return true;
}

static bool op_ping(void)
{
	uint8_t sel, n;
	if (!rd8(&sel) || !rd8(&n))
		return false;
	uint32_t src = (sel & 128) ? IP4(127, 0, 0, 1) : (sel & 1) ? PEER2_IP : PEER1_IP;
	uint32_t dst = (sel & 2) ? BCAST_IP : OUR_IP;
	uint32_t pay = (sel & 16) ? n * 8u : n;
	bool udp = sel & 8;
	uint32_t l4 = 8 + pay; /* ICMP echo header or UDP header */
	uint8_t *f = frame_buf, *ip = f + 14, *l = ip + 20;
	eth_hdr(f, our_mac, peer_mac(src), 0x0800);
	ip_hdr(ip, 20, 0, 20 + l4, 0x4000, udp ? 17 : 1, src, dst);
	for (uint32_t i = 0; i < pay; i++)
		l[8 + i] = (uint8_t)i;
	uint16_t ck;
	if (udp) {
		put16(l, 5353);
		put16(l + 2, 53);
		put16(l + 4, l4);
		put16(l + 6, 0);
		ck = fold(sum16(pseudo(src, dst, 17, l4), l, l4));
	} else {
		l[0] = (sel & 32) ? 13 : 8;
		l[1] = 0;
		put16(l + 2, 0);
		put16(l + 4, 0x4242);
		put16(l + 6, Z.ip_id);
		ck = fold(sum16(0, l, l4));
	}
	if (sel & 4)
		ck ^= 0x100;
	put16(l + (udp ? 6 : 2), ck);
	if (sel & 64) { /* cut: shorter than an ICMP or UDP header */
		l4 = 4;
		ip_hdr(ip, 20, 0, 20 + l4, 0x4000, udp ? 17 : 1, src, dst);
	}
	feed(f, 34 + l4);
	return true;
}

/* ---------------------------------------------------------------------- */
/* Time */

static void run_timers(void)
{
	tcp_stack_timer(Z.st, Z.now);
	uint64_t next = tcp_stack_next_timer(Z.st);
	FZ_CHECK(next > Z.now, "a timer is still due after tcp_stack_timer (%llu <= %llu)",
		 (unsigned long long)next, (unsigned long long)Z.now);
}

static bool jump_to_next_timer(void)
{
	uint64_t t = tcp_stack_next_timer(Z.st);
	if (t == UINT64_MAX)
		return false;
	if (t > Z.now)
		Z.now = t;
	run_timers();
	return true;
}

static bool op_time(void)
{
	uint16_t step;
	if (!rd16(&step))
		return false;
	if (step == 0) {
		if (!jump_to_next_timer()) {
			Z.now += MS;
			run_timers();
		}
		return true;
	}
	Z.now += (step & 0x8000) ? (uint64_t)(step & 0x7fff) * SEC : (uint64_t)step * MS;
	run_timers();
	return true;
}

static bool op_drain(void)
{
	uint8_t n;
	if (!rd8(&n))
		return false;
	for (unsigned i = 0; i <= n % 32u; i++)
		if (!jump_to_next_timer())
			break;
	return true;
}

/* ---------------------------------------------------------------------- */
/* The user's side */

/* Reads the selector of an op that makes a handle: -1 at the end of the
 * input, 0 if every handle is taken (the op does nothing), else 1. */
static int new_handle_arg(uint8_t *sel)
{
	if (!rd8(sel))
		return -1;
	return handle_of(NULL) >= 0;
}

static bool op_accept(void)
{
	uint8_t sel;
	int r = new_handle_arg(&sel);
	if (r <= 0)
		return r == 0;
	uint16_t port = (sel & 1) ? PORT_B : PORT_A;
	struct tcp_conn *c = tcp_accept(Z.st, port);
	if (c)
		handle_add(c);
	return true;
}

/*
 * tcp_connect, with the tuple bound to slot si unless it has one already.
 * The SYN goes out inside tcp_connect, before the local port is known here:
 * out_tcp binds the pending slot on that SYN so its ISN is learned.
 */
static bool connect_to(uint32_t raddr, uint16_t rport, uint16_t lport, int si)
{
	unsigned gen[NSLOT];
	for (int i = 0; i < NSLOT; i++)
		gen[i] = Z.slot[i].syn_gen;
	unsigned active = (unsigned)tcp_stack_counters(Z.st)[TCP_C_active_opens];
	Z.bind_slot = si;
	Z.bind_raddr = raddr;
	Z.bind_rport = rport;
	struct tcp_conn *c = tcp_connect(Z.st, raddr, rport, lport, Z.now);
	Z.bind_slot = -1;
	FZ_CHECK(!c == (tcp_stack_counters(Z.st)[TCP_C_active_opens] == active),
		 "active_opens disagrees with tcp_connect's result");
	if (!c)
		return false;
	int h = handle_add(c);
	struct slot *s = slot_find(raddr, rport, Z.h[h].lport);
	if (!s) /* the SYN did not go out (ARP, or no route): ISN unknown */
		slot_set(si, raddr, rport, Z.h[h].lport, 0x10000000u * (uint32_t)(si + 1));
	else if (s->syn_gen == gen[s - Z.slot])
		s->iss_known = false; /* a new connection on an old tuple, SYN unseen */
	return true;
}

static bool op_connect(void)
{
	uint8_t sel;
	int r = new_handle_arg(&sel);
	if (r <= 0)
		return r == 0;
	uint32_t raddr = (sel & 16) ? PEER3_IP : (sel & 8) ? PEER2_IP : PEER1_IP;
	uint16_t rport = (sel & 1) ? 444 : 443, lport = 0;
	switch ((sel >> 1) & 3) {
	case 1:
		lport = PORT_A;
		rport = 40000;
		break;
	case 2:
		lport = 50000;
		break;
	case 3:
		lport = 50001;
		break;
	}
	connect_to(raddr, rport, lport, 7);
	return true;
}

/* A handle and a length: -1 at the end of the input, 0 if the handle is not
 * in use (the op does nothing), else 1. */
static int handle_len_args(struct handle **h, uint16_t *n)
{
	if (!handle_arg(h) || !rd16(n))
		return -1;
	return *h != NULL;
}

static bool op_send(void)
{
	struct handle *h;
	uint16_t n;
	int a = handle_len_args(&h, &n);
	if (a <= 0)
		return a == 0;
	for (uint32_t i = 0; i < n; i++)
		io_buf[i] = pattern(h->written + i);
	int r = tcp_send(h->c, io_buf, n, Z.now);
	if (r >= 0) {
		FZ_CHECK((uint32_t)r <= n, "tcp_send took %d of %u bytes", r, n);
		h->written += (uint32_t)r;
	} else {
		FZ_CHECK(r == -ENOTCONN || r == -EPIPE || r == -ECONNRESET || r == -ETIMEDOUT ||
			     r == -ECONNREFUSED,
			 "tcp_send returned %d", r);
	}
	return true;
}

static bool op_recv(void)
{
	struct handle *h;
	uint16_t n;
	int a = handle_len_args(&h, &n);
	if (a <= 0)
		return a == 0;
	uint32_t readable = tcp_conn_readable(h->c);
	int r = tcp_recv(h->c, io_buf, n, Z.now);
	if (r > 0) {
		FZ_CHECK((uint32_t)r <= n && (uint32_t)r <= readable,
			 "tcp_recv returned %d (asked %u, %u readable)", r, n, readable);
		FZ_CHECK(!h->eof || Z.tainted, "tcp_recv returned %d bytes after end of stream", r);
		if (!Z.tainted) {
			for (int i = 0; i < r; i++) {
				FZ_CHECK(!h->have_last || io_buf[i] == (uint8_t)(h->last + 1),
					 "byte read out of sequence: %02x after %02x", io_buf[i],
					 h->last);
				h->last = io_buf[i];
				h->have_last = true;
			}
		}
	} else if (r == 0) {
		if (n) {
			FZ_CHECK(readable == 0, "tcp_recv returned 0 with %u bytes readable", readable);
			h->eof = true;
		}
	} else if (r == -EAGAIN) {
		FZ_CHECK(!n || readable == 0, "tcp_recv: EAGAIN with %u bytes readable", readable);
	} else {
		FZ_CHECK(r == -ECONNRESET || r == -ETIMEDOUT || r == -ECONNREFUSED,
			 "tcp_recv returned %d", r);
	}
	return true;
}

static bool op_close(int op)
{
	struct handle *h;
	if (!handle_arg(&h))
		return false;
	if (!h)
		return true;
	struct tcp_conn *c = h->c;
	if (op == OP_SHUTDOWN) {
		int r = tcp_shutdown_write(c, Z.now);
		FZ_CHECK(r == 0 || r == -ENOTCONN, "tcp_shutdown_write returned %d", r);
		return true;
	}
	h->c = NULL; /* no event may name it from here on */
	if (op == OP_CLOSE)
		tcp_close(c, Z.now);
	else
		tcp_abort(c, Z.now);
	return true;
}

static bool op_setopt(void)
{
	struct handle *h;
	uint8_t o;
	uint16_t v;
	if (!handle_arg(&h) || !rd8(&o) || !rd16(&v))
		return false;
	if (!h)
		return true;
	enum tcp_conn_opt opt = (enum tcp_conn_opt)(o % 8);
	uint32_t val = (opt == TCP_O_SNDBUF || opt == TCP_O_RCVBUF) ? (uint32_t)v * 64u : v;
	int r = tcp_conn_setopt(h->c, opt, val, Z.now);
	FZ_CHECK(r == 0 || r == -EINVAL, "tcp_conn_setopt returned %d", r);
	uint32_t got;
	FZ_CHECK(tcp_conn_getopt(h->c, opt, &got) == 0, "tcp_conn_getopt failed");
	if (r == 0 && opt != TCP_O_RCVBUF && opt != TCP_O_SNDBUF)
		FZ_CHECK(got == val, "option %d set to %u reads back %u", opt, val, got);
	return true;
}

static bool op_listen(void)
{
	uint8_t sel;
	if (!rd8(&sel))
		return false;
	int r;
	switch (sel % 4) {
	case 0:
		r = tcp_unlisten(Z.st, PORT_A, Z.now);
		FZ_CHECK(r == (Z.listening[0] ? 0 : -ENOENT), "tcp_unlisten returned %d", r);
		Z.listening[0] = false;
		break;
	case 1:
		r = tcp_listen(Z.st, PORT_A, Z.backlog);
		FZ_CHECK(r == (Z.listening[0] ? -EADDRINUSE : 0), "tcp_listen returned %d", r);
		Z.listening[0] = true;
		break;
	case 2:
		r = tcp_listen(Z.st, PORT_B, 1);
		FZ_CHECK(r == (Z.listening[1] ? -EADDRINUSE : 0), "tcp_listen returned %d", r);
		Z.listening[1] = true;
		break;
	default:
		r = tcp_unlisten(Z.st, PORT_B, Z.now);
		FZ_CHECK(r == (Z.listening[1] ? 0 : -ENOENT), "tcp_unlisten returned %d", r);
		Z.listening[1] = false;
		break;
	}
	return true;
}

/* ---------------------------------------------------------------------- */
/* Invariants */

#define CTR(name) (c[TCP_C_##name])

static void check_handle(const struct handle *h)
{
	const struct tcp_conn *c = h->c;
	enum tcp_state s = tcp_conn_state(c);
	FZ_CHECK((unsigned)s <= TCP_LAST_ACK && strcmp(tcp_state_name(s), "?"), "state %d", s);
	FZ_CHECK(tcp_conn_user(c) == h, "the user pointer changed");
	unsigned ev = tcp_conn_poll(c);
	uint32_t r = tcp_conn_readable(c), w = tcp_conn_writable(c);
	int err = tcp_conn_error(c);
	FZ_CHECK(!r || (ev & TCP_EV_IN), "%u bytes readable, poll %x", r, ev);
	FZ_CHECK(!w || (ev & TCP_EV_OUT), "%u bytes writable, poll %x", w, ev);
	FZ_CHECK(s != TCP_CLOSED || (ev & (TCP_EV_IN | TCP_EV_HUP)) == (TCP_EV_IN | TCP_EV_HUP),
		 "CLOSED, poll %x", ev);
	FZ_CHECK(err == 0 || err == ECONNRESET || err == ECONNREFUSED || err == ETIMEDOUT,
		 "tcp_conn_error %d", err);
	FZ_CHECK(!err || (s == TCP_CLOSED && (ev & TCP_EV_ERR)), "error %d in %s, poll %x", err,
		 tcp_state_name(s), ev);
	FZ_CHECK(tcp_conn_unacked(c) <= h->written, "%u bytes unacked of %u written",
		 tcp_conn_unacked(c), h->written);
	if (s != TCP_CLOSED && s != TCP_SYN_SENT && s != TCP_SYN_RCVD) {
		struct tcp_conn_info in;
		tcp_conn_info(c, &in);
		FZ_CHECK(in.snd_mss >= 88 && in.snd_mss + 40u <= Z.mtu && in.snd_wscale <= 14 &&
			     in.rcv_wscale <= 14 && in.cwnd > 0,
			 "connection info: mss %u, wscale %u/%u, cwnd %u", in.snd_mss,
			 in.snd_wscale, in.rcv_wscale, in.cwnd);
	}
}

static void check_all(void)
{
	const uint64_t *c = tcp_stack_counters(Z.st);
	const uint64_t *n = tcp_net_counters(tcp_stack_net(Z.st));
	uint64_t in = 0, drop = 0, seg_drop = 0;
	for (unsigned i = 0; i < TCP_NET_C_MAX; i++) {
		if (tcp_net_counter_kind(i) == TCP_NET_K_IN)
			in += n[i];
		else if (tcp_net_counter_kind(i) == TCP_NET_K_DROP)
			drop += n[i];
	}
	static const enum tcp_stack_kind kind[] = {
#define X(k, name, desc) TCP_STACK_K_##k,
		TCP_STACK_COUNTERS(X)
#undef X
	};
	for (unsigned i = 0; i < TCP_C_MAX; i++)
		if (kind[i] == TCP_STACK_K_DROP)
			seg_drop += c[i];
	seg_drop -= CTR(not_tcp) + CTR(bad_cksum) + CTR(bad_hdr) + CTR(no_conn);
	FZ_CHECK(n[TCP_NET_C_rx_frames] == Z.fed, "tcp_net saw %llu frames of %llu",
		 (unsigned long long)n[TCP_NET_C_rx_frames], (unsigned long long)Z.fed);
	FZ_CHECK(n[TCP_NET_C_rx_frames] == in + drop, "tcp_net: rx_frames != IN + DROP");
	FZ_CHECK(CTR(not_tcp) == drop + n[TCP_NET_C_udp], "not_tcp %llu != net drops %llu + udp %llu",
		 (unsigned long long)CTR(not_tcp), (unsigned long long)drop,
		 (unsigned long long)n[TCP_NET_C_udp]);
	FZ_CHECK(n[TCP_NET_C_tcp] == CTR(bad_cksum) + CTR(bad_hdr) + CTR(no_conn) + CTR(seg_in),
		 "TCP frames from tcp_net not all accounted for");
	FZ_CHECK(seg_drop <= CTR(seg_in), "%llu segment drops for %llu segments",
		 (unsigned long long)seg_drop, (unsigned long long)CTR(seg_in));
	uint32_t nr = tcp_stack_nr_conns(Z.st);
	FZ_CHECK(nr == CTR(active_opens) + CTR(passive_opens) - CTR(conns_freed),
		 "%u connections, %llu opened, %llu freed", nr,
		 (unsigned long long)(CTR(active_opens) + CTR(passive_opens)),
		 (unsigned long long)CTR(conns_freed));
	FZ_CHECK(nr <= Z.max_conns, "%u connections, max %u", nr, Z.max_conns);
	FZ_CHECK(tcp_listen_pending(Z.st, PORT_A) + tcp_listen_pending(Z.st, PORT_B) <= nr,
		 "more connections waiting to be accepted than connections");
	FZ_CHECK(CTR(established) <= CTR(active_opens) + CTR(passive_opens),
		 "more established than opened");
	FZ_CHECK(CTR(accepted) <= CTR(passive_opens), "more accepted than passive opens");
	FZ_CHECK(CTR(seg_out) == Z.tx_tcp, "seg_out %llu, tcp_io saw %llu TCP frames",
		 (unsigned long long)CTR(seg_out), (unsigned long long)Z.tx_tcp);
	FZ_CHECK(CTR(rst_sent) == Z.tx_rst, "rst_sent %llu, tcp_io saw %llu RSTs",
		 (unsigned long long)CTR(rst_sent), (unsigned long long)Z.tx_rst);
	FZ_CHECK(!Z.pool_max || tcp_stack_chunks_live(Z.st) <= Z.pool_max,
		 "%zu chunks live, cap %zu", tcp_stack_chunks_live(Z.st), Z.pool_max);
	for (int i = 0; i < NHANDLE; i++)
		if (Z.h[i].c)
			check_handle(&Z.h[i]);
}

/* ---------------------------------------------------------------------- */

static void setup(uint8_t cfgb)
{
	struct tcp_stack_cfg cfg;
	memset(&cfg, 0, sizeof(cfg));
	bool small = cfgb & 16, tight = cfgb & 128;
	memcpy(cfg.ifc.mac, our_mac, 6);
	Z.mtu = small ? 576 : 1500;
	cfg.ifc.mtu = (uint16_t)Z.mtu;
	cfg.ifc.ip = OUR_IP;
	cfg.ifc.mask = 0xffffff00u;
	cfg.arp.capacity = tight ? 2 : 8;
	cfg.io.tx = fz_tx;
	cfg.event = fz_event;
	for (int k = 0; k < 16; k++)
		cfg.secret.k[k] = (uint8_t)(k * 37 + 11);
	Z.max_conns = cfg.max_conns = tight ? 4 : 16;
	Z.backlog = tight ? 2 : 8;
	if (small) {
		cfg.sndbuf = cfg.rcvbuf = 4096;
		cfg.max_ooo = 2;
		Z.pool_max = cfg.pool_max_chunks = 48;
	}
	cfg.no_ws = cfgb & 1;
	cfg.no_sack = cfgb & 2;
	cfg.no_ts = cfgb & 4;
	cfg.cc = (cfgb & 8) ? "cubic" : "newreno";
	cfg.msl_ns = 1 * SEC;
	if (cfgb & 64) {
		cfg.delack_us = UINT32_MAX;
		cfg.no_syncookies = true;
	}
	Z.st = tcp_stack_create(&cfg);
	FZ_CHECK(Z.st != NULL, "tcp_stack_create failed");
	for (unsigned i = 0; i <= TCP_C_MAX; i++)
		FZ_CHECK(!tcp_stack_counter_name(i) == (i == TCP_C_MAX) &&
			     !tcp_stack_counter_desc(i) == (i == TCP_C_MAX),
			 "counter %u: name or description", i);
	FZ_CHECK(tcp_listen(Z.st, PORT_A, Z.backlog) == 0, "tcp_listen failed");
	Z.listening[0] = true;

	for (int k = 0; k < 4; k++)
		slot_set(k, PEER1_IP, (uint16_t)(40000 + k), PORT_A,
			 k == 3 ? 0xffffff00u : 0x10000000u * (uint32_t)(k + 1));
	slot_set(5, PEER1_IP, 40100, PORT_B, 0x50000000u);
	slot_set(6, PEER2_IP, 40000, PORT_A, 0x60000000u);
	slot_set(7, PEER1_IP, 444, 50000, 0x70000000u);

	/* An ARP request from peer 1: the stack learns it and answers. */
	if (!(cfgb & 32))
		arp_from_peer(0);
	FZ_CHECK(connect_to(PEER1_IP, 443, 0, 4), "tcp_connect failed");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	memset(&Z, 0, sizeof(Z));
	Z.in = data;
	Z.len = size;
	Z.pos = 1;
	Z.now = 1 * SEC;
	Z.bind_slot = -1;
	setup(data[0]);
	check_all();
	for (;;) {
		uint8_t op;
		bool ok;
		if (!rd8(&op))
			break;
		switch (op % NOPS) {
		case OP_RAW: ok = op_raw(); break;
		case OP_SEG: ok = op_seg(); break;
		case OP_TIME: ok = op_time(); break;
		case OP_ACCEPT: ok = op_accept(); break;
		case OP_SEND: ok = op_send(); break;
		case OP_RECV: ok = op_recv(); break;
		case OP_CLOSE:
		case OP_ABORT:
		case OP_SHUTDOWN: ok = op_close(op % NOPS); break;
		case OP_SETOPT: ok = op_setopt(); break;
		case OP_CONNECT: ok = op_connect(); break;
		case OP_ARP: ok = op_arp(); break;
		case OP_PING: ok = op_ping(); break;
		case OP_LISTEN: ok = op_listen(); break;
		case OP_TXFAIL: {
			uint8_t n;
			ok = rd8(&n);
			if (ok)
				Z.tx_fail_next = n % 16u;
			break;
		}
		default: ok = op_drain(); break;
		}
		if (!ok)
			break;
		check_all();
	}
	/* The user gives every handle back; then nothing may be left. */
	Z.tx_fail_next = 0;
	for (int i = 0; i < NHANDLE; i++) {
		struct tcp_conn *c = Z.h[i].c;
		if (!c)
			continue;
		Z.h[i].c = NULL;
		tcp_close(c, Z.now);
	}
	check_all();
	size_t live = tcp_stack_destroy(Z.st);
	FZ_CHECK(live == 0, "tcp_stack_destroy: %zu chunks leaked", live);
	Z.st = NULL;
	return 0;
}
