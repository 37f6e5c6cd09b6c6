/*
 * handles.c - the handles the kernel holds (handles.h).
 */
#include "handles.h"

#include "export.h"

#include "load.h"
#include "nodes.h"
#include "staged.h"

#include <pthread.h>
#include <stdlib.h>

/* The last reference went: the release's work (a load's close rule runs
 * in pcf_load_release), then the memory. */
static void handle_final(struct handle *h)
{
	if (h->load)
		pcf_load_release(h->load);
	if (h->node)
		pcf_node_writers(h->node, -1);
	if (h->read_node)
		pcf_node_read_size(h->read_node, h, -1);
	if (h->staged && h->load)
		pcf_staged_handles(h->staged, -1); /* a drop file's */
	pcf_staged_put(h->staged);
	pcf_export_close(h->export);
	for (size_t i = 0; i < h->dir.n; i++)
		free(h->dir.names[i]);
	free(h->dir.names);
	free(h->dir.modes);
	free(h->text);
	free(h);
}

#define HANDLE_BUCKETS 4096
static pthread_mutex_t handles_lock = PTHREAD_MUTEX_INITIALIZER;
static struct handle *hbuckets[HANDLE_BUCKETS];

static struct handle **hbucket(const struct handle *h)
{
	return &hbuckets[((uintptr_t)h >> 4) % HANDLE_BUCKETS];
}

struct handle *pcf_handle_new(enum handle_kind kind)
{
	struct handle *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->kind = kind;
	h->refs = 1;
	h->open = 1;
	pthread_mutex_lock(&handles_lock);
	h->hnext = *hbucket(h);
	*hbucket(h) = h;
	pthread_mutex_unlock(&handles_lock);
	return h;
}

struct handle *pcf_handle_hold(uint64_t fh)
{
	struct handle *want, *h;

	if (!fh)
		return NULL;
	want = (struct handle *)(uintptr_t)fh;
	pthread_mutex_lock(&handles_lock);
	for (h = *hbucket(want); h && h != want; h = h->hnext)
		;
	if (h)
		h->refs++;
	pthread_mutex_unlock(&handles_lock);
	return h;
}

void pcf_handle_drop(struct handle *h)
{
	int last;

	if (!h)
		return;
	pthread_mutex_lock(&handles_lock);
	last = --h->refs == 0;
	pthread_mutex_unlock(&handles_lock);
	if (last)
		handle_final(h);
}

void pcf_handle_close(struct handle *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&handles_lock);
	if (h->open) {
		struct handle **pp = hbucket(h);

		while (*pp && *pp != h)
			pp = &(*pp)->hnext;
		if (*pp)
			*pp = h->hnext;
		h->open = 0;
	}
	pthread_mutex_unlock(&handles_lock);
	pcf_handle_drop(h);
}

void pcf_handles_free_all(void)
{
	pthread_mutex_lock(&handles_lock);
	for (size_t i = 0; i < HANDLE_BUCKETS; i++) {
		while (hbuckets[i]) {
			struct handle *h = hbuckets[i];

			hbuckets[i] = h->hnext;
			h->load = NULL;
			h->node = h->read_node = NULL; /* the nodes go next */
			handle_final(h);
		}
	}
	pthread_mutex_unlock(&handles_lock);
}
