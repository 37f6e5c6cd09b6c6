/*
 * calls.h - the FUSE requests working on a load, and ending those whose
 * writer was killed.
 *
 * The broken contract: a request the kernel has handed to us holds its
 * writer in an uninterruptible wait until we answer, SIGKILL or not. A
 * request waiting on the server (a lock, a full socket, a stalled path, a
 * connect) would keep a killed writer in D state for as long as the server
 * takes, and with it its parent's wait() and an unmount.
 *
 * The design that follows: every request on a load is entered here for as
 * long as it runs. A thread looks at those running longer than
 * PCF_CALL_SLOW_MS every PCF_CALL_POLL_MS, and at once when the kernel sends
 * an INTERRUPT (pcf_calls_poke); when the writer has SIGKILL pending (an
 * unhandled fatal signal becomes SIGKILL for every thread as it is
 * delivered) it aborts the load (pcf_load_abort): the wait ends at once,
 * the request answers EINTR, the transaction is rolled back and the server
 * told to stop (a cancel request). A signal the writer handles does not
 * abort anything: its handler runs when the request is answered.
 */
#ifndef PCF_CALLS_H
#define PCF_CALLS_H

#include <sys/types.h>
#include <time.h>

#define PCF_CALL_SLOW_MS 50
#define PCF_CALL_POLL_MS 100

struct pcf_load;

/* One request in progress, on the stack of the thread that serves it. */
struct pcf_call {
	struct pcf_load *l;
	pid_t tid;               /* the writer's thread, as FUSE gives it */
	struct timespec since;   /* CLOCK_MONOTONIC */
	int aborted;
	struct pcf_call *prev, *next;
};

void pcf_call_enter(struct pcf_call *c, struct pcf_load *l, pid_t tid);
void pcf_call_leave(struct pcf_call *c);

/* An INTERRUPT came: look at the calls now. Safe from any thread. */
void pcf_calls_poke(void);

/* The thread; started after daemonizing. 0 or -1. */
int pcf_calls_start(void);
void pcf_calls_stop(void);

/* 1 when the task has SIGKILL pending (it is dying), or is gone. */
int pcf_task_dying(pid_t tid);

#endif
