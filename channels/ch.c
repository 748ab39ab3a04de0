/*
 * ch.c — the channel core: the adapter table and the owned-memory helpers of
 * ch.h. A channel exists for the gateway when its adapter is listed here; the
 * gateway never names a provider itself.
 *
 * The second half holds the small byte helpers every adapter needs (constant-time
 * compare, hex/base64, form decoding, UTF-8 counting and cutting, Retry-After):
 * pure functions over length-carrying input, so network bytes are never strlen'd.
 * The last part is what the adapters' own functions have in common (errors, message
 * slots, splitting a text into requests, the verdicts every provider shares, JSON
 * fields), written once so that the adapters hold only what is theirs.
 */
#include "channels/ch.h"

#include "channels/facebook.h"
#include "channels/sms.h"
#include "channels/zalo.h"
#include "channels/zns.h"
#include "core/mc.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const ch_adapter *const ch_adapters[] = {
    /* clang-format off */
    &ch_facebook_adapter,
    &ch_zalo_adapter,
    &ch_sms_adapter,
    &ch_zns_adapter,
    NULL,
    /* clang-format on */
};

size_t ch_adapter_count(void) {
    return MC_ARRAY_LEN(ch_adapters) - 1;
}

const ch_adapter *ch_adapter_at(size_t i) {
    return i < ch_adapter_count() ? ch_adapters[i] : NULL;
}

int ch_parse_bool(const char *v, int *out) {
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < MC_ARRAY_LEN(yes); i++) {
        if (!strcasecmp(v, yes[i])) {
            *out = 1;
            return 1;
        }
        if (!strcasecmp(v, no[i])) {
            *out = 0;
            return 1;
        }
    }
    return 0;
}

static int hhmm(const char *s) {
    if (!isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]) || s[2] != ':' ||
        !isdigit((unsigned char)s[3]) || !isdigit((unsigned char)s[4]))
        return -1;
    int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
    return h > 23 || m > 59 ? -1 : h * 60 + m;
}

static int choice_ok(const char *choices, const char *v) {
    size_t vl = strlen(v);
    for (const char *p = choices; *p;) {
        const char *bar = strchr(p, '|');
        size_t l = bar ? (size_t)(bar - p) : strlen(p);
        if (l == vl && !strncmp(p, v, l))
            return 1;
        if (!bar)
            break;
        p = bar + 1;
    }
    return 0;
}

int ch_key_check(const ch_key *k, const char *v, char *err, size_t errlen) {
    int b;
    char *end;
    long x;
    switch (k->type) {
    case CH_KT_BOOL:
        if (!ch_parse_bool(v, &b))
            goto bad_bool;
        return 0;
    case CH_KT_INT:
        errno = 0;
        x = strtol(v, &end, 10);
        if (errno || end == v || *end || x < k->min || x > k->max) {
            snprintf(err, errlen, "expected an integer in %ld..%ld, got '%s'", k->min, k->max, v);
            return MC_EINVAL;
        }
        return 0;
    case CH_KT_ENUM:
        if (!choice_ok(k->choices, v)) {
            snprintf(err, errlen, "expected one of %s, got '%s'", k->choices, v);
            return MC_EINVAL;
        }
        return 0;
    case CH_KT_HOURS:
        if (!*v)
            return 0; /* no such hours */
        if (strlen(v) != 11 || v[5] != '-' || hhmm(v) < 0 || hhmm(v + 6) < 0) {
            snprintf(err, errlen, "expected HH:MM-HH:MM, got '%s'", v);
            return MC_EINVAL;
        }
        return 0;
    case CH_KT_URL:
        if (*v && strncmp(v, "http://", 7) && strncmp(v, "https://", 8)) {
            snprintf(err, errlen, "expected an http:// or https:// URL, got '%s'", v);
            return MC_EINVAL;
        }
        return 0;
    case CH_KT_STR: return 0;
    }
    return MC_EINVAL;
bad_bool:
    snprintf(err, errlen, "expected true or false, got '%s'", v);
    return MC_EINVAL;
}

