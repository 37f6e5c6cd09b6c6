/*
 * closer.h - what /proc says about the processes around an open file: is
 * the task that closes it dying, who it is, and who else still holds it.
 *
 * The kernel sends FLUSH for every close() of every descriptor and RELEASE
 * (whose errors reach nobody) only after the last one, so the decision to
 * commit has to be taken in FLUSH from what /proc shows at that moment.
 */
#ifndef PCF_CLOSER_H
#define PCF_CLOSER_H

#include <sys/types.h>

struct pcf_task {
	pid_t tid;
	pid_t tgid;
	int exiting;   /* PF_EXITING: the close is part of the process's exit */
	int exit_code; /* waitpid-style status; 0 while alive or after exit(0) */
	int killed;    /* SIGKILL pending: dying while blocked in close() */
};

/*
 * Reads the task's state; a task that is gone or unreadable (another pid
 * namespace shows as 0) reads as alive and well: 0 or -errno.
 */
int pcf_task_read(pid_t tid, struct pcf_task *t);

/* 1 when the task failed: killed by a signal, or exiting non-zero. */
int pcf_task_failed(const struct pcf_task *t);

/* Its command line, NULs turned to spaces, cut to len; "" if unreadable. */
void pcf_task_cmdline(pid_t pid, char *out, size_t len);

/* Its name as ps -o comm shows it (/proc/<tid>/comm: the program's file
 * name, cut to 15 bytes), without the line end; "" if unreadable. */
void pcf_task_comm(pid_t tid, char *out, size_t len);

/* The thread group of a task id; tid itself when it cannot be read. */
pid_t pcf_task_tgid(pid_t tid);

/* The system call task tid is in (/proc/<tid>/syscall: its number and
 * first six arguments): 0 with *nr and args, or -errno (-EAGAIN: running,
 * in no call; -EACCES: a task the daemon may not trace). A task blocked in
 * a FUSE request shows that request's call. */
int pcf_task_syscall(pid_t tid, long *nr, unsigned long long args[6]);

/* 1 when task (or process) tid has exited (no such task now). */
int pcf_task_gone(pid_t tid);

/* One descriptor of one process, as /proc shows it. */
struct pcf_fdref {
	pid_t pid;
	int fd;
	long long pos;
	int flags;
};

/* Whether two descriptors are one open file description (kcmp). 1, 0, or
 * -1 when the kernel cannot tell. */
int pcf_fd_same(const struct pcf_fdref *a, const struct pcf_fdref *b);

/* 1 when ref still names a descriptor open on path for writing. */
int pcf_fd_valid(const struct pcf_fdref *ref, const char *path);

/*
 * Calls visit(ctx, ref) for every descriptor in every process (only pid's
 * when pid > 0, never the daemon's own) that is open on path for writing.
 * A visit that returns non-zero stops the scan and is returned.
 * Only readlink and fdinfo are used: never a stat of the mount from inside
 * the daemon, which would call back into it.
 */
int pcf_fd_scan(pid_t pid, const char *path,
		int (*visit)(void *ctx, const struct pcf_fdref *ref),
		void *ctx);

#endif
