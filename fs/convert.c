/*
 * convert.c - the binary stage of a load: CSV, .tsv, and JSON lines' rows
 * (convert.h).
 *
 *   records ──► binrow.c ──► certain? ─ yes ─► binary COPY  (tuples in out)
 *                               └──── no ───► CSV COPY     (the record's bytes)
 *
 * One COPY runs at a time, of one format (a segment). A record the other
 * format wants ends it (its rows stay in the transaction, counted in
 * l->seg_rows) and starts the next, whose line numbers the server counts
 * from 1: l->line_base makes them the file's again (load.c).
 *
 * Three rules keep the outcome the server's, row for row, and the load's
 * connection what a COPY's always is (active, never idle in transaction):
 *  - A CSV COPY decides its line end on its first line; so does the file's
 *    one COPY. A CSV stretch that starts past the file's first line
 *    therefore begins with a header line of its own, empty but for the
 *    file's line end (HEADER true skips it unread), so that a record
 *    ending otherwise is refused as the one COPY would refuse it.
 *  - Back to binary only after SWITCH_RUN convertible rows in a row, so a
 *    file with a few odd rows does not pay two round trips for each.
 *  - A COPY always runs: binary from the start (and after a checkpoint)
 *    until a record says otherwise; an empty one costs a round trip.
 */
#include "convert.h"

#include "binrow.h"
#include "copy.h"
#include "fs.h"
#include "loadint.h"
#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Convertible rows in a row before a CSV segment gives way to binary. */
#define SWITCH_RUN 1000
/* Tuples are sent in pieces of about this size. */
#define SEND_AT (256u << 10)

enum segment { SEG_NONE, SEG_CSV, SEG_BIN };

struct pcf_convert {
	struct pcf_binrow *rows;
	char **cols;           /* COPY's column list; NULL: every column */
	size_t ncols;
	enum pcf_eol eol;      /* the file's line end */
	enum segment seg;      /* the COPY running, if any */
	struct pcf_bytes out;  /* tuples of the binary COPY, not yet sent */
	struct pcf_bytes part; /* a record cut by the end of a write */
	int part_cr;           /* part is whole but ended with \r at a write's
				* end: a \n may still follow */
	uint64_t recs;         /* the file's records so far, header included */
	uint64_t run;          /* convertible rows in a row (CSV segment) */
	const char *pend;      /* CSV bytes of this write not yet sent */
	size_t pend_len;
	struct pcf_bytes text; /* rows in their text form not in a write
				* (JSON lines' rows, a record cut by a
				* write), not yet sent */
	/* JSON lines: rows of COPY's text format from jsonl.c, for a set of
	 * columns that changes; every column's type, for the sets. */
	int jsonl;
	struct pcf_binrow_col *all;
	size_t nall;
};

int pcf_convert_copying(const struct pcf_convert *c)
{
	return c && c->seg != SEG_NONE;
}

void pcf_convert_free(struct pcf_convert *c)
{
	if (!c)
		return;
	pcf_binrow_free(c->rows);
	pcf_fields_free(c->cols, c->ncols);
	pcf_bytes_free(&c->out);
	pcf_bytes_free(&c->part);
	pcf_bytes_free(&c->text);
	free(c->all);
	free(c);
}

static int nomem(struct pcf_load *l)
{
	return pcf_load_failf(l, ENOMEM, "out of memory");
}

static int send(struct pcf_load *l, const void *p, size_t n)
{
	struct pcf_error e;

	if (n && pcf_copy_send(l->conn, p, n, &e) != 0)
		return pcf_load_fail(l, &e);
	return 0;
}

/* The rows in their text form held so far go to the server. */
static int flush_pending(struct pcf_load *l, struct pcf_convert *c)
{
	int rc = send(l, c->pend, c->pend_len);

	c->pend = NULL;
	c->pend_len = 0;
	if (rc == 0)
		rc = send(l, c->text.p, c->text.len);
	c->text.len = 0;
	return rc;
}

