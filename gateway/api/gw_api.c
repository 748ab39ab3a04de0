/*
 * gw_api.c — the API module: its data files (the tokens of [admin] tokens_file
 * and the statuses of gateway/api/data/statuses.txt), the token check, and the
 * route table of /api/v1.
 *
 * Big idea (Redis's command table): every route of the room is one row, with
 * the scope its token needs for reading (GET, HEAD) and for writing (POST, PUT,
 * DELETE). The table's one dispatcher checks the token (401) and the scope
 * (403) before any handler runs, so a handler starts from a known department.
 * Tokens are stored as SHA-256 hashes and compared in constant time.
 */
#include "gateway/api/gw_api_int.h"
#include "gateway/store/gw_script.h"

#include "core/mc.h"
#include "gateway/app/gw_log.h"
#include "gateway/net/gw_router.h"
#include "gateway/app/gw_clock.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PATH_MAX_BYTES 4096 /* a data file's path */
#define WHY_MAX 256         /* the reason of a bad data line */
#define HEX_DIGITS "0123456789abcdefABCDEF"

/* ---------------------------------------------------------------- tables */

struct gw_api_token {
    gw_api_kind kind;                            /* where it comes from */
    char dept[GW_API_DEPT_MAX + 1];              /* department id */
    unsigned char hash[SHA256_DIGEST_LENGTH];    /* sha256 of the token (tokens_file) */
    unsigned scopes;                             /* GW_SCOPE_* */
    bool all_areas;                              /* areas = '*' */
    char areas[GW_API_MAX_AREAS][GW_API_ID_MAX]; /* ward ids */
    size_t n_areas;                              /* used entries of areas */
    char name[GW_API_NAME_MAX + 1];              /* the key's name or the officer's user */
    gw_off_role role;                            /* an officer's role; GW_OFF_NOBODY otherwise */
    char session[GW_API_HASH_HEX];               /* an officer's session (its key), or "" */
    char csrf[GW_OFF_SECRET_HEX];                /* ... and its CSRF token */
    bool must_change;                            /* an officer still on a one-time password */
};

/* One route: the scope of which a token needs one bit (0: any valid token; GW_SCOPE_PEOPLE:
 * no token at all), and the role an officer needs, for reading and for writing. */
typedef struct route {
    const char *path, *label; /* as gw_router_add takes them */
    unsigned methods;         /* GW_M_* */
    unsigned read_scope;      /* for GET and HEAD */
    unsigned write_scope;     /* for POST, PUT and DELETE */
    gw_off_role read_role;    /* an officer's role for GET and HEAD */
    gw_off_role write_role;   /* ... for POST, PUT and DELETE */
    gw_api_handler *fn;       /* the resource's handler */
} route;

#define R GW_SCOPE_READ
#define W GW_SCOPE_DOSSIERS_WRITE
#define N GW_SCOPE_NOTIFY
#define B GW_SCOPE_BROADCAST
#define X GW_SCOPE_PEOPLE
#define V GW_OFF_VIEWER
#define O GW_OFF_OFFICER
#define A GW_OFF_ADMIN
#define P GW_API_PREFIX
/* Roles follow shared/spec/officers.md: viewers read; officers also post dossier events,
 * send notifications and subscribe; admins also broadcast, edit templates, manage officers
 * and API keys, and read the audit trail (which a token with read may read too). */
