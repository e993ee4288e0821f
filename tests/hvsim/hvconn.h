/*
 * hvconn.h: hvc_*, one simulated ESXi host connection to the proxy's
 * hypervisor port.
 *
 * It does what VMware's capture shows a host doing (PROTOCOL.md 4.1 for a
 * source connection, 4.2 for a vMotion destination): WILL AUTHENTICATION
 * first; BINARY and SGA accepted both ways and the proxy's WILL ECHO
 * accepted (DO ECHO), everything else refused, all through the RFC 1143
 * codec (tn_*); WILL 232 held back until the proxy answers the AUTH offer;
 * once 232 is agreed, KNOWN-SUBOPTIONS-1 (after the proxy's
 * KNOWN-SUBOPTIONS-2, or before it with early_known1) followed by
 * DO-PROXY 'S' <uri> (source) or VMOTION-PEER seq||secret plus
 * WILL COM-PORT-OPTION (destination); GET-VM-* answered whenever asked.
 * A source is identified when WILL-PROXY arrives (then it sends
 * WILL COM-PORT-OPTION); WONT-PROXY ends it with an error.
 *
 * What the owner (sim.c) decides is left to it: serial data, the vMotion
 * replies (GOAHEAD, NOTNOW, PEER-OK) and when to stop.
 *
 * Ownership and lifetime: hvc_new() returns a connection the module owns
 * until it ends. It ends in one of three ways: hvc_close() by the owner
 * (no callback; the pointer is invalid on return), the closed() callback
 * (the module frees the connection right after the callback returns), or
 * hvc_close_all() at shutdown (no callbacks). It is safe to call hvc_close()
 * from inside any callback of the same connection: the free is deferred
 * until the codec returns. struct hvc_ident and the handlers are borrowed
 * and must outlive the connection.
 */
#ifndef VSPC_HVSIM_HVCONN_H
#define VSPC_HVSIM_HVCONN_H

#include "vspc/compat.h"

#include <netinet/in.h>

struct event_base;
struct hvc;

enum hvc_role {
    HVC_SOURCE = 0, /* DO-PROXY 'S' <uri>; identified by WILL-PROXY */
    HVC_DEST,       /* VMOTION-PEER seq||secret; no DO-PROXY */
};

struct hvc_ident {
    const char *uuid_text;     /* VM-VC-UUID payload ("01 23 ... 00") */
    const char *bios_text;     /* VM-BIOS-UUID payload */
    const char *location_text; /* VM-LOCATION-UUID payload */
    const char *name;          /* VM-NAME payload */
    const char *service_uri;   /* DO-PROXY payload after the 'S' */
    bool early_known1; /* KNOWN-SUBOPTIONS-1 before KNOWN-SUBOPTIONS-2 */
};

struct hvc_handlers {
    /* Source: WILL-PROXY arrived. Never called for a destination. */
    void (*ready)(void *arg, struct hvc *c);
    /* Serial data from the proxy, unescaped. */
    void (*data)(void *arg, struct hvc *c, const uint8_t *p, size_t n);
    /* GOAHEAD, NOTNOW, PEER-OK, or UNKNOWN-SUBOPTION-RCVD-2 about PEER
     * (44) on a destination: sub code and unescaped payload. */
    void (*vmotion)(void *arg, struct hvc *c, uint8_t sub, const uint8_t *p,
                    size_t n);
    /* The output buffer drained to the low mark (HVC_LOWAT). Optional. */
    void (*writable)(void *arg, struct hvc *c);
    /* A non-fatal protocol problem (counted as an error by the owner). */
    void (*problem)(void *arg, struct hvc *c, const char *msg);
    /* The connection ended: error false after hvc_finish() saw the proxy's
     * EOF (or the linger timer), true otherwise (why says what). c is freed
     * when the callback returns. */
    void (*closed)(void *arg, struct hvc *c, bool error, const char *why);
};

/* Output buffer marks for writers that go flat out. */
#define HVC_HIWAT (64 * 1024)
#define HVC_LOWAT (16 * 1024)

/*
 * Connect to addr and run the handshake for role. For HVC_DEST, peer
 * (peer_len bytes, at most 255 + 255) is the VMOTION-PEER payload, copied.
 * handshake_ms bounds the time until WILL-PROXY (source) or until
 * VMOTION-PEER is sent (destination): on expiry closed(error) is called.
 * Returns NULL (and logs) if the connection cannot even be started.
 */
struct hvc *hvc_new(struct event_base *base, const struct sockaddr_in *addr,
                    enum hvc_role role, const struct hvc_ident *id,
                    const uint8_t *peer, size_t peer_len, unsigned handshake_ms,
                    const struct hvc_handlers *h, void *arg);

/* Serial data toward the proxy (0xFF doubled by the codec). */
void hvc_send_data(struct hvc *c, const uint8_t *p, size_t n);
/* An option-232 suboption: sub then payload (framed and escaped). */
void hvc_send_vmext(struct hvc *c, uint8_t sub, const uint8_t *p, size_t n);
/* Bytes queued toward the proxy and not yet written to the socket. */
size_t hvc_outbuf(const struct hvc *c);
enum hvc_role hvc_role(const struct hvc *c);
/* true once the handshake finished (source: WILL-PROXY received). */
bool hvc_identified(const struct hvc *c);
/* true after hvc_finish(). */
bool hvc_finishing(const struct hvc *c);

/*
 * The host closes its side, as a source does at the end of a vMotion:
 * FIN once the output buffer is empty (shutdown SHUT_WR), then keep
 * reading (data still goes to the data handler) until the proxy's EOF or
 * linger_ms; then closed(error=false) and free.
 */
void hvc_finish(struct hvc *c, unsigned linger_ms);

/* Close at once, no callback. c is invalid on return. */
void hvc_close(struct hvc *c);
/* Close every connection still open, no callbacks (end of run). */
void hvc_close_all(void);
/* Connections currently allocated. */
size_t hvc_count(void);

#endif /* VSPC_HVSIM_HVCONN_H */
