/*
 * registry.c - live loads and the descriptors that belong to them.
 *
 * Why anchors: /proc shows, for a descriptor, its path, position and flags,
 * but not which open file description it is. Two cp's of the same file into
 * the same table look identical there. kcmp(KCMP_FILE) can tell whether two
 * descriptors are the same description, so each load remembers a few of
 * its writers' descriptors (seen while they write) and a descriptor found
 * at close time is compared with those of every live load.
 *
 * Lock order: a load's lock, then the registry lock; never the reverse.
 */
#include "registry.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pcf_load *reg_head;

void pcf_registry_add(struct pcf_load *l)
{
	pthread_mutex_lock(&reg_lock);
	l->prev = NULL;
	l->next = reg_head;
	if (reg_head)
		reg_head->prev = l;
	reg_head = l;
	pthread_mutex_unlock(&reg_lock);
}

static void unlink_load(struct pcf_load *l)
{
	if (l->prev)
		l->prev->next = l->next;
	else if (reg_head == l)
		reg_head = l->next;
	if (l->next)
		l->next->prev = l->prev;
	l->prev = l->next = NULL;
}

void pcf_registry_remove(struct pcf_load *l)
{
	pthread_mutex_lock(&reg_lock);
	unlink_load(l);
	pthread_mutex_unlock(&reg_lock);
}

struct pcf_load *pcf_registry_pop(void)
{
	struct pcf_load *l;

	pthread_mutex_lock(&reg_lock);
	l = reg_head;
	if (l)
		unlink_load(l);
	pthread_mutex_unlock(&reg_lock);
	return l;
}

void pcf_registry_each(void (*fn)(struct pcf_load *l, void *ctx), void *ctx)
{
	pthread_mutex_lock(&reg_lock);
	for (struct pcf_load *l = reg_head; l; l = l->next)
		fn(l, ctx);
	pthread_mutex_unlock(&reg_lock);
}

/* Is anchor a the descriptor ref? Without kcmp, only the very same fd. */
static int anchor_is(const struct pcf_fdref *a, const struct pcf_fdref *ref)
{
	int same = pcf_fd_same(a, ref);

	if (same >= 0)
		return same;
	return a->pid == ref->pid && a->fd == ref->fd;
}

/* The live load whose anchors include ref, or NULL. Needs reg_lock. */
static struct pcf_load *owner_of(const struct pcf_fdref *ref)
{
	for (struct pcf_load *l = reg_head; l; l = l->next)
		for (int i = 0; i < l->nanchors; i++)
			if (anchor_is(&l->anchors[i], ref))
				return l;
	return NULL;
}

/* Drops anchors whose descriptor was closed (or reused elsewhere). */
static void prune_anchors(struct pcf_load *l)
{
	int w = 0;

	for (int i = 0; i < l->nanchors; i++)
		if (pcf_fd_valid(&l->anchors[i], l->path))
			l->anchors[w++] = l->anchors[i];
	l->nanchors = w;
}

struct note_ctx {
	struct pcf_load *l;
	struct pcf_fdref found[PCF_MAX_ANCHORS];
	int nfound;
	int at_offset; /* how many of found sit at the write's offset */
};

static int note_visit(void *ctx, const struct pcf_fdref *ref)
{
	struct note_ctx *n = ctx;
	struct pcf_load *owner = owner_of(ref);

	if (owner == n->l || owner != NULL || n->nfound == PCF_MAX_ANCHORS)
		return 0; /* known already, or another load's */
	n->found[n->nfound++] = *ref;
	n->at_offset += ref->pos == n->l->next_off;
	return 0;
}

void pcf_registry_note_writer(struct pcf_load *l, pid_t tgid)
{
	struct note_ctx n = { .l = l };

	pthread_mutex_lock(&reg_lock);
	prune_anchors(l);
	pcf_fd_scan(tgid, l->path, note_visit, &n);
	/*
	 * The descriptor being written sits at the write's offset until the
	 * write returns; with several candidates in one process, prefer those
	 * (O_APPEND descriptors sit at the end, so take them all then).
	 */
	for (int i = 0; i < n.nfound && l->nanchors < PCF_MAX_ANCHORS; i++)
		if (!n.at_offset || (l->flags & O_APPEND) ||
		    n.found[i].pos == l->next_off)
			l->anchors[l->nanchors++] = n.found[i];
	pthread_mutex_unlock(&reg_lock);
}

void pcf_registry_set_writer(struct pcf_load *l, pid_t pid, const char *cmd)
{
	pthread_mutex_lock(&reg_lock);
	l->writer_pid = pid;
	snprintf(l->writer_cmd, sizeof(l->writer_cmd), "%s", cmd);
	pthread_mutex_unlock(&reg_lock);
}

void pcf_registry_drop_anchors(struct pcf_load *l)
{
	pthread_mutex_lock(&reg_lock);
	l->nanchors = 0;
	pthread_mutex_unlock(&reg_lock);
}

static int held_visit(void *ctx, const struct pcf_fdref *ref)
{
	struct pcf_load *l = ctx;
	struct pcf_load *owner = owner_of(ref);

	if (owner)
		return owner == l;
	/* Unknown: a holder that never wrote. Ours if it sits where we are. */
	return ref->pos == l->next_off;
}

int pcf_registry_still_held(struct pcf_load *l)
{
	int held;

	pthread_mutex_lock(&reg_lock);
	prune_anchors(l);
	held = pcf_fd_scan(0, l->path, held_visit, l) != 0;
	pthread_mutex_unlock(&reg_lock);
	return held;
}
