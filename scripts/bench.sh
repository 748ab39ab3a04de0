#!/usr/bin/env bash
# bench.sh — what `make bench` runs: the sections of scripts/bench/ in a fixed order,
# then the goals table of issue 16 made from the figures they measured.
#
#   classify   classification vs fastText (accuracy, one-core throughput, latency)
#   webhook    signed webhooks/s vs nginx (wrk), Redis's ceiling, end-to-end latency
#   broadcast  100,000-recipient broadcast: enqueue, send rate vs the stand-in's ceiling
#   webchat    memory per idle web chat connection (10,000)
#   cost       instructions and Redis commands per unit (callgrind), to compare commits
#
# It first installs what the sections need and is missing (as scripts/deps.sh does:
# Debian's packages through apt-get, the test tools through npm), so a fresh clone
# needs nothing else. Each section prints its own table of measured figures (nothing
# estimated) and appends them to var/bench/figures.tsv; this script frames them, says
# which sections failed and prints the goals last. Sections run from the repository
# root and expect the normal build (`make bench` builds it first). Scratch files:
# var/bench/. BENCH_SECTIONS="webhook cost" runs only those.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/bench/lib/common.sh

SECTIONS=(${BENCH_SECTIONS:-classify webhook broadcast webchat cost})

mkdir -p "$BENCH_VAR"
: >"$BENCH_FIGURES"
bench_need_apt wrk nginx-light valgrind fasttext
bench_need_node
# 10,000 web chat connections: one descriptor each in motcua and in the client
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

failed=()
t_all=$(date +%s)
for name in "${SECTIONS[@]}"; do
    s=scripts/bench/$name.sh
    printf '\n=== bench: %s ===\n' "$name"
    t0=$(date +%s)
    if [ -f "$s" ] && bash "$s"; then
        echo "($name: $(( $(date +%s) - t0 )) s)"
    else
        echo "bench section $name FAILED"
        failed+=("$name")
    fi
done
node scripts/bench/goals.mjs "$BENCH_FIGURES"
echo
echo "(make bench: $(( $(date +%s) - t_all )) s)"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "bench: ${#SECTIONS[@]} sections, failed: ${failed[*]}"
    exit 1
fi
echo "bench: ${#SECTIONS[@]} sections done"
