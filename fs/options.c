/*
 * options.c - the option table and its checks.
 *
 * Like sshfs, the source (CONNINFO) is taken in our own opt_proc so that the
 * only non-option left for libfuse is the mount point.
 */
#include "options.h"

#include <ctype.h>
#include <grp.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCF_OPT(t, m, v) { t, offsetof(struct pcf_options, m), v }

enum { KEY_FSTAB_ONLY };

static const struct fuse_opt pcf_opts[] = {
	PCF_OPT("header=%s", header, 0),
	PCF_OPT("commit=%s", commit, 0),
	PCF_OPT("delimiter=%s", delimiter, 0),
	PCF_OPT("quote=%s", quote, 0),
	PCF_OPT("escape=%s", escape, 0),
	PCF_OPT("null=%s", null_string, 0),
	PCF_OPT("encoding=%s", encoding, 0),
	PCF_OPT("close_wait=%s", close_wait, 0),
	PCF_OPT("checkpoint=%s", checkpoint, 0),
	PCF_OPT("truncate", truncate, 1),
	PCF_OPT("notruncate", truncate, 0),
	PCF_OPT("connect_timeout=%d", connect_timeout, 0),
	PCF_OPT("history=%d", history, 0),
	PCF_OPT("max_record=%s", max_record, 0),
	PCF_OPT("table_mode=%o", table_mode, 0),
	PCF_OPT("uid=%s", uid, 0),
	PCF_OPT("password_stdin", password_stdin, 1),
	PCF_OPT("gid=%s", gid, 0),
	PCF_OPT("spool=%s", spool, 0),
	PCF_OPT("decompress=%s", decompress, 0),
	PCF_OPT("read_size=%s", read_size, 0),
	PCF_OPT("size_at_open=%s", size_at_open, 0),
	PCF_OPT("size_at_stat=%s", size_at_stat, 0),
	PCF_OPT("size_after_stat=%s", size_after_stat, 0),
	PCF_OPT("json_unknown=%s", json_unknown, 0),
	PCF_OPT("convert=%s", convert, 0),
	FUSE_OPT_KEY("auto", KEY_FSTAB_ONLY),
	FUSE_OPT_KEY("noauto", KEY_FSTAB_ONLY),
	FUSE_OPT_KEY("user", KEY_FSTAB_ONLY),
	FUSE_OPT_KEY("users", KEY_FSTAB_ONLY),
	FUSE_OPT_KEY("nouser", KEY_FSTAB_ONLY),
	FUSE_OPT_KEY("_netdev", KEY_FSTAB_ONLY),
	FUSE_OPT_KEY("nofail", KEY_FSTAB_ONLY),
	FUSE_OPT_KEY("defaults", KEY_FSTAB_ONLY),
	FUSE_OPT_END
};

/* Keeps everything libfuse should see; takes CONNINFO and fstab noise. */
static int pcf_opt_proc(void *data, const char *arg, int key,
			struct fuse_args *outargs)
{
	struct pcf_options *o = data;

	(void)outargs;
	switch (key) {
	case KEY_FSTAB_ONLY:
		return 0;
	case FUSE_OPT_KEY_OPT:
		if (strncmp(arg, "x-systemd.", 10) == 0)
			return 0;
		if (strcmp(arg, "allow_other") == 0)
			o->allow_other = 1;
		if (strcmp(arg, "default_permissions") == 0)
			o->default_permissions = 1;
		return 1;
	case FUSE_OPT_KEY_NONOPT:
		if (o->nargs++ == 0) {
			o->conninfo = strdup(arg);
			return 0;
		}
		return 1; /* the mount point, or an extra argument libfuse rejects */
	default:
		return 1;
	}
}

/* Writes v into out for an error message: control bytes as '?', so the
 * message stays one line. */
static const char *printable(const char *v, char *out, size_t len)
{
	size_t i = 0;

	for (; v[i] && i + 1 < len; i++)
		out[i] = (unsigned char)v[i] < 0x20 ? '?' : v[i];
	out[i] = '\0';
	return out;
}

/*
 * Takes one character out of an option value such as delimiter=';'.
 * libfuse removes backslashes from -o values, so a tab is spelled "tab".
 */
