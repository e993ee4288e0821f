/*
 * coordsim_scen.c: coordsim's scenarios, one table of steps each (see
 * coordsim.h). Fake node slot i has node id "sim<i>" and index 10 + i
 * unless a scenario says otherwise.
 */
#include "vspc/compat.h"
#include "coordsim.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.h>

#include "vspc/epoch.h"

#define IDX(slot) ((uint8_t)(10 + (slot)))

/* ---- shared steps -------------------------------------------------------- */

/* Start every node and announce nconsoles each (epoch counters 1-3). */
static void
act_start_all(struct sim *s)
{
    struct wire_console c;

    for (int i = 0; i < s->nnodes; i++) {
        if (sim_node_start(s, i, IDX(i)) != 0) {
            s->failed = 1;
            return;
        }
        for (int k = 0; k < s->nconsoles; k++) {
            sim_make_console(s, i, k, 1 + (uint64_t)(k % 3), &c);
            sim_announce(s, i, &c);
        }
    }
}

static bool
chk_converged(struct sim *s, char *why, size_t n)
{
    return sim_converged(s, why, n);
}

static bool
chk_coord_gone(struct sim *s, char *why, size_t n)
{
    return sim_coord_gone(s, why, n);
}

/* ---- converge ------------------------------------------------------------ */

/* Each node withdraws every 10th console and moves every 10th + 1 to a
 * new state with a higher epoch. */
static void
act_churn(struct sim *s)
{
    for (int i = 0; i < s->nnodes; i++)
        for (int k = 0; k < s->nconsoles; k++) {
            char id[WIRE_CONSOLE_ID_MAX + 1];
            struct sim_xcon *x;

            sim_console_id(id, i, k);
            if ((x = sim_model_get(s, id)) == NULL)
                continue;
            if (k % 10 == 0) {
                sim_withdraw(s, i, id, x->c.epoch);
            } else if (k % 10 == 1) {
                struct wire_console c = x->c;

                c.epoch = cc_next_epoch(s->nodes[i].cc, id);
                snprintf(c.state, sizeof(c.state), "vmotion");
                sim_announce(s, i, &c);
            }
        }
}

static const struct sim_step steps_converge[] = {
    {"nodes start and announce; every replica converges", act_start_all,
     chk_converged, 20},
    {"withdraw 10%, re-claim 10%; every replica converges", act_churn,
     chk_converged, 10},
    {NULL, NULL, NULL, 0},
};

/* ---- restart ------------------------------------------------------------- */

static void
act_coord_stop(struct sim *s)
{
    struct cc_status st;

    cc_status(s->nodes[0].cc, &st);
    s->coord_inc_before = st.coordinator_inc;
    sim_coord_term(s);
}

/* The coordinator is gone: every node says so and keeps its replica. */
static bool
chk_away_replica_kept(struct sim *s, char *why, size_t n)
{
    for (int i = 0; i < s->nnodes; i++) {
        struct cc_status st;

        cc_status(s->nodes[i].cc, &st);
        if (!st.away) {
            snprintf(why, n, "node %d has not noticed", i);
            return false;
        }
    }
    return sim_converged(s, why, n);
}

/* While the coordinator is away node 0 releases 50 consoles and claims 50
 * new ones: the restarted coordinator must end up with the new truth. */
static void
act_change_while_away(struct sim *s)
{
    int m = s->nconsoles < 50 ? s->nconsoles : 50;

    for (int i = 0; i < s->nnodes; i++)
        s->nodes[i].removed = 0;
    for (int k = 0; k < m; k++) {
        char id[WIRE_CONSOLE_ID_MAX + 1];
        struct sim_xcon *x;
        struct wire_console c;

        sim_console_id(id, 0, k);
        if ((x = sim_model_get(s, id)) != NULL)
            sim_withdraw(s, 0, id, x->c.epoch);
        sim_make_console(s, 0, s->nconsoles + k, 1, &c);
        sim_announce(s, 0, &c);
    }
}

