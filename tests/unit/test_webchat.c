/*
 * test_webchat.c — the web chat wire format: every client frame shape, every
 * error code, and server frames that parse back as the protocol says.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "channels/webchat.h"
#include "core/mc.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static int parse(const char *s, webchat_frame *f, const char **code) {
    char msg[160];
    *code = NULL;
    return webchat_parse(s, strlen(s), f, code, msg, sizeof msg);
}

static void hello_frames(void **state) {
    (void)state;
    webchat_frame f;
    const char *code;
    assert_int_equal(parse("{\"type\":\"hello\",\"session\":null,\"last_seq\":0}", &f, &code), 0);
    assert_int_equal(f.kind, WEBCHAT_HELLO);
    assert_string_equal(f.session, "");
    assert_int_equal(parse("{\"type\":\"hello\",\"session\":\"0123456789abcdef0123456789abcdef\","
                           "\"last_seq\":7}",
                           &f, &code),
                     0);
    assert_string_equal(f.session, "0123456789abcdef0123456789abcdef");
    assert_int_equal(f.last_seq, 7);
    /* A token of the wrong shape is not trusted: a new session starts. */
    assert_int_equal(parse("{\"type\":\"hello\",\"session\":\"../../etc\"}", &f, &code), 0);
    assert_string_equal(f.session, "");
    assert_int_equal(parse("{\"type\":\"hello\",\"last_seq\":-1}", &f, &code), MC_EINVAL);
    assert_string_equal(code, "bad_frame");
    assert_int_equal(parse("{\"type\":\"hello\",\"session\":5}", &f, &code), MC_EINVAL);
}

static void message_frames(void **state) {
    (void)state;
    webchat_frame f;
    const char *code;
    assert_int_equal(
        parse("{\"type\":\"message\",\"id\":\"c1\",\"text\":\"Làm khai sinh cần gì?\"}", &f, &code),
        0);
    assert_int_equal(f.kind, WEBCHAT_MESSAGE);
    assert_string_equal(f.id, "c1");
    assert_string_equal(f.text, "Làm khai sinh cần gì?");
    assert_int_equal(f.text_len, strlen("Làm khai sinh cần gì?"));
    webchat_frame_clear(&f);
    assert_int_equal(
        parse("{\"type\":\"quick_reply\",\"id\":\"q\",\"payload\":\"Kết hôn\"}", &f, &code), 0);
    assert_int_equal(f.kind, WEBCHAT_QUICK_REPLY);
    assert_string_equal(f.text, "Kết hôn");
    webchat_frame_clear(&f);
}

static void error_codes(void **state) {
    (void)state;
    webchat_frame f;
    const char *code;
    assert_int_equal(parse("not json", &f, &code), MC_EINVAL);
    assert_string_equal(code, "bad_json");
    assert_int_equal(parse("[1,2]", &f, &code), MC_EINVAL);
    assert_string_equal(code, "bad_frame");
    assert_int_equal(parse("{\"type\":\"dance\"}", &f, &code), MC_EINVAL);
    assert_string_equal(code, "unknown_type");
    assert_int_equal(parse("{\"type\":\"message\",\"text\":\"x\"}", &f, &code), MC_EINVAL);
    assert_string_equal(code, "bad_frame");
    assert_int_equal(parse("{\"type\":\"message\",\"id\":\"1\"}", &f, &code), MC_EINVAL);
    assert_string_equal(code, "bad_frame");
    assert_int_equal(parse("{\"type\":\"message\",\"id\":\"1\",\"text\":\"  \\n\"}", &f, &code),
                     MC_EINVAL);
    assert_string_equal(code, "empty");
    assert_int_equal(parse("{\"type\":\"message\",\"id\":\"1\",\"text\":\"a\\u0000b\"}", &f, &code),
                     MC_EINVAL);
    assert_int_equal(parse("{\"type\":\"message\",\"id\":1,\"text\":\"x\"}", &f, &code), MC_EINVAL);
    assert_int_equal(
        parse("{\"type\":\"message\",\"id\":\"a\",\"id\":\"b\",\"text\":\"x\"}", &f, &code),
        MC_EINVAL);
}

static char *frame_with_text(const char *unit, size_t repeat) {
    size_t ul = strlen(unit);
    char *s = malloc(64 + ul * repeat);
    strcpy(s, "{\"type\":\"message\",\"id\":\"c\",\"text\":\"");
    for (size_t i = 0; i < repeat; i++)
        strcat(s, unit);
    strcat(s, "\"}");
    return s;
}

static void limits(void **state) {
    (void)state;
    webchat_frame f;
    const char *code;
    /* 2000 Vietnamese letters (2 bytes each) pass; 2001 do not: characters, not bytes. */
    char *ok = frame_with_text("ă", 2000);
    assert_int_equal(parse(ok, &f, &code), 0);
    webchat_frame_clear(&f);
    char *too_long = frame_with_text("ă", 2001);
    assert_int_equal(parse(too_long, &f, &code), MC_ETOOBIG);
    assert_string_equal(code, "too_long");
    char *too_big = frame_with_text("ắ", 1400); /* 3 bytes each: over 4 KiB */
    assert_int_equal(parse(too_big, &f, &code), MC_ETOOBIG);
    assert_string_equal(code, "too_large");
    free(ok);
    free(too_long);
    free(too_big);
    char id[100];
    memset(id, 'x', 65);
    id[65] = '\0';
    char frame[200];
    snprintf(frame, sizeof frame, "{\"type\":\"message\",\"id\":\"%s\",\"text\":\"x\"}", id);
    assert_int_equal(parse(frame, &f, &code), MC_EINVAL);
}

static void renders(void **state) {
    (void)state;
    size_t len;
    char *s = webchat_render_welcome("ab", 3, &len);
    assert_string_equal(s, "{\"type\":\"welcome\",\"session\":\"ab\",\"seq\":3}");
    assert_int_equal(len, strlen(s));
    free(s);
    webchat_quick q[] = {{"Khai sinh", "Làm khai sinh cần giấy tờ gì?"}};
    const char text[] = "Dòng 1\nDòng \"2\"";
    s = webchat_render_message(9, text, sizeof text - 1, q, 1, "c7", &len);
    json_error_t e;
    json_t *o = json_loads(s, 0, &e);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "type")), "message");
    assert_int_equal(json_integer_value(json_object_get(o, "seq")), 9);
    assert_string_equal(json_string_value(json_object_get(o, "text")), text);
    assert_string_equal(json_string_value(json_object_get(o, "reply_to")), "c7");
    json_t *qr = json_array_get(json_object_get(o, "quick_replies"), 0);
    assert_string_equal(json_string_value(json_object_get(qr, "title")), "Khai sinh");
    json_decref(o);
    free(s);
    s = webchat_render_error("rate_limited", "chậm lại", &len);
    assert_non_null(strstr(s, "\"error\":\"rate_limited\""));
    free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hello_frames), cmocka_unit_test(message_frames),
        cmocka_unit_test(error_codes),  cmocka_unit_test(limits),
        cmocka_unit_test(renders),
    };
    return cmocka_run_group_tests_name("webchat", tests, NULL, NULL);
}
