/*
 * migrate.c: mig_*, the host side of vMotion (PROTOCOL.md section 5) for
 * one console, as a small state machine driven by one timer:
 *
 *   MIG_IDLE --timer, vMotions left--> send BEGIN(seq)          -> MIG_BEGIN
 *   MIG_BEGIN --NOTNOW(seq)--> resume, retry after the interval -> MIG_IDLE
 *   MIG_BEGIN --GOAHEAD(seq||secret), mode ok--> wait
 *       --peer-delay (the capture shows about 1 s)          -> PEER_DELAY
 *   MIG_PEER_DELAY --timer--> connect the destination (the next
 *       --vmotion-dest that is not the current one) with
 *       VMOTION-PEER(seq||secret)                               -> MIG_PEER
 *   MIG_BEGIN --GOAHEAD, mode abort--> wait --abort-delay       -> ABORT_WAIT
 *   MIG_ABORT_WAIT --timer--> ABORT on the source, resume       -> MIG_IDLE
 *   MIG_PEER --PEER-OK(seq)--> FIN the source, COMPLETE(seq) on the
 *       destination (reverse order with --complete-first), resume
 *       streaming on the destination                            -> MIG_IDLE
 *     or, with --fin-lead: FIN the source                -> COMPLETE_WAIT
 *   MIG_COMPLETE_WAIT --timer--> COMPLETE(seq), resume on the
 *       destination                                             -> MIG_IDLE
 *   MIG_BEGIN --timer (host's vmotionLimit)--> ABORT, resume    -> MIG_IDLE
 *   MIG_PEER --timer, destination closed, bad PEER-OK--> close the
 *       destination, ABORT on the source, resume                -> MIG_IDLE
 *
 * From GOAHEAD until ABORT or the switch the source VM is frozen: an
 * operator byte arriving on it then would be lost on a real host, and
 * sim.c reports it. Streaming stops before BEGIN and resumes at the next
 * stream offset on whichever connection carries the console afterwards.
 */
#include "vspc/compat.h"

#include "hvconn.h"
#include "simint.h"
#include "vmext.h"
#include "vspc/log.h"

#include <stdio.h>
#include <string.h>

#include <event2/event.h>

static void mig_timer_cb(evutil_socket_t fd, short what, void *arg);

/* The one place the state changes: keeps the count of vMotions in flight
 * (bounded by --vmotion-window) right. */
static void
mig_set_state(struct scon *c, enum mig_state st)
{
    if (c->mig == MIG_IDLE && st != MIG_IDLE)
        c->sim->vmo_inflight++;
    else if (c->mig != MIG_IDLE && st == MIG_IDLE)
        c->sim->vmo_inflight--;
    c->mig = st;
}

static void
mig_arm(struct scon *c, unsigned ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    evtimer_add(c->mig_timer, &tv);
}

int
mig_init(struct scon *c)
{
    c->mig_timer = evtimer_new(c->sim->base, mig_timer_cb, c);
    return c->mig_timer ? 0 : -1;
}

void
mig_cleanup(struct scon *c)
{
    if (c->mig_timer)
        event_free(c->mig_timer);
    c->mig_timer = NULL;
}

void
mig_schedule(struct scon *c)
{
    const struct sim_cfg *cfg = c->sim->cfg;

    if (c->mig != MIG_IDLE || c->failed || c->vmo_done >= cfg->vmotions ||
        c->sim->phase >= SIM_PH_DRAIN)
        return;
    if (c->vmo_attempts == 0 && cfg->vmo_spread)
        mig_arm(c, (unsigned)((uint64_t)cfg->vmo_interval_ms * (c->idx + 1) /
                              (cfg->consoles ? cfg->consoles : 1)));
    else
        mig_arm(c, c->vmo_attempts == 0 && cfg->vmo_first_set
                       ? cfg->vmo_first_ms
                       : cfg->vmo_interval_ms);
}

void
mig_stop(struct scon *c)
{
    if (c->mig == MIG_IDLE && c->mig_timer)
        evtimer_del(c->mig_timer);
}

/* A random sequence; every third one holds 0xFF, every third FF F0, so
 * the escaping of both ends is exercised. */