static void
act_coord_start(struct sim *s)
{
    if (sim_coord_start(s) != 0)
        s->failed = 1;
}

static bool
chk_new_incarnation(struct sim *s, char *why, size_t n)
{
    uint64_t inc = 0;

    for (int i = 0; i < s->nnodes; i++) {
        struct cc_status st;

        cc_status(s->nodes[i].cc, &st);
        if (st.coordinator_inc == s->coord_inc_before ||
            (inc && st.coordinator_inc != inc) || st.away) {
            snprintf(why, n, "node %d: coordinator incarnation %016" PRIx64, i,
                     st.coordinator_inc);
            return false;
        }
        inc = st.coordinator_inc;
    }
    if (!sim_converged(s, why, n))
        return false;
    /* Exactly the 50 withdrawn went from every replica: nothing else was
     * removed and added back while the nodes re-announced (the grace). */
    for (int i = 0; i < s->nnodes; i++) {
        unsigned want = s->nconsoles < 50 ? (unsigned)s->nconsoles : 50;

        if (s->nodes[i].removed != want) {
            snprintf(why, n, "node %d: %u consoles removed, want %u", i,
                     s->nodes[i].removed, want);
            s->failed = 1; /* more will not come back */
            return false;
        }
    }
    return true;
}

static const struct sim_step steps_restart[] = {
    {"nodes start and announce; converged", act_start_all, chk_converged, 20},
    {"coordinator stopped (SIGTERM), exits 0", act_coord_stop, chk_coord_gone,
     10},
    {"every node notices and keeps its replica", NULL, chk_away_replica_kept,
     10},
    {"node 0 withdraws 50 and claims 50 while it is away",
     act_change_while_away, NULL, 0},
    {"coordinator restarted: re-registered, re-announced, converged",
     act_coord_start, chk_new_incarnation, 20},
    {NULL, NULL, NULL, 0},
};

/* ---- dead ---------------------------------------------------------------- */

static void
act_stop_last(struct sim *s)
{
    int last = s->nnodes - 1;

    sim_node_stop(s, last);
    s->xnodes[last].n.alive = false; /* its consoles stay listed */
}

static void
act_claim_from_dead(struct sim *s)
{
    int last = s->nnodes - 1;
    char id[WIRE_CONSOLE_ID_MAX + 1];
    struct sim_xcon *x;
    struct wire_console c;

    sim_console_id(id, last, 0);
    if ((x = sim_model_get(s, id)) == NULL) {
        s->failed = 1;
        return;
    }
    c = x->c;
    c.epoch = cc_next_epoch(s->nodes[0].cc, id);
    snprintf(c.owner, sizeof(c.owner), "%s", s->nodes[0].node_id);
    c.owner_index = s->nodes[0].index;
    snprintf(c.hv_addr, sizeof(c.hv_addr), "10.99.0.1:12345");
    sim_announce(s, 0, &c);
}

/* The dead node comes back as a new process: the consoles it held are
 * dropped (it announces none), the one claimed by node 0 stays. */
static void
act_restart_last(struct sim *s)
{
    int last = s->nnodes - 1;

    for (int k = 0; k < s->nconsoles; k++) {
        char id[WIRE_CONSOLE_ID_MAX + 1];
        struct sim_xcon *x;

        sim_console_id(id, last, k);
        if ((x = sim_model_get(s, id)) != NULL &&
            strcmp(x->c.owner, s->nodes[last].node_id) == 0)
            sim_model_del(s, id);
    }
    if (sim_node_start(s, last, IDX(last)) != 0)
        s->failed = 1;
}

static const struct sim_step steps_dead[] = {
    {"nodes start and announce; converged", act_start_all, chk_converged, 20},
    {"last node stops heartbeating: dead on the others, consoles kept",
     act_stop_last, chk_converged, 10},
    {"node 0 claims one of its consoles with a higher epoch",
     act_claim_from_dead, chk_converged, 10},
    {"it restarts (new incarnation): alive, its old consoles dropped",
     act_restart_last, chk_converged, 15},
    {NULL, NULL, NULL, 0},
};

