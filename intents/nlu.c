/*
 * intents/nlu.c — the first honest understanding path: weighted phrase rules on the
 * plain (unaccented) key, the procedure catalog's aliases, and reply templates.
 *
 * Big idea: everything a citizen may write is normalized by vi-nlp into one ASCII key
 * ("lam giay khai sinh can giay to gi"), whatever the diacritics, case, Unicode form or
 * emoji; rules and aliases are normalized the same way at load time, so matching is a
 * byte search on syllable boundaries. Each intent's score is the sum of the weights of
 * its phrases found; a recognized procedure adds to procedure.documents. Confidence is
 * derived from the winning score and its margin over the runner-up, not invented.
 *
 * All wording (rules, replies, procedure facts) is data in intents/data/, loaded once.
 */
#include "intents/nlu.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mc.h"
#include "intents/nlu_catalog.h"
#include "intents/nlu_data.h"
#include "vi-nlp/vn_norm.h"
#include "vi-nlp/vn_utf8.h"

#define NLU_MAX_RULES 512
#define NLU_MAX_PATH 1024
#define NLU_MAX_TEMPLATE 8192 /* bytes of one reply template */

/* Intent ids of shared/spec/intents.md; rules may name any of them. */
static const char *const intent_ids[] = {
    "procedure.documents",
    "greeting",
    "goodbye",
    "thanks",
    "procedure.fee",
    "procedure.duration",
    "procedure.location",
    "procedure.online",
    "dossier.status",
    "notify.subscribe",
    "notify.unsubscribe",
    "report.issue",
    "office.hours",
    "handoff.human",
};
#define N_INTENTS MC_ARRAY_LEN(intent_ids)
#define I_DOCUMENTS 0 /* index of procedure.documents: ties go to it */
static const char OUT_OF_SCOPE[] = "out_of_scope";

/* Reply templates, one per section of replies.txt. */
enum { T_DOCUMENTS, T_WHICH, T_GREETING, T_THANKS, T_GOODBYE, T_FALLBACK, T_COUNT };
static const char *const tpl_names[T_COUNT] = {
    "documents", "which_procedure", "greeting", "thanks", "goodbye", "fallback",
};
/* Placeholders the documents template may use, filled from the catalog. */
static const char *const placeholders[] = {
    "name", "agency", "fee", "duration", "online", "legal", "source", "documents",
};

typedef struct rule {
    size_t intent; /* index into intent_ids */
    char *plain;   /* phrase, plain key, owned */
    size_t len;    /* bytes in plain */
    double weight; /* added to the intent's score when the phrase is present */
} rule;

typedef struct tpl {
    char *text;                   /* template, lines joined by '\n', owned */
    size_t n_quick;               /* quick replies used */
    char *title[NLU_MAX_QUICK];   /* owned */
    char *payload[NLU_MAX_QUICK]; /* owned */
    int line[NLU_MAX_QUICK];      /* replies.txt line, for start-up checks */
} tpl;

struct nlu_engine {
    vn_normalizer *vn;               /* owned */
    nlu_catalog *cat;                /* owned */
    rule *rules;                     /* owned array */
    size_t n_rules;                  /* used entries */
    double min_score;                /* below it: out_of_scope */
    double scale;                    /* score at which confidence reaches 1 - 1/e */
    double mention;                  /* score a recognized procedure adds to procedure.documents */
    double oos_max;                  /* confidence of out_of_scope when nothing matched at all */
    tpl tpl[T_COUNT];                /* reply templates */
    char replies_path[NLU_MAX_PATH]; /* for messages about quick replies */
};

/* ---- matching --------------------------------------------------------------------- */

/* 1 when needle occurs in hay on token boundaries (both are space-separated keys). */
static int phrase_in(const char *hay, size_t hlen, const char *needle, size_t nlen) {
    if (nlen == 0 || nlen > hlen)
        return 0;
    for (size_t i = 0; i + nlen <= hlen; i++) {
        if ((i == 0 || hay[i - 1] == ' ') && (i + nlen == hlen || hay[i + nlen] == ' ') &&
            memcmp(hay + i, needle, nlen) == 0)
            return 1;
    }
    return 0;
}

/* The procedure whose longest alias occurs in the message, or NULL (first in file order
 * on a tie). */
