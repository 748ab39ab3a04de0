/*
 * tests/unit/test_nlu_catalog.c — the procedure catalog loader on the real data file and
 * on broken fixtures (tests/unit/data/cat_*.txt); tests run from the repository root.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "intents/nlu_catalog.h"

static void test_real_catalog(void **state) {
    char err[256] = "";
    nlu_catalog *c = nlu_catalog_load("intents/data/procedures.txt", err, sizeof(err));
    if (!c)
        print_error("%s\n", err);
    assert_non_null(c);
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
    nlu_catalog_free(c);
}

static void test_plain_aliases(void **state) {
    char err[256] = "";
    nlu_catalog *c = nlu_catalog_load("tests/unit/data/cat_valid_min.txt", err, sizeof(err));
    assert_non_null(c);
    const nlu_procedure *p = nlu_catalog_get(c, "tam_tru");
    assert_int_equal(p->n_aliases, 2);
    assert_string_equal(p->aliases[0], "TẠM TRÚ"); /* as written */
    assert_string_equal(p->aliases_plain[0], "tam tru");
    assert_int_equal(p->n_documents, 2);
    nlu_catalog_free(c);
}

/* Loading path fails and err contains each of the wanted fragments. */
static void expect_fail(const char *path, const char *want1, const char *want2) {
    char err[256] = "";
    nlu_catalog *c = nlu_catalog_load(path, err, sizeof(err));
    if (c)
        nlu_catalog_free(c);
    assert_null(c);
    if (!strstr(err, want1) || (want2 && !strstr(err, want2)))
        print_error("got '%s', want '%s' and '%s'\n", err, want1, want2 ? want2 : "");
    assert_non_null(strstr(err, want1));
    if (want2)
        assert_non_null(strstr(err, want2));
}

static void test_broken_files(void **state) {
    expect_fail("tests/unit/data/cat_unknown_key.txt",
                "cat_unknown_key.txt:5:", "unknown key 'fee2'");
    expect_fail("tests/unit/data/cat_outside_block.txt", "cat_outside_block.txt:3:", "outside");
    expect_fail("tests/unit/data/cat_duplicate_id.txt",
                "cat_duplicate_id.txt:12:", "duplicate procedure id 'khai_sinh'");
    expect_fail("tests/unit/data/cat_missing_field.txt",
                "cat_missing_field.txt:3:", "missing 'source'");
    expect_fail("tests/unit/data/cat_empty.txt", "cat_empty.txt:1:", "no procedures");
    expect_fail("tests/unit/data/does_not_exist.txt", "does_not_exist.txt:0:", "cannot open");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_catalog),
        cmocka_unit_test(test_plain_aliases),
        cmocka_unit_test(test_broken_files),
    };
    return cmocka_run_group_tests_name("nlu_catalog", tests, NULL, NULL);
}
