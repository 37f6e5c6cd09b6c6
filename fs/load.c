/*
 * load.c - the life of one open table file.
 *
 *   open   -> connect, BEGIN                          (state WAITING)
 *   write  -> hold bytes until the first line is whole, decide the header,
 *             [TRUNCATE], COPY ... FROM STDIN, then stream (state COPYING)
 *   flush  -> the commit rule (closerule.c) on what /proc shows:
 *             not the last close: nothing; a dead writer: roll back;
 *             commit now: end COPY, check the row count, COMMIT
 *                                                     (state COMMITTED);
 *             or end the COPY now and follow the closer (watch.c) to its
 *             exit                                    (state CLOSING)
 *   closer's exit (or close_wait later) -> COMMIT or roll back
 *   any failure -> CopyFail, disconnect (the server rolls back), keep the
 *             reason; every later call returns it     (state FAILED)
 *   release -> free once no watch needs it; a load no close could finish
 *             is finished here.
 *
 * All functions but pcf_load_open run under l->lock.
 */
#include "clock.h"
#include "load.h"
#include "sql.h"

#include "convert.h"
#include "copy.h"
#include "jsonl.h"
#include "loadint.h"
#include "fs.h"
#include "holders.h"
#include "log.h"
#include "pcf_closerule.h"
#include "registry.h"
#include "status.h"
#include "watch.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* A first line longer than this is not a header: stop holding bytes. */
#define HEAD_MAX (1u << 20)
/* How often a streaming load asks whether the server refused its COPY. */
#define CHECK_EVERY_MS 1000

static _Atomic uint64_t next_load_id = 1;

/* Frees what a load owns; the load must be out of the registry. */
static void load_disconnect(struct pcf_load *l);

static void load_free(struct pcf_load *l)
{
	pcf_openfile_drop(&l->file);
	load_disconnect(l);
	pthread_mutex_destroy(&l->abort_lock);
	pthread_cond_destroy(&l->abort_cond);
	free(l->head);
	pcf_inflate_free(l->inflate);
	pcf_convert_free(l->conv);
	pcf_jsonl_free(l->jsonl);
	pcf_fields_free(l->jcols, l->njcols);
	free(l->jline);
	free(l->jout);
	free(l->ckpt.copy_sql);
	free(l->ckpt.tail);
	free(l->path);
	free(l->rel_path);
	free(l->label);
	pcf_table_info_free(&l->table);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

/* Lets pcf_load_abort reach the new connection. 0, or -EINTR when the
 * writer was killed meanwhile. */
static int load_arm(struct pcf_load *l)
{
	int rc = 0;

	pthread_mutex_lock(&l->abort_lock);
	if (atomic_load(&l->aborted)) {
		rc = -EINTR;
	} else {
		l->sock_dup = fcntl(PQsocket(l->conn), F_DUPFD_CLOEXEC, 0);
		l->cancel = PQgetCancel(l->conn);
	}
	pthread_mutex_unlock(&l->abort_lock);
	return rc;
}

/* Closes the connection (the server rolls back what is not committed). */
static void load_disconnect(struct pcf_load *l)
{
	pthread_mutex_lock(&l->abort_lock);
	if (l->sock_dup >= 0)
		close(l->sock_dup);
	l->sock_dup = -1;
	PQfreeCancel(l->cancel);
	l->cancel = NULL;
	pthread_mutex_unlock(&l->abort_lock);
	if (l->conn) {
		/* Never block on a dead path for the goodbye message. */
		PQsetnonblocking(l->conn, 1);
		PQfinish(l->conn);
	}
	l->conn = NULL;
	if (l->fd_budget)
		pcf_conn_budget_give();
	l->fd_budget = 0;
}

/* The cancel request goes on a connection of its own: off the caller's
 * thread, which must answer within the second. */
static void *cancel_main(void *arg)
{
	PGcancel *cancel = arg;
	char err[256];

	PQcancel(cancel, err, sizeof(err));
	PQfreeCancel(cancel);
	return NULL;
}

void pcf_load_abort(struct pcf_load *l, pid_t tid)
{
	pid_t none = 0, tgid = pcf_task_tgid(tid);
	PGcancel *cancel;
	pthread_attr_t attr;
	pthread_t t;

	if (tgid <= 0)
		tgid = tid;
	if (!atomic_compare_exchange_strong(&l->aborted, &none, tgid))
		return;
	pthread_mutex_lock(&l->abort_lock);
	if (l->sock_dup >= 0)
		shutdown(l->sock_dup, SHUT_RDWR); /* libpq's wait ends now */
	cancel = l->cancel;
	l->cancel = NULL;
	pthread_cond_broadcast(&l->abort_cond);
	pthread_mutex_unlock(&l->abort_lock);
	pcf_warn("load %llu of %s: the writer (pid %d) was killed while "
		 "waiting on the server: rolling back\n",
		 (unsigned long long)l->id, l->label ? l->label : "?",
		 (int)tgid);
	if (!cancel)
		return;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, cancel_main, cancel) != 0)
		PQfreeCancel(cancel);
	pthread_attr_destroy(&attr);
}

/*
 * Takes l's lock, unless the load is aborted while another request holds
 * it (that one ends soon; a killed writer's own close must not wait for
 * it). 0, or -EINTR without the lock.
 */
static int load_lock(struct pcf_load *l)
{
	for (;;) {
		struct timespec until = pcf_clock_in(CLOCK_REALTIME, 50);

		if (pthread_mutex_timedlock(&l->lock, &until) == 0)
			return 0;
		if (atomic_load(&l->aborted))
			return -EINTR;
		/* Unmount: libfuse cancels its workers, and the holder may be
		 * one of them, gone for good. */
		pthread_testcancel();
	}
}

/* Drops a reference; the last one frees the load (out of the registry). */
static void load_put(struct pcf_load *l)
{
	if (atomic_fetch_sub(&l->refs, 1) == 1) {
		pcf_registry_remove(l);
		load_free(l);
	}
}

/*
 * Fails the load for good with reason e: ends the COPY with CopyFail so the
 * server discards it, disconnects (which rolls the transaction back), and
 * records the outcome ("failed", or "unknown" when a COMMIT's answer was
 * lost). Returns -e->err for the caller to pass on.
 */
/* The server's message is about the file's first line ("line 1", not
 * "line 12"). */
static int refers_to_line_1(const char *m)
{
	for (const char *p = m; (p = strstr(p, "line 1")) != NULL; p += 6)
		if (p[6] < '0' || p[6] > '9')
			return 1;
	return 0;
}

/* "COPY t, line 3, ..." -> "COPY t, line <3 + base>, ...". */
static void shift_copy_line(char *m, size_t cap, uint64_t base)
{
	char *copy = strstr(m, "COPY "), *at, *end;
	unsigned long long n;
	char rest[1100];

	if (!copy || !(at = strstr(copy, ", line ")))
		return;
	at += 7;
	n = strtoull(at, &end, 10);
	if (end == at)
		return;
	snprintf(rest, sizeof(rest), "%s", end);
	snprintf(at, cap - (size_t)(at - m), "%llu%s", n + base, rest);
}

