/*
 * statspool.c - table exports spooled at a stat by tar, kept for its open
 * (the contract and the design: statspool.h).
 */
#include "statspool.h"

#include "catalog.h"
#include "clock.h"
#include "closer.h"
#include "export.h"
#include "fs.h"
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct kept {
	struct kept *next;
	char *path;
	pid_t tgid;
	long at_ms; /* when it was kept (pcf_now_ms) */
	struct pcf_export *x; /* NULL: a mark (size_after_stat) */
};

static struct {
	pthread_mutex_t lock;
	struct kept *head;
} spools = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* The link to the spool (or with mark set, the mark) kept for path and
 * tgid, or to the list's end. */
static struct kept **find(const char *path, pid_t tgid, int mark)
{
	struct kept **k = &spools.head;

	while (*k && ((*k)->tgid != tgid || ((*k)->x == NULL) != mark ||
		      strcmp((*k)->path, path) != 0))
		k = &(*k)->next;
	return k;
}

/* A new entry for path and tgid, x NULL for a mark; NULL: no memory. */
static struct kept *entry(const char *path, pid_t tgid, struct pcf_export *x)
{
	struct kept *k = calloc(1, sizeof(*k));

	if (!k || !(k->path = strdup(path))) {
		free(k);
		return NULL;
	}
	k->tgid = tgid;
	k->at_ms = pcf_now_ms();
	k->x = x;
	return k;
}

/* Takes the entry at *l off the list (spools.lock held): alone, its next
 * NULL. */
static struct kept *unlink_at(struct kept **l)
{
	struct kept *k = *l;

	if (k) {
		*l = k->next;
		k->next = NULL;
	}
	return k;
}

static void drop_all(struct kept *k)
{
	struct kept *next;

	for (; k; k = next) {
		next = k->next;
		pcf_export_close(k->x);
		free(k->path);
		free(k);
	}
}

/* Keeps spooled export x for process tgid's open of path: 0, or -EEXIST
 * when one is kept already (x is the caller's still), -ENOMEM. */
static int put(const char *path, pid_t tgid, struct pcf_export *x)
{
	struct kept *k = entry(path, tgid, x);
	int rc = 0;

	if (!k)
		return -ENOMEM;
	pthread_mutex_lock(&spools.lock);
	if (*find(path, tgid, 0)) {
		rc = -EEXIST;
	} else {
		k->next = spools.head;
		spools.head = k;
	}
	pthread_mutex_unlock(&spools.lock);
	if (rc) {
		k->x = NULL; /* still the caller's */
		drop_all(k);
	}
	return rc;
}

/* Takes process tgid's entry for path (a mark, with mark set) off the
 * list: NULL if none. */
static struct kept *take(const char *path, pid_t tgid, int mark)
{
	struct kept *k;

	pthread_mutex_lock(&spools.lock);
	k = unlink_at(find(path, tgid, mark));
	pthread_mutex_unlock(&spools.lock);
	return k;
}

struct pcf_export *pcf_statspool_take(const char *path, pid_t tgid)
{
	struct kept *k = take(path, tgid, 0);
	struct pcf_export *x = k ? k->x : NULL;

	if (k) {
		k->x = NULL; /* the caller's now */
		drop_all(k);
	}
	return x;
}

int pcf_statspool_take_mark(const char *path, pid_t tgid)
{
	struct kept *k = take(path, tgid, 1);
	int fresh = k && pcf_now_ms() - k->at_ms <= PCF_STATSPOOL_MARK_MS;

	drop_all(k);
	return fresh;
}

/* The length of the export kept for tgid's open of path, or -1. */
static int64_t kept_size(const char *path, pid_t tgid)
{
	struct kept *k;
	int64_t size;

	pthread_mutex_lock(&spools.lock);
	k = *find(path, tgid, 0);
	size = k ? pcf_export_size(k->x) : -1;
	pthread_mutex_unlock(&spools.lock);
	return size;
}

