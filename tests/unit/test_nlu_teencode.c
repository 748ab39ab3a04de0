/*
 * tests/unit/test_nlu_teencode.c — intent accuracy on teencode and chat abbreviations.
 *
 * Big idea: tests/unit/data/nlu_teencode_check.tsv holds citizen messages written for this
 * test (not taken from train.tsv or dev.tsv), `intent<TAB>text`, in the shorthand people
 * type on Zalo, Facebook and SMS ("ko", "dc", "j", "z", "bn", "hs", "dk", "lltp", "onl"...).
 * A model is trained here on the real intents/data/train.tsv (through nlu_model_train, as
 * `make` does) and the engine runs nlu_classify over every line: the intent must equal the
 * gold one. The rate must reach NLU_TEEN_CHECK_BAR; every miss is printed so that a failing
 * run shows which expansion or which kind of training line is missing. Also checks that
 * every intent of the contract (the engine's nlu_intent_ids) has check lines. Tests run
 * from the repository root.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/mc.h"
#include "intents/nlu.h"
#include "intents/nlu_internal.h"
#include "intents/nlu_model.h"
#include "test_nlu_share.h"

#define NLU_TEEN_CHECK_FILE "tests/unit/data/nlu_teencode_check.tsv"
#define NLU_TEEN_CHECK_BAR 0.93
#define NLU_TEEN_CHECK_MIN_LINES 200

static void test_teencode_check_set(void **state) {
    (void)state;
    char *buf = share_slurp(NLU_TEEN_CHECK_FILE);
    assert_non_null(buf);
    size_t total = 0, hit = 0;
    size_t seen[NLU_N_INTENTS] = {0}, miss[NLU_N_INTENTS] = {0};
    int lineno = 0;
    const char *gold, *text;
    for (char *p = buf; share_check_line(&p, NLU_TEEN_CHECK_FILE, &lineno, &gold, &text);) {
        size_t text_len = strlen(text);
        assert_true(text_len > 0);
        size_t k = share_id_index(nlu_intent_ids, NLU_N_INTENTS, gold, "intent",
                                  NLU_TEEN_CHECK_FILE, lineno);
        seen[k]++;
        nlu_result r;
        int rc = nlu_classify(E, text, text_len, &r);
        if (rc)
            print_error("%s:%d: %s\n", NLU_TEEN_CHECK_FILE, lineno, mc_strerror(rc));
        assert_int_equal(rc, 0);
        int ok = r.intent != NULL && strcmp(r.intent, gold) == 0;
        total++;
        hit += (size_t)ok;
        miss[k] += (size_t)!ok;
        if (!ok)
            print_message("miss %s:%d: '%s' -> %s (%.2f), want %s\n", NLU_TEEN_CHECK_FILE, lineno,
                          text, r.intent ? r.intent : "-", r.confidence, gold);
    }
    free(buf);
    for (size_t k = 0; k < NLU_N_INTENTS; k++) {
        if (miss[k])
            print_message("  %-20s %zu of %zu missed\n", nlu_intent_ids[k], miss[k], seen[k]);
    }
    double rate = total ? (double)hit / (double)total : 0.0;
    print_message("teencode check: %zu/%zu correct intent (%.4f), bar %.2f\n", hit, total, rate,
                  NLU_TEEN_CHECK_BAR);
    assert_true(total >= NLU_TEEN_CHECK_MIN_LINES);
    for (size_t k = 0; k < NLU_N_INTENTS; k++) {
        if (!seen[k])
            print_error("no check line for %s\n", nlu_intent_ids[k]);
        assert_true(seen[k] > 0);
    }
    assert_true(rate >= NLU_TEEN_CHECK_BAR);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_teencode_check_set),
    };
    return cmocka_run_group_tests(tests, share_setup_model, share_teardown);
}
