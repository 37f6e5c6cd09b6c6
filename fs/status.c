/*
 * status.c - history ring and the text of the status files.
 *
 * Records are logfmt: key=value pairs separated by spaces, values with
 * spaces or quotes written in double quotes with \" and \\ escapes. They are
 * rendered when a status file is opened, so one read sees one snapshot.
 */
#include "status.h"

#include "log.h"
#include "registry.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pcf_record {
	uint64_t id;
	struct timespec started;
	double secs;
	char table[300];
	pid_t pid;
	char cmd[256];
	uint64_t rows;
	uint64_t bytes;
	char outcome[16];
	int err;
	char sqlstate[6];
	char message[1024];
};

static pthread_mutex_t status_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pcf_record *ring;
static size_t ring_cap, ring_next, ring_count;

static const char *const status_files[] = { "loads", "history" };

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
	ring = NULL;
	ring_cap = ring_count = ring_next = 0;
}

/* A growing text buffer; on allocation failure it stops growing (oom). */
struct text {
	char *s;
	size_t len, cap;
	int oom;
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

/* Writes key=value, quoting the value when it needs it. */
static void put_kv(struct text *t, const char *key, const char *v)
{
	int quote = *v == '\0' || strpbrk(v, " \"=\\") != NULL;

	put(t, " %s=", key);
	if (!quote) {
		put(t, "%s", v);
		return;
	}
	put(t, "\"");
	for (const char *p = v; *p; p++)
		put(t, "%s%c", (*p == '"' || *p == '\\') ? "\\" : "", *p);
	put(t, "\"");
}

static void put_time(struct text *t, const char *key, struct timespec ts)
{
	struct tm tm;
	char buf[32];

	gmtime_r(&ts.tv_sec, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	put(t, " %s=%s", key, buf);
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

void pcf_status_record(struct pcf_load *l, const char *outcome)
{
	struct pcf_record r = { 0 };
	int failed = strcmp(outcome, "failed") == 0;

	r.id = l->id;
	r.started = l->started;
	r.secs = secs_since(&l->mono);
	snprintf(r.table, sizeof(r.table), "%s", l->label);
	r.pid = l->writer_pid;
	snprintf(r.cmd, sizeof(r.cmd), "%s", l->writer_cmd);
	r.rows = failed ? 0 : atomic_load(&l->rows);
	r.bytes = atomic_load(&l->bytes);
	snprintf(r.outcome, sizeof(r.outcome), "%s", outcome);
	if (failed) {
		r.err = l->error.err;
		memcpy(r.sqlstate, l->error.sqlstate, sizeof(r.sqlstate));
		snprintf(r.message, sizeof(r.message), "%s", l->error.message);
		pcf_err("load %llu of %s by pid %d (%s) failed: %s: %s\n",
			(unsigned long long)r.id, r.table, (int)r.pid, r.cmd,
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
	pthread_mutex_unlock(&status_lock);
}

int pcf_status_exists(const char *name)
{
	for (size_t i = 0; i < sizeof(status_files) / sizeof(*status_files);
	     i++)
		if (strcmp(name, status_files[i]) == 0)
			return 1;
	return 0;
}

void pcf_status_list(int (*fill)(void *ctx, const char *name), void *ctx)
{
	for (size_t i = 0; i < sizeof(status_files) / sizeof(*status_files);
	     i++)
		if (fill(ctx, status_files[i]))
			return;
}

static const char *const state_names[] = {
	[PCF_LOAD_WAITING] = "waiting",   [PCF_LOAD_COPYING] = "copying",
	[PCF_LOAD_COMMITTED] = "committed", [PCF_LOAD_FAILED] = "failed",
	[PCF_LOAD_EMPTY] = "empty",
};

static void render_live(struct pcf_load *l, void *ctx)
{
	struct text *t = ctx;
	double secs = secs_since(&l->mono);
	uint64_t rows = atomic_load(&l->rows), bytes = atomic_load(&l->bytes);
	char num[32];

	put(t, "id=%llu", (unsigned long long)l->id);
	put_time(t, "started", l->started);
	put_kv(t, "table", l->label);
	put_kv(t, "state", state_names[atomic_load(&l->state)]);
	put(t, " pid=%d", (int)l->writer_pid);
	put_kv(t, "cmd", l->writer_cmd);
	put(t, " rows=%llu bytes=%llu secs=%.1f", (unsigned long long)rows,
	    (unsigned long long)bytes, secs);
	snprintf(num, sizeof(num), "%.0f", secs > 0 ? rows / secs : 0.0);
	put(t, " rows_per_sec=%s", num);
	snprintf(num, sizeof(num), "%.2f", secs > 0 ? bytes / secs / 1e6 : 0.0);
	put(t, " mb_per_sec=%s\n", num);
}

static void render_record(struct text *t, const struct pcf_record *r)
{
	put(t, "id=%llu", (unsigned long long)r->id);
	put_time(t, "started", r->started);
	put_kv(t, "table", r->table);
	put_kv(t, "outcome", r->outcome);
	put(t, " pid=%d", (int)r->pid);
	put_kv(t, "cmd", r->cmd);
	put(t, " rows=%llu bytes=%llu secs=%.3f", (unsigned long long)r->rows,
	    (unsigned long long)r->bytes, r->secs);
	if (r->err) {
		put(t, " errno=%s", errno_name(r->err));
		if (r->sqlstate[0])
			put(t, " sqlstate=%s", r->sqlstate);
		put_kv(t, "error", r->message);
	}
	put(t, "\n");
}

char *pcf_status_render(const char *name, size_t *len, int *err)
{
	struct text t = { 0 };

	put(&t, "%s", "");
	if (strcmp(name, "loads") == 0) {
		pcf_registry_each(render_live, &t);
	} else if (strcmp(name, "history") == 0) {
		pthread_mutex_lock(&status_lock);
		for (size_t i = 0; i < ring_count; i++) {
			size_t k = (ring_next + ring_cap - ring_count + i) %
				   ring_cap;

			render_record(&t, &ring[k]);
		}
		pthread_mutex_unlock(&status_lock);
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
