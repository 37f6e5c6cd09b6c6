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
 * Bit 7 of byte 0, which no CSV dialect uses, selects COPY's text format
 * instead (bits 0-1 then pick the delimiter, tab first): the scanner must
 * agree with a transcription of the server's text line reader (record
 * ends, rows, the end-of-data marker and when it is known), and every
 * record is split with pcf_split_text_record against a transcription of
 * the server's text attribute reader.
 *
 * Every CSV record is also made a binary COPY tuple of text columns
 * (fs/binrow.c): when it converts, its fields are exactly the splitter's.
 *
 * Built with -fsanitize=fuzzer for fuzzing, and with the plain compiler into
 * the regression driver (regress.c), which replays the corpus and crashes.
 */
#include "pgcopyfs.h"
#include "binrow.h"

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

/* Byte 0's bit that selects COPY's text format (the CSV dialects use the
 * low six bits only, so every CSV input keeps its meaning). */
#define TEXT_MODE 0x80

struct scan_out {
	size_t *ends;   /* offset just past each terminated record */
	size_t nends;
	uint64_t rows;  /* after finish */
	ssize_t finish;
	uint64_t bytes;
	uint64_t marker; /* end_marker after finish (text format only) */
};

/* What the text format's reference expects of the end-of-data marker:
 * the record holding the first one (1-based, 0 for none) and the offset
 * of the line end that completes it (the scanner cannot know before). */
struct marker_ref {
	uint64_t record;
	size_t eol;
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

/*
 * The reference for COPY's text format: CopyReadLineText's rules for the
 * non-CSV case (PostgreSQL 15, src/backend/commands/copyfromparse.c)
 * written out byte by byte over the whole stream. No quotes; a backslash
 * takes the byte after it with it, whatever it is (a line end too), and a
 * backslash that is the stream's last byte is plain data; \n, \r\n and a
 * lone \r end a record. The server refuses line ends of mixed styles;
 * like the scanner, the model takes each one as it comes.
 *
 * A backslash followed by '.' is the end-of-data marker when a line end
 * follows (the server stops there; its record is *marker); before any other
 * byte, or the end of the stream, the server refuses it ("end-of-copy
 * marker corrupt"), and the model reads on with the '.' as the escaped
 * byte. Fills ends and term (the terminator's length, 2 for \r\n) with
 * room for len entries and returns the rows after the stream's end.
 */
static uint64_t ref_scan_text(const unsigned char *p, size_t len, size_t *ends,
			      unsigned char *term, size_t *nends,
			      struct marker_ref *marker)
{
	size_t start = 0, i = 0;
	uint64_t rows = 0;

