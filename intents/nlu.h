/*
 * intents/nlu.h — understanding one citizen message and composing the reply.
 *
 * Intent ids and entity values are those of shared/spec/intents.md. The intent comes from
 * the trained model's calibrated probabilities (intents/nlu_model.h) or, without a model,
 * from the weighted phrases of intents/data/rules.txt; a few precise rules of the same file
 * (SMS keywords such as HUY, STOP, "TRA <code>", a bare dossier code) override either.
 * Entities come from vi-nlp (dossier code, phone, citizen ID, ward, the age of the person
 * asked about, a foreign element) and from two phrase dictionaries built at start-up
 * (procedure aliases of procedures.txt, issue keywords of issue_categories.txt).
 * Conversation state lives in intents/nlu_dialog.h.
 */
#ifndef NLU_H
#define NLU_H

#include <stddef.h>

typedef struct nlu_engine nlu_engine; /* opaque: tables, catalog, dictionaries, model,
                                         reply templates; read-only after creation */

typedef struct nlu_engine_opts {
    const char *share_dir;  /* holds intents/data and vi-nlp/data */
    const char *model_path; /* NULL: no model, rules only */
} nlu_engine_opts;

/* Loads every data file under o->share_dir (intents/data/procedures.txt, rules.txt,
 * replies.txt, issue_categories.txt; vi-nlp/data/...) and the model at o->model_path if
 * given. Returns NULL and a message naming the file and line in err on failure. Read-only
 * after creation (one engine may serve every conversation). Free with nlu_engine_free. */
nlu_engine *nlu_engine_new(const nlu_engine_opts *o, char *err, size_t errlen);
void nlu_engine_free(nlu_engine *e);

/* Read-only views of what the engine loaded, so that a caller needing the same data
 * (the procedure ids, the ward list, a normalizer for vn_unaccent) does not load it a
 * second time. Valid until nlu_engine_free. */
struct nlu_catalog;
struct vn_extractor;
struct vn_normalizer;
const struct nlu_catalog *nlu_engine_catalog(const nlu_engine *e);
const struct vn_extractor *nlu_engine_extractor(const nlu_engine *e);
const struct vn_normalizer *nlu_engine_normalizer(const nlu_engine *e);

/* The issue categories of the contract (issue_category of shared/spec/intents.md), in a
 * fixed order: i < nlu_issue_count(); NULL beyond. */
size_t nlu_issue_count(void);
const char *nlu_issue_id(size_t i);
/* How the assistant names category id to a citizen (issue_categories.txt), or NULL for an
 * unknown id. Valid until nlu_engine_free. */
const char *nlu_engine_issue_name(const nlu_engine *e, const char *id);

#define NLU_MAX_QUICK 8
/* Longest quick-reply title, in code points (channels show short buttons). */
#define NLU_MAX_QUICK_TITLE 20
/* Entity buffers, in bytes with the NUL (the sizes vi-nlp's extractor fills). */
#define NLU_CODE_MAX 48
#define NLU_PHONE_MAX 16
#define NLU_CITIZEN_ID_MAX 13
#define NLU_TICKET_MAX 24 /* "PA-251203-0001" with room for longer numbers, and the NUL */

typedef struct nlu_result {
    const char *intent;                  /* static id from the contract, e.g. "procedure.fee" */
    double confidence;                   /* [0,1]: model probability, or rule score mapping */
    const char *procedure;               /* engine-owned catalog id e.g. "khai_sinh", or NULL */
    const char *issue_category;          /* report.issue only: "rac_thai".. or "khac"; else NULL */
    char dossier_code[NLU_CODE_MAX];     /* "000.00.25.H29-231122-0001" form, "" when absent */
    char phone[NLU_PHONE_MAX];           /* E.164 "+84912345678", "" when absent */
    char citizen_id[NLU_CITIZEN_ID_MAX]; /* 12 digits, "" when absent */
    char report_ticket[NLU_TICKET_MAX];  /* a citizen's report ticket "PA-251203-0001" (written
                                            pa 251203 1, PA251203-0001...), "" when absent; a
                                            message naming one asks where it stands
                                            (dossier.status, NLU_ACT_REPORT_STATUS) */
    const char *ward_id;                 /* engine-owned ward code of the HCMC ward list, e.g.
                                            "26743", NULL when absent */
    const char *ward_name;               /* engine-owned, e.g. "Bến Thành", NULL when absent */
    int clarify;      /* 1: a procedure is named but the intent is unclear (below threshold,
                         or a bare mention); intent is then the likeliest procedure question */
    int bare;         /* 1: the message is nothing but names (procedure, ward, a dossier code
                         alone) and words that ask nothing ("khai sinh", "phường Bến Thành") */
    int overridden;   /* 1: a precise rule of rules.txt [override] decided the intent */
    int not_public;   /* 1: out_of_scope because the request, though worded like a procedure,
                         is one no city office handles ([not_public] of rules.txt: a birth
                         certificate for a cat, a pilot's licence); procedure is then NULL */
    const char *also; /* static intent id of a second request in the same message, NULL when
                         none; today "notify.subscribe" with dossier.status ("tra hồ sơ ... và
                         báo cho tôi khi xong"): the reply answers the status and offers the
                         subscription */
    int age;          /* years of the person asked about ("con tôi 5 tuổi"), -1 when absent;
                         the answers pick the catalog's rule for that age */
    int foreign;      /* 1: the message names a foreign element (a foreign parent or spouse),
                         which changes birth and marriage registration; else 0 */
} nlu_result;

