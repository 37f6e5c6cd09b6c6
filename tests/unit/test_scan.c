/*
 * test_scan.c - the incremental record scanner against hand-counted inputs.
 *
 * Every case is checked three ways: fed whole, split in two at every byte
 * offset, and fed one byte at a time. Boundaries must not depend on how the
 * writes were cut, since a FUSE write can end anywhere, including between
 * the \r and the \n of one line end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pgcopyfs.h"

#define MAX_ENDS 16

/* A string literal as pointer and length, so cases may hold any byte. */
#define IN(s) s, sizeof(s) - 1

/* Dialects as plain initializers: the case table is static data. */
#define CSV { ',', '"', '"' }
#define TSV { '\t', '"', '"' }
/* quote ' and escape \, as in COPY ... (QUOTE '''', ESCAPE '\') */
#define SQ_BS { ',', '\'', '\\' }
/* quote " and escape \ */
#define DQ_BS { ',', '"', '\\' }
#define SQ { ';', '\'', '\'' }
#define PIPE_Q { ',', '|', '|' }
/* COPY's text format: pcf_scan_init_text (no delimiter marks it here) */
#define TEXT { '\0', '\0', '\0' }

static void scan_init(struct pcf_scanner *s, struct pcf_dialect d)
{
	if (d.delimiter == '\0')
		pcf_scan_init_text(s);
	else
		pcf_scan_init(s, d);
}

struct scan_case {
	const char *name;
	struct pcf_dialect d;
	const char *in;
	size_t len;
	uint64_t rows;       /* after pcf_scan_finish */
	ssize_t finish;      /* pcf_scan_finish's result */
	size_t nends;        /* records ended by a terminator */
	size_t ends[MAX_ENDS]; /* stream offset just past each terminator */
};

