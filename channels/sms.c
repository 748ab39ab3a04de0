/*
 * sms.c — the SMS adapter: Twilio-style and Kannel-style inbound webhooks and
 * delivery reports, outbound through Twilio or Kannel, and segment counting.
 *
 * The big idea: the request says which style it is (Twilio POSTs a signed form,
 * Kannel GETs our get-url/dlr-url with a shared secret), while the configured
 * provider decides how we send. The text a citizen sees is cut, never silently
 * dropped: when a text costs more than max_segments it is shortened on a word
 * boundary and ends with "…" (or "..." for GSM-7 texts, where … does not exist)
 * followed by settings.more_text (for example a link to the dossier page). With
 * max_segments = 0 the hard limit SMS_HARD_MAX_SEGMENTS applies and a longer text
 * is refused with MC_ETOOBIG. Keywords (HUY, STOP, TRA ...) are the NLU's job:
 * the text is passed through untouched.
 *
 * Confirmed 2026-11-23 (stored copies via the search tool, and
 * ../shared/research/channel-facts.md §3):
 *   - twilio.com/docs/usage/webhooks/webhooks-security: X-Twilio-Signature =
 *     base64(HMAC-SHA1(auth token, the full URL Twilio called + every POST
 *     parameter name and value, sorted by name)); all received parameters must be
 *     used (Twilio adds new ones without notice; error 57012 lists the pitfalls).
 *   - Inbound form fields MessageSid, From, To, Body, NumMedia; status callbacks
 *     MessageSid + MessageStatus (queued, sending, sent, delivered, undelivered,
 *     failed, read, accepted, scheduled, canceled: Twilio's MessageEnumStatus).
 *   - Messages API: POST /2010-04-01/Accounts/{sid}/Messages.json, form To, From,
 *     Body, StatusCallback, HTTP basic auth; success 201 with "sid"; failures carry
 *     {"code","message","more_info","status"} (twilio.com/docs/api/errors/400).
 *     Codes: 20003 authentication, 20429 too many requests, 21211 invalid To,
 *     21408 region not enabled, 21606 / 21659 / 21660 bad From, 21610 unsubscribed
 *     recipient, 21612 unroutable To, 21614 To not mobile.
 *   - Kannel user guide (pruiz/kannel doc/userguide/userguide.xml): sendsms answers
 *     202 "0: Accepted for delivery" or 202 "3: Queued for later delivery" (both are
 *     accepted, not delivered), 4xx for bad requests, 503 "Temporal failure, try
 *     again later"; dlr-mask bits 1 delivered, 2 undelivered, 4 queued on SMSC,
 *     8 delivered to SMSC, 16 rejected by SMSC; dlr-url escapes %d (DLR value),
 *     %T (unix time); coding 0 = 7-bit, 2 = UCS-2; charset names the text's charset.
 *   - GSM 03.38: basic table and extension table (FF ^ { } \ [ ~ ] | €, two septets
 *     each); segments 160/153 (GSM-7) and 70/67 (UCS-2). Vietnamese letters with
 *     diacritics other than à è é ì ò ù (ă â đ ê ô ơ ư and the tone marks) are not
 *     in GSM-7, so accented Vietnamese is UCS-2 (MobiFone bills 160 / 70).
 */
#include "channels/sms.h"

#include "core/mc.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SMS_CHANNEL "sms"
#define SMS_SHA1_B64 28                   /* base64 of a 20-byte HMAC-SHA1 */
#define SMS_MAX_SMALL 256                 /* bytes of a decoded id/number/status parameter */
#define SMS_MAX_UNIX_S (INT64_MAX / 1000) /* largest DLR %T whose ms fit in ch_message.ts_ms */
#define SMS_ELLIPSIS_GSM "..."            /* … is not in GSM 03.38 */
#define SMS_ELLIPSIS_UCS2 "\xE2\x80\xA6"
#define SMS_BRANDNAME_MAX 11     /* characters of a registered brandname (vn-rules.md §6b) */
#define SMS_NUMBER_SENDER_MAX 16 /* bytes of a sender that is a number: "+" and 15 digits */

/* GSM 03.38 basic-table characters outside printable ASCII (ASCII is handled in code). */
static const unsigned gsm_basic_extra[] = {
    0x00A1, 0x00A3, 0x00A4, 0x00A5, 0x00A7, 0x00BF, 0x00C4, 0x00C5, 0x00C6, 0x00C7,
    0x00C9, 0x00D1, 0x00D6, 0x00D8, 0x00DC, 0x00DF, 0x00E0, 0x00E4, 0x00E5, 0x00E6,
    0x00E8, 0x00E9, 0x00EC, 0x00F1, 0x00F2, 0x00F6, 0x00F8, 0x00F9, 0x00FC, 0x0393,
    0x0394, 0x0398, 0x039B, 0x039E, 0x03A0, 0x03A3, 0x03A6, 0x03A8, 0x03A9,
};

/* GSM 03.38 extension table: each costs an escape plus the character. */
static const unsigned gsm_extension[] = {
    0x000C, 0x005B, 0x005C, 0x005D, 0x005E, 0x007B, 0x007C, 0x007D, 0x007E, 0x20AC,
};

/* Twilio MessageStatus → our status words; statuses not listed are skipped. */
static const struct {
    const char *twilio; /* Twilio's word */
    const char *ours;   /* ch_message.status */
} twilio_status[] = {
    {"accepted", "queued"}, {"scheduled", "queued"},
    {"queued", "queued"},   {"sending", "queued"},
    {"sent", "sent"},       {"delivered", "delivered"},
    {"read", "delivered"},  {"undelivered", "undelivered"},
    {"failed", "failed"},   {"canceled", "failed"},
};

/* Kannel DLR bits, most final first: the first bit set names the status. */
static const struct {
    int bit;            /* dlr-mask / %d bit */
    const char *status; /* ch_message.status */
} kannel_dlr[] = {
    {1, "delivered"}, {2, "undelivered"}, {16, "failed"}, {8, "sent"}, {4, "queued"},
};

