/*
 * binrow.h - one whole CSV record to one tuple of COPY's binary format, or
 * "not certain" (doc/binary.md).
 *
 * The record is split the way COPY ... (FORMAT csv) splits it (a quote
 * opens quoting anywhere in a field, the escape counts only inside quotes,
 * an unquoted field equal to the null string is NULL), or the text format
 * (backslash escapes decoded as CopyReadAttributesText does, a raw field
 * equal to the null string is NULL); each field goes
 * through binconv.c for its column's type. A record is converted only when
 * every field is certain, the field count is the column count, and the
 * record ends with the line end the COPY decided on (the file's first
 * line's): anything else is the server's to judge, as CSV.
 *
 * Pure: no libpq; it owns only its scratch buffer.
 */
#ifndef PCF_BINROW_H
#define PCF_BINROW_H

#include "binconv.h"
#include "pgcopyfs.h"

#include <stddef.h>
#include <stdint.h>

/* A target column, as COPY's column list names it. */
struct pcf_binrow_col {
	enum pcf_bin_type type;
	int max_chars;   /* varchar(n)/bpchar(n): n; -1 for no limit */
	int max_bytes;   /* name: NAMEDATALEN - 1 (namerecv refuses more where
			  * namein cuts); -1 for no limit */
	int num_int;     /* numeric(p,s): the integer digits p - s allows; -1
			  * for no typmod */
	int utc;         /* timestamptz, and the session's TimeZone is UTC: a
			  * value without an offset is UTC too */
};

enum pcf_eol { PCF_EOL_NL, PCF_EOL_CRLF };

struct pcf_binrow;

enum pcf_binrow_format {
	PCF_BINROW_CSV,  /* COPY's CSV: quotes, the dialect's escape */
	PCF_BINROW_TEXT, /* COPY's text format: backslash escapes, d.delimiter
			  * only (tab for .tsv and JSON lines' rows) */
};

/* A converter for records of format f and dialect d, NULL spelt
 * null_string (NULL: the format's default, "" or \N), into the columns
 * cols[0..ncols) (copied), ending with eol. NULL without memory. */
struct pcf_binrow *pcf_binrow_new(enum pcf_binrow_format f,
				  struct pcf_dialect d, const char *null_string,
				  const struct pcf_binrow_col *cols,
				  size_t ncols, enum pcf_eol eol);
void pcf_binrow_free(struct pcf_binrow *b);

/* A growable byte buffer the tuples are appended to. */
struct pcf_bytes {
	unsigned char *p;
	size_t len, cap;
};

/* Makes room for n more bytes. 0 or -ENOMEM. */
int pcf_bytes_reserve(struct pcf_bytes *b, size_t n);
void pcf_bytes_free(struct pcf_bytes *b);

/*
 * Appends rec[0..len) (a whole record, its terminator included unless
 * last: the stream's final record, which may have none) to out as one
 * binary tuple: 1. 0 when not certain (out unchanged), -ENOMEM.
 */
int pcf_binrow_tuple(struct pcf_binrow *b, const char *rec, size_t len,
		     int last, struct pcf_bytes *out);

/* COPY's binary format around the tuples. */
#define PCF_BINARY_HEADER_LEN 19
extern const unsigned char pcf_binary_header[PCF_BINARY_HEADER_LEN];
extern const unsigned char pcf_binary_trailer[2];

#endif
