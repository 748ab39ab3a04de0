/*
 * vi-nlp/vn_telex.c — repair of Telex/VNI leftovers, against a lexicon of syllables.
 *
 * When the keyboard's Vietnamese mode is off, the keys meant for the input method stay in
 * the text: "ddwowcj" (Telex for "được"), "kys" (ký), "d9u7o7c5" (VNI for "được"). A
 * token is repaired only when all of this holds:
 *   1. it was typed without diacritics (ASCII), letters only (Telex) or letters with the
 *      VNI digits 1-9 (VNI: starts with a letter, at least 3 characters, no 0);
 *   2. it is NOT already a known syllable typed without marks ("sinh", "ban") nor a word of
 *      the [keep] list (English and loan words that happen to decode: "bus" would become
 *      "bú", "sex" "sẽ", "teen" "tên");
 *   3. its decoding gives a syllable of the lexicon (syllables.txt). Candidates are tried
 *      in this order and the first known one wins:
 *        a. the exact decoding ("vieetj" -> việt, "kys" -> ký, "ddwowcj" -> được);
 *        b. with â and ă swapped, the commonest slip ("ddaang" -> đâng is not a word, so
 *           đăng);
 *        c. when the last key was a tone key: without that tone, a stray key ("sinhf":
 *           "sình" is not in the lexicon, "sinh" is);
 *        d. b and c together.
 * Because the lexicon is the judge, its content is policy: it lists the syllables citizens
 * write to a city (several thousand would bring in rare words that turn typos into
 * nonsense); a word missing from it is simply left as typed.
 */
#include "vi-nlp/vn_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mc.h"
#include "core/mc_mem.h"

/* Longest token considered for repair (Telex for "nghiêng" with a tone is 9 keys). */
#define TX_MAX_LEN 12
/* Longest key sequence of the tables ("uow") and most letters it may produce. */
#define TX_MAX_KEY 4
#define TX_MAX_OUT 2
/* Most keys per scheme. */
#define TX_MAX_KEYS 32
/* Longest lexicon key: TX_MAX_LEN letters of up to 3 bytes and the tone digit. */
#define TX_KEY_BYTES (TX_MAX_LEN * 3 + 2)

enum { SCHEME_TELEX, SCHEME_VNI, N_SCHEMES };

typedef struct tx_key {
    char seq[TX_MAX_KEY + 1]; /* the keys, ASCII lower case */
    size_t len;               /* strlen(seq) */
    int32_t out[TX_MAX_OUT];  /* the letters they make (lower case, toneless) */
    int nout;                 /* how many */
} tx_key;

typedef struct tx_syl {
    uint32_t f_off, f_len, p_off, p_len; /* in the arena */
} tx_syl;

struct vn_telex {
    tx_key keys[N_SCHEMES][TX_MAX_KEYS]; /* letter keys, longest first */
    int nkeys[N_SCHEMES];
    int8_t tone_of[N_SCHEMES][128]; /* key character -> tone 1..5, 0 = not a tone key */
    vn_smap *by_key;                /* "base letters" + tone digit -> syllable index */
    vn_smap *plain;                 /* plain spelling of every syllable and every kept word -> 1 */
    vn_smap *folded;                /* folded syllable -> index */
    vn_smap *lex_f;                 /* folded word of lexicon.txt -> 1 */
    tx_syl *syl;
    size_t nsyl, capsyl;
    char *arena;
    size_t alen, acap;
};

void vn_telex_free(vn_telex *tx) {
    if (!tx)
        return;
    vn_smap_free(tx->by_key);
    vn_smap_free(tx->plain);
    vn_smap_free(tx->folded);
    vn_smap_free(tx->lex_f);
    MC_FREE_ALL(tx->syl, tx->arena, tx);
}

static int is_vowel_base(int32_t c) {
    static const int32_t v[] = {'a', 0x0103, 0x00E2, 'e', 0x00EA, 'i',
                                'o', 0x00F4, 0x01A1, 'u', 0x01B0, 'y'};
    for (size_t i = 0; i < MC_ARRAY_LEN(v); i++)
        if (v[i] == c)
            return 1;
    return 0;
}

/* The lexicon key of a syllable: its letters without tone (UTF-8) and '0' + tone. */
static size_t lex_key(const int32_t *cps, size_t n, int tone, char *key) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += vn_utf8_put(key + k, cps[i]);
    key[k++] = (char)('0' + tone);
    return k;
}

