/*
 * gw_sched.h — the notification scheduler: moves due notifications from the
 * sorted set mc:due to the outbound streams mc:out:<channel>.
 *
 * Redis shapes (shared with the department API):
 *   hash   mc:notif:<id>  dept status text to channels idx send_at_ms not_after_ms
 *                         priority created_ms [broadcast]; the scheduler adds channel,
 *                         the sender provider_id and sent_ms. A broadcast recipient
 *                         has no text of its own: readers take mc:bc:<broadcast>'s
 *   zset   mc:due         member <id>, score = due time in ms
 *   list   mc:notif:<id>:attempts  JSON {channel, at, result, error}
 *   hash   mc:conv:<channel>:<user id>  last_in_ms (chat windows)
 *   hash   mc:rate:<channel>  tokens ts (the shared per-channel token bucket)
 *
 * Broadcasts (recorded by the department API, fanned out here):
 *   hash   mc:bc:<id>     dept status text wards channels tags priority send_at_ms
 *                         not_after_ms created_ms recipients count:<channel>; the
 *                         fan-out adds fanned fanned:<channel> cursor ward_idx
 *                         scan_run fan_started_ms fan_done_ms, and the outcomes
 *                         st:<status>:<channel> and finished (see GW_BC_NOTE_LUA);
 *                         retention adds stripped (recipients whose retention
 *                         ended) and, once every recipient's has, removes the
 *                         text (text_removed text_removed_ms)
 *   zset   mc:bc:due      member <id>, score = send_at_ms
 *   set    mc:bc:<id>:seen  recipients fanned so far (deleted when fan-out ends)
 *   status scheduled → fanning → sending → done, or cancelled
 *   Each recipient becomes notification <bc id>-<n> with broadcast=<bc id>.
 */
#ifndef GW_SCHED_H
#define GW_SCHED_H

#include "gateway/gw_app.h"

#include <stdint.h>

#define GW_DUE_KEY "mc:due"         /* sorted set of due notification ids */
#define GW_NOTIF_PREFIX "mc:notif:" /* hash of one notification */
#define GW_BC_DUE_KEY "mc:bc:due"   /* sorted set of due broadcast ids */
#define GW_BC_PREFIX "mc:bc:"       /* hash of one broadcast */

/* A Lua function for scripts that settle a notification: bc_note(bc, ch, from,
 * to, fin) moves one recipient of broadcast bc (nil or "" = none) on channel ch
 * from outcome `from` (nil = none) to outcome `to` (st:<to>:<ch> += 1), and when
 * fin counts it as finished; the last one to finish a fully fanned broadcast
 * (status sending) makes it done. */
#define GW_BC_NOTE_LUA                                                                             \
    "local function bc_note(bc,ch,from,to,fin)\n"                                                  \
    "  if not bc or bc=='' then return end\n"                                                      \
    "  local bk='" GW_BC_PREFIX "'..bc\n"                                                          \
    "  if redis.call('EXISTS',bk)==0 then return end\n"                                            \
    "  if from then redis.call('HINCRBY',bk,'st:'..from..':'..ch,-1) end\n"                        \
    "  redis.call('HINCRBY',bk,'st:'..to..':'..ch,1)\n"                                            \
    "  if fin then\n"                                                                              \
    "    local f=redis.call('HINCRBY',bk,'finished',1)\n"                                          \
    "    local b=redis.call('HMGET',bk,'status','fanned')\n"                                       \
    "    if b[1]=='sending' and f>=(tonumber(b[2]) or 0) then\n"                                   \
    "      redis.call('HSET',bk,'status','done')\n"                                                \
    "    end\n"                                                                                    \
    "  end\n"                                                                                      \
    "end\n"

/* Daily outcome counters, dead-letter listing and retention (read by gw_report):
 *   hash   mc:stats:<dept>:<yyyy-mm-dd>  <channel>:<outcome> → count, the day in
 *                         Asia/Ho_Chi_Minh (UTC+7, no DST), kept GW_STATS_TTL_S
 *   zset   mc:dead:<dept> member notification id, score = when it died (ms)
 *   zset   mc:final       member notification id, score = ms of its last final
 *                         outcome; the retention sweeper strips what is older
 *   the notification hash gains dead_reason dead_ms dead_ch dead_attempts when it
 *   dies, and text_removed text_removed_ms when retention took text and to away.
 * Outcomes: sent (accepted by the provider; delivered and failed ones were sent
 * too), delivered, failed (receipts), dead, expired; cancelled is final but not
 * counted. */
