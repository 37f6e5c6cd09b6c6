/*
 * jsonl.h - the JSON lines stage of a load: one JSON object per line in,
 * one row of COPY's text format out.
 *
 *   line -> pcf_jsonl_parse (yajl) -> the row's values by column
 *        -> pcf_jsonl_emit -> "v1\tv2\t\N\n" into COPY ... (FORMAT text)
 *
 * Keys name columns as a header's fields do (pcf_column_resolve); a column
 * whose key is missing gets its default, so a COPY's column list is the
 * set of keys a row has: rows with the same set (in any order) share one
 * COPY, and a row with another set starts the next (the caller ends the
 * COPY, pcf_jsonl_adopt, starts one for pcf_jsonl_columns).
 *
 * Values: a string is its text, a number its literal text as written
 * (1.10 stays 1.10), true and false as such, null is NULL, an object or
 * array its JSON text (strings re-escaped, numbers as written). Pure: no
 * I/O, no libpq.
 */
#ifndef PCF_JSONL_H
#define PCF_JSONL_H

#include <stddef.h>

struct pcf_jsonl;

/* A stage for a table of ncols columns named cols (copied). A key that
 * names no column fails the line, or is left out with ignore_unknown.
 * NULL when out of memory. */
struct pcf_jsonl *pcf_jsonl_new(char *const *cols, size_t ncols,
				int ignore_unknown);
void pcf_jsonl_free(struct pcf_jsonl *j);

enum pcf_jsonl_verdict {
	PCF_JSONL_BLANK, /* only white space: no row */
	PCF_JSONL_ROW,   /* a row, held until pcf_jsonl_emit */
	PCF_JSONL_ERROR, /* not a JSON object, or not one for this table */
	PCF_JSONL_NOMEM,
};

/*
 * Parses one line (without its \n). ROW: *changed is 1 when the row's
 * keys are not the current set's columns. ERROR: err holds why, without
 * the line number ("not a JSON object", "key \"x\" names no column").
 */
enum pcf_jsonl_verdict pcf_jsonl_parse(struct pcf_jsonl *j, const char *line,
				       size_t len, int *changed, char *err,
				       size_t errlen);

/* The parsed row's columns become the current set (in the table's
 * order). An empty set ({}, or only keys left out) is a row of every
 * column's default, which no COPY can carry: the caller inserts it. */
void pcf_jsonl_adopt(struct pcf_jsonl *j);

/* The current set: *idx[0..n) are indexes into the table's columns. */
size_t pcf_jsonl_columns(const struct pcf_jsonl *j, const size_t **idx);

/* Appends the parsed row, in the current set's order, as one line of
 * COPY's text format to buf[0..*len) (grown, *cap its size). 0/-ENOMEM. */
int pcf_jsonl_emit(struct pcf_jsonl *j, char **buf, size_t *len, size_t *cap);

#endif
