/*
 * watch.c - the watcher thread (watch.h).
 *
 * Lock domain: w.lock guards the request queue and `running`; the entry
 * list is the watcher thread's alone (no lock), and a decision thread
 * touches only the job it was handed.
 *
 * An entry is one traced process and its waiters (several loads may wait
 * on one process: a shell that closed two table files). Its life:
 *
 *   seized, running ---- exit stop ----> held at exit, waiters decided
 *         |         \--- fork stop ---> held at fork (its new child held
 *         |                              at its first stop), decided
 *     deadline: waiters decided               | all decided
 *     while it runs on                        v
 *         | all decided                   PTRACE_DETACH (child, then it)
 *         v
 *   PTRACE_INTERRUPT -> next stop -> PTRACE_DETACH (it runs on)
 *
 * Meanwhile every signal-delivery stop is resumed with its signal, and a
 * group stop (SIGSTOP, ^Z) is kept with PTRACE_LISTEN, so the process
 * behaves as if untraced.
 */
#include "watch.h"

#include "clock.h"

#include "log.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ptrace.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct waiter {
	pcf_watch_fn fn;
	void *ctx;
	struct timespec deadline;
	int dispatched;
};

struct entry {
	pid_t pid;
	struct waiter *w; /* one per load waiting for this exit: a process
			   * may close any number of table files */
	int nw, cap;
	int deciding;     /* decision threads still running */
	int held; /* held: at exit_group(), at PTRACE_EVENT_EXIT, or
			   * at a fork */
	int starting;     /* interrupted right after the seize, to trace its
			   * system calls from its first stop on */
	int syscalls;     /* resumed with PTRACE_SYSCALL: stops at each call */
	int at_exit_call; /* held at the entry of exit_group(), status 0 */
	int fail_exit;    /* a decision failed (the COMMIT): exit 1, not 0 */
	pid_t child;      /* a fork's new child, traced with it: let go too */
	int detaching;    /* PTRACE_INTERRUPT sent: detach at the next stop */
	int gone;         /* reaped, or no longer ours to trace */
	struct entry *next;
};

enum req_kind { REQ_WATCH, REQ_DECIDED, REQ_STOP };

struct request {
	enum req_kind kind;
	pid_t pid;
	int wait_ms;
	pcf_watch_fn fn;
	void *ctx;
	struct entry *entry; /* REQ_DECIDED */
	int failed;          /* REQ_DECIDED: a decision returned non-zero */
	int done, result;    /* REQ_WATCH: answered, 0 or -errno */
	struct request *next;
};

/* One decision: the waiters it runs, copied out of the entry. */
struct job;
static void job_free(struct job *j);
struct job {
	struct entry *entry;
	enum pcf_exit_kind kind;
	int status;
	int n;
	pcf_watch_fn *fn;
	void **ctx;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct request *queue;
	int running;
	int evfd, sigfd;
	pthread_t thread;
	struct entry *entries; /* the watcher thread's own */
} w = { .lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
	.evfd = -1,
	.sigfd = -1 };

