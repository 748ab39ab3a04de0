/*
 * intents/nlu_catalog.c — loads the procedure catalog: what each procedure needs, where,
 * how much, how long, on what legal basis, and the names citizens give it.
 *
 * The file is data written by people who know the procedures, not by programmers, so the
 * loader is strict and says exactly which line is wrong: unknown keys, keys outside a
 * block, duplicate ids or keys, missing required fields and an empty catalog all fail
 * the start-up. Aliases are normalized here once (plain key) so matching never does it.
 *
 * The catalog tells citizens what to pay and what to bring, so every fact carries what it
 * rests on ("text | basis") and the block says when and where it was checked (checked_on,
 * source_url). A fact may have variants for a case: "fee [from 2025-07-01, until
 * 2026-12-31] = ..." is a temporary reduction, "agency [age 0-5] = ..." the rule for a young
 * child. Choosing among them (nlu_fact_pick) is done per question, with the question's date,
 * so a reduction stops being quoted the day after it ends even if nobody edited the file;
 * nlu_catalog_check, run by the tests, then says that somebody must.
 */
#include "intents/nlu_catalog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mc.h"
#include "intents/nlu_data.h"
#include "vi-nlp/vn_norm.h"
#include "vi-nlp/vn_utf8.h"

#define MS_PER_DAY (24LL * 3600 * 1000)
#define KEY_MAX 32 /* bytes of a key name without its conditions ("checked_on"), with NUL */

struct nlu_catalog {
    nlu_procedure procs[NLU_CAT_MAX_PROCEDURES]; /* file order */
    size_t n;                                    /* used entries */
    char *path;                                  /* the file, for nlu_catalog_check's messages */
};

/* Single-valued keys without conditions and where they live in nlu_procedure. */
static const struct {
    const char *key;
    size_t off;
} single_keys[] = {
    {"name", offsetof(nlu_procedure, name)},
    {"legal", offsetof(nlu_procedure, legal)},
    {"source", offsetof(nlu_procedure, source)},
    {"checked_on", offsetof(nlu_procedure, checked_on)},
};

/* Keys of the facts, which take "text | basis" and [conditions]; index = nlu_fact_kind. */
static const char *const fact_keys[NLU_FACT_KINDS] = {"agency", "fee", "duration", "online",
                                                      "document"};

/* Words that name a legal text: an amount must come with one (a page is not enough to set a
 * fee). */
static const char *const legal_words[] = {"Luật",       "Nghị định",  "Thông tư",
                                          "Nghị quyết", "Quyết định", "Pháp lệnh"};

static const char **field(nlu_procedure *p, size_t i) {
    return (const char **)((char *)p + single_keys[i].off);
}

static void fact_free(nlu_fact *f) {
    free((char *)f->text);
    free((char *)f->basis);
}

static void proc_free(nlu_procedure *p) {
    free((char *)p->id);
    for (size_t i = 0; i < MC_ARRAY_LEN(single_keys); i++)
        free((char *)*field(p, i));
    for (size_t i = 0; i < p->n_source_urls; i++)
        free((char *)p->source_urls[i]);
    for (size_t i = 0; i < p->n_notes; i++)
        free((char *)p->notes[i]);
    for (int k = 0; k < NLU_FACT_SINGLE; k++)
        for (size_t i = 0; i < p->n_facts[k]; i++)
            fact_free(&p->facts[k][i]);
    for (size_t i = 0; i < p->n_documents; i++)
        fact_free(&p->docs[i]);
    for (size_t i = 0; i < p->n_aliases; i++) {
        free((char *)p->aliases[i]);
        free((char *)p->aliases_plain[i]);
    }
    memset(p, 0, sizeof(*p));
}

void nlu_catalog_free(nlu_catalog *c) {
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        proc_free(&c->procs[i]);
    free(c->path);
    free(c);
}

size_t nlu_catalog_count(const nlu_catalog *c) {
    return c ? c->n : 0;
}

const nlu_procedure *nlu_catalog_at(const nlu_catalog *c, size_t i) {
    return c && i < c->n ? &c->procs[i] : NULL;
}

const nlu_procedure *nlu_catalog_get(const nlu_catalog *c, const char *id) {
    if (!c || !id)
        return NULL;
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->procs[i].id, id) == 0)
            return &c->procs[i];
    return NULL;
}

