/*
 * catalog.c - the tree the mount shows, read from pg_class.
 *
 * The daemon keeps one connection of its own for this; loads never use it,
 * so a slow COPY cannot hold up ls. The snapshot is replaced whole under
 * the lock; lookups copy out what they need.
 */
#include "catalog.h"

#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CATALOG_TTL_MS 1000
#define RECONNECT_BACKOFF_MS 1000

static const char catalog_sql[] =
	"SELECT n.nspname, c.relname, c.relkind,"
	" CASE WHEN c.oid IS NULL THEN false"
	"  ELSE has_table_privilege(c.oid, 'INSERT') END,"
	" CASE WHEN c.oid IS NULL THEN false"
	"  ELSE has_table_privilege(c.oid, 'TRUNCATE') END"
	" FROM pg_catalog.pg_namespace n"
	" LEFT JOIN pg_catalog.pg_class c"
	"  ON c.relnamespace = n.oid AND c.relkind IN ('r', 'p')"
	" WHERE n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'"
	"  AND has_schema_privilege(n.oid, 'USAGE')";

static long ms_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->tv_sec) * 1000 +
	       (now.tv_nsec - t->tv_nsec) / 1000000;
}

static char *escaped(const char *name, const char *suffix)
{
	char buf[1024];
	ssize_t n = pcf_name_escape(name, buf, sizeof(buf) - 8);

	if (n < 0)
		return NULL;
	strcat(buf, suffix);
	return strdup(buf);
}

static void free_snapshot(struct pcf_table *t, size_t nt, char **s, size_t ns)
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

/* Makes sure c->conn is usable; reconnects at most once a second. */
static int catalog_connect(struct pcf_catalog *c, struct pcf_error *e)
{
	if (c->conn && PQstatus(c->conn) == CONNECTION_OK)
		return 0;
	if (c->failed.tv_sec && ms_since(&c->failed) < RECONNECT_BACKOFF_MS) {
		pcf_error_set(e, ECONNREFUSED, "server unreachable (retrying)");
		return -ECONNREFUSED;
	}
	PQfinish(c->conn);
	c->conn = pcf_connect(c->opts, e);
	if (!c->conn) {
		clock_gettime(CLOCK_MONOTONIC, &c->failed);
		return -e->err;
	}
	c->failed.tv_sec = 0;
	return 0;
}

/* Reads the tree into a new snapshot. Needs the lock; reports nothing. */
static int catalog_fetch(struct pcf_catalog *c, struct pcf_error *e)
{
	PGresult *r = NULL;
	struct pcf_table *t = NULL;
	char **s = NULL;
	size_t nt = 0, ns = 0;
	int rows, rc;

	for (int attempt = 0; attempt < 2; attempt++) {
		rc = catalog_connect(c, e);
		if (rc)
			return rc;
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
	}
	PQclear(r);
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
	free_snapshot(c->tables, c->ntables, c->schemas, c->nschemas);
	c->tables = t;
	c->ntables = nt;
	c->schemas = s;
	c->nschemas = ns;
	clock_gettime(CLOCK_MONOTONIC, &c->fetched);
	return 0;
nomem:
	PQclear(r);
	free_snapshot(t, nt, s, ns);
	pcf_error_set(e, ENOMEM, "out of memory reading the catalog");
	return -ENOMEM;
}

/* Refreshes a stale snapshot; on failure keeps the old one and logs. */
static void catalog_refresh(struct pcf_catalog *c, int force)
{
	struct pcf_error e;

	if (!force && ms_since(&c->fetched) < CATALOG_TTL_MS)
		return;
	if (catalog_fetch(c, &e) != 0)
		pcf_warn("cannot refresh the table list: %s\n", e.message);
}

int pcf_catalog_open(struct pcf_catalog *c, const struct pcf_options *o,
		     struct pcf_error *e)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	c->opts = o;
	return catalog_fetch(c, e);
}

