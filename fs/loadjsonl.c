/*
 * loadjsonl.c - a .jsonl load: lines to rows (jsonl.c), one COPY per key
 * set, in the load's one transaction.
 *
 *   write -> pcf_load_jsonl_feed: lines (one cut by a write waits in
 *   jline) -> jsonl_line -> pcf_jsonl_parse, a row of COPY's text format
 *   -> the running COPY (or the binary stage, convert.c); a row with
 *   another key set, or after a blank line (so that the server's line
 *   numbers stay the file's), ends that COPY and starts the next
 *   (jsonl_restart); {} is INSERT ... DEFAULT VALUES between two COPYs.
 *
 * Runs under the load's lock, like the rest of load.c, which lends it its
 * helpers (loadint.h).
 */
#include "convert.h"
#include "copy.h"
#include "fs.h"
#include "jsonl.h"
#include "loadint.h"
#include "sql.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* COPY "s"."t" (the current set's columns) FROM STDIN WITH (FORMAT text,
 * ENCODING 'UTF8'): JSON is UTF-8 whatever the connection's encoding.
 * FREEZE when truncated (pcf_load_copy_sql). */
static char *jsonl_copy_sql(struct pcf_load *l, int truncated)
{
	const size_t *idx = NULL;
	size_t n = l->jsonl ? pcf_jsonl_columns(l->jsonl, &idx) : 0;
	char **cols = n ? calloc(n, sizeof(*cols)) : NULL;
	char *sql;

	if (n && !cols)
		return NULL;
	for (size_t i = 0; i < n; i++)
		cols[i] = l->jcols[idx[i]];
	sql = pcf_load_copy_sql(l, cols, n, PCF_LOAD_COPY_FILE, 0, truncated);
	free(cols);
	return sql;
}

/* The converted rows go to the server. */
static int jsonl_flush(struct pcf_load *l)
{
	int rc = 0;

	if (l->conv)
		return pcf_load_state(l) == PCF_LOAD_COPYING ? pcf_convert_flush(l)
							 : 0;
	if (l->jout_len && pcf_load_state(l) == PCF_LOAD_COPYING)
		rc = pcf_load_send(l, l->jout, l->jout_len);
	l->jout_len = 0;
	return rc;
}

/* The transaction begins with the first row: BEGIN, the table's columns,
 * -o truncate's TRUNCATE. */
static int jsonl_begin(struct pcf_load *l)
{
	struct pcf_error e;

	if (l->backend_pid <= 0 && (l->backend_pid = pcf_begin(l->conn, &e)) < 0)
		return pcf_load_fail(l, &e);
	if (!l->jsonl) {
		if (pcf_load_table_columns(l, &l->jcols, &l->njcols, &e) != 0)
			return pcf_load_fail(l, &e);
		l->jsonl = pcf_jsonl_new(l->jcols, l->njcols,
					 l->fs->opts.json_ignore_unknown);
		if (!l->jsonl)
			return pcf_load_failf(l, ENOMEM, "out of memory");
		/* -o convert=auto: rows as binary tuples where exact. */
		if (pcf_convert_jsonl_start(l, l->jcols, l->njcols) < 0)
			return -l->error.err;
		if (l->replace) {
			if (pcf_load_truncate(l, &e) != 0)
				return pcf_load_fail(l, &e);
			l->tx_truncated = 1;
		}
	}
	return 0;
}

/* Sends the converted rows and ends the running COPY, if one runs: its
 * rows stay in the transaction, counted in seg_rows. The load is then
 * WAITING (in its transaction, no COPY) until the next one starts. */
