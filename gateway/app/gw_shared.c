/*
 * gw_shared.c — one copy of the data that the API, the console, the conversations
 * and the understanding engine all read (see gw_shared.h). Before, the API and the
 * console each read wards.csv and the catalog again, with loaders of their own that
 * could drift from the engine's. The departments and the report statuses are read
 * here too, once, because both the conversation turn (filing a report, answering its
 * status) and the department API (its events) need them.
 */
#define _GNU_SOURCE /* qsort_r */
#include "gateway/app/gw_shared.h"

#include "core/mc.h"
#include "core/mc_mem.h"
#include "intents/nlu_catalog.h"
#include "vi-nlp/vn_entity.h"
#include "vi-nlp/vn_utf8.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unicode/ucol.h>

#define LINE_MAX_BYTES 2048    /* longest line of the two files read here */
#define DEPT_MAX_AREAS 256     /* wards one department lists */
#define REPORT_STATUSES_MAX 16 /* statuses of a report */
#define REPORT_WORDING_MAX 400 /* a status wording or an event template, bytes */
#define WHY_MAX 256            /* the reason of a bad line */

typedef struct dept {
    char id[GW_DEPT_ID_MAX + 1];       /* as the tokens file names it */
    char name[GW_DEPT_NAME_MAX + 1];   /* "Ủy ban nhân dân phường Bến Thành" */
    bool all_areas;                    /* areas = * */
    const char *areas[DEPT_MAX_AREAS]; /* ward ids, borrowed from the ward table */
    size_t n_areas;                    /* used entries */
    unsigned reports;                  /* bit i: takes reports of nlu_issue_id(i) */
} dept;

typedef struct report_status {
    char id[GW_REPORT_STATUS_MAX];     /* "in_progress" */
    char text[REPORT_WORDING_MAX + 1]; /* what a citizen reads */
    bool final;                        /* it closes the report */
} report_status;

struct gw_shared {
    const nlu_engine *e;                         /* borrowed */
    UCollator *coll;                             /* Vietnamese collation, owned */
    gw_ward *wards;                              /* sorted, owned array of borrowed strings */
    size_t n_wards;                              /* entries */
    const nlu_catalog *cat;                      /* borrowed from the engine */
    dept *depts;                                 /* owned, n_depts entries */
    size_t n_depts;                              /* used entries */
    report_status rs[REPORT_STATUSES_MAX];       /* report statuses, file order */
    size_t n_rs;                                 /* used entries */
    char tpl_event[REPORT_WORDING_MAX + 1];      /* template report_event */
    char tpl_event_note[REPORT_WORDING_MAX + 1]; /* template report_event_note */
};

static int cmp_wards(const void *a, const void *b, void *priv) {
    const gw_ward *x = a, *y = b;
    int c = gw_shared_collate(priv, x->name, y->name);
    return c ? c : strcmp(x->id, y->id);
}

gw_shared *gw_shared_new(const nlu_engine *e, char *err, size_t errlen) {
    gw_shared *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->e = e;
    s->cat = nlu_engine_catalog(e);
    UErrorCode st = U_ZERO_ERROR;
    s->coll = ucol_open("vi", &st);
    if (U_FAILURE(st) || !s->coll) {
        snprintf(err, errlen, "ICU: no Vietnamese collation (%s)", u_errorName(st));
        goto fail;
    }
    const vn_extractor *x = nlu_engine_extractor(e);
    size_t n = vn_ward_count(x);
    s->wards = calloc(n ? n : 1, sizeof *s->wards);
    if (!s->wards) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n; i++)
        s->wards[i] =
            (gw_ward){vn_ward_id(x, (int)i), vn_ward_name(x, (int)i), vn_ward_slug(x, (int)i)};
    s->n_wards = n;
    qsort_r(s->wards, n, sizeof *s->wards, cmp_wards, s);
    return s;
fail:
    gw_shared_free(s);
    return NULL;
}

void gw_shared_free(gw_shared *s) {
    if (!s)
        return;
    if (s->coll)
        ucol_close(s->coll);
    MC_FREE_ALL(s->wards, s->depts, s);
}

