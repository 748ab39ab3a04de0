/*
 * gw_notifications.c — notifications: POST /notifications, GET
 * /notifications/{id}, and POST /notifications/batch (one notification per
 * row, all written or none).
 *
 * Big idea: one validation and one writing script. A notification body is
 * judged by gw_notif_parse; a batch turns each row into the body of one POST
 * /notifications and judges it with the very same function, then writes all
 * rows with the same script that writes one (notify_lua), idempotency key
 * and all. A body naming a department template is checked in full first, then
 * the template is read and rendered, then the rendered text is written: two
 * round trips, still one write. The scheduler reads what is written here.
 */
#include "gateway/api/gw_api_int.h"

#include "core/mc.h"
#include "gateway/app/gw_channels.h"
#include "gateway/app/gw_log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOTIF_ID_BYTES 16          /* random bytes of a notification id (32 hex) */
#define BATCH_MAX_ROWS 500         /* rows of one batch */
#define BATCH_ROW_MAX 1000000000LL /* largest row number a batch may echo */
#define PROBE_PHONE "+84900000000" /* the recipient a batch's shared fields are checked with */
#define PHONE_FIELD_MAX 16         /* a phone or a channel field, bytes */
#define RECORD_MAX (GW_API_NOTIF_ID_MAX + 80) /* "<hash>|<id>" */
#define TEST_SENDS_MAX 10                     /* a department's broadcast test sends per window */
#define TEST_WINDOW_MIN 10                    /* ... of this many minutes */

/* ---------------------------------------------------------- validation */

/* to → its JSON (owned), the recipient channel ("" for a bare phone) and whether a
 * phone is known. NULL with e set. */
static json_t *parse_to(gw_api_err *e, const json_t *to, const char **channel, bool *has_phone) {
    static const char *const allowed[] = {"phone", "channel", "user_id", NULL};
    *channel = "";
    *has_phone = false;
    if (!json_is_object(to)) {
        gw_api_err_set(e, 400, to ? "bad_field" : "missing_field", "to",
                       "to must be {\"phone\"} or {\"channel\",\"user_id\"}");
        return NULL;
    }
    const char *phone, *ch, *uid;
    size_t plen = 0, ulen = 0;
    if (gw_api_only_fields(e, to, allowed, "to.", GW_API_CUT) ||
        gw_api_str_field(e, to, "phone", "to.phone", PHONE_FIELD_MAX, false, &phone, &plen) ||
        gw_api_str_field(e, to, "channel", "to.channel", PHONE_FIELD_MAX, false, &ch, NULL) ||
        gw_api_str_field(e, to, "user_id", "to.user_id", GW_API_USER_ID_MAX, false, &uid, &ulen))
        return NULL;
    int rc = 0;
    if (phone && !gw_api_phone_ok(phone, plen))
        rc = gw_api_err_set(e, 400, "bad_field", "to.phone",
                            "to.phone must be a Vietnamese mobile number, +84912345678");
    else if (!ch != !uid)
        rc = gw_api_err_set(e, 400, "missing_field", ch ? "to.user_id" : "to.channel",
                            "to.channel and to.user_id go together");
    else if (!ch && !phone)
        rc = gw_api_err_set(e, 400, "missing_field", "to",
                            "to needs a phone or a channel and user_id");
    else if (ch && !gw_api_channel_known(ch))
        rc = gw_api_err_set(e, 400, "bad_field", "to.channel", "unknown channel \"%s\"", ch);
    else if (uid && !gw_api_user_id_ok(uid, ulen))
        rc =
            gw_api_err_set(e, 400, "bad_field", "to.user_id", "to.user_id must be printable ASCII");
    else if (ch && gw_channel_phone_recipient(ch) && !gw_api_phone_ok(uid, ulen))
        rc = gw_api_err_set(e, 400, "bad_field", "to.user_id", "an %s user_id is an E.164 phone",
                            ch);
    if (rc)
        return NULL;
    json_t *out = json_object();
    if (ch) {
        json_object_set_new(out, "channel", json_string(ch));
        json_object_set_new(out, "user_id", json_string(uid));
        *channel = ch;
    }
    if (phone)
        json_object_set_new(out, "phone", json_string(phone));
    *has_phone = phone != NULL || (ch && gw_channel_phone_recipient(ch));
    return out;
}

/* channels (the fallback order) of b, each reachable for the recipient; by
 * default the recipient's channel, then SMS when a phone is known. */
static int parse_channels(gw_api_err *e, const json_t *b, const char *rch, bool has_phone,
                          char *chans, size_t cap) {
    json_t *chs = json_object_get(b, "channels");
    const char *by_phone = gw_channel_for_phone();
    if (!by_phone)
        by_phone = "";
    if (!chs || json_is_null(chs)) {
        if (*rch)
            snprintf(chans, cap, "%s%s%s", rch, has_phone && strcmp(rch, by_phone) ? "," : "",
                     has_phone && strcmp(rch, by_phone) ? by_phone : "");
        else
            snprintf(chans, cap, "%s", by_phone);
        return 0;
    }
    if (!json_is_array(chs) || json_array_size(chs) == 0 ||
        json_array_size(chs) > gw_channel_count() + 1)
        return gw_api_err_set(e, 400, "bad_field", "channels",
                              "channels must be a non-empty array");
    size_t i;
    json_t *c;
    json_array_foreach(chs, i, c) {
        char path[32];
        snprintf(path, sizeof path, "channels[%zu]", i);
        const char *cs = json_string_value(c);
        if (!cs || !gw_api_channel_known(cs))
            return gw_api_err_set(e, 400, "bad_field", path, "unknown channel");
        if (strcmp(cs, rch) && !(has_phone && gw_channel_phone_recipient(cs)))
            return gw_api_err_set(e, 400, "bad_field", path,
                                  "the recipient cannot be reached on %s", cs);
        if (strstr(chans, cs))
            return gw_api_err_set(e, 400, "bad_field", path, "%s is listed twice", cs);
        snprintf(chans + strlen(chans), cap - strlen(chans), "%s%s", *chans ? "," : "", cs);
    }
    return 0;
}

