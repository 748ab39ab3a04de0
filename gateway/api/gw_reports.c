/*
 * gw_reports.c — what the department console reads about sending: the daily
 * outcome counters (GET /stats), the department's dead letters (GET /dead)
 * and their retry (POST /dead/{id}/retry).
 *
 * Big idea: nothing here keeps its own books. The counters, the per-department
 * dead list and the index of finished notifications (final) are written, in each
 * partition for the notifications of that partition, by
 * the very scripts that settle a notification (GW_DAY_NOTE_LUA of
 * gateway/store/gw_lua.h, called from the scheduler and the sender), in the
 * same atomic step as the status change, so they cannot drift from the
 * statuses. This file only reads them, partition by partition (one script reading
 * one hash per day; one script reading the dead list and the notifications it
 * names), adding them up, and writes through one script per logical change: a
 * retry checks ownership, state, not_after and retention and puts the notification
 * back on its partition's due set in one step.
 */
#include "gateway/api/gw_api_int.h"
#include "gateway/app/gw_time.h"

#include "core/mc.h"
#include "gateway/app/gw_channels.h"
#include "gateway/app/gw_log.h"
#include "gateway/store/gw_keys.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEF_DAYS 7     /* GET /stats without days */
#define MAX_DAYS 31    /* days one GET /stats may ask for */
#define DEF_DEAD 50    /* GET /dead without limit */
#define MAX_DEAD 200   /* dead letters one GET /dead may ask for */
#define CH_NAME_MAX 16 /* a channel name in a counter field */
#define TO_MAX 160     /* a masked recipient */

static const char *const outcomes[] = {"sent", "delivered", "failed", "dead", "expired"};

static const char *str_of(const redisReply *r) {
    return r && r->type == REDIS_REPLY_STRING ? r->str : "";
}

/* -------------------------------------------------------------- stats */

/* KEYS: the day hashes, oldest first. Returns one HGETALL per key. */
static const char stats_lua[] = "local r={}\n"
                                "for i,k in ipairs(KEYS) do r[i]=redis.call('HGETALL',k) end\n"
                                "return r\n";

/* The counters object of one channel, created with every outcome at 0. */
static json_t *channel_obj(json_t *chans, const char *ch) {
    json_t *c = json_object_get(chans, ch);
    if (c)
        return c;
    c = json_object();
    for (size_t i = 0; i < MC_ARRAY_LEN(outcomes); i++)
        json_object_set_new(c, outcomes[i], json_integer(0));
    json_object_set_new(chans, ch, c);
    return c;
}

/* Adds "<channel>:<outcome>" = count to chans (one partition's share); fields of another shape are
 * skipped. */
static void add_counter(json_t *chans, const redisReply *f, const redisReply *v) {
    if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
        return;
    const char *colon = memchr(f->str, ':', f->len);
    if (!colon)
        return;
    size_t cl = (size_t)(colon - f->str);
    const char *oc = colon + 1;
    size_t ol = f->len - cl - 1;
    if (cl == 0 || cl > CH_NAME_MAX)
        return;
    for (size_t i = 0; i < cl; i++)
        if (!((f->str[i] >= 'a' && f->str[i] <= 'z') || f->str[i] == '-'))
            return;
    for (size_t i = 0; i < MC_ARRAY_LEN(outcomes); i++) {
        if (strlen(outcomes[i]) != ol || memcmp(outcomes[i], oc, ol))
            continue;
        char ch[CH_NAME_MAX + 1];
        memcpy(ch, f->str, cl);
        ch[cl] = '\0';
        json_t *c = channel_obj(chans, ch);
        json_int_t had = json_integer_value(json_object_get(c, outcomes[i]));
        json_object_set_new(c, outcomes[i], json_integer(had + strtoll(v->str, NULL, 10)));
        return;
    }
}

/* ---- cost: what was sent, priced per channel (issue 14) ---- */

#define UNITS_SUFFIX ":units" /* the day's "<channel>:units" counter (gw_ack_lua.c) */

