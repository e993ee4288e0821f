/*
 * pump.c: vspc-bench-pump, the producer, consumer and plain TCP relay of
 * the throughput benchmarks (bench/README.md). Not part of the product.
 *
 *   vspc-bench-pump relay LISTEN_PORT TARGET_PORT
 *       A plain TCP relay on 127.0.0.1: every accepted connection is paired
 *       with a new connection to TARGET_PORT and bytes are copied both ways
 *       with read(2)/write(2), 64 KiB at a time, one thread, epoll, level
 *       triggered. A direction whose peer cannot take more stops being read
 *       (what the proxy does toward the VM). This is the baseline the proxy
 *       is compared with: the least a userspace forwarder can do per byte.
 *       Runs until SIGTERM.
 *
 *   vspc-bench-pump src PORT BYTES SHM [UUID]
 *       The VM side: connects to 127.0.0.1:PORT; with UUID, first sends the
 *       handshake a simulated ESXi host sends (captured from vspc-hvsim:
 *       WILL/DO BINARY, SGA, WILL 232, KNOWN-SUBOPTIONS-1, DO-PROXY vSPC.py,
 *       VC-UUID, VM-NAME) without waiting for answers, which it reads and
 *       drops. Then waits until the sink says it is ready (SHM) and writes
 *       BYTES of the pattern flat out, 64 KiB blocking writes, with no cap
 *       of its own: the middle box paces it (the relay by not reading a
 *       direction whose peer is full, the proxy by not reading a console's
 *       VM while a live reader's queue is full), as hardware flow control
 *       paces a guest on a physical serial line. Prints "src bytes=N
 *       seconds=S MBps=M max_gap_ms=G gap_at=OFF": G is the longest time
 *       between two writes completing (how long the VM was held), OFF the
 *       stream offset where it happened.
 *
 *   vspc-bench-pump sink PORT BYTES SHM [CONSOLE_ID]
 *       The operator side: with CONSOLE_ID, connects to the proxy's operator
 *       port 127.0.0.1:PORT and sends "attach CONSOLE_ID rw raw"; without,
 *       listens on PORT and accepts one connection (the relay's target).
 *       Reads until BYTES arrived, checks every byte against the pattern,
 *       and prints "sink bytes=N seconds=S MBps=M max_gap_ms=G
 *       streaming_MBps=R" (time from the first byte to the last; G is the
 *       longest time between two reads, R the rate with that one gap left
 *       out).
 *
 *   vspc-bench-pump stall PORT BYTES SHM CONSOLE_ID
 *       A stalled reader: connects to the operator port, sends "attach
 *       CONSOLE_ID ro", reads up to its "ok attached" line, prints "stall
 *       attached", and then never reads its socket until the sink has
 *       received BYTES (SHM; at most 600 s). Then it reads what the proxy
 *       sends it until 300 ms pass with nothing, and prints "stall
 *       bytes=N gap_notice_at=OFF skipped=K": where the first "[vspc M: K
 *       bytes of output skipped" notice starts in what it read after the
 *       attach line (-1 if none in the first 16 MiB).
 *
 * SHM is a file both map: the sink publishes "ready" and its byte count.
 *
 * The pattern never contains 0xFF, so the telnet stream the producer writes
 * is byte for byte the stream the consumer reads, through the proxy (which
 * removes the IAC escaping) and through the relay (which copies) alike:
 * both runs move exactly the same bytes between exactly the same two
 * programs, and only the middle box differs.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#define CHUNK (64 * 1024)
#define PERIOD 65521u /* prime: chunks do not realign with the period */

struct shm {
    volatile uint64_t ready;
    volatile uint64_t received;
};

static uint8_t pattern[PERIOD + CHUNK];

static void
die(const char *what)
{
    fprintf(stderr, "vspc-bench-pump: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void
pattern_init(void)
{
    uint64_t x = 0x9E3779B97F4A7C15ull;

    for (size_t i = 0; i < sizeof(pattern); i++) {
        if (i < PERIOD) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            pattern[i] = (uint8_t)(x % 255); /* 0x00..0xFE: never IAC */
        } else {
            pattern[i] = pattern[i - PERIOD];
        }
    }
}

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct shm *
shm_map(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT, 0600);
    void *p;

    if (fd < 0 || ftruncate(fd, sizeof(struct shm)) != 0)
        die(path);
    p = mmap(NULL, sizeof(struct shm), PROT_READ | PROT_WRITE, MAP_SHARED, fd,
             0);
    if (p == MAP_FAILED)
        die("mmap");
    close(fd);
    return p;
}

