/*
 * tests/unit/test_vn_share.h — a throw-away copy of vi-nlp/data for the loader tests of
 * vi-nlp: the real files, one of which a test replaces or leaves out. Tests run from the
 * repository root; include after cmocka.h.
 */
#ifndef TEST_VN_SHARE_H
#define TEST_VN_SHARE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vi-nlp/vn_norm.h"

#define VN_SHARE_SRC "vi-nlp/data"
/* Size of the folder name vn_share_make writes. */
#define VN_SHARE_DIR_MAX 64

/* A normalizer with the tables of data_dir loaded, or without tables when data_dir is
 * NULL; NULL on failure (the reason printed). The caller frees. */
static inline vn_normalizer *vn_share_normalizer(const char *data_dir) {
    char err[512] = "";
    vn_normalizer *n = vn_normalizer_new(err, sizeof(err));
    if (n && data_dir && vn_normalizer_load(n, data_dir, err, sizeof(err)) != 0) {
        vn_normalizer_free(n);
        n = NULL;
    }
    if (!n)
        print_error("%s\n", err);
    return n;
}

/* Makes dir[VN_SHARE_DIR_MAX], a temporary folder holding a copy of each of files[0..n)
 * from vi-nlp/data, except that `file` (when not NULL) holds content instead, or is left
 * out when content is NULL. */
static inline void vn_share_make(char *dir, const char *const *files, size_t n, const char *file,
                                 const char *content) {
    snprintf(dir, VN_SHARE_DIR_MAX, "/tmp/vn_test_XXXXXX");
    assert_non_null(mkdtemp(dir));
    for (size_t i = 0; i < n; i++) {
        char src[256], dst[256];
        int mine = file && strcmp(file, files[i]) == 0;
        if (mine && !content)
            continue;
        snprintf(src, sizeof(src), "%s/%s", VN_SHARE_SRC, files[i]);
        snprintf(dst, sizeof(dst), "%s/%s", dir, files[i]);
        FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
        assert_non_null(in);
        assert_non_null(out);
        if (mine) {
            fputs(content, out);
        } else {
            char buf[4096];
            size_t k;
            while ((k = fread(buf, 1, sizeof(buf), in)) > 0)
                fwrite(buf, 1, k, out);
        }
        fclose(in);
        fclose(out);
    }
}

/* Removes what vn_share_make made. */
static inline void vn_share_rm(const char *dir, const char *const *files, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char p[256];
        snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
}

#endif
