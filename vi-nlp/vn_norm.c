/*
 * vi-nlp/vn_norm.c — the two matching keys of a Vietnamese message.
 *
 * Citizens write the same sentence many ways: precomposed or decomposed (NFD from some
 * phones), ALL CAPS (SMS), tone marks in the old or new position (hòa / hoà), with or
 * without diacritics, with emoji and stretched letters. vn_normalize turns all of them
 * into one "folded" key (diacritics kept) and one "plain" key (ASCII), so that phrase
 * matching upstream is a byte comparison on syllable boundaries.
 *
 * Pipeline: strict UTF-8 check -> UTF-16 -> NFC -> case fold -> NFC -> tokens (letters,
 * digits, in-token .-_+) -> collapse runs of >= 3 letters -> tone placement per syllable
 * -> folded (UTF-8) and plain (ASCII via a table).
 *
 * ICU is the source of truth for every Vietnamese letter: at start-up we ask ICU's
 * "Latin-ASCII" transliterator and NFD for each precomposed letter in U+00C0–U+01B0 and
 * U+1EA0–U+1EF9 (all Vietnamese letters live there) and keep the answers in tables, so
 * the per-message path never runs a transliterator.
 */
#include "vi-nlp/vn_norm.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>
#include <unicode/utf16.h>
#include <unicode/utrans.h>

#include "core/mc.h"
#include "vi-nlp/vn_utf8.h"

/* The two Unicode blocks that hold every precomposed Vietnamese letter. */
#define R1_FIRST 0x00C0
#define R1_LAST 0x01B0
#define R2_FIRST 0x1EA0
#define R2_LAST 0x1EF9
#define R1_N (R1_LAST - R1_FIRST + 1)
#define R2_N (R2_LAST - R2_FIRST + 1)
#define TAB_N (R1_N + R2_N)
/* Longest ASCII spelling Latin-ASCII gives a letter in those blocks (e.g. "ae"), plus NUL. */
#define VN_STRIP_MAX 5

/* Vietnamese tone marks as combining characters, index = tone number - 1. */
static const UChar32 tone_marks[] = {0x0300, 0x0301, 0x0303, 0x0309, 0x0323};

struct vn_normalizer {
    const UNormalizer2 *nfc;         /* ICU singleton, not owned */
    char strip[TAB_N][VN_STRIP_MAX]; /* letter -> lower-case ASCII ("" = no mapping) */
    UChar32 base[TAB_N];             /* letter without its tone mark (ắ -> ă) */
    uint8_t tone[TAB_N];             /* 0 = none, 1..5 = index into tone_marks + 1 */
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

static int is_vowel_base(UChar32 c) {
    switch (c) {
    case 'a':
    case 0x0103:
    case 0x00E2:
    case 'e':
    case 0x00EA:
    case 'i':
    case 'o':
    case 0x00F4:
    case 0x01A1:
    case 'u':
    case 0x01B0:
    case 'y': return 1;
    }
    return 0;
}

static void set_err(char *err, size_t errlen, const char *what, UErrorCode st) {
    if (err && errlen)
        snprintf(err, errlen, "vn_normalizer: %s: %s", what, u_errorName(st));
}

/* Fills strip[] from Latin-ASCII and base[]/tone[] from NFD, one letter at a time. */
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
    for (int i = 0; i < TAB_N; i++) {
        UChar32 c = tab_cp(i);
        UChar buf[16];
        int32_t blen = 0, limit;
        U16_APPEND_UNSAFE(buf, blen, c);
        limit = blen;
        st = U_ZERO_ERROR;
        utrans_transUChars(tr, buf, &blen, (int32_t)MC_ARRAY_LEN(buf), 0, &limit, &st);
        n->strip[i][0] = '\0';
        if (U_SUCCESS(st) && blen < VN_STRIP_MAX) {
            int ascii = 1;
            for (int32_t k = 0; k < blen; k++)
                if (buf[k] >= 0x80 || !(u_isalnum(buf[k])))
                    ascii = 0;
            if (ascii) {
                for (int32_t k = 0; k < blen; k++)
                    n->strip[i][k] = (char)u_tolower(buf[k]);
                n->strip[i][blen] = '\0';
            }
        }
        /* Tone: decompose, remove the one tone mark, recompose what is left. */
        n->base[i] = c;
        n->tone[i] = 0;
        UChar src[4], d[16], rest[16], comp[16];
        int32_t slen = 0, rlen = 0, tone = 0;
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
                rest[rlen++] = d[k];
        }
        st = U_ZERO_ERROR;
        int32_t clen = unorm2_normalize(n->nfc, rest, rlen, comp, (int32_t)MC_ARRAY_LEN(comp), &st);
        if (U_FAILURE(st) || clen != 1 || !is_vowel_base(u_tolower(comp[0])))
            continue;
        n->base[i] = comp[0];
        n->tone[i] = (uint8_t)tone;
    }
    utrans_close(tr);
    /* Sanity check against a known answer, so a broken ICU fails at start-up. */
    if (strcmp(n->strip[tab_index(0x1EC7)], "e") || n->base[tab_index(0x1EAF)] != 0x0103 ||
        strcmp(n->strip[tab_index(0x0111)], "d")) {
        if (err && errlen)
            snprintf(err, errlen, "vn_normalizer: ICU tables look wrong");
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
    free(n);
}

