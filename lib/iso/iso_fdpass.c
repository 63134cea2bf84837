/* SPDX-License-Identifier: MIT */
/*
 * Descriptor passing between a worker and the trusted side (SCM_RIGHTS over
 * a SOCK_SEQPACKET socketpair). The receiver is the trusted side, so it
 * assumes the sender is hostile: every descriptor a message brings in is
 * accounted for and closed unless it is the single one the protocol
 * allows, and no call may block the packet loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bulkhead/iso.h"

/* Room for more descriptors than the protocol allows, so a peer sending a
 * few extra is seen (and its descriptors closed) rather than truncated. */
#define ISO_FD_CMSG_FDS 16

int iso_fd_send(int sock, int fd, const void *payload, size_t len)
{
	if (len == 0 || len > ISO_FD_PAYLOAD_MAX || !payload)
		return -EINVAL;
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov = {(void *)payload, len};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	if (fd >= 0) {
		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = sizeof(ctl.buf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	ssize_t n = sendmsg(sock, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return n == (ssize_t)len ? 0 : -EMSGSIZE; /* SEQPACKET: all or nothing */
}

/* Closes every descriptor in the message's SCM_RIGHTS blocks but `keep`
 * (their data may be unaligned: copied out one by one). Returns how many
 * descriptors the message carried. */
static int close_fds(struct msghdr *msg, int keep)
{
	int count = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (fd != keep)
				close(fd);
			count++;
		}
	}
	return count;
}

/* The message's only descriptor, or -1. */
static int first_fd(struct msghdr *msg)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len >= CMSG_LEN(sizeof(int))) {
			int fd;
			memcpy(&fd, CMSG_DATA(c), sizeof(int));
			return fd;
		}
	return -1;
}

ssize_t iso_fd_recv(int sock, int *fd, void *buf, size_t cap, unsigned flags)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(ISO_FD_CMSG_FDS * sizeof(int))];
	} ctl;
	struct iovec iov = {buf, cap};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl.buf)};
	*fd = -1;
	ssize_t n = recvmsg(sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	/* On MSG_CTRUNC the kernel has already dropped what did not fit; the
	 * blocks that did fit are ours to close. */
	int keep = first_fd(&msg);
	int count = close_fds(&msg, keep);
	ssize_t rc = n;
	if (msg.msg_flags & MSG_TRUNC)
		rc = -EMSGSIZE;
	else if ((msg.msg_flags & MSG_CTRUNC) || count > 1 || (n == 0 && count > 0))
		rc = -EBADMSG;
	else if (keep >= 0 && (flags & ISO_FD_REGULAR)) {
		struct stat st;
		int fl = fcntl(keep, F_GETFL);
		if (fstat(keep, &st) < 0 || !S_ISREG(st.st_mode) || fl < 0 || (fl & O_PATH) ||
		    (fl & O_ACCMODE) == O_WRONLY)
			rc = -EBADMSG;
	}
	if (rc < 0) {
		if (keep >= 0)
			close(keep);
		return rc;
	}
	*fd = keep;
	return rc;
}
