/*
 * gw_msglog.c — the message log: GET /notifications?recipient=&since=&status=&limit=
 * (officers.md "Message log": how an officer answers "I never got the SMS"), and the
 * index it reads, written by every endpoint that makes notifications.
 *
 * Big idea: a notification lives in the partition its id names, its recipient in the
 * partition of "<channel>:<user>" (a phone: of "<sms channel>:<phone>"). The index is
 * the recipient's: one zset per department and recipient (msglog:<dept>:<who>, ids by
 * creation time) in the recipient's partition, so a search by phone reads one key, then
 * the notifications it names, partition by partition. Per the keyspace's rule the index
 * entry is an idempotent step written BEFORE the notification (a crash in between leaves
 * an entry naming nothing, which the reader skips; never a notification the log cannot
 * find). Each write also trims what is older than [scheduler] retention_days and sets
 * the key to expire that long after the last write: the key's name holds the phone, so
 * it must not outlive the personal data it points at.
 */
#include "gateway/api/gw_api_int.h"

#include "core/mc.h"
#include "gateway/app/gw_channels.h"
#include "gateway/app/gw_log.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MS ((int64_t)86400000)
#define LOG_DEF 50       /* notifications one GET answers without limit */
#define LOG_MAX 200      /* ... at most */
#define LOG_SCAN 500     /* index entries one GET reads (the status filter may drop some) */
#define QUERY_MAX 200    /* a query value, bytes */
#define TO_MAX 160       /* a masked recipient */
#define CHANNELS_MAX 128 /* a notification's channel list */

/* ------------------------------------------------------------- the index */

size_t gw_msglog_whos(const json_t *to, char who[2][GW_MSGLOG_WHO_MAX]) {
    size_t n = 0;
    const char *phone = json_string_value(json_object_get(to, "phone"));
    const char *ch = json_string_value(json_object_get(to, "channel"));
    const char *uid = json_string_value(json_object_get(to, "user_id"));
    if (ch && uid && gw_channel_phone_recipient(ch))
        phone = phone ? phone : uid, ch = NULL; /* an SMS user is a phone */
    if (phone && *phone)
        snprintf(who[n++], GW_MSGLOG_WHO_MAX, "%s", phone);
    if (ch && uid && *ch && *uid) {
        int w = snprintf(who[n], GW_MSGLOG_WHO_MAX, "%s:%s", ch, uid);
        if (w > 0 && w < GW_MSGLOG_WHO_MAX) /* a longer one is no user id of ours */
            n++;
    }
    return n;
}

unsigned gw_msglog_part(const gw_api *a, const char *who) {
    if (who[0] != '+')
        return gw_api_part_of(a, who);
    const char *by_phone = gw_channel_for_phone();
    if (!by_phone) /* no channel takes phones: the log is the phone's own */
        return gw_api_part_of(a, who);
    char c[GW_MSGLOG_WHO_MAX + 16];
    int w = snprintf(c, sizeof c, "%s:%s", by_phone, who);
    return gw_api_part_of(a, w > 0 && (size_t)w < sizeof c ? c : who);
}

/* KEYS the logs to add to (one partition); ARGV cutoff ttl, then per key: ms id. Each
 * gets its entry; what is older than the cutoff goes; the key lives ttl more seconds. */
static const char msglog_add_lua[] = "for i,k in ipairs(KEYS) do\n"
                                     "  redis.call('ZADD',k,ARGV[1+2*i],ARGV[2+2*i])\n"
                                     "  redis.call('ZREMRANGEBYSCORE',k,'-inf','('..ARGV[1])\n"
                                     "  redis.call('EXPIRE',k,ARGV[2])\n"
                                     "end\n"
                                     "return #KEYS\n";

void gw_msglog_note(gw_api_op *o, const json_t *to, const char *id, int64_t ms) {
    char who[2][GW_MSGLOG_WHO_MAX];
    size_t n = gw_msglog_whos(to, who);
    if (!o->log)
        o->log = json_array();
    for (size_t i = 0; o->log && i < n; i++)
        json_array_append_new(o->log, json_pack("{s:s, s:s, s:I, s:I}", "who", who[i], "id", id,
                                                "ms", (json_int_t)ms, "part",
                                                (json_int_t)gw_msglog_part(o->api, who[i])));
}