static struct sockaddr_in
loopback(int port)
{
    struct sockaddr_in sa;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sa;
}

/* A connection to 127.0.0.1:port, or -1. */
static int
dial_try(int port)
{
    struct sockaddr_in sa = loopback(port);
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static int
dial(int port)
{
    int fd = dial_try(port);

    if (fd < 0)
        die("connect");
    return fd;
}

static int
listen_on(int port)
{
    struct sockaddr_in sa = loopback(port);
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    if (fd < 0)
        die("socket");
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(fd, 4096) != 0)
        die("listen");
    return fd;
}

static void
write_all(int fd, const void *buf, size_t n)
{
    const uint8_t *p = buf;

    while (n > 0) {
        ssize_t w = write(fd, p, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            die("write");
        p += w;
        n -= (size_t)w;
    }
}

/* ---- src ---------------------------------------------------------------- */

static size_t
handshake(uint8_t *out, const char *uuid)
{
    static const uint8_t head[] = {
        255, 251, 37,  255, 253, 0,   255, 251, 0,   255, 253, 3,  255,
        251, 3,   255, 251, 232, 255, 250, 232, 0,   0,   1,   2,  3,
        40,  41,  43,  44,  45,  46,  48,  70,  71,  73,  80,  81, 84,
        85,  86,  87,  82,  83,  255, 240, 255, 250, 232, 70,  'S'};
    char ustr[64];
    size_t n = 0;

    /* VC-UUID in the form ESXi sends: "00 11 ... 77-88 ... ff". */
    if (strlen(uuid) != 32) {
        fprintf(stderr, "vspc-bench-pump: UUID: 32 hex digits\n");
        exit(2);
    }
    for (int i = 0, o = 0; i < 16; i++) {
        ustr[o++] = uuid[2 * i];
        ustr[o++] = uuid[2 * i + 1];
        ustr[o++] = i == 15 ? '\0' : (i == 7 ? '-' : ' ');
    }
    memcpy(out, head, sizeof(head));
    n = sizeof(head);
    n += (size_t)sprintf((char *)out + n, "vSPC.py");
    out[n++] = 255, out[n++] = 240;
    out[n++] = 255, out[n++] = 250, out[n++] = 232, out[n++] = 80;
    n += (size_t)sprintf((char *)out + n, "%s", ustr);
    out[n++] = 255, out[n++] = 240;
    out[n++] = 255, out[n++] = 250, out[n++] = 232, out[n++] = 82;
    n += (size_t)sprintf((char *)out + n, "bench-vm");
    out[n++] = 255, out[n++] = 240;
    return n;
}

static int
cmd_src(int port, uint64_t bytes, struct shm *shm, const char *uuid)
{
    int fd = -1;
    uint8_t hs[256], junk[4096];
    uint64_t sent = 0, gap_at = 0;
    double t0, t1, last, gap = 0;
    struct pollfd pfd = {-1, POLLIN, 0};

    if (uuid) { /* the console must exist before the sink can attach */
        pfd.fd = fd = dial(port);
        write_all(fd, hs, handshake(hs, uuid));
    }
    while (!shm->ready) { /* drop the proxy's answers meanwhile */
        if (poll(&pfd, 1, 1) > 0 && read(fd, junk, sizeof(junk)) <= 0)
            die("src: connection closed before the sink was ready");
    }
    if (fd < 0) /* relay: the sink listens now */
        fd = dial(port);
    t0 = last = now_s();
    while (sent < bytes) {
        size_t off = (size_t)(sent % PERIOD), n = CHUNK;
        ssize_t w;
        double t;

        if (n > bytes - sent)
            n = (size_t)(bytes - sent);
        if ((w = write(fd, pattern + off, n)) < 0) {
            if (errno == EINTR)
                continue;
            die("src: write");
        }
        t = now_s();
        if (t - last > gap)
            gap = t - last, gap_at = sent;
        last = t;
        sent += (uint64_t)w;
        if (uuid && poll(&pfd, 1, 0) > 0 && read(fd, junk, sizeof(junk)) <= 0)
            die("src: connection closed");
    }
    t1 = now_s();
    /* Stay connected until the sink has everything: a VM that goes away
     * is not what is measured. */
    while (shm->received < bytes) {
        struct timespec ts = {0, 1000000};

        nanosleep(&ts, NULL);
    }
    close(fd);
    printf("src bytes=%" PRIu64 " seconds=%.3f MBps=%.1f max_gap_ms=%.1f "
           "gap_at=%" PRIu64 "\n",
           sent, t1 - t0, (double)sent / 1e6 / (t1 - t0), gap * 1e3, gap_at);
    return 0;
}

/* ---- sink and stalled reader -------------------------------------------- */

/* Attach to a console on the operator port (a connection on fd) with
 * MODE; consumes everything up to the end of the "ok attached" line. */
static int
attach(int fd, const char *console, const char *mode)
{
    char line[512];
    size_t n = 0;

    snprintf(line, sizeof(line), "attach %s %s\r\n", console, mode);
    write_all(fd, line, strlen(line));
    /* Everything up to "ok attached ...\r\n" is the command mode. */
    for (;;) {
        ssize_t r = read(fd, line + n, 1);

        if (r <= 0)
            die("operator port closed during attach");
        n++;
        line[n] = '\0';
        if (n >= 2 && line[n - 1] == '\n') {
            if (strstr(line, "ok attached"))
                return 0;
            if (strstr(line, "error") || strstr(line, "no such")) {
                fprintf(stderr, "vspc-bench-pump: attach: %s", line);
                return -1;
            }
            n = 0;
        }
        if (n >= sizeof(line) - 2)
            n = 0;
    }
}

static int
cmd_sink(int port, uint64_t bytes, struct shm *shm, const char *console)
{
    static uint8_t buf[CHUNK];
    uint64_t got = 0;
    double t0 = 0, t1, last = 0, gap = 0;
    int fd;

    if (console) {
        fd = dial(port);
        if (attach(fd, console, "rw raw") != 0)
            return 1;
    } else {
        int lfd = listen_on(port);

        shm->ready = 1; /* listening: the relay may connect */
        if ((fd = accept(lfd, NULL, NULL)) < 0)
            die("sink: accept");
        close(lfd);
    }
    shm->ready = 1;
    while (got < bytes) {
        ssize_t r = read(fd, buf, sizeof(buf));
        double t;

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            fprintf(stderr,
                    "vspc-bench-pump: sink: closed at %" PRIu64 " of %" PRIu64
                    " bytes\n",
                    got, bytes);
            return 1;
        }
        t = now_s();
        if (got == 0)
            t0 = last = t;
        if (t - last > gap)
            gap = t - last;
        last = t;
        if (memcmp(buf, pattern + got % PERIOD, (size_t)r) != 0) {
            char seen[61];
            size_t i = 0, k = 0;

            while (buf[i] == pattern[(got + i) % PERIOD])
                i++;
            for (size_t j = i; j < (size_t)r && k < sizeof(seen) - 1; j++)
                seen[k++] =
                    buf[j] >= 0x20 && buf[j] < 0x7f ? (char)buf[j] : '.';
            seen[k] = '\0';
            fprintf(stderr,
                    "vspc-bench-pump: sink: pattern mismatch at offset "
                    "%" PRIu64 " (read \"%s\")\n",
                    got + i, seen);
            return 1;
        }
        got += (uint64_t)r;
        shm->received = got;
    }
    t1 = now_s();
    printf("sink bytes=%" PRIu64 " seconds=%.3f MBps=%.1f max_gap_ms=%.1f "
           "streaming_MBps=%.1f\n",
           got, t1 - t0, (double)got / 1e6 / (t1 - t0), gap * 1e3,
           (double)got / 1e6 / (t1 - t0 - gap));
    close(fd);
    return 0;
}

