/*
 * test_gw_router.c — the HTTP route table: exact paths beat prefixes, the longest
 * prefix wins whatever the order routes were added in, "/" is not a prefix of
 * everything, each route hands back its module's pointer, bad and duplicate paths
 * are refused, and the table is bounded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/mc.h"
#include "gateway/net/gw_router.h"

#include <stdio.h>
#include <string.h>

static void h_a(struct gw_req *rq, void *priv) {
    (void)rq;
    (void)priv;
}

static void h_b(struct gw_req *rq, void *priv) {
    (void)rq;
    (void)priv;
}

/* The routes of the department API and the console, as gw_serve adds them. */
static const struct {
    const char *path;
    const char *label;
} api_routes[] = {
    {"/api/v1/dossiers", "dossiers"},
    {"/api/v1/dossiers/", "dossiers/{code}"},
    {"/api/v1/notifications", "notifications"},
    {"/api/v1/notifications/", "notifications/{id}"},
    {"/api/v1/notifications/batch", "notifications/batch"},
    {"/api/v1/broadcasts", "broadcasts"},
    {"/api/v1/broadcasts/", "broadcasts/{id}"},
    {"/api/v1/broadcasts/preview", "broadcasts/preview"},
    {"/api/v1/templates/", "templates/{id}"},
    {"/", "index"},
    {"/healthz", "healthz"},
};

/* Which label answers each path, whatever the order of registration. */
static const struct {
    const char *path;
    const char *label; /* NULL: no route */
} expect[] = {
    {"/api/v1/dossiers", "dossiers"},
    {"/api/v1/dossiers/000.00.25.H29-231122-0001", "dossiers/{code}"},
    {"/api/v1/dossiers/000.00.25.H29-231122-0001/events", "dossiers/{code}"},
    {"/api/v1/notifications/batch", "notifications/batch"},
    {"/api/v1/notifications/abc", "notifications/{id}"},
    {"/api/v1/notifications/batch/x", "notifications/{id}"}, /* the exact route is exact only */
    {"/api/v1/broadcasts/preview", "broadcasts/preview"},
    {"/api/v1/broadcasts/42", "broadcasts/{id}"},
    {"/", "index"},
    {"/healthz", "healthz"},
    {"/healthz/", NULL},
    {"/nothing", NULL},
    {"/api/v1/templates", NULL}, /* only the prefix is routed */
    {"/api/v1/templates/x", "templates/{id}"},
};

static void check_all(const gw_router *r) {
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
        const gw_route *rt = gw_router_match(r, expect[i].path);
        if (!expect[i].label) {
            if (rt)
                fail_msg("%s should have no route, got %s", expect[i].path, rt->label);
            continue;
        }
        if (!rt)
            fail_msg("%s: no route, want %s", expect[i].path, expect[i].label);
        assert_string_equal(rt->label, expect[i].label);
    }
}

static void test_longest_match_in_any_order(void **state) {
    (void)state;
    size_t n = sizeof api_routes / sizeof api_routes[0];
    /* forward, backward and interleaved orders must route alike */
    for (int order = 0; order < 3; order++) {
        gw_router *r = gw_router_new();
        assert_non_null(r);
        for (size_t k = 0; k < n; k++) {
            size_t i = order == 0 ? k : order == 1 ? n - 1 - k : (k * 7) % n;
            assert_int_equal(
                gw_router_add(r, api_routes[i].path, api_routes[i].label, GW_M_GET, h_a, NULL), 0);
        }
        check_all(r);
        gw_router_free(r);
    }
}

static void test_route_keeps_module_pointer(void **state) {
    (void)state;
    int mod_a, mod_b;
    gw_router *r = gw_router_new();
    assert_int_equal(gw_router_add(r, "/a/", "a", GW_M_GET | GW_M_POST, h_a, &mod_a), 0);
    assert_int_equal(gw_router_add(r, "/a/b", "b", GW_M_DELETE, h_b, &mod_b), 0);
    const gw_route *rt = gw_router_match(r, "/a/x");
    assert_ptr_equal(rt->priv, &mod_a);
    assert_ptr_equal(rt->fn, h_a);
    assert_int_equal(rt->methods, GW_M_GET | GW_M_POST);
    rt = gw_router_match(r, "/a/b");
    assert_ptr_equal(rt->priv, &mod_b);
    assert_ptr_equal(rt->fn, h_b);
    gw_router_free(r);
}

static void test_bad_and_duplicate_paths(void **state) {
    (void)state;
    gw_router *r = gw_router_new();
    char longp[GW_ROUTER_MAX_PATH + 1];
    memset(longp, 'x', sizeof longp - 1);
    longp[0] = '/';
    longp[sizeof longp - 1] = '\0';
    assert_int_equal(gw_router_add(r, "", "e", GW_M_GET, h_a, NULL), MC_EINVAL);
    assert_int_equal(gw_router_add(r, "relative", "e", GW_M_GET, h_a, NULL), MC_EINVAL);
    assert_int_equal(gw_router_add(r, longp, "e", GW_M_GET, h_a, NULL), MC_EINVAL);
    assert_int_equal(gw_router_add(r, "/x", "x", GW_M_GET, NULL, NULL), MC_EINVAL);
    assert_int_equal(gw_router_add(r, "/x", "x", GW_M_GET, h_a, NULL), 0);
    /* the same path twice would make one route hide the other */
    assert_int_equal(gw_router_add(r, "/x", "y", GW_M_POST, h_b, NULL), MC_EINVAL);
    assert_string_equal(gw_router_match(r, "/x")->label, "x");
    gw_router_free(r);
}

static void test_table_is_bounded(void **state) {
    (void)state;
    gw_router *r = gw_router_new();
    char p[32];
    for (int i = 0; i < GW_ROUTER_MAX; i++) {
        snprintf(p, sizeof p, "/r%d", i);
        assert_int_equal(gw_router_add(r, p, NULL, GW_M_GET, h_a, NULL), 0);
    }
    assert_int_equal(gw_router_add(r, "/one-more", NULL, GW_M_GET, h_a, NULL), MC_ETOOBIG);
    /* a route without a label is counted under its path */
    assert_string_equal(gw_router_match(r, "/r7")->label, "/r7");
    gw_router_free(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_longest_match_in_any_order),
        cmocka_unit_test(test_route_keeps_module_pointer),
        cmocka_unit_test(test_bad_and_duplicate_paths),
        cmocka_unit_test(test_table_is_bounded),
    };
    return cmocka_run_group_tests_name("gw_router", tests, NULL, NULL);
}
