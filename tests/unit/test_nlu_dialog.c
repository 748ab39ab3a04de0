/*
 * tests/unit/test_nlu_dialog.c — conversations on the real data files: a slot asked for
 * and filled by the next message, follow-ups that carry the procedure or the question,
 * expiry after NLU_CONTEXT_TTL_MS on a controlled clock, and the context's text form
 * (round trip and garbage). The conversations run twice: on the phrase rules alone and
 * with a model trained here on intents/data/train.tsv (through nlu_model_train), since
 * context must work whatever classifies the single message. Tests run from the
 * repository root.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/mc.h"
#include "intents/nlu.h"
#include "intents/nlu_dialog.h"
#include "intents/nlu_model.h"
#include "test_nlu_share.h"

#define T0 ((int64_t)1700000000000) /* any wall-clock time in ms */
#define MIN ((int64_t)60 * 1000)

/* One turn: the reply answers `intent` about `proc` (NULL: none), asks for `pending`. */
typedef struct turn {
    nlu_result res;
    nlu_reply rep;
} turn;

static void say(nlu_context *c, int64_t now, const char *text, const char *intent, const char *proc,
                const char *pending, turn *t) {
    int rc = nlu_converse(E, c, now, text, strlen(text), &t->res, &t->rep);
    assert_int_equal(rc, 0);
    const nlu_result *w = &t->rep.resolved;
    if (strcmp(w->intent, intent) || (proc && (!w->procedure || strcmp(w->procedure, proc))) ||
        (!proc && w->procedure) || strcmp(c->pending, pending))
        print_error("'%s' -> %s %s pending '%s'; want %s %s '%s'\n", text, w->intent,
                    w->procedure ? w->procedure : "-", c->pending, intent, proc ? proc : "-",
                    pending);
    assert_string_equal(w->intent, intent);
    if (proc)
        assert_string_equal(w->procedure, proc);
    else
        assert_null(w->procedure);
    assert_string_equal(c->pending, pending);
    assert_true(c->updated_ms == now);
    assert_non_null(t->rep.text);
    assert_null(strchr(t->rep.text, '{')); /* every placeholder filled */
}

static void say_free(nlu_context *c, int64_t now, const char *text, const char *intent,
                     const char *proc, const char *pending) {
    turn t;
    say(c, now, text, intent, proc, pending, &t);
    nlu_reply_free(&t.rep);
}

static void test_missing_procedure_asked_then_filled(void **state) {
    nlu_context c = {0};
    turn t;
    say(&c, T0, "lệ phí bao nhiêu vậy ad", "procedure.fee", NULL, "procedure", &t);
    assert_non_null(strstr(t.rep.text, "thủ tục nào"));
    assert_true(t.rep.n_quick >= 3);
    nlu_reply_free(&t.rep);
    /* "khai sinh" alone, after the question: the pending question for khai_sinh. */
    say(&c, T0 + MIN, "khai sinh", "procedure.fee", "khai_sinh", "", &t);
    assert_int_equal(t.res.clarify, 1); /* alone it would have been unclear */
    assert_non_null(strstr(t.rep.text, "Đăng ký khai sinh"));
    assert_non_null(strstr(t.rep.text, "Nguồn:"));
    nlu_reply_free(&t.rep);
    assert_string_equal(c.procedure, "khai_sinh");
    assert_string_equal(c.intent, "procedure.fee");

    /* The same for each procedure question, unaccented. */
    nlu_context d = {0};
    say_free(&d, T0, "nop ho so o dau", "procedure.location", NULL, "procedure");
    say_free(&d, T0 + 1, "ket hon", "procedure.location", "ket_hon", "");
}

static void test_follow_ups_carry_context(void **state) {
    nlu_context c = {0};
    turn t;
    say_free(&c, T0, "làm khai sinh cần giấy tờ gì", "procedure.documents", "khai_sinh", "");
    /* Another question, the same procedure. */
    say(&c, T0 + MIN, "còn lệ phí thì sao?", "procedure.fee", "khai_sinh", "", &t);
    assert_null(t.res.procedure); /* the message alone names none */
    assert_non_null(strstr(t.rep.text, "Đăng ký khai sinh"));
    nlu_reply_free(&t.rep);
    /* The same question, another procedure. */
    say(&c, T0 + 2 * MIN, "còn kết hôn?", "procedure.fee", "ket_hon", "", &t);
    assert_non_null(strstr(t.rep.text, "Đăng ký kết hôn"));
    nlu_reply_free(&t.rep);
    say_free(&c, T0 + 3 * MIN, "mất bao lâu", "procedure.duration", "ket_hon", "");
    /* Small talk keeps the context; goodbye ends it. */
    say_free(&c, T0 + 4 * MIN, "cảm ơn ad", "thanks", NULL, "");
    say_free(&c, T0 + 5 * MIN, "nộp ở đâu", "procedure.location", "ket_hon", "");
    say_free(&c, T0 + 6 * MIN, "tạm biệt", "goodbye", NULL, "");
    assert_string_equal(c.procedure, "");
    say_free(&c, T0 + 7 * MIN, "nộp ở đâu", "procedure.location", NULL, "procedure");
    /* A complete question is answered as asked, whatever the context. */
    say_free(&c, T0 + 8 * MIN, "đăng ký tạm trú online được không", "procedure.online", "tam_tru",
             "");
}

