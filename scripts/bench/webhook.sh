#!/usr/bin/env bash
# scripts/bench/webhook.sh — signed Facebook webhooks accepted per second by motcua
# (verify + parse + dedup + persist in Redis, answered 200 only after the XADD) next
# to nginx answering the same POST with a static 200, both driven by wrk (Debian's
# package) with 50 connections on this machine; Redis's own ceiling for the same
# command shape; then end-to-end latency from the webhook to the reply arriving at a
# fake Facebook Send API, at 1,000 messages/s.
#
# Every request carries a different message id (pre-signed bodies, cycled by the wrk
# script), so motcua stores every one; bodies are those of a real text message.
# motcua is measured twice, each with a fresh Redis: "ingest" ([worker] converse =
# false: accept + store only, the conversations run in other processes) and "full"
# (the same process also runs the conversation worker and the sender on what arrives,
# as `make run` does; its replies go to the nginx provider stand-in of lib/common.sh,
# which answers far faster than motcua sends). Stored messages are counted from Redis's
# INFO commandstats (XADD calls), not from key names.
#
# Redis's ceiling: redis-benchmark on a private Redis started the same way (AOF on),
# EVALSHA of a script of the ingest's shape (SET NX EX of a dedup key + XADD of the
# same ten fields), random keys, 50 connections, without and with a pipeline of 16
# (motcua pipelines every command of a loop iteration on one connection).
#
# End to end: a fresh motcua (full) on a fresh Redis, replies to tests/fakes (the Node
# fake records each request's arrival time); signed webhooks at a fixed rate, each
# reply matched to its webhook by the recipient id (webhook-e2e.mjs).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$BENCH_ROOT"
export LC_ALL=C.UTF-8

BIN=build/motcua
CONNS=50
THREADS=2
DURATION=${WEBHOOK_BENCH_SECONDS:-10}
BODIES=${WEBHOOK_BENCH_BODIES:-250000}
REDIS_N=${WEBHOOK_BENCH_REDIS_REQUESTS:-200000} # redis-benchmark requests per shape
REDIS_PIPELINE=16
E2E_RATE=1000
E2E_SECONDS=10
SECRET=bench-app-secret
PAGE_TOKEN=BENCH-PAGE-TOKEN

bench_need_apt wrk nginx-light
bench_need_node
[ -x "$BIN" ] || bench_die "$BIN is missing (run make bench, which builds it)"
command -v redis-server >/dev/null || bench_die "redis-server is missing (make deps)"
command -v redis-benchmark >/dev/null || bench_die "redis-benchmark is missing (Debian's redis-tools)"

bench_init webhook
mkdir -p "$W/outbox"
bench_redis "$W/redis-ingest"
bench_standin "$W/standin"
bench_nginx_static "$W/nginx"

# fake Facebook for the end-to-end latency (answers at once, records arrival times)
node tests/fakes/providers.mjs --port 0 --config "{\"fbToken\":\"$PAGE_TOKEN\",\"maxRecords\":1000000}" >"$W/fakes.out" 2>"$W/fakes.err" &
bench_track $!
for _ in $(seq 1 "$BENCH_WAIT_STEPS"); do grep -q port "$W/fakes.out" 2>/dev/null && break; sleep 0.05; done
FAKE="http://127.0.0.1:$(sed -E 's/.*"port":([0-9]+).*/\1/' "$W/fakes.out")"

start_motcua() { # label converse api_base
    local port
    port=$(bench_free_port)
    MOTCUA_FACEBOOK_ENABLED=true MOTCUA_FACEBOOK_APP_SECRET=$SECRET MOTCUA_FACEBOOK_VERIFY_TOKEN=v \
        MOTCUA_FACEBOOK_PAGE_ACCESS_TOKEN=$PAGE_TOKEN MOTCUA_FACEBOOK_API_BASE=$3 \
        MOTCUA_LOG_LEVEL=warn MOTCUA_OUTBOX_DIR="$W/outbox" MOTCUA_WORKER_CONSUMER="bench-$1" \
        MOTCUA_WORKER_CONVERSE="$2" \
        "$BIN" serve --config config/demo.ini --listen "127.0.0.1:$port" \
        --redis "unix:$REDIS_SOCK" 2>"$W/motcua-$1.log" &
    MC_PID=$!
    bench_track "$MC_PID"
    MC_URL="http://127.0.0.1:$port"
    bench_wait_http "$MC_URL/healthz"
}

