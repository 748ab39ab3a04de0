/*
 * vi-nlp/vn_teencode.c — teencode and abbreviation expansion with context rules.
 *
 * Citizens abbreviate (ko, dc, ntn, sdt, cccd, ubnd) and some abbreviations mean two
 * things: "k" is "không" but "5 k" is "5 nghìn"; "hs" is "hồ sơ" but "thẻ hs" is "thẻ học
 * sinh"; "đk" is "đăng ký" but "đủ đk" is "đủ điều kiện". The rules live in
 * vi-nlp/data/teencode.txt; this file parses them and applies them to one token at a time.
 *
 * Big idea: a rule is KEY | EXPANSION | CONDITIONS. Rules for one key are tried in file
 * order and the first whose conditions all hold wins, so an ambiguity is written as the
 * special cases first and the default last; EXPANSION "-" keeps the token as typed (an
 * exception). A condition looks at the neighbouring token as typed (prev= / next=), which
 * is all the context these abbreviations need. Keys and words are normalized with the
 * normalizer itself, so the file may be written with or without diacritics, in any case.
 *
 * File format (also described at the top of teencode.txt):
 *   KEY[, KEY...] | EXPANSION | CONDITION CONDITION ...
 *   KEY        one token as typed ("ko", "đc"), or a number with a letter suffix "{n}k"
 *              (5k, 1.5k) or prefix "t{n}" (t2)
 *   EXPANSION  words, "{n}" standing for the number of the key; or "-" (keep as typed)
 *   CONDITION  prev=V,V,...  or  next=V,V,...  (any of the values); V is one token as
 *              typed (with diacritics: the neighbour must carry the same ones or none), or
 *              {n} a number, {w} a word of letters, ^ no token before, $ no token after
 */
#include "vi-nlp/vn_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mc.h"
#include "core/mc_mem.h"

/* Limits of one rule. */
#define TC_MAX_KEYS 16      /* keys on one line */
#define TC_MAX_WORDS 8      /* words of one expansion */
#define TC_MAX_CONDS 4      /* conditions of one rule */
#define TC_MAX_VALUES 32    /* values of one condition */
#define TC_MAX_KEY_BYTES 32 /* a key's normalized bytes */

enum { KEY_LITERAL, KEY_SUFFIX, KEY_PREFIX }; /* "ko", "{n}k", "t{n}" */
enum { V_WORD, V_NUM, V_LETTERS, V_EDGE };
enum { SIDE_PREV, SIDE_NEXT };

typedef struct tc_val {
    int kind;              /* V_* */
    uint32_t f_off, f_len; /* V_WORD: folded bytes in the arena */
    uint32_t p_off, p_len; /* V_WORD: plain bytes in the arena */
} tc_val;

typedef struct tc_cond {
    int side;       /* SIDE_* */
    uint32_t first; /* first value in vals */
    uint32_t n;     /* number of values (any may match) */
} tc_cond;

typedef struct tc_rule {
    int32_t next;        /* next rule of the same key, in file order, -1 = last */
    int keep;            /* "-": keep the token as typed */
    uint32_t word_first; /* expansion words in words */
    uint32_t nwords;
    uint32_t cond_first; /* conditions in conds */
    uint32_t nconds;
    int line;     /* for messages */
    int32_t tail; /* on the first rule of a key: the last rule of its chain */
} tc_rule;

typedef struct tc_wordoff {
    uint32_t f_off, f_len, p_off, p_len, flags; /* a word, by arena offsets, while loading */
} tc_wordoff;

struct vn_teencode {
    vn_smap *keys[3]; /* KEY_* -> index of the first rule of that key */
    tc_rule *rules;
    size_t nrules, caprules;
    tc_cond *conds;
    size_t nconds, capconds;
    tc_val *vals;
    size_t nvals, capvals;
    tc_wordoff *woff; /* words while loading */
    vn_word *words;   /* the same, as pointers, once loaded */
    size_t nwords, capwords;
    char *arena; /* bytes of words and values */
    size_t alen, acap;
    size_t nkeys; /* keys defined (for the count) */
};

/* First capacity of the rule, condition, value and word arrays and of the arena. */
#define TC_FIRST_CAP 64

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    return vn_grow(p, cap, need, elem, TC_FIRST_CAP);
}

