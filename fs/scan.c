/*
 * scan.c - the incremental CSV record scanner.
 *
 * The rules are those of the server's COPY line reader for CSV, so that the
 * rows counted here are the rows the server loads: a quote character toggles
 * quoting wherever it appears; when ESCAPE differs from QUOTE, an escape
 * inside quotes protects the next quote; outside quotes \n, \r\n and a lone
 * \r end a record. The server rejects mixed line ends itself; the scanner
 * only has to agree with it on every input it accepts.
 */
#include "pgcopyfs.h"

#include <string.h>

void pcf_scan_init(struct pcf_scanner *s, struct pcf_dialect d)
{
	memset(s, 0, sizeof(*s));
	s->d = d;
	/* Same as the server: an escape equal to the quote is no escape. */
	if (s->d.escape == s->d.quote)
		s->d.escape = '\0';
}

/* Advances the quote state over one byte inside or outside quotes. */
static inline void scan_quote_state(struct pcf_scanner *s, unsigned char c)
{
	const unsigned char q = (unsigned char)s->d.quote;
	const unsigned char e = (unsigned char)s->d.escape;

	if (s->in_quote && e && c == e)
		s->last_was_esc = !s->last_was_esc;
	if (c == q && !s->last_was_esc)
		s->in_quote = !s->in_quote;
	if (!e || c != e)
		s->last_was_esc = 0;
}

ssize_t pcf_scan_record(struct pcf_scanner *s, const char *buf, size_t len)
{
	const unsigned char *p = (const unsigned char *)buf;
	const unsigned char q = (unsigned char)s->d.quote;
	const unsigned char e = (unsigned char)s->d.escape;
	size_t i = 0, start;

	s->bytes += len;
	if (s->pending_cr && len > 0) {
		s->pending_cr = 0;
		if (p[0] == '\n')
			i = 1; /* the \n of a \r\n that ended the last record */
	}
	start = i;
	while (i < len) {
		if (!s->in_quote) {
			/* Fast path: plain bytes of an unquoted stretch. */
			while (i < len && p[i] != q && p[i] != '\n' && p[i] != '\r')
				i++;
			if (i == len)
				break;
			if (p[i] == '\n' || p[i] == '\r') {
				s->rows++;
				s->row_open = 0;
				if (p[i] == '\r') {
					if (i + 1 < len)
						i += p[i + 1] == '\n' ? 1 : 0;
					else
						s->pending_cr = 1;
				}
				i++;
				s->bytes -= len - i;
				return (ssize_t)i;
			}
			/* An opening quote: escapes only count inside quotes. */
			s->row_open = 1;
			s->in_quote = 1;
			s->last_was_esc = 0;
			i++;
			continue;
		}
		/* Inside quotes only the quote and the escape matter. */
		while (i < len && p[i] != q && (!e || p[i] != e)) {
			s->last_was_esc = 0;
			i++;
		}
		if (i == len)
			break;
		scan_quote_state(s, p[i]);
		i++;
	}
	if (len > start)
		s->row_open = 1;
	return PCF_SCAN_PARTIAL;
}

uint64_t pcf_scan_chunk(struct pcf_scanner *s, const char *buf, size_t len)
{
	uint64_t before = s->rows;

	while (len > 0) {
		ssize_t n = pcf_scan_record(s, buf, len);

		if (n == PCF_SCAN_PARTIAL)
			break;
		buf += n;
		len -= (size_t)n;
	}
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
