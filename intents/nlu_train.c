/*
 * intents/nlu_train.c — training the intent classifier (nlu_model_train).
 *
 * The features and the model file are nlu_model.c's (nlu_model_int.h).
 *
 * AdaGrad SGD on the cross-entropy with L2, deterministic (own PRNG, fixed seed,
 * no threads, -std=c11 keeps floating-point contraction off), so the same data and seed give
 * the same file bytes. k-fold cross-validation (stratified) gives the accuracy estimate and
 * the held-out logits on which the softmax temperature T is fitted (minimum NLL, golden-
 * section search on log T): confidence = softmax(z / T) is then calibrated, which the
 * reliability figures (ECE, accuracy above 0.8) printed by training measure.
 *
 */
#include "intents/nlu_model.h"
#include "intents/nlu_model_int.h"

#include "core/mc.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- defaults and limits ---------------------------------------------------------- */

/* Defaults chosen by 5-fold cross-validation on intents/data/train.tsv (never on dev.tsv):
 * epochs 5..40 x l2 1e-5..1e-3 x hash bits 16..18 all land within about one point of CV
 * accuracy; 10 epochs, l2 1e-4 and 2^16 buckets (a 4 MB model for 15 intents) are at the
 * top of that flat region and the smallest and fastest there. */
#define NLU_TRAIN_EPOCHS 10
#define NLU_TRAIN_L2 1e-4
#define NLU_TRAIN_HASH_BITS 16
#define NLU_TRAIN_SEED 20251123u
#define NLU_TRAIN_FOLDS 5
#ifndef NLU_TRAIN_AUGMENT
#define NLU_TRAIN_AUGMENT 1 /* also train on the unaccented rendering of accented lines */
#endif
#define NLU_TRAIN_MAX_EPOCHS 1000
#define NLU_TRAIN_MAX_FOLDS 20
#define NLU_TRAIN_LR 0.5 /* AdaGrad base step */
#define NLU_TRAIN_ADAGRAD_EPS 1e-6
#define NLU_TRAIN_MAX_LINES 200000      /* training lines */
#define NLU_TRAIN_MAX_BYTES (64u << 20) /* training file */
#define NLU_TEMP_ITERS 60               /* golden-section steps */
#define NLU_ECE_BINS 10                 /* reliability diagram bins */
#define NLU_CONF_HIGH 0.8               /* "confident" threshold reported by training */

/* ---- training data ---------------------------------------------------------------- */

typedef struct feat {
    uint32_t idx; /* bucket */
    float val;    /* count / sqrt(occurrences) */
} feat;

typedef struct example {
    size_t off; /* first feature in the data set's feats */
    uint32_t n; /* distinct features */
    int y;      /* class */
    int len;    /* length bucket (syllables), for the CV report */
    size_t src; /* the line's own example; for an unaccented rendering, the original's */
} example;

typedef struct dataset {
    example *ex;                         /* [n] */
    size_t n, cap;                       /* examples, allocated */
    feat *feats;                         /* all examples' features, concatenated */
    size_t nf, fcap;                     /* used, allocated */
    char *names[NLU_MODEL_MAX_CLASSES];  /* owned, sorted */
    size_t c;                            /* classes */
    size_t count[NLU_MODEL_MAX_CLASSES]; /* lines per class */
    size_t lines;                        /* original lines (n minus the renderings) */
} dataset;

typedef struct collect {
    uint32_t *b; /* buckets of one example */
    size_t n, cap;
    int oom; /* an allocation failed */
} collect;

