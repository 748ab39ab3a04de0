/*
 * gw_fanout.c — the broadcast fan-out.
 *
 * Big idea: a broadcast's subscribers are spread over every partition (each
 * citizen's subscriptions live in theirs), so a broadcast is fanned out partition
 * by partition, each with scripts that touch that partition alone:
 *
 *   start   on the broadcast's own partition (bc): scheduled → fanning, and the
 *           fields every partition needs (wards, channels, tags, text, ...);
 *   fan     on partition q (bc_part): one batch of at most FAN_BATCH recipients.
 *           It SSCANs the source sets of q — the wards' sub_ward sets, or with
 *           audience tags the sub_ward_tag sets (the same list, in the same order,
 *           as the department API's count) — one after the other (ward_idx) from
 *           the cursor kept in bc_part, writes one notification <q>-<bc>-<n> per
 *           new recipient (SADD to bc_seen says whether it is new) on q's due set,
 *           with only the fields that are its own or differ from every reader's
 *           default (no idx 0, priority normal, not_after 0, send_at or created:
 *           those are the broadcast's; a third fewer bytes to write and keep),
 *           counts them per channel (one HINCRBY per channel and batch), and
 *           stores the cursor, all in one atomic step; the first batch copies
 *           the text into bc_part, where q's due pass reads it. When q's sets are
 *           done, bc_part becomes sending (or done, when every recipient already
 *           finished); a partition without recipients drops its copy of the text
 *           then (retention takes a copy with the last of its partition's
 *           recipients: with none, nothing else ever would);
 *   finish  on the broadcast's partition: fanning → sending, and off bc_due.
 *
 * A process killed at any point leaves either a whole batch with its cursor or none
 * of it; the broadcast stays on bc_due until every partition is fanned, so
 * whichever process sees it due next goes on where it stopped (a partition already
 * fanned answers at once). A Redis restart voids SSCAN cursors (the hash seed
 * changes), so bc_part keeps the server's run_id with the cursor and rescans from
 * the start when it changed; bc_seen keeps every recipient to one notification. A
 * cancel (the department API) marks bc and every bc_part cancelled; a partition
 * cancelled stops fanning. Batches are chained through the event loop (the next
 * starts when the answer of the last arrives), so neither the loop nor Redis is
 * held for longer than one batch. One broadcast at a time per process.
 */
#include "gateway/dispatch/gw_fanout.h"

#include "core/mc.h"
#include "gateway/app/gw_channels.h"
#include "gateway/app/gw_clock.h"
#include "gateway/app/gw_log.h"
#include "gateway/store/gw_keys.h"
#include "gateway/store/gw_script.h"
#include "gateway/store/gw_store.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAN_BATCH 500      /* broadcast recipients written per script call */
#define FAN_MAX_SCANS 64   /* SSCAN calls per batch (channels filtered out cost scans) */
#define FAN_ID_MAX 64      /* a broadcast id, with its NUL */
#define FAN_FIELDS 8       /* the fields start hands to every partition */
#define FAN_PHONES_MAX 128 /* the channels whose users are phones, comma-separated */

/* KEYS[1] K.bc(id); ARGV id now_ms. {1, wards, channels, tags, text, priority,
 * not_after_ms, dept, send_at_ms} for a broadcast to fan out (scheduled becomes
 * fanning); {0} for one that is not (off the due set). */
static const char start_lua[] =
    "local k=KEYS[1]\n"
    "local h=redis.call('HMGET',k,'status','wards','channels','tags','text','priority',\n"
    "  'not_after_ms','dept','send_at_ms')\n"
    "if h[1]~='scheduled' and h[1]~='fanning' then\n"
    "  redis.call('ZREM',K.bc_due(),ARGV[1]) return {0}\n"
    "end\n"
    "if h[1]=='scheduled' then redis.call('HSET',k,'status','fanning','fan_started_ms',ARGV[2]) "
    "end\n"
    "return {1,h[2] or '',h[3] or '',h[4] or '',h[5] or '',h[6] or 'normal',h[7] or '0',\n"
    "  h[8] or '',h[9] or ARGV[2]}\n";

