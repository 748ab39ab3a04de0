/*
 * gw_sched.c — the notification scheduler.
 *
 * Big idea: every decision about a due notification is taken inside ONE Lua
 * script run on the notification's partition, so any number of processes can run
 * the scheduler at once without a lock and without sending anything twice: a
 * notification leaves the partition's due set in the same atomic step that puts it
 * on the partition's outbound stream of its channel (fields to text purpose notif,
 * bc for a broadcast recipient, so the sender can see a later cancel, and data, the
 * notification's data:<channel> field: a provider template message prepared for that
 * channel when it was accepted, ZNS's) and marks it "sending".
 *
 * The script checks, in order: the broadcast cancelled (→ cancelled), not_after
 * (→ expired), a missing recipient (→ the next channel of the fallback list,
 * recorded as an attempt), the channel's quiet hours unless urgent and its night
 * rule for broadcasts (→ re-scored to the end of the period), and the channel's
 * tokens (none left → stays due). Every rule is the channel's policy
 * (channels/ch.h) and configuration, passed as arguments: the script names no
 * channel. A chat channel's window (the citizen's last message) lives in the
 * citizen's partition, so the sender checks it before its request (gw_job.c).
 *
 * A round is a pass over every partition, one after the other, starting one
 * further each round so that none is always served first. Rate limits are per
 * channel across all partitions and processes: before a round the scheduler
 * takes the tokens it may use from each limited channel's bucket (a key of its
 * own, rate), hands them to the passes, and gives back what they did not use. The
 * clock is an argument (gw_now_ms, which tests can move), never Redis TIME. The
 * timer starts a round every SCHED_TICK_MS; a round whose batches were full and
 * made progress runs again at once.
 *
 * A pass also names the oldest due broadcast of its partition; gw_fanout.c fans it
 * out into notifications of their own (in every partition) that later passes route
 * like any other.
 */
#include "gateway/dispatch/gw_sched.h"

#include "gateway/dispatch/gw_fanout.h"

#include "core/mc.h"
#include "gateway/app/gw_clock.h"
#include "gateway/app/gw_log.h"
#include "gateway/app/gw_time.h"
#include "gateway/store/gw_lua.h"
#include "gateway/store/gw_script.h"
#include "gateway/store/gw_store.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCHED_TICK_MS 100 /* a round this often */
#define SCHED_BATCH 256   /* due notifications per partition per pass */
#define CHAN_ARGS 9       /* arguments per channel of the pass script */
#define PASS_FIXED 6      /* counters at the head of a pass's answer */
#define RATE_IDLE_MS "60000"

/* KEYS[1] K.due(); ARGV: now_ms batch tz_offset_ms n_channels, then per channel:
 * name tokens (-1 = no limit) phone(0|1) quiet_start quiet_end night_start night_end
 * tx_quiet_start tx_quiet_end (local minutes, -1 = no such rule). A notification about
 * the citizen's own dossier (its hash has "dossier": a status event) is a transaction
 * notice and keeps the transaction quiet hours (none by default), any other the
 * channel's quiet hours; urgent ones neither. Returns {queued, expired, held, dead,
 * rate_limited, seen, oldest due broadcast or "", then the tokens used per channel}. */
