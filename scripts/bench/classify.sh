#!/usr/bin/env bash
# scripts/bench/classify.sh — intent classification: motcua against fastText, both trained
# on intents/data/train.tsv and measured on intents/data/dev.tsv. Prints measured figures
# only: accuracy (overall, unaccented lines, teencode lines), throughput on one core
# (taskset -c 0, >= 200,000 lines made by repeating the dev texts), per-message latency of
# motcua (p50/p99, from tests/eval's timing of nlu_classify), start-up and model load
# time, model size, peak RSS, training time.
#
# motcua: `motcua train` (its own defaults) and `motcua classify`, the real pipeline
# (model + rules + entities), reading the original text.
# fastText (Debian's package): `fasttext supervised` on "__label__<intent> <text>" with the
# text lower-cased and ?!,;:()" split off as their own tokens; options fixed beforehand,
# not tuned on dev: -loss softmax -dim 50 -epoch 25 -lr 0.5 -wordNgrams 2 -minn 3 -maxn 5
# -bucket 200000 -minCount 1 -thread 1 -seed 1 (subword n-grams 3..5 like motcua's
# character n-grams); `fasttext predict` for accuracy and throughput.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$BENCH_ROOT"
export LC_ALL=C.UTF-8

BIN=build/motcua
EVAL=build/eval
TRAIN=intents/data/train.tsv
DEV=intents/data/dev.tsv
W=var/bench/classify
MIN_LINES=200000 # throughput input, lines
LOAD_RUNS=5      # start-up measured this many times, median kept
P99_REPEAT=20    # eval passes over dev for the latency distribution
FT_OPTS=(-loss softmax -dim 50 -epoch 25 -lr 0.5 -wordNgrams 2 -minn 3 -maxn 5
    -bucket 200000 -minCount 1 -thread 1 -seed 1)

die() {
    echo "classify bench: $*" >&2
    exit 1
}

bench_need_apt fasttext
for f in "$BIN" "$EVAL" "$TRAIN" "$DEV"; do
    [ -e "$f" ] || die "$f is missing (run make bench, which builds it)"