static long retention_days(const gw_api_op *o) {
    const gw_app *app = gw_api_app(o->api);
    return app ? app->cfg->scheduler_retention_days : 7;
}

/* Step i writes the entries of the i-th partition named (o->keep of the steps: the list
 * of partitions, in o->log's order of first appearance). */
static void log_build(gw_api_op *o, size_t i, gw_argv *av) {
    json_int_t part = json_integer_value(json_array_get(json_object_get(o->log_parts, "p"), i));
    size_t n = 0, k;
    json_t *e;
    json_array_foreach(o->log, k, e) {
        n += json_integer_value(json_object_get(e, "part")) == part;
    }
    *av = GW_API_EVAL(o->api, msglog_add_lua, (int)n);
    json_array_foreach(o->log, k, e) {
        if (json_integer_value(json_object_get(e, "part")) == part)
            gw_argv_addkey(av, gw_api_keys(o->api), GW_K_MSGLOG, (unsigned)part, o->dept,
                           json_string_value(json_object_get(e, "who")));
    }
    long days = retention_days(o);
    gw_argv_addf(av, "%" PRId64, o->now - days * DAY_MS);
    gw_argv_addf(av, "%ld", days * 86400 + 86400); /* a day more: the trims are by write */
    json_array_foreach(o->log, k, e) {
        if (json_integer_value(json_object_get(e, "part")) == part) {
            gw_argv_addf(av, "%" JSON_INTEGER_FORMAT, json_integer_value(json_object_get(e, "ms")));
            gw_argv_adds(av, json_string_value(json_object_get(e, "id")));
        }
    }
}

static void log_each(gw_api_op *o, size_t i, const redisReply *r) {
    (void)o, (void)i, (void)r;
}

static void log_done(gw_api_op *o) {
    json_decref(o->log_parts);
    o->log_parts = NULL;
    gw_api_next_fn *next = o->log_next;
    o->log_next = NULL;
    next(o);
}

void gw_msglog_then(gw_api_op *o, gw_api_next_fn *next) {
    json_t *parts = json_array();
    size_t k;
    json_t *e;
    json_array_foreach(o->log, k, e) {
        json_t *p = json_object_get(e, "part");
        bool seen = false;
        for (size_t j = 0; j < json_array_size(parts) && !seen; j++)
            seen = json_integer_value(json_array_get(parts, j)) == json_integer_value(p);
        if (!seen)
            json_array_append(parts, p);
    }
    json_decref(o->log_parts);
    o->log_parts = json_pack("{s:o}", "p", parts);
    if (!o->log_parts) {
        gw_api_oom(o->rq);
        gw_api_op_free(o);
        return;
    }
    o->log_next = next;
    if (!gw_api_app(o->api)) { /* no store (unit tests): the write answers 503 */
        log_done(o);
        return;
    }
    gw_api_op_steps(o, json_array_size(parts), GW_API_INT, log_build, log_each, log_done);
}

/* --------------------------------------------------------------- reading */

/* The recipient of the query: a phone ("+84…", or 0…/84… as citizens write it) or
 * "<channel>:<user>" (an SMS user is its phone). 0 with who set, or MC_EINVAL. */
int gw_msglog_recipient(const char *q, char *who, size_t n) {
    size_t len = strlen(q);
    char phone[GW_API_PHONE_MAX];
    if (!gw_api_phone_normalize(q, len, phone, sizeof phone)) {
        snprintf(who, n, "%s", phone);
        return 0;
    }
    const char *colon = strchr(q, ':');
    if (!colon || colon == q || colon[1] == '\0')
        return MC_EINVAL;
    char ch[32];
    if ((size_t)(colon - q) >= sizeof ch)
        return MC_EINVAL;
    snprintf(ch, sizeof ch, "%.*s", (int)(colon - q), q);
    const char *uid = colon + 1;
    if (!gw_api_channel_known(ch) || !gw_api_user_id_ok(uid, strlen(uid)))
        return MC_EINVAL;
    if (gw_channel_phone_recipient(ch))
        return gw_api_phone_normalize(uid, strlen(uid), who, n) ? MC_EINVAL : 0;
    if (len + 1 > n)
        return MC_EINVAL;
    snprintf(who, n, "%s", q);
    return 0;
}

