#!/usr/bin/env bash
# scripts/bench/broadcast.sh — a broadcast to BC_BENCH_N (default 100,000) ward
# subscribers on zalo, facebook and sms, created through the department API
# (POST /api/v1/broadcasts on a `--role gateway` process), fanned out and sent by
# `motcua serve --role dispatcher` (normal build) to the nginx provider stand-in of
# lib/common.sh (canned success answers; it answers far faster than motcua sends), with
# a private Redis (AOF on) on a unix socket. Progress and counts come from
# GET /api/v1/broadcasts/{id}; the few raw Redis keys the bench needs (audience, chat
# windows, rate buckets, one notification's memory) are in lib/keys.mjs only.
# Prints measured figures only, in three steps:
#
#   1. scheduling: the dispatcher runs with every channel's rate limit at (almost) zero,
#      so the fan-out writes all notifications and they stay scheduled: the time to
#      enqueue every recipient (fan_started_ms → fan_done_ms of the API's answer) and the
#      Redis memory per scheduled notification (INFO used_memory after the fan-out minus
#      just before the broadcast, divided by the scheduled notifications; MEMORY USAGE of
#      one notification hash and of the due set for the breakdown). Before that, the
#      memory per subscriber (set member and chat window) while the audience is loaded.
#   2. sending: a dispatcher without rate limits takes over and sends them all: the
#      sustained send rate from the stand-in's own access log (nginx's $msec of the first
#      and last request: (requests - 1) / (last - first)), checked against the API's
#      per-channel "sent" counts (one request per recipient, all 2xx), and the time from
#      its start to the broadcast's `done`.
#   3. the stand-in's own ceiling from wrk (Debian's package): requests of the three
#      shapes the dispatcher sends (Facebook JSON, Zalo JSON, Twilio form with the same
#      text), round robin, with as many connections as the dispatcher keeps in flight
#      (gw_httpc: 8 per provider × 3), for BC_BENCH_WRK_SECONDS (10).
#   4. Redis's own time for the fan-out's writes (redis-benchmark, below).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$BENCH_ROOT"
export LC_ALL=C.UTF-8

export MOTCUA_BIN=${MOTCUA_BIN:-$BENCH_ROOT/build/motcua} # the normal build (make bench builds it)
[ -x "$MOTCUA_BIN" ] || bench_die "$MOTCUA_BIN missing (make)"
bench_need_apt wrk nginx-light
command -v redis-benchmark >/dev/null || bench_die "redis-benchmark is missing (Debian's redis-tools)"
bench_need_node
command -v redis-server >/dev/null || bench_die "redis-server is missing (make deps)"

bench_init broadcast
export BC_BENCH_N=${BC_BENCH_N:-100000}
export BC_BENCH_WRK_SECONDS=${BC_BENCH_WRK_SECONDS:-10}
export BC_BENCH_DIR=$W
export BENCH_FIGURES

bench_redis "$W/redis"
bench_standin "$W/standin"
export REDIS_SOCK STANDIN_URL STANDIN_DIR
node scripts/bench/broadcast.mjs

# Redis's own time for the fan-out's writes, on the same Redis (keys of its own): one
# EVALSHA per batch of FAN_BATCH recipients, each SADD to the seen set, HSET of the
# notification's five fields (a broadcast recipient of normal priority without
# not_after), ZADD to the due set, then one HINCRBY of the per-channel count per batch,
# as gw_fanout.c's fan script does (without its SSCAN of the ward set), one connection.
FAN_BATCH=500
rcli FLUSHALL >/dev/null
FAN_LUA="local n=tonumber(ARGV[1]) local a=0 for i=1,n do local m='zalo:u'..ARGV[2]..'-'..i
if redis.call('SADD',KEYS[2],m)==1 then local nid=ARGV[2]..'-'..i
redis.call('HSET','bench:notif:'..nid,'dept','bench','status','scheduled','to',cjson.encode({channel='zalo',user_id=m}),'channels','zalo','broadcast','b')
redis.call('ZADD',KEYS[3],1763900000000,nid) a=a+1 end end
redis.call('HINCRBY',KEYS[1],'fanned:zalo',a) return n"
sha=$(rcli SCRIPT LOAD "$FAN_LUA")
calls=$(( (BC_BENCH_N + FAN_BATCH - 1) / FAN_BATCH ))
rps=$(redis-benchmark -s "$REDIS_SOCK" -c 1 -n "$calls" -r 1000000000 --csv \
    EVALSHA "$sha" 3 bench:bc bench:seen bench:due "$FAN_BATCH" __rand_int__ 2>/dev/null |
    tail -n 1 | awk -F'","' '{ gsub(/"/, "", $2); printf "%.0f", $2 }')
fan_rate=$(awk -v r="$rps" -v b="$FAN_BATCH" 'BEGIN { printf "%.0f", r * b }')
rcli FLUSHALL >/dev/null
printf '%-58s %s\n' "Redis alone, the fan-out's writes (batches of $FAN_BATCH)" \
    "$(awk -v r="$fan_rate" -v n="$BC_BENCH_N" 'BEGIN { printf "%.0f recipients/s: %.2f s for %d", r, n / r, n }')"
bench_figure bc.redis_fanout_rate "$fan_rate"
