/*
 * tests/unit/test_nlu.c — the understanding path end to end on the real data files
 * (intents/data/), with the renderings citizens actually send: accented, unaccented,
 * decomposed (NFD), ALL CAPS, with emoji.
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
#include "vi-nlp/vn_norm.h"

static nlu_engine *E;

static int setup(void **state) {
    char err[512] = "";
    E = nlu_engine_new("intents/data", err, sizeof(err));
    if (!E)
        print_error("%s\n", err);
    return E ? 0 : -1;
}

static int teardown(void **state) {
    nlu_engine_free(E);
    return 0;
}

static nlu_result classify(const char *s) {
    nlu_result r;
    assert_int_equal(nlu_classify(E, s, strlen(s), &r), 0);
    assert_true(r.confidence >= 0.0 && r.confidence <= 1.0);
    return r;
}

static void expect(const char *s, const char *intent, const char *proc) {
    nlu_result r = classify(s);
    if (strcmp(r.intent, intent) != 0)
        print_error("'%s' -> %s, want %s\n", s, r.intent, intent);
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
        assert_true(r.confidence >= 0.8 && r.confidence <= 1.0);
        assert_non_null(strstr(rep.text, "khai sinh"));
        assert_non_null(strstr(rep.text, "\n1. "));
        assert_non_null(strstr(rep.text, "Giấy chứng sinh"));
        assert_non_null(strstr(rep.text, "Nguồn:"));
        assert_int_equal(rep.text_len, strlen(rep.text));
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

static void test_ket_hon_tam_tru(void **state) {
    expect("Đăng ký kết hôn cần giấy tờ gì?", "procedure.documents", "ket_hon");
    expect("dang ky ket hon can giay to gi", "procedure.documents", "ket_hon");
    expect("hồ sơ kết hôn gồm những gì ạ", "procedure.documents", "ket_hon");
    expect("ĐĂNG KÝ TẠM TRÚ CẦN NHỮNG GÌ", "procedure.documents", "tam_tru");
    expect("dang ky tam tru can nhung gi", "procedure.documents", "tam_tru");
    expect("em mới thuê trọ, làm tạm trú cần chuẩn bị gì 🙏", "procedure.documents", "tam_tru");
    nlu_reply rep;
    nlu_result r;
    const char *q = "dang ky tam tru can nhung gi";
    assert_int_equal(nlu_respond(E, q, strlen(q), &r, &rep), 0);
    assert_non_null(strstr(rep.text, "Công an cấp xã"));
    assert_non_null(strstr(rep.text, "CT01"));
    nlu_reply_free(&rep);
}

static void test_procedure_alone_is_weaker(void **state) {
    nlu_result bare = classify("khai sinh");
    nlu_result full = classify("khai sinh cần giấy tờ gì");
    assert_string_equal(bare.intent, "procedure.documents");
    assert_string_equal(bare.procedure, "khai_sinh");
    assert_true(bare.confidence < full.confidence);
    assert_true(bare.confidence < 0.7);
}

static void test_documents_without_procedure(void **state) {
    const char *q = "cho hỏi hồ sơ gồm những gì";
    nlu_result r;
    nlu_reply rep;
    assert_int_equal(nlu_respond(E, q, strlen(q), &r, &rep), 0);
    assert_string_equal(r.intent, "procedure.documents");
    assert_null(r.procedure);
    assert_non_null(strstr(rep.text, "thủ tục nào"));
    assert_true(rep.n_quick >= 3);
    nlu_reply_free(&rep);
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

static void test_out_of_scope_fallback(void **state) {
    const char *q = "thời tiết mai sao";
    nlu_result r;
    nlu_reply rep;
    assert_int_equal(nlu_respond(E, q, strlen(q), &r, &rep), 0);
    assert_string_equal(r.intent, "out_of_scope");
    assert_null(r.procedure);
    assert_true(r.confidence > 0 && r.confidence <= 1.0);
    assert_non_null(strstr(rep.text, "khai sinh"));
    assert_non_null(strstr(rep.text, "tạm trú"));
    assert_true(rep.n_quick >= 3 && rep.n_quick <= NLU_MAX_QUICK);
    /* Every quick reply, sent back as a message, is understood as what it offers. */
    for (size_t i = 0; i < rep.n_quick; i++) {
        nlu_result qr = classify(rep.quick[i].payload);
        assert_string_equal(qr.intent, "procedure.documents");
        assert_non_null(qr.procedure);
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
    assert_int_equal(nlu_classify(E, "kh\xe1\xba", 4, &r), MC_EUTF8);
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
}

static void test_engine_load_errors(void **state) {
    char err[512] = "";
    nlu_engine *e = nlu_engine_new("tests/unit/data/no_such_dir", err, sizeof(err));
    assert_null(e);
    assert_non_null(strstr(err, "procedures.txt"));
    assert_null(nlu_engine_new(NULL, err, sizeof(err)));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_khai_sinh_four_renderings),
        cmocka_unit_test(test_ket_hon_tam_tru),
        cmocka_unit_test(test_procedure_alone_is_weaker),
        cmocka_unit_test(test_documents_without_procedure),
        cmocka_unit_test(test_small_talk),
        cmocka_unit_test(test_out_of_scope_fallback),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_engine_load_errors),
    };
    return cmocka_run_group_tests_name("nlu", tests, setup, teardown);
}
