/*
 * export.c - a table file read: COPY ... TO STDOUT streamed to the reader
 * (export.h).
 *
 * The COPY's output arrives as libpq buffers, one row each; a read takes
 * bytes from the buffer in hand and asks for the next while it has room.
 * Every byte given out passes through a ring, the window (WINDOW bytes),
 * and the reply points into it: one copy in the daemon, and the last bytes
 * stay there for a reader that seeks back a little (less, tail); a reader
 * further back gets ESPIPE, never wrong bytes. A read waits for the server
 * in slices of POLL_MS, asking between them whether the reader was killed.
 */
#include "export.h"

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
#include <sys/uio.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define WINDOW (1u << 20)
#define POLL_MS 100
#define CBUF (128u << 10) /* a compressed piece handed out at a time */

struct pcf_export {
	pthread_mutex_t lock; /* one read at a time */
	PGconn *conn;
	char label[600];     /* schema.table, for the log */
	int done;            /* the COPY's output ended */
	int err;             /* once failed: every later read's errno */
	uint64_t pos;        /* stream offset of the next byte not yet read */
	char *row;           /* the libpq buffer in hand */
	size_t row_len, row_off;
	int from_libpq;      /* row is libpq's (PQfreemem), not cbuf */
	/* .gz, .zst: rows go through the compressor into cbuf, and the
	 * reader gets cbuf's bytes. */
	enum pcf_compression comp;
	z_stream zs;
	int zs_ready;
	ZSTD_CCtx *zc;
	char *cbuf;
	size_t cbuf_cap;
	int comp_done;       /* the compressed stream's end was written */
	char *win;           /* the last bytes given out, a ring */
	size_t win_len;      /* bytes of it valid: [pos - win_len, pos) */
	/* A spooled open: the whole output, spooled at open; reads come
	 * from it at any offset. */
	int spool_fd;        /* -1: streamed */
	uint64_t size;       /* its length */
};

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

/* gzip -6 or zstd -3: what the tools default to. */
static int compressor_init(struct pcf_export *x)
{
	if (!(x->cbuf = malloc(CBUF)))
		return -ENOMEM;
	x->cbuf_cap = CBUF;
	if (x->comp == PCF_COMP_GZIP) {
		if (deflateInit2(&x->zs, 6, Z_DEFLATED, 15 + 16, 8,
				 Z_DEFAULT_STRATEGY) != Z_OK)
			return -ENOMEM;
		x->zs_ready = 1;
		return 0;
	}
	if (!(x->zc = ZSTD_createCCtx()) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(x->zc, ZSTD_c_compressionLevel, 3)))
		return -ENOMEM;
	return 0;
}

static void compressor_free(struct pcf_export *x)
{
	if (x->zs_ready)
		deflateEnd(&x->zs);
	x->zs_ready = 0;
	ZSTD_freeCCtx(x->zc);
	x->zc = NULL;
	free(x->cbuf);
	x->cbuf = NULL;
}

/* Compresses in[0..n) (end: and ends the stream) into cbuf after *len.
 * 1 when cbuf is full (call again with what is left: *used says how much
 * of in was taken), 0 when all of in was taken, -1 on error. */
static int compress_some(struct pcf_export *x, const char *in, size_t n,
			 int end, size_t *used, size_t *len)
{
	if (x->comp == PCF_COMP_GZIP) {
		int zr;

		x->zs.next_in = (unsigned char *)in;
		x->zs.avail_in = (uInt)n;
		x->zs.next_out = (unsigned char *)x->cbuf + *len;
		x->zs.avail_out = (uInt)(x->cbuf_cap - *len);
		zr = deflate(&x->zs, end ? Z_FINISH : Z_NO_FLUSH);
		*used = n - x->zs.avail_in;
		*len = x->cbuf_cap - x->zs.avail_out;
		if (zr == Z_STREAM_ERROR)
			return -1;
		if (end)
			return zr == Z_STREAM_END ? 0 : 1;
		return x->zs.avail_out == 0 ? 1 : 0;
	}
	ZSTD_inBuffer ib = { in, n, 0 };
	ZSTD_outBuffer ob = { x->cbuf, x->cbuf_cap, *len };
	size_t r = ZSTD_compressStream2(x->zc, &ob, &ib,
					end ? ZSTD_e_end : ZSTD_e_continue);

	*used = ib.pos;
	*len = ob.pos;
	if (ZSTD_isError(r))
		return -1;
	if (end)
		return r == 0 ? 0 : 1;
	return ib.pos < ib.size || ob.pos == ob.size ? 1 : 0;
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

/* Runs fn(arg) on a detached thread of its own: 1, or 0 when no thread
 * could be made (the caller then runs it itself). */
static int run_detached(void *(*fn)(void *), void *arg)
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
	if (!cancel || !run_detached(abandon_main, c))
		cancel_and_finish(c, cancel);
}