void vn_text_free(vn_text *t) {
    if (!t)
        return;
    free(t->folded);
    free(t->plain);
    memset(t, 0, sizeof(*t));
}

/* Runs NFC (fold == 0) or case folding (fold == 1) on src; returns a new buffer. */
static int icu_pass(const vn_normalizer *n, int fold, const UChar *src, int32_t slen, UChar **dst,
                    int32_t *dlen) {
    int32_t cap = slen + 16;
    for (int attempt = 0; attempt < 2; attempt++) {
        UErrorCode st = U_ZERO_ERROR;
        UChar *buf = malloc((size_t)cap * sizeof(UChar));
        if (!buf)
            return MC_ENOMEM;
        int32_t got = fold ? u_strFoldCase(buf, cap, src, slen, U_FOLD_CASE_DEFAULT, &st)
                           : unorm2_normalize(n->nfc, src, slen, buf, cap, &st);
        if (st == U_BUFFER_OVERFLOW_ERROR && attempt == 0) {
            free(buf);
            cap = got + 1;
            continue;
        }
        if (U_FAILURE(st)) {
            free(buf);
            return MC_EICU;
        }
        *dst = buf;
        *dlen = got;
        return 0;
    }
    return MC_EICU;
}

enum { C_SEP, C_DROP, C_LETTER, C_DIGIT, C_JOIN };

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

static int is_alnum_out(UChar32 c) {
    return (c >= '0' && c <= '9') || (c != ' ' && classify(c) == C_LETTER);
}

/* Lower-case letter with this base and tone, from the ICU-built table (0 if none). */
static UChar32 compose(const vn_normalizer *n, UChar32 base, int tone) {
    if (tone == 0)
        return base;
    for (int i = 0; i < TAB_N; i++)
        if (n->base[i] == base && n->tone[i] == tone)
            return tab_cp(i);
    return 0;
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
        if (is_vowel_base(base))
            break;
        i++;
    }
    if (len - i != 2)
        return;
    for (int m = 0; m < 2; m++) {
        int k = tab_index(s[i + (size_t)m]);
        b[m] = k >= 0 ? n->base[k] : s[i + (size_t)m];
        t[m] = k >= 0 ? n->tone[k] : 0;
        if (!is_vowel_base(b[m]))
            return;
    }
    int open = (b[0] == 'o' && (b[1] == 'a' || b[1] == 'e')) || (b[0] == 'u' && b[1] == 'y');
    if (!open || t[0] != 0 || t[1] == 0)
        return;
    UChar32 first = compose(n, b[0], t[1]);
    if (first == 0)
        return;
    s[i] = first;
    s[i + 1] = b[1];
}

