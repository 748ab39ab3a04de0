/*
 * vi-nlp/vn_utf8.c — strict UTF-8 validation (RFC 3629 / Unicode Table 3-7).
 *
 * Every byte from the network passes here before ICU sees it, so the checker is
 * explicit about the cases decoders disagree on: overlong forms (C0 80), UTF-16
 * surrogates encoded in UTF-8 (ED A0 80), code points above U+10FFFF (F4 90..),
 * truncated sequences and stray continuation bytes. The offset of the first bad byte
 * is reported so a caller can log where a message broke without logging the message:
 * it is the offset of the lead byte of the ill-formed sequence (or of the stray byte).
 */
#include "vi-nlp/vn_utf8.h"

/* Length of a sequence from its lead byte, 0 when the byte can never start one. */
static int lead_len(unsigned char c) {
    if (c < 0x80)
        return 1;
    if (c < 0xC2) /* continuation bytes and overlong 2-byte leads C0, C1 */
        return 0;
    if (c < 0xE0)
        return 2;
    if (c < 0xF0)
        return 3;
    if (c < 0xF5)
        return 4;
    return 0;
}

int vn_utf8_valid(const char *s, size_t len, size_t *bad_off) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        int n = lead_len(c);
        if (n == 0)
            goto bad;
        /* The second byte's allowed range depends on the lead (Table 3-7). */
        unsigned char lo = 0x80, hi = 0xBF;
        if (c == 0xE0)
            lo = 0xA0; /* overlong 3-byte */
        else if (c == 0xED)
            hi = 0x9F; /* surrogates D800..DFFF */
        else if (c == 0xF0)
            lo = 0x90; /* overlong 4-byte */
        else if (c == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
        for (int k = 1; k < n; k++) {
            if (i + (size_t)k >= len) /* truncated */
                goto bad;
            unsigned char b = p[i + (size_t)k];
            if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF))
                goto bad;
        }
        i += (size_t)n;
    }
    return 1;
bad:
    if (bad_off)
        *bad_off = i;
    return 0;
}

size_t vn_utf8_count(const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s;
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if ((p[i] & 0xC0) != 0x80)
            n++;
    return n;
}
