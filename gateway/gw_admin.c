/*
 * gw_admin.c — the department API (/api/v1): tokens, dossiers, notifications,
 * subscriptions.
 *
 * Big idea: every request is checked completely before Redis sees anything
 * (token → 401, scope or area → 403, body and fields → 400 naming the field),
 * and then each logical write is ONE Lua script: the ownership check (a
 * department touches only its own dossiers), the write and the queueing of
 * notifications happen atomically, so a failure leaves all or nothing and a
 * Redis that is down gives 503 with nothing written. The scheduler and the chat
 * worker read the same keys (shapes in gw_admin.h). Tokens are stored as
 * SHA-256 hashes and compared in constant time; status wordings and the
 * notification templates are data (gateway/data/statuses.txt).
 */
#include "gateway/gw_admin.h"

#include "core/mc.h"
#include "gateway/gw_channels.h"
#include "gateway/gw_clock.h"
#include "gateway/gw_http.h"
#include "gateway/gw_log.h"
#include "intents/nlu_catalog.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_AREAS 64                     /* areas of one token */
#define MAX_WARDS 512                    /* rows of wards.csv */
#define MAX_PROCEDURES 64                /* ids of procedures.txt */
#define ID_MAX 48                        /* status/procedure/ward ids, bytes */
#define WORDING_MAX 400                  /* a status wording or a template, bytes */
#define TEXT_MAX 2000                    /* a notification text, bytes */
#define NOTE_MAX 500                     /* a dossier event note, bytes */
#define USER_ID_MAX 128                  /* a channel's user id, bytes */
#define IDEM_KEY_MAX 128                 /* an idempotency key, bytes */
#define IDEM_TTL_S "604800"              /* idempotency keys are remembered 7 days */
#define MAX_TAGS 16                      /* tags of a subscription */
#define TAG_MAX 32                       /* one tag, bytes */
#define NOTIF_ID_BYTES 16                /* random bytes of a notification id (32 hex) */
#define EVENT_BASE_BYTES 12              /* random bytes of an event's notification id base */
#define NOTIF_ID_MAX 64                  /* longest notification id accepted in a path */
#define VN_OFFSET_MS (7 * 3600 * 1000LL) /* Asia/Ho_Chi_Minh, UTC+7, no DST */
#define API "/api/v1/"

/* ---------------------------------------------------------------- tables */

typedef struct token {
    char dept[GW_ADMIN_DEPT_MAX + 1];         /* department id */
    unsigned char hash[SHA256_DIGEST_LENGTH]; /* sha256 of the token */
    unsigned scopes;                          /* GW_SCOPE_* */
    int all_areas;                            /* areas = '*' */
    char areas[MAX_AREAS][ID_MAX];            /* ward ids */
    size_t n_areas;                           /* used entries of areas */
} token;

typedef struct status_entry {
    char id[ID_MAX];            /* e.g. ready_for_pickup */
    char text[WORDING_MAX + 1]; /* Vietnamese wording */
} status_entry;

typedef struct ward {
    char id[ID_MAX]; /* "27316" */
    char slug[96];   /* "an-dong-27316" */
} ward;

struct gw_admin {
    token *tokens;                                /* owned, n_tokens entries */
    size_t n_tokens;                              /* used entries */
    status_entry statuses[GW_ADMIN_MAX_STATUSES]; /* statuses.txt */
    size_t n_statuses;                            /* used entries */
    char tpl_event[WORDING_MAX + 1];              /* template dossier_event */
    char tpl_event_note[WORDING_MAX + 1];         /* template dossier_event_note, "" = none */
    char procedures[MAX_PROCEDURES][ID_MAX];      /* procedure ids */
    size_t n_procedures;                          /* used entries */
    ward *wards;                                  /* owned, n_wards entries */
    size_t n_wards;                               /* used entries */
};

/* The routes' handlers reach the module through this pointer: gw_app has no
 * slot for it (one process serves one app). Set by gw_admin_open. */
static gw_admin *the_admin;

static const char *const scope_names[] = {"dossiers:write", "notify", "broadcast", "read"};

static void trim(char **s, size_t *len) {
    while (*len && isspace((unsigned char)**s))
        (*s)++, (*len)--;
    while (*len && isspace((unsigned char)(*s)[*len - 1]))
        (*len)--;
}

static int id_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

static int valid_id(const char *s, size_t len) {
    if (len == 0 || len >= ID_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!id_char(s[i]))
            return 0;
    return 1;
}

static int dept_char(char c) {
    return id_char(c) || c == '-' || c == '.';
}

static int utf8_ok(const char *s, size_t len) {
    json_t *j = json_stringn(s, len); /* jansson checks UTF-8 */
    int ok = j != NULL;
    json_decref(j);
    return ok;
}

static const ward *find_ward(const gw_admin *a, const char *s) {
    for (size_t i = 0; i < a->n_wards; i++)
        if (!strcmp(a->wards[i].id, s) || !strcmp(a->wards[i].slug, s))
            return &a->wards[i];
    return NULL;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Splits s at sep into at most max parts (in place); returns the count or -1. */
static int split(char *s, char sep, char **parts, int max) {
    int n = 0;
    for (char *p = s;;) {
        if (n == max)
            return -1;
        parts[n++] = p;
        char *q = strchr(p, sep);
        if (!q)
            break;
        *q = '\0';
        p = q + 1;
    }
    return n;
}

/* One line of the tokens file: department_id sha256hex scopes areas. */
static int parse_token_line(gw_admin *a, char *line, token *t, char *why, size_t wn) {
    char *f[5];
    int n = 0;
    for (char *tok = strtok(line, " \t"); tok; tok = strtok(NULL, " \t")) {
        if (n == 4) {
            snprintf(why, wn, "too many fields (want: department_id sha256hex scopes areas)");
            return -1;
        }
        f[n++] = tok;
    }
    if (n != 4) {
        snprintf(why, wn, "want 4 fields: department_id sha256hex scopes areas");
        return -1;
    }
    size_t dl = strlen(f[0]);
    if (dl == 0 || dl > GW_ADMIN_DEPT_MAX) {
        snprintf(why, wn, "department id must be 1..%d bytes", GW_ADMIN_DEPT_MAX);
        return -1;
    }
    for (size_t i = 0; i < dl; i++)
        if (!dept_char(f[0][i])) {
            snprintf(why, wn, "department id \"%s\": only a-z, 0-9, _, - and .", f[0]);
            return -1;
        }
    memcpy(t->dept, f[0], dl + 1);
    if (strlen(f[1]) != 2 * SHA256_DIGEST_LENGTH) {
        snprintf(why, wn, "the token hash must be 64 hex digits (sha256 of the token)");
        return -1;
    }
    for (size_t i = 0; i < SHA256_DIGEST_LENGTH; i++) {
        int hi = hexval(f[1][2 * i]), lo = hexval(f[1][2 * i + 1]);
        if (hi < 0 || lo < 0) {
            snprintf(why, wn, "the token hash must be 64 hex digits (sha256 of the token)");
            return -1;
        }
        t->hash[i] = (unsigned char)(hi << 4 | lo);
    }
    char *parts[MAX_AREAS];
    int np = split(f[2], ',', parts, MAX_AREAS);
    if (np < 0) {
        snprintf(why, wn, "too many scopes");
        return -1;
    }
    for (int i = 0; i < np; i++) {
        size_t k = 0;
        while (k < MC_ARRAY_LEN(scope_names) && strcmp(parts[i], scope_names[k]))
            k++;
        if (k == MC_ARRAY_LEN(scope_names)) {
            snprintf(why, wn, "unknown scope \"%s\" (dossiers:write, notify, broadcast, read)",
                     parts[i]);
            return -1;
        }
        t->scopes |= 1u << k;
    }
    np = split(f[3], ',', parts, MAX_AREAS);
    if (np < 0) {
        snprintf(why, wn, "more than %d areas", MAX_AREAS);
        return -1;
    }
    for (int i = 0; i < np; i++) {
        if (!strcmp(parts[i], "*")) {
            t->all_areas = 1;
            continue;
        }
        const ward *w = find_ward(a, parts[i]);
        if (!w) {
            snprintf(why, wn, "unknown area \"%s\" (a ward id of wards.csv or *)", parts[i]);
            return -1;
        }
        snprintf(t->areas[t->n_areas++], ID_MAX, "%s", w->id);
    }
    for (size_t i = 0; i < a->n_tokens; i++)
        if (!memcmp(a->tokens[i].hash, t->hash, sizeof t->hash)) {
            snprintf(why, wn, "the same token hash appears twice");
            return -1;
        }
    return 0;
}

/* Reads a text file line by line; fn gets each line without its newline and
 * returns 0 or -1 with a reason. Errors are "path:LINE: reason". */
typedef int line_fn(gw_admin *a, char *line, size_t len, char *why, size_t wn);

static int read_lines(gw_admin *a, const char *path, line_fn *fn, char *err, size_t errlen) {
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return MC_EIO;
    }
    char line[GW_ADMIN_MAX_LINE + 2], why[256];
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len && line[len - 1] == '\n')
            line[--len] = '\0';
        else if (!feof(f)) {
            snprintf(err, errlen, "%s:%d: line longer than %d bytes", path, lineno,
                     GW_ADMIN_MAX_LINE);
            rc = MC_EPARSE;
            break;
        }
        if (len && line[len - 1] == '\r')
            line[--len] = '\0';
        why[0] = '\0';
        if (fn(a, line, len, why, sizeof why)) {
            snprintf(err, errlen, "%s:%d: %s", path, lineno, why);
            rc = MC_EPARSE;
            break;
        }
    }
    fclose(f);
    return rc;
}

static int token_line(gw_admin *a, char *line, size_t len, char *why, size_t wn) {
    char *s = line;
    trim(&s, &len);
    s[len] = '\0';
    if (len == 0 || *s == '#')
        return 0;
    char *hash = strchr(s, '#'); /* a comment after the fields */
    if (hash)
        *hash = '\0';
    if (a->n_tokens == GW_ADMIN_MAX_TOKENS) {
        snprintf(why, wn, "more than %d tokens", GW_ADMIN_MAX_TOKENS);
        return -1;
    }
    token *t = &a->tokens[a->n_tokens];
    memset(t, 0, sizeof *t);
    if (parse_token_line(a, s, t, why, wn))
        return -1;
    a->n_tokens++;
    return 0;
}

