/*
 * main.c: vspc-proxy's command line, listeners, signals and event loop.
 */
#include "vspc/compat.h"

#include <errno.h>
#include <signal.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <systemd/sd-daemon.h>

#include "vspc/log.h"
#include "vspc/privdrop.h"
#include "clog.h"
#include "cluster.h"
#include "config.h"
#include "console.h"
#include "edge.h"
#include "lguard.h"
#include "node.h"
#include "operator.h"
#include "proxy.h"
#include "session.h"
#include "http.h"
#include "auth.h"
#include "reload.h"
#include "users.h"
#include "tls.h"
#include "vmlog.h"
#include "vmotion.h"

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: vspc-proxy [options]\n"
            "\n"
            "The vSPC node: ESXi hosts connect their VMs' network serial "
            "ports to it;\noperators attach to the consoles.\n"
            "\n"
            "  --vm-listen ADDR:PORT        hypervisor side (default "
            "0.0.0.0:13370)\n"
            "  --tls-listen ADDR:PORT       hypervisor side, telnets:// "
            "(default 0.0.0.0:13369\n"
            "                               with --tls-cert; none = off)\n"
            "  --tls-cert FILE              PEM certificate (chain) for "
            "telnets://\n"
            "  --tls-key FILE               its PEM private key (default: "
            "--tls-cert)\n"
            "  --proxy-protocol             hypervisor connections start "
            "with a PROXY v1/v2\n"
            "                               header (behind HAProxy)\n"
            "  --allow CIDR                 accepted hypervisor sources "
            "(repeatable;\n"
            "                               none = any)\n"
            "  --operator-listen ADDR:PORT  operator port (default "
            "127.0.0.1:13371)\n"
            "  --operator-tls-listen ADDR:PORT  operators over TLS "
            "(0.0.0.0:13373 with\n"
            "                               --operator-cert; none = off)\n"
            "  --operator-cert FILE         its PEM certificate (chain); "
            "--operator-key FILE\n"
            "  --operator-ca FILE           CA of operators' client "
            "certificates (CN = user)\n"
            "  --operator-anonymous loopback|any|none  who may skip the "
            "login (loopback)\n"
            "  --users FILE                 users and password hashes "
            "(vspcctl passwd)\n"
            "  --acl FILE                   per-console rights and the "
            "admin role\n"
            "  --login-failures N           failed logins per source per "
            "minute (5)\n"
            "  --http-cert FILE             HTTPS on the HTTP listener; "
            "--http-key FILE\n"
            "  --http-token-file FILE       bearer token for the HTTP API "
            "(every right)\n"
            "  --service-uri STR            accepted Port URI (repeatable; "
            "none = any)\n"
            "  --node-id NAME               this node's name (default "
            "node1)\n"
            "  --node-index N               0-255, routing hint in vMotion "
            "secrets\n"
            "  --vmotion-timeout SECS       a pending vMotion expires "
            "(default 30)\n"
            "  --refuse-vmotion             answer every BEGIN with NOTNOW "
            "(maintenance)\n"
            "  --idle-timeout SECS          close connections that do not "
            "identify (60)\n"
            "  --console-expire SECS        forget disconnected, unwatched "
            "consoles (86400)\n"
            "  --scrollback BYTES           VM output kept per console "
            "(65536)\n"
            "  --escape-char ^X|none        operator escape (default ^E: "
            "^Ec. detach)\n"
            "  --slow-reader pace|catchup|disconnect\n"
            "                               pace (default): a reader with a "
            "full queue\n"
            "                               pauses the VM until it has room; "
            "one stalled\n"
            "                               past --stall-timeout is caught up "
            "later from\n"
            "                               the scrollback with a gap notice. "
            "catchup:\n"
            "                               never pause the VM (readers past "
            "their queue\n"
            "                               are caught up). disconnect: pace, "
            "and drop\n"
            "                               stalled readers\n"
            "  --stall-timeout SECS         a reader with no progress for "
            "this stops\n"
            "                               pacing the VM (default 1)\n"
            "  --operator-queue BYTES       per-reader queue (default "
            "262144)\n"
            "  --http-listen ADDR:PORT|none metrics and API (default "
            "127.0.0.1:13372)\n"
            "  --agent-listen ADDR:PORT|none HAProxy agent-check port: "
            "ready, drain or\n"
            "                               maint per connection (default "
            "none)\n"
            "  --log-dir DIR                write one log file per console "
            "there\n"
            "  --log-timestamps             time stamp every logged line\n"
            "  --log-rotate-bytes BYTES     rotate console logs at this size "
            "(16 MiB)\n"
            "  --log-keep N                 rotated files kept per console "
            "(5)\n"
            "  --audit-records N            vMotion audit records kept for "
            "the API (1024)\n"
            "  --log-level LEVEL            error, warn, info, debug "
            "(default info)\n"
            "  --coordinator tcp://H:P      join the cluster of this "
            "coordinator (twice:\n"
            "                               the HA pair); none: run alone\n"
            "  --peer-listen ADDR:PORT      the peer link to other nodes "
            "(127.0.0.1:13390)\n"
            "  --peer-advertise ADDR:PORT   the address other nodes dial "
            "(peer-listen's)\n"
            "  --peer-tls-cert FILE --peer-tls-key FILE --peer-ca FILE\n"
            "                               peer links in mutual TLS under "
            "the cluster CA\n"
            "                               (certificate CN = --node-id)\n"
            "  -c, --config FILE            read these options from an INI "
            "file first\n"
            "                               ([proxy] section, keys = the "
            "long option names;\n"
            "                               the command line overrides it)\n"
            "  -t, --check-config           parse and validate, print "
            "\"config ok\" or the\n"
            "                               errors, exit 0 or 1 without "
            "listening\n"
            "  --help, --version\n"
            "\n"
            "Flags (--refuse-vmotion, ...) also take =yes or =no.\n");
    opt_usage_reloadable(f, &cfg_table);
}

