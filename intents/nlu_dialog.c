/*
 * intents/nlu_dialog.c — a conversation: slots asked for and filled, follow-ups that carry
 * the procedure or the question of the previous message over.
 *
 * Big idea: the state is three words (the procedure and the question last talked about,
 * and the slot just asked for) and a time, so it fits one Redis string and any gateway
 * process can take the next message. Context only ever fills what the message leaves
 * open: a confident, complete question is answered as asked; a message that is weak on
 * its own ("khai sinh", "còn lệ phí thì sao?", "còn kết hôn?", a bare dossier code, a ward
 * name, "con tôi 5 tuổi") is read as the answer to the question asked or as a follow-up of
 * the last one.
 */
#include "intents/nlu_dialog.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/mc.h"
#include "intents/nlu_internal.h"

/* A context stamped this far in the future (clocks of two gateway processes) still counts;
 * beyond it the stamp is nonsense and the conversation starts fresh. */
#define NLU_CONTEXT_SKEW_MS (60 * 1000)
#define CTX_MAGIC "c1"

static const char *const pending_names[] = {"", "procedure", "dossier_code", "ward", "place"};

static int valid_chars(const char *s, size_t cap, const char *extra) {
    size_t n = strnlen(s, cap);
    if (n == cap)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr(extra, c)))
            return 0;
    }
    return 1;
}

static int valid_pending(const char *s, size_t n) {
    for (size_t i = 0; i < MC_ARRAY_LEN(pending_names); i++)
        if (strlen(pending_names[i]) == n && memcmp(s, pending_names[i], n) == 0)
            return 1;
    return 0;
}

int nlu_context_encode(const nlu_context *c, char *buf, size_t n) {
    if (!c || !buf)
        return MC_EINVAL;
    if (!valid_chars(c->procedure, sizeof(c->procedure), "_") ||
        !valid_chars(c->intent, sizeof(c->intent), "._") ||
        strnlen(c->pending, sizeof(c->pending)) == sizeof(c->pending) ||
        !valid_pending(c->pending, strlen(c->pending)) || c->updated_ms < 0)
        return MC_EINVAL;
    int k = snprintf(buf, n, CTX_MAGIC "|%s|%s|%s|%" PRId64, c->procedure, c->intent, c->pending,
                     c->updated_ms);
    if (k < 0 || (size_t)k >= n)
        return MC_ETOOBIG;
    return k;
}

/* Copies field s[0..len) into dst[cap] if it fits and uses only [a-z0-9] and extra. */
static int take(const char *s, size_t len, char *dst, size_t cap, const char *extra) {
    if (len >= cap)
        return -1;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c && strchr(extra, c))))
            return -1;
    }
    memcpy(dst, s, len);
    dst[len] = '\0';
    return 0;
}

int nlu_context_decode(const char *s, size_t len, nlu_context *out) {
    const char *f[5];
    size_t fl[5], nf = 0;
    if (!out)
        return MC_EINVAL;
    memset(out, 0, sizeof(*out));
    if (!s || len == 0 || len >= NLU_CONTEXT_MAX)
        return MC_EINVAL;
    const char *p = s, *end = s + len;
    while (nf < 5) {
        const char *bar = memchr(p, '|', (size_t)(end - p));
        f[nf] = p;
        fl[nf] = (size_t)((bar ? bar : end) - p);
        nf++;
        if (!bar)
            break;
        p = bar + 1;
    }
    if (nf != 5 || f[4] + fl[4] != end || fl[0] != 2 || memcmp(f[0], CTX_MAGIC, 2) != 0)
        goto bad;
    if (take(f[1], fl[1], out->procedure, sizeof(out->procedure), "_") ||
        take(f[2], fl[2], out->intent, sizeof(out->intent), "._") || !valid_pending(f[3], fl[3]) ||
        take(f[3], fl[3], out->pending, sizeof(out->pending), "_"))
        goto bad;
    if (fl[4] == 0 || fl[4] > 18)
        goto bad; /* 18 digits always fit an int64 */
    int64_t v = 0;
    for (size_t i = 0; i < fl[4]; i++) {
        if (f[4][i] < '0' || f[4][i] > '9')
            goto bad;
        v = v * 10 + (f[4][i] - '0');
    }
    out->updated_ms = v;
    if (out->intent[0] && nlu_intent_index(out->intent) < 0)
        goto bad;
    return 0;
bad:
    memset(out, 0, sizeof(*out));
    return MC_EINVAL;
}

static int fresh(const nlu_context *c, int64_t now_ms) {
    int64_t age = now_ms - c->updated_ms;
    return c->updated_ms > 0 && age <= NLU_CONTEXT_TTL_MS && age >= -NLU_CONTEXT_SKEW_MS;
}

/* Reads the message r in the light of the context: fills the slot asked for and carries
 * the procedure / the question of the last message over when r leaves them open. */
