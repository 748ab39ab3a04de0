/*
 * test_ch_zns.c — the ZNS adapter: the template message request (phone in the 84 form,
 * template_id, template_data, our tracking_id, the OA token header), what render
 * refuses, the error table (token, quota hold until midnight, a phone not on Zalo
 * remembered, a disabled template ending the notification, retry), the template-info
 * request and answer, the preview's one unit per citizen; and the Zalo adapter giving a
 * ZNS delivery event (one with a tracking_id) to this channel with the phone in E.164.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "channels/zalo.h"
#include "channels/zns.h"
#include "core/mc.h"
#include "test_ch_util.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const ch_settings t_zns = {
    .enabled = 1,
    .api_base = "https://business.openapi.zalo.me/",
    .access_token = "zl-access-token-123",
    .unreachable_days = 30,
};

#define MSG                                                                                        \
    "{\"template_id\":\"231456\",\"template_data\":{\"ma_ho_so\":\"HS-1\",\"ngay\":\"1/12\"}}"

static ch_outgoing outgoing(const char *to, const char *data) {
    ch_outgoing o = {0};
    o.recipient = to;
    o.text = "Hồ sơ HS-1 đã có kết quả";
    o.text_len = strlen(o.text);
    o.purpose = CH_PURPOSE_UPDATE;
    o.tracking_id = "3-0123456789abcdef0123456789abcdef";
    o.data = data;
    o.data_len = data ? strlen(data) : 0;
    return o;
}

static void render_template(void **state) {
    (void)state;
    ch_outgoing o = outgoing("+84912345678", MSG);
    ch_http h[2];
    size_t n = 0;
    char err[160];
    assert_int_equal(ch_zns_adapter.render(&t_zns, &o, h, 2, &n, err, sizeof err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(h[0].method, "POST");
    assert_string_equal(h[0].url, "https://business.openapi.zalo.me/message/template");
    int token = 0;
    for (size_t i = 0; i < h[0].n_headers; i++)
        token |= !strcmp(h[0].headers[i], "access_token: zl-access-token-123");
    assert_true(token);
    json_t *b = t_body_json(&h[0]);
    assert_non_null(b);
    assert_string_equal(json_string_value(json_object_get(b, "phone")), "84912345678");
    assert_string_equal(json_string_value(json_object_get(b, "template_id")), "231456");
    assert_string_equal(json_string_value(json_object_get(b, "tracking_id")), o.tracking_id);
    json_t *td = json_object_get(b, "template_data");
    assert_int_equal(json_object_size(td), 2);
    assert_string_equal(json_string_value(json_object_get(td, "ma_ho_so")), "HS-1");
    assert_null(json_object_get(b, "text")); /* ZNS carries no free text */
    json_decref(b);
    ch_http_clear(&h[0]);
}

static void render_refuses(void **state) {
    (void)state;
    static const struct {
        const char *to, *data, *tracking; /* tracking NULL: the default one */
        const char *why;                  /* in err */
    } rows[] = {
        {"+84912345678", NULL, NULL, "no template message"},
        {"+84912345678", "{\"template_id\":\"1\"}", NULL, "template_data"},
        {"+84912345678", "{\"template_id\":\"1\",\"template_data\":{}}", NULL, "template_data"},
        {"+84912345678", "not json", NULL, "template_data"},
        {"0912345678", MSG, NULL, "E.164"},
        {"+14155550100", MSG, NULL, "E.164"},
        {"+84912345678", MSG, "", "tracking_id"},
        {"+84912345678", MSG, "0123456789012345678901234567890123456789012345678", "tracking_id"},
    };
    for (size_t i = 0; i < MC_ARRAY_LEN(rows); i++) {
        ch_outgoing o = outgoing(rows[i].to, rows[i].data);
        if (rows[i].tracking)
            o.tracking_id = rows[i].tracking;
        ch_http h[1];
        size_t n = 7;
        char err[160] = "";
        if (ch_zns_adapter.render(&t_zns, &o, h, 1, &n, err, sizeof err) == 0)
            fail_msg("row %zu rendered", i);
        assert_int_equal(n, 0);
        if (!strstr(err, rows[i].why))
            fail_msg("row %zu: '%s' lacks '%s'", i, err, rows[i].why);
    }
    ch_settings none = t_zns;
    none.access_token = "";
    ch_outgoing o = outgoing("+84912345678", MSG);
    ch_http h[1];
    size_t n;
    char err[160];
    assert_int_equal(ch_zns_adapter.render(&none, &o, h, 1, &n, err, sizeof err), MC_EINVAL);
}

