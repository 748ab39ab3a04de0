/*
 * tests/unit/test_nlu_catalog.c — the procedure catalog loader on the real data file and
 * on broken fixtures (tests/unit/data/cat_*.txt), the choice of a fact's value for a case
 * (day, age, foreign element), and the date checks: the real catalog must pass them today,
 * so `make test` fails the day a dated value ends without a checked replacement. Tests run
 * from the repository root.
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
#include "intents/nlu_catalog.h"

static int32_t day(const char *s) {
    int32_t d = 0;
    assert_int_equal(nlu_day_parse(s, strlen(s), &d), 0);
    return d;
}

static int32_t today(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return nlu_day_of_ms((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* The catalog at path, which must load (why it does not is printed). */
static nlu_catalog *load(const char *path) {
    char err[512] = "";
    nlu_catalog *c = nlu_catalog_load(path, err, sizeof(err));
    if (!c)
        print_error("%s\n", err);
    assert_non_null(c);
    return c;
}

static void test_real_catalog(void **state) {
    nlu_catalog *c = load("intents/data/procedures.txt");
    assert_true(nlu_catalog_count(c) >= 3);
    const char *ids[] = {"khai_sinh", "ket_hon", "tam_tru"};
    for (size_t i = 0; i < 3; i++) {
        const nlu_procedure *p = nlu_catalog_get(c, ids[i]);
        assert_non_null(p);
        assert_string_equal(p->id, ids[i]);
        assert_true(p->n_documents >= 2);
        assert_true(p->n_aliases >= 1);
        assert_non_null(p->source);
        assert_non_null(p->agency);
        assert_true(strlen(p->legal) > 0);
    }
    const nlu_procedure *ks = nlu_catalog_get(c, "khai_sinh");
    assert_string_equal(ks->name, "Đăng ký khai sinh");
    assert_non_null(strstr(ks->documents[0], "Tờ khai"));
    assert_string_equal(ks->aliases[0], "khai sinh");
    assert_string_equal(ks->aliases_plain[0], "khai sinh");
    /* Post-July-2025 agencies: commune level, never district. */
    assert_non_null(strstr(ks->agency, "cấp xã"));
    assert_null(strstr(ks->agency, "cấp huyện"));
    assert_non_null(strstr(nlu_catalog_get(c, "tam_tru")->agency, "Công an cấp xã"));
    assert_null(nlu_catalog_get(c, "khai_tu_nonexistent"));
    assert_null(nlu_catalog_get(c, NULL));
    assert_ptr_equal(nlu_catalog_at(c, 0), nlu_catalog_get(c, nlu_catalog_at(c, 0)->id));
    assert_null(nlu_catalog_at(c, nlu_catalog_count(c)));
    /* Every block says where and when it was checked; every fact what it rests on. */
    for (size_t i = 0; i < nlu_catalog_count(c); i++) {
        const nlu_procedure *p = nlu_catalog_at(c, i);
        assert_true(p->n_source_urls >= 1);
        assert_non_null(p->checked_on);
        for (int k = 0; k < NLU_FACT_SINGLE; k++) {
            assert_true(p->n_facts[k] >= 1);
            for (size_t v = 0; v < p->n_facts[k]; v++)
                assert_true(strlen(p->facts[k][v].basis) > 0);
        }
        for (size_t d = 0; d < p->n_documents; d++)
            assert_true(strlen(p->docs[d].basis) > 0);
    }
    nlu_catalog_free(c);
}

/* The date checks on the real catalog, today: a dated value that has ended needs a value
 * checked for the time after it, and no block was checked in the future. This is the test
 * that fails on 01/01/2027 unless somebody has re-checked the 2026 fee reductions. */
static void test_real_catalog_is_current(void **state) {
    char err[512] = "";
    nlu_catalog *c = load("intents/data/procedures.txt");
    int rc = nlu_catalog_check(c, today(), err, sizeof(err));
    if (rc)
        print_error("%s\n", err);
    assert_int_equal(rc, 0);
    nlu_catalog_free(c);
}

