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
 * notification templates are data (gateway/api/data/statuses.txt).
 *
 * The validation of one notification and of one broadcast, and the script that
 * writes notifications, are exported (gw_admin.h) so that the console's batch
 * and preview (gw_console.c) judge and write exactly as these endpoints do. A
 * body naming a department template is checked in full first, then the template
 * is read and rendered, then the rendered text is written: two round trips,
 * still one write.
 */
#include "gateway/api/gw_admin.h"

#include "core/mc.h"
#include "gateway/store/gw_lua.h"
#include "gateway/app/gw_channels.h"
#include "gateway/app/gw_clock.h"
#include "gateway/api/gw_console.h"
#include "gateway/net/gw_http.h"
#include "gateway/app/gw_log.h"
#include "intents/nlu_catalog.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_AREAS GW_ADMIN_MAX_AREAS       /* areas of one token */
#define MAX_WARDS 512                      /* rows of wards.csv */
#define MAX_PROCEDURES 64                  /* ids of procedures.txt */
#define ID_MAX GW_ADMIN_ID_MAX             /* status/procedure/ward ids, bytes */
#define WORDING_MAX 400                    /* a status wording or a template, bytes */
#define TEXT_MAX GW_ADMIN_TEXT_MAX         /* a notification text, bytes */
#define NOTE_MAX 500                       /* a dossier event note, bytes */
#define USER_ID_MAX 128                    /* a channel's user id, bytes */
#define IDEM_KEY_MAX 128                   /* an idempotency key, bytes */
#define IDEM_TTL_S "604800"                /* idempotency keys are remembered 7 days */
#define MAX_TAGS GW_ADMIN_MAX_TAGS         /* tags of a subscription */
#define TAG_MAX 32                         /* one tag, bytes */
#define NOTIF_ID_BYTES 16                  /* random bytes of a notification id (32 hex) */
#define EVENT_BASE_BYTES 12                /* random bytes of an event's notification id base */
#define NOTIF_ID_MAX GW_ADMIN_NOTIF_ID_MAX /* longest notification id accepted in a path */
#define LIST_LIMIT_MAX 100                 /* dossiers one GET /dossiers answers at most */
#define LIST_SCAN_MAX "100000"             /* index entries one listing looks at, at most */
#define VN_OFFSET_MS (7 * 3600 * 1000LL)   /* Asia/Ho_Chi_Minh, UTC+7, no DST */
#define API "/api/v1/"

/* ---------------------------------------------------------------- tables */

typedef struct gw_admin_token token;
struct gw_admin_token {
    char dept[GW_ADMIN_DEPT_MAX + 1];         /* department id */
    unsigned char hash[SHA256_DIGEST_LENGTH]; /* sha256 of the token */
    unsigned scopes;                          /* GW_SCOPE_* */
    int all_areas;                            /* areas = '*' */
    char areas[MAX_AREAS][ID_MAX];            /* ward ids */
    size_t n_areas;                           /* used entries of areas */
    const struct gw_admin *a;                 /* the module that loaded it */
};

typedef struct status_entry {
    char id[ID_MAX];            /* e.g. ready_for_pickup */
    char text[WORDING_MAX + 1]; /* Vietnamese wording */
} status_entry;

struct gw_admin {
    token *tokens;                                /* owned, n_tokens entries */
    size_t n_tokens;                              /* used entries */
    status_entry statuses[GW_ADMIN_MAX_STATUSES]; /* statuses.txt */
    size_t n_statuses;                            /* used entries */
    char tpl_event[WORDING_MAX + 1];              /* template dossier_event */
    char tpl_event_note[WORDING_MAX + 1];         /* template dossier_event_note, "" = none */
    gw_app *app;                                  /* the process, borrowed (NULL in tests) */
    const gw_shared *data;                        /* wards and procedures, borrowed */
};

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

