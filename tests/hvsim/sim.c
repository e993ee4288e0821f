/*
 * sim.c: the simulator core. See sim.h; vMotion lives in migrate.c.
 *
 * One event loop, one 10 ms tick timer for every console:
 *
 *   CONNECT  consoles connect within a window of --connect-window at a time
 *            (so the proxy's listen backlog never overflows); a console is
 *            "ready" once identified (WILL-PROXY) and, with --operator, once
 *            its operators are attached (simops.c: one per --operator
 *            address). A ready console starts streaming at once. When
 *            every console is ready or failed: RUN.
 *   RUN      until --duration, or until every console has sent --bytes and
 *            done its --vmotions (and typed --operator-bytes).
 *   DRAIN    nothing new is generated and no new vMotion starts; waits
 *            (bounded by --drain-timeout) until every operator has seen
 *            every VM byte sent and every VM every operator byte typed.
 *   DONE     checks the totals, prints the summary, stops the loop.
 *
 * Rates are token buckets refilled on the tick; --rate 0 is flat out:
 * fill the output buffer to HVC_HIWAT and refill from the write low-mark
 * callback, so the simulator never queues more than that per connection.
 */
#include "vspc/compat.h"
#include "sim.h"

#include "hvconn.h"
#include "opclient.h"
#include "pattern.h"
#include "textpat.h"
#include "seed.h"
#include "simint.h"
#include "vmext.h"
#include "vspc/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include <event2/event.h>

#define SIM_TICK_MS 10
#define SIM_FLAT_BUDGET (64 * 1024) /* per write callback */
#define SIM_LAT_CAP (4u * 1024 * 1024)
#define SIM_BUCKET_US 50000 /* token bucket depth: 50 ms of rate */

void
sim_cfg_defaults(struct sim_cfg *cfg)
{
    static const uint8_t base[16] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab,
                                     0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98};

    memset(cfg, 0, sizeof(*cfg));
    sim_parse_addr("127.0.0.1:13370", &cfg->proxy, NULL, 0);
    cfg->vmo_dest[0] = cfg->proxy;
    cfg->n_vmo_dest = 1;
    sim_parse_addr("127.0.0.1:13371", &cfg->op_addr[0], NULL, 0);
    cfg->consoles = 1;
    cfg->seed = 1;
    memcpy(cfg->uuid_base, base, sizeof(base));
    cfg->name_prefix = "vm-";
    cfg->service_uri = "vSPC.py";
    cfg->rate = 1000;
    cfg->vmo_interval_ms = 200;
    cfg->vmo_mode = SIM_VMO_OK;
    cfg->abort_delay_ms = 20;
    cfg->seq_len = 4;
    cfg->drain_timeout_ms = 15000;
    cfg->connect_timeout_ms = 60000;
    cfg->connect_window = 256;
    cfg->goahead_timeout_ms = 5000;
    cfg->peer_timeout_ms = 10000;
    cfg->max_notnow = 100;
    cfg->vmo_window = 1000;
    /* No cap: the proxy paces a console to its slowest live reader (issue
     * 6, --slow-reader pace), so a flat-out VM loses nothing. */
    cfg->max_lag = 0;
    cfg->handshake_timeout_ms = 15000;
    cfg->peer_delay_ms = 0;
    cfg->fin_lead_ms = 0;
    cfg->error_print_max = 50;
}

int
sim_parse_addr(const char *s, struct sockaddr_in *out, char *err, size_t errlen)
{
    char host[64];
    const char *colon = strrchr(s, ':');
    char *end;
    unsigned long port;

    if (colon == NULL || (size_t)(colon - s) >= sizeof(host)) {
        if (err)
            snprintf(err, errlen, "'%s': expected ADDR:PORT", s);
        return -1;
    }
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = 0;
    errno = 0;
    port = strtoul(colon + 1, &end, 10);
    if (errno != 0 || *end != 0 || end == colon + 1 || port == 0 ||
        port > 65535) {
        if (err)
            snprintf(err, errlen, "'%s': bad port", s);
        return -1;
    }
    memset(out, 0, sizeof(*out));
    out->sin_family = AF_INET;
    out->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &out->sin_addr) != 1) {
        if (err)
            snprintf(err, errlen, "'%s': not an IPv4 address", host);
        return -1;
    }
    if ((ntohl(out->sin_addr.s_addr) >> 24) != 127 && !sim_in_own_netns()) {
        if (err)
            snprintf(err, errlen,
                     "'%s': only 127.0.0.0/8 is allowed (any address inside "
                     "the test's network namespace VSPC_NETNS)",
                     host);
        return -1;
    }
    return 0;
}