static const route routes[] = {
    /* the department API */
    {P "dossiers", P "dossiers", GW_M_GET, R, 0, V, V, gw_dossiers_list},
    {P "dossiers/", P "dossiers/{code}", GW_M_GET | GW_M_PUT | GW_M_POST, R, W, V, O,
     gw_dossiers_item},
    {P "notifications", P "notifications", GW_M_GET | GW_M_POST, R, N, V, O, gw_notifications_root},
    {P "notifications/", P "notifications/{id}", GW_M_GET, R, 0, V, V, gw_notifications_get},
    {P "broadcasts", P "broadcasts", GW_M_POST, 0, B, V, A, gw_broadcasts_post},
    {P "broadcasts/", P "broadcasts/{id}", GW_M_GET | GW_M_DELETE, R, B, V, A, gw_broadcasts_item},
    {P "subscriptions", P "subscriptions", GW_M_POST | GW_M_DELETE, 0, N, V, O, gw_subscriptions},
    /* what the officers' console adds */
    {P "me", P "me", GW_M_GET, 0, 0, V, V, gw_me},
    {P "wards", P "wards", GW_M_GET, 0, 0, V, V, gw_wards},
    {P "templates", P "templates", GW_M_GET, R, 0, V, V, gw_templates_list},
    {P "templates/", P "templates/{id}", GW_M_GET | GW_M_PUT | GW_M_DELETE, R, N | B, V, A,
     gw_templates_item},
    {P "broadcasts/preview", P "broadcasts/preview", GW_M_POST, 0, B, V, A, gw_broadcasts_preview},
    {P "notifications/batch", P "notifications/batch", GW_M_POST, 0, N, V, O,
     gw_notifications_batch},
    /* the console's reports */
    {P "stats", P "stats", GW_M_GET, R, 0, V, V, gw_reports_stats},
    {P "dead", P "dead", GW_M_GET, R, 0, V, V, gw_reports_dead},
    {P "dead/", P "dead/{id}/retry", GW_M_POST, 0, N, V, O, gw_reports_retry},
    /* officers, API keys and the audit trail (officers.md) */
    {P "officers", P "officers", GW_M_GET | GW_M_POST, X, X, A, A, gw_officers_list},
    {P "officers/", P "officers/{user}", GW_M_PUT | GW_M_POST, X, X, A, A, gw_officers_item},
    {P "keys", P "keys", GW_M_GET | GW_M_POST, X, X, A, A, gw_apikeys_list},
    {P "keys/", P "keys/{name}", GW_M_DELETE, X, X, A, A, gw_apikeys_item},
    {P "audit", P "audit", GW_M_GET, R, X, A, GW_OFF_NOBODY, gw_audit_list},
    /* citizens' reports (officers.md): viewers read the inbox, officers assign and answer */
    {P "reports", P "reports", GW_M_GET, R, 0, V, V, gw_tickets_list},
    {P "reports/", P "reports/{id}", GW_M_GET | GW_M_POST, R, N, V, O, gw_tickets_item},
};
#undef R
#undef W
#undef N
#undef B
#undef X
#undef V
#undef O
#undef A
#undef P
#define N_ROUTES MC_ARRAY_LEN(routes)

/* What the router hands back to the dispatcher: the module and the row. */
typedef struct binding {
    const gw_api *api; /* the module */
    const route *r;    /* its row of routes[] */
} binding;

/* The room's Lua scripts, made (keyspace prelude + body) and loaded into the store the
 * first time each is used, found again by the address of its body. */
#define API_SCRIPTS_MAX 48
typedef struct api_scripts {
    const char *body[API_SCRIPTS_MAX]; /* static texts */
    gw_script s[API_SCRIPTS_MAX];      /* their scripts */
    size_t n;                          /* used entries */
} api_scripts;

struct gw_api {
    api_scripts *scripts;   /* owned */
    gw_api_token *tokens;   /* owned, n_tokens entries */
    size_t n_tokens;        /* used entries */
    int64_t *token_used;    /* owned: when each token's last use was noted in the store */
    gw_statuses *statuses;  /* statuses.txt, owned */
    gw_app *app;            /* the process, borrowed (NULL in tests) */
    const gw_shared *data;  /* wards and procedures, borrowed */
    gw_httpc *http;         /* owned: asks providers about their templates (ZNS), or NULL */
    binding bind[N_ROUTES]; /* the routers' pointers, one per row */
};

