/*
 * export.c - a table file read: COPY ... TO STDOUT streamed to the reader
 * (export.h). The open connects, begins the snapshot and starts the COPY
 * on the opener's thread, waiting in slices and stopping when the reader
 * is killed; a streamed open then hands the connection to its pump
 * (exportpump.c), which answers the reads; a spooled open takes the whole
 * output into a spool file first, and its reads pread it on the reader's
 * thread. The pieces of the output come from exportrows.c.
 */
#include "exportint.h"

#include "fs.h"
#include "log.h"
#include "sql.h"
#include "staged.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>


/* The COPY TO for the file's format (sql.c quotes every name and value). */
static char *export_sql(PGconn *c, const struct pcf_options *o,
			const struct pcf_table_info *t, enum pcf_format f)
{
	if (f == PCF_FMT_JSONL) {
		/* row_to_json escapes every control character: no line end
		 * or quote CSV would act on, with these two never in JSON. */
		struct pcf_sql q;

		pcf_sql_init(&q, c);
		pcf_sql_plain(&q, "COPY (SELECT pg_catalog.row_to_json(x) FROM ");
		pcf_sql_relation(&q, t->schema, t->name);
		pcf_sql_plain(&q, " x) TO STDOUT (FORMAT csv, QUOTE E'\\x01', "
				  "DELIMITER E'\\x02', ENCODING 'UTF8')");
		return pcf_sql_take(&q);
	}
	struct pcf_copy_spec sp = {
		.schema = t->schema, .table = t->name, .to_stdout = 1,
		.format = f == PCF_FMT_TEXT ? PCF_COPY_TEXT : PCF_COPY_CSV,
		/* HEADER with the text format: servers from 15 on. */
		.header = f != PCF_FMT_TEXT || PQserverVersion(c) >= 150000,
		.null_string = o->null_string, .encoding = o->encoding,
	};

	if (f != PCF_FMT_TEXT) {
		sp.delimiter = o->dialect.delimiter;
		sp.quote = o->dialect.quote;
		sp.escape = o->dialect.escape;
	}
	return pcf_copy_sql(c, &sp);
}

/*
 * Sends sql and waits for its results in slices of POLL_MS, asking between
 * them whether the reader is being killed. Returns the last result (the
 * COPY_OUT one for a COPY, which ends the wait), or NULL with e filled in
 * (EINTR when stopped).
 */
static PGresult *run_stoppable(PGconn *c, const char *sql,
			       pcf_export_interrupted intr, void *ctx,
			       struct pcf_error *e)
{
	PGresult *last = NULL, *r;

	if (!PQsendQuery(c, sql)) {
		pcf_error_from_result(e, c, NULL);
		return NULL;
	}
	for (;;) {
		/* Non-blocking: the query may not be all sent yet. */
		int unsent = PQflush(c);

		if (unsent < 0) {
			PQclear(last);
			pcf_error_from_result(e, c, NULL);
			return NULL;
		}
		while (!unsent && !PQisBusy(c)) {
			if (!(r = PQgetResult(c)))
				return last; /* every result in */
			if (last && PQresultStatus(last) != PGRES_COMMAND_OK) {
				PQclear(r); /* the first failure is the one */
				continue;
			}
			PQclear(last);
			last = r;
			if (PQresultStatus(r) == PGRES_COPY_OUT)
				return r;
		}
		struct pollfd p = { .fd = PQsocket(c),
				    .events = POLLIN | (unsent ? POLLOUT : 0) };

		if (intr && intr(ctx)) {
			PQclear(last);
			pcf_error_set(e, EINTR, "the reader was killed");
			return NULL;
		}
		if ((poll(&p, 1, POLL_MS) < 0 && errno != EINTR) ||
		    (p.revents && !PQconsumeInput(c))) {
			PQclear(last);
			pcf_error_from_result(e, c, NULL);
			return NULL;
		}
	}
}

static void cancel_and_finish(PGconn *c, int cancel)
{
	if (cancel && PQstatus(c) == CONNECTION_OK) {
		PGcancel *k = PQgetCancel(c);
		char err[256];

		if (k) {
			PQcancel(k, err, sizeof(err));
			PQfreeCancel(k);
		}
	}
	PQsetnonblocking(c, 1); /* a stalled path: the goodbye is not waited for */
	PQfinish(c);
}

int pcf_run_detached(void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	pthread_t t;
	int started;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	started = pthread_create(&t, &attr, fn, arg) == 0;
	pthread_attr_destroy(&attr);
	return started;
}

