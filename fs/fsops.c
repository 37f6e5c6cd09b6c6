/*
 * fsops.c - the FUSE operations (libfuse's low-level API), the only user of
 * fuse headers: each request finds what its path names (paths.c), its
 * node (nodes.c) and its handle (handles.c), and goes to the one that
 * answers it: a load (load.c), a staged or drop folder's file (staged.c),
 * the status files (status.c), the catalog (catalog.c).
 *
 * Tree:  /                       schemas (+ .pgcopyfs)
 *        /<schema>/              <table>.csv per table; staged files
 *        /<schema>/<table>.d/    a table's drop folder (not listed)
 *        /.pgcopyfs/<file>       status files
 *
 * What is not loading a table changes nothing in the database: no DDL,
 * no row deleted (unlink of a table file: tombs.c).
 *
 * Errors are -errno straight from the lower layers; their messages are in
 * the load's state, the log and .pgcopyfs/history.
 */
#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include "calls.h"
#include "closer.h"
#include "clock.h"
#include "fs.h"
#include "export.h"
#include "log.h"
#include "handles.h"
#include "holders.h"
#include "load.h"
#include "nodes.h"
#include "paths.h"
#include "registry.h"
#include "staged.h"
#include "statspool.h"
#include "tombs.h"
#include "status.h"
#include "watch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define ATTR_TIMEOUT 1.0
/* Unless -o read_size=stream: a table file's attributes are never cached,
 * so an fstat after a spooled read open asks, and sees its length. Set
 * once at init. */
static int table_attr_uncached;
#define DIR_ENTRY_TIMEOUT 1.0 /* a schema created or dropped shows in 1 s */

/* The handle of a request's fi, held: pcf_handle_drop it. */
static struct handle *hold(const struct fuse_file_info *fi)
{
	return fi ? pcf_handle_hold(fi->fh) : NULL;
}

static struct pcf_load *load_in(const struct handle *h)
{
	return h && h->kind == H_LOAD ? h->load : NULL;
}

/* What path names, and for a status path whether it is there. */
static int parse_path(const char *path, struct pcf_path *n)
{
	int rc = pcf_path_parse(path, n);

	if (rc == 0 && n->kind == PCF_PATH_STATUS) {
		int kind = pcf_status_kind(n->rel);

		if (kind < 0)
			return kind;
		n->is_dir = kind;
	}
	return rc;
}

static void fill_stat(const struct pcf_fs *fs, struct stat *st, mode_t mode,
		      nlink_t nlink)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = mode;
	st->st_nlink = nlink;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_atime = st->st_mtime = st->st_ctime = fs->mounted_at;
	st->st_blksize = 1 << 20; /* invites 1 MiB writes */
}

/* A schema directory: others may make staged files in it where they may
 * write tables. Only a staged file's owner removes or renames it (as in a
 * sticky directory, but for the table files: a rename onto a table file,
 * owned by the mount, must pass the kernel's checks; may_remove keeps the
 * rule instead). */
static mode_t schema_mode(const struct pcf_fs *fs)
{
	return 0755 | (fs->opts.table_mode & 0022);
}

/* The mode of a table's file. */
static mode_t table_file_mode(const struct pcf_fs *fs,
			      const struct pcf_table_info *t)
{
	mode_t m = t->can_insert && !t->read_only ? fs->opts.table_mode
						  : fs->opts.table_mode & 0444;

	/* The read bits say whether reading streams the table out. */
	return t->can_select ? m : m & ~(mode_t)0444;
}

/* A drop folder: like its schema, where its table may be written; else
 * read-only. */
static mode_t drop_mode(const struct pcf_fs *fs, const struct pcf_table_info *t)
{
	return t->can_insert && !t->read_only ? schema_mode(fs) : 0555;
}

/* The attributes of path; l is the load of an fstat's handle, whose size
 * is the bytes it took (an O_APPEND writer's offset comes from it). */
static int path_getattr(struct pcf_fs *fs, const char *path, struct stat *st,
			struct pcf_load *l, int fresh)
{
	struct pcf_table_info t;
	struct pcf_path n;
	int rc;

	if ((rc = parse_path(path, &n)) != 0)
		return rc;
	switch (n.kind) {
	case PCF_PATH_ROOT:
		fill_stat(fs, st, S_IFDIR | 0755, 2);
		break;
	case PCF_PATH_STATUS:
		if (n.is_dir)
			fill_stat(fs, st, S_IFDIR | 0555, 2);
		else
			fill_stat(fs, st, S_IFREG | 0444, 1);
		break;
	case PCF_PATH_SCHEMA:
		if ((rc = pcf_catalog_has_schema(&fs->catalog, n.schema)) != 0)
			return rc;
		fill_stat(fs, st, S_IFDIR | schema_mode(fs), 2);
		break;
	case PCF_PATH_STAGED:
	case PCF_PATH_DROP_FILE: {
		struct pcf_staged *sf = pcf_staged_find(n.dir, n.file);

		if (!sf)
			return -ENOENT;
		rc = pcf_staged_stat(sf, st);
		pcf_staged_put(sf);
		return rc; /* its own st_ino */
	}
	case PCF_PATH_TABLE:
	case PCF_PATH_DROP: /* a table's file, or its folder */
		rc = pcf_catalog_lookup(&fs->catalog, n.schema, n.table, fresh,
					&t);
		if (rc)
			return rc;
		if (n.kind == PCF_PATH_DROP)
			fill_stat(fs, st, S_IFDIR | drop_mode(fs, &t), 2);
		else
			fill_stat(fs, st, S_IFREG | table_file_mode(fs, &t), 1);
		pcf_table_info_free(&t);
		if (l)
			st->st_size = (off_t)atomic_load(&l->bytes);
		break;
	}
	st->st_ino = pcf_path_ino(path);
	if (n.kind == PCF_PATH_ROOT)
		st->st_ino = FUSE_ROOT_ID;
	return 0;
}

static struct pcf_fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* Whose loads the status files show to this request: all for root and
 * the mount's owner, else the requester's own (allow_other). */
static long viewer_of(fuse_req_t req)
{
	uid_t uid = fuse_req_ctx(req)->uid;

	return uid == 0 || uid == getuid() ? -1 : (long)uid;
}

/* The kernel says the writer got a signal: calls.c looks at once. */
static void on_interrupt(fuse_req_t req, void *data)
{
	(void)req;
	(void)data;
	pcf_calls_poke();
}

/*
 * libfuse cancels its workers at unmount, also one waiting on the server:
 * its call must leave the list (it lives on that worker's stack).
 */
static void call_cancelled(void *call)
{
	pcf_call_leave(call);
}

/* One request on a load: what it does, its arguments and its answer. */
struct load_call {
	struct pcf_call call;
	enum { DO_OPEN, DO_WRITE, DO_FLUSH, DO_FROM_FD } what;
	struct pcf_load *l;
	int fd; /* DO_FROM_FD */
	const char *buf;
	size_t size;
	off_t off;
	pid_t tid;
	int rc;
};