/* Twilio error codes → verdicts; other 4xx codes are permanent without fallback. */
static const struct {
    int code;           /* Twilio "code" */
    ch_verdict verdict; /* what to do */
    int fallback;       /* CH_PERMANENT: try another channel */
    const char *reason; /* ch_result.reason */
} twilio_errors[] = {
    {21211, CH_PERMANENT, 1, "invalid_number"}, {21614, CH_PERMANENT, 1, "not_mobile"},
    {21610, CH_PERMANENT, 1, "unsubscribed"},   {21612, CH_PERMANENT, 1, "unreachable"},
    {21408, CH_PERMANENT, 1, "unreachable"},    {20003, CH_PERMANENT, 0, "auth"},
    {21606, CH_PERMANENT, 0, "bad_sender"},     {21659, CH_PERMANENT, 0, "bad_sender"},
    {21660, CH_PERMANENT, 0, "bad_sender"},     {20429, CH_RETRY, 0, "rate_limited"},
};

/* ---- counting ---- */

/* Decodes the code point at s (valid UTF-8) and returns its byte length. */
static size_t next_cp(const unsigned char *s, unsigned *cp) {
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if (s[0] < 0xE0) {
        *cp = ((unsigned)(s[0] & 0x1F) << 6) | (s[1] & 0x3F);
        return 2;
    }
    if (s[0] < 0xF0) {
        *cp = ((unsigned)(s[0] & 0x0F) << 12) | ((unsigned)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
        return 3;
    }
    *cp = ((unsigned)(s[0] & 0x07) << 18) | ((unsigned)(s[1] & 0x3F) << 12) |
          ((unsigned)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
    return 4;
}

static int in_table(const unsigned *t, size_t n, unsigned cp) {
    for (size_t i = 0; i < n; i++)
        if (t[i] == cp)
            return 1;
    return 0;
}

/* Septets a character costs in GSM-7 (1 or 2), or 0 when it is not in GSM 03.38. */
static int gsm_cost(unsigned cp) {
    if (in_table(gsm_extension, MC_ARRAY_LEN(gsm_extension), cp))
        return 2;
    if (cp == '\n' || cp == '\r' || (cp >= 0x20 && cp < 0x7F && cp != '`'))
        return 1;
    return in_table(gsm_basic_extra, MC_ARRAY_LEN(gsm_basic_extra), cp) ? 1 : 0;
}

int ch_sms_count(const char *text, size_t len, ch_sms_info *out) {
    memset(out, 0, sizeof(*out));
    out->encoding = "GSM-7";
    if (!ch_utf8_valid(text, len))
        return MC_EUTF8;
    const unsigned char *u = (const unsigned char *)text;
    int gsm = 1;
    for (size_t i = 0; i < len && gsm;) {
        unsigned cp;
        i += next_cp(u + i, &cp);
        gsm = gsm_cost(cp) > 0;
    }
    out->encoding = gsm ? "GSM-7" : "UCS-2";
    size_t single = gsm ? SMS_GSM_SINGLE : SMS_UCS2_SINGLE;
    size_t part = gsm ? SMS_GSM_PART : SMS_UCS2_PART;
    size_t cur = 0;
    int seg = 0;
    /* Two passes in one: total units, and parts packed so that an escape sequence or
     * a surrogate pair never straddles two parts. */
    for (size_t i = 0; i < len;) {
        unsigned cp;
        i += next_cp(u + i, &cp);
        size_t cost = gsm ? (size_t)gsm_cost(cp) : (cp > 0xFFFF ? 2 : 1);
        out->chars++;
        out->units += cost;
        if (seg == 0 || cur + cost > part) {
            seg++;
            cur = 0;
        }
        cur += cost;
    }
    out->segments = out->units == 0 ? 0 : out->units <= single ? 1 : seg;
    return 0;
}

int ch_sms_culprits(const char *text, size_t len, char *out, size_t cap) {
    if (cap)
        out[0] = '\0';
    if (!ch_utf8_valid(text, len))
        return MC_EUTF8;
    const unsigned char *u = (const unsigned char *)text;
    size_t used = 0;
    int n = 0;
    for (size_t i = 0; i < len;) {
        unsigned cp;
        size_t w = (size_t)next_cp(u + i, &cp);
        const char *c = text + i;
        i += w;
        if (gsm_cost(cp) > 0)
            continue;
        /* seen before: in out (whole characters only, so a byte match is a character
         * match), or, once out is full, earlier in the text */
        int seen = 0, full = n > 0 && used + 4 >= cap;
        for (size_t k = 0; k + w <= used && !seen; k++)
            seen = !memcmp(out + k, c, w);
        for (size_t k = 0; full && k + w <= (size_t)(c - text) && !seen; k++)
            seen = !memcmp(text + k, c, w);
        if (seen)
            continue;
        n++;
        if (used + w < cap) {
            memcpy(out + used, c, w);
            out[used += w] = '\0';
        }
    }
    return n;
}

/* ---- phone numbers ---- */

int ch_sms_normalize_phone(const char *in, size_t len, char *out, size_t cap) {
    if (len == 0 || len >= CH_MAX_ID || cap < 2)
        return MC_EINVAL;
    char d[CH_MAX_ID];
    size_t n = 0;
    int plus = 0, numeric = 1;
    for (size_t i = 0; i < len && numeric; i++) {
        char c = in[i];
        if (c >= '0' && c <= '9')
            d[n++] = c;
        else if (c == '+' && n == 0 && !plus)
            plus = 1;
        else if (c != ' ' && c != '.' && c != '-' && c != '(' && c != ')')
            numeric = 0;
    }
    if (!numeric || n == 0) { /* a brand name or something else: unchanged */
        if (len + 1 > cap)
            return MC_EINVAL;
        memcpy(out, in, len);
        out[len] = '\0';
        return 0;
    }
    d[n] = '\0';
    const char *digits = d;
    if (!plus && n > 2 && d[0] == '0' && d[1] == '0') { /* 00 = international prefix */
        digits = d + 2;
        plus = 1;
    }
    size_t dn = strlen(digits);
    size_t vcl = sizeof(SMS_VN_COUNTRY) - 1;
    int written;
    if (!plus && digits[0] == '0' && (dn == 10 || dn == 11)) /* 0912345678, 02838...: local */
        written = snprintf(out, cap, "+%s%s", SMS_VN_COUNTRY, digits + 1);
    else if (!plus && strncmp(digits, SMS_VN_COUNTRY, vcl) == 0 && (dn == 11 || dn == 12))
        written = snprintf(out, cap, "+%s", digits);
    else if (plus)
        written = snprintf(out, cap, "+%s", digits);
    else /* short codes */
        written = snprintf(out, cap, "%s", digits);
    return written < 0 || (size_t)written >= cap ? MC_EINVAL : 0;
}

/* ---- verify ---- */

typedef struct sms_param {
    char *name;  /* decoded, NUL-terminated (inside one arena) */
    size_t nlen; /* bytes */
    char *value; /* decoded */
    size_t vlen; /* bytes */
} sms_param;

static int cmp_param(const void *a, const void *b) {
    const sms_param *x = a, *y = b;
    size_t n = x->nlen < y->nlen ? x->nlen : y->nlen;
    int c = memcmp(x->name, y->name, n);
    if (c != 0 || x->nlen != y->nlen)
        return c != 0 ? c : (x->nlen < y->nlen ? -1 : 1);
    n = x->vlen < y->vlen ? x->vlen : y->vlen;
    c = memcmp(x->value, y->value, n);
    if (c != 0 || x->vlen == y->vlen)
        return c;
    return x->vlen < y->vlen ? -1 : 1;
}

/* Twilio: base64(HMAC-SHA1(auth token, URL + sorted name/value pairs)). */
static int verify_twilio(const ch_settings *s, const ch_request *req, char *err, size_t errlen) {
    if (ch_empty(s->auth_token) || ch_empty(s->public_url))
        return ch_fail(err, errlen, MC_EINVAL, "sms auth_token and public_url must be configured");
    size_t hl = 0;
    const char *h = ch_req_header(req, "X-Twilio-Signature", &hl);
    if (h == NULL || hl == 0)
        return ch_fail(err, errlen, MC_EINVAL, "header X-Twilio-Signature missing");
    /* Decoded pairs never exceed the raw body: one arena of body_len + 2 NULs a pair. */
    sms_param params[SMS_MAX_PARAMS];
    size_t np = 0;
    char *arena = malloc(req->body_len + 2 * SMS_MAX_PARAMS + 1);
    ch_buf msg = {0};
    int rc = MC_ENOMEM;
    if (arena == NULL)
        goto fail;
    size_t used = 0;
    const char *cur = req->body, *end = req->body + req->body_len;
    ch_pair p;
    while (ch_form_next(&cur, end, &p)) {
        if (np >= SMS_MAX_PARAMS) {
            rc = ch_fail(err, errlen, MC_EINVAL, "more than %d form parameters", SMS_MAX_PARAMS);
            goto fail;
        }
        sms_param *q = &params[np++];
        q->name = arena + used;
        if (ch_url_decode(p.name, p.name_len, q->name, p.name_len + 1, &q->nlen) < 0)
            goto bad_form;
        used += q->nlen + 1;
        q->value = arena + used;
        if (ch_url_decode(p.value, p.value_len, q->value, p.value_len + 1, &q->vlen) < 0)
            goto bad_form;
        used += q->vlen + 1;
    }
    qsort(params, np, sizeof params[0], cmp_param);
    size_t ul = strlen(s->public_url);
    while (ul > 0 && s->public_url[ul - 1] == '/')
        ul--;
    ch_buf_put(&msg, s->public_url, ul);
    ch_buf_puts(&msg, req->path ? req->path : "");
    if (req->query_len > 0) {
        ch_buf_puts(&msg, "?");
        ch_buf_put(&msg, req->query, req->query_len);
    }
    for (size_t i = 0; i < np; i++) {
        ch_buf_put(&msg, params[i].name, params[i].nlen);
        ch_buf_put(&msg, params[i].value, params[i].vlen);
    }
    if (msg.oom)
        goto fail;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    if (HMAC(EVP_sha1(), s->auth_token, (int)strlen(s->auth_token), (const unsigned char *)msg.p,
             msg.len, mac, &maclen) == NULL)
        goto fail;
    char want[64];
    if (ch_base64(mac, maclen, want, sizeof want) != SMS_SHA1_B64)
        goto fail;
    while (hl > 0 && (h[hl - 1] == ' ' || h[hl - 1] == '\t'))
        hl--;
    if (!ch_ct_equal(want, SMS_SHA1_B64, h, hl)) {
        rc = ch_fail(err, errlen, MC_EINVAL, "X-Twilio-Signature does not match");
        goto done;
    }
    rc = 0;
    goto done;
bad_form:
    rc = ch_fail(err, errlen, MC_EINVAL, "form parameter %zu has a bad %% escape", np - 1);
    goto done;
fail:
    if (rc == MC_ENOMEM)
        ch_fail(err, errlen, rc, "out of memory");
done:
    ch_buf_free(&msg);
    free(arena);
    return rc;
}

/* Is addr in the comma-separated list? An empty list allows every address. */
static int addr_allowed(const char *list, const char *addr) {
    if (ch_empty(list))
        return 1;
    if (ch_empty(addr))
        return 0;
    size_t al = strlen(addr);
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',' && *e != ' ')
            e++;
        if ((size_t)(e - p) == al && memcmp(p, addr, al) == 0)
            return 1;
        p = e;
    }
    return 0;
}

