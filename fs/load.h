/*
 * load.h - one open table file: its connection, its COPY and its outcome.
 *
 * A byte written by cat travels: fsops.c pcf_op_write -> load.c
 * pcf_load_write (offset check) -> inflate.c (gzip, zstd, or passed
 * through) -> load_feed (header, row count: scan.c) -> copy.c
 * pcf_copy_send -> PQputCopyData. The last close travels: pcf_op_flush -> pcf_load_flush
 * (dying writer? other holders? see registry.c) -> pcf_copy_end -> COMMIT.
 */
#ifndef PCF_LOAD_H
#define PCF_LOAD_H

#include "catalog.h"
#include "closer.h"
#include "holders.h"
#include "inflate.h"
#include "paths.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

struct pcf_fs;
struct pcf_convert;

enum pcf_load_state {
	PCF_LOAD_WAITING, /* no byte yet, or the first line is not complete */
	PCF_LOAD_COPYING, /* streaming: a COPY is running (under the binary
			   * stage, convert.c owns which one, and for a
			   * moment between two none: pcf_convert_copying) */
	PCF_LOAD_CLOSING, /* COPY ended at the last close; waiting for the
			   * closer's exit to commit or roll back (watch.c) */
	PCF_LOAD_COMMITTED,
	PCF_LOAD_FAILED,  /* rolled back; every later call returns err */
	PCF_LOAD_EMPTY,   /* closed without a byte: nothing to do */
};

#define PCF_MAX_ANCHORS 8
#define PCF_MAX_WRITERS 8

struct pcf_load {
	pthread_mutex_t lock; /* one FUSE request at a time on this file */
	_Atomic int refs;     /* the FUSE handle, and a watch in progress */
	struct pcf_fs *fs;
	uint64_t id;
	struct pcf_table_info table;
	char *path;           /* absolute path in the mount, for /proc scans */
	char *rel_path;       /* the same below the mount point, for history */
	char *label;          /* "schema.table" as typed, for messages */
	int flags;            /* open(2) flags */
	int replace;          /* O_TRUNC under -o truncate: TRUNCATE first */
	PGconn *conn;

	enum pcf_format format;     /* by the file's name (paths.h) */
	enum pcf_compression comp;
	struct pcf_inflate *inflate; /* the first stage: gzip, zstd or plain */
	/* .jsonl: lines become rows of COPY's text format (jsonl.c); a row
	 * with other keys than the running COPY's columns starts the next
	 * COPY in the same transaction. */
	struct pcf_jsonl *jsonl;
	char **jcols;         /* the table's columns, in order */
	size_t njcols;
	char *jline;          /* the line in progress across writes */
	size_t jline_len, jline_cap;
	char *jout;           /* rows converted, not yet sent */
	size_t jout_len, jout_cap;
	uint64_t jlines;      /* the file's lines so far */
	int jrestart;         /* a blank line came: the next row starts a new
			       * COPY, so that line numbers stay the file's */
	int tx_truncated;     /* -o truncate's TRUNCATE ran in this
			       * transaction: a COPY may FREEZE */
	uint64_t seg_rows;    /* rows the earlier COPYs of this transaction
			       * loaded */
	struct pcf_scanner scan;
	/* -o convert=auto: the binary stage (convert.c), once the COPY
	 * starts; NULL when the load goes as CSV (convert_why says why). */
	struct pcf_convert *conv;
	char convert_why[160];
	uint64_t line_base;   /* the file's lines before the running COPY's
			       * first (a text header not sent, checkpoints):
			       * added to the server's line numbers */
	int skip_lf;          /* the next byte is the \n of a \r\n whose \r
			       * ended what the COPY was not sent, or what a
			       * checkpoint committed */
	long long next_off;   /* where the next write must start */
	int off_known;        /* 0 until the first O_APPEND write */
	char *head;           /* bytes held until the first line is complete */
	size_t head_len, head_cap;
	int header_taken;
	char header_note[400]; /* why line 1 was data, for the server's error */
	uint64_t sealed;      /* bytes covered by the last fsync (commit=fsync) */
	struct timespec checked; /* when the server was last asked (see
				  * pcf_catalog_backend_failed) */

	/* Writers seen, for "did a dying closer write to us?" */
	pid_t writers[PCF_MAX_WRITERS];
	int nwriters;
	pid_t last_tid;
	struct pcf_openfile file; /* who else holds it (holders.h) */
	int backend_pid;      /* the server process of the load's transaction
			       * (not PQbackendPID: a pooler's key) */
	char xid[24];         /* its transaction id, once the COPY ended */
	pid_t watched;        /* CLOSING: the closer followed to its exit */

	/* Descriptors known to be this open file; guarded by the registry. */
	struct pcf_fdref anchors[PCF_MAX_ANCHORS];
	int nanchors;

	/* Set without the lock by a path truncate(2) during the load; the
	 * next write or close fails the load. */
	_Atomic int size_changed;

	/* Read by the status files without the lock: atomics, and strings
	 * written under the registry lock (pcf_registry_set_writer). */
	_Atomic int state;
	_Atomic uint64_t bytes;
	_Atomic uint64_t rows;       /* the server's count once the COPY ended */
	_Atomic uint64_t file_rows;  /* the records the file held (header out) */
	_Atomic uint64_t bin_rows;   /* of them, sent as binary tuples */
	_Atomic uint64_t csv_rows;   /* sent as they were (convert.c) */
	pid_t writer_pid;
	uid_t writer_uid;     /* the opener's, for who may see the load */
	char writer_cmd[256];
	struct timespec started; /* CLOCK_REALTIME */
	struct timespec mono;    /* CLOCK_MONOTONIC, for durations */