/* Runs it, seen by calls.c. Its one parameter is never changed: the
 * cleanup handler's longjmp may not clobber anything. */
static void load_call_run(struct load_call *c, fuse_req_t req)
{
	pcf_call_enter(&c->call, c->l, c->tid);
	fuse_req_interrupt_func(req, on_interrupt, NULL);
	pthread_cleanup_push(call_cancelled, &c->call);
	switch (c->what) {
	case DO_OPEN:
		c->rc = pcf_load_open(c->l);
		break;
	case DO_WRITE:
		c->rc = pcf_load_write(c->l, c->buf, c->size, c->off, c->tid);
		break;
	case DO_FLUSH:
		c->rc = pcf_load_flush(c->l, c->tid);
		break;
	case DO_FROM_FD:
		c->rc = pcf_load_from_fd(c->l, c->fd, c->tid);
		break;
	}
	pthread_cleanup_pop(1);
}

/* How long the kernel may keep a node's attributes. A staged file's size
 * moves with writes through any of its nodes; a table file's size is its
 * spooled read open's (fstat must ask). */
static double attr_timeout(int is_table, int staged)
{
	return staged || (is_table && table_attr_uncached) ? 0.0 : ATTR_TIMEOUT;
}

/* A size known (>= 0) into st. */
static void set_size(struct stat *st, int64_t size)
{
	if (size >= 0) {
		st->st_size = size;
		st->st_blocks = (size + 511) / 512;
	}
}

/* A read open that spooled its export (spooled_read) gives the node its
 * length. */
static void node_size(struct pcf_node *n, struct stat *st)
{
	set_size(st, pcf_node_size(n));
}

static int size_at_stat(fuse_req_t req, const char *path,
			const struct pcf_path *n, const struct stat *st,
			int64_t *size);

/* The size of node's file in st, as this stat's requester sees it: a
 * spooled open's length, else (tar's stat) size_at_stat's. 0 or -errno. */
static int stat_size(fuse_req_t req, struct pcf_node *node,
		     const struct pcf_path *n, struct stat *st)
{
	int64_t size = pcf_node_size(node);
	int rc = 0;

	if (size < 0)
		rc = size_at_stat(req, node->path, n, st, &size);
	set_size(st, size);
	return rc;
}

/* Fills e for path (attributes found a moment ago in st). */
static int make_entry(const char *path, const struct stat *st, pid_t tid,
		      struct pcf_staged *staged, struct fuse_entry_param *e)
{
	struct pcf_path pn;
	int is_table = parse_path(path, &pn) == 0 && pn.kind == PCF_PATH_TABLE;
	struct pcf_node *n = pcf_node_get(path, is_table, tid, staged);

	if (!n)
		return -ENOMEM;
	memset(e, 0, sizeof(*e));
	e->ino = pcf_node_id(n);
	e->generation = n->generation;
	e->attr = *st;
	node_size(n, &e->attr);
	/* A table: every path walk asks (the top of the file). A staged
	 * file: its size moves with writes through any of its nodes, and a
	 * rename may put a table back under its name. */
	e->attr_timeout = attr_timeout(is_table, staged != NULL);
	e->entry_timeout = is_table || staged ? 0.0 : DIR_ENTRY_TIMEOUT;
	return 0;
}

static void ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	struct stat st;
	char *path = pcf_path_join(pcf_node_of(parent)->path, name);
	int rc;

	if (!path) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	/* A table file missing from the tree is asked about, and the answer
	 * kept for a second (catalog.c); an O_CREAT open asks the server
	 * (ll_create), so one created a moment ago is loaded at once. */
	struct pcf_staged *sf = NULL;
	struct pcf_path n;
	pid_t tid = fuse_req_ctx(req)->pid;

	rc = parse_path(path, &n);
	if (rc == 0 && (n.kind == PCF_PATH_STAGED || n.kind == PCF_PATH_DROP_FILE)) {
		sf = pcf_staged_find(n.dir, n.file);
		rc = sf ? pcf_staged_stat(sf, &st) : -ENOENT;
	} else if (rc == 0 && n.kind == PCF_PATH_TABLE && pcf_tomb_hides(path, tid)) {
		rc = -ENOENT; /* unlinked by this process (replace-by-unlink) */
	} else if (rc == 0) {
		rc = path_getattr(fs_of(req), path, &st, NULL, 0);
	}
	if (rc == 0)
		rc = make_entry(path, &st, tid, sf, &e);
	if (rc == 0 && !sf &&
	    (rc = stat_size(req, pcf_node_of(e.ino), &n, &e.attr)) != 0)
		pcf_node_forget(pcf_node_of(e.ino), 1);
	pcf_staged_put(sf);
	free(path);
	if (rc) {
		fuse_reply_err(req, -rc); /* not cached: negative timeout 0 */
		return;
	}
	if (fuse_reply_entry(req, &e) != 0)
		pcf_node_forget(pcf_node_of(e.ino), 1); /* the kernel did not take it */
}

static void ll_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	pcf_node_forget(pcf_node_of(ino), nlookup);
	fuse_reply_none(req);
}

static void ll_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		pcf_node_forget(pcf_node_of(forgets[i].ino), forgets[i].nlookup);
	fuse_reply_none(req);
}

static void ll_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct handle *h = hold(fi);
	struct pcf_node *node = pcf_node_of(ino);
	struct stat st;
	int rc = node->staged ? pcf_staged_stat(node->staged, &st)
			      : path_getattr(fs_of(req), node->path, &st,
					     load_in(h), 0);

	int by_fh = h != NULL; /* an fstat the kernel sent with its handle */

	pcf_handle_drop(h);
	if (rc == 0 && !node->staged) {
		struct pcf_path n;

		/* (glibc's fstat is newfstatat(fd, "", AT_EMPTY_PATH): tar's
		 * fstat of its open file finds the open's size, the node's) */
		if (!by_fh && parse_path(node->path, &n) == 0)
			rc = stat_size(req, node, &n, &st);
		else
			node_size(node, &st);
	}
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st,
				attr_timeout(S_ISREG(st.st_mode), node->staged != NULL));
}

/* Directory listings: names with their types, taken whole at opendir. */
static int list_add(void *ctx, const char *name)
{
	struct dirent_list *d = ctx;

	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 64;
		char **names = realloc(d->names, cap * sizeof(*names));
		mode_t *modes;

		if (!names)
			return 1;
		d->names = names;
		modes = realloc(d->modes, cap * sizeof(*modes));
		if (!modes)
			return 1;
		d->modes = modes;
		d->cap = cap;
	}
	if (!(d->names[d->n] = strdup(name)))
		return 1;
	d->modes[d->n++] = 0;
	return 0;
}


