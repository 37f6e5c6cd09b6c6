/*
 * test_jsonl.c - the JSON lines stage (fs/jsonl.c): one object per line in,
 * one row of COPY's text format out, on hand-written lines.
 *
 * Rows of top-level values are compared byte for byte (COPY's escapes,
 * \N, the tabs and the \n included). A nested value's white space is free,
 * so it is compared as a JSON tree (yajl_tree; numbers by their text as
 * written) once the row's COPY escapes are undone. The last cases run many
 * lines through one stage, some long enough to leave yajl's arena, and
 * append every row to one buffer, as a load does.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <yajl/yajl_tree.h>

#include "jsonl.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* A string literal as pointer and length, so lines may hold any byte. */
#define IN(s) s, sizeof(s) - 1


/* The table most cases load into, and its columns' indexes. */
static char *const table[] = { "id", "v", "n", "doc", "Name" };
enum { C_ID, C_V, C_N, C_DOC, C_NAME };

static struct pcf_jsonl *stage(int ignore_unknown)
{
	struct pcf_jsonl *j = pcf_jsonl_new(table, NELEM(table),
					    ignore_unknown);

	assert_non_null(j);
	return j;
}

/* A line shown in a failure: its start, as lines here can be 100 KB. */
static int shown(size_t len)
{
	return len > 200 ? 200 : (int)len;
}

/* Parses a line that must give a row; returns *changed. */
static int parse_row(struct pcf_jsonl *j, const char *line, size_t len)
{
	char err[256] = "";
	int changed = -1;
	enum pcf_jsonl_verdict v;

	v = pcf_jsonl_parse(j, line, len, &changed, err, sizeof(err));
	if (v != PCF_JSONL_ROW)
		fail_msg("%.*s: verdict %d, not a row (err \"%s\")",
			 shown(len), line, (int)v, err);
	assert_true(changed == 0 || changed == 1);
	return changed;
}

/* The parsed row emitted alone: malloc'd, NUL-terminated, *n its length. */
static char *emit_alone(struct pcf_jsonl *j, size_t *n)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;

	assert_int_equal(pcf_jsonl_emit(j, &buf, &len, &cap), 0);
	assert_non_null(buf);
	assert_true(len >= 1 && len <= cap);
	assert_int_equal(buf[len - 1], '\n');
	if (len == cap) {
		assert_non_null(buf = realloc(buf, len + 1));
	}
	buf[len] = '\0';
	*n = len;
	return buf;
}

/* Parses a line that must give a row, adopts its set when it changed, and
 * returns the row as emitted (emit_alone). */
static char *row_of(struct pcf_jsonl *j, const char *line, size_t len,
		    size_t *n)
{
	if (parse_row(j, line, len))
		pcf_jsonl_adopt(j);
	return emit_alone(j, n);
}

static void expect_row_n(struct pcf_jsonl *j, const char *line, size_t len,
			 const char *want, size_t wantlen)
{
	size_t n;
	char *got = row_of(j, line, len, &n);

	if (n != wantlen || memcmp(got, want, n) != 0)
		fail_msg("%.*s: row \"%.*s\", want \"%.*s\"", shown(len), line,
			 shown(n), got, shown(wantlen), want);
	free(got);
}

static void expect_row(struct pcf_jsonl *j, const char *line,
		       const char *want)
{
	expect_row_n(j, line, strlen(line), want, strlen(want));
}

/* Parses a line that must fail; err must be set, and hold sub if given. */
static void expect_error_n(struct pcf_jsonl *j, const char *line, size_t len,
			   const char *sub)
{
	char err[256];
	int changed = -1;
	enum pcf_jsonl_verdict v;

	memset(err, 'X', sizeof(err));
	v = pcf_jsonl_parse(j, line, len, &changed, err, sizeof(err));
	if (v != PCF_JSONL_ERROR)
		fail_msg("%.*s: verdict %d, want an error", shown(len), line,
			 (int)v);
	assert_non_null(memchr(err, '\0', sizeof(err)));
	if (err[0] == '\0')
		fail_msg("%.*s: an error without a reason", shown(len), line);
	if (strchr(err, '\n'))
		fail_msg("%.*s: a newline in err \"%s\"", shown(len), line, err);
	if (sub && !strstr(err, sub))
		fail_msg("%.*s: err \"%s\" does not mention %s", shown(len),
			 line, err, sub);
}

static void expect_error(struct pcf_jsonl *j, const char *line,
			 const char *sub)
{
	expect_error_n(j, line, strlen(line), sub);
}