static void classify_table(void **state) {
    (void)state;
    static const struct {
        int status;
        const char *body;
        ch_verdict verdict;
        const char *reason;
        int fallback, token, unreachable, hold, final;
    } rows[] = {
        {200, "{\"error\":0,\"message\":\"Success\",\"data\":{\"msg_id\":\"abc123\"}}", CH_SENT, "",
         0, 0, 0, 0, 0},
        {200, "{\"error\":-124,\"message\":\"Access token is invalid\"}", CH_PERMANENT, "token", 0,
         1, 0, 0, 0},
        {200, "{\"error\":-144,\"message\":\"OA has exceeded the daily quota\"}", CH_PERMANENT,
         "quota", 1, 0, 0, 1, 0},
        {200, "{\"error\":-118,\"message\":\"Zalo account does not exist\"}", CH_PERMANENT,
         "not_on_zalo", 1, 0, 1, 0, 0},
        {200, "{\"error\":-114,\"message\":\"inactive\"}", CH_PERMANENT, "not_on_zalo", 1, 0, 1, 0,
         0},
        {200, "{\"error\":-131,\"message\":\"template disabled\"}", CH_PERMANENT,
         "template_disabled", 0, 0, 0, 0, 1},
        {200, "{\"error\":-108,\"message\":\"Phone number is invalid\"}", CH_PERMANENT, "bad_phone",
         1, 0, 0, 0, 0},
        {200, "{\"error\":-100,\"message\":\"Application error\"}", CH_RETRY, "temporary", 0, 0, 0,
         0, 0},
        {503, "upstream down", CH_RETRY, "unavailable", 0, 0, 0, 0, 0},
        {200, "{\"error\":-999,\"message\":\"new\"}", CH_PERMANENT, "-999: new", 1, 0, 0, 0, 0},
        {200, "{\"error\":0,\"data\":{}}", CH_PERMANENT, "bad_response", 0, 0, 0, 0, 0},
        {400, "<html>", CH_PERMANENT, "bad_response", 1, 0, 0, 0, 0},
    };
    for (size_t i = 0; i < MC_ARRAY_LEN(rows); i++) {
        ch_result r;
        ch_zns_adapter.classify(rows[i].status, rows[i].body, strlen(rows[i].body), NULL, &r);
        if (r.verdict != rows[i].verdict || strcmp(r.reason, rows[i].reason) ||
            r.fallback != rows[i].fallback || r.token_error != rows[i].token ||
            r.unreachable != rows[i].unreachable || (r.hold_ms > 0) != rows[i].hold ||
            r.final != rows[i].final)
            fail_msg(
                "row %zu: verdict %d reason '%s' fallback %d token %d unreachable %d hold %lld "
                "final %d",
                i, r.verdict, r.reason, r.fallback, r.token_error, r.unreachable,
                (long long)r.hold_ms, r.final);
        if (rows[i].hold)
            assert_true(r.hold_ms <= 24LL * 3600 * 1000);
    }
    ch_result r;
    const char *ok = "{\"error\":0,\"data\":{\"msg_id\":\"9f8e7d\"}}";
    ch_zns_adapter.classify(200, ok, strlen(ok), NULL, &r);
    assert_string_equal(r.provider_id, "9f8e7d");
}

