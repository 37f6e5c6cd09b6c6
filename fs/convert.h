/*
 * convert.h - the binary stage of a load (-o convert=auto): whole records
 * of a CSV or .tsv file, and the rows jsonl.c makes of JSON lines, become
 * binary COPY tuples (binrow.c) where every field converts
 * exactly, and go as CSV otherwise, in runs of COPY statements of either
 * format inside the load's one transaction (doc/binary.md).
 *
 *   load.c load_feed -> pcf_convert_feed: records (scan.c's ends) ->
 *     binrow.c tuple, or the record's own bytes -> the running COPY's
 *     format; a record the other format wants ends that COPY and starts
 *     the next (segment_start/segment_end), numbered from the file's line.
 *
 * Owned by the load and used under its lock, like the rest of it.
 */
#ifndef PCF_CONVERT_H
#define PCF_CONVERT_H

#include <stddef.h>
#include <stdint.h>

struct pcf_load;
struct pcf_convert;

/*
 * At the COPY's start (load.c load_start_copy, the transaction begun, the
 * header decided): cols[0..ncols) the header's columns as the table spells
 * them, or NULL for every column; head[0..len) the file's first record
 * (the header when header, else the first row). 1 when the stage now runs
 * the load's COPYs (head taken), 0 when the load goes as CSV as before
 * (why kept for loads and history), or -errno (the load failed).
 */
int pcf_convert_start(struct pcf_load *l, char **cols, size_t ncols,
		      const char *head, size_t len, int header);

/* The bytes after the first record. 0 or -errno (the load failed). */
int pcf_convert_feed(struct pcf_load *l, const char *buf, size_t size);

/* The stream ended: its last record goes, and the running COPY ends, its
 * rows counted in l->seg_rows. 0 or -errno. */
int pcf_convert_finish(struct pcf_load *l);

/* A checkpoint: ends the running COPY (its rows in l->seg_rows); once
 * the next transaction has begun, resume starts its COPY. 0 or -errno. */
int pcf_convert_pause(struct pcf_load *l);
int pcf_convert_resume(struct pcf_load *l);

/*
 * JSON lines (load.c's jsonl_*): at the first row, the table's columns
 * (1: the stage runs the COPYs, 0: not, -errno); at each COPY the key set
 * changes or a blank line ends, the set's columns (names[idx[i]]) and the
 * file's line of its first row; then each row jsonl.c made, in COPY's text
 * format with its \n, and its line; flush at the end of a write.
 */
int pcf_convert_jsonl_start(struct pcf_load *l, char **cols, size_t ncols);
int pcf_convert_jsonl_columns(struct pcf_load *l, char *const *names,
			      const size_t *idx, size_t n, uint64_t first_line);
int pcf_convert_jsonl_row(struct pcf_load *l, const char *row, size_t len,
			  uint64_t line);
int pcf_convert_flush(struct pcf_load *l);

/* A COPY of the stage's is running (the server may have refused it). */
int pcf_convert_copying(const struct pcf_convert *c);

void pcf_convert_free(struct pcf_convert *c);

#endif