/* 1 when the channel's messages are provider templates. */
static bool templated(const char *ch, size_t len) {
    for (size_t i = 0; i < gw_channel_count(); i++) {
        const ch_adapter *ad = ch_adapter_at(i);
        if (ad->tpl_info_render && strlen(ad->name) == len && !memcmp(ad->name, ch, len))
            return true;
    }
    return false;
}

/*
 * The fallback order once the text step is done: a channel of provider templates in it
 * needs the template linked to it (400 channels otherwise); with the default order and
 * a phone, the linked channel goes right before the channel of phone numbers (ZNS before
 * SMS: cheaper, and after a chat channel whose window may still be open: free). 0 or
 * MC_EINVAL with e.
 */
static int tpl_channels(const gw_api *a, gw_notif *n, gw_api_err *e) {
    const gw_app *app = gw_api_app(a);
    const char *by_phone = gw_channel_for_phone();
    for (const char *p = n->channels; *p;) {
        size_t l = strcspn(p, ",");
        if (templated(p, l) &&
            !(n->msg.tpl_ch && strlen(n->msg.tpl_ch) == l && !memcmp(n->msg.tpl_ch, p, l)))
            return gw_api_err_set(e, 400, "bad_field", "channels",
                                  "%.*s sends only a department template linked to it", (int)l, p);
        p += l + (p[l] == ',');
    }
    if (!n->msg.tpl_ch || n->chans_given || !n->has_phone || !by_phone || !app ||
        !gw_channel_enabled(app->cfg, n->msg.tpl_ch))
        return 0;
    char out[GW_API_CHANNELS_MAX] = "";
    bool put = false;
    for (const char *p = n->channels; *p;) {
        size_t l = strcspn(p, ",");
        if (!put && strlen(by_phone) == l && !memcmp(by_phone, p, l)) {
            snprintf(out + strlen(out), sizeof out - strlen(out), "%s%s", *out ? "," : "",
                     n->msg.tpl_ch);
            put = true;
        }
        snprintf(out + strlen(out), sizeof out - strlen(out), "%s%.*s", *out ? "," : "", (int)l, p);
        p += l + (p[l] == ',');
    }
    snprintf(n->channels, sizeof n->channels, "%s", out);
    return 0;
}

void gw_notif_clear(gw_notif *n) {
    json_decref(n->to);
    free(n->to_json);
    free(n->msg.out_text);
    free(n->msg.tpl_msg);
    memset(n, 0, sizeof *n);
}

int gw_notif_parse(const json_t *b, gw_notif *n, gw_api_err *e) {
    static const char *const allowed[] = {"to",      "text",      "template", "channels",
                                          "send_at", "not_after", "priority", "idempotency_key",
                                          NULL};
    const char *rch;
    bool has_phone;
    memset(n, 0, sizeof *n);
    if (gw_api_only_fields(e, b, allowed, "", GW_API_CUT) ||
        !(n->to = parse_to(e, json_object_get(b, "to"), &rch, &has_phone)) ||
        gw_api_message_fields(e, b, &n->msg) ||
        parse_channels(e, b, rch, has_phone, n->channels, sizeof n->channels) ||
        gw_api_message_times(e, b, &n->msg))
        goto fail;
    n->has_phone = has_phone;
    n->chans_given =
        json_object_get(b, "channels") && !json_is_null(json_object_get(b, "channels"));
    if (n->msg.not_after_ms && n->msg.not_after_ms <= n->msg.send_at_ms) {
        gw_api_err_set(e, 400, "bad_field", "not_after", "not_after must be later than send_at");
        goto fail;
    }
    if (n->msg.not_after_ms && n->msg.not_after_ms <= n->msg.created_ms) {
        gw_api_err_set(e, 400, "bad_field", "not_after", "not_after is in the past");
        goto fail;
    }
    if (!(n->to_json = json_dumps(n->to, JSON_COMPACT))) {
        gw_api_err_set(e, 500, "internal", NULL, "out of memory");
        goto fail;
    }
    return 0;
fail:
    gw_notif_clear(n);
    return MC_EINVAL;
}

/* ------------------------------------------------------------- writing */

/* The one script that writes notifications (POST /notifications: one; a batch:
 * many), all in one partition. KEYS[1] the partition's due set, KEYS[2] idempotency
 * key (optional); ARGV[1] "hash|id", ARGV[2] ttl, ARGV[3] batch id or "", ARGV[4] n,
 * ARGV[5] k, then n times: id, send_at_ms, k field/value strings. A batch also keeps
 * its batch hash (dept, count, ids) as long as its key. Returns {1, "hash|id"} when
 * stored, {0, stored "hash|id", the stored batch's ids or nil} for a known key. */
static const char notify_lua[] =
    "if #KEYS==2 then\n"
    "  if not redis.call('SET',KEYS[2],ARGV[1],'NX','EX',ARGV[2]) then\n"
    "    local v=redis.call('GET',KEYS[2])\n"
    "    local ids=false\n"
    "    if ARGV[3]~='' then\n"
    "      ids=redis.call('HGET',K.batch(string.match(v,'|(.+)$') or ''),'ids')\n"
    "    end\n"
    "    return {0,v,ids}\n"
    "  end\n"
    "end\n"
    "local n,k,p,ids=tonumber(ARGV[4]),tonumber(ARGV[5]),6,{}\n"
    "for i=1,n do\n"
    "  local a={'HSET',K.notif(ARGV[p])}\n"
    "  for j=p+2,p+1+k do a[#a+1]=ARGV[j] end\n"
    "  redis.call(unpack(a))\n"
    "  redis.call('ZADD',KEYS[1],ARGV[p+1],ARGV[p])\n"
    "  ids[#ids+1]=ARGV[p]\n"
    "  p=p+2+k\n"
    "end\n"
    "if ARGV[3]~='' then\n"
    "  local bk=K.batch(ARGV[3])\n"
    "  redis.call('HSET',bk,'dept',ARGV[p],'count',n,'ids',cjson.encode(ids))\n"
    "  redis.call('EXPIRE',bk,ARGV[2])\n"
    "end\n"
    "return {1,ARGV[1]}\n";

