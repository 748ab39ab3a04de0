/*
 * tests/unit/test_nlu.c — classification end to end on the real data files (rules only,
 * no model): intents, entities, the precise SMS rules, the confidence threshold and its
 * clarifying question, with the renderings citizens send (accented, unaccented, NFD, ALL
 * CAPS, emoji). Also the engine with a model trained on the fly through nlu_model_train.
 * Tests run from the repository root.
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
#include "intents/nlu_model.h"
#include "test_nlu_share.h"
#include "vi-nlp/vn_norm.h"

static nlu_engine *open_engine(const char *share, const char *model, char *err, size_t n) {
    nlu_engine_opts o = {share, model};
    return nlu_engine_new(&o, err, n);
}

static nlu_result classify_with(nlu_engine *e, const char *s) {
    nlu_result r;
    int rc = nlu_classify(e, s, strlen(s), &r);
    if (rc)
        print_error("'%s' -> %s\n", s, mc_strerror(rc));
    assert_int_equal(rc, 0);
    assert_non_null(r.intent);
    assert_true(r.confidence >= 0.0 && r.confidence <= 1.0);
    return r;
}

static nlu_result classify(const char *s) {
    return classify_with(E, s);
}

static void expect(const char *s, const char *intent, const char *proc) {
    nlu_result r = classify(s);
    if (strcmp(r.intent, intent) != 0 || (proc && (!r.procedure || strcmp(r.procedure, proc))))
        print_error("'%s' -> %s %s, want %s %s\n", s, r.intent, r.procedure ? r.procedure : "-",
                    intent, proc ? proc : "-");
    assert_string_equal(r.intent, intent);
    if (proc) {
        assert_non_null(r.procedure);
        assert_string_equal(r.procedure, proc);
    } else {
        assert_null(r.procedure);
    }
}

static void test_khai_sinh_four_renderings(void **state) {
    const char *v[] = {
        "lam giay khai sinh can giay to gi",
        "Làm giấy khai sinh cần giấy tờ gì?",
        /* NFD: every accented letter as base + combining marks */
        "La\xcc\x80m gia\xcc\x82\xcc\x81y khai sinh ca\xcc\x82\xcc\x80n gia\xcc\x82\xcc\x81y "
        "to\xcc\x9b\xcc\x80 gi\xcc\x80?",
        "LAM GIAY KHAI SINH CAN GIAY TO GI",
    };
    nlu_reply first = {0};
    double conf0 = 0;
    for (size_t i = 0; i < MC_ARRAY_LEN(v); i++) {
        nlu_result r;
        nlu_reply rep;
        assert_int_equal(nlu_respond(E, v[i], strlen(v[i]), &r, &rep), 0);
        assert_string_equal(r.intent, "procedure.documents");
        assert_string_equal(r.procedure, "khai_sinh");
        assert_int_equal(r.clarify, 0);
        assert_true(r.confidence >= 0.8 && r.confidence <= 1.0);
        assert_non_null(strstr(rep.text, "khai sinh"));
        assert_non_null(strstr(rep.text, "\n1. "));
        assert_non_null(strstr(rep.text, "\n2. "));
        assert_non_null(strstr(rep.text, "Giấy chứng sinh"));
        assert_non_null(strstr(rep.text, "Nguồn:"));
        assert_int_equal(rep.text_len, strlen(rep.text));
        assert_int_equal(rep.action, NLU_ACT_NONE);
        if (i == 0) {
            first = rep;
            conf0 = r.confidence;
        } else {
            assert_string_equal(rep.text, first.text);
            assert_true(r.confidence == conf0);
            nlu_reply_free(&rep);
        }
    }
    nlu_reply_free(&first);
}