/* The tuples so far go to the server. */
static int flush_out(struct pcf_load *l, struct pcf_convert *c)
{
	int rc = send(l, c->out.p, c->out.len);

	c->out.len = 0;
	return rc;
}

/* Ends the running COPY: its rows stay in the transaction. */
static int segment_end(struct pcf_load *l, struct pcf_convert *c)
{
	uint64_t loaded = 0;
	struct pcf_error e;
	int rc;

	if (c->seg == SEG_NONE)
		return 0;
	if (c->seg == SEG_BIN) {
		if ((rc = flush_out(l, c)) != 0 ||
		    (rc = send(l, pcf_binary_trailer,
			       sizeof(pcf_binary_trailer))) != 0)
			return rc;
	} else if ((rc = flush_pending(l, c)) != 0) {
		return rc;
	}
	if (pcf_copy_end(l->conn, NULL, &loaded, &e) != 0)
		return pcf_load_fail(l, &e);
	l->seg_rows += loaded;
	c->seg = SEG_NONE;
	return 0;
}

/* Starts a COPY of format seg whose first row is the file's line
 * first_line (see the rules above for a CSV one). */
static int segment_start(struct pcf_load *l, struct pcf_convert *c,
			 enum segment seg, uint64_t first_line)
{
	/* (JSON lines' rows all end with \n: nothing to decide) */
	int header = seg == SEG_CSV && first_line > 1 && !c->jsonl;
	struct pcf_error e;
	char *sql;
	int rc;

	if ((rc = segment_end(l, c)) != 0)
		return rc;
	sql = pcf_load_copy_sql(l, c->cols, c->ncols,
				seg == SEG_BIN ? PCF_LOAD_COPY_BINARY
					       : PCF_LOAD_COPY_FILE,
				header, l->tx_truncated);
	if (!sql)
		return nomem(l);
	rc = pcf_copy_start(l->conn, sql, &e);
	free(sql);
	if (rc)
		return pcf_load_fail(l, &e);
	c->seg = seg;
	l->line_base = first_line - 1 - (uint64_t)header;
	l->checked = (struct timespec){ 0 };
	if (seg == SEG_BIN)
		return send(l, pcf_binary_header, sizeof(pcf_binary_header));
	c->run = 0;
	if (header)
		return c->eol == PCF_EOL_CRLF ? send(l, "\r\n", 2)
					      : send(l, "\n", 1);
	return 0;
}

/* CSV bytes of a record: in place when they follow the pending ones in
 * this write, else on their own. */
static int csv_record(struct pcf_load *l, struct pcf_convert *c,
		      const char *rec, size_t len, int in_place)
{
	int rc;

	atomic_fetch_add(&l->csv_rows, 1);
	if (in_place && c->pend && c->pend + c->pend_len == rec) {
		c->pend_len += len;
		return 0;
	}
	if (in_place) {
		if ((rc = flush_pending(l, c)) != 0)
			return rc;
		c->pend = rec;
		c->pend_len = len;
		return 0;
	}
	/* After what this write has pending, in order. */
	if (c->pend && (rc = flush_pending(l, c)) != 0)
		return rc;
	if (pcf_bytes_reserve(&c->text, len) != 0)
		return nomem(l);
	memcpy(c->text.p + c->text.len, rec, len);
	c->text.len += len;
	return c->text.len >= SEND_AT ? flush_pending(l, c) : 0;
}

/*
 * One whole record, the file's line c->recs + 1: into the running COPY, or
 * the next one. in_place: rec lies in the write being fed (not in part).
 */
