/*
 * test_gw_time.c — the configured time zone: Asia/Ho_Chi_Minh is UTC+7 all year, a
 * zone with daylight saving changes its offset, local days turn at local midnight,
 * RFC 3339 local times carry the offset, day numbers become dates (leap days and
 * before 1970 too), and an unknown zone is refused with a reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "gateway/app/gw_time.h"

#include <string.h>

#define H 3600000LL

static void test_ho_chi_minh(void **state) {
    (void)state;
    char err[160];
    gw_tz *tz = gw_tz_new("Asia/Ho_Chi_Minh", err, sizeof err);
    assert_non_null(tz);
    assert_string_equal(gw_tz_name(tz), "Asia/Ho_Chi_Minh");
    /* 2026-12-03T13:11:36Z is 20:11:36 in Ho Chi Minh City */
    assert_int_equal(gw_tz_offset_ms(tz, 1796303496000LL), 7 * H);
    assert_int_equal(gw_tz_offset_ms(tz, 1782907200000LL), 7 * H); /* July: no DST */
    char buf[GW_TIME_RFC3339_MAX];
    gw_tz_format(tz, 1796303496000LL, buf, sizeof buf);
    assert_string_equal(buf, "2026-12-03T20:11:36+07:00");
    /* 16:59:59Z is 23:59:59 local, still day 20790 (2026-12-03); a second later, the next */
    assert_int_equal(gw_tz_day(tz, 1796317199000LL), 20790);
    assert_int_equal(gw_tz_day(tz, 1796317200000LL), 20791);
    gw_tz_free(tz);
}

static void test_daylight_saving_zone(void **state) {
    (void)state;
    char err[160];
    gw_tz *tz = gw_tz_new("Europe/Paris", err, sizeof err);
    assert_non_null(tz);
    assert_int_equal(gw_tz_offset_ms(tz, 1782907200000LL), 2 * H); /* 2026-07-01: CEST */
    assert_int_equal(gw_tz_offset_ms(tz, 1767268800000LL), 1 * H); /* 2026-01-01: CET */
    char buf[GW_TIME_RFC3339_MAX];
    gw_tz_format(tz, 1767268800000LL, buf, sizeof buf);
    assert_string_equal(buf, "2026-01-01T13:00:00+01:00");
    gw_tz_free(tz);
    tz = gw_tz_new("America/Sao_Paulo", err, sizeof err); /* west of UTC */
    assert_non_null(tz);
    gw_tz_format(tz, 1767268800000LL, buf, sizeof buf);
    assert_string_equal(buf, "2026-01-01T09:00:00-03:00");
    gw_tz_free(tz);
}

static void test_unknown_zone(void **state) {
    (void)state;
    char err[160] = "";
    assert_null(gw_tz_new("Asia/Atlantis", err, sizeof err));
    assert_non_null(strstr(err, "Asia/Atlantis"));
    assert_null(gw_tz_new(NULL, err, sizeof err));
}

static void test_dates_of_days(void **state) {
    (void)state;
    char d[11];
    gw_date_of_day(0, d);
    assert_string_equal(d, "1970-01-01");
    gw_date_of_day(20790, d);
    assert_string_equal(d, "2026-12-03");
    gw_date_of_day(11016, d);
    assert_string_equal(d, "2000-02-29");
    gw_date_of_day(-1, d);
    assert_string_equal(d, "1969-12-31");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ho_chi_minh),
        cmocka_unit_test(test_daylight_saving_zone),
        cmocka_unit_test(test_unknown_zone),
        cmocka_unit_test(test_dates_of_days),
    };
    return cmocka_run_group_tests_name("gw_time", tests, NULL, NULL);
}
