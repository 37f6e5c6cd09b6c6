/*
 * test_options.c - pcf_options_parse: pgcopyfs's -o options, CONNINFO, and
 * what is left in args for libfuse (fuse_parse_cmdline) afterwards.
 *
 * argv arrays are written as the program receives them, after the shell
 * removed its quoting: `-o delimiter=';'` arrives as "delimiter=;".
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

#include "options.h"

/* One parse: the args it leaves, the options and the error line. */
struct parsed {
	struct fuse_args args;
	struct pcf_options o;
	char err[256];
	int rc;
};

/*
 * Parses the NULL-terminated argv (program name first). The arguments are
 * copied with fuse_opt_add_arg, as libfuse itself would own them; release
 * with done().
 */
static void parse(struct parsed *p, const char *const *argv)
{
	memset(p, 0, sizeof(*p));
	for (size_t i = 0; argv[i]; i++)
		assert_int_equal(fuse_opt_add_arg(&p->args, argv[i]), 0);
	p->rc = pcf_options_parse(&p->args, &p->o, p->err, sizeof(p->err));
}

static void done(struct parsed *p)
{
	pcf_options_free(&p->o);
	fuse_opt_free_args(&p->args);
}

#define ARGV(...) ((const char *const[]){ "pgcopyfs", __VA_ARGS__, NULL })

/* Parses argv, which must be accepted. */
static void parse_ok(struct parsed *p, const char *const *argv)
{
	parse(p, argv);
	if (p->rc != 0)
		fail_msg("rejected: %s", p->err);
}

/* Parses argv, which must be refused with an error line containing what. */
static void expect_error(const char *const *argv, const char *what)
{
	struct parsed p;

	parse(&p, argv);
	assert_int_equal(p.rc, -1);
	assert_true(p.err[0] != '\0');
	if (what && !strstr(p.err, what))
		fail_msg("error \"%s\" does not mention \"%s\"", p.err, what);
	done(&p);
}

/* Whether the args left for libfuse hold option opt in some -o list. */
static int has_fuse_opt(const struct fuse_args *a, const char *opt)
{
	size_t n = strlen(opt);

	for (int i = 1; i < a->argc; i++) {
		const char *s;

		if (strcmp(a->argv[i], "-o") == 0 && i + 1 < a->argc)
			s = a->argv[++i];
		else if (strncmp(a->argv[i], "-o", 2) == 0)
			s = a->argv[i] + 2;
		else
			continue;
		while (*s) {
			size_t len = strcspn(s, ",");

			if (len == n && strncmp(s, opt, n) == 0)
				return 1;
			s += len;
			if (*s == ',')
				s++;
		}
	}
	return 0;
}

/* Whether the args left for libfuse hold a plain argument arg. */
static int has_arg(const struct fuse_args *a, const char *arg)
{
	for (int i = 0; i < a->argc; i++)
		if (strcmp(a->argv[i], arg) == 0)
			return 1;
	return 0;
}

static void test_defaults(void **state)
{
	struct parsed p;

	(void)state;
	parse_ok(&p, ARGV("host=db dbname=app", "/mnt/db"));
	assert_string_equal(p.o.conninfo, "host=db dbname=app");
	assert_int_equal(p.o.nargs, 2);
	assert_int_equal(p.o.header_mode, PCF_HEADER_AUTO);
	assert_int_equal(p.o.commit_mode, PCF_COMMIT_CLOSE);
	assert_int_equal(p.o.dialect.delimiter, ',');
	assert_int_equal(p.o.dialect.quote, '"');
	assert_int_equal(p.o.dialect.escape, '"');
	assert_int_equal(p.o.truncate, 0);
	assert_int_equal(p.o.connect_timeout, -1);
	assert_int_equal(p.o.history, 100);
	assert_null(p.o.null_string);
	assert_null(p.o.encoding);
	/* only the program and the mount point are left for libfuse */
	assert_int_equal(p.args.argc, 2);
	assert_string_equal(p.args.argv[0], "pgcopyfs");
	assert_string_equal(p.args.argv[1], "/mnt/db");
	done(&p);
}

