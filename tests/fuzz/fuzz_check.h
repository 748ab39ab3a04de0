/*
 * tests/fuzz/fuzz_check.h — the one way every fuzz target reports a broken promise: CHECK
 * prints the file, line and condition and aborts, so libFuzzer saves the input like any
 * crash and tests/fuzz/driver.c fails the corpus replay.
 */
#ifndef FUZZ_CHECK_H
#define FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

/* A broken promise: say which and abort. */
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
