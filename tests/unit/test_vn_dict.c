/*
 * tests/unit/test_vn_dict.c — the phrase dictionary: leftmost-longest, non-overlapping,
 * accented phrases against unaccented text, and its errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/mc.h"
#include "vi-nlp/vn_dict.h"
#include "vi-nlp/vn_norm.h"
#include "test_vn_share.h"

static vn_normalizer *N; /* without tables */
static vn_normalizer *L; /* with tables */

static int setup(void **state) {
    N = vn_share_normalizer(NULL);
    L = vn_share_normalizer(VN_SHARE_SRC);
    return N && L ? 0 : -1;
}

static int teardown(void **state) {
    vn_normalizer_free(N);
    vn_normalizer_free(L);
    return 0;
}

static void add(vn_dict *d, vn_normalizer *n, const char *p, int v) {
    char err[256];
    int rc = vn_dict_add(d, n, p, strlen(p), v, err, sizeof(err));
    if (rc != 0)
        print_error("%s\n", err);
    assert_int_equal(rc, 0);
}

/* Matches text; returns the count and fills m. */
static size_t match(const vn_dict *d, vn_normalizer *n, const char *text, vn_match *m, size_t max,
                    vn_text *keep) {
    vn_text t;
    assert_int_equal(vn_normalize(n, text, strlen(text), &t), 0);
    size_t k = vn_dict_match(d, &t, m, max);
    if (keep)
        *keep = t;
    else
        vn_text_free(&t);
    return k;
}

static void test_leftmost_longest(void **state) {
    vn_dict *d = vn_dict_new();
    assert_non_null(d);
    add(d, N, "giấy phép", 1);
    add(d, N, "giấy phép xây dựng", 2);
    add(d, N, "xây dựng", 3);
    add(d, N, "khai sinh", 4);
    add(d, N, "sinh con", 5);
    vn_match m[8];
    /* Longest at the leftmost position; "xây dựng" inside it is not reported. */
    assert_int_equal(match(d, N, "Xin giấy phép xây dựng nhà ở", m, 8, NULL), 1);
    assert_int_equal(m[0].value, 2);
    assert_int_equal(m[0].tok_start, 1);
    assert_int_equal(m[0].tok_end, 5);
    assert_int_equal(m[0].exact, 1);
    /* Non-overlapping: "khai sinh" wins, "sinh con" would overlap. */
    assert_int_equal(match(d, N, "khai sinh con", m, 8, NULL), 1);
    assert_int_equal(m[0].value, 4);
    /* Several, in text order. */
    assert_int_equal(match(d, N, "giấy phép rồi xây dựng, sinh con", m, 8, NULL), 3);
    assert_int_equal(m[0].value, 1);
    assert_int_equal(m[1].value, 3);
    assert_int_equal(m[1].tok_start, 3);
    assert_int_equal(m[2].value, 5);
    /* A partial phrase at the end of the text does not match. */
    assert_int_equal(match(d, N, "xin giấy", m, 8, NULL), 0);
    /* max smaller than the number found: the count is still the total. */
    assert_int_equal(match(d, N, "giấy phép rồi xây dựng, sinh con", m, 1, NULL), 3);
    assert_int_equal(m[0].value, 1);
    assert_int_equal(vn_dict_size(d), 5);
    vn_dict_free(d);
}

static void test_diacritics(void **state) {
    vn_dict *d = vn_dict_new();
    add(d, N, "đăng ký kết hôn", 1);
    add(d, N, "bạn", 2);
    add(d, N, "gpxd", 3);
    vn_match m[4];
    /* The accented phrase matches unaccented text, not exactly. */
    assert_int_equal(match(d, N, "dang ky ket hon o dau", m, 4, NULL), 1);
    assert_int_equal(m[0].value, 1);
    assert_int_equal(m[0].exact, 0);
    assert_int_equal(match(d, N, "ĐĂNG KÝ KẾT HÔN", m, 4, NULL), 1);
    assert_int_equal(m[0].exact, 1);
    /* Mixed: some tokens typed with diacritics, some without. */
    assert_int_equal(match(d, N, "dang ký kết hon", m, 4, NULL), 1);
    assert_int_equal(m[0].exact, 0);
    /* Other diacritics are another word. */
    assert_int_equal(match(d, N, "bán nhà", m, 4, NULL), 0);
    assert_int_equal(match(d, N, "đăng kí kết hôn", m, 4, NULL), 0); /* kí != ký */
    assert_int_equal(match(d, N, "ban oi", m, 4, NULL), 1);
    assert_int_equal(m[0].exact, 0);
    /* NFD text. */
    assert_int_equal(match(d, N, "ba\xcc\xa3n", m, 4, NULL), 1);
    assert_int_equal(m[0].exact, 1);
    /* An unaccented phrase is exact on the same letters. */
    assert_int_equal(match(d, N, "GPXD", m, 4, NULL), 1);
    assert_int_equal(m[0].exact, 1);
    vn_dict_free(d);
}

