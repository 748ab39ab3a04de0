/*
 * test_ch_core.c — the channel core helpers every adapter leans on: the adapter
 * table, constant-time compare, base64, form decoding, UTF-8 counting and cutting,
 * log-safe copies, Retry-After and local-hour arithmetic, header building.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "channels/ch.h"
#include "core/mc.h"
#include "test_ch_util.h"

#include <stdlib.h>
#include <string.h>

static void adapter_table(void **state) {
    (void)state;
    const char *names[] = {"facebook", "zalo", "sms"};
    for (size_t i = 0; i < 3; i++) {
        const ch_adapter *a = ch_adapter_find(names[i]);
        assert_non_null(a);
        assert_string_equal(a->name, names[i]);
        assert_non_null(a->verify);
        assert_non_null(a->parse);
        assert_non_null(a->render);
        assert_non_null(a->classify);
    }
    assert_null(ch_adapter_find("telegram"));
    assert_null(ch_adapter_find(NULL));
}

static void bytes(void **state) {
    (void)state;
    assert_true(ch_ct_equal("abc", 3, "abc", 3));
    assert_false(ch_ct_equal("abc", 3, "abd", 3));
    assert_false(ch_ct_equal("abc", 3, "abcd", 4));
    assert_true(ch_ct_equal("", 0, "", 0));
    char b64[32];
    /* RFC 4648 §10 test vectors. */
    assert_int_equal(ch_base64((const unsigned char *)"foobar", 6, b64, sizeof b64), 8);
    assert_string_equal(b64, "Zm9vYmFy");
    assert_int_equal(ch_base64((const unsigned char *)"fo", 2, b64, sizeof b64), 4);
    assert_string_equal(b64, "Zm8=");
    assert_int_equal(ch_base64((const unsigned char *)"f", 1, b64, sizeof b64), 4);
    assert_string_equal(b64, "Zg==");
    assert_int_equal(ch_base64((const unsigned char *)"foobar", 6, b64, 8), MC_ETOOBIG);
    char hex[9];
    ch_hex((const unsigned char *)"\x00\xff\x10\xab", 4, hex);
    assert_string_equal(hex, "00ff10ab");
}