static void ll_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct pcf_fs *fs = fs_of(req);
	const char *path = pcf_node_of(ino)->path;
	struct handle *h = pcf_handle_new(H_DIR);
	mode_t child = S_IFREG;
	struct pcf_path n;
	int rc;

	if (!h) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if ((rc = parse_path(path, &n)) != 0)
		goto fail;
	list_add(&h->dir, ".");
	list_add(&h->dir, "..");
	h->dir.modes[0] = h->dir.modes[1] = S_IFDIR;
	switch (n.kind) {
	case PCF_PATH_ROOT:
		list_add(&h->dir, PCF_STATUS_DIR);
		rc = pcf_catalog_list(&fs->catalog, NULL, list_add, &h->dir);
		child = S_IFDIR;
		break;
	case PCF_PATH_SCHEMA:
		rc = pcf_catalog_list(&fs->catalog, n.schema, list_add, &h->dir);
		if (rc == 0)
			rc = pcf_staged_list(path, list_add, &h->dir);
		break;
	case PCF_PATH_DROP: {
		struct stat st;

		/* The files being written there, and for a moment after. */
		rc = path_getattr(fs, path, &st, NULL, 0);
		if (rc == 0)
			rc = pcf_staged_list(path, list_add, &h->dir);
		break;
	}
	case PCF_PATH_STATUS:
		rc = pcf_status_list(n.rel, viewer_of(req), list_add, &h->dir);
		child = 0; /* told per name below */
		break;
	default:
		rc = -ENOTDIR;
	}
	if (rc)
		goto fail;
	for (size_t i = 2; i < h->dir.n; i++) {
		if (child || n.kind != PCF_PATH_STATUS) {
			h->dir.modes[i] = child;
			continue;
		}
		char rel[600];

		snprintf(rel, sizeof(rel), "%s/%s", n.rel, h->dir.names[i]);
		h->dir.modes[i] = pcf_status_kind(rel) == 1 ? S_IFDIR : S_IFREG;
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	if (fuse_reply_open(req, fi) != 0)
		pcf_handle_close(h);
	return;
fail:
	pcf_handle_close(h);
	fuse_reply_err(req, -rc);
}

static void ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct handle *h = hold(fi);
	const char *path = pcf_node_of(ino)->path;
	char *buf = malloc(size);
	size_t used = 0;

	if (!buf) {
		pcf_handle_drop(h);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (size_t i = (size_t)off; h && i < h->dir.n; i++) {
		struct stat st = { .st_mode = h->dir.modes[i] };
		char *child = pcf_path_join(path, h->dir.names[i]);
		size_t need;

		st.st_ino = child ? pcf_path_ino(child) : 0;
		free(child);
		need = fuse_add_direntry(req, buf + used, size - used,
					 h->dir.names[i], &st, (off_t)(i + 1));
		if (need > size - used)
			break;
		used += need;
	}
	fuse_reply_buf(req, buf, used);
	pcf_handle_drop(h);
	free(buf);
}

