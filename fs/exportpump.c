/*
 * exportpump.c - a streamed table read's own thread, the pump
 * (exportint.h):
 *
 *   server --COPY rows--> pump thread --ring--> reply (iov into the ring)
 *                          (one per open)  ^
 *   ll_read ---------- pending reads ------'  (queued; answered in turn)
 *
 * The pump owns the connection and the ring. It reads the COPY's output
 * ahead of the reader, up to AHEAD bytes past where the last read ended,
 * so the server goes on sending while the reader is busy with what it was
 * given (cat writing to its pipe); then it waits. A read is queued and
 * answered by the pump, from the ring, as soon as its bytes are there (a
 * full answer unless the stream ended): no FUSE worker waits for the
 * server, and no lock is held across a wait. The ring keeps BEHIND bytes
 * before where the last read ended for a reader that seeks back a little
 * (less, tail); a read further back gets ESPIPE, never wrong bytes. Every
 * byte is copied once in the daemon, into the ring.
 *
 * The pump waits for the server in slices of POLL_MS, and at least that
 * often answers EINTR to the reads of readers being killed. The close
 * tells the pump (wake_fd), which cancels a COPY not read to its end,
 * closes the connection and frees the export: a cancel is a connect of
 * its own, which a stalled server may hold, so no FUSE thread makes it.
 */
#include "exportint.h"

#include "clock.h"
#include "log.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Puts n bytes at the stream's position pos into the ring. */
static void ring_put(struct pcf_export *x, const char *p, size_t n)
{
	/* A byte at offset k lives at k % RING. */
	size_t at = (size_t)(x->pos % RING), first = RING - at;

	if (first > n)
		first = n;
	memcpy(x->win + at, p, first);
	memcpy(x->win, p + first, n - first);
	x->pos += n;
	x->win_len = x->win_len + n > RING ? RING : x->win_len + n;
}

/*
 * How many bytes the pump may read on into the ring now: what does not
 * overwrite the BEHIND bytes before the last read's end, nor the bytes a
 * queued read at head wants; the whole ring when head is past them all
 * (a read further on skips to it: the bytes between are not given).
 */
static size_t ring_room(const struct pcf_export *x, const struct pending *head)
{
	uint64_t keep = x->served > BEHIND ? x->served - BEHIND : 0;

	if (head && head->off > x->pos)
		return RING; /* the oldest bytes go as the stream moves on */
	if (head && head->off < keep)
		keep = head->off;
	if (keep < x->pos - x->win_len)
		keep = x->pos - x->win_len;
	if (keep >= x->pos)
		return RING;
	return RING - (size_t)(x->pos - keep);
}

/*
 * Reads what the server has sent (and, when head is waiting for bytes,
 * what it sends in the next POLL_MS) into the ring, up to the room there
 * is: the bytes added, 0 when none came, or -errno (x->err set) once the
 * stream failed.
 */
static ssize_t pump_fill(struct pcf_export *x, const struct pending *head)
{
	size_t room = ring_room(x, head), added = 0;
	int rc;

	if (room > REPLY_MAX)
		room = REPLY_MAX; /* then the queue is looked at again */
	while (added < room) {
		size_t n;

		if (!x->row) {
			if (x->done && (x->comp == PCF_COMP_DETECT || x->comp_done))
				break;
			if ((rc = pcf_export_next_piece(x, 0, NULL, NULL)) == -EAGAIN)
				break;
			if (rc < 0)
				return added ? (ssize_t)added : rc;
			if (rc == 0)
				break;
		}
		n = x->row_len - x->row_off;
		if (n > room - added)
			n = room - added;
		ring_put(x, x->row + x->row_off, n);
		x->row_off += n;
		added += n;
		if (x->row_off == x->row_len) {
			if (x->from_libpq)
				PQfreemem(x->row);
			x->row = NULL;
		}
	}
	return (ssize_t)added;
}

/* Whether the stream has nothing more to give. */
static int stream_over(const struct pcf_export *x)
{
	return x->err || (x->done && !x->row &&
			  (x->comp == PCF_COMP_DETECT || x->comp_done));
}

/*
 * Answers r if it can be now: from the ring when its bytes are there (all
 * of them, or what there is once the stream is over), ESPIPE when they
 * are behind the ring, the stream's errno once it failed with none of
 * them. 1 when answered, 0 when r waits for more of the stream.
 */
static int answer(struct pcf_export *x, const struct pending *r)
{
	uint64_t end = r->off + r->size, have;
	struct iovec iov[2];
	size_t avail, at, first;

	if (r->off < x->pos - x->win_len) {
		pcf_warn("read of %s at byte %llu, but only bytes %llu "
			 "to %llu are kept behind the stream: ESPIPE\n",
			 x->label, (unsigned long long)r->off,
			 (unsigned long long)(x->pos - x->win_len),
			 (unsigned long long)x->pos);
		r->reply(r->rctx, ESPIPE, NULL, 0);
		return 1;
	}
	if (end > x->pos && !stream_over(x))
		return 0;
	if (end > x->pos && x->err && r->off >= x->pos) {
		r->reply(r->rctx, x->err, NULL, 0);
		return 1;
	}
	have = end < x->pos ? end : x->pos;
	avail = have > r->off ? (size_t)(have - r->off) : 0;
	at = (size_t)(r->off % RING);
	first = RING - at < avail ? RING - at : avail;
	iov[0] = (struct iovec){ x->win + at, first };
	iov[1] = (struct iovec){ x->win, avail - first };
	r->reply(r->rctx, 0, iov, avail > first ? 2 : 1);
	if (avail)
		x->served = r->off + avail;
	return 1;
}