static int load_fail_as(struct pcf_load *l, const struct pcf_error *e,
			const char *outcome)
{
	int st = pcf_load_state(l);

	pid_t killed = atomic_load(&l->aborted);

	if (st == PCF_LOAD_FAILED)
		return -l->error.err;
	l->error = *e;
	/* After a checkpoint (or a text header not sent) the server counts
	 * the lines of its own COPY: the message names the file's. */
	if (l->line_base && e->sqlstate[0])
		shift_copy_line(l->error.message, sizeof(l->error.message),
				l->line_base);
	if (atomic_load(&l->ckpt.count) > 0) {
		/* Not "nothing": the checkpoints' rows stay. */
		char *p = strstr(l->error.message, "nothing committed");

		unsigned long long kept = atomic_load(&l->ckpt.committed);
		size_t n = strlen(l->error.message);

		if (p)
			snprintf(p, sizeof(l->error.message) -
					    (size_t)(p - l->error.message),
				 "nothing since the last checkpoint committed "
				 "(the %llu rows of earlier checkpoints stay)",
				 kept);
		else
			snprintf(l->error.message + n,
				 sizeof(l->error.message) - n,
				 " (since the last checkpoint; the %llu rows of "
				 "earlier checkpoints stay)",
				 kept);
	}
	if (l->header_note[0] && refers_to_line_1(l->error.message)) {
		size_t n = strlen(l->error.message);

		snprintf(l->error.message + n, sizeof(l->error.message) - n,
			 " (%s)", l->header_note);
	}
	if (killed)
		/* Whatever libpq made of the cut connection: the reason is
		 * the writer's death. */
		pcf_error_set(&l->error, ECANCELED,
			      "the writer (pid %d) was killed by a signal while "
			      "waiting on the server: nothing committed",
			      (int)killed);
	/* CopyFail only while the COPY still runs: not after it ended with
	 * the server's error or a count that did not match. */
	if (l->conn && PQstatus(l->conn) == CONNECTION_OK &&
	    st == PCF_LOAD_COPYING &&
	    PQtransactionStatus(l->conn) == PQTRANS_ACTIVE) {
		struct pcf_error ignored;
		char reason[1200];

		snprintf(reason, sizeof(reason), "pgcopyfs: %s",
			 l->error.message);
		pcf_copy_end(l->conn, reason, NULL, &ignored);
	}
	load_disconnect(l);
	free(l->head);
	l->head = NULL;
	l->head_len = l->head_cap = 0;
	atomic_store(&l->state, PCF_LOAD_FAILED);
	pcf_registry_drop_anchors(l);
	pcf_openfile_drop(&l->file);
	pcf_status_record(l, outcome);
	return -l->error.err;
}

static int load_fail(struct pcf_load *l, const struct pcf_error *e)
{
	return load_fail_as(l, e, "failed");
}

int pcf_load_failf(struct pcf_load *l, int err, const char *fmt, ...)
{
	struct pcf_error e = { .err = err };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e.message, sizeof(e.message), fmt, ap);
	va_end(ap);
	return load_fail(l, &e);
}

int pcf_load_fail(struct pcf_load *l, const struct pcf_error *e)
{
	return load_fail(l, e);
}

int pcf_load_new(struct pcf_fs *fs, const struct pcf_table_info *t,
		 const char *path, int flags, pid_t pid, uid_t uid,
		 struct pcf_load **out)
{
	struct pcf_load *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	pthread_mutex_init(&l->lock, NULL);
	pthread_mutex_init(&l->abort_lock, NULL);
	pthread_cond_init(&l->abort_cond, NULL);
	l->sock_dup = -1;
	atomic_store(&l->refs, 1);
	l->fs = fs;
	l->id = atomic_fetch_add(&next_load_id, 1);
	l->table.schema = strdup(t->schema);
	l->table.name = strdup(t->name);
	l->table.relkind = t->relkind;
	l->table.can_insert = t->can_insert;
	l->table.can_truncate = t->can_truncate;
	l->table.read_only = t->read_only;
	if (asprintf(&l->path, "%s%s", fs->mountpoint, path) < 0)
		l->path = NULL;
	l->rel_path = strdup(path);
	if (asprintf(&l->label, "%s.%s", t->schema, t->name) < 0)
		l->label = NULL;
	if (!l->table.schema || !l->table.name || !l->path || !l->label ||
	    !l->rel_path) {
		load_free(l);
		return -ENOMEM;
	}
	l->flags = flags;
	l->replace = fs->opts.truncate && (flags & O_TRUNC);
	l->off_known = !(flags & O_APPEND);
	{
		const char *base = strrchr(path, '/');
		struct pcf_name_format nf;

		pcf_name_format(base ? base + 1 : path, &nf);
		l->format = nf.format;
		l->comp = nf.comp;
	}
	l->inflate = pcf_inflate_new(
		l->comp == PCF_COMP_GZIP   ? PCF_INFLATE_GZIP
		: l->comp == PCF_COMP_ZSTD ? PCF_INFLATE_ZSTD
		: fs->opts.decompress_off  ? PCF_INFLATE_PLAIN
					   : PCF_INFLATE_DETECT);
	if (!l->inflate) {
		load_free(l);
		return -ENOMEM;
	}
	if (l->format == PCF_FMT_TEXT)
		pcf_scan_init_text(&l->scan);
	else
		pcf_scan_init(&l->scan, fs->opts.dialect);
	clock_gettime(CLOCK_REALTIME, &l->started);
	clock_gettime(CLOCK_MONOTONIC, &l->mono);
	l->writer_pid = pcf_task_tgid(pid);
	l->writer_uid = uid;
	pcf_openfile_init(&l->file, l->writer_pid);
	pcf_task_cmdline(l->writer_pid, l->writer_cmd, sizeof(l->writer_cmd));
	l->ckpt.on = fs->opts.checkpoint_ms > 0;
	atomic_store(&l->state, PCF_LOAD_WAITING);
	*out = l;
	return 0;
}

static int load_aborted(void *arg)
{
	return atomic_load(&((struct pcf_load *)arg)->aborted);
}

/* Connects l, or fails with e filled in (EINTR when the writer was
 * killed meanwhile). */
static PGconn *load_connect(struct pcf_load *l, struct pcf_error *e)
{
	return pcf_connect_stoppable(&l->fs->opts, "pgcopyfs", load_aborted, l,
				     e);
}

/* The first notices a load's server sends are logged, without the row
 * they may echo; the rest are counted (a trigger that RAISEs a NOTICE per
 * row would fill the log with the data). */
#define NOTICES_LOGGED 3

static void on_notice(void *arg, const PGresult *r)
{
	struct pcf_load *l = arg;
	const char *sev = PQresultErrorField(r, PG_DIAG_SEVERITY);
	const char *prim = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);

	if (++l->notices > NOTICES_LOGGED)
		return;
	pcf_warn("load %llu of %s: the server says %s: %.120s%s\n",
		 (unsigned long long)l->id, l->label, sev ? sev : "NOTICE",
		 prim ? prim : "", prim && strlen(prim) > 120 ? "..." : "");
}

int pcf_load_open(struct pcf_load *l)
{
	const struct pcf_table_info *t = &l->table;
	struct pcf_error e;

	if (t->read_only) {
		pcf_error_set(&e, EROFS,
			      "the server is read-only: %s; %s takes no rows",
			      t->read_only == PCF_RO_RECOVERY
				      ? "a hot standby (in recovery)"
				      : "default_transaction_read_only is on",
			      l->label);
		goto fail;
	}
	if (!t->can_insert) {
		pcf_error_set(&e, EACCES,
			      "permission denied: no INSERT privilege on %s",
			      l->label);
		goto fail;
	}
	if (l->replace && !t->can_truncate) {
		pcf_error_set(&e, EACCES,
			      "permission denied: -o truncate needs the "
			      "TRUNCATE privilege on %s",
			      l->label);
		goto fail;
	}
	if (pcf_conn_budget_take(&e) != 0)
		goto fail;
	l->fd_budget = 1;
	l->conn = load_connect(l, &e);
	if (!l->conn)
		goto fail;
	pcf_conn_widen_send_buffer(l->conn);
	PQsetNoticeReceiver(l->conn, on_notice, l);
	if (load_arm(l) != 0) {
		pcf_error_set(&e, EINTR, "killed while connecting");
		goto fail;
	}
	/* No BEGIN yet: it comes with the first whole line (load_start_copy),
	 * so a writer silent before its first byte leaves no transaction
	 * idle (idle_in_transaction_session_timeout; a transaction pooler's
	 * slot). */
	pcf_registry_add(l);
	if (pcf_log_debug_enabled()) {
		struct timespec now;

		clock_gettime(CLOCK_MONOTONIC, &now);
		pcf_debug("load %llu of %s opened by pid %d (%s): connected "
			  "in %.3f s\n",
			  (unsigned long long)l->id, l->label,
			  (int)l->writer_pid, l->writer_cmd,
			  (double)(now.tv_sec - l->mono.tv_sec) +
				  (double)(now.tv_nsec - l->mono.tv_nsec) / 1e9);
	}
	return 0;
fail:
	/* Not freed here: calls.c may be looking at l until the request
	 * leaves (pcf_load_discard, after). */
	return load_fail(l, &e);
}

void pcf_load_discard(struct pcf_load *l)
{
	load_free(l);
}

