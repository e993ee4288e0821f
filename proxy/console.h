/*
 * console.h: con_*, one virtual serial port of one VM and the registry of
 * all of them.
 *
 * A console is identified by its normalised VC UUID plus optional label
 * ("<32 hex>[.<label>]"). It outlives its hypervisor connections: a VM
 * that reconnects (power cycle, network blip, vMotion) finds the same
 * console, with its operators still attached and its scrollback kept.
 *
 * Data paths through a console:
 *   VM output:  owner session -> con_vm_output() -> c->out (stream.h: the
 *               stream offset, the scrollback ring, and every reader: each
 *               attached operator and the console log writer, each with
 *               its bounded queue and the offset it needs next). A reader
 *               whose queue is full paces the VM: the session stops
 *               reading its hypervisor connection (strm_feed_ok) until the
 *               reader has room; a stalled reader is cut loose.
 *   Operator input: operator -> con_op_input() -> owner session, or held
 *               (in order) while a vMotion is between GOAHEAD and
 *               COMPLETE/ABORT or while no hypervisor is connected.
 *   Input flow control: when the owner's output or the held queue passes
 *               its limit, operators stop being read (con_input_blocked());
 *               their bytes are never dropped.
 *
 * Ownership: the registry owns every console (freed by con_registry_free
 * or by expiry). A console never owns its hypervisor end or its
 * operators: it points at its owner (struct con_hv, cleared by the owner
 * when it goes) and lists its operators (struct con_op, each unlinks
 * itself with con_detach()). The console core calls no session, operator
 * or log-writer function: they plug in through con_hv, con_op and
 * strm_reader (CI checks the object's symbols: tests/console_deps.sh).
 */
#ifndef VSPC_CONSOLE_H
#define VSPC_CONSOLE_H

#include "vspc/compat.h"

#include <sys/queue.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <jansson.h>

#include "heldin.h"
#include "proxy.h"
#include "stream.h"
#include "vmext.h"

struct vmotion;

enum con_state {
    CON_ST_CONNECTED = 0, /* an owner session carries the console */
    CON_ST_VMOTION,       /* owner present or not, a vMotion is pending */
    CON_ST_DISCONNECTED,  /* no hypervisor connection */
    CON_ST__COUNT,
};
const char *con_state_str(enum con_state st);

enum op_mode { OP_MODE_RW = 0, OP_MODE_RO, OP_MODE__COUNT };

/*
 * What an operator asks for when attaching. The first five are VMware's
 * lock modes (option 233, vmware/vspc vspc/lock.py), with their byte
 * values; the text command's `rw` is READONLY_OK, `ro` READONLY, and
 * `excl` TAKE_WRITE.
 *   READWRITE   read-write; refused while someone holds EXCLUSIVE or
 *               EXCL_WRITE.
 *   READONLY    read-only; refused while someone holds EXCLUSIVE.
 *   EXCLUSIVE   read-write, alone: refused unless nobody else is attached;
 *               while held, nobody else can attach.
 *   EXCL_WRITE  the only writer: refused while another writer is attached;
 *               others may watch.
 *   READONLY_OK read-write, or read-only while someone holds the write
 *               lock; refused while someone holds EXCLUSIVE.
 *   TAKE_WRITE  the write lock (others keep watching; their input is
 *               refused while it is held); refused only while another
 *               operator holds a lock (then ^Ecf forces it).
 */
enum con_lock_req {
    CON_LOCK_READWRITE = 0x00,
    CON_LOCK_READONLY = 0x01,
    CON_LOCK_EXCLUSIVE = 0x10,
    CON_LOCK_EXCL_WRITE = 0x11,
    CON_LOCK_READONLY_OK = 0x20,
    CON_LOCK_TAKE_WRITE = 0x100,
};
/* Parses a VMware lock byte; -1 if unknown. */
int con_lock_from_byte(uint8_t b, enum con_lock_req *out);

/*
 * A console's hypervisor end: where operator input goes. Today the local
 * session that carries the VM (session.c embeds one); in the cluster, the
 * owner node reached over the peer link. The console never knows which.
 */
struct con_hv;
struct chold;
struct con_hv_ops {
    /* Operator input toward the VM, in order. */
    void (*send)(struct con_hv *h, const uint8_t *p, size_t n);
    /* Bytes accepted by send and not yet written toward the VM. */
    size_t (*queued)(const struct con_hv *h);
    /* A newer connection of the VM took over: let this one go. */
    void (*replaced)(struct con_hv *h, const char *why);
    /* A serial break toward the VM, after the input sent so far. */
    void (*brk)(struct con_hv *h);
};
struct con_hv {
    const struct con_hv_ops *ops;
    char addr[64]; /* the host's "addr:port", for `list` and logs */
};