static int arena_add(vn_teencode *tc, const char *s, size_t len, uint32_t *off) {
    if (grow((void **)&tc->arena, &tc->acap, tc->alen + len + 1, 1) != 0)
        return MC_ENOMEM;
    memcpy(tc->arena + tc->alen, s, len);
    *off = (uint32_t)tc->alen;
    tc->alen += len;
    return 0;
}

void vn_teencode_free(vn_teencode *tc) {
    if (!tc)
        return;
    for (int i = 0; i < 3; i++)
        vn_smap_free(tc->keys[i]);
    MC_FREE_ALL(tc->rules, tc->conds, tc->vals, tc->woff, tc->words, tc->arena, tc);
}

size_t vn_teencode_count(const vn_teencode *tc) {
    return tc ? tc->nkeys : 0;
}

/* Normalizes s[0..len) with n and requires exactly one token; stores it in the arena. */
static int one_token(vn_teencode *tc, vn_normalizer *n, const vn_file *f, const char *what,
                     const char *s, size_t len, tc_wordoff *w, char *err, size_t errlen) {
    vn_text t;
    int rc = vn_normalize(n, s, len, &t);
    if (rc != 0)
        return vn_file_err(f, err, errlen, "%s '%.*s': %s", what, (int)len, s, mc_strerror(rc));
    if (t.ntok != 1) {
        vn_text_free(&t);
        return vn_file_err(f, err, errlen, "%s '%.*s' is not exactly one token", what, (int)len, s);
    }
    if ((rc = arena_add(tc, t.folded, t.folded_len, &w->f_off)) == 0)
        rc = arena_add(tc, t.plain, t.plain_len, &w->p_off);
    w->f_len = (uint32_t)t.folded_len;
    w->p_len = (uint32_t)t.plain_len;
    w->flags = t.tok[0].flags;
    vn_text_free(&t);
    return rc;
}

/* Splits s[0..len) at c into at most max trimmed, non-empty parts. Returns the count, or
 * -1 when there are more than max or one is empty. */
static int split(const char *s, size_t len, char c, const char **part, size_t *plen, int max) {
    int k = 0;
    size_t i = 0;
    for (;;) {
        size_t j = i;
        while (j < len && s[j] != c)
            j++;
        if (k == max)
            return -1;
        size_t l = j - i;
        part[k] = vn_trim(s + i, &l);
        plen[k] = l;
        if (l == 0)
            return -1;
        k++;
        if (j == len)
            return k;
        i = j + 1;
    }
}

/* Parses one key: literal, "{n}X" or "X{n}". Writes the normalized letters into key[]. */
static int parse_key(vn_teencode *tc, vn_normalizer *n, const vn_file *f, const char *s, size_t len,
                     int *type, char *key, size_t *klen, char *err, size_t errlen) {
    static const char num[] = "{n}";
    const char *letters = s;
    size_t ll = len;
    *type = KEY_LITERAL;
    if (len > 3 && memcmp(s, num, 3) == 0) {
        *type = KEY_SUFFIX;
        letters = s + 3;
        ll = len - 3;
    } else if (len > 3 && memcmp(s + len - 3, num, 3) == 0) {
        *type = KEY_PREFIX;
        ll = len - 3;
    }
    if (memchr(letters, '{', ll) || memchr(letters, '}', ll))
        return vn_file_err(f, err, errlen, "key '%.*s': {n} only at the start or the end", (int)len,
                           s);
    tc_wordoff w;
    size_t save = tc->alen;
    int rc = one_token(tc, n, f, "key", letters, ll, &w, err, errlen);
    if (rc != 0)
        return rc;
    if (*type != KEY_LITERAL && !(w.flags & VN_TOK_LETTERS))
        return vn_file_err(f, err, errlen, "key '%.*s': the part beside {n} must be letters",
                           (int)len, s);
    if (w.f_len > TC_MAX_KEY_BYTES)
        return vn_file_err(f, err, errlen, "key '%.*s' is too long", (int)len, s);
    memcpy(key, tc->arena + w.f_off, w.f_len);
    *klen = w.f_len;
    tc->alen = save; /* keys live in the maps, not the arena */
    return 0;
}

