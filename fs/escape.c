/*
 * escape.c - text from outside (table names, command lines, the server's
 * messages) made safe for one line of a log, a logfmt value or a JSON
 * string: no control byte and no invalid UTF-8 gets through as it is, so
 * no value can end a record early or forge another.
 */
#include "pgcopyfs.h"

#include <stdio.h>
#include <string.h>

/* The length of the valid UTF-8 sequence at p (len bytes left), or 0. */
static size_t utf8_len(const unsigned char *p, size_t len)
{
	unsigned c = p[0];
	size_t n;
	unsigned cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, cp = c & 0x07;
	else
		return 0;
	if (n > len)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0; /* overlong, a surrogate, or past Unicode */
	return n;
}

size_t pcf_escape(char *out, size_t outlen, const char *in, size_t inlen,
		  enum pcf_escape_mode mode)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t o = 0, need = 0;
	int full = 0; /* a piece did not fit: nothing after it is written */
	char tmp[8];

	for (size_t i = 0; i < inlen;) {
		size_t n = utf8_len(p + i, inlen - i);
		const char *put = tmp;
		size_t plen;

		if (n > 1) {
			put = in + i;
			plen = n;
		} else if (n == 1 && p[i] >= 0x20 && p[i] != 0x7f &&
			   !((p[i] == '"' && mode != PCF_ESC_LOG) ||
			     p[i] == '\\')) {
			put = in + i;
			plen = 1;
			n = 1;
		} else {
			unsigned char c = p[i];

			n = 1;
			if (c == '\n')
				plen = (size_t)snprintf(tmp, sizeof(tmp), "\\n");
			else if (c == '\r')
				plen = (size_t)snprintf(tmp, sizeof(tmp), "\\r");
			else if (c == '\t')
				plen = (size_t)snprintf(tmp, sizeof(tmp), "\\t");
			else if (c == '"' || c == '\\')
				plen = (size_t)snprintf(tmp, sizeof(tmp), "\\%c", c);
			else if (mode == PCF_ESC_JSON)
				/* a byte that is no UTF-8: as the Latin-1 letter */
				plen = (size_t)snprintf(tmp, sizeof(tmp),
							"\\u%04x", c);
			else
				plen = (size_t)snprintf(tmp, sizeof(tmp), "\\x%02x",
							c);
		}
		if (!full && o + plen < outlen) {
			memcpy(out + o, put, plen);
			o += plen;
		} else {
			full = 1;
		}
		need += plen;
		i += n;
	}
	if (outlen)
		out[o < outlen ? o : outlen - 1] = '\0';
	return need;
}

/*
 * The server echoes the row it was loading in a CONTEXT line:
 * 'COPY t, line 2: "<the line>"', or with ", column c" before the colon,
 * alone or inside a longer context (a trigger's, a shard's). Every such
 * line is cut before its ': "'; the line number and column stay.
 */
size_t pcf_cut_row_echo(const char *ctx, char *out, size_t outlen)
{
	size_t o = 0;

	for (const char *line = ctx; *line;) {
		const char *end = strchr(line, '\n');
		const char *copy, *cut = NULL;
		size_t len = end ? (size_t)(end - line) : strlen(line);

		/* "COPY <name>, line <digits>" then ": \"" in this line */
		for (copy = line; (copy = strstr(copy, "COPY ")) != NULL &&
				  copy < line + len;
		     copy += 5) {
			const char *l = strstr(copy, ", line ");
			const char *q;

			if (!l || l >= line + len)
				break;
			q = strstr(l, ": \"");
			if (q && q < line + len && l[7] >= '0' && l[7] <= '9') {
				cut = q;
				break;
			}
		}
		if (cut)
			len = (size_t)(cut - line);
		if (o + len + 1 < outlen) {
			memcpy(out + o, line, len);
			o += len;
			if (end && o + 1 < outlen)
				out[o++] = '\n';
		}
		if (!end)
			break;
		line = end + 1;
	}
	while (o > 0 && out[o - 1] == '\n')
		o--;
	if (outlen)
		out[o < outlen ? o : outlen - 1] = '\0';
	return o;
}
