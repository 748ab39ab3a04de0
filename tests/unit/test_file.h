/*
 * tests/unit/test_file.h — a whole file read into memory, for the test programs: the unit
 * tests' fixtures and check files, the fuzz driver's corpus (tests/fuzz/driver.c) and the
 * eval's gold lines (tests/eval/eval.c). One reader, capped, that says why it failed.
 * Depends on the C library only (no cmocka), so that every one of them can include it.
 */
#ifndef TEST_FILE_H
#define TEST_FILE_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Size of the path t_write_tmp gives. */
#define T_TMP_PATH_MAX 64

/* The bytes of path, NUL-terminated (*len, when len is not NULL, excludes the NUL),
 * malloc'd: the caller frees. NULL when the file cannot be opened or read, holds more
 * than max bytes, or memory runs out; the reason is printed to stderr after "who: path: ". */
static inline char *t_read_file(const char *who, const char *path, size_t max, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: %s: %s\n", who, path, strerror(errno));
        return NULL;
    }
    char *b = malloc(max + 1);
    size_t n = b ? fread(b, 1, max + 1, f) : 0;
    int bad = ferror(f);
    fclose(f);
    if (!b || bad || n > max) {
        fprintf(stderr, "%s: %s: %s\n", who, path,
                !b    ? "out of memory"
                : bad ? "read error"
                      : "too large");
        free(b);
        return NULL;
    }
    b[n] = '\0';
    if (len)
        *len = n;
    return b;
}

/* Writes text to a fresh file /tmp/<name>_XXXXXX, its path into path[T_TMP_PATH_MAX];
 * 0, or -1 (the reason printed to stderr). The caller removes the file. */
static inline int t_write_tmp(char *path, const char *name, const char *text) {
    snprintf(path, T_TMP_PATH_MAX, "/tmp/%s_XXXXXX", name);
    int fd = mkstemp(path);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    int ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

#endif
