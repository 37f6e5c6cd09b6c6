/*
 * negcache.c - a bounded hash of names found missing, with their time.
 *
 * Chained buckets keyed by FNV-1a of "dir\0name". Expired entries go when
 * they are looked at, and all of them when the table is full; a full
 * table of live entries keeps no more (the caller asks the server again,
 * which is only slower).
 */
#include "negcache.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NBUCKETS 512

struct entry {
	struct entry *next;
	long at_ms;
	char *dir;
	char *name; /* "" for the directory itself */
};

struct pcf_negcache {
	struct entry *b[NBUCKETS];
	size_t count, max;
	long ttl_ms;
};

static uint32_t hash(const char *dir, const char *name)
{
	uint32_t h = 2166136261u;

	for (const char *p = dir; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	h = (h ^ 0xffu) * 16777619u; /* the separator: no name byte is 0xff+0 */
	for (const char *p = name; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return h % NBUCKETS;
}

struct pcf_negcache *pcf_negcache_new(size_t max, long ttl_ms)
{
	struct pcf_negcache *nc = calloc(1, sizeof(*nc));

	if (nc) {
		nc->max = max;
		nc->ttl_ms = ttl_ms;
	}
	return nc;
}

static void unlink_entry(struct pcf_negcache *nc, struct entry **pp)
{
	struct entry *e = *pp;

	*pp = e->next;
	free(e->dir);
	free(e->name);
	free(e);
	nc->count--;
}

void pcf_negcache_free(struct pcf_negcache *nc)
{
	if (!nc)
		return;
	for (size_t i = 0; i < NBUCKETS; i++)
		while (nc->b[i])
			unlink_entry(nc, &nc->b[i]);
	free(nc);
}

/* The slot pointing at dir/name's entry, or at the chain's NULL end. */
static struct entry **slot(struct pcf_negcache *nc, const char *dir,
			   const char *name)
{
	struct entry **pp = &nc->b[hash(dir, name)];

	while (*pp && (strcmp((*pp)->dir, dir) || strcmp((*pp)->name, name)))
		pp = &(*pp)->next;
	return pp;
}

static void prune(struct pcf_negcache *nc, long now_ms)
{
	for (size_t i = 0; i < NBUCKETS; i++)
		for (struct entry **pp = &nc->b[i]; *pp;)
			if (now_ms - (*pp)->at_ms >= nc->ttl_ms)
				unlink_entry(nc, pp);
			else
				pp = &(*pp)->next;
}

void pcf_negcache_add(struct pcf_negcache *nc, const char *dir,
		      const char *name, long now_ms)
{
	if (!name)
		name = "";
	struct entry **pp = slot(nc, dir, name), *e;

	if (*pp) {
		(*pp)->at_ms = now_ms;
		return;
	}
	if (nc->count >= nc->max) {
		prune(nc, now_ms);
		if (nc->count >= nc->max)
			return;
		pp = slot(nc, dir, name);
	}
	if (!(e = calloc(1, sizeof(*e))))
		return;
	e->dir = strdup(dir);
	e->name = strdup(name);
	if (!e->dir || !e->name) {
		free(e->dir);
		free(e->name);
		free(e);
		return;
	}
	e->at_ms = now_ms;
	*pp = e;
	nc->count++;
}

long pcf_negcache_age(struct pcf_negcache *nc, const char *dir,
		      const char *name, long now_ms)
{
	struct entry **pp = slot(nc, dir, name ? name : "");
	long age;

	if (!*pp)
		return -1;
	age = now_ms - (*pp)->at_ms;
	if (age < 0 || age >= nc->ttl_ms) {
		unlink_entry(nc, pp);
		return -1;
	}
	return age;
}

void pcf_negcache_drop(struct pcf_negcache *nc, const char *dir,
		       const char *name)
{
	struct entry **pp = slot(nc, dir, name ? name : "");

	if (*pp)
		unlink_entry(nc, pp);
}

size_t pcf_negcache_count(const struct pcf_negcache *nc)
{
	return nc->count;
}
