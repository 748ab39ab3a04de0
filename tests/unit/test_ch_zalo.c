/*
 * test_ch_zalo.c — the Zalo OA adapter against real-shaped events: the MAC
 * computed here with OpenSSL as Zalo computes it (SHA-256 of app_id + body +
 * timestamp + OA secret key), replay and app checks, every event kind, cs
 * message bodies parsed back with jansson, buttons and the numbered-list
 * fallback, the 2000-character split, the error-code table and token refresh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "channels/zalo.h"
#include "core/mc.h"
#include "test_ch_util.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

/* "mac=" + hex(SHA-256(app_id + body + timestamp + key)), as Zalo signs. */
static void sign(const char *app_id, const char *body, size_t len, const char *ts, const char *key,
                 char *out) {
    size_t al = strlen(app_id), tl = strlen(ts), kl = strlen(key);
    char *all = malloc(al + len + tl + kl);
    memcpy(all, app_id, al);
    memcpy(all + al, body, len);
    memcpy(all + al + len, ts, tl);
    memcpy(all + al + len + tl, key, kl);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int ml = 0;
    EVP_Digest(all, al + len + tl + kl, md, &ml, EVP_sha256(), NULL);
    free(all);
    t_hex_sig(out, "mac=", md, ml);
}

static ch_request post(const char *body, size_t len, t_headers *h, int64_t now) {
    return t_request("POST", "/webhook/zalo", "", 0, body, len, h, now);
}

#define TS_TEXT 1763880000000LL /* timestamp in ch_zalo_text.json */

static void verify_mac(void **state) {
    (void)state;
    size_t len;
    char *body = t_read("tests/unit/data/ch_zalo_text.json", &len);
    char mac[80], err[160];
    sign(T_ZALO_APP_ID, body, len, "1763880000000", T_ZALO_OA_KEY, mac);
    t_headers h = {{"X-ZEvent-Signature"}, {mac}, 1};
    ch_request r = post(body, len, &h, TS_TEXT + 1500);
    const ch_adapter *a = &ch_zalo_adapter;
    assert_int_equal(a->verify(&t_zalo, &r, err, sizeof err), 0);

    /* Replay: the same signed event 6 minutes later, or from the future. */
    r.now_ms = TS_TEXT + 6 * 60 * 1000;
    assert_int_equal(a->verify(&t_zalo, &r, err, sizeof err), MC_EINVAL);
    assert_non_null(strstr(err, "replay"));
    r.now_ms = TS_TEXT - 6 * 60 * 1000;
    assert_int_equal(a->verify(&t_zalo, &r, err, sizeof err), MC_EINVAL);
    r.now_ms = TS_TEXT + 4 * 60 * 1000; /* inside the window */
    assert_int_equal(a->verify(&t_zalo, &r, err, sizeof err), 0);

    /* A flipped byte inside the text. */
    char *p = strstr(body, "HS-2025");
    p[3] ^= 0x01;
    assert_int_equal(a->verify(&t_zalo, &r, err, sizeof err), MC_EINVAL);
    assert_non_null(strstr(err, "does not match"));
    p[3] ^= 0x01;

    /* Wrong key (for example the app secret instead of the OA secret key). */
    sign(T_ZALO_APP_ID, body, len, "1763880000000", "app-secret-key-456", mac);
    assert_int_equal(a->verify(&t_zalo, &r, err, sizeof err), MC_EINVAL);

    /* Without the "mac=" prefix; missing header. */
    sign(T_ZALO_APP_ID, body, len, "1763880000000", T_ZALO_OA_KEY, mac);
    h.value[0] = mac + 4;
    assert_int_equal(a->verify(&t_zalo, &r, err, sizeof err), MC_EINVAL);
    h.n = 0;
    assert_int_equal(a->verify(&t_zalo, &r, err, sizeof err), MC_EINVAL);
    assert_non_null(strstr(err, "missing"));
    h.n = 1;
    h.value[0] = mac;

    /* Signed correctly but for another app: refused. */
    ch_settings other = t_zalo;
    other.app_id = "111";
    assert_int_equal(a->verify(&other, &r, err, sizeof err), MC_EINVAL);
    assert_non_null(strstr(err, "app_id"));
    free(body);

    /* A body without timestamp cannot be checked. */
    const char *nots = "{\"app_id\":\"" T_ZALO_APP_ID "\",\"event_name\":\"follow\"}";
    sign(T_ZALO_APP_ID, nots, strlen(nots), "", T_ZALO_OA_KEY, mac);
    r = post(nots, strlen(nots), &h, TS_TEXT);
    assert_int_equal(a->verify(&t_zalo, &r, err, sizeof err), MC_EINVAL);
    assert_non_null(strstr(err, "timestamp"));
}