static const struct scan_case cases[] = {
	{ "text one line", TEXT, IN("a\tb\n"), 1, 0, 1, { 4 } },
	{ "text escaped newline", TEXT, IN("a\\\nb\n"), 1, 0, 1, { 5 } },
	{ "text escaped backslash", TEXT, IN("a\\\\\nb\n"), 2, 0, 2, { 4, 6 } },
	{ "text quotes are data", TEXT, IN("\"a\n\"b\n"), 2, 0, 2, { 3, 6 } },
	{ "text crlf", TEXT, IN("a\r\nb\r\n"), 2, 0, 2, { 3, 6 } },
	{ "text escaped cr", TEXT, IN("a\\\rb\n"), 1, 0, 1, { 5 } },
	{ "text lone cr", TEXT, IN("a\rb\r"), 2, 0, 2, { 2, 4 } },
	{ "text no final", TEXT, IN("a\tb\nc"), 2, 0, 1, { 4 } },
	{ "text trailing backslash", TEXT, IN("a\\"), 1, 0, 0, { 0 } },
	{ "text escapes", TEXT, IN("\\N\t\\t\\\\\n\\\\\\\n\n"), 2, 0, 2, { 8, 13 } },
	{ "empty input", CSV, IN(""), 0, 0, 0, { 0 } },
	{ "one line", CSV, IN("a,b\n"), 1, 0, 1, { 4 } },
	{ "two lines", CSV, IN("a,b\nc,d\n"), 2, 0, 2, { 4, 8 } },
	{ "no final newline", CSV, IN("a,b\nc,d"), 2, 0, 1, { 4 } },
	{ "only a newline", CSV, IN("\n"), 1, 0, 1, { 1 } },
	{ "empty lines", CSV, IN("\n\n\n"), 3, 0, 3, { 1, 2, 3 } },
	{ "empty line between", CSV, IN("a\n\nb\n"), 3, 0, 3, { 2, 3, 5 } },
	{ "crlf", CSV, IN("a\r\nb\r\n"), 2, 0, 2, { 3, 6 } },
	{ "crlf empty lines", CSV, IN("\r\n\r\n"), 2, 0, 2, { 2, 4 } },
	{ "crlf no final", CSV, IN("a,b\r\nc"), 2, 0, 1, { 5 } },
	{ "lone cr", CSV, IN("a\rb\r"), 2, 0, 2, { 2, 4 } },
	{ "lone cr alone", CSV, IN("\r"), 1, 0, 1, { 1 } },
	{ "cr then crlf", CSV, IN("a\r\r\n"), 2, 0, 2, { 2, 4 } },
	{ "quoted lf", CSV, IN("\"a\nb\",c\nd\n"), 2, 0, 2, { 8, 10 } },
	{ "quoted crlf", CSV, IN("\"x\r\ny\"\r\nz\r\n"), 2, 0, 2, { 8, 11 } },
	{ "quoted lone cr", CSV, IN("\"x\ry\"\rz\r"), 2, 0, 2, { 6, 8 } },
	{ "doubled quotes", CSV, IN("\"a\"\"b\",\"\"\"\"\n1\n"), 2, 0, 2,
	  { 12, 14 } },
	/* "" inside quotes toggles twice: the \n after it is still quoted */
	{ "doubled quote then lf", CSV, IN("\"a\"\"\nb\"\n"), 1, 0, 1, { 8 } },
	{ "empty quoted field", CSV, IN("\"\",\"\"\n"), 1, 0, 1, { 6 } },
	/* COPY toggles on a quote anywhere, not only at a field's start */
	{ "quote mid field", CSV, IN("ab\"c\nd\"e\nf\n"), 2, 0, 2, { 9, 11 } },
	{ "quote toggles four times", CSV, IN("\"a\"b\"c\"\n"), 1, 0, 1, { 8 } },
	{ "tab delimiter", TSV, IN("a\tb\nc\t\"d\ne\"\n"), 2, 0, 2, { 4, 12 } },
	{ "custom quote", PIPE_Q, IN("|a\nb|,\"\nc\n"), 2, 0, 2, { 8, 10 } },
	{ "single quote doubled", SQ, IN("'a''\nb';c\n"), 1, 0, 1, { 10 } },
	/* 'it\'s' with ESCAPE '\': the escaped quote keeps the quote open */
	{ "escape protects quote", SQ_BS, IN("'it\\'s',x\n'a\nb'\n"), 2, 0,
	  2, { 10, 16 } },
	/* '\\' is an escaped escape: the next quote closes */
	{ "escaped escape", SQ_BS, IN("'a\\\\'\nb\n"), 2, 0, 2, { 6, 8 } },
	/* an escape only counts inside quotes */
	{ "escape outside quotes", DQ_BS, IN("a\\\"b\n\"\n"), 1, 0, 1, { 7 } },
	{ "escaped dq then lf", DQ_BS, IN("\"a\\\"\n\",b\n"), 1, 0, 1, { 9 } },
	/* with ESCAPE '\', "" still toggles twice (two quote chars) */
	{ "dq_bs doubled quotes", DQ_BS, IN("\"a\"\"\nb\"\n"), 1, 0, 1,
	  { 8 } },
	/* after the escaped quote, the next quote closes again */
	{ "escaped quote then quote", DQ_BS, IN("\"a\\\"\"\nb\n"), 2, 0, 2,
	  { 6, 8 } },
	/* an escape before a plain byte does not protect the quote after */
	{ "escape then plain", DQ_BS, IN("\"\\a\"\nb\n"), 2, 0, 2, { 5, 7 } },
	{ "utf8 multibyte", CSV,
	  IN("\xC3\xA9,\xC3\xBC\n\"\xE6\x97\xA5\xE6\x9C\xAC\n\xE8\xAA\x9E\"\n"),
	  2, 0, 2, { 6, 19 } },
	{ "bom crlf", CSV, IN("\xEF\xBB\xBF" "a,b\r\n1,2\r\n"), 2, 0, 2,
	  { 8, 13 } },
	{ "unterminated quote", CSV, IN("a,\"b\nc\n"), 0,
	  PCF_SCAN_UNTERMINATED, 0, { 0 } },
	{ "unterminated after rows", CSV, IN("x\r\n\"y"), 1,
	  PCF_SCAN_UNTERMINATED, 1, { 3 } },
	{ "last record only quotes", CSV, IN("a\n\"\""), 2, 0, 1, { 2 } },
	{ "escape at end, unterminated", DQ_BS, IN("\"a\\\""), 0,
	  PCF_SCAN_UNTERMINATED, 0, { 0 } },
};