static void ll_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	(void)ino;
	pcf_handle_close((struct handle *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

/* The reader of req is being killed: interrupted, with SIGKILL pending. A
 * handled signal's interrupt is not (export.h). */
static int read_interrupted(void *req)
{
	return fuse_req_interrupted(req) &&
	       pcf_task_dying(fuse_req_ctx(req)->pid);
}

/* A task's process, its name and its thread group leader's ("" when it
 * leads), read once per request. */
struct task_names {
	pid_t tgid;
	char comm[32], leader[32];
};

static void task_names(pid_t tid, struct task_names *t)
{
	t->tgid = pcf_task_tgid(tid);
	pcf_task_comm(tid, t->comm, sizeof(t->comm));
	t->leader[0] = '\0';
	if (t->tgid > 0 && t->tgid != tid)
		pcf_task_comm(t->tgid, t->leader, sizeof(t->leader));
}

/* Whether the task is a program of list: by its name, or its thread group
 * leader's (a thread of its own name, as Java's). */
static int names_listed(const char *list, const struct task_names *t)
{
	return list[0] && (pcf_name_listed(list, t->comm) ||
			   (t->leader[0] && pcf_name_listed(list, t->leader)));
}

/*
 * Whether the read open by task tid spools the whole export first, so that
 * the open file's size is its length: under -o read_size=exact always;
 * under auto when the opener is a program that copies the size fstat of
 * the open file gives (-o size_at_open=: rsync's sender, scp, curl -T), or
 * copies with sendfile (Node's fs.copyFile; Python's shutil.copyfile and
 * Java's Files.copy, known by their stat of the file just before, which
 * marked it: -o size_after_stat=), which the kernel answers from the page
 * cache up to the inode's size, 0,
 * or a spreadsheet that takes the size for the sheet's length: each would
 * otherwise copy (or import) nothing and exit 0. A program is known by
 * its name (/proc/<tid>/comm, or its thread group leader's): another
 * program of that name only waits for a spool; a copy of rsync under
 * another name (or in another pid namespace, whose tid reads as 0)
 * streams, as under read_size=stream.
 * Reads return the same bytes either way.
 */
static int spooled_read(const struct pcf_fs *fs, const char *path,
			const struct task_names *who)
{
	if (fs->opts.read_mode != PCF_READ_AUTO)
		return fs->opts.read_mode == PCF_READ_EXACT;
	return names_listed(fs->opts.size_at_open, who) ||
	       pcf_statspool_take_mark(path, who->tgid);
}

/* Whether task tid's request comes from a stat call, rather than from the
 * path walk of another call (an open, an unlink). A task whose call the
 * daemon may not read (another user's, under Yama's ptrace scope) is
 * taken to stat: a spool too many rather than an archive of empty files. */
static int in_stat_call(pid_t tid)
{
	unsigned long long args[6];
	long nr;
	int rc = pcf_task_syscall(tid, &nr, args);

	if (rc == -EACCES || rc == -EPERM)
		return 1;
	if (rc)
		return 0;
	switch (nr) {
#ifdef SYS_stat
	case SYS_stat:
#endif
#ifdef SYS_lstat
	case SYS_lstat:
#endif
#ifdef SYS_newfstatat
	case SYS_newfstatat:
#endif
#ifdef SYS_fstatat64
	case SYS_fstatat64:
#endif
#ifdef SYS_statx
	case SYS_statx:
#endif
		return 1;
	default:
		return 0;
	}
}

/* Whether the requester may read a file of attributes st, by its mode
 * (the kernel's check at open, under allow_other's default_permissions). */
static int may_read(fuse_req_t req, const struct stat *st)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	gid_t groups[64];
	int n;

	if (ctx->uid == 0)
		return 1;
	if (ctx->uid == st->st_uid)
		return (st->st_mode & S_IRUSR) != 0;
	if (ctx->gid == st->st_gid)
		return (st->st_mode & S_IRGRP) != 0;
	n = fuse_req_getgroups(req, 64, groups);
	for (int i = 0; i < n && i < 64; i++)
		if (groups[i] == st->st_gid)
			return (st->st_mode & S_IRGRP) != 0;
	return (st->st_mode & S_IROTH) != 0;
}

/*
 * A table file's size as a stat by a program of -o size_at_stat= (tar)
 * takes it: the length of an export spooled now and kept for its open
 * (statspool.h), or -1 for every other stat (the size stays 0); a stat by
 * one of -o size_after_stat= (Python's shutil) marks the path for its
 * open, which spools (spooled_read). 0, or
 * -errno the stat fails with: EACCES for a requester the file's mode does
 * not let read (no export for it, nor the length; tar, which opens no
 * empty file, would archive the table empty and exit 0).
 */
static int size_at_stat(fuse_req_t req, const char *path,
			const struct pcf_path *n, const struct stat *st,
			int64_t *size)
{
	struct pcf_fs *fs = fs_of(req);
	pid_t tid = fuse_req_ctx(req)->pid;
	struct task_names t;

	*size = -1;
	if (n->kind != PCF_PATH_TABLE || fs->opts.read_mode == PCF_READ_STREAM ||
	    (!fs->opts.size_at_stat[0] && !fs->opts.size_after_stat[0]))
		return 0;
	task_names(tid, &t);
	if (names_listed(fs->opts.size_at_stat, &t)) {
		if (!in_stat_call(tid))
			return 0;
		if (!may_read(req, st))
			return -EACCES; /* tar would archive it empty, and exit 0 */
		return pcf_statspool_stat(fs, path, n->schema, n->table,
					  t.tgid, read_interrupted, req, size);
	}
	/* shutil's stat before its open and sendfile: the open spools */
	if (names_listed(fs->opts.size_after_stat, &t) && in_stat_call(tid) &&
	    may_read(req, st))
		return pcf_statspool_mark(path, t.tgid);
	return 0;
}

/*
 * Opens a table file: reading gives nothing, writing starts a load. The
 * load is made first, without a connection, so that the writer killed
 * while it connects or waits for a lock is seen (calls.h).
 */
static int open_load(fuse_req_t req, const char *path, const struct pcf_path *n,
		     struct fuse_file_info *fi, struct handle **out)
{
	struct pcf_fs *fs = fs_of(req);
	struct pcf_table_info t;
	struct handle *h;
	struct pcf_load *l = NULL;
	pid_t pid = fuse_req_ctx(req)->pid;
	int rc;

	rc = pcf_catalog_lookup(&fs->catalog, n->schema, n->table, 1, &t);
	if (rc)
		return rc;
	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		rc = pcf_load_new(fs, &t, path, fi->flags, pid,
				  fuse_req_ctx(req)->uid, &l);
		if (rc == 0) {
			struct load_call c = { .what = DO_OPEN, .l = l,
					       .tid = pid };

			load_call_run(&c, req);
			rc = c.rc;
			if (rc) {
				pcf_load_discard(l); /* calls.c saw it to here */
				l = NULL;
			}
		}
	}
	struct pcf_export *x = NULL;

	if (rc == 0 && !l && n->kind == PCF_PATH_TABLE) {
		/* A table file opened for reading: the table, streamed. */
		struct pcf_error e;
		struct task_names who;

		task_names(pid, &who);
		if (!t.can_select) {
			rc = -EACCES;
		} else if (fs->opts.read_mode != PCF_READ_STREAM &&
			   (x = pcf_statspool_take(path, who.tgid)) != NULL) {
			/* tar's open after its stat: the spool whose length
			 * the stat gave (statspool.h) */
		} else if ((rc = pcf_export_open(fs, &t, path,
						 spooled_read(fs, path, &who),
						 read_interrupted, req, &x,
						 &e)) != 0) {
			pcf_err("read of %s.%s refused: %s\n", t.schema, t.name,
				e.message);
		}
	}
	pcf_table_info_free(&t);
	if (rc)
		return rc;
	if (!(h = pcf_handle_new(l ? H_LOAD : H_TABLE_READ))) {
		if (l)
			pcf_load_release(l);
		pcf_export_close(x);
		return -ENOMEM;
	}
	h->load = l;
	h->export = x;
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->direct_io = 1; /* no page cache: bytes go straight to the load */
	fi->keep_cache = 0;
	*out = h;
	return 0;
}

/* While a load has node open, no lookup finds it (the top of the file). */
static void handle_on_node(struct handle *h, struct pcf_node *node)
{
	if (h->load) {
		h->node = node;
		pcf_node_writers(node, 1);
	} else if (h->export && pcf_export_size(h->export) >= 0) {
		h->read_node = node; /* spooled: its length is the node's size */
		pcf_node_read_size(node, h, pcf_export_size(h->export));
	}
}

/*
 * A spooled open's length, told to the kernel's inode before the open is
 * answered: sendfile and splice (Java's Files.copy opens and sends with no
 * fstat between) read the page cache up to the inode's size, which the
 * last stat left at 0 and nothing else would renew. A store notice moves
 * the size only when it stores a byte: the export's last one, where it is.
 */
static void tell_kernel_size(struct pcf_fs *fs, fuse_ino_t ino, struct pcf_export *x)
{
	int64_t size = pcf_export_size(x);
	char last;
	struct fuse_bufvec one = FUSE_BUFVEC_INIT(1);

	if (size <= 0 || pcf_export_spool_read(x, &last, 1, (off_t)size - 1) != 1)
		return;
	one.buf[0].mem = &last;
	(void)fuse_lowlevel_notify_store(fs->se, ino, (off_t)size - 1, &one, 0);
}

static int open_table(fuse_req_t req, struct pcf_node *node, const struct pcf_path *n,
		      struct fuse_file_info *fi)
{
	struct handle *h;
	int rc = open_load(req, node->path, n, fi, &h);

	if (rc == 0)
		handle_on_node(h, node);
	if (rc == 0 && h->read_node)
		tell_kernel_size(fs_of(req), pcf_node_id(node), h->export);
	return rc;
}

/*
 * A file of a drop folder opened for writing: a load into the folder's
 * table, as its table file's, whose name the store keeps (staged.h). The
 * handle holds the name. Opened for reading: nothing, as a table file.
 */
static int open_drop(fuse_req_t req, const char *path, const struct pcf_path *n,
		     struct fuse_file_info *fi, struct handle **out)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct pcf_table_info t;
	struct handle *h;
	mode_t mode;
	int rc;

	rc = pcf_catalog_lookup(&fs_of(req)->catalog, n->schema, n->table, 0, &t);
	if (rc)
		return rc;
	mode = table_file_mode(fs_of(req), &t);
	pcf_table_info_free(&t);
	if ((rc = open_load(req, path, n, fi, &h)) != 0)
		return rc;
	if (h->load &&
	    (rc = pcf_staged_add_load(n->dir, n->file, h->load, mode, ctx->uid,
				      ctx->gid, pcf_task_tgid(ctx->pid),
				      &h->staged)) != 0) {
		pcf_handle_close(h);
		return rc;
	}
	*out = h;
	return 0;
}

