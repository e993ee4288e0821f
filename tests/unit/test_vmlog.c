/*
 * test_vmlog.c: Check suite for the console log writer (proxy/vmlog.c,
 * proxy/vmlog_writer.c), and its runner. The "rotation" cases are in
 * vmlog_cases_rotate.c (compiled into this runner); the helpers they share
 * with this file are declared in vmlog_cases.h.
 *
 * Every test works in a fresh mkdtemp directory under /tmp (removed at the
 * end) with its own event base. Files are compared byte for byte; times
 * inside stamps and markers are checked for their format, then the
 * expected text takes them over (struct tb below). Waiting for the writer
 * uses vmlog_read as a barrier: its callback runs after every record
 * queued before it was written.
 */
#include "vspc/compat.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <event2/event.h>
#include <event2/thread.h>

#include "vmlog.h"
#include "vmlog_cases.h"

/* ---- environment ------------------------------------------------------ */

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
}

static void
env_base(struct env *e)
{
    struct timeval tv = {0, 5000};

    e->base = event_base_new();
    ck_assert_ptr_nonnull(e->base);
    e->tick = event_new(e->base, -1, EV_PERSIST, tick_cb, NULL);
    ck_assert_ptr_nonnull(e->tick);
    event_add(e->tick, &tv);
}

struct vmlog *
env_log(struct env *e, bool stamps, size_t rotate, unsigned keep, size_t qmax)
{
    struct vmlog_cfg cfg = {
        .dir = e->dir,
        .timestamps = stamps,
        .rotate_bytes = rotate,
        .keep = keep,
        .queue_max = qmax,
    };

    e->log = vmlog_new(&cfg, e->base);
    ck_assert_ptr_nonnull(e->log);
    return e->log;
}