/* "status <id> = <wording>" or "template <name> = <text>". */
static int status_line(gw_admin *a, char *line, size_t len, char *why, size_t wn) {
    char *s = line;
    trim(&s, &len);
    if (len == 0 || *s == '#')
        return 0;
    s[len] = '\0';
    if (!utf8_ok(s, len)) {
        snprintf(why, wn, "not valid UTF-8");
        return -1;
    }
    char *eq = strchr(s, '=');
    char *sp = strpbrk(s, " \t");
    if (!eq || !sp || sp > eq) {
        snprintf(why, wn, "want \"status <id> = <wording>\" or \"template <name> = <text>\"");
        return -1;
    }
    size_t kwlen = (size_t)(sp - s);
    char *id = sp;
    size_t idlen = (size_t)(eq - sp);
    trim(&id, &idlen);
    char *val = eq + 1;
    size_t vlen = strlen(val);
    trim(&val, &vlen);
    if (vlen == 0 || vlen > WORDING_MAX) {
        snprintf(why, wn, "the text must be 1..%d bytes", WORDING_MAX);
        return -1;
    }
    if (kwlen == 6 && !memcmp(s, "status", 6)) {
        if (!valid_id(id, idlen)) {
            snprintf(why, wn, "status id must be a-z, 0-9 and _ (at most %d bytes)", ID_MAX - 1);
            return -1;
        }
        for (size_t i = 0; i < a->n_statuses; i++)
            if (strlen(a->statuses[i].id) == idlen && !memcmp(a->statuses[i].id, id, idlen)) {
                snprintf(why, wn, "duplicate status \"%.*s\"", (int)idlen, id);
                return -1;
            }
        if (a->n_statuses == GW_ADMIN_MAX_STATUSES) {
            snprintf(why, wn, "more than %d statuses", GW_ADMIN_MAX_STATUSES);
            return -1;
        }
        status_entry *e = &a->statuses[a->n_statuses++];
        snprintf(e->id, sizeof e->id, "%.*s", (int)idlen, id);
        snprintf(e->text, sizeof e->text, "%.*s", (int)vlen, val);
        return 0;
    }
    if (kwlen == 8 && !memcmp(s, "template", 8)) {
        char *dst;
        int need_note;
        if (idlen == 13 && !memcmp(id, "dossier_event", 13))
            dst = a->tpl_event, need_note = 0;
        else if (idlen == 18 && !memcmp(id, "dossier_event_note", 18))
            dst = a->tpl_event_note, need_note = 1;
        else {
            snprintf(why, wn, "unknown template \"%.*s\" (dossier_event, dossier_event_note)",
                     (int)idlen, id);
            return -1;
        }
        if (*dst) {
            snprintf(why, wn, "duplicate template \"%.*s\"", (int)idlen, id);
            return -1;
        }
        snprintf(dst, WORDING_MAX + 1, "%.*s", (int)vlen, val);
        if (!strstr(dst, "{code}") || !strstr(dst, "{status}") ||
            (need_note && !strstr(dst, "{note}"))) {
            snprintf(why, wn, "the template must contain {code} and {status}%s",
                     need_note ? " and {note}" : "");
            return -1;
        }
        return 0;
    }
    snprintf(why, wn, "unknown keyword \"%.*s\" (status, template)", (int)kwlen, s);
    return -1;
}

/* wards.csv: id,name.local,name.en,name.slug,... with a header line. */
static int ward_line(gw_admin *a, char *line, size_t len, char *why, size_t wn) {
    if (len == 0 || !strncmp(line, "id,", 3))
        return 0;
    char *parts[8];
    int n = split(line, ',', parts, 8);
    if (n < 4 || !*parts[0] || strlen(parts[0]) >= ID_MAX || strlen(parts[3]) >= 96) {
        snprintf(why, wn, "want id,name.local,name.en,name.slug,...");
        return -1;
    }
    if (a->n_wards == MAX_WARDS) {
        snprintf(why, wn, "more than %d wards", MAX_WARDS);
        return -1;
    }
    ward *w = &a->wards[a->n_wards++];
    snprintf(w->id, sizeof w->id, "%s", parts[0]);
    snprintf(w->slug, sizeof w->slug, "%s", parts[3]);
    return 0;
}

gw_admin *gw_admin_new(const char *tokens_file, const char *share_dir, char *err, size_t errlen) {
    char path[4096];
    nlu_catalog *cat = NULL;
    gw_admin *a = calloc(1, sizeof *a);
    if (!a || !(a->tokens = calloc(GW_ADMIN_MAX_TOKENS, sizeof *a->tokens)) ||
        !(a->wards = calloc(MAX_WARDS, sizeof *a->wards))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    snprintf(path, sizeof path, "%s/vi-nlp/data/wards.csv", share_dir);
    if (read_lines(a, path, ward_line, err, errlen))
        goto fail;
    snprintf(path, sizeof path, "%s/gateway/data/statuses.txt", share_dir);
    if (read_lines(a, path, status_line, err, errlen))
        goto fail;
    if (a->n_statuses == 0 || !*a->tpl_event) {
        snprintf(err, errlen, "%s: needs at least one status and template dossier_event", path);
        goto fail;
    }
    snprintf(path, sizeof path, "%s/intents/data/procedures.txt", share_dir);
    cat = nlu_catalog_load(path, err, errlen);
    if (!cat)
        goto fail;
    for (size_t i = 0; i < nlu_catalog_count(cat) && i < MAX_PROCEDURES; i++)
        snprintf(a->procedures[a->n_procedures++], ID_MAX, "%s", nlu_catalog_at(cat, i)->id);
    nlu_catalog_free(cat);
    if (read_lines(a, tokens_file, token_line, err, errlen))
        goto fail;
    return a;
fail:
    gw_admin_free(a);
    return NULL;
}

void gw_admin_free(gw_admin *a) {
    if (!a)
        return;
    if (the_admin == a)
        the_admin = NULL;
    free(a->tokens);
    free(a->wards);
    free(a);
}

const char *gw_admin_status_text(const gw_admin *a, const char *status) {
    for (size_t i = 0; i < a->n_statuses; i++)
        if (!strcmp(a->statuses[i].id, status))
            return a->statuses[i].text;
    return NULL;
}

static int procedure_ok(const gw_admin *a, const char *p) {
    for (size_t i = 0; i < a->n_procedures; i++)
        if (!strcmp(a->procedures[i], p))
            return 1;
    return 0;
}

static const token *auth_token(const gw_admin *a, const char *authorization) {
    if (!authorization || strncasecmp(authorization, "Bearer ", 7))
        return NULL;
    const char *tok = authorization + 7;
    while (*tok == ' ')
        tok++;
    size_t len = strnlen(tok, GW_ADMIN_MAX_TOKEN_BYTES + 1);
    if (len == 0 || len > GW_ADMIN_MAX_TOKEN_BYTES)
        return NULL;
    unsigned char h[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)tok, len, h);
    const token *found = NULL;
    for (size_t i = 0; i < a->n_tokens; i++) { /* no early exit */
        int same = CRYPTO_memcmp(h, a->tokens[i].hash, sizeof h) == 0;
        if (same)
            found = &a->tokens[i];
    }
    return found;
}

const char *gw_admin_auth(const gw_admin *a, const char *authorization, unsigned *scopes) {
    const token *t = auth_token(a, authorization);
    if (t && scopes)
        *scopes = t->scopes;
    return t ? t->dept : NULL;
}

static int token_area_ok(const token *t, const char *ward_id) {
    if (t->all_areas)
        return 1;
    for (size_t i = 0; i < t->n_areas; i++)
        if (!strcmp(t->areas[i], ward_id))
            return 1;
    return 0;
}

int gw_admin_area_ok(const gw_admin *a, const char *dept, const char *ward_id) {
    for (size_t i = 0; i < a->n_tokens; i++)
        if (!strcmp(a->tokens[i].dept, dept) && token_area_ok(&a->tokens[i], ward_id))
            return 1;
    return 0;
}

/* ------------------------------------------------------------ validators */