/* KEYS[1] notif, KEYS[2] attempts. {-2} none, else {1, dept, status, attempts}. */
static const char get_notif_lua[] =
    "local h=redis.call('HMGET',KEYS[1],'dept','status','text_removed')\n"
    "if not h[1] then return {-2} end\n"
    "return {1,h[1],h[2] or '',redis.call('LRANGE',KEYS[2],0,-1),h[3] or ''}\n";

/*
 * A new id "<partition>-<hex>" into out: the partition of the department's
 * idempotency key of kind when there is one (the key and what it made live
 * together), else the partition the random part falls in. Returns the partition.
 */
static unsigned new_id(gw_api_op *o, const char *kind, const char *key, char *out, size_t n) {
    char hex[2 * NOTIF_ID_BYTES + 1];
    gw_api_random_hex(hex, NOTIF_ID_BYTES);
    unsigned part = key ? gw_api_idem_part(o->api, o->dept, kind, key)
                        : gw_keyspace_part_of(gw_api_keys(o->api), hex, strlen(hex));
    snprintf(out, n, "%u-%s", part, hex);
    return part;
}

/*
 * Sends notify_lua writing rows[0..n) (their id and text made) with their place
 * on the due set of partition part, atomically: with key (an idempotency key of
 * kind, or NULL) the write happens only when the key is new, and "<o->hash>|<id>" is
 * what it keeps. With batch_id, every notification carries batch=<batch_id> and the
 * batch hash keeps the ids. As gw_api_op_send.
 */
static void write_notifs(gw_api_op *o, unsigned part, const gw_notif *rows, size_t n,
                         const char *kind, const char *key, const char *id, const char *batch_id,
                         gw_api_reply_fn *fn) {
    char record[RECORD_MAX];
    snprintf(record, sizeof record, "%s|%s", o->hash, id);
    gw_argv av = GW_API_EVAL(o->api, notify_lua, key ? 2 : 1);
    gw_argv_addkey(&av, gw_api_keys(o->api), GW_K_DUE, part);
    if (key)
        gw_api_add_idem_key(&av, o->api, part, o->dept, kind, key);
    gw_argv_adds(&av, record);
    gw_argv_adds(&av, GW_API_IDEM_TTL_S);
    gw_argv_adds(&av, batch_id ? batch_id : "");
    gw_argv_addf(&av, "%zu", n);
    /* a batch's rows share their template: all carry its provider message, or none */
    const char *tpl_ch = n ? rows[0].msg.tpl_ch : NULL;
    char data_field[GW_API_CHANNELS_MAX + 8] = "";
    if (tpl_ch)
        snprintf(data_field, sizeof data_field, "data:%s", tpl_ch);
    gw_argv_addf(&av, "%d", 20 + (batch_id ? 2 : 0) + (tpl_ch ? 2 : 0)); /* strings per row */
    for (size_t i = 0; i < n; i++) {
        const gw_notif *r = &rows[i];
        gw_argv_adds(&av, r->id);
        gw_argv_addf(&av, "%" PRId64, r->msg.send_at_ms);
        gw_argv_adds(&av, "dept");
        gw_argv_adds(&av, o->dept);
        gw_argv_adds(&av, "status");
        gw_argv_adds(&av, "scheduled");
        gw_argv_adds(&av, "text");
        gw_argv_adds(&av, r->msg.out_text ? r->msg.out_text : "");
        gw_argv_adds(&av, "to");
        gw_argv_adds(&av, r->to_json ? r->to_json : "{}");
        gw_argv_adds(&av, "channels");
        gw_argv_adds(&av, r->channels);
        gw_argv_adds(&av, "idx");
        gw_argv_adds(&av, "0");
        gw_argv_adds(&av, "send_at_ms");
        gw_argv_addf(&av, "%" PRId64, r->msg.send_at_ms);
        gw_argv_adds(&av, "not_after_ms");
        gw_argv_addf(&av, "%" PRId64, r->msg.not_after_ms);
        gw_argv_adds(&av, "priority");
        gw_argv_adds(&av, r->msg.priority ? r->msg.priority : "normal");
        gw_argv_adds(&av, "created_ms");
        gw_argv_addf(&av, "%" PRId64, r->msg.created_ms);
        if (batch_id) {
            gw_argv_adds(&av, "batch");
            gw_argv_adds(&av, batch_id);
        }
        if (tpl_ch) { /* what the scheduler puts on that channel's stream (gw_sched.c) */
            gw_argv_adds(&av, data_field);
            gw_argv_adds(&av, r->msg.tpl_msg ? r->msg.tpl_msg : "");
        }
    }
    if (batch_id)
        gw_argv_adds(&av, o->dept);
    gw_api_op_send(o, &av, GW_API_STATUS, fn);
}

/* ------------------------------------------------------ one notification */

static void notif_clear(void *p) {
    gw_notif_clear(p);
}

/* What the audit trail keeps of a notification: its recipient masked, its channels, its
 * template and priority; never its text. */
static json_t *notif_changes(const gw_notif *n) {
    json_t *to = n->to;
    const char *phone = json_string_value(json_object_get(to, "phone"));
    const char *ch = json_string_value(json_object_get(to, "channel"));
    const char *uid = json_string_value(json_object_get(to, "user_id"));
    char masked[GW_API_USER_ID_MAX + 32] = "";
    if (phone)
        gw_api_mask(phone, masked, sizeof masked);
    else if (ch && uid) {
        int w = snprintf(masked, sizeof masked, "%s:", ch);
        gw_api_mask(uid, masked + w, sizeof masked - (size_t)w);
    }
    return json_pack("{s:s, s:s, s:s?, s:s}", "to", masked, "channels", n->channels, "template",
                     n->msg.tpl_id, "priority", n->msg.priority ? n->msg.priority : "normal");
}

static void on_notify(gw_api_op *o, const redisReply *r) {
    char id[GW_API_NOTIF_ID_MAX + 1];
    bool fresh;
    if (gw_api_idem_reply(o, r, id, &fresh))
        return;
    gw_log(GW_INFO, fresh ? "admin.notification" : "admin.notification_repeat", "{s:s, s:s, s:s}",
           "dept", o->dept, "id", id, "to", o->note);
    const gw_notif *n = o->res;
    if (fresh)
        gw_audit_op(o, n->test_send ? "broadcast.test" : "notification.create", id,
                    notif_changes(n));
    gw_api_answer(o->rq, 202,
                  n->test_send
                      ? json_pack("{s:s, s:s, s:b}", "id", id, "status", "scheduled", "test", 1)
                      : json_pack("{s:s, s:s}", "id", id, "status", "scheduled"));
}

