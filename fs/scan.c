/*
 * scan.c - the incremental CSV record scanner.
 *
 * The rules are those of the server's COPY line reader for CSV, so that the
 * rows counted here are the rows the server loads: a quote character toggles
 * quoting wherever it appears; when ESCAPE differs from QUOTE, an escape
 * inside quotes protects the next quote; outside quotes \n, \r\n and a lone
 * \r end a record. The server rejects mixed line ends itself; the scanner
 * only has to agree with it on every input it accepts.
 *
 * Every byte of every load passes here, so the loops are tight: a class
 * table says which bytes matter, the state lives in locals, and inside quotes
 * with no separate escape (the default) memchr jumps to the closing quote.
 */
#include "pgcopyfs.h"

#include <string.h>

enum { C_QUOTE = 1, C_ESCAPE = 2, C_EOL = 4 };

void pcf_scan_init(struct pcf_scanner *s, struct pcf_dialect d)
{
	memset(s, 0, sizeof(*s));
	s->d = d;
	/* Same as the server: an escape equal to the quote is no escape. */
	if (s->d.escape == s->d.quote)
		s->d.escape = '\0';
	s->cls[(unsigned char)'\n'] |= C_EOL;
	s->cls[(unsigned char)'\r'] |= C_EOL;
	s->cls[(unsigned char)s->d.quote] |= C_QUOTE;
	if (s->d.escape)
		s->cls[(unsigned char)s->d.escape] |= C_ESCAPE;
}

/*
 * Scans p[0..len): with one, up to the end of the first record that ends
 * (returning the bytes consumed), else through all of it (returning
 * PCF_SCAN_PARTIAL, with the records that ended counted in s->rows).
 */
static ssize_t scan(struct pcf_scanner *s, const unsigned char *p, size_t len,
		    int one)
{
	const unsigned char *cls = s->cls;
	const unsigned char q = (unsigned char)s->d.quote;
	const unsigned char e = (unsigned char)s->d.escape;
	unsigned char in_quote = s->in_quote, esc = s->last_was_esc;
	size_t i = 0, start;
	ssize_t ret = PCF_SCAN_PARTIAL;
	int ended = 0;

	if (s->pending_cr && len > 0) {
		s->pending_cr = 0;
		if (p[0] == '\n')
			i = 1; /* the \n of a \r\n that ended the last record */
	}
	start = i; /* where the current record's bytes begin in p */
	while (i < len) {
		if (!in_quote) {
			while (i < len && !(cls[p[i]] & (C_QUOTE | C_EOL)))
				i++;
			if (i == len)
				break;
			if (p[i] == q) {
				/* Opening quote: escapes count inside only. */
				in_quote = 1;
				esc = 0;
				i++;
				continue;
			}
			s->rows++;
			if (p[i] == '\r') {
				if (i + 1 == len)
					s->pending_cr = 1;
				else if (p[i + 1] == '\n')
					i++;
			}
			start = ++i;
			ended = 1;
			if (one) {
				ret = (ssize_t)i;
				break;
			}
			continue;
		}
		if (!e) {
			/* Quote is its own escape: "" toggles twice. */
			const unsigned char *x = memchr(p + i, q, len - i);

			if (!x) {
				i = len;
				break;
			}
			i = (size_t)(x - p) + 1;
			in_quote = 0;
			continue;
		}
		if (!(cls[p[i]] & (C_QUOTE | C_ESCAPE))) {
			esc = 0;
			while (++i < len && !(cls[p[i]] & (C_QUOTE | C_ESCAPE)))
				;
			continue;
		}
		if (p[i] == e)
			esc = !esc;
		if (p[i] == q && !esc)
			in_quote = 0;
		if (p[i] != e)
			esc = 0;
		i++;
	}
	s->in_quote = in_quote;
	s->last_was_esc = esc;
	s->bytes += ret == PCF_SCAN_PARTIAL ? len : (size_t)ret;
	/* Bytes of a record that has not ended yet are pending at EOF. */
	if (ret != PCF_SCAN_PARTIAL)
		s->row_open = 0;
	else if (len > start)
		s->row_open = 1;
	else if (ended)
		s->row_open = 0;
	return ret;
}

ssize_t pcf_scan_record(struct pcf_scanner *s, const char *buf, size_t len)
{
	return scan(s, (const unsigned char *)buf, len, 1);
}

uint64_t pcf_scan_chunk(struct pcf_scanner *s, const char *buf, size_t len)
{
	uint64_t before = s->rows;

	scan(s, (const unsigned char *)buf, len, 0);
	return s->rows - before;
}

ssize_t pcf_scan_finish(struct pcf_scanner *s)
{
	if (s->in_quote)
		return PCF_SCAN_UNTERMINATED;
	if (s->row_open) {
		s->rows++;
		s->row_open = 0;
	}
	return 0;
}
