/*
 * tests/unit/test_nlu_reply.c — the reply templates of intents/data/replies.txt: every
 * template fills (for every procedure of the catalog), quick replies say what they offer,
 * the gateway's templates through nlu_render, the actions of the replies that need the
 * gateway, and start-up failures naming the line of a broken replies.txt, rules.txt or
 * issue_categories.txt. Tests run from the repository root.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/mc.h"
#include "intents/nlu.h"
#include "intents/nlu_catalog.h"
#include "intents/nlu_dialog.h"
#include "test_nlu_share.h"
#include "vi-nlp/vn_utf8.h"

static nlu_catalog *CAT;

/* E (test_nlu_share.h) and the catalog on the real data. */
static int setup(void **state) {
    char err[512] = "";
    int rc = share_setup(state);
    CAT = nlu_catalog_load("intents/data/procedures.txt", err, sizeof(err));
    return rc == 0 && CAT ? 0 : -1;
}

static int teardown(void **state) {
    nlu_catalog_free(CAT);
    return share_teardown(state);
}

static void check_reply(const nlu_reply *r) {
    assert_non_null(r->text);
    assert_int_equal(r->text_len, strlen(r->text));
    assert_true(r->text_len > 0);
    assert_true(vn_utf8_valid(r->text, r->text_len, NULL));
    assert_null(strchr(r->text, '{'));
    assert_true(r->n_quick <= NLU_MAX_QUICK);
    for (size_t i = 0; i < r->n_quick; i++) {
        assert_true(vn_utf8_count(r->quick[i].title, strlen(r->quick[i].title)) <=
                    NLU_MAX_QUICK_TITLE);
        assert_null(strchr(r->quick[i].title, '{'));
        assert_null(strchr(r->quick[i].payload, '{'));
    }
}

/* Each procedure question, for every procedure of the catalog, answers with that
 * procedure's fact for today (the catalog's value for the day, no age, no foreign element),
 * what it rests on, its source and the day it was checked; each quick reply is understood,
 * and asks about the same procedure when it names one. */
static void test_procedure_answers_for_every_procedure(void **state) {
    static const struct {
        const char *before, *after, *intent; /* the question: before + alias + after */
    } q[] = {
        {"", " cần giấy tờ gì", "procedure.documents"},
        {"lệ phí ", " bao nhiêu", "procedure.fee"},
        {"", " mất bao lâu", "procedure.duration"},
        {"nộp hồ sơ ", " ở đâu", "procedure.location"},
        {"", " nộp online được không", "procedure.online"},
    };
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    const int64_t now = (int64_t)ts.tv_sec * 1000; /* one instant for the whole test */
    const nlu_case today = {nlu_day_of_ms(now), -1, 0};
    for (size_t i = 0; i < nlu_catalog_count(CAT); i++) {
        const nlu_procedure *p = nlu_catalog_at(CAT, i);
        for (size_t k = 0; k < MC_ARRAY_LEN(q); k++) {
            char msg[256];
            snprintf(msg, sizeof(msg), "%s%s%s", q[k].before, p->aliases[0], q[k].after);
            nlu_result r;
            nlu_reply rep;
            nlu_context ctx;
            memset(&ctx, 0, sizeof(ctx));
            assert_int_equal(nlu_converse(E, &ctx, now, msg, strlen(msg), &r, &rep), 0);
            if (strcmp(r.intent, q[k].intent) || !r.procedure || strcmp(r.procedure, p->id))
                print_error("'%s' -> %s %s\n", msg, r.intent, r.procedure ? r.procedure : "-");
            assert_string_equal(r.intent, q[k].intent);
            assert_string_equal(r.procedure, p->id);
            check_reply(&rep);
            assert_non_null(strstr(rep.text, p->name));
            assert_non_null(strstr(rep.text, p->source));
            char checked[16];
            assert_non_null(strstr(rep.text, nlu_day_format(p->checked_day, checked, 16)));
            static const nlu_fact_kind kinds[] = {NLU_FACT_DOCUMENT, NLU_FACT_FEE,
                                                  NLU_FACT_DURATION, NLU_FACT_AGENCY,
                                                  NLU_FACT_ONLINE};
            const nlu_fact *fact = NULL;
            if (kinds[k] == NLU_FACT_DOCUMENT) {
                for (size_t d = 0; d < p->n_documents && !fact; d++)
                    if (nlu_doc_shown(&p->docs[d], &today))
                        fact = &p->docs[d];
            } else {
                fact = nlu_fact_pick(p, kinds[k], &today, NULL);
            }
            assert_non_null(fact);
            if (!strstr(rep.text, fact->text) || !strstr(rep.text, fact->basis))
                print_error("'%s' lacks '%s' | '%s':\n%s\n", msg, fact->text, fact->basis,
                            rep.text);
            assert_non_null(strstr(rep.text, fact->text));
            assert_non_null(strstr(rep.text, fact->basis));
            for (size_t j = 0; j < rep.n_quick; j++) {
                nlu_result qr;
                const char *pl = rep.quick[j].payload;
                assert_int_equal(nlu_classify(E, pl, strlen(pl), &qr), 0);
                /* Understood, and about this procedure if it names one. */
                if ((qr.procedure && strcmp(qr.procedure, p->id)) || qr.clarify ||
                    !strcmp(qr.intent, "out_of_scope"))
                    print_error("quick '%s' -> %s %s\n", pl, qr.intent,
                                qr.procedure ? qr.procedure : "-");
                if (qr.procedure)
                    assert_string_equal(qr.procedure, p->id);
                assert_int_equal(qr.clarify, 0);
                assert_string_not_equal(qr.intent, "out_of_scope");
            }
            nlu_reply_free(&rep);
        }
    }
}