/* What a GET keeps between its steps (o->res). */
typedef struct log_query {
    char who[GW_MSGLOG_WHO_MAX]; /* the recipient asked about */
    char status[32];             /* the status wanted, "" any */
    int64_t since;               /* from this time on */
    long limit;                  /* answers at most */
} log_query;

/* KEYS the notifications' hashes (one partition); ARGV the ids. Per id: {id, the hash's
 * fields below (or false), its attempts, its due score or false}. */
static const char msglog_read_lua[] =
    "local out={}\n"
    "for i,k in ipairs(KEYS) do\n"
    "  local id=ARGV[i]\n"
    "  local h=redis.call('HMGET',k,'dept','status','to','channels','idx','channel',\n"
    "    'created_ms','send_at_ms','not_after_ms','priority','text','text_removed','broadcast',\n"
    "    'batch','dossier','report','wait','wait_until','sent_ms','dead_reason','dead_ch','test')\n"
    "  if h[1] then\n"
    "    local tx=h[11]\n"
    "    if not tx and h[13] and h[13]~='' then\n"
    "      tx=redis.call('HGET',K.bc_part(h[13]),'text') or false\n"
    "    end\n"
    "    h[11]=tx or false\n"
    "    out[#out+1]={id,h,redis.call('LRANGE',K.attempts(id),0,-1),\n"
    "      redis.call('ZSCORE',K.due(),id) or false}\n"
    "  end\n"
    "end\n"
    "return out\n";

enum {
    H_DEPT,
    H_STATUS,
    H_TO,
    H_CHANNELS,
    H_IDX,
    H_CHANNEL,
    H_CREATED,
    H_SEND_AT,
    H_NOT_AFTER,
    H_PRIORITY,
    H_TEXT,
    H_TEXT_REMOVED,
    H_BROADCAST,
    H_BATCH,
    H_DOSSIER,
    H_REPORT,
    H_WAIT,
    H_WAIT_UNTIL,
    H_SENT,
    H_DEAD_REASON,
    H_DEAD_CH,
    H_TEST,
    H_COUNT
};

static const char *hstr(const redisReply *h, int i) {
    const redisReply *v = h && (size_t)i < h->elements ? h->element[i] : NULL;
    return v && v->type == REDIS_REPLY_STRING ? v->str : NULL;
}

static int64_t hms(const redisReply *h, int i) {
    const char *s = hstr(h, i);
    return s ? strtoll(s, NULL, 10) : 0;
}

/* The recipient as the answer shows it: masked, but for the one asked about. */
static json_t *shown_to(const char *to_json, const char *asked) {
    json_t *to = to_json ? json_loads(to_json, 0, NULL) : NULL;
    if (!json_is_object(to)) {
        json_decref(to);
        return json_null(); /* retention took it */
    }
    const char *phone = json_string_value(json_object_get(to, "phone"));
    const char *ch = json_string_value(json_object_get(to, "channel"));
    const char *uid = json_string_value(json_object_get(to, "user_id"));
    char m[TO_MAX], who[GW_MSGLOG_WHO_MAX];
    json_t *out = json_object();
    if (phone) {
        if (strcmp(phone, asked))
            gw_api_mask(phone, m, sizeof m);
        json_object_set_new(out, "phone", json_string(strcmp(phone, asked) ? m : phone));
    }
    if (ch && uid) {
        snprintf(who, sizeof who, "%s:%s", ch, uid);
        bool same = !strcmp(who, asked) || !strcmp(uid, asked);
        if (!same)
            gw_api_mask(uid, m, sizeof m);
        json_object_set_new(out, "channel", json_string(ch));
        json_object_set_new(out, "user_id", json_string(same ? uid : m));
    }
    json_decref(to);
    return out;
}

