/*
 * zns.c — the Zalo Notification Service adapter: render a template message to a
 * phone number, classify ZNS's answer, ask about a template (template info), and
 * preview what a message costs.
 *
 * The big idea: ZNS carries no free text. What it sends was prepared when the
 * notification was accepted (the department's template linked to an approved ZNS
 * template: ch_outgoing.data = {"template_id","template_data"}); this adapter only
 * adds the phone and our tracking id. Its answers, like Zalo's, are HTTP 200 with a
 * negative "error", so classify is a table from codes to what the gateway does: retry,
 * refresh the token, leave the channel for today (quota), remember that this phone is
 * not on Zalo, or give up on the notification (its template was disabled).
 *
 * Confirmed 2026-11-23 (../shared/research/channel-facts.md §1.8, second-hand there):
 *   - POST {zns_api_base}/message/template, header access_token (the OA's token), JSON
 *     {"phone":"84...","template_id","template_data":{...},"tracking_id"}; the phone in
 *     the 84 form without '+'. Answer {"error":0,"data":{"msg_id","sent_time","quota":
 *     {"dailyQuota","remainingQuota"}}}.
 *   - Delivery: a user_received_message event on the OA webhook with message.msg_id and
 *     message.tracking_id (zalo.c reads it for this channel).
 *   - Template info: GET {zns_api_base}/template/info/v2?template_id=<id>, header
 *     access_token → data.status ("ENABLE" is usable) and data.listParams[] (name,
 *     require, maxLength): the exact keys template_data must carry.
 *   - tracking_id: channel-facts names it the partner's own id, echoed in the delivery
 *     event; it does NOT say that ZNS refuses or ignores a second request with a
 *     tracking_id it has seen (other Vietnamese providers do so for their request ids:
 *     eSMS 124, Intercom's ClientId — ZNS is not documented to). So we do not count on
 *     it: what keeps a retry after a crash from being charged twice is our wire mark
 *     (gateway/dispatch/gw_marks.c: a request that may have left is never sent again).
 *     The tracking_id is our notification id, the same on every attempt, so that the
 *     delivery event finds the notification and a double, if one ever happens, shows in
 *     the provider's records under one id.
 *   - Error codes below are NOT in channel-facts: they are Zalo's published ZNS error
 *     list as integrators quote it (second-hand; confirm before production): -100
 *     application error, -108 phone invalid, -109 template id invalid, -111/-112 template
 *     data empty/invalid, -114 / -118 / -119 the phone cannot receive ZNS (no Zalo
 *     account, disabled, inactive), -115 ZNS balance too low, -124 access token invalid,
 *     -131 template not approved or disabled, -133 no ZNS at night (22:00-06:00), -139 /
 *     -141 the citizen refused ZNS, -144 the OA's daily quota is spent.
 */
#include "channels/zns.h"

#include "core/mc.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ZNS_CHANNEL "zns"
#define ZNS_PHONE_MAX 16 /* bytes of "84" and 9 or 10 digits */

const char ch_zns_channel[] = ZNS_CHANNEL;

/* What one ZNS error code means for the gateway. */
typedef enum zns_do {
    ZD_RETRY,       /* try again later (the dispatcher's backoff) */
    ZD_MORNING,     /* try again at 06:00 local */
    ZD_TOKEN,       /* refresh the OA token, then once more */
    ZD_HOLD,        /* the channel is out until the quota resets: next channel */
    ZD_UNREACHABLE, /* this phone cannot get ZNS: remember it, next channel */
    ZD_FALLBACK,    /* this message cannot go by ZNS: next channel */
    ZD_DEAD,        /* the template cannot be used: the notification is dead */
} zns_do;

typedef struct zns_err_rule {
    int code;           /* ZNS "error" */
    zns_do what;        /* what to do */
    const char *reason; /* ch_result.reason */
} zns_err_rule;

static const zns_err_rule zns_err_rules[] = {
    {-100, ZD_RETRY, "temporary"},
    {-133, ZD_MORNING, "night"},
    {-124, ZD_TOKEN, "token"},
    {-144, ZD_HOLD, "quota"},
    {-115, ZD_HOLD, "billing"},
    {-114, ZD_UNREACHABLE, "not_on_zalo"},
    {-118, ZD_UNREACHABLE, "not_on_zalo"},
    {-119, ZD_UNREACHABLE, "not_on_zalo"},
    {-139, ZD_UNREACHABLE, "refused"},
    {-141, ZD_UNREACHABLE, "refused"},
    {-108, ZD_FALLBACK, "bad_phone"},
    {-109, ZD_DEAD, "template_invalid"},
    {-131, ZD_DEAD, "template_disabled"},
    {-111, ZD_DEAD, "template_data"},
    {-112, ZD_DEAD, "template_data"},
};

