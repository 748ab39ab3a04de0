/*
 * test_gw_retention.c — the [scheduler] keys of the retention sweeper
 * (gateway/api/gw_retention.c): their defaults, limits and environment names. The
 * sweep itself runs against a real Redis in tests/integration/report.test.mjs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/mc.h"
#include "gateway/app/gw_config.h"

#include <string.h>

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
        cmocka_unit_test(retention_config),
    };
    return cmocka_run_group_tests_name("gw_retention", tests, NULL, NULL);
}