/* The kernel did not take an open (the opener is gone): undo it. */
static void open_undo(struct fuse_file_info *fi)
{
	pcf_handle_close((struct handle *)(uintptr_t)fi->fh);
}

static int open_status(fuse_req_t req, const struct pcf_path *n,
		       struct fuse_file_info *fi)
{
	struct handle *h;
	int err = 0;

	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return -EACCES;
	h = pcf_handle_new(H_STATUS);
	if (!h)
		return -ENOMEM;
	h->text = pcf_status_render(n->rel, viewer_of(req), &h->len, &err);
	if (!h->text) {
		pcf_handle_close(h);
		return -err;
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->direct_io = 1; /* its size is unknown until read */
	return 0;
}

/* Opens a staged file: a file on local disk, through the page cache. */
static int open_staged(struct pcf_staged *sf, struct fuse_file_info *fi)
{
	struct handle *h;

	if ((fi->flags & O_TRUNC) && (fi->flags & O_ACCMODE) != O_RDONLY &&
	    ftruncate(sf->fd, 0) != 0)
		return -errno;
	if (!(h = pcf_handle_new(H_STAGED)))
		return -ENOMEM;
	pcf_staged_hold(sf);
	h->staged = sf;
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->direct_io = 0;
	fi->keep_cache = 0; /* another node of it may have written */
	return 0;
}

static void ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	const char *path = pcf_node_of(ino)->path;
	struct pcf_path n;
	int rc;

	if (pcf_node_of(ino)->staged && !pcf_node_of(ino)->staged->drop) {
		rc = open_staged(pcf_node_of(ino)->staged, fi);
		if (rc)
			fuse_reply_err(req, -rc);
		else if (fuse_reply_open(req, fi) != 0)
			open_undo(fi);
		return;
	}
	if (pcf_node_of(ino)->staged) {
		/* A drop folder's file again: a new load under its name. */
		char *now = pcf_staged_path(pcf_node_of(ino)->staged);
		struct handle *h;

		rc = now ? parse_path(now, &n) : -ENOMEM;
		if (rc == 0 && (rc = open_drop(req, now, &n, fi, &h)) == 0)
			handle_on_node(h, pcf_node_of(ino));
		free(now);
		if (rc)
			fuse_reply_err(req, -rc);
		else if (fuse_reply_open(req, fi) != 0)
			open_undo(fi);
		return;
	}
	if ((rc = parse_path(path, &n)) == 0) {
		switch (n.kind) {
		case PCF_PATH_TABLE:
			rc = open_table(req, pcf_node_of(ino), &n, fi);
			break;
		case PCF_PATH_STATUS:
			rc = n.is_dir ? -EISDIR : open_status(req, &n, fi);
			break;
		case PCF_PATH_STAGED:
		case PCF_PATH_DROP_FILE:
			rc = -ENOENT; /* unlinked or renamed since the lookup */
			break;
		default:
			rc = -EISDIR;
		}
	}
	if (rc)
		fuse_reply_err(req, -rc);
	else if (fuse_reply_open(req, fi) != 0)
		open_undo(fi);
}

/* A new staged file in a schema directory, opened. */
static int create_staged(fuse_req_t req, const char *path, const struct pcf_path *n,
			 mode_t mode, struct fuse_file_info *fi,
			 struct fuse_entry_param *e)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct pcf_staged *sf;
	struct stat st;
	int rc;

	if ((rc = pcf_catalog_has_schema(&fs_of(req)->catalog, n->schema)) != 0)
		return rc;
	if (n->table[0]) { /* in a drop folder: its table must be there */
		struct pcf_table_info t;

		rc = pcf_catalog_lookup(&fs_of(req)->catalog, n->schema,
					n->table, 0, &t);
		if (rc)
			return rc;
		pcf_table_info_free(&t);
	}
	rc = pcf_staged_create(n->dir, n->file, mode & ~ctx->umask, ctx->uid,
			       ctx->gid, pcf_task_tgid(ctx->pid), &sf);
	if (rc)
		return rc;
	if ((rc = pcf_staged_stat(sf, &st)) == 0 &&
	    (rc = make_entry(path, &st, ctx->pid, sf, e)) == 0 &&
	    (rc = open_staged(sf, fi)) != 0)
		pcf_node_forget(pcf_node_of(e->ino), 1);
	if (rc)
		pcf_staged_unlink(n->dir, n->file);
	pcf_staged_put(sf);
	return rc;
}

/* A new file in a drop folder: a load into its table, opened. */
static int create_drop(fuse_req_t req, const char *path, const struct pcf_path *n,
		       struct fuse_file_info *fi, struct fuse_entry_param *e)
{
	struct handle *h;
	struct stat st;
	int rc;

	if ((rc = open_drop(req, path, n, fi, &h)) != 0)
		return rc;
	if (!h->staged) { /* O_CREAT|O_RDONLY: nothing to name */
		pcf_handle_close(h);
		return -EACCES;
	}
	if ((rc = pcf_staged_stat(h->staged, &st)) == 0 &&
	    (rc = make_entry(path, &st, fuse_req_ctx(req)->pid, h->staged,
			     e)) == 0)
		handle_on_node(h, pcf_node_of(e->ino));
	if (rc) {
		pcf_staged_unlink(n->dir, n->file);
		pcf_handle_close(h);
	}
	return rc;
}

/* O_CREAT of a name that is not there: pgcopyfs never creates tables, but
 * one created a moment ago is opened; any other name in a schema is a
 * staged file, and any name in a drop folder a load. */
static void ll_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	struct fuse_entry_param e;
	struct stat st;
	char *path = pcf_path_join(pcf_node_of(parent)->path, name);
	struct pcf_path n;
	int rc;

	(void)mode;
	if (!path) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	if ((rc = parse_path(path, &n)) == 0) {
		if (n.kind == PCF_PATH_STAGED) {
			rc = create_staged(req, path, &n, mode, fi, &e);
		} else if (n.kind == PCF_PATH_DROP_FILE) {
			rc = create_drop(req, path, &n, fi, &e);
		} else if (n.kind != PCF_PATH_TABLE) {
			/* a file that is not a table: none to be made */
			rc = n.kind == PCF_PATH_STATUS ? -EACCES : -ENOENT;
		} else {
			pcf_tomb_check(path, fuse_req_ctx(req)->pid, 1);
			if ((rc = path_getattr(fs_of(req), path, &st, NULL, 1)) == 0 &&
			    (rc = make_entry(path, &st, fuse_req_ctx(req)->pid,
					     NULL, &e)) == 0 &&
			    (rc = open_table(req, pcf_node_of(e.ino), &n, fi)) != 0)
				pcf_node_forget(pcf_node_of(e.ino), 1);
		}
	}
	free(path);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	if (fuse_reply_create(req, &e, fi) != 0) {
		open_undo(fi);
		pcf_node_forget(pcf_node_of(e.ino), 1);
	}
}