	struct pcf_error error;  /* the reason, once FAILED */
	struct pcf_load *prev, *next; /* registry list */
	/* Ending a wait on the server from another thread (pcf_load_abort):
	 * guarded by abort_lock, never by lock, which the waiter holds. */
	pthread_mutex_t abort_lock;
	pthread_cond_t abort_cond; /* aborted changed: a connect stops waiting */
	int sock_dup;              /* the connection's socket, dup'd; -1 none */
	PGcancel *cancel;          /* for the server: stop what you wait for */
	_Atomic pid_t aborted;     /* the killed writer's task, 0 if none */
	int fd_budget;             /* holds descriptors of the budget (conn.h) */
	unsigned long notices;     /* NOTICEs and WARNINGs the server sent */

	/* -o checkpoint: the load commits its whole rows as it goes, each
	 * checkpoint its own transaction (checkpoint.c). Under lock, but the
	 * atomics the status files read. */
	struct pcf_checkpoints {
		int on;
		char *copy_sql;     /* the COPY of every transaction after the
				     * first: its column list, no header, no
				     * FREEZE */
		char *tail;         /* the record in progress, held back: a
				     * COPY only ever holds whole rows */
		size_t tail_len, tail_cap;
		struct timespec last;      /* CLOCK_MONOTONIC */
		_Atomic int64_t last_wall; /* CLOCK_REALTIME seconds; 0: none */
		_Atomic uint64_t committed; /* rows the checkpoints committed */
		_Atomic uint64_t base_rows; /* file rows at the last one */
		_Atomic unsigned count;
	} ckpt;
};

/*
 * A load for a write open of table t at path (relative to the mount), not
 * yet connected: *out, or -errno. pcf_load_open then connects; the two are
 * apart so that the request can be seen by calls.c while it connects.
 */
int pcf_load_new(struct pcf_fs *fs, const struct pcf_table_info *t,
		 const char *path, int flags, pid_t pid, uid_t uid,
		 struct pcf_load **out);

/*
 * Checks the privilege, connects, begins the transaction. On success l is
 * owned by the FUSE file handle until pcf_load_release. On failure the
 * reason is logged and recorded in the history, and -errno returned; the
 * caller frees l with pcf_load_discard once its request is no longer seen
 * by calls.c.
 */
int pcf_load_open(struct pcf_load *l);
void pcf_load_discard(struct pcf_load *l);

/*
 * The writer's task tid was killed while a request on l waited (calls.c;
 * any thread, without l's lock): ends the wait at once (the connection's
 * socket is shut down, the server sent a cancel request), and the load
 * fails with EINTR, rolled back.
 */
void pcf_load_abort(struct pcf_load *l, pid_t tid);

/* Takes one write; size or -errno (the load is then failed for good). */
int pcf_load_write(struct pcf_load *l, const char *buf, size_t size,
		   off_t off, pid_t tid);

/* A close(): commits when it is the last holder and data came. 0/-errno. */
int pcf_load_flush(struct pcf_load *l, pid_t tid);

/*
 * A load whose bytes are all there already (a staged file renamed onto a
 * table): streams fd from its start to its end, then commits at once, for
 * task tid (if it dies meanwhile, rolled back). 0 or -errno: the rename's
 * answer.
 */
int pcf_load_from_fd(struct pcf_load *l, int fd, pid_t tid);

/* A reference besides the FUSE handle's (a drop folder's name for it). */
void pcf_load_ref(struct pcf_load *l);
void pcf_load_unref(struct pcf_load *l);

/* Decided: committed, rolled back, or empty. */
int pcf_load_settled(struct pcf_load *l);

/*
 * Decides now a load whose last close is waiting for its closer's exit
 * (CLOSING): commit (a rename of the file: the tool says it is done), for
 * task tid; or roll back (an unlink before the commit). A load already
 * decided answers its outcome; one still open is left alone (0). 0 or
 * -errno.
 */
int pcf_load_settle(struct pcf_load *l, int commit, pid_t tid);

/* fsync(): reports a failure; under commit=fsync seals the bytes so far;
 * under -o checkpoint commits the whole rows so far, and returns after the
 * COMMIT with its outcome. */
int pcf_load_fsync(struct pcf_load *l);

/* A change of size (ftruncate, fallocate, chmod) that a stream cannot
 * honour: fails the load with err and reason. Returns -err. */
int pcf_load_refuse(struct pcf_load *l, int err, const char *reason);

/* The last reference is gone: finishes anything left, frees l. */
void pcf_load_release(struct pcf_load *l);

/* truncate(2) of a table's path: fails every live load of that path that
 * has written, at its next write or close. */
void pcf_loads_size_changed(const char *path);

/* A thread that checkpoints loads whose writer has gone quiet (writes
 * check for themselves). */
int pcf_checkpointer_start(void);
void pcf_checkpointer_stop(void);

/* Unmount: rolls back l, already out of the registry, and frees it: its
 * release will never come. */
void pcf_load_abandon(struct pcf_load *l, const char *why);

#endif