/* The "which procedure?" questions offer quick replies that answer the same question. */
static void test_which_procedure_quick_replies(void **state) {
    static const char *const q[][2] = {
        {"cần giấy tờ gì", "procedure.documents"},     {"lệ phí bao nhiêu", "procedure.fee"},
        {"mất bao lâu", "procedure.duration"},         {"nộp ở đâu", "procedure.location"},
        {"nộp online được không", "procedure.online"},
    };
    for (size_t k = 0; k < MC_ARRAY_LEN(q); k++) {
        nlu_result r;
        nlu_reply rep;
        assert_int_equal(nlu_respond(E, q[k][0], strlen(q[k][0]), &r, &rep), 0);
        assert_string_equal(r.intent, q[k][1]);
        assert_null(r.procedure);
        check_reply(&rep);
        assert_true(rep.n_quick >= 2);
        for (size_t j = 0; j < rep.n_quick; j++) {
            nlu_result qr;
            assert_int_equal(
                nlu_classify(E, rep.quick[j].payload, strlen(rep.quick[j].payload), &qr), 0);
            assert_string_equal(qr.intent, q[k][1]);
            assert_non_null(qr.procedure);
        }
        nlu_reply_free(&rep);
    }
}

/* Replies of the intents the gateway acts on: the action, the entities, a default text. */
static void test_actions(void **state) {
    static const struct {
        const char *text;
        nlu_action act;
        const char *must; /* in the default text */
    } v[] = {
        {"tra cứu hồ sơ 000.00.25.H29-231122-0001", NLU_ACT_DOSSIER_STATUS,
         "000.00.25.H29-231122-0001"},
        {"đăng ký nhận thông báo hồ sơ 000.00.25.H29-231122-0001", NLU_ACT_SUBSCRIBE,
         "000.00.25.H29-231122-0001"},
        {"đăng ký nhận thông báo của phường Bến Thành", NLU_ACT_SUBSCRIBE, "Bến Thành"},
        {"HUY TB", NLU_ACT_UNSUBSCRIBE, "hủy"},
        {"đường nhà tôi ngập nặng", NLU_ACT_REPORT, "ngập"},
        {"tôi muốn phản ánh", NLU_ACT_REPORT, "phản ánh"},
        {"cho tôi gặp cán bộ", NLU_ACT_HANDOFF, "cán bộ"},
        {"thứ bảy phường có làm việc không", NLU_ACT_NONE, "thứ Bảy"},
        {"chào ad", NLU_ACT_NONE, "Xin chào"},
        {"cảm ơn", NLU_ACT_NONE, "không có gì"},
        {"tạm biệt", NLU_ACT_NONE, "Chào anh/chị"},
        {"kể chuyện cười đi", NLU_ACT_NONE, "Xin lỗi"},
        {"tra cứu hồ sơ", NLU_ACT_NONE, "mã hồ sơ"},
        {"đăng ký nhận thông báo", NLU_ACT_NONE, "mã hồ sơ"},
    };
    for (size_t i = 0; i < MC_ARRAY_LEN(v); i++) {
        nlu_result r;
        nlu_reply rep;
        assert_int_equal(nlu_respond(E, v[i].text, strlen(v[i].text), &r, &rep), 0);
        check_reply(&rep);
        if (rep.action != v[i].act || !strstr(rep.text, v[i].must))
            print_error("'%s' -> %s action %d: %s\n", v[i].text, r.intent, (int)rep.action,
                        rep.text);
        assert_int_equal(rep.action, v[i].act);
        assert_non_null(strstr(rep.text, v[i].must));
        assert_string_equal(rep.resolved.intent, r.intent);
        if (v[i].act == NLU_ACT_DOSSIER_STATUS)
            assert_string_equal(rep.resolved.dossier_code, "000.00.25.H29-231122-0001");
        if (v[i].act == NLU_ACT_REPORT)
            assert_non_null(rep.resolved.issue_category);
        nlu_reply_free(&rep);
    }
    /* Office hours: the usual hours and the advice to check with the ward. */
    nlu_reply rep;
    assert_int_equal(
        nlu_respond(E, "phường làm việc mấy giờ", strlen("phường làm việc mấy giờ"), NULL, &rep),
        0);
    assert_non_null(strstr(rep.text, "7 giờ 30"));
    assert_non_null(strstr(rep.text, "kiểm tra"));
    nlu_reply_free(&rep);
}

