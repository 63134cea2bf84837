/* SPDX-License-Identifier: MIT */
/*
 * Descriptor passing: a file the receiver reads, payload-only messages,
 * never blocking (empty and full sockets), and what a hostile sender may
 * try: extra descriptors (in one block and in several), more descriptors
 * than the control buffer holds (MSG_CTRUNC), an oversized payload, a
 * descriptor that is not a regular file. Every test leaves no fd behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "bulkhead/iso.h"
#include "lib/iso/iso_test.h"
#include "tests/unit/bh_test.h"

static void pair(int sv[2])
{
	CHECK_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
}

/* A file holding `text`, already unlinked. */
static int temp_file(const char *text)
{
	FILE *f = tmpfile();
	fputs(text, f);
	fflush(f);
	int fd = dup(fileno(f));
	fclose(f);
	return fd;
}

/* Sends a raw message: payload plus `nblocks` SCM_RIGHTS blocks of fds. */
static ssize_t send_raw(int sock, const char *payload, const int *fds, int nfds, int nblocks)
{
	char ctl[CMSG_SPACE(sizeof(int) * 64) * 2];
	memset(ctl, 0, sizeof(ctl));
	struct iovec iov = {(void *)payload, strlen(payload)};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	if (nfds) {
		msg.msg_control = ctl;
		msg.msg_controllen = sizeof(ctl);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		size_t len = 0;
		int per = nfds / nblocks;
		for (int b = 0; b < nblocks; b++) {
			int n = b == nblocks - 1 ? nfds - per * b : per;
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
			memcpy(CMSG_DATA(c), fds + per * b, sizeof(int) * (size_t)n);
			len += CMSG_SPACE(sizeof(int) * (size_t)n);
			c = (struct cmsghdr *)((char *)c + CMSG_SPACE(sizeof(int) * (size_t)n));
		}
		msg.msg_controllen = len;
	}
	return sendmsg(sock, &msg, MSG_DONTWAIT);
}

static void test_file(void)
{
	int before = bh_test_count_fds(), sv[2], got;
	pair(sv);
	int f = temp_file("the body of a large file");
	CHECK_EQ(iso_fd_send(sv[0], f, "hdr:24", 6), 0);
	close(f); /* the sender's copy: the message holds its own */
	char buf[64];
	CHECK_EQ(iso_fd_recv(sv[1], &got, buf, sizeof(buf), ISO_FD_REGULAR), 6);
	CHECK(memcmp(buf, "hdr:24", 6) == 0);
	CHECK(got >= 0);
	CHECK(fcntl(got, F_GETFD) & FD_CLOEXEC);
	memset(buf, 0, sizeof(buf));
	CHECK_EQ(pread(got, buf, sizeof(buf), 0), 24);
	CHECK(strcmp(buf, "the body of a large file") == 0);
	close(got);
	/* payload only */
	CHECK_EQ(iso_fd_send(sv[0], -1, "x", 1), 0);
	CHECK_EQ(iso_fd_recv(sv[1], &got, buf, sizeof(buf), 0), 1);
	CHECK_EQ(got, -1);
	/* bad lengths */
	CHECK_EQ(iso_fd_send(sv[0], -1, "", 0), -EINVAL);
	CHECK_EQ(iso_fd_send(sv[0], -1, buf, ISO_FD_PAYLOAD_MAX + 1), -EINVAL);
	/* nothing waiting: no block */
	CHECK_EQ(iso_fd_recv(sv[1], &got, buf, sizeof(buf), 0), -EAGAIN);
	CHECK_EQ(got, -1);
	/* the peer gone */
	close(sv[0]);
	CHECK_EQ(iso_fd_recv(sv[1], &got, buf, sizeof(buf), 0), 0);
	CHECK_EQ(iso_fd_send(sv[1], -1, "x", 1), -EPIPE);
	close(sv[1]);
	CHECK_EQ(bh_test_count_fds(), before);
}

