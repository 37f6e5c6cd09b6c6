/*
 * calls.c - requests in progress on loads, and the thread that ends those
 * of killed writers (calls.h states the contract).
 */
#include "clock.h"
#include "calls.h"

#include "load.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* lock guards the list, poked, stop and running. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static struct pcf_call *calls;
static int poked, stop, running;
static pthread_t thread;

void pcf_call_enter(struct pcf_call *c, struct pcf_load *l, pid_t tid)
{
	c->l = l;
	c->tid = tid;
	c->aborted = 0;
	c->prev = NULL;
	clock_gettime(CLOCK_MONOTONIC, &c->since);
	pthread_mutex_lock(&lock);
	c->next = calls;
	if (calls)
		calls->prev = c;
	calls = c;
	pthread_mutex_unlock(&lock);
}

void pcf_call_leave(struct pcf_call *c)
{
	pthread_mutex_lock(&lock);
	if (c->prev)
		c->prev->next = c->next;
	else
		calls = c->next;
	if (c->next)
		c->next->prev = c->prev;
	pthread_mutex_unlock(&lock);
}

void pcf_calls_poke(void)
{
	pthread_mutex_lock(&lock);
	poked = 1;
	pthread_cond_signal(&cond);
	pthread_mutex_unlock(&lock);
}

/* The mask of a "SigPnd:" / "ShdPnd:" line has SIGKILL's bit. */
static int kill_bit(const char *line, const char *key)
{
	size_t n = strlen(key);

	if (strncmp(line, key, n) != 0)
		return 0;
	return (strtoull(line + n, NULL, 16) >> (SIGKILL - 1)) & 1;
}

int pcf_task_dying(pid_t tid)
{
	char path[64], buf[2048];
	int fd, dying = 0;
	ssize_t n;

	if (tid <= 0)
		return 0; /* another pid namespace: cannot tell */
	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ESRCH;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	for (char *line = buf; line && *line && !dying;) {
		dying = kill_bit(line, "SigPnd:") || kill_bit(line, "ShdPnd:");
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return dying;
}

static void *calls_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	while (!stop) {
		struct timespec until;
		int look_all;

		if (!poked) {
			until = pcf_clock_in(CLOCK_REALTIME, PCF_CALL_POLL_MS);
			pthread_cond_timedwait(&cond, &lock, &until);
		}
		look_all = poked;
		poked = 0;
		/* Under the lock, so that no call leaves (and no load goes)
		 * while it is looked at; /proc reads are cheap. */
		for (struct pcf_call *c = calls; c && !stop; c = c->next) {
			if (c->aborted ||
			    (!look_all && pcf_ms_since(&c->since) < PCF_CALL_SLOW_MS))
				continue;
			if (!pcf_task_dying(c->tid))
				continue;
			c->aborted = 1;
			pcf_load_abort(c->l, c->tid);
		}
	}
	pthread_mutex_unlock(&lock);
	return NULL;
}

int pcf_calls_start(void)
{
	pthread_mutex_lock(&lock);
	stop = 0;
	pthread_mutex_unlock(&lock);
	if (pthread_create(&thread, NULL, calls_main, NULL) != 0)
		return -1;
	pthread_mutex_lock(&lock);
	running = 1;
	pthread_mutex_unlock(&lock);
	return 0;
}

void pcf_calls_stop(void)
{
	int was;

	pthread_mutex_lock(&lock);
	was = running;
	running = 0;
	stop = 1;
	pthread_cond_signal(&cond);
	pthread_mutex_unlock(&lock);
	if (was)
		pthread_join(thread, NULL);
}
