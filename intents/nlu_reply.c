/*
 * intents/nlu_reply.c — reply templates (intents/data/replies.txt): loading, checking,
 * and filling them for a classified message or for the gateway.
 *
 * Big idea: every word the assistant says is data. A template is text with {placeholders};
 * each template has a fixed set of placeholders it may use (a table below), so a typo in
 * replies.txt fails the start-up with its line instead of showing "{fe}" to a citizen.
 * Placeholders are filled from the procedure catalog (answers about a procedure) or from
 * key/value pairs (entities, and what the gateway looked up: dossier status, ticket).
 * A catalog fact is the value for the citizen's case (the day asked, the age, a foreign
 * element: nlu_fact_pick), with what it rests on ({basis}) and when it was checked; a
 * dated value that has ended without replacement is never quoted as current.
 * Quick replies are checked at start-up too: sent back, each must be understood.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mc.h"
#include "intents/nlu_data.h"
#include "intents/nlu_internal.h"
#include "vi-nlp/vn_utf8.h"

/* Placeholders any template may name; which one may use which is in tpl_spec. */
enum {
    P_NAME,
    P_AGENCY,
    P_FEE,
    P_DURATION,
    P_ONLINE,
    P_LEGAL,
    P_SOURCE,
    P_DOCUMENTS,
    P_ALIAS, /* the procedure's first alias, its short everyday name ("khai sinh") */
    P_CODE,
    P_WARD,
    P_CATEGORY,
    P_STATUS,
    P_UPDATED,
    P_TICKET,
    P_BASIS,   /* what the answered fact rests on (the papers' bases for [documents]) */
    P_CHECKED, /* the day the procedure was last checked, dd/mm/yyyy */
    P_UNTIL,   /* [fact_ended]: the last day of the value that ended, dd/mm/yyyy */
    P_TIME,    /* the gateway's: a time of day, "20:11" */
    P_DATE,    /* the gateway's: a date, "03/12/2026" */
    P_NOTE,    /* the gateway's: an officer's note */
    P_COUNT
};
static const char *const ph_names[P_COUNT] = {
    "name",      "agency", "fee",        "duration", "online",   "legal",  "source",
    "documents", "alias",  "code",       "ward",     "category", "status", "updated",
    "ticket",    "basis",  "checked_on", "until",    "time",     "date",   "note",
};
#define B(p) (1u << (p))
/* Everything the catalog knows about a procedure. */
#define CATALOG                                                                                    \
    (B(P_NAME) | B(P_AGENCY) | B(P_FEE) | B(P_DURATION) | B(P_ONLINE) | B(P_LEGAL) | B(P_SOURCE) | \
     B(P_DOCUMENTS) | B(P_ALIAS))
/* An answer about one fact also says what it rests on and when it was checked. */
#define ANSWER (CATALOG | B(P_BASIS) | B(P_CHECKED))
/* What a quick reply may name (it is rendered per procedure and checked for each; {code}
 * with NLU_SAMPLE_CODE). */
#define QUICK_OK (B(P_NAME) | B(P_ALIAS) | B(P_CODE))
/* The dossier code quick replies are checked with. */
#define NLU_SAMPLE_CODE "000.00.25.H29-231122-0001"

