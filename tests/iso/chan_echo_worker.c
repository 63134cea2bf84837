/* SPDX-License-Identifier: MIT */
/*
 * A worker for tests/iso/test_iso_zygote.c, started by the zygote already
 * confined: its channel on ISO_WORKER_CHAN_FD, its notify eventfd on
 * ISO_WORKER_NOTIFY_FD if it has one. Echoes every frame back until the
 * trusted side ends the channel, then exits 0. A DATA frame "crash" makes it
 * abort() (SIGABRT); "syscall" makes it call socket(), which the filter
 * answers with SIGSYS. Exit codes 10-12 are its own failures.
 *
 * Built static and without sanitizers, like iso_escape_worker: the zygote
 * execs it inside the view (no /lib) under RLIMIT_AS and the filter.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bulkhead/iso.h"

static char buf[ISO_FRAME_MAX];

int main(void)
{
	struct iso_chan *ch = iso_chan_attach(ISO_WORKER_CHAN_FD, ISO_SIDE_WORKER);
	struct iso_frame f;
	int rc;

	if (!ch)
		return 10;
	close(ISO_WORKER_CHAN_FD);
	if (fcntl(ISO_WORKER_NOTIFY_FD, F_GETFD) >= 0)
		iso_chan_set_notify(ch, ISO_WORKER_NOTIFY_FD);
	while ((rc = iso_frame_recv(ch, &f, buf, sizeof(buf))) != 0) {
		if (rc == -EAGAIN) {
			if (iso_chan_wait(ch, ISO_CHAN_IN, -1) < 0)
				return 11;
			continue;
		}
		if (rc < 0)
			return 11;
		if (f.type == ISO_F_DATA && f.len == 5 && !memcmp(buf, "crash", 5))
			abort();
		if (f.type == ISO_F_DATA && f.len == 7 && !memcmp(buf, "syscall", 7) &&
		    socket(AF_INET, SOCK_STREAM, 0) >= 0)
			return 12; /* the filter let it through */
		while ((rc = iso_frame_send(ch, f.stream, f.type, f.flags, buf, f.len)) == -EAGAIN)
			if (iso_chan_wait(ch, ISO_CHAN_OUT, -1) < 0)
				return 11;
		if (rc < 0)
			return 11;
	}
	iso_chan_shutdown(ch);
	iso_chan_close(ch);
	return 0;
}
