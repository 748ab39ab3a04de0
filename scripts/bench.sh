#!/usr/bin/env bash
# bench.sh — what `make bench` runs: every scripts/bench/*.sh section, in name order.
# Each section prints its own table of measured figures (nothing estimated); this script
# frames them and says which sections failed. Sections run from the repository root and
# expect the normal build (`make bench` builds it first). Scratch files: var/bench/.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mkdir -p var/bench

failed=()
n=0
for s in scripts/bench/*.sh; do
    [ -f "$s" ] || continue
    n=$((n + 1))
    name=$(basename "$s" .sh)
    printf '\n=== bench: %s ===\n' "$name"
    t0=$(date +%s)
    if bash "$s"; then
        echo "($name: $(( $(date +%s) - t0 )) s)"
    else
        echo "bench section $name FAILED"
        failed+=("$name")
    fi
done
echo
if [ "${#failed[@]}" -gt 0 ]; then
    echo "bench: $n sections, failed: ${failed[*]}"
    exit 1
fi
echo "bench: $n sections done"
