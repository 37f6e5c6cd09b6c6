/*
 * fsops.c - the FUSE operations: map paths to the catalog, the status files
 * and loads, and refuse everything that is not loading a table.
 *
 * Tree:  /                      schemas (+ .pgcopyfs)
 *        /<schema>/             one <table>.csv per table
 *        /.pgcopyfs/<file>      status files (status.c)
 * Errors are -errno straight from the lower layers; their messages are in
 * the load's state, the log and .pgcopyfs/history.
 */
#define FUSE_USE_VERSION 312
#include <fuse.h>

#include "fs.h"
#include "holders.h"
#include "load.h"
#include "registry.h"
#include "status.h"
#include "watch.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum node_kind { NODE_ROOT, NODE_STATUS, NODE_SCHEMA, NODE_TABLE };

struct node {
	enum node_kind kind;
	const char *rel;  /* NODE_STATUS: the path below .pgcopyfs ("" or
			   * "/history"), for status.c */
	int is_dir;       /* NODE_STATUS: a directory */
	char schema[256]; /* escaped schema name */
	char file[256];   /* escaped table name + ".csv" */
};

/*
 * What fi->fh holds: for a table file opened for writing its struct
 * pcf_load (0 when opened only for reading); for a status file the text
 * rendered at open.
 */
struct status_text {
	char *text;
	size_t len;
};

static int is_status_path(const char *path)
{
	return strncmp(path, "/" PCF_STATUS_DIR "/",
		       strlen("/" PCF_STATUS_DIR "/")) == 0;
}

static struct pcf_load *load_of(const char *path, struct fuse_file_info *fi)
{
	if (!fi || !path || is_status_path(path))
		return NULL;
	return (struct pcf_load *)(uintptr_t)fi->fh;
}

static struct status_text *status_of(const char *path,
				     struct fuse_file_info *fi)
{
	if (!fi || !path || !is_status_path(path))
		return NULL;
	return (struct status_text *)(uintptr_t)fi->fh;
}

static struct pcf_fs *fs_of_context(void)
{
	return fuse_get_context()->private_data;
}

static int copy_part(char *dst, const char *src, size_t len)
{
	if (len == 0 || len >= 256)
		return -ENOENT;
	memcpy(dst, src, len);
	dst[len] = '\0';
	return 0;
}

/* Splits a path into what it names; -ENOENT for anything deeper. */
static int parse_path(const char *path, struct node *n)
{
	const char *a = path + 1, *slash = strchr(a, '/');
	size_t flen, dlen = strlen(PCF_STATUS_DIR);

	memset(n, 0, sizeof(*n));
	if (*a == '\0') {
		n->kind = NODE_ROOT;
		return 0;
	}
	if (strncmp(a, PCF_STATUS_DIR, dlen) == 0 &&
	    (a[dlen] == '\0' || a[dlen] == '/')) {
		int kind;

		n->kind = NODE_STATUS;
		n->rel = a + dlen;
		kind = pcf_status_kind(n->rel);
		if (kind < 0)
			return kind;
		n->is_dir = kind;
		return 0;
	}
	if (!slash) {
		n->kind = NODE_SCHEMA;
		return copy_part(n->schema, a, strlen(a));
	}
	if (strchr(slash + 1, '/') ||
	    copy_part(n->schema, a, (size_t)(slash - a)) ||
	    copy_part(n->file, slash + 1, strlen(slash + 1)))
		return -ENOENT;
	flen = strlen(n->file);
	if (flen <= 4 || strcmp(n->file + flen - 4, ".csv") != 0)
		return -ENOENT;
	n->kind = NODE_TABLE;
	return 0;
}

static void fill_stat(struct stat *st, mode_t mode, nlink_t nlink)
{
	struct pcf_fs *fs = fs_of_context();

	memset(st, 0, sizeof(*st));
	st->st_mode = mode;
	st->st_nlink = nlink;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_atime = st->st_mtime = st->st_ctime = fs->mounted_at;
	st->st_blksize = 1 << 20; /* invites 1 MiB writes */
}

static int pcf_op_getattr(const char *path, struct stat *st,
			  struct fuse_file_info *fi)
{
	struct pcf_fs *fs = fs_of_context();
	struct pcf_table_info t;
	struct node n;
	int rc;

