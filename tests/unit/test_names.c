/*
 * test_names.c - schema/table names as file names: pcf_name_escape and its
 * inverse pcf_name_unescape, which must map names and file names 1:1 (a
 * file name that escape could not have made is no table).
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

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define IN(s) s, sizeof(s) - 1

/* PostgreSQL's NAMEDATALEN - 1: the longest schema or table name. */
#define PG_NAME_MAX 63

/*
 * Escapes name, checks the result against want (when not NULL), unescapes
 * it again and checks that gives name back. Both directions run on buffers
 * of exactly the needed size, so a one-byte overrun shows under ASan.
 */
static void round_trip(const char *name, const char *want)
{
	char esc[3 * 256 + 1];
	ssize_t n = pcf_name_escape(name, esc, sizeof(esc));
	char *exact, *back;

	if (n < 0)
		fail_msg("escape(\"%s\") failed: %zd", name, n);
	assert_int_equal((size_t)n, strlen(esc));
	if (want && strcmp(esc, want) != 0)
		fail_msg("escape(\"%s\") = \"%s\", expected \"%s\"", name, esc,
			 want);
	assert_null(strchr(esc, '/'));
	assert_true(esc[0] != '.');

	exact = malloc((size_t)n + 1);
	assert_non_null(exact);
	assert_int_equal(pcf_name_escape(name, exact, (size_t)n + 1), n);
	assert_string_equal(exact, esc);
	assert_int_equal(pcf_name_escape(name, exact, (size_t)n),
			 -ENAMETOOLONG);
	free(exact);

	back = malloc(strlen(name) + 1);
	assert_non_null(back);
	assert_int_equal(pcf_name_unescape(esc, (size_t)n, back,
					   strlen(name) + 1),
			 (ssize_t)strlen(name));
	assert_string_equal(back, name);
	assert_int_equal(pcf_name_unescape(esc, (size_t)n, back, strlen(name)),
			 -ENAMETOOLONG);
	free(back);
}

static void test_names_plain(void **state)
{
	(void)state;
	round_trip("posts", "posts");
	round_trip("My Table", "My Table");
	round_trip("a.b", "a.b");
	round_trip("trailing.", "trailing.");
	round_trip("x", "x");
}

static void test_names_slash_percent(void **state)
{
	(void)state;
	round_trip("a/b", "a%2Fb");
	round_trip("/", "%2F");
	round_trip("//", "%2F%2F");
	round_trip("100%", "100%25");
	round_trip("%", "%25");
	/* a name that looks escaped already is escaped again */
	round_trip("%2F", "%252F");
	round_trip("%41", "%2541");
	round_trip("a%/b", "a%25%2Fb");
}

static void test_names_leading_dot(void **state)
{
	(void)state;
	round_trip(".", "%2E");
	round_trip("..", "%2E.");
	round_trip(".hidden", "%2Ehidden");
	round_trip("./x", "%2E%2Fx");
	round_trip("...", "%2E..");
}

static void test_names_unicode(void **state)
{
	(void)state;
	round_trip("caf\xC3\xA9", "caf\xC3\xA9");
	round_trip("\xE6\x97\xA5\xE6\x9C\xAC/\xE8\xAA\x9E",
		   "\xE6\x97\xA5\xE6\x9C\xAC%2F\xE8\xAA\x9E");
	round_trip("\xF0\x9F\x90\x98", "\xF0\x9F\x90\x98");
	/* bytes that are no valid UTF-8 are still kept as they are */
	round_trip("\xFF\xFE", "\xFF\xFE");
	round_trip("\x01\x7F", "\x01\x7F");
}

static void test_names_longest(void **state)
{
	char name[PG_NAME_MAX + 1];

	(void)state;
	memset(name, 'n', PG_NAME_MAX);
	name[PG_NAME_MAX] = '\0';
	round_trip(name, name);

	/* the worst case: every byte escaped, 3 * 63 = 189 bytes, within
	 * NAME_MAX (255) */
	memset(name, '/', PG_NAME_MAX);
	round_trip(name, NULL);
	memset(name, '%', PG_NAME_MAX);
	name[0] = '.';
	round_trip(name, NULL);
	{
		char esc[256];

		assert_int_equal(pcf_name_escape(name, esc, sizeof(esc)),
				 3 * PG_NAME_MAX);
	}
}