#define GW_STATS_PREFIX "mc:stats:"    /* + <dept>:<yyyy-mm-dd> */
#define GW_DEAD_DEPT_PREFIX "mc:dead:" /* + <dept> */
#define GW_FINAL_KEY "mc:final"        /* notifications in a final state */
#define GW_STATS_TTL_S "3456000"       /* counters are kept 40 days (text: used in Lua) */
#define GW_VN_OFFSET_MS 25200000LL     /* Asia/Ho_Chi_Minh is UTC+7 all year */

/* Lua functions for the scripts that settle a notification (after GW_BC_NOTE_LUA):
 * ymd(ms) is the local date "yyyy-mm-dd" at ms (the civil-from-days algorithm of
 * gw_report_ymd, in Lua: the scripts have no os.date); day_note(id, dept, ch,
 * outcome, now) records that notification id reached a final outcome at now:
 * mc:final, and unless cancelled the department's counter of the day;
 * dead_note(id, dept, ch, reason, attempts, now) also records the death in the
 * notification hash and in mc:dead:<dept>. */
#define GW_DAY_NOTE_LUA                                                                            \
    "local function ymd(ms)\n"                                                                     \
    "  local z=math.floor((ms+25200000)/86400000)+719468\n"                                        \
    "  local era=math.floor(z/146097) local doe=z-era*146097\n"                                    \
    "  local yoe=math.floor((doe-math.floor(doe/1460)+math.floor(doe/36524)-"                      \
    "math.floor(doe/146096))/365)\n"                                                               \
    "  local doy=doe-(365*yoe+math.floor(yoe/4)-math.floor(yoe/100))\n"                            \
    "  local mp=math.floor((5*doy+2)/153)\n"                                                       \
    "  local d=doy-math.floor((153*mp+2)/5)+1\n"                                                   \
    "  local m=mp<10 and mp+3 or mp-9\n"                                                           \
    "  local y=yoe+era*400+(m<=2 and 1 or 0)\n"                                                    \
    "  return string.format('%04d-%02d-%02d',y,m,d)\n"                                             \
    "end\n"                                                                                        \
    "local function day_note(id,dept,ch,outcome,now)\n"                                            \
    "  now=tonumber(now) or 0\n"                                                                   \
    "  redis.call('ZADD','" GW_FINAL_KEY "',now,id)\n"                                             \
    "  if not dept or dept=='' or outcome=='cancelled' then return end\n"                          \
    "  local sk='" GW_STATS_PREFIX "'..dept..':'..ymd(now)\n"                                      \
    "  redis.call('HINCRBY',sk,((ch and ch~='') and ch or '-')..':'..outcome,1)\n"                 \
    "  redis.call('EXPIRE',sk," GW_STATS_TTL_S ")\n"                                               \
    "end\n"                                                                                        \
    "local function dead_note(id,dept,ch,reason,attempts,now)\n"                                   \
    "  redis.call('HSET','" GW_NOTIF_PREFIX "'..id,'dead_reason',reason or '','dead_ms',now,"      \
    "'dead_ch',ch or '','dead_attempts',attempts or 0)\n"                                          \
    "  if dept and dept~='' then redis.call('ZADD','" GW_DEAD_DEPT_PREFIX "'..dept,now,id) end\n"  \
    "  day_note(id,dept,ch,'dead',now)\n"                                                          \
    "end\n"

typedef struct gw_sched gw_sched;

/* Starts the timer at once; it runs while Redis is up. NULL with a reason in
 * err (unknown [scheduler] timezone, bad quiet hours, out of memory). */
gw_sched *gw_sched_new(gw_app *app, char *err, size_t errlen);

/* Runs a pass now instead of at the next tick (new or re-routed notifications). */
void gw_sched_wake(gw_sched *s);

/* Stops; a pass in flight finishes in Redis (the script is atomic). */
void gw_sched_free(gw_sched *s);

/* Minutes since local midnight of "HH:MM-HH:MM" into *start and *end; 0 or
 * MC_EINVAL. Exposed for the unit tests. */
int gw_sched_parse_hours(const char *s, int *start, int *end);

/* UTC offset of the time zone tz at utc_ms, in ms, into *off; 0 or MC_EINVAL
 * (unknown zone, reason in err). */
int gw_sched_tz_offset(const char *tz, int64_t utc_ms, int64_t *off, char *err, size_t errlen);

#endif
