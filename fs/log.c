/*
 * log.c - where fuse_log() output goes.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>

static int log_foreground = 1;
static int log_debug;

/* Every line ends with a newline in our messages; syslog adds its own. */
static void pcf_log_func(enum fuse_log_level level, const char *fmt,
			 va_list ap)
{
	if (level == FUSE_LOG_DEBUG && !log_debug)
		return;
	if (log_foreground) {
		vfprintf(stderr, fmt, ap);
		return;
	}
	vsyslog((int)level, fmt, ap);
}

void pcf_log_init(int debug)
{
	log_foreground = 1;
	log_debug = debug;
	fuse_set_log_func(pcf_log_func);
}

void pcf_log_to_syslog(void)
{
	openlog("pgcopyfs", LOG_PID, LOG_DAEMON);
	log_foreground = 0;
}

void pcf_log_close(void)
{
	if (!log_foreground)
		closelog();
}

int pcf_log_debug_enabled(void)
{
	return log_debug;
}
