/*
 * gw_api_fields.c — what the API accepts: the JSON body and its fields, the
 * fields a notification and a broadcast share, the validators of codes,
 * phones, dates, times, user ids and path ids, query parameters, and the ids
 * and masks the answers carry.
 *
 * Big idea: network input is length-carrying and judged before anything is
 * written; a validator fills a gw_api_err naming the field at fault, so a
 * batch can collect one per row where an endpoint answers the first. Pure
 * functions but gw_api_body, so the unit tests drive them directly.
 */
#include "gateway/api/gw_api_int.h"
#include "gateway/app/gw_time.h"

#include "channels/ch.h"
#include "core/mc.h"
#include "gateway/api/gw_tpl.h"
#include "gateway/app/gw_channels.h"
#include "gateway/app/gw_clock.h"
#include "gateway/app/gw_log.h"

#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DAY_MS 86400000LL
#define TIME_FIELD_MAX 64   /* an RFC 3339 time in a body, bytes */
#define PRIORITY_MAX 16     /* the priority field, bytes */
#define QUERY_LONG_DIGITS 9 /* digits of a whole-number query parameter */
#define RANDOM_MAX 32       /* random bytes one id may take */

/* ---------------------------------------------------------------- bodies */

json_t *gw_api_body(gw_req *rq) {
    size_t len;
    const char *b = gw_req_body(rq, &len);
    json_error_t je;
    json_t *o = json_loadb(b, len, JSON_REJECT_DUPLICATES, &je);
    if (!o) {
        gw_api_fail(rq, 400, "bad_json", NULL, "the body is not valid JSON: %s (line %d)", je.text,
                    je.line);
        return NULL;
    }
    if (!json_is_object(o)) {
        json_decref(o);
        gw_api_fail(rq, 400, "bad_json", NULL, "the body must be a JSON object");
        return NULL;
    }
    return o;
}

void gw_api_key_path(char *out, size_t n, const char *prefix, const char *key, gw_api_cut cut) {
    size_t kl = strlen(key), end = ch_utf8_prefix(key, kl, cut.cps);
    if (end > cut.bytes)
        for (end = cut.bytes; end > 0 && ((unsigned char)key[end] & 0xC0) == 0x80;)
            end--;
    snprintf(out, n, "%s%.*s", prefix, (int)end, key);
}

int gw_api_only_fields(gw_api_err *e, const json_t *o, const char *const *allowed,
                       const char *prefix, gw_api_cut cut) {
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v) {
        size_t i = 0;
        while (allowed[i] && strcmp(allowed[i], k))
            i++;
        if (!allowed[i]) {
            char path[sizeof e->field];
            gw_api_key_path(path, sizeof path, prefix, k, cut);
            return gw_api_err_set(e, 400, "bad_field", path, "unknown field");
        }
    }
    return 0;
}

int gw_api_str_field(gw_api_err *e, const json_t *o, const char *name, const char *path, size_t max,
                     bool required, const char **out, size_t *outlen) {
    json_t *v = json_object_get(o, name);
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (required)
            return gw_api_err_set(e, 400, "missing_field", path, "%s is required", path);
        return 0;
    }
    if (!json_is_string(v))
        return gw_api_err_set(e, 400, "bad_field", path, "%s must be a string", path);
    size_t len = json_string_length(v);
    if (len == 0 || len > max)
        return gw_api_err_set(e, 400, "bad_field", path, "%s must be 1..%zu bytes", path, max);
    const char *s = json_string_value(v);
    if (memchr(s, '\0', len))
        return gw_api_err_set(e, 400, "bad_field", path, "%s must not contain NUL", path);
    *out = s;
    if (outlen)
        *outlen = len;
    return 0;
}

