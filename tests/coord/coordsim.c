/*
 * coordsim.c: fake vspc nodes against a real vspc-coordinator (see
 * coordsim.h). Usage:
 *
 *   coordsim --spawn PATH/vspc-coordinator --port 24000 --scenario NAME
 *            [--nodes 3] [--consoles 1000] [--coord-log FILE]
 *            [--coord-arg ARG ...] [--timeout-scale X]
 *
 * The coordinator is started on tcp://127.0.0.1:PORT (updates on PORT+1)
 * with --heartbeat-timeout 1 and its stderr appended to the log file;
 * coordsim stops it with SIGTERM by the PID it started, and fails if it
 * did not exit 0 (a sanitizer report exits non-zero). Prints one line per
 * step and exits 0 if every step's check held within its timeout.
 */
#include "vspc/compat.h"
#include "coordsim.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <event2/event.h>
#include <zmq.h>

#include "vspc/clock.h"
#include "vspc/epoch.h"
#include "vspc/log.h"

extern char **environ;

#define SIM_POLL 0.02

uint64_t
sim_rand(uint64_t *state) /* splitmix64 */
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);

    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* ---- the model ----------------------------------------------------------- */

void
sim_console_id(char out[WIRE_CONSOLE_ID_MAX + 1], int slot, int k)
{
    /* 32 hex digits; every 7th console has a label (a second port). */
    if (k % 7 == 3)
        snprintf(out, WIRE_CONSOLE_ID_MAX + 1, "%08x%024x.com2",
                 0x5eed0000u + (unsigned)slot, (unsigned)k);
    else
        snprintf(out, WIRE_CONSOLE_ID_MAX + 1, "%08x%024x",
                 0x5eed0000u + (unsigned)slot, (unsigned)k);
}

void
sim_make_console(struct sim *s, int slot, int k, uint64_t counter,
                 struct wire_console *c)
{
    const struct sim_node *n = &s->nodes[slot];

    memset(c, 0, sizeof(*c));
    sim_console_id(c->id, slot, k);
    /* Names as vCenter has them: spaces, UTF-8. */
    snprintf(c->vm_name, sizeof(c->vm_name), "VM %d/%d \xc3\xa9t\xc3\xa9", slot,
             k);
    c->epoch = epoch_make(counter, n->index);
    snprintf(c->state, sizeof(c->state), "connected");
    snprintf(c->hv_addr, sizeof(c->hv_addr), "10.%d.%d.%d:%d", slot,
             (k / 250) % 250, k % 250, 40000 + k % 20000);
    snprintf(c->owner, sizeof(c->owner), "%s", n->node_id);
    c->owner_index = n->index;
}

struct sim_xcon *
sim_model_get(struct sim *s, const char *id)
{
    struct smap_node *hn = smap_get(&s->expect, id);

    return hn ? smap_entry(hn, struct sim_xcon, hn) : NULL;
}

void
sim_model_del(struct sim *s, const char *id)
{
    struct sim_xcon *x = sim_model_get(s, id);

    if (x) {
        smap_del(&s->expect, &x->hn);
        free(x);
    }
}

void
sim_announce(struct sim *s, int slot, const struct wire_console *c)
{
    struct sim_xcon *x = sim_model_get(s, c->id);

    if (cc_announce(s->nodes[slot].cc, c) != 0) {
        fprintf(stderr, "coordsim: announce of %s refused\n", c->id);
        s->failed = 1;
        return;
    }
    if (x == NULL) {
        if ((x = calloc(1, sizeof(*x))) == NULL)
            abort();
        x->c = *c;
        smap_put(&s->expect, &x->hn, x->c.id);
    }
    x->c = *c;
}

void
sim_withdraw(struct sim *s, int slot, const char *id, uint64_t epoch)
{
    if (cc_withdraw(s->nodes[slot].cc, id, epoch) != 0) {
        fprintf(stderr, "coordsim: withdraw of %s refused\n", id);
        s->failed = 1;
    }
    sim_model_del(s, id);
}

