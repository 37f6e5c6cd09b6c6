/*
 * staged.c - the store of staged files and their spool (see staged.h).
 *
 * One list under one lock: staged files are few (a tool's temp and lock
 * files while it saves), and a lookup by name walks it. The bytes are in
 * the spool, in files made with O_TMPFILE (or made and unlinked at once
 * where the file system has no O_TMPFILE): the kernel frees them when the
 * last descriptor closes, also when the daemon is killed.
 */
#include "staged.h"

#include "clock.h"
#include "load.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t store_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pcf_staged *store;   /* store_lock */
static char spool[4096];           /* set once, before mounting */
static atomic_ullong next_ino = 1;

int pcf_staged_init(const char *dir, char *err, size_t errlen)
{
	const char *base = dir && *dir ? dir : "/var/tmp";
	char *abs = realpath(base, NULL); /* the daemon's cwd becomes / */
	int rc = -1;

	if (!abs) {
		snprintf(err, errlen, "spool=%s: %s", base, strerror(errno));
		return -1;
	}
	if ((size_t)snprintf(spool, sizeof(spool), "%s/pgcopyfs-spool.XXXXXX",
			     abs) >= sizeof(spool))
		snprintf(err, errlen, "spool=%s: name too long", base);
	else if (!mkdtemp(spool))
		snprintf(err, errlen, "spool=%s: cannot make a directory there: %s",
			 base, strerror(errno));
	else
		rc = 0;
	if (rc)
		spool[0] = '\0';
	free(abs);
	return rc;
}

const char *pcf_staged_spool(void)
{
	return spool;
}

static void staged_free(struct pcf_staged *s)
{
	if (s->fd >= 0)
		close(s->fd);
	if (s->load)
		pcf_load_unref(s->load);
	free(s->dir);
	free(s->name);
	free(s);
}

void pcf_staged_shutdown(void)
{
	pthread_mutex_lock(&store_lock);
	while (store) {
		struct pcf_staged *s = store;

		store = s->next;
		s->linked = 0;
		if (--s->refs == 0)
			staged_free(s);
	}
	pthread_mutex_unlock(&store_lock);
	if (spool[0] && rmdir(spool) != 0 && errno != ENOENT)
		fprintf(stderr, "pgcopyfs: cannot remove the spool %s: %s\n",
			spool, strerror(errno));
}

static struct pcf_staged *unlink_locked(struct pcf_staged **pp);

/* A drop file whose name has served its time: no handle, its load
 * decided, and its writer gone or done for PCF_DROP_LINGER_MS. */
static int expired(const struct pcf_staged *s)
{
	if (!s->drop || s->handles > 0 || (s->load && !pcf_load_settled(s->load)))
		return 0;
	return (kill(s->creator, 0) != 0 && errno == ESRCH) ||
	       pcf_ms_since(&s->closed) > PCF_DROP_LINGER_MS;
}

/* Needs store_lock; frees nothing itself: the expired go on *gone. At
 * most every PRUNE_EVERY_MS: a lookup must not cost a kill(2) per drop
 * file (a split into a thousand parts). */
#define PRUNE_EVERY_MS 50
static void prune_locked(struct pcf_staged **gone)
{
	static struct timespec last; /* store_lock */
	struct pcf_staged **pp = &store;

	if (last.tv_sec && pcf_ms_since(&last) < PRUNE_EVERY_MS)
		return;
	clock_gettime(CLOCK_MONOTONIC, &last);

	while (*pp) {
		if (expired(*pp)) {
			struct pcf_staged *s = unlink_locked(pp);

			if (s) {
				s->next = *gone;
				*gone = s;
			}
			continue;
		}
		pp = &(*pp)->next;
	}
}

static void free_list(struct pcf_staged *gone)
{
	while (gone) {
		struct pcf_staged *s = gone;

		gone = s->next;
		staged_free(s);
	}
}

void pcf_staged_release_loads(void)
{
	for (;;) {
		struct pcf_load *l = NULL;

		pthread_mutex_lock(&store_lock);
		for (struct pcf_staged *s = store; s && !l; s = s->next)
			if (s->load) {
				l = s->load;
				s->load = NULL;
				s->handles = 0;
			}
		pthread_mutex_unlock(&store_lock);
		if (!l)
			return;
		pcf_load_unref(l);
	}
}

/* Needs store_lock. */
static struct pcf_staged **find_locked(const char *dir, const char *name)
{
	struct pcf_staged **pp;

	for (pp = &store; *pp; pp = &(*pp)->next)
		if (strcmp((*pp)->name, name) == 0 && strcmp((*pp)->dir, dir) == 0)
			return pp;
	return NULL;
}

int pcf_spool_file(void)
{
	char path[sizeof(spool) + 32];
	int fd = open(spool, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR &&
			errno != EINVAL))
		return fd >= 0 ? fd : -errno;
	/* No O_TMPFILE here: a name, gone at once. */
	snprintf(path, sizeof(path), "%s/f.XXXXXX", spool);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	unlink(path);
	return fd;
}

