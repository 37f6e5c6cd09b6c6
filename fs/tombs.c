/*
 * tombs.c - replace-by-unlink (tombs.h).
 */
#include "tombs.h"

#include "clock.h"
#include "closer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Few processes replace files at once; the oldest tomb makes room. */
#define TOMBS 64
#define TOMB_LIFE_MS 60000
static pthread_mutex_t tombs_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tomb {
	char *path;       /* tombs_lock; NULL: a free slot */
	pid_t tgid;
	struct timespec at;
} tombs[TOMBS];
static _Atomic int ntombs; /* a fast "none": lookups cost nothing then */

/* Needs tombs_lock. */
static void tomb_free(struct tomb *t)
{
	free(t->path);
	t->path = NULL;
	atomic_fetch_sub(&ntombs, 1);
}

void pcf_tomb_add(const char *path, pid_t tgid)
{
	struct tomb *slot = NULL, *oldest = NULL;

	pthread_mutex_lock(&tombs_lock);
	for (int i = 0; i < TOMBS; i++) {
		struct tomb *t = &tombs[i];

		if (t->path && (pcf_task_gone(t->tgid) ||
				pcf_ms_since(&t->at) > TOMB_LIFE_MS))
			tomb_free(t);
		if (!t->path) {
			if (!slot)
				slot = t;
		} else if (t->tgid == tgid && strcmp(t->path, path) == 0) {
			slot = t; /* again: a new start */
			tomb_free(t);
			break;
		} else if (!oldest || pcf_ms_since(&t->at) > pcf_ms_since(&oldest->at)) {
			oldest = t;
		}
	}
	if (!slot) {
		slot = oldest;
		tomb_free(slot);
	}
	if ((slot->path = strdup(path)) != NULL) {
		slot->tgid = tgid;
		clock_gettime(CLOCK_MONOTONIC, &slot->at);
		atomic_fetch_add(&ntombs, 1);
	}
	pthread_mutex_unlock(&tombs_lock);
}

int pcf_tomb_check(const char *path, pid_t tid, int clear)
{
	pid_t tgid;
	int found = 0;

	if (atomic_load(&ntombs) == 0 || tid <= 0)
		return 0;
	tgid = pcf_task_tgid(tid);
	pthread_mutex_lock(&tombs_lock);
	for (int i = 0; i < TOMBS && !found; i++) {
		struct tomb *t = &tombs[i];

		if (!t->path || t->tgid != tgid || strcmp(t->path, path) != 0)
			continue;
		if (pcf_ms_since(&t->at) > TOMB_LIFE_MS) {
			tomb_free(t);
			continue;
		}
		found = 1;
		if (clear)
			tomb_free(t);
	}
	pthread_mutex_unlock(&tombs_lock);
	return found;
}

int pcf_tomb_hides(const char *path, pid_t tid)
{
	return pcf_tomb_check(path, tid, 0);
}

