/*
 * test_gw_api_fields.c — what the API accepts and writes back (gateway/api/gw_api_fields.c,
 * gw_api_reply.c): the validators of codes, phones, dates, times and path ids; local
 * dates of the daily counters (checked against gmtime over a wide range; the Lua twin
 * ymd() of gw_lua.h runs in tests/integration/report.test.mjs); query parameters;
 * masks; the JSON field validators with the field each mistake is reported on; and
 * the error bodies built.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/mc.h"
#include "gateway/api/gw_api_int.h"
#include "gateway/app/gw_time.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HOUR_MS (3600LL * 1000)
#define DAY_MS (24 * HOUR_MS)

/* The zone the API writes times in: [scheduler] timezone's default. */
static gw_tz *hcmc(void) {
    char err[128];
    gw_tz *tz = gw_tz_new("Asia/Ho_Chi_Minh", err, sizeof err);
    assert_non_null(tz);
    return tz;
}

static void test_validators(void **state) {
    (void)state;
#define OK(f, s) assert_true(f(s, strlen(s)))
#define NO(f, s) assert_false(f(s, strlen(s)))
    OK(gw_api_code_ok, "000.00.25.H29-231122-0001");
    OK(gw_api_code_ok, "G01.999.04.H29-251231-12345678");
    NO(gw_api_code_ok, "000.00.25.h29-231122-0001"); /* canonical is upper-case */
    NO(gw_api_code_ok, "000.00.25.H29-231122-001");
    NO(gw_api_code_ok, "000.00.25.H29-231322-0001"); /* month 13 */
    NO(gw_api_code_ok, "000.00.25.H29-230230-0001"); /* 30 February */
    NO(gw_api_code_ok, "000-231122-0001");
    NO(gw_api_code_ok, "000..25.H29-231122-0001");
    NO(gw_api_code_ok, "000.00.25.H29 231122 0001");
    NO(gw_api_code_ok, "");
    OK(gw_api_phone_ok, "+84901234567");
    OK(gw_api_phone_ok, "+84389999999");
    NO(gw_api_phone_ok, "0901234567");
    NO(gw_api_phone_ok, "+84201234567"); /* a landline */
    NO(gw_api_phone_ok, "+8490123456");
    NO(gw_api_phone_ok, "+849012345678");
    NO(gw_api_phone_ok, "+84 90123456");
    OK(gw_api_date_ok, "2026-12-01");
    OK(gw_api_date_ok, "2028-02-29");
    NO(gw_api_date_ok, "2026-02-29");
    NO(gw_api_date_ok, "2026-12-1");
    NO(gw_api_date_ok, "01/12/2026");
    /* length-carrying: only the first len bytes count */
    assert_true(gw_api_phone_ok("+84901234567999", 12));
#undef OK
#undef NO
}