static int
cmd_stall(int port, uint64_t bytes, struct shm *shm, const char *console)
{
    static uint8_t buf[16 << 20];
    static const char mark[] = "[vspc "; /* then the session's marker, ": " */
    size_t got = 0, kept;
    long notice = -1;
    unsigned long long skipped = 0;
    int fd = dial(port);

    if (attach(fd, console, "ro") != 0)
        return 1;
    printf("stall attached\n");
    fflush(stdout);
    for (int i = 0; i < 600000 && shm->received < bytes; i++) {
        struct timespec ts = {0, 1000000};

        nanosleep(&ts, NULL);
    }
    /* Read again, keeping the first 16 MiB (the notice comes after what
     * the socket buffers and the reader queue held). */
    for (;;) {
        struct pollfd pfd = {fd, POLLIN, 0};
        uint8_t tmp[CHUNK];
        ssize_t r;

        if (poll(&pfd, 1, 300) <= 0)
            break;
        if ((r = read(fd, tmp, sizeof(tmp))) <= 0)
            break;
        if (got < sizeof(buf))
            memcpy(buf + got, tmp,
                   (size_t)r < sizeof(buf) - got ? (size_t)r
                                                 : sizeof(buf) - got);
        got += (size_t)r;
    }
    /* The first gap notice: "[vspc MARK: N bytes of output skipped ...". */
    kept = got < sizeof(buf) ? got : sizeof(buf) - 1;
    buf[kept] = '\0';
    for (uint8_t *p = buf; (p = memmem(p, kept - (size_t)(p - buf), mark,
                                       sizeof(mark) - 1)) != NULL;
         p++) {
        int end = 0;
        size_t left = kept - (size_t)(p - buf) - (sizeof(mark) - 1);
        const char *colon =
            memchr(p + sizeof(mark) - 1, ':', left < 16 ? left : 16);

        if (colon && colon[1] == ' ' &&
            sscanf(colon + 2, "%llu bytes of output skipped%n", &skipped,
                   &end) == 1 &&
            end > 0) {
            notice = (long)(p - buf);
            break;
        }
        skipped = 0;
    }
    printf("stall bytes=%zu gap_notice_at=%ld skipped=%llu\n", got, notice,
           skipped);
    close(fd);
    return 0;
}