static int digits(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

static int num(const char *s, size_t n) {
    int v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

static int days_in_month(int y, int m) {
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return d[m - 1];
}

int gw_admin_code_ok(const char *s, size_t len) {
    /* agency: 2..8 dot-separated segments of [0-9A-Z]{1,8}; -yymmdd-; 4..8 digits */
    if (len == 0 || len > GW_ADMIN_CODE_MAX)
        return 0;
    const char *d1 = memchr(s, '-', len);
    if (!d1)
        return 0;
    size_t alen = (size_t)(d1 - s), segs = 0, seglen = 0;
    for (size_t i = 0; i <= alen; i++) {
        if (i == alen || s[i] == '.') {
            if (seglen == 0 || seglen > 8)
                return 0;
            segs++, seglen = 0;
        } else if ((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z'))
            seglen++;
        else
            return 0;
    }
    if (segs < 2 || segs > 8)
        return 0;
    const char *rest = d1 + 1;
    size_t rlen = len - alen - 1;
    if (rlen < 11 || rlen > 15 || rest[6] != '-' || !digits(rest, 6) || !digits(rest + 7, rlen - 7))
        return 0;
    int mm = num(rest + 2, 2), dd = num(rest + 4, 2);
    return mm >= 1 && mm <= 12 && dd >= 1 && dd <= days_in_month(2000 + num(rest, 2), mm);
}

int gw_admin_phone_ok(const char *s, size_t len) {
    return len == 12 && !memcmp(s, "+84", 3) && digits(s + 3, 9) && strchr("35789", s[3]);
}

int gw_admin_date_ok(const char *s, size_t len) {
    if (len != 10 || s[4] != '-' || s[7] != '-' || !digits(s, 4) || !digits(s + 5, 2) ||
        !digits(s + 8, 2))
        return 0;
    int y = num(s, 4), m = num(s + 5, 2), d = num(s + 8, 2);
    return y >= 2000 && m >= 1 && m <= 12 && d >= 1 && d <= days_in_month(y, m);
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static int64_t days_from_civil(int y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int gw_admin_parse_time(const char *s, size_t len, int64_t *ms) {
    /* YYYY-MM-DDTHH:MM:SS[.fff]Z|±HH:MM */
    if (len < 20 || !gw_admin_date_ok(s, 10) || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
        s[16] != ':' || !digits(s + 11, 2) || !digits(s + 14, 2) || !digits(s + 17, 2))
        return MC_EINVAL;
    int hh = num(s + 11, 2), mi = num(s + 14, 2), ss = num(s + 17, 2);
    if (hh > 23 || mi > 59 || ss > 59)
        return MC_EINVAL;
    size_t i = 19;
    int frac_ms = 0, scale = 100;
    if (s[i] == '.') {
        i++;
        size_t start = i;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            frac_ms += (s[i] - '0') * scale;
            scale /= 10;
            i++;
        }
        if (i == start || i - start > 9)
            return MC_EINVAL;
    }
    int64_t off_min = 0;
    if (i + 1 == len && (s[i] == 'Z' || s[i] == 'z'))
        off_min = 0;
    else if (i + 6 == len && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':' &&
             digits(s + i + 1, 2) && digits(s + i + 4, 2)) {
        int oh = num(s + i + 1, 2), om = num(s + i + 4, 2);
        if (oh > 23 || om > 59)
            return MC_EINVAL;
        off_min = (oh * 60 + om) * (s[i] == '-' ? -1 : 1);
    } else
        return MC_EINVAL;
    int64_t days = days_from_civil(num(s, 4), num(s + 5, 2), num(s + 8, 2));
    int64_t secs = days * 86400 + hh * 3600 + mi * 60 + ss - off_min * 60;
    *ms = secs * 1000 + frac_ms;
    return 0;
}

void gw_admin_format_time(int64_t ms, char *out, size_t n) {
    time_t t = (time_t)((ms + VN_OFFSET_MS) / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char buf[40];
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S+07:00", &tm);
    snprintf(out, n, "%s", buf);
}

/* ----------------------------------------------------------- answers */

/* Answers {"error","message","field"} (field omitted when NULL). */
static void fail(gw_req *rq, int status, const char *code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void fail(gw_req *rq, int status, const char *code, const char *field, const char *fmt,
                 ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *o = json_pack("{s:s, s:s}", "error", code, "message", msg);
    if (o && field)
        json_object_set_new(o, "field", json_string(field));
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!s) {
        gw_req_error(rq, 500, "internal", "out of memory");
        return;
    }
    gw_req_json(rq, status, s, strlen(s));
    free(s);
}

static void answer(gw_req *rq, int status, json_t *o) {
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!s) {
        gw_req_error(rq, 500, "internal", "out of memory");
        return;
    }
    gw_req_json(rq, status, s, strlen(s));
    free(s);
}

static void unavailable(gw_req *rq) {
    fail(rq, 503, "unavailable", NULL, "the store is unavailable; nothing was written, retry");
}

/* Token and scope; NULL when already answered (401/403). */
static const token *authorize(gw_req *rq, unsigned scope, const char *scope_name) {
    const gw_admin *a = the_admin;
    const char *h = gw_req_header(rq, "authorization");
    if (!h || !*h) {
        fail(rq, 401, "unauthorized", NULL, "send Authorization: Bearer <token>");
        return NULL;
    }
    const token *t = a ? auth_token(a, h) : NULL;
    if (!t) {
        gw_log(GW_WARN, "admin.bad_token", "{s:s, s:s}", "peer", gw_req_peer(rq), "path",
               gw_req_path(rq));
        fail(rq, 401, "unauthorized", NULL, "the token is not valid");
        return NULL;
    }
    if (!(t->scopes & scope)) {
        fail(rq, 403, "forbidden", NULL, "the token of %s lacks the scope %s", t->dept, scope_name);
        return NULL;
    }
    return t;
}

/* Parses the body as a JSON object; NULL when answered 400. */
static json_t *body_object(gw_req *rq) {
    size_t len;
    const char *b = gw_req_body(rq, &len);
    json_error_t je;
    json_t *o = json_loadb(b, len, JSON_REJECT_DUPLICATES, &je);
    if (!o) {
        fail(rq, 400, "bad_json", NULL, "the body is not valid JSON: %s (line %d)", je.text,
             je.line);
        return NULL;
    }
    if (!json_is_object(o)) {
        json_decref(o);
        fail(rq, 400, "bad_json", NULL, "the body must be a JSON object");
        return NULL;
    }
    return o;
}

/* Rejects fields not in allowed (NULL-terminated). 1 when fine. */
static int only_fields(gw_req *rq, json_t *o, const char *const *allowed) {
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        size_t i = 0;
        while (allowed[i] && strcmp(allowed[i], k))
            i++;
        if (!allowed[i]) {
            fail(rq, 400, "bad_field", k, "unknown field");
            return 0;
        }
    }
    return 1;
}

/* A string field of at most max bytes: *out (borrowed) or NULL when absent.
 * Returns 1, or 0 when answered 400. */
static int str_field(gw_req *rq, json_t *o, const char *name, const char *path, size_t max,
                     int required, const char **out, size_t *outlen) {
    json_t *v = json_object_get(o, name);
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (required) {
            fail(rq, 400, "missing_field", path, "%s is required", path);
            return 0;
        }
        return 1;
    }
    if (!json_is_string(v)) {
        fail(rq, 400, "bad_field", path, "%s must be a string", path);
        return 0;
    }
    size_t len = json_string_length(v);
    if (len == 0 || len > max) {
        fail(rq, 400, "bad_field", path, "%s must be 1..%zu bytes", path, max);
        return 0;
    }
    const char *s = json_string_value(v);
    if (memchr(s, '\0', len)) {
        fail(rq, 400, "bad_field", path, "%s must not contain NUL", path);
        return 0;
    }
    *out = s;
    if (outlen)
        *outlen = len;
    return 1;
}

static int channel_known(const char *c) {
    if (!strcmp(c, "webchat"))
        return 1;
    for (size_t i = 0; i < GW_N_CHANNELS; i++)
        if (!strcmp(c, gw_channel_names[i]))
            return 1;
    return 0;
}

/* user ids are printable ASCII without spaces (they end up in Redis keys). */
static int user_id_ok(const char *s, size_t len) {
    if (len == 0 || len > USER_ID_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] <= ' ' || s[i] > '~')
            return 0;
    return 1;
}

static void random_hex(char *out, size_t nbytes) {
    unsigned char b[32];
    if (nbytes > sizeof b)
        nbytes = sizeof b;
    if (RAND_bytes(b, (int)nbytes) != 1) { /* never expected; still unique enough */
        uint64_t x = (uint64_t)gw_now_ms() ^ (uint64_t)rand() << 20;
        for (size_t i = 0; i < nbytes; i++)
            b[i] = (unsigned char)(x >> (i % 8 * 8)) ^ (unsigned char)rand();
    }
    for (size_t i = 0; i < nbytes; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
}

static void sha256_hex(const char *s, size_t len, char out[65]) {
    unsigned char h[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)s, len, h);
    for (size_t i = 0; i < sizeof h; i++)
        sprintf(out + 2 * i, "%02x", h[i]);
}

/* Replaces {code} {status} {note} in tpl. */
static void render(const char *tpl, const char *code, const char *status, const char *note,
                   char *out, size_t n) {
    size_t o = 0;
    for (const char *p = tpl; *p && o + 1 < n;) {
        const char *val = NULL;
        size_t skip = 0;
        if (!strncmp(p, "{code}", 6))
            val = code, skip = 6;
        else if (!strncmp(p, "{status}", 8))
            val = status, skip = 8;
        else if (!strncmp(p, "{note}", 6))
            val = note, skip = 6;
        if (val) {
            size_t vl = strlen(val);
            if (vl > n - 1 - o)
                vl = n - 1 - o;
            memcpy(out + o, val, vl);
            o += vl;
            p += skip;
        } else
            out[o++] = *p++;
    }
    out[o] = '\0';
}

/* ---------------------------------------------------------- async op */

typedef struct op {
    gw_req *rq;                       /* holds a reference */
    char dept[GW_ADMIN_DEPT_MAX + 1]; /* the caller's department */
    char code[GW_ADMIN_CODE_MAX + 1]; /* dossier code, when any */
    char id[NOTIF_ID_MAX + 1];        /* notification id, when any */
    char hash[65];                    /* canonical body hash (idempotency) */
    char extra[256];                  /* what the log line needs */
} op;

static op *op_new(gw_req *rq, const token *t) {
    op *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->rq = gw_req_ref(rq);
    snprintf(o->dept, sizeof o->dept, "%s", t->dept);
    return o;
}

static void op_free(op *o) {
    gw_req_unref(o->rq);
    free(o);
}

/* Sends a; on failure answers 503 and frees o. */
static void send_or_503(gw_argv *a, gw_store_cb *cb, op *o) {
    gw_store *st = gw_req_app(o->rq)->store;
    if (!st || gw_argv_send(st, a, cb, o)) {
        unavailable(o->rq);
        op_free(o);
    }
}

static int reply_failed(op *o, redisReply *r) {
    if (!r || r->type == REDIS_REPLY_ERROR) {
        gw_log(GW_ERROR, "admin.store_failed", "{s:s, s:s}", "dept", o->dept, "error",
               r && r->str ? r->str : "connection lost");
        if (r)
            fail(o->rq, 500, "internal", NULL, "the store refused the write");
        else
            unavailable(o->rq);
        return 1;
    }
    return 0;
}

/* ----------------------------------------------------------- dossiers */

/* KEYS[1] dossier; ARGV[1] dept, then field/value pairs. -1 other dept; else 1 when it
 * existed, 0 when created. */
static const char put_lua[] = "local d=redis.call('HGET',KEYS[1],'dept')\n"
                              "if d and d~=ARGV[1] then return -1 end\n"
                              "local existed=redis.call('EXISTS',KEYS[1])\n"
                              "redis.call('DEL',KEYS[1])\n"
                              "local a={'HSET',KEYS[1]} for i=2,#ARGV do a[#a+1]=ARGV[i] end\n"
                              "redis.call(unpack(a))\n"
                              "return existed\n";

/* KEYS[1] dossier, KEYS[2] history, KEYS[3] subscribers, KEYS[4] mc:due; ARGV: dept,
 * status, status_text, updated, event json, now_ms, id base, text, code. Returns {-2}
 * no dossier, {-1} other dept, else {1, ids...}. */
static const char event_lua[] =
    "if redis.call('EXISTS',KEYS[1])==0 then return {-2} end\n"
    "if redis.call('HGET',KEYS[1],'dept')~=ARGV[1] then return {-1} end\n"
    "redis.call('HSET',KEYS[1],'status',ARGV[2],'status_text',ARGV[3],'updated',ARGV[4])\n"
    "redis.call('RPUSH',KEYS[2],ARGV[5])\n"
    "local rc,seen={},{}\n"
    "for _,m in ipairs(redis.call('SMEMBERS',KEYS[3])) do\n"
    "  local c,u=string.match(m,'^([^:]+):(.+)$')\n"
    "  if c and not seen[m] then seen[m]=true rc[#rc+1]={c,u} end\n"
    "end\n"
    "local ph=redis.call('HGET',KEYS[1],'phone')\n"
    "if ph and ph~='' and not seen['sms:'..ph] then rc[#rc+1]={'sms',ph} end\n"
    "local out={1}\n"
    "for i,r in ipairs(rc) do\n"
    "  local id=ARGV[7]..'-'..i\n"
    "  local to\n"
    "  if r[1]=='sms' then to=cjson.encode({phone=r[2]})\n"
    "  else to=cjson.encode({channel=r[1],user_id=r[2]}) end\n"
    "  redis.call('HSET','mc:notif:'..id,'dept',ARGV[1],'status','scheduled','text',ARGV[8],\n"
    "    'to',to,'channels',r[1],'idx','0','send_at_ms',ARGV[6],'not_after_ms','0',\n"
    "    'priority','normal','created_ms',ARGV[6],'dossier',ARGV[9])\n"
    "  redis.call('ZADD',KEYS[4],ARGV[6],id)\n"
    "  out[#out+1]=id\n"
    "end\n"
    "return out\n";

/* KEYS[1] dossier, KEYS[2] history. {-2} none, else {1, hash pairs, history}. */
static const char get_dossier_lua[] = "local h=redis.call('HGETALL',KEYS[1])\n"
                                      "if #h==0 then return {-2} end\n"
                                      "return {1,h,redis.call('LRANGE',KEYS[2],0,-1)}\n";

static void on_put(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    op *o = priv;
    if (reply_failed(o, r))
        goto done;
    if (r->type != REDIS_REPLY_INTEGER) {
        fail(o->rq, 500, "internal", NULL, "unexpected store answer");
        goto done;
    }
    if (r->integer < 0) {
        fail(o->rq, 403, "forbidden", NULL, "dossier %s belongs to another department", o->code);
        goto done;
    }
    gw_log(GW_INFO, "admin.dossier_put", "{s:s, s:s, s:s, s:b}", "dept", o->dept, "code", o->code,
           "status", o->extra, "created", r->integer == 0);
    answer(o->rq, r->integer == 0 ? 201 : 200,
           json_pack("{s:s, s:s, s:b}", "code", o->code, "status", o->extra, "created",
                     r->integer == 0));
done:
    op_free(o);
}

static void on_event(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    op *o = priv;
    if (reply_failed(o, r))
        goto done;
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_INTEGER) {
        fail(o->rq, 500, "internal", NULL, "unexpected store answer");
        goto done;
    }
    if (r->element[0]->integer == -2) {
        fail(o->rq, 404, "not_found", NULL, "no dossier %s", o->code);
        goto done;
    }
    if (r->element[0]->integer == -1) {
        fail(o->rq, 403, "forbidden", NULL, "dossier %s belongs to another department", o->code);
        goto done;
    }
    json_t *ids = json_array();
    for (size_t i = 1; i < r->elements; i++)
        if (r->element[i]->type == REDIS_REPLY_STRING)
            json_array_append_new(ids, json_stringn(r->element[i]->str, r->element[i]->len));
    gw_log(GW_INFO, "admin.dossier_event", "{s:s, s:s, s:s, s:I}", "dept", o->dept, "code", o->code,
           "status", o->extra, "notifications", (json_int_t)json_array_size(ids));
    answer(o->rq, 202,
           json_pack("{s:s, s:s, s:o}", "code", o->code, "status", o->extra, "notifications", ids));
done:
    op_free(o);
}

static void on_get_dossier(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    op *o = priv;
    if (reply_failed(o, r))
        goto done;
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_INTEGER) {
        fail(o->rq, 500, "internal", NULL, "unexpected store answer");
        goto done;
    }
    if (r->element[0]->integer == -2 || r->elements < 3) {
        fail(o->rq, 404, "not_found", NULL, "no dossier %s", o->code);
        goto done;
    }
    redisReply *h = r->element[1], *hist = r->element[2];
    json_t *d = json_object();
    json_object_set_new(d, "code", json_string(o->code));
    const char *dept = "";
    for (size_t i = 0; i + 1 < h->elements; i += 2) {
        redisReply *k = h->element[i], *v = h->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        if (!strcmp(k->str, "dept"))
            dept = v->str;
        json_object_set_new(d, k->str, json_stringn(v->str, v->len));
    }
    if (strcmp(dept, o->dept)) {
        json_decref(d);
        fail(o->rq, 403, "forbidden", NULL, "dossier %s belongs to another department", o->code);
        goto done;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < hist->elements; i++) {
        redisReply *e = hist->element[i];
        if (e->type != REDIS_REPLY_STRING)
            continue;
        json_t *ev = json_loadb(e->str, e->len, 0, NULL);
        json_array_append_new(arr, ev ? ev : json_stringn(e->str, e->len));
    }
    json_object_set_new(d, "history", arr);
    answer(o->rq, 200, d);
done:
    op_free(o);
}

