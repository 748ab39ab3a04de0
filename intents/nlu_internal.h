/*
 * intents/nlu_internal.h — what nlu.c (engine, classification), nlu_reply.c (templates)
 * and nlu_dialog.c (conversation) share. Not for use outside intents/.
 */
#ifndef NLU_INTERNAL_H
#define NLU_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "intents/nlu.h"
#include "intents/nlu_catalog.h"
#include "intents/nlu_model.h"
#include "vi-nlp/vn_dict.h"
#include "vi-nlp/vn_entity.h"
#include "vi-nlp/vn_norm.h"

#define NLU_MAX_PATH 1024
#define NLU_MAX_RULES 1024     /* weighted phrases of rules.txt */
#define NLU_MAX_RULE_TOKENS 8  /* longest phrase, in syllables */
#define NLU_MAX_OVERRIDES 64   /* precise rules of rules.txt [override] */
#define NLU_MAX_CLASSES 32     /* classes a model may have */
#define NLU_MAX_MATCHES 16     /* dictionary matches looked at per message */
#define NLU_BARE_MAX_TOKENS 12 /* longest message that can be a bare procedure mention */
#define NLU_MAX_TEMPLATE 8192  /* bytes of one reply template */
#define NLU_MAX_CUES 512       /* phrases of the focus sections of rules.txt */
#define NLU_MAX_CUE_MATCHES 64 /* focus cue phrases looked at per message */
#define NLU_FOCUS_TAIL_MAX 5   /* longest clause (tokens) that asks about a name before it */
#define NLU_NOTPUB_NEAR                                                                            \
    3 /* tokens between a [not_public] phrase and the procedure named                              \
         for the phrase to make the request not public */

/* Where a ward files a procedure ([ward_desk] of rules.txt). */
enum {
    NLU_DESK_NONE,    /* not at a ward: the catalog's agency (a city department) */
    NLU_DESK_WARD,    /* the one-stop desk of the ward's People's Committee */
    NLU_DESK_POLICE,  /* the ward's police */
    NLU_DESK_CATALOG, /* some wards only (a published list): the catalog's agency as it is */
    NLU_N_DESKS
};

/* Kinds of focus cues (rules.txt): which of several named procedures is asked about. */
enum {
    NLU_CUE_FOCUS,    /* right before the name or opening it: làm, xin, đăng ký, hỏi về */
    NLU_CUE_CONTEXT,  /* right before the name: background (đã có, chưa, đang, có cần) */
    NLU_CUE_AFTER,    /* right after the name: background (rồi, xong, đứng tên) */
    NLU_CUE_CLAUSE,   /* opening the name's clause: the clause is background (để, vì) */
    NLU_CUE_QUESTION, /* anywhere in the name's clause: that clause asks (gì, ở đâu) */
    NLU_CUE_BREAK,    /* starts a new clause, as a comma does (thì, nhưng) */
    NLU_N_CUE_KINDS
};

/* Intents of shared/spec/intents.md. Order matters only for ties: the first wins. */
enum {
    NLU_I_DOCUMENTS,
    NLU_I_FEE,
    NLU_I_DURATION,
    NLU_I_LOCATION,
    NLU_I_ONLINE,
    NLU_I_STATUS,
    NLU_I_SUBSCRIBE,
    NLU_I_UNSUBSCRIBE,
    NLU_I_REPORT,
    NLU_I_HOURS,
    NLU_I_HANDOFF,
    NLU_I_GREETING,
    NLU_I_GOODBYE,
    NLU_I_THANKS,
    NLU_I_OOS,
    NLU_N_INTENTS
};
extern const char *const nlu_intent_ids[NLU_N_INTENTS];
/* Index of an intent id, or -1. */
int nlu_intent_index(const char *id);
/* 1 for procedure.documents/fee/duration/location/online. */
int nlu_is_procedure_intent(int i);

/* Issue categories of the contract; khac is the default of report.issue. */
enum { NLU_ISSUE_KHAC = 7, NLU_N_ISSUES = 8 };
extern const char *const nlu_issue_ids[NLU_N_ISSUES];