size_t gw_shared_ward_count(const gw_shared *s) {
    return s->n_wards;
}

const gw_ward *gw_shared_ward_at(const gw_shared *s, size_t i) {
    return i < s->n_wards ? &s->wards[i] : NULL;
}

const gw_ward *gw_shared_ward_find(const gw_shared *s, const char *key) {
    for (size_t i = 0; key && i < s->n_wards; i++)
        if (!strcmp(s->wards[i].id, key) || !strcmp(s->wards[i].slug, key))
            return &s->wards[i];
    return NULL;
}

size_t gw_shared_procedure_count(const gw_shared *s) {
    return nlu_catalog_count(s->cat);
}

const char *gw_shared_procedure_id(const gw_shared *s, size_t i) {
    const nlu_procedure *p = nlu_catalog_at(s->cat, i);
    return p ? p->id : NULL;
}

const char *gw_shared_procedure_name(const gw_shared *s, size_t i) {
    const nlu_procedure *p = nlu_catalog_at(s->cat, i);
    return p ? p->name : NULL;
}

int gw_shared_procedure_ok(const gw_shared *s, const char *id) {
    return id && nlu_catalog_get(s->cat, id) != NULL;
}

int gw_shared_collate(const gw_shared *s, const char *a, const char *b) {
    UErrorCode st = U_ZERO_ERROR;
    int c = (int)ucol_strcollUTF8(s->coll, a, -1, b, -1, &st);
    return U_FAILURE(st) ? strcmp(a, b) : c;
}

const char *gw_shared_procedure_name_of(const gw_shared *s, const char *id) {
    const nlu_procedure *p = id ? nlu_catalog_get(s->cat, id) : NULL;
    return p ? p->name : NULL;
}

const char *gw_shared_issue_name(const gw_shared *s, const char *id) {
    return nlu_engine_issue_name(s->e, id);
}

int gw_shared_issue_ok(const gw_shared *s, const char *id) {
    return gw_shared_issue_name(s, id) != NULL;
}

/* ---- the two files ---- */

/* One line of a file, trimmed and NUL-terminated; 0, or MC_EPARSE with why. */
typedef int line_fn(gw_shared *s, char *line, char *why, size_t wn);

static void trim(char **p, size_t *n) {
    while (*n && isspace((unsigned char)**p))
        (*p)++, (*n)--;
    while (*n && isspace((unsigned char)(*p)[*n - 1]))
        (*n)--;
}

/* Reads path line by line, skipping blanks and # comments. 0 or MC_E* with err. */
static int read_lines(gw_shared *s, const char *path, line_fn *fn, char *err, size_t errlen) {
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return MC_EIO;
    }
    char buf[LINE_MAX_BYTES + 2], why[WHY_MAX];
    int lineno = 0, rc = 0;
    while (fgets(buf, sizeof buf, f)) {
        lineno++;
        size_t n = strlen(buf);
        if (n && buf[n - 1] != '\n' && !feof(f)) {
            snprintf(err, errlen, "%s:%d: line longer than %d bytes", path, lineno, LINE_MAX_BYTES);
            rc = MC_EPARSE;
            break;
        }
        char *p = buf;
        trim(&p, &n);
        p[n] = '\0';
        if (!n || *p == '#')
            continue;
        why[0] = '\0';
        if (!vn_utf8_valid(p, n, NULL))
            snprintf(why, sizeof why, "not valid UTF-8");
        else if (!fn(s, p, why, sizeof why))
            continue;
        snprintf(err, errlen, "%s:%d: %s", path, lineno, why);
        rc = MC_EPARSE;
        break;
    }
    fclose(f);
    return rc;
}

/* "key = value" → key and value, trimmed, in place; MC_EPARSE when no '='. */
static int split_kv(char *line, char **key, char **val) {
    char *eq = strchr(line, '=');
    if (!eq)
        return MC_EPARSE;
    *eq = '\0';
    size_t kn = strlen(line), vn = strlen(eq + 1);
    *key = line;
    *val = eq + 1;
    trim(key, &kn);
    trim(val, &vn);
    (*key)[kn] = '\0';
    (*val)[vn] = '\0';
    return 0;
}

