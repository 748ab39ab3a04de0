/*
 * gw_report.c — the console's reports: daily counters, dead letters and their
 * retry, and retention.
 *
 * Big idea: nothing here keeps its own books. The counters, the per-department
 * dead list and the index of finished notifications (mc:final) are written by
 * the very scripts that settle a notification (GW_DAY_NOTE_LUA in gw_sched.h,
 * called from gw_sched.c and gw_sender.c), in the same atomic step as the
 * status change, so they cannot drift from the statuses. This file only reads
 * them (GET /stats: one script reading one hash per day; GET /dead: one script
 * reading the dead list and the notifications it names) and writes through one
 * script per logical change: a retry checks ownership, state, not_after and
 * retention and puts the notification back on mc:due in one step.
 *
 * Retention is a sweeper on the loop's timer, in bounded batches, each ONE
 * script: it takes the notifications of mc:final older than retention_days and
 * removes their text and recipient (keeping status, channel, attempts and the
 * counters), redacts the dead-letter entries older than that (a stream entry
 * cannot be edited: it is replaced by a copy without text and to), and, until
 * it has once walked the whole keyspace, indexes notifications that finished
 * before mc:final existed. Batches chain through the event loop while there is
 * more to do, up to SWEEP_MAX_CHAIN per tick, so neither the loop nor Redis is
 * ever held for long; any number of processes may sweep at once (every step is
 * idempotent). Time is gw_now_ms, which tests move.
 */
#include "gateway/api/gw_report.h"

#include "core/mc.h"
#include "gateway/store/gw_lua.h"
#include "gateway/app/gw_channels.h"
#include "gateway/app/gw_clock.h"
#include "gateway/net/gw_http.h"
#include "gateway/app/gw_log.h"
#include "gateway/store/gw_store.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VN_OFFSET_MS 25200000LL /* Asia/Ho_Chi_Minh is UTC+7 all year */
#define API "/api/v1/"
#define DAY_MS 86400000LL
#define DEF_DAYS 7          /* GET /stats without days */
#define DEF_DEAD 50         /* GET /dead without limit */
#define NOTIF_ID_MAX 64     /* longest notification id accepted in a path */
#define CH_NAME_MAX 16      /* a channel name in a counter field */
#define TO_MAX 160          /* a masked recipient */
#define SWEEP_BATCH 200     /* notifications and dead letters per sweep script */
#define SWEEP_SCAN 500      /* keys looked at per script while indexing old ones */
#define SWEEP_MAX_CHAIN 20  /* sweep scripts one tick may chain */
#define SWEEP_FIRST_MS 1000 /* the first sweep after start (or the period if shorter) */
#define ID_FROM_LUA "10"    /* Lua string.sub start of <id> in mc:notif:<id> */

_Static_assert(sizeof GW_NOTIF_PREFIX == 10, "ID_FROM_LUA follows the length of GW_NOTIF_PREFIX");

static const char *const outcomes[] = {"sent", "delivered", "failed", "dead", "expired"};
#define N_OUTCOMES (sizeof outcomes / sizeof outcomes[0])

struct gw_report {
    gw_app *app;           /* borrowed */
    const gw_admin *admin; /* the API whose tokens it checks, borrowed */
    uv_timer_t timer;      /* the sweep tick */
    int64_t retention_ms;  /* [scheduler] retention_days in ms */
    int sweeping;          /* a sweep script is in flight */
    int chain;             /* scripts chained in this tick */
    int closing;           /* gw_report_free was called */
    int timer_closed;      /* the timer's close callback ran */
};

/* ------------------------------------------------------------ pure helpers */

int64_t gw_report_day(int64_t utc_ms) {
    int64_t t = utc_ms + VN_OFFSET_MS;
    return t >= 0 ? t / DAY_MS : -((-t + DAY_MS - 1) / DAY_MS);
}

