/*
 * negcache.h - names the server said are missing, remembered for a while.
 *
 * A stat of a missing table file would otherwise ask the server every
 * time (make, editors and PATH-like searches stat the same missing name
 * again and again). An answer "missing" is kept for ttl_ms, the tree's
 * own refresh period, so a table created outside the mount shows up to a
 * stat within the same bound as to ls. Pure: the caller passes the time
 * and holds the lock.
 */
#ifndef PCF_NEGCACHE_H
#define PCF_NEGCACHE_H

#include <stddef.h>

struct pcf_negcache;

/* At most max entries (further answers are not kept), each for ttl_ms. */
struct pcf_negcache *pcf_negcache_new(size_t max, long ttl_ms);
void pcf_negcache_free(struct pcf_negcache *nc);

/* The name dir/name (name NULL for dir itself) was found missing at
 * now_ms. */
void pcf_negcache_add(struct pcf_negcache *nc, const char *dir,
		      const char *name, long now_ms);

/* How many ms ago dir/name was found missing, or -1 if it was not, or
 * longer than ttl_ms ago (the entry is then dropped). */
long pcf_negcache_age(struct pcf_negcache *nc, const char *dir,
		      const char *name, long now_ms);

/* Forget dir/name (it was found, or created through the mount). */
void pcf_negcache_drop(struct pcf_negcache *nc, const char *dir,
		       const char *name);

size_t pcf_negcache_count(const struct pcf_negcache *nc);

#endif
