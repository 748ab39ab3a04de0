/*
 * test_ch_facebook.c — the Messenger adapter against real-shaped payloads:
 * signatures computed here with OpenSSL the way Facebook computes them, the GET
 * handshake, batched entries, receipts and echoes, malformed bodies, Send API
 * bodies parsed back with jansson, the 2000-character split, and every row of
 * the Graph error table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "channels/facebook.h"
#include "core/mc.h"
#include "test_ch_util.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

/* "sha256=" + hex(HMAC-SHA256(secret, body)), as Facebook signs. */
static void sign(const char *secret, const char *body, size_t len, char *out) {
    unsigned char mac[32];
    unsigned int ml = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, len, mac, &ml);
    t_hex_sig(out, "sha256=", mac, ml);
}

static ch_request post(const char *body, size_t len, t_headers *h) {
    return t_request("POST", "/webhook/facebook", "", 0, body, len, h, 1763880100000LL);
}

static void verify_signature(void **state) {
    (void)state;
    size_t len;
    char *body = t_read("tests/unit/data/ch_fb_batch.json", &len);
    char sig[80];
    sign(T_FB_SECRET, body, len, sig);
    t_headers h = {{"X-Hub-Signature-256"}, {sig}, 1};
    ch_request r = post(body, len, &h);
    char err[160];
    const ch_adapter *a = &ch_facebook_adapter;
    assert_int_equal(a->verify(&t_facebook, &r, err, sizeof err), 0);

    /* Header names are case-insensitive; hex may be upper-case. */
    h.name[0] = "x-hub-signature-256";
    for (char *p = sig + 7; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    assert_int_equal(a->verify(&t_facebook, &r, err, sizeof err), 0);

    /* One flipped byte of the body. */
    body[len / 2] ^= 0x01;
    assert_int_equal(a->verify(&t_facebook, &r, err, sizeof err), MC_EINVAL);
    assert_non_null(strstr(err, "does not match"));
    body[len / 2] ^= 0x01;

    /* Wrong secret. */
    sign("another-app-secret", body, len, sig);
    assert_int_equal(a->verify(&t_facebook, &r, err, sizeof err), MC_EINVAL);

    /* Malformed: the old sha1 header shape, truncated hex, non-hex. */
    h.value[0] = "sha1=0123456789abcdef0123456789abcdef01234567";
    assert_int_equal(a->verify(&t_facebook, &r, err, sizeof err), MC_EINVAL);
    assert_non_null(strstr(err, "malformed"));
    h.value[0] = "sha256=abc";
    assert_int_equal(a->verify(&t_facebook, &r, err, sizeof err), MC_EINVAL);
    h.value[0] = "sha256=zz23456789abcdef0123456789abcdef0123456789abcdef0123456789abcd";
    assert_int_equal(a->verify(&t_facebook, &r, err, sizeof err), MC_EINVAL);

    /* Missing header. */
    h.n = 0;
    assert_int_equal(a->verify(&t_facebook, &r, err, sizeof err), MC_EINVAL);
    assert_non_null(strstr(err, "missing"));

    /* No secret configured: refuse everything. */
    ch_settings none = t_facebook;
    none.app_secret = "";
    sign(T_FB_SECRET, body, len, sig);
    h.n = 1;
    h.value[0] = sig;
    assert_int_equal(a->verify(&none, &r, err, sizeof err), MC_EINVAL);
    free(body);
}

static void challenge(void **state) {
    (void)state;
    char out[FB_MAX_CHALLENGE + 1], err[160];
    const char *q = "hub.mode=subscribe&hub.verify_token=motcua+verify%2Btoken%261"
                    "&hub.challenge=1158201444";
    assert_int_equal(
        ch_facebook_challenge(&t_facebook, q, strlen(q), out, sizeof out, err, sizeof err), 0);
    assert_string_equal(out, "1158201444");
    static const char *const refused[][2] = {
        /* query, what the error mentions */
        {"hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1", "verify_token"},
        {"hub.mode=unsubscribe&hub.verify_token=motcua+verify%2Btoken%261&hub.challenge=1",
         "hub.mode"},
        /* A mode that only starts with "subscribe" before a NUL is not "subscribe" (found by
         * tests/fuzz/fuzz_facebook.c: the decoded value was compared as a C string). */
        {"hub.mode=subscribe%00x&hub.verify_token=motcua+verify%2Btoken%261&hub.challenge=1",
         "hub.mode"},
        /* A challenge that would reflect markup is refused. */
        {"hub.mode=subscribe&hub.verify_token=motcua+verify%2Btoken%261"
         "&hub.challenge=%3Cscript%3E",
         "hub.challenge"},
        {"hub.mode=subscribe&hub.verify_token=motcua+verify%2Btoken%261", "hub.challenge"},
    };
    for (size_t i = 0; i < MC_ARRAY_LEN(refused); i++) {
        const char *r = refused[i][0];
        assert_int_equal(
            ch_facebook_challenge(&t_facebook, r, strlen(r), out, sizeof out, err, sizeof err),
            MC_EINVAL);
        if (strstr(err, refused[i][1]) == NULL)
            fail_msg("query %zu: \"%s\" does not mention \"%s\"", i, err, refused[i][1]);
    }
}

/* Parses an unsigned webhook POST of body[0..len) into m[0..*n): parse's code. */
static int parse_body(const char *body, size_t len, ch_message *m, size_t *n, char *err,
                      size_t errlen) {
    t_headers h = {{0}, {0}, 0};
    ch_request r = post(body, len, &h);
    return ch_facebook_adapter.parse(&t_facebook, &r, m, n, err, errlen);
}

static size_t parse_file(const char *path, ch_message *out, int *rc, char *err, size_t errlen) {
    size_t len, n = 99;
    char *body = t_read(path, &len);
    *rc = parse_body(body, len, out, &n, err, errlen);
    free(body);
    return n;
}

/* Parses a fixture the adapter must accept: the number of messages it gave into m. */
static size_t parse_ok(const char *path, ch_message *m) {
    char err[160] = "";
    int rc;
    size_t n = parse_file(path, m, &rc, err, sizeof err);
    if (rc != 0)
        fail_msg("%s: code %d (%s)", path, rc, err);
    return n;
}

static void parse_batch(void **state) {
    (void)state;
    ch_message m[CH_MAX_MESSAGES];
    size_t n = parse_ok("tests/unit/data/ch_fb_batch.json", m);
    assert_int_equal(n, 4);
    /* Entry order, then item order. */
    assert_int_equal(m[0].kind, CH_EV_TEXT);
    assert_string_equal(m[0].channel, "facebook");
    assert_string_equal(m[0].provider_id, "m_AAA111");
    assert_string_equal(m[0].sender, "6789012345678901");
    assert_string_equal(m[0].recipient, "106273849501234");
    assert_int_equal(m[0].ts_ms, 1763880000123LL);
    assert_string_equal(m[0].text, "Làm giấy khai sinh cần những gì?");
    assert_int_equal(m[0].text_len, strlen("Làm giấy khai sinh cần những gì?"));
    assert_null(m[0].payload);

    assert_int_equal(m[1].kind, CH_EV_QUICK_REPLY);
    assert_string_equal(m[1].provider_id, "m_AAA112");
    assert_string_equal(m[1].payload, "PROC_KHAI_SINH");
    assert_string_equal(m[1].text, "Khai sinh");

    assert_int_equal(m[2].kind, CH_EV_POSTBACK);
    assert_string_equal(m[2].provider_id, "m_BBB221");
    assert_string_equal(m[2].sender, "7789012345678902");
    assert_string_equal(m[2].payload, "TRA_HO_SO");
    assert_string_equal(m[2].text, "Tra cứu hồ sơ");

    assert_int_equal(m[3].kind, CH_EV_UNSUPPORTED);
    assert_string_equal(m[3].provider_id, "m_BBB222");
    assert_null(m[3].text);
    for (size_t i = 0; i < n; i++)
        ch_message_clear(&m[i]);
}

static void parse_receipts(void **state) {
    (void)state;
    ch_message m[CH_MAX_MESSAGES];
    size_t n = parse_ok("tests/unit/data/ch_fb_receipts.json", m);
    assert_int_equal(n, 4); /* echo, 2 deliveries, read; the optin is skipped */
    assert_int_equal(m[0].kind, CH_EV_ECHO);
    assert_string_equal(m[0].provider_id, "m_ECHO1");
    assert_int_equal(m[1].kind, CH_EV_DELIVERY);
    assert_string_equal(m[1].provider_id, "m_OUT1");
    assert_int_equal(m[1].watermark_ms, 1763880010500LL);
    assert_int_equal(m[1].ts_ms, 1763880100000LL); /* no timestamp: the gateway clock */
    assert_int_equal(m[2].kind, CH_EV_DELIVERY);
    assert_string_equal(m[2].provider_id, "m_OUT2");
    assert_string_equal(m[2].sender, "6789012345678901");
    assert_int_equal(m[3].kind, CH_EV_READ);
    assert_string_equal(m[3].provider_id, "");
    assert_int_equal(m[3].watermark_ms, 1763880011900LL);
    for (size_t i = 0; i < n; i++)
        ch_message_clear(&m[i]);
}

static int parse_str(const char *body, char *err, size_t errlen, size_t *n) {
    ch_message m[CH_MAX_MESSAGES];
    int rc = parse_body(body, strlen(body), m, n, err, errlen);
    for (size_t i = 0; i < *n; i++)
        ch_message_clear(&m[i]);
    return rc;
}

/* A postback without mid gets an id made up from the sender, of which at most 80 bytes
 * are kept, cut on a code point boundary (found by tests/fuzz/fuzz_zalo.c in the same
 * code in zalo.c: a byte cut left a broken UTF-8 sequence in provider_id). */
static void postback_long_sender(void **state) {
    (void)state;
    char psid[128] = "a", want[160] = "pb:a", body[512];
    for (int i = 0; i < 40; i++)
        strcat(psid, "ư"); /* 81 bytes: the 80th byte is inside the last ư */
    for (int i = 0; i < 39; i++)
        strcat(want, "ư");
    strcat(want, ":1763880000123");
    snprintf(body, sizeof body,
             "{\"object\":\"page\",\"entry\":[{\"messaging\":[{\"sender\":{\"id\":\"%s\"},"
             "\"recipient\":{\"id\":\"2\"},\"timestamp\":1763880000123,\"postback\":"
             "{\"title\":\"Tra cứu\",\"payload\":\"TRA\"}}]}]}",
             psid);
    ch_message m[CH_MAX_MESSAGES];
    char err[160];
    size_t n = 0;
    assert_int_equal(parse_body(body, strlen(body), m, &n, err, sizeof err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(m[0].kind, CH_EV_POSTBACK);
    assert_true(t_utf8_ok(m[0].provider_id, strlen(m[0].provider_id)));
    assert_string_equal(m[0].provider_id, want);
    ch_message_clear(&m[0]);
}

static void parse_malformed(void **state) {
    (void)state;
    ch_message m[CH_MAX_MESSAGES];
    char err[160];
    int rc;
    size_t n = parse_file("tests/unit/data/ch_fb_missing_sender.json", m, &rc, err, sizeof err);
    assert_int_equal(rc, MC_EINVAL);
    assert_string_equal(err, "entry[1].messaging[0].sender.id missing");
    assert_int_equal(n, 0); /* all or nothing: the good first item is not returned */

    assert_int_equal(parse_str("{\"object\":\"page\",\"entry\":[", err, sizeof err, &n), MC_EINVAL);
    assert_non_null(strstr(err, "not JSON"));
    assert_int_equal(parse_str("{\"object\":\"instagram\",\"entry\":[]}", err, sizeof err, &n),
                     MC_EINVAL);
    assert_non_null(strstr(err, "object"));
    assert_int_equal(parse_str("{\"object\":\"page\",\"entry\":{}}", err, sizeof err, &n),
                     MC_EINVAL);
    assert_string_equal(err, "entry must be an array");
    assert_int_equal(
        parse_str("{\"object\":\"page\",\"entry\":[{\"messaging\":[{\"sender\":{\"id\":\"1\"},"
                  "\"recipient\":{\"id\":\"2\"},\"message\":{\"text\":\"hi\"}}]}]}",
                  err, sizeof err, &n),
        MC_EINVAL);
    assert_string_equal(err, "entry[0].messaging[0].message.mid missing");
    assert_int_equal(
        parse_str("{\"object\":\"page\",\"entry\":[{\"messaging\":[{\"sender\":{\"id\":\"1\"},"
                  "\"recipient\":{\"id\":\"2\"},\"read\":{}}]}]}",
                  err, sizeof err, &n),
        MC_EINVAL);
    assert_string_equal(err, "entry[0].messaging[0].read.watermark missing");
    assert_int_equal(
        parse_str("{\"object\":\"page\",\"entry\":[{\"messaging\":[{\"sender\":{\"id\":\"1\"},"
                  "\"recipient\":{\"id\":\"2\"},\"timestamp\":\"soon\",\"read\":{\"watermark\":1}}"
                  "]}]}",
                  err, sizeof err, &n),
        MC_EINVAL);
    assert_non_null(strstr(err, "entry[0].messaging[0].timestamp"));
    /* Handover standby[] entries carry no messaging[]: nothing to do, not an error. */
    assert_int_equal(parse_str("{\"object\":\"page\",\"entry\":[{\"id\":\"1\",\"standby\":[]}]}",
                               err, sizeof err, &n),
                     0);
    assert_int_equal(n, 0);
}

static void parse_too_many(void **state) {
    (void)state;
    char *body = malloc(64 * 1024);
    size_t o = (size_t)sprintf(body, "{\"object\":\"page\",\"entry\":[{\"messaging\":[");
    for (int i = 0; i < CH_MAX_MESSAGES + 1; i++)
        o += (size_t)sprintf(body + o,
                             "%s{\"sender\":{\"id\":\"1\"},\"recipient\":{\"id\":\"2\"},"
                             "\"timestamp\":%d,\"message\":{\"mid\":\"m%d\",\"text\":\"t\"}}",
                             i ? "," : "", i, i);
    sprintf(body + o, "]}]}");
    char err[160];
    size_t n = 99;
    assert_int_equal(parse_str(body, err, sizeof err, &n), MC_ETOOBIG);
    assert_int_equal(n, 0);
    free(body);
}

static void render_reply(void **state) {
    (void)state;
    ch_quick q[] = {{"Khai sinh cho con mới sinh ra", "PROC_KHAI_SINH"},
                    {"Kết hôn", "PROC_KET_HON"}};
    const char *text = "Anh/chị muốn hỏi thủ tục nào?";
    ch_outgoing o = {.recipient = "6789012345678901",
                     .text = text,
                     .text_len = strlen(text),
                     .quick = q,
                     .n_quick = 2,
                     .purpose = CH_PURPOSE_REPLY};
    ch_http out[4];
    size_t n = 0;
    char err[160];
    assert_int_equal(ch_facebook_adapter.render(&t_facebook, &o, out, 4, &n, err, sizeof err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(out[0].method, "POST");
    assert_string_equal(out[0].url, "https://graph.facebook.com/v21.0/me/messages?access_token="
                                    "EAAB%2Btok%2Fen%26x%3D1");
    assert_int_equal(out[0].n_headers, 1);
    assert_string_equal(out[0].headers[0], "Content-Type: application/json");
    assert_int_equal(out[0].segments, 0);
    assert_null(out[0].encoding);
    json_t *j = t_body_json(&out[0]);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "recipient"), "id")),
                        "6789012345678901");
    assert_string_equal(json_string_value(json_object_get(j, "messaging_type")), "RESPONSE");
    assert_null(json_object_get(j, "tag"));
    json_t *msg = json_object_get(j, "message");
    assert_string_equal(json_string_value(json_object_get(msg, "text")), text);
    json_t *qr = json_object_get(msg, "quick_replies");
    assert_int_equal(json_array_size(qr), 2);
    json_t *q0 = json_array_get(qr, 0);
    assert_string_equal(json_string_value(json_object_get(q0, "content_type")), "text");
    /* Cut to 20 code points, whole characters. */
    const char *t0 = json_string_value(json_object_get(q0, "title"));
    assert_int_equal(t_cps(t0, strlen(t0)), FB_MAX_QUICK_TITLE);
    assert_string_equal(t0, "Khai sinh cho con mớ");
    assert_string_equal(json_string_value(json_object_get(q0, "payload")), "PROC_KHAI_SINH");
    assert_string_equal(json_string_value(json_object_get(json_array_get(qr, 1), "title")),
                        "Kết hôn");
    json_decref(j);
    ch_http_clear(&out[0]);
}

/* Renders o under s into at most two requests: render's code (the requests let go). */
static int render_rc(const ch_settings *s, const ch_outgoing *o) {
    ch_http out[2];
    size_t n = 0;
    char err[160];
    int rc = ch_facebook_adapter.render(s, o, out, 2, &n, err, sizeof err);
    for (size_t i = 0; i < n; i++)
        ch_http_clear(&out[i]);
    return rc;
}

/* Renders o, which must give one request: its body as JSON (the caller decrefs). */
static json_t *render_json(const ch_outgoing *o) {
    ch_http out[2];
    size_t n = 0;
    char err[160] = "";
    int rc = ch_facebook_adapter.render(&t_facebook, o, out, 2, &n, err, sizeof err);
    if (rc != 0)
        fail_msg("render: code %d (%s)", rc, err);
    assert_int_equal(n, 1);
    json_t *j = t_body_json(&out[0]);
    ch_http_clear(&out[0]);
    return j;
}

static void render_update_and_tag(void **state) {
    (void)state;
    const char *text = "Hồ sơ HS-2025-000123 đã có kết quả.";
    ch_outgoing o = {.recipient = "6789012345678901",
                     .text = text,
                     .text_len = strlen(text),
                     .purpose = CH_PURPOSE_UPDATE};
    json_t *j = render_json(&o);
    assert_string_equal(json_string_value(json_object_get(j, "messaging_type")), "UPDATE");
    assert_null(json_object_get(json_object_get(j, "message"), "quick_replies"));
    json_decref(j);

    o.tag = "ACCOUNT_UPDATE";
    j = render_json(&o);
    assert_string_equal(json_string_value(json_object_get(j, "messaging_type")), "MESSAGE_TAG");
    assert_string_equal(json_string_value(json_object_get(j, "tag")), "ACCOUNT_UPDATE");
    json_decref(j);

    ch_http out[2];
    size_t n = 0;
    char err[160];
    o.tag = "APPLICATION_UPDATE"; /* legacy: Facebook refuses it since 2020 */
    assert_int_equal(ch_facebook_adapter.render(&t_facebook, &o, out, 2, &n, err, sizeof err),
                     MC_EINVAL);
    assert_int_equal(n, 0);
    assert_non_null(strstr(err, "APPLICATION_UPDATE"));
}

static void render_refusals(void **state) {
    (void)state;
    ch_quick q[CH_MAX_QUICK + 1];
    for (size_t i = 0; i < MC_ARRAY_LEN(q); i++)
        q[i] = (ch_quick){"Chọn", "P"};
    const char *text = "Chọn một mục.";
    ch_outgoing o = {.recipient = "1",
                     .text = text,
                     .text_len = strlen(text),
                     .quick = q,
                     .n_quick = CH_MAX_QUICK};
    json_t *j = render_json(&o);
    assert_int_equal(
        json_array_size(json_object_get(json_object_get(j, "message"), "quick_replies")),
        CH_MAX_QUICK);
    json_decref(j);
    o.n_quick = CH_MAX_QUICK + 1;
    assert_int_equal(render_rc(&t_facebook, &o), MC_EINVAL);
    o.n_quick = 0;
    o.text = "\xC3\x28";
    o.text_len = 2;
    assert_int_equal(render_rc(&t_facebook, &o), MC_EUTF8);
    o.text = "   \n ";
    o.text_len = 5;
    assert_int_equal(render_rc(&t_facebook, &o), MC_EINVAL);
    ch_settings bad = t_facebook;
    bad.access_token = "";
    o.text = text;
    o.text_len = strlen(text);
    assert_int_equal(render_rc(&bad, &o), MC_EINVAL);
}

static int ends_sentence(const char *s, size_t len) {
    return (len >= 1 && (s[len - 1] == '.' || s[len - 1] == '!' || s[len - 1] == '?')) ||
           (len >= 3 && memcmp(s + len - 3, "…", 3) == 0);
}

static void render_split(void **state) {
    (void)state;
    size_t len;
    char *text = t_long_text("tests/unit/data/ch_vi_sentences.txt", 4500, &len);
    assert_int_equal(t_cps(text, len), 4500);
    ch_quick q[] = {{"Có", "YES"}};
    ch_outgoing o = {
        .recipient = "6789012345678901", .text = text, .text_len = len, .quick = q, .n_quick = 1};
    ch_http out[8];
    size_t n = 0;
    char err[160];
    assert_int_equal(ch_facebook_adapter.render(&t_facebook, &o, out, 8, &n, err, sizeof err), 0);
    assert_int_equal(n, 3);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *j = t_body_json(&out[i]);
        json_t *msg = json_object_get(j, "message");
        const char *part = json_string_value(json_object_get(msg, "text"));
        size_t pl = json_string_length(json_object_get(msg, "text"));
        assert_true(t_cps(part, pl) <= FB_MAX_TEXT_CHARS);
        assert_true(t_cps(part, pl) > FB_MAX_TEXT_CHARS / 2 || i == n - 1);
        assert_true(t_utf8_ok(part, pl));
        if (i < n - 1)
            assert_true(ends_sentence(part, pl)); /* cut after a sentence end */
        /* Every part is a piece of the original, in order. */
        const char *at = strstr(text + total, part);
        assert_non_null(at);
        total = (size_t)(at - text) + pl;
        /* Quick replies only under the last part. */
        assert_int_equal(json_object_get(msg, "quick_replies") != NULL, i == n - 1);
        json_decref(j);
        ch_http_clear(&out[i]);
    }
    assert_int_equal(total, len);

    /* Too few output slots: refused, nothing left allocated. */
    assert_int_equal(ch_facebook_adapter.render(&t_facebook, &o, out, 2, &n, err, sizeof err),
                     MC_ETOOBIG);
    assert_int_equal(n, 0);
    free(text);

    /* No sentence ends, no spaces: hard cuts on code point boundaries. */
    size_t wl = 4500 * 2;
    char *word = malloc(wl + 1);
    for (size_t i = 0; i < 4500; i++)
        memcpy(word + 2 * i, "đ", 2);
    word[wl] = '\0';
    o.text = word;
    o.text_len = wl;
    o.n_quick = 0;
    assert_int_equal(ch_facebook_adapter.render(&t_facebook, &o, out, 8, &n, err, sizeof err), 0);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        json_t *j = t_body_json(&out[i]);
        json_t *t = json_object_get(json_object_get(j, "message"), "text");
        assert_int_equal(t_cps(json_string_value(t), json_string_length(t)),
                         i < 2 ? FB_MAX_TEXT_CHARS : 500);
        json_decref(j);
        ch_http_clear(&out[i]);
    }
    free(word);
}