/* Indexed in the recipient's message log: one script writes it. */
static void notify_commit(gw_api_op *o) {
    gw_notif *n = o->res;
    long part = gw_keyspace_part_of_id(gw_api_keys(o->api), n->id);
    write_notifs(o, part < 0 ? 0 : (unsigned)part, n, 1, "", n->msg.idem_key, n->id, NULL,
                 on_notify);
}

/* The text is known (given or rendered): its id, the message log's entry, the write. A
 * repeated idempotency key writes nothing, and its log entry names nothing (skipped). */
static void notify_write(gw_api_op *o) {
    gw_notif *n = o->res;
    gw_api_err e = {0};
    if (tpl_channels(o->api, n, &e)) {
        gw_api_fail_err(o->rq, &e);
        gw_api_op_free(o);
        return;
    }
    if (gw_api_op_hash_body(o)) {
        gw_api_oom(o->rq);
        gw_api_op_free(o);
        return;
    }
    new_id(o, "", n->msg.idem_key, n->id, sizeof n->id);
    snprintf(o->note, sizeof o->note, "%s", n->to_json);
    gw_msglog_note(o, n->to, n->id, n->msg.created_ms);
    gw_msglog_then(o, notify_commit);
}

static int notif_check(gw_api_op *o, gw_api_err *e) {
    return gw_notif_parse(o->body, o->res, e);
}

const gw_api_body_check gw_notification_body = {"notification", sizeof(gw_notif), notif_clear,
                                                notif_check};

void gw_notifications_post(const gw_api *a, gw_req *rq, const gw_api_token *t) {
    gw_api_op *o = gw_api_op_checked(a, rq, t, sizeof(gw_notif), notif_clear, notif_check);
    if (o)
        gw_templates_text(o, &((gw_notif *)o->res)->msg, notify_write);
}

/* ------------------------------------------------- a broadcast's test send */

/* KEYS[1] the department's test_sends; ARGV limit window_ms. {1, n} counted, or {0, ms
 * until the window ends} when the window's limit is reached (nothing counted). */
static const char test_rate_lua[] =
    "local n=tonumber(redis.call('GET',KEYS[1]) or '0')\n"
    "if n>=tonumber(ARGV[1]) then\n"
    "  local ttl=redis.call('PTTL',KEYS[1]) if ttl<0 then ttl=tonumber(ARGV[2]) end\n"
    "  return {0,ttl}\n"
    "end\n"
    "n=redis.call('INCR',KEYS[1])\n"
    "if n==1 then redis.call('PEXPIRE',KEYS[1],ARGV[2]) end\n"
    "return {1,n}\n";

static void on_test_rate(gw_api_op *o, const redisReply *r) {
    if (r->elements < 2 || r->element[1]->type != REDIS_REPLY_INTEGER) {
        gw_api_fail(o->rq, 500, "internal", NULL, "unexpected store answer");
        return;
    }
    if (r->element[0]->integer == 0) {
        long long ms = r->element[1]->integer;
        char extra[64];
        snprintf(extra, sizeof extra, "Retry-After: %lld\r\n", ms > 0 ? (ms + 999) / 1000 : 1);
        gw_api_err e;
        gw_api_err_set(&e, 429, "too_many_requests", NULL,
                       "at most %d test sends per %d minutes for a department; try again later",
                       TEST_SENDS_MAX, TEST_WINDOW_MIN);
        char *body = gw_api_err_json(&e);
        if (!body) {
            gw_api_oom(o->rq);
            return;
        }
        gw_req_respond(o->rq, 429, "application/json", body, strlen(body), extra);
        free(body);
        return;
    }
    notify_write(o);
}

/* The text is known: counted against the department's test sends, then written as one
 * notification (its message log entry, its audit entry broadcast.test). */
static void test_count(gw_api_op *o) {
    gw_argv av = GW_API_EVAL(o->api, test_rate_lua, 1);
    gw_api_add_dept_key(&av, o->api, GW_K_TEST_SENDS, o->dept);
    gw_argv_addf(&av, "%d", TEST_SENDS_MAX);
    gw_argv_addf(&av, "%lld", (long long)TEST_WINDOW_MIN * 60000LL);
    gw_api_op_send(o, &av, GW_API_STATUS, on_test_rate);
}

/* A test send's body: the recipient, the text or template the broadcast would send, and
 * its priority; nothing of the broadcast's audience or times (it goes now). */
static int test_check(gw_api_op *o, gw_api_err *e) {
    static const char *const allowed[] = {"to", "text", "template", "priority", NULL};
    if (gw_api_only_fields(e, o->body, allowed, "", GW_API_CUT))
        return MC_EINVAL;
    /* an officer types their own number as they know it: 0912 345 678 is +84912345678 */
    json_t *to = json_object_get(o->body, "to");
    json_t *ph = json_object_get(to, "phone");
    char norm[GW_API_PHONE_MAX];
    if (json_is_string(ph) &&
        !gw_api_phone_normalize(json_string_value(ph), json_string_length(ph), norm, sizeof norm))
        json_object_set_new(to, "phone", json_string(norm));
    gw_notif *n = o->res;
    int rc = gw_notif_parse(o->body, n, e);
    n->test_send = true;
    return rc;
}

void gw_broadcasts_test(const gw_api *a, gw_req *rq, const gw_api_token *t) {
    gw_api_op *o = gw_api_op_checked(a, rq, t, sizeof(gw_notif), notif_clear, test_check);
    if (o)
        gw_templates_text(o, &((gw_notif *)o->res)->msg, test_count);
}

void gw_notifications_root(const gw_api *a, gw_req *rq, const gw_api_token *t) {
    if (!strcmp(gw_req_method(rq), "POST"))
        gw_notifications_post(a, rq, t);
    else
        gw_msglog_get(a, rq, t);
}