/* ---- days ------------------------------------------------------------------------------ */

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H. Hinnant's
 * days_from_civil). */
static int32_t days_from_civil(int y, int m, int d) {
    y -= m <= 2;
    int era = (y >= 0 ? y : y - 399) / 400;
    int yoe = y - era * 400;
    int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (int32_t)(era * 146097 + doe - 719468);
}

static int days_in_month(int y, int m) {
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0) ? 29 : d[m - 1];
}

int32_t nlu_day_of_ms(int64_t ms) {
    int64_t t = ms + NLU_TZ_OFFSET_MS;
    int64_t d = t / MS_PER_DAY - (t % MS_PER_DAY < 0); /* floor, also before 1970 */
    return (int32_t)d;
}

int nlu_day_parse(const char *s, size_t n, int32_t *day) {
    if (n != 10 || s[4] != '-' || s[7] != '-')
        return -1;
    int v[3] = {0, 0, 0}, k = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == 4 || i == 7) {
            k++;
            continue;
        }
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v[k] = v[k] * 10 + (s[i] - '0');
    }
    if (v[0] < NLU_CAT_MIN_YEAR || v[0] > NLU_CAT_MAX_YEAR || v[1] < 1 || v[1] > 12 || v[2] < 1 ||
        v[2] > days_in_month(v[0], v[1]))
        return -1;
    *day = days_from_civil(v[0], v[1], v[2]);
    return 0;
}

char *nlu_day_format(int32_t day, char *buf, size_t n) {
    /* civil_from_days, the inverse of days_from_civil */
    int32_t z = day + 719468;
    int32_t era = (z >= 0 ? z : z - 146096) / 146097;
    int32_t doe = z - era * 146097;
    int32_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int32_t y = yoe + era * 400;
    int32_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int32_t mp = (5 * doy + 2) / 153;
    int32_t d = doy - (153 * mp + 2) / 5 + 1;
    int32_t m = mp + (mp < 10 ? 3 : -9);
    snprintf(buf, n, "%02d/%02d/%04d", (int)d, (int)m, (int)(y + (m <= 2)));
    return buf;
}

/* ---- choosing a value ------------------------------------------------------------------ */

enum { C_FALSE, C_TRUE, C_UNKNOWN };

/* Whether cond holds in case k. */
static int cond_holds(const nlu_cond *c, const nlu_case *k) {
    if (c->from_day != NLU_DAY_NONE && k->day < c->from_day)
        return C_FALSE;
    if (c->until_day != NLU_DAY_NONE && k->day > c->until_day)
        return C_FALSE;
    if ((c->foreign > 0 && !k->foreign) || (c->foreign < 0 && k->foreign))
        return C_FALSE;
    if (c->age_min >= 0) {
        if (k->age < 0)
            return C_UNKNOWN;
        if (k->age < c->age_min || k->age > c->age_max)
            return C_FALSE;
    }
    return C_TRUE;
}

static int is_general(const nlu_cond *c) {
    return c->from_day == NLU_DAY_NONE && c->until_day == NLU_DAY_NONE && c->age_min < 0 &&
           !c->foreign;
}

/* How specific a value is: the more conditions, the more specific, and a condition on the
 * person (age, foreign element) outweighs any period: a child's exemption beats a
 * reduction for everybody. */
static int specificity(const nlu_cond *c) {
    return (c->from_day != NLU_DAY_NONE) + (c->until_day != NLU_DAY_NONE) + 4 * (c->age_min >= 0) +
           4 * (c->foreign != 0);
}

const nlu_fact *nlu_fact_pick(const nlu_procedure *p, nlu_fact_kind kind, const nlu_case *k,
                              int32_t *ended) {
    const nlu_fact *best = NULL, *general = NULL;
    int32_t last = NLU_DAY_NONE;
    if (ended)
        *ended = NLU_DAY_NONE;
    if (!p || (int)kind < 0 || (int)kind >= NLU_FACT_SINGLE)
        return NULL;
    for (size_t i = 0; i < p->n_facts[kind]; i++) {
        const nlu_fact *f = &p->facts[kind][i];
        if (is_general(&f->cond)) {
            general = f;
            continue;
        }
        if (!k)
            continue;
        if (cond_holds(&f->cond, k) == C_TRUE) {
            if (!best || specificity(&f->cond) > specificity(&best->cond))
                best = f;
        } else if (f->cond.until_day != NLU_DAY_NONE && k->day > f->cond.until_day) {
            /* Would it hold on its last day? Then it has ended for this case. */
            nlu_case then = *k;
            then.day = f->cond.until_day;
            if (cond_holds(&f->cond, &then) == C_TRUE && f->cond.until_day > last)
                last = f->cond.until_day;
        }
    }
    if (best)
        return best;
    if (ended)
        *ended = last;
    return general;
}

