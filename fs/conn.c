/*
 * conn.c - connecting, and turning libpq's failures into errnos and one-line
 * messages.
 */
#include "conn.h"

#include "pgcopyfs.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

/* Makes a libpq message fit on one line of the status files and the log:
 * a line break and the indentation after it become one space (libpq's
 * "...unexpectedly\n\tThis probably means..."); spaces and tabs inside a
 * line stay as they are, as a failing value has them (the status files and
 * the log escape what needs it). */
static void one_line(char *s)
{
	char *w = s;
	const char *p = s;

	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	while (*p) {
		if (*p == '\n' || *p == '\r') {
			while (*p == '\n' || *p == '\r' || *p == ' ' ||
			       *p == '\t')
				p++;
			if (*p)
				*w++ = ' ';
			continue;
		}
		*w++ = *p++;
	}
	while (w > s && (w[-1] == ' ' || w[-1] == '\t'))
		w--;
	*w = '\0';
}

void pcf_error_set(struct pcf_error *e, int err, const char *fmt, ...)
{
	va_list ap;

	e->err = err;
	e->needs_password = 0;
	e->sqlstate[0] = '\0';
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	one_line(e->message);
}

/* A connection that could not be made: refused, timed out, or refused us. */
static int connect_errno(PGconn *c)
{
	const char *m = c ? PQerrorMessage(c) : "";

	if (c && PQconnectionNeedsPassword(c))
		return EACCES;
	if (strstr(m, "password authentication failed") ||
	    strstr(m, "no pg_hba.conf entry") ||
	    strstr(m, "authentication failed") ||
	    strstr(m, "permission denied"))
		return EACCES;
	if (strstr(m, "timeout expired") || strstr(m, "timed out"))
		return ETIMEDOUT;
	if (strstr(m, "does not exist"))
		return ENOENT; /* database or role */
	if (strstr(m, "Too many open files"))
		return EMFILE; /* the daemon's own descriptor limit */
	if (strstr(m, "too many clients") ||
	    strstr(m, "remaining connection slots"))
		return EAGAIN;
	if (strstr(m, "Connection refused") ||
	    strstr(m, "No such file or directory"))
		return ECONNREFUSED;
	return EHOSTUNREACH;
}

PGconn *pcf_connect(const struct pcf_options *o, struct pcf_error *e)
{
	return pcf_connect_as(o, "pgcopyfs", e);
}

PGconn *pcf_connect_as(const struct pcf_options *o, const char *app,
		       struct pcf_error *e)
{
	const char *keys[14], *vals[14];
	char timeout[16];
	int n = 0;
	PGconn *c;

	/* Defaults first: a later keyword overrides an earlier one, so the
	 * user's CONNINFO wins over them; an explicit -o wins over CONNINFO. */
	keys[n] = "fallback_application_name", vals[n++] = app;
	if (o->connect_timeout < 0 && !getenv("PGCONNECT_TIMEOUT"))
		keys[n] = "connect_timeout", vals[n++] = "10";
	/* A dead network path must be noticed (issue "never hang"): TCP
	 * keepalives while waiting for an answer, TCP_USER_TIMEOUT while data
	 * waits to be acknowledged. Unix sockets ignore both. */
	keys[n] = "keepalives", vals[n++] = "1";
	keys[n] = "keepalives_idle", vals[n++] = PCF_STR(PCF_KEEPALIVE_IDLE_S);
	keys[n] = "keepalives_interval",
	vals[n++] = PCF_STR(PCF_KEEPALIVE_INTERVAL_S);
	keys[n] = "keepalives_count", vals[n++] = PCF_STR(PCF_KEEPALIVE_COUNT);
	keys[n] = "tcp_user_timeout", vals[n++] = PCF_STR(PCF_TCP_USER_TIMEOUT_MS);
	keys[n] = "dbname", vals[n++] = o->conninfo ? o->conninfo : "";
	if (o->connect_timeout > 0) {
		snprintf(timeout, sizeof(timeout), "%d", o->connect_timeout);
		keys[n] = "connect_timeout", vals[n++] = timeout;
	}
	if (o->password) /* typed or read from stdin: it wins */
		keys[n] = "password", vals[n++] = o->password;
	keys[n] = NULL, vals[n] = NULL;