	(void)fi;
	if ((rc = parse_path(path, &n)) != 0)
		return rc;
	switch (n.kind) {
	case NODE_ROOT:
		fill_stat(st, S_IFDIR | 0755, 2);
		return 0;
	case NODE_STATUS:
		if (n.is_dir)
			fill_stat(st, S_IFDIR | 0555, 2);
		else
			fill_stat(st, S_IFREG | 0444, 1);
		return 0;
	case NODE_SCHEMA:
		if ((rc = pcf_catalog_has_schema(&fs->catalog, n.schema)) != 0)
			return rc;
		fill_stat(st, S_IFDIR | 0755, 2);
		return 0;
	case NODE_TABLE:
		rc = pcf_catalog_lookup(&fs->catalog, n.schema, n.file, 1, &t);
		if (rc)
			return rc;
		fill_stat(st, S_IFREG | (t.can_insert ? fs->opts.table_mode
						       : fs->opts.table_mode & 0444),
			  1);
		pcf_table_info_free(&t);
		return 0;
	}
	return -ENOENT;
}

struct dir_fill {
	void *buf;
	fuse_fill_dir_t filler;
};

static int fill_name(void *ctx, const char *name)
{
	struct dir_fill *d = ctx;

	return d->filler(d->buf, name, NULL, 0, 0);
}

static int pcf_op_readdir(const char *path, void *buf, fuse_fill_dir_t filler,
			  off_t off, struct fuse_file_info *fi,
			  enum fuse_readdir_flags flags)
{
	struct pcf_fs *fs = fs_of_context();
	struct dir_fill d = { buf, filler };
	struct node n;
	int rc;

	(void)off;
	(void)fi;
	(void)flags;
	if ((rc = parse_path(path, &n)) != 0)
		return rc;
	filler(buf, ".", NULL, 0, 0);
	filler(buf, "..", NULL, 0, 0);
	switch (n.kind) {
	case NODE_ROOT:
		filler(buf, PCF_STATUS_DIR, NULL, 0, 0);
		return pcf_catalog_list(&fs->catalog, NULL, fill_name, &d);
	case NODE_SCHEMA:
		return pcf_catalog_list(&fs->catalog, n.schema, fill_name, &d);
	case NODE_STATUS:
		return pcf_status_list(n.rel, fill_name, &d);
	default:
		return -ENOTDIR;
	}
}

/* Opens a table file: reading gives nothing, writing starts a load. */
static int open_table(const char *path, const struct node *n,
		      struct fuse_file_info *fi)
{
	struct pcf_fs *fs = fs_of_context();
	struct pcf_table_info t;
	struct pcf_load *l = NULL;
	int rc;

	rc = pcf_catalog_lookup(&fs->catalog, n->schema, n->file, 1, &t);
	if (rc)
		return rc;
	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		rc = pcf_load_open(fs, &t, path, fi->flags,
				   fuse_get_context()->pid, &l);
	pcf_table_info_free(&t);
	if (rc)
		return rc;
	fi->fh = (uint64_t)(uintptr_t)l;
	fi->direct_io = 1; /* no page cache: bytes go straight to the load */
	fi->keep_cache = 0;
	return 0;
}