/* A read's answer from the bytes a table read keeps (export.c). */
static void reply_iov(void *req, int err, const struct iovec *iov, int count)
{
	/* A failure here means the reader is gone. */
	if (err)
		(void)fuse_reply_err(req, err);
	else
		(void)fuse_reply_iov(req, iov, count);
}

static void ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct handle *h = hold(fi);

	(void)ino;
	if (h && h->kind == H_STAGED) {
		char *buf = malloc(size ? size : 1);
		ssize_t n = buf ? pread(h->staged->fd, buf, size, off) : -1;

		if (n < 0)
			fuse_reply_err(req, buf ? errno : ENOMEM);
		else
			fuse_reply_buf(req, buf, (size_t)n);
		free(buf);
	} else if (h && h->kind == H_TABLE_READ && h->export) {
		int rc = pcf_export_reply(h->export, size, off, read_interrupted,
					  req, reply_iov, req);

		if (rc < 0)
			fuse_reply_err(req, -rc);
	} else if (!h || h->kind != H_STATUS || off < 0 ||
		   (size_t)off >= h->len) {
		fuse_reply_buf(req, NULL, 0); /* a drop folder's file: empty */
	} else {
		if (size > h->len - (size_t)off)
			size = h->len - (size_t)off;
		fuse_reply_buf(req, h->text + off, size);
	}
	pcf_handle_drop(h);
}

static void ll_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	struct handle *h = hold(fi);
	struct load_call c = { .what = DO_WRITE, .l = load_in(h), .buf = buf,
			       .size = size, .off = off,
			       .tid = fuse_req_ctx(req)->pid };

	(void)ino;
	if (h && h->kind == H_STAGED) {
		/* A full spool disk is the writer's ENOSPC. */
		ssize_t n = pwrite(h->staged->fd, buf, size, off);

		pcf_handle_drop(h);
		if (n < 0)
			fuse_reply_err(req, errno);
		else
			fuse_reply_write(req, (size_t)n);
		return;
	}
	if (!c.l) {
		pcf_handle_drop(h);
		fuse_reply_err(req, EBADF);
		return;
	}
	load_call_run(&c, req);
	pcf_handle_drop(h);
	if (c.rc < 0)
		fuse_reply_err(req, -c.rc);
	else
		fuse_reply_write(req, (size_t)c.rc);
}

static void ll_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct handle *h = hold(fi);
	struct load_call c = { .what = DO_FLUSH, .l = load_in(h),
			       .tid = fuse_req_ctx(req)->pid };

	(void)ino;
	/* The keeper dropping a reference (holders.h): nothing to decide. */
	if (c.l && !(c.tid > 0 && c.tid == pcf_keeper_pid()))
		load_call_run(&c, req);
	pcf_handle_drop(h);
	fuse_reply_err(req, -c.rc);
}

static void ll_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		     struct fuse_file_info *fi)
{
	struct handle *h = hold(fi);
	struct pcf_load *l = load_in(h);
	int rc = l ? pcf_load_fsync(l) : 0;

	(void)ino;
	(void)datasync;
	pcf_handle_drop(h);
	fuse_reply_err(req, -rc);
}

static void ll_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	(void)ino;
	pcf_handle_close((struct handle *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static int do_truncate(struct pcf_fs *fs, const char *path, off_t size,
		       struct pcf_load *l)
{
	struct pcf_path n;
	int rc;

	if (l) {
		if ((uint64_t)size == atomic_load(&l->bytes))
			return 0; /* no change: ftruncate(fd, 0) before writing */
		/* A writer's own ftruncate fails its own load only. An open
		 * that has written nothing and truncates (truncate(1) opens the
		 * file itself) means the path: the loads that have written. */
		if (atomic_load(&l->bytes) == 0)
			pcf_loads_size_changed(l->path);
		return pcf_load_refuse(l, EINVAL,
				       "ftruncate() changed the size during "
				       "the load");
	}
	if ((rc = parse_path(path, &n)) != 0)
		return rc;
	if (n.kind != PCF_PATH_TABLE)
		return n.kind == PCF_PATH_STATUS ? -EACCES : -EISDIR;
	if (size == 0)
		return 0; /* like the O_TRUNC of an open: nothing to delete */
	char abs[PATH_MAX + 256];

	snprintf(abs, sizeof(abs), "%s%s", fs->mountpoint, path);
	pcf_loads_size_changed(abs);
	return -EINVAL;
}

/* setattr of a staged file: what a local disk would do. */
static int staged_setattr(fuse_req_t req, struct pcf_staged *sf,
			  const struct stat *attr, int to_set)
{
	uid_t who = fuse_req_ctx(req)->uid;
	struct stat st;
	int rc;

	if ((rc = pcf_staged_stat(sf, &st)) != 0)
		return rc;
	if ((to_set & FUSE_SET_ATTR_SIZE) && ftruncate(sf->fd, attr->st_size) != 0)
		return -errno;
	if (to_set & FUSE_SET_ATTR_MODE) {
		if (who != 0 && who != st.st_uid)
			return -EPERM;
		pcf_staged_chmod(sf, attr->st_mode);
	}
	if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		uid_t uid = (to_set & FUSE_SET_ATTR_UID) ? attr->st_uid : (uid_t)-1;
		gid_t gid = (to_set & FUSE_SET_ATTR_GID) ? attr->st_gid : (gid_t)-1;

		if (who != 0 && ((uid != (uid_t)-1 && uid != st.st_uid) ||
				 who != st.st_uid))
			return -EPERM;
		pcf_staged_chown(sf, uid, gid);
	}
	if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) {
		struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT },
					  { .tv_nsec = UTIME_OMIT } };

		if (to_set & FUSE_SET_ATTR_ATIME)
			ts[0] = (to_set & FUSE_SET_ATTR_ATIME_NOW)
					? (struct timespec){ .tv_nsec = UTIME_NOW }
					: attr->st_atim;
		if (to_set & FUSE_SET_ATTR_MTIME)
			ts[1] = (to_set & FUSE_SET_ATTR_MTIME_NOW)
					? (struct timespec){ .tv_nsec = UTIME_NOW }
					: attr->st_mtim;
		if (futimens(sf->fd, ts) != 0)
			return -errno;
	}
	return 0;
}

