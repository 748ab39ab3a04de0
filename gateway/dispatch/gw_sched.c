/*
 * gw_sched.c — the notification scheduler.
 *
 * Big idea: every decision about a due notification is taken inside ONE Lua
 * script, so any number of processes can run the scheduler at once without a
 * lock and without sending anything twice: a notification leaves mc:due in the
 * same atomic step that puts it on mc:out:<channel> (fields to text purpose notif,
 * and bc for a broadcast recipient, so the sender can see a later cancel) and
 * marks it "sending".
 * The script checks, in order: not_after (→ expired), the chat windows of
 * Facebook (24 h) and Zalo (7 days) from mc:conv:<channel>:<user>.last_in_ms and
 * a missing recipient (→ the next channel of the fallback list, recorded as an
 * attempt), SMS quiet hours unless urgent and the Zalo night rule for
 * broadcasts (→ re-scored to the end of the quiet period), and the shared
 * per-channel token bucket mc:rate:<channel> (not enough tokens → stays due).
 * The clock is an argument (gw_now_ms, which tests can move), never Redis TIME.
 * The timer ticks every SCHED_TICK_MS; a full batch runs again at once.
 *
 * Broadcasts are fanned out by gw_fanout.c, batch by batch, into
 * notifications of their own that this pass routes like any other; the tick
 * runs both, and a batch that added recipients runs a pass at once.
 */
#include "gateway/dispatch/gw_sched.h"

#include "gateway/dispatch/gw_fanout.h"

#include "core/mc.h"
#include "gateway/store/gw_lua.h"
#include "gateway/app/gw_clock.h"
#include "gateway/app/gw_log.h"
#include "gateway/store/gw_store.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unicode/ucal.h>
#include <unicode/ustring.h>

#define SCHED_TICK_MS 100                   /* a pass this often */
#define SCHED_BATCH 256                     /* due notifications per pass */
#define FB_WINDOW_MS (24LL * 3600 * 1000)   /* Facebook: 24 h after the citizen's message */
#define ZALO_WINDOW_MS (7LL * 86400 * 1000) /* Zalo consultation messages: 7 days */
#define ZALO_NIGHT_START_MIN (22 * 60)      /* Zalo refuses broadcasts 22:00-06:00 */
#define ZALO_NIGHT_END_MIN (6 * 60)
#define MAX_TZ_ID 64 /* UChars of a time zone id */
#define MINUTES_PER_DAY (24 * 60)

/* ARGV: now_ms batch tz_offset_ms quiet_start_min quiet_end_min fb_window_ms
 * zalo_window_ms night_start_min night_end_min, then pairs channel rate.
 * Returns {queued, expired, held, dead, rate_limited, seen}. */