/* Issue 17, tried as a new user would. */
static void test_ward_and_english_as_a_new_user(void **state) {
    nlu_context c = {0};
    turn t;
    say_free(&c, T0, "đăng ký kết hôn cần giấy tờ gì", "procedure.documents", "ket_hon", "");
    /* The ward named in the question is the place: its one-stop desk, named as in
     * wards.csv, for the procedure of the conversation. */
    say(&c, T0 + MIN, "phường Bến Thành ở đâu nộp hồ sơ", "procedure.location", "ket_hon", "", &t);
    assert_string_equal(t.rep.resolved.ward_name, "Bến Thành");
    assert_non_null(strstr(t.rep.text, "Ủy ban nhân dân phường/xã Bến Thành"));
    assert_non_null(strstr(t.rep.text, "Đăng ký kết hôn"));
    nlu_reply_free(&t.rep);
    /* A procedure of the ward's police; one no ward handles says where instead. */
    say(&c, T0 + 2 * MIN, "còn đăng ký tạm trú ở phường Tân Định thì nộp ở đâu",
        "procedure.location", "tam_tru", "", &t);
    assert_non_null(strstr(t.rep.text, "Công an phường/xã Tân Định"));
    nlu_reply_free(&t.rep);
    say(&c, T0 + 3 * MIN, "làm hộ chiếu ở phường Tân Định nộp ở đâu", "procedure.location",
        "ho_chieu", "", &t);
    assert_non_null(strstr(t.rep.text, "không nộp tại phường/xã Tân Định"));
    assert_non_null(strstr(t.rep.text, "xuất nhập cảnh"));
    nlu_reply_free(&t.rep);
    /* Without a ward: the catalog's agency, as before. */
    say(&c, T0 + 4 * MIN, "đăng ký kết hôn nộp ở đâu", "procedure.location", "ket_hon", "", &t);
    assert_null(strstr(t.rep.text, "phường/xã"));
    nlu_reply_free(&t.rep);
}

/* "How do I register a birth?" is the documents question, not the processing time. */
static void test_english_how_do_i(void **state) {
    nlu_context c = {0};
    turn t;
    say(&c, T0, "How do I register a birth?", "procedure.documents", "khai_sinh", "", &t);
    assert_non_null(strstr(t.rep.text, "cần chuẩn bị"));
    nlu_reply_free(&t.rep);
    say_free(&c, T0 + MIN, "How long does it take?", "procedure.duration", "khai_sinh", "");
}

static void test_dossier_status_asks_for_code(void **state) {
    nlu_context c = {0};
    turn t;
    say(&c, T0, "tôi muốn tra cứu hồ sơ", "dossier.status", NULL, "dossier_code", &t);
    assert_int_equal(t.rep.action, NLU_ACT_NONE);
    assert_non_null(strstr(t.rep.text, "mã hồ sơ"));
    nlu_reply_free(&t.rep);
    say(&c, T0 + MIN, "000.00.25.H29-231122-0001", "dossier.status", NULL, "", &t);
    assert_int_equal(t.rep.action, NLU_ACT_DOSSIER_STATUS);
    assert_string_equal(t.rep.resolved.dossier_code, "000.00.25.H29-231122-0001");
    assert_non_null(strstr(t.rep.text, "000.00.25.H29-231122-0001"));
    nlu_reply_free(&t.rep);
}

/* Issue 13: a report that does not say where asks for the place; the address that follows
 * is that report's place (the same issue, one ticket: the gateway files it once), not a
 * report of its own; a ward named at once needs no question. */