/* What drop() drops: all, the process's (tgid > 0), or the stale ones. */
struct which {
	int all;
	pid_t tgid;
	long now_ms;
};

static int dropped(const struct kept *k, const struct which *w)
{
	if (w->all)
		return 1;
	if (w->tgid > 0)
		return k->tgid == w->tgid;
	/* pcf_task_gone is a kill(tgid, 0): no round trip under the lock. */
	return w->now_ms - k->at_ms >
		       (k->x ? PCF_STATSPOOL_KEEP_MS : PCF_STATSPOOL_MARK_MS) ||
	       pcf_task_gone(k->tgid);
}

/* Takes the entries w names off the list, and closes them after. */
static void drop(const struct which *w)
{
	struct kept *gone = NULL, **l, *k;

	pthread_mutex_lock(&spools.lock);
	for (l = &spools.head; (k = *l) != NULL;) {
		if (dropped(k, w)) {
			unlink_at(l);
			k->next = gone;
			gone = k;
		} else {
			l = &k->next;
		}
	}
	pthread_mutex_unlock(&spools.lock);
	drop_all(gone);
}

void pcf_statspool_sweep(int all)
{
	struct which w = { .all = all, .now_ms = pcf_now_ms() };

	drop(&w);
}

int pcf_statspool_mark(const char *path, pid_t tgid)
{
	struct kept *k = entry(path, tgid, NULL), *old, *gone = NULL, **l;
	int n = 0;

	if (!k)
		return -ENOMEM;
	pcf_statspool_sweep(0); /* the marks of processes gone, and stale ones */
	pthread_mutex_lock(&spools.lock);
	old = unlink_at(find(path, tgid, 1)); /* stat'ed again: marked anew */
	k->next = spools.head;
	spools.head = k;
	/* Not one per process: shutil.copyfile stats its source, then its
	 * target, then opens the source. The newest PCF_STATSPOOL_MARKS
	 * (the list is newest first) of a program that stats many files. */
	for (l = &spools.head; *l;) {
		if ((*l)->tgid == tgid && !(*l)->x && ++n > PCF_STATSPOOL_MARKS) {
			struct kept *d = unlink_at(l);

			d->next = gone;
			gone = d;
		} else {
			l = &(*l)->next;
		}
	}
	pthread_mutex_unlock(&spools.lock);
	drop_all(old);
	drop_all(gone);
	return 0;
}

int pcf_statspool_stat(struct pcf_fs *fs, const char *path,
		       const char *schema, const char *table, pid_t tgid,
		       pcf_statspool_interrupted intr, void *ctx, int64_t *size)
{
	struct pcf_table_info t;
	struct pcf_export *x = NULL;
	struct pcf_error e;
	int rc;

	pcf_statspool_sweep(0);
	if ((*size = kept_size(path, tgid)) >= 0)
		return 0; /* a second stat before the open (tar makes two) */
	/* One kept per process: an archiver stats a file, reads it, then
	 * goes on to the next; a spool its stat left unopened (tar -cf
	 * /dev/null, tar -g skipping a file) goes before the next is made,
	 * so a schema's tables do not pile up in the spool. */
	drop(&(struct which){ .tgid = tgid });
	if ((rc = pcf_catalog_lookup(&fs->catalog, schema, table, 1, &t)) != 0)
		return rc;
	if (!t.can_select) {
		pcf_table_info_free(&t);
		return 0;
	}
	rc = pcf_export_open(fs, &t, path, 1, intr, ctx, &x, &e);
	if (rc)
		pcf_err("stat of %s.%s for its size failed: %s\n", t.schema,
			t.name, e.message);
	pcf_table_info_free(&t);
	if (rc)
		return rc;
	*size = pcf_export_size(x);
	if (put(path, tgid, x) != 0)
		pcf_export_close(x); /* another thread's stat kept one first */
	return 0;
}