/* The table's columns in order, for telling a header from data. */
int pcf_load_table_columns(struct pcf_load *l, char ***cols, size_t *ncols,
			 struct pcf_error *e)
{
	const char *params[2] = { l->table.schema, l->table.name };
	PGresult *r = PQexecParams(
		l->conn,
		"SELECT attname FROM pg_catalog.pg_attribute"
		" WHERE attrelid = format('%I.%I', $1::text, $2::text)::regclass"
		" AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
		2, NULL, params, NULL, NULL, 0);
	int n;

	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		pcf_error_from_result(e, l->conn, r);
		PQclear(r);
		return -e->err;
	}
	n = PQntuples(r);
	*cols = calloc((size_t)n + 1, sizeof(char *));
	*ncols = 0;
	if (!*cols) {
		PQclear(r);
		pcf_error_set(e, ENOMEM, "out of memory");
		return -ENOMEM;
	}
	for (int i = 0; i < n; i++) {
		(*cols)[i] = strdup(PQgetvalue(r, i, 0));
		if (!(*cols)[i]) {
			pcf_fields_free(*cols, (size_t)i);
			PQclear(r);
			pcf_error_set(e, ENOMEM, "out of memory");
			return -ENOMEM;
		}
		*ncols = (size_t)i + 1;
	}
	PQclear(r);
	return 0;
}

/*
 * COPY "schema"."table" [(cols)] FROM STDIN WITH (...) in the file's format
 * and the mount's dialect, or binary (sql.c quotes every name and value).
 */
char *pcf_load_copy_sql(struct pcf_load *l, char **cols, size_t ncols,
			enum pcf_load_copy kind, int header, int truncated)
{
	const struct pcf_options *o = &l->fs->opts;
	struct pcf_copy_spec sp = {
		.schema = l->table.schema, .table = l->table.name,
		.cols = (const char *const *)cols, .ncols = ncols,
		.null_string = o->null_string, .encoding = o->encoding,
		/* FREEZE is allowed after TRUNCATE of a plain table in the
		 * same transaction. */
		.freeze = truncated && l->table.relkind == 'r',
	};

	if (kind == PCF_LOAD_COPY_BINARY) {
		sp.format = PCF_COPY_BINARY;
	} else if (l->format == PCF_FMT_JSONL) {
		/* jsonl.c's rows: UTF-8 whatever the connection's encoding */
		sp.format = PCF_COPY_TEXT;
		sp.null_string = NULL;
		sp.encoding = "UTF8";
	} else if (l->format == PCF_FMT_CSV) {
		sp.format = PCF_COPY_CSV;
		sp.header = header;
		sp.delimiter = o->dialect.delimiter;
		sp.quote = o->dialect.quote;
		sp.escape = o->dialect.escape;
	} else {
		sp.format = PCF_COPY_TEXT;
		sp.header = header;
	}
	return pcf_copy_sql(l->conn, &sp);
}

static char *copy_sql(struct pcf_load *l, char **cols, size_t ncols,
		      int header, int truncated)
{
	/* The text format's header line is not sent (load_start_copy). */
	return pcf_load_copy_sql(l, cols, ncols, PCF_LOAD_COPY_FILE,
				 header && l->format == PCF_FMT_CSV, truncated);
}

/* TABLE [ONLY] "schema"."table" after head (TRUNCATE, INSERT INTO). */
char *pcf_load_table_sql(struct pcf_load *l, const char *head,
			 const char *tail)
{
	struct pcf_sql q;

	pcf_sql_init(&q, l->conn);
	pcf_sql_plain(&q, head);
	pcf_sql_relation(&q, l->table.schema, l->table.name);
	pcf_sql_plain(&q, tail);
	return pcf_sql_take(&q);
}

/* TRUNCATE for -o truncate: ONLY this table's rows, but a partitioned
 * table's rows are its partitions'. */
int pcf_load_truncate(struct pcf_load *l, struct pcf_error *e)
{
	char *sql = pcf_load_table_sql(l, l->table.relkind == 'p' ? "TRUNCATE TABLE "
							 : "TRUNCATE TABLE ONLY ",
			      "");
	int rc;

	if (!sql) {
		pcf_error_set(e, ENOMEM, "out of memory");
		return -ENOMEM;
	}
	rc = pcf_exec(l->conn, sql, e);
	free(sql);
	return rc;
}

static int is_utf8_name(const char *enc)
{
	return strcasecmp(enc, "UTF8") == 0 || strcasecmp(enc, "UTF-8") == 0 ||
	       strcasecmp(enc, "UNICODE") == 0;
}

/* The file's encoding, as COPY will read the data: the option's, else the
 * connection's client_encoding. 1 when that is UTF-8. */
static int file_is_utf8(struct pcf_load *l)
{
	const char *enc = l->fs->opts.encoding;

	if (!enc)
		enc = pg_encoding_to_char(PQclientEncoding(l->conn));
	return enc && is_utf8_name(enc);
}

/* bytes in encoding enc, as UTF-8 text by the server's own conversion;
 * NULL when it cannot (then the bytes are compared as they are). */
