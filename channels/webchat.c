/*
 * webchat.c — parse and render the frames of the web chat protocol.
 *
 * Checked against ../shared/spec/channels.md ("Web chat", our own protocol),
 * 2026-11-23. Every limit is a named constant in webchat.h; every field is
 * type-checked, so a malformed frame gets a precise error code and changes
 * nothing.
 */
#include "channels/webchat.h"

#include "core/mc.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char **code, const char *c, char *msg, size_t msglen, const char *m, int rc) {
    *code = c;
    snprintf(msg, msglen, "%s", m);
    return rc;
}

static size_t count_code_points(const char *s, size_t len) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

static int is_session_token(const char *s, size_t len) {
    if (len != WEBCHAT_SESSION_HEX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

int webchat_parse(const char *buf, size_t len, webchat_frame *out, const char **code, char *msg,
                  size_t msglen) {
    memset(out, 0, sizeof *out);
    if (len > WEBCHAT_MAX_FRAME)
        return fail(code, "too_large", msg, msglen, "frame larger than 4 KiB", MC_ETOOBIG);
    json_error_t jerr;
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return fail(code, "bad_json", msg, msglen, "frame is not valid JSON", MC_EINVAL);
    int rc = MC_EINVAL;
    if (!json_is_object(root)) {
        rc = fail(code, "bad_frame", msg, msglen, "frame must be a JSON object", MC_EINVAL);
        goto done;
    }
    const char *type = json_string_value(json_object_get(root, "type"));
    if (!type) {
        rc = fail(code, "bad_frame", msg, msglen, "field 'type' (string) is required", MC_EINVAL);
        goto done;
    }
    if (!strcmp(type, "hello")) {
        out->kind = WEBCHAT_HELLO;
        json_t *s = json_object_get(root, "session");
        if (json_is_string(s)) {
            /* An unknown or malformed token just starts a new session. */
            if (is_session_token(json_string_value(s), json_string_length(s)))
                memcpy(out->session, json_string_value(s), WEBCHAT_SESSION_HEX + 1);
        } else if (s && !json_is_null(s)) {
            rc = fail(code, "bad_frame", msg, msglen, "field 'session' must be a string or null",
                      MC_EINVAL);
            goto done;
        }
        json_t *ls = json_object_get(root, "last_seq");
        if (ls && !json_is_null(ls)) {
            if (!json_is_integer(ls) || json_integer_value(ls) < 0) {
                rc = fail(code, "bad_frame", msg, msglen,
                          "field 'last_seq' must be a non-negative integer", MC_EINVAL);
                goto done;
            }
            out->last_seq = json_integer_value(ls);
        }
        rc = 0;
        goto done;
    }
    const char *field;
    if (!strcmp(type, "message")) {
        out->kind = WEBCHAT_MESSAGE;
        field = "text";
    } else if (!strcmp(type, "quick_reply")) {
        out->kind = WEBCHAT_QUICK_REPLY;
        field = "payload";
    } else {
        rc = fail(code, "unknown_type", msg, msglen, "type must be hello, message or quick_reply",
                  MC_EINVAL);
        goto done;
    }
    json_t *id = json_object_get(root, "id");
    if (!json_is_string(id) || json_string_length(id) == 0 ||
        json_string_length(id) > WEBCHAT_MAX_ID) {
        rc = fail(code, "bad_frame", msg, msglen, "field 'id' must be a string of 1..64 bytes",
                  MC_EINVAL);
        goto done;
    }
    memcpy(out->id, json_string_value(id), json_string_length(id) + 1);
    json_t *t = json_object_get(root, field);
    if (!json_is_string(t)) {
        snprintf(msg, msglen, "field '%s' (string) is required", field);
        *code = "bad_frame";
        goto done;
    }
    size_t tl = json_string_length(t);
    const char *tv = json_string_value(t);
    if (memchr(tv, '\0', tl)) {
        rc = fail(code, "bad_frame", msg, msglen, "text must not contain NUL", MC_EINVAL);
        goto done;
    }
    if (count_code_points(tv, tl) > WEBCHAT_MAX_TEXT_CHARS) {
        rc = fail(code, "too_long", msg, msglen, "text longer than 2000 characters", MC_ETOOBIG);
        goto done;
    }
    size_t lead = 0;
    while (lead < tl &&
           (tv[lead] == ' ' || tv[lead] == '\t' || tv[lead] == '\n' || tv[lead] == '\r'))
        lead++;
    if (lead == tl) {
        rc = fail(code, "empty", msg, msglen, "text is empty", MC_EINVAL);
        goto done;
    }
    out->text = malloc(tl + 1);
    if (!out->text) {
        rc = fail(code, "internal", msg, msglen, "out of memory", MC_ENOMEM);
        goto done;
    }
    memcpy(out->text, tv, tl + 1);
    out->text_len = tl;
    rc = 0;
done:
    json_decref(root);
    if (rc)
        webchat_frame_clear(out);
    return rc;
}

void webchat_frame_clear(webchat_frame *f) {
    free(f->text);
    f->text = NULL;
    f->text_len = 0;
}

static char *dump(json_t *o, size_t *len) {
    if (!o)
        return NULL;
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (s)
        *len = strlen(s);
    return s;
}

char *webchat_render_welcome(const char *session, long long seq, size_t *len) {
    return dump(
        json_pack("{s:s, s:s, s:I}", "type", "welcome", "session", session, "seq", (json_int_t)seq),
        len);
}

char *webchat_render_ack(const char *id, size_t *len) {
    return dump(json_pack("{s:s, s:s}", "type", "ack", "id", id), len);
}

char *webchat_render_error(const char *code, const char *message, size_t *len) {
    return dump(json_pack("{s:s, s:s, s:s}", "type", "error", "error", code, "message", message),
                len);
}

char *webchat_render_message(long long seq, const char *text, size_t text_len,
                             const webchat_quick *quick, size_t n_quick, const char *reply_to,
                             size_t *len) {
    json_t *o = json_pack("{s:s, s:I, s:s%}", "type", "message", "seq", (json_int_t)seq, "text",
                          text, text_len);
    if (!o)
        return NULL;
    if (n_quick) {
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < n_quick; i++)
            json_array_append_new(
                arr, json_pack("{s:s, s:s}", "title", quick[i].title, "payload", quick[i].payload));
        json_object_set_new(o, "quick_replies", arr);
    }
    if (reply_to && *reply_to)
        json_object_set_new(o, "reply_to", json_string(reply_to));
    return dump(o, len);
}

const ch_key webchat_keys[] = {
    {"enabled", CH_KT_BOOL, "true", 0, 0, NULL, offsetof(ch_settings, enabled)},
    {"allowed_origins", CH_KT_STR, "", 0, 0, NULL, offsetof(ch_settings, allowed_origins)},
};
const size_t webchat_n_keys = sizeof webchat_keys / sizeof webchat_keys[0];