static const char sched_lua[] = GW_BC_NOTE_LUA GW_DAY_NOTE_LUA
    "local now=tonumber(ARGV[1]) local batch=tonumber(ARGV[2]) local tzoff=tonumber(ARGV[3])\n"
    "local qs,qe=tonumber(ARGV[4]),tonumber(ARGV[5])\n"
    "local win={facebook=tonumber(ARGV[6]),zalo=tonumber(ARGV[7])}\n"
    "local ns,ne=tonumber(ARGV[8]),tonumber(ARGV[9])\n"
    "local rate={} for i=10,#ARGV,2 do rate[ARGV[i]]=tonumber(ARGV[i+1]) end\n"
    "local bucket={}\n"
    "local function take(ch)\n"
    "  local r=rate[ch] if not r or r<=0 then return true end\n"
    "  local b=bucket[ch]\n"
    "  if not b then\n"
    "    local v=redis.call('HMGET','mc:rate:'..ch,'tokens','ts')\n"
    "    local cap=math.max(1,r) local t=tonumber(v[1]) or cap local ts=tonumber(v[2]) or now\n"
    "    if now>ts then t=math.min(cap,t+(now-ts)*r/1000) end\n"
    "    b={t=t} bucket[ch]=b\n"
    "  end\n"
    "  if b.t<1 then return false end\n"
    "  b.t=b.t-1 return true\n"
    "end\n"
    "local function minute(ms) return math.floor((ms+tzoff)/60000)%1440 end\n"
    "local function inside(m,s,e) if s<e then return m>=s and m<e end return m>=s or m<e end\n"
    "local function next_at(e)\n"
    "  local d=(e-minute(now))%1440 if d==0 then d=1440 end\n"
    "  return now-((now+tzoff)%60000)+d*60000\n"
    "end\n"
    "local function recipient(to,ch)\n"
    "  if to.channel==ch and type(to.user_id)=='string' then return to.user_id end\n"
    "  if ch=='sms' and type(to.phone)=='string' then return to.phone end\n"
    "  if type(to[ch])=='string' then return to[ch] end\n"
    "  return nil\n"
    "end\n"
    "local function attempt(id,ch,result,err)\n"
    "  redis.call('RPUSH','mc:notif:'..id..':attempts',\n"
    "    cjson.encode({channel=ch,at=now,result=result,error=err}))\n"
    "end\n"
    "local bcst={}\n"
    "local function bc_cancelled(bc)\n"
    "  if not bc or bc=='' then return false end\n"
    "  if bcst[bc]==nil then bcst[bc]=redis.call('HGET','" GW_BC_PREFIX
    "'..bc,'status') or '' end\n"
    "  return bcst[bc]=='cancelled'\n"
    "end\n"
    "local bctext={}\n"
    "local function text_of(t,bc)\n"
    "  if t or not bc or bc=='' then return t end\n"
    "  if bctext[bc]==nil then bctext[bc]=redis.call('HGET','" GW_BC_PREFIX
    "'..bc,'text') or false end\n"
    "  return bctext[bc]\n"
    "end\n"
    "local n={0,0,0,0,0,0}\n"
    "local ids=redis.call('ZRANGEBYSCORE','mc:due','-inf',now,'LIMIT',0,batch)\n"
    "n[6]=#ids\n"
    "for _,id in ipairs(ids) do\n"
    "  local k='mc:notif:'..id\n"
    "  local h=redis.call('HMGET',k,'status','text','to','channels','idx','not_after_ms',\n"
    "    'priority','broadcast','dept')\n"
    "  h[2]=text_of(h[2],h[8])\n"
    "  if h[1]~='scheduled' then redis.call('ZREM','mc:due',id)\n"
    "  else\n"
    "    local chs={} for c in string.gmatch(h[4] or '','[^,%s]+') do chs[#chs+1]=c end\n"
    "    local idx=tonumber(h[5]) or 0\n"
    "    local na=tonumber(h[6]) or 0\n"
    "    local ok,to=pcall(cjson.decode,h[3] or '')\n"
    "    if not ok or type(to)~='table' then to={} end\n"
    "    local bch=chs[math.min(idx+1,#chs)] or ''\n"
    "    if bc_cancelled(h[8]) then\n"
    "      redis.call('HSET',k,'status','cancelled')\n"
    "      attempt(id,bch,'cancelled','broadcast cancelled')\n"
    "      bc_note(h[8],bch,nil,'cancelled',true)\n"
    "      day_note(id,h[9],bch,'cancelled',now)\n"
    "      redis.call('ZREM','mc:due',id)\n"
    "    elseif na>0 and now>na then\n"
    "      redis.call('HSET',k,'status','expired')\n"
    "      attempt(id,chs[idx+1] or '','expired','not_after passed')\n"
    "      bc_note(h[8],bch,nil,'expired',true)\n"
    "      day_note(id,h[9],bch,'expired',now)\n"
    "      redis.call('ZREM','mc:due',id) n[2]=n[2]+1\n"
    "    else\n"
    "      local rcpt=nil\n"
    "      while idx<#chs and h[2] do\n"
    "        local ch=chs[idx+1]\n"
    "        rcpt=recipient(to,ch)\n"
    "        if not rcpt then attempt(id,ch,'skipped','no_recipient')\n"
    "        elseif win[ch] then\n"
    "          local last=tonumber(redis.call('HGET','mc:conv:'..ch..':'..rcpt,'last_in_ms'))\n"
    "          if last and now-last<=win[ch] then break end\n"
    "          attempt(id,ch,'skipped','outside_window') rcpt=nil\n"
    "        else break end\n"
    "        idx=idx+1\n"
    "      end\n"
    "      if not rcpt then\n"
    "        local why=h[2] and 'no channel left' or 'no text'\n"
    "        redis.call('HSET',k,'status','dead','idx',idx)\n"
    "        redis.call('XADD','mc:dead','*','notif',id,'reason',why,'at',now)\n"
    "        bc_note(h[8],bch,nil,'dead',true)\n"
    "        dead_note(id,h[9],bch,why,0,now)\n"
    "        redis.call('ZREM','mc:due',id) n[4]=n[4]+1\n"
    "      else\n"
    "        local ch=chs[idx+1] local hold=nil local m=minute(now)\n"
    "        if ch=='sms' and h[7]~='urgent' and qs>=0 and inside(m,qs,qe) then hold=next_at(qe)\n"
    "        elseif ch=='zalo' and h[8] and h[8]~='' and inside(m,ns,ne) then hold=next_at(ne) "
    "end\n"
    "        if hold then\n"
    "          redis.call('HSET',k,'idx',idx) redis.call('ZADD','mc:due',hold,id) n[3]=n[3]+1\n"
    "        elseif not take(ch) then\n"
    "          redis.call('HSET',k,'idx',idx) n[5]=n[5]+1\n"
    "        else\n"
    "          if h[8] and h[8]~='' then\n"
    "            redis.call('XADD','mc:out:'..ch,'*','to',rcpt,'text',h[2],'purpose','update',\n"
    "              'notif',id,'bc',h[8])\n"
    "          else\n"
    "            redis.call('XADD','mc:out:'..ch,'*','to',rcpt,'text',h[2],'purpose','update',\n"
    "              'notif',id)\n"
    "          end\n"
    "          redis.call('HSET',k,'status','sending','idx',idx,'channel',ch)\n"
    "          redis.call('ZREM','mc:due',id) n[1]=n[1]+1\n"
    "        end\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "for ch,b in pairs(bucket) do\n"
    "  redis.call('HSET','mc:rate:'..ch,'tokens',tostring(b.t),'ts',tostring(now))\n"
    "  redis.call('PEXPIRE','mc:rate:'..ch,60000)\n"
    "end\n"
    "return n\n";

