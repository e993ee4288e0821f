/*
 * vmext.h: vmx_*, the VMware telnet extension (option 232,
 * VMWARE-TELNET-EXT), PROTOCOL.md section 3. I/O-free and allocation-free:
 * it classifies and validates the payloads the telnet codec hands over and
 * builds the payloads we send; tn_send_sb() does the framing and escaping.
 *
 * A suboption payload as seen here is <subcmd byte> <unescaped bytes...>.
 */
#ifndef VSPC_VMEXT_H
#define VSPC_VMEXT_H

#include "vspc/compat.h"
#include "telnet.h"

enum vmx_sub {
    VMX_KNOWN_SUBOPTIONS_1 = 0,
    VMX_KNOWN_SUBOPTIONS_2 = 1,
    VMX_UNKNOWN_SUBOPTION_RCVD_1 = 2,
    VMX_UNKNOWN_SUBOPTION_RCVD_2 = 3,
    VMX_VMOTION_BEGIN = 40,
    VMX_VMOTION_GOAHEAD = 41,
    VMX_VMOTION_NOTNOW = 43,
    VMX_VMOTION_PEER = 44,
    VMX_VMOTION_PEER_OK = 45,
    VMX_VMOTION_COMPLETE = 46,
    VMX_VMOTION_ABORT = 48,
    VMX_DO_PROXY = 70,
    VMX_WILL_PROXY = 71,
    VMX_WONT_PROXY = 73,
    VMX_VM_VC_UUID = 80,
    VMX_GET_VM_VC_UUID = 81,
    VMX_VM_NAME = 82,
    VMX_GET_VM_NAME = 83,
    VMX_VM_BIOS_UUID = 84,
    VMX_GET_VM_BIOS_UUID = 85,
    VMX_VM_LOCATION_UUID = 86,
    VMX_GET_VM_LOCATION_UUID = 87,
};

/* Our KNOWN-SUBOPTIONS-2 list: the 18 codes we implement, byte for byte the
 * list VMware's capture shows a working vSPC sending (PROTOCOL.md 3.2);
 * the BIOS/LOCATION codes 84-87 are not advertised (see vmext.c). */
extern const uint8_t vmx_known_suboptions_2[];
extern const size_t vmx_known_suboptions_2_len;

/* true for a code in the PROTOCOL.md 3.2 table (84-87 included: they are
 * parsed and tolerated, only not advertised). */
bool vmx_is_known(uint8_t code);
/* "VMOTION-BEGIN", ... or NULL. */
const char *vmx_sub_str(uint8_t code);

/* Lengths. */
#define VMX_UUID_HEX 32  /* normalised VC UUID: 32 lowercase hex */
#define VMX_LABEL_MAX 32 /* ?port= label */
#define VMX_CONSOLE_ID_MAX (VMX_UUID_HEX + 1 + VMX_LABEL_MAX)
#define VMX_NAME_MAX 255 /* display name, bytes after sanitising */
#define VMX_SEQ_MAX 255  /* longest vMotion sequence we accept */
#define VMX_SECRET_LEN 8 /* our secret length */

/*
 * Normalise VM-VC-UUID text ("01 23 45 67 89 ab cd ef-fe dc ...") into 32
 * lowercase hex digits plus NUL. Spaces and dashes are dropped; anything
 * else that is not a hex digit, or a count other than 32, is an error.
 * Returns 0 or -1.
 */
int vmx_uuid_normalise(const uint8_t *p, size_t n, char out[VMX_UUID_HEX + 1]);

/*
 * DO-PROXY payload (after the subcmd byte): direction then service URI.
 * Returns 0 and sets *dir ('S' or 'C'), *uri, *urilen (0 when only the
 * direction was sent; *uri then points past it); -1 if empty or if the
 * direction byte is neither 'S' nor 'C'.
 */
int vmx_parse_do_proxy(const uint8_t *p, size_t n, char *dir,
                       const uint8_t **uri, size_t *urilen);

/*
 * Match a service URI against the configured list. The part before the
 * first '?' must equal one entry byte for byte (nallowed == 0: any URI is
 * accepted). In the query (key=value pairs separated by '&'), "port=LABEL"
 * sets the console label; other keys and empty pairs are ignored. A label
 * must be 1 to VMX_LABEL_MAX characters of [A-Za-z0-9_-]; label[0] = 0 when
 * absent. Returns 0 on match, -1 on no match, an invalid label or a
 * repeated port= key (ambiguous identity). label is always NUL-terminated.
 */
int vmx_service_match(const uint8_t *uri, size_t n, const char *const *allowed,
                      size_t nallowed, char label[VMX_LABEL_MAX + 1]);

/* Console id: "<uuid>" or "<uuid>.<label>" (label NULL or "" for none;
 * at most VMX_LABEL_MAX label bytes are used). Returns the length. */
size_t vmx_console_id(char out[VMX_CONSOLE_ID_MAX + 1],
                      const char uuid[VMX_UUID_HEX + 1], const char *label);

/*
 * Sanitise an untrusted display name for logs and listings: valid UTF-8
 * is kept, control characters (< 0x20, 0x7f, and the C1 range U+0080 to
 * U+009F, which some terminals obey) and invalid sequences become '?' (one
 * '?' per byte of an invalid sequence; overlongs, surrogates and code
 * points above U+10FFFF are invalid), the result is truncated at a
 * character boundary to fit cap - 1 bytes and NUL-terminated (nothing is
 * written when cap is 0). Returns the length. '/' and ".." are kept: the
 * result is never used as a path.
 */
size_t vmx_sanitise_name(const uint8_t *p, size_t n, char *out, size_t cap);

/* Send helpers: frame <sub> <payload> as an option-232 SB via tn. */
void vmx_send(struct tn *tn, uint8_t sub, const uint8_t *p, size_t n);
/* Send <sub> <a> <b> (e.g. GOAHEAD seq||secret), without copying. */
void vmx_send2(struct tn *tn, uint8_t sub, const uint8_t *a, size_t an,
               const uint8_t *b, size_t bn);

#endif /* VSPC_VMEXT_H */
