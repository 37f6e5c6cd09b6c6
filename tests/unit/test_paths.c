/*
 * test_paths.c - what a path in the mount names (fs/paths.c): the table
 * files, drop folders and their files, staged names, and what is refused,
 * table-driven.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "paths.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const struct {
	const char *path;
	int rc;
	enum pcf_path_kind kind;
	const char *schema, *file, *dir, *table;
} cases[] = {
	{ "/", 0, PCF_PATH_ROOT, "", "", "", "" },
	{ "/public", 0, PCF_PATH_SCHEMA, "public", "", "", "" },
	{ "/.pgcopyfs", 0, PCF_PATH_STATUS, "", "", "", "" },
	{ "/.pgcopyfs/history", 0, PCF_PATH_STATUS, "", "", "", "" },
	{ "/public/t.csv", 0, PCF_PATH_TABLE, "public", "t.csv", "/public", "t.csv" },
	{ "/public/odd%2Fname.csv", 0, PCF_PATH_TABLE, "public", "odd%2Fname.csv",
	  "/public", "odd%2Fname.csv" },
	/* staged: dot-names, names without .csv */
	{ "/public/.t.csv.Ab12Cd", 0, PCF_PATH_STAGED, "public", ".t.csv.Ab12Cd",
	  "/public", "" },
	{ "/public/tmpab12cd", 0, PCF_PATH_STAGED, "public", "tmpab12cd", "/public", "" },
	{ "/public/.~lock.t.csv#", 0, PCF_PATH_STAGED, "public", ".~lock.t.csv#",
	  "/public", "" },
	{ "/public/x.csv.tmp", 0, PCF_PATH_STAGED, "public", "x.csv.tmp", "/public", "" },
	{ "/public/.csv", 0, PCF_PATH_STAGED, "public", ".csv", "/public", "" },
	/* ".csv" alone is no table name: not 4 < length */
	{ "/public/t.d", 0, PCF_PATH_DROP, "public", "t.d", "/public", "t.csv" },
	{ "/public/t.d/part-aa", 0, PCF_PATH_DROP_FILE, "public", "part-aa",
	  "/public/t.d", "t.csv" },
	{ "/public/t.d/orders.csv", 0, PCF_PATH_DROP_FILE, "public", "orders.csv",
	  "/public/t.d", "t.csv" },
	{ "/public/t.d/.orders.csv.XyZ", 0, PCF_PATH_STAGED, "public",
	  ".orders.csv.XyZ", "/public/t.d", "t.csv" },
	/* a dot-name folder is no drop folder; deeper paths are nothing */
	{ "/public/.t.d", 0, PCF_PATH_STAGED, "public", ".t.d", "/public", "" },
	{ "/public/.t.d/x", -ENOENT, PCF_PATH_ROOT, NULL, NULL, NULL, NULL },
	{ "/public/t.csv/x", -ENOENT, PCF_PATH_ROOT, NULL, NULL, NULL, NULL },
	{ "/public/t.d/a/b", -ENOENT, PCF_PATH_ROOT, NULL, NULL, NULL, NULL },
	{ "/public/d/x", -ENOENT, PCF_PATH_ROOT, NULL, NULL, NULL, NULL },
	/* other formats' names: neither a table file yet nor staged */
	/* the other formats' names: the table's file, read another way */
	{ "/public/t.csv.gz", 0, PCF_PATH_TABLE, "public", "t.csv.gz", "/public", "t.csv" },
	{ "/public/t.csv.zst", 0, PCF_PATH_TABLE, "public", "t.csv.zst", "/public", "t.csv" },
	{ "/public/t.tsv", 0, PCF_PATH_TABLE, "public", "t.tsv", "/public", "t.csv" },
	{ "/public/t.jsonl.gz", 0, PCF_PATH_TABLE, "public", "t.jsonl.gz", "/public", "t.csv" },
	{ "/public/t.ndjson", 0, PCF_PATH_TABLE, "public", "t.ndjson", "/public", "t.csv" },
	{ "/public/a.tsv.csv", 0, PCF_PATH_TABLE, "public", "a.tsv.csv", "/public",
	  "a.tsv.csv" }, /* table "a.tsv" */
	{ "/public/csv.gz", 0, PCF_PATH_STAGED, "public", "csv.gz", "/public", "" },
	{ "/public/.t.tsv", 0, PCF_PATH_STAGED, "public", ".t.tsv", "/public", "" },
	{ "/public/.t.csv.gz.Ab12", 0, PCF_PATH_STAGED, "public", ".t.csv.gz.Ab12",
	  "/public", "" },
	{ "/public/notes.gz", 0, PCF_PATH_STAGED, "public", "notes.gz", "/public", "" },
	{ "/public/t.d/x.csv.gz", 0, PCF_PATH_DROP_FILE, "public", "x.csv.gz",
	  "/public/t.d", "t.csv" },
};

