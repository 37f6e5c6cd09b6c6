/*
 * main.c - pgcopyfs's life: parse, help/version, connect and check the
 * database, mount, daemonize, serve, unmount. Every start-up error is one
 * line on stderr and a non-zero exit, with nothing left mounted.
 */
#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include "calls.h"
#include "fs.h"
#include "holders.h"
#include "load.h"
#include "log.h"
#include "staged.h"
#include "status.h"
#include "watch.h"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <termios.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * A request waiting on the server (a lock, a slow COPY) keeps its worker
 * thread, so the pool grows instead: one more worker whenever all are busy,
 * idle ones beyond -o max_idle_threads end. The cap is only there to stop a
 * runaway; a thread's stack is virtual memory until used.
 */
#define DEFAULT_MAX_THREADS 10000

/* Escapes ',' and '\' so a value survives libfuse's -o list parsing. */
static void add_mount_option(struct fuse_args *args, const char *name,
			     const char *value)
{
	char buf[1200];
	size_t n = (size_t)snprintf(buf, sizeof(buf), "-o%s=", name);

	for (const char *p = value; *p && n + 3 < sizeof(buf); p++) {
		if (*p == ',' || *p == '\\')
			buf[n++] = '\\';
		buf[n++] = *p;
	}
	buf[n] = '\0';
	fuse_opt_add_arg(args, buf);
}

/*
 * Every open table file holds a server connection: take all the descriptors
 * the hard limit allows, so the soft default (1024) does not cap the loads.
 * At the real limit an open fails with EMFILE (conn.c).
 */
static void raise_nofile_limit(void)
{
	struct rlimit r;

	if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
		r.rlim_cur = r.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &r) != 0)
			pcf_warn("cannot raise the open files limit: %m\n");
	}
}

/*
 * A password in CONNINFO is readable by every local user in ps for the life
 * of the mount: blank the argument in place (the bytes /proc/PID/cmdline
 * shows), keeping our copy, and say how to do without. 1 if one was there.
 */
static int hide_password(int argc, char *argv[], const char *conninfo)
{
	PQconninfoOption *opts = conninfo ? PQconninfoParse(conninfo, NULL)
					  : NULL;
	int found = 0;

	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		if (strcmp(o->keyword, "password") == 0 && o->val && *o->val)
			found = 1;
	PQconninfoFree(opts);
	if (!found)
		return 0;
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], conninfo) == 0)
			memset(argv[i], '*', strlen(argv[i]));
	fprintf(stderr,
		"pgcopyfs: warning: a password on the command line is seen by "
		"every local user until it is cleared (it is now, from this "
		"process's arguments); use ~/.pgpass, a service file, or "
		"-o password_stdin\n");
	return 1;
}

/* One line from fp, without its newline; NULL at EOF. */
static char *read_line(FILE *fp)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n = getline(&line, &cap, fp);

	if (n < 0) {
		free(line);
		return NULL;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	return line;
}

/* The role CONNINFO, the environment or the login names, for a prompt. */
static void role_name(const char *conninfo, char *out, size_t len)
{
	PQconninfoOption *opts = PQconninfoParse(conninfo ? conninfo : "", NULL);
	const char *u = NULL;
	struct passwd *pw;

	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		if (strcmp(o->keyword, "user") == 0 && o->val && *o->val)
			u = o->val;
	if (!u)
		u = getenv("PGUSER");
	if (!u && (pw = getpwuid(getuid())) != NULL)
		u = pw->pw_name;
	snprintf(out, len, "%s", u ? u : "?");
	PQconninfoFree(opts);
}

/* Like psql: the server wants a password, none is known, and someone is
 * at the terminal: ask, without echo. NULL when nobody can be asked. */
static char *prompt_password(const char *conninfo)
{
	FILE *tty = fopen("/dev/tty", "r+");
	struct termios old, quiet;
	char user[256];
	char *pw;

	if (!tty || !isatty(STDIN_FILENO))
		goto none;
	role_name(conninfo, user, sizeof(user));
	fprintf(tty, "Password for user %s: ", user);
	fflush(tty);
	if (tcgetattr(fileno(tty), &old) != 0)
		goto none;
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
	pw = read_line(tty);
	tcsetattr(fileno(tty), TCSAFLUSH, &old);
	fprintf(tty, "\n");
	fclose(tty);
	return pw;
none:
	if (tty)
		fclose(tty);
	return NULL;
}