/* Parses an unsigned webhook POST of body[0..len) at TS_TEXT into m[0..*n): parse's code,
 * its error in err[160]. */
static int parse_body(const char *body, size_t len, ch_message *m, size_t *n, char *err) {
    t_headers h = {{0}, {0}, 0};
    ch_request r = post(body, len, &h, TS_TEXT);
    return ch_zalo_adapter.parse(&t_zalo, &r, m, n, err, 160);
}

static size_t parse_file(const char *path, ch_message *m, int *rc, char *err) {
    size_t len, n = 99;
    char *body = t_read(path, &len);
    *rc = parse_body(body, len, m, &n, err);
    free(body);
    return n;
}

/* Every event fixture and the messages it gives, in order. Receipts describe OUR
 * message: the OA is the sender in Zalo's payload; normalized, sender = citizen. */
static void parse_events(void **state) {
    (void)state;
    static const struct {
        const char *file;                           /* tests/unit/data/ch_zalo_<file>.json */
        size_t n;                                   /* messages it gives */
        ch_event kind;                              /* each one's ... */
        const char *id, *sender, *recipient, *text; /* text NULL: none */
        int64_t ts_ms;
    } rows[] = {
        {"text", 1, CH_EV_TEXT, "96d3cdf3af150460909", "246845883529197922", "388613280878808645",
         "Hồ sơ HS-2025-000123 của tôi tới đâu rồi?", TS_TEXT},
        {"image", 1, CH_EV_UNSUPPORTED, "a7e2ff01b2c3d4e5f60", "246845883529197922",
         "388613280878808645", NULL, 1763880001000LL},
        {"follow", 1, CH_EV_FOLLOW, "follow:246845883529197922:1763880002000", "246845883529197922",
         "388613280878808645", NULL, 1763880002000LL},
        {"unfollow", 1, CH_EV_UNFOLLOW, "unfollow:246845883529197922:1763880003000",
         "246845883529197922", "388613280878808645", NULL, 1763880003000LL},
        {"seen", 2, CH_EV_READ, "bc1f0a2e7d6c5b4a391", "246845883529197922", "388613280878808645",
         NULL, 1763880004000LL},
        {"seen", 2, CH_EV_READ, "bc1f0a2e7d6c5b4a392", "246845883529197922", "388613280878808645",
         NULL, 1763880004000LL},
        {"received", 1, CH_EV_DELIVERY, "bc1f0a2e7d6c5b4a393", "246845883529197922",
         "388613280878808645", NULL, 1763880005000LL},
        /* Our own oa_send_text echo and other names: skipped, not errors. */
        {"other", 0, CH_EV_TEXT, NULL, NULL, NULL, NULL, 0},
    };
    ch_message m[CH_MAX_MESSAGES];
    char err[160], path[96];
    for (size_t i = 0, k = 0; i < MC_ARRAY_LEN(rows); i++, k++) {
        if (i == 0 || strcmp(rows[i].file, rows[i - 1].file) != 0) { /* a new file */
            int rc;
            snprintf(path, sizeof path, "tests/unit/data/ch_zalo_%s.json", rows[i].file);
            size_t n = parse_file(path, m, &rc, err);
            if (rc != 0 || n != rows[i].n)
                fail_msg("%s: code %d (%s), %zu messages", path, rc, err, n);
            k = 0;
        }
        if (rows[i].n == 0)
            continue;
        assert_string_equal(m[k].channel, "zalo");
        assert_int_equal(m[k].kind, rows[i].kind);
        assert_string_equal(m[k].provider_id, rows[i].id);
        assert_string_equal(m[k].sender, rows[i].sender);
        assert_string_equal(m[k].recipient, rows[i].recipient);
        if (rows[i].text == NULL)
            assert_null(m[k].text);
        else
            assert_string_equal(m[k].text, rows[i].text);
        assert_int_equal(m[k].ts_ms, rows[i].ts_ms);
        ch_message_clear(&m[k]);
    }
}