/* ---- fake nodes ---------------------------------------------------------- */

static void
s_on_fenced(void *arg, const struct wire_console *mine,
            const struct wire_console *theirs)
{
    struct sim_node *n = arg;

    n->fenced++;
}

static void
s_on_console(void *arg, const struct wire_console *now,
             const struct wire_console *old)
{
    struct sim_node *n = arg;

    if (now == NULL)
        n->removed++;
}

static void
s_on_state(void *arg, enum cc_state st, bool away, const char *detail)
{
    struct sim_node *n = arg;

    n->last_state = st;
    snprintf(n->last_detail, sizeof(n->last_detail), "%s", detail);
}

int
sim_node_start(struct sim *s, int slot, uint8_t index)
{
    struct sim_node *n = &s->nodes[slot];
    struct cc_callbacks cbs = {
        .console = s_on_console, .fenced = s_on_fenced, .state = s_on_state};
    struct cc_config cfg = {0};
    char err[256];

    n->sim = s;
    n->slot = slot;
    n->index = index;
    n->fenced = 0;
    n->removed = 0;
    snprintf(n->node_id, sizeof(n->node_id), "sim%d", slot);
    snprintf(n->peer_addr, sizeof(n->peer_addr), "127.0.0.1:%d", 13390 + slot);
    cfg.endpoint = s->endpoint;
    cfg.node_id = n->node_id;
    cfg.node_index = index;
    cfg.peer_addr = n->peer_addr;
    cfg.heartbeat_ivl = s->hb;
    cfg.resync_grace = s->grace;
    if ((n->cc = cc_new(s->base, s->zctx, &cfg, &cbs, n, err, sizeof(err))) ==
        NULL) {
        fprintf(stderr, "coordsim: node %d: %s\n", slot, err);
        return -1;
    }
    {
        struct sim_xnode *x = &s->xnodes[slot];

        x->present = true;
        memset(&x->n, 0, sizeof(x->n));
        memcpy(x->n.node_id, n->node_id, sizeof(n->node_id));
        x->n.node_index = index;
        memcpy(x->n.peer_addr, n->peer_addr, sizeof(n->peer_addr));
        x->n.alive = true;
    }
    return 0;
}

void
sim_node_stop(struct sim *s, int slot)
{
    cc_free(&s->nodes[slot].cc);
}

static bool
s_console_eq(const struct wire_console *a, const struct wire_console *b,
             char *why, size_t n)
{
#define CMPS(f)                                                                \
    if (strcmp(a->f, b->f) != 0) {                                             \
        snprintf(why, n, "console %.40s: " #f " \"%.60s\", want \"%.60s\"",    \
                 b->id, a->f, b->f);                                           \
        return false;                                                          \
    }
    CMPS(id);
    CMPS(vm_name);
    CMPS(state);
    CMPS(hv_addr);
    CMPS(owner);
#undef CMPS
    if (a->epoch != b->epoch || a->owner_index != b->owner_index) {
        snprintf(why, n,
                 "console %s: epoch %016" PRIx64 " index %u, want %016" PRIx64
                 " index %u",
                 b->id, a->epoch, (unsigned)a->owner_index, b->epoch,
                 (unsigned)b->owner_index);
        return false;
    }
    return true;
}

