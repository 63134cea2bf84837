/* SPDX-License-Identifier: MIT */
/*
 * Frames over a channel (bulkhead/iso.h, "Frames"): a 12-byte header and a
 * bounded payload, written only whole. The receiving side may face a
 * hostile sender, so the header is peeked once into private memory, checked,
 * and only then is anything consumed; the bytes the header occupied are
 * skipped, never read back.
 */
#include <errno.h>

#include "bulkhead/iso.h"

uint32_t iso_frame_max(const struct iso_chan *ch)
{
	uint32_t m = iso_chan_out_size(ch) - ISO_FRAME_HDR; /* rings are >= 4 KiB */
	return m < ISO_FRAME_MAX ? m : ISO_FRAME_MAX;
}

int iso_frame_send(struct iso_chan *ch, uint32_t stream, uint16_t type, uint16_t flags,
		   const void *payload, uint32_t len)
{
	struct iovec v = {(void *)payload, len};
	return iso_frame_sendv(ch, stream, type, flags, &v, len ? 1 : 0);
}

/* One frame, whole or not at all, written plainly or quietly. */
static int frame_sendv(struct iso_chan *ch, uint32_t stream, uint16_t type, uint16_t flags,
		       const struct iovec *iov, int iovcnt, bool quiet)
{
	struct iovec all[5];
	if (iovcnt < 0 || iovcnt > 4)
		return -EINVAL;
	size_t len = 0;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > ISO_FRAME_MAX)
			return -EMSGSIZE; /* and the sum cannot wrap */
		len += iov[i].iov_len;
		all[i + 1] = iov[i];
	}
	if (len > iso_frame_max(ch))
		return -EMSGSIZE;
	ssize_t room = iso_chan_writable(ch);
	if (room < 0)
		return (int)room;
	if ((size_t)room < ISO_FRAME_HDR + len)
		return -EAGAIN;
	struct iso_frame f = {.stream = stream, .type = type, .flags = flags, .len = (uint32_t)len};
	all[0] = (struct iovec){&f, ISO_FRAME_HDR};
	/* There is room for the whole, and we are the only producer: it goes
	 * whole, published once. */
	ssize_t w = quiet ? iso_chan_writev_quiet(ch, all, iovcnt + 1)
			  : iso_chan_writev(ch, all, iovcnt + 1);
	return w < 0 ? (int)w : 0;
}

int iso_frame_sendv(struct iso_chan *ch, uint32_t stream, uint16_t type, uint16_t flags,
		    const struct iovec *iov, int iovcnt)
{
	return frame_sendv(ch, stream, type, flags, iov, iovcnt, false);
}

int iso_frame_send_quiet(struct iso_chan *ch, uint32_t stream, uint16_t type, uint16_t flags,
			 const void *payload, uint32_t len)
{
	struct iovec v = {(void *)payload, len};
	return frame_sendv(ch, stream, type, flags, &v, len ? 1 : 0, true);
}

static bool type_ok(uint16_t t)
{
	return t >= ISO_F_OPEN && t <= ISO_F_WINDOW;
}

int iso_frame_recv(struct iso_chan *ch, struct iso_frame *f, void *buf, size_t cap)
{
	bool done = iso_chan_peer_done(ch); /* before the index, as in iso_chan_read */
	ssize_t avail = iso_chan_readable(ch);
	if (avail < 0)
		return (int)avail;
	if (avail == 0)
		return done ? 0 : -EAGAIN;
	if (avail < (ssize_t)ISO_FRAME_HDR)
		return done ? -EPROTO : -EAGAIN;
	struct iso_frame h;
	if (iso_chan_peek(ch, &h, ISO_FRAME_HDR) != (ssize_t)ISO_FRAME_HDR)
		return -EPROTO;
	if (h.len > ISO_FRAME_MAX || h.len > cap || !type_ok(h.type))
		return -EPROTO;
	if ((size_t)avail < ISO_FRAME_HDR + (size_t)h.len)
		return done ? -EPROTO : -EAGAIN;
	/* Skip the header bytes (what is there now does not matter), and
	 * take the payload. */
	if (iso_chan_consume(ch, ISO_FRAME_HDR, buf, h.len) != (ssize_t)h.len)
		return -EPROTO;
	*f = h;
	return 1;
}