/* Splits a folded syllable into toneless letters and its tone; -1 if it has two tones or is
 * too long. */
static int split_syllable(const vn_normalizer *n, const char *f, size_t len, int32_t *cps,
                          size_t *ncp, int *tone) {
    size_t i = 0, k = 0;
    *tone = 0;
    while (i < len) {
        if (k == TX_MAX_LEN)
            return -1;
        int32_t c = vn_utf8_next(f, len, &i), b;
        int t;
        vn_norm_split(n, c, &b, &t);
        if (t) {
            if (*tone)
                return -1;
            *tone = t;
        }
        cps[k++] = b;
    }
    *ncp = k;
    return 0;
}

/* First capacity of the arena (bytes) and of the syllable array. */
#define TX_FIRST_ARENA 4096
#define TX_FIRST_SYL 1024

static int arena_add(vn_telex *tx, const char *s, size_t len, uint32_t *off) {
    if (vn_grow((void **)&tx->arena, &tx->acap, tx->alen + len, 1, TX_FIRST_ARENA) != 0)
        return MC_ENOMEM;
    memcpy(tx->arena + tx->alen, s, len);
    *off = (uint32_t)tx->alen;
    tx->alen += len;
    return 0;
}

/* What load_words does with one word of its file, normalized to one token of letters t
 * (w[0..wl) as written, for messages). Returns 0 or a negative MC_E* code (err written). */
typedef int (*word_fn)(vn_telex *tx, const vn_normalizer *n, const vn_file *f, const vn_text *t,
                       const char *w, size_t wl, char *err, size_t errlen);

/* Hands every word of dir/name to add: words are separated by spaces, tabs and lines, a
 * '#' starts a comment. A word that does not normalize to one token of letters fails with
 * "'word' <not_one>"; a file without words fails with `empty` when it is not NULL. Returns
 * 0, the code of vn_file_open or of add, or MC_EPARSE. */
static int load_words(vn_telex *tx, vn_normalizer *n, const char *dir, const char *name,
                      word_fn add, const char *not_one, const char *empty, char *err,
                      size_t errlen) {
    vn_file f;
    int rc = vn_file_open(&f, dir, name, err, errlen);
    if (rc != 0)
        return rc;
    const char *line, *w;
    size_t len, wl, nwords = 0;
    while (rc == 0 && vn_file_next(&f, &line, &len, err, errlen) > 0) {
        for (size_t i = 0; rc == 0 && vn_next_word(line, len, &i, &w, &wl); nwords++) {
            vn_text t;
            if ((rc = vn_normalize(n, w, wl, &t)) != 0) {
                rc = vn_file_err(&f, err, errlen, "'%.*s': %s", (int)wl, w, mc_strerror(rc));
                break;
            }
            if (t.ntok != 1 || !(t.tok[0].flags & VN_TOK_LETTERS))
                rc = vn_file_err(&f, err, errlen, "'%.*s' %s", (int)wl, w, not_one);
            else
                rc = add(tx, n, &f, &t, w, wl, err, errlen);
            vn_text_free(&t);
        }
    }
    if (rc == 0 && nwords == 0 && empty) {
        f.lineno = 0;
        rc = vn_file_err(&f, err, errlen, "%s", empty);
    }
    vn_file_close(&f);
    return rc;
}

/* One word of syllables.txt: a syllable of the lexicon of repairs. */
static int add_syllable(vn_telex *tx, const vn_normalizer *n, const vn_file *f, const vn_text *t,
                        const char *w, size_t wl, char *err, size_t errlen) {
    int32_t cps[TX_MAX_LEN];
    size_t ncp = 0;
    int tone = 0, rc;
    if (split_syllable(n, t->folded, t->folded_len, cps, &ncp, &tone) != 0)
        return vn_file_err(f, err, errlen, "'%.*s' is not one syllable", (int)wl, w);
    if (vn_smap_get(tx->folded, t->folded, t->folded_len) >= 0)
        return vn_file_err(f, err, errlen, "'%.*s' is listed twice", (int)wl, w);
    if (vn_grow((void **)&tx->syl, &tx->capsyl, tx->nsyl + 1, sizeof(tx_syl), TX_FIRST_SYL) != 0)
        return MC_ENOMEM;
    tx_syl *s = &tx->syl[tx->nsyl];
    char key[TX_KEY_BYTES];
    size_t kl = lex_key(cps, ncp, tone, key);
    int32_t idx = (int32_t)tx->nsyl;
    if ((rc = arena_add(tx, t->folded, t->folded_len, &s->f_off)) != 0 ||
        (rc = arena_add(tx, t->plain, t->plain_len, &s->p_off)) != 0 ||
        (rc = vn_smap_put(tx->folded, t->folded, t->folded_len, idx, NULL)) < 0 ||
        (rc = vn_smap_put(tx->by_key, key, kl, idx, NULL)) < 0 ||
        (rc = vn_smap_put(tx->plain, t->plain, t->plain_len, 1, NULL)) < 0)
        return rc;
    s->f_len = (uint32_t)t->folded_len;
    s->p_len = (uint32_t)t->plain_len;
    tx->nsyl++;
    return 0;
}

