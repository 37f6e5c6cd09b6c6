/*
 * copy.c - COPY IN on a libpq connection.
 */
#include "copy.h"

#include "log.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* How much of what the server sent during the COPY is looked at. */
#define PEEK_MAX 16384

int pcf_copy_start(PGconn *c, const char *sql, struct pcf_error *e)
{
	PGresult *r = PQexec(c, sql);
	int ok = PQresultStatus(r) == PGRES_COPY_IN;

	if (!ok)
		pcf_error_from_result(e, c, r);
	PQclear(r);
	return ok ? 0 : -e->err;
}

/*
 * Has the server said anything while we stream? During COPY IN it sends
 * nothing but notices, parameter changes and notifications, unless it
 * refused the COPY: then an ErrorResponse ('E') waits in the socket. libpq
 * reads that into its own buffer and keeps it there, unparsed, until the
 * COPY ends, so the socket is peeked at before libpq reads it. Returns 1
 * for an 'E', -1 for a lost connection (e filled in), 0 otherwise.
 *
 * Over TLS the bytes are ciphertext: then libpq reads (a lost server still
 * shows) and a refusal is found by the once-a-second question in load.c.
 */
static int server_spoke(PGconn *c, struct pcf_error *e)
{
	unsigned char buf[PEEK_MAX];
	ssize_t n, at = 0;
	int notices = 0;

	if (PQsslInUse(c)) {
		if (!PQconsumeInput(c)) {
			pcf_error_from_result(e, c, NULL);
			return -1;
		}
		return 0;
	}
	n = recv(PQsocket(c), buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return 0;
	if (n < 0 && errno == ETIMEDOUT) {
		/* The kernel reports a socket's error once: this peek took it,
		 * and libpq would only see the end of the stream next. */
		pcf_error_set(e, ETIMEDOUT,
			      "the network path to the server timed out "
			      "(TCP keepalives or tcp_user_timeout): the "
			      "connection is lost");
		return -1;
	}
	if (n <= 0) {
		/* EOF or a socket error: let libpq say it in its words. */
		if (!PQconsumeInput(c) || n == 0) {
			pcf_error_from_result(e, c, NULL);
			if (!e->message[0] || PQstatus(c) == CONNECTION_OK)
				pcf_error_set(e, ECONNRESET,
					      "the server closed the connection");
			return -1;
		}
		return 0;
	}
	while (at + 5 <= n) {
		uint32_t len = (uint32_t)buf[at + 1] << 24 |
			       (uint32_t)buf[at + 2] << 16 |
			       (uint32_t)buf[at + 3] << 8 | buf[at + 4];

		if (buf[at] == 'E')
			return 1;
		if (buf[at] != 'N' && buf[at] != 'S' && buf[at] != 'A')
			break; /* not ours to judge: libpq will */
		if (len < 4 || (ssize_t)len + 1 > n - at)
			break; /* longer than the peek */
		at += (ssize_t)len + 1;
		notices++;
	}
	/* Only notices so far: let libpq take them (PQputCopyData parses
	 * them), so the socket does not fill up with them. */
	if (notices || at < n) {
		if (!PQconsumeInput(c)) {
			pcf_error_from_result(e, c, NULL);
			return -1;
		}
	}
	return 0;
}

/*
 * Sends everything libpq holds, waiting here rather than in libpq: the
 * connection is non-blocking during the COPY, so that a socket error is
 * read before libpq's next send takes it (libpq reports a failed send as
 * "server closed the connection", whatever the kernel said), and the
 * server's refusal is peeked at while we wait. A wait ends when the path
 * times out (TCP_USER_TIMEOUT: ETIMEDOUT), the server refuses the COPY,
 * or the socket is shut down (load.c: the writer was killed).
 */
static int flush_all(PGconn *c, struct pcf_error *e)
{
	for (;;) {
		struct pollfd p = { .fd = PQsocket(c), .events = POLLOUT | POLLIN };
		int r = PQflush(c), err = 0;
		socklen_t len = sizeof(err);

		if (r == 0)
			return 0;
		if (r < 0) {
			pcf_error_from_result(e, c, NULL);
			return -e->err;
		}
		if (poll(&p, 1, -1) < 0 && errno != EINTR) {
			pcf_error_set(e, EIO, "poll: %s", strerror(errno));
			return -EIO;
		}
		if ((p.revents & (POLLERR | POLLHUP)) &&
		    getsockopt(p.fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 &&
		    err == ETIMEDOUT) {
			pcf_error_set(e, ETIMEDOUT,
				      "the network path to the server timed out "
				      "(TCP keepalives or tcp_user_timeout): the "
				      "connection is lost");
			return -ETIMEDOUT;
		}
		if (p.revents & POLLIN) {
			int spoke = server_spoke(c, e);

			if (spoke < 0)
				return -e->err;
			if (spoke > 0)
				return pcf_copy_refused(c, e);
		}
	}
}

int pcf_copy_send(PGconn *c, const char *buf, size_t len, struct pcf_error *e)
{
	int spoke = server_spoke(c, e);

	if (spoke < 0)
		return -e->err;
	if (spoke > 0)
		return pcf_copy_refused(c, e);
	/* PQexec still blocks; our sends wait in flush_all. */
	if (PQsetnonblocking(c, 1) != 0) {
		pcf_error_from_result(e, c, NULL);
		return -e->err;
	}
	/* PQputCopyData takes at most INT_MAX bytes; FUSE writes are <= 1 MiB. */
	if (PQputCopyData(c, buf, (int)len) != 1) {
		pcf_error_from_result(e, c, NULL);
		return -e->err;
	}
	/*
	 * Send what libpq holds back (it sends in 8 KiB units): a writer that
	 * writes a row a second must have it checked by the server now, not
	 * when 8 KiB have piled up, so that a bad row is reported at its next
	 * write.
	 */
	return flush_all(c, e);
}

int pcf_copy_refused(PGconn *c, struct pcf_error *e)
{
	if (pcf_copy_end(c, NULL, NULL, e) == 0)
		pcf_error_set(e, EIO, "the server ended the COPY early");
	return -e->err;
}

int pcf_copy_end(PGconn *c, const char *abort_reason, uint64_t *rows,
		 struct pcf_error *e)
{
	PGresult *r;
	int rc = 0;

	if (PQtransactionStatus(c) != PQTRANS_ACTIVE &&
	    PQstatus(c) == CONNECTION_OK) {
		/* The caller's bookkeeping is wrong: the COPY has ended. Said
		 * loudly, as every test fails on this line in the log. */
		pcf_warn("bug: a COPY end (%s) with no COPY in progress\n",
			 abort_reason ? "CopyFail" : "CopyDone");
	}
	if (PQputCopyEnd(c, abort_reason) != 1) {
		pcf_error_from_result(e, c, NULL);
		rc = -e->err;
	}
	/* Drain: the server may still be loading what it was sent. */
	while ((r = PQgetResult(c)) != NULL) {
		ExecStatusType st = PQresultStatus(r);

		if (st == PGRES_COPY_IN) {
			/* Cannot happen after PQputCopyEnd unless the send failed;
			 * stop rather than loop on a dead connection. */
			PQclear(r);
			if (rc == 0) {
				pcf_error_set(e, ECONNRESET,
					      "the server did not end the COPY");
				rc = -e->err;
			}
			break;
		}
		if (st == PGRES_COMMAND_OK) {
			if (rows)
				*rows = strtoull(PQcmdTuples(r), NULL, 10);
		} else if (rc == 0) {
			pcf_error_from_result(e, c, r);
			rc = -e->err;
		}
		PQclear(r);
	}
	if (rc == 0 && PQstatus(c) != CONNECTION_OK) {
		pcf_error_from_result(e, c, NULL);
		rc = -e->err;
	}
	return rc;
}

int pcf_tx_prepare_commit(PGconn *c, char *xid, size_t xidlen,
			  struct pcf_error *e)
{
	/* Deferred constraints are checked now rather than by COMMIT, so
	 * that they fail the close; the transaction id lets a COMMIT whose
	 * answer is lost be looked up. */
	PGresult *r = PQexec(c, "SET CONSTRAINTS ALL IMMEDIATE;"
				" SELECT pg_catalog.txid_current()");
	int rc = 0;

	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		pcf_error_from_result(e, c, r);
		rc = -e->err;
	} else {
		snprintf(xid, xidlen, "%s", PQgetvalue(r, 0, 0));
	}
	PQclear(r);
	return rc;
}

/* Between tries to ask what became of a COMMIT whose answer was lost. */
#define LOST_COMMIT_PAUSE_US 250000

/*
 * The connection broke after COMMIT was sent: ask the server, on a new
 * connection, what became of transaction xid. 0 committed; -errno with e
 * filled in otherwise (EREMOTEIO: nobody can tell).
 */
static int lost_commit(const struct pcf_options *o, const char *xid,
		       struct pcf_error *e)
{
	const char *params[1] = { xid };
	struct pcf_error ce = { 0 };
	char lost[sizeof(e->message)];
	/* As long as a load waits to connect: a server restarting right after
	 * the COMMIT (the usual cause) answers within it. */
	int secs = o->connect_timeout > 0 ? o->connect_timeout : 10;
	struct timespec end, now;

	snprintf(lost, sizeof(lost), "%s", e->message);
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += secs;
	for (;;) {
		PGconn *c = pcf_connect(o, &ce);
		PGresult *r;
		const char *st = NULL;

		clock_gettime(CLOCK_MONOTONIC, &now);
		if (!c) {
			if (now.tv_sec > end.tv_sec ||
			    (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec))
				break;
			usleep(LOST_COMMIT_PAUSE_US); /* refused: restarting? */
			continue;
		}
		r = PQexecParams(c, "SELECT pg_catalog.txid_status($1::bigint)",
				 1, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
		    !PQgetisnull(r, 0, 0))
			st = PQgetvalue(r, 0, 0);
		if (st && strcmp(st, "committed") == 0) {
			PQclear(r);
			PQfinish(c);
			return 0;
		}
		if (st && strcmp(st, "aborted") == 0) {
			PQclear(r);
			PQfinish(c);
			pcf_error_set(e, ECONNRESET,
				      "the connection broke during COMMIT (%s); "
				      "the server rolled transaction %s back",
				      lost, xid);
			return -ECONNRESET;
		}
		if (!st)
			pcf_error_from_result(&ce, c, r);
		PQclear(r);
		PQfinish(c);
		if (!st || now.tv_sec > end.tv_sec)
			break;
		usleep(LOST_COMMIT_PAUSE_US); /* "in progress": still ending */
	}
	pcf_error_set(e, EREMOTEIO,
		      "the connection broke during COMMIT (%s) and the server "
		      "could not tell whether transaction %s committed: %s",
		      lost, xid, ce.message[0] ? ce.message : "still in progress");
	return -EREMOTEIO;
}

int pcf_tx_commit(PGconn *c, const struct pcf_options *o, const char *xid,
		  struct pcf_error *e)
{
	PGresult *r = PQexec(c, "COMMIT");
	int rc = 0;

	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		pcf_error_from_result(e, c, r);
		rc = -e->err;
		/* No verdict from the server: it may have committed. */
		if (!e->sqlstate[0] && PQstatus(c) != CONNECTION_OK && xid &&
		    *xid)
			rc = lost_commit(o, xid, e);
	} else if (strcmp(PQcmdStatus(r), "COMMIT") != 0) {
		/* COMMIT of an aborted transaction answers ROLLBACK, "OK". */
		pcf_error_set(e, EIO, "the server rolled the transaction back");
		rc = -EIO;
	}
	PQclear(r);
	return rc;
}

int pcf_tx_foreign_servers(PGconn *c, const char *schema, const char *name)
{
	const char *params[2] = { schema, name };
	PGresult *r = PQexecParams(
		c,
		"WITH t AS (SELECT format('%I.%I', $1::text, $2::text)::regclass"
		"  AS rel)"
		" SELECT count(DISTINCT f.ftserver) FROM pg_catalog.pg_foreign_table f"
		" WHERE f.ftrelid = (SELECT rel FROM t)"
		"  OR f.ftrelid IN (SELECT relid FROM t,"
		"   pg_catalog.pg_partition_tree(t.rel))",
		2, NULL, params, NULL, NULL, 0);
	int n = -1;

	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		n = atoi(PQgetvalue(r, 0, 0));
	PQclear(r);
	return n;
}