static void on_get_notif(gw_api_op *o, const redisReply *r) {
    if (r->element[0]->integer == -2 || r->elements < 4) {
        gw_api_fail(o->rq, 404, "not_found", NULL, "no notification %s", o->id);
        return;
    }
    if (r->element[1]->type != REDIS_REPLY_STRING || strcmp(r->element[1]->str, o->dept)) {
        gw_api_fail(o->rq, 403, "forbidden", NULL, "notification %s belongs to another department",
                    o->id);
        return;
    }
    json_t *att = gw_api_json_list(r->element[3]);
    const char *st = r->element[2]->type == REDIS_REPLY_STRING ? r->element[2]->str : "";
    json_t *ans = json_pack("{s:s, s:s, s:o}", "id", o->id, "status", st, "attempts", att);
    /* retention (gw_retention.c) removed its text and recipient */
    if (ans && r->elements > 4 && r->element[4]->type == REDIS_REPLY_STRING &&
        !strcmp(r->element[4]->str, "1"))
        json_object_set_new(ans, "text_removed", json_true());
    gw_api_answer(o->rq, 200, ans);
}

void gw_notifications_get(const gw_api *a, gw_req *rq, const gw_api_token *t) {
    gw_api_op *o =
        gw_api_op_for_id(a, rq, t, GW_API_PREFIX "notifications/", GW_API_ID_NOTIF, "notification");
    if (!o)
        return;
    gw_argv av = GW_API_EVAL(a, get_notif_lua, 2);
    gw_argv_addkey(&av, gw_api_keys(a), GW_K_NOTIF, o->part, o->id);
    gw_argv_addkey(&av, gw_api_keys(a), GW_K_ATTEMPTS, o->part, o->id);
    gw_api_op_send(o, &av, GW_API_STATUS, on_get_notif);
}

/* ---------------------------------------------------------------- batch */

/* A batch: one notification per row, all written or none. */
typedef struct batch {
    size_t n;                /* rows */
    gw_notif *notifs;        /* owned, n entries (cleared for bad rows) */
    json_t **bodies;         /* owned: the POST /notifications body made of each row */
    long long *row_no;       /* the row numbers echoed */
    json_t **err;            /* owned: the row's error {row, field, message}, NULL when fine */
    size_t n_bad;            /* rows with an error */
    bool dry_run;            /* check only */
    const gw_rowerrs *words; /* borrowed: the words of row errors */
    const char *tpl_id;      /* borrowed: the shared template's id, or NULL */
    json_t *tpl_data;        /* borrowed: the shared template.data, or NULL */
} batch;

static void batch_clear(void *p) {
    batch *b = p;
    for (size_t i = 0; i < b->n; i++) {
        if (b->notifs)
            gw_notif_clear(&b->notifs[i]);
        if (b->bodies)
            json_decref(b->bodies[i]);
        if (b->err)
            json_decref(b->err[i]);
    }
    free(b->notifs);
    free(b->bodies);
    free(b->row_no);
    free(b->err);
}

/* ------------------------------------------------ row errors' words */

#define ROWERR_TEXT_MAX 400 /* one wording, bytes */

/* The kinds of row error row_errors.txt words (every one required), "other" last. */
static const char *const rowerr_codes[] = {"recipient_missing",
                                           "phone_invalid",
                                           "placeholder_empty",
                                           "placeholder_missing",
                                           "placeholder_unknown",
                                           "channel_missing",
                                           "channel_bad",
                                           "user_id_bad",
                                           "data_bad",
                                           "row_bad",
                                           "other"};
#define ROWERR_N MC_ARRAY_LEN(rowerr_codes)

struct gw_rowerrs {
    char vi[ROWERR_N][ROWERR_TEXT_MAX + 1]; /* Vietnamese, per code */
    char en[ROWERR_N][ROWERR_TEXT_MAX + 1]; /* English, per code */
};

/* One line of row_errors.txt: "<code> = <vi> | <en>". */
static int rowerr_line(void *ctx, char *s, size_t len, char *why, size_t wn) {
    gw_rowerrs *w = ctx;
    char *eq = strchr(s, '='), *bar = eq ? strchr(eq, '|') : NULL;
    if (!ch_utf8_valid(s, len) || !eq || !bar) {
        snprintf(why, wn, "want \"<code> = <Vietnamese> | <English>\" in UTF-8");
        return MC_EPARSE;
    }
    char *code = s, *vi = eq + 1, *en = bar + 1;
    size_t cl = (size_t)(eq - s), vl = (size_t)(bar - vi), el = strlen(en);
    gw_api_trim(&code, &cl);
    gw_api_trim(&vi, &vl);
    gw_api_trim(&en, &el);
    size_t k = 0;
    while (k < ROWERR_N && (strlen(rowerr_codes[k]) != cl || memcmp(rowerr_codes[k], code, cl)))
        k++;
    if (k == ROWERR_N) {
        snprintf(why, wn, "unknown code \"%.*s\"", (int)(cl < 64 ? cl : 64), code);
        return MC_EPARSE;
    }
    if (*w->vi[k]) {
        snprintf(why, wn, "%s is listed twice", rowerr_codes[k]);
        return MC_EPARSE;
    }
    if (!vl || !el || vl > ROWERR_TEXT_MAX || el > ROWERR_TEXT_MAX) {
        snprintf(why, wn, "each text must be 1..%d bytes", ROWERR_TEXT_MAX);
        return MC_EPARSE;
    }
    snprintf(w->vi[k], sizeof w->vi[k], "%.*s", (int)vl, vi);
    snprintf(w->en[k], sizeof w->en[k], "%.*s", (int)el, en);
    return 0;
}

int gw_rowerrs_load(const char *path, gw_rowerrs **out, char *err, size_t errlen) {
    int rc;
    gw_rowerrs *w = *out = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return MC_ENOMEM;
    }
    if ((rc = gw_api_read_lines(path, rowerr_line, w, err, errlen)))
        goto fail;
    for (size_t k = 0; k < ROWERR_N; k++)
        if (!*w->vi[k]) {
            snprintf(err, errlen, "%s: the code %s is missing", path, rowerr_codes[k]);
            rc = MC_EPARSE;
            goto fail;
        }
    return 0;