static void expect_columns(struct pcf_jsonl *j, const size_t *want, size_t n)
{
	const size_t *idx = NULL;

	assert_int_equal(pcf_jsonl_columns(j, &idx), n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(idx[i], want[i]);
}

/* --- nested values as JSON trees -------------------------------------- */

static int tree_equal(yajl_val a, yajl_val b)
{
	if (a->type != b->type)
		return 0;
	switch (a->type) {
	case yajl_t_string:
		return strcmp(a->u.string, b->u.string) == 0;
	case yajl_t_number:
		return strcmp(a->u.number.r, b->u.number.r) == 0;
	case yajl_t_object:
		if (a->u.object.len != b->u.object.len)
			return 0;
		for (size_t i = 0; i < a->u.object.len; i++)
			if (strcmp(a->u.object.keys[i], b->u.object.keys[i]) ||
			    !tree_equal(a->u.object.values[i],
					b->u.object.values[i]))
				return 0;
		return 1;
	case yajl_t_array:
		if (a->u.array.len != b->u.array.len)
			return 0;
		for (size_t i = 0; i < a->u.array.len; i++)
			if (!tree_equal(a->u.array.values[i],
					b->u.array.values[i]))
				return 0;
		return 1;
	default: /* true, false, null: the type says it all */
		return 1;
	}
}

/* One field of a row (no tab, newline or CR in it) with COPY's text
 * escapes undone: malloc'd and NUL-terminated. */
static char *copy_unescape(const char *f, size_t n)
{
	char *out = malloc(n + 1), *o = out;

	assert_non_null(out);
	for (size_t i = 0; i < n; i++) {
		if (f[i] == '\t' || f[i] == '\n' || f[i] == '\r')
			fail_msg("a raw tab, newline or CR in the field \"%.*s\"",
				 shown(n), f);
		if (f[i] != '\\') {
			*o++ = f[i];
			continue;
		}
		if (++i == n)
			fail_msg("a lone backslash ends \"%.*s\"", shown(n), f);
		switch (f[i]) {
		case '\\': *o++ = '\\'; break;
		case 't': *o++ = '\t'; break;
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		default:
			fail_msg("an unexpected COPY escape \\%c in \"%.*s\"",
				 f[i], shown(n), f);
		}
	}
	*o = '\0';
	return out;
}

/* The field f[0..n) of a row must be the JSON text of want (COPY-escaped;
 * white space free, numbers as written). */
static void expect_json_field(const char *f, size_t n, const char *want)
{
	char e1[256], e2[256];
	char *text = copy_unescape(f, n);
	yajl_val got = yajl_tree_parse(text, e1, sizeof(e1));
	yajl_val w = yajl_tree_parse(want, e2, sizeof(e2));

	if (!w)
		fail_msg("the test's own JSON %s: %s", want, e2);
	if (!got)
		fail_msg("not JSON: \"%.*s\" (%s)", shown(strlen(text)), text, e1);
	if (!tree_equal(got, w))
		fail_msg("JSON \"%.*s\", want %s", shown(strlen(text)), text,
			 want);
	yajl_tree_free(got);
	yajl_tree_free(w);
	free(text);
}

/* {"doc":<in>} must give one field, the JSON text of want. Returns the row
 * (malloc'd) for further checks of its bytes. */
static char *expect_nested(struct pcf_jsonl *j, const char *in,
			   const char *want)
{
	size_t len = strlen(in) + 16, n;
	char *line = malloc(len);
	char *row;

	assert_non_null(line);
	snprintf(line, len, "{\"doc\":%s}", in);
	row = row_of(j, line, strlen(line), &n);
	expect_json_field(row, n - 1, want);
	free(line);
	return row;
}

/* A row's fields split at its tabs (values have none: they are escaped). */
static size_t split_row(const char *row, size_t n, const char **f,
			size_t *flen, size_t max)
{
	size_t k = 0, start = 0;

	assert_true(n >= 1 && row[n - 1] == '\n');
	for (size_t i = 0; i < n; i++)
		if (row[i] == '\t' || row[i] == '\n') {
			assert_true(k < max);
			f[k] = row + start;
			flen[k++] = i - start;
			start = i + 1;
		}
	return k;
}

static void expect_field(const char *f, size_t n, const char *want)
{
	if (n != strlen(want) || memcmp(f, want, n) != 0)
		fail_msg("field \"%.*s\", want \"%.*s\"", shown(n), f,
			 shown(strlen(want)), want);
}

/* A field wanted, by its bytes; J(text): the JSON text it must hold. */
#define J(s) "\x7f" s

/* Parses a line that must give a row (adopting its set when it changed)
 * whose fields are want[], NULL-terminated. */
static void expect_fields(struct pcf_jsonl *j, const char *line,
			  const char *const *want)
{
	const char *f[16];
	size_t flen[16], n, nf, k = 0;
	char *row = row_of(j, line, strlen(line), &n);

	nf = split_row(row, n, f, flen, NELEM(f));
	while (want[k])
		k++;
	if (nf != k)
		fail_msg("%s: row \"%.*s\", %zu fields, want %zu", line,
			 shown(n), row, nf, k);
	for (size_t i = 0; i < nf; i++)
		if (want[i][0] == '\x7f')
			expect_json_field(f[i], flen[i], want[i] + 1);
		else
			expect_field(f[i], flen[i], want[i]);
	free(row);
}

#define FIELDS(line, ...) \
	expect_fields(j, line, (const char *const[]){ __VA_ARGS__, NULL })

/* --- key sets --------------------------------------------------------- */

static void test_simple_row(void **state)
{
	struct pcf_jsonl *j = stage(0);
	const size_t all[] = { C_ID, C_V, C_N, C_DOC, C_NAME };

	(void)state;
	expect_columns(j, NULL, 0);
	assert_int_equal(parse_row(j, IN("{\"id\":1,\"v\":\"a\",\"n\":2.5,"
					  "\"doc\":null,\"Name\":\"x\"}")), 1);
	pcf_jsonl_adopt(j);
	expect_columns(j, all, NELEM(all));
	expect_row(j, "{\"id\":1,\"v\":\"a\",\"n\":2.5,\"doc\":null,\"Name\":\"x\"}",
		   "1\ta\t2.5\t\\N\tx\n");

	/* the same keys in another order: the same COPY, table order */
	assert_int_equal(parse_row(j, IN("{\"Name\":\"y\",\"doc\":true,\"n\":-1,"
					  "\"v\":\"b\",\"id\":2}")), 0);
	{
		size_t n;
		char *row = emit_alone(j, &n);

		assert_string_equal(row, "2\tb\t-1\ttrue\ty\n");
		free(row);
	}
	expect_columns(j, all, NELEM(all));
	pcf_jsonl_free(j);
}

static void test_key_sets(void **state)
{
	struct pcf_jsonl *j = stage(0);
	const size_t id_v[] = { C_ID, C_V };
	const size_t id_name[] = { C_ID, C_NAME };
	const size_t v_only[] = { C_V };

	(void)state;
	expect_row(j, "{\"v\":\"a\",\"id\":1}", "1\ta\n");
	expect_columns(j, id_v, NELEM(id_v));
	assert_int_equal(parse_row(j, IN("{\"id\":2,\"v\":\"b\"}")), 0);

	/* a key missing: another set */
	assert_int_equal(parse_row(j, IN("{\"v\":\"c\"}")), 1);
	pcf_jsonl_adopt(j);
	expect_columns(j, v_only, NELEM(v_only));
	expect_row(j, "{\"v\":\"c\"}", "c\n");

	/* a key more */
	assert_int_equal(parse_row(j, IN("{\"v\":\"d\",\"id\":4}")), 1);
	pcf_jsonl_adopt(j);
	expect_columns(j, id_v, NELEM(id_v));

	/* as many keys, but not the same ones */
	assert_int_equal(parse_row(j, IN("{\"Name\":\"e\",\"id\":5}")), 1);
	pcf_jsonl_adopt(j);
	expect_columns(j, id_name, NELEM(id_name));
	expect_row(j, "{\"id\":6,\"Name\":\"f\"}", "6\tf\n");

	/* a blank line or a failed one leaves the set as it was */
	{
		char err[128];
		int changed = -1;

		assert_int_equal(pcf_jsonl_parse(j, IN(""), &changed, err,
						 sizeof(err)), PCF_JSONL_BLANK);
		assert_int_equal(changed, 0);
	}
	expect_error(j, "{\"id\":7,\"Name\":\"g\",\"v\":", NULL);
	expect_error(j, "{\"id\":7,\"v\":\"g\",\"v\":1}", NULL);
	assert_int_equal(parse_row(j, IN("{\"Name\":\"h\",\"id\":8}")), 0);
	expect_columns(j, id_name, NELEM(id_name));
	pcf_jsonl_free(j);
}

/* {} names no column: a row of every column's default, the empty set,
 * which the caller inserts itself (no COPY can carry it). */
static void test_empty_object(void **state)
{
	struct pcf_jsonl *j = stage(0);
	const size_t id_only[] = { C_ID };

	(void)state;
	assert_int_equal(parse_row(j, IN("{}")), 0); /* the set at the start */
	expect_columns(j, NULL, 0);
	expect_row(j, "{\"id\":1}", "1\n");
	assert_int_equal(parse_row(j, IN("{}")), 1);
	pcf_jsonl_adopt(j);
	expect_columns(j, NULL, 0);
	assert_int_equal(parse_row(j, IN(" { } ")), 0);
	assert_int_equal(parse_row(j, IN("{}\r")), 0);
	assert_int_equal(parse_row(j, IN("{\"id\":2}")), 1);
	pcf_jsonl_adopt(j);
	expect_columns(j, id_only, NELEM(id_only));
	expect_row(j, "{\"id\":3}", "3\n");
	/* but {} is no value for a column to be left out */
	expect_error(j, "{\"zz\":{}}", "zz");
	pcf_jsonl_free(j);
}

/* The column names are copied: the caller's may go. */
static void test_columns_copied(void **state)
{
	char a[] = "id", b[] = "v";
	char *cols[] = { a, b };
	struct pcf_jsonl *j = pcf_jsonl_new(cols, 2, 0);

	(void)state;
	assert_non_null(j);
	strcpy(a, "zz");
	strcpy(b, "y");
	expect_row(j, "{\"v\":1,\"id\":2}", "2\t1\n");
	expect_error(j, "{\"zz\":1}", "zz");
	pcf_jsonl_free(j);
}

/* --- values ------------------------------------------------------------ */

/* {"v":<in>} must give the row want + "\n" (top-level: exact bytes). */
static void expect_value_n(struct pcf_jsonl *j, const char *in, size_t inlen,
			   const char *want, size_t wantlen)
{
	char line[512], row[512];
	size_t n = (size_t)snprintf(line, sizeof(line), "{\"v\":%.*s}",
				    (int)inlen, in);

	assert_true(n < sizeof(line) && wantlen + 1 < sizeof(row));
	memcpy(row, want, wantlen);
	row[wantlen] = '\n';
	expect_row_n(j, line, n, row, wantlen + 1);
}

#define VALUE(in, want) expect_value_n(j, IN(in), IN(want))

static void test_strings(void **state)
{
	struct pcf_jsonl *j = stage(0);

	(void)state;
	VALUE("\"plain\"", "plain");
	VALUE("\"\"", "");
	VALUE("\"a b  \"", "a b  ");
	/* JSON's escapes decoded, then COPY's text format escaped */
	VALUE("\"a\\nb\"", "a\\nb");
	VALUE("\"a\\tb\"", "a\\tb");
	VALUE("\"a\\rb\"", "a\\rb");
	VALUE("\"q\\\"q\"", "q\"q");
	VALUE("\"b\\\\s\"", "b\\\\s");
	VALUE("\"\\/\"", "/");
	VALUE("\"\\b\\f\"", "\b\f");
	VALUE("\"\\u00e9\"", "\xc3\xa9");
	VALUE("\"\\u00E9t\\u00e9\"", "\xc3\xa9t\xc3\xa9");
	VALUE("\"\\u20ac\"", "\xe2\x82\xac");
	VALUE("\"\\u0001\\u001f\"", "\x01\x1f");
	VALUE("\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80");
	VALUE("\"\\uD83D\\uDE00!\"", "\xf0\x9f\x98\x80!");
	VALUE("\"\\udbff\\udfff\"", "\xf4\x8f\xbf\xbf");
	/* raw UTF-8 passes as it is */
	VALUE("\"\xc3\xa9\xf0\x9f\x98\x80\"", "\xc3\xa9\xf0\x9f\x98\x80");
	/* an escaped backslash before ud800: no surrogate at all */
	VALUE("\"\\\\ud800\"", "\\\\ud800");
	VALUE("\"\\\\\\ud83d\\ude00\"", "\\\\\xf0\x9f\x98\x80");
	/* COPY's own sequences in the text stay text */
	VALUE("\"\\\\N\"", "\\\\N");
	VALUE("\"\\\\.\"", "\\\\.");
	VALUE("\"a\\\\tb\"", "a\\\\tb");
	/* a tab, a newline, a CR: one escape each, never a raw byte */
	VALUE("\"\\t\\n\\r\\\\\"", "\\t\\n\\r\\\\");
	/* a key spelled with escapes is its decoded text */
	expect_row(j, "{\"\\u0076\":\"k\"}", "k\n");
	pcf_jsonl_free(j);
}

/* The first row of a stage may be an empty string: nothing written yet. */
static void test_empty_string_first(void **state)
{
	struct pcf_jsonl *j;

	(void)state;
	j = stage(0);
	expect_row(j, "{\"v\":\"\"}", "\n");
	expect_row(j, "{\"v\":\"\",\"id\":\"\"}", "\t\n");
	pcf_jsonl_free(j);
}

static void test_scalars(void **state)
{
	struct pcf_jsonl *j = stage(0);

	(void)state;
	/* numbers exactly as written */
	VALUE("0", "0");
	VALUE("1.10", "1.10");
	VALUE("1e3", "1e3");
	VALUE("-0", "-0");
	VALUE("-0.0", "-0.0");
	VALUE("12345678901234567890123", "12345678901234567890123");
	VALUE("-12345678901234567890123.000100", "-12345678901234567890123.000100");
	VALUE("1E+400", "1E+400");
	VALUE("2.5e-07", "2.5e-07");
	VALUE("true", "true");
	VALUE("false", "false");
	VALUE("null", "\\N");
	VALUE(" \"spaced\" ", "spaced");
	/* null, a number, an empty string, side by side */
	expect_row(j, "{\"n\":null,\"id\":1,\"v\":\"\",\"doc\":false}",
		   "1\t\t\\N\tfalse\n");
	expect_row(j, "{\"n\":7,\"id\":null,\"v\":null,\"doc\":null}",
		   "\\N\t\\N\t7\t\\N\n");
	pcf_jsonl_free(j);
}

static void test_nested(void **state)
{
	struct pcf_jsonl *j = stage(0);
	char *row;

	(void)state;
	row = expect_nested(j, "{\"a\":[1,2.50,\"x\\\"y\",null,{}]}",
			    "{\"a\":[1,2.50,\"x\\\"y\",null,{}]}");
	/* the JSON escape's backslash, doubled by COPY's text format */
	if (!strstr(row, "\"x\\\\\"y\""))
		fail_msg("row \"%s\": want x\\\\\"y", row);
	free(row);

	free(expect_nested(j, "[]", "[]"));
	free(expect_nested(j, "{}", "{}"));
	free(expect_nested(j, " [ 1 , [ ] , { } ] ", "[1,[],{}]"));
	free(expect_nested(j, "[[[[[]]]]]", "[[[[[]]]]]"));
	free(expect_nested(j, "[true,false,null,-0,1E+400,1.10]",
			   "[true,false,null,-0,1E+400,1.10]"));
	free(expect_nested(j, "{\"k\":{\"k2\":[{\"a\":1},{\"b\":[2]}]},\"z\":0}",
			   "{\"k\":{\"k2\":[{\"a\":1},{\"b\":[2]}]},\"z\":0}"));
	free(expect_nested(j, "{\"dup\":1,\"dup\":2}", "{\"dup\":1,\"dup\":2}"));
	/* keys inside are any text, not columns */
	free(expect_nested(j, "{\"id\":1,\"no such\":2}",
			   "{\"id\":1,\"no such\":2}"));
	/* strings re-escaped: quotes, backslashes, control characters */
	free(expect_nested(j, "[\"a\\nb\\tc\\rd\\\\e\\/f\\b\\f\\u0001\\u001f\"]",
			   "[\"a\\nb\\tc\\rd\\\\e/f\\b\\f\\u0001\\u001f\"]"));
	free(expect_nested(j, "[\"\\u00e9\\ud83d\\ude00\"]",
			   "[\"\xc3\xa9\xf0\x9f\x98\x80\"]"));
	free(expect_nested(j, "{\"k\\\"\\n\":\"\\\\\"}",
			   "{\"k\\\"\\n\":\"\\\\\"}"));
	/* \u0000 inside a nested value is JSON's escape again */
	row = expect_nested(j, "[\"a\\u0000b\"]", "[\"a\\u0000b\"]");
	if (!strstr(row, "a\\\\u0000b"))
		fail_msg("row \"%s\": want a\\\\u0000b", row);
	free(row);

	/* a nested value beside top-level ones */
	FIELDS("{\"id\":1,\"doc\":[1,\"t\\tt\"],\"v\":\"s\"}", "1", "s",
	       J("[1,\"t\\tt\"]"));
	pcf_jsonl_free(j);
}

/* Nested strings of every length near the re-escaping buffer's size, each
 * ending in each kind of character: plain, a two-byte and a six-byte
 * escape. */
static void test_nested_string_lengths(void **state)
{
	static const char *const tails[][2] = {
		{ "z", "z" },
		{ "\\\"", "\\\"" },
		{ "\\n", "\\n" },
		{ "\\u0001", "\\u0001" },
		{ "\\u0001\\u0002", "\\u0001\\u0002" },
	};
	struct pcf_jsonl *j;
	char in[2048], want[2048];

	(void)state;
	j = stage(0);
	for (size_t t = 0; t < NELEM(tails); t++)
		for (size_t n = 0; n < 600; n++) {
			char *a = malloc(n + 1);

			assert_non_null(a);
			memset(a, 'a', n);
			a[n] = '\0';
			snprintf(in, sizeof(in), "[\"%s%s\"]", a, tails[t][0]);
			snprintf(want, sizeof(want), "[\"%s%s\"]", a, tails[t][1]);
			free(expect_nested(j, in, want));
			free(a);
		}
	/* only control characters: six bytes each */
	for (size_t n = 0; n < 100; n++) {
		size_t o = 0;

		in[o++] = '[';
		in[o++] = '"';
		for (size_t i = 0; i < n; i++) {
			memcpy(in + o, "\\u0002", 6);
			o += 6;
		}
		memcpy(in + o, "\"]", 3);
		free(expect_nested(j, in, in));
	}
	pcf_jsonl_free(j);
}

/* --- keys ------------------------------------------------------------- */

static void test_key_resolution(void **state)
{
	struct pcf_jsonl *j = stage(0);

	(void)state;
	expect_row(j, "{\"Name\":\"x\"}", "x\n");
	expect_row(j, "{\"name\":\"x\"}", "x\n");
	expect_row(j, "{\"NAME\":\"x\"}", "x\n");
	expect_row(j, "{\" name \":\"x\"}", "x\n");
	expect_row(j, "{\"\\tName\\t\":\"x\"}", "x\n");
	expect_row(j, "{\"N\\u0061me\":\"x\"}", "x\n");
	/* "N": no column is "N" as spelled; "n" is the one column it names */
	expect_row(j, "{\"N\":1}", "1\n");
	expect_row(j, "{\"ID\":1,\"V\":2}", "1\t2\n");
	expect_row(j, "{\"  id\":1,\"v  \":2}", "1\t2\n");
	/* a key remembered once, again in other rows */
	for (int i = 0; i < 3; i++) {
		expect_row(j, "{\"iD\":1,\"nAmE\":2}", "1\t2\n");
		expect_row(j, "{\"id\":3,\"name\":4}", "3\t4\n");
	}

	/* keys that name no column (load.c looks for the words) */
	expect_error(j, "{\"zz\":1}", "key \"zz\" names no column");
	expect_error(j, "{\"id\":1,\"zz\":1}", "\"zz\" names no column");
	expect_error(j, "{\"zz\":{\"id\":1}}", "\"zz\" names no column");
	expect_error(j, "{\"names\":1}", "\"names\" names no column");
	expect_error(j, "{\"\":1}", NULL);
	expect_error(j, "{\"  \":1}", NULL);
	expect_error(j, "{\"i d\":1}", "i d");
	/* a key with a newline: the reason is still one line */
	expect_error(j, "{\"a\\nb\":1}", NULL);
	/* the same column twice, however spelled */
	expect_error(j, "{\"id\":1,\"id\":2}", "id");
	expect_error(j, "{\"Name\":1,\"name\":2}", "Name");
	expect_error(j, "{\"id\":1,\" ID \":2}", "id");
	expect_error(j, "{\"v\":null,\"v\":null}", "v");
	/* and the stage is fine after them */
	expect_row(j, "{\"id\":1,\"Name\":2}", "1\t2\n");
	pcf_jsonl_free(j);
}

/* Columns that differ only in case: the exact spelling wins, else the key
 * names more than one column. */
static void test_key_case_collisions(void **state)
{
	char *xs[] = { "x", "X" };
	char *abs[] = { "ab", "AB", "c" };
	struct pcf_jsonl *j = pcf_jsonl_new(xs, NELEM(xs), 0);

	(void)state;
	assert_non_null(j);
	expect_row(j, "{\"x\":1}", "1\n");
	expect_row(j, "{\" x\":1}", "1\n");
	expect_row(j, "{\"X\":2,\"x\":1}", "1\t2\n");
	expect_row(j, "{\"X \":2}", "2\n");
	pcf_jsonl_free(j);

	assert_non_null(j = pcf_jsonl_new(abs, NELEM(abs), 0));
	expect_error(j, "{\"Ab\":1}", "Ab");
	expect_error(j, "{\"c\":1,\"aB\":1}", "aB");
	expect_row(j, "{\"ab\":1,\"C\":3}", "1\t3\n");
	expect_row(j, "{\" AB \":2}", "2\n");
	pcf_jsonl_free(j);

	/* ignore_unknown does not make an ambiguous key unknown */
	assert_non_null(j = pcf_jsonl_new(abs, NELEM(abs), 1));
	expect_error(j, "{\"c\":1,\"Ab\":1}", "Ab");
	pcf_jsonl_free(j);
}

static void test_ignore_unknown(void **state)
{
	struct pcf_jsonl *j = stage(1);
	const size_t id_v[] = { C_ID, C_V };
	char deep[512];
	size_t o = 0;

	(void)state;
	expect_row(j, "{\"id\":1,\"x\":2,\"v\":\"a\"}", "1\ta\n");
	expect_columns(j, id_v, NELEM(id_v));
	/* an unknown key's nested value is passed over, whatever is in it */
	assert_int_equal(parse_row(j, IN("{\"x\":{\"deep\":[1,{\"y\":2}]},"
					  "\"id\":2,\"v\":\"b\"}")), 0);
	{
		size_t n;
		char *row = emit_alone(j, &n);

		assert_string_equal(row, "2\tb\n");
		free(row);
	}
	expect_row(j, "{\"id\":3,\"x\":[],\"y\":{},\"z\":null,\"w\":\"s\","
		      "\"u\":true,\"v\":\"c\"}", "3\tc\n");
	expect_row(j, "{\"x\":[[[{\"id\":9,\"v\":[9]}]]],\"v\":\"d\",\"id\":4,"
		      "\"x\":{\"n\":1}}", "4\td\n");
	/* a column after the unknown key's value still gets its value */
	FIELDS("{\"id\":5,\"x\":{\"a\":{\"b\":1}},\"v\":{\"a\":[1]}}", "5",
	       J("{\"a\":[1]}"));
	FIELDS("{\"id\":6,\"x\":[1,2],\"v\":[3,4]}", "6", J("[3,4]"));
	/* deep under an unknown key */
	o = (size_t)sprintf(deep, "{\"x\":");
	for (int i = 0; i < 50; i++)
		o += (size_t)sprintf(deep + o, "{\"k\":[");
	for (int i = 0; i < 50; i++)
		o += (size_t)sprintf(deep + o, "]}");
	o += (size_t)sprintf(deep + o, ",\"id\":7,\"v\":8}");
	assert_true(o < sizeof(deep));
	expect_row_n(j, deep, o, IN("7\t8\n"));

	/* the known keys still fail as they would */
	expect_error(j, "{\"id\":1,\"x\":1,\"ID\":2}", "id");
	/* only unknown keys: the empty set, as {} (test_empty_object) */
	assert_int_equal(parse_row(j, IN("{\"x\":1}")), 1);
	pcf_jsonl_adopt(j);
	expect_columns(j, NULL, 0);
	assert_int_equal(parse_row(j, IN("{\"x\":{\"id\":1},\"y\":[]}")), 0);
	assert_int_equal(parse_row(j, IN("{}")), 0);
	/* an unknown key twice is nothing */
	expect_row(j, "{\"x\":1,\"x\":2,\"v\":\"e\",\"id\":8}", "8\te\n");
	pcf_jsonl_free(j);
}

/* --- what is not a row ------------------------------------------------ */

static void test_errors(void **state)
{
	static const struct {
		const char *line;
		size_t len;
		const char *sub; /* in err, when given */
	} bad[] = {
		{ IN("[1,2]"), NULL },
		{ IN("[]"), NULL },
		{ IN("[{\"id\":1}]"), NULL },
		{ IN("5"), NULL },
		{ IN("-1.5"), NULL },
		{ IN("\"x\""), NULL },
		{ IN("null"), NULL },
		{ IN("true"), NULL },
		{ IN("{"), NULL },
		{ IN("{\"id\":1"), NULL },
		{ IN("{\"id\":1,"), NULL },
		{ IN("{\"id\":"), NULL },
		{ IN("{\"id\""), NULL },
		{ IN("{\"id\":\"abc"), NULL },
		{ IN("{\"id\":[1,2}"), NULL },
		{ IN("}"), NULL },
		{ IN("{\"id\":1}}"), NULL },
		{ IN("{\"id\":1}{\"v\":2}"), NULL },
		{ IN("{\"id\":1} {\"v\":2}"), NULL },
		{ IN("{\"id\":1} garbage"), NULL },
		{ IN("{\"id\":1},"), NULL },
		{ IN("{\"id\":1} 5"), NULL },
		{ IN("{id:1}"), NULL },
		{ IN("{'id':1}"), NULL },
		{ IN("{\"id\" 1}"), NULL },
		{ IN("{\"id\":1,}"), NULL },
		{ IN("{\"id\":01}"), NULL },
		{ IN("{\"id\":1.}"), NULL },
		{ IN("{\"id\":.5}"), NULL },
		{ IN("{\"id\":+1}"), NULL },
		{ IN("{\"id\":NaN}"), NULL },
		{ IN("{\"id\":Infinity}"), NULL },
		{ IN("{\"id\":tru}"), NULL },
		{ IN("{\"id\":nul}"), NULL },
		{ IN("{\"id\":1 /* c */}"), NULL },
		{ IN("// c\n{\"id\":1}"), NULL },
		{ IN("{\"id\":\"a\\qb\"}"), NULL },
		{ IN("{\"id\":\"a\\u12\"}"), NULL },
		{ IN("{\"id\":\"a\\u12g4\"}"), NULL },
		{ IN("{\"id\":\"tab\tin\"}"), NULL },
		{ IN("{\"id\":\"nl\nin\"}"), NULL },
		{ IN("\x01{\"id\":1}"), NULL },
		{ IN("{\"id\":1}\0"), NULL },
		{ IN("{\"id\":\"a\0b\"}"), NULL },
		/* not UTF-8 */
		{ IN("{\"v\":\"\xff\"}"), NULL },
		{ IN("{\"v\":\"a\xc3\"}"), NULL },
		{ IN("{\"v\":\"\xc3(\"}"), NULL },
		{ IN("{\"v\":\"\xe2\x82\"}"), NULL },
		{ IN("{\"v\":\"\xf0\x9f\x98\"}"), NULL },
		{ IN("{\"v\":\"\x80\"}"), NULL },
		{ IN("{\"\xff\":1}"), NULL },
		{ IN("{\"doc\":[\"\xff\"]}"), NULL },
		/* a surrogate without its other half, anywhere */
		{ IN("{\"v\":\"\\ud800\"}"), "\\ud800" },
		{ IN("{\"v\":\"\\udc00\"}"), "\\udc00" },
		{ IN("{\"v\":\"\\ud800\\u0041\"}"), "\\ud800" },
		{ IN("{\"v\":\"\\ud800x\"}"), "\\ud800" },
		{ IN("{\"v\":\"\\ud800\\ud800\"}"), "\\ud800" },
		{ IN("{\"v\":\"\\ude00\\ud83d\"}"), "\\ude00" },
		{ IN("{\"v\":\"\\udc00\\udc00\"}"), "\\udc00" },
		{ IN("{\"v\":\"\\ud83d\\ude00\\udfff\"}"), "\\udfff" },
		{ IN("{\"v\":\"\\uDBFF\"}"), "\\uDBFF" },
		{ IN("{\"v\":\"a\\ud800\\\\udc00\"}"), "\\ud800" },
		{ IN("{\"v\":\"\\\\\\ud800\"}"), "\\ud800" },
		{ IN("{\"doc\":[\"\\ud800\"]}"), "\\ud800" },
		{ IN("{\"doc\":{\"\\udc00\":1}}"), "\\udc00" },
		{ IN("{\"\\ud800\":1}"), "\\ud800" },
		/* PostgreSQL's text cannot hold a NUL */
		{ IN("{\"v\":\"\\u0000\"}"), "u0000" },
		{ IN("{\"v\":\"a\\u0000b\"}"), "u0000" },
		{ IN("{\"id\":1,\"Name\":\"\\u0000\"}"), "u0000" },
	};
	struct pcf_jsonl *j = stage(0);
	const size_t id_v[] = { C_ID, C_V };

	(void)state;
	expect_row(j, "{\"id\":0,\"v\":\"ok\"}", "0\tok\n");
	for (size_t i = 0; i < NELEM(bad); i++) {
		expect_error_n(j, bad[i].line, bad[i].len, bad[i].sub);
		/* nothing of the failed line stays: the next row is whole */
		assert_int_equal(parse_row(j, IN("{\"v\":\"ok\",\"id\":1}")), 0);
		{
			size_t n;
			char *row = emit_alone(j, &n);

			assert_string_equal(row, "1\tok\n");
			free(row);
		}
		expect_columns(j, id_v, NELEM(id_v));
	}

	/* a short err buffer: cut, still a string */
	{
		char err[8];
		int changed;

		memset(err, 'X', sizeof(err));
		assert_int_equal(pcf_jsonl_parse(j, IN("{\"zzzzzzzzzzzz\":1}"),
						 &changed, err, sizeof(err)),
				 PCF_JSONL_ERROR);
		assert_non_null(memchr(err, '\0', sizeof(err)));
		assert_true(err[0] != '\0');
		memset(err, 'X', sizeof(err));
		assert_int_equal(pcf_jsonl_parse(j, IN("{\"v\":\"\\ud800\"}"),
						 &changed, err, sizeof(err)),
				 PCF_JSONL_ERROR);
		assert_non_null(memchr(err, '\0', sizeof(err)));
		memset(err, 'X', sizeof(err));
		assert_int_equal(pcf_jsonl_parse(j, IN("[1"), &changed, err,
						 sizeof(err)), PCF_JSONL_ERROR);
		assert_non_null(memchr(err, '\0', sizeof(err)));
	}
	pcf_jsonl_free(j);
}

/* Too deep under a column: refused, not a crash; not so deep: its text. */
static void test_depth(void **state)
{
	struct pcf_jsonl *j = stage(0);
	size_t cap = 2 * 5000 + 64, o;
	char *line = malloc(cap), *want = malloc(cap);

	(void)state;
	assert_non_null(line);
	assert_non_null(want);
	memset(want, '[', 100);
	memset(want + 100, ']', 100);
	want[200] = '\0';
	free(expect_nested(j, want, want));

	o = (size_t)sprintf(line, "{\"doc\":");
	memset(line + o, '[', 5000);
	memset(line + o + 5000, ']', 5000);
	strcpy(line + o + 10000, "}");
	expect_error(j, line, NULL);
	line[o + 10000] = '\0'; /* and truncated */
	expect_error(j, line, NULL);
	FIELDS("{\"doc\":[1]}", J("[1]"));
	free(line);
	free(want);
	pcf_jsonl_free(j);
}

static void test_blank_lines(void **state)
{
	static const struct {
		const char *line;
		size_t len;
	} blanks[] = {
		{ IN("") }, { IN(" ") }, { IN("   ") }, { IN("\r") },
		{ IN("\t") }, { IN(" \t \r") },
	};
	struct pcf_jsonl *j = stage(0);
	char err[64];
	int changed;

	(void)state;
	for (size_t i = 0; i < NELEM(blanks); i++) {
		changed = -1;
		assert_int_equal(pcf_jsonl_parse(j, blanks[i].line,
						 blanks[i].len, &changed, err,
						 sizeof(err)), PCF_JSONL_BLANK);
		assert_int_equal(changed, 0);
	}
	/* white space around an object is still the object */
	expect_row(j, "{\"id\":1}   ", "1\n");
	expect_row(j, "{\"id\":1}\r", "1\n");
	expect_row(j, "{\"id\":1} \t \r", "1\n");
	expect_row(j, "  \t{ \"id\" : 2 }", "2\n");
	expect_row(j, "\r{\"id\":3}", "3\n");
	pcf_jsonl_free(j);
}

/* --- emit ------------------------------------------------------------- */

static void test_emit_appends(void **state)
{
	struct pcf_jsonl *j = stage(0);
	char *buf = NULL, *big;
	size_t len = 0, cap = 0, bign = 200000, o;

	(void)state;
	assert_int_equal(parse_row(j, IN("{\"id\":1,\"v\":\"a\"}")), 1);
	pcf_jsonl_adopt(j);
	assert_int_equal(pcf_jsonl_emit(j, &buf, &len, &cap), 0);
	assert_int_equal(parse_row(j, IN("{\"v\":null,\"id\":2}")), 0);
	assert_int_equal(pcf_jsonl_emit(j, &buf, &len, &cap), 0);
	assert_int_equal(len, strlen("1\ta\n2\t\\N\n"));
	assert_memory_equal(buf, "1\ta\n2\t\\N\n", len);
	assert_true(cap >= len);
	free(buf);

	/* after what the buffer held, in a buffer too small for the row */
	assert_non_null(buf = malloc(3));
	memcpy(buf, "ab", 2);
	len = 2;
	cap = 3;
	assert_int_equal(parse_row(j, IN("{\"id\":3,\"v\":\"\\\\\\t\"}")), 0);
	assert_int_equal(pcf_jsonl_emit(j, &buf, &len, &cap), 0);
	assert_int_equal(len, strlen("ab3\t\\\\\\t\n"));
	assert_memory_equal(buf, "ab3\t\\\\\\t\n", len);
	assert_true(cap >= len);

	/* a row larger than a first allocation: the buffer grows again, and
	 * what it held stays */
	assert_non_null(big = malloc(bign + 32));
	o = (size_t)sprintf(big, "{\"id\":4,\"v\":\"");
	for (size_t i = 0; i < 50000; i++) {
		memcpy(big + o, "\\t", 2); /* a tab: 2 bytes in and out */
		o += 2;
	}
	memcpy(big + o, "\"}", 2);
	o += 2;
	assert_int_equal(parse_row(j, big, o), 0);
	assert_int_equal(pcf_jsonl_emit(j, &buf, &len, &cap), 0);
	assert_int_equal(len, strlen("ab3\t\\\\\\t\n") + 2 + 100000 + 1);
	assert_true(cap >= len);
	assert_memory_equal(buf, "ab3\t\\\\\\t\n4\t", 11);
	for (size_t i = 0; i < 50000; i++)
		assert_memory_equal(buf + 11 + 2 * i, "\\t", 2);
	assert_int_equal(buf[len - 1], '\n');
	free(big);
	free(buf);
	pcf_jsonl_free(j);
}

/* --- many lines ------------------------------------------------------- */

/* 10000 lines through one stage, as a load runs them: a COPY per run of
 * one key set, every row appended to one buffer. Unknown keys vary on
 * every line (more than are remembered); some lines fail; two are 100 KB,
 * which yajl's arena cannot hold. */
static void test_many_lines(void **state)
{
	/* the long lines are two of group 1's (below) */
	enum { LINES = 10000, LONG = 100000, LONG_V = 4950, LONG_DOC = 4951 };
	struct pcf_jsonl *j = stage(1);
	char *buf = NULL, *line;
	size_t len = 0, cap = 0, linecap = LONG + 4096;
	char *longv, *longwant, *longdoc, *longdocwant;

	(void)state;
	assert_non_null(line = malloc(linecap));
	/* the long string: escapes all through it, so yajl decodes it into
	 * a buffer of its own that grows past the arena (83 KB decoded: two
	 * blocks of their own, the second a realloc of the first) */
	assert_non_null(longv = malloc(LONG + 1));
	assert_non_null(longwant = malloc(LONG + 1));
	assert_non_null(longdoc = malloc(LONG + 1));
	assert_non_null(longdocwant = malloc(LONG + 1));
	{
		size_t a = 0, b = 0, c = 0;

		while (a + 40 < LONG) {
			memcpy(longv + a, "abcdefghijklmnopqrstuvwxyz"
					  "\\t\\u00e9\\\"", 36);
			a += 36;
			memcpy(longwant + b, "abcdefghijklmnopqrstuvwxyz"
					     "\\t\xc3\xa9\"", 31);
			b += 31;
		}
		longv[a] = longwant[b] = '\0';
		longdoc[c++] = '[';
		while (c + 32 < LONG) {
			memcpy(longdoc + c, "\"x\\n\\u0001\\\\\",", 14);
			c += 14;
		}
		memcpy(longdoc + c - 1, "]", 2); /* the last comma */
		/* the expected JSON is the input: JSON equal by tree */
		memcpy(longdocwant, longdoc, c + 1);
	}

	for (size_t i = 0; i < LINES; i++) {
		size_t group = (i / 100) % 3, o, before = len, nf;
		int changed, err_line = i % 997 == 500;
		const char *f[8];
		size_t flen[8];
		char want[64];

		if (err_line) {
			expect_error(j, "{\"id\":1,\"v\":[1,2}", NULL);
			expect_error(j, "{\"id\":1,\"v\":\"\\udc00\"}", "udc00");
			expect_error(j, "{\"id\":1,\"ID\":2}", NULL);
		}
		/* group 0: id, v, n; 1: those in another order, and doc;
		 * 2: Name, v. Each with an unknown key, left out. */
		if (group == 0)
			o = (size_t)snprintf(line, linecap,
					     "{\"id\":%zu,\"u%zu\":{\"deep\":[1,"
					     "{\"y\":2}]},\"v\":\"s%zu\\t\\\"\\u00e9\","
					     "\"n\":%s}",
					     i, i, i, i % 5 ? "2.50" : "null");
		else if (group == 1)
			o = (size_t)snprintf(line, linecap,
					     "{\"doc\":%s,\"n\":-%zu.0,\"u%zu\":[],"
					     "\"v\":\"%s\",\"id\":%zu}",
					     i == LONG_DOC ? longdoc : "{\"i\":[1.10,\"x\"]}",
					     i, i % 1500, i == LONG_V ? longv : "", i);
		else
			o = (size_t)snprintf(line, linecap,
					     "{\"Name\":\"n%zu\",\"v\":%zu,\"x\":0}",
					     i, i);
		assert_true(o < linecap);
		changed = parse_row(j, line, o);
		assert_int_equal(changed, i % 100 == 0);
		if (changed)
			pcf_jsonl_adopt(j);
		assert_int_equal(pcf_jsonl_emit(j, &buf, &len, &cap), 0);
		assert_true(len > before && cap >= len);

		nf = split_row(buf + before, len - before, f, flen, NELEM(f));
		if (group == 0) {
			assert_int_equal(nf, 3);
			snprintf(want, sizeof(want), "%zu", i);
			expect_field(f[0], flen[0], want);
			snprintf(want, sizeof(want), "s%zu\\t\"\xc3\xa9", i);
			expect_field(f[1], flen[1], want);
			expect_field(f[2], flen[2], i % 5 ? "2.50" : "\\N");
		} else if (group == 1) {
			assert_int_equal(nf, 4);
			snprintf(want, sizeof(want), "%zu", i);
			expect_field(f[0], flen[0], want);
			expect_field(f[1], flen[1], i == LONG_V ? longwant : "");
			snprintf(want, sizeof(want), "-%zu.0", i);
			expect_field(f[2], flen[2], want);
			expect_json_field(f[3], flen[3],
					  i == LONG_DOC ? longdocwant
						    : "{\"i\":[1.10,\"x\"]}");
		} else {
			assert_int_equal(nf, 2);
			snprintf(want, sizeof(want), "%zu", i);
			expect_field(f[0], flen[0], want);
			snprintf(want, sizeof(want), "n%zu", i);
			expect_field(f[1], flen[1], want);
		}
		/* the buffer is a load's: let it not grow without end */
		if (len > (1u << 20))
			len = 0;
	}
	free(buf);
	free(line);
	free(longv);
	free(longwant);
	free(longdoc);
	free(longdocwant);
	pcf_jsonl_free(j);
}

/* Many stages, each used and freed: nothing leaks (ASan's leak check). */
static void test_stages_freed(void **state)
{
	(void)state;
	pcf_jsonl_free(NULL);
	for (int k = 0; k < 50; k++) {
		struct pcf_jsonl *j = stage(k % 2);

		FIELDS("{\"id\":1,\"doc\":{\"a\":[\"b\"]}}", "1",
		       J("{\"a\":[\"b\"]}"));
		if (k % 2)
			expect_row(j, "{\"unknown\":[1],\"id\":2}", "2\n");
		expect_error(j, "{\"id\":", NULL);
		pcf_jsonl_free(j);
	}
}

/* An argument, if any, runs only the tests whose names match it
 * (cmocka's pattern: * and ?). */
int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_row),
		cmocka_unit_test(test_key_sets),
		cmocka_unit_test(test_empty_object),
		cmocka_unit_test(test_columns_copied),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_empty_string_first),
		cmocka_unit_test(test_scalars),
		cmocka_unit_test(test_nested),
		cmocka_unit_test(test_nested_string_lengths),
		cmocka_unit_test(test_key_resolution),
		cmocka_unit_test(test_key_case_collisions),
		cmocka_unit_test(test_ignore_unknown),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_blank_lines),
		cmocka_unit_test(test_emit_appends),
		cmocka_unit_test(test_many_lines),
		cmocka_unit_test(test_stages_freed),
	};

	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
