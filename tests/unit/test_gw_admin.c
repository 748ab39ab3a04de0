/*
 * test_gw_admin.c — the department API's pure parts: the tokens file (errors name file
 * and line), bearer checks against the SHA-256 hashes, areas, the field validators,
 * the time conversions and the validation of one notification body. Runs from the
 * repository root (share folder ".").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/mc.h"
#include "gateway/api/gw_admin.h"
#include "gateway/app/gw_shared.h"
#include "intents/nlu.h"

#include <jansson.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TMP_PATH_MAX 64

/* Writes text to a fresh temp file; path into out. */
static void write_tmp(char *out, const char *text) {
    snprintf(out, TMP_PATH_MAX, "/tmp/test_gw_admin_XXXXXX");
    int fd = mkstemp(out);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void hex_sha(const char *s, char out[65]) {
    unsigned char h[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)s, strlen(s), h);
    for (size_t i = 0; i < sizeof h; i++)
        sprintf(out + 2 * i, "%02x", h[i]);
}

/* The wards and procedures come from the understanding engine, as in serve. */
static nlu_engine *engine;
static gw_shared *shared;

static int setup(void **state) {
    (void)state;
    char err[512];
    nlu_engine_opts o = {".", NULL};
    engine = nlu_engine_new(&o, err, sizeof err);
    shared = engine ? gw_shared_new(engine, err, sizeof err) : NULL;
    if (!shared)
        fprintf(stderr, "setup: %s\n", err);
    return shared ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    gw_shared_free(shared);
    nlu_engine_free(engine);
    return 0;
}

static gw_admin *load(const char *text, char *err, size_t errlen, char *path) {
    write_tmp(path, text);
    gw_admin *a = gw_admin_new(shared, path, ".", err, errlen);
    unlink(path);
    return a;
}

static void test_tokens_and_auth(void **state) {
    (void)state;
    char ha[65], hb[65], text[1024], path[TMP_PATH_MAX], err[512] = "";
    hex_sha("secret-a", ha);
    hex_sha("secret-b", hb);
    snprintf(text, sizeof text,
             "# departments\n\nso-a %s dossiers:write,read *  # all wards\n"
             "ubnd-b %s notify,broadcast 26743,sai-gon-26740\n",
             ha, hb);
    gw_admin *a = load(text, err, sizeof err, path);
    assert_non_null(a);
    unsigned scopes = 0;
    const char *d = gw_admin_auth(a, "Bearer secret-a", &scopes);
    assert_non_null(d);
    assert_string_equal(d, "so-a");
    assert_int_equal(scopes, GW_SCOPE_DOSSIERS_WRITE | GW_SCOPE_READ);
    d = gw_admin_auth(a, "bearer secret-b", &scopes);
    assert_non_null(d);
    assert_string_equal(d, "ubnd-b");
    assert_int_equal(scopes, GW_SCOPE_NOTIFY | GW_SCOPE_BROADCAST);
    assert_null(gw_admin_auth(a, "Bearer secret-", NULL));
    assert_null(gw_admin_auth(a, "Bearer secret-ab", NULL));
    assert_null(gw_admin_auth(a, "Basic secret-a", NULL));
    assert_null(gw_admin_auth(a, "Bearer ", NULL));
    assert_null(gw_admin_auth(a, NULL, NULL));
    /* the hash itself is not a token */
    char bh[80];
    snprintf(bh, sizeof bh, "Bearer %s", ha);
    assert_null(gw_admin_auth(a, bh, NULL));

    assert_true(gw_admin_area_ok(a, "so-a", "27316"));
    assert_true(gw_admin_area_ok(a, "ubnd-b", "26743"));
    assert_true(gw_admin_area_ok(a, "ubnd-b", "26740")); /* given by its slug */
    assert_false(gw_admin_area_ok(a, "ubnd-b", "27316"));
    assert_false(gw_admin_area_ok(a, "nobody", "26743"));

    assert_string_equal(gw_admin_status_text(a, "ready_for_pickup"),
                        "đã có kết quả, mời anh/chị đến nhận");
    assert_null(gw_admin_status_text(a, "lost"));
    gw_admin_free(a);
}

static void expect_error(const char *text, int line, const char *reason) {
    char path[TMP_PATH_MAX], err[512] = "", want[TMP_PATH_MAX + 16];
    gw_admin *a = load(text, err, sizeof err, path);
    assert_null(a);
    snprintf(want, sizeof want, "%s:%d: ", path, line);
    if (strncmp(err, want, strlen(want)) || !strstr(err, reason))
        fail_msg("want \"%s...%s\", got \"%s\"", want, reason, err);
}