static void test_report_asks_where(void **state) {
    nlu_context c = {0};
    turn t;
    say(&c, T0, "toi muon khieu nai ve rac thai o hem 12", "report.issue", NULL, "place", &t);
    assert_int_equal(t.rep.action, NLU_ACT_REPORT);
    assert_string_equal(t.rep.resolved.issue_category, "rac_thai");
    assert_null(t.rep.resolved.ward_id);
    assert_non_null(strstr(t.rep.text, "phường/xã"));
    nlu_reply_free(&t.rep);
    /* the answer: still the report (khac: the gateway keeps the draft's category) */
    say(&c, T0 + MIN, "hẻm 12 đường Lê Lợi, phường Bến Thành", "report.issue", NULL, "", &t);
    assert_int_equal(t.rep.action, NLU_ACT_REPORT);
    assert_non_null(t.rep.resolved.ward_id);
    assert_string_equal(t.rep.resolved.ward_id, "26743");
    nlu_reply_free(&t.rep);
    /* an answer that names a ward and nothing else is the place too */
    memset(&c, 0, sizeof c);
    say_free(&c, T0, "đường nhà tôi ngập nặng", "report.issue", NULL, "place");
    say(&c, T0 + MIN, "o phuong ben thanh", "report.issue", NULL, "", &t);
    assert_string_equal(t.rep.resolved.ward_id, "26743");
    assert_int_equal(t.rep.action, NLU_ACT_REPORT);
    nlu_reply_free(&t.rep);
    /* a ward at once: nothing is asked */
    memset(&c, 0, sizeof c);
    say(&c, T0, "đèn đường hư ở phường Bến Thành", "report.issue", NULL, "", &t);
    assert_string_equal(t.rep.resolved.issue_category, "den_duong");
    assert_string_equal(t.rep.resolved.ward_id, "26743");
    nlu_reply_free(&t.rep);
    /* a greeting while the place is asked is a greeting, and drops the question */
    memset(&c, 0, sizeof c);
    say_free(&c, T0, "rác để cả tuần không ai dọn", "report.issue", NULL, "place");
    say_free(&c, T0 + MIN, "cảm ơn", "thanks", NULL, "");
}

/* "phản ánh PA-… tới đâu rồi": a question about the ticket, in whatever form it is typed,
 * also as the answer to "which dossier?". */
static void test_report_ticket_status(void **state) {
    static const char *const asks[] = {
        "phản ánh PA-251203-0001 tới đâu rồi",
        "phan anh pa 251203 0001 toi dau roi",
        "PA251203-1 sao roi ad",
    };
    for (size_t i = 0; i < MC_ARRAY_LEN(asks); i++) {
        nlu_context c = {0};
        turn t;
        say(&c, T0, asks[i], "dossier.status", NULL, "", &t);
        assert_int_equal(t.rep.action, NLU_ACT_REPORT_STATUS);
        assert_string_equal(t.rep.resolved.report_ticket, "PA-251203-0001");
        assert_non_null(strstr(t.rep.text, "PA-251203-0001"));
        nlu_reply_free(&t.rep);
    }
    nlu_context c = {0};
    turn t;
    say_free(&c, T0, "tôi muốn tra cứu hồ sơ", "dossier.status", NULL, "dossier_code");
    say(&c, T0 + MIN, "PA-251203-0042", "dossier.status", NULL, "", &t);
    assert_int_equal(t.rep.action, NLU_ACT_REPORT_STATUS);
    assert_string_equal(t.rep.resolved.report_ticket, "PA-251203-0042");
    nlu_reply_free(&t.rep);
    /* not a ticket: letters glued to it, or too few digits */
    nlu_result r;
    assert_int_equal(nlu_classify(E, "capa-251203-0001", 16, &r), 0);
    assert_string_equal(r.report_ticket, "");
    assert_int_equal(nlu_classify(E, "PA-2512-0001", 12, &r), 0);
    assert_string_equal(r.report_ticket, "");
}