	*nends = 0;
	marker->record = 0;
	marker->eol = SIZE_MAX;
	while (i < len) {
		unsigned char c = p[i++];

		if (c == '\\') {
			if (i == len)
				break; /* a backslash at the very end: data */
			if (p[i++] != '.')
				continue; /* the escaped byte, whatever it is */
			if (i < len && (p[i] == '\r' || p[i] == '\n') &&
			    !marker->record) {
				marker->record = rows + 1;
				marker->eol = i;
			}
			continue; /* the line end, if any, ends the record below */
		}
		if (c != '\r' && c != '\n')
			continue;
		term[*nends] = 1;
		if (c == '\r' && i < len && p[i] == '\n') {
			i++;
			term[*nends] = 2;
		}
		ends[(*nends)++] = i;
		rows++;
		start = i;
	}
	if (start < len)
		rows++; /* COPY loads a last line without a terminator too */
	return rows;
}

static int hex_digit(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * The reference for a text record's fields: CopyReadAttributesText's
 * decoding of the line as CopyReadLine hands it over (without its own
 * terminator). Fields end at every delim not taken by a backslash; \b \f
 * \n \r \t \v, one to three octal digits (the value taken mod 256), x and
 * one or two hex digits (x alone is an x), any other byte as itself; a
 * backslash ending the line is dropped (*dangling set). Writes the decoded
 * bytes to out (room for n) and each field's length to flen (room for
 * n + 1); *nul is set when a decoded byte is NUL. Returns the fields.
 */
static size_t ref_split_text(unsigned char delim, const unsigned char *b,
			     size_t n, unsigned char *out, size_t *flen,
			     int *nul, int *dangling)
{
	size_t i = 0, o = 0, nf = 0;

	*nul = *dangling = 0;
	for (;;) {
		size_t first = o;
		int more = 0;

		while (i < n) {
			unsigned char c = b[i++];

			if (c == delim) {
				more = 1;
				break;
			}
			if (c == '\\') {
				if (i == n) {
					*dangling = 1;
					break;
				}
				c = b[i++];
				if (c >= '0' && c <= '7') {
					unsigned v = (unsigned)(c - '0');

					for (int k = 0; k < 2 && i < n &&
							b[i] >= '0' && b[i] <= '7';
					     k++)
						v = v * 8 + (unsigned)(b[i++] - '0');
					c = (unsigned char)(v & 0377);
				} else if (c == 'x') {
					if (i < n && hex_digit(b[i]) >= 0) {
						int v = hex_digit(b[i++]);

						if (i < n && hex_digit(b[i]) >= 0)
							v = v * 16 +
							    hex_digit(b[i++]);
						c = (unsigned char)v;
					}
				} else {
					switch (c) {
					case 'b': c = '\b'; break;
					case 'f': c = '\f'; break;
					case 'n': c = '\n'; break;
					case 'r': c = '\r'; break;
					case 't': c = '\t'; break;
					case 'v': c = '\v'; break;
					default: break;
					}
				}
			}
			if (c == '\0')
				*nul = 1;
			out[o++] = c;
		}
		flen[nf++] = o - first;
		if (!more)
			return nf;
	}
}

/* Next value of a small xorshift generator; any fixed sequence will do. */
static uint32_t next_rand(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

/* A fresh scanner for the dialect, or for the text format. */
static void scanner_init(struct pcf_scanner *s, struct pcf_dialect d, int text)
{
	if (text)
		pcf_scan_init_text(s);
	else
		pcf_scan_init(s, d);
}

/*
 * Feeds p[0..len) to a fresh scanner in pieces no longer than maxpiece
 * (random lengths from seed; maxpiece 0 = all at once), through
 * pcf_scan_record, again through pcf_scan_chunk, which must agree, and a
 * third time the way a load feeds it (pcf_scan_record up to the first
 * record's end, pcf_scan_chunk from there on, on the same scanner).
 * out->ends needs room for len entries. In the text format (mk not NULL)
 * every scanner must also know the end-of-data marker as soon as the line
 * end completing it has been fed, and not before.
 */
static void scan_cut(struct pcf_dialect d, int text, const char *p, size_t len,
		     size_t maxpiece, uint32_t seed,
		     const struct marker_ref *mk, struct scan_out *out)
{
	struct pcf_scanner s, c, m;
	uint64_t chunk_sum = 0;
	size_t from = 0;
	int m_first = 1; /* m is still looking for the first record's end */

	scanner_init(&s, d, text);
	scanner_init(&c, d, text);
	scanner_init(&m, d, text);
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

		pos = from;
		if (m_first) {
			ssize_t n = pcf_scan_record(&m, p + from, to - from);

			if (n != PCF_SCAN_PARTIAL) {
				CHECK(n > 0 && (size_t)n <= to - from);
				CHECK(out->nends >= 1 &&
				      from + (size_t)n == out->ends[0]);
				pos += (size_t)n;
				m_first = 0;
			} else {
				pos = to;
			}
		}
		if (pos < to)
			pcf_scan_chunk(&m, p + pos, to - pos);
		CHECK(m.rows == s.rows && m.bytes == to && s.bytes == to);
		if (mk) {
			uint64_t want = mk->eol < to ? mk->record : 0;

			CHECK(s.end_marker == want);
			CHECK(c.end_marker == want);
			CHECK(m.end_marker == want);
		}
		from = to;
	}
	out->bytes = s.bytes;
	CHECK(c.bytes == s.bytes);
	out->finish = pcf_scan_finish(&s);
	out->rows = s.rows;
	out->marker = c.end_marker;
	CHECK(pcf_scan_finish(&c) == out->finish && c.rows == s.rows);
	CHECK(pcf_scan_finish(&m) == out->finish && m.rows == s.rows);
	if (mk)
		CHECK(s.end_marker == out->marker &&
		      m.end_marker == out->marker);
}

/*
 * Checks a cut scan against the reference. An end may be one byte early
 * where a cut fell between a \r and its \n (the next call swallows the \n,
 * as pgcopyfs.h says); nothing else may move. term, when given (the text
 * format), says which ends are such a pair: an escaped \r before a \n is
 * not one.
 */
static void check_against(const struct scan_out *got, const size_t *ends,
			  const unsigned char *term, size_t nends,
			  uint64_t rows, ssize_t finish, const char *p,
			  size_t len)
{
	CHECK(got->rows == rows);
	CHECK(got->finish == finish);
	CHECK(got->bytes == len);
	CHECK(got->nends == nends);
	for (size_t k = 0; k < nends; k++) {
		size_t e = ends[k];

		CHECK(got->ends[k] == e ||
		      (got->ends[k] == e - 1 && e >= 2 && p[e - 2] == '\r' &&
		       p[e - 1] == '\n' && (!term || term[k] == 2)));
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

static void check_header(char *const *fields, size_t nfields);

/* The null string of the binrow check (the splitter keeps no quotes: an
 * unquoted field that spells it is NULL, a quoted one text). */
#define FUZZ_NULL "\x01pcf\x02null\x03"

/* The record as a tuple of nfields text columns agrees with fields. */
static void check_binrow(struct pcf_dialect d, const char *rec, size_t len,
			 char *const *fields, size_t nfields)
{
	struct pcf_binrow_col cols[64];
	enum pcf_eol eol = len >= 2 && rec[len - 2] == '\r' ? PCF_EOL_CRLF
							    : PCF_EOL_NL;
	struct pcf_bytes out = { 0 };
	struct pcf_binrow *b;
	size_t at = 2;
	int rc;

	if (nfields > 64)
		return;
	for (size_t i = 0; i < nfields; i++)
		cols[i] = (struct pcf_binrow_col){ PCF_BIN_TEXT, -1, -1, -1, 0 };
	b = pcf_binrow_new(PCF_BINROW_CSV, d, FUZZ_NULL, cols, nfields, eol);
	CHECK(b);
	rc = pcf_binrow_tuple(b, rec, len, len == 0 || rec[len - 1] != '\n',
			      &out);
	CHECK(rc == 0 || rc == 1);
	if (rc == 1) {
		CHECK(out.len >= 2 && (size_t)(out.p[0] << 8 | out.p[1]) == nfields);
		for (size_t i = 0; i < nfields; i++) {
			size_t n;

			CHECK(at + 4 <= out.len);
			n = (size_t)out.p[at] << 24 | (size_t)out.p[at + 1] << 16 |
			    (size_t)out.p[at + 2] << 8 | out.p[at + 3];
			at += 4;
			if (n == 0xffffffffu) {
				CHECK(strcmp(fields[i], FUZZ_NULL) == 0);
				continue;
			}
			CHECK(n == strlen(fields[i]) && at + n <= out.len);
			CHECK(memcmp(out.p + at, fields[i], n) == 0);
			at += n;
		}
		CHECK(at == out.len);
	} else {
		CHECK(out.len == 0);
	}
	pcf_bytes_free(&out);
	pcf_binrow_free(b);
}

static void check_record(struct pcf_dialect d, const char *rec, size_t len)
{
	size_t body = len, ndelim = 0, total = 0, nfields = 0;
	char **fields = NULL;
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
	check_binrow(d, rec, len, fields, nfields);
	check_header(fields, nfields);
	pcf_fields_free(fields, nfields);
}

/* Checks split fields as a header against a fixed column list. */
static void check_header(char *const *fields, size_t nfields)
{
	static char *const cols[] = { "id", "name", "value", "Created At",
				      "" };
	const size_t ncols = sizeof(cols) / sizeof(cols[0]);
	const char *bad = "unset";
	enum pcf_header_verdict v;
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

/*
 * Splits one text-format record (terminator included, term bytes of it;
 * 0 for a last record without one) with pcf_split_text_record and checks
 * it against the reference decoding: -EINVAL exactly when a field decodes
 * to a NUL byte, else the same fields. out and flen are scratch room for
 * len and len + 1 entries.
 */
static void check_text_record(char delim, const char *rec, size_t len,
			      size_t term, unsigned char *out, size_t *flen)
{
	size_t body = len - term, nref, nfields = 0, lit = len, o = 0;
	char **fields = NULL;
	int nul, dangling, rc;

	nref = ref_split_text((unsigned char)delim, (const unsigned char *)rec,
			      body, out, flen, &nul, &dangling);
	rc = pcf_split_text_record(delim, rec, len, &fields, &nfields);
	CHECK(rc == (nul ? -EINVAL : 0));
	if (rc != 0)
		return;
	CHECK(nfields == nref);
	/*
	 * Where the splitter differs from the server, knowingly, the field
	 * bytes are not compared: it drops a trailing \n and \r even when a
	 * backslash escapes them (a last record at the end of the stream, or
	 * an escaped \r before the \n), and keeps a backslash that ends the
	 * line as itself, where the server drops it.
	 */
	if (lit > 0 && rec[lit - 1] == '\n')
		lit--;
	if (lit > 0 && rec[lit - 1] == '\r')
		lit--;
	if (lit == body && !dangling) {
		for (size_t i = 0; i < nfields; i++) {
			CHECK(strlen(fields[i]) == flen[i]);
			CHECK(memcmp(fields[i], out + o, flen[i]) == 0);
			o += flen[i];
		}
	}
	check_header(fields, nfields);
	pcf_fields_free(fields, nfields);
}

/* The text format: byte 0's bits 0-1 pick the splitter's delimiter. */
static void fuzz_text(const uint8_t *data, const char *p, size_t len)
{
	static const char delims[] = { '\t', ',', '|', ';' };
	const struct pcf_dialect none = { 0, 0, 0 };
	const char delim = delims[data[0] & 3];
	size_t *ref_ends, *flen, nends, start = 0;
	unsigned char *term, *out;
	struct marker_ref mk;
	struct scan_out got;
	uint64_t rows;

	/* +1, +2: malloc(0) may return NULL */
	ref_ends = malloc((len + 1) * sizeof(*ref_ends));
	got.ends = malloc((len + 1) * sizeof(*got.ends));
	term = malloc(len + 1);
	out = malloc(len + 1);
	flen = malloc((len + 2) * sizeof(*flen));
	CHECK(ref_ends && got.ends && term && out && flen);

	rows = ref_scan_text((const unsigned char *)p, len, ref_ends, term,
			     &nends, &mk);

	/* whole, then random pieces, then byte by byte */
	scan_cut(none, 1, p, len, 0, 0, &mk, &got);
	CHECK(got.rows == rows && got.finish == 0);
	CHECK(got.nends == nends);
	CHECK(memcmp(got.ends, ref_ends, nends * sizeof(*ref_ends)) == 0);
	CHECK(got.marker == mk.record);
	scan_cut(none, 1, p, len, 1 + data[1] % 64, data[2], &mk, &got);
	check_against(&got, ref_ends, term, nends, rows, 0, p, len);
	CHECK(got.marker == mk.record);
	if (len <= BYTEWISE_MAX) {
		scan_cut(none, 1, p, len, 1, 0, &mk, &got);
		check_against(&got, ref_ends, term, nends, rows, 0, p, len);
		CHECK(got.marker == mk.record);
	}

	for (size_t k = 0; k < nends; k++) {
		check_text_record(delim, p + start, ref_ends[k] - start,
				  term[k], out, flen);
		start = ref_ends[k];
	}
	if (start < len)
		check_text_record(delim, p + start, len - start, 0, out, flen);

	free(ref_ends);
	free(got.ends);
	free(term);
	free(out);
	free(flen);
}

/* CSV in the dialect byte 0 picks. */
static void fuzz_csv(const uint8_t *data, const char *p, size_t len)
{
	struct pcf_dialect d = pick_dialect(data[0]);
	size_t *ref_ends, nends, start = 0;
	struct scan_out got;
	uint64_t rows;
	ssize_t finish;

	/* +1: malloc(0) may return NULL */
	ref_ends = malloc((len + 1) * sizeof(*ref_ends));
	got.ends = malloc((len + 1) * sizeof(*got.ends));
	CHECK(ref_ends && got.ends);

	rows = ref_scan(d, (const unsigned char *)p, len, ref_ends, &nends,
			&finish);

	/* whole, then random pieces, then byte by byte */
	scan_cut(d, 0, p, len, 0, 0, NULL, &got);
	CHECK(got.rows == rows && got.finish == finish);
	CHECK(got.nends == nends);
	CHECK(memcmp(got.ends, ref_ends, nends * sizeof(*ref_ends)) == 0);
	scan_cut(d, 0, p, len, 1 + data[1] % 64, data[2], NULL, &got);
	check_against(&got, ref_ends, NULL, nends, rows, finish, p, len);
	if (len <= BYTEWISE_MAX) {
		scan_cut(d, 0, p, len, 1, 0, NULL, &got);
		check_against(&got, ref_ends, NULL, nends, rows, finish, p,
			      len);
	}

	for (size_t k = 0; k < nends; k++) {
		check_record(d, p + start, ref_ends[k] - start);
		start = ref_ends[k];
	}
	if (start < len)
		check_record(d, p + start, len - start);

	free(ref_ends);
	free(got.ends);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p;
	size_t len;

	if (size < 3)
		return 0;
	p = (const char *)data + 3;
	len = size - 3;
	if (data[0] & TEXT_MODE)
		fuzz_text(data, p, len);
	else
		fuzz_csv(data, p, len);
	check_names(p, len);
	return 0;
}