void pcf_watch_block_sigchld(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

static void wake(void)
{
	uint64_t one = 1;

	if (write(w.evfd, &one, sizeof(one)) < 0) {
		/* the counter cannot overflow at our rate; nothing to do */
	}
}

/* Queues r for the watcher; for REQ_WATCH and REQ_STOP waits for it. A
 * watch asked for once the watcher is stopping is refused here, under the
 * lock that `running` is cleared under, so none is left unanswered. */
static void submit(struct request *r)
{
	pthread_mutex_lock(&w.lock);
	if (r->kind == REQ_WATCH && !w.running) {
		r->result = -ENOSYS;
		pthread_mutex_unlock(&w.lock);
		return;
	}
	r->next = w.queue;
	w.queue = r;
	wake();
	if (r->kind != REQ_DECIDED)
		while (!r->done)
			pthread_cond_wait(&w.cond, &w.lock);
	pthread_mutex_unlock(&w.lock);
}

static long ms_until(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (t->tv_sec - now.tv_sec) * 1000 +
	       (t->tv_nsec - now.tv_nsec) / 1000000;
}

static void job_free(struct job *j)
{
	free(j->fn);
	free(j->ctx);
	free(j);
}

static void *decide_thread(void *arg)
{
	struct job *j = arg;
	struct request *r = calloc(1, sizeof(*r));
	int failed = 0;

	for (int i = 0; i < j->n; i++)
		failed |= j->fn[i](j->ctx[i], j->kind, j->status) != 0;
	if (!r) {
		/* Cannot tell the watcher: it lets the process go at stop. */
		pcf_err("out of memory ending a watch\n");
		job_free(j);
		return NULL;
	}
	r->kind = REQ_DECIDED;
	r->entry = j->entry;
	r->failed = failed;
	job_free(j);
	submit(r); /* the watcher frees r */
	return NULL;
}

/* Hands the waiters not yet decided (all, or only those whose deadline
 * passed) to a decision thread. */
static void dispatch(struct entry *e, enum pcf_exit_kind kind, int status,
		     int only_due)
{
	struct job *j = calloc(1, sizeof(*j));
	pthread_attr_t attr;
	pthread_t t;

	if (!j)
		return; /* tried again at the next event or deadline */
	j->fn = calloc((size_t)e->nw + 1, sizeof(*j->fn));
	j->ctx = calloc((size_t)e->nw + 1, sizeof(*j->ctx));
	if (!j->fn || !j->ctx) {
		job_free(j);
		return;
	}
	j->entry = e;
	j->kind = kind;
	j->status = status;
	for (int i = 0; i < e->nw; i++) {
		if (e->w[i].dispatched ||
		    (only_due && ms_until(&e->w[i].deadline) > 0))
			continue;
		e->w[i].dispatched = 1;
		j->fn[j->n] = e->w[i].fn;
		j->ctx[j->n] = e->w[i].ctx;
		j->n++;
	}
	if (j->n == 0) {
		job_free(j);
		return;
	}
	e->deciding++;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, decide_thread, j) != 0) {
		/* No thread: decide here, on the watcher (a stall, not a
		 * wrong outcome). */
		e->deciding--;
		for (int i = 0; i < j->n; i++)
			e->fail_exit |= j->fn[i](j->ctx[i], kind, status) != 0;
		job_free(j);
	}
	pthread_attr_destroy(&attr);
}

static int undecided(const struct entry *e)
{
	for (int i = 0; i < e->nw; i++)
		if (!e->w[i].dispatched)
			return 1;
	return 0;
}

/* A fork's child starts traced and stopped: wait for that stop (it comes
 * at once), then let it go. */
static void let_child_go(struct entry *e)
{
	int st;

	for (int i = 0; i < 200 && e->child > 0; i++) {
		pid_t r = waitpid(e->child, &st, WNOHANG | __WALL);

		if (r < 0 && errno != EINTR)
			break; /* gone already */
		if (r > 0 && (WIFEXITED(st) || WIFSIGNALED(st)))
			break;
		if (r > 0 && WIFSTOPPED(st)) {
			ptrace(PTRACE_DETACH, e->child, NULL, NULL);
			break;
		}
		usleep(5000);
	}
	e->child = 0;
}

/*
 * Held at the entry of exit_group(0) and the COMMIT failed: make it
 * exit_group(1), so that the parent sees the failure. The argument is
 * rewritten in the tracee's registers before the call runs; where that is
 * not written for the processor, SIGKILL stands in for the failure.
 */
static void fail_the_exit(struct entry *e)
{
#if defined(__x86_64__)
	struct user_regs_struct regs;

	if (ptrace(PTRACE_GETREGS, e->pid, NULL, &regs) == 0) {
		regs.rdi = 1;
		if (ptrace(PTRACE_SETREGS, e->pid, NULL, &regs) == 0)
			return;
	}
#elif defined(__aarch64__)
	struct user_regs_struct regs;
	struct iovec iov = { &regs, sizeof(regs) };

	if (ptrace(PTRACE_GETREGSET, e->pid, (void *)1 /* NT_PRSTATUS */,
		   &iov) == 0) {
		regs.regs[0] = 1;
		if (ptrace(PTRACE_SETREGSET, e->pid, (void *)1, &iov) == 0)
			return;
	}
#endif
	kill(e->pid, SIGKILL);
}