static int open_status(const struct node *n, struct fuse_file_info *fi)
{
	struct status_text *h;
	int err = 0;

	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return -EACCES;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->text = pcf_status_render(n->rel, &h->len, &err);
	if (!h->text) {
		free(h);
		return -err;
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->direct_io = 1; /* its size is unknown until read */
	return 0;
}

static int pcf_op_open(const char *path, struct fuse_file_info *fi)
{
	struct node n;
	int rc;

	if ((rc = parse_path(path, &n)) != 0)
		return rc;
	switch (n.kind) {
	case NODE_TABLE:
		return open_table(path, &n, fi);
	case NODE_STATUS:
		return n.is_dir ? -EISDIR : open_status(&n, fi);
	default:
		return -EISDIR;
	}
}

/* O_CREAT of a name that is not there: pgcopyfs never creates tables. */
static int pcf_op_create(const char *path, mode_t mode,
			 struct fuse_file_info *fi)
{
	struct node n;
	int rc;

	(void)mode;
	if ((rc = parse_path(path, &n)) != 0)
		return rc;
	if (n.kind == NODE_TABLE)
		return open_table(path, &n, fi); /* created a moment ago */
	return n.kind == NODE_STATUS ? -EACCES : -EEXIST;
}

static int pcf_op_read(const char *path, char *buf, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct status_text *h = status_of(path, fi);

	if (!h || off < 0 || (size_t)off >= h->len)
		return 0; /* table files read as empty */
	if (size > h->len - (size_t)off)
		size = h->len - (size_t)off;
	memcpy(buf, h->text + off, size);
	return (int)size;
}

static int pcf_op_write(const char *path, const char *buf, size_t size,
			off_t off, struct fuse_file_info *fi)
{
	struct pcf_load *l = load_of(path, fi);

	if (!l)
		return -EBADF;
	return pcf_load_write(l, buf, size, off, fuse_get_context()->pid);
}

static int pcf_op_flush(const char *path, struct fuse_file_info *fi)
{
	struct pcf_load *l = load_of(path, fi);
	pid_t pid = fuse_get_context()->pid;

	/* The keeper dropping a reference (holders.h): nothing to decide. */
	if (l && pid > 0 && pid == pcf_keeper_pid())
		return 0;
	return l ? pcf_load_flush(l, pid) : 0;
}

static int pcf_op_fsync(const char *path, int datasync,
			struct fuse_file_info *fi)
{
	struct pcf_load *l = load_of(path, fi);

	(void)datasync;
	return l ? pcf_load_fsync(l) : 0;
}

static int pcf_op_release(const char *path, struct fuse_file_info *fi)
{
	struct status_text *h = status_of(path, fi);
	struct pcf_load *l = load_of(path, fi);

	if (l)
		pcf_load_release(l);
	if (h) {
		free(h->text);
		free(h);
	}
	return 0;
}

static int pcf_op_truncate(const char *path, off_t size,
			   struct fuse_file_info *fi)
{
	struct pcf_fs *fs = fs_of_context();
	struct pcf_load *l = load_of(path, fi);
	struct node n;
	int rc;

	if (l) {
		if ((uint64_t)size == atomic_load(&l->bytes))
			return 0; /* no change: ftruncate(fd, 0) before writing */
		/* truncate(1) opens the file itself: fail every load of the
		 * file, not only the one the call came through. */
		pcf_loads_size_changed(l->path);
		return pcf_load_refuse(l, EINVAL,
				       "ftruncate() changed the size during "
				       "the load");
	}
	if ((rc = parse_path(path, &n)) != 0)
		return rc;
	if (n.kind != NODE_TABLE)
		return n.kind == NODE_STATUS ? -EACCES : -EISDIR;
	if (size == 0)
		return 0; /* like the O_TRUNC of an open: nothing to delete */
	/* The path is known to the mount as "/schema/file". */
	char abs[4096];

	snprintf(abs, sizeof(abs), "%s%s", fs->mountpoint, path);
	pcf_loads_size_changed(abs);
	return -EINVAL;
}

static int pcf_op_fallocate(const char *path, int mode, off_t off, off_t len,
			    struct fuse_file_info *fi)
{
	struct pcf_load *l = load_of(path, fi);

	(void)mode;
	(void)off;
	(void)len;
	if (l)
		pcf_load_refuse(l, EOPNOTSUPP,
				"fallocate() during the load");
	return -EOPNOTSUPP;
}

/* chmod/chown that change nothing succeed (cp -p, install); others fail,
 * and fail the load they were made on. */
static int refuse_attr_change(const char *path, struct fuse_file_info *fi,
			      int unchanged, const char *what)
{
	struct pcf_load *l = load_of(path, fi);

	if (unchanged)
		return 0;
	if (l)
		pcf_load_refuse(l, EPERM, what);
	return -EPERM;
}

static int pcf_op_chmod(const char *path, mode_t mode,
			struct fuse_file_info *fi)
{
	struct stat st;
	int rc = pcf_op_getattr(path, &st, fi);

	if (rc)
		return rc;
	return refuse_attr_change(path, fi,
				  (mode & 07777) == (st.st_mode & 07777),
				  "chmod() during the load");
}

static int pcf_op_chown(const char *path, uid_t uid, gid_t gid,
			struct fuse_file_info *fi)
{
	struct pcf_fs *fs = fs_of_context();
	struct stat st;
	int rc = pcf_op_getattr(path, &st, fi);

	if (rc)
		return rc;
	return refuse_attr_change(path, fi,
				  (uid == (uid_t)-1 || uid == fs->uid) &&
					  (gid == (gid_t)-1 || gid == fs->gid),
				  "chown() during the load");
}

static int pcf_op_utimens(const char *path, const struct timespec tv[2],
			  struct fuse_file_info *fi)
{
	struct stat st;

	(void)tv;
	return pcf_op_getattr(path, &st, fi); /* touch works, changes nothing */
}

static int pcf_op_access(const char *path, int mask)
{
	struct stat st;
	int rc = pcf_op_getattr(path, &st, NULL);

	if (rc)
		return rc;
	if ((mask & W_OK) && !(st.st_mode & 0200))
		return -EACCES;
	return 0;
}

static int pcf_op_statfs(const char *path, struct statvfs *sv)
{
	(void)path;
	memset(sv, 0, sizeof(*sv));
	sv->f_bsize = 1 << 20;
	sv->f_frsize = 4096;
	sv->f_namemax = 255;
	return 0;
}

/* Nothing but loading: no DDL, no renames, no removals. */
static int pcf_op_mkdir(const char *path, mode_t mode)
{
	(void)path;
	(void)mode;
	return -EPERM;
}

static int pcf_op_mknod(const char *path, mode_t mode, dev_t dev)
{
	(void)path;
	(void)mode;
	(void)dev;
	return -EPERM;
}

static int pcf_op_remove(const char *path)
{
	(void)path;
	return -EPERM;
}

static int pcf_op_link(const char *from, const char *to)
{
	(void)from;
	(void)to;
	return -EPERM;
}

static int pcf_op_rename(const char *from, const char *to, unsigned int flags)
{
	(void)from;
	(void)to;
	(void)flags;
	return -EPERM;
}

static void *pcf_op_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	/* A table created or dropped shows within a second; a name not found
	 * is asked again at once (negative_timeout 0). */
	cfg->entry_timeout = 1.0;
	cfg->attr_timeout = 1.0;
	cfg->negative_timeout = 0.0;
	cfg->use_ino = 0;
	/* O_DIRECT writes split by the kernel must still arrive in order. */
	conn->want &= ~FUSE_CAP_ASYNC_DIO;
	/* Write-back caching reorders and merges writes: never for a stream. */
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	return fuse_get_context()->private_data;
}