static int parse_conds(vn_teencode *tc, vn_normalizer *n, const vn_file *f, const char *s,
                       size_t len, tc_rule *r, char *err, size_t errlen) {
    size_t i = 0;
    r->cond_first = (uint32_t)tc->nconds;
    const char *c;
    size_t cl;
    while (vn_next_word(s, len, &i, &c, &cl)) {
        int side;
        if (cl > 5 && memcmp(c, "prev=", 5) == 0)
            side = SIDE_PREV;
        else if (cl > 5 && memcmp(c, "next=", 5) == 0)
            side = SIDE_NEXT;
        else
            return vn_file_err(f, err, errlen, "condition '%.*s': expected prev=... or next=...",
                               (int)cl, c);
        if (r->nconds == TC_MAX_CONDS)
            return vn_file_err(f, err, errlen, "more than %d conditions", TC_MAX_CONDS);
        const char *part[TC_MAX_VALUES];
        size_t plen[TC_MAX_VALUES];
        int np = split(c + 5, cl - 5, ',', part, plen, TC_MAX_VALUES);
        if (np < 0)
            return vn_file_err(f, err, errlen,
                               "condition '%.*s': empty value or more than %d values", (int)cl, c,
                               TC_MAX_VALUES);
        if (grow((void **)&tc->conds, &tc->capconds, tc->nconds + 1, sizeof(tc_cond)) ||
            grow((void **)&tc->vals, &tc->capvals, tc->nvals + (size_t)np, sizeof(tc_val)))
            return MC_ENOMEM;
        tc_cond *cd = &tc->conds[tc->nconds++];
        cd->side = side;
        cd->first = (uint32_t)tc->nvals;
        cd->n = (uint32_t)np;
        r->nconds++;
        for (int k = 0; k < np; k++) {
            tc_val *v = &tc->vals[tc->nvals++];
            memset(v, 0, sizeof(*v));
            if (plen[k] == 3 && memcmp(part[k], "{n}", 3) == 0) {
                v->kind = V_NUM;
            } else if (plen[k] == 3 && memcmp(part[k], "{w}", 3) == 0) {
                v->kind = V_LETTERS;
            } else if (plen[k] == 1 && (part[k][0] == '^' || part[k][0] == '$')) {
                if ((part[k][0] == '^') != (side == SIDE_PREV))
                    return vn_file_err(f, err, errlen, "'^' goes with prev=, '$' with next=");
                v->kind = V_EDGE;
            } else {
                tc_wordoff w;
                int rc = one_token(tc, n, f, "condition value", part[k], plen[k], &w, err, errlen);
                if (rc != 0)
                    return rc;
                v->kind = V_WORD;
                v->f_off = w.f_off;
                v->f_len = w.f_len;
                v->p_off = w.p_off;
                v->p_len = w.p_len;
            }
        }
    }
    return 0;
}

static int parse_expansion(vn_teencode *tc, vn_normalizer *n, const vn_file *f, const char *s,
                           size_t len, int has_num, tc_rule *r, char *err, size_t errlen) {
    r->word_first = (uint32_t)tc->nwords;
    if (len == 1 && s[0] == '-') {
        r->keep = 1;
        return 0;
    }
    size_t i = 0, wl;
    const char *word;
    while (vn_next_word(s, len, &i, &word, &wl)) {
        if (r->nwords == TC_MAX_WORDS)
            return vn_file_err(f, err, errlen, "expansion longer than %d words", TC_MAX_WORDS);
        if (grow((void **)&tc->woff, &tc->capwords, tc->nwords + 1, sizeof(tc_wordoff)))
            return MC_ENOMEM;
        tc_wordoff *w = &tc->woff[tc->nwords];
        if (wl == 3 && memcmp(word, "{n}", 3) == 0) {
            if (!has_num)
                return vn_file_err(f, err, errlen, "{n} in the expansion of a key without {n}");
            memset(w, 0, sizeof(*w));
            w->flags = VN_WORD_NUM;
        } else {
            int rc = one_token(tc, n, f, "expansion word", word, wl, w, err, errlen);
            if (rc != 0)
                return rc;
        }
        tc->nwords++;
        r->nwords++;
    }
    if (r->nwords == 0)
        return vn_file_err(f, err, errlen, "empty expansion (write - to keep the token)");
    return 0;
}