/* "+84912345678" → "84912345678"; 0 or MC_EINVAL when it is not a Vietnamese E.164. */
static int zns_phone(const char *e164, char *out, size_t cap) {
    size_t n = e164 ? strlen(e164) : 0;
    if (n < 12 || n > 13 || n > cap || e164[0] != '+' || e164[1] != '8' || e164[2] != '4')
        return MC_EINVAL;
    for (size_t i = 1; i < n; i++)
        if (e164[i] < '0' || e164[i] > '9')
            return MC_EINVAL;
    memcpy(out, e164 + 1, n); /* the NUL too */
    return 0;
}

static int zns_render(const ch_settings *s, const ch_outgoing *msg, ch_http *out, size_t max_out,
                      size_t *n, char *err, size_t errlen) {
    *n = 0;
    if (max_out < 1)
        return ch_fail(err, errlen, MC_ETOOBIG, "no room for the request");
    if (ch_empty(s->api_base) || ch_empty(s->access_token))
        return ch_fail(err, errlen, MC_EINVAL,
                       "zalo zns_api_base and an access token must be configured");
    char phone[ZNS_PHONE_MAX];
    if (zns_phone(msg->recipient, phone, sizeof phone))
        return ch_fail(err, errlen, MC_EINVAL, "recipient is not a Vietnamese phone in E.164");
    if (ch_empty(msg->tracking_id) || strlen(msg->tracking_id) > ZNS_TRACKING_MAX)
        return ch_fail(err, errlen, MC_EINVAL, "tracking_id missing or longer than %d bytes",
                       ZNS_TRACKING_MAX);
    if (!msg->data || msg->data_len == 0 || msg->data_len > ZNS_MAX_DATA)
        return ch_fail(err, errlen, MC_EINVAL,
                       "no template message: ZNS sends only a template linked to the department's");
    json_t *d = json_loadb(msg->data, msg->data_len, 0, NULL);
    json_t *tid = json_object_get(d, "template_id"), *td = json_object_get(d, "template_data");
    if (!json_is_string(tid) || json_string_length(tid) == 0 || !json_is_object(td) ||
        json_object_size(td) == 0) {
        json_decref(d);
        return ch_fail(err, errlen, MC_EINVAL,
                       "template message needs template_id and a non-empty template_data");
    }
    json_t *root = json_pack("{s:s, s:O, s:O, s:s}", "phone", phone, "template_id", tid,
                             "template_data", td, "tracking_id", msg->tracking_id);
    json_decref(d);
    if (!root)
        return ch_fail(err, errlen, MC_ENOMEM, "out of memory");
    ch_buf url = {0};
    ch_buf_base(&url, s->api_base);
    ch_buf_puts(&url, "/message/template");
    memset(out, 0, sizeof *out);
    int rc = ch_http_post_json(out, root, &url);
    if (rc == 0)
        rc = ch_http_header(out, "access_token", s->access_token);
    json_decref(root);
    if (rc < 0) {
        ch_http_clear(out);
        return ch_fail(err, errlen, rc,
                       rc == MC_ENOMEM ? "out of memory" : "access token has CR/LF");
    }
    *n = 1;
    return 0;
}

