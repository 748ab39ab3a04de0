#!/usr/bin/env bash
# scripts/bench/webchat.sh — memory per idle web chat connection: WEBCHAT_BENCH_CONNS
# (default 10,000) WebSockets to `motcua serve` (normal build, private Redis), subprotocol
# motcua.v1, each saying hello and getting its welcome (a new session each), then left
# idle. motcua's VmRSS after them minus before them (after a warm-up of 100 connections
# opened and closed), divided by the connections; Redis's used_memory the same way (the
# sessions). The client is one Node process (webchat-idle.mjs, the `ws` package of the
# test tools). Each side needs one descriptor per connection: the open-files limit is
# raised as far as the hard limit allows.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$BENCH_ROOT"
export LC_ALL=C.UTF-8

BIN=build/motcua
CONNS=${WEBCHAT_BENCH_CONNS:-10000}
FD_WANTED=65536
FD_SPARE=1000 # descriptors besides the connections (Redis, logs, libraries)

bench_need_node
[ -x "$BIN" ] || bench_die "$BIN is missing (run make bench, which builds it)"
command -v redis-server >/dev/null || bench_die "redis-server is missing (make deps)"
ulimit -n "$FD_WANTED" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge $((CONNS + FD_SPARE)) ] ||
    bench_die "open files limited to $(ulimit -n): $CONNS connections need $((CONNS + FD_SPARE))"

bench_init webchat
bench_redis "$W/redis"
port=$(bench_free_port)
MOTCUA_LOG_LEVEL=warn MOTCUA_OUTBOX_DIR="$W/outbox" MOTCUA_WEBCHAT_ALLOWED_ORIGINS='*' \
    "$BIN" serve --config config/demo.ini --listen "127.0.0.1:$port" \
    --redis "unix:$REDIS_SOCK" 2>"$W/motcua.log" &
MC_PID=$!
bench_track "$MC_PID"
bench_wait_http "http://127.0.0.1:$port/healthz"

node scripts/bench/webchat-idle.mjs "ws://127.0.0.1:$port/ws" "$MC_PID" "$REDIS_SOCK" "$CONNS" >"$W/idle.json"
alive=$(kill -0 "$MC_PID" 2>/dev/null && echo yes || echo no)
bench_stop "$MC_PID"
node -e '
const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const kb = (r.rssAfterKb - r.rssBeforeKb) / r.count;
const row = (k, v) => console.log(`${k.padEnd(58)} ${v}`);
console.log(`\nidle web chat connections (hello done), one motcua process`);
row("connections opened, welcomed, still open", `${r.open} of ${r.count} (opened in ${r.openMs} ms)`);
row("motcua VmRSS before / after", `${(r.rssBeforeKb / 1024).toFixed(1)} MB / ${(r.rssAfterKb / 1024).toFixed(1)} MB`);
row("motcua memory per idle connection", `${kb.toFixed(2)} KB`);
row("Redis memory per session", `${Math.round((r.redisAfter - r.redisBefore) / r.count)} bytes`);
require("fs").appendFileSync(process.argv[2], `wc.conns\t${r.count}\nwc.kb_per_conn\t${kb.toFixed(2)}\nwc.open\t${r.open}\n`);
if (r.open !== r.count) process.exit(1);
' "$W/idle.json" "$BENCH_FIGURES"
[ "$alive" = yes ] || bench_die "motcua died during the run (see $W/motcua.log)"
