/*
 * watch.h - follow a process that closed a table file to its exit, and
 * hold it there until the load is decided.
 *
 * A process that closes the file and fails afterwards (exit status != 0)
 * must not leave its rows committed, and one that exits 0 must find them
 * committed by the time its parent's wait() returns. ptrace gives exactly
 * that: PTRACE_SEIZE with PTRACE_O_TRACEEXIT stops the process at the
 * start of its exit with its exit status readable, before any file is
 * closed and before its parent is told; it goes on once detached. Better
 * still, its system calls are traced from its close on, so that it is held
 * at the entry of exit_group(), where its status is still an argument: a
 * COMMIT that fails there (its answer lost, the server gone) turns exit 0
 * into exit 1. A
 * process that closes and runs on (a shell after a redirected builtin)
 * counts as done with the file when it starts another process: the fork
 * stops it, and its new child, until the load is decided, so the next
 * command of a script sees the rows.
 *
 * One thread (the watcher) owns every ptrace request, because the kernel
 * takes them only from the thread that attached. SIGCHLD must be blocked
 * in every thread (pcf_watch_block_sigchld() first thing in main): the
 * watcher reads it from a signalfd. Decisions run on a thread of their own
 * each (they talk to the server); the process stays stopped meanwhile.
 *
 * Without the privilege to trace (a daemon that is not root tracing
 * another user's process, a process already traced by strace or gdb, a
 * kernel without ptrace), pcf_watch_exit fails and the caller decides at
 * once.
 */
#ifndef PCF_WATCH_H
#define PCF_WATCH_H

#include "pcf_closerule.h"

#include <sys/types.h>

/* Called once per watch, from a decision thread, while the process is held
 * at its exit (kind PCF_EXIT_STATUS), or runs on (PCF_EXIT_RUNNING: wait_ms
 * passed), or was lost (PCF_EXIT_LOST: unmount, or a ptrace error).
 * status is waitpid-style. The process is let go when fn returns; a
 * non-zero return says the decision failed (the COMMIT did), and a process
 * held at the entry of exit_group(0) then exits 1 instead. */
typedef int (*pcf_watch_fn)(void *ctx, enum pcf_exit_kind kind, int status);

void pcf_watch_block_sigchld(void);
int pcf_watch_start(void);
/* Lets every watched process go (fn with PCF_EXIT_LOST) and ends the
 * watcher. */
void pcf_watch_stop(void);

/* Starts following process pid; 0, or -errno when it cannot be traced. */
int pcf_watch_exit(pid_t pid, int wait_ms, pcf_watch_fn fn, void *ctx);

#endif
