/*
 * tests/fuzz/driver.c — runs a libFuzzer target without libFuzzer: every file named on the
 * command line, and every regular file inside every folder named, in name order, once.
 *
 * The gcc builds link it with each tests/fuzz/fuzz_<name>.c (build/asan/tests/
 * fuzz_<name>_corpus) so that `make test` replays that target's seed corpus
 * (tests/fuzz/corpus/<name>/) on each run; `make fuzz` uses clang's libFuzzer instead.
 * A crash or a sanitizer report fails the run; otherwise it prints one summary line and
 * exits 0.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/unit/test_file.h"

#define DRIVER_MAX_INPUT (1u << 20) /* largest corpus file replayed, bytes */

/* Optional in a target, as with libFuzzer: when defined, called once before the first input. */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t n_inputs, n_bytes;

static int run_file(const char *path) {
    size_t n;
    char *buf = t_read_file("driver", path, DRIVER_MAX_INPUT, &n);
    if (!buf)
        return -1;
    /* An exact-size copy, so ASan sees reads past the input's end. */
    uint8_t *exact = malloc(n ? n : 1);
    if (!exact) {
        free(buf);
        return -1;
    }
    memcpy(exact, buf, n);
    free(buf);
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    n_inputs++;
    n_bytes += n;
    return 0;
}

static int run_dir(const char *dir) {
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    if (n < 0) {
        fprintf(stderr, "driver: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        char p[PATH_MAX];
        struct stat st;
        if (names[i]->d_name[0] != '.' &&
            (size_t)snprintf(p, sizeof p, "%s/%s", dir, names[i]->d_name) < sizeof p &&
            stat(p, &st) == 0 && S_ISREG(st.st_mode) && run_file(p))
            rc = -1;
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
        return 2;
    }
    if (LLVMFuzzerInitialize != NULL)
        LLVMFuzzerInitialize(&argc, &argv);
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "driver: %s: %s\n", argv[i], strerror(errno));
            rc = 1;
        } else if (S_ISDIR(st.st_mode) ? run_dir(argv[i]) : run_file(argv[i])) {
            rc = 1;
        }
    }
    printf("fuzz corpus: %zu inputs (%zu bytes) replayed%s\n", n_inputs, n_bytes,
           rc ? ", some could not be read" : ", no finding");
    return rc;
}
