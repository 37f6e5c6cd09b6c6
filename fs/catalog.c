/*
 * catalog.c - the tree the mount shows, read from pg_class.
 *
 * Who waits for whom:
 *
 *   ls, stat, open  --take a reference-->  current snapshot (immutable)
 *        |  stale or name missing: ask for a refresh, wait <= REFRESH_WAIT_MS
 *        v
 *   refresher thread --its own connection--> server; swaps in the new
 *                                            snapshot under c->lock
 *
 * c->lock guards only the pointer and the refresh counters: it is never
 * held across a round trip, so a stalled server, a pooler with every slot
 * taken or a 20,000-table read cannot hold up a lookup for longer than
 * REFRESH_WAIT_MS; after that the last good snapshot answers. Loads never
 * use the catalog connection.
 */
#include "catalog.h"

#include "clock.h"

#include "log.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define CATALOG_TTL_MS 1000
#define RECONNECT_BACKOFF_MS 1000
/* The longest a lookup waits for a refresh of a stale snapshot before the
 * old one answers (a stalled server, a pooler with no slot to give). */
#define REFRESH_WAIT_MS 20
/* The longest a question about a missing name may take. */
#define PROBE_WAIT_MS 50
/* When the server says a missing name exists: the wait for the tree that
 * has it (a big tree takes tens of ms to read). */
#define FOUND_WAIT_MS 1000
/* Names answered missing that are remembered (then asked again). */
#define NEG_MAX 4096
/* How long a name answered missing stays missing after a tree that has
 * it was read: longer than any stat-then-open (cp's O_EXCL) takes. */
#define NEG_GRACE_MS 50
/* How long a question on the monitor connection may take. */
#define MONITOR_WAIT_MS 200

static const char catalog_sql[] =
	"SELECT n.nspname, c.relname, c.relkind,"
	" CASE WHEN c.oid IS NULL THEN false"
	"  ELSE has_table_privilege(c.oid, 'INSERT') END,"
	" CASE WHEN c.oid IS NULL THEN false"
	"  ELSE has_table_privilege(c.oid, 'TRUNCATE') END,"
	/* The same on every row: is the server read-only, and why. */
	" pg_catalog.pg_is_in_recovery(),"
	" pg_catalog.current_setting('transaction_read_only'),"
	" CASE WHEN c.oid IS NULL THEN false"
	"  ELSE has_table_privilege(c.oid, 'SELECT') END"
	" FROM pg_catalog.pg_namespace n"
	" LEFT JOIN pg_catalog.pg_class c"
	"  ON c.relnamespace = n.oid AND c.relkind IN ('r', 'p', 'f')"
	" WHERE n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'"
	"  AND has_schema_privilege(n.oid, 'USAGE')";

static char *escaped(const char *name, const char *suffix)
{
	char buf[1024];
	ssize_t n = pcf_name_escape(name, buf, sizeof(buf) - 8);

	if (n < 0)
		return NULL;
	strcat(buf, suffix);
	return strdup(buf);
}

static void free_parts(struct pcf_table *t, size_t nt, char **s, size_t ns)
{
	for (size_t i = 0; i < nt; i++) {
		free(t[i].schema);
		free(t[i].name);
		free(t[i].schema_file);
		free(t[i].file);
	}
	free(t);
	for (size_t i = 0; i < ns; i++)
		free(s[i]);
	free(s);
}