static char *server_convert(struct pcf_load *l, const char *bytes, size_t len,
			    const char *enc)
{
	const char *params[2] = { bytes, enc };
	int lens[2] = { (int)len, 0 }, formats[2] = { 1, 0 };
	struct pcf_error e;
	PGresult *r;
	char *out = NULL;

	/* Bytes invalid in enc make the conversion fail: under a savepoint,
	 * so that the load's transaction goes on (COPY then says why). */
	if (pcf_exec(l->conn, "SAVEPOINT pcf_header", &e) != 0)
		return NULL;
	r = PQexecParams(l->conn, "SELECT pg_catalog.convert_from($1::bytea, $2)",
			 2, NULL, params, lens, formats, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		out = strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	pcf_exec(l->conn, out ? "RELEASE SAVEPOINT pcf_header"
			      : "ROLLBACK TO SAVEPOINT pcf_header",
		 &e);
	return out;
}

/*
 * The first line is whole (complete) or too long to be a header: decide
 * whether it names columns, start the COPY and send the held bytes.
 * The header line is sent too, with HEADER true, so that the line numbers
 * in the server's messages are the file's.
 */
/* Appends to a buffer the load owns (the first line, the record held
 * back under checkpoints). 0, or the load fails with ENOMEM. */
int pcf_load_buf_append(struct pcf_load *l, char **b, size_t *len, size_t *cap,
		      const char *buf, size_t size)
{
	if (size == 0)
		return 0; /* *b may still be NULL */
	if (*len + size > *cap) {
		size_t c = *cap ? *cap : 4096;
		char *n;

		while (c < *len + size)
			c *= 2;
		if (!(n = realloc(*b, c)))
			return pcf_load_failf(l, ENOMEM, "out of memory");
		*b = n;
		*cap = c;
	}
	memcpy(*b + *len, buf, size);
	*len += size;
	return 0;
}

/* The record in progress under checkpoints, held back (its length is
 * bounded by -o max_record, scanned_ok). */
static int tail_append(struct pcf_load *l, const char *buf, size_t size)
{
	return pcf_load_buf_append(l, &l->ckpt.tail, &l->ckpt.tail_len, &l->ckpt.tail_cap,
			  buf, size);
}

/* Sends bytes into the COPY; the first byte after a checkpoint (or a
 * header not sent) that ended between a \r and its \n is that \n: not
 * sent. */
int pcf_load_send(struct pcf_load *l, const char *buf, size_t size)
{
	struct pcf_error e;

	if (size && l->skip_lf && buf[0] == '\n')
		buf++, size--;
	if (size)
		l->skip_lf = 0;
	if (size && pcf_copy_send(l->conn, buf, size, &e) != 0)
		return load_fail(l, &e);
	return 0;
}

/* Sends what just completed whole records (the held tail, and buf up to
 * its last record end; start is buf's offset in the stream) and holds the
 * rest back. */
static int ckpt_feed(struct pcf_load *l, const char *buf, size_t size,
		     uint64_t start)
{
	size_t whole;
	int rc;

	if (!l->scan.row_open)
		whole = size;
	else if (l->scan.record_start >= start)
		whole = (size_t)(l->scan.record_start - start);
	else
		whole = 0; /* the record in progress goes on */
	if (whole > 0) {
		if ((rc = pcf_load_send(l, l->ckpt.tail, l->ckpt.tail_len)) != 0 ||
		    (rc = pcf_load_send(l, buf, whole)) != 0)
			return rc;
		l->ckpt.tail_len = 0;
	}
	return tail_append(l, buf + whole, size - whole);
}

/* COPY's end-of-data marker on line `line`: the server would end the data
 * there, dropping the rest, so the load fails first. */
static int marker_refused(struct pcf_load *l, uint64_t line)
{
	if (l->format == PCF_FMT_TEXT)
		return pcf_load_failf(l, EIO,
				  "line %llu holds \\. right before its line end, "
				  "which ends COPY's data (the rest would be "
				  "dropped): write it as \\\\. if it is a value",
				  (unsigned long long)line);
	return pcf_load_failf(l, EIO,
			  "line %llu holds only \\., which ends COPY's data "
			  "(the rest would be dropped): quote it as \"\\.\" "
			  "if it is a value",
			  (unsigned long long)line);
}

int pcf_load_marker_refused(struct pcf_load *l, uint64_t line)
{
	return marker_refused(l, line);
}

int pcf_load_record_too_long(struct pcf_load *l, uint64_t line)
{
	return pcf_load_failf(l, EFBIG,
			  "line %llu is longer than %llu bytes (-o max_record=)",
			  (unsigned long long)line,
			  (unsigned long long)l->fs->opts.max_record_bytes);
}

static int load_start_copy(struct pcf_load *l, int complete)
{
	const struct pcf_options *o = &l->fs->opts;
	const char *data = l->head ? l->head : "";
	size_t len = l->head_len;
	char **fields = NULL, **cols = NULL;
	size_t nfields = 0, ncols = 0, *match = NULL;
	int take = 0, rc = 0, staged = 0; /* staged: the binary stage took it */
	struct pcf_error e;
	char *sql = NULL;

	/* A UTF-8 byte order mark (spreadsheet exports) is not data; in a
	 * LATIN1 file the same three bytes are text. */
	if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0 &&
	    file_is_utf8(l)) {
		data += 3;
		len -= 3;
	}
	/* The transaction begins now, with the COPY right after it. */
	if (l->backend_pid <= 0 && (l->backend_pid = pcf_begin(l->conn, &e)) < 0)
		return load_fail(l, &e);
	/* The first line may be COPY's end-of-data marker too (in the text
	 * format, a \. anywhere before its line end: the scanner saw it). */
	if ((len >= 3 && data[0] == '\\' && data[1] == '.' &&
	     (data[2] == '\n' || data[2] == '\r')) ||
	    l->scan.end_marker == 1)
		return marker_refused(l, 1);
	if (o->header_mode != PCF_HEADER_FALSE && complete) {
		enum pcf_header_verdict v;
		const char *bad;

		char *utf8 = NULL;
		size_t ulen = len;

		if (pcf_load_table_columns(l, &cols, &ncols, &e) != 0)
			return load_fail(l, &e);
		/* Column names come in the connection's encoding: a header in
		 * another one (-o encoding=LATIN1) is compared after the
		 * server converts it, as COPY will convert the data. */
		if (o->encoding && !is_utf8_name(o->encoding) &&
		    (utf8 = server_convert(l, data, len, o->encoding)) != NULL)
			ulen = strlen(utf8);
		if ((l->format == PCF_FMT_TEXT
			     ? pcf_split_text_record('\t', utf8 ? utf8 : data, ulen,
						     &fields, &nfields)
			     : pcf_split_record(o->dialect, utf8 ? utf8 : data,
						ulen, &fields, &nfields)) != 0) {
			fields = NULL;
			nfields = 0;
		}
		free(utf8);
		match = nfields ? calloc(nfields, sizeof(*match)) : NULL;
		v = pcf_header_match(fields, nfields, cols, ncols, match, &bad);
		if (v == PCF_HEADER_MATCH && match) {
			take = 1;
			/* COPY's column list names the columns as the table
			 * spells them, not as the header did. */
			for (size_t i = 0; i < nfields; i++) {
				char *name = strdup(cols[match[i]]);

				if (!name) {
					take = 0;
					rc = pcf_load_failf(l, ENOMEM, "out of memory");
					break;
				}
				free(fields[i]);
				fields[i] = name;
			}
		} else if (v == PCF_HEADER_REPEATED) {
			rc = pcf_load_failf(l, EIO,
					"line 1: the header names column \"%s\" "
					"twice",
					bad);
		} else if (v == PCF_HEADER_AMBIGUOUS) {
			rc = pcf_load_failf(l, EIO,
					"line 1: the header's \"%s\" names more "
					"than one column of %s (they differ only "
					"in case): spell it as the column is",
					bad, l->label);
		} else if (o->header_mode == PCF_HEADER_TRUE) {
			rc = pcf_load_failf(l, EIO,
					"line 1: the header names \"%s\", which "
					"is not a column of %s (-o header=true)",
					bad ? bad : "", l->label);
		} else if (bad) {
			/* Data, then: said with the server's error, should
			 * line 1 be what it refuses. */
			snprintf(l->header_note, sizeof(l->header_note),
				 "line 1 was taken as data, not as a header: "
				 "\"%.100s\" names no column of %s",
				 bad, l->label);
		}
		free(match);
	} else if (o->header_mode == PCF_HEADER_TRUE) {
		rc = pcf_load_failf(l, EIO,
				"line 1: no header: the first line is longer "
				"than %u bytes (-o header=true)",
				HEAD_MAX);
	}
	if (rc == 0 && l->replace && pcf_load_truncate(l, &e) != 0)
		rc = load_fail(l, &e);
	else if (rc == 0 && l->replace)
		l->tx_truncated = 1;
	if (rc == 0 && complete) {
		/* -o convert=auto: the binary stage runs the COPYs from here,
		 * the first record included. */
		l->header_taken = take;
		atomic_store(&l->state, PCF_LOAD_COPYING);
		rc = pcf_convert_start(l, take ? fields : NULL,
				       take ? nfields : 0, data, len, take);
		if (rc == 1)
			staged = 1, rc = 0;
	} else if (rc == 0) {
		snprintf(l->convert_why, sizeof(l->convert_why),
			 "the first line is longer than %u bytes", HEAD_MAX);
	}
	if (rc == 0 && !staged) {
		sql = copy_sql(l, take ? fields : NULL, take ? nfields : 0, take,
			       l->tx_truncated);
		if (!sql)
			rc = pcf_load_failf(l, ENOMEM, "out of memory");
	}
	if (rc == 0 && l->ckpt.on && !staged) {
		/* The same columns for every later transaction; the header and
		 * FREEZE (after the first transaction's TRUNCATE) once. */
		l->ckpt.copy_sql = copy_sql(l, take ? fields : NULL,
					    take ? nfields : 0, 0, 0);
		if (!l->ckpt.copy_sql)
			rc = pcf_load_failf(l, ENOMEM, "out of memory");
	}
	if (l->ckpt.on)
		clock_gettime(CLOCK_MONOTONIC, &l->ckpt.last);
	pcf_fields_free(fields, nfields);
	pcf_fields_free(cols, ncols);
	if (rc) {
		free(sql);
		return rc;
	}
	if (staged)
		goto head_sent;
	rc = pcf_copy_start(l->conn, sql, &e);
	free(sql);
	if (rc)
		return load_fail(l, &e);
	l->header_taken = take;
	atomic_store(&l->state, PCF_LOAD_COPYING);
	if (len > 0 && l->ckpt.on && !complete) {
		/* A first line longer than the header wait: the record goes on,
		 * and a COPY under checkpoints holds only whole rows. */
		if ((rc = tail_append(l, data, len)) != 0)
			return rc;
	} else if (take && l->format == PCF_FMT_TEXT) {
		/* The text format's header is not sent (a server before 15
		 * takes no HEADER with it): the server's line 1 is the file's
		 * line 2. */
		l->line_base = 1;
		l->skip_lf = l->scan.pending_cr;
	} else if (len > 0 && (rc = pcf_load_send(l, data, len)) != 0) {
		return rc;
	}
head_sent:
	free(l->head);
	l->head = NULL;
	l->head_len = l->head_cap = 0;
	return 0;
}

void pcf_load_publish_rows(struct pcf_load *l)
{
	uint64_t rows = l->scan.rows;

	if (l->header_taken && rows > 0)
		rows--;
	atomic_store(&l->rows, rows);
	atomic_store(&l->file_rows, rows);
}

