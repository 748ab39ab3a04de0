/*
 * zalo.c — the Zalo Official Account adapter: verify, parse, render, classify,
 * and the OAuth v4 token refresh.
 *
 * The big idea: Zalo answers HTTP 200 for almost everything and puts the verdict
 * in a negative "error" code, so classify is a table from codes to verdicts; the
 * webhook carries one event per POST, mapped by a table from event_name to kind.
 *
 * Confirmed 2026-11-23 (stored copies via the search tool, and
 * ../shared/research/channel-facts.md §1):
 *   - Webhook signature: header X-ZEvent-Signature, value "mac=" + hex SHA-256 of
 *     app_id + raw body + timestamp + OA secret key, app_id and timestamp taken from
 *     the body; the key is the OA secret key, not the app secret (hainh.me Zalo API
 *     webhook article; Chatwoot's zalo_events_job). Timestamps are ms as strings.
 *   - Reply within 2 s or Zalo retries and eventually disables the webhook
 *     (hainh.me; tinhoc88.com).
 *   - Events: user_send_text (message.msg_id, message.text), user_send_image /
 *     sticker / gif / file / audio / video / location / link / business_card,
 *     follow / unfollow (follower.id, oa_id), user_received_message (message.msg_id)
 *     and user_seen_message (message.msg_ids[]) with the OA as sender.
 *   - Consultation send: POST /v3.0/oa/message/cs, header access_token, body
 *     {"recipient":{"user_id"},"message":{"text"}}; text limit 2,000 characters
 *     (eSMS "Send Zalo message Consulting in text form"); buttons as
 *     message.attachment {"type":"template","payload":{"buttons":[{"title","type":
 *     "oa.query.hide","payload"}]}} (eSMS "Consulting button"; title ≤ 100, payload
 *     ≤ 1000 per the redai SDK guide). A pressed oa.query.* button comes back as a
 *     user_send_text whose text is the payload. The 5-button cap is second-hand.
 *   - message.quote_message_id quotes the citizen's msg_id: Zalo's help centre says
 *     an API reply counts as a (free) reply only when it carries the message id.
 *   - Errors: {"error":<negative>,"message"}; -216 invalid / -220 expired token;
 *     -32 rate per minute; -211 / -218 quota; -100 unknown (retry); -213 not a
 *     follower, -217 blocked, -227 banned or inactive, -244 restricted this type
 *     (unreachable); -230 / -232 no interaction in the window; -234 broadcast
 *     22:00–06:00; -320 / -321 Zalo Cloud Account needed / out of money.
 *   - Refresh: POST https://oauth.zaloapp.com/v4/oa/access_token, header secret_key
 *     (app secret), form app_id, refresh_token, grant_type=refresh_token; answer
 *     {"access_token","refresh_token","expires_in":"90000"} (hexasync.vn and
 *     beehexa.com guides; the two disagree on the lifetime, so we use expires_in).
 */
#include "channels/zalo.h"

#include "channels/zns.h"
#include "core/mc.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ZALO_CHANNEL "zalo"
#define ZALO_SHA256_HEX 64 /* hex digits of a SHA-256 */
#define ZALO_MAX_NUM 32    /* bytes of an app_id or timestamp as text */

/* Event names we act on; every other name is skipped. */
typedef struct zalo_event_rule {
    const char *name; /* event_name */
    ch_event kind;    /* normalized kind */
} zalo_event_rule;

static const zalo_event_rule zalo_events[] = {
    {"user_send_text", CH_EV_TEXT},
    {"user_send_image", CH_EV_UNSUPPORTED},
    {"user_send_sticker", CH_EV_UNSUPPORTED},
    {"user_send_gif", CH_EV_UNSUPPORTED},
    {"user_send_file", CH_EV_UNSUPPORTED},
    {"user_send_audio", CH_EV_UNSUPPORTED},
    {"user_send_video", CH_EV_UNSUPPORTED},
    {"user_send_location", CH_EV_UNSUPPORTED},
    {"user_send_link", CH_EV_UNSUPPORTED},
    {"user_send_business_card", CH_EV_UNSUPPORTED},
    {"follow", CH_EV_FOLLOW},
    {"unfollow", CH_EV_UNFOLLOW},
    {"user_received_message", CH_EV_DELIVERY},
    {"user_seen_message", CH_EV_READ},
};