static int record(struct pcf_load *l, struct pcf_convert *c, const char *rec,
		  size_t len, int last, int in_place)
{
	uint64_t no = ++c->recs;
	size_t before = c->out.len;
	int certain, rc;

	if (len > l->fs->opts.max_record_bytes)
		return pcf_load_record_too_long(l, no);
	if (len >= 2 && rec[0] == '\\' && rec[1] == '.') {
		if (len >= 3 && (rec[2] == '\n' || rec[2] == '\r'))
			return pcf_load_marker_refused(l, no);
		certain = 0; /* the server's to judge */
	} else if ((certain = pcf_binrow_tuple(c->rows, rec, len, last,
					       &c->out)) < 0) {
		return nomem(l);
	}
	if (!certain || (c->seg == SEG_CSV && ++c->run < SWITCH_RUN)) {
		c->out.len = before;
		if (c->seg != SEG_CSV &&
		    (rc = segment_start(l, c, SEG_CSV, no)) != 0)
			return rc;
		if (!certain)
			c->run = 0;
		return csv_record(l, c, rec, len, in_place);
	}
	/* The tuple is at out's end: out holds nothing else unless a binary
	 * COPY runs, and starting one leaves out alone. */
	if (c->seg != SEG_BIN && (rc = segment_start(l, c, SEG_BIN, no)) != 0)
		return rc;
	atomic_fetch_add(&l->bin_rows, 1);
	if (c->out.len >= SEND_AT)
		return flush_out(l, c);
	return 0;
}

/* A whole record of this write at rec, or the end of one that part
 * began: to record(), unless it ends with a \r at the write's end (a \n
 * may follow in the next write: part waits for it). */
static int span(struct pcf_load *l, struct pcf_convert *c, const char *rec,
		size_t len, int at_end)
{
	int rc;

	if (c->part.len || (at_end && len && rec[len - 1] == '\r')) {
		if (pcf_bytes_reserve(&c->part, len) != 0)
			return nomem(l);
		memcpy(c->part.p + c->part.len, rec, len);
		c->part.len += len;
		if (at_end && c->part.p[c->part.len - 1] == '\r') {
			c->part_cr = 1;
			return 0;
		}
		rc = record(l, c, (const char *)c->part.p, c->part.len, 0, 0);
		c->part.len = 0;
		return rc;
	}
	return record(l, c, rec, len, 0, 1);
}

int pcf_convert_feed(struct pcf_load *l, const char *buf, size_t size)
{
	struct pcf_convert *c = l->conv;
	int rc = 0;

	while (size > 0) {
		ssize_t n = pcf_scan_record(&l->scan, buf, size);
		size_t take = n == PCF_SCAN_PARTIAL ? size : (size_t)n;

		/* (the text format's scanner finds \. anywhere in a record) */
		if (l->scan.end_marker)
			return pcf_load_marker_refused(l, l->scan.end_marker);

		if (c->part_cr) {
			/* The record that ended with \r: its \n, if this is
			 * one, came first in this write. */
			c->part_cr = 0;
			if (buf[0] == '\n') {
				if ((rc = pcf_bytes_reserve(&c->part, 1)) != 0)
					return nomem(l);
				c->part.p[c->part.len++] = '\n';
				buf++, size--, take--;
			}
			rc = record(l, c, (const char *)c->part.p, c->part.len,
				    0, 0);
			c->part.len = 0;
			if (rc)
				return rc;
			if (take == 0)
				continue;
		}
		if (n == PCF_SCAN_PARTIAL) {
			if (c->part.len + take > l->fs->opts.max_record_bytes)
				return pcf_load_record_too_long(l, c->recs + 1);
			if (pcf_bytes_reserve(&c->part, take) != 0)
				return nomem(l);
			memcpy(c->part.p + c->part.len, buf, take);
			c->part.len += take;
			break;
		}
		if ((rc = span(l, c, buf, take, take == size)) != 0)
			return rc;
		buf += take;
		size -= take;
	}
	/* What this write completed reaches the server now, as CSV does. */
	if ((rc = flush_pending(l, c)) != 0)
		return rc;
	return flush_out(l, c);
}

/* The record in hand goes (the stream's last: it may have no line end). */
static int drain(struct pcf_load *l, struct pcf_convert *c)
{
	int rc = 0;

	if (c->part.len)
		rc = record(l, c, (const char *)c->part.p, c->part.len,
			    !c->part_cr, 0);
	c->part.len = 0;
	c->part_cr = 0;
	return rc;
}

