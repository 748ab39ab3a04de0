/*
 * vi-nlp/vn_dict.h — a phrase dictionary over normalized tokens.
 *
 * Phrases (procedure aliases, issue keywords, ward names) are normalized once with the
 * same vn_normalizer as the messages, so a lookup is a comparison of token bytes. A phrase
 * written with diacritics matches text typed with the same diacritics ("exact") and text
 * typed without any ("đăng ký" matches "dang ky"), but not text carrying different ones
 * ("bạn" does not match "bán").
 */
#ifndef VN_DICT_H
#define VN_DICT_H

#include <stddef.h>

#include "vi-nlp/vn_norm.h"

/* Most tokens one phrase may have after normalization. */
#define VN_DICT_MAX_TOKENS 16

typedef struct vn_dict vn_dict; /* opaque; read-only once filled, so it may be shared */

/* Returns an empty dictionary, or NULL when out of memory. */
vn_dict *vn_dict_new(void);
void vn_dict_free(vn_dict *d);

/* Adds a phrase (UTF-8, with or without diacritics; normalized with n) for value (>=0).
 * Returns 0, MC_EINVAL (value < 0, or the phrase has no token or more than
 * VN_DICT_MAX_TOKENS), MC_EUTF8, MC_ETOOBIG, MC_ENOMEM; err says why. A phrase added twice
 * keeps both entries; at equal length and exactness the one added first wins. */
int vn_dict_add(vn_dict *d, vn_normalizer *n, const char *phrase, size_t len, int value, char *err,
                size_t errlen);

/* One match: tokens [tok_start, tok_end) of the vn_text (indexes into t->tok). */
typedef struct vn_match {
    int value;                 /* the value given to vn_dict_add */
    size_t tok_start, tok_end; /* token range in the vn_text */
    int exact;                 /* 1 = every token matched with its diacritics (folded); 0 = some
                                  only on the plain key (text typed without diacritics) */
    int cost;                  /* 0 for vn_dict_match; the typo cost of a vn_dict_match_fuzzy
                                  match (VN_FUZZ_* per token) */
} vn_match;

/* Finds phrases in t, leftmost-longest and non-overlapping (at one position the longest
 * phrase wins, then an exact match over a plain one, then the phrase added first), writes
 * up to max of them into out in text order and returns how many were found in all (which
 * may exceed max). No allocation. */
size_t vn_dict_match(const vn_dict *d, const vn_text *t, vn_match *out, size_t max);

/* Typo costs of vn_dict_match_fuzzy, per phrase token. */
#define VN_FUZZ_CHEAP                                                                              \
    1 /* the same letters with other diacritics, or i for y ("thừong" for                        \
         thường, "tữ" for tư, "lí" for lý): the keyboard slip of a tone */
#define VN_FUZZ_EDIT                                                                               \
    2 /* one letter inserted, deleted, replaced, or two swapped                                    \
         ("doanhh", "pháo" for pháp, "snih"), diacritics aside */
/* Phrase tokens shorter than this (in plain letters) take no edit but a doubled last
 * letter ("tyy" for ty; "vợ" never matches "vé"). */
#define VN_FUZZ_MIN_EDIT_LEN 3

/* Builds the index vn_dict_match_fuzzy needs, once the dictionary is filled (phrases added
 * afterwards are matched exactly only, until it is called again). Returns 0 or MC_ENOMEM
 * (then typo matching finds nothing). */
int vn_dict_typo_index(vn_dict *d);

/* vn_dict_match, then matches with typos in the tokens no exact match took, all in text
 * order in out (at most max; returns how many were found in all, like vn_dict_match). A
 * phrase matches with typos when:
 *  - it has at least 2 tokens (one-token phrases only match exactly);
 *  - every token is exact (cost 0), CHEAP or one EDIT away (text token of letters only;
 *    see VN_FUZZ_MIN_EDIT_LEN), at least one is exact and at most half of them (at least
 *    one) are edited;
 *  - a non-exact token that is itself a word as typed (vn_token_known with n; a Telex
 *    repair does not make one) may have been meant: a CHEAP one needs 2 exact tokens
 *    ("sổ đó" is not sổ đỏ, "nhập hô khẩu" is nhập hộ khẩu), an EDIT one needs 3 and its
 *    first letter ("kết hợp" is not kết hôn, "giấy chứng nhận hết hạn" not giấy chứng
 *    nhận kết hôn, "lý lịch tư pháo" is lý lịch tư pháp);
 *  - it is unambiguous: of the candidates that overlap, the cheapest (then the longest)
 *    wins, and when two of different values tie, none is taken;
 *  - (for speed) one of its two rarest tokens in the dictionary is exact, and the token
 *    next to that one starts with the right letter.
 * n is the normalizer that made t (NULL: every token counts as a word, so only typos that
 * are not words match). No allocation. */
size_t vn_dict_match_fuzzy(const vn_dict *d, const vn_normalizer *n, const vn_text *t,
                           vn_match *out, size_t max);

/* Number of phrases added. */
size_t vn_dict_size(const vn_dict *d);

#endif