/* A new file, not yet in the store, with what both kinds have. */
static struct pcf_staged *staged_new(const char *dir, const char *name,
				     mode_t mode, uid_t uid, gid_t gid,
				     pid_t creator)
{
	struct pcf_staged *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->fd = -1;
	s->dir = strdup(dir);
	s->name = strdup(name);
	if (!s->dir || !s->name) {
		staged_free(s);
		return NULL;
	}
	s->ino = (1ULL << 62) + atomic_fetch_add(&next_ino, 1); /* not a path's */
	s->mode = mode & 07777;
	s->uid = uid;
	s->gid = gid;
	s->creator = creator;
	s->refs = 2; /* the store's and the caller's */
	return s;
}

/* Needs store_lock. */
static void link_locked(struct pcf_staged *s)
{
	s->linked = 1;
	s->next = store;
	store = s;
}

int pcf_staged_create(const char *dir, const char *name, mode_t mode,
		      uid_t uid, gid_t gid, pid_t creator,
		      struct pcf_staged **out)
{
	struct pcf_staged *s = staged_new(dir, name, mode, uid, gid, creator);
	int fd;

	if (!s)
		return -ENOMEM;
	if ((fd = pcf_spool_file()) < 0) {
		staged_free(s);
		return fd;
	}
	s->fd = fd;
	pthread_mutex_lock(&store_lock);
	if (find_locked(dir, name)) {
		pthread_mutex_unlock(&store_lock);
		staged_free(s);
		return -EEXIST;
	}
	link_locked(s);
	pthread_mutex_unlock(&store_lock);
	*out = s;
	return 0;
}

int pcf_staged_add_load(const char *dir, const char *name, struct pcf_load *l,
			mode_t mode, uid_t uid, gid_t gid, pid_t creator,
			struct pcf_staged **out)
{
	struct pcf_staged *s = staged_new(dir, name, mode, uid, gid, creator);
	struct pcf_staged **pp, *gone = NULL;

	if (!s)
		return -ENOMEM;
	pcf_load_ref(l);
	s->load = l;
	s->drop = 1;
	s->handles = 1;
	clock_gettime(CLOCK_REALTIME, &s->born);
	pthread_mutex_lock(&store_lock);
	if ((pp = find_locked(dir, name)) != NULL)
		gone = unlink_locked(pp); /* written anew under that name */
	link_locked(s);
	pthread_mutex_unlock(&store_lock);
	if (gone)
		staged_free(gone);
	*out = s;
	return 0;
}

struct pcf_load *pcf_staged_load(struct pcf_staged *s)
{
	struct pcf_load *l;

	pthread_mutex_lock(&store_lock);
	l = s->load;
	if (l)
		pcf_load_ref(l);
	pthread_mutex_unlock(&store_lock);
	return l;
}

char *pcf_staged_path(struct pcf_staged *s)
{
	char *p;

	pthread_mutex_lock(&store_lock);
	if (asprintf(&p, "%s/%s", s->dir, s->name) < 0)
		p = NULL;
	pthread_mutex_unlock(&store_lock);
	return p;
}

void pcf_staged_handles(struct pcf_staged *s, int delta)
{
	pthread_mutex_lock(&store_lock);
	s->handles += delta;
	if (s->handles == 0)
		clock_gettime(CLOCK_MONOTONIC, &s->closed);
	pthread_mutex_unlock(&store_lock);
}

struct pcf_staged *pcf_staged_find(const char *dir, const char *name)
{
	struct pcf_staged **pp, *s = NULL, *gone = NULL;

	pthread_mutex_lock(&store_lock);
	prune_locked(&gone);
	if ((pp = find_locked(dir, name)) != NULL) {
		s = *pp;
		s->refs++;
	}
	pthread_mutex_unlock(&store_lock);
	free_list(gone);
	return s;
}

void pcf_staged_hold(struct pcf_staged *s)
{
	pthread_mutex_lock(&store_lock);
	s->refs++;
	pthread_mutex_unlock(&store_lock);
}

void pcf_staged_put(struct pcf_staged *s)
{
	int last;

	if (!s)
		return;
	pthread_mutex_lock(&store_lock);
	last = --s->refs == 0;
	pthread_mutex_unlock(&store_lock);
	if (last)
		staged_free(s);
}

int pcf_staged_stat(struct pcf_staged *s, struct stat *st)
{
	struct stat sp;

	if (s->drop) {
		memset(&sp, 0, sizeof(sp));
		sp.st_atim = sp.st_mtim = sp.st_ctim = s->born;
	} else if (fstat(s->fd, &sp) != 0) {
		return -errno;
	}
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&store_lock);
	/* A drop file shows what it took while it is open (fstat, O_APPEND),
	 * and nothing after its last close, as a table file: the rows are in
	 * the table. rsync's quick check (size and mtime in seconds) must
	 * never find a file it just delivered "up to date". */
	if (s->drop)
		sp.st_size = s->handles == 0 ? 0
			   : (off_t)(s->load ? atomic_load(&s->load->bytes)
					     : s->bytes_left);
	st->st_mode = S_IFREG | s->mode;
	st->st_nlink = s->linked ? 1 : 0;
	st->st_uid = s->uid;
	st->st_gid = s->gid;
	pthread_mutex_unlock(&store_lock);
	st->st_ino = s->ino;
	st->st_size = sp.st_size;
	st->st_blocks = sp.st_blocks;
	st->st_blksize = 1 << 20;
	st->st_atim = sp.st_atim;
	st->st_mtim = sp.st_mtim;
	st->st_ctim = sp.st_ctim;
	return 0;
}