typedef struct nlu_quick {
    char *title;   /* button text, <= NLU_MAX_QUICK_TITLE code points */
    char *payload; /* Vietnamese message sent back when chosen; classifies correctly */
} nlu_quick;

/* What the gateway must do with a reply. For every action but NLU_ACT_NONE the text is a
 * default (what to say when the gateway cannot do better); the gateway does the work with
 * the entities of `resolved` and answers with nlu_render. */
typedef enum nlu_action {
    NLU_ACT_NONE = 0,       /* send text as is */
    NLU_ACT_DOSSIER_STATUS, /* look resolved.dossier_code up; render dossier_status or
                               dossier_not_found */
    NLU_ACT_SUBSCRIBE,      /* subscribe to resolved.dossier_code or resolved.ward_id;
                               render subscribed / subscribed_ward */
    NLU_ACT_UNSUBSCRIBE,    /* drop the citizen's subscriptions; render unsubscribed */
    NLU_ACT_REPORT,         /* a report of resolved.issue_category: when resolved.ward_id
                               is NULL the text asks where (the slot "place"); the gateway
                               files it, or adds the words to the ticket this conversation
                               opened, or keeps them until the place is known; renders
                               report_received, report_added or report_ask_ward */
    NLU_ACT_HANDOFF,        /* queue the conversation for an officer; render handoff */
    NLU_ACT_REPORT_STATUS,  /* look resolved.report_ticket up; render report_status (and the
                               status_* lines) or report_not_found */
} nlu_action;

typedef struct nlu_reply {
    char *text;                     /* caller owns: Vietnamese reply, UTF-8, may hold '\n' */
    size_t text_len;                /* bytes in text, without the NUL */
    size_t n_quick;                 /* entries used in quick */
    nlu_quick quick[NLU_MAX_QUICK]; /* caller owns: suggested choices */
    nlu_action action;              /* NLU_ACT_NONE unless the gateway has work to do */
    nlu_result resolved;            /* intent and entities after the dialogue filled the
                                       slots (what the reply answers) */
} nlu_reply;

/* Classifies text[0..len) (need not be NUL-terminated). Returns 0, MC_EUTF8, MC_ETOOBIG
 * (beyond VN_MAX_INPUT), MC_ENOMEM (or MC_EICU if ICU fails). On error *out is zeroed.
 * Allocates nothing but the normalized text; safe to call from several threads. */
int nlu_classify(nlu_engine *e, const char *text, size_t len, nlu_result *out);

/* Classifies and composes the reply for one message without conversation state (a fresh
 * nlu_converse at the wall-clock time: the catalog values of today). On success the caller
 * frees *out with nlu_reply_free. If res is not NULL it receives the classification. Same
 * errors as nlu_classify; on error *out is zeroed. */
int nlu_respond(nlu_engine *e, const char *text, size_t len, nlu_result *res, nlu_reply *out);

/* Fills the reply template `name` of replies.txt (one without catalog placeholders, e.g.
 * dossier_status {code} {status}, status_updated {time} {date}, status_note {note},
 * dossier_not_found {code}, subscribed {code}, subscribed_ward {ward}, unsubscribed,
 * report_received {ticket} {category}, handoff: the list is in replies.txt) with
 * keys[i] -> values[i] (NUL-terminated UTF-8). Returns 0; MC_ENOTFOUND for an unknown
 * template; MC_EINVAL for a key the template does not take, a placeholder without a value,
 * or a value that is not UTF-8; MC_ENOMEM. The caller frees *out with nlu_reply_free; on
 * error *out is zeroed. */
int nlu_render(nlu_engine *e, const char *name, const char *const *keys, const char *const *values,
               size_t n, nlu_reply *out);

/* Frees what nlu_respond / nlu_converse / nlu_render gave and zeroes r; r may be NULL or
 * already freed. */
void nlu_reply_free(nlu_reply *r);

#endif