int pcf_convert_finish(struct pcf_load *l)
{
	struct pcf_convert *c = l->conv;
	int rc;

	if ((rc = drain(l, c)) != 0)
		return rc;
	return segment_end(l, c);
}

int pcf_convert_pause(struct pcf_load *l)
{
	return segment_end(l, l->conv);
}

int pcf_convert_resume(struct pcf_load *l)
{
	struct pcf_convert *c = l->conv;

	return segment_start(l, c, SEG_BIN, c->recs + 1);
}

/* The session's TimeZone is UTC for every instant: a timestamptz without
 * an offset is read as UTC, as with +00. (Names whose tzdata entry is a
 * zero offset with no rules; any other zone decides by its rules.) */
static int session_in_utc(struct pcf_load *l)
{
	static const char *const utc[] = {
		"UTC", "Etc/UTC", "UCT", "Etc/UCT", "GMT", "Etc/GMT",
		"Universal", "Etc/Universal", "Zulu", "Etc/Zulu",
		"Greenwich", "Etc/Greenwich", "GMT0", "Etc/GMT0",
	};
	const char *tz = PQparameterStatus(l->conn, "TimeZone");

	for (size_t i = 0; tz && i < sizeof(utc) / sizeof(utc[0]); i++)
		if (strcmp(tz, utc[i]) == 0)
			return 1;
	return 0;
}

/* The target columns' types, as binrow.c wants them: 0, or -errno with
 * the load failed; *why says which column keeps the load in CSV (then
 * *ncols is 0). */
static int column_types(struct pcf_load *l, char **cols, size_t ncols,
			struct pcf_binrow_col **out, size_t *nout, char *why,
			size_t whylen, int any_type)
{
	const char *params[2] = { l->table.schema, l->table.name };
	PGresult *r = PQexecParams(
		l->conn,
		"SELECT a.attname,"
		" CASE WHEN t.typtype = 'b' AND t.typnamespace ="
		" 'pg_catalog'::regnamespace THEN t.typname::text END,"
		" a.atttypmod, a.attgenerated <> '',"
		" current_setting('max_identifier_length')::int"
		" FROM pg_catalog.pg_attribute a"
		" JOIN pg_catalog.pg_type t ON t.oid = a.atttypid"
		" WHERE a.attrelid = format('%I.%I', $1::text, $2::text)::regclass"
		" AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
		2, NULL, params, NULL, NULL, 0);
	struct pcf_binrow_col *bc = NULL;
	struct pcf_error e;
	size_t n = 0;
	int rows;

	*nout = 0;
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		pcf_error_from_result(&e, l->conn, r);
		PQclear(r);
		return pcf_load_fail(l, &e);
	}
	rows = PQntuples(r);
	if (!(bc = calloc((size_t)rows + 1, sizeof(*bc)))) {
		PQclear(r);
		return nomem(l);
	}
	for (int i = 0; i < rows; i++) {
		const char *name = PQgetvalue(r, i, 0);
		const char *typ = PQgetisnull(r, i, 1) ? NULL : PQgetvalue(r, i, 1);
		int typmod = atoi(PQgetvalue(r, i, 2));
		int generated = PQgetvalue(r, i, 3)[0] == 't';
		int pos = -1;
		struct pcf_binrow_col col = { PCF_BIN_NONE, -1, -1, -1, 0 };

		if (cols) {
			for (size_t k = 0; k < ncols; k++)
				if (strcmp(cols[k], name) == 0)
					pos = (int)k;
			if (pos < 0)
				continue;
		} else if (generated) {
			continue; /* COPY leaves them out */
		} else {
			pos = (int)n;
		}
		col.type = typ ? pcf_bin_type_of(typ) : PCF_BIN_NONE;
		col.utc = col.type == PCF_BIN_TIMESTAMPTZ && session_in_utc(l);
		if (col.type == PCF_BIN_TEXT && typmod >= 4 &&
		    (strcmp(typ, "varchar") == 0 || strcmp(typ, "bpchar") == 0))
			col.max_chars = typmod - 4;
		if (col.type == PCF_BIN_TEXT && strcmp(typ, "name") == 0)
			col.max_bytes = atoi(PQgetvalue(r, i, 4));
		if (col.type == PCF_BIN_NUMERIC && typmod >= 4) {
			int p = ((typmod - 4) >> 16) & 0xffff;
			int s = (((typmod - 4) & 0x7ff) ^ 1024) - 1024;

			if (s < 0 || s > p)
				col.type = PCF_BIN_NONE;
			else
				col.num_int = p - s;
		}
		if (col.type == PCF_BIN_NONE && !any_type) {
			snprintf(why, whylen, "column %s is of type %s", name,
				 typ ? typ : "not converted");
			free(bc);
			PQclear(r);
			return 0;
		}
		bc[pos] = col;
		n++;
	}
	PQclear(r);
	if (cols && n != ncols) {
		snprintf(why, whylen, "the header's columns are not all found");
		free(bc);
		return 0;
	}
	*out = bc;
	*nout = n;
	return 0;
}