/* KEYS[1] K.bc_part(id) of partition q; ARGV id now batch max_scans q, then the
 * fields of start, then the channels whose users are phones (csv), the message log's
 * retention (ms) and its keys' lifetime (s). Returns {notifications written, 1 when q is
 * fanned (or cancelled)}. Each recipient's notification is also entered in their message
 * log (msglog:<dept>:<who>, who being the phone or "<channel>:<user>": the API's
 * gw_msglog_whos), which lives in q as the recipient does: the log's index costs a ZADD, a
 * trim and an EXPIRE per recipient in the same script, no other partition. */
static const char fan_lua[] =
    "local id,now,batch,maxscan,q=ARGV[1],tonumber(ARGV[2]),tonumber(ARGV[3]),\n"
    "  tonumber(ARGV[4]),ARGV[5]\n"
    "local wards,chans,tags,text,prio,na,dept,send_at=ARGV[6],ARGV[7],ARGV[8],ARGV[9],\n"
    "  ARGV[10],ARGV[11],ARGV[12],ARGV[13]\n"
    "local phones={} for c in string.gmatch(ARGV[14],'[^,]+') do phones[c]=true end\n"
    "local keep,ttl=now-tonumber(ARGV[15]),ARGV[16]\n"
    "local k=KEYS[1] local seen=K.bc_seen(id)\n"
    "local h=redis.call('HMGET',k,'status','cursor','ward_idx','fanned','scan_run','finished')\n"
    "if h[1] and h[1]~='fanning' then return {0,1} end\n"
    "local run=string.match(redis.call('INFO','server'),'run_id:(%x+)') or ''\n"
    "local wi,cur,fanned=tonumber(h[3]) or 0,h[2] or '0',tonumber(h[4]) or 0\n"
    "if not h[1] then\n"
    "  redis.call('HSET',k,'status','fanning','text',text,'dept',dept,'fan_started_ms',now)\n"
    "  wi=0 cur='0'\n"
    "elseif h[5]~=run then wi=0 cur='0' end\n"
    "local src={} for w in string.gmatch(wards,'[^,]+') do\n"
    "  if tags=='' then src[#src+1]=K.sub_ward(w) end\n"
    "  for t in string.gmatch(tags,'[^,]+') do src[#src+1]=K.sub_ward_tag(w,t) end\n"
    "end\n"
    "local want={} for c in string.gmatch(chans,'[^,]+') do want[c]=true end\n"
    "local opt={}\n"
    "if prio~='normal' then opt[#opt+1]='priority' opt[#opt+1]=prio end\n"
    "if (tonumber(na) or 0)>0 then opt[#opt+1]='not_after_ms' opt[#opt+1]=na end\n"
    "local added,scans,byc=0,0,{}\n"
    "while added<batch and wi<#src and scans<maxscan do\n"
    "  local r=redis.call('SSCAN',src[wi+1],cur,'COUNT',batch-added)\n"
    "  scans=scans+1 cur=r[1]\n"
    "  for _,m in ipairs(r[2]) do\n"
    "    local c,u=string.match(m,'^([^:]+):(.+)$')\n"
    "    if c and want[c] and redis.call('SADD',seen,m)==1 then\n"
    "      fanned=fanned+1 added=added+1\n"
    "      local nid=q..'-'..id..'-'..fanned\n"
    "      redis.call('HSET',K.notif(nid),'dept',dept,'status','scheduled',\n"
    "        'to',cjson.encode({channel=c,user_id=u}),'channels',c,'broadcast',id,\n"
    "        unpack(opt))\n"
    "      redis.call('ZADD',K.due(),now,nid)\n"
    "      local lk=K.msglog(dept,phones[c] and u or m)\n"
    "      redis.call('ZADD',lk,now,nid) redis.call('ZREMRANGEBYSCORE',lk,'-inf','('..keep)\n"
    "      redis.call('EXPIRE',lk,ttl)\n"
    "      byc[c]=(byc[c] or 0)+1\n"
    "    end\n"
    "  end\n"
    "  if cur=='0' then wi=wi+1 end\n"
    "end\n"
    "for c,n in pairs(byc) do redis.call('HINCRBY',k,'fanned:'..c,n) end\n"
    "if wi>=#src then\n"
    "  local st=(tonumber(h[6]) or 0)>=fanned and 'done' or 'sending'\n"
    "  redis.call('HSET',k,'status',st,'fanned',fanned,'cursor','0','ward_idx',wi,\n"
    "    'scan_run',run,'fan_done_ms',now)\n"
    "  if fanned==0 then redis.call('HDEL',k,'text') end\n"
    "  redis.call('DEL',seen)\n"
    "  return {added,1}\n"
    "end\n"
    "redis.call('HSET',k,'fanned',fanned,'cursor',cur,'ward_idx',wi,'scan_run',run)\n"
    "return {added,0}\n";