# signed bodies, one message id each ("signature<TAB>body" lines), cycled by wrk
node scripts/bench/webhook-bodies.mjs "$SECRET" "$BODIES" >"$W/bodies.tsv"
cat >"$W/post.lua" <<LUA
bodies, sigs = {}, {}
for line in io.lines("$W/bodies.tsv") do
    local tab = line:find("\t", 1, true)
    sigs[#sigs + 1] = line:sub(1, tab - 1)
    bodies[#bodies + 1] = line:sub(tab + 1)
end
i = 0 -- global: setup() gives each thread its own starting offset
local n = #bodies
request = function()
    i = i + 1
    local k = ((i - 1) % n) + 1
    return wrk.format("POST", "/webhook/facebook",
        { ["Content-Type"] = "application/json", ["X-Hub-Signature-256"] = sigs[k] }, bodies[k])
end
thread_seq = 0
setup = function(thread)
    thread_seq = thread_seq + 1
    thread:set("i", (thread_seq - 1) * math.floor($BODIES / $THREADS))
end
done = function(summary, latency, requests)
    io.write(string.format("RESULT %d %d %.0f %.3f %.3f %d\n", summary.requests, summary.duration,
        summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
        latency:percentile(99) / 1000, summary.errors.status + summary.errors.connect +
        summary.errors.read + summary.errors.write + summary.errors.timeout))
end
LUA

run_wrk() { # label url
    wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency -s "$W/post.lua" "$2" >"$W/wrk-$1.txt" 2>&1 || true
    grep '^RESULT' "$W/wrk-$1.txt" | tail -n 1
}
xadds() { # XADD calls since the snapshot $1
    bench_cmdstats "$W/cmd.after"
    bench_cmddiff "$1" "$W/cmd.after" | awk '$1 == "xadd" { n = $2 } END { print n + 0 }'
}

start_motcua ingest false "$STANDIN_URL"
bench_cmdstats "$W/cmd.ingest"
read -r _ in_req _ in_rps in_p50 in_p99 in_err <<<"$(run_wrk ingest "$MC_URL")"
in_stored=$(xadds "$W/cmd.ingest")
in_rss=$(awk '/VmHWM/ {print $2}' "/proc/$MC_PID/status")
bench_stop "$MC_PID"
bench_redis_fresh "$W/redis-full" # same bodies next: no dedup hits from the ingest run

bench_standin_rotate
start_motcua full true "$STANDIN_URL"
read -r _ mc_req _ mc_rps mc_p50 mc_p99 mc_err <<<"$(run_wrk full "$MC_URL")"
mc_replies=$(bench_standin_count facebook)
rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$MC_PID/status")
bench_stop "$MC_PID"
read -r _ ng_req _ ng_rps ng_p50 ng_p99 ng_err <<<"$(run_wrk nginx "$STATIC_URL")"

# Redis's ceiling for the ingest's command shape, on a Redis started the same way
bench_redis_fresh "$W/redis-bench"
INGEST_LUA="if redis.call('SET',KEYS[1],'1','NX','EX',ARGV[1]) then return redis.call('XADD',KEYS[2],'*','ch','facebook','kind','text','pid',ARGV[2],'from',ARGV[3],'to','1000','ts',ARGV[4],'status','','at',ARGV[4],'text',ARGV[5]) end return 0"
sha=$(rcli SCRIPT LOAD "$INGEST_LUA")
redis_rps() { # pipeline
    redis-benchmark -s "$REDIS_SOCK" -c "$CONNS" -n "$REDIS_N" -r 100000000 -P "$1" --csv \
        EVALSHA "$sha" 2 bench:dedup:__rand_int__ bench:in 604800 m_bench___rand_int__ \
        psid__rand_int__ 1763900000000 'lam khai sinh can giay to gi' 2>/dev/null |
        tail -n 1 | awk -F'","' '{ gsub(/"/, "", $2); printf "%.0f", $2 }'
}
rd_rps=$(redis_rps 1)
rd_rps_p=$(redis_rps "$REDIS_PIPELINE")

printf '\n%-40s %12s %12s %12s\n' "signed FB webhooks, ${CONNS} conns, ${DURATION} s" "motcua ingest" "motcua full" nginx
printf '%-40s %12s %12s %12s\n' "requests/s (200 answers)" "$in_rps" "$mc_rps" "$ng_rps"
printf '%-40s %12s %12s %12s\n' "latency p50 (ms)" "$in_p50" "$mc_p50" "$ng_p50"
printf '%-40s %12s %12s %12s\n' "latency p99 (ms)" "$in_p99" "$mc_p99" "$ng_p99"
printf '%-40s %12s %12s %12s\n' "non-2xx or socket errors" "$in_err" "$mc_err" "$ng_err"
printf '%-40s %12s %12s\n' "200 answers / messages stored (XADDs)" "$in_req/$in_stored" "$mc_req/-"
printf '%-40s %12s %12s\n' "replies at the stand-in during the run" "-" "$mc_replies"
printf '%-40s %12s %12s\n' "motcua peak RSS (MB)" "$(awk -v k="$in_rss" 'BEGIN{printf "%.1f", k/1024}')" "$(awk -v k="$rss_kb" 'BEGIN{printf "%.1f", k/1024}')"
awk -v a="$in_rps" -v b="$mc_rps" -v c="$ng_rps" 'BEGIN { printf "%-40s %11.0f%% %11.0f%%\n", "motcua / nginx", 100 * a / c, 100 * b / c }'
printf '%-40s %12s %12s\n' "Redis alone, ingest script shape (/s)" "$rd_rps" "pipelined $REDIS_PIPELINE: $rd_rps_p"
bench_figure wh.ingest_rps "$in_rps"
bench_figure wh.full_rps "$mc_rps"
bench_figure wh.nginx_rps "$ng_rps"
bench_figure wh.redis_ingest_rps "$rd_rps"
bench_figure wh.redis_ingest_rps_pipelined "$rd_rps_p"
bench_figure wh.full_replies_rate "$(awk -v n="$mc_replies" -v d="$DURATION" 'BEGIN { printf "%.0f", n / d }')"
[ "$in_err" = 0 ] || bench_die "the ingest run had $in_err errors"
# wrk stops with up to CONNS requests sent but their answers uncounted
[ "$in_stored" -ge "$in_req" ] && [ "$in_stored" -le $((in_req + CONNS)) ] ||
    bench_die "ingest: $in_req answers 200 but $in_stored messages stored"

# end to end at a fixed rate, from a fresh process and a fresh Redis (no backlog)
bench_redis_fresh "$W/redis-e2e"
start_motcua e2e true "$FAKE"
echo
node scripts/bench/webhook-e2e.mjs "$MC_URL" "$FAKE" "$SECRET" "$E2E_RATE" "$E2E_SECONDS" | tee "$W/e2e.txt"
bench_stop "$MC_PID"
bench_figure e2e.rate "$E2E_RATE"
bench_figure e2e.p99_ms "$(awk '/latency p99/ { print $NF }' "$W/e2e.txt")"
bench_figure e2e.max_ms "$(awk '/latency max/ { print $NF }' "$W/e2e.txt")"
bench_figure e2e.lost "$(awk '/replies received/ { print $5 - $3 }' "$W/e2e.txt")"
