/*
 * fields.c - splits one CSV (or text format) record into its fields, the
 * way COPY's attribute readers do, and resolves names to columns. Used on the first record of a file, to tell a
 * header from data; it never sees the bulk of the stream.
 */
#include "pgcopyfs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void pcf_fields_free(char **fields, size_t nfields)
{
	if (!fields)
		return;
	for (size_t i = 0; i < nfields; i++)
		free(fields[i]);
	free(fields);
}

/* Appends a copy of val[0..vlen) to the fields (*out, *n of *cap),
 * growing them. 0 or -ENOMEM. */
static int push_field(char ***out, size_t *n, size_t *cap, const char *val,
		      size_t vlen)
{
	char *f;

	if (*n == *cap) {
		char **grown = realloc(*out, 2 * *cap * sizeof(**out));

		if (!grown)
			return -ENOMEM;
		*out = grown;
		*cap *= 2;
	}
	if (!(f = malloc(vlen + 1)))
		return -ENOMEM;
	memcpy(f, val, vlen);
	f[vlen] = '\0';
	(*out)[(*n)++] = f;
	return 0;
}

/* Drops the record's terminator (\n, \r\n or \r) when it is not quoted. */
static size_t record_body_len(const char *rec, size_t len)
{
	if (len > 0 && rec[len - 1] == '\n')
		len--;
	if (len > 0 && rec[len - 1] == '\r')
		len--;
	return len;
}

int pcf_split_record(struct pcf_dialect d, const char *rec, size_t len,
		     char ***fields, size_t *nfields)
{
	size_t cap = 8, n = 0, body = record_body_len(rec, len);
	char **out = calloc(cap, sizeof(*out));
	char *val = malloc(body + 1);
	size_t i = 0;

	if (!out || !val)
		goto nomem;
	for (;;) {
		size_t vlen = 0;
		int quoted = 0;

		while (i < body) {
			char c = rec[i++];

			if (!quoted && c == d.delimiter)
				goto field_done;
			if (!quoted && c == d.quote) {
				quoted = 1;
				continue;
			}
			if (quoted && c == d.escape && i < body &&
			    (rec[i] == d.quote || rec[i] == d.escape)) {
				val[vlen++] = rec[i++];
				continue;
			}
			if (quoted && c == d.quote) {
				quoted = 0;
				continue;
			}
			if (c == '\0') {
				pcf_fields_free(out, n);
				free(val);
				return -EINVAL;
			}
			val[vlen++] = c;
		}
		i = body + 1; /* no more delimiters: this is the last field */
field_done:
		if (push_field(&out, &n, &cap, val, vlen))
			goto nomem;
		if (i > body)
			break;
	}
	free(val);
	*fields = out;
	*nfields = n;
	return 0;
nomem:
	pcf_fields_free(out, n);
	free(val);
	return -ENOMEM;
}

static int is_octal(char c)
{
	return c >= '0' && c <= '7';
}

int pcf_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes the escape after a backslash at rec[*i] (the byte after it) into
 * *out, as COPY's text attribute reader does; advances *i past it. */
char pcf_text_escape(const char *rec, size_t body, size_t *i)
{
	char c = rec[(*i)++];
	int v;

	if (is_octal(c)) {
		v = c - '0';
		for (int k = 0; k < 2 && *i < body && is_octal(rec[*i]); k++)
			v = v * 8 + (rec[(*i)++] - '0');
		return (char)(v & 0xff);
	}
	if (c == 'x' && *i < body && pcf_hex_value(rec[*i]) >= 0) {
		v = pcf_hex_value(rec[(*i)++]);
		if (*i < body && pcf_hex_value(rec[*i]) >= 0)
			v = v * 16 + pcf_hex_value(rec[(*i)++]);
		return (char)v;
	}
	switch (c) {
	case 'b': return '\b';
	case 'f': return '\f';
	case 'n': return '\n';
	case 'r': return '\r';
	case 't': return '\t';
	case 'v': return '\v';
	default: return c;
	}
}

/* Whether rec[i] follows an odd run of backslashes (is escaped). */
static int escaped(const char *rec, size_t i)
{
	size_t n = 0;

	while (i > n && rec[i - n - 1] == '\\')
		n++;
	return n % 2;
}