/* CONNINFO "" means libpq's defaults; it is still the first non-option. */
static void test_conninfo_empty(void **state)
{
	struct parsed p;

	(void)state;
	parse_ok(&p, ARGV("", "/mnt/db", "-f"));
	assert_non_null(p.o.conninfo);
	assert_string_equal(p.o.conninfo, "");
	assert_true(has_arg(&p.args, "/mnt/db"));
	assert_true(has_arg(&p.args, "-f"));
	assert_false(has_arg(&p.args, ""));
	done(&p);
}

/* Options may come before, between or after the two arguments. */
static void test_conninfo_position(void **state)
{
	struct parsed p;

	(void)state;
	parse_ok(&p, ARGV("-o", "truncate", "postgresql://u@h/db", "-d",
			  "/mnt/db", "-o", "header=false"));
	assert_string_equal(p.o.conninfo, "postgresql://u@h/db");
	assert_int_equal(p.o.truncate, 1);
	assert_int_equal(p.o.header_mode, PCF_HEADER_FALSE);
	assert_false(has_arg(&p.args, "postgresql://u@h/db"));
	assert_true(has_arg(&p.args, "/mnt/db"));
	assert_true(has_arg(&p.args, "-d"));
	done(&p);

	/* no arguments at all: nothing to take */
	parse_ok(&p, ((const char *const[]){ "pgcopyfs", NULL }));
	assert_null(p.o.conninfo);
	assert_int_equal(p.o.nargs, 0);
	done(&p);
}

static void test_header(void **state)
{
	struct parsed p;

	(void)state;
	parse_ok(&p, ARGV("-o", "header=true", "c", "/m"));
	assert_int_equal(p.o.header_mode, PCF_HEADER_TRUE);
	done(&p);
	parse_ok(&p, ARGV("-o", "header=false", "c", "/m"));
	assert_int_equal(p.o.header_mode, PCF_HEADER_FALSE);
	done(&p);
	parse_ok(&p, ARGV("-o", "header=auto", "c", "/m"));
	assert_int_equal(p.o.header_mode, PCF_HEADER_AUTO);
	done(&p);
	/* the last of repeated options wins (and the first is not leaked) */
	parse_ok(&p, ARGV("-o", "header=true,header=false", "c", "/m"));
	assert_int_equal(p.o.header_mode, PCF_HEADER_FALSE);
	done(&p);

	expect_error(ARGV("-o", "header=bogus", "c", "/m"), "bogus");
	expect_error(ARGV("-o", "header=TRUE", "c", "/m"), "TRUE");
	expect_error(ARGV("-o", "header=", "c", "/m"), "header");
}

static void test_commit(void **state)
{
	struct parsed p;

	(void)state;
	parse_ok(&p, ARGV("-o", "commit=fsync", "c", "/m"));
	assert_int_equal(p.o.commit_mode, PCF_COMMIT_FSYNC);
	done(&p);
	parse_ok(&p, ARGV("-o", "commit=close", "c", "/m"));
	assert_int_equal(p.o.commit_mode, PCF_COMMIT_CLOSE);
	done(&p);
	expect_error(ARGV("-o", "commit=never", "c", "/m"), "never");
}

static void test_delimiter(void **state)
{
	struct parsed p;

	(void)state;
	parse_ok(&p, ARGV("-o", "delimiter=;", "c", "/m"));
	assert_int_equal(p.o.dialect.delimiter, ';');
	done(&p);
	parse_ok(&p, ARGV("-odelimiter=|", "c", "/m"));
	assert_int_equal(p.o.dialect.delimiter, '|');
	done(&p);
	parse_ok(&p, ARGV("-o", "delimiter=tab", "c", "/m"));
	assert_int_equal(p.o.dialect.delimiter, '\t');
	done(&p);
	/* a real tab byte works too */
	parse_ok(&p, ARGV("-o", "delimiter=\t", "c", "/m"));
	assert_int_equal(p.o.dialect.delimiter, '\t');
	done(&p);
	/* a comma has to be escaped from libfuse's option splitting */
	parse_ok(&p, ARGV("-o", "delimiter=\\,", "c", "/m"));
	assert_int_equal(p.o.dialect.delimiter, ',');
	done(&p);

	expect_error(ARGV("-o", "delimiter=ab", "c", "/m"), "'ab'");
	expect_error(ARGV("-o", "delimiter=", "c", "/m"), "delimiter");
	expect_error(ARGV("-o", "delimiter=\n", "c", "/m"), "delimiter");
	expect_error(ARGV("-o", "delimiter=\r", "c", "/m"), "delimiter");
	/* the default quote is " */
	expect_error(ARGV("-o", "delimiter=\"", "c", "/m"), "differ");
	expect_error(ARGV("-o", "delimiter=;,quote=;", "c", "/m"), "differ");
}