/* ---- relay -------------------------------------------------------------- */

struct side {
    int fd;
    struct side *peer;
    uint8_t *pend; /* bytes read from fd, not yet written to peer */
    size_t poff, plen;
    int eof, shut; /* fd read EOF; peer's write side shut down */
    int closed;
};

static int ep;
static volatile sig_atomic_t stop;

static void
on_term(int sig)
{
    (void)sig;
    stop = 1;
}

static void
side_mod(struct side *s)
{
    struct epoll_event ev = {0};

    ev.data.ptr = s;
    if (!s->eof && s->plen == 0)
        ev.events |= EPOLLIN;
    if (s->peer->plen > 0)
        ev.events |= EPOLLOUT;
    epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &ev);
}

static void
pair_close(struct side *a)
{
    struct side *b = a->peer;

    close(a->fd);
    close(b->fd);
    free(a->pend);
    free(b->pend);
    a->closed = b->closed = 1;
    /* Freed after this round of events (see relay loop). */
}

/* Write what s holds to its peer; returns -1 on error. */
static int
side_flush(struct side *s)
{
    while (s->plen > 0) {
        ssize_t w = write(s->peer->fd, s->pend + s->poff, s->plen);

        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return 0;
            return -1;
        }
        s->poff += (size_t)w;
        s->plen -= (size_t)w;
    }
    s->poff = 0;
    if (s->eof && !s->shut) {
        shutdown(s->peer->fd, SHUT_WR);
        s->shut = 1;
    }
    return 0;
}

static int
side_read(struct side *s)
{
    static uint8_t buf[CHUNK];
    ssize_t r = read(s->fd, buf, sizeof(buf)), w = 0;

    if (r < 0)
        return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
    if (r == 0) {
        s->eof = 1;
        return side_flush(s);
    }
    w = write(s->peer->fd, buf, (size_t)r);
    if (w < 0) {
        if (errno != EAGAIN && errno != EINTR)
            return -1;
        w = 0;
    }
    if (w < r) {
        if (!s->pend && !(s->pend = malloc(CHUNK)))
            return -1;
        memcpy(s->pend, buf + w, (size_t)(r - w));
        s->poff = 0;
        s->plen = (size_t)(r - w);
    }
    return 0;
}