/* /api/v1/dossiers/{code}[/events] → code (upper-cased) and whether /events. */
static int dossier_path(gw_req *rq, char *code, int *events) {
    const char *p = gw_req_path(rq) + strlen(API "dossiers/");
    const char *slash = strchr(p, '/');
    size_t len = slash ? (size_t)(slash - p) : strlen(p);
    *events = 0;
    if (slash) {
        if (strcmp(slash, "/events")) {
            fail(rq, 404, "not_found", NULL, "no such path");
            return 0;
        }
        *events = 1;
    }
    if (len == 0 || len > GW_ADMIN_CODE_MAX) {
        fail(rq, 400, "bad_code", "code",
             "the dossier code is not of the form "
             "000.00.25.H29-231122-0001");
        return 0;
    }
    for (size_t i = 0; i < len; i++)
        code[i] = (char)toupper((unsigned char)p[i]);
    code[len] = '\0';
    if (!gw_admin_code_ok(code, len)) {
        fail(rq, 400, "bad_code", "code",
             "the dossier code is not of the form "
             "000.00.25.H29-231122-0001");
        return 0;
    }
    return 1;
}

static void dossier_put(gw_req *rq, const token *t, const char *code) {
    static const char *const allowed[] = {"procedure", "status", "phone", "expected_at", NULL};
    const gw_admin *a = the_admin;
    json_t *b = body_object(rq);
    gw_argv av = {0};
    op *o = NULL;
    if (!b || !only_fields(rq, b, allowed))
        goto done;
    const char *proc, *status, *phone, *exp;
    size_t plen = 0, elen = 0;
    if (!str_field(rq, b, "procedure", "procedure", ID_MAX, 1, &proc, NULL) ||
        !str_field(rq, b, "status", "status", ID_MAX, 1, &status, NULL) ||
        !str_field(rq, b, "phone", "phone", 16, 0, &phone, &plen) ||
        !str_field(rq, b, "expected_at", "expected_at", 10, 0, &exp, &elen))
        goto done;
    if (!procedure_ok(a, proc)) {
        fail(rq, 400, "bad_field", "procedure", "unknown procedure \"%s\"", proc);
        goto done;
    }
    const char *st_text = gw_admin_status_text(a, status);
    if (!st_text) {
        fail(rq, 400, "bad_field", "status", "unknown status \"%s\"", status);
        goto done;
    }
    if (phone && !gw_admin_phone_ok(phone, plen)) {
        fail(rq, 400, "bad_field", "phone",
             "phone must be a Vietnamese mobile in E.164 "
             "(+84 and 9 digits)");
        goto done;
    }
    if (exp && !gw_admin_date_ok(exp, elen)) {
        fail(rq, 400, "bad_field", "expected_at", "expected_at must be a date YYYY-MM-DD");
        goto done;
    }
    if (!(o = op_new(rq, t))) {
        gw_req_error(rq, 500, "internal", "out of memory");
        goto done;
    }
    snprintf(o->code, sizeof o->code, "%s", code);
    snprintf(o->extra, sizeof o->extra, "%s", status);
    char updated[40];
    gw_admin_format_time(gw_now_ms(), updated, sizeof updated);
    gw_argv_adds(&av, "EVAL");
    gw_argv_add(&av, put_lua, sizeof put_lua - 1);
    gw_argv_adds(&av, "1");
    gw_argv_addf(&av, "mc:dossier:%s", code);
    gw_argv_adds(&av, t->dept);
    const char *kv[] = {"dept",        t->dept,        "procedure", proc,    "status",
                        status,        "status_text",  st_text,     "phone", phone ? phone : "",
                        "expected_at", exp ? exp : "", "updated",   updated, "agency",
                        t->dept};
    for (size_t i = 0; i < MC_ARRAY_LEN(kv); i++)
        gw_argv_adds(&av, kv[i]);
    send_or_503(&av, on_put, o);
done:
    gw_argv_free(&av);
    json_decref(b);
}

static void dossier_event(gw_req *rq, const token *t, const char *code) {
    static const char *const allowed[] = {"status", "note", NULL};
    const gw_admin *a = the_admin;
    json_t *b = body_object(rq), *ev = NULL;
    gw_argv av = {0};
    char *evs = NULL;
    op *o = NULL;
    if (!b || !only_fields(rq, b, allowed))
        goto done;
    const char *status, *note;
    if (!str_field(rq, b, "status", "status", ID_MAX, 1, &status, NULL) ||
        !str_field(rq, b, "note", "note", NOTE_MAX, 0, &note, NULL))
        goto done;
    const char *st_text = gw_admin_status_text(a, status);
    if (!st_text) {
        fail(rq, 400, "bad_field", "status", "unknown status \"%s\"", status);
        goto done;
    }
    int64_t now = gw_now_ms();
    char at[40], text[TEXT_MAX + 1], base[2 * EVENT_BASE_BYTES + 1], nowbuf[24];
    gw_admin_format_time(now, at, sizeof at);
    render(note && *a->tpl_event_note ? a->tpl_event_note : a->tpl_event, code, st_text,
           note ? note : "", text, sizeof text);
    random_hex(base, EVENT_BASE_BYTES);
    snprintf(nowbuf, sizeof nowbuf, "%" PRId64, now);
    ev = json_pack("{s:s, s:s, s:s, s:s, s:s}", "status", status, "status_text", st_text, "note",
                   note ? note : "", "at", at, "dept", t->dept);
    evs = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    if (!evs || !(o = op_new(rq, t))) {
        gw_req_error(rq, 500, "internal", "out of memory");
        goto done;
    }
    snprintf(o->code, sizeof o->code, "%s", code);
    snprintf(o->extra, sizeof o->extra, "%s", status);
    gw_argv_adds(&av, "EVAL");
    gw_argv_add(&av, event_lua, sizeof event_lua - 1);
    gw_argv_adds(&av, "4");
    gw_argv_addf(&av, "mc:dossier:%s", code);
    gw_argv_addf(&av, "mc:dossier:%s:history", code);
    gw_argv_addf(&av, "mc:sub:dossier:%s", code);
    gw_argv_adds(&av, "mc:due");
    const char *args[] = {t->dept, status, st_text, at, evs, nowbuf, base, text, code};
    for (size_t i = 0; i < MC_ARRAY_LEN(args); i++)
        gw_argv_adds(&av, args[i]);
    send_or_503(&av, on_event, o);
done:
    gw_argv_free(&av);
    free(evs);
    json_decref(ev);
    json_decref(b);
}

static void on_dossiers(gw_req *rq) {
    char code[GW_ADMIN_CODE_MAX + 1];
    int events;
    const char *m = gw_req_method(rq);
    int is_get = !strcmp(m, "GET") || !strcmp(m, "HEAD");
    const token *t = is_get ? authorize(rq, GW_SCOPE_READ, "read")
                            : authorize(rq, GW_SCOPE_DOSSIERS_WRITE, "dossiers:write");
    if (!t || !dossier_path(rq, code, &events))
        return;
    if (is_get && !events) {
        op *o = op_new(rq, t);
        if (!o) {
            gw_req_error(rq, 500, "internal", "out of memory");
            return;
        }
        snprintf(o->code, sizeof o->code, "%s", code);
        gw_argv av = {0};
        gw_argv_adds(&av, "EVAL");
        gw_argv_add(&av, get_dossier_lua, sizeof get_dossier_lua - 1);
        gw_argv_adds(&av, "2");
        gw_argv_addf(&av, "mc:dossier:%s", code);
        gw_argv_addf(&av, "mc:dossier:%s:history", code);
        send_or_503(&av, on_get_dossier, o);
        gw_argv_free(&av);
    } else if (!strcmp(m, "PUT") && !events)
        dossier_put(rq, t, code);
    else if (!strcmp(m, "POST") && events)
        dossier_event(rq, t, code);
    else
        fail(rq, 405, "method_not_allowed", NULL, "%s is not allowed on this path", m);
}

/* ------------------------------------------------------ notifications */

/* KEYS[1] notification hash, KEYS[2] mc:due, KEYS[3] idempotency key (optional);
 * ARGV: "hash|id", ttl, send_at_ms, id, field/value pairs.
 * Returns {1, "hash|id"} when stored, {0, stored "hash|id"} for a known key. */
static const char notify_lua[] =
    "if #KEYS==3 then\n"
    "  if not redis.call('SET',KEYS[3],ARGV[1],'NX','EX',ARGV[2]) then\n"
    "    return {0,redis.call('GET',KEYS[3])}\n"
    "  end\n"
    "end\n"
    "local a={'HSET',KEYS[1]} for i=5,#ARGV do a[#a+1]=ARGV[i] end\n"
    "redis.call(unpack(a))\n"
    "redis.call('ZADD',KEYS[2],ARGV[3],ARGV[4])\n"
    "return {1,ARGV[1]}\n";

