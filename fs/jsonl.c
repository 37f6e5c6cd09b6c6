/*
 * jsonl.c - JSON lines to rows of COPY's text format (jsonl.h), with
 * yajl's event parser: chosen by measurement (doc/formats.md) as the one
 * Debian C parser that keeps a number's text as written, and the fastest
 * at this shape of data.
 *
 * Per line: a yajl handle on an arena reset each line (yajl 2 has no
 * reset, and malloc per line was a third of the time), callbacks that
 * write each top-level value, escaped for COPY's text format, into one
 * buffer of the line's values, and a slot per column pointing into it.
 * What yajl does not check is checked here: a UTF-16 surrogate escape
 * that is not half of a pair (yajl would write '?' or invalid UTF-8), and
 * \u0000 in a top-level string (PostgreSQL's text cannot hold it).
 */
#include "jsonl.h"

#include "pgcopyfs.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#define ARENA_SIZE (64u << 10)
#define MAX_KEYS 1024   /* keys remembered with their column */
#define MAX_DEPTH 130   /* yajl's own limit is 128 */

struct key_entry {
	char *key;
	size_t len;
	long col;           /* -1: an unknown key, ignored */
};

struct arena_block {       /* the header before each allocation */
	size_t size;
	size_t big;        /* 1: from malloc, not the arena */
};

struct pcf_jsonl {
	char **cols;
	size_t ncols;
	int ignore_unknown;

	/* The line's values: each column's text in vals, found by slot. */
	char *vals;
	size_t vals_len, vals_cap;
	size_t *off, *len;
	unsigned char *is_null;
	uint64_t *gen;      /* == line_gen: the column has a value this line */
	uint64_t line_gen;
	size_t nkeys_line;  /* columns given this line */

	/* The current set: the columns of the running COPY. */
	size_t *cur;
	size_t ncur;

	struct key_entry keys[MAX_KEYS];
	size_t nkeys, key_hint;

	/* Parse state, per line. */
	int depth;
	long col;           /* the column of the key at depth 1; -1 skip */
	int skipping;       /* an ignored key's value is being passed over */
	unsigned char comma[MAX_DEPTH]; /* nested text: a value came before */
	int failed;
	char *err;
	size_t errlen;

	char *arena;
	size_t arena_off;
};

/* --- yajl's memory: an arena, reset after every line ---------------- */

static void *ar_malloc(void *ctx, size_t sz)
{
	struct pcf_jsonl *j = ctx;
	size_t need = sizeof(struct arena_block) + ((sz + 15) & ~(size_t)15);
	struct arena_block *b;

	if (j->arena_off + need <= ARENA_SIZE) {
		b = (struct arena_block *)(void *)(j->arena + j->arena_off);
		j->arena_off += need;
		b->big = 0;
	} else {
		if (!(b = malloc(sizeof(*b) + sz)))
			return NULL;
		b->big = 1;
	}
	b->size = sz;
	return b + 1;
}

static void ar_free(void *ctx, void *p)
{
	struct arena_block *b;

	(void)ctx;
	if (!p)
		return;
	b = (struct arena_block *)p - 1;
	if (b->big)
		free(b);
}

static void *ar_realloc(void *ctx, void *p, size_t sz)
{
	struct arena_block *b;
	void *n;

	if (!p)
		return ar_malloc(ctx, sz);
	b = (struct arena_block *)p - 1;
	if (sz <= b->size)
		return p;
	if (!(n = ar_malloc(ctx, sz)))
		return NULL;
	memcpy(n, p, b->size);
	ar_free(ctx, p);
	return n;
}

/* --- the stage ------------------------------------------------------- */

