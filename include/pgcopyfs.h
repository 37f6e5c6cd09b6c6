/*
 * pgcopyfs.h - the pure pieces of pgcopyfs: the incremental CSV record
 * scanner, the header splitter and the table-name <-> file-name escaping.
 *
 * Nothing here touches FUSE or libpq, so the unit tests and the fuzzer link
 * these pieces alone. Everything is prefixed pcf_.
 */
#ifndef PGCOPYFS_H
#define PGCOPYFS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PGCOPYFS_VERSION "0.1.0"

/* How a CSV stream is spelled; mirrors COPY's DELIMITER, QUOTE and ESCAPE. */
struct pcf_dialect {
	char delimiter;
	char quote;
	char escape;
};

#define PCF_DIALECT_CSV ((struct pcf_dialect){ ',', '"', '"' })

/*
 * Incremental record scanner. It finds record boundaries exactly the way the
 * server's COPY ... (FORMAT csv) does (a quote toggles quoting anywhere, an
 * escape only counts inside quotes, \n, \r\n and a lone \r end a record
 * outside quotes), so the rows it counts are the rows COPY will see.
 * Zero-initialise with pcf_scan_init(); it holds no memory of its own.
 */
struct pcf_scanner {
	struct pcf_dialect d;
	uint64_t rows;          /* complete records so far, counted at their end */
	uint64_t bytes;         /* bytes consumed so far */
	unsigned char in_quote; /* inside a quoted section */
	unsigned char last_was_esc;
	unsigned char pending_cr; /* last byte was a record-ending \r */
	unsigned char row_open;   /* bytes seen since the last record ended */
	/* COPY's end-of-data marker: a record that begins with \. and a line
	 * end (the server ends the data there, or refuses a line end of
	 * another style). pcf_scan_chunk sets end_marker to the first such
	 * record's number (1-based, the file's line for COPY); 0 if none.
	 * marker_state carries a "\" (1) or "\." (2) at a record's start
	 * across calls. */
	uint64_t end_marker;
	unsigned char marker_state;
	/* Where the current record began, as an offset in the stream: the
	 * record in progress is bytes - record_start long. */
	uint64_t record_start;
	/* COPY's text format (pcf_scan_init_text): a backslash escapes the
	 * byte after it, a line end too; no quotes. */
	unsigned char text;
};

/* Returned by pcf_scan_record when every byte was consumed without a record
 * ending; feed more bytes and it resumes where it stopped. */
#define PCF_SCAN_PARTIAL ((ssize_t)-2)
/* Returned by pcf_scan_finish when the stream ended inside a quoted field. */
#define PCF_SCAN_UNTERMINATED ((ssize_t)-1)

void pcf_scan_init(struct pcf_scanner *s, struct pcf_dialect d);

/*
 * The same scanner for COPY ... (FORMAT text), by the server's text line
 * reader: \n, \r\n and a lone \r end a record unless a backslash escapes
 * them; a backslash escapes any byte after it (so \\ is one backslash and
 * the byte after it is plain). end_marker is the first record holding an
 * unescaped \. right before a line end, wherever in the record: there the
 * server ends the data (a \. before another byte it refuses itself).
 */
void pcf_scan_init_text(struct pcf_scanner *s);

/*
 * Scans buf until the current record ends. Returns the number of bytes
 * consumed, the last of them being the record's terminator, or
 * PCF_SCAN_PARTIAL when all len bytes were consumed inside a record.
 * The \n of a \r\n split across two calls is consumed by the second call.
 */
ssize_t pcf_scan_record(struct pcf_scanner *s, const char *buf, size_t len);

/* Scans a whole chunk, counting every record that ends in it, and looking
 * for COPY's end-of-data marker (end_marker above). Returns the number of
 * records completed in this chunk. */
uint64_t pcf_scan_chunk(struct pcf_scanner *s, const char *buf, size_t len);

/*
 * Declares the end of the stream. A last record without a terminator counts
 * as a row (COPY loads it too). Returns 0, or PCF_SCAN_UNTERMINATED when the
 * stream ended inside quotes.
 */
ssize_t pcf_scan_finish(struct pcf_scanner *s);

/*
 * Splits one record (as delimited by pcf_scan_record, terminator included or
 * not) into its fields, removing quotes the way COPY does. On success *fields
 * is a malloc'd array of *nfields malloc'd strings that the caller releases
 * with pcf_fields_free(). Returns 0, -ENOMEM, or -EINVAL when a field holds a
 * NUL byte (it could not be a column name).
 */
