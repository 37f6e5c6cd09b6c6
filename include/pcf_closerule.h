/*
 * pcf_closerule.h - the commit rule, in one pure function.
 *
 * The kernel tells a file system of every close() of every descriptor
 * (FLUSH), but of the last one only afterwards and asynchronously
 * (RELEASE, whose errors reach nobody). The exit status of the process
 * that closes does not exist yet at its close, and a program may close
 * the file and fail afterwards (cat's close of stdout at exit, curl after
 * a cut transfer, an exception after Python's `with`). So the rule is
 * taken in two steps:
 *
 *   at each FLUSH with data    pcf_close_decide(): not the last close |
 *                              roll back | commit now | end the COPY now and
 *                              commit when the closer exits (WATCH)
 *   when a watched closer      pcf_exit_decide(): commit | roll back
 *   exits, starts another
 *   process, or close_wait
 *   runs out while it runs on
 *
 * What the caller tells it is plain values read from /proc and from the
 * load (see load.c, holders.c, closer.c); what it answers is a verdict and
 * a reason for the log and the history. Nothing here touches the system,
 * so the unit tests feed it recorded /proc states (tests/unit/
 * test_closerule.c).
 */
#ifndef PCF_CLOSERULE_H
#define PCF_CLOSERULE_H

#include <stddef.h>
#include <stdint.h>

/* The closing task, as /proc/<tid>/stat and status show it at the close. */
struct pcf_closer {
	int known;     /* 0: the task could not be read (another pid
			* namespace, gone): taken as alive and well */
	int exiting;   /* PF_EXITING: the close is part of the process's exit */
	int exit_code; /* waitpid-style status; 0 while alive or for exit(0) */
	int killed;    /* SIGKILL pending: dying while blocked in close() */
	int wrote;     /* this process wrote to the load */
};

struct pcf_close_facts {
	uint64_t bytes;        /* bytes the load received */
	uint64_t sealed;       /* bytes covered by the last fsync() */
	int commit_fsync;      /* -o commit=fsync */
	int close_wait_ms;     /* -o close_wait; 0: commit at the close */
	int other_holders;     /* another descriptor of the open file is open */
	struct pcf_closer closer;
};

enum pcf_close_verdict {
	PCF_CLOSE_NOTHING,  /* no data yet: the shell's early close, dd's dup2 */
	PCF_CLOSE_NOT_LAST, /* others still hold the file: wait for them */
	PCF_CLOSE_ROLLBACK, /* the writer failed: nothing is committed */
	PCF_CLOSE_UNSEALED, /* -o commit=fsync and bytes after the last fsync():
			     * nothing is committed */
	PCF_CLOSE_COMMIT,   /* commit now, and the close returns the outcome */
	PCF_CLOSE_WATCH,    /* end the COPY now (its errors go to this close),
			     * commit when the closer exits 0 or close_wait
			     * after the close; roll back if it fails first */
};

/*
 * The verdict for one FLUSH. *why (never NULL) is a fixed phrase for the
 * log and the history: for ROLLBACK it completes "the writer (pid N) ...".
 */
enum pcf_close_verdict pcf_close_decide(const struct pcf_close_facts *f,
					 const char **why);

/* How a watched closer ended, or that it did not. */
enum pcf_exit_kind {
	PCF_EXIT_RUNNING, /* close_wait ran out and it still runs */
	PCF_EXIT_STATUS,  /* it exited: status is waitpid-style */
	PCF_EXIT_FORKED,  /* it started another process (a shell running its
			   * next command): it has moved on */
	PCF_EXIT_LOST,    /* it could not be followed to its end */
};

enum pcf_exit_verdict { PCF_EXIT_COMMIT, PCF_EXIT_ROLLBACK };

/* The verdict when a watched closer ends; *why as above. */
enum pcf_exit_verdict pcf_exit_decide(enum pcf_exit_kind kind, int status,
				      const char **why);

/* "exited with status 1", "was killed by signal 9 (Killed)", into out. */
void pcf_status_describe(int status, int killed, char *out, size_t len);

#endif
