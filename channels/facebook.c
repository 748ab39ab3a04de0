/*
 * facebook.c — the Facebook Messenger adapter: verify, parse, render, classify.
 *
 * The big idea: everything Facebook-specific — the signature header, the envelope
 * of entries and messaging items, the Send API body, the Graph error codes — lives
 * here as data and small pure functions over bytes; the gateway only sees
 * ch_message, ch_http and ch_result.
 *
 * Confirmed 2026-11-23 against the provider's docs (stored copies via the search
 * tool) and ../shared/research/channel-facts.md §2:
 *   - developers.facebook.com/docs/messenger-platform/reference/send-api: POST
 *     /{version}/{PAGE-ID|me}/messages, messaging_type RESPONSE|UPDATE|MESSAGE_TAG,
 *     recipient.id, message.text, answer {"recipient_id","message_id"}.
 *   - .../webhooks/webhook-events/message-deliveries: delivery.mids (may be absent),
 *     delivery.watermark always present; the sample carries no "timestamp", so a
 *     missing timestamp falls back to the gateway's clock.
 *   - .../messenger-platform/error-codes (updated 2026-03-18) and
 *     .../send-api/error-codes: {"error":{"message","type","code","error_subcode",
 *     "fbtrace_id"}}; 2 "unexpected error, retry later" (also when the citizen blocked
 *     the page); 4 application request limit; 1200 temporary send failure;
 *     613 calls exceeded the rate limit; 10 / 2018278 "sent outside of allowed
 *     window"; 190 invalid OAuth access token. 551 "person isn't available" and
 *     subcodes 1545041 / 2018108 (recipient unavailable), 2018065 and 2534022
 *     (outside window), 17 and 32 (user / page rate limits) are second-hand
 *     (integrators' tables) — kept because their meaning is unambiguous.
 *   - Webhook signature: X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret,
 *     raw body)>; verification GET hub.mode / hub.verify_token / hub.challenge.
 *   - Message tags allowed since 2020-03-04: CONFIRMED_EVENT_UPDATE,
 *     POST_PURCHASE_UPDATE, ACCOUNT_UPDATE, HUMAN_AGENT; legacy tags are refused
 *     here (Facebook rejects them too).
 *   - Text limit 2000 characters is the long-cited figure (current reference pages
 *     do not restate it); we count code points, which equals UTF-16 units for all
 *     Vietnamese text. Quick replies: at most 13, titles cut after 20 characters.
 */
#include "channels/facebook.h"

#include "core/mc.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FB_SHA256_HEX 64 /* hex digits of an HMAC-SHA256 */
#define FB_CHANNEL "facebook"

/* Message tags Facebook still accepts outside the 24-hour window. */
static const char *const fb_tags[] = {
    "CONFIRMED_EVENT_UPDATE",
    "POST_PURCHASE_UPDATE",
    "ACCOUNT_UPDATE",
    "HUMAN_AGENT",
};

/* How a Graph error answer is treated: the first matching row wins. */
typedef struct fb_err_rule {
    int code;           /* error.code, or -1 for any */
    int subcode;        /* error.error_subcode, or -1 for any */
    ch_verdict verdict; /* what to do */
    int fallback;       /* CH_PERMANENT: try the next channel */
    int token_error;    /* 1: the page token must be replaced */
    const char *reason; /* ch_result.reason */
} fb_err_rule;

static const fb_err_rule fb_err_rules[] = {
    {-1, 2018278, CH_PERMANENT, 1, 0, "outside_window"},
    {-1, 2018065, CH_PERMANENT, 1, 0, "outside_window"},
    {-1, 2534022, CH_PERMANENT, 1, 0, "outside_window"},
    {-1, 1545041, CH_PERMANENT, 1, 0, "unreachable"},
    {-1, 2018108, CH_PERMANENT, 1, 0, "unreachable"},
    {10, -1, CH_PERMANENT, 1, 0, "outside_window"},
    {551, -1, CH_PERMANENT, 1, 0, "unreachable"},
    {190, -1, CH_PERMANENT, 0, 1, "token"},
    {613, -1, CH_RETRY, 0, 0, "rate_limited"},
    {4, -1, CH_RETRY, 0, 0, "rate_limited"},
    {17, -1, CH_RETRY, 0, 0, "rate_limited"},
    {32, -1, CH_RETRY, 0, 0, "rate_limited"},
    {2, -1, CH_RETRY, 0, 0, "temporary"},
    {1200, -1, CH_RETRY, 0, 0, "temporary"},
};