static void *abandon_main(void *arg)
{
	cancel_and_finish(arg, 1);
	return NULL;
}

/* Closes c; a cancel first when cancel, on a thread of its own (a cancel
 * request is a connect of its own, which a stalled server holds). */
static void conn_abandon(PGconn *c, int cancel)
{
	if (!cancel || !pcf_run_detached(abandon_main, c))
		cancel_and_finish(c, cancel);
}

/* Frees what x holds (its connection closed already) and x. */
static void export_free(struct pcf_export *x)
{
	if (x->row && x->from_libpq)
		PQfreemem(x->row);
	if (x->spool_fd >= 0)
		close(x->spool_fd);
	if (x->wake_fd >= 0)
		close(x->wake_fd);
	pcf_export_comp_free(x);
	pthread_mutex_destroy(&x->lock);
	free(x->win);
	free(x);
}

static int spool_all(struct pcf_export *x, pcf_export_interrupted intr,
		     void *ctx, struct pcf_error *e);

/* The connection's part of the open: BEGIN, then the COPY TO running. */
static int start_copy(struct pcf_export *x, struct pcf_fs *fs,
		      const struct pcf_table_info *t, enum pcf_format format,
		      pcf_export_interrupted intr, void *ctx, struct pcf_error *e)
{
	PGresult *r;
	char *sql;
	int ok;

	if (!(x->conn = pcf_connect_stoppable(&fs->opts, "pgcopyfs read", intr,
					      ctx, e)))
		return -1;
	PQsetnonblocking(x->conn, 1);
	/* A big table's scan would join another one's under way (and the
	 * rows come from the middle): a file reads from its start. */
	r = run_stoppable(x->conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; "
				   "SET LOCAL synchronize_seqscans = off",
			  intr, ctx, e);
	if ((ok = r && PQresultStatus(r) == PGRES_COMMAND_OK)) {
		PQclear(r);
		if (!(sql = export_sql(x->conn, &fs->opts, t, format))) {
			pcf_error_set(e, ENOMEM, "out of memory");
			return -1;
		}
		r = run_stoppable(x->conn, sql, intr, ctx, e);
		free(sql);
		ok = r && PQresultStatus(r) == PGRES_COPY_OUT;
	}
	if (!ok && r)
		pcf_error_from_result(e, x->conn, r);
	PQclear(r);
	return ok ? 0 : -1;
}