	c = PQconnectdbParams(keys, vals, 1);
	if (c && PQstatus(c) == CONNECTION_OK)
		return c;
	if (c && connect_errno(c) == EMFILE) {
		struct rlimit r = { 0 };

		getrlimit(RLIMIT_NOFILE, &r);
		pcf_error_set(e, EMFILE,
			      "the daemon has all the open files its limit "
			      "allows (%llu): %s",
			      (unsigned long long)r.rlim_cur, PQerrorMessage(c));
	} else {
		pcf_error_set(e, connect_errno(c), "%s",
			      c ? PQerrorMessage(c) : "out of memory");
	}
	e->needs_password = c && PQconnectionNeedsPassword(c);
	PQfinish(c);
	return NULL;
}

/* Descriptors the loads may still take; the rest is the daemon's own. */
static atomic_long fd_budget = LONG_MAX;
static long fd_limit;

void pcf_conn_budget_init(void)
{
	struct rlimit r;

	if (getrlimit(RLIMIT_NOFILE, &r) != 0 || r.rlim_cur == RLIM_INFINITY)
		return;
	fd_limit = (long)r.rlim_cur;
	atomic_store(&fd_budget, fd_limit > PCF_FD_RESERVE
					 ? (fd_limit - PCF_FD_RESERVE)
					 : fd_limit / 2);
}

int pcf_conn_budget_take(struct pcf_error *e)
{
	if (atomic_fetch_sub(&fd_budget, PCF_FDS_PER_LOAD) < PCF_FDS_PER_LOAD) {
		atomic_fetch_add(&fd_budget, PCF_FDS_PER_LOAD);
		pcf_error_set(e, EMFILE,
			      "too many open files: the daemon's limit of %ld "
			      "open files leaves no room for another load "
			      "(raise the hard limit: ulimit -Hn, LimitNOFILE=)",
			      fd_limit);
		return -EMFILE;
	}
	return 0;
}

void pcf_conn_budget_give(void)
{
	atomic_fetch_add(&fd_budget, PCF_FDS_PER_LOAD);
}

void pcf_conn_widen_send_buffer(PGconn *c)
{
	int size = PCF_SEND_BUFFER;
	int fd = PQsocket(c);

	/* FORCE passes net.core.wmem_max where the daemon may (CAP_NET_ADMIN);
	 * elsewhere the kernel caps the plain request. Best effort either way. */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) != 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
}

int pcf_errno_for_sqlstate(const char *s)
{
	if (!s || !*s)
		return ECONNRESET; /* no server verdict: the connection broke */
	if (strcmp(s, "42501") == 0)
		return EACCES;
	if (strcmp(s, "53100") == 0)
		return ENOSPC;
	if (strcmp(s, "53200") == 0)
		return ENOMEM;
	if (strncmp(s, "53", 2) == 0)
		return EAGAIN;
	if (strcmp(s, "42P01") == 0)
		return ENOENT;
	if (strcmp(s, "57014") == 0)
		return ECANCELED;
	if (strncmp(s, "57P", 3) == 0 || strncmp(s, "08", 2) == 0)
		return ECONNRESET;
	if (strcmp(s, "40001") == 0 || strcmp(s, "40P01") == 0)
		return EDEADLK;
	if (strcmp(s, "55P03") == 0)
		return EBUSY;
	if (strcmp(s, "25006") == 0)
		return EROFS; /* a read-only transaction: standby, or the setting */
	return EIO; /* the data, a constraint or the table refused the rows */
}

