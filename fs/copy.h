/*
 * copy.h - the COPY FROM STDIN protocol on one load's connection, the way
 * psql's handleCopyIn speaks it, plus the transaction around it.
 */
#ifndef PCF_COPY_H
#define PCF_COPY_H

#include "conn.h"

#include <stdint.h>

/* Runs a COPY ... FROM STDIN statement; 0 once the server is in COPY IN. */
int pcf_copy_start(PGconn *c, const char *sql, struct pcf_error *e);

/*
 * Streams bytes into the COPY. Blocks while the server is slower than the
 * writer (that is the back-pressure the writer feels), and fails at once
 * when the server connection is gone. 0 or -errno.
 */
int pcf_copy_send(PGconn *c, const char *buf, size_t len, struct pcf_error *e);

/*
 * Ends the COPY: abort_reason NULL sends CopyDone and collects the
 * server's verdict (rows loaded into *rows); otherwise sends CopyFail with
 * that reason. Drains every result so the connection is idle afterwards.
 * 0 or -errno.
 */
int pcf_copy_end(PGconn *c, const char *abort_reason, uint64_t *rows,
		 struct pcf_error *e);

/* The server refused the COPY (it said so while we streamed): ends it and
 * returns -errno with the server's error, and its line, in e. */
int pcf_copy_refused(PGconn *c, struct pcf_error *e);

/*
 * After the COPY: checks deferred constraints now (SET CONSTRAINTS ALL
 * IMMEDIATE) and reads the transaction id into xid. 0 or -errno.
 */
int pcf_tx_prepare_commit(PGconn *c, char *xid, size_t xidlen,
			  struct pcf_error *e);

/*
 * COMMIT, and make sure the server did commit (not roll back). When the
 * connection breaks before the answer arrives, asks the server on a new
 * connection (txid_status of xid): 0 if it committed, -ECONNRESET if it
 * rolled back, -EREMOTEIO if nobody can tell.
 */
int pcf_tx_commit(PGconn *c, const struct pcf_options *o, const char *xid,
		  struct pcf_error *e);

/*
 * How many foreign servers the rows of schema.name may reach (the table
 * itself, or the foreign partitions of its tree), or -1 if the server
 * could not say. postgres_fdw commits each server's remote transaction in
 * turn, with no two-phase commit: when a COMMIT fails and two or more are
 * reached, some may have committed.
 */
int pcf_tx_foreign_servers(PGconn *c, const char *schema, const char *name);

#endif