static const struct tpl_spec {
    const char *name; /* section of replies.txt */
    unsigned allowed; /* placeholders it may use */
} specs[NLU_T_COUNT] = {
    [NLU_T_DOCUMENTS] = {"documents", ANSWER},
    [NLU_T_FEE] = {"fee", ANSWER},
    [NLU_T_DURATION] = {"duration", ANSWER},
    [NLU_T_LOCATION] = {"location", ANSWER},
    [NLU_T_ONLINE] = {"online", ANSWER},
    [NLU_T_WHICH_DOCUMENTS] = {"which_documents", 0},
    [NLU_T_WHICH_FEE] = {"which_fee", 0},
    [NLU_T_WHICH_DURATION] = {"which_duration", 0},
    [NLU_T_WHICH_LOCATION] = {"which_location", 0},
    [NLU_T_WHICH_ONLINE] = {"which_online", 0},
    [NLU_T_CLARIFY] = {"clarify", CATALOG},
    [NLU_T_GREETING] = {"greeting", 0},
    [NLU_T_THANKS] = {"thanks", 0},
    [NLU_T_GOODBYE] = {"goodbye", 0},
    [NLU_T_FALLBACK] = {"fallback", 0},
    [NLU_T_OFFICE_HOURS] = {"office_hours", 0},
    [NLU_T_ASK_CODE] = {"ask_dossier_code", 0},
    [NLU_T_LOOKUP] = {"dossier_lookup", B(P_CODE)},
    [NLU_T_ASK_SUBSCRIBE] = {"ask_subscribe", 0},
    [NLU_T_SUBSCRIBE] = {"subscribe", B(P_CODE)},
    [NLU_T_SUBSCRIBE_WARD] = {"subscribe_ward", B(P_WARD)},
    [NLU_T_UNSUBSCRIBE] = {"unsubscribe", 0},
    [NLU_T_REPORT] = {"report", B(P_CATEGORY) | B(P_WARD)},
    [NLU_T_HANDOFF_REQ] = {"handoff_request", 0},
    [NLU_T_DOSSIER_STATUS] = {"dossier_status",
                              B(P_CODE) | B(P_STATUS) | B(P_UPDATED) | B(P_AGENCY)},
    [NLU_T_DOSSIER_NOT_FOUND] = {"dossier_not_found", B(P_CODE)},
    [NLU_T_SUBSCRIBED] = {"subscribed", B(P_CODE)},
    [NLU_T_SUBSCRIBED_WARD] = {"subscribed_ward", B(P_WARD)},
    [NLU_T_UNSUBSCRIBED] = {"unsubscribed", 0},
    [NLU_T_REPORT_RECEIVED] = {"report_received", B(P_TICKET) | B(P_CATEGORY)},
    [NLU_T_HANDOFF] = {"handoff", 0},
    [NLU_T_UNSUPPORTED] = {"unsupported", 0},
    [NLU_T_SUBSCRIBE_ELSEWHERE] = {"subscribe_elsewhere", 0},
    [NLU_T_FACT_ENDED] = {"fact_ended", B(P_UNTIL)},
    [NLU_T_NOT_PUBLIC] = {"not_public", 0},
    [NLU_T_LOOKUP_SUBSCRIBE] = {"dossier_lookup_subscribe", B(P_CODE)},
    [NLU_T_LOCATION_WARD] = {"location_ward", ANSWER | B(P_WARD)},
    [NLU_T_LOCATION_WARD_POLICE] = {"location_ward_police", ANSWER | B(P_WARD)},
    [NLU_T_LOCATION_NOT_WARD] = {"location_not_ward", ANSWER | B(P_WARD)},
    [NLU_T_REPORT_ASK_PLACE] = {"report_ask_place", B(P_CATEGORY)},
    [NLU_T_REPORT_LOOKUP] = {"report_lookup", B(P_TICKET)},
    [NLU_T_REPORT_ADDED] = {"report_added", B(P_TICKET)},
    [NLU_T_REPORT_ASK_WARD] = {"report_ask_ward", 0},
    [NLU_T_REPORT_ROUTED] = {"report_routed", B(P_AGENCY)},
    [NLU_T_REPORT_WILL_NOTIFY] = {"report_will_notify", 0},
    [NLU_T_REPORT_STATUS] = {"report_status", B(P_TICKET) | B(P_STATUS) | B(P_CATEGORY)},
    [NLU_T_REPORT_NOT_FOUND] = {"report_not_found", B(P_TICKET)},
    [NLU_T_STATUS_PROCEDURE] = {"status_procedure", B(P_NAME)},
    [NLU_T_STATUS_UPDATED] = {"status_updated", B(P_TIME) | B(P_DATE)},
    [NLU_T_STATUS_AGENCY] = {"status_agency", B(P_AGENCY)},
    [NLU_T_STATUS_NOTE] = {"status_note", B(P_NOTE)},
    [NLU_T_STATUS_NOTE_PRIVATE] = {"status_note_private", 0},
};

/* The fact each procedure answer is about, for {basis}; -1 for the other templates. */
static int answer_fact(int t) {
    switch (t) {
    case NLU_T_DOCUMENTS: return NLU_FACT_DOCUMENT;
    case NLU_T_FEE: return NLU_FACT_FEE;
    case NLU_T_DURATION: return NLU_FACT_DURATION;
    case NLU_T_LOCATION:
    case NLU_T_LOCATION_WARD:
    case NLU_T_LOCATION_WARD_POLICE:
    case NLU_T_LOCATION_NOT_WARD: return NLU_FACT_AGENCY;
    case NLU_T_ONLINE: return NLU_FACT_ONLINE;
    }
    return -1;
}