static void test_procedure_questions(void **state) {
    expect("Đăng ký kết hôn cần giấy tờ gì?", "procedure.documents", "ket_hon");
    expect("hồ sơ kết hôn gồm những gì ạ", "procedure.documents", "ket_hon");
    expect("ĐĂNG KÝ TẠM TRÚ CẦN NHỮNG GÌ", "procedure.documents", "tam_tru");
    expect("em mới thuê trọ, làm tạm trú cần chuẩn bị gì 🙏", "procedure.documents", "tam_tru");
    expect("lệ phí đăng ký kết hôn bao nhiêu", "procedure.fee", "ket_hon");
    expect("LAM KHAI SINH TON BAO NHIEU TIEN", "procedure.fee", "khai_sinh");
    expect("đăng ký tạm trú mất bao lâu", "procedure.duration", "tam_tru");
    expect("khai sinh mấy ngày thì có", "procedure.duration", "khai_sinh");
    expect("nộp hồ sơ kết hôn ở đâu", "procedure.location", "ket_hon");
    expect("dang ky tam tru o dau vay", "procedure.location", "tam_tru");
    expect("đăng ký tạm trú online được không", "procedure.online", "tam_tru");
    expect("khai sinh nộp trực tuyến qua vneid được không", "procedure.online", "khai_sinh");
    /* The question without a procedure is still that question. */
    expect("lệ phí bao nhiêu vậy", "procedure.fee", NULL);
    expect("cho hỏi hồ sơ gồm những gì", "procedure.documents", NULL);
}

static void test_procedure_asked_wins(void **state) {
    /* Two procedures: the one asked about wins over the one named as context, wherever it
     * stands; with nothing to tell them apart, the first named. */
    expect("đăng ký kết hôn có cần giấy khai sinh không, cần giấy tờ gì", "procedure.documents",
           "ket_hon");
    expect("khai sinh cho con rồi thì đăng ký tạm trú cần giấy tờ gì", "procedure.documents",
           "tam_tru");
    expect("vợ chồng em đang thuê trọ ở Gò Vấp, muốn đăng ký kết hôn thì làm ở đâu",
           "procedure.location", "ket_hon");
    expect("bố mẹ bé chưa đăng ký kết hôn thì làm giấy khai sinh cho bé cần gì",
           "procedure.documents", "khai_sinh");
    nlu_result r = classify("khai sinh và kết hôn");
    assert_string_equal(r.procedure, "khai_sinh");
}

static void test_entities(void **state) {
    nlu_result r = classify("tra cứu hồ sơ 000.00.25.H29-231122-0001 giúp em");
    assert_string_equal(r.intent, "dossier.status");
    assert_string_equal(r.dossier_code, "000.00.25.H29-231122-0001");
    assert_null(r.procedure);
    assert_null(r.issue_category);

    r = classify("sdt cua em la 0912 345 678, bao cho em khi ho so xong nhe");
    assert_string_equal(r.phone, "+84912345678");
    assert_string_equal(r.dossier_code, "");

    r = classify("số CCCD của tôi là 079190001234, hồ sơ kết hôn tới đâu rồi");
    assert_string_equal(r.citizen_id, "079190001234");
    assert_string_equal(r.procedure, "ket_hon");
    assert_string_equal(r.phone, "");

    r = classify("đăng ký nhận thông báo của phường Bến Thành");
    assert_string_equal(r.intent, "notify.subscribe");
    assert_non_null(r.ward_id);
    assert_non_null(r.ward_name);
    assert_string_equal(r.ward_name, "Bến Thành");

    r = classify("xin chào");
    assert_string_equal(r.dossier_code, "");
    assert_string_equal(r.phone, "");
    assert_string_equal(r.citizen_id, "");
    assert_null(r.ward_id);
    assert_null(r.ward_name);
}

static void test_issue_categories(void **state) {
    struct {
        const char *text, *cat;
    } v[] = {
        {"đường nhà tôi ngập nặng quá", "ngap_nuoc"},
        {"rác để cả tuần không ai dọn", "rac_thai"},
        {"DUONG TRUOC NHA CO O GA RAT NGUY HIEM", "duong_hu"},
        {"đèn đường hẻm 12 bị hư mấy hôm nay tối om", "den_duong"},
        {"hàng xóm hát karaoke tới 12 giờ đêm", "tieng_on"},
        {"quán nhậu lấn chiếm vỉa hè hết lối đi", "lan_chiem"},
        {"cây xanh trước nhà sắp đổ, nguy hiểm", "cay_xanh"},
        {"tôi muốn phản ánh một việc", "khac"},
    };
    for (size_t i = 0; i < MC_ARRAY_LEN(v); i++) {
        nlu_result r = classify(v[i].text);
        if (strcmp(r.intent, "report.issue") || !r.issue_category ||
            strcmp(r.issue_category, v[i].cat))
            print_error("'%s' -> %s %s\n", v[i].text, r.intent,
                        r.issue_category ? r.issue_category : "-");
        assert_string_equal(r.intent, "report.issue");
        assert_non_null(r.issue_category);
        assert_string_equal(r.issue_category, v[i].cat);
    }
    /* The category is an entity of report.issue only. */
    nlu_result r = classify("thứ bảy phường có làm việc không");
    assert_string_equal(r.intent, "office.hours");
    assert_null(r.issue_category);
}

