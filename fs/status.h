/*
 * status.h - the read-only tree under MOUNT/.pgcopyfs/:
 *
 *   loads, loads.jsonl        the loads in progress
 *   history, history.jsonl    the last N finished loads
 *   errors/<schema>/<table>.csv   the last failed load of each table
 *
 * One record a line: logfmt in the plain files, JSON in the .jsonl ones
 * (README: "Status files").
 */
#ifndef PCF_STATUS_H
#define PCF_STATUS_H

#include "load.h"

#include <stddef.h>

void pcf_status_init(int history_len);
void pcf_status_free(void);

/* Appends l's outcome ("committed", "failed", "empty") to the history, and
 * for a failure to the table's last error; logs it. Needs l's lock. */
void pcf_status_record(struct pcf_load *l, const char *outcome);

/* 1 when the history holds a committed load of table (schema.table) by
 * process pid with an id of min_id or more (a retry after a failure). */
int pcf_status_committed_since(pid_t pid, const char *table, uint64_t min_id);

/*
 * rel is a path below the status directory: "" for the directory itself,
 * "/history", "/errors/public/posts.csv". Returns 1 for a directory, 0 for
 * a file, -ENOENT for nothing.
 */
int pcf_status_kind(const char *rel);

/* Calls fill(ctx, name) for each entry of the directory rel; viewer is
 * the uid whose loads may be shown, -1 for all (the mount's owner, root). */
int pcf_status_list(const char *rel, long viewer,
		    int (*fill)(void *ctx, const char *name), void *ctx);

/* Renders the file rel now; malloc'd text the caller frees, or NULL with
 * *err set (ENOENT, ENOMEM). */
char *pcf_status_render(const char *rel, long viewer, size_t *len, int *err);

#endif
