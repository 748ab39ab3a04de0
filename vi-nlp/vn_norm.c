/*
 * vi-nlp/vn_norm.c — the two matching keys of a Vietnamese message.
 *
 * Citizens write the same sentence many ways: precomposed or decomposed (NFD from some
 * phones), ALL CAPS (SMS), tone marks in the old or new position (hòa / hoà), with or
 * without diacritics, with emoji and stretched letters, in teencode (ko, dc, ntn) and with
 * Telex/VNI leftovers when the keyboard's Vietnamese mode was off (ddwowcj, kys).
 * vn_normalize turns all of them into one "folded" key (diacritics kept) and one "plain"
 * key (ASCII) with the same tokens, and remembers where every plain byte came from.
 *
 * Pipeline: strict UTF-8 check -> per "chunk" (a code point and the combining marks that
 * may compose with it): NFC, case fold, NFC -> tokens (letters, digits, in-token .-_+) ->
 * collapse runs of >= 3 letters -> tone placement per syllable -> per token: teencode rule
 * or Telex/VNI repair (when loaded) -> folded (UTF-8) and plain (ASCII via a table), with
 * the source offset of every plain byte.
 *
 * Big idea: ICU is the source of truth but not the hot path. At start-up we ask ICU, for
 * every letter of U+00C0–U+024F and U+1E00–U+1EFF (all Vietnamese letters live there),
 * its case folding, its NFD (base letter + tone), its "Latin-ASCII" transliteration and
 * whether it composes with what precedes, and keep the answers in tables. Per message,
 * ASCII and those letters are one table lookup each; only chunks with combining marks
 * (NFD input) or letters of other scripts go through ICU, chunk by chunk, which keeps the
 * byte offset of every output character. Splitting at NFC boundaries (hasBoundaryBefore)
 * gives the same result as normalizing the whole string.
 */
#include "vi-nlp/vn_norm.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>
#include <unicode/utf16.h>
#include <unicode/utrans.h>

#include "core/mc.h"
#include "core/mc_mem.h"
#include "vi-nlp/vn_internal.h"
#include "vi-nlp/vn_utf8.h"

/* The two Unicode blocks tabulated at start-up: Latin-1 Supplement letters to Latin
 * Extended-B, and Latin Extended Additional (which holds most Vietnamese letters). */
#define R1_FIRST 0x00C0
#define R1_LAST 0x024F
#define R2_FIRST 0x1E00
#define R2_LAST 0x1EFF
#define R1_N (R1_LAST - R1_FIRST + 1)
#define R2_N (R2_LAST - R2_FIRST + 1)
#define TAB_N (R1_N + R2_N)
/* Longest ASCII spelling Latin-ASCII gives a letter in those blocks (e.g. "ae"), plus NUL. */
#define VN_STRIP_MAX 5
/* Inputs up to this many bytes are processed in stack buffers (no allocation but the
 * result's); longer ones use one heap block. */
#define STACK_BYTES 256
/* Code points per input byte reserved at first (NFC + folding rarely expand at all; the
 * buffers grow if a chunk ever needs more). */
#define CP_PER_BYTE 2
/* UTF-16 units of one slow chunk handled on the stack. */
#define CHUNK_STACK 64
/* Full-width forms of ASCII '!'..'~' and their distance to ASCII. */
#define FW_FIRST 0xFF01
#define FW_LAST 0xFF5E
#define FW_OFFSET 0xFEE0
/* Vowel bases (a ă â e ê i o ô ơ u ư y) and tones (none + 5 marks). */
#define N_VOWELS 12
#define N_TONES 6

/* Vietnamese tone marks as combining characters, index = tone number - 1. */
static const UChar32 tone_marks[] = {0x0300, 0x0301, 0x0303, 0x0309, 0x0323};
static const UChar32 vowels[N_VOWELS] = {'a', 0x0103, 0x00E2, 'e', 0x00EA, 'i',
                                         'o', 0x00F4, 0x01A1, 'u', 0x01B0, 'y'};

enum { C_SEP, C_DROP, C_LETTER, C_DIGIT, C_JOIN };

struct vn_normalizer {
    const UNormalizer2 *nfc;            /* ICU singleton, not owned */
    char strip[TAB_N][VN_STRIP_MAX];    /* folded letter -> lower-case ASCII ("" = none) */
    char strip_cs[TAB_N][VN_STRIP_MAX]; /* letter -> ASCII keeping case, for vn_unaccent */
    UChar32 base[TAB_N];                /* letter without its tone mark (ắ -> ă) */
    uint8_t tone[TAB_N];                /* 0 = none, 1..5 = index into tone_marks + 1 */
    UChar32 fold[TAB_N];                /* NFC(fold(c)) when one code point, else 0 (slow) */
    uint8_t fcls[TAB_N];                /* class of fold[] */
    uint8_t bb[TAB_N];                  /* c has an NFC boundary before it */
    uint8_t ascii_cls[128];             /* class of each ASCII character */
    UChar32 comp[N_VOWELS][N_TONES];    /* vowel base x tone -> letter (0 = none) */
    vn_teencode *tc;                    /* teencode rules, NULL until loaded; owned */
    vn_telex *tx;                       /* Telex/VNI tables and lexicon, NULL until loaded */
};

