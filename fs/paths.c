/*
 * paths.c - what a path in the mount names (paths.h). Pure: no I/O, no
 * catalog; the callers ask the catalog and the stores whether it exists.
 */
#include "paths.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t pcf_path_ino(const char *path)
{
	uint64_t h = 1469598103934665603ULL;

	for (const unsigned char *p = (const unsigned char *)path; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	return h | 2; /* never 0 or 1 (the root) */
}

static int copy_part(char *dst, const char *src, size_t len)
{
	if (len == 0 || len >= 256)
		return -ENOENT;
	memcpy(dst, src, len);
	dst[len] = '\0';
	return 0;
}

/* "<table>.d" (not a dot-name): the drop folder of <table>, whose table
 * file name goes to table ("<table>.csv"). */
static int drop_folder_name(const char *name, char *table)
{
	size_t len = strlen(name);

	if (name[0] == '.' || len < 3 || strcmp(name + len - 2, ".d") != 0 ||
	    len - 2 + 5 > 256)
		return 0;
	memcpy(table, name, len - 2);
	memcpy(table + len - 2, ".csv", 5);
	return 1;
}

static int ends_with(const char *s, size_t len, const char *tail)
{
	size_t t = strlen(tail);

	return len > t && memcmp(s + len - t, tail, t) == 0;
}

int pcf_name_format(const char *name, struct pcf_name_format *f)
{
	static const struct {
		const char *suffix;
		enum pcf_format format;
	} formats[] = { { ".csv", PCF_FMT_CSV },
			{ ".tsv", PCF_FMT_TEXT },
			{ ".jsonl", PCF_FMT_JSONL },
			{ ".ndjson", PCF_FMT_JSONL } };
	size_t len = strlen(name);

	f->format = PCF_FMT_CSV;
	f->comp = PCF_COMP_DETECT;
	f->base_len = len;
	if (ends_with(name, len, ".gz"))
		len -= 3, f->comp = PCF_COMP_GZIP;
	else if (ends_with(name, len, ".zst"))
		len -= 4, f->comp = PCF_COMP_ZSTD;
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (ends_with(name, len, formats[i].suffix)) {
			f->format = formats[i].format;
			f->base_len = len - strlen(formats[i].suffix);
			return 1;
		}
	f->comp = PCF_COMP_DETECT;
	return 0;
}

int pcf_path_parse(const char *path, struct pcf_path *n)
{
	const char *a = path + 1, *slash = strchr(a, '/');
	size_t dlen = strlen(PCF_STATUS_DIR);

	memset(n, 0, sizeof(*n));
	if (*a == '\0') {
		n->kind = PCF_PATH_ROOT;
		return 0;
	}
	if (strncmp(a, PCF_STATUS_DIR, dlen) == 0 &&
	    (a[dlen] == '\0' || a[dlen] == '/')) {
		n->kind = PCF_PATH_STATUS;
		n->rel = a + dlen;
		return 0;
	}
	if (!slash) {
		n->kind = PCF_PATH_SCHEMA;
		return copy_part(n->schema, a, strlen(a));
	}
	if (copy_part(n->schema, a, (size_t)(slash - a)))
		return -ENOENT;
	const char *rest = slash + 1, *slash2 = strchr(rest, '/');
	char folder[256];

	if (slash2) {
		/* /<schema>/<table>.d/<name> */
		if (strchr(slash2 + 1, '/') ||
		    copy_part(folder, rest, (size_t)(slash2 - rest)) ||
		    !drop_folder_name(folder, n->table) ||
		    copy_part(n->file, slash2 + 1, strlen(slash2 + 1)))
			return -ENOENT;
		snprintf(n->dir, sizeof(n->dir), "/%s/%s", n->schema, folder);
		/* Dot-names are a tool's temp and lock files: staged, loaded
		 * when renamed onto a name of the folder. */
		n->kind = n->file[0] == '.' ? PCF_PATH_STAGED : PCF_PATH_DROP_FILE;
		return 0;
	}
	if (copy_part(n->file, rest, strlen(rest)))
		return -ENOENT;
	snprintf(n->dir, sizeof(n->dir), "/%s", n->schema);
	if (drop_folder_name(n->file, n->table)) {
		n->kind = PCF_PATH_DROP;
		return 0;
	}
	n->kind = PCF_PATH_STAGED;
	/* A table's file name never begins with a dot (names.c escapes it):
	 * dot-names, and names without a format's suffix, are free for
	 * staged files. A format's name that is no table stays ENOENT, not a
	 * staged file, so that a typo in a table's name fails instead of
	 * loading nothing. */
	struct pcf_name_format f;

	if (n->file[0] != '.' && pcf_name_format(n->file, &f)) {
		n->kind = PCF_PATH_TABLE;
		memcpy(n->table, n->file, f.base_len);
		memcpy(n->table + f.base_len, ".csv", 5);
	}
	return 0;
}

char *pcf_path_join(const char *dir, const char *name)
{
	char *p;

	if (strlen(dir) + strlen(name) + 2 > PATH_MAX)
		return NULL;
	if (asprintf(&p, "%s/%s", strcmp(dir, "/") == 0 ? "" : dir, name) < 0)
		return NULL;
	return p;
}

