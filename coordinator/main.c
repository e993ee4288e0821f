/*
 * main.c: vspc-coordinator's command line, configuration, signals and
 * event loop. The directory is directory.c, the sockets server.c.
 */
#include "vspc/compat.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/event.h>
#include <systemd/sd-daemon.h>
#include <zmq.h>

#include "vspc/log.h"
#include "vspc/privdrop.h"
#include "vspc/zcurve.h"
#include "vspc/zev.h"
#include "config.h"
#include "server.h"

static void
usage(FILE *f)
{
    fprintf(f, "usage: vspc-coordinator [options]\n"
               "\n"
               "The directory of a vspc cluster: which node owns which "
               "console.\nSoft state only: nodes register, heartbeat and "
               "announce; a restarted\ncoordinator rebuilds everything from "
               "their re-announcements.\n"
               "\n"
               "  --bind tcp://ADDR:PORT          requests (default "
               "tcp://127.0.0.1:13380);\n"
               "                                  PORT+1: directory updates, "
               "PORT+2: the HA\n"
               "                                  port of a pair\n"
               "  --peer tcp://ADDR:PORT          the other coordinator of a "
               "pair (its --bind)\n"
               "  --primary | --backup            which one of the pair this "
               "is\n"
               "  --ha-bind, --ha-peer tcp://...  the pair's HA ports if not "
               "PORT+2 of each\n"
               "  --heartbeat-timeout SECS        a node silent this long is "
               "dead (default 3)\n"
               "  --max-nodes N                   distinct node ids (1-256, "
               "default 256)\n"
               "  --max-consoles-per-node N       (default 100000)\n"
               "  --max-consoles N                in all (default 1000000)\n"
               "  --log-level LEVEL               error, warn, info, debug "
               "(default info)\n"
               "  -c, --config FILE               read these options from an "
               "INI file first\n"
               "                                  ([coordinator] section, keys "
               "= the long option\n"
               "                                  names; the command line "
               "overrides it)\n"
               "  -t, --check-config              parse and validate, print "
               "\"config ok\" or the\n"
               "                                  errors, exit 0 or 1\n"
               "  --help, --version\n");
}

/* Defaults, then -c FILE, then the other options (the command line
 * wins): config.c's table on the common engine (vspc/opttab.h). Returns
 * only with a valid configuration; -t exits. */
static void
parse_args(int argc, char **argv, struct coord_cfg *cfg)
{
    struct opt_loader ld;

    const char *bad;

    ccfg_loader_init(&ld, cfg);
    if (opt_cmdline(&ld, "vspc-coordinator", usage, argc, argv)) {
        if ((bad = ccfg_check(cfg)) != NULL) {
            fprintf(stderr, "vspc-coordinator: %s\n", bad);
            exit(1);
        }
        printf("config ok\n");
        exit(0);
    }
    if ((bad = ccfg_check(cfg)) != NULL) {
        fprintf(stderr, "vspc-coordinator: %s\n", bad);
        exit(2);
    }
    log_verbosity = cfg->log_level;
}

struct coord {
    struct event_base *base;
    struct event *sig_term, *sig_int, *sig_hup;
};

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
    struct coord *co = arg;

    log_info("signal %d: shutting down", (int)sig);
    sd_notify(0, "STOPPING=1");
    event_base_loopexit(co->base, NULL);
}

/* SIGHUP: nothing here changes live (its state is the directory; its
 * options shape the sockets): say so instead of dying of it. */
static void
sighup_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    (void)arg;
    log_warnx("SIGHUP: the coordinator does not reload its options: restart "
              "it to change them (its pair partner serves meanwhile)");
}

