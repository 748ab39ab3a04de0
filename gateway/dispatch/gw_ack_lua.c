/*
 * gw_ack_lua.c — the Lua scripts that settle a notification when its job ends and
 * acknowledge its stream entry in the same step (gw_ack.c): sent, failed or skipped on
 * this channel (the next channel of its fallback list, or dead), cancelled with
 * its broadcast; and the one a provider receipt runs (gw_receipts.c). Each keeps
 * the notification hash, its attempts list, its broadcast's counters in this
 * partition (bc_note) and the partition's daily counters (day_note, dead_note:
 * store/gw_lua.h) in step, atomically. KEYS[1] is the notification's hash, so a
 * script runs on the notification's partition and `K` builds that partition's keys.
 * Texts only: the callers build them into gw_scripts.
 */
#include "gateway/dispatch/gw_ack_lua.h"

#include "gateway/store/gw_keys.h"
#include "gateway/store/gw_lua.h"

/* KEYS[1] K.notif(id); ARGV: id channel provider_id now tz_offset_ms [note]. A
 * notification being sent becomes sent; the note (an unconfirmed send) goes into its
 * attempts entry. */
/* The end of every settling script: the stream entry the notification left by is
 * acknowledged and deleted, and its wire mark too, in the same atomic step as the
 * outcome (KEYS[2] the stream, KEYS[3] its wire marks, the entry id last of ARGV). A
 * command that fails inside a MULTI does not stop the others: had the acknowledgement
 * been a MULTI around the script, a script Redis had lost (NOSCRIPT) would have
 * acknowledged the entry and lost the outcome. */
#define ACK_ENTRY_LUA                                                                              \
    "local function ack_entry(r)\n"                                                                \
    "  local e=ARGV[#ARGV]\n"                                                                      \
    "  redis.call('XACK',KEYS[2],'" GW_GROUP "',e)\n"                                              \
    "  redis.call('XDEL',KEYS[2],e)\n"                                                             \
    "  redis.call('HDEL',KEYS[3],e)\n"                                                             \
    "  return r\n"                                                                                 \
    "end\n"

/* KEYS notif, stream, wire; ARGV: id channel provider_id now tz_offset_ms note units entry.
 * A notification being sent becomes sent; the note (an unconfirmed send, or "") goes into
 * its attempts entry; units (what the provider charges by: SMS segments, ZNS messages; 0
 * for a free channel) are added to the day's "<channel>:units" counter, which GET /stats
 * prices. */
const char gw_lua_notif_sent[] = GW_BC_NOTE_LUA GW_DAY_NOTE_LUA ACK_ENTRY_LUA
    "TZ=tonumber(ARGV[5]) or 0\n"
    "local k=KEYS[1]\n"
    "local st,bc,dept=unpack(redis.call('HMGET',k,'status','broadcast','dept'))\n"
    "if not st then return ack_entry(0) end\n"
    "if st=='sending' then\n"
    "  redis.call('HSET',k,'status','sent','provider_id',ARGV[3],'sent_ms',ARGV[4])\n"
    "  bc_note(bc,ARGV[2],nil,'sent',true)\n"
    "  day_note(ARGV[1],dept,ARGV[2],'sent',ARGV[4])\n"
    "  local u=tonumber(ARGV[7]) or 0\n"
    "  if u>0 and dept and dept~='' then\n"
    "    redis.call('HINCRBY',K.stats(dept,ymd(tonumber(ARGV[4]))),ARGV[2]..':units',u)\n"
    "  end\n"
    "end\n"
    "local note=ARGV[6]~='' and ARGV[6] or nil\n"
    "redis.call('RPUSH',K.attempts(ARGV[1]),cjson.encode({channel=ARGV[2],at=tonumber(ARGV[4]),\n"
    "  result='sent',provider_id=ARGV[3],note=note}))\n"
    "return ack_entry(1)\n";

/* KEYS notif, stream, wire; ARGV: id channel reason now entry to text attempts
 * tz_offset_ms result final later_ms entry. Result "later": the same channel again at
 * later_ms (the number's cap of the day), back on the due set, not a failure. The channel failed
 * for good (result "failed"), or was skipped before a request (result "skipped": outside the
 * citizen's window, a citizen or a channel the sender remembers as out): the next one of the
 * fallback list, or dead — dead at once when final is "1" (no channel can carry it: its provider
 * template is disabled). 1 re-routed, 2 dead. */
