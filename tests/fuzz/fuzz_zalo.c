/*
 * tests/fuzz/fuzz_zalo.c — libFuzzer target over the Zalo OA adapter's handling of
 * untrusted bytes: verify + parse of a webhook POST, classify of a send answer, and the
 * OAuth refresh answer (ch_zalo_refresh_parse).
 *
 * Input (fuzz_ch.h has the common layout): byte 0 flags, then
 *   webhook mode:  [signature line when bits 0-1 = 3] body (JSON event)
 *   classify mode: "STATUS[ RETRY-AFTER]\n" body; bit 4 = token buffers of 16 bytes for
 *                  the refresh answer (its too-small path)
 * The right X-ZEvent-Signature is "mac=" + hex SHA-256(app_id + body + timestamp + OA key)
 * with app_id and timestamp read from the body here with jansson (as text; an integer
 * as its decimal digits); the clock is FZ_NOW_MS.
 *
 * Checks beyond fuzz_ch.h's: a changed signature is refused; an accepted request has the
 * configured app_id and a timestamp within ZALO_MAX_SKEW_MS; a rightly signed body with
 * the configured app_id and a fresh timestamp is accepted; a refresh answer read as
 * success has two non-empty tokens that fit and a positive lifetime.
 */
#include "channels/zalo.h"
#include "fuzz_ch.h"

#include <jansson.h>
#include <openssl/evp.h>

#define FZ_MAX_NUM 32       /* bytes of an app_id or timestamp as text, as zalo.c reads them */
#define FZ_MAX_MS_DIGITS 18 /* significant digits that always fit in int64_t */
#define FZ_TOKEN_CAP 512    /* token buffers for the refresh answer */
#define FZ_TOKEN_SMALL 16   /* ... when bit 4 asks for the too-small path */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A body member as the text Zalo signs: a string without NUL, or an integer's digits;
 * 0 when it is neither. */
static int member_text(json_t *root, const char *key, char *out, size_t cap) {
    json_t *v = json_object_get(root, key);
    if (json_is_integer(v))
        return snprintf(out, cap, "%lld", (long long)json_integer_value(v)) < (int)cap;
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) >= cap ||
        strlen(json_string_value(v)) != json_string_length(v))
        return 0;
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return 1;
}

/* 1 when the timestamp text is digits whose value is within ZALO_MAX_SKEW_MS of the
 * clock (leading zeros are allowed, as zalo.c allows them). */
static int fresh_ms(const char *t) {
    size_t n = strlen(t);
    if (n == 0 || strspn(t, "0123456789") != n)
        return 0;
    while (*t == '0' && t[1] != '\0')
        t++;
    if (strlen(t) > FZ_MAX_MS_DIGITS)
        return 0; /* at least 10^18 ms: never fresh */
    long long skew = FZ_NOW_MS - strtoll(t, NULL, 10);
    return skew <= ZALO_MAX_SKEW_MS && skew >= -ZALO_MAX_SKEW_MS;
}

static void sign(const char *app_id, const char *body, size_t len, const char *ts, char *out) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int ml = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    CHECK(c != NULL && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
          EVP_DigestUpdate(c, app_id, strlen(app_id)) == 1 && EVP_DigestUpdate(c, body, len) == 1 &&
          EVP_DigestUpdate(c, ts, strlen(ts)) == 1 &&
          EVP_DigestUpdate(c, T_ZALO_OA_KEY, strlen(T_ZALO_OA_KEY)) == 1 &&
          EVP_DigestFinal_ex(c, md, &ml) == 1);
    EVP_MD_CTX_free(c);
    t_hex_sig(out, ZALO_SIGNATURE_PREFIX, md, ml);
}

static void webhook(fz_input *in) {
    fz_post p;
    fz_post_read(in, &p);
    /* What the body says, read apart from the adapter. */
    char app_id[FZ_MAX_NUM] = "", ts[FZ_MAX_NUM] = "";
    json_t *root = json_loadb(p.body, p.len, 0, NULL);
    int is_obj = json_is_object(root);
    int has_app = is_obj && member_text(root, "app_id", app_id, sizeof app_id);
    int has_ts = is_obj && member_text(root, "timestamp", ts, sizeof ts);
    json_decref(root);
    char right[sizeof(ZALO_SIGNATURE_PREFIX) + 2 * EVP_MAX_MD_SIZE];
    sign(app_id, p.body, p.len, ts, right);
    int rc = fz_post_send(in, &p, &ch_zalo_adapter, &t_zalo, "X-ZEvent-Signature", right,
                          strlen(ZALO_SIGNATURE_PREFIX) + p.len % 64);
    if (p.mode == FZ_SIG_WRONG)
        CHECK(rc != 0);
    if (rc == 0) /* accepted: the configured app, a fresh event */
        CHECK(has_app && strcmp(app_id, T_ZALO_APP_ID) == 0 && has_ts && fresh_ms(ts));
    if (p.mode < FZ_SIG_WRONG && has_app && strcmp(app_id, T_ZALO_APP_ID) == 0 && has_ts &&
        fresh_ms(ts))
        CHECK(rc == 0);
    fz_post_free(&p);
}

/* The answer classified, then read as an OAuth refresh answer too. */
static void answer(const fz_input *in, const fz_answer *a, const ch_result *r) {
    fz_check_sent_id(in, a, r);
    size_t cap = (in->flags & FZ_OWN_1) ? FZ_TOKEN_SMALL : FZ_TOKEN_CAP;
    char access[FZ_TOKEN_CAP], refresh[FZ_TOKEN_CAP], err[256] = "";
    int64_t secs = -1;
    int rc = ch_zalo_refresh_parse(a->body, a->body_len, access, cap, refresh, cap, &secs, err,
                                   sizeof err);
    CHECK(rc == 0 || rc == MC_EINVAL || rc == MC_ETOOBIG);
    if (rc == 0) {
        CHECK(memchr(access, '\0', cap) != NULL && memchr(refresh, '\0', cap) != NULL);
        CHECK(access[0] != '\0' && refresh[0] != '\0' && secs > 0);
    } else {
        CHECK(err[0] != '\0');
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return fz_main(data, size, &ch_zalo_adapter, webhook, answer);
}