static int spool_all(struct pcf_export *x, pcf_export_interrupted intr,
		     void *ctx, struct pcf_error *e);

int pcf_export_open(struct pcf_fs *fs, const struct pcf_table_info *t,
		    const char *path, int spool, pcf_export_interrupted intr,
		    void *ctx, struct pcf_export **out, struct pcf_error *e)
{
	const char *base = strrchr(path, '/');
	struct pcf_name_format nf;
	struct pcf_export *x;
	PGresult *r;
	char *sql;

	pcf_name_format(base ? base + 1 : path, &nf);
	if (!(x = calloc(1, sizeof(*x))) || !(x->win = malloc(WINDOW))) {
		free(x);
		pcf_error_set(e, ENOMEM, "out of memory");
		return -ENOMEM;
	}
	x->comp = nf.comp;
	if (x->comp != PCF_COMP_DETECT && compressor_init(x) != 0) {
		compressor_free(x);
		free(x->win);
		free(x);
		pcf_error_set(e, ENOMEM, "out of memory");
		return -ENOMEM;
	}
	pthread_mutex_init(&x->lock, NULL);
	x->spool_fd = -1;
	snprintf(x->label, sizeof(x->label), "%s.%s", t->schema, t->name);
	if (pcf_conn_budget_take(e) != 0) {
		pthread_mutex_destroy(&x->lock);
		compressor_free(x);
		free(x->win);
		free(x);
		return -e->err;
	}
	if (!(x->conn = pcf_connect_stoppable(&fs->opts, "pgcopyfs read", intr,
					      ctx, e)))
		goto fail;
	PQsetnonblocking(x->conn, 1);
	/* A big table's scan would join another one's under way (and the
	 * rows come from the middle): a file reads from its start. */
	r = run_stoppable(x->conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; "
				   "SET LOCAL synchronize_seqscans = off",
			  intr, ctx, e);
	if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) {
		if (r)
			pcf_error_from_result(e, x->conn, r);
		PQclear(r);
		goto fail;
	}
	PQclear(r);
	if (!(sql = export_sql(x->conn, &fs->opts, t, nf.format))) {
		pcf_error_set(e, ENOMEM, "out of memory");
		goto fail;
	}
	r = run_stoppable(x->conn, sql, intr, ctx, e);
	free(sql);
	if (!r || PQresultStatus(r) != PGRES_COPY_OUT) {
		if (r)
			pcf_error_from_result(e, x->conn, r);
		PQclear(r);
		goto fail;
	}
	PQclear(r);
	if (spool && spool_all(x, intr, ctx, e) != 0)
		goto fail;
	*out = x;
	return 0;
fail:
	if (x->spool_fd >= 0)
		close(x->spool_fd);
	if (x->row && x->from_libpq)
		PQfreemem(x->row);
	if (x->conn)
		/* A query still running (a lock wait) is cancelled: a backend
		 * waiting on a lock would not see the connection close. */
		conn_abandon(x->conn, PQtransactionStatus(x->conn) == PQTRANS_ACTIVE);
	pcf_conn_budget_give();
	pthread_mutex_destroy(&x->lock);
	compressor_free(x);
	free(x->win);
	free(x);
	return -e->err;
}

/* Puts n bytes at the stream's position pos into the window. */
static void remember(struct pcf_export *x, const char *p, size_t n)
{
	uint64_t start = x->pos; /* p's offset in the stream */

	if (n >= WINDOW) {
		start += n - WINDOW;
		p += n - WINDOW;
		n = WINDOW;
	}
	/* A byte at offset k lives at k % WINDOW. */
	size_t at = (size_t)(start % WINDOW), first = WINDOW - at;

	if (first > n)
		first = n;
	memcpy(x->win + at, p, first);
	memcpy(x->win, p + first, n - first);
	x->win_len = x->win_len + n > WINDOW ? WINDOW : x->win_len + n;
}

