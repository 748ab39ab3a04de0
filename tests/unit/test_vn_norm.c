/*
 * tests/unit/test_vn_norm.c — the folded and plain keys of real citizen messages, their
 * tokens and source offsets, and vn_unaccent (all without the data tables; teencode and
 * Telex are in test_vn_teencode.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/mc.h"
#include "vi-nlp/vn_norm.h"
#include "test_vn_share.h"

static vn_normalizer *N;

static int setup(void **state) {
    N = vn_share_normalizer(NULL);
    return N ? 0 : -1;
}

static int teardown(void **state) {
    vn_normalizer_free(N);
    return 0;
}

/* Normalizes s and checks both keys (plain may be NULL to skip it). */
static void check(const char *s, const char *folded, const char *plain) {
    vn_text t;
    assert_int_equal(vn_normalize(N, s, strlen(s), &t), 0);
    assert_string_equal(t.folded, folded);
    assert_int_equal(t.folded_len, strlen(folded));
    if (plain) {
        assert_string_equal(t.plain, plain);
        assert_int_equal(t.plain_len, strlen(plain));
    }
    vn_text_free(&t);
}

static void test_caps(void **state) {
    check("ĐĂNG KÝ", "đăng ký", "dang ky");
    check("ĐƯỜNG", "đường", "duong");
    check("LAM GIAY KHAI SINH CAN GIAY TO GI", "lam giay khai sinh can giay to gi",
          "lam giay khai sinh can giay to gi");
}

static void test_nfd_equals_nfc(void **state) {
    /* "Làm giấy khai sinh" decomposed: a+grave, a+circumflex+acute, ... */
    const char *nfd = "La\xcc\x80m gia\xcc\x82\xcc\x81y khai sinh";
    check(nfd, "làm giấy khai sinh", "lam giay khai sinh");
    check("Làm giấy khai sinh", "làm giấy khai sinh", "lam giay khai sinh");
    /* Mark order swapped (acute before circumflex) is a different character: NFC keeps
     * it apart, but the plain key still agrees. */
    check("Đa\xcc\x86ng ky\xcc\x81", "đăng ký", "dang ky");
}

static void test_tone_placement(void **state) {
    check("hoà", "hòa", "hoa");
    check("hòa", "hòa", "hoa");
    check("thuý", "thúy", "thuy");
    check("thúy", "thúy", "thuy");
    check("khoẻ", "khỏe", "khoe");
    check("UỶ BAN", "ủy ban", "uy ban");
    check("quý", "quý", "quy");
    check("quỳnh", "quỳnh", "quynh");
    /* With a final consonant both styles agree: nothing moves. */
    check("hoàng thuyết", "hoàng thuyết", "hoang thuyet");
    check("Xuân Hoà", "xuân hòa", "xuan hoa");
}

static void test_collapse(void **state) {
    check("khôngggg", "không", "khong");
    check("điiii đâuuu", "đi đâu", "di dau");
    check("xoong", "xoong", "xoong");             /* two is a real spelling */
    check("1000 đồng", "1000 đồng", "1000 dong"); /* digits never collapse */
}

static void test_punct_emoji(void **state) {
    check("  Chào ad!!! 😀😀 cho hỏi...", "chào ad cho hỏi", "chao ad cho hoi");
    check("khai sinh?", "khai sinh", "khai sinh");
    check("khai-sinh, kết hôn; tạm trú.", "khai sinh kết hôn tạm trú", "khai sinh ket hon tam tru");
    check("👍", "", "");
    check("", "", "");
    check("a\xe2\x80\x8b"
          "b",
          "ab", "ab"); /* zero-width space inside a word */
    check("tab\tnew\nline", "tab new line", "tab new line");
}

static void test_codes_phones(void **state) {
    check("Tra cứu hồ sơ 000.00.25.H29-231122-0001 giúp em",
          "tra cứu hồ sơ 000.00.25.h29-231122-0001 giúp em",
          "tra cuu ho so 000.00.25.h29-231122-0001 giup em");
    check("sđt 0912.345.678 hoặc +84 912345678", "sđt 0912.345.678 hoặc +84 912345678",
          "sdt 0912.345.678 hoac +84 912345678");
    check("0912-345-678.", "0912-345-678", "0912-345-678");
}

static void test_invalid_utf8(void **state) {
    vn_text t;
    memset(&t, 0x55, sizeof(t));
    assert_int_equal(vn_normalize(N, "kh\xc3", 3, &t), MC_EUTF8);
    assert_null(t.folded);
    assert_null(t.plain);
    assert_int_equal(t.folded_len, 0);
    assert_int_equal(vn_normalize(N, "\xed\xa0\x80", 3, &t), MC_EUTF8);
}

