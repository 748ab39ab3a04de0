/*
 * gw_ack_lua.c — the Lua scripts that settle a notification when its job
 * ends, run with EVAL inside the acknowledgement's MULTI (gw_ack.c): sent,
 * failed on this channel (the next channel of its fallback list, or dead),
 * cancelled with its broadcast; and the one a provider receipt runs. Each
 * keeps the notification hash, its attempts list, its broadcast's counters
 * (bc_note) and the daily counters (day_note, dead_note: store/gw_lua.h) in
 * step, atomically. Texts only: the callers are in gw_ack.c.
 */
#include "gateway/dispatch/gw_ack_lua.h"

#include "gateway/store/gw_lua.h"

/* ARGV: id channel provider_id now [note]. A notification being sent becomes
 * sent; the note (an unconfirmed send) goes into its attempts entry. */
const char gw_lua_notif_sent[] = GW_BC_NOTE_LUA GW_DAY_NOTE_LUA
    "local k='" GW_NOTIF_PREFIX "'..ARGV[1]\n"
    "local st,bc,dept=unpack(redis.call('HMGET',k,'status','broadcast','dept'))\n"
    "if not st then return 0 end\n"
    "if st=='sending' then\n"
    "  redis.call('HSET',k,'status','sent','provider_id',ARGV[3],'sent_ms',ARGV[4])\n"
    "  bc_note(bc,ARGV[2],nil,'sent',true)\n"
    "  day_note(ARGV[1],dept,ARGV[2],'sent',ARGV[4])\n"
    "end\n"
    "redis.call('RPUSH',k..':attempts',cjson.encode({channel=ARGV[2],at=tonumber(ARGV[4]),\n"
    "  result='sent',provider_id=ARGV[3],note=ARGV[5]}))\n"
    "return 1\n";

/* ARGV: id channel reason now entry to text attempts. The channel failed for
 * good: the next one of the fallback list, or dead. 1 re-routed, 2 dead. */
const char gw_lua_notif_fail[] = GW_BC_NOTE_LUA GW_DAY_NOTE_LUA
    "local id,ch,reason,now=ARGV[1],ARGV[2],ARGV[3],tonumber(ARGV[4])\n"
    "local k='" GW_NOTIF_PREFIX "'..id\n"
    "local h=redis.call('HMGET',k,'status','channels','idx','broadcast','dept')\n"
    "if h[1]=='sending' then\n"
    "  redis.call('RPUSH',k..':attempts',cjson.encode({channel=ch,at=now,result='failed',\n"
    "    error=reason}))\n"
    "  local n=0 for c in string.gmatch(h[2] or '','[^,%s]+') do n=n+1 end\n"
    "  local idx=tonumber(h[3]) or 0\n"
    "  if idx+1<n then\n"
    "    redis.call('HSET',k,'status','scheduled','idx',idx+1)\n"
    "    redis.call('ZADD','" GW_DUE_KEY "',now,id)\n"
    "    return 1\n"
    "  end\n"
    "  redis.call('HSET',k,'status','dead')\n"
    "  bc_note(h[4],ch,nil,'dead',true)\n"
    "  dead_note(id,h[5],ch,reason,tonumber(ARGV[8]) or 0,now)\n"
    "end\n"
    "redis.call('XADD','" GW_DEAD_STREAM "','*','ch',ch,'entry',ARGV[5],'to',ARGV[6],\n"
    "  'text',ARGV[7],'reason',reason,'attempts',ARGV[8],'at',ARGV[4],'notif',id)\n"
    "return 2\n";

/* ARGV: id channel now. The broadcast of a notification still waiting on the
 * outbound stream was cancelled: it becomes cancelled, like the recipients the
 * scheduler had not routed yet (gw_sched.c), and is not sent. */
const char gw_lua_notif_cancel[] = GW_BC_NOTE_LUA GW_DAY_NOTE_LUA
    "local k='" GW_NOTIF_PREFIX "'..ARGV[1]\n"
    "local st,bc,dept=unpack(redis.call('HMGET',k,'status','broadcast','dept'))\n"
    "if st~='sending' then return 0 end\n"
    "redis.call('HSET',k,'status','cancelled')\n"
    "redis.call('RPUSH',k..':attempts',cjson.encode({channel=ARGV[2],at=tonumber(ARGV[3]),\n"
    "  result='cancelled',error='broadcast cancelled'}))\n"
    "bc_note(bc,ARGV[2],nil,'cancelled',true)\n"
    "day_note(ARGV[1],dept,ARGV[2],'cancelled',ARGV[3])\n"
    "return 1\n";

/* ARGV: dlv key, channel, receipt status, at. The notification of a delivery
 * record follows its receipts: delivered/read → delivered, failed/undelivered
 * → failed. */
const char gw_lua_receipt[] = GW_BC_NOTE_LUA GW_DAY_NOTE_LUA
    "local id=redis.call('HGET',ARGV[1],'notif')\n"
    "if not id or id=='-' then return 0 end\n"
    "local to=nil\n"
    "if ARGV[3]=='delivered' or ARGV[3]=='read' then to='delivered'\n"
    "elseif ARGV[3]=='failed' or ARGV[3]=='undelivered' then to='failed' end\n"
    "if not to then return 0 end\n"
    "local k='" GW_NOTIF_PREFIX "'..id\n"
    "local st,bc,dept=unpack(redis.call('HMGET',k,'status','broadcast','dept'))\n"
    "if st~='sending' and st~='sent' then return 0 end\n"
    "redis.call('HSET',k,'status',to)\n"
    "if st=='sending' then day_note(id,dept,ARGV[2],'sent',ARGV[4]) end\n"
    "day_note(id,dept,ARGV[2],to,ARGV[4])\n"
    "if st=='sent' then bc_note(bc,ARGV[2],'sent',to,false)\n"
    "else bc_note(bc,ARGV[2],nil,to,true) end\n"
    "redis.call('RPUSH',k..':attempts',cjson.encode({channel=ARGV[2],at=tonumber(ARGV[4]),\n"
    "  result=to}))\n"
    "return 1\n";
