/*
 * handles.h - what fi->fh holds: a tagged handle per open, told apart by
 * kind, each kind with its own fields.
 *
 * The kernel does not wait for a killed task's READ or WRITE before it
 * sends RELEASE, so a request may still run on a handle being released:
 * every request takes a reference (pcf_handle_hold, which finds only
 * handles not yet released), RELEASE drops the kernel's (pcf_handle_close),
 * and the last reference does the release's work: a load's close rule
 * runs in pcf_load_release.
 */
#ifndef PCF_HANDLES_H
#define PCF_HANDLES_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct pcf_export;
struct pcf_load;
struct pcf_node;
struct pcf_staged;

enum handle_kind { H_TABLE_READ, H_LOAD, H_STATUS, H_DIR, H_STAGED };

struct handle {
	enum handle_kind kind;
	int refs;              /* handles_lock: the kernel's, and requests' */
	int open;              /* handles_lock: not released yet (hashed) */
	struct handle *hnext;  /* handles_lock: hash chain */
	struct pcf_load *load; /* H_LOAD */
	struct pcf_export *export; /* H_TABLE_READ: the table streamed out */
	struct pcf_node *node; /* H_LOAD: counted in its writers */
	struct pcf_node *read_node; /* H_TABLE_READ, spooled: the
				     * node whose size the spooled export set */
	struct pcf_staged *staged; /* H_STAGED (held) */
	char *text;            /* H_STATUS: rendered at open */
	size_t len;
	struct dirent_list {   /* H_DIR: the listing taken at opendir */
		char **names;
		mode_t *modes;
		size_t n, cap;
	} dir;
};

/* A new handle of kind, held by the kernel once fi->fh names it. */
struct handle *pcf_handle_new(enum handle_kind kind);
/* The handle fh names, with a reference for this request, or NULL (none,
 * or released already). Drop it with pcf_handle_drop. */
struct handle *pcf_handle_hold(uint64_t fh);
void pcf_handle_drop(struct handle *h);
/* RELEASE, RELEASEDIR, or an open the kernel did not take: no request
 * finds it any more; the kernel's reference goes. */
void pcf_handle_close(struct handle *h);
/* Unmount: no RELEASE comes; loads were abandoned already. */
void pcf_handles_free_all(void);

#endif