int nlu_doc_shown(const nlu_fact *d, const nlu_case *k) {
    if (!d)
        return 0;
    if (!k)
        return is_general(&d->cond);
    return cond_holds(&d->cond, k) != C_FALSE;
}

/* ---- the date checks ------------------------------------------------------------------- */

static int same_case(const nlu_cond *a, const nlu_cond *b) {
    return a->age_min == b->age_min && a->age_max == b->age_max && a->foreign == b->foreign;
}

int nlu_catalog_check(const nlu_catalog *c, int32_t today, char *err, size_t errlen) {
    char d1[NLU_DAY_TEXT], d2[NLU_DAY_TEXT];
    if (!c)
        return MC_EINVAL;
    for (size_t i = 0; i < c->n; i++) {
        const nlu_procedure *p = &c->procs[i];
        if (p->checked_day > today) {
            if (err && errlen)
                snprintf(err, errlen, "%s: [%s] checked_on %s is after today (%s)", c->path, p->id,
                         p->checked_on, nlu_day_format(today, d1, sizeof(d1)));
            return MC_EPARSE;
        }
        for (int kind = 0; kind < NLU_FACT_SINGLE; kind++) {
            for (size_t a = 0; a < p->n_facts[kind]; a++) {
                const nlu_fact *v = &p->facts[kind][a];
                if (v->cond.until_day == NLU_DAY_NONE || v->cond.until_day >= today)
                    continue;
                int replaced = 0;
                for (size_t b = 0; b < p->n_facts[kind] && !replaced; b++) {
                    const nlu_cond *w = &p->facts[kind][b].cond;
                    replaced = b != a && same_case(w, &v->cond) && w->from_day != NLU_DAY_NONE &&
                               w->from_day <= v->cond.until_day + 1 &&
                               (w->until_day == NLU_DAY_NONE || w->until_day >= today);
                }
                if (replaced)
                    continue;
                if (err && errlen)
                    snprintf(err, errlen,
                             "%s:%d: [%s] the %s valid until %s has ended and nothing replaces "
                             "it: check the source, then add '%s [from %s] = ...' with what "
                             "applies now",
                             c->path, v->line, p->id, fact_keys[kind],
                             nlu_day_format(v->cond.until_day, d1, sizeof(d1)), fact_keys[kind],
                             nlu_day_format(v->cond.until_day + 1, d2, sizeof(d2)));
                return MC_EPARSE;
            }
        }
    }
    return 0;
}

/* ---- loading --------------------------------------------------------------------------- */

static int valid_id(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n >= NLU_CAT_MAX_ID)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return 0;
    return 1;
}

static int is_space(char c) {
    return c == ' ' || c == '\t';
}

/* Trims s[0..*n) in place of its pointer and length. */
static const char *trim(const char *s, size_t *n) {
    while (*n && is_space(*s)) {
        s++;
        (*n)--;
    }
    while (*n && is_space(s[*n - 1]))
        (*n)--;
    return s;
}

