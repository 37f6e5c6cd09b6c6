/*
 * test_escape.c - values made safe for logs, logfmt and JSON.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pgcopyfs.h"

#define IN(s) s, sizeof(s) - 1

static void check(const char *in, size_t len, enum pcf_escape_mode m,
		  const char *want)
{
	char out[256];
	size_t need = pcf_escape(out, sizeof(out), in, len, m);

	assert_string_equal(out, want);
	assert_int_equal(need, strlen(want));
}

static void test_plain_text_is_kept(void **state)
{
	(void)state;
	check(IN("public.events"), PCF_ESC_LOG, "public.events");
	check(IN("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), PCF_ESC_JSON,
	      "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
}

static void test_control_bytes_cannot_end_a_line(void **state)
{
	(void)state;
	check(IN("x\nid=999 outcome=committed"), PCF_ESC_LOGFMT,
	      "x\\nid=999 outcome=committed");
	check(IN("a\rb\tc\x01\x7f"), PCF_ESC_LOG, "a\\rb\\tc\\x01\\x7f");
	check(IN("a\x01"), PCF_ESC_JSON, "a\\u0001");
}

static void test_quotes_and_backslashes(void **state)
{
	(void)state;
	check(IN("say \"hi\" \\ bye"), PCF_ESC_LOGFMT, "say \\\"hi\\\" \\\\ bye");
	check(IN("say \"hi\""), PCF_ESC_LOG, "say \"hi\"");
	check(IN("a\\b"), PCF_ESC_JSON, "a\\\\b");
}

static void test_invalid_utf8_is_escaped(void **state)
{
	(void)state;
	/* LATIN1 é, a lone continuation byte, an overlong '/', a surrogate,
	 * a sequence cut short at the end */
	check(IN("caf\xe9"), PCF_ESC_LOGFMT, "caf\\xe9");
	check(IN("caf\xe9"), PCF_ESC_JSON, "caf\\u00e9");
	check(IN("\x80"), PCF_ESC_LOG, "\\x80");
	check(IN("\xc0\xaf"), PCF_ESC_LOG, "\\xc0\\xaf");
	check(IN("\xed\xa0\x80"), PCF_ESC_LOG, "\\xed\\xa0\\x80");
	check(IN("\xe2\x82"), PCF_ESC_LOG, "\\xe2\\x82");
}

static void test_cut_to_the_buffer(void **state)
{
	char out[8];
	size_t need;

	(void)state;
	need = pcf_escape(out, sizeof(out), IN("abcdefghij"), PCF_ESC_LOG);
	assert_int_equal(need, 10);
	assert_string_equal(out, "abcdefg");
	/* an escape is never cut in half */
	need = pcf_escape(out, sizeof(out), IN("abcde\n"), PCF_ESC_LOG);
	assert_int_equal(need, 7);
	assert_string_equal(out, "abcde\\n");
	need = pcf_escape(out, sizeof(out), IN("abcdef\nX"), PCF_ESC_LOG);
	assert_string_equal(out, "abcdef");
}

static void cut(const char *in, const char *want)
{
	char out[256];

	pcf_cut_row_echo(in, out, sizeof(out));
	assert_string_equal(out, want);
}

static void test_row_echo_cut_wherever_it_stands(void **state)
{
	(void)state;
	cut("COPY t, line 2: \"-1,card 4111\"", "COPY t, line 2");
	cut("COPY t, line 2, column n: \"x\"", "COPY t, line 2, column n");
	cut("PL/pgSQL function f() line 3 at RAISE\nCOPY trg_t, line 2: \"-1,card 4111-1111\"",
	    "PL/pgSQL function f() line 3 at RAISE\nCOPY trg_t, line 2");
	cut("remote SQL command: INSERT INTO t VALUES ($1)\nCOPY sh, line 9: \"secret\"",
	    "remote SQL command: INSERT INTO t VALUES ($1)\nCOPY sh, line 9");
	cut("COPY t, line 1", "COPY t, line 1");
	cut("SQL statement \"INSERT ...\"", "SQL statement \"INSERT ...\"");
	cut("", "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_text_is_kept),
		cmocka_unit_test(test_control_bytes_cannot_end_a_line),
		cmocka_unit_test(test_quotes_and_backslashes),
		cmocka_unit_test(test_invalid_utf8_is_escaped),
		cmocka_unit_test(test_cut_to_the_buffer),
		cmocka_unit_test(test_row_echo_cut_wherever_it_stands),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
