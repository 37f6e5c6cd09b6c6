/*
 * sql.h - the COPY statements pgcopyfs sends, built in one place.
 *
 * Every schema, table and column name is quoted by libpq
 * (PQescapeIdentifier), every option value too (PQescapeLiteral): nothing
 * from a file name, a header or an option reaches the server unquoted.
 * Loads (load.c) and reads (export.c) both build theirs here.
 */
#ifndef PCF_SQL_H
#define PCF_SQL_H

#include <libpq-fe.h>
#include <stddef.h>

/* A statement being built: a malloc'd string, or failed (no memory). */
struct pcf_sql {
	PGconn *conn; /* for libpq's quoting (the server's encoding) */
	char *s;
	int bad;
};

void pcf_sql_init(struct pcf_sql *q, PGconn *conn);
void pcf_sql_plain(struct pcf_sql *q, const char *s);
void pcf_sql_ident(struct pcf_sql *q, const char *name);
void pcf_sql_literal(struct pcf_sql *q, const char *value);
/* "schema"."table" */
void pcf_sql_relation(struct pcf_sql *q, const char *schema,
		      const char *table);
/* The statement (the caller frees it), or NULL if building failed. */
char *pcf_sql_take(struct pcf_sql *q);

enum pcf_copy_format {
	PCF_COPY_CSV,
	PCF_COPY_TEXT,
	PCF_COPY_BINARY, /* no header, dialect, NULL string or encoding */
};

/* What one COPY says. A zero char option, or one equal to COPY's default
 * for the format, is left out. */
struct pcf_copy_spec {
	const char *schema, *table;
	const char *const *cols; /* NULL: every column, in table order */
	size_t ncols;
	int to_stdout;           /* TO STDOUT; else FROM STDIN */
	enum pcf_copy_format format;
	int header;
	char delimiter, quote, escape; /* CSV only */
	const char *null_string;       /* NULL: COPY's default */
	const char *encoding;          /* NULL: the connection's */
	int freeze;
};

/* COPY "s"."t" [(cols)] FROM STDIN | TO STDOUT WITH (FORMAT ..., ...). */
char *pcf_copy_sql(PGconn *conn, const struct pcf_copy_spec *spec);

#endif