static int tab_index(UChar32 c) {
    if (c >= R1_FIRST && c <= R1_LAST)
        return (int)(c - R1_FIRST);
    if (c >= R2_FIRST && c <= R2_LAST)
        return R1_N + (int)(c - R2_FIRST);
    return -1;
}

static UChar32 tab_cp(int i) {
    return i < R1_N ? R1_FIRST + i : R2_FIRST + (i - R1_N);
}

static int vowel_index(UChar32 c) {
    for (int i = 0; i < N_VOWELS; i++)
        if (vowels[i] == c)
            return i;
    return -1;
}

static int classify(UChar32 c) {
    if (c == '.' || c == '-' || c == '_' || c == '+')
        return C_JOIN;
    if (u_isdigit(c))
        return C_DIGIT;
    int8_t t = u_charType(c);
    if (t == U_NON_SPACING_MARK || t == U_ENCLOSING_MARK || t == U_FORMAT_CHAR)
        return C_DROP; /* stray combining marks, ZWJ/ZWSP/BOM, variation selectors */
    if (u_isalpha(c) || t == U_COMBINING_SPACING_MARK)
        return C_LETTER;
    return C_SEP;
}

static void set_err(char *err, size_t errlen, const char *what, UErrorCode st) {
    if (err && errlen)
        snprintf(err, errlen, "vn_normalizer: %s: %s", what, u_errorName(st));
}

/* Runs NFC (fold == 0) or full case folding (fold == 1) on src into dst[0..cap); returns
 * the length, or -needed when cap is too small, or INT32_MIN on an ICU error. */
static int32_t icu_step(const vn_normalizer *n, int fold, const UChar *src, int32_t slen,
                        UChar *dst, int32_t cap) {
    UErrorCode st = U_ZERO_ERROR;
    int32_t got = fold ? u_strFoldCase(dst, cap, src, slen, U_FOLD_CASE_DEFAULT, &st)
                       : unorm2_normalize(n->nfc, src, slen, dst, cap, &st);
    if (st == U_BUFFER_OVERFLOW_ERROR || st == U_STRING_NOT_TERMINATED_WARNING)
        return got >= cap ? -got : got;
    if (U_FAILURE(st))
        return INT32_MIN;
    return got;
}

/* NFC, fold, NFC of src[0..slen) into a buffer: *out is stack (when it fits) or a new heap
 * block the caller frees when *heap is set. */
static int icu_chain(const vn_normalizer *n, const UChar *src, int32_t slen, UChar *stack,
                     int32_t scap, UChar **out, int32_t *olen, UChar **heap) {
    UChar *bufs[2] = {NULL, NULL};
    int32_t caps[2] = {0, 0};
    const UChar *cur = src;
    int32_t clen = slen;
    int rc = 0;
    *heap = NULL;
    for (int step = 0; step < 3; step++) {
        int w = step & 1; /* alternate between two buffers */
        UChar *dst = bufs[w];
        int32_t cap = caps[w];
        if (!dst) {
            if (w == 0 && scap > 0) {
                dst = stack;
                cap = scap;
            } else {
                cap = clen * 3 + 16;
                dst = malloc((size_t)cap * sizeof(UChar));
                if (!dst) {
                    rc = MC_ENOMEM;
                    goto done;
                }
            }
            bufs[w] = dst;
            caps[w] = cap;
        }
        int32_t got = icu_step(n, step == 1, cur, clen, dst, cap);
        if (got == INT32_MIN) {
            rc = MC_EICU;
            goto done;
        }
        if (got < 0) {
            cap = -got + 1;
            UChar *nb = malloc((size_t)cap * sizeof(UChar));
            if (!nb) {
                rc = MC_ENOMEM;
                goto done;
            }
            if (dst != stack)
                free(dst);
            bufs[w] = dst = nb;
            caps[w] = cap;
            got = icu_step(n, step == 1, cur, clen, dst, cap);
            if (got < 0) {
                rc = MC_EICU;
                goto done;
            }
        }
        cur = dst;
        clen = got;
    }
done:
    /* The result of step 3 is in bufs[0]; bufs[1] is scratch. */
    if (bufs[1] && bufs[1] != stack)
        free(bufs[1]);
    if (rc != 0) {
        if (bufs[0] && bufs[0] != stack)
            free(bufs[0]);
        return rc;
    }
    *out = bufs[0];
    *olen = clen;
    if (bufs[0] != stack)
        *heap = bufs[0];
    return 0;
}

