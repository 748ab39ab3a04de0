#!/usr/bin/env bash
# test.sh — what `make test` runs after scripts/deps.sh:
#   1. the normal build (-Wall -Wextra -Werror) and the ASan+UBSan build;
#   2. cmocka unit tests, in both builds, and every fuzz target over its seed corpus (ASan);
#   3. integration and browser tests (node:test) against the ASan binary, each
#      starting its own Redis and motcua on free loopback ports.
# It prints every runner's own summary and ends with one line: N passed, N failed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

JOBS="${JOBS:-$(nproc 2>/dev/null || echo 2)}"
mkdir -p var/test
passed=0
failed=0
t_start=$(date +%s)

section() { printf '\n=== %s ===\n' "$*"; }

# Counts one cmocka run from its output: "[  PASSED  ] N test(s)." and
# "[  FAILED  ] N test(s), listed below:". A binary that crashed before its
# summary counts as one failure.
count_cmocka() {
    local out="$1" rc="$2" p f
    p=$(grep -oE '^\[  PASSED  \] [0-9]+' "$out" | awk '{s+=$NF} END {print s+0}')
    f=$(grep -oE '^\[  FAILED  \] [0-9]+ test' "$out" | awk '{s+=$(NF-1)} END {print s+0}')
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
    fi
    passed=$((passed + p))
    failed=$((failed + f))
}

build() {
    local label="$1"
    shift
    section "build ($label)"
    local t0=$(date +%s)
    if ! make --no-print-directory -j"$JOBS" "$@" all unit-bins >var/test/build-"$label".log 2>&1; then
        tail -n 40 var/test/build-"$label".log
        echo "build ($label) failed"
        failed=$((failed + 1))
        return 1
    fi
    echo "ok ($(( $(date +%s) - t0 )) s)"
}

run_units() {
    local dir="$1" label="$2" t out rc
    section "unit tests ($label)"
    for t in "$dir"/tests/test_*; do
        # only the tests of today's sources: a binary left by a removed test is not run
        [ -x "$t" ] && [ -f "tests/unit/$(basename "$t").c" ] || continue
        out=var/test/unit-"$label"-$(basename "$t").log
        # cmocka prints its summary on stdout and failures on stderr: keep both.
        "$t" >"$out" 2>&1
        rc=$?
        cat "$out"
        count_cmocka "$out" "$rc"
    done
}

# The structure: includes that point the wrong way (gateway/README.md's rooms table).
section "layers (scripts/check-layers.sh)"
if bash scripts/check-layers.sh; then
    passed=$((passed + 1))
else
    failed=$((failed + 1))
fi

build_ok=1
build normal || build_ok=0
build asan SANITIZE=1 || build_ok=0

export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

if [ "$build_ok" = 1 ]; then
    run_units build normal
    run_units build/asan asan

    # Every libFuzzer target (tests/fuzz/fuzz_<name>.c) over its seed corpus
    # (tests/fuzz/corpus/<name>/), in the ASan build: one test each in the tally.
    section "fuzz corpora (tests/fuzz/fuzz_*.c over tests/fuzz/corpus/*/, ASan+UBSan)"
    model=build/asan/nlu.model
    [ -f "$model" ] || model=
    for src in tests/fuzz/fuzz_*.c; do
        name=$(basename "$src" .c)
        name=${name#fuzz_}
        run=build/asan/tests/fuzz_${name}_corpus
        log=var/test/fuzz-corpus-$name.log
        if [ ! -x "$run" ]; then
            echo "fuzz $name: $run was not built (is $name in the Makefile's FUZZ_TABLE?)"
            failed=$((failed + 1))
        elif MOTCUA_NLU_MODEL="$model" "$run" "tests/fuzz/corpus/$name" >"$log" 2>&1; then
            echo "fuzz $name: $(tail -n 1 "$log")"
            passed=$((passed + 1))
        else
            echo "fuzz $name: FAILED"
            tail -n 30 "$log"
            failed=$((failed + 1))
        fi
    done

    section "integration and browser tests (node:test, ASan binary)"
    tap=var/test/node.tap
    MOTCUA_BIN=build/asan/motcua node --test \
        --test-reporter=spec --test-reporter-destination=stdout \
        --test-reporter=tap --test-reporter-destination="$tap" \
        tests/integration/ tests/browser/
    rc=$?
    p=$(grep -E '^# pass [0-9]+' "$tap" | awk '{print $3}' | tail -n 1)
    f=$(grep -E '^# fail [0-9]+' "$tap" | awk '{print $3}' | tail -n 1)
    p=${p:-0}
    f=${f:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
    fi
    passed=$((passed + p))
    failed=$((failed + f))
fi

echo
echo "test time: $(( $(date +%s) - t_start )) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
