/*
 * intents/nlu_catalog.h — the procedure catalog (intents/data/procedures.txt), read-only
 * after load.
 */
#ifndef NLU_CATALOG_H
#define NLU_CATALOG_H

#include <stddef.h>

/* Named limits of the catalog file. */
#define NLU_CAT_MAX_PROCEDURES 64
#define NLU_CAT_MAX_DOCUMENTS 16
#define NLU_CAT_MAX_ALIASES 24
#define NLU_CAT_MAX_ID 48

/* One administrative procedure. Every string is UTF-8, NUL-terminated, owned by the
 * catalog and valid until nlu_catalog_free. Read-only for callers. */
typedef struct nlu_procedure {
    const char *id;       /* entity value from shared/spec/intents.md, e.g. "khai_sinh" */
    const char *name;     /* citizen-facing name, e.g. "Đăng ký khai sinh" */
    const char *agency;   /* where to submit / who decides (after the 07/2025 reform) */
    const char *fee;      /* fee, in words; may tell the citizen to check locally */
    const char *duration; /* processing time, in words */
    const char *online;   /* whether and where it can be done online */
    const char *legal;    /* legal basis */
    const char *source;   /* where the facts come from (portal page or legal text) */
    const char *documents[NLU_CAT_MAX_DOCUMENTS];   /* papers to prepare, in order */
    size_t n_documents;                             /* >= 1 */
    const char *aliases[NLU_CAT_MAX_ALIASES];       /* how citizens name it, with diacritics */
    const char *aliases_plain[NLU_CAT_MAX_ALIASES]; /* the same, vn_normalize()d plain key */
    size_t n_aliases;                               /* >= 1 */
    int alias_lines[NLU_CAT_MAX_ALIASES];           /* line of each alias in the file */
} nlu_procedure;

typedef struct nlu_catalog nlu_catalog; /* opaque */

/* Loads and validates the catalog file at path (format documented at the top of
 * intents/data/procedures.txt). Returns NULL and "path:line: reason" in err on failure.
 * Free with nlu_catalog_free. */
nlu_catalog *nlu_catalog_load(const char *path, char *err, size_t errlen);
void nlu_catalog_free(nlu_catalog *c);
size_t nlu_catalog_count(const nlu_catalog *c);
/* The i-th procedure in file order (i < count), or NULL. */
const nlu_procedure *nlu_catalog_at(const nlu_catalog *c, size_t i);
/* The procedure with this id, or NULL. */
const nlu_procedure *nlu_catalog_get(const nlu_catalog *c, const char *id);

#endif