/* Resumes a stopped tracee, tracing its system calls while a decision may
 * still need to hold it at its exit_group(). */
static void resume(struct entry *e, int sig)
{
	int req = e->syscalls && !e->detaching ? PTRACE_SYSCALL : PTRACE_CONT;

	ptrace(req, e->pid, NULL, (void *)(intptr_t)sig);
}

static void let_go(struct entry *e, int sig)
{
	if (e->at_exit_call && e->fail_exit)
		fail_the_exit(e);
	if (e->child > 0)
		let_child_go(e);
	if (ptrace(PTRACE_DETACH, e->pid, NULL, (void *)(intptr_t)sig) != 0 &&
	    errno != ESRCH)
		pcf_warn("cannot let pid %d go: %m\n", (int)e->pid);
	e->gone = 1;
}

/* Reads every stop and exit of e that waits to be read. */
static void collect(struct entry *e)
{
	int st;

	while (!e->gone) {
		pid_t r = waitpid(e->pid, &st, WNOHANG | __WALL);

		if (r == 0)
			return;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			e->gone = 1; /* ECHILD: no longer traced by us */
			dispatch(e, PCF_EXIT_LOST, 0, 0);
			return;
		}
		if (WIFEXITED(st) || WIFSIGNALED(st)) {
			/* Ended without an exit stop (already exiting when
			 * seized): reaping it hands it to its parent. */
			e->gone = 1;
			dispatch(e, PCF_EXIT_STATUS, st, 0);
			return;
		}
		if (!WIFSTOPPED(st))
			continue;
		int ev = st >> 16, sig = WSTOPSIG(st);

		if (ev == PTRACE_EVENT_EXIT) {
			unsigned long msg = 0;

			ptrace(PTRACE_GETEVENTMSG, e->pid, NULL, &msg);
			e->held = 1;
			dispatch(e, PCF_EXIT_STATUS, (int)msg, 0);
			return; /* held until every waiter is decided */
		}
		if (ev == PTRACE_EVENT_FORK || ev == PTRACE_EVENT_VFORK) {
			unsigned long msg = 0;

			ptrace(PTRACE_GETEVENTMSG, e->pid, NULL, &msg);
			e->child = (pid_t)msg;
			e->held = 1; /* and its child: until decided */
			dispatch(e, PCF_EXIT_FORKED, 0, 0);
			return;
		}
		if (ev == PTRACE_EVENT_STOP) {
			if (e->detaching) {
				let_go(e, 0);
			} else if (sig == SIGSTOP || sig == SIGTSTP ||
				   sig == SIGTTIN || sig == SIGTTOU) {
				ptrace(PTRACE_LISTEN, e->pid, NULL, NULL);
			} else {
				if (e->starting) {
					e->starting = 0;
					e->syscalls = 1;
				}
				resume(e, 0);
			}
			continue;
		}
		if (sig == (SIGTRAP | 0x80)) {
			/* A system call stop: exit_group() is where the exit
			 * status is still the process's to change. */
			/* Zeroed: valgrind cannot see the kernel fill it. */
			struct __ptrace_syscall_info info = { 0 };

			if (e->detaching) {
				let_go(e, 0);
				continue;
			}
			if (ptrace(PTRACE_GET_SYSCALL_INFO, e->pid,
				   (void *)sizeof(info), &info) > 0 &&
			    info.op == PTRACE_SYSCALL_INFO_ENTRY &&
			    info.entry.nr == SYS_exit_group && undecided(e)) {
				e->held = 1;
				e->at_exit_call = 1;
				dispatch(e, PCF_EXIT_STATUS,
					 (int)(info.entry.args[0] & 0xff) << 8, 0);
				return; /* held until every waiter is decided */
			}
			resume(e, 0);
			continue;
		}
		/* A signal on its way to the process: deliver it. */
		if (e->detaching)
			let_go(e, sig);
		else
			resume(e, sig);
	}
}