static void test_too_big(void **state) {
    size_t len = VN_MAX_INPUT + 1;
    char *big = malloc(len);
    assert_non_null(big);
    memset(big, 'a', len);
    vn_text t;
    assert_int_equal(vn_normalize(N, big, len, &t), MC_ETOOBIG);
    assert_null(t.folded);
    /* Exactly the limit, all multi-byte Vietnamese, is accepted. */
    const char *e = "ế"; /* 3 bytes */
    size_t k = VN_MAX_INPUT / 3 * 3;
    for (size_t i = 0; i < k; i += 3)
        memcpy(big + i, e, 3);
    assert_int_equal(vn_normalize(N, big, k, &t), 0);
    assert_int_equal(t.plain_len, 1); /* a run of >= 3 identical letters collapses */
    vn_text_free(&t);
    vn_text_free(&t); /* idempotent */
    free(big);
}

static void test_length_carrying(void **state) {
    /* Only len bytes are read: the rest of the buffer is not part of the message. */
    const char buf[] = "khai sinhXXXX";
    vn_text t;
    assert_int_equal(vn_normalize(N, buf, 9, &t), 0);
    assert_string_equal(t.plain, "khai sinh");
    vn_text_free(&t);
    /* An embedded NUL is data and separates tokens. */
    assert_int_equal(vn_normalize(N, "ket\0hon", 7, &t), 0);
    assert_string_equal(t.plain, "ket hon");
    vn_text_free(&t);
}

static void test_other_scripts(void **state) {
    check("Straße café", "strasse café", "strasse cafe");
    /* Letters without an ASCII key leave a placeholder in plain, so both keys keep the same
     * tokens, and plain stays ASCII. */
    check("xin chào 你好", "xin chào 你好", "xin chao _");
    check("ПРИВЕТ Đà Nẵng", "привет đà nẵng", "_ da nang");
    check("café你", "café你", "cafe");
    check("İstanbul", "istanbul", "istanbul"); /* folds to i + combining dot, which is dropped */
}

/* Every token of folded and plain, in order, and their count: the same in both. */
static void check_tokens(const vn_text *t) {
    size_t nf = 0, np = 0;
    for (size_t i = 0; i < t->folded_len; i++)
        nf += t->folded[i] == ' ';
    for (size_t i = 0; i < t->plain_len; i++)
        np += t->plain[i] == ' ';
    if (t->ntok == 0) {
        assert_int_equal(t->folded_len, 0);
        assert_int_equal(t->plain_len, 0);
        return;
    }
    assert_int_equal(nf + 1, t->ntok);
    assert_int_equal(np + 1, t->ntok);
    size_t fo = 0, po = 0;
    for (size_t i = 0; i < t->ntok; i++) {
        const vn_tok *k = &t->tok[i];
        assert_int_equal(k->f_off, fo);
        assert_int_equal(k->p_off, po);
        assert_true(k->f_len > 0 && k->p_len > 0);
        assert_null(memchr(t->folded + k->f_off, ' ', k->f_len));
        assert_null(memchr(t->plain + k->p_off, ' ', k->p_len));
        fo = k->f_off + k->f_len + 1;
        po = k->p_off + k->p_len + 1;
    }
    assert_int_equal(fo - 1, t->folded_len);
    assert_int_equal(po - 1, t->plain_len);
}

static void check_ascii(const vn_text *t) {
    for (size_t i = 0; i < t->plain_len; i++)
        assert_true((unsigned char)t->plain[i] < 0x80);
}

static void test_same_tokens(void **state) {
    static const char *const msgs[] = {
        "Làm giấy khai sinh cần giấy tờ gì ạ?",
        "ĐĂNG KÝ TẠM TRÚ ONLINE ĐƯỢC KHÔNG 😀😀",
        "xin chào 你好 Straße æon",
        "La\xcc\x80m gia\xcc\x82\xcc\x81y",
        "  ...  ",
        "sđt: 0912.345.678, +84 912345678",
        "a\xe2\x80\x8b"
        "b \xe2\x80\x8d\xcc\x81 c",
    };
    for (size_t m = 0; m < sizeof(msgs) / sizeof(msgs[0]); m++) {
        vn_text t;
        assert_int_equal(vn_normalize(N, msgs[m], strlen(msgs[m]), &t), 0);
        check_tokens(&t);
        check_ascii(&t);
        vn_text_free(&t);
    }
}