int gw_api_time_field(gw_api_err *e, const json_t *b, const char *name, int64_t *ms) {
    const char *s;
    size_t len;
    if (gw_api_str_field(e, b, name, name, TIME_FIELD_MAX, false, &s, &len))
        return MC_EINVAL;
    if (s && gw_api_parse_time(s, len, ms))
        return gw_api_err_set(e, 400, "bad_field", name,
                              "%s must be an RFC 3339 time such as 2026-11-23T08:00:00+07:00",
                              name);
    return 0;
}

/* "template": {"id", "data"} → m->tpl_id and m->tpl_data (borrowed; NULL when
 * absent). The template's existence and its placeholders are checked later,
 * against the store (gw_templates_use). 0 or MC_EINVAL. */
static int template_field(gw_api_err *e, const json_t *b, gw_api_message *m) {
    static const char *const allowed[] = {"id", "data", NULL};
    json_t *tp = json_object_get(b, "template");
    m->tpl_id = NULL;
    m->tpl_data = NULL;
    if (!tp || json_is_null(tp))
        return 0;
    if (!json_is_object(tp))
        return gw_api_err_set(e, 400, "bad_field", "template",
                              "template must be {\"id\": \"...\", \"data\": {...}}");
    if (gw_api_only_fields(e, tp, allowed, "template.", GW_API_CUT))
        return MC_EINVAL;
    size_t len = 0;
    if (gw_api_str_field(e, tp, "id", "template.id", GW_TPL_ID_MAX, true, &m->tpl_id, &len))
        return MC_EINVAL;
    if (!gw_tpl_id_ok(m->tpl_id, len))
        return gw_api_err_set(e, 400, "bad_field", "template.id",
                              "a template id is 1..%d of a-z, 0-9, _ and -", GW_TPL_ID_MAX);
    json_t *d = json_object_get(tp, "data");
    if (!d || json_is_null(d))
        return 0;
    if (!json_is_object(d))
        return gw_api_err_set(e, 400, "bad_field", "template.data",
                              "template.data must be an object of placeholder values");
    const char *k;
    json_t *v;
    json_object_foreach(d, k, v) {
        char path[sizeof e->field];
        gw_api_key_path(path, sizeof path, "template.data.", k, GW_API_CUT);
        if (json_is_string(v)) {
            size_t vl = json_string_length(v);
            if (vl > GW_API_TPL_VALUE_MAX)
                return gw_api_err_set(e, 400, "bad_field", path, "%s must be at most %d bytes",
                                      path, GW_API_TPL_VALUE_MAX);
            if (memchr(json_string_value(v), '\0', vl))
                return gw_api_err_set(e, 400, "bad_field", path, "%s must not contain NUL", path);
        } else if (!json_is_number(v))
            return gw_api_err_set(e, 400, "bad_field", path, "%s must be a string or a number",
                                  path);
    }
    m->tpl_data = d;
    return 0;
}

int gw_api_message_fields(gw_api_err *e, const json_t *b, gw_api_message *m) {
    size_t klen = 0;
    if (gw_api_str_field(e, b, "text", "text", GW_API_TEXT_MAX, false, &m->text, NULL) ||
        template_field(e, b, m) ||
        gw_api_str_field(e, b, "priority", "priority", PRIORITY_MAX, false, &m->priority, NULL) ||
        gw_api_str_field(e, b, "idempotency_key", "idempotency_key", GW_API_IDEM_KEY_MAX, false,
                         &m->idem_key, &klen))
        return MC_EINVAL;
    if (m->text && m->tpl_id)
        return gw_api_err_set(e, 400, "bad_field", "template", "give text or template, not both");
    if (!m->text && !m->tpl_id)
        return gw_api_err_set(e, 400, "missing_field", "text", "text (or template) is required");
    if (m->priority && strcmp(m->priority, "normal") && strcmp(m->priority, "urgent"))
        return gw_api_err_set(e, 400, "bad_field", "priority", "priority is normal or urgent");
    if (!m->priority)
        m->priority = "normal";
    if (m->idem_key && !gw_api_user_id_ok(m->idem_key, klen))
        return gw_api_err_set(e, 400, "bad_field", "idempotency_key",
                              "idempotency_key must be printable ASCII");
    return 0;
}