/* floor(a / b) for b > 0 */
static int64_t fdiv(int64_t a, int64_t b) {
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

/* Howard Hinnant's civil_from_days, with floor division throughout (as the Lua). */
void gw_report_date(int64_t day, char out[GW_REPORT_DATE_LEN]) {
    int64_t z = day + 719468;
    int64_t era = fdiv(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    int64_t y = yoe + era * 400 + (m <= 2);
    if (y < 0 || y > 9999) {
        snprintf(out, GW_REPORT_DATE_LEN, "0000-00-00");
        return;
    }
    snprintf(out, GW_REPORT_DATE_LEN, "%04d-%02d-%02d", (int)y, (int)m, (int)d);
}

int gw_report_query_long(const char *query, size_t qlen, const char *name, long def, long min,
                         long max, long *out) {
    size_t nl = strlen(name);
    *out = def;
    for (size_t i = 0; i < qlen;) {
        size_t j = i;
        while (j < qlen && query[j] != '&')
            j++;
        if (j - i > nl && !memcmp(query + i, name, nl) && query[i + nl] == '=') {
            const char *v = query + i + nl + 1;
            size_t vl = j - (i + nl + 1);
            long x = 0;
            if (vl == 0 || vl > 9)
                return MC_EINVAL;
            for (size_t k = 0; k < vl; k++) {
                if (v[k] < '0' || v[k] > '9')
                    return MC_EINVAL;
                x = x * 10 + (v[k] - '0');
            }
            if (x < min || x > max)
                return MC_EINVAL;
            *out = x;
            return 0;
        }
        i = j + 1;
    }
    return 0;
}

void gw_report_mask(const char *to, char *out, size_t n) {
    if (!n)
        return;
    size_t len = strlen(to);
    if (len && to[0] == '+') {
        gw_mask_pii(to, len, out, n);
        return;
    }
    /* as GET /api/v1/dossiers/{code} shows user ids (gw_admin.c) */
    if (len <= 6) {
        snprintf(out, n, "%s", len ? "****" : "");
        return;
    }
    snprintf(out, n, "%.2s****%s", to, to + len - 2);
}

/* ------------------------------------------------------------- answers */

/* Errors and answers are gw_admin's (gw_admin_fail, gw_admin_answer,
 * gw_admin_authorize), so that every /api/v1 route speaks alike. */
static void unavailable(gw_req *rq) {
    gw_admin_fail(rq, 503, "unavailable", NULL,
                  "the store is unavailable; nothing was written, retry");
}

/* The token's department when it has `scope`; NULL when answered 401/403. */
static const char *authorize(const gw_report *r, gw_req *rq, unsigned scope,
                             const char *scope_name) {
    const gw_admin_token *t = gw_admin_authorize(r->admin, rq, scope, scope_name);
    return t ? gw_admin_token_dept(t) : NULL;
}

/* ---------------------------------------------------------- async op */

typedef struct op {
    const gw_report *r;               /* the module */
    gw_req *rq;                       /* holds a reference */
    char dept[GW_ADMIN_DEPT_MAX + 1]; /* the caller's department */
    char id[NOTIF_ID_MAX + 1];        /* notification id, when any */
    int64_t first_day;                /* GET /stats: day number of the oldest day */
    long days;                        /* GET /stats: how many */
    int64_t now;                      /* when the request was read */
} op;

static op *op_new(const gw_report *r, gw_req *rq, const char *dept) {
    op *o = calloc(1, sizeof *o);
    if (!o) {
        gw_req_error(rq, 500, "internal", "out of memory");
        return NULL;
    }
    o->r = r;
    o->rq = gw_req_ref(rq);
    snprintf(o->dept, sizeof o->dept, "%s", dept);
    o->now = gw_now_ms();
    return o;
}

static void op_free(op *o) {
    gw_req_unref(o->rq);
    free(o);
}

/* Sends a; on failure answers 503 and frees o. */
static void send_or_503(gw_argv *a, gw_store_cb *cb, op *o) {
    gw_store *st = o->r->app->store;
    if (!st || gw_argv_send(st, a, cb, o)) {
        unavailable(o->rq);
        op_free(o);
    }
}

static int reply_failed(op *o, redisReply *r) {
    return gw_admin_store_failed(o->rq, o->dept, r);
}

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
    for (size_t i = 0; i < N_OUTCOMES; i++)
        json_object_set_new(c, outcomes[i], json_integer(0));
    json_object_set_new(chans, ch, c);
    return c;
}

/* Adds "<channel>:<outcome>" = count to chans; fields of another shape are skipped. */
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
    for (size_t i = 0; i < N_OUTCOMES; i++) {
        if (strlen(outcomes[i]) != ol || memcmp(outcomes[i], oc, ol))
            continue;
        char ch[CH_NAME_MAX + 1];
        memcpy(ch, f->str, cl);
        ch[cl] = '\0';
        json_object_set_new(channel_obj(chans, ch), outcomes[i],
                            json_integer(strtoll(v->str, NULL, 10)));
        return;
    }
}