/* ---- growing output buffer ------------------------------------------------------------ */

typedef struct sbuf {
    char *p;    /* owned, NUL-terminated once anything was added */
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

/* ---- filling -------------------------------------------------------------------------- */

/* Where placeholder values come from: key/value pairs first, then the procedure. */
typedef struct fill {
    const nlu_procedure *p;  /* NULL: no catalog values */
    const char *const *keys; /* n names of ph_names */
    const char *const *vals; /* n values, UTF-8 */
    size_t n;                /* pairs */
    const nlu_case *kase;    /* the citizen's case; NULL: the general values */
    int fact;                /* the fact answered (NLU_FACT_*), -1 none: for {basis} */
    const nlu_tpl *ended;    /* [fact_ended], said before a value that may be out of date */
} fill;

static int render(const char *tp, const fill *f, sbuf *b);

static int ph_index(const char *s, size_t n) {
    for (int i = 0; i < P_COUNT; i++)
        if (strlen(ph_names[i]) == n && memcmp(s, ph_names[i], n) == 0)
            return i;
    return -1;
}

/* Appends the value of single-valued fact kind for the case; a value kept only because a
 * dated one ended unreplaced is introduced by [fact_ended]. */
static int put_fact(sbuf *b, nlu_fact_kind kind, const fill *f) {
    int32_t ended;
    const nlu_fact *v = nlu_fact_pick(f->p, kind, f->kase, &ended);
    if (!v)
        return MC_EINVAL;
    if (ended != NLU_DAY_NONE && f->ended) {
        char day[NLU_DAY_TEXT];
        const char *key = ph_names[P_UNTIL], *val = nlu_day_format(ended, day, sizeof(day));
        fill e = {NULL, &key, &val, 1, NULL, -1, NULL};
        int rc = render(f->ended->text, &e, b);
        if (rc == 0)
            rc = sb_str(b, " ");
        if (rc)
            return rc;
    }
    return sb_str(b, v->text);
}

/* 1 when the "; "-separated list list[0..n) holds the item s[0..sn). */
static int list_has(const char *list, size_t n, const char *s, size_t sn) {
    const char *end = list + n;
    while (list < end) {
        const char *sep = strstr(list, "; ");
        const char *e = sep && sep < end ? sep : end;
        if ((size_t)(e - list) == sn && memcmp(list, s, sn) == 0)
            return 1;
        list = e + 2;
    }
    return 0;
}

/* Appends the bases of the papers listed for the case, each legal text once (a basis may
 * itself be a "; "-separated list). */
static int put_doc_bases(sbuf *b, const fill *f) {
    const nlu_procedure *p = f->p;
    size_t start = b->len;
    for (size_t i = 0; i < p->n_documents; i++) {
        if (!nlu_doc_shown(&p->docs[i], f->kase))
            continue;
        for (const char *s = p->docs[i].basis; *s;) {
            const char *sep = strstr(s, "; ");
            size_t n = sep ? (size_t)(sep - s) : strlen(s);
            if (!(b->len > start && list_has(b->p + start, b->len - start, s, n))) {
                if ((b->len > start && sb_str(b, "; ")) || sb_add(b, s, n))
                    return MC_ENOMEM;
            }
            s += n + (sep ? 2 : 0);
        }
    }
    return 0;
}

static int put(sbuf *b, int ph, const fill *f) {
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->keys[i], ph_names[ph]) == 0)
            return sb_str(b, f->vals[i] ? f->vals[i] : "");
    const nlu_procedure *p = f->p;
    if (!p)
        return MC_EINVAL;
    char day[NLU_DAY_TEXT];
    switch (ph) {
    case P_NAME: return sb_str(b, p->name);
    case P_AGENCY: return put_fact(b, NLU_FACT_AGENCY, f);
    case P_FEE: return put_fact(b, NLU_FACT_FEE, f);
    case P_DURATION: return put_fact(b, NLU_FACT_DURATION, f);
    case P_ONLINE: return put_fact(b, NLU_FACT_ONLINE, f);
    case P_LEGAL: return sb_str(b, p->legal);
    case P_SOURCE: return sb_str(b, p->source);
    case P_ALIAS: return sb_str(b, p->aliases[0]);
    case P_CHECKED: return sb_str(b, nlu_day_format(p->checked_day, day, sizeof(day)));
    case P_BASIS:
        if (f->fact == NLU_FACT_DOCUMENT)
            return put_doc_bases(b, f);
        if (f->fact >= 0 && f->fact < NLU_FACT_SINGLE) {
            const nlu_fact *v = nlu_fact_pick(p, (nlu_fact_kind)f->fact, f->kase, NULL);
            return v ? sb_str(b, v->basis) : MC_EINVAL;
        }
        return MC_EINVAL;
    case P_DOCUMENTS: {
        size_t k = 0;
        for (size_t i = 0; i < p->n_documents; i++) {
            if (!nlu_doc_shown(&p->docs[i], f->kase))
                continue;
            char num[32];
            snprintf(num, sizeof(num), "%s%zu. ", k ? "\n" : "", k + 1);
            k++;
            if (sb_str(b, num) || sb_str(b, p->docs[i].text))
                return MC_ENOMEM;
        }
        return 0;
    }
    }
    return MC_EINVAL;
}

