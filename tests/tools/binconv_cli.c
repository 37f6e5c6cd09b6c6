/*
 * binconv_cli - fs/binconv.c from the command line, for tests/it/binconv.sh.
 *
 * Reads lines "ID TAB TYPE TAB HEXVALUE" (TYPE a pg_type name, the value's
 * bytes in hex) and prints "ID TAB HEX" with the converter's bytes, or
 * "ID TAB -" when it is not certain (or the type is not converted).
 */
#include "binconv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int unhex(const char *h, size_t n, char *out)
{
	for (size_t i = 0; i < n; i += 2) {
		unsigned v;

		if (sscanf(h + i, "%2x", &v) != 1)
			return -1;
		out[i / 2] = (char)v;
	}
	return (int)(n / 2);
}

int main(void)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;

	while ((len = getline(&line, &cap, stdin)) > 0) {
		char *id = strtok(line, "\t\n"), *type = strtok(NULL, "\t\n");
		char *hex = strtok(NULL, "\t\n");
		size_t hl = hex ? strlen(hex) : 0;
		char *v = malloc(hl / 2 + 1);
		unsigned char *out = malloc(hl / 2 + PCF_BIN_FIXED_MAX);
		ssize_t n = -1;
		int vl;

		if (!id || !type || !v || !out)
			return 2;
		if ((vl = unhex(hex ? hex : "", hl, v)) >= 0)
			n = pcf_bin_convert(pcf_bin_type_of(type), v, (size_t)vl,
					    out, hl / 2 + PCF_BIN_FIXED_MAX);
		printf("%s\t", id);
		if (n < 0)
			putchar('-');
		for (ssize_t i = 0; i < n; i++)
			printf("%02x", out[i]);
		putchar('\n');
		free(v);
		free(out);
	}
	free(line);
	return 0;
}