static void test_overrides(void **state) {
    const char *unsub[] = {"HUY", "STOP", "HUY TB", "Hủy TB", "huỷ", "stop"};
    for (size_t i = 0; i < MC_ARRAY_LEN(unsub); i++) {
        nlu_result r = classify(unsub[i]);
        assert_string_equal(r.intent, "notify.unsubscribe");
        assert_int_equal(r.overridden, 1);
        assert_true(r.confidence > 0.95);
    }
    nlu_result r = classify("TRA 000.00.25.H29-231122-0001");
    assert_string_equal(r.intent, "dossier.status");
    assert_int_equal(r.overridden, 1);
    assert_string_equal(r.dossier_code, "000.00.25.H29-231122-0001");
    r = classify("000.00.25.H29-231122-0001");
    assert_string_equal(r.intent, "dossier.status");
    assert_int_equal(r.overridden, 1);
    assert_int_equal(r.bare, 1);
    assert_true(r.confidence > 0.95);
    /* Citizens type the code lower-case, with spaces or '_'. */
    r = classify("000.00.25.h29 231122 0001");
    assert_string_equal(r.intent, "dossier.status");
    assert_int_equal(r.overridden, 1);
    assert_int_equal(r.bare, 1);
    assert_string_equal(r.dossier_code, "000.00.25.H29-231122-0001");
    r = classify("tra 000.00.25.H29_231122_0001");
    assert_int_equal(r.overridden, 1);
    assert_string_equal(r.dossier_code, "000.00.25.H29-231122-0001");
    /* Not a whole-message keyword: the ordinary rules decide (and still understand). */
    r = classify("hủy đăng ký nhận thông báo giúp tôi");
    assert_int_equal(r.overridden, 0);
    assert_string_equal(r.intent, "notify.unsubscribe");
    r = classify("đăng ký nhận thông báo hồ sơ 000.00.25.H29-231122-0001");
    assert_int_equal(r.overridden, 0);
    assert_string_equal(r.intent, "notify.subscribe");
    assert_string_equal(r.dossier_code, "000.00.25.H29-231122-0001");
    /* "TRA" without a code is no rule. */
    r = classify("tra");
    assert_int_equal(r.overridden, 0);
}

static void test_threshold_and_clarify(void **state) {
    /* A procedure alone: not enough to know the question -> clarify, never out_of_scope. */
    nlu_result bare = classify("khai sinh");
    nlu_result full = classify("khai sinh cần giấy tờ gì");
    assert_int_equal(bare.clarify, 1);
    assert_string_equal(bare.procedure, "khai_sinh");
    assert_true(strncmp(bare.intent, "procedure.", 10) == 0);
    assert_true(bare.confidence < full.confidence);
    assert_int_equal(full.clarify, 0);
    /* A procedure with words that ask nothing ([filler]) is as bare, and reads as the
     * general question. */
    const char *bares[] = {"khai sinh", "còn kết hôn thì sao?", "cho hỏi về thủ tục tạm trú ạ"};
    for (size_t i = 0; i < MC_ARRAY_LEN(bares); i++) {
        nlu_result b = classify(bares[i]);
        assert_int_equal(b.clarify, 1);
        assert_string_equal(b.intent, "procedure.documents");
        assert_non_null(b.procedure);
    }
    nlu_reply rep;
    assert_int_equal(nlu_respond(E, "kết hôn", strlen("kết hôn"), NULL, &rep), 0);
    assert_non_null(strstr(rep.text, "Đăng ký kết hôn"));
    assert_true(rep.n_quick >= 4);
    for (size_t i = 0; i < rep.n_quick; i++) {
        nlu_result q = classify(rep.quick[i].payload);
        assert_string_equal(q.procedure, "ket_hon");
        assert_int_equal(q.clarify, 0);
        assert_true(strncmp(q.intent, "procedure.", 10) == 0);
    }
    nlu_reply_free(&rep);
    /* Nothing recognized -> out_of_scope, whose confidence falls as evidence grows. */
    nlu_result none = classify("thời tiết mai sao");
    nlu_result weak = classify("giá vàng hôm nay bao nhiêu");
    assert_string_equal(none.intent, "out_of_scope");
    assert_string_equal(weak.intent, "out_of_scope");
    assert_true(weak.confidence < none.confidence);
}

