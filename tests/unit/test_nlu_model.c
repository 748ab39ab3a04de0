/*
 * tests/unit/test_nlu_model.c — the trained intent classifier: train on a small fixture
 * (tests/unit/data/nlu_model_train.tsv), save, load, predict held-out lines; the model
 * file's validation (truncated, corrupted, wrong magic/version, oversized); determinism
 * (same seed, same bytes); training-data errors naming file and line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/mc.h"
#include "intents/nlu_model.h"
#include "vi-nlp/vn_norm.h"
#include "test_file.h"
#include "test_vn_share.h"

#define FIXTURE "tests/unit/data/nlu_model_train.tsv"
#define HELDOUT "tests/unit/data/nlu_model_heldout.tsv"
#define SMALL_BITS 12 /* 4096 buckets: a fixture-sized model */
#define MAX_FILE (8u << 20)
#define SCRATCH_MAX 160 /* a scratch file's path in DIR_ */

static vn_normalizer *VN;
static char DIR_[64];
static char MODEL[128];

static int setup(void **state) {
    (void)state;
    char err[256] = "";
    VN = vn_share_normalizer(NULL);
    if (!VN)
        return -1;
    snprintf(DIR_, sizeof DIR_, "/tmp/test_nlu_model.XXXXXX");
    if (!mkdtemp(DIR_))
        return -1;
    snprintf(MODEL, sizeof MODEL, "%s/fixture.model", DIR_);
    nlu_train_opts o = {.hash_bits = SMALL_BITS, .folds = 3, .epochs = 15};
    if (nlu_model_train(VN, FIXTURE, &o, MODEL, err, sizeof err)) {
        print_error("%s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", DIR_);
    if (system(cmd) != 0)
        return -1;
    vn_normalizer_free(VN);
    return 0;
}

static unsigned char *slurp(const char *path, size_t *n) {
    unsigned char *b = (unsigned char *)t_read_file("test_nlu_model", path, MAX_FILE, n);
    assert_non_null(b);
    return b;
}

static void spit(const char *path, const void *b, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* Bytes of the fixture model (the caller frees; *n their count), and in p[SCRATCH_MAX] the
 * path of the scratch file `name` in the test's folder, where a test writes altered copies. */
static unsigned char *model_copy(const char *name, char *p, size_t *n) {
    snprintf(p, SCRATCH_MAX, "%s/%s", DIR_, name);
    return slurp(MODEL, n);
}

/* Writes b[0..n) to path: nlu_model_load must refuse it, with a message. */
static void expect_refused(const char *path, const void *b, size_t n) {
    spit(path, b, n);
    char err[256] = "";
    nlu_model *m = nlu_model_load(path, err, sizeof err);
    assert_null(m);
    assert_true(err[0] != '\0');
}

static int predict_text(const nlu_model *m, const char *s, float *probs) {
    vn_text t;
    assert_int_equal(vn_normalize(VN, s, strlen(s), &t), 0);
    int best = nlu_model_predict(m, &t, probs);
    vn_text_free(&t);
    return best;
}

static void test_load_classes(void **state) {
    (void)state;
    char err[256] = "";
    nlu_model *m = nlu_model_load(MODEL, err, sizeof err);
    assert_non_null(m);
    /* The fixture's four intents, sorted by id. */
    assert_int_equal(nlu_model_classes(m), 4);
    assert_string_equal(nlu_model_class(m, 0), "greeting");
    assert_string_equal(nlu_model_class(m, 1), "procedure.duration");
    assert_string_equal(nlu_model_class(m, 2), "procedure.fee");
    assert_string_equal(nlu_model_class(m, 3), "thanks");
    assert_null(nlu_model_class(m, 4));
    nlu_model_free(m);
    nlu_model_free(NULL);
}

/* Held-out lines (none of them in the training fixture) come out right, with a
 * probability vector that sums to 1 and whose arg max is the returned index. */
static void test_predict_heldout(void **state) {
    (void)state;
    char err[256] = "";
    nlu_model *m = nlu_model_load(MODEL, err, sizeof err);
    assert_non_null(m);
    FILE *f = fopen(HELDOUT, "r");
    assert_non_null(f);
    char line[512];
    int n = 0, right = 0;
    float probs[64];
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        line[strcspn(line, "\n")] = '\0';
        char *tab = strchr(line, '\t');
        assert_non_null(tab);
        *tab = '\0';
        int best = predict_text(m, tab + 1, probs);
        assert_true(best >= 0 && (size_t)best < nlu_model_classes(m));
        double sum = 0;
        for (size_t k = 0; k < nlu_model_classes(m); k++) {
            assert_true(probs[k] >= 0.0f && probs[k] <= 1.0f);
            assert_true(probs[k] <= probs[best]);
            sum += probs[k];
        }
        assert_true(sum > 0.999 && sum < 1.001);
        n++;
        if (!strcmp(nlu_model_class(m, (size_t)best), line))
            right++;
        else
            print_message("miss: %s -> %s (%.2f)\n", tab + 1, nlu_model_class(m, (size_t)best),
                          (double)probs[best]);
    }
    fclose(f);
    assert_int_equal(n, 12);
    assert_true(right >= 11);
    /* probs may be NULL; an empty text scores the bias alone; NULL arguments fail. */
    assert_true(predict_text(m, "!!! ???", NULL) >= 0);
    vn_text empty = {0};
    assert_true(nlu_model_predict(m, &empty, probs) >= 0);
    assert_int_equal(nlu_model_predict(NULL, &empty, probs), MC_EINVAL);
    assert_int_equal(nlu_model_predict(m, NULL, probs), MC_EINVAL);
    nlu_model_free(m);
}

/* The same data and seed give the same bytes; another seed gives other bytes. */
static void test_determinism(void **state) {
    (void)state;
    char a[160], b[160], c[160], err[256] = "";
    snprintf(a, sizeof a, "%s/a.model", DIR_);
    snprintf(b, sizeof b, "%s/b.model", DIR_);
    snprintf(c, sizeof c, "%s/c.model", DIR_);
    nlu_train_opts o = {.hash_bits = SMALL_BITS, .folds = 3, .epochs = 15};
    assert_int_equal(nlu_model_train(VN, FIXTURE, &o, a, err, sizeof err), 0);
    assert_int_equal(nlu_model_train(VN, FIXTURE, &o, b, err, sizeof err), 0);
    o.seed = 7;
    assert_int_equal(nlu_model_train(VN, FIXTURE, &o, c, err, sizeof err), 0);
    size_t na, nb, nc;
    unsigned char *ba = slurp(a, &na), *bb = slurp(b, &nb), *bc = slurp(c, &nc);
    assert_int_equal(na, nb);
    assert_memory_equal(ba, bb, na);
    assert_int_equal(na, nc);
    assert_memory_not_equal(ba, bc, na);
    /* The fixture model was trained with the same options in setup. */
    size_t nm;
    unsigned char *bm = slurp(MODEL, &nm);
    assert_int_equal(nm, na);
    assert_memory_equal(bm, ba, na);
    free(ba);
    free(bb);
    free(bc);
    free(bm);
}

static void expect_load_error(const char *path, const char *needle) {
    char err[256] = "";
    nlu_model *m = nlu_model_load(path, err, sizeof err);
    if (m)
        nlu_model_free(m);
    assert_null(m);
    if (!strstr(err, needle))
        print_error("error '%s' lacks '%s'\n", err, needle);
    assert_non_null(strstr(err, needle));
    assert_non_null(strstr(err, path));
}

/* Every prefix shorter than the file fails cleanly: never a crash, never a model. */
static void test_truncated(void **state) {
    (void)state;
    size_t n;
    char p[SCRATCH_MAX];
    unsigned char *b = model_copy("trunc.model", p, &n);
    size_t cuts[] = {0, 1, 8, 12, 39, 40, 47, 48, 60, 100, n / 2, n - 9, n - 8, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        spit(p, b, cuts[i]);
        expect_load_error(p, cuts[i] < 8 + 40 ? "truncated" : "");
    }
    for (size_t cut = 0; cut < 200; cut++)
        expect_refused(p, b, cut);
    spit(p, b, n - 1);
    expect_load_error(p, "truncated");
    free(b);
}

static void test_corrupted(void **state) {
    (void)state;
    size_t n;
    char p[SCRATCH_MAX];
    unsigned char *b = model_copy("bad.model", p, &n);

    b[0] ^= 0x20; /* magic */
    spit(p, b, n);
    expect_load_error(p, "magic");
    b[0] ^= 0x20;

    b[8] = 99; /* version */
    spit(p, b, n);
    expect_load_error(p, "version");
    b[8] = 1;

    b[16] = 200; /* class count */
    spit(p, b, n);
    expect_load_error(p, "classes");
    b[16] = 4;

    unsigned char save = b[n / 2]; /* one weight byte */
    b[n / 2] ^= 0x01;
    spit(p, b, n);
    expect_load_error(p, "checksum");
    b[n / 2] = save;

    b[n - 1] ^= 0x80; /* the checksum itself */
    spit(p, b, n);
    expect_load_error(p, "checksum");
    b[n - 1] ^= 0x80;

    unsigned char *big = malloc(n + 4); /* trailing bytes */
    assert_non_null(big);
    memcpy(big, b, n);
    memset(big + n, 0, 4);
    spit(p, big, n + 4);
    expect_load_error(p, "oversized");
    free(big);

    spit(p, b, n); /* and the untouched bytes still load */
    char err[256];
    nlu_model *m = nlu_model_load(p, err, sizeof err);
    assert_non_null(m);
    nlu_model_free(m);

    expect_load_error("/nonexistent/dir/x.model", "cannot open");
    free(b);
}

/* Random single-byte corruptions anywhere in the file (a fixed-seed generator): every one
 * is refused with a message, none crashes (the ASan build runs this too). */
static void test_random_flips(void **state) {
    (void)state;
    size_t n;
    char p[SCRATCH_MAX];
    unsigned char *b = model_copy("flip.model", p, &n);
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 300; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        /* Half of the flips in the header and names, where the parsing is. */
        size_t at = (i % 2) ? (size_t)(x % 128) : (size_t)(x % n);
        unsigned char bit = (unsigned char)(1u << ((x >> 32) % 8));
        b[at] ^= bit;
        expect_refused(p, b, n);
        b[at] ^= bit;
    }
    free(b);
}