static int utf8_setting(struct pcf_load *l, const char *name)
{
	const char *v = PQparameterStatus(l->conn, name);

	return v && (strcasecmp(v, "UTF8") == 0 || strcasecmp(v, "UTF-8") == 0);
}

/* Why the session keeps every load of this mount from converting, or
 * NULL: the option, the encodings binary text is read in (the client's,
 * turned into the server's), a server without attgenerated. */
static const char *session_refuses(struct pcf_load *l)
{
	if (l->fs->opts.convert_off)
		return "-o convert=off";
	if (!utf8_setting(l, "client_encoding") ||
	    !utf8_setting(l, "server_encoding"))
		return "the client or server encoding is not UTF-8";
	if (PQserverVersion(l->conn) < 120000)
		return "the server is older than PostgreSQL 12";
	return NULL;
}

/* Why this CSV or .tsv load cannot convert at all, or NULL. */
static const char *never(struct pcf_load *l, const char *head, size_t len)
{
	const char *enc = l->fs->opts.encoding, *why = session_refuses(l);

	if (why)
		return why;
	if (l->format != PCF_FMT_CSV && l->format != PCF_FMT_TEXT)
		return "only CSV and .tsv files are converted";
	/* A text-format stretch past the first line opens with a header
	 * line: HEADER with the text format is 15's. */
	if (l->format == PCF_FMT_TEXT && PQserverVersion(l->conn) < 150000)
		return "the server is older than PostgreSQL 15 (.tsv)";
	if (enc && strcasecmp(enc, "UTF8") != 0 && strcasecmp(enc, "UTF-8") != 0)
		return "-o encoding= is not UTF-8";
	if (len == 0 || head[len - 1] != '\n')
		return "the first line does not end with \\n or \\r\\n";
	return NULL;
}

