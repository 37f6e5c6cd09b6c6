/*
 * statspool.h - table exports spooled at a stat, for the open that
 * follows it.
 *
 * The broken contract: tar (and bsdtar) take a file's length from the
 * stat before their open, write that many bytes to the archive, and open
 * no file whose size is 0. A table file's size is 0 (nobody knows an
 * export's length before its end), so tar archived every table empty and
 * exited 0.
 *
 * The design that follows: a stat by a program of -o size_at_stat= spools
 * the table's export whole (one snapshot, the connection closed once the
 * export is in the spool) and answers with its length; the spool is kept
 * here, under the file's path and the program's process, and the
 * program's next read open of that path takes it, so the bytes it reads
 * are the ones the size was of. A spool nobody takes is dropped when its
 * process is gone, after PCF_STATSPOOL_KEEP_MS, or before the process's
 * stat of another file spools that one (one kept per process: archivers
 * stat, read, then go on).
 *
 * Python's shutil.copyfile and Java's Files.copy stat the file, then
 * open it and copy it with sendfile, which the kernel ends at the size it
 * knows (0): they copied nothing and exited 0. They take no size from the
 * stat, and a spool at every stat would make a program that polls files
 * with stat export a table at each poll: a stat by a program of -o
 * size_after_stat= only marks the path for its process, and its open of
 * that path within PCF_STATSPOOL_MARK_MS spools (fsops.c), so its fstat
 * and the kernel see the length.
 *
 * Lock domain: spools.lock guards the list; no export is opened or closed
 * under it.
 */
#ifndef PCF_STATSPOOL_H
#define PCF_STATSPOOL_H

#include <stdint.h>
#include <sys/types.h>

struct pcf_export;
struct pcf_fs;

/* Whether a reader is being killed (export.h's pcf_export_interrupted). */
typedef int (*pcf_statspool_interrupted)(void *ctx);

/*
 * The stat of table file path (schema file and table file names as
 * paths.h parses them) by process tgid, which takes the size from it:
 * the length of the spool kept for tgid's open of path, made now if none
 * is (the whole export; the stat waits for it). 0 with *size, or -errno
 * the stat fails with (the reason logged: a server down, ENOSPC); *size
 * is -1 and 0 returned when the role may not SELECT (the open says
 * EACCES).
 */
int pcf_statspool_stat(struct pcf_fs *fs, const char *path,
		       const char *schema, const char *table, pid_t tgid,
		       pcf_statspool_interrupted intr, void *ctx, int64_t *size);

#define PCF_STATSPOOL_KEEP_MS 60000
#define PCF_STATSPOOL_MARK_MS 2000
#define PCF_STATSPOOL_MARKS 16 /* marks kept per process, the newest */

/* Takes the spool kept for process tgid's open of path (the caller owns
 * it now), or NULL. */
struct pcf_export *pcf_statspool_take(const char *path, pid_t tgid);

/* Marks path as stat'ed by process tgid (-o size_after_stat=): 0 or
 * -ENOMEM. A process keeps its newest PCF_STATSPOOL_MARKS marks. */
int pcf_statspool_mark(const char *path, pid_t tgid);

/* Whether process tgid stat'ed path, marking it, at most
 * PCF_STATSPOOL_MARK_MS ago; the mark is taken. */
int pcf_statspool_take_mark(const char *path, pid_t tgid);

/* Drops the spools whose process is gone, or kept longer than
 * PCF_STATSPOOL_KEEP_MS; all of them with all set (the unmount). */
void pcf_statspool_sweep(int all);

#endif