static void test_full(void)
{
	int before = bh_test_count_fds(), sv[2], got, rc, sent = 0;
	pair(sv);
	int f = temp_file("f");
	char buf[ISO_FD_PAYLOAD_MAX];
	memset(buf, 'a', sizeof(buf));
	/* one descriptor per message at first, then payloads only (descriptors
	 * in flight are limited per user) */
	while ((rc = iso_fd_send(sv[0], sent < 8 ? f : -1, buf, sizeof(buf))) == 0 &&
	       sent < 100000)
		sent++;
	CHECK_EQ(rc, -EAGAIN);
	CHECK(sent > 0);
	int received = 0, messages = 0;
	while (iso_fd_recv(sv[1], &got, buf, sizeof(buf), 0) == (ssize_t)sizeof(buf)) {
		messages++;
		received += got >= 0;
		if (got >= 0)
			close(got);
	}
	CHECK_EQ(messages, sent);
	CHECK_EQ(received, 8);
	close(f);
	close(sv[0]);
	close(sv[1]);
	CHECK_EQ(bh_test_count_fds(), before);
}

/* A hostile message must be refused with `want`, every descriptor closed. */
static void expect_refused(int sv[2], ssize_t want, size_t cap, unsigned flags)
{
	char buf[ISO_FD_PAYLOAD_MAX];
	int got = 1234;
	CHECK_EQ(iso_fd_recv(sv[1], &got, buf, cap, flags), want);
	CHECK_EQ(got, -1);
}

static void test_hostile(void)
{
	int before = bh_test_count_fds(), sv[2], fds[64], p[2];
	pair(sv);
	int f = temp_file("f");
	for (int i = 0; i < 64; i++)
		fds[i] = f;
	/* extra descriptors in one block, then split over two blocks */
	CHECK_EQ(send_raw(sv[0], "two", fds, 2, 1), 3);
	expect_refused(sv, -EBADMSG, 16, 0);
	CHECK_EQ(send_raw(sv[0], "five", fds, 5, 2), 4);
	expect_refused(sv, -EBADMSG, 16, 0);
	/* more than the receiver's control buffer: MSG_CTRUNC */
	CHECK_EQ(send_raw(sv[0], "many", fds, 64, 1), 4);
	expect_refused(sv, -EBADMSG, 16, 0);
	CHECK_EQ(send_raw(sv[0], "many", fds, 64, 2), 4);
	expect_refused(sv, -EBADMSG, 16, 0);
	/* a payload longer than the caller's buffer */
	CHECK_EQ(send_raw(sv[0], "a long payload", fds, 1, 1), 14);
	expect_refused(sv, -EMSGSIZE, 4, 0);
	/* not a regular file, when one is required; accepted otherwise */
	CHECK_EQ(pipe(p), 0);
	CHECK_EQ(iso_fd_send(sv[0], p[0], "pipe", 4), 0);
	expect_refused(sv, -EBADMSG, 16, ISO_FD_REGULAR);
	CHECK_EQ(iso_fd_send(sv[0], sv[0], "sock", 4), 0);
	expect_refused(sv, -EBADMSG, 16, ISO_FD_REGULAR);
	CHECK_EQ(iso_fd_send(sv[0], p[0], "pipe", 4), 0);
	char buf[16];
	int got;
	CHECK_EQ(iso_fd_recv(sv[1], &got, buf, sizeof(buf), 0), 4);
	CHECK(got >= 0);
	close(got);
	/* the regular file itself, but not open for reading: refused when a
	 * readable one is required (every read of it would fail) */
	char path[40];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", f);
	int opath = open(path, O_PATH | O_CLOEXEC), wronly = open(path, O_WRONLY | O_CLOEXEC);
	CHECK(opath >= 0 && wronly >= 0);
	CHECK_EQ(iso_fd_send(sv[0], opath, "path", 4), 0);
	expect_refused(sv, -EBADMSG, 16, ISO_FD_REGULAR);
	CHECK_EQ(iso_fd_send(sv[0], wronly, "wrty", 4), 0);
	expect_refused(sv, -EBADMSG, 16, ISO_FD_REGULAR);
	close(opath);
	close(wronly);
	/* a descriptor with an empty payload */
	CHECK_EQ(send_raw(sv[0], "", fds, 1, 1), 0);
	expect_refused(sv, -EBADMSG, 16, 0);
	/* after all that, a good message still gets through */
	CHECK_EQ(iso_fd_send(sv[0], f, "ok", 2), 0);
	CHECK_EQ(iso_fd_recv(sv[1], &got, buf, sizeof(buf), ISO_FD_REGULAR), 2);
	CHECK(got >= 0);
	close(got);
	close(p[0]);
	close(p[1]);
	close(f);
	close(sv[0]);
	close(sv[1]);
	CHECK_EQ(bh_test_count_fds(), before);
}

int main(void)
{
	test_file();
	test_full();
	test_hostile();
	return bh_test_summary("iso_fdpass");
}