struct gw_sched {
    gw_app *app;      /* borrowed */
    uv_timer_t timer; /* the tick; its close frees the struct */
    UCalendar *cal;   /* [scheduler] timezone, owned */
    int quiet_start;  /* [sms] quiet_hours in local minutes; -1 = none */
    int quiet_end;
    int running;    /* a pass is in flight */
    int again;      /* run once more when it answers */
    int closing;    /* freed: answers are dropped */
    gw_fanout *fan; /* the broadcast fan-out, owned */
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

/* The calendar of time zone tz into *out: 0 or MC_EINVAL (reason in err: an
 * unknown zone is a configuration error). */
static int open_zone(const char *tz, UCalendar **out, char *err, size_t errlen) {
    UChar id[MAX_TZ_ID], canon[MAX_TZ_ID];
    UErrorCode st = U_ZERO_ERROR;
    UBool system = 0;
    *out = NULL;
    if (strlen(tz) >= MAX_TZ_ID) {
        snprintf(err, errlen, "[scheduler] timezone too long");
        return MC_EINVAL;
    }
    u_uastrcpy(id, tz);
    ucal_getCanonicalTimeZoneID(id, -1, canon, MAX_TZ_ID, &system, &st);
    if (U_FAILURE(st) || !system) {
        snprintf(err, errlen, "[scheduler] timezone '%s' is not a known time zone", tz);
        return MC_EINVAL;
    }
    *out = ucal_open(id, -1, "en_US", UCAL_GREGORIAN, &st);
    if (U_FAILURE(st)) {
        snprintf(err, errlen, "[scheduler] timezone '%s': %s", tz, u_errorName(st));
        if (*out)
            ucal_close(*out);
        *out = NULL;
        return MC_EINVAL;
    }
    return 0;
}

static int64_t zone_offset(UCalendar *c, int64_t utc_ms) {
    UErrorCode st = U_ZERO_ERROR;
    ucal_setMillis(c, (UDate)utc_ms, &st);
    int32_t z = ucal_get(c, UCAL_ZONE_OFFSET, &st);
    int32_t d = ucal_get(c, UCAL_DST_OFFSET, &st);
    return U_FAILURE(st) ? 0 : (int64_t)z + d;
}

int gw_sched_tz_offset(const char *tz, int64_t utc_ms, int64_t *off, char *err, size_t errlen) {
    UCalendar *c;
    int rc = open_zone(tz, &c, err, errlen);
    if (rc)
        return rc;
    *off = zone_offset(c, utc_ms);
    ucal_close(c);
    return 0;
}

static void run_pass(gw_sched *s);

static void on_pass(gw_store *st, redisReply *r, void *priv) {
    (void)st;
    gw_sched *s = priv;
    s->running = 0;
    if (s->closing)
        return;
    if (!r)
        return; /* the connection dropped: the store reconnects, the timer goes on */
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 6) {
        gw_log(GW_ERROR, "sched.pass_failed", "{s:s}", "error",
               r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        return;
    }
    long long v[6];
    for (size_t i = 0; i < 6; i++)
        v[i] = r->element[i]->type == REDIS_REPLY_INTEGER ? r->element[i]->integer : 0;
    if (v[0] || v[1] || v[2] || v[3])
        gw_log(GW_INFO, "sched.pass", "{s:I, s:I, s:I, s:I, s:I}", "queued", (json_int_t)v[0],
               "expired", (json_int_t)v[1], "held", (json_int_t)v[2], "dead", (json_int_t)v[3],
               "rate_limited", (json_int_t)v[4]);
    /* a full batch that made progress: there may be more due right now */
    if (s->again || (v[5] >= SCHED_BATCH && v[4] < v[5])) {
        s->again = 0;
        run_pass(s);
    }
}

static void add_rate(gw_argv *a, const char *ch, double rate) {
    gw_argv_adds(a, ch);
    gw_argv_addf(a, "%.6g", rate);
}

static void run_pass(gw_sched *s) {
    if (s->closing || !gw_store_up(s->app->store))
        return;
    if (s->running) {
        s->again = 1;
        return;
    }
    const gw_config *c = s->app->cfg;
    int64_t now = gw_now_ms();
    gw_argv a = {0};
    gw_argv_adds(&a, "EVAL");
    gw_argv_add(&a, sched_lua, sizeof sched_lua - 1);
    gw_argv_adds(&a, "0");
    gw_argv_addf(&a, "%" PRId64, now);
    gw_argv_addf(&a, "%d", SCHED_BATCH);
    gw_argv_addf(&a, "%" PRId64, zone_offset(s->cal, now));
    gw_argv_addf(&a, "%d", s->quiet_start);
    gw_argv_addf(&a, "%d", s->quiet_end);
    gw_argv_addf(&a, "%lld", FB_WINDOW_MS);
    gw_argv_addf(&a, "%lld", ZALO_WINDOW_MS);
    gw_argv_addf(&a, "%d", ZALO_NIGHT_START_MIN);
    gw_argv_addf(&a, "%d", ZALO_NIGHT_END_MIN);
    add_rate(&a, "facebook", c->scheduler_rate_facebook);
    add_rate(&a, "zalo", c->scheduler_rate_zalo);
    add_rate(&a, "sms", c->scheduler_rate_sms);
    add_rate(&a, "webchat", c->scheduler_rate_webchat);
    if (!gw_argv_send(s->app->store, &a, on_pass, s))
        s->running = 1;
    gw_argv_free(&a);
}

static void on_tick(uv_timer_t *t) {
    gw_sched *s = t->data;
    run_pass(s);
    gw_fanout_run(s->fan);
}

/* A fan-out batch wrote notifications due now. */
static void on_fanned(void *priv) {
    run_pass(priv);
}

int gw_sched_open(gw_app *app, gw_sched **out, char *err, size_t errlen) {
    int rc = MC_EINVAL;
    const char *q = app->cfg->sms_quiet_hours;
    gw_sched *s = *out = calloc(1, sizeof *s);
    if (!s || !(s->fan = gw_fanout_new(app, on_fanned, s))) {
        snprintf(err, errlen, "out of memory");
        rc = MC_ENOMEM;
        goto fail;
    }
    s->app = app;
    s->quiet_start = s->quiet_end = -1;
    if (*q && gw_sched_parse_hours(q, &s->quiet_start, &s->quiet_end)) {
        snprintf(err, errlen, "[sms] quiet_hours '%s' is not HH:MM-HH:MM", q);
        goto fail;
    }
    if (s->quiet_start == s->quiet_end)
        s->quiet_start = s->quiet_end = -1; /* an empty period: no quiet hours */
    if ((rc = open_zone(app->cfg->scheduler_timezone, &s->cal, err, errlen)) != 0)
        goto fail;
    uv_timer_init(app->loop, &s->timer);
    s->timer.data = s;
    uv_timer_start(&s->timer, on_tick, SCHED_TICK_MS, SCHED_TICK_MS);
    gw_log(GW_INFO, "sched.started", "{s:s, s:s}", "timezone", app->cfg->scheduler_timezone,
           "quiet_hours", *q ? q : "none");
    return 0;
fail:
    if (s)
        gw_fanout_free(s->fan);
    free(s);
    *out = NULL;
    return rc;
}

void gw_sched_wake(gw_sched *s) {
    if (s)
        run_pass(s);
}

static void on_closed(uv_handle_t *h) {
    gw_sched *s = h->data;
    ucal_close(s->cal);
    free(s);
}

void gw_sched_free(gw_sched *s) {
    if (!s)
        return;
    /* a pass in flight answers (or gets NULL) before the store goes: the store
     * is freed first by main, so no callback can arrive after the close */
    s->closing = 1;
    gw_fanout_free(s->fan); /* a batch in flight finishes in Redis, its answer dropped */
    s->fan = NULL;
    uv_timer_stop(&s->timer);
    uv_close((uv_handle_t *)&s->timer, on_closed);
}