/* Appends template tp with its placeholders filled; MC_EINVAL when one has no value.
 * Templates were checked at load, so every {name} is known and closed. */
static int render(const char *tp, const fill *f, sbuf *b) {
    const char *s = tp;
    for (;;) {
        const char *open = strchr(s, '{');
        if (!open)
            break;
        const char *close = strchr(open, '}');
        int ph = close ? ph_index(open + 1, (size_t)(close - open - 1)) : -1;
        if (ph < 0)
            return MC_EINVAL;
        int rc = sb_add(b, s, (size_t)(open - s));
        if (rc == 0)
            rc = put(b, ph, f);
        if (rc)
            return rc;
        s = close + 1;
    }
    return sb_str(b, s);
}

/* Renders tpl t (text and quick replies) into *out. */
static int render_tpl(const nlu_tpl *t, const fill *f, nlu_reply *out) {
    sbuf b = {0};
    int rc = render(t->text, f, &b);
    if (rc)
        goto fail;
    out->text = b.p;
    out->text_len = b.len;
    b = (sbuf){0};
    for (size_t i = 0; i < t->n_quick; i++) {
        sbuf tb = {0}, pb = {0};
        rc = render(t->title[i], f, &tb);
        if (rc == 0)
            rc = render(t->payload[i], f, &pb);
        out->quick[i].title = tb.p;
        out->quick[i].payload = pb.p;
        out->n_quick = i + 1;
        if (rc)
            goto fail;
    }
    return 0;
fail:
    free(b.p);
    nlu_reply_free(out);
    return rc;
}

void nlu_reply_free(nlu_reply *r) {
    if (!r)
        return;
    free(r->text);
    for (size_t i = 0; i < r->n_quick && i < NLU_MAX_QUICK; i++) {
        free(r->quick[i].title);
        free(r->quick[i].payload);
    }
    memset(r, 0, sizeof(*r));
}