/*
 * An operator attached to a console, wherever its connection is (a local
 * operator today, embedded in struct oper; a remote node's operator in the
 * cluster). The console keeps its lock state by operator id and tells it
 * through these callbacks; its output goes through its reader `rd`.
 */
struct con_op;
struct con_op_ops {
    /* Input flow control: stop or resume reading this operator. */
    void (*input_blocked)(struct con_op *o, bool blocked);
    /* A notice for this operator alone ("your write access was taken"). */
    void (*notice)(struct con_op *o, const char *text);
    /* This node lost the console to a newer owner (node, epoch): follow
     * it there. Called with o still attached; it may con_detach itself. */
    void (*moved)(struct con_op *o, const char *node, uint64_t epoch);
    /* The console moved on while o has not read all this node has of it:
     * o gives it no more input from now on (keeping its order for the new
     * owner); moved follows once o has read the rest (con_op_sealed) or
     * CON_MOVE_DRAIN_MS passed. May be NULL. */
    void (*leaving)(struct con_op *o);
};
struct con_op {
    const struct con_op_ops *ops;
    uint64_t id;       /* unique on its node (never 0) */
    char name[64];     /* "addr:port", in events and logs */
    enum op_mode mode; /* set by con_attach and the lock escapes */
    uint64_t in_seq;   /* bytes of input it gave this console so far */
    char gid[128];     /* the same on every node ("node/id"): the lock
                          it holds follows it across nodes; "" none */
    bool moving;       /* con_moved: reading the rest before it follows */
    struct strm_reader rd;
    TAILQ_ENTRY(con_op) link; /* console.ops */
};

struct console {
    char id[VMX_CONSOLE_ID_MAX + 1];
    char uuid[VMX_UUID_HEX + 1];
    char label[VMX_LABEL_MAX + 1];
    char name[VMX_NAME_MAX + 1]; /* sanitised display name, may be "" */
    char hv_addr[64];            /* "addr:port" of the owner, or "-" */
    struct proxy *px;
    struct con_hv *owner; /* live hypervisor end or NULL */
    struct vmotion *vmo;  /* pending vMotion or NULL */
    uint64_t bytes_in;    /* from the VM */
    uint64_t bytes_out;   /* to the VM */
    struct strm out;      /* VM output: scrollback ring and readers */
    uint64_t epoch;       /* owner epoch (vspc/epoch.h) of this node's claim; 0
                             while it never had a hypervisor here */
    char moved_node[64];  /* con_moved: the newer owner, until an owner is
                             set here again ("" otherwise) */
    uint64_t moved_epoch;
    /* Operator input waiting for a hypervisor end, in order, as records
     * (operator id, that operator's input offset, bytes). */
    struct hin_queue held;
    bool input_blocked;
    uint64_t excl_writer; /* id of the operator with the write lock, or 0 */
    uint64_t excl_all;    /* id of the operator holding EXCLUSIVE, or 0 */
    /* A lock handed over by a vMotion, kept (excl_* == CON_OP_RESERVED)
     * for the operator resv_gid until it follows the console here or
     * resv_ev fires. */
    char resv_gid[128];
    struct event *resv_ev;
    unsigned n_ops;
    TAILQ_HEAD(, con_op) ops;
    struct event *expire_ev;
    struct event *move_ev; /* bounds the readers' drain after con_moved */
    struct chold *hold;    /* waiting for followers (conhold.h), or NULL */
    struct console *hnext; /* registry hash chain */
    TAILQ_ENTRY(console) link;
};

struct con_registry;

/*
 * Who wants to know about consoles (the console log attaches its reader on
 * `created`; the cluster announces ownership on `changed` and withdraws on
 * `freed`). Any callback may be NULL. `changed`: owner set or gone, VM
 * name changed. The struct is kept by pointer until unobserved.
 */
struct con_observer {
    void (*created)(struct console *c, void *arg);
    void (*changed)(struct console *c, void *arg);
    void (*freed)(struct console *c, void *arg);
    void *arg;
};
#define CON_OBSERVERS_MAX 4

/* Caller owns the result; free with con_registry_free(). */
struct con_registry *con_registry_new(struct proxy *px);
/* 0, or -1 when CON_OBSERVERS_MAX are registered already. */
int con_registry_observe(struct con_registry *reg,
                         const struct con_observer *o);
void con_registry_unobserve(struct con_registry *reg,
                            const struct con_observer *o);
/* Frees every console. Operators must already be gone. */
void con_registry_free(struct con_registry **regp);
size_t con_registry_count(const struct con_registry *reg);
/* Iteration in creation order: first, then con_next(c). */
struct console *con_first(struct con_registry *reg);
struct console *con_next(struct console *c);

