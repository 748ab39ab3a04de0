#!/usr/bin/env bash
# scripts/bench/webhook.sh — signed Facebook webhooks accepted per second by motcua
# (verify + parse + dedup + persist in Redis, answered 200 only after the XADD) next
# to nginx answering the same POST with a static 200, both driven by wrk (Debian's
# package) with 50 connections on this machine; then end-to-end latency from the
# webhook to the reply arriving at a fake Facebook Send API, at 1,000 messages/s.
#
# Every request carries a different message id (pre-signed bodies, cycled by the wrk
# script), so motcua stores every one; bodies are those of a real text message.
# motcua is measured twice: "ingest" ([worker] converse = false: accept + store only,
# the conversations run in other processes) and "full" (the same process also runs the
# conversation worker and the sender on what arrives, as `make run` does). nginx
# answers the same POST with a static 200. Prints measured figures only.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export LC_ALL=C.UTF-8

BIN=build/motcua
W=var/bench/webhook
CONNS=50
THREADS=2
DURATION=${WEBHOOK_BENCH_SECONDS:-10}
BODIES=${WEBHOOK_BENCH_BODIES:-250000}
E2E_RATE=1000
E2E_SECONDS=10
SECRET=bench-app-secret
PAGE_TOKEN=BENCH-PAGE-TOKEN

die() {
    echo "webhook bench: $*" >&2
    exit 1
}

missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
[ -x /usr/sbin/nginx ] || missing+=(nginx-light)
if [ "${#missing[@]}" -gt 0 ]; then
    [ "$(id -u)" -eq 0 ] || die "missing ${missing[*]}; as root: apt-get install --no-install-recommends ${missing[*]}"
    echo "installing Debian's ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # the package starts a system nginx on port 80: we only want the binary
    systemctl disable --now nginx >/dev/null 2>&1 || service nginx stop >/dev/null 2>&1 || true
fi
[ -x "$BIN" ] || die "$BIN is missing (run make bench, which builds it)"
command -v redis-server >/dev/null || die "redis-server is missing (make deps)"

rm -rf "$W"
mkdir -p "$W/redis" "$W/nginx" "$W/outbox"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

free_port() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
wait_http() {
    for _ in $(seq 1 200); do
        curl -s -o /dev/null "$1" && return 0
        sleep 0.05
    done
    die "nothing answers at $1"
}

# Redis, private, unix socket, AOF on (as in production: appendfsync everysec)
redis-server --port 0 --unixsocket "$PWD/$W/redis/redis.sock" --unixsocketperm 700 \
    --dir "$PWD/$W/redis" --appendonly yes --save '' --daemonize no >"$W/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do redis-cli -s "$W/redis/redis.sock" ping >/dev/null 2>&1 && break; sleep 0.05; done

# fake Facebook (answers at once)
node tests/fakes/providers.mjs --port 0 --config "{\"fbToken\":\"$PAGE_TOKEN\",\"maxRecords\":1000000}" >"$W/fakes.out" 2>"$W/fakes.err" &
pids+=($!)
for _ in $(seq 1 100); do grep -q port "$W/fakes.out" 2>/dev/null && break; sleep 0.05; done
FAKE_PORT=$(sed -E 's/.*"port":([0-9]+).*/\1/' "$W/fakes.out")
FAKE="http://127.0.0.1:$FAKE_PORT"

# motcua: "ingest" accepts and stores only ([worker] converse = false: the
# conversations run in other processes), "full" also runs the conversation worker and
# the sender in the same process, as `make run` does.
start_motcua() { # label converse
    local port
    port=$(free_port)
    MOTCUA_FACEBOOK_ENABLED=true MOTCUA_FACEBOOK_APP_SECRET=$SECRET MOTCUA_FACEBOOK_VERIFY_TOKEN=v \
        MOTCUA_FACEBOOK_PAGE_ACCESS_TOKEN=$PAGE_TOKEN MOTCUA_FACEBOOK_API_BASE=$FAKE \
        MOTCUA_LOG_LEVEL=warn MOTCUA_OUTBOX_DIR="$W/outbox" MOTCUA_WORKER_CONSUMER="bench-$1" \
        MOTCUA_WORKER_CONVERSE="$2" \
        "$BIN" serve --config config/demo.ini --listen "127.0.0.1:$port" \
        --redis "unix:$PWD/$W/redis/redis.sock" 2>"$W/motcua-$1.log" &
    MC_PID=$!
    pids+=($MC_PID)
    MC_URL="http://127.0.0.1:$port"
    wait_http "$MC_URL/healthz"
}

