/*
 * test_gw_tpl.c — the template language (gateway/api/gw_tpl.h): placeholder names
 * (Vietnamese letters included), template ids, scanning ((name)) with its errors,
 * rendering with string and number values; and applying a stored template to data
 * the way POST /notifications, /broadcasts and batches do (gw_templates_use: which
 * field each mistake is reported on).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/mc.h"
#include "gateway/api/gw_api_int.h"
#include "gateway/api/gw_tpl.h"

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S(lit) lit, sizeof lit - 1

/* Placeholder names gw_tpl_name_ok takes (the last one decomposed: u + combining horn +
 * combining dot below), and names it refuses (a mark before "a", a space, a hyphen, a dot, a
 * multiplication sign, an emoji, a byte that is not UTF-8, a cut sequence). */
static const char *const good_names[] = {
    "ngay", "so_ho_so_2", "phường", "Ngày_hẹn", "đường", "_", "hu\xcc\x9b\xcc\xa3",
};
static const char *const bad_names[] = {
    "\xcc\x9b\x61", "", "ngay hen", "ngày-hẹn", "a.b", "x\xc3\x97y", "tên😀", "\xff", "\xc3",
};
/* Template ids gw_tpl_id_ok takes, and ids it refuses. */
static const char *const good_ids[] = {"cup-dien_2026", "a"};
static const char *const bad_ids[] = {"", "Cup", "cúp", "a/b"};

/* Asserts that ok gives want for each of list[0..n). */
static void expect_verdicts(bool (*ok)(const char *, size_t), const char *const *list, size_t n,
                            bool want) {
    for (size_t i = 0; i < n; i++)
        if (ok(list[i], strlen(list[i])) != want)
            fail_msg("'%s' is %s, want %s", list[i], want ? "refused" : "taken",
                     want ? "taken" : "refused");
}

static void test_names_and_ids(void **state) {
    (void)state;
    expect_verdicts(gw_tpl_name_ok, good_names, MC_ARRAY_LEN(good_names), true);
    expect_verdicts(gw_tpl_name_ok, bad_names, MC_ARRAY_LEN(bad_names), false);
    /* 32 code points are fine, 33 are not, whatever their bytes */
    char name[200] = "";
    for (int i = 0; i < 32; i++)
        strcat(name, "ư");
    assert_true(gw_tpl_name_ok(name, strlen(name)));
    strcat(name, "a");
    assert_false(gw_tpl_name_ok(name, strlen(name)));

    expect_verdicts(gw_tpl_id_ok, good_ids, MC_ARRAY_LEN(good_ids), true);
    expect_verdicts(gw_tpl_id_ok, bad_ids, MC_ARRAY_LEN(bad_ids), false);
    char id[60];
    memset(id, 'a', sizeof id);
    assert_true(gw_tpl_id_ok(id, GW_TPL_ID_MAX));
    assert_false(gw_tpl_id_ok(id, GW_TPL_ID_MAX + 1));
}

static void test_scan(void **state) {
    (void)state;
    gw_tpl_vars v;
    char err[200];
    const char *t = "Phường ((phuong)) cúp điện ngày ((ngay)); ((phuong)) xin lỗi.";
    assert_int_equal(gw_tpl_scan(t, strlen(t), &v, err, sizeof err), 0);
    assert_int_equal(v.n, 2);
    assert_string_equal(v.name[0], "phuong");
    assert_string_equal(v.name[1], "ngay");

    t = "Không có chỗ trống (nào) cả :)) ";
    assert_int_equal(gw_tpl_scan(t, strlen(t), &v, err, sizeof err), 0);
    assert_int_equal(v.n, 0);

    /* a run of '(' keeps all but the last two as text */
    t = "(((tên))) và ((ngày_hẹn))";
    assert_int_equal(gw_tpl_scan(t, strlen(t), &v, err, sizeof err), 0);
    assert_int_equal(v.n, 2);
    assert_string_equal(v.name[0], "tên");
    assert_string_equal(v.name[1], "ngày_hẹn");

    t = "Ngày ((ngay) mai";
    assert_int_equal(gw_tpl_scan(t, strlen(t), &v, err, sizeof err), MC_EINVAL);
    assert_non_null(strstr(err, "not closed"));
    assert_non_null(strstr(err, "character 6")); /* counted in characters, not bytes */

    t = "xin chào ((";
    assert_int_equal(gw_tpl_scan(t, strlen(t), &v, err, sizeof err), MC_EINVAL);
    assert_non_null(strstr(err, "not closed"));

    t = "((ngay hen))";
    assert_int_equal(gw_tpl_scan(t, strlen(t), &v, err, sizeof err), MC_EINVAL);
    assert_non_null(strstr(err, "bad placeholder name ((ngay hen))"));
    t = "(())";
    assert_int_equal(gw_tpl_scan(t, strlen(t), &v, err, sizeof err), MC_EINVAL);
    assert_non_null(strstr(err, "bad placeholder name (())"));
    t = "((a ((b))";
    assert_int_equal(gw_tpl_scan(t, strlen(t), &v, err, sizeof err), MC_EINVAL);

    /* 32 distinct placeholders fit, a 33rd does not */
    char big[1200] = "";
    for (int i = 0; i < 32; i++)
        snprintf(big + strlen(big), sizeof big - strlen(big), "((v%d)) ", i);
    assert_int_equal(gw_tpl_scan(big, strlen(big), &v, err, sizeof err), 0);
    assert_int_equal(v.n, 32);
    strcat(big, "((v0)) ((v31))"); /* repeats are not new */
    assert_int_equal(gw_tpl_scan(big, strlen(big), &v, err, sizeof err), 0);
    strcat(big, "((v32))");
    assert_int_equal(gw_tpl_scan(big, strlen(big), &v, err, sizeof err), MC_EINVAL);
    assert_non_null(strstr(err, "more than 32"));
}