/* Lookup by exact id. NULL if none. */
struct console *con_find(struct con_registry *reg, const char *id);
/*
 * Operator lookup: exact id, then exact VM name, then unique id prefix.
 * Returns NULL and sets *err ("no such console", "ambiguous ...").
 */
struct console *con_lookup(struct con_registry *reg, const char *key,
                           const char **err);
/* Find or create the console for id. Never NULL except on ENOMEM. */
struct console *con_get(struct con_registry *reg, const char uuid[33],
                        const char *label);

enum con_state con_state(const struct console *c);
/*
 * {id, name, state, hypervisor, operators, bytes_in, bytes_out, offset}:
 * the console as the operator port's `list --json` and the HTTP API show
 * it. Caller owns the result (json_decref); NULL on ENOMEM.
 */
json_t *con_to_json(const struct console *c);
void con_set_name(struct console *c, const char *name);

/*
 * h becomes the console's hypervisor end. Held operator input is flushed
 * to it (unless a vMotion is pending).
 */
void con_set_owner(struct console *c, struct con_hv *h);
/* The owner is going away: the console becomes disconnected. */
void con_owner_gone(struct console *c, struct con_hv *h);

/* VM output: offset, scrollback, every reader (n <= STRM_FEED_MAX, from a
 * session that checked strm_feed_ok(&c->out, ...)). */
void con_vm_output(struct console *c, const uint8_t *p, size_t n);

/*
 * Operator input toward the VM. Sent to the owner now, or appended to
 * c->held (with op's id and input offset) while a vMotion is pending or no
 * owner is connected.
 */
void con_op_input(struct console *c, struct con_op *op, const uint8_t *p,
                  size_t n);
/* Send everything held to the owner (after COMPLETE/ABORT/reconnect). */
void con_flush_held(struct console *c);
/* Re-evaluate input flow control (owner output drained, held changed). */
void con_update_input_flow(struct console *c);

/*
 * Operators. con_attach applies the lock request (sets op->mode and the
 * console's locks), tells the others and links the operator's reader
 * (op->rd, ops and desc set by the caller) at the start of the scrollback.
 * Returns 0 and in *start that offset (the caller sends its own reply, then
 * strm_reader_kick(&op->rd) replays), or -1 with *err set (nothing changed).
 */
int con_attach(struct console *c, struct con_op *op, enum con_lock_req req,
               uint64_t *start, const char **err);
/* The lock holder of a console handed over from another node (gid of the
 * write lock, and whether it was EXCLUSIVE) keeps its lock here while it
 * follows the console, for at most secs. */
#define CON_OP_RESERVED UINT64_MAX
void con_reserve_lock(struct console *c, const char *gid, bool exclusive,
                      double secs);
/* gid of the operator holding the write lock (or EXCLUSIVE if excl), ""
 * if none: what a handover names. */
const char *con_lock_holder(const struct console *c, bool excl);
/* Unlink; releases its locks; tells the others. */
void con_detach(struct console *c, struct con_op *op, const char *why);
/* May this operator's input reach the VM now? */
bool con_op_can_write(const struct console *c, const struct con_op *op);
/* ^Ecf: op takes write access; a lock holder is demoted and told. */
void con_force_write(struct console *c, struct con_op *op);
/* ^Ecs: op becomes a spectator, releasing any lock. */
void con_make_spectator(struct console *c, struct con_op *op);
/* Send op the last `lines` lines of the scrollback again (^Ecr). */
void con_replay_lines(struct console *c, struct con_op *op, unsigned lines);
/* Offset where the scrollback replayed on attach begins. */
uint64_t con_ring_start(const struct console *c);
/*
 * An event worth a marker, at its place in the output stream: every
 * reader gets it (the console log writes a marker, attached operators
 * except raw ones get an in-band notice).
 */
void con_event(struct console *c, const char *fmt, ...) VSPC_PRINTF(2, 3);

/* A newer owner elsewhere holds c (fencing, or a vMotion handed it
 * over): every operator is told (con_op_ops.moved) and may follow it
 * there, once it has read what this node has (the stream is sealed; one
 * behind is told leaving first); c remembers where it went (moved_node)
 * until it has an owner here again. */
void con_moved(struct console *c, const char *node, uint64_t epoch);
/* How long operators that are behind keep reading here after con_moved
 * before they follow anyway (what they did not read is then a gap). */
#define CON_MOVE_DRAIN_MS 10000
/* strm_reader_ops.sealed of an operator's reader: it has read everything
 * this node has of a console that moved; it follows (ops->moved). */
void con_op_sealed(struct con_op *op);

/* Arm or disarm the expiry of a disconnected, unwatched console. */
void con_check_expire(struct console *c);

#endif /* VSPC_CONSOLE_H */
