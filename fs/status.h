/*
 * status.h - the read-only files under MOUNT/.pgcopyfs/: live loads and the
 * history of finished ones, one logfmt record a line (README: "Status").
 */
#ifndef PCF_STATUS_H
#define PCF_STATUS_H

#include "load.h"

#include <stddef.h>

void pcf_status_init(int history_len);
void pcf_status_free(void);

/* Appends l's outcome ("committed", "failed", "empty") to the history and
 * logs it. Needs l's lock (reads its fields). */
void pcf_status_record(struct pcf_load *l, const char *outcome);

/* 1 for a name under .pgcopyfs/, 0 otherwise. */
int pcf_status_exists(const char *name);

/* Calls fill(ctx, name) for each status file. */
void pcf_status_list(int (*fill)(void *ctx, const char *name), void *ctx);

/* Renders one status file now; malloc'd text the caller frees, or NULL
 * (-ENOENT unknown, -ENOMEM) with *err set. */
char *pcf_status_render(const char *name, size_t *len, int *err);

#endif