/* KEYS[1] hash, KEYS[2] attempts. {-2} none, else {1, dept, status, attempts}. */
static const char get_notif_lua[] =
    "local h=redis.call('HMGET',KEYS[1],'dept','status')\n"
    "if not h[1] then return {-2} end\n"
    "return {1,h[1],h[2] or '',redis.call('LRANGE',KEYS[2],0,-1)}\n";

static void on_notify(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    op *o = priv;
    if (reply_failed(o, r))
        goto done;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_INTEGER || r->element[1]->type != REDIS_REPLY_STRING) {
        fail(o->rq, 500, "internal", NULL, "unexpected store answer");
        goto done;
    }
    const char *v = r->element[1]->str, *bar = strchr(v, '|');
    if (!bar || (size_t)(bar - v) != 64 || strlen(bar + 1) > NOTIF_ID_MAX) {
        fail(o->rq, 500, "internal", NULL, "unexpected idempotency record");
        goto done;
    }
    if (r->element[0]->integer == 0 && memcmp(v, o->hash, 64)) {
        fail(o->rq, 409, "conflict", "idempotency_key",
             "this idempotency key was used with a different body");
        goto done;
    }
    const char *id = bar + 1;
    gw_log(GW_INFO, r->element[0]->integer ? "admin.notification" : "admin.notification_repeat",
           "{s:s, s:s, s:s}", "dept", o->dept, "id", id, "to", o->extra);
    answer(o->rq, 202, json_pack("{s:s, s:s}", "id", id, "status", "scheduled"));
done:
    op_free(o);
}

/* to → its JSON (owned), the recipient channel ("" for a bare phone) and whether a
 * phone is known. NULL when answered 400. */
static json_t *parse_to(gw_req *rq, json_t *to, const char **channel, int *has_phone) {
    static const char *const allowed[] = {"phone", "channel", "user_id", NULL};
    *channel = "";
    *has_phone = 0;
    if (!json_is_object(to)) {
        fail(rq, 400, to ? "bad_field" : "missing_field", "to",
             "to must be {\"phone\"} or {\"channel\",\"user_id\"}");
        return NULL;
    }
    const char *k;
    json_t *v;
    json_object_foreach(to, k, v) {
        size_t i = 0;
        while (allowed[i] && strcmp(allowed[i], k))
            i++;
        if (!allowed[i]) {
            char path[80];
            snprintf(path, sizeof path, "to.%.60s", k);
            fail(rq, 400, "bad_field", path, "unknown field");
            return NULL;
        }
    }
    const char *phone, *ch, *uid;
    size_t plen = 0, ulen = 0;
    if (!str_field(rq, to, "phone", "to.phone", 16, 0, &phone, &plen) ||
        !str_field(rq, to, "channel", "to.channel", 16, 0, &ch, NULL) ||
        !str_field(rq, to, "user_id", "to.user_id", USER_ID_MAX, 0, &uid, &ulen))
        return NULL;
    if (phone && !gw_admin_phone_ok(phone, plen)) {
        fail(rq, 400, "bad_field", "to.phone",
             "to.phone must be a Vietnamese mobile in E.164 (+84 and 9 digits)");
        return NULL;
    }
    if (!ch != !uid) {
        fail(rq, 400, "missing_field", ch ? "to.user_id" : "to.channel",
             "to.channel and to.user_id go together");
        return NULL;
    }
    if (!ch && !phone) {
        fail(rq, 400, "missing_field", "to", "to needs a phone or a channel and user_id");
        return NULL;
    }
    if (ch && !channel_known(ch)) {
        fail(rq, 400, "bad_field", "to.channel", "unknown channel \"%s\"", ch);
        return NULL;
    }
    if (uid && !user_id_ok(uid, ulen)) {
        fail(rq, 400, "bad_field", "to.user_id", "to.user_id must be printable ASCII");
        return NULL;
    }
    if (ch && !strcmp(ch, "sms") && !gw_admin_phone_ok(uid, ulen)) {
        fail(rq, 400, "bad_field", "to.user_id", "an sms user_id is an E.164 phone");
        return NULL;
    }
    json_t *out = json_object();
    if (ch) {
        json_object_set_new(out, "channel", json_string(ch));
        json_object_set_new(out, "user_id", json_string(uid));
        *channel = json_string_value(json_object_get(to, "channel"));
    }
    if (phone)
        json_object_set_new(out, "phone", json_string(phone));
    *has_phone = phone != NULL || (ch && !strcmp(ch, "sms"));
    return out;
}

static int time_field(gw_req *rq, json_t *b, const char *name, int64_t *ms) {
    const char *s;
    size_t len;
    if (!str_field(rq, b, name, name, 64, 0, &s, &len))
        return 0;
    if (!s)
        return 1;
    if (gw_admin_parse_time(s, len, ms)) {
        fail(rq, 400, "bad_field", name,
             "%s must be an RFC 3339 time such as 2026-11-23T08:00:00+07:00", name);
        return 0;
    }
    return 1;
}

static void notify_post(gw_req *rq) {
    static const char *const allowed[] = {"to",      "text",      "template", "channels",
                                          "send_at", "not_after", "priority", "idempotency_key",
                                          NULL};
    const token *t = authorize(rq, GW_SCOPE_NOTIFY, "notify");
    if (!t)
        return;
    json_t *b = body_object(rq), *to = NULL;
    gw_argv av = {0};
    char *canon = NULL, *tos = NULL, chans[128] = "";
    op *o = NULL;
    if (!b || !only_fields(rq, b, allowed))
        goto done;
    const char *rch;
    int has_phone;
    if (!(to = parse_to(rq, json_object_get(b, "to"), &rch, &has_phone)))
        goto done;
    const char *text, *prio, *key;
    size_t klen = 0;
    if (!str_field(rq, b, "text", "text", TEXT_MAX, 0, &text, NULL) ||
        !str_field(rq, b, "priority", "priority", 16, 0, &prio, NULL) ||
        !str_field(rq, b, "idempotency_key", "idempotency_key", IDEM_KEY_MAX, 0, &key, &klen))
        goto done;
    if (!text) {
        json_t *tpl = json_object_get(b, "template");
        fail(rq, 400, tpl ? "bad_field" : "missing_field", tpl ? "template" : "text",
             tpl ? "templates are not available yet; send text" : "text is required");
        goto done;
    }
    if (prio && strcmp(prio, "normal") && strcmp(prio, "urgent")) {
        fail(rq, 400, "bad_field", "priority", "priority is normal or urgent");
        goto done;
    }
    if (key && !user_id_ok(key, klen)) {
        fail(rq, 400, "bad_field", "idempotency_key", "idempotency_key must be printable ASCII");
        goto done;
    }
    json_t *chs = json_object_get(b, "channels");
    if (chs && !json_is_null(chs)) {
        if (!json_is_array(chs) || json_array_size(chs) == 0 ||
            json_array_size(chs) > GW_N_CHANNELS + 1) {
            fail(rq, 400, "bad_field", "channels", "channels must be a non-empty array");
            goto done;
        }
        size_t i;
        json_t *c;
        json_array_foreach(chs, i, c) {
            char path[32];
            snprintf(path, sizeof path, "channels[%zu]", i);
            const char *cs = json_string_value(c);
            if (!cs || !channel_known(cs)) {
                fail(rq, 400, "bad_field", path, "unknown channel");
                goto done;
            }
            if (strcmp(cs, rch) && !(has_phone && !strcmp(cs, "sms"))) {
                fail(rq, 400, "bad_field", path, "the recipient cannot be reached on %s", cs);
                goto done;
            }
            if (strstr(chans, cs)) {
                fail(rq, 400, "bad_field", path, "%s is listed twice", cs);
                goto done;
            }
            snprintf(chans + strlen(chans), sizeof chans - strlen(chans), "%s%s", *chans ? "," : "",
                     cs);
        }
    } else if (*rch)
        snprintf(chans, sizeof chans, "%s%s", rch, has_phone && strcmp(rch, "sms") ? ",sms" : "");
    else
        snprintf(chans, sizeof chans, "sms");
    int64_t now = gw_now_ms(), send_at = now, not_after = 0;
    if (!time_field(rq, b, "send_at", &send_at) || !time_field(rq, b, "not_after", &not_after))
        goto done;
    if (not_after && not_after <= send_at) {
        fail(rq, 400, "bad_field", "not_after", "not_after must be later than send_at");
        goto done;
    }
    if (not_after && not_after <= now) {
        fail(rq, 400, "bad_field", "not_after", "not_after is in the past");
        goto done;
    }
    canon = json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS);
    tos = json_dumps(to, JSON_COMPACT);
    if (!canon || !tos || !(o = op_new(rq, t))) {
        gw_req_error(rq, 500, "internal", "out of memory");
        goto done;
    }
    sha256_hex(canon, strlen(canon), o->hash);
    random_hex(o->id, NOTIF_ID_BYTES);
    snprintf(o->extra, sizeof o->extra, "%s", tos);
    gw_argv_adds(&av, "EVAL");
    gw_argv_add(&av, notify_lua, sizeof notify_lua - 1);
    gw_argv_adds(&av, key ? "3" : "2");
    gw_argv_addf(&av, "mc:notif:%s", o->id);
    gw_argv_adds(&av, "mc:due");
    if (key)
        gw_argv_addf(&av, "mc:idem:%s:%s", t->dept, key);
    gw_argv_addf(&av, "%s|%s", o->hash, o->id);
    gw_argv_adds(&av, IDEM_TTL_S);
    gw_argv_addf(&av, "%" PRId64, send_at);
    gw_argv_adds(&av, o->id);
    gw_argv_adds(&av, "dept");
    gw_argv_adds(&av, t->dept);
    gw_argv_adds(&av, "status");
    gw_argv_adds(&av, "scheduled");
    gw_argv_adds(&av, "text");
    gw_argv_adds(&av, text);
    gw_argv_adds(&av, "to");
    gw_argv_adds(&av, tos);
    gw_argv_adds(&av, "channels");
    gw_argv_adds(&av, chans);
    gw_argv_adds(&av, "idx");
    gw_argv_adds(&av, "0");
    gw_argv_adds(&av, "send_at_ms");
    gw_argv_addf(&av, "%" PRId64, send_at);
    gw_argv_adds(&av, "not_after_ms");
    gw_argv_addf(&av, "%" PRId64, not_after);
    gw_argv_adds(&av, "priority");
    gw_argv_adds(&av, prio ? prio : "normal");
    gw_argv_adds(&av, "created_ms");
    gw_argv_addf(&av, "%" PRId64, now);
    send_or_503(&av, on_notify, o);
done:
    gw_argv_free(&av);
    free(canon);
    free(tos);
    json_decref(to);
    json_decref(b);
}