static const nlu_procedure *find_procedure(const nlu_engine *e, const char *plain, size_t len) {
    const nlu_procedure *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < nlu_catalog_count(e->cat); i++) {
        const nlu_procedure *p = nlu_catalog_at(e->cat, i);
        for (size_t a = 0; a < p->n_aliases; a++) {
            size_t al = strlen(p->aliases_plain[a]);
            if (al > best_len && phrase_in(plain, len, p->aliases_plain[a], al)) {
                best = p;
                best_len = al;
            }
        }
    }
    return best;
}

int nlu_classify(nlu_engine *e, const char *text, size_t len, nlu_result *out) {
    vn_text t;
    double score[N_INTENTS] = {0};
    if (!out)
        return MC_EINVAL;
    memset(out, 0, sizeof(*out));
    if (!e)
        return MC_EINVAL;
    int rc = vn_normalize(e->vn, text, len, &t);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < e->n_rules; i++)
        if (phrase_in(t.plain, t.plain_len, e->rules[i].plain, e->rules[i].len))
            score[e->rules[i].intent] += e->rules[i].weight;
    const nlu_procedure *p = find_procedure(e, t.plain, t.plain_len);
    vn_text_free(&t);
    if (p)
        score[I_DOCUMENTS] += e->mention;

    size_t best = 0;
    double second = 0;
    for (size_t i = 1; i < N_INTENTS; i++)
        if (score[i] > score[best])
            best = i;
    for (size_t i = 0; i < N_INTENTS; i++)
        if (i != best && score[i] > second)
            second = score[i];

    out->procedure = p ? p->id : NULL;
    if (score[best] < e->min_score) {
        /* The rules cover a few intents only: even an empty match is not proof that
         * the message is out of scope, hence the cap. */
        out->intent = OUT_OF_SCOPE;
        out->confidence = e->oos_max * exp(-score[best] / e->scale);
        return 0;
    }
    out->intent = intent_ids[best];
    out->confidence = (1.0 - exp(-score[best] / e->scale)) * (score[best] / (score[best] + second));
    return 0;
}

/* ---- replies ---------------------------------------------------------------------- */

typedef struct sbuf {
    char *p;    /* owned, NUL-terminated when len > 0 */
    size_t len; /* bytes used */
    size_t cap; /* bytes allocated */
} sbuf;

static int sb_add(sbuf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np)
            return MC_ENOMEM;
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static int sb_str(sbuf *b, const char *s) {
    return sb_add(b, s, strlen(s));
}

/* Value of placeholder name[0..n) for procedure p, appended to b. */
static int put_placeholder(sbuf *b, const char *name, size_t n, const nlu_procedure *p) {
#define IS(s) (n == sizeof(s) - 1 && memcmp(name, s, n) == 0)
    if (IS("name"))
        return sb_str(b, p->name);
    if (IS("agency"))
        return sb_str(b, p->agency);
    if (IS("fee"))
        return sb_str(b, p->fee);
    if (IS("duration"))
        return sb_str(b, p->duration);
    if (IS("online"))
        return sb_str(b, p->online);
    if (IS("legal"))
        return sb_str(b, p->legal);
    if (IS("source"))
        return sb_str(b, p->source);
    if (IS("documents")) {
        for (size_t i = 0; i < p->n_documents; i++) {
            char num[32];
            snprintf(num, sizeof(num), "%s%zu. ", i ? "\n" : "", i + 1);
            if (sb_str(b, num) || sb_str(b, p->documents[i]))
                return MC_ENOMEM;
        }
        return 0;
    }
#undef IS
    return MC_EINVAL; /* cannot happen: templates are checked at load */
}

static int render(const char *tp, const nlu_procedure *p, sbuf *b) {
    const char *s = tp;
    while (*s) {
        const char *open = strchr(s, '{');
        if (!open || !p)
            return sb_str(b, s);
        const char *close = strchr(open, '}');
        if (sb_add(b, s, (size_t)(open - s)))
            return MC_ENOMEM;
        int rc = put_placeholder(b, open + 1, (size_t)(close - open - 1), p);
        if (rc)
            return rc;
        s = close + 1;
    }
    return b->p ? 0 : sb_add(b, "", 0);
}