/*
 * What a chunk just scanned may not hold: COPY's end-of-data marker (the
 * server would end the data there, dropping the rest, or refuse it), or a
 * record longer than -o max_record (the server's message would quote it
 * whole). Checked before the chunk is sent. 0, or the load failed.
 */
static int scanned_ok(struct pcf_load *l)
{
	uint64_t len = l->scan.bytes - l->scan.record_start;

	if (l->scan.end_marker)
		return marker_refused(l, l->scan.end_marker);
	if (len > l->fs->opts.max_record_bytes)
		return pcf_load_failf(l, EFBIG,
				  "line %llu is longer than %llu bytes "
				  "(-o max_record=)",
				  (unsigned long long)l->scan.rows + 1,
				  (unsigned long long)l->fs->opts.max_record_bytes);
	return 0;
}

static int head_append(struct pcf_load *l, const char *buf, size_t size)
{
	return pcf_load_buf_append(l, &l->head, &l->head_len, &l->head_cap, buf, size);
}

/*
 * Once a second while streaming: has the server already refused this COPY
 * (a bad row)? Then end it now, so the writer learns at its next write, not
 * after streaming the rest of a big file. The server's error, with its
 * line, comes back from ending the COPY.
 */
static int load_check_server(struct pcf_load *l)
{
	struct timespec now;
	struct pcf_error e;
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!l->checked.tv_sec) {
		l->checked = now;
		return 0;
	}
	ms = (now.tv_sec - l->checked.tv_sec) * 1000 +
	     (now.tv_nsec - l->checked.tv_nsec) / 1000000;
	if (ms < CHECK_EVERY_MS)
		return 0;
	l->checked = now;
	if (l->conv && !pcf_convert_copying(l->conv))
		return 0; /* between two COPYs of the binary stage */
	if (!pcf_catalog_backend_failed(&l->fs->catalog, l->backend_pid))
		return 0;
	pcf_copy_refused(l->conn, &e);
	return load_fail(l, &e);
}

/* A checkpoint is due: rows whole since the last one, for long enough. */
static int checkpoint_due(struct pcf_load *l)
{
	return l->ckpt.on && pcf_load_state(l) == PCF_LOAD_COPYING &&
	       atomic_load(&l->file_rows) > atomic_load(&l->ckpt.base_rows) &&
	       pcf_ms_since(&l->ckpt.last) >= l->fs->opts.checkpoint_ms;
}

/*
 * A checkpoint (-o checkpoint): ends the COPY, which holds whole rows only
 * (the record in progress is in ckpt.tail), commits them, and begins the
 * next transaction with its COPY. Needs the lock, the load COPYING. 0 or
 * -errno: the load failed, its earlier checkpoints stay committed.
 */
static int load_checkpoint(struct pcf_load *l)
{
	int pending_cr = l->scan.pending_cr;
	uint64_t loaded = 0;
	struct pcf_error e;
	int rc;

	if (l->conv) {
		if ((rc = pcf_convert_pause(l)) != 0)
			return rc;
	} else if (pcf_copy_end(l->conn, NULL, &loaded, &e) != 0) {
		return load_fail(l, &e);
	}
	loaded += l->seg_rows;
	l->seg_rows = 0;
	if (pcf_tx_prepare_commit(l->conn, l->xid, sizeof(l->xid), &e) != 0)
		return load_fail(l, &e);
	atomic_store(&l->rows, loaded);
	rc = pcf_tx_commit(l->conn, &l->fs->opts, l->xid, &e);
	l->tx_truncated = 0;
	l->xid[0] = '\0';
	if (rc == -EREMOTEIO)
		return load_fail_as(l, &e, "unknown");
	if (rc != 0)
		return load_fail(l, &e);
	atomic_fetch_add(&l->ckpt.committed, loaded);
	atomic_store(&l->ckpt.base_rows, atomic_load(&l->file_rows));
	atomic_fetch_add(&l->ckpt.count, 1);
	atomic_store(&l->ckpt.last_wall, (int64_t)time(NULL));
	clock_gettime(CLOCK_MONOTONIC, &l->ckpt.last);
	/* Every line the server has seen: the header and the records. */
	l->line_base = l->format == PCF_FMT_JSONL ? l->jlines : l->scan.rows;
	l->skip_lf = pending_cr;
	pcf_status_record(l, "checkpoint");
	if ((l->backend_pid = pcf_begin(l->conn, &e)) < 0)
		return load_fail(l, &e);
	if (l->conv)
		return pcf_convert_resume(l);
	if (pcf_copy_start(l->conn, l->ckpt.copy_sql, &e) != 0)
		return load_fail(l, &e);
	l->checked = (struct timespec){ 0 };
	return 0;
}

static int load_feed(struct pcf_load *l, const char *buf, size_t size)
{
	int rc;

	if (l->format == PCF_FMT_JSONL)
		return pcf_load_jsonl_feed(l, buf, size);

	if (pcf_load_state(l) == PCF_LOAD_WAITING) {
		ssize_t n = pcf_scan_record(&l->scan, buf, size);
		size_t take = n == PCF_SCAN_PARTIAL ? size : (size_t)n;

		if ((rc = head_append(l, buf, take)) != 0)
			return rc;
		if (n == PCF_SCAN_PARTIAL && l->head_len <= HEAD_MAX)
			return 0;
		if ((rc = load_start_copy(l, n != PCF_SCAN_PARTIAL)) != 0)
			return rc;
		buf += take;
		size -= take;
	}
	if (size > 0 && l->conv) {
		if ((rc = pcf_convert_feed(l, buf, size)) != 0)
			return rc;
	} else if (size > 0) {
		uint64_t start = l->scan.bytes;

		pcf_scan_chunk(&l->scan, buf, size);
		pcf_load_publish_rows(l);
		if ((rc = scanned_ok(l)) != 0)
			return rc;
		if (l->ckpt.on) {
			if ((rc = ckpt_feed(l, buf, size, start)) != 0)
				return rc;
		} else if ((rc = pcf_load_send(l, buf, size)) != 0) {
			return rc;
		}
	}
	pcf_load_publish_rows(l);
	return pcf_load_after_write(l);
}

int pcf_load_after_write(struct pcf_load *l)
{
	int rc;

	if (checkpoint_due(l) && (rc = load_checkpoint(l)) != 0)
		return rc;
	return load_check_server(l);
}

static int inflated(void *ctx, const char *buf, size_t len)
{
	return load_feed(ctx, buf, len);
}

/* A decompression failure (or the stream's end, finish) as the load's. */
static int inflate_result(struct pcf_load *l, int rc, const char *why)
{
	if (rc == 0 || pcf_load_state(l) == PCF_LOAD_FAILED)
		return rc;
	if (rc == -ENOMEM)
		return pcf_load_failf(l, ENOMEM, "out of memory");
	return pcf_load_failf(l, -rc, "%s: nothing committed", why);
}

/* One write's bytes, through the decompression stage into load_feed. */
static int load_input(struct pcf_load *l, const char *buf, size_t size)
{
	char why[200] = "";

	return inflate_result(l, pcf_inflate_feed(l->inflate, buf, size,
						  inflated, l, why, sizeof(why)),
			      why);
}

/* The stream's end at the decompression stage: held bytes pass on, and a
 * compressed stream that stopped inside a member or frame fails. */
static int load_input_end(struct pcf_load *l)
{
	char why[200] = "";

	return inflate_result(l, pcf_inflate_finish(l->inflate, inflated, l, why,
						    sizeof(why)),
			      why);
}

/* Remembers who writes, for the close rule and the status files. */
static void note_writer(struct pcf_load *l, pid_t tid)
{
	pid_t tgid = pcf_task_tgid(tid);
	int known = pcf_pidset_add(l->writers, &l->nwriters, PCF_MAX_WRITERS,
				   tgid);
	int held;

	l->last_tid = tid;
	/* Re-read even for the opener's pid: the shell that opened for
	 * "cat > file" has exec'd cat by the first write. */
	if (!known && tgid > 0) {
		char cmd[sizeof(l->writer_cmd)];

		pcf_task_cmdline(tgid, cmd, sizeof(cmd));
		pcf_registry_set_writer(l, tgid, cmd);
	}
	/* A reference to this open file, taken from the task blocked in this
	 * very write; without one, the old anchors. */
	held = pcf_openfile_note_writer(&l->file, tid, tgid);
	if (held < 0)
		pcf_debug("load %llu of %s: no reference to the open file (%s): "
			  "holders told by path\n",
			  (unsigned long long)l->id, l->label, strerror(-held));
	if (held <= 0 && tgid > 0)
		pcf_registry_note_writer(l, tgid);
}