static bool dept_id_ok(const char *s, size_t n) {
    if (n == 0 || n > GW_DEPT_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
              s[i] == '-' || s[i] == '.'))
            return false;
    return true;
}

/* The comma-separated items of v, each trimmed, to fn; stops at the first refusal. */
static int each_item(gw_shared *s, dept *d, char *v,
                     int (*fn)(gw_shared *, dept *, const char *, char *, size_t), char *why,
                     size_t wn) {
    for (char *p = v; p;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        size_t n = strlen(p);
        trim(&p, &n);
        p[n] = '\0';
        if (!n) {
            snprintf(why, wn, "an empty item in a list");
            return MC_EPARSE;
        }
        if (fn(s, d, p, why, wn))
            return MC_EPARSE;
        p = comma ? comma + 1 : NULL;
    }
    return 0;
}

static int add_area(gw_shared *s, dept *d, const char *item, char *why, size_t wn) {
    if (!strcmp(item, "*")) {
        d->all_areas = true;
        return 0;
    }
    const gw_ward *w = gw_shared_ward_find(s, item);
    if (!w) {
        snprintf(why, wn, "unknown ward \"%s\" (an id or slug of wards.csv, or *)", item);
        return MC_EPARSE;
    }
    if (d->n_areas == DEPT_MAX_AREAS) {
        snprintf(why, wn, "more than %d wards", DEPT_MAX_AREAS);
        return MC_EPARSE;
    }
    d->areas[d->n_areas++] = w->id;
    return 0;
}

static int add_category(gw_shared *s, dept *d, const char *item, char *why, size_t wn) {
    (void)s;
    if (!strcmp(item, "*")) {
        d->reports = ~0u;
        return 0;
    }
    for (size_t i = 0; i < nlu_issue_count(); i++)
        if (!strcmp(item, nlu_issue_id(i))) {
            d->reports |= 1u << i;
            return 0;
        }
    snprintf(why, wn, "unknown report category \"%s\" (issue_category of intents.md, or *)", item);
    return MC_EPARSE;
}

static const dept *dept_find(const gw_shared *s, const char *id);

static int dept_line(gw_shared *s, char *line, char *why, size_t wn) {
    size_t n = strlen(line);
    if (*line == '[') {
        if (line[n - 1] != ']' || !dept_id_ok(line + 1, n - 2)) {
            snprintf(why, wn, "want [<department id>]: a-z, 0-9, _, - and ., at most %d bytes",
                     GW_DEPT_ID_MAX);
            return MC_EPARSE;
        }
        line[n - 1] = '\0';
        if (dept_find(s, line + 1)) {
            snprintf(why, wn, "department %s listed twice", line + 1);
            return MC_EPARSE;
        }
        if (s->n_depts && !*s->depts[s->n_depts - 1].name) {
            snprintf(why, wn, "department %s has no name", s->depts[s->n_depts - 1].id);
            return MC_EPARSE;
        }
        if (s->n_depts == GW_DEPTS_MAX) {
            snprintf(why, wn, "more than %d departments", GW_DEPTS_MAX);
            return MC_EPARSE;
        }
        dept *d = &s->depts[s->n_depts++];
        memset(d, 0, sizeof *d);
        snprintf(d->id, sizeof d->id, "%s", line + 1);
        return 0;
    }
    char *k, *v;
    if (!s->n_depts) {
        snprintf(why, wn, "a line outside a [<department id>] section");
        return MC_EPARSE;
    }
    if (split_kv(line, &k, &v) || !*v) {
        snprintf(why, wn, "want key = value (name, areas, reports)");
        return MC_EPARSE;
    }
    dept *d = &s->depts[s->n_depts - 1];
    if (!strcmp(k, "name")) {
        if (*d->name || strlen(v) > GW_DEPT_NAME_MAX) {
            snprintf(why, wn, "one name of at most %d bytes", GW_DEPT_NAME_MAX);
            return MC_EPARSE;
        }
        snprintf(d->name, sizeof d->name, "%s", v);
        return 0;
    }
    if (!strcmp(k, "areas"))
        return each_item(s, d, v, add_area, why, wn);
    if (!strcmp(k, "reports"))
        return each_item(s, d, v, add_category, why, wn);
    snprintf(why, wn, "unknown key \"%s\" (name, areas, reports)", k);
    return MC_EPARSE;
}

