/*
 * closerule.c - the commit rule (pcf_closerule.h): plain values in, a
 * verdict out. Kept free of /proc, FUSE and libpq so that every case is a
 * row in tests/unit/test_closerule.c.
 */
#include "pcf_closerule.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static int closer_failed(const struct pcf_closer *c)
{
	return c->known && (c->killed || c->exit_code != 0);
}

enum pcf_close_verdict pcf_close_decide(const struct pcf_close_facts *f,
					 const char **why)
{
	const struct pcf_closer *c = &f->closer;

	*why = "";
	if (f->bytes == 0)
		return PCF_CLOSE_NOTHING;
	/* A writer that dies holding the file: whatever else holds it, its
	 * rows are not all there. */
	if (closer_failed(c) && c->wrote) {
		*why = ": nothing committed";
		return PCF_CLOSE_ROLLBACK;
	}
	if (f->other_holders)
		return PCF_CLOSE_NOT_LAST;
	/* The last close, by a process that dies while closing (it held the
	 * file without writing, or was killed inside close()). */
	if (closer_failed(c)) {
		*why = " while closing: rolled back";
		return PCF_CLOSE_ROLLBACK;
	}
	if (f->commit_fsync && f->sealed != f->bytes) {
		*why = "bytes after the last fsync() (-o commit=fsync)";
		return PCF_CLOSE_UNSEALED;
	}
	/* An exit-time close carries the exit status already, and the
	 * parent's wait() is held until this close is answered. */
	if (c->exiting) {
		*why = "exited 0";
		return PCF_CLOSE_COMMIT;
	}
	if (f->sealed == f->bytes) {
		*why = "called fsync() after its last write";
		return PCF_CLOSE_COMMIT;
	}
	if (f->close_wait_ms <= 0) {
		*why = "-o close_wait=0";
		return PCF_CLOSE_COMMIT;
	}
	if (!c->known) {
		*why = "the closer cannot be followed (another pid namespace)";
		return PCF_CLOSE_COMMIT;
	}
	*why = "closed while running: committed when it exits 0";
	return PCF_CLOSE_WATCH;
}

enum pcf_exit_verdict pcf_exit_decide(enum pcf_exit_kind kind, int status,
				      const char **why)
{
	switch (kind) {
	case PCF_EXIT_RUNNING:
		*why = "still runs close_wait after its close";
		return PCF_EXIT_COMMIT;
	case PCF_EXIT_FORKED:
		*why = "started another process after its close";
		return PCF_EXIT_COMMIT;
	case PCF_EXIT_STATUS:
		if (status == 0) {
			*why = "exited 0";
			return PCF_EXIT_COMMIT;
		}
		*why = " after closing the file: nothing committed";
		return PCF_EXIT_ROLLBACK;
	case PCF_EXIT_LOST:
	default:
		*why = "could not be followed to its exit";
		return PCF_EXIT_COMMIT;
	}
}

void pcf_status_describe(int status, int killed, char *out, size_t len)
{
	int sig = status & 0x7f;

	if (killed)
		sig = SIGKILL;
	if (sig)
		snprintf(out, len, "was killed by signal %d (%s)", sig,
			 strsignal(sig));
	else if (status)
		snprintf(out, len, "exited with status %d",
			 (status >> 8) & 0xff);
	else
		snprintf(out, len, "exited 0");
}