static void test_plain_src(void **state) {
    const char *s = "  Chào ÔNG 😀 hoà-bình, ĐƯỜNG";
    vn_text t;
    assert_int_equal(vn_normalize(N, s, strlen(s), &t), 0);
    assert_string_equal(t.plain, "chao ong hoa binh duong");
    assert_int_equal(t.ntok, 5);
    /* Each token points back at exactly the bytes the citizen typed. */
    static const char *const src[] = {"Chào", "ÔNG", "hoà", "bình", "ĐƯỜNG"};
    for (size_t i = 0; i < 5; i++) {
        const vn_tok *k = &t.tok[i];
        assert_int_equal(k->src_len, strlen(src[i]));
        assert_memory_equal(s + k->src_off, src[i], k->src_len);
        /* input[plain_src[a] .. plain_src[b]) is the source of a whole token. */
        uint32_t a = t.plain_src[k->p_off], b = t.plain_src[k->p_off + k->p_len];
        assert_int_equal(a, k->src_off);
        assert_int_equal(b, k->src_off + k->src_len);
        assert_false(k->flags & (VN_TOK_EXPANDED | VN_TOK_REPAIRED));
        assert_true(k->flags & VN_TOK_LETTERS);
    }
    /* Inside a token, each plain byte names the character it came from. */
    assert_int_equal(t.plain_src[2], (uint32_t)(strstr(s, "à") - s)); /* the 'a' of "chao" */
    assert_int_equal(t.plain_src[t.plain_len], strlen(s));
    assert_true(t.tok[0].flags & VN_TOK_ACCENTED);
    assert_false(t.tok[0].flags & VN_TOK_DIGIT);
    vn_text_free(&t);

    /* NFD input: a letter and its marks map to the letter's first byte. */
    const char *nfd = "ke\xcc\x82\xcc\x81t ho\xcc\x82n";
    assert_int_equal(vn_normalize(N, nfd, strlen(nfd), &t), 0);
    assert_string_equal(t.folded, "kết hôn");
    assert_string_equal(t.plain, "ket hon");
    assert_int_equal(t.plain_src[1], 1); /* e <- "e\xcc\x82\xcc\x81" */
    assert_int_equal(t.plain_src[2], 6); /* t */
    assert_int_equal(t.tok[0].src_len, 7);
    assert_int_equal(t.tok[1].src_off, 8);
    assert_int_equal(t.tok[1].src_len, 5);
    vn_text_free(&t);

    /* Codes keep their digits and separators, flagged as digits. */
    const char *c = "mã: 000.00.25.H29-231122-0001!";
    assert_int_equal(vn_normalize(N, c, strlen(c), &t), 0);
    assert_int_equal(t.ntok, 2);
    assert_true(t.tok[1].flags & VN_TOK_DIGIT);
    assert_false(t.tok[1].flags & VN_TOK_LETTERS);
    assert_int_equal(t.tok[1].src_len, strlen("000.00.25.H29-231122-0001"));
    vn_text_free(&t);
}

static void test_fullwidth_digits(void **state) {
    /* Full-width and Arabic-Indic digits become ASCII: phone numbers typed on odd keyboards. */
    check("\xef\xbc\x90\xef\xbc\x99\xef\xbc\x91\xef\xbc\x92", "0912", "0912");
    check("\xd9\xa1\xd9\xa2", "12", "12");
}

static void test_plain_is_freeable(void **state) {
    /* A caller may keep plain (with plain_src and tok) and free the rest itself. */
    vn_text t;
    assert_int_equal(vn_normalize(N, "Hồ sơ", strlen("Hồ sơ"), &t), 0);
    char *keep = t.plain;
    free(t.folded);
    assert_string_equal(keep, "ho so");
    free(keep);
}

/* vn_unaccent: the text for an unaccented SMS. */
static void unaccent(const char *in, const char *want) {
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(vn_unaccent(N, in, strlen(in), &out, &len), 0);
    assert_string_equal(out, want);
    assert_int_equal(len, strlen(want));
    free(out);
}

