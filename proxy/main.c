/*
 * main.c: vspc-proxy's command line, listeners, signals and event loop.
 */
#include "vspc/compat.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <systemd/sd-daemon.h>

#include "vspc/log.h"
#include "console.h"
#include "edge.h"
#include "operator.h"
#include "proxy.h"
#include "session.h"
#include "http.h"
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
            "  --slow-reader catchup|disconnect\n"
            "                               a reader past its queue: caught "
            "up from the\n"
            "                               scrollback with a gap notice "
            "(default), or dropped\n"
            "  --operator-queue BYTES       per-reader queue (default "
            "262144)\n"
            "  --http-listen ADDR:PORT|none metrics and API (default "
            "127.0.0.1:13372)\n"
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
            "  --help, --version\n");
}

static int
parse_secs(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);

    if (*end != '\0' || end == s || v <= 0 || v > 1e7)
        return -1;
    *out = v;
    return 0;
}

static int
parse_size(const char *s, size_t *out, size_t max)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);

    if (*end != '\0' || end == s || v > max)
        return -1;
    *out = (size_t)v;
    return 0;
}

static void
parse_args(int argc, char **argv, struct proxy_cfg *cfg)
{
    enum {
        O_VM = 1000,
        O_OP,
        O_URI,
        O_NODE,
        O_NODE_INDEX,
        O_VMO_TIMEOUT,
        O_REFUSE,
        O_IDLE,
        O_EXPIRE,
        O_SCROLL,
        O_LOGLEVEL,
        O_ESCAPE,
        O_SLOW,
        O_OPQ,
        O_HTTP,
        O_LOGDIR,
        O_LOGTS,
        O_LOGROT,
        O_LOGKEEP,
        O_AUDIT,
        O_TLS_LISTEN,
        O_TLS_CERT,
        O_TLS_KEY,
        O_PPROXY,
        O_ALLOW,
        O_HELP,
        O_VERSION,
    };
    static const struct option opts[] = {
        {"vm-listen", required_argument, NULL, O_VM},
        {"operator-listen", required_argument, NULL, O_OP},
        {"service-uri", required_argument, NULL, O_URI},
        {"node-id", required_argument, NULL, O_NODE},
        {"node-index", required_argument, NULL, O_NODE_INDEX},
        {"vmotion-timeout", required_argument, NULL, O_VMO_TIMEOUT},
        {"refuse-vmotion", no_argument, NULL, O_REFUSE},
        {"idle-timeout", required_argument, NULL, O_IDLE},
        {"console-expire", required_argument, NULL, O_EXPIRE},
        {"scrollback", required_argument, NULL, O_SCROLL},
        {"escape-char", required_argument, NULL, O_ESCAPE},
        {"slow-reader", required_argument, NULL, O_SLOW},
        {"operator-queue", required_argument, NULL, O_OPQ},
        {"http-listen", required_argument, NULL, O_HTTP},
        {"log-dir", required_argument, NULL, O_LOGDIR},
        {"log-timestamps", no_argument, NULL, O_LOGTS},
        {"log-rotate-bytes", required_argument, NULL, O_LOGROT},
        {"log-keep", required_argument, NULL, O_LOGKEEP},
        {"audit-records", required_argument, NULL, O_AUDIT},
        {"log-level", required_argument, NULL, O_LOGLEVEL},
        {"tls-listen", required_argument, NULL, O_TLS_LISTEN},
        {"tls-cert", required_argument, NULL, O_TLS_CERT},
        {"tls-key", required_argument, NULL, O_TLS_KEY},
        {"proxy-protocol", no_argument, NULL, O_PPROXY},
        {"allow", required_argument, NULL, O_ALLOW},
        {"help", no_argument, NULL, O_HELP},
        {"version", no_argument, NULL, O_VERSION},
        {NULL, 0, NULL, 0},
    };
    int ch, lvl;
    size_t v;
    bool tls_listen_set = false;

    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case O_VM:
            snprintf(cfg->vm_listen, sizeof(cfg->vm_listen), "%s", optarg);
            break;
        case O_OP:
            snprintf(cfg->operator_listen, sizeof(cfg->operator_listen), "%s",
                     optarg);
            break;
        case O_URI:
            if (cfg->n_service_uris == PROXY_MAX_SERVICE_URIS)
                fatalx("at most %d --service-uri", PROXY_MAX_SERVICE_URIS);
            if (optarg[0] == '\0' || strchr(optarg, '?'))
                fatalx("--service-uri: give the URI without a query");
            cfg->service_uris[cfg->n_service_uris++] = optarg;
            break;
        case O_NODE:
            if (optarg[0] == '\0' || strlen(optarg) >= sizeof(cfg->node_id))
                fatalx("--node-id: 1 to %zu characters",
                       sizeof(cfg->node_id) - 1);
            snprintf(cfg->node_id, sizeof(cfg->node_id), "%s", optarg);
            break;
        case O_NODE_INDEX:
            if (parse_size(optarg, &v, 255) != 0)
                fatalx("--node-index: 0 to 255");
            cfg->node_index = (uint8_t)v;
            break;
        case O_VMO_TIMEOUT:
            if (parse_secs(optarg, &cfg->vmotion_timeout) != 0)
                fatalx("--vmotion-timeout: a positive number of seconds");
            break;
        case O_REFUSE:
            cfg->refuse_vmotion = true;
            break;
        case O_IDLE:
            if (parse_secs(optarg, &cfg->idle_timeout) != 0)
                fatalx("--idle-timeout: a positive number of seconds");
            break;
        case O_EXPIRE:
            if (parse_secs(optarg, &cfg->console_expire) != 0)
                fatalx("--console-expire: a positive number of seconds");
            break;
        case O_SCROLL:
            if (parse_size(optarg, &cfg->scrollback, 1u << 30) != 0)
                fatalx("--scrollback: 0 to 1 GiB");
            break;
        case O_ESCAPE:
            /* "^E", "none", or one control character. */
            if (strcmp(optarg, "none") == 0)
                cfg->escape_char = 0;
            else if (optarg[0] == '^' && optarg[1] >= '@' && optarg[1] <= '_' &&
                     optarg[2] == '\0')
                cfg->escape_char = (uint8_t)(optarg[1] - '@');
            else if (optarg[0] == '^' && optarg[1] >= 'a' && optarg[1] <= 'z' &&
                     optarg[2] == '\0')
                cfg->escape_char = (uint8_t)(optarg[1] - 'a' + 1);
            else
                fatalx("--escape-char: ^X (a control character) or none");
            break;
        case O_SLOW:
            if (strcmp(optarg, "catchup") == 0)
                cfg->slow_disconnect = false;
            else if (strcmp(optarg, "disconnect") == 0)
                cfg->slow_disconnect = true;
            else
                fatalx("--slow-reader: catchup or disconnect");
            break;
        case O_OPQ:
            if (parse_size(optarg, &cfg->op_queue_max, 1u << 30) != 0 ||
                cfg->op_queue_max < 4096)
                fatalx("--operator-queue: 4096 bytes to 1 GiB");
            break;
        case O_HTTP:
            snprintf(cfg->http_listen, sizeof(cfg->http_listen), "%s",
                     strcmp(optarg, "none") == 0 ? "" : optarg);
            break;
        case O_LOGDIR:
            cfg->log_dir = optarg;
            break;
        case O_LOGTS:
            cfg->log_timestamps = true;
            break;
        case O_LOGROT:
            if (parse_size(optarg, &cfg->log_rotate_bytes, (size_t)1 << 40) !=
                0)
                fatalx("--log-rotate-bytes: a size in bytes (0 = never)");
            break;
        case O_AUDIT:
            if (parse_size(optarg, &cfg->audit_max, 1000000) != 0)
                fatalx("--audit-records: 0 to 1000000");
            break;
        case O_LOGKEEP:
            if (parse_size(optarg, &v, 1000) != 0 || v < 1)
                fatalx("--log-keep: 1 to 1000");
            cfg->log_keep = (unsigned)v;
            break;
        case O_LOGLEVEL:
            if ((lvl = log_level_parse(optarg)) < 0)
                fatalx("--log-level: error, warn, info or debug");
            log_verbosity = lvl;
            break;
        case O_TLS_LISTEN:
            tls_listen_set = true;
            snprintf(cfg->tls_listen, sizeof(cfg->tls_listen), "%s",
                     strcmp(optarg, "none") == 0 ? "" : optarg);
            break;
        case O_TLS_CERT:
            cfg->tls_cert = optarg;
            break;
        case O_TLS_KEY:
            cfg->tls_key = optarg;
            break;
        case O_PPROXY:
            cfg->proxy_protocol = true;
            break;
        case O_ALLOW:
            if (cfg->n_allow == PROXY_MAX_ALLOW)
                fatalx("at most %d --allow", PROXY_MAX_ALLOW);
            if (edge_cidr_parse(optarg, &cfg->allow[cfg->n_allow]) != 0)
                fatalx("--allow %s: want an IPv4 or IPv6 address or "
                       "prefix (192.0.2.0/24, 2001:db8::/32)",
                       optarg);
            cfg->n_allow++;
            break;
        case O_HELP:
            usage(stdout);
            exit(0);
        case O_VERSION:
            printf("vspc-proxy %s\n", VSPC_VERSION);
            exit(0);
        default:
            usage(stderr);
            exit(2);
        }
    }
    if (optind < argc) {
        usage(stderr);
        exit(2);
    }
    if (cfg->tls_key && !cfg->tls_cert)
        fatalx("--tls-key needs --tls-cert");
    if (cfg->tls_cert && !cfg->tls_key)
        cfg->tls_key = cfg->tls_cert; /* one PEM file with both */
    if (cfg->tls_listen[0] && !cfg->tls_cert)
        fatalx("--tls-listen needs --tls-cert (and --tls-key)");
    if (cfg->tls_cert && !tls_listen_set)
        snprintf(cfg->tls_listen, sizeof(cfg->tls_listen), "0.0.0.0:13369");
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