typedef struct fb_row {
    int status;         /* HTTP status */
    const char *body;   /* answer */
    const char *retry;  /* Retry-After */
    ch_verdict verdict; /* expected */
    const char *reason; /* expected reason (prefix) */
    int fallback;       /* expected */
    int token_error;    /* expected */
    int64_t retry_ms;   /* expected retry_after_ms */
} fb_row;

static void classify_table(void **state) {
    (void)state;
    static const fb_row rows[] = {
        {200, "{\"recipient_id\":\"6789\",\"message_id\":\"m_SENT1\"}", NULL, CH_SENT, "", 0, 0, 0},
        {200, "{\"recipient_id\":\"6789\"}", NULL, CH_PERMANENT, "bad_response", 0, 0, 0},
        {400,
         "{\"error\":{\"message\":\"(#10) This message is sent outside of allowed window.\","
         "\"type\":\"OAuthException\",\"code\":10,\"error_subcode\":2018278,\"fbtrace_id\":\"A\"}}",
         NULL, CH_PERMANENT, "outside_window", 1, 0, 0},
        {400, "{\"error\":{\"message\":\"(#10) x\",\"code\":10,\"error_subcode\":2018065}}", NULL,
         CH_PERMANENT, "outside_window", 1, 0, 0},
        {400, "{\"error\":{\"message\":\"(#10) x\",\"code\":10}}", NULL, CH_PERMANENT,
         "outside_window", 1, 0, 0},
        {400,
         "{\"error\":{\"message\":\"(#551) This person isn't available right now.\","
         "\"code\":551,\"error_subcode\":1545041}}",
         NULL, CH_PERMANENT, "unreachable", 1, 0, 0},
        {400,
         "{\"error\":{\"message\":\"No matching user found\",\"code\":100,"
         "\"error_subcode\":2018108}}",
         NULL, CH_PERMANENT, "unreachable", 1, 0, 0},
        {400,
         "{\"error\":{\"message\":\"Invalid OAuth access token.\",\"type\":\"OAuthException\","
         "\"code\":190,\"error_subcode\":460}}",
         NULL, CH_PERMANENT, "token", 0, 1, 0},
        {400,
         "{\"error\":{\"message\":\"Calls to this api have exceeded the rate limit.\","
         "\"code\":613}}",
         "30", CH_RETRY, "rate_limited", 0, 0, 30000},
        {403, "{\"error\":{\"message\":\"Application request limit reached\",\"code\":4}}", NULL,
         CH_RETRY, "rate_limited", 0, 0, 0},
        {400, "{\"error\":{\"message\":\"User request limit reached\",\"code\":17}}", NULL,
         CH_RETRY, "rate_limited", 0, 0, 0},
        {400, "{\"error\":{\"message\":\"Page request limit reached\",\"code\":32}}", NULL,
         CH_RETRY, "rate_limited", 0, 0, 0},
        {500,
         "{\"error\":{\"message\":\"An unexpected error has occurred. Please retry your "
         "request later.\",\"code\":2}}",
         NULL, CH_RETRY, "temporary", 0, 0, 0},
        {400, "{\"error\":{\"message\":\"Temporary send message failure.\",\"code\":1200}}", NULL,
         CH_RETRY, "temporary", 0, 0, 0},
        {503, "<html>Service Unavailable</html>", "120", CH_RETRY, "unavailable", 0, 0, 120000},
        {502, "", NULL, CH_RETRY, "unavailable", 0, 0, 0},
        {0, NULL, NULL, CH_RETRY, "unavailable", 0, 0, 0},
        {429, "", "5", CH_RETRY, "rate_limited", 0, 0, 5000},
        {400,
         "{\"error\":{\"message\":\"(#100) The parameter recipient is required\","
         "\"code\":100}}",
         NULL, CH_PERMANENT, "100/-1: (#100) The parameter recipient is required", 0, 0, 0},
        {404, "not json", NULL, CH_PERMANENT, "HTTP 404", 0, 0, 0},
    };
    for (size_t i = 0; i < MC_ARRAY_LEN(rows); i++) {
        const fb_row *r = &rows[i];
        ch_result res;
        ch_facebook_adapter.classify(r->status, r->body, r->body ? strlen(r->body) : 0, r->retry,
                                     &res);
        if (res.verdict != r->verdict || res.fallback != r->fallback ||
            res.token_error != r->token_error || res.retry_after_ms != r->retry_ms ||
            strcmp(r->verdict == CH_SENT ? res.provider_id : res.reason,
                   r->verdict == CH_SENT ? "m_SENT1" : r->reason) != 0)
            fail_msg("row %zu (HTTP %d): verdict %d fallback %d token %d retry %lld reason "
                     "\"%s\" id \"%s\"",
                     i, r->status, res.verdict, res.fallback, res.token_error,
                     (long long)res.retry_after_ms, res.reason, res.provider_id);
    }
    /* Retry-After as an HTTP-date. */
    char date[64];
    time_t at = time(NULL) + 120;
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", gmtime(&at));
    ch_result res;
    ch_facebook_adapter.classify(503, "", 0, date, &res);
    assert_int_equal(res.verdict, CH_RETRY);
    assert_true(res.retry_after_ms > 115000 && res.retry_after_ms <= 121000);
}

