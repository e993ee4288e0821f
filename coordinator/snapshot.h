/*
 * snapshot.h: the Clone pattern's snapshot server (snap_): sends the
 * directory to one requester as SnapshotNode*, SnapshotEntry*, then
 * SnapshotEnd{seq}, in slices, never blocking.
 *
 * A directory of 100,000 consoles does not fit in one loop turn nor in a
 * socket's queue, so each request is a job with a cursor: at most
 * SNAP_BUDGET messages per loop turn over all jobs; a job whose peer's
 * queue is full (EAGAIN) waits SNAP_RETRY seconds; a job whose peer is
 * gone (EHOSTUNREACH) ends. The cursor walks the console table bucket by
 * bucket (a bucket is re-sent whole after EAGAIN; the table restarts from
 * bucket 0 if it grew meanwhile): entries may be sent twice, which is
 * harmless because applying one is idempotent.
 *
 * Consistency: SnapshotEnd carries the sequence number of the moment the
 * request arrived. Entries sent later may already be newer; the requester
 * then applies the updates with a higher sequence in order, and ends at
 * the directory's state (the replica rules are in common/coordcli.c).
 *
 * A new request from the same peer (routing id) replaces its job. At most
 * max_jobs at once; more are refused (the requester retries).
 *
 * Ownership: snap_new keeps d and the callback by pointer; they must
 * outlive the struct snap. snap_free ends every job.
 */
#ifndef VSPC_SNAPSHOT_H
#define VSPC_SNAPSHOT_H

#include "vspc/compat.h"
#include "directory.h"
#include "wire.h"

struct event_base;
struct snap;

/* Messages per loop turn, all jobs: a few times the request socket's
 * (ZEV_BUDGET), so snapshots move fast without starving the requests. */
#define SNAP_BUDGET 256
#define SNAP_RETRY 0.01  /* seconds before retrying a full queue */
#define SNAP_RID_MAX 256 /* ZeroMQ routing ids are at most 255 bytes */

/*
 * Send m to the peer rid. Returns 0, or -1 with errno EAGAIN (queue full:
 * retry later) or anything else (the job ends).
 */
typedef int (*snap_send_fn)(const uint8_t *rid, size_t ridlen,
                            const struct wire_msg *m, void *arg);

struct snap *snap_new(struct event_base *base, const struct dir *d,
                      size_t max_jobs, snap_send_fn send, void *arg);
void snap_free(struct snap **sp);

/* Start (or restart) the snapshot for peer rid. 0, or -1 if too many are
 * in progress. */
int snap_request(struct snap *s, const uint8_t *rid, size_t ridlen,
                 uint64_t request_id);

size_t snap_active(const struct snap *s);

#endif /* VSPC_SNAPSHOT_H */