/* Parses a non-negative number of at most 3 digits s[0..n); -1 if it is not one. */
static int small_num(const char *s, size_t n) {
    int v = 0;
    if (n == 0 || n > 3)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* Parses one condition s[0..n) into c. */
static int parse_one_cond(const char *s, size_t n, nlu_cond *c, const nlu_data *d, char *err,
                          size_t errlen) {
    if ((n == 7 && memcmp(s, "foreign", 7) == 0) || (n == 8 && memcmp(s, "domestic", 8) == 0)) {
        if (c->foreign)
            goto twice;
        c->foreign = s[0] == 'f' ? 1 : -1;
        return 0;
    }
    if (n > 6 && (memcmp(s, "until ", 6) == 0 || memcmp(s, "from ", 5) == 0)) {
        int until = s[0] == 'u';
        size_t skip = until ? 6 : 5;
        int32_t day;
        size_t dn = n - skip;
        const char *ds = trim(s + skip, &dn);
        if (nlu_day_parse(ds, dn, &day) != 0) {
            nlu_data_err(d, err, errlen, "bad date in '%.*s' (YYYY-MM-DD, %d-%d)", (int)n, s,
                         NLU_CAT_MIN_YEAR, NLU_CAT_MAX_YEAR);
            return -1;
        }
        int32_t *slot = until ? &c->until_day : &c->from_day;
        if (*slot != NLU_DAY_NONE)
            goto twice;
        *slot = day;
        return 0;
    }
    if (n > 4 && memcmp(s, "age ", 4) == 0) {
        size_t an = n - 4;
        const char *a = trim(s + 4, &an);
        const char *dash = memchr(a, '-', an);
        int lo, hi;
        if (an > 1 && a[an - 1] == '+') {
            lo = small_num(a, an - 1);
            hi = NLU_CAT_MAX_AGE;
        } else if (dash) {
            lo = small_num(a, (size_t)(dash - a));
            hi = small_num(dash + 1, an - (size_t)(dash - a) - 1);
        } else {
            lo = hi = -1;
        }
        if (lo < 0 || hi < lo || hi > NLU_CAT_MAX_AGE) {
            nlu_data_err(d, err, errlen, "bad age in '%.*s' (age A-B or age A+, 0-%d)", (int)n, s,
                         NLU_CAT_MAX_AGE);
            return -1;
        }
        if (c->age_min >= 0)
            goto twice;
        c->age_min = lo;
        c->age_max = hi;
        return 0;
    }
    nlu_data_err(d, err, errlen,
                 "unknown condition '%.*s' (until YYYY-MM-DD, from YYYY-MM-DD, age A-B, age A+, "
                 "foreign, domestic)",
                 (int)n, s);
    return -1;
twice:
    nlu_data_err(d, err, errlen, "condition '%.*s' given twice", (int)n, s);
    return -1;
}

/* Splits key "fee [until 2026-12-31, age 0-13]" into its name (written to name[cap]) and
 * conditions. */
static int parse_key(const char *key, char *name, size_t cap, nlu_cond *c, const nlu_data *d,
                     char *err, size_t errlen) {
    c->from_day = c->until_day = NLU_DAY_NONE;
    c->age_min = c->age_max = -1;
    c->foreign = 0;
    const char *open = strchr(key, '[');
    size_t n = open ? (size_t)(open - key) : strlen(key);
    const char *k = trim(key, &n);
    if (n == 0 || n >= cap) {
        nlu_data_err(d, err, errlen, "bad key '%s'", key);
        return -1;
    }
    memcpy(name, k, n);
    name[n] = '\0';
    if (!open)
        return 0;
    size_t rest = strlen(open);
    if (open[rest - 1] != ']' || memchr(open + 1, '[', rest - 1)) {
        nlu_data_err(d, err, errlen, "conditions must look like 'key [cond, cond]'");
        return -1;
    }
    const char *s = open + 1, *end = open + rest - 1;
    while (s <= end) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        size_t cn = (size_t)((comma ? comma : end) - s);
        const char *cs = trim(s, &cn);
        if (cn == 0) {
            nlu_data_err(d, err, errlen, "empty condition in '%s'", key);
            return -1;
        }
        if (parse_one_cond(cs, cn, c, d, err, errlen) != 0)
            return -1;
        s = (comma ? comma : end) + 1;
    }
    if (c->from_day != NLU_DAY_NONE && c->until_day != NLU_DAY_NONE && c->from_day > c->until_day) {
        nlu_data_err(d, err, errlen, "'from' is after 'until' in '%s'", key);
        return -1;
    }
    return 0;
}

static int contains(const char *s, size_t n, const char *w) {
    size_t wn = strlen(w);
    for (size_t i = 0; i + wn <= n; i++)
        if (memcmp(s + i, w, wn) == 0)
            return 1;
    return 0;
}