static void test_render(void **state) {
    (void)state;
    json_t *d = json_pack("{s:s, s:s, s:i, s:f}", "phuong", "Bến Thành", "ngay", "25/11", "so", 7,
                          "ti_le", 2.5);
    const char *t = "Phường ((phuong)) cúp điện ngày ((ngay)).";
    size_t n = 0;
    char *s = gw_tpl_render(t, strlen(t), d, &n);
    assert_non_null(s);
    assert_string_equal(s, "Phường Bến Thành cúp điện ngày 25/11.");
    assert_int_equal(n, strlen(s));
    free(s);

    t = "((so)) hộ, ((ti_le))% — (((phuong)))";
    s = gw_tpl_render(t, strlen(t), d, &n);
    assert_string_equal(s, "7 hộ, 2.5% — (Bến Thành)");
    free(s);

    /* a value is put in once: placeholders inside it stay text */
    json_t *d2 = json_pack("{s:s}", "x", "((x)) và ((y))");
    t = "<((x))>";
    s = gw_tpl_render(t, strlen(t), d2, &n);
    assert_string_equal(s, "<((x)) và ((y))>");
    free(s);

    /* an empty value is a value */
    json_t *d3 = json_pack("{s:s}", "x", "");
    t = "a((x))b";
    s = gw_tpl_render(t, strlen(t), d3, &n);
    assert_string_equal(s, "ab");
    assert_int_equal(n, 2);
    free(s);

    /* no placeholder: the text itself, even with no data */
    t = "Thông báo chung.";
    s = gw_tpl_render(t, strlen(t), NULL, &n);
    assert_string_equal(s, t);
    free(s);

    /* missing, null or non-scalar values, and texts that do not scan, give NULL */
    json_t *d4 = json_pack("{s:n, s:[]}", "a", "b");
    assert_null(gw_tpl_render(S("((ngay))"), d2, &n));
    assert_null(gw_tpl_render(S("((a))"), d4, &n));
    assert_null(gw_tpl_render(S("((b))"), d4, &n));
    assert_null(gw_tpl_render(S("((x)"), d2, &n));
    json_decref(d);
    json_decref(d2);
    json_decref(d3);
    json_decref(d4);
}

/* A stored template record as the store answers it. */
static redisReply *stored(const char *text) {
    static redisReply r;
    static char *buf;
    free(buf);
    json_t *rec = json_pack("{s:s, s:s, s:s}", "id", "t", "name", "T", "text", text);
    buf = json_dumps(rec, JSON_COMPACT);
    json_decref(rec);
    memset(&r, 0, sizeof r);
    r.type = REDIS_REPLY_STRING;
    r.str = buf;
    r.len = strlen(buf);
    return &r;
}