/* Unmount: every load still open is rolled back; release will not come. */
static void pcf_op_destroy(void *private_data)
{
	struct pcf_load *l;

	(void)private_data;
	pcf_watch_stop(); /* closers followed to their exit are let go */
	while ((l = pcf_registry_pop()) != NULL)
		pcf_load_abandon(l, "the file system was unmounted during "
				    "the load");
}

const struct fuse_operations pcf_fs_ops = {
	.init = pcf_op_init,
	.destroy = pcf_op_destroy,
	.getattr = pcf_op_getattr,
	.readdir = pcf_op_readdir,
	.open = pcf_op_open,
	.create = pcf_op_create,
	.read = pcf_op_read,
	.write = pcf_op_write,
	.flush = pcf_op_flush,
	.fsync = pcf_op_fsync,
	.release = pcf_op_release,
	.truncate = pcf_op_truncate,
	.fallocate = pcf_op_fallocate,
	.chmod = pcf_op_chmod,
	.chown = pcf_op_chown,
	.utimens = pcf_op_utimens,
	.access = pcf_op_access,
	.statfs = pcf_op_statfs,
	.mkdir = pcf_op_mkdir,
	.mknod = pcf_op_mknod,
	.unlink = pcf_op_remove,
	.rmdir = pcf_op_remove,
	.symlink = pcf_op_link,
	.link = pcf_op_link,
	.rename = pcf_op_rename,
};