/* Bit i of a scope mask is scope_names[i] (GW_SCOPE_*). */
static const char *const scope_names[] = {"dossiers:write", "notify", "broadcast", "read"};

gw_app *gw_api_app(const gw_api *a) {
    return a->app;
}

void gw_api_close(gw_api *a) {
    if (!a)
        return;
    gw_httpc_free(a->http); /* a check in flight is answered 503 */
    a->http = NULL;
}

gw_httpc *gw_api_httpc(const gw_api *a) {
    return a->http;
}

const gw_shared *gw_api_data(const gw_api *a) {
    return a->data;
}

const gw_statuses *gw_api_statuses(const gw_api *a) {
    return a->statuses;
}

/* -------------------------------------------------------------- data files */

void gw_api_trim(char **s, size_t *len) {
    while (*len && isspace((unsigned char)**s))
        (*s)++, (*len)--;
    while (*len && isspace((unsigned char)(*s)[*len - 1]))
        (*len)--;
}

int gw_api_read_lines(const char *path, gw_api_line_fn *fn, void *ctx, char *err, size_t errlen) {
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return MC_EIO;
    }
    char line[GW_API_MAX_LINE + 2], why[WHY_MAX];
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len && line[len - 1] == '\n')
            line[--len] = '\0';
        else if (!feof(f)) {
            snprintf(err, errlen, "%s:%d: line longer than %d bytes", path, lineno,
                     GW_API_MAX_LINE);
            rc = MC_EPARSE;
            break;
        }
        char *s = line;
        gw_api_trim(&s, &len);
        s[len] = '\0';
        if (len == 0 || *s == '#')
            continue;
        why[0] = '\0';
        if (fn(ctx, s, len, why, sizeof why)) {
            snprintf(err, errlen, "%s:%d: %s", path, lineno, why);
            rc = MC_EPARSE;
            break;
        }
    }
    fclose(f);
    return rc;
}

static bool dept_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
}

/* Splits s at sep into at most max parts (in place): the count, or MC_ETOOBIG. */
static int split(char *s, char sep, char **parts, int max) {
    int n = 0;
    for (char *p = s;;) {
        if (n == max)
            return MC_ETOOBIG;
        parts[n++] = p;
        char *q = strchr(p, sep);
        if (!q)
            break;
        *q = '\0';
        p = q + 1;
    }
    return n;
}

/* The fields of one line of the tokens file: department_id sha256hex scopes
 * areas. 0 or MC_EPARSE with why. */