# nginx answering the same POST with a static 200
NG_PORT=$(free_port)
cat >"$W/nginx/nginx.conf" <<NGX
worker_processes 1;
daemon off;
pid $PWD/$W/nginx/nginx.pid;
error_log $PWD/$W/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $PWD/$W/nginx/body;
    proxy_temp_path $PWD/$W/nginx/proxy;
    fastcgi_temp_path $PWD/$W/nginx/fastcgi;
    uwsgi_temp_path $PWD/$W/nginx/uwsgi;
    scgi_temp_path $PWD/$W/nginx/scgi;
    server {
        listen 127.0.0.1:$NG_PORT;
        location / { return 200 "EVENT_RECEIVED"; }
    }
}
NGX
/usr/sbin/nginx -c "$PWD/$W/nginx/nginx.conf" -p "$PWD/$W/nginx" &
pids+=($!)
wait_http "http://127.0.0.1:$NG_PORT/"

# signed bodies, one message id each ("signature<TAB>body" lines), cycled by wrk
node scripts/bench/webhook-bodies.mjs "$SECRET" "$BODIES" >"$W/bodies.tsv"
cat >"$W/post.lua" <<LUA
bodies, sigs = {}, {}
for line in io.lines("$PWD/$W/bodies.tsv") do
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

entries_added() { redis-cli -s "$W/redis/redis.sock" XINFO STREAM mc:in 2>/dev/null | awk '/^entries-added$/{getline; print; f=1} END {if (!f) print 0}'; }

start_motcua ingest false
in0=$(entries_added)
read -r _ in_req _ in_rps in_p50 in_p99 in_err <<<"$(run_wrk ingest "$MC_URL")"
in1=$(entries_added)
in_rss=$(awk '/VmHWM/ {print $2}' /proc/$MC_PID/status)
kill "$MC_PID"; wait "$MC_PID" 2>/dev/null || true
# the full run starts from an empty Redis: same bodies, so no dedup hits from the ingest run
redis-cli -s "$W/redis/redis.sock" FLUSHALL >/dev/null

start_motcua full true
read -r _ mc_req _ mc_rps mc_p50 mc_p99 mc_err <<<"$(run_wrk full "$MC_URL")"
in2=$(entries_added)
rss_kb=$(awk '/VmHWM/ {print $2}' /proc/$MC_PID/status)
read -r _ ng_req _ ng_rps ng_p50 ng_p99 ng_err <<<"$(run_wrk nginx "http://127.0.0.1:$NG_PORT")"

printf '\n%-40s %12s %12s %12s\n' "signed FB webhooks, ${CONNS} conns, ${DURATION} s" "motcua ingest" "motcua full" nginx
printf '%-40s %12s %12s %12s\n' "requests/s (200 answers)" "$in_rps" "$mc_rps" "$ng_rps"
printf '%-40s %12s %12s %12s\n' "latency p50 (ms)" "$in_p50" "$mc_p50" "$ng_p50"
printf '%-40s %12s %12s %12s\n' "latency p99 (ms)" "$in_p99" "$mc_p99" "$ng_p99"
printf '%-40s %12s %12s %12s\n' "non-2xx or socket errors" "$in_err" "$mc_err" "$ng_err"
printf '%-40s %12s %12s\n' "messages persisted in mc:in (XADDs)" "$((in1 - in0))" "$in2"
printf '%-40s %12s %12s\n' "motcua peak RSS (MB)" "$(awk -v k="$in_rss" 'BEGIN{printf "%.1f", k/1024}')" "$(awk -v k="$rss_kb" 'BEGIN{printf "%.1f", k/1024}')"
awk -v a="$in_rps" -v b="$mc_rps" -v c="$ng_rps" 'BEGIN { printf "%-40s %11.0f%% %11.0f%%\n", "motcua / nginx", 100 * a / c, 100 * b / c }'

# let the worker drain what the load left, then measure end to end at a fixed rate
for _ in $(seq 1 600); do
    left=$(redis-cli -s "$W/redis/redis.sock" XLEN mc:in)
    out=$(redis-cli -s "$W/redis/redis.sock" XLEN mc:out:facebook)
    [ "$left" -eq 0 ] && [ "$out" -eq 0 ] && break
    sleep 0.5
done
echo
node scripts/bench/webhook-e2e.mjs "$MC_URL" "$FAKE" "$SECRET" "$E2E_RATE" "$E2E_SECONDS"