/* Kannel: a shared `secret` parameter, compared in constant time, and the peer address. */
static int verify_kannel(const ch_settings *s, const ch_request *req, char *err, size_t errlen) {
    if (ch_empty(s->shared_secret))
        return ch_fail(err, errlen, MC_EINVAL, "sms shared_secret is not configured");
    if (!addr_allowed(s->allowed_addrs, req->remote_addr))
        return ch_fail(err, errlen, MC_EINVAL, "peer %.64s is not an allowed Kannel address",
                       req->remote_addr ? req->remote_addr : "(unknown)");
    char got[SMS_MAX_SMALL];
    size_t gl = 0;
    int rc = ch_form_get(req->query, req->query_len, "secret", got, sizeof got, &gl);
    if (rc < 0)
        return ch_fail(err, errlen, MC_EINVAL, "parameter secret missing or malformed");
    if (!ch_ct_equal(got, gl, s->shared_secret, strlen(s->shared_secret)))
        return ch_fail(err, errlen, MC_EINVAL, "parameter secret does not match");
    return 0;
}

static int sms_verify(const ch_settings *s, const ch_request *req, char *err, size_t errlen) {
    if (req->body_len > CH_MAX_BODY)
        return ch_fail(err, errlen, MC_ETOOBIG, "body larger than %d bytes", CH_MAX_BODY);
    if (req->method != NULL && strcmp(req->method, "POST") == 0)
        return verify_twilio(s, req, err, errlen);
    if (req->method != NULL && strcmp(req->method, "GET") == 0)
        return verify_kannel(s, req, err, errlen);
    return ch_fail(err, errlen, MC_EINVAL, "method must be POST (Twilio) or GET (Kannel)");
}

