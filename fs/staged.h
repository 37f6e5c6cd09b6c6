/*
 * staged.h - staged files: what a tool writes beside a table file before it
 * renames it onto the table (rsync's ".t.csv.XXXXXX", Python's tempfile,
 * LibreOffice's lock file). A staged file behaves like a file on a local
 * disk: written, read back, seeked, truncated, renamed, unlinked. Its bytes
 * live in the spool (a private directory on local disk, -o spool=DIR), in
 * a file already unlinked there: nothing of it outlives the daemon, and a
 * remount starts with none.
 *
 * Names: a staged file lives in a schema directory under a name that is
 * not a table file (fsops.c decides which). The store knows a file by its
 * directory and name; an open descriptor keeps its bytes after an unlink or
 * a rename, as on a local disk.
 *
 * Thread safety: every function takes the store's own lock, never held
 * while the disk is read or written.
 */
#ifndef PCF_STAGED_H
#define PCF_STAGED_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

struct pcf_load;

/*
 * Two kinds share the store, told apart by load: a staged file's bytes are
 * in its spool file (fd); a drop folder's file is a load into the folder's
 * table (load, held), whose name stays a moment after its last close so
 * that what a tool does next by name (tar's utimensat and chmod, a rename
 * onto the final name) finds it.
 */
struct pcf_staged {
	/* Set at creation, then fixed. */
	int fd;           /* the spool file; -1 for a drop file */
	int drop;         /* a drop folder's file */
	/* Guarded by the store's lock (pcf_staged_load to use it). */
	struct pcf_load *load; /* a drop file's load while it has its name */
	uint64_t bytes_left;   /* its size once the name went */
	uint64_t ino;     /* st_ino: the file's own, kept across renames */
	struct timespec born; /* CLOCK_REALTIME: a drop file's times */
	/* Guarded by the store's lock. */
	int refs;         /* the store's while linked, and each holder's */
	int linked;       /* has a name in the store */
	char *dir;        /* "/public" */
	char *name;       /* ".t.csv.ab12cd" */
	mode_t mode;      /* permission bits, as chmod set them */
	uid_t uid;
	gid_t gid;
	pid_t creator;    /* the process that created it, for the status file */
	int handles;      /* a drop file's open handles */
	struct timespec closed; /* CLOCK_MONOTONIC: its last handle's close */
	struct pcf_staged *next; /* the store's list */
};

/*
 * Makes the spool: a private directory (mode 0700) made inside dir, or
 * inside /var/tmp when dir is NULL (local disk on most systems, unlike a
 * tmpfs /tmp). 0, or -1 with err filled in (before mounting).
 */
int pcf_staged_init(const char *dir, char *err, size_t errlen);
/* Unmount: every staged file is discarded, and the spool removed. */
void pcf_staged_shutdown(void);
/* Unmount, first: drop files let go of their loads (which the unmount
 * then rolls back or frees). */
void pcf_staged_release_loads(void);
/* The spool directory, for messages and the status area. */
const char *pcf_staged_spool(void);

/* A new staged file dir/name: *out holds a reference. -EEXIST if one is
 * there, -ENOSPC (or the errno) when the spool cannot take a file. */
int pcf_staged_create(const char *dir, const char *name, mode_t mode,
		      uid_t uid, gid_t gid, pid_t creator,
		      struct pcf_staged **out);
/*
 * The name dir/name for load l (a drop folder's file; the store takes a
 * reference of l), replacing one of that name. *out holds a reference, and
 * counts one open handle. 0 or -ENOMEM.
 */
int pcf_staged_add_load(const char *dir, const char *name, struct pcf_load *l,
			mode_t mode, uid_t uid, gid_t gid, pid_t creator,
			struct pcf_staged **out);
/* A drop file's load with a reference (pcf_load_unref it), or NULL. */
struct pcf_load *pcf_staged_load(struct pcf_staged *s);
/* "dir/name" as it is now (malloc'd), or NULL. */
char *pcf_staged_path(struct pcf_staged *s);
/* A drop file's handle opens (+1) or goes (-1). */
void pcf_staged_handles(struct pcf_staged *s, int delta);
/* How long a drop file's name stays after its last close once its load is
 * decided, while its writer runs on (it is gone at once after its exit). */
#define PCF_DROP_LINGER_MS 10000

/* The file dir/name with a reference, or NULL. */
struct pcf_staged *pcf_staged_find(const char *dir, const char *name);
void pcf_staged_hold(struct pcf_staged *s);
void pcf_staged_put(struct pcf_staged *s);

/* Its attributes (size and times from the spool file). 0 or -errno. */
int pcf_staged_stat(struct pcf_staged *s, struct stat *st);
int pcf_staged_chmod(struct pcf_staged *s, mode_t mode);
int pcf_staged_chown(struct pcf_staged *s, uid_t uid, gid_t gid);

/* Removes dir/name from the store: 0 or -ENOENT. Holders keep the bytes. */
int pcf_staged_unlink(const char *dir, const char *name);
/* Takes s out of the store (its bytes went into a table). */
void pcf_staged_detach(struct pcf_staged *s);

/*
 * rename(2) among staged names: an existing staged target is replaced
 * (RENAME_NOREPLACE: -EEXIST). 0 or -ENOENT (no such source).
 */
#define PCF_STAGED_NOREPLACE 1
int pcf_staged_rename(const char *dir, const char *name, const char *newdir,
		      const char *newname, int flags);

/* Calls add(ctx, name) for each staged file in dir; stops at non-zero. */
int pcf_staged_list(const char *dir, int (*add)(void *ctx, const char *name),
		    void *ctx);

/* What the status area shows of one staged file: plain values. */
struct pcf_staged_info {
	const char *dir, *name;
	uint64_t bytes;
	uid_t uid;
	pid_t creator;
	mode_t mode;
	time_t mtime;
};
/* A new anonymous file in the spool (gone when closed): its descriptor,
 * or -errno. Also for spooled reads (export.h). */
int pcf_spool_file(void);

/* Calls fn for every staged file, under the store's lock. */
void pcf_staged_each(void (*fn)(void *ctx, const struct pcf_staged_info *i),
		     void *ctx);

#endif