/* Adds a "<channel>:units" counter (what the provider charged for what was sent: SMS
 * segments, ZNS messages) to the day's "cost" object, {channel: {units}}; other fields are
 * add_counter's. */
static void add_units(json_t *day, const redisReply *f, const redisReply *v) {
    size_t sl = sizeof UNITS_SUFFIX - 1;
    if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING || f->len <= sl ||
        f->len - sl > CH_NAME_MAX || memcmp(f->str + f->len - sl, UNITS_SUFFIX, sl))
        return;
    char ch[CH_NAME_MAX + 1];
    memcpy(ch, f->str, f->len - sl);
    ch[f->len - sl] = '\0';
    if (!gw_channel_known(ch))
        return;
    json_t *cost = json_object_get(day, "cost");
    if (!cost)
        json_object_set_new(day, "cost", cost = json_object());
    json_t *c = json_object_get(cost, ch);
    if (!c)
        json_object_set_new(cost, ch, c = json_pack("{s:I}", "units", (json_int_t)0));
    json_int_t had = json_integer_value(json_object_get(c, "units"));
    json_object_set_new(c, "units", json_integer(had + strtoll(v->str, NULL, 10)));
}

/* Each day's units priced ([sms] price_per_segment_vnd, [zalo] price_per_zns_vnd) into its
 * cost_vnd, and the whole answer's cost_vnd per channel; a channel without a price has
 * units and no cost. */
static void stats_cost(const gw_api *a, json_t *keep) {
    const gw_app *app = gw_api_app(a);
    json_t *total = json_object();
    size_t i;
    json_t *day;
    json_array_foreach(json_object_get(keep, "days"), i, day) {
        const char *ch;
        json_t *c;
        json_object_foreach(json_object_get(day, "cost"), ch, c) {
            const ch_settings *st = app ? gw_channel_conf(app->cfg, ch) : NULL;
            if (!st || st->price_vnd <= 0)
                continue;
            json_int_t cost = json_integer_value(json_object_get(c, "units")) * st->price_vnd;
            json_object_set_new(c, "cost_vnd", json_integer(cost));
            json_int_t had = json_integer_value(json_object_get(total, ch));
            json_object_set_new(total, ch, json_integer(had + cost));
        }
    }
    json_object_set_new(keep, "cost_vnd", total ? total : json_object());
}

/* GET /stats: every partition holds its share of the department's counters; each is
 * read in turn (one script per partition, one hash per day) and added up. */
static void stats_build(gw_api_op *o, size_t part, gw_argv *av) {
    long days = o->n;
    int64_t first_day = gw_api_day(o->api, o->now) - days + 1;
    *av = GW_API_EVAL(o->api, stats_lua, (int)days);
    for (long i = 0; i < days; i++) {
        char date[GW_API_DATE_LEN];
        gw_date_of_day(first_day + i, date);
        gw_argv_addkey(av, gw_api_keys(o->api), GW_K_STATS, (unsigned)part, o->dept, date);
    }
}

static void stats_each(gw_api_op *o, size_t part, const redisReply *r) {
    (void)part;
    json_t *days = json_object_get(o->keep, "days");
    for (size_t i = 0; i < r->elements && i < json_array_size(days); i++) {
        json_t *chans = json_object_get(json_array_get(days, i), "channels");
        const redisReply *h = r->element[i];
        if (h->type == REDIS_REPLY_ARRAY)
            for (size_t k = 0; k + 1 < h->elements; k += 2) {
                add_counter(chans, h->element[k], h->element[k + 1]);
                add_units(json_array_get(days, i), h->element[k], h->element[k + 1]);
            }
    }
}

static void stats_done(gw_api_op *o) {
    stats_cost(o->api, o->keep);
    gw_api_answer(o->rq, 200, json_incref(o->keep));
}

/* The op of a listing whose length the query names (name=1..max, def when
 * absent) into o->n; NULL once answered. */