/* Fills the per-letter tables from ICU (Latin-ASCII, NFD, case folding, NFC boundaries). */
static int build_tables(vn_normalizer *n, char *err, size_t errlen) {
    UErrorCode st = U_ZERO_ERROR;
    UChar id[16];
    u_uastrcpy(id, "Latin-ASCII");
    UTransliterator *tr = utrans_openU(id, -1, UTRANS_FORWARD, NULL, 0, NULL, &st);
    if (U_FAILURE(st)) {
        set_err(err, errlen, "utrans_openU(Latin-ASCII)", st);
        return MC_EICU;
    }
    const UNormalizer2 *nfd = unorm2_getNFDInstance(&st);
    if (U_FAILURE(st)) {
        set_err(err, errlen, "unorm2_getNFDInstance", st);
        utrans_close(tr);
        return MC_EICU;
    }
    for (int c = 0; c < 128; c++)
        n->ascii_cls[c] = (uint8_t)classify(c);
    for (int i = 0; i < TAB_N; i++) {
        UChar32 c = tab_cp(i);
        UChar buf[16];
        int32_t blen = 0, limit;
        /* Case-preserving and lower-case ASCII spellings. */
        U16_APPEND_UNSAFE(buf, blen, c);
        limit = blen;
        st = U_ZERO_ERROR;
        utrans_transUChars(tr, buf, &blen, (int32_t)MC_ARRAY_LEN(buf), 0, &limit, &st);
        n->strip[i][0] = n->strip_cs[i][0] = '\0';
        if (U_SUCCESS(st) && blen < VN_STRIP_MAX && blen > 0) {
            int ascii = 1;
            for (int32_t k = 0; k < blen; k++)
                if (buf[k] >= 0x80 || !(u_isalnum(buf[k])))
                    ascii = 0;
            if (ascii) {
                for (int32_t k = 0; k < blen; k++) {
                    n->strip[i][k] = (char)u_tolower(buf[k]);
                    n->strip_cs[i][k] = (char)buf[k];
                }
                n->strip[i][blen] = n->strip_cs[i][blen] = '\0';
            }
        }
        /* Folding: the fast path only takes letters that fold to one NFC code point. */
        n->bb[i] = (uint8_t)unorm2_hasBoundaryBefore(n->nfc, c);
        UChar one[4], tmp[16], *res = NULL, *heap = NULL;
        int32_t olen = 0, rlen = 0;
        U16_APPEND_UNSAFE(one, olen, c);
        n->fold[i] = 0;
        if (icu_chain(n, one, olen, tmp, (int32_t)MC_ARRAY_LEN(tmp), &res, &rlen, &heap) == 0) {
            UChar32 f = 0;
            int32_t k = 0;
            if (rlen > 0) {
                U16_NEXT(res, k, rlen, f);
                /* One code point: used only when the next character cannot compose with
                 * it (the chunking checks that), so its own boundary-after is irrelevant. */
                if (k == rlen)
                    n->fold[i] = f;
            }
            free(heap);
        }
        n->fcls[i] = (uint8_t)(n->fold[i] ? classify(n->fold[i]) : C_SEP);
        /* Tone: decompose, remove the one tone mark, recompose what is left. */
        n->base[i] = c;
        n->tone[i] = 0;
        UChar src[4], d[16], rest[16], comp[16];
        int32_t slen = 0, rl = 0, tone = 0;
        U16_APPEND_UNSAFE(src, slen, c);
        st = U_ZERO_ERROR;
        int32_t dlen = unorm2_normalize(nfd, src, slen, d, (int32_t)MC_ARRAY_LEN(d), &st);
        if (U_FAILURE(st))
            continue;
        for (int32_t k = 0; k < dlen; k++) {
            int t = 0;
            for (size_t m = 0; m < MC_ARRAY_LEN(tone_marks); m++)
                if (d[k] == tone_marks[m])
                    t = (int)m + 1;
            if (t)
                tone = t;
            else
                rest[rl++] = d[k];
        }
        st = U_ZERO_ERROR;
        int32_t clen = unorm2_normalize(n->nfc, rest, rl, comp, (int32_t)MC_ARRAY_LEN(comp), &st);
        if (U_FAILURE(st) || clen != 1 || vowel_index(u_tolower(comp[0])) < 0)
            continue;
        n->base[i] = comp[0];
        n->tone[i] = (uint8_t)tone;
    }
    utrans_close(tr);
    /* The composition table: lower-case vowel base x tone -> letter. */
    for (int v = 0; v < N_VOWELS; v++)
        n->comp[v][0] = vowels[v];
    for (int i = 0; i < TAB_N; i++) {
        UChar32 c = tab_cp(i);
        int v = vowel_index(n->base[i]);
        if (v >= 0 && n->tone[i] && u_islower(c) && !n->comp[v][n->tone[i]])
            n->comp[v][n->tone[i]] = c;
    }
    /* Sanity check against known answers, so a broken ICU fails at start-up. */
    if (strcmp(n->strip[tab_index(0x1EC7)], "e") || n->base[tab_index(0x1EAF)] != 0x0103 ||
        strcmp(n->strip[tab_index(0x0111)], "d") || n->fold[tab_index(0x0110)] != 0x0111 ||
        n->comp[vowel_index('o')][1] != 0x00F2 || strcmp(n->strip_cs[tab_index(0x0110)], "D")) {
        if (err && errlen)
            snprintf(err, errlen, "vn_normalizer: ICU tables look wrong");
        return MC_EICU;
    }
    for (int v = 0; v < N_VOWELS; v++)
        for (int t = 1; t < N_TONES; t++)
            if (!n->comp[v][t]) {
                if (err && errlen)
                    snprintf(err, errlen, "vn_normalizer: ICU lacks a Vietnamese letter");
                return MC_EICU;
            }
    return 0;
}

