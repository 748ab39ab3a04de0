/*
 * test_gw_log.c — personal data masking for logs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "gateway/app/gw_log.h"

#include <string.h>

static void check(const char *in, const char *want) {
    char out[256];
    size_t n = gw_mask_pii(in, strlen(in), out, sizeof out);
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
}

static void phones(void **state) {
    (void)state;
    check("+84912345678", "+8491****678");
    check("sdt 0912345678 nhe", "sdt 0912****678 nhe");
    check("goi 0912 345 678.", "goi 0912****678.");
    check("0912.345.678", "0912****678");
    check("84912345678", "8491****678");
}

static void citizen_ids(void **state) {
    (void)state;
    check("cccd 079123456789", "cccd 0791****789");
}

static void short_numbers_stay(void **state) {
    (void)state;
    check("phong 12, tang 3, 2025", "phong 12, tang 3, 2025");
    check("12345678", "12345678");
    check("", "");
    check("+", "+");
}

static void truncates_safely(void **state) {
    (void)state;
    char out[6];
    size_t n = gw_mask_pii("abcdefghij", 10, out, sizeof out);
    assert_int_equal(n, 5);
    assert_string_equal(out, "abcde");
    n = gw_mask_pii("0912345678", 10, out, sizeof out);
    assert_int_equal(n, 5);
    assert_string_equal(out, "0912*");
}

static void length_carrying(void **state) {
    (void)state;
    /* Only len bytes are read: the digits after it are not part of the input. */
    char out[32];
    gw_mask_pii("call 0912345678", 9, out, sizeof out);
    assert_string_equal(out, "call 0912");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(phones),
        cmocka_unit_test(citizen_ids),
        cmocka_unit_test(short_numbers_stay),
        cmocka_unit_test(truncates_safely),
        cmocka_unit_test(length_carrying),
    };
    return cmocka_run_group_tests_name("gw_log", tests, NULL, NULL);
}
