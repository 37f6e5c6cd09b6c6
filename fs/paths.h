/*
 * paths.h - what a path in the mount names, from its text alone:
 *
 *   /                          the root: schemas and .pgcopyfs
 *   /.pgcopyfs[/...]           status files (status.c says which exist)
 *   /<schema>                  a schema directory
 *   /<schema>/<table>.csv      a table's file (also .tsv, .jsonl, .ndjson,
 *                              and any of them + .gz or .zst: its formats)
 *   /<schema>/<table>.d        the table's drop folder
 *   /<schema>/<table>.d/<name> a file in it: a load, or staged (dot-name)
 *   /<schema>/<other>          a staged file (a dot-name, or no format's
 *                              suffix)
 *
 * Names are as they appear in the mount (escaped, names.c). Whether any of
 * it exists is for the catalog and the stores to say.
 */
#ifndef PCF_PATHS_H
#define PCF_PATHS_H

#include <stddef.h>
#include <stdint.h>

/* The directory that holds the status files, hidden by its leading dot. */
#define PCF_STATUS_DIR ".pgcopyfs"

enum pcf_path_kind {
	PCF_PATH_ROOT,
	PCF_PATH_STATUS,
	PCF_PATH_SCHEMA,
	PCF_PATH_TABLE,  /* <table>.csv, or another format's name */
	PCF_PATH_STAGED, /* any other name in a schema, a dot-name in a drop
		      * folder: a staged file, or none */
	PCF_PATH_DROP,   /* <table>.d: the table's drop folder */
	PCF_PATH_DROP_FILE, /* <table>.d/<name>: a load into the table */
};

struct pcf_path {
	enum pcf_path_kind kind;
	const char *rel;  /* PCF_PATH_STATUS: the path below .pgcopyfs ("" or
			   * "/history"), for status.c */
	int is_dir;       /* PCF_PATH_STATUS: a directory, set by the caller (status.c knows) */
	char schema[256]; /* escaped schema name */
	char file[256];   /* the name as given: a table's file, or staged */
	char dir[520];    /* the parent: "/<schema>" or "/<schema>/<t>.d" */
	char table[260];  /* PCF_PATH_TABLE, PCF_PATH_DROP, PCF_PATH_DROP_FILE: the
			   * table's file name as the catalog knows it,
			   * "<t>.csv", whatever format the name asks for */
};


/* How a table file's bytes are read: its name says (a load's format). */
enum pcf_format {
	PCF_FMT_CSV,   /* <t>.csv: COPY's CSV */
	PCF_FMT_TEXT,  /* <t>.tsv: COPY's text format */
	PCF_FMT_JSONL, /* <t>.jsonl, <t>.ndjson: one JSON object per line */
};

enum pcf_compression {
	PCF_COMP_DETECT, /* none named: gzip or zstd by their magic bytes */
	PCF_COMP_GZIP,   /* .gz */
	PCF_COMP_ZSTD,   /* .zst */
};

struct pcf_name_format {
	enum pcf_format format;
	enum pcf_compression comp;
	size_t base_len; /* the name without its suffixes */
};

/* Reads the suffixes of a file name: <base>.<csv|tsv|jsonl|ndjson>, then
 * .gz or .zst if compressed. 1 with *f filled when name ends so (with a
 * base of at least one byte), else 0 (then *f is CSV, detect). */
int pcf_name_format(const char *name, struct pcf_name_format *f);

/* Splits a path into what it names: 0, or -ENOENT for anything deeper or
 * malformed. */
int pcf_path_parse(const char *path, struct pcf_path *n);

/* "/a" + "b" -> "/a/b"; NULL when too long. Free it. */
char *pcf_path_join(const char *dir, const char *name);

/* FNV-1a of the path: what stat shows, whichever node answers (never 0,
 * or 1, the root's). */
uint64_t pcf_path_ino(const char *path);

#endif