static void test_unaccent(void **state) {
    unaccent("Đăng ký khai sinh", "Dang ky khai sinh");
    unaccent("ĐƯỜNG NGUYỄN HUỆ", "DUONG NGUYEN HUE");
    unaccent("Hoà Bình, thuý; QUÝ", "Hoa Binh, thuy; QUY");
    /* NFD input, punctuation, newlines and spacing kept as they are. */
    unaccent("Hồ sơ 000.00.25.H29-231122-0001:\n  đã có KẾT QUẢ!\t(ạ)",
             "Ho so 000.00.25.H29-231122-0001:\n  da co KET QUA!\t(a)");
    unaccent("ke\xcc\x82\xcc\x81t ho\xcc\x82n", "ket hon");
    /* Other scripts, emoji and symbols stay (the SMS adapter counts the encoding). */
    unaccent("Giá: 50.000₫ 😀 — “xong”", "Gia: 50.000₫ 😀 — “xong”");
    unaccent("", "");
    char *out = (char *)1;
    size_t len = 9;
    assert_int_equal(vn_unaccent(N, "\xc3", 1, &out, &len), MC_EUTF8);
    assert_null(out);
    assert_int_equal(len, 0);
    assert_int_equal(vn_unaccent(N, "x", 1, NULL, &len), MC_EINVAL);
    char *big = malloc(VN_MAX_UNACCENT + 1);
    assert_non_null(big);
    memset(big, 'a', VN_MAX_UNACCENT + 1);
    assert_int_equal(vn_unaccent(N, big, VN_MAX_UNACCENT + 1, &out, &len), MC_ETOOBIG);
    free(big);
}

static void test_every_vietnamese_letter(void **state) {
    /* All 134 precomposed letters, upper and lower case, fold and strip consistently: plain
     * is pure ASCII a-z, and unaccent keeps the case. */
    const char *up = "ÀÁẢÃẠĂẰẮẲẴẶÂẦẤẨẪẬĐÈÉẺẼẸÊỀẾỂỄỆÌÍỈĨỊÒÓỎÕỌÔỒỐỔỖỘƠỜỚỞỠỢÙÚỦŨỤƯỪỨỬỮỰỲÝỶỸỴ";
    const char *lo = "àáảãạăằắẳẵặâầấẩẫậđèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵ";
    const char *ascii = "aaaaaaaaaaaaaaaaa"
                        "d"
                        "eeeeeeeeeee"
                        "iiiii"
                        "ooooooooooooooooo"
                        "uuuuuuuuuuu"
                        "yyyyy";
    vn_text a, b;
    assert_int_equal(vn_normalize(N, up, strlen(up), &a), 0);
    assert_int_equal(vn_normalize(N, lo, strlen(lo), &b), 0);
    assert_string_equal(a.folded, b.folded);
    assert_string_equal(a.plain, ascii);
    vn_text_free(&a);
    vn_text_free(&b);
    char *out;
    size_t len;
    assert_int_equal(vn_unaccent(N, up, strlen(up), &out, &len), 0);
    for (size_t i = 0; i < len; i++)
        assert_true(out[i] >= 'A' && out[i] <= 'Y');
    assert_int_equal(len, strlen(ascii));
    free(out);
}

static void test_never_crashes(void **state) {
    /* Pseudo-random valid and invalid byte soup: every call returns and frees cleanly. */
    unsigned seed = 12345;
    char buf[512];
    for (int round = 0; round < 2000; round++) {
        size_t len = (size_t)(seed % sizeof(buf));
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            static const char *const bits[] = {"a", "Đ", "\xcc\x81",     "😀", " ",   ".", "-",
                                               "9", "ữ", "\xe2\x80\x8d", "+", "\xc3"};
            const char *b = bits[(seed >> 16) % 12];
            size_t bl = strlen(b);
            if (i + bl > len)
                break;
            memcpy(buf + i, b, bl);
            i += bl - 1;
        }
        vn_text t;
        int rc = vn_normalize(N, buf, len, &t);
        assert_true(rc == 0 || rc == MC_EUTF8);
        if (rc == 0) {
            check_tokens(&t);
            check_ascii(&t);
        }
        vn_text_free(&t);
        seed = seed * 1103515245u + 12345u;
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_nfd_equals_nfc),
        cmocka_unit_test(test_tone_placement),
        cmocka_unit_test(test_collapse),
        cmocka_unit_test(test_punct_emoji),
        cmocka_unit_test(test_codes_phones),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_too_big),
        cmocka_unit_test(test_length_carrying),
        cmocka_unit_test(test_other_scripts),
        cmocka_unit_test(test_same_tokens),
        cmocka_unit_test(test_plain_src),
        cmocka_unit_test(test_fullwidth_digits),
        cmocka_unit_test(test_plain_is_freeable),
        cmocka_unit_test(test_unaccent),
        cmocka_unit_test(test_every_vietnamese_letter),
        cmocka_unit_test(test_never_crashes),
    };
    return cmocka_run_group_tests_name("vn_norm", tests, setup, teardown);
}
