/*
 * peerwire_int.h: what peerwire.c (types, checks, decode) and
 * peerwire_enc.c (encode) share. Not for use outside proto/.
 */
#ifndef VSPC_PEERWIRE_INT_H
#define VSPC_PEERWIRE_INT_H

#include "peerwire.h"

/* Writes the reason into err[errlen] (when errlen > 0), returns code. */
int pw__fail(int code, char *err, size_t errlen, const char *fmt, ...)
    VSPC_PRINTF(4, 5);

#endif /* VSPC_PEERWIRE_INT_H */