static void zns_classify(int status, const char *body, size_t body_len, const char *retry_after,
                         ch_result *out) {
    memset(out, 0, sizeof *out);
    if (ch_classify_transport(status, retry_after, out))
        return;
    json_t *root = ch_json_answer(body, body_len);
    json_t *e = json_object_get(root, "error");
    if (status < 200 || status >= 300 || !json_is_integer(e)) {
        out->verdict = CH_PERMANENT;
        out->fallback = 1;
        snprintf(out->reason, sizeof out->reason, "bad_response");
        snprintf(out->detail, sizeof out->detail, "HTTP %d without a ZNS error code", status);
        json_decref(root);
        return;
    }
    int code = (int)json_integer_value(e);
    if (code == 0) {
        json_t *id = json_object_get(json_object_get(root, "data"), "msg_id");
        if (ch_json_text(id, "data.msg_id", out->provider_id, CH_MAX_ID, NULL, 0) == 0) {
            out->verdict = CH_SENT;
        } else {
            out->verdict = CH_PERMANENT; /* accepted but unreadable: never send it again */
            snprintf(out->reason, sizeof out->reason, "bad_response");
            snprintf(out->detail, sizeof out->detail, "error 0 without data.msg_id");
        }
        json_decref(root);
        return;
    }
    char safe[120];
    ch_json_safe(json_object_get(root, "message"), safe, sizeof safe);
    snprintf(out->detail, sizeof out->detail, "%d: %s", code, safe);
    json_decref(root);
    const zns_err_rule *rule = NULL;
    for (size_t i = 0; i < MC_ARRAY_LEN(zns_err_rules) && !rule; i++)
        if (zns_err_rules[i].code == code)
            rule = &zns_err_rules[i];
    out->verdict = CH_PERMANENT;
    out->fallback = 1;
    if (!rule) { /* unknown: this message does not go by ZNS, SMS may still carry it */
        snprintf(out->reason, sizeof out->reason, "%s", out->detail);
        return;
    }
    snprintf(out->reason, sizeof out->reason, "%s", rule->reason);
    switch (rule->what) {
    case ZD_RETRY:
        out->verdict = CH_RETRY;
        out->fallback = 0;
        break;
    case ZD_MORNING:
        out->verdict = CH_RETRY;
        out->fallback = 0;
        out->retry_after_ms =
            ch_ms_until_local_hour(ch_now_ms(), ZNS_UTC_OFFSET_MIN, ZNS_NIGHT_END_HOUR);
        break;
    case ZD_TOKEN:
        out->fallback = 0;
        out->token_error = 1;
        break;
    case ZD_HOLD: out->hold_ms = ch_ms_until_local_hour(ch_now_ms(), ZNS_UTC_OFFSET_MIN, 0); break;
    case ZD_UNREACHABLE: out->unreachable = 1; break;
    case ZD_FALLBACK: break;
    case ZD_DEAD:
        out->fallback = 0;
        out->final = 1;
        break;
    }
}

/* ---- template info ---- */

static int zns_tpl_info_render(const ch_settings *s, const char *template_id, ch_http *out,
                               char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (ch_empty(s->api_base) || ch_empty(s->access_token))
        return ch_fail(err, errlen, MC_EINVAL,
                       "zalo zns_api_base and an access token must be configured");
    if (ch_empty(template_id) || strlen(template_id) >= CH_TPL_ID_MAX)
        return ch_fail(err, errlen, MC_EINVAL, "template id missing or too long");
    ch_buf url = {0};
    ch_buf_base(&url, s->api_base);
    ch_buf_puts(&url, "/template/info/v2?template_id=");
    ch_buf_urlenc(&url, template_id, strlen(template_id));
    out->url = ch_buf_take(&url, NULL);
    snprintf(out->method, sizeof out->method, "GET");
    int rc = out->url ? ch_http_header(out, "access_token", s->access_token) : MC_ENOMEM;
    if (rc < 0) {
        ch_http_clear(out);
        return ch_fail(err, errlen, rc,
                       rc == MC_ENOMEM ? "out of memory" : "access token has CR/LF");
    }
    return 0;
}