static void test_times(void **state) {
    (void)state;
    int64_t ms = 0;
    const char *s = "2026-11-23T08:00:00+07:00";
    assert_int_equal(gw_api_parse_time(s, strlen(s), &ms), 0);
    assert_int_equal(ms, 1795395600000LL); /* 2026-11-23T01:00:00Z */
    s = "2026-11-23T01:00:00.250Z";
    assert_int_equal(gw_api_parse_time(s, strlen(s), &ms), 0);
    assert_int_equal(ms, 1795395600250LL);
    s = "2026-11-22T20:30:00-04:30";
    assert_int_equal(gw_api_parse_time(s, strlen(s), &ms), 0);
    assert_int_equal(ms, 1795395600000LL);
    const char *bad[] = {"2026-11-23 08:00:00+07:00", "2026-11-23T08:00:00",
                         "2026-11-23T24:00:00Z",      "2026-02-30T08:00:00Z",
                         "2026-11-23T08:00:00+0700",  "tomorrow",
                         "2026-11-23T08:00:00.Z"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(gw_api_parse_time(bad[i], strlen(bad[i]), &ms), MC_EINVAL);
    char out[GW_API_TIME_MAX];
    gw_tz *tz = hcmc();
    gw_api_format_time(NULL, 1795395600000LL, out, sizeof out); /* no process: UTC */
    assert_string_equal(out, "2026-11-23T01:00:00Z");
    gw_tz_format(tz, 1795395600000LL, out, sizeof out); /* what the API writes */
    assert_string_equal(out, "2026-11-23T08:00:00+07:00");
    gw_tz_format(tz, 1795455600000LL, out, sizeof out); /* 17:40Z → next day in HCMC */
    assert_string_equal(out, "2026-11-24T00:40:00+07:00");
    gw_tz_free(tz);
}

/* ms of local (UTC+7) midnight of y-m-d, through timegm. */
static int64_t local_midnight(int y, int m, int d) {
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    return (int64_t)timegm(&tm) * 1000 - 7 * HOUR_MS;
}

static gw_tz *the_tz;

static void date_of(int64_t ms, char *out) {
    gw_date_of_day(gw_tz_day(the_tz, ms), out);
}

static void dates_known(void **state) {
    (void)state;
    the_tz = hcmc();
    char d[GW_API_DATE_LEN];
    int64_t m = local_midnight(2026, 11, 17);
    date_of(m, d);
    assert_string_equal(d, "2026-11-17");
    date_of(m - 1, d); /* 23:59:59.999 the evening before, local */
    assert_string_equal(d, "2026-11-16");
    date_of(m + DAY_MS - 1, d);
    assert_string_equal(d, "2026-11-17");
    /* 17:00 UTC is already the next day in Ho Chi Minh City */
    date_of(local_midnight(2026, 11, 18), d);
    assert_string_equal(d, "2026-11-18");
    date_of(local_midnight(2028, 2, 29) + 12 * HOUR_MS, d);
    assert_string_equal(d, "2028-02-29");
    date_of(local_midnight(2100, 3, 1), d); /* 2100 is not a leap year */
    assert_string_equal(d, "2100-03-01");
    date_of(local_midnight(2100, 3, 1) - 1, d);
    assert_string_equal(d, "2100-02-28");
    /* the zone's history: Saigon kept UTC+8 until 13 June 1975 (ICU's tz data) */
    date_of(0, d); /* 08:00 local on 1970-01-01 */
    assert_string_equal(d, "1970-01-01");
    date_of(-8 * HOUR_MS - 1, d);
    assert_string_equal(d, "1969-12-31");
    assert_int_equal(gw_tz_day(the_tz, local_midnight(2000, 1, 2)), 10958);
    assert_int_equal(gw_tz_day(the_tz, local_midnight(2000, 1, 2) - 1), 10957);
    assert_int_equal(gw_api_day(NULL, 86400000LL), 1); /* no process: UTC days */
    assert_int_equal(gw_api_day(NULL, -1), -1);
    gw_tz_free(the_tz);
}

/* Every 7 hours 13 minutes from 1976 to 2150 against gmtime of the shifted time. */
static void dates_match_gmtime(void **state) {
    (void)state;
    the_tz = hcmc();
    int64_t step = 7 * HOUR_MS + 13 * 60000 + 17;
    int n = 0;
    /* from 1976: UTC+7 since the zone's last change (June 1975) */
    for (int64_t ms = local_midnight(1976, 1, 1); ms < local_midnight(2150, 1, 1); ms += step) {
        time_t t = (time_t)((ms + 7 * HOUR_MS) / 1000 - ((ms + 7 * HOUR_MS) % 1000 < 0));
        struct tm tm;
        gmtime_r(&t, &tm);
        char want[32], got[GW_API_DATE_LEN];
        snprintf(want, sizeof want, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
        date_of(ms, got);
        if (strcmp(want, got))
            fail_msg("at %lld ms: %s, expected %s", (long long)ms, got, want);
        n++;
    }
    assert_true(n > 170000);
    gw_tz_free(the_tz);
}

/* gw_api_query_long over a NUL-terminated query. */
static int ql(const char *q, const char *name, long def, long min, long max, long *v) {
    return gw_api_query_long(q, strlen(q), name, def, min, max, v);
}

static void query_params(void **state) {
    (void)state;
    long v = -1;
    assert_int_equal(ql("", "days", 7, 1, 31, &v), 0);
    assert_int_equal(v, 7);
    assert_int_equal(ql("days=12", "days", 7, 1, 31, &v), 0);
    assert_int_equal(v, 12);
    assert_int_equal(ql("x=1&days=31&y=2", "days", 7, 1, 31, &v), 0);
    assert_int_equal(v, 31);
    assert_int_equal(ql("daysx=5&xdays=4", "days", 7, 1, 31, &v), 0);
    assert_int_equal(v, 7);
    assert_int_equal(ql("limit=200", "limit", 50, 1, 200, &v), 0);
    assert_int_equal(v, 200);
    const char *bad[] = {"days=0",  "days=32",    "days=",   "days=abc",
                         "days=-1", "days=1%2E5", "days=7a", "days=99999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(ql(bad[i], "days", 7, 1, 31, &v), MC_EINVAL);
    /* only the given length is read */
    assert_int_equal(gw_api_query_long("days=3&days=99", 6, "days", 7, 1, 31, &v), 0);
    assert_int_equal(v, 3);
}

static void masking(void **state) {
    (void)state;
    static const char *const cases[][2] = {
        {"+84901234567", "+8490****567"},
        {"1234567890123456", "12****56"},
        {"psid-abcdef", "ps****ef"},
        {"abcdefg", "ab****fg"},
        {"abcdef", "****"},
        {"", ""},
    };
    char out[64];
    for (size_t i = 0; i < MC_ARRAY_LEN(cases); i++) {
        gw_api_mask(cases[i][0], out, sizeof out);
        assert_string_equal(out, cases[i][1]);
    }
    gw_api_mask("1234567890123456", out, 5); /* truncated, still terminated */
    assert_int_equal(strlen(out), 4);
}

static void query_decoding(void **state) {
    (void)state;
    char v[16];
#define Q(q, name) gw_api_query(q, strlen(q), name, v, sizeof v)
    assert_int_equal(Q("q=h29-231122&limit=20", "q"), 0);
    assert_string_equal(v, "h29-231122");
    assert_int_equal(Q("a=1&q=%C4%91%20x+y", "q"), 0); /* %XX and '+' decode */
    assert_string_equal(v, "\xc4\x91 x y");
    assert_int_equal(Q("q=50%", "q"), 0); /* a lone % stays */
    assert_string_equal(v, "50%");
    assert_int_equal(Q("q=%zz", "q"), 0);
    assert_string_equal(v, "%zz");
    assert_int_equal(Q("q=", "q"), 0); /* present and empty */
    assert_string_equal(v, "");
    assert_int_equal(Q("q=1&q=2", "q"), 0); /* the first one counts */
    assert_string_equal(v, "1");
    assert_int_equal(Q("qq=1&xq=2", "q"), MC_ENOTFOUND);
    assert_int_equal(Q("q", "q"), MC_ENOTFOUND);
    assert_int_equal(Q("", "q"), MC_ENOTFOUND);
    assert_int_equal(Q("q=0123456789abcdef", "q"), MC_ETOOBIG); /* 16 bytes and a NUL */
    assert_int_equal(Q("q=0123456789abcde", "q"), 0);
    assert_int_equal(Q("q=a%00b", "q"), MC_EINVAL);
#undef Q
    /* whole numbers are read after decoding, digits only */
    long n = 0;
    assert_int_equal(gw_api_query_long("days=%37", 8, "days", 1, 1, 31, &n), 0);
    assert_int_equal(n, 7);
    assert_int_equal(gw_api_query_long("days=+7", 7, "days", 1, 1, 31, &n), MC_EINVAL);
    assert_int_equal(gw_api_query_long("days=007", 8, "days", 1, 1, 31, &n), 0);
    assert_int_equal(n, 7);
}

static void ids_and_names(void **state) {
    (void)state;
#define ID(s, set) gw_api_id_ok(s, strlen(s), set)
    assert_true(ID("0123456789abcdef", GW_API_ID_HEX));
    assert_false(ID("0123456789ABCDEF", GW_API_ID_HEX));
    assert_false(ID("abc-1", GW_API_ID_HEX));
    assert_true(ID("abc-1", GW_API_ID_NOTIF));
    assert_false(ID("abc_1", GW_API_ID_NOTIF));
    assert_true(ID("Abc_1-z", GW_API_ID_WORD));
    assert_false(ID("a/b", GW_API_ID_WORD));
    assert_false(ID("", GW_API_ID_WORD));
#undef ID
    char id[GW_API_NOTIF_ID_MAX + 2];
    memset(id, 'a', sizeof id);
    assert_true(gw_api_id_ok(id, GW_API_NOTIF_ID_MAX, GW_API_ID_HEX));
    assert_false(gw_api_id_ok(id, GW_API_NOTIF_ID_MAX + 1, GW_API_ID_HEX));
    assert_false(gw_api_id_ok("ab\0c", 4, GW_API_ID_HEX)); /* a NUL is no id character */

    assert_true(gw_api_user_id_ok("psid-1234", 9));
    assert_false(gw_api_user_id_ok("a b", 3));
    assert_false(gw_api_user_id_ok("\xc4\x91", 2));
    assert_false(gw_api_user_id_ok("", 0));
    assert_true(gw_api_channel_known("zalo"));
    assert_true(gw_api_channel_known("webchat"));
    assert_false(gw_api_channel_known("telegram"));

    char out[32];
    gw_api_mask_id("abcdefgh", 3, out, sizeof out); /* length-carrying */
    assert_string_equal(out, "****");
    gw_api_mask_id("abcdefgh", 7, out, sizeof out);
    assert_string_equal(out, "ab****fg");
    char hex[2 * 16 + 1];
    gw_api_random_hex(hex, 16);
    assert_int_equal(strlen(hex), 32);
    assert_true(gw_api_id_ok(hex, 32, GW_API_ID_HEX));
    char h[GW_API_HASH_HEX];
    gw_api_sha256_hex("abc", 3, h);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

/* A JSON object from text, for the field validators. */
static json_t *obj(const char *text) {
    json_t *o = json_loads(text, JSON_ALLOW_NUL, NULL);
    assert_non_null(o);
    return o;
}

static void field_validators(void **state) {
    (void)state;
    gw_api_err e = {0};
    static const char *const allowed[] = {"a", "b", NULL};
    json_t *o = obj("{\"a\":\"x\",\"b\":1}");
    assert_int_equal(gw_api_only_fields(&e, o, allowed, "", GW_API_CUT), 0);
    assert_int_equal(e.status, 0);
    json_decref(o);
    o = obj("{\"a\":\"x\",\"c\":1}");
    assert_int_equal(gw_api_only_fields(&e, o, allowed, "to.", GW_API_CUT), MC_EINVAL);
    assert_int_equal(e.status, 400);
    assert_string_equal(e.code, "bad_field");
    assert_string_equal(e.field, "to.c");
    assert_string_equal(e.message, "unknown field");
    json_decref(o);
    /* a long unknown key is named by its first 60 bytes (the API) or 48 characters (the
     * console), never half a letter */
    char key[200] = "", text[2 * sizeof key + 16];
    for (int i = 0; i < 70; i++)
        strcat(key, "đ");
    snprintf(text, sizeof text, "{\"%s\":1,\"x%s\":2}", key, key);
    static const char *const only_x[] = {"x", NULL};
    o = obj(text);
    memset(&e, 0, sizeof e);
    gw_api_only_fields(&e, o, allowed, "", GW_API_CUT_CONSOLE);
    assert_int_equal(strlen(e.field), 2 * 48);
    memset(&e, 0, sizeof e);
    gw_api_only_fields(&e, o, allowed, "template.data.", GW_API_CUT);
    assert_string_equal(e.field + strlen("template.data."), "đđđđđđđđđđđđđđđđđđđđđđđđđđđđđđ");
    json_decref(o);
    snprintf(text, sizeof text, "{\"x%s\":2}", key);
    o = obj(text);
    memset(&e, 0, sizeof e);
    gw_api_only_fields(&e, o, only_x, "", GW_API_CUT); /* byte 60 is inside a letter */
    assert_int_equal(strlen(e.field), 59);
    json_decref(o);

    const char *s;
    size_t len = 0;
    o = obj("{\"s\":\"abc\",\"n\":1,\"e\":\"\",\"z\":\"a\\u0000b\",\"nul\":null}");
    memset(&e, 0, sizeof e);
    assert_int_equal(gw_api_str_field(&e, o, "s", "x.s", 3, true, &s, &len), 0);
    assert_string_equal(s, "abc");
    assert_int_equal(len, 3);
    assert_int_equal(gw_api_str_field(&e, o, "nul", "nul", 3, false, &s, NULL), 0);
    assert_null(s);
    assert_int_equal(gw_api_str_field(&e, o, "gone", "gone", 3, false, &s, NULL), 0);
    assert_null(s);
    static const struct {
        const char *name;
        bool required;
        const char *code, *message;
    } bad[] = {
        {"gone", true, "missing_field", "gone is required"},
        {"nul", true, "missing_field", "nul is required"},
        {"n", false, "bad_field", "n must be a string"},
        {"e", false, "bad_field", "e must be 1..2 bytes"},
        {"s", false, "bad_field", "s must be 1..2 bytes"},
        {"z", false, "bad_field", "z must not contain NUL"},
    };
    for (size_t i = 0; i < MC_ARRAY_LEN(bad); i++) {
        memset(&e, 0, sizeof e);
        size_t max = strcmp(bad[i].name, "z") ? 2 : 3;
        assert_int_equal(
            gw_api_str_field(&e, o, bad[i].name, bad[i].name, max, bad[i].required, &s, NULL),
            MC_EINVAL);
        assert_string_equal(e.code, bad[i].code);
        assert_string_equal(e.field, bad[i].name);
        assert_string_equal(e.message, bad[i].message);
    }
    json_decref(o);

    int64_t ms = 5;
    o = obj("{\"at\":\"2026-11-23T08:00:00+07:00\",\"bad\":\"tomorrow\"}");
    assert_int_equal(gw_api_time_field(&e, o, "gone", &ms), 0);
    assert_int_equal(ms, 5); /* unchanged when absent */
    assert_int_equal(gw_api_time_field(&e, o, "at", &ms), 0);
    assert_int_equal(ms, 1795395600000LL);
    memset(&e, 0, sizeof e);
    assert_int_equal(gw_api_time_field(&e, o, "bad", &ms), MC_EINVAL);
    assert_string_equal(e.field, "bad");
    json_decref(o);
}

/* gw_api_message_fields on a body: 0, or the field at fault. */
static const char *message_fault(const char *text, gw_api_message *m) {
    static gw_api_err e;
    json_t *o = obj(text);
    memset(&e, 0, sizeof e);
    memset(m, 0, sizeof *m);
    int rc = gw_api_message_fields(&e, o, m);
    json_decref(o); /* m borrows from o: only its pointers' NULL-ness is read below */
    assert_true(rc == 0 ? e.status == 0 : rc == MC_EINVAL && e.status == 400);
    return rc ? e.field : NULL;
}

static void message_fields(void **state) {
    (void)state;
    gw_api_message m;
    assert_null(message_fault("{\"text\":\"x\"}", &m));
    assert_non_null(m.priority); /* normal when absent */
    assert_null(message_fault("{\"template\":{\"id\":\"cup-dien\",\"data\":{\"a\":1,\"b\":\"c\"}},"
                              "\"priority\":\"urgent\",\"idempotency_key\":\"k-1\"}",
                              &m));
    assert_non_null(m.tpl_id);
    assert_non_null(m.tpl_data);
    assert_null(m.text);
    static const char *const bad[][2] = {
        {"{}", "text"},
        {"{\"text\":\"x\",\"template\":{\"id\":\"a\"}}", "template"},
        {"{\"text\":\"\"}", "text"},
        {"{\"text\":\"x\",\"priority\":\"high\"}", "priority"},
        {"{\"text\":\"x\",\"idempotency_key\":\"a b\"}", "idempotency_key"},
        {"{\"template\":\"a\"}", "template"},
        {"{\"template\":{}}", "template.id"},
        {"{\"template\":{\"id\":\"A\"}}", "template.id"},
        {"{\"template\":{\"id\":\"a\",\"x\":1}}", "template.x"},
        {"{\"template\":{\"id\":\"a\",\"data\":[]}}", "template.data"},
        {"{\"template\":{\"id\":\"a\",\"data\":{\"v\":null}}}", "template.data.v"},
    };
    for (size_t i = 0; i < MC_ARRAY_LEN(bad); i++) {
        const char *f = message_fault(bad[i][0], &m);
        if (!f || strcmp(f, bad[i][1]))
            fail_msg("%s: want the fault on %s, got %s", bad[i][0], bad[i][1], f ? f : "none");
    }

    gw_api_err e = {0};
    json_t *o = obj("{\"send_at\":\"2030-01-02T08:00:00+07:00\"}");
    assert_int_equal(gw_api_message_times(&e, o, &m), 0);
    assert_int_equal(m.send_at_ms, 1893546000000LL);
    assert_int_equal(m.not_after_ms, 0);
    assert_true(m.created_ms > 0 && m.created_ms < m.send_at_ms);
    json_decref(o);
}

static void error_bodies(void **state) {
    (void)state;
    gw_api_err e = {0};
    assert_int_equal(gw_api_err_set(&e, 403, "forbidden", NULL, "ward %s is outside", "26743"),
                     MC_EINVAL);
    char *s = gw_api_err_json(&e);
    assert_string_equal(s, "{\"error\":\"forbidden\",\"message\":\"ward 26743 is outside\"}");
    free(s);
    gw_api_err_set(&e, 400, "bad_field", "to.phone", "to.phone must be \"E.164\"");
    s = gw_api_err_json(&e);
    assert_string_equal(s,
                        "{\"error\":\"bad_field\",\"message\":\"to.phone must be \\\"E.164\\\"\","
                        "\"field\":\"to.phone\"}");
    free(s);
    gw_api_err_set(&e, 400, "bad_field", "", "no field");
    s = gw_api_err_json(&e);
    assert_null(strstr(s, "field\":"));
    free(s);
    /* a message that is not UTF-8 cannot be written: the answer becomes a 500 */
    gw_api_err_set(&e, 400, "bad_field", "x", "\xff");
    assert_null(gw_api_err_json(&e));
}

/* A history or attempts list: JSON texts parsed, anything else kept as a string. */
static void json_lists(void **state) {
    (void)state;
    redisReply a = {.type = REDIS_REPLY_STRING, .str = "{\"status\":\"sent\"}", .len = 17};
    redisReply b = {.type = REDIS_REPLY_STRING, .str = "not json", .len = 8};
    redisReply c = {.type = REDIS_REPLY_NIL};
    redisReply *items[] = {&a, &b, &c};
    redisReply list = {.type = REDIS_REPLY_ARRAY, .elements = 3, .element = items};
    json_t *j = gw_api_json_list(&list);
    char *s = json_dumps(j, JSON_COMPACT);
    assert_string_equal(s, "[{\"status\":\"sent\"},\"not json\"]");
    free(s);
    json_decref(j);
    redisReply none = {.type = REDIS_REPLY_NIL};
    j = gw_api_json_list(&none);
    assert_int_equal(json_array_size(j), 0);
    json_decref(j);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validators),  cmocka_unit_test(test_times),
        cmocka_unit_test(dates_known),      cmocka_unit_test(dates_match_gmtime),
        cmocka_unit_test(query_params),     cmocka_unit_test(query_decoding),
        cmocka_unit_test(masking),          cmocka_unit_test(ids_and_names),
        cmocka_unit_test(field_validators), cmocka_unit_test(message_fields),
        cmocka_unit_test(error_bodies),     cmocka_unit_test(json_lists),
    };
    return cmocka_run_group_tests_name("gw_api_fields", tests, NULL, NULL);
}