static int wrote(const struct pcf_load *l, pid_t tgid)
{
	if (l->nwriters == PCF_MAX_WRITERS)
		return 1; /* lost count: assume it did */
	for (int i = 0; i < l->nwriters; i++)
		if (l->writers[i] == tgid)
			return 1;
	return 0;
}

/*
 * For a call on a load that is no longer running: 1 with *rc its answer
 * (a failed load's errno; done for a committed, empty or closing one), or
 * 0 when the load runs on. A truncate(2) of the path seen since fails it
 * here.
 */
static int load_over(struct pcf_load *l, int done, int *rc)
{
	switch (pcf_load_state(l)) {
	case PCF_LOAD_FAILED:
		*rc = -l->error.err;
		return 1;
	case PCF_LOAD_COMMITTED:
	case PCF_LOAD_EMPTY:
	case PCF_LOAD_CLOSING:
		*rc = done;
		return 1;
	}
	if (atomic_load(&l->size_changed)) {
		*rc = pcf_load_failf(l, EINVAL,
				 "the file was truncated during the load");
		return 1;
	}
	return 0;
}

/* Reads the closing task tid for the commit rule. */
static void read_closer(struct pcf_load *l, pid_t tid, struct pcf_closer *c,
			struct pcf_task *task)
{
	memset(c, 0, sizeof(*c));
	if (tid <= 0 || pcf_task_read(tid, task) != 0) {
		memset(task, 0, sizeof(*task));
		return;
	}
	c->known = 1;
	c->exiting = task->exiting;
	c->exit_code = task->exit_code;
	c->killed = task->killed;
	c->wrote = wrote(l, task->tgid);
}

/* Fails the load because its writer failed: "the writer (pid N) <how><why>". */
static int load_writer_failed(struct pcf_load *l, pid_t pid, int status,
			      int killed, const char *why)
{
	char how[128];

	pcf_status_describe(status, killed, how, sizeof(how));
	return pcf_load_failf(l, ECANCELED, "the writer (pid %d) %s%s", (int)pid,
			  how, why);
}

/* 1 when the task was killed or exits non-zero (a closer that dies while
 * the server finishes the COPY), with the load failed. */
static int closer_died(struct pcf_load *l, pid_t tid, int *rc)
{
	struct pcf_task task;

	if (tid <= 0 || pcf_task_read(tid, &task) != 0 ||
	    !pcf_task_failed(&task))
		return 0;
	*rc = load_writer_failed(l, task.tgid, task.exit_code, task.killed,
				 " while closing: rolled back");
	return 1;
}

int pcf_load_write(struct pcf_load *l, const char *buf, size_t size,
		   off_t off, pid_t tid)
{
	int rc;

	if ((rc = load_lock(l)) != 0)
		return rc;
	if (pcf_load_state(l) == PCF_LOAD_CLOSING) {
		/* A holder the close rule did not see: the COPY has ended, so
		 * these bytes cannot go in, and the load is not whole. */
		rc = pcf_load_failf(l, EIO,
				"a write came after the last close (by pid %d): "
				"nothing committed",
				(int)pcf_task_tgid(tid));
		goto out;
	}
	if (load_over(l, -EIO, &rc)) {
		if (pcf_load_state(l) != PCF_LOAD_FAILED)
			pcf_err("load %llu of %s: a write after the commit was "
				"refused; open the file again to load more\n",
				(unsigned long long)l->id, l->label);
		goto out;
	}
	if (!l->off_known) {
		l->next_off = off; /* O_APPEND starts at whatever size is cached */
		l->off_known = 1;
	}
	if (off != l->next_off) {
		rc = pcf_load_failf(l, EINVAL,
				"write at byte %lld, but the next byte is %lld: "
				"a table file takes its bytes in order",
				(long long)off, l->next_off);
		goto out;
	}
	if (tid != l->last_tid)
		note_writer(l, tid);
	atomic_fetch_add(&l->bytes, size);
	if (size > 0 && (rc = load_input(l, buf, size)) != 0)
		goto out;
	l->next_off += (long long)size;
	rc = (int)size;
out:
	pthread_mutex_unlock(&l->lock);
	return rc;
}

/*
 * Ends the COPY (the server checks every row now), checks the row count,
 * and the deferred constraints: everything that can refuse the data
 * happens here, so that the close reports it. 0 or -errno (failed).
 */
static int load_end_copy(struct pcf_load *l)
{
	uint64_t loaded = 0, expected;
	struct pcf_error e;
	int rc;

	if ((rc = load_input_end(l)) != 0)
		return rc;
	if (l->format == PCF_FMT_JSONL) {
		if ((rc = pcf_load_jsonl_end(l)) != 0)
			return rc;
	} else if (pcf_load_state(l) == PCF_LOAD_WAITING &&
		   (rc = load_start_copy(l, 1)) != 0) {
		return rc;
	}
	if (l->conv && (rc = pcf_convert_finish(l)) != 0)
		return rc;
	pcf_scan_finish(&l->scan); /* an unterminated quote: the server says */
	pcf_load_publish_rows(l);
	expected = atomic_load(&l->rows);
	if (l->header_taken && expected == 0 && !l->scan.in_quote)
		return pcf_load_failf(l, EIO,
				  "line 1: a header line and no rows after it");
	/* Under checkpoints, the last record (no line end after it, or an
	 * open quote the server will refuse) was held back. */
	if (l->ckpt.on && l->ckpt.tail_len) {
		if ((rc = pcf_load_send(l, l->ckpt.tail, l->ckpt.tail_len)) != 0)
			return rc;
		l->ckpt.tail_len = 0;
	}
	if (!l->conv && pcf_copy_end(l->conn, NULL, &loaded, &e) != 0)
		return load_fail(l, &e);
	loaded += l->seg_rows;
	l->seg_rows = 0;
	/* The server's count may be lower than the file's: a BEFORE INSERT
	 * trigger that returns NULL (routing, de-duplication) keeps a row out,
	 * as with psql \copy. History shows both; the end-of-data marker that
	 * would drop rows silently is refused by the scanner instead. */
	atomic_store(&l->rows, loaded);
	if (pcf_tx_prepare_commit(l->conn, l->xid, sizeof(l->xid), &e) != 0)
		return load_fail(l, &e);
	return 0;
}

/*
 * A COMMIT the server refused, for a table whose rows went to foreign
 * servers: postgres_fdw commits one remote transaction after another, so
 * when there are several (or the count is unknown) some may have committed
 * before one failed. That is not "nothing committed": the outcome is
 * unknown, and history keeps the rows the server took.
 */
static int load_commit_refused(struct pcf_load *l, struct pcf_error *e)
{
	int servers = pcf_tx_foreign_servers(l->conn, l->table.schema,
					      l->table.name);
	struct pcf_error d;

	/* None, or one remote transaction: it failed, or nothing did. */
	if (servers == 0 || servers == 1)
		return load_fail(l, e);
	pcf_error_set(&d, EREMOTEIO,
		      "COMMIT failed after rows went to %s foreign servers "
		      "(postgres_fdw commits them one after another): some "
		      "may have committed: %s",
		      servers > 1 ? "several" : "possibly several", e->message);
	memcpy(d.sqlstate, e->sqlstate, sizeof(d.sqlstate));
	return load_fail_as(l, &d, "unknown");
}

/* COMMIT of a load whose COPY has ended. 0 or -errno. */
static int load_commit_tx(struct pcf_load *l)
{
	struct pcf_error e;
	int rc = pcf_tx_commit(l->conn, &l->fs->opts, l->xid, &e);

	if (rc == -EREMOTEIO)
		return load_fail_as(l, &e, "unknown");
	if (rc != 0 && e.sqlstate[0] && PQstatus(l->conn) == CONNECTION_OK)
		return load_commit_refused(l, &e);
	if (rc != 0)
		return load_fail(l, &e);
	atomic_store(&l->state, PCF_LOAD_COMMITTED);
	load_disconnect(l);
	pcf_registry_drop_anchors(l);
	pcf_openfile_drop(&l->file);
	pcf_status_record(l, "committed");
	return 0;
}

