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
 *
 * Typos (vn_dict_match_fuzzy): every token of a phrase of two or more tokens is also
 * indexed by its plain bytes, with its position in the phrase. A text token equal to one
 * of them anchors the phrase at the position that lines the two up; the other tokens are
 * then compared with a cost (diacritics only: cheap; one letter: an edit, Damerau-
 * Levenshtein distance 1 on the plain bytes). Only tokens left over by the exact matches
 * are looked at, so a message typed correctly pays one hash lookup per left-over token.
 */
#include "vi-nlp/vn_dict.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mc.h"
#include "core/mc_mem.h"
#include "vi-nlp/vn_internal.h"

typedef struct dict_tok {
    uint32_t f_off, f_len; /* folded bytes in the arena */
    uint32_t p_off, p_len; /* plain bytes in the arena */
} dict_tok;

/* Bits of each key filter (a power of two): a few hundred phrases set well under 10%. */
#define BLOOM_BITS 4096
#define BLOOM_WORDS (BLOOM_BITS / 64)
enum { BL_F, BL_P, BL_ANY };

static void bloom_set(uint64_t *b, uint64_t h) {
    b[(h >> 6) & (BLOOM_WORDS - 1)] |= 1ULL << (h & 63);
}

/* 0 when no key of the filter hashes to h (then the map surely lacks it). */
static int bloom_has(const uint64_t *b, uint64_t h) {
    return (int)(b[(h >> 6) & (BLOOM_WORDS - 1)] >> (h & 63) & 1);
}

/* A token of a phrase of 2+ tokens, for the typo index. Its key is its plain bytes, then
 * 0x01, '>' and the first plain letter of the next token (or '<' and that of the previous
 * one, for the last token): a text token anchors the phrase only when its neighbour starts
 * like the phrase's (a typo rarely hits a first letter, and the rules of fuzzy_at refuse
 * most that do), so nearly every lookup misses at the key filter. */
typedef struct dict_ref {
    int32_t entry; /* the phrase */
    uint32_t k;    /* its token index in the phrase */
    int32_t next;  /* next ref with the same key, -1 = end */
} dict_ref;

/* Longest plain token that can anchor a typo match (longer ones are never looked up). */
#define REF_TOKEN_MAX 60

/* vn_hash of the ref key of a token whose plain bytes hash to ph (vn_hash is FNV-1a, so
 * it goes on from there: three more bytes instead of the whole token). */
static uint64_t ref_hash(uint64_t ph, char dir, char nb) {
    const unsigned char more[3] = {0x01, (unsigned char)dir, (unsigned char)nb};
    uint64_t h = ph;
    for (int i = 0; i < 3; i++)
        h = (h ^ more[i]) * 1099511628211ULL;
    return h ? h : 1;
}

/* Writes the ref key of plain token p[0..len) with neighbour direction dir ('>' or '<')
 * and neighbour letter nb into key (REF_TOKEN_MAX + 3 bytes); returns its length, or 0
 * when the token is too long. */
static size_t ref_key(const char *p, size_t len, char dir, char nb, char *key) {
    if (len > REF_TOKEN_MAX)
        return 0;
    memcpy(key, p, len);
    key[len] = 0x01;
    key[len + 1] = dir;
    key[len + 2] = nb;
    return len + 3;
}

typedef struct dict_entry {
    int value;      /* caller's value */
    uint32_t first; /* first token in toks */
    uint32_t ntok;  /* number of tokens */
    int32_t next_f; /* next entry with the same folded first token, -1 = end */
    int32_t next_p; /* next entry with the same plain first token, -1 = end */
} dict_entry;

struct vn_dict {
    vn_smap *by_f; /* folded first token -> first entry of its chain */
    vn_smap *by_p; /* plain first token -> first entry of its chain */
    /* One bit per key hash of by_f, by_p and by_any: most tokens of a message start no
     * phrase, and one bit answers that without a probe of the map. */
    uint64_t bloom[3][BLOOM_WORDS];
    int32_t *tail_f; /* per entry heading a chain: its last entry (else unused) */
    int32_t *tail_p;
    dict_entry *e;
    size_t n, cap;
    dict_tok *toks;
    size_t ntoks, captoks;
    char *arena;
    size_t alen, acap;
    vn_smap *by_any; /* ref key (see ref_key) of a token of a phrase of 2+ tokens -> first
                        ref */
    int32_t *tail_r; /* per ref heading a chain: its last ref */
    dict_ref *refs;  /* the typo index */
    size_t nrefs, caprefs;
};

