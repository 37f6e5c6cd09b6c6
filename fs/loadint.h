/*
 * loadint.h - what load.c lends the stages that run inside a load
 * (convert.c): failing the load, and the COPY statement in the mount's
 * dialect. Not for the rest of the daemon, which goes through load.h.
 */
#ifndef PCF_LOADINT_H
#define PCF_LOADINT_H

#include "load.h"

/* Fails the load for good (load.c load_fail): -e->err. */
int pcf_load_fail(struct pcf_load *l, const struct pcf_error *e);
int pcf_load_failf(struct pcf_load *l, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* COPY's end-of-data marker on the file's line `line`: fails the load. */
int pcf_load_marker_refused(struct pcf_load *l, uint64_t line);

/* A record longer than -o max_record: fails the load. */
int pcf_load_record_too_long(struct pcf_load *l, uint64_t line);

enum pcf_load_copy { PCF_LOAD_COPY_FILE, PCF_LOAD_COPY_BINARY };

/* COPY "s"."t" [(cols)] FROM STDIN in the file's format and the mount's
 * dialect, or binary; FREEZE while this transaction truncated the table.
 * NULL without memory. */
char *pcf_load_copy_sql(struct pcf_load *l, char **cols, size_t ncols,
			enum pcf_load_copy kind, int header);

#endif
