/*
 * conn.c - connecting, and turning libpq's failures into errnos and one-line
 * messages.
 */
#include "conn.h"

#include "clock.h"
#include "pgcopyfs.h"

#include <errno.h>
#include <pthread.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

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

/*
 * Why a connect failed, from structure, never from the server's words
 * (a server with lc_messages=de_DE says "Passwort-Authentifizierung ...").
 *
 * libpq keeps no result for a failed connect, only its message; asked for
 * PQERRORS_VERBOSE before the first packet, it writes the server's SQLSTATE
 * into that message in a fixed, untranslated shape: "<severity>:  <SQLSTATE>:
 * <message>". The SQLSTATE decides. With none, the server never answered
 * with an error: the cause is our own (a timeout our loop measured) or the
 * operating system's, which libpq quotes with this process's strerror().
 */
static int is_sqlstate_at(const char *s)
{
	for (int i = 0; i < 5; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z')))
			return 0;
	return s[5] == ':' && s[6] == ' ';
}

/* The last "<severity>:  XXXXX: " in m (a multi-host attempt lists every
 * host's error; the last is the one that ended it), or NULL. */
static const char *find_sqlstate(const char *m)
{
	const char *found = NULL;

	for (const char *p = strstr(m, ":  "); p; p = strstr(p + 1, ":  "))
		if (is_sqlstate_at(p + 3))
			found = p + 3;
	return found;
}

/* The message as psql shows it: without the SQLSTATE tokens and the
 * LOCATION lines that VERBOSE adds. */
static void strip_verbose(char *m)
{
	char *p;

	while ((p = strstr(m, "\nLOCATION:  ")) != NULL) {
		char *eol = strchr(p + 1, '\n');

		if (!eol)
			*p = '\0';
		else
			memmove(p, eol, strlen(eol) + 1);
	}
	for (p = strstr(m, ":  "); p; p = strstr(p + 1, ":  "))
		if (is_sqlstate_at(p + 3))
			memmove(p + 3, p + 10, strlen(p + 10) + 1);
}

/* The errno for a connect the server refused with this SQLSTATE. */
static int connect_errno_for_sqlstate(const char *s)
{
	if (strncmp(s, "28", 2) == 0)
		return EACCES; /* wrong password, pg_hba reject, NOLOGIN, no role */
	if (strncmp(s, "3D000", 5) == 0)
		return ENOENT; /* no such database */
	if (strncmp(s, "53300", 5) == 0 || strncmp(s, "57P03", 5) == 0)
		return EAGAIN; /* connection limits; starting or shutting down */
	char state[6];

	snprintf(state, sizeof(state), "%.5s", s);
	return pcf_errno_for_sqlstate(state);
}

/* No SQLSTATE: what the operating system said, as libpq quoted it with
 * this process's own strerror(). */
static int connect_errno_os(const char *m)
{
	static const int known[] = { EMFILE, ENFILE, ECONNREFUSED, ENOENT,
				     ETIMEDOUT, ECONNRESET, ENETUNREACH,
				     EHOSTUNREACH, EACCES };

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strstr(m, strerror(known[i])))
			return known[i] == ENOENT ? ECONNREFUSED : known[i];
	return EHOSTUNREACH; /* no answer, or a name that did not resolve */
}

/* libpq's value of a connection option, after CONNINFO, the service file
 * and the environment had their say. */
static int conn_option(PGconn *c, const char *key, char *out, size_t len)
{
	PQconninfoOption *opts = PQconninfo(c);
	int found = 0;

	out[0] = '\0';
	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		if (strcmp(o->keyword, key) == 0 && o->val) {
			snprintf(out, len, "%s", o->val);
			found = 1;
		}
	PQconninfoFree(opts);
	return found;
}

/* connect_timeout as libpq reads it: seconds, at least 2; 0 for none. */
static int connect_timeout_ms(PGconn *c)
{
	char v[32];
	int s;

	if (!conn_option(c, "connect_timeout", v, sizeof(v)) || !*v)
		return 0;
	s = atoi(v);
	if (s <= 0)
		return 0;
	return (s < 2 ? 2 : s) * 1000;
}

static int several_hosts(PGconn *c)
{
	char v[1024];

	return (conn_option(c, "host", v, sizeof(v)) && strchr(v, ',')) ||
	       (conn_option(c, "hostaddr", v, sizeof(v)) && strchr(v, ','));
}

/* The identity of the socket libpq now tries: a new address gets a new
 * socket, whose number may be the old one's. */
static unsigned long socket_identity(PGconn *c)
{
	struct stat st;
	int fd = PQsocket(c);

	if (fd < 0 || fstat(fd, &st) != 0)
		return 0;
	return (unsigned long)st.st_ino;
}

enum connect_end { CONNECT_OK, CONNECT_FAILED, CONNECT_TIMED_OUT };

/*
 * Drives a started connection to its end under libpq's rule for
 * connect_timeout: each address gets that long. libpq's blocking loop would
 * also move on to the next host when one times out; driven from outside it
 * cannot be told to, so a timeout with several hosts hands over to
 * PQreset(), which runs that loop from the first host (verbosity survives).
 */
static enum connect_end connect_drive(PGconn *c)
{
	int timeout = connect_timeout_ms(c);
	unsigned long sock = 0;
	struct timespec since = { 0 };
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;

