/*
 * test_binrow.c - a CSV record to a binary COPY tuple (fs/binrow.c): the
 * split of COPY's CSV reader (quotes anywhere, escapes only inside them,
 * NULL only unquoted), the tuple's bytes, and "not certain" (0) for every
 * record the server must judge: another line end than the COPY's, a field
 * count that is not the column count, an open quote, a value past a
 * typmod's limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "binrow.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const struct pcf_binrow_col INT4 = { PCF_BIN_INT4, -1, -1, -1, 0 };
static const struct pcf_binrow_col TEXT = { PCF_BIN_TEXT, -1, -1, -1, 0 };

/* The tuple of rec as hex, or "-" when not certain. */
static void tuple_hex(struct pcf_binrow *b, const char *rec, int last,
		      char *out)
{
	struct pcf_bytes t = { 0 };
	int rc = pcf_binrow_tuple(b, rec, strlen(rec), last, &t);

	assert_true(rc >= 0);
	if (rc == 0) {
		assert_int_equal(t.len, 0);
		strcpy(out, "-");
	} else {
		for (size_t i = 0; i < t.len; i++)
			sprintf(out + 2 * i, "%02x", t.p[i]);
	}
	pcf_bytes_free(&t);
}

static void expect(struct pcf_binrow *b, const char *rec, int last,
		   const char *hex)
{
	char got[1024];

	tuple_hex(b, rec, last, got);
	if (strcmp(got, hex) != 0)
		fail_msg("%s: got %s, want %s", rec, got, hex);
}

static struct pcf_binrow *two(struct pcf_dialect d, const char *null,
			      enum pcf_eol eol)
{
	struct pcf_binrow_col cols[2] = { INT4, TEXT };

	return pcf_binrow_new(PCF_BINROW_CSV, d, null, cols, 2, eol);
}

static void test_split_and_bytes(void **state)
{
	struct pcf_binrow *b = two(PCF_DIALECT_CSV, NULL, PCF_EOL_NL);

	(void)state;
	/* 2 fields; int4 7; text "ab" */
	expect(b, "7,ab\n", 0, "0002" "00000004" "00000007" "00000002" "6162");
	/* unquoted empty: NULL; quoted empty: the empty string */
	expect(b, ",\"\"\n", 0, "0002" "ffffffff" "00000000");
	/* a doubled quote inside quotes; a delimiter and a line end quoted */
	expect(b, "1,\"a\"\"b,\nc\"\n", 0,
	       "0002" "00000004" "00000001" "00000006" "612262" "2c0a63");
	/* a quote opens quoting anywhere in a field, as COPY's reader does */
	expect(b, "1,a\"b,c\"d\n", 0,
	       "0002" "00000004" "00000001" "00000005" "61622c6364");
	/* the stream's last record may have no line end */
	expect(b, "1,x", 1, "0002" "00000004" "00000001" "00000001" "78");
	expect(b, "1,x", 0, "-");
	/* spaces are data in CSV: int4 refuses them, text keeps them */
	expect(b, " 1,x\n", 0, "-");
	expect(b, "1, x \n", 0,
	       "0002" "00000004" "00000001" "00000003" "207820");
	pcf_binrow_free(b);
}

static void test_not_certain(void **state)
{
	struct pcf_binrow *b = two(PCF_DIALECT_CSV, NULL, PCF_EOL_NL);
	struct pcf_binrow *crlf = two(PCF_DIALECT_CSV, NULL, PCF_EOL_CRLF);

	(void)state;
	expect(b, "1\n", 0, "-");          /* missing data for a column */
	expect(b, "1,a,b\n", 0, "-");      /* extra data */
	expect(b, "1,\"open\n", 0, "-");   /* an open quote */
	expect(b, "1,a\r\n", 0, "-");      /* \r\n where the COPY has \n */
	expect(b, "1,a\r", 0, "-");        /* a lone \r */
	expect(b, "x,a\n", 0, "-");        /* not an int4 */
	expect(b, "1,\xff\n", 0, "-");     /* not UTF-8 */
	expect(crlf, "1,a\r\n", 0, "0002" "00000004" "00000001" "00000001" "61");
	expect(crlf, "1,a\n", 0, "-");
	pcf_binrow_free(b);
	pcf_binrow_free(crlf);
}

static void test_dialect_and_null(void **state)
{
	struct pcf_dialect d = { ';', '\'', '\\' };
	struct pcf_binrow *b = two(d, "NULL", PCF_EOL_NL);

	(void)state;
	expect(b, "NULL;NULL\n", 0, "0002" "ffffffff" "ffffffff");
	/* quoted, the null string is text */
	expect(b, "1;'NULL'\n", 0,
	       "0002" "00000004" "00000001" "00000004" "4e554c4c");
	/* the escape counts inside quotes only, before a quote or itself */
	expect(b, "1;'a\\'b\\\\c\\d'\n", 0,
	       "0002" "00000004" "00000001" "00000007" "6127625c635c64");
	expect(b, "1;a\\b\n", 0,
	       "0002" "00000004" "00000001" "00000003" "615c62");
	/* the empty unquoted field is not NULL here: for int4 not certain */
	expect(b, ";x\n", 0, "-");
	pcf_binrow_free(b);
}

