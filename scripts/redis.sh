#!/usr/bin/env bash
# redis.sh — a private Redis for development and tests, never the system one.
#
#   scripts/redis.sh start  [DIR]   start (idempotent), wait until it answers PING
#   scripts/redis.sh stop   [DIR]   stop the one whose pid file is in DIR
#   scripts/redis.sh status [DIR]   print running/stopped; exit 0 when running, 3 when not
#   scripts/redis.sh sock   [DIR]   print the unix socket path
#
# DIR defaults to var/redis under the repository root. The server listens on a unix
# socket only (DIR/redis.sock, mode 700, no TCP port), keeps an append-only file in
# DIR and logs to DIR/redis.log.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TIMEOUT=10

usage() {
    echo "usage: scripts/redis.sh start|stop|status|sock [DIR]" >&2
    exit 2
}

if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
cmd="$1"
dir="${2:-$ROOT/var/redis}"
case "$dir" in /*) ;; *) dir="$PWD/$dir" ;; esac
sock="$dir/redis.sock"
# sun_path holds 107 bytes; a longer path would fail with an obscure error.
if [ "${#sock}" -gt 100 ]; then
    echo "redis: socket path too long (${#sock} bytes): $sock" >&2
    exit 2
fi
pidfile="$dir/redis.pid"
conf="$dir/redis.conf"
log="$dir/redis.log"

# True while pid runs; a zombie (exited, not yet reaped by its parent) counts as gone.
alive() {
    kill -0 "$1" 2>/dev/null || return 1
    case "$(ps -o stat= -p "$1" 2>/dev/null)" in Z*) return 1 ;; esac
}

# The pid from the pid file, printed only when that process is alive and is a
# redis-server (a stale pid file may name a recycled pid).
live_pid() {
    local pid
    [ -f "$pidfile" ] || return 1
    pid="$(tr -dc '0-9' <"$pidfile")"
    [ -n "$pid" ] && alive "$pid" || return 1
    case "$(ps -o comm= -p "$pid" 2>/dev/null)" in
        redis-server* | redis-check*) echo "$pid" ;;
        *) return 1 ;;
    esac
}

ping_ok() {
    [ -S "$sock" ] && [ "$(redis-cli -s "$sock" ping 2>/dev/null)" = "PONG" ]
}

start() {
    if pid="$(live_pid)"; then
        echo "redis: already running (pid $pid, socket $sock)"
        return 0
    fi
    command -v redis-server >/dev/null || { echo "redis: redis-server not found; run scripts/deps.sh" >&2; exit 1; }
    mkdir -p "$dir"
    chmod 700 "$dir"
    rm -f "$pidfile"
    # The socket lives beside the data; a leftover one from a crash would block start.
    rm -f "$sock"
    cat >"$conf" <<EOF
# written by scripts/redis.sh — private Redis for motcua, unix socket only
port 0
unixsocket "$sock"
unixsocketperm 700
daemonize yes
pidfile "$pidfile"
logfile "$log"
dir "$dir"
appendonly yes
appendfilename "appendonly.aof"
save ""
EOF
    if ! redis-server "$conf"; then
        echo "redis: redis-server failed to start; see $log" >&2
        exit 1
    fi
    local i
    for ((i = 0; i < TIMEOUT * 10; i++)); do
        if ping_ok; then
            echo "redis: started (pid $(live_pid || echo '?'), socket $sock)"
            return 0
        fi
        sleep 0.1
    done
    echo "redis: no PONG on $sock after ${TIMEOUT}s; see $log" >&2
    tail -n 5 "$log" >&2 2>/dev/null || true
    exit 1
}

stop() {
    local pid i
    if ! pid="$(live_pid)"; then
        echo "redis: not running"
        rm -f "$pidfile"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < TIMEOUT * 10; i++)); do
        alive "$pid" || break
        sleep 0.1
    done
    if alive "$pid"; then
        echo "redis: pid $pid did not stop after ${TIMEOUT}s; killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.2
    fi
    rm -f "$pidfile" "$sock"
    echo "redis: stopped"
}

status() {
    if pid="$(live_pid)"; then
        echo "running (pid $pid, socket $sock)"
        return 0
    fi
    echo "stopped"
    return 3
}

case "$cmd" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    sock) echo "$sock" ;;
    *) usage ;;
esac
