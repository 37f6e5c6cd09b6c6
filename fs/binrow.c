/*
 * binrow.c - a CSV record to a binary COPY tuple (binrow.h).
 *
 * A tuple is: int16 field count, then per field an int32 length (-1 for
 * NULL) and the bytes of the type's send function, all big-endian. The
 * record is split here with COPY's CSV attribute reader's rules
 * (CopyReadAttributesCSV), without a copy for the fields that hold no
 * quote.
 */
#include "binrow.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const unsigned char pcf_binary_header[PCF_BINARY_HEADER_LEN] = {
	'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xff, '\r', '\n', 0,
	0, 0, 0, 0, /* flags: no OIDs */
	0, 0, 0, 0, /* no header extension */
};
const unsigned char pcf_binary_trailer[2] = { 0xff, 0xff };

struct pcf_binrow {
	enum pcf_binrow_format format;
	struct pcf_dialect d;
	char *null_string;
	size_t null_len;
	enum pcf_eol eol;
	size_t ncols;
	struct pcf_binrow_col *cols;
	char *scratch; /* a quoted field's value, unquoted */
	size_t scratch_cap;
};

int pcf_bytes_reserve(struct pcf_bytes *b, size_t n)
{
	size_t cap;
	unsigned char *p;

	if (b->cap - b->len >= n)
		return 0;
	cap = b->cap ? b->cap : 1 << 16;
	while (cap - b->len < n)
		cap *= 2;
	if (!(p = realloc(b->p, cap)))
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

void pcf_bytes_free(struct pcf_bytes *b)
{
	free(b->p);
	*b = (struct pcf_bytes){ 0 };
}

struct pcf_binrow *pcf_binrow_new(enum pcf_binrow_format f,
				  struct pcf_dialect d, const char *null_string,
				  const struct pcf_binrow_col *cols,
				  size_t ncols, enum pcf_eol eol)
{
	struct pcf_binrow *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->format = f;
	b->d = d;
	b->eol = eol;
	b->ncols = ncols;
	if (!null_string)
		null_string = f == PCF_BINROW_TEXT ? "\\N" : "";
	b->null_string = strdup(null_string);
	b->cols = calloc(ncols ? ncols : 1, sizeof(*cols));
	if (!b->null_string || !b->cols) {
		pcf_binrow_free(b);
		return NULL;
	}
	b->null_len = strlen(b->null_string);
	if (ncols)
		memcpy(b->cols, cols, ncols * sizeof(*cols));
	return b;
}

void pcf_binrow_free(struct pcf_binrow *b)
{
	if (!b)
		return;
	free(b->null_string);
	free(b->cols);
	free(b->scratch);
	free(b);
}

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/* The record's body: without its terminator, which must be the COPY's line
 * end (a last record may have none). (size_t)-1 when it is not. */
static size_t body_len(const struct pcf_binrow *b, const char *rec, size_t len,
		       int last)
{
	if (len > 0 && rec[len - 1] == '\n') {
		int cr = len > 1 && rec[len - 2] == '\r';

		if (cr != (b->eol == PCF_EOL_CRLF))
			return (size_t)-1;
		return len - 1 - (size_t)cr;
	}
	/* A record that ends without a line end is the stream's last, or
	 * ended with a lone \r: a line end of another style. */
	return last && (len == 0 || rec[len - 1] != '\r') ? len : (size_t)-1;
}

/* UTF-8 characters in v (valid UTF-8: checked by the converter). */
static size_t utf8_chars(const char *v, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += ((unsigned char)v[i] & 0xc0) != 0x80;
	return n;
}

/* numeric(p,s)'s integer digits: fewer than num_int, so that the server's
 * rounding to s cannot carry past p (it would refuse the value). */
static int numeric_fits(const char *v, size_t len, int num_int)
{
	size_t i = 0, n = 0;

	if (num_int < 0)
		return 1;
	if (i < len && (v[i] == '+' || v[i] == '-'))
		i++;
	while (i < len && v[i] == '0')
		i++;
	while (i < len && v[i] >= '0' && v[i] <= '9')
		i++, n++;
	if (len == 3 && (v[0] == 'N' || v[0] == 'n'))
		return 1; /* NaN fits every typmod */
	return n < (size_t)num_int;
}

/* One field's value into out at *at: its length word and bytes. 0, or -1
 * when not certain. */
static int put_field(const struct pcf_binrow_col *c, const char *v, size_t len,
		     unsigned char *out, size_t cap)
{
	ssize_t n;

	if (c->max_bytes >= 0 && len > (size_t)c->max_bytes)
		return -1;
	if (c->num_int >= 0 && c->type == PCF_BIN_NUMERIC &&
	    !numeric_fits(v, len, c->num_int))
		return -1;
	n = pcf_bin_convert(c->type, v, len, out + 4, cap - 4);
	if (n < 0 && c->type == PCF_BIN_TIMESTAMPTZ && c->utc)
		/* no offset (the other converter takes none): read in UTC */
		n = pcf_bin_convert(PCF_BIN_TIMESTAMP, v, len, out + 4, cap - 4);
	if (n < 0)
		return -1;
	if (c->max_chars >= 0 && utf8_chars(v, len) > (size_t)c->max_chars)
		return -1; /* the server's message names the limit */
	put32(out, (uint32_t)n);
	return (int)(4 + n);
}

/*
 * The text format's field at rec[*i..body): decoded into s (its value,
 * *vlen bytes) unless it holds no backslash, then *v points into rec.
 * 0, or -1 for a backslash ending the line (the server's to judge).
 */
static int text_field(const struct pcf_binrow *b, const char *rec,
		      size_t body, size_t *i, const char **v, size_t *vlen,
		      char *s)
{
	const char delim = b->d.delimiter;
	size_t f0 = *i, n;

	while (*i < body && rec[*i] != delim && rec[*i] != '\\')
		(*i)++;
	*v = rec + f0;
	*vlen = *i - f0;
	if (*i >= body || rec[*i] != '\\')
		return 0;
	n = *vlen;
	memcpy(s, rec + f0, n);
	*v = s;
	while (*i < body && rec[*i] != delim) {
		char c = rec[(*i)++];

		if (c != '\\') {
			s[n++] = c;
			continue;
		}
		if (*i >= body)
			return -1;
		c = pcf_text_escape(rec, body, i);
		s[n++] = c;
	}
	*vlen = n;
	return 0;
}

/*
 * The CSV field at rec[*i..body): *v points into rec while it holds no
 * quote, else into s, where it is unquoted. *null when unquoted and equal
 * to the null string. 0, or -1 for an open quote (the server's error).
 */
static int csv_field(const struct pcf_binrow *b, const char *rec, size_t body,
		     size_t *i, const char **v, size_t *vlen, int *null,
		     char *s)
{
	const char q = b->d.quote, e = b->d.escape, delim = b->d.delimiter;
	size_t f0 = *i, n;
	int quoted = 0;

	while (*i < body && rec[*i] != delim && rec[*i] != q)
		(*i)++;
	*v = rec + f0;
	*vlen = *i - f0;
	if (*i >= body || rec[*i] != q) {
		*null = *vlen == b->null_len &&
			memcmp(*v, b->null_string, *vlen) == 0;
		return 0;
	}
	n = *vlen;
	memcpy(s, rec + f0, n);
	*v = s;
	*null = 0; /* a quote was seen */
	while (*i < body) {
		char c = rec[(*i)++];

		if (!quoted && c == delim) {
			(*i)--;
			break;
		}
		if (!quoted && c == q) {
			quoted = 1;
			continue;
		}
		if (quoted && c == e && *i < body &&
		    (rec[*i] == q || rec[*i] == e)) {
			s[n++] = rec[(*i)++];
			continue;
		}
		if (quoted && c == q) {
			quoted = 0;
			continue;
		}
		s[n++] = c;
	}
	*vlen = n;
	return quoted ? -1 : 0;
}

int pcf_binrow_tuple(struct pcf_binrow *b, const char *rec, size_t len,
		     int last, struct pcf_bytes *out)
{
	size_t body = body_len(b, rec, len, last), i = 0, nf = 0, start;
	/* Every field's bytes fit in its text's length plus a numeric's
	 * header and groups, or a fixed width. */
	size_t need = 2 + b->ncols * (4 + PCF_BIN_FIXED_MAX + 16) + 2 * len;
	unsigned char *p;

	if (body == (size_t)-1 || b->ncols == 0 || b->ncols > 1600)
		return 0;
	if (pcf_bytes_reserve(out, need) != 0)
		return -ENOMEM;
	if (b->scratch_cap < body + 1) {
		char *s = realloc(b->scratch, body + 1);

		if (!s)
			return -ENOMEM;
		b->scratch = s;
		b->scratch_cap = body + 1;
	}
	start = out->len;
	p = out->p + start + 2;
	for (;;) {
		const char *v;
		size_t vlen, f0 = i;
		int null, n;

		if (b->format == PCF_BINROW_TEXT) {
			if (text_field(b, rec, body, &i, &v, &vlen,
				       b->scratch) != 0)
				return 0;
			/* NULL is the raw field's spelling */
			null = i - f0 == b->null_len &&
			       memcmp(rec + f0, b->null_string, b->null_len) == 0;
		} else if (csv_field(b, rec, body, &i, &v, &vlen, &null,
				     b->scratch) != 0) {
			return 0;
		}
		if (nf == b->ncols)
			return 0; /* extra data after the last column */
		if (null) {
			put32(p, 0xffffffffu);
			p += 4;
		} else {
			n = put_field(&b->cols[nf], v, vlen, p,
				      out->cap - (size_t)(p - out->p));
			if (n < 0)
				return 0;
			p += n;
		}
		nf++;
		if (i >= body)
			break;
		i++; /* the delimiter */
	}
	if (nf != b->ncols)
		return 0; /* missing data for a column */
	out->p[start] = (unsigned char)(nf >> 8);
	out->p[start + 1] = (unsigned char)nf;
	out->len = (size_t)(p - out->p);
	return 1;
}
