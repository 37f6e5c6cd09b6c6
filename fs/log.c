/*
 * log.c - where fuse_log() output goes.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

static int log_foreground = 1;
static int log_debug;

/*
 * Every message is one line that starts "pgcopyfs: " and ends with a
 * newline, which suits a terminal. syslog names the program and the pid
 * itself ("pgcopyfs[123]: ") and ends each record, so the prefix and the
 * newline are dropped on the way there.
 */
static void pcf_log_func(enum fuse_log_level level, const char *fmt,
			 va_list ap)
{
	static const char prefix[] = "pgcopyfs: ";
	char line[4096]; /* our longest: four 240-byte parts and a command */
	const char *text = line;
	size_t n;

	if (level == FUSE_LOG_DEBUG && !log_debug)
		return;
	if (log_foreground) {
		vfprintf(stderr, fmt, ap);
		return;
	}
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	if (n > 0 && line[n - 1] == '\n')
		line[n - 1] = '\0';
	if (strncmp(line, prefix, sizeof(prefix) - 1) == 0)
		text += sizeof(prefix) - 1;
	syslog((int)level, "%s", text);
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