/* A follow has no message id: the one made up from the follower keeps at most 80 bytes
 * of the id, cut on a code point boundary (found by tests/fuzz/fuzz_zalo.c: a byte cut
 * left a broken UTF-8 sequence in provider_id, which JSON logs then refuse). */
static void follow_long_follower(void **state) {
    (void)state;
    char id[128] = "a", want[160] = "follow:a", body[512];
    for (int i = 0; i < 40; i++)
        strcat(id, "ư"); /* 81 bytes: the 80th byte is inside the last ư */
    for (int i = 0; i < 39; i++)
        strcat(want, "ư");
    strcat(want, ":1763880000000");
    snprintf(body, sizeof body,
             "{\"app_id\":\"" T_ZALO_APP_ID "\",\"event_name\":\"follow\",\"timestamp\":"
             "\"1763880000000\",\"follower\":{\"id\":\"%s\"}}",
             id);
    ch_message m[CH_MAX_MESSAGES];
    char err[160];
    size_t n = 0;
    assert_int_equal(parse_body(body, strlen(body), m, &n, err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(m[0].sender, id);
    assert_true(t_utf8_ok(m[0].provider_id, strlen(m[0].provider_id)));
    assert_string_equal(m[0].provider_id, want);
    ch_message_clear(&m[0]);
}

static void parse_malformed(void **state) {
    (void)state;
    ch_message m[CH_MAX_MESSAGES];
    char err[160];
    int rc;
    size_t n = parse_file("tests/unit/data/ch_zalo_no_text.json", m, &rc, err);
    assert_int_equal(rc, MC_EINVAL);
    assert_string_equal(err, "message.text missing");
    assert_int_equal(n, 0);
    const char *cases[][2] = {
        {"{\"event_name\":\"user_send_text\",", "not JSON"},
        {"[1,2]", "JSON object"},
        {"{\"app_id\":\"1\"}", "event_name missing"},
        {"{\"event_name\":\"user_send_text\",\"timestamp\":\"17x\",\"sender\":{\"id\":\"1\"}}",
         "timestamp is not a number"},
        {"{\"event_name\":\"user_send_text\",\"recipient\":{\"id\":\"1\"},\"message\":{}}",
         "sender.id missing"},
        {"{\"event_name\":\"follow\",\"follower\":{}}", "follower.id missing"},
        {"{\"event_name\":\"user_seen_message\",\"sender\":{\"id\":\"1\"},\"recipient\":"
         "{\"id\":\"2\"},\"message\":{\"msg_ids\":\"x\"}}",
         "msg_ids must be an array"},
    };
    for (size_t i = 0; i < MC_ARRAY_LEN(cases); i++) {
        n = 99;
        assert_int_equal(parse_body(cases[i][0], strlen(cases[i][0]), m, &n, err), MC_EINVAL);
        assert_int_equal(n, 0);
        if (strstr(err, cases[i][1]) == NULL)
            fail_msg("case %zu: \"%s\" does not mention \"%s\"", i, err, cases[i][1]);
    }
}

static void render_cs(void **state) {
    (void)state;
    const char *text = "Hồ sơ HS-2025-000123 đang được xử lý.";
    ch_quick q[] = {{"Xem chi tiết hồ sơ", "TRA HS-2025-000123"}, {"Gặp cán bộ", "HUMAN"}};
    ch_outgoing o = {.recipient = "246845883529197922",
                     .text = text,
                     .text_len = strlen(text),
                     .quick = q,
                     .n_quick = 2,
                     .reply_to = "96d3cdf3af150460909"};
    ch_http out[4];
    size_t n = 0;
    char err[160];
    assert_int_equal(ch_zalo_adapter.render(&t_zalo, &o, out, 4, &n, err, sizeof err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(out[0].method, "POST");
    assert_string_equal(out[0].url, "https://openapi.zalo.me/v3.0/oa/message/cs");
    assert_int_equal(out[0].n_headers, 2);
    assert_string_equal(out[0].headers[0], "Content-Type: application/json");
    assert_string_equal(out[0].headers[1], "access_token: zl-access-token-123");
    json_t *j = t_body_json(&out[0]);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "recipient"), "user_id")),
        "246845883529197922");
    json_t *msg = json_object_get(j, "message");
    assert_string_equal(json_string_value(json_object_get(msg, "text")), text);
    assert_string_equal(json_string_value(json_object_get(msg, "quote_message_id")),
                        "96d3cdf3af150460909");
    json_t *att = json_object_get(msg, "attachment");
    assert_string_equal(json_string_value(json_object_get(att, "type")), "template");
    json_t *btn = json_object_get(json_object_get(att, "payload"), "buttons");
    assert_int_equal(json_array_size(btn), 2);
    json_t *b0 = json_array_get(btn, 0);
    assert_string_equal(json_string_value(json_object_get(b0, "title")), "Xem chi tiết hồ sơ");
    assert_string_equal(json_string_value(json_object_get(b0, "type")), "oa.query.hide");
    assert_string_equal(json_string_value(json_object_get(b0, "payload")), "TRA HS-2025-000123");
    json_decref(j);
    ch_http_clear(&out[0]);

    /* More choices than buttons: a numbered list in the text, no attachment. */
    ch_quick many[7];
    const char *titles[] = {"Khai sinh", "Kết hôn",  "Khai tử", "Thường trú",
                            "Tạm trú",   "Hộ chiếu", "Đất đai"};
    for (size_t i = 0; i < 7; i++)
        many[i] = (ch_quick){titles[i], titles[i]};
    o.quick = many;
    o.n_quick = 7;
    o.reply_to = NULL;
    assert_int_equal(ch_zalo_adapter.render(&t_zalo, &o, out, 4, &n, err, sizeof err), 0);
    j = t_body_json(&out[0]);
    msg = json_object_get(j, "message");
    assert_null(json_object_get(msg, "attachment"));
    assert_null(json_object_get(msg, "quote_message_id"));
    const char *t = json_string_value(json_object_get(msg, "text"));
    assert_non_null(strstr(t, "\n1. Khai sinh\n2. Kết hôn"));
    assert_non_null(strstr(t, "\n7. Đất đai"));
    json_decref(j);
    ch_http_clear(&out[0]);

    /* Refusals. */
    ch_settings bad = t_zalo;
    bad.access_token = "tok\r\nX-Evil: 1";
    o.n_quick = 0;
    assert_int_equal(ch_zalo_adapter.render(&bad, &o, out, 4, &n, err, sizeof err), MC_EINVAL);
    assert_int_equal(n, 0);
    o.text = "\xE1\xBB";
    o.text_len = 2;
    assert_int_equal(ch_zalo_adapter.render(&t_zalo, &o, out, 4, &n, err, sizeof err), MC_EUTF8);
}