void pcf_catalog_close(struct pcf_catalog *c)
{
	free_snapshot(c->tables, c->ntables, c->schemas, c->nschemas);
	PQfinish(c->conn);
	pthread_mutex_destroy(&c->lock);
	memset(c, 0, sizeof(*c));
}

void pcf_catalog_describe(struct pcf_catalog *c, char *out, size_t len)
{
	const char *host, *port;

	pthread_mutex_lock(&c->lock);
	host = PQhost(c->conn);
	port = PQport(c->conn);
	snprintf(out, len, "%s@%s:%s/%s", PQuser(c->conn),
		 host && *host ? host : "localhost", port && *port ? port : "",
		 PQdb(c->conn));
	pthread_mutex_unlock(&c->lock);
}

static const struct pcf_table *find_table(struct pcf_catalog *c,
					  const char *schema_file,
					  const char *file)
{
	struct pcf_table key = { .schema_file = (char *)schema_file,
				 .file = (char *)file };

	return bsearch(&key, c->tables, c->ntables, sizeof(key), table_cmp);
}

static int find_schema(struct pcf_catalog *c, const char *schema_file)
{
	return bsearch(&schema_file, c->schemas, c->nschemas, sizeof(char *),
		       str_cmp) != NULL;
}

int pcf_catalog_has_schema(struct pcf_catalog *c, const char *schema_file)
{
	int found;

	pthread_mutex_lock(&c->lock);
	catalog_refresh(c, 0);
	found = find_schema(c, schema_file);
	if (!found) {
		catalog_refresh(c, 1);
		found = find_schema(c, schema_file);
	}
	pthread_mutex_unlock(&c->lock);
	return found ? 0 : -ENOENT;
}

int pcf_catalog_lookup(struct pcf_catalog *c, const char *schema_file,
		       const char *file, int fresh, struct pcf_table_info *info)
{
	const struct pcf_table *t;
	int rc = 0;

	pthread_mutex_lock(&c->lock);
	catalog_refresh(c, 0);
	t = find_table(c, schema_file, file);
	if (!t && fresh) {
		catalog_refresh(c, 1);
		t = find_table(c, schema_file, file);
	}
	if (!t) {
		rc = -ENOENT;
	} else if (info) {
		info->schema = strdup(t->schema);
		info->name = strdup(t->name);
		info->relkind = t->relkind;
		info->can_insert = t->can_insert;
		info->can_truncate = t->can_truncate;
		if (!info->schema || !info->name) {
			pcf_table_info_free(info);
			rc = -ENOMEM;
		}
	}
	pthread_mutex_unlock(&c->lock);
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
	int rc = 0;

	pthread_mutex_lock(&c->lock);
	catalog_refresh(c, 0);
	if (!schema_file) {
		for (size_t i = 0; i < c->nschemas; i++)
			if (fill(ctx, c->schemas[i]))
				break;
	} else if (!find_schema(c, schema_file)) {
		rc = -ENOENT;
	} else {
		for (size_t i = 0; i < c->ntables; i++) {
			const struct pcf_table *t = &c->tables[i];

			if (strcmp(t->schema_file, schema_file) == 0 &&
			    fill(ctx, t->file))
				break;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int pcf_catalog_backend_failed(struct pcf_catalog *c, int pid)
{
	char pidtext[16];
	const char *params[1] = { pidtext };
	struct pcf_error e;
	PGresult *r;
	int failed = 0;

	snprintf(pidtext, sizeof(pidtext), "%d", pid);
	pthread_mutex_lock(&c->lock);
	if (catalog_connect(c, &e) == 0) {
		r = PQexecParams(c->conn,
				 "SELECT 1 FROM pg_catalog.pg_stat_activity"
				 " WHERE pid = $1::int"
				 " AND state = 'idle in transaction (aborted)'",
				 1, NULL, params, NULL, NULL, 0);
		failed = PQresultStatus(r) == PGRES_TUPLES_OK &&
			 PQntuples(r) == 1;
		PQclear(r);
	}
	pthread_mutex_unlock(&c->lock);
	return failed;
}