struct pcf_jsonl *pcf_jsonl_new(char *const *cols, size_t ncols,
				int ignore_unknown)
{
	struct pcf_jsonl *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	j->ncols = ncols;
	j->ignore_unknown = ignore_unknown;
	j->cols = calloc(ncols + 1, sizeof(char *));
	j->off = calloc(ncols + 1, sizeof(size_t));
	j->len = calloc(ncols + 1, sizeof(size_t));
	j->is_null = calloc(ncols + 1, 1);
	j->gen = calloc(ncols + 1, sizeof(uint64_t));
	j->cur = calloc(ncols + 1, sizeof(size_t));
	j->arena = malloc(ARENA_SIZE);
	if (!j->cols || !j->off || !j->len || !j->is_null || !j->gen ||
	    !j->cur || !j->arena) {
		pcf_jsonl_free(j);
		return NULL;
	}
	for (size_t i = 0; i < ncols; i++)
		if (!(j->cols[i] = strdup(cols[i]))) {
			pcf_jsonl_free(j);
			return NULL;
		}
	return j;
}

void pcf_jsonl_free(struct pcf_jsonl *j)
{
	if (!j)
		return;
	for (size_t i = 0; j->cols && i < j->ncols; i++)
		free(j->cols[i]);
	for (size_t i = 0; i < j->nkeys; i++)
		free(j->keys[i].key);
	free(j->cols);
	free(j->off);
	free(j->len);
	free(j->is_null);
	free(j->gen);
	free(j->cur);
	free(j->vals);
	free(j->arena);
	free(j);
}

static int failf(struct pcf_jsonl *j, const char *fmt, const char *a,
		 size_t alen)
{
	char shown[120];

	pcf_escape(shown, sizeof(shown), a ? a : "", a ? alen : 0, PCF_ESC_LOG);
	snprintf(j->err, j->errlen, fmt, shown);
	j->failed = 1;
	return 0; /* yajl: stop */
}

static int vals_reserve(struct pcf_jsonl *j, size_t more)
{
	if (j->vals_len + more <= j->vals_cap)
		return 0;
	size_t c = j->vals_cap ? j->vals_cap : 4096;
	char *n;

	while (c < j->vals_len + more)
		c *= 2;
	if (!(n = realloc(j->vals, c)))
		return -ENOMEM;
	j->vals = n;
	j->vals_cap = c;
	return 0;
}

/* Appends s as COPY text: backslash, tab, \n and \r escaped. Nothing else
 * needs it (the delimiter is the tab). */
static int put_text(struct pcf_jsonl *j, const char *s, size_t n)
{
	char *o;

	if (n == 0)
		return 0;
	if (vals_reserve(j, 2 * n))
		return -ENOMEM;
	o = j->vals + j->vals_len;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		switch (c) {
		case '\\': *o++ = '\\'; *o++ = '\\'; break;
		case '\t': *o++ = '\\'; *o++ = 't'; break;
		case '\n': *o++ = '\\'; *o++ = 'n'; break;
		case '\r': *o++ = '\\'; *o++ = 'r'; break;
		default: *o++ = c;
		}
	}
	j->vals_len = (size_t)(o - j->vals);
	return 0;
}

/* A string inside a nested value: its JSON text again, then as COPY
 * text (put_text doubles the backslashes of the JSON escapes). */
static int put_json_string(struct pcf_jsonl *j, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	char tmp[256];
	size_t t = 0;

	if (put_text(j, "\"", 1))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (t + 7 > sizeof(tmp)) { /* an escape, and the quote */
			if (put_text(j, tmp, t))
				return -ENOMEM;
			t = 0;
		}
		if (c == '"' || c == '\\') {
			tmp[t++] = '\\';
			tmp[t++] = (char)c;
		} else if (c < 0x20) {
			tmp[t++] = '\\';
			switch (c) {
			case '\n': tmp[t++] = 'n'; break;
			case '\r': tmp[t++] = 'r'; break;
			case '\t': tmp[t++] = 't'; break;
			case '\b': tmp[t++] = 'b'; break;
			case '\f': tmp[t++] = 'f'; break;
			default:
				tmp[t++] = 'u';
				tmp[t++] = '0';
				tmp[t++] = '0';
				tmp[t++] = hex[c >> 4];
				tmp[t++] = hex[c & 15];
			}
		} else {
			tmp[t++] = (char)c;
		}
	}
	tmp[t++] = '"';
	return put_text(j, tmp, t);
}

