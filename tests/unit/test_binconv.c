/*
 * test_binconv.c - text to binary COPY fields (fs/binconv.c): the bytes of
 * the server's send functions for spellings taken, and "not certain" (-1)
 * for everything the server reads differently across versions or settings,
 * refuses, or that is out of range. tests/it/binconv.sh checks the same
 * against a real server.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "binconv.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

struct ok_case {
	enum pcf_bin_type t;
	const char *in;
	const char *hex; /* the send function's bytes */
};

static void hexof(const unsigned char *b, ssize_t n, char *out)
{
	for (ssize_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
	out[2 * (n > 0 ? n : 0)] = '\0';
}

static void expect_bytes(enum pcf_bin_type t, const char *in, const char *hex)
{
	unsigned char out[64];
	char got[130];
	ssize_t n = pcf_bin_convert(t, in, strlen(in), out, sizeof(out));

	if (n < 0)
		fail_msg("type %d '%s': not converted, expected %s", t, in, hex);
	hexof(out, n, got);
	if (strcmp(got, hex) != 0)
		fail_msg("type %d '%s': %s, expected %s", t, in, got, hex);
}

static void expect_refused(enum pcf_bin_type t, const char *in)
{
	unsigned char out[64];
	ssize_t n = pcf_bin_convert(t, in, strlen(in), out, sizeof(out));

	if (n >= 0)
		fail_msg("type %d '%s': converted (%zd bytes), expected -1", t, in, n);
}

static void test_integers(void **state)
{
	(void)state;
	static const struct ok_case ok[] = {
		{ PCF_BIN_INT2, "0", "0000" },
		{ PCF_BIN_INT2, "-1", "ffff" },
		{ PCF_BIN_INT2, "+7", "0007" },
		{ PCF_BIN_INT2, "007", "0007" },
		{ PCF_BIN_INT2, "32767", "7fff" },
		{ PCF_BIN_INT2, "-32768", "8000" },
		{ PCF_BIN_INT4, "2147483647", "7fffffff" },
		{ PCF_BIN_INT4, "-2147483648", "80000000" },
		{ PCF_BIN_INT4, "-0", "00000000" },
		{ PCF_BIN_INT4, "123456", "0001e240" },
		{ PCF_BIN_INT8, "9223372036854775807", "7fffffffffffffff" },
		{ PCF_BIN_INT8, "-9223372036854775808", "8000000000000000" },
		{ PCF_BIN_INT8, "00000000000000000000000042", "000000000000002a" },
	};
	static const struct { enum pcf_bin_type t; const char *in; } no[] = {
		{ PCF_BIN_INT2, "32768" },  { PCF_BIN_INT2, "-32769" },
		{ PCF_BIN_INT4, "2147483648" }, { PCF_BIN_INT4, "-2147483649" },
		{ PCF_BIN_INT8, "9223372036854775808" },
		{ PCF_BIN_INT8, "-9223372036854775809" },
		{ PCF_BIN_INT8, "99999999999999999999999" },
		{ PCF_BIN_INT4, "" },       { PCF_BIN_INT4, "-" },
		{ PCF_BIN_INT4, "+" },      { PCF_BIN_INT4, " 1" },
		{ PCF_BIN_INT4, "1 " },     { PCF_BIN_INT4, "1_000" },
		{ PCF_BIN_INT4, "0x1F" },   { PCF_BIN_INT4, "1.0" },
		{ PCF_BIN_INT4, "1e3" },    { PCF_BIN_INT4, "--1" },
		{ PCF_BIN_INT4, "\xd9\xa1" }, /* an Arabic-Indic digit */
	};
	for (size_t i = 0; i < NELEM(ok); i++)
		expect_bytes(ok[i].t, ok[i].in, ok[i].hex);
	for (size_t i = 0; i < NELEM(no); i++)
		expect_refused(no[i].t, no[i].in);
}

static void test_floats(void **state)
{
	(void)state;
	static const struct ok_case ok[] = {
		{ PCF_BIN_FLOAT8, "0", "0000000000000000" },
		{ PCF_BIN_FLOAT8, "-0", "8000000000000000" },
		{ PCF_BIN_FLOAT8, "1.5", "3ff8000000000000" },
		{ PCF_BIN_FLOAT8, "0.1", "3fb999999999999a" },
		{ PCF_BIN_FLOAT8, ".5", "3fe0000000000000" },
		{ PCF_BIN_FLOAT8, "5.", "4014000000000000" },
		{ PCF_BIN_FLOAT8, "1e308", "7fe1ccf385ebc8a0" },
		{ PCF_BIN_FLOAT8, "-2.5E-3", "bf647ae147ae147b" },
		{ PCF_BIN_FLOAT8, "NaN", "7ff8000000000000" },
		{ PCF_BIN_FLOAT8, "nan", "7ff8000000000000" },
		{ PCF_BIN_FLOAT8, "Infinity", "7ff0000000000000" },
		{ PCF_BIN_FLOAT8, "+INFINITY", "7ff0000000000000" },
		{ PCF_BIN_FLOAT8, "-Infinity", "fff0000000000000" },
		{ PCF_BIN_FLOAT4, "1.5", "3fc00000" },
		{ PCF_BIN_FLOAT4, "0.1", "3dcccccd" },
		{ PCF_BIN_FLOAT4, "-Infinity", "ff800000" },
		{ PCF_BIN_FLOAT4, "NaN", "7fc00000" },
		{ PCF_BIN_FLOAT4, "3.4028235e38", "7f7fffff" },
	};
	static const struct { enum pcf_bin_type t; const char *in; } no[] = {
		{ PCF_BIN_FLOAT8, "1e309" },   /* out of range: the server says so */
		{ PCF_BIN_FLOAT8, "1e-400" },  /* underflow to 0 */
		{ PCF_BIN_FLOAT8, "4.9e-324" }, /* subnormal: ERANGE, left to the server */
		{ PCF_BIN_FLOAT4, "1e39" },
		{ PCF_BIN_FLOAT8, "" },        { PCF_BIN_FLOAT8, "." },
		{ PCF_BIN_FLOAT8, "e5" },      { PCF_BIN_FLOAT8, "1e" },
		{ PCF_BIN_FLOAT8, "1e+" },     { PCF_BIN_FLOAT8, " 1" },
		{ PCF_BIN_FLOAT8, "1 " },      { PCF_BIN_FLOAT8, "0x1p3" },
		{ PCF_BIN_FLOAT8, "inf" },     { PCF_BIN_FLOAT8, "-nan" },
		{ PCF_BIN_FLOAT8, "1,5" },     { PCF_BIN_FLOAT8, "Infinityx" },
	};
	for (size_t i = 0; i < NELEM(ok); i++)
		expect_bytes(ok[i].t, ok[i].in, ok[i].hex);
	for (size_t i = 0; i < NELEM(no); i++)
		expect_refused(no[i].t, no[i].in);
}

static void test_bool(void **state)
{
	(void)state;
	const char *yes[] = { "t", "T", "tr", "tru", "true", "TRUE", "y", "ye",
			      "yes", "YeS", "on", "ON", "1" };
	const char *no_[] = { "f", "fa", "fal", "fals", "false", "FALSE", "n",
			      "no", "NO", "of", "off", "OFF", "0" };
	const char *bad[] = { "", "o", "truee", "yess", "offf", "2", "10", "00",
			      " t", "t ", "yes!", "nope" };

	for (size_t i = 0; i < NELEM(yes); i++)
		expect_bytes(PCF_BIN_BOOL, yes[i], "01");
	for (size_t i = 0; i < NELEM(no_); i++)
		expect_bytes(PCF_BIN_BOOL, no_[i], "00");
	for (size_t i = 0; i < NELEM(bad); i++)
		expect_refused(PCF_BIN_BOOL, bad[i]);
}

static void test_uuid(void **state)
{
	(void)state;
	const char *want = "a0eebc999c0b4ef8bb6d6bb9bd380a11";
	const char *same[] = {
		"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
		"A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
		"{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}",
		"a0eebc999c0b4ef8bb6d6bb9bd380a11",
		"a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11",
		"{a0eebc999c0b4ef8bb6d6bb9bd380a11}",
	};
	const char *bad[] = {
		"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1",   /* short */
		"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a111", /* long */
		"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11-", /* a trailing hyphen */
		"a0eeb-c99-9c0b-4ef8-bb6d-6bb9bd380a11", /* a hyphen mid-group */
		"{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",  /* one brace */
		"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}",
		"g0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
		"a0eebc99--9c0b-4ef8-bb6d-6bb9bd380a11",
		"", " a0eebc999c0b4ef8bb6d6bb9bd380a11",
	};

	for (size_t i = 0; i < NELEM(same); i++)
		expect_bytes(PCF_BIN_UUID, same[i], want);
	for (size_t i = 0; i < NELEM(bad); i++)
		expect_refused(PCF_BIN_UUID, bad[i]);
}

static void test_text(void **state)
{
	(void)state;
	unsigned char out[8];

	expect_bytes(PCF_BIN_TEXT, "", "");
	expect_bytes(PCF_BIN_TEXT, "a,b\"c", "612c622263");
	expect_bytes(PCF_BIN_TEXT, "\xc3\xa9\xf0\x9f\x98\x80", "c3a9f09f9880");
	expect_bytes(PCF_BIN_TEXT, "\xf4\x8f\xbf\xbf", "f48fbfbf"); /* U+10FFFF */
	expect_refused(PCF_BIN_TEXT, "\xc3");             /* cut short */
	expect_refused(PCF_BIN_TEXT, "\xc0\xaf");         /* overlong / */
	expect_refused(PCF_BIN_TEXT, "\xe0\x80\xaf");     /* overlong / */
	expect_refused(PCF_BIN_TEXT, "\xed\xa0\x80");     /* a surrogate */
	expect_refused(PCF_BIN_TEXT, "\xf4\x90\x80\x80"); /* past U+10FFFF */
	expect_refused(PCF_BIN_TEXT, "\xe9t\xe9");        /* LATIN1 */
	assert_int_equal(pcf_bin_convert(PCF_BIN_TEXT, "a\0b", 3, out, sizeof(out)), -1);
	/* a buffer too small is "not certain", never an overrun */
	assert_int_equal(pcf_bin_convert(PCF_BIN_TEXT, "abcdefghi", 9, out, 8), -1);
	assert_int_equal(pcf_bin_convert(PCF_BIN_INT8, "1", 1, out, 8), -1);
}

static void test_dates_and_timestamps(void **state)
{
	(void)state;
	static const struct ok_case ok[] = {
		{ PCF_BIN_DATE, "2000-01-01", "00000000" },
		{ PCF_BIN_DATE, "2000-01-02", "00000001" },
		{ PCF_BIN_DATE, "1999-12-31", "ffffffff" },
		{ PCF_BIN_DATE, "1970-01-01", "ffffd533" },
		{ PCF_BIN_DATE, "2000-02-29", "0000003b" },
		{ PCF_BIN_TIMESTAMP, "2000-01-01 00:00:00", "0000000000000000" },
		{ PCF_BIN_TIMESTAMP, "2000-01-01T00:00:01", "00000000000f4240" },
		{ PCF_BIN_TIMESTAMP, "2000-01-01 00:00", "0000000000000000" },
		{ PCF_BIN_TIMESTAMP, "2000-01-01 00:00:00.5", "000000000007a120" },
		{ PCF_BIN_TIMESTAMP, "2000-01-01 00:00:00.000001", "0000000000000001" },
		{ PCF_BIN_TIMESTAMP, "1999-12-31 23:59:59", "fffffffffff0bdc0" },
		{ PCF_BIN_TIMESTAMPTZ, "2000-01-01 02:00:00+02", "0000000000000000" },
		{ PCF_BIN_TIMESTAMPTZ, "2000-01-01 02:00:00+02:00", "0000000000000000" },
		{ PCF_BIN_TIMESTAMPTZ, "1999-12-31 19:30:00-0430", "0000000000000000" },
		{ PCF_BIN_TIMESTAMPTZ, "2000-01-01 00:00:00Z", "0000000000000000" },
		{ PCF_BIN_TIMESTAMPTZ, "2000-01-01T00:00:01z", "00000000000f4240" },
		/* timestamp_in reads an offset and ignores it */
		{ PCF_BIN_TIMESTAMP, "2000-01-01 00:00:00+02", "0000000000000000" },
		{ PCF_BIN_TIMESTAMP, "2000-01-01 00:00:01Z", "00000000000f4240" },
		{ PCF_BIN_BYTEA, "\\x", "" },
		{ PCF_BIN_BYTEA, "\\xDEADbeef", "deadbeef" },
	};
	static const struct { enum pcf_bin_type t; const char *in; } no[] = {
		{ PCF_BIN_DATE, "2001-02-29" }, { PCF_BIN_DATE, "2000-13-01" },
		{ PCF_BIN_DATE, "2000-00-10" }, { PCF_BIN_DATE, "2000-01-32" },
		{ PCF_BIN_DATE, "0000-01-01" }, { PCF_BIN_DATE, "01/02/2003" },
		{ PCF_BIN_DATE, "2000-1-1" },   { PCF_BIN_DATE, "infinity" },
		{ PCF_BIN_DATE, "2000-01-01 BC" }, { PCF_BIN_DATE, " 2000-01-01" },
		{ PCF_BIN_DATE, "12000-01-01" }, { PCF_BIN_DATE, "2000-01-01 00:00" },
		{ PCF_BIN_TIMESTAMP, "2000-01-01" },            /* the server: midnight */
		{ PCF_BIN_TIMESTAMP, "2000-01-01 24:00:00" },
		{ PCF_BIN_TIMESTAMP, "2000-01-01 23:59:60" },
		{ PCF_BIN_TIMESTAMP, "2000-01-01 00:00:00.1234567" }, /* rounded there */
		{ PCF_BIN_TIMESTAMP, "2000-01-01 00:00:00+16" }, /* refused there */
		{ PCF_BIN_TIMESTAMP, "2000-01-01 00:00:00 Z" },
		{ PCF_BIN_TIMESTAMP, "2000-01-01 00:00:00." },
		{ PCF_BIN_TIMESTAMP, "2000-01-01 0:00:00" },
		{ PCF_BIN_TIMESTAMPTZ, "2000-01-01 00:00:00" }, /* TimeZone decides */
		{ PCF_BIN_TIMESTAMPTZ, "2000-01-01 00:00:00 UTC" },
		{ PCF_BIN_TIMESTAMPTZ, "2000-01-01 00:00:00 Z" },
		{ PCF_BIN_TIMESTAMPTZ, "2000-01-01 00:00:00Zulu" },
		{ PCF_BIN_TIMESTAMPTZ, "2000-01-01 00:00:00+2" },
		{ PCF_BIN_TIMESTAMPTZ, "2000-01-01 00:00:00+02:00:00" },
		{ PCF_BIN_TIMESTAMPTZ, "2000-01-01 00:00:00+16" },
		{ PCF_BIN_BYTEA, "\\x1" },     { PCF_BIN_BYTEA, "\\xzz" },
		{ PCF_BIN_BYTEA, "\\x12 34" }, { PCF_BIN_BYTEA, "abc" },
		{ PCF_BIN_BYTEA, "\\X12" },
	};
	for (size_t i = 0; i < NELEM(ok); i++)
		expect_bytes(ok[i].t, ok[i].in, ok[i].hex);
	for (size_t i = 0; i < NELEM(no); i++)
		expect_refused(no[i].t, no[i].in);
}

static void test_numeric(void **state)
{
	(void)state;
	static const struct ok_case ok[] = {
		/* ndigits, weight, sign, dscale, base-10000 digits */
		{ PCF_BIN_NUMERIC, "0", "0000000000000000" },
		{ PCF_BIN_NUMERIC, "-0.00", "0000000000000002" },
		{ PCF_BIN_NUMERIC, "123.4500", "0002000000000004007b1194" },
		{ PCF_BIN_NUMERIC, "-0.0001", "0001ffff400000040001" },
		{ PCF_BIN_NUMERIC, "10000", "00010001000000000001" },
		{ PCF_BIN_NUMERIC, "+00012.5", "0002000000000001000c1388" },
		{ PCF_BIN_NUMERIC, ".5", "0001ffff000000011388" },
		{ PCF_BIN_NUMERIC, "5.", "00010000000000000005" },
		{ PCF_BIN_NUMERIC, "NaN", "00000000c0000000" },
	};
	static const struct { enum pcf_bin_type t; const char *in; } no[] = {
		{ PCF_BIN_NUMERIC, "" }, { PCF_BIN_NUMERIC, "." },
		{ PCF_BIN_NUMERIC, "-" }, { PCF_BIN_NUMERIC, "1e5" },
		{ PCF_BIN_NUMERIC, "Infinity" }, { PCF_BIN_NUMERIC, " 1" },
		{ PCF_BIN_NUMERIC, "1,5" }, { PCF_BIN_NUMERIC, "1_000" },
		{ PCF_BIN_NUMERIC, "0x10" },
	};
	for (size_t i = 0; i < NELEM(ok); i++)
		expect_bytes(ok[i].t, ok[i].in, ok[i].hex);
	for (size_t i = 0; i < NELEM(no); i++)
		expect_refused(no[i].t, no[i].in);
}

static void test_types_by_name(void **state)
{
	(void)state;
	assert_int_equal(pcf_bin_type_of("int4"), PCF_BIN_INT4);
	assert_int_equal(pcf_bin_type_of("varchar"), PCF_BIN_TEXT);
	assert_int_equal(pcf_bin_type_of("bpchar"), PCF_BIN_TEXT);
	assert_int_equal(pcf_bin_type_of("numeric"), PCF_BIN_NUMERIC);
	assert_int_equal(pcf_bin_type_of("timestamptz"), PCF_BIN_TIMESTAMPTZ);
	assert_int_equal(pcf_bin_type_of("jsonb"), PCF_BIN_JSONB);
	assert_int_equal(pcf_bin_type_of("json"), PCF_BIN_JSON);
	assert_int_equal(pcf_bin_type_of("interval"), PCF_BIN_NONE);
	expect_bytes(PCF_BIN_JSONB, "{\"a\":1}", "017b2261223a317d");
	expect_bytes(PCF_BIN_JSON, "[1]", "5b315d");
	expect_refused(PCF_BIN_JSONB, "\xff");
	assert_int_equal(pcf_bin_type_of("Int4"), PCF_BIN_NONE);
	expect_refused(PCF_BIN_NONE, "1");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_integers),
		cmocka_unit_test(test_floats),
		cmocka_unit_test(test_bool),
		cmocka_unit_test(test_uuid),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_dates_and_timestamps),
		cmocka_unit_test(test_numeric),
		cmocka_unit_test(test_types_by_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