static void test_ties(void **state) {
    vn_dict *d = vn_dict_new();
    add(d, N, "bàn", 1);
    add(d, N, "ban", 2);
    add(d, N, "bàn", 3); /* duplicate: the first added wins */
    vn_match m[2];
    assert_int_equal(match(d, N, "ban", m, 2, NULL), 1);
    assert_int_equal(m[0].value, 2); /* exact beats plain-only at equal length */
    assert_int_equal(m[0].exact, 1);
    assert_int_equal(match(d, N, "bàn", m, 2, NULL), 1);
    assert_int_equal(m[0].value, 1);
    assert_int_equal(match(d, N, "bán", m, 2, NULL), 0);
    vn_dict_free(d);
}

static void test_with_tables(void **state) {
    /* Phrases and messages normalized by the same loaded normalizer agree on teencode. */
    vn_dict *d = vn_dict_new();
    add(d, L, "giấy phép xây dựng", 1);
    add(d, L, "gplx", 2);
    add(d, L, "đăng ký kết hôn", 3);
    vn_match m[4];
    vn_text t;
    assert_int_equal(match(d, L, "xin GPXD o dau", m, 4, &t), 1);
    assert_int_equal(m[0].value, 1);
    assert_int_equal(m[0].exact, 1); /* gpxd expands to the accented phrase */
    /* The match points back at the citizen's own token. */
    const vn_tok *k = &t.tok[m[0].tok_start];
    assert_int_equal(k->src_off, 4);
    assert_int_equal(k->src_len, 4);
    vn_text_free(&t);
    assert_int_equal(match(d, L, "doi giấy phép lái xe", m, 4, NULL), 1);
    assert_int_equal(m[0].value, 2);
    assert_int_equal(match(d, L, "dk kh", m, 4, NULL), 1);
    assert_int_equal(m[0].value, 3);
    assert_int_equal(match(d, L, "ddawng kys keest hoon", m, 4, NULL), 1); /* Telex */
    assert_int_equal(m[0].value, 3);
    vn_dict_free(d);
}

/* Matches text with typos (normalizer L, with its lexicon); returns the count. */
static size_t fuzzy(vn_dict *d, const char *text, vn_match *m, size_t max) {
    vn_text t;
    assert_int_equal(vn_dict_typo_index(d), 0);
    assert_int_equal(vn_normalize(L, text, strlen(text), &t), 0);
    size_t k = vn_dict_match_fuzzy(d, L, &t, m, max);
    vn_text_free(&t);
    return k;
}

