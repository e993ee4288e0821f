/*
 * oplocal.c: opl_*, an operator attached to a console of this node (see
 * operator.h, struct op_target_ops). The operator reads the console's
 * stream through op->co.rd: its queue is the socket's output buffer, up
 * to cfg.op_queue_max bytes; it takes part in the console's locks as
 * op->co. The remote counterpart is opremote.c.
 */
#include "vspc/compat.h"
#include "operator.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <event2/buffer.h>

#include "vspc/log.h"
#include "cluster.h"

/* ^Ecr replays this many lines. */
#define OPL_REPLAY_LINES 20

/* ---- the operator as a reader of its console's stream ---------------- */

static struct oper *
opl_of(struct strm_reader *r)
{
    return (struct oper *)((char *)r - offsetof(struct oper, co.rd));
}

static size_t
opl_rd_room(struct strm_reader *r)
{
    struct oper *op = opl_of(r);
    size_t q = op_output_queued(op), max = op->px->cfg.op_queue_max;

    if (op->state != OP_ST_ATTACHED)
        return 0;
    return q < max ? max - q : 0;
}

static void
opl_rd_deliver(struct strm_reader *r, const uint8_t *p, size_t n)
{
    op_output(opl_of(r), p, n);
}

static void
opl_rd_gap(struct strm_reader *r, uint64_t from, uint64_t to)
{
    struct oper *op = opl_of(r);

    op_output_gap(op, op->con ? op->con->id : "-", from, to);
}

static void
opl_rd_event(struct strm_reader *r, const char *text)
{
    op_notice(opl_of(r), text);
}

static uint64_t
opl_rd_progress(struct strm_reader *r)
{
    struct oper *op = opl_of(r);

    return op->wire_out - op_output_queued(op);
}

static void
opl_rd_stalled(struct strm_reader *r)
{
    struct oper *op = opl_of(r);

    op->px->stats.ops_dropped_slow++;
    op_close(op, "reader too slow");
}

static void
opl_rd_sealed(struct strm_reader *r)
{
    con_op_sealed(&opl_of(r)->co);
}

static const struct strm_reader_ops opl_rd_ops = {
    .room = opl_rd_room,
    .deliver = opl_rd_deliver,
    .gap = opl_rd_gap,
    .event = opl_rd_event,
    .progress = opl_rd_progress,
    .stalled = opl_rd_stalled,
    .release = NULL, /* operators detach before their console goes */
    .sealed = opl_rd_sealed,
};

/* ---- the operator as the console sees it (struct con_op) ------------- */

static struct oper *
opl_of_co(struct con_op *co)
{
    return (struct oper *)((char *)co - offsetof(struct oper, co));
}

static void
opl_co_input_blocked(struct con_op *co, bool blocked)
{
    if (!co->moving) /* a moving one waits for the next owner */
        op_set_input_blocked(opl_of_co(co), blocked);
}

static void
opl_co_notice(struct con_op *co, const char *text)
{
    op_notice(opl_of_co(co), text);
}

/* This node was fenced: the operator follows the console to its new
 * owner, without reattaching. */
static void
opl_co_moved(struct con_op *co, const char *node, uint64_t epoch)
{
    struct oper *op = opl_of_co(co);
    struct console *c = op->con;
    uint64_t next = co->rd.next;
    char why[128];
    uint8_t *tmp;
    size_t n;

    snprintf(why, sizeof(why), "console moved to node %.63s (epoch %llu)", node,
             (unsigned long long)epoch);
    op->con = NULL;
    op->tgt = NULL;
    con_detach(c, &op->co, why);
    if (op->read_blocked) /* that console's input flow control */
        op_set_input_blocked(op, false);
    if (clu_follow(op->px->clu, op, c->id, op->req, next, why) != 0) {
        op_ended(op, why);
        return;
    }
    /* What it typed while it read the rest here goes first, in order. */
    n = evbuffer_get_length(op->stash);
    if (n > 0 && op->tgt && op->tgt->input && (tmp = malloc(n)) != NULL) {
        evbuffer_remove(op->stash, tmp, n);
        op->tgt->input(op, tmp, n);
        free(tmp);
    }
}