/* ---- verify ---- */

static int fb_verify(const ch_settings *s, const ch_request *req, char *err, size_t errlen) {
    if (ch_empty(s->app_secret))
        return ch_fail(err, errlen, MC_EINVAL, "facebook app_secret is not configured");
    if (req->body_len > CH_MAX_BODY)
        return ch_fail(err, errlen, MC_ETOOBIG, "body larger than %d bytes", CH_MAX_BODY);
    char got[FB_SHA256_HEX];
    int rc = ch_sig_header(req, "X-Hub-Signature-256", FB_SIGNATURE_PREFIX, FB_SHA256_HEX, got, err,
                           errlen);
    if (rc < 0)
        return rc;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    static const unsigned char nothing[1];
    const unsigned char *body = req->body_len ? (const unsigned char *)req->body : nothing;
    if (HMAC(EVP_sha256(), s->app_secret, (int)strlen(s->app_secret), body, req->body_len, mac,
             &maclen) == NULL)
        return ch_fail(err, errlen, MC_EINVAL, "HMAC-SHA256 failed");
    char want[2 * EVP_MAX_MD_SIZE + 1];
    ch_hex(mac, maclen, want);
    if (!ch_ct_equal(want, FB_SHA256_HEX, got, FB_SHA256_HEX))
        return ch_fail(err, errlen, MC_EINVAL, "X-Hub-Signature-256 does not match the body");
    return 0;
}

int ch_facebook_challenge(const ch_settings *s, const char *query, size_t query_len,
                          char *challenge, size_t clen, char *err, size_t errlen) {
    static const char subscribe[] = "subscribe";
    char mode[32], token[256];
    size_t ml = 0, tl = 0, cl = 0;
    if (ch_empty(s->verify_token))
        return ch_fail(err, errlen, MC_EINVAL, "facebook verify_token is not configured");
    /* Decoded values may hold %00: compare lengths and bytes, never as C strings. */
    int rc = ch_form_get(query, query_len, "hub.mode", mode, sizeof mode, &ml);
    if (rc < 0 || ml != sizeof subscribe - 1 || memcmp(mode, subscribe, ml) != 0)
        return ch_fail(err, errlen, MC_EINVAL, "hub.mode must be \"subscribe\"");
    rc = ch_form_get(query, query_len, "hub.verify_token", token, sizeof token, &tl);
    if (rc < 0)
        return ch_fail(err, errlen, MC_EINVAL, "hub.verify_token missing or malformed");
    if (!ch_ct_equal(token, tl, s->verify_token, strlen(s->verify_token)))
        return ch_fail(err, errlen, MC_EINVAL, "hub.verify_token does not match");
    char buf[FB_MAX_CHALLENGE + 1];
    rc = ch_form_get(query, query_len, "hub.challenge", buf, sizeof buf, &cl);
    if (rc < 0 || cl == 0)
        return ch_fail(err, errlen, MC_EINVAL, "hub.challenge missing, malformed or too long");
    for (size_t i = 0; i < cl; i++) {
        char c = buf[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '-' || c == '_' || c == '.'))
            return ch_fail(err, errlen, MC_EINVAL,
                           "hub.challenge has characters other than "
                           "[A-Za-z0-9._-]");
    }
    if (cl + 1 > clen)
        return ch_fail(err, errlen, MC_ETOOBIG, "challenge buffer too small");
    memcpy(challenge, buf, cl + 1);
    return 0;
}

/* ---- parse ---- */

