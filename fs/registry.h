/*
 * registry.h - every live load of the mount, and which descriptors belong
 * to which load (the "anchors") so that a close can tell whether another
 * descriptor of the same open file is still around.
 */
#ifndef PCF_REGISTRY_H
#define PCF_REGISTRY_H

#include "load.h"

void pcf_registry_add(struct pcf_load *l);
void pcf_registry_remove(struct pcf_load *l);

/*
 * A write came from process tgid at offset off: remembers the writer's
 * descriptors of l's open file (found in /proc, told apart from other
 * loads' descriptors with kcmp) so later closes can recognise them.
 */
void pcf_registry_note_writer(struct pcf_load *l, pid_t tgid);

/* Sets the writer shown for l (pid and command line), under the lock the
 * status files read it with. */
void pcf_registry_set_writer(struct pcf_load *l, pid_t pid, const char *cmd);

/* Forgets l's descriptors: called once l is committed or failed. */
void pcf_registry_drop_anchors(struct pcf_load *l);

/*
 * 1 when some process still holds a descriptor of l's open file, so this
 * close is not the last; 0 when none does. A descriptor on the same path
 * that is neither known to be l's nor another load's counts as l's when its
 * position is l's: the safe side is to wait for the real last close.
 */
int pcf_registry_still_held(struct pcf_load *l);

/* Calls fn on every live load (under the registry lock; fn must not block
 * on a load's lock). */
void pcf_registry_each(void (*fn)(struct pcf_load *l, void *ctx), void *ctx);

/* Unlinks and returns one live load, or NULL: for rolling back at unmount. */
struct pcf_load *pcf_registry_pop(void);

#endif