int gw_shared_load_departments(gw_shared *s, const char *path, char *err, size_t errlen) {
    if (!path || !*path)
        return 0;
    free(s->depts);
    s->n_depts = 0;
    if (!(s->depts = calloc(GW_DEPTS_MAX, sizeof *s->depts))) {
        snprintf(err, errlen, "out of memory");
        return MC_ENOMEM;
    }
    int rc = read_lines(s, path, dept_line, err, errlen);
    if (!rc && s->n_depts && !*s->depts[s->n_depts - 1].name) {
        snprintf(err, errlen, "%s: department %s has no name", path, s->depts[s->n_depts - 1].id);
        rc = MC_EPARSE;
    }
    if (rc) {
        free(s->depts);
        s->depts = NULL;
        s->n_depts = 0;
    }
    return rc;
}

static const dept *dept_find(const gw_shared *s, const char *id) {
    for (size_t i = 0; id && i < s->n_depts; i++)
        if (!strcmp(s->depts[i].id, id))
            return &s->depts[i];
    return NULL;
}

const char *gw_shared_dept_name(const gw_shared *s, const char *id) {
    const dept *d = dept_find(s, id);
    return d && *d->name ? d->name : NULL;
}

size_t gw_shared_report_depts(const gw_shared *s, const char *ward_id, const char *category,
                              const char **out, size_t max) {
    unsigned bit = 0;
    for (size_t i = 0; category && i < nlu_issue_count(); i++)
        if (!strcmp(category, nlu_issue_id(i)))
            bit = 1u << i;
    size_t n = 0;
    for (size_t i = 0; bit && i < s->n_depts && n < max; i++) {
        const dept *d = &s->depts[i];
        bool serves = d->all_areas;
        for (size_t k = 0; !serves && ward_id && k < d->n_areas; k++)
            serves = !strcmp(d->areas[k], ward_id);
        if (serves && (d->reports & bit))
            out[n++] = d->id;
    }
    return n;
}

/* ---- report statuses ---- */

static int status_line(gw_shared *s, char *line, char *why, size_t wn) {
    char *k, *v;
    if (split_kv(line, &k, &v) || !*v || strlen(v) > REPORT_WORDING_MAX) {
        snprintf(why, wn,
                 "want \"status <id> = <wording>\", \"final_status <id> = <wording>\" "
                 "or \"template <name> = <text>\" (at most %d bytes)",
                 REPORT_WORDING_MAX);
        return MC_EPARSE;
    }
    char *sp = strpbrk(k, " \t");
    if (!sp) {
        snprintf(why, wn, "a keyword and a name before '='");
        return MC_EPARSE;
    }
    *sp = '\0';
    char *name = sp + 1;
    while (isspace((unsigned char)*name))
        name++;
    if (!strcmp(k, "template")) {
        char *dst = !strcmp(name, "report_event")        ? s->tpl_event
                    : !strcmp(name, "report_event_note") ? s->tpl_event_note
                                                         : NULL;
        if (!dst || *dst) {
            snprintf(why, wn, "%s template \"%s\" (report_event, report_event_note)",
                     dst ? "duplicate" : "unknown", name);
            return MC_EPARSE;
        }
        if (!strstr(v, "{ticket}") || !strstr(v, "{status}") ||
            (dst == s->tpl_event_note && !strstr(v, "{note}"))) {
            snprintf(why, wn, "the template needs {ticket} and {status}%s",
                     dst == s->tpl_event_note ? " and {note}" : "");
            return MC_EPARSE;
        }
        snprintf(dst, REPORT_WORDING_MAX + 1, "%s", v);
        return 0;
    }
    bool final = !strcmp(k, "final_status");
    if (!final && strcmp(k, "status")) {
        snprintf(why, wn, "unknown keyword \"%s\" (status, final_status, template)", k);
        return MC_EPARSE;
    }
    size_t n = strlen(name);
    bool ok = n > 0 && n < GW_REPORT_STATUS_MAX;
    for (size_t i = 0; ok && i < n; i++)
        ok = (name[i] >= 'a' && name[i] <= 'z') || name[i] == '_';
    if (!ok || gw_shared_report_status_text(s, name)) {
        snprintf(why, wn, "%s status id \"%s\" (a-z and _)", ok ? "duplicate" : "bad", name);
        return MC_EPARSE;
    }
    if (s->n_rs == REPORT_STATUSES_MAX) {
        snprintf(why, wn, "more than %d statuses", REPORT_STATUSES_MAX);
        return MC_EPARSE;
    }
    report_status *r = &s->rs[s->n_rs++];
    snprintf(r->id, sizeof r->id, "%s", name);
    snprintf(r->text, sizeof r->text, "%s", v);
    r->final = final;
    return 0;
}

