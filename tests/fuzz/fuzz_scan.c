/*
 * fuzz_scan.c - libFuzzer target for the pure pieces.
 *
 * Input layout: byte 0 picks the dialect (bits 0-1 delimiter, bits 2-3
 * quote, bits 4-5 escape; '0' is plain CSV), byte 1 the largest piece the
 * stream is cut into, byte 2 seeds the cut positions; the rest is the
 * stream. The scanner must agree with a transcription of the server's CSV
 * line reader however the stream is cut; every record is then split and
 * checked as a header, and a NUL-free prefix is run through the name
 * escaping both ways.
 *
 * Built with -fsanitize=fuzzer for fuzzing, and with the plain compiler into
 * the regression driver (regress.c), which replays the corpus and crashes.
 */
#include "pgcopyfs.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reports which invariant broke and aborts, so libFuzzer keeps the input. */
#define CHECK(cond)                                                        \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "fuzz_scan: %s:%d: %s\n", __FILE__, \
				__LINE__, #cond);                          \
			abort();                                           \
		}                                                          \
	} while (0)

/* Inputs larger than this are not fed one byte at a time (too slow). */
#define BYTEWISE_MAX 4096

struct scan_out {
	size_t *ends;   /* offset just past each terminated record */
	size_t nends;
	uint64_t rows;  /* after finish */
	ssize_t finish;
	uint64_t bytes;
};

static struct pcf_dialect pick_dialect(uint8_t b)
{
	static const char delims[] = { ',', ';', '\t', '|' };
	static const char quotes[] = { '"', '\'', '|', '~' };
	static const char escapes[] = { '\\', '\'', '"', 0 /* = quote */ };
	struct pcf_dialect d;

	d.delimiter = delims[b & 3];
	d.quote = quotes[(b >> 2) & 3];
	d.escape = escapes[(b >> 4) & 3];
	if (!d.escape)
		d.escape = d.quote;
	/* pcf_options_parse refuses a delimiter equal to the quote */
	if (d.quote == d.delimiter)
		d.quote = '"';
	return d;
}

/*
 * The reference: CopyReadLineText's CSV rules written out byte by byte
 * over the whole stream, without the scanner's fast paths or state kept
 * across calls. Fills ends (room for len entries) and returns the rows.
 * A NUL escape (escape == quote) never matches: the server would refuse a
 * NUL byte in the data before any count mattered.
 */
static uint64_t ref_scan(struct pcf_dialect d, const unsigned char *p,
			 size_t len, size_t *ends, size_t *nends,
			 ssize_t *finish)
{
	const unsigned char quotec = (unsigned char)d.quote;
	const unsigned char escapec =
		d.escape == d.quote ? 0 : (unsigned char)d.escape;
	int in_quote = 0, last_was_esc = 0;
	size_t start = 0, i = 0;
	uint64_t rows = 0;

	*nends = 0;
	while (i < len) {
		unsigned char c = p[i++];
		int is_esc = escapec && c == escapec;

		if (in_quote && is_esc)
			last_was_esc = !last_was_esc;
		if (c == quotec && !last_was_esc)
			in_quote = !in_quote;
		if (!is_esc)
			last_was_esc = 0;
		if (in_quote || (c != '\r' && c != '\n'))
			continue;
		if (c == '\r' && i < len && p[i] == '\n')
			i++;
		ends[(*nends)++] = i;
		rows++;
		start = i;
	}
	if (in_quote) {
		*finish = PCF_SCAN_UNTERMINATED;
	} else {
		*finish = 0;
		if (start < len)
			rows++;
	}
	return rows;
}