int nlu_compose(nlu_engine *e, const nlu_result *r, int64_t now_ms, nlu_reply *out,
                const char **pending) {
    const char *keys[4], *vals[4];
    nlu_case kase = {nlu_day_of_ms(now_ms), r->age, r->foreign};
    fill f = {NULL, keys, vals, 0, &kase, -1, &e->tpl[NLU_T_FACT_ENDED]};
    int t;
    nlu_action act = NLU_ACT_NONE;
    *pending = "";
    memset(out, 0, sizeof(*out));
    int i = nlu_intent_index(r->intent);
    const nlu_procedure *p = r->procedure ? nlu_catalog_get(e->cat, r->procedure) : NULL;
    if (r->dossier_code[0]) {
        keys[f.n] = "code";
        vals[f.n++] = r->dossier_code;
    }
    if (r->ward_name) {
        keys[f.n] = "ward";
        vals[f.n++] = r->ward_name;
    }
    if (r->report_ticket[0]) {
        keys[f.n] = "ticket";
        vals[f.n++] = r->report_ticket;
    }
    if (r->issue_category) {
        int c = NLU_ISSUE_KHAC;
        for (int k = 0; k < NLU_N_ISSUES; k++)
            if (strcmp(r->issue_category, nlu_issue_ids[k]) == 0)
                c = k;
        keys[f.n] = "category";
        vals[f.n++] = e->issue_name[c];
    }
    switch (i) {
    case NLU_I_DOCUMENTS:
    case NLU_I_FEE:
    case NLU_I_DURATION:
    case NLU_I_LOCATION:
    case NLU_I_ONLINE:
        if (p && r->clarify) {
            t = NLU_T_CLARIFY;
        } else if (p && i == NLU_I_LOCATION && r->ward_name) {
            /* Where to file, at the ward the citizen named (issue 17). */
            static const int by_desk[NLU_N_DESKS] = {
                [NLU_DESK_NONE] = NLU_T_LOCATION_NOT_WARD,
                [NLU_DESK_WARD] = NLU_T_LOCATION_WARD,
                [NLU_DESK_POLICE] = NLU_T_LOCATION_WARD_POLICE,
                [NLU_DESK_CATALOG] = NLU_T_LOCATION, /* the catalog says which wards */
            };
            size_t k = 0;
            while (k < nlu_catalog_count(e->cat) && nlu_catalog_at(e->cat, k) != p)
                k++;
            t = by_desk[k < nlu_catalog_count(e->cat) ? e->ward_desk[k] : NLU_DESK_NONE];
        } else if (p) {
            t = NLU_T_DOCUMENTS + (i - NLU_I_DOCUMENTS);
        } else {
            t = NLU_T_WHICH_DOCUMENTS + (i - NLU_I_DOCUMENTS);
            *pending = "procedure";
        }
        f.p = p;
        break;
    case NLU_I_STATUS:
        if (r->report_ticket[0] && !r->dossier_code[0]) {
            t = NLU_T_REPORT_LOOKUP;
            act = NLU_ACT_REPORT_STATUS;
            break;
        }
        t = r->dossier_code[0] ? (r->also ? NLU_T_LOOKUP_SUBSCRIBE : NLU_T_LOOKUP) : NLU_T_ASK_CODE;
        if (r->dossier_code[0])
            act = NLU_ACT_DOSSIER_STATUS;
        else
            *pending = "dossier_code";
        break;
    case NLU_I_SUBSCRIBE:
        if (r->dossier_code[0]) {
            t = NLU_T_SUBSCRIBE;
            act = NLU_ACT_SUBSCRIBE;
        } else if (r->ward_id) {
            t = NLU_T_SUBSCRIBE_WARD;
            act = NLU_ACT_SUBSCRIBE;
        } else {
            t = NLU_T_ASK_SUBSCRIBE;
            *pending = "ward"; /* either a ward or a dossier code answers it */
        }
        break;
    case NLU_I_UNSUBSCRIBE:
        t = NLU_T_UNSUBSCRIBE;
        act = NLU_ACT_UNSUBSCRIBE;
        break;
    case NLU_I_REPORT:
        /* Where the problem is decides who handles it: without a ward, ask. */
        t = r->ward_id ? NLU_T_REPORT : NLU_T_REPORT_ASK_PLACE;
        if (!r->ward_id)
            *pending = "place";
        act = NLU_ACT_REPORT;
        break;
    case NLU_I_HOURS: t = NLU_T_OFFICE_HOURS; break;
    case NLU_I_HANDOFF:
        t = NLU_T_HANDOFF_REQ;
        act = NLU_ACT_HANDOFF;
        break;
    case NLU_I_GREETING: t = NLU_T_GREETING; break;
    case NLU_I_THANKS: t = NLU_T_THANKS; break;
    case NLU_I_GOODBYE: t = NLU_T_GOODBYE; break;
    default: t = r->not_public ? NLU_T_NOT_PUBLIC : NLU_T_FALLBACK; break;
    }
    f.fact = answer_fact(t);
    int rc = render_tpl(&e->tpl[t], &f, out);
    if (rc)
        return rc;
    out->action = act;
    out->resolved = *r;
    return 0;
}

int nlu_render(nlu_engine *e, const char *name, const char *const *keys, const char *const *values,
               size_t n, nlu_reply *out) {
    if (!out)
        return MC_EINVAL;
    memset(out, 0, sizeof(*out));
    if (!e || !name || (n && (!keys || !values)))
        return MC_EINVAL;
    int t = -1;
    for (int i = 0; i < NLU_T_COUNT; i++)
        if (strcmp(name, specs[i].name) == 0)
            t = i;
    if (t < 0)
        return MC_ENOTFOUND;
    for (size_t i = 0; i < n; i++) {
        int ph = keys[i] ? ph_index(keys[i], strlen(keys[i])) : -1;
        if (ph < 0 || !(specs[t].allowed & B(ph)) || !values[i] ||
            !vn_utf8_valid(values[i], strlen(values[i]), NULL))
            return MC_EINVAL;
    }
    fill f = {NULL, keys, values, n, NULL, -1, NULL};
    return render_tpl(&e->tpl[t], &f, out);
}

