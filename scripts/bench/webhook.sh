#!/usr/bin/env bash
# scripts/bench/webhook.sh — signed Facebook webhooks accepted per second by motcua
# (verify + parse + dedup + persist in Redis, answered 200 only after the XADD) next
# to nginx answering the same POST with a static 200, both driven by wrk (Debian's
# package) with 50 connections on this machine; then end-to-end latency from the
# webhook to the reply arriving at a fake Facebook Send API, at 1,000 messages/s.
#
# Every request carries a different message id (pre-signed bodies, cycled by the wrk
# script), so motcua stores every one; bodies are those of a real text message.
# motcua runs its full pipeline meanwhile (the conversation worker answers what
# arrives), as in production. Prints measured figures only.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export LC_ALL=C.UTF-8

BIN=build/motcua
W=var/bench/webhook
CONNS=50
THREADS=2
DURATION=${WEBHOOK_BENCH_SECONDS:-10}
BODIES=${WEBHOOK_BENCH_BODIES:-120000}
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

# motcua
MC_PORT=$(free_port)
MOTCUA_FACEBOOK_ENABLED=true MOTCUA_FACEBOOK_APP_SECRET=$SECRET MOTCUA_FACEBOOK_VERIFY_TOKEN=v \
    MOTCUA_FACEBOOK_PAGE_ACCESS_TOKEN=$PAGE_TOKEN MOTCUA_FACEBOOK_API_BASE=$FAKE \
    MOTCUA_LOG_LEVEL=warn MOTCUA_OUTBOX_DIR="$W/outbox" MOTCUA_WORKER_CONSUMER=bench \
    "$BIN" serve --config config/demo.ini --listen "127.0.0.1:$MC_PORT" \
    --redis "unix:$PWD/$W/redis/redis.sock" 2>"$W/motcua.log" &
MC_PID=$!
pids+=($MC_PID)
wait_http "http://127.0.0.1:$MC_PORT/healthz"

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

in_before=$(redis-cli -s "$W/redis/redis.sock" XINFO STREAM mc:in 2>/dev/null | awk '/^entries-added$/{getline; print}' || echo 0)
read -r _ mc_req _ mc_rps mc_p50 mc_p99 mc_err <<<"$(run_wrk motcua "http://127.0.0.1:$MC_PORT")"
in_after=$(redis-cli -s "$W/redis/redis.sock" XINFO STREAM mc:in | awk '/^entries-added$/{getline; print}')
read -r _ ng_req _ ng_rps ng_p50 ng_p99 ng_err <<<"$(run_wrk nginx "http://127.0.0.1:$NG_PORT")"
rss_kb=$(awk '/VmHWM/ {print $2}' /proc/$MC_PID/status)

printf '\n%-44s %12s %12s\n' "signed Facebook webhooks, ${CONNS} conns, ${DURATION} s" motcua nginx
printf '%-44s %12s %12s\n' "requests/s (200 answers)" "$mc_rps" "$ng_rps"
printf '%-44s %12s %12s\n' "latency p50 (ms)" "$mc_p50" "$ng_p50"
printf '%-44s %12s %12s\n' "latency p99 (ms)" "$mc_p99" "$ng_p99"
printf '%-44s %12s %12s\n' "non-2xx or socket errors" "$mc_err" "$ng_err"
printf '%-44s %12s\n' "messages persisted in mc:in (XADDs)" "$((in_after - in_before))"
printf '%-44s %12s\n' "motcua peak RSS (MB)" "$(awk -v k="$rss_kb" 'BEGIN{printf "%.1f", k/1024}')"
awk -v a="$mc_rps" -v b="$ng_rps" 'BEGIN { printf "%-44s %11.0f%%\n", "motcua / nginx", 100 * a / b }'

# let the worker drain what the load left, then measure end to end at a fixed rate
for _ in $(seq 1 600); do
    left=$(redis-cli -s "$W/redis/redis.sock" XLEN mc:in)
    out=$(redis-cli -s "$W/redis/redis.sock" XLEN mc:out:facebook)
    [ "$left" -eq 0 ] && [ "$out" -eq 0 ] && break
    sleep 0.5
done
echo
node scripts/bench/webhook-e2e.mjs "http://127.0.0.1:$MC_PORT" "$FAKE" "$SECRET" "$E2E_RATE" "$E2E_SECONDS"