static int table_cmp(const void *a, const void *b)
{
	const struct pcf_table *x = a, *y = b;
	int r = strcmp(x->schema_file, y->schema_file);

	return r ? r : strcmp(x->file, y->file);
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void snapshot_put(struct pcf_snapshot *sn)
{
	if (sn && atomic_fetch_sub(&sn->refs, 1) == 1) {
		free_parts(sn->tables, sn->ntables, sn->schemas, sn->nschemas);
		free(sn);
	}
}

/* Makes sure *conn is usable; reconnects at most once a second. */
static int connect_backoff(const struct pcf_options *o, const char *app,
			   PGconn **conn, struct timespec *failed,
			   struct pcf_error *e)
{
	if (*conn && PQstatus(*conn) == CONNECTION_OK)
		return 0;
	if (failed->tv_sec && pcf_ms_since(failed) < RECONNECT_BACKOFF_MS) {
		pcf_error_set(e, ECONNREFUSED, "server unreachable (retrying)");
		return -ECONNREFUSED;
	}
	PQfinish(*conn);
	*conn = pcf_connect_as(o, app, e);
	if (!*conn) {
		clock_gettime(CLOCK_MONOTONIC, failed);
		return -e->err;
	}
	failed->tv_sec = 0;
	return 0;
}

/* Reads the tree into a new snapshot, on the catalog connection (the
 * refresher's, or main's before it starts). Takes no lock. */
static int catalog_fetch(struct pcf_catalog *c, struct pcf_snapshot **out,
			 struct pcf_error *e)
{
	PGresult *r = NULL;
	struct pcf_table *t = NULL;
	struct pcf_snapshot *sn;
	char **s = NULL;
	size_t nt = 0, ns = 0;
	int rows, rc;

	for (int attempt = 0; attempt < 2; attempt++) {
		pthread_mutex_lock(&c->lock);
		c->conn_fd = -1; /* connect_backoff may close it */
		pthread_mutex_unlock(&c->lock);
		rc = connect_backoff(c->opts, "pgcopyfs catalog", &c->conn,
				     &c->failed, e);
		if (rc)
			return rc;
		pthread_mutex_lock(&c->lock);
		c->conn_fd = PQsocket(c->conn);
		pthread_mutex_unlock(&c->lock);
		r = PQexec(c->conn, catalog_sql);
		if (PQresultStatus(r) == PGRES_TUPLES_OK)
			break;
		pcf_error_from_result(e, c->conn, r);
		PQclear(r);
		r = NULL;
		if (PQstatus(c->conn) == CONNECTION_OK)
			return -e->err; /* a real error, not a lost server */
	}
	if (!r)
		return -e->err;
	rows = PQntuples(r);
	int read_only = 0;

	if (rows > 0) {
		if (PQgetvalue(r, 0, 5)[0] == 't')
			read_only = PCF_RO_RECOVERY;
		else if (strcmp(PQgetvalue(r, 0, 6), "on") == 0)
			read_only = PCF_RO_SETTING;
	}
	t = calloc((size_t)rows + 1, sizeof(*t));
	s = calloc((size_t)rows + 1, sizeof(*s));
	if (!t || !s)
		goto nomem;
	for (int i = 0; i < rows; i++) {
		const char *schema = PQgetvalue(r, i, 0);

		/* Each schema once per run of its rows; runs need not be
		 * adjacent (no ORDER BY), so duplicates go after the sort. */
		if (i == 0 || strcmp(PQgetvalue(r, i - 1, 0), schema) != 0) {
			if (!(s[ns] = escaped(schema, "")))
				goto nomem;
			ns++;
		}
		if (PQgetisnull(r, i, 1))
			continue;
		struct pcf_table *x = &t[nt];

		x->schema = strdup(schema);
		x->name = strdup(PQgetvalue(r, i, 1));
		x->schema_file = escaped(schema, "");
		x->file = escaped(x->name, ".csv");
		nt++;
		if (!x->schema || !x->name || !x->schema_file || !x->file)
			goto nomem;
		x->relkind = PQgetvalue(r, i, 2)[0];
		x->can_insert = PQgetvalue(r, i, 3)[0] == 't';
		x->can_truncate = PQgetvalue(r, i, 4)[0] == 't';
		x->can_select = PQgetvalue(r, i, 7)[0] == 't';
	}
	PQclear(r);
	r = NULL;
	qsort(t, nt, sizeof(*t), table_cmp);
	qsort(s, ns, sizeof(*s), str_cmp);
	/* Drop duplicate schema names left by unordered rows. */
	size_t w = 0;
	for (size_t i = 0; i < ns; i++) {
		if (w > 0 && strcmp(s[w - 1], s[i]) == 0) {
			free(s[i]);
			continue;
		}
		s[w++] = s[i];
	}
	ns = w;
	if (!(sn = calloc(1, sizeof(*sn))))
		goto nomem;
	atomic_init(&sn->refs, 1);
	sn->tables = t;
	sn->ntables = nt;
	sn->schemas = s;
	sn->nschemas = ns;
	sn->read_only = read_only;
	clock_gettime(CLOCK_MONOTONIC, &sn->fetched);
	*out = sn;
	return 0;
nomem:
	PQclear(r);
	free_parts(t, nt, s, ns);
	pcf_error_set(e, ENOMEM, "out of memory reading the catalog");
	return -ENOMEM;
}

/* The refresher: one fetch per batch of requests, never under c->lock. */
static void *refresher_main(void *arg)
{
	struct pcf_catalog *c = arg;

	pthread_mutex_lock(&c->lock);
	while (!c->stop) {
		struct pcf_snapshot *sn = NULL, *old = NULL;
		struct pcf_error e;
		unsigned long gen;
		int rc;

		if (c->requested <= c->done) {
			pthread_cond_wait(&c->cond, &c->lock);
			continue;
		}
		gen = c->started = c->requested;
		c->fetching = 1;
		clock_gettime(CLOCK_MONOTONIC, &c->fetch_since);
		pthread_mutex_unlock(&c->lock);
		rc = catalog_fetch(c, &sn, &e);
		if (rc)
			pcf_warn("cannot refresh the table list: %s\n",
				 e.message);
		pthread_mutex_lock(&c->lock);
		if (rc == 0) {
			old = c->cur;
			c->cur = sn;
			c->refresh_failed.tv_sec = 0;
		} else {
			clock_gettime(CLOCK_MONOTONIC, &c->refresh_failed);
		}
		c->done = gen;
		c->fetching = 0;
		pthread_cond_broadcast(&c->cond);
		pthread_mutex_unlock(&c->lock);
		snapshot_put(old);
		pthread_mutex_lock(&c->lock);
	}
	c->exited = 1;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/*
 * The snapshot to answer from, with a reference the caller drops. One
 * older than max_age_ms (0: any) is refreshed first, waiting at most
 * REFRESH_WAIT_MS, and not at all for a second after a refresh failed (the
 * server is away: the last read answers).
 */
static struct pcf_snapshot *snapshot_get(struct pcf_catalog *c,
					 long max_age_ms, long wait_ms)
{
	struct pcf_snapshot *sn;

	pthread_mutex_lock(&c->lock);
	if (c->running && pcf_ms_since(&c->cur->fetched) >= max_age_ms) {
		unsigned long want = c->started + 1;
		/* Not when the last refresh failed (the server is away), nor
		 * when the one running is already late (a stalled server). */
		int wait = (!c->refresh_failed.tv_sec ||
			    pcf_ms_since(&c->refresh_failed) >= RECONNECT_BACKOFF_MS) &&
			   !(c->fetching && pcf_ms_since(&c->fetch_since) >= wait_ms);
		struct timespec until = pcf_clock_in(CLOCK_REALTIME, wait_ms);

		if (c->requested < want) {
			c->requested = want;
			pthread_cond_broadcast(&c->cond);
		}
		while (wait && c->done < want && !c->stop)
			if (pthread_cond_timedwait(&c->cond, &c->lock,
						   &until) == ETIMEDOUT)
				break;
	}
	sn = c->cur;
	atomic_fetch_add(&sn->refs, 1);
	pthread_mutex_unlock(&c->lock);
	return sn;
}

int pcf_catalog_open(struct pcf_catalog *c, const struct pcf_options *o,
		     struct pcf_error *e)
{
	int rc;

	memset(c, 0, sizeof(*c));
	c->conn_fd = -1;
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->mon_lock, NULL);
	pthread_mutex_init(&c->neg_lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	c->opts = o;
	if (!(c->neg = pcf_negcache_new(NEG_MAX, CATALOG_TTL_MS))) {
		pcf_error_set(e, ENOMEM, "out of memory");
		return -ENOMEM;
	}
	rc = catalog_fetch(c, &c->cur, e);
	return rc;
}

int pcf_catalog_start(struct pcf_catalog *c)
{
	if (pthread_create(&c->thread, NULL, refresher_main, c) != 0)
		return -1;
	pthread_mutex_lock(&c->lock);
	c->running = 1;
	pthread_mutex_unlock(&c->lock);
	return 0;
}

void pcf_catalog_stop(struct pcf_catalog *c)
{
	struct timespec until;
	int running;

	pthread_mutex_lock(&c->lock);
	running = c->running;
	c->running = 0;
	c->stop = 1;
	pthread_cond_broadcast(&c->cond);
	/* A read stuck on a stalled server ends now. */
	if (running && c->conn_fd >= 0)
		shutdown(c->conn_fd, SHUT_RDWR);
	until = pcf_clock_in(CLOCK_REALTIME, 2000);
	while (running && !c->exited)
		if (pthread_cond_timedwait(&c->cond, &c->lock, &until) ==
		    ETIMEDOUT)
			break;
	if (running && !c->exited)
		c->abandoned = 1; /* stuck in a connect: left to the exit */
	pthread_mutex_unlock(&c->lock);
	if (running) {
		if (c->abandoned)
			pthread_detach(c->thread);
		else
			pthread_join(c->thread, NULL);
	}
}

void pcf_catalog_close(struct pcf_catalog *c)
{
	pcf_catalog_stop(c);
	if (c->abandoned)
		return; /* its thread may still use all of it */
	snapshot_put(c->cur);
	PQfinish(c->conn);
	PQfinish(c->mon);
	pthread_cond_destroy(&c->cond);
	pcf_negcache_free(c->neg);
	pthread_mutex_destroy(&c->neg_lock);
	pthread_mutex_destroy(&c->mon_lock);
	pthread_mutex_destroy(&c->lock);
	memset(c, 0, sizeof(*c));
}

void pcf_catalog_describe(struct pcf_catalog *c, char *out, size_t len)
{
	const char *host, *port;

	/* Before the refresher starts: main owns the connection. */
	host = PQhost(c->conn);
	port = PQport(c->conn);
	snprintf(out, len, "%s@%s:%s/%s", PQuser(c->conn),
		 host && *host ? host : "localhost", port && *port ? port : "",
		 PQdb(c->conn));
}

static const struct pcf_table *find_table(const struct pcf_snapshot *sn,
					  const char *schema_file,
					  const char *file)
{
	struct pcf_table key = { .schema_file = (char *)schema_file,
				 .file = (char *)file };

	return bsearch(&key, sn->tables, sn->ntables, sizeof(key), table_cmp);
}

static int find_schema(const struct pcf_snapshot *sn, const char *schema_file)
{
	return bsearch(&schema_file, sn->schemas, sn->nschemas, sizeof(char *),
		       str_cmp) != NULL;
}

static int monitor_ask(struct pcf_catalog *c, const char *sql, int nparams,
		       const char *const *params, long wait_ms);

/*
 * A name missing from the snapshot: is it there now (a table created a
 * moment ago)? One indexed question instead of re-reading the whole tree,
 * so a stat of a missing name costs about what a found one does: 1 yes,
 * 0 no, -1 unknown (then the caller re-reads the tree).
 */
static int probe(struct pcf_catalog *c, const char *schema_file,
		 const char *file, long wait_ms)
{
	char schema[1024], table[1024];
	const char *params[2] = { schema, table };
	size_t flen;

	if (pcf_name_unescape(schema_file, strlen(schema_file), schema,
			      sizeof(schema)) < 0)
		return 0;
	int rows;

	if (!file) {
		rows = monitor_ask(c,
				   "SELECT 1 FROM pg_catalog.pg_namespace"
				   " WHERE nspname = $1",
				   1, params, wait_ms);
		return rows < 0 ? -1 : rows > 0;
	}
	flen = strlen(file);
	if (flen <= 4 || pcf_name_unescape(file, flen - 4, table,
					   sizeof(table)) < 0)
		return 0;
	rows = monitor_ask(c,
			       "SELECT 1 FROM pg_catalog.pg_class c"
			       " JOIN pg_catalog.pg_namespace n"
			       "  ON n.oid = c.relnamespace"
			       " WHERE n.nspname = $1 AND c.relname = $2"
			       "  AND c.relkind IN ('r', 'p', 'f')",
			       2, params, wait_ms);
	return rows < 0 ? -1 : rows > 0;
}

/*
 * The negative cache: a name the server said is missing stays missing for
 * the tree's refresh period (CATALOG_TTL_MS), so asking again costs
 * nothing; a table created outside the mount shows within that bound, as
 * in ls. A tree read since that has the name ends the answer, but only
 * NEG_GRACE_MS after that read: the stat that said "missing" and the
 * O_EXCL open right after it (cp) must agree whichever side of a refresh
 * they fall, and an O_CREAT open asks the server anyway (fresh).
 */
static int neg_says_missing(struct pcf_catalog *c,
			    const struct pcf_snapshot *sn, const char *dir,
			    const char *name, int in_tree)
{
	long age;

	pthread_mutex_lock(&c->neg_lock);
	age = pcf_negcache_age(c->neg, dir, name, pcf_now_ms());
	if (age >= 0 && in_tree && pcf_ms_since(&sn->fetched) >= NEG_GRACE_MS) {
		pcf_negcache_drop(c->neg, dir, name);
		age = -1;
	}
	pthread_mutex_unlock(&c->neg_lock);
	return age >= 0;
}

static void neg_set(struct pcf_catalog *c, const char *dir,
		    const char *name, int missing)
{
	pthread_mutex_lock(&c->neg_lock);
	if (missing)
		pcf_negcache_add(c->neg, dir, name, pcf_now_ms());
	else
		pcf_negcache_drop(c->neg, dir, name);
	pthread_mutex_unlock(&c->neg_lock);
}

/* The tree as it is, or its next read when the probe's answer is pr (1
 * yes, -1 unknown), waiting at most wait_ms for it. */
static struct pcf_snapshot *after_probe(struct pcf_catalog *c,
					struct pcf_snapshot *sn, int pr,
					long wait_ms)
{
	if (pr == 0)
		return sn;
	snapshot_put(sn);
	return snapshot_get(c, 0, wait_ms);
}

int pcf_catalog_has_schema(struct pcf_catalog *c, const char *schema_file)
{
	struct pcf_snapshot *sn =
		snapshot_get(c, CATALOG_TTL_MS, REFRESH_WAIT_MS);
	int found = find_schema(sn, schema_file);

	if (c->running && neg_says_missing(c, sn, schema_file, NULL, found)) {
		found = 0;
	} else if (!found && c->running) {
		/* A stat of a directory (ls, cd): never long. */
		int pr = probe(c, schema_file, NULL, PROBE_WAIT_MS);

		sn = after_probe(c, sn, pr, pr > 0 ? FOUND_WAIT_MS
						   : REFRESH_WAIT_MS);
		found = find_schema(sn, schema_file);
		if (pr == 0)
			neg_set(c, schema_file, NULL, 1);
	}
	snapshot_put(sn);
	return found ? 0 : -ENOENT;
}

int pcf_catalog_lookup(struct pcf_catalog *c, const char *schema_file,
		       const char *file, int fresh, struct pcf_table_info *info)
{
	struct pcf_snapshot *sn =
		snapshot_get(c, CATALOG_TTL_MS, REFRESH_WAIT_MS);
	const struct pcf_table *t = find_table(sn, schema_file, file);
	int rc = 0;

	if (c->running && !fresh &&
	    neg_says_missing(c, sn, schema_file, file, t != NULL)) {
		t = NULL; /* answered a moment ago: no question */
	} else if (!t && c->running) {
		/* An O_CREAT open (fresh), which needs the server anyway, may
		 * wait for a table created a moment ago; a stat only briefly. */
		long wait = fresh ? FOUND_WAIT_MS : PROBE_WAIT_MS;
		int pr = probe(c, schema_file, file, wait);

		sn = after_probe(c, sn, pr, pr > 0 ? FOUND_WAIT_MS : wait);
		t = find_table(sn, schema_file, file);
		if (pr == 0 || (fresh && t))
			neg_set(c, schema_file, file, pr == 0);
	} else if (t && fresh) {
		neg_set(c, schema_file, file, 0);
	}
	if (!t) {
		rc = -ENOENT;
	} else if (info) {
		info->schema = strdup(t->schema);
		info->name = strdup(t->name);
		info->relkind = t->relkind;
		info->can_insert = t->can_insert;
		info->can_truncate = t->can_truncate;
		info->can_select = t->can_select;
		info->read_only = sn->read_only;
		if (!info->schema || !info->name) {
			pcf_table_info_free(info);
			rc = -ENOMEM;
		}
	}
	snapshot_put(sn);
	return rc;
}

void pcf_table_info_free(struct pcf_table_info *info)
{
	free(info->schema);
	free(info->name);
	info->schema = info->name = NULL;
}

int pcf_catalog_list(struct pcf_catalog *c, const char *schema_file,
		     pcf_fill_fn fill, void *ctx)
{
	struct pcf_snapshot *sn =
		snapshot_get(c, CATALOG_TTL_MS, REFRESH_WAIT_MS);
	int rc = 0;

	if (!schema_file) {
		for (size_t i = 0; i < sn->nschemas; i++)
			if (fill(ctx, sn->schemas[i]))
				break;
	} else if (!find_schema(sn, schema_file)) {
		rc = -ENOENT;
	} else {
		for (size_t i = 0; i < sn->ntables; i++) {
			const struct pcf_table *t = &sn->tables[i];

			if (strcmp(t->schema_file, schema_file) == 0 &&
			    fill(ctx, t->file))
				break;
		}
	}
	snapshot_put(sn);
	return rc;
}

/*
 * One question on the monitor connection, never the catalog's, waiting at
 * most wait_ms: a pooler with every slot taken or a stalled server makes
 * the answer unknown (-1), and the caller goes on without it. Callers take
 * turns; one that finds the monitor busy gets -1 at once. Else the number
 * of rows.
 */
static int monitor_ask(struct pcf_catalog *c, const char *sql, int nparams,
		       const char *const *params, long wait_ms)
{
	struct pcf_error e;
	PGresult *r;
	int rows = -1, gave_up = 0;
	struct timespec t0;

	if (pthread_mutex_trylock(&c->mon_lock) != 0)
		return -1;
	if (connect_backoff(c->opts, "pgcopyfs monitor", &c->mon,
			    &c->mon_failed, &e) != 0)
		goto out;
	PQsetnonblocking(c->mon, 1);
	if (!PQsendQueryParams(c->mon, sql, nparams, NULL, params, NULL, NULL,
			       0)) {
		gave_up = 1;
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd pfd = { .fd = PQsocket(c->mon),
				      .events = POLLIN };
		long left = wait_ms - pcf_ms_since(&t0);

		if (PQflush(c->mon) == 1)
			pfd.events |= POLLOUT;
		if (!PQconsumeInput(c->mon)) {
			gave_up = 1;
			break;
		}
		if (!PQisBusy(c->mon)) {
			while ((r = PQgetResult(c->mon)) != NULL) {
				if (PQresultStatus(r) == PGRES_TUPLES_OK)
					rows = PQntuples(r);
				PQclear(r);
			}
			break;
		}
		if (left <= 0) {
			gave_up = 1;
			break;
		}
		poll(&pfd, 1, (int)left);
	}
out:
	if (gave_up) {
		/* Its answer would come into a later question: start over. */
		PQfinish(c->mon);
		c->mon = NULL;
		clock_gettime(CLOCK_MONOTONIC, &c->mon_failed);
	}
	pthread_mutex_unlock(&c->mon_lock);
	return rows;
}

int pcf_catalog_backend_failed(struct pcf_catalog *c, int pid)
{
	char pidtext[16];
	const char *params[1] = { pidtext };

	snprintf(pidtext, sizeof(pidtext), "%d", pid);
	return monitor_ask(c,
			   "SELECT 1 FROM pg_catalog.pg_stat_activity"
			   " WHERE pid = $1::int"
			   " AND state = 'idle in transaction (aborted)'",
			   1, params, MONITOR_WAIT_MS) == 1;
}
