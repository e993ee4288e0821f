/*
 * opclient.h: opc_*, one operator on the proxy's operator port
 * (OPERATOR-PORT.md), attached to one console in raw read-write mode.
 *
 * The whole connection runs through a telnet codec (BINARY, SGA accepted
 * both ways, the server's ECHO accepted). It sends
 * "attach <console-id> rw raw", retries every 100 ms while the proxy
 * answers "error ..." (the console may not be known yet; bounded), and
 * after "ok attached <id> <mode> offset=<N>" checks every byte it receives
 * against pat_byte(vm_seed, N + i). What it types (opc_type) is the
 * operator stream pat_tagged(op_seed, tag_bits, tag, j), j = 0, 1, ...
 * (pattern.h; with tag_bits 0 simply pat_byte(op_seed, j)).
 *
 * Ownership and lifetime: as for hvc (hvconn.h). opc_new() returns an
 * object the module owns until opc_close() (no callback), the closed()
 * callback (freed right after it returns) or opc_close_all(). Handlers
 * and the console id are copied or borrowed as noted.
 */
#ifndef VSPC_HVSIM_OPCLIENT_H
#define VSPC_HVSIM_OPCLIENT_H

#include "vspc/compat.h"

#include <netinet/in.h>

struct event_base;
struct opc;

struct opc_handlers {
    /* "ok attached": offset is the stream offset of the first byte. */
    void (*attached)(void *arg, struct opc *o, uint64_t offset);
    /* A problem counted as an error: off is the VM stream offset it is
     * about (or UINT64_MAX if none). */
    void (*problem)(void *arg, struct opc *o, uint64_t off, const char *msg);
    /* VM output checked: the stream offset just past it (may be NULL). */
    void (*data)(void *arg, struct opc *o, uint64_t end);
    /* The connection ended or attaching gave up; o is freed on return. */
    void (*closed)(void *arg, struct opc *o, const char *why);
};

/* Read-only view of the counters. */
struct opc_stats {
    bool attached;
    bool mismatch;         /* a received byte did not match */
    unsigned attach_tries; /* attach commands sent */
    uint64_t offset;       /* stream offset from "ok attached" */
    uint64_t rx;           /* VM bytes received since attached */
    uint64_t verified;     /* of those, matching before the first mismatch */
    uint64_t typed;        /* operator bytes sent */
    uint64_t attach_us;    /* connect -> attached, microseconds */
};

/* Attempts before giving up (every OPC_RETRY_MS while "error ..."). */
#define OPC_ATTACH_TRIES 300
#define OPC_RETRY_MS 100
#define OPC_HIWAT (64 * 1024)

/*
 * Connect to addr and attach to console_id (copied; at most 127 bytes).
 * It types the stream of op_seed tagged with tag in tag_bits low bits (0:
 * untagged). handlers are borrowed. Returns NULL if the connection cannot
 * be started.
 */
struct opc *opc_new(struct event_base *base, const struct sockaddr_in *addr,
                    const char *console_id, uint64_t vm_seed, uint64_t op_seed,
                    unsigned tag_bits, unsigned tag,
                    const struct opc_handlers *h, void *arg);

/*
 * Type up to max bytes of the operator stream now, fewer if the output
 * buffer is above OPC_HIWAT or not attached. Returns the number typed.
 */
size_t opc_type(struct opc *o, size_t max);
/* Bytes queued toward the proxy. */
size_t opc_outbuf(const struct opc *o);
const struct opc_stats *opc_stats(const struct opc *o);

void opc_close(struct opc *o);
void opc_close_all(void);

#endif /* VSPC_HVSIM_OPCLIENT_H */