/* The i-th channel of a comma-separated list into out; 0, or -1 beyond its end. */
static int nth_channel(const char *list, long i, char *out, size_t n) {
    for (const char *p = list; p && *p; i--) {
        const char *c = strchr(p, ',');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        if (i == 0) {
            snprintf(out, n, "%.*s", (int)(l < n ? l : n - 1), p);
            return 0;
        }
        p = c ? c + 1 : NULL;
    }
    return -1;
}

/* The attempts, each with its time and, for a channel given up, where it went next. */
static json_t *attempts_of(const gw_api_op *o, const redisReply *list, const char *channels) {
    json_t *arr = gw_api_json_list(list), *a;
    size_t i;
    json_array_foreach(arr, i, a) {
        if (!json_is_object(a))
            continue;
        json_t *at = json_object_get(a, "at");
        if (json_is_integer(at)) {
            char t[GW_API_TIME_MAX];
            gw_api_format_time(o->api, json_integer_value(at), t, sizeof t);
            json_object_set_new(a, "at", json_string(t));
        }
        const char *res = json_string_value(json_object_get(a, "result"));
        const char *ch = json_string_value(json_object_get(a, "channel"));
        if (!res || !ch || (strcmp(res, "failed") && strcmp(res, "skipped")))
            continue;
        /* the next channel of the list after this one: the fallback taken */
        char c[32];
        json_t *fb = json_null();
        for (long k = 0; !nth_channel(channels, k, c, sizeof c); k++)
            if (!strcmp(c, ch)) {
                if (!nth_channel(channels, k + 1, c, sizeof c))
                    fb = json_string(c);
                break;
            }
        json_object_set_new(a, "fallback", fb);
    }
    return arr;
}

/* Why a scheduled notification waits: quiet hours, a broadcast's night rule, the rate
 * limit (the scheduler's notes), its send_at, or the chat window it was moved past. */
static json_t *waiting_of(const gw_api_op *o, const redisReply *h, const redisReply *due,
                          json_t *attempts) {
    const char *st = hstr(h, H_STATUS);
    if (!st || strcmp(st, "scheduled"))
        return NULL;
    int64_t at = due && due->type == REDIS_REPLY_STRING ? strtoll(due->str, NULL, 10) : 0;
    const char *wait = hstr(h, H_WAIT);
    int64_t until = hms(h, H_WAIT_UNTIL);
    const char *reason = NULL;
    if (wait && (!strcmp(wait, "quiet_hours") || !strcmp(wait, "night")) && at > o->now &&
        until == at)
        reason = wait;
    else if (wait && !strcmp(wait, "rate_limit") && at <= o->now)
        reason = wait, at = o->now;
    else if (at > o->now && at == hms(h, H_SEND_AT))
        reason = "send_at";
    else {
        json_t *last = json_array_get(attempts, json_array_size(attempts) - 1);
        const char *err = json_string_value(json_object_get(last, "error"));
        if (err && !strcmp(err, "outside_window"))
            reason = "window";
    }
    if (!reason)
        return NULL;
    char t[GW_API_TIME_MAX];
    json_t *w = json_pack("{s:s}", "reason", reason);
    if (at > 0) {
        gw_api_format_time(o->api, at, t, sizeof t);
        json_object_set_new(w, "until", json_string(t));
    }
    return w;
}