const ch_adapter *ch_adapter_find(const char *name) {
    if (name == NULL)
        return NULL;
    for (size_t i = 0; ch_adapters[i] != NULL; i++)
        if (strcmp(ch_adapters[i]->name, name) == 0)
            return ch_adapters[i];
    return NULL;
}

void ch_preview_clear(ch_preview *p) {
    if (!p)
        return;
    free(p->text);
    memset(p, 0, sizeof *p);
}

void ch_message_clear(ch_message *m) {
    if (m == NULL)
        return;
    free(m->text);
    free(m->payload);
    memset(m, 0, sizeof(*m));
}

void ch_http_clear(ch_http *h) {
    if (h == NULL)
        return;
    free(h->url);
    for (size_t i = 0; i < h->n_headers && i < CH_MAX_HEADERS; i++)
        free(h->headers[i]);
    free(h->body);
    memset(h, 0, sizeof(*h));
}

/* ---- growable buffer ---- */

#define CH_BUF_MIN 256 /* first allocation of a ch_buf */

static int buf_grow(ch_buf *b, size_t extra) {
    if (b->oom)
        return -1;
    if (extra > ((size_t)-1) / 2 - b->len) {
        b->oom = 1;
        return -1;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : CH_BUF_MIN;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL) {
        b->oom = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void ch_buf_put(ch_buf *b, const char *s, size_t n) {
    if (buf_grow(b, n) < 0)
        return;
    if (n)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void ch_buf_puts(ch_buf *b, const char *s) {
    ch_buf_put(b, s, strlen(s));
}

void ch_buf_urlenc(ch_buf *b, const char *s, size_t n) {
    static const char hex[] = "0123456789ABCDEF";
    if (buf_grow(b, n * 3) < 0)
        return;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            b->p[b->len++] = (char)c;
        } else {
            b->p[b->len++] = '%';
            b->p[b->len++] = hex[c >> 4];
            b->p[b->len++] = hex[c & 15];
        }
    }
    b->p[b->len] = '\0';
}

char *ch_buf_take(ch_buf *b, size_t *len) {
    if (!b->oom && b->p == NULL)
        ch_buf_put(b, "", 0);
    if (b->oom) {
        ch_buf_free(b);
        return NULL;
    }
    char *p = b->p;
    if (len)
        *len = b->len;
    memset(b, 0, sizeof(*b));
    return p;
}

void ch_buf_free(ch_buf *b) {
    free(b->p);
    memset(b, 0, sizeof(*b));
}

/* ---- bytes ---- */

int ch_ct_equal(const void *a, size_t alen, const void *b, size_t blen) {
    const unsigned char *x = a, *y = b;
    /* Compare over the longer length so the time depends on lengths only. */
    size_t n = alen > blen ? alen : blen;
    unsigned diff = (unsigned)(alen != blen);
    for (size_t i = 0; i < n; i++) {
        unsigned char cx = i < alen ? x[i] : 0;
        unsigned char cy = i < blen ? y[i] : 0;
        diff |= (unsigned)(cx ^ cy);
    }
    return diff == 0;
}

void ch_hex(const unsigned char *in, size_t n, char *out) {
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 15];
    }
    out[2 * n] = '\0';
}

int ch_base64(const unsigned char *in, size_t n, char *out, size_t cap) {
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t need = (n + 2) / 3 * 4;
    if (need + 1 > cap)
        return MC_ETOOBIG;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tab[v & 63] : '=';
    }
    out[o] = '\0';
    return (int)o;
}

/* ---- forms and query strings ---- */