/* The console moved while the operator still reads what this node has:
 * its input waits (stashed, reading paused) for the new owner. */
static void
opl_co_leaving(struct con_op *co)
{
    op_set_input_blocked(opl_of_co(co), true);
}

static const struct con_op_ops opl_co_ops = {
    .input_blocked = opl_co_input_blocked,
    .notice = opl_co_notice,
    .moved = opl_co_moved,
    .leaving = opl_co_leaving,
};

/* ---- the target --------------------------------------------------------- */

static void
opl_input(struct oper *op, const uint8_t *p, size_t n)
{
    struct console *c = op->con;

    if (n == 0 || c == NULL)
        return;
    if (op->co.moving) { /* for the next owner (opl_co_moved) */
        if (evbuffer_add(op->stash, p, n) != 0)
            op_close(op, "out of memory");
        op_set_input_blocked(op, true);
        return;
    }
    if (!con_op_can_write(c, &op->co)) {
        /* A spectator's input never reaches the VM. */
        op->px->stats.ops_input_refused += n;
        if (!op->ro_told) {
            op->ro_told = true;
            op_notice(op, "read-only: your input is discarded "
                          "(escape f forces write access)");
        }
        return;
    }
    op->ro_told = false;
    con_op_input(c, &op->co, p, n);
}

static void
opl_escape(struct oper *op, uint8_t ch)
{
    struct console *c = op->con;

    if (c == NULL)
        return;
    switch (ch) {
    case 'r':
        con_replay_lines(c, &op->co, OPL_REPLAY_LINES);
        break;
    case 'f':
        con_force_write(c, &op->co);
        op_notice(op, "you have write access");
        break;
    case 's':
        con_make_spectator(c, &op->co);
        op_notice(op, "you are a spectator (read-only)");
        break;
    default:
        break;
    }
}

static void
opl_room(struct oper *op)
{
    if (op->con)
        strm_reader_kick(&op->co.rd); /* room again: pace, replay, catch up */
}

static void
opl_detach(struct oper *op, const char *why)
{
    struct console *c = op->con;

    op->tgt = NULL;
    if (c == NULL)
        return;
    op->con = NULL;
    con_detach(c, &op->co, why);
    log_info("console=%s operator %s detached: %s", c->id, op->addr, why);
}

static const struct op_target_ops opl_target = {
    .input = opl_input,
    .escape = opl_escape,
    .room = opl_room,
    .detach = opl_detach,
};

void
opl_init(struct oper *op)
{
    op->co.ops = &opl_co_ops;
    op->co.id = op->id;
    /* As opremote.c names it on other nodes: a lock follows it. */
    snprintf(op->co.gid, sizeof(op->co.gid), "%s/%" PRIu64, op->px->cfg.node_id,
             op->id);
    snprintf(op->co.name, sizeof(op->co.name), "%s", op->addr);
    op->co.rd.ops = &opl_rd_ops;
    op->co.rd.follow = op->co.gid;
    snprintf(op->co.rd.desc, sizeof(op->co.rd.desc), "operator %s", op->addr);
}

int
opl_attach(struct oper *op, struct console *c, enum con_lock_req req,
           const char **err)
{
    return opl_attach_from(op, c, req, UINT64_MAX, err);
}

int
opl_attach_from(struct oper *op, struct console *c, enum con_lock_req req,
                uint64_t from, const char **err)
{
    uint64_t start;

    if (con_attach(c, &op->co, req, &start, err) != 0)
        return -1;
    if (from != UINT64_MAX) {
        strm_reader_seek(&op->co.rd, from);
        start = op->co.rd.next;
    }
    op->con = c;
    op->tgt = &opl_target;
    op_attached(op, c->id, op->px->cfg.node_id, op->co.mode, start, c->epoch);
    strm_reader_kick(&op->co.rd); /* the scrollback, then live output */
    return 0;
}