/* Reply templates, one per section of replies.txt (names in nlu_reply.c). */
enum {
    NLU_T_DOCUMENTS, /* the five procedure answers: same order as NLU_I_DOCUMENTS.. */
    NLU_T_FEE,
    NLU_T_DURATION,
    NLU_T_LOCATION,
    NLU_T_ONLINE,
    NLU_T_WHICH_DOCUMENTS, /* "which procedure?" for each of the five */
    NLU_T_WHICH_FEE,
    NLU_T_WHICH_DURATION,
    NLU_T_WHICH_LOCATION,
    NLU_T_WHICH_ONLINE,
    NLU_T_CLARIFY, /* procedure named, question unclear */
    NLU_T_GREETING,
    NLU_T_THANKS,
    NLU_T_GOODBYE,
    NLU_T_FALLBACK,
    NLU_T_OFFICE_HOURS,
    NLU_T_ASK_CODE,       /* dossier.status without a code */
    NLU_T_LOOKUP,         /* dossier.status with a code (default text of the action) */
    NLU_T_ASK_SUBSCRIBE,  /* notify.subscribe without code or ward */
    NLU_T_SUBSCRIBE,      /* ... with a code (default text) */
    NLU_T_SUBSCRIBE_WARD, /* ... with a ward (default text) */
    NLU_T_UNSUBSCRIBE,    /* default text */
    NLU_T_REPORT,         /* default text */
    NLU_T_HANDOFF_REQ,    /* default text */
    NLU_T_DOSSIER_STATUS, /* the gateway's templates (nlu_render) */
    NLU_T_DOSSIER_NOT_FOUND,
    NLU_T_SUBSCRIBED,
    NLU_T_SUBSCRIBED_WARD,
    NLU_T_UNSUBSCRIBED,
    NLU_T_REPORT_RECEIVED,
    NLU_T_HANDOFF,
    NLU_T_UNSUPPORTED,          /* an image, sticker, file...: only text is understood */
    NLU_T_SUBSCRIBE_ELSEWHERE,  /* web chat cannot reach an offline citizen */
    NLU_T_NOT_PUBLIC,           /* out_of_scope worded like a procedure: what I can do */
    NLU_T_LOOKUP_SUBSCRIBE,     /* dossier.status also asking for notifications */
    NLU_T_LOCATION_WARD,        /* procedure.location with a ward: its one-stop desk */
    NLU_T_LOCATION_WARD_POLICE, /* ... a procedure of the ward's police */
    NLU_T_LOCATION_NOT_WARD,    /* ... a procedure no ward handles */
    NLU_T_FACT_ENDED,           /* said before a catalog value kept after a dated one ended */
    NLU_T_REPORT_ASK_PLACE,     /* report.issue without a place: where is it? */
    NLU_T_REPORT_LOOKUP,        /* a question about a report ticket (default text) */
    NLU_T_REPORT_ADDED,         /* the gateway's: the words went into the open ticket */
    NLU_T_REPORT_ASK_WARD,      /* the gateway's: the place given names no ward */
    NLU_T_REPORT_ROUTED,        /* the gateway's: a line naming the departments */
    NLU_T_REPORT_WILL_NOTIFY,   /* the gateway's: a line promising the outcome */
    NLU_T_REPORT_STATUS,        /* the gateway's: where a ticket stands */
    NLU_T_REPORT_NOT_FOUND,     /* the gateway's: no such ticket */
    NLU_T_STATUS_PROCEDURE,     /* the gateway's lines after a status: the procedure, */
    NLU_T_STATUS_UPDATED,       /* when it changed, */
    NLU_T_STATUS_AGENCY,        /* who handles it, */
    NLU_T_STATUS_NOTE,          /* the officer's note */
    NLU_T_STATUS_NOTE_PRIVATE,  /* ... kept from a stranger: it went to the citizen */
    NLU_T_COUNT
};

typedef struct nlu_tpl {
    char *text;                   /* template, lines joined by '\n', owned */
    size_t n_quick;               /* quick replies used */
    char *title[NLU_MAX_QUICK];   /* owned, may hold placeholders */
    char *payload[NLU_MAX_QUICK]; /* owned, may hold placeholders */
    int line[NLU_MAX_QUICK];      /* replies.txt line of each quick reply */
} nlu_tpl;