/* Reads "text | basis" of a fact line into f (text and basis copied). */
static int parse_fact(const char *value, nlu_fact_kind kind, nlu_fact *f, const nlu_data *d,
                      char *err, size_t errlen) {
    const char *bar = strrchr(value, '|');
    size_t tn = bar ? (size_t)(bar - value) : 0, bn = bar ? strlen(bar + 1) : 0;
    const char *t = bar ? trim(value, &tn) : NULL, *b = bar ? trim(bar + 1, &bn) : NULL;
    if (!bar || tn == 0 || bn == 0 || memchr(value, '|', (size_t)(bar - value))) {
        nlu_data_err(d, err, errlen,
                     "'%s' needs 'text | basis' (the legal text or official page it rests on)",
                     fact_keys[kind]);
        return -1;
    }
    if (vn_utf8_count(t, tn) > NLU_CAT_MAX_CHARS || vn_utf8_count(b, bn) > NLU_CAT_MAX_CHARS) {
        nlu_data_err(d, err, errlen, "text or basis longer than %d characters", NLU_CAT_MAX_CHARS);
        return -1;
    }
    /* "amounts only with the legal text that sets them" */
    int amount = 0;
    for (size_t i = 0; i < tn && !amount; i++)
        amount = t[i] >= '0' && t[i] <= '9';
    if (kind == NLU_FACT_FEE && amount && contains(t, tn, "đồng")) {
        int legal = 0;
        for (size_t i = 0; i < MC_ARRAY_LEN(legal_words) && !legal; i++)
            legal = contains(b, bn, legal_words[i]);
        if (!legal) {
            nlu_data_err(d, err, errlen,
                         "an amount needs the legal text that sets it in its basis (Luật, "
                         "Nghị định, Thông tư, Nghị quyết, Quyết định)");
            return -1;
        }
    }
    f->text = strndup(t, tn);
    f->basis = strndup(b, bn);
    f->line = d->lineno;
    if (!f->text || !f->basis) {
        fact_free(f);
        f->text = f->basis = NULL;
        nlu_data_err(d, err, errlen, "out of memory");
        return MC_ENOMEM;
    }
    return 0;
}

/* Adds a fact line to p. */
static int add_fact(nlu_procedure *p, nlu_fact_kind kind, const nlu_cond *c, const char *value,
                    const nlu_data *d, char *err, size_t errlen) {
    nlu_fact *f;
    if (kind == NLU_FACT_DOCUMENT) {
        if (p->n_documents == NLU_CAT_MAX_DOCUMENTS) {
            nlu_data_err(d, err, errlen, "more than %d documents", NLU_CAT_MAX_DOCUMENTS);
            return -1;
        }
        f = &p->docs[p->n_documents];
    } else {
        for (size_t i = 0; i < p->n_facts[kind]; i++) {
            const nlu_cond *o = &p->facts[kind][i].cond;
            if (o->from_day == c->from_day && o->until_day == c->until_day && same_case(o, c)) {
                if (is_general(c))
                    nlu_data_err(d, err, errlen, "duplicate key '%s' in [%s]", fact_keys[kind],
                                 p->id);
                else
                    nlu_data_err(d, err, errlen,
                                 "a second '%s' for the same case (line %d) in [%s]",
                                 fact_keys[kind], p->facts[kind][i].line, p->id);
                return -1;
            }
        }
        if (p->n_facts[kind] == NLU_CAT_MAX_VARIANTS) {
            nlu_data_err(d, err, errlen, "more than %d values of '%s'", NLU_CAT_MAX_VARIANTS,
                         fact_keys[kind]);
            return -1;
        }
        f = &p->facts[kind][p->n_facts[kind]];
    }
    int rc = parse_fact(value, kind, f, d, err, errlen);
    if (rc != 0)
        return rc;
    f->cond = *c;
    if (kind == NLU_FACT_DOCUMENT) {
        p->documents[p->n_documents++] = f->text;
    } else {
        if (is_general(c)) {
            const char **general[NLU_FACT_SINGLE] = {&p->agency, &p->fee, &p->duration, &p->online};
            *general[kind] = f->text;
        }
        p->n_facts[kind]++;
    }
    return 0;
}

/* Appends a copy of v to list[*n] (at most max). */
static int add_line(const char **list, size_t *n, size_t max, const char *what, const char *v,
                    const nlu_data *d, char *err, size_t errlen) {
    if (*n == max) {
        nlu_data_err(d, err, errlen, "more than %zu '%s' lines", max, what);
        return -1;
    }
    if (!(list[*n] = strdup(v))) {
        nlu_data_err(d, err, errlen, "out of memory");
        return MC_ENOMEM;
    }
    (*n)++;
    return 0;
}

