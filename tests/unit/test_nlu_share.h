/*
 * tests/unit/test_nlu_share.h — what the intents tests share: a throw-away share folder
 * (copies of the real intents/data files, one of which a test then breaks on purpose, and
 * a link to the real vi-nlp/data), the engine opened on the real data with or without a
 * model trained on the real corpus, and the reader of the check files (`gold<TAB>text`).
 * Tests run from the repository root.
 */
#ifndef TEST_NLU_SHARE_H
#define TEST_NLU_SHARE_H

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "intents/nlu.h"
#include "intents/nlu_model.h"
#include "test_file.h"
#include "test_vn_share.h"
#include "vi-nlp/vn_norm.h"

#define SHARE_MAX 512
#define SHARE_FILE_MAX (16u << 20) /* largest data or check file share_slurp reads, bytes */

static const char *const share_files[] = {"procedures.txt", "rules.txt", "replies.txt",
                                          "issue_categories.txt"};

/* Reads a whole file (at most SHARE_FILE_MAX bytes); the caller frees. NULL on error (the
 * reason printed). */
static inline char *share_slurp(const char *path) {
    return t_read_file("share", path, SHARE_FILE_MAX, NULL);
}

static inline int share_write(const char *dir, const char *name, const char *content) {
    char path[SHARE_MAX + 64];
    snprintf(path, sizeof(path), "%s/intents/data/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t n = strlen(content);
    int ok = fwrite(content, 1, n, f) == n;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* Creates the folder in dir[SHARE_MAX]; returns 0 or -1. */
static inline int share_make(char *dir) {
    char cwd[PATH_MAX], path[SHARE_MAX + 64], src[PATH_MAX + 64];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, SHARE_MAX, "%s/motcua-nlu-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!getcwd(cwd, sizeof(cwd)) || !mkdtemp(dir))
        return -1;
    snprintf(path, sizeof(path), "%s/intents", dir);
    if (mkdir(path, 0700) != 0)
        return -1;
    snprintf(path, sizeof(path), "%s/intents/data", dir);
    if (mkdir(path, 0700) != 0)
        return -1;
    snprintf(path, sizeof(path), "%s/vi-nlp", dir);
    if (mkdir(path, 0700) != 0)
        return -1;
    snprintf(path, sizeof(path), "%s/vi-nlp/data", dir);
    snprintf(src, sizeof(src), "%s/vi-nlp/data", cwd);
    if (symlink(src, path) != 0)
        return -1;
    for (size_t i = 0; i < sizeof(share_files) / sizeof(share_files[0]); i++) {
        snprintf(src, sizeof(src), "intents/data/%s", share_files[i]);
        char *c = share_slurp(src);
        int rc = c ? share_write(dir, share_files[i], c) : -1;
        free(c);
        if (rc)
            return -1;
    }
    return 0;
}

static inline void share_rm(const char *dir) {
    char path[SHARE_MAX + 64];
    for (size_t i = 0; i < sizeof(share_files) / sizeof(share_files[0]); i++) {
        snprintf(path, sizeof(path), "%s/intents/data/%s", dir, share_files[i]);
        unlink(path);
    }
    snprintf(path, sizeof(path), "%s/intents/data", dir);
    rmdir(path);
    snprintf(path, sizeof(path), "%s/intents", dir);
    rmdir(path);
    snprintf(path, sizeof(path), "%s/vi-nlp/data", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/vi-nlp", dir);
    rmdir(path);
    rmdir(dir);
}

/* Returns a copy of content with the line `add` inserted after the first line equal to
 * `after` (or replacing that line when replace is 1); *lineno receives the number of the
 * new line. NULL when no line equals `after`. The caller frees. */
static inline char *share_edit(const char *content, const char *after, const char *add, int replace,
                               int *lineno) {
    size_t alen = strlen(after);
    int line = 1;
    for (const char *p = content; *p; line++) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        const char *next = nl ? nl + 1 : p + len;
        if (len == alen && memcmp(p, after, alen) == 0) {
            char *out = malloc(strlen(content) + strlen(add) + 4);
            if (!out)
                return NULL;
            size_t head = (size_t)(p - content);
            memcpy(out, content, head);
            if (replace)
                sprintf(out + head, "%s\n%s", add, next);
            else
                sprintf(out + head, "%.*s\n%s\n%s", (int)len, p, add, next);
            *lineno = replace ? line : line + 1;
            return out;
        }
        p = next;
    }
    return NULL;
}

/* The engine on the data files under share, with model (NULL: the phrase rules alone);
 * prints why it cannot open. */
static inline nlu_engine *share_engine(const char *share, const char *model) {
    char err[512] = "";
    nlu_engine_opts o = {share, model};
    nlu_engine *e = nlu_engine_new(&o, err, sizeof(err));
    if (!e)
        print_error("%s\n", err);
    return e;
}

/* The engine the tests of one program share: set by a group set-up below (or the
 * program's own, which calls one of them) and freed by share_teardown. */
static nlu_engine *E;
/* The throw-away share folder and the model file of share_setup_model ("" when none). */
static char share_dir[SHARE_MAX], share_model[SHARE_MAX + 32];

/* Folds of the models the tests train: they need the model, not its cross-validation. */
#define SHARE_TRAIN_FOLDS 2

/* cmocka group set-up: E on the real data with the phrase rules alone. */
static inline int share_setup(void **state) {
    (void)state;
    E = share_engine(".", NULL);
    return E ? 0 : -1;
}

/* cmocka group set-up: makes a share folder, trains a model on the real
 * intents/data/train.tsv into it and opens E on the real data with that model; -1 on
 * failure (printed). */
static inline int share_setup_model(void **state) {
    (void)state;
    char err[512] = "";
    if (share_make(share_dir) != 0)
        return -1;
    snprintf(share_model, sizeof share_model, "%s/nlu.model", share_dir);
    vn_normalizer *vn = vn_share_normalizer(VN_SHARE_SRC);
    if (!vn)
        return -1;
    nlu_train_opts to = {0};
    to.folds = SHARE_TRAIN_FOLDS;
    int rc = nlu_model_train(vn, "intents/data/train.tsv", &to, share_model, err, sizeof(err));
    vn_normalizer_free(vn);
    if (rc) {
        print_error("%s\n", err);
        return -1;
    }
    E = share_engine(".", share_model);
    return E ? 0 : -1;
}

/* cmocka group teardown of either set-up: frees E, and the model and its folder. */
static inline int share_teardown(void **state) {
    (void)state;
    nlu_engine_free(E);
    E = NULL;
    if (share_model[0]) {
        remove(share_model);
        share_rm(share_dir);
        share_model[0] = '\0';
    }
    return 0;
}

/* The next line `gold<TAB>text` of a check file read whole into *p (edited in place: both
 * get their NUL; '#' comments and blank lines are skipped; *lineno counts the lines, for
 * messages). Returns 1, or 0 at the end; a line without a tab fails the test. */
static inline int share_check_line(char **p, const char *file, int *lineno, const char **gold,
                                   const char **text) {
    while (**p) {
        char *line = *p, *nl = strchr(line, '\n');
        *p = nl ? nl + 1 : line + strlen(line);
        if (nl)
            *nl = '\0';
        (*lineno)++;
        if (*line == '\0' || *line == '#')
            continue;
        char *tab = strchr(line, '\t');
        if (!tab)
            print_error("%s:%d: no tab\n", file, *lineno);
        assert_non_null(tab);
        *tab = '\0';
        *gold = line;
        *text = tab + 1;
        return 1;
    }
    return 0;
}

/* The index of gold in ids[0..n); an id not listed fails the test (`what` names the kind
 * of id in the message). */
static inline size_t share_id_index(const char *const *ids, size_t n, const char *gold,
                                    const char *what, const char *file, int lineno) {
    size_t k = 0;
    while (k < n && strcmp(ids[k], gold) != 0)
        k++;
    if (k == n)
        print_error("%s:%d: unknown %s '%s'\n", file, lineno, what, gold);
    assert_true(k < n);
    return k;
}

#endif
