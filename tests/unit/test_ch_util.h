/*
 * test_ch_util.h — helpers shared by the channel adapter tests: fixture loading
 * (tests run from the repository root), a fake header table for ch_request, an
 * independent form/query decoder (so render checks do not trust the code under
 * test), and UTF-8 checks. Header-only; everything is static inline.
 */
#ifndef TEST_CH_UTIL_H
#define TEST_CH_UTIL_H

#include "channels/ch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define T_MAX_HEADERS 8

/* A fake request header table: name/value pairs, looked up case-insensitively. */
typedef struct t_headers {
    const char *name[T_MAX_HEADERS];
    const char *value[T_MAX_HEADERS];
    size_t n;
} t_headers;

static inline const char *t_header_fn(void *ctx, const char *name) {
    t_headers *h = ctx;
    for (size_t i = 0; i < h->n; i++)
        if (strcasecmp(h->name[i], name) == 0)
            return h->value[i];
    return NULL;
}

/* Reads a fixture into a malloc'd buffer (NUL-terminated; *len excludes the NUL). */
static inline char *t_read(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "cannot open fixture %s\n", path);
        abort();
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n)
        abort();
    fclose(f);
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

static inline int t_hexval(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * The decoded value of `name` in an x-www-form-urlencoded string (an independent,
 * deliberately simple decoder), malloc'd, or NULL when absent.
 */
static inline char *t_form(const char *form, size_t len, const char *name) {
    size_t nl = strlen(name);
    const char *p = form, *end = form + len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        if (eq && (size_t)(eq - p) == nl && memcmp(p, name, nl) == 0) {
            char *out = malloc((size_t)(stop - eq));
            size_t o = 0;
            for (const char *q = eq + 1; q < stop; q++) {
                if (*q == '%' && q + 2 < stop && t_hexval(q[1]) >= 0 && t_hexval(q[2]) >= 0) {
                    out[o++] = (char)(t_hexval(q[1]) * 16 + t_hexval(q[2]));
                    q += 2;
                } else {
                    out[o++] = *q == '+' ? ' ' : *q;
                }
            }
            out[o] = '\0';
            return out;
        }
        p = stop + 1;
    }
    return NULL;
}

/* Decodes one form value (%XX and '+'); malloc'd. */
static inline char *t_decode(const char *v) {
    size_t n = strlen(v);
    char *form = malloc(n + 3);
    memcpy(form, "v=", 2);
    memcpy(form + 2, v, n + 1);
    char *out = t_form(form, n + 2, "v");
    free(form);
    return out;
}

/* 1 when s[0..len) is well-formed UTF-8 (checked independently of ch_utf8_valid). */
static inline int t_utf8_ok(const char *s, size_t len) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        size_t n = u[i] < 0x80         ? 1
                   : (u[i] >> 5) == 6  ? 2
                   : (u[i] >> 4) == 14 ? 3
                   : (u[i] >> 3) == 30 ? 4
                                       : 0;
        if (n == 0 || i + n > len)
            return 0;
        for (size_t k = 1; k < n; k++)
            if ((u[i + k] & 0xC0) != 0x80)
                return 0;
        i += n;
    }
    return 1;
}

static inline size_t t_cps(const char *s, size_t len) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

/* Repeats the sentences of a fixture until the text has at least `cps` code points,
 * then cuts it to exactly `cps` (on a code point boundary). Caller frees. */
static inline char *t_long_text(const char *path, size_t cps, size_t *len) {
    size_t fl;
    char *src = t_read(path, &fl);
    for (size_t i = 0; i < fl; i++)
        if (src[i] == '\n')
            src[i] = ' ';
    size_t cap = cps * 4 + fl + 1, o = 0;
    char *out = malloc(cap);
    while (t_cps(out, o) < cps) {
        memcpy(out + o, src, fl);
        o += fl;
    }
    size_t n = 0, i = 0;
    for (; i < o; i++) {
        if (((unsigned char)out[i] & 0xC0) != 0x80) {
            if (n == cps)
                break;
            n++;
        }
    }
    out[i] = '\0';
    *len = i;
    free(src);
    return out;
}

#endif
