/*
 * simops.c: sops_*, the operators of a simulated console (see simint.h):
 * one per --operator address, each attached in raw rw mode (opclient.c),
 * each verifying the VM output it receives against the VM stream, each
 * typing its own stream; and the VM's side of their input.
 *
 * One operator types the plain stream pat_byte(seed_op(S, k), j), every
 * byte value, checked by the VM exactly as before. With K > 1 the proxy
 * merges their input in any interleaving: operator j types the tagged
 * stream pat_tagged(seed_op_n(S, k, j), pat_tag_bits(K), j, i) (pattern.h)
 * and the VM takes j from the low bits of each byte and checks it against
 * operator j's next byte, so every operator's subsequence is checked
 * exactly (no byte lost, doubled or reordered per operator) while the
 * operators interleave freely. A byte tagged with no operator is an error.
 */
#include "vspc/compat.h"

#include "opclient.h"
#include "pattern.h"
#include "seed.h"
#include "simint.h"

#include <inttypes.h>
#include <stdio.h>

/* Which operator of c is o (n_ops if none). */
static unsigned
sops_index(const struct scon *c, const struct opc *o)
{
    unsigned k;

    for (k = 0; k < c->sim->cfg->n_ops; k++)
        if (c->ops[k].op == o)
            break;
    return k;
}

static void
sops_attached(void *arg, struct opc *o, uint64_t offset)
{
    struct scon *c = arg;

    if (offset > c->tx)
        sim_err(c->sim, c, offset,
                "operator %u attached at offset %" PRIu64
                " but the VM sent only %" PRIu64 " bytes",
                sops_index(c, o), offset, c->tx);
    if (++c->ops_attached == c->sim->cfg->n_ops && !c->ready)
        sim_con_ready(c);
}

static void
sops_problem(void *arg, struct opc *o, uint64_t off, const char *msg)
{
    struct scon *c = arg;

    if (c->sim->cfg->n_ops > 1)
        sim_err(c->sim, c, off, "operator %u: %s", sops_index(c, o), msg);
    else
        sim_err(c->sim, c, off, "%s", msg);
}

static void
sops_closed(void *arg, struct opc *o, const char *why)
{
    struct scon *c = arg;
    unsigned k = sops_index(c, o);
    char msg[256];

    if (k < c->sim->cfg->n_ops) {
        c->ops[k].last = *opc_stats(o);
        c->ops[k].op = NULL;
    }
    if (c->sim->phase >= SIM_PH_DONE)
        return;
    if (c->sim->cfg->n_ops > 1)
        snprintf(msg, sizeof(msg), "operator %u: %s", k, why);
    else
        snprintf(msg, sizeof(msg), "operator: %s", why);
    sim_con_fail(c, msg);
}

static void
sops_data(void *arg, struct opc *o, uint64_t end)
{
    struct scon *c = arg;
    unsigned k = sops_index(c, o);

    if (k < c->sim->cfg->n_ops)
        mig_op_seen(c, k, end);
}

static const struct opc_handlers sops_handlers = {
    .attached = sops_attached,
    .problem = sops_problem,
    .data = sops_data,
    .closed = sops_closed,
};

void
sops_start(struct scon *c)
{
    const struct sim_cfg *cfg = c->sim->cfg;
    unsigned bits = pat_tag_bits(cfg->n_ops);

    for (unsigned k = 0; k < cfg->n_ops && !c->failed; k++) {
        struct sop *so = &c->ops[k];

        so->seed = seed_op_n(cfg->seed, c->idx, k);
        so->op = opc_new(c->sim->base, &cfg->op_addr[k], c->console_id,
                         c->vm_seed, so->seed, bits, k, &sops_handlers, c);
        if (so->op == NULL)
            sim_con_fail(c, "cannot start an operator connection");
    }
}

void
sops_close(struct scon *c)
{
    for (unsigned k = 0; k < c->sim->cfg->n_ops; k++) {
        struct sop *so = &c->ops[k];

        if (so->op) {
            so->last = *opc_stats(so->op);
            opc_close(so->op);
            so->op = NULL;
        }
    }
}

const struct opc_stats *
sops_stats(const struct scon *c, unsigned k)
{
    return c->ops[k].op ? opc_stats(c->ops[k].op) : &c->ops[k].last;
}