/* Next value of a small xorshift generator; any fixed sequence will do. */
static uint32_t next_rand(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

/*
 * Feeds p[0..len) to a fresh scanner in pieces no longer than maxpiece
 * (random lengths from seed; maxpiece 0 = all at once), through
 * pcf_scan_record, and again through pcf_scan_chunk, which must agree.
 * out->ends needs room for len entries.
 */
static void scan_cut(struct pcf_dialect d, const char *p, size_t len,
		     size_t maxpiece, uint32_t seed, struct scan_out *out)
{
	struct pcf_scanner s, c;
	uint64_t chunk_sum = 0;
	size_t from = 0;

	pcf_scan_init(&s, d);
	pcf_scan_init(&c, d);
	out->nends = 0;
	seed |= 1;
	while (from < len) {
		size_t piece = maxpiece ? 1 + next_rand(&seed) % maxpiece : len;
		size_t to = piece > len - from ? len : from + piece;
		size_t pos = from;

		while (pos < to) {
			ssize_t n = pcf_scan_record(&s, p + pos, to - pos);

			if (n == PCF_SCAN_PARTIAL)
				break;
			CHECK(n > 0 && (size_t)n <= to - pos);
			pos += (size_t)n;
			CHECK(out->nends < len);
			out->ends[out->nends++] = pos;
		}
		CHECK(s.rows == out->nends);
		chunk_sum += pcf_scan_chunk(&c, p + from, to - from);
		CHECK(c.rows == s.rows && chunk_sum == c.rows);
		from = to;
	}
	out->bytes = s.bytes;
	CHECK(c.bytes == s.bytes);
	out->finish = pcf_scan_finish(&s);
	out->rows = s.rows;
	CHECK(pcf_scan_finish(&c) == out->finish && c.rows == s.rows);
}

/*
 * Checks a cut scan against the reference. An end may be one byte early
 * where a cut fell between a \r and its \n (the next call swallows the \n,
 * as pgcopyfs.h says); nothing else may move.
 */
static void check_against(const struct scan_out *got, const size_t *ends,
			  size_t nends, uint64_t rows, ssize_t finish,
			  const char *p, size_t len)
{
	CHECK(got->rows == rows);
	CHECK(got->finish == finish);
	CHECK(got->bytes == len);
	CHECK(got->nends == nends);
	for (size_t k = 0; k < nends; k++) {
		size_t e = ends[k];

		CHECK(got->ends[k] == e ||
		      (got->ends[k] == e - 1 && e >= 2 && p[e - 2] == '\r' &&
		       p[e - 1] == '\n'));
	}
}

/* Splits one record and checks what COPY's rules imply about the fields,
 * then checks it as a header against a fixed column list. */

/* The header rule, written the slow way: trim spaces and tabs; the column
 * spelled so; else the one equal but for ASCII case; -2 for two, -1 none. */
static long model_resolve(const char *f, char *const *cols, size_t ncols)
{
	char t[4096];
	size_t a = 0, b = strlen(f);
	long found = -1;

	while (a < b && (f[a] == ' ' || f[a] == '\t'))
		a++;
	while (b > a && (f[b - 1] == ' ' || f[b - 1] == '\t'))
		b--;
	if (b == a || b - a >= sizeof(t))
		return -1;
	memcpy(t, f + a, b - a);
	t[b - a] = '\0';
	for (size_t j = 0; j < ncols; j++)
		if (strcmp(cols[j], t) == 0)
			return (long)j;
	for (size_t j = 0; j < ncols; j++) {
		int same = strlen(cols[j]) == strlen(t);

		for (size_t k = 0; same && t[k]; k++) {
			char x = cols[j][k], y = t[k];

			if (x >= 'A' && x <= 'Z')
				x = (char)(x - 'A' + 'a');
			if (y >= 'A' && y <= 'Z')
				y = (char)(y - 'A' + 'a');
			same = x == y;
		}
		if (!same)
			continue;
		if (found >= 0)
			return -2;
		found = (long)j;
	}
	return found;
}

static void check_record(struct pcf_dialect d, const char *rec, size_t len)
{
	static char *const cols[] = { "id", "name", "value", "Created At",
				      "" };
	const size_t ncols = sizeof(cols) / sizeof(cols[0]);
	size_t body = len, ndelim = 0, total = 0, nfields = 0;
	char **fields = NULL;
	const char *bad = "unset";
	enum pcf_header_verdict v;
	int rc;

	if (body > 0 && rec[body - 1] == '\n')
		body--;
	if (body > 0 && rec[body - 1] == '\r')
		body--;
	rc = pcf_split_record(d, rec, len, &fields, &nfields);
	/* a NUL can only ever be field data: never a delimiter or a quote */
	CHECK(rc == (memchr(rec, '\0', body) ? -EINVAL : 0));
	if (rc != 0)
		return;
	for (size_t i = 0; i < body; i++)
		ndelim += rec[i] == d.delimiter;
	CHECK(nfields >= 1 && nfields <= ndelim + 1);
	for (size_t i = 0; i < nfields; i++)
		total += strlen(fields[i]);
	CHECK(total <= body);

	size_t match[64];

	v = pcf_header_match(fields, nfields, cols, ncols,
			     nfields <= 64 ? match : NULL, &bad);
	if (v == PCF_HEADER_MATCH) {
		CHECK(bad == NULL);
		for (size_t i = 0; nfields <= 64 && i < nfields; i++)
			CHECK(model_resolve(fields[i], cols, ncols) ==
			      (long)match[i]);
	} else {
		size_t i = 0;
		long r;

		while (i < nfields && fields[i] != bad)
			i++;
		CHECK(i < nfields); /* bad points into fields */
		r = model_resolve(bad, cols, ncols);
		if (v == PCF_HEADER_UNKNOWN)
			CHECK(r == -1 || nfields == 0);
		else if (v == PCF_HEADER_AMBIGUOUS)
			CHECK(r == -2);
		if (v == PCF_HEADER_REPEATED) {
			size_t same = 0;

			CHECK(r >= 0);
			for (size_t k = 0; k < nfields; k++)
				same += model_resolve(fields[k], cols, ncols) == r;
			CHECK(same >= 2);
		}
	}
	pcf_fields_free(fields, nfields);
}

/*
 * Names: escape then unescape gives the name back, and whatever unescape
 * accepts is exactly what escape makes of the result (the mapping is 1:1).
 */
static void check_names(const char *p, size_t len)
{
	char name[256], esc[3 * 255 + 1], back[256];
	size_t n = 0;
	ssize_t e, u;

	while (n < len && n < 255 && p[n] != '\0')
		n++;
	memcpy(name, p, n);
	name[n] = '\0';

	e = pcf_name_escape(name, esc, sizeof(esc));
	CHECK(e >= (ssize_t)n && (size_t)e == strlen(esc));
	CHECK(strchr(esc, '/') == NULL && esc[0] != '.');
	CHECK(pcf_name_escape(name, esc, (size_t)e) == -ENAMETOOLONG);
	CHECK(pcf_name_escape(name, esc, (size_t)e + 1) == e);
	u = pcf_name_unescape(esc, (size_t)e, back, sizeof(back));
	if (n == 0) {
		CHECK(u == -ENOENT); /* no name is empty */
	} else {
		CHECK(u == (ssize_t)n && memcmp(back, name, n + 1) == 0);
	}

	/* the raw bytes as a file name */
	u = pcf_name_unescape(name, n, back, sizeof(back));
	CHECK(u == -ENOENT || (u >= 1 && (size_t)u <= n));
	if (u > 0) {
		e = pcf_name_escape(back, esc, sizeof(esc));
		CHECK(e == (ssize_t)n && memcmp(esc, name, n) == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pcf_dialect d;
	const char *p;
	size_t len, *ref_ends, start = 0;
	struct scan_out got;
	uint64_t rows;
	ssize_t finish;

	if (size < 3)
		return 0;
	d = pick_dialect(data[0]);
	p = (const char *)data + 3;
	len = size - 3;

	/* +1: malloc(0) may return NULL */
	ref_ends = malloc((len + 1) * sizeof(*ref_ends));
	got.ends = malloc((len + 1) * sizeof(*got.ends));
	CHECK(ref_ends && got.ends);
	{
		size_t nends;

		rows = ref_scan(d, (const unsigned char *)p, len, ref_ends,
				&nends, &finish);

		/* whole, then random pieces, then byte by byte */
		scan_cut(d, p, len, 0, 0, &got);
		CHECK(got.rows == rows && got.finish == finish);
		CHECK(got.nends == nends);
		CHECK(memcmp(got.ends, ref_ends, nends * sizeof(*ref_ends)) ==
		      0);
		scan_cut(d, p, len, 1 + data[1] % 64, data[2], &got);
		check_against(&got, ref_ends, nends, rows, finish, p, len);
		if (len <= BYTEWISE_MAX) {
			scan_cut(d, p, len, 1, 0, &got);
			check_against(&got, ref_ends, nends, rows, finish, p,
				      len);
		}

		for (size_t k = 0; k < nends; k++) {
			check_record(d, p + start, ref_ends[k] - start);
			start = ref_ends[k];
		}
		if (start < len)
			check_record(d, p + start, len - start);
	}
	check_names(p, len);

	free(ref_ends);
	free(got.ends);
	return 0;
}