int pcf_split_record(struct pcf_dialect d, const char *rec, size_t len,
		     char ***fields, size_t *nfields);
void pcf_fields_free(char **fields, size_t nfields);

/* The byte the text format's escape after a backslash stands for, as
 * COPY's text attribute reader decodes it (octal, \x hex, \b \f \n \r
 * \t \v, or the byte itself); rec[*i] is the byte after the backslash,
 * body the field's end. Advances *i past the escape. */
char pcf_text_escape(const char *rec, size_t body, size_t *i);

/* A hex digit's value (either case), or -1. */
int pcf_hex_value(char c);

/*
 * The same for a record of COPY's text format: fields split at every
 * unescaped delim, backslash escapes decoded as COPY decodes them (\t,
 * \n, \r, \b, \f, \v, octal \NNN, hex \xHH, any other byte as itself).
 */
int pcf_split_text_record(char delim, const char *rec, size_t len,
			  char ***fields, size_t *nfields);

/* What a first record says about itself against the table's columns. */
enum pcf_header_verdict {
	PCF_HEADER_MATCH,     /* every field names a column, each once */
	PCF_HEADER_UNKNOWN,   /* a field names no column (*bad: the field) */
	PCF_HEADER_REPEATED,  /* every field names a column, one twice (*bad) */
	PCF_HEADER_AMBIGUOUS, /* every field names a column, but one (*bad)
			       * names two that differ only in case */
};

/*
 * Compares the fields of a first record with the table's column names the
 * way PostgreSQL resolves a name a person types: surrounding spaces and
 * tabs ignored, then the column spelled exactly so, else the one column
 * that matches but for ASCII case (two such: ambiguous). *bad points into
 * fields when the verdict is not a match (an unknown field wins over the
 * others: the record is then data). When match is not NULL and the verdict
 * is a match, match[i] is the index in cols of field i's column.
 */
enum pcf_header_verdict pcf_header_match(char *const *fields, size_t nfields,
					 char *const *cols, size_t ncols,
					 size_t *match, const char **bad);

/* The column that the name f[0..len) resolves to by those rules: its
 * index, -1 for none, -2 for two that differ only in case. */
long pcf_column_resolve(const char *f, size_t len, char *const *cols,
			size_t ncols);

/* pcf_header_match without the indexes. An empty record is UNKNOWN. */
enum pcf_header_verdict pcf_header_check(char *const *fields, size_t nfields,
					 char *const *cols, size_t ncols,
					 const char **bad);

/*
 * File names for schemas and tables. PostgreSQL names may hold any byte but
 * NUL; file names may not hold '/', and names starting with '.' are kept for
 * pgcopyfs itself. So '%' and '/' are written %25 and %2F, and a leading '.'
 * is written %2E. Everything else is kept as it is.
 *
 * pcf_name_escape writes the escaped name and its NUL into out and returns
 * its length, or -ENAMETOOLONG when out is too small.
 * pcf_name_unescape is its inverse over in[0..len); it returns the length
 * written, or -ENOENT for a name that pcf_name_escape could not have made.
 */
ssize_t pcf_name_escape(const char *name, char *out, size_t outlen);
ssize_t pcf_name_unescape(const char *in, size_t len, char *out, size_t outlen);

/*
 * Text from outside made safe for one line: control bytes, a backslash and
 * (but for PCF_ESC_LOG) '"' are written as escapes (backslash-n, -r, -t,
 * a doubled backslash, backslash-quote, backslash-xHH, or backslash-u00HH
 * in JSON), and so is every byte that is not part of valid
 * UTF-8 (JSON reads it as a Latin-1 letter, and stays valid JSON). Writes
 * at most outlen - 1 bytes and a NUL; returns the length the whole
 * escaped text needs.
 */
enum pcf_escape_mode {
	PCF_ESC_LOG,    /* a log line */
	PCF_ESC_LOGFMT, /* inside a logfmt "..." value */
	PCF_ESC_JSON,   /* inside a JSON string */
};
size_t pcf_escape(char *out, size_t outlen, const char *in, size_t inlen,
		  enum pcf_escape_mode mode);

/*
 * A CONTEXT from the server without the rows it echoes ('COPY t, line 2:
 * "..."' becomes 'COPY t, line 2'), wherever in the context they stand.
 * Writes at most outlen - 1 bytes and a NUL; returns the length written.
 */
size_t pcf_cut_row_echo(const char *ctx, char *out, size_t outlen);

#endif