/* The operators' TLS context: certificate, key, client CA. NULL with the
 * reason in err. */
static struct tls_ctx *
op_tls_new(const struct proxy_cfg *cfg, char *err, size_t errcap)
{
    struct tls_ctx *t;
    char why[768];

    t = tls_server_new_named(cfg->op_cert, cfg->op_key, "--operator-cert",
                             "--operator-key", err, errcap);
    if (t && cfg->op_ca &&
        tls_ctx_client_ca(t, cfg->op_ca, why, sizeof(why)) != 0) {
        snprintf(err, errcap, "--operator-ca %s", why);
        tls_ctx_free(&t);
    }
    return t;
}

/* Check mode (-t): also load the certificates and keys, the users file
 * and the ACL file, as a start would. Returns 0 or -1 (error printed). */
static int
check_files(const struct proxy_cfg *cfg)
{
    struct tls_ctx *tls;
    char err[1024];

    if (cfg->tls_cert) {
        if ((tls = tls_server_new(cfg->tls_cert, cfg->tls_key, err,
                                  sizeof(err))) == NULL) {
            fprintf(stderr, "vspc-proxy: %s\n", err);
            return -1;
        }
        tls_ctx_free(&tls);
    }
    if (cfg->peer_tls_cert) {
        if ((tls = tls_mutual_new(cfg->peer_tls_cert, cfg->peer_tls_key,
                                  cfg->peer_ca, err, sizeof(err))) == NULL) {
            fprintf(stderr, "vspc-proxy: %s\n", err);
            return -1;
        }
        tls_ctx_free(&tls);
    }
    if (cfg->log_dir) {
        struct stat st;

        const char *why = stat(cfg->log_dir, &st) != 0 ? strerror(errno)
                          : !S_ISDIR(st.st_mode)       ? "not a directory"
                                                       : NULL;

        if (why) {
            fprintf(stderr, "vspc-proxy: --log-dir %s: %s\n", cfg->log_dir,
                    why);
            return -1;
        }
        if (access(cfg->log_dir, W_OK | X_OK) != 0) {
            fprintf(stderr,
                    "vspc-proxy: --log-dir %s: not writable by this user "
                    "(%s)\n",
                    cfg->log_dir, strerror(errno));
            return -1;
        }
    }
    if (cfg->users_file) {
        struct usr_db *u = usr_db_load(cfg->users_file, err, sizeof(err));

        if (u == NULL) {
            fprintf(stderr, "vspc-proxy: %s\n", err);
            return -1;
        }
        usr_db_free(&u);
    }
    if (cfg->acl_file) {
        struct acl *a = acl_load(cfg->acl_file, err, sizeof(err));

        if (a == NULL) {
            fprintf(stderr, "vspc-proxy: %s\n", err);
            return -1;
        }
        acl_free(&a);
    }
    if (cfg->op_cert) {
        if ((tls = op_tls_new(cfg, err, sizeof(err))) == NULL) {
            fprintf(stderr, "vspc-proxy: %s\n", err);
            return -1;
        }
        tls_ctx_free(&tls);
    }
    return 0;
}

/*
 * Defaults, then --config FILE, then the other options in their order (the
 * command line wins), then the cross-option checks: config.c's table on
 * the common engine (vspc/opttab.h). Errors: all of them, then exit 1.
 * Returns normally only with a valid cfg; with --check-config it exits.
 */
static void
parse_args(int argc, char **argv, struct proxy_cfg *cfg)
{
    struct opt_loader ld;
    bool check;

    cfg_loader_init(&ld, cfg);
    check = opt_cmdline(&ld, "vspc-proxy", usage, argc, argv);
    log_verbosity = cfg->log_level;
    if (check) {
        int rc = check_files(cfg);

        if (rc == 0)
            printf("config ok\n");
        cfg_free(cfg);
        exit(rc == 0 ? 0 : 1);
    }
}

