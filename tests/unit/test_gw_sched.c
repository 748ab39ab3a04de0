/*
 * test_gw_sched.c — the scheduler's quiet-hours parsing (the Lua script that uses
 * them runs in the integration tests, tests/integration/notify.test.mjs, against a
 * real Redis; the zone's offsets are app/gw_time's, tests/unit/test_gw_time.c), and
 * the test clock's offset parsing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/mc.h"
#include "gateway/app/gw_clock.h"
#include "gateway/dispatch/gw_sched.h"

#include <stdint.h>
#include <string.h>


static void quiet_hours_parse(void **state) {
    (void)state;
    int s = -2, e = -2;
    assert_int_equal(gw_sched_parse_hours("21:00-07:00", &s, &e), 0);
    assert_int_equal(s, 21 * 60);
    assert_int_equal(e, 7 * 60);
    assert_int_equal(gw_sched_parse_hours("00:30-23:59", &s, &e), 0);
    assert_int_equal(s, 30);
    assert_int_equal(e, 23 * 60 + 59);
}

static void quiet_hours_reject(void **state) {
    (void)state;
    int s = 0, e = 0;
    const char *bad[] = {"",      "21:00",         "24:00-07:00", "21:60-07:00", "21:00-07:00x",
                         "21-07", "21:00 - 07:00", "-1:00-07:00"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(gw_sched_parse_hours(bad[i], &s, &e), MC_EINVAL);
    assert_int_equal(gw_sched_parse_hours(NULL, &s, &e), MC_EINVAL);
}

static void clock_offset(void **state) {
    (void)state;
    int64_t before = gw_now_ms();
    assert_int_equal(gw_clock_shift_str("86400000"), 0);
    int64_t after = gw_now_ms();
    assert_true(after - before >= 86400000LL && after - before < 86400000LL + 5000);
    assert_int_equal(gw_clock_shift_str("-86400000"), 0);
    assert_true(gw_now_ms() - before < 5000);
    assert_int_equal(gw_clock_shift_str(NULL), 0);
    assert_int_equal(gw_clock_shift_str(""), 0);
    assert_int_equal(gw_clock_shift_str("12abc"), MC_EINVAL);
    assert_int_equal(gw_clock_shift_str("99999999999999999999999"), MC_EINVAL);
    assert_true(gw_now_ms() - before < 5000);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(quiet_hours_parse), cmocka_unit_test(quiet_hours_reject),
        cmocka_unit_test(clock_offset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