static int parse_token_line(const gw_api *a, char *line, gw_api_token *t, char *why, size_t wn) {
    char *f[5];
    int n = 0;
    for (char *tok = strtok(line, " \t"); tok; tok = strtok(NULL, " \t")) {
        if (n == 4) {
            snprintf(why, wn, "too many fields (want: department_id sha256hex scopes areas)");
            return MC_EPARSE;
        }
        f[n++] = tok;
    }
    if (n != 4) {
        snprintf(why, wn, "want 4 fields: department_id sha256hex scopes areas");
        return MC_EPARSE;
    }
    size_t dl = strlen(f[0]);
    if (dl == 0 || dl > GW_API_DEPT_MAX) {
        snprintf(why, wn, "department id must be 1..%d bytes", GW_API_DEPT_MAX);
        return MC_EPARSE;
    }
    for (size_t i = 0; i < dl; i++)
        if (!dept_char(f[0][i])) {
            snprintf(why, wn, "department id \"%s\": only a-z, 0-9, _, - and .", f[0]);
            return MC_EPARSE;
        }
    memcpy(t->dept, f[0], dl + 1);
    if (strlen(f[1]) != 2 * SHA256_DIGEST_LENGTH ||
        strspn(f[1], HEX_DIGITS) != 2 * SHA256_DIGEST_LENGTH) {
        snprintf(why, wn, "the token hash must be 64 hex digits (sha256 of the token)");
        return MC_EPARSE;
    }
    for (size_t i = 0; i < SHA256_DIGEST_LENGTH; i++)
        sscanf(f[1] + 2 * i, "%2hhx", &t->hash[i]); /* two hex digits, checked above */
    char *parts[GW_API_MAX_AREAS];
    int np = split(f[2], ',', parts, GW_API_MAX_AREAS);
    if (np < 0) {
        snprintf(why, wn, "too many scopes");
        return MC_EPARSE;
    }
    for (int i = 0; i < np; i++) {
        size_t k = 0;
        while (k < MC_ARRAY_LEN(scope_names) && strcmp(parts[i], scope_names[k]))
            k++;
        if (k == MC_ARRAY_LEN(scope_names)) {
            snprintf(why, wn, "unknown scope \"%s\" (dossiers:write, notify, broadcast, read)",
                     parts[i]);
            return MC_EPARSE;
        }
        t->scopes |= 1u << k;
    }
    np = split(f[3], ',', parts, GW_API_MAX_AREAS);
    if (np < 0) {
        snprintf(why, wn, "more than %d areas", GW_API_MAX_AREAS);
        return MC_EPARSE;
    }
    for (int i = 0; i < np; i++) {
        if (!strcmp(parts[i], "*")) {
            t->all_areas = true;
            continue;
        }
        const gw_ward *w = gw_shared_ward_find(a->data, parts[i]);
        if (!w) {
            snprintf(why, wn, "unknown area \"%s\" (a ward id of wards.csv or *)", parts[i]);
            return MC_EPARSE;
        }
        snprintf(t->areas[t->n_areas++], GW_API_ID_MAX, "%s", w->id);
    }
    for (size_t i = 0; i < a->n_tokens; i++)
        if (!memcmp(a->tokens[i].hash, t->hash, sizeof t->hash)) {
            snprintf(why, wn, "the same token hash appears twice");
            return MC_EPARSE;
        }
    return 0;
}

/* A line of the tokens file: a token with an optional comment after its fields. */
static int token_line(void *ctx, char *s, size_t len, char *why, size_t wn) {
    gw_api *a = ctx;
    (void)len;
    char *hash = strchr(s, '#');
    if (hash)
        *hash = '\0';
    if (a->n_tokens == GW_API_MAX_TOKENS) {
        snprintf(why, wn, "more than %d tokens", GW_API_MAX_TOKENS);
        return MC_EPARSE;
    }
    gw_api_token *t = &a->tokens[a->n_tokens];
    memset(t, 0, sizeof *t);
    if (parse_token_line(a, s, t, why, wn))
        return MC_EPARSE;
    t->kind = GW_API_FILE_TOKEN;
    /* named by the start of its hash: stable, and telling nothing of the token */
    snprintf(t->name, sizeof t->name, "file-%02x%02x%02x%02x", t->hash[0], t->hash[1], t->hash[2],
             t->hash[3]);
    a->n_tokens++;
    return 0;
}