/* ---- stale --------------------------------------------------------------- */

static void
act_claim_x(struct sim *s)
{
    char id[WIRE_CONSOLE_ID_MAX + 1];
    struct sim_xcon *x;
    struct wire_console c;

    sim_console_id(id, 0, 0);
    if ((x = sim_model_get(s, id)) == NULL) {
        s->failed = 1;
        return;
    }
    c = x->c;
    c.epoch = epoch_make(5, s->nodes[1].index);
    snprintf(c.owner, sizeof(c.owner), "%s", s->nodes[1].node_id);
    c.owner_index = s->nodes[1].index;
    sim_announce(s, 1, &c);
}

static bool
chk_fenced(struct sim *s, char *why, size_t n)
{
    if (!sim_converged(s, why, n))
        return false;
    if (s->nodes[0].fenced != 1) {
        snprintf(why, n, "node 0 fenced %u times, want 1", s->nodes[0].fenced);
        return false;
    }
    return true;
}

/* Node 0, fenced, insists with its old, lower epoch: ignored and logged.
 * An epoch that is not its own index is refused by the client itself. */
static void
s_stale_entry(struct sim *s, struct wire_console *c)
{
    char id[WIRE_CONSOLE_ID_MAX + 1];

    sim_console_id(id, 0, 0);
    *c = sim_model_get(s, id)->c;
    c->epoch = epoch_make(3, s->nodes[0].index);
    snprintf(c->owner, sizeof(c->owner), "%s", s->nodes[0].node_id);
    c->owner_index = s->nodes[0].index;
    snprintf(c->state, sizeof(c->state), "stale");
}

static void
act_stale_announce(struct sim *s)
{
    struct wire_console c;

    s_stale_entry(s, &c);
    if (cc_announce(s->nodes[0].cc, &c) != 0) {
        fprintf(stderr, "coordsim: stale announce not sent\n");
        s->failed = 1;
    }
    c.epoch = epoch_make(9, s->nodes[1].index); /* not node 0's index */
    if (cc_announce(s->nodes[0].cc, &c) == 0) {
        fprintf(stderr, "coordsim: foreign-index epoch was accepted\n");
        s->failed = 1;
    }
}

static void
act_stale_withdraw(struct sim *s)
{
    struct wire_console c;

    s_stale_entry(s, &c);
    if (cc_withdraw(s->nodes[0].cc, c.id, c.epoch) != 0) {
        fprintf(stderr, "coordsim: stale withdraw not sent\n");
        s->failed = 1;
    }
}

/* One line with what, and the directory did not move (node 1 still holds
 * the console at epoch 5). */
static bool
s_stale_logged(struct sim *s, const char *what, char *why, size_t n)
{
    char id[WIRE_CONSOLE_ID_MAX + 1], line[200];
    int c;

    sim_console_id(id, 0, 0);
    snprintf(line, sizeof(line),
             "console=%s stale %s from node sim0: epoch 000000000000030a < "
             "known 000000000000050b (owner sim1): ignored",
             id, what);
    if ((c = sim_log_count(s, line)) != 1) {
        snprintf(why, n, "%d log lines \"%s\"", c, line);
        return false;
    }
    return sim_converged(s, why, n);
}

static bool
chk_stale_announce(struct sim *s, char *why, size_t n)
{
    return s_stale_logged(s, "announce", why, n);
}

static bool
chk_stale_withdraw(struct sim *s, char *why, size_t n)
{
    return s_stale_logged(s, "withdraw", why, n);
}

static const struct sim_step steps_stale[] = {
    {"nodes start and announce; converged", act_start_all, chk_converged, 20},
    {"node 1 claims node 0's console with a higher epoch: node 0 fenced",
     act_claim_x, chk_fenced, 10},
    {"node 0 announces it with its old, lower epoch: ignored, logged",
     act_stale_announce, chk_stale_announce, 10},
    {"node 0 withdraws its old epoch: ignored, logged", act_stale_withdraw,
     chk_stale_withdraw, 10},
    {NULL, NULL, NULL, 0},
};

