/*
 * intents/nlu_dialog.h — a conversation of several messages: slots asked for and filled,
 * follow-up questions that carry the procedure or the question over.
 *
 * The context is small and plain so that the gateway can keep it in Redis between
 * messages (nlu_context_encode / nlu_context_decode) and any process can continue the
 * conversation. Nothing here does I/O.
 */
#ifndef NLU_DIALOG_H
#define NLU_DIALOG_H

#include <stddef.h>
#include <stdint.h>

#include "intents/nlu.h"

/* A context older than this is ignored: the next message starts a new conversation. */
#define NLU_CONTEXT_TTL_MS (30 * 60 * 1000)
/* Bytes nlu_context_encode may need, with the NUL. */
#define NLU_CONTEXT_MAX 160

typedef struct nlu_context {
    char procedure[48]; /* catalog id last talked about, "" none */
    char intent[32];    /* last intent that asked something (not small talk), "" none */
    char pending[24];   /* slot being asked: "procedure", "dossier_code", "ward", "place" (where
                           a reported problem is) or "" */
    int64_t updated_ms; /* when the context last changed (caller's clock), 0 = never */
} nlu_context;

/* Writes c as compact text ("c1|procedure|intent|pending|updated_ms") into buf[n].
 * Returns the length written (without the NUL), MC_ETOOBIG if n is too small, MC_EINVAL
 * if a field holds a character the format cannot carry. */
int nlu_context_encode(const nlu_context *c, char *buf, size_t n);

/* Parses s[0..len) written by nlu_context_encode. Returns 0, or MC_EINVAL on garbage (the
 * caller then starts fresh); *out is zeroed on error. */
int nlu_context_decode(const char *s, size_t len, nlu_context *out);

/* Classifies text in the light of ctx (ignored if older than NLU_CONTEXT_TTL_MS at now_ms),
 * composes the reply and updates ctx (updated_ms = now_ms). res (may be NULL) receives the
 * classification of the message alone; out->resolved what the reply answers. Errors as
 * nlu_classify (ctx untouched, *out zeroed). The caller frees *out with nlu_reply_free. */
int nlu_converse(nlu_engine *e, nlu_context *ctx, int64_t now_ms, const char *text, size_t len,
                 nlu_result *res, nlu_reply *out);

#endif