vn_normalizer *vn_normalizer_new(char *err, size_t errlen) {
    UErrorCode st = U_ZERO_ERROR;
    vn_normalizer *n = calloc(1, sizeof(*n));
    if (!n) {
        if (err && errlen)
            snprintf(err, errlen, "vn_normalizer: out of memory");
        return NULL;
    }
    n->nfc = unorm2_getNFCInstance(&st);
    if (U_FAILURE(st)) {
        set_err(err, errlen, "unorm2_getNFCInstance", st);
        goto fail;
    }
    if (build_tables(n, err, errlen) != 0)
        goto fail;
    return n;
fail:
    free(n);
    return NULL;
}

void vn_normalizer_free(vn_normalizer *n) {
    if (!n)
        return;
    vn_teencode_free(n->tc);
    vn_telex_free(n->tx);
    free(n);
}

int vn_normalizer_load(vn_normalizer *n, const char *data_dir, char *err, size_t errlen) {
    vn_telex *tx = NULL;
    vn_teencode *tc = NULL;
    int rc;
    if (!n || !data_dir)
        return MC_EINVAL;
    if (n->tc || n->tx) {
        if (err && errlen)
            snprintf(err, errlen, "vn_normalizer_load: tables already loaded");
        return MC_EINVAL;
    }
    /* Both tables normalize their words with n as it is now (no expansion, no repair):
     * they are attached only when both have loaded. */
    if ((rc = vn_telex_load(&tx, n, data_dir, err, errlen)) != 0)
        goto fail;
    if ((rc = vn_teencode_load(&tc, n, data_dir, err, errlen)) != 0)
        goto fail;
    n->tx = tx;
    n->tc = tc;
    return 0;
fail:
    vn_teencode_free(tc);
    vn_telex_free(tx);
    return rc;
}

int vn_token_known(const vn_normalizer *n, const vn_text *t, size_t i) {
    if (!n || !n->tx || !t || !t->tok || i >= t->ntok)
        return 0;
    return vn_telex_known(n->tx, t, i);
}

int vn_norm_split(const vn_normalizer *n, int32_t c, int32_t *base, int *tone) {
    int k = tab_index(c);
    if (k < 0) {
        *base = c;
        *tone = 0;
        return 0;
    }
    *base = n->base[k];
    *tone = n->tone[k];
    return 1;
}

void vn_text_free(vn_text *t) {
    if (!t)
        return;
    free(t->folded);
    free(t->plain); /* plain_src and tok live in the same block */
    memset(t, 0, sizeof(*t));
}

/* Moves the tone of an open oa/oe/uy nucleus to its first vowel (hoà -> hòa, thuý -> thúy,
 * uỷ -> ủy). Not after the onsets qu and gi, where u/i belong to the consonant (quý), and
 * not when a final consonant follows (hoàng, thuyết): there both styles agree. */
static void canon_tone(const vn_normalizer *n, UChar32 *s, size_t len) {
    UChar32 b[2];
    int t[2];
    size_t i = 0;
    if (len >= 2 && s[0] == 'q' && s[1] == 'u')
        return;
    if (len >= 3 && s[0] == 'g' && s[1] == 'i')
        return;
    while (i < len) {
        int k = tab_index(s[i]);
        UChar32 base = k >= 0 ? n->base[k] : s[i];
        if (vowel_index(base) >= 0)
            break;
        i++;
    }
    if (len - i != 2)
        return;
    for (int m = 0; m < 2; m++) {
        int k = tab_index(s[i + (size_t)m]);
        b[m] = k >= 0 ? n->base[k] : s[i + (size_t)m];
        t[m] = k >= 0 ? n->tone[k] : 0;
        if (vowel_index(b[m]) < 0)
            return;
    }
    int open = (b[0] == 'o' && (b[1] == 'a' || b[1] == 'e')) || (b[0] == 'u' && b[1] == 'y');
    if (!open || t[0] != 0 || t[1] == 0)
        return;
    s[i] = n->comp[vowel_index(b[0])][t[1]];
    s[i + 1] = b[1];
}

/* ---- per-message work buffers -------------------------------------------------------- */

/* The decoded stream: one entry per code point after NFC + folding. */
typedef struct cpstream {
    UChar32 *cp;   /* code points */
    uint32_t *src; /* byte offset in the input of the chunk each came from */
    uint8_t *cl;   /* C_* class */
    size_t n;      /* used */
    size_t cap;    /* allocated */
    int heap;      /* arrays are heap blocks (else the caller's stack) */
} cpstream;

static int cps_reserve(cpstream *s, size_t need) {
    if (s->n + need <= s->cap)
        return 0;
    size_t cap = s->cap * 2;
    if (cap < s->n + need)
        cap = s->n + need;
    UChar32 *cp = malloc(cap * sizeof(UChar32));
    uint32_t *src = malloc(cap * sizeof(uint32_t));
    uint8_t *cl = malloc(cap);
    if (!cp || !src || !cl) {
        free(cp);
        free(src);
        free(cl);
        return MC_ENOMEM;
    }
    if (s->n > 0) {
        memcpy(cp, s->cp, s->n * sizeof(UChar32));
        memcpy(src, s->src, s->n * sizeof(uint32_t));
        memcpy(cl, s->cl, s->n);
    }
    if (s->heap) {
        free(s->cp);
        free(s->src);
        free(s->cl);
    }
    s->cp = cp;
    s->src = src;
    s->cl = cl;
    s->cap = cap;
    s->heap = 1;
    return 0;
}

