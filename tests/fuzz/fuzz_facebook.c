/*
 * tests/fuzz/fuzz_facebook.c — libFuzzer target over the Facebook Messenger adapter's
 * handling of untrusted bytes: verify + parse of a webhook POST, the GET verification
 * handshake (ch_facebook_challenge), and classify of a Send API answer.
 *
 * Input (fuzz_ch.h has the common layout): byte 0 flags, then
 *   webhook mode:   [signature line when bits 0-1 = 3] body (JSON)
 *   handshake mode: bit 4 set (and not classify): the rest is the raw GET query; bit 5 =
 *                   a challenge buffer of 8 bytes (its too-small path)
 *   classify mode:  "STATUS[ RETRY-AFTER]\n" body
 * The right X-Hub-Signature-256 is "sha256=" + hex HMAC-SHA256(app secret, body).
 *
 * Checks beyond fuzz_ch.h's: a right signature is accepted and a changed one refused;
 * whatever verify accepts carries the body's real HMAC; a challenge echoed back is
 * 1..FB_MAX_CHALLENGE bytes of [A-Za-z0-9._-] and the query held the right token; a sent
 * answer has a message id.
 */
#include "channels/facebook.h"
#include "fuzz_ch.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#define FZ_SECRET "fb-app-secret-0123456789"
#define FZ_VERIFY_TOKEN "motcua verify+token&1"
#define FZ_SMALL_CHALLENGE 8 /* bytes of the challenge buffer on the too-small path */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const ch_settings settings = {
    .api_base = "http://127.0.0.1:9",
    .api_version = "v21.0",
    .app_secret = FZ_SECRET,
    .verify_token = FZ_VERIFY_TOKEN,
    .access_token = "fb-page-token",
};

/* "sha256=" + lower-case hex HMAC-SHA256 of the body, into out. */
static void sign(const char *body, size_t len, char *out) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int ml = 0;
    static const unsigned char nothing[1];
    CHECK(HMAC(EVP_sha256(), FZ_SECRET, (int)strlen(FZ_SECRET),
               len ? (const unsigned char *)body : nothing, len, mac, &ml) != NULL);
    strcpy(out, FB_SIGNATURE_PREFIX);
    for (unsigned i = 0; i < ml; i++)
        snprintf(out + strlen(FB_SIGNATURE_PREFIX) + 2 * i, 3, "%02x", mac[i]);
}

static void webhook(fz_input *in) {
    unsigned mode = in->flags & FZ_SIG_MASK;
    char *sig = mode == FZ_SIG_INPUT ? fz_sig_from_input(in) : NULL;
    char *body = fz_exact(in->p, in->n);
    size_t len = in->n;
    char right[sizeof(FB_SIGNATURE_PREFIX) + 2 * EVP_MAX_MD_SIZE];
    sign(body, len, right);
    if (mode != FZ_SIG_INPUT) {
        sig = fz_dup(right, strlen(right));
        if (mode == FZ_SIG_WRONG)
            fz_spoil(sig, strlen(FB_SIGNATURE_PREFIX) + len % 64);
    }
    fz_header h = {"X-Hub-Signature-256", sig};
    ch_request req = {.method = "POST",
                      .path = "/webhook/facebook",
                      .query = "",
                      .body = body,
                      .body_len = len,
                      .header = fz_header_fn,
                      .header_ctx = &h,
                      .remote_addr = "127.0.0.1",
                      .now_ms = FZ_NOW_MS};
    char err[256] = "";
    int rc = ch_facebook_adapter.verify(&settings, &req, err, sizeof err);
    fz_check_verify(rc, err);
    CHECK(mode != FZ_SIG_WRONG || rc != 0);
    CHECK(mode >= FZ_SIG_WRONG || rc == 0);
    if (rc == 0) /* accepted: the header is the body's HMAC (hex in either case) */
        CHECK(sig != NULL &&
              strcasecmp(sig + strlen(FB_SIGNATURE_PREFIX), right + strlen(FB_SIGNATURE_PREFIX)) ==
                  0 &&
              strncmp(sig, FB_SIGNATURE_PREFIX, strlen(FB_SIGNATURE_PREFIX)) == 0);

    if (rc == 0 || (in->flags & FZ_PARSE_ALWAYS)) {
        ch_message out[CH_MAX_MESSAGES];
        size_t n = 0;
        err[0] = '\0';
        int prc = ch_facebook_adapter.parse(&settings, &req, out, &n, err, sizeof err);
        fz_check_parse(prc, out, n, err, "facebook");
    }
    free(body);
    free(sig);
}

static int hexval(char c) {
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Decodes %XX and '+' into out (cap bytes, NUL-terminated); 0 when it does not fit or an
 * escape is bad. */
static int decode(const char *s, size_t len, char *out, size_t cap, size_t *olen) {
    size_t o = 0;
    for (size_t k = 0; k < len; k++) {
        char c = s[k];
        if (c == '%') {
            if (len - k < 3 || hexval(s[k + 1]) < 0 || hexval(s[k + 2]) < 0)
                return 0;
            c = (char)(hexval(s[k + 1]) * 16 + hexval(s[k + 2]));
            k += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (o + 1 >= cap)
            return 0;
        out[o++] = c;
    }
    out[o] = '\0';
    *olen = o;
    return 1;
}

/* 1 when some name=value pair of the raw query decodes (with this file's own decoder) to
 * name = value. */
static int query_has(const char *q, size_t len, const char *name, const char *value) {
    const char *p = q, *end = q + len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        char n[256], v[256];
        size_t nl, vl;
        if (eq != NULL && decode(p, (size_t)(eq - p), n, sizeof n, &nl) &&
            decode(eq + 1, (size_t)(stop - eq - 1), v, sizeof v, &vl) && nl == strlen(name) &&
            memcmp(n, name, nl) == 0 && vl == strlen(value) && memcmp(v, value, vl) == 0)
            return 1;
        p = stop + 1;
    }
    return 0;
}

static void handshake(fz_input *in) {
    char *q = fz_exact(in->p, in->n);
    size_t cap = (in->flags & FZ_OWN_2) ? FZ_SMALL_CHALLENGE : FB_MAX_CHALLENGE + 1;
    char challenge[FB_MAX_CHALLENGE + 1], err[256] = "";
    int rc = ch_facebook_challenge(&settings, q, in->n, challenge, cap, err, sizeof err);
    CHECK(rc == 0 || rc == MC_EINVAL || rc == MC_ETOOBIG);
    if (rc == 0) {
        size_t cl = strnlen(challenge, cap);
        CHECK(cl >= 1 && cl <= FB_MAX_CHALLENGE && cl < cap);
        CHECK(strspn(challenge,
                     "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == cl);
        CHECK(query_has(q, in->n, "hub.verify_token", FZ_VERIFY_TOKEN));
        CHECK(query_has(q, in->n, "hub.mode", "subscribe"));
    } else {
        CHECK(err[0] != '\0');
    }
    free(q);
}

static void answer(fz_input *in) {
    fz_answer a;
    fz_answer_read(in, &a);
    ch_result r;
    ch_facebook_adapter.classify(a.status, a.body, a.body_len, a.retry_after, &r);
    fz_check_result(&r);
    CHECK(r.verdict != CH_SENT || r.provider_id[0] != '\0');
    fz_answer_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_input in;
    if (!fz_start(&in, data, size))
        return 0;
    if (in.flags & FZ_CLASSIFY)
        answer(&in);
    else if (in.flags & FZ_OWN_1)
        handshake(&in);
    else
        webhook(&in);
    return 0;
}
