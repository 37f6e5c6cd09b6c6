/*
 * holders.c - the daemon's own reference to an open file, and the search
 * for other holders by kcmp (holders.h).
 */
#include "holders.h"
#include "closer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef KCMP_FILE
#define KCMP_FILE 0
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

/* Which argument of a write-family system call is the descriptor written
 * to; -1 for any other call. */
static int fd_arg_of(long nr)
{
	switch (nr) {
#ifdef SYS_write
	case SYS_write:
#endif
#ifdef SYS_pwrite64
	case SYS_pwrite64:
#endif
#ifdef SYS_writev
	case SYS_writev:
#endif
#ifdef SYS_pwritev
	case SYS_pwritev:
#endif
#ifdef SYS_pwritev2
	case SYS_pwritev2:
#endif
#ifdef SYS_sendfile
	case SYS_sendfile:
#endif
		return 0;
#ifdef SYS_splice
	case SYS_splice:
#endif
#ifdef SYS_copy_file_range
	case SYS_copy_file_range:
#endif
		return 2;
	default:
		return -1;
	}
}

/* The descriptor task tid is writing to, or -errno. */
static int written_fd(pid_t tid)
{
	unsigned long long args[6];
	long nr;
	int arg, rc = pcf_task_syscall(tid, &nr, args);

	if (rc)
		return rc;
	if ((arg = fd_arg_of(nr)) < 0)
		return -ENOENT;
	return (int)args[arg];
}

/*
 * The keeper: a child that holds the references. Requests are two ints
 * over a SOCK_SEQPACKET pair: {pid, fd} takes process pid's descriptor fd
 * and answers {0, keeper_fd} or {-errno, -1}; {0, keeper_fd} closes one
 * (no answer). Lock domain: keeper.lock serializes a request and its
 * answer.
 */
static struct {
	pthread_mutex_t lock;
	int sock;
	pid_t pid;
} keeper = { .lock = PTHREAD_MUTEX_INITIALIZER, .sock = -1 };

static void keeper_main(int sock)
{
	int req[2];

	for (;;) {
		ssize_t n = recv(sock, req, sizeof(req), 0);
		int ans[2] = { 0, -1 };

		if (n == 0 || (n < 0 && errno != EINTR))
			_exit(0); /* the daemon is gone */
		if (n != sizeof(req))
			continue;
		if (req[0] == 0) {
			close(req[1]);
			continue;
		}
		int pidfd = (int)syscall(SYS_pidfd_open, req[0], 0);

		if (pidfd < 0) {
			ans[0] = -errno;
		} else {
			ans[1] = (int)syscall(SYS_pidfd_getfd, pidfd, req[1], 0);
			if (ans[1] < 0)
				ans[0] = -errno;
			close(pidfd);
		}
		if (send(sock, ans, sizeof(ans), 0) < 0)
			_exit(0);
	}
}

int pcf_keeper_start(void)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return -errno;
	}
	if (pid == 0) {
		/* Nothing of the daemon's: above all not /dev/fuse, so that
		 * the daemon's death aborts the connection. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (sv[1] != 3) {
			dup2(sv[1], 3);
			sv[1] = 3;
		}
		syscall(SYS_close_range, 4, ~0U, 0);
		close(0);
		close(1);
		close(2);
		prctl(PR_SET_NAME, "pgcopyfs-keeper");
		keeper_main(sv[1]);
		_exit(0);
	}
	close(sv[1]);
	keeper.sock = sv[0];
	keeper.pid = pid;
	return 0;
}

void pcf_keeper_stop(void)
{
	if (keeper.pid <= 0)
		return;
	/* Not waited for: its closes may wait on this very mount. */
	close(keeper.sock);
	kill(keeper.pid, SIGKILL);
	keeper.sock = -1;
	keeper.pid = 0;
}

pid_t pcf_keeper_pid(void)
{
	return keeper.pid;
}

int pcf_ref_take(pid_t tid, pid_t tgid)
{
	int fd, req[2], ans[2] = { -ENOSYS, -1 };

	if (tid <= 0 || tgid <= 0)
		return -ESRCH;
	if ((fd = written_fd(tid)) < 0)
		return fd;
	req[0] = tgid;
	req[1] = fd;
	pthread_mutex_lock(&keeper.lock);
	if (keeper.sock >= 0 &&
	    (send(keeper.sock, req, sizeof(req), 0) != sizeof(req) ||
	     recv(keeper.sock, ans, sizeof(ans), 0) != sizeof(ans)))
		ans[0] = -EPIPE;
	pthread_mutex_unlock(&keeper.lock);
	return ans[0] < 0 ? ans[0] : ans[1];
}