/* When to try again after a retry-later code. */
typedef enum zalo_wait {
    ZW_NONE,     /* the dispatcher's own backoff */
    ZW_MINUTE,   /* ZALO_RATE_RETRY_MS */
    ZW_MIDNIGHT, /* next 00:00 Asia/Ho_Chi_Minh (daily quota) */
    ZW_MORNING,  /* next 06:00 Asia/Ho_Chi_Minh (night curfew) */
} zalo_wait;

typedef struct zalo_err_rule {
    int code;           /* Zalo "error" */
    ch_verdict verdict; /* what to do */
    int fallback;       /* CH_PERMANENT: try the next channel */
    int token_error;    /* refresh the access token, then retry */
    zalo_wait wait;     /* CH_RETRY: how long */
    const char *reason; /* ch_result.reason */
} zalo_err_rule;

static const zalo_err_rule zalo_err_rules[] = {
    {-216, CH_PERMANENT, 0, 1, ZW_NONE, "token"},
    {-220, CH_PERMANENT, 0, 1, ZW_NONE, "token"},
    {-32, CH_RETRY, 0, 0, ZW_MINUTE, "rate_limited"},
    {-211, CH_RETRY, 0, 0, ZW_MIDNIGHT, "quota"},
    {-218, CH_RETRY, 0, 0, ZW_MIDNIGHT, "quota"},
    {-100, CH_RETRY, 0, 0, ZW_NONE, "temporary"},
    {-234, CH_RETRY, 0, 0, ZW_MORNING, "night_curfew"},
    {-213, CH_PERMANENT, 1, 0, ZW_NONE, "unreachable"},
    {-217, CH_PERMANENT, 1, 0, ZW_NONE, "unreachable"},
    {-227, CH_PERMANENT, 1, 0, ZW_NONE, "unreachable"},
    {-244, CH_PERMANENT, 1, 0, ZW_NONE, "unreachable"},
    {-230, CH_PERMANENT, 1, 0, ZW_NONE, "outside_window"},
    {-232, CH_PERMANENT, 1, 0, ZW_NONE, "outside_window"},
    {-320, CH_PERMANENT, 1, 0, ZW_NONE, "billing"},
    {-321, CH_PERMANENT, 1, 0, ZW_NONE, "billing"},
};

/* Decimal digits only, as Zalo writes its ms timestamps. */
static int parse_ms(const char *s, int64_t *out) {
    int64_t v = 0;
    if (*s == '\0')
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (INT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (*s - '0');
    }
    *out = v;
    return 0;
}

/* ---- verify ---- */