static void
accept_error_cb(struct evconnlistener *l, void *arg)
{
    int err = EVUTIL_SOCKET_ERROR();

    /* EMFILE and friends: keep running, the listener retries. */
    log_warnx("accept failed: %s", evutil_socket_error_to_string(err));
}

static struct evconnlistener *
listen_on(struct proxy *px, const char *addr, evconnlistener_cb cb,
          const char *what)
{
    struct sockaddr_storage ss;
    socklen_t len;
    struct evconnlistener *l;

    if (proxy_parse_addr(addr, &ss, &len) != 0)
        fatalx("%s: bad address \"%s\" (want ADDR:PORT)", what, addr);
    l = evconnlistener_new_bind(px->base, cb, px,
                                LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
                                    LEV_OPT_CLOSE_ON_EXEC,
                                1024, (struct sockaddr *)&ss, (int)len);
    if (l == NULL)
        fatal("%s: cannot listen on %s", what, addr);
    evconnlistener_set_error_cb(l, accept_error_cb);
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
    log_info("SIGHUP: reopening console logs");
    if (px->vmlog)
        vmlog_reopen(px->vmlog);
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
    if (px.cfg.proxy_protocol || px.cfg.n_allow)
        log_info("hypervisor side: PROXY protocol %s, %zu --allow "
                 "prefix%s%s",
                 px.cfg.proxy_protocol ? "required" : "off", px.cfg.n_allow,
                 px.cfg.n_allow == 1 ? "" : "es",
                 px.cfg.n_allow ? "" : " (any source)");
    px.op_listener = listen_on(&px, px.cfg.operator_listen, op_accept_cb,
                               "--operator-listen");
    log_info("node %s listening: hypervisors on %s, operators on %s, "
             "HTTP on %s, service URIs: %s%s, console logs: %s",
             px.cfg.node_id, px.cfg.vm_listen, px.cfg.operator_listen,
             px.cfg.http_listen[0] ? px.cfg.http_listen : "(off)",
             px.cfg.n_service_uris ? px.cfg.service_uris[0] : "(any)",
             px.cfg.n_service_uris > 1 ? ", ..." : "",
             px.cfg.log_dir ? px.cfg.log_dir : "(off)");
    /* systemd (Type=notify): the ports are open. No-op elsewhere. */
    sd_notifyf(0, "READY=1\nSTATUS=node %s: hypervisors on %s", px.cfg.node_id,
               px.cfg.vm_listen);
    event_base_dispatch(px.base);
    evconnlistener_free(px.vm_listener);
    if (px.tls_listener)
        evconnlistener_free(px.tls_listener);
    evconnlistener_free(px.op_listener);
    edge_fini();
    event_free(px.sig_term);
    event_free(px.sig_int);
    event_free(px.sig_hup);
    proxy_fini(&px);
    tls_ctx_free(&px.tls);
    log_info("stopped");
    return 0;
}