static void
vm_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
             int salen, void *arg)
{
    edge_accept(arg, fd, sa, false);
}

static void
tls_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
              int salen, void *arg)
{
    edge_accept(arg, fd, sa, true);
}

static void
op_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
             int salen, void *arg)
{
    op_new(arg, fd, sa);
}

/* The VM name for log lines (vspc/log.h), on the loop thread only. */
static struct proxy *log_px;
static pthread_t log_loop_thread;

static const char *
log_vm_name(const char *id)
{
    const struct console *c;

    if (log_px == NULL || log_px->consoles == NULL ||
        !pthread_equal(pthread_self(), log_loop_thread))
        return NULL;
    c = con_find(log_px->consoles, id);
    return c ? c->name : NULL;
}

static void
op_tls_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
                 struct sockaddr *sa, int salen, void *arg)
{
    op_new_tls(arg, fd, sa);
}

static struct evconnlistener *
listen_on(struct proxy *px, const char *addr, evconnlistener_cb cb,
          const char *what)
{
    struct sockaddr_storage ss;
    socklen_t len;
    struct evconnlistener *l;

    if (addr_parse(addr, &ss, &len) != 0)
        fatalx("%s: bad address \"%s\" (want ADDR:PORT)", what, addr);
    l = evconnlistener_new_bind(px->base, cb, px,
                                LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
                                    LEV_OPT_CLOSE_ON_EXEC,
                                1024, (struct sockaddr *)&ss, (int)len);
    if (l == NULL)
        fatal("%s: cannot listen on %s", what, addr);
    if (lg_guard(px, l, what) != 0)
        log_warnx("%s: not guarded against running out of descriptors (out "
                  "of memory)",
                  what);
    return l;
}

static void
sighup_cb(evutil_socket_t sig, short what, void *arg)
{
    struct proxy *px = arg;

    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
               (unsigned long long)now.tv_sec * 1000000ULL +
                   (unsigned long long)now.tv_nsec / 1000);
    log_info("SIGHUP: reopening console logs, reading the configuration "
             "again");
    if (px->vmlog)
        vmlog_reopen(px->vmlog);
    rld_start(px);
    sd_notify(0, "READY=1");
}

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
    struct proxy *px = arg;

    log_info("signal %d: shutting down", (int)sig);
    sd_notify(0, "STOPPING=1");
    event_base_loopexit(px->base, NULL);
}

