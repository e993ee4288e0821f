/*
 * scen_ops.h: the operator end-to-end scenarios (`vspc-hvsim scenario
 * 101..109`, ctest ops_*): scen_ops.c (two writers, spectators, locks and
 * escapes, replay, slow readers) and scen_ops2.c (console logs, SIGHUP,
 * VMware's option 233). Helpers shared by the two files.
 */
#ifndef VSPC_HVSIM_SCEN_OPS_H
#define VSPC_HVSIM_SCEN_OPS_H

#include "vspc/compat.h"

#include "scenario.h"

#define OPS_FIRST 101
#define OPS_LAST 109

/* Name of ops scenario n (OPS_FIRST..OPS_LAST), NULL if none. */
const char *ops_name(int n);
/* Runs ops scenario s->n. */
int scen_ops(struct scen *s);
int scen_ops2(struct scen *s);

/* "127.0.0.1:port": the local address of c, as the proxy names it. */
void ops_addr(const struct scr_conn *c, char *out, size_t cap);
/* Sends a command line; the first reply line (no prompt, no CR LF) goes
 * to line. op->rd then points after that line. */
bool ops_reply(struct scr_conn *op, const char *cmd, char *line, size_t cap);
/* "attach <id> <opts>" must answer exactly "ok attached <id> <mode>
 * offset=N"; *off gets N. */
bool ops_attach(struct scr_conn *op, const char *id, const char *opts,
                const char *mode, uint64_t *off);
/* The next data bytes are exactly "\r\n[vspc: <text>]\r\n". */
bool ops_notice(struct scr_conn *op, const char *text);
/* The next data bytes are "\r\n[vspc: <prefix>...]\r\n" (one line). */
bool ops_notice_prefix(struct scr_conn *op, const char *prefix);
/* Sends pattern bytes [off, off + n) of seed as telnet data. */
bool ops_send_pat(struct scr_conn *c, uint64_t seed, uint64_t off, size_t n);
/* Polls the console's `list` line until bytes_in reaches in (bounded). */
bool ops_wait_in(struct scen *s, const char *id, uint64_t in, int timeout_ms);
/* GET path from VSPC_HTTP_ADDR: *status and the body (NUL-terminated,
 * malloc'd), or NULL (printed). */
char *ops_http_req(const char *path, int *status);
/* The same, but only a 200 answer; its body or NULL (printed). */
char *ops_http_get(const char *path);
/* Value of a Prometheus sample "name value" in text; -1 if absent. */
long long ops_metric(const char *text, const char *name);

/* VMware's admin client (telnet option 233, vmware/vspc vspc/client.py),
 * in scen_ops2.c. */
enum {
    ADM_OPT = 233,
    ADM_GET_LIST = 0x10,
    ADM_LIST = 0x11,
    ADM_SET = 0x20,
    ADM_CONNECTED = 0x21,
    ADM_DISCONNECTED = 0x22,
};
/* Connects to the operator port and negotiates option 233 as the
 * client's RFC 1143 codec does. NULL on failure (printed). */
struct scr_conn *adm_connect(struct scen *s, const char *name);
/* IAC SB 233 <sub> <payload, IAC doubled> IAC SE */
bool adm_send(struct scr_conn *c, uint8_t sub, const void *p, size_t n);
/* The next unconsumed SB 233; NULL (printed) if none in time. */
const struct scr_ev *adm_wait(struct scr_conn *c, int timeout_ms);
/* SET_CONNECTION lock+port (port NULL: empty); the answer must be want. */
bool adm_set(struct scr_conn *c, int lock, const char *port, uint8_t want);

#endif
