/*
 * vmext.c: vmx_*, the VMware telnet extension payloads (see vmext.h and
 * PROTOCOL.md section 3). Pure functions over byte ranges plus two send
 * helpers that hand the framing to tn_send_sbv().
 */
#include "vspc/compat.h"

#include <string.h>

#include "vmext.h"

/*
 * KNOWN-SUBOPTIONS-2. This is exactly the list VMware's capture shows the
 * vSPC sending (PROTOCOL.md 4.1, vSPC.py's EXT_SUPPORTED), a list that ESXi
 * is known to accept for vMotion. VM-BIOS-UUID / VM-LOCATION-UUID (84-87)
 * are deliberately left out: we never send GET-VM-BIOS-UUID or
 * GET-VM-LOCATION-UUID, their directions are only inferred, and which part
 * of the handshake ESXi checks before allowing vMotion is undocumented
 * (PROTOCOL.md 3.2, issue #31), so deviating from a proven byte string buys
 * nothing and risks something. vmx_is_known() still accepts 84-87 so an
 * unsolicited VM-BIOS-UUID is tolerated rather than answered with
 * UNKNOWN-SUBOPTION-RCVD-2.
 */
const uint8_t vmx_known_suboptions_2[] = {
    VMX_KNOWN_SUBOPTIONS_1,
    VMX_KNOWN_SUBOPTIONS_2,
    VMX_UNKNOWN_SUBOPTION_RCVD_1,
    VMX_UNKNOWN_SUBOPTION_RCVD_2,
    VMX_VMOTION_BEGIN,
    VMX_VMOTION_GOAHEAD,
    VMX_VMOTION_NOTNOW,
    VMX_VMOTION_PEER,
    VMX_VMOTION_PEER_OK,
    VMX_VMOTION_COMPLETE,
    VMX_VMOTION_ABORT,
    VMX_DO_PROXY,
    VMX_WILL_PROXY,
    VMX_WONT_PROXY,
    VMX_VM_VC_UUID,
    VMX_GET_VM_VC_UUID,
    VMX_VM_NAME,
    VMX_GET_VM_NAME,
};
const size_t vmx_known_suboptions_2_len = sizeof(vmx_known_suboptions_2);

const char *
vmx_sub_str(uint8_t code)
{
    switch (code) {
    case VMX_KNOWN_SUBOPTIONS_1:
        return "KNOWN-SUBOPTIONS-1";
    case VMX_KNOWN_SUBOPTIONS_2:
        return "KNOWN-SUBOPTIONS-2";
    case VMX_UNKNOWN_SUBOPTION_RCVD_1:
        return "UNKNOWN-SUBOPTION-RCVD-1";
    case VMX_UNKNOWN_SUBOPTION_RCVD_2:
        return "UNKNOWN-SUBOPTION-RCVD-2";
    case VMX_VMOTION_BEGIN:
        return "VMOTION-BEGIN";
    case VMX_VMOTION_GOAHEAD:
        return "VMOTION-GOAHEAD";
    case VMX_VMOTION_NOTNOW:
        return "VMOTION-NOTNOW";
    case VMX_VMOTION_PEER:
        return "VMOTION-PEER";
    case VMX_VMOTION_PEER_OK:
        return "VMOTION-PEER-OK";
    case VMX_VMOTION_COMPLETE:
        return "VMOTION-COMPLETE";
    case VMX_VMOTION_ABORT:
        return "VMOTION-ABORT";
    case VMX_DO_PROXY:
        return "DO-PROXY";
    case VMX_WILL_PROXY:
        return "WILL-PROXY";
    case VMX_WONT_PROXY:
        return "WONT-PROXY";
    case VMX_VM_VC_UUID:
        return "VM-VC-UUID";
    case VMX_GET_VM_VC_UUID:
        return "GET-VM-VC-UUID";
    case VMX_VM_NAME:
        return "VM-NAME";
    case VMX_GET_VM_NAME:
        return "GET-VM-NAME";
    case VMX_VM_BIOS_UUID:
        return "VM-BIOS-UUID";
    case VMX_GET_VM_BIOS_UUID:
        return "GET-VM-BIOS-UUID";
    case VMX_VM_LOCATION_UUID:
        return "VM-LOCATION-UUID";
    case VMX_GET_VM_LOCATION_UUID:
        return "GET-VM-LOCATION-UUID";
    default:
        return NULL;
    }
}

bool
vmx_is_known(uint8_t code)
{
    return vmx_sub_str(code) != NULL;
}

/* ------------------------------------------------------------------ */
/* Identification                                                      */

static int
s_hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int
vmx_uuid_normalise(const uint8_t *p, size_t n, char out[VMX_UUID_HEX + 1])
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;

    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        int v;

        if (p[i] == ' ' || p[i] == '-')
            continue;
        v = s_hexval(p[i]);
        if (v < 0 || o == VMX_UUID_HEX) {
            out[0] = '\0';
            return -1;
        }
        out[o++] = hex[v];
    }
    if (o != VMX_UUID_HEX) {
        out[0] = '\0';
        return -1;
    }
    out[o] = '\0';
    return 0;
}

