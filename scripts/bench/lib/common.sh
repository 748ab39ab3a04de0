# scripts/bench/lib/common.sh — sourced by the scripts/bench/*.sh sections: tools
# installed when missing, processes stopped by pid, a private Redis, the nginx
# provider stand-in, and the figures file the goals table is made from.
#
# Every server here listens on 127.0.0.1 or on a unix socket under var/bench/.
# A section calls bench_init NAME first: it works in var/bench/NAME (emptied), and
# every process it starts with bench_bg is stopped (SIGTERM, by pid) when it exits.

BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
BENCH_VAR=$BENCH_ROOT/var/bench
BENCH_FIGURES=$BENCH_VAR/figures.tsv # "key<TAB>value" lines, read by goals.sh
BENCH_WAIT_STEPS=300                 # 50 ms steps when waiting for a server (15 s)
BENCH_LOG_LINE=19                    # bytes of one stand-in access log line ("$msec $status\n")

bench_die() {
    echo "${BENCH_NAME:-bench}: $*" >&2
    exit 1
}

# bench_need_apt PACKAGE... — installs the missing Debian packages (as root), the way
# scripts/deps.sh does; otherwise says which command to run.
bench_need_apt() {
    local missing=() p
    for p in "$@"; do
        [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" = "install ok installed" ] ||
            missing+=("$p")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] ||
        bench_die "missing ${missing[*]}; as root: apt-get install --no-install-recommends ${missing[*]}"
    echo "installing Debian's ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # nginx's package starts a system nginx on port 80: only the binary is wanted
    if printf '%s\n' "${missing[@]}" | grep -q '^nginx'; then
        systemctl disable --now nginx >/dev/null 2>&1 || service nginx stop >/dev/null 2>&1 || true
    fi
}

# bench_need_node — the test tools (ws) the Node parts import: scripts/deps.sh --node.
bench_need_node() {
    command -v node >/dev/null 2>&1 || bench_die "node is missing (scripts/deps.sh, as root)"
    bash "$BENCH_ROOT/scripts/deps.sh" --node || bench_die "scripts/deps.sh --node failed"
}

# bench_init NAME — the section's scratch dir ($W), its cleanup, its figures' prefix.
bench_init() {
    BENCH_NAME=$1
    W=$BENCH_VAR/$1
    rm -rf "$W"
    mkdir -p "$W"
    BENCH_PIDS=()
    trap bench_cleanup EXIT
}