/* ---- parse ---- */

/* A small decoded parameter into buf[SMS_MAX_SMALL]; 1 when present, 0 absent, <0 error. */
static int small(const char *form, size_t len, const char *name, char *buf, size_t *bl, char *err,
                 size_t errlen) {
    int rc = ch_form_get(form, len, name, buf, SMS_MAX_SMALL, bl);
    if (rc == MC_ENOTFOUND)
        return 0;
    if (rc == MC_ETOOBIG)
        return ch_fail(err, errlen, MC_EINVAL, "parameter %s longer than %d bytes", name,
                       SMS_MAX_SMALL - 1);
    if (rc < 0)
        return ch_fail(err, errlen, MC_EINVAL, "parameter %s has a bad %% escape", name);
    if (memchr(buf, '\0', *bl) != NULL || !ch_utf8_valid(buf, *bl))
        return ch_fail(err, errlen, MC_EINVAL, "parameter %s is not valid UTF-8", name);
    return 1;
}

static int need(const char *form, size_t len, const char *name, char *buf, size_t *bl, char *err,
                size_t errlen) {
    int rc = small(form, len, name, buf, bl, err, errlen);
    if (rc == 0 || (rc > 0 && *bl == 0))
        return ch_fail(err, errlen, MC_EINVAL, "parameter %s missing", name);
    return rc < 0 ? rc : 0;
}

static int copy_id(char *dst, const char *src, size_t len, const char *name, char *err,
                   size_t errlen) {
    if (len >= CH_MAX_ID)
        return ch_fail(err, errlen, MC_EINVAL, "parameter %s longer than %d bytes", name,
                       CH_MAX_ID - 1);
    memcpy(dst, src, len);
    dst[len] = '\0';
    return 0;
}

static int phone(char *dst, const char *src, size_t len, const char *name, char *err,
                 size_t errlen) {
    if (ch_sms_normalize_phone(src, len, dst, CH_MAX_ID) < 0)
        return ch_fail(err, errlen, MC_EINVAL, "parameter %s is not a usable phone number", name);
    return 0;
}

/* The message text, decoded into an owned buffer. */
static int text_param(const char *form, size_t len, const char *name, ch_message *m, char *err,
                      size_t errlen) {
    char *t = malloc(len + 1);
    if (t == NULL)
        return ch_fail(err, errlen, MC_ENOMEM, "out of memory");
    size_t tl = 0;
    int rc = ch_form_get(form, len, name, t, len + 1, &tl);
    if (rc == MC_ENOTFOUND) {
        free(t);
        return ch_fail(err, errlen, MC_EINVAL, "parameter %s missing", name);
    }
    if (rc < 0 || memchr(t, '\0', tl) != NULL || !ch_utf8_valid(t, tl)) {
        free(t);
        return ch_fail(err, errlen, MC_EINVAL, "parameter %s is malformed or not UTF-8", name);
    }
    m->text = t;
    m->text_len = tl;
    return 0;
}

/* An inbound text in either style, its parameters named from, to and text: the sender's
 * number normalized, the recipient as given, the text decoded. */
static int parse_text(const char *form, size_t len, const char *from, const char *to,
                      const char *text, ch_message *m, char *err, size_t errlen) {
    char buf[SMS_MAX_SMALL];
    size_t bl;
    int rc = need(form, len, from, buf, &bl, err, errlen);
    if (rc == 0)
        rc = phone(m->sender, buf, bl, from, err, errlen);
    if (rc == 0)
        rc = need(form, len, to, buf, &bl, err, errlen);
    if (rc == 0)
        rc = copy_id(m->recipient, buf, bl, to, err, errlen);
    if (rc == 0)
        rc = text_param(form, len, text, m, err, errlen);
    if (rc == 0)
        m->kind = CH_EV_TEXT;
    return rc;
}

static int parse_twilio(const ch_request *req, ch_message *m, int *skip, char *err, size_t errlen) {
    const char *f = req->body;
    size_t fl = req->body_len;
    char buf[SMS_MAX_SMALL];
    size_t bl;
    int rc = need(f, fl, "MessageSid", buf, &bl, err, errlen);
    if (rc == 0)
        rc = copy_id(m->provider_id, buf, bl, "MessageSid", err, errlen);
    if (rc < 0)
        return rc;
    int st = small(f, fl, "MessageStatus", buf, &bl, err, errlen);
    if (st < 0)
        return st;
    /* "received"/"receiving" describe the citizen's own message: parse it as inbound. */
    if (st > 0 && strcmp(buf, "received") != 0 && strcmp(buf, "receiving") != 0) {
        /* A status callback about OUR message: the citizen is To. */
        m->kind = CH_EV_STATUS;
        const char *ours = NULL;
        for (size_t i = 0; i < MC_ARRAY_LEN(twilio_status) && ours == NULL; i++)
            if (strcmp(buf, twilio_status[i].twilio) == 0)
                ours = twilio_status[i].ours;
        if (ours == NULL) { /* partially_delivered and future words: not tracked */
            *skip = 1;
            return 0;
        }
        snprintf(m->status, sizeof m->status, "%s", ours);
        rc = small(f, fl, "To", buf, &bl, err, errlen);
        if (rc > 0 && bl > 0)
            rc = phone(m->sender, buf, bl, "To", err, errlen);
        if (rc >= 0 && (rc = small(f, fl, "From", buf, &bl, err, errlen)) > 0 && bl > 0)
            rc = copy_id(m->recipient, buf, bl, "From", err, errlen);
        return rc < 0 ? rc : 0;
    }
    rc = parse_text(f, fl, "From", "To", "Body", m, err, errlen);
    if (rc < 0)
        return rc;
    int media = small(f, fl, "NumMedia", buf, &bl, err, errlen);
    if (media < 0)
        return media;
    if (media > 0 && strcmp(buf, "0") != 0 && m->text_len == 0)
        m->kind = CH_EV_UNSUPPORTED; /* a picture without words (MMS) */
    return 0;
}

