#!/usr/bin/env bash
# run-demo.sh — `make run`: a private Redis, then the gateway in the foreground with the
# demo configuration (no secrets; outbound messages of channels without credentials go
# to var/outbox as JSON lines). Ctrl-C or SIGTERM stops the gateway, then that Redis.
#
# Expects: build/motcua (built by `make`), config/demo.ini pointing Redis at
# unix:var/redis/redis.sock and [outbox] dir at var/outbox, paths relative to the
# repository root, which is the working directory here.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

BIN="${DEMO_BIN:-build/motcua}"
CONFIG="${DEMO_CONFIG:-config/demo.ini}"
LISTEN="${MOTCUA_SERVER_LISTEN:-127.0.0.1:8080}"

if [ ! -x "$BIN" ]; then
    echo "run-demo: $BIN not found; build it with 'make' first" >&2
    exit 1
fi
if [ ! -f "$CONFIG" ]; then
    echo "run-demo: $CONFIG not found" >&2
    exit 1
fi

# Stop only a Redis this script started: one that was already running (a test, another
# terminal) is left as it was.
started_redis=0
if ! bash scripts/redis.sh status >/dev/null; then
    bash scripts/redis.sh start >/dev/null
    started_redis=1
fi
mkdir -p var/outbox

gw_pid=""
# shellcheck disable=SC2317  # reached through the traps below
cleanup() {
    trap - INT TERM EXIT
    if [ -n "$gw_pid" ] && kill -0 "$gw_pid" 2>/dev/null; then
        kill -TERM "$gw_pid" 2>/dev/null || true
        local i
        for ((i = 0; i < 100; i++)); do
            kill -0 "$gw_pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$gw_pid" 2>/dev/null; then
            echo "run-demo: gateway did not stop after 10s; killing it" >&2
            kill -KILL "$gw_pid" 2>/dev/null || true
        fi
    fi
    if [ -n "$gw_pid" ]; then wait "$gw_pid" 2>/dev/null || true; fi
    if [ "$started_redis" = 1 ]; then
        bash scripts/redis.sh stop >/dev/null || true
    fi
}
trap 'echo; cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
trap cleanup EXIT

host="${LISTEN%:*}"
port="${LISTEN##*:}"
case "$host" in "" | 0.0.0.0 | "*") host=127.0.0.1 ;; esac
echo "motcua: mở http://$host:$port trong trình duyệt / open http://$host:$port in your browser (Ctrl-C to stop)"
echo "motcua: cán bộ / officers: http://$host:$port/console (the demo officers below, or token demo-so-tu-phap-2026 or demo-ubnd-ben-thanh-2026)"
# One admin and one officer per demo department, with their one-time passwords and TOTP
# secrets (the Redis of the demo is up: `motcua officer` writes there directly).
DEMO_BIN="$BIN" bash scripts/demo-officers.sh "$CONFIG" || true

# In the background so that the traps above run as soon as a signal arrives; the
# gateway itself gets SIGTERM from cleanup (a background job ignores the terminal's
# SIGINT) and must exit cleanly on it.
"$BIN" serve --config "$CONFIG" &
gw_pid=$!
# Demo dossiers, through the department API once the gateway answers.
for _ in $(seq 1 100); do
    curl -s -o /dev/null "http://$host:$port/healthz" && break
    sleep 0.1
done
bash scripts/demo-seed.sh "http://$host:$port" || true
rc=0
wait "$gw_pid" || rc=$?
gw_pid=""
exit "$rc"