int ch_form_next(const char **cur, const char *end, ch_pair *out) {
    const char *p = *cur;
    while (p < end && *p == '&')
        p++;
    if (p >= end) {
        *cur = end;
        return 0;
    }
    const char *amp = memchr(p, '&', (size_t)(end - p));
    const char *stop = amp ? amp : end;
    const char *eq = memchr(p, '=', (size_t)(stop - p));
    out->name = p;
    out->name_len = (size_t)((eq ? eq : stop) - p);
    out->value = eq ? eq + 1 : stop;
    out->value_len = eq ? (size_t)(stop - eq - 1) : 0;
    *cur = stop;
    return 1;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int ch_url_decode(const char *in, size_t len, char *out, size_t cap, size_t *outlen) {
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c == '%') {
            if (len - i < 3)
                return MC_EINVAL;
            int hi = hexval(in[i + 1]);
            int lo = hexval(in[i + 2]);
            if (hi < 0 || lo < 0)
                return MC_EINVAL;
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (o + 1 >= cap)
            return MC_ETOOBIG;
        out[o++] = c;
    }
    if (cap == 0)
        return MC_ETOOBIG;
    out[o] = '\0';
    if (outlen)
        *outlen = o;
    return 0;
}

int ch_form_get(const char *form, size_t len, const char *name, char *out, size_t cap,
                size_t *outlen) {
    const char *cur = form, *end = form + len;
    size_t nlen = strlen(name);
    ch_pair p;
    while (ch_form_next(&cur, end, &p)) {
        /* Names are compared decoded: Twilio and Kannel names are plain ASCII, but a
         * client may still percent-encode them. */
        char nbuf[64];
        size_t dn;
        if (p.name_len >= sizeof nbuf)
            continue;
        if (ch_url_decode(p.name, p.name_len, nbuf, sizeof nbuf, &dn) < 0)
            return MC_EINVAL;
        if (dn == nlen && memcmp(nbuf, name, nlen) == 0)
            return ch_url_decode(p.value, p.value_len, out, cap, outlen);
    }
    return MC_ENOTFOUND;
}

/* ---- UTF-8 ---- */

/* Length of the well-formed sequence at s[0..len), or 0 when it is not one. */
static size_t utf8_seq(const unsigned char *s, size_t len) {
    unsigned char c = s[0];
    if (c < 0x80)
        return c == 0 ? 0 : 1;
    size_t n;
    unsigned cp;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n > len)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

int ch_utf8_valid(const char *s, size_t len) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_seq(u + i, len - i);
        if (n == 0)
            return 0;
        i += n;
    }
    return 1;
}

size_t ch_utf8_count(const char *s, size_t len) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

size_t ch_utf8_prefix(const char *s, size_t len, size_t max_cp) {
    size_t cps = 0;
    for (size_t i = 0; i < len; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80) {
            if (cps == max_cp)
                return i;
            cps++;
        }
    }
    return len;
}

size_t ch_utf8_floor(const char *s, size_t len, size_t max_bytes) {
    if (len <= max_bytes)
        return len;
    size_t n = max_bytes;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) /* s[n] continues a sequence */
        n--;
    return n;
}

static int is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

size_t ch_text_cut(const char *s, size_t len, size_t max_cp, size_t *rest) {
    if (ch_utf8_count(s, len) <= max_cp) {
        *rest = len;
        return len;
    }
    size_t w = ch_utf8_prefix(s, len, max_cp);
    size_t cut = 0;
    /* A sentence end: . ! ? or … followed by whitespace, or a line break. The
     * punctuation stays with the part; the whitespace after it is dropped. */
    for (size_t i = w; i-- > 0;) {
        size_t end = 0;
        if (s[i] == '\n')
            end = i;
        else if ((s[i] == '.' || s[i] == '!' || s[i] == '?') && i + 1 < len && is_space(s[i + 1]))
            end = i + 1;
        else if (i + 3 <= w && (unsigned char)s[i] == 0xE2 && (unsigned char)s[i + 1] == 0x80 &&
                 (unsigned char)s[i + 2] == 0xA6 && i + 3 < len && is_space(s[i + 3]))
            end = i + 3;
        if (end > 0 && end <= w) {
            cut = end;
            break;
        }
    }
    if (cut < w / 2) {
        cut = 0;
        for (size_t i = w; i-- > 0;)
            if (s[i] == ' ' || s[i] == '\t') {
                cut = i;
                break;
            }
    }
    if (cut == 0)
        cut = w;
    size_t part = cut;
    while (part > 0 && is_space(s[part - 1]))
        part--;
    size_t r = cut;
    while (r < len && is_space(s[r]))
        r++;
    if (part == 0) { /* only spaces before the cut: take the hard window instead */
        part = w;
        r = w;
    }
    *rest = r;
    return part;
}