int pcf_split_text_record(char delim, const char *rec, size_t len,
			  char ***fields, size_t *nfields)
{
	size_t cap = 8, n = 0, body = len, i = 0;
	char **out, *val;

	/* The terminator, unless a backslash escapes it. */
	if (body > 0 && rec[body - 1] == '\n' && !escaped(rec, body - 1))
		body--;
	if (body > 0 && rec[body - 1] == '\r' && !escaped(rec, body - 1))
		body--;
	out = calloc(cap, sizeof(*out));
	val = malloc(body + 1);
	if (!out || !val)
		goto nomem;
	for (;;) {
		size_t vlen = 0;
		int last = 1;

		while (i < body) {
			char c = rec[i++];

			if (c == delim) {
				last = 0;
				break;
			}
			if (c == '\\' && i == body)
				break; /* a backslash ending the line: dropped */
			if (c == '\\')
				c = pcf_text_escape(rec, body, &i);
			if (c == '\0') {
				pcf_fields_free(out, n);
				free(val);
				return -EINVAL;
			}
			val[vlen++] = c;
		}
		if (push_field(&out, &n, &cap, val, vlen))
			goto nomem;
		if (last)
			break;
	}
	free(val);
	*fields = out;
	*nfields = n;
	return 0;
nomem:
	pcf_fields_free(out, n);
	free(val);
	return -ENOMEM;
}

long pcf_column_resolve(const char *f, size_t len, char *const *cols,
			size_t ncols)
{
	long ci = -1;

	while (len > 0 && (*f == ' ' || *f == '\t'))
		f++, len--;
	while (len > 0 && (f[len - 1] == ' ' || f[len - 1] == '\t'))
		len--;
	if (len == 0)
		return -1;
	for (size_t j = 0; j < ncols; j++)
		if (strlen(cols[j]) == len && memcmp(cols[j], f, len) == 0)
			return (long)j;
	for (size_t j = 0; j < ncols; j++) {
		if (strlen(cols[j]) != len || strncasecmp(cols[j], f, len) != 0)
			continue;
		if (ci >= 0)
			return -2;
		ci = (long)j;
	}
	return ci;
}

enum pcf_header_verdict pcf_header_match(char *const *fields, size_t nfields,
					 char *const *cols, size_t ncols,
					 size_t *match, const char **bad)
{
	enum pcf_header_verdict v = PCF_HEADER_MATCH;
	const char *ambiguous = NULL;
	long *at;

	*bad = nfields ? fields[0] : "";
	if (nfields == 0)
		return PCF_HEADER_UNKNOWN;
	at = calloc(nfields, sizeof(*at));
	if (!at)
		return PCF_HEADER_UNKNOWN; /* taken as data: the server says */
	for (size_t i = 0; i < nfields; i++) {
		at[i] = pcf_column_resolve(fields[i], strlen(fields[i]), cols,
					   ncols);
		if (at[i] == -1) {
			*bad = fields[i];
			free(at);
			return PCF_HEADER_UNKNOWN;
		}
		if (at[i] == -2 && !ambiguous)
			ambiguous = fields[i];
	}
	if (ambiguous) {
		*bad = ambiguous;
		v = PCF_HEADER_AMBIGUOUS;
	} else {
		/* Headers are short (at most 1600 columns): quadratic is fine. */
		for (size_t i = 0; i < nfields && v == PCF_HEADER_MATCH; i++)
			for (size_t k = 0; k < i; k++)
				if (at[i] == at[k]) {
					*bad = fields[i];
					v = PCF_HEADER_REPEATED;
					break;
				}
	}
	if (v == PCF_HEADER_MATCH) {
		*bad = NULL;
		for (size_t i = 0; match && i < nfields; i++)
			match[i] = (size_t)at[i];
	}
	free(at);
	return v;
}

enum pcf_header_verdict pcf_header_check(char *const *fields, size_t nfields,
					 char *const *cols, size_t ncols,
					 const char **bad)
{
	return pcf_header_match(fields, nfields, cols, ncols, NULL, bad);
}