int
main(int argc, char **argv)
{
    struct coord_cfg cfg;
    struct coord co = {0};
    struct srv_cfg sc;
    struct srv *srv;
    char err[512], ha[300], pair[700];
    void *zctx;
    struct zc_keys curve = {0};
    struct zc_zap *zap = NULL;

    log_init("vspc-coordinator", LOG_LVL_INFO);
    parse_args(argc, argv, &cfg);
    signal(SIGPIPE, SIG_IGN);
    if ((co.base = event_base_new()) == NULL)
        fatalx("cannot create the event loop");
    /* After any fork (there is none): libzmq contexts do not survive one. */
    if ((zctx = zmq_ctx_new()) == NULL)
        fatalx("cannot create the ZeroMQ context");
    co.sig_term = evsignal_new(co.base, SIGTERM, signal_cb, &co);
    co.sig_int = evsignal_new(co.base, SIGINT, signal_cb, &co);
    co.sig_hup = evsignal_new(co.base, SIGHUP, sighup_cb, &co);
    if (co.sig_term == NULL || co.sig_int == NULL || co.sig_hup == NULL ||
        evsignal_add(co.sig_term, NULL) != 0 ||
        evsignal_add(co.sig_int, NULL) != 0 ||
        evsignal_add(co.sig_hup, NULL) != 0)
        fatalx("cannot set up signal handling");
    if (cfg.curve_key) {
        if (zc_load(&curve, cfg.curve_key, err, sizeof(err)) != 0)
            fatalx("--curve-key %s", err);
        /* Before any socket binds: every handshake asks it. The pair's
         * own key is admitted (the HA link). */
        if ((zap = zc_zap_new(co.base, zctx, cfg.curve_clients, curve.public_,
                              err, sizeof(err))) == NULL)
            fatalx("--curve-clients: %s", err);
        log_info("curve: on, public key %s; node keys from %s", curve.public_,
                 cfg.curve_clients);
    } else if (cfg.curve_clients) {
        fatalx("--curve-clients needs --curve-key");
    } else if (strncmp(cfg.bind, "tcp://127.", 10) != 0) {
        log_warnx("curve: off while listening on %s: nodes and coordinators "
                  "are not authenticated (set --curve-key and "
                  "--curve-clients)",
                  cfg.bind);
    }
    memset(&sc, 0, sizeof(sc));
    sc.bind = cfg.bind;
    sc.curve = &curve;
    sc.lim.max_nodes = cfg.max_nodes;
    sc.lim.max_per_node = cfg.max_per_node;
    sc.lim.max_consoles = cfg.max_consoles;
    sc.lim.heartbeat_timeout = cfg.heartbeat_timeout;
    if (cfg.peer[0]) {
        sc.peer = cfg.peer;
        sc.primary = cfg.primary;
        sc.ha_bind = cfg.ha_bind[0] ? cfg.ha_bind : NULL;
        sc.ha_peer = cfg.ha_peer[0] ? cfg.ha_peer : NULL;
    }
    if ((srv = srv_new(co.base, zctx, &sc, err, sizeof(err))) == NULL)
        fatalx("%s", err);
    if (zev_endpoint_port_add(cfg.bind, 2, ha, sizeof(ha)) != 0)
        snprintf(ha, sizeof(ha), "(none)");
    if (cfg.peer[0])
        snprintf(pair, sizeof(pair), "HA port %s, %s of a pair with %s",
                 cfg.ha_bind[0] ? cfg.ha_bind : ha,
                 cfg.primary ? "primary" : "backup", cfg.peer);
    else
        snprintf(pair, sizeof(pair), "%s reserved for the HA peer", ha);
    log_info("coordinator incarnation %016" PRIx64
             ": requests on %s, updates on %s (%s); heartbeat timeout %.3g "
             "s; limits: %u nodes, %zu consoles per node, %zu in all",
             srv_dir(srv)->incarnation, cfg.bind, srv_pub_endpoint(srv), pair,
             cfg.heartbeat_timeout, cfg.max_nodes, cfg.max_per_node,
             cfg.max_consoles);
    if (priv_drop(cfg.user, err, sizeof(err)) != 0)
        fatalx("%s", err);
    if (cfg.user)
        log_info("running as %s", cfg.user);
    /* systemd (Type=notify): the ports are bound. No-op elsewhere. */
    sd_notifyf(0, "READY=1\nSTATUS=coordinator on %s", cfg.bind);
    event_base_dispatch(co.base);
    srv_log_stats(srv);
    srv_free(&srv);
    zc_zap_free(&zap);
    event_free(co.sig_term);
    event_free(co.sig_int);
    event_free(co.sig_hup);
    zmq_ctx_term(zctx);
    event_base_free(co.base);
    opt_free(&ccfg_table, &cfg);
    log_info("stopped");
    return 0;
}
