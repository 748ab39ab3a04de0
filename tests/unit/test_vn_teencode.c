/*
 * tests/unit/test_vn_teencode.c — the data tables of the normalizer: teencode expansion
 * with its context rules, Telex/VNI repair (and the words it must leave alone), the
 * loader's errors, and the speed of the whole normalizer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/mc.h"
#include "vi-nlp/vn_internal.h"
#include "vi-nlp/vn_norm.h"
#include "test_vn_share.h"

#define DATA_DIR "vi-nlp/data"

static vn_normalizer *N; /* with tables */
static vn_normalizer *B; /* without */

static int setup(void **state) {
    N = vn_share_normalizer(DATA_DIR);
    B = vn_share_normalizer(NULL);
    return N && B ? 0 : -1;
}

static int teardown(void **state) {
    vn_normalizer_free(N);
    vn_normalizer_free(B);
    return 0;
}

static void check(vn_normalizer *n, const char *s, const char *folded, const char *plain) {
    vn_text t;
    assert_int_equal(vn_normalize(n, s, strlen(s), &t), 0);
    if (strcmp(t.folded, folded) != 0)
        print_error("input: %s\n", s);
    assert_string_equal(t.folded, folded);
    if (plain)
        assert_string_equal(t.plain, plain);
    vn_text_free(&t);
}

#define T(s, f) check(N, s, f, NULL)

static void test_table_size(void **state) {
    /* Load a second copy to look at the table itself. */
    char err[256];
    vn_teencode *tc = NULL;
    assert_int_equal(vn_teencode_load(&tc, B, DATA_DIR, err, sizeof(err)), 0);
    assert_true(vn_teencode_count(tc) >= 150);
    vn_teencode_free(tc);
}

static void test_common(void **state) {
    check(N, "ko dc r", "không được rồi", "khong duoc roi");
    T("đc ko ad", "được không admin");
    T("KO ĐC", "không được"); /* SMS caps */
    T("lam j z", "lam gì vậy");
    T("ntn vs bn", "như thế nào với bao nhiêu"); /* bn alone: bao nhiêu */
    T("hok bít", "không bít");                   /* "bít" is a word: not teencode */
    T("hông", "không");
    T("sdt cua e", "số điện thoại cua em");
    T("sđt", "số điện thoại");
    T("cccd cmnd gplx gpxd lltp", "căn cước công dân chứng minh nhân dân giấy phép lái xe giấy "
                                  "phép xây dựng lý lịch tư pháp");
    T("ubnd phuong", "ủy ban nhân dân phuong");
    T("tks ad", "cảm ơn admin");
    T("nop onl dc k", "nop online được không");
    T("tb", "thông báo");
    T("huy tb", "huy thông báo");
    T("r", "rồi");
    T("xong r a", "xong rồi ạ"); /* a last: the particle ạ */
    T("a oi", "anh oi");
    T("a", "ạ");
}

static void test_context_k(void **state) {
    T("k", "không");
    T("5k", "5 nghìn");
    T("500 k", "500 nghìn");
    T("1.5tr", "1.5 triệu");
    T("50k hay 2tr", "50 nghìn hay 2 triệu");
    T("k biết", "không biết");
    T("5kg", "5kg"); /* no rule for kg after a digit: stays */
}

static void test_context_hs(void **state) {
    T("tra hs", "tra hồ sơ");
    T("nộp hs ở đâu", "nộp hồ sơ ở đâu");
    T("thẻ hs", "thẻ học sinh");
    T("the hs", "the học sinh"); /* "thẻ" typed without diacritics still counts */
    T("thé hs", "thé hồ sơ");    /* other diacritics: not the same word */
    T("hs lớp 5", "học sinh lớp 5");
    T("hs thpt", "học sinh thpt");
}

static void test_context_dk(void **state) {
    T("dk tạm trú", "đăng ký tạm trú");
    T("đk kết hôn", "đăng ký kết hôn");
    T("đủ đk", "đủ điều kiện");
    T("du dk ko", "du điều kiện không");
    T("dk gì", "điều kiện gì");
    T("dky", "đăng ký");
    T("dk kh", "đăng ký kết hôn"); /* kh after dk: kết hôn, else không */
    T("kh biết", "không biết");
}

static void test_context_more(void **state) {
    T("các bn", "các bạn");
    T("bn ơi", "bạn ơi");
    T("phí bn", "phí bao nhiêu");
    T("quên mk", "quên mật khẩu");
    T("mk muốn hỏi", "mình muốn hỏi");
    T("15p", "15 phút");
    T("15 p", "15 phút");
    T("k p", "không phải");
    T("p ben thanh", "phường ben thanh");
    T("p7", "phường 7");
    T("q1", "quận 1");
    T("t7 cn", "thứ 7 chủ nhật");
    T("thông tin cn", "thông tin cá nhân");
    T("8h", "8 giờ");
    T("mấy h", "mấy giờ");
    T("sổ hong", "sổ hong"); /* sổ hồng typed without diacritics */
    T("so hong", "so hong");
    T("den bi hong", "den bi hong"); /* bị hỏng */
    T("hong biết", "không biết");
    T("tb ls", "thương binh ls");
    T("cúp nc", "cúp nước");
    T("nc với ad", "nói chuyện với admin");
    T("hem 12", "hem 12"); /* hẻm 12 */
    T("hem biết", "không biết");
}