static int parse_kannel(const ch_request *req, ch_message *m, char *err, size_t errlen) {
    const char *q = req->query;
    size_t ql = req->query_len;
    char buf[SMS_MAX_SMALL];
    size_t bl;
    int rc = small(q, ql, "type", buf, &bl, err, errlen);
    if (rc < 0)
        return rc;
    int dlr = rc > 0 && strcmp(buf, "dlr") == 0;
    rc = need(q, ql, "id", buf, &bl, err, errlen);
    if (rc == 0)
        rc = copy_id(m->provider_id, buf, bl, "id", err, errlen);
    if (rc < 0)
        return rc;
    if (dlr) {
        /* The dlr-url we render: type=dlr&id=<tracking id>&status=%d&ts=%T&to=<digits>. */
        m->kind = CH_EV_STATUS;
        rc = need(q, ql, "status", buf, &bl, err, errlen);
        if (rc < 0)
            return rc;
        char *endp;
        long v = strtol(buf, &endp, 10);
        if (*endp != '\0' || v <= 0 || v > 0xFF)
            return ch_fail(err, errlen, MC_EINVAL, "parameter status is not a Kannel DLR value");
        for (size_t i = 0; i < MC_ARRAY_LEN(kannel_dlr) && m->status[0] == '\0'; i++)
            if (v & kannel_dlr[i].bit)
                snprintf(m->status, sizeof m->status, "%s", kannel_dlr[i].status);
        if (m->status[0] == '\0')
            return ch_fail(err, errlen, MC_EINVAL, "parameter status %ld has no known DLR bit", v);
        rc = small(q, ql, "ts", buf, &bl, err, errlen);
        if (rc < 0)
            return rc;
        long long ts = rc > 0 ? strtoll(buf, &endp, 10) : 0;
        /* Seconds whose ms do not fit in ts_ms are no time (strtoll clamps overflow). */
        if (rc > 0 && (*endp != '\0' || ts <= 0 || ts > SMS_MAX_UNIX_S))
            return ch_fail(err, errlen, MC_EINVAL, "parameter ts is not a unix time");
        if (rc > 0)
            m->ts_ms = (int64_t)ts * 1000;
        rc = small(q, ql, "to", buf, &bl, err, errlen);
        if (rc > 0 && bl > 0)
            rc = phone(m->sender, buf, bl, "to", err, errlen);
        return rc < 0 ? rc : 0;
    }
    return parse_text(q, ql, "from", "to", "text", m, err, errlen);
}

static int sms_parse(const ch_settings *s, const ch_request *req, ch_message *out, size_t *n,
                     char *err, size_t errlen) {
    (void)s;
    *n = 0;
    if (req->body_len > CH_MAX_BODY)
        return ch_fail(err, errlen, MC_ETOOBIG, "body larger than %d bytes", CH_MAX_BODY);
    ch_message *m = &out[0];
    memset(m, 0, sizeof(*m));
    m->channel = SMS_CHANNEL;
    m->ts_ms = req->now_ms;
    int rc, skip = 0;
    if (req->method != NULL && strcmp(req->method, "POST") == 0)
        rc = parse_twilio(req, m, &skip, err, errlen);
    else if (req->method != NULL && strcmp(req->method, "GET") == 0)
        rc = parse_kannel(req, m, err, errlen);
    else
        rc = ch_fail(err, errlen, MC_EINVAL, "method must be POST (Twilio) or GET (Kannel)");
    if (rc < 0 || skip) {
        ch_message_clear(m);
        return rc;
    }
    *n = 1;
    return 0;
}

/* ---- render ---- */

/*
 * Shortens text so that text + suffix costs at most `limit` segments: the longest
 * prefix (in code points) that fits, pulled back to the last space when one lies in
 * its second half. Returns an owned string.
 */
static char *cut_text(const char *text, size_t len, const char *suffix, int limit,
                      size_t *out_len) {
    size_t sl = strlen(suffix);
    char *buf = malloc(len + sl + 1);
    if (buf == NULL)
        return NULL;
    size_t total = ch_utf8_count(text, len);
    size_t lo = 0, hi = total;
    /* Largest k with segments(prefix(k) + suffix) <= limit (monotone in k). */
    while (lo < hi) {
        size_t mid = lo + (hi - lo + 1) / 2;
        size_t pb = ch_utf8_prefix(text, len, mid);
        memcpy(buf, text, pb);
        memcpy(buf + pb, suffix, sl);
        ch_sms_info info;
        ch_sms_count(buf, pb + sl, &info);
        if (info.segments <= limit)
            lo = mid;
        else
            hi = mid - 1;
    }
    size_t pb = ch_utf8_prefix(text, len, lo);
    size_t sp = pb;
    while (sp > 0 && text[sp - 1] != ' ' && text[sp - 1] != '\n')
        sp--;
    if (pb < len && sp > pb / 2)
        pb = sp;
    while (pb > 0 && (text[pb - 1] == ' ' || text[pb - 1] == '\n' || text[pb - 1] == '\r'))
        pb--;
    memcpy(buf, text, pb);
    memcpy(buf + pb, suffix, sl + 1);
    *out_len = pb + sl;
    return buf;
}

static void put_param(ch_buf *b, const char *name, const char *value, size_t vlen) {
    if (b->len > 0)
        ch_buf_puts(b, "&");
    ch_buf_puts(b, name);
    ch_buf_puts(b, "=");
    ch_buf_urlenc(b, value, vlen);
}