static void
mig_make_seq(struct scon *c)
{
    unsigned len = c->sim->cfg->seq_len;

    for (unsigned i = 0; i < len; i++)
        c->seq[i] = (uint8_t)sim_rand(c);
    if (c->vmo_attempts % 3 == 1) {
        c->seq[sim_rand(c) % len] = 0xFF;
    } else if (c->vmo_attempts % 3 == 2 && len >= 2) {
        unsigned at = (unsigned)(sim_rand(c) % (len - 1));

        c->seq[at] = 0xFF;
        c->seq[at + 1] = 0xF0;
    }
    c->seq_len = (uint8_t)len;
}

static void
mig_begin(struct scon *c)
{
    const struct sim_cfg *cfg = c->sim->cfg;

    if (c->cur == NULL || !hvc_identified(c->cur))
        return;
    if (c->sim->vmo_inflight >= cfg->vmo_window) {
        /* Too many in flight: try again soon, spread out. */
        mig_arm(c, 10 + (unsigned)(sim_rand(c) % 40));
        return;
    }
    sim_stream_pause(c);
    mig_make_seq(c);
    c->vmo_attempts++;
    if (cfg->vmo_mode == SIM_VMO_ABORT)
        c->abort_this = true;
    else if (cfg->vmo_mode == SIM_VMO_MIXED)
        c->abort_this = (sim_rand(c) & 1) != 0;
    else
        c->abort_this = false;
    c->t_begin_us = sim_now_us();
    hvc_send_vmext(c->cur, VMX_VMOTION_BEGIN, c->seq, c->seq_len);
    mig_set_state(c, MIG_BEGIN);
    mig_arm(c, cfg->goahead_timeout_ms);
}

/* Back to streaming on cur (after NOTNOW, ABORT or the switch). */
static void
mig_idle(struct scon *c)
{
    evtimer_del(c->mig_timer);
    mig_set_state(c, MIG_IDLE);
    sim_stream_resume(c);
    mig_schedule(c);
}

static void
mig_send_abort(struct scon *c)
{
    if (c->cur)
        hvc_send_vmext(c->cur, VMX_VMOTION_ABORT, NULL, 0);
}

bool
mig_frozen(const struct scon *c)
{
    return c->mig == MIG_ABORT_WAIT || c->mig == MIG_PEER_DELAY ||
           c->mig == MIG_PEER || c->mig == MIG_COMPLETE_WAIT;
}

/* The vMotion failed after GOAHEAD or timed out: the host aborts. */
static void
mig_fail(struct scon *c, const char *why)
{
    sim_err(c->sim, c, c->tx, "vMotion %u failed: %s", c->vmo_attempts, why);
    c->sim->vmo_failed++;
    if (c->cur == NULL) {
        /* The source already sent its FIN: nothing to abort to. */
        c->vmo_done++;
        sim_con_fail(c, "vMotion failed after the source closed");
        return;
    }
    if (c->dst) {
        hvc_close(c->dst);
        c->dst = NULL;
    }
    mig_send_abort(c);
    c->vmo_done++;
    mig_idle(c);
}

static bool
mig_same_addr(const struct sockaddr_in *a, const struct sockaddr_in *b)
{
    return a->sin_addr.s_addr == b->sin_addr.s_addr &&
           a->sin_port == b->sin_port;
}

/* The destination of this vMotion: the next --vmotion-dest in the list
 * (cyclically) that is not where the console is now, so with several a
 * console moves on every time (node1 -> node2 -> node3 -> node1 ...); the
 * next in the list anyway if every one is (or there is only one). */
static void
mig_pick_dest(struct scon *c)
{
    const struct sim_cfg *cfg = c->sim->cfg;
    unsigned n = cfg->n_vmo_dest ? cfg->n_vmo_dest : 1;
    unsigned pick = c->vmo_next % n;

    for (unsigned i = 0; i < n; i++) {
        unsigned k = (c->vmo_next + i) % n;

        if (!mig_same_addr(&cfg->vmo_dest[k], &c->cur_addr)) {
            pick = k;
            break;
        }
    }
    c->dst_addr = cfg->vmo_dest[pick];
    c->vmo_next = (pick + 1) % n;
}