static void test_subscribe_asks_which(void **state) {
    nlu_context c = {0};
    turn t;
    say(&c, T0, "đăng ký nhận thông báo", "notify.subscribe", NULL, "ward", &t);
    assert_int_equal(t.rep.action, NLU_ACT_NONE);
    nlu_reply_free(&t.rep);
    /* A dossier code answers it: the code was the subscription's, not a status question. */
    say(&c, T0 + MIN, "000.00.25.H29-231122-0001", "notify.subscribe", NULL, "", &t);
    assert_int_equal(t.rep.action, NLU_ACT_SUBSCRIBE);
    assert_string_equal(t.rep.resolved.dossier_code, "000.00.25.H29-231122-0001");
    nlu_reply_free(&t.rep);

    /* So does a ward. */
    nlu_context d = {0};
    say_free(&d, T0, "cho tôi nhận thông báo với", "notify.subscribe", NULL, "ward");
    say(&d, T0 + MIN, "phường Bến Thành", "notify.subscribe", NULL, "", &t);
    assert_int_equal(t.rep.action, NLU_ACT_SUBSCRIBE);
    assert_non_null(t.rep.resolved.ward_id);
    assert_string_equal(t.rep.resolved.ward_name, "Bến Thành");
    assert_non_null(strstr(t.rep.text, "Bến Thành"));
    nlu_reply_free(&t.rep);

    /* Given at once, nothing is asked. */
    nlu_context e = {0};
    say(&e, T0, "đăng ký nhận thông báo hồ sơ 000.00.25.H29-231122-0001", "notify.subscribe", NULL,
        "", &t);
    assert_int_equal(t.rep.action, NLU_ACT_SUBSCRIBE);
    nlu_reply_free(&t.rep);
    /* HUY TB while a question is pending is still HUY TB. */
    say_free(&e, T0 + 1, "đăng ký nhận thông báo", "notify.subscribe", NULL, "ward");
    say(&e, T0 + 2, "HUY TB", "notify.unsubscribe", NULL, "", &t);
    assert_int_equal(t.rep.action, NLU_ACT_UNSUBSCRIBE);
    nlu_reply_free(&t.rep);
}

static void test_expiry(void **state) {
    nlu_context c = {0};
    say_free(&c, T0, "làm khai sinh cần giấy tờ gì", "procedure.documents", "khai_sinh", "");
    /* Exactly the TTL later the context still holds... */
    say_free(&c, T0 + NLU_CONTEXT_TTL_MS, "còn lệ phí thì sao?", "procedure.fee", "khai_sinh", "");
    /* ...one millisecond beyond the TTL it is gone. */
    say_free(&c, T0 + 2 * (int64_t)NLU_CONTEXT_TTL_MS + 1, "mất bao lâu", "procedure.duration",
             NULL, "procedure");
    /* A pending question expires too: "khai sinh" is then just unclear. */
    nlu_context d = {0};
    say_free(&d, T0, "lệ phí bao nhiêu", "procedure.fee", NULL, "procedure");
    turn t;
    say(&d, T0 + NLU_CONTEXT_TTL_MS + 1, "khai sinh", "procedure.documents", "khai_sinh", "", &t);
    assert_int_equal(t.rep.resolved.clarify, 1);
    nlu_reply_free(&t.rep);
    /* A stamp far in the future is nonsense: ignored. */
    nlu_context f = {"khai_sinh", "procedure.documents", "", T0 + 10 * MIN};
    say_free(&f, T0, "mất bao lâu", "procedure.duration", NULL, "procedure");
}

static void test_stale_context_fields_dropped(void **state) {
    /* A procedure the catalog does not know any more (a context from an older release). */
    nlu_context c = {"no_such_procedure", "procedure.fee", "", T0};
    say_free(&c, T0 + 1, "mất bao lâu", "procedure.duration", NULL, "procedure");
}

static void test_respond_is_stateless(void **state) {
    nlu_reply a, b;
    nlu_result r;
    assert_int_equal(nlu_respond(E, "khai sinh", 9, &r, &a), 0);
    assert_int_equal(nlu_respond(E, "khai sinh", 9, &r, &b), 0);
    assert_string_equal(a.text, b.text);
    assert_int_equal(a.resolved.clarify, 1);
    nlu_reply_free(&a);
    nlu_reply_free(&b);
}

static void test_context_round_trip(void **state) {
    const nlu_context v[] = {
        {"khai_sinh", "procedure.fee", "", T0},
        {"", "dossier.status", "dossier_code", 1},
        {"giay_phep_xay_dung", "notify.subscribe", "ward", INT64_C(999999999999999999)},
        {"", "", "", 0},
    };
    for (size_t i = 0; i < MC_ARRAY_LEN(v); i++) {
        char buf[NLU_CONTEXT_MAX];
        nlu_context back;
        int n = nlu_context_encode(&v[i], buf, sizeof(buf));
        assert_true(n > 0 && (size_t)n == strlen(buf));
        assert_int_equal(nlu_context_decode(buf, (size_t)n, &back), 0);
        assert_string_equal(back.procedure, v[i].procedure);
        assert_string_equal(back.intent, v[i].intent);
        assert_string_equal(back.pending, v[i].pending);
        assert_true(back.updated_ms == v[i].updated_ms);
        /* Too small a buffer is reported, not truncated silently. */
        assert_int_equal(nlu_context_encode(&v[i], buf, (size_t)n), MC_ETOOBIG);
    }
    /* A context after a real turn encodes too. */
    nlu_context c = {0};
    say_free(&c, T0, "lệ phí bao nhiêu", "procedure.fee", NULL, "procedure");
    char buf[NLU_CONTEXT_MAX];
    assert_true(nlu_context_encode(&c, buf, sizeof(buf)) > 0);
    /* Fields the format cannot carry. */
    nlu_context bad = {"khai|sinh", "", "", 0};
    assert_int_equal(nlu_context_encode(&bad, buf, sizeof(buf)), MC_EINVAL);
    nlu_context bad2 = {"", "", "nonsense", 0};
    assert_int_equal(nlu_context_encode(&bad2, buf, sizeof(buf)), MC_EINVAL);
}