static void test_plain_aliases(void **state) {
    nlu_catalog *c = load("tests/unit/data/cat_valid_min.txt");
    const nlu_procedure *p = nlu_catalog_get(c, "tam_tru");
    assert_int_equal(p->n_aliases, 2);
    assert_string_equal(p->aliases[0], "TẠM TRÚ"); /* as written */
    assert_string_equal(p->aliases_plain[0], "tam tru");
    assert_int_equal(p->n_documents, 2);
    /* "text | basis": the two halves, trimmed. */
    assert_string_equal(p->fee, "Hỏi Công an cấp xã");
    assert_string_equal(p->facts[NLU_FACT_FEE][0].basis, "Thông tư 75/2022/TT-BTC");
    assert_string_equal(p->docs[0].text, "Tờ khai CT01");
    assert_string_equal(p->docs[0].basis, "Thông tư 53/2025/TT-BCA");
    assert_string_equal(p->checked_on, "2026-12-01");
    assert_int_equal(p->checked_day, day("2026-12-01"));
    assert_string_equal(p->source_urls[0], "https://example.gov.vn/tam-tru");
    nlu_catalog_free(c);
}

/* A file of tests/unit/data that must fail to load, naming line `line` and saying why. */
typedef struct broken {
    const char *file;
    int line;
    const char *why;
} broken;

static void expect_fail(const broken *cases, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char path[256], where[128], err[256] = "";
        snprintf(path, sizeof(path), "tests/unit/data/%s", cases[i].file);
        snprintf(where, sizeof(where), "%s:%d:", cases[i].file, cases[i].line);
        nlu_catalog *c = nlu_catalog_load(path, err, sizeof(err));
        if (c)
            nlu_catalog_free(c);
        assert_null(c);
        if (!strstr(err, where) || !strstr(err, cases[i].why))
            print_error("got '%s', want '%s' and '%s'\n", err, where, cases[i].why);
        assert_non_null(strstr(err, where));
        assert_non_null(strstr(err, cases[i].why));
    }
}

static void test_broken_files(void **state) {
    static const broken cases[] = {
        {"cat_unknown_key.txt", 5, "unknown key 'fee2'"},
        {"cat_outside_block.txt", 3, "outside"},
        {"cat_duplicate_id.txt", 13, "duplicate procedure id 'khai_sinh'"},
        {"cat_missing_field.txt", 3, "missing 'source'"},
        {"cat_empty.txt", 1, "no procedures"},
        {"does_not_exist.txt", 0, "cannot open"},
    };
    expect_fail(cases, MC_ARRAY_LEN(cases));
}

/* What the catalog must not lack: where and when a block was checked, what each fact rests
 * on, the law behind an amount; and conditions that mean something. */
static void test_sources_and_conditions(void **state) {
    static const broken cases[] = {
        {"cat_missing_checked_on.txt", 3, "missing 'checked_on'"},
        {"cat_missing_source_url.txt", 3, "missing 'source_url'"},
        {"cat_no_basis.txt", 5, "'text | basis'"},
        {"cat_amount_no_law.txt", 5, "an amount needs the legal text"},
        {"cat_bad_condition.txt", 5, "unknown condition 'child'"},
        {"cat_bad_date.txt", 5, "bad date"},
        {"cat_same_case.txt", 6, "a second 'agency' for the same case (line 5)"},
        {"cat_bad_checked_on.txt", 5, "checked_on must be a date"},
    };
    expect_fail(cases, MC_ARRAY_LEN(cases));
}

/* A dated reduction that ended with nothing checked after it fails the check from the day
 * after its end; a replacement checked for the following day makes it pass again. */