static void test_small_talk(void **state) {
    expect("chào ad", "greeting", NULL);
    expect("Xin chào!", "greeting", NULL);
    expect("alo", "greeting", NULL);
    expect("cảm ơn nhiều nha", "thanks", NULL);
    expect("tks ad", "thanks", NULL);
    expect("CÁM ƠN", "thanks", NULL);
    expect("tạm biệt", "goodbye", NULL);
    expect("vậy thôi nhé, bye", "goodbye", NULL);
}

static void test_gateway_intents(void **state) {
    expect("tra cứu hồ sơ giúp tôi", "dossier.status", NULL);
    expect("hồ sơ của tôi tới đâu rồi", "dossier.status", NULL);
    expect("đăng ký nhận thông báo hồ sơ qua zalo", "notify.subscribe", NULL);
    expect("tôi không muốn nhận thông báo nữa", "notify.unsubscribe", NULL);
    expect("thứ bảy phường có làm việc không", "office.hours", NULL);
    expect("UBND phuong lam viec may gio", "office.hours", NULL);
    expect("cho tôi gặp cán bộ", "handoff.human", NULL);
    expect("nói chuyện với người thật", "handoff.human", NULL);
}

static void test_out_of_scope_fallback(void **state) {
    const char *q = "thời tiết mai sao";
    nlu_result r;
    nlu_reply rep;
    assert_int_equal(nlu_respond(E, q, strlen(q), &r, &rep), 0);
    assert_string_equal(r.intent, "out_of_scope");
    assert_null(r.procedure);
    assert_true(r.confidence > 0 && r.confidence <= 1.0);
    assert_non_null(strstr(rep.text, "khai sinh"));
    assert_non_null(strstr(rep.text, "tra cứu hồ sơ"));
    assert_true(rep.n_quick >= 3 && rep.n_quick <= NLU_MAX_QUICK);
    /* Every quick reply, sent back as a message, is understood. */
    for (size_t i = 0; i < rep.n_quick; i++) {
        nlu_result qr = classify(rep.quick[i].payload);
        assert_string_not_equal(qr.intent, "out_of_scope");
        assert_true(strlen(rep.quick[i].title) > 0);
    }
    nlu_reply_free(&rep);
    expect("kể chuyện cười đi", "out_of_scope", NULL);
    expect("", "out_of_scope", NULL);
    expect("😀😀😀", "out_of_scope", NULL);
    expect("giá vàng hôm nay", "out_of_scope", NULL);
}

static void test_errors(void **state) {
    nlu_result r;
    nlu_reply rep;
    memset(&rep, 0x55, sizeof(rep));
    memset(&r, 0x55, sizeof(r));
    assert_int_equal(nlu_classify(E, "kh\xe1\xba", 4, &r), MC_EUTF8);
    assert_null(r.intent);
    assert_int_equal(nlu_respond(E, "\xc0\x80", 2, &r, &rep), MC_EUTF8);
    assert_null(rep.text);
    assert_int_equal(rep.n_quick, 0);
    nlu_reply_free(&rep); /* safe on a zeroed reply */
    size_t n = VN_MAX_INPUT + 1;
    char *big = malloc(n);
    assert_non_null(big);
    memset(big, 'a', n);
    assert_int_equal(nlu_classify(E, big, n, &r), MC_ETOOBIG);
    free(big);
    assert_int_equal(nlu_classify(NULL, "a", 1, &r), MC_EINVAL);
    assert_int_equal(nlu_classify(E, "a", 1, NULL), MC_EINVAL);
}

static void test_engine_load_errors(void **state) {
    char err[512] = "";
    assert_null(open_engine("tests/unit/data/no_such_dir", NULL, err, sizeof(err)));
    assert_true(strlen(err) > 0);
    assert_null(nlu_engine_new(NULL, err, sizeof(err)));
    assert_null(open_engine(NULL, NULL, err, sizeof(err)));
    /* A missing model file is an error, not a silent fallback to rules. */
    err[0] = '\0';
    assert_null(open_engine(".", "tests/unit/data/no_such.model", err, sizeof(err)));
    assert_non_null(strstr(err, "no_such.model"));
}

