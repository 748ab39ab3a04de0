/*
 * intents/nlu_catalog.h — the procedure catalog (intents/data/procedures.txt), read-only
 * after load.
 *
 * Every fact a citizen may act on (where to file, the fee, the time, online filing, each
 * paper) carries the legal text or official page it rests on, and may have variants that
 * apply only in a case: a period ("until 2026-12-31": a temporary fee reduction), an age
 * ("age 0-5": the ID card of a young child), a foreign element or its absence
 * ("foreign", "domestic": birth and marriage registration). nlu_fact_pick chooses
 * the value for the citizen's case; nlu_catalog_check finds what time has made wrong.
 */
#ifndef NLU_CATALOG_H
#define NLU_CATALOG_H

#include <stddef.h>
#include <stdint.h>

/* Named limits of the catalog file. */
#define NLU_CAT_MAX_PROCEDURES 64
#define NLU_CAT_MAX_DOCUMENTS 16
#define NLU_CAT_MAX_ALIASES 24
#define NLU_CAT_MAX_ID 48
#define NLU_CAT_MAX_VARIANTS 8 /* values of one single-valued fact, the general one included */
#define NLU_CAT_MAX_URLS 8     /* source_url lines of a block */
#define NLU_CAT_MAX_NOTES 8    /* note lines of a block */
#define NLU_CAT_MAX_CHARS 400  /* code points of one citizen-facing value (a phone screen) */
#define NLU_CAT_MIN_YEAR 2000  /* dates outside [MIN_YEAR, MAX_YEAR] are typing errors */
#define NLU_CAT_MAX_YEAR 2100
#define NLU_CAT_MAX_AGE 150 /* largest age a condition may name */

#define NLU_DAY_NONE INT32_MIN /* no date condition */
#define NLU_DAY_TEXT 16        /* bytes for nlu_day_format's "dd/mm/yyyy" and its NUL */
/* Ho Chi Minh City is UTC+7 all year (no daylight saving): a day starts at 17:00 UTC. */
#define NLU_TZ_OFFSET_MS (7LL * 3600 * 1000)

/* The facts of a procedure. The first four have one value per case; documents are a list. */
typedef enum nlu_fact_kind {
    NLU_FACT_AGENCY,   /* where to file, who decides */
    NLU_FACT_FEE,      /* what it costs */
    NLU_FACT_DURATION, /* how long it takes */
    NLU_FACT_ONLINE,   /* whether and where it can be filed online */
    NLU_FACT_DOCUMENT, /* one paper to prepare */
    NLU_FACT_KINDS
} nlu_fact_kind;
#define NLU_FACT_SINGLE NLU_FACT_DOCUMENT /* kinds below this have one value per case */

/* When a value applies. A field at its "none" value sets no condition. */
typedef struct nlu_cond {
    int32_t from_day;  /* first day it applies (days since 1970-01-01 in HCMC), or NONE */
    int32_t until_day; /* last day it applies, inclusive, or NLU_DAY_NONE */
    int age_min;       /* youngest age (years) it applies to, -1: no age condition */
    int age_max;       /* oldest age, inclusive (NLU_CAT_MAX_AGE for "N+") */
    int foreign;       /* 1: only with a foreign element; -1 ("domestic"): only without one */
} nlu_cond;

/* One value of a fact. Strings are UTF-8, owned by the catalog. */
typedef struct nlu_fact {
    const char *text;  /* citizen-facing wording */
    const char *basis; /* what it rests on: the legal text(s) or official page */
    nlu_cond cond;     /* when it applies; no condition: the general value */
    int line;          /* its line in the catalog file */
} nlu_fact;

/* What is known of the citizen's case when a fact is chosen. */
typedef struct nlu_case {
    int32_t day; /* the day of the question in HCMC (nlu_day_of_ms) */
    int age;     /* years of the person the question is about, -1 unknown */
    int foreign; /* 1: the question names a foreign element */
} nlu_case;

/* One administrative procedure. Every string is UTF-8, NUL-terminated, owned by the
 * catalog and valid until nlu_catalog_free. Read-only for callers. */
