/*
 * vi-nlp/vn_entity.h — the entities of a citizen message: dossier code, mobile phone,
 * citizen ID (CCCD), HCMC ward, a person's age and whether a foreign element is named, each
 * in its canonical form.
 *
 * The rules (what counts, what is rejected, and why) are in vi-nlp/vn_entity.c; the word
 * lists and codes they use are data in vi-nlp/data/entities.txt and vi-nlp/data/wards.csv.
 */
#ifndef VN_ENTITY_H
#define VN_ENTITY_H

#include <stddef.h>

#include "vi-nlp/vn_norm.h"

typedef struct vn_extractor vn_extractor; /* opaque; read-only once built, may be shared */

/* Compiles the PCRE2 patterns and loads data_dir/entities.txt, data_dir/wards.csv (and,
 * for its own normalizer, the vn_normalizer_load tables of data_dir). Returns NULL with
 * "path:LINE: reason" (or the failing step) in err on failure. */
vn_extractor *vn_extractor_new(const char *data_dir, char *err, size_t errlen);
/* The same with a normalizer the caller already loaded from data_dir (borrowed: it must
 * outlive the extractor), so that a process builds one. n NULL: as vn_extractor_new. */
vn_extractor *vn_extractor_new_shared(const char *data_dir, vn_normalizer *n, char *err,
                                      size_t errlen);
void vn_extractor_free(vn_extractor *x);

typedef struct vn_entities {
    char dossier_code[48]; /* canonical upper-case form, "" when absent */
    char phone[16];        /* E.164 "+849xxxxxxxx", "" when absent */
    char citizen_id[13];   /* 12 digits, "" when absent */
    int ward;              /* index into the ward table, -1 when absent */
    int age;               /* years of the person the message is about ("bé 5 tuổi"), 0 for a
                              baby in months, -1 when absent */
    int foreign;           /* 1: the message names a foreign element (a foreigner, a
                              Vietnamese living abroad), else 0 */
} vn_entities;

/* Extracts the first entity of each kind from in[0..len). t is the vn_normalize result for
 * the same input, made with a normalizer loaded from the same data_dir (pass NULL and the
 * extractor normalizes in[0..len) itself). out is always filled (empty when nothing is
 * found). Returns 0, or MC_EINVAL, MC_EUTF8, MC_ETOOBIG, MC_ENOMEM when t is NULL and the
 * input cannot be normalized. */
int vn_extract(const vn_extractor *x, const char *in, size_t len, const vn_text *t,
               vn_entities *out);

size_t vn_ward_count(const vn_extractor *x);
const char *vn_ward_id(const vn_extractor *x, int i);   /* "27316"; NULL when out of range */
const char *vn_ward_name(const vn_extractor *x, int i); /* "An Đông"; NULL when out of range */
const char *vn_ward_slug(const vn_extractor *x,
                         int i); /* "an-dong-27316"; NULL when out of range */

#endif