/*
 * Ends the COPY and commits. tid is the closing task (0 at release): if it
 * dies while the server finishes, the transaction is rolled back instead.
 */
static int load_commit(struct pcf_load *l, pid_t tid)
{
	int rc;

	if ((rc = load_end_copy(l)) != 0)
		return rc;
	if (closer_died(l, tid, &rc))
		return rc;
	return load_commit_tx(l);
}

/* A watched closer ended, or close_wait ran out (watch.c's thread).
 * Non-zero when the COMMIT failed: the closer must not exit 0. */
static int on_closer_exit(void *ctx, enum pcf_exit_kind kind, int status)
{
	struct pcf_load *l = ctx;
	const char *why;
	int rc = 0;

	pthread_mutex_lock(&l->lock);
	if (pcf_load_state(l) == PCF_LOAD_CLOSING) {
		if (pcf_exit_decide(kind, status, &why) == PCF_EXIT_ROLLBACK) {
			load_writer_failed(l, l->watched, status, 0, why);
		} else {
			pcf_debug("load %llu of %s: pid %d %s: committing\n",
				  (unsigned long long)l->id, l->label,
				  (int)l->watched, why);
			rc = load_commit_tx(l);
		}
	}
	pthread_mutex_unlock(&l->lock);
	load_put(l);
	return rc;
}

/* Another descriptor of this open file is still open somewhere. */
static int other_holders(struct pcf_load *l)
{
	if (l->file.ref >= 0)
		return pcf_openfile_held(&l->file);
	return pcf_registry_still_held(l);
}

/* What the commit rule is told about a close by task tid (0: none, as at
 * RELEASE). */
static void close_facts(struct pcf_load *l, pid_t tid,
			struct pcf_close_facts *f, struct pcf_task *task)
{
	memset(f, 0, sizeof(*f));
	f->bytes = atomic_load(&l->bytes);
	read_closer(l, tid, &f->closer, task);
	if (f->closer.known)
		pcf_openfile_note_closer(&l->file, task->tgid);
	f->sealed = l->sealed;
	f->commit_fsync = l->fs->opts.commit_mode == PCF_COMMIT_FSYNC;
	f->close_wait_ms = l->fs->opts.close_wait_ms;
}

/* A failed close whose closer is followed to its exit. */
struct failed_close {
	pid_t tgid;
	uint64_t next_id; /* loads from here on started after the failure */
	char table[300];
	int in_flight;    /* a retry waits for the same exit to commit */
};

/* Called with the closer held at its exit: the load it closed failed, so
 * it must not exit 0, unless it loaded that table again since, and that
 * committed (a program that retries a deadlock or a serialization
 * failure, as it should). */
static void find_retry_in_flight(struct pcf_load *l, void *ctx)
{
	struct failed_close *fc = ctx;

	if (l->id >= fc->next_id && l->writer_pid == fc->tgid &&
	    pcf_load_state(l) == PCF_LOAD_CLOSING && strcmp(l->label, fc->table) == 0)
		fc->in_flight = 1;
}

static int on_failed_closer_exit(void *ctx, enum pcf_exit_kind kind,
				 int status)
{
	struct failed_close *fc = ctx;
	int retried;

	/* A retry that waits for this same exit to commit is decided with
	 * it, after this: at an exit(0) it commits, and should its COMMIT
	 * fail, its own decision makes the exit 1. */
	fc->in_flight = 0;
	pcf_registry_each(find_retry_in_flight, fc);
	retried = fc->in_flight ||
		  pcf_status_committed_since(fc->tgid, fc->table, fc->next_id);

	(void)kind;
	(void)status;
	free(fc);
	return retried ? 0 : -EIO;
}

/*
 * The close by live process tgid failed the load: it was told,
 * but many programs never look (sqlite3's .once, a C program's unchecked
 * fclose, LibreOffice's copy after a failed rename). So it is followed to
 * its exit, if that comes within close_wait, and its exit(0) becomes
 * exit status 1: "if the writer exits 0, every row is committed" holds for
 * them too, but for one that loaded the table again after the failure and
 * saw that commit (a retry). Best effort: untraceable, it is left alone.
 */
static void fail_closer_exit(struct pcf_load *l, pid_t tgid)
{
	struct failed_close *fc;

	if (tgid <= 0 || tgid == getpid() || !(fc = calloc(1, sizeof(*fc))))
		return;
	fc->tgid = tgid;
	fc->next_id = atomic_load(&next_load_id);
	snprintf(fc->table, sizeof(fc->table), "%s", l->label);
	if (pcf_watch_exit(tgid, l->fs->opts.close_wait_ms,
			   on_failed_closer_exit, fc) != 0)
		free(fc);
}

/* Carries out the rule's verdict on a close by task tid. 0 or -errno. */
static int load_act(struct pcf_load *l, const struct pcf_close_facts *f,
		    const struct pcf_task *task, pid_t tid)
{
	const char *why;
	int rc = 0;

	switch (pcf_close_decide(f, &why)) {
	case PCF_CLOSE_NOTHING:
	case PCF_CLOSE_NOT_LAST:
		break;
	case PCF_CLOSE_ROLLBACK:
		rc = load_writer_failed(l, task->tgid, task->exit_code,
					task->killed, why);
		break;
	case PCF_CLOSE_UNSEALED:
		rc = pcf_load_failf(l, ECANCELED,
				"%llu bytes came after the last fsync(): "
				"nothing committed (-o commit=fsync)",
				(unsigned long long)(f->bytes - f->sealed));
		break;
	case PCF_CLOSE_COMMIT:
		rc = load_commit(l, tid);
		if (rc < 0 && task->tgid > 0 && !task->exiting && !task->killed)
			fail_closer_exit(l, task->tgid);
		break;
	case PCF_CLOSE_WATCH:
		if ((rc = load_end_copy(l)) != 0) {
			if (!task->exiting && !task->killed)
				fail_closer_exit(l, task->tgid);
			break;
		}
		if (closer_died(l, tid, &rc))
			break;
		atomic_store(&l->state, PCF_LOAD_CLOSING);
		/* The last close is found: no holder to look for any more, and
		 * an unmount need not wait for the reference. */
		pcf_openfile_drop(&l->file);
		l->watched = task->tgid;
		atomic_fetch_add(&l->refs, 1);
		rc = pcf_watch_exit(task->tgid, f->close_wait_ms, on_closer_exit,
				    l);
		if (rc != 0) {
			/* Not traceable (already traced, no privilege): the
			 * rule of the close alone. */
			atomic_fetch_sub(&l->refs, 1);
			pcf_warn("load %llu of %s: cannot follow pid %d to "
				 "its exit (%s): committed at the close\n",
				 (unsigned long long)l->id, l->label,
				 (int)task->tgid, strerror(-rc));
			rc = load_commit_tx(l);
		}
		break;
	}
	return rc;
}

int pcf_load_flush(struct pcf_load *l, pid_t tid)
{
	struct pcf_close_facts f;
	struct pcf_task task;
	int rc = 0;

	if ((rc = load_lock(l)) != 0)
		return rc;
	if (load_over(l, 0, &rc) || atomic_load(&l->bytes) == 0)
		goto out; /* no data: the shell's early close, dd's dup2, touch */
	close_facts(l, tid, &f, &task);
	/* Who else holds it matters only if this closer did not fail. */
	if (!(f.closer.known && pcf_task_failed(&task) && f.closer.wrote))
		f.other_holders = other_holders(l);
	rc = load_act(l, &f, &task, tid);
out:
	pthread_mutex_unlock(&l->lock);
	return rc;
}

/*
 * The checkpointer: a writer that has gone quiet makes no write to
 * checkpoint from, so every CHECKPOINTER_TICK_MS this thread checkpoints
 * the loads that are due, taking a load's lock only if it is free (a load
 * whose lock is held is in a write, which checks for itself).
 */