static void test_fuzzy(void **state) {
    vn_dict *d = vn_dict_new();
    add(d, L, "khai sinh", 1);
    add(d, L, "kết hôn", 2);
    add(d, L, "lý lịch tư pháp", 3);
    add(d, L, "doanh nghiệp", 4);
    add(d, L, "thường trú", 5);
    add(d, L, "sổ đỏ", 6);
    add(d, L, "công ty", 7);
    add(d, L, "passport", 8);
    add(d, L, "chứng thực", 9);
    vn_match m[4];
    /* Exact text: the same as vn_dict_match, cost 0. */
    assert_int_equal(fuzzy(d, "làm khai sinh", m, 4), 1);
    assert_int_equal(m[0].value, 1);
    assert_int_equal(m[0].cost, 0);
    /* One edit: doubled letter, deletion, swap, neighbouring key. */
    assert_int_equal(fuzzy(d, "khai sinhh cho con", m, 4), 1);
    assert_int_equal(m[0].value, 1);
    assert_int_equal(m[0].cost, VN_FUZZ_EDIT);
    assert_int_equal(m[0].tok_start, 0);
    assert_int_equal(m[0].tok_end, 2);
    assert_int_equal(fuzzy(d, "khai sih", m, 4), 1);
    assert_int_equal(fuzzy(d, "khia sinh", m, 4), 1);
    assert_int_equal(fuzzy(d, "đăng ký doanhh nghiệp", m, 4), 1);
    assert_int_equal(m[0].value, 4);
    assert_int_equal(fuzzy(d, "lý lịch tư pháo", m, 4), 1); /* pháo is a word: 3 exact */
    assert_int_equal(m[0].value, 3);
    /* Diacritics only: cheap. */
    assert_int_equal(fuzzy(d, "đăng ký thừong trú", m, 4), 1);
    assert_int_equal(m[0].value, 5);
    assert_int_equal(m[0].cost, VN_FUZZ_CHEAP);
    assert_int_equal(fuzzy(d, "lí lịch tữ pháp", m, 4), 1);
    assert_int_equal(m[0].cost, 2 * VN_FUZZ_CHEAP);
    /* A short token only with its last letter doubled. */
    assert_int_equal(fuzzy(d, "mở công tyy", m, 4), 1);
    assert_int_equal(m[0].value, 7);
    assert_int_equal(fuzzy(d, "sổ đỏo", m, 4), 1);
    assert_int_equal(fuzzy(d, "công tu", m, 4), 0);
    /* Words that are one edit away are words, not typos. */
    assert_int_equal(fuzzy(d, "kết hợp hai hồ sơ", m, 4), 0);
    assert_int_equal(fuzzy(d, "ket hop hai ho so", m, 4), 0);
    assert_int_equal(fuzzy(d, "cán bộ thường trực", m, 4), 0);
    assert_int_equal(fuzzy(d, "cái sổ đó", m, 4), 0);
    assert_int_equal(fuzzy(d, "chứng thư số", m, 4), 0);
    add(d, L, "giấy chứng nhận kết hôn", 10);
    add(d, L, "hộ kinh doanh cá thể", 11);
    add(d, L, "đăng ký thường trú", 12);
    /* A word with another first letter is that word, even with 3 exact tokens... */
    assert_int_equal(fuzzy(d, "giấy chứng nhận hết hạn", m, 4), 0);
    /* ...with the same first letter and 3 exact tokens, a typo ("doan" spells đoàn). */
    assert_int_equal(fuzzy(d, "hộ kinh doan cá thể", m, 4), 1);
    assert_int_equal(m[0].value, 11);
    /* A word made by a Telex repair ("tur" -> tủ) was not typed as a word. */
    assert_int_equal(fuzzy(d, "dang ky thuong tur", m, 4), 1);
    assert_int_equal(m[0].value, 12);
    /* Every token wrong, two edits in one token, one-token phrases: no match. */
    assert_int_equal(fuzzy(d, "khia sih", m, 4), 0);
    assert_int_equal(fuzzy(d, "khai snhh", m, 4), 0);
    assert_int_equal(fuzzy(d, "pasport", m, 4), 0);
    /* An exact match is kept and a typo elsewhere is added, in text order. */
    assert_int_equal(fuzzy(d, "kết hôn xong làm khai sinhh", m, 4), 2);
    assert_int_equal(m[0].value, 2);
    assert_int_equal(m[0].cost, 0);
    assert_int_equal(m[1].value, 1);
    assert_int_equal(m[1].tok_start, 4);
    assert_int_equal(fuzzy(d, "khai sinhh rồi kết hôn", m, 4), 2);
    assert_int_equal(m[0].value, 1);
    assert_int_equal(m[1].value, 2);
    /* With room for one, the first in text order is kept and the count is the total. */
    assert_int_equal(fuzzy(d, "khai sinhh rồi kết hôn", m, 1), 2);
    assert_int_equal(m[0].value, 1);
    vn_dict_free(d);

    /* Ambiguous: the same typo is one edit from two phrases of different values. */
    d = vn_dict_new();
    add(d, L, "giấy phép xây", 1);
    add(d, L, "giấy phép xâm", 2);
    assert_int_equal(fuzzy(d, "giấy phép xâx", m, 4), 0);
    add(d, L, "giấy phép xây dựng", 3); /* longer: wins at equal cost */
    assert_int_equal(fuzzy(d, "giấy phép xâx dựng", m, 4), 1);
    assert_int_equal(m[0].value, 3);
    vn_dict_free(d);
}