/* One word of lexicon.txt: an everyday syllable that is a word (vn_token_known), not a
 * repair target. */
static int add_lexicon_word(vn_telex *tx, const vn_normalizer *n, const vn_file *f,
                            const vn_text *t, const char *w, size_t wl, char *err, size_t errlen) {
    int put = vn_smap_put(tx->lex_f, t->folded, t->folded_len, 1, NULL);
    if (put == 1)
        return vn_file_err(f, err, errlen, "'%.*s' is listed twice", (int)wl, w);
    return put < 0 ? put : 0;
}

int vn_telex_known(const vn_telex *tx, const vn_text *t, size_t i) {
    const vn_tok *k = &t->tok[i];
    if (k->flags & VN_TOK_ACCENTED) {
        if (vn_smap_get_h(tx->folded, t->folded + k->f_off, k->f_len, k->f_hash) >= 0)
            return VN_WORD_COMMON;
        return vn_smap_get_h(tx->lex_f, t->folded + k->f_off, k->f_len, k->f_hash) >= 0
                   ? VN_WORD_RARE
                   : 0;
    }
    /* Typed without diacritics, a spelling is a word when it spells a common syllable:
     * nearly every short spelling is some rare syllable of the lexicon ("truu" is trừu). */
    return vn_smap_get_h(tx->plain, t->plain + k->p_off, k->p_len, k->p_hash) > 0 ? VN_WORD_COMMON
                                                                                  : 0;
}

/* One line of [telex]/[vni]: "KEYS = LETTERS" or "tone K = V" (V a vowel with the tone). */
static int parse_key_line(vn_telex *tx, const vn_normalizer *n, vn_file *f, int scheme,
                          const char *line, size_t len, char *err, size_t errlen) {
    const char *eq = memchr(line, '=', len);
    if (!eq)
        return vn_file_err(f, err, errlen, "expected KEYS = LETTERS or tone KEY = VOWEL");
    size_t ll = (size_t)(eq - line), rl = len - ll - 1;
    const char *l = vn_trim(line, &ll), *r = vn_trim(eq + 1, &rl);
    int tone_line = 0;
    if (ll > 5 && memcmp(l, "tone ", 5) == 0) {
        tone_line = 1;
        l += 5;
        ll -= 5;
        l = vn_trim(l, &ll);
    }
    if (ll == 0 || ll > TX_MAX_KEY || rl == 0)
        return vn_file_err(f, err, errlen, "keys must be 1..%d characters, letters non-empty",
                           TX_MAX_KEY);
    for (size_t i = 0; i < ll; i++)
        if (!((l[i] >= 'a' && l[i] <= 'z') || (l[i] >= '1' && l[i] <= '9')))
            return vn_file_err(f, err, errlen, "keys are lower-case ASCII letters or 1-9");
    int32_t out[TX_MAX_OUT + 1];
    int nout = 0;
    for (size_t i = 0; i < rl;) {
        int32_t c = vn_utf8_next(r, rl, &i);
        if (nout == TX_MAX_OUT + 1)
            break;
        out[nout++] = c;
    }
    if (tone_line) {
        int32_t b;
        int t;
        if (ll != 1 || nout != 1 || !vn_norm_split(n, out[0], &b, &t) || t == 0 ||
            !is_vowel_base(b))
            return vn_file_err(f, err, errlen, "tone KEY = one lower-case vowel with a tone mark");
        if (tx->tone_of[scheme][(unsigned char)l[0]])
            return vn_file_err(f, err, errlen, "tone key '%c' defined twice", l[0]);
        tx->tone_of[scheme][(unsigned char)l[0]] = (int8_t)t;
        return 0;
    }
    if (nout > TX_MAX_OUT)
        return vn_file_err(f, err, errlen, "at most %d letters", TX_MAX_OUT);
    for (int i = 0; i < nout; i++) {
        int32_t b;
        int t;
        vn_norm_split(n, out[i], &b, &t);
        if (t != 0 || out[i] < 'a')
            return vn_file_err(f, err, errlen, "letters must be lower case and without tone");
    }
    if (tx->nkeys[scheme] == TX_MAX_KEYS)
        return vn_file_err(f, err, errlen, "more than %d keys", TX_MAX_KEYS);
    tx_key *k = &tx->keys[scheme][tx->nkeys[scheme]++];
    memcpy(k->seq, l, ll);
    k->seq[ll] = '\0';
    k->len = ll;
    memcpy(k->out, out, (size_t)nout * sizeof(int32_t));
    k->nout = nout;
    return 0;
}

