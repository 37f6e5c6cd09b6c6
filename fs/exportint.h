/*
 * exportint.h - what the three parts of a table read share (export.h is
 * the rest of the daemon's way in):
 *
 *   export.c      open (connect, BEGIN, COPY TO), the spooled open, close
 *   exportrows.c  the COPY's output as pieces: rows, or compressed rows
 *   exportpump.c  a streamed open's thread: the pieces into the ring, the
 *                 queued reads answered from it
 */
#ifndef PCF_EXPORTINT_H
#define PCF_EXPORTINT_H

#include "export.h"
#include "paths.h"

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>
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

/* exportrows.c: the compressor of a .gz or .zst name (0 or -ENOMEM), and
 * its end. */
int pcf_export_comp_init(struct pcf_export *x);
void pcf_export_comp_free(struct pcf_export *x);

/* Fails the stream for good with err (logged with why, once): -x->err. */
ssize_t pcf_export_failed(struct pcf_export *x, int err, const char *why);

/* Waits up to POLL_MS for the server's socket (and wake_fd when >= 0):
 * 1 when one is ready, 0 when the time ran out, or -errno. */
int pcf_export_wait_server(struct pcf_export *x, int wake_fd);

/*
 * The next piece of the stream into x->row: 1, 0 at the end, or -errno.
 * With wait it waits for the server in slices, asking intr between them
 * (-EINTR); without, -EAGAIN when nothing has arrived.
 */
int pcf_export_next_piece(struct pcf_export *x, int wait,
			  pcf_export_interrupted intr, void *ctx);

/* export.c: fn(arg) on a detached thread: 1, or 0 when none could be made. */
int pcf_run_detached(void *(*fn)(void *), void *arg);

/* export.c: the export's end: the connection closed (after a cancel when
 * cancel), its slot in the connection budget given back, x freed. */
void pcf_export_end(struct pcf_export *x, int cancel);

/* exportpump.c: starts x's pump (0, or -EAGAIN: no thread); queues a read
 * for it (pcf_export_reply's streamed half); tells it the file was
 * released (it then ends x). */
int pcf_pump_start(struct pcf_export *x);
int pcf_pump_queue(struct pcf_export *x, size_t size, uint64_t off,
		   pcf_export_interrupted intr, void *ctx,
		   pcf_export_replier reply, void *rctx);
void pcf_pump_stop(struct pcf_export *x);

#endif
