/*
 * status.c - the history ring, the last error of each table, and the text
 * of the status files.
 *
 * A record is rendered either as logfmt (key=value pairs separated by
 * spaces; values with spaces, quotes, '=' or '\' in double quotes with \"
 * and \\ escapes) or as a JSON object, one a line. Files are rendered when
 * opened, so one read sees one snapshot.
 */
#include "status.h"

#include "staged.h"

#include "log.h"
#include "registry.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A finished load, as kept in the history and the errors tree. */
struct pcf_record {
	uint64_t id;
	struct timespec started;
	double secs;
	char table[300];       /* schema.table, for people and grep */
	char schema_file[256]; /* escaped names, for errors/<schema>/<file> */
	char file[260];
	pid_t pid;
	uid_t uid;             /* the writer's: who may see this record */
	char cmd[256];
	uint64_t rows;
	uint64_t file_rows;
	uint64_t bin_rows, csv_rows; /* how the file's rows went (convert.c) */
	char convert_why[160];  /* why none went as binary */
	uint64_t bytes;
	char outcome[16];
	int err;
	char sqlstate[6];
	char message[1024];
	char via[520];         /* a drop folder's file: its path in the mount */
	int ckpt;              /* -o checkpoint: the counts below mean something */
	uint64_t committed;    /* rows the load has committed in all */
	uint64_t pending;      /* rows it took that no COMMIT kept */
	unsigned checkpoints;
};

#define MAX_TABLE_ERRORS 10000

static pthread_mutex_t status_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pcf_record *ring;
static size_t ring_cap, ring_next, ring_count;
static struct pcf_record *errors; /* the last failure of each table */
static size_t nerrors, errors_cap;

void pcf_status_init(int history_len)
{
	ring_cap = history_len > 0 ? (size_t)history_len : 0;
	ring = ring_cap ? calloc(ring_cap, sizeof(*ring)) : NULL;
	if (!ring)
		ring_cap = 0;
}

void pcf_status_free(void)
{
	free(ring);
	free(errors);
	ring = errors = NULL;
	ring_cap = ring_count = ring_next = nerrors = errors_cap = 0;
}

/* A growing text buffer; on allocation failure it stops growing (oom). */
struct text {
	char *s;
	size_t len, cap;
	int oom;
	int json;   /* render records as JSON objects, else logfmt */
	long viewer; /* only records of this uid; -1: all */
	int fields; /* fields so far in the current record */
};

static void put(struct text *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		size_t room = t->cap - t->len;

		va_start(ap, fmt);
		n = vsnprintf(t->s ? t->s + t->len : NULL, t->s ? room : 0, fmt,
			      ap);
		va_end(ap);
		if (n < 0 || t->oom)
			return;
		if (t->s && (size_t)n < room) {
			t->len += (size_t)n;
			return;
		}
		size_t cap = t->cap ? t->cap * 2 : 4096;

		while (cap < t->len + (size_t)n + 1)
			cap *= 2;
		char *s = realloc(t->s, cap);

		if (!s) {
			t->oom = 1;
			return;
		}
		t->s = s;
		t->cap = cap;
	}
}

static void rec_begin(struct text *t)
{
	t->fields = 0;
	if (t->json)
		put(t, "{");
}

static void rec_end(struct text *t)
{
	put(t, "%s\n", t->json ? "}" : "");
}

static void key(struct text *t, const char *k)
{
	if (t->json)
		put(t, "%s\"%s\":", t->fields ? "," : "", k);
	else
		put(t, "%s%s=", t->fields ? " " : "", k);
	t->fields++;
}

/* A string value, quoted and escaped for the format: whatever bytes a
 * table name, a command line or a message holds, the record stays one
 * line, and the JSON valid (escape.c). */