int pcf_convert_start(struct pcf_load *l, char **cols, size_t ncols,
		      const char *head, size_t len, int header)
{
	const char *no = never(l, head, len);
	enum pcf_eol eol = len >= 2 && head[len - 2] == '\r' ? PCF_EOL_CRLF
							     : PCF_EOL_NL;
	struct pcf_binrow_col *bc = NULL;
	struct pcf_convert *c;
	size_t n = 0;
	int rc;

	if (no) {
		snprintf(l->convert_why, sizeof(l->convert_why), "%s", no);
		return 0;
	}
	rc = column_types(l, cols, ncols, &bc, &n, l->convert_why,
			  sizeof(l->convert_why), 0);
	if (rc || n == 0) {
		free(bc);
		return rc;
	}
	c = calloc(1, sizeof(*c));
	if (c)
		c->rows = pcf_binrow_new(
			l->format == PCF_FMT_TEXT ? PCF_BINROW_TEXT
						  : PCF_BINROW_CSV,
			l->format == PCF_FMT_TEXT ? (struct pcf_dialect){ '\t', 0, 0 }
						  : l->fs->opts.dialect,
			l->fs->opts.null_string, bc, n, eol);
	free(bc);
	if (c && cols && !(c->cols = calloc(ncols + 1, sizeof(*c->cols))))
		goto nomem;
	/* The header's list, as the table spells it; no list (every column
	 * COPY takes) otherwise. */
	for (size_t i = 0; c && cols && i < ncols; i++, c->ncols = i)
		if (!(c->cols[i] = strdup(cols[i])))
			goto nomem;
	if (!c || !c->rows)
		goto nomem;
	c->eol = eol;
	l->conv = c;
	/* A COPY runs from now on, binary until a record says otherwise. */
	if ((rc = segment_start(l, c, SEG_BIN, header ? 2 : 1)) != 0)
		return rc;
	if (header)
		c->recs = 1;
	else if ((rc = record(l, c, head, len, 0, 0)) != 0 ||
		 (rc = flush_out(l, c)) != 0)
		return rc;
	return 1;
nomem:
	pcf_convert_free(c);
	return nomem(l);
}

/* --- JSON lines: jsonl.c's rows of COPY's text format, per key set ---- */

int pcf_convert_jsonl_start(struct pcf_load *l, char **cols, size_t ncols)
{
	/* (jsonl.c's rows are UTF-8 whatever -o encoding= says) */
	const char *no = session_refuses(l);
	struct pcf_binrow_col *bc = NULL;
	struct pcf_convert *c;
	size_t n = 0;
	int rc;

	if (no) {
		snprintf(l->convert_why, sizeof(l->convert_why), "%s", no);
		return 0;
	}
	/* Every column's type: a key set with a column of a type not
	 * converted sends its rows as text. */
	if ((rc = column_types(l, cols, ncols, &bc, &n, l->convert_why,
			       sizeof(l->convert_why), 1)) != 0) {
		free(bc);
		return rc;
	}
	if (!(c = calloc(1, sizeof(*c)))) {
		free(bc);
		return nomem(l);
	}
	c->jsonl = 1;
	c->all = bc;
	c->nall = n;
	c->eol = PCF_EOL_NL;
	l->conv = c;
	return 1;
}

int pcf_convert_jsonl_columns(struct pcf_load *l, char *const *names,
			      const size_t *idx, size_t n, uint64_t first_line)
{
	struct pcf_convert *c = l->conv;
	struct pcf_binrow_col *bc;
	int rc;

	if ((rc = segment_end(l, c)) != 0)
		return rc;
	pcf_binrow_free(c->rows);
	pcf_fields_free(c->cols, c->ncols);
	c->rows = NULL;
	c->ncols = 0;
	if (!(c->cols = calloc(n + 1, sizeof(*c->cols))) ||
	    !(bc = calloc(n + 1, sizeof(*bc))))
		return nomem(l);
	for (size_t i = 0; i < n; i++) {
		bc[i] = c->all[idx[i]];
		if (!(c->cols[i] = strdup(names[idx[i]]))) {
			free(bc);
			return nomem(l);
		}
		c->ncols = i + 1;
	}
	c->rows = pcf_binrow_new(PCF_BINROW_TEXT,
				 (struct pcf_dialect){ '\t', 0, 0 }, NULL, bc,
				 n, PCF_EOL_NL);
	free(bc);
	if (!c->rows)
		return nomem(l);
	c->recs = first_line - 1;
	return segment_start(l, c, SEG_BIN, first_line);
}

int pcf_convert_jsonl_row(struct pcf_load *l, const char *row, size_t len,
			  uint64_t line)
{
	struct pcf_convert *c = l->conv;

	c->recs = line - 1;
	return record(l, c, row, len, 0, 0);
}

int pcf_convert_flush(struct pcf_load *l)
{
	int rc = flush_pending(l, l->conv);

	return rc ? rc : flush_out(l, l->conv);
}
