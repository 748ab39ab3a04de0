#!/usr/bin/env bash
# tests/fuzz/merge.sh NAME — refreshes the found-* inputs of tests/fuzz/corpus/NAME/ after a
# `make fuzz` run. libFuzzer's merge (-merge=1) starts from the hand-written seeds and adds,
# from the old found-* files and the working corpus build/fuzz/corpus/NAME/, the smallest
# input for each coverage feature the seeds do not reach; those become found-<first 12 hex
# digits of their SHA-1>, replacing the old found-* files.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

name=${1:?usage: tests/fuzz/merge.sh NAME}
bin=build/fuzz/fuzz_$name
dir=tests/fuzz/corpus/$name
if [ ! -x "$bin" ]; then
    echo "merge.sh: $bin missing: run make fuzz FUZZ_TARGETS=$name first" >&2
    exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/seeds" "$tmp/found" "$tmp/merged"
for f in "$dir"/*; do
    case $(basename "$f") in
    found-*) cp "$f" "$tmp/found/" ;;
    *) cp "$f" "$tmp/seeds/" ;;
    esac
done
cp "$tmp/seeds/"* "$tmp/merged/"
mkdir -p "build/fuzz/corpus/$name"
if ! MOTCUA_NLU_MODEL=build/nlu.model "$bin" -merge=1 "$tmp/merged" "$tmp/found" \
    "build/fuzz/corpus/$name" >"$tmp/log" 2>&1; then
    tail -n 30 "$tmp/log"
    exit 1
fi
rm -f "$dir"/found-*
n=0
for f in "$tmp/merged"/*; do
    b=$(basename "$f")
    [ -e "$tmp/seeds/$b" ] && continue
    cp "$f" "$dir/found-${b:0:12}"
    n=$((n + 1))
done
grep -E 'MERGE-OUTER: [0-9]+ new files' "$tmp/log" || true
echo "merge.sh: $dir: $(ls "$dir" | grep -vc '^found-') seeds, $n found-* inputs"