/* Every live node's replica is the model (consoles and nodes). */
bool
sim_converged(struct sim *s, char *why, size_t n)
{
    size_t nx = 0;

    for (int i = 0; i < SIM_MAX_NODES; i++)
        nx += s->xnodes[i].present;
    for (int i = 0; i < s->nnodes; i++) {
        const struct sim_node *sn = &s->nodes[i];
        struct cc_status st;

        if (sn->cc == NULL)
            continue;
        cc_status(sn->cc, &st);
        if (st.state != CC_ST_ACTIVE) {
            snprintf(why, n, "node %d: state %s", i, cc_state_str(st.state));
            return false;
        }
        if (st.consoles != smap_count(&s->expect)) {
            snprintf(why, n,
                     "node %d: %zu consoles, want %zu (seq %" PRIu64
                     ", %" PRIu64 " snapshots, %" PRIu64 " gaps, %" PRIu64
                     " updates in, %s%s)",
                     i, st.consoles, smap_count(&s->expect), st.seq,
                     st.snapshots, st.gaps, st.updates_in,
                     st.updates_paused ? "paused" : "reading",
                     st.updates_waiting ? ", more waiting" : "");
            return false;
        }
        if (st.nodes != nx) {
            snprintf(why, n, "node %d: %zu nodes, want %zu", i, st.nodes, nx);
            return false;
        }
        for (size_t b = 0; b < smap_nbuckets(&s->expect); b++)
            for (struct smap_node *hn = smap_bucket(&s->expect, b); hn;
                 hn = hn->next) {
                const struct wire_console *want =
                    &smap_entry(hn, struct sim_xcon, hn)->c;
                const struct wire_console *got = cc_console(sn->cc, want->id);
                char w2[400];

                if (got == NULL) {
                    snprintf(why, n, "node %d: console %s missing", i,
                             want->id);
                    return false;
                }
                if (!s_console_eq(got, want, w2, sizeof(w2))) {
                    snprintf(why, n, "node %d: %s", i, w2);
                    return false;
                }
            }
        for (int k = 0; k < SIM_MAX_NODES; k++) {
            const struct wire_node *want = &s->xnodes[k].n, *got;

            if (!s->xnodes[k].present)
                continue;
            got = cc_node(sn->cc, want->node_id);
            if (got == NULL || got->alive != want->alive ||
                got->node_index != want->node_index ||
                strcmp(got->peer_addr, want->peer_addr) != 0) {
                snprintf(why, n, "node %d: node %s %s", i, want->node_id,
                         got == NULL ? "missing"
                         : got->alive != want->alive
                             ? (want->alive ? "not alive" : "still alive")
                             : "differs");
                return false;
            }
        }
    }
    return true;
}

/* ---- the coordinator process --------------------------------------------- */

int
sim_coord_start(struct sim *s)
{
    posix_spawn_file_actions_t fa;
    char hbt[32];
    const char *argv[32];
    int argc = 0, rc;

    if (s->spawn_bin == NULL)
        return 0;
    snprintf(hbt, sizeof(hbt), "%g", s->hb_timeout);
    argv[argc++] = s->spawn_bin;
    argv[argc++] = "--bind";
    argv[argc++] = s->endpoint;
    argv[argc++] = "--heartbeat-timeout";
    argv[argc++] = hbt;
    for (int i = 0; i < s->n_extra; i++)
        argv[argc++] = s->extra_args[i];
    argv[argc] = NULL;
    posix_spawn_file_actions_init(&fa);
    if (s->coord_log)
        posix_spawn_file_actions_addopen(&fa, 2, s->coord_log,
                                         O_WRONLY | O_CREAT | O_APPEND, 0644);
    rc = posix_spawn(&s->coord_pid, s->spawn_bin, &fa, NULL,
                     (char *const *)(uintptr_t)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        fprintf(stderr, "coordsim: cannot start %s: %s\n", s->spawn_bin,
                strerror(rc));
        return -1;
    }
    s->coord_exited = false;
    printf("coordsim: coordinator started, pid %d\n", (int)s->coord_pid);
    return 0;
}

void
sim_coord_term(struct sim *s)
{
    if (s->coord_pid > 0 && !s->coord_exited)
        kill(s->coord_pid, SIGTERM);
}

bool
sim_coord_gone(struct sim *s, char *why, size_t n)
{
    pid_t p;

    if (s->coord_pid <= 0 || s->coord_exited)
        return true;
    p = waitpid(s->coord_pid, &s->coord_status, WNOHANG);
    if (p == 0) {
        snprintf(why, n, "coordinator %d still running", (int)s->coord_pid);
        return false;
    }
    s->coord_exited = true;
    if (p < 0 || !WIFEXITED(s->coord_status) ||
        WEXITSTATUS(s->coord_status) != 0) {
        fprintf(stderr, "coordsim: coordinator exited badly (status 0x%x)\n",
                s->coord_status);
        s->failed = 1;
    }
    return true;
}