static void test_token_errors(void **state) {
    (void)state;
    char h[65], text[1024];
    hex_sha("x", h);
    snprintf(text, sizeof text, "# c\nso-a %s read\n", h);
    expect_error(text, 2, "want 4 fields");
    snprintf(text, sizeof text, "so-a %s read,write *\n", h);
    expect_error(text, 1, "unknown scope \"write\"");
    snprintf(text, sizeof text, "so-a %s read phuong-x\n", h);
    expect_error(text, 1, "unknown area \"phuong-x\"");
    snprintf(text, sizeof text, "so-a %.63s read *\n", h);
    expect_error(text, 1, "64 hex digits");
    snprintf(text, sizeof text, "So A %s read *\n", h);
    expect_error(text, 1, "fields");
    snprintf(text, sizeof text, "so-a %s read *\nso-b %s read *\n", h, h);
    expect_error(text, 2, "same token hash");
    snprintf(text, sizeof text, "S%s %s read *\n", "o", h);
    expect_error(text, 1, "department id");

    char err[256] = "";
    assert_null(gw_admin_new(shared, "/nonexistent/tokens.txt", ".", err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/tokens.txt"));
}

static void test_validators(void **state) {
    (void)state;
#define OK(f, s) assert_true(f(s, strlen(s)))
#define NO(f, s) assert_false(f(s, strlen(s)))
    OK(gw_admin_code_ok, "000.00.25.H29-231122-0001");
    OK(gw_admin_code_ok, "G01.999.04.H29-251231-12345678");
    NO(gw_admin_code_ok, "000.00.25.h29-231122-0001"); /* canonical is upper-case */
    NO(gw_admin_code_ok, "000.00.25.H29-231122-001");
    NO(gw_admin_code_ok, "000.00.25.H29-231322-0001"); /* month 13 */
    NO(gw_admin_code_ok, "000.00.25.H29-230230-0001"); /* 30 February */
    NO(gw_admin_code_ok, "000-231122-0001");
    NO(gw_admin_code_ok, "000..25.H29-231122-0001");
    NO(gw_admin_code_ok, "000.00.25.H29 231122 0001");
    NO(gw_admin_code_ok, "");
    OK(gw_admin_phone_ok, "+84901234567");
    OK(gw_admin_phone_ok, "+84389999999");
    NO(gw_admin_phone_ok, "0901234567");
    NO(gw_admin_phone_ok, "+84201234567"); /* a landline */
    NO(gw_admin_phone_ok, "+8490123456");
    NO(gw_admin_phone_ok, "+849012345678");
    NO(gw_admin_phone_ok, "+84 90123456");
    OK(gw_admin_date_ok, "2026-12-01");
    OK(gw_admin_date_ok, "2028-02-29");
    NO(gw_admin_date_ok, "2026-02-29");
    NO(gw_admin_date_ok, "2026-12-1");
    NO(gw_admin_date_ok, "01/12/2026");
    /* length-carrying: only the first len bytes count */
    assert_true(gw_admin_phone_ok("+84901234567999", 12));
#undef OK
#undef NO
}

static void test_times(void **state) {
    (void)state;
    int64_t ms = 0;
    const char *s = "2026-11-23T08:00:00+07:00";
    assert_int_equal(gw_admin_parse_time(s, strlen(s), &ms), 0);
    assert_int_equal(ms, 1795395600000LL); /* 2026-11-23T01:00:00Z */
    s = "2026-11-23T01:00:00.250Z";
    assert_int_equal(gw_admin_parse_time(s, strlen(s), &ms), 0);
    assert_int_equal(ms, 1795395600250LL);
    s = "2026-11-22T20:30:00-04:30";
    assert_int_equal(gw_admin_parse_time(s, strlen(s), &ms), 0);
    assert_int_equal(ms, 1795395600000LL);
    const char *bad[] = {"2026-11-23 08:00:00+07:00", "2026-11-23T08:00:00",
                         "2026-11-23T24:00:00Z",      "2026-02-30T08:00:00Z",
                         "2026-11-23T08:00:00+0700",  "tomorrow",
                         "2026-11-23T08:00:00.Z"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(gw_admin_parse_time(bad[i], strlen(bad[i]), &ms), MC_EINVAL);
    char out[40];
    gw_admin_format_time(1795395600000LL, out, sizeof out);
    assert_string_equal(out, "2026-11-23T08:00:00+07:00");
    gw_admin_format_time(1795455600000LL, out, sizeof out); /* 17:40Z → next day in HCMC */
    assert_string_equal(out, "2026-11-24T00:40:00+07:00");
}

/* Checks body (JSON text) with gw_admin_notif_parse: 0 and n filled, or the field at fault. */
static int parse_notif(const char *body, gw_admin_notif *n, gw_admin_err *e) {
    json_t *b = json_loads(body, 0, NULL);
    assert_non_null(b);
    memset(e, 0, sizeof *e);
    int rc = gw_admin_notif_parse(NULL, b, n, e);
    if (rc == 0) {
        /* n borrows from b: keep what the test reads */
        n->out_text = n->text ? strdup(n->text) : strdup(n->tpl_id);
        n->text = n->tpl_id = NULL;
        n->tpl_data = NULL;
        n->idem_key = NULL;
    } else {
        assert_int_equal(e->status, 400);
        assert_true(e->message[0] != '\0');
    }
    json_decref(b);
    return rc;
}

/* The one validation that POST /notifications and each batch row go through. */
static void test_notif_parse(void **state) {
    (void)state;
    gw_admin_notif n;
    gw_admin_err e;
    assert_int_equal(
        parse_notif("{\"to\":{\"channel\":\"zalo\",\"user_id\":\"z1\",\"phone\":\"+84901234567\"},"
                    "\"text\":\"Xin chào\"}",
                    &n, &e),
        0);
    assert_string_equal(n.channels, "zalo,sms"); /* the recipient's channel, then SMS */
    assert_string_equal(n.priority, "normal");
    assert_string_equal(n.out_text, "Xin chào");
    assert_string_equal(n.to_json,
                        "{\"channel\":\"zalo\",\"user_id\":\"z1\",\"phone\":\"+84901234567\"}");
    assert_int_equal(n.not_after_ms, 0);
    assert_true(n.send_at_ms == n.created_ms && n.created_ms > 0);
    gw_admin_notif_clear(&n);
    assert_null(n.to);

    assert_int_equal(
        parse_notif("{\"to\":{\"phone\":\"+84901234567\"},\"template\":{\"id\":\"cup-dien\","
                    "\"data\":{\"ngay\":25}},\"send_at\":\"2030-01-02T08:00:00+07:00\"}",
                    &n, &e),
        0);
    assert_string_equal(n.channels, "sms");
    assert_string_equal(n.out_text, "cup-dien");
    assert_int_equal(n.send_at_ms, 1893546000000LL);
    gw_admin_notif_clear(&n);

    static const char *const bad[][2] = {
        {"{\"text\":\"x\"}", "to"},
        {"{\"to\":{\"phone\":\"0901234567\"},\"text\":\"x\"}", "to.phone"},
        {"{\"to\":{\"phone\":\"+84901234567\"}}", "text"},
        {"{\"to\":{\"phone\":\"+84901234567\"},\"text\":\"x\",\"template\":{\"id\":\"a\"}}",
         "template"},
        {"{\"to\":{\"phone\":\"+84901234567\"},\"template\":{\"id\":\"A b\"}}", "template.id"},
        {"{\"to\":{\"phone\":\"+84901234567\"},\"template\":{\"id\":\"a\",\"data\":{\"x\":true}}}",
         "template.data.x"},
        {"{\"to\":{\"phone\":\"+84901234567\"},\"template\":{\"id\":\"a\",\"lang\":\"vi\"}}",
         "template.lang"},
        {"{\"to\":{\"phone\":\"+84901234567\"},\"text\":\"x\",\"channels\":[\"zalo\"]}",
         "channels[0]"},
        {"{\"to\":{\"phone\":\"+84901234567\"},\"text\":\"x\",\"priority\":\"high\"}", "priority"},
        {"{\"to\":{\"phone\":\"+84901234567\"},\"text\":\"x\",\"not_after\":\"2001-01-01T00:00:"
         "00Z\"}",
         "not_after"},
        {"{\"to\":{\"phone\":\"+84901234567\"},\"text\":\"x\",\"colour\":1}", "colour"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(parse_notif(bad[i][0], &n, &e), -1);
        assert_string_equal(e.field, bad[i][1]);
        assert_null(n.to); /* cleared on failure */
    }
    char big[400];
    snprintf(big, sizeof big,
             "{\"to\":{\"phone\":\"+84901234567\"},\"template\":{\"id\":\"a\",\"data\":{\"x\":\"%"
             "0201d\"}}}",
             0);
    assert_int_equal(parse_notif(big, &n, &e), -1);
    assert_string_equal(e.field, "template.data.x");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokens_and_auth), cmocka_unit_test(test_token_errors),
        cmocka_unit_test(test_validators),      cmocka_unit_test(test_times),
        cmocka_unit_test(test_notif_parse),
    };
    return cmocka_run_group_tests_name("gw_admin", tests, setup, teardown);
}