static int render_twilio(const ch_settings *s, const ch_outgoing *msg, const char *text, size_t len,
                         ch_http *h, char *err, size_t errlen) {
    if (ch_empty(s->account_sid) || ch_empty(s->auth_token) || ch_empty(s->sender))
        return ch_fail(err, errlen, MC_EINVAL,
                       "sms account_sid, auth_token and sender must be configured for twilio");
    for (const char *p = s->account_sid; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
            return ch_fail(err, errlen, MC_EINVAL, "sms account_sid must be alphanumeric");
    char to[CH_MAX_ID];
    if (ch_sms_normalize_phone(msg->recipient, strlen(msg->recipient), to, sizeof to) < 0)
        return ch_fail(err, errlen, MC_EINVAL, "recipient is not a usable phone number");
    ch_buf url = {0}, body = {0};
    ch_buf_base(&url, s->api_base);
    ch_buf_puts(&url, "/2010-04-01/Accounts/");
    ch_buf_puts(&url, s->account_sid);
    ch_buf_puts(&url, "/Messages.json");
    put_param(&body, "To", to, strlen(to));
    put_param(&body, "From", s->sender, strlen(s->sender));
    put_param(&body, "Body", text, len);
    if (!ch_empty(s->status_callback))
        put_param(&body, "StatusCallback", s->status_callback, strlen(s->status_callback));
    h->url = ch_buf_take(&url, NULL);
    h->body = ch_buf_take(&body, &h->body_len);
    snprintf(h->method, sizeof h->method, "POST");
    if (h->url == NULL || h->body == NULL)
        return ch_fail(err, errlen, MC_ENOMEM, "out of memory");
    /* Basic credentials: base64("sid:token"). */
    size_t il = strlen(s->account_sid), tl = strlen(s->auth_token);
    char *cred = malloc(il + tl + 2);
    size_t b64cap = (il + tl + 3) / 3 * 4 + 1;
    char *b64 = malloc(b64cap + sizeof "Basic ");
    int rc = MC_ENOMEM;
    if (cred != NULL && b64 != NULL) {
        memcpy(cred, s->account_sid, il);
        cred[il] = ':';
        memcpy(cred + il + 1, s->auth_token, tl);
        memcpy(b64, "Basic ", 6);
        rc = ch_base64((const unsigned char *)cred, il + tl + 1, b64 + 6, b64cap);
        rc = rc < 0 ? rc : ch_http_header(h, "Authorization", b64);
    }
    if (rc == 0)
        rc = ch_http_header(h, "Content-Type", "application/x-www-form-urlencoded");
    if (cred != NULL)
        memset(cred, 0, il + tl + 1); /* do not leave the token in freed memory */
    free(cred);
    free(b64);
    return rc < 0 ? ch_fail(err, errlen, rc, "cannot build the request headers") : 0;
}

static int render_kannel(const ch_settings *s, const ch_outgoing *msg, const char *text, size_t len,
                         int ucs2, ch_http *h, char *err, size_t errlen) {
    if (ch_empty(s->username) || ch_empty(s->password))
        return ch_fail(err, errlen, MC_EINVAL, "sms username and password must be configured");
    ch_buf url = {0}, q = {0}, dlr = {0};
    ch_buf_base(&url, s->api_base);
    ch_buf_puts(&url, "/cgi-bin/sendsms?");
    put_param(&q, "username", s->username, strlen(s->username));
    put_param(&q, "password", s->password, strlen(s->password));
    if (!ch_empty(s->sender))
        put_param(&q, "from", s->sender, strlen(s->sender));
    put_param(&q, "to", msg->recipient, strlen(msg->recipient));
    put_param(&q, "text", text, len);
    put_param(&q, "charset", "UTF-8", 5);
    put_param(&q, "coding", ucs2 ? "2" : "0", 1);
    put_param(&q, "dlr-mask", SMS_DLR_MASK, strlen(SMS_DLR_MASK));
    /* Kannel calls the dlr-url back with %d and %T filled in; the tracking id and
     * the shared secret let GET /webhook/sms verify and match the report. */
    if (!ch_empty(s->status_callback) && !ch_empty(msg->tracking_id)) {
        ch_buf_puts(&dlr, s->status_callback);
        ch_buf_puts(&dlr, strchr(s->status_callback, '?') ? "&" : "?");
        ch_buf_puts(&dlr, "type=dlr&id=");
        ch_buf_urlenc(&dlr, msg->tracking_id, strlen(msg->tracking_id));
        ch_buf_puts(&dlr, "&status=%d&ts=%T");
        /* the citizen, so that the report lands in their partition where the delivery
         * record is; digits only: a '%' would be one of Kannel's escapes */
        const char *rc_digits = msg->recipient + (msg->recipient[0] == '+');
        if (*rc_digits && strspn(rc_digits, "0123456789") == strlen(rc_digits)) {
            ch_buf_puts(&dlr, "&to=");
            ch_buf_puts(&dlr, rc_digits);
        }
        if (!ch_empty(s->shared_secret)) {
            ch_buf_puts(&dlr, "&secret=");
            ch_buf_urlenc(&dlr, s->shared_secret, strlen(s->shared_secret));
        }
        if (!dlr.oom)
            put_param(&q, "dlr-url", dlr.p, dlr.len);
    }
    ch_buf_put(&url, q.p ? q.p : "", q.len);
    int oom = q.oom || dlr.oom;
    ch_buf_free(&q);
    ch_buf_free(&dlr);
    h->url = ch_buf_take(&url, NULL);
    snprintf(h->method, sizeof h->method, "GET");
    if (oom || h->url == NULL)
        return ch_fail(err, errlen, MC_ENOMEM, "out of memory");
    return 0;
}

static int sms_render(const ch_settings *s, const ch_outgoing *msg, ch_http *out, size_t max_out,
                      size_t *n, char *err, size_t errlen) {
    *n = 0;
    if (max_out < 1)
        return ch_fail(err, errlen, MC_ETOOBIG, "no room for the request");
    int twilio = !ch_empty(s->provider) && strcmp(s->provider, "twilio") == 0;
    int kannel = !ch_empty(s->provider) && strcmp(s->provider, "kannel") == 0;
    if (!twilio && !kannel)
        return ch_fail(err, errlen, MC_EINVAL, "sms provider must be \"twilio\" or \"kannel\"");
    if (ch_empty(s->api_base))
        return ch_fail(err, errlen, MC_EINVAL, "sms api_base is not configured");
    if (ch_empty(msg->recipient) || strlen(msg->recipient) >= CH_MAX_ID)
        return ch_fail(err, errlen, MC_EINVAL, "recipient phone missing or too long");
    if (msg->text == NULL)
        return ch_fail(err, errlen, MC_EINVAL, "text missing");
    ch_sms_info info;
    if (ch_sms_count(msg->text, msg->text_len, &info) < 0)
        return ch_fail(err, errlen, MC_EUTF8, "text is not valid UTF-8");
    if (ch_space_prefix(msg->text, msg->text_len) == msg->text_len)
        return ch_fail(err, errlen, MC_EINVAL, "text is empty");
    int limit = s->max_segments > 0 && s->max_segments < SMS_HARD_MAX_SEGMENTS
                    ? s->max_segments
                    : SMS_HARD_MAX_SEGMENTS;
    const char *text = msg->text;
    size_t len = msg->text_len;
    char *owned = NULL;
    if (info.segments > limit) {
        if (s->max_segments <= 0)
            return ch_fail(err, errlen, MC_ETOOBIG,
                           "text costs %d %s segments, more than the limit of %d", info.segments,
                           info.encoding, SMS_HARD_MAX_SEGMENTS);
        ch_buf suffix = {0};
        ch_buf_puts(&suffix,
                    strcmp(info.encoding, "GSM-7") == 0 ? SMS_ELLIPSIS_GSM : SMS_ELLIPSIS_UCS2);
        if (!ch_empty(s->more_text))
            ch_buf_puts(&suffix, s->more_text);
        char *sfx = ch_buf_take(&suffix, NULL);
        if (sfx == NULL)
            return ch_fail(err, errlen, MC_ENOMEM, "out of memory");
        if (!ch_utf8_valid(sfx, strlen(sfx))) {
            free(sfx);
            return ch_fail(err, errlen, MC_EINVAL, "sms more_text is not valid UTF-8");
        }
        owned = cut_text(msg->text, msg->text_len, sfx, limit, &len);
        free(sfx);
        if (owned == NULL)
            return ch_fail(err, errlen, MC_ENOMEM, "out of memory");
        text = owned;
        ch_sms_count(text, len, &info);
        if (info.segments > limit) {
            free(owned);
            return ch_fail(err, errlen, MC_ETOOBIG,
                           "sms more_text alone needs more than %d segments", limit);
        }
    }
    ch_http *h = &out[0];
    memset(h, 0, sizeof(*h));
    int rc = twilio ? render_twilio(s, msg, text, len, h, err, errlen)
                    : render_kannel(s, msg, text, len, strcmp(info.encoding, "UCS-2") == 0, h, err,
                                    errlen);
    free(owned);
    if (rc < 0) {
        ch_http_clear(h);
        return rc;
    }
    h->segments = info.segments;
    h->encoding = info.encoding;
    *n = 1;
    return 0;
}

/* ---- classify ---- */

static void classify_twilio(int status, const char *body, size_t body_len, ch_result *out) {
    json_t *root;
    if (ch_classify_json(status, body, body_len, "sid", out, &root))
        return;
    json_t *c = json_object_get(root, "code");
    int code = json_is_integer(c) ? (int)json_integer_value(c) : 0;
    char safe[120];
    ch_json_safe(json_object_get(root, "message"), safe, sizeof safe);
    snprintf(out->detail, sizeof out->detail, "%d: %s", code, safe);
    out->verdict = CH_PERMANENT;
    snprintf(out->reason, sizeof out->reason, "%s", out->detail);
    for (size_t i = 0; i < MC_ARRAY_LEN(twilio_errors); i++)
        if (twilio_errors[i].code == code) {
            out->verdict = twilio_errors[i].verdict;
            out->fallback = twilio_errors[i].fallback;
            snprintf(out->reason, sizeof out->reason, "%s", twilio_errors[i].reason);
            break;
        }
    json_decref(root);
}

static void classify_kannel(int status, const char *body, size_t body_len, ch_result *out) {
    char safe[120];
    ch_safe_copy(safe, sizeof safe, body ? body : "", body ? body_len : 0);
    snprintf(out->detail, sizeof out->detail, "HTTP %d: %s", status, safe);
    if (status >= 200 && status < 300) {
        /* "0: Accepted for delivery" or "3: Queued for later delivery": accepted, the
         * DLR tells the rest. Kannel gives no id: the report carries our tracking id. */
        out->verdict = CH_SENT;
        snprintf(out->reason, sizeof out->reason,
                 body_len >= 2 && body[0] == '3' && body[1] == ':' ? "queued" : "accepted");
        return;
    }
    out->verdict = CH_PERMANENT;
    if (status == 401 || status == 403)
        snprintf(out->reason, sizeof out->reason, "auth");
    else
        snprintf(out->reason, sizeof out->reason, "%s", out->detail);
}

static void sms_classify(int status, const char *body, size_t body_len, const char *retry_after,
                         ch_result *out) {
    memset(out, 0, sizeof(*out));
    if (body == NULL || body_len > CH_MAX_BODY)
        body_len = 0;
    size_t i = 0;
    while (i < body_len && (body[i] == ' ' || body[i] == '\n' || body[i] == '\r'))
        i++;
    int json = i < body_len && body[i] == '{';
    if (ch_classify_transport(status, retry_after, out))
        return;
    if (json)
        classify_twilio(status, body, body_len, out);
    else
        classify_kannel(status, body, body_len, out);
    if (out->verdict == CH_RETRY)
        out->retry_after_ms = ch_retry_after_ms(retry_after, ch_now_ms());
}

/* ---- configuration, policy, webhook ---- */

static const ch_key sms_keys[] = {
    {"enabled", CH_KT_BOOL, "false", 0, 0, NULL, offsetof(ch_settings, enabled)},
    {"provider", CH_KT_ENUM, "twilio", 0, 0, "twilio|kannel", offsetof(ch_settings, provider)},
    {"account_sid", CH_KT_STR, "", 0, 0, NULL, offsetof(ch_settings, account_sid)},
    {"auth_token", CH_KT_STR, "", 0, 0, NULL, offsetof(ch_settings, auth_token)},
    {"username", CH_KT_STR, "", 0, 0, NULL, offsetof(ch_settings, username)},
    {"password", CH_KT_STR, "", 0, 0, NULL, offsetof(ch_settings, password)},
    {"shared_secret", CH_KT_STR, "", 0, 0, NULL, offsetof(ch_settings, shared_secret)},
    {"api_base", CH_KT_URL, "", 0, 0, NULL, offsetof(ch_settings, api_base)},
    {"sender", CH_KT_STR, "", 0, 0, NULL, offsetof(ch_settings, sender)},
    {"unaccented", CH_KT_BOOL, "true", 0, 0, NULL, offsetof(ch_settings, unaccented)},
    {"quiet_hours", CH_KT_HOURS, "21:00-07:00", 0, 0, NULL, offsetof(ch_settings, quiet_hours)},
    /* a notice about the citizen's own dossier is a transaction (customer care, not
     * advertising: vn-rules.md §6a): any time unless configured */
    {"transaction_quiet_hours", CH_KT_HOURS, "", 0, 0, NULL, offsetof(ch_settings, tx_quiet_hours)},
    {"max_segments", CH_KT_INT, "4", 1, SMS_HARD_MAX_SEGMENTS, NULL,
     offsetof(ch_settings, max_segments)},
    {"status_callback", CH_KT_URL, "", 0, 0, NULL, offsetof(ch_settings, status_callback)},
    {"allowed_addrs", CH_KT_STR, "", 0, 0, NULL, offsetof(ch_settings, allowed_addrs)},
    {"more_text", CH_KT_STR, "", 0, 0, NULL, offsetof(ch_settings, more_text)},
    {"price_per_segment_vnd", CH_KT_INT, "0", 0, 100000, NULL, offsetof(ch_settings, price_vnd)},
    /* Decree 91/2020 caps advertising SMS at 3 per number per 24 h (vn-rules.md §6a); our
     * notices are not advertising, so the cap is the operator's choice, none by default */
    {"max_per_number_per_day", CH_KT_INT, "0", 0, 1000, NULL, offsetof(ch_settings, max_per_day)},
};

static const ch_policy sms_policy = {.quiet_hours = 1,
                                     .night_start_min = -1,
                                     .night_end_min = -1,
                                     .phone_recipient = 1,
                                     .unaccent = 1,
                                     .default_rate = 10};

static int is_kannel(const ch_settings *s) {
    return s->provider && !strcmp(s->provider, "kannel");
}

/* 1 when the sender is a number (E.164 or a short code: digits, one leading '+'). */
static int sender_is_number(const char *v) {
    size_t n = strlen(v), i = v[0] == '+';
    if (n <= i || n > SMS_NUMBER_SENDER_MAX)
        return 0;
    for (; i < n; i++)
        if (v[i] < '0' || v[i] > '9')
            return 0;
    return 1;
}

/* A registered brandname (tên định danh, vn-rules.md §6b): at most 11 characters, no
 * special characters (letters, digits, and the '.', '-', '_' and space carriers accept). */
static int sender_is_brandname(const char *v) {
    size_t n = strlen(v);
    if (n == 0 || n > SMS_BRANDNAME_MAX || v[0] == ' ' || v[n - 1] == ' ')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_' || c == ' '))
            return 0;
    }
    return 1;
}

