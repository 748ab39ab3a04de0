/*
 * intents/nlu.h — understanding one citizen message and composing the reply.
 *
 * Intent ids and entity values are those of shared/spec/intents.md. This first version
 * recognizes procedure.documents, greeting, thanks and goodbye; everything else is
 * out_of_scope with a polite fallback saying what the assistant can do.
 */
#ifndef NLU_H
#define NLU_H

#include <stddef.h>

typedef struct nlu_engine nlu_engine; /* opaque: catalog + rules + reply templates +
                                         a vn_normalizer */

/* Loads every data file from data_dir (e.g. "intents/data"): procedures.txt, rules.txt,
 * replies.txt. Returns NULL and a message naming the file and line in err on failure.
 * Read-only after creation. Free with nlu_engine_free. */
nlu_engine *nlu_engine_new(const char *data_dir, char *err, size_t errlen);
void nlu_engine_free(nlu_engine *e);

#define NLU_MAX_QUICK 8
/* Longest quick-reply title, in code points (channels show short buttons). */
#define NLU_MAX_QUICK_TITLE 20

typedef struct nlu_result {
    const char *intent;    /* static id from the contract, e.g. "procedure.documents" */
    double confidence;     /* [0,1], computed from the rule score and its margin */
    const char *procedure; /* engine-owned entity value e.g. "khai_sinh", NULL when absent */
} nlu_result;

typedef struct nlu_quick {
    char *title;   /* button text, <= NLU_MAX_QUICK_TITLE code points */
    char *payload; /* Vietnamese message sent back when chosen; classifies correctly */
} nlu_quick;

typedef struct nlu_reply {
    char *text;                     /* caller owns: Vietnamese reply, UTF-8, may hold '\n' */
    size_t text_len;                /* bytes in text, without the NUL */
    size_t n_quick;                 /* entries used in quick */
    nlu_quick quick[NLU_MAX_QUICK]; /* caller owns: suggested choices */
} nlu_reply;

/* Classifies text[0..len) (need not be NUL-terminated). Returns 0, MC_EUTF8, MC_ETOOBIG
 * (beyond VN_MAX_INPUT), MC_ENOMEM (or MC_EICU if ICU fails). On error *out is zeroed. */
int nlu_classify(nlu_engine *e, const char *text, size_t len, nlu_result *out);

/* Classifies and composes the reply for one message (no conversation state yet). On
 * success the caller frees *out with nlu_reply_free. If res is not NULL it receives the
 * classification. Same errors as nlu_classify; on error *out is zeroed. */
int nlu_respond(nlu_engine *e, const char *text, size_t len, nlu_result *res, nlu_reply *out);

/* Frees what nlu_respond gave and zeroes r; r may be NULL or already freed. */
void nlu_reply_free(nlu_reply *r);

#endif
