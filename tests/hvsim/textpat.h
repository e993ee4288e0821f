/*
 * textpat.h: the readable VM output of `vspc-hvsim run --text` (the
 * demo): fixed-length lines, so byte i of the stream is computable from i
 * alone, like pattern.h, and a console log or a terminal shows whether a
 * line went missing across a vMotion (the line numbers are consecutive).
 */
#ifndef VSPC_HVSIM_TEXTPAT_H
#define VSPC_HVSIM_TEXTPAT_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define TEXT_LINE_LEN 72

/* Line k of console `name`, exactly TEXT_LINE_LEN bytes ending in CR LF. */
static inline void
text_line(const char *name, uint64_t k, char out[TEXT_LINE_LEN + 1])
{
    static const char *const words[] = {
        "kernel: eth0 link up",      "systemd: Started Daily apt",
        "sshd: Accepted publickey",  "cron: (root) CMD (run-parts)",
        "kernel: EXT4-fs remounted", "getty: login prompt ready"};
    int n = snprintf(out, TEXT_LINE_LEN + 1, "[%.16s %08llu] %s", name,
                     (unsigned long long)k,
                     words[k % (sizeof(words) / sizeof(words[0]))]);

    if (n < 0)
        n = 0;
    if (n > TEXT_LINE_LEN - 2)
        n = TEXT_LINE_LEN - 2;
    memset(out + n, ' ', (size_t)(TEXT_LINE_LEN - 2 - n));
    out[TEXT_LINE_LEN - 2] = '\r';
    out[TEXT_LINE_LEN - 1] = '\n';
    out[TEXT_LINE_LEN] = '\0';
}

static inline void
text_fill(const char *name, uint64_t off, uint8_t *dst, size_t n)
{
    char line[TEXT_LINE_LEN + 1];
    uint64_t cur = UINT64_MAX;

    for (size_t i = 0; i < n; i++) {
        uint64_t k = (off + i) / TEXT_LINE_LEN;

        if (k != cur) {
            text_line(name, k, line);
            cur = k;
        }
        dst[i] = (uint8_t)line[(off + i) % TEXT_LINE_LEN];
    }
}

#endif /* VSPC_HVSIM_TEXTPAT_H */