/* ---- conflict ------------------------------------------------------------ */

static void
act_start_holder(struct sim *s)
{
    if (sim_node_start(s, 0, 7) != 0)
        s->failed = 1;
}

static void
act_start_rival(struct sim *s)
{
    if (sim_node_start(s, 1, 7) != 0)
        s->failed = 1;
    s->xnodes[1].present = false; /* not in the directory */
}

static bool
chk_refused(struct sim *s, char *why, size_t n)
{
    struct cc_status st;
    const char *want = "node index 7 is held by live node sim0 (peer "
                       "127.0.0.1:13390)";

    cc_status(s->nodes[1].cc, &st);
    if (st.state != CC_ST_REFUSED || strcmp(s->nodes[1].last_detail, want)) {
        snprintf(why, n, "node 1: state %s, detail \"%s\"",
                 cc_state_str(st.state), s->nodes[1].last_detail);
        return false;
    }
    cc_status(s->nodes[0].cc, &st);
    if (st.state != CC_ST_ACTIVE || st.nodes != 1) {
        snprintf(why, n, "node 0: state %s, %zu nodes", cc_state_str(st.state),
                 st.nodes);
        return false;
    }
    return sim_log_count(s, "node sim1: registration refused: node index 7 "
                            "is held by live node sim0") >= 1;
}

static void
act_stop_holder(struct sim *s)
{
    sim_node_stop(s, 0);
    s->xnodes[0].n.alive = false;
    s->xnodes[1].present = true;
}

static const struct sim_step steps_conflict[] = {
    {"node sim0 registers with index 7", act_start_holder, chk_converged, 10},
    {"node sim1 with index 7 too: refused, with the reason", act_start_rival,
     chk_refused, 10},
    {"sim0 stops: once it is dead, sim1 gets index 7", act_stop_holder,
     chk_converged, 15},
    {NULL, NULL, NULL, 0},
};

/* ---- garbage ------------------------------------------------------------- */

static void *
s_raw(struct sim *s, int type, const char *ep, const char *rid)
{
    void *z = zmq_socket(s->zctx, type);
    int zero = 0;

    if (z == NULL || s->nraw >= SIM_MAX_RAW)
        abort();
    zmq_setsockopt(z, ZMQ_LINGER, &zero, sizeof(zero));
    if (rid)
        zmq_setsockopt(z, ZMQ_ROUTING_ID, rid, strlen(rid));
    if (zmq_connect(z, ep) != 0)
        abort();
    s->raw[s->nraw++] = z;
    return z;
}

void
sim_raw_close(struct sim *s)
{
    for (int i = 0; i < s->nraw; i++)
        zmq_close(s->raw[i]);
    s->nraw = 0;
}

static void
s_raw_send(void *z, const void *p, size_t n, int more)
{
    /* A new DEALER queues until connected: this does not block. */
    if (zmq_send(z, p, n, (more ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT) < 0)
        fprintf(stderr, "coordsim: raw send: %s\n", zmq_strerror(errno));
}

/* Plain TCP: bytes that are not ZMTP at all. */
static void
s_tcp_garbage(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    static const char junk[] = "GET / HTTP/1.0\r\n\r\n\xff\x00\x01garbage";
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0)
        return;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        write(fd, junk, sizeof(junk) - 1) < 0)
        fprintf(stderr, "coordsim: tcp garbage not written\n");
    close(fd);
}