/* Before a value inside a nested object or array: its comma. */
static int nested_sep(struct pcf_jsonl *j)
{
	if (j->comma[j->depth] && put_text(j, ",", 1))
		return -ENOMEM;
	j->comma[j->depth] = 1;
	return 0;
}

/* A top-level value begins for the current key's column. */
static void value_begin(struct pcf_jsonl *j)
{
	j->off[j->col] = j->vals_len;
	j->is_null[j->col] = 0;
}

static void value_end(struct pcf_jsonl *j)
{
	j->len[j->col] = j->vals_len - j->off[j->col];
}

/* Where a scalar goes: 1 = a top-level column value, 2 = nested text,
 * 0 = nowhere (an ignored key's), -1 = not allowed (a bare scalar). */
static int scalar_at(struct pcf_jsonl *j)
{
	if (j->depth == 0)
		return -1;
	if (j->skipping)
		return 0;
	return j->depth == 1 ? 1 : 2;
}

static int scalar(struct pcf_jsonl *j, const char *s, size_t n, int is_string)
{
	int at = scalar_at(j);

	if (at < 0)
		return failf(j, "not a JSON object%s", NULL, 0);
	if (at == 0) {
		if (j->depth == 1)
			j->skipping = 0; /* the ignored key's scalar: done */
		return 1;
	}
	if (at == 1) {
		if (is_string && memchr(s, '\0', n))
			return failf(j, "key \"%s\": a \\u0000 in a string "
					"(PostgreSQL's text cannot hold it)",
				     j->cols[j->col], strlen(j->cols[j->col]));
		value_begin(j);
		if (put_text(j, s, n))
			return failf(j, "out of memory%s", NULL, 0);
		value_end(j);
		return 1;
	}
	if (nested_sep(j) ||
	    (is_string ? put_json_string(j, s, n) : put_text(j, s, n)))
		return failf(j, "out of memory%s", NULL, 0);
	return 1;
}

static int cb_null(void *ctx)
{
	struct pcf_jsonl *j = ctx;
	int at = scalar_at(j);

	if (at == 1) {
		value_begin(j);
		j->is_null[j->col] = 1;
		j->len[j->col] = 0;
		return 1;
	}
	return scalar(j, "null", 4, 0);
}

static int cb_boolean(void *ctx, int b)
{
	return scalar(ctx, b ? "true" : "false", b ? 4 : 5, 0);
}

static int cb_number(void *ctx, const char *s, size_t n)
{
	return scalar(ctx, s, n, 0);
}

static int cb_string(void *ctx, const unsigned char *s, size_t n)
{
	return scalar(ctx, (const char *)s, n, 1);
}

/* The column a top-level key names: remembered, as keys repeat on every
 * line (the one after the last match is tried first). */
static long key_column(struct pcf_jsonl *j, const char *k, size_t n)
{
	long col;

	for (size_t t = 0; t < j->nkeys; t++) {
		size_t i = (j->key_hint + t) % j->nkeys;

		if (j->keys[i].len == n && memcmp(j->keys[i].key, k, n) == 0) {
			j->key_hint = i + 1;
			return j->keys[i].col;
		}
	}
	col = pcf_column_resolve(k, n, j->cols, j->ncols);
	if (col == -1 && !j->ignore_unknown)
		return -1;
	if (col == -2)
		return -2;
	if (j->nkeys < MAX_KEYS && !memchr(k, '\0', n)) {
		char *copy = malloc(n + 1);

		if (copy) {
			memcpy(copy, k, n);
			copy[n] = '\0';
			j->keys[j->nkeys++] = (struct key_entry){ copy, n, col };
		}
	}
	return col;
}

