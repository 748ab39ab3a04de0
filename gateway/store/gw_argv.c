/*
 * gw_argv.c — argument vectors: a command built argument by argument (binary-safe, with
 * printf-formatted arguments owned by the vector), then sent with gw_argv_send.
 */
#include "gateway/store/gw_store.h"

#include "core/mc.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int argv_grow(gw_argv *a) {
    if (a->n < a->cap)
        return 0;
    size_t cap = a->cap ? a->cap * 2 : 16;
    const char **v = realloc(a->v, cap * sizeof *v);
    if (!v)
        return -1;
    a->v = v;
    size_t *l = realloc(a->l, cap * sizeof *l);
    if (!l)
        return -1;
    a->l = l;
    char **o = realloc(a->owned, cap * sizeof *o);
    if (!o)
        return -1;
    a->owned = o;
    a->cap = cap;
    return 0;
}

void gw_argv_add(gw_argv *a, const char *s, size_t len) {
    if (a->oom || argv_grow(a)) {
        a->oom = 1;
        return;
    }
    a->v[a->n] = s ? s : "";
    a->l[a->n] = s ? len : 0;
    a->n++;
}

void gw_argv_adds(gw_argv *a, const char *s) {
    gw_argv_add(a, s, s ? strlen(s) : 0);
}

void gw_argv_addf(gw_argv *a, const char *fmt, ...) {
    char *s = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n >= 0 && !a->oom && !argv_grow(a) && (s = malloc((size_t)n + 1))) {
        va_start(ap, fmt);
        vsnprintf(s, (size_t)n + 1, fmt, ap);
        va_end(ap);
        a->owned[a->n_owned++] = s;
        gw_argv_add(a, s, (size_t)n);
        return;
    }
    a->oom = 1;
}

int gw_argv_send(gw_store *s, gw_argv *a, gw_store_cb *cb, void *priv) {
    if (a->oom || a->n == 0 || a->n > INT_MAX)
        return MC_ENOMEM;
    return gw_store_cmd(s, cb, priv, (int)a->n, a->v, a->l);
}

void gw_argv_free(gw_argv *a) {
    for (size_t i = 0; i < a->n_owned; i++)
        free(a->owned[i]);
    free(a->owned);
    free(a->v);
    free(a->l);
    memset(a, 0, sizeof *a);
}