static const char pass_lua[] = GW_BC_NOTE_LUA GW_DAY_NOTE_LUA
    "local now,batch=tonumber(ARGV[1]),tonumber(ARGV[2]) TZ=tonumber(ARGV[3]) or 0\n"
    "local C,order={},{}\n"
    "for i=0,tonumber(ARGV[4])-1 do\n"
    "  local b=5+i*9\n"
    "  local c={name=ARGV[b],left=tonumber(ARGV[b+1]),phone=ARGV[b+2]=='1',\n"
    "    qs=tonumber(ARGV[b+3]),qe=tonumber(ARGV[b+4]),ns=tonumber(ARGV[b+5]),\n"
    "    ne=tonumber(ARGV[b+6]),tqs=tonumber(ARGV[b+7]),tqe=tonumber(ARGV[b+8]),used=0}\n"
    "  C[c.name]=c order[#order+1]=c\n"
    "end\n"
    "local function minute(ms) return math.floor((ms+TZ)/60000)%1440 end\n"
    "local function inside(m,s,e)\n"
    "  if s<0 or e<0 or s==e then return false end\n"
    "  if s<e then return m>=s and m<e end return m>=s or m<e\n"
    "end\n"
    "local function next_at(e)\n"
    "  local d=(e-minute(now))%1440 if d==0 then d=1440 end\n"
    "  return now-((now+TZ)%60000)+d*60000\n"
    "end\n"
    "local function recipient(to,ch)\n"
    "  if to.channel==ch and type(to.user_id)=='string' then return to.user_id end\n"
    "  local c=C[ch]\n"
    "  if c and c.phone and type(to.phone)=='string' then return to.phone end\n"
    "  if type(to[ch])=='string' then return to[ch] end\n"
    "  return nil\n"
    "end\n"
    "local function attempt(id,ch,result,err)\n"
    "  local a={channel=ch,at=now,result=result,error=err}\n"
    "  redis.call('RPUSH',K.attempts(id),cjson.encode(a))\n"
    "end\n"
    "local bcs={}\n"
    "local function bc_of(bc)\n"
    "  local v=bcs[bc]\n"
    "  if not v then\n"
    "    local h=redis.call('HMGET',K.bc_part(bc),'status','text')\n"
    "    v={h[1] or '',h[2] or false} bcs[bc]=v\n"
    "  end\n"
    "  return v\n"
    "end\n"
    "local n={0,0,0,0,0,0}\n"
    "local due=K.due()\n"
    "local ids=redis.call('ZRANGEBYSCORE',due,'-inf',now,'LIMIT',0,batch)\n"
    "n[6]=#ids\n"
    "for _,id in ipairs(ids) do\n"
    "  local k=K.notif(id)\n"
    "  local h=redis.call('HMGET',k,'status','text','to','channels','idx','not_after_ms',\n"
    "    'priority','broadcast','dept','dossier')\n"
    "  local bc=nil\n"
    "  if h[8] and h[8]~='' then bc=bc_of(h[8]) if not h[2] then h[2]=bc[2] end end\n"
    "  if h[1]~='scheduled' then redis.call('ZREM',due,id)\n"
    "  else\n"
    "    local chs={} for c in string.gmatch(h[4] or '','[^,%s]+') do chs[#chs+1]=c end\n"
    "    local idx=tonumber(h[5]) or 0\n"
    "    local na=tonumber(h[6]) or 0\n"
    "    local ok,to=pcall(cjson.decode,h[3] or '')\n"
    "    if not ok or type(to)~='table' then to={} end\n"
    "    local bch=chs[math.min(idx+1,#chs)] or ''\n"
    "    if bc and bc[1]=='cancelled' then\n"
    "      redis.call('HSET',k,'status','cancelled')\n"
    "      attempt(id,bch,'cancelled','broadcast cancelled')\n"
    "      bc_note(h[8],bch,nil,'cancelled',true)\n"
    "      day_note(id,h[9],bch,'cancelled',now)\n"
    "      redis.call('ZREM',due,id)\n"
    "    elseif na>0 and now>na then\n"
    "      redis.call('HSET',k,'status','expired')\n"
    "      attempt(id,chs[idx+1] or '','expired','not_after passed')\n"
    "      bc_note(h[8],bch,nil,'expired',true)\n"
    "      day_note(id,h[9],bch,'expired',now)\n"
    "      redis.call('ZREM',due,id) n[2]=n[2]+1\n"
    "    else\n"
    "      local rcpt=nil\n"
    "      while idx<#chs and h[2] do\n"
    "        rcpt=recipient(to,chs[idx+1])\n"
    "        if rcpt then break end\n"
    "        attempt(id,chs[idx+1],'skipped','no_recipient')\n"
    "        idx=idx+1\n"
    "      end\n"
    "      if not rcpt then\n"
    "        local why=h[2] and dead_why(id,'no channel left') or 'no text'\n"
    "        redis.call('HSET',k,'status','dead','idx',idx)\n"
    "        redis.call('XADD',K.dead(),'*','notif',id,'reason',why,'at',now)\n"
    "        bc_note(h[8],bch,nil,'dead',true)\n"
    "        dead_note(id,h[9],bch,why,0,now)\n"
    "        redis.call('ZREM',due,id) n[4]=n[4]+1\n"
    "      else\n"
    "        local ch=chs[idx+1] local c=C[ch] local hold,wait=nil,nil local m=minute(now)\n"
    "        local qs,qe=nil,nil\n"
    "        if c then qs,qe=c.qs,c.qe if h[10] and h[10]~='' then qs,qe=c.tqs,c.tqe end end\n"
    "        if c and h[7]~='urgent' and inside(m,qs,qe) then hold=next_at(qe) wait='quiet_hours'\n"
    "        elseif c and bc and inside(m,c.ns,c.ne) then hold=next_at(c.ne) wait='night' end\n"
    "        if hold then\n"
    "          redis.call('HSET',k,'idx',idx,'wait',wait,'wait_until',hold)\n"
    "          redis.call('ZADD',due,hold,id) n[3]=n[3]+1\n"
    "        elseif c and c.left>=0 and c.left<1 then\n"
    "          redis.call('HSET',k,'idx',idx,'wait','rate_limit','wait_until',now) n[5]=n[5]+1\n"
    "        else\n"
    "          if c and c.left>=0 then c.left=c.left-1 c.used=c.used+1 end\n"
    "          local a={'XADD',K.out(ch),'*','to',rcpt,'text',h[2],'purpose','update','notif',id}\n"
    "          if bc then a[#a+1]='bc' a[#a+1]=h[8] end\n"
    "          if h[7]=='urgent' then a[#a+1]='urgent' a[#a+1]='1' end\n"
    "          local d=redis.call('HGET',k,'data:'..ch)\n"
    "          if d then a[#a+1]='data' a[#a+1]=d end\n"
    "          redis.call(unpack(a))\n"
    "          redis.call('HSET',k,'status','sending','idx',idx,'channel',ch)\n"
    "          redis.call('HDEL',k,'wait','wait_until')\n"
    "          redis.call('ZREM',due,id) n[1]=n[1]+1\n"
    "        end\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local bd=redis.call('ZRANGEBYSCORE',K.bc_due(),'-inf',now,'LIMIT',0,1)\n"
    "n[7]=bd[1] or ''\n"
    "for _,c in ipairs(order) do n[#n+1]=c.used end\n"
    "return n\n";