static int cmp_key_len(const void *a, const void *b) {
    const tx_key *x = a, *y = b;
    return (int)y->len - (int)x->len;
}

static int load_telex(vn_telex *tx, vn_normalizer *n, const char *dir, char *err, size_t errlen) {
    vn_file f;
    int rc = vn_file_open(&f, dir, "telex.txt", err, errlen);
    if (rc != 0)
        return rc;
    static const char *const sections[] = {"telex", "vni", "keep"};
    enum { S_TELEX, S_VNI, S_KEEP };
    const char *line;
    size_t len;
    vn_file_sections(&f, sections, (int)MC_ARRAY_LEN(sections));
    while ((rc = vn_file_next(&f, &line, &len, err, errlen)) > 0) {
        if (f.sec == S_KEEP) {
            size_t i = 0;
            const char *w;
            size_t wl;
            while (vn_next_word(line, len, &i, &w, &wl)) {
                for (size_t k = 0; k < wl; k++)
                    if (!(w[k] >= 'a' && w[k] <= 'z')) {
                        rc = vn_file_err(&f, err, errlen,
                                         "kept word '%.*s': lower-case ASCII letters only", (int)wl,
                                         w);
                        goto fail;
                    }
                if ((rc = vn_smap_put(tx->plain, w, wl, 2, NULL)) < 0)
                    goto fail;
            }
            continue;
        }
        if ((rc = parse_key_line(tx, n, &f, f.sec == S_TELEX ? SCHEME_TELEX : SCHEME_VNI, line, len,
                                 err, errlen)) != 0)
            goto fail;
    }
    if (rc < 0)
        goto fail;
    for (int s = 0; s < N_SCHEMES; s++) {
        int tones = 0;
        for (int c = 0; c < 128; c++)
            tones += tx->tone_of[s][c] != 0;
        if (tx->nkeys[s] == 0 || tones == 0) {
            f.lineno = 0;
            rc = vn_file_err(&f, err, errlen, "[%s] needs letter keys and tone keys",
                             s == SCHEME_TELEX ? "telex" : "vni");
            goto fail;
        }
        qsort(tx->keys[s], (size_t)tx->nkeys[s], sizeof(tx_key), cmp_key_len);
    }
    vn_file_close(&f);
    return 0;
fail:
    vn_file_close(&f);
    return rc;
}

int vn_telex_load(vn_telex **out, vn_normalizer *n, const char *dir, char *err, size_t errlen) {
    int rc = MC_ENOMEM;
    *out = NULL;
    vn_telex *tx = calloc(1, sizeof(*tx));
    if (!tx || !(tx->by_key = vn_smap_new()) || !(tx->plain = vn_smap_new()) ||
        !(tx->folded = vn_smap_new()) || !(tx->lex_f = vn_smap_new())) {
        if (err && errlen)
            snprintf(err, errlen, "vn_telex: out of memory");
        goto fail;
    }
    if ((rc = load_words(tx, n, dir, "syllables.txt", add_syllable, "is not one syllable",
                         "no syllables", err, errlen)) != 0)
        goto fail;
    if ((rc = load_telex(tx, n, dir, err, errlen)) != 0)
        goto fail;
    if ((rc = load_words(tx, n, dir, "lexicon.txt", add_lexicon_word, "is not one word of letters",
                         NULL, err, errlen)) != 0)
        goto fail;
    *out = tx;
    return 0;
fail:
    vn_telex_free(tx);
    return rc;
}