/* Run inside the network namespace VSPC_NETNS names (a test made it with
 * `ip netns add`, and runs us with `ip netns exec`): its addresses reach
 * only what the test built, so any is allowed. Checked, not trusted: the
 * named namespace must be the one this process is in. */
bool
sim_in_own_netns(void)
{
    const char *name = getenv("VSPC_NETNS");
    char path[300];
    struct stat mine, named;

    if (name == NULL || name[0] == '\0' || strchr(name, '/') ||
        strlen(name) > 200)
        return false;
    snprintf(path, sizeof(path), "/run/netns/%s", name);
    return stat("/proc/self/ns/net", &mine) == 0 && stat(path, &named) == 0 &&
           mine.st_ino == named.st_ino && mine.st_dev == named.st_dev;
}

int
sim_hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

int
sim_parse_uuid(const char *s, uint8_t out[16])
{
    unsigned nd = 0;

    memset(out, 0, 16);
    for (; *s; s++) {
        int v;

        if (*s == ' ' || *s == '-')
            continue;
        v = sim_hexval(*s);
        if (v < 0 || nd >= 32)
            return -1;
        out[nd / 2] = (uint8_t)(out[nd / 2] | (nd % 2 ? v : v << 4));
        nd++;
    }
    return nd == 32 ? 0 : -1;
}

