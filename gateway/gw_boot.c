/*
 * gw_boot.c — configuration, data folder and understanding engine, as every
 * command needs them (see gw_boot.h).
 */
#include "gateway/gw_boot.h"

#include "core/mc.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

/* Loads file + environment + flags; prints every problem and returns NULL on any. */
gw_config *gw_boot_config(const gw_boot_opts *o, const char *prog) {
    gw_config *c = gw_config_new();
    if (!c) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return NULL;
    }
    gw_errlist errs = {0};
    if (o->config)
        gw_config_load_file(c, o->config, &errs);
    gw_config_apply_env(c, environ, &errs);
    if (o->listen)
        gw_config_set(c, "server", "listen", o->listen, "--listen", &errs);
    if (o->redis)
        gw_config_set(c, "redis", "url", o->redis, "--redis", &errs);
    if (errs.n == 0)
        gw_config_validate(c, &errs);
    if (errs.n) {
        for (size_t i = 0; i < errs.n; i++)
            fprintf(stderr, "%s\n", errs.lines[i]);
        gw_errlist_clear(&errs);
        gw_config_free(c);
        return NULL;
    }
    return c;
}

static int file_exists(const char *dir, const char *rel) {
    char p[PATH_MAX];
    struct stat st;
    if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, rel) >= sizeof p)
        return 0;
    return stat(p, &st) == 0;
}

/*
 * Finds the folder holding intents/data and gateway/www: [server] share_dir
 * when set, else the working directory, the folders above the executable (a
 * build tree), then /usr/share/motcua (an installed one).
 */
int gw_boot_share_dir(const gw_config *c, char *out, size_t n) {
    const char *probe = "intents/data/procedures.txt";
    if (*c->share_dir) {
        snprintf(out, n, "%s", c->share_dir);
        return file_exists(out, probe) ? 0 : MC_ENOTFOUND;
    }
    char exe[PATH_MAX];
    ssize_t l = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[l > 0 ? l : 0] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0';
    char c1[PATH_MAX + 8], c2[PATH_MAX + 8];
    snprintf(c1, sizeof c1, "%s/..", exe);
    snprintf(c2, sizeof c2, "%s/../..", exe);
    const char *cands[] = {".", c1, c2, "/usr/share/motcua"};
    for (size_t i = 0; i < MC_ARRAY_LEN(cands); i++)
        if (file_exists(cands[i], probe)) {
            snprintf(out, n, "%s", cands[i]);
            return 0;
        }
    return MC_ENOTFOUND;
}

/*
 * The trained intent model: [nlu] model (MOTCUA_NLU_MODEL) when set, which must then
 * exist; else nlu.model next to the executable (a build tree: build/motcua and
 * build/nlu.model); else <share>/intents/data/nlu.model (an installed tree). Returns 0 with
 * the path in out, MC_ENOTFOUND when there is none (the engine then runs on its phrase
 * rules), MC_EINVAL when the configured file is missing (message printed).
 */
static int find_model(const gw_config *c, const char *share, char *out, size_t n,
                      const char *prog) {
    struct stat st;
    if (*c->nlu_model) {
        snprintf(out, n, "%s", c->nlu_model);
        if (stat(out, &st) == 0)
            return 0;
        fprintf(stderr, "%s: [nlu] model %s: %s\n", prog, c->nlu_model, strerror(errno));
        return MC_EINVAL;
    }
    char exe[PATH_MAX];
    ssize_t l = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[l > 0 ? l : 0] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash) {
        *slash = '\0';
        if ((size_t)snprintf(out, n, "%s/nlu.model", exe) < n && stat(out, &st) == 0)
            return 0;
    }
    if ((size_t)snprintf(out, n, "%s/intents/data/nlu.model", share) < n && stat(out, &st) == 0)
        return 0;
    return MC_ENOTFOUND;
}

nlu_engine *gw_boot_nlu(const gw_config *c, const char *share, const char *prog) {
    char model[PATH_MAX + 32], err[512];
    int mrc = find_model(c, share, model, sizeof model, prog);
    if (mrc == MC_EINVAL)
        return NULL;
    nlu_engine_opts eo = {share, mrc ? NULL : model}; /* no model: the phrase rules */
    nlu_engine *e = nlu_engine_new(&eo, err, sizeof err);
    if (!e)
        fprintf(stderr, "%s: %s\n", prog, err);
    return e;
}