vn_dict *vn_dict_new(void) {
    vn_dict *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->by_f = vn_smap_new();
    d->by_p = vn_smap_new();
    d->by_any = vn_smap_new();
    if (!d->by_f || !d->by_p || !d->by_any) {
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
    vn_smap_free(d->by_any);
    MC_FREE_ALL(d->tail_r, d->refs, d->tail_f, d->tail_p, d->e, d->toks, d->arena, d);
}

size_t vn_dict_size(const vn_dict *d) {
    return d ? d->n : 0;
}

/* First capacities of the entry, token and arena arrays. */
#define DICT_FIRST_ENTRIES 64
#define DICT_FIRST_TOKS 256
#define DICT_FIRST_ARENA 4096

static int reserve(vn_dict *d, size_t ntok, size_t bytes) {
    if (d->n == d->cap) { /* e, tail_f and tail_p share one capacity */
        size_t cap = d->cap ? d->cap * 2 : DICT_FIRST_ENTRIES;
        if (vn_resize((void **)&d->e, cap, sizeof(dict_entry)) != 0 ||
            vn_resize((void **)&d->tail_f, cap, sizeof(int32_t)) != 0 ||
            vn_resize((void **)&d->tail_p, cap, sizeof(int32_t)) != 0)
            return MC_ENOMEM;
        d->cap = cap;
    }
    if (d->alen + bytes > UINT32_MAX) /* tokens are found by 32-bit offsets */
        return MC_ETOOBIG;
    if (vn_grow((void **)&d->toks, &d->captoks, d->ntoks + ntok, sizeof(dict_tok),
                DICT_FIRST_TOKS) != 0 ||
        vn_grow((void **)&d->arena, &d->acap, d->alen + bytes, 1, DICT_FIRST_ARENA) != 0)
        return MC_ENOMEM;
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
    bloom_set(d->bloom[BL_F], vn_hash(d->arena + f0->f_off, f0->f_len));
    bloom_set(d->bloom[BL_P], vn_hash(d->arena + f0->p_off, f0->p_len));
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
        if (bloom_has(d->bloom[BL_F], tk->f_hash))
            for (int32_t q = vn_smap_get_h(d->by_f, t->folded + tk->f_off, tk->f_len, tk->f_hash);
                 q >= 0; q = d->e[q].next_f)
                consider(d, t, i, q, &best, &best_exact);
        if (!(tk->flags & VN_TOK_ACCENTED) && bloom_has(d->bloom[BL_P], tk->p_hash))
            for (int32_t q = vn_smap_get_h(d->by_p, t->plain + tk->p_off, tk->p_len, tk->p_hash);
                 q >= 0; q = d->e[q].next_p)
                consider(d, t, i, q, &best, &best_exact);
        if (best < 0) {
            i++;
            continue;
        }
        if (found < max)
            out[found] = (vn_match){d->e[best].value, i, i + d->e[best].ntok, best_exact, 0};
        found++;
        i += d->e[best].ntok;
    }
    return found;
}

/* ---- the typo index ----------------------------------------------------------------------- */

/* Tokens of a phrase that anchor it in the typo index: its rarest ones (a typo match needs
 * one of them exact). "đăng ký", "làm", "giấy" open dozens of phrases and would make every
 * message walk them all; "sinh", "hôn", "chiếu" are few and enough. */
#define FUZZ_ANCHORS 2

