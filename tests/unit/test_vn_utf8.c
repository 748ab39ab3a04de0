/*
 * tests/unit/test_vn_utf8.c — strict UTF-8 validation: the cases decoders disagree on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vi-nlp/vn_utf8.h"

/* Checks s[0..len) is rejected with the given bad offset. */
static void expect_bad(const char *s, size_t len, size_t off) {
    size_t got = (size_t)-1;
    assert_int_equal(vn_utf8_valid(s, len, &got), 0);
    assert_int_equal(got, off);
}

static void test_valid_vietnamese(void **state) {
    const char *s = "Làm giấy khai sinh cần giấy tờ gì? Đăng ký tạm trú ở Ủy ban 😀";
    size_t off = 12345;
    assert_int_equal(vn_utf8_valid(s, strlen(s), &off), 1);
    assert_int_equal(off, 12345); /* untouched on success */
    assert_int_equal(vn_utf8_valid("", 0, NULL), 1);
    assert_int_equal(vn_utf8_valid(NULL, 0, NULL), 1);
    /* NFD: e + combining circumflex + combining acute */
    assert_int_equal(vn_utf8_valid("e\xcc\x82\xcc\x81", 5, NULL), 1);
    /* Boundaries: U+007F, U+0080, U+07FF, U+0800, U+FFFF, U+10000, U+10FFFF */
    const char b[] = "\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf";
    assert_int_equal(vn_utf8_valid(b, sizeof(b) - 1, NULL), 1);
    /* U+D7FF and U+E000 on either side of the surrogates are fine. */
    assert_int_equal(vn_utf8_valid("\xed\x9f\xbf\xee\x80\x80", 6, NULL), 1);
}

static void test_nul_is_data(void **state) {
    assert_int_equal(vn_utf8_valid("a\0b", 3, NULL), 1);
    assert_int_equal(vn_utf8_count("a\0b", 3), 3);
}

static void test_truncated(void **state) {
    expect_bad("ab\xe1\xba", 4, 2);    /* ấ cut after 2 of 3 bytes */
    expect_bad("\xc3", 1, 0);          /* lone lead at the end */
    expect_bad("x\xf0\x9f\x98", 4, 1); /* emoji cut */
    expect_bad("\xe1\xba"
               "a",
               3, 0); /* continuation replaced by ASCII */
}

static void test_overlong(void **state) {
    expect_bad("\xc0\x80", 2, 0);         /* NUL as two bytes */
    expect_bad("ok\xc1\xbf", 4, 2);       /* U+007F overlong */
    expect_bad("\xe0\x80\xaf", 3, 0);     /* '/' as three bytes */
    expect_bad("\xf0\x80\x80\xaf", 4, 0); /* '/' as four bytes */
}

static void test_surrogates(void **state) {
    expect_bad("\xed\xa0\x80", 3, 0);    /* U+D800 */
    expect_bad("abc\xed\xbf\xbf", 6, 3); /* U+DFFF */
}

static void test_above_max(void **state) {
    expect_bad("\xf4\x90\x80\x80", 4, 0); /* U+110000 */
    expect_bad("\xf5\x80\x80\x80", 4, 0);
    expect_bad("\xff", 1, 0);
    expect_bad("\xfe", 1, 0);
}

static void test_lone_continuation(void **state) {
    expect_bad("\x80", 1, 0);
    expect_bad("khai\xbfsinh", 9, 4);
    expect_bad("\xc3\xa0\xa0", 3, 2); /* à followed by one continuation too many */
}

static void test_count(void **state) {
    const char *s = "Đăng ký";
    assert_int_equal(vn_utf8_count(s, strlen(s)), 7);
    assert_int_equal(vn_utf8_count("😀a", 5), 2);
    assert_int_equal(vn_utf8_count("", 0), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_vietnamese),  cmocka_unit_test(test_nul_is_data),
        cmocka_unit_test(test_truncated),         cmocka_unit_test(test_overlong),
        cmocka_unit_test(test_surrogates),        cmocka_unit_test(test_above_max),
        cmocka_unit_test(test_lone_continuation), cmocka_unit_test(test_count),
    };
    return cmocka_run_group_tests_name("vn_utf8", tests, NULL, NULL);
}
