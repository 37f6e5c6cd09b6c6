/*
 * tombs.h - unlink(2) of a table file deletes no row; it lets the tools
 * that remove a file before they create it anew (tar -x, install, mv
 * across file systems, cp --remove-destination) do so: until it creates
 * the name again, the process that unlinked it sees no file there, and its
 * O_CREAT|O_EXCL open then starts a load. Everyone else sees the table
 * file all along. A tomb lasts until that create, the process's exit, or a
 * minute.
 */
#ifndef PCF_TOMBS_H
#define PCF_TOMBS_H

#include <sys/types.h>

/* Process tgid unlinked path. */
void pcf_tomb_add(const char *path, pid_t tgid);
/* Does the process of task tid see path as unlinked? clear: and from now
 * on not (it creates the name). */
int pcf_tomb_check(const char *path, pid_t tid, int clear);
int pcf_tomb_hides(const char *path, pid_t tid);

#endif
