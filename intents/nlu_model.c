/*
 * intents/nlu_model.c — the trained intent classifier: features, the model file, scoring.
 *
 * Big idea: a multinomial logistic regression over hashed sparse features of the two
 * normalized keys of a message (vn_text). Citizens write the same request with or without
 * diacritics, in teencode, with typos; the features are chosen so that each rendering still
 * shares most of its evidence with the clean sentence:
 *   - syllable unigrams and bigrams of `plain` (the ASCII key, identical for accented and
 *     unaccented text), with sentence-boundary bigrams;
 *   - syllable unigrams and bigrams of `folded` only where a syllable carries diacritics
 *     (elsewhere folded == plain and the feature would just duplicate the plain one): the
 *     extra evidence accented text gives (bàn / bạn / bán);
 *   - character 3..5-grams of every plain syllable written " syllable " (spaces mark the
 *     word boundaries, as fastText's subwords): typos and unseen spellings still share
 *     most n-grams with the right syllable.
 * Digits are mapped to '0' before hashing, so codes and phone numbers become shapes.
 * Each occurrence counts 1; the vector is scaled by 1/sqrt(number of occurrences), so long
 * and short messages have comparable norms. Features hash (64-bit FNV-1a + a finalizer,
 * one seed per kind) into 2^hash_bits buckets; the weights are a [bucket][class] matrix,
 * so scoring one feature touches one contiguous row. Scoring streams the features straight
 * into the logits: no allocation, no feature array, any input length.
 *
 * Training (nlu_train.c) writes the file with nlu_model_write.
 *
 * Model file (little-endian), version 1:
 *   0   8  magic "MCNLUMDL"
 *   8   4  u32 version
 *   12  4  u32 hash_bits
 *   16  4  u32 number of classes C
 *   20  4  u32 shortest character n-gram
 *   24  4  u32 longest character n-gram
 *   28  4  u32 flags (0)
 *   32  4  f32 temperature
 *   36  4  u32 N = bytes of the names block (a multiple of 4)
 *   40  N  class names, each NUL-terminated, sorted, then NUL padding
 *   ..  4C f32 bias[C]
 *   ..  4C*2^hash_bits f32 weights[bucket][class]
 *   ..  8  u64 checksum of every byte before it (FNV-1a over 64-bit little-endian words)
 * nlu_model_load checks size, magic, version, every header field, the checksum, the names
 * and that every float is finite, before any of it is used.
 */
#include "intents/nlu_model.h"
#include "intents/nlu_model_int.h"

#include "core/mc.h"
#include "core/mc_mem.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- limits ---------------------------------------------------------------------- */

#define NLU_MODEL_MAGIC "MCNLUMDL"
#define NLU_MODEL_MAGIC_LEN 8
#define NLU_MODEL_VERSION 1u
#define NLU_MODEL_HEADER 40u            /* bytes before the names block */
#define NLU_MODEL_MAX_FILE (512u << 20) /* refuse anything larger without reading it */
#define NLU_CHAR_MIN 3                  /* shortest character n-gram */
#define NLU_CHAR_MAX 5                  /* longest character n-gram */

/* One seed per feature kind, so "ab" as a unigram and as a character gram never share a
 * bucket by construction (only by chance). */
enum {
    K_PLAIN_UNI = 1,
    K_PLAIN_BI,
    K_FOLD_UNI,
    K_FOLD_BI,
    K_CHAR,
};

struct nlu_model {
    unsigned hash_bits;                 /* log2 of the bucket count */
    size_t n_classes;                   /* classes (intents) */
    float temperature;                  /* calibration: logits are divided by it */
    char *names[NLU_MODEL_MAX_CLASSES]; /* point into buf */
    const float *bias;                  /* [n_classes], into buf */
    const float *w;                     /* [2^hash_bits][n_classes], into buf */
    unsigned char *buf;                 /* owned: the whole file */
};

/* ---- hashing and features --------------------------------------------------------- */

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