static void test_expired_reduction(void **state) {
    char err[512] = "";
    nlu_catalog *c = load("tests/unit/data/cat_expired.txt");
    assert_int_equal(nlu_catalog_check(c, day("2026-12-31"), err, sizeof(err)), 0);
    assert_int_equal(nlu_catalog_check(c, day("2027-01-01"), err, sizeof(err)), MC_EPARSE);
    assert_non_null(strstr(err, "cat_expired.txt:13:"));
    assert_non_null(strstr(err, "[ho_chieu] the fee valid until 31/12/2026 has ended"));
    assert_non_null(strstr(err, "'fee [from 01/01/2027] = ...'"));
    /* Checked in the future: a typing error in checked_on. */
    assert_int_equal(nlu_catalog_check(c, day("2026-07-14"), err, sizeof(err)), MC_EPARSE);
    assert_non_null(strstr(err, "checked_on 2026-07-15 is after today"));
    nlu_catalog_free(c);

    c = load("tests/unit/data/cat_expired_replaced.txt");
    assert_int_equal(nlu_catalog_check(c, day("2027-01-01"), err, sizeof(err)), 0);
    assert_int_equal(nlu_catalog_check(c, day("2030-06-01"), err, sizeof(err)), 0);
    nlu_catalog_free(c);
}

/* The value of a fact for a case: the most specific variant that holds, else the general
 * one; a variant for an unknown age does not hold; an ended period is reported. */
static void test_pick(void **state) {
    nlu_catalog *c = load("tests/unit/data/cat_variants.txt");
    const nlu_procedure *p = nlu_catalog_get(c, "cccd");
    int32_t ended;
    nlu_case k = {day("2026-12-03"), -1, 0};
    /* Agency by age. */
    assert_string_equal(nlu_fact_pick(p, NLU_FACT_AGENCY, &k, NULL)->text,
                        "Công an cấp xã, mọi lứa tuổi");
    static const struct {
        int age;
        const char *want;
    } ages[] = {{0, "Dưới 6 tuổi"}, {5, "Dưới 6 tuổi"}, {6, "Từ 6"},
                {13, "Từ 6"},       {14, "Từ 14"},      {90, "Từ 14"}};
    for (size_t i = 0; i < MC_ARRAY_LEN(ages); i++) {
        k.age = ages[i].age;
        const nlu_fact *f = nlu_fact_pick(p, NLU_FACT_AGENCY, &k, NULL);
        assert_non_null(strstr(f->text, ages[i].want));
    }
    /* Fee: the period, a child's exemption over the period, and after the period. */
    k.age = -1;
    assert_string_equal(nlu_fact_pick(p, NLU_FACT_FEE, &k, &ended)->text, "Cấp đổi 25.000 đồng");
    assert_int_equal(ended, NLU_DAY_NONE);
    k.age = 10;
    assert_string_equal(nlu_fact_pick(p, NLU_FACT_FEE, &k, &ended)->text, "Trẻ em được miễn");
    k.age = 30;
    k.day = day("2025-06-30"); /* before the period */
    assert_string_equal(nlu_fact_pick(p, NLU_FACT_FEE, &k, &ended)->text, "Cấp đổi 50.000 đồng");
    assert_int_equal(ended, NLU_DAY_NONE);
    k.day = day("2026-12-31"); /* its last day */
    assert_string_equal(nlu_fact_pick(p, NLU_FACT_FEE, &k, &ended)->text, "Cấp đổi 25.000 đồng");
    k.day = day("2027-01-01"); /* the day after: the general value, flagged */
    assert_string_equal(nlu_fact_pick(p, NLU_FACT_FEE, &k, &ended)->text, "Cấp đổi 50.000 đồng");
    assert_int_equal(ended, day("2026-12-31"));
    k.age = 10; /* the exemption does not end */
    assert_string_equal(nlu_fact_pick(p, NLU_FACT_FEE, &k, &ended)->text, "Trẻ em được miễn");
    assert_int_equal(ended, NLU_DAY_NONE);
    /* Foreign element. */
    k.foreign = 1;
    assert_string_equal(nlu_fact_pick(p, NLU_FACT_ONLINE, &k, NULL)->text, "Không áp dụng");
    k.foreign = 0;
    assert_string_equal(nlu_fact_pick(p, NLU_FACT_ONLINE, &k, NULL)->text, "Một phần");
    /* No case: the general value. */
    assert_string_equal(nlu_fact_pick(p, NLU_FACT_FEE, NULL, &ended)->text, "Cấp đổi 50.000 đồng");
    assert_null(nlu_fact_pick(p, NLU_FACT_DOCUMENT, &k, NULL));
    assert_null(nlu_fact_pick(NULL, NLU_FACT_FEE, &k, NULL));

    /* Papers: CC01 always; the child's paper unless the age is known to be 14+; domestic /
     * foreign; a paper from a date. */
    const nlu_fact *d = p->docs;
    nlu_case adult = {day("2026-12-03"), 30, 0}, child = {day("2026-12-03"), 8, 0},
             unknown = {day("2026-12-03"), -1, 0}, foreign = {day("2026-12-03"), -1, 1},
             later = {day("2027-03-01"), -1, 0};
    assert_true(nlu_doc_shown(&d[0], &adult) && nlu_doc_shown(&d[0], NULL));
    assert_false(nlu_doc_shown(&d[1], &adult));
    assert_true(nlu_doc_shown(&d[1], &child) && nlu_doc_shown(&d[1], &unknown));
    assert_false(nlu_doc_shown(&d[1], NULL));
    assert_true(nlu_doc_shown(&d[2], &unknown) && !nlu_doc_shown(&d[2], &foreign));
    assert_true(nlu_doc_shown(&d[3], &foreign) && !nlu_doc_shown(&d[3], &unknown));
    assert_true(nlu_doc_shown(&d[4], &later) && !nlu_doc_shown(&d[4], &unknown));
    nlu_catalog_free(c);
}