static void on_stats(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    op *o = priv;
    if (reply_failed(o, r))
        goto done;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != (size_t)o->days) {
        gw_admin_fail(o->rq, 500, "internal", NULL, "unexpected store answer");
        goto done;
    }
    json_t *days = json_array();
    for (long i = 0; i < o->days; i++) {
        char date[GW_REPORT_DATE_LEN];
        gw_report_date(o->first_day + i, date);
        json_t *chans = json_object();
        for (size_t c = 0; c < GW_N_CHANNELS; c++)
            channel_obj(chans, gw_channel_names[c]);
        const redisReply *h = r->element[i];
        if (h->type == REDIS_REPLY_ARRAY)
            for (size_t k = 0; k + 1 < h->elements; k += 2)
                add_counter(chans, h->element[k], h->element[k + 1]);
        json_array_append_new(days, json_pack("{s:s, s:o}", "date", date, "channels", chans));
    }
    gw_admin_answer(o->rq, 200, json_pack("{s:o}", "days", days));
done:
    op_free(o);
}

static void stats_get(const gw_report *r, gw_req *rq) {
    const char *dept = authorize(r, rq, GW_SCOPE_READ, "read");
    if (!dept)
        return;
    size_t ql;
    const char *q = gw_req_query(rq, &ql);
    long days;
    if (gw_report_query_long(q, ql, "days", DEF_DAYS, 1, GW_REPORT_MAX_DAYS, &days)) {
        gw_admin_fail(rq, 400, "bad_field", "days", "days must be a whole number from 1 to %d",
                      GW_REPORT_MAX_DAYS);
        return;
    }
    op *o = op_new(r, rq, dept);
    if (!o)
        return;
    o->days = days;
    o->first_day = gw_report_day(o->now) - days + 1;
    gw_argv a = {0};
    gw_argv_adds(&a, "EVAL");
    gw_argv_add(&a, stats_lua, sizeof stats_lua - 1);
    gw_argv_addf(&a, "%ld", days);
    for (long i = 0; i < days; i++) {
        char date[GW_REPORT_DATE_LEN];
        gw_report_date(o->first_day + i, date);
        gw_argv_addf(&a, GW_STATS_PREFIX "%s:%s", dept, date);
    }
    send_or_503(&a, on_stats, o);
    gw_argv_free(&a);
}

static void on_stats_route(gw_req *rq, void *priv) {
    const gw_report *r = priv;
    stats_get(r, rq);
}

/* --------------------------------------------------------- dead letters */

/* KEYS[1] mc:dead:<dept>; ARGV: limit. Newest first, only notifications still
 * dead: {id, channel, recipient on that channel (raw), reason, dead_ms,
 * attempts, broadcast, not_after_ms, has_text}. A broadcast recipient has no text
 * of its own: it has its broadcast's while that has one. */