const char gw_lua_notif_fail[] = GW_BC_NOTE_LUA GW_DAY_NOTE_LUA ACK_ENTRY_LUA
    "TZ=tonumber(ARGV[9]) or 0\n"
    "local id,ch,reason,now=ARGV[1],ARGV[2],ARGV[3],tonumber(ARGV[4])\n"
    "local k=KEYS[1]\n"
    "local h=redis.call('HMGET',k,'status','channels','idx','broadcast','dept')\n"
    "if h[1]=='sending' then\n"
    "  redis.call('RPUSH',K.attempts(id),cjson.encode({channel=ch,at=now,\n"
    "    result=ARGV[10],error=reason}))\n"
    "  local n=0 for c in string.gmatch(h[2] or '','[^,%s]+') do n=n+1 end\n"
    "  local idx=tonumber(h[3]) or 0\n"
    "  if ARGV[10]=='later' then\n"
    "    redis.call('HSET',k,'status','scheduled')\n"
    "    redis.call('ZADD',K.due(),tonumber(ARGV[12]),id)\n"
    "    return ack_entry(1)\n"
    "  end\n"
    "  if idx+1<n and ARGV[11]~='1' then\n"
    "    redis.call('HSET',k,'status','scheduled','idx',idx+1)\n"
    "    redis.call('ZADD',K.due(),now,id)\n"
    "    return ack_entry(1)\n"
    "  end\n"
    "  redis.call('HSET',k,'status','dead')\n"
    "  bc_note(h[4],ch,nil,'dead',true)\n"
    "  reason=dead_why(id,reason)\n"
    "  dead_note(id,h[5],ch,reason,tonumber(ARGV[8]) or 0,now)\n"
    "  redis.call('XADD',K.dead(),'*','ch',ch,'entry',ARGV[5],'to',ARGV[6],\n"
    "    'text',ARGV[7],'reason',reason,'attempts',ARGV[8],'at',ARGV[4],'notif',id)\n"
    "  return ack_entry(2)\n"
    "end\n"
    "return ack_entry(0)\n";

/* KEYS notif, stream, wire; ARGV: id channel now tz_offset_ms entry. The broadcast of a
 * notification still waiting on the outbound stream was cancelled: it becomes cancelled,
 * like the recipients the scheduler had not routed yet (gw_sched.c), and is not sent. */
const char gw_lua_notif_cancel[] = GW_BC_NOTE_LUA GW_DAY_NOTE_LUA ACK_ENTRY_LUA
    "TZ=tonumber(ARGV[4]) or 0\n"
    "local k=KEYS[1]\n"
    "local st,bc,dept=unpack(redis.call('HMGET',k,'status','broadcast','dept'))\n"
    "if st~='sending' then return ack_entry(0) end\n"
    "redis.call('HSET',k,'status','cancelled')\n"
    "redis.call('RPUSH',K.attempts(ARGV[1]),cjson.encode({channel=ARGV[2],at=tonumber(ARGV[3]),\n"
    "  result='cancelled',error='broadcast cancelled'}))\n"
    "bc_note(bc,ARGV[2],nil,'cancelled',true)\n"
    "day_note(ARGV[1],dept,ARGV[2],'cancelled',ARGV[3])\n"
    "return ack_entry(1)\n";

/* KEYS[1] K.notif(id); ARGV: id channel receipt_status at tz_offset_ms. The
 * notification of a delivery record follows its receipts: delivered/read → delivered,
 * failed/undelivered → failed. A receipt seen again finds the status moved on and
 * changes nothing. */
const char gw_lua_receipt[] = GW_BC_NOTE_LUA GW_DAY_NOTE_LUA
    "TZ=tonumber(ARGV[5]) or 0\n"
    "local id=ARGV[1]\n"
    "local to=nil\n"
    "if ARGV[3]=='delivered' or ARGV[3]=='read' then to='delivered'\n"
    "elseif ARGV[3]=='failed' or ARGV[3]=='undelivered' then to='failed' end\n"
    "if not to then return 0 end\n"
    "local k=KEYS[1]\n"
    "local st,bc,dept=unpack(redis.call('HMGET',k,'status','broadcast','dept'))\n"
    "if st~='sending' and st~='sent' then return 0 end\n"
    "redis.call('HSET',k,'status',to)\n"
    "if st=='sending' then day_note(id,dept,ARGV[2],'sent',ARGV[4]) end\n"
    "day_note(id,dept,ARGV[2],to,ARGV[4])\n"
    "if st=='sent' then bc_note(bc,ARGV[2],'sent',to,false)\n"
    "else bc_note(bc,ARGV[2],nil,to,true) end\n"
    "redis.call('RPUSH',K.attempts(id),cjson.encode({channel=ARGV[2],at=tonumber(ARGV[4]),\n"
    "  result=to}))\n"
    "return 1\n";
