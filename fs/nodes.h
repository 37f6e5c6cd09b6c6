/*
 * nodes.h - what the kernel knows by a node id: one node per path for
 * directories, status and staged files; for a table file a node per
 * opener (see the rule in nodes.c). Node ids given to the kernel are the
 * nodes' addresses (the root's is 1), valid until the kernel forgets them.
 */
#ifndef PCF_NODES_H
#define PCF_NODES_H

#include <stdint.h>
#include <sys/types.h>

struct pcf_staged;

/* What the kernel knows by a node id. Guarded by nodes_lock, but path,
 * st_ino and generation, which never change. */
struct pcf_node {
	char *path;          /* "/", "/public", "/public/t.csv" */
	uint64_t st_ino;     /* the path's number, the same for every node */
	uint64_t nlookup;    /* lookups the kernel has not forgotten */
	uint64_t generation; /* set once: a new one for a known node id makes
			      * the kernel call its inode stale (EIO) */
	int current;         /* the one its path's lookups find (hashed) */
	int writers;         /* open for writing: a table's lookups go past it */
	pid_t claimed_by;    /* a table's: the task that looked it up last */
	int64_t read_size;   /* the length of the export
			      * a read open of it spooled (its st_size), -1
			      * none; set by read_owner's open */
	const void *read_owner;
	struct pcf_staged *staged; /* a staged file's (held), set once; its
				    * calls go by it, not by path, which a
				    * rename leaves behind */
	struct pcf_node *hnext; /* hash chain, while current */
	struct pcf_node *all_prev, *all_next; /* every node but the root */
};

#define PCF_ROOT_NODE_ID 1

/* The node the kernel calls id, and the id it calls node n. */
struct pcf_node *pcf_node_of(uint64_t id);
uint64_t pcf_node_id(const struct pcf_node *n);

/* The node for path looked up by task tid, with one more lookup counted;
 * NULL without memory. staged: the staged file it names, if any (held by
 * the node). */
struct pcf_node *pcf_node_get(const char *path, int is_table, pid_t tid,
			      struct pcf_staged *staged);
/* The kernel forgets count lookups; the last frees the node. */
void pcf_node_forget(struct pcf_node *n, uint64_t count);
/* A write open of n begins (+1) or ends (-1): while one is open, no lookup
 * finds n. */
void pcf_node_writers(struct pcf_node *n, int delta);
/* A read open (owner) of n spooled size bytes: n's
 * size is that until owner lets go (size -1 then). */
void pcf_node_read_size(struct pcf_node *n, const void *owner, int64_t size);
/* n's st_size when a read open has set one, or -1. */
int64_t pcf_node_size(struct pcf_node *n);
/* Unmount: no FORGET comes any more. */
void pcf_nodes_free_all(void);

#endif
