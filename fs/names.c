/*
 * names.c - schema and table names as file names, and back.
 * See pgcopyfs.h for the rule; the README documents it for users.
 */
#include "pgcopyfs.h"

#include <errno.h>
#include <string.h>

ssize_t pcf_name_escape(const char *name, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (size_t i = 0; name[i]; i++) {
		unsigned char c = (unsigned char)name[i];
		int esc = c == '/' || c == '%' || (i == 0 && c == '.');

		if (o + (esc ? 3 : 1) >= outlen)
			return -ENAMETOOLONG;
		if (esc) {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		} else {
			out[o++] = (char)c;
		}
	}
	if (o >= outlen)
		return -ENAMETOOLONG;
	out[o] = '\0';
	return (ssize_t)o;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

ssize_t pcf_name_unescape(const char *in, size_t len, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= len)
				return -ENOENT;
			hi = hexval(in[i + 1]);
			lo = hexval(in[i + 2]);
			if (hi < 0 || lo < 0)
				return -ENOENT;
			c = (unsigned char)(hi << 4 | lo);
			/* Only what escape would have escaped, so names map 1:1. */
			if (!(c == '/' || c == '%' || (o == 0 && c == '.')))
				return -ENOENT;
			i += 2;
		} else if (c == '\0' || c == '/' || (o == 0 && c == '.')) {
			return -ENOENT;
		}
		if (o + 1 >= outlen)
			return -ENAMETOOLONG;
		out[o++] = (char)c;
	}
	if (o == 0)
		return -ENOENT;
	out[o] = '\0';
	return (ssize_t)o;
}
