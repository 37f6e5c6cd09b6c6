/*
 * copy.c - COPY IN on a libpq connection.
 */
#include "copy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int pcf_copy_start(PGconn *c, const char *sql, struct pcf_error *e)
{
	PGresult *r = PQexec(c, sql);
	int ok = PQresultStatus(r) == PGRES_COPY_IN;

	if (!ok)
		pcf_error_from_result(e, c, r);
	PQclear(r);
	return ok ? 0 : -e->err;
}

int pcf_copy_send(PGconn *c, const char *buf, size_t len, struct pcf_error *e)
{
	/* PQputCopyData takes at most INT_MAX bytes; FUSE writes are <= 1 MiB. */
	if (PQputCopyData(c, buf, (int)len) != 1) {
		pcf_error_from_result(e, c, NULL);
		return -e->err;
	}
	/*
	 * Read what the server may have said. A lost server shows here (or in
	 * the send above) rather than at close: PQconsumeInput fails on EOF.
	 */
	if (!PQconsumeInput(c)) {
		pcf_error_from_result(e, c, NULL);
		return -e->err;
	}
	return 0;
}

int pcf_copy_end(PGconn *c, const char *abort_reason, uint64_t *rows,
		 struct pcf_error *e)
{
	PGresult *r;
	int rc = 0;

	if (PQputCopyEnd(c, abort_reason) != 1) {
		pcf_error_from_result(e, c, NULL);
		rc = -e->err;
	}
	/* Drain: the server may still be loading what it was sent. */
	while ((r = PQgetResult(c)) != NULL) {
		ExecStatusType st = PQresultStatus(r);

		if (st == PGRES_COPY_IN) {
			/* Cannot happen after PQputCopyEnd unless the send failed;
			 * stop rather than loop on a dead connection. */
			PQclear(r);
			if (rc == 0) {
				pcf_error_set(e, ECONNRESET,
					      "the server did not end the COPY");
				rc = -e->err;
			}
			break;
		}
		if (st == PGRES_COMMAND_OK) {
			if (rows)
				*rows = strtoull(PQcmdTuples(r), NULL, 10);
		} else if (rc == 0) {
			pcf_error_from_result(e, c, r);
			rc = -e->err;
		}
		PQclear(r);
	}
	if (rc == 0 && PQstatus(c) != CONNECTION_OK) {
		pcf_error_from_result(e, c, NULL);
		rc = -e->err;
	}
	return rc;
}

int pcf_tx_commit(PGconn *c, struct pcf_error *e)
{
	PGresult *r = PQexec(c, "COMMIT");
	int rc = 0;

	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		pcf_error_from_result(e, c, r);
		rc = -e->err;
	} else if (strcmp(PQcmdStatus(r), "COMMIT") != 0) {
		/* COMMIT of an aborted transaction answers ROLLBACK, "OK". */
		pcf_error_set(e, EIO, "the server rolled the transaction back");
		rc = -EIO;
	}
	PQclear(r);
	return rc;
}