int gw_api_new(const gw_shared *data, const char *tokens_file, const char *share_dir, gw_api **out,
               char *err, size_t errlen) {
    char path[PATH_MAX_BYTES];
    int rc = MC_ENOMEM;
    gw_api *a = calloc(1, sizeof *a);
    *out = NULL;
    if (!a || !(a->tokens = calloc(GW_API_MAX_TOKENS, sizeof *a->tokens)) ||
        !(a->token_used = calloc(GW_API_MAX_TOKENS, sizeof *a->token_used)) ||
        !(a->scripts = calloc(1, sizeof *a->scripts))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    a->data = data;
    snprintf(path, sizeof path, "%s/gateway/api/data/statuses.txt", share_dir);
    if ((rc = gw_statuses_load(path, &a->statuses, err, errlen)))
        goto fail;
    if ((rc = gw_api_read_lines(tokens_file, token_line, a, err, errlen)))
        goto fail;
    *out = a;
    return 0;
fail:
    gw_api_free(a);
    return rc;
}

void gw_api_free(gw_api *a) {
    if (!a)
        return;
    gw_httpc_free(a->http); /* gw_api_close did, unless the API never ran on a loop */
    gw_statuses_free(a->statuses);
    for (size_t i = 0; a->scripts && i < a->scripts->n; i++)
        gw_script_clear(&a->scripts->s[i]);
    free(a->scripts);
    free(a->tokens);
    free(a->token_used);
    free(a);
}

const gw_keyspace *gw_api_keys(const gw_api *a) {
    return a->app ? a->app->keys : NULL;
}

/* The script of body, made and registered with the store on first use; NULL without a
 * store (unit tests) or memory. */
static const gw_script *api_script(const gw_api *a, const char *body, const char *name) {
    api_scripts *t = a->scripts;
    if (!a->app || !a->app->store || !t)
        return NULL;
    for (size_t i = 0; i < t->n; i++)
        if (t->body[i] == body)
            return &t->s[i];
    if (t->n == API_SCRIPTS_MAX ||
        gw_script_load(&t->s[t->n], a->app->store, name, a->app->keys, body))
        return NULL;
    t->body[t->n] = body;
    return &t->s[t->n++];
}

gw_argv gw_api_eval(const gw_api *a, const char *body, const char *name, int nkeys) {
    gw_argv av = {0};
    const gw_script *sc = api_script(a, body, name);
    if (sc)
        gw_argv_evalsha(&av, sc);
    else
        av.oom = 1; /* nothing to send it to, or no memory: the op answers 503 */
    gw_argv_addf(&av, "%d", nkeys);
    return av;
}

/* ---------------------------------------------------------------- tokens */

const char *gw_api_bearer(const char *authorization, size_t *len) {
    if (!authorization || strncasecmp(authorization, "Bearer ", 7))
        return NULL;
    const char *tok = authorization + 7;
    while (*tok == ' ')
        tok++;
    *len = strnlen(tok, GW_API_TOKEN_BYTES_MAX + 1);
    return *len == 0 || *len > GW_API_TOKEN_BYTES_MAX ? NULL : tok;
}

const gw_api_token *gw_api_token_find(const gw_api *a, const char *authorization) {
    size_t len;
    const char *tok = gw_api_bearer(authorization, &len);
    if (!tok)
        return NULL;
    unsigned char h[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)tok, len, h);
    const gw_api_token *found = NULL;
    for (size_t i = 0; i < a->n_tokens; i++) { /* no early exit: the time tells nothing */
        int same = CRYPTO_memcmp(h, a->tokens[i].hash, sizeof h) == 0;
        if (same)
            found = &a->tokens[i];
    }
    return found;
}

json_t *gw_api_scopes_json(unsigned mask) {
    json_t *scopes = json_array();
    for (size_t i = 0; i < MC_ARRAY_LEN(scope_names); i++)
        if (mask & 1u << i)
            json_array_append_new(scopes, json_string(scope_names[i]));
    return scopes;
}

const char *gw_api_token_dept(const gw_api_token *t) {
    return t->dept;
}

unsigned gw_api_token_scopes(const gw_api_token *t) {
    return t->scopes;
}

bool gw_api_token_area_ok(const gw_api_token *t, const char *ward_id) {
    if (t->all_areas)
        return true;
    for (size_t i = 0; i < t->n_areas; i++)
        if (!strcmp(t->areas[i], ward_id))
            return true;
    return false;
}

json_t *gw_api_token_json(const gw_api_token *t) {
    json_t *scopes = gw_api_scopes_json(t->scopes), *areas = gw_api_areas_json(t);
    return json_pack("{s:s, s:o, s:o}", "department", t->dept, "scopes", scopes, "areas", areas);
}

/* ------------------------------------------------------------ principals */

