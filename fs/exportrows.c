/*
 * exportrows.c - the COPY's output as the pieces a table read gives out
 * (exportint.h): each row buffer libpq hands over (PQgetCopyData), or,
 * for a .gz or .zst name, those rows through the compressor, a cbuf at a
 * time. Without waiting (the pump) or waiting in slices (the spooled
 * open, on the opener's thread).
 */
#include "exportint.h"

#include "log.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

/* gzip -6 or zstd -3: what the tools default to. */
int pcf_export_comp_init(struct pcf_export *x)
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

void pcf_export_comp_free(struct pcf_export *x)
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

ssize_t pcf_export_failed(struct pcf_export *x, int err, const char *why)
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
				return (int)pcf_export_failed(x, e.err ? e.err : EIO, e.message);
			x->done = 1;
			return 0;
		}
		if (n == -2)
			return (int)pcf_export_failed(x, EIO, PQerrorMessage(x->conn));
		if (tried)
			return -EAGAIN;
		if (!PQconsumeInput(x->conn))
			return (int)pcf_export_failed(x, EIO, PQerrorMessage(x->conn));
	}
}

/* Waits up to POLL_MS for the server's socket (and wake_fd when >= 0):
 * 1 when one is ready, 0 when the time ran out, or -errno when the wait
 * failed. */
int pcf_export_wait_server(struct pcf_export *x, int wake_fd)
{
	struct pollfd p[2] = { { .fd = PQsocket(x->conn), .events = POLLIN },
			       { .fd = wake_fd, .events = POLLIN } };
	int n = poll(p, wake_fd >= 0 ? 2 : 1, POLL_MS);

	if (n < 0 && errno != EINTR)
		return (int)pcf_export_failed(x, EIO, strerror(errno));
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
		if ((rc = pcf_export_wait_server(x, -1)) < 0)
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
int pcf_export_next_piece(struct pcf_export *x, int wait,
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
				return (int)pcf_export_failed(x, EIO, "the compressor failed");
			if (rc == 0)
				break;
			if (len == x->cbuf_cap) {
				/* Full: what is left of this row waits in a
				 * bigger buffer rather than being lost. */
				char *nb = realloc(x->cbuf, 2 * x->cbuf_cap);

				if (!nb)
					return (int)pcf_export_failed(x, ENOMEM,
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