int vn_dict_typo_index(vn_dict *d) {
    if (!d)
        return MC_EINVAL;
    vn_smap *ids = vn_smap_new(); /* plain token -> index into freq */
    uint32_t *freq = calloc(d->ntoks ? d->ntoks : 1, sizeof(*freq));
    int rc = MC_ENOMEM;
    if (!ids || !freq)
        goto out;
    vn_smap_free(d->by_any);
    memset(d->bloom[BL_ANY], 0, sizeof(d->bloom[BL_ANY]));
    d->nrefs = 0;
    if (!(d->by_any = vn_smap_new()))
        goto out;
    /* How many phrases of 2+ tokens hold each plain token (once per phrase). */
    size_t nids = 0;
    for (size_t i = 0; i < d->n; i++) {
        const dict_entry *e = &d->e[i];
        for (uint32_t k = 0; e->ntok >= 2 && k < e->ntok; k++) {
            const dict_tok *q = &d->toks[e->first + k];
            int32_t id = (int32_t)nids;
            int put = vn_smap_put(ids, d->arena + q->p_off, q->p_len, id, &id);
            if (put < 0)
                goto out;
            nids += put == 0;
            int seen = 0;
            for (uint32_t j = 0; j < k && !seen; j++) {
                const dict_tok *o = &d->toks[e->first + j];
                seen = o->p_len == q->p_len &&
                       memcmp(d->arena + o->p_off, d->arena + q->p_off, q->p_len) == 0;
            }
            freq[id] += !seen;
        }
    }
    if (d->nrefs + d->n * FUZZ_ANCHORS > d->caprefs) { /* refs and tail_r share it */
        size_t cap = d->n * FUZZ_ANCHORS + 1;
        if (vn_resize((void **)&d->refs, cap, sizeof(dict_ref)) != 0 ||
            vn_resize((void **)&d->tail_r, cap, sizeof(int32_t)) != 0)
            goto out;
        d->caprefs = cap;
    }
    for (size_t i = 0; i < d->n; i++) {
        const dict_entry *e = &d->e[i];
        if (e->ntok < 2)
            continue;
        uint32_t pick[FUZZ_ANCHORS], np = 0;
        for (uint32_t k = 0; k < e->ntok; k++) {
            const dict_tok *q = &d->toks[e->first + k];
            uint32_t f = freq[vn_smap_get(ids, d->arena + q->p_off, q->p_len)];
            /* Insertion into pick[], kept sorted by frequency, first position on ties. */
            uint32_t at = np;
            while (at > 0 &&
                   f < freq[vn_smap_get(ids, d->arena + d->toks[e->first + pick[at - 1]].p_off,
                                        d->toks[e->first + pick[at - 1]].p_len)])
                at--;
            if (at >= FUZZ_ANCHORS)
                continue;
            if (np < FUZZ_ANCHORS)
                np++;
            memmove(pick + at + 1, pick + at, (np - 1 - at) * sizeof(pick[0]));
            pick[at] = k;
        }
        for (uint32_t a = 0; a < np; a++) {
            uint32_t k = pick[a];
            const dict_tok *q = &d->toks[e->first + k];
            int last = k + 1 == e->ntok;
            const dict_tok *nq = &d->toks[e->first + (last ? k - 1 : k + 1)];
            char key[REF_TOKEN_MAX + 3];
            size_t kl =
                ref_key(d->arena + q->p_off, q->p_len, last ? '<' : '>', d->arena[nq->p_off], key);
            if (kl == 0)
                continue; /* too long to anchor */
            int32_t r = (int32_t)d->nrefs++, head = -1;
            d->refs[r] = (dict_ref){(int32_t)i, k, -1};
            int put = vn_smap_put(d->by_any, key, kl, r, &head);
            if (put < 0)
                goto out;
            bloom_set(d->bloom[BL_ANY], vn_hash(key, kl));
            if (put == 1) {
                d->refs[d->tail_r[head]].next = r;
                d->tail_r[head] = r;
            } else {
                d->tail_r[r] = r;
            }
        }
    }
    rc = 0;
out:
    if (rc)
        d->nrefs = 0; /* no index: typo matching finds nothing */
    vn_smap_free(ids);
    free(freq);
    return rc;
}

/* ---- typos ------------------------------------------------------------------------------ */

/* Candidates of typo matches looked at per message. */
#define FUZZ_MAX_CAND 32

/* 1 when a and b (plain, ASCII) are one insertion, deletion, substitution or swap of two
 * neighbours apart (Damerau-Levenshtein distance 1); 0 when equal or further apart. */
static int one_edit(const char *a, size_t la, const char *b, size_t lb) {
    if (la < lb) {
        const char *t = a;
        a = b;
        b = t;
        size_t l = la;
        la = lb;
        lb = l;
    }
    if (la - lb > 1)
        return 0;
    size_t i = 0;
    while (i < lb && a[i] == b[i])
        i++;
    if (la == lb) {
        if (i == la)
            return 0;
        if (memcmp(a + i + 1, b + i + 1, la - i - 1) == 0)
            return 1; /* substitution */
        return i + 1 < la && a[i] == b[i + 1] && a[i + 1] == b[i] &&
               memcmp(a + i + 2, b + i + 2, la - i - 2) == 0; /* swap */
    }
    return memcmp(a + i + 1, b + i, lb - i) == 0; /* a has one letter more */
}

