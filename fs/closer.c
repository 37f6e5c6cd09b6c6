/*
 * closer.c - /proc readings for the commit decision.
 */
#include "closer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef KCMP_FILE
#define KCMP_FILE 0
#endif
#define PF_EXITING 0x00000004

/* Reads a small /proc file into buf, NUL-terminated. Bytes read or -errno. */
static ssize_t read_small(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0)
		n = -errno;
	else
		buf[n] = '\0';
	close(fd);
	return n;
}

/* Finds "Key:\t<value>" in a /proc status text. */
static const char *status_field(const char *text, const char *key)
{
	size_t klen = strlen(key);

	for (const char *p = text; p && *p; p = strchr(p, '\n')) {
		if (*p == '\n')
			p++;
		if (strncmp(p, key, klen) == 0 && p[klen] == ':')
			return p + klen + 1;
	}
	return NULL;
}

static int stat_fields(pid_t pid, unsigned long *flags, int *exit_code)
{
	char path[64], buf[2048];
	char *p, *save = NULL;
	int field = 3;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_small(path, buf, sizeof(buf)) < 0)
		return -ESRCH;
	p = strrchr(buf, ')'); /* comm may hold spaces and parentheses */
	if (!p)
		return -EINVAL;
	for (char *tok = strtok_r(p + 1, " ", &save); tok;
	     tok = strtok_r(NULL, " ", &save)) {
		if (field == 9)
			*flags = strtoul(tok, NULL, 10);
		if (field == 52)
			*exit_code = atoi(tok);
		field++;
	}
	return field > 52 ? 0 : -EINVAL;
}

pid_t pcf_task_tgid(pid_t tid)
{
	char path[64], buf[4096];
	const char *v;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	if (tid <= 0 || read_small(path, buf, sizeof(buf)) < 0)
		return tid;
	v = status_field(buf, "Tgid");
	return v ? (pid_t)atoi(v) : tid;
}

int pcf_task_read(pid_t tid, struct pcf_task *t)
{
	char path[64], buf[4096];
	unsigned long flags = 0;
	const char *v;

	memset(t, 0, sizeof(*t));
	t->tid = t->tgid = tid;
	if (tid <= 0)
		return -ESRCH;
	if (stat_fields(tid, &flags, &t->exit_code) != 0)
		return -ESRCH;
	t->exiting = (flags & PF_EXITING) != 0;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	if (read_small(path, buf, sizeof(buf)) > 0) {
		unsigned long long pend = 0;

		if ((v = status_field(buf, "Tgid")))
			t->tgid = (pid_t)atoi(v);
		if ((v = status_field(buf, "SigPnd")))
			pend |= strtoull(v, NULL, 16);
		if ((v = status_field(buf, "ShdPnd")))
			pend |= strtoull(v, NULL, 16);
		t->killed = (pend >> (SIGKILL - 1)) & 1;
	}
	/* A group exit sets the code on the whole group: ask the leader too. */
	if (t->tgid != tid && t->exit_code == 0) {
		unsigned long lflags = 0;
		int code = 0;

		if (stat_fields(t->tgid, &lflags, &code) == 0 && code != 0)
			t->exit_code = code;
	}
	return 0;
}

int pcf_task_failed(const struct pcf_task *t)
{
	return t->killed || t->exit_code != 0;
}

/* Reads /proc/<pid>/<name> into out (len > 1): the bytes read, with out
 * empty and 0 when there is nothing to read. */
static ssize_t read_proc_text(pid_t pid, const char *name, char *out, size_t len)
{
	char path[64];
	ssize_t n;

	out[0] = '\0';
	if (pid <= 0 || len < 2)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	n = read_small(path, out, len);
	if (n <= 0) {
		out[0] = '\0';
		return 0;
	}
	return n;
}

void pcf_task_cmdline(pid_t pid, char *out, size_t len)
{
	ssize_t n = read_proc_text(pid, "cmdline", out, len);

	while (n > 0 && out[n - 1] == '\0')
		n--;
	for (ssize_t i = 0; i < n; i++)
		if (out[i] == '\0' || out[i] == '\n' || out[i] == '\t')
			out[i] = ' ';
	if (n > 0)
		out[n] = '\0';
}