static void on_get_notif(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    op *o = priv;
    if (reply_failed(o, r))
        goto done;
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_INTEGER) {
        fail(o->rq, 500, "internal", NULL, "unexpected store answer");
        goto done;
    }
    if (r->element[0]->integer == -2 || r->elements < 4) {
        fail(o->rq, 404, "not_found", NULL, "no notification %s", o->id);
        goto done;
    }
    if (r->element[1]->type != REDIS_REPLY_STRING || strcmp(r->element[1]->str, o->dept)) {
        fail(o->rq, 403, "forbidden", NULL, "notification %s belongs to another department", o->id);
        goto done;
    }
    json_t *att = json_array();
    redisReply *l = r->element[3];
    for (size_t i = 0; i < l->elements; i++) {
        redisReply *e = l->element[i];
        if (e->type != REDIS_REPLY_STRING)
            continue;
        json_t *j = json_loadb(e->str, e->len, 0, NULL);
        json_array_append_new(att, j ? j : json_stringn(e->str, e->len));
    }
    const char *st = r->element[2]->type == REDIS_REPLY_STRING ? r->element[2]->str : "";
    answer(o->rq, 200, json_pack("{s:s, s:s, s:o}", "id", o->id, "status", st, "attempts", att));
done:
    op_free(o);
}

static void notify_get(gw_req *rq) {
    const token *t = authorize(rq, GW_SCOPE_READ, "read");
    if (!t)
        return;
    const char *id = gw_req_path(rq) + strlen(API "notifications/");
    size_t len = strlen(id);
    int ok = len > 0 && len <= NOTIF_ID_MAX;
    for (size_t i = 0; ok && i < len; i++)
        ok = (id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f') || id[i] == '-';
    if (!ok) {
        fail(rq, 404, "not_found", NULL, "no such notification");
        return;
    }
    op *o = op_new(rq, t);
    if (!o) {
        gw_req_error(rq, 500, "internal", "out of memory");
        return;
    }
    snprintf(o->id, sizeof o->id, "%s", id);
    gw_argv av = {0};
    gw_argv_adds(&av, "EVAL");
    gw_argv_add(&av, get_notif_lua, sizeof get_notif_lua - 1);
    gw_argv_adds(&av, "2");
    gw_argv_addf(&av, "mc:notif:%s", id);
    gw_argv_addf(&av, "mc:notif:%s:attempts", id);
    send_or_503(&av, on_get_notif, o);
    gw_argv_free(&av);
}

static void on_notifications(gw_req *rq) {
    if (!strcmp(gw_req_method(rq), "POST"))
        notify_post(rq);
    else
        notify_get(rq);
}

/* ------------------------------------------------------ subscriptions */

/* KEYS[1] subscriber set, KEYS[2] reverse index, KEYS[3] dossier (optional);
 * ARGV: member, reverse member, dept, "add"|"del". -2 no dossier, -1 other dept,
 * else the number of members added or removed. */
static const char sub_lua[] =
    "if #KEYS==3 then\n"
    "  if redis.call('EXISTS',KEYS[3])==0 then return -2 end\n"
    "  if redis.call('HGET',KEYS[3],'dept')~=ARGV[3] then return -1 end\n"
    "end\n"
    "if ARGV[4]=='add' then\n"
    "  local n=redis.call('SADD',KEYS[1],ARGV[1]) redis.call('SADD',KEYS[2],ARGV[2]) return n\n"
    "end\n"
    "local n=redis.call('SREM',KEYS[1],ARGV[1]) redis.call('SREM',KEYS[2],ARGV[2]) return n\n";

static void on_sub(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    op *o = priv;
    int add = o->id[0] == 'a';
    if (reply_failed(o, r))
        goto done;
    if (r->type != REDIS_REPLY_INTEGER) {
        fail(o->rq, 500, "internal", NULL, "unexpected store answer");
        goto done;
    }
    if (r->integer == -2) {
        fail(o->rq, 404, "not_found", "dossier", "no dossier %s", o->code);
        goto done;
    }
    if (r->integer == -1) {
        fail(o->rq, 403, "forbidden", "dossier", "dossier %s belongs to another department",
             o->code);
        goto done;
    }
    gw_log(GW_INFO, add ? "admin.subscribed" : "admin.unsubscribed", "{s:s, s:s, s:I}", "dept",
           o->dept, "subscription", o->extra, "changed", (json_int_t)r->integer);
    if (add)
        answer(o->rq, r->integer ? 201 : 200,
               json_pack("{s:b, s:b}", "subscribed", 1, "created", r->integer > 0));
    else
        answer(o->rq, r->integer ? 200 : 404,
               r->integer ? json_pack("{s:b}", "removed", 1)
                          : json_pack("{s:s, s:s}", "error", "not_found", "message",
                                      "no such subscription"));
done:
    op_free(o);
}

/* Decodes a percent-encoded query value into out; 0 or -1. */
static int query_get(const char *q, size_t qlen, const char *name, char *out, size_t n) {
    size_t nl = strlen(name);
    for (size_t i = 0; i < qlen;) {
        size_t end = i;
        while (end < qlen && q[end] != '&')
            end++;
        if (end - i > nl && !memcmp(q + i, name, nl) && q[i + nl] == '=') {
            size_t o = 0;
            for (size_t k = i + nl + 1; k < end; k++) {
                if (o + 1 >= n)
                    return -1;
                if (q[k] == '%' && k + 2 < end + 1 && k + 2 < qlen && hexval(q[k + 1]) >= 0 &&
                    hexval(q[k + 2]) >= 0) {
                    out[o++] = (char)(hexval(q[k + 1]) << 4 | hexval(q[k + 2]));
                    k += 2;
                } else
                    out[o++] = q[k] == '+' ? ' ' : q[k];
            }
            out[o] = '\0';
            return memchr(out, '\0', o) ? -1 : 0;
        }
        i = end + 1;
    }
    return -1;
}

/* DELETE carries no body here: its fields come from the query string. */
static json_t *query_object(gw_req *rq) {
    static const char *const names[] = {"channel", "user_id", "phone", "dossier", "ward"};
    size_t qlen;
    const char *q = gw_req_query(rq, &qlen);
    json_t *o = json_object();
    char val[256];
    for (size_t i = 0; o && i < MC_ARRAY_LEN(names); i++)
        if (!query_get(q, qlen, names[i], val, sizeof val))
            json_object_set_new(o, names[i], json_string(val));
    return o;
}

static void on_subscriptions(gw_req *rq) {
    static const char *const allowed[] = {"channel", "user_id", "phone", "dossier",
                                          "ward",    "tags",    NULL};
    const gw_admin *a = the_admin;
    const token *t = authorize(rq, GW_SCOPE_NOTIFY, "notify");
    if (!t)
        return;
    int add = !strcmp(gw_req_method(rq), "POST");
    json_t *b = add ? body_object(rq) : query_object(rq);
    gw_argv av = {0};
    op *o = NULL;
    if (!b || !only_fields(rq, b, allowed))
        goto done;
    const char *ch, *uid, *phone, *dossier, *wardv;
    size_t ulen = 0, plen = 0, dlen = 0;
    if (!str_field(rq, b, "channel", "channel", 16, 0, &ch, NULL) ||
        !str_field(rq, b, "user_id", "user_id", USER_ID_MAX, 0, &uid, &ulen) ||
        !str_field(rq, b, "phone", "phone", 16, 0, &phone, &plen) ||
        !str_field(rq, b, "dossier", "dossier", GW_ADMIN_CODE_MAX, 0, &dossier, &dlen) ||
        !str_field(rq, b, "ward", "ward", 96, 0, &wardv, NULL))
        goto done;
    json_t *tags = json_object_get(b, "tags");
    if (tags) {
        size_t i;
        json_t *tg;
        if (!json_is_array(tags) || json_array_size(tags) > MAX_TAGS) {
            fail(rq, 400, "bad_field", "tags", "tags must be an array of at most %d strings",
                 MAX_TAGS);
            goto done;
        }
        json_array_foreach(tags, i, tg) {
            const char *s = json_string_value(tg);
            size_t tl = s ? json_string_length(tg) : 0;
            if (!s || tl == 0 || tl > TAG_MAX || !user_id_ok(s, tl)) {
                char path[32];
                snprintf(path, sizeof path, "tags[%zu]", i);
                fail(rq, 400, "bad_field", path, "a tag is 1..%d printable ASCII bytes", TAG_MAX);
                goto done;
            }
        }
    }
    char who[USER_ID_MAX + 24];
    if (phone) {
        if (ch || uid) {
            fail(rq, 400, "bad_field", "phone", "give phone, or channel and user_id");
            goto done;
        }
        if (!gw_admin_phone_ok(phone, plen)) {
            fail(rq, 400, "bad_field", "phone",
                 "phone must be a Vietnamese mobile in E.164 (+84 and 9 digits)");
            goto done;
        }
        snprintf(who, sizeof who, "sms:%s", phone);
    } else {
        if (!ch || !uid) {
            fail(rq, 400, "missing_field", ch ? "user_id" : "channel",
                 "give phone, or channel and user_id");
            goto done;
        }
        if (!channel_known(ch)) {
            fail(rq, 400, "bad_field", "channel", "unknown channel \"%s\"", ch);
            goto done;
        }
        if (!user_id_ok(uid, ulen) || (!strcmp(ch, "sms") && !gw_admin_phone_ok(uid, ulen))) {
            fail(rq, 400, "bad_field", "user_id", "user_id is not valid for %s", ch);
            goto done;
        }
        snprintf(who, sizeof who, "%s:%s", ch, uid);
    }
    if (!dossier == !wardv) {
        fail(rq, 400, dossier ? "bad_field" : "missing_field", dossier ? "ward" : "dossier",
             "give exactly one of dossier and ward");
        goto done;
    }
    char code[GW_ADMIN_CODE_MAX + 1] = "";
    const ward *w = NULL;
    if (dossier) {
        for (size_t i = 0; i < dlen; i++)
            code[i] = (char)toupper((unsigned char)dossier[i]);
        code[dlen] = '\0';
        if (!gw_admin_code_ok(code, dlen)) {
            fail(rq, 400, "bad_field", "dossier",
                 "the dossier code is not of the form 000.00.25.H29-231122-0001");
            goto done;
        }
    } else {
        if (!(w = find_ward(a, wardv))) {
            fail(rq, 400, "bad_field", "ward", "unknown ward \"%s\"", wardv);
            goto done;
        }
        if (!token_area_ok(t, w->id)) {
            fail(rq, 403, "forbidden", "ward", "ward %s is outside the areas of %s", w->id,
                 t->dept);
            goto done;
        }
    }
    if (!(o = op_new(rq, t))) {
        gw_req_error(rq, 500, "internal", "out of memory");
        goto done;
    }
    snprintf(o->code, sizeof o->code, "%s", code);
    snprintf(o->id, sizeof o->id, "%s", add ? "add" : "del");
    snprintf(o->extra, sizeof o->extra, "%s %s:%s", who, dossier ? "dossier" : "ward",
             dossier ? code : w->id);
    gw_argv_adds(&av, "EVAL");
    gw_argv_add(&av, sub_lua, sizeof sub_lua - 1);
    gw_argv_adds(&av, dossier ? "3" : "2");
    if (dossier)
        gw_argv_addf(&av, "mc:sub:dossier:%s", code);
    else
        gw_argv_addf(&av, "mc:sub:ward:%s", w->id);
    gw_argv_addf(&av, "mc:subs:%s", who);
    if (dossier)
        gw_argv_addf(&av, "mc:dossier:%s", code);
    gw_argv_adds(&av, who);
    if (dossier)
        gw_argv_addf(&av, "dossier:%s", code);
    else
        gw_argv_addf(&av, "ward:%s", w->id);
    gw_argv_adds(&av, t->dept);
    gw_argv_adds(&av, add ? "add" : "del");
    send_or_503(&av, on_sub, o);
done:
    gw_argv_free(&av);
    json_decref(b);
}

/* ---------------------------------------------------------- broadcasts */

/* KEYS[1] mc:bc:<id>, KEYS[2] mc:bc:due, KEYS[3] idempotency key (optional); ARGV:
 * "hash|id", ttl, send_at_ms, id, n wards, the wards' subscriber sets, channels csv, then
 * field/value pairs. Counts the distinct subscribers of those wards on those channels,
 * stores the record with recipients and count:<channel>, queues the id on mc:bc:due.
 * Returns {1, "hash|id", n}, or {0, stored "hash|id", its n} for a known key. */
static const char bc_lua[] =
    "if #KEYS==3 then\n"
    "  if not redis.call('SET',KEYS[3],ARGV[1],'NX','EX',ARGV[2]) then\n"
    "    local v=redis.call('GET',KEYS[3]) local id=string.match(v,'|(.+)$') or ''\n"
    "    return {0,v,tonumber(redis.call('HGET','mc:bc:'..id,'recipients') or '0')}\n"
    "  end\n"
    "end\n"
    "local nw=tonumber(ARGV[5])\n"
    "local want={} for c in string.gmatch(ARGV[6+nw],'[^,]+') do want[c]=0 end\n"
    "local seen,n={},0\n"
    "for i=6,5+nw do\n"
    "  for _,m in ipairs(redis.call('SMEMBERS',ARGV[i])) do\n"
    "    local c=string.match(m,'^([^:]+):')\n"
    "    if c and want[c] and not seen[m] then seen[m]=true n=n+1 want[c]=want[c]+1 end\n"
    "  end\n"
    "end\n"
    "local a={'HSET',KEYS[1]} for i=7+nw,#ARGV do a[#a+1]=ARGV[i] end\n"
    "a[#a+1]='recipients' a[#a+1]=tostring(n)\n"
    "for c,k in pairs(want) do a[#a+1]='count:'..c a[#a+1]=tostring(k) end\n"
    "redis.call(unpack(a))\n"
    "redis.call('ZADD',KEYS[2],ARGV[3],ARGV[4])\n"
    "return {1,ARGV[1],n}\n";

/* KEYS[1] mc:bc:<id>, KEYS[2] mc:bc:due; ARGV dept, id. -2 none, -1 other dept, 0
 * finished or cancelled already, 1 cancelled: the fan-out stops (gw_sched) and its
 * notifications not yet on their way are cancelled when they come due. */
static const char bc_cancel_lua[] =
    "if redis.call('EXISTS',KEYS[1])==0 then return -2 end\n"
    "if redis.call('HGET',KEYS[1],'dept')~=ARGV[1] then return -1 end\n"
    "local st=redis.call('HGET',KEYS[1],'status')\n"
    "if st~='scheduled' and st~='fanning' and st~='sending' then return 0 end\n"
    "redis.call('HSET',KEYS[1],'status','cancelled')\n"
    "redis.call('ZREM',KEYS[2],ARGV[2])\n"
    "redis.call('DEL',KEYS[1]..':seen')\n"
    "return 1\n";

static void on_bc(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    op *o = priv;
    if (reply_failed(o, r))
        goto done;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
        r->element[0]->type != REDIS_REPLY_INTEGER || r->element[1]->type != REDIS_REPLY_STRING ||
        r->element[2]->type != REDIS_REPLY_INTEGER) {
        fail(o->rq, 500, "internal", NULL, "unexpected store answer");
        goto done;
    }
    const char *v = r->element[1]->str, *bar = strchr(v, '|');
    if (!bar || (size_t)(bar - v) != 64 || strlen(bar + 1) > NOTIF_ID_MAX) {
        fail(o->rq, 500, "internal", NULL, "unexpected idempotency record");
        goto done;
    }
    if (r->element[0]->integer == 0 && memcmp(v, o->hash, 64)) {
        fail(o->rq, 409, "conflict", "idempotency_key",
             "this idempotency key was used with a different body");
        goto done;
    }
    const char *id = bar + 1;
    gw_log(GW_INFO, r->element[0]->integer ? "admin.broadcast" : "admin.broadcast_repeat",
           "{s:s, s:s, s:s, s:I}", "dept", o->dept, "id", id, "wards", o->extra, "recipients",
           (json_int_t)r->element[2]->integer);
    answer(o->rq, 202,
           json_pack("{s:s, s:I}", "id", id, "recipients", (json_int_t)r->element[2]->integer));
done:
    op_free(o);
}