/* Decodes tok[0..len) with one scheme into toneless letters and a tone. Returns 0, or -1
 * when the keys do not make one syllable's worth of letters and at most one tone.
 * *tone_last is set when the tone key was the last key typed. */
static int decode(const vn_telex *tx, int scheme, const char *s, size_t len, int32_t *cps,
                  size_t *ncp, int *tone, int *tone_last) {
    size_t i = 0, k = 0;
    int seen_vowel = 0;
    *tone = 0;
    *tone_last = 0;
    while (i < len) {
        const tx_key *best = NULL;
        for (int q = 0; q < tx->nkeys[scheme]; q++) {
            const tx_key *kk = &tx->keys[scheme][q];
            if (kk->len <= len - i && memcmp(s + i, kk->seq, kk->len) == 0) {
                best = kk; /* sorted longest first */
                break;
            }
        }
        if (best) {
            if (k + (size_t)best->nout > TX_MAX_LEN)
                return -1;
            for (int o = 0; o < best->nout; o++) {
                cps[k++] = best->out[o];
                seen_vowel |= is_vowel_base(best->out[o]);
            }
            i += best->len;
            continue;
        }
        unsigned char c = (unsigned char)s[i];
        int t = c < 128 ? tx->tone_of[scheme][c] : 0;
        if (t && seen_vowel) {
            if (*tone)
                return -1;
            *tone = t;
            *tone_last = i + 1 == len;
            i++;
            continue;
        }
        if (!(c >= 'a' && c <= 'z') || k == TX_MAX_LEN)
            return -1;
        cps[k++] = c;
        seen_vowel |= is_vowel_base(c);
        i++;
    }
    *ncp = k;
    return seen_vowel ? 0 : -1;
}

static int lookup(const vn_telex *tx, const int32_t *cps, size_t n, int tone, vn_word *w) {
    char key[TX_KEY_BYTES];
    size_t kl = lex_key(cps, n, tone, key);
    int32_t idx = vn_smap_get(tx->by_key, key, kl);
    if (idx < 0)
        return 0;
    const tx_syl *s = &tx->syl[idx];
    *w = (vn_word){tx->arena + s->f_off, tx->arena + s->p_off, s->f_len, s->p_len,
                   VN_TOK_LETTERS | (s->f_len != s->p_len ? VN_TOK_ACCENTED : 0)};
    return 1;
}

/* Swaps â and ă once; returns 0 when the syllable has neither. */
static int swap_breve(int32_t *cps, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (cps[i] == 0x00E2) {
            cps[i] = 0x0103;
            return 1;
        }
        if (cps[i] == 0x0103) {
            cps[i] = 0x00E2;
            return 1;
        }
    }
    return 0;
}

int vn_telex_repair(const vn_telex *tx, const vn_normalizer *n, const vn_rtok *tok, vn_word *w) {
    if (tok->flags & VN_TOK_ACCENTED || tok->p_len < 2 || tok->p_len > TX_MAX_LEN)
        return 0;
    int scheme;
    if (tok->flags & VN_TOK_LETTERS) {
        scheme = SCHEME_TELEX;
    } else {
        /* VNI: a letter first, then letters and digits 1-9 only. */
        if (tok->p_len < 3 || !(tok->p[0] >= 'a' && tok->p[0] <= 'z'))
            return 0;
        for (size_t i = 0; i < tok->p_len; i++) {
            char c = tok->p[i];
            if (!((c >= 'a' && c <= 'z') || (c >= '1' && c <= '9')))
                return 0;
        }
        scheme = SCHEME_VNI;
    }
    if (vn_smap_get(tx->plain, tok->p, tok->p_len) > 0)
        return 0; /* a known syllable or a kept word as typed */
    int32_t cps[TX_MAX_LEN];
    size_t k = 0;
    int tone = 0, tone_last = 0;
    if (decode(tx, scheme, tok->p, tok->p_len, cps, &k, &tone, &tone_last) != 0)
        return 0;
    if (lookup(tx, cps, k, tone, w))
        return 1;
    int32_t sw[TX_MAX_LEN];
    memcpy(sw, cps, k * sizeof(int32_t));
    int swapped = swap_breve(sw, k);
    if (swapped && lookup(tx, sw, k, tone, w))
        return 1;
    if (tone && tone_last && lookup(tx, cps, k, 0, w))
        return 1;
    if (tone && tone_last && swapped && lookup(tx, sw, k, 0, w))
        return 1;
    return 0;
}