static void cps_release(cpstream *s) {
    if (s->heap) {
        free(s->cp);
        free(s->src);
        free(s->cl);
    }
}

static inline void cps_push(cpstream *s, UChar32 c, uint32_t src, uint8_t cl) {
    s->cp[s->n] = c;
    s->src[s->n] = src;
    s->cl[s->n] = cl;
    s->n++;
}

/* 1 when the code point at in[i] (i < len) composes with nothing before it. */
static int boundary_before(const vn_normalizer *n, const char *in, size_t len, size_t i) {
    unsigned char b = (unsigned char)in[i];
    if (b < 0x80)
        return 1;
    size_t j = i;
    UChar32 c = vn_utf8_next(in, len, &j);
    int k = tab_index(c);
    if (k >= 0)
        return n->bb[k];
    return unorm2_hasBoundaryBefore(n->nfc, c);
}

/* A chunk that needs ICU: in[s..e) -> NFC, fold, NFC, every output character tagged s. */
static int slow_chunk(const vn_normalizer *n, const char *in, size_t s, size_t e, cpstream *cs) {
    UChar stack_in[CHUNK_STACK], stack_out[CHUNK_STACK];
    UChar *u = stack_in, *heap_in = NULL, *res = NULL, *heap_out = NULL;
    int32_t ulen = 0, rlen = 0;
    UErrorCode st = U_ZERO_ERROR;
    int rc;
    u_strFromUTF8(u, CHUNK_STACK, &ulen, in + s, (int32_t)(e - s), &st);
    if (st == U_BUFFER_OVERFLOW_ERROR || st == U_STRING_NOT_TERMINATED_WARNING) {
        if (ulen >= CHUNK_STACK) {
            heap_in = malloc(((size_t)ulen + 1) * sizeof(UChar));
            if (!heap_in)
                return MC_ENOMEM;
            u = heap_in;
            st = U_ZERO_ERROR;
            u_strFromUTF8(u, ulen + 1, &ulen, in + s, (int32_t)(e - s), &st);
        } else {
            st = U_ZERO_ERROR;
        }
    }
    if (U_FAILURE(st)) {
        free(heap_in);
        return MC_EICU;
    }
    rc = icu_chain(n, u, ulen, stack_out, CHUNK_STACK, &res, &rlen, &heap_out);
    free(heap_in);
    if (rc != 0)
        return rc;
    if ((rc = cps_reserve(cs, (size_t)rlen)) != 0) {
        free(heap_out);
        return rc;
    }
    for (int32_t k = 0; k < rlen;) {
        UChar32 c;
        U16_NEXT(res, k, rlen, c);
        cps_push(cs, c, (uint32_t)s, (uint8_t)classify(c));
    }
    free(heap_out);
    return 0;
}

/* Stage 1: the input as NFC, case-folded code points with their source offsets. */
static int decode(const vn_normalizer *n, const char *in, size_t len, cpstream *cs) {
    size_t i = 0;
    while (i < len) {
        unsigned char b = (unsigned char)in[i];
        size_t j = i;
        UChar32 c = vn_utf8_next(in, len, &j);
        if (c >= FW_FIRST && c <= FW_LAST) {
            /* Full-width ASCII (from CJK keyboards): the ASCII character. */
            int rc = cps_reserve(cs, 1);
            if (rc != 0)
                return rc;
            UChar32 a = c - FW_OFFSET;
            UChar32 f = (a >= 'A' && a <= 'Z') ? a + 32 : a;
            cps_push(cs, f, (uint32_t)i, n->ascii_cls[a]);
            i = j;
            continue;
        }
        /* The chunk grows while the next code point may compose with it. */
        size_t e = j;
        while (e < len && !boundary_before(n, in, len, e)) {
            size_t k = e;
            vn_utf8_next(in, len, &k);
            e = k;
        }
        int rc = cps_reserve(cs, 1);
        if (rc != 0)
            return rc;
        if (e == j) {
            if (b < 0x80) {
                UChar32 f = (c >= 'A' && c <= 'Z') ? c + 32 : c;
                cps_push(cs, f, (uint32_t)i, n->ascii_cls[c]);
                i = e;
                continue;
            }
            int k = tab_index(c);
            if (k >= 0 && n->fold[k]) {
                cps_push(cs, n->fold[k], (uint32_t)i, n->fcls[k]);
                i = e;
                continue;
            }
            if (k < 0) {
                int cl = classify(c);
                if (cl != C_LETTER) { /* separators, digits, format characters never fold */
                    cps_push(cs, c, (uint32_t)i, (uint8_t)cl);
                    i = e;
                    continue;
                }
            }
        }
        if ((rc = slow_chunk(n, in, i, e, cs)) != 0)
            return rc;
        i = e;
    }
    return 0;
}

/* A token being built: a range of the token code point array. */
typedef struct btok {
    uint32_t start, end;   /* [start, end) in the token arrays */
    uint32_t src_off;      /* input offset of its first character */
    uint32_t src_end;      /* input offset just after it */
    uint32_t f_off, f_len; /* raw folded bytes in the scratch */
    uint32_t p_off, p_len; /* raw plain bytes in the scratch */
    uint32_t flags;        /* VN_TOK_* of the raw token */
} btok;