static void forms(void **state) {
    (void)state;
    char out[64];
    size_t n;
    assert_int_equal(ch_url_decode("a+b%20c%C3%A1", 13, out, sizeof out, &n), 0);
    assert_string_equal(out, "a b cá");
    assert_int_equal(n, strlen("a b cá"));
    assert_int_equal(ch_url_decode("bad%2", 5, out, sizeof out, &n), MC_EINVAL);
    assert_int_equal(ch_url_decode("bad%zz", 6, out, sizeof out, &n), MC_EINVAL);
    assert_int_equal(ch_url_decode("abcdef", 6, out, 4, &n), MC_ETOOBIG);
    const char *q = "hub.mode=subscribe&&x&hub.verify_token=a%26b&empty=";
    assert_int_equal(ch_form_get(q, strlen(q), "hub.verify_token", out, sizeof out, &n), 0);
    assert_string_equal(out, "a&b");
    assert_int_equal(ch_form_get(q, strlen(q), "x", out, sizeof out, &n), 0);
    assert_string_equal(out, "");
    assert_int_equal(ch_form_get(q, strlen(q), "empty", out, sizeof out, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(ch_form_get(q, strlen(q), "missing", out, sizeof out, &n), MC_ENOTFOUND);
    /* Length-carrying: a name past len is not seen. */
    assert_int_equal(ch_form_get(q, 17, "hub.verify_token", out, sizeof out, &n), MC_ENOTFOUND);
}

static void utf8(void **state) {
    (void)state;
    assert_true(ch_utf8_valid("Đăng ký", strlen("Đăng ký")));
    assert_false(ch_utf8_valid("\xC0\xAF", 2));        /* overlong '/' */
    assert_false(ch_utf8_valid("\xED\xA0\x80", 3));    /* surrogate */
    assert_false(ch_utf8_valid("\xE1\xBB", 2));        /* truncated */
    assert_false(ch_utf8_valid("a\0b", 3));            /* NUL */
    assert_true(ch_utf8_valid("\xF0\x9F\x98\x80", 4)); /* emoji */
    assert_int_equal(ch_utf8_count("Hồ sơ", strlen("Hồ sơ")), 5);
    assert_int_equal(ch_utf8_prefix("Hồ sơ", strlen("Hồ sơ"), 2), strlen("Hồ"));
    /* "Hồ" is H + 3 bytes: a 2- or 3-byte budget cannot take half of ồ. */
    assert_int_equal(ch_utf8_floor("Hồ sơ", strlen("Hồ sơ"), 4), strlen("Hồ"));
    assert_int_equal(ch_utf8_floor("Hồ sơ", strlen("Hồ sơ"), 3), 1);
    assert_int_equal(ch_utf8_floor("Hồ sơ", strlen("Hồ sơ"), 2), 1);
    assert_int_equal(ch_utf8_floor("Hồ", strlen("Hồ"), 80), strlen("Hồ"));
    assert_int_equal(ch_utf8_floor("ồ", strlen("ồ"), 0), 0);
}

static void text_cut(void **state) {
    (void)state;
    size_t rest;
    const char *s = "Một hai ba. Bốn năm sáu bảy tám chín mười.";
    /* Fits: untouched. */
    assert_int_equal(ch_text_cut(s, strlen(s), 100, &rest), strlen(s));
    assert_int_equal(rest, strlen(s));
    /* 20 code points: the sentence end at 11 is in the second half of the window. */
    size_t part = ch_text_cut(s, strlen(s), 20, &rest);
    assert_int_equal(part, strlen("Một hai ba."));
    assert_memory_equal(s + rest, "Bốn", strlen("Bốn"));
    /* 30 code points: the sentence end is before half: cut at the last space. */
    part = ch_text_cut(s, strlen(s), 30, &rest);
    assert_true(t_cps(s, part) <= 30);
    assert_true(s[part] == ' ');
    assert_true(s[rest] != ' ');
    /* No space at all: a hard cut that never splits a UTF-8 sequence. */
    const char *w = "đđđđđđđđđđ";
    part = ch_text_cut(w, strlen(w), 3, &rest);
    assert_int_equal(part, 6);
    assert_int_equal(rest, 6);
    /* A line break is a boundary too. */
    const char *nl = "Dòng đầu tiên ở đây\nDòng thứ hai dài hơn";
    part = ch_text_cut(nl, strlen(nl), 25, &rest);
    assert_int_equal(part, strlen("Dòng đầu tiên ở đây"));
}

static void safe_copy(void **state) {
    (void)state;
    char out[16];
    ch_safe_copy(out, sizeof out,
                 "a\nb\x01"
                 "c\xFF"
                 "d",
                 7);
    assert_string_equal(out, "a b c?d");
    ch_safe_copy(out, 8, "ồồồồồ", strlen("ồồồồồ")); /* 3 bytes each: 2 fit in 7 */
    assert_string_equal(out, "ồồ");
    char m[128];
    const char *t = "The 'To' number +84912345678 is not valid; 0912 345 678 either; code 21211";
    ch_safe_copy(m, sizeof m, t, strlen(t));
    assert_string_equal(m,
                        "The 'To' number +8491****678 is not valid; 091****678 either; code 21211");
    ch_safe_copy(m, sizeof m, "id 1234567.", 11); /* 7 digits: all but the last 3 masked */
    assert_string_equal(m, "id ****567.");
    ch_safe_copy(m, 10, "+84912345678", 12); /* does not fit: cut before it, never half */
    assert_string_equal(m, "");
}

static void retry_after(void **state) {
    (void)state;
    int64_t now = 784111777000LL; /* Sun, 06 Nov 1994 08:49:37 GMT */
    assert_int_equal(ch_retry_after_ms("120", now), 120000);
    assert_int_equal(ch_retry_after_ms(" 7 ", now), 7000);
    assert_int_equal(ch_retry_after_ms("Sun, 06 Nov 1994 08:50:37 GMT", now), 60000);
    assert_int_equal(ch_retry_after_ms("Sun, 06 Nov 1994 08:40:00 GMT", now), 0); /* past */
    assert_int_equal(ch_retry_after_ms("Sunday, 06-Nov-94 08:49:37 GMT", now), 0);
    assert_int_equal(ch_retry_after_ms("soon", now), 0);
    assert_int_equal(ch_retry_after_ms("12abc", now), 0);
    assert_int_equal(ch_retry_after_ms(NULL, now), 0);
    assert_int_equal(ch_retry_after_ms("999999999", now), CH_MAX_RETRY_AFTER_MS);
}

static void local_hours(void **state) {
    (void)state;
    /* 2025-11-23 15:00:00 UTC = 22:00 in Ho Chi Minh City (UTC+7). */
    int64_t now = 1763910000000LL;
    assert_int_equal(ch_ms_until_local_hour(now, 420, 6), 8LL * 3600 * 1000);
    assert_int_equal(ch_ms_until_local_hour(now, 420, 0), 2LL * 3600 * 1000);
    /* Exactly at the hour: the next one, a day later. */
    assert_int_equal(ch_ms_until_local_hour(now, 420, 22), 24LL * 3600 * 1000);
}

static void headers(void **state) {
    (void)state;
    ch_http h;
    memset(&h, 0, sizeof h);
    assert_int_equal(ch_http_header(&h, "access_token", "abc"), 0);
    assert_string_equal(h.headers[0], "access_token: abc");
    assert_int_equal(ch_http_header(&h, "X", "a\r\nInjected: 1"), MC_EINVAL);
    for (int i = 1; i < CH_MAX_HEADERS; i++)
        assert_int_equal(ch_http_header(&h, "X", "v"), 0);
    assert_int_equal(ch_http_header(&h, "X", "v"), MC_ETOOBIG);
    ch_http_clear(&h);
    assert_int_equal(h.n_headers, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(adapter_table), cmocka_unit_test(bytes),       cmocka_unit_test(forms),
        cmocka_unit_test(utf8),          cmocka_unit_test(text_cut),    cmocka_unit_test(safe_copy),
        cmocka_unit_test(retry_after),   cmocka_unit_test(local_hours), cmocka_unit_test(headers),
    };
    return cmocka_run_group_tests_name("ch_core", tests, NULL, NULL);
}