static uint64_t mix64(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

static inline unsigned char fold_digit(unsigned char c) {
    return (c >= '0' && c <= '9') ? '0' : c;
}

/* Hash of s[0..n) with digits as '0', seeded by kind. */
static uint64_t hash_bytes(int kind, const char *s, size_t n) {
    uint64_t h = FNV_OFFSET ^ ((uint64_t)kind * 0x9e3779b97f4a7c15ull);
    for (size_t i = 0; i < n; i++) {
        h ^= fold_digit((unsigned char)s[i]);
        h *= FNV_PRIME;
    }
    return h;
}

static uint64_t hash_pair(int kind, uint64_t a, uint64_t b) {
    return mix64(a * 0x9e3779b97f4a7c15ull ^ mix64(b + (uint64_t)kind));
}

/* Stand-ins for the tokens before the first and after the last one. */
#define TOK_BOS 0x5bd1e9955bd1e995ull
#define TOK_EOS 0x2545f4914f6cdd1dull

typedef struct feat_ctx {
    unsigned shift; /* 64 - hash_bits */
    nlu_feat_fn fn; /* receives each feature occurrence */
    void *priv;     /* its state */
} feat_ctx;

static inline void emit(const feat_ctx *fc, uint64_t h) {
    fc->fn(fc->priv, (uint32_t)(mix64(h) >> fc->shift));
}

int nlu_has_high_byte(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80)
            return 1;
    return 0;
}

/* Next syllable of the space-separated s[0..n) from *i: returns 1 with the syllable in
 * s[*st..*i), or 0 at the end. */
static int next_syllable(const char *s, size_t n, size_t *i, size_t *st) {
    while (*i < n && s[*i] == ' ')
        (*i)++;
    if (*i >= n)
        return 0;
    *st = *i;
    while (*i < n && s[*i] != ' ')
        (*i)++;
    return 1;
}

/* Syllable unigrams and bigrams of one key. only_marked: skip the unigram of an ASCII
 * syllable and a bigram of two ASCII syllables (the folded key). */
static void token_features(const feat_ctx *fc, const char *s, size_t n, int k_uni, int k_bi,
                           int only_marked) {
    uint64_t prev = TOK_BOS;
    int prev_marked = 0;
    size_t i = 0, st;
    while (next_syllable(s, n, &i, &st)) {
        uint64_t h = hash_bytes(k_uni, s + st, i - st);
        int marked = only_marked ? nlu_has_high_byte(s + st, i - st) : 1;
        if (marked)
            emit(fc, h);
        if (marked || prev_marked)
            emit(fc, hash_pair(k_bi, prev, h));
        prev = h;
        prev_marked = marked;
    }
    if (prev != TOK_BOS && (prev_marked || !only_marked))
        emit(fc, hash_pair(k_bi, prev, TOK_EOS));
}

/* Character n-grams of each syllable of s written " syllable " (a space marks the word
 * boundary on both sides, as in fastText's subwords): "<kh", "kha", "hai", "ai>"... */
static void char_features(const feat_ctx *fc, const char *s, size_t n) {
    size_t i = 0, st;
    while (next_syllable(s, n, &i, &st)) {
        /* The padded token is s[st-1 .. i] with both ends read as ' '. */
        size_t m = i - st + 2;
        for (size_t a = 0; a + NLU_CHAR_MIN <= m; a++) {
            uint64_t h = FNV_OFFSET ^ ((uint64_t)K_CHAR * 0x9e3779b97f4a7c15ull);
            for (size_t k = 0; k < NLU_CHAR_MAX && a + k < m; k++) {
                size_t j = a + k;
                unsigned char c =
                    (j == 0 || j == m - 1) ? ' ' : fold_digit((unsigned char)s[st + j - 1]);
                h ^= c;
                h *= FNV_PRIME;
                if (k + 1 >= NLU_CHAR_MIN)
                    emit(fc, h ^ (uint64_t)(k + 1));
            }
        }
    }
}

void nlu_feat_each(const vn_text *t, unsigned bits, nlu_feat_fn fn, void *priv) {
    feat_ctx fc = {64u - bits, fn, priv};
    const char *plain = t->plain ? t->plain : "";
    const char *folded = t->folded ? t->folded : "";
    size_t pl = t->plain ? t->plain_len : 0, fl = t->folded ? t->folded_len : 0;
    token_features(&fc, plain, pl, K_PLAIN_UNI, K_PLAIN_BI, 0);
    token_features(&fc, folded, fl, K_FOLD_UNI, K_FOLD_BI, 1);
    char_features(&fc, plain, pl);
}

/* ---- scoring ---------------------------------------------------------------------- */

#define SCORE_BATCH 256 /* feature rows fetched together (prefetched, then summed) */

/* Scoring is memory-bound: every feature is a random row of a multi-megabyte table.
 * Rows are collected in batches, prefetched all at once, then summed in the same order
 * as they came, so the result is bit-identical to summing them one by one. */