/* Input offset just after the code point at stream index i (its chunk's end). */
static uint32_t src_after(const cpstream *cs, size_t i, size_t len) {
    size_t q = i + 1;
    while (q < cs->n && cs->src[q] == cs->src[i])
        q++;
    return q < cs->n ? cs->src[q] : (uint32_t)len;
}

/* Stage 2: tokens. Writes the kept code points (digits made ASCII) to tc[]/ts[]/tk[] and
 * one btok per token; returns the number of tokens. */
static size_t tokenize(const cpstream *cs, size_t len, UChar32 *tc, uint32_t *ts, uint8_t *tk,
                       btok *toks) {
    size_t tl = 0, nt = 0;
    int pending_space = 1; /* at the start, as after a separator */
    size_t last_i = 0;
    for (size_t i = 0; i < cs->n; i++) {
        UChar32 c = cs->cp[i];
        int cls = cs->cl[i];
        if (cls == C_DROP)
            continue;
        if (cls == C_JOIN) {
            /* The next character that is not dropped decides, with the previous one. */
            int next_cls = C_SEP;
            for (size_t j = i + 1; j < cs->n; j++)
                if (cs->cl[j] != C_DROP) {
                    next_cls = cs->cl[j];
                    break;
                }
            int prev_cls = (!pending_space && tl > 0) ? tk[tl - 1] : C_SEP;
            int keep;
            if (c == '+')
                keep = next_cls == C_DIGIT;
            else
                keep = (prev_cls == C_LETTER || prev_cls == C_DIGIT) &&
                       (next_cls == C_LETTER || next_cls == C_DIGIT) &&
                       (prev_cls == C_DIGIT || next_cls == C_DIGIT);
            if (!keep) {
                pending_space = 1;
                continue;
            }
        } else if (cls == C_SEP) {
            pending_space = 1;
            continue;
        } else if (cls == C_DIGIT && c > '9') {
            c = '0' + u_charDigitValue(c);
        }
        if (pending_space) {
            if (nt > 0) {
                toks[nt - 1].end = (uint32_t)tl;
                toks[nt - 1].src_end = src_after(cs, last_i, len);
            }
            toks[nt].start = (uint32_t)tl;
            toks[nt].src_off = cs->src[i];
            nt++;
        }
        pending_space = 0;
        tc[tl] = c;
        ts[tl] = cs->src[i];
        tk[tl] = (uint8_t)cls;
        tl++;
        last_i = i;
    }
    if (nt > 0) {
        toks[nt - 1].end = (uint32_t)tl;
        toks[nt - 1].src_end = src_after(cs, last_i, len);
    }
    return nt;
}

/* Collapses runs of >= 3 identical letters inside [start, end) to one; returns the new end. */
static uint32_t collapse_runs(UChar32 *tc, uint32_t *ts, uint8_t *tk, uint32_t start,
                              uint32_t end) {
    uint32_t w = start, r = start;
    while (r < end) {
        uint32_t k = r + 1;
        while (k < end && tc[k] == tc[r])
            k++;
        uint32_t run = k - r;
        if (run >= 3 && tk[r] == C_LETTER)
            run = 1;
        for (uint32_t j = 0; j < run; j++) {
            tc[w] = tc[r + j];
            ts[w] = ts[r + j];
            tk[w] = tk[r + j];
            w++;
        }
        r = k;
    }
    return w;
}

/* What becomes of a token. */
enum { OUT_RAW, OUT_EXPAND, OUT_REPAIR };

typedef struct tdecision {
    int kind;             /* OUT_* */
    const vn_word *words; /* OUT_EXPAND: the words */
    int nwords;           /* OUT_EXPAND: how many */
    uint32_t num_off;     /* OUT_EXPAND: the number part of the raw plain token */
    uint32_t num_len;
    vn_word rep; /* OUT_REPAIR: the syllable */
} tdecision;

static uint32_t word_flags(const vn_word *w) {
    return w->flags & (VN_TOK_ACCENTED | VN_TOK_DIGIT | VN_TOK_LETTERS);
}

/* The checks vn_normalize and vn_unaccent make of their input: a normalizer, text (or nothing), at
 * most max bytes, valid UTF-8. 0 or the MC_E* code. */
static int check_input(const vn_normalizer *n, const char *in, size_t len, size_t max) {
    if (!n || (!in && len))
        return MC_EINVAL;
    if (len > max)
        return MC_ETOOBIG;
    return vn_utf8_valid(in, len, NULL) ? 0 : MC_EUTF8;
}

