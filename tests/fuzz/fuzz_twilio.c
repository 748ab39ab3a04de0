/*
 * tests/fuzz/fuzz_twilio.c — libFuzzer target over the SMS adapter's Twilio side: verify +
 * parse of a signed form POST (inbound text or status callback), and classify of a
 * Messages API answer.
 *
 * Input (fuzz_ch.h has the common layout): byte 0 flags, then
 *   webhook mode:  [signature line when bits 0-1 = 3] [query line when bit 4] body (form);
 *                  bit 5 = method PUT (neither Twilio's POST nor Kannel's GET: refused)
 *   classify mode: "STATUS[ RETRY-AFTER]\n" body
 * The right X-Twilio-Signature is computed here as Twilio does: base64 HMAC-SHA1 (auth
 * token) of the URL it called (public URL + path + "?" + query when there is one) followed
 * by every form parameter's decoded name and value, sorted by name then value. Like
 * URLSearchParams, empty '&'-separated pieces are no parameter and a piece without '='
 * is a name with an empty value.
 *
 * Checks beyond fuzz_ch.h's: a changed signature is refused; a right one is accepted
 * exactly when the body is signable (every escape well formed, at most SMS_MAX_PARAMS
 * parameters), and refused otherwise; a PUT is refused by verify and parse.
 */
#include "channels/sms.h"
#include "fuzz_ch.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#define FZ_AUTH_TOKEN "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
#define FZ_URL "https://motcua.example.gov.vn/webhook/sms" /* what Twilio calls */
#define FZ_SHA1_B64 28                                     /* base64 of 20 bytes */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const ch_settings settings = {
    .public_url = "https://motcua.example.gov.vn/",
    .api_base = "http://127.0.0.1:9",
    .provider = "twilio",
    .account_sid = "AC11111111111111111111111111111111",
    .auth_token = FZ_AUTH_TOKEN,
    .sender = "+84287300000",
};

/* One decoded parameter: a slice of the arena. */
typedef struct param {
    const char *name, *value; /* decoded bytes */
    size_t nlen, vlen;        /* their lengths */
} param;

static int hexval(char c) {
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Decodes %XX and '+' of s[0..len) into out (room for len bytes); -1 for a bad escape. */
static long decode(const char *s, size_t len, char *out) {
    size_t o = 0;
    for (size_t k = 0; k < len; k++) {
        if (s[k] == '%') {
            if (len - k < 3 || hexval(s[k + 1]) < 0 || hexval(s[k + 2]) < 0)
                return -1;
            out[o++] = (char)(hexval(s[k + 1]) * 16 + hexval(s[k + 2]));
            k += 2;
        } else {
            out[o++] = s[k] == '+' ? ' ' : s[k];
        }
    }
    return (long)o;
}

static int cmp_bytes(const char *a, size_t al, const char *b, size_t bl) {
    int c = memcmp(a, b, al < bl ? al : bl);
    return c != 0 ? c : al < bl ? -1 : al > bl ? 1 : 0;
}

static int cmp_param(const void *x, const void *y) {
    const param *a = x, *b = y;
    int c = cmp_bytes(a->name, a->nlen, b->name, b->nlen);
    return c != 0 ? c : cmp_bytes(a->value, a->vlen, b->value, b->vlen);
}

/*
 * The right signature of (query, body) into out (FZ_SHA1_B64 + 1 bytes); 0 when the
 * body cannot be signed (a bad escape or more than SMS_MAX_PARAMS parameters).
 */
static int sign(const char *query, size_t qlen, const char *body, size_t blen, char *out) {
    param ps[SMS_MAX_PARAMS];
    size_t np = 0;
    char *arena = malloc(blen + 1);
    int ok = 0;
    CHECK(arena != NULL);
    size_t used = 0;
    for (const char *p = body, *end = body + blen; p < end;) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        if (stop > p) {
            if (np == SMS_MAX_PARAMS)
                goto done;
            const char *eq = memchr(p, '=', (size_t)(stop - p));
            const char *nend = eq ? eq : stop;
            const char *v = eq ? eq + 1 : stop;
            long nl = decode(p, (size_t)(nend - p), arena + used);
            if (nl < 0)
                goto done;
            ps[np].name = arena + used;
            ps[np].nlen = (size_t)nl;
            used += (size_t)nl;
            long vl = decode(v, (size_t)(stop - v), arena + used);
            if (vl < 0)
                goto done;
            ps[np].value = arena + used;
            ps[np].vlen = (size_t)vl;
            used += (size_t)vl;
            np++;
        }
        p = stop + 1;
    }
    qsort(ps, np, sizeof ps[0], cmp_param);
    /* URL, '?', query, then the decoded pairs: never more than the raw bytes plus the URL. */
    size_t ul = strlen(FZ_URL), ml = 0;
    unsigned char *msg = malloc(ul + 1 + qlen + used + 1);
    CHECK(msg != NULL);
    memcpy(msg, FZ_URL, ul);
    ml = ul;
    if (qlen > 0) {
        msg[ml++] = '?';
        memcpy(msg + ml, query, qlen);
        ml += qlen;
    }
    for (size_t i = 0; i < np; i++) {
        memcpy(msg + ml, ps[i].name, ps[i].nlen);
        ml += ps[i].nlen;
        memcpy(msg + ml, ps[i].value, ps[i].vlen);
        ml += ps[i].vlen;
    }
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    CHECK(HMAC(EVP_sha1(), FZ_AUTH_TOKEN, (int)strlen(FZ_AUTH_TOKEN), msg, ml, mac, &maclen) !=
              NULL &&
          maclen == 20);
    free(msg);
    CHECK(EVP_EncodeBlock((unsigned char *)out, mac, (int)maclen) == FZ_SHA1_B64);
    ok = 1;
done:
    free(arena);
    return ok;
}