int
vmx_parse_do_proxy(const uint8_t *p, size_t n, char *dir, const uint8_t **uri,
                   size_t *urilen)
{
    if (n == 0 || (p[0] != 'S' && p[0] != 'C'))
        return -1;
    *dir = (char)p[0];
    *uri = p + 1;
    *urilen = n - 1;
    return 0;
}

static bool
s_label_char(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* Checks and copies a port= value. Returns 0 or -1. */
static int
s_label(const uint8_t *v, size_t n, char label[VMX_LABEL_MAX + 1])
{
    if (n == 0 || n > VMX_LABEL_MAX)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!s_label_char(v[i]))
            return -1;
    memcpy(label, v, n);
    label[n] = '\0';
    return 0;
}

int
vmx_service_match(const uint8_t *uri, size_t n, const char *const *allowed,
                  size_t nallowed, char label[VMX_LABEL_MAX + 1])
{
    const uint8_t *q = n > 0 ? memchr(uri, '?', n) : NULL;
    size_t base = q != NULL ? (size_t)(q - uri) : n;
    bool have_port = false;
    size_t i;

    label[0] = '\0';
    if (nallowed > 0) {
        size_t j;

        for (j = 0; j < nallowed; j++)
            if (strlen(allowed[j]) == base &&
                memcmp(allowed[j], uri, base) == 0)
                break;
        if (j == nallowed)
            return -1;
    }
    /* Query: key[=value] pairs separated by '&'. */
    for (i = base + 1; i < n;) {
        const uint8_t *amp = memchr(uri + i, '&', n - i);
        size_t end = amp != NULL ? (size_t)(amp - uri) : n;
        const uint8_t *eq = memchr(uri + i, '=', end - i);
        size_t klen = eq != NULL ? (size_t)(eq - (uri + i)) : end - i;

        if (klen == 4 && memcmp(uri + i, "port", 4) == 0) {
            size_t vstart = i + 5;

            if (have_port || eq == NULL ||
                s_label(uri + vstart, end - vstart, label) != 0) {
                label[0] = '\0';
                return -1;
            }
            have_port = true;
        }
        i = end + 1;
    }
    return 0;
}

size_t
vmx_console_id(char out[VMX_CONSOLE_ID_MAX + 1],
               const char uuid[VMX_UUID_HEX + 1], const char *label)
{
    size_t n = strnlen(uuid, VMX_UUID_HEX);

    memcpy(out, uuid, n);
    if (label != NULL && label[0] != '\0') {
        size_t l = strnlen(label, VMX_LABEL_MAX);

        out[n++] = '.';
        memcpy(out + n, label, l);
        n += l;
    }
    out[n] = '\0';
    return n;
}

/*
 * Length of the well-formed UTF-8 sequence at p (Unicode table 3-7), 0 if
 * p[0] does not start one. *cp gets the code point.
 */
static size_t
s_utf8_seq(const uint8_t *p, size_t n, uint32_t *cp)
{
    uint8_t c = p[0];
    uint8_t lo = 0x80, hi = 0xBF;
    size_t len;
    uint32_t v;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        v = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        v = c & 0x0Fu;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        else if (c == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        v = c & 0x07u;
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    } else {
        return 0; /* continuation byte, C0/C1 overlong lead, F5..FF */
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        uint8_t b = p[i];

        if (b < (i == 1 ? lo : 0x80) || b > (i == 1 ? hi : 0xBF))
            return 0;
        v = (v << 6) | (b & 0x3Fu);
    }
    *cp = v;
    return len;
}

size_t
vmx_sanitise_name(const uint8_t *p, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    size_t i = 0;

    if (cap == 0)
        return 0;
    while (i < n) {
        uint32_t cp = 0;
        size_t len = s_utf8_seq(p + i, n - i, &cp);
        const uint8_t *src = p + i;
        size_t outlen = len;

        if (len == 0) {
            src = (const uint8_t *)"?";
            outlen = 1;
            len = 1;
        } else if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F)) {
            src = (const uint8_t *)"?";
            outlen = 1;
        }
        if (outlen > cap - 1 - o)
            break; /* never split a character */
        memcpy(out + o, src, outlen);
        o += outlen;
        i += len;
    }
    out[o] = '\0';
    return o;
}

/* ------------------------------------------------------------------ */
/* Sending                                                             */

void
vmx_send(struct tn *tn, uint8_t sub, const uint8_t *p, size_t n)
{
    struct tn_buf v[2] = {{&sub, 1}, {p, n}};

    tn_send_sbv(tn, TN_OPT_VMWARE, v, 2);
}

void
vmx_send2(struct tn *tn, uint8_t sub, const uint8_t *a, size_t an,
          const uint8_t *b, size_t bn)
{
    struct tn_buf v[3] = {{&sub, 1}, {a, an}, {b, bn}};

    tn_send_sbv(tn, TN_OPT_VMWARE, v, 3);
}