struct scan_result {
	uint64_t rows_before_finish;
	uint64_t rows;
	uint64_t bytes;
	ssize_t finish;
	size_t nends;
	size_t ends[MAX_ENDS];
};

/*
 * Feeds c->in to a fresh scanner in pieces that end at the offsets in
 * cuts[0..ncuts) (ascending, inside the input) and at the end, collecting
 * the absolute stream offset just past every record pcf_scan_record ends.
 */
static void scan_pieces(const struct scan_case *c, const size_t *cuts,
			size_t ncuts, struct scan_result *r)
{
	struct pcf_scanner s;
	size_t from = 0;

	memset(r, 0, sizeof(*r));
	scan_init(&s, c->d);
	for (size_t k = 0; k <= ncuts; k++) {
		size_t to = k < ncuts ? cuts[k] : c->len;
		size_t pos = from;

		while (pos < to) {
			ssize_t n = pcf_scan_record(&s, c->in + pos, to - pos);

			if (n == PCF_SCAN_PARTIAL)
				break;
			assert_true(n > 0);
			assert_true((size_t)n <= to - pos);
			pos += (size_t)n;
			assert_true(r->nends < MAX_ENDS);
			r->ends[r->nends++] = pos;
		}
		from = to;
	}
	r->rows_before_finish = s.rows;
	r->bytes = s.bytes;
	r->finish = pcf_scan_finish(&s);
	r->rows = s.rows;
}

/* Same cuts, counted with pcf_scan_chunk. Returns the rows after finish. */
static uint64_t chunk_pieces(const struct scan_case *c, const size_t *cuts,
			     size_t ncuts, ssize_t *finish)
{
	struct pcf_scanner s;
	uint64_t sum = 0;
	size_t from = 0;

	scan_init(&s, c->d);
	for (size_t k = 0; k <= ncuts; k++) {
		size_t to = k < ncuts ? cuts[k] : c->len;

		sum += pcf_scan_chunk(&s, c->in + from, to - from);
		from = to;
	}
	assert_int_equal(sum, s.rows);
	assert_int_equal(s.bytes, c->len);
	*finish = pcf_scan_finish(&s);
	return s.rows;
}

/* Whether the piece boundaries include offset off. */
static int cut_at(const size_t *cuts, size_t ncuts, size_t off)
{
	for (size_t k = 0; k < ncuts; k++)
		if (cuts[k] == off)
			return 1;
	return 0;
}

/*
 * Checks one way of cutting c->in against the hand-written expectations.
 * When a cut falls between the \r and \n of a line end, pcf_scan_record
 * reports the record ended at the \r and swallows the \n in the next call
 * (pgcopyfs.h says so), so that one end is expected one byte earlier.
 */
static void check_cuts(const struct scan_case *c, const size_t *cuts,
		       size_t ncuts)
{
	struct scan_result r;
	ssize_t chunk_finish;
	uint64_t chunk_rows;

	scan_pieces(c, cuts, ncuts, &r);
	if (r.rows != c->rows || r.finish != c->finish ||
	    r.nends != c->nends || r.bytes != c->len)
		fail_msg("%s (%zu cuts, first at %zu): rows %llu finish %zd "
			 "ends %zu bytes %llu, expected rows %llu finish %zd "
			 "ends %zu bytes %zu",
			 c->name, ncuts, ncuts ? cuts[0] : 0,
			 (unsigned long long)r.rows, r.finish, r.nends,
			 (unsigned long long)r.bytes,
			 (unsigned long long)c->rows, c->finish, c->nends,
			 c->len);
	assert_int_equal(r.rows_before_finish, c->nends);
	for (size_t k = 0; k < c->nends; k++) {
		size_t e = c->ends[k];

		if (e >= 2 && c->in[e - 2] == '\r' && c->in[e - 1] == '\n' &&
		    cut_at(cuts, ncuts, e - 1))
			e--;
		if (r.ends[k] != e)
			fail_msg("%s (%zu cuts, first at %zu): record %zu ends "
				 "at %zu, expected %zu",
				 c->name, ncuts, ncuts ? cuts[0] : 0, k,
				 r.ends[k], e);
	}
	chunk_rows = chunk_pieces(c, cuts, ncuts, &chunk_finish);
	assert_int_equal(chunk_rows, c->rows);
	assert_int_equal(chunk_finish, c->finish);
}

