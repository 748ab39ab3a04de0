/*
 * vi-nlp/vn_dict.c — a phrase dictionary over the tokens of a vn_text.
 *
 * Procedure aliases ("giấy phép xây dựng", "gpxd"), issue keywords ("ổ gà", "ngập") and
 * ward names ("Bến Thành") are token sequences. Each phrase is normalized once, with the
 * normalizer used for messages, and indexed twice by its first token: by the folded bytes
 * (diacritics kept) and by the plain bytes. A lookup at a text position follows the one or
 * two chains of phrases starting with that token and compares the remaining tokens, so a
 * message of n tokens costs about n hash lookups and no allocation.
 *
 * Token equality: the folded bytes are equal (an "exact" match), or the text token was
 * typed without diacritics and the plain bytes are equal. A text token typed with other
 * diacritics does not match ("bán" is not "bạn"), which keeps accented text precise.
 */
#include "vi-nlp/vn_dict.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mc.h"
#include "vi-nlp/vn_internal.h"

typedef struct dict_tok {
    uint32_t f_off, f_len; /* folded bytes in the arena */
    uint32_t p_off, p_len; /* plain bytes in the arena */
} dict_tok;

typedef struct dict_entry {
    int value;      /* caller's value */
    uint32_t first; /* first token in toks */
    uint32_t ntok;  /* number of tokens */
    int32_t next_f; /* next entry with the same folded first token, -1 = end */
    int32_t next_p; /* next entry with the same plain first token, -1 = end */
} dict_entry;

struct vn_dict {
    vn_smap *by_f;   /* folded first token -> first entry of its chain */
    vn_smap *by_p;   /* plain first token -> first entry of its chain */
    int32_t *tail_f; /* per entry heading a chain: its last entry (else unused) */
    int32_t *tail_p;
    dict_entry *e;
    size_t n, cap;
    dict_tok *toks;
    size_t ntoks, captoks;
    char *arena;
    size_t alen, acap;
};

vn_dict *vn_dict_new(void) {
    vn_dict *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->by_f = vn_smap_new();
    d->by_p = vn_smap_new();
    if (!d->by_f || !d->by_p) {
        vn_dict_free(d);
        return NULL;
    }
    return d;
}

void vn_dict_free(vn_dict *d) {
    if (!d)
        return;
    vn_smap_free(d->by_f);
    vn_smap_free(d->by_p);
    free(d->tail_f);
    free(d->tail_p);
    free(d->e);
    free(d->toks);
    free(d->arena);
    free(d);
}

size_t vn_dict_size(const vn_dict *d) {
    return d ? d->n : 0;
}

static int reserve(vn_dict *d, size_t ntok, size_t bytes) {
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 64;
        dict_entry *e = realloc(d->e, cap * sizeof(*e));
        if (!e)
            return MC_ENOMEM;
        d->e = e;
        int32_t *tf = realloc(d->tail_f, cap * sizeof(int32_t));
        if (!tf)
            return MC_ENOMEM;
        d->tail_f = tf;
        int32_t *tp = realloc(d->tail_p, cap * sizeof(int32_t));
        if (!tp)
            return MC_ENOMEM;
        d->tail_p = tp;
        d->cap = cap;
    }
    if (d->ntoks + ntok > d->captoks) {
        size_t cap = d->captoks ? d->captoks * 2 : 256;
        while (cap < d->ntoks + ntok)
            cap *= 2;
        dict_tok *t = realloc(d->toks, cap * sizeof(*t));
        if (!t)
            return MC_ENOMEM;
        d->toks = t;
        d->captoks = cap;
    }
    if (d->alen + bytes > d->acap) {
        size_t cap = d->acap ? d->acap * 2 : 4096;
        while (cap < d->alen + bytes)
            cap *= 2;
        if (cap > UINT32_MAX)
            return MC_ETOOBIG;
        char *a = realloc(d->arena, cap);
        if (!a)
            return MC_ENOMEM;
        d->arena = a;
        d->acap = cap;
    }
    return 0;
}

/* Appends entry idx to the chain of key in map (heads in the map, links via next). */
static int chain(vn_dict *d, vn_smap *map, int32_t *tail, int use_p, const char *key, size_t len,
                 int32_t idx) {
    int32_t head = -1;
    int rc = vn_smap_put(map, key, len, idx, &head);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        int32_t last = tail[head];
        if (use_p)
            d->e[last].next_p = idx;
        else
            d->e[last].next_f = idx;
        tail[head] = idx;
    } else {
        tail[idx] = idx;
    }
    return 0;
}