/*
 * `-o 'delimiter=\t'` on a command line or delimiter=\t in fstab hand the
 * two bytes \ t to the program; libfuse removes the backslash.
 */
static void test_delimiter_backslash_t(void **state)
{
	(void)state;
	/* libfuse strips the backslash: "\\t" arrives as "t". A letter is
	 * refused, with a pointer to the spelling that works. */
	expect_error(ARGV("-o", "delimiter=\\t", "c", "/m"), "'tab' for a tab");
	expect_error(ARGV("-o", "delimiter=7", "c", "/m"), "letter or digit");
}

/* options.h promises one line in err, whatever the refused value holds. */
static void test_error_is_one_line(void **state)
{
	static const char *const values[] = { "delimiter=\n", "quote=\r",
					      "escape=a\nb", "header=a\nb" };

	(void)state;
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		struct parsed p;
		char err[sizeof(p.err)];
		int rc;

		parse(&p, ARGV("-o", values[i], "c", "/m"));
		rc = p.rc;
		memcpy(err, p.err, sizeof(err));
		done(&p); /* before failing: a failure does not return */
		assert_int_equal(rc, -1);
		if (strpbrk(err, "\r\n"))
			fail_msg("-o %s: the error is not one line: \"%s\"",
				 values[i], err);
	}
}

static void test_quote_escape(void **state)
{
	struct parsed p;

	(void)state;
	/* the escape follows the quote unless given */
	parse_ok(&p, ARGV("-o", "quote='", "c", "/m"));
	assert_int_equal(p.o.dialect.quote, '\'');
	assert_int_equal(p.o.dialect.escape, '\'');
	assert_int_equal(p.o.dialect.delimiter, ',');
	done(&p);
	/* libfuse takes one level of backslashes: \\ is one backslash */
	parse_ok(&p, ARGV("-o", "quote=',escape=\\\\", "c", "/m"));
	assert_int_equal(p.o.dialect.quote, '\'');
	assert_int_equal(p.o.dialect.escape, '\\');
	done(&p);
	parse_ok(&p, ARGV("-o", "escape=\\\\", "c", "/m"));
	assert_int_equal(p.o.dialect.quote, '"');
	assert_int_equal(p.o.dialect.escape, '\\');
	done(&p);
	expect_error(ARGV("-o", "quote=''", "c", "/m"), "quote");
	expect_error(ARGV("-o", "escape=ab", "c", "/m"), "escape");
	expect_error(ARGV("-o", "quote=\\,", "c", "/m"), "differ");
}

static void test_null_encoding(void **state)
{
	struct parsed p;

	(void)state;
	parse_ok(&p, ARGV("-o", "null=\\\\N,encoding=LATIN1", "c", "/m"));
	assert_string_equal(p.o.null_string, "\\N");
	assert_string_equal(p.o.encoding, "LATIN1");
	done(&p);
}

static void test_truncate(void **state)
{
	struct parsed p;

	(void)state;
	parse_ok(&p, ARGV("-o", "truncate", "c", "/m"));
	assert_int_equal(p.o.truncate, 1);
	assert_false(has_fuse_opt(&p.args, "truncate"));
	done(&p);
	parse_ok(&p, ARGV("-o", "truncate,notruncate", "c", "/m"));
	assert_int_equal(p.o.truncate, 0);
	done(&p);
}