static void ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	struct pcf_fs *fs = fs_of(req);
	struct handle *h;
	struct pcf_load *l;
	const char *path = pcf_node_of(ino)->path;
	struct stat st;
	int rc;

	if (pcf_node_of(ino)->staged && pcf_node_of(ino)->staged->drop) {
		/* A drop folder's file: a table file's rules. */
		struct pcf_staged *sf = pcf_node_of(ino)->staged;
		struct pcf_load *named = pcf_staged_load(sf);

		h = hold(fi);
		l = load_in(h) ? load_in(h) : named;
		rc = 0;
		if (to_set & FUSE_SET_ATTR_SIZE)
			rc = l ? do_truncate(fs, path, attr->st_size, l) : -EINVAL;
		pcf_handle_drop(h);
		if (named)
			pcf_load_unref(named);
		goto staged_reply;
	}
	if (pcf_node_of(ino)->staged) {
		rc = staged_setattr(req, pcf_node_of(ino)->staged, attr, to_set);
		goto staged_reply;
	}
	h = hold(fi);
	l = load_in(h);
	rc = path_getattr(fs, path, &st, l, 0);

	if (rc == 0 && (to_set & FUSE_SET_ATTR_SIZE))
		rc = do_truncate(fs, path, attr->st_size, l);
	/* Modes, owners and times are accepted and change nothing: a table
	 * file's mode is the role's privilege, not the file's. install's
	 * fchmod(0600) while it copies, mv's and cp -p's and tar's own, and
	 * touch, all go through. */
	if (rc == 0)
		rc = path_getattr(fs, path, &st, l, 0);
	pcf_handle_drop(h);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, ATTR_TIMEOUT);
	return;
staged_reply:
	if (rc == 0)
		rc = pcf_staged_stat(pcf_node_of(ino)->staged, &st);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, 0.0);
}

static void ll_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off,
			 off_t len, struct fuse_file_info *fi)
{
	struct handle *h = hold(fi);
	struct pcf_load *l = load_in(h);

	(void)ino;
	(void)mode;
	(void)off;
	(void)len;
	if (l)
		pcf_load_refuse(l, EOPNOTSUPP, "fallocate() during the load");
	pcf_handle_drop(h);
	fuse_reply_err(req, EOPNOTSUPP);
}

static void ll_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct stat st;
	int rc = pcf_node_of(ino)->staged
			 ? pcf_staged_stat(pcf_node_of(ino)->staged, &st)
			 : path_getattr(fs_of(req), pcf_node_of(ino)->path, &st,
					NULL, 0);

	if (rc == 0 && (mask & W_OK) && !(st.st_mode & 0200))
		rc = -EACCES;
	fuse_reply_err(req, -rc);
}

static void ll_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;

	(void)ino;
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = 1 << 20;
	sv.f_frsize = 4096;
	sv.f_namemax = 255;
	fuse_reply_statfs(req, &sv);
}

/* Nothing but loading: no DDL, no renames, no removals. */
static void ll_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	(void)parent, (void)name, (void)mode, (void)rdev;
	fuse_reply_err(req, EPERM);
}

static void ll_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	(void)parent, (void)name, (void)mode;
	fuse_reply_err(req, EPERM);
}

static int unlink_staged(fuse_req_t req, const struct pcf_path *n);

static void ll_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	(void)parent, (void)name;
	fuse_reply_err(req, EPERM);
}

/* unlink: a staged file is discarded; a table file's rows stay, and the
 * name is hidden from the unlinking process until it creates it again
 * (replace-by-unlink, see the tombs above). */
static void ll_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	char *path = pcf_path_join(pcf_node_of(parent)->path, name);
	struct stat st;
	struct pcf_path n;
	int rc;

	if (!path) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	if ((rc = parse_path(path, &n)) == 0) {
		switch (n.kind) {
		case PCF_PATH_STAGED:
		case PCF_PATH_DROP_FILE:
			rc = unlink_staged(req, &n);
			break;
		case PCF_PATH_DROP:
			rc = -EISDIR;
			break;
		case PCF_PATH_TABLE:
			rc = path_getattr(fs_of(req), path, &st, NULL, 0);
			if (rc == 0 && pcf_tomb_hides(path, fuse_req_ctx(req)->pid))
				rc = -ENOENT; /* unlinked already */
			if (rc == 0)
				pcf_tomb_add(path, pcf_task_tgid(fuse_req_ctx(req)->pid));
			break;
		case PCF_PATH_STATUS:
			rc = -EACCES;
			break;
		default:
			rc = -EPERM;
		}
	}
	free(path);
	fuse_reply_err(req, -rc);
}

static void ll_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		       const char *name)
{
	(void)link, (void)parent, (void)name;
	fuse_reply_err(req, EPERM);
}

static void ll_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		    const char *newname)
{
	(void)ino, (void)newparent, (void)newname;
	fuse_reply_err(req, EPERM);
}

/* Only the owner (or root, or the mount's owner) removes a staged file
 * from a schema directory that others may write to. */
static int may_remove(fuse_req_t req, struct pcf_staged *sf)
{
	uid_t who = fuse_req_ctx(req)->uid;
	struct stat st;

	if (who == 0 || who == getuid() || !(schema_mode(fs_of(req)) & 0022))
		return 0;
	if (pcf_staged_stat(sf, &st) != 0)
		return 0;
	return st.st_uid == who ? 0 : -EPERM;
}

/* unlink of a staged file discards it; of a drop folder's file, rolls
 * its load back if it waits for its writer's exit (a tool that gives up
 * on a file removes it), and leaves a committed one's rows alone. */
static int unlink_staged(fuse_req_t req, const struct pcf_path *n)
{
	struct pcf_staged *sf = pcf_staged_find(n->dir, n->file);
	int rc;

	if (!sf)
		return -ENOENT;
	rc = may_remove(req, sf);
	if (rc == 0 && sf->drop) {
		struct pcf_load *l = pcf_staged_load(sf);

		if (l) {
			(void)pcf_load_settle(l, 0, fuse_req_ctx(req)->pid);
			pcf_load_unref(l);
		}
	}
	pcf_staged_put(sf);
	return rc ? rc : pcf_staged_unlink(n->dir, n->file);
}

/*
 * rename(staged, "<table>.csv"): the staged bytes are loaded into the table
 * under the usual rules, as an O_TRUNC open would (-o truncate replaces),
 * all or nothing, and the rename returns only after the COMMIT, with its
 * outcome. On failure the staged file stays, as a failed rename leaves its
 * source.
 */