static void test_context_garbage(void **state) {
    const char *g[] = {
        "",
        "garbage",
        "c1|khai_sinh|procedure.fee||",                    /* no time */
        "c1|khai_sinh|procedure.fee||12x",                 /* not a number */
        "c1|khai_sinh|procedure.fee||-5",                  /* negative */
        "c1|khai_sinh|procedure.fee||1234567890123456789", /* beyond 18 digits */
        "c2|khai_sinh|procedure.fee||1",                   /* another version */
        "c1|khai_sinh|procedure.fee|maybe|1",              /* unknown slot */
        "c1|khai_sinh|no.such.intent||1",                  /* unknown intent */
        "c1|Khai Sinh|procedure.fee||1",                   /* not an id */
        "c1|khai_sinh|procedure.fee||1|extra",             /* one field too many */
        "c1|khai_sinh|procedure.fee|1",                    /* one too few */
        "c1|aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa|procedure.fee||1",
    };
    for (size_t i = 0; i < MC_ARRAY_LEN(g); i++) {
        nlu_context c;
        memset(&c, 0x41, sizeof(c));
        assert_int_equal(nlu_context_decode(g[i], strlen(g[i]), &c), MC_EINVAL);
        assert_string_equal(c.procedure, "");
        assert_string_equal(c.intent, "");
        assert_true(c.updated_ms == 0);
    }
    /* Embedded NUL and length-carrying input: only len bytes are read. */
    nlu_context c;
    assert_int_equal(nlu_context_decode("c1|khai_sinh|procedure.fee||1\0junk", 34, &c), MC_EINVAL);
    assert_int_equal(nlu_context_decode("c1|khai_sinh|procedure.fee||15junk", 30, &c), 0);
    assert_true(c.updated_ms == 15);
    assert_int_equal(nlu_context_decode(NULL, 0, &c), MC_EINVAL);
}

static void test_converse_errors(void **state) {
    nlu_context c = {"khai_sinh", "procedure.fee", "", T0};
    nlu_context before = c;
    nlu_reply rep;
    nlu_result r;
    assert_int_equal(nlu_converse(E, &c, T0 + 1, "\xff", 1, &r, &rep), MC_EUTF8);
    assert_null(rep.text);
    assert_memory_equal(&c, &before, sizeof(c)); /* untouched */
    assert_int_equal(nlu_converse(E, NULL, T0, "a", 1, &r, &rep), MC_EINVAL);
    assert_int_equal(nlu_converse(E, &c, T0, "a", 1, &r, NULL), MC_EINVAL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_procedure_asked_then_filled),
        cmocka_unit_test(test_follow_ups_carry_context),
        cmocka_unit_test(test_dossier_status_asks_for_code),
        cmocka_unit_test(test_report_asks_where),
        cmocka_unit_test(test_report_ticket_status),
        cmocka_unit_test(test_subscribe_asks_which),
        cmocka_unit_test(test_ward_and_english_as_a_new_user),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_stale_context_fields_dropped),
        cmocka_unit_test(test_respond_is_stateless),
        cmocka_unit_test(test_context_round_trip),
        cmocka_unit_test(test_context_garbage),
        cmocka_unit_test(test_converse_errors),
    };
    const struct CMUnitTest with_model[] = {
        cmocka_unit_test(test_missing_procedure_asked_then_filled),
        cmocka_unit_test(test_follow_ups_carry_context),
        cmocka_unit_test(test_dossier_status_asks_for_code),
        cmocka_unit_test(test_report_asks_where),
        cmocka_unit_test(test_report_ticket_status),
        cmocka_unit_test(test_subscribe_asks_which),
        cmocka_unit_test(test_ward_and_english_as_a_new_user),
        cmocka_unit_test(test_english_how_do_i),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_respond_is_stateless),
    };
    int failed = cmocka_run_group_tests_name("nlu_dialog", tests, share_setup, share_teardown);
    failed += cmocka_run_group_tests_name("nlu_dialog_model", with_model, share_setup_model,
                                          share_teardown);
    return failed;
}