/* Lets e's process go once every waiter is decided. */
static void settle(struct entry *e)
{
	if (e->gone || e->deciding || undecided(e))
		return;
	if (e->held) {
		let_go(e, 0);
	} else if (!e->detaching) {
		e->detaching = 1;
		if (ptrace(PTRACE_INTERRUPT, e->pid, NULL, NULL) != 0)
			e->gone = 1; /* it died meanwhile: nothing to hold */
	}
}

static struct entry *find(pid_t pid)
{
	for (struct entry *e = w.entries; e; e = e->next)
		if (e->pid == pid && !e->gone)
			return e;
	return NULL;
}

static int add_watch(const struct request *r)
{
	struct entry *e = find(r->pid);
	struct waiter *wt;

	if (!e) {
		if (ptrace(PTRACE_SEIZE, r->pid, NULL,
			   (void *)(intptr_t)(PTRACE_O_TRACEEXIT |
					      PTRACE_O_TRACEFORK |
					      PTRACE_O_TRACEVFORK |
					      PTRACE_O_TRACESYSGOOD)) != 0)
			return -errno;
		e = calloc(1, sizeof(*e));
		if (!e) {
			ptrace(PTRACE_DETACH, r->pid, NULL, NULL);
			return -ENOMEM;
		}
		e->pid = r->pid;
		/* Stopped at once (it is inside its close(): the stop comes
		 * as that returns) to trace its system calls from there. */
		e->starting = ptrace(PTRACE_INTERRUPT, r->pid, NULL, NULL) == 0;
		e->next = w.entries;
		w.entries = e;
	}
	if (e->held)
		return -EBUSY;
	if (e->nw == e->cap) {
		int cap = e->cap ? e->cap * 2 : 4;
		struct waiter *nw = realloc(e->w, (size_t)cap * sizeof(*nw));

		if (!nw)
			return -ENOMEM;
		e->w = nw;
		e->cap = cap;
	}
	e->detaching = 0; /* an interrupt on its way: resume, not detach */
	wt = &e->w[e->nw++];
	memset(wt, 0, sizeof(*wt));
	wt->fn = r->fn;
	wt->ctx = r->ctx;
	wt->deadline = pcf_clock_in(CLOCK_MONOTONIC, r->wait_ms);
	return 0;
}

static void sweep(void)
{
	for (struct entry **p = &w.entries; *p;) {
		struct entry *e = *p;

		if (e->gone && !e->deciding && !undecided(e)) {
			*p = e->next;
			free(e->w);
			free(e);
		} else {
			p = &e->next;
		}
	}
}

/* Unmount: decide every waiter as lost, wait for the decisions, let every
 * process go. Runs on the watcher. */
static void stop_all(void)
{
	struct pollfd pfd = { .fd = w.evfd, .events = POLLIN };

	for (struct entry *e = w.entries; e; e = e->next)
		dispatch(e, PCF_EXIT_LOST, 0, 0);
	for (;;) {
		int busy = 0;
		struct request *q;

		for (struct entry *e = w.entries; e; e = e->next)
			busy += e->deciding;
		if (!busy)
			break;
		poll(&pfd, 1, 100);
		pthread_mutex_lock(&w.lock);
		for (struct request **p = &w.queue; *p;) {
			q = *p;
			if (q->kind == REQ_DECIDED) {
				*p = q->next;
				q->entry->deciding--;
				q->entry->fail_exit |= q->failed;
				free(q);
			} else {
				p = &q->next;
			}
		}
		pthread_mutex_unlock(&w.lock);
	}
	for (struct entry *e = w.entries; e; e = e->next) {
		if (e->gone)
			continue;
		if (e->held) {
			let_go(e, 0);
			continue;
		}
		/* Stop it briefly to detach; a second is plenty. */
		e->detaching = 1;
		if (ptrace(PTRACE_INTERRUPT, e->pid, NULL, NULL) != 0)
			continue;
		for (int i = 0; i < 100 && !e->gone; i++) {
			collect(e);
			if (!e->gone)
				usleep(10000);
		}
	}
	while (w.entries) {
		struct entry *e = w.entries;

		w.entries = e->next;
		free(e->w);
		free(e);
	}
}

