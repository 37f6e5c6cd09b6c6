/*
 * options.h - pgcopyfs's own command-line and -o options.
 */
#ifndef PCF_OPTIONS_H
#define PCF_OPTIONS_H

#include "pgcopyfs.h"

#include <fuse_opt.h>

enum pcf_header_mode { PCF_HEADER_AUTO, PCF_HEADER_TRUE, PCF_HEADER_FALSE };
enum pcf_commit_mode { PCF_COMMIT_CLOSE, PCF_COMMIT_FSYNC };
/* -o read_size=: a read open streams (size 0), or spools the export whole
 * first so the open file's size is its length: every open (exact), or
 * opens by the programs in -o size_at_open= (auto). */
enum pcf_read_size { PCF_READ_AUTO, PCF_READ_STREAM, PCF_READ_EXACT };

/* -o close_wait's default: longer than a failing program takes from its
 * close to its exit (coreutils, curl, Python, a JVM: microseconds to a few
 * hundred milliseconds), short enough for a program that runs on. */
#define PCF_CLOSE_WAIT_DEFAULT_MS 2000
/* -o max_record's default: the longest record (line) a load takes. The
 * server's message about a bad value quotes it whole, and libpq holds such
 * a message several times over: 8 MiB keeps the daemon under 64 MB. */
#define PCF_MAX_RECORD_DEFAULT (8u << 20)
/* Programs that take the size fstat of the file they opened gives for its
 * length: rsync's sender, scp's (-O, and the remote end of a pull), curl
 * -T, cmp -s ("differ" from the sizes, unread), LibreOffice and gnumeric
 * (ssconvert) opening a sheet; and Node's fs.copyFile, which copies with
 * sendfile, which the kernel ends at the inode's size. */
#define PCF_SIZE_AT_OPEN "rsync:scp:curl:cmp:node*:soffice.bin:ssconvert:gnumeric"
/* Programs that take a file's size from the stat before they open it:
 * GNU tar, libarchive's bsdtar and cpio -o, which open no file of size 0. */
#define PCF_SIZE_AT_STAT "tar:bsdtar:cpio"
/* Programs whose open of a file just after their stat of it copies it with
 * sendfile, which ends at the size the kernel knows: Python's shutil, Java's
 * Files.copy. Their stat takes no size; their open spools. A Python or
 * Java program that opens a file with no stat first streams it. */
#define PCF_SIZE_AFTER_STAT "python*:java"


struct pcf_options {
	/* Filled by fuse_opt_parse (see options.c for the table). */
	char *conninfo; /* the first non-option argument; "" = libpq defaults */
	char *header;
	char *commit;
	char *delimiter;
	char *quote;
	char *escape;
	char *null_string;
	char *encoding;
	char *close_wait;    /* seconds, as typed */
	char *checkpoint;    /* seconds, as typed */
	int truncate;
	int connect_timeout; /* seconds; -1 = libpq's own setting */
	int history;         /* finished loads kept in .pgcopyfs/history */
	char *max_record;    /* as typed: bytes, or with k, M, G */
	unsigned int table_mode; /* mode of a table the role may INSERT into */
	char *uid;           /* owner shown for every file: a name or number */
	int password_stdin;  /* read the password from standard input */
	char *password;      /* from stdin or the terminal; never in argv */
	char *gid;
	char *spool;         /* where staged files' bytes are kept (staged.h) */
	char *decompress;    /* auto|off: gzip/zstd by magic bytes */
	char *read_size;     /* auto|stream|exact: what a table file read shows */
	char *size_at_open;  /* auto: programs whose read opens are exact */
	char *size_at_stat;  /* auto: programs whose stats spool (statspool.h) */
	char *size_after_stat; /* auto: programs whose open after a stat spools */
	char *json_unknown;  /* error|ignore: a JSON key that is no column */
	char *convert;       /* auto|off: binary COPY rows where exact */
	/* Derived from uid= and gid= (-1: the daemon's own). */
	long owner_uid, owner_gid;
	int nargs;           /* non-option arguments seen */
	int allow_other;     /* libfuse options we look at, and keep */
	int default_permissions;

	/* Derived by pcf_options_parse. */
	enum pcf_header_mode header_mode;
	enum pcf_commit_mode commit_mode;
	int close_wait_ms;   /* how long a closer that runs on may still fail */
	int checkpoint_ms;   /* commit whole rows this often; 0: at the close */
	uint64_t max_record_bytes; /* the longest record a load takes */
	int decompress_off;  /* a plain name's bytes are never decompressed */
	enum pcf_read_size read_mode; /* whether a read open spools the
			      * export whole first, and the open file's
			      * size is its length */
	int json_ignore_unknown;
	int convert_off;     /* every row goes to the server as the file's */
	struct pcf_dialect dialect;
};

/*
 * Whether name (a process's comm, as the kernel cuts it to 15 bytes) is
 * one of list's colon-separated program names (each compared as cut to
 * 15 bytes too; a name ending in '*' takes any comm that begins with
 * what comes before it, "python*" python3 and python3.11). Pure.
 */
int pcf_name_listed(const char *list, const char *name);

/*
 * Takes pgcopyfs's options and the CONNINFO argument out of args, leaving
 * libfuse's options and the mount point for fuse_parse_cmdline(). Also drops
 * the options that only mean something to mount(8) and fstab (auto, noauto,
 * user, users, nouser, _netdev, nofail, defaults, x-systemd.*), and adds
 * default_permissions to allow_other: other users then load only the tables
 * whose file modes let them.
 * On error writes one line to err and returns -1; the caller owns o's
 * strings either way and frees them with pcf_options_free().
 */
int pcf_options_parse(struct fuse_args *args, struct pcf_options *o,
		      char *err, size_t errlen);
void pcf_options_free(struct pcf_options *o);

/* Prints pgcopyfs's usage line and options (--help), before libfuse's. */
void pcf_options_help(const char *progname);

#endif