/* KEYS[1] a channel's bucket; ARGV now_ms rate want. Takes up to `want` whole tokens
 * of a bucket refilled at `rate` per second and holding a second's worth at most;
 * returns how many. */
static const char take_lua[] =
    "local now,r,want=tonumber(ARGV[1]),tonumber(ARGV[2]),tonumber(ARGV[3])\n"
    "local v=redis.call('HMGET',KEYS[1],'tokens','ts')\n"
    "local cap=math.max(1,r) local t=tonumber(v[1]) or cap local ts=tonumber(v[2]) or now\n"
    "if now>ts then t=math.min(cap,t+(now-ts)*r/1000) ts=now end\n"
    "local n=math.max(0,math.min(want,math.floor(t)))\n"
    "redis.call('HSET',KEYS[1],'tokens',tostring(t-n),'ts',tostring(ts))\n"
    "redis.call('PEXPIRE',KEYS[1]," RATE_IDLE_MS ")\n"
    "return n\n";

/* KEYS[1] a channel's bucket; ARGV n rate. Gives back n tokens taken and not used. */
static const char give_lua[] =
    "local t=tonumber(redis.call('HGET',KEYS[1],'tokens'))\n"
    "if not t then return 0 end\n"
    "local cap=math.max(1,tonumber(ARGV[2]))\n"
    "redis.call('HSET',KEYS[1],'tokens',tostring(math.min(cap,t+tonumber(ARGV[1]))))\n"
    "return 1\n";

/* One channel as the pass sees it. */
typedef struct sched_chan {
    struct gw_sched *s;    /* its scheduler */
    const char *name;      /* borrowed from the configuration */
    double rate;           /* messages per second across all processes; 0 = no limit */
    int phone;             /* its recipients are phone numbers */
    int quiet_start;       /* quiet hours in local minutes; -1 = none */
    int quiet_end;         /* ... */
    int night_start;       /* broadcasts refused from this local minute; -1 = no rule */
    int night_end;         /* ... to this one */
    int tx_quiet_start;    /* quiet hours of transaction notices (a dossier's); -1 = none */
    int tx_quiet_end;      /* ... */
    long left;             /* tokens held for this round; -1 = no limit */
    char key[GW_KEYS_MAX]; /* its bucket */
} sched_chan;

