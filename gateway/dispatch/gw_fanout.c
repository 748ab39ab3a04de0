/*
 * gw_fanout.c — the broadcast fan-out.
 *
 * Big idea: one script call, fan_lua, writes one batch of at most FAN_BATCH
 * recipients of the oldest due broadcast. It SSCANs the source sets — the
 * broadcast's wards' sets mc:sub:ward:<ward>, or with audience tags the
 * ward x tag sets mc:sub:ward:<ward>:tag:<tag> (the same list, in the same
 * order, as the recipients count of the department API) — one after the other
 * (ward_idx is the index in that list) from the cursor kept in the
 * broadcast's hash, writes one notification per new recipient (SADD to
 * mc:bc:<id>:seen says whether it is new) and stores the cursor, all in one
 * atomic step: a process killed at any point leaves either the whole batch
 * with its cursor or none of it, and whichever process runs the next batch
 * goes on from there. A Redis restart voids SSCAN cursors (the hash seed
 * changes), so the script keeps the server's run_id with the cursor and
 * rescans from the start when it changed; the seen set keeps every recipient
 * to one notification. Batches are chained through the event loop (the next
 * starts when the answer of the last arrives), so neither the loop nor Redis
 * is held for longer than one batch. A recipient's notification has no text
 * of its own (a copy per recipient made each hash too big for Redis' compact
 * encoding): the scheduler's routing script reads the text of mc:bc:<id>
 * (broadcast=<id>) when it puts the message on the stream.
 */
#include "gateway/dispatch/gw_fanout.h"

#include "core/mc.h"
#include "gateway/app/gw_clock.h"
#include "gateway/app/gw_log.h"
#include "gateway/store/gw_keys.h"
#include "gateway/store/gw_store.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#define FAN_BATCH 500    /* broadcast recipients written per script call */
#define FAN_MAX_SCANS 64 /* SSCAN calls per batch (channels filtered out cost scans) */

/* ARGV: now_ms batch max_scans. Fans out one batch of the oldest due broadcast.
 * Returns {notifications written, broadcasts finished or dropped}. */
static const char fan_lua[] =
    "local now,batch,maxscan=tonumber(ARGV[1]),tonumber(ARGV[2]),tonumber(ARGV[3])\n"
    "local ids=redis.call('ZRANGEBYSCORE','" GW_BC_DUE_KEY "','-inf',now,'LIMIT',0,1)\n"
    "if #ids==0 then return {0,0} end\n"
    "local id=ids[1] local k='" GW_BC_PREFIX "'..id local seen=k..':seen'\n"
    "local h=redis.call('HMGET',k,'status','wards','channels','cursor','ward_idx','fanned',\n"
    "  'text','priority','not_after_ms','dept','scan_run','finished','send_at_ms','tags')\n"
    "if h[1]~='scheduled' and h[1]~='fanning' then\n"
    "  redis.call('ZREM','" GW_BC_DUE_KEY "',id) redis.call('DEL',seen) return {0,1}\n"
    "end\n"
    "-- h[7], the text, is not copied: each recipient references it by broadcast=<id>\n"
    "local run=string.match(redis.call('INFO','server'),'run_id:(%x+)') or ''\n"
    "local src={} for w in string.gmatch(h[2] or '','[^,]+') do\n"
    "  if (h[14] or '')=='' then src[#src+1]='mc:sub:ward:'..w end\n"
    "  for t in string.gmatch(h[14] or '','[^,]+') do\n"
    "    src[#src+1]='mc:sub:ward:'..w..':tag:'..t\n"
    "  end\n"
    "end\n"
    "local want={} for c in string.gmatch(h[3] or '','[^,]+') do want[c]=true end\n"
    "local wi,cur,fanned=tonumber(h[5]) or 0,h[4] or '0',tonumber(h[6]) or 0\n"
    "if h[1]=='scheduled' then\n"
    "  redis.call('HSET',k,'status','fanning','fan_started_ms',now) wi=0 cur='0'\n"
    "elseif h[11]~=run then wi=0 cur='0' end\n"
    "local added,scans=0,0\n"
    "while added<batch and wi<#src and scans<maxscan do\n"
    "  local r=redis.call('SSCAN',src[wi+1],cur,'COUNT',batch-added)\n"
    "  scans=scans+1 cur=r[1]\n"
    "  for _,m in ipairs(r[2]) do\n"
    "    local c,u=string.match(m,'^([^:]+):(.+)$')\n"
    "    if c and want[c] and redis.call('SADD',seen,m)==1 then\n"
    "      fanned=fanned+1 added=added+1\n"
    "      local nid=id..'-'..fanned\n"
    "      redis.call('HSET','" GW_NOTIF_PREFIX "'..nid,'dept',h[10] or '','status','scheduled',\n"
    "        'to',cjson.encode({channel=c,user_id=u}),'channels',c,'idx','0',\n"
    "        'send_at_ms',h[13] or now,'not_after_ms',h[9] or '0','priority',h[8] or 'normal',\n"
    "        'created_ms',now,'broadcast',id)\n"
    "      redis.call('ZADD','" GW_DUE_KEY "',now,nid)\n"
    "      redis.call('HINCRBY',k,'fanned:'..c,1)\n"
    "    end\n"
    "  end\n"
    "  if cur=='0' then wi=wi+1 end\n"
    "end\n"
    "if wi>=#src then\n"
    "  local st=(tonumber(h[12]) or 0)>=fanned and 'done' or 'sending'\n"
    "  redis.call('HSET',k,'status',st,'fanned',fanned,'cursor','0','ward_idx',wi,\n"
    "    'scan_run',run,'fan_done_ms',now)\n"
    "  redis.call('ZREM','" GW_BC_DUE_KEY "',id) redis.call('DEL',seen)\n"
    "  return {added,1}\n"
    "end\n"
    "redis.call('HSET',k,'fanned',fanned,'cursor',cur,'ward_idx',wi,'scan_run',run)\n"
    "return {added,0}\n";

