/*
 * vi-nlp/vn_norm.h — Vietnamese text normalization: the two keys every matcher uses.
 *
 * "folded" keeps the diacritics (NFC, case-folded, one tone-placement convention) and
 * "plain" drops them (ASCII). Both have single spaces between tokens and no leading or
 * trailing space, so phrase matching can work on syllable boundaries.
 */
#ifndef VN_NORM_H
#define VN_NORM_H

#include <stddef.h>

/* Largest input, in bytes, vn_normalize accepts (a chat message, an SMS thread). */
#define VN_MAX_INPUT 8192

typedef struct vn_normalizer vn_normalizer; /* opaque; holds ICU objects opened once */

/* Builds the lookup tables from ICU (once, at start-up). Returns NULL and writes a message
 * into err[errlen] on failure. Free with vn_normalizer_free. A normalizer is read-only after
 * creation, so one may be shared by threads. */
vn_normalizer *vn_normalizer_new(char *err, size_t errlen);
void vn_normalizer_free(vn_normalizer *n);

typedef struct vn_text {
    char *folded;      /* NFC, case-folded, canonical tone placement (hòa, thúy, khỏe, ủy
                          style; quý stays), whitespace collapsed, emoji/punctuation -> single
                          spaces; NUL-terminated */
    size_t folded_len; /* bytes in folded, without the NUL */
    char *plain;       /* the same text without any diacritics, đ->d: lower-case ASCII
                          letters/digits/spaces (plus the in-token .-_+ kept for codes and
                          phone numbers); NUL-terminated */
    size_t plain_len;  /* bytes in plain, without the NUL */
} vn_text;

/* Normalizes in[0..len) (need not be NUL-terminated). Returns 0, MC_EUTF8 for invalid
 * UTF-8, MC_ETOOBIG beyond VN_MAX_INPUT bytes, MC_ENOMEM, MC_EICU. On success the caller
 * owns out's buffers (free with vn_text_free). On error out is zeroed.
 *
 * Token rules: letters and digits form tokens; '.', '-', '_' survive between two
 * letters/digits when at least one of them is a digit (000.00.25.H29-231122-0001,
 * 0912.345.678) and '+' survives before a digit (+84...); every other character
 * (punctuation, emoji, symbols, controls) separates tokens; zero-width and combining
 * characters left over after NFC are dropped. Runs of 3 or more identical letters become
 * one letter (khôngggg -> không). */
int vn_normalize(vn_normalizer *n, const char *in, size_t len, vn_text *out);

/* Frees the buffers of t and zeroes it; t may be NULL or already freed. */
void vn_text_free(vn_text *t);

#endif