static void test_expansion_tokens(void **state) {
    const char *s = "ntn ạ, 5k";
    vn_text t;
    assert_int_equal(vn_normalize(N, s, strlen(s), &t), 0);
    assert_string_equal(t.folded, "như thế nào ạ 5 nghìn");
    assert_string_equal(t.plain, "nhu the nao a 5 nghin");
    assert_int_equal(t.ntok, 6);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(t.tok[i].src_off, 0); /* all name "ntn" */
        assert_int_equal(t.tok[i].src_len, 3);
        assert_true(t.tok[i].flags & VN_TOK_EXPANDED);
    }
    assert_true(t.tok[0].flags & VN_TOK_ACCENTED); /* như */
    assert_false(t.tok[3].flags & VN_TOK_EXPANDED);
    assert_int_equal(t.tok[4].src_off, strlen("ntn ạ, "));
    assert_true(t.tok[4].flags & VN_TOK_DIGIT);
    assert_true(t.tok[5].flags & VN_TOK_EXPANDED);
    /* Every plain byte of an expansion names the start of its source token. */
    for (uint32_t b = t.tok[1].p_off; b < t.tok[1].p_off + t.tok[1].p_len; b++)
        assert_int_equal(t.plain_src[b], 0);
    assert_int_equal(t.plain_src[t.tok[5].p_off], strlen("ntn ạ, "));
    assert_int_equal(t.plain_src[t.plain_len], strlen(s));
    vn_text_free(&t);
    /* Without tables nothing is expanded. */
    check(B, "ko dc ntn 5k", "ko dc ntn 5k", "ko dc ntn 5k");
}

static void test_telex_repair(void **state) {
    check(N, "khai sinhf", "khai sinh", "khai sinh"); /* stray tone key: sình is not listed */
    T("ddwowcj", "được");
    T("dduowcj khoong", "được không");
    T("vieetj nam", "việt nam");
    T("ddaang kys", "đăng ký"); /* aa for aw: đâng is not a word */
    T("ddawng kys", "đăng ký");
    T("lamf giaays khai sinh", "làm giấy khai sinh");
    T("nguwowif truwowngf", "người trường");
    T("NHAF", "nhà");
    T("d9u7o7c5 kho6ng", "được không"); /* VNI */
    T("ke6t1 ho6n", "kết hôn");
    const char *s = "ddwowcj";
    vn_text t;
    assert_int_equal(vn_normalize(N, s, strlen(s), &t), 0);
    assert_int_equal(t.ntok, 1);
    assert_true(t.tok[0].flags & VN_TOK_REPAIRED);
    assert_int_equal(t.tok[0].src_len, 7);
    vn_text_free(&t);
}

static void test_telex_leaves_alone(void **state) {
    /* Real words, typed without diacritics, are not leftovers. */
    T("khai sinh ban bi hong xoong", "khai sinh ban bi hong xoong");
    /* English and loan words that would decode to a syllable are in [keep]. */
    T("bus sex teen its six max this gas queen", "bus sex teen its six max this gas queen");
    T("check status online hello zalo facebook", "check status online hello zalo facebook");
    /* Tokens with diacritics, digits in codes and licence classes stay. */
    T("đăngs", "đăngs");
    T("bằng a1 b2 h29", "bằng a1 b2 h29");
    T("000.00.25.h29-231122-0001", "000.00.25.h29-231122-0001");
    /* Nothing known comes out: left as typed. */
    T("xyzs qwfj", "xyzs qwfj");
}

static void test_elongation_and_caps(void **state) {
    T("khôngggg đc đâuuuu", "không được đâu");
    T("KHOONGGG", "không"); /* collapse, then Telex */
    T("okeeee", "ok");
}

/* ---- loader errors ------------------------------------------------------------------- */

static const char *const files[] = {"teencode.txt", "telex.txt", "syllables.txt", "lexicon.txt"};

/* Loads a dir where file has content; expects rc and an error containing want. */
static void load_fails(const char *file, const char *content, int rc, const char *want) {
    char dir[VN_SHARE_DIR_MAX], err[512] = "";
    vn_share_make(dir, files, MC_ARRAY_LEN(files), file, content);
    vn_normalizer *n = vn_normalizer_new(err, sizeof(err));
    assert_non_null(n);
    assert_int_equal(vn_normalizer_load(n, dir, err, sizeof(err)), rc);
    if (!strstr(err, want))
        print_error("error was: %s\n", err);
    assert_non_null(strstr(err, want));
    /* The normalizer still works, without tables. */
    vn_text t;
    assert_int_equal(vn_normalize(n, "ko", 2, &t), 0);
    assert_string_equal(t.folded, "ko");
    vn_text_free(&t);
    vn_normalizer_free(n);
    vn_share_rm(dir, files, MC_ARRAY_LEN(files));
}