int vn_dict_add(vn_dict *d, vn_normalizer *n, const char *phrase, size_t len, int value, char *err,
                size_t errlen) {
    vn_text t;
    int rc;
    if (!d || !n || (!phrase && len) || value < 0) {
        if (err && errlen)
            snprintf(err, errlen, "vn_dict_add: invalid argument");
        return MC_EINVAL;
    }
    if ((rc = vn_normalize(n, phrase, len, &t)) != 0) {
        if (err && errlen)
            snprintf(err, errlen, "vn_dict_add: %s", mc_strerror(rc));
        return rc;
    }
    if (t.ntok == 0 || t.ntok > VN_DICT_MAX_TOKENS) {
        if (err && errlen)
            snprintf(err, errlen, "vn_dict_add: phrase '%.*s' has %zu tokens (1..%d)",
                     (int)(len > 64 ? 64 : len), phrase, t.ntok, VN_DICT_MAX_TOKENS);
        vn_text_free(&t);
        return MC_EINVAL;
    }
    if ((rc = reserve(d, t.ntok, t.folded_len + t.plain_len)) != 0)
        goto fail;
    int32_t idx = (int32_t)d->n;
    dict_entry *e = &d->e[d->n];
    e->value = value;
    e->first = (uint32_t)d->ntoks;
    e->ntok = (uint32_t)t.ntok;
    e->next_f = e->next_p = -1;
    for (size_t i = 0; i < t.ntok; i++) {
        const vn_tok *k = &t.tok[i];
        dict_tok *o = &d->toks[d->ntoks + i];
        o->f_off = (uint32_t)d->alen;
        o->f_len = k->f_len;
        memcpy(d->arena + d->alen, t.folded + k->f_off, k->f_len);
        d->alen += k->f_len;
        o->p_off = (uint32_t)d->alen;
        o->p_len = k->p_len;
        memcpy(d->arena + d->alen, t.plain + k->p_off, k->p_len);
        d->alen += k->p_len;
    }
    d->ntoks += t.ntok;
    d->n++;
    const dict_tok *f0 = &d->toks[e->first];
    if ((rc = chain(d, d->by_f, d->tail_f, 0, d->arena + f0->f_off, f0->f_len, idx)) != 0 ||
        (rc = chain(d, d->by_p, d->tail_p, 1, d->arena + f0->p_off, f0->p_len, idx)) != 0)
        goto fail;
    vn_text_free(&t);
    return 0;
fail:
    if (err && errlen)
        snprintf(err, errlen, "vn_dict_add: %s", mc_strerror(rc));
    vn_text_free(&t);
    return rc;
}

/* 2 = exact, 1 = plain only, 0 = no match, for text token tk against phrase token q. */
static int tok_match(const vn_dict *d, const vn_text *t, const vn_tok *tk, const dict_tok *q) {
    if (tk->f_len == q->f_len && memcmp(t->folded + tk->f_off, d->arena + q->f_off, q->f_len) == 0)
        return 2;
    if (!(tk->flags & VN_TOK_ACCENTED) && tk->p_len == q->p_len &&
        memcmp(t->plain + tk->p_off, d->arena + q->p_off, q->p_len) == 0)
        return 1;
    return 0;
}

/* Matches entry e at text token i: 0 = no, else 1 + (1 when exact). */
static int entry_match(const vn_dict *d, const vn_text *t, size_t i, const dict_entry *e) {
    if (i + e->ntok > t->ntok)
        return 0;
    int exact = 1;
    for (uint32_t k = 0; k < e->ntok; k++) {
        int m = tok_match(d, t, &t->tok[i + k], &d->toks[e->first + k]);
        if (!m)
            return 0;
        if (m == 1)
            exact = 0;
    }
    return 1 + exact;
}

/* Considers entry idx for position i and keeps it in *best when it beats the current. */
static void consider(const vn_dict *d, const vn_text *t, size_t i, int32_t idx, int32_t *best,
                     int *best_exact) {
    const dict_entry *e = &d->e[idx];
    int m = entry_match(d, t, i, e);
    if (!m)
        return;
    int exact = m == 2;
    if (*best < 0) {
        *best = idx;
        *best_exact = exact;
        return;
    }
    const dict_entry *b = &d->e[*best];
    if (e->ntok > b->ntok || (e->ntok == b->ntok && exact > *best_exact) ||
        (e->ntok == b->ntok && exact == *best_exact && idx < *best)) {
        *best = idx;
        *best_exact = exact;
    }
}

size_t vn_dict_match(const vn_dict *d, const vn_text *t, vn_match *out, size_t max) {
    size_t found = 0;
    if (!d || !t || !t->tok || d->n == 0)
        return 0;
    for (size_t i = 0; i < t->ntok;) {
        const vn_tok *tk = &t->tok[i];
        int32_t best = -1;
        int best_exact = 0;
        for (int32_t q = vn_smap_get_h(d->by_f, t->folded + tk->f_off, tk->f_len, tk->f_hash);
             q >= 0; q = d->e[q].next_f)
            consider(d, t, i, q, &best, &best_exact);
        if (!(tk->flags & VN_TOK_ACCENTED))
            for (int32_t q = vn_smap_get_h(d->by_p, t->plain + tk->p_off, tk->p_len, tk->p_hash);
                 q >= 0; q = d->e[q].next_p)
                consider(d, t, i, q, &best, &best_exact);
        if (best < 0) {
            i++;
            continue;
        }
        if (found < max)
            out[found] = (vn_match){d->e[best].value, i, i + d->e[best].ntok, best_exact};
        found++;
        i += d->e[best].ntok;
    }
    return found;
}