static void test_typmod_limits(void **state)
{
	struct pcf_binrow_col vc = { PCF_BIN_TEXT, 3, -1, -1, 0 };
	struct pcf_binrow_col nm = { PCF_BIN_TEXT, -1, 4, -1, 0 };
	struct pcf_binrow_col num = { PCF_BIN_NUMERIC, -1, -1, 2, 0 };
	struct pcf_binrow *v = pcf_binrow_new(PCF_BINROW_CSV, PCF_DIALECT_CSV, NULL, &vc, 1,
					      PCF_EOL_NL);
	struct pcf_binrow *n = pcf_binrow_new(PCF_BINROW_CSV, PCF_DIALECT_CSV, NULL, &nm, 1,
					      PCF_EOL_NL);
	struct pcf_binrow *m = pcf_binrow_new(PCF_BINROW_CSV, PCF_DIALECT_CSV, NULL, &num, 1,
					      PCF_EOL_NL);

	(void)state;
	/* varchar(3): characters, not bytes */
	expect(v, "h\xc3\xa9y\n", 0, "0001" "00000004" "68c3a979");
	expect(v, "abcd\n", 0, "-");
	/* name: bytes (namerecv refuses what namein would cut) */
	expect(n, "abcd\n", 0, "0001" "00000004" "61626364");
	expect(n, "abcde\n", 0, "-");
	/* numeric(4,2): fewer than 2 integer digits, so rounding cannot
	 * overflow; leading zeros do not count; NaN fits */
	expect(m, "9.999\n", 0, "0001" "0000000c" "0002000000000003" "00092706");
	expect(m, "009.5\n", 0, "0001" "0000000c" "0002000000000001" "00091388");
	expect(m, "10.5\n", 0, "-");
	expect(m, "-99\n", 0, "-");
	expect(m, "NaN\n", 0, "0001" "00000008" "000000" "00c0000000");
	pcf_binrow_free(v);
	pcf_binrow_free(n);
	pcf_binrow_free(m);
}

static void test_text_format(void **state)
{
	struct pcf_dialect tab = { '\t', 0, 0 };
	struct pcf_binrow_col cols[2] = { INT4, TEXT };
	struct pcf_binrow *b = pcf_binrow_new(PCF_BINROW_TEXT, tab, NULL, cols, 2,
					      PCF_EOL_NL);
	struct pcf_binrow *n = pcf_binrow_new(PCF_BINROW_TEXT, tab, "", cols, 2,
					      PCF_EOL_NL);

	(void)state;
	expect(b, "7\tab\n", 0, "0002" "00000004" "00000007" "00000002" "6162");
	/* \N is NULL; \\N is the text \N; an empty field is the empty
	 * string */
	expect(b, "\\N\t\\\\N\n", 0, "0002" "ffffffff" "00000002" "5c4e");
	expect(b, "1\t\n", 0, "0002" "00000004" "00000001" "00000000");
	/* escapes: \t \n \101 (octal) \x41 (hex) \q (itself), and an
	 * escaped tab is data, not a delimiter */
	expect(b, "1\ta\\tb\\nc\\101\\x41\\q\\\td\n", 0,
	       "0002" "00000004" "00000001" "0000000a" "6109620a634141710964");
	/* a decoded value is checked as any other: \xff is not UTF-8 */
	expect(b, "1\t\\xff\n", 0, "-");
	/* a backslash ending the line, and a field too many */
	expect(b, "1\ta\\\n", 0, "-");
	expect(b, "1\ta\tb\n", 0, "-");
	/* -o null='': the raw empty field is NULL */
	expect(n, "1\t\n", 0, "0002" "00000004" "00000001" "ffffffff");
	pcf_binrow_free(b);
	pcf_binrow_free(n);
}

static void test_timestamptz_in_utc(void **state)
{
	struct pcf_binrow_col tz = { PCF_BIN_TIMESTAMPTZ, -1, -1, -1, 0 };
	struct pcf_binrow_col tzu = { PCF_BIN_TIMESTAMPTZ, -1, -1, -1, 1 };
	struct pcf_binrow *b = pcf_binrow_new(PCF_BINROW_CSV, PCF_DIALECT_CSV,
					      NULL, &tz, 1, PCF_EOL_NL);
	struct pcf_binrow *u = pcf_binrow_new(PCF_BINROW_CSV, PCF_DIALECT_CSV,
					      NULL, &tzu, 1, PCF_EOL_NL);

	(void)state;
	/* 2000-01-01 00:00:01 UTC: one second after the epoch of the type */
	expect(b, "2000-01-01 00:00:01\n", 0, "-");
	expect(b, "2000-01-01 00:00:01+00\n", 0, "0001" "00000008" "00000000000f4240");
	expect(u, "2000-01-01 00:00:01\n", 0, "0001" "00000008" "00000000000f4240");
	expect(u, "2000-01-01 02:00:01+02\n", 0, "0001" "00000008" "00000000000f4240");
	pcf_binrow_free(b);
	pcf_binrow_free(u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_and_bytes),
		cmocka_unit_test(test_not_certain),
		cmocka_unit_test(test_dialect_and_null),
		cmocka_unit_test(test_typmod_limits),
		cmocka_unit_test(test_text_format),
		cmocka_unit_test(test_timestamptz_in_utc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