/* Every case fed whole: the hand-counted rows, ends and finish. */
static void test_scan_whole(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_cuts(&cases[i], NULL, 0);
}

/* Every case split in two at every offset, empty pieces included. */
static void test_scan_split_two(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		for (size_t cut = 0; cut <= cases[i].len; cut++)
			check_cuts(&cases[i], &cut, 1);
}

/* Every case fed one byte at a time. */
static void test_scan_bytewise(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct scan_case *c = &cases[i];
		size_t cuts[64];

		assert_true(c->len <= sizeof(cuts) / sizeof(cuts[0]));
		for (size_t k = 1; k < c->len; k++)
			cuts[k - 1] = k;
		check_cuts(c, cuts, c->len ? c->len - 1 : 0);
	}
}

/* pcf_scan_chunk returns the records completed in that chunk only, and
 * s->bytes counts every byte fed, across calls. */
static void test_scan_chunk_counts(void **state)
{
	struct pcf_scanner s;

	(void)state;
	pcf_scan_init(&s, PCF_DIALECT_CSV);
	assert_int_equal(pcf_scan_chunk(&s, IN("a,b\nc,d\ne")), 2);
	assert_int_equal(s.bytes, 9);
	assert_int_equal(s.rows, 2);
	/* the record "e..." ends here; a quoted \n does not end one */
	assert_int_equal(pcf_scan_chunk(&s, IN("f\n\"g\nh")), 1);
	assert_int_equal(s.bytes, 15);
	assert_int_equal(pcf_scan_chunk(&s, IN("")), 0);
	assert_int_equal(s.bytes, 15);
	assert_int_equal(pcf_scan_chunk(&s, IN("\"\r")), 1);
	assert_int_equal(s.bytes, 17);
	/* the \n of a split \r\n is no second record */
	assert_int_equal(pcf_scan_chunk(&s, IN("\n")), 0);
	assert_int_equal(s.bytes, 18);
	assert_int_equal(pcf_scan_chunk(&s, IN("\n\r\n")), 2);
	assert_int_equal(s.bytes, 21);
	assert_int_equal(s.rows, 6);
	assert_int_equal(pcf_scan_finish(&s), 0);
	assert_int_equal(s.rows, 6);
}

/* pcf_scan_record consumes up to and including one terminator, and the
 * bytes count stops there: the rest is fed again by the caller. */
static void test_scan_record_bytes(void **state)
{
	struct pcf_scanner s;

	(void)state;
	pcf_scan_init(&s, PCF_DIALECT_CSV);
	assert_int_equal(pcf_scan_record(&s, IN("ab\ncd\n")), 3);
	assert_int_equal(s.bytes, 3);
	assert_int_equal(s.rows, 1);
	assert_int_equal(pcf_scan_record(&s, IN("cd\n")), 3);
	assert_int_equal(s.bytes, 6);
	assert_int_equal(pcf_scan_record(&s, IN("x")), PCF_SCAN_PARTIAL);
	assert_int_equal(s.bytes, 7);
	assert_int_equal(pcf_scan_record(&s, IN("y\r")), 2);
	assert_int_equal(s.bytes, 9);
	/* the swallowed \n of the split \r\n counts as fed */
	assert_int_equal(pcf_scan_record(&s, IN("\nz\n")), 3);
	assert_int_equal(s.bytes, 12);
	assert_int_equal(s.rows, 4);
	assert_int_equal(pcf_scan_finish(&s), 0);
	assert_int_equal(s.rows, 4);
}