void pcf_task_comm(pid_t tid, char *out, size_t len)
{
	ssize_t n = read_proc_text(tid, "comm", out, len);

	if (n > 0 && out[n - 1] == '\n')
		out[n - 1] = '\0';
}

int pcf_task_syscall(pid_t tid, long *nr, unsigned long long args[6])
{
	char path[64], buf[512];
	ssize_t n;

	memset(args, 0, 6 * sizeof(args[0]));
	if (tid <= 0)
		return -ESRCH;
	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)tid);
	if ((n = read_small(path, buf, sizeof(buf))) < 0)
		return (int)n; /* -EACCES: another user's task, or Yama's scope */
	if (n == 0)
		return -EIO;
	if (strncmp(buf, "running", 7) == 0 || buf[0] == '-')
		return -EAGAIN; /* "running", or "-1 sp pc": in no call */
	if (sscanf(buf, "%ld %llx %llx %llx %llx %llx %llx", nr, &args[0],
		   &args[1], &args[2], &args[3], &args[4], &args[5]) < 4)
		return -EIO;
	return 0;
}

int pcf_fd_same(const struct pcf_fdref *a, const struct pcf_fdref *b)
{
	long r = syscall(SYS_kcmp, a->pid, b->pid, KCMP_FILE, a->fd, b->fd);

	if (r < 0)
		return -1;
	return r == 0;
}

/* Reads the pos and flags lines of /proc/<pid>/fdinfo/<fd>. */
static int read_fdinfo(pid_t pid, int fd, long long *pos, int *flags)
{
	char path[64], buf[512];
	const char *v;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", (int)pid, fd);
	if (read_small(path, buf, sizeof(buf)) < 0)
		return -1;
	if (!(v = status_field(buf, "pos")))
		return -1;
	*pos = atoll(v);
	if (!(v = status_field(buf, "flags")))
		return -1;
	*flags = (int)strtol(v, NULL, 8);
	return 0;
}

static int link_is(pid_t pid, int fd, const char *path)
{
	char link[64], target[4096];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/%d/fd/%d", (int)pid, fd);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return 0;
	target[n] = '\0';
	return strcmp(target, path) == 0;
}

int pcf_fd_valid(const struct pcf_fdref *ref, const char *path)
{
	long long pos;
	int flags;

	return link_is(ref->pid, ref->fd, path) &&
	       read_fdinfo(ref->pid, ref->fd, &pos, &flags) == 0 &&
	       (flags & O_ACCMODE) != O_RDONLY;
}

/* Visits the write descriptors on path of one process. */
static int scan_process(pid_t pid, const char *path,
			int (*visit)(void *, const struct pcf_fdref *),
			void *ctx)
{
	char dir[64];
	DIR *d;
	struct dirent *de;
	int rc = 0;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	d = opendir(dir);
	if (!d)
		return 0; /* gone, or not ours to read */
	while (!rc && (de = readdir(d))) {
		struct pcf_fdref ref = { .pid = pid };

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		ref.fd = atoi(de->d_name);
		if (!link_is(pid, ref.fd, path))
			continue;
		if (read_fdinfo(pid, ref.fd, &ref.pos, &ref.flags) != 0 ||
		    (ref.flags & O_ACCMODE) == O_RDONLY)
			continue;
		rc = visit(ctx, &ref);
	}
	closedir(d);
	return rc;
}

int pcf_fd_scan(pid_t pid, const char *path,
		int (*visit)(void *ctx, const struct pcf_fdref *ref),
		void *ctx)
{
	pid_t self = getpid();
	DIR *d;
	struct dirent *de;
	int rc = 0;

	if (pid > 0)
		return pid == self ? 0 : scan_process(pid, path, visit, ctx);
	d = opendir("/proc");
	if (!d)
		return 0;
	while (!rc && (de = readdir(d))) {
		pid_t p;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		p = (pid_t)atoi(de->d_name);
		if (p != self)
			rc = scan_process(p, path, visit, ctx);
	}
	closedir(d);
	return rc;
}

int pcf_task_gone(pid_t tid)
{
	return tid > 0 && kill(tid, 0) != 0 && errno == ESRCH;
}