gw_api_token *gw_api_token_new(gw_api_kind kind, const char *dept, const char *name,
                               unsigned scopes, gw_off_role role, const char *areas) {
    gw_api_token *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->kind = kind;
    t->scopes = scopes;
    t->role = role;
    if (strlen(dept) > GW_API_DEPT_MAX || strlen(name) > GW_API_NAME_MAX)
        goto bad;
    snprintf(t->dept, sizeof t->dept, "%s", dept);
    snprintf(t->name, sizeof t->name, "%s", name);
    for (const char *p = areas ? areas : ""; *p;) {
        const char *comma = strchr(p, ',');
        size_t l = comma ? (size_t)(comma - p) : strlen(p);
        if (l == 1 && *p == '*')
            t->all_areas = true;
        else if (l > 0) {
            if (l >= GW_API_ID_MAX || t->n_areas == GW_API_MAX_AREAS)
                goto bad;
            snprintf(t->areas[t->n_areas++], GW_API_ID_MAX, "%.*s", (int)l, p);
        }
        p += l + (comma != NULL);
    }
    return t;
bad:
    free(t);
    return NULL;
}

gw_api_token *gw_api_token_dup(const gw_api_token *t) {
    gw_api_token *c = malloc(sizeof *c);
    if (c)
        *c = *t;
    return c;
}

void gw_api_token_free(gw_api_token *t) {
    free(t);
}

void gw_api_token_set_session(gw_api_token *t, const char *session, const char *csrf,
                              bool must_change) {
    snprintf(t->session, sizeof t->session, "%s", session);
    snprintf(t->csrf, sizeof t->csrf, "%s", csrf);
    t->must_change = must_change;
}

gw_api_kind gw_api_token_kind(const gw_api_token *t) {
    return t->kind;
}

const char *gw_api_token_name(const gw_api_token *t) {
    return t->name;
}

gw_off_role gw_api_token_role(const gw_api_token *t) {
    return t->role;
}

const char *gw_api_token_session(const gw_api_token *t) {
    return t->session;
}

const char *gw_api_token_csrf(const gw_api_token *t) {
    return t->csrf;
}

bool gw_api_token_must_change(const gw_api_token *t) {
    return t->must_change;
}

void gw_api_token_actor(const gw_api_token *t, char *out, size_t n) {
    snprintf(out, n, "%s:%s", t->kind == GW_API_OFFICER ? "officer" : "key", t->name);
}

unsigned gw_api_role_scopes(gw_off_role r) {
    switch (r) {
    case GW_OFF_VIEWER: return GW_SCOPE_READ;
    case GW_OFF_OFFICER: return GW_SCOPE_READ | GW_SCOPE_DOSSIERS_WRITE | GW_SCOPE_NOTIFY;
    case GW_OFF_ADMIN:
        return GW_SCOPE_READ | GW_SCOPE_DOSSIERS_WRITE | GW_SCOPE_NOTIFY | GW_SCOPE_BROADCAST;
    default: return 0;
    }
}

int gw_api_scopes_parse(const char *csv, unsigned *out) {
    *out = 0;
    for (const char *p = csv; *p;) {
        const char *comma = strchr(p, ',');
        size_t l = comma ? (size_t)(comma - p) : strlen(p), k = 0;
        while (k < MC_ARRAY_LEN(scope_names) &&
               (strlen(scope_names[k]) != l || strncmp(scope_names[k], p, l)))
            k++;
        if (k == MC_ARRAY_LEN(scope_names))
            return MC_EINVAL;
        *out |= 1u << k;
        p += l + (comma != NULL);
    }
    return 0;
}

const char *gw_api_scope_name(size_t i) {
    return i < MC_ARRAY_LEN(scope_names) ? scope_names[i] : NULL;
}

json_t *gw_api_areas_json(const gw_api_token *t) {
    json_t *areas = json_array();
    if (t->all_areas)
        json_array_append_new(areas, json_string("*"));
    else
        for (size_t i = 0; i < t->n_areas; i++)
            json_array_append_new(areas, json_string(t->areas[i]));
    return areas;
}