static void test_many(void **state) {
    /* Many phrases sharing first tokens: chains stay correct as the tables grow. */
    vn_dict *d = vn_dict_new();
    char p[64];
    for (int i = 0; i < 3000; i++) {
        snprintf(p, sizeof(p), "mục %d số %d", i % 7, i);
        add(d, N, p, i);
    }
    vn_match m[4];
    for (int i = 0; i < 3000; i += 97) {
        char text[96];
        snprintf(text, sizeof(text), "xem muc %d so %d nhé", i % 7, i);
        assert_int_equal(match(d, N, text, m, 4, NULL), 1);
        assert_int_equal(m[0].value, i);
        assert_int_equal(m[0].tok_start, 1);
        assert_int_equal(m[0].tok_end, 5);
    }
    assert_int_equal(match(d, N, "muc 3 so 5", m, 4, NULL), 0);
    vn_dict_free(d);
}

static void test_errors(void **state) {
    vn_dict *d = vn_dict_new();
    char err[256];
    assert_int_equal(vn_dict_add(d, N, "...", 3, 1, err, sizeof(err)), MC_EINVAL);
    assert_non_null(strstr(err, "0 tokens"));
    assert_int_equal(vn_dict_add(d, N, "", 0, 1, err, sizeof(err)), MC_EINVAL);
    assert_int_equal(vn_dict_add(d, N, "ok", 2, -1, err, sizeof(err)), MC_EINVAL);
    assert_int_equal(vn_dict_add(d, N, "\xc3", 1, 1, err, sizeof(err)), MC_EUTF8);
    const char *longp = "a b c d e f g h i j k l m n o p q";
    assert_int_equal(vn_dict_add(d, N, longp, strlen(longp), 1, err, sizeof(err)), MC_EINVAL);
    assert_int_equal(vn_dict_size(d), 0);
    /* An empty dictionary and an empty text match nothing. */
    vn_match m[1];
    assert_int_equal(match(d, N, "khai sinh", m, 1, NULL), 0);
    add(d, N, "khai sinh", 1);
    assert_int_equal(match(d, N, "", m, 1, NULL), 0);
    assert_int_equal(vn_dict_match(NULL, NULL, m, 1), 0);
    vn_dict_free(d);
    vn_dict_free(NULL);
}

static void test_speed(void **state) {
    vn_dict *d = vn_dict_new();
    static const char *const aliases[] = {"khai sinh",
                                          "giấy khai sinh",
                                          "đăng ký khai sinh",
                                          "kết hôn",
                                          "đăng ký kết hôn",
                                          "tạm trú",
                                          "thường trú",
                                          "căn cước công dân",
                                          "hộ chiếu",
                                          "giấy phép xây dựng",
                                          "sổ đỏ",
                                          "sổ hồng",
                                          "lý lịch tư pháp",
                                          "ngập nước",
                                          "đèn đường",
                                          "ổ gà",
                                          "rác"};
    for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
        add(d, L, aliases[i], (int)i);
    const char *s = "cho em hoi lam giay khai sinh cho be can giay to gi va o dau a";
    vn_text t;
    assert_int_equal(vn_normalize(L, s, strlen(s), &t), 0);
    vn_match m[8];
    const long rounds = 1000000;
    size_t total = 0;
    struct timespec a, b;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
    for (long i = 0; i < rounds; i++)
        total += vn_dict_match(d, &t, m, 8);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
    assert_int_equal(total, (size_t)rounds);
    assert_int_equal(m[0].value, 1);
    double ns =
        ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / (double)rounds;
    printf("vn_dict_match: %.0f ns for a %zu-token message\n", ns, t.ntok);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
    total = 0;
    for (long i = 0; i < rounds; i++)
        total += vn_dict_match_fuzzy(d, L, &t, m, 8);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
    assert_int_equal(total, (size_t)rounds);
    ns = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / (double)rounds;
    printf("vn_dict_match_fuzzy: %.0f ns for the same message\n", ns);
    vn_text_free(&t);
    vn_dict_free(d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_leftmost_longest),
        cmocka_unit_test(test_diacritics),
        cmocka_unit_test(test_ties),
        cmocka_unit_test(test_with_tables),
        cmocka_unit_test(test_fuzzy),
        cmocka_unit_test(test_many),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_speed),
    };
    return cmocka_run_group_tests_name("vn_dict", tests, setup, teardown);
}