/*
 * -o auto_unmount: fusermount3 stays behind holding one end of a socket,
 * and when the daemon dies it unmounts, but only if opening the mount
 * point then fails with ENOTCONN, that is once the kernel has aborted the
 * connection. A killed process's files are released highest descriptor
 * first, and libfuse's socket lands above /dev/fuse: fusermount3 could
 * wake while /dev/fuse was still open, its open caught by the abort got
 * ECONNABORTED, and the dead mount stayed (seen in CI). So the socket is
 * moved below /dev/fuse, onto a descriptor kept free for it before the
 * mount: it is now released last.
 */
#define AU_MAX_FD 256

struct auto_unmount_fds {
	int reserve;                 /* the low descriptor kept free */
	unsigned char open[AU_MAX_FD]; /* open before the mount */
};

static void auto_unmount_prepare(struct auto_unmount_fds *au)
{
	au->reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
	for (int fd = 0; fd < AU_MAX_FD; fd++)
		au->open[fd] = fcntl(fd, F_GETFD) != -1;
}

static void auto_unmount_done(struct auto_unmount_fds *au, int fuse_fd)
{
	struct stat st;

	for (int fd = 0; fuse_fd >= 0 && au->reserve >= 0 && fd < AU_MAX_FD;
	     fd++) {
		if (au->open[fd] || fd == fuse_fd || fd <= au->reserve ||
		    fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode))
			continue;
		if (au->reserve < fuse_fd && dup2(fd, au->reserve) == au->reserve) {
			close(fd);
			return; /* the reserve is the socket now */
		}
		break;
	}
	if (au->reserve >= 0)
		close(au->reserve);
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts cmd = { 0 };
	struct fuse_loop_config *loop = NULL;
	struct pcf_fs fs = { 0 };
	struct fuse_session *se = NULL;
	struct pcf_error e;
	char msg[512], db[600];
	int ret = 1, rc;

	/* Before any thread: the watcher reads SIGCHLD from a signalfd. */
	pcf_watch_block_sigchld();
	if (pcf_options_parse(&args, &fs.opts, msg, sizeof(msg)) != 0) {
		fprintf(stderr, "pgcopyfs: %s\n", msg);
		goto out_args;
	}
	/* Our default thread cap, before the user's -o max_threads: the later
	 * one wins. */
	fuse_opt_insert_arg(&args, 1, "-omax_threads=" PCF_STR(DEFAULT_MAX_THREADS));
	if (fuse_parse_cmdline(&args, &cmd) != 0)
		goto out_args;
	if (cmd.show_help) {
		pcf_options_help(argv[0]);
		printf("FUSE options:\n");
		fuse_cmdline_help();
		fuse_lowlevel_help();
		ret = 0;
		goto out_cmd;
	}
	if (cmd.show_version) {
		printf("pgcopyfs version %s\n", PGCOPYFS_VERSION);
		/* 150018 is 15.18: major * 10000 + minor since PostgreSQL 10 */
		printf("libpq version %d.%d\n", PQlibVersion() / 10000,
		       PQlibVersion() % 10000);
		printf("FUSE library version %s\n", fuse_pkgversion());
		fuse_lowlevel_version();
		ret = 0;
		goto out_cmd;
	}
	if (fs.opts.nargs < 1 || !cmd.mountpoint) {
		fprintf(stderr,
			"usage: %s [options] CONNINFO MOUNTPOINT\n"
			"       %s --help for the options\n",
			argv[0], argv[0]);
		ret = 2;
		goto out_cmd;
	}
	pcf_log_init(cmd.debug);
	raise_nofile_limit();
	pcf_conn_budget_init();
	fs.mountpoint = realpath(cmd.mountpoint, NULL);
	if (!fs.mountpoint) {
		fprintf(stderr, "pgcopyfs: bad mount point '%s': %m\n",
			cmd.mountpoint);
		goto out_cmd;
	}
	hide_password(argc, argv, fs.opts.conninfo);
	if (fs.opts.password_stdin) {
		fs.opts.password = read_line(stdin);
		if (!fs.opts.password) {
			fprintf(stderr, "pgcopyfs: -o password_stdin: no line on "
					"standard input\n");
			goto out_cmd;
		}
	}
	/* Connect before mounting, so a wrong CONNINFO fails right here. */
	rc = pcf_catalog_open(&fs.catalog, &fs.opts, &e);
	if (rc != 0 && e.needs_password && !fs.opts.password &&
	    (fs.opts.password = prompt_password(fs.opts.conninfo)) != NULL) {
		pcf_catalog_close(&fs.catalog);
		rc = pcf_catalog_open(&fs.catalog, &fs.opts, &e);
	}
	if (rc != 0) {
		fprintf(stderr, "pgcopyfs: cannot connect to the database: %s\n",
			e.message);
		goto out_catalog;
	}
	if (pcf_staged_init(fs.opts.spool, msg, sizeof(msg)) != 0) {
		fprintf(stderr, "pgcopyfs: %s\n", msg);
		goto out_catalog;
	}
	fs.uid = fs.opts.owner_uid >= 0 ? (uid_t)fs.opts.owner_uid : getuid();
	fs.gid = fs.opts.owner_gid >= 0 ? (gid_t)fs.opts.owner_gid : getgid();
	fs.mounted_at = time(NULL);
	pcf_status_init(fs.opts.history);
	/* fsname shows in mount and df: user, host and database, never a
	 * password (/proc/mounts is world-readable). */
	pcf_catalog_describe(&fs.catalog, db, sizeof(db));
	add_mount_option(&args, "fsname", db);
	if (!cmd.nodefault_subtype)
		add_mount_option(&args, "subtype", "pgcopyfs");

	se = fuse_session_new(&args, &pcf_fs_ops, sizeof(pcf_fs_ops), &fs);
	if (!se)
		goto out_status;
	fs.se = se;
	{
		struct auto_unmount_fds au;

		auto_unmount_prepare(&au);
		if (fuse_session_mount(se, fs.mountpoint) != 0) {
			auto_unmount_done(&au, -1);
			goto out_session;
		}
		auto_unmount_done(&au, fuse_session_fd(se));
	}
	if (fuse_daemonize(cmd.foreground) != 0)
		goto out_unmount;
	if (!cmd.foreground)
		pcf_log_to_syslog();
	if (fuse_set_signal_handlers(se) != 0)
		goto out_unmount;
	/* After daemonizing (threads and children do not survive it), and
	 * the keeper before any thread, as it is forked. */
	if (pcf_keeper_start() != 0)
		pcf_warn("cannot start the reference keeper: open files are "
			 "told apart by path\n");
	if (pcf_catalog_start(&fs.catalog) != 0)
		pcf_warn("cannot start the catalog refresher: the table list "
			 "stays as it was at mount\n");
	if (pcf_calls_start() != 0)
		pcf_warn("cannot start the call watcher: a writer killed while "
			 "waiting on the server waits for it\n");
	if (pcf_watch_start() != 0)
		pcf_warn("cannot start the exit watcher: closers are not "
			 "followed to their exit\n");
	if (fs.opts.checkpoint_ms > 0 && pcf_checkpointer_start() != 0)
		pcf_warn("cannot start the checkpointer: a quiet writer's rows "
			 "wait for its next write\n");
	pcf_info("mounted %s on %s\n", db, fs.mountpoint);

	if (cmd.singlethread) {
		ret = fuse_session_loop(se);
	} else {
		loop = fuse_loop_cfg_create();
		if (!loop)
			goto out_signals;
		fuse_loop_cfg_set_clone_fd(loop, (unsigned int)cmd.clone_fd);
		/* UINT_MAX means unset; 3.14.0's setter complains about it. */
		if (cmd.max_idle_threads != UINT_MAX)
			fuse_loop_cfg_set_idle_threads(loop,
						       cmd.max_idle_threads);
		fuse_loop_cfg_set_max_threads(loop, cmd.max_threads);
		ret = fuse_session_loop_mt(se, loop);
	}
	/* A loop ended by SIGTERM, SIGINT or SIGHUP returns the signal: that is
	 * how a daemon is stopped, not a failure. */
	ret = ret == 0 || ret == SIGTERM || ret == SIGINT || ret == SIGHUP ? 0 : 1;
out_signals:
	pcf_checkpointer_stop();
	pcf_watch_stop();
	pcf_calls_stop();
	pcf_catalog_stop(&fs.catalog);
	pcf_keeper_stop();
	fuse_remove_signal_handlers(se);
out_unmount:
	fuse_session_unmount(se);
out_session:
	fuse_session_destroy(se);
out_status:
	pcf_status_free();
	pcf_staged_shutdown(); /* every staged file is discarded */
out_catalog:
	pcf_catalog_close(&fs.catalog);
	pcf_log_close();
	fuse_loop_cfg_destroy(loop);
	free(fs.mountpoint);
out_cmd:
	free(cmd.mountpoint);
out_args:
	fuse_opt_free_args(&args);
	pcf_options_free(&fs.opts);
	return ret;
}