static void test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		struct pcf_path n;
		int rc = pcf_path_parse(cases[i].path, &n);

		if (rc != cases[i].rc)
			fail_msg("%s: rc %d, expected %d", cases[i].path, rc,
				 cases[i].rc);
		if (rc)
			continue;
		if (n.kind != cases[i].kind)
			fail_msg("%s: kind %d, expected %d", cases[i].path,
				 (int)n.kind, (int)cases[i].kind);
		assert_string_equal(n.schema, cases[i].schema);
		assert_string_equal(n.file, cases[i].file);
		assert_string_equal(n.dir, cases[i].dir);
		assert_string_equal(n.table, cases[i].table);
	}
}

static void test_name_format(void **state)
{
	static const struct {
		const char *name;
		int known;
		enum pcf_format format;
		enum pcf_compression comp;
		size_t base;
	} f[] = {
		{ "t.csv", 1, PCF_FMT_CSV, PCF_COMP_DETECT, 1 },
		{ "t.tsv", 1, PCF_FMT_TEXT, PCF_COMP_DETECT, 1 },
		{ "events.jsonl.zst", 1, PCF_FMT_JSONL, PCF_COMP_ZSTD, 6 },
		{ "e.ndjson.gz", 1, PCF_FMT_JSONL, PCF_COMP_GZIP, 1 },
		{ "orders.csv.gz", 1, PCF_FMT_CSV, PCF_COMP_GZIP, 6 },
		{ "part-aa", 0, PCF_FMT_CSV, PCF_COMP_DETECT, 7 },
		{ "notes.gz", 0, PCF_FMT_CSV, PCF_COMP_DETECT, 8 },
		{ ".tsv", 0, PCF_FMT_CSV, PCF_COMP_DETECT, 4 },
		{ "x.gz.tsv", 1, PCF_FMT_TEXT, PCF_COMP_DETECT, 4 },
	};

	(void)state;
	for (size_t i = 0; i < NELEM(f); i++) {
		struct pcf_name_format nf;

		if (pcf_name_format(f[i].name, &nf) != f[i].known ||
		    nf.format != f[i].format || nf.comp != f[i].comp ||
		    nf.base_len != f[i].base)
			fail_msg("%s: %d %d %zu", f[i].name, (int)nf.format,
				 (int)nf.comp, nf.base_len);
	}
}

static void test_status_rel(void **state)
{
	struct pcf_path n;

	(void)state;
	assert_int_equal(pcf_path_parse("/.pgcopyfs/errors/public", &n), 0);
	assert_string_equal(n.rel, "/errors/public");
	assert_int_equal(pcf_path_parse("/.pgcopyfsx", &n), 0);
	assert_int_equal(n.kind, PCF_PATH_SCHEMA); /* a schema of that name */
}

static void test_long_names(void **state)
{
	char path[600], name[300];
	struct pcf_path n;

	(void)state;
	memset(name, 'a', 255);
	name[255] = '\0';
	snprintf(path, sizeof(path), "/public/%s", name);
	assert_int_equal(pcf_path_parse(path, &n), 0);
	memset(name, 'a', 256);
	name[256] = '\0';
	snprintf(path, sizeof(path), "/public/%s", name);
	assert_int_equal(pcf_path_parse(path, &n), -ENOENT);
	/* A drop folder whose table file name would not fit. */
	memset(name, 'a', 253);
	memcpy(name + 253, ".d", 3);
	snprintf(path, sizeof(path), "/public/%s", name);
	assert_int_equal(pcf_path_parse(path, &n), 0);
	assert_int_equal(n.kind, PCF_PATH_STAGED);
}

static void test_join_and_ino(void **state)
{
	char *p;

	(void)state;
	p = pcf_path_join("/", "public");
	assert_string_equal(p, "/public");
	free(p);
	p = pcf_path_join("/public", "t.csv");
	assert_string_equal(p, "/public/t.csv");
	free(p);
	assert_true(pcf_path_ino("/public/t.csv") > 1);
	assert_true(pcf_path_ino("/public/t.csv") != pcf_path_ino("/public/u.csv"));
	assert_int_equal(pcf_path_ino("/x") & 2, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_name_format),
		cmocka_unit_test(test_status_rel),
		cmocka_unit_test(test_long_names),
		cmocka_unit_test(test_join_and_ino),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