size_t gw_api_file_tokens(const gw_api *a, const char *dept, const gw_api_token **out, size_t max) {
    size_t n = 0;
    for (size_t i = 0; i < a->n_tokens && n < max; i++)
        if (!strcmp(a->tokens[i].dept, dept))
            out[n++] = &a->tokens[i];
    return n;
}

/* A token of the file was used: its last use is written to the store at most once a
 * minute per process (GET /keys shows it), fire and forget. */
#define TOKEN_USED_EVERY_MS 60000
static void note_file_token(const gw_api *a, const gw_api_token *t) {
    size_t i = (size_t)(t - a->tokens);
    int64_t now = gw_now_ms();
    if (!a->app || !a->app->store || i >= a->n_tokens ||
        now - a->token_used[i] < TOKEN_USED_EVERY_MS)
        return;
    a->token_used[i] = now;
    gw_argv av = {0};
    gw_argv_adds(&av, "HSET");
    gw_api_add_dept_key_part(&av, a, GW_K_APIKEY, t->dept, t->name);
    gw_argv_adds(&av, "last_used_ms");
    gw_argv_addf(&av, "%" PRId64, now);
    gw_argv_send(a->app->store, &av, NULL, NULL);
    gw_argv_free(&av);
}

/* ------------------------------------------------------------- dispatch */

/* The route's handler, once the caller is known and allowed. */
static void on_allowed(const gw_api *a, gw_req *rq, const gw_api_token *t, void *arg) {
    const binding *b = arg;
    if (t->kind == GW_API_FILE_TOKEN)
        note_file_token(a, t);
    b->r->fn(a, rq, t);
}

/* Every route of the room: who calls (a token of the file, an API key, an officer's
 * session), whether they may (scope or role for the method), then the row's handler. */
static void on_route(gw_req *rq, void *priv) {
    const binding *b = priv;
    const char *m = gw_req_method(rq);
    bool reads = !strcmp(m, "GET") || !strcmp(m, "HEAD");
    gw_auth_need need = {reads ? b->r->read_scope : b->r->write_scope,
                         reads ? b->r->read_role : b->r->write_role, !reads, false};
    gw_auth_request(b->api, rq, &need, on_allowed, (void *)b);
}

int gw_api_open(gw_app *app, gw_api **out, char *err, size_t errlen) {
    *out = NULL;
    if (!*app->cfg->admin_tokens_file)
        return 0;
    gw_api *a;
    /* whatever went wrong with the data files, serve stops as for a bad file (exit 2) */
    if (gw_api_new(app->data, app->cfg->admin_tokens_file, app->share_dir, &a, err, errlen))
        return MC_EPARSE;
    a->app = app;
    gw_httpc_opts ho = {.max_per_pool = 4, .max_total = 8};
    if (!(a->http = gw_httpc_new(app->loop, &ho, err, errlen))) {
        gw_api_free(a);
        return MC_ENOMEM;
    }
    for (size_t i = 0; i < N_ROUTES; i++) {
        a->bind[i] = (binding){a, &routes[i]};
        if (gw_router_add(app->router, routes[i].path, routes[i].label, routes[i].methods, on_route,
                          &a->bind[i])) {
            snprintf(err, errlen, "cannot add the route %s", routes[i].path);
            gw_api_free(a);
            return MC_ETOOBIG;
        }
    }
    if (gw_console_routes(a, app)) {
        snprintf(err, errlen, "cannot add the console's routes");
        gw_api_free(a);
        return MC_ETOOBIG;
    }
    gw_off_dummy_hash(); /* made now, not by the first sign-in with an unknown user */
    *out = a;
    gw_log(GW_INFO, "admin.ready", "{s:I, s:I}", "tokens", (json_int_t)a->n_tokens, "statuses",
           (json_int_t)gw_statuses_count(a->statuses));
    gw_log(GW_INFO, "console.ready", "{s:I}", "wards", (json_int_t)gw_shared_ward_count(app->data));
    return 0;
}