int vn_teencode_load(vn_teencode **out, vn_normalizer *n, const char *dir, char *err,
                     size_t errlen) {
    vn_file f;
    vn_teencode *tc = NULL;
    int rc;
    *out = NULL;
    if ((rc = vn_file_open(&f, dir, "teencode.txt", err, errlen)) != 0)
        return rc;
    rc = MC_ENOMEM;
    tc = calloc(1, sizeof(*tc));
    if (!tc)
        goto fail;
    for (int i = 0; i < 3; i++)
        if (!(tc->keys[i] = vn_smap_new()))
            goto fail;
    const char *line;
    size_t len;
    while (vn_file_next(&f, &line, &len, err, errlen) > 0) { /* no sections: never fails */
        if (len > VN_LINE_MAX) {
            rc = vn_file_err(&f, err, errlen, "line longer than %d bytes", VN_LINE_MAX);
            goto fail;
        }
        const char *col[3];
        size_t cl[3];
        int nc = split(line, len, '|', col, cl, 3);
        if (nc < 2) {
            rc = vn_file_err(&f, err, errlen,
                             nc < 0 ? "empty column or more than 3 columns"
                                    : "expected KEYS | EXPANSION [| CONDITIONS]");
            goto fail;
        }
        const char *kp[TC_MAX_KEYS];
        size_t kl[TC_MAX_KEYS];
        int nk = split(col[0], cl[0], ',', kp, kl, TC_MAX_KEYS);
        if (nk < 0) {
            rc = vn_file_err(&f, err, errlen, "empty key or more than %d keys", TC_MAX_KEYS);
            goto fail;
        }
        int type0 = -1;
        char key[TC_MAX_KEYS][TC_MAX_KEY_BYTES];
        size_t klen[TC_MAX_KEYS];
        for (int k = 0; k < nk; k++) {
            int type;
            if ((rc = parse_key(tc, n, &f, kp[k], kl[k], &type, key[k], &klen[k], err, errlen)) !=
                0)
                goto fail;
            if (type0 >= 0 && type != type0) {
                rc = vn_file_err(&f, err, errlen, "keys of one line mix {n} and plain keys");
                goto fail;
            }
            type0 = type;
        }
        tc_rule r = {.next = -1, .line = f.lineno};
        if ((rc = parse_expansion(tc, n, &f, col[1], cl[1], type0 != KEY_LITERAL, &r, err,
                                  errlen)) != 0)
            goto fail;
        if (nc == 3 && (rc = parse_conds(tc, n, &f, col[2], cl[2], &r, err, errlen)) != 0)
            goto fail;
        /* Each key of the line gets its own copy of the rule, chained after its earlier
         * rules. */
        for (int k = 0; k < nk; k++) {
            if ((rc = grow((void **)&tc->rules, &tc->caprules, tc->nrules + 1, sizeof(tc_rule))) !=
                0)
                goto fail;
            int32_t idx = (int32_t)tc->nrules, head = -1;
            int put = vn_smap_put(tc->keys[type0], key[k], klen[k], idx, &head);
            if (put < 0) {
                rc = put;
                goto fail;
            }
            if (put == 1) {
                /* An earlier unconditional rule would shadow this one. */
                for (int32_t q = head; q >= 0; q = tc->rules[q].next)
                    if (tc->rules[q].nconds == 0) {
                        rc = vn_file_err(&f, err, errlen,
                                         "rule for '%.*s' never applies: line %d already "
                                         "has an unconditional rule for it",
                                         (int)kl[k], kp[k], tc->rules[q].line);
                        goto fail;
                    }
                tc->rules[tc->rules[head].tail].next = idx;
                tc->rules[head].tail = idx;
            } else {
                tc->nkeys++;
            }
            tc->rules[tc->nrules] = r;
            tc->rules[tc->nrules].tail = idx;
            tc->nrules++;
        }
    }
    if (tc->nrules == 0) {
        f.lineno = 0;
        rc = vn_file_err(&f, err, errlen, "no rules");
        goto fail;
    }
    /* The arena is final: turn word offsets into pointers. */
    if (tc->nwords) {
        tc->words = calloc(tc->nwords, sizeof(vn_word));
        if (!tc->words) {
            rc = MC_ENOMEM;
            goto fail;
        }
    }
    for (size_t i = 0; i < tc->nwords; i++) {
        const tc_wordoff *w = &tc->woff[i];
        tc->words[i] =
            (vn_word){tc->arena + w->f_off, tc->arena + w->p_off, w->f_len, w->p_len, w->flags};
    }
    vn_file_close(&f);
    *out = tc;
    return 0;
fail:
    vn_file_close(&f);
    vn_teencode_free(tc);
    return rc;
}