/* Writes a small training file: a few messages per intent, none of them used below. */
static int write_tsv(const char *path, int bogus) {
    static const char *const lines[] = {
        "greeting\tchào ad",
        "greeting\txin chào",
        "greeting\talo ad ơi",
        "greeting\tchào anh chị",
        "thanks\tcảm ơn nhiều",
        "thanks\tcám ơn ad",
        "thanks\ttks nhé",
        "thanks\tthanks ad",
        "procedure.fee\tlệ phí bao nhiêu",
        "procedure.fee\tmất bao nhiêu tiền",
        "procedure.fee\tphí làm hết bao nhiêu",
        "procedure.fee\tcó tốn tiền không",
    };
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    for (size_t i = 0; i < MC_ARRAY_LEN(lines); i++)
        fprintf(f, "%s\n", lines[i]);
    if (bogus)
        fprintf(f, "no.such.intent\tblah blah\nno.such.intent\tblah\n");
    return fclose(f);
}

static void test_with_model(void **state) {
    char dir[SHARE_MAX], tsv[SHARE_MAX + 32], model[SHARE_MAX + 32], err[512] = "";
    assert_int_equal(share_make(dir), 0);
    snprintf(tsv, sizeof(tsv), "%s/train.tsv", dir);
    snprintf(model, sizeof(model), "%s/nlu.model", dir);
    vn_normalizer *vn = vn_normalizer_new(err, sizeof(err));
    assert_non_null(vn);
    assert_int_equal(vn_normalizer_load(vn, "vi-nlp/data", err, sizeof(err)), 0);
    nlu_train_opts to = {0};
    to.seed = 7;

    assert_int_equal(write_tsv(tsv, 0), 0);
    int rc = nlu_model_train(vn, tsv, &to, model, err, sizeof(err));
    if (rc)
        print_error("%s\n", err);
    assert_int_equal(rc, 0);
    nlu_engine *e = share_engine(".", model);
    assert_non_null(e);
    /* The precise rules and the entities do not depend on the model. */
    nlu_result r = classify_with(e, "HUY TB");
    assert_string_equal(r.intent, "notify.unsubscribe");
    assert_int_equal(r.overridden, 1);
    r = classify_with(e, "000.00.25.H29-231122-0001");
    assert_string_equal(r.intent, "dossier.status");
    assert_string_equal(r.dossier_code, "000.00.25.H29-231122-0001");
    /* The model decides the rest; whatever it says is one of its classes or the
     * threshold's answers, with a procedure named never out_of_scope. */
    r = classify_with(e, "lệ phí đăng ký kết hôn");
    assert_string_equal(r.procedure, "ket_hon");
    assert_string_not_equal(r.intent, "out_of_scope");
    /* A bare procedure name asks nothing, whatever the model makes of it. */
    r = classify_with(e, "khai sinh");
    assert_int_equal(r.clarify, 1);
    assert_string_equal(r.intent, "procedure.documents");
    r = classify_with(e, "cám ơn ad nhiều nha");
    assert_true(!strcmp(r.intent, "thanks") || !strcmp(r.intent, "out_of_scope"));
    nlu_engine_free(e);

    /* A model whose classes are not intents of the contract is refused, by name. */
    assert_int_equal(write_tsv(tsv, 1), 0);
    assert_int_equal(nlu_model_train(vn, tsv, &to, model, err, sizeof(err)), 0);
    err[0] = '\0';
    assert_null(open_engine(".", model, err, sizeof(err)));
    assert_non_null(strstr(err, "no.such.intent"));

    vn_normalizer_free(vn);
    remove(tsv);
    remove(model);
    share_rm(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_khai_sinh_four_renderings),
        cmocka_unit_test(test_procedure_questions),
        cmocka_unit_test(test_procedure_asked_wins),
        cmocka_unit_test(test_entities),
        cmocka_unit_test(test_issue_categories),
        cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_threshold_and_clarify),
        cmocka_unit_test(test_small_talk),
        cmocka_unit_test(test_gateway_intents),
        cmocka_unit_test(test_out_of_scope_fallback),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_engine_load_errors),
        cmocka_unit_test(test_with_model),
    };
    return cmocka_run_group_tests_name("nlu", tests, share_setup, share_teardown);
}
