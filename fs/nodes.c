/*
 * nodes.c - the node table (nodes.h).
 *
 * A table file gets a kernel inode of its own for each open: the kernel
 * serializes writes and attribute changes per inode, so two loads of one
 * table sharing an inode would wait on each other in the kernel (a row lock
 * one load waits for in the server, held by the other load, would then
 * never be released: both writers stuck in D). So a table's entry is never
 * cached (timeout 0), every path walk looks it up, and a lookup gets the
 * path's current node only if the same task looked it up last and nothing
 * has it open for writing; any other task, or a node being written, gets a
 * new node (the kernel then drops its dentry and looks up again, getting
 * that one); a node whose last looker has exited is free again. Two opens
 * by two live tasks can never land on one inode, and `ls -l`'s stats cost
 * one lookup each. (FUSE gives pid 0 for a task in another pid namespace:
 * such a task always gets a new node.) st_ino stays the path's: stat shows
 * one file. A staged file's node goes with that file, not its path.
 */
#include "nodes.h"

#include "closer.h"
#include "paths.h"
#include "staged.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define NODE_BUCKETS 16384
static pthread_mutex_t nodes_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pcf_node root_inode = { .path = "/", .st_ino = PCF_ROOT_NODE_ID,
				       .read_size = -1 };
static struct pcf_node *buckets[NODE_BUCKETS];
static struct pcf_node *all_nodes; /* freed at unmount: no FORGET comes then */
static uint64_t generation;      /* the last node's */


struct pcf_node *pcf_node_of(uint64_t id)
{
	return id == PCF_ROOT_NODE_ID ? &root_inode
				      : (struct pcf_node *)(uintptr_t)id;
}

uint64_t pcf_node_id(const struct pcf_node *n)
{
	return n == &root_inode ? PCF_ROOT_NODE_ID : (uint64_t)(uintptr_t)n;
}

static struct pcf_node **bucket_of(uint64_t st_ino)
{
	return &buckets[st_ino % NODE_BUCKETS];
}

/* Takes n out of its path's hash chain. Needs nodes_lock. */
static void node_unhash(struct pcf_node *n)
{
	struct pcf_node **pp = bucket_of(n->st_ino);

	while (*pp && *pp != n)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = n->hnext;
	n->current = 0;
}

struct pcf_node *pcf_node_get(const char *path, int is_table, pid_t tid,
			      struct pcf_staged *staged)
{
	uint64_t ino = pcf_path_ino(path);
	struct pcf_node *n = NULL, *cur;

	if (strcmp(path, "/") == 0) {
		pthread_mutex_lock(&nodes_lock);
		root_inode.nlookup++;
		pthread_mutex_unlock(&nodes_lock);
		return &root_inode;
	}
	pthread_mutex_lock(&nodes_lock);
	for (cur = *bucket_of(ino); cur; cur = cur->hnext)
		if (cur->st_ino == ino && strcmp(cur->path, path) == 0)
			break;
	if (cur && cur->staged == staged &&
	    (!is_table || (cur->writers == 0 && tid > 0 &&
			   (cur->claimed_by == tid ||
			    pcf_task_gone(cur->claimed_by)))))
		n = cur;
	if (!n && (n = calloc(1, sizeof(*n))) != NULL) {
		n->path = strdup(path);
		if (!n->path) {
			free(n);
			n = NULL;
		} else {
			n->st_ino = ino;
			n->read_size = -1;
			n->generation = ++generation;
			n->staged = staged;
			if (staged)
				pcf_staged_hold(staged);
			n->all_next = all_nodes;
			if (all_nodes)
				all_nodes->all_prev = n;
			all_nodes = n;
			if (cur)
				node_unhash(cur);
			n->current = 1;
			n->hnext = *bucket_of(ino);
			*bucket_of(ino) = n;
		}
	}
	if (n) {
		n->nlookup++;
		n->claimed_by = tid;
	}
	pthread_mutex_unlock(&nodes_lock);
	return n;
}

void pcf_node_read_size(struct pcf_node *n, const void *owner, int64_t size)
{
	pthread_mutex_lock(&nodes_lock);
	if (size >= 0) {
		n->read_size = size;
		n->read_owner = owner;
	} else if (n->read_owner == owner) {
		n->read_size = -1;
		n->read_owner = NULL;
	}
	pthread_mutex_unlock(&nodes_lock);
}

int64_t pcf_node_size(struct pcf_node *n)
{
	int64_t size;

	pthread_mutex_lock(&nodes_lock);
	size = n->read_size;
	pthread_mutex_unlock(&nodes_lock);
	return size;
}

void pcf_node_forget(struct pcf_node *n, uint64_t count)
{
	pthread_mutex_lock(&nodes_lock);
	n->nlookup = n->nlookup > count ? n->nlookup - count : 0;
	if (n->nlookup == 0 && n != &root_inode) {
		if (n->current)
			node_unhash(n);
		if (n->all_prev)
			n->all_prev->all_next = n->all_next;
		else
			all_nodes = n->all_next;
		if (n->all_next)
			n->all_next->all_prev = n->all_prev;
		pcf_staged_put(n->staged);
		free(n->path);
		free(n);
	}
	pthread_mutex_unlock(&nodes_lock);
}

void pcf_node_writers(struct pcf_node *n, int delta)
{
	pthread_mutex_lock(&nodes_lock);
	n->writers += delta;
	pthread_mutex_unlock(&nodes_lock);
}

void pcf_nodes_free_all(void)
{
	pthread_mutex_lock(&nodes_lock);
	while (all_nodes) {
		struct pcf_node *n = all_nodes;

		all_nodes = n->all_next;
		pcf_staged_put(n->staged);
		free(n->path);
		free(n);
	}
	memset(buckets, 0, sizeof(buckets));
	pthread_mutex_unlock(&nodes_lock);
}
