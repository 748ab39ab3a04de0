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
} vn_match;

/* Finds phrases in t, leftmost-longest and non-overlapping (at one position the longest
 * phrase wins, then an exact match over a plain one, then the phrase added first), writes
 * up to max of them into out in text order and returns how many were found in all (which
 * may exceed max). No allocation. */
size_t vn_dict_match(const vn_dict *d, const vn_text *t, vn_match *out, size_t max);

/* Number of phrases added. */
size_t vn_dict_size(const vn_dict *d);

#endif