/* Length of the phone-like run at s (an optional '+' then digits, spaces, dots or
 * dashes between digits) when it holds at least 7 digits, else 0. */
static size_t phone_run(const char *s, size_t len, size_t *digits) {
    size_t i = s[0] == '+' ? 1 : 0, d = 0, end = 0;
    for (; i < len; i++) {
        if (s[i] >= '0' && s[i] <= '9') {
            d++;
            end = i + 1;
        } else if (!((s[i] == ' ' || s[i] == '.' || s[i] == '-') && d > 0 && i + 1 < len &&
                     s[i + 1] >= '0' && s[i + 1] <= '9'))
            break;
    }
    *digits = d;
    return d >= 7 ? end : 0;
}

void ch_safe_copy(char *dst, size_t cap, const char *src, size_t len) {
    if (cap == 0)
        return;
    size_t o = 0;
    const unsigned char *u = (const unsigned char *)src;
    for (size_t i = 0; i < len;) {
        size_t digits, run;
        int starts = (u[i] == '+' || (u[i] >= '0' && u[i] <= '9')) &&
                     (i == 0 || !(u[i - 1] >= '0' && u[i - 1] <= '9'));
        if (starts && (run = phone_run(src + i, len - i, &digits)) > 0) {
            /* a phone number or an id: keep its head and its last 3 characters, like
             * the logs do (+8491****678), so a provider's message never carries one */
            size_t want = digits - 7 < 4 ? digits - 7 : 4, head = 0; /* digits kept */
            for (size_t k = 0; want > 0 && head < run; head++)
                if (src[i + head] >= '0' && src[i + head] <= '9' && ++k == want) {
                    head++;
                    break;
                }
            if (o + head + 4 + 3 >= cap)
                break;
            memcpy(dst + o, src + i, head);
            memcpy(dst + o + head, "****", 4);
            memcpy(dst + o + head + 4, src + i + run - 3, 3);
            o += head + 7;
            i += run;
            continue;
        }
        size_t n = u[i] == 0 ? 1 : utf8_seq(u + i, len - i);
        if (n == 0 || u[i] < 0x20 || u[i] == 0x7F) {
            if (o + 1 >= cap)
                break;
            dst[o++] = (n == 0) ? '?' : ' ';
            i += n == 0 ? 1 : n;
            continue;
        }
        if (o + n >= cap)
            break;
        memcpy(dst + o, src + i, n);
        o += n;
        i += n;
    }
    dst[o] = '\0';
}

/* ---- time ---- */

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110 §5.6.7), in ms; -1 if not one. */
static int64_t parse_http_date(const char *v) {
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    char mon[4];
    int d, y, hh, mm, ss;
    char wd[4], tz[4];
    if (sscanf(v, "%3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d %3s", wd, &d, mon, &y, &hh, &mm, &ss,
               tz) != 8)
        return -1;
    if (strcmp(tz, "GMT") != 0 || d < 1 || d > 31 || hh > 23 || mm > 59 || ss > 60 || y < 1970)
        return -1;
    const char *m = strstr(months, mon);
    if (m == NULL || strlen(mon) != 3 || (m - months) % 3 != 0)
        return -1;
    int64_t days = days_from_civil(y, (unsigned)((m - months) / 3 + 1), (unsigned)d);
    return ((days * 24 + hh) * 60 + mm) * 60000LL + ss * 1000LL;
}