void
sops_vm_input(struct scon *c, const uint8_t *p, size_t n)
{
    struct sim *s = c->sim;
    unsigned nops = s->cfg->n_ops, bits = pat_tag_bits(nops);
    unsigned mask = (1u << bits) - 1;

    if (nops == 0) {
        c->rx += n; /* an error at the end (sops_final) */
        return;
    }
    if (nops == 1) {
        struct sop *so = &c->ops[0];

        if (!so->rx_bad) {
            size_t k = pat_check(so->seed, so->rx, p, n);

            so->rx_ok += k;
            if (k < n) {
                so->rx_bad = true;
                sim_err(s, c, so->rx + k,
                        "VM: operator byte mismatch: got 0x%02x, want 0x%02x",
                        p[k], pat_byte(so->seed, so->rx + k));
            }
        }
        so->rx += n;
        c->rx += n;
        return;
    }
    for (size_t i = 0; i < n; i++, c->rx++) {
        unsigned k = p[i] & mask;
        struct sop *so = &c->ops[k];
        uint8_t want;

        if (k >= nops) {
            sim_err(s, c, c->rx,
                    "VM: input byte 0x%02x is tagged as operator %u of %u",
                    p[i], k, nops);
            continue;
        }
        if (!so->rx_bad) {
            want = pat_tagged(so->seed, bits, k, so->rx);
            if (p[i] == want) {
                so->rx_ok++;
            } else {
                so->rx_bad = true;
                sim_err(s, c, so->rx,
                        "VM: operator %u byte mismatch at its offset %" PRIu64
                        ": got 0x%02x, want 0x%02x",
                        k, so->rx, p[i], want);
            }
        }
        so->rx++;
    }
}

uint64_t
sops_min_seen(const struct scon *c)
{
    uint64_t min = UINT64_MAX;

    for (unsigned k = 0; k < c->sim->cfg->n_ops; k++) {
        if (c->ops[k].op) {
            const struct opc_stats *st = opc_stats(c->ops[k].op);

            if (st->offset + st->rx < min)
                min = st->offset + st->rx;
        }
    }
    return min;
}

void
sops_pump(struct scon *c, uint64_t dt_us, uint64_t cap, uint64_t chunk)
{
    const struct sim_cfg *cfg = c->sim->cfg;

    if (cfg->op_rate == 0 || c->sim->phase > SIM_PH_RUN)
        return;
    for (unsigned k = 0; k < cfg->n_ops; k++) {
        struct sop *so = &c->ops[k];
        uint64_t want, typed;

        if (so->op == NULL)
            continue;
        typed = opc_stats(so->op)->typed;
        so->tokens += cfg->op_rate * dt_us;
        if (so->tokens > cap)
            so->tokens = cap;
        want = so->tokens / 1000000;
        if (cfg->op_bytes > 0 && want >= cfg->op_bytes - typed)
            want = cfg->op_bytes - typed;
        else if (want < chunk)
            continue;
        so->tokens -= opc_type(so->op, (size_t)want) * 1000000;
    }
}

bool
sops_typing_done(const struct scon *c)
{
    const struct sim_cfg *cfg = c->sim->cfg;

    if (cfg->op_rate == 0)
        return true;
    for (unsigned k = 0; k < cfg->n_ops; k++) {
        if (c->ops[k].op == NULL)
            continue;
        if (cfg->op_bytes > 0 ? opc_stats(c->ops[k].op)->typed < cfg->op_bytes
                              : cfg->duration_ms != 0)
            return false;
    }
    return true;
}

bool
sops_drained(const struct scon *c)
{
    for (unsigned k = 0; k < c->sim->cfg->n_ops; k++) {
        const struct sop *so = &c->ops[k];
        const struct opc_stats *st;

        if (so->op == NULL)
            continue;
        st = opc_stats(so->op);
        /* After a mismatch the console has failed; waiting serves nothing. */
        if (st->mismatch || so->rx_bad)
            return true;
        if (st->offset + st->rx < c->tx || so->rx < st->typed)
            return false;
    }
    return true;
}

void
sops_final(struct scon *c)
{
    struct sim *s = c->sim;
    unsigned nops = s->cfg->n_ops;

    if (nops == 0) {
        if (c->rx > 0)
            sim_err(s, c, 0,
                    "VM received %" PRIu64 " serial bytes with no operator",
                    c->rx);
        return;
    }
    for (unsigned k = 0; k < nops; k++) {
        const struct sop *so = &c->ops[k];
        const struct opc_stats *st;
        uint64_t seen;
        char who[32] = "operator";

        if (so->op == NULL)
            continue;
        if (nops > 1)
            snprintf(who, sizeof(who), "operator %u", k);
        st = opc_stats(so->op);
        seen = st->offset + st->rx;
        if (seen < c->tx)
            sim_err(s, c, seen,
                    "%s received %" PRIu64 " of %" PRIu64 " VM bytes", who,
                    seen, c->tx);
        else if (seen > c->tx)
            sim_err(s, c, c->tx,
                    "%s received %" PRIu64 " bytes, VM sent %" PRIu64, who,
                    seen, c->tx);
        if (so->rx < st->typed)
            sim_err(s, c, so->rx,
                    "VM received %" PRIu64 " of %" PRIu64 " %s bytes", so->rx,
                    st->typed, who);
        else if (so->rx > st->typed)
            sim_err(s, c, st->typed,
                    "VM received %" PRIu64 " %s bytes, %" PRIu64 " typed",
                    so->rx, who, st->typed);
    }
}