/* Checks the block that just ended; reports at the line of its header. */
static int check_block(const nlu_procedure *p, int header_line, const nlu_data *d, char *err,
                       size_t errlen) {
    nlu_data tmp = *d;
    tmp.lineno = header_line;
    for (size_t i = 0; i < MC_ARRAY_LEN(single_keys); i++)
        if (!*field((nlu_procedure *)p, i)) {
            nlu_data_err(&tmp, err, errlen, "[%s] is missing '%s'", p->id, single_keys[i].key);
            return -1;
        }
    if (p->n_source_urls == 0) {
        nlu_data_err(&tmp, err, errlen, "[%s] is missing 'source_url' (the page checked)", p->id);
        return -1;
    }
    const char *general[NLU_FACT_SINGLE] = {p->agency, p->fee, p->duration, p->online};
    for (int k = 0; k < NLU_FACT_SINGLE; k++)
        if (!general[k]) {
            nlu_data_err(&tmp, err, errlen, "[%s] is missing '%s' (the value without condition)",
                         p->id, fact_keys[k]);
            return -1;
        }
    if (p->n_documents == 0) {
        nlu_data_err(&tmp, err, errlen, "[%s] has no 'document'", p->id);
        return -1;
    }
    if (p->n_aliases == 0) {
        nlu_data_err(&tmp, err, errlen, "[%s] has no 'alias'", p->id);
        return -1;
    }
    return 0;
}

/* One "key = value" line of the block cur. */
static int add_kv(nlu_procedure *cur, vn_normalizer *vn, const nlu_line *l, const nlu_data *d,
                  char *err, size_t errlen) {
    char name[KEY_MAX];
    nlu_cond c;
    if (parse_key(l->key, name, sizeof(name), &c, d, err, errlen) != 0)
        return -1;
    for (int k = 0; k < NLU_FACT_KINDS; k++)
        if (strcmp(name, fact_keys[k]) == 0)
            return add_fact(cur, (nlu_fact_kind)k, &c, l->value, d, err, errlen);
    if (!is_general(&c)) {
        nlu_data_err(d, err, errlen, "'%s' takes no [conditions]", name);
        return -1;
    }
    for (size_t i = 0; i < MC_ARRAY_LEN(single_keys); i++) {
        if (strcmp(name, single_keys[i].key) != 0)
            continue;
        if (*field(cur, i)) {
            nlu_data_err(d, err, errlen, "duplicate key '%s' in [%s]", name, cur->id);
            return -1;
        }
        if (strcmp(name, "checked_on") == 0 &&
            nlu_day_parse(l->value, strlen(l->value), &cur->checked_day) != 0) {
            nlu_data_err(d, err, errlen, "checked_on must be a date YYYY-MM-DD");
            return -1;
        }
        if (!(*field(cur, i) = strdup(l->value))) {
            nlu_data_err(d, err, errlen, "out of memory");
            return MC_ENOMEM;
        }
        return 0;
    }
    if (strcmp(name, "source_url") == 0) {
        const char *v = l->value;
        if ((strncmp(v, "https://", 8) != 0 && strncmp(v, "http://", 7) != 0) ||
            strpbrk(v, " \t")) {
            nlu_data_err(d, err, errlen, "source_url must be one http(s):// address");
            return -1;
        }
        return add_line(cur->source_urls, &cur->n_source_urls, NLU_CAT_MAX_URLS, name, v, d, err,
                        errlen);
    }
    if (strcmp(name, "note") == 0)
        return add_line(cur->notes, &cur->n_notes, NLU_CAT_MAX_NOTES, name, l->value, d, err,
                        errlen);
    if (strcmp(name, "alias") == 0) {
        if (cur->n_aliases == NLU_CAT_MAX_ALIASES) {
            nlu_data_err(d, err, errlen, "more than %d aliases", NLU_CAT_MAX_ALIASES);
            return -1;
        }
        vn_text t;
        int rc = vn_normalize(vn, l->value, strlen(l->value), &t);
        if (rc != 0) {
            nlu_data_err(d, err, errlen, "alias: %s", mc_strerror(rc));
            return -1;
        }
        if (t.plain_len == 0) {
            vn_text_free(&t);
            nlu_data_err(d, err, errlen, "alias '%s' has no letters", l->value);
            return -1;
        }
        cur->aliases_plain[cur->n_aliases] = t.plain; /* ownership moves to the catalog */
        cur->alias_lines[cur->n_aliases] = d->lineno;
        free(t.folded);
        if (!(cur->aliases[cur->n_aliases] = strdup(l->value))) {
            free(t.plain);
            cur->aliases_plain[cur->n_aliases] = NULL;
            nlu_data_err(d, err, errlen, "out of memory");
            return MC_ENOMEM;
        }
        cur->n_aliases++;
        return 0;
    }
    nlu_data_err(d, err, errlen, "unknown key '%s'", name);
    return -1;
}

