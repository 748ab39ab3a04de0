/*
 * vi-nlp/vn_internal.h — what the vi-nlp files share among themselves and nobody else
 * includes: a string map, a data-file line reader with "path:LINE: reason" errors, and
 * the hooks by which vn_norm.c calls the teencode and Telex tables.
 */
#ifndef VN_INTERNAL_H
#define VN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "vi-nlp/vn_norm.h"

/* Largest data file we read (the biggest, syllables.txt, is a few tens of KB). */
#define VN_DATA_MAX_BYTES (1024 * 1024)
/* Longest path data_dir + "/" + file name. */
#define VN_PATH_MAX 4096
/* Longest line in a data file. */
#define VN_LINE_MAX 1024

/* ---- string map: bytes -> int32, open addressing, keys copied into an arena --------- */

typedef struct vn_smap vn_smap;
vn_smap *vn_smap_new(void);
void vn_smap_free(vn_smap *m);
/* Inserts key -> val. Returns 0 when inserted, 1 when the key was already there (its value
 * is left as it was and *old, if not NULL, receives it), MC_ENOMEM. */
int vn_smap_put(vn_smap *m, const char *key, size_t len, int32_t val, int32_t *old);
/* Returns the value of key, or -1 when absent. */
int32_t vn_smap_get(const vn_smap *m, const char *key, size_t len);
/* vn_smap_get with the key's vn_hash already known. */
int32_t vn_smap_get_h(const vn_smap *m, const char *key, size_t len, uint64_t h);
size_t vn_smap_count(const vn_smap *m);
/* 64-bit FNV-1a (used for token hashing by the map and the dictionary). */
uint64_t vn_hash(const char *s, size_t len);

/* ---- data files ----------------------------------------------------------------------- */

/* Most "[name]" sections one data file may declare (vn_file_sections). */
#define VN_FILE_MAX_SECTIONS 32

typedef struct vn_file {
    char path[VN_PATH_MAX];      /* for messages */
    char *buf;                   /* whole file, owned */
    size_t len;                  /* bytes in buf */
    size_t pos;                  /* start of the next line */
    int lineno;                  /* number of the line last returned (1-based) */
    const char *const *sections; /* names of its "[name]" headers, NULL: it has none */
    int nsections;               /* how many names */
    int sec;                     /* section of the line last returned, -1 before the first */
    uint32_t seen;               /* bit s set once the header of section s was read */
} vn_file;

/* Reads dir/name (dir may be NULL: name is the path) whole, checks it is UTF-8 without
 * NUL bytes (the error names the line). Returns 0, MC_EIO, MC_ETOOBIG, MC_EPARSE, MC_ENOMEM. */
int vn_file_open(vn_file *f, const char *dir, const char *name, char *err, size_t errlen);
/* Next line without its "\n" / "\r\n"; returns 1, or 0 at the end of the file. */
int vn_file_line(vn_file *f, const char **line, size_t *len);
/* Declares the "[name]" headers the file is made of (n at most VN_FILE_MAX_SECTIONS, names
 * borrowed): vn_file_next takes them in. */
void vn_file_sections(vn_file *f, const char *const *names, int n);
/* Next line that holds something: its comment cut (vn_uncomment), spaces and tabs
 * trimmed, blank lines skipped. With sections declared, a header line sets f->sec and
 * f->seen and is not returned, and every line returned lies in a section. Returns 1, 0
 * at the end of the file, or MC_EPARSE (err written) for an unknown section or a line
 * before the first header. */