static int jsonl_end_segment(struct pcf_load *l)
{
	uint64_t loaded = 0;
	struct pcf_error e;
	int rc;

	if ((rc = jsonl_flush(l)) != 0)
		return rc;
	if (pcf_load_state(l) != PCF_LOAD_COPYING)
		return 0;
	if (l->conv) {
		if ((rc = pcf_convert_pause(l)) != 0)
			return rc;
	} else if (pcf_copy_end(l->conn, NULL, &loaded, &e) != 0) {
		return pcf_load_fail(l, &e);
	}
	l->seg_rows += loaded;
	atomic_store(&l->state, PCF_LOAD_WAITING);
	return 0;
}

/* Ends the running COPY and starts the next for the current set,
 * numbered from the file's line `first`. */
static int jsonl_restart(struct pcf_load *l, uint64_t first)
{
	struct pcf_error e;
	char *sql;
	int rc;

	if ((rc = jsonl_end_segment(l)) != 0)
		return rc;
	if (l->conv) {
		const size_t *idx = NULL;
		size_t n = pcf_jsonl_columns(l->jsonl, &idx);

		if ((rc = pcf_convert_jsonl_columns(l, l->jcols, idx, n,
						    first)) != 0)
			return rc;
	} else {
		if (!(sql = jsonl_copy_sql(l, l->tx_truncated)))
			return pcf_load_failf(l, ENOMEM, "out of memory");
		rc = pcf_copy_start(l->conn, sql, &e);
		free(sql);
		if (rc)
			return pcf_load_fail(l, &e);
	}
	if (l->ckpt.on) {
		free(l->ckpt.copy_sql);
		if (!(l->ckpt.copy_sql = jsonl_copy_sql(l, 0)))
			return pcf_load_failf(l, ENOMEM, "out of memory");
		if (!l->ckpt.last.tv_sec) /* the load's first COPY */
			clock_gettime(CLOCK_MONOTONIC, &l->ckpt.last);
	}
	atomic_store(&l->state, PCF_LOAD_COPYING);
	l->line_base = first - 1;
	l->jrestart = 0;
	l->checked = (struct timespec){ 0 };
	return 0;
}

/*
 * A line whose object names no column ({}, or only keys left out): a row of
 * every column's default. COPY cannot carry it (a column list is never
 * empty), so the running COPY ends, INSERT ... DEFAULT VALUES runs in the
 * same transaction, and the next row starts a new COPY.
 */
static int jsonl_default_row(struct pcf_load *l)
{
	struct pcf_error e;
	PGresult *r;
	char *sql;
	int rc;

	if ((rc = jsonl_end_segment(l)) != 0)
		return rc;
	if (!(sql = pcf_load_table_sql(l, "INSERT INTO ", " DEFAULT VALUES")))
		return pcf_load_failf(l, ENOMEM, "out of memory");
	r = PQexec(l->conn, sql);
	free(sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		char m[sizeof(e.message)];

		pcf_error_from_result(&e, l->conn, r);
		PQclear(r);
		memcpy(m, e.message, sizeof(m));
		snprintf(e.message, sizeof(e.message),
			 "line %llu ({}: every column's default): %.900s",
			 (unsigned long long)l->jlines, m);
		return pcf_load_fail(l, &e);
	}
	/* A BEFORE INSERT trigger may keep it out, as for COPY's rows. */
	l->seg_rows += strtoull(PQcmdTuples(r), NULL, 10);
	PQclear(r);
	l->scan.rows++;
	return 0;
}

