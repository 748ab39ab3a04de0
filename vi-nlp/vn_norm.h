/*
 * vi-nlp/vn_norm.h — Vietnamese text normalization: the two keys every matcher uses.
 *
 * "folded" keeps the diacritics (NFC, case-folded, one tone-placement convention) and
 * "plain" drops them (ASCII). Both have single spaces between tokens and no leading or
 * trailing space, so phrase matching can work on syllable boundaries.
 *
 * GUARANTEE: folded and plain always hold the SAME number of space-separated tokens, in
 * the same order (token i of one is token i of the other); t->tok[i] gives the byte
 * ranges of token i in both and in the original input.
 */
#ifndef VN_NORM_H
#define VN_NORM_H

#include <stddef.h>
#include <stdint.h>

/* Largest input, in bytes, vn_normalize accepts (a chat message, an SMS thread). */
#define VN_MAX_INPUT 8192
/* Largest input, in bytes, vn_unaccent accepts (a long broadcast notice). */
#define VN_MAX_UNACCENT 65536
/* The plain form of a token whose letters have no ASCII key (你好, привет). */
#define VN_PLAIN_PLACEHOLDER '_'

typedef struct vn_normalizer vn_normalizer; /* opaque; holds ICU objects opened once */

/* Builds the lookup tables from ICU (once, at start-up). Returns NULL and writes a message
 * into err[errlen] on failure. Free with vn_normalizer_free. A normalizer is read-only after
 * creation (and after vn_normalizer_load), so one may be shared by threads. */
vn_normalizer *vn_normalizer_new(char *err, size_t errlen);
void vn_normalizer_free(vn_normalizer *n);

/* Loads the data tables from data_dir (normally "<share>/vi-nlp/data"):
 *   teencode.txt   abbreviations and teencode, with context rules (ko -> không, 5k -> 5 nghìn)
 *   telex.txt      Telex/VNI key tables and the words never to "repair"
 *   syllables.txt  known Vietnamese syllables (the repair target lexicon)
 *   lexicon.txt    everyday syllables that are words (vn_token_known), never repair targets
 * Until this is called vn_normalize does no expansion and no repair. Call once, before the
 * normalizer is shared. Returns 0, MC_EIO (a file cannot be read), MC_EPARSE (err holds
 * "path:LINE: reason"), MC_ENOMEM, or MC_EINVAL (already loaded). On error the normalizer
 * is left as it was (usable, without tables). */
int vn_normalizer_load(vn_normalizer *n, const char *data_dir, char *err, size_t errlen);

/* Flags of a token (vn_tok.flags). */
#define VN_TOK_EXPANDED 0x01 /* produced by a teencode/abbreviation rule (ko -> không) */
#define VN_TOK_REPAIRED 0x02 /* Telex/VNI leftover repaired (ddwowcj -> được) */
#define VN_TOK_ACCENTED 0x04 /* folded differs from plain (the token carries diacritics) */
#define VN_TOK_DIGIT 0x08    /* the token contains a digit */
#define VN_TOK_LETTERS 0x10  /* the token holds letters only */

/* One token of a vn_text. Offsets are in bytes. */
typedef struct vn_tok {
    uint32_t f_off, f_len;     /* the token in folded */
    uint32_t p_off, p_len;     /* the token in plain */
    uint32_t src_off, src_len; /* the input bytes it came from; for an expansion into several
                                  tokens every one of them names the whole source token */
    uint32_t flags;            /* VN_TOK_* */
    uint64_t f_hash, p_hash;   /* vn_hash of the folded and plain token (hashed once, used by
                                  every dictionary lookup) */
} vn_tok;