done
command -v taskset >/dev/null || die "taskset (util-linux) is missing"
[ -x /usr/bin/time ] || die "/usr/bin/time is missing (Debian package time)"
rm -rf "$W"
mkdir -p "$W"

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
maxrss_mb() { awk -F: '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$1"; }
size_mb() { awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%.2f", b / 1048576 }'; }
# fastText's view of a text: lower case, punctuation as tokens, never an empty line.
ft_text() {
    sed -E 's/.*/\L&/; s/([?!,;:()"])/ \1 /g; s/[[:space:]]+/ /g; s/^ //; s/ $//; s/^$/_/'
}
data_lines() { grep -v -e '^#' -e '^[[:space:]]*$' "$1"; }

# ---- data ----
data_lines "$TRAIN" | cut -f1 >"$W/train.labels"
data_lines "$TRAIN" | cut -f2 | ft_text >"$W/train.ft.text"
paste -d' ' <(sed 's/^/__label__/' "$W/train.labels") "$W/train.ft.text" >"$W/train.ft"
data_lines "$DEV" | cut -f1 >"$W/dev.gold"
data_lines "$DEV" | cut -f2 >"$W/dev.text"
data_lines "$DEV" | cut -f4 >"$W/dev.style"
ft_text <"$W/dev.text" >"$W/dev.ft.text"
n_dev=$(wc -l <"$W/dev.gold")
n_train=$(wc -l <"$W/train.labels")
[ "$n_dev" -gt 0 ] || die "$DEV has no lines"

# ---- training ----
t0=$(now)
"$BIN" train --data "$TRAIN" --out "$W/nlu.model" >"$W/train.motcua.log" 2>&1 ||
    { cat "$W/train.motcua.log"; die "motcua train failed"; }
t_train_mc=$(elapsed "$t0" "$(now)")
cv=$(awk '/^cv accuracy [0-9]/ { print $3 }' "$W/train.motcua.log")
t0=$(now)
fasttext supervised -input "$W/train.ft" -output "$W/ft" "${FT_OPTS[@]}" -verbose 0 \
    >"$W/train.ft.log" 2>&1 || { cat "$W/train.ft.log"; die "fasttext supervised failed"; }
t_train_ft=$(elapsed "$t0" "$(now)")
export MOTCUA_NLU_MODEL="$W/nlu.model"

# ---- accuracy ----
"$BIN" classify <"$W/dev.text" >"$W/dev.motcua.json"
sed -E 's/.*"intent":"([^"]*)".*/\1/; t; s/.*/(error)/' "$W/dev.motcua.json" >"$W/dev.motcua.pred"
fasttext predict "$W/ft.bin" "$W/dev.ft.text" >"$W/dev.ft.out"
sed -E 's/^__label__//; s/^$/(none)/' "$W/dev.ft.out" >"$W/dev.ft.pred"
[ "$(wc -l <"$W/dev.motcua.pred")" -eq "$n_dev" ] || die "motcua classify gave a line count other than $n_dev"
[ "$(wc -l <"$W/dev.ft.pred")" -eq "$n_dev" ] || die "fasttext predict gave a line count other than $n_dev"
# accuracy GOLD PRED STYLE|"" -> "0.9123 (n)"
accuracy() {
    paste "$1" "$2" "$W/dev.style" | awk -F'\t' -v s="$3" '
        s == "" || $3 == s { n++; ok += ($1 == $2) }
        END { if (n) printf "%.4f (%d lines)", ok / n, n; else printf "- (0 lines)" }'
}

# ---- throughput on one core ----
reps=$(( (MIN_LINES + n_dev - 1) / n_dev ))
: >"$W/big.text"
: >"$W/big.ft.text"
for _ in $(seq "$reps"); do
    cat "$W/dev.text" >>"$W/big.text"
    cat "$W/dev.ft.text" >>"$W/big.ft.text"
done
n_big=$(wc -l <"$W/big.text")
t0=$(now)
/usr/bin/time -v -o "$W/time.motcua" taskset -c 0 "$BIN" classify <"$W/big.text" >"$W/big.motcua.json"
t_mc=$(elapsed "$t0" "$(now)")
[ "$(wc -l <"$W/big.motcua.json")" -eq "$n_big" ] || die "motcua classify lost lines"
t0=$(now)
/usr/bin/time -v -o "$W/time.ft" taskset -c 0 fasttext predict "$W/ft.bin" "$W/big.ft.text" >"$W/big.ft.out"
t_ft=$(elapsed "$t0" "$(now)")
[ "$(wc -l <"$W/big.ft.out")" -eq "$n_big" ] || die "fasttext predict lost lines"

# ---- start-up (process start, engine or model load, empty input) ----
for _ in $(seq "$LOAD_RUNS"); do
    t0=$(now)
    taskset -c 0 "$BIN" classify </dev/null >/dev/null
    elapsed "$t0" "$(now)"
    echo
done | median >"$W/load.motcua"
for _ in $(seq "$LOAD_RUNS"); do
    t0=$(now)
    taskset -c 0 fasttext predict "$W/ft.bin" /dev/null >/dev/null
    elapsed "$t0" "$(now)"
    echo
done | median >"$W/load.ft"

# ---- motcua latency per message and model load alone (tests/eval) ----
taskset -c 0 "$EVAL" --data "$DEV" --model "$W/nlu.model" --repeat "$P99_REPEAT" --no-matrix \
    >"$W/eval.out" 2>&1 || true
lat=$(sed -nE 's/.*over ([0-9]+) calls: mean ([0-9.]+) us, p50 ([0-9.]+) us, p99 ([0-9.]+) us, max ([0-9.]+) us.*/\3 \/ \4 \/ \5 us/p' "$W/eval.out")
calls=$(sed -nE 's/.*over ([0-9]+) calls.*/\1/p' "$W/eval.out")
mload=$(sed -nE 's/^model load alone: ([0-9.]+) ms/\1 ms/p' "$W/eval.out")

rate() { awk -v n="$1" -v t="$2" 'BEGIN { printf "%.0f msg/s (%.2f s)", n / t, t }'; }
ms() { awk -v t="$(cat "$1")" 'BEGIN { printf "%.1f ms", t * 1000 }'; }

printf '%-44s | %-28s | %-28s\n' "classification ($n_train train, $n_dev dev lines)" "motcua" "fastText"
printf '%-44s-+-%-28s-+-%-28s\n' "--------------------------------------------" "----------------------------" "----------------------------"
row() { printf '%-44s | %-28s | %-28s\n' "$1" "$2" "$3"; }
row "accuracy, all dev lines" "$(accuracy "$W/dev.gold" "$W/dev.motcua.pred" "")" "$(accuracy "$W/dev.gold" "$W/dev.ft.pred" "")"
row "accuracy, unaccented lines" "$(accuracy "$W/dev.gold" "$W/dev.motcua.pred" unaccented)" "$(accuracy "$W/dev.gold" "$W/dev.ft.pred" unaccented)"
row "accuracy, teencode lines" "$(accuracy "$W/dev.gold" "$W/dev.motcua.pred" teencode)" "$(accuracy "$W/dev.gold" "$W/dev.ft.pred" teencode)"
row "train-set 5-fold CV accuracy" "${cv:--}" "-"
row "throughput, 1 core, $n_big lines" "$(rate "$n_big" "$t_mc")" "$(rate "$n_big" "$t_ft")"
row "latency p50 / p99 / max, ${calls:-0} messages" "${lat:--}" "-"
row "start-up, empty input (median of $LOAD_RUNS)" "$(ms "$W/load.motcua")" "$(ms "$W/load.ft")"
row "model load alone" "${mload:--}" "-"
row "model file" "$(size_mb "$W/nlu.model") MB" "$(size_mb "$W/ft.bin") MB"
row "peak RSS, throughput run" "$(maxrss_mb "$W/time.motcua") MB" "$(maxrss_mb "$W/time.ft") MB"
row "training time (incl. motcua's CV)" "${t_train_mc} s" "${t_train_ft} s"
echo "(motcua accuracy is the whole pipeline: model + rules; see make eval for the model alone)"
bench_figure cl.rate "$(awk -v n="$n_big" -v t="$t_mc" 'BEGIN { printf "%.0f", n / t }')"
bench_figure cl.ft_rate "$(awk -v n="$n_big" -v t="$t_ft" 'BEGIN { printf "%.0f", n / t }')"