static int one_char(const char *name, const char *v, char *out, char *err,
		    size_t errlen)
{
	char shown[64];

	if (!v)
		return 0;
	if (strcmp(v, "tab") == 0)
		v = "\t";
	/* A letter or digit is no CSV punctuation: it is what is left of a
	 * "\t" after libfuse took the backslash. */
	if (strlen(v) != 1 || v[0] == '\n' || v[0] == '\r' ||
	    isalnum((unsigned char)v[0])) {
		snprintf(err, errlen,
			 "-o %s= takes one character other than a letter or "
			 "digit ('tab' for a tab), not '%s'",
			 name, printable(v, shown, sizeof(shown)));
		return -1;
	}
	*out = v[0];
	return 0;
}

/* table_mode's value before parsing: not given. */
#define TABLE_MODE_UNSET 0xffffffffu

/* A list of program names (size_at_open=, size_at_stat=): the default
 * when not given; ':' between names, none of them a path. */
static int names_option(char **v, const char *dflt, const char *name,
			char *err, size_t errlen)
{
	if (!*v && !(*v = strdup(dflt))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (const char *p = *v; *p; p++) {
		if (*p == ',' || *p == '/' || isspace((unsigned char)*p)) {
			snprintf(err, errlen, "-o %s= takes program names "
				 "separated by ':' (as ps -o comm shows them)",
				 name);
			return -1;
		}
	}
	return 0;
}

int pcf_options_parse(struct fuse_args *args, struct pcf_options *o,
		      char *err, size_t errlen)
{
	char shown[64];

	memset(o, 0, sizeof(*o));
	o->connect_timeout = -1;
	o->history = 100;
	o->table_mode = TABLE_MODE_UNSET;
	o->close_wait_ms = PCF_CLOSE_WAIT_DEFAULT_MS;
	o->dialect = PCF_DIALECT_CSV;
	if (fuse_opt_parse(args, o, pcf_opts, pcf_opt_proc) != 0) {
		snprintf(err, errlen, "cannot parse the options");
		return -1;
	}
	if (o->allow_other && !o->default_permissions)
		fuse_opt_add_arg(args, "-odefault_permissions");
	/* Reading a table file shows its rows: under allow_other, nobody but
	 * the mount's owner reads or loads unless table_mode says so. */
	if (o->table_mode == TABLE_MODE_UNSET)
		o->table_mode = o->allow_other ? 0600 : 0644;
	if (!o->header || strcmp(o->header, "auto") == 0)
		o->header_mode = PCF_HEADER_AUTO;
	else if (strcmp(o->header, "true") == 0)
		o->header_mode = PCF_HEADER_TRUE;
	else if (strcmp(o->header, "false") == 0)
		o->header_mode = PCF_HEADER_FALSE;
	else {
		char shown[64];

		snprintf(err, errlen,
			 "-o header= takes auto, true or false, not '%s'",
			 printable(o->header, shown, sizeof(shown)));
		return -1;
	}
	if (!o->commit || strcmp(o->commit, "close") == 0)
		o->commit_mode = PCF_COMMIT_CLOSE;
	else if (strcmp(o->commit, "fsync") == 0)
		o->commit_mode = PCF_COMMIT_FSYNC;
	else {
		char shown[64];

		snprintf(err, errlen,
			 "-o commit= takes close or fsync, not '%s'",
			 printable(o->commit, shown, sizeof(shown)));
		return -1;
	}
	if (one_char("delimiter", o->delimiter, &o->dialect.delimiter, err,
		     errlen) ||
	    one_char("quote", o->quote, &o->dialect.quote, err, errlen))
		return -1;
	o->dialect.escape = o->dialect.quote;
	if (one_char("escape", o->escape, &o->dialect.escape, err, errlen))
		return -1;
	if (o->dialect.delimiter == o->dialect.quote) {
		snprintf(err, errlen,
			 "-o delimiter= and -o quote= must differ");
		return -1;
	}
	if (o->connect_timeout < -1 || o->connect_timeout == 0) {
		snprintf(err, errlen,
			 "-o connect_timeout= takes a number of seconds >= 1");
		return -1;
	}
	if (o->table_mode & ~0777u) {
		snprintf(err, errlen, "-o table_mode= takes an octal mode such "
				      "as 0664");
		return -1;
	}
	o->owner_uid = o->owner_gid = -1;
	if (o->uid) {
		struct passwd *pw = getpwnam(o->uid);
		char *end;
		unsigned long v = strtoul(o->uid, &end, 10);

		if (pw)
			o->owner_uid = (long)pw->pw_uid;
		else if (*o->uid && !*end)
			o->owner_uid = (long)v;
		else {
			snprintf(err, errlen, "-o uid= takes a user name or "
					      "number: no user '%s'",
				 printable(o->uid, shown, sizeof(shown)));
			return -1;
		}
	}
	if (o->gid) {
		struct group *gr = getgrnam(o->gid);
		char *end;
		unsigned long v = strtoul(o->gid, &end, 10);

		if (gr)
			o->owner_gid = (long)gr->gr_gid;
		else if (*o->gid && !*end)
			o->owner_gid = (long)v;
		else {
			snprintf(err, errlen, "-o gid= takes a group name or "
					      "number: no group '%s'",
				 printable(o->gid, shown, sizeof(shown)));
			return -1;
		}
	}
	if (o->decompress && strcmp(o->decompress, "auto") != 0 &&
	    strcmp(o->decompress, "off") != 0) {
		snprintf(err, errlen, "-o decompress= takes auto or off");
		return -1;
	}
	o->decompress_off = o->decompress && strcmp(o->decompress, "off") == 0;
	if (!o->read_size || strcmp(o->read_size, "auto") == 0) {
		o->read_mode = PCF_READ_AUTO;
	} else if (strcmp(o->read_size, "stream") == 0) {
		o->read_mode = PCF_READ_STREAM;
	} else if (strcmp(o->read_size, "exact") == 0) {
		o->read_mode = PCF_READ_EXACT;
	} else {
		snprintf(err, errlen, "-o read_size= takes auto, stream or exact");
		return -1;
	}
	if (names_option(&o->size_at_open, PCF_SIZE_AT_OPEN, "size_at_open",
			 err, errlen) != 0 ||
	    names_option(&o->size_at_stat, PCF_SIZE_AT_STAT, "size_at_stat",
			 err, errlen) != 0 ||
	    names_option(&o->size_after_stat, PCF_SIZE_AFTER_STAT,
			 "size_after_stat", err, errlen) != 0)
		return -1;
	if (o->json_unknown && strcmp(o->json_unknown, "error") != 0 &&
	    strcmp(o->json_unknown, "ignore") != 0) {
		snprintf(err, errlen, "-o json_unknown= takes error or ignore");
		return -1;
	}
	o->json_ignore_unknown =
		o->json_unknown && strcmp(o->json_unknown, "ignore") == 0;
	if (o->convert && strcmp(o->convert, "auto") != 0 &&
	    strcmp(o->convert, "off") != 0) {
		snprintf(err, errlen, "-o convert= takes auto or off");
		return -1;
	}
	o->convert_off = o->convert && strcmp(o->convert, "off") == 0;
	if (o->close_wait) {
		char *end;
		double secs = strtod(o->close_wait, &end);

		if (end == o->close_wait || *end || !(secs >= 0 && secs <= 3600)) {
			snprintf(err, errlen, "-o close_wait= takes seconds from "
					      "0 to 3600, such as 2 or 0.5");
			return -1;
		}
		o->close_wait_ms = (int)(secs * 1000 + 0.5);
	}
	if (o->checkpoint) {
		char *end;
		double secs = strtod(o->checkpoint, &end);

		if (end == o->checkpoint || *end ||
		    !(secs >= 0.1 && secs <= 86400)) {
			snprintf(err, errlen, "-o checkpoint= takes seconds from "
					      "0.1 to 86400, such as 1 or 60");
			return -1;
		}
		o->checkpoint_ms = (int)(secs * 1000 + 0.5);
		if (o->commit_mode == PCF_COMMIT_FSYNC) {
			snprintf(err, errlen, "-o checkpoint= and -o commit=fsync "
					      "do not go together: with "
					      "checkpoints, fsync() is one");
			return -1;
		}
	}
	o->max_record_bytes = PCF_MAX_RECORD_DEFAULT;
	if (o->max_record) {
		char *end;
		unsigned long long v = strtoull(o->max_record, &end, 10);
		unsigned long long mul = 1;

		if (*end == 'k' || *end == 'K')
			mul = 1ull << 10, end++;
		else if (*end == 'm' || *end == 'M')
			mul = 1ull << 20, end++;
		else if (*end == 'g' || *end == 'G')
			mul = 1ull << 30, end++;
		if (end == o->max_record || *end || v == 0 ||
		    v > (1ull << 40) / mul || v * mul < 1024) {
			snprintf(err, errlen, "-o max_record= takes a size of at "
					      "least 1k, such as 64M or 1G");
			return -1;
		}
		o->max_record_bytes = v * mul;
	}
	if (o->history < 0 || o->history > 100000) {
		snprintf(err, errlen, "-o history= takes 0 to 100000");
		return -1;
	}
	return 0;
}

void pcf_options_free(struct pcf_options *o)
{
	free(o->conninfo);
	if (o->password) {
		explicit_bzero(o->password, strlen(o->password));
		free(o->password);
	}
	free(o->max_record);
	free(o->uid);
	free(o->gid);
	free(o->spool);
	free(o->header);
	free(o->commit);
	free(o->delimiter);
	free(o->quote);
	free(o->escape);
	free(o->null_string);
	free(o->encoding);
	free(o->close_wait);
	free(o->checkpoint);
	free(o->decompress);
	free(o->read_size);
	free(o->size_at_open);
	free(o->size_at_stat);
	free(o->size_after_stat);
	free(o->json_unknown);
	free(o->convert);
	memset(o, 0, sizeof(*o));
}

int pcf_name_listed(const char *list, const char *name)
{
	size_t nlen = strnlen(name, 15);

	for (const char *p = list; p && *p;) {
		const char *end = strchr(p, ':');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		int prefix = len > 0 && p[len - 1] == '*';
		size_t want = prefix ? len - 1 : len;
		size_t cut = want > 15 ? 15 : want;

		if ((prefix || want > 0) && (prefix ? cut <= nlen : cut == nlen) &&
		    strncmp(p, name, cut) == 0)
			return 1;
		p = end ? end + 1 : p + len;
	}
	return 0;
}

void pcf_options_help(const char *progname)
{
	printf("usage: %s [options] CONNINFO MOUNTPOINT\n"
	       "\n"
	       "Mounts a PostgreSQL database: every table is a writable file\n"
	       "MOUNTPOINT/<schema>/<table>.csv, and what is written to it is\n"
	       "streamed into COPY ... FROM STDIN and committed when the\n"
	       "writer closes it. CONNINFO is a libpq connection string or URI;\n"
	       "\"\" takes everything from PG* variables, ~/.pgpass and services.\n"
	       "The same table takes other formats under other names (not\n"
	       "listed): <table>.tsv (COPY's text format), <table>.jsonl or\n"
	       ".ndjson (a JSON object per line), and any of them + .gz or .zst.\n"
	       "\n"
	       "pgcopyfs options:\n"
	       "    -o header=auto|true|false  first line names columns: auto\n"
	       "                           takes it when every field names a\n"
	       "                           column (default: auto)\n"
	       "    -o truncate            an O_TRUNC open (cp, >) replaces the\n"
	       "                           table's rows in the load's transaction\n"
	       "                           (default: off, every load appends)\n"
	       "    -o commit=close|fsync  commit at the last close, or only data\n"
	       "                           that an fsync() sealed (default: close)\n"
	       "    -o checkpoint=SECONDS  commit the whole rows received at least\n"
	       "                           this often while data flows, each\n"
	       "                           checkpoint its own transaction; fsync()\n"
	       "                           is one (default: off)\n"
	       "    -o close_wait=SECONDS  a process that closes the file and runs\n"
	       "                           on: its rows commit when it exits 0, or\n"
	       "                           this long after the close; a failure\n"
	       "                           before that rolls back; 0 commits at\n"
	       "                           the close (default: 2)\n"
	       "    -o delimiter=C         field delimiter; tab for a tab (default: ,)\n"
	       "    -o quote=C             quote character (default: \")\n"
	       "    -o escape=C            escape inside quotes (default: quote)\n"
	       "    -o null=STRING         the string that means NULL\n"
	       "                           (default: unquoted empty field)\n"
	       "    -o encoding=NAME       encoding of the files (default: the\n"
	       "                           connection's client_encoding)\n"
	       "    -o connect_timeout=N   seconds to wait for the server when a\n"
	       "                           load connects (default: libpq's\n"
	       "                           PGCONNECT_TIMEOUT, else 10)\n"
	       "    -o history=N           finished loads kept in\n"
	       "                           .pgcopyfs/history (default: 100)\n"
	       "    -o max_record=SIZE     the longest record (line) a load takes,\n"
	       "                           with k, M or G (default: 8M)\n"
	       "    -o table_mode=MODE     file mode of a table the role may\n"
	       "                           INSERT into; others get its read\n"
	       "                           bits only (default: 0644; 0600\n"
	       "                           with -o allow_other)\n"
	       "    -o uid=USER            owner shown for every file, a name or\n"
	       "                           number (default: the daemon's user)\n"
	       "    -o gid=GROUP           group shown for every file (default:\n"
	       "                           the daemon's group)\n"
	       "    -o spool=DIR           where staged files (temp files beside\n"
	       "                           a table) are kept, in a private\n"
	       "                           directory made there (default:\n"
	       "                           /var/tmp)\n"
	       "    -o decompress=auto|off gzip or zstd data written to a name\n"
	       "                           without .gz or .zst is recognised by\n"
	       "                           its magic bytes (default: auto)\n"
	       "    -o read_size=auto|stream|exact  reading a table file\n"
	       "                           streams it and its size is 0, or\n"
	       "                           (exact) the open first spools the\n"
	       "                           whole export and the open file's\n"
	       "                           size is its length; auto: exact for\n"
	       "                           the programs in size_at_open\n"
	       "                           (default: auto)\n"
	       "    -o size_at_open=NAMES  programs (':' between names, as ps\n"
	       "                           shows them; a trailing * for any\n"
	       "                           name so begun) whose read opens are\n"
	       "                           exact: those that copy the size\n"
	       "                           fstat gives, and those that copy\n"
	       "                           with sendfile, which sees size 0\n"
	       "                           as the end (default:\n"
	       "                           " PCF_SIZE_AT_OPEN ")\n"
	       "    -o size_at_stat=NAMES  programs that take a file's size from\n"
	       "                           the stat before their open (tar): a\n"
	       "                           stat of a table file by one spools\n"
	       "                           the export, the size is its length,\n"
	       "                           and its open reads that spool\n"
	       "                           (default: " PCF_SIZE_AT_STAT ")\n"
	       "    -o size_after_stat=NAMES  programs whose open of a file\n"
	       "                           just after their stat of it spools\n"
	       "                           (they copy with sendfile: Python's\n"
	       "                           shutil, Java's Files.copy; default:\n"
	       "                           " PCF_SIZE_AFTER_STAT ")\n"
	       "    -o json_unknown=error|ignore  a JSON key that names no\n"
	       "                           column fails the load, or is left out\n"
	       "                           (default: error)\n"
	       "    -o convert=auto|off    send the server COPY's binary rows\n"
	       "                           where every field converts exactly\n"
	       "                           (faster), CSV for the rest; off: CSV\n"
	       "                           only (default: auto)\n"
	       "    -o notruncate          the default: O_TRUNC appends (undoes\n"
	       "                           an earlier -o truncate)\n"
	       "    -o max_threads=N       (libfuse's) the most worker threads;\n"
	       "                           the pool grows while requests wait on\n"
	       "                           the server (default here: 10000)\n"
	       "    -o password_stdin      read the password from standard input\n"
	       "                           (one line) before mounting\n"
	       "    -o allow_other         let other users load too; implies\n"
	       "                           default_permissions (libfuse's)\n"
	       "    -h   --help            print help\n"
	       "    -V   --version         print version\n"
	       "\n",
	       progname);
}