/* One notification of the answer; NULL for one to leave out. */
static json_t *one_notif(const gw_api_op *o, const redisReply *e) {
    const log_query *q = o->res;
    const redisReply *h = e->element[1];
    if (h->type != REDIS_REPLY_ARRAY || h->elements < H_COUNT)
        return NULL;
    const char *dept = hstr(h, H_DEPT), *st = hstr(h, H_STATUS);
    if (!dept || strcmp(dept, o->dept) || !st || (*q->status && strcmp(st, q->status)))
        return NULL;
    const char *chs = hstr(h, H_CHANNELS) ? hstr(h, H_CHANNELS) : "";
    json_t *att = attempts_of(o, e->element[2], chs);
    char t[GW_API_TIME_MAX];
    gw_api_format_time(o->api, hms(h, H_CREATED), t, sizeof t);
    json_t *list = json_array();
    char c[32];
    for (long k = 0; !nth_channel(chs, k, c, sizeof c); k++)
        json_array_append_new(list, json_string(c));
    json_t *n = json_pack("{s:s, s:s, s:s, s:o, s:o}", "id", e->element[0]->str, "status", st,
                          "created_at", t, "channels", list, "to", shown_to(hstr(h, H_TO), q->who));
    if (!n) {
        json_decref(att);
        return NULL;
    }
    if (hstr(h, H_CHANNEL))
        json_object_set_new(n, "channel", json_string(hstr(h, H_CHANNEL)));
    if (hstr(h, H_TEXT) && !hstr(h, H_TEXT_REMOVED))
        json_object_set_new(n, "text", json_string(hstr(h, H_TEXT)));
    else if (hstr(h, H_TEXT_REMOVED))
        json_object_set_new(n, "text_removed", json_true());
    if (hstr(h, H_PRIORITY))
        json_object_set_new(n, "priority", json_string(hstr(h, H_PRIORITY)));
    if (hms(h, H_SENT)) {
        gw_api_format_time(o->api, hms(h, H_SENT), t, sizeof t);
        json_object_set_new(n, "sent_at", json_string(t));
    }
    if (hstr(h, H_DEAD_REASON))
        json_object_set_new(n, "dead_reason", json_string(hstr(h, H_DEAD_REASON)));
    static const struct {
        int f;
        const char *name;
    } origins[] = {{H_BROADCAST, "broadcast"},
                   {H_BATCH, "batch"},
                   {H_DOSSIER, "dossier"},
                   {H_REPORT, "report"}};
    for (size_t k = 0; k < MC_ARRAY_LEN(origins); k++)
        if (hstr(h, origins[k].f) && *hstr(h, origins[k].f))
            json_object_set_new(n, origins[k].name, json_string(hstr(h, origins[k].f)));
    if (hstr(h, H_TEST))
        json_object_set_new(n, "test", json_true());
    json_t *w = waiting_of(o, h, e->element[3], att);
    if (w)
        json_object_set_new(n, "waiting", w);
    json_object_set_new(n, "attempts", att);
    json_object_set_new(n, "ms", json_integer(hms(h, H_CREATED)));
    return n;
}

/* Step i reads the notifications of the i-th partition named by the index. */
static void read_build(gw_api_op *o, size_t i, gw_argv *av) {
    json_t *group = json_array_get(json_object_get(o->keep, "groups"), i);
    json_int_t part = json_integer_value(json_object_get(group, "part"));
    json_t *ids = json_object_get(group, "ids"), *id;
    size_t k;
    *av = GW_API_EVAL(o->api, msglog_read_lua, (int)json_array_size(ids));
    json_array_foreach(ids, k, id) {
        gw_argv_addkey(av, gw_api_keys(o->api), GW_K_NOTIF, (unsigned)part, json_string_value(id));
    }
    json_array_foreach(ids, k, id) {
        gw_argv_adds(av, json_string_value(id));
    }
}

static void read_each(gw_api_op *o, size_t i, const redisReply *r) {
    (void)i;
    json_t *out = json_object_get(o->keep, "out");
    for (size_t k = 0; k < r->elements; k++) {
        const redisReply *e = r->element[k];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 4 ||
            e->element[0]->type != REDIS_REPLY_STRING)
            continue;
        json_t *n = one_notif(o, e);
        if (n)
            json_array_append_new(out, n);
    }
}

static int newest_first(const void *x, const void *y) {
    json_int_t a = json_integer_value(json_object_get(*(json_t *const *)x, "ms"));
    json_int_t b = json_integer_value(json_object_get(*(json_t *const *)y, "ms"));
    return (a < b) - (a > b);
}

static void read_done(gw_api_op *o) {
    const log_query *q = o->res;
    json_t *all = json_object_get(o->keep, "out"), *list = json_array();
    size_t n = json_array_size(all);
    json_t **v = n ? calloc(n, sizeof *v) : NULL;
    for (size_t i = 0; v && i < n; i++)
        v[i] = json_array_get(all, i);
    if (v)
        qsort(v, n, sizeof *v, newest_first);
    for (size_t i = 0; v && i < n && (long)i < q->limit; i++) {
        json_object_del(v[i], "ms");
        json_array_append(list, v[i]);
    }
    free(v);
    gw_api_answer(o->rq, 200, json_pack("{s:s, s:o}", "recipient", q->who, "notifications", list));
}