int
sim_log_count(const struct sim *s, const char *needle)
{
    char line[2048];
    FILE *f;
    int n = 0;

    if (s->coord_log == NULL || (f = fopen(s->coord_log, "r")) == NULL)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (strstr(line, needle))
            n++;
    fclose(f);
    return n;
}

/* ---- the step driver ----------------------------------------------------- */

static void
s_finish(struct sim *s)
{
    event_base_loopexit(s->base, NULL);
}

/* Poll again after max(SIM_POLL, 4 x what the last check cost): with
 * 100,000s of consoles a full comparison takes tens of milliseconds, and
 * polling back to back would starve the nodes it is waiting for. */
static void
s_poll_again(struct sim *s, double cost)
{
    double d = cost * 4 > SIM_POLL ? cost * 4 : SIM_POLL;
    struct timeval tv = {(time_t)d,
                         (suseconds_t)((d - (double)(time_t)d) * 1e6)};

    evtimer_add(s->poll_ev, &tv);
}

static void
s_poll_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sim *s = arg;
    const struct sim_step *st = &s->scen->steps[s->step];
    double now = clock_now();
    char why[512] = "";
    bool ok;

    if (s->failed) {
        fprintf(stderr, "coordsim: FAIL in step \"%s\"\n", st->name);
        s_finish(s);
        return;
    }
    if (st->name == NULL) {
        printf("coordsim: scenario %s passed in %.2f s\n", s->scen->name,
               now - s->t0);
        s_finish(s);
        return;
    }
    if (!s->acted) {
        s->acted = true;
        s->step_start = now;
        s->deadline = now + st->timeout;
        if (st->act)
            st->act(s);
        if (s->failed) {
            s_poll_again(s, 0); /* the next poll reports it */
            return;
        }
    }
    ok = st->check == NULL || st->check(s, why, sizeof(why));
    s_poll_again(s, clock_now() - now);
    if (ok) {
        printf("coordsim: step %zu \"%s\": ok in %.0f ms\n", s->step + 1,
               st->name, (now - s->step_start) * 1000);
        fflush(stdout);
        s->step++;
        s->acted = false;
        return;
    }
    if (now > s->deadline) {
        fprintf(stderr,
                "coordsim: FAIL: step %zu \"%s\": not done after %.1f s: %s\n",
                s->step + 1, st->name, st->timeout, why);
        s->failed = 1;
        s_finish(s);
    }
}

static void
usage(void)
{
    fprintf(stderr, "usage: coordsim --spawn BIN --port PORT --scenario NAME "
                    "[--nodes N] [--consoles M]\n"
                    "                [--coord-log FILE] [--coord-arg ARG]...\n"
                    "scenarios:\n");
    for (const struct sim_scenario *sc = sim_scenarios; sc->name; sc++)
        fprintf(stderr, "  %-10s %s\n", sc->name, sc->help);
    exit(2);
}