static void render_split(void **state) {
    (void)state;
    size_t len;
    char *text = t_long_text("tests/unit/data/ch_vi_sentences.txt", 4500, &len);
    ch_quick q[] = {{"Đúng", "YES"}};
    ch_outgoing o = {
        .recipient = "246845883529197922", .text = text, .text_len = len, .quick = q, .n_quick = 1};
    ch_http out[8];
    size_t n = 0;
    char err[160];
    assert_int_equal(ch_zalo_adapter.render(&t_zalo, &o, out, 8, &n, err, sizeof err), 0);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        json_t *j = t_body_json(&out[i]);
        json_t *msg = json_object_get(j, "message");
        json_t *t = json_object_get(msg, "text");
        assert_true(t_cps(json_string_value(t), json_string_length(t)) <= ZALO_MAX_TEXT_CHARS);
        assert_true(t_utf8_ok(json_string_value(t), json_string_length(t)));
        assert_int_equal(json_object_get(msg, "attachment") != NULL, i == n - 1);
        json_decref(j);
        ch_http_clear(&out[i]);
    }
    free(text);
}

typedef struct z_row {
    int status;         /* HTTP status */
    const char *body;   /* Zalo's answer */
    ch_verdict verdict; /* expected */
    const char *reason; /* expected */
    int fallback;       /* expected */
    int token_error;    /* expected */
    int wait;           /* 0 none, 1 minute, 2 until 00:00 ICT, 3 until 06:00 ICT, 4 header */
} z_row;