static int train_text(const char *text, char *err, size_t errlen) {
    char p[160], out[160];
    snprintf(p, sizeof p, "%s/bad.tsv", DIR_);
    snprintf(out, sizeof out, "%s/bad.model", DIR_);
    spit(p, text, strlen(text));
    nlu_train_opts o = {.hash_bits = SMALL_BITS, .folds = 2, .epochs = 2};
    return nlu_model_train(VN, p, &o, out, err, errlen);
}

static void test_train_errors(void **state) {
    (void)state;
    char err[256] = "";
    assert_int_equal(train_text("a\tx\n# comment\n\nb x\n", err, sizeof err), MC_EPARSE);
    assert_non_null(strstr(err, "bad.tsv:4:"));
    assert_int_equal(train_text("a\tx\nB\ty\n", err, sizeof err), MC_EPARSE);
    assert_non_null(strstr(err, "bad.tsv:2:"));
    assert_int_equal(train_text("a\tx\nb\t\n", err, sizeof err), MC_EPARSE);
    assert_non_null(strstr(err, "bad.tsv:2: empty text"));
    assert_int_equal(train_text("a\tx\na\ty\n", err, sizeof err), MC_EPARSE);
    assert_non_null(strstr(err, "at least 2 intents"));
    assert_int_equal(train_text("a\tx\nb\ty\nb\t\xc3\x28\n", err, sizeof err), MC_EUTF8);
    assert_non_null(strstr(err, "bad.tsv:3:"));
    assert_int_equal(train_text("a\tx\r\nb\ty\tz\r\n", err, sizeof err), 0);

    nlu_train_opts o = {.hash_bits = 40};
    char out[160];
    snprintf(out, sizeof out, "%s/x.model", DIR_);
    assert_int_equal(nlu_model_train(VN, FIXTURE, &o, out, err, sizeof err), MC_EINVAL);
    assert_int_equal(nlu_model_train(VN, "/nonexistent.tsv", NULL, out, err, sizeof err), MC_EIO);
    assert_non_null(strstr(err, "/nonexistent.tsv"));
    nlu_train_opts ok = {.hash_bits = SMALL_BITS, .folds = 2, .epochs = 2};
    assert_int_equal(nlu_model_train(VN, FIXTURE, &ok, "/nonexistent/dir/x.model", err, sizeof err),
                     MC_EIO);
}

/* The progress log carries what `motcua train` promises to print. */
static void test_train_log(void **state) {
    (void)state;
    char *buf = NULL, err[256] = "", out[160];
    size_t len = 0;
    FILE *lg = open_memstream(&buf, &len);
    assert_non_null(lg);
    snprintf(out, sizeof out, "%s/log.model", DIR_);
    nlu_train_opts o = {.hash_bits = SMALL_BITS, .folds = 3, .epochs = 4, .log = lg};
    assert_int_equal(nlu_model_train(VN, FIXTURE, &o, out, err, sizeof err), 0);
    fclose(lg);
    assert_non_null(strstr(buf, "epoch  4/4  loss"));
    assert_non_null(strstr(buf, "cv accuracy"));
    assert_non_null(strstr(buf, "calibration: temperature"));
    assert_non_null(strstr(buf, "wrote "));
    free(buf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_classes), cmocka_unit_test(test_predict_heldout),
        cmocka_unit_test(test_determinism),  cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_corrupted),    cmocka_unit_test(test_random_flips),
        cmocka_unit_test(test_train_errors), cmocka_unit_test(test_train_log),
    };
    return cmocka_run_group_tests_name("nlu_model", tests, setup, teardown);
}
