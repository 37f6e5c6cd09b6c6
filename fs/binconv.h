/*
 * binconv.h - a CSV field's text to the bytes of COPY's binary format, or
 * "not certain" (doc/binary.md).
 *
 * Each converter answers only when it is certain that the server's text
 * input function would store exactly the value whose send function gives
 * those bytes, on every PostgreSQL version and under every setting; for
 * anything else it says -1, and the row goes to the server as CSV, so the
 * server's own rules and messages apply. The spellings taken are a subset
 * of the server's (no surrounding spaces, no PostgreSQL 16 digit
 * separators), checked against the server's send functions by
 * tests/it/binconv.sh. Pure: no libpq, no locale (C's "." always).
 *
 * The value is a field after CSV unquoting; NULL is the caller's business.
 */
#ifndef PCF_BINCONV_H
#define PCF_BINCONV_H

#include <stddef.h>
#include <sys/types.h>

enum pcf_bin_type {
	PCF_BIN_NONE,   /* not converted: rows with it go as CSV */
	PCF_BIN_INT2,
	PCF_BIN_INT4,
	PCF_BIN_INT8,
	PCF_BIN_FLOAT4,
	PCF_BIN_FLOAT8,
	PCF_BIN_BOOL,
	PCF_BIN_UUID,
	PCF_BIN_TEXT,   /* text, varchar, bpchar, name: UTF-8 bytes */
	PCF_BIN_DATE,   /* ISO 8601 YYYY-MM-DD, years 1 to 9999 */
	PCF_BIN_TIMESTAMP,   /* ISO date and time, no offset */
	PCF_BIN_TIMESTAMPTZ, /* ISO date and time with an explicit offset */
	PCF_BIN_BYTEA,  /* the hex form: \x and pairs of hex digits */
	PCF_BIN_NUMERIC, /* plain decimals, and NaN */
	PCF_BIN_JSON,   /* json: the UTF-8 text; json_recv parses it as
			 * json_in does */
	PCF_BIN_JSONB,  /* jsonb: version 1, then the text (jsonb_recv's
			 * parser is jsonb_in's) */
};

/* The converter for a type by its pg_type.typname ("int4", "varchar"),
 * PCF_BIN_NONE for the others. */
enum pcf_bin_type pcf_bin_type_of(const char *typname);

/* The most bytes a fixed-size converter writes. */
#define PCF_BIN_FIXED_MAX 16

/*
 * Converts v[0..len) for type t into out (cap bytes; a TEXT value needs
 * len): the number of bytes written, or -1 when not certain (or cap is too
 * small). The bytes are the field's data, without its length word.
 */
ssize_t pcf_bin_convert(enum pcf_bin_type t, const char *v, size_t len,
			unsigned char *out, size_t cap);

#endif
