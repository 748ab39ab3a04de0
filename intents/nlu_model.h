/*
 * intents/nlu_model.h — the trained intent classifier: a linear model (multinomial
 * logistic regression) over hashed features of a normalized message, with a calibrated
 * confidence (temperature scaling fitted on held-out folds of the training data).
 *
 * Features of a vn_text: syllable unigrams and bigrams of `folded` and of `plain`, and
 * character 3..5-grams of `plain` with word-boundary markers, hashed into 2^hash_bits
 * buckets. The model file is a small versioned little-endian binary (see nlu_model.c);
 * nlu_model_train writes it, nlu_model_load reads and validates it.
 */
#ifndef NLU_MODEL_H
#define NLU_MODEL_H

#include "vi-nlp/vn_norm.h"

#include <stddef.h>
#include <stdio.h>

typedef struct nlu_model nlu_model; /* opaque; read-only after loading, shareable */

/* Reads and validates a model file (size, magic, version, hash bits, class count and names).
 * Returns NULL with a message naming the file in err[errlen] when it is missing, truncated
 * or corrupted. Free with nlu_model_free. */
nlu_model *nlu_model_load(const char *path, char *err, size_t errlen);
void nlu_model_free(nlu_model *m);

/* Number of classes (intent ids) and the id of class i (model-owned; NULL if i is out of
 * range). Classes are sorted by id, so indices are stable for a given training set. */
size_t nlu_model_classes(const nlu_model *m);
const char *nlu_model_class(const nlu_model *m, size_t i);

/* Scores one normalized message. probs (may be NULL) receives nlu_model_classes(m)
 * calibrated probabilities summing to 1. Returns the index of the most probable class, or
 * MC_EINVAL for NULL m/t. Allocates nothing; safe to call from several threads at once. */
int nlu_model_predict(const nlu_model *m, const vn_text *t, float *probs);

/* Training options; a field left 0 takes its default (see nlu_model.c: NLU_TRAIN_*). */
typedef struct nlu_train_opts {
    int epochs;    /* passes of SGD over the training set */
    double l2;     /* L2 regularization strength (per example) */
    int hash_bits; /* log2 of the number of feature buckets */
    unsigned seed; /* shuffling seed; the same seed gives the same file bytes */
    int folds;     /* k of the k-fold cross-validation (also fits the temperature) */
    FILE *log;     /* progress lines (per-epoch loss, CV accuracy, temperature, time);
                      NULL prints nothing */
} nlu_train_opts;

/* Trains on train_tsv (`intent<TAB>text` per line, `#` comments and blank lines skipped),
 * normalizing every text with n, runs k-fold cross-validation (reports accuracy and fits
 * the calibration temperature on the held-out scores), trains the final model on all lines
 * and writes it to out_path (atomically: a temporary file renamed). Returns 0 or a negative
 * MC_E* with a message naming the file and line in err. */
int nlu_model_train(vn_normalizer *n, const char *train_tsv, const nlu_train_opts *o,
                    const char *out_path, char *err, size_t errlen);

#endif