fail:
    free(w);
    *out = NULL;
    return rc;
}

void gw_rowerrs_free(gw_rowerrs *w) {
    free(w);
}

/* tpl with {field}, {name} and {detail} replaced, into out. */
static void rowerr_render(const char *tpl, const char *field, const char *name, const char *detail,
                          char *out, size_t n) {
    static const char *const keys[] = {"{field}", "{name}", "{detail}"};
    const char *vals[] = {field, name, detail};
    size_t o = 0;
    for (const char *p = tpl; *p && o + 1 < n;) {
        size_t k = 0;
        while (k < MC_ARRAY_LEN(keys) && strncmp(p, keys[k], strlen(keys[k])))
            k++;
        if (k == MC_ARRAY_LEN(keys)) {
            out[o++] = *p++;
            continue;
        }
        size_t vl = strlen(vals[k]);
        if (vl > n - 1 - o)
            vl = ch_utf8_floor(vals[k], vl, n - 1 - o);
        memcpy(out + o, vals[k], vl);
        o += vl;
        p += strlen(keys[k]);
    }
    out[o] = '\0';
}

/* A notification's field names as the row names them. */
static void row_field(const char *f, char *out, size_t n) {
    if (!strcmp(f, "to") || !strcmp(f, "to.phone"))
        snprintf(out, n, "phone");
    else if (!strcmp(f, "to.channel") || !strncmp(f, "channels", 8))
        snprintf(out, n, "channel");
    else if (!strcmp(f, "to.user_id"))
        snprintf(out, n, "user_id");
    else if (!strncmp(f, "template.data", 13))
        snprintf(out, n, "data%s", f + 13);
    else
        snprintf(out, n, "%s", f);
}

/* The kind of row i's error e (an index of rowerr_codes): by the field at fault, and for a
 * placeholder by what the row holds for it (a blank value, none, or one the template does
 * not have). */
static size_t row_kind(const batch *b, size_t i, const gw_api_err *e, const char *name) {
    const char *f = e->field;
    bool missing = !strcmp(e->code, "missing_field");
    if (!strcmp(f, "to"))
        return 0;
    if (!strcmp(f, "to.phone"))
        return 1;
    if (*name) {
        json_t *data = json_object_get(json_object_get(b->bodies[i], "template"), "data");
        json_t *v = json_object_get(data, name);
        if (!missing)
            return 4;
        return json_is_string(v) ? 2 : 3;
    }
    if (!strcmp(f, "channel") && missing)
        return 5;
    if (!strcmp(f, "to.channel") || !strncmp(f, "channels", 8))
        return 6;
    if (!strcmp(f, "to.user_id"))
        return 7;
    if (!strcmp(f, "data"))
        return 8;
    if (!strcmp(f, "row"))
        return 9;
    return ROWERR_N - 1;
}

/* Records the first error of row i, in the row's words ("phone", not "to.phone"), its kind
 * (code) and what row_errors.txt says of it in Vietnamese and English. */
static void row_error(batch *b, size_t i, const gw_api_err *e) {
    char field[sizeof e->field], detail[sizeof e->message + 32];
    char vi[ROWERR_TEXT_MAX + sizeof e->message], en[ROWERR_TEXT_MAX + sizeof e->message];
    row_field(e->field, field, sizeof field);
    size_t fl = strlen(e->field);
    if (fl && !strncmp(e->message, e->field, fl))
        snprintf(detail, sizeof detail, "%s%s", field, e->message + fl);
    else
        snprintf(detail, sizeof detail, "%s", e->message);
    /* a placeholder's column: data.<name> (the template step) or template.data.<name> */
    const char *name = !strncmp(e->field, "template.data.", 14) ? e->field + 14
                       : !strncmp(e->field, "data.", 5)         ? e->field + 5
                                                                : "";
    gw_notif_clear(&b->notifs[i]);
    if (b->err[i])
        return;
    size_t k = b->bodies ? row_kind(b, i, e, name) : ROWERR_N - 1;
    rowerr_render(b->words->vi[k], field, name, detail, vi, sizeof vi);
    rowerr_render(b->words->en[k], field, name, detail, en, sizeof en);
    b->n_bad++;
    b->err[i] = json_pack("{s:I, s:s, s:s, s:s, s:s}", "row", (json_int_t)b->row_no[i], "field",
                          field, "code", rowerr_codes[k], "message", en, "message_vi", vi);
}

static void copy_field(json_t *dst, const json_t *src, const char *name) {
    json_t *v = json_object_get(src, name);
    if (v)
        json_object_set(dst, name, v);
}

/* Row i → the body of one POST /notifications (b->bodies[i]). 0, or MC_EINVAL
 * with the row's error in e. */
static int row_body(batch *bt, size_t i, const json_t *row, const json_t *req, gw_api_err *e) {
    static const char *const allowed[] = {"row", "phone", "channel", "user_id", "data", NULL};
    static const char *const shared[] = {"text", "priority", "send_at", "not_after"};
    if (!json_is_object(row))
        return gw_api_err_set(e, 400, "bad_field", "row", "a row is an object");
    json_t *rn = json_object_get(row, "row");
    if (rn && !json_is_null(rn)) {
        if (!json_is_integer(rn) || json_integer_value(rn) < 1 ||
            json_integer_value(rn) > BATCH_ROW_MAX)
            return gw_api_err_set(e, 400, "bad_field", "row", "row is a positive integer");
        bt->row_no[i] = json_integer_value(rn);
    }
    if (gw_api_only_fields(e, row, allowed, "", GW_API_CUT_CONSOLE))
        return MC_EINVAL;
    json_t *nb = json_object(), *to = json_object();
    json_object_set_new(nb, "to", to);
    bt->bodies[i] = nb;
    json_t *ch = json_object_get(row, "channel"), *uid = json_object_get(row, "user_id");
    /* a spreadsheet's 0912 345 678 is the number +84912345678; what is no number stays
     * as written, for the row's error */
    const char *ph = json_string_value(json_object_get(row, "phone"));
    char norm[GW_API_PHONE_MAX];
    if (ph && !gw_api_phone_normalize(ph, json_string_length(json_object_get(row, "phone")), norm,
                                      sizeof norm))
        json_object_set_new(to, "phone", json_string(norm));
    else
        copy_field(to, row, "phone");
    if (uid && !json_is_null(uid)) {
        if (!ch || json_is_null(ch))
            return gw_api_err_set(e, 400, "missing_field", "channel",
                                  "a row with a user_id needs its channel");
        json_object_set(to, "channel", ch);
        json_object_set(to, "user_id", uid);
    }
    if (ch && !json_is_null(ch))
        json_object_set_new(nb, "channels", json_pack("[O]", ch));
    for (size_t k = 0; k < MC_ARRAY_LEN(shared); k++)
        copy_field(nb, req, shared[k]);
    json_t *data = json_object_get(row, "data");
    if (data && !json_is_null(data)) {
        if (!json_is_object(data))
            return gw_api_err_set(e, 400, "bad_field", "data",
                                  "data is an object of placeholder values");
        if (!bt->tpl_id)
            return gw_api_err_set(e, 400, "bad_field", "data",
                                  "data fills a template; this batch sends a text");
    }
    if (bt->tpl_id) {
        json_t *merged = bt->tpl_data ? json_deep_copy(bt->tpl_data) : json_object();
        if (data && !json_is_null(data))
            json_object_update(merged, data);
        json_object_set_new(nb, "template",
                            json_pack("{s:s, s:o}", "id", bt->tpl_id, "data", merged));
    }
    return 0;
}