int vn_normalize(vn_normalizer *n, const char *in, size_t len, vn_text *out) {
    /* Stack storage for short messages (the common case): no allocation but the result. */
    UChar32 s_cp[STACK_BYTES * CP_PER_BYTE];
    uint32_t s_src[STACK_BYTES * CP_PER_BYTE];
    uint8_t s_cl[STACK_BYTES * CP_PER_BYTE];
    void *work = NULL;
    cpstream cs = {0};
    char *folded = NULL, *block = NULL;
    int rc;

    if (!out)
        return MC_EINVAL;
    memset(out, 0, sizeof(*out));
    if ((rc = check_input(n, in, len, VN_MAX_INPUT)) != 0)
        return rc;

    if (len <= STACK_BYTES) {
        cs.cp = s_cp;
        cs.src = s_src;
        cs.cl = s_cl;
        cs.cap = MC_ARRAY_LEN(s_cp);
    } else if ((rc = cps_reserve(&cs, len * CP_PER_BYTE + 16)) != 0) {
        return rc;
    }
    if ((rc = decode(n, in, len, &cs)) != 0)
        goto fail;

    /* One scratch block for the token stage, sized from the stream. */
    size_t m = cs.n;
    size_t sz_tc = m * sizeof(UChar32), sz_ts = m * sizeof(uint32_t), sz_tk = m;
    size_t sz_bt = (m + 1) * sizeof(btok), sz_rt = (m + 1) * sizeof(vn_rtok);
    size_t sz_dc = (m + 1) * sizeof(tdecision);
    size_t sz_fb = m * 4 + 1, sz_pb = m * 4 + 1, sz_ps = (m * 4 + 1) * sizeof(uint32_t);
    size_t total = sz_tc + sz_ts + sz_bt + sz_rt + sz_dc + sz_ps + sz_tk + sz_fb + sz_pb + 64;
    rc = MC_ENOMEM;
    work = malloc(total);
    if (!work)
        goto fail;
    char *wp = work;
    UChar32 *tc = (UChar32 *)wp;
    wp += sz_tc;
    uint32_t *ts = (uint32_t *)wp;
    wp += sz_ts;
    btok *bt = (btok *)(wp + ((8 - (uintptr_t)wp % 8) % 8));
    wp = (char *)bt + sz_bt;
    vn_rtok *rt = (vn_rtok *)(wp + ((8 - (uintptr_t)wp % 8) % 8));
    wp = (char *)rt + sz_rt;
    tdecision *dc = (tdecision *)(wp + ((8 - (uintptr_t)wp % 8) % 8));
    wp = (char *)dc + sz_dc;
    uint32_t *psrc = (uint32_t *)wp;
    wp += sz_ps;
    uint8_t *tk = (uint8_t *)wp;
    wp += sz_tk;
    char *fbuf = wp;
    wp += sz_fb;
    char *pbuf = wp;

    size_t nt = tokenize(&cs, len, tc, ts, tk, bt);

    /* Raw forms of every token: collapse, tone placement, folded and plain bytes. */
    size_t fo = 0, po = 0;
    for (size_t i = 0; i < nt; i++) {
        btok *b = &bt[i];
        b->end = collapse_runs(tc, ts, tk, b->start, b->end);
        uint32_t flags = VN_TOK_LETTERS;
        for (uint32_t k = b->start; k < b->end; k++) {
            if (tk[k] != C_LETTER)
                flags &= ~(uint32_t)VN_TOK_LETTERS;
            if (tk[k] == C_DIGIT)
                flags |= VN_TOK_DIGIT;
        }
        if (flags & VN_TOK_LETTERS)
            canon_tone(n, tc + b->start, b->end - b->start);
        b->f_off = (uint32_t)fo;
        b->p_off = (uint32_t)po;
        for (uint32_t k = b->start; k < b->end; k++) {
            UChar32 c = tc[k];
            size_t fl = vn_utf8_put(fbuf + fo, c);
            if (c < 0x80) {
                pbuf[po] = (char)c;
                psrc[po++] = ts[k];
            } else {
                int x = tab_index(c);
                const char *a = x >= 0 ? n->strip[x] : "";
                for (; *a; a++) { /* other scripts have no ASCII key: nothing */
                    pbuf[po] = *a;
                    psrc[po++] = ts[k];
                }
            }
            fo += fl;
        }
        if (po == b->p_off) {
            /* A token of letters without an ASCII key (你好, привет) keeps its place in
             * plain as a placeholder, so both keys have the same tokens. */
            pbuf[po] = VN_PLAIN_PLACEHOLDER;
            psrc[po++] = b->src_off;
        }
        b->f_len = (uint32_t)(fo - b->f_off);
        b->p_len = (uint32_t)(po - b->p_off);
        if (b->f_len != b->p_len || memcmp(fbuf + b->f_off, pbuf + b->p_off, b->f_len) != 0)
            flags |= VN_TOK_ACCENTED;
        b->flags = flags;
        rt[i] = (vn_rtok){fbuf + b->f_off, b->f_len, pbuf + b->p_off, b->p_len, flags};
    }

    /* Decisions: teencode first, then Telex/VNI repair. */
    size_t out_f = 0, out_p = 0, out_nt = 0;
    for (size_t i = 0; i < nt; i++) {
        tdecision *d = &dc[i];
        d->kind = OUT_RAW;
        int r = -1;
        if (n->tc)
            r = vn_teencode_apply(n->tc, rt, nt, i, &d->words, &d->num_off, &d->num_len);
        if (r > 0) {
            d->kind = OUT_EXPAND;
            d->nwords = r;
        } else if (r < 0 && n->tx && vn_telex_repair(n->tx, n, &rt[i], &d->rep)) {
            d->kind = OUT_REPAIR;
        }
        if (d->kind == OUT_EXPAND) {
            for (int w = 0; w < d->nwords; w++) {
                const vn_word *wd = &d->words[w];
                out_f += (wd->flags & VN_WORD_NUM ? d->num_len : wd->f_len) + 1;
                out_p += (wd->flags & VN_WORD_NUM ? d->num_len : wd->p_len) + 1;
            }
            out_nt += (size_t)d->nwords;
        } else if (d->kind == OUT_REPAIR) {
            out_f += d->rep.f_len + 1;
            out_p += d->rep.p_len + 1;
            out_nt++;
        } else {
            out_f += bt[i].f_len + 1;
            out_p += bt[i].p_len + 1;
            out_nt++;
        }
    }

    /* The result: folded in its own block; plain, plain_src and tok in another. */
    size_t p_bytes = (out_p + 1 + 7) / 8 * 8;
    size_t src_bytes = (out_p + 1) * sizeof(uint32_t);
    src_bytes = (src_bytes + 7) / 8 * 8;
    folded = malloc(out_f + 1);
    block = malloc(p_bytes + src_bytes + (out_nt + 1) * sizeof(vn_tok));
    if (!folded || !block)
        goto fail;
    char *plain = block;
    uint32_t *plain_src = (uint32_t *)(block + p_bytes);
    vn_tok *tok = (vn_tok *)(block + p_bytes + src_bytes);
    size_t f = 0, p = 0, k = 0;
    uint32_t prev_end = 0;
    for (size_t i = 0; i < nt; i++) {
        const btok *b = &bt[i];
        const tdecision *d = &dc[i];
        int nw = d->kind == OUT_EXPAND ? d->nwords : 1;
        for (int w = 0; w < nw; w++) {
            if (k > 0) {
                folded[f++] = ' ';
                plain[p] = ' ';
                plain_src[p++] = prev_end;
            }
            vn_tok *o = &tok[k++];
            o->f_off = (uint32_t)f;
            o->p_off = (uint32_t)p;
            o->src_off = b->src_off;
            o->src_len = b->src_end - b->src_off;
            if (d->kind == OUT_RAW) {
                memcpy(folded + f, fbuf + b->f_off, b->f_len);
                f += b->f_len;
                memcpy(plain + p, pbuf + b->p_off, b->p_len);
                memcpy(plain_src + p, psrc + b->p_off, b->p_len * sizeof(uint32_t));
                p += b->p_len;
                o->flags = b->flags;
            } else {
                const vn_word *wd = d->kind == OUT_EXPAND ? &d->words[w] : &d->rep;
                const char *fs = wd->f, *ps = wd->p;
                uint32_t fl = wd->f_len, pl = wd->p_len;
                if (wd->flags & VN_WORD_NUM) {
                    fs = ps = pbuf + b->p_off + d->num_off;
                    fl = pl = d->num_len;
                }
                memcpy(folded + f, fs, fl);
                f += fl;
                memcpy(plain + p, ps, pl);
                for (uint32_t q = 0; q < pl; q++)
                    plain_src[p + q] = b->src_off;
                p += pl;
                o->flags = (wd->flags & VN_WORD_NUM ? VN_TOK_DIGIT : word_flags(wd)) |
                           (d->kind == OUT_EXPAND ? VN_TOK_EXPANDED : VN_TOK_REPAIRED);
            }
            o->f_len = (uint32_t)f - o->f_off;
            o->p_len = (uint32_t)p - o->p_off;
            prev_end = b->src_end;
        }
    }
    folded[f] = '\0';
    plain[p] = '\0';
    plain_src[p] = prev_end;
    for (size_t i = 0; i < k; i++) {
        tok[i].f_hash = vn_hash(folded + tok[i].f_off, tok[i].f_len);
        tok[i].p_hash = vn_hash(plain + tok[i].p_off, tok[i].p_len);
    }

    free(work);
    cps_release(&cs);
    out->folded = folded;
    out->folded_len = f;
    out->plain = plain;
    out->plain_len = p;
    out->plain_src = plain_src;
    out->tok = tok;
    out->ntok = k;
    return 0;
fail:
    MC_FREE_ALL(block, folded, work);
    cps_release(&cs);
    return rc;
}