static void
act_garbage(struct sim *s)
{
    struct wire_msg m;
    uint8_t *buf, rnd[64], *big;
    size_t len;
    char err[128];
    static const uint8_t nobody[] = {0x08, 0x01};
    /* Envelope{version 1, heartbeat{node_id "A"}}: no incarnation. */
    static const uint8_t invalid[] = {0x08, 0x01, 0x62, 0x03, 0x0a, 0x01, 0x41};
    static const uint8_t flood[] = {0xff, 0xfe, 0xfd, 0xfc};
    void *z;

    /* One peer per kind of bad message, so each gets its own line. */
    s_raw_send(s_raw(s, ZMQ_DEALER, s->endpoint, "bad-empty"), "", 0, 0);
    memset(&m, 0, sizeof(m));
    m.type = WIRE_ANNOUNCE;
    sim_make_console(s, 0, 999999, 1, &m.u.announce);
    if (wire_encode(&m, &buf, &len, err, sizeof(err)) != WIRE_OK)
        abort();
    s_raw_send(s_raw(s, ZMQ_DEALER, s->endpoint, "bad-truncated"), buf, len - 5,
               0);
    free(buf);
    for (size_t i = 0; i < sizeof(rnd); i++)
        rnd[i] = (uint8_t)sim_rand(&s->seed);
    rnd[0] = 0xff; /* a field number 0 would be too kind */
    s_raw_send(s_raw(s, ZMQ_DEALER, s->endpoint, "bad-random"), rnd,
               sizeof(rnd), 0);
    if ((big = malloc(300000)) == NULL)
        abort();
    memset(big, 0x41, 300000);
    s_raw_send(s_raw(s, ZMQ_DEALER, s->endpoint, "bad-oversized"), big, 300000,
               0);
    memset(&m, 0, sizeof(m));
    m.type = WIRE_HEARTBEAT;
    snprintf(m.u.heartbeat.node_id, sizeof(m.u.heartbeat.node_id), "sim0");
    m.u.heartbeat.incarnation = 1;
    if (wire_encode(&m, &buf, &len, err, sizeof(err)) != WIRE_OK ||
        buf[0] != 0x08 || buf[1] != WIRE_VERSION)
        abort();
    buf[1] = 2; /* version 2 */
    s_raw_send(s_raw(s, ZMQ_DEALER, s->endpoint, "bad-version"), buf, len, 0);
    /* The same on the update port (not a subscription), then too big. An
     * XSUB drops what it sends before it is connected: the check sends
     * again until the line shows. */
    s->xsub = s_raw(s, ZMQ_XSUB, s->pub_endpoint, NULL);
    memcpy(s->xsub_msg, buf, len);
    s->xsub_len = len;
    s_raw_send(s->xsub, buf, len, 0);
    s_raw_send(s->xsub, big, 300000, 0);
    free(big);
    free(buf);
    s_raw_send(s_raw(s, ZMQ_DEALER, s->endpoint, "bad-nobody"), nobody,
               sizeof(nobody), 0);
    s_raw_send(s_raw(s, ZMQ_DEALER, s->endpoint, "bad-invalid"), invalid,
               sizeof(invalid), 0);
    z = s_raw(s, ZMQ_DEALER, s->endpoint, "bad-frames");
    s_raw_send(z, invalid, sizeof(invalid), 1);
    s_raw_send(z, invalid, sizeof(invalid), 0);
    memset(&m, 0, sizeof(m));
    m.type = WIRE_HEARTBEAT_REPLY;
    m.u.heartbeat_reply.incarnation = 1;
    if (wire_encode(&m, &buf, &len, err, sizeof(err)) != WIRE_OK)
        abort();
    s_raw_send(s_raw(s, ZMQ_DEALER, s->endpoint, "bad-direction"), buf, len, 0);
    free(buf);
    /* 50 bad messages from one peer within a second: one line. */
    z = s_raw(s, ZMQ_DEALER, s->endpoint, "flood");
    for (int i = 0; i < 50; i++)
        s_raw_send(z, flood, sizeof(flood), 0);
    s_tcp_garbage(s->port);
    s_tcp_garbage(s->port + 1);
}