static void test_load_errors(void **state) {
    load_fails("teencode.txt", NULL, MC_EIO, "teencode.txt");
    load_fails("teencode.txt", "# ok\nko | không\nko | kô\n", MC_EPARSE,
               "teencode.txt:3: rule for 'ko' never applies: line 2");
    load_fails("teencode.txt", "ko không\n", MC_EPARSE, "teencode.txt:1: expected KEYS");
    load_fails("teencode.txt", "k | nghìn | prev={n} after=x\n", MC_EPARSE,
               "teencode.txt:1: condition 'after=x'");
    load_fails("teencode.txt", "dc | {n} được\n", MC_EPARSE, "teencode.txt:1: {n} in the");
    load_fails("teencode.txt", "đăng ký | dk\n", MC_EPARSE,
               "teencode.txt:1: key 'đăng ký' is not exactly one token");
    load_fails("teencode.txt", "ko | không | prev=^,$\n", MC_EPARSE, "teencode.txt:1: '^'");
    load_fails("teencode.txt", "ko | không\n\xff\n", MC_EPARSE, "teencode.txt:2: invalid UTF-8");
    load_fails("teencode.txt", "# nothing\n", MC_EPARSE, "no rules");
    load_fails("syllables.txt", "ba bà\nbà\n", MC_EPARSE, "syllables.txt:2: 'bà' is listed twice");
    load_fails("syllables.txt", "ba khai-sinh\n", MC_EPARSE,
               "syllables.txt:1: 'khai-sinh' is not one syllable");
    load_fails("lexicon.txt", NULL, MC_EIO, "lexicon.txt");
    load_fails("lexicon.txt", "hợp trực\nhợp\n", MC_EPARSE, "lexicon.txt:2: 'hợp' is listed twice");
    load_fails("lexicon.txt", "kết-hợp\n", MC_EPARSE, "lexicon.txt:1: 'kết-hợp' is not one word");
    load_fails("telex.txt", "[telex]\ndd = đ\n", MC_EPARSE, "needs letter keys and tone keys");
    load_fails("telex.txt", "dd = đ\n", MC_EPARSE, "telex.txt:1: line outside a section");
    load_fails("telex.txt", "[telex]\ntone s = b\n", MC_EPARSE, "telex.txt:2: tone KEY");
    load_fails("telex.txt", "[keep]\nBus\n", MC_EPARSE, "telex.txt:2: kept word 'Bus'");
    load_fails("telex.txt", "[qwerty]\n", MC_EPARSE, "telex.txt:1: unknown section");
}

static void test_load_twice(void **state) {
    char err[256];
    assert_int_equal(vn_normalizer_load(N, DATA_DIR, err, sizeof(err)), MC_EINVAL);
    assert_int_equal(vn_normalizer_load(NULL, DATA_DIR, err, sizeof(err)), MC_EINVAL);
}

/* ---- speed ------------------------------------------------------------------------------ */

static void test_speed(void **state) {
    /* Typical citizen messages around 60 bytes, with and without diacritics, teencode,
     * Telex, emoji and a code. */
    static const char *const msgs[] = {
        "Cho em hỏi làm giấy khai sinh cho bé cần giấy tờ gì ạ?",
        "lam khai sinh can giay to gi vay ad, e cam on nhieu nha",
        "ĐĂNG KÝ TẠM TRÚ ONLINE ĐƯỢC KHÔNG Ạ, EM Ở PHƯỜNG BẾN THÀNH",
        "tra hs 000.00.25.H29-231122-0001 giup e vs, sdt 0912345678",
        "ko dc r ntn, ddwowcj kys 5k t7 hs 😀😀 thanks ad nhiều nha",
    };
    const long rounds = 200000;
    size_t bytes = 0;
    struct timespec a, b;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
    for (long i = 0; i < rounds; i++) {
        const char *s = msgs[i % 5];
        size_t len = strlen(s);
        vn_text t;
        if (vn_normalize(N, s, len, &t) != 0)
            fail();
        bytes += len;
        vn_text_free(&t);
    }
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
    double us = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / 1e3 /
                (double)rounds;
    printf("vn_normalize with tables: %.3f us CPU per message (%.0f bytes on average), "
           "%.0f messages/s\n",
           us, (double)bytes / (double)rounds, 1e6 / us);
#if !defined(__SANITIZE_ADDRESS__)
    assert_true(us < 10.0); /* target ~3 us; generous for a loaded machine */
#endif
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_size),
        cmocka_unit_test(test_common),
        cmocka_unit_test(test_context_k),
        cmocka_unit_test(test_context_hs),
        cmocka_unit_test(test_context_dk),
        cmocka_unit_test(test_context_more),
        cmocka_unit_test(test_expansion_tokens),
        cmocka_unit_test(test_telex_repair),
        cmocka_unit_test(test_telex_leaves_alone),
        cmocka_unit_test(test_elongation_and_caps),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_load_twice),
        cmocka_unit_test(test_speed),
    };
    return cmocka_run_group_tests_name("vn_teencode", tests, setup, teardown);
}