typedef struct nlu_rule {
    char *plain;   /* phrase, plain key, owned */
    size_t len;    /* bytes in plain */
    int intent;    /* NLU_I_* */
    double weight; /* added to the intent's score when the phrase is present */
} nlu_rule;

typedef struct nlu_override {
    char *plain;   /* whole message (or the words before the code), plain key, owned */
    size_t len;    /* bytes in plain */
    int with_code; /* 1: the pattern ends with {dossier_code} */
    int intent;    /* NLU_I_* */
} nlu_override;

struct nlu_engine {
    vn_normalizer *vn;                         /* owned; with vi-nlp/data tables */
    vn_extractor *x;                           /* owned */
    nlu_catalog *cat;                          /* owned */
    vn_dict *procs;                            /* owned: alias -> catalog index */
    vn_dict *issues;                           /* owned: keyword -> NLU_ISSUE index */
    vn_dict *filler;                           /* owned: words that ask nothing by themselves */
    vn_dict *wards;                            /* owned: ward name -> extractor ward index */
    vn_dict *notpub;                           /* owned: [not_public] phrases */
    uint8_t ward_desk[NLU_CAT_MAX_PROCEDURES]; /* per catalog index: NLU_DESK_* ([ward_desk]) */
    vn_dict *cues;                             /* owned: focus cue phrase -> index into cue_w */
    double (*cue_w)[NLU_N_CUE_KINDS];          /* owned [NLU_MAX_CUES]: weight of a cue in each of
                                                  the sections listing it (0: not listed there) */
    char **cue_plain;                          /* owned [NLU_MAX_CUES]: plain key of each cue */
    size_t n_cues;                             /* cues loaded */
    nlu_model *model;                          /* owned, NULL: rules only */
    int class_intent[NLU_MAX_CLASSES];         /* model class -> NLU_I_* */
    size_t n_classes;                          /* classes of the model */

    nlu_rule *rules;    /* owned array of NLU_MAX_RULES */
    size_t n_rules;     /* used entries */
    uint32_t *rule_tab; /* owned open-addressing table: rule index + 1, 0 = empty */
    size_t rule_mask;   /* table size - 1 (a power of two) */
    int max_tokens;     /* longest rule phrase, in syllables */
    nlu_override over[NLU_MAX_OVERRIDES]; /* precise rules, file order */
    size_t n_over;                        /* used entries */

    /* [settings] of rules.txt */
    double min_score;      /* rule score below it: nothing recognized */
    double scale;          /* score at which rule confidence reaches 1 - 1/e */
    double mention;        /* a named procedure adds this to procedure.documents */
    double code_mention;   /* a dossier code adds this to dossier.status */
    double issue_mention;  /* an issue keyword adds this to report.issue */
    double oos_max;        /* out_of_scope confidence when no rule matched at all */
    double min_conf_rules; /* rule confidence below it: out_of_scope or clarify */
    double min_conf_model; /* model probability below it: out_of_scope or clarify */
    double override_conf;  /* confidence of a precise rule */
    double qmark_w;        /* a '?' ending a clause: as a [question] phrase of this weight */
    double multi_min;      /* phrase score of both dossier.status and notify.subscribe from
                              which a message asks for both */

    char *issue_name[NLU_N_ISSUES]; /* owned, citizen-facing category names */

    nlu_tpl tpl[NLU_T_COUNT];        /* reply templates */
    char replies_path[NLU_MAX_PATH]; /* for messages about quick replies */
};

/* nlu_reply.c */
int nlu_replies_load(nlu_engine *e, const char *path, char *err, size_t errlen);
/* Every quick reply, sent back, must be understood (for {alias}: for every procedure). */
int nlu_replies_check(nlu_engine *e, char *err, size_t errlen);
void nlu_replies_free(nlu_engine *e);
/* Composes the reply for r, already resolved by the dialogue, as of now_ms (Unix ms: the
 * catalog values of that day); *pending receives the slot the reply asks for ("procedure",
 * "dossier_code", "ward") or "". Zeroes *out on error. */
int nlu_compose(nlu_engine *e, const nlu_result *r, int64_t now_ms, nlu_reply *out,
                const char **pending);

#endif