static void test_connect_timeout(void **state)
{
	struct parsed p;

	(void)state;
	parse_ok(&p, ARGV("-o", "connect_timeout=5", "c", "/m"));
	assert_int_equal(p.o.connect_timeout, 5);
	done(&p);
	expect_error(ARGV("-o", "connect_timeout=0", "c", "/m"),
		     "connect_timeout");
	expect_error(ARGV("-o", "connect_timeout=-3", "c", "/m"),
		     "connect_timeout");
	/* not a number: libfuse's own parse fails */
	expect_error(ARGV("-o", "connect_timeout=soon", "c", "/m"), NULL);
}

static void test_history(void **state)
{
	struct parsed p;

	(void)state;
	parse_ok(&p, ARGV("-o", "history=5", "c", "/m"));
	assert_int_equal(p.o.history, 5);
	done(&p);
	parse_ok(&p, ARGV("-o", "history=0", "c", "/m"));
	assert_int_equal(p.o.history, 0);
	done(&p);
	expect_error(ARGV("-o", "history=-1", "c", "/m"), "history");
	expect_error(ARGV("-o", "history=100001", "c", "/m"), "history");
}

/* uid= and gid= take names or numbers; -1 when not given. */
static void test_owner(void **state)
{
	struct parsed p;

	(void)state;
	parse_ok(&p, ARGV("c", "/m"));
	assert_int_equal(p.o.owner_uid, -1);
	assert_int_equal(p.o.owner_gid, -1);
	done(&p);
	parse_ok(&p, ARGV("-o", "uid=1234,gid=5678", "c", "/m"));
	assert_int_equal(p.o.owner_uid, 1234);
	assert_int_equal(p.o.owner_gid, 5678);
	done(&p);
	parse_ok(&p, ARGV("-o", "uid=root,gid=root", "c", "/m"));
	assert_int_equal(p.o.owner_uid, 0);
	assert_int_equal(p.o.owner_gid, 0);
	done(&p);
	expect_error(ARGV("-o", "uid=no_such_user_here", "c", "/m"), "uid");
	expect_error(ARGV("-o", "gid=no_such_group_here", "c", "/m"), "gid");
	expect_error(ARGV("-o", "gid=12x", "c", "/m"), "gid");
}

/* max_record= takes a size with k, M or G; 8M when not given. */
static void test_max_record(void **state)
{
	struct parsed p;

	(void)state;
	parse_ok(&p, ARGV("c", "/m"));
	assert_int_equal(p.o.max_record_bytes, 8u << 20);
	done(&p);
	parse_ok(&p, ARGV("-o", "max_record=64M", "c", "/m"));
	assert_int_equal(p.o.max_record_bytes, 64u << 20);
	done(&p);
	parse_ok(&p, ARGV("-o", "max_record=1G", "c", "/m"));
	assert_int_equal(p.o.max_record_bytes, 1ull << 30);
	done(&p);
	parse_ok(&p, ARGV("-o", "max_record=2048", "c", "/m"));
	assert_int_equal(p.o.max_record_bytes, 2048);
	done(&p);
	expect_error(ARGV("-o", "max_record=0", "c", "/m"), "max_record");
	expect_error(ARGV("-o", "max_record=10", "c", "/m"), "max_record");
	expect_error(ARGV("-o", "max_record=5X", "c", "/m"), "max_record");
	expect_error(ARGV("-o", "max_record=", "c", "/m"), "max_record");
}

/* notruncate undoes truncate; the later one wins. */
static void test_notruncate(void **state)
{
	struct parsed p;

	(void)state;
	parse_ok(&p, ARGV("-o", "truncate,notruncate", "c", "/m"));
	assert_int_equal(p.o.truncate, 0);
	done(&p);
	parse_ok(&p, ARGV("-o", "notruncate,truncate", "c", "/m"));
	assert_int_equal(p.o.truncate, 1);
	done(&p);
}