nlu_catalog *nlu_catalog_load(const char *path, char *err, size_t errlen) {
    return nlu_catalog_load_shared(path, NULL, err, errlen);
}

/* What nlu_catalog_load_shared keeps between lines. */
typedef struct cat_load {
    nlu_catalog *c;
    vn_normalizer *vn; /* normalizes the aliases */
    int header_line;   /* line of the last procedure's [id] */
} cat_load;

/* "[id]": checks the block before, opens the procedure's block. */
static int cat_section(void *priv, const nlu_data *d, const char *id, char *err, size_t errlen) {
    cat_load *s = priv;
    nlu_catalog *c = s->c;
    if (c->n && check_block(&c->procs[c->n - 1], s->header_line, d, err, errlen) != 0)
        return MC_EPARSE;
    if (!valid_id(id)) {
        nlu_data_err(d, err, errlen, "bad procedure id '%s' (use a-z, 0-9, _)", id);
        return MC_EPARSE;
    }
    if (nlu_catalog_get(c, id)) {
        nlu_data_err(d, err, errlen, "duplicate procedure id '%s'", id);
        return MC_EPARSE;
    }
    if (c->n == NLU_CAT_MAX_PROCEDURES) {
        nlu_data_err(d, err, errlen, "more than %d procedures", NLU_CAT_MAX_PROCEDURES);
        return MC_EPARSE;
    }
    if (!(c->procs[c->n].id = strdup(id))) {
        nlu_data_err(d, err, errlen, "out of memory");
        return MC_ENOMEM;
    }
    s->header_line = d->lineno;
    return (int)c->n++;
}

static int cat_kv(void *priv, const nlu_data *d, int sec, const nlu_line *l, char *err,
                  size_t errlen) {
    cat_load *s = priv;
    if (*l->value == '\0') {
        nlu_data_err(d, err, errlen, "empty value for '%s'", l->key);
        return MC_EPARSE;
    }
    return add_kv(&s->c->procs[sec], s->vn, l, d, err, errlen) != 0 ? MC_EPARSE : 0;
}

static int cat_end(void *priv, const nlu_data *d, char *err, size_t errlen) {
    const cat_load *s = priv;
    const nlu_catalog *c = s->c;
    if (c->n && check_block(&c->procs[c->n - 1], s->header_line, d, err, errlen) != 0)
        return MC_EPARSE;
    if (c->n == 0) {
        nlu_data_err(d, err, errlen, "no procedures defined");
        return MC_EPARSE;
    }
    return 0;
}

nlu_catalog *nlu_catalog_load_shared(const char *path, vn_normalizer *shared, char *err,
                                     size_t errlen) {
    static const nlu_data_hooks hooks = {cat_section, cat_kv, cat_end,
                                         "outside a [procedure] block"};
    vn_normalizer *own = NULL;
    cat_load s = {calloc(1, sizeof(nlu_catalog)), shared, 0};
    if (!s.vn)
        s.vn = own = vn_normalizer_new(err, errlen);
    if (!s.c || !s.vn || !(s.c->path = strdup(path))) {
        const nlu_data at = {.path = path};
        if (s.vn)
            nlu_data_err(&at, err, errlen, "out of memory");
        goto fail;
    }
    if (nlu_data_parse(path, &hooks, &s, err, errlen) != 0)
        goto fail;
    vn_normalizer_free(own);
    return s.c;
fail:
    nlu_catalog_free(s.c);
    vn_normalizer_free(own);
    return NULL;
}