static int rename_commit(fuse_req_t req, struct pcf_staged *sf,
			 const char *to, const struct pcf_path *n)
{
	struct pcf_fs *fs = fs_of(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct pcf_table_info t;
	struct pcf_load *l = NULL;
	int rc;

	rc = pcf_catalog_lookup(&fs->catalog, n->schema, n->table, 1, &t);
	if (rc)
		return rc;
	rc = pcf_load_new(fs, &t, to, O_WRONLY | O_CREAT | O_TRUNC, ctx->pid,
			  ctx->uid, &l);
	pcf_table_info_free(&t);
	if (rc)
		return rc;
	struct load_call c = { .what = DO_OPEN, .l = l, .tid = ctx->pid };

	load_call_run(&c, req);
	if ((rc = c.rc) != 0) {
		pcf_load_discard(l); /* calls.c saw it to here */
		return rc;
	}
	c.what = DO_FROM_FD;
	c.fd = sf->fd;
	load_call_run(&c, req);
	rc = c.rc;
	if (rc == 0) {
		pcf_staged_detach(sf); /* its bytes are rows now */
		pcf_tomb_check(to, ctx->pid, 1);
		if (n->kind == PCF_PATH_DROP_FILE) {
			/* The new name shows a moment, as a drop file's. */
			struct pcf_staged *landed;

			if (pcf_staged_add_load(n->dir, n->file, l, sf->mode,
						ctx->uid, ctx->gid,
						pcf_task_tgid(ctx->pid),
						&landed) == 0) {
				pcf_staged_handles(landed, -1);
				pcf_staged_put(landed);
			}
		}
	}
	pcf_load_release(l);
	return rc;
}

/*
 * rename of a drop folder's file onto another name of the same folder: the
 * tool is done with it (LibreOffice's and Java's temp files have no dot),
 * so a load waiting for its writer's exit commits now, and the rename
 * answers its outcome; a failed one fails the rename. Elsewhere: EPERM (a
 * load stays in its table).
 */
static int rename_drop(fuse_req_t req, const struct pcf_path *a, const char *to,
		       unsigned int flags)
{
	struct pcf_staged *sf, *there;
	struct pcf_path b;
	int rc;

	if ((rc = parse_path(to, &b)) != 0)
		return rc;
	if (b.kind != PCF_PATH_DROP_FILE || strcmp(a->dir, b.dir) != 0 ||
	    (flags & RENAME_EXCHANGE))
		return -EPERM;
	if (!(sf = pcf_staged_find(a->dir, a->file)))
		return -ENOENT;
	there = pcf_staged_find(b.dir, b.file);
	if (there && there != sf && (flags & RENAME_NOREPLACE))
		rc = -EEXIST;
	else if ((rc = may_remove(req, sf)) == 0) {
		struct pcf_load *l = pcf_staged_load(sf);

		if (l) {
			rc = pcf_load_settle(l, 1, fuse_req_ctx(req)->pid);
			pcf_load_unref(l);
		}
		if (rc == 0)
			rc = pcf_staged_rename(a->dir, a->file, b.dir, b.file, 0);
	}
	pcf_staged_put(there);
	pcf_staged_put(sf);
	return rc;
}

static void ll_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	char *from = pcf_path_join(pcf_node_of(parent)->path, name);
	char *to = pcf_path_join(pcf_node_of(newparent)->path, newname);
	struct pcf_staged *sf = NULL;
	struct pcf_path a, b;
	int rc;

	if (!from || !to) {
		rc = -ENAMETOOLONG;
		goto out;
	}
	if ((rc = parse_path(from, &a)) != 0)
		goto out;
	if (a.kind == PCF_PATH_DROP_FILE) {
		rc = rename_drop(req, &a, to, flags);
		goto out;
	}
	if (a.kind != PCF_PATH_STAGED) {
		/* Tables, schemas and status files keep their names. */
		rc = a.kind == PCF_PATH_STATUS ? -EACCES : -EPERM;
		goto out;
	}
	if (!(sf = pcf_staged_find(a.dir, a.file))) {
		rc = -ENOENT;
		goto out;
	}
	if ((rc = may_remove(req, sf)) != 0)
		goto out;
	if ((rc = parse_path(to, &b)) != 0)
		goto out;
	if (flags & RENAME_EXCHANGE) {
		rc = -EINVAL; /* a staged file and a table cannot trade places */
		goto out;
	}
	switch (b.kind) {
	case PCF_PATH_STAGED:
		if ((rc = pcf_catalog_has_schema(&fs_of(req)->catalog,
						 b.schema)) == 0)
			rc = pcf_staged_rename(a.dir, a.file, b.dir, b.file,
					       (flags & RENAME_NOREPLACE)
						       ? PCF_STAGED_NOREPLACE
						       : 0);
		break;
	case PCF_PATH_TABLE:
		rc = (flags & RENAME_NOREPLACE) ? -EEXIST
						: rename_commit(req, sf, to, &b);
		break;
	case PCF_PATH_DROP_FILE: {
		struct pcf_staged *there = pcf_staged_find(b.dir, b.file);

		rc = there && (flags & RENAME_NOREPLACE)
			     ? -EEXIST
			     : rename_commit(req, sf, to, &b);
		pcf_staged_put(there);
		break;
	}
	case PCF_PATH_STATUS:
		rc = -EACCES;
		break;
	case PCF_PATH_DROP:
	case PCF_PATH_SCHEMA:
	case PCF_PATH_ROOT:
		rc = -EISDIR;
		break;
	}
out:
	pcf_staged_put(sf);
	free(from);
	free(to);
	fuse_reply_err(req, -rc);
}

static void ll_init(void *userdata, struct fuse_conn_info *conn)
{
	table_attr_uncached =
		((struct pcf_fs *)userdata)->opts.read_mode != PCF_READ_STREAM;
	/* O_DIRECT writes split by the kernel must still arrive in order. */
	conn->want &= ~FUSE_CAP_ASYNC_DIO;
	/* Write-back caching reorders and merges writes: never for a stream. */
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
}

/* Unmount: every load still open is rolled back; release will not come. */
static void ll_destroy(void *userdata)
{
	struct pcf_load *l;

	(void)userdata;
	pcf_checkpointer_stop(); /* it holds loads for a moment */
	pcf_watch_stop(); /* closers followed to their exit are let go */
	pcf_staged_release_loads(); /* before the loads go */
	while ((l = pcf_registry_pop()) != NULL)
		pcf_load_abandon(l, "the file system was unmounted during "
				    "the load");
	/* No RELEASE or FORGET comes after this. A handle's load, if any,
	 * was abandoned above. */
	pcf_handles_free_all();
	pcf_nodes_free_all();
	pcf_statspool_sweep(1);
}

const struct fuse_lowlevel_ops pcf_fs_ops = {
	.init = ll_init,
	.destroy = ll_destroy,
	.lookup = ll_lookup,
	.forget = ll_forget,
	.forget_multi = ll_forget_multi,
	.getattr = ll_getattr,
	.setattr = ll_setattr,
	.opendir = ll_opendir,
	.readdir = ll_readdir,
	.releasedir = ll_releasedir,
	.open = ll_open,
	.create = ll_create,
	.read = ll_read,
	.write = ll_write,
	.flush = ll_flush,
	.fsync = ll_fsync,
	.release = ll_release,
	.fallocate = ll_fallocate,
	.access = ll_access,
	.statfs = ll_statfs,
	.mknod = ll_mknod,
	.mkdir = ll_mkdir,
	.unlink = ll_unlink,
	.rmdir = ll_rmdir,
	.symlink = ll_symlink,
	.link = ll_link,
	.rename = ll_rename,
};
