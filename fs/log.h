/*
 * log.h - the daemon's log: libfuse's log functions, so messages go to
 * stderr in the foreground and to syslog once daemonized. Never row data,
 * never a password.
 */
#ifndef PCF_LOG_H
#define PCF_LOG_H

#include <fuse_log.h>

/* Sends fuse_log() to stderr; debug enables pcf_debug() lines. Call first,
 * so that start-up errors reach the terminal. */
void pcf_log_init(int debug);
/* From now on log to syslog: call right after fuse_daemonize() when the
 * daemon left the foreground. */
void pcf_log_to_syslog(void);
void pcf_log_close(void);
int pcf_log_debug_enabled(void);

#define pcf_err(...) fuse_log(FUSE_LOG_ERR, "pgcopyfs: " __VA_ARGS__)
#define pcf_warn(...) fuse_log(FUSE_LOG_WARNING, "pgcopyfs: " __VA_ARGS__)
#define pcf_info(...) fuse_log(FUSE_LOG_INFO, "pgcopyfs: " __VA_ARGS__)
#define pcf_debug(...)                                                  \
	do {                                                            \
		if (pcf_log_debug_enabled())                            \
			fuse_log(FUSE_LOG_DEBUG, "pgcopyfs: " __VA_ARGS__); \
	} while (0)

#endif
