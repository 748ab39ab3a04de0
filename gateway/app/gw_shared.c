/*
 * gw_shared.c — one copy of the data that the API, the console and the
 * understanding engine all read (see gw_shared.h). Before, the API and the
 * console each read wards.csv and the catalog again, with loaders of their
 * own that could drift from the engine's.
 */
#define _GNU_SOURCE /* qsort_r */
#include "gateway/app/gw_shared.h"

#include "core/mc.h"
#include "core/mc_mem.h"
#include "intents/nlu_catalog.h"
#include "vi-nlp/vn_entity.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unicode/ucol.h>

struct gw_shared {
    const nlu_engine *e;    /* borrowed */
    UCollator *coll;        /* Vietnamese collation, owned */
    gw_ward *wards;         /* sorted, owned array of borrowed strings */
    size_t n_wards;         /* entries */
    const nlu_catalog *cat; /* borrowed from the engine */
};

static int cmp_wards(const void *a, const void *b, void *priv) {
    const gw_ward *x = a, *y = b;
    int c = gw_shared_collate(priv, x->name, y->name);
    return c ? c : strcmp(x->id, y->id);
}

gw_shared *gw_shared_new(const nlu_engine *e, char *err, size_t errlen) {
    gw_shared *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->e = e;
    s->cat = nlu_engine_catalog(e);
    UErrorCode st = U_ZERO_ERROR;
    s->coll = ucol_open("vi", &st);
    if (U_FAILURE(st) || !s->coll) {
        snprintf(err, errlen, "ICU: no Vietnamese collation (%s)", u_errorName(st));
        goto fail;
    }
    const vn_extractor *x = nlu_engine_extractor(e);
    size_t n = vn_ward_count(x);
    s->wards = calloc(n ? n : 1, sizeof *s->wards);
    if (!s->wards) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n; i++)
        s->wards[i] =
            (gw_ward){vn_ward_id(x, (int)i), vn_ward_name(x, (int)i), vn_ward_slug(x, (int)i)};
    s->n_wards = n;
    qsort_r(s->wards, n, sizeof *s->wards, cmp_wards, s);
    return s;
fail:
    gw_shared_free(s);
    return NULL;
}

void gw_shared_free(gw_shared *s) {
    if (!s)
        return;
    if (s->coll)
        ucol_close(s->coll);
    MC_FREE_ALL(s->wards, s);
}

size_t gw_shared_ward_count(const gw_shared *s) {
    return s->n_wards;
}

const gw_ward *gw_shared_ward_at(const gw_shared *s, size_t i) {
    return i < s->n_wards ? &s->wards[i] : NULL;
}

const gw_ward *gw_shared_ward_find(const gw_shared *s, const char *key) {
    for (size_t i = 0; key && i < s->n_wards; i++)
        if (!strcmp(s->wards[i].id, key) || !strcmp(s->wards[i].slug, key))
            return &s->wards[i];
    return NULL;
}

size_t gw_shared_procedure_count(const gw_shared *s) {
    return nlu_catalog_count(s->cat);
}

const char *gw_shared_procedure_id(const gw_shared *s, size_t i) {
    const nlu_procedure *p = nlu_catalog_at(s->cat, i);
    return p ? p->id : NULL;
}

const char *gw_shared_procedure_name(const gw_shared *s, size_t i) {
    const nlu_procedure *p = nlu_catalog_at(s->cat, i);
    return p ? p->name : NULL;
}

int gw_shared_procedure_ok(const gw_shared *s, const char *id) {
    return id && nlu_catalog_get(s->cat, id) != NULL;
}

int gw_shared_collate(const gw_shared *s, const char *a, const char *b) {
    UErrorCode st = U_ZERO_ERROR;
    int c = (int)ucol_strcollUTF8(s->coll, a, -1, b, -1, &st);
    return U_FAILURE(st) ? strcmp(a, b) : c;
}
