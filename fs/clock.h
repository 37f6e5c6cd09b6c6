/*
 * clock.h - the two time sums the daemon does everywhere: how long since a
 * CLOCK_MONOTONIC instant, and an absolute deadline some milliseconds from
 * now (pthread's timed waits take CLOCK_REALTIME).
 */
#ifndef PCF_CLOCK_H
#define PCF_CLOCK_H

#include <time.h>

/* Milliseconds since t (CLOCK_MONOTONIC). */
static inline long pcf_ms_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->tv_sec) * 1000 +
	       (now.tv_nsec - t->tv_nsec) / 1000000;
}

/* Milliseconds on CLOCK_MONOTONIC, for stamps kept as numbers. */
static inline long pcf_now_ms(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* The instant ms milliseconds from now on clock clk. */
static inline struct timespec pcf_clock_in(clockid_t clk, long ms)
{
	struct timespec t;

	clock_gettime(clk, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

#endif
