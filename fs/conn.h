/*
 * conn.h - libpq connections and what their errors mean to a writer.
 */
#ifndef PCF_CONN_H
#define PCF_CONN_H

#include "options.h"

#include <libpq-fe.h>

/* What went wrong, for the writer (err) and for the human (message). */
struct pcf_error {
	int err;          /* positive errno */
	char sqlstate[6]; /* "" when the server gave none */
	int needs_password; /* a connect the server refused for want of one */
	char message[1024];
};

/*
 * Opens a connection with the user's CONNINFO and pgcopyfs's defaults
 * (fallback_application_name=pgcopyfs, connect_timeout). Returns the
 * connection, or NULL with e filled in (err, and libpq's message).
 */
PGconn *pcf_connect(const struct pcf_options *o, struct pcf_error *e);
/* The same, named app in pg_stat_activity unless CONNINFO names one: the
 * daemon's own connections are "pgcopyfs catalog", a load's "pgcopyfs". */
PGconn *pcf_connect_as(const struct pcf_options *o, const char *app,
		       struct pcf_error *e);

/* The same on a thread of its own, given up (EINTR, the connect left to
 * finish and be closed there) as soon as stop(ctx) says so: polled every
 * 50 ms, so a killed opener is let go within that. */
PGconn *pcf_connect_stoppable(const struct pcf_options *o, const char *app,
			      int (*stop)(void *), void *ctx,
			      struct pcf_error *e);

/*
 * A load's socket holds this much unsent COPY data. The server is the
 * bottleneck, and every refill goes writer -> kernel -> daemon -> socket;
 * with the default ~200 KB the server often drained the socket before the
 * next write arrived, and sat idle (2M wide rows: 12.9 s with the default,
 * 6.4 s with 4 MiB, psql \copy 6.3 to 8.0 s in the same run). Kernel
 * memory, not the daemon's.
 */
#define PCF_SEND_BUFFER (4 << 20)

/*
 * TCP defaults for every connection, unless CONNINFO sets them: a path
 * that stalls while a load waits for an answer is given up on after
 * idle + interval * count = 25 s of silence (keepalives); one that stalls
 * while data is unacknowledged, after 20 s (TCP_USER_TIMEOUT). The load
 * then fails with ETIMEDOUT. README "What never hangs" states the bounds.
 */
#define PCF_KEEPALIVE_IDLE_S 10
#define PCF_KEEPALIVE_INTERVAL_S 5
#define PCF_KEEPALIVE_COUNT 3
#define PCF_TCP_USER_TIMEOUT_MS 20000
/*
 * Descriptors: a load holds PCF_FDS_PER_LOAD (its socket, and the copy
 * load.c keeps to end a wait); PCF_FD_RESERVE stay for the daemon itself
 * (/proc, the keeper's references, connects, the catalog). A load that
 * would cross the line fails its open with EMFILE and says so, rather than
 * the daemon failing everywhere at the limit.
 */
#define PCF_FDS_PER_LOAD 2
#define PCF_FD_RESERVE 100
void pcf_conn_budget_init(void);          /* after setting the limit */
int pcf_conn_budget_take(struct pcf_error *e); /* 0 or -EMFILE */
void pcf_conn_budget_give(void);

#define PCF_XSTR_(x) #x
#define PCF_STR(x) PCF_XSTR_(x)
void pcf_conn_widen_send_buffer(PGconn *c);

/*
 * Fills e from a failed result (r may be NULL: then the connection's own
 * error is used). The message is one line: the server's message, then its
 * DETAIL, HINT and CONTEXT (where COPY names the line and column).
 */
void pcf_error_from_result(struct pcf_error *e, PGconn *c, const PGresult *r);

/* Fills e with our own words, printf style. */
void pcf_error_set(struct pcf_error *e, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The errno a writer sees for a server SQLSTATE (README: "Errors"). */
int pcf_errno_for_sqlstate(const char *sqlstate);

/* BEGIN, and the pid of the server process the transaction runs in (> 0),
 * or -errno. */
int pcf_begin(PGconn *c, struct pcf_error *e);

/* Runs a command that returns no rows; 0 or -errno with e filled in. */
int pcf_exec(PGconn *c, const char *sql, struct pcf_error *e);

#endif