static void
raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int
main(int argc, char **argv)
{
    static struct proxy px;

    log_init("vspc-proxy", LOG_LVL_INFO);
    proxy_cfg_defaults(&px.cfg);
    parse_args(argc, argv, &px.cfg);
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();
    if (proxy_init(&px) != 0)
        fatalx("cannot set up the event loop (out of memory?)");
    log_px = &px;
    log_loop_thread = pthread_self();
    log_set_console_name(log_vm_name);
    px.sig_term = evsignal_new(px.base, SIGTERM, signal_cb, &px);
    px.sig_int = evsignal_new(px.base, SIGINT, signal_cb, &px);
    px.sig_hup = evsignal_new(px.base, SIGHUP, sighup_cb, &px);
    if (px.sig_term == NULL || px.sig_int == NULL || px.sig_hup == NULL)
        fatalx("out of memory");
    evsignal_add(px.sig_hup, NULL);
    if (px.cfg.tls_cert) {
        char err[1024];

        /* Read from disk here, before the loop runs. */
        px.tls =
            tls_server_new(px.cfg.tls_cert, px.cfg.tls_key, err, sizeof(err));
        if (px.tls == NULL)
            fatalx("%s", err);
    }
    if (px.cfg.op_cert) {
        char err[1024];

        if ((px.op_tls = op_tls_new(&px.cfg, err, sizeof(err))) == NULL)
            fatalx("%s", err);
    }
    {
        char err[512];

        /* --users and --acl are read here, before the loop runs. */
        if ((px.auth = auth_new(&px, err, sizeof(err))) == NULL)
            fatalx("%s", err);
    }
    if (px.cfg.log_dir) {
        struct vmlog_cfg lc = {
            .dir = px.cfg.log_dir,
            .timestamps = px.cfg.log_timestamps,
            .rotate_bytes = px.cfg.log_rotate_bytes,
            .keep = px.cfg.log_keep,
            .queue_max = 64u * 1024 * 1024,
        };

        if ((px.vmlog = vmlog_new(&lc, px.base)) == NULL)
            fatalx("--log-dir %s: cannot start the console log writer",
                   px.cfg.log_dir);
        if ((px.clog = clog_new(&px)) == NULL)
            fatalx("out of memory");
    }
    {
        char err[256];

        px.clu = clu_new(&px, err, sizeof(err));
        if (px.clu == NULL && err[0])
            fatalx("cluster: %s", err);
    }
    if (px.cfg.http_listen[0] &&
        (px.http = http_new(&px, px.cfg.http_listen)) == NULL)
        fatalx("--http-listen %s: cannot listen", px.cfg.http_listen);
    evsignal_add(px.sig_term, NULL);
    evsignal_add(px.sig_int, NULL);
    px.vm_listener =
        listen_on(&px, px.cfg.vm_listen, vm_accept_cb, "--vm-listen");
    if (px.tls) {
        px.tls_listener =
            listen_on(&px, px.cfg.tls_listen, tls_accept_cb, "--tls-listen");
        log_info("telnets:// on %s: certificate %s, SHA-1 thumbprint %s",
                 px.cfg.tls_listen, tls_ctx_subject(px.tls),
                 tls_ctx_thumbprint(px.tls));
    }
    if (px.cfg.allow_defaulted)
        log_warnx("hypervisor side: no --allow given: hypervisors are "
                  "accepted from loopback only; set --allow to the ESXi "
                  "hosts' management networks (PROXY protocol %s)",
                  px.cfg.proxy_protocol ? "required" : "off");
    else
        log_info("hypervisor side: PROXY protocol %s, %zu --allow "
                 "prefix%s",
                 px.cfg.proxy_protocol ? "required" : "off", px.cfg.n_allow,
                 px.cfg.n_allow == 1 ? "" : "es");
    log_info("hypervisor side: a live console claimed by another connection "
             "is %s (--takeover)",
             px.cfg.takeover_refuse ? "kept (the newcomer is refused)"
                                    : "replaced");
    px.op_listener = listen_on(&px, px.cfg.operator_listen, op_accept_cb,
                               "--operator-listen");
    if (px.op_tls) {
        px.op_tls_listener =
            listen_on(&px, px.cfg.op_tls_listen, op_tls_accept_cb,
                      "--operator-tls-listen");
        log_info("operators over TLS on %s: certificate %s, client "
                 "certificates %s",
                 px.cfg.op_tls_listen, tls_ctx_subject(px.op_tls),
                 px.cfg.op_ca ? px.cfg.op_ca : "(none: passwords only)");
    }
    log_info("operators: anonymous access %s, %s, %s",
             px.cfg.op_anon == PROXY_ANON_ANY    ? "for everyone"
             : px.cfg.op_anon == PROXY_ANON_NONE ? "for nobody"
                                                 : "from loopback only",
             px.cfg.users_file ? "users from --users" : "no users (--users)",
             px.cfg.acl_file ? "rights from --acl"
                             : "no --acl: every operator has every right");
    if (px.cfg.agent_listen[0] && (px.agent_listener = node_agent_listen(
                                       &px, px.cfg.agent_listen)) == NULL)
        fatal("--agent-listen: cannot listen on %s", px.cfg.agent_listen);
    log_info("node %s listening: hypervisors on %s, operators on %s, "
             "HTTP on %s, service URIs: %s%s, console logs: %s",
             px.cfg.node_id, px.cfg.vm_listen, px.cfg.operator_listen,
             px.cfg.http_listen[0] ? px.cfg.http_listen : "(off)",
             px.cfg.n_service_uris ? px.cfg.service_uris[0] : "(any)",
             px.cfg.n_service_uris > 1 ? ", ..." : "",
             px.cfg.log_dir ? px.cfg.log_dir : "(off)");
    {
        char why[300];

        if (priv_drop(px.cfg.user, why, sizeof(why)) != 0)
            fatalx("%s", why);
        if (px.cfg.user)
            log_info("running as %s", px.cfg.user);
    }
    /* systemd (Type=notify): the ports are open. No-op elsewhere. */
    sd_notifyf(0, "READY=1\nSTATUS=node %s: hypervisors on %s", px.cfg.node_id,
               px.cfg.vm_listen);
    event_base_dispatch(px.base);
    evconnlistener_free(px.vm_listener);
    if (px.tls_listener)
        evconnlistener_free(px.tls_listener);
    evconnlistener_free(px.op_listener);
    if (px.op_tls_listener)
        evconnlistener_free(px.op_tls_listener);
    lg_free_all(&px);
    if (px.agent_listener)
        evconnlistener_free(px.agent_listener);
    if (px.drain_close_ev)
        event_free(px.drain_close_ev);
    edge_fini(&px);
    event_free(px.sig_term);
    event_free(px.sig_int);
    event_free(px.sig_hup);
    proxy_fini(&px);
    tls_ctx_free(&px.tls);
    tls_ctx_free(&px.op_tls);
    cfg_free(&px.cfg);
    log_info("stopped");
    return 0;
}