	for (;;) {
		struct pollfd p = { .fd = PQsocket(c) };
		unsigned long id;
		int wait = -1, rc;

		if (st == PGRES_POLLING_OK)
			return CONNECT_OK;
		if (st == PGRES_POLLING_FAILED)
			return CONNECT_FAILED;
		id = socket_identity(c);
		if (id != sock) {
			sock = id;
			clock_gettime(CLOCK_MONOTONIC, &since);
		}
		if (timeout > 0) {
			wait = timeout - (int)pcf_ms_since(&since);
			if (wait <= 0) {
				if (!several_hosts(c))
					return CONNECT_TIMED_OUT;
				PQreset(c);
				return PQstatus(c) == CONNECTION_OK
					       ? CONNECT_OK
					       : CONNECT_FAILED;
			}
		}
		p.events = st == PGRES_POLLING_READING ? POLLIN : POLLOUT;
		rc = poll(&p, 1, wait);
		if (rc < 0 && errno != EINTR)
			return CONNECT_FAILED;
		if (rc > 0)
			st = PQconnectPoll(c);
	}
}

/* Fills e for a connect that ended without a connection. */
static void connect_failure(PGconn *c, enum connect_end end,
			    struct pcf_error *e)
{
	char m[sizeof(e->message)];
	char state[6] = "";
	int needs_password = PQconnectionNeedsPassword(c);
	const char *found;
	int err;

	snprintf(m, sizeof(m), "%s", PQerrorMessage(c));
	found = find_sqlstate(m);
	if (found)
		snprintf(state, sizeof(state), "%.5s", found);
	if (needs_password)
		err = EACCES;
	else if (end == CONNECT_TIMED_OUT)
		err = ETIMEDOUT;
	else if (*state)
		err = connect_errno_for_sqlstate(state);
	else
		err = connect_errno_os(m);
	strip_verbose(m);
	if (end == CONNECT_TIMED_OUT) {
		pcf_error_set(e, err,
			      "connection to server at \"%s\", port %s failed: "
			      "timeout expired",
			      PQhost(c), PQport(c));
	} else if (err == EMFILE) {
		struct rlimit r = { 0 };

		getrlimit(RLIMIT_NOFILE, &r);
		pcf_error_set(e, EMFILE,
			      "the daemon has all the open files its limit "
			      "allows (%llu): %s",
			      (unsigned long long)r.rlim_cur, m);
	} else {
		pcf_error_set(e, err, "%s", *m ? m : "the connection failed");
	}
	e->needs_password = needs_password; /* pcf_error_set cleared it */
	memcpy(e->sqlstate, state, sizeof(state));
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
	enum connect_end end;
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

	c = PQconnectStartParams(keys, vals, 1);
	if (!c) {
		pcf_error_set(e, ENOMEM, "out of memory");
		return NULL;
	}
	/* Before the first packet: the SQLSTATE then reaches the message. */
	PQsetErrorVerbosity(c, PQERRORS_VERBOSE);
	end = PQstatus(c) == CONNECTION_BAD ? CONNECT_FAILED : connect_drive(c);
	if (end == CONNECT_OK) {
		PQsetErrorVerbosity(c, PQERRORS_DEFAULT);
		return c;
	}
	connect_failure(c, end, e);
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
		if (strstr(e->message, strerror(ETIMEDOUT)))
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

/*
 * A connect on a thread of its own, so that the opener's request can stop
 * waiting for it when the opener is killed (libpq's connect cannot be cut
 * short, and keeps its own connect_timeout and host list). The last of the
 * two to let go frees it.
 */
struct connect_job {
	const struct pcf_options *opts;
	const char *app;
	PGconn *conn;
	struct pcf_error e;
	int done;
	_Atomic int refs;
	pthread_mutex_t m;
	pthread_cond_t cond;
};

static void connect_job_put(struct connect_job *j)
{
	if (atomic_fetch_sub(&j->refs, 1) == 1) {
		PQfinish(j->conn);
		pthread_mutex_destroy(&j->m);
		pthread_cond_destroy(&j->cond);
		free(j);
	}
}

static void *connect_main(void *arg)
{
	struct connect_job *j = arg;
	PGconn *c = pcf_connect_as(j->opts, j->app, &j->e);

	pthread_mutex_lock(&j->m);
	j->conn = c;
	j->done = 1;
	pthread_cond_broadcast(&j->cond);
	pthread_mutex_unlock(&j->m);
	connect_job_put(j);
	return NULL;
}

PGconn *pcf_connect_stoppable(const struct pcf_options *o, const char *app,
			      int (*stop)(void *), void *ctx,
			      struct pcf_error *e)
{
	struct connect_job *j = calloc(1, sizeof(*j));
	pthread_attr_t attr;
	pthread_t t;
	PGconn *c = NULL;
	int started;

	if (!j) {
		pcf_error_set(e, ENOMEM, "out of memory");
		return NULL;
	}
	j->opts = o;
	j->app = app; /* a string literal: outlives the job */
	atomic_init(&j->refs, 2);
	pthread_mutex_init(&j->m, NULL);
	pthread_cond_init(&j->cond, NULL);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	started = pthread_create(&t, &attr, connect_main, j) == 0;
	pthread_attr_destroy(&attr);
	if (!started) {
		/* No thread to spare: connect here, not to be cut short. */
		atomic_store(&j->refs, 1);
		connect_job_put(j);
		return pcf_connect_as(o, app, e);
	}
	pthread_mutex_lock(&j->m);
	while (!j->done && !stop(ctx)) {
		struct timespec until = pcf_clock_in(CLOCK_REALTIME, 50);

		pthread_cond_timedwait(&j->cond, &j->m, &until);
	}
	if (j->done) {
		c = j->conn;
		j->conn = NULL;
		if (!c)
			*e = j->e;
	} else {
		pcf_error_set(e, EINTR, "killed while connecting");
	}
	pthread_mutex_unlock(&j->m);
	connect_job_put(j);
	return c;
}