static void test_render_gateway_templates(void **state) {
    nlu_reply rep;
    const char *k1[] = {"code", "status"};
    const char *v1[] = {"000.00.25.H29-231122-0001", "Đã có kết quả"};
    assert_int_equal(nlu_render(E, "dossier_status", k1, v1, 2, &rep), 0);
    check_reply(&rep);
    for (size_t i = 0; i < 2; i++)
        assert_non_null(strstr(rep.text, v1[i]));
    assert_int_equal(rep.action, NLU_ACT_NONE);
    nlu_reply_free(&rep);
    /* the lines after a status read as a person writes (issue 13) */
    const char *kt2[] = {"time", "date"}, *vt2[] = {"20:11", "03/12/2026"};
    assert_int_equal(nlu_render(E, "status_updated", kt2, vt2, 2, &rep), 0);
    assert_non_null(strstr(rep.text, "20:11 ngày 03/12/2026"));
    nlu_reply_free(&rep);
    const char *kr[] = {"ticket", "category"}, *vr[] = {"PA-251203-0001", "rác thải"};
    assert_int_equal(nlu_render(E, "report_received", kr, vr, 2, &rep), 0);
    assert_non_null(strstr(rep.text, "PA-251203-0001"));
    assert_non_null(strstr(rep.text, "rác thải"));
    nlu_reply_free(&rep);

    static const struct {
        const char *name, *key, *val;
    } one[] = {
        {"dossier_not_found", "code", "000.00.25.H29-231122-0009"},
        {"subscribed", "code", "000.00.25.H29-231122-0001"},
        {"subscribed_ward", "ward", "Bến Thành"},
        {"report_added", "ticket", "PA-251203-0001"},
        {"report_not_found", "ticket", "PA-251203-0009"},
        {"status_procedure", "name", "Đăng ký khai sinh"},
        {"status_agency", "agency", "Sở Tư pháp Thành phố Hồ Chí Minh"},
        {"status_note", "note", "Mời anh/chị mang bản chính CCCD"},
        {"report_routed", "agency", "Ủy ban nhân dân phường Bến Thành"},
        {"unsubscribed", NULL, NULL},
        {"handoff", NULL, NULL},
    };
    for (size_t i = 0; i < MC_ARRAY_LEN(one); i++) {
        const char *k[1] = {one[i].key}, *v[1] = {one[i].val};
        size_t n = one[i].key ? 1 : 0;
        assert_int_equal(nlu_render(E, one[i].name, k, v, n, &rep), 0);
        check_reply(&rep);
        if (one[i].val)
            assert_non_null(strstr(rep.text, one[i].val));
        nlu_reply_free(&rep);
        if (n) {
            /* The value is required. */
            memset(&rep, 0x55, sizeof(rep));
            assert_int_equal(nlu_render(E, one[i].name, NULL, NULL, 0, &rep), MC_EINVAL);
            assert_null(rep.text);
        }
    }
    const char *kb[] = {"nonsense"}, *vb[] = {"x"};
    assert_int_equal(nlu_render(E, "handoff", kb, vb, 1, &rep), MC_EINVAL);
    const char *kt[] = {"ticket"}, *vt[] = {"\xff\xfe"};
    assert_int_equal(nlu_render(E, "report_received", kt, vt, 1, &rep), MC_EINVAL);
    const char *kw[] = {"ward"}, *vw[] = {"Bến Thành"};
    assert_int_equal(nlu_render(E, "subscribed", kw, vw, 1, &rep), MC_EINVAL); /* not its key */
    assert_int_equal(nlu_render(E, "no_such_template", NULL, NULL, 0, &rep), MC_ENOTFOUND);
    assert_int_equal(nlu_render(E, NULL, NULL, NULL, 0, &rep), MC_EINVAL);
}