typedef struct score_acc {
    const float *w;            /* weight rows */
    size_t c;                  /* classes */
    float *z;                  /* [c] running sums */
    size_t count;              /* feature occurrences */
    uint32_t idx[SCORE_BATCH]; /* rows waiting */
    size_t n;                  /* entries used in idx */
} score_acc;

static void score_flush(score_acc *a) {
    const size_t c = a->c;
    for (size_t i = 0; i < a->n; i++)
        __builtin_prefetch(a->w + (size_t)a->idx[i] * c);
    float *restrict z = a->z;
    for (size_t i = 0; i < a->n; i++) {
        const float *restrict row = a->w + (size_t)a->idx[i] * c;
        for (size_t k = 0; k < c; k++)
            z[k] += row[k];
    }
    a->n = 0;
}

static void score_add(void *priv, uint32_t b) {
    score_acc *a = priv;
    a->idx[a->n++] = b;
    a->count++;
    if (a->n == SCORE_BATCH)
        score_flush(a);
}

int nlu_softmax(const double *z, size_t c, double temp, double *p) {
    int best = 0;
    for (size_t k = 1; k < c; k++)
        if (z[k] > z[best])
            best = (int)k;
    double sum = 0;
    for (size_t k = 0; k < c; k++) {
        p[k] = exp((z[k] - z[best]) / temp);
        sum += p[k];
    }
    for (size_t k = 0; k < c; k++)
        p[k] /= sum;
    return best;
}

int nlu_model_predict(const nlu_model *m, const vn_text *t, float *probs) {
    if (!m || !t)
        return MC_EINVAL;
    float zs[NLU_MODEL_MAX_CLASSES] = {0};
    score_acc a;
    a.w = m->w;
    a.c = m->n_classes;
    a.z = zs;
    a.count = 0;
    a.n = 0;
    nlu_feat_each(t, m->hash_bits, score_add, &a);
    score_flush(&a);
    double scale = a.count ? 1.0 / sqrt((double)a.count) : 0.0;
    double z[NLU_MODEL_MAX_CLASSES] = {0}, p[NLU_MODEL_MAX_CLASSES];
    for (size_t k = 0; k < m->n_classes; k++)
        z[k] = (double)m->bias[k] + (double)zs[k] * scale;
    int best = nlu_softmax(z, m->n_classes, m->temperature, p);
    if (probs)
        for (size_t k = 0; k < m->n_classes; k++)
            probs[k] = (float)p[k];
    return best;
}

size_t nlu_model_classes(const nlu_model *m) {
    return m ? m->n_classes : 0;
}

const char *nlu_model_class(const nlu_model *m, size_t i) {
    return (m && i < m->n_classes) ? m->names[i] : NULL;
}

/* ---- the file --------------------------------------------------------------------- */

static uint32_t get_u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const unsigned char *p) {
    return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

static void put_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v) {
    put_u32(p, (uint32_t)v);
    put_u32(p + 4, (uint32_t)(v >> 32));
}

static float u32_to_float(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t float_to_u32(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* FNV-1a over 64-bit little-endian words, then the tail bytes; n is usually a multiple
 * of 4, not always of 8. */
static uint64_t checksum(const unsigned char *p, size_t n) {
    uint64_t h = FNV_OFFSET;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        h ^= get_u64(p + i);
        h *= FNV_PRIME;
    }
    for (; i < n; i++) {
        h ^= p[i];
        h *= FNV_PRIME;
    }
    return mix64(h);
}

static size_t names_block_len(char *const *names, size_t c) {
    size_t n = 0;
    for (size_t k = 0; k < c; k++)
        n += strlen(names[k]) + 1;
    return (n + 3) & ~(size_t)3;
}

int nlu_model_name_ok(const char *s, size_t n) {
    if (n == 0 || n > NLU_MODEL_MAX_NAME)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '.'))
            return 0;
    }
    return 1;
}