/* A finish right after a terminator adds nothing; twice adds nothing. */
static void test_scan_finish_idempotent(void **state)
{
	struct pcf_scanner s;

	(void)state;
	pcf_scan_init(&s, PCF_DIALECT_CSV);
	assert_int_equal(pcf_scan_chunk(&s, IN("a\nb")), 1);
	assert_int_equal(pcf_scan_finish(&s), 0);
	assert_int_equal(s.rows, 2);
	assert_int_equal(pcf_scan_finish(&s), 0);
	assert_int_equal(s.rows, 2);
}

/* c whole, cut in two at every offset, and byte by byte (len <= 256). */
static void check_every_cut(const struct scan_case *c)
{
	size_t cuts[256];

	assert_true(c->len > 0 && c->len <= 256);
	check_cuts(c, NULL, 0);
	for (size_t cut = 0; cut <= c->len; cut++)
		check_cuts(c, &cut, 1);
	for (size_t i = 1; i < c->len; i++)
		cuts[i - 1] = i;
	check_cuts(c, cuts, c->len - 1);
}

/*
 * The scanner works on 64-byte blocks: line ends, quotes, escapes and \r\n
 * pairs must land the same wherever a block boundary falls, and a quoted
 * field may span many blocks. Each pattern is shifted by 0 to 140 bytes of
 * padding and checked whole, cut in two everywhere and byte by byte.
 */
/* COPY's end-of-data marker: the record's number, or 0. */
struct marker_case {
	const char *in;
	size_t len;
	uint64_t want;
	struct pcf_dialect d;
};

static const struct marker_case marker_cases[] = {
	{ IN("a\n\\.\nb\n"), 2, CSV },
	{ IN("a\n\\.\r\nb\n"), 2, CSV }, /* the server refuses it: ours too */
	{ IN("a\r\n\\.\r\nb\r\n"), 2, CSV },
	{ IN("a\r\\.\rb\r"), 2, CSV },
	{ IN("\\.\n"), 1, CSV },
	{ IN("\\.\nx\n"), 1, CSV },
	{ IN("a\n\\."), 0, CSV },        /* at the end: a value, for COPY */
	{ IN("a\n\\.x\nb\n"), 0, CSV },
	{ IN("a\n\\\\.\n"), 0, CSV },
	{ IN("a\n \\.\n"), 0, CSV },
	{ IN("a,\\.\n"), 0, CSV },
	{ IN("a\n\"\\.\n\"\n"), 0, CSV },   /* quoted */
	{ IN("a\n\"x\n\\.\n\"\n"), 0, CSV }, /* a quoted line end before it */
	{ IN("a\n\\.\n\\.\n"), 2, CSV },   /* the first one */
	{ IN("'x\\'\n\\.\n'\n"), 0, SQ_BS }, /* an escaped quote: still quoted */
	{ IN("'x'\n\\.\n"), 2, SQ_BS },
	{ IN("a\n\\.\nb\n"), 2, TEXT },
	{ IN("ab\\.\n"), 1, TEXT },       /* anywhere in a text line */
	{ IN("x\t\\.\r\n"), 1, TEXT },
	{ IN("\\.\n"), 1, TEXT },
	{ IN("a\\\\.\n"), 0, TEXT },     /* an escaped backslash, then . */
	{ IN("a\\.x\n"), 0, TEXT },       /* the server refuses it itself */
	{ IN("a\n\\."), 0, TEXT },        /* no line end after it */
	{ IN("a\\\n\\.\n"), 1, TEXT },   /* after an escaped line end */
	{ IN("\"\n\\.\n"), 2, TEXT },     /* a quote is plain data */
};

