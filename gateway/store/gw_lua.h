/*
 * gw_lua.h — Lua functions shared by the scripts that settle a notification. They run
 * after the keyspace prelude (store/gw_script.h: `K.<family>` builds the keys of the
 * partition of KEYS[1]) and touch only that partition: the notification, its
 * broadcast's progress in this partition, and this partition's daily counters, dead
 * list and final set.
 */
#ifndef GW_LUA_H
#define GW_LUA_H

/* bc_note(bc, ch, from, to, fin) moves one recipient of broadcast bc (nil or "" = none)
 * on channel ch from outcome `from` (nil = none) to outcome `to` (st:<to>:<ch> += 1) in
 * the broadcast's hash of this partition (bc_part), and when fin counts it as finished;
 * the last one to finish a fully fanned partition (status sending) makes it done. A
 * bc_part that is gone (retention) is not made again: its status, read first, says so
 * (one read where EXISTS and a later HMGET were two). */
#define GW_BC_NOTE_LUA                                                                             \
    "local function bc_note(bc,ch,from,to,fin)\n"                                                  \
    "  if not bc or bc=='' then return end\n"                                                      \
    "  local bk=K.bc_part(bc)\n"                                                                   \
    "  local b=redis.call('HMGET',bk,'status','fanned')\n"                                         \
    "  if not b[1] then return end\n"                                                              \
    "  if from then redis.call('HINCRBY',bk,'st:'..from..':'..ch,-1) end\n"                        \
    "  redis.call('HINCRBY',bk,'st:'..to..':'..ch,1)\n"                                            \
    "  if fin then\n"                                                                              \
    "    local f=redis.call('HINCRBY',bk,'finished',1)\n"                                          \
    "    if b[1]=='sending' and f>=(tonumber(b[2]) or 0) then\n"                                   \
    "      redis.call('HSET',bk,'status','done')\n"                                                \
    "    end\n"                                                                                    \
    "  end\n"                                                                                      \
    "end\n"

/* ymd(ms) is the local date "yyyy-mm-dd" at ms, TZ being the zone's offset in ms that
 * the script sets from its arguments (gw_tz_offset_ms at that instant; the civil-from-
 * days computation of gw_date_of_day: the scripts have no os.date); day_note(id, dept,
 * ch, outcome, now) records that notification id reached a final outcome at now: the
 * partition's final set, and unless cancelled the department's counter of the day
 * (its expiry set when a counter is made: every hash is made by a counter's first
 * write, so it is kept 40 days after its last new counter, without an EXPIRE per
 * outcome);
 * dead_note(id, dept, ch, reason, attempts, now) also records the death in the
 * notification hash and in the department's dead list, and counts it dead once: a letter retried
 * (POST /dead/{id}/retry keeps dead_counted) that dies again is not counted a second time.
 * dead_why(id, fallback) is the
 * reason a dead notification shows: each channel it tried with the last failure there
 * ("zalo: outside_window; sms: invalid_number"; one channel: its error alone, the channel
 * being the dead letter's own field), or fallback when none failed. */
#define GW_DAY_NOTE_LUA                                                                            \
    "local TZ=0\n"                                                                                 \
    "local function ymd(ms)\n"                                                                     \
    "  local z=math.floor((ms+TZ)/86400000)+719468\n"                                              \
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
    "  redis.call('ZADD',K.final(),now,id)\n"                                                      \
    "  if not dept or dept=='' or outcome=='cancelled' then return end\n"                          \
    "  local sk=K.stats(dept,ymd(now))\n"                                                          \
    "  if redis.call('HINCRBY',sk,((ch and ch~='') and ch or '-')..':'..outcome,1)==1 then\n"      \
    "    redis.call('EXPIRE',sk," GW_LUA_STATS_TTL_S ")\n"                                         \
    "  end\n"                                                                                      \
    "end\n"                                                                                        \
    "local function dead_why(id,fallback)\n"                                                       \
    "  local seen,out={},{}\n"                                                                     \
    "  for _,a in ipairs(redis.call('LRANGE',K.attempts(id),0,-1)) do\n"                           \
    "    local ok,v=pcall(cjson.decode,a)\n"                                                       \
    "    if ok and type(v)=='table' and type(v.channel)=='string' and v.channel~='' and\n"         \
    "      (v.result=='failed' or v.result=='skipped') then\n"                                     \
    "      if not seen[v.channel] then out[#out+1]=v.channel end\n"                                \
    "      seen[v.channel]=tostring(v.error or v.result)\n"                                        \
    "    end\n"                                                                                    \
    "  end\n"                                                                                      \
    "  if #out==0 then return fallback elseif #out==1 then return seen[out[1]] end\n"              \
    "  for i,c in ipairs(out) do out[i]=c..': '..seen[c] end\n"                                    \
    "  return table.concat(out,'; ')\n"                                                            \
    "end\n"                                                                                        \
    "local function dead_note(id,dept,ch,reason,attempts,now)\n"                                   \
    "  local again=redis.call('HGET',K.notif(id),'dead_counted')=='1'\n"                           \
    "  redis.call('HSET',K.notif(id),'dead_reason',reason or '','dead_ms',now,"                    \
    "'dead_ch',ch or '','dead_attempts',attempts or 0,'dead_counted','1')\n"                       \
    "  if dept and dept~='' then redis.call('ZADD',K.dead_dept(dept),now,id) end\n"                \
    "  if again then redis.call('ZADD',K.final(),tonumber(now) or 0,id)\n"                         \
    "  else day_note(id,dept,ch,'dead',now) end\n"                                                 \
    "end\n"

#define GW_LUA_STATS_TTL_S "3456000" /* daily counters kept 40 days */

#endif