/* ---- loading -------------------------------------------------------------------------- */

/* Checks that every {placeholder} of s is known and in allowed. */
static int check_placeholders(const char *s, unsigned allowed, const nlu_data *d, char *err,
                              size_t errlen) {
    for (const char *o = strchr(s, '{'); o; o = strchr(o + 1, '{')) {
        const char *c = strchr(o + 1, '}');
        int ph = c ? ph_index(o + 1, (size_t)(c - o - 1)) : -1;
        if (ph < 0) {
            nlu_data_err(d, err, errlen, "unknown placeholder at '%.40s'", o);
            return -1;
        }
        if (!(allowed & B(ph))) {
            nlu_data_err(d, err, errlen, "{%s} cannot be used here", ph_names[ph]);
            return -1;
        }
    }
    return 0;
}

static int add_text(nlu_tpl *t, const char *v, const nlu_data *d, char *err, size_t errlen) {
    /* Repeated text lines are joined with '\n'; a lone "\" is an empty line. */
    if (strcmp(v, "\\") == 0)
        v = "";
    size_t old = t->text ? strlen(t->text) : 0, add = strlen(v);
    if (old + add + 2 > NLU_MAX_TEMPLATE) {
        nlu_data_err(d, err, errlen, "reply longer than %d bytes", NLU_MAX_TEMPLATE);
        return MC_ETOOBIG;
    }
    char *np = realloc(t->text, old + add + 2);
    if (!np) {
        nlu_data_err(d, err, errlen, "out of memory");
        return MC_ENOMEM;
    }
    if (old)
        np[old++] = '\n';
    memcpy(np + old, v, add + 1);
    t->text = np;
    return 0;
}

static int add_quick(nlu_tpl *t, unsigned allowed, const char *v, const nlu_data *d, char *err,
                     size_t errlen) {
    const char *bar = strchr(v, '|');
    if (!bar) {
        nlu_data_err(d, err, errlen, "quick reply must be 'title | payload'");
        return MC_EPARSE;
    }
    const char *te = bar, *ps = bar + 1;
    while (te > v && te[-1] == ' ')
        te--;
    while (*ps == ' ')
        ps++;
    size_t tl = (size_t)(te - v);
    int has_ph = memchr(v, '{', tl) != NULL;
    if (tl == 0 || *ps == '\0' || (!has_ph && vn_utf8_count(v, tl) > NLU_MAX_QUICK_TITLE)) {
        nlu_data_err(d, err, errlen,
                     "quick reply title must be 1..%d characters and the payload non-empty",
                     NLU_MAX_QUICK_TITLE);
        return MC_EPARSE;
    }
    if (t->n_quick == NLU_MAX_QUICK) {
        nlu_data_err(d, err, errlen, "more than %d quick replies", NLU_MAX_QUICK);
        return MC_EPARSE;
    }
    char *title = strndup(v, tl), *payload = strdup(ps);
    if (!title || !payload) {
        free(title);
        free(payload);
        nlu_data_err(d, err, errlen, "out of memory");
        return MC_ENOMEM;
    }
    t->title[t->n_quick] = title;
    t->payload[t->n_quick] = payload;
    t->line[t->n_quick] = d->lineno;
    t->n_quick++;
    if (check_placeholders(title, allowed & QUICK_OK, d, err, errlen) != 0 ||
        check_placeholders(payload, allowed & QUICK_OK, d, err, errlen) != 0)
        return MC_EPARSE;
    return 0;
}

static int replies_section(void *priv, const nlu_data *d, const char *name, char *err,
                           size_t errlen) {
    const nlu_engine *e = priv;
    int i = 0;
    while (i < NLU_T_COUNT && strcmp(name, specs[i].name) != 0)
        i++;
    if (i == NLU_T_COUNT || e->tpl[i].text) {
        nlu_data_err(d, err, errlen, "%s reply '%s'", i == NLU_T_COUNT ? "unknown" : "duplicate",
                     name);
        return MC_EPARSE;
    }
    return i;
}

