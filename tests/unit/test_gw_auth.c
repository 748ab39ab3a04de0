/*
 * test_gw_auth.c — the pure parts of who calls (gateway/api/gw_auth.c, gw_api.c): the
 * session id of a Cookie header, the principals made for one request (areas, copies),
 * the scopes an officer's role carries, scope names, and the audit trail's actor names.
 * The store's part (keys, sessions, officers read per request) is tested against the
 * real binary in tests/integration/officers.test.mjs and roles.test.mjs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/mc.h"
#include "gateway/api/gw_api_int.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define SID "0123456789abcdef0123456789abcdef"

static void test_session_cookie(void **state) {
    (void)state;
    char out[GW_OFF_SECRET_HEX];
    assert_int_equal(gw_api_session_cookie("motcua_session=" SID, out), 0);
    assert_string_equal(out, SID);
    /* among other cookies, spaces after the separators */
    assert_int_equal(gw_api_session_cookie("theme=dark; motcua_session=" SID "; lang=vi", out), 0);
    assert_string_equal(out, SID);
    assert_int_equal(gw_api_session_cookie("a=1;motcua_session=" SID, out), 0);
    /* not ours: another name that ends like it, wrong lengths, upper case, none */
    assert_int_equal(gw_api_session_cookie("xmotcua_session=" SID, out), MC_ENOTFOUND);
    assert_int_equal(gw_api_session_cookie("motcua_session=" SID "0", out), MC_ENOTFOUND);
    assert_int_equal(gw_api_session_cookie("motcua_session=0123", out), MC_ENOTFOUND);
    assert_int_equal(gw_api_session_cookie("motcua_session=0123456789ABCDEF0123456789abcdef", out),
                     MC_ENOTFOUND);
    assert_int_equal(gw_api_session_cookie("motcua_session=", out), MC_ENOTFOUND);
    assert_int_equal(gw_api_session_cookie("", out), MC_ENOTFOUND);
    assert_int_equal(gw_api_session_cookie(NULL, out), MC_ENOTFOUND);
    assert_string_equal(out, "");
}

static void test_principals(void **state) {
    (void)state;
    gw_api_token *t =
        gw_api_token_new(GW_API_OFFICER, "ubnd-ben-thanh", "lan.nguyen",
                         gw_api_role_scopes(GW_OFF_OFFICER), GW_OFF_OFFICER, "26743,26740");
    assert_non_null(t);
    assert_true(gw_api_token_area_ok(t, "26743"));
    assert_true(gw_api_token_area_ok(t, "26740"));
    assert_false(gw_api_token_area_ok(t, "27316"));
    assert_false(gw_api_token_area_ok(t, "*"));
    assert_int_equal(gw_api_token_kind(t), GW_API_OFFICER);
    assert_int_equal(gw_api_token_role(t), GW_OFF_OFFICER);
    char actor[GW_API_ACTOR_MAX];
    gw_api_token_actor(t, actor, sizeof actor);
    assert_string_equal(actor, "officer:lan.nguyen");
    gw_api_token_set_session(t, "abc", SID, true);
    /* a copy is the op's own: the request's principal may go first */
    gw_api_token *c = gw_api_token_dup(t);
    gw_api_token_free(t);
    assert_string_equal(gw_api_token_session(c), "abc");
    assert_string_equal(gw_api_token_csrf(c), SID);
    assert_true(gw_api_token_must_change(c));
    json_t *me = gw_api_token_json(c);
    char *js = json_dumps(me, JSON_COMPACT);
    assert_string_equal(js, "{\"department\":\"ubnd-ben-thanh\",\"scopes\":[\"dossiers:write\","
                            "\"notify\",\"read\"],\"areas\":[\"26743\",\"26740\"]}");
    free(js);
    json_decref(me);
    gw_api_token_free(c);

    gw_api_token *k =
        gw_api_token_new(GW_API_KEY, "so-tu-phap", "he-thong", GW_SCOPE_READ, GW_OFF_NOBODY, "*");
    assert_non_null(k);
    assert_true(gw_api_token_area_ok(k, "*"));
    assert_true(gw_api_token_area_ok(k, "27316"));
    gw_api_token_actor(k, actor, sizeof actor);
    assert_string_equal(actor, "key:he-thong");
    assert_string_equal(gw_api_token_session(k), "");
    gw_api_token_free(k);

    /* too long: refused, not cut */
    char big[GW_API_NAME_MAX + 2];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_null(gw_api_token_new(GW_API_KEY, "d", big, 0, GW_OFF_NOBODY, ""));
    assert_null(gw_api_token_new(GW_API_KEY, "d", "n", 0, GW_OFF_NOBODY,
                                 "0123456789012345678901234567890123456789012345678901"));
}

static void test_roles_and_scopes(void **state) {
    (void)state;
    assert_int_equal(gw_api_role_scopes(GW_OFF_VIEWER), GW_SCOPE_READ);
    assert_int_equal(gw_api_role_scopes(GW_OFF_OFFICER),
                     GW_SCOPE_READ | GW_SCOPE_DOSSIERS_WRITE | GW_SCOPE_NOTIFY);
    assert_int_equal(gw_api_role_scopes(GW_OFF_ADMIN), GW_SCOPE_READ | GW_SCOPE_DOSSIERS_WRITE |
                                                           GW_SCOPE_NOTIFY | GW_SCOPE_BROADCAST);
    assert_int_equal(gw_api_role_scopes(GW_OFF_NOBODY), 0);
    /* the people-only mark is no scope a token can have */
    assert_int_equal(gw_api_role_scopes(GW_OFF_ADMIN) & GW_SCOPE_PEOPLE, 0);
    unsigned m;
    assert_int_equal(gw_api_scopes_parse("read,notify", &m), 0);
    assert_int_equal(m, GW_SCOPE_READ | GW_SCOPE_NOTIFY);
    assert_int_equal(gw_api_scopes_parse("dossiers:write", &m), 0);
    assert_int_equal(m, GW_SCOPE_DOSSIERS_WRITE);
    assert_int_equal(gw_api_scopes_parse("read,root", &m), MC_EINVAL);
    assert_int_equal(gw_api_scopes_parse("rea", &m), MC_EINVAL);
    assert_int_equal(gw_api_scopes_parse("", &m), 0);
    assert_int_equal(m, 0);
    assert_string_equal(gw_api_scope_name(3), "read");
    assert_null(gw_api_scope_name(4));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_session_cookie),
        cmocka_unit_test(test_principals),
        cmocka_unit_test(test_roles_and_scopes),
    };
    return cmocka_run_group_tests_name("gw_auth", tests, NULL, NULL);
}