/* Appends the strings of a JSON array field (each checked by ok) to csv; 1 or 0 when
 * answered 400. */
static int csv_array(gw_req *rq, json_t *arr, const char *path, size_t max_items,
                     int (*ok)(const gw_admin *, const token *, const char *, char *, size_t),
                     const token *t, char *csv, size_t n) {
    size_t i;
    json_t *v;
    if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > max_items) {
        fail(rq, 400, "bad_field", path, "%s must be an array of 1..%zu strings", path, max_items);
        return 0;
    }
    json_array_foreach(arr, i, v) {
        char ip[64], canon[ID_MAX + 2];
        snprintf(ip, sizeof ip, "%s[%zu]", path, i);
        const char *s = json_string_value(v);
        int rc = s ? ok(the_admin, t, s, canon, sizeof canon) : 400;
        if (rc) {
            fail(rq, rc, rc == 403 ? "forbidden" : "bad_field", ip,
                 rc == 403 ? "outside the areas of this department" : "unknown value");
            return 0;
        }
        size_t cl = strlen(canon), used = strlen(csv);
        char probe[ID_MAX + 4];
        snprintf(probe, sizeof probe, ",%s,", canon);
        char *with = malloc(used + 3);
        if (with) {
            snprintf(with, used + 3, ",%s,", csv);
            int dup = strstr(with, probe) != NULL;
            free(with);
            if (dup) {
                fail(rq, 400, "bad_field", ip, "listed twice");
                return 0;
            }
        }
        if (used + cl + 2 > n) {
            fail(rq, 400, "bad_field", path, "%s is too long", path);
            return 0;
        }
        snprintf(csv + used, n - used, "%s%s", used ? "," : "", canon);
    }
    return 1;
}

static int bc_ward_ok(const gw_admin *a, const token *t, const char *s, char *canon, size_t n) {
    const ward *w = find_ward(a, s);
    if (!w)
        return 400;
    if (!token_area_ok(t, w->id))
        return 403;
    snprintf(canon, n, "%s", w->id);
    return 0;
}

static int bc_channel_ok(const gw_admin *a, const token *t, const char *s, char *canon, size_t n) {
    (void)a, (void)t;
    if (!channel_known(s))
        return 400;
    snprintf(canon, n, "%s", s);
    return 0;
}

static int bc_tag_ok(const gw_admin *a, const token *t, const char *s, char *canon, size_t n) {
    (void)a, (void)t;
    size_t len = strlen(s);
    if (len == 0 || len > TAG_MAX || !user_id_ok(s, len) || strchr(s, ','))
        return 400;
    snprintf(canon, n, "%s", s);
    return 0;
}

static void bc_post(gw_req *rq) {
    static const char *const allowed[] = {"audience", "text",     "send_at",         "not_after",
                                          "priority", "template", "idempotency_key", NULL};
    static const char *const aud_allowed[] = {"wards", "channels", "tags", NULL};
    const token *t = authorize(rq, GW_SCOPE_BROADCAST, "broadcast");
    if (!t)
        return;
    json_t *b = body_object(rq);
    gw_argv av = {0};
    char *canon = NULL, wards[MAX_AREAS * ID_MAX] = "", chans[128] = "", tags[MAX_TAGS * 40] = "";
    op *o = NULL;
    if (!b || !only_fields(rq, b, allowed))
        goto done;
    json_t *aud = json_object_get(b, "audience");
    if (!json_is_object(aud)) {
        fail(rq, 400, aud ? "bad_field" : "missing_field", "audience",
             "audience must be {\"wards\": [...], \"channels\": [...], \"tags\": [...]}");
        goto done;
    }
    const char *k;
    json_t *v;
    json_object_foreach(aud, k, v) {
        size_t i = 0;
        while (aud_allowed[i] && strcmp(aud_allowed[i], k))
            i++;
        if (!aud_allowed[i]) {
            char path[80];
            snprintf(path, sizeof path, "audience.%.60s", k);
            fail(rq, 400, "bad_field", path, "unknown field");
            goto done;
        }
    }
    if (!csv_array(rq, json_object_get(aud, "wards"), "audience.wards", MAX_AREAS, bc_ward_ok, t,
                   wards, sizeof wards))
        goto done;
    json_t *chs = json_object_get(aud, "channels");
    if (chs && !csv_array(rq, chs, "audience.channels", GW_N_CHANNELS + 1, bc_channel_ok, t, chans,
                          sizeof chans))
        goto done;
    if (!chs) {
        for (size_t i = 0; i < GW_N_CHANNELS; i++)
            snprintf(chans + strlen(chans), sizeof chans - strlen(chans), "%s,",
                     gw_channel_names[i]);
        snprintf(chans + strlen(chans), sizeof chans - strlen(chans), "webchat");
    }
    json_t *tg = json_object_get(aud, "tags");
    if (tg && !csv_array(rq, tg, "audience.tags", MAX_TAGS, bc_tag_ok, t, tags, sizeof tags))
        goto done;
    const char *text, *prio, *key;
    size_t klen = 0;
    if (!str_field(rq, b, "text", "text", TEXT_MAX, 0, &text, NULL) ||
        !str_field(rq, b, "priority", "priority", 16, 0, &prio, NULL) ||
        !str_field(rq, b, "idempotency_key", "idempotency_key", IDEM_KEY_MAX, 0, &key, &klen))
        goto done;
    if (!text) {
        json_t *tpl = json_object_get(b, "template");
        fail(rq, 400, tpl ? "bad_field" : "missing_field", tpl ? "template" : "text",
             tpl ? "templates are not available yet; send text" : "text is required");
        goto done;
    }
    if (prio && strcmp(prio, "normal") && strcmp(prio, "urgent")) {
        fail(rq, 400, "bad_field", "priority", "priority is normal or urgent");
        goto done;
    }
    if (key && !user_id_ok(key, klen)) {
        fail(rq, 400, "bad_field", "idempotency_key", "idempotency_key must be printable ASCII");
        goto done;
    }
    int64_t now = gw_now_ms(), send_at = now, not_after = 0;
    if (!time_field(rq, b, "send_at", &send_at) || !time_field(rq, b, "not_after", &not_after))
        goto done;
    if (not_after && (not_after <= send_at || not_after <= now)) {
        fail(rq, 400, "bad_field", "not_after", "not_after must be later than send_at and now");
        goto done;
    }
    canon = json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS);
    if (!canon || !(o = op_new(rq, t))) {
        gw_req_error(rq, 500, "internal", "out of memory");
        goto done;
    }
    sha256_hex(canon, strlen(canon), o->hash);
    random_hex(o->id, NOTIF_ID_BYTES);
    size_t wl = strlen(wards) < sizeof o->extra ? strlen(wards) : sizeof o->extra - 1;
    memcpy(o->extra, wards, wl); /* for the log line; long lists are cut */
    o->extra[wl] = '\0';
    gw_argv_adds(&av, "EVAL");
    gw_argv_add(&av, bc_lua, sizeof bc_lua - 1);
    gw_argv_adds(&av, key ? "3" : "2");
    gw_argv_addf(&av, "mc:bc:%s", o->id);
    gw_argv_adds(&av, "mc:bc:due");
    if (key)
        gw_argv_addf(&av, "mc:idem:%s:bc:%s", t->dept, key);
    gw_argv_addf(&av, "%s|%s", o->hash, o->id);
    gw_argv_adds(&av, IDEM_TTL_S);
    gw_argv_addf(&av, "%" PRId64, send_at);
    gw_argv_adds(&av, o->id);
    size_t nw = 1;
    for (const char *p = wards; *p; p++)
        nw += *p == ',';
    gw_argv_addf(&av, "%zu", nw);
    for (const char *p = wards; *p;) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        gw_argv_addf(&av, "mc:sub:ward:%.*s", (int)l, p);
        p += l + (e != NULL);
    }
    gw_argv_adds(&av, chans);
    const char *kv[] = {
        "dept", t->dept,    "status", "scheduled", "text", text,       "wards",
        wards,  "channels", chans,    "tags",      tags,   "priority", prio ? prio : "normal"};
    for (size_t i = 0; i < MC_ARRAY_LEN(kv); i++)
        gw_argv_adds(&av, kv[i]);
    gw_argv_adds(&av, "send_at_ms");
    gw_argv_addf(&av, "%" PRId64, send_at);
    gw_argv_adds(&av, "not_after_ms");
    gw_argv_addf(&av, "%" PRId64, not_after);
    gw_argv_adds(&av, "created_ms");
    gw_argv_addf(&av, "%" PRId64, now);
    send_or_503(&av, on_bc, o);