int gw_shared_load_report_statuses(gw_shared *s, const char *path, char *err, size_t errlen) {
    s->n_rs = 0;
    s->tpl_event[0] = s->tpl_event_note[0] = '\0';
    int rc = read_lines(s, path, status_line, err, errlen);
    if (!rc && (!s->n_rs || s->rs[0].final || !*s->tpl_event || !*s->tpl_event_note)) {
        snprintf(err, errlen,
                 "%s: needs a first status that is not final and the templates report_event "
                 "and report_event_note",
                 path);
        rc = MC_EPARSE;
    }
    if (rc)
        s->n_rs = 0;
    return rc;
}

const char *gw_shared_report_status_text(const gw_shared *s, const char *id) {
    for (size_t i = 0; id && i < s->n_rs; i++)
        if (!strcmp(s->rs[i].id, id))
            return s->rs[i].text;
    return NULL;
}

int gw_shared_report_status_final(const gw_shared *s, const char *id) {
    for (size_t i = 0; id && i < s->n_rs; i++)
        if (!strcmp(s->rs[i].id, id))
            return s->rs[i].final;
    return 0;
}

void gw_shared_report_finals(const gw_shared *s, char *out, size_t n) {
    size_t used = 0;
    if (n)
        out[0] = '\0';
    for (size_t i = 0; i < s->n_rs; i++)
        if (s->rs[i].final) {
            int w =
                snprintf(out + used, used < n ? n - used : 0, "%s%s", used ? "," : "", s->rs[i].id);
            used += w > 0 ? (size_t)w : 0;
        }
}

size_t gw_shared_report_status_count(const gw_shared *s) {
    return s->n_rs;
}

const char *gw_shared_report_status_at(const gw_shared *s, size_t i) {
    return i < s->n_rs ? s->rs[i].id : NULL;
}

const char *gw_shared_report_first_status(const gw_shared *s) {
    return s->n_rs ? s->rs[0].id : "received";
}

char *gw_shared_report_event_text(const gw_shared *s, const char *ticket, const char *status,
                                  const char *note) {
    const char *tpl = note && *note ? s->tpl_event_note : s->tpl_event;
    const char *wording = gw_shared_report_status_text(s, status);
    const char *vals[3] = {ticket, wording ? wording : status, note ? note : ""};
    static const char *const names[3] = {"{ticket}", "{status}", "{note}"};
    size_t cap = strlen(tpl) + 1;
    for (size_t i = 0; i < 3; i++)
        cap += strlen(vals[i]) * 2; /* each placeholder appears once or twice at most */
    char *out = malloc(cap), *o = out;
    if (!out)
        return NULL;
    for (const char *p = tpl; *p;) {
        size_t i = 0;
        while (i < 3 && strncmp(p, names[i], strlen(names[i])))
            i++;
        size_t vl = i < 3 ? strlen(vals[i]) : 1;
        if ((size_t)(o - out) + vl + 1 > cap)
            break;
        if (i < 3) {
            memcpy(o, vals[i], vl);
            p += strlen(names[i]);
        } else
            *o = *p++;
        o += vl;
    }
    *o = '\0';
    return out;
}