static void classify_safe_reason(void **state) {
    (void)state;
    /* A hostile provider message: control characters and a huge text. */
    char body[4096];
    int o = sprintf(body, "{\"error\":{\"code\":100,\"message\":\"line1\\nline2\\u0007");
    for (int i = 0; i < 1000; i++)
        o += sprintf(body + o, "ồ");
    sprintf(body + o, "\"}}");
    ch_result res;
    ch_facebook_adapter.classify(400, body, strlen(body), NULL, &res);
    assert_int_equal(res.verdict, CH_PERMANENT);
    assert_true(strlen(res.reason) < sizeof res.reason);
    assert_true(t_utf8_ok(res.reason, strlen(res.reason)));
    for (const char *p = res.reason; *p; p++)
        assert_true((unsigned char)*p >= 0x20);
    assert_non_null(strstr(res.reason, "line1 line2"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(verify_signature),      cmocka_unit_test(challenge),
        cmocka_unit_test(parse_batch),           cmocka_unit_test(parse_receipts),
        cmocka_unit_test(postback_long_sender),  cmocka_unit_test(parse_malformed),
        cmocka_unit_test(parse_too_many),        cmocka_unit_test(render_reply),
        cmocka_unit_test(render_update_and_tag), cmocka_unit_test(render_refusals),
        cmocka_unit_test(render_split),          cmocka_unit_test(classify_table),
        cmocka_unit_test(classify_safe_reason),
    };
    return cmocka_run_group_tests_name("ch_facebook", tests, NULL, NULL);
}