/* The most kept of each part of a server message. */
#define PART_MAX 240

/*
 * How much of a DETAIL or CONTEXT field to keep: the server echoes whole
 * rows there ('COPY t, line 3: "<the line>"', "Failing row contains (...)"),
 * and row data has no place in a log. The line and column stay; the failing
 * value in the primary message stays too, as it is the reason.
 */
static int without_row_echo(int field, const char *v, char *out,
			    size_t outlen)
{
	if (field == PG_DIAG_MESSAGE_DETAIL &&
	    (strncmp(v, "Failing row contains", 20) == 0 ||
	     strstr(v, "Failing row contains")))
		return 0;
	if (field == PG_DIAG_CONTEXT)
		return (int)pcf_cut_row_echo(v, out, outlen);
	return snprintf(out, outlen, "%s", v);
}

void pcf_error_from_result(struct pcf_error *e, PGconn *c, const PGresult *r)
{
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	const char *prim = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY)
			     : NULL;
	size_t n = 0;

	e->sqlstate[0] = '\0';
	if (state)
		snprintf(e->sqlstate, sizeof(e->sqlstate), "%s", state);
	e->err = pcf_errno_for_sqlstate(e->sqlstate);
	if (!prim) {
		/* No server message: the connection's own (lost connection). */
		const char *m = c ? PQerrorMessage(c) : "";

		snprintf(e->message, sizeof(e->message), "%s",
			 *m ? m : "the server connection failed");
		one_line(e->message);
		/* A stalled path, given up on by TCP_USER_TIMEOUT or
		 * keepalives: libpq only says so in words. */
		if (strstr(e->message, "timed out"))
			e->err = ETIMEDOUT;
		return;
	}
	static const struct {
		int field;
		const char *label;
	} extra[] = {
		{ PG_DIAG_MESSAGE_DETAIL, "DETAIL" },
		{ PG_DIAG_MESSAGE_HINT, "HINT" },
		{ PG_DIAG_CONTEXT, "CONTEXT" },
	};
	/* Cut every part, so a 100 MB value cannot crowd out the line. */
	n = (size_t)snprintf(e->message, sizeof(e->message), "%.*s%s",
			     PART_MAX, prim, strlen(prim) > PART_MAX ? "..." : "");
	for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
		const char *v = PQresultErrorField(r, extra[i].field);
		int len;

		if (!v || n >= sizeof(e->message))
			continue;
		char part[PART_MAX * 4 + 1];

		len = without_row_echo(extra[i].field, v, part, sizeof(part));
		if (len <= 0)
			continue;
		if (len >= (int)sizeof(part))
			len = (int)sizeof(part) - 1;
		n += (size_t)snprintf(e->message + n, sizeof(e->message) - n,
				      "; %s: %.*s%s", extra[i].label,
				      len > PART_MAX ? PART_MAX : len, part,
				      len > PART_MAX ? "..." : "");
	}
	one_line(e->message);
}

int pcf_exec(PGconn *c, const char *sql, struct pcf_error *e)
{
	PGresult *r = PQexec(c, sql);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK;

	if (!ok)
		pcf_error_from_result(e, c, r);
	PQclear(r);
	return ok ? 0 : -e->err;
}

int pcf_begin(PGconn *c, struct pcf_error *e)
{
	/* One round trip: the transaction, and the server process that runs
	 * it. PQbackendPID() would name a pooler's cancel key instead; inside
	 * a transaction even a transaction pooler keeps one server process. */
	PGresult *r = PQexec(c, "BEGIN; SELECT pg_catalog.pg_backend_pid()");
	int pid = -1;

	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
		pid = atoi(PQgetvalue(r, 0, 0));
		if (pid <= 0)
			pcf_error_set(e, EIO, "the server gave no backend pid");
	} else {
		pcf_error_from_result(e, c, r);
	}
	PQclear(r);
	return pid > 0 ? pid : -e->err;
}