struct gw_fanout {
    gw_app *app;               /* borrowed */
    gw_fanout_added_fn *added; /* new notifications are due */
    void *added_priv;
    int fanning; /* a batch is in flight */
    int closing; /* freed while a batch was in flight: its answer frees */
};

gw_fanout *gw_fanout_new(gw_app *app, gw_fanout_added_fn *added, void *priv) {
    gw_fanout *f = calloc(1, sizeof *f);
    if (f)
        *f = (gw_fanout){.app = app, .added = added, .added_priv = priv};
    return f;
}

void gw_fanout_free(gw_fanout *f) {
    if (f && !(f->closing = f->fanning)) /* else the batch's answer frees it */
        free(f);
}

static void on_fan(gw_store *st, redisReply *r, void *priv) {
    (void)st;
    gw_fanout *f = priv;
    f->fanning = 0;
    if (f->closing) {
        free(f);
        return;
    }
    if (!r)
        return;
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
        r->element[0]->type != REDIS_REPLY_INTEGER || r->element[1]->type != REDIS_REPLY_INTEGER) {
        gw_log(GW_ERROR, "sched.fan_failed", "{s:s}", "error",
               r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        return;
    }
    long long added = r->element[0]->integer, finished = r->element[1]->integer;
    if (added)
        f->added(f->added_priv); /* route the new notifications now */
    if (finished)
        gw_log(GW_INFO, "sched.broadcast_fanned", "{s:I}", "last_batch", (json_int_t)added);
    if (added || finished)
        gw_fanout_run(f); /* more of this broadcast, or the next one */
}

void gw_fanout_run(gw_fanout *f) {
    if (f->closing || f->fanning || !gw_store_up(f->app->store))
        return;
    gw_argv a = {0};
    gw_argv_adds(&a, "EVAL");
    gw_argv_add(&a, fan_lua, sizeof fan_lua - 1);
    gw_argv_adds(&a, "0");
    gw_argv_addf(&a, "%" PRId64, gw_now_ms());
    gw_argv_addf(&a, "%d", FAN_BATCH);
    gw_argv_addf(&a, "%d", FAN_MAX_SCANS);
    if (!gw_argv_send(f->app->store, &a, on_fan, f))
        f->fanning = 1;
    gw_argv_free(&a);
}