int
main(int argc, char **argv)
{
    static struct sim s;
    static const struct option opts[] = {
        {"spawn", required_argument, NULL, 'S'},
        {"port", required_argument, NULL, 'p'},
        {"scenario", required_argument, NULL, 's'},
        {"nodes", required_argument, NULL, 'n'},
        {"consoles", required_argument, NULL, 'm'},
        {"coord-log", required_argument, NULL, 'l'},
        {"coord-arg", required_argument, NULL, 'a'},
        {"log-level", required_argument, NULL, 'L'},
        {NULL, 0, NULL, 0},
    };
    struct timeval tv = {0, (suseconds_t)(SIM_POLL * 1e6)};
    const char *scen = NULL;
    int ch;

    log_init("coordsim", LOG_LVL_WARN);
    s.nnodes = 3;
    s.nconsoles = 1000;
    s.hb = 0.2;
    s.hb_timeout = 1.0;
    s.grace = 2.0;
    s.seed = 0x5eed;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'S':
            s.spawn_bin = optarg;
            break;
        case 'p':
            s.port = atoi(optarg);
            break;
        case 's':
            scen = optarg;
            break;
        case 'n':
            s.nnodes = atoi(optarg);
            break;
        case 'm':
            s.nconsoles = atoi(optarg);
            break;
        case 'l':
            s.coord_log = optarg;
            break;
        case 'L':
            if (log_level_parse(optarg) < 0)
                usage();
            log_verbosity = log_level_parse(optarg);
            break;
        case 'a':
            if (s.n_extra < (int)VSPC_ARRAY_LEN(s.extra_args))
                s.extra_args[s.n_extra++] = optarg;
            break;
        default:
            usage();
        }
    }
    if (scen == NULL || s.port < 1024 || s.port > 65000 || s.nnodes < 1 ||
        s.nnodes > SIM_MAX_NODES || s.nconsoles < 0 || s.nconsoles > 200000)
        usage();
    for (s.scen = sim_scenarios; s.scen->name; s.scen++)
        if (strcmp(s.scen->name, scen) == 0)
            break;
    if (s.scen->name == NULL)
        usage();
    if (s.scen->needs_spawn && (s.spawn_bin == NULL || s.coord_log == NULL)) {
        fprintf(stderr,
                "coordsim: scenario %s needs --spawn and "
                "--coord-log\n",
                scen);
        return 2;
    }
    /* Loopback only. */
    snprintf(s.endpoint, sizeof(s.endpoint), "tcp://127.0.0.1:%d", s.port);
    snprintf(s.pub_endpoint, sizeof(s.pub_endpoint), "tcp://127.0.0.1:%d",
             s.port + 1);
    if (s.coord_log)
        unlink(s.coord_log);
    signal(SIGPIPE, SIG_IGN);
    /* The coordinator first: the context is made after the spawn. */
    if (sim_coord_start(&s) != 0)
        return 1;
    if ((s.base = event_base_new()) == NULL ||
        (s.zctx = zmq_ctx_new()) == NULL || smap_init(&s.expect) != 0)
        return 1;
    s.poll_ev = evtimer_new(s.base, s_poll_cb, &s);
    event_add(s.poll_ev, &tv);
    s.t0 = clock_now();
    printf("coordsim: scenario %s: %d nodes, %d consoles each, coordinator "
           "%s\n",
           s.scen->name, s.nnodes, s.nconsoles, s.endpoint);
    event_base_dispatch(s.base);
    /* Teardown: nodes, raw sockets, then the coordinator (by its PID). */
    for (int i = 0; i < SIM_MAX_NODES; i++)
        sim_node_stop(&s, i);
    sim_raw_close(&s);
    if (s.spawn_bin && !s.coord_exited) {
        char why[128];
        double end = clock_now() + 10;

        sim_coord_term(&s);
        while (!sim_coord_gone(&s, why, sizeof(why)) && clock_now() < end)
            usleep(20000);
        if (!s.coord_exited) {
            fprintf(stderr, "coordsim: coordinator ignored SIGTERM: killed\n");
            kill(s.coord_pid, SIGKILL);
            waitpid(s.coord_pid, NULL, 0);
            s.failed = 1;
        }
    }
    if (s.failed && s.coord_log) {
        char cmd[600];

        fprintf(stderr, "---- coordinator log (last 40 lines) ----\n");
        snprintf(cmd, sizeof(cmd), "tail -n 40 '%s' >&2", s.coord_log);
        if (system(cmd) != 0)
            fprintf(stderr, "(no log)\n");
    }
    event_free(s.poll_ev);
    for (size_t b = 0; b < smap_nbuckets(&s.expect); b++) {
        struct smap_node *hn = smap_bucket(&s.expect, b), *next;

        for (; hn; hn = next) {
            next = hn->next;
            free(smap_entry(hn, struct sim_xcon, hn));
        }
    }
    smap_fini(&s.expect);
    zmq_ctx_term(s.zctx);
    event_base_free(s.base);
    return s.failed ? 1 : 0;
}