int pcf_staged_chmod(struct pcf_staged *s, mode_t mode)
{
	pthread_mutex_lock(&store_lock);
	s->mode = mode & 07777;
	pthread_mutex_unlock(&store_lock);
	/* ctime moves, as on a local disk: the spool file's own mode stays
	 * 0600 (the daemon's private copy). */
	if (s->fd >= 0)
		(void)fchmod(s->fd, 0600);
	return 0;
}

int pcf_staged_chown(struct pcf_staged *s, uid_t uid, gid_t gid)
{
	pthread_mutex_lock(&store_lock);
	if (uid != (uid_t)-1)
		s->uid = uid;
	if (gid != (gid_t)-1)
		s->gid = gid;
	pthread_mutex_unlock(&store_lock);
	return 0;
}

/* Needs store_lock: takes *pp out, dropping the store's reference.
 * Returns the file if that was the last reference (free it unlocked). */
static struct pcf_staged *unlink_locked(struct pcf_staged **pp)
{
	struct pcf_staged *s = *pp;

	*pp = s->next;
	s->next = NULL;
	s->linked = 0;
	if (s->load) {
		/* The name is what held the load: its handles hold their own. */
		s->bytes_left = atomic_load(&s->load->bytes);
		pcf_load_unref(s->load);
		s->load = NULL;
	}
	return --s->refs == 0 ? s : NULL;
}

int pcf_staged_unlink(const char *dir, const char *name)
{
	struct pcf_staged **pp, *gone = NULL;

	pthread_mutex_lock(&store_lock);
	pp = find_locked(dir, name);
	if (pp)
		gone = unlink_locked(pp);
	pthread_mutex_unlock(&store_lock);
	if (gone)
		staged_free(gone);
	return pp ? 0 : -ENOENT;
}

void pcf_staged_detach(struct pcf_staged *s)
{
	struct pcf_staged **pp, *gone = NULL;

	pthread_mutex_lock(&store_lock);
	for (pp = &store; *pp && *pp != s; pp = &(*pp)->next)
		;
	if (*pp)
		gone = unlink_locked(pp);
	pthread_mutex_unlock(&store_lock);
	if (gone)
		staged_free(gone);
}

int pcf_staged_rename(const char *dir, const char *name, const char *newdir,
		      const char *newname, int flags)
{
	struct pcf_staged **pp, **tp, *s, *gone = NULL;
	char *d = strdup(newdir), *n = strdup(newname);
	int rc = 0;

	if (!d || !n) {
		free(d);
		free(n);
		return -ENOMEM;
	}
	pthread_mutex_lock(&store_lock);
	if (!(pp = find_locked(dir, name))) {
		rc = -ENOENT;
		goto out;
	}
	s = *pp;
	if ((tp = find_locked(newdir, newname)) != NULL) {
		if (*tp == s)
			goto out; /* onto itself: nothing to do */
		if (flags & PCF_STAGED_NOREPLACE) {
			rc = -EEXIST;
			goto out;
		}
		gone = unlink_locked(tp);
	}
	free(s->dir);
	free(s->name);
	s->dir = d;
	s->name = n;
	d = n = NULL;
out:
	pthread_mutex_unlock(&store_lock);
	free(d);
	free(n);
	if (gone)
		staged_free(gone);
	return rc;
}

int pcf_staged_list(const char *dir, int (*add)(void *ctx, const char *name),
		    void *ctx)
{
	struct pcf_staged *gone = NULL;

	pthread_mutex_lock(&store_lock);
	prune_locked(&gone);
	for (struct pcf_staged *s = store; s; s = s->next)
		if (strcmp(s->dir, dir) == 0 && add(ctx, s->name))
			break;
	pthread_mutex_unlock(&store_lock);
	free_list(gone);
	return 0;
}

void pcf_staged_each(void (*fn)(void *ctx, const struct pcf_staged_info *i),
		     void *ctx)
{
	pthread_mutex_lock(&store_lock);
	for (struct pcf_staged *s = store; s; s = s->next) {
		struct pcf_staged_info i = { .dir = s->dir, .name = s->name,
					     .uid = s->uid, .creator = s->creator,
					     .mode = s->mode };
		struct stat sp;

		if (s->drop)
			continue; /* a load: in "loads" and "history" */
		if (fstat(s->fd, &sp) == 0) {
			i.bytes = (uint64_t)sp.st_size;
			i.mtime = sp.st_mtime;
		}
		fn(ctx, &i);
	}
	pthread_mutex_unlock(&store_lock);
}
