/*
 * log.c - where fuse_log() output goes.
 */
#include "log.h"

#include "pgcopyfs.h"

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

	char raw[4096];

	if (level == FUSE_LOG_DEBUG && !log_debug)
		return;
	/* One line whatever the values hold: a table named "x\nforged"
	 * cannot make a second record (escape.c). */
	vsnprintf(raw, sizeof(raw), fmt, ap);
	n = strlen(raw);
	if (n > 0 && raw[n - 1] == '\n')
		raw[--n] = '\0';
	pcf_escape(line, sizeof(line), raw, n, PCF_ESC_LOG);
	if (log_foreground) {
		fprintf(stderr, "%s\n", line);
		return;
	}
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