/* Answers the queued reads that can be, in turn; when killed is set, the
 * reads of readers being killed too (EINTR), wherever they are. Returns
 * the head left waiting, or NULL. */
static struct pending *answer_queue(struct pcf_export *x, int killed)
{
	struct pending **pp = &x->head, *r, *left = NULL;

	pthread_mutex_lock(&x->lock);
	while ((r = *pp)) {
		int done;

		/* The queue is only appended to while it is unlocked, and r
		 * is the pump's to answer and free. */
		pthread_mutex_unlock(&x->lock);
		done = !left && answer(x, r);
		if (!done && killed && r->intr && r->intr(r->ctx)) {
			r->reply(r->rctx, EINTR, NULL, 0);
			done = 1;
		}
		pthread_mutex_lock(&x->lock);
		if (!done) {
			if (!left)
				left = r;
			if (!killed)
				break;
			pp = &r->next;
			continue;
		}
		if (!(*pp = r->next))
			x->tail = pp;
		free(r);
	}
	pthread_mutex_unlock(&x->lock);
	return left;
}

static void drain_wake(struct pcf_export *x)
{
	uint64_t v;

	(void)!read(x->wake_fd, &v, sizeof(v)); /* non-blocking */
}

/* Waits for wake_fd (a read came, or the close), up to POLL_MS when
 * timed, and empties it. */
static void wait_wake(struct pcf_export *x, int timed)
{
	struct pollfd p = { .fd = x->wake_fd, .events = POLLIN };

	if (poll(&p, 1, timed ? POLL_MS : -1) > 0)
		drain_wake(x);
}

static void wake(struct pcf_export *x)
{
	uint64_t one = 1;

	(void)!write(x->wake_fd, &one, sizeof(one));
}

/* The pump (the top of the file): the stream into the ring, the queued
 * reads answered from it; at the close, the connection's end. */
static void *pump_main(void *arg)
{
	struct pcf_export *x = arg;
	uint64_t asked = pcf_now_ms(); /* when killed readers were last looked for */
	int flowing = 0;           /* the last fill brought bytes */

	for (;;) {
		int killed = pcf_now_ms() - asked >= POLL_MS;
		struct pending *head = answer_queue(x, killed);
		int closing;

		if (killed)
			asked = pcf_now_ms();
		pthread_mutex_lock(&x->lock);
		closing = x->closing;
		pthread_mutex_unlock(&x->lock);
		if (closing)
			break;
		if (stream_over(x) || !ring_room(x, head)) {
			/* Nothing to read on: the next read, or the close. */
			wait_wake(x, head != NULL);
			continue;
		}
		if (pump_fill(x, head) != 0) {
			flowing = 1;
			continue;
		}
		if (stream_over(x))
			continue;
		if (flowing) {
			/* The server is sending, slower than the pump takes it:
			 * a moment lets its sends gather, so that the pump
			 * wakes once for many of them rather than for each. */
			flowing = 0;
			nanosleep(&(struct timespec){ .tv_nsec = GATHER_US * 1000 }, NULL);
			continue;
		}
		/* Nothing had arrived: wait for the server, or a read. */
		if (pcf_export_wait_server(x, x->wake_fd) > 0)
			drain_wake(x);
	}
	/* Released: no read is queued any more (each was answered before its
	 * file could be released); the COPY, if not read to its end, stops
	 * now rather than when its next send fails. */
	while (x->head) {
		struct pending *r = x->head;

		x->head = r->next;
		r->reply(r->rctx, EIO, NULL, 0);
		free(r);
	}
	pcf_export_end(x, !x->done && !x->err);
	return NULL;
}

int pcf_pump_start(struct pcf_export *x)
{
	return pcf_run_detached(pump_main, x) ? 0 : -EAGAIN;
}

int pcf_pump_queue(struct pcf_export *x, size_t size, uint64_t off,
		   pcf_export_interrupted intr, void *ctx,
		   pcf_export_replier reply, void *rctx)
{
	struct pending *r = malloc(sizeof(*r));

	if (!r)
		return -ENOMEM;
	*r = (struct pending){ .off = off, .size = size, .intr = intr,
			       .ctx = ctx, .reply = reply, .rctx = rctx };
	pthread_mutex_lock(&x->lock);
	*x->tail = r;
	x->tail = &r->next;
	pthread_mutex_unlock(&x->lock);
	wake(x);
	return 0;
}

void pcf_pump_stop(struct pcf_export *x)
{
	pthread_mutex_lock(&x->lock);
	x->closing = 1;
	pthread_mutex_unlock(&x->lock);
	wake(x);
}
