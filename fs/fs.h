/*
 * fs.h - the state of one mount, shared by every FUSE request.
 */
#ifndef PCF_FS_H
#define PCF_FS_H

#include "catalog.h"
#include "options.h"
#include "paths.h"

#include <sys/types.h>
#include <time.h>

struct pcf_fs {
	struct pcf_options opts;
	struct pcf_catalog catalog;
	char *mountpoint; /* absolute, as /proc/<pid>/fd links show it */
	uid_t uid;        /* owner shown for every file */
	gid_t gid;
	time_t mounted_at;
	struct fuse_session *se; /* for the kernel notices fsops.c sends */
};

/* The FUSE operations (fsops.c). */
extern const struct fuse_lowlevel_ops pcf_fs_ops;

#endif