/* 1 when the bytes are digits with '.' or ',' between them (5, 1.5, 0912.345.678). */
static int is_number(const char *s, size_t len) {
    if (len == 0 || s[0] < '0' || s[0] > '9' || s[len - 1] < '0' || s[len - 1] > '9')
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == ','))
            return 0;
    return 1;
}

static int val_holds(const vn_teencode *tc, const tc_val *v, const vn_rtok *nb) {
    switch (v->kind) {
    case V_EDGE: return nb == NULL;
    case V_NUM: return nb && is_number(nb->p, nb->p_len);
    case V_LETTERS: return nb && (nb->flags & VN_TOK_LETTERS);
    default: break;
    }
    if (!nb)
        return 0;
    if (nb->f_len == v->f_len && memcmp(nb->f, tc->arena + v->f_off, v->f_len) == 0)
        return 1;
    /* Typed without diacritics: the plain keys decide. */
    return !(nb->flags & VN_TOK_ACCENTED) && nb->p_len == v->p_len &&
           memcmp(nb->p, tc->arena + v->p_off, v->p_len) == 0;
}

static int rule_holds(const vn_teencode *tc, const tc_rule *r, const vn_rtok *toks, size_t n,
                      size_t i) {
    for (uint32_t c = 0; c < r->nconds; c++) {
        const tc_cond *cd = &tc->conds[r->cond_first + c];
        const vn_rtok *nb = NULL;
        if (cd->side == SIDE_PREV && i > 0)
            nb = &toks[i - 1];
        else if (cd->side == SIDE_NEXT && i + 1 < n)
            nb = &toks[i + 1];
        int any = 0;
        for (uint32_t v = 0; v < cd->n && !any; v++)
            any = val_holds(tc, &tc->vals[cd->first + v], nb);
        if (!any)
            return 0;
    }
    return 1;
}

int vn_teencode_apply(const vn_teencode *tc, const vn_rtok *toks, size_t n, size_t i,
                      const vn_word **words, uint32_t *num_off, uint32_t *num_len) {
    const vn_rtok *t = &toks[i];
    int32_t head = -1;
    *num_off = *num_len = 0;
    if (t->f_len <= TC_MAX_KEY_BYTES)
        head = vn_smap_get(tc->keys[KEY_LITERAL], t->f, t->f_len);
    if (head < 0 && (t->flags & VN_TOK_DIGIT)) {
        /* "5k", "1.5tr": number then letters; "t2", "q10": letters then number. */
        size_t d = 0;
        while (d < t->p_len && ((t->p[d] >= '0' && t->p[d] <= '9') || t->p[d] == '.'))
            d++;
        if (d > 0 && d < t->p_len && is_number(t->p, d)) {
            /* Digits are one byte in both forms: the letters start at d in folded too. */
            size_t ll = t->f_len - d;
            if (ll <= TC_MAX_KEY_BYTES)
                head = vn_smap_get(tc->keys[KEY_SUFFIX], t->f + d, ll);
            *num_off = 0;
            *num_len = (uint32_t)d;
        } else {
            size_t e = t->p_len;
            while (e > 0 && t->p[e - 1] >= '0' && t->p[e - 1] <= '9')
                e--;
            size_t nd = t->p_len - e;
            if (nd > 0 && e > 0) {
                size_t ll = t->f_len - nd;
                if (ll <= TC_MAX_KEY_BYTES)
                    head = vn_smap_get(tc->keys[KEY_PREFIX], t->f, ll);
                *num_off = (uint32_t)e;
                *num_len = (uint32_t)nd;
            }
        }
    }
    for (int32_t q = head; q >= 0; q = tc->rules[q].next) {
        const tc_rule *r = &tc->rules[q];
        if (!rule_holds(tc, r, toks, n, i))
            continue;
        if (r->keep)
            return 0;
        *words = &tc->words[r->word_first];
        return (int)r->nwords;
    }
    return -1;
}