/* What unescape must refuse: every file name escape could not have made. */
static void test_unescape_rejects(void **state)
{
	static const struct {
		const char *in;
		size_t len;
	} bad[] = {
		{ IN("") },
		{ IN("a%2f") },   /* lowercase hex */
		{ IN("%2e") },
		{ IN("%G1") },    /* not hex */
		{ IN("%1G") },
		{ IN("%-1") },
		{ IN("% 2F") },
		{ IN("%") },      /* '%' at the end */
		{ IN("ab%") },
		{ IN("ab%2") },
		{ IN("%41") },    /* 'A' is never escaped */
		{ IN("%20") },
		{ IN("%00") },    /* NUL is no name byte */
		{ IN("a%2E") },   /* only a leading '.' is escaped */
		{ IN(".x") },     /* a raw leading '.' */
		{ IN(".") },
		{ IN("..") },
		{ IN("a/b") },    /* a raw '/' */
		{ IN("a\0b") },   /* a raw NUL */
	};
	char out[64];

	(void)state;
	for (size_t i = 0; i < NELEM(bad); i++) {
		ssize_t n = pcf_name_unescape(bad[i].in, bad[i].len, out,
					      sizeof(out));

		if (n != -ENOENT)
			fail_msg("unescape(\"%.*s\") = %zd, expected -ENOENT",
				 (int)bad[i].len, bad[i].in, n);
	}
}

/* Unescape reads in[0..len) only: a terminating NUL is not required. */
static void test_unescape_len_bound(void **state)
{
	char out[16];

	(void)state;
	assert_int_equal(pcf_name_unescape("abc%2Fdef", 3, out, sizeof(out)),
			 3);
	assert_string_equal(out, "abc");
	/* "%2" cut before its second digit is refused, not read past */
	assert_int_equal(pcf_name_unescape("a%2F", 3, out, sizeof(out)),
			 -ENOENT);
}

static void test_names_too_long(void **state)
{
	char out[8];

	(void)state;
	/* the NUL needs room too */
	assert_int_equal(pcf_name_escape("abc", out, 4), 3);
	assert_int_equal(pcf_name_escape("abc", out, 3), -ENAMETOOLONG);
	assert_int_equal(pcf_name_escape("/", out, 4), 3);
	assert_int_equal(pcf_name_escape("/", out, 3), -ENAMETOOLONG);
	assert_int_equal(pcf_name_escape("/", out, 1), -ENAMETOOLONG);
	assert_int_equal(pcf_name_escape("a", out, 0), -ENAMETOOLONG);
	assert_int_equal(pcf_name_escape("", out, 0), -ENAMETOOLONG);
	assert_int_equal(pcf_name_escape("", out, 1), 0);
	assert_string_equal(out, "");

	assert_int_equal(pcf_name_unescape("abc", 3, out, 4), 3);
	assert_int_equal(pcf_name_unescape("abc", 3, out, 3), -ENAMETOOLONG);
	assert_int_equal(pcf_name_unescape("%2F", 3, out, 2), 1);
	assert_int_equal(pcf_name_unescape("%2F", 3, out, 1), -ENAMETOOLONG);
	assert_int_equal(pcf_name_unescape("a", 1, out, 0), -ENAMETOOLONG);
}

/* Neither function writes past outlen, even when it fails. */
static void test_names_no_overrun(void **state)
{
	char buf[16];

	(void)state;
	for (size_t outlen = 0; outlen < 12; outlen++) {
		memset(buf, 'Z', sizeof(buf));
		(void)pcf_name_escape("ab/%cd.ef", buf, outlen);
		for (size_t k = outlen; k < sizeof(buf); k++)
			assert_int_equal(buf[k], 'Z');
		memset(buf, 'Z', sizeof(buf));
		(void)pcf_name_unescape(IN("%2Eab%2F%25cd"), buf, outlen);
		for (size_t k = outlen; k < sizeof(buf); k++)
			assert_int_equal(buf[k], 'Z');
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_plain),
		cmocka_unit_test(test_names_slash_percent),
		cmocka_unit_test(test_names_leading_dot),
		cmocka_unit_test(test_names_unicode),
		cmocka_unit_test(test_names_longest),
		cmocka_unit_test(test_unescape_rejects),
		cmocka_unit_test(test_unescape_len_bound),
		cmocka_unit_test(test_names_too_long),
		cmocka_unit_test(test_names_no_overrun),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