/* "id <hex of rid>" as the coordinator logs a request-port peer. */
static void
s_rid_hex(const char *rid, char *out, size_t cap)
{
    size_t o = snprintf(out, cap, "(id ");

    for (const char *p = rid; *p && o + 3 < cap; p++)
        o += snprintf(out + o, cap - o, "%02x", (unsigned char)*p);
    snprintf(out + o, cap - o, ")");
}

static bool
chk_garbage_logged(struct sim *s, char *why, size_t n)
{
    static const struct {
        const char *rid, *text;
    } want[] = {
        {"bad-empty", "bad message (empty frame)"},
        {"bad-truncated", "bad message (malformed frame: not a protobuf"},
        {"bad-random", "bad message ("},
        {"bad-oversized",
         "bad message (oversized frame: 300000 bytes (max 262144))"},
        {"bad-version", "bad message (unsupported version 2 (want 1))"},
        {"bad-nobody", "bad message (no message body"},
        {"bad-invalid", "bad message (heartbeat.incarnation: missing)"},
        {"bad-frames", "message of 2 frames after the routing id (want 1)"},
        {"bad-direction", "unexpected heartbeat-reply message"},
        {"flood", "bad message (malformed frame"},
        {NULL, "where only subscriptions are taken (unsupported version 2 "
               "(want 1)): dropped"},
        {NULL, "request port: tcp://127.0.0.1"},
        {NULL, "update port: tcp://127.0.0.1"},
    };
    char line[400];

    for (size_t i = 0; i < VSPC_ARRAY_LEN(want); i++) {
        int c;

        if (want[i].rid) {
            char hex[128];

            s_rid_hex(want[i].rid, hex, sizeof(hex));
            snprintf(line, sizeof(line), "%s: %s", hex, want[i].text);
        } else {
            snprintf(line, sizeof(line), "%s", want[i].text);
        }
        if ((c = sim_log_count(s, line)) < 1) {
            snprintf(why, n, "no log line with \"%s\"", line);
            if (s->xsub)
                s_raw_send(s->xsub, s->xsub_msg, s->xsub_len, 0);
            return false;
        }
    }
    /* The ZMTP handshake lines say why. */
    if (sim_log_count(s, "failed the ZMTP handshake") < 2) {
        snprintf(why, n, "handshake failures not logged on both ports");
        return false;
    }
    return true;
}

static void
act_more(struct sim *s)
{
    struct wire_console c;

    for (int k = 0; k < 5; k++) {
        sim_make_console(s, 0, s->nconsoles + 100 + k, 1, &c);
        sim_announce(s, 0, &c);
    }
}

static bool
chk_flood_once(struct sim *s, char *why, size_t n)
{
    char hex[64];
    int c;

    if (!sim_converged(s, why, n))
        return false;
    s_rid_hex("flood", hex, sizeof(hex));
    if ((c = sim_log_count(s, hex)) != 1) {
        snprintf(why, n, "%d log lines for the flooding peer, want 1", c);
        return false;
    }
    return true;
}

static const struct sim_step steps_garbage[] = {
    {"nodes start and announce; converged", act_start_all, chk_converged, 20},
    {"bad frames on both ports: one log line each", act_garbage,
     chk_garbage_logged, 10},
    {"the coordinator still serves: new consoles converge, nobody died; "
     "50 bad frames from one peer logged once",
     act_more, chk_flood_once, 10},
    {NULL, NULL, NULL, 0},
};

const struct sim_scenario sim_scenarios[] = {
    {"converge", "consoles of every node reach every replica", steps_converge,
     false},
    {"restart", "coordinator stopped and restarted: replicas converge again",
     steps_restart, true},
    {"dead", "a node stops heartbeating: dead on the others", steps_dead,
     false},
    {"stale", "lower epochs ignored and logged, fencing", steps_stale, true},
    {"conflict", "a live node's index is refused to another node id",
     steps_conflict, true},
    {"garbage", "malformed frames on both ports: logged, still serving",
     steps_garbage, true},
    {NULL, NULL, NULL, false},
};
