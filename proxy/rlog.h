/*
 * rlog.h: rlog_*, the console log of consoles other nodes own: one log
 * per console, on every node started with --log-dir.
 *
 * For each console of the directory replica held by another node, the
 * node subscribes at the owner as a plain reader (no operator, no locks)
 * from the start of the owner's scrollback, and hands what arrives to the
 * log writer (vmlog.h) exactly as clog.c does for its own consoles: the
 * output bytes, the event markers at their place, "N bytes not logged"
 * for a gap. The window (RLOG_WINDOW bytes of credit) is granted back as
 * the writer's queue has room, so a slow disk paces the remote VM through
 * its owner like a local one, until the owner's stall timeout cuts this
 * reader loose (then the gap is marked). A lost link is resubscribed from
 * the next offset to log (what the owner's scrollback no longer holds is
 * marked lost, never silently skipped). When the owner changes (a newer
 * epoch elsewhere) or the console leaves the directory the subscription
 * ends; a new owner is subscribed afresh (its scrollback may repeat bytes
 * already logged: the next issue's handover continues at the offset).
 *
 * Driven by the cluster (cluster.c): rlog_sync on every directory change
 * and every tick reconciles subscriptions with the replica.
 *
 * Ownership: the set owns its subscriptions; loop thread only; no
 * process-wide state.
 */
#ifndef VSPC_RLOG_H
#define VSPC_RLOG_H

#include "vspc/compat.h"

#include "peerlink.h"
#include "proxy.h"
#include "wire.h"

#define RLOG_WINDOW (256 * 1024)

struct rlog;

/* NULL when px->vmlog is NULL (no --log-dir) or on ENOMEM. */
struct rlog *rlog_new(struct proxy *px, struct pl *pl);
void rlog_free(struct rlog **rlp);

/* Console w of the replica (w->owner another node, or this one) is as
 * given: subscribe, move or keep. gone: it left the directory. */
void rlog_sync(struct rlog *rl, const struct wire_console *w, bool gone);
/* Grant credit the writer has room for again (the cluster's tick). */
void rlog_tick(struct rlog *rl);
/* A vMotion brought console_id here: its log continues from the local
 * stream; returns the offset of the next byte to log (UINT64_MAX: none was
 * logged) and forgets the subscription. */
uint64_t rlog_take(struct rlog *rl, const char *console_id);
/* This node handed console_id over to node (epoch): log it from there,
 * from offset next on (where the local log ends). */
void rlog_follow(struct rlog *rl, const char *console_id, const char *node,
                 uint64_t epoch, uint64_t next);
size_t rlog_count(const struct rlog *rl);

/* Subscriber-side callbacks: true when sub_id is one of ours. */
bool rlog_sub_state(struct rlog *rl, struct pl_link *l,
                    const struct pw_sub_state *t);
bool rlog_data(struct rlog *rl, struct pl_link *l, const struct pw_data *d);
bool rlog_gap(struct rlog *rl, struct pl_link *l, const struct pw_gap *g);
bool rlog_event(struct rlog *rl, struct pl_link *l, const struct pw_event *e);
bool rlog_sub_lost(struct rlog *rl, struct pl_link *l, uint64_t sub_id);

#endif /* VSPC_RLOG_H */