void
env_init(struct env *e)
{
    memset(e, 0, sizeof(*e));
    snprintf(e->dir, sizeof(e->dir), "/tmp/test_vmlog.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(e->dir));
    env_base(e);
}

static int
rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

void
env_fini(struct env *e)
{
    vmlog_free(&e->log);
    ck_assert_ptr_null(e->log);
    event_free(e->tick);
    event_base_free(e->base);
    chmod(e->dir, 0700);
    nftw(e->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Run the loop until *flag is set, at most 20 s. */
static void
run_until(struct env *e, const int *flag)
{
    double end = now_s() + 20;

    while (!*flag && now_s() < end)
        event_base_loop(e->base, EVLOOP_ONCE);
    ck_assert_msg(*flag, "timed out waiting for the writer");
}

struct rd {
    int calls;
    int err;
    uint64_t size;
    size_t n;
    uint8_t *data;
};

static void
rd_cb(void *arg, const uint8_t *p, size_t n, uint64_t file_size, int err)
{
    struct rd *r = arg;

    r->calls++;
    r->err = err;
    r->size = file_size;
    r->n = n;
    free(r->data);
    r->data = malloc(n + 1);
    if (n > 0)
        memcpy(r->data, p, n);
}

/* Barrier: every record queued so far is written (and counted). */
void
env_sync(struct env *e)
{
    struct rd r = {0};
    double end = now_s() + 20;

    /* The queue may be full: retry until the request fits. */
    while (vmlog_read(e->log, "sync-probe", 0, 0, rd_cb, &r) != 0) {
        ck_assert_int_eq(errno, ENOBUFS);
        ck_assert(now_s() < end);
        event_base_loop(e->base, EVLOOP_NONBLOCK);
        usleep(1000);
    }
    run_until(e, &r.calls);
    ck_assert_int_eq(r.calls, 1);
    ck_assert_int_eq(r.err, ENOENT);
    free(r.data);
}

/* Whole file, NUL-terminated; NULL if missing. */
uint8_t *
slurp(const char *dir, const char *name, size_t *len)
{
    char path[512];
    FILE *fp;
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0, k;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if ((fp = fopen(path, "rb")) == NULL)
        return NULL;
    do {
        if (cap - n < 65536) {
            cap = cap * 2 + 65536;
            buf = realloc(buf, cap + 1);
            ck_assert_ptr_nonnull(buf);
        }
        k = fread(buf + n, 1, cap - n, fp);
        n += k;
    } while (k > 0);
    fclose(fp);
    buf[n] = 0;
    *len = n;
    return buf;
}

bool
file_exists(const char *dir, const char *name)
{
    char path[512];
    struct stat sb;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return stat(path, &sb) == 0;
}

bool
is_time(const uint8_t *p)
{
    static const char pat[] = "dddd-dd-ddTdd:dd:dd.dddZ";

    for (int i = 0; i < TLEN; i++) {
        if (pat[i] == 'd' ? (p[i] < '0' || p[i] > '9') : p[i] != pat[i])
            return false;
    }
    return true;
}

/* ---- expected text with times in it ----------------------------------- */

struct tb {
    uint8_t buf[1 << 16];
    size_t n;
    size_t times[64];
    size_t ntimes;
};

static void
tb_add(struct tb *t, const void *p, size_t n)
{
    ck_assert(t->n + n <= sizeof(t->buf));
    memcpy(t->buf + t->n, p, n);
    t->n += n;
}

static void
tb_str(struct tb *t, const char *s)
{
    tb_add(t, s, strlen(s));
}

static void
tb_time(struct tb *t)
{
    ck_assert(t->ntimes < VSPC_ARRAY_LEN(t->times));
    t->times[t->ntimes++] = t->n;
    tb_add(t, "????????????????????????", TLEN);
}

/* "\r\n[vspc <time> text]\r\n" */
static void
tb_marker(struct tb *t, const char *text)
{
    tb_str(t, "\r\n[vspc ");
    tb_time(t);
    tb_str(t, " ");
    tb_str(t, text);
    tb_str(t, "]\r\n");
}

static void
tb_check(struct tb *t, const char *dir, const char *name)
{
    size_t n;
    uint8_t *got = slurp(dir, name, &n);

    ck_assert_msg(got != NULL, "%s missing", name);
    ck_assert_msg(n == t->n, "%s: %zu bytes, expected %zu: [%.300s]", name, n,
                  t->n, (char *)got);
    for (size_t i = 0; i < t->ntimes; i++) {
        ck_assert_msg(is_time(got + t->times[i]), "bad time at %zu",
                      t->times[i]);
        memcpy(t->buf + t->times[i], got + t->times[i], TLEN);
    }
    ck_assert_msg(memcmp(got, t->buf, n) == 0, "%s differs: [%.300s]", name,
                  (char *)got);
    free(got);
}

/* ---- tests -------------------------------------------------------------- */

START_TEST(test_data_and_markers_exact)
{
    struct env e;
    struct tb *t = calloc(1, sizeof(*t));
    uint8_t all[256];
    struct vmlog_stats st;

    env_init(&e);
    env_log(&e, false, 0, 1, 1 << 20);
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    ck_assert_int_eq(vmlog_data(e.log, ID, (const uint8_t *)"hello\r\n", 7), 0);
    ck_assert_int_eq(vmlog_event(e.log, ID, "hypervisor %s connected", "h1"),
                     0);
    ck_assert_int_eq(vmlog_data(e.log, ID, all, sizeof(all)), 0);
    ck_assert_int_eq(vmlog_data(e.log, ID, all, 0), 0);
    /* Control characters in a marker become '?'. */
    ck_assert_int_eq(vmlog_event(e.log, ID, "a\tb\x1b[31m%s\x7f", "x\r\ny"), 0);
    ck_assert_int_eq(vmlog_data(e.log, ID, (const uint8_t *)"tail", 4), 0);
    env_sync(&e);
    vmlog_get_stats(e.log, &st);
    ck_assert_uint_eq(st.bytes_queued, 7 + 256 + 4);
    ck_assert_uint_eq(st.bytes_written, 7 + 256 + 4);
    ck_assert_uint_eq(st.bytes_dropped, 0);
    ck_assert_uint_eq(st.write_errors, 0);
    ck_assert_uint_eq(st.queue_bytes, 0);
    vmlog_free(&e.log);

    tb_str(t, "hello\r\n");
    tb_marker(t, "hypervisor h1 connected");
    tb_add(t, all, sizeof(all));
    tb_marker(t, "a?b?[31mx??y?");
    tb_str(t, "tail");
    tb_check(t, e.dir, ID ".log");
    free(t);
    env_fini(&e);
}
END_TEST

START_TEST(test_file_mode_and_long_event)
{
    struct env e;
    char path[512], big[600];
    struct stat sb;
    size_t n;
    uint8_t *got;

    umask(022);
    env_init(&e);
    env_log(&e, false, 0, 1, 1 << 20);
    memset(big, 'e', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    ck_assert_int_eq(vmlog_event(e.log, ID, "%s", big), 0);
    vmlog_free(&e.log);
    snprintf(path, sizeof(path), "%s/%s.log", e.dir, ID);
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0640);
    got = slurp(e.dir, ID ".log", &n);
    /* The text is cut at VMLOG_EVENT_MAX bytes. */
    ck_assert_uint_eq(n, 2 + 6 + TLEN + 1 + VMLOG_EVENT_MAX + 3);
    free(got);
    env_fini(&e);
}
END_TEST

START_TEST(test_timestamps_line_starts)
{
    struct env e;
    struct tb *t = calloc(1, sizeof(*t));
    static const char *const recs[] = {"line1\nli", "ne2\r\n", "\n", "x"};

    env_init(&e);
    env_log(&e, true, 0, 1, 1 << 20);
    for (size_t i = 0; i < VSPC_ARRAY_LEN(recs); i++)
        ck_assert_int_eq(
            vmlog_data(e.log, ID, (const uint8_t *)recs[i], strlen(recs[i])),
            0);
    ck_assert_int_eq(vmlog_event(e.log, ID, "E"), 0);
    ck_assert_int_eq(vmlog_data(e.log, ID, (const uint8_t *)"y\n\nz", 4), 0);
    vmlog_free(&e.log);

    tb_str(t, "[");
    tb_time(t);
    tb_str(t, "] line1\n[");
    tb_time(t);
    tb_str(t, "] line2\r\n[");
    tb_time(t);
    tb_str(t, "] \n[");
    tb_time(t);
    tb_str(t, "] x");
    tb_marker(t, "E");
    tb_str(t, "[");
    tb_time(t);
    tb_str(t, "] y\n[");
    tb_time(t);
    tb_str(t, "] \n[");
    tb_time(t);
    tb_str(t, "] z");
    tb_check(t, e.dir, ID ".log");
    free(t);
    env_fini(&e);
}
END_TEST

/* ---- pseudo-random numbers (xorshift32) --------------------------- */

uint32_t
xs32(uint32_t *s)
{
    uint32_t x = *s;

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

/* ---- queue full ------------------------------------------------------- */

START_TEST(test_queue_full_marker)
{
    struct env e;
    struct tb *t = calloc(1, sizeof(*t));
    uint8_t rec[1000];
    int accepted = 0, small = 0;
    uint64_t dropped = 0;
    char text[128];
    struct vmlog_stats st;

    env_init(&e);
    env_log(&e, false, 0, 1, 8192);
    vmlog_hold(e.log, true);
    for (int i = 0; i < 50; i++) {
        memset(rec, 'A' + i % 26, sizeof(rec));
        if (vmlog_data(e.log, ID, rec, sizeof(rec)) == 0) {
            ck_assert_int_eq(i, accepted); /* no hole before the first drop */
            accepted++;
            tb_add(t, rec, sizeof(rec));
        } else {
            ck_assert_int_eq(errno, ENOBUFS);
            dropped += sizeof(rec);
        }
    }
    ck_assert_int_gt(accepted, 0);
    ck_assert_int_lt(accepted, 9);
    /* Fill what is left with 1-byte records (the first carries the
     * losses so far): then not even a marker fits. */
    for (int i = 0; i < 100; i++) {
        if (vmlog_data(e.log, ID, (const uint8_t *)"z", 1) != 0)
            break;
        if (small++ == 0) {
            snprintf(text, sizeof(text), "%llu bytes not logged (queue full)",
                     (unsigned long long)dropped);
            tb_marker(t, text);
        }
        tb_str(t, "z");
    }
    ck_assert_int_gt(small, 0);
    ck_assert_int_eq(vmlog_event(e.log, ID, "lost"), -1);
    /* Another console's loss is announced in its own file only. */
    ck_assert_int_eq(vmlog_data(e.log, "other", rec, sizeof(rec)), -1);
    vmlog_get_stats(e.log, &st);
    ck_assert_uint_eq(st.bytes_dropped, dropped + 1 + sizeof(rec));
    ck_assert_uint_eq(st.events_dropped, 1);
    ck_assert_uint_gt(st.queue_bytes, 0);
    ck_assert_uint_le(st.queue_bytes, 8192);
    vmlog_hold(e.log, false);
    env_sync(&e);
    ck_assert_int_eq(vmlog_data(e.log, ID, (const uint8_t *)"END\n", 4), 0);
    env_sync(&e);
    vmlog_get_stats(e.log, &st);
    ck_assert_uint_eq(st.bytes_queued, accepted * sizeof(rec) + small + 4);
    ck_assert_uint_eq(st.bytes_written, st.bytes_queued);
    ck_assert_uint_eq(st.bytes_written + st.bytes_dropped,
                      51 * sizeof(rec) + small + 1 + 4);
    ck_assert_uint_eq(st.queue_bytes, 0);
    vmlog_free(&e.log);

    tb_marker(t, "1 byte and 1 event marker not logged (queue full)");
    tb_str(t, "END\n");
    tb_check(t, e.dir, ID ".log");
    /* "other" had nothing accepted: vmlog_free wrote its marker. */
    memset(t, 0, sizeof(*t));
    tb_marker(t, "1000 bytes not logged (queue full)");
    tb_check(t, e.dir, "other.log");
    free(t);
    env_fini(&e);
}
END_TEST

#define NCON 4

/* A burst against a tiny queue without holding the writer: whatever is
 * dropped, each file is the accepted bytes in order with markers whose
 * counts add up to the refused bytes. */
START_TEST(test_queue_full_burst)
{
    struct env e;
    static const char *const ids[NCON] = {"c0", "c1", "c2", "c3"};
    uint8_t *acc[NCON];
    size_t nacc[NCON] = {0};
    uint64_t offered = 0, refused[NCON] = {0}, refused_all = 0;
    uint8_t rec[200];
    uint32_t s = 4242;
    struct vmlog_stats st;

    env_init(&e);
    env_log(&e, false, 0, 1, 16384);
    for (int c = 0; c < NCON; c++)
        acc[c] = malloc(20000 * sizeof(rec));
    for (int i = 0; i < 20000; i++) {
        int c = (int)(xs32(&s) % NCON);
        size_t k = 1 + xs32(&s) % sizeof(rec);

        for (size_t j = 0; j < k; j++)
            rec[j] = (uint8_t)('a' + xs32(&s) % 26);
        offered += k;
        if (vmlog_data(e.log, ids[c], rec, k) == 0) {
            memcpy(acc[c] + nacc[c], rec, k);
            nacc[c] += k;
        } else {
            refused[c] += k;
            refused_all += k;
        }
    }
    env_sync(&e);
    vmlog_get_stats(e.log, &st);
    ck_assert_uint_eq(st.bytes_written + st.bytes_dropped, offered);
    ck_assert_uint_eq(st.bytes_dropped, refused_all);
    ck_assert_uint_eq(st.bytes_queued, offered - refused_all);
    vmlog_free(&e.log);
    for (int c = 0; c < NCON; c++) {
        char name[32];
        size_t n, o = 0, i = 0;
        uint64_t sum = 0;
        uint8_t *got, *data = malloc(nacc[c] + 1);

        snprintf(name, sizeof(name), "%s.log", ids[c]);
        got = slurp(e.dir, name, &n);
        ck_assert_ptr_nonnull(got);
        while (i < n) {
            if (got[i] == '\r') {
                static const char tail[] = " not logged (queue full)]\r\n";
                unsigned long long v;
                int used = 0;

                ck_assert(i + 8 + TLEN < n);
                ck_assert(memcmp(got + i, "\r\n[vspc ", 8) == 0);
                ck_assert(is_time(got + i + 8));
                i += 8 + TLEN;
                ck_assert(sscanf((char *)got + i, " %llu byte%n", &v, &used) ==
                              1 &&
                          used > 0);
                i += (size_t)used + (v == 1 ? 0 : 1); /* plural 's' */
                ck_assert(i + sizeof(tail) - 1 <= n);
                ck_assert(memcmp(got + i, tail, sizeof(tail) - 1) == 0);
                i += sizeof(tail) - 1;
                sum += v;
                continue;
            }
            ck_assert(o < nacc[c]);
            data[o++] = got[i++];
        }
        ck_assert_uint_eq(o, nacc[c]);
        ck_assert(memcmp(data, acc[c], o) == 0);
        ck_assert_uint_eq(sum, refused[c]);
        free(got);
        free(data);
        free(acc[c]);
    }
    env_fini(&e);
}
END_TEST

/* ---- errors -------------------------------------------------------------- */

START_TEST(test_bad_dir)
{
    struct env e;
    struct vmlog_cfg cfg = {.dir = "/nonexistent/vspc-logs",
                            .rotate_bytes = 1024,
                            .keep = 1,
                            .queue_max = 1 << 20};
    char file[512];
    int fd;

    env_init(&e);
    ck_assert_ptr_null(vmlog_new(&cfg, e.base));
    snprintf(file, sizeof(file), "%s/plain", e.dir);
    fd = open(file, O_CREAT | O_WRONLY, 0600);
    ck_assert_int_ge(fd, 0);
    close(fd);
    cfg.dir = file;
    ck_assert_ptr_null(vmlog_new(&cfg, e.base));
    cfg.dir = e.dir;
    cfg.keep = 0;
    ck_assert_ptr_null(vmlog_new(&cfg, e.base));
    cfg.keep = 1;
    cfg.queue_max = 0;
    ck_assert_ptr_null(vmlog_new(&cfg, e.base));
    cfg.queue_max = 1 << 20;
    if (geteuid() != 0) { /* root writes anyway */
        ck_assert_int_eq(chmod(e.dir, 0500), 0);
        ck_assert_ptr_null(vmlog_new(&cfg, e.base));
        ck_assert_int_eq(chmod(e.dir, 0700), 0);
    }
    e.log = vmlog_new(&cfg, e.base);
    ck_assert_ptr_nonnull(e.log);
    env_fini(&e);
}
END_TEST

START_TEST(test_dir_removed)
{
    struct env e;
    struct vmlog_stats st;
    struct rd r = {0};

    env_init(&e);
    env_log(&e, true, 1024, 2, 1 << 20);
    ck_assert_int_eq(rmdir(e.dir), 0);
    for (int i = 0; i < 100; i++) {
        ck_assert_int_eq(vmlog_data(e.log, ID, (const uint8_t *)"x\n", 2), 0);
        ck_assert_int_eq(vmlog_event(e.log, ID, "ev"), 0);
    }
    ck_assert_int_eq(vmlog_read(e.log, ID, 0, 100, rd_cb, &r), 0);
    run_until(&e, &r.calls);
    ck_assert_int_eq(r.err, ENOENT);
    ck_assert_uint_eq(r.n, 0);
    vmlog_get_stats(e.log, &st);
    ck_assert_uint_ge(st.write_errors, 1);
    ck_assert_uint_eq(st.bytes_written, 0);
    ck_assert_uint_eq(st.bytes_dropped, 200);
    free(r.data);
    env_fini(&e);
}
END_TEST

/* A file size limit makes write(2) fail with EFBIG, as a full disk does
 * with ENOSPC: the loss is counted and announced once writes work again. */
START_TEST(test_write_error_marker)
{
    struct env e;
    struct rlimit rl;
    struct vmlog_stats st;
    struct tb *t = calloc(1, sizeof(*t));
    uint8_t rec[1000], *got;
    size_t n;

    signal(SIGXFSZ, SIG_IGN);
    env_init(&e);
    env_log(&e, false, 0, 1, 1 << 20);
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &rl), 0);
    rl.rlim_cur = 4096;
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
    vmlog_hold(e.log, true); /* one batch, one failing write */
    for (int i = 0; i < 10; i++) {
        memset(rec, '0' + i, sizeof(rec));
        ck_assert_int_eq(vmlog_data(e.log, ID, rec, sizeof(rec)), 0);
    }
    vmlog_hold(e.log, false);
    env_sync(&e);
    vmlog_get_stats(e.log, &st);
    ck_assert_uint_ge(st.write_errors, 1);
    ck_assert_uint_eq(st.bytes_written, 0);
    ck_assert_uint_eq(st.bytes_dropped, 10000);
    rl.rlim_cur = rl.rlim_max;
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
    ck_assert_int_eq(vmlog_data(e.log, ID, (const uint8_t *)"END\n", 4), 0);
    env_sync(&e);
    vmlog_get_stats(e.log, &st);
    ck_assert_uint_eq(st.bytes_written, 4);
    ck_assert_uint_eq(st.bytes_written + st.bytes_dropped, 10004);
    vmlog_free(&e.log);
    /* What got through before the error stays (counted as dropped). */
    got = slurp(e.dir, ID ".log", &n);
    ck_assert_ptr_nonnull(got);
    ck_assert_uint_ge(n, 4096);
    tb_add(t, got, 4096);
    tb_marker(t, "10000 bytes not logged (write error)");
    tb_str(t, "END\n");
    tb_check(t, e.dir, ID ".log");
    free(got);
    free(t);
    env_fini(&e);
}
END_TEST

START_TEST(test_bad_ids)
{
    struct env e;
    static const char *const bad[] = {
        "a/b", "..", "../x", ".hidden", "", "a b", "x\n", "a\\b", "é",
    };
    char longid[VMLOG_ID_MAX + 2];
    struct vmlog_stats st;
    struct rd r = {0};
    DIR *d;
    struct dirent *de;
    int entries = 0;

    env_init(&e);
    env_log(&e, false, 0, 1, 1 << 20);
    memset(longid, 'a', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = 0;
    for (size_t i = 0; i <= VSPC_ARRAY_LEN(bad); i++) {
        const char *id = i < VSPC_ARRAY_LEN(bad) ? bad[i] : longid;

        ck_assert_int_eq(vmlog_data(e.log, id, (const uint8_t *)"x", 1), -1);
        ck_assert_int_eq(errno, EINVAL);
        ck_assert_int_eq(vmlog_event(e.log, id, "ev"), -1);
        ck_assert_int_eq(vmlog_read(e.log, id, 0, 10, rd_cb, &r), -1);
        ck_assert_int_eq(errno, EINVAL);
    }
    ck_assert_int_eq(vmlog_data(e.log, NULL, (const uint8_t *)"x", 1), -1);
    /* The longest valid id and all the allowed characters work. */
    longid[VMLOG_ID_MAX] = 0;
    ck_assert_int_eq(vmlog_data(e.log, longid, (const uint8_t *)"x", 1), 0);
    ck_assert_int_eq(vmlog_data(e.log, "AZaz09._-", (const uint8_t *)"y", 1),
                     0);
    env_sync(&e);
    vmlog_get_stats(e.log, &st);
    ck_assert_uint_eq(st.bytes_dropped, VSPC_ARRAY_LEN(bad) + 2);
    ck_assert_uint_eq(st.events_dropped, VSPC_ARRAY_LEN(bad) + 1);
    ck_assert_uint_eq(st.bytes_written, 2);
    ck_assert_int_eq(r.calls, 0);
    vmlog_free(&e.log);
    d = opendir(e.dir);
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            entries++;
    closedir(d);
    ck_assert_int_eq(entries, 2); /* <longid>.log, AZaz09._-.log */
    ck_assert(file_exists(e.dir, "AZaz09._-.log"));
    env_fini(&e);
}
END_TEST

/* ---- reads -------------------------------------------------------------- */

START_TEST(test_read)
{
    struct env e;
    struct rd a = {0}, b = {0}, c = {0}, d = {0}, f = {0};
    uint8_t *big = malloc(100000);

    env_init(&e);
    env_log(&e, false, 0, 1, 1 << 20);
    /* Held: the read must still see the bytes queued before it. */
    vmlog_hold(e.log, true);
    ck_assert_int_eq(vmlog_data(e.log, ID, (const uint8_t *)"0123456789", 10),
                     0);
    ck_assert_int_eq(vmlog_read(e.log, ID, 2, 5, rd_cb, &a), 0);
    ck_assert_int_eq(vmlog_read(e.log, "missing", 0, 5, rd_cb, &b), 0);
    ck_assert_int_eq(vmlog_read(e.log, ID, 100, 5, rd_cb, &c), 0);
    ck_assert_int_eq(vmlog_read(e.log, ID, 0, 0, rd_cb, &d), 0);
    vmlog_hold(e.log, false);
    run_until(&e, &d.calls);
    ck_assert_int_eq(a.calls, 1);
    ck_assert_int_eq(a.err, 0);
    ck_assert_uint_eq(a.size, 10);
    ck_assert_uint_eq(a.n, 5);
    ck_assert(memcmp(a.data, "23456", 5) == 0);
    ck_assert_int_eq(b.calls, 1);
    ck_assert_int_eq(b.err, ENOENT);
    ck_assert_uint_eq(b.n, 0);
    ck_assert_int_eq(c.calls, 1);
    ck_assert_int_eq(c.err, 0);
    ck_assert_uint_eq(c.size, 10);
    ck_assert_uint_eq(c.n, 0);
    ck_assert_int_eq(d.err, 0);
    ck_assert_uint_eq(d.n, 0);
    /* Long reads are capped at VMLOG_READ_MAX. */
    memset(big, 'q', 100000);
    ck_assert_int_eq(vmlog_data(e.log, ID, big, 100000), 0);
    ck_assert_int_eq(vmlog_read(e.log, ID, 10, 1 << 20, rd_cb, &f), 0);
    run_until(&e, &f.calls);
    ck_assert_int_eq(f.err, 0);
    ck_assert_uint_eq(f.size, 100010);
    ck_assert_uint_eq(f.n, VMLOG_READ_MAX);
    ck_assert(f.data[0] == 'q' && f.data[VMLOG_READ_MAX - 1] == 'q');
    /* Exactly once. */
    event_base_loop(e.base, EVLOOP_NONBLOCK);
    ck_assert_int_eq(a.calls + b.calls + c.calls + d.calls + f.calls, 5);
    free(a.data);
    free(b.data);
    free(c.data);
    free(d.data);
    free(f.data);
    free(big);
    env_fini(&e);
}
END_TEST

START_TEST(test_free_cancels_reads)
{
    struct env e;
    struct rd r[3] = {{0}};
    size_t n;
    uint8_t *got;

    env_init(&e);
    env_log(&e, false, 0, 1, 1 << 20);
    vmlog_hold(e.log, true);
    ck_assert_int_eq(vmlog_data(e.log, ID, (const uint8_t *)"abc", 3), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(vmlog_read(e.log, ID, 0, 10, rd_cb, &r[i]), 0);
    vmlog_free(&e.log); /* drains the data, cancels the reads */
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(r[i].calls, 1);
        ck_assert_int_eq(r[i].err, ECANCELED);
        ck_assert_uint_eq(r[i].n, 0);
        free(r[i].data);
    }
    got = slurp(e.dir, ID ".log", &n);
    ck_assert_ptr_nonnull(got);
    ck_assert_str_eq((char *)got, "abc");
    free(got);
    env_fini(&e);
}
END_TEST

/* A read finished by the writer but not yet delivered (the loop did not
 * run) is cancelled by vmlog_free too: once, never twice. */
START_TEST(test_free_cancels_done_read)
{
    struct env e;
    struct rd r = {0};
    struct vmlog_stats st;
    double end;

    env_init(&e);
    env_log(&e, false, 0, 1, 1 << 20);
    ck_assert_int_eq(vmlog_data(e.log, ID, (const uint8_t *)"abc", 3), 0);
    ck_assert_int_eq(vmlog_read(e.log, ID, 0, 10, rd_cb, &r), 0);
    end = now_s() + 10;
    do { /* queue_bytes is 0 once the read was reported */
        usleep(1000);
        vmlog_get_stats(e.log, &st);
    } while (st.queue_bytes > 0 && now_s() < end);
    ck_assert_uint_eq(st.queue_bytes, 0);
    ck_assert_int_eq(r.calls, 0);
    vmlog_free(&e.log);
    ck_assert_int_eq(r.calls, 1);
    ck_assert_int_eq(r.err, ECANCELED);
    free(r.data);
    env_fini(&e);
}
END_TEST

/* ---- many consoles ----------------------------------------------------- */

START_TEST(test_many_consoles_fd_limit)
{
    struct env e;
    struct rlimit rl;
    struct vmlog_stats st;
    char id[32], line[64];
    int nfd = 0;
    DIR *d;

    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    rl.rlim_cur = 64; /* at most 32 log files open */
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    env_init(&e);
    env_log(&e, false, 0, 1, 4u << 20);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 100; i++) {
            snprintf(id, sizeof(id), "con%03d", i);
            snprintf(line, sizeof(line), "%s round %d\n", id, round);
            ck_assert_int_eq(
                vmlog_data(e.log, id, (uint8_t *)line, strlen(line)), 0);
        }
    }
    env_sync(&e);
    d = opendir("/proc/self/fd");
    while (readdir(d) != NULL)
        nfd++;
    closedir(d);
    ck_assert_int_lt(nfd, 64);
    vmlog_get_stats(e.log, &st);
    ck_assert_uint_eq(st.write_errors, 0);
    ck_assert_uint_eq(st.bytes_dropped, 0);
    vmlog_free(&e.log);
    for (int i = 0; i < 100; i++) {
        char name[64], want[256];
        size_t n;
        uint8_t *got;

        snprintf(id, sizeof(id), "con%03d", i);
        snprintf(name, sizeof(name), "%s.log", id);
        snprintf(want, sizeof(want), "%s round 0\n%s round 1\n%s round 2\n", id,
                 id, id);
        got = slurp(e.dir, name, &n);
        ck_assert_ptr_nonnull(got);
        ck_assert_str_eq((char *)got, want);
        free(got);
    }
    env_fini(&e);
}
END_TEST

static Suite *
vmlog_suite(void)
{
    Suite *s = suite_create("vmlog");
    TCase *tc;

    tc = tcase_create("content");
    tcase_add_test(tc, test_data_and_markers_exact);
    tcase_add_test(tc, test_file_mode_and_long_event);
    tcase_add_test(tc, test_timestamps_line_starts);
    suite_add_tcase(s, tc);

    vmlog_cases_rotate(s); /* "rotation", vmlog_cases_rotate.c */

    tc = tcase_create("queue");
    tcase_add_test(tc, test_queue_full_marker);
    tcase_add_test(tc, test_queue_full_burst);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_test(tc, test_bad_dir);
    tcase_add_test(tc, test_dir_removed);
    tcase_add_test(tc, test_write_error_marker);
    tcase_add_test(tc, test_bad_ids);
    suite_add_tcase(s, tc);

    tc = tcase_create("read");
    tcase_add_test(tc, test_read);
    tcase_add_test(tc, test_free_cancels_reads);
    tcase_add_test(tc, test_free_cancels_done_read);
    suite_add_tcase(s, tc);

    tc = tcase_create("files");
    tcase_add_test(tc, test_many_consoles_fd_limit);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr;
    int failed;

    /* The writer hands read results to the loop through the base. */
    if (evthread_use_pthreads() != 0)
        return EXIT_FAILURE;
    sr = srunner_create(vmlog_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
