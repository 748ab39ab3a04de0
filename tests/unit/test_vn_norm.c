/*
 * tests/unit/test_vn_norm.c — the folded and plain keys of real citizen messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/mc.h"
#include "vi-nlp/vn_norm.h"

static vn_normalizer *N;

static int setup(void **state) {
    char err[256];
    N = vn_normalizer_new(err, sizeof(err));
    if (!N)
        print_error("%s\n", err);
    return N ? 0 : -1;
}

static int teardown(void **state) {
    vn_normalizer_free(N);
    return 0;
}

/* Normalizes s and checks both keys (plain may be NULL to skip it). */
static void check(const char *s, const char *folded, const char *plain) {
    vn_text t;
    assert_int_equal(vn_normalize(N, s, strlen(s), &t), 0);
    assert_string_equal(t.folded, folded);
    assert_int_equal(t.folded_len, strlen(folded));
    if (plain) {
        assert_string_equal(t.plain, plain);
        assert_int_equal(t.plain_len, strlen(plain));
    }
    vn_text_free(&t);
}

static void test_caps(void **state) {
    check("ĐĂNG KÝ", "đăng ký", "dang ky");
    check("ĐƯỜNG", "đường", "duong");
    check("LAM GIAY KHAI SINH CAN GIAY TO GI", "lam giay khai sinh can giay to gi",
          "lam giay khai sinh can giay to gi");
}

static void test_nfd_equals_nfc(void **state) {
    /* "Làm giấy khai sinh" decomposed: a+grave, a+circumflex+acute, ... */
    const char *nfd = "La\xcc\x80m gia\xcc\x82\xcc\x81y khai sinh";
    check(nfd, "làm giấy khai sinh", "lam giay khai sinh");
    check("Làm giấy khai sinh", "làm giấy khai sinh", "lam giay khai sinh");
    /* Mark order swapped (acute before circumflex) is a different character: NFC keeps
     * it apart, but the plain key still agrees. */
    check("Đa\xcc\x86ng ky\xcc\x81", "đăng ký", "dang ky");
}

static void test_tone_placement(void **state) {
    check("hoà", "hòa", "hoa");
    check("hòa", "hòa", "hoa");
    check("thuý", "thúy", "thuy");
    check("thúy", "thúy", "thuy");
    check("khoẻ", "khỏe", "khoe");
    check("UỶ BAN", "ủy ban", "uy ban");
    check("quý", "quý", "quy");
    check("quỳnh", "quỳnh", "quynh");
    /* With a final consonant both styles agree: nothing moves. */
    check("hoàng thuyết", "hoàng thuyết", "hoang thuyet");
    check("Xuân Hoà", "xuân hòa", "xuan hoa");
}

static void test_collapse(void **state) {
    check("khôngggg", "không", "khong");
    check("điiii đâuuu", "đi đâu", "di dau");
    check("xoong", "xoong", "xoong");             /* two is a real spelling */
    check("1000 đồng", "1000 đồng", "1000 dong"); /* digits never collapse */
}

static void test_punct_emoji(void **state) {
    check("  Chào ad!!! 😀😀 cho hỏi...", "chào ad cho hỏi", "chao ad cho hoi");
    check("khai sinh?", "khai sinh", "khai sinh");
    check("khai-sinh, kết hôn; tạm trú.", "khai sinh kết hôn tạm trú", "khai sinh ket hon tam tru");
    check("👍", "", "");
    check("", "", "");
    check("a\xe2\x80\x8b"
          "b",
          "ab", "ab"); /* zero-width space inside a word */
    check("tab\tnew\nline", "tab new line", "tab new line");
}

static void test_codes_phones(void **state) {
    check("Tra cứu hồ sơ 000.00.25.H29-231122-0001 giúp em",
          "tra cứu hồ sơ 000.00.25.h29-231122-0001 giúp em",
          "tra cuu ho so 000.00.25.h29-231122-0001 giup em");
    check("sđt 0912.345.678 hoặc +84 912345678", "sđt 0912.345.678 hoặc +84 912345678",
          "sdt 0912.345.678 hoac +84 912345678");
    check("0912-345-678.", "0912-345-678", "0912-345-678");
}

static void test_invalid_utf8(void **state) {
    vn_text t;
    memset(&t, 0x55, sizeof(t));
    assert_int_equal(vn_normalize(N, "kh\xc3", 3, &t), MC_EUTF8);
    assert_null(t.folded);
    assert_null(t.plain);
    assert_int_equal(t.folded_len, 0);
    assert_int_equal(vn_normalize(N, "\xed\xa0\x80", 3, &t), MC_EUTF8);
}

static void test_too_big(void **state) {
    size_t len = VN_MAX_INPUT + 1;
    char *big = malloc(len);
    assert_non_null(big);
    memset(big, 'a', len);
    vn_text t;
    assert_int_equal(vn_normalize(N, big, len, &t), MC_ETOOBIG);
    assert_null(t.folded);
    /* Exactly the limit, all multi-byte Vietnamese, is accepted. */
    const char *e = "ế"; /* 3 bytes */
    size_t k = VN_MAX_INPUT / 3 * 3;
    for (size_t i = 0; i < k; i += 3)
        memcpy(big + i, e, 3);
    assert_int_equal(vn_normalize(N, big, k, &t), 0);
    assert_int_equal(t.plain_len, 1); /* a run of >= 3 identical letters collapses */
    vn_text_free(&t);
    vn_text_free(&t); /* idempotent */
    free(big);
}

static void test_length_carrying(void **state) {
    /* Only len bytes are read: the rest of the buffer is not part of the message. */
    const char buf[] = "khai sinhXXXX";
    vn_text t;
    assert_int_equal(vn_normalize(N, buf, 9, &t), 0);
    assert_string_equal(t.plain, "khai sinh");
    vn_text_free(&t);
    /* An embedded NUL is data and separates tokens. */
    assert_int_equal(vn_normalize(N, "ket\0hon", 7, &t), 0);
    assert_string_equal(t.plain, "ket hon");
    vn_text_free(&t);
}

static void test_other_scripts(void **state) {
    check("Straße café", "strasse café", "strasse cafe");
    check("xin chào 你好", "xin chào 你好", "xin chao");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_nfd_equals_nfc),
        cmocka_unit_test(test_tone_placement),
        cmocka_unit_test(test_collapse),
        cmocka_unit_test(test_punct_emoji),
        cmocka_unit_test(test_codes_phones),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_too_big),
        cmocka_unit_test(test_length_carrying),
        cmocka_unit_test(test_other_scripts),
    };
    return cmocka_run_group_tests_name("vn_norm", tests, setup, teardown);
}