static int cb_map_key(void *ctx, const unsigned char *key, size_t n)
{
	struct pcf_jsonl *j = ctx;
	const char *k = (const char *)key;
	long col;

	if (j->depth > 1) {
		if (j->skipping)
			return 1;
		if (nested_sep(j) || put_json_string(j, k, n) ||
		    put_text(j, ":", 1))
			return failf(j, "out of memory%s", NULL, 0);
		j->comma[j->depth] = 0; /* the value follows the colon */
		return 1;
	}
	col = key_column(j, k, n);
	if (col == -2)
		return failf(j, "key \"%s\" names more than one column (they "
				"differ only in case): spell it as the column is",
			     k, n);
	if (col == -1 && !j->ignore_unknown)
		return failf(j, "key \"%s\" names no column", k, n);
	if (col == -1) {
		j->skipping = 1;
		return 1;
	}
	if (j->gen[col] == j->line_gen)
		return failf(j, "column \"%s\" is given twice", j->cols[col],
			     strlen(j->cols[col]));
	j->gen[col] = j->line_gen;
	j->nkeys_line++;
	j->col = col;
	j->skipping = 0;
	return 1;
}

static int open_nested(struct pcf_jsonl *j, const char *c)
{
	if (j->skipping) {
		j->depth++;
		return 1;
	}
	if (j->depth == 1)
		value_begin(j);
	else if (nested_sep(j))
		return failf(j, "out of memory%s", NULL, 0);
	if (j->depth + 1 >= MAX_DEPTH)
		return failf(j, "nested too deep%s", NULL, 0);
	j->depth++;
	j->comma[j->depth] = 0;
	if (put_text(j, c, 1))
		return failf(j, "out of memory%s", NULL, 0);
	return 1;
}

static int close_nested(struct pcf_jsonl *j, const char *c)
{
	j->depth--;
	if (j->skipping) {
		if (j->depth == 1)
			j->skipping = 0;
		return 1;
	}
	if (put_text(j, c, 1))
		return failf(j, "out of memory%s", NULL, 0);
	if (j->depth == 1)
		value_end(j);
	return 1;
}

static int cb_start_map(void *ctx)
{
	struct pcf_jsonl *j = ctx;

	if (j->depth == 0) {
		j->depth = 1;
		return 1;
	}
	return open_nested(j, "{");
}

static int cb_end_map(void *ctx)
{
	struct pcf_jsonl *j = ctx;

	if (j->depth == 1) {
		j->depth = 0;
		return 1;
	}
	return close_nested(j, "}");
}

static int cb_start_array(void *ctx)
{
	struct pcf_jsonl *j = ctx;

	if (j->depth == 0)
		return failf(j, "not a JSON object (an array)%s", NULL, 0);
	return open_nested(j, "[");
}

static int cb_end_array(void *ctx)
{
	return close_nested(ctx, "]");
}

static const yajl_callbacks callbacks = {
	.yajl_null = cb_null,
	.yajl_boolean = cb_boolean,
	.yajl_number = cb_number,
	.yajl_string = cb_string,
	.yajl_start_map = cb_start_map,
	.yajl_map_key = cb_map_key,
	.yajl_end_map = cb_end_map,
	.yajl_start_array = cb_start_array,
	.yajl_end_array = cb_end_array,
};

static int hex4(const char *p, unsigned *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
			     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
			     : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
						    : 16u;
		if (d > 15)
			return 0;
		*v = *v * 16 + d;
	}
	return 1;
}

/* A \uD800-\uDFFF escape that is not half of a pair, or NULL. Escapes are
 * read in order (so \\u is a backslash and a u); bad JSON is yajl's. */