/* 1 when the plain bytes are equal once y is read as i (lý / lí). */
static int same_iy(const char *a, const char *b, size_t n) {
    int diff = 0;
    for (size_t i = 0; i < n; i++) {
        char x = a[i] == 'y' ? 'i' : a[i], y = b[i] == 'y' ? 'i' : b[i];
        if (x != y)
            return 0;
        diff |= a[i] != b[i];
    }
    return diff;
}

/* Cost of text token tk for phrase token q: 0, VN_FUZZ_CHEAP, VN_FUZZ_EDIT, or -1. */
static int tok_cost(const vn_dict *d, const vn_text *t, const vn_tok *tk, const dict_tok *q) {
    if (tok_match(d, t, tk, q))
        return 0;
    if (tk->flags & VN_TOK_DIGIT)
        return -1;
    const char *tp = t->plain + tk->p_off, *qp = d->arena + q->p_off;
    if (tk->p_len == q->p_len && (memcmp(tp, qp, q->p_len) == 0 || same_iy(tp, qp, q->p_len)))
        return VN_FUZZ_CHEAP;
    if (q->p_len >= VN_FUZZ_MIN_EDIT_LEN && tk->p_len >= 2 && one_edit(tp, tk->p_len, qp, q->p_len))
        return VN_FUZZ_EDIT;
    /* A short token only with its last letter doubled ("tyy", "đỏo", "xee"): any other
     * edit of two letters makes another word. */
    if (q->p_len >= 1 && q->p_len < VN_FUZZ_MIN_EDIT_LEN && tk->p_len == q->p_len + 1 &&
        memcmp(tp, qp, q->p_len) == 0 && tp[q->p_len] == qp[q->p_len - 1])
        return VN_FUZZ_EDIT;
    return -1;
}

/* Scores entry e lined up at text token s; returns its cost (> 0) or -1. */
static int fuzzy_at(const vn_dict *d, const vn_normalizer *n, const vn_text *t, size_t s,
                    const dict_entry *e) {
    int cost = 0, exact = 0, edits = 0, known_cheap = 0, known_edit = 0;
    for (uint32_t k = 0; k < e->ntok; k++) {
        int c = tok_cost(d, t, &t->tok[s + k], &d->toks[e->first + k]);
        if (c < 0)
            return -1;
        cost += c;
        exact += c == 0;
        edits += c == VN_FUZZ_EDIT;
        const vn_tok *tk = &t->tok[s + k];
        /* A Telex repair made the word, not the citizen: "tur" is no word even if "tủ" is. */
        int word = c > 0 && !(tk->flags & VN_TOK_REPAIRED) && (!n || vn_token_known(n, t, s + k));
        if (word && c == VN_FUZZ_CHEAP)
            known_cheap++;
        if (word && c == VN_FUZZ_EDIT) {
            /* Another first letter makes another word ("hết hạn", not "kết hôn"). */
            if (t->plain[tk->p_off] != d->arena[d->toks[e->first + k].p_off])
                return -1;
            known_edit++;
        }
    }
    uint32_t max_edits = e->ntok / 2 ? e->ntok / 2 : 1;
    if (cost == 0 || exact == 0 || (uint32_t)edits > max_edits)
        return -1;
    if ((known_cheap && exact < 2) || (known_edit && exact < 3))
        return -1;
    return cost;
}

typedef struct fuzz_cand {
    int32_t entry; /* the phrase */
    size_t s, e;   /* token range */
    int cost;      /* sum of token costs */
} fuzz_cand;

/* 1 when candidate a beats b: cheaper, then longer. */
static int better(const fuzz_cand *a, const fuzz_cand *b) {
    return a->cost < b->cost || (a->cost == b->cost && a->e - a->s > b->e - b->s);
}

/* Considers the phrase of ref anchored at text token i: a candidate in c[*nc] when it
 * matches with typos and takes no token of the exact matches out[0..found). */
static void fuzzy_ref(const vn_dict *d, const vn_normalizer *n, const vn_text *t, size_t i,
                      const dict_ref *ref, const vn_match *out, size_t found, size_t max,
                      fuzz_cand *c, size_t *nc) {
    const dict_entry *e = &d->e[ref->entry];
    if (ref->k > i || i - ref->k + e->ntok > t->ntok)
        return;
    size_t s = i - ref->k, end = s + e->ntok;
    /* The anchor must be exact, and no token may belong to an exact match. */
    if (!tok_match(d, t, &t->tok[i], &d->toks[e->first + ref->k]))
        return;
    for (size_t q = 0; q < found && q < max; q++)
        if (out[q].tok_start < end && out[q].tok_end > s)
            return;
    for (size_t q = 0; q < *nc; q++)
        if (c[q].entry == ref->entry && c[q].s == s)
            return;
    int cost = fuzzy_at(d, n, t, s, e);
    if (cost > 0)
        c[(*nc)++] = (fuzz_cand){ref->entry, s, end, cost};
}