static void on_batch_write(gw_api_op *o, const redisReply *r) {
    batch *bt = o->res;
    char id[GW_API_NOTIF_ID_MAX + 1];
    bool fresh;
    if (gw_api_idem_reply(o, r, id, &fresh))
        return;
    json_t *ids = NULL;
    if (!fresh && r->elements > 2 && r->element[2]->type == REDIS_REPLY_STRING)
        ids = json_loadb(r->element[2]->str, r->element[2]->len, 0, NULL);
    if (!json_is_array(ids)) {
        json_decref(ids);
        ids = json_array();
        for (size_t i = 0; fresh && i < bt->n; i++)
            json_array_append_new(ids, json_string(bt->notifs[i].id));
    }
    gw_log(GW_INFO, fresh ? "console.batch" : "console.batch_repeat", "{s:s, s:s, s:I}", "dept",
           o->dept, "batch", id, "count", (json_int_t)json_array_size(ids));
    if (fresh)
        gw_audit_op(o, "notification.batch", id,
                    json_pack("{s:I, s:s?}", "count", (json_int_t)json_array_size(ids), "template",
                              bt->tpl_id));
    gw_api_answer(o->rq, 202,
                  json_pack("{s:s, s:I, s:o}", "batch", id, "count",
                            (json_int_t)json_array_size(ids), "ids", ids));
}

/* What a batch's valid rows will cost: each on the first channel of its order (ZNS for a
 * phone when the template is linked, else SMS; a chat channel is free), its units of its
 * own text; a fallback costs only when that channel cannot reach. "cost" per channel and
 * the total "cost_vnd" into ans. 0 or MC_ENOMEM. */
static int batch_cost(const gw_api *a, const batch *bt, json_t *ans) {
    const gw_app *app = gw_api_app(a);
    json_t *cost = json_object();
    if (!cost)
        return MC_ENOMEM;
    for (size_t i = 0; i < bt->n; i++) {
        const gw_notif *n = &bt->notifs[i];
        if (bt->err[i] || !n->msg.out_text)
            continue;
        char ch[GW_API_CHANNELS_MAX];
        snprintf(ch, sizeof ch, "%.*s", (int)strcspn(n->channels, ","), n->channels);
        long u = gw_cost_units(app, ch, n->msg.out_text, strlen(n->msg.out_text));
        if (*ch && gw_cost_add(app, cost, ch, 1, u)) {
            json_decref(cost);
            return MC_ENOMEM;
        }
    }
    json_object_set_new(ans, "cost_vnd", json_integer(gw_cost_total(cost)));
    json_object_set_new(ans, "cost", cost);
    return 0;
}

/* Every row indexed in its recipient's message log: one script writes them all. */
static void batch_commit(gw_api_op *o) {
    batch *bt = o->res;
    const char *key = json_string_value(json_object_get(o->body, "idempotency_key"));
    long part = gw_keyspace_part_of_id(gw_api_keys(o->api), o->id);
    write_notifs(o, part < 0 ? 0 : (unsigned)part, bt->notifs, bt->n, "batch:", key, o->id, o->id,
                 on_batch_write);
}

/* Every row is judged: answer the dry run, refuse, or write all of them. */
static void batch_finish(gw_api_op *o) {
    batch *bt = o->res;
    size_t invalid = bt->n_bad, valid = bt->n - invalid;
    json_t *errors = json_array();
    for (size_t i = 0; i < bt->n; i++)
        if (bt->err[i])
            json_array_append(errors, bt->err[i]);
    if (bt->dry_run) {
        json_t *ans = json_pack("{s:I, s:I, s:o}", "valid", (json_int_t)valid, "invalid",
                                (json_int_t)invalid, "errors", errors);
        for (size_t i = 0; ans && i < bt->n; i++)
            if (!bt->err[i]) {
                json_object_set_new(ans, "preview",
                                    json_pack("{s:I, s:s}", "row", (json_int_t)bt->row_no[i],
                                              "text", bt->notifs[i].msg.out_text));
                break;
            }
        if (ans && batch_cost(o->api, bt, ans)) {
            json_decref(ans);
            ans = NULL;
        }
        if (!ans) {
            gw_api_oom(o->rq);
            gw_api_op_free(o);
            return;
        }
        gw_api_answer(o->rq, 200, ans);
        gw_api_op_free(o);
        return;
    }
    if (invalid) {
        char msg[160];
        snprintf(msg, sizeof msg, "%zu of %zu rows are invalid; nothing was written", invalid,
                 bt->n);
        gw_api_answer(o->rq, 400,
                      json_pack("{s:s, s:s, s:s, s:o}", "error", "invalid_rows", "field", "rows",
                                "message", msg, "errors", errors));
        gw_api_op_free(o);
        return;
    }
    json_decref(errors);
    if (gw_api_op_hash_body(o)) {
        gw_api_oom(o->rq);
        gw_api_op_free(o);
        return;
    }
    const char *key = json_string_value(json_object_get(o->body, "idempotency_key"));
    new_id(o, "batch:", key, o->id, sizeof o->id);
    for (size_t i = 0; i < bt->n; i++) {
        snprintf(bt->notifs[i].id, sizeof bt->notifs[i].id, "%.*s-%u", GW_API_NOTIF_ID_MAX - 8,
                 o->id, (unsigned)(i + 1) % 10000000u); /* < 500 */
        gw_msglog_note(o, bt->notifs[i].to, bt->notifs[i].id, bt->notifs[i].msg.created_ms);
    }
    gw_msglog_then(o, batch_commit);
}