static void collect_add(void *priv, uint32_t b) {
    collect *cl = priv;
    if (cl->n == cl->cap) {
        size_t cap = cl->cap ? cl->cap * 2 : 256;
        uint32_t *nb = realloc(cl->b, cap * sizeof *nb);
        if (!nb) {
            cl->oom = 1;
            return;
        }
        cl->b = nb;
        cl->cap = cap;
    }
    cl->b[cl->n++] = b;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void dataset_free(dataset *d) {
    free(d->ex);
    free(d->feats);
    for (size_t k = 0; k < d->c; k++)
        free(d->names[k]);
    memset(d, 0, sizeof *d);
}

/* Adds the deduplicated, scaled features of cl as one example of class y. */
static int dataset_add(dataset *d, collect *cl, int y) {
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 1024;
        example *ne = realloc(d->ex, cap * sizeof *ne);
        if (!ne)
            return MC_ENOMEM;
        d->ex = ne;
        d->cap = cap;
    }
    if (d->nf + cl->n > d->fcap) {
        size_t cap = d->fcap ? d->fcap : 65536;
        while (cap < d->nf + cl->n)
            cap *= 2;
        feat *nf = realloc(d->feats, cap * sizeof *nf);
        if (!nf)
            return MC_ENOMEM;
        d->feats = nf;
        d->fcap = cap;
    }
    if (cl->n)
        qsort(cl->b, cl->n, sizeof *cl->b, cmp_u32);
    float scale = cl->n ? (float)(1.0 / sqrt((double)cl->n)) : 0.0f;
    example *e = &d->ex[d->n++];
    e->off = d->nf;
    e->n = 0;
    e->y = y;
    for (size_t i = 0; i < cl->n;) {
        size_t j = i;
        while (j < cl->n && cl->b[j] == cl->b[i])
            j++;
        d->feats[d->nf].idx = cl->b[i];
        d->feats[d->nf].val = (float)(j - i) * scale;
        d->nf++;
        e->n++;
        i = j;
    }
    return 0;
}