int64_t ch_retry_after_ms(const char *value, int64_t now_ms) {
    if (value == NULL)
        return 0;
    size_t len = strnlen(value, CH_MAX_HEADER_VALUE);
    while (len > 0 && is_space(*value)) {
        value++;
        len--;
    }
    if (len == 0)
        return 0;
    int64_t ms;
    if (*value >= '0' && *value <= '9') {
        int64_t secs = 0;
        size_t i = 0;
        for (; i < len && value[i] >= '0' && value[i] <= '9'; i++) {
            secs = secs * 10 + (value[i] - '0');
            if (secs > CH_MAX_RETRY_AFTER_MS / 1000)
                return CH_MAX_RETRY_AFTER_MS;
        }
        while (i < len && is_space(value[i]))
            i++;
        if (i != len)
            return 0;
        ms = secs * 1000;
    } else {
        char tmp[64];
        if (len >= sizeof tmp)
            return 0;
        memcpy(tmp, value, len);
        tmp[len] = '\0';
        int64_t at = parse_http_date(tmp);
        if (at < 0)
            return 0;
        ms = at - now_ms;
    }
    if (ms < 0)
        return 0;
    return ms > CH_MAX_RETRY_AFTER_MS ? CH_MAX_RETRY_AFTER_MS : ms;
}

int64_t ch_ms_until_local_hour(int64_t now_ms, int utc_offset_min, int hour) {
    const int64_t day = 24LL * 3600 * 1000;
    int64_t local = now_ms + (int64_t)utc_offset_min * 60000;
    int64_t into_day = ((local % day) + day) % day;
    int64_t target = (int64_t)hour * 3600 * 1000;
    int64_t wait = target - into_day;
    if (wait <= 0)
        wait += day;
    return wait;
}

int64_t ch_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- HTTP ---- */

int ch_http_header(ch_http *h, const char *name, const char *value) {
    if (h->n_headers >= CH_MAX_HEADERS)
        return MC_ETOOBIG;
    if (strpbrk(value, "\r\n") != NULL || strpbrk(name, "\r\n: ") != NULL)
        return MC_EINVAL;
    size_t nl = strlen(name), vl = strlen(value);
    char *line = malloc(nl + vl + 3);
    if (line == NULL)
        return MC_ENOMEM;
    memcpy(line, name, nl);
    memcpy(line + nl, ": ", 2);
    memcpy(line + nl + 2, value, vl + 1);
    h->headers[h->n_headers++] = line;
    return 0;
}

const char *ch_req_header(const ch_request *req, const char *name, size_t *len) {
    if (req->header == NULL)
        return NULL;
    const char *v = req->header(req->header_ctx, name);
    if (v == NULL)
        return NULL;
    *len = strnlen(v, CH_MAX_HEADER_VALUE + 1);
    if (*len > CH_MAX_HEADER_VALUE)
        return NULL;
    return v;
}

int ch_sig_header(const ch_request *req, const char *name, const char *prefix, size_t ndigits,
                  char *out, char *err, size_t errlen) {
    size_t hl = 0;
    const char *h = ch_req_header(req, name, &hl);
    if (h == NULL)
        return ch_fail(err, errlen, MC_EINVAL, "header %s missing", name);
    size_t pl = strlen(prefix);
    if (hl != pl + ndigits || memcmp(h, prefix, pl) != 0)
        return ch_fail(err, errlen, MC_EINVAL, "header %s malformed (want %s<%zu hex digits>)",
                       name, prefix, ndigits);
    for (size_t i = 0; i < ndigits; i++) {
        char c = h[pl + i];
        if (c >= 'A' && c <= 'F')
            c = (char)(c - 'A' + 'a');
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return ch_fail(err, errlen, MC_EINVAL, "header %s is not hex", name);
        out[i] = c;
    }
    return 0;
}

/* ---- what the adapters share ---- */

