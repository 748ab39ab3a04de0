/*
 * intents/nlu_model_int.h — what the classifier's features and file (nlu_model.c) share
 * with its training (nlu_train.c). Internal to intents/: other modules use nlu_model.h.
 */
#ifndef MOTCUA_NLU_MODEL_INT_H
#define MOTCUA_NLU_MODEL_INT_H

#include "vi-nlp/vn_norm.h"

#include <stddef.h>
#include <stdint.h>

#define NLU_MODEL_MAX_CLASSES 64 /* intents a model may have */
#define NLU_MODEL_MAX_NAME 47    /* longest class name, bytes */
#define NLU_MODEL_MIN_BITS 8     /* smallest hash table: 256 buckets */
#define NLU_MODEL_MAX_BITS 22    /* largest: 4M buckets */
#define NLU_TEMP_MIN 0.05        /* range of the calibration temperature */
#define NLU_TEMP_MAX 20.0

/* Receives one feature occurrence: its bucket in a table of 2^bits. */
typedef void (*nlu_feat_fn)(void *priv, uint32_t bucket);

/* 1 when s[0..n) has a byte >= 0x80 (a letter with diacritics, in a folded key). */
int nlu_has_high_byte(const char *s, size_t n);

/* Calls fn once per feature occurrence of t, in a fixed order. */
void nlu_feat_each(const vn_text *t, unsigned bits, nlu_feat_fn fn, void *priv);

/* Softmax of z[0..c) / temp into p; returns the arg max (first on ties). */
int nlu_softmax(const double *z, size_t c, double temp, double *p);

/* 1 when s[0..n) may name a class: [a-z0-9_.], 1..NLU_MODEL_MAX_NAME bytes. */
int nlu_model_name_ok(const char *s, size_t n);

/* Bytes of the file for c classes named names[] and a table of 2^bits rows. */
size_t nlu_model_file_size(unsigned bits, char *const *names, size_t c);

/* Writes the model file atomically (a temporary file in the same folder, then rename):
 * 0, or MC_ENOMEM / MC_EIO with the reason in err. */
int nlu_model_write(const char *path, unsigned bits, char *const *names, size_t c, float temp,
                    const float *bias, const float *w, char *err, size_t errlen);

#endif