/* mount(8) and fstab pass these on; libfuse would reject them. */
static void test_fstab_only_dropped(void **state)
{
	static const char *const dropped[] = {
		"auto",    "noauto", "user",     "users",
		"nouser",  "_netdev", "nofail",  "defaults",
		"x-systemd.automount", "x-systemd.requires=network.target",
	};
	struct parsed p;

	(void)state;
	parse_ok(&p, ARGV("-o",
			  "auto,noauto,user,users,nouser,_netdev,nofail,"
			  "defaults,x-systemd.automount,"
			  "x-systemd.requires=network.target",
			  "c", "/m"));
	for (size_t i = 0; i < sizeof(dropped) / sizeof(dropped[0]); i++)
		if (has_fuse_opt(&p.args, dropped[i]))
			fail_msg("-o %s was left for libfuse", dropped[i]);
	assert_false(has_arg(&p.args, "-o"));
	assert_int_equal(p.args.argc, 2);
	done(&p);
}

/* Options pgcopyfs does not know are libfuse's: they stay, in order. */
static void test_fuse_options_kept(void **state)
{
	struct parsed p;

	(void)state;
	parse_ok(&p, ARGV("-o", "allow_other,header=true,nofail", "-o",
			  "default_permissions,max_read=65536,truncate", "c",
			  "/m", "-s"));
	assert_true(has_fuse_opt(&p.args, "allow_other"));
	assert_true(has_fuse_opt(&p.args, "default_permissions"));
	assert_true(has_fuse_opt(&p.args, "max_read=65536"));
	assert_false(has_fuse_opt(&p.args, "header=true"));
	assert_false(has_fuse_opt(&p.args, "nofail"));
	assert_false(has_fuse_opt(&p.args, "truncate"));
	assert_true(has_arg(&p.args, "/m"));
	assert_true(has_arg(&p.args, "-s"));
	assert_false(has_arg(&p.args, "c"));
	assert_int_equal(p.o.header_mode, PCF_HEADER_TRUE);
	assert_int_equal(p.o.truncate, 1);
	done(&p);
}

/* table_mode: 0644, but 0600 under allow_other unless given (reading a
 * table file shows its rows); a given mode is kept either way. */
static void test_table_mode(void **state)
{
	struct parsed p;

	(void)state;
	parse_ok(&p, ARGV("c", "/m"));
	assert_int_equal(p.o.table_mode, 0644);
	done(&p);
	parse_ok(&p, ARGV("-o", "allow_other", "c", "/m"));
	assert_int_equal(p.o.table_mode, 0600);
	done(&p);
	parse_ok(&p, ARGV("-o", "allow_other,table_mode=0664", "c", "/m"));
	assert_int_equal(p.o.table_mode, 0664);
	done(&p);
	parse_ok(&p, ARGV("-o", "table_mode=0640,allow_other", "c", "/m"));
	assert_int_equal(p.o.table_mode, 0640);
	done(&p);
	expect_error(ARGV("-o", "table_mode=01777", "c", "/m"), "table_mode");
}

/* A second non-option (an extra argument) is left for libfuse to refuse. */
static void test_extra_argument_left(void **state)
{
	struct parsed p;

	(void)state;
	parse_ok(&p, ARGV("c", "/m", "extra"));
	assert_string_equal(p.o.conninfo, "c");
	assert_int_equal(p.o.nargs, 3);
	assert_true(has_arg(&p.args, "/m"));
	assert_true(has_arg(&p.args, "extra"));
	done(&p);
}

/* The read_size= argv gives: its mode, and its size_at_open list in
 * names (len bytes). */
static enum pcf_read_size read_mode_of(const char *const *argv, char *names, size_t len)
{
	struct parsed p;
	enum pcf_read_size mode;

	parse_ok(&p, argv);
	mode = p.o.read_mode;
	snprintf(names, len, "%s", p.o.size_at_open);
	done(&p);
	return mode;
}