/* The index answered: the ids, grouped by the partition each names. */
static void on_index(gw_api_op *o, const redisReply *r) {
    json_t *groups = json_array();
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        long part = e->type == REDIS_REPLY_STRING
                        ? gw_keyspace_part_of_id(gw_api_keys(o->api), e->str)
                        : -1;
        if (part < 0)
            continue;
        json_t *g = NULL, *x;
        size_t k;
        json_array_foreach(groups, k, x) {
            if (json_integer_value(json_object_get(x, "part")) == part)
                g = x;
        }
        if (!g) {
            g = json_pack("{s:I, s:[]}", "part", (json_int_t)part, "ids");
            json_array_append_new(groups, g);
        }
        json_array_append_new(json_object_get(g, "ids"), json_stringn(e->str, e->len));
    }
    o->keep = json_pack("{s:o, s:[]}", "groups", groups, "out");
    if (!o->keep) {
        gw_api_oom(o->rq);
        return;
    }
    gw_api_op_steps(o, json_array_size(groups), GW_API_ARRAY, read_build, read_each, read_done);
}

static const char *const statuses[] = {"scheduled", "sending", "sent",    "delivered",
                                       "failed",    "dead",    "expired", "cancelled"};

void gw_msglog_get(const gw_api *a, gw_req *rq, const gw_api_token *t) {
    size_t ql;
    const char *qs = gw_req_query(rq, &ql);
    char v[QUERY_MAX + 1];
    log_query q = {0};
    int rc = gw_api_query(qs, ql, "recipient", v, sizeof v);
    if (rc || gw_msglog_recipient(v, q.who, sizeof q.who)) {
        gw_api_fail(rq, 400, rc == MC_ENOTFOUND ? "missing_field" : "bad_field", "recipient",
                    "recipient is a phone (+84912345678 or 0912345678) or <channel>:<user_id>");
        return;
    }
    rc = gw_api_query(qs, ql, "status", q.status, sizeof q.status);
    bool ok = rc == MC_ENOTFOUND;
    for (size_t i = 0; !rc && i < MC_ARRAY_LEN(statuses); i++)
        ok = ok || !strcmp(q.status, statuses[i]);
    if (!ok) {
        gw_api_fail(rq, 400, "bad_field", "status",
                    "status is one of scheduled, sending, sent, delivered, failed, dead, expired, "
                    "cancelled");
        return;
    }
    rc = gw_api_query(qs, ql, "since", v, sizeof v);
    if (!rc && gw_api_parse_since(a, v, &q.since)) {
        gw_api_fail(rq, 400, "bad_field", "since",
                    "since is a date YYYY-MM-DD or a time 2026-12-03T20:11:00+07:00");
        return;
    }
    if (gw_api_query_count(rq, "limit", LOG_DEF, LOG_MAX, &q.limit, "limit is 1..%d", LOG_MAX))
        return;
    gw_api_op *o = gw_api_op_new(a, rq, t);
    if (!o)
        return;
    if (!(o->res = malloc(sizeof q))) {
        gw_api_oom(rq);
        gw_api_op_free(o);
        return;
    }
    memcpy(o->res, &q, sizeof q);
    gw_argv av = {0};
    gw_argv_adds(&av, "ZREVRANGEBYSCORE");
    gw_argv_addkey(&av, gw_api_keys(a), GW_K_MSGLOG, gw_msglog_part(a, q.who), o->dept, q.who);
    gw_argv_adds(&av, "+inf");
    gw_argv_addf(&av, "%" PRId64, q.since);
    gw_argv_adds(&av, "LIMIT");
    gw_argv_adds(&av, "0");
    gw_argv_addf(&av, "%d", LOG_SCAN);
    gw_api_op_send(o, &av, GW_API_ARRAY, on_index);
}
