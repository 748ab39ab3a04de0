/*
 * tests/fuzz/fuzz_webchat.c — libFuzzer target over the web chat frame parser
 * (webchat_parse) and the renderers that echo a client's bytes back (ack, message,
 * error).
 *
 * Input: the whole buffer is one client text frame. Like the gateway, which checks UTF-8
 * before it parses (webchat.h asks it to), invalid UTF-8 stops here.
 *
 * Checks of webchat.h's promises: a refused frame gets a known error code, a message and
 * MC_EINVAL / MC_ETOOBIG (MC_ENOMEM only with "internal") and owns nothing; a hello has
 * no text, a session that is "" or 32 lower-case hex digits and last_seq >= 0; a message
 * or quick reply has an id of 1..WEBCHAT_MAX_ID bytes and a text that is valid UTF-8
 * without NUL, at most WEBCHAT_MAX_TEXT_CHARS code points, not only blanks. Then the ack
 * of that id, a message rendered with that text (and the id as reply_to and a quick
 * reply) and the error parse back as JSON carrying the same bytes.
 */
#include "channels/webchat.h"
#include "fuzz_ch.h"

#include <jansson.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const codes[] = {"bad_json", "bad_frame", "unknown_type", "too_long",
                                    "empty",    "too_large", "internal"};

static int known_code(const char *c) {
    for (size_t i = 0; c != NULL && i < MC_ARRAY_LEN(codes); i++)
        if (strcmp(c, codes[i]) == 0)
            return 1;
    return 0;
}

static size_t code_points(const char *s, size_t len) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

/* A rendered frame parses as a JSON object whose member `key` is the string s[0..len). */
static void check_echo(char *json, size_t jlen, const char *key, const char *s, size_t len) {
    CHECK(json != NULL && strlen(json) == jlen);
    json_t *o = json_loadb(json, jlen, 0, NULL);
    CHECK(json_is_object(o));
    json_t *v = json_object_get(o, key);
    CHECK(json_is_string(v) && json_string_length(v) == len &&
          memcmp(json_string_value(v), s, len) == 0);
    json_decref(o);
    free(json);
}

static void check_frame(const webchat_frame *f) {
    if (f->kind == WEBCHAT_HELLO) {
        CHECK(f->text == NULL && f->text_len == 0 && f->last_seq >= 0);
        size_t sl = strnlen(f->session, sizeof f->session);
        CHECK(sl == 0 || (sl == WEBCHAT_SESSION_HEX &&
                          strspn(f->session, "0123456789abcdef") == WEBCHAT_SESSION_HEX));
        return;
    }
    CHECK(f->kind == WEBCHAT_MESSAGE || f->kind == WEBCHAT_QUICK_REPLY);
    size_t il = strnlen(f->id, sizeof f->id);
    CHECK(il >= 1 && il <= WEBCHAT_MAX_ID && t_utf8_ok(f->id, il));
    CHECK(f->text != NULL);
    fz_check_owned(f->text, f->text_len);
    CHECK(code_points(f->text, f->text_len) <= WEBCHAT_MAX_TEXT_CHARS);
    CHECK(strspn(f->text, " \t\r\n") < f->text_len);

    size_t len = 0;
    char *ack = webchat_render_ack(f->id, &len);
    check_echo(ack, len, "id", f->id, il);
    webchat_quick q = {f->id, f->text};
    char *m = webchat_render_message(1, f->text, f->text_len, &q, 1, f->id, &len);
    CHECK(m != NULL);
    check_echo(fz_dup(m, len), len, "text", f->text, f->text_len);
    check_echo(m, len, "reply_to", f->id, il);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *buf = (const char *)data;
    if (!t_utf8_ok(buf, size))
        return 0;
    webchat_frame f;
    const char *code = NULL;
    char msg[160] = "";
    int rc = webchat_parse(buf, size, &f, &code, msg, sizeof msg);
    if (rc != 0) {
        CHECK(rc == MC_EINVAL || rc == MC_ETOOBIG ||
              (rc == MC_ENOMEM && code != NULL && strcmp(code, "internal") == 0));
        CHECK(known_code(code) && msg[0] != '\0' && f.text == NULL);
        size_t len = 0;
        char *e = webchat_render_error(code, msg, &len);
        check_echo(e, len, "message", msg, strlen(msg));
        return 0;
    }
    check_frame(&f);
    webchat_frame_clear(&f);
    CHECK(f.text == NULL && f.text_len == 0);
    return 0;
}
