/*
 * catalog.h - the tree of schemas and tables, from the daemon's own
 * catalog connection, refreshed when it is older than a second or when a
 * missing name turns out to exist (one indexed question on the monitor
 * connection, bounded); a stale tree is waited for at most 20 ms, then the
 * last good read answers.
 */
#ifndef PCF_CATALOG_H
#define PCF_CATALOG_H

#include "conn.h"
#include "negcache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

/* One table as a file. All strings are owned by the catalog snapshot. */
struct pcf_table {
	char *schema;      /* real names, as in pg_namespace / pg_class */
	char *name;
	char *schema_file; /* escaped, as shown in the mount */
	char *file;        /* escaped name + ".csv" */
	char relkind;      /* 'r' ordinary, 'p' partitioned */
	unsigned char can_insert;
	unsigned char can_truncate;
	unsigned char can_select;  /* reading the file streams it out */
};

/* Why nothing can be written: a hot standby, or read-only by default. */
enum pcf_read_only { PCF_RO_NO, PCF_RO_RECOVERY, PCF_RO_SETTING };

/* A copy of one table's entry that the caller owns (pcf_table_info_free). */
struct pcf_table_info {
	char *schema;
	char *name;
	char relkind;
	int can_insert;
	int can_truncate;
	int can_select;
	enum pcf_read_only read_only; /* the server's, at the last read */
};

/* One read of the tree; immutable, shared by reference. */
struct pcf_snapshot {
	atomic_int refs;
	struct pcf_table *tables; /* sorted by (schema_file, file) */
	size_t ntables;
	char **schemas;           /* escaped names, sorted */
	size_t nschemas;
	int read_only;            /* enum pcf_read_only */
	struct timespec fetched;  /* CLOCK_MONOTONIC */
};

struct pcf_catalog {
	const struct pcf_options *opts;
	/* lock guards the fields down to refresh_failed; held for pointer
	 * swaps and counter updates only, never across a round trip. */
	pthread_mutex_t lock;
	pthread_cond_t cond;            /* requested, done changed */
	struct pcf_snapshot *cur;       /* never NULL once open */
	unsigned long requested;        /* refreshes asked for ... */
	unsigned long started;          /* ... the one running or last run */
	unsigned long done;             /* ... the last finished */
	int running, stop, exited, abandoned;
	int fetching;                   /* a refresh runs, since fetch_since */
	struct timespec fetch_since;
	int conn_fd;                    /* conn's socket, for stop; -1 none */
	struct timespec refresh_failed; /* of the last failed refresh */
	pthread_t thread;
	/* The refresher thread's own (main's before it starts). */
	PGconn *conn;
	struct timespec failed;         /* of the last failed connect */
	/* The monitor connection, for pcf_catalog_backend_failed. */
	pthread_mutex_t mon_lock;
	PGconn *mon;
	struct timespec mon_failed;
	/* Names the server said are missing (negcache.h); neg_lock guards
	 * neg alone and is held for no round trip. */
	pthread_mutex_t neg_lock;
	struct pcf_negcache *neg;
};

/*
 * Connects and reads the tree once; called before mounting, so a wrong
 * CONNINFO ends the program with e's message. 0 or -errno.
 */
int pcf_catalog_open(struct pcf_catalog *c, const struct pcf_options *o,
		     struct pcf_error *e);
void pcf_catalog_close(struct pcf_catalog *c);

/* Starts and stops the refresher thread (after daemonizing: a fork keeps no
 * threads). Until it runs, lookups answer from the snapshot read at open. */
int pcf_catalog_start(struct pcf_catalog *c);
void pcf_catalog_stop(struct pcf_catalog *c);

/* The database as libpq reports it, for fsname: "user@host:port/db". */
void pcf_catalog_describe(struct pcf_catalog *c, char *out, size_t len);

/* 0 when the schema directory exists, else -ENOENT. */
int pcf_catalog_has_schema(struct pcf_catalog *c, const char *schema_file);

/*
 * Looks a table file up; a name missing from the tree is asked about (one
 * indexed question), and the tree re-read when it exists (a table created
 * a moment ago); fresh = 1 (an O_CREAT open) may wait up to a second for
 * that, else at most 50 ms. Fills info (the caller
 * frees it with pcf_table_info_free) when info is not NULL. 0 or -ENOENT.
 */
int pcf_catalog_lookup(struct pcf_catalog *c, const char *schema_file,
		       const char *file, int fresh, struct pcf_table_info *info);
void pcf_table_info_free(struct pcf_table_info *info);

/*
 * 1 when backend pid is "idle in transaction (aborted)": its COPY failed.
 * libpq keeps a server error that arrives during COPY IN unread until the
 * COPY ends, so a load asks here, from time to time, to stop a stream the
 * server already refused. 0 when not (or when the question fails).
 */
int pcf_catalog_backend_failed(struct pcf_catalog *c, int pid);

/* Calls fill(ctx, name) for each schema, or for each table file of one
 * schema, from one snapshot. -ENOENT for an unknown schema. */
typedef int (*pcf_fill_fn)(void *ctx, const char *name);
int pcf_catalog_list(struct pcf_catalog *c, const char *schema_file,
		     pcf_fill_fn fill, void *ctx);

#endif