size_t vn_dict_match_fuzzy(const vn_dict *d, const vn_normalizer *n, const vn_text *t,
                           vn_match *out, size_t max) {
    size_t found = vn_dict_match(d, t, out, max);
    if (!d || !t || !t->tok || d->nrefs == 0 || found > max)
        return found; /* more exact matches than room: the caller has plenty */
    fuzz_cand c[FUZZ_MAX_CAND];
    size_t nc = 0, m = 0; /* m: next exact match at or after token i */
    for (size_t i = 0; i < t->ntok && nc < FUZZ_MAX_CAND; i++) {
        while (m < found && out[m].tok_end <= i)
            m++;
        if (m < found && out[m].tok_start <= i)
            continue; /* inside an exact match */
        const vn_tok *tk = &t->tok[i];
        for (int side = 0; side < 2 && nc < FUZZ_MAX_CAND; side++) {
            /* side 0: the phrase goes on after this token; 1: it ends with it. */
            size_t nbi = side ? i - 1 : i + 1;
            if ((side && i == 0) || nbi >= t->ntok)
                continue;
            char key[REF_TOKEN_MAX + 3], dir = side ? '<' : '>', nb = t->plain[t->tok[nbi].p_off];
            uint64_t h = ref_hash(tk->p_hash, dir, nb);
            if (tk->p_len > REF_TOKEN_MAX || !bloom_has(d->bloom[BL_ANY], h))
                continue;
            size_t kl = ref_key(t->plain + tk->p_off, tk->p_len, dir, nb, key);
            if (tk->p_hash == 1)
                h = vn_hash(key, kl); /* FNV gave 0 and vn_hash made it 1: start over */
            for (int32_t r = vn_smap_get_h(d->by_any, key, kl, h); r >= 0 && nc < FUZZ_MAX_CAND;
                 r = d->refs[r].next) {
                const dict_ref *ref = &d->refs[r];
                fuzzy_ref(d, n, t, i, ref, out, found, max, c, &nc);
            }
        }
    }
    if (nc == 0)
        return found;
    /* Clusters of overlapping candidates, left to right: the best one of each, unless a
     * candidate of another value is as good. */
    unsigned char done[FUZZ_MAX_CAND] = {0};
    vn_match add[FUZZ_MAX_CAND];
    size_t nadd = 0;
    for (;;) {
        int first = -1;
        for (size_t q = 0; q < nc; q++)
            if (!done[q] && (first < 0 || c[q].s < c[first].s))
                first = (int)q;
        if (first < 0)
            break;
        size_t cs = c[first].s, ce = c[first].e;
        int grew = 1;
        while (grew) {
            grew = 0;
            for (size_t q = 0; q < nc; q++)
                if (!done[q] && c[q].s < ce && c[q].e > cs && (c[q].s < cs || c[q].e > ce)) {
                    cs = c[q].s < cs ? c[q].s : cs;
                    ce = c[q].e > ce ? c[q].e : ce;
                    grew = 1;
                }
        }
        int best = -1, tie = 0;
        for (size_t q = 0; q < nc; q++) {
            if (done[q] || c[q].s >= ce || c[q].e <= cs)
                continue;
            done[q] = 1;
            if (best < 0 || better(&c[q], &c[best])) {
                best = (int)q;
                tie = 0;
            } else if (!better(&c[best], &c[q]) &&
                       d->e[c[q].entry].value != d->e[c[best].entry].value) {
                tie = 1;
            }
        }
        if (best >= 0 && !tie)
            add[nadd++] =
                (vn_match){d->e[c[best].entry].value, c[best].s, c[best].e, 0, c[best].cost};
    }
    /* Merge into out, in text order. */
    size_t total = found + nadd, kept = found < max ? found : max;
    for (size_t a = 0; a < nadd; a++) {
        size_t pos = kept;
        while (pos > 0 && out[pos - 1].tok_start > add[a].tok_start)
            pos--;
        if (pos >= max)
            continue;
        size_t last = kept < max ? kept : max - 1;
        memmove(out + pos + 1, out + pos, (last - pos) * sizeof(*out));
        out[pos] = add[a];
        if (kept < max)
            kept++;
    }
    return total;
}