static void *watcher(void *arg)
{
	(void)arg;
	for (;;) {
		struct pollfd pfd[2] = { { .fd = w.evfd, .events = POLLIN },
					 { .fd = w.sigfd, .events = POLLIN } };
		long timeout = -1;
		struct request *q;
		uint64_t n;
		struct signalfd_siginfo si;
		int stop = 0;

		for (struct entry *e = w.entries; e; e = e->next)
			for (int i = 0; i < e->nw; i++) {
				long ms;

				if (e->w[i].dispatched)
					continue;
				ms = ms_until(&e->w[i].deadline);
				if (ms < 0)
					ms = 0;
				if (timeout < 0 || ms < timeout)
					timeout = ms;
			}
		poll(pfd, 2, (int)(timeout < 0 ? -1 : timeout + 1));
		if (read(w.evfd, &n, sizeof(n)) < 0) {
			/* nothing was pending */
		}
		while (read(w.sigfd, &si, sizeof(si)) == sizeof(si)) {
			/* one SIGCHLD may stand for many events: all read below */
		}
		pthread_mutex_lock(&w.lock);
		q = w.queue;
		w.queue = NULL;
		pthread_mutex_unlock(&w.lock);
		while (q) {
			struct request *next = q->next;

			if (q->kind == REQ_DECIDED) {
				q->entry->deciding--;
				q->entry->fail_exit |= q->failed;
				free(q);
			} else if (q->kind == REQ_STOP) {
				stop = 1;
				pthread_mutex_lock(&w.lock);
				q->done = 1;
				pthread_mutex_unlock(&w.lock);
			} else {
				int rc = add_watch(q);

				pthread_mutex_lock(&w.lock);
				q->result = rc;
				q->done = 1;
				pthread_cond_broadcast(&w.cond);
				pthread_mutex_unlock(&w.lock);
			}
			q = next;
		}
		for (struct entry *e = w.entries; e; e = e->next) {
			collect(e);
			if (!e->gone && !e->held)
				dispatch(e, PCF_EXIT_RUNNING, 0, 1);
			settle(e);
		}
		sweep();
		if (stop) {
			stop_all();
			pthread_mutex_lock(&w.lock);
			pthread_cond_broadcast(&w.cond);
			pthread_mutex_unlock(&w.lock);
			return NULL;
		}
	}
}

int pcf_watch_start(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	w.sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	w.evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w.sigfd < 0 || w.evfd < 0 ||
	    pthread_create(&w.thread, NULL, watcher, NULL) != 0) {
		if (w.sigfd >= 0)
			close(w.sigfd);
		if (w.evfd >= 0)
			close(w.evfd);
		w.sigfd = w.evfd = -1;
		return -1;
	}
	pthread_mutex_lock(&w.lock);
	w.running = 1;
	pthread_mutex_unlock(&w.lock);
	return 0;
}

void pcf_watch_stop(void)
{
	struct request r = { .kind = REQ_STOP };
	int running;

	pthread_mutex_lock(&w.lock);
	running = w.running;
	w.running = 0;
	pthread_mutex_unlock(&w.lock);
	if (!running)
		return;
	submit(&r);
	pthread_join(w.thread, NULL);
	close(w.sigfd);
	close(w.evfd);
	w.sigfd = w.evfd = -1;
}

int pcf_watch_exit(pid_t pid, int wait_ms, pcf_watch_fn fn, void *ctx)
{
	struct request r = { .kind = REQ_WATCH, .pid = pid,
			     .wait_ms = wait_ms, .fn = fn, .ctx = ctx };

	if (pid <= 0)
		return -ESRCH;
	submit(&r);
	return r.result;
}