int vn_file_next(vn_file *f, const char **line, size_t *len, char *err, size_t errlen);
void vn_file_close(vn_file *f);
/* Writes "path:LINE: <message>" into err and returns MC_EPARSE. */
int vn_file_err(const vn_file *f, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Trims spaces and tabs at both ends of s[0..*len); returns the new start. */
const char *vn_trim(const char *s, size_t *len);
/* Cuts a line at a '#' comment (a '#' at the start or after a space/tab). */
size_t vn_uncomment(const char *s, size_t len);
/* Next word of s[0..len) from *i (words are separated by spaces and tabs): returns 1 with
 * the word in *w, *wl and *i past it, or 0 when only blanks are left. */
int vn_next_word(const char *s, size_t len, size_t *i, const char **w, size_t *wl);
/* Reallocates the array *p to n elements of elem bytes. Returns 0, or MC_ENOMEM (*p
 * untouched). */
int vn_resize(void **p, size_t n, size_t elem);
/* Makes room for need elements of elem bytes in the array *p of capacity *cap (elements),
 * doubling it from first. Returns 0, or MC_ENOMEM (*p and *cap untouched). */
int vn_grow(void **p, size_t *cap, size_t need, size_t elem, size_t first);

/* ---- hooks between the normalizer and its tables ---------------------------------------- */

/* A token as the normalizer built it, before expansion or repair. */
typedef struct vn_rtok {
    const char *f;  /* folded bytes */
    uint32_t f_len; /* length of f */
    const char *p;  /* plain bytes */
    uint32_t p_len; /* length of p */
    uint32_t flags; /* VN_TOK_* */
} vn_rtok;

/* A word of a table (an expansion, a syllable): folded and plain bytes owned by the table. */
typedef struct vn_word {
    const char *f;  /* folded */
    const char *p;  /* plain */
    uint32_t f_len; /* length of f */
    uint32_t p_len; /* length of p */
    uint32_t flags; /* VN_TOK_ACCENTED etc.; VN_WORD_NUM: stands for the token's number */
} vn_word;
#define VN_WORD_NUM 0x100

typedef struct vn_teencode vn_teencode;
/* Parses path (teencode.txt), normalizing keys and expansions with n (as it is now). */
int vn_teencode_load(vn_teencode **out, vn_normalizer *n, const char *dir, char *err,
                     size_t errlen);
void vn_teencode_free(vn_teencode *tc);
/* Looks for a rule for toks[i] (neighbours toks[i-1], toks[i+1] give the context).
 * Returns -1 when no rule applies, 0 when the first applicable rule keeps the token as
 * typed, or the number of words of the expansion (*words points at them; a VN_WORD_NUM word
 * stands for the number part of the token: bytes [num_off, num_off+num_len) of its plain
 * form). */
int vn_teencode_apply(const vn_teencode *tc, const vn_rtok *toks, size_t n, size_t i,
                      const vn_word **words, uint32_t *num_off, uint32_t *num_len);
size_t vn_teencode_count(const vn_teencode *tc);

typedef struct vn_telex vn_telex;
/* Parses telex.txt, syllables.txt and lexicon.txt from dir. */
int vn_telex_load(vn_telex **out, vn_normalizer *n, const char *dir, char *err, size_t errlen);
void vn_telex_free(vn_telex *tx);
/* Returns 1 and the repaired syllable in *w when tok is an IME leftover (see telex.txt),
 * else 0. */
int vn_telex_repair(const vn_telex *tx, const vn_normalizer *n, const vn_rtok *tok, vn_word *w);
/* vn_token_known for a normalizer with tables. */
int vn_telex_known(const vn_telex *tx, const vn_text *t, size_t i);

/* Splits a lower-case letter into its base (without tone mark) and tone 0..5 (0 = none,
 * else 1 + the index of the mark in tone_marks of vn_norm.c; callers compare tones, they
 * never name them). Returns 0 when c is not a letter of the tables (then *base = c and
 * *tone = 0), else 1. */
int vn_norm_split(const vn_normalizer *n, int32_t c, int32_t *base, int *tone);

/* UTF-8 helpers on valid input. */
size_t vn_utf8_put(char *p, int32_t c);
/* Decodes the code point at s[*i] (valid UTF-8, *i < len) and advances *i. */
int32_t vn_utf8_next(const char *s, size_t len, size_t *i);

#endif