typedef struct vn_text {
    char *folded;        /* NFC, case-folded, canonical tone placement (hòa, thúy, khỏe, ủy
                            style; quý stays), whitespace collapsed, emoji/punctuation -> single
                            spaces, teencode expanded and Telex leftovers repaired (once the
                            tables are loaded); NUL-terminated; its own malloc block */
    size_t folded_len;   /* bytes in folded, without the NUL */
    char *plain;         /* the same tokens without any diacritics, đ->d: lower-case ASCII
                            letters/digits/spaces (plus the in-token .-_+ kept for codes and
                            phone numbers); letters of other scripts have no ASCII key and are
                            left out, and a token left empty is VN_PLAIN_PLACEHOLDER ("_").
                            NUL-terminated. plain_src and tok live in the same malloc block,
                            after the string: free(plain) frees them too */
    size_t plain_len;    /* bytes in plain, without the NUL */
    uint32_t *plain_src; /* plain_len + 1 entries: for each byte of plain, the byte offset in
                            the input where it came from (an expanded token's bytes all name
                            the start of its source token; a space names the end of the source
                            token before it; the last entry is the end of the last token), so
                            input[plain_src[a] .. plain_src[b]) is the source of plain[a..b)
                            when a and b are token boundaries */
    vn_tok *tok;         /* ntok tokens, in order */
    size_t ntok;         /* number of tokens (the same in folded and plain) */
} vn_text;

/* Normalizes in[0..len) (need not be NUL-terminated). Returns 0, MC_EUTF8 for invalid
 * UTF-8, MC_ETOOBIG beyond VN_MAX_INPUT bytes, MC_ENOMEM, MC_EICU. On success the caller
 * owns out's buffers (free with vn_text_free; or take folded/plain and free() them). On error
 * out is zeroed.
 *
 * Token rules: letters and digits form tokens; '.', '-', '_' survive between two
 * letters/digits when at least one of them is a digit (000.00.25.H29-231122-0001,
 * 0912.345.678) and '+' survives before a digit (+84...); every other character
 * (punctuation, emoji, symbols, controls) separates tokens; zero-width and combining
 * characters left over after NFC are dropped; full-width ASCII forms (U+FF01-FF5E) count
 * as ASCII; digits of any script become ASCII digits. Runs of 3 or more identical letters
 * become one letter (khôngggg -> không).
 *
 * With tables loaded (vn_normalizer_load), each token is then, in this order:
 *  1. expanded by the first teencode rule for it whose context holds (see teencode.txt);
 *  2. otherwise, if it is typed without diacritics, is not a known syllable or a kept word
 *     as typed, and decodes as Telex (letters only) or VNI (letters with digits 1-9) into a
 *     known syllable, replaced by that syllable (see telex.txt for the exact rule). */
int vn_normalize(vn_normalizer *n, const char *in, size_t len, vn_text *out);

/* Whether token i of t is, as typed, a word of the loaded tables: VN_WORD_COMMON for a
 * syllable of syllables.txt (typed with diacritics: that very syllable; typed without:
 * its unaccented spelling) or a word of telex.txt's [keep] list; VN_WORD_RARE for a
 * syllable of lexicon.txt typed with diacritics (typed without, a lexicon spelling says
 * nothing: almost any short spelling is some rare syllable); 0 otherwise and before
 * vn_normalizer_load. n must be the normalizer that made t. No allocation. */
#define VN_WORD_RARE 1
#define VN_WORD_COMMON 2
int vn_token_known(const vn_normalizer *n, const vn_text *t, size_t i);

/* Frees the buffers of t and zeroes it; t may be NULL or already freed. */
void vn_text_free(vn_text *t);

/* Removes Vietnamese diacritics from in[0..len) keeping case, punctuation, spacing and
 * newlines (for SMS rendering): NFC or NFD input, "Đăng ký" -> "Dang ky", "ĐƯỜNG" -> "DUONG",
 * "Hoà" -> "Hoa". Other Latin letters with marks lose them the same way; characters of
 * other scripts, emoji and symbols are kept as they are (the SMS adapter counts the
 * encoding). *out is a new NUL-terminated string the caller frees with free(); *out_len
 * its length. Returns 0, MC_EINVAL, MC_EUTF8, MC_ETOOBIG (> VN_MAX_UNACCENT), MC_ENOMEM,
 * MC_EICU. */
int vn_unaccent(const vn_normalizer *n, const char *in, size_t len, char **out, size_t *out_len);

#endif