static nlu_result resolve(nlu_engine *e, const nlu_context *c, const nlu_result *r) {
    nlu_result w = *r;
    int i = nlu_intent_index(r->intent);
    int ci = nlu_intent_index(c->intent);
    const nlu_procedure *cp = c->procedure[0] ? nlu_catalog_get(e->cat, c->procedure) : NULL;
    /* Weak on its own: unclear, nothing recognized, or only names. */
    int weak = r->clarify || i == NLU_I_OOS || r->bare || i == ci;

    if (strcmp(c->pending, "procedure") == 0 && nlu_is_procedure_intent(ci) && r->procedure &&
        weak) {
        w.intent = nlu_intent_ids[ci];
        w.clarify = 0;
        return w;
    }
    /* Where the problem reported is: an address, a ward, or more of the citizen's words;
     * the gateway keeps the words of the report until the place is known. */
    if (strcmp(c->pending, "place") == 0 && ci == NLU_I_REPORT && !r->report_ticket[0] &&
        (weak || i == NLU_I_REPORT || r->ward_id ||
         (nlu_is_procedure_intent(i) && !r->procedure))) {
        w.intent = nlu_intent_ids[NLU_I_REPORT];
        w.clarify = w.bare = 0;
        w.procedure = NULL;
        w.also = NULL;
        if (!w.issue_category)
            w.issue_category = nlu_issue_ids[NLU_ISSUE_KHAC];
        return w;
    }
    if ((strcmp(c->pending, "dossier_code") == 0 || strcmp(c->pending, "ward") == 0) &&
        (ci == NLU_I_STATUS || ci == NLU_I_SUBSCRIBE) &&
        (r->dossier_code[0] || (ci == NLU_I_STATUS && r->report_ticket[0]) ||
         (ci == NLU_I_SUBSCRIBE && r->ward_id)) &&
        (weak || (nlu_is_procedure_intent(i) && !r->procedure))) {
        w.intent = nlu_intent_ids[ci];
        w.clarify = 0;
        w.issue_category = NULL;
        return w;
    }
    /* "con tôi 5 tuổi" after a question about the ID card: the same question, asked again
     * for that case (the answers pick the catalog's value for the age or foreign element). */
    if ((i == NLU_I_OOS || r->clarify || r->bare) && !r->procedure && (r->age >= 0 || r->foreign) &&
        nlu_is_procedure_intent(ci) && cp) {
        w.intent = nlu_intent_ids[ci];
        w.procedure = cp->id;
        w.clarify = 0;
        return w;
    }
    /* "còn kết hôn?" after the fee of khai sinh: the same question, another procedure. */
    if (r->clarify && nlu_is_procedure_intent(ci)) {
        w.intent = nlu_intent_ids[ci];
        w.clarify = 0;
    }
    /* "còn lệ phí thì sao?" after khai sinh: the same procedure, another question. */
    if (nlu_is_procedure_intent(nlu_intent_index(w.intent)) && !w.procedure && cp)
        w.procedure = cp->id;
    return w;
}

int nlu_converse(nlu_engine *e, nlu_context *ctx, int64_t now_ms, const char *text, size_t len,
                 nlu_result *res, nlu_reply *out) {
    nlu_result r;
    nlu_context c;
    memset(&c, 0, sizeof(c));
    const char *pending = "";
    if (res)
        memset(res, 0, sizeof(*res));
    if (!out)
        return MC_EINVAL;
    memset(out, 0, sizeof(*out));
    if (!e || !ctx)
        return MC_EINVAL;
    int rc = nlu_classify(e, text, len, &r);
    if (rc)
        return rc;
    /* A context that is stale or does not make sense any more (catalog changed) is
     * dropped field by field. */
    if (fresh(ctx, now_ms))
        c = *ctx;
    c.procedure[sizeof(c.procedure) - 1] = c.intent[sizeof(c.intent) - 1] =
        c.pending[sizeof(c.pending) - 1] = '\0';
    if (c.procedure[0] && !nlu_catalog_get(e->cat, c.procedure))
        c.procedure[0] = '\0';
    if (c.intent[0] && nlu_intent_index(c.intent) < 0)
        c.intent[0] = '\0';

    nlu_result w = resolve(e, &c, &r);
    if ((rc = nlu_compose(e, &w, now_ms, out, &pending)) != 0)
        return rc;

    int wi = nlu_intent_index(w.intent);
    if (wi == NLU_I_GOODBYE) {
        memset(&c, 0, sizeof(c));
    } else if (wi == NLU_I_GREETING || wi == NLU_I_THANKS || wi == NLU_I_OOS) {
        c.pending[0] = '\0'; /* the question asked is not the last word any more */
    } else {
        snprintf(c.intent, sizeof(c.intent), "%s", w.intent);
        if (w.procedure)
            snprintf(c.procedure, sizeof(c.procedure), "%s", w.procedure);
        snprintf(c.pending, sizeof(c.pending), "%s", pending);
    }
    c.updated_ms = now_ms;
    *ctx = c;
    if (res)
        *res = r;
    return 0;
}

int nlu_respond(nlu_engine *e, const char *text, size_t len, nlu_result *res, nlu_reply *out) {
    nlu_context c;
    struct timespec ts;
    memset(&c, 0, sizeof(c));
    /* No caller clock here (motcua ask): the catalog values of today, by the wall clock. */
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    return nlu_converse(e, &c, now_ms, text, len, res, out);
}