static int host_little_endian(void) {
    const uint32_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* Expected file size for the header fields, or 0 when they cannot describe a valid file. */
static size_t expected_size(unsigned bits, size_t c, size_t names_len) {
    size_t rows = (size_t)1 << bits;
    size_t floats = c + rows * c;
    return NLU_MODEL_HEADER + names_len + floats * 4 + 8;
}

size_t nlu_model_file_size(unsigned bits, char *const *names, size_t c) {
    return expected_size(bits, c, names_block_len(names, c));
}

nlu_model *nlu_model_load(const char *path, char *err, size_t errlen) {
    nlu_model *m = NULL;
    unsigned char *buf = NULL;
    FILE *f = NULL;
    if (!path) {
        snprintf(err, errlen, "no model path");
        return NULL;
    }
    f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) != 0) {
        snprintf(err, errlen, "%s: cannot seek: %s", path, strerror(errno));
        goto fail;
    }
    long sz = ftell(f);
    if (sz < 0 || fseek(f, 0, SEEK_SET) != 0) {
        snprintf(err, errlen, "%s: cannot read its size", path);
        goto fail;
    }
    size_t size = (size_t)sz;
    if (size < NLU_MODEL_HEADER + 8) {
        snprintf(err, errlen, "%s: truncated model file (%zu bytes, header needs %u)", path, size,
                 NLU_MODEL_HEADER + 8);
        goto fail;
    }
    if (size > NLU_MODEL_MAX_FILE) {
        snprintf(err, errlen, "%s: %zu bytes is larger than any model (%u)", path, size,
                 NLU_MODEL_MAX_FILE);
        goto fail;
    }
    buf = malloc(size);
    if (!buf) {
        snprintf(err, errlen, "%s: out of memory (%zu bytes)", path, size);
        goto fail;
    }
    if (fread(buf, 1, size, f) != size) {
        snprintf(err, errlen, "%s: short read", path);
        goto fail;
    }
    fclose(f);
    f = NULL;

    if (memcmp(buf, NLU_MODEL_MAGIC, NLU_MODEL_MAGIC_LEN) != 0) {
        snprintf(err, errlen, "%s: not a motcua model (bad magic)", path);
        goto fail;
    }
    uint32_t version = get_u32(buf + 8), bits = get_u32(buf + 12), c = get_u32(buf + 16);
    uint32_t cmin = get_u32(buf + 20), cmax = get_u32(buf + 24), flags = get_u32(buf + 28);
    float temp = u32_to_float(get_u32(buf + 32));
    uint32_t names_len = get_u32(buf + 36);
    if (version != NLU_MODEL_VERSION) {
        snprintf(err, errlen,
                 "%s: model version %u, this motcua reads version %u (retrain "
                 "with motcua train)",
                 path, version, NLU_MODEL_VERSION);
        goto fail;
    }
    if (bits < NLU_MODEL_MIN_BITS || bits > NLU_MODEL_MAX_BITS) {
        snprintf(err, errlen, "%s: hash bits %u outside [%d, %d]", path, bits, NLU_MODEL_MIN_BITS,
                 NLU_MODEL_MAX_BITS);
        goto fail;
    }
    if (c < 2 || c > NLU_MODEL_MAX_CLASSES) {
        snprintf(err, errlen, "%s: %u classes, expected 2..%d", path, c, NLU_MODEL_MAX_CLASSES);
        goto fail;
    }
    if (cmin != NLU_CHAR_MIN || cmax != NLU_CHAR_MAX || flags != 0) {
        snprintf(err, errlen,
                 "%s: feature settings (char n-grams %u..%u, flags %u) differ from "
                 "this motcua's (%d..%d, 0); retrain",
                 path, cmin, cmax, flags, NLU_CHAR_MIN, NLU_CHAR_MAX);
        goto fail;
    }
    if (names_len % 4 || names_len > c * (NLU_MODEL_MAX_NAME + 1u) + 3u) {
        snprintf(err, errlen, "%s: names block of %u bytes is malformed", path, names_len);
        goto fail;
    }
    size_t want = expected_size(bits, c, names_len);
    if (size != want) {
        snprintf(err, errlen, "%s: %s model file (%zu bytes, its header says %zu)", path,
                 size < want ? "truncated" : "oversized", size, want);
        goto fail;
    }
    if (checksum(buf, size - 8) != get_u64(buf + size - 8)) {
        snprintf(err, errlen, "%s: checksum mismatch (corrupted model file)", path);
        goto fail;
    }
    if (!(temp >= (float)NLU_TEMP_MIN && temp <= (float)NLU_TEMP_MAX)) {
        snprintf(err, errlen, "%s: temperature outside [%g, %g]", path, NLU_TEMP_MIN, NLU_TEMP_MAX);
        goto fail;
    }

    m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto fail;
    }
    m->hash_bits = bits;
    m->n_classes = c;
    m->temperature = temp;
    /* Names: c NUL-terminated valid ids, strictly ascending, then only NUL padding. */
    char *nb = (char *)buf + NLU_MODEL_HEADER;
    size_t pos = 0;
    for (size_t k = 0; k < c; k++) {
        char *nul = memchr(nb + pos, '\0', names_len - pos);
        if (!nul || !nlu_model_name_ok(nb + pos, (size_t)(nul - (nb + pos))) ||
            (k > 0 && strcmp(m->names[k - 1], nb + pos) >= 0)) {
            snprintf(err, errlen, "%s: class name %zu is malformed", path, k + 1);
            goto fail;
        }
        m->names[k] = nb + pos;
        pos = (size_t)(nul - nb) + 1;
    }
    if (names_len - pos >= 4) {
        snprintf(err, errlen, "%s: names block longer than its %u names", path, c);
        goto fail;
    }
    for (; pos < names_len; pos++)
        if (nb[pos] != '\0') {
            snprintf(err, errlen, "%s: names block padding is not zero", path);
            goto fail;
        }
    /* Floats: converted in place on a big-endian host, then checked finite. The names
     * block length is a multiple of 4, so the floats are 4-byte aligned in buf. */
    unsigned char *fp = buf + NLU_MODEL_HEADER + names_len;
    size_t nf = c + ((size_t)1 << bits) * c;
    if (!host_little_endian())
        for (size_t i = 0; i < nf; i++) {
            uint32_t u = get_u32(fp + 4 * i);
            memcpy(fp + 4 * i, &u, 4);
        }
    float *fl = (float *)(void *)fp;
    for (size_t i = 0; i < nf; i++)
        if (!isfinite(fl[i])) {
            snprintf(err, errlen, "%s: weight %zu is not finite", path, i);
            goto fail;
        }
    m->bias = fl;
    m->w = fl + c;
    m->buf = buf;
    return m;