static void test_use(void **state) {
    (void)state;
    gw_api_err e;
    char *out = NULL;
    json_t *d = json_pack("{s:s, s:s}", "phuong", "Bến Thành", "ngay", "25/11");
    const char *t = "Phường ((phuong)) cúp điện ngày ((ngay)).";

    memset(&e, 0, sizeof e);
    assert_int_equal(gw_templates_use(stored(t), d, "template.data.", true, &out, &e), 0);
    assert_string_equal(out, "Phường Bến Thành cúp điện ngày 25/11.");
    free(out);

    /* unknown template → template.id */
    redisReply nil = {.type = REDIS_REPLY_NIL};
    memset(&e, 0, sizeof e);
    assert_int_equal(gw_templates_use(&nil, d, "template.data.", true, &out, &e), MC_EINVAL);
    assert_null(out);
    assert_int_equal(e.status, 400);
    assert_string_equal(e.field, "template.id");

    /* a placeholder without a value → <prefix><name> */
    json_t *part = json_pack("{s:s}", "phuong", "Bến Thành");
    memset(&e, 0, sizeof e);
    assert_int_equal(gw_templates_use(stored(t), part, "template.data.", true, &out, &e),
                     MC_EINVAL);
    assert_string_equal(e.field, "template.data.ngay");
    assert_string_equal(e.code, "missing_field");
    memset(&e, 0, sizeof e);
    assert_int_equal(gw_templates_use(stored(t), NULL, "data.", true, &out, &e), MC_EINVAL);
    assert_string_equal(e.field, "data.phuong");

    /* a value for no placeholder → <prefix><key> */
    json_t *extra = json_pack("{s:s, s:s, s:s}", "phuong", "A", "ngay", "B", "giờ", "8h");
    memset(&e, 0, sizeof e);
    assert_int_equal(gw_templates_use(stored(t), extra, "data.", true, &out, &e), MC_EINVAL);
    assert_string_equal(e.field, "data.giờ");
    assert_non_null(strstr(e.message, "((giờ))"));

    /* a blank value (an empty cell of a bulk file) → that placeholder, before any text is
     * made (issue 13: "…trước ngày ." was sent); a result longer than a notification may
     * be → template */
    json_t *sp = json_pack("{s:s}", "x", "  \n ");
    memset(&e, 0, sizeof e);
    assert_int_equal(gw_templates_use(stored("((x))"), sp, "data.", true, &out, &e), MC_EINVAL);
    assert_string_equal(e.field, "data.x");
    assert_string_equal(e.code, "missing_field");
    assert_non_null(strstr(e.message, "empty"));
    char longv[GW_API_TPL_VALUE_MAX + 1];
    memset(longv, 'x', GW_API_TPL_VALUE_MAX);
    longv[GW_API_TPL_VALUE_MAX] = '\0';
    json_t *lv = json_pack("{s:s}", "x", longv);
    char text[GW_API_TEXT_MAX + 1] = "";
    for (int i = 0; i < 11; i++)
        strcat(text, "((x))");
    memset(&e, 0, sizeof e);
    assert_int_equal(gw_templates_use(stored(text), lv, "data.", true, &out, &e), MC_EINVAL);
    assert_string_equal(e.field, "template");
    assert_non_null(strstr(e.message, "2200 bytes"));

    /* an unreadable record is the server's fault, not the caller's */
    redisReply junk = {.type = REDIS_REPLY_STRING, .str = "{", .len = 1};
    memset(&e, 0, sizeof e);
    assert_int_equal(gw_templates_use(&junk, d, "data.", true, &out, &e), MC_EINVAL);
    assert_int_equal(e.status, 500);

    /* checking only (a batch's shared values): missing values are fine, unknown keys not */
    memset(&e, 0, sizeof e);
    assert_int_equal(gw_templates_use(stored(t), part, "template.data.", false, NULL, &e), 0);
    assert_int_equal(gw_templates_use(stored(t), NULL, "template.data.", false, NULL, &e), 0);
    assert_int_equal(e.status, 0);
    assert_int_equal(gw_templates_use(stored(t), extra, "template.data.", false, NULL, &e),
                     MC_EINVAL);
    assert_string_equal(e.field, "template.data.giờ");
    memset(&e, 0, sizeof e);
    assert_int_equal(gw_templates_use(&nil, NULL, "template.data.", false, NULL, &e), MC_EINVAL);
    assert_string_equal(e.field, "template.id");

    free(stored("")->str); /* the last record */
    json_decref(d);
    json_decref(part);
    json_decref(extra);
    json_decref(sp);
    json_decref(lv);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_and_ids),
        cmocka_unit_test(test_scan),
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_use),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
