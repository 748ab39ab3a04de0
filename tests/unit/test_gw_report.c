/*
 * test_gw_report.c — the pure parts of the console's reports (gateway/gw_report.c):
 * local dates of the daily counters (checked against gmtime over a wide range;
 * the Lua twin ymd() of gw_sched.h runs in tests/integration/report.test.mjs),
 * query parameters, masking of recipients, and the [scheduler] retention keys.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/mc.h"
#include "gateway/app/gw_config.h"
#include "gateway/api/gw_report.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define HOUR_MS (3600LL * 1000)
#define DAY_MS (24 * HOUR_MS)

/* ms of local (UTC+7) midnight of y-m-d, through timegm. */
static int64_t local_midnight(int y, int m, int d) {
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    return (int64_t)timegm(&tm) * 1000 - 7 * HOUR_MS;
}

static void date_of(int64_t ms, char *out) {
    gw_report_date(gw_report_day(ms), out);
}

static void dates_known(void **state) {
    (void)state;
    char d[GW_REPORT_DATE_LEN];
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
    date_of(0, d); /* 07:00 local on 1970-01-01 */
    assert_string_equal(d, "1970-01-01");
    date_of(-7 * HOUR_MS - 1, d);
    assert_string_equal(d, "1969-12-31");
    assert_int_equal(gw_report_day(local_midnight(1970, 1, 2)), 1);
    assert_int_equal(gw_report_day(local_midnight(1970, 1, 2) - 1), 0);
    assert_int_equal(gw_report_day(-7 * HOUR_MS - 1), -1);
}

/* Every 7 hours 13 minutes from 1950 to 2150 against gmtime of the shifted time. */
static void dates_match_gmtime(void **state) {
    (void)state;
    int64_t step = 7 * HOUR_MS + 13 * 60000 + 17;
    int n = 0;
    for (int64_t ms = local_midnight(1950, 1, 1); ms < local_midnight(2150, 1, 1); ms += step) {
        time_t t = (time_t)((ms + 7 * HOUR_MS) / 1000 - ((ms + 7 * HOUR_MS) % 1000 < 0));
        struct tm tm;
        gmtime_r(&t, &tm);
        char want[32], got[GW_REPORT_DATE_LEN];
        snprintf(want, sizeof want, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
        date_of(ms, got);
        if (strcmp(want, got))
            fail_msg("at %lld ms: %s, expected %s", (long long)ms, got, want);
        n++;
    }
    assert_true(n > 200000);
}

/* gw_report_query_long over a NUL-terminated query. */
static int ql(const char *q, const char *name, long def, long min, long max, long *v) {
    return gw_report_query_long(q, strlen(q), name, def, min, max, v);
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
    assert_int_equal(gw_report_query_long("days=3&days=99", 6, "days", 7, 1, 31, &v), 0);
    assert_int_equal(v, 3);
}

static void masking(void **state) {
    (void)state;
    char out[64];
    gw_report_mask("+84901234567", out, sizeof out);
    assert_string_equal(out, "+8490****567");
    gw_report_mask("1234567890123456", out, sizeof out);
    assert_string_equal(out, "12****56");
    gw_report_mask("psid-abcdef", out, sizeof out);
    assert_string_equal(out, "ps****ef");
    gw_report_mask("abcdefg", out, sizeof out);
    assert_string_equal(out, "ab****fg");
    gw_report_mask("abcdef", out, sizeof out);
    assert_string_equal(out, "****");
    gw_report_mask("", out, sizeof out);
    assert_string_equal(out, "");
    gw_report_mask("1234567890123456", out, 5); /* truncated, still terminated */
    assert_int_equal(strlen(out), 4);
}

static void retention_config(void **state) {
    (void)state;
    gw_config *c = gw_config_new();
    assert_non_null(c);
    assert_int_equal(c->scheduler_retention_days, 7);
    assert_int_equal(c->scheduler_retention_sweep_ms, 60000);
    gw_errlist e = {0};
    assert_int_equal(gw_config_set(c, "scheduler", "retention_days", "30", "test", &e), 0);
    assert_int_equal(c->scheduler_retention_days, 30);
    assert_int_equal(gw_config_set(c, "scheduler", "retention_sweep_ms", "200", "test", &e), 0);
    assert_int_equal(c->scheduler_retention_sweep_ms, 200);
    assert_int_equal(e.n, 0);
    const char *bad_days[] = {"0", "-1", "3651", "seven", ""};
    for (size_t i = 0; i < sizeof bad_days / sizeof bad_days[0]; i++)
        assert_int_equal(gw_config_set(c, "scheduler", "retention_days", bad_days[i], "test", &e),
                         MC_EINVAL);
    assert_int_equal(gw_config_set(c, "scheduler", "retention_sweep_ms", "49", "test", &e),
                     MC_EINVAL);
    assert_int_equal(e.n, 6);
    assert_non_null(strstr(e.lines[0], "retention_days"));
    assert_int_equal(c->scheduler_retention_days, 30); /* bad values change nothing */
    gw_errlist_clear(&e);
    char *envp[] = {"MOTCUA_SCHEDULER_RETENTION_DAYS=14", NULL};
    assert_int_equal(gw_config_apply_env(c, envp, &e), 0);
    assert_int_equal(c->scheduler_retention_days, 14);
    gw_errlist_clear(&e);
    gw_config_free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dates_known),      cmocka_unit_test(dates_match_gmtime),
        cmocka_unit_test(query_params),     cmocka_unit_test(masking),
        cmocka_unit_test(retention_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