void nlu_reply_free(nlu_reply *r) {
    if (!r)
        return;
    free(r->text);
    for (size_t i = 0; i < r->n_quick; i++) {
        free(r->quick[i].title);
        free(r->quick[i].payload);
    }
    memset(r, 0, sizeof(*r));
}

int nlu_respond(nlu_engine *e, const char *text, size_t len, nlu_result *res, nlu_reply *out) {
    nlu_result r;
    sbuf b = {0};
    if (!out)
        return MC_EINVAL;
    memset(out, 0, sizeof(*out));
    if (res)
        memset(res, 0, sizeof(*res));
    int rc = nlu_classify(e, text, len, &r);
    if (rc != 0)
        return rc;
    const nlu_procedure *p = NULL;
    int which = T_FALLBACK;
    if (strcmp(r.intent, "procedure.documents") == 0) {
        p = r.procedure ? nlu_catalog_get(e->cat, r.procedure) : NULL;
        which = p ? T_DOCUMENTS : T_WHICH;
    } else if (strcmp(r.intent, "greeting") == 0) {
        which = T_GREETING;
    } else if (strcmp(r.intent, "thanks") == 0) {
        which = T_THANKS;
    } else if (strcmp(r.intent, "goodbye") == 0) {
        which = T_GOODBYE;
    }
    const tpl *t = &e->tpl[which];
    if ((rc = render(t->text, p, &b)) != 0)
        goto fail;
    out->text = b.p;
    out->text_len = b.len;
    b.p = NULL;
    for (size_t i = 0; i < t->n_quick; i++) {
        out->quick[i].title = strdup(t->title[i]);
        out->quick[i].payload = strdup(t->payload[i]);
        out->n_quick = i + 1;
        if (!out->quick[i].title || !out->quick[i].payload) {
            rc = MC_ENOMEM;
            goto fail;
        }
    }
    if (res)
        *res = r;
    return 0;
fail:
    free(b.p);
    nlu_reply_free(out);
    return rc;
}

/* ---- loading ---------------------------------------------------------------------- */

static int parse_weight(const char *s, double *w) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !(v > 0) || v > 100)
        return -1;
    *w = v;
    return 0;
}

static int load_rules(nlu_engine *e, const char *path, char *err, size_t errlen) {
    nlu_data d;
    long cur = -2; /* -2: before any section, -1: [settings], else intent index */
    int rc = nlu_data_open(&d, path, err, errlen);
    if (rc)
        return rc;
    rc = MC_EPARSE;
    for (;;) {
        nlu_line l = nlu_data_next(&d, err, errlen);
        if (l.kind == NLU_LINE_END)
            break;
        if (l.kind == NLU_LINE_BAD)
            goto fail;
        if (l.kind == NLU_LINE_SECTION) {
            cur = -3;
            if (strcmp(l.key, "settings") == 0)
                cur = -1;
            for (size_t i = 0; i < N_INTENTS; i++)
                if (strcmp(l.key, intent_ids[i]) == 0)
                    cur = (long)i;
            if (cur == -3) {
                nlu_data_err(&d, err, errlen, "unknown intent '%s'", l.key);
                goto fail;
            }
            continue;
        }
        double w;
        if (cur == -2) {
            nlu_data_err(&d, err, errlen, "'%s' outside a section", l.key);
            goto fail;
        }
        if (parse_weight(l.value, &w) != 0) {
            nlu_data_err(&d, err, errlen, "'%s' is not a number in (0, 100]", l.value);
            goto fail;
        }
        if (cur == -1) {
            double *dst = strcmp(l.key, "min_score") == 0           ? &e->min_score
                          : strcmp(l.key, "scale") == 0             ? &e->scale
                          : strcmp(l.key, "procedure_mention") == 0 ? &e->mention
                          : strcmp(l.key, "out_of_scope_max") == 0  ? &e->oos_max
                                                                    : NULL;
            if (!dst || (dst == &e->oos_max && w > 1)) {
                nlu_data_err(&d, err, errlen, "unknown or bad setting '%s'", l.key);
                goto fail;
            }
            *dst = w;
            continue;
        }
        if (e->n_rules == NLU_MAX_RULES) {
            nlu_data_err(&d, err, errlen, "more than %d rules", NLU_MAX_RULES);
            goto fail;
        }
        vn_text t;
        int nrc = vn_normalize(e->vn, l.key, strlen(l.key), &t);
        if (nrc != 0 || t.plain_len == 0) {
            vn_text_free(&t);
            nlu_data_err(&d, err, errlen, "phrase '%s' has no letters", l.key);
            goto fail;
        }
        free(t.folded);
        rule *r = &e->rules[e->n_rules++];
        r->intent = (size_t)cur;
        r->plain = t.plain; /* ownership moves to the rule */
        r->len = t.plain_len;
        r->weight = w;
    }
    if (e->n_rules == 0 || e->min_score <= 0 || e->scale <= 0 || e->mention <= 0 ||
        e->oos_max <= 0) {
        if (d.lineno == 0)
            d.lineno = 1;
        nlu_data_err(&d, err, errlen,
                     "needs rules and [settings] min_score, scale, procedure_mention, "
                     "out_of_scope_max");
        goto fail;
    }
    nlu_data_close(&d);
    return 0;
fail:
    nlu_data_close(&d);
    return rc;
}