/* Copies an id (JSON string, or integer as older payloads had) into dst[CH_MAX_ID]. */
static int get_id(json_t *v, const char *path, char *dst, char *err, size_t errlen) {
    return ch_json_text(v, path, dst, CH_MAX_ID, err, errlen);
}

static int get_ms(json_t *v, const char *path, int64_t dflt, int64_t *out, char *err,
                  size_t errlen) {
    if (v == NULL) {
        *out = dflt;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return ch_fail(err, errlen, MC_EINVAL, "%s must be a non-negative integer (ms)", path);
    *out = (int64_t)json_integer_value(v);
    return 0;
}

/* One messaging item being read: where it is, its head, and where its messages go. */
typedef struct fb_item {
    const char *at;            /* its path for errors: "entry[i].messaging[j]" */
    const char *field;         /* its event's member: "message", "postback", ... */
    char sender[CH_MAX_ID];    /* sender.id */
    char recipient[CH_MAX_ID]; /* recipient.id */
    int64_t ts;                /* timestamp, or the gateway clock */
    ch_message *out;           /* the request's messages ... */
    size_t *n;                 /* ... and how many are filled */
    char *err;                 /* the caller's error buffer */
    size_t errlen;             /* its bytes */
} fb_item;

/* The next free message slot with the item's sender, recipient and time, or NULL (with
 * the error) when the request carries too many. */
static ch_message *head_slot(fb_item *it) {
    ch_message *m = ch_message_next(it->out, it->n, FB_CHANNEL, it->err, it->errlen);
    if (m != NULL) {
        memcpy(m->sender, it->sender, sizeof m->sender);
        memcpy(m->recipient, it->recipient, sizeof m->recipient);
        m->ts_ms = it->ts;
    }
    return m;
}

/* The readers of an item's event: v is the object named it->field (checked to be one);
 * each fills one or more messages. */
static int parse_message(json_t *msg, fb_item *it) {
    ch_message *m = head_slot(it);
    if (m == NULL)
        return MC_ETOOBIG;
    char path[160];
    snprintf(path, sizeof path, "%s.message.mid", it->at);
    int rc = get_id(json_object_get(msg, "mid"), path, m->provider_id, it->err, it->errlen);
    if (rc < 0)
        return rc;
    if (json_is_true(json_object_get(msg, "is_echo"))) {
        m->kind = CH_EV_ECHO;
        return 0;
    }
    snprintf(path, sizeof path, "%s.message.text", it->at);
    rc = ch_json_dup(json_object_get(msg, "text"), path, &m->text, &m->text_len, it->err,
                     it->errlen);
    if (rc < 0)
        return rc;
    json_t *qr = json_object_get(msg, "quick_reply");
    if (qr != NULL) {
        snprintf(path, sizeof path, "%s.message.quick_reply.payload", it->at);
        if (!json_is_object(qr) || json_object_get(qr, "payload") == NULL)
            return ch_fail(it->err, it->errlen, MC_EINVAL, "%s missing", path);
        rc = ch_json_dup(json_object_get(qr, "payload"), path, &m->payload, NULL, it->err,
                         it->errlen);
        if (rc < 0)
            return rc;
        m->kind = CH_EV_QUICK_REPLY;
        return 0;
    }
    /* Text wins over attachments: a shared link arrives as text plus a "fallback"
     * attachment, and the text is what the citizen wrote. */
    if (m->text != NULL) {
        m->kind = CH_EV_TEXT;
        return 0;
    }
    m->kind = CH_EV_UNSUPPORTED; /* attachments, stickers, anything without text */
    return 0;
}

static int parse_postback(json_t *pb, fb_item *it) {
    ch_message *m = head_slot(it);
    if (m == NULL)
        return MC_ETOOBIG;
    m->kind = CH_EV_POSTBACK;
    char path[160];
    json_t *mid = json_object_get(pb, "mid");
    if (mid != NULL) {
        snprintf(path, sizeof path, "%s.postback.mid", it->at);
        int rc = get_id(mid, path, m->provider_id, it->err, it->errlen);
        if (rc < 0)
            return rc;
    } else {
        /* Older postbacks have no mid: sender and timestamp identify the press. */
        snprintf(m->provider_id, sizeof m->provider_id, "pb:%.*s:%lld",
                 (int)ch_utf8_floor(it->sender, strlen(it->sender), CH_ID_PART), it->sender,
                 (long long)it->ts);
    }
    snprintf(path, sizeof path, "%s.postback.payload", it->at);
    if (json_object_get(pb, "payload") == NULL)
        return ch_fail(it->err, it->errlen, MC_EINVAL, "%s missing", path);
    int rc =
        ch_json_dup(json_object_get(pb, "payload"), path, &m->payload, NULL, it->err, it->errlen);
    if (rc < 0)
        return rc;
    snprintf(path, sizeof path, "%s.postback.title", it->at);
    return ch_json_dup(json_object_get(pb, "title"), path, &m->text, &m->text_len, it->err,
                       it->errlen);
}

static int parse_receipt(json_t *r, fb_item *it) {
    char path[160];
    ch_event kind = strcmp(it->field, "delivery") == 0 ? CH_EV_DELIVERY : CH_EV_READ;
    snprintf(path, sizeof path, "%s.%s.watermark", it->at, it->field);
    json_t *wm = json_object_get(r, "watermark");
    if (wm == NULL)
        return ch_fail(it->err, it->errlen, MC_EINVAL, "%s missing", path);
    int64_t watermark = 0;
    int rc = get_ms(wm, path, 0, &watermark, it->err, it->errlen);
    if (rc < 0)
        return rc;
    json_t *mids = json_object_get(r, "mids");
    if (mids != NULL && !json_is_array(mids))
        return ch_fail(it->err, it->errlen, MC_EINVAL, "%s.%s.mids must be an array", it->at,
                       it->field);
    size_t count = mids ? json_array_size(mids) : 0;
    /* One message per mid; without mids, one for everything before the watermark. */
    for (size_t k = 0; k < (count ? count : 1); k++) {
        ch_message *m = head_slot(it);
        if (m == NULL)
            return MC_ETOOBIG;
        m->kind = kind;
        m->watermark_ms = watermark;
        if (count > 0) {
            snprintf(path, sizeof path, "%s.%s.mids[%zu]", it->at, it->field, k);
            rc = get_id(json_array_get(mids, k), path, m->provider_id, it->err, it->errlen);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

/* An item's events, the first one present wins; any other member is skipped. */
static const struct {
    const char *field;                    /* member of the messaging item */
    int (*parse)(json_t *v, fb_item *it); /* reads it */
} fb_events[] = {
    {"message", parse_message},
    {"postback", parse_postback},
    {"delivery", parse_receipt},
    {"read", parse_receipt},
};

/* <at>.<who>.id into dst[CH_MAX_ID]. */
static int get_party(json_t *item, const fb_item *it, const char *who, char *dst) {
    char path[160];
    json_t *o = json_object_get(item, who);
    snprintf(path, sizeof path, "%s.%s.id", it->at, who);
    return get_id(json_is_object(o) ? json_object_get(o, "id") : NULL, path, dst, it->err,
                  it->errlen);
}

static int parse_item(json_t *item, const char *at, int64_t now_ms, ch_message *out, size_t *n,
                      char *err, size_t errlen) {
    if (!json_is_object(item))
        return ch_fail(err, errlen, MC_EINVAL, "%s must be an object", at);
    size_t e = 0;
    while (e < MC_ARRAY_LEN(fb_events) && json_object_get(item, fb_events[e].field) == NULL)
        e++;
    if (e == MC_ARRAY_LEN(fb_events))
        return 0; /* optins, referrals, reactions...: not ours, skipped */
    fb_item it = {
        .at = at, .field = fb_events[e].field, .out = out, .n = n, .err = err, .errlen = errlen};
    int rc = get_party(item, &it, "sender", it.sender);
    if (rc == 0)
        rc = get_party(item, &it, "recipient", it.recipient);
    if (rc < 0)
        return rc;
    char path[160];
    snprintf(path, sizeof path, "%s.timestamp", at);
    rc = get_ms(json_object_get(item, "timestamp"), path, now_ms, &it.ts, err, errlen);
    if (rc < 0)
        return rc;
    json_t *v = json_object_get(item, it.field);
    if (!json_is_object(v))
        return ch_fail(err, errlen, MC_EINVAL, "%s.%s must be an object", at, it.field);
    return fb_events[e].parse(v, &it);
}

static int fb_parse(const ch_settings *s, const ch_request *req, ch_message *out, size_t *n,
                    char *err, size_t errlen) {
    (void)s;
    *n = 0;
    json_t *root;
    int rc = ch_json_body(req, &root, err, errlen);
    if (rc < 0)
        return rc;
    const char *object = json_string_value(json_object_get(root, "object"));
    if (!json_is_object(root) || object == NULL || strcmp(object, "page") != 0) {
        rc = ch_fail(err, errlen, MC_EINVAL, "object must be \"page\"");
        goto fail;
    }
    json_t *entries = json_object_get(root, "entry");
    if (!json_is_array(entries)) {
        rc = ch_fail(err, errlen, MC_EINVAL, "entry must be an array");
        goto fail;
    }
    for (size_t i = 0; i < json_array_size(entries); i++) {
        json_t *e = json_array_get(entries, i);
        if (!json_is_object(e)) {
            rc = ch_fail(err, errlen, MC_EINVAL, "entry[%zu] must be an object", i);
            goto fail;
        }
        json_t *items = json_object_get(e, "messaging");
        if (items == NULL)
            continue; /* standby[] (handover) and changes[] are not ours */
        if (!json_is_array(items)) {
            rc = ch_fail(err, errlen, MC_EINVAL, "entry[%zu].messaging must be an array", i);
            goto fail;
        }
        for (size_t j = 0; j < json_array_size(items); j++) {
            char at[64];
            snprintf(at, sizeof at, "entry[%zu].messaging[%zu]", i, j);
            rc = parse_item(json_array_get(items, j), at, req->now_ms, out, n, err, errlen);
            if (rc < 0)
                goto fail;
        }
    }
    json_decref(root);
    return 0;
fail:
    json_decref(root);
    ch_messages_clear(out, n);
    return rc;
}

/* ---- render ---- */

static int check_tag(const char *tag) {
    for (size_t i = 0; i < MC_ARRAY_LEN(fb_tags); i++)
        if (strcmp(tag, fb_tags[i]) == 0)
            return 0;
    return MC_EINVAL;
}

/* A quick reply: {"content_type":"text","title":...,"payload":...}. */
static json_t *quick_reply(const char *title, size_t tlen, const char *payload, size_t plen) {
    return json_pack("{s:s, s:s%, s:s%}", "content_type", "text", "title", title, tlen, "payload",
                     payload, plen);
}

/* What each part of a message is rendered with (ch_render_parts' context). */
typedef struct fb_send {
    const ch_settings *s;   /* the channel's settings */
    const ch_outgoing *msg; /* the message whose text is split */
} fb_send;

/* One Send API request for the part text[0..len); the quick replies go with the last. */
static int render_part(void *ctx, const char *text, size_t len, int last, ch_http *h, char *err,
                       size_t errlen) {
    const ch_settings *s = ((const fb_send *)ctx)->s;
    const ch_outgoing *msg = ((const fb_send *)ctx)->msg;
    memset(h, 0, sizeof(*h));
    const char *tag = ch_empty(msg->tag) ? NULL : msg->tag; /* NULL: no "tag" member */
    const char *type = tag != NULL                         ? "MESSAGE_TAG"
                       : msg->purpose == CH_PURPOSE_UPDATE ? "UPDATE"
                                                           : "RESPONSE";
    int rc = MC_ENOMEM;
    json_t *root = json_pack("{s:{s:s}, s:s, s:s*, s:{s:s%}}", "recipient", "id", msg->recipient,
                             "messaging_type", type, "tag", tag, "message", "text", text, len);
    json_t *message = json_object_get(root, "message");
    if (message == NULL)
        goto fail;
    if (last && msg->n_quick > 0) {
        json_t *qr = ch_json_choices(msg, "quick reply", FB_MAX_QUICK_TITLE, FB_MAX_QUICK_PAYLOAD,
                                     quick_reply, err, errlen);
        if (qr == NULL) {
            rc = MC_EINVAL;
            goto fail_msg;
        }
        if (json_object_set_new(message, "quick_replies", qr) < 0)
            goto fail;
    }
    ch_buf url = {0};
    ch_buf_base(&url, s->api_base);
    ch_buf_puts(&url, "/");
    ch_buf_urlenc(&url, s->api_version, strlen(s->api_version));
    ch_buf_puts(&url, "/me/messages?access_token=");
    ch_buf_urlenc(&url, s->access_token, strlen(s->access_token));
    rc = ch_http_post_json(h, root, &url);
    if (rc < 0)
        goto fail;
    json_decref(root);
    return 0;
fail:
    ch_fail(err, errlen, rc, "out of memory");
fail_msg:
    json_decref(root);
    ch_http_clear(h);
    return rc;
}

static int fb_render(const ch_settings *s, const ch_outgoing *msg, ch_http *out, size_t max_out,
                     size_t *n, char *err, size_t errlen) {
    *n = 0;
    if (ch_empty(s->api_base) || ch_empty(s->api_version) || ch_empty(s->access_token))
        return ch_fail(err, errlen, MC_EINVAL,
                       "facebook api_base, api_version and access_token must be configured");
    if (ch_empty(msg->recipient) || strlen(msg->recipient) >= CH_MAX_ID ||
        !ch_utf8_valid(msg->recipient, strlen(msg->recipient)))
        return ch_fail(err, errlen, MC_EINVAL, "recipient PSID missing, malformed or too long");
    if (!ch_empty(msg->tag) && check_tag(msg->tag) < 0)
        return ch_fail(err, errlen, MC_EINVAL,
                       "message tag \"%.40s\" is not one Facebook accepts (CONFIRMED_EVENT_UPDATE, "
                       "POST_PURCHASE_UPDATE, ACCOUNT_UPDATE, HUMAN_AGENT)",
                       msg->tag);
    if (msg->n_quick > CH_MAX_QUICK || (msg->n_quick > 0 && msg->quick == NULL))
        return ch_fail(err, errlen, MC_EINVAL, "at most %d quick replies", CH_MAX_QUICK);
    if (msg->text == NULL)
        return ch_fail(err, errlen, MC_EINVAL, "text missing");
    if (!ch_utf8_valid(msg->text, msg->text_len))
        return ch_fail(err, errlen, MC_EUTF8, "text is not valid UTF-8");
    fb_send send = {s, msg};
    return ch_render_parts(msg->text, msg->text_len, FB_MAX_TEXT_CHARS, render_part, &send, out,
                           max_out, n, err, errlen);
}

/* ---- classify ---- */

static void fb_classify(int status, const char *body, size_t body_len, const char *retry_after,
                        ch_result *out) {
    memset(out, 0, sizeof(*out));
    json_t *root;
    if (ch_classify_json(status, body, body_len, "message_id", out, &root))
        return;
    json_t *e = json_object_get(root, "error");
    int code = -1, sub = -1;
    if (json_is_object(e)) {
        json_t *c = json_object_get(e, "code");
        json_t *sc = json_object_get(e, "error_subcode");
        if (json_is_integer(c))
            code = (int)json_integer_value(c);
        if (json_is_integer(sc))
            sub = (int)json_integer_value(sc);
        char safe[120];
        ch_json_safe(json_object_get(e, "message"), safe, sizeof safe);
        snprintf(out->detail, sizeof out->detail, "%d/%d: %s", code, sub, safe);
    }
    const fb_err_rule *rule = NULL;
    if (code != -1 || sub != -1)
        for (size_t i = 0; i < MC_ARRAY_LEN(fb_err_rules) && rule == NULL; i++) {
            const fb_err_rule *r = &fb_err_rules[i];
            if ((r->code == -1 || r->code == code) && (r->subcode == -1 || r->subcode == sub))
                rule = r;
        }
    if (rule != NULL) {
        out->verdict = rule->verdict;
        out->fallback = rule->fallback;
        out->token_error = rule->token_error;
        snprintf(out->reason, sizeof out->reason, "%s", rule->reason);
        if (out->verdict == CH_RETRY)
            out->retry_after_ms = ch_retry_after_ms(retry_after, ch_now_ms());
    } else if (!ch_classify_transport(status, retry_after, out)) {
        ch_result_status_detail(out, status);
        out->verdict = CH_PERMANENT;
        snprintf(out->reason, sizeof out->reason, "%s", out->detail);
    }
    json_decref(root);
}

/* ---- configuration, policy, webhook ---- */

#define FB_WINDOW_MS (24LL * 3600 * 1000) /* the Send API's standard messaging window */

static const ch_key fb_keys[] = {
    {"enabled", CH_KT_BOOL, "false", 0, 0, NULL, offsetof(ch_settings, enabled)},
    {"verify_token", CH_KT_STR, "", 0, 0, NULL, offsetof(ch_settings, verify_token)},
    {"app_secret", CH_KT_STR, "", 0, 0, NULL, offsetof(ch_settings, app_secret)},
    {"page_access_token", CH_KT_STR, "", 0, 0, NULL, offsetof(ch_settings, access_token)},
    {"api_base", CH_KT_URL, "https://graph.facebook.com", 0, 0, NULL,
     offsetof(ch_settings, api_base)},
    {"api_version", CH_KT_STR, "v21.0", 0, 0, NULL, offsetof(ch_settings, api_version)},
};

static const ch_policy fb_policy = {
    .window_ms = FB_WINDOW_MS, .night_start_min = -1, .night_end_min = -1, .default_rate = 40};

static int fb_validate(const ch_settings *s, char *err, size_t errlen) {
    if (s->enabled && (ch_empty(s->app_secret) || ch_empty(s->verify_token)))
        return ch_fail(err, errlen, MC_EINVAL, "enabled needs app_secret and verify_token");
    return 0;
}

static int fb_can_send(const ch_settings *s) {
    return s->enabled && !ch_empty(s->access_token);
}

static unsigned fb_methods(const ch_settings *s) {
    (void)s;
    return CH_M_GET | CH_M_POST;
}

/* GET /webhook/facebook is the subscription handshake. */
static int fb_handshake(const ch_settings *s, const ch_request *req, char *out, size_t cap,
                        char *err, size_t errlen) {
    return ch_facebook_challenge(s, req->query, req->query_len, out, cap, err, errlen);
}

/* Messenger texts longer than its limit go as several messages (fb_render). */
static int fb_preview(const ch_settings *s, const char *t, size_t len, ch_preview *out) {
    (void)s;
    memset(out, 0, sizeof *out);
    size_t pos = ch_space_prefix(t, len);
    while (pos < len) {
        size_t rest;
        ch_text_cut(t + pos, len - pos, FB_MAX_TEXT_CHARS, &rest);
        out->parts++;
        if (rest == 0)
            break;
        pos += rest;
    }
    return 0;
}

static void fb_ack(const ch_settings *s, const char *method, ch_ack *out) {
    (void)s;
    (void)method;
    *out = (ch_ack){200, "text/plain; charset=utf-8", "EVENT_RECEIVED"};
}

const ch_adapter ch_facebook_adapter = {
    .name = FB_CHANNEL,
    .verify = fb_verify,
    .parse = fb_parse,
    .render = fb_render,
    .classify = fb_classify,
    .keys = fb_keys,
    .n_keys = sizeof fb_keys / sizeof fb_keys[0],
    .validate = fb_validate,
    .can_send = fb_can_send,
    .policy = &fb_policy,
    .methods = fb_methods,
    .handshake = fb_handshake,
    .ack = fb_ack,
    .preview = fb_preview,
};
