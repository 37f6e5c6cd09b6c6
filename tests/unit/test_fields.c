/*
 * test_fields.c - pcf_split_record (COPY's CSV field rules) and
 * pcf_header_check (does a first record name the table's columns).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pgcopyfs.h"

#define IN(s) s, sizeof(s) - 1
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const struct pcf_dialect CSV = { ',', '"', '"' };
static const struct pcf_dialect DQ_BS = { ',', '"', '\\' };
static const struct pcf_dialect SEMI_SQ = { ';', '\'', '\'' };
static const struct pcf_dialect TSV = { '\t', '"', '"' };

/*
 * Splits rec[0..len) with d and checks the fields against want[0..nwant).
 * The record is copied to a buffer of exactly len bytes so that ASan catches
 * any read past its end (records are not NUL-terminated in the loader).
 */
static void expect_split(struct pcf_dialect d, const char *rec, size_t len,
			 const char *const *want, size_t nwant)
{
	char *copy = malloc(len ? len : 1);
	char **fields = NULL;
	size_t nfields = 0;

	assert_non_null(copy);
	memcpy(copy, rec, len);
	assert_int_equal(pcf_split_record(d, copy, len, &fields, &nfields), 0);
	if (nfields != nwant)
		fail_msg("split of \"%.*s\": %zu fields, expected %zu",
			 (int)len, rec, nfields, nwant);
	for (size_t i = 0; i < nwant; i++)
		if (strcmp(fields[i], want[i]) != 0)
			fail_msg("split of \"%.*s\": field %zu is \"%s\", "
				 "expected \"%s\"",
				 (int)len, rec, i, fields[i], want[i]);
	pcf_fields_free(fields, nfields);
	free(copy);
}

#define SPLIT(d, lit, ...)                                              \
	do {                                                            \
		static const char *const want_[] = { __VA_ARGS__ };     \
		expect_split(d, IN(lit), want_, NELEM(want_));          \
	} while (0)

static void test_split_simple(void **state)
{
	(void)state;
	SPLIT(CSV, "a,b,c", "a", "b", "c");
	SPLIT(CSV, "id", "id");
	SPLIT(CSV, "hello world,x y", "hello world", "x y");
	SPLIT(SEMI_SQ, "a;b,c", "a", "b,c");
	SPLIT(TSV, "a\tb,c\t", "a", "b,c", "");
}

/* COPY's text format: tab-split, backslash escapes decoded as COPY does. */
static void expect_text(const char *rec, size_t len, const char *const *want,
			size_t nwant)
{
	char *copy = malloc(len ? len : 1);
	char **fields = NULL;
	size_t nfields = 0;

	assert_non_null(copy);
	memcpy(copy, rec, len);
	assert_int_equal(pcf_split_text_record('\t', copy, len, &fields, &nfields),
			 0);
	if (nfields != nwant)
		fail_msg("text split of \"%.*s\": %zu fields, expected %zu",
			 (int)len, rec, nfields, nwant);
	for (size_t i = 0; i < nwant; i++)
		if (strcmp(fields[i], want[i]) != 0)
			fail_msg("text split: field %zu is \"%s\", expected \"%s\"",
				 i, fields[i], want[i]);
	pcf_fields_free(fields, nfields);
	free(copy);
}

#define TEXT_SPLIT(lit, ...)                                            \
	do {                                                            \
		static const char *const want_[] = { __VA_ARGS__ };     \
		expect_text(IN(lit), want_, NELEM(want_));              \
	} while (0)

static void test_split_text(void **state)
{
	char **fields = NULL;
	size_t n = 0;

	(void)state;
	TEXT_SPLIT("id\tname\n", "id", "name");
	TEXT_SPLIT("id\tname\r\n", "id", "name");
	TEXT_SPLIT("a\\tb\tc", "a\tb", "c");       /* an escaped tab is data */
	TEXT_SPLIT("a\\\\\tb", "a\\", "b");        /* \\ then a real tab */
	TEXT_SPLIT("\"x\"\ty", "\"x\"", "y");        /* quotes are plain */
	TEXT_SPLIT("\\101\\x42\\n", "AB\n");
	TEXT_SPLIT("a\\ b\t", "a b", "");
	TEXT_SPLIT("", "");
	TEXT_SPLIT("a\\\r\n", "a\r");         /* an escaped \r is data */
	TEXT_SPLIT("ab\\", "ab");               /* a backslash ending the line */
	assert_int_equal(pcf_split_text_record('\t', IN("a\\0b"), &fields, &n),
			 -EINVAL);
}

