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
	struct pcf_export *x;
};

static struct {
	pthread_mutex_t lock;
	struct kept *head;
} spools = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* The link to the one kept for path and tgid, or to the list's end. */
static struct kept **find(const char *path, pid_t tgid)
{
	struct kept **k = &spools.head;

	while (*k && ((*k)->tgid != tgid || strcmp((*k)->path, path) != 0))
		k = &(*k)->next;
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

int pcf_statspool_put(const char *path, pid_t tgid, struct pcf_export *x)
{
	struct kept *k = calloc(1, sizeof(*k));
	int rc = 0;

	if (!k || !(k->path = strdup(path))) {
		free(k);
		return -ENOMEM;
	}
	k->tgid = tgid;
	k->at_ms = pcf_now_ms();
	k->x = x;
	pthread_mutex_lock(&spools.lock);
	if (*find(path, tgid)) {
		rc = -EEXIST;
	} else {
		k->next = spools.head;
		spools.head = k;
	}
	pthread_mutex_unlock(&spools.lock);
	if (rc) {
		free(k->path);
		free(k);
	}
	return rc;
}

struct pcf_export *pcf_statspool_take(const char *path, pid_t tid)
{
	struct pcf_export *x = NULL;
	struct kept **l, *k = NULL;
	pid_t tgid;

	pthread_mutex_lock(&spools.lock);
	if (!spools.head) { /* the common case: no /proc read */
		pthread_mutex_unlock(&spools.lock);
		return NULL;
	}
	pthread_mutex_unlock(&spools.lock);
	tgid = pcf_task_tgid(tid);
	pthread_mutex_lock(&spools.lock);
	l = find(path, tgid);
	if ((k = *l) != NULL) {
		*l = k->next;
		x = k->x;
	}
	pthread_mutex_unlock(&spools.lock);
	if (k) {
		free(k->path);
		free(k);
	}
	return x;
}

int64_t pcf_statspool_size(const char *path, pid_t tgid)
{
	struct kept *k;
	int64_t size;

	pthread_mutex_lock(&spools.lock);
	k = *find(path, tgid);
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
	return w->now_ms - k->at_ms > PCF_STATSPOOL_KEEP_MS ||
	       pcf_task_gone(k->tgid);
}

/* Takes the spools w names off the list, and closes them after. */
static void drop(const struct which *w)
{
	struct kept *gone = NULL, **l, *k;

	pthread_mutex_lock(&spools.lock);
	for (l = &spools.head; (k = *l) != NULL;) {
		if (dropped(k, w)) {
			*l = k->next;
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

int pcf_statspool_stat(struct pcf_fs *fs, const char *path,
		       const char *schema, const char *table, pid_t tgid,
		       pcf_statspool_interrupted intr, void *ctx, int64_t *size)
{
	struct pcf_table_info t;
	struct pcf_export *x = NULL;
	struct pcf_error e;
	int rc;

	pcf_statspool_sweep(0);
	if ((*size = pcf_statspool_size(path, tgid)) >= 0)
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
	if (pcf_statspool_put(path, tgid, x) != 0)
		pcf_export_close(x); /* another thread's stat kept one first */
	return 0;
}