static gw_api_op *listing(const gw_api *a, gw_req *rq, const gw_api_token *t, const char *name,
                          long def, long max) {
    long n;
    if (gw_api_query_count(rq, name, def, max, &n, "%s must be a whole number from 1 to %ld", name,
                           max))
        return NULL;
    gw_api_op *o = gw_api_op_new(a, rq, t);
    if (o)
        o->n = n;
    return o;
}

void gw_reports_stats(const gw_api *a, gw_req *rq, const gw_api_token *t) {
    gw_api_op *o = listing(a, rq, t, "days", DEF_DAYS, MAX_DAYS);
    if (!o)
        return;
    int64_t first_day = gw_api_day(o->api, o->now) - o->n + 1;
    json_t *days = json_array();
    for (long i = 0; days && i < o->n; i++) {
        char date[GW_API_DATE_LEN];
        gw_date_of_day(first_day + i, date);
        json_t *chans = json_object();
        for (size_t c = 0; c < gw_channel_count(); c++)
            channel_obj(chans, gw_channel_name(c));
        json_array_append_new(days, json_pack("{s:s, s:o}", "date", date, "channels", chans));
    }
    gw_api_op_parts(o, json_pack("{s:o}", "days", days), GW_API_ARRAY, stats_build, stats_each,
                    stats_done);
}

/* --------------------------------------------------------- dead letters */

/* KEYS[1] the department's dead list of one partition; ARGV: limit, the channel of
 * phone numbers. Newest first, only notifications still dead: {id, channel, recipient
 * on that channel (raw), reason, dead_ms, attempts, broadcast, not_after_ms, has_text}.
 * A broadcast recipient has no text of its own: it has its broadcast's while that
 * partition's copy has one. */
static const char dead_list_lua[] =
    "local function recipient(to,ch)\n"
    "  if to.channel==ch and type(to.user_id)=='string' then return to.user_id end\n"
    "  if ch==ARGV[2] and type(to.phone)=='string' then return to.phone end\n"
    "  if type(to[ch])=='string' then return to[ch] end\n"
    "  return ''\n"
    "end\n"
    "local out={}\n"
    "for _,id in ipairs(redis.call('ZREVRANGE',KEYS[1],0,tonumber(ARGV[1])-1)) do\n"
    "  local h=redis.call('HMGET',K.notif(id),'status','to','dead_ch','channel',\n"
    "    "
    "'dead_reason','dead_ms','dead_attempts','broadcast','not_after_ms','text','text_removed')\n"
    "  if h[1]=='dead' then\n"
    "    local ch=h[3] or h[4] or ''\n"
    "    local ok,to=pcall(cjson.decode,h[2] or '')\n"
    "    local rc=(ok and type(to)=='table') and recipient(to,ch) or ''\n"
    "    local tx=h[10]\n"
    "    if not tx and h[8] and h[8]~='' then\n"
    "      tx=redis.call('HEXISTS',K.bc_part(h[8]),'text')==1\n"
    "    end\n"
    "    out[#out+1]={id,ch,rc,h[5] or '',h[6] or '0',h[7] or '0',h[8] or '',h[9] or '0',\n"
    "      (tx and h[11]~='1') and '1' or '0'}\n"
    "  end\n"
    "end\n"
    "return out\n";

/* GET /dead: each partition's newest dead letters of the department, in turn, then
 * the newest of them all. */
static void dead_build(gw_api_op *o, size_t part, gw_argv *av) {
    const char *by_phone = gw_channel_for_phone();
    *av = GW_API_EVAL(o->api, dead_list_lua, 1);
    gw_argv_addkey(av, gw_api_keys(o->api), GW_K_DEAD_DEPT, (unsigned)part, o->dept);
    gw_argv_addf(av, "%ld", o->n);
    gw_argv_adds(av, by_phone ? by_phone : "");
}