static int zalo_verify(const ch_settings *s, const ch_request *req, char *err, size_t errlen) {
    if (ch_empty(s->app_secret) || ch_empty(s->app_id))
        return ch_fail(err, errlen, MC_EINVAL, "zalo app_id and OA secret key must be configured");
    if (req->body_len > CH_MAX_BODY)
        return ch_fail(err, errlen, MC_ETOOBIG, "body larger than %d bytes", CH_MAX_BODY);
    char got[ZALO_SHA256_HEX];
    int rc = ch_sig_header(req, "X-ZEvent-Signature", ZALO_SIGNATURE_PREFIX, ZALO_SHA256_HEX, got,
                           err, errlen);
    if (rc < 0)
        return rc;
    json_t *root = json_loadb(req->body, req->body_len, 0, NULL);
    if (!json_is_object(root)) {
        json_decref(root);
        return ch_fail(err, errlen, MC_EINVAL, "body is not a JSON object");
    }
    char app_id[ZALO_MAX_NUM], ts[ZALO_MAX_NUM];
    int64_t ts_ms = 0;
    rc =
        ch_json_text(json_object_get(root, "app_id"), "app_id", app_id, sizeof app_id, err, errlen);
    if (rc == 0)
        rc = ch_json_text(json_object_get(root, "timestamp"), "timestamp", ts, sizeof ts, err,
                          errlen);
    json_decref(root);
    if (rc < 0)
        return rc;
    if (parse_ms(ts, &ts_ms) < 0)
        return ch_fail(err, errlen, MC_EINVAL, "timestamp is not a number of milliseconds");
    if (strcmp(app_id, s->app_id) != 0)
        return ch_fail(err, errlen, MC_EINVAL, "app_id in the body is not the configured app");

    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(ctx, app_id, strlen(app_id)) == 1 &&
             EVP_DigestUpdate(ctx, req->body, req->body_len) == 1 &&
             EVP_DigestUpdate(ctx, ts, strlen(ts)) == 1 &&
             EVP_DigestUpdate(ctx, s->app_secret, strlen(s->app_secret)) == 1 &&
             EVP_DigestFinal_ex(ctx, md, &mdlen) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return ch_fail(err, errlen, MC_ENOMEM, "SHA-256 failed");
    char want[2 * EVP_MAX_MD_SIZE + 1];
    ch_hex(md, mdlen, want);
    if (!ch_ct_equal(want, ZALO_SHA256_HEX, got, ZALO_SHA256_HEX))
        return ch_fail(err, errlen, MC_EINVAL, "X-ZEvent-Signature does not match the body");
    int64_t skew = req->now_ms - ts_ms;
    if (skew > ZALO_MAX_SKEW_MS || skew < -ZALO_MAX_SKEW_MS)
        return ch_fail(err, errlen, MC_EINVAL,
                       "event timestamp is %lld s from now (limit %lld s): replay refused",
                       (long long)(skew / 1000), (long long)(ZALO_MAX_SKEW_MS / 1000));
    return 0;
}

/* ---- parse ---- */

static int get_id(json_t *obj, const char *key, const char *path, char *dst, char *err,
                  size_t errlen) {
    json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    return ch_json_text(v, path, dst, CH_MAX_ID, err, errlen);
}

static ch_message *slot(ch_message *out, size_t *n, char *err, size_t errlen) {
    return ch_message_next(out, n, ZALO_CHANNEL, err, errlen);
}

