/*
 * gw_retention.c — the retention sweeper (gw_retention.h): a background job,
 * not a route.
 *
 * Big idea: a sweeper on the loop's timer, in bounded batches, each ONE script on
 * one partition: it takes the partition's notifications of its final set older than
 * retention_days and removes their text and recipient (keeping status, channel,
 * attempts and the counters), and redacts the partition's dead-letter entries older
 * than that (a stream entry cannot be edited: it is replaced by a copy without text
 * and to). A broadcast's text lives in each partition's bc_part after the fan-out (the
 * broadcast's own hash lets go of it then): a partition's copy goes with the last of
 * that partition's recipients. Citizens' reports closed (resolved, rejected) longer ago
 * than that lose the citizen's words, place and identity (ticket and history), keeping
 * their category, ward, statuses and times: the departments' counts. Batches chain
 * through the event loop, partition after
 * partition, while there is more to do, up to SWEEP_MAX_CHAIN per tick, so neither
 * the loop nor Redis is ever held for long; any number of processes may sweep at once
 * (every step is idempotent). Time is gw_now_ms, which tests move.
 */
#include "gateway/api/gw_retention.h"

#include "core/mc.h"
#include "gateway/app/gw_clock.h"
#include "gateway/app/gw_log.h"
#include "gateway/store/gw_keys.h"
#include "gateway/store/gw_script.h"
#include "gateway/store/gw_store.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#define DAY_MS 86400000LL
#define SWEEP_BATCH 200     /* notifications and dead letters per sweep script */
#define SWEEP_MAX_CHAIN 40  /* sweep scripts one tick may chain */
#define SWEEP_FIRST_MS 1000 /* the first sweep after start (or the period if shorter) */
#define SWEEP_ANSWERS 4     /* {stripped, redacted, more, tickets} */

struct gw_retention {
    gw_app *app;          /* borrowed */
    uv_timer_t timer;     /* the sweep tick */
    gw_script sweep;      /* the script */
    int64_t retention_ms; /* [scheduler] retention_days in ms */
    unsigned part;        /* the partition being swept */
    bool sweeping;        /* a sweep script is in flight */
    int chain;            /* scripts chained in this tick */
    bool closing;         /* gw_retention_free was called */
    bool timer_closed;    /* the timer's close callback ran */
};

/* KEYS[1] the partition's final set; ARGV: now cutoff batch. One bounded step of
 * the three jobs of the partition. Returns {stripped, redacted, more, tickets}. */
static const char sweep_lua[] =
    "local now,cut,batch=tonumber(ARGV[1]),tonumber(ARGV[2]),tonumber(ARGV[3])\n"
    "local final={sent=true,delivered=true,failed=true,dead=true,expired=true,cancelled=true}\n"
    "local out={0,0,0,0}\n"
    /* 1. finished notifications older than the retention lose text and recipient;
     * broadcast recipients have no text of their own: their partition's copy of the
     * broadcast counts them (stripped, once each) and loses the text with the last of
     * them, when the partition is done or cancelled */
    "local ids=redis.call('ZRANGEBYSCORE',KEYS[1],'-inf',cut,'LIMIT',0,batch)\n"
    "for _,id in ipairs(ids) do\n"
    "  redis.call('ZREM',KEYS[1],id)\n"
    "  local k=K.notif(id)\n"
    "  local h=redis.call('HMGET',k,'status','dept','broadcast','text_removed')\n"
    "  if h[1] and final[h[1]] then\n"
    "    redis.call('HDEL',k,'text','to')\n"
    "    redis.call('HSET',k,'text_removed','1','text_removed_ms',now)\n"
    "    local bk=(h[3] and h[3]~='') and K.bc_part(h[3]) or nil\n"
    "    if bk and h[4]~='1' and redis.call('EXISTS',bk)==1 then\n"
    "      local sn=redis.call('HINCRBY',bk,'stripped',1)\n"
    "      local b=redis.call('HMGET',bk,'status','fanned')\n"
    "      if (b[1]=='done' or b[1]=='cancelled') and sn>=(tonumber(b[2]) or 0) then\n"
    "        redis.call('HDEL',bk,'text')\n"
    "        redis.call('HSET',bk,'text_removed','1','text_removed_ms',now)\n"
    "      end\n"
    "    end\n"
    "    if h[2] and h[2]~='' then redis.call('ZREM',K.dead_dept(h[2]),id) end\n"
    "    out[1]=out[1]+1\n"
    "  end\n"
    "end\n"
    "if #ids>=batch then out[3]=1 end\n"
    /* 2. dead letters older than the retention: a copy without text and to */
    "local rk=K.retention()\n"
    "local cur=redis.call('HGET',rk,'dead_cursor') or '0-0'\n"
    "local dk=K.dead()\n"
    "local es=redis.call('XRANGE',dk,'('..cur,'+','COUNT',batch)\n"
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
    "    local a={'XADD',dk,'*'}\n"
    "    for i=1,#f,2 do\n"
    "      if f[i]~='text' and f[i]~='to' then a[#a+1]=f[i] a[#a+1]=f[i+1] end\n"
    "    end\n"
    "    a[#a+1]='redacted_ms' a[#a+1]=tostring(now) a[#a+1]='orig' a[#a+1]=e[1]\n"
    "    redis.call('XDEL',dk,e[1])\n"
    "    redis.call(unpack(a))\n"
    "    out[2]=out[2]+1\n"
    "  end\n"
    "end\n"
    "redis.call('HSET',rk,'dead_cursor',cur)\n"
    "if not stopped and #es>=batch then out[3]=1 end\n"
    /* 3. closed reports: the citizen's words, place and identity go, the rest stays */
    "local rf=K.report_final()\n"
    "local ts=redis.call('ZRANGEBYSCORE',rf,'-inf',cut,'LIMIT',0,batch)\n"
    "for _,id in ipairs(ts) do\n"
    "  redis.call('ZREM',rf,id)\n"
    "  local k=K.report(id)\n"
    "  if redis.call('EXISTS',k)==1 then\n"
    "    redis.call('HDEL',k,'user','phone','text','place','claim','last_claim')\n"
    "    redis.call('HSET',k,'text_removed','1','text_removed_ms',now)\n"
    "    local lk=K.report_log(id)\n"
    "    local kept={}\n"
    "    for _,e in ipairs(redis.call('LRANGE',lk,0,-1)) do\n"
    "      local ok,v=pcall(cjson.decode,e)\n"
    "      if ok and type(v)=='table' then\n"
    "        if v.kind=='citizen' then v.text=nil v.text_removed=true end\n"
    "        kept[#kept+1]=cjson.encode(v)\n"
    "      end\n"
    "    end\n"
    "    redis.call('DEL',lk)\n"
    "    if #kept>0 then redis.call('RPUSH',lk,unpack(kept)) end\n"
    "    out[4]=out[4]+1\n"
    "  end\n"
    "end\n"
    "if #ts>=batch then out[3]=1 end\n"
    "return out\n";