/* KEYS[1] K.bc(id); ARGV id now_ms. Every partition is fanned: fanning → sending; the
 * text is in every partition's bc_part now (retention takes each copy with the last of
 * its partition's recipients), the broadcast's own hash lets go of it. */
static const char finish_lua[] =
    "if redis.call('HGET',KEYS[1],'status')=='fanning' then\n"
    "  redis.call('HSET',KEYS[1],'status','sending','fan_done_ms',ARGV[2])\n"
    "  redis.call('HDEL',KEYS[1],'text')\n"
    "end\n"
    "redis.call('ZREM',K.bc_due(),ARGV[1])\n"
    "return 1\n";

struct gw_fanout {
    gw_app *app;               /* borrowed */
    gw_fanout_added_fn *added; /* new notifications are due */
    void *added_priv;
    gw_script start, fan, finish;
    char id[FAN_ID_MAX];     /* the broadcast being fanned out; "" = none */
    unsigned home;           /* its partition */
    char *field[FAN_FIELDS]; /* what start returned, owned */
    size_t field_len[FAN_FIELDS];
    unsigned part;      /* the partition being fanned */
    size_t added_total; /* notifications written for this broadcast by us */
    int busy;           /* a script is in flight */
    int closing;        /* freed while busy: the answer frees */
};

static void fields_clear(gw_fanout *f) {
    for (size_t i = 0; i < FAN_FIELDS; i++) {
        free(f->field[i]);
        f->field[i] = NULL;
        f->field_len[i] = 0;
    }
}

static void release(gw_fanout *f) {
    fields_clear(f);
    gw_script_clear(&f->start);
    gw_script_clear(&f->fan);
    gw_script_clear(&f->finish);
    free(f);
}

gw_fanout *gw_fanout_new(gw_app *app, gw_fanout_added_fn *added, void *priv) {
    gw_fanout *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->app = app;
    f->added = added;
    f->added_priv = priv;
    if (gw_script_load(&f->start, app->store, "fan_start", app->keys, start_lua) ||
        gw_script_load(&f->fan, app->store, "fan_batch", app->keys, fan_lua) ||
        gw_script_load(&f->finish, app->store, "fan_finish", app->keys, finish_lua)) {
        release(f);
        return NULL;
    }
    return f;
}

void gw_fanout_free(gw_fanout *f) {
    if (f && !(f->closing = f->busy)) /* else the answer in flight frees it */
        release(f);
}

/* The broadcast is over for this process (fanned, not to fan, or an error). */
static void done(gw_fanout *f) {
    f->id[0] = '\0';
    fields_clear(f);
}