static int sms_validate(const ch_settings *s, char *err, size_t errlen) {
    /* Decree 91/2020: messages to citizens go from the registered brandname, not an
     * ordinary number; a number is still taken (Twilio's test senders, a short code) */
    if (!ch_empty(s->sender) && !sender_is_number(s->sender) && !sender_is_brandname(s->sender))
        return ch_fail(err, errlen, MC_EINVAL,
                       "sender '%s' is neither a number nor a brandname (at most %d letters, "
                       "digits, '.', '-', '_' or spaces)",
                       s->sender, SMS_BRANDNAME_MAX);
    if (s->enabled && !is_kannel(s) && ch_empty(s->auth_token))
        return ch_fail(err, errlen, MC_EINVAL, "provider twilio needs auth_token");
    if (s->enabled && is_kannel(s) && ch_empty(s->shared_secret))
        return ch_fail(err, errlen, MC_EINVAL, "provider kannel needs shared_secret");
    return 0;
}

static int sms_can_send(const ch_settings *s) {
    if (!s->enabled)
        return 0;
    if (is_kannel(s))
        return !ch_empty(s->username) && !ch_empty(s->api_base);
    return !ch_empty(s->account_sid) && !ch_empty(s->auth_token);
}

/* Twilio posts forms; Kannel's get-url is a GET. */
static unsigned sms_methods(const ch_settings *s) {
    return CH_M_POST | (is_kannel(s) ? CH_M_GET : 0);
}