# Stops what is still running of what this shell started (a pid is signalled only while
# it is one of this shell's running jobs, so never a process that reused its number).
bench_cleanup() {
    local p live
    live=$(jobs -p)
    for p in "${BENCH_PIDS[@]}"; do
        grep -qx "$p" <<<"$live" && kill "$p" 2>/dev/null
    done
    for p in "${BENCH_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}

# bench_track PID — a background job of this shell, stopped at exit.
bench_track() { BENCH_PIDS+=("$1"); }

# bench_stop PID — SIGTERM and wait (the orderly stop of motcua serve).
bench_stop() {
    grep -qx "$1" <<<"$(jobs -p)" && kill -TERM "$1" 2>/dev/null
    wait "$1" 2>/dev/null || true
}

# bench_figure KEY VALUE — one measured figure for the goals table.
bench_figure() { printf '%s\t%s\n' "$1" "$2" >>"$BENCH_FIGURES"; }

bench_free_port() {
    node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

bench_wait_http() {
    local _
    for _ in $(seq 1 "$BENCH_WAIT_STEPS"); do
        curl -s -o /dev/null "$1" && return 0
        sleep 0.05
    done
    bench_die "nothing answers at $1"
}

# bench_redis DIR — a private Redis on DIR/redis.sock, AOF on (appendfsync everysec, as
# in production), no RDB; sets REDIS_SOCK and REDIS_PID.
bench_redis() {
    mkdir -p "$1"
    REDIS_SOCK=$1/redis.sock
    redis-server --port 0 --unixsocket "$REDIS_SOCK" --unixsocketperm 700 --dir "$1" \
        --appendonly yes --save '' --daemonize no >"$1/redis.log" 2>&1 &
    REDIS_PID=$!
    bench_track "$REDIS_PID"
    local _
    for _ in $(seq 1 "$BENCH_WAIT_STEPS"); do
        redis-cli -s "$REDIS_SOCK" ping >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    bench_die "redis-server did not start (see $1/redis.log)"
}

rcli() { redis-cli -s "$REDIS_SOCK" "$@"; }

# bench_redis_fresh DIR — stops the private Redis and starts an empty one in DIR (same
# options): a run does not inherit the data, AOF file or rewrite of the one before.
bench_redis_fresh() {
    bench_stop "$REDIS_PID"
    bench_redis "$1"
}

# bench_cmdstats FILE — "command calls" lines from INFO commandstats (commands run
# inside Lua scripts and MULTI included, as Redis counts them).
bench_cmdstats() {
    rcli INFO commandstats | tr -d '\r' |
        sed -nE 's/^cmdstat_([^:]+):calls=([0-9]+),.*/\1 \2/p' | sort >"$1"
}

# bench_cmddiff BEFORE AFTER — "command calls" made between two snapshots, without
# the INFO calls of the snapshots themselves.
bench_cmddiff() {
    join -a 2 -e 0 -o 0,1.2,2.2 "$1" "$2" |
        awk '$1 != "info" && $3 - $2 > 0 { print $1, $3 - $2 }'
}

# bench_standin DIR — nginx answering every provider path motcua calls with a canned
# success the adapters accept (channels/*.c classify; the shapes tests/fakes answers
# with), each id made unique with $request_id. One access log per provider, one fixed-
# width line per request ("$msec $status"), so that counting is a file size and the
# first and last request times come from nginx itself. Sets STANDIN_URL, STANDIN_DIR.
bench_standin() {
    STANDIN_DIR=$1
    mkdir -p "$STANDIN_DIR/logs"
    local port
    port=$(bench_free_port)
    STANDIN_URL=http://127.0.0.1:$port
    local L=$STANDIN_DIR/logs
    cat >"$STANDIN_DIR/nginx.conf" <<NGX
worker_processes 1;
daemon off;
pid $STANDIN_DIR/nginx.pid;
error_log $STANDIN_DIR/error.log warn;
events { worker_connections 4096; }
http {
    log_format counted '\$msec \$status';
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    client_body_buffer_size 16k;
    client_body_temp_path $STANDIN_DIR/body;
    proxy_temp_path $STANDIN_DIR/proxy;
    fastcgi_temp_path $STANDIN_DIR/fastcgi;
    uwsgi_temp_path $STANDIN_DIR/uwsgi;
    scgi_temp_path $STANDIN_DIR/scgi;
    default_type application/json;
    server {
        listen 127.0.0.1:$port reuseport;
        # Facebook Send API: POST /<version>/me/messages?access_token=...
        location ~ ^/v[0-9]+\.[0-9]+/me/messages\$ {
            access_log $L/facebook.log counted;
            return 200 '{"recipient_id":"1","message_id":"m_\$request_id"}';
        }
        # Zalo OA consultation message
        location = /v3.0/oa/message/cs {
            access_log $L/zalo.log counted;
            return 200 '{"error":0,"message":"Success","data":{"message_id":"\$request_id","user_id":"1"}}';
        }
        # Zalo OA token refresh
        location = /v4/oa/access_token {
            access_log $L/zalo-oauth.log counted;
            return 200 '{"access_token":"ZA-\$request_id","refresh_token":"ZR-\$request_id","expires_in":"90000"}';
        }
        # Zalo ZNS
        location = /message/template {
            access_log $L/zns.log counted;
            return 200 '{"error":0,"message":"Success","data":{"msg_id":"\$request_id","sent_time":"0","quota":{"dailyQuota":"1000000","remainingQuota":"1000000"}}}';
        }
        # Twilio Messages
        location ~ ^/2010-04-01/Accounts/[^/]+/Messages\.json\$ {
            access_log $L/twilio.log counted;
            return 201 '{"sid":"SM\$request_id","status":"queued"}';
        }
        # Kannel sendsms
        location = /cgi-bin/sendsms {
            access_log $L/kannel.log counted;
            default_type text/plain;
            return 202 '0: Accepted for delivery';
        }
        location = /_standin/status { stub_status; }
        location / {
            access_log $L/unknown.log counted;
            return 404 '{"error":"no provider path"}';
        }
    }
}
NGX
    /usr/sbin/nginx -c "$STANDIN_DIR/nginx.conf" -p "$STANDIN_DIR" &
    bench_track $!
    bench_wait_http "$STANDIN_URL/_standin/status"
}

# bench_standin_count [PROVIDER...] — requests the stand-in answered (all providers when
# none is named).
bench_standin_count() {
    local f n=0 s
    if [ "$#" -eq 0 ]; then set -- facebook zalo zalo-oauth zns twilio kannel unknown; fi
    for f in "$@"; do
        s=$(stat -c %s "$STANDIN_DIR/logs/$f.log" 2>/dev/null || echo 0)
        n=$((n + s / BENCH_LOG_LINE))
    done
    echo "$n"
}

# bench_standin_rotate — starts the stand-in's access logs afresh (SIGUSR1 reopens them).
bench_standin_rotate() {
    rm -f "$STANDIN_DIR"/logs/*.log
    kill -USR1 "$(cat "$STANDIN_DIR/nginx.pid")"
    sleep 0.2
}

# bench_nginx_static DIR — nginx answering any request with a static 200 (the HTTP
# ceiling of this machine); sets STATIC_URL.
bench_nginx_static() {
    mkdir -p "$1"
    local port
    port=$(bench_free_port)
    STATIC_URL=http://127.0.0.1:$port
    cat >"$1/nginx.conf" <<NGX
worker_processes 1;
daemon off;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $1/body;
    proxy_temp_path $1/proxy;
    fastcgi_temp_path $1/fastcgi;
    uwsgi_temp_path $1/uwsgi;
    scgi_temp_path $1/scgi;
    server {
        listen 127.0.0.1:$port;
        location / { return 200 "EVENT_RECEIVED"; }
    }
}
NGX
    /usr/sbin/nginx -c "$1/nginx.conf" -p "$1" &
    bench_track $!
    bench_wait_http "$STATIC_URL/"
}

# bench_rss_kb PID — resident set size now.
bench_rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