/* The destination host dials in with VMOTION-PEER(seq||secret). */
static void
mig_connect_dest(struct scon *c)
{
    const struct sim_cfg *cfg = c->sim->cfg;
    uint8_t peer[SIM_SEQ_MAX + SIM_SECRET_MAX];

    memcpy(peer, c->seq, c->seq_len);
    memcpy(peer + c->seq_len, c->secret, c->secret_len);
    mig_pick_dest(c);
    c->dst = hvc_new(c->sim->base, &c->dst_addr, HVC_DEST, &c->ident, peer,
                     (size_t)c->seq_len + c->secret_len, cfg->peer_timeout_ms,
                     &sim_hvc_handlers, c);
    if (c->dst == NULL) {
        mig_fail(c, "cannot open the destination connection");
        return;
    }
    c->t_peer_us = sim_now_us();
    mig_set_state(c, MIG_PEER);
    mig_arm(c, cfg->peer_timeout_ms);
}

static void
mig_goahead(struct scon *c, const uint8_t *p, size_t n)
{
    const struct sim_cfg *cfg = c->sim->cfg;

    sim_lat_add(&c->sim->lat_goahead, sim_now_us() - c->t_begin_us);
    if (n <= c->seq_len || memcmp(p, c->seq, c->seq_len) != 0) {
        mig_fail(c, n <= c->seq_len ? "GOAHEAD without a secret"
                                    : "GOAHEAD does not echo the sequence");
        return;
    }
    if (n - c->seq_len > SIM_SECRET_MAX) {
        mig_fail(c, "GOAHEAD secret longer than 255 bytes");
        return;
    }
    c->secret_len = (uint8_t)(n - c->seq_len);
    memcpy(c->secret, p + c->seq_len, c->secret_len);
    c->notnow_run = 0;
    if (c->abort_this) {
        mig_set_state(c, MIG_ABORT_WAIT);
        mig_arm(c, cfg->abort_delay_ms);
        return;
    }
    if (cfg->peer_delay_ms > 0) {
        mig_set_state(c, MIG_PEER_DELAY);
        mig_arm(c, cfg->peer_delay_ms);
        return;
    }
    mig_connect_dest(c);
}

static void
mig_notnow(struct scon *c, const uint8_t *p, size_t n)
{
    struct sim *s = c->sim;

    if (n != c->seq_len || memcmp(p, c->seq, n) != 0)
        sim_err(s, c, c->tx, "NOTNOW payload is not the sequence (%zu bytes)",
                n);
    s->vmo_notnow++;
    if (++c->notnow_run > s->cfg->max_notnow) {
        if (s->cfg->notnow_ok) {
            s->vmo_refused++;
        } else {
            sim_err(s, c, c->tx,
                    "vMotion refused with NOTNOW %u times in a row",
                    c->notnow_run);
            s->vmo_failed++;
        }
        c->notnow_run = 0;
        c->vmo_done++;
    }
    mig_idle(c);
}

/* COMPLETE sent: the destination carries the console from now on. The
 * switch gap starts: each operator's sample ends when it sees the first
 * byte the VM writes on the destination, timed from COMPLETE or from that
 * write if the VM wrote it later (its own pacing is not the gap). An
 * operator that has not seen it by the next switch gives the time so far. */
static void
mig_switch(struct scon *c)
{
    uint64_t now = sim_now_us();

    for (unsigned k = 0; k < c->sim->cfg->n_ops; k++) {
        if (c->ops[k].gap_wait && c->gap_tw_us)
            sim_lat_add(&c->sim->lat_gap,
                        now - (c->gap_tw_us > c->gap_t0_us ? c->gap_tw_us
                                                           : c->gap_t0_us));
        c->ops[k].gap_wait = c->ops[k].op != NULL;
    }
    c->gap_off = c->tx;
    c->gap_t0_us = now;
    c->gap_tw_us = 0;
    c->cur = c->dst;
    c->cur_addr = c->dst_addr;
    c->dst = NULL;
    c->sim->vmo_ok++;
    c->vmo_done++;
    mig_idle(c);
}

void
mig_first_write(struct scon *c)
{
    c->gap_tw_us = sim_now_us();
}

void
mig_op_seen(struct scon *c, unsigned k, uint64_t end)
{
    struct sop *so = &c->ops[k];
    uint64_t from;

    if (!so->gap_wait || c->gap_tw_us == 0 || end <= c->gap_off)
        return;
    so->gap_wait = false;
    from = c->gap_tw_us > c->gap_t0_us ? c->gap_tw_us : c->gap_t0_us;
    sim_lat_add(&c->sim->lat_gap, sim_now_us() - from);
}