int vn_unaccent(const vn_normalizer *n, const char *in, size_t len, char **out, size_t *out_len) {
    if (!out || !out_len)
        return MC_EINVAL;
    *out = NULL;
    *out_len = 0;
    int rc = check_input(n, in, len, VN_MAX_UNACCENT);
    if (rc)
        return rc;
    /* A tabulated letter (2 or 3 bytes) becomes at most VN_STRIP_MAX - 1 = 4 ASCII
     * letters (Latin-ASCII spells a few with 2, e.g. æ -> ae), so twice the input is enough;
     * everything else is copied or dropped. */
    char *o = malloc(len * 2 + 1);
    if (!o)
        return MC_ENOMEM;
    size_t w = 0;
    for (size_t i = 0; i < len;) {
        size_t j = i;
        UChar32 c = vn_utf8_next(in, len, &j);
        int k = tab_index(c);
        if (k >= 0 && n->strip_cs[k][0]) {
            for (const char *a = n->strip_cs[k]; *a; a++)
                o[w++] = *a;
        } else if (c >= 0x0300 && c <= 0x036F) {
            /* combining diacritical marks (NFD input): dropped */
        } else {
            memcpy(o + w, in + i, j - i);
            w += j - i;
        }
        i = j;
    }
    o[w] = '\0';
    *out = o;
    *out_len = w;
    return 0;
}