fail:
    if (f)
        fclose(f);
    MC_FREE_ALL(m, buf);
    return NULL;
}

void nlu_model_free(nlu_model *m) {
    if (m)
        MC_FREE_ALL(m->buf, m);
}

int nlu_model_write(const char *path, unsigned bits, char *const *names, size_t c, float temp,
                    const float *bias, const float *w, char *err, size_t errlen) {
    size_t names_len = names_block_len(names, c);
    size_t size = expected_size(bits, c, names_len);
    unsigned char *buf = calloc(1, size);
    char tmp[4096];
    FILE *f = NULL;
    int rc = MC_EIO;
    if (!buf) {
        snprintf(err, errlen, "out of memory (%zu bytes)", size);
        return MC_ENOMEM;
    }
    memcpy(buf, NLU_MODEL_MAGIC, NLU_MODEL_MAGIC_LEN);
    put_u32(buf + 8, NLU_MODEL_VERSION);
    put_u32(buf + 12, bits);
    put_u32(buf + 16, (uint32_t)c);
    put_u32(buf + 20, NLU_CHAR_MIN);
    put_u32(buf + 24, NLU_CHAR_MAX);
    put_u32(buf + 28, 0);
    put_u32(buf + 32, float_to_u32(temp));
    put_u32(buf + 36, (uint32_t)names_len);
    size_t pos = NLU_MODEL_HEADER;
    for (size_t k = 0; k < c; k++) {
        size_t l = strlen(names[k]) + 1;
        memcpy(buf + pos, names[k], l);
        pos += l;
    }
    pos = NLU_MODEL_HEADER + names_len;
    for (size_t k = 0; k < c; k++, pos += 4)
        put_u32(buf + pos, float_to_u32(bias[k]));
    size_t nw = ((size_t)1 << bits) * c;
    for (size_t i = 0; i < nw; i++, pos += 4)
        put_u32(buf + pos, float_to_u32(w[i]));
    put_u64(buf + pos, checksum(buf, pos));

    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= sizeof tmp) {
        snprintf(err, errlen, "%s: path too long", path);
        goto out;
    }
    f = fopen(tmp, "wb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot create: %s", tmp, strerror(errno));
        goto out;
    }
    if (fwrite(buf, 1, size, f) != size || fclose(f) != 0) {
        f = NULL;
        snprintf(err, errlen, "%s: write failed: %s", tmp, strerror(errno));
        remove(tmp);
        goto out;
    }
    f = NULL;
    if (rename(tmp, path) != 0) {
        snprintf(err, errlen, "%s: cannot rename into place: %s", path, strerror(errno));
        remove(tmp);
        goto out;
    }
    rc = 0;
out:
    if (f)
        fclose(f);
    free(buf);
    return rc;
}