static void classify_table(void **state) {
    (void)state;
    static const z_row rows[] = {
        {200,
         "{\"error\":0,\"message\":\"Success\",\"data\":{\"message_id\":\"z_SENT1\","
         "\"user_id\":\"246845883529197922\"}}",
         CH_SENT, "", 0, 0, 0},
        {200, "{\"error\":0,\"message\":\"Success\"}", CH_PERMANENT, "bad_response", 0, 0, 0},
        {200, "{\"error\":-216,\"message\":\"Access token is invalid\"}", CH_PERMANENT, "token", 0,
         1, 0},
        {200, "{\"error\":-220,\"message\":\"Access token has expired\"}", CH_PERMANENT, "token", 0,
         1, 0},
        {200, "{\"error\":-32,\"message\":\"Exceed rate limit\"}", CH_RETRY, "rate_limited", 0, 0,
         1},
        {200, "{\"error\":-211,\"message\":\"Out of quota\"}", CH_RETRY, "quota", 0, 0, 2},
        {200, "{\"error\":-218,\"message\":\"Out of quota receive\"}", CH_RETRY, "quota", 0, 0, 2},
        {200, "{\"error\":-234,\"message\":\"Broadcast at night is not allowed\"}", CH_RETRY,
         "night_curfew", 0, 0, 3},
        {200, "{\"error\":-100,\"message\":\"Unknown error\"}", CH_RETRY, "temporary", 0, 0, 0},
        {200, "{\"error\":-213,\"message\":\"User has not followed OA\"}", CH_PERMANENT,
         "unreachable", 1, 0, 0},
        {200, "{\"error\":-217,\"message\":\"User has blocked invitation\"}", CH_PERMANENT,
         "unreachable", 1, 0, 0},
        {200, "{\"error\":-227,\"message\":\"User was banned or inactive\"}", CH_PERMANENT,
         "unreachable", 1, 0, 0},
        {200, "{\"error\":-244,\"message\":\"User restricted this message type\"}", CH_PERMANENT,
         "unreachable", 1, 0, 0},
        {200,
         "{\"error\":-230,\"message\":\"User has not interacted with the OA in the past 7 "
         "days\"}",
         CH_PERMANENT, "outside_window", 1, 0, 0},
        {200, "{\"error\":-232,\"message\":\"User has not interacted with the OA\"}", CH_PERMANENT,
         "outside_window", 1, 0, 0},
        {200, "{\"error\":-320,\"message\":\"Require Zalo Cloud Account\"}", CH_PERMANENT,
         "billing", 1, 0, 0},
        {200, "{\"error\":-201,\"message\":\"Parameter is invalid\"}", CH_PERMANENT,
         "-201: Parameter is invalid", 0, 0, 0},
        {503, "", CH_RETRY, "unavailable", 0, 0, 4},
        {0, NULL, CH_RETRY, "unavailable", 0, 0, 0},
        {429, "", CH_RETRY, "rate_limited", 0, 0, 4},
        {200, "<html>gateway</html>", CH_PERMANENT, "bad_response", 0, 0, 0},
        {404, "{\"error\":-1}", CH_PERMANENT, "bad_response", 0, 0, 0},
    };
    const int64_t day = 24LL * 3600 * 1000;
    for (size_t i = 0; i < MC_ARRAY_LEN(rows); i++) {
        const z_row *r = &rows[i];
        ch_result res;
        int64_t before = ch_now_ms();
        ch_zalo_adapter.classify(r->status, r->body, r->body ? strlen(r->body) : 0,
                                 r->wait == 4 ? "45" : NULL, &res);
        int64_t after = ch_now_ms();
        int wait_ok;
        switch (r->wait) {
        case 1: wait_ok = res.retry_after_ms == ZALO_RATE_RETRY_MS; break;
        case 2:
        case 3: {
            int h = r->wait == 2 ? ZALO_QUOTA_RESET_HOUR : ZALO_CURFEW_END_HOUR;
            int64_t hi = ch_ms_until_local_hour(before, ZALO_UTC_OFFSET_MIN, h);
            int64_t lo = ch_ms_until_local_hour(after, ZALO_UTC_OFFSET_MIN, h);
            wait_ok = res.retry_after_ms > 0 && res.retry_after_ms <= day &&
                      ((res.retry_after_ms >= lo && res.retry_after_ms <= hi) || lo > hi);
            break;
        }
        case 4: wait_ok = res.retry_after_ms == 45000; break;
        default: wait_ok = res.retry_after_ms == 0;
        }
        if (res.verdict != r->verdict || res.fallback != r->fallback ||
            res.token_error != r->token_error || !wait_ok ||
            strcmp(r->verdict == CH_SENT ? res.provider_id : res.reason,
                   r->verdict == CH_SENT ? "z_SENT1" : r->reason) != 0)
            fail_msg("row %zu: verdict %d fallback %d token %d retry %lld reason \"%s\"", i,
                     res.verdict, res.fallback, res.token_error, (long long)res.retry_after_ms,
                     res.reason);
    }
}