static void test_split_quoted_delimiter(void **state)
{
	(void)state;
	SPLIT(CSV, "\"a,b\",c", "a,b", "c");
	SPLIT(CSV, "x,\"y,z\"", "x", "y,z");
	SPLIT(SEMI_SQ, "'a;b';c", "a;b", "c");
	/* a quoted line end is data, not the record's end */
	SPLIT(CSV, "\"a\nb\",c\r\n", "a\nb", "c");
	SPLIT(CSV, "\"a\r\n\",c\n", "a\r\n", "c");
}

static void test_split_doubled_quotes(void **state)
{
	(void)state;
	SPLIT(CSV, "\"say \"\"hi\"\"\",x", "say \"hi\"", "x");
	SPLIT(CSV, "\"\"\"\"", "\"");
	SPLIT(CSV, "\"\"", "");
	SPLIT(SEMI_SQ, "'it''s';b", "it's", "b");
	/* a quote in the middle of an unquoted field starts quoting there */
	SPLIT(CSV, "ab\"c,d\"e,f", "abc,de", "f");
}

static void test_split_escape_differs(void **state)
{
	(void)state;
	/* ESCAPE '\': \" and \\ inside quotes are a quote and a backslash */
	SPLIT(DQ_BS, "\"a\\\"b\",\"c\\\\d\"", "a\"b", "c\\d");
	/* an escape before any other byte is kept as it is */
	SPLIT(DQ_BS, "\"a\\xb\"", "a\\xb");
	/* escapes mean nothing outside quotes */
	SPLIT(DQ_BS, "e\\\\f,g\\", "e\\\\f", "g\\");
	/* "" still closes and reopens quoting: nothing is added */
	SPLIT(DQ_BS, "\"a\"\"b\"", "ab");
	/* an escape at the very end of the body has nothing to escape */
	SPLIT(DQ_BS, "\"a\\", "a\\");
}

static void test_split_terminators(void **state)
{
	(void)state;
	SPLIT(CSV, "a,b\n", "a", "b");
	SPLIT(CSV, "a,b\r\n", "a", "b");
	SPLIT(CSV, "a,b\r", "a", "b");
	SPLIT(CSV, "a,\"b\"\r\n", "a", "b");
	SPLIT(CSV, "\n", "");
	SPLIT(CSV, "\r\n", "");
}

static void test_split_empty_fields(void **state)
{
	(void)state;
	SPLIT(CSV, "", "");
	SPLIT(CSV, ",", "", "");
	SPLIT(CSV, ",,\n", "", "", "");
	SPLIT(CSV, "a,", "a", "");
	SPLIT(CSV, ",a", "", "a");
	SPLIT(CSV, "\"\",a,\"\"", "", "a", "");
}

/* len bounds the record: bytes after it are never looked at. */
static void test_split_respects_len(void **state)
{
	char **fields = NULL;
	size_t nfields = 0;

	(void)state;
	assert_int_equal(pcf_split_record(CSV, "a,b,c", 3, &fields, &nfields),
			 0);
	assert_int_equal(nfields, 2);
	assert_string_equal(fields[0], "a");
	assert_string_equal(fields[1], "b");
	pcf_fields_free(fields, nfields);
}

static void test_split_nul_is_einval(void **state)
{
	static const struct {
		const char *rec;
		size_t len;
	} bad[] = {
		{ IN("a\0b") },
		{ IN("a,b,\0") },
		{ IN("\"x\0\",y") },
		{ IN("a,b,c,d,e,f,g,h,i,j,\0") }, /* after the array grew */
	};

	(void)state;
	for (size_t i = 0; i < NELEM(bad); i++) {
		char **fields = NULL;
		size_t nfields = 0;

		/* nothing is handed out on failure: LSan checks that what was
		 * split before the NUL was freed */
		assert_int_equal(pcf_split_record(CSV, bad[i].rec, bad[i].len,
						  &fields, &nfields),
				 -EINVAL);
	}
}