static const char *lone_surrogate(const char *p, size_t n)
{
	const char *end = p + n, *b;

	while ((b = memchr(p, '\\', (size_t)(end - p))) != NULL) {
		unsigned v, w;

		if (end - b < 2)
			return NULL;
		if (b[1] != 'u') {
			p = b + 2;
			continue;
		}
		if (end - b < 6 || !hex4(b + 2, &v))
			return NULL;
		p = b + 6;
		if (v < 0xd800 || v > 0xdfff)
			continue;
		if (v >= 0xdc00)
			return b; /* a low half first */
		if (end - p < 6 || p[0] != '\\' || p[1] != 'u' ||
		    !hex4(p + 2, &w) || w < 0xdc00 || w > 0xdfff)
			return b;
		p += 6;
	}
	return NULL;
}

static int blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return 0;
	return 1;
}

enum pcf_jsonl_verdict pcf_jsonl_parse(struct pcf_jsonl *j, const char *line,
				       size_t len, int *changed, char *err,
				       size_t errlen)
{
	const char *bad;
	yajl_alloc_funcs af = { ar_malloc, ar_realloc, ar_free, j };
	yajl_handle h;
	yajl_status st;

	*changed = 0;
	if (blank(line, len))
		return PCF_JSONL_BLANK;
	if (memchr(line, '\\', len) && (bad = lone_surrogate(line, len))) {
		char shown[7];

		memcpy(shown, bad, 6);
		shown[6] = '\0';
		snprintf(err, errlen, "%s is half of a UTF-16 surrogate pair "
				      "without its other half (not Unicode)",
			 shown);
		return PCF_JSONL_ERROR;
	}
	j->line_gen++;
	j->nkeys_line = 0;
	j->vals_len = 0;
	j->depth = 0;
	j->skipping = 0;
	j->failed = 0;
	j->err = err;
	j->errlen = errlen;
	j->arena_off = 0;
	if (!(h = yajl_alloc(&callbacks, &af, j)))
		return PCF_JSONL_NOMEM;
	st = yajl_parse(h, (const unsigned char *)line, len);
	if (st == yajl_status_ok)
		st = yajl_complete_parse(h);
	if (st != yajl_status_ok && !j->failed) {
		unsigned char *m = yajl_get_error(h, 0, (const unsigned char *)line,
						  len);
		char *nl;

		snprintf(err, errlen, "not JSON: %s", m ? (char *)m : "parse error");
		if ((nl = strchr(err, '\n')) != NULL)
			*nl = '\0';
		yajl_free_error(h, m);
	}
	yajl_free(h);
	if (st != yajl_status_ok)
		return PCF_JSONL_ERROR;
	if (j->nkeys_line != j->ncur) {
		*changed = 1;
	} else {
		for (size_t i = 0; i < j->ncur; i++)
			if (j->gen[j->cur[i]] != j->line_gen) {
				*changed = 1;
				break;
			}
	}
	return PCF_JSONL_ROW;
}

void pcf_jsonl_adopt(struct pcf_jsonl *j)
{
	j->ncur = 0;
	for (size_t c = 0; c < j->ncols; c++)
		if (j->gen[c] == j->line_gen)
			j->cur[j->ncur++] = c;
}

size_t pcf_jsonl_columns(const struct pcf_jsonl *j, const size_t **idx)
{
	*idx = j->cur;
	return j->ncur;
}

int pcf_jsonl_emit(struct pcf_jsonl *j, char **buf, size_t *len, size_t *cap)
{
	size_t need = j->vals_len + 3 * j->ncur + 1;

	if (*len + need > *cap) {
		size_t c = *cap ? *cap : 65536;
		char *n;

		while (c < *len + need)
			c *= 2;
		if (!(n = realloc(*buf, c)))
			return -ENOMEM;
		*buf = n;
		*cap = c;
	}
	char *o = *buf + *len;

	for (size_t i = 0; i < j->ncur; i++) {
		size_t c = j->cur[i];

		if (i)
			*o++ = '\t';
		if (j->is_null[c]) {
			*o++ = '\\';
			*o++ = 'N';
		} else if (j->len[c]) {
			memcpy(o, j->vals + j->off[c], j->len[c]);
			o += j->len[c];
		}
	}
	*o++ = '\n';
	*len = (size_t)(o - *buf);
	return 0;
}
