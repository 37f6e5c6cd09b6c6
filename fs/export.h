/*
 * export.h - reading a table file: the table streamed out by
 * COPY ... TO STDOUT on the open file's own connection.
 *
 *   open  -> connect, BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY,
 *            COPY "s"."t" TO STDOUT (the file's format); each step
 *            waited for in slices, given up when the reader is killed
 *   read  -> queued for the export's own thread (the pump), which reads
 *            the COPY's output (PQgetCopyData) a little ahead of the
 *            reader and answers with the next bytes, or with bytes read a
 *            moment ago, kept in a window (less, tail seek back);
 *            a spooled open (-o read_size=exact, or an open by a program
 *            of -o size_at_open=) spools the whole output first and
 *            reads come from the spool at any offset
 *   close -> the pump ends: a COPY not read to its end is cancelled (the
 *            server stops at once), the connection closed
 *
 * One snapshot per open: committed rows only, never a load in progress.
 */
#ifndef PCF_EXPORT_H
#define PCF_EXPORT_H

#include "catalog.h"
#include "conn.h"

#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

struct pcf_fs;
struct pcf_export;

/* Whether the reader is being killed (its request interrupted and the
 * reader dying): a wait for the server, or a connect, then stops with
 * EINTR. A signal the reader handles stops nothing: its handler runs
 * when the read is answered, as for a regular file. */
typedef int (*pcf_export_interrupted)(void *ctx);

/*
 * Starts the export of table t for the file at path (relative to the
 * mount; its name says the format: .csv, .tsv, .jsonl), spooled whole
 * before it returns when spool is set. 0 with *out, or -errno with e
 * filled in (EACCES without SELECT on the table, ENOSPC: a full spool).
 */
int pcf_export_open(struct pcf_fs *fs, const struct pcf_table_info *t,
		    const char *path, int spool, pcf_export_interrupted intr,
		    void *ctx, struct pcf_export **out, struct pcf_error *e);

/* Answers a read: with err (an errno), or else with count pieces of
 * bytes that live in the export (no copy for the caller). Called once per
 * read, on the reader's thread or later on the export's own. */
typedef void (*pcf_export_replier)(void *rctx, int err, const struct iovec *iov,
				   int count);

/*
 * Answers a read of up to size bytes at off through reply: the stream's
 * next bytes (off where the last read ended), or bytes within the window
 * kept behind it; all size bytes but at the stream's end. A read further
 * on skips ahead; fewer bytes at the end. The answer may come later, from
 * the export's own thread, once the server has sent the bytes: an error
 * is answered through reply too (ESPIPE for an offset behind the window,
 * EIO, and the reason logged, when the server fails, EINTR when the
 * reader is killed). Returns 0 when reply was or will be called, or
 * -errno when it will not be (the caller answers the error).
 */
int pcf_export_reply(struct pcf_export *x, size_t size, off_t off,
		     pcf_export_interrupted intr, void *ctx,
		     pcf_export_replier reply, void *rctx);

/* For a spooled open, the length of the export (the open file's size);
 * -1 for a streamed read. */
int64_t pcf_export_size(const struct pcf_export *x);

/* For a spooled open, up to n bytes of the export at off (pread); -errno. */
ssize_t pcf_export_spool_read(struct pcf_export *x, void *buf, size_t n,
			      off_t off);

/* The close: cancels a COPY still running, disconnects, frees x. */
void pcf_export_close(struct pcf_export *x);

#endif