static int
cmd_relay(int lport, int tport)
{
    int lfd = listen_on(lport);
    struct epoll_event ev = {0}, evs[256];
    struct side **dead = NULL;
    size_t ndead = 0, capdead = 0;

    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    signal(SIGPIPE, SIG_IGN);
    if ((ep = epoll_create1(0)) < 0)
        die("epoll");
    ev.events = EPOLLIN;
    ev.data.ptr = NULL;
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    while (!stop) {
        int n = epoll_wait(ep, evs, 256, 200);

        for (int i = 0; i < n; i++) {
            struct side *s = evs[i].data.ptr, *a, *b;

            if (s == NULL) {
                int cfd = accept(lfd, NULL, NULL), tfd, one = 1;

                if (cfd < 0)
                    continue;
                if ((tfd = dial_try(tport)) < 0) { /* no target: refuse */
                    close(cfd);
                    continue;
                }
                fcntl(cfd, F_SETFL, O_NONBLOCK);
                fcntl(tfd, F_SETFL, O_NONBLOCK);
                setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                a = calloc(2, sizeof(*a));
                if (!a)
                    die("calloc");
                b = a + 1;
                a->fd = cfd, b->fd = tfd;
                a->peer = b, b->peer = a;
                ev.events = EPOLLIN;
                ev.data.ptr = a;
                epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &ev);
                ev.data.ptr = b;
                epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);
                continue;
            }
            if (s->closed)
                continue;
            if ((evs[i].events & EPOLLOUT) && side_flush(s->peer) != 0)
                goto bad;
            if ((evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !s->eof &&
                s->plen == 0 && side_read(s) != 0)
                goto bad;
            if (s->eof && s->plen == 0 && s->peer->eof && s->peer->plen == 0)
                goto bad; /* both directions done */
            side_mod(s);
            side_mod(s->peer);
            continue;
        bad:
            pair_close(s);
            if (ndead == capdead) {
                capdead = capdead ? 2 * capdead : 64;
                dead = realloc(dead, capdead * sizeof(*dead));
                if (!dead)
                    die("realloc");
            }
            dead[ndead++] = s < s->peer ? s : s->peer;
        }
        for (size_t i = 0; i < ndead; i++)
            free(dead[i]);
        ndead = 0;
    }
    free(dead);
    return 0;
}

/* A byte count with an optional k/M/G (binary) suffix. */
static uint64_t
parse_bytes(const char *s)
{
    char *end;
    uint64_t v = strtoull(s, &end, 10);

    switch (*end) {
    case 'k':
    case 'K':
        v <<= 10;
        end++;
        break;
    case 'm':
    case 'M':
        v <<= 20;
        end++;
        break;
    case 'g':
    case 'G':
        v <<= 30;
        end++;
        break;
    default:
        break;
    }
    if (*end != '\0' || v == 0) {
        fprintf(stderr, "vspc-bench-pump: bad byte count \"%s\"\n", s);
        exit(2);
    }
    return v;
}

int
main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    pattern_init();
    if (argc == 4 && strcmp(argv[1], "relay") == 0)
        return cmd_relay(atoi(argv[2]), atoi(argv[3]));
    if ((argc == 5 || argc == 6) && strcmp(argv[1], "src") == 0)
        return cmd_src(atoi(argv[2]), parse_bytes(argv[3]), shm_map(argv[4]),
                       argc == 6 ? argv[5] : NULL);
    if ((argc == 5 || argc == 6) && strcmp(argv[1], "sink") == 0)
        return cmd_sink(atoi(argv[2]), parse_bytes(argv[3]), shm_map(argv[4]),
                        argc == 6 ? argv[5] : NULL);
    if (argc == 6 && strcmp(argv[1], "stall") == 0)
        return cmd_stall(atoi(argv[2]), parse_bytes(argv[3]), shm_map(argv[4]),
                         argv[5]);
    fprintf(stderr, "usage: vspc-bench-pump relay LISTEN_PORT TARGET_PORT\n"
                    "       vspc-bench-pump src PORT BYTES SHM [UUID]\n"
                    "       vspc-bench-pump sink PORT BYTES SHM [CONSOLE_ID]\n"
                    "       vspc-bench-pump stall PORT BYTES SHM CONSOLE_ID\n");
    return 2;
}