int gw_api_message_times(gw_api_err *e, const json_t *b, gw_api_message *m) {
    m->created_ms = m->send_at_ms = gw_now_ms();
    if (gw_api_time_field(e, b, "send_at", &m->send_at_ms) ||
        gw_api_time_field(e, b, "not_after", &m->not_after_ms))
        return MC_EINVAL;
    return 0;
}

/* ------------------------------------------------------------ validators */

static bool digits(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static int num(const char *s, size_t n) {
    int v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

static int days_in_month(int y, int m) {
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return d[m - 1];
}

bool gw_api_code_ok(const char *s, size_t len) {
    /* agency: 2..8 dot-separated segments of [0-9A-Z]{1,8}; -yymmdd-; 4..8 digits */
    if (len == 0 || len > GW_API_CODE_MAX)
        return false;
    const char *d1 = memchr(s, '-', len);
    if (!d1)
        return false;
    size_t alen = (size_t)(d1 - s), segs = 0, seglen = 0;
    for (size_t i = 0; i <= alen; i++) {
        if (i == alen || s[i] == '.') {
            if (seglen == 0 || seglen > 8)
                return false;
            segs++, seglen = 0;
        } else if ((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z'))
            seglen++;
        else
            return false;
    }
    if (segs < 2 || segs > 8)
        return false;
    const char *rest = d1 + 1;
    size_t rlen = len - alen - 1;
    if (rlen < 11 || rlen > 15 || rest[6] != '-' || !digits(rest, 6) || !digits(rest + 7, rlen - 7))
        return false;
    int mm = num(rest + 2, 2), dd = num(rest + 4, 2);
    return mm >= 1 && mm <= 12 && dd >= 1 && dd <= days_in_month(2000 + num(rest, 2), mm);
}

bool gw_api_phone_ok(const char *s, size_t len) {
    return len == 12 && !memcmp(s, "+84", 3) && digits(s + 3, 9) && strchr("35789", s[3]);
}

int gw_api_phone_normalize(const char *s, size_t len, char *out, size_t n) {
    char d[GW_API_PHONE_MAX + 8];
    size_t k = 0;
    bool plus = false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == ' ' || c == '.' || c == '-' || c == '(' || c == ')')
            continue; /* as citizens and spreadsheets write them */
        if (c == '+' && k == 0 && !plus) {
            plus = true;
            continue;
        }
        if (c < '0' || c > '9' || k + 1 >= sizeof d)
            return MC_EINVAL;
        d[k++] = c;
    }
    d[k] = '\0';
    char e164[GW_API_PHONE_MAX + 8] = "+84";
    if (!plus && k == 10 && d[0] == '0')     /* 0912345678 */
        memcpy(e164 + 3, d + 1, 10);         /* 9 digits and the NUL */
    else if (k == 11 && !memcmp(d, "84", 2)) /* 84912345678, +84912345678 */
        memcpy(e164 + 3, d + 2, 10);
    else
        return MC_EINVAL;
    if (!gw_api_phone_ok(e164, strlen(e164)) || n < strlen(e164) + 1)
        return MC_EINVAL;
    snprintf(out, n, "%s", e164);
    return 0;
}

bool gw_api_date_ok(const char *s, size_t len) {
    if (len != 10 || s[4] != '-' || s[7] != '-' || !digits(s, 4) || !digits(s + 5, 2) ||
        !digits(s + 8, 2))
        return false;
    int y = num(s, 4), m = num(s + 5, 2), d = num(s + 8, 2);
    return y >= 2000 && m >= 1 && m <= 12 && d >= 1 && d <= days_in_month(y, m);
}

bool gw_api_user_id_ok(const char *s, size_t len) {
    if (len == 0 || len > GW_API_USER_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] <= ' ' || s[i] > '~')
            return false;
    return true;
}

bool gw_api_channel_known(const char *c) {
    return gw_channel_known(c);
}

bool gw_api_id_ok(const char *s, size_t len, const char *chars) {
    if (len == 0 || len > GW_API_NOTIF_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!s[i] || !strchr(chars, s[i]))
            return false;
    return true;
}

const char *gw_api_path_rest(gw_req *rq, const char *prefix) {
    return gw_req_path(rq) + strlen(prefix);
}

/* --------------------------------------------------------- query strings */

int gw_api_query(const char *q, size_t qlen, const char *name, char *out, size_t n) {
    size_t nl = strlen(name);
    for (size_t i = 0; i < qlen;) {
        size_t end = i;
        while (end < qlen && q[end] != '&')
            end++;
        if (end - i > nl && !memcmp(q + i, name, nl) && q[i + nl] == '=') {
            size_t o = 0;
            for (size_t k = i + nl + 1; k < end; k++) {
                if (o + 1 >= n)
                    return MC_ETOOBIG;
                char c[2];
                /* a '%' without two hex digits after it stays as it is */
                if (q[k] == '%' && k + 2 < end && !ch_url_decode(q + k, 3, c, sizeof c, NULL)) {
                    out[o++] = c[0];
                    k += 2;
                } else
                    out[o++] = q[k] == '+' ? ' ' : q[k];
            }
            out[o] = '\0';
            return memchr(out, '\0', o) ? MC_EINVAL : 0;
        }
        i = end + 1;
    }
    return MC_ENOTFOUND;
}

int gw_api_query_long(const char *q, size_t qlen, const char *name, long def, long min, long max,
                      long *out) {
    char v[QUERY_LONG_DIGITS + 2]; /* room to see one digit too many */
    *out = def;
    int rc = gw_api_query(q, qlen, name, v, sizeof v);
    if (rc == MC_ENOTFOUND)
        return 0;
    size_t vl = rc ? 0 : strlen(v);
    if (vl == 0 || vl > QUERY_LONG_DIGITS || !digits(v, vl))
        return MC_EINVAL;
    long x = 0;
    for (size_t k = 0; k < vl; k++)
        x = x * 10 + (v[k] - '0');
    if (x < min || x > max)
        return MC_EINVAL;
    *out = x;
    return 0;
}

int gw_api_query_count(gw_req *rq, const char *name, long def, long max, long *out, const char *fmt,
                       ...) {
    size_t ql;
    const char *q = gw_req_query(rq, &ql);
    if (!gw_api_query_long(q, ql, name, def, 1, max, out))
        return 0;
    va_list ap;
    va_start(ap, fmt);
    gw_api_vfail(rq, 400, "bad_field", name, fmt, ap);
    va_end(ap);
    return MC_EINVAL;
}

/* ----------------------------------------------------------------- times */

/* floor(a / b) for b > 0 */
static int64_t fdiv(int64_t a, int64_t b) {
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static int64_t days_from_civil(int y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int gw_api_parse_time(const char *s, size_t len, int64_t *ms) {
    /* YYYY-MM-DDTHH:MM:SS[.fff]Z|±HH:MM */
    if (len < 20 || !gw_api_date_ok(s, 10) || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
        s[16] != ':' || !digits(s + 11, 2) || !digits(s + 14, 2) || !digits(s + 17, 2))
        return MC_EINVAL;
    int hh = num(s + 11, 2), mi = num(s + 14, 2), ss = num(s + 17, 2);
    if (hh > 23 || mi > 59 || ss > 59)
        return MC_EINVAL;
    size_t i = 19;
    int frac_ms = 0, scale = 100;
    if (s[i] == '.') {
        i++;
        size_t start = i;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            frac_ms += (s[i] - '0') * scale;
            scale /= 10;
            i++;
        }
        if (i == start || i - start > 9)
            return MC_EINVAL;
    }
    int64_t off_min = 0;
    if (i + 1 == len && (s[i] == 'Z' || s[i] == 'z'))
        off_min = 0;
    else if (i + 6 == len && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':' &&
             digits(s + i + 1, 2) && digits(s + i + 4, 2)) {
        int oh = num(s + i + 1, 2), om = num(s + i + 4, 2);
        if (oh > 23 || om > 59)
            return MC_EINVAL;
        off_min = (oh * 60 + om) * (s[i] == '-' ? -1 : 1);
    } else
        return MC_EINVAL;
    int64_t days = days_from_civil(num(s, 4), num(s + 5, 2), num(s + 8, 2));
    int64_t secs = days * 86400 + hh * 3600 + mi * 60 + ss - off_min * 60;
    *ms = secs * 1000 + frac_ms;
    return 0;
}

/* The configured zone ([scheduler] timezone), or NULL without a process (unit tests). */
static gw_tz *api_tz(const gw_api *a) {
    const gw_app *app = a ? gw_api_app(a) : NULL;
    return app ? app->tz : NULL;
}

void gw_api_format_time(const gw_api *a, int64_t ms, char *out, size_t n) {
    gw_tz *tz = api_tz(a);
    if (tz) {
        gw_tz_format(tz, ms, out, n);
        return;
    }
    time_t t = (time_t)fdiv(ms, 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char buf[GW_API_TIME_MAX];
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(out, n, "%s", buf);
}

int64_t gw_api_day(const gw_api *a, int64_t utc_ms) {
    gw_tz *tz = api_tz(a);
    return tz ? gw_tz_day(tz, utc_ms) : fdiv(utc_ms, DAY_MS);
}

int gw_api_parse_since(const gw_api *a, const char *s, int64_t *ms) {
    size_t len = strlen(s);
    if (len != 10)
        return gw_api_parse_time(s, len, ms);
    if (!gw_api_date_ok(s, len))
        return MC_EINVAL;
    /* local midnight: the zone's offset at UTC midnight of that day is the day's (no
     * zone this gateway serves changes its offset around midnight) */
    int64_t utc = days_from_civil(num(s, 4), num(s + 5, 2), num(s + 8, 2)) * DAY_MS;
    gw_tz *tz = api_tz(a);
    *ms = utc - (tz ? gw_tz_offset_ms(tz, utc) : 0);
    return 0;
}

/* ------------------------------------------------------------ ids, masks */

void gw_api_random_hex(char *out, size_t nbytes) {
    unsigned char b[RANDOM_MAX];
    if (nbytes > sizeof b)
        nbytes = sizeof b;
    if (RAND_bytes(b, (int)nbytes) != 1) { /* never expected; still unique enough */
        uint64_t x = (uint64_t)gw_now_ms() ^ (uint64_t)rand() << 20;
        for (size_t i = 0; i < nbytes; i++)
            b[i] = (unsigned char)(x >> (i % 8 * 8)) ^ (unsigned char)rand();
    }
    ch_hex(b, nbytes, out);
}

void gw_api_sha256_hex(const char *s, size_t len, char out[GW_API_HASH_HEX]) {
    unsigned char h[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)s, len, h);
    ch_hex(h, sizeof h, out);
}

void gw_api_mask_id(const char *s, size_t len, char *out, size_t n) {
    if (len <= 6)
        snprintf(out, n, "****");
    else
        snprintf(out, n, "%.2s****%.2s", s, s + len - 2);
}

void gw_api_mask(const char *to, char *out, size_t n) {
    if (!n)
        return;
    size_t len = strlen(to);
    if (len == 0)
        out[0] = '\0';
    else if (to[0] == '+')
        gw_mask_pii(to, len, out, n);
    else
        gw_api_mask_id(to, len, out, n);
}