/* A copy of the real data with one line broken must fail the start-up naming that line. */
static void expect_broken(const char *file, const char *after, const char *add, int replace,
                          const char *why) {
    char dir[SHARE_MAX], path[SHARE_MAX + 64], err[1024] = "", want[128];
    int line = 0;
    assert_int_equal(share_make(dir), 0);
    snprintf(path, sizeof(path), "intents/data/%s", file);
    char *orig = share_slurp(path);
    assert_non_null(orig);
    char *bad = share_edit(orig, after, add, replace, &line);
    if (!bad)
        print_error("no line '%s' in %s\n", after, file);
    assert_non_null(bad);
    assert_int_equal(share_write(dir, file, bad), 0);
    nlu_engine_opts o = {dir, NULL};
    nlu_engine *e = nlu_engine_new(&o, err, sizeof(err));
    snprintf(want, sizeof(want), "%s:%d:", file, line);
    if (e || !strstr(err, want) || !strstr(err, why))
        print_error("%s: '%s' -> '%s' (want '%s' ... '%s')\n", file, add, err, want, why);
    assert_null(e);
    assert_non_null(strstr(err, want));
    assert_non_null(strstr(err, why));
    free(orig);
    free(bad);
    share_rm(dir);
}

/* Issue 17: a location question naming a ward is answered with that ward's desk, and
 * [ward_desk] of rules.txt agrees with the catalog's agency text (issue 18 may edit the
 * catalog: this fails when the two drift apart). */
static void test_ward_desk_matches_catalog(void **state) {
    for (size_t i = 0; i < nlu_catalog_count(CAT); i++) {
        const nlu_procedure *p = nlu_catalog_at(CAT, i);
        char q[256];
        snprintf(q, sizeof(q), "%s ở phường Bến Thành nộp ở đâu", p->aliases[0]);
        nlu_reply r;
        nlu_result res;
        assert_int_equal(nlu_respond(E, q, strlen(q), &res, &r), 0);
        check_reply(&r);
        if (strcmp(r.resolved.intent, "procedure.location") || !r.resolved.procedure ||
            strcmp(r.resolved.procedure, p->id) || !r.resolved.ward_name)
            print_error("'%s' -> %s %s ward %s\n", q, r.resolved.intent,
                        r.resolved.procedure ? r.resolved.procedure : "-",
                        r.resolved.ward_name ? r.resolved.ward_name : "-");
        assert_string_equal(r.resolved.intent, "procedure.location");
        assert_string_equal(r.resolved.procedure, p->id);
        assert_string_equal(r.resolved.ward_name, "Bến Thành");
        int ward = strstr(r.text, "Ủy ban nhân dân phường/xã Bến Thành") != NULL;
        int police = strstr(r.text, "Công an phường/xã Bến Thành") != NULL;
        int none = strstr(r.text, "không nộp tại phường/xã Bến Thành") != NULL;
        int commune = strstr(p->agency, "cấp xã") || strstr(p->agency, "xã, phường");
        int by_police = strncmp(p->agency, "Công an cấp xã", strlen("Công an cấp xã")) == 0;
        /* "some wards, on a published list": the catalog's agency as it stands */
        int some = strstr(p->agency, "một số xã, phường") != NULL;
        int plain = some && strstr(r.text, p->agency) != NULL;
        if (ward + police + none + plain != 1 || (ward && (!commune || by_police)) ||
            (police && !by_police) || (none && commune))
            print_error("[%s] agency '%s' answered: %s\n", p->id, p->agency, r.text);
        assert_int_equal(ward + police + none + plain, 1);
        assert_true(!ward || (commune && !by_police));
        assert_true(!police || by_police);
        assert_true(!none || !commune);
        assert_non_null(strstr(r.text, p->name));
        nlu_reply_free(&r);
    }
}