/* More than the initial 8 slots, so the array has to grow (twice). */
static void test_split_many_fields(void **state)
{
	char rec[4096];
	size_t len = 0;
	char **fields = NULL;
	size_t nfields = 0;

	(void)state;
	for (int i = 0; i < 100; i++)
		len += (size_t)snprintf(rec + len, sizeof(rec) - len,
					i % 3 ? "%sc%d" : "%s\"c,%d\"",
					i ? "," : "", i);
	rec[len++] = '\n';
	assert_int_equal(pcf_split_record(CSV, rec, len, &fields, &nfields), 0);
	assert_int_equal(nfields, 100);
	for (int i = 0; i < 100; i++) {
		char want[16];

		snprintf(want, sizeof(want), i % 3 ? "c%d" : "c,%d", i);
		assert_string_equal(fields[i], want);
	}
	pcf_fields_free(fields, nfields);

	SPLIT(CSV, "1,2,3,4,5,6,7,8,9", "1", "2", "3", "4", "5", "6", "7", "8",
	      "9");
	SPLIT(CSV, "1,2,3,4,5,6,7,8", "1", "2", "3", "4", "5", "6", "7", "8");
	SPLIT(CSV, ",,,,,,,,", "", "", "", "", "", "", "", "", "");
}

static void test_fields_free_null(void **state)
{
	(void)state;
	pcf_fields_free(NULL, 0);
	pcf_fields_free(NULL, 3);
}

static char *const COLS[] = { "id", "name", "Created At", "note" };

/* Checks one header against COLS: the verdict and, when not a match, that
 * *bad is the field at index bad_at (the pointer itself, not a copy). */
static void expect_header(char *const *fields, size_t nfields,
			  enum pcf_header_verdict want, size_t bad_at)
{
	const char *bad = "untouched";
	enum pcf_header_verdict v =
		pcf_header_check(fields, nfields, COLS, NELEM(COLS), &bad);

	assert_int_equal(v, want);
	if (want == PCF_HEADER_MATCH)
		assert_null(bad);
	else if (nfields > 0)
		assert_ptr_equal(bad, fields[bad_at]);
	else
		assert_non_null(bad);
}

static void test_header_match(void **state)
{
	char *same[] = { "id", "name", "Created At", "note" };
	char *shuffled[] = { "note", "id", "Created At", "name" };
	char *subset[] = { "name" };
	char *subset2[] = { "note", "id" };

	(void)state;
	expect_header(same, NELEM(same), PCF_HEADER_MATCH, 0);
	expect_header(shuffled, NELEM(shuffled), PCF_HEADER_MATCH, 0);
	expect_header(subset, NELEM(subset), PCF_HEADER_MATCH, 0);
	expect_header(subset2, NELEM(subset2), PCF_HEADER_MATCH, 0);
}

static void test_header_unknown(void **state)
{
	char *typo[] = { "id", "nmae", "note" };
	char *data[] = { "1", "hello" };
	char *spaced[] = { "id", "na me" };
	char *empty_field[] = { "" };
	/* an unknown field wins over a repeated one: not every field names a
	 * column, so this is data, not a bad header */
	char *both[] = { "id", "id", "zzz" };

	(void)state;
	expect_header(typo, NELEM(typo), PCF_HEADER_UNKNOWN, 1);
	expect_header(data, NELEM(data), PCF_HEADER_UNKNOWN, 0);
	expect_header(spaced, NELEM(spaced), PCF_HEADER_UNKNOWN, 1);
	expect_header(empty_field, NELEM(empty_field), PCF_HEADER_UNKNOWN, 0);
	expect_header(both, NELEM(both), PCF_HEADER_UNKNOWN, 2);
}

static void test_header_repeated(void **state)
{
	char *twice[] = { "id", "name", "id" };
	char *thrice[] = { "note", "name", "note", "note" };

	(void)state;
	expect_header(twice, NELEM(twice), PCF_HEADER_REPEATED, 2);
	expect_header(thrice, NELEM(thrice), PCF_HEADER_REPEATED, 2);
}