static const char dead_list_lua[] =
    "local function recipient(to,ch)\n"
    "  if to.channel==ch and type(to.user_id)=='string' then return to.user_id end\n"
    "  if ch=='sms' and type(to.phone)=='string' then return to.phone end\n"
    "  if type(to[ch])=='string' then return to[ch] end\n"
    "  return ''\n"
    "end\n"
    "local out={}\n"
    "for _,id in ipairs(redis.call('ZREVRANGE',KEYS[1],0,tonumber(ARGV[1])-1)) do\n"
    "  local h=redis.call('HMGET','" GW_NOTIF_PREFIX "'..id,'status','to','dead_ch','channel',\n"
    "    "
    "'dead_reason','dead_ms','dead_attempts','broadcast','not_after_ms','text','text_removed')\n"
    "  if h[1]=='dead' then\n"
    "    local ch=h[3] or h[4] or ''\n"
    "    local ok,to=pcall(cjson.decode,h[2] or '')\n"
    "    local rc=(ok and type(to)=='table') and recipient(to,ch) or ''\n"
    "    local tx=h[10]\n"
    "    if not tx and h[8] and h[8]~='' then\n"
    "      tx=redis.call('HEXISTS','" GW_BC_PREFIX "'..h[8],'text')==1\n"
    "    end\n"
    "    out[#out+1]={id,ch,rc,h[5] or '',h[6] or '0',h[7] or '0',h[8] or '',h[9] or '0',\n"
    "      (tx and h[11]~='1') and '1' or '0'}\n"
    "  end\n"
    "end\n"
    "return out\n";

static void on_dead_list(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    op *o = priv;
    if (reply_failed(o, r))
        goto done;
    if (r->type != REDIS_REPLY_ARRAY) {
        gw_admin_fail(o->rq, 500, "internal", NULL, "unexpected store answer");
        goto done;
    }
    json_t *list = json_array();
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 9)
            continue;
        char to[TO_MAX], at[40];
        gw_report_mask(str_of(e->element[2]), to, sizeof to);
        int64_t dead_ms = strtoll(str_of(e->element[4]), NULL, 10);
        int64_t not_after = strtoll(str_of(e->element[7]), NULL, 10);
        gw_admin_format_time(dead_ms, at, sizeof at);
        int retryable = !strcmp(str_of(e->element[8]), "1") && (!not_after || o->now <= not_after);
        json_t *d = json_pack(
            "{s:s, s:s, s:s, s:s, s:s, s:I, s:b}", "id", str_of(e->element[0]), "channel",
            str_of(e->element[1]), "to", to, "reason", str_of(e->element[3]), "at", at, "attempts",
            (json_int_t)strtoll(str_of(e->element[5]), NULL, 10), "retryable", retryable);
        if (d && *str_of(e->element[6]))
            json_object_set_new(d, "broadcast", json_string(str_of(e->element[6])));
        if (d)
            json_array_append_new(list, d);
    }
    gw_admin_answer(o->rq, 200, json_pack("{s:o}", "dead", list));
done:
    op_free(o);
}

static void dead_get(const gw_report *r, gw_req *rq) {
    const char *dept = authorize(r, rq, GW_SCOPE_READ, "read");
    if (!dept)
        return;
    size_t ql;
    const char *q = gw_req_query(rq, &ql);
    long limit;
    if (gw_report_query_long(q, ql, "limit", DEF_DEAD, 1, GW_REPORT_MAX_DEAD, &limit)) {
        gw_admin_fail(rq, 400, "bad_field", "limit", "limit must be a whole number from 1 to %d",
                      GW_REPORT_MAX_DEAD);
        return;
    }
    op *o = op_new(r, rq, dept);
    if (!o)
        return;
    gw_argv a = {0};
    gw_argv_adds(&a, "EVAL");
    gw_argv_add(&a, dead_list_lua, sizeof dead_list_lua - 1);
    gw_argv_adds(&a, "1");
    gw_argv_addf(&a, GW_DEAD_DEPT_PREFIX "%s", dept);
    gw_argv_addf(&a, "%ld", limit);
    send_or_503(&a, on_dead_list, o);
    gw_argv_free(&a);
}