static void test_broken_data_fails_startup(void **state) {
    /* The untouched copy loads: the failures below are the edits. */
    char dir[SHARE_MAX];
    assert_int_equal(share_make(dir), 0);
    nlu_engine *e = share_engine(dir, NULL);
    assert_non_null(e);
    nlu_engine_free(e);
    share_rm(dir);

    static const struct broken {
        const char *file;  /* in intents/data/ */
        const char *after; /* the line the edit goes after (or replaces) */
        const char *add;   /* the broken line */
        int replace;       /* 1: add replaces after */
        const char *why;   /* in the message */
    } cases[] = {
        {"replies.txt", "[fee]", "text = Lệ phí {fe}", 0, "unknown placeholder"},
        {"replies.txt", "[greeting]", "text = Mã {code}", 0, "{code} cannot be used"},
        {"replies.txt", "[thanks]", "quick = Hỏi thêm | trời hôm nay đẹp nhỉ", 0, "not understood"},
        {"replies.txt", "[fallback]",
         "quick = Một tiêu đề rất rất dài quá mức | Làm khai sinh cần giấy tờ gì?", 0, "title"},
        {"replies.txt", "[fee]", "[no_such_reply]", 0, "unknown reply"},
        {"replies.txt", "[fee]", "quick = no bar here", 0, "title | payload"},
        {"replies.txt", "[fee]", "texte = oops", 0, "unknown key"},
        {"replies.txt", "[handoff]", "[handoff_x]", 1, "unknown reply"},
        {"rules.txt", "[settings]", "min_confidence = 2", 0, "min_confidence"},
        {"rules.txt", "[settings]", "bogus = 1", 0, "unknown setting"},
        {"rules.txt", "[override]", "tra {dossier_code} cuu = dossier.status", 0, "end a pattern"},
        {"rules.txt", "[override]", "xyz = no.such.intent", 0, "unknown intent"},
        {"rules.txt", "[greeting]", "chào = abc", 0, "not a number"},
        {"rules.txt", "[filler]", "word = còn", 0, "unknown key"},
        {"rules.txt", "[greeting]", "[weather.today]", 0, "unknown section"},
        {"rules.txt", "[ward_desk]", "ward = khai_sinh, no_such_procedure", 0,
         "'no_such_procedure' is not a procedure"},
        {"rules.txt", "[ward_desk]", "city = ho_chieu", 0, "unknown desk"},
        {"rules.txt", "[not_public]", "word = mèo", 0, "unknown key"},
        {"rules.txt", "xin = 2", "xin = 1", 0, "listed twice in this section"},
        {"rules.txt", "[question]", "đâu nữa = 0", 0, "not a number"},
        {"rules.txt", "[clause]", "... = 1", 0, "has no letters"},
        {"issue_categories.txt", "[rac_thai]", "keyword = ", 0, "empty value"},
        {"issue_categories.txt", "[khac]", "keyword = linh tinh", 0, "no keywords"},
        {"issue_categories.txt", "[rac_thai]", "[rac_thai_2]", 0, "unknown issue category"},
    };
    for (size_t i = 0; i < MC_ARRAY_LEN(cases); i++)
        expect_broken(cases[i].file, cases[i].after, cases[i].add, cases[i].replace, cases[i].why);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_procedure_answers_for_every_procedure),
        cmocka_unit_test(test_which_procedure_quick_replies),
        cmocka_unit_test(test_actions),
        cmocka_unit_test(test_render_gateway_templates),
        cmocka_unit_test(test_ward_desk_matches_catalog),
        cmocka_unit_test(test_broken_data_fails_startup),
    };
    return cmocka_run_group_tests_name("nlu_reply", tests, setup, teardown);
}
