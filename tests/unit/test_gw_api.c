/*
 * test_gw_api.c — the API module (gateway/api/gw_api.c): the tokens file (errors name
 * file and line), bearer checks against the SHA-256 hashes, scopes and areas, the
 * statuses of statuses.txt (gw_dossiers.c), and the validation of one notification
 * body (gw_notifications.c) that POST /notifications and every batch row go through.
 * Runs from the repository root (share folder ".").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/mc.h"
#include "gateway/api/gw_api_int.h"
#include "gateway/app/gw_shared.h"
#include "intents/nlu.h"
#include "test_file.h"

#include <jansson.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Writes text to a fresh temp file; path into out[T_TMP_PATH_MAX]. */
static void write_tmp(char *out, const char *text) {
    assert_int_equal(t_write_tmp(out, "test_gw_api", text), 0);
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

static gw_api *load(const char *text, char *err, size_t errlen, char *path) {
    write_tmp(path, text);
    gw_api *a = NULL;
    int rc = gw_api_new(shared, path, ".", &a, err, errlen);
    assert_true(rc == 0 ? a != NULL : a == NULL && rc < 0);
    unlink(path);
    return a;
}

/* The department and scopes of an Authorization value, or NULL. */
static const char *auth(const gw_api *a, const char *authorization, unsigned *scopes) {
    const gw_api_token *t = gw_api_token_find(a, authorization);
    if (t && scopes)
        *scopes = gw_api_token_scopes(t);
    return t ? gw_api_token_dept(t) : NULL;
}

/* Whether the token presented as authorization may address ward_id. */
static bool area_ok(const gw_api *a, const char *authorization, const char *ward_id) {
    const gw_api_token *t = gw_api_token_find(a, authorization);
    assert_non_null(t);
    return gw_api_token_area_ok(t, ward_id);
}

static void test_tokens_and_auth(void **state) {
    (void)state;
    char ha[65], hb[65], text[1024], path[T_TMP_PATH_MAX], err[512] = "";
    hex_sha("secret-a", ha);
    hex_sha("secret-b", hb);
    snprintf(text, sizeof text,
             "# departments\n\nso-a %s dossiers:write,read *  # all wards\n"
             "ubnd-b %s notify,broadcast 26743,sai-gon-26740\n",
             ha, hb);
    gw_api *a = load(text, err, sizeof err, path);
    assert_non_null(a);
    unsigned scopes = 0;
    const char *d = auth(a, "Bearer secret-a", &scopes);
    assert_non_null(d);
    assert_string_equal(d, "so-a");
    assert_int_equal(scopes, GW_SCOPE_DOSSIERS_WRITE | GW_SCOPE_READ);
    d = auth(a, "bearer secret-b", &scopes);
    assert_non_null(d);
    assert_string_equal(d, "ubnd-b");
    assert_int_equal(scopes, GW_SCOPE_NOTIFY | GW_SCOPE_BROADCAST);
    assert_string_equal(auth(a, "Bearer   secret-a", NULL), "so-a"); /* spaces before it */
    assert_null(auth(a, "Bearer secret-", NULL));
    assert_null(auth(a, "Bearer secret-ab", NULL));
    assert_null(auth(a, "Basic secret-a", NULL));
    assert_null(auth(a, "Bearer ", NULL));
    assert_null(auth(a, NULL, NULL));
    /* the hash itself is not a token */
    char bh[80];
    snprintf(bh, sizeof bh, "Bearer %s", ha);
    assert_null(auth(a, bh, NULL));
    /* a token longer than any accepted is refused before it is hashed */
    char big[GW_API_TOKEN_BYTES_MAX + 16] = "Bearer ";
    memset(big + 7, 'x', GW_API_TOKEN_BYTES_MAX + 1);
    big[7 + GW_API_TOKEN_BYTES_MAX + 1] = '\0';
    assert_null(auth(a, big, NULL));

    assert_true(area_ok(a, "Bearer secret-a", "27316"));
    assert_true(area_ok(a, "Bearer secret-b", "26743"));
    assert_true(area_ok(a, "Bearer secret-b", "26740")); /* given by its slug */
    assert_false(area_ok(a, "Bearer secret-b", "27316"));

    /* GET /me's answer */
    json_t *me = gw_api_token_json(gw_api_token_find(a, "Bearer secret-b"));
    char *js = json_dumps(me, JSON_COMPACT);
    assert_string_equal(js, "{\"department\":\"ubnd-b\",\"scopes\":[\"notify\",\"broadcast\"],"
                            "\"areas\":[\"26743\",\"26740\"]}");
    free(js);
    json_decref(me);
    me = gw_api_token_json(gw_api_token_find(a, "Bearer secret-a"));
    js = json_dumps(me, JSON_COMPACT);
    assert_string_equal(js, "{\"department\":\"so-a\",\"scopes\":[\"dossiers:write\",\"read\"],"
                            "\"areas\":[\"*\"]}");
    free(js);
    json_decref(me);

    const gw_statuses *st = gw_api_statuses(a);
    assert_int_equal(gw_statuses_count(st), 7);
    assert_string_equal(gw_statuses_text(st, "ready_for_pickup"),
                        "đã có kết quả, mời anh/chị đến nhận");
    assert_null(gw_statuses_text(st, "lost"));
    gw_api_free(a);
}

/* A loader of a data file: 0, or MC_E* with "path:LINE: reason" in err. */
typedef int loader_fn(const char *path, char *err, size_t errlen);

static int load_tokens(const char *path, char *err, size_t errlen) {
    gw_api *a = NULL;
    int rc = gw_api_new(shared, path, ".", &a, err, errlen);
    assert_true(rc ? a == NULL : a != NULL);
    gw_api_free(a);
    return rc;
}

static int load_statuses(const char *path, char *err, size_t errlen) {
    gw_statuses *st = NULL;
    int rc = gw_statuses_load(path, &st, err, errlen);
    assert_true(rc ? st == NULL : st != NULL);
    gw_statuses_free(st);
    return rc;
}

/* text refused by loader with MC_EPARSE and "path:LINE: ...reason..." (line 0: "path: "). */
static void expect_error(loader_fn *loader, const char *text, int line, const char *reason) {
    char path[T_TMP_PATH_MAX], err[512] = "", want[T_TMP_PATH_MAX + 16];
    write_tmp(path, text);
    int rc = loader(path, err, sizeof err);
    unlink(path);
    assert_int_equal(rc, MC_EPARSE);
    if (line)
        snprintf(want, sizeof want, "%s:%d: ", path, line);
    else
        snprintf(want, sizeof want, "%s: ", path);
    if (strncmp(err, want, strlen(want)) || !strstr(err, reason))
        fail_msg("want \"%s...%s\", got \"%s\"", want, reason, err);
}

/* One bad data file: its text ("@" stands for a token hash or the event
 * template, "~" for the hash less its last digit), the line at fault and a part
 * of the reason. */
typedef struct bad_file {
    const char *text;
    int line;
    const char *reason;
} bad_file;

static void expect_errors(loader_fn *loader, const bad_file *bad, size_t n, const char *arg) {
    char text[1024];
    for (size_t i = 0; i < n; i++) {
        size_t o = 0;
        for (const char *p = bad[i].text; *p && o + strlen(arg) + 1 < sizeof text; p++) {
            size_t al = *p == '@' ? strlen(arg) : *p == '~' ? strlen(arg) - 1 : 0;
            if (al)
                memcpy(text + o, arg, al), o += al;
            else
                text[o++] = *p;
        }
        text[o] = '\0';
        expect_error(loader, text, bad[i].line, bad[i].reason);
    }
}

static void test_token_errors(void **state) {
    (void)state;
    static const bad_file bad[] = {
        {"# c\nso-a @ read\n", 2, "want 4 fields"},
        {"so-a @ read,write *\n", 1, "unknown scope \"write\""},
        {"so-a @ read phuong-x\n", 1, "unknown area \"phuong-x\""},
        {"so-a ~ read *\n", 1, "64 hex digits"},
        {"So A @ read *\n", 1, "fields"},
        {"so-a @ read *\nso-b @ read *\n", 2, "same token hash"},
        {"So @ read *\n", 1, "department id"},
    };
    char h[65];
    hex_sha("x", h);
    expect_errors(load_tokens, bad, MC_ARRAY_LEN(bad), h);

    char err[256] = "";
    gw_api *a = NULL;
    assert_int_equal(gw_api_new(shared, "/nonexistent/tokens.txt", ".", &a, err, sizeof err),
                     MC_EIO);
    assert_null(a);
    assert_non_null(strstr(err, "/nonexistent/tokens.txt"));
    /* the statuses are read first, from the share folder */
    assert_int_equal(
        gw_api_new(shared, "/nonexistent/tokens.txt", "/nonexistent", &a, err, sizeof err), MC_EIO);
    assert_non_null(strstr(err, "/nonexistent/gateway/api/data/statuses.txt"));
}

/* statuses.txt errors name the file and line, like the tokens file's. */
static void test_status_errors(void **state) {
    (void)state;
    static const bad_file bad[] = {
        {"status received = a\nstatus received = b\n@", 2, "duplicate status \"received\""},
        {"status Received = a\n@", 1, "status id must be a-z"},
        {"state received = a\n@", 1, "unknown keyword \"state\""},
        {"status received =\n@", 1, "the text must be 1.."},
        {"status received = \xff\n@", 1, "not valid UTF-8"},
        {"status received = a\ntemplate dossier_event = {code} only\n", 2,
         "must contain {code} and {status}"},
        {"status received = a\ntemplate dossier_event_note = {code} {status}\n@", 2, "and {note}"},
        {"status received = a\ntemplate other = {code} {status}\n", 2,
         "unknown template \"other\""},
        {"@", 0, "needs at least one status and template"},
        {"status received = a\n", 0, "needs at least one status and template"},
    };
    const char *tpl = "template dossier_event = Hồ sơ {code} {status}.\n";
    expect_errors(load_statuses, bad, MC_ARRAY_LEN(bad), tpl);

    char text[512], path[T_TMP_PATH_MAX], err[256];
    snprintf(text, sizeof text, "# c\n\n  status received = đã nhận  \n%s", tpl);
    write_tmp(path, text);
    gw_statuses *st = NULL;
    assert_int_equal(gw_statuses_load(path, &st, err, sizeof err), 0);
    unlink(path);
    assert_int_equal(gw_statuses_count(st), 1);
    assert_string_equal(gw_statuses_text(st, "received"), "đã nhận");
    gw_statuses_free(st);
}

/* Checks body (JSON text) with gw_notif_parse: 0 and n filled, or the field at fault. */
static int parse_notif(const char *body, gw_notif *n, gw_api_err *e) {
    json_t *b = json_loads(body, 0, NULL);
    assert_non_null(b);
    memset(e, 0, sizeof *e);
    int rc = gw_notif_parse(b, n, e);
    if (rc == 0) {
        /* n borrows from b: keep what the test reads */
        n->msg.out_text = n->msg.text ? strdup(n->msg.text) : strdup(n->msg.tpl_id);
        n->msg.text = n->msg.tpl_id = NULL;
        n->msg.tpl_data = NULL;
        n->msg.idem_key = NULL;
    } else {
        assert_int_equal(rc, MC_EINVAL);
        assert_int_equal(e->status, 400);
        assert_true(e->message[0] != '\0');
    }
    json_decref(b);
    return rc;
}

/* The one validation that POST /notifications and each batch row go through. */
static void test_notif_parse(void **state) {
    (void)state;
    gw_notif n;
    gw_api_err e;
    assert_int_equal(
        parse_notif("{\"to\":{\"channel\":\"zalo\",\"user_id\":\"z1\",\"phone\":\"+84901234567\"},"
                    "\"text\":\"Xin chào\"}",
                    &n, &e),
        0);
    assert_string_equal(n.channels, "zalo,sms"); /* the recipient's channel, then SMS */
    assert_string_equal(n.msg.priority, "normal");
    assert_string_equal(n.msg.out_text, "Xin chào");
    assert_string_equal(n.to_json,
                        "{\"channel\":\"zalo\",\"user_id\":\"z1\",\"phone\":\"+84901234567\"}");
    assert_int_equal(n.msg.not_after_ms, 0);
    assert_true(n.msg.send_at_ms == n.msg.created_ms && n.msg.created_ms > 0);
    gw_notif_clear(&n);
    assert_null(n.to);

    assert_int_equal(
        parse_notif("{\"to\":{\"phone\":\"+84901234567\"},\"template\":{\"id\":\"cup-dien\","
                    "\"data\":{\"ngay\":25}},\"send_at\":\"2030-01-02T08:00:00+07:00\"}",
                    &n, &e),
        0);
    assert_string_equal(n.channels, "sms");
    assert_string_equal(n.msg.out_text, "cup-dien");
    assert_int_equal(n.msg.send_at_ms, 1893546000000LL);
    gw_notif_clear(&n);

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
        assert_int_equal(parse_notif(bad[i][0], &n, &e), MC_EINVAL);
        assert_string_equal(e.field, bad[i][1]);
        assert_null(n.to); /* cleared on failure */
    }
    char big[400];
    snprintf(big, sizeof big,
             "{\"to\":{\"phone\":\"+84901234567\"},\"template\":{\"id\":\"a\",\"data\":{\"x\":\"%"
             "0201d\"}}}",
             0);
    assert_int_equal(parse_notif(big, &n, &e), MC_EINVAL);
    assert_string_equal(e.field, "template.data.x");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokens_and_auth),
        cmocka_unit_test(test_token_errors),
        cmocka_unit_test(test_status_errors),
        cmocka_unit_test(test_notif_parse),
    };
    return cmocka_run_group_tests_name("gw_api", tests, setup, teardown);
}