done:
    gw_argv_free(&av);
    free(canon);
    json_decref(b);
}

static void on_bc_get(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    op *o = priv;
    if (reply_failed(o, r))
        goto done;
    if (r->type != REDIS_REPLY_ARRAY) {
        fail(o->rq, 500, "internal", NULL, "unexpected store answer");
        goto done;
    }
    if (r->elements == 0) {
        fail(o->rq, 404, "not_found", NULL, "no broadcast %s", o->id);
        goto done;
    }
    const char *dept = "", *status = "";
    int fan_done = 0;
    /* count:<ch> (at creation), fanned:<ch> (notifications written by the
     * scheduler), st:<status>:<ch> (their outcomes, gw_sched.h GW_BC_NOTE_LUA) */
    json_t *d = json_object(), *by_ch = json_object(), *fanned = json_object();
    json_t *counts = json_object();
    json_object_set_new(d, "id", json_string(o->id));
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        redisReply *kr = r->element[i], *vr = r->element[i + 1];
        if (kr->type != REDIS_REPLY_STRING || vr->type != REDIS_REPLY_STRING)
            continue;
        long long n = strtoll(vr->str, NULL, 10);
        const char *colon = !strncmp(kr->str, "st:", 3) ? strchr(kr->str + 3, ':') : NULL;
        if (!strcmp(kr->str, "dept"))
            dept = vr->str;
        else if (!strcmp(kr->str, "status"))
            status = vr->str;
        else if (!strcmp(kr->str, "fan_done_ms"))
            fan_done = 1;
        if (!strncmp(kr->str, "count:", 6))
            json_object_set_new(by_ch, kr->str + 6, json_integer(n));
        else if (!strncmp(kr->str, "fanned:", 7))
            json_object_set_new(fanned, kr->str + 7, json_integer(n));
        else if (colon) {
            char st[32];
            snprintf(st, sizeof st, "%.*s", (int)(colon - kr->str - 3), kr->str + 3);
            json_t *per = json_object_get(counts, st);
            if (!per)
                json_object_set_new(counts, st, per = json_object());
            if (n > 0)
                json_object_set_new(per, colon + 1, json_integer(n));
        } else if (!strcmp(kr->str, "recipients") || !strcmp(kr->str, "send_at_ms") ||
                   !strcmp(kr->str, "not_after_ms") || !strcmp(kr->str, "created_ms") ||
                   !strcmp(kr->str, "fanned") || !strcmp(kr->str, "finished") ||
                   !strcmp(kr->str, "fan_started_ms") || !strcmp(kr->str, "fan_done_ms"))
            json_object_set_new(d, kr->str, json_integer(n));
        else if (strcmp(kr->str, "text") && strcmp(kr->str, "cursor") &&
                 strcmp(kr->str, "ward_idx") && strcmp(kr->str, "scan_run"))
            json_object_set_new(d, kr->str, json_stringn(vr->str, vr->len));
    }
    if (strcmp(dept, o->dept)) {
        json_decref(d);
        json_decref(by_ch);
        json_decref(fanned);
        json_decref(counts);
        fail(o->rq, 403, "forbidden", NULL, "broadcast %s belongs to another department", o->id);
        goto done;
    }
    /* What has no outcome yet is scheduled (not fanned out yet, or on its way);
     * recipients never fanned out of a cancelled broadcast are cancelled. */
    const char *ch;
    json_t *cv;
    json_object_foreach(fanned, ch, cv) {
        if (!json_object_get(by_ch, ch))
            json_object_set_new(by_ch, ch, json_integer(0));
    }
    int cancelled = !strcmp(status, "cancelled");
    json_object_foreach(by_ch, ch, cv) {
        long long f = json_integer_value(json_object_get(fanned, ch));
        long long c = json_integer_value(cv);
        long long total = fan_done || f > c ? f : c, settled = 0;
        const char *sk;
        json_t *per;
        json_object_foreach(counts, sk, per) {
            settled += json_integer_value(json_object_get(per, ch));
        }
        long long rest = total - settled;
        if (cancelled && total > f) {
            json_t *cc = json_object_get(counts, "cancelled");
            if (!cc)
                json_object_set_new(counts, "cancelled", cc = json_object());
            json_object_set_new(
                cc, ch, json_integer(json_integer_value(json_object_get(cc, ch)) + total - f));
            rest -= total - f;
        }
        if (rest > 0 || !strcmp(status, "scheduled")) {
            json_t *sc = json_object_get(counts, "scheduled");
            if (!sc)
                json_object_set_new(counts, "scheduled", sc = json_object());
            json_object_set_new(sc, ch, json_integer(rest));
        }
    }
    const char *sk;
    json_t *per;
    void *tmp;
    json_object_foreach_safe(counts, tmp, sk, per) {
        if (json_object_size(per) == 0)
            json_object_del(counts, sk);
    }
    json_decref(by_ch);
    json_decref(fanned);
    json_object_set_new(d, "counts", counts);
    answer(o->rq, 200, d);
done:
    op_free(o);
}

static void on_bc_cancel(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    op *o = priv;
    if (reply_failed(o, r))
        goto done;
    if (r->type != REDIS_REPLY_INTEGER) {
        fail(o->rq, 500, "internal", NULL, "unexpected store answer");
        goto done;
    }
    if (r->integer == -2)
        fail(o->rq, 404, "not_found", NULL, "no broadcast %s", o->id);
    else if (r->integer == -1)
        fail(o->rq, 403, "forbidden", NULL, "broadcast %s belongs to another department", o->id);
    else if (r->integer == 0)
        fail(o->rq, 409, "conflict", NULL, "broadcast %s is no longer scheduled", o->id);
    else {
        gw_log(GW_INFO, "admin.broadcast_cancelled", "{s:s, s:s}", "dept", o->dept, "id", o->id);
        answer(o->rq, 200, json_pack("{s:s, s:s}", "id", o->id, "status", "cancelled"));
    }
done:
    op_free(o);
}

static void on_broadcasts(gw_req *rq) {
    const char *m = gw_req_method(rq);
    if (!strcmp(m, "POST")) {
        bc_post(rq);
        return;
    }
    int del = !strcmp(m, "DELETE");
    const token *t =
        del ? authorize(rq, GW_SCOPE_BROADCAST, "broadcast") : authorize(rq, GW_SCOPE_READ, "read");
    if (!t)
        return;
    const char *id = gw_req_path(rq) + strlen(API "broadcasts/");
    size_t len = strlen(id);
    int ok = len > 0 && len <= NOTIF_ID_MAX;
    for (size_t i = 0; ok && i < len; i++)
        ok = (id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f');
    if (!ok) {
        fail(rq, 404, "not_found", NULL, "no such broadcast");
        return;
    }
    op *o = op_new(rq, t);
    if (!o) {
        gw_req_error(rq, 500, "internal", "out of memory");
        return;
    }
    snprintf(o->id, sizeof o->id, "%s", id);
    gw_argv av = {0};
    if (del) {
        gw_argv_adds(&av, "EVAL");
        gw_argv_add(&av, bc_cancel_lua, sizeof bc_cancel_lua - 1);
        gw_argv_adds(&av, "2");
        gw_argv_addf(&av, "mc:bc:%s", id);
        gw_argv_adds(&av, "mc:bc:due");
        gw_argv_adds(&av, t->dept);
        gw_argv_adds(&av, id);
        send_or_503(&av, on_bc_cancel, o);
    } else {
        gw_argv_adds(&av, "HGETALL");
        gw_argv_addf(&av, "mc:bc:%s", id);
        send_or_503(&av, on_bc_get, o);
    }
    gw_argv_free(&av);
}

/* -------------------------------------------------------------- wiring */

int gw_admin_open(gw_app *app, const char *share_dir, gw_admin **out, char *err, size_t errlen) {
    *out = NULL;
    if (!*app->cfg->admin_tokens_file)
        return 0;
    gw_admin *a = gw_admin_new(app->cfg->admin_tokens_file, share_dir, err, errlen);
    if (!a)
        return MC_EPARSE;
    int rc = 0;
    rc |= gw_http_route(app, API "dossiers/", API "dossiers", GW_M_GET | GW_M_PUT | GW_M_POST,
                        on_dossiers);
    rc |= gw_http_route(app, API "notifications", API "notifications", GW_M_POST, on_notifications);
    rc |= gw_http_route(app, API "notifications/", API "notifications/{id}", GW_M_GET,
                        on_notifications);
    rc |= gw_http_route(app, API "broadcasts", API "broadcasts", GW_M_POST, on_broadcasts);
    rc |= gw_http_route(app, API "broadcasts/", API "broadcasts/{id}", GW_M_GET | GW_M_DELETE,
                        on_broadcasts);
    rc |= gw_http_route(app, API "subscriptions", API "subscriptions", GW_M_POST | GW_M_DELETE,
                        on_subscriptions);
    if (rc) {
        snprintf(err, errlen, "too many HTTP routes (GW_HTTP_MAX_ROUTES)");
        gw_admin_free(a);
        return MC_ETOOBIG;
    }
    the_admin = a;
    *out = a;
    gw_log(GW_INFO, "admin.ready", "{s:I, s:I}", "tokens", (json_int_t)a->n_tokens, "statuses",
           (json_int_t)a->n_statuses);
    return 0;
}