struct gw_sched {
    gw_app *app;      /* borrowed */
    uv_timer_t timer; /* the tick; its close frees the struct */
    sched_chan ch[GW_MAX_CHANNELS];
    size_t n_ch;
    gw_script pass, take, give; /* the scripts */
    unsigned parts;             /* partitions */
    unsigned first;             /* the partition this round starts at */
    unsigned done;              /* partitions passed in this round */
    int taking;                 /* token requests in flight */
    int running;                /* a round is in flight */
    int again;                  /* run once more when it ends */
    int progress;               /* a full batch made progress in this round */
    long long queued;           /* notifications this round put on their streams */
    long long limited;          /* ... and left due for want of tokens */
    int starved;                /* the last round queued nothing, held back by the rate
                                   limits: a fan-out batch does not start another one */
    int closing;                /* freed: answers are dropped */
    int64_t now;                /* the round's clock */
    gw_fanout *fan;             /* the broadcast fan-out, owned */
};

int gw_sched_parse_hours(const char *s, int *start, int *end) {
    int h1, m1, h2, m2, used = 0;
    if (!s || sscanf(s, "%2d:%2d-%2d:%2d%n", &h1, &m1, &h2, &m2, &used) != 4 || s[used] || h1 < 0 ||
        h1 > 23 || h2 < 0 || h2 > 23 || m1 < 0 || m1 > 59 || m2 < 0 || m2 > 59)
        return MC_EINVAL;
    *start = h1 * 60 + m1;
    *end = h2 * 60 + m2;
    return 0;
}

static void run_round(gw_sched *s);
static void run_pass(gw_sched *s);

static void on_given(gw_store *st, redisReply *r, void *priv) {
    (void)st, (void)r, (void)priv; /* a lost refund only leaves the bucket emptier */
}

/* The round is over: what was not used goes back, the next round starts further on. */
static void end_round(gw_sched *s) {
    for (size_t i = 0; i < s->n_ch; i++) {
        sched_chan *c = &s->ch[i];
        if (c->left > 0) {
            gw_argv a = {0};
            gw_argv_evalsha(&a, &s->give);
            gw_argv_adds(&a, "1");
            gw_argv_adds(&a, c->key);
            gw_argv_addf(&a, "%ld", c->left);
            gw_argv_addf(&a, "%.6g", c->rate);
            gw_argv_send(s->app->store, &a, on_given, NULL);
            gw_argv_free(&a);
        }
        c->left = c->rate > 0 ? 0 : -1;
    }
    s->running = 0;
    s->starved = s->queued == 0 && s->limited > 0;
    s->first = (s->first + 1) % s->parts;
    if (s->again || s->progress) {
        s->again = 0;
        run_round(s);
    }
}

