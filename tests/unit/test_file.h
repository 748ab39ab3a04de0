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

#endif