static int parse_receipts(json_t *root, ch_event kind, int64_t ts, ch_message *out, size_t *n,
                          char *err, size_t errlen) {
    char oa[CH_MAX_ID], user[CH_MAX_ID];
    /* Receipts describe OUR message: the OA is the sender, the citizen the recipient. */
    int rc = get_id(json_object_get(root, "sender"), "id", "sender.id", oa, err, errlen);
    if (rc == 0)
        rc = get_id(json_object_get(root, "recipient"), "id", "recipient.id", user, err, errlen);
    if (rc < 0)
        return rc;
    json_t *msg = json_object_get(root, "message");
    json_t *ids = json_object_get(msg, "msg_ids");
    json_t *one = json_object_get(msg, "msg_id");
    /* A ZNS message's delivery carries our tracking_id and the phone as the recipient
     * (channel-facts §1.8): it belongs to that channel, whose citizens are E.164 phones. */
    const char *channel = ZALO_CHANNEL;
    if (kind == CH_EV_DELIVERY && json_is_string(json_object_get(msg, "tracking_id"))) {
        size_t ul = strlen(user);
        if (ul < 11 || ul > 12 || strncmp(user, "84", 2) || strspn(user, "0123456789") != ul)
            return ch_fail(err, errlen, MC_EINVAL, "a ZNS delivery's recipient.id is not a phone");
        memmove(user + 1, user, ul + 1);
        user[0] = '+';
        channel = ch_zns_channel;
    }
    if (ids != NULL && !json_is_array(ids))
        return ch_fail(err, errlen, MC_EINVAL, "message.msg_ids must be an array");
    size_t count = ids ? json_array_size(ids) : 0;
    for (size_t k = 0; k < (count ? count : 1); k++) {
        ch_message *m = ch_message_next(out, n, channel, err, errlen);
        if (m == NULL)
            return MC_ETOOBIG;
        m->kind = kind;
        m->ts_ms = ts;
        memcpy(m->sender, user, sizeof user);
        memcpy(m->recipient, oa, sizeof oa);
        char path[48];
        if (count) {
            snprintf(path, sizeof path, "message.msg_ids[%zu]", k);
            rc = ch_json_text(json_array_get(ids, k), path, m->provider_id, CH_MAX_ID, err, errlen);
        } else if (one != NULL) {
            rc = ch_json_text(one, "message.msg_id", m->provider_id, CH_MAX_ID, err, errlen);
        } else {
            m->watermark_ms = ts; /* no id: everything up to now */
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int parse_event(json_t *root, int64_t now_ms, ch_message *out, size_t *n, char *err,
                       size_t errlen) {
    if (!json_is_object(root))
        return ch_fail(err, errlen, MC_EINVAL, "body must be a JSON object");
    json_t *ev = json_object_get(root, "event_name");
    if (!json_is_string(ev))
        return ch_fail(err, errlen, MC_EINVAL, "event_name missing");
    const zalo_event_rule *rule = NULL;
    for (size_t i = 0; i < MC_ARRAY_LEN(zalo_events); i++)
        if (strcmp(json_string_value(ev), zalo_events[i].name) == 0)
            rule = &zalo_events[i];
    if (rule == NULL)
        return 0; /* oa_send_*, user_submit_info, anonymous_*...: skipped */
    int64_t ts = now_ms;
    json_t *tv = json_object_get(root, "timestamp");
    if (tv != NULL) {
        char t[ZALO_MAX_NUM];
        int rc = ch_json_text(tv, "timestamp", t, sizeof t, err, errlen);
        if (rc < 0)
            return rc;
        if (parse_ms(t, &ts) < 0)
            return ch_fail(err, errlen, MC_EINVAL, "timestamp is not a number of milliseconds");
    }
    if (rule->kind == CH_EV_DELIVERY || rule->kind == CH_EV_READ)
        return parse_receipts(root, rule->kind, ts, out, n, err, errlen);
    ch_message *m = slot(out, n, err, errlen);
    if (m == NULL)
        return MC_ETOOBIG;
    m->kind = rule->kind;
    m->ts_ms = ts;
    int rc;
    if (rule->kind == CH_EV_FOLLOW || rule->kind == CH_EV_UNFOLLOW) {
        rc = get_id(json_object_get(root, "follower"), "id", "follower.id", m->sender, err, errlen);
        if (rc == 0 && json_object_get(root, "oa_id") != NULL)
            rc = ch_json_text(json_object_get(root, "oa_id"), "oa_id", m->recipient, CH_MAX_ID, err,
                              errlen);
        /* A follow has no message id: follower and time identify it for dedup. */
        if (rc == 0)
            snprintf(m->provider_id, sizeof m->provider_id, "%s:%.*s:%lld",
                     rule->kind == CH_EV_FOLLOW ? "follow" : "unfollow",
                     (int)ch_utf8_floor(m->sender, strlen(m->sender), CH_ID_PART), m->sender,
                     (long long)ts);
        return rc;
    }
    rc = get_id(json_object_get(root, "sender"), "id", "sender.id", m->sender, err, errlen);
    if (rc == 0)
        rc = get_id(json_object_get(root, "recipient"), "id", "recipient.id", m->recipient, err,
                    errlen);
    if (rc < 0)
        return rc;
    json_t *msg = json_object_get(root, "message");
    if (!json_is_object(msg))
        return ch_fail(err, errlen, MC_EINVAL, "message missing");
    json_t *mid = json_object_get(msg, "msg_id");
    if (rule->kind == CH_EV_TEXT || mid != NULL) {
        rc = ch_json_text(mid, "message.msg_id", m->provider_id, CH_MAX_ID, err, errlen);
        if (rc < 0)
            return rc;
    }
    if (rule->kind != CH_EV_TEXT)
        return 0;
    json_t *text = json_object_get(msg, "text");
    if (!json_is_string(text))
        return ch_fail(err, errlen, MC_EINVAL, "message.text missing");
    return ch_json_dup(text, "message.text", &m->text, &m->text_len, err, errlen);
}

static int zalo_parse(const ch_settings *s, const ch_request *req, ch_message *out, size_t *n,
                      char *err, size_t errlen) {
    (void)s;
    *n = 0;
    json_t *root;
    int rc = ch_json_body(req, &root, err, errlen);
    if (rc < 0)
        return rc;
    rc = parse_event(root, req->now_ms, out, n, err, errlen);
    json_decref(root);
    if (rc < 0)
        ch_messages_clear(out, n);
    return rc;
}

/* ---- render ---- */

/* A button that sends its payload back as the citizen's text (zalo_render checked every
 * title and payload already): {"title":...,"type":"oa.query.hide","payload":...}. */
static json_t *button(const char *title, size_t tlen, const char *payload, size_t plen) {
    return json_pack("{s:s%, s:s, s:s%}", "title", title, tlen, "type", "oa.query.hide", "payload",
                     payload, plen);
}

/* What each part of a message is rendered with (ch_render_parts' context). */
typedef struct zalo_send {
    const ch_settings *s;   /* the channel's settings */
    const ch_outgoing *msg; /* the message whose text is split */
    int buttons;            /* 1: its choices go as buttons under the last part */
} zalo_send;

/* One consultation request for the part text[0..len); the buttons go with the last. */
static int render_part(void *ctx, const char *text, size_t len, int last, ch_http *h, char *err,
                       size_t errlen) {
    const zalo_send *c = ctx;
    const ch_settings *s = c->s;
    const ch_outgoing *msg = c->msg;
    int with_buttons = last && c->buttons;
    memset(h, 0, sizeof(*h));
    /* The quote makes the answer a (free) reply to the citizen's message. */
    const char *quote = ch_empty(msg->reply_to) ? NULL : msg->reply_to;
    int rc = MC_ENOMEM;
    json_t *root = json_pack("{s:{s:s}, s:{s:s%, s:s*}}", "recipient", "user_id", msg->recipient,
                             "message", "text", text, len, "quote_message_id", quote);
    json_t *message = json_object_get(root, "message");
    if (message == NULL)
        goto fail;
    if (with_buttons) {
        json_t *arr = ch_json_choices(msg, "button", ZALO_MAX_BUTTON_TITLE, ZALO_MAX_BUTTON_PAYLOAD,
                                      button, err, errlen);
        if (arr == NULL) {
            json_decref(root);
            ch_http_clear(h);
            return MC_EINVAL;
        }
        /* "o" hands arr over to the new object, also when packing fails. */
        if (json_object_set_new(
                message, "attachment",
                json_pack("{s:s, s:{s:o}}", "type", "template", "payload", "buttons", arr)) < 0)
            goto fail;
    }
    ch_buf url = {0};
    ch_buf_base(&url, s->api_base);
    ch_buf_puts(&url, "/v3.0/oa/message/cs");
    rc = ch_http_post_json(h, root, &url);
    if (rc == 0)
        rc = ch_http_header(h, "access_token", s->access_token);
    if (rc < 0)
        goto fail;
    json_decref(root);
    return 0;
fail:
    ch_fail(err, errlen, rc, rc == MC_ENOMEM ? "out of memory" : "access token has CR/LF");
    json_decref(root);
    ch_http_clear(h);
    return rc;
}

static int zalo_render(const ch_settings *s, const ch_outgoing *msg, ch_http *out, size_t max_out,
                       size_t *n, char *err, size_t errlen) {
    *n = 0;
    if (ch_empty(s->api_base) || ch_empty(s->access_token))
        return ch_fail(err, errlen, MC_EINVAL, "zalo api_base and access_token must be configured");
    if (ch_empty(msg->recipient) || strlen(msg->recipient) >= CH_MAX_ID ||
        !ch_utf8_valid(msg->recipient, strlen(msg->recipient)))
        return ch_fail(err, errlen, MC_EINVAL, "recipient user_id missing, malformed or too long");
    if (!ch_empty(msg->reply_to) && (strlen(msg->reply_to) >= CH_MAX_ID ||
                                     !ch_utf8_valid(msg->reply_to, strlen(msg->reply_to))))
        return ch_fail(err, errlen, MC_EINVAL, "reply_to malformed or too long");
    if (msg->n_quick > CH_MAX_QUICK || (msg->n_quick > 0 && msg->quick == NULL))
        return ch_fail(err, errlen, MC_EINVAL, "at most %d quick replies", CH_MAX_QUICK);
    for (size_t i = 0; i < msg->n_quick; i++) {
        const ch_quick *q = &msg->quick[i];
        if (ch_empty(q->title) || ch_empty(q->payload) ||
            !ch_utf8_valid(q->title, strlen(q->title)) ||
            !ch_utf8_valid(q->payload, strlen(q->payload)))
            return ch_fail(err, errlen, MC_EINVAL,
                           "quick reply %zu needs a UTF-8 title and payload", i);
    }
    if (msg->text == NULL)
        return ch_fail(err, errlen, MC_EINVAL, "text missing");
    if (!ch_utf8_valid(msg->text, msg->text_len))
        return ch_fail(err, errlen, MC_EUTF8, "text is not valid UTF-8");

    /* More choices than Zalo shows as buttons become a numbered list the citizen
     * answers by typing (the payloads are not sent back in that case). */
    ch_buf text = {0};
    ch_buf_put(&text, msg->text, msg->text_len);
    int with_buttons = msg->n_quick > 0 && msg->n_quick <= ZALO_MAX_BUTTONS;
    if (msg->n_quick > ZALO_MAX_BUTTONS) {
        for (size_t i = 0; i < msg->n_quick; i++) {
            char num[32];
            snprintf(num, sizeof num, "\n%zu. ", i + 1);
            ch_buf_puts(&text, num);
            ch_buf_puts(&text, msg->quick[i].title);
        }
    }
    size_t len = 0;
    char *t = ch_buf_take(&text, &len);
    if (t == NULL)
        return ch_fail(err, errlen, MC_ENOMEM, "out of memory");
    zalo_send send = {s, msg, with_buttons};
    int rc = ch_render_parts(t, len, ZALO_MAX_TEXT_CHARS, render_part, &send, out, max_out, n, err,
                             errlen);
    free(t);
    return rc;
}

/* ---- classify ---- */

static int64_t wait_ms(zalo_wait w) {
    switch (w) {
    case ZW_NONE: return 0;
    case ZW_MINUTE: return ZALO_RATE_RETRY_MS;
    case ZW_MIDNIGHT:
        return ch_ms_until_local_hour(ch_now_ms(), ZALO_UTC_OFFSET_MIN, ZALO_QUOTA_RESET_HOUR);
    case ZW_MORNING:
        return ch_ms_until_local_hour(ch_now_ms(), ZALO_UTC_OFFSET_MIN, ZALO_CURFEW_END_HOUR);
    }
    return 0;
}

static void zalo_classify(int status, const char *body, size_t body_len, const char *retry_after,
                          ch_result *out) {
    memset(out, 0, sizeof(*out));
    if (ch_classify_transport(status, retry_after, out))
        return;
    json_t *root = ch_json_answer(body, body_len);
    json_t *e = json_object_get(root, "error");
    if (status < 200 || status >= 300 || !json_is_integer(e)) {
        out->verdict = CH_PERMANENT;
        snprintf(out->reason, sizeof out->reason, "bad_response");
        snprintf(out->detail, sizeof out->detail, "HTTP %d without a Zalo error code", status);
        json_decref(root);
        return;
    }
    int code = (int)json_integer_value(e);
    if (code == 0) {
        json_t *id = json_object_get(json_object_get(root, "data"), "message_id");
        if (ch_json_text(id, "data.message_id", out->provider_id, CH_MAX_ID, NULL, 0) == 0) {
            out->verdict = CH_SENT;
        } else {
            out->verdict = CH_PERMANENT; /* accepted but unreadable: do not resend */
            snprintf(out->reason, sizeof out->reason, "bad_response");
            snprintf(out->detail, sizeof out->detail, "error 0 without data.message_id");
        }
        json_decref(root);
        return;
    }
    char safe[120];
    ch_json_safe(json_object_get(root, "message"), safe, sizeof safe);
    snprintf(out->detail, sizeof out->detail, "%d: %s", code, safe);
    const zalo_err_rule *rule = NULL;
    for (size_t i = 0; i < MC_ARRAY_LEN(zalo_err_rules) && rule == NULL; i++)
        if (zalo_err_rules[i].code == code)
            rule = &zalo_err_rules[i];
    if (rule == NULL) {
        out->verdict = CH_PERMANENT;
        snprintf(out->reason, sizeof out->reason, "%s", out->detail);
    } else {
        out->verdict = rule->verdict;
        out->fallback = rule->fallback;
        out->token_error = rule->token_error;
        snprintf(out->reason, sizeof out->reason, "%s", rule->reason);
        if (rule->verdict == CH_RETRY)
            out->retry_after_ms = wait_ms(rule->wait);
    }
    json_decref(root);
}

/* ---- OAuth refresh ---- */

int ch_zalo_refresh_render(const ch_settings *s, const char *refresh_token, ch_http *out, char *err,
                           size_t errlen) {
    memset(out, 0, sizeof(*out));
    if (ch_empty(s->oauth_base) || ch_empty(s->oauth_secret) || ch_empty(s->app_id))
        return ch_fail(
            err, errlen, MC_EINVAL,
            "zalo oauth_base, oauth_secret (app secret key) and app_id must be configured");
    if (ch_empty(refresh_token))
        return ch_fail(err, errlen, MC_EINVAL, "refresh token missing");
    ch_buf url = {0}, body = {0};
    ch_buf_base(&url, s->oauth_base);
    ch_buf_puts(&url, "/v4/oa/access_token");
    ch_buf_puts(&body, "app_id=");
    ch_buf_urlenc(&body, s->app_id, strlen(s->app_id));
    ch_buf_puts(&body, "&refresh_token=");
    ch_buf_urlenc(&body, refresh_token, strlen(refresh_token));
    ch_buf_puts(&body, "&grant_type=refresh_token");
    out->url = ch_buf_take(&url, NULL);
    out->body = ch_buf_take(&body, &out->body_len);
    snprintf(out->method, sizeof out->method, "POST");
    int rc = MC_ENOMEM;
    if (out->url == NULL || out->body == NULL)
        goto fail;
    rc = ch_http_header(out, "Content-Type", "application/x-www-form-urlencoded");
    if (rc == 0)
        rc = ch_http_header(out, "secret_key", s->oauth_secret);
    if (rc < 0)
        goto fail;
    return 0;
fail:
    ch_http_clear(out);
    return ch_fail(err, errlen, rc, rc == MC_ENOMEM ? "out of memory" : "oauth_secret has CR/LF");
}

static int copy_token(json_t *v, const char *name, char *dst, size_t cap, char *err,
                      size_t errlen) {
    if (!json_is_string(v) || json_string_length(v) == 0)
        return ch_fail(err, errlen, MC_EINVAL, "%s missing in the refresh answer", name);
    size_t n = json_string_length(v);
    if (n + 1 > cap)
        return ch_fail(err, errlen, MC_ETOOBIG, "%s longer than %zu bytes", name, cap - 1);
    if (memchr(json_string_value(v), '\0', n) != NULL)
        return ch_fail(err, errlen, MC_EINVAL, "%s contains NUL", name);
    memcpy(dst, json_string_value(v), n + 1);
    return 0;
}

int ch_zalo_refresh_parse(const char *body, size_t len, char *access, size_t alen, char *refresh,
                          size_t rlen, int64_t *expires_in_s, char *err, size_t errlen) {
    if (body == NULL || len == 0 || len > CH_MAX_BODY)
        return ch_fail(err, errlen, MC_EINVAL, "empty or oversized refresh answer");
    json_t *root = json_loadb(body, len, 0, NULL);
    if (!json_is_object(root)) {
        json_decref(root);
        return ch_fail(err, errlen, MC_EINVAL, "refresh answer is not a JSON object");
    }
    int rc;
    json_t *e = json_object_get(root, "error");
    if (json_is_integer(e) && json_integer_value(e) != 0) {
        /* OAuth errors carry error_name / error_description rather than message. */
        static const char *const fields[] = {"error_description", "error_name", "message"};
        json_t *why = NULL;
        for (size_t i = 0; i < MC_ARRAY_LEN(fields) && !json_is_string(why); i++)
            why = json_object_get(root, fields[i]);
        char safe[120];
        ch_json_safe(why, safe, sizeof safe);
        rc = ch_fail(err, errlen, MC_EINVAL, "zalo refused the refresh: %lld %s",
                     (long long)json_integer_value(e), safe);
        goto done;
    }
    rc = copy_token(json_object_get(root, "access_token"), "access_token", access, alen, err,
                    errlen);
    if (rc == 0)
        rc = copy_token(json_object_get(root, "refresh_token"), "refresh_token", refresh, rlen, err,
                        errlen);
    if (rc < 0)
        goto done;
    char num[ZALO_MAX_NUM];
    int64_t secs = 0;
    if (ch_json_text(json_object_get(root, "expires_in"), "expires_in", num, sizeof num, err,
                     errlen) < 0 ||
        parse_ms(num, &secs) < 0 || secs <= 0) {
        rc = ch_fail(err, errlen, MC_EINVAL, "expires_in missing or not a positive number");
        goto done;
    }
    *expires_in_s = secs;
    rc = 0;
done:
    json_decref(root);
    return rc;
}

/* ---- configuration, policy, webhook ---- */

#define ZALO_WINDOW_MS                                                                             \
    (7LL * 86400 * 1000)               /* consultation messages: 7 days after the                  \
                                          citizen's last message (48 h free) */
#define ZALO_NIGHT_START_MIN (22 * 60) /* -234: broadcasts refused 22:00-06:00 */

static const ch_key zalo_keys[] = {
    {"enabled", CH_KT_BOOL, "false", 0, 0, NULL, offsetof(ch_settings, enabled)},
    {"app_id", CH_KT_STR, "", 0, 0, NULL, offsetof(ch_settings, app_id)},
    {"oa_secret_key", CH_KT_STR, "", 0, 0, NULL, offsetof(ch_settings, app_secret)},
    {"access_token", CH_KT_STR, "", 0, 0, NULL, offsetof(ch_settings, access_token)},
    {"refresh_token", CH_KT_STR, "", 0, 0, NULL, offsetof(ch_settings, refresh_token)},
    {"api_base", CH_KT_URL, "https://openapi.zalo.me", 0, 0, NULL, offsetof(ch_settings, api_base)},
    {"zns_api_base", CH_KT_URL, "https://business.openapi.zalo.me", 0, 0, NULL,
     offsetof(ch_settings, zns_api_base)},
    {"oauth_base", CH_KT_URL, "https://oauth.zaloapp.com", 0, 0, NULL,
     offsetof(ch_settings, oauth_base)},
    {"app_secret", CH_KT_STR, "", 0, 0, NULL, offsetof(ch_settings, oauth_secret)},
};

static const ch_policy zalo_policy = {.window_ms = ZALO_WINDOW_MS,
                                      .night_start_min = ZALO_NIGHT_START_MIN,
                                      .night_end_min = ZALO_CURFEW_END_HOUR * 60,
                                      .default_rate = 20};

static int zalo_validate(const ch_settings *s, char *err, size_t errlen) {
    if (s->enabled && (ch_empty(s->app_id) || ch_empty(s->app_secret)))
        return ch_fail(err, errlen, MC_EINVAL, "enabled needs app_id and oa_secret_key");
    return 0;
}

static int zalo_can_send(const ch_settings *s) {
    return s->enabled && (!ch_empty(s->access_token) || !ch_empty(s->refresh_token));
}

static unsigned zalo_methods(const ch_settings *s) {
    (void)s;
    return CH_M_POST;
}

static void zalo_ack(const ch_settings *s, const char *method, ch_ack *out) {
    (void)s;
    (void)method;
    *out = (ch_ack){200, "application/json", "{\"status\":\"ok\"}"};
}

const ch_adapter ch_zalo_adapter = {
    .name = ZALO_CHANNEL,
    .verify = zalo_verify,
    .parse = zalo_parse,
    .render = zalo_render,
    .classify = zalo_classify,
    .keys = zalo_keys,
    .n_keys = sizeof zalo_keys / sizeof zalo_keys[0],
    .validate = zalo_validate,
    .can_send = zalo_can_send,
    .policy = &zalo_policy,
    .methods = zalo_methods,
    .ack = zalo_ack,
    .token_render = ch_zalo_refresh_render,
    .token_parse = ch_zalo_refresh_parse,
    .by_phone = ch_zns_channel,
};
