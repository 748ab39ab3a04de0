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

#define FZ_URL "https://motcua.example.gov.vn/webhook/sms" /* what Twilio calls */
#define FZ_SHA1_B64 28                                     /* base64 of 20 bytes */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One decoded parameter: a slice of the arena. */
typedef struct param {
    const char *name, *value; /* decoded bytes */
    size_t nlen, vlen;        /* their lengths */
} param;

static int cmp_bytes(const char *a, size_t al, const char *b, size_t bl) {
    int c = memcmp(a, b, al < bl ? al : bl);
    return c != 0 ? c : al < bl ? -1 : al > bl ? 1 : 0;
}

static int cmp_param(const void *x, const void *y) {
    const param *a = x, *b = y;
    int c = cmp_bytes(a->name, a->nlen, b->name, b->nlen);
    return c != 0 ? c : cmp_bytes(a->value, a->vlen, b->value, b->vlen);
}

/* Decodes s[0..len) to the end of the arena (arena + *used), as *out and *olen; -1 for a
 * bad escape. */
static int take(const char *s, size_t len, char *arena, size_t *used, const char **out,
                size_t *olen) {
    long l = t_decode_strict(s, len, arena + *used);
    if (l < 0)
        return -1;
    *out = arena + *used;
    *olen = (size_t)l;
    *used += (size_t)l;
    return 0;
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
            if (take(p, (size_t)(nend - p), arena, &used, &ps[np].name, &ps[np].nlen) < 0 ||
                take(v, (size_t)(stop - v), arena, &used, &ps[np].value, &ps[np].vlen) < 0)
                goto done;
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
    CHECK(HMAC(EVP_sha1(), T_TWILIO_TOKEN, (int)strlen(T_TWILIO_TOKEN), msg, ml, mac, &maclen) !=
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
    int signable = sign(query, qlen, body, len, right);          /* right stays "" when not */
    sig = fz_signature(in, sig, right, len % (FZ_SHA1_B64 - 1)); /* the last one is padding */
    t_headers h = {{"X-Twilio-Signature"}, {sig}, 1};
    int put = (in->flags & FZ_OWN_2) != 0;
    ch_request req =
        t_request(put ? "PUT" : "POST", "/webhook/sms", query, qlen, body, len, &h, FZ_NOW_MS);
    int prc;
    size_t n;
    int rc = fz_webhook(in, &ch_sms_adapter, &t_twilio, &req, &prc, &n);
    CHECK(mode != FZ_SIG_WRONG || rc != 0);
    if (put)
        CHECK(rc != 0 && prc != 0); /* refused by verify, and by parse when it runs */
    else if (mode < FZ_SIG_WRONG)
        CHECK(signable ? rc == 0 : rc != 0);
    CHECK(prc != 0 || n <= 1); /* one form, one event */
    free(body);
    free(query);
    free(sig);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return fz_main(data, size, &ch_sms_adapter, webhook, NULL);
}