void pcf_ref_drop(int *ref)
{
	int req[2] = { 0, *ref };

	if (*ref >= 0) {
		pthread_mutex_lock(&keeper.lock);
		/* On a full queue or a dead keeper it closes at its exit. */
		if (keeper.sock >= 0)
			(void)!send(keeper.sock, req, sizeof(req), MSG_DONTWAIT);
		pthread_mutex_unlock(&keeper.lock);
	}
	*ref = -1;
}

long long pcf_boot_ticks(void)
{
	struct timespec ts;
	long hz = sysconf(_SC_CLK_TCK);

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (long long)ts.tv_sec * hz + ts.tv_nsec / (1000000000L / hz);
}

/* Field 22 of /proc/<pid>/stat: when the process started, in clock ticks
 * since boot; -1 when unreadable. */
static long long start_ticks(const char *pid)
{
	char path[64], buf[1024], *p;
	int fd, field = 3;
	ssize_t len;

	snprintf(path, sizeof(path), "/proc/%s/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return -1;
	buf[len] = '\0';
	p = strrchr(buf, ')'); /* comm may hold spaces and parentheses */
	if (!p)
		return -1;
	for (p++; *p && field < 22; p++)
		if (*p == ' ')
			field++;
	return field == 22 ? atoll(p) : -1;
}

/* 1 when process pid has a descriptor of ref's open file (ref is the
 * keeper's). */
static int process_holds(pid_t keeper_pid, pid_t pid, int ref)
{
	char dir[64];
	struct dirent *de;
	DIR *d;
	int held = 0;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	d = opendir(dir);
	if (!d)
		return 0; /* gone, exiting (its files are detached), or not ours */
	while (!held && (de = readdir(d))) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		held = syscall(SYS_kcmp, keeper_pid, pid, KCMP_FILE, ref,
			       atoi(de->d_name)) == 0;
	}
	closedir(d);
	return held;
}

int pcf_ref_held(int ref, long long since_ticks, const pid_t *also, int nalso)
{
	pid_t self = getpid();
	struct dirent *de;
	DIR *d;
	int held = 0;

	d = opendir("/proc");
	if (!d)
		return 1; /* cannot tell: the safe side is to wait */
	while (!held && (de = readdir(d))) {
		pid_t pid;
		int candidate = 0;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		pid = (pid_t)atoi(de->d_name);
		if (pid == self || pid == keeper.pid)
			continue;
		for (int i = 0; i < nalso && !candidate; i++)
			candidate = also[i] == pid;
		/* Started in the tick of the open or after it (one tick of
		 * slack for rounding): it may have inherited the file. */
		if (!candidate)
			candidate = start_ticks(de->d_name) >= since_ticks - 1;
		if (candidate)
			held = process_holds(keeper.pid, pid, ref);
	}
	closedir(d);
	return held;
}

int pcf_pidset_add(pid_t *set, int *n, int n_max, pid_t pid)
{
	for (int i = 0; i < *n; i++)
		if (set[i] == pid)
			return 1;
	if (*n < n_max)
		set[(*n)++] = pid;
	return 0;
}

void pcf_openfile_init(struct pcf_openfile *f, pid_t opener)
{
	memset(f, 0, sizeof(*f));
	f->ref = -1;
	f->open_ticks = pcf_boot_ticks();
	if (opener > 0)
		f->also[f->nalso++] = opener;
}

int pcf_openfile_note_writer(struct pcf_openfile *f, pid_t tid, pid_t tgid)
{
	int ref, first;

	if (tgid <= 0)
		return f->ref >= 0;
	pcf_pidset_add(f->also, &f->nalso, PCF_OPENFILE_PIDS, tgid);
	if (f->ref >= 0)
		return 1;
	first = !f->tried;
	f->tried = 1;
	ref = pcf_ref_take(tid, tgid);
	if (ref >= 0) {
		f->ref = ref;
		return 1;
	}
	return first ? ref : 0;
}

void pcf_openfile_note_closer(struct pcf_openfile *f, pid_t tgid)
{
	if (tgid > 0)
		pcf_pidset_add(f->also, &f->nalso, PCF_OPENFILE_PIDS, tgid);
}

int pcf_openfile_held(const struct pcf_openfile *f)
{
	return pcf_ref_held(f->ref, f->open_ticks, f->also, f->nalso);
}

void pcf_openfile_drop(struct pcf_openfile *f)
{
	pcf_ref_drop(&f->ref);
}