#define PREVIEW_PHONE "+84900000000" /* a well-formed recipient to render a preview for */

/* The text as the provider would get it: when the channel can send, through render
 * (which may shorten it to max_segments), read back from the request it builds;
 * otherwise as given (as the outbox shows it); then counted. */
static int sms_preview(const ch_settings *s, const char *text, size_t len, ch_preview *out) {
    memset(out, 0, sizeof *out);
    if (sms_can_send(s)) {
        ch_outgoing o = {0};
        o.recipient = PREVIEW_PHONE;
        o.text = text;
        o.text_len = len;
        o.purpose = CH_PURPOSE_UPDATE;
        o.tracking_id = "preview";
        ch_http h[1];
        size_t n = 0;
        char err[sizeof out->warning] = "";
        if (!sms_render(s, &o, h, 1, &n, err, sizeof err) && n == 1) {
            int kannel = is_kannel(s);
            const char *form = kannel ? strchr(h[0].url, '?') : h[0].body;
            size_t flen = form ? (kannel ? strlen(form + 1) : h[0].body_len) : 0;
            if (kannel && form)
                form++;
            char *sent = form ? malloc(flen + 1) : NULL;
            size_t sent_len = 0;
            if (sent &&
                !ch_form_get(form, flen, kannel ? "text" : "Body", sent, flen + 1, &sent_len)) {
                out->text = sent;
                out->text_len = sent_len;
            } else
                free(sent);
            ch_http_clear(&h[0]);
        } else
            snprintf(out->warning, sizeof out->warning, "%s", err);
    }
    ch_sms_info info;
    ch_sms_count(out->text ? out->text : text, out->text ? out->text_len : len, &info);
    out->encoding = info.encoding;
    out->units = info.segments;
    out->chars = info.chars;
    size_t cap = sizeof out->culprits;
    int culprits = ch_sms_culprits(out->text ? out->text : text, out->text ? out->text_len : len,
                                   out->culprits, cap);
    out->culprits_more =
        culprits > 0 && (size_t)culprits > ch_utf8_count(out->culprits, strlen(out->culprits));
    return 0;
}

static void sms_ack(const ch_settings *s, const char *method, ch_ack *out) {
    (void)s;
    if (!strcmp(method, "POST"))
        *out = (ch_ack){200, "text/xml; charset=utf-8", "<Response/>"};
    else
        *out = (ch_ack){200, "text/plain; charset=utf-8", ""};
}

const ch_adapter ch_sms_adapter = {
    .name = SMS_CHANNEL,
    .verify = sms_verify,
    .parse = sms_parse,
    .render = sms_render,
    .classify = sms_classify,
    .keys = sms_keys,
    .n_keys = sizeof sms_keys / sizeof sms_keys[0],
    .validate = sms_validate,
    .can_send = sms_can_send,
    .policy = &sms_policy,
    .methods = sms_methods,
    .ack = sms_ack,
    .preview = sms_preview,
};
