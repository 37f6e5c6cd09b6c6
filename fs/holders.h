/*
 * holders.h - who holds an open file, by the identity of the open file
 * description, never by the path text /proc shows for it.
 *
 * At a load's first write, a reference to the open file being written is
 * taken (the writing task's descriptor, read from /proc/<tid>/syscall while
 * it is blocked in that write, and duplicated with pidfd_getfd). Any
 * descriptor of any process is then that same open file exactly when
 * kcmp(KCMP_FILE) says so, whatever path it was opened through (a bind
 * mount, a lazily unmounted mount) and wherever its position stands while
 * another holder's write is in flight.
 *
 * The references are held by the keeper, a small child process, never by
 * the daemon itself: a process that exits closes its files, and the close
 * of a file on a FUSE mount waits, unkillably, for the mount's answer (a
 * FLUSH). If the daemon held them, a `kill -9` of the daemon would wait for
 * itself for ever. The keeper holds no /dev/fuse descriptor, so when the
 * daemon dies the connection is aborted and the keeper's closes return.
 * Because a reference is held, the kernel's RELEASE of the open file comes
 * only after pcf_ref_drop(); a load drops it as soon as its last close is
 * found.
 */
#ifndef PCF_HOLDERS_H
#define PCF_HOLDERS_H

#include <sys/types.h>

/*
 * A reference to the open file that task tid (of process tgid) is writing
 * to right now; the caller is the FUSE write handler of that very write.
 * Returns a descriptor of the daemon's, or -errno: EPERM without the
 * privilege (pidfd_getfd needs PTRACE_MODE_ATTACH), ENOSYS on an old
 * kernel, ENOENT when the task is not in a write-family system call
 * (io_uring, aio).
 */
int pcf_ref_take(pid_t tid, pid_t tgid);

/* Closes a reference, in the keeper (its FLUSH comes from the keeper's pid;
 * see pcf_keeper_pid()), and sets *ref to -1. */
void pcf_ref_drop(int *ref);

/* Starts the keeper; call after daemonizing, before any other thread. All
 * descriptors but its socket are closed in it. 0 or -errno. */
int pcf_keeper_start(void);
/* Ends it (at unmount); its remaining references close as it exits. */
void pcf_keeper_stop(void);
/* The keeper's pid (0 when none): a FLUSH from it is the keeper's own. */
pid_t pcf_keeper_pid(void);

/* Clock ticks since boot (the unit of /proc/<pid>/stat's starttime). */
long long pcf_boot_ticks(void);

/* Adds pid to a small set (at most n_max); 1 when it was there already. */
int pcf_pidset_add(pid_t *set, int *n, int n_max, pid_t pid);

#define PCF_OPENFILE_PIDS 8

/* One open file as the holder search knows it. */
struct pcf_openfile {
	int ref;              /* the keeper's reference, or -1 */
	int tried;            /* a reference was asked for already */
	long long open_ticks; /* when it was opened, in ticks since boot */
	/* Processes that may hold it although they started before the open:
	 * the opener, writers and closers. */
	pid_t also[PCF_OPENFILE_PIDS];
	int nalso;
};

void pcf_openfile_init(struct pcf_openfile *f, pid_t opener);

/*
 * A write by task tid of process tgid: remembers the process and, while
 * there is no reference yet, takes one from this very write. 1 when a
 * reference is held; 0 when none is (asked for before); -errno the first
 * time one cannot be taken.
 */
int pcf_openfile_note_writer(struct pcf_openfile *f, pid_t tid, pid_t tgid);

/* A closer: a process that may hold the file. */
void pcf_openfile_note_closer(struct pcf_openfile *f, pid_t tgid);

/* With a reference: 1 when another process holds the open file (see
 * pcf_ref_held), else 0. */
int pcf_openfile_held(const struct pcf_openfile *f);

/* Lets the reference go (the last close is found, or the load ended). */
void pcf_openfile_drop(struct pcf_openfile *f);

/*
 * 1 when a process other than the daemon holds a descriptor of ref's open
 * file, else 0. Only processes that can hold it are searched: those started
 * at or after since_ticks (a descriptor is inherited at fork) and the pids
 * in also[] (the opener and every writer and closer seen); a descriptor
 * passed over a unix socket to an older process is not found. Takes no
 * lock; costs a readdir of /proc, a read of each process's stat, and a
 * kcmp for each descriptor of the processes searched.
 */
int pcf_ref_held(int ref, long long since_ticks, const pid_t *also,
		 int nalso);

#endif