static size_t utf8_put(char *p, UChar32 c) {
    if (c < 0x80) {
        p[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        p[0] = (char)(0xC0 | (c >> 6));
        p[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        p[0] = (char)(0xE0 | (c >> 12));
        p[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        p[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    p[0] = (char)(0xF0 | (c >> 18));
    p[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    p[2] = (char)(0x80 | ((c >> 6) & 0x3F));
    p[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

/* Splits cps[0..m) into tokens separated by single spaces; returns the new length of t. */
static size_t tokenize(const UChar32 *cps, size_t m, UChar32 *t) {
    size_t tl = 0;
    int pending_space = 0;
    for (size_t i = 0; i < m; i++) {
        UChar32 c = cps[i];
        int cls = classify(c);
        if (cls == C_DROP)
            continue;
        if (cls == C_JOIN) {
            /* Next character that is not dropped decides, with the previous one. */
            UChar32 next = 0;
            for (size_t j = i + 1; j < m; j++)
                if (classify(cps[j]) != C_DROP) {
                    next = cps[j];
                    break;
                }
            int next_cls = next ? classify(next) : C_SEP;
            UChar32 prev = (tl > 0 && !pending_space) ? t[tl - 1] : 0;
            int keep;
            if (c == '+')
                keep = next_cls == C_DIGIT;
            else
                keep = prev && is_alnum_out(prev) &&
                       (next_cls == C_LETTER || next_cls == C_DIGIT) &&
                       ((prev >= '0' && prev <= '9') || next_cls == C_DIGIT);
            if (!keep) {
                pending_space = 1;
                continue;
            }
        } else if (cls == C_SEP) {
            pending_space = 1;
            continue;
        } else if (cls == C_DIGIT) {
            c = '0' + u_charDigitValue(c);
        }
        if (pending_space && tl > 0)
            t[tl++] = ' ';
        pending_space = 0;
        t[tl++] = c;
    }
    return tl;
}

/* Collapses runs of >= 3 identical letters to one letter, in place; returns the new length. */
static size_t collapse_runs(UChar32 *t, size_t tl) {
    size_t w = 0, r = 0;
    while (r < tl) {
        size_t k = r + 1;
        while (k < tl && t[k] == t[r])
            k++;
        size_t run = k - r;
        if (run >= 3 && classify(t[r]) == C_LETTER)
            run = 1;
        for (size_t j = 0; j < run; j++)
            t[w++] = t[r];
        r = k;
    }
    return w;
}

int vn_normalize(vn_normalizer *n, const char *in, size_t len, vn_text *out) {
    UChar *u16 = NULL, *nfc = NULL, *fold = NULL, *nfc2 = NULL;
    UChar32 *cps = NULL, *t = NULL;
    char *folded = NULL, *plain = NULL;
    int32_t ulen = 0, nlen = 0, flen = 0, n2len = 0;
    int rc;

    if (!out)
        return MC_EINVAL;
    memset(out, 0, sizeof(*out));
    if (!n || (!in && len))
        return MC_EINVAL;
    if (len > VN_MAX_INPUT)
        return MC_ETOOBIG;
    if (!vn_utf8_valid(in, len, NULL))
        return MC_EUTF8;

    if (len > 0) {
        UErrorCode st = U_ZERO_ERROR;
        rc = MC_ENOMEM;
        u16 = malloc((len + 1) * sizeof(UChar));
        if (!u16)
            goto fail;
        u_strFromUTF8(u16, (int32_t)len + 1, &ulen, in, (int32_t)len, &st);
        rc = MC_EICU;
        if (U_FAILURE(st))
            goto fail;
        if ((rc = icu_pass(n, 0, u16, ulen, &nfc, &nlen)) != 0)
            goto fail;
        if ((rc = icu_pass(n, 1, nfc, nlen, &fold, &flen)) != 0)
            goto fail;
        /* Folding can undo NFC (e.g. U+0130 folds to i + U+0307): normalize once more. */
        if ((rc = icu_pass(n, 0, fold, flen, &nfc2, &n2len)) != 0)
            goto fail;
    }

    rc = MC_ENOMEM;
    size_t m = 0;
    cps = malloc(((size_t)n2len + 1) * sizeof(UChar32));
    t = malloc(((size_t)n2len * 2 + 1) * sizeof(UChar32));
    if (!cps || !t)
        goto fail;
    for (int32_t i = 0; i < n2len;) {
        UChar32 c;
        U16_NEXT(nfc2, i, n2len, c);
        cps[m++] = c;
    }
    size_t tl = tokenize(cps, m, t);
    tl = collapse_runs(t, tl);
    for (size_t s = 0; s < tl;) {
        size_t e = s;
        int letters = 1;
        while (e < tl && t[e] != ' ') {
            if (classify(t[e]) != C_LETTER)
                letters = 0;
            e++;
        }
        if (letters)
            canon_tone(n, t + s, e - s);
        s = e + 1;
    }

    folded = malloc(tl * 4 + 1);
    plain = malloc(tl * (VN_STRIP_MAX - 1) + 1);
    if (!folded || !plain)
        goto fail;
    size_t fo = 0, po = 0;
    for (size_t i = 0; i < tl; i++) {
        UChar32 c = t[i];
        fo += utf8_put(folded + fo, c);
        const char *a = NULL;
        char one[2] = {0, 0};
        if (c < 0x80) {
            one[0] = (char)c;
            a = one;
        } else {
            int k = tab_index(c);
            a = k >= 0 ? n->strip[k] : ""; /* other scripts have no ASCII key */
        }
        if (c == ' ') {
            if (po > 0 && plain[po - 1] != ' ')
                plain[po++] = ' ';
            continue;
        }
        for (; *a; a++)
            plain[po++] = *a;
    }
    while (po > 0 && plain[po - 1] == ' ')
        po--;
    folded[fo] = '\0';
    plain[po] = '\0';

    free(u16);
    free(nfc);
    free(fold);
    free(nfc2);
    free(cps);
    free(t);
    out->folded = folded;
    out->folded_len = fo;
    out->plain = plain;
    out->plain_len = po;
    return 0;
fail:
    free(plain);
    free(folded);
    free(t);
    free(cps);
    free(nfc2);
    free(fold);
    free(nfc);
    free(u16);
    return rc;
}