static void test_header_empty_record(void **state)
{
	(void)state;
	expect_header(NULL, 0, PCF_HEADER_UNKNOWN, 0);
}

/* As PostgreSQL resolves a typed name: case and surrounding spaces do
 * not matter, unless two columns differ only in case. */
static void test_header_as_people_write_it(void **state)
{
	char *upper[] = { "ID", "NAME" };
	char *lower_created[] = { "created at" };
	char *exact[] = { "Created At" };
	char *spaced[] = { " id ", "\tname" };
	char *blank[] = { "id", "  " };
	char *cols2[] = { "Id", "id", "x" };
	char *both_cases[] = { "id", "Id" };
	char *ambiguous[] = { "x", "ID" };
	char *repeat_by_case[] = { "name", "NAME" };
	size_t match[2];
	const char *bad = NULL;

	(void)state;
	expect_header(upper, 2, PCF_HEADER_MATCH, 0);
	expect_header(lower_created, 1, PCF_HEADER_MATCH, 0);
	expect_header(exact, 1, PCF_HEADER_MATCH, 0);
	expect_header(spaced, 2, PCF_HEADER_MATCH, 0);
	expect_header(blank, 2, PCF_HEADER_UNKNOWN, 1);
	expect_header(repeat_by_case, 2, PCF_HEADER_REPEATED, 1);
	/* The columns as the table spells them. */
	assert_int_equal(pcf_header_match(upper, 2, COLS, NELEM(COLS), match,
					  &bad),
			 PCF_HEADER_MATCH);
	assert_int_equal(match[0], 0);
	assert_int_equal(match[1], 1);
	/* "Id" and "id" are two columns: each exact name is its own, so
	 * naming both is no repeat; "ID" could be either. */
	assert_int_equal(pcf_header_match(both_cases, 2, cols2, 3, match, &bad),
			 PCF_HEADER_MATCH);
	assert_int_equal(match[0], 1);
	assert_int_equal(match[1], 0);
	assert_int_equal(pcf_header_check(ambiguous, 2, cols2, 3, &bad),
			 PCF_HEADER_AMBIGUOUS);
	assert_ptr_equal(bad, ambiguous[1]);
}

static void test_header_no_columns(void **state)
{
	char *fields[] = { "a" };
	const char *bad = NULL;

	(void)state;
	assert_int_equal(pcf_header_check(fields, 1, NULL, 0, &bad),
			 PCF_HEADER_UNKNOWN);
	assert_ptr_equal(bad, fields[0]);
}

/* The loader's path: split a first line, then check it. */
static void test_split_then_check(void **state)
{
	char **fields = NULL;
	size_t nfields = 0;
	const char *bad = NULL;

	(void)state;
	assert_int_equal(pcf_split_record(CSV, IN("\"Created At\",id\r\n"),
					  &fields, &nfields),
			 0);
	assert_int_equal(pcf_header_check(fields, nfields, COLS, NELEM(COLS),
					  &bad),
			 PCF_HEADER_MATCH);
	pcf_fields_free(fields, nfields);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_simple),
		cmocka_unit_test(test_split_text),
		cmocka_unit_test(test_split_quoted_delimiter),
		cmocka_unit_test(test_split_doubled_quotes),
		cmocka_unit_test(test_split_escape_differs),
		cmocka_unit_test(test_split_terminators),
		cmocka_unit_test(test_split_empty_fields),
		cmocka_unit_test(test_split_respects_len),
		cmocka_unit_test(test_split_nul_is_einval),
		cmocka_unit_test(test_split_many_fields),
		cmocka_unit_test(test_fields_free_null),
		cmocka_unit_test(test_header_match),
		cmocka_unit_test(test_header_unknown),
		cmocka_unit_test(test_header_repeated),
		cmocka_unit_test(test_header_empty_record),
		cmocka_unit_test(test_header_as_people_write_it),
		cmocka_unit_test(test_header_no_columns),
		cmocka_unit_test(test_split_then_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
