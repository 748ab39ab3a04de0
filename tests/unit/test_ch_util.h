/*
 * test_ch_util.h — helpers shared by the channel adapter tests, the unit tests here and
 * the fuzz targets of tests/fuzz (fuzz_ch.h): fixture loading (tests run from the
 * repository root), a fake header table and the webhook request built on it, an
 * independent form/query decoder (so render checks do not trust the code under test),
 * and a strict UTF-8 check. Header-only (everything is static inline) and free of cmocka,
 * so that a fuzz target links with libch.a alone.
 */
#ifndef TEST_CH_UTIL_H
#define TEST_CH_UTIL_H

#include "channels/ch.h"
#include "test_file.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define T_MAX_HEADERS 8
#define T_FIXTURE_MAX (16u << 20) /* largest fixture t_read takes, bytes */

/* ---- the channels' settings every channel test uses (fuzz targets included) ---- */

#define T_FB_SECRET "fb-app-secret-0123456789"    /* Messenger app secret */
#define T_FB_VERIFY_TOKEN "motcua verify+token&1" /* Messenger webhook verify token */
#define T_ZALO_APP_ID "360846524940903967"        /* Zalo app id */
#define T_ZALO_OA_KEY "Xk9pL2mQ7rT4vW1yZ3aB"      /* Zalo OA secret key (webhook MAC) */
#define T_TWILIO_SID "AC11111111111111111111111111111111"
#define T_TWILIO_TOKEN "9f8e7d6c5b4a39281706f5e4d3c2b1a0" /* Twilio auth token */
#define T_KANNEL_SECRET "k4nnel-s3cret"                   /* Kannel shared secret */

static const ch_settings t_facebook = {
    .api_base = "https://graph.facebook.com/",
    .api_version = "v21.0",
    .app_secret = T_FB_SECRET,
    .verify_token = T_FB_VERIFY_TOKEN,
    .access_token = "EAAB+tok/en&x=1",
};

static const ch_settings t_zalo = {
    .api_base = "https://openapi.zalo.me",
    .app_id = T_ZALO_APP_ID,
    .app_secret = T_ZALO_OA_KEY,
    .access_token = "zl-access-token-123",
    .oauth_base = "https://oauth.zaloapp.com/",
    .oauth_secret = "app-secret-key-456",
};

static const ch_settings t_twilio = {
    .public_url = "https://motcua.example.gov.vn/",
    .api_base = "https://api.twilio.com",
    .provider = "twilio",
    .account_sid = T_TWILIO_SID,
    .auth_token = T_TWILIO_TOKEN,
    .sender = "+84287300000",
    .status_callback = "https://motcua.example.gov.vn/webhook/sms",
};

static const ch_settings t_kannel = {
    .api_base = "http://127.0.0.1:13013",
    .provider = "kannel",
    .username = "motcua",
    .password = "p@ss word",
    .shared_secret = T_KANNEL_SECRET,
    .sender = "UBND-HCM",
    .status_callback = "http://10.0.0.5:8080/webhook/sms",
    .allowed_addrs = "10.0.0.7, 127.0.0.1",
};

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

/* A webhook request as the gateway hands it over: headers from h, a peer on 127.0.0.1,
 * the clock at now_ms. The fields stay the caller's; query and body need no NUL. */
static inline ch_request t_request(const char *method, const char *path, const char *query,
                                   size_t query_len, const char *body, size_t body_len,
                                   t_headers *h, int64_t now_ms) {
    ch_request r = {.method = method,
                    .path = path,
                    .query = query,
                    .query_len = query_len,
                    .body = body,
                    .body_len = body_len,
                    .header = t_header_fn,
                    .header_ctx = h,
                    .remote_addr = "127.0.0.1",
                    .now_ms = now_ms};
    return r;
}

/* Reads a fixture into a malloc'd buffer (NUL-terminated; *len excludes the NUL); aborts
 * when it cannot (the reason printed). */
static inline char *t_read(const char *path, size_t *len) {
    char *buf = t_read_file("fixture", path, T_FIXTURE_MAX, len);
    if (buf == NULL)
        abort();
    return buf;
}

/* prefix + lower-case hex of md[0..n) into out (strlen(prefix) + 2n + 1 bytes): the
 * signature header values of Messenger ("sha256=") and Zalo ("mac="). */
static inline void t_hex_sig(char *out, const char *prefix, const unsigned char *md, size_t n) {
    size_t pl = strlen(prefix);
    memcpy(out, prefix, pl);
    for (size_t i = 0; i < n; i++)
        snprintf(out + pl + 2 * i, 3, "%02x", md[i]);
    out[pl + 2 * n] = '\0';
}

/* A hex digit's value, or -1. */
static inline int t_hexval(char c) {
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Decodes %XX and '+' of s[0..len) into out (room for len bytes, not NUL-terminated):
 * the decoded length, or -1 for a bad escape. */
static inline long t_decode_strict(const char *s, size_t len, char *out) {
    size_t o = 0;
    for (size_t k = 0; k < len; k++) {
        if (s[k] == '%') {
            if (len - k < 3 || t_hexval(s[k + 1]) < 0 || t_hexval(s[k + 2]) < 0)
                return -1;
            out[o++] = (char)(t_hexval(s[k + 1]) * 16 + t_hexval(s[k + 2]));
            k += 2;
        } else {
            out[o++] = s[k] == '+' ? ' ' : s[k];
        }
    }
    return (long)o;
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

/* 1 when s[0..len) is strict UTF-8 (no overlongs, surrogates or code points past
 * U+10FFFF), written apart from ch_utf8_valid so that the check does not trust the code
 * under test. */
static inline int t_utf8_ok(const char *s, size_t len) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        unsigned c = u[i], cp, n;
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xE0) == 0xC0)
            n = 2, cp = c & 0x1F;
        else if ((c & 0xF0) == 0xE0)
            n = 3, cp = c & 0x0F;
        else if ((c & 0xF8) == 0xF0)
            n = 4, cp = c & 0x07;
        else
            return 0;
        if (len - i < n)
            return 0;
        for (unsigned k = 1; k < n; k++) {
            if ((u[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (u[i + k] & 0x3F);
        }
        static const unsigned least[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < least[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
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

/* A rendered request's body as JSON (caller decrefs); aborts when it is not JSON. */
static inline json_t *t_body_json(const ch_http *h) {
    json_t *j = json_loadb(h->body, h->body_len, 0, NULL);
    if (j == NULL) {
        fprintf(stderr, "request body is not JSON: %.*s\n", (int)h->body_len, h->body);
        abort();
    }
    return j;
}

#endif