#define CHECKPOINTER_TICK_MS 200
#define CHECKPOINTER_BATCH 256
static struct {
	pthread_t thread;
	int running;
	int stop;             /* m */
	pthread_mutex_t m;
	pthread_cond_t cond;
} ckpter = { .m = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

struct due_loads {
	struct pcf_load *l[CHECKPOINTER_BATCH];
	int n;
};

/* Under the registry lock: the loads that look due, each held. */
static void collect_due(struct pcf_load *l, void *ctx)
{
	struct due_loads *d = ctx;

	if (d->n < CHECKPOINTER_BATCH && checkpoint_due(l)) {
		atomic_fetch_add(&l->refs, 1);
		d->l[d->n++] = l;
	}
}

static void *checkpointer_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&ckpter.m);
	while (!ckpter.stop) {
		struct timespec until = pcf_clock_in(CLOCK_REALTIME,
						     CHECKPOINTER_TICK_MS);
		struct due_loads d = { .n = 0 };

		pthread_cond_timedwait(&ckpter.cond, &ckpter.m, &until);
		if (ckpter.stop)
			break;
		pthread_mutex_unlock(&ckpter.m);
		pcf_registry_each(collect_due, &d);
		for (int i = 0; i < d.n; i++) {
			struct pcf_load *l = d.l[i];

			if (pthread_mutex_trylock(&l->lock) == 0) {
				if (checkpoint_due(l))
					(void)load_checkpoint(l);
				pthread_mutex_unlock(&l->lock);
			}
			load_put(l);
		}
		pthread_mutex_lock(&ckpter.m);
	}
	pthread_mutex_unlock(&ckpter.m);
	return NULL;
}

int pcf_checkpointer_start(void)
{
	if (pthread_create(&ckpter.thread, NULL, checkpointer_main, NULL) != 0)
		return -1;
	ckpter.running = 1;
	return 0;
}

void pcf_checkpointer_stop(void)
{
	if (!ckpter.running)
		return;
	pthread_mutex_lock(&ckpter.m);
	ckpter.stop = 1;
	pthread_cond_signal(&ckpter.cond);
	pthread_mutex_unlock(&ckpter.m);
	pthread_join(ckpter.thread, NULL);
	ckpter.running = 0;
}

void pcf_load_ref(struct pcf_load *l)
{
	atomic_fetch_add(&l->refs, 1);
}

void pcf_load_unref(struct pcf_load *l)
{
	load_put(l);
}

int pcf_load_settled(struct pcf_load *l)
{
	int st = pcf_load_state(l);

	return st == PCF_LOAD_COMMITTED || st == PCF_LOAD_FAILED ||
	       st == PCF_LOAD_EMPTY;
}

int pcf_load_settle(struct pcf_load *l, int commit, pid_t tid)
{
	int rc = 0;

	(void)tid;
	if ((rc = load_lock(l)) != 0)
		return rc;
	switch (pcf_load_state(l)) {
	case PCF_LOAD_CLOSING:
		/* The watch finds it decided when the closer exits. */
		if (commit)
			rc = load_commit_tx(l);
		else
			rc = pcf_load_failf(l, ECANCELED,
					"the file was removed before its "
					"commit: nothing committed");
		break;
	case PCF_LOAD_FAILED:
		rc = -l->error.err;
		break;
	default:
		break; /* committed, empty, or still open */
	}
	pthread_mutex_unlock(&l->lock);
	return rc;
}

/* The spool is read in pieces of this size: memory stays flat. */
#define FROM_FD_CHUNK (1 << 20)

int pcf_load_from_fd(struct pcf_load *l, int fd, pid_t tid)
{
	char *buf = malloc(FROM_FD_CHUNK);
	off_t off = 0;
	int rc = 0;

	if (!buf)
		return pcf_load_refuse(l, ENOMEM, "out of memory");
	/* A file that is all there loads whole, in one transaction, even
	 * under -o checkpoint: the rename's outcome is all or nothing. */
	l->ckpt.on = 0;
	for (;;) {
		ssize_t n = pread(fd, buf, FROM_FD_CHUNK, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = pcf_load_refuse(l, EIO, "the staged file could "
					     "not be read from the spool");
			break;
		}
		if (n == 0)
			break;
		/* tid 0: no writer to follow, the renamer decides below. */
		rc = pcf_load_write(l, buf, (size_t)n, off, 0);
		if (rc < 0)
			break;
		off += n;
		rc = 0;
	}
	free(buf);
	if (rc < 0)
		return rc;
	if ((rc = load_lock(l)) != 0)
		return rc;
	if (load_over(l, 0, &rc))
		goto out;
	if (atomic_load(&l->bytes) == 0) {
		atomic_store(&l->state, PCF_LOAD_EMPTY);
		pcf_status_record(l, "empty");
		goto out;
	}
	rc = load_commit(l, tid);
out:
	pthread_mutex_unlock(&l->lock);
	/* A failed rename is not followed to the renamer's exit (as a failed
	 * close is): its error is hard to miss, and the tools that get it
	 * report it their own way (rsync's receiver exits 0, its parent 23). */
	return rc;
}

int pcf_load_fsync(struct pcf_load *l)
{
	int rc = 0;

	if ((rc = load_lock(l)) != 0)
		return rc;
	if (pcf_load_state(l) == PCF_LOAD_FAILED)
		rc = -l->error.err;
	else if (l->ckpt.on && pcf_load_state(l) == PCF_LOAD_COPYING &&
		 atomic_load(&l->file_rows) > atomic_load(&l->ckpt.base_rows))
		rc = load_checkpoint(l); /* returns after the COMMIT */
	else
		l->sealed = atomic_load(&l->bytes);
	pthread_mutex_unlock(&l->lock);
	return rc;
}

int pcf_load_refuse(struct pcf_load *l, int err, const char *reason)
{
	int rc;

	pthread_mutex_lock(&l->lock);
	if (!load_over(l, -err, &rc))
		rc = pcf_load_failf(l, err, "%s", reason);
	pthread_mutex_unlock(&l->lock);
	return rc;
}

void pcf_load_abandon(struct pcf_load *l, const char *why)
{
	struct timespec until;

	/* A worker cancelled at unmount while it waited on the server keeps
	 * the lock for ever: then the server rolls back when the process
	 * exits and its connections close. */
	static struct timespec deadline; /* one second for all of them */

	if (!deadline.tv_sec)
		deadline = pcf_clock_in(CLOCK_REALTIME, 1000);
	until = deadline;
	if (pthread_mutex_timedlock(&l->lock, &until) != 0) {
		pcf_warn("load %llu of %s: busy at unmount: rolled back by the "
			 "server when the daemon exits\n",
			 (unsigned long long)l->id, l->label);
		return;
	}
	if (pcf_load_state(l) == PCF_LOAD_WAITING ||
	    pcf_load_state(l) == PCF_LOAD_COPYING ||
	    pcf_load_state(l) == PCF_LOAD_CLOSING)
		pcf_load_failf(l, ECONNABORTED, "%s", why);
	pthread_mutex_unlock(&l->lock);
	load_free(l);
}

void pcf_load_release(struct pcf_load *l)
{
	struct pcf_close_facts f;
	struct pcf_task task;

	pthread_mutex_lock(&l->lock);
	switch (pcf_load_state(l)) {
	case PCF_LOAD_WAITING:
	case PCF_LOAD_COPYING:
		if (atomic_load(&l->bytes) == 0) {
			atomic_store(&l->state, PCF_LOAD_EMPTY);
			pcf_status_record(l, "empty");
			break;
		}
		/* No close looked like the last one (a holder we could not
		 * tell apart): nobody holds it now, so the rule decides here,
		 * without a closer to follow. */
		pcf_warn("load %llu of %s: finished at release, after the "
			 "writer's last close\n",
			 (unsigned long long)l->id, l->label);
		close_facts(l, 0, &f, &task);
		load_act(l, &f, &task, 0);
		break;
	default:
		break; /* decided, or CLOSING: the watch decides */
	}
	pthread_mutex_unlock(&l->lock);
	load_put(l);
}

/* Only loads that have written: a file that has taken no byte has no size
 * to change (an open that only truncates, another writer not started). */
static void mark_size_changed(struct pcf_load *l, void *ctx)
{
	if (strcmp(l->path, (const char *)ctx) == 0 &&
	    atomic_load(&l->bytes) > 0)
		atomic_store(&l->size_changed, 1);
}

void pcf_loads_size_changed(const char *path)
{
	pcf_registry_each(mark_size_changed, (void *)path);
}