/* Checks that every {placeholder} is known and allowed in this template. */
static int check_template(const char *s, int allow, const nlu_data *d, char *err, size_t errlen) {
    for (const char *o = strchr(s, '{'); o; o = strchr(o + 1, '{')) {
        const char *c = strchr(o, '}');
        int ok = 0;
        for (size_t i = 0; c && i < MC_ARRAY_LEN(placeholders); i++)
            if ((size_t)(c - o - 1) == strlen(placeholders[i]) &&
                memcmp(o + 1, placeholders[i], (size_t)(c - o - 1)) == 0)
                ok = 1;
        if (!ok || !allow) {
            nlu_data_err(d, err, errlen, "%s placeholder in '%.40s'",
                         ok ? "no procedure here for the" : "unknown", o);
            return -1;
        }
    }
    return 0;
}

static int load_replies(nlu_engine *e, const char *path, char *err, size_t errlen) {
    nlu_data d;
    int cur = -1;
    int rc = nlu_data_open(&d, path, err, errlen);
    if (rc)
        return rc;
    rc = MC_EPARSE;
    for (;;) {
        nlu_line l = nlu_data_next(&d, err, errlen);
        if (l.kind == NLU_LINE_END)
            break;
        if (l.kind == NLU_LINE_BAD)
            goto fail;
        if (l.kind == NLU_LINE_SECTION) {
            cur = -1;
            for (int i = 0; i < T_COUNT; i++)
                if (strcmp(l.key, tpl_names[i]) == 0)
                    cur = i;
            if (cur < 0) {
                nlu_data_err(&d, err, errlen, "unknown reply '%s'", l.key);
                goto fail;
            }
            if (e->tpl[cur].text) {
                nlu_data_err(&d, err, errlen, "duplicate reply '%s'", l.key);
                goto fail;
            }
            continue;
        }
        if (cur < 0) {
            nlu_data_err(&d, err, errlen, "'%s' outside a [reply] section", l.key);
            goto fail;
        }
        tpl *t = &e->tpl[cur];
        if (strcmp(l.key, "text") == 0) {
            /* Repeated text lines are joined with '\n'; a lone "\" is an empty line. */
            const char *v = strcmp(l.value, "\\") == 0 ? "" : l.value;
            size_t old = t->text ? strlen(t->text) : 0, add = strlen(v);
            if (old + add + 2 > NLU_MAX_TEMPLATE) {
                nlu_data_err(&d, err, errlen, "reply longer than %d bytes", NLU_MAX_TEMPLATE);
                goto fail;
            }
            if (check_template(v, cur == T_DOCUMENTS, &d, err, errlen) != 0)
                goto fail;
            char *np = realloc(t->text, old + add + 2);
            if (!np)
                goto nomem;
            if (old)
                np[old++] = '\n';
            memcpy(np + old, v, add + 1);
            t->text = np;
        } else if (strcmp(l.key, "quick") == 0) {
            char *bar = strchr(l.value, '|');
            if (!bar) {
                nlu_data_err(&d, err, errlen, "quick reply must be 'title | payload'");
                goto fail;
            }
            char *te = bar, *ps = bar + 1;
            while (te > l.value && te[-1] == ' ')
                te--;
            while (*ps == ' ')
                ps++;
            size_t tl = (size_t)(te - l.value);
            if (tl == 0 || *ps == '\0' || vn_utf8_count(l.value, tl) > NLU_MAX_QUICK_TITLE) {
                nlu_data_err(&d, err, errlen,
                             "quick reply title must be 1..%d characters "
                             "and the payload non-empty",
                             NLU_MAX_QUICK_TITLE);
                goto fail;
            }
            if (t->n_quick == NLU_MAX_QUICK) {
                nlu_data_err(&d, err, errlen, "more than %d quick replies", NLU_MAX_QUICK);
                goto fail;
            }
            t->title[t->n_quick] = strndup(l.value, tl);
            t->payload[t->n_quick] = strdup(ps);
            t->line[t->n_quick] = d.lineno;
            t->n_quick++;
            if (!t->title[t->n_quick - 1] || !t->payload[t->n_quick - 1])
                goto nomem;
        } else {
            nlu_data_err(&d, err, errlen, "unknown key '%s'", l.key);
            goto fail;
        }
    }
    for (int i = 0; i < T_COUNT; i++)
        if (!e->tpl[i].text) {
            if (d.lineno == 0)
                d.lineno = 1;
            nlu_data_err(&d, err, errlen, "missing reply [%s] (with at least one 'text')",
                         tpl_names[i]);
            goto fail;
        }
    nlu_data_close(&d);
    return 0;
nomem:
    rc = MC_ENOMEM;
    nlu_data_err(&d, err, errlen, "out of memory");
fail:
    nlu_data_close(&d);
    return rc;
}