/* KEYS[1] the notification, KEYS[2] mc:due, KEYS[3] mc:dead:<dept>; ARGV: dept,
 * id, now. {-2} none, {-1} other department, {0, why} not retryable, {1} queued
 * again from the first channel of its list. A broadcast recipient goes back to
 * "not finished" in its broadcast's counters (bc_note counted it dead and
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
    "  tx=redis.call('HEXISTS','" GW_BC_PREFIX "'..h[7],'text')==1\n"
    "end\n"
    "if not tx or h[4]=='1' then return {0,'its text was removed by retention'} end\n"
    "local now=tonumber(ARGV[3]) local na=tonumber(h[5]) or 0\n"
    "if na>0 and now>na then return {0,'its not_after has passed'} end\n"
    "local bc=h[7] local bk=nil\n"
    "if bc and bc~='' and redis.call('EXISTS','" GW_BC_PREFIX "'..bc)==1 then\n"
    "  bk='" GW_BC_PREFIX "'..bc\n"
    "  if redis.call('HGET',bk,'status')=='cancelled' then\n"
    "    return {0,'its broadcast was cancelled'}\n"
    "  end\n"
    "end\n"
    "local first=string.match(h[6] or '','[^,%s]+') or ''\n"
    "redis.call('HSET',k,'status','scheduled','idx','0')\n"
    "redis.call('HDEL',k,'dead_reason','dead_ms','dead_ch','dead_attempts')\n"
    "redis.call('ZADD',KEYS[2],now,ARGV[2])\n"
    "redis.call('ZREM',KEYS[3],ARGV[2])\n"
    "redis.call('ZREM','" GW_FINAL_KEY "',ARGV[2])\n"
    "redis.call('RPUSH',k..':attempts',cjson.encode({channel=first,at=now,result='requeued',\n"
    "  error='retried by the department'}))\n"
    "if bk then\n"
    "  redis.call('HINCRBY',bk,'st:dead:'..(h[8] or first),-1)\n"
    "  redis.call('HINCRBY',bk,'finished',-1)\n"
    "  if redis.call('HGET',bk,'status')=='done' then redis.call('HSET',bk,'status','sending') "
    "end\n"
    "end\n"
    "return {1}\n";

static void on_retry(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    op *o = priv;
    if (reply_failed(o, r))
        goto done;
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_INTEGER) {
        gw_admin_fail(o->rq, 500, "internal", NULL, "unexpected store answer");
        goto done;
    }
    switch (r->element[0]->integer) {
    case -2: gw_admin_fail(o->rq, 404, "not_found", NULL, "no notification %s", o->id); break;
    case -1:
        gw_admin_fail(o->rq, 403, "forbidden", NULL,
                      "notification %s belongs to another department", o->id);
        break;
    case 0:
        gw_admin_fail(o->rq, 409, "not_retryable", NULL, "notification %s cannot be retried: %s",
                      o->id, r->elements > 1 ? str_of(r->element[1]) : "");
        break;
    default:
        gw_log(GW_INFO, "report.dead_retried", "{s:s, s:s}", "dept", o->dept, "id", o->id);
        gw_admin_answer(o->rq, 202, json_pack("{s:s, s:s}", "id", o->id, "status", "scheduled"));
    }
done:
    op_free(o);
}

static int id_ok(const char *s, size_t len) {
    if (len == 0 || len > NOTIF_ID_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '-' || c == '_'))
            return 0;
    }
    return 1;
}

static void dead_retry(const gw_report *r, gw_req *rq) {
    static const char suffix[] = "/retry";
    const char *dept = authorize(r, rq, GW_SCOPE_NOTIFY, "notify");
    if (!dept)
        return;
    const char *p = gw_req_path(rq) + strlen(API "dead/");
    size_t len = strlen(p), sl = sizeof suffix - 1;
    if (len <= sl || strcmp(p + len - sl, suffix) || !id_ok(p, len - sl)) {
        gw_admin_fail(rq, 404, "not_found", NULL, "no such path; use POST /api/v1/dead/{id}/retry");
        return;
    }
    op *o = op_new(r, rq, dept);
    if (!o)
        return;
    memcpy(o->id, p, len - sl);
    o->id[len - sl] = '\0';
    gw_argv a = {0};
    gw_argv_adds(&a, "EVAL");
    gw_argv_add(&a, retry_lua, sizeof retry_lua - 1);
    gw_argv_adds(&a, "3");
    gw_argv_addf(&a, GW_NOTIF_PREFIX "%s", o->id);
    gw_argv_adds(&a, GW_DUE_KEY);
    gw_argv_addf(&a, GW_DEAD_DEPT_PREFIX "%s", dept);
    gw_argv_adds(&a, dept);
    gw_argv_adds(&a, o->id);
    gw_argv_addf(&a, "%" PRId64, o->now);
    send_or_503(&a, on_retry, o);
    gw_argv_free(&a);
}

static void on_dead_route(gw_req *rq, void *priv) {
    const gw_report *r = priv;
    if (!strcmp(gw_req_method(rq), "POST"))
        dead_retry(r, rq);
    else
        dead_get(r, rq);
}

/* ------------------------------------------------------------ retention */

