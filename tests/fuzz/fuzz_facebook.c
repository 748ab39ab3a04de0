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

#define FZ_SMALL_CHALLENGE 8 /* bytes of the challenge buffer on the too-small path */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* "sha256=" + lower-case hex HMAC-SHA256 of the body, into out. */
static void sign(const char *body, size_t len, char *out) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int ml = 0;
    static const unsigned char nothing[1];
    CHECK(HMAC(EVP_sha256(), T_FB_SECRET, (int)strlen(T_FB_SECRET),
               len ? (const unsigned char *)body : nothing, len, mac, &ml) != NULL);
    t_hex_sig(out, FB_SIGNATURE_PREFIX, mac, ml);
}

static void webhook(fz_input *in) {
    fz_post p;
    fz_post_read(in, &p);
    char right[sizeof(FB_SIGNATURE_PREFIX) + 2 * EVP_MAX_MD_SIZE];
    sign(p.body, p.len, right);
    size_t pl = strlen(FB_SIGNATURE_PREFIX);
    int rc = fz_post_send(in, &p, &ch_facebook_adapter, &t_facebook, "X-Hub-Signature-256", right,
                          pl + p.len % 64);
    CHECK(p.mode != FZ_SIG_WRONG || rc != 0);
    CHECK(p.mode >= FZ_SIG_WRONG || rc == 0);
    if (rc == 0) /* accepted: the header is the body's HMAC (hex in either case) */
        CHECK(p.sig != NULL && strcasecmp(p.sig + pl, right + pl) == 0 &&
              strncmp(p.sig, FB_SIGNATURE_PREFIX, pl) == 0);
    fz_post_free(&p);
}

/* 1 when some name=value pair of the raw query decodes (with fuzz_ch.h's own decoder) to
 * name = value. */
static int query_has(const char *q, size_t len, const char *name, const char *value) {
    const char *p = q, *end = q + len;
    char *buf = malloc(len ? len : 1); /* a decoded piece is never longer than the query */
    CHECK(buf != NULL);
    int found = 0;
    while (p < end && !found) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        if (eq != NULL) {
            long nl = t_decode_strict(p, (size_t)(eq - p), buf);
            if (nl == (long)strlen(name) && memcmp(buf, name, (size_t)nl) == 0) {
                long vl = t_decode_strict(eq + 1, (size_t)(stop - eq - 1), buf);
                found = vl == (long)strlen(value) && memcmp(buf, value, (size_t)vl) == 0;
            }
        }
        p = stop + 1;
    }
    free(buf);
    return found;
}

static void handshake(fz_input *in) {
    char *q = fz_exact(in->p, in->n);
    size_t cap = (in->flags & FZ_OWN_2) ? FZ_SMALL_CHALLENGE : FB_MAX_CHALLENGE + 1;
    char challenge[FB_MAX_CHALLENGE + 1], err[256] = "";
    int rc = ch_facebook_challenge(&t_facebook, q, in->n, challenge, cap, err, sizeof err);
    CHECK(rc == 0 || rc == MC_EINVAL || rc == MC_ETOOBIG);
    if (rc == 0) {
        size_t cl = strnlen(challenge, cap);
        CHECK(cl >= 1 && cl <= FB_MAX_CHALLENGE && cl < cap);
        CHECK(strspn(challenge,
                     "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == cl);
        CHECK(query_has(q, in->n, "hub.verify_token", T_FB_VERIFY_TOKEN));
        CHECK(query_has(q, in->n, "hub.mode", "subscribe"));
    } else {
        CHECK(err[0] != '\0');
    }
    free(q);
}

static void request(fz_input *in) {
    if (in->flags & FZ_OWN_1)
        handshake(in);
    else
        webhook(in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return fz_main(data, size, &ch_facebook_adapter, request, fz_check_sent_id);
}