static char *read_file(const char *path, size_t *len, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(NLU_TRAIN_MAX_BYTES + 1);
    size_t n = buf ? fread(buf, 1, NLU_TRAIN_MAX_BYTES + 1, f) : 0;
    int bad = ferror(f);
    fclose(f);
    if (!buf) {
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    if (bad || n > NLU_TRAIN_MAX_BYTES) {
        snprintf(err, errlen, "%s: %s", path,
                 bad ? "read error" : "larger than the training file limit");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* One parsed line: label and text, pointing into the file buffer. */
typedef struct tsv_line {
    const char *label, *text; /* not NUL-terminated */
    size_t label_len, text_len;
    long lineno; /* 1-based */
} tsv_line;

/* Splits the file into lines; skips blank and '#' lines; checks the shape. */
static int parse_tsv(const char *path, const char *buf, size_t len, tsv_line **out, size_t *n,
                     char *err, size_t errlen) {
    size_t cap = 0;
    tsv_line *v = NULL;
    long lineno = 0;
    *n = 0;
    for (size_t i = 0; i < len;) {
        const char *s = buf + i;
        const char *nl = memchr(s, '\n', len - i);
        size_t l = nl ? (size_t)(nl - s) : len - i;
        i += l + (nl ? 1 : 0);
        lineno++;
        if (l && s[l - 1] == '\r')
            l--;
        size_t k = 0;
        while (k < l && (s[k] == ' ' || s[k] == '\t'))
            k++;
        if (k == l || s[k] == '#')
            continue;
        const char *tab = memchr(s, '\t', l);
        if (!tab) {
            snprintf(err, errlen, "%s:%ld: expected intent<TAB>text", path, lineno);
            goto fail;
        }
        size_t ll = (size_t)(tab - s);
        if (!nlu_model_name_ok(s, ll)) {
            snprintf(err, errlen, "%s:%ld: intent id must be 1..%d of a-z 0-9 _ .", path, lineno,
                     NLU_MODEL_MAX_NAME);
            goto fail;
        }
        const char *t = tab + 1;
        const char *tab2 = memchr(t, '\t', l - ll - 1);
        size_t tl = tab2 ? (size_t)(tab2 - t) : l - ll - 1;
        if (tl == 0) {
            snprintf(err, errlen, "%s:%ld: empty text", path, lineno);
            goto fail;
        }
        if (*n == NLU_TRAIN_MAX_LINES) {
            snprintf(err, errlen, "%s:%ld: more than %d training lines", path, lineno,
                     NLU_TRAIN_MAX_LINES);
            goto fail;
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 1024;
            tsv_line *nv = realloc(v, cap * sizeof *nv);
            if (!nv) {
                snprintf(err, errlen, "%s: out of memory", path);
                goto fail;
            }
            v = nv;
        }
        v[(*n)++] = (tsv_line){s, t, ll, tl, lineno};
    }
    *out = v;
    return 0;
fail:
    free(v);
    *n = 0;
    return MC_EPARSE;
}

/* Messages by length in syllables, for the CV report: the bucket of t. */
static const int len_upper[] = {3, 8, 15, 30, INT32_MAX};
#define N_LEN (sizeof len_upper / sizeof len_upper[0])

static int len_bucket(const vn_text *t) {
    int toks = t->plain_len ? 1 : 0;
    for (size_t i = 0; i < t->plain_len; i++)
        toks += t->plain[i] == ' ';
    int b = 0;
    while (toks > len_upper[b])
        b++;
    return b;
}

static int find_class(char *const *names, size_t c, const char *s, size_t n) {
    for (size_t k = 0; k < c; k++)
        if (strlen(names[k]) == n && !memcmp(names[k], s, n))
            return (int)k;
    return -1;
}

static int load_dataset(vn_normalizer *vn, const char *path, unsigned bits, dataset *d, char *err,
                        size_t errlen) {
    size_t len = 0, nl = 0;
    tsv_line *lines = NULL;
    collect cl = {0};
    int rc;
    char *buf = read_file(path, &len, err, errlen);
    if (!buf)
        return MC_EIO;
    if ((rc = parse_tsv(path, buf, len, &lines, &nl, err, errlen)))
        goto out;
    /* Classes first, sorted, so indices do not depend on line order. */
    for (size_t i = 0; i < nl; i++) {
        if (find_class(d->names, d->c, lines[i].label, lines[i].label_len) >= 0)
            continue;
        if (d->c == NLU_MODEL_MAX_CLASSES) {
            snprintf(err, errlen, "%s:%ld: more than %d intents", path, lines[i].lineno,
                     NLU_MODEL_MAX_CLASSES);
            rc = MC_ETOOBIG;
            goto out;
        }
        if (!(d->names[d->c] = strndup(lines[i].label, lines[i].label_len))) {
            rc = MC_ENOMEM;
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        d->c++;
    }
    if (d->c < 2) {
        snprintf(err, errlen, "%s: needs at least 2 intents, found %zu", path, d->c);
        rc = MC_EPARSE;
        goto out;
    }
    qsort(d->names, d->c, sizeof d->names[0], cmp_str);
    for (size_t i = 0; i < nl; i++) {
        vn_text t;
        rc = vn_normalize(vn, lines[i].text, lines[i].text_len, &t);
        if (rc) {
            snprintf(err, errlen, "%s:%ld: text: %s", path, lines[i].lineno, mc_strerror(rc));
            goto out;
        }
        int y = find_class(d->names, d->c, lines[i].label, lines[i].label_len);
        int lb = len_bucket(&t);
        /* The line as written, then (when it has diacritics) the same line as a citizen
         * typing without them would send it: folded == plain. */
        int renderings = nlu_has_high_byte(t.folded, t.folded_len) ? 2 : 1;
        size_t src = d->n;
        for (int r = 0; r < renderings; r++) {
            vn_text u = t;
            if (r == 1) {
                u.folded = t.plain;
                u.folded_len = t.plain_len;
            }
            cl.n = 0;
            nlu_feat_each(&u, bits, collect_add, &cl);
            if (cl.oom || dataset_add(d, &cl, y)) {
                vn_text_free(&t);
                snprintf(err, errlen, "out of memory");
                rc = MC_ENOMEM;
                goto out;
            }
            d->ex[d->n - 1].len = lb;
            d->ex[d->n - 1].src = src;
        }
        vn_text_free(&t);
        d->count[y]++;
        d->lines++;
    }
    rc = 0;
out:
    free(cl.b);
    free(lines);
    free(buf);
    return rc;
}

/* ---- the learner ------------------------------------------------------------------ */

/* xorshift64*: small, fast, the same everywhere. */
static uint64_t rng_next(uint64_t *s) {
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

static void shuffle(size_t *v, size_t n, uint64_t *rng) {
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(rng_next(rng) % i);
        size_t t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}

typedef struct learner {
    unsigned bits; /* hash bits */
    size_t c;      /* classes */
    float *w, *gw; /* weights and AdaGrad accumulators, [2^bits][c] */
    float b[NLU_MODEL_MAX_CLASSES], gb[NLU_MODEL_MAX_CLASSES]; /* bias and accumulators */
} learner;

static void logits(const learner *L, const dataset *d, const example *e, double *z) {
    for (size_t k = 0; k < L->c; k++)
        z[k] = L->b[k];
    const feat *f = d->feats + e->off;
    for (uint32_t i = 0; i < e->n; i++) {
        const float *row = L->w + (size_t)f[i].idx * L->c;
        for (size_t k = 0; k < L->c; k++)
            z[k] += (double)row[k] * f[i].val;
    }
}

/* Trains L on the examples idx[0..n) for the given epochs; logs each epoch when lg. */
static void fit(learner *L, const dataset *d, size_t *idx, size_t n, int epochs, double l2,
                uint64_t *rng, FILE *lg) {
    size_t rows = (size_t)1 << L->bits;
    memset(L->w, 0, rows * L->c * sizeof *L->w);
    memset(L->gw, 0, rows * L->c * sizeof *L->gw);
    memset(L->b, 0, sizeof L->b);
    memset(L->gb, 0, sizeof L->gb);
    double z[NLU_MODEL_MAX_CLASSES], p[NLU_MODEL_MAX_CLASSES], g[NLU_MODEL_MAX_CLASSES];
    for (int ep = 0; ep < epochs; ep++) {
        shuffle(idx, n, rng);
        double loss = 0;
        size_t right = 0;
        for (size_t s = 0; s < n; s++) {
            const example *e = &d->ex[idx[s]];
            logits(L, d, e, z);
            int best = nlu_softmax(z, L->c, 1.0, p);
            right += best == e->y;
            loss -= log(p[e->y] > 1e-300 ? p[e->y] : 1e-300);
            for (size_t k = 0; k < L->c; k++)
                g[k] = p[k] - (k == (size_t)e->y ? 1.0 : 0.0);
            const feat *f = d->feats + e->off;
            for (uint32_t i = 0; i < e->n; i++) {
                float *row = L->w + (size_t)f[i].idx * L->c;
                float *grow = L->gw + (size_t)f[i].idx * L->c;
                for (size_t k = 0; k < L->c; k++) {
                    double gr = g[k] * f[i].val + l2 * row[k];
                    grow[k] += (float)(gr * gr);
                    row[k] -= (float)(NLU_TRAIN_LR * gr / sqrt(grow[k] + NLU_TRAIN_ADAGRAD_EPS));
                }
            }
            for (size_t k = 0; k < L->c; k++) {
                L->gb[k] += (float)(g[k] * g[k]);
                L->b[k] -= (float)(NLU_TRAIN_LR * g[k] / sqrt(L->gb[k] + NLU_TRAIN_ADAGRAD_EPS));
            }
        }
        if (lg)
            fprintf(lg, "  epoch %2d/%d  loss %.4f  train accuracy %.4f\n", ep + 1, epochs,
                    loss / (double)(n ? n : 1), (double)right / (double)(n ? n : 1));
    }
}

static int best_of(const double *z, size_t c) {
    int best = 0;
    for (size_t k = 1; k < c; k++)
        if (z[k] > z[best])
            best = (int)k;
    return best;
}

/* Mean negative log-likelihood of the held-out logits z[n][c] at temperature T. */
static double nll_at(const double *z, const int *y, size_t n, size_t c, double T) {
    double p[NLU_MODEL_MAX_CLASSES], s = 0;
    for (size_t i = 0; i < n; i++) {
        nlu_softmax(z + i * c, c, T, p);
        s -= log(p[y[i]] > 1e-300 ? p[y[i]] : 1e-300);
    }
    return s / (double)n;
}

/* Expected calibration error (equal-width bins of the top probability) at T; also the
 * accuracy and coverage of predictions with confidence >= NLU_CONF_HIGH. */
static double ece_at(const double *z, const int *y, size_t n, size_t c, double T, double *acc_high,
                     double *cover_high) {
    double p[NLU_MODEL_MAX_CLASSES], conf[NLU_ECE_BINS] = {0}, acc[NLU_ECE_BINS] = {0};
    size_t cnt[NLU_ECE_BINS] = {0}, nh = 0, rh = 0;
    for (size_t i = 0; i < n; i++) {
        int best = nlu_softmax(z + i * c, c, T, p);
        int b = (int)(p[best] * NLU_ECE_BINS);
        if (b >= NLU_ECE_BINS)
            b = NLU_ECE_BINS - 1;
        conf[b] += p[best];
        acc[b] += best == y[i];
        cnt[b]++;
        if (p[best] >= NLU_CONF_HIGH) {
            nh++;
            rh += best == y[i];
        }
    }
    double e = 0;
    for (int b = 0; b < NLU_ECE_BINS; b++)
        if (cnt[b])
            e += fabs(acc[b] - conf[b]) / (double)n;
    *acc_high = nh ? (double)rh / (double)nh : 0;
    *cover_high = (double)nh / (double)n;
    return e;
}

/* The temperature minimizing held-out NLL: golden-section search on log T. */
static double fit_temperature(const double *z, const int *y, size_t n, size_t c) {
    const double gr = (sqrt(5.0) - 1) / 2;
    double a = log(NLU_TEMP_MIN), b = log(NLU_TEMP_MAX);
    double x1 = b - gr * (b - a), x2 = a + gr * (b - a);
    double f1 = nll_at(z, y, n, c, exp(x1)), f2 = nll_at(z, y, n, c, exp(x2));
    for (int it = 0; it < NLU_TEMP_ITERS; it++) {
        if (f1 < f2) {
            b = x2;
            x2 = x1;
            f2 = f1;
            x1 = b - gr * (b - a);
            f1 = nll_at(z, y, n, c, exp(x1));
        } else {
            a = x1;
            x1 = x2;
            f1 = f2;
            x2 = a + gr * (b - a);
            f2 = nll_at(z, y, n, c, exp(x2));
        }
    }
    return exp((a + b) / 2);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int nlu_model_train(vn_normalizer *vn, const char *train_tsv, const nlu_train_opts *o,
                    const char *out_path, char *err, size_t errlen) {
    nlu_train_opts def = {0};
    if (!o)
        o = &def;
    int epochs = o->epochs ? o->epochs : NLU_TRAIN_EPOCHS;
    double l2 = o->l2 ? o->l2 : NLU_TRAIN_L2;
    int bits = o->hash_bits ? o->hash_bits : NLU_TRAIN_HASH_BITS;
    unsigned seed = o->seed ? o->seed : NLU_TRAIN_SEED;
    int folds = o->folds ? o->folds : NLU_TRAIN_FOLDS;
    FILE *lg = o->log;
    if (!vn || !train_tsv || !out_path) {
        snprintf(err, errlen, "nlu_model_train: missing normalizer, data or output path");
        return MC_EINVAL;
    }
    if (epochs < 1 || epochs > NLU_TRAIN_MAX_EPOCHS || l2 < 0 || !isfinite(l2) ||
        bits < NLU_MODEL_MIN_BITS || bits > NLU_MODEL_MAX_BITS || folds < 2 ||
        folds > NLU_TRAIN_MAX_FOLDS) {
        snprintf(err, errlen,
                 "training options out of range (epochs 1..%d, l2 >= 0, hash bits "
                 "%d..%d, folds 2..%d)",
                 NLU_TRAIN_MAX_EPOCHS, NLU_MODEL_MIN_BITS, NLU_MODEL_MAX_BITS, NLU_TRAIN_MAX_FOLDS);
        return MC_EINVAL;
    }
    double t0 = now_s();
    dataset d = {0};
    learner L = {0};
    size_t *idx = NULL, *order = NULL;
    double *hz = NULL;
    int *hy = NULL, *fold_of = NULL;
    int rc = load_dataset(vn, train_tsv, (unsigned)bits, &d, err, errlen);
    if (rc)
        goto out;
    size_t rows = (size_t)1 << bits;
    L.bits = (unsigned)bits;
    L.c = d.c;
    L.w = malloc(rows * d.c * sizeof *L.w);
    L.gw = malloc(rows * d.c * sizeof *L.gw);
    idx = malloc(d.n * sizeof *idx);
    order = malloc(d.n * sizeof *order);
    fold_of = malloc(d.n * sizeof *fold_of);
    hz = malloc(d.n * d.c * sizeof *hz);
    hy = malloc(d.n * sizeof *hy);
    if (!L.w || !L.gw || !idx || !order || !fold_of || !hz || !hy) {
        snprintf(err, errlen, "out of memory");
        rc = MC_ENOMEM;
        goto out;
    }
    if (d.lines < (size_t)folds) {
        snprintf(err, errlen, "%s: %zu lines is fewer than %d folds", train_tsv, d.lines, folds);
        rc = MC_EPARSE;
        goto out;
    }
    if (lg) {
        fprintf(lg,
                "train: %s: %zu lines (+%zu unaccented renderings), %zu intents, %d hash bits, "
                "%d epochs, l2 %g, %d folds, seed %u\n",
                train_tsv, d.lines, d.n - d.lines, d.c, bits, epochs, l2, folds, seed);
        for (size_t k = 0; k < d.c; k++)
            fprintf(lg, "  %-22s %zu lines\n", d.names[k], d.count[k]);
    }
    uint64_t rng = 0x9e3779b97f4a7c15ull ^ ((uint64_t)seed * 0xbf58476d1ce4e5b9ull);
    if (!rng)
        rng = 1;

    /* Stratified folds: shuffle the lines, then deal each class's round-robin; a line's
     * unaccented rendering goes with it. */
    size_t no = 0;
    for (size_t i = 0; i < d.n; i++)
        if (d.ex[i].src == i)
            order[no++] = i;
    shuffle(order, no, &rng);
    size_t dealt[NLU_MODEL_MAX_CLASSES] = {0};
    for (size_t i = 0; i < no; i++) {
        int y = d.ex[order[i]].y;
        fold_of[order[i]] = (int)(dealt[y]++ % (size_t)folds);
    }
    for (size_t i = 0; i < d.n; i++)
        fold_of[i] = fold_of[d.ex[i].src];
    size_t right = 0, right_u = 0, n_u = 0;
    size_t conf[NLU_MODEL_MAX_CLASSES][NLU_MODEL_MAX_CLASSES];
    memset(conf, 0, sizeof conf);
    for (int k = 0; k < folds; k++) {
        size_t n = 0;
        for (size_t i = 0; i < d.n; i++)
            if (fold_of[i] != k && (NLU_TRAIN_AUGMENT || d.ex[i].src == i))
                idx[n++] = i;
        fit(&L, &d, idx, n, epochs, l2, &rng, NULL);
        size_t fr = 0, fn = 0;
        for (size_t i = 0; i < d.n; i++) {
            if (fold_of[i] != k)
                continue;
            double *z = hz + i * d.c;
            logits(&L, &d, &d.ex[i], z);
            hy[i] = d.ex[i].y;
            int best = best_of(z, d.c);
            if (d.ex[i].src != i) {
                right_u += best == hy[i];
                n_u++;
                continue;
            }
            conf[hy[i]][best]++;
            fr += best == hy[i];
            fn++;
        }
        right += fr;
        if (lg)
            fprintf(lg, "cv fold %d/%d: accuracy %.4f (%zu/%zu)\n", k + 1, folds,
                    (double)fr / (double)fn, fr, fn);
    }
    double T = fit_temperature(hz, hy, d.n, d.c);
    if (T < NLU_TEMP_MIN)
        T = NLU_TEMP_MIN; /* exp(log(x)) may round just below the bound the loader checks */
    if (lg) {
        double ah1, ch1, ah2, ch2;
        double e1 = ece_at(hz, hy, d.n, d.c, 1.0, &ah1, &ch1);
        double e2 = ece_at(hz, hy, d.n, d.c, T, &ah2, &ch2);
        fprintf(lg, "cv accuracy %.4f (%zu/%zu, %d folds)\n", (double)right / (double)d.lines,
                right, d.lines, folds);
        fprintf(lg, "cv accuracy of the accented lines typed without diacritics %.4f (%zu/%zu)\n",
                n_u ? (double)right_u / (double)n_u : 0.0, right_u, n_u);
        fprintf(lg, "cv accuracy by length (syllables):");
        for (size_t b = 0; b < N_LEN; b++) {
            size_t nb = 0, rb = 0;
            for (size_t i = 0; i < d.n; i++)
                if (d.ex[i].len == (int)b && d.ex[i].src == i) {
                    nb++;
                    rb += best_of(hz + i * d.c, d.c) == hy[i];
                }
            if (len_upper[b] == INT32_MAX)
                fprintf(lg, " >%d: %.3f (%zu)", len_upper[b - 1], nb ? (double)rb / nb : 0, nb);
            else
                fprintf(lg, " <=%d: %.3f (%zu)", len_upper[b], nb ? (double)rb / nb : 0, nb);
        }
        fprintf(lg, "\n");
        fprintf(lg, "cv recall per intent:");
        for (size_t k = 0; k < d.c; k++) {
            size_t tot = 0;
            for (size_t j = 0; j < d.c; j++)
                tot += conf[k][j];
            fprintf(lg, "%s %s %.3f", k ? "," : "", d.names[k],
                    tot ? (double)conf[k][k] / (double)tot : 0.0);
        }
        fprintf(lg, "\n");
        fprintf(lg,
                "calibration: temperature %.4f; held-out NLL %.4f -> %.4f, ECE %.4f -> "
                "%.4f; confidence >= %.1f on %.1f%% of lines, accuracy there %.4f\n",
                T, nll_at(hz, hy, d.n, d.c, 1.0), nll_at(hz, hy, d.n, d.c, T), e1, e2,
                NLU_CONF_HIGH, 100.0 * ch2, ah2);
        fprintf(lg, "final model on all %zu lines:\n", d.lines);
    }
    size_t nfin = 0;
    for (size_t i = 0; i < d.n; i++)
        if (NLU_TRAIN_AUGMENT || d.ex[i].src == i)
            idx[nfin++] = i;
    fit(&L, &d, idx, nfin, epochs, l2, &rng, lg);
    rc = nlu_model_write(out_path, (unsigned)bits, d.names, d.c, (float)T, L.b, L.w, err, errlen);
    if (rc == 0 && lg)
        fprintf(lg, "wrote %s (%zu bytes) in %.2f s\n", out_path,
                nlu_model_file_size((unsigned)bits, d.names, d.c), now_s() - t0);
out:
    free(L.w);
    free(L.gw);
    free(idx);
    free(order);
    free(fold_of);
    free(hz);
    free(hy);
    dataset_free(&d);
    return rc;
}