/* Days in Ho Chi Minh City: UTC+7, so a day starts at 17:00 UTC the evening before. */
static void test_days(void **state) {
    char buf[16];
    assert_string_equal(nlu_day_format(day("2026-12-31"), buf, sizeof(buf)), "31/12/2026");
    assert_string_equal(nlu_day_format(day("2024-02-29"), buf, sizeof(buf)), "29/02/2024");
    assert_string_equal(nlu_day_format(day("2000-01-01"), buf, sizeof(buf)), "01/01/2000");
    assert_int_equal(day("2000-01-01"), 10957); /* days since 1970-01-01 */
    int32_t d;
    assert_int_equal(nlu_day_parse("2026-02-29", 10, &d), -1); /* not a leap year */
    assert_int_equal(nlu_day_parse("2026-13-01", 10, &d), -1);
    assert_int_equal(nlu_day_parse("26-12-31", 8, &d), -1);
    assert_int_equal(nlu_day_parse("2026/12/31", 10, &d), -1);
    assert_int_equal(nlu_day_parse("1999-12-31", 10, &d), -1); /* before NLU_CAT_MIN_YEAR */
    /* 2026-12-31 16:59:59 UTC is 23:59:59 that day in HCMC; a second later it is 2027. */
    const int64_t end = 1798736399000LL; /* 2026-12-31T16:59:59Z */
    assert_int_equal(nlu_day_of_ms(end), day("2026-12-31"));
    assert_int_equal(nlu_day_of_ms(end + 1000), day("2027-01-01"));
    assert_int_equal(nlu_day_of_ms(-1), 0);                      /* 06:59:59 on 01/01/1970 */
    assert_int_equal(nlu_day_of_ms(-7LL * 3600 * 1000 - 1), -1); /* 23:59:59 the day before */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_catalog),
        cmocka_unit_test(test_real_catalog_is_current),
        cmocka_unit_test(test_plain_aliases),
        cmocka_unit_test(test_broken_files),
        cmocka_unit_test(test_sources_and_conditions),
        cmocka_unit_test(test_expired_reduction),
        cmocka_unit_test(test_pick),
        cmocka_unit_test(test_days),
    };
    return cmocka_run_group_tests_name("nlu_catalog", tests, NULL, NULL);
}