/* The batch's template came: the template and the shared values are the
 * whole batch's fault, each row's own values its own. */
static void on_batch_tpl(gw_api_op *o, const redisReply *r) {
    batch *bt = o->res;
    gw_api_err e = {0};
    if (gw_templates_use(r, bt->tpl_data, "template.data.", false, NULL, &e)) {
        gw_api_fail_err(o->rq, &e);
        return;
    }
    for (size_t i = 0; i < bt->n; i++) {
        if (bt->err[i])
            continue; /* its first error is known */
        json_t *data = json_object_get(json_object_get(bt->bodies[i], "template"), "data");
        memset(&e, 0, sizeof e);
        if (gw_templates_use(r, data, "data.", true, &bt->notifs[i].msg.out_text, &e) ||
            gw_templates_provider(r, data, "data.", &bt->notifs[i].msg, &e) ||
            tpl_channels(o->api, &bt->notifs[i], &e)) {
            if (e.status >= 500) {
                gw_api_fail_err(o->rq, &e);
                return;
            }
            row_error(bt, i, &e);
        }
    }
    batch_finish(o);
}

/* The shared fields of a batch body, judged once as one notification's would
 * be (with a well-formed recipient); then a slot per row in bt. */
static int batch_init(batch *bt, const json_t *b, gw_api_err *e) {
    static const char *const allowed[] = {"dry_run",         "template", "text",
                                          "priority",        "send_at",  "not_after",
                                          "idempotency_key", "rows",     NULL};
    static const char *const shared[] = {"text",    "template",  "priority",
                                         "send_at", "not_after", "idempotency_key"};
    if (gw_api_only_fields(e, b, allowed, "", GW_API_CUT_CONSOLE))
        return MC_EINVAL;
    json_t *dry = json_object_get(b, "dry_run"), *rows = json_object_get(b, "rows");
    if (dry && !json_is_boolean(dry))
        return gw_api_err_set(e, 400, "bad_field", "dry_run", "dry_run is true or false");
    if (!rows || json_is_null(rows))
        return gw_api_err_set(e, 400, "missing_field", "rows", "rows is required");
    if (!json_is_array(rows) || json_array_size(rows) == 0 ||
        json_array_size(rows) > BATCH_MAX_ROWS)
        return gw_api_err_set(e, 400, "bad_field", "rows", "rows is an array of 1..%d rows",
                              BATCH_MAX_ROWS);
    json_t *pb = json_pack("{s:{s:s}}", "to", "phone", PROBE_PHONE);
    for (size_t k = 0; pb && k < MC_ARRAY_LEN(shared); k++)
        copy_field(pb, b, shared[k]);
    gw_notif probe;
    int rc = pb ? gw_notif_parse(pb, &probe, e) : MC_ENOMEM;
    if (!rc)
        gw_notif_clear(&probe);
    json_decref(pb);
    if (rc) {
        if (!e->status)
            gw_api_err_set(e, 500, "internal", NULL, "out of memory");
        return rc;
    }
    size_t n = json_array_size(rows);
    if (!(bt->notifs = calloc(n, sizeof *bt->notifs)) ||
        !(bt->bodies = calloc(n, sizeof *bt->bodies)) ||
        !(bt->row_no = calloc(n, sizeof *bt->row_no)) || !(bt->err = calloc(n, sizeof *bt->err)))
        return gw_api_err_set(e, 500, "internal", NULL, "out of memory");
    bt->n = n;
    bt->dry_run = json_is_true(dry);
    json_t *tpl = json_object_get(b, "template");
    bt->tpl_id = json_string_value(json_object_get(tpl, "id"));
    bt->tpl_data = json_object_get(tpl, "data");
    if (bt->tpl_data && !json_is_object(bt->tpl_data))
        bt->tpl_data = NULL;
    return 0;
}

/* The batch body, then each row (a row's first error is kept, not answered). */
static int batch_check(gw_api_op *o, gw_api_err *e) {
    batch *bt = o->res;
    bt->words = gw_api_rowerrs(o->api);
    if (batch_init(bt, o->body, e))
        return MC_EINVAL;
    json_t *rows = json_object_get(o->body, "rows");
    for (size_t i = 0; i < bt->n; i++) {
        bt->row_no[i] = (long long)i + 1;
        memset(e, 0, sizeof *e);
        if (row_body(bt, i, json_array_get(rows, i), o->body, e) ||
            gw_notif_parse(bt->bodies[i], &bt->notifs[i], e)) {
            row_error(bt, i, e);
            continue;
        }
        if (!bt->tpl_id && !(bt->notifs[i].msg.out_text = strdup(bt->notifs[i].msg.text)))
            return gw_api_err_set(e, 500, "internal", NULL, "out of memory");
        if (!bt->tpl_id && tpl_channels(o->api, &bt->notifs[i], e))
            row_error(bt, i, e); /* a text cannot go by a channel of provider templates */
    }
    memset(e, 0, sizeof *e);
    return 0;
}

const gw_api_body_check gw_batch_body = {"batch", sizeof(batch), batch_clear, batch_check};

void gw_notifications_batch(const gw_api *a, gw_req *rq, const gw_api_token *t) {
    gw_api_op *o = gw_api_op_checked(a, rq, t, sizeof(batch), batch_clear, batch_check);
    if (!o)
        return;
    const batch *bt = o->res;
    if (bt->tpl_id)
        gw_templates_fetch_use(o, bt->tpl_id, on_batch_tpl);
    else
        batch_finish(o);
}
