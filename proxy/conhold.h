/*
 * conhold.h: chold_, a new owner's hold on a console's stream for the
 * readers that follow the console here (a vMotion from another node).
 *
 * Until a reader that the old owner named (struct pw_handover.followers:
 * operator ids, "log:<node>") attaches here, the stream keeps every byte
 * from the handover offset on for it: the hold is a live reader that takes
 * nothing, so the stream paces the VM as it would for a reader that is
 * behind. Each follower that attaches (con_attach: its gid; a node's log:
 * "log:<node>") is struck off; the hold ends when none is left or after
 * CHOLD_MS (a follower that never comes costs the VM that pause, then the
 * console runs free and the late follower gets a gap notice).
 *
 * Ownership: the console owns its hold (c->hold); chold_free from
 * con_free. Loop thread only.
 */
#ifndef VSPC_CONHOLD_H
#define VSPC_CONHOLD_H

#include "vspc/compat.h"

#include <stddef.h>

struct console;

#define CHOLD_MS 3000
#define CHOLD_KEYS_MAX 32
#define CHOLD_KEY_MAX 127

/* Hold c's stream at its end for keys[0..n) (each at most CHOLD_KEY_MAX
 * chars; `self`, this node's own follower key, is not waited for). Any
 * earlier hold ends first. */
void chold_start(struct console *c, const char (*keys)[CHOLD_KEY_MAX + 1],
                 size_t n, const char *self);
/* The follower `key` is here (a no-op for other keys). */
void chold_arrived(struct console *c, const char *key);
/* The link to node went down: its followers (its log, "log:<node>", and
 * its operators, "<node>/...") will not come soon; the hold stops waiting
 * for them. */
void chold_node_gone(struct console *c, const char *node);
/* Ends the hold (the console goes, or a newer handover). */
void chold_free(struct console *c);

#endif /* VSPC_CONHOLD_H */