static void template_info(void **state) {
    (void)state;
    ch_http h;
    char err[200];
    assert_int_equal(ch_zns_adapter.tpl_info_render(&t_zns, "231 456", &h, err, sizeof err), 0);
    assert_string_equal(h.method, "GET");
    assert_string_equal(h.url,
                        "https://business.openapi.zalo.me/template/info/v2?template_id=231%20456");
    assert_string_equal(h.headers[0], "access_token: zl-access-token-123");
    ch_http_clear(&h);

    const char *ans = "{\"error\":0,\"message\":\"Success\",\"data\":{\"templateId\":231456,"
                      "\"status\":\"ENABLE\",\"listParams\":[{\"name\":\"ma_ho_so\",\"require\":"
                      "true,\"maxLength\":30},{\"name\":\"ngay\",\"require\":false}]}}";
    ch_tpl_info info;
    assert_int_equal(ch_zns_adapter.tpl_info_parse(200, ans, strlen(ans), &info, err, sizeof err),
                     0);
    assert_true(info.usable);
    assert_int_equal(info.n_params, 2);
    assert_string_equal(info.params[0].name, "ma_ho_so");
    assert_int_equal(info.params[0].max_len, 30);
    assert_true(info.params[0].required);
    assert_int_equal(info.params[1].max_len, 0);
    assert_false(info.params[1].required);

    const char *pending =
        "{\"error\":0,\"data\":{\"status\":\"PENDING_REVIEW\",\"listParams\":[]}}";
    assert_int_equal(
        ch_zns_adapter.tpl_info_parse(200, pending, strlen(pending), &info, err, sizeof err), 0);
    assert_false(info.usable);
    assert_string_equal(info.status, "PENDING_REVIEW");

    const char *bad = "{\"error\":-109,\"message\":\"ID of ZNS template is invalid\"}";
    assert_int_equal(ch_zns_adapter.tpl_info_parse(200, bad, strlen(bad), &info, err, sizeof err),
                     MC_EINVAL);
    assert_non_null(strstr(err, "-109"));
    assert_int_equal(ch_zns_adapter.tpl_info_parse(0, "", 0, &info, err, sizeof err), MC_EUNAVAIL);
}

static void preview_and_policy(void **state) {
    (void)state;
    ch_preview pv;
    assert_int_equal(ch_zns_adapter.preview(&t_zns, "x", 1, &pv), 0);
    assert_int_equal(pv.units, 1);
    ch_preview_clear(&pv);
    assert_true(ch_zns_adapter.policy->phone_recipient);
    assert_true(ch_zns_adapter.policy->remembers);
    assert_string_equal(ch_zns_adapter.section, "zalo");
    assert_string_equal(ch_zns_adapter.token_of, "zalo");
    assert_string_equal(ch_zalo_adapter.by_phone, ch_zns_channel);
    assert_ptr_equal(ch_adapter_find(ch_zns_channel), &ch_zns_adapter);
    assert_null(ch_zns_adapter.verify); /* its events come on Zalo's webhook */
}

/* A ZNS delivery event on the OA webhook is this channel's, its citizen an E.164 phone. */
static void zalo_gives_zns_delivery(void **state) {
    (void)state;
    const char *body = "{\"app_id\":\"" T_ZALO_APP_ID "\",\"event_name\":\"user_received_message\","
                       "\"sender\":{\"id\":\"388613280878808645\"},\"recipient\":{\"id\":"
                       "\"84912345678\"},\"message\":{\"msg_id\":\"zns-msg-1\",\"tracking_id\":"
                       "\"3-abc\",\"delivery_time\":\"1763880005000\"},\"timestamp\":"
                       "\"1763880005000\"}";
    t_headers hd = {0};
    ch_request rq =
        t_request("POST", "/webhook/zalo", "", 0, body, strlen(body), &hd, 1763880005000LL);
    ch_message m[CH_MAX_MESSAGES];
    size_t n = 0;
    char err[160];
    assert_int_equal(ch_zalo_adapter.parse(&t_zalo, &rq, m, &n, err, sizeof err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(m[0].channel, ch_zns_channel);
    assert_int_equal(m[0].kind, CH_EV_DELIVERY);
    assert_string_equal(m[0].sender, "+84912345678");
    assert_string_equal(m[0].provider_id, "zns-msg-1");
    ch_message_clear(&m[0]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(render_template),    cmocka_unit_test(render_refuses),
        cmocka_unit_test(classify_table),     cmocka_unit_test(template_info),
        cmocka_unit_test(preview_and_policy), cmocka_unit_test(zalo_gives_zns_delivery),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