static int zns_tpl_info_parse(int status, const char *body, size_t len, ch_tpl_info *out, char *err,
                              size_t errlen) {
    memset(out, 0, sizeof *out);
    if (status == 0 || status >= 500 || status == 429)
        return ch_fail(err, errlen, MC_EUNAVAIL, "ZNS did not answer (HTTP %d)", status);
    json_t *root = ch_json_answer(body, len);
    json_t *e = json_object_get(root, "error");
    int rc = 0;
    if (status < 200 || status >= 300 || !json_is_integer(e)) {
        rc =
            ch_fail(err, errlen, MC_EUNAVAIL, "ZNS answered HTTP %d without an error code", status);
        goto done;
    }
    if (json_integer_value(e) != 0) {
        char safe[120];
        ch_json_safe(json_object_get(root, "message"), safe, sizeof safe);
        rc = ch_fail(err, errlen, json_integer_value(e) == -124 ? MC_EUNAVAIL : MC_EINVAL,
                     "ZNS refused the template: %lld %s", (long long)json_integer_value(e), safe);
        goto done;
    }
    json_t *data = json_object_get(root, "data");
    ch_json_safe(json_object_get(data, "status"), out->status, sizeof out->status);
    out->usable = !strcmp(out->status, "ENABLE");
    json_t *params = json_object_get(data, "listParams");
    if (params && !json_is_array(params)) {
        rc = ch_fail(err, errlen, MC_EINVAL, "data.listParams is not an array");
        goto done;
    }
    size_t i;
    json_t *p;
    json_array_foreach(params, i, p) {
        if (out->n_params >= CH_TPL_MAX_PARAMS) {
            rc = ch_fail(err, errlen, MC_ETOOBIG, "more than %d template parameters",
                         CH_TPL_MAX_PARAMS);
            goto done;
        }
        ch_tpl_param *tp = &out->params[out->n_params];
        char path[48];
        snprintf(path, sizeof path, "data.listParams[%zu].name", i);
        if ((rc = ch_json_text(json_object_get(p, "name"), path, tp->name, sizeof tp->name, err,
                               errlen)) < 0)
            goto done;
        json_t *ml = json_object_get(p, "maxLength");
        tp->max_len =
            json_is_integer(ml) && json_integer_value(ml) > 0 ? json_integer_value(ml) : 0;
        json_t *req = json_object_get(p, "require");
        tp->required = req == NULL || json_is_true(req);
        out->n_params++;
    }
done:
    json_decref(root);
    return rc;
}

/* ---- preview, configuration, policy ---- */

/* One message per citizen, whatever the text: what ZNS charges by. */
static int zns_preview(const ch_settings *s, const char *text, size_t len, ch_preview *out) {
    (void)s, (void)text, (void)len;
    memset(out, 0, sizeof *out);
    out->parts = 1;
    out->units = 1;
    return 0;
}

static int zns_can_send(const ch_settings *s) {
    return s->enabled && !ch_empty(s->api_base) &&
           (!ch_empty(s->access_token) || !ch_empty(s->refresh_token));
}

/* Read from [zalo]: the OA's account and token are ZNS's too. */
static const ch_key zns_keys[] = {
    {"enabled", CH_KT_BOOL, "false", 0, 0, NULL, offsetof(ch_settings, enabled)},
    {"access_token", CH_KT_STR, "", 0, 0, NULL, offsetof(ch_settings, access_token)},
    {"refresh_token", CH_KT_STR, "", 0, 0, NULL, offsetof(ch_settings, refresh_token)},
    {"zns_api_base", CH_KT_URL, "https://business.openapi.zalo.me", 0, 0, NULL,
     offsetof(ch_settings, api_base)},
    /* Tag 2/3 ZNS go 07:00-22:00 only (vn-rules.md §6c); -133 refuses the night anyway */
    {"zns_quiet_hours", CH_KT_HOURS, "22:00-07:00", 0, 0, NULL, offsetof(ch_settings, quiet_hours)},
    /* Tag 1 (transaction) ZNS go round the clock (vn-rules.md §6c): a dossier's own notice
     * is one; -133 still keeps ZNS itself from sending at night (retried at 06:00) */
    {"zns_transaction_quiet_hours", CH_KT_HOURS, "", 0, 0, NULL,
     offsetof(ch_settings, tx_quiet_hours)},
    {"price_per_zns_vnd", CH_KT_INT, "0", 0, 100000, NULL, offsetof(ch_settings, price_vnd)},
    {"zns_unreachable_days", CH_KT_INT, "30", 1, 365, NULL,
     offsetof(ch_settings, unreachable_days)},
};

static const ch_policy zns_policy = {.quiet_hours = 1,
                                     .night_start_min = -1,
                                     .night_end_min = -1,
                                     .phone_recipient = 1,
                                     .remembers = 1,
                                     .default_rate = 20};

const ch_adapter ch_zns_adapter = {
    .name = ZNS_CHANNEL,
    .render = zns_render,
    .classify = zns_classify,
    .keys = zns_keys,
    .n_keys = sizeof zns_keys / sizeof zns_keys[0],
    .can_send = zns_can_send,
    .policy = &zns_policy,
    .preview = zns_preview,
    .section = "zalo",
    .token_of = "zalo",
    .tpl_info_render = zns_tpl_info_render,
    .tpl_info_parse = zns_tpl_info_parse,
};