/* A quick reply is only useful if sending its payload back is understood. */
static int check_quick_payloads(nlu_engine *e, char *err, size_t errlen) {
    for (int i = 0; i < T_COUNT; i++)
        for (size_t q = 0; q < e->tpl[i].n_quick; q++) {
            nlu_result r;
            const char *pl = e->tpl[i].payload[q];
            if (nlu_classify(e, pl, strlen(pl), &r) != 0 || r.intent == OUT_OF_SCOPE) {
                if (err && errlen)
                    snprintf(err, errlen, "%s:%d: quick reply payload '%s' is not understood",
                             e->replies_path, e->tpl[i].line[q], pl);
                return -1;
            }
        }
    return 0;
}

void nlu_engine_free(nlu_engine *e) {
    if (!e)
        return;
    for (int i = 0; i < T_COUNT; i++) {
        free(e->tpl[i].text);
        for (size_t q = 0; q < e->tpl[i].n_quick; q++) {
            free(e->tpl[i].title[q]);
            free(e->tpl[i].payload[q]);
        }
    }
    for (size_t i = 0; i < e->n_rules; i++)
        free(e->rules[i].plain);
    free(e->rules);
    nlu_catalog_free(e->cat);
    vn_normalizer_free(e->vn);
    free(e);
}

nlu_engine *nlu_engine_new(const char *data_dir, char *err, size_t errlen) {
    char path[NLU_MAX_PATH];
    nlu_engine *e = calloc(1, sizeof(*e));
    if (!e || !data_dir) {
        if (err && errlen)
            snprintf(err, errlen, "nlu: %s", e ? "no data directory" : "out of memory");
        goto fail;
    }
    if (!(e->vn = vn_normalizer_new(err, errlen)))
        goto fail;
    if (!(e->rules = calloc(NLU_MAX_RULES, sizeof(*e->rules)))) {
        if (err && errlen)
            snprintf(err, errlen, "nlu: out of memory");
        goto fail;
    }
    if (snprintf(path, sizeof(path), "%s/procedures.txt", data_dir) >= (int)sizeof(path) ||
        snprintf(e->replies_path, sizeof(e->replies_path), "%s/replies.txt", data_dir) >=
            (int)sizeof(e->replies_path)) {
        if (err && errlen)
            snprintf(err, errlen, "nlu: data directory path too long");
        goto fail;
    }
    if (!(e->cat = nlu_catalog_load(path, err, errlen)))
        goto fail;
    snprintf(path, sizeof(path), "%s/rules.txt", data_dir);
    if (load_rules(e, path, err, errlen) != 0)
        goto fail;
    if (load_replies(e, e->replies_path, err, errlen) != 0)
        goto fail;
    if (check_quick_payloads(e, err, errlen) != 0)
        goto fail;
    return e;
fail:
    nlu_engine_free(e);
    return NULL;
}