int pcf_export_open(struct pcf_fs *fs, const struct pcf_table_info *t,
		    const char *path, int spool, pcf_export_interrupted intr,
		    void *ctx, struct pcf_export **out, struct pcf_error *e)
{
	const char *base = strrchr(path, '/');
	struct pcf_name_format nf;
	struct pcf_export *x;

	pcf_name_format(base ? base + 1 : path, &nf);
	if (!(x = calloc(1, sizeof(*x)))) {
		pcf_error_set(e, ENOMEM, "out of memory");
		return -ENOMEM;
	}
	pthread_mutex_init(&x->lock, NULL);
	x->spool_fd = x->wake_fd = -1;
	x->tail = &x->head;
	x->comp = nf.comp;
	snprintf(x->label, sizeof(x->label), "%s.%s", t->schema, t->name);
	if (!(x->win = malloc(spool ? SPOOL_CHUNK : RING)) ||
	    (x->comp != PCF_COMP_DETECT && pcf_export_comp_init(x) != 0) ||
	    (!spool && (x->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)) {
		export_free(x);
		pcf_error_set(e, ENOMEM, "out of memory");
		return -ENOMEM;
	}
	if (pcf_conn_budget_take(e) != 0) {
		export_free(x);
		return -e->err;
	}
	if (start_copy(x, fs, t, nf.format, intr, ctx, e) != 0 ||
	    (spool && spool_all(x, intr, ctx, e) != 0))
		goto fail;
	if (!spool && pcf_pump_start(x) != 0) {
		pcf_error_set(e, EAGAIN, "no thread for the read of %s", x->label);
		goto fail;
	}
	if (spool) {
		/* The export is whole in the spool: its connection is done,
		 * and a reader that pauses (or a spool kept for tar's open,
		 * statspool.h) holds no server slot. */
		cancel_and_finish(x->conn, 0);
		x->conn = NULL;
		pcf_conn_budget_give();
	}
	*out = x;
	return 0;
fail:
	if (x->conn)
		/* A query still running (a lock wait) is cancelled: a backend
		 * waiting on a lock would not see the connection close. */
		conn_abandon(x->conn, PQtransactionStatus(x->conn) == PQTRANS_ACTIVE);
	pcf_conn_budget_give();
	export_free(x);
	return -e->err;
}

/* Writes the chunk's first n bytes to the spool: 0 or -errno. */
static int spool_write(struct pcf_export *x, size_t n, struct pcf_error *e)
{
	size_t done = 0;

	while (done < n) {
		ssize_t w = write(x->spool_fd, x->win + done, n - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			int rc = -errno;

			pcf_error_set(e, -rc, "spooling the read of %s: %s",
				      x->label, strerror(-rc));
			return rc;
		}
		done += (size_t)w;
	}
	return 0;
}

/*
 * A spooled open: the export to its end into an anonymous spool file,
 * so that the open file's size is known before its first read (rsync
 * copies st_size bytes). Waits as a read does; 0, or -errno with e filled
 * in (ENOSPC: the spool's disk is full).
 */
static int spool_all(struct pcf_export *x, pcf_export_interrupted intr,
		     void *ctx, struct pcf_error *e)
{
	size_t held = 0; /* bytes gathered in win, not yet written */
	int rc;

	if ((x->spool_fd = pcf_spool_file()) < 0) {
		rc = x->spool_fd;
		x->spool_fd = -1;
		pcf_error_set(e, -rc, "cannot make a spool file for the read: %s",
			      strerror(-rc));
		return rc;
	}
	/* Rows are gathered in win and written SPOOL_CHUNK at a time. */
	while ((rc = pcf_export_next_piece(x, 1, intr, ctx)) == 1) {
		size_t off = 0;

		while (off < x->row_len) {
			size_t n = x->row_len - off;

			if (n > SPOOL_CHUNK - held)
				n = SPOOL_CHUNK - held;
			memcpy(x->win + held, x->row + off, n);
			held += n;
			off += n;
			if (held == SPOOL_CHUNK) {
				if ((rc = spool_write(x, held, e)) != 0)
					return rc;
				held = 0;
			}
		}
		x->size += x->row_len;
		if (x->from_libpq)
			PQfreemem(x->row);
		x->row = NULL;
	}
	if (rc < 0) {
		pcf_error_set(e, -rc, rc == -EINTR ? "the reader was killed"
						   : "the read of %s failed (the log says why)",
			      x->label);
		return rc;
	}
	return spool_write(x, held, e);
}

int64_t pcf_export_size(const struct pcf_export *x)
{
	return x->spool_fd >= 0 ? (int64_t)x->size : -1;
}

int pcf_export_reply(struct pcf_export *x, size_t size, off_t off,
		     pcf_export_interrupted intr, void *ctx,
		     pcf_export_replier reply, void *rctx)
{
	if (off < 0)
		return -EINVAL;
	if (size > REPLY_MAX)
		size = REPLY_MAX; /* a short read: the rest comes next */
	if (x->spool_fd >= 0) {
		/* Spooled whole: any offset, through win as scratch (reads of
		 * one file are one at a time here: the lock). */
		ssize_t n;
		struct iovec iov;

		if (size > SPOOL_CHUNK)
			size = SPOOL_CHUNK;
		pthread_mutex_lock(&x->lock);
		if ((n = pread(x->spool_fd, x->win, size, off)) < 0) {
			int err = errno;

			pthread_mutex_unlock(&x->lock);
			return -err;
		}
		iov = (struct iovec){ x->win, (size_t)n };
		reply(rctx, 0, &iov, 1);
		pthread_mutex_unlock(&x->lock);
		return 0;
	}
	return pcf_pump_queue(x, size, (uint64_t)off, intr, ctx, reply, rctx);
}

ssize_t pcf_export_spool_read(struct pcf_export *x, void *buf, size_t n,
			      off_t off)
{
	ssize_t r;

	if (x->spool_fd < 0)
		return -EINVAL;
	r = pread(x->spool_fd, buf, n, off);
	return r < 0 ? -errno : r;
}

void pcf_export_end(struct pcf_export *x, int cancel)
{
	cancel_and_finish(x->conn, cancel);
	pcf_conn_budget_give();
	export_free(x);
}

void pcf_export_close(struct pcf_export *x)
{
	if (!x)
		return;
	/* A spooled export's connection ended with its open. */
	if (x->spool_fd >= 0)
		export_free(x);
	else
		pcf_pump_stop(x);
}