int ch_fail(char *err, size_t errlen, int rc, const char *fmt, ...) {
    if (err != NULL && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

size_t ch_space_prefix(const char *s, size_t len) {
    size_t i = 0;
    while (i < len && is_space(s[i]))
        i++;
    return i;
}

void ch_buf_base(ch_buf *b, const char *base) {
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    ch_buf_put(b, base, bl);
}

ch_message *ch_message_next(ch_message *out, size_t *n, const char *channel, char *err,
                            size_t errlen) {
    if (*n >= CH_MAX_MESSAGES) {
        ch_fail(err, errlen, MC_ETOOBIG, "more than %d events in one request", CH_MAX_MESSAGES);
        return NULL;
    }
    ch_message *m = &out[(*n)++];
    memset(m, 0, sizeof(*m));
    m->channel = channel;
    return m;
}

void ch_messages_clear(ch_message *out, size_t *n) {
    for (size_t k = 0; k < *n; k++)
        ch_message_clear(&out[k]);
    *n = 0;
}

void ch_https_clear(ch_http *out, size_t *n) {
    for (size_t k = 0; k < *n; k++)
        ch_http_clear(&out[k]);
    *n = 0;
}

int ch_render_parts(const char *t, size_t len, size_t max_cp, ch_part_fn *part, void *ctx,
                    ch_http *out, size_t max_out, size_t *n, char *err, size_t errlen) {
    *n = 0;
    size_t pos = ch_space_prefix(t, len);
    if (pos == len)
        return ch_fail(err, errlen, MC_EINVAL, "text is empty");
    while (pos < len) {
        size_t rest;
        size_t bytes = ch_text_cut(t + pos, len - pos, max_cp, &rest);
        int rc;
        if (*n >= max_out)
            rc = ch_fail(err, errlen, MC_ETOOBIG,
                         "text needs more than %zu messages of %zu characters", max_out, max_cp);
        else
            rc = part(ctx, t + pos, bytes, pos + rest >= len, &out[*n], err, errlen);
        if (rc < 0) {
            ch_https_clear(out, n);
            return rc;
        }
        (*n)++;
        pos += rest;
    }
    return 0;
}

void ch_result_status_detail(ch_result *out, int status) {
    if (out->detail[0] != '\0')
        return;
    if (status == 0)
        snprintf(out->detail, sizeof out->detail, "no answer (transport failure or timeout)");
    else
        snprintf(out->detail, sizeof out->detail, "HTTP %d", status);
}

int ch_classify_transport(int status, const char *retry_after, ch_result *out) {
    if (status != 0 && status < 500 && status != 429)
        return 0;
    out->verdict = CH_RETRY;
    snprintf(out->reason, sizeof out->reason, status == 429 ? "rate_limited" : "unavailable");
    ch_result_status_detail(out, status);
    out->retry_after_ms = ch_retry_after_ms(retry_after, ch_now_ms());
    return 1;
}

int ch_json_body(const ch_request *req, json_t **root, char *err, size_t errlen) {
    if (req->body_len > CH_MAX_BODY)
        return ch_fail(err, errlen, MC_ETOOBIG, "body larger than %d bytes", CH_MAX_BODY);
    json_error_t jerr;
    *root = json_loadb(req->body, req->body_len, 0, &jerr);
    if (*root == NULL)
        return ch_fail(err, errlen, MC_EINVAL, "body is not JSON (line %d: %s)", jerr.line,
                       jerr.text);
    return 0;
}

json_t *ch_json_choices(const ch_outgoing *msg, const char *noun, size_t max_title,
                        size_t max_payload, ch_choice_fn *make, char *err, size_t errlen) {
    json_t *arr = json_array();
    if (arr == NULL)
        return NULL;
    for (size_t i = 0; i < msg->n_quick; i++) {
        const ch_quick *q = &msg->quick[i];
        if (ch_empty(q->title) || ch_empty(q->payload)) {
            ch_fail(err, errlen, MC_EINVAL, "%s %zu needs a title and a payload", noun, i);
            goto fail;
        }
        size_t tl = strlen(q->title), pl = strlen(q->payload);
        if (!ch_utf8_valid(q->title, tl) || !ch_utf8_valid(q->payload, pl)) {
            ch_fail(err, errlen, MC_EINVAL, "%s %zu is not valid UTF-8", noun, i);
            goto fail;
        }
        if (pl > max_payload) {
            ch_fail(err, errlen, MC_EINVAL, "%s %zu payload longer than %zu bytes", noun, i,
                    max_payload);
            goto fail;
        }
        json_t *o = make(q->title, ch_utf8_prefix(q->title, tl, max_title), q->payload, pl);
        if (o == NULL || json_array_append_new(arr, o) < 0) {
            ch_fail(err, errlen, MC_ENOMEM, "out of memory");
            goto fail;
        }
    }
    return arr;
fail:
    json_decref(arr);
    return NULL;
}

int ch_http_post_json(ch_http *h, json_t *root, ch_buf *url) {
    h->url = ch_buf_take(url, NULL);
    h->body = json_dumps(root, JSON_COMPACT);
    if (h->url == NULL || h->body == NULL)
        return MC_ENOMEM;
    h->body_len = strlen(h->body);
    snprintf(h->method, sizeof h->method, "POST");
    return ch_http_header(h, "Content-Type", "application/json");
}

json_t *ch_json_answer(const char *body, size_t len) {
    if (body == NULL || len == 0 || len > CH_MAX_BODY)
        return NULL;
    return json_loadb(body, len, 0, NULL);
}

int ch_classify_json(int status, const char *body, size_t len, const char *id_field, ch_result *out,
                     json_t **root) {
    *root = ch_json_answer(body, len);
    if (status < 200 || status >= 300)
        return 0;
    json_t *id = json_object_get(*root, id_field);
    size_t il = json_string_length(id);
    if (json_is_string(id) && il > 0 && il < CH_MAX_ID) {
        out->verdict = CH_SENT;
        memcpy(out->provider_id, json_string_value(id), il + 1);
    } else {
        out->verdict = CH_PERMANENT;
        snprintf(out->reason, sizeof out->reason, "bad_response");
        snprintf(out->detail, sizeof out->detail, "HTTP %d without %s", status, id_field);
    }
    json_decref(*root);
    *root = NULL;
    return 1;
}

int ch_json_text(json_t *v, const char *path, char *dst, size_t cap, char *err, size_t errlen) {
    if (v == NULL || json_is_null(v))
        return ch_fail(err, errlen, MC_EINVAL, "%s missing", path);
    if (json_is_integer(v)) {
        snprintf(dst, cap, "%lld", (long long)json_integer_value(v));
        return 0;
    }
    if (!json_is_string(v))
        return ch_fail(err, errlen, MC_EINVAL, "%s must be a string", path);
    size_t n = json_string_length(v);
    if (n == 0)
        return ch_fail(err, errlen, MC_EINVAL, "%s is empty", path);
    if (n >= cap)
        return ch_fail(err, errlen, MC_EINVAL, "%s longer than %zu bytes", path, cap - 1);
    if (memchr(json_string_value(v), '\0', n) != NULL)
        return ch_fail(err, errlen, MC_EINVAL, "%s contains NUL", path);
    memcpy(dst, json_string_value(v), n + 1);
    return 0;
}

int ch_json_dup(json_t *v, const char *path, char **out, size_t *len, char *err, size_t errlen) {
    *out = NULL;
    if (len)
        *len = 0;
    if (v == NULL)
        return 0;
    if (!json_is_string(v))
        return ch_fail(err, errlen, MC_EINVAL, "%s must be a string", path);
    size_t n = json_string_length(v);
    const char *p = json_string_value(v);
    if (memchr(p, '\0', n) != NULL)
        return ch_fail(err, errlen, MC_EINVAL, "%s contains NUL", path);
    char *c = malloc(n + 1);
    if (c == NULL)
        return ch_fail(err, errlen, MC_ENOMEM, "out of memory");
    memcpy(c, p, n + 1);
    *out = c;
    if (len)
        *len = n;
    return 0;
}

void ch_json_safe(json_t *v, char *dst, size_t cap) {
    int s = json_is_string(v);
    ch_safe_copy(dst, cap, s ? json_string_value(v) : "", s ? json_string_length(v) : 0);
}
