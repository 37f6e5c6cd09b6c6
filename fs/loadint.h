/*
 * loadint.h - what load.c lends the stages that run inside a load
 * (convert.c): failing the load, and the COPY statement in the mount's
 * dialect. Not for the rest of the daemon, which goes through load.h.
 */
#ifndef PCF_LOADINT_H
#define PCF_LOADINT_H

#include "load.h"

#include <stdatomic.h>

static inline int pcf_load_state(const struct pcf_load *l)
{
	return atomic_load(&l->state);
}

/* Fails the load for good (load.c load_fail): -e->err. */
int pcf_load_fail(struct pcf_load *l, const struct pcf_error *e);
int pcf_load_failf(struct pcf_load *l, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* COPY's end-of-data marker on the file's line `line`: fails the load. */
int pcf_load_marker_refused(struct pcf_load *l, uint64_t line);

/* A record longer than -o max_record: fails the load. */
int pcf_load_record_too_long(struct pcf_load *l, uint64_t line);

enum pcf_load_copy { PCF_LOAD_COPY_FILE, PCF_LOAD_COPY_BINARY };

/* COPY "s"."t" [(cols)] FROM STDIN in the file's format and the mount's
 * dialect, or binary; FREEZE when truncated (this transaction truncated
 * the table: l->tx_truncated, or 0 for a later transaction's statement).
 * NULL without memory. */
char *pcf_load_copy_sql(struct pcf_load *l, char **cols, size_t ncols,
			enum pcf_load_copy kind, int header, int truncated);

/* Bytes into the running COPY (a \n a checkpoint's \r left is
 * skipped). 0, or -errno with the load failed. */
int pcf_load_send(struct pcf_load *l, const char *buf, size_t size);

/* Appends to a buffer the load owns. 0, or the load fails (ENOMEM). */
int pcf_load_buf_append(struct pcf_load *l, char **b, size_t *len,
			size_t *cap, const char *buf, size_t size);

/* The table's columns in order (a malloc'd list), or -errno with e set. */
int pcf_load_table_columns(struct pcf_load *l, char ***cols, size_t *ncols,
			   struct pcf_error *e);

/* -o truncate's TRUNCATE. 0, or -errno with e set. */
int pcf_load_truncate(struct pcf_load *l, struct pcf_error *e);

/* head "schema"."table" tail (TRUNCATE, INSERT INTO); NULL without
 * memory. */
char *pcf_load_table_sql(struct pcf_load *l, const char *head,
			 const char *tail);

/* The rows so far, for the status files. */
void pcf_load_publish_rows(struct pcf_load *l);

/* After a write's rows: a checkpoint if one is due, and once a second the
 * question whether the server refused the COPY. 0 or -errno. */
int pcf_load_after_write(struct pcf_load *l);

/* .jsonl (loadjsonl.c): a write's bytes, and the stream's end. */
int pcf_load_jsonl_feed(struct pcf_load *l, const char *buf, size_t size);
int pcf_load_jsonl_end(struct pcf_load *l);

#endif