/* PEER-OK: switch the console to the destination. */
static void
mig_peer_ok(struct scon *c, const uint8_t *p, size_t n)
{
    const struct sim_cfg *cfg = c->sim->cfg;
    struct hvc *old = c->cur;

    sim_lat_add(&c->sim->lat_peerok, sim_now_us() - c->t_peer_us);
    if (n != c->seq_len || memcmp(p, c->seq, n) != 0) {
        mig_fail(c, "PEER-OK payload is not exactly the sequence");
        return;
    }
    if (cfg->complete_first) {
        hvc_send_vmext(c->dst, VMX_VMOTION_COMPLETE, c->seq, c->seq_len);
        hvc_finish(old, 5000);
    } else {
        /* The capture's order: the source FIN before COMPLETE. */
        hvc_finish(old, 5000);
        if (cfg->fin_lead_ms > 0) {
            /* The finishing source is nobody's now: what it receives is
             * reported as "old source". */
            c->cur = NULL;
            mig_set_state(c, MIG_COMPLETE_WAIT);
            mig_arm(c, cfg->fin_lead_ms);
            return;
        }
        hvc_send_vmext(c->dst, VMX_VMOTION_COMPLETE, c->seq, c->seq_len);
    }
    mig_switch(c);
}

void
mig_on_vmotion(struct scon *c, struct hvc *h, uint8_t sub, const uint8_t *p,
               size_t n)
{
    const char *name = vmx_sub_str(sub);

    if (h == c->cur && c->mig == MIG_BEGIN && sub == VMX_VMOTION_GOAHEAD) {
        mig_goahead(c, p, n);
    } else if (h == c->cur && c->mig == MIG_BEGIN &&
               sub == VMX_VMOTION_NOTNOW) {
        mig_notnow(c, p, n);
    } else if (h == c->dst && c->mig == MIG_PEER &&
               sub == VMX_VMOTION_PEER_OK) {
        mig_peer_ok(c, p, n);
    } else if (h == c->dst && c->mig == MIG_PEER &&
               sub == VMX_UNKNOWN_SUBOPTION_RCVD_2) {
        mig_fail(c, "proxy answered PEER with UNKNOWN-SUBOPTION-RCVD-2 44");
    } else {
        sim_err(c->sim, c, c->tx,
                "unexpected %s on the %s connection "
                "(vMotion state %d)",
                name ? name : "?",
                h == c->cur   ? "current"
                : h == c->dst ? "destination"
                              : "old source",
                (int)c->mig);
    }
}

void
mig_on_closed(struct scon *c, struct hvc *h, bool error, const char *why)
{
    if (h == c->dst) {
        char msg[200];

        c->dst = NULL;
        snprintf(msg, sizeof(msg), "destination connection: %s", why);
        if (c->mig == MIG_PEER || c->mig == MIG_COMPLETE_WAIT)
            mig_fail(c, msg);
        return;
    }
    if (h == c->cur) {
        c->cur = NULL;
        mig_reset(c);
    }
}

void
mig_reset(struct scon *c)
{
    if (c->dst) {
        hvc_close(c->dst);
        c->dst = NULL;
    }
    if (c->mig_timer)
        evtimer_del(c->mig_timer);
    mig_set_state(c, MIG_IDLE);
}

static void
mig_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct scon *c = arg;

    switch (c->mig) {
    case MIG_IDLE:
        if (c->sim->phase < SIM_PH_DRAIN && !c->failed &&
            c->vmo_done < c->sim->cfg->vmotions)
            mig_begin(c);
        break;
    case MIG_BEGIN:
        mig_fail(c, "no GOAHEAD within the host's limit");
        break;
    case MIG_ABORT_WAIT:
        mig_send_abort(c);
        c->sim->vmo_aborted++;
        c->vmo_done++;
        mig_idle(c);
        break;
    case MIG_PEER_DELAY:
        mig_connect_dest(c);
        break;
    case MIG_PEER:
        mig_fail(c, "no PEER-OK within the peer timeout");
        break;
    case MIG_COMPLETE_WAIT:
        hvc_send_vmext(c->dst, VMX_VMOTION_COMPLETE, c->seq, c->seq_len);
        mig_switch(c);
        break;
    }
}
