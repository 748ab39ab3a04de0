/*
 * tests/unit/test_nlu_procedures.c — the procedure entity on an independent check set.
 *
 * Big idea: tests/unit/data/nlu_procedures_check.tsv holds citizen messages written for
 * this test (not taken from train.tsv or dev.tsv), `procedure_id<TAB>text`, in every style
 * (diacritics, none, teencode, CAPS, typos, long stories, English mixed in, fully
 * English), plus `-<TAB>text` lines that name no procedure. nlu_classify runs over every
 * line on the real data files; the procedure it names must equal the gold value exactly
 * (none for `-`). The exact-match rate must reach NLU_PROC_CHECK_BAR; every miss is
 * printed so that a failing run says which alias is missing or misfires. Also checks
 * that the file covers every procedure of the catalog. tests/unit/data/nlu_typo_check.tsv
 * (issue 17) does the same for names typed with one typo, nlu_focus_check.tsv for
 * messages naming several procedures (the one asked about must win). Tests run from the repository
 * root.
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
#include "test_nlu_share.h"

#define NLU_PROC_CHECK_FILE "tests/unit/data/nlu_procedures_check.tsv"
#define NLU_PROC_CHECK_BAR 0.95
#define NLU_PROC_CHECK_MIN_LINES 200
#define NLU_PROC_CHECK_MAX_IDS 64
#define NLU_TYPO_CHECK_FILE "tests/unit/data/nlu_typo_check.tsv"
#define NLU_TYPO_CHECK_BAR 0.99
#define NLU_TYPO_CHECK_MIN_LINES 300
#define NLU_FOCUS_CHECK_FILE "tests/unit/data/nlu_focus_check.tsv"
#define NLU_FOCUS_CHECK_BAR 0.98
#define NLU_FOCUS_CHECK_MIN_LINES 150
#define NLU_PROC_CHECK_ID_MAX 64

/* The procedure ids of shared/spec/intents.md: each must appear in the check file. */
static const char *const proc_ids[] = {
    "khai_sinh",
    "khai_tu",
    "ket_hon",
    "xac_nhan_hon_nhan",
    "thuong_tru",
    "tam_tru",
    "cccd",
    "ho_chieu",
    "giay_phep_xay_dung",
    "ho_kinh_doanh",
    "dang_ky_doanh_nghiep",
    "kinh_doanh_xang_dau",
    "ly_lich_tu_phap",
    "chung_thuc",
    "so_do",
    "doi_gplx",
};
#define N_PROC_IDS (sizeof(proc_ids) / sizeof(proc_ids[0]))

/* Runs nlu_classify over a check file; every procedure id of the contract must appear
 * when need_all; returns the exact-match rate and the false positives on '-' lines. */
static double run_check(const char *file, size_t min_lines, int need_all, int need_neg,
                        size_t *neg_fp) {
    char *buf = share_slurp(file);
    assert_non_null(buf);
    size_t total = 0, hit = 0, neg = 0;
    size_t seen[N_PROC_IDS] = {0};
    int lineno = 0;
    const char *gold, *text;
    *neg_fp = 0;
    for (char *p = buf; share_check_line(&p, file, &lineno, &gold, &text);) {
        size_t text_len = strlen(text);
        assert_true(strlen(gold) < NLU_PROC_CHECK_ID_MAX && text_len > 0);
        int is_neg = strcmp(gold, "-") == 0;
        if (!is_neg)
            seen[share_id_index(proc_ids, N_PROC_IDS, gold, "procedure", file, lineno)]++;
        nlu_result r;
        int rc = nlu_classify(E, text, text_len, &r);
        if (rc)
            print_error("%s:%d: %s\n", file, lineno, mc_strerror(rc));
        assert_int_equal(rc, 0);
        int ok =
            is_neg ? r.procedure == NULL : (r.procedure != NULL && strcmp(r.procedure, gold) == 0);
        total++;
        hit += (size_t)ok;
        neg += (size_t)is_neg;
        *neg_fp += (size_t)(is_neg && !ok);
        if (!ok)
            print_message("miss %s:%d: '%s' -> %s, want %s\n", file, lineno, text,
                          r.procedure ? r.procedure : "-", gold);
    }
    free(buf);
    double rate = total ? (double)hit / (double)total : 0.0;
    print_message("%s: %zu/%zu exact (%.4f), %zu of %zu no-procedure lines wrongly named one\n",
                  file, hit, total, rate, *neg_fp, neg);
    assert_true(total >= min_lines);
    assert_true(neg > 0 || !need_neg);
    for (size_t k = 0; need_all && k < N_PROC_IDS; k++) {
        if (!seen[k])
            print_error("no check line for %s\n", proc_ids[k]);
        assert_true(seen[k] > 0);
    }
    return rate;
}

static void test_procedure_check_set(void **state) {
    (void)state;
    size_t fp;
    assert_true(run_check(NLU_PROC_CHECK_FILE, NLU_PROC_CHECK_MIN_LINES, 1, 1, &fp) >=
                NLU_PROC_CHECK_BAR);
}

/* Issue 17: one typo in the procedure's name (360 of 363 right when written: "khai tửr"
 * keeps a Telex key glued to a two-letter syllable, "ho chiu" is the unaccented spelling
 * of chịu, "khai ainh" changes the first letter of the only other syllable); no word near
 * a name taken for it. */
static void test_typo_check_set(void **state) {
    (void)state;
    size_t fp;
    assert_true(run_check(NLU_TYPO_CHECK_FILE, NLU_TYPO_CHECK_MIN_LINES, 1, 1, &fp) >=
                NLU_TYPO_CHECK_BAR);
    assert_int_equal(fp, 0);
}

/* Issue 17: of two procedures named, the one asked about (229 of 232 right when written;
 * first-named, the rule before, got 87). */
static void test_focus_check_set(void **state) {
    (void)state;
    size_t fp;
    assert_true(run_check(NLU_FOCUS_CHECK_FILE, NLU_FOCUS_CHECK_MIN_LINES, 1, 0, &fp) >=
                NLU_FOCUS_CHECK_BAR);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_procedure_check_set),
        cmocka_unit_test(test_typo_check_set),
        cmocka_unit_test(test_focus_check_set),
    };
    return cmocka_run_group_tests(tests, share_setup, share_teardown);
}