static void webhook(fz_input *in) {
    unsigned mode = in->flags & FZ_SIG_MASK;
    char *sig = mode == FZ_SIG_INPUT ? fz_sig_from_input(in) : NULL;
    const char *qs = "";
    size_t qlen = 0;
    if (in->flags & FZ_OWN_1)
        fz_line(in, &qs, &qlen);
    char *query = fz_exact(qs, qlen);
    char *body = fz_exact(in->p, in->n);
    size_t len = in->n;
    char right[FZ_SHA1_B64 + 1] = "";
    int signable = sign(query, qlen, body, len, right);
    if (mode != FZ_SIG_INPUT) {
        sig = fz_dup(right, strlen(right));
        if (mode == FZ_SIG_WRONG && signable)
            fz_spoil(sig, len % (FZ_SHA1_B64 - 1)); /* the last one is padding */
    }
    fz_header h = {"X-Twilio-Signature", sig};
    int put = (in->flags & FZ_OWN_2) != 0;
    ch_request req = {.method = put ? "PUT" : "POST",
                      .path = "/webhook/sms",
                      .query = query,
                      .query_len = qlen,
                      .body = body,
                      .body_len = len,
                      .header = fz_header_fn,
                      .header_ctx = &h,
                      .remote_addr = "127.0.0.1",
                      .now_ms = FZ_NOW_MS};
    char err[256] = "";
    int rc = ch_sms_adapter.verify(&settings, &req, err, sizeof err);
    fz_check_verify(rc, err);
    CHECK(mode != FZ_SIG_WRONG || rc != 0);
    if (put)
        CHECK(rc != 0);
    else if (mode < FZ_SIG_WRONG)
        CHECK(signable ? rc == 0 : rc != 0);

    if (rc == 0 || (in->flags & FZ_PARSE_ALWAYS)) {
        ch_message out[CH_MAX_MESSAGES];
        size_t n = 0;
        err[0] = '\0';
        int prc = ch_sms_adapter.parse(&settings, &req, out, &n, err, sizeof err);
        CHECK(prc != 0 || n <= 1); /* one form, one event */
        CHECK(!put || prc != 0);
        fz_check_parse(prc, out, n, err, "sms");
    }
    free(body);
    free(query);
    free(sig);
}

static void answer(fz_input *in) {
    fz_answer a;
    fz_answer_read(in, &a);
    ch_result r;
    ch_sms_adapter.classify(a.status, a.body, a.body_len, a.retry_after, &r);
    fz_check_result(&r);
    fz_answer_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_input in;
    if (!fz_start(&in, data, size))
        return 0;
    if (in.flags & FZ_CLASSIFY)
        answer(&in);
    else
        webhook(&in);
    return 0;
}