static ssize_t failed(struct pcf_export *x, int err, const char *why)
{
	if (!x->err) {
		x->err = err;
		pcf_err("read of %s failed: %s\n", x->label, why);
	}
	return -x->err;
}

/* The next row buffer from the server: 1, 0 at the COPY's end, or -errno. */
static int next_row(struct pcf_export *x, pcf_export_interrupted intr,
		    void *ctx)
{
	for (;;) {
		char *buf = NULL;
		int n = PQgetCopyData(x->conn, &buf, 1);

		if (n > 0) {
			x->row = buf;
			x->row_len = (size_t)n;
			x->row_off = 0;
			x->from_libpq = 1;
			return 1;
		}
		if (n == -1) {
			PGresult *r = PQgetResult(x->conn);
			int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
			struct pcf_error e;

			if (!ok)
				pcf_error_from_result(&e, x->conn, r);
			PQclear(r);
			while ((r = PQgetResult(x->conn)) != NULL)
				PQclear(r);
			if (!ok)
				return (int)failed(x, e.err ? e.err : EIO, e.message);
			x->done = 1;
			return 0;
		}
		if (n == -2)
			return (int)failed(x, EIO, PQerrorMessage(x->conn));
		/* Nothing in hand: wait for the socket, a slice at a time. */
		struct pollfd p = { .fd = PQsocket(x->conn), .events = POLLIN };

		if (intr && intr(ctx))
			return -EINTR;
		if (poll(&p, 1, POLL_MS) < 0 && errno != EINTR)
			return (int)failed(x, EIO, strerror(errno));
		if (p.revents && !PQconsumeInput(x->conn))
			return (int)failed(x, EIO, PQerrorMessage(x->conn));
	}
}

/* The next piece for the reader: a row, or (compressed) a cbuf of the
 * compressed rows. 1, 0 at the end, or -errno. */
static int next_piece(struct pcf_export *x, pcf_export_interrupted intr,
		      void *ctx)
{
	size_t len = 0, used;
	int rc;

	if (x->comp == PCF_COMP_DETECT)
		return next_row(x, intr, ctx);
	if (x->comp_done)
		return 0;
	/* Rows into the compressor until a piece is worth handing out. */
	while (len < x->cbuf_cap / 2) {
		char *row = NULL;
		size_t n = 0, off = 0;

		if (!x->done) {
			if ((rc = next_row(x, intr, ctx)) < 0)
				return rc;
			if (rc == 1) {
				row = x->row;
				n = x->row_len;
			}
		}
		for (;;) {
			rc = compress_some(x, row ? row + off : "", n - off,
					   !row, &used, &len);
			off += used;
			if (rc < 0)
				return (int)failed(x, EIO, "the compressor failed");
			if (rc == 0)
				break;
			if (len == x->cbuf_cap) {
				/* Full: what is left of this row waits in a
				 * bigger buffer rather than being lost. */
				char *nb = realloc(x->cbuf, 2 * x->cbuf_cap);

				if (!nb)
					return (int)failed(x, ENOMEM,
							   "out of memory");
				x->cbuf = nb;
				x->cbuf_cap *= 2;
			}
		}
		if (row) {
			PQfreemem(row);
			x->row = NULL;
		} else {
			x->comp_done = 1;
			break;
		}
	}
	x->row = x->cbuf;
	x->row_len = len;
	x->row_off = 0;
	x->from_libpq = 0;
	return len > 0 ? 1 : 0;
}

