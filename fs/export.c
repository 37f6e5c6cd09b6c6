/*
 * export.c - a table file read: COPY ... TO STDOUT streamed to the reader
 * (export.h).
 *
 *   server --COPY rows--> pump thread --ring--> reply (iov into the ring)
 *                          (one per open)  ^
 *   ll_read ---------- pending reads ------'  (queued; answered in turn)
 *
 * The pump owns the connection and the ring. It reads the COPY's output
 * ahead of the reader, up to AHEAD bytes past where the last read ended,
 * so the server goes on sending while the reader is busy with what it was
 * given (cat writing to its pipe); then it waits. A read is queued and
 * answered by the pump, from the ring, as soon as its bytes are there (a
 * full answer unless the stream ended): no FUSE worker waits for the
 * server, and no lock is held across a wait. The ring keeps BEHIND bytes
 * before where the last read ended for a reader that seeks back a little
 * (less, tail); a read further back gets ESPIPE, never wrong bytes. Every
 * byte is copied once in the daemon, into the ring.
 *
 * The pump waits for the server in slices of POLL_MS; at the end of each
 * it answers EINTR to the reads of readers being killed. The close tells
 * the pump (wake_fd), which cancels a COPY not read to its end, closes the
 * connection and frees the export: a cancel is a connect of its own, which
 * a stalled server may hold, so no FUSE thread makes it.
 *
 * A spooled open (export.h) has no pump: the open spools the whole output
 * and reads pread the spool, on the reader's thread.
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
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define BEHIND (1u << 20)    /* kept behind the last read's end */
#define AHEAD (1u << 20)     /* read from the server before it is asked */
#define RING (BEHIND + AHEAD)
#define REPLY_MAX (1u << 20) /* the most one read is answered with */
#define SPOOL_CHUNK (1u << 20) /* written to the spool at a time */
#define POLL_MS 100
#define GATHER_US 200 /* a flowing stream's pause between takes */
#define CBUF (128u << 10) /* a compressed piece handed out at a time */

/* A read waiting for the pump: answered in turn, from the ring. */
struct pending {
	struct pending *next;
	uint64_t off;
	size_t size;
	pcf_export_interrupted intr;
	void *ctx;
	pcf_export_replier reply;
	void *rctx;
};

