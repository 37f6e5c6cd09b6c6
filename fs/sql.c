/*
 * sql.c - building the COPY statements (sql.h).
 */
#include "sql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pcf_sql_init(struct pcf_sql *q, PGconn *conn)
{
	q->conn = conn;
	q->s = strdup("");
	q->bad = !q->s;
}

/* Appends s to q, taking ownership of nothing. */
static void append(struct pcf_sql *q, const char *s)
{
	char *joined;

	if (q->bad)
		return;
	if (!s || asprintf(&joined, "%s%s", q->s, s) < 0) {
		q->bad = 1;
		return;
	}
	free(q->s);
	q->s = joined;
}

void pcf_sql_plain(struct pcf_sql *q, const char *s)
{
	append(q, s);
}

void pcf_sql_ident(struct pcf_sql *q, const char *name)
{
	char *e = q->bad ? NULL : PQescapeIdentifier(q->conn, name, strlen(name));

	if (!e)
		q->bad = 1;
	append(q, e);
	PQfreemem(e);
}

void pcf_sql_literal(struct pcf_sql *q, const char *value)
{
	char *e = q->bad ? NULL : PQescapeLiteral(q->conn, value, strlen(value));

	if (!e)
		q->bad = 1;
	append(q, e);
	PQfreemem(e);
}

void pcf_sql_relation(struct pcf_sql *q, const char *schema,
		      const char *table)
{
	pcf_sql_ident(q, schema);
	pcf_sql_plain(q, ".");
	pcf_sql_ident(q, table);
}

char *pcf_sql_take(struct pcf_sql *q)
{
	char *s = q->s;

	if (q->bad) {
		free(s);
		s = NULL;
	}
	q->s = NULL;
	q->bad = 1;
	return s;
}

/* ", NAME 'c'" when c is set and differs from dflt. */
static void char_option(struct pcf_sql *q, const char *name, char c,
			char dflt)
{
	char v[2] = { c, '\0' };

	if (!c || c == dflt)
		return;
	pcf_sql_plain(q, name);
	pcf_sql_literal(q, v);
}

char *pcf_copy_sql(PGconn *conn, const struct pcf_copy_spec *sp)
{
	struct pcf_sql q;
	int csv = sp->format == PCF_COPY_CSV;

	pcf_sql_init(&q, conn);
	pcf_sql_plain(&q, "COPY ");
	pcf_sql_relation(&q, sp->schema, sp->table);
	for (size_t i = 0; sp->cols && i < sp->ncols; i++) {
		pcf_sql_plain(&q, i ? ", " : " (");
		pcf_sql_ident(&q, sp->cols[i]);
	}
	if (sp->cols && sp->ncols)
		pcf_sql_plain(&q, ")");
	pcf_sql_plain(&q, sp->to_stdout ? " TO STDOUT" : " FROM STDIN");
	if (sp->format == PCF_COPY_BINARY) {
		pcf_sql_plain(&q, " WITH (FORMAT binary");
		if (sp->freeze)
			pcf_sql_plain(&q, ", FREEZE true");
		pcf_sql_plain(&q, ")");
		return pcf_sql_take(&q);
	}
	pcf_sql_plain(&q, csv ? " WITH (FORMAT csv" : " WITH (FORMAT text");
	if (sp->header)
		pcf_sql_plain(&q, ", HEADER true");
	if (csv) {
		char quote = sp->quote ? sp->quote : '"';

		char_option(&q, ", DELIMITER ", sp->delimiter, ',');
		char_option(&q, ", QUOTE ", sp->quote, '"');
		char_option(&q, ", ESCAPE ", sp->escape, quote);
	}
	if (sp->null_string) {
		pcf_sql_plain(&q, ", NULL ");
		pcf_sql_literal(&q, sp->null_string);
	}
	if (sp->encoding) {
		pcf_sql_plain(&q, ", ENCODING ");
		pcf_sql_literal(&q, sp->encoding);
	}
	if (sp->freeze)
		pcf_sql_plain(&q, ", FREEZE true");
	pcf_sql_plain(&q, ")");
	return pcf_sql_take(&q);
}