/* Writes the window's first n bytes to the spool: 0 or -errno. */
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
	size_t held = 0; /* bytes gathered in the window, not yet written */
	int rc;

	if ((x->spool_fd = pcf_spool_file()) < 0) {
		rc = x->spool_fd;
		x->spool_fd = -1;
		pcf_error_set(e, -rc, "cannot make a spool file for the read: %s",
			      strerror(-rc));
		return rc;
	}
	/* Rows are gathered in the window (unused by a spooled read until
	 * its first read) and written a MiB at a time. */
	while ((rc = next_piece(x, intr, ctx)) == 1) {
		size_t off = 0;

		while (off < x->row_len) {
			size_t n = x->row_len - off;

			if (n > WINDOW - held)
				n = WINDOW - held;
			memcpy(x->win + held, x->row + off, n);
			held += n;
			off += n;
			if (held == WINDOW) {
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

/*
 * Moves up to want bytes of the stream on into the window (the ring every
 * byte given out passes through, once): the count moved (short at the
 * stream's end, or on a failure after some bytes), or -errno.
 */
static ssize_t pull(struct pcf_export *x, uint64_t want,
		    pcf_export_interrupted intr, void *ctx)
{
	uint64_t got = 0;

	while (got < want) {
		size_t n;
		int rc;

		if (x->row && x->row_off == x->row_len) {
			if (x->from_libpq)
				PQfreemem(x->row);
			x->row = NULL;
		}
		if (!x->row) {
			if (x->done && (x->comp == PCF_COMP_DETECT || x->comp_done))
				break;
			if ((rc = next_piece(x, intr, ctx)) < 0)
				return got ? (ssize_t)got : rc;
			if (rc == 0)
				break;
		}
		n = x->row_len - x->row_off;
		if (n > want - got)
			n = (size_t)(want - got);
		remember(x, x->row + x->row_off, n);
		x->row_off += n;
		x->pos += n;
		got += n;
	}
	return (ssize_t)got;
}

static int export_reply(struct pcf_export *x, size_t size, off_t off,
			pcf_export_interrupted intr, void *ctx,
			pcf_export_replier reply, void *rctx)
{
	uint64_t o = (uint64_t)off, end;
	struct iovec iov[2];
	size_t avail, at, first;
	ssize_t n;

	if (size > WINDOW)
		size = WINDOW; /* a short read: the rest comes next */
	if (x->spool_fd >= 0) {
		/* Spooled whole: any offset, through the window as scratch. */
		if ((n = pread(x->spool_fd, x->win, size, off)) < 0)
			return -errno;
		iov[0] = (struct iovec){ x->win, (size_t)n };
		return reply(rctx, iov, 1);
	}
	if (x->err)
		return -x->err;
	if (off < 0)
		return -EINVAL;
	if (o < x->pos && x->pos - o > x->win_len) {
		pcf_warn("read of %s at byte %llu, but only bytes %llu "
			 "to %llu are kept behind the stream: ESPIPE\n",
			 x->label, (unsigned long long)o,
			 (unsigned long long)(x->pos - x->win_len),
			 (unsigned long long)x->pos);
		return -ESPIPE;
	}
	/* A read further on skips to it; the bytes between are not given. */
	while (o > x->pos) {
		if ((n = pull(x, o - x->pos, intr, ctx)) < 0)
			return (int)n;
		if (n == 0)
			return reply(rctx, iov, 0); /* past the end */
	}
	/* [o, pos) is in the window; the stream gives the rest. size is at
	 * most WINDOW, so what it brings never overwrites [o, pos). */
	end = o + size;
	if (end > x->pos && (n = pull(x, end - x->pos, intr, ctx)) < 0 &&
	    o == x->pos)
		return (int)n;
	avail = (size_t)((end < x->pos ? end : x->pos) - o);
	at = (size_t)(o % WINDOW);
	first = WINDOW - at < avail ? WINDOW - at : avail;
	iov[0] = (struct iovec){ x->win + at, first };
	iov[1] = (struct iovec){ x->win, avail - first };
	return reply(rctx, iov, avail > first ? 2 : 1);
}

int pcf_export_reply(struct pcf_export *x, size_t size, off_t off,
		     pcf_export_interrupted intr, void *ctx,
		     pcf_export_replier reply, void *rctx)
{
	int rc;

	pthread_mutex_lock(&x->lock);
	rc = export_reply(x, size, off, intr, ctx, reply, rctx);
	pthread_mutex_unlock(&x->lock);
	return rc;
}

/* The close's work, off the releasing request's thread: a cancel request
 * connects to the server, which may be slow to answer. */
static void *close_main(void *arg)
{
	struct pcf_export *x = arg;

	if (x->row && x->from_libpq)
		PQfreemem(x->row);
	if (x->spool_fd >= 0)
		close(x->spool_fd);
	compressor_free(x);
	/* Read only in part: the server stops now, not when its next send
	 * fails. */
	cancel_and_finish(x->conn, !x->done && !x->err);
	pcf_conn_budget_give();
	pthread_mutex_destroy(&x->lock);
	free(x->win);
	free(x);
	return NULL;
}

void pcf_export_close(struct pcf_export *x)
{
	if (!x)
		return;
	/* Nothing to cancel once done or failed: no thread needed. */
	if (x->done || x->err || !run_detached(close_main, x))
		close_main(x);
}