typedef struct nlu_procedure {
    const char *id;         /* entity value from shared/spec/intents.md, e.g. "khai_sinh" */
    const char *name;       /* citizen-facing name, e.g. "Đăng ký khai sinh" */
    const char *agency;     /* the general value of each single-valued fact, for readers */
    const char *fee;        /*   that need one text (the answers use nlu_fact_pick) */
    const char *duration;   /*   " */
    const char *online;     /*   " */
    const char *legal;      /* legal basis of the procedure as a whole */
    const char *source;     /* where the facts were checked, short, shown in the answers */
    const char *checked_on; /* "YYYY-MM-DD": the day the block was last checked */
    int32_t checked_day;    /* the same, days since 1970-01-01 */
    const char *source_urls[NLU_CAT_MAX_URLS]; /* the pages read when checking */
    size_t n_source_urls;                      /* >= 1 */
    const char *notes[NLU_CAT_MAX_NOTES];      /* for reviewers: conditions, confidence, what
                                                  could not be confirmed; not shown */
    size_t n_notes;
    nlu_fact facts[NLU_FACT_SINGLE][NLU_CAT_MAX_VARIANTS]; /* values of each single-valued
                                                              fact, in file order */
    size_t n_facts[NLU_FACT_SINGLE];                       /* >= 1 (one general value) */
    nlu_fact docs[NLU_CAT_MAX_DOCUMENTS];           /* papers to prepare, in order, each with its
                                                       basis and condition */
    const char *documents[NLU_CAT_MAX_DOCUMENTS];   /* docs[i].text, for readers of the texts */
    size_t n_documents;                             /* >= 1 */
    const char *aliases[NLU_CAT_MAX_ALIASES];       /* how citizens name it, with diacritics */
    const char *aliases_plain[NLU_CAT_MAX_ALIASES]; /* the same, vn_normalize()d plain key */
    size_t n_aliases;                               /* >= 1 */
    int alias_lines[NLU_CAT_MAX_ALIASES];           /* line of each alias in the file */
} nlu_procedure;

typedef struct nlu_catalog nlu_catalog; /* opaque */

/* Loads and validates the catalog file at path (format documented at the top of
 * intents/data/procedures.txt). Returns NULL and "path:line: reason" in err on failure:
 * unknown or duplicate keys, a block without name, legal, source, source_url or checked_on,
 * a fact without its basis or its general value, a malformed condition or date, two values
 * of a fact for the same case, an amount without the legal text that sets it. Free with
 * nlu_catalog_free. */
nlu_catalog *nlu_catalog_load(const char *path, char *err, size_t errlen);
/* The same with the caller's normalizer (borrowed, used only while loading) for the
 * plain forms of the aliases; NULL: a plain one of its own, as nlu_catalog_load. */
struct vn_normalizer;
nlu_catalog *nlu_catalog_load_shared(const char *path, struct vn_normalizer *vn, char *err,
                                     size_t errlen);
void nlu_catalog_free(nlu_catalog *c);
size_t nlu_catalog_count(const nlu_catalog *c);
/* The i-th procedure in file order (i < count), or NULL. */
const nlu_procedure *nlu_catalog_at(const nlu_catalog *c, size_t i);
/* The procedure with this id, or NULL. */
const nlu_procedure *nlu_catalog_get(const nlu_catalog *c, const char *id);

/* The checks that depend on the date, relative to `today` (days since 1970-01-01): a block
 * checked in the future, and a dated value (a temporary reduction) that has ended without a
 * value checked for the time after it ("fee [from D+1] = ..."). Returns 0, or MC_EPARSE with
 * "path:line: reason" for the first problem. The loader cannot do these: a catalog valid
 * today must still load tomorrow, and answers degrade gracefully (nlu_fact_pick). */
int nlu_catalog_check(const nlu_catalog *c, int32_t today, char *err, size_t errlen);

/* The value of single-valued fact kind (< NLU_FACT_SINGLE) for case k: the most specific
 * variant whose conditions all hold (a variant needing an unknown age does not hold), else
 * the general value. NULL k: the general value. *ended (may be NULL) receives the last day of
 * a variant that would hold but has ended, when the general value is returned because of
 * that (the answer must then say the value may be out of date), else NLU_DAY_NONE. */
const nlu_fact *nlu_fact_pick(const nlu_procedure *p, nlu_fact_kind kind, const nlu_case *k,
                              int32_t *ended);
/* 1 when paper d of p is to be prepared in case k: none of its conditions is known to be
 * false (a paper for an age is listed, with its age in its wording, when the age is
 * unknown). NULL k: only the papers without condition. */
int nlu_doc_shown(const nlu_fact *d, const nlu_case *k);

/* The HCMC day (days since 1970-01-01) of a Unix time in milliseconds. */
int32_t nlu_day_of_ms(int64_t ms);
/* Parses "YYYY-MM-DD" (a real date between NLU_CAT_MIN_YEAR and NLU_CAT_MAX_YEAR) into *day;
 * returns 0 or -1. */
int nlu_day_parse(const char *s, size_t n, int32_t *day);
/* Writes day as "dd/mm/yyyy" into buf[n] (n >= 11; NLU_DAY_TEXT is enough); returns buf. */
char *nlu_day_format(int32_t day, char *buf, size_t n);

#endif