static const gw_ward *find_ward(const gw_admin *a, const char *s) {
    return gw_shared_ward_find(a->data, s);
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
        const gw_ward *w = find_ward(a, parts[i]);
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
    t->a = a;
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

gw_admin *gw_admin_new(const gw_shared *data, const char *tokens_file, const char *share_dir,
                       char *err, size_t errlen) {
    char path[4096];
    gw_admin *a = calloc(1, sizeof *a);
    if (!a || !(a->tokens = calloc(GW_ADMIN_MAX_TOKENS, sizeof *a->tokens))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    a->data = data;
    snprintf(path, sizeof path, "%s/gateway/api/data/statuses.txt", share_dir);
    if (read_lines(a, path, status_line, err, errlen))
        goto fail;
    if (a->n_statuses == 0 || !*a->tpl_event) {
        snprintf(err, errlen, "%s: needs at least one status and template dossier_event", path);
        goto fail;
    }
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
    free(a->tokens);
    free(a);
}

const char *gw_admin_status_text(const gw_admin *a, const char *status) {
    for (size_t i = 0; i < a->n_statuses; i++)
        if (!strcmp(a->statuses[i].id, status))
            return a->statuses[i].text;
    return NULL;
}

static int procedure_ok(const gw_admin *a, const char *p) {
    return gw_shared_procedure_ok(a->data, p);
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

int gw_admin_err_set(gw_admin_err *e, int status, const char *code, const char *field,
                     const char *fmt, ...) {
    e->status = status;
    snprintf(e->code, sizeof e->code, "%s", code);
    snprintf(e->field, sizeof e->field, "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return 0;
}

static void answer_error(gw_req *rq, int status, const char *code, const char *field,
                         const char *msg) {
    json_t *o = json_pack("{s:s, s:s}", "error", code, "message", msg);
    if (o && field && *field)
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
    answer_error(rq, status, code, field, msg);
}

void gw_admin_fail(gw_req *rq, int status, const char *code, const char *field, const char *fmt,
                   ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    answer_error(rq, status, code, field, msg);
}

static void fail_err(gw_req *rq, const gw_admin_err *e) {
    answer_error(rq, e->status ? e->status : 400, e->code, e->field, e->message);
}

void gw_admin_fail_err(gw_req *rq, const gw_admin_err *e) {
    fail_err(rq, e);
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

void gw_admin_answer(gw_req *rq, int status, json_t *o) {
    answer(rq, status, o);
}

static void unavailable(gw_req *rq) {
    fail(rq, 503, "unavailable", NULL, "the store is unavailable; nothing was written, retry");
}

/* Token and scope (any of the mask; 0 = any valid token); NULL when already
 * answered (401/403). */
static const token *authorize(const gw_admin *a, gw_req *rq, unsigned scope,
                              const char *scope_name) {
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
    if (scope && !(t->scopes & scope)) {
        fail(rq, 403, "forbidden", NULL, "the token of %s lacks the scope %s", t->dept, scope_name);
        return NULL;
    }
    return t;
}

const gw_admin_token *gw_admin_authorize(const gw_admin *a, gw_req *rq, unsigned scopes,
                                         const char *scope_name) {
    return authorize(a, rq, scopes, scope_name);
}

const char *gw_admin_token_dept(const gw_admin_token *t) {
    return t->dept;
}

int gw_admin_token_area_ok(const gw_admin_token *t, const char *ward_id) {
    return token_area_ok(t, ward_id);
}

json_t *gw_admin_token_json(const gw_admin_token *t) {
    json_t *scopes = json_array(), *areas = json_array();
    for (size_t i = 0; i < MC_ARRAY_LEN(scope_names); i++)
        if (t->scopes & 1u << i)
            json_array_append_new(scopes, json_string(scope_names[i]));
    if (t->all_areas)
        json_array_append_new(areas, json_string("*"));
    else
        for (size_t i = 0; i < t->n_areas; i++)
            json_array_append_new(areas, json_string(t->areas[i]));
    return json_pack("{s:s, s:o, s:o}", "department", t->dept, "scopes", scopes, "areas", areas);
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

json_t *gw_admin_body(gw_req *rq) {
    return body_object(rq);
}

/* Rejects fields not in allowed (NULL-terminated); prefix ("" or "to.") goes
 * before the name in the error. 1 when fine, 0 with e set. */
static int only_fields_in(gw_admin_err *e, json_t *o, const char *const *allowed,
                          const char *prefix) {
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        size_t i = 0;
        while (allowed[i] && strcmp(allowed[i], k))
            i++;
        if (!allowed[i]) {
            char path[96];
            snprintf(path, sizeof path, "%s%.60s", prefix, k);
            return gw_admin_err_set(e, 400, "bad_field", path, "unknown field");
        }
    }
    return 1;
}

static int only_fields(gw_admin_err *e, json_t *o, const char *const *allowed) {
    return only_fields_in(e, o, allowed, "");
}

/* A string field of at most max bytes: *out (borrowed) or NULL when absent.
 * Returns 1, or 0 with e set. */
static int str_field(gw_admin_err *e, json_t *o, const char *name, const char *path, size_t max,
                     int required, const char **out, size_t *outlen) {
    json_t *v = json_object_get(o, name);
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (required)
            return gw_admin_err_set(e, 400, "missing_field", path, "%s is required", path);
        return 1;
    }
    if (!json_is_string(v))
        return gw_admin_err_set(e, 400, "bad_field", path, "%s must be a string", path);
    size_t len = json_string_length(v);
    if (len == 0 || len > max)
        return gw_admin_err_set(e, 400, "bad_field", path, "%s must be 1..%zu bytes", path, max);
    const char *s = json_string_value(v);
    if (memchr(s, '\0', len))
        return gw_admin_err_set(e, 400, "bad_field", path, "%s must not contain NUL", path);
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

void gw_admin_random_hex(char *out, size_t nbytes) {
    random_hex(out, nbytes);
}

static void sha256_hex(const char *s, size_t len, char out[65]) {
    unsigned char h[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)s, len, h);
    for (size_t i = 0; i < sizeof h; i++)
        sprintf(out + 2 * i, "%02x", h[i]);
}

void gw_admin_sha256_hex(const char *s, size_t len, char out[65]) {
    sha256_hex(s, len, out);
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
    const token *t;                   /* the caller's token (lives as long as the module) */
    char dept[GW_ADMIN_DEPT_MAX + 1]; /* the caller's department */
    char code[GW_ADMIN_CODE_MAX + 1]; /* dossier code, when any */
    char id[NOTIF_ID_MAX + 1];        /* notification id, when any */
    char hash[65];                    /* canonical body hash (idempotency) */
    char extra[256];                  /* what the log line needs */
    json_t *body;                     /* owned: the body notif/bc borrow from, or NULL */
    gw_admin_notif notif;             /* POST /notifications */
    gw_admin_bc bc;                   /* POST /broadcasts */
    /* the text step shared by both (post_with_text) */
    json_t *tpl_data;            /* borrowed from body: the template's data */
    char **out_text;             /* where the text to write goes (notif or bc) */
    void (*write)(struct op *o); /* the write that follows */
} op;

static op *op_new(gw_req *rq, const token *t) {
    op *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->rq = gw_req_ref(rq);
    o->t = t;
    snprintf(o->dept, sizeof o->dept, "%s", t->dept);
    return o;
}

static void op_free(op *o) {
    gw_admin_notif_clear(&o->notif);
    gw_admin_bc_clear(&o->bc);
    json_decref(o->body);
    gw_req_unref(o->rq);
    free(o);
}

/* Sends a; on failure answers 503 and frees o. */
static void send_or_503(gw_argv *a, gw_store_cb *cb, op *o) {
    gw_store *st = o->t->a->app->store;
    if (!st || gw_argv_send(st, a, cb, o)) {
        unavailable(o->rq);
        op_free(o);
    }
}

int gw_admin_store_failed(gw_req *rq, const char *dept, const redisReply *r) {
    if (!r || r->type == REDIS_REPLY_ERROR) {
        gw_log(GW_ERROR, "admin.store_failed", "{s:s, s:s}", "dept", dept, "error",
               r && r->str ? r->str : "connection lost");
        if (r)
            fail(rq, 500, "internal", NULL, "the store refused the write");
        else
            unavailable(rq);
        return 1;
    }
    return 0;
}

static int reply_failed(op *o, redisReply *r) {
    return gw_admin_store_failed(o->rq, o->dept, r);
}

/* The leading status integer of a script's array answer, or LLONG_MIN once the
 * request has been answered (store down, or an answer of another shape). */
static long long script_status(op *o, redisReply *r) {
    if (reply_failed(o, r))
        return LLONG_MIN;
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_INTEGER) {
        fail(o->rq, 500, "internal", NULL, "unexpected store answer");
        return LLONG_MIN;
    }
    return r->element[0]->integer;
}

/* ----------------------------------------------------------- dossiers */

/* KEYS[1] dossier, KEYS[2] the department's index mc:dossiers:<dept>; ARGV[1] dept,
 * ARGV[2] now_ms, ARGV[3] code, then field/value pairs. -1 other dept; else 1 when
 * it existed, 0 when created. */
static const char put_lua[] = "local d=redis.call('HGET',KEYS[1],'dept')\n"
                              "if d and d~=ARGV[1] then return -1 end\n"
                              "local existed=redis.call('EXISTS',KEYS[1])\n"
                              "redis.call('DEL',KEYS[1])\n"
                              "local a={'HSET',KEYS[1]} for i=4,#ARGV do a[#a+1]=ARGV[i] end\n"
                              "redis.call(unpack(a))\n"
                              "redis.call('ZADD',KEYS[2],ARGV[2],ARGV[3])\n"
                              "return existed\n";

/* KEYS[1] dossier, KEYS[2] history, KEYS[3] subscribers, KEYS[4] mc:due, KEYS[5] the
 * department's index; ARGV: dept, status, status_text, updated, event json, now_ms, id
 * base, text, code. Returns {-2} no dossier, {-1} other dept, else {1, ids...}.
 * GET /dossiers/{code} lists the same recipients (notify_list): keep them in step. */
static const char event_lua[] =
    "if redis.call('EXISTS',KEYS[1])==0 then return {-2} end\n"
    "if redis.call('HGET',KEYS[1],'dept')~=ARGV[1] then return {-1} end\n"
    "redis.call('HSET',KEYS[1],'status',ARGV[2],'status_text',ARGV[3],'updated',ARGV[4])\n"
    "redis.call('RPUSH',KEYS[2],ARGV[5])\n"
    "redis.call('ZADD',KEYS[5],ARGV[6],ARGV[9])\n"
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

/* KEYS[1] dossier, KEYS[2] history, KEYS[3] subscribers. {-2} none, else {1, hash
 * pairs, history, subscribers}. */
static const char get_dossier_lua[] =
    "local h=redis.call('HGETALL',KEYS[1])\n"
    "if #h==0 then return {-2} end\n"
    "return {1,h,redis.call('LRANGE',KEYS[2],0,-1),redis.call('SMEMBERS',KEYS[3])}\n";

/* KEYS[1] mc:dossiers:<dept>; ARGV dept, q (upper case, "" = all), limit, scan cap.
 * The department's dossiers whose code contains q, newest first: {{code, procedure,
 * status, status_text, updated}, ...}. */
static const char list_lua[] =
    "local out,pos,lim,cap={},0,tonumber(ARGV[3]),tonumber(ARGV[4])\n"
    "while #out<lim and pos<cap do\n"
    "  local codes=redis.call('ZREVRANGE',KEYS[1],pos,pos+199)\n"
    "  if #codes==0 then break end\n"
    "  for _,c in ipairs(codes) do\n"
    "    if #out>=lim then break end\n"
    "    if ARGV[2]=='' or string.find(c,ARGV[2],1,true) then\n"
    "      local h=redis.call('HMGET','mc:dossier:'..c,'dept','procedure','status',\n"
    "        'status_text','updated')\n"
    "      if h[1]==ARGV[1] then\n"
    "        out[#out+1]={c,h[2] or '',h[3] or '',h[4] or '',h[5] or ''}\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "  pos=pos+200\n"
    "end\n"
    "return out\n";

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
    long long head = script_status(o, r);
    if (head == LLONG_MIN)
        goto done;
    if (head == -2) {
        fail(o->rq, 404, "not_found", NULL, "no dossier %s", o->code);
        goto done;
    }
    if (head == -1) {
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

/* A user id as a stranger may see it: the first two and last two characters. */
static void mask_user_id(const char *s, size_t len, char *out, size_t n) {
    if (len <= 6)
        snprintf(out, n, "****");
    else
        snprintf(out, n, "%.2s****%.2s", s, s + len - 2);
}

static int cmp_reply_str(const void *a, const void *b) {
    const redisReply *x = *(const redisReply *const *)a, *y = *(const redisReply *const *)b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->str, y->str, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Who a status event would notify (event_lua's order, members sorted): the
 * subscribers of the dossier, then its phone by SMS unless already among them.
 * Masked: a department sees the channels, never the raw ids. */
static json_t *notify_list(const redisReply *subs, const char *phone) {
    json_t *out = json_array();
    size_t n = subs && subs->type == REDIS_REPLY_ARRAY ? subs->elements : 0;
    const redisReply **m = n ? calloc(n, sizeof *m) : NULL;
    size_t k = 0;
    for (size_t i = 0; m && i < n; i++)
        if (subs->element[i]->type == REDIS_REPLY_STRING)
            m[k++] = subs->element[i];
    if (k)
        qsort(m, k, sizeof *m, cmp_reply_str);
    int phone_seen = 0;
    for (size_t i = 0; i < k; i++) {
        const char *s = m[i]->str, *colon = memchr(s, ':', m[i]->len);
        if (!colon || colon == s || (size_t)(colon - s) >= 16 || colon + 1 == s + m[i]->len)
            continue;
        const char *uid = colon + 1;
        size_t ulen = m[i]->len - (size_t)(uid - s);
        char ch[16], masked[160];
        snprintf(ch, sizeof ch, "%.*s", (int)(colon - s), s);
        if (!strcmp(ch, "sms")) {
            gw_mask_pii(uid, ulen, masked, sizeof masked);
            if (phone && strlen(phone) == ulen && !memcmp(phone, uid, ulen))
                phone_seen = 1;
        } else
            mask_user_id(uid, ulen, masked, sizeof masked);
        json_array_append_new(out, json_pack("{s:s, s:s}", "channel", ch, "to", masked));
    }
    free(m);
    if (phone && *phone && !phone_seen) {
        char masked[64];
        gw_mask_pii(phone, strlen(phone), masked, sizeof masked);
        json_array_append_new(out, json_pack("{s:s, s:s}", "channel", "sms", "to", masked));
    }
    return out;
}

static void on_get_dossier(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    op *o = priv;
    long long head = script_status(o, r);
    if (head == LLONG_MIN)
        goto done;
    if (head == -2 || r->elements < 4) {
        fail(o->rq, 404, "not_found", NULL, "no dossier %s", o->code);
        goto done;
    }
    redisReply *h = r->element[1], *hist = r->element[2];
    json_t *d = json_object();
    json_object_set_new(d, "code", json_string(o->code));
    const char *dept = "", *phone = NULL;
    for (size_t i = 0; i + 1 < h->elements; i += 2) {
        redisReply *k = h->element[i], *v = h->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        if (!strcmp(k->str, "dept"))
            dept = v->str;
        else if (!strcmp(k->str, "phone"))
            phone = v->str;
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
    json_object_set_new(d, "notify", notify_list(r->element[3], phone));
    answer(o->rq, 200, d);
done:
    op_free(o);
}

static void on_list(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    op *o = priv;
    if (reply_failed(o, r))
        goto done;
    if (r->type != REDIS_REPLY_ARRAY) {
        fail(o->rq, 500, "internal", NULL, "unexpected store answer");
        goto done;
    }
    static const char *const names[] = {"code", "procedure", "status", "status_text", "updated"};
    json_t *list = json_array();
    for (size_t i = 0; i < r->elements; i++) {
        redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != MC_ARRAY_LEN(names))
            continue;
        json_t *d = json_object();
        for (size_t k = 0; k < e->elements; k++)
            if (e->element[k]->type == REDIS_REPLY_STRING)
                json_object_set_new(d, names[k],
                                    json_stringn(e->element[k]->str, e->element[k]->len));
        json_array_append_new(list, d);
    }
    answer(o->rq, 200, json_pack("{s:o}", "dossiers", list));
done:
    op_free(o);
}

static int query_param(const char *q, size_t qlen, const char *name, char *out, size_t n);

/* GET /api/v1/dossiers?q=<part of a code>&limit=20 */
static void on_dossier_list(gw_req *rq, void *priv) {
    const gw_admin *a = priv;
    const token *t = authorize(a, rq, GW_SCOPE_READ, "read");
    if (!t)
        return;
    size_t qlen;
    const char *qs = gw_req_query(rq, &qlen);
    char q[GW_ADMIN_CODE_MAX + 1] = "", lim[16] = "";
    long limit = 20;
    if (query_param(qs, qlen, "q", q, sizeof q) < 0) {
        fail(rq, 400, "bad_field", "q", "q is at most %d bytes of a dossier code",
             GW_ADMIN_CODE_MAX);
        return;
    }
    int has_limit = query_param(qs, qlen, "limit", lim, sizeof lim);
    if (has_limit) {
        char *end;
        limit = has_limit > 0 ? strtol(lim, &end, 10) : 0;
        if (has_limit < 0 || !*lim || *end || limit < 1 || limit > LIST_LIMIT_MAX) {
            fail(rq, 400, "bad_field", "limit", "limit is 1..%d", LIST_LIMIT_MAX);
            return;
        }
    }
    for (char *p = q; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    op *o = op_new(rq, t);
    if (!o) {
        gw_req_error(rq, 500, "internal", "out of memory");
        return;
    }
    gw_argv av = {0};
    gw_argv_adds(&av, "EVAL");
    gw_argv_add(&av, list_lua, sizeof list_lua - 1);
    gw_argv_adds(&av, "1");
    gw_argv_addf(&av, "mc:dossiers:%s", t->dept);
    gw_argv_adds(&av, t->dept);
    gw_argv_adds(&av, q);
    gw_argv_addf(&av, "%ld", limit);
    gw_argv_adds(&av, LIST_SCAN_MAX);
    send_or_503(&av, on_list, o);
    gw_argv_free(&av);
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
    const gw_admin *a = t->a;
    static const char *const allowed[] = {"procedure", "status", "phone", "expected_at", NULL};
    json_t *b = body_object(rq);
    gw_argv av = {0};
    gw_admin_err e = {0};
    op *o = NULL;
    if (!b || !only_fields(&e, b, allowed))
        goto done;
    const char *proc, *status, *phone, *exp;
    size_t plen = 0, elen = 0;
    if (!str_field(&e, b, "procedure", "procedure", ID_MAX, 1, &proc, NULL) ||
        !str_field(&e, b, "status", "status", ID_MAX, 1, &status, NULL) ||
        !str_field(&e, b, "phone", "phone", 16, 0, &phone, &plen) ||
        !str_field(&e, b, "expected_at", "expected_at", 10, 0, &exp, &elen))
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
    int64_t now = gw_now_ms();
    char updated[40];
    gw_admin_format_time(now, updated, sizeof updated);
    gw_argv_adds(&av, "EVAL");
    gw_argv_add(&av, put_lua, sizeof put_lua - 1);
    gw_argv_adds(&av, "2");
    gw_argv_addf(&av, "mc:dossier:%s", code);
    gw_argv_addf(&av, "mc:dossiers:%s", t->dept);
    gw_argv_adds(&av, t->dept);
    gw_argv_addf(&av, "%" PRId64, now);
    gw_argv_adds(&av, code);
    const char *kv[] = {"dept",        t->dept,        "procedure", proc,    "status",
                        status,        "status_text",  st_text,     "phone", phone ? phone : "",
                        "expected_at", exp ? exp : "", "updated",   updated, "agency",
                        t->dept};
    for (size_t i = 0; i < MC_ARRAY_LEN(kv); i++)
        gw_argv_adds(&av, kv[i]);
    send_or_503(&av, on_put, o);
done:
    if (e.status)
        fail_err(rq, &e);
    gw_argv_free(&av);
    json_decref(b);
}

static void dossier_event(gw_req *rq, const token *t, const char *code) {
    const gw_admin *a = t->a;
    static const char *const allowed[] = {"status", "note", NULL};
    json_t *b = body_object(rq), *ev = NULL;
    gw_argv av = {0};
    gw_admin_err e = {0};
    char *evs = NULL;
    op *o = NULL;
    if (!b || !only_fields(&e, b, allowed))
        goto done;
    const char *status, *note;
    if (!str_field(&e, b, "status", "status", ID_MAX, 1, &status, NULL) ||
        !str_field(&e, b, "note", "note", NOTE_MAX, 0, &note, NULL))
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
    gw_argv_adds(&av, "5");
    gw_argv_addf(&av, "mc:dossier:%s", code);
    gw_argv_addf(&av, "mc:dossier:%s:history", code);
    gw_argv_addf(&av, "mc:sub:dossier:%s", code);
    gw_argv_adds(&av, "mc:due");
    gw_argv_addf(&av, "mc:dossiers:%s", t->dept);
    const char *args[] = {t->dept, status, st_text, at, evs, nowbuf, base, text, code};
    for (size_t i = 0; i < MC_ARRAY_LEN(args); i++)
        gw_argv_adds(&av, args[i]);
    send_or_503(&av, on_event, o);
done:
    if (e.status)
        fail_err(rq, &e);
    gw_argv_free(&av);
    free(evs);
    json_decref(ev);
    json_decref(b);
}

static void on_dossiers(gw_req *rq, void *priv) {
    const gw_admin *a = priv;
    char code[GW_ADMIN_CODE_MAX + 1];
    int events;
    const char *m = gw_req_method(rq);
    int is_get = !strcmp(m, "GET") || !strcmp(m, "HEAD");
    const token *t = is_get ? authorize(a, rq, GW_SCOPE_READ, "read")
                            : authorize(a, rq, GW_SCOPE_DOSSIERS_WRITE, "dossiers:write");
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
        gw_argv_adds(&av, "3");
        gw_argv_addf(&av, "mc:dossier:%s", code);
        gw_argv_addf(&av, "mc:dossier:%s:history", code);
        gw_argv_addf(&av, "mc:sub:dossier:%s", code);
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

/* The one script that writes notifications (POST /notifications: one; a batch:
 * many). KEYS[1] mc:due, KEYS[2] idempotency key (optional); ARGV[1] "hash|id",
 * ARGV[2] ttl, ARGV[3] batch id or "", ARGV[4] n, ARGV[5] k, then n times: id,
 * send_at_ms, k field/value strings. A batch also keeps mc:batch:<id> (dept, count,
 * ids) as long as its key. Returns {1, "hash|id"} when stored, {0, stored "hash|id",
 * the stored batch's ids or nil} for a known key. */
static const char notify_lua[] =
    "if #KEYS==2 then\n"
    "  if not redis.call('SET',KEYS[2],ARGV[1],'NX','EX',ARGV[2]) then\n"
    "    local v=redis.call('GET',KEYS[2])\n"
    "    local ids=false\n"
    "    if ARGV[3]~='' then\n"
    "      ids=redis.call('HGET','mc:batch:'..(string.match(v,'|(.+)$') or ''),'ids')\n"
    "    end\n"
    "    return {0,v,ids}\n"
    "  end\n"
    "end\n"
    "local n,k,p,ids=tonumber(ARGV[4]),tonumber(ARGV[5]),6,{}\n"
    "for i=1,n do\n"
    "  local a={'HSET','mc:notif:'..ARGV[p]}\n"
    "  for j=p+2,p+1+k do a[#a+1]=ARGV[j] end\n"
    "  redis.call(unpack(a))\n"
    "  redis.call('ZADD',KEYS[1],ARGV[p+1],ARGV[p])\n"
    "  ids[#ids+1]=ARGV[p]\n"
    "  p=p+2+k\n"
    "end\n"
    "if ARGV[3]~='' then\n"
    "  local bk='mc:batch:'..ARGV[3]\n"
    "  redis.call('HSET',bk,'dept',ARGV[p],'count',n,'ids',cjson.encode(ids))\n"
    "  redis.call('EXPIRE',bk,ARGV[2])\n"
    "end\n"
    "return {1,ARGV[1]}\n";

/* KEYS[1] hash, KEYS[2] attempts. {-2} none, else {1, dept, status, attempts}. */
static const char get_notif_lua[] =
    "local h=redis.call('HMGET',KEYS[1],'dept','status','text_removed')\n"
    "if not h[1] then return {-2} end\n"
    "return {1,h[1],h[2] or '',redis.call('LRANGE',KEYS[2],0,-1),h[3] or ''}\n";

int gw_admin_notif_reply(gw_req *rq, const char *dept, const redisReply *r, const char *hash,
                         char *id, const redisReply **ids) {
    *id = '\0';
    if (ids)
        *ids = NULL;
    if (gw_admin_store_failed(rq, dept, r))
        return -1;
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
        r->element[0]->type != REDIS_REPLY_INTEGER || r->element[1]->type != REDIS_REPLY_STRING) {
        fail(rq, 500, "internal", NULL, "unexpected store answer");
        return -1;
    }
    const char *v = r->element[1]->str, *bar = strchr(v, '|');
    if (!bar || (size_t)(bar - v) != 64 || strlen(bar + 1) > NOTIF_ID_MAX) {
        fail(rq, 500, "internal", NULL, "unexpected idempotency record");
        return -1;
    }
    if (r->element[0]->integer == 0 && memcmp(v, hash, 64)) {
        fail(rq, 409, "conflict", "idempotency_key",
             "this idempotency key was used with a different body");
        return -1;
    }
    snprintf(id, NOTIF_ID_MAX + 1, "%s", bar + 1);
    if (ids && r->element[0]->integer == 0 && r->elements > 2 &&
        r->element[2]->type == REDIS_REPLY_STRING)
        *ids = r->element[2];
    return r->element[0]->integer ? 1 : 0;
}

/* to → its JSON (owned), the recipient channel ("" for a bare phone) and whether a
 * phone is known. NULL with e set. */
static json_t *parse_to(gw_admin_err *e, json_t *to, const char **channel, int *has_phone) {
    static const char *const allowed[] = {"phone", "channel", "user_id", NULL};
    *channel = "";
    *has_phone = 0;
    if (!json_is_object(to)) {
        gw_admin_err_set(e, 400, to ? "bad_field" : "missing_field", "to",
                         "to must be {\"phone\"} or {\"channel\",\"user_id\"}");
        return NULL;
    }
    if (!only_fields_in(e, to, allowed, "to."))
        return NULL;
    const char *phone, *ch, *uid;
    size_t plen = 0, ulen = 0;
    if (!str_field(e, to, "phone", "to.phone", 16, 0, &phone, &plen) ||
        !str_field(e, to, "channel", "to.channel", 16, 0, &ch, NULL) ||
        !str_field(e, to, "user_id", "to.user_id", USER_ID_MAX, 0, &uid, &ulen))
        return NULL;
    if (phone && !gw_admin_phone_ok(phone, plen)) {
        gw_admin_err_set(e, 400, "bad_field", "to.phone",
                         "to.phone must be a Vietnamese mobile in E.164 (+84 and 9 digits)");
        return NULL;
    }
    if (!ch != !uid) {
        gw_admin_err_set(e, 400, "missing_field", ch ? "to.user_id" : "to.channel",
                         "to.channel and to.user_id go together");
        return NULL;
    }
    if (!ch && !phone) {
        gw_admin_err_set(e, 400, "missing_field", "to",
                         "to needs a phone or a channel and user_id");
        return NULL;
    }
    if (ch && !channel_known(ch)) {
        gw_admin_err_set(e, 400, "bad_field", "to.channel", "unknown channel \"%s\"", ch);
        return NULL;
    }
    if (uid && !user_id_ok(uid, ulen)) {
        gw_admin_err_set(e, 400, "bad_field", "to.user_id", "to.user_id must be printable ASCII");
        return NULL;
    }
    if (ch && !strcmp(ch, "sms") && !gw_admin_phone_ok(uid, ulen)) {
        gw_admin_err_set(e, 400, "bad_field", "to.user_id", "an sms user_id is an E.164 phone");
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

static int time_field(gw_admin_err *e, json_t *b, const char *name, int64_t *ms) {
    const char *s;
    size_t len;
    if (!str_field(e, b, name, name, 64, 0, &s, &len))
        return 0;
    if (!s)
        return 1;
    if (gw_admin_parse_time(s, len, ms))
        return gw_admin_err_set(e, 400, "bad_field", name,
                                "%s must be an RFC 3339 time such as 2026-11-23T08:00:00+07:00",
                                name);
    return 1;
}

/* "template": {"id", "data"} → *id and *data (borrowed; NULL when absent). The
 * template's existence and its placeholders are checked later, against the
 * store (gw_console_tpl_use). 1, or 0 with e set. */
static int template_field(gw_admin_err *e, json_t *b, const char **id, json_t **data) {
    static const char *const allowed[] = {"id", "data", NULL};
    json_t *tp = json_object_get(b, "template");
    *id = NULL;
    *data = NULL;
    if (!tp || json_is_null(tp))
        return 1;
    if (!json_is_object(tp))
        return gw_admin_err_set(e, 400, "bad_field", "template",
                                "template must be {\"id\": \"...\", \"data\": {...}}");
    if (!only_fields_in(e, tp, allowed, "template."))
        return 0;
    size_t len = 0;
    if (!str_field(e, tp, "id", "template.id", GW_ADMIN_TPL_ID_MAX, 1, id, &len))
        return 0;
    if (!gw_console_tpl_id_ok(*id, len))
        return gw_admin_err_set(e, 400, "bad_field", "template.id",
                                "a template id is 1..%d of a-z, 0-9, _ and -", GW_ADMIN_TPL_ID_MAX);
    json_t *d = json_object_get(tp, "data");
    if (!d || json_is_null(d))
        return 1;
    if (!json_is_object(d))
        return gw_admin_err_set(e, 400, "bad_field", "template.data",
                                "template.data must be an object of placeholder values");
    const char *k;
    json_t *v;
    json_object_foreach(d, k, v) {
        char path[96];
        snprintf(path, sizeof path, "template.data.%.60s", k);
        if (json_is_string(v)) {
            size_t vl = json_string_length(v);
            if (vl > GW_ADMIN_TPL_VALUE_MAX)
                return gw_admin_err_set(e, 400, "bad_field", path, "%s must be at most %d bytes",
                                        path, GW_ADMIN_TPL_VALUE_MAX);
            if (memchr(json_string_value(v), '\0', vl))
                return gw_admin_err_set(e, 400, "bad_field", path, "%s must not contain NUL", path);
        } else if (!json_is_number(v))
            return gw_admin_err_set(e, 400, "bad_field", path, "%s must be a string or a number",
                                    path);
    }
    *data = d;
    return 1;
}

/* text or template (exactly one), priority and idempotency_key: what a
 * notification and a broadcast share. 1, or 0 with e set. */
static int message_fields(gw_admin_err *e, json_t *b, const char **text, const char **tpl_id,
                          json_t **tpl_data, const char **prio, const char **key) {
    size_t klen = 0;
    if (!str_field(e, b, "text", "text", TEXT_MAX, 0, text, NULL) ||
        !template_field(e, b, tpl_id, tpl_data) ||
        !str_field(e, b, "priority", "priority", 16, 0, prio, NULL) ||
        !str_field(e, b, "idempotency_key", "idempotency_key", IDEM_KEY_MAX, 0, key, &klen))
        return 0;
    if (*text && *tpl_id)
        return gw_admin_err_set(e, 400, "bad_field", "template", "give text or template, not both");
    if (!*text && !*tpl_id)
        return gw_admin_err_set(e, 400, "missing_field", "text", "text (or template) is required");
    if (*prio && strcmp(*prio, "normal") && strcmp(*prio, "urgent"))
        return gw_admin_err_set(e, 400, "bad_field", "priority", "priority is normal or urgent");
    if (!*prio)
        *prio = "normal";
    if (*key && !user_id_ok(*key, klen))
        return gw_admin_err_set(e, 400, "bad_field", "idempotency_key",
                                "idempotency_key must be printable ASCII");
    return 1;
}

void gw_admin_notif_clear(gw_admin_notif *n) {
    json_decref(n->to);
    free(n->to_json);
    free(n->out_text);
    memset(n, 0, sizeof *n);
}

int gw_admin_notif_parse(const gw_admin_token *t, json_t *b, gw_admin_notif *n, gw_admin_err *e) {
    static const char *const allowed[] = {"to",      "text",      "template", "channels",
                                          "send_at", "not_after", "priority", "idempotency_key",
                                          NULL};
    (void)t; /* any department may notify anyone; the token decides only the scope */
    memset(n, 0, sizeof *n);
    if (!only_fields(e, b, allowed))
        return -1;
    const char *rch;
    int has_phone;
    if (!(n->to = parse_to(e, json_object_get(b, "to"), &rch, &has_phone)))
        return -1;
    if (!message_fields(e, b, &n->text, &n->tpl_id, &n->tpl_data, &n->priority, &n->idem_key))
        goto fail;
    char *chans = n->channels;
    size_t cap = sizeof n->channels;
    json_t *chs = json_object_get(b, "channels");
    if (chs && !json_is_null(chs)) {
        if (!json_is_array(chs) || json_array_size(chs) == 0 ||
            json_array_size(chs) > GW_N_CHANNELS + 1) {
            gw_admin_err_set(e, 400, "bad_field", "channels", "channels must be a non-empty array");
            goto fail;
        }
        size_t i;
        json_t *c;
        json_array_foreach(chs, i, c) {
            char path[32];
            snprintf(path, sizeof path, "channels[%zu]", i);
            const char *cs = json_string_value(c);
            if (!cs || !channel_known(cs)) {
                gw_admin_err_set(e, 400, "bad_field", path, "unknown channel");
                goto fail;
            }
            if (strcmp(cs, rch) && !(has_phone && !strcmp(cs, "sms"))) {
                gw_admin_err_set(e, 400, "bad_field", path, "the recipient cannot be reached on %s",
                                 cs);
                goto fail;
            }
            if (strstr(chans, cs)) {
                gw_admin_err_set(e, 400, "bad_field", path, "%s is listed twice", cs);
                goto fail;
            }
            snprintf(chans + strlen(chans), cap - strlen(chans), "%s%s", *chans ? "," : "", cs);
        }
    } else if (*rch)
        snprintf(chans, cap, "%s%s", rch, has_phone && strcmp(rch, "sms") ? ",sms" : "");
    else
        snprintf(chans, cap, "sms");
    int64_t now = gw_now_ms();
    n->created_ms = n->send_at_ms = now;
    if (!time_field(e, b, "send_at", &n->send_at_ms) ||
        !time_field(e, b, "not_after", &n->not_after_ms))
        goto fail;
    if (n->not_after_ms && n->not_after_ms <= n->send_at_ms) {
        gw_admin_err_set(e, 400, "bad_field", "not_after", "not_after must be later than send_at");
        goto fail;
    }
    if (n->not_after_ms && n->not_after_ms <= now) {
        gw_admin_err_set(e, 400, "bad_field", "not_after", "not_after is in the past");
        goto fail;
    }
    if (!(n->to_json = json_dumps(n->to, JSON_COMPACT))) {
        gw_admin_err_set(e, 500, "internal", NULL, "out of memory");
        goto fail;
    }
    return 0;
fail:
    gw_admin_notif_clear(n);
    return -1;
}

void gw_admin_notif_argv(gw_argv *av, const char *dept, const gw_admin_notif *rows, size_t n,
                         const char *idem_key, const char *record, const char *batch_id) {
    gw_argv_adds(av, "EVAL");
    gw_argv_add(av, notify_lua, sizeof notify_lua - 1);
    gw_argv_adds(av, idem_key ? "2" : "1");
    gw_argv_adds(av, "mc:due");
    if (idem_key)
        gw_argv_adds(av, idem_key);
    gw_argv_adds(av, record);
    gw_argv_adds(av, IDEM_TTL_S);
    gw_argv_adds(av, batch_id ? batch_id : "");
    gw_argv_addf(av, "%zu", n);
    gw_argv_adds(av, batch_id ? "22" : "20"); /* the strings below, per notification */
    for (size_t i = 0; i < n; i++) {
        const gw_admin_notif *r = &rows[i];
        gw_argv_adds(av, r->id);
        gw_argv_addf(av, "%" PRId64, r->send_at_ms);
        gw_argv_adds(av, "dept");
        gw_argv_adds(av, dept);
        gw_argv_adds(av, "status");
        gw_argv_adds(av, "scheduled");
        gw_argv_adds(av, "text");
        gw_argv_adds(av, r->out_text ? r->out_text : "");
        gw_argv_adds(av, "to");
        gw_argv_adds(av, r->to_json ? r->to_json : "{}");
        gw_argv_adds(av, "channels");
        gw_argv_adds(av, r->channels);
        gw_argv_adds(av, "idx");
        gw_argv_adds(av, "0");
        gw_argv_adds(av, "send_at_ms");
        gw_argv_addf(av, "%" PRId64, r->send_at_ms);
        gw_argv_adds(av, "not_after_ms");
        gw_argv_addf(av, "%" PRId64, r->not_after_ms);
        gw_argv_adds(av, "priority");
        gw_argv_adds(av, r->priority ? r->priority : "normal");
        gw_argv_adds(av, "created_ms");
        gw_argv_addf(av, "%" PRId64, r->created_ms);
        if (batch_id) {
            gw_argv_adds(av, "batch");
            gw_argv_adds(av, batch_id);
        }
    }
    if (batch_id)
        gw_argv_adds(av, dept);
}

static void on_notify(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    op *o = priv;
    char id[NOTIF_ID_MAX + 1];
    int rc = gw_admin_notif_reply(o->rq, o->dept, r, o->hash, id, NULL);
    if (rc < 0)
        goto done;
    gw_log(GW_INFO, rc ? "admin.notification" : "admin.notification_repeat", "{s:s, s:s, s:s}",
           "dept", o->dept, "id", id, "to", o->extra);
    answer(o->rq, 202, json_pack("{s:s, s:s}", "id", id, "status", "scheduled"));
done:
    op_free(o);
}

/* The text is known (given or rendered): one script writes it. */
static void notify_write(op *o) {
    gw_argv av = {0};
    gw_admin_notif *n = &o->notif;
    char *canon = json_dumps(o->body, JSON_COMPACT | JSON_SORT_KEYS);
    if (!canon || !n->out_text) {
        gw_req_error(o->rq, 500, "internal", "out of memory");
        free(canon);
        op_free(o);
        return;
    }
    sha256_hex(canon, strlen(canon), o->hash);
    free(canon);
    random_hex(n->id, NOTIF_ID_BYTES);
    snprintf(o->extra, sizeof o->extra, "%s", n->to_json);
    char idem[GW_ADMIN_DEPT_MAX + IDEM_KEY_MAX + 16], record[NOTIF_ID_MAX + 80];
    if (n->idem_key)
        snprintf(idem, sizeof idem, "mc:idem:%s:%s", o->dept, n->idem_key);
    snprintf(record, sizeof record, "%s|%s", o->hash, n->id);
    gw_admin_notif_argv(&av, o->dept, n, 1, n->idem_key ? idem : NULL, record, NULL);
    send_or_503(&av, on_notify, o);
    gw_argv_free(&av);
}

/* The template of a notification came: render, then write. */
static void bc_write(op *o);

static void on_post_tpl(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    op *o = priv;
    gw_admin_err e = {0};
    if (reply_failed(o, r))
        goto fail;
    if (gw_console_tpl_use(r, o->tpl_data, "template.data.", o->out_text, &e)) {
        fail_err(o->rq, &e);
        goto fail;
    }
    o->write(o);
    return;
fail:
    op_free(o);
}

/* The text step of POST /notifications and /broadcasts: the template rendered
 * with its data (read from Redis first) or the text as given into *out, then
 * write(o), which owns o from there. */
static void post_with_text(op *o, const char *tpl_id, json_t *tpl_data, const char *text,
                           char **out, void (*write)(op *o)) {
    o->tpl_data = tpl_data;
    o->out_text = out;
    o->write = write;
    if (tpl_id) {
        gw_store *st = o->t->a->app->store;
        if (!st || gw_console_tpl_fetch(st, o->dept, tpl_id, on_post_tpl, o)) {
            unavailable(o->rq);
            op_free(o);
        }
        return;
    }
    *out = strdup(text);
    write(o);
}

/* The start of a POST with a JSON body: the token has `scope`, the body is an
 * object; the op owns the body. NULL when the request was answered already. */
static op *op_for_body(const gw_admin *a, gw_req *rq, unsigned scope, const char *scope_name) {
    const token *t = authorize(a, rq, scope, scope_name);
    if (!t)
        return NULL;
    json_t *b = body_object(rq);
    if (!b)
        return NULL;
    op *o = op_new(rq, t);
    if (!o) {
        json_decref(b);
        gw_req_error(rq, 500, "internal", "out of memory");
        return NULL;
    }
    o->body = b;
    return o;
}

static void notify_post(const gw_admin *a, gw_req *rq) {
    op *o = op_for_body(a, rq, GW_SCOPE_NOTIFY, "notify");
    gw_admin_err e = {0};
    if (!o)
        return;
    if (gw_admin_notif_parse(o->t, o->body, &o->notif, &e)) {
        fail_err(rq, &e);
        op_free(o);
        return;
    }
    post_with_text(o, o->notif.tpl_id, o->notif.tpl_data, o->notif.text, &o->notif.out_text,
                   notify_write);
}

static void on_get_notif(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    op *o = priv;
    long long head = script_status(o, r);
    if (head == LLONG_MIN)
        goto done;
    if (head == -2 || r->elements < 4) {
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
    json_t *ans = json_pack("{s:s, s:s, s:o}", "id", o->id, "status", st, "attempts", att);
    /* retention (gw_report.c) removed its text and recipient */
    if (ans && r->elements > 4 && r->element[4]->type == REDIS_REPLY_STRING &&
        !strcmp(r->element[4]->str, "1"))
        json_object_set_new(ans, "text_removed", json_true());
    answer(o->rq, 200, ans);
done:
    op_free(o);
}

static void notify_get(const gw_admin *a, gw_req *rq) {
    const token *t = authorize(a, rq, GW_SCOPE_READ, "read");
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

static void on_notifications(gw_req *rq, void *priv) {
    const gw_admin *a = priv;
    if (!strcmp(gw_req_method(rq), "POST"))
        notify_post(a, rq);
    else
        notify_get(a, rq);
}

/* ------------------------------------------------------ subscriptions */

/* KEYS[1] subscriber set, KEYS[2] reverse index, KEYS[3] dossier (optional);
 * ARGV: member, reverse member, dept, "add"|"del", then (ward only) the tags.
 * A ward subscription's tags are memberships of mc:sub:ward:<id>:tag:<tag>
 * (broadcasts with audience.tags fan out from those sets), each listed in the
 * reverse index as "ward:<id>:tag:<tag>" so that the chat's HUY, which drops
 * mc:sub:<every member of the index>, removes them too. A POST states the
 * subscription's tags (none when absent): the ward's other tag memberships go;
 * a DELETE removes them all. -2 no dossier, -1 other dept, else the number of
 * members added to or removed from KEYS[1]. */
static const char sub_lua[] =
    "if #KEYS==3 then\n"
    "  if redis.call('EXISTS',KEYS[3])==0 then return -2 end\n"
    "  if redis.call('HGET',KEYS[3],'dept')~=ARGV[3] then return -1 end\n"
    "end\n"
    "local add=ARGV[4]=='add'\n"
    "local n=redis.call(add and 'SADD' or 'SREM',KEYS[1],ARGV[1])\n"
    "redis.call(add and 'SADD' or 'SREM',KEYS[2],ARGV[2])\n"
    "if #KEYS==2 then\n"
    "  local pre=ARGV[2]..':tag:'\n"
    "  local keep={} if add then for i=5,#ARGV do keep[pre..ARGV[i]]=true end end\n"
    "  for _,r in ipairs(redis.call('SMEMBERS',KEYS[2])) do\n"
    "    if string.sub(r,1,#pre)==pre and not keep[r] then\n"
    "      redis.call('SREM','mc:sub:'..r,ARGV[1]) redis.call('SREM',KEYS[2],r)\n"
    "    end\n"
    "  end\n"
    "  if add then for i=5,#ARGV do\n"
    "    redis.call('SADD',KEYS[1]..':tag:'..ARGV[i],ARGV[1])\n"
    "    redis.call('SADD',KEYS[2],pre..ARGV[i])\n"
    "  end end\n"
    "end\n"
    "return n\n";

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

/* 1 when the query has name= (decoded into out), 0 when it has not, -1 when its
 * value does not fit out or holds a NUL. */
static int query_param(const char *q, size_t qlen, const char *name, char *out, size_t n) {
    if (!query_get(q, qlen, name, out, n))
        return 1;
    size_t nl = strlen(name);
    for (size_t i = 0; i < qlen;) {
        size_t end = i;
        while (end < qlen && q[end] != '&')
            end++;
        if (end - i > nl && !memcmp(q + i, name, nl) && q[i + nl] == '=')
            return -1;
        i = end + 1;
    }
    return 0;
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

static void on_subscriptions(gw_req *rq, void *priv) {
    const gw_admin *a = priv;
    static const char *const allowed[] = {"channel", "user_id", "phone", "dossier",
                                          "ward",    "tags",    NULL};
    const token *t = authorize(a, rq, GW_SCOPE_NOTIFY, "notify");
    if (!t)
        return;
    int add = !strcmp(gw_req_method(rq), "POST");
    json_t *b = add ? body_object(rq) : query_object(rq);
    gw_argv av = {0};
    gw_admin_err e = {0};
    op *o = NULL;
    if (!b || !only_fields(&e, b, allowed))
        goto done;
    const char *ch, *uid, *phone, *dossier, *wardv;
    size_t ulen = 0, plen = 0, dlen = 0;
    if (!str_field(&e, b, "channel", "channel", 16, 0, &ch, NULL) ||
        !str_field(&e, b, "user_id", "user_id", USER_ID_MAX, 0, &uid, &ulen) ||
        !str_field(&e, b, "phone", "phone", 16, 0, &phone, &plen) ||
        !str_field(&e, b, "dossier", "dossier", GW_ADMIN_CODE_MAX, 0, &dossier, &dlen) ||
        !str_field(&e, b, "ward", "ward", 96, 0, &wardv, NULL))
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
    const gw_ward *w = NULL;
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
    if (add && !dossier && tags) {
        size_t i;
        json_t *tg;
        json_array_foreach(tags, i, tg) {
            gw_argv_add(&av, json_string_value(tg), json_string_length(tg));
        }
    }
    send_or_503(&av, on_sub, o);
done:
    if (e.status)
        fail_err(rq, &e);
    gw_argv_free(&av);
    json_decref(b);
}

/* ---------------------------------------------------------- broadcasts */

/* bc_count(first, nw, chans): the distinct members of the nw subscriber sets named
 * by ARGV[first..] whose channel is in chans (comma-separated): total and per
 * channel. POST /broadcasts records these numbers and the preview shows them. */
#define BC_COUNT_LUA                                                                               \
    "local function bc_count(first,nw,chans)\n"                                                    \
    "  local want={} for c in string.gmatch(chans,'[^,]+') do want[c]=0 end\n"                     \
    "  local seen,n={},0\n"                                                                        \
    "  for i=first,first+nw-1 do\n"                                                                \
    "    for _,m in ipairs(redis.call('SMEMBERS',ARGV[i])) do\n"                                   \
    "      local c=string.match(m,'^([^:]+):')\n"                                                  \
    "      if c and want[c] and not seen[m] then seen[m]=true n=n+1 want[c]=want[c]+1 end\n"       \
    "    end\n"                                                                                    \
    "  end\n"                                                                                      \
    "  return n,want\n"                                                                            \
    "end\n"

/* KEYS[1] mc:bc:<id>, KEYS[2] mc:bc:due, KEYS[3] idempotency key (optional); ARGV:
 * "hash|id", ttl, send_at_ms, id, n sets, the source sets (add_source_sets: the wards'
 * subscriber sets, or their ward x tag sets), channels csv, then field/value pairs.
 * Counts the distinct members of those sets on those channels,
 * stores the record with recipients and count:<channel>, queues the id on mc:bc:due.
 * Returns {1, "hash|id", n}, or {0, stored "hash|id", its n} for a known key. */
static const char bc_lua[] =
    BC_COUNT_LUA "if #KEYS==3 then\n"
                 "  if not redis.call('SET',KEYS[3],ARGV[1],'NX','EX',ARGV[2]) then\n"
                 "    local v=redis.call('GET',KEYS[3]) local id=string.match(v,'|(.+)$') or ''\n"
                 "    return {0,v,tonumber(redis.call('HGET','mc:bc:'..id,'recipients') or '0')}\n"
                 "  end\n"
                 "end\n"
                 "local nw=tonumber(ARGV[5])\n"
                 "local n,want=bc_count(6,nw,ARGV[6+nw])\n"
                 "local a={'HSET',KEYS[1]} for i=7+nw,#ARGV do a[#a+1]=ARGV[i] end\n"
                 "a[#a+1]='recipients' a[#a+1]=tostring(n)\n"
                 "for c,k in pairs(want) do a[#a+1]='count:'..c a[#a+1]=tostring(k) end\n"
                 "redis.call(unpack(a))\n"
                 "redis.call('ZADD',KEYS[2],ARGV[3],ARGV[4])\n"
                 "return {1,ARGV[1],n}\n";

/* Read-only: ARGV n sets, the source sets, channels csv → {n, ch, count, ...}. */
static const char bc_count_lua[] =
    BC_COUNT_LUA "local nw=tonumber(ARGV[1])\n"
                 "local n,want=bc_count(2,nw,ARGV[2+nw])\n"
                 "local out={n}\n"
                 "for c,k in pairs(want) do out[#out+1]=c out[#out+1]=k end\n"
                 "return out\n";

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

/* Appends the strings of a JSON array field (each checked by ok) to csv; 1 or 0
 * with e set. */
static int csv_array(gw_admin_err *e, json_t *arr, const char *path, size_t max_items,
                     int (*ok)(const gw_admin *, const token *, const char *, char *, size_t),
                     const token *t, char *csv, size_t n) {
    size_t i;
    json_t *v;
    if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > max_items)
        return gw_admin_err_set(e, 400, "bad_field", path, "%s must be an array of 1..%zu strings",
                                path, max_items);
    json_array_foreach(arr, i, v) {
        char ip[64], canon[ID_MAX + 2];
        snprintf(ip, sizeof ip, "%s[%zu]", path, i);
        const char *s = json_string_value(v);
        int rc = s ? ok(t->a, t, s, canon, sizeof canon) : 400;
        if (rc)
            return gw_admin_err_set(e, rc, rc == 403 ? "forbidden" : "bad_field", ip, "%s",
                                    rc == 403 ? "outside the areas of this department"
                                              : "unknown value");
        size_t cl = strlen(canon), used = strlen(csv);
        char probe[ID_MAX + 4];
        snprintf(probe, sizeof probe, ",%s,", canon);
        char *with = malloc(used + 3);
        if (with) {
            snprintf(with, used + 3, ",%s,", csv);
            int dup = strstr(with, probe) != NULL;
            free(with);
            if (dup)
                return gw_admin_err_set(e, 400, "bad_field", ip, "listed twice");
        }
        if (used + cl + 2 > n)
            return gw_admin_err_set(e, 400, "bad_field", path, "%s is too long", path);
        snprintf(csv + used, n - used, "%s%s", used ? "," : "", canon);
    }
    return 1;
}

static int bc_ward_ok(const gw_admin *a, const token *t, const char *s, char *canon, size_t n) {
    const gw_ward *w = find_ward(a, s);
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

void gw_admin_bc_clear(gw_admin_bc *bc) {
    free(bc->out_text);
    memset(bc, 0, sizeof *bc);
}

int gw_admin_bc_parse(const gw_admin_token *t, json_t *b, gw_admin_bc *bc, gw_admin_err *e) {
    static const char *const allowed[] = {"audience", "text",     "send_at",         "not_after",
                                          "priority", "template", "idempotency_key", NULL};
    static const char *const aud_allowed[] = {"wards", "channels", "tags", NULL};
    memset(bc, 0, sizeof *bc);
    if (!only_fields(e, b, allowed))
        return -1;
    json_t *aud = json_object_get(b, "audience");
    if (!json_is_object(aud)) {
        gw_admin_err_set(
            e, 400, aud ? "bad_field" : "missing_field", "audience",
            "audience must be {\"wards\": [...], \"channels\": [...], \"tags\": [...]}");
        return -1;
    }
    if (!only_fields_in(e, aud, aud_allowed, "audience."))
        return -1;
    if (!csv_array(e, json_object_get(aud, "wards"), "audience.wards", MAX_AREAS, bc_ward_ok, t,
                   bc->wards, sizeof bc->wards))
        return -1;
    json_t *chs = json_object_get(aud, "channels");
    if (chs && !csv_array(e, chs, "audience.channels", GW_N_CHANNELS + 1, bc_channel_ok, t,
                          bc->channels, sizeof bc->channels))
        return -1;
    if (!chs) {
        char *c = bc->channels;
        for (size_t i = 0; i < GW_N_CHANNELS; i++)
            snprintf(c + strlen(c), sizeof bc->channels - strlen(c), "%s,", gw_channel_names[i]);
        snprintf(c + strlen(c), sizeof bc->channels - strlen(c), "webchat");
    }
    json_t *tg = json_object_get(aud, "tags");
    if (tg && !csv_array(e, tg, "audience.tags", MAX_TAGS, bc_tag_ok, t, bc->tags, sizeof bc->tags))
        return -1;
    if (!message_fields(e, b, &bc->text, &bc->tpl_id, &bc->tpl_data, &bc->priority, &bc->idem_key))
        return -1;
    int64_t now = gw_now_ms();
    bc->created_ms = bc->send_at_ms = now;
    if (!time_field(e, b, "send_at", &bc->send_at_ms) ||
        !time_field(e, b, "not_after", &bc->not_after_ms))
        return -1;
    if (bc->not_after_ms && (bc->not_after_ms <= bc->send_at_ms || bc->not_after_ms <= now)) {
        gw_admin_err_set(e, 400, "bad_field", "not_after",
                         "not_after must be later than send_at and now");
        return -1;
    }
    return 0;
}

/* Appends the number of source sets, then the sets: each ward's subscribers
 * mc:sub:ward:<ward>, or, when tags are given, every ward x tag set
 * mc:sub:ward:<ward>:tag:<tag> (the subscribers of the ward with that tag). The
 * fan-out (gw_sched.c) walks the same sets in the same order; a subscriber in
 * several of them is counted and sent to once. */
static void add_source_sets(gw_argv *av, const char *wards, const char *tags) {
    size_t nw = 1, nt = 1;
    for (const char *p = wards; *p; p++)
        nw += *p == ',';
    for (const char *p = tags; *p; p++)
        nt += *p == ',';
    gw_argv_addf(av, "%zu", *tags ? nw * nt : nw);
    for (const char *p = wards; *p;) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (!*tags)
            gw_argv_addf(av, "mc:sub:ward:%.*s", (int)l, p);
        for (const char *q = tags; *q;) {
            const char *te = strchr(q, ',');
            size_t tl = te ? (size_t)(te - q) : strlen(q);
            gw_argv_addf(av, "mc:sub:ward:%.*s:tag:%.*s", (int)l, p, (int)tl, q);
            q += tl + (te != NULL);
        }
        p += l + (e != NULL);
    }
}

void gw_admin_bc_count_argv(gw_argv *av, const gw_admin_bc *bc) {
    gw_argv_adds(av, "EVAL");
    gw_argv_add(av, bc_count_lua, sizeof bc_count_lua - 1);
    gw_argv_adds(av, "0");
    add_source_sets(av, bc->wards, bc->tags);
    gw_argv_adds(av, bc->channels);
}

/* The text is known (given or rendered): one script records the broadcast. */
static void bc_write(op *o) {
    gw_admin_bc *bc = &o->bc;
    gw_argv av = {0};
    char *canon = json_dumps(o->body, JSON_COMPACT | JSON_SORT_KEYS);
    if (!canon || !bc->out_text) {
        gw_req_error(o->rq, 500, "internal", "out of memory");
        free(canon);
        op_free(o);
        return;
    }
    sha256_hex(canon, strlen(canon), o->hash);
    free(canon);
    random_hex(o->id, NOTIF_ID_BYTES);
    size_t wl = strlen(bc->wards) < sizeof o->extra ? strlen(bc->wards) : sizeof o->extra - 1;
    memcpy(o->extra, bc->wards, wl); /* for the log line; long lists are cut */
    o->extra[wl] = '\0';
    gw_argv_adds(&av, "EVAL");
    gw_argv_add(&av, bc_lua, sizeof bc_lua - 1);
    gw_argv_adds(&av, bc->idem_key ? "3" : "2");
    gw_argv_addf(&av, "mc:bc:%s", o->id);
    gw_argv_adds(&av, "mc:bc:due");
    if (bc->idem_key)
        gw_argv_addf(&av, "mc:idem:%s:bc:%s", o->dept, bc->idem_key);
    gw_argv_addf(&av, "%s|%s", o->hash, o->id);
    gw_argv_adds(&av, IDEM_TTL_S);
    gw_argv_addf(&av, "%" PRId64, bc->send_at_ms);
    gw_argv_adds(&av, o->id);
    add_source_sets(&av, bc->wards, bc->tags);
    gw_argv_adds(&av, bc->channels);
    const char *kv[] = {"dept",       o->dept,  "status",   "scheduled", "text",
                        bc->out_text, "wards",  bc->wards,  "channels",  bc->channels,
                        "tags",       bc->tags, "priority", bc->priority};
    for (size_t i = 0; i < MC_ARRAY_LEN(kv); i++)
        gw_argv_adds(&av, kv[i]);
    gw_argv_adds(&av, "send_at_ms");
    gw_argv_addf(&av, "%" PRId64, bc->send_at_ms);
    gw_argv_adds(&av, "not_after_ms");
    gw_argv_addf(&av, "%" PRId64, bc->not_after_ms);
    gw_argv_adds(&av, "created_ms");
    gw_argv_addf(&av, "%" PRId64, bc->created_ms);
    send_or_503(&av, on_bc, o);
    gw_argv_free(&av);
}

static void bc_post(const gw_admin *a, gw_req *rq) {
    op *o = op_for_body(a, rq, GW_SCOPE_BROADCAST, "broadcast");
    gw_admin_err e = {0};
    if (!o)
        return;
    if (gw_admin_bc_parse(o->t, o->body, &o->bc, &e)) {
        fail_err(rq, &e);
        op_free(o);
        return;
    }
    post_with_text(o, o->bc.tpl_id, o->bc.tpl_data, o->bc.text, &o->bc.out_text, bc_write);
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
                   !strcmp(kr->str, "fan_started_ms") || !strcmp(kr->str, "fan_done_ms") ||
                   !strcmp(kr->str, "text_removed_ms"))
            json_object_set_new(d, kr->str, json_integer(n));
        else if (!strcmp(kr->str, "text_removed")) /* retention (gw_report.c) */
            json_object_set_new(d, kr->str, json_boolean(n == 1));
        else if (strcmp(kr->str, "text") && strcmp(kr->str, "cursor") &&
                 strcmp(kr->str, "ward_idx") && strcmp(kr->str, "scan_run") &&
                 strcmp(kr->str, "stripped"))
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

static void on_broadcasts(gw_req *rq, void *priv) {
    const gw_admin *a = priv;
    const char *m = gw_req_method(rq);
    if (!strcmp(m, "POST")) {
        bc_post(a, rq);
        return;
    }
    int del = !strcmp(m, "DELETE");
    const token *t = del ? authorize(a, rq, GW_SCOPE_BROADCAST, "broadcast")
                         : authorize(a, rq, GW_SCOPE_READ, "read");
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

int gw_admin_open(gw_app *app, gw_admin **out, char *err, size_t errlen) {
    *out = NULL;
    if (!*app->cfg->admin_tokens_file)
        return 0;
    gw_admin *a = gw_admin_new(app->data, app->cfg->admin_tokens_file, app->share_dir, err, errlen);
    if (!a)
        return MC_EPARSE;
    a->app = app;
    static const struct {
        const char *path, *label;
        unsigned methods;
        gw_route_fn *fn;
    } routes[] = {
        {API "dossiers", API "dossiers", GW_M_GET, on_dossier_list},
        {API "dossiers/", API "dossiers/{code}", GW_M_GET | GW_M_PUT | GW_M_POST, on_dossiers},
        {API "notifications", API "notifications", GW_M_POST, on_notifications},
        {API "notifications/", API "notifications/{id}", GW_M_GET, on_notifications},
        {API "broadcasts", API "broadcasts", GW_M_POST, on_broadcasts},
        {API "broadcasts/", API "broadcasts/{id}", GW_M_GET | GW_M_DELETE, on_broadcasts},
        {API "subscriptions", API "subscriptions", GW_M_POST | GW_M_DELETE, on_subscriptions},
    };
    for (size_t i = 0; i < MC_ARRAY_LEN(routes); i++)
        if (gw_router_add(app->router, routes[i].path, routes[i].label, routes[i].methods,
                          routes[i].fn, a)) {
            snprintf(err, errlen, "cannot add the route %s", routes[i].path);
            gw_admin_free(a);
            return MC_ETOOBIG;
        }
    *out = a;
    gw_log(GW_INFO, "admin.ready", "{s:I, s:I}", "tokens", (json_int_t)a->n_tokens, "statuses",
           (json_int_t)a->n_statuses);
    return 0;
}

const gw_admin *gw_admin_token_module(const gw_admin_token *t) {
    return t->a;
}

gw_app *gw_admin_app(const gw_admin *a) {
    return a->app;
}