static void put_str(struct text *t, const char *k, const char *v)
{
	size_t len = strlen(v);
	char small[1024], *esc = small;
	size_t need = pcf_escape(small, sizeof(small), v, len,
				 t->json ? PCF_ESC_JSON : PCF_ESC_LOGFMT);
	int quote = t->json || len == 0 || need != len ||
		    strpbrk(v, " \"=\\") != NULL;

	if (need >= sizeof(small) && (esc = malloc(need + 1)) != NULL)
		pcf_escape(esc, need + 1, v, len,
			   t->json ? PCF_ESC_JSON : PCF_ESC_LOGFMT);
	if (!esc)
		esc = small; /* cut, but escaped */
	key(t, k);
	put(t, quote ? "\"%s\"" : "%s", esc);
	if (esc != small)
		free(esc);
}

/* A number, written as it is in both formats. */
static void put_num(struct text *t, const char *k, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void put_num(struct text *t, const char *k, const char *fmt, ...)
{
	char buf[64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	key(t, k);
	put(t, "%s", buf);
}

static void put_time(struct text *t, const char *k, struct timespec ts)
{
	struct tm tm;
	char buf[32];

	gmtime_r(&ts.tv_sec, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	put_str(t, k, buf);
}

static double secs_since(const struct timespec *mono)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - mono->tv_sec) +
	       (double)(now.tv_nsec - mono->tv_nsec) / 1e9;
}

static const char *errno_name(int err)
{
	const char *n = err ? strerrorname_np(err) : NULL;

	return n ? n : "0";
}

/* Keeps r as its table's last error, replacing an older one. */
static void remember_error(const struct pcf_record *r)
{
	size_t i = 0;

	while (i < nerrors && (strcmp(errors[i].schema_file, r->schema_file) ||
			       strcmp(errors[i].file, r->file)))
		i++;
	if (i == nerrors) {
		if (nerrors == errors_cap) {
			size_t cap = errors_cap ? errors_cap * 2 : 16;
			struct pcf_record *e;

			if (cap > MAX_TABLE_ERRORS)
				return;
			e = realloc(errors, cap * sizeof(*e));
			if (!e)
				return;
			errors = e;
			errors_cap = cap;
		}
		nerrors++;
	}
	errors[i] = *r;
}

/* The file's rows by how they went: a load the binary stage never ran
 * sent every row as the file has it. */
static void rows_by_format(struct pcf_load *l, uint64_t *bin, uint64_t *csv)
{
	*bin = atomic_load(&l->bin_rows);
	*csv = l->conv ? atomic_load(&l->csv_rows)
		       : atomic_load(&l->file_rows);
}

static void put_rows_by_format(struct text *t, uint64_t bin, uint64_t csv,
			       const char *why)
{
	put_num(t, "binary_rows", "%llu", (unsigned long long)bin);
	put_num(t, "csv_rows", "%llu", (unsigned long long)csv);
	if (why && why[0])
		put_str(t, "not_binary", why);
}

void pcf_status_record(struct pcf_load *l, const char *outcome)
{
	struct pcf_record r = { 0 };
	/* "unknown": a COMMIT whose answer was lost, and nobody could tell. */
	int unknown = strcmp(outcome, "unknown") == 0;
	int failed = unknown || strcmp(outcome, "failed") == 0;

	r.id = l->id;
	r.started = l->started;
	r.secs = secs_since(&l->mono);
	snprintf(r.table, sizeof(r.table), "%s", l->label);
	if (pcf_name_escape(l->table.schema, r.schema_file,
			    sizeof(r.schema_file)) < 0 ||
	    pcf_name_escape(l->table.name, r.file, sizeof(r.file) - 4) < 0)
		r.schema_file[0] = r.file[0] = '\0';
	else
		strcat(r.file, ".csv");
	r.pid = l->writer_pid;
	r.uid = l->writer_uid;
	/* Which file of a drop folder it was (the table's own file goes
	 * without saying). */
	{
		char own[600];

		snprintf(own, sizeof(own), "/%s/%s", r.schema_file, r.file);
		if (l->rel_path && strcmp(l->rel_path, own) != 0)
			snprintf(r.via, sizeof(r.via), "%s", l->rel_path);
	}
	snprintf(r.cmd, sizeof(r.cmd), "%s", l->writer_cmd);
	r.rows = failed && !unknown ? 0 : atomic_load(&l->rows);
	r.file_rows = atomic_load(&l->file_rows);
	rows_by_format(l, &r.bin_rows, &r.csv_rows);
	if (!l->conv)
		snprintf(r.convert_why, sizeof(r.convert_why), "%s",
			 l->convert_why);
	r.bytes = atomic_load(&l->bytes);
	snprintf(r.outcome, sizeof(r.outcome), "%s", outcome);
	if (l->ckpt.on) {
		uint64_t base = atomic_load(&l->ckpt.base_rows);

		r.ckpt = 1;
		r.checkpoints = atomic_load(&l->ckpt.count);
		r.committed = atomic_load(&l->ckpt.committed) +
			      (strcmp(outcome, "committed") == 0 ? r.rows : 0);
		r.pending = failed && r.file_rows > base ? r.file_rows - base : 0;
	}
	if (l->notices > 3)
		pcf_warn("load %llu of %s: %lu notices from the server in all "
			 "(the first 3 logged)\n",
			 (unsigned long long)l->id, l->label, l->notices);
	if (failed) {
		r.err = l->error.err;
		memcpy(r.sqlstate, l->error.sqlstate, sizeof(r.sqlstate));
		snprintf(r.message, sizeof(r.message), "%s", l->error.message);
		pcf_err("load %llu of %s by pid %d (%s) %s after "
			"%.3f s: %s: %s\n",
			(unsigned long long)r.id, r.table, (int)r.pid, r.cmd,
			unknown ? "ended in doubt" : "rolled back", r.secs,
			errno_name(r.err), r.message);
	} else {
		pcf_debug("load %llu of %s by pid %d: %s, %llu rows, %llu "
			  "bytes in %.3f s\n",
			  (unsigned long long)r.id, r.table, (int)r.pid, outcome,
			  (unsigned long long)r.rows,
			  (unsigned long long)r.bytes, r.secs);
	}
	pthread_mutex_lock(&status_lock);
	if (ring_cap) {
		ring[ring_next] = r;
		ring_next = (ring_next + 1) % ring_cap;
		if (ring_count < ring_cap)
			ring_count++;
	}
	if (failed && r.file[0])
		remember_error(&r);
	pthread_mutex_unlock(&status_lock);
}

static const char *const state_names[] = {
	[PCF_LOAD_WAITING] = "waiting",   [PCF_LOAD_COPYING] = "copying",
	[PCF_LOAD_CLOSING] = "closing",
	[PCF_LOAD_COMMITTED] = "committed", [PCF_LOAD_FAILED] = "failed",
	[PCF_LOAD_EMPTY] = "empty",
};

/* Under allow_other, a user sees the loads of their own processes only:
 * failing values and command lines (a --password=...) are theirs. */
static int visible(const struct text *t, uid_t uid)
{
	return t->viewer < 0 || (uid_t)t->viewer == uid;
}

static void render_live(struct pcf_load *l, void *ctx)
{
	struct text *t = ctx;
	double secs = secs_since(&l->mono);
	uint64_t rows = atomic_load(&l->rows), bytes = atomic_load(&l->bytes);

	if (!visible(t, l->writer_uid))
		return;
	rec_begin(t);
	put_num(t, "id", "%llu", (unsigned long long)l->id);
	put_time(t, "started", l->started);
	put_str(t, "table", l->label);
	put_str(t, "state", state_names[atomic_load(&l->state)]);
	put_num(t, "pid", "%d", (int)l->writer_pid);
	put_str(t, "cmd", l->writer_cmd);
	put_num(t, "rows", "%llu", (unsigned long long)rows);
	put_num(t, "bytes", "%llu", (unsigned long long)bytes);
	put_num(t, "secs", "%.1f", secs);
	put_num(t, "rows_per_sec", "%.0f", secs > 0 ? rows / secs : 0.0);
	put_num(t, "mb_per_sec", "%.2f", secs > 0 ? bytes / secs / 1e6 : 0.0);
	{
		uint64_t bin, csv;

		rows_by_format(l, &bin, &csv);
		put_rows_by_format(t, bin, csv, l->conv ? NULL : l->convert_why);
	}
	if (l->ckpt.on) {
		uint64_t file = atomic_load(&l->file_rows);
		uint64_t base = atomic_load(&l->ckpt.base_rows);
		int64_t last = atomic_load(&l->ckpt.last_wall);

		put_num(t, "committed", "%llu",
			(unsigned long long)atomic_load(&l->ckpt.committed));
		put_num(t, "pending", "%llu",
			(unsigned long long)(file > base ? file - base : 0));
		put_num(t, "checkpoints", "%u", atomic_load(&l->ckpt.count));
		if (last)
			put_time(t, "last_checkpoint",
				 (struct timespec){ .tv_sec = (time_t)last });
		else
			put_str(t, "last_checkpoint", "none");
	}
	rec_end(t);
}

/* The staged files: where, how big, whose (staged.h). */
static void render_staged(void *ctx, const struct pcf_staged_info *i)
{
	struct text *t = ctx;
	char path[600];

	if (!visible(t, i->uid))
		return;
	snprintf(path, sizeof(path), "%s/%s", i->dir, i->name);
	rec_begin(t);
	put_str(t, "path", path);
	put_num(t, "bytes", "%llu", (unsigned long long)i->bytes);
	put_num(t, "uid", "%u", (unsigned)i->uid);
	put_num(t, "pid", "%d", (int)i->creator);
	put_num(t, "mode", "%04o", (unsigned)i->mode);
	put_time(t, "modified", (struct timespec){ .tv_sec = i->mtime });
	rec_end(t);
}

static void render_record(struct text *t, const struct pcf_record *r)
{
	rec_begin(t);
	put_num(t, "id", "%llu", (unsigned long long)r->id);
	put_time(t, "started", r->started);
	put_str(t, "table", r->table);
	put_str(t, "outcome", r->outcome);
	put_num(t, "pid", "%d", (int)r->pid);
	put_str(t, "cmd", r->cmd);
	put_num(t, "rows", "%llu", (unsigned long long)r->rows);
	put_num(t, "file_rows", "%llu", (unsigned long long)r->file_rows);
	put_rows_by_format(t, r->bin_rows, r->csv_rows, r->convert_why);
	put_num(t, "bytes", "%llu", (unsigned long long)r->bytes);
	put_num(t, "secs", "%.3f", r->secs);
	if (r->ckpt) {
		put_num(t, "committed", "%llu", (unsigned long long)r->committed);
		put_num(t, "pending", "%llu", (unsigned long long)r->pending);
		put_num(t, "checkpoints", "%u", r->checkpoints);
	}
	if (r->err) {
		put_str(t, "errno", errno_name(r->err));
		if (r->sqlstate[0])
			put_str(t, "sqlstate", r->sqlstate);
		put_str(t, "error", r->message);
	}
	if (r->via[0])
		put_str(t, "file", r->via);
	rec_end(t);
}

/* Splits "/errors/<schema>[/<file>]" into its parts; 0 or -ENOENT. */
static int errors_path(const char *rel, char *schema, char *file)
{
	const char *p = rel + strlen("/errors"), *slash;

	schema[0] = file[0] = '\0';
	if (*p == '\0')
		return 0;
	if (*p++ != '/' || !*p)
		return -ENOENT;
	slash = strchr(p, '/');
	if (!slash) {
		snprintf(schema, 256, "%s", p);
		return 0;
	}
	if ((size_t)(slash - p) >= 256 || strchr(slash + 1, '/') ||
	    !slash[1] || strlen(slash + 1) >= 260)
		return -ENOENT;
	memcpy(schema, p, (size_t)(slash - p));
	schema[slash - p] = '\0';
	strcpy(file, slash + 1);
	return 0;
}

/* The last error of one table (needs status_lock), or NULL. */
static const struct pcf_record *find_error(const char *schema,
					   const char *file)
{
	for (size_t i = 0; i < nerrors; i++)
		if (strcmp(errors[i].schema_file, schema) == 0 &&
		    (!*file || strcmp(errors[i].file, file) == 0))
			return &errors[i];
	return NULL;
}

static const char *const flat_files[] = { "loads", "loads.jsonl", "history",
					  "history.jsonl", "staged" };
#define NFLAT (sizeof(flat_files) / sizeof(flat_files[0]))

int pcf_status_committed_since(pid_t pid, const char *table, uint64_t min_id)
{
	int found = 0;

	pthread_mutex_lock(&status_lock);
	for (size_t i = 0; i < ring_count && !found; i++) {
		const struct pcf_record *r =
			&ring[(ring_next + ring_cap - ring_count + i) % ring_cap];

		found = r->id >= min_id && r->pid == pid &&
			strcmp(r->outcome, "committed") == 0 &&
			strcmp(r->table, table) == 0;
	}
	pthread_mutex_unlock(&status_lock);
	return found;
}

int pcf_status_kind(const char *rel)
{
	char schema[256], file[260];
	int found;

	if (*rel == '\0')
		return 1;
	for (size_t i = 0; i < NFLAT; i++)
		if (strcmp(rel + 1, flat_files[i]) == 0)
			return 0;
	if (strncmp(rel, "/errors", 7) != 0 || (rel[7] && rel[7] != '/') ||
	    errors_path(rel, schema, file) != 0)
		return -ENOENT;
	if (!schema[0])
		return 1;
	pthread_mutex_lock(&status_lock);
	found = find_error(schema, file) != NULL;
	pthread_mutex_unlock(&status_lock);
	return found ? (file[0] ? 0 : 1) : -ENOENT;
}

int pcf_status_list(const char *rel, long viewer,
		    int (*fill)(void *ctx, const char *name), void *ctx)
{
	struct text vt = { .viewer = viewer };
	char schema[256], file[260];
	int kind = pcf_status_kind(rel);

	if (kind < 0)
		return kind;
	if (kind == 0)
		return -ENOTDIR;
	if (*rel == '\0') {
		for (size_t i = 0; i < NFLAT; i++)
			fill(ctx, flat_files[i]);
		fill(ctx, "errors");
		return 0;
	}
	errors_path(rel, schema, file);
	pthread_mutex_lock(&status_lock);
	for (size_t i = 0; i < nerrors; i++) {
		const struct pcf_record *e = &errors[i];
		int seen = 0;

		if (!visible(&vt, e->uid))
			continue;
		if (schema[0]) {
			if (strcmp(e->schema_file, schema) == 0 &&
			    fill(ctx, e->file))
				break;
			continue;
		}
		/* Each schema once. */
		for (size_t k = 0; k < i && !seen; k++)
			seen = visible(&vt, errors[k].uid) &&
			       strcmp(errors[k].schema_file, e->schema_file) == 0;
		if (!seen && fill(ctx, e->schema_file))
			break;
	}
	pthread_mutex_unlock(&status_lock);
	return 0;
}

char *pcf_status_render(const char *rel, long viewer, size_t *len, int *err)
{
	struct text t = { .viewer = viewer };
	const char *name = rel + (*rel == '/');
	char schema[256], file[260];

	t.json = strstr(name, ".jsonl") != NULL;
	put(&t, "%s", "");
	if (strncmp(name, "loads", 5) == 0) {
		pcf_registry_each(render_live, &t);
	} else if (strcmp(name, "staged") == 0) {
		pcf_staged_each(render_staged, &t);
	} else if (strncmp(name, "history", 7) == 0) {
		pthread_mutex_lock(&status_lock);
		for (size_t i = 0; i < ring_count; i++) {
			const struct pcf_record *r =
				&ring[(ring_next + ring_cap - ring_count + i) %
				      ring_cap];

			if (visible(&t, r->uid))
				render_record(&t, r);
		}
		pthread_mutex_unlock(&status_lock);
	} else if (pcf_status_kind(rel) == 0 &&
		   errors_path(rel, schema, file) == 0) {
		const struct pcf_record *e;

		pthread_mutex_lock(&status_lock);
		e = find_error(schema, file);
		if (e && visible(&t, e->uid))
			render_record(&t, e);
		else
			*err = ENOENT;
		pthread_mutex_unlock(&status_lock);
		if (*err) {
			free(t.s);
			return NULL;
		}
	} else {
		free(t.s);
		*err = ENOENT;
		return NULL;
	}
	if (t.oom) {
		free(t.s);
		*err = ENOMEM;
		return NULL;
	}
	*len = t.len;
	return t.s;
}