struct pcf_export {
	PGconn *conn;        /* the pump's alone once open returns */
	char label[600];     /* schema.table, for the log */
	/* The stream: the pump's alone (the open's before the pump starts). */
	int done;            /* the COPY's output ended */
	int err;             /* once failed: every later read's errno */
	uint64_t pos;        /* stream offset of the next byte not yet read */
	uint64_t served;     /* where the last answered read ended */
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
	char *win;           /* the ring: RING bytes */
	size_t win_len;      /* bytes of it valid: [pos - win_len, pos) */
	/* Between the readers and the pump (lock). */
	pthread_mutex_t lock;
	struct pending *head, **tail; /* reads not yet answered, in order */
	int closing;         /* the file was released: the pump ends */
	int wake_fd;         /* an eventfd: a read came, or the close */
	/* A spooled open: the whole output, spooled at open; reads come
	 * from it at any offset, on the reader's thread. */
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

/* Frees what x holds (its connection closed already) and x. */
static void export_free(struct pcf_export *x)
{
	if (x->row && x->from_libpq)
		PQfreemem(x->row);
	if (x->spool_fd >= 0)
		close(x->spool_fd);
	if (x->wake_fd >= 0)
		close(x->wake_fd);
	compressor_free(x);
	pthread_mutex_destroy(&x->lock);
	free(x->win);
	free(x);
}

static int spool_all(struct pcf_export *x, pcf_export_interrupted intr,
		     void *ctx, struct pcf_error *e);
static void *pump_main(void *arg);

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
	    (x->comp != PCF_COMP_DETECT && compressor_init(x) != 0) ||
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
	if (!spool && !run_detached(pump_main, x)) {
		pcf_error_set(e, EAGAIN, "no thread for the read of %s", x->label);
		goto fail;
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

static ssize_t failed(struct pcf_export *x, int err, const char *why)
{
	if (!x->err) {
		x->err = err;
		pcf_err("read of %s failed: %s\n", x->label, why);
	}
	return -x->err;
}

/*
 * The next row buffer from the server, without waiting for one: 1, 0 at
 * the COPY's end, -EAGAIN when none has arrived yet, or -errno. What the
 * socket holds is taken first, so a server ahead of the reader costs no
 * wait.
 */
static int take_row(struct pcf_export *x)
{
	for (int tried = 0;; tried = 1) {
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
		if (tried)
			return -EAGAIN;
		if (!PQconsumeInput(x->conn))
			return (int)failed(x, EIO, PQerrorMessage(x->conn));
	}
}

/* Waits up to POLL_MS for the server's socket (and wake_fd when >= 0):
 * 1 when one is ready, 0 when the time ran out, or -errno when the wait
 * failed. */
static int wait_server(struct pcf_export *x, int wake_fd)
{
	struct pollfd p[2] = { { .fd = PQsocket(x->conn), .events = POLLIN },
			       { .fd = wake_fd, .events = POLLIN } };
	int n = poll(p, wake_fd >= 0 ? 2 : 1, POLL_MS);

	if (n < 0 && errno != EINTR)
		return (int)failed(x, EIO, strerror(errno));
	return n > 0;
}

/* The next row, waiting for it in slices (asking intr between them): 1,
 * 0 at the COPY's end, or -errno. */
static int next_row(struct pcf_export *x, pcf_export_interrupted intr,
		    void *ctx)
{
	int rc;

	while ((rc = take_row(x)) == -EAGAIN) {
		if (intr && intr(ctx))
			return -EINTR;
		if ((rc = wait_server(x, -1)) < 0)
			return rc;
		rc = -EAGAIN;
	}
	return rc;
}

/* The next row, waited for when wait (next_row), else as take_row. */
static int get_row(struct pcf_export *x, int wait, pcf_export_interrupted intr,
		   void *ctx)
{
	return wait ? next_row(x, intr, ctx) : take_row(x);
}

/*
 * The next piece for the reader: a row, or (compressed) a cbuf of the
 * compressed rows. 1, 0 at the end, or -errno; without wait, -EAGAIN when
 * no row has arrived (and what was compressed so far, if anything, is
 * the piece).
 */
static int next_piece(struct pcf_export *x, int wait,
		      pcf_export_interrupted intr, void *ctx)
{
	size_t len = 0, used;
	int rc;

	if (x->comp == PCF_COMP_DETECT)
		return get_row(x, wait, intr, ctx);
	if (x->comp_done)
		return 0;
	/* Rows into the compressor until a piece is worth handing out. */
	while (len < x->cbuf_cap / 2) {
		char *row = NULL;
		size_t n = 0, off = 0;

		if (!x->done) {
			rc = get_row(x, wait, intr, ctx);
			if (rc == -EAGAIN && len > 0)
				break;
			if (rc < 0)
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
	while ((rc = next_piece(x, 1, intr, ctx)) == 1) {
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

/* Puts n bytes at the stream's position pos into the ring. */
static void ring_put(struct pcf_export *x, const char *p, size_t n)
{
	/* A byte at offset k lives at k % RING. */
	size_t at = (size_t)(x->pos % RING), first = RING - at;

	if (first > n)
		first = n;
	memcpy(x->win + at, p, first);
	memcpy(x->win, p + first, n - first);
	x->pos += n;
	x->win_len = x->win_len + n > RING ? RING : x->win_len + n;
}

/*
 * How many bytes the pump may read on into the ring now: what does not
 * overwrite the BEHIND bytes before the last read's end, nor the bytes a
 * queued read at head wants; the whole ring when head is past them all
 * (a read further on skips to it: the bytes between are not given).
 */
static size_t ring_room(const struct pcf_export *x, const struct pending *head)
{
	uint64_t keep = x->served > BEHIND ? x->served - BEHIND : 0;

	if (head && head->off > x->pos)
		return RING; /* the oldest bytes go as the stream moves on */
	if (head && head->off < keep)
		keep = head->off;
	if (keep < x->pos - x->win_len)
		keep = x->pos - x->win_len;
	if (keep >= x->pos)
		return RING;
	return RING - (size_t)(x->pos - keep);
}

/*
 * Reads what the server has sent (and, when head is waiting for bytes,
 * what it sends in the next POLL_MS) into the ring, up to the room there
 * is: the bytes added, 0 when none came, or -errno (x->err set) once the
 * stream failed.
 */
static ssize_t pump_fill(struct pcf_export *x, const struct pending *head)
{
	size_t room = ring_room(x, head), added = 0;
	int rc;

	if (room > REPLY_MAX)
		room = REPLY_MAX; /* then the queue is looked at again */
	while (added < room) {
		size_t n;

		if (!x->row) {
			if (x->done && (x->comp == PCF_COMP_DETECT || x->comp_done))
				break;
			if ((rc = next_piece(x, 0, NULL, NULL)) == -EAGAIN)
				break;
			if (rc < 0)
				return added ? (ssize_t)added : rc;
			if (rc == 0)
				break;
		}
		n = x->row_len - x->row_off;
		if (n > room - added)
			n = room - added;
		ring_put(x, x->row + x->row_off, n);
		x->row_off += n;
		added += n;
		if (x->row_off == x->row_len) {
			if (x->from_libpq)
				PQfreemem(x->row);
			x->row = NULL;
		}
	}
	return (ssize_t)added;
}

/* Whether the stream has nothing more to give. */
static int stream_over(const struct pcf_export *x)
{
	return x->err || (x->done && !x->row &&
			  (x->comp == PCF_COMP_DETECT || x->comp_done));
}

/*
 * Answers r if it can be now: from the ring when its bytes are there (all
 * of them, or what there is once the stream is over), ESPIPE when they
 * are behind the ring, the stream's errno once it failed with none of
 * them. 1 when answered, 0 when r waits for more of the stream.
 */
static int answer(struct pcf_export *x, const struct pending *r)
{
	uint64_t end = r->off + r->size, have;
	struct iovec iov[2];
	size_t avail, at, first;

	if (r->off < x->pos - x->win_len) {
		pcf_warn("read of %s at byte %llu, but only bytes %llu "
			 "to %llu are kept behind the stream: ESPIPE\n",
			 x->label, (unsigned long long)r->off,
			 (unsigned long long)(x->pos - x->win_len),
			 (unsigned long long)x->pos);
		r->reply(r->rctx, ESPIPE, NULL, 0);
		return 1;
	}
	if (end > x->pos && !stream_over(x))
		return 0;
	if (end > x->pos && x->err && r->off >= x->pos) {
		r->reply(r->rctx, x->err, NULL, 0);
		return 1;
	}
	have = end < x->pos ? end : x->pos;
	avail = have > r->off ? (size_t)(have - r->off) : 0;
	at = (size_t)(r->off % RING);
	first = RING - at < avail ? RING - at : avail;
	iov[0] = (struct iovec){ x->win + at, first };
	iov[1] = (struct iovec){ x->win, avail - first };
	r->reply(r->rctx, 0, iov, avail > first ? 2 : 1);
	if (avail)
		x->served = r->off + avail;
	return 1;
}

/* Answers the queued reads that can be, in turn; when killed is set, the
 * reads of readers being killed too (EINTR), wherever they are. Returns
 * the head left waiting, or NULL. */
static struct pending *answer_queue(struct pcf_export *x, int killed)
{
	struct pending **pp = &x->head, *r, *left = NULL;

	pthread_mutex_lock(&x->lock);
	while ((r = *pp)) {
		int done;

		/* The queue is only appended to while it is unlocked, and r
		 * is the pump's to answer and free. */
		pthread_mutex_unlock(&x->lock);
		done = !left && answer(x, r);
		if (!done && killed && r->intr && r->intr(r->ctx)) {
			r->reply(r->rctx, EINTR, NULL, 0);
			done = 1;
		}
		pthread_mutex_lock(&x->lock);
		if (!done) {
			if (!left)
				left = r;
			if (!killed)
				break;
			pp = &r->next;
			continue;
		}
		if (!(*pp = r->next))
			x->tail = pp;
		free(r);
	}
	pthread_mutex_unlock(&x->lock);
	return left;
}

static void drain_wake(struct pcf_export *x)
{
	uint64_t v;

	(void)!read(x->wake_fd, &v, sizeof(v)); /* non-blocking */
}

/* Waits for wake_fd (a read came, or the close), up to POLL_MS when
 * timed, and empties it. */
static void wait_wake(struct pcf_export *x, int timed)
{
	struct pollfd p = { .fd = x->wake_fd, .events = POLLIN };

	if (poll(&p, 1, timed ? POLL_MS : -1) > 0)
		drain_wake(x);
}

static uint64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static void wake(struct pcf_export *x)
{
	uint64_t one = 1;

	(void)!write(x->wake_fd, &one, sizeof(one));
}

/* The pump (the top of the file): the stream into the ring, the queued
 * reads answered from it; at the close, the connection's end. */
static void *pump_main(void *arg)
{
	struct pcf_export *x = arg;
	uint64_t asked = now_ms(); /* when killed readers were last looked for */
	int flowing = 0;           /* the last fill brought bytes */

	for (;;) {
		int killed = now_ms() - asked >= POLL_MS;
		struct pending *head = answer_queue(x, killed);
		int closing;

		if (killed)
			asked = now_ms();
		pthread_mutex_lock(&x->lock);
		closing = x->closing;
		pthread_mutex_unlock(&x->lock);
		if (closing)
			break;
		if (stream_over(x) || !ring_room(x, head)) {
			/* Nothing to read on: the next read, or the close. */
			wait_wake(x, head != NULL);
			continue;
		}
		if (pump_fill(x, head) != 0) {
			flowing = 1;
			continue;
		}
		if (stream_over(x))
			continue;
		if (flowing) {
			/* The server is sending, slower than the pump takes it:
			 * a moment lets its sends gather, so that the pump
			 * wakes once for many of them rather than for each. */
			flowing = 0;
			nanosleep(&(struct timespec){ .tv_nsec = GATHER_US * 1000 }, NULL);
			continue;
		}
		/* Nothing had arrived: wait for the server, or a read. */
		if (wait_server(x, x->wake_fd) > 0)
			drain_wake(x);
	}
	/* Released: no read is queued any more (each was answered before its
	 * file could be released); the COPY, if not read to its end, stops
	 * now rather than when its next send fails. */
	while (x->head) {
		struct pending *r = x->head;

		x->head = r->next;
		r->reply(r->rctx, EIO, NULL, 0);
		free(r);
	}
	cancel_and_finish(x->conn, !x->done && !x->err);
	pcf_conn_budget_give();
	export_free(x);
	return NULL;
}

int pcf_export_reply(struct pcf_export *x, size_t size, off_t off,
		     pcf_export_interrupted intr, void *ctx,
		     pcf_export_replier reply, void *rctx)
{
	struct pending *r;

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
	if (!(r = calloc(1, sizeof(*r))))
		return -ENOMEM;
	*r = (struct pending){ .off = (uint64_t)off, .size = size, .intr = intr,
			       .ctx = ctx, .reply = reply, .rctx = rctx };
	pthread_mutex_lock(&x->lock);
	*x->tail = r;
	x->tail = &r->next;
	pthread_mutex_unlock(&x->lock);
	wake(x);
	return 0;
}

/* A spooled export's close: nothing runs any more, but the connection
 * may still be in its transaction (cancel_and_finish does not wait). */
static void close_spooled(struct pcf_export *x)
{
	cancel_and_finish(x->conn, 0);
	pcf_conn_budget_give();
	export_free(x);
}

void pcf_export_close(struct pcf_export *x)
{
	if (!x)
		return;
	if (x->spool_fd >= 0) {
		close_spooled(x);
		return;
	}
	pthread_mutex_lock(&x->lock);
	x->closing = 1;
	pthread_mutex_unlock(&x->lock);
	wake(x);
}