/* An answer arrived: 0 to go on, 1 when it was dropped (closing, no reply). */
static int answered(gw_fanout *f, redisReply *r, const char *what) {
    f->busy = 0;
    if (f->closing) {
        release(f);
        return 1;
    }
    if (!r) { /* the connection dropped: seen due again later */
        done(f);
        return 1;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_INTEGER) {
        gw_log(GW_ERROR, "sched.fan_failed", "{s:s, s:s, s:s}", "step", what, "broadcast", f->id,
               "error", r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        done(f);
        return 1;
    }
    return 0;
}

/* The start of a script's command on the broadcast's key of family fam in partition part:
 * EVALSHA, the key, the broadcast's id and the clock (every script's first arguments). */
static gw_argv script_argv(const gw_fanout *f, const gw_script *sc, gw_key_family fam,
                           unsigned part) {
    gw_argv a = {0};
    gw_argv_evalsha(&a, sc);
    gw_argv_adds(&a, "1");
    gw_argv_addkey(&a, f->app->keys, fam, part, f->id);
    gw_argv_adds(&a, f->id);
    gw_argv_addf(&a, "%" PRId64, gw_now_ms());
    return a;
}

/* Sends a (freed here); cb gets the answer. Redis refusing it ends the broadcast for now. */
static void fan_send(gw_fanout *f, gw_argv *a, gw_store_cb *cb) {
    if (gw_argv_send(f->app->store, a, cb, f))
        done(f);
    else
        f->busy = 1;
    gw_argv_free(a);
}

static void fan_batch(gw_fanout *f);

static void on_finish(gw_store *st, redisReply *r, void *priv) {
    (void)st;
    gw_fanout *f = priv;
    f->busy = 0;
    if (f->closing) {
        release(f);
        return;
    }
    if (r && r->type == REDIS_REPLY_INTEGER)
        gw_log(GW_INFO, "sched.broadcast_fanned", "{s:s, s:I}", "broadcast", f->id, "written",
               (json_int_t)f->added_total);
    done(f);
}

static void finish(gw_fanout *f) {
    gw_argv a = script_argv(f, &f->finish, GW_K_BC, f->home);
    fan_send(f, &a, on_finish);
}

static void on_fan(gw_store *st, redisReply *r, void *priv) {
    (void)st;
    gw_fanout *f = priv;
    if (answered(f, r, "fan"))
        return;
    long long added = r->element[0]->integer;
    int part_done = r->elements > 1 && r->element[1]->type == REDIS_REPLY_INTEGER &&
                    r->element[1]->integer == 1;
    f->added_total += (size_t)added;
    if (added)
        f->added(f->added_priv); /* route the new notifications now */
    if (part_done && ++f->part >= gw_keyspace_partitions(f->app->keys))
        finish(f);
    else
        fan_batch(f);
}

/* One batch of the current partition. */
static void fan_batch(gw_fanout *f) {
    if (!gw_store_up(f->app->store)) {
        done(f);
        return;
    }
    gw_argv a = script_argv(f, &f->fan, GW_K_BC_PART, f->part);
    gw_argv_addf(&a, "%d", FAN_BATCH);
    gw_argv_addf(&a, "%d", FAN_MAX_SCANS);
    gw_argv_addf(&a, "%u", f->part);
    for (size_t i = 0; i < FAN_FIELDS; i++)
        gw_argv_add(&a, f->field[i] ? f->field[i] : "", f->field_len[i]);
    /* the message log's: its channels of phones, retention and keys' lifetime as the API's
     * (gw_msglog.c) */
    char phones[FAN_PHONES_MAX] = "";
    for (size_t i = 0; i < gw_channel_count(); i++)
        if (gw_channel_phone_recipient(gw_channel_name(i)))
            snprintf(phones + strlen(phones), sizeof phones - strlen(phones), "%s,",
                     gw_channel_name(i));
    long days = f->app->cfg->scheduler_retention_days;
    gw_argv_adds(&a, phones);
    gw_argv_addf(&a, "%lld", (long long)days * 86400000LL);
    gw_argv_addf(&a, "%ld", days * 86400 + 86400);
    fan_send(f, &a, on_fan);
}

static void on_start(gw_store *st, redisReply *r, void *priv) {
    (void)st;
    gw_fanout *f = priv;
    if (answered(f, r, "start"))
        return;
    if (r->element[0]->integer != 1 || r->elements < 1 + FAN_FIELDS) {
        done(f); /* cancelled, or fanned already */
        return;
    }
    for (size_t i = 0; i < FAN_FIELDS; i++) {
        redisReply *v = r->element[1 + i];
        if (v->type != REDIS_REPLY_STRING || !(f->field[i] = malloc(v->len + 1))) {
            gw_log(GW_ERROR, "sched.fan_failed", "{s:s, s:s, s:s}", "step", "start", "broadcast",
                   f->id, "error", v->type != REDIS_REPLY_STRING ? "unexpected reply" : "oom");
            done(f);
            return;
        }
        memcpy(f->field[i], v->str, v->len + 1);
        f->field_len[i] = v->len;
    }
    f->part = 0;
    f->added_total = 0;
    fan_batch(f);
}

void gw_fanout_due(gw_fanout *f, const char *id) {
    if (!f || f->closing || f->busy || f->id[0] || !gw_store_up(f->app->store))
        return;
    long home = gw_keyspace_part_of_id(f->app->keys, id);
    if (home < 0 || strlen(id) >= sizeof f->id) {
        gw_log(GW_ERROR, "sched.fan_failed", "{s:s, s:s}", "step", "due", "error",
               "a due broadcast id names no partition");
        return;
    }
    snprintf(f->id, sizeof f->id, "%s", id);
    f->home = (unsigned)home;
    gw_argv a = script_argv(f, &f->start, GW_K_BC, f->home);
    fan_send(f, &a, on_start);
}
