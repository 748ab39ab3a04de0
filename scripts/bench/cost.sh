#!/usr/bin/env bash
# scripts/bench/cost.sh — instructions per unit of work and Redis commands per unit:
# figures that do not move with the machine's load, to compare across commits.
#
# Instructions: valgrind --tool=callgrind (Debian's valgrind) counts every instruction
# motcua executes (all threads, from exec to exit; the total of the profile). Each unit
# is run twice, with N and with 2N units, and the figure is (I(2N) - I(N)) / N: start-up,
# shutdown and everything else that does not grow with the work cancel out.
#   - classified message: `motcua classify` over N and 2N lines (intents/data/dev.tsv's
#     texts repeated);
#   - accepted webhook: `motcua serve` ([worker] converse = false), N signed Facebook
#     webhooks (lib/webhooks.mjs: the webhook bench's texts, one new message id each,
#     100 citizens), 8 in flight, each answered 200;
#   - conversation turn: the same with converse = true, until every reply reached the
#     nginx provider stand-in (lib/common.sh): accept + understand + reply + send;
#   - notification: N notifications (zalo/facebook/sms, chat windows open) posted to
#     motcua's own department API (POST /api/v1/notifications) at 25/s, until the
#     stand-in got them all: API + scheduling + sending. Paced, so that how many
#     entries each stream read, scheduler pass and pipeline carries does not depend on
#     the machine's timing (a burst batches more, and batching changes the cost per
#     unit); the client opens a connection per request, and libwebsockets 4.1 spends
#     about 6 instructions per slot of its descriptor table (sized by ulimit -n, which
#     bench.sh raises) when it frees a closed connection: 120k at 20,000 descriptors;
#   - broadcast recipient: a broadcast to N ward subscribers created through
#     POST /api/v1/broadcasts on a normal-build gateway before motcua starts, fanned out
#     and sent until the stand-in got them all. A burst by nature: this one moves with
#     the sender's backlog (320k to 341k instructions seen on a loaded and a quiet machine).
# The serve runs use `--role all` so that readiness is GET /healthz (one request per
# run). A running process also does work that grows with time, not with units (the
# scheduler's 100 ms tick, Redis health pings, reader ticks): each run is therefore
# stopped with SIGTERM (the orderly stop) a fixed time after it answered /healthz, the
# same for N and 2N (the 2N run's busy time plus 30% and 2 s, at least 8 s; a paced
# run's plus 2 s), so that idle work cancels too. A run whose work outlasts that window
# is marked OVERRUN. Repeated runs agree within about 1% (instructions) and 0.1
# (Redis commands per unit), except the broadcast recipient (above), on a quiet
# machine only: with a load average of 6 to 10 on this 2-core machine the same commit
# gave 152k and 405k per broadcast recipient and 545k and 718k per turn (entries per
# read and per pipeline follow the timing; a sender whose wire connection missed its
# handshake under load waits for it). Then compare single functions' instructions
# (callgrind_annotate --inclusive=yes on the two .callgrind files of a unit), which
# hold; the classified message (a pipe, no timing) holds too.
#
# Redis commands: INFO commandstats of the private Redis (every command, those run by
# Lua scripts and inside MULTI included; the bench's own INFO calls left out), the
# difference over the same N and 2N runs divided by N; the commands that make it up
# are listed per unit. Nothing here reads motcua's keys (lib/keys.mjs prepares the
# broadcast's audience and the chat windows).
#
# COST_N_CLASSIFY (2000), COST_N_WEBHOOK (1000), COST_N_TURN (400), COST_N_NOTIFICATION
# (400), COST_N_RECIPIENT (1500) set N; COST_UNITS="webhook turn" runs some units only.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$BENCH_ROOT"
export LC_ALL=C.UTF-8

export MOTCUA_BIN=build/motcua # the normal build (make bench builds it)
[ -x "$MOTCUA_BIN" ] || bench_die "$MOTCUA_BIN is missing (run make bench, which builds it)"
bench_need_apt valgrind nginx-light
bench_need_node
command -v redis-server >/dev/null || bench_die "redis-server is missing (make deps)"

bench_init cost
mkdir -p "$W/outbox"
bench_redis "$W/redis"
bench_standin "$W/standin"
export REDIS_SOCK STANDIN_URL STANDIN_DIR BENCH_FIGURES COST_DIR=$W
node scripts/bench/cost.mjs