/* One whole line (its \n not included), the file's line l->jlines. */
static int jsonl_line(struct pcf_load *l, const char *line, size_t len)
{
	char why[400];
	int changed, rc;

	l->jlines++;
	if (len > l->fs->opts.max_record_bytes)
		return pcf_load_failf(l, EFBIG,
				  "line %llu is longer than %llu bytes "
				  "(-o max_record=)",
				  (unsigned long long)l->jlines,
				  (unsigned long long)l->fs->opts.max_record_bytes);
	if (!l->jsonl) {
		/* A blank line before the first row: nothing to begin. */
		for (size_t i = 0; i < len; i++)
			if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
				goto begin;
		return 0;
begin:
		if ((rc = jsonl_begin(l)) != 0)
			return rc;
	}
	switch (pcf_jsonl_parse(l->jsonl, line, len, &changed, why,
				sizeof(why))) {
	case PCF_JSONL_BLANK:
		l->jrestart = pcf_load_state(l) == PCF_LOAD_COPYING;
		return 0;
	case PCF_JSONL_NOMEM:
		return pcf_load_failf(l, ENOMEM, "out of memory");
	case PCF_JSONL_ERROR:
		return pcf_load_failf(l, EIO, "line %llu: %s%s%s%s",
				  (unsigned long long)l->jlines, why,
				  strstr(why, "names no column") ? " of " : "",
				  strstr(why, "names no column") ? l->label : "",
				  strstr(why, "names no column")
					  ? " (-o json_unknown=ignore leaves "
					    "such keys out)"
					  : "");
	case PCF_JSONL_ROW:
		break;
	}
	if (changed)
		pcf_jsonl_adopt(l->jsonl);
	if (pcf_jsonl_columns(l->jsonl, &(const size_t *){ NULL }) == 0)
		return jsonl_default_row(l);
	if ((changed || l->jrestart || pcf_load_state(l) != PCF_LOAD_COPYING) &&
	    (rc = jsonl_restart(l, l->jlines)) != 0)
		return rc;
	if (pcf_jsonl_emit(l->jsonl, &l->jout, &l->jout_len, &l->jout_cap))
		return pcf_load_failf(l, ENOMEM, "out of memory");
	l->scan.rows++;
	if (l->conv) {
		rc = pcf_convert_jsonl_row(l, l->jout, l->jout_len, l->jlines);
		l->jout_len = 0;
		return rc;
	}
	if (l->jout_len >= (256u << 10))
		return jsonl_flush(l);
	return 0;
}

/* One write's text, split into lines; a line cut by the write waits in
 * jline for the rest. */
int pcf_load_jsonl_feed(struct pcf_load *l, const char *buf, size_t size)
{
	int rc = 0;

	while (size > 0) {
		const char *nl = memchr(buf, '\n', size);
		size_t n = nl ? (size_t)(nl - buf) : size;

		if (l->jline_len + n > l->fs->opts.max_record_bytes)
			return pcf_load_failf(l, EFBIG,
					  "line %llu is longer than %llu bytes "
					  "(-o max_record=)",
					  (unsigned long long)l->jlines + 1,
					  (unsigned long long)
						  l->fs->opts.max_record_bytes);
		if (!nl || l->jline_len) {
			if ((rc = pcf_load_buf_append(l, &l->jline, &l->jline_len,
					     &l->jline_cap, buf, n)) != 0)
				return rc;
		}
		if (!nl)
			break;
		if (l->jline_len) {
			rc = jsonl_line(l, l->jline, l->jline_len);
			l->jline_len = 0;
		} else {
			rc = jsonl_line(l, buf, n);
		}
		if (rc)
			return rc;
		buf += n + 1;
		size -= n + 1;
	}
	if ((rc = jsonl_flush(l)) != 0)
		return rc;
	pcf_load_publish_rows(l);
	return pcf_load_after_write(l);
}

/* The stream ended: its last line (no \n after it), and a COPY even for
 * a file without a row (-o truncate then empties the table). */
int pcf_load_jsonl_end(struct pcf_load *l)
{
	int rc;

	if (l->jline_len) {
		rc = jsonl_line(l, l->jline, l->jline_len);
		l->jline_len = 0;
		if (rc)
			return rc;
	}
	if (pcf_load_state(l) == PCF_LOAD_WAITING &&
	    ((rc = jsonl_begin(l)) != 0 ||
	     (rc = jsonl_restart(l, l->jlines + 1)) != 0))
		return rc;
	rc = jsonl_flush(l);
	pcf_load_publish_rows(l);
	return rc;
}