static int replies_kv(void *priv, const nlu_data *d, int cur, const nlu_line *l, char *err,
                      size_t errlen) {
    nlu_engine *e = priv;
    nlu_tpl *t = &e->tpl[cur];
    if (strcmp(l->key, "text") == 0)
        return check_placeholders(l->value, specs[cur].allowed, d, err, errlen) != 0
                   ? MC_EPARSE
                   : add_text(t, l->value, d, err, errlen);
    if (strcmp(l->key, "quick") == 0)
        return add_quick(t, specs[cur].allowed, l->value, d, err, errlen);
    nlu_data_err(d, err, errlen, "unknown key '%s' (text or quick)", l->key);
    return MC_EPARSE;
}

static int replies_end(void *priv, const nlu_data *d, char *err, size_t errlen) {
    const nlu_engine *e = priv;
    for (int i = 0; i < NLU_T_COUNT; i++)
        if (!e->tpl[i].text) {
            nlu_data_err(d, err, errlen, "missing reply [%s] (with at least one 'text')",
                         specs[i].name);
            return MC_EPARSE;
        }
    return 0;
}

int nlu_replies_load(nlu_engine *e, const char *path, char *err, size_t errlen) {
    static const nlu_data_hooks hooks = {replies_section, replies_kv, replies_end,
                                         "outside a [reply] section"};
    return nlu_data_parse(path, &hooks, e, err, errlen);
}

/* Checks one rendered quick reply: short title, payload understood (and, rendered for a
 * procedure, understood as being about that procedure). */
static int check_one(nlu_engine *e, const nlu_tpl *t, size_t q, const nlu_procedure *p, char *err,
                     size_t errlen) {
    static const char *const keys[] = {"code"}, *const vals[] = {NLU_SAMPLE_CODE};
    fill f = {p, keys, vals, 1, NULL, -1, NULL};
    sbuf tb = {0}, pb = {0};
    nlu_result r;
    int rc = render(t->title[q], &f, &tb);
    if (rc == 0)
        rc = render(t->payload[q], &f, &pb);
    if (rc) {
        free(tb.p);
        free(pb.p);
        if (err && errlen)
            snprintf(err, errlen, "%s:%d: cannot render quick reply", e->replies_path, t->line[q]);
        return rc;
    }
    const char *why = NULL;
    if (vn_utf8_count(tb.p, tb.len) > NLU_MAX_QUICK_TITLE)
        why = "has a title longer than 20 characters";
    else if (nlu_classify(e, pb.p, pb.len, &r) != 0 || strcmp(r.intent, "out_of_scope") == 0)
        why = "is not understood";
    else if (p && (!r.procedure || strcmp(r.procedure, p->id) != 0))
        why = "is not understood as being about its procedure";
    if (why && err && errlen)
        snprintf(err, errlen, "%s:%d: quick reply '%s' -> '%s'%s%s %s", e->replies_path, t->line[q],
                 tb.p, pb.p, p ? " for " : "", p ? p->id : "", why);
    free(tb.p);
    free(pb.p);
    return why ? MC_EPARSE : 0;
}

int nlu_replies_check(nlu_engine *e, char *err, size_t errlen) {
    for (int i = 0; i < NLU_T_COUNT; i++) {
        const nlu_tpl *t = &e->tpl[i];
        for (size_t q = 0; q < t->n_quick; q++) {
            int per_proc = strstr(t->title[q], "{name}") || strstr(t->title[q], "{alias}") ||
                           strstr(t->payload[q], "{name}") || strstr(t->payload[q], "{alias}");
            size_t n = per_proc ? nlu_catalog_count(e->cat) : 1;
            for (size_t k = 0; k < n; k++) {
                int rc =
                    check_one(e, t, q, per_proc ? nlu_catalog_at(e->cat, k) : NULL, err, errlen);
                if (rc)
                    return rc;
            }
        }
    }
    return 0;
}

void nlu_replies_free(nlu_engine *e) {
    for (int i = 0; i < NLU_T_COUNT; i++) {
        free(e->tpl[i].text);
        for (size_t q = 0; q < e->tpl[i].n_quick; q++) {
            free(e->tpl[i].title[q]);
            free(e->tpl[i].payload[q]);
        }
        memset(&e->tpl[i], 0, sizeof(e->tpl[i]));
    }
}