static void refresh(void **state) {
    (void)state;
    ch_http h;
    char err[160];
    assert_int_equal(ch_zalo_refresh_render(&t_zalo, "rf+tok/1=", &h, err, sizeof err), 0);
    assert_string_equal(h.method, "POST");
    assert_string_equal(h.url, "https://oauth.zaloapp.com/v4/oa/access_token");
    assert_int_equal(h.n_headers, 2);
    assert_string_equal(h.headers[0], "Content-Type: application/x-www-form-urlencoded");
    assert_string_equal(h.headers[1], "secret_key: app-secret-key-456");
    char *v = t_form(h.body, h.body_len, "app_id");
    assert_string_equal(v, T_ZALO_APP_ID);
    free(v);
    v = t_form(h.body, h.body_len, "refresh_token");
    assert_string_equal(v, "rf+tok/1=");
    free(v);
    v = t_form(h.body, h.body_len, "grant_type");
    assert_string_equal(v, "refresh_token");
    free(v);
    ch_http_clear(&h);
    ch_settings bad = t_zalo;
    bad.oauth_secret = "";
    assert_int_equal(ch_zalo_refresh_render(&bad, "x", &h, err, sizeof err), MC_EINVAL);
    assert_int_equal(ch_zalo_refresh_render(&t_zalo, "", &h, err, sizeof err), MC_EINVAL);

    char access[64], rtok[64];
    int64_t exp = 0;
    const char *ok = "{\"access_token\":\"AT-new\",\"refresh_token\":\"RT-new\","
                     "\"expires_in\":\"90000\"}";
    assert_int_equal(ch_zalo_refresh_parse(ok, strlen(ok), access, sizeof access, rtok, sizeof rtok,
                                           &exp, err, sizeof err),
                     0);
    assert_string_equal(access, "AT-new");
    assert_string_equal(rtok, "RT-new");
    assert_int_equal(exp, 90000);
    const char *num = "{\"access_token\":\"A\",\"refresh_token\":\"R\",\"expires_in\":3600}";
    assert_int_equal(ch_zalo_refresh_parse(num, strlen(num), access, sizeof access, rtok,
                                           sizeof rtok, &exp, err, sizeof err),
                     0);
    assert_int_equal(exp, 3600);
    const char *refused = "{\"error_name\":\"Invalid parameter\",\"error_reason\":\"x\","
                          "\"error_description\":\"Refresh token is invalid\",\"error\":-14014}";
    assert_int_equal(ch_zalo_refresh_parse(refused, strlen(refused), access, sizeof access, rtok,
                                           sizeof rtok, &exp, err, sizeof err),
                     MC_EINVAL);
    assert_non_null(strstr(err, "-14014"));
    assert_non_null(strstr(err, "Refresh token is invalid"));
    const char *norefresh = "{\"access_token\":\"A\",\"expires_in\":\"1\"}";
    assert_int_equal(ch_zalo_refresh_parse(norefresh, strlen(norefresh), access, sizeof access,
                                           rtok, sizeof rtok, &exp, err, sizeof err),
                     MC_EINVAL);
    assert_non_null(strstr(err, "refresh_token"));
    assert_int_equal(
        ch_zalo_refresh_parse(ok, strlen(ok), access, 4, rtok, sizeof rtok, &exp, err, sizeof err),
        MC_ETOOBIG);
    const char *noexp = "{\"access_token\":\"A\",\"refresh_token\":\"R\",\"expires_in\":\"-5\"}";
    assert_int_equal(ch_zalo_refresh_parse(noexp, strlen(noexp), access, sizeof access, rtok,
                                           sizeof rtok, &exp, err, sizeof err),
                     MC_EINVAL);
    assert_int_equal(ch_zalo_refresh_parse("oops", 4, access, sizeof access, rtok, sizeof rtok,
                                           &exp, err, sizeof err),
                     MC_EINVAL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(verify_mac),
        cmocka_unit_test(parse_events),
        cmocka_unit_test(follow_long_follower),
        cmocka_unit_test(parse_malformed),
        cmocka_unit_test(render_cs),
        cmocka_unit_test(render_split),
        cmocka_unit_test(classify_table),
        cmocka_unit_test(refresh),
    };
    return cmocka_run_group_tests_name("ch_zalo", tests, NULL, NULL);
}