/* ARGV: now cutoff batch scan. One bounded step of each of the three jobs
 * (notifications, dead letters, indexing of old notifications). Returns
 * {stripped, redacted, indexed, more}. */
static const char sweep_lua[] =
    "local now,cut,batch,scan=tonumber(ARGV[1]),tonumber(ARGV[2]),tonumber(ARGV[3]),"
    "tonumber(ARGV[4])\n"
    "local final={sent=true,delivered=true,failed=true,dead=true,expired=true,cancelled=true}\n"
    "local out={0,0,0,0}\n"
    /* 1. finished notifications older than the retention lose text and recipient;
     * broadcast recipients have no text of their own: their broadcast counts them
     * (stripped, once each) and loses its text with the last of them, when it is
     * done or cancelled, so after every recipient finished before the cutoff */
    "local ids=redis.call('ZRANGEBYSCORE','" GW_FINAL_KEY "','-inf',cut,'LIMIT',0,batch)\n"
    "for _,id in ipairs(ids) do\n"
    "  redis.call('ZREM','" GW_FINAL_KEY "',id)\n"
    "  local k='" GW_NOTIF_PREFIX "'..id\n"
    "  local h=redis.call('HMGET',k,'status','dept','channel','provider_id','broadcast',\n"
    "    'text_removed')\n"
    "  if h[1] and final[h[1]] then\n"
    "    redis.call('HDEL',k,'text','to')\n"
    "    redis.call('HSET',k,'text_removed','1','text_removed_ms',now)\n"
    "    local bk=(h[5] and h[5]~='') and '" GW_BC_PREFIX "'..h[5] or nil\n"
    "    if bk and h[6]~='1' and redis.call('EXISTS',bk)==1 then\n"
    "      local sn=redis.call('HINCRBY',bk,'stripped',1)\n"
    "      local b=redis.call('HMGET',bk,'status','fanned')\n"
    "      if (b[1]=='done' or b[1]=='cancelled') and sn>=(tonumber(b[2]) or 0) then\n"
    "        redis.call('HDEL',bk,'text')\n"
    "        redis.call('HSET',bk,'text_removed','1','text_removed_ms',now)\n"
    "      end\n"
    "    end\n"
    "    if h[3] and h[4] then redis.call('HDEL','mc:dlv:'..h[3]..':'..h[4],'to','text') end\n"
    "    if h[2] and h[2]~='' then redis.call('ZREM','" GW_DEAD_DEPT_PREFIX "'..h[2],id) end\n"
    "    out[1]=out[1]+1\n"
    "  end\n"
    "end\n"
    "if #ids>=batch then out[4]=1 end\n"
    /* 2. dead letters older than the retention: a copy without text and to */
    "local st=redis.call('HMGET','" GW_RETENTION_KEY "','dead_cursor','scan_cursor','scan_run',"
    "'scan_done')\n"
    "local cur=st[1] or '0-0'\n"
    "local es=redis.call('XRANGE','" GW_DEAD_STREAM "','('..cur,'+','COUNT',batch)\n"
    "local stopped=false\n"
    "for _,e in ipairs(es) do\n"
    "  local f=e[2] local at=nil local personal=false\n"
    "  for i=1,#f,2 do\n"
    "    if f[i]=='at' then at=tonumber(f[i+1]) end\n"
    "    if f[i]=='text' or f[i]=='to' then personal=true end\n"
    "  end\n"
    "  at=at or tonumber(string.match(e[1],'^(%d+)')) or 0\n"
    "  if at>=cut then stopped=true break end\n"
    "  cur=e[1]\n"
    "  if personal then\n"
    "    local a={'XADD','" GW_DEAD_STREAM "','*'}\n"
    "    for i=1,#f,2 do\n"
    "      if f[i]~='text' and f[i]~='to' then a[#a+1]=f[i] a[#a+1]=f[i+1] end\n"
    "    end\n"
    "    a[#a+1]='redacted_ms' a[#a+1]=tostring(now) a[#a+1]='orig' a[#a+1]=e[1]\n"
    "    redis.call('XDEL','" GW_DEAD_STREAM "',e[1])\n"
    "    redis.call(unpack(a))\n"
    "    out[2]=out[2]+1\n"
    "  end\n"
    "end\n"
    "redis.call('HSET','" GW_RETENTION_KEY "','dead_cursor',cur)\n"
    "if not stopped and #es>=batch then out[4]=1 end\n"
    /* 3. once: index notifications that finished before mc:final existed. A Redis
     * restart voids SCAN cursors: the run_id kept with the cursor says so. */
    "if st[4]~='1' then\n"
    "  local run=string.match(redis.call('INFO','server'),'run_id:(%x+)') or ''\n"
    "  local sc=st[2] or '0'\n"
    "  if st[3]~=run then sc='0' end\n"
    "  local r=redis.call('SCAN',sc,'MATCH','" GW_NOTIF_PREFIX "*','COUNT',scan)\n"
    "  for _,key in ipairs(r[2]) do\n"
    "    local id=string.sub(key," ID_FROM_LUA ")\n"
    "    if not string.find(id,':',1,true) and redis.call('TYPE',key).ok=='hash' then\n"
    "      local h=redis.call('HMGET',key,'status','text_removed','sent_ms','dead_ms',\n"
    "        'created_ms','send_at_ms','not_after_ms')\n"
    "      if h[1] and final[h[1]] and h[2]~='1' and not redis.call('ZSCORE','" GW_FINAL_KEY
    "',id) then\n"
    "        local t=0\n"
    "        for i=3,(h[1]=='expired' and 7 or 6) do\n"
    "          local v=tonumber(h[i]) if v and v>t then t=v end\n"
    "        end\n"
    "        redis.call('ZADD','" GW_FINAL_KEY "',t,id)\n"
    "        out[3]=out[3]+1\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "  if r[1]=='0' then redis.call('HSET','" GW_RETENTION_KEY
    "','scan_done','1','scan_cursor','0')\n"
    "  else\n"
    "    redis.call('HSET','" GW_RETENTION_KEY "','scan_cursor',r[1],'scan_run',run) out[4]=1\n"
    "  end\n"
    "end\n"
    "return out\n";

static void report_release(gw_report *r) {
    if (r->closing && r->timer_closed && !r->sweeping)
        free(r);
}

static void sweep_run(gw_report *r);

static void on_swept(gw_store *st, redisReply *rep, void *priv) {
    (void)st;
    gw_report *r = priv;
    r->sweeping = 0;
    if (r->closing) {
        report_release(r);
        return;
    }
    if (!rep)
        return; /* the connection dropped: the next tick tries again */
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 4) {
        gw_log(GW_ERROR, "retention.sweep_failed", "{s:s}", "error",
               rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
        return;
    }
    long long v[4];
    for (size_t i = 0; i < 4; i++)
        v[i] = rep->element[i]->type == REDIS_REPLY_INTEGER ? rep->element[i]->integer : 0;
    if (v[0] || v[1] || v[2])
        gw_log(GW_INFO, "retention.swept", "{s:I, s:I, s:I}", "notifications", (json_int_t)v[0],
               "dead_letters", (json_int_t)v[1], "indexed", (json_int_t)v[2]);
    if (v[3] && ++r->chain < SWEEP_MAX_CHAIN)
        sweep_run(r); /* more right now: the next batch, through the loop */
}

static void sweep_run(gw_report *r) {
    gw_store *st = r->app->store;
    if (r->closing || r->sweeping || !st || !gw_store_up(st))
        return;
    int64_t now = gw_now_ms();
    gw_argv a = {0};
    gw_argv_adds(&a, "EVAL");
    gw_argv_add(&a, sweep_lua, sizeof sweep_lua - 1);
    gw_argv_adds(&a, "0");
    gw_argv_addf(&a, "%" PRId64, now);
    gw_argv_addf(&a, "%" PRId64, now - r->retention_ms);
    gw_argv_addf(&a, "%d", SWEEP_BATCH);
    gw_argv_addf(&a, "%d", SWEEP_SCAN);
    if (!gw_argv_send(st, &a, on_swept, r))
        r->sweeping = 1;
    gw_argv_free(&a);
}

static void on_tick(uv_timer_t *t) {
    gw_report *r = t->data;
    r->chain = 0;
    sweep_run(r);
}

/* -------------------------------------------------------------- wiring */

int gw_report_open(gw_app *app, const gw_admin *admin, gw_report **out, char *err, size_t errlen) {
    *out = NULL;
    if (!admin)
        return 0;
    gw_report *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return MC_ENOMEM;
    }
    if (gw_router_add(app->router, API "stats", API "stats", GW_M_GET, on_stats_route, r) ||
        gw_router_add(app->router, API "dead", API "dead", GW_M_GET, on_dead_route, r) ||
        gw_router_add(app->router, API "dead/", API "dead/{id}/retry", GW_M_POST, on_dead_route,
                      r)) {
        snprintf(err, errlen, "cannot add the routes of /api/v1/stats and /dead");
        free(r);
        return MC_ETOOBIG;
    }
    r->app = app;
    r->admin = admin;
    r->retention_ms = app->cfg->scheduler_retention_days * DAY_MS;
    uint64_t period = (uint64_t)app->cfg->scheduler_retention_sweep_ms;
    uv_timer_init(app->loop, &r->timer);
    r->timer.data = r;
    uv_timer_start(&r->timer, on_tick, period < SWEEP_FIRST_MS ? period : SWEEP_FIRST_MS, period);
    uv_unref((uv_handle_t *)&r->timer); /* a background sweep never keeps the loop alive */
    *out = r;
    gw_log(GW_INFO, "retention.started", "{s:I, s:I}", "retention_days",
           (json_int_t)app->cfg->scheduler_retention_days, "sweep_ms", (json_int_t)period);
    return 0;
}

static void on_timer_closed(uv_handle_t *h) {
    gw_report *r = h->data;
    r->timer_closed = 1;
    report_release(r);
}

void gw_report_free(gw_report *r) {
    if (!r)
        return;
    r->closing = 1;
    uv_timer_stop(&r->timer);
    uv_close((uv_handle_t *)&r->timer, on_timer_closed);
}
