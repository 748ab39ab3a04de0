/*
 * tests/unit/test_nlu_scope.c — issue 17's intent checks with the trained model: requests
 * worded like procedures that no office handles, unsubscribing phrased around "đăng ký",
 * status questions that also ask for notifications, and English questions.
 *
 * Big idea: as test_nlu_teencode.c, a model is trained here on the real train.tsv and the
 * engine runs nlu_classify over check files written for these tests (not taken from
 * train.tsv or dev.tsv), `intent<TAB>text`; "a+b" means intent a with b as the second
 * request (nlu_result.also). Each rate must reach the bar measured when the files were
 * written; every miss is printed. An out_of_scope line must name no procedure.
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
#include "intents/nlu_model.h"
#include "test_nlu_share.h"

#define SCOPE_CHECK_FILE "tests/unit/data/nlu_scope_check.tsv"
#define SCOPE_CHECK_BAR 0.95
#define SCOPE_CHECK_MIN_LINES 70
#define ENGLISH_CHECK_FILE "tests/unit/data/nlu_english_check.tsv"
#define ENGLISH_CHECK_BAR 0.97
#define ENGLISH_CHECK_MIN_LINES 120
#define SCOPE_GOLD_MAX 64

/* Runs a check file; returns the rate of lines whose intent (and second request) match. */
static double run_check(const char *file, size_t min_lines) {
    char *buf = share_slurp(file), *p = buf;
    assert_non_null(buf);
    size_t total = 0, hit = 0;
    int lineno = 0;
    const char *want, *text;
    while (share_check_line(&p, file, &lineno, &want, &text)) {
        char gold[SCOPE_GOLD_MAX];
        assert_true(strlen(want) < sizeof(gold));
        strcpy(gold, want);
        char *plus = strchr(gold, '+');
        const char *also = NULL;
        if (plus) {
            *plus = '\0';
            also = plus + 1;
        }
        nlu_result r;
        int rc = nlu_classify(E, text, strlen(text), &r);
        if (rc)
            print_error("%s:%d: %s\n", file, lineno, mc_strerror(rc));
        assert_int_equal(rc, 0);
        int ok = r.intent && strcmp(r.intent, gold) == 0 &&
                 (also ? r.also && strcmp(r.also, also) == 0 : r.also == NULL);
        if (ok && strcmp(gold, "out_of_scope") == 0)
            ok = r.procedure == NULL;
        total++;
        hit += (size_t)ok;
        if (!ok)
            print_message("miss %s:%d: '%s' -> %s%s%s (%.2f) %s, want %s\n", file, lineno, text,
                          r.intent ? r.intent : "-", r.also ? "+" : "", r.also ? r.also : "",
                          r.confidence, r.procedure ? r.procedure : "-", want);
    }
    free(buf);
    double rate = total ? (double)hit / (double)total : 0.0;
    print_message("%s: %zu/%zu right (%.4f)\n", file, hit, total, rate);
    assert_true(total >= min_lines);
    return rate;
}

/* Worded like a procedure but for a pet, a plane, a party, a game: out of scope, with no
 * procedure; the same words as context of a real procedure leave it alone; unsubscribing
 * in teencode and around "đăng ký"; a status question that also asks to be told later.
 * 75 of 78 when written: the pet named more than 3 words before the procedure, and "cho
 * cho cung" typed without diacritics (for the cat: too close to "cho cùng"), are missed. */
static void test_scope_check_set(void **state) {
    (void)state;
    assert_true(run_check(SCOPE_CHECK_FILE, SCOPE_CHECK_MIN_LINES) >= SCOPE_CHECK_BAR);
}

static void test_english_check_set(void **state) {
    (void)state;
    assert_true(run_check(ENGLISH_CHECK_FILE, ENGLISH_CHECK_MIN_LINES) >= ENGLISH_CHECK_BAR);
}

/* The replies: "what I can do" for a request no office handles; the status looked up and
 * the subscription offered (a quick reply that subscribes to this very code). */
static void test_scope_replies(void **state) {
    (void)state;
    nlu_reply rep;
    nlu_result r;
    const char *q = "làm giấy khai sinh cho mèo cưng được không";
    assert_int_equal(nlu_respond(E, q, strlen(q), &r, &rep), 0);
    assert_string_equal(rep.resolved.intent, "out_of_scope");
    assert_int_equal(rep.resolved.not_public, 1);
    assert_null(rep.resolved.procedure);
    assert_non_null(strstr(rep.text, "không phải thủ tục hành chính"));
    assert_non_null(strstr(rep.text, "Tôi có thể"));
    assert_int_equal(rep.action, NLU_ACT_NONE);
    nlu_reply_free(&rep);

    q = "tra hồ sơ 000.00.25.H29-240402-0015, có kết quả thì báo em nhé";
    assert_int_equal(nlu_respond(E, q, strlen(q), &r, &rep), 0);
    assert_string_equal(rep.resolved.intent, "dossier.status");
    assert_string_equal(rep.resolved.also, "notify.subscribe");
    assert_int_equal(rep.action, NLU_ACT_DOSSIER_STATUS);
    assert_non_null(strstr(rep.text, "000.00.25.H29-240402-0015"));
    assert_int_equal(rep.n_quick, 1);
    nlu_result qr;
    assert_int_equal(nlu_classify(E, rep.quick[0].payload, strlen(rep.quick[0].payload), &qr), 0);
    assert_string_equal(qr.intent, "notify.subscribe");
    assert_string_equal(qr.dossier_code, "000.00.25.H29-240402-0015");
    assert_null(qr.also);
    nlu_reply_free(&rep);

    /* The gateway's status reply offers the subscription to the same code. */
    const char *k[] = {"code", "status", "updated", "agency"};
    const char *v[] = {"000.00.25.H29-240402-0015", "đang xử lý", "10:00 02/04/2024", "UBND"};
    assert_int_equal(nlu_render(E, "dossier_status", k, v, 4, &rep), 0);
    assert_true(rep.n_quick >= 1);
    assert_non_null(strstr(rep.quick[0].payload, "000.00.25.H29-240402-0015"));
    nlu_reply_free(&rep);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scope_check_set),
        cmocka_unit_test(test_english_check_set),
        cmocka_unit_test(test_scope_replies),
    };
    return cmocka_run_group_tests(tests, share_setup_model, share_teardown);
}