/* -o read_size=: auto by default, with the programs of size_at_open. */
static void test_read_size(void **state)
{
	char names[128];
	struct parsed p;

	(void)state;
	assert_int_equal(read_mode_of(ARGV("dbname=x", "/mnt"), names, sizeof(names)), PCF_READ_AUTO);
	assert_string_equal(names, PCF_SIZE_AT_OPEN);
	assert_int_equal(read_mode_of(ARGV("-o", "read_size=stream,size_at_open=rsync:java", "dbname=x", "/mnt"),
				      names, sizeof(names)), PCF_READ_STREAM);
	assert_string_equal(names, "rsync:java");
	assert_int_equal(read_mode_of(ARGV("-o", "read_size=exact", "dbname=x", "/mnt"), names, sizeof(names)),
			 PCF_READ_EXACT);
	expect_error(ARGV("-o", "read_size=exactly", "dbname=x", "/mnt"), "read_size");
	expect_error(ARGV("-o", "size_at_open=/usr/bin/rsync", "dbname=x", "/mnt"), "size_at_open");
	parse_ok(&p, ARGV("dbname=x", "/mnt"));
	assert_string_equal(p.o.size_at_stat, PCF_SIZE_AT_STAT);
	done(&p);
	parse_ok(&p, ARGV("-o", "size_at_stat=tar:gtar", "dbname=x", "/mnt"));
	assert_string_equal(p.o.size_at_stat, "tar:gtar");
	done(&p);
	expect_error(ARGV("-o", "size_at_stat=gnu tar", "dbname=x", "/mnt"), "size_at_stat");
	parse_ok(&p, ARGV("-o", "size_after_stat=python3", "dbname=x", "/mnt"));
	assert_string_equal(p.o.size_after_stat, "python3");
	done(&p);
	parse_ok(&p, ARGV("dbname=x", "/mnt"));
	assert_string_equal(p.o.size_after_stat, PCF_SIZE_AFTER_STAT);
	done(&p);
	expect_error(ARGV("-o", "size_after_stat=/usr/bin/python3", "dbname=x", "/mnt"), "size_after_stat");
}

/* Program names against a comm, both cut to 15 bytes as the kernel does. */
static void test_name_listed(void **state)
{
	static const struct {
		const char *list, *comm;
		int listed;
	} cases[] = {
		{ "rsync:scp:curl", "rsync", 1 },
		{ "rsync:scp:curl", "scp", 1 },
		{ "rsync:scp:curl", "curl", 1 },
		{ "rsync:scp:curl", "cat", 0 },
		{ "rsync:scp:curl", "rsyn", 0 },
		{ "rsync:scp:curl", "rsync2", 0 },
		{ "rsync:scp:curl", "sc", 0 },
		{ "rsync:scp:curl", "", 0 },
		{ "", "rsync", 0 },
		{ "::", "", 0 },
		{ "a::rsync:", "rsync", 1 },
		/* a long name: the comm is its first 15 bytes */
		{ "my-long-program-name", "my-long-program", 1 },
		{ "my-long-program-name", "my-long-progra", 0 },
		/* a trailing '*': any comm so begun */
		{ "rsync:python*", "python3", 1 },
		{ "rsync:python*", "python3.11", 1 },
		{ "rsync:python*", "python", 1 },
		{ "rsync:python*", "pytho", 0 },
		{ "python*:java", "java", 1 },
		{ "python*:java", "javac", 0 },
		{ "*", "anything", 1 },
		{ "*", "", 1 },
		{ "my-long-program-n*", "my-long-program", 1 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (!pcf_name_listed(cases[i].list, cases[i].comm) != !cases[i].listed)
			fail_msg("pcf_name_listed(\"%s\", \"%s\") is not %d", cases[i].list,
				 cases[i].comm, cases[i].listed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_table_mode),
		cmocka_unit_test(test_conninfo_empty),
		cmocka_unit_test(test_conninfo_position),
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_commit),
		cmocka_unit_test(test_delimiter),
		cmocka_unit_test(test_delimiter_backslash_t),
		cmocka_unit_test(test_error_is_one_line),
		cmocka_unit_test(test_quote_escape),
		cmocka_unit_test(test_null_encoding),
		cmocka_unit_test(test_truncate),
		cmocka_unit_test(test_connect_timeout),
		cmocka_unit_test(test_history),
		cmocka_unit_test(test_owner),
		cmocka_unit_test(test_notruncate),
		cmocka_unit_test(test_max_record),
		cmocka_unit_test(test_fstab_only_dropped),
		cmocka_unit_test(test_fuse_options_kept),
		cmocka_unit_test(test_extra_argument_left),
		cmocka_unit_test(test_read_size),
		cmocka_unit_test(test_name_listed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