static void dead_each(gw_api_op *o, size_t part, const redisReply *r) {
    (void)part;
    json_t *list = json_object_get(o->keep, "dead");
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 9)
            continue;
        char to[TO_MAX], at[GW_API_TIME_MAX];
        gw_api_mask(str_of(e->element[2]), to, sizeof to);
        int64_t dead_ms = strtoll(str_of(e->element[4]), NULL, 10);
        int64_t not_after = strtoll(str_of(e->element[7]), NULL, 10);
        gw_api_format_time(o->api, dead_ms, at, sizeof at);
        int retryable = !strcmp(str_of(e->element[8]), "1") && (!not_after || o->now <= not_after);
        json_t *d =
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:b, s:I}", "id", str_of(e->element[0]),
                      "channel", str_of(e->element[1]), "to", to, "reason", str_of(e->element[3]),
                      "at", at, "attempts", (json_int_t)strtoll(str_of(e->element[5]), NULL, 10),
                      "retryable", retryable, "ms", (json_int_t)dead_ms);
        if (d && *str_of(e->element[6]))
            json_object_set_new(d, "broadcast", json_string(str_of(e->element[6])));
        if (d)
            json_array_append_new(list, d);
    }
}

static int newest_first(const void *x, const void *y) {
    json_int_t a = json_integer_value(json_object_get(*(json_t *const *)x, "ms"));
    json_int_t b = json_integer_value(json_object_get(*(json_t *const *)y, "ms"));
    return (a < b) - (a > b);
}

static void dead_done(gw_api_op *o) {
    json_t *all = json_object_get(o->keep, "dead"), *list = json_array();
    size_t n = json_array_size(all);
    json_t **v = n ? calloc(n, sizeof *v) : NULL;
    for (size_t i = 0; v && i < n; i++)
        v[i] = json_array_get(all, i);
    if (v)
        qsort(v, n, sizeof *v, newest_first);
    for (size_t i = 0; v && i < n && (long)i < o->n; i++) {
        json_object_del(v[i], "ms");
        json_array_append(list, v[i]);
    }
    free(v);
    gw_api_answer(o->rq, 200, json_pack("{s:o}", "dead", list));
}

void gw_reports_dead(const gw_api *a, gw_req *rq, const gw_api_token *t) {
    gw_api_op *o = listing(a, rq, t, "limit", DEF_DEAD, MAX_DEAD);
    if (!o)
        return;
    gw_api_op_parts(o, json_pack("{s:[]}", "dead"), GW_API_ARRAY, dead_build, dead_each, dead_done);
}

/* KEYS[1] the notification, KEYS[2] its partition's due set, KEYS[3] the
 * department's dead list there; ARGV: dept, id, now. {-2} none, {-1} other department,
 * {0, why} not retryable, {1} queued again from the first channel of its list. A broadcast
 * recipient goes back to "not finished" in its broadcast's counters (bc_note counted it dead and
 * finished), so the broadcast is sending again until it settles. */