static void retention_release(gw_retention *r) {
    if (r->closing && r->timer_closed && !r->sweeping) {
        gw_script_clear(&r->sweep);
        free(r);
    }
}

static void sweep_run(gw_retention *r);

/* The partition is swept for this tick: the next one, until every one was. */
static void next_part(gw_retention *r) {
    if (++r->part < gw_keyspace_partitions(r->app->keys) && ++r->chain < SWEEP_MAX_CHAIN)
        sweep_run(r);
}

static void on_swept(gw_store *st, redisReply *rep, void *priv) {
    (void)st;
    gw_retention *r = priv;
    r->sweeping = false;
    if (r->closing) {
        retention_release(r);
        return;
    }
    if (!rep)
        return; /* the connection dropped: the next tick tries again */
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements < SWEEP_ANSWERS) {
        gw_log(GW_ERROR, "retention.sweep_failed", "{s:s}", "error",
               rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
        return;
    }
    long long v[SWEEP_ANSWERS];
    for (size_t i = 0; i < SWEEP_ANSWERS; i++)
        v[i] = rep->element[i]->type == REDIS_REPLY_INTEGER ? rep->element[i]->integer : 0;
    if (v[0] || v[1] || v[3])
        gw_log(GW_INFO, "retention.swept", "{s:i, s:I, s:I, s:I}", "partition", (int)r->part,
               "notifications", (json_int_t)v[0], "dead_letters", (json_int_t)v[1], "reports",
               (json_int_t)v[3]);
    if (v[2] && ++r->chain < SWEEP_MAX_CHAIN)
        sweep_run(r); /* more right now in this partition: the next batch, through the loop */
    else if (!v[2])
        next_part(r);
}

static void sweep_run(gw_retention *r) {
    gw_store *st = r->app->store;
    if (r->closing || r->sweeping || !st || !gw_store_up(st))
        return;
    int64_t now = gw_now_ms();
    gw_argv a = {0};
    gw_argv_evalsha(&a, &r->sweep);
    gw_argv_adds(&a, "1");
    gw_argv_addkey(&a, r->app->keys, GW_K_FINAL, r->part);
    gw_argv_addf(&a, "%" PRId64, now);
    gw_argv_addf(&a, "%" PRId64, now - r->retention_ms);
    gw_argv_addf(&a, "%d", SWEEP_BATCH);
    if (!gw_argv_send(st, &a, on_swept, r))
        r->sweeping = true;
    gw_argv_free(&a);
}

static void on_tick(uv_timer_t *t) {
    gw_retention *r = t->data;
    r->chain = 0;
    r->part = 0;
    sweep_run(r);
}

/* -------------------------------------------------------------- wiring */

int gw_retention_open(gw_app *app, const gw_api *api, gw_retention **out, char *err,
                      size_t errlen) {
    *out = NULL;
    if (!api)
        return 0;
    gw_retention *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return MC_ENOMEM;
    }
    r->app = app;
    if (gw_script_load(&r->sweep, app->store, "retention_sweep", app->keys, sweep_lua)) {
        free(r);
        snprintf(err, errlen, "out of memory");
        return MC_ENOMEM;
    }
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
    gw_retention *r = h->data;
    r->timer_closed = true;
    retention_release(r);
}

void gw_retention_free(gw_retention *r) {
    if (!r)
        return;
    r->closing = true;
    uv_timer_stop(&r->timer);
    uv_close((uv_handle_t *)&r->timer, on_timer_closed);
}