uint64_t
sim_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* splitmix64 */
uint64_t
sim_rand(struct scon *c)
{
    uint64_t z = (c->rng += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void
sim_err(struct sim *s, const struct scon *c, uint64_t off, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    s->errors++;
    if (s->errors_printed >= s->cfg->error_print_max)
        return;
    s->errors_printed++;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (c && off != UINT64_MAX)
        fprintf(stderr, "hvsim: error: console=%u offset=%" PRIu64 ": %s\n",
                c->idx, off, msg);
    else if (c)
        fprintf(stderr, "hvsim: error: console=%u: %s\n", c->idx, msg);
    else
        fprintf(stderr, "hvsim: error: %s\n", msg);
    if (s->errors_printed == s->cfg->error_print_max)
        fprintf(stderr, "hvsim: further errors are counted, not printed\n");
}

void
sim_lat_add(struct sim_lat *l, uint64_t us)
{
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 1024;
        uint32_t *n;

        if (ncap > SIM_LAT_CAP)
            return;
        n = realloc(l->v, ncap * sizeof(*n));
        if (n == NULL)
            return;
        l->v = n;
        l->cap = ncap;
    }
    l->v[l->n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

/* ---- VM output ---------------------------------------------------------- */

/* Send up to max bytes of the VM stream on cur, stopping at HVC_HIWAT. */
static void
sim_send(struct scon *c, uint64_t max)
{
    const struct sim_cfg *cfg = c->sim->cfg;
    uint8_t buf[8192];

    if (c->cur == NULL || !c->streaming)
        return;
    if (cfg->bytes > 0 && max > cfg->bytes - c->tx)
        max = cfg->bytes - c->tx;
    /* --max-lag: never run ahead of our slowest operator by more than that
     * (for a proxy run with --slow-reader catchup, which never paces the
     * VM and skips bytes for a reader a queue behind; in one process the
     * writer would otherwise win, see sim_pump). */
    if (cfg->max_lag > 0 && sops_min_seen(c) != UINT64_MAX) {
        uint64_t seen = sops_min_seen(c);
        uint64_t lag = c->tx > seen ? c->tx - seen : 0;

        if (lag >= cfg->max_lag)
            return;
        if (max > cfg->max_lag - lag)
            max = cfg->max_lag - lag;
    }
    while (max > 0 && hvc_outbuf(c->cur) < HVC_HIWAT) {
        size_t n = max < sizeof(buf) ? (size_t)max : sizeof(buf);

        if (cfg->text)
            text_fill(c->name, c->tx, buf, n);
        else
            pat_fill(c->vm_seed, c->tx, buf, n);
        hvc_send_data(c->cur, buf, n);
        if (c->gap_tw_us == 0 && c->tx == c->gap_off && c->gap_t0_us)
            mig_first_write(c);
        c->tx += n;
        max -= n;
    }
}

void
sim_stream_pause(struct scon *c)
{
    c->streaming = false;
}

void
sim_stream_resume(struct scon *c)
{
    const struct sim_cfg *cfg = c->sim->cfg;

    if (c->failed || !c->ready || cfg->connect_only ||
        c->sim->phase >= SIM_PH_DRAIN)
        return;
    c->streaming = true;
    /* Spread the consoles' writes over the write interval, as real VMs
     * are: without it every console of a rate-limited run writes on the
     * same tick and the proxy sees one burst per interval. */
    c->tokens = cfg->rate * (uint64_t)c->sim->write_ms * 1000 /
                (cfg->consoles ? cfg->consoles : 1) * c->idx;
    if (cfg->rate == 0)
        sim_send(c, SIM_FLAT_BUDGET);
}

/* ---- consoles ----------------------------------------------------------- */

static void sim_enter_run(struct sim *s);
static void sim_connect_more(struct sim *s);

static void
sim_con_init_texts(struct sim *s, struct scon *c)
{
    const struct sim_cfg *cfg = s->cfg;
    uint8_t u[16];
    uint64_t lo = 0;
    char hex[33];

    memcpy(u, cfg->uuid_base, 16);
    for (int i = 8; i < 16; i++)
        lo = lo << 8 | u[i];
    lo += c->idx;
    for (int i = 15; i >= 8; i--, lo >>= 8)
        u[i] = (uint8_t)lo;
    for (int i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", u[i]);
    snprintf(c->uuid_text, sizeof(c->uuid_text),
             "%.2s %.2s %.2s %.2s %.2s %.2s %.2s %.2s-"
             "%.2s %.2s %.2s %.2s %.2s %.2s %.2s %.2s",
             hex, hex + 2, hex + 4, hex + 6, hex + 8, hex + 10, hex + 12,
             hex + 14, hex + 16, hex + 18, hex + 20, hex + 22, hex + 24,
             hex + 26, hex + 28, hex + 30);
    /* BIOS and location UUIDs: the same bytes, first byte changed. */
    snprintf(c->bios_text, sizeof(c->bios_text), "42%s", c->uuid_text + 2);
    snprintf(c->loc_text, sizeof(c->loc_text), "52%s", c->uuid_text + 2);
    snprintf(c->name, sizeof(c->name), "%s%05u", cfg->name_prefix, c->idx);
    if (cfg->port_label) {
        snprintf(c->service_uri, sizeof(c->service_uri), "%s?port=%s",
                 cfg->service_uri, cfg->port_label);
        snprintf(c->console_id, sizeof(c->console_id), "%s.%s", hex,
                 cfg->port_label);
    } else {
        snprintf(c->service_uri, sizeof(c->service_uri), "%s",
                 cfg->service_uri);
        snprintf(c->console_id, sizeof(c->console_id), "%s", hex);
    }
    c->ident.uuid_text = c->uuid_text;
    c->ident.bios_text = c->bios_text;
    c->ident.location_text = c->loc_text;
    c->ident.name = c->name;
    c->ident.service_uri = c->service_uri;
    c->ident.early_known1 = cfg->early_known1;
}

/* The console leaves the window of connecting consoles. */
static void
sim_con_settled(struct scon *c)
{
    struct sim *s = c->sim;

    if (!c->connecting)
        return;
    c->connecting = false;
    s->pending--;
    sim_connect_more(s);
    if (s->phase == SIM_PH_CONNECT &&
        s->nready + s->nfailed == s->cfg->consoles)
        sim_enter_run(s);
}

void
sim_con_fail(struct scon *c, const char *why)
{
    struct sim *s = c->sim;

    if (c->failed)
        return;
    sim_err(s, c, UINT64_MAX, "console failed: %s", why);
    c->failed = true;
    c->streaming = false;
    s->nfailed++;
    if (c->ready) {
        c->ready = false;
        s->nready--;
    }
    mig_reset(c);
    if (c->cur) {
        hvc_close(c->cur);
        c->cur = NULL;
    }
    sops_close(c);
    sim_con_settled(c);
}

void
sim_con_ready(struct scon *c)
{
    struct sim *s = c->sim;

    c->ready = true;
    s->nready++;
    log_debug("console=%s ready (%u)", c->console_id, c->idx);
    sim_stream_resume(c);
    if (!s->cfg->connect_only)
        mig_schedule(c);
    sim_con_settled(c);
}

/* The console's source connection to --proxy (its first, or a redial). */
static void
sim_dial(struct scon *c)
{
    struct sim *s = c->sim;

    c->cur_addr = s->cfg->proxy;
    c->cur = hvc_new(s->base, &s->cfg->proxy, HVC_SOURCE, &c->ident, NULL, 0,
                     s->cfg->handshake_timeout_ms, &sim_hvc_handlers, c);
    if (c->cur == NULL)
        sim_con_fail(c, "cannot start the connection");
}

static void
sim_con_start(struct sim *s, struct scon *c)
{
    c->connecting = true;
    s->pending++;
    sim_dial(c);
}

static void
sim_connect_more(struct sim *s)
{
    unsigned budget = 64; /* bounded work per call */

    /* A console that fails at once (EMFILE) settles and calls back here:
     * the outer call's loop goes on, no recursion. */
    if (s->in_connect)
        return;
    s->in_connect = true;
    while (s->phase == SIM_PH_CONNECT && budget-- > 0 &&
           s->next_connect < s->cfg->consoles &&
           s->pending < s->cfg->connect_window)
        sim_con_start(s, &s->cons[s->next_connect++]);
    s->in_connect = false;
}

/* ---- hypervisor connection callbacks ------------------------------------ */

static void
sim_hvc_ready(void *arg, struct hvc *h)
{
    struct scon *c = arg;
    struct sim *s = c->sim;

    if (h == c->cur && c->reconnecting) { /* back after a loss */
        c->reconnecting = false;
        c->rc_backoff_ms = 0;
        s->reconnected++;
        sim_lat_add(&s->lat_reconnect, sim_now_us() - c->t_lost_us);
        sim_stream_resume(c);
        mig_schedule(c);
        return;
    }
    if (h != c->cur || c->identified)
        return;
    c->identified = true;
    if (!s->cfg->have_operator) {
        sim_con_ready(c);
        return;
    }
    sops_start(c);
}

static void
sim_hvc_data(void *arg, struct hvc *h, const uint8_t *p, size_t n)
{
    struct scon *c = arg;
    struct sim *s = c->sim;
    const char *where = NULL;

    if (h == c->cur) {
        if (mig_frozen(c))
            where = "on the frozen source after GOAHEAD (lost on a real "
                    "host)";
    } else if (h == c->dst) {
        where = "on the vMotion destination before COMPLETE";
    } else {
        where = "on an old source connection after the switch";
    }
    if (where)
        sim_err(s, c, c->rx, "VM received %zu operator byte(s) %s", n, where);
    sops_vm_input(c, p, n);
}

static void
sim_hvc_vmotion(void *arg, struct hvc *h, uint8_t sub, const uint8_t *p,
                size_t n)
{
    mig_on_vmotion(arg, h, sub, p, n);
}

static void
sim_hvc_writable(void *arg, struct hvc *h)
{
    struct scon *c = arg;

    if (h == c->cur && c->streaming && c->sim->cfg->rate == 0)
        sim_send(c, SIM_FLAT_BUDGET);
}

static void
sim_hvc_problem(void *arg, struct hvc *h, const char *msg)
{
    struct scon *c = arg;

    sim_err(c->sim, c, UINT64_MAX, "%s connection: %s",
            hvc_role(h) == HVC_SOURCE ? "source" : "destination", msg);
}

static void
sim_rc_cb(evutil_socket_t fd, short what, void *arg)
{
    struct scon *c = arg;
    struct sim *s = c->sim;

    (void)fd;
    (void)what;
    if (c->failed || c->cur || s->phase >= SIM_PH_DONE)
        return;
    sim_dial(c);
}

/* --reconnect: the connection carrying the console was lost (its node
 * died, or it was let go): dial the same address again after a back-off,
 * as ESXi does; a redial that fails waits twice as long (2 s at most). */
static bool
sim_reconnect(struct scon *c)
{
    struct sim *s = c->sim;
    struct timeval tv;

    if (!s->cfg->reconnect || c->failed || !c->identified ||
        s->phase >= SIM_PH_DONE)
        return false;
    if (!c->reconnecting) {
        c->reconnecting = true;
        c->t_lost_us = sim_now_us();
        s->lost++;
        c->streaming = false;
    }
    c->rc_backoff_ms = c->rc_backoff_ms ? c->rc_backoff_ms * 2 : 100;
    if (c->rc_backoff_ms > 2000)
        c->rc_backoff_ms = 2000;
    if (c->rc_timer == NULL &&
        (c->rc_timer = evtimer_new(s->base, sim_rc_cb, c)) == NULL)
        return false;
    tv.tv_sec = c->rc_backoff_ms / 1000;
    tv.tv_usec = (suseconds_t)(c->rc_backoff_ms % 1000) * 1000;
    evtimer_add(c->rc_timer, &tv);
    return true;
}

static void
sim_hvc_closed(void *arg, struct hvc *h, bool error, const char *why)
{
    struct scon *c = arg;
    bool was_cur = h == c->cur;
    bool was_dst = h == c->dst;

    mig_on_closed(c, h, error, why);
    if (was_cur && sim_reconnect(c)) {
        log_info("console %u: connection lost (%s): reconnecting", c->idx, why);
    } else if (was_cur) {
        sim_con_fail(c, why);
    } else if (!was_dst && error) {
        sim_err(c->sim, c, UINT64_MAX, "old source connection: %s", why);
    }
}

const struct hvc_handlers sim_hvc_handlers = {
    .ready = sim_hvc_ready,
    .data = sim_hvc_data,
    .vmotion = sim_hvc_vmotion,
    .writable = sim_hvc_writable,
    .problem = sim_hvc_problem,
    .closed = sim_hvc_closed,
};

/* ---- phases ------------------------------------------------------------- */

static void
sim_enter_run(struct sim *s)
{
    if (s->phase != SIM_PH_CONNECT)
        return;
    s->phase = SIM_PH_RUN;
    s->t_run_us = sim_now_us();
    log_info("%u consoles ready, %u failed, in %.3f s", s->nready, s->nfailed,
             (double)(s->t_run_us - s->t_start_us) / 1e6);
}

static void
sim_enter_drain(struct sim *s)
{
    if (s->phase >= SIM_PH_DRAIN)
        return;
    if (s->phase == SIM_PH_CONNECT)
        s->t_run_us = sim_now_us();
    s->phase = SIM_PH_DRAIN;
    s->t_drain_us = sim_now_us();
    for (unsigned i = 0; i < s->cfg->consoles; i++) {
        s->cons[i].streaming = false;
        mig_stop(&s->cons[i]);
    }
}

/* Has console c generated everything it was asked to? */
static bool
sim_con_gen_done(const struct scon *c)
{
    const struct sim_cfg *cfg = c->sim->cfg;
    bool data_done =
        cfg->bytes > 0 ? c->tx >= cfg->bytes : cfg->duration_ms == 0;

    if (c->failed)
        return true;
    if (!c->ready)
        return false;
    return data_done && sops_typing_done(c) && c->mig == MIG_IDLE &&
           c->vmo_done >= cfg->vmotions;
}

/* Is everything console c generated verified? */
static bool
sim_con_drained(const struct scon *c)
{
    if (c->failed)
        return true;
    if (c->mig != MIG_IDLE)
        return false;
    return sops_drained(c);
}

static int
sim_cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return x < y ? -1 : x > y;
}

static uint32_t
sim_pct(const uint32_t *v, size_t n, unsigned pct)
{
    size_t rank;

    if (n == 0)
        return 0;
    rank = (n * pct + 99) / 100; /* nearest rank */
    return v[rank == 0 ? 0 : rank - 1];
}

/* " NAME_us_p50=.. NAME_us_p99=.. NAME_us_max=.." of a series (sorted). */
static void
sim_print_lat(const char *name, struct sim_lat *l)
{
    if (l->n > 0)
        qsort(l->v, l->n, sizeof(*l->v), sim_cmp_u32);
    printf(" %s_us_p50=%" PRIu32 " %s_us_p99=%" PRIu32 " %s_us_max=%" PRIu32
           " %s_n=%zu",
           name, sim_pct(l->v, l->n, 50), name, sim_pct(l->v, l->n, 99), name,
           l->n ? l->v[l->n - 1] : 0, name, l->n);
}

static void
sim_finish(struct sim *s)
{
    const struct sim_cfg *cfg = s->cfg;
    uint64_t vm_sent = 0, vm_ver = 0, op_sent = 0, op_ver = 0;
    /* per operator k: VM bytes it verified, bytes it typed, of those the
     * ones the VMs verified */
    uint64_t k_vm_ver[SIM_OPS_MAX] = {0}, k_sent[SIM_OPS_MAX] = {0};
    uint64_t k_ver[SIM_OPS_MAX] = {0};
    uint64_t now = sim_now_us();
    bool all = true;

    s->phase = SIM_PH_DONE;
    for (unsigned i = 0; i < cfg->consoles; i++) {
        struct scon *c = &s->cons[i];

        if (!c->failed)
            sops_final(c);
        vm_sent += c->tx;
        for (unsigned k = 0; k < cfg->n_ops; k++) {
            const struct opc_stats *st = sops_stats(c, k);

            k_vm_ver[k] += st->verified;
            k_sent[k] += st->typed;
            k_ver[k] += c->ops[k].rx_ok;
        }
    }
    for (unsigned k = 0; k < cfg->n_ops; k++) {
        vm_ver += k_vm_ver[k];
        op_sent += k_sent[k];
        op_ver += k_ver[k];
        if (k_vm_ver[k] != vm_sent || k_ver[k] != k_sent[k])
            all = false;
    }
    if (s->nready != cfg->consoles)
        all = false;
    s->exit_code = s->errors == 0 && all ? 0 : 1;
    printf(
        "hvsim: result=%s consoles=%u ready=%u failed=%u vm_bytes_sent=%" PRIu64
        " vm_bytes_verified_by_operators=%" PRIu64 " op_bytes_sent=%" PRIu64
        " op_bytes_verified_by_vms=%" PRIu64 " vmotions_ok=%" PRIu64
        " vmotions_aborted=%" PRIu64 " vmotions_notnow=%" PRIu64
        " vmotions_refused=%" PRIu64 " vmotions_failed=%" PRIu64
        " errors=%" PRIu64 " connect_s=%.3f run_s=%.3f drain_s=%.3f",
        s->exit_code == 0 ? "PASS" : "FAIL", cfg->consoles, s->nready,
        s->nfailed, vm_sent, vm_ver, op_sent, op_ver, s->vmo_ok, s->vmo_aborted,
        s->vmo_notnow, s->vmo_refused, s->vmo_failed, s->errors,
        (double)(s->t_run_us - s->t_start_us) / 1e6,
        (double)(s->t_drain_us - s->t_run_us) / 1e6,
        (double)(now - s->t_drain_us) / 1e6);
    sim_print_lat("goahead", &s->lat_goahead);
    sim_print_lat("peerok", &s->lat_peerok);
    sim_print_lat("gap", &s->lat_gap);
    if (cfg->reconnect) {
        printf(" lost=%" PRIu64 " reconnected=%" PRIu64, s->lost,
               s->reconnected);
        sim_print_lat("reconnect", &s->lat_reconnect);
    }
    if (cfg->n_ops > 1) {
        printf(" operators=%u", cfg->n_ops);
        for (unsigned k = 0; k < cfg->n_ops; k++)
            printf(" op%u_vm_bytes_verified=%" PRIu64
                   " op%u_bytes_sent=%" PRIu64
                   " op%u_bytes_verified_by_vms=%" PRIu64,
                   k, k_vm_ver[k], k, k_sent[k], k, k_ver[k]);
    }
    printf("\n");
    fflush(stdout);
    event_base_loopbreak(s->base);
}

/* Refill the token buckets and send what they allow, in writes of at
 * least write_ms worth of rate (bounds the syscalls with many consoles). */
static void
sim_pump(struct sim *s, uint64_t dt_us)
{
    const struct sim_cfg *cfg = s->cfg;
    uint64_t depth_us = SIM_BUCKET_US > 2000 * (uint64_t)s->write_ms
                            ? SIM_BUCKET_US
                            : 2000 * (uint64_t)s->write_ms;
    uint64_t vm_cap = cfg->rate * depth_us + 1000000;
    uint64_t op_cap = cfg->op_rate * depth_us + 1000000;
    uint64_t vm_chunk = cfg->rate * s->write_ms / 1000;
    uint64_t op_chunk = cfg->op_rate * s->write_ms / 1000;

    if (vm_chunk == 0)
        vm_chunk = 1;
    if (op_chunk == 0)
        op_chunk = 1;
    for (unsigned i = 0; i < cfg->consoles; i++) {
        struct scon *c = &s->cons[i];

        if (c->failed || !c->ready)
            continue;
        /* Flat out: the write callback refills, the tick restarts a stream
         * that stopped at max_lag with an empty output buffer. */
        if (c->streaming && cfg->rate == 0 && c->cur &&
            hvc_outbuf(c->cur) < HVC_LOWAT)
            sim_send(c, SIM_FLAT_BUDGET);
        if (c->streaming && cfg->rate > 0) {
            uint64_t before = c->tx, have;

            c->tokens += cfg->rate * dt_us;
            if (c->tokens > vm_cap)
                c->tokens = vm_cap;
            have = c->tokens / 1000000;
            if (have >= vm_chunk ||
                (cfg->bytes > 0 && cfg->bytes - c->tx <= have)) {
                sim_send(c, have);
                c->tokens -= (c->tx - before) * 1000000;
            }
        }
        sops_pump(c, dt_us, op_cap, op_chunk);
    }
}

static void
sim_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sim *s = arg;
    const struct sim_cfg *cfg = s->cfg;
    uint64_t now = sim_now_us();
    uint64_t dt = now - s->t_last_tick_us;
    bool done = true;

    s->t_last_tick_us = now;
    if (dt > 1000000)
        dt = 1000000;
    switch (s->phase) {
    case SIM_PH_CONNECT:
        sim_connect_more(s);
        if (now - s->t_start_us > (uint64_t)cfg->connect_timeout_ms * 1000) {
            for (unsigned i = 0; i < cfg->consoles; i++)
                if (!s->cons[i].ready && !s->cons[i].failed)
                    sim_con_fail(&s->cons[i], "not ready within the "
                                              "connect timeout");
            sim_enter_run(s);
        }
        sim_pump(s, dt);
        break;
    case SIM_PH_RUN:
        sim_pump(s, dt);
        if (cfg->duration_ms > 0 &&
            now - s->t_run_us >= cfg->duration_ms * 1000) {
            sim_enter_drain(s);
            break;
        }
        for (unsigned i = 0; i < cfg->consoles && done; i++)
            done = sim_con_gen_done(&s->cons[i]);
        if (done)
            sim_enter_drain(s);
        break;
    case SIM_PH_DRAIN:
        for (unsigned i = 0; i < cfg->consoles && done; i++)
            done = sim_con_drained(&s->cons[i]);
        if (done) {
            sim_finish(s);
        } else if (now - s->t_drain_us >
                   (uint64_t)cfg->drain_timeout_ms * 1000) {
            sim_err(s, NULL, UINT64_MAX, "drain timeout (%u ms)",
                    cfg->drain_timeout_ms);
            sim_finish(s);
        }
        break;
    case SIM_PH_DONE:
        break;
    }
}

static void
sim_signal_cb(evutil_socket_t sig, short what, void *arg)
{
    struct sim *s = arg;

    log_info("signal %d: %s", (int)sig,
             s->phase < SIM_PH_DRAIN ? "draining" : "stopping");
    if (s->phase < SIM_PH_DRAIN) {
        sim_enter_drain(s);
    } else if (s->phase == SIM_PH_DRAIN) {
        sim_err(s, NULL, UINT64_MAX, "interrupted while draining");
        sim_finish(s);
    }
}

/* Raise RLIMIT_NOFILE to the hard limit; check that the run fits. */
static int
sim_fd_limit(const struct sim_cfg *cfg)
{
    struct rlimit rl;
    uint64_t need = (uint64_t)cfg->consoles * (1 + cfg->n_ops) + 32;

    if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
        return 0;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
            log_warn("setrlimit(RLIMIT_NOFILE)");
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur == RLIM_INFINITY)
        return 0;
    if (need > rl.rlim_cur) {
        fprintf(stderr,
                "vspc-hvsim: %u consoles%s need at least %" PRIu64
                " file descriptors, RLIMIT_NOFILE allows %" PRIu64
                " (raise the hard limit: ulimit -Hn)\n",
                cfg->consoles, cfg->have_operator ? " with operators" : "",
                need, (uint64_t)rl.rlim_cur);
        return -1;
    }
    /* vMotion destinations and finishing sources come on top. */
    if (cfg->vmotions > 0 && need + 2 * cfg->vmo_window > rl.rlim_cur)
        log_warnx("RLIMIT_NOFILE %" PRIu64 " may be short for %u vMotions "
                  "in flight (--vmotion-window)",
                  (uint64_t)rl.rlim_cur, cfg->vmo_window);
    return 0;
}

int
sim_run(const struct sim_cfg *cfg)
{
    struct sim s;
    struct timeval tick = {0, SIM_TICK_MS * 1000};
    int rc = 2;

    memset(&s, 0, sizeof(s));
    s.cfg = cfg;
    /* auto: every tick for a few consoles, ~10000 writes/s beyond */
    s.write_ms = cfg->write_interval_ms;
    if (s.write_ms == 0)
        s.write_ms = cfg->consoles <= 100     ? SIM_TICK_MS
                     : cfg->consoles >= 10000 ? 1000
                                              : cfg->consoles / 10;
    if (sim_fd_limit(cfg) == -1)
        return 2;
    signal(SIGPIPE, SIG_IGN);
    s.base = event_base_new();
    s.cons = calloc(cfg->consoles, sizeof(*s.cons));
    if (s.base == NULL || s.cons == NULL) {
        fprintf(stderr, "vspc-hvsim: out of memory\n");
        goto out;
    }
    for (unsigned i = 0; i < cfg->consoles; i++) {
        struct scon *c = &s.cons[i];

        c->sim = &s;
        c->idx = i;
        c->vm_seed = seed_vm(cfg->seed, i);
        c->rng = c->vm_seed ^ 0x6a09e667f3bcc909ULL;
        sim_con_init_texts(&s, c);
        if (mig_init(c) == -1) {
            fprintf(stderr, "vspc-hvsim: out of memory\n");
            goto out;
        }
    }
    s.tick = event_new(s.base, -1, EV_PERSIST, sim_tick_cb, &s);
    s.sig_int = evsignal_new(s.base, SIGINT, sim_signal_cb, &s);
    s.sig_term = evsignal_new(s.base, SIGTERM, sim_signal_cb, &s);
    if (s.tick == NULL || s.sig_int == NULL || s.sig_term == NULL) {
        fprintf(stderr, "vspc-hvsim: cannot create events\n");
        goto out;
    }
    evtimer_add(s.tick, &tick);
    evsignal_add(s.sig_int, NULL);
    evsignal_add(s.sig_term, NULL);
    s.t_start_us = s.t_last_tick_us = sim_now_us();
    s.phase = SIM_PH_CONNECT;
    log_info("%u console(s) -> %s:%u%s", cfg->consoles,
             inet_ntoa(cfg->proxy.sin_addr), ntohs(cfg->proxy.sin_port),
             cfg->connect_only ? " (connect only)" : "");
    sim_connect_more(&s);
    event_base_dispatch(s.base);
    rc = s.phase == SIM_PH_DONE ? s.exit_code : 1;
out:
    hvc_close_all();
    opc_close_all();
    if (s.cons)
        for (unsigned i = 0; i < cfg->consoles; i++) {
            mig_cleanup(&s.cons[i]);
            if (s.cons[i].rc_timer)
                event_free(s.cons[i].rc_timer);
        }
    if (s.tick)
        event_free(s.tick);
    if (s.sig_int)
        event_free(s.sig_int);
    if (s.sig_term)
        event_free(s.sig_term);
    if (s.base)
        event_base_free(s.base);
    free(s.cons);
    free(s.lat_goahead.v);
    free(s.lat_peerok.v);
    free(s.lat_gap.v);
    free(s.lat_reconnect.v);
    return rc;
}