static const char retry_lua[] =
    "local k=KEYS[1]\n"
    "if redis.call('EXISTS',k)==0 then return {-2} end\n"
    "local h=redis.call('HMGET',k,'dept','status','text','text_removed','not_after_ms',\n"
    "  'channels','broadcast','dead_ch')\n"
    "if h[1]~=ARGV[1] then return {-1} end\n"
    "if h[2]~='dead' then return {0,'the notification is '..(h[2] or 'unknown')..', not dead'} "
    "end\n"
    "local tx=h[3]\n"
    "if not tx and h[7] and h[7]~='' then\n"
    "  tx=redis.call('HEXISTS',K.bc_part(h[7]),'text')==1\n"
    "end\n"
    "if not tx or h[4]=='1' then return {0,'its text was removed by retention'} end\n"
    "local now=tonumber(ARGV[3]) local na=tonumber(h[5]) or 0\n"
    "if na>0 and now>na then return {0,'its not_after has passed'} end\n"
    "local bc=h[7] local bk=nil\n"
    "if bc and bc~='' and redis.call('EXISTS',K.bc_part(bc))==1 then\n"
    "  bk=K.bc_part(bc)\n"
    "  if redis.call('HGET',bk,'status')=='cancelled' then\n"
    "    return {0,'its broadcast was cancelled'}\n"
    "  end\n"
    "end\n"
    "local first=string.match(h[6] or '','[^,%s]+') or ''\n"
    "redis.call('HSET',k,'status','scheduled','idx','0')\n"
    "redis.call('HDEL',k,'dead_reason','dead_ms','dead_ch','dead_attempts')\n"
    "redis.call('ZADD',KEYS[2],now,ARGV[2])\n"
    "redis.call('ZREM',KEYS[3],ARGV[2])\n"
    "redis.call('ZREM',K.final(),ARGV[2])\n"
    "redis.call('RPUSH',K.attempts(ARGV[2]),cjson.encode({channel=first,at=now,result='requeued',\n"
    "  error='retried by the department'}))\n"
    "if bk then\n"
    "  redis.call('HINCRBY',bk,'st:dead:'..(h[8] or first),-1)\n"
    "  redis.call('HINCRBY',bk,'finished',-1)\n"
    "  if redis.call('HGET',bk,'status')=='done' then redis.call('HSET',bk,'status','sending') "
    "end\n"
    "end\n"
    "return {1}\n";

static void on_retry(gw_api_op *o, const redisReply *r) {
    switch (r->element[0]->integer) {
    case -2: gw_api_fail(o->rq, 404, "not_found", NULL, "no notification %s", o->id); break;
    case -1:
        gw_api_fail(o->rq, 403, "forbidden", NULL, "notification %s belongs to another department",
                    o->id);
        break;
    case 0:
        gw_api_fail(o->rq, 409, "not_retryable", NULL, "notification %s cannot be retried: %s",
                    o->id, r->elements > 1 ? str_of(r->element[1]) : "");
        break;
    default:
        gw_log(GW_INFO, "report.dead_retried", "{s:s, s:s}", "dept", o->dept, "id", o->id);
        gw_audit_op(o, "notification.retry", o->id, NULL);
        gw_api_answer(o->rq, 202, json_pack("{s:s, s:s}", "id", o->id, "status", "scheduled"));
    }
}

void gw_reports_retry(const gw_api *a, gw_req *rq, const gw_api_token *t) {
    static const char suffix[] = "/retry";
    const char *p = gw_api_path_rest(rq, GW_API_PREFIX "dead/");
    size_t len = strlen(p), sl = sizeof suffix - 1;
    if (len <= sl || strcmp(p + len - sl, suffix) || !gw_api_id_ok(p, len - sl, GW_API_ID_WORD)) {
        gw_api_fail(rq, 404, "not_found", NULL, "no such path; use POST /api/v1/dead/{id}/retry");
        return;
    }
    gw_api_op *o = gw_api_op_new(a, rq, t);
    if (!o)
        return;
    memcpy(o->id, p, len - sl);
    o->id[len - sl] = '\0';
    long part = gw_keyspace_part_of_id(gw_api_keys(a), o->id);
    if (part < 0 && gw_api_keys(a)) {
        gw_api_fail(rq, 404, "not_found", NULL, "no notification %s", o->id);
        gw_api_op_free(o);
        return;
    }
    const gw_keyspace *ks = gw_api_keys(a);
    gw_argv av = GW_API_EVAL(a, retry_lua, 3);
    gw_argv_addkey(&av, ks, GW_K_NOTIF, (unsigned)part, o->id);
    gw_argv_addkey(&av, ks, GW_K_DUE, (unsigned)part);
    gw_argv_addkey(&av, ks, GW_K_DEAD_DEPT, (unsigned)part, o->dept);
    gw_argv_adds(&av, o->dept);
    gw_argv_adds(&av, o->id);
    gw_argv_addf(&av, "%" PRId64, o->now);
    gw_api_op_send(o, &av, GW_API_STATUS, on_retry);
}