static void on_pass(gw_store *st, redisReply *r, void *priv) {
    (void)st;
    gw_sched *s = priv;
    if (s->closing)
        return;
    if (!r) { /* the connection dropped: the store reconnects, the timer goes on */
        s->running = 0;
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < PASS_FIXED + 1 + s->n_ch) {
        gw_log(GW_ERROR, "sched.pass_failed", "{s:s}", "error",
               r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        s->running = 0;
        return;
    }
    long long v[PASS_FIXED];
    for (size_t i = 0; i < PASS_FIXED; i++)
        v[i] = r->element[i]->type == REDIS_REPLY_INTEGER ? r->element[i]->integer : 0;
    for (size_t i = 0; i < s->n_ch; i++) {
        redisReply *u = r->element[PASS_FIXED + 1 + i];
        if (s->ch[i].left > 0 && u->type == REDIS_REPLY_INTEGER)
            s->ch[i].left = u->integer > s->ch[i].left ? 0 : s->ch[i].left - (long)u->integer;
    }
    if (v[0] || v[1] || v[2] || v[3])
        gw_log(GW_INFO, "sched.pass", "{s:i, s:I, s:I, s:I, s:I, s:I}", "partition",
               (int)((s->first + s->done) % s->parts), "queued", (json_int_t)v[0], "expired",
               (json_int_t)v[1], "held", (json_int_t)v[2], "dead", (json_int_t)v[3], "rate_limited",
               (json_int_t)v[4]);
    s->queued += v[0];
    s->limited += v[4];
    /* a full batch that made progress: there may be more due right now */
    if (v[5] >= SCHED_BATCH && v[4] < v[5])
        s->progress = 1;
    redisReply *bc = r->element[PASS_FIXED];
    if (bc->type == REDIS_REPLY_STRING && bc->len > 0)
        gw_fanout_due(s->fan, bc->str);
    if (++s->done < s->parts)
        run_pass(s);
    else
        end_round(s);
}

static void run_pass(gw_sched *s) {
    if (!gw_store_up(s->app->store)) {
        s->running = 0;
        return;
    }
    unsigned p = (s->first + s->done) % s->parts;
    gw_argv a = {0};
    gw_argv_evalsha(&a, &s->pass);
    gw_argv_adds(&a, "1");
    gw_argv_addkey(&a, s->app->keys, GW_K_DUE, p);
    gw_argv_addf(&a, "%" PRId64, s->now);
    gw_argv_addf(&a, "%d", SCHED_BATCH);
    gw_argv_addf(&a, "%" PRId64, gw_tz_offset_ms(s->app->tz, s->now));
    gw_argv_addf(&a, "%zu", s->n_ch);
    for (size_t i = 0; i < s->n_ch; i++) {
        const sched_chan *c = &s->ch[i];
        gw_argv_adds(&a, c->name);
        gw_argv_addf(&a, "%ld", c->left);
        gw_argv_addf(&a, "%d", c->phone);
        gw_argv_addf(&a, "%d", c->quiet_start);
        gw_argv_addf(&a, "%d", c->quiet_end);
        gw_argv_addf(&a, "%d", c->night_start);
        gw_argv_addf(&a, "%d", c->night_end);
        gw_argv_addf(&a, "%d", c->tx_quiet_start);
        gw_argv_addf(&a, "%d", c->tx_quiet_end);
    }
    if (gw_argv_send(s->app->store, &a, on_pass, s))
        s->running = 0;
    gw_argv_free(&a);
}

static void on_taken(gw_store *st, redisReply *r, void *priv) {
    (void)st;
    sched_chan *c = priv;
    gw_sched *s = c->s;
    if (s->closing)
        return;
    c->left = r && r->type == REDIS_REPLY_INTEGER && r->integer > 0 ? (long)r->integer : 0;
    if (r && r->type == REDIS_REPLY_ERROR)
        gw_log(GW_ERROR, "sched.rate_failed", "{s:s, s:s}", "channel", c->name, "error", r->str);
    if (--s->taking == 0)
        run_pass(s);
}

/* A round: the tokens of every limited channel first, then the partitions in turn. */
static void run_round(gw_sched *s) {
    if (s->closing || !gw_store_up(s->app->store))
        return;
    if (s->running) {
        s->again = 1;
        return;
    }
    s->running = 1;
    s->progress = 0;
    s->queued = s->limited = 0;
    s->done = 0;
    s->now = gw_now_ms();
    for (size_t i = 0; i < s->n_ch; i++) {
        sched_chan *c = &s->ch[i];
        if (c->rate <= 0)
            continue;
        gw_argv a = {0};
        gw_argv_evalsha(&a, &s->take);
        gw_argv_adds(&a, "1");
        gw_argv_adds(&a, c->key);
        gw_argv_addf(&a, "%" PRId64, s->now);
        gw_argv_addf(&a, "%.6g", c->rate);
        gw_argv_addf(&a, "%u", SCHED_BATCH * s->parts);
        if (!gw_argv_send(s->app->store, &a, on_taken, c))
            s->taking++;
        gw_argv_free(&a);
    }
    if (!s->taking)
        run_pass(s);
}

static void on_tick(uv_timer_t *t) {
    gw_sched *s = t->data;
    run_round(s);
}

/* A fan-out batch wrote notifications due now: routed at once, unless the last round
 * found no tokens (then each batch would start a round that reads every partition's due
 * notifications and routes none, competing with the fan-out for Redis; the tick
 * routes them once tokens come). */
static void on_fanned(void *priv) {
    gw_sched *s = priv;
    if (!s->starved)
        run_round(s);
}

/* The channel's rules from its policy and its section. 0 or MC_EINVAL (err). */
static int chan_init(gw_sched *s, sched_chan *c, const gw_channel_cfg *cc, char *err,
                     size_t errlen) {
    const ch_policy *pol = cc->ad ? cc->ad->policy : NULL;
    c->s = s;
    c->name = cc->name;
    c->rate = cc->s.rate;
    c->left = c->rate > 0 ? 0 : -1;
    c->phone = pol && pol->phone_recipient;
    c->quiet_start = c->quiet_end = c->tx_quiet_start = c->tx_quiet_end = -1;
    c->night_start = pol ? pol->night_start_min : -1;
    c->night_end = pol ? pol->night_end_min : -1;
    const char *q = cc->s.quiet_hours;
    if (pol && pol->quiet_hours && q && *q &&
        gw_sched_parse_hours(q, &c->quiet_start, &c->quiet_end)) {
        snprintf(err, errlen, "[%s] quiet_hours '%s' is not HH:MM-HH:MM", cc->name, q);
        return MC_EINVAL;
    }
    q = cc->s.tx_quiet_hours;
    if (pol && pol->quiet_hours && q && *q &&
        gw_sched_parse_hours(q, &c->tx_quiet_start, &c->tx_quiet_end)) {
        snprintf(err, errlen, "[%s] transaction quiet hours '%s' are not HH:MM-HH:MM", cc->name, q);
        return MC_EINVAL;
    }
    if (gw_key(s->app->keys, c->key, sizeof c->key, GW_K_RATE, GW_KEY_OWN, c->name) < 0) {
        snprintf(err, errlen, "channel name '%s' too long for a key", cc->name);
        return MC_EINVAL;
    }
    return 0;
}

int gw_sched_open(gw_app *app, gw_sched **out, char *err, size_t errlen) {
    int rc = MC_ENOMEM;
    gw_sched *s = *out = calloc(1, sizeof *s);
    if (!s || !(s->fan = gw_fanout_new(app, on_fanned, s)))
        goto oom;
    s->app = app;
    s->parts = gw_keyspace_partitions(app->keys);
    for (size_t i = 0; i < app->cfg->n_channels && i < GW_MAX_CHANNELS; i++)
        if ((rc = chan_init(s, &s->ch[s->n_ch++], &app->cfg->channels[i], err, errlen)) != 0)
            goto fail;
    rc = MC_ENOMEM;
    if (gw_script_load(&s->pass, app->store, "sched_pass", app->keys, pass_lua) ||
        gw_script_load(&s->take, app->store, "rate_take", app->keys, take_lua) ||
        gw_script_load(&s->give, app->store, "rate_give", app->keys, give_lua))
        goto oom;
    uv_timer_init(app->loop, &s->timer);
    s->timer.data = s;
    uv_timer_start(&s->timer, on_tick, SCHED_TICK_MS, SCHED_TICK_MS);
    gw_log(GW_INFO, "sched.started", "{s:s, s:i}", "timezone", app->cfg->scheduler_timezone,
           "partitions", (int)s->parts);
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
fail:
    if (s) {
        gw_fanout_free(s->fan);
        gw_script_clear(&s->pass);
        gw_script_clear(&s->take);
        gw_script_clear(&s->give);
    }
    free(s);
    *out = NULL;
    return rc;
}

void gw_sched_wake(gw_sched *s) {
    if (s)
        run_round(s);
}

static void on_closed(uv_handle_t *h) {
    gw_sched *s = h->data;
    gw_script_clear(&s->pass);
    gw_script_clear(&s->take);
    gw_script_clear(&s->give);
    free(s);
}

void gw_sched_free(gw_sched *s) {
    if (!s)
        return;
    /* the store stopped before (serve's table): no answer can arrive any more */
    s->closing = 1;
    gw_fanout_free(s->fan);
    s->fan = NULL;
    uv_timer_stop(&s->timer);
    uv_close((uv_handle_t *)&s->timer, on_closed);
}