/* Every case whole, cut in two at every offset, and byte by byte. */
static void test_scan_end_marker(void **state)
{
	(void)state;
	for (size_t c = 0; c < sizeof(marker_cases) / sizeof(marker_cases[0]);
	     c++) {
		const struct marker_case *m = &marker_cases[c];
		struct pcf_scanner s;

		for (size_t cut = 0; cut <= m->len; cut++) {
			scan_init(&s, m->d);
			pcf_scan_chunk(&s, m->in, cut);
			pcf_scan_chunk(&s, m->in + cut, m->len - cut);
			if (s.end_marker != m->want)
				fail_msg("case %zu cut %zu: marker %llu, want %llu", c,
					 cut, (unsigned long long)s.end_marker,
					 (unsigned long long)m->want);
		}
		scan_init(&s, m->d);
		for (size_t i = 0; i < m->len; i++)
			pcf_scan_chunk(&s, m->in + i, 1);
		if (s.end_marker != m->want)
			fail_msg("case %zu bytewise: marker %llu, want %llu", c,
				 (unsigned long long)s.end_marker,
				 (unsigned long long)m->want);
	}
}

/* Past 64-byte blocks and many records, and the record in progress. */
static void test_scan_end_marker_far_and_record_start(void **state)
{
	char buf[4096];
	size_t n = 0;
	struct pcf_scanner s;

	(void)state;
	for (int i = 0; i < 300; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "row %d\n", i);
	memcpy(buf + n, "\\.\nafter\n", 9);
	n += 9;
	pcf_scan_init(&s, (struct pcf_dialect)CSV);
	pcf_scan_chunk(&s, buf, n);
	assert_int_equal(s.end_marker, 301);

	pcf_scan_init(&s, (struct pcf_dialect)CSV);
	pcf_scan_chunk(&s, IN("ab\ncd"));
	assert_int_equal(s.record_start, 3);
	pcf_scan_chunk(&s, IN("ef\"g\nh"));
	assert_int_equal(s.bytes, 11);
	assert_int_equal(s.record_start, 3); /* the quoted \n ends nothing */
	pcf_scan_chunk(&s, IN("\"\nxyz"));
	assert_int_equal(s.record_start, 13);
}

static void test_scan_block_boundaries(void **state)
{
	static const struct {
		struct pcf_dialect d;
		const char *tail; /* 9 bytes: one quoted record and its \n */
	} pats[] = {
		{ CSV, "\"q\r\nq\"\"\"\n" },
		{ DQ_BS, "\"q\\\"\n\\\\\"\n" },
	};
	char in[256];

	(void)state;
	for (size_t k = 0; k < sizeof(pats) / sizeof(pats[0]); k++) {
		for (size_t pad = 0; pad <= 140; pad++) {
			struct scan_case c = { "padded", pats[k].d, in, 0, 4, 0,
					       3, { 0 } };
			size_t n = 0;

			/* pad x 'a' \r\n | quoted record | b\r | c */
			memset(in, 'a', pad);
			n = pad;
			memcpy(in + n, "\r\n", 2);
			n += 2;
			c.ends[0] = n;
			memcpy(in + n, pats[k].tail, 9);
			n += 9;
			c.ends[1] = n;
			memcpy(in + n, "b\rc", 3);
			n += 2;
			c.ends[2] = n;
			c.len = n + 1;
			check_every_cut(&c);

			/* " pad x \n " \r\n x \n: one quoted field */
			in[0] = '"';
			memset(in + 1, '\n', pad);
			memcpy(in + 1 + pad, "\"\r\nx\n", 5);
			c = (struct scan_case){ "quoted", pats[k].d, in, pad + 6,
						2, 0, 2, { pad + 4, pad + 6 } };
			check_every_cut(&c);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scan_whole),
		cmocka_unit_test(test_scan_split_two),
		cmocka_unit_test(test_scan_bytewise),
		cmocka_unit_test(test_scan_chunk_counts),
		cmocka_unit_test(test_scan_record_bytes),
		cmocka_unit_test(test_scan_finish_idempotent),
		cmocka_unit_test(test_scan_block_boundaries),
		cmocka_unit_test(test_scan_end_marker),
		cmocka_unit_test(test_scan_end_marker_far_and_record_start),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
