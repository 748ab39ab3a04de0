/*
 * gw_api_int.h — the framework the files of gateway/api/ share (nothing outside
 * api/ includes it but the unit tests): the module and its tokens, the route
 * table's handler type, error answers, JSON bodies and field validators, query
 * parameters, the async op that carries a request through the store, the
 * idempotency helpers, ids and times; then what one resource file offers
 * another (the status table, the template step).
 *
 * The rules every endpoint follows: a request is checked completely before
 * Redis sees anything (token → 401, scope or area → 403, body and fields → 400
 * naming the field), then each logical write is ONE Lua script, so a failure
 * leaves all or nothing and a Redis that is down gives 503 with nothing written.
 * Errors are {"error","message","field"}.
 *
 * Redis shapes written by api/ (families of store/gw_keys.h; read by the chat worker
 * and the scheduler):
 *   dossier      hash dept procedure status status_text phone expected_at updated agency
 *   history      list of JSON events {status,status_text,note,at,dept}
 *   dossiers     zset of the department's dossier codes by last change (ms), in the
 *                department's partition ("dept:<dept>")
 *   notif        hash dept status text to channels idx send_at_ms not_after_ms priority
 *                created_ms (+ dossier for events, batch for the rows of a batch)
 *   due          zset of notification ids by send_at_ms, in their partition
 *   batch        hash dept count ids (JSON array), kept as long as its idempotency key
 *   bc, bc_due   a broadcast's hash and the zset of due broadcasts, in its partition
 *   idem         "<sha256 of the canonical body>|<id>" (bc:<key> for broadcasts,
 *                batch:<key> for batches), in the partition of what it made
 *   sub_dossier, sub_ward, sub_ward_tag   sets of "<channel>:<user id>"
 *   subs         set of "dossier:<code>" / "ward:<id>" / "ward:<id>:tag:<tag>"
 *   tpl          hash: template id → JSON {id,name,text,placeholders,updated_at}, in the
 *                department's partition
 *   officer      hash user role areas state pw (Argon2id) totp (base32) totp_step gen
 *                must_change created_ms created_by updated_ms last_sign_in_ms; officers the
 *                department's zset of users; both in the department's partition
 *   login        the department of a user name; signin_fail its failures of the window
 *                (both in the partition of "login:<user>")
 *   session      hash dept user csrf gen created_ms last_ms, under the SHA-256 of its
 *                cookie, in that hash's partition; expires idle or absolute
 *   apikey       hash hash scopes areas created_by created_ms last_used_ms; apikeys the
 *                department's index sha256(token) → name (the department's partition)
 *   audit        stream of {ts,actor,action,target,ip,changes}, ids from the gateway's
 *                clock, trimmed to [admin] audit_days (the department's partition)
 * Ids made here name their partition: "<partition>-<hex>" (store/gw_keys.h).
 */
#ifndef GW_API_INT_H
#define GW_API_INT_H

#include "gateway/api/gw_api.h"
#include "gateway/api/gw_officer.h"
#include "gateway/app/gw_app.h"
#include "gateway/app/gw_shared.h"
#include "gateway/net/gw_http.h"
#include "gateway/net/gw_httpc.h"
#include "gateway/store/gw_keys.h"
#include "gateway/store/gw_store.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_API_PREFIX "/api/v1/" /* every route of the room */

/* ---------------------------------------------------------------- limits */

#define GW_API_MAX_TOKENS 256      /* lines of the tokens file */
#define GW_API_MAX_LINE 1024       /* longest line of a data file */
#define GW_API_DEPT_MAX 64         /* department id, bytes */
#define GW_API_TOKEN_BYTES_MAX 512 /* a presented bearer token longer than this is wrong */
#define GW_API_CODE_MAX 48         /* dossier code, bytes */
#define GW_API_ID_MAX 48           /* status/procedure/ward ids, bytes (with the NUL) */
#define GW_API_MAX_AREAS 64        /* areas of one token, wards of one broadcast */
#define GW_API_MAX_TAGS 16         /* tags of a subscription or a broadcast */
#define GW_API_TAG_MAX 32          /* one tag, bytes */
#define GW_API_TEXT_MAX 2000       /* a notification or broadcast text, bytes */
#define GW_API_NOTIF_ID_MAX 64     /* an id of a path or made here, bytes */
#define GW_API_TPL_VALUE_MAX 200   /* one value of template.data, bytes */
#define GW_API_USER_ID_MAX 128     /* a channel's user id, bytes */
#define GW_API_IDEM_KEY_MAX 128    /* an idempotency key, bytes */
#define GW_API_IDEM_TTL_S "604800" /* idempotency keys are remembered 7 days */
#define GW_API_HASH_HEX 65         /* a SHA-256 in hex, with its NUL */
#define GW_API_TIME_MAX 40         /* an ISO 8601 time written here, with its NUL */
#define GW_API_DATE_LEN 11         /* "yyyy-mm-dd" and its NUL */
#define GW_API_LOG_NOTE_MAX 256    /* what an op keeps for its log line, bytes */
#define GW_REPEAT_WINDOW_MS 60000  /* the same status posted again this soon is a double click */

/* Scopes of a token. */
#define GW_SCOPE_DOSSIERS_WRITE 1u
#define GW_SCOPE_NOTIFY 2u
#define GW_SCOPE_BROADCAST 4u
#define GW_SCOPE_READ 8u
#define GW_SCOPE_PEOPLE (1u << 31) /* a route no token may use, only officers (a route's mask) */

#define GW_API_NAME_MAX 64 /* an API key's name or an officer's user name, bytes */

/* Characters of the ids a path may carry (gw_api_id_ok). */
#define GW_API_ID_HEX "0123456789abcdef"  /* broadcasts */
#define GW_API_ID_NOTIF GW_API_ID_HEX "-" /* notifications: events and batch rows end in -<n> */
#define GW_API_ID_WORD                                                                             \
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_" /* dead letters */

/* ---------------------------------------------------------------- module */

typedef struct gw_statuses gw_statuses;

/*
 * Loads <share_dir>/gateway/api/data/statuses.txt, then the tokens of
 * tokens_file (areas are ward ids or slugs of data, borrowed: it must outlive
 * the module). 0 with *out (gw_api_free), or MC_EIO / MC_EPARSE / MC_ENOMEM
 * with "file:LINE: reason" in err. gw_api_open is this plus the routes.
 */
int gw_api_new(const gw_shared *data, const char *tokens_file, const char *share_dir, gw_api **out,
               char *err, size_t errlen);

gw_app *gw_api_app(const gw_api *a);                 /* the process; NULL in unit tests */
const gw_shared *gw_api_data(const gw_api *a);       /* wards, procedures, collation */
const gw_statuses *gw_api_statuses(const gw_api *a); /* statuses.txt */
typedef struct gw_rowerrs gw_rowerrs;                /* row_errors.txt (gw_notifications.c) */
const gw_rowerrs *gw_api_rowerrs(const gw_api *a);

/*
 * Reads a text file line by line: fn gets each line that is neither blank nor
 * a comment (# first), trimmed of white space and NUL-terminated, and returns
 * 0, or MC_EPARSE with a reason in why. 0, or MC_EIO / MC_EPARSE with
 * "path:LINE: reason" in err.
 */
typedef int gw_api_line_fn(void *ctx, char *line, size_t len, char *why, size_t wn);
int gw_api_read_lines(const char *path, gw_api_line_fn *fn, void *ctx, char *err, size_t errlen);
/* Moves *s and *len past leading and before trailing white space. */
void gw_api_trim(char **s, size_t *len);

/* ---------------------------------------------------------------- tokens */

/*
 * Who calls: a token of the tokens file (lives as long as the module), or — made for one
 * request — an API key of the store or an officer's console session. Every handler gets
 * one; an op keeps its own copy (gw_api_op_new), so a handler may go on after the request's
 * principal is freed.
 */
typedef struct gw_api_token gw_api_token;

typedef enum gw_api_kind {
    GW_API_FILE_TOKEN, /* a line of [admin] tokens_file */
    GW_API_KEY,        /* an API key a department admin made (POST /keys) */
    GW_API_OFFICER,    /* an officer signed in to the console */
} gw_api_kind;

/*
 * The token of an Authorization header value ("Bearer <token>"): the SHA-256
 * of the token is compared with every configured hash in constant time. The
 * token lives as long as the module; NULL when none matches.
 */
const gw_api_token *gw_api_token_find(const gw_api *a, const char *authorization);
/* The token of a "Bearer <token>" header value and its length, or NULL (none, too long). */
const char *gw_api_bearer(const char *authorization, size_t *len);
const char *gw_api_token_dept(const gw_api_token *t);
unsigned gw_api_token_scopes(const gw_api_token *t); /* GW_SCOPE_* */
/* true when the token's areas cover ward_id ('*' or listed). */
bool gw_api_token_area_ok(const gw_api_token *t, const char *ward_id);
/* {"department","scopes":[...],"areas":[...|"*"]} (new reference). */
json_t *gw_api_token_json(const gw_api_token *t);
/* A principal of one request: an API key's or an officer's (kind), its department, name
 * (key name or user), scopes, role (officers; GW_OFF_NOBODY otherwise) and areas ("*" or
 * ward ids, comma-separated). New (gw_api_token_free), or NULL (memory, too long). */
gw_api_token *gw_api_token_new(gw_api_kind kind, const char *dept, const char *name,
                               unsigned scopes, gw_off_role role, const char *areas);
gw_api_token *gw_api_token_dup(const gw_api_token *t); /* a copy, or NULL */
void gw_api_token_free(gw_api_token *t);
/* An officer's session: its key's part (sha256 of the cookie), its CSRF token, and whether
 * the officer must still change a one-time password. */
void gw_api_token_set_session(gw_api_token *t, const char *session, const char *csrf,
                              bool must_change);
const char *gw_api_token_csrf(const gw_api_token *t); /* "" but for officers */
gw_api_kind gw_api_token_kind(const gw_api_token *t);
const char *gw_api_token_name(const gw_api_token *t);    /* key name, user, "file-<hex>" */
gw_off_role gw_api_token_role(const gw_api_token *t);    /* GW_OFF_NOBODY but for officers */
const char *gw_api_token_session(const gw_api_token *t); /* "" but for officers */
bool gw_api_token_must_change(const gw_api_token *t);
/* The audit trail's actor: "officer:USER" or "key:NAME" (file tokens: "key:file-<hex>"). */
void gw_api_token_actor(const gw_api_token *t, char *out, size_t n);
#define GW_API_ACTOR_MAX (GW_API_NAME_MAX + 16) /* an actor, with its NUL */
/* The scopes an officer's role carries (what GET /me shows and the console enables). */
unsigned gw_api_role_scopes(gw_off_role r);
/* Scope names, comma-separated, into a mask: 0, or MC_EINVAL for an unknown one. */
int gw_api_scopes_parse(const char *csv, unsigned *out);
/* The name of scope bit i, or NULL past the last. */
const char *gw_api_scope_name(size_t i);
/* A mask's names, and a principal's areas, as JSON arrays (new references). */
json_t *gw_api_scopes_json(unsigned mask);
json_t *gw_api_areas_json(const gw_api_token *t);
/* The tokens of the file that belong to dept, at most max, into out: their count. */
size_t gw_api_file_tokens(const gw_api *a, const char *dept, const gw_api_token **out, size_t max);

/*
 * A route's handler: the route table of gw_api.c has checked the caller (401) and its
 * scope or role for the method (403) before calling it; t lives until it returns.
 */
typedef void gw_api_handler(const gw_api *a, gw_req *rq, const gw_api_token *t);

/* ------------------------------------------------------------ the check */

/* What a request needs (gw_auth.c). */
typedef struct gw_auth_need {
    unsigned scope;     /* a token needs one of these (0: any token; GW_SCOPE_PEOPLE: none may) */
    gw_off_role role;   /* an officer needs this role at least (GW_OFF_NOBODY: none may) */
    bool write;         /* a write: a session's request must carry its X-CSRF-Token */
    bool before_change; /* allowed to an officer who must still change a one-time password */
} gw_auth_need;

/* Called once the caller is known and allowed; t lives until it returns. */
typedef void gw_auth_fn(const gw_api *a, gw_req *rq, const gw_api_token *t, void *arg);

/*
 * Finds who calls rq — a bearer token of the file, an API key (its record read in the
 * store: a key revoked is refused at once, in every process), or the console's session
 * cookie (the session and its officer read in the store: idle and absolute expiry, a
 * disabled officer refused at once) — and checks need: 401 (nobody, or an ended
 * session), 403 (forbidden, csrf, password_change_required), 503 (the store is away).
 * Then then(a, rq, t, arg), at once or from a store callback.
 */
void gw_auth_request(const gw_api *a, gw_req *rq, const gw_auth_need *need, gw_auth_fn *then,
                     void *arg);

/* The console's own endpoints under /console/api/ (gw_console.c), added to the router when
 * the API opens: 0 or MC_ETOOBIG. */
int gw_console_routes(const gw_api *a, gw_app *app);

/* The session id of a Cookie header value (motcua_session=<32 hex>) into out: 0, or
 * MC_ENOTFOUND. */
#define GW_API_SESSION_COOKIE "motcua_session"
int gw_api_session_cookie(const char *cookie, char out[GW_OFF_SECRET_HEX]);

/* ---------------------------------------------------------------- errors */

/* A 4xx answer built by a validator before it is sent, or collected per row. */
typedef struct gw_api_err {
    int status;        /* HTTP status; 0 while nothing is wrong */
    char code[32];     /* "bad_field", "missing_field", "forbidden", ... */
    char field[256];   /* JSON path of the field at fault, "" when none */
    char message[512]; /* for a human */
} gw_api_err;

/* Fills e and returns MC_EINVAL, so that a validator may end with
 * `return gw_api_err_set(...)`. field NULL: none. */
int gw_api_err_set(gw_api_err *e, int status, const char *code, const char *field, const char *fmt,
                   ...) __attribute__((format(printf, 5, 6)));

/* e as {"error","message","field"} (field left out when empty): a new string the
 * caller frees, or NULL when memory runs out. */
char *gw_api_err_json(const gw_api_err *e);

/* Answers e (a status of 0 is 400). */
void gw_api_fail_err(gw_req *rq, const gw_api_err *e);
/* Answers {"error","message","field"} (field NULL: left out). */
void gw_api_fail(gw_req *rq, int status, const char *code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void gw_api_vfail(gw_req *rq, int status, const char *code, const char *field, const char *fmt,
                  va_list ap) __attribute__((format(printf, 5, 0)));
/* Answers o as JSON with status; steals the reference (NULL: 500). */
void gw_api_answer(gw_req *rq, int status, json_t *o);
/* Answers 500 "out of memory". */
void gw_api_oom(gw_req *rq);
/* A Redis list of JSON texts (a history, attempts) as a JSON array: each
 * parsed, or kept as a string when it is not JSON (new reference). */
json_t *gw_api_json_list(const redisReply *list);

/* ------------------------------------------------------ bodies and fields */

/* The body as a JSON object (new reference), or NULL when answered 400. */
json_t *gw_api_body(gw_req *rq);

/*
 * How much of a key the client chose an error names: at most bytes bytes and
 * cps code points, never part of a character. The API's endpoints name 60
 * bytes of it, the console's (templates, batches, template data) 48 characters.
 */
typedef struct gw_api_cut {
    size_t bytes; /* bytes at most */
    size_t cps;   /* code points at most */
} gw_api_cut;
#define GW_API_CUT ((gw_api_cut){60, 60})
#define GW_API_CUT_CONSOLE ((gw_api_cut){4 * 48, 48})

/* prefix then key cut as cut says. */
void gw_api_key_path(char *out, size_t n, const char *prefix, const char *key, gw_api_cut cut);

/* Rejects the first key of o not in allowed (NULL-terminated): 400 bad_field
 * naming prefix + key (gw_api_key_path). 0 or MC_EINVAL with e. */
int gw_api_only_fields(gw_api_err *e, const json_t *o, const char *const *allowed,
                       const char *prefix, gw_api_cut cut);

/*
 * The string field name of o, 1..max bytes without NUL, named path in errors:
 * *out (borrowed from o) and *outlen, or *out = NULL when absent or null. 0, or
 * MC_EINVAL with e (missing when required, not a string, empty, too long).
 */
int gw_api_str_field(gw_api_err *e, const json_t *o, const char *name, const char *path, size_t max,
                     bool required, const char **out, size_t *outlen);

/* The RFC 3339 time field name of b into *ms; unchanged when absent. 0 or MC_EINVAL. */
int gw_api_time_field(gw_api_err *e, const json_t *b, const char *name, int64_t *ms);

/* What a notification and a broadcast share: their text (given, or made from a
 * department template), priority, idempotency key and times. */
typedef struct gw_api_message {
    const char *text;     /* borrowed from the body, or NULL with a template */
    const char *tpl_id;   /* borrowed: template.id, or NULL */
    json_t *tpl_data;     /* borrowed: template.data (an object), or NULL */
    const char *priority; /* "normal" or "urgent" */
    const char *idem_key; /* borrowed: idempotency_key, or NULL */
    int64_t send_at_ms;   /* due time */
    int64_t not_after_ms; /* deadline, 0 = none */
    int64_t created_ms;   /* the gateway's clock when it was checked */
    char *out_text;       /* owned: what is stored and sent (the text step's) */
    const char *tpl_ch;   /* static: the channel of a provider template the department's
                             template is linked to (ZNS), or NULL */
    char *tpl_msg;        /* owned: that provider's template message, JSON (data:<tpl_ch>) */
} gw_api_message;

/* text or template (exactly one; the template's existence is checked later,
 * against the store), priority and idempotency_key of b into m. 0 or MC_EINVAL. */
int gw_api_message_fields(gw_api_err *e, const json_t *b, gw_api_message *m);
/* send_at (default now) and not_after of b into m, created_ms = now. 0 or MC_EINVAL. */
int gw_api_message_times(gw_api_err *e, const json_t *b, gw_api_message *m);

/* ------------------------------------------------------------ validators */

/* Canonical dossier code 000.00.25.H29-231122-0001 (upper-case). */
bool gw_api_code_ok(const char *s, size_t len);
/* Vietnamese mobile in E.164: +84 then 9 digits, the first 3, 5, 7, 8 or 9. */
bool gw_api_phone_ok(const char *s, size_t len);
#define GW_API_PHONE_MAX 16 /* "+84912345678" and its NUL, with room */
/* A Vietnamese mobile as people write it — 0912 345 678, 0912.345.678, 84912345678,
 * +84 912345678 — into E.164 (+84912345678) in out: 0, or MC_EINVAL. */
int gw_api_phone_normalize(const char *s, size_t len, char *out, size_t n);
/* Calendar date YYYY-MM-DD from 2000. */
bool gw_api_date_ok(const char *s, size_t len);
/* 1..GW_API_USER_ID_MAX printable ASCII bytes without spaces (they end up in keys). */
bool gw_api_user_id_ok(const char *s, size_t len);
/* A channel the API may address: a provider channel or "webchat". */
bool gw_api_channel_known(const char *c);
/* 1..GW_API_NOTIF_ID_MAX bytes, each one of chars (GW_API_ID_*). */
bool gw_api_id_ok(const char *s, size_t len, const char *chars);
/* The request's path after prefix (a route's prefix it is known to start with). */
const char *gw_api_path_rest(gw_req *rq, const char *prefix);

/* --------------------------------------------------------- query strings */

/*
 * The first name=value of a query string (gw_req_query), percent-decoded ('+'
 * is a space; a '%' not followed by two hex digits stays) into out: 0;
 * MC_ENOTFOUND when absent; MC_ETOOBIG when the value does not fit n bytes;
 * MC_EINVAL when it holds a NUL.
 */
int gw_api_query(const char *q, size_t qlen, const char *name, char *out, size_t n);

/* The whole number name= (digits only) into *out: def when absent, 0; MC_EINVAL
 * when it is not 1..9 digits or lies outside [min, max]. */
int gw_api_query_long(const char *q, size_t qlen, const char *name, long def, long min, long max,
                      long *out);
/* The same from the request's query, 1..max: 0, or MC_EINVAL once answered 400
 * bad_field name with the message fmt. */
int gw_api_query_count(gw_req *rq, const char *name, long def, long max, long *out, const char *fmt,
                       ...) __attribute__((format(printf, 6, 7)));

/* ----------------------------------------------------------------- times */

/* RFC 3339 date-time with Z or ±HH:MM into ms since the epoch; 0 or MC_EINVAL. */
int gw_api_parse_time(const char *s, size_t len, int64_t *ms);
/* ms since the epoch as RFC 3339 in the configured zone ("...T15:04:05+07:00": app/
 * gw_time.h); in UTC ("...Z") without a process (unit tests). */
void gw_api_format_time(const gw_api *a, int64_t ms, char *out, size_t n);
/* The local day number (days since 1970-01-01) of utc_ms, as gw_api_format_time. Its
 * date: gw_date_of_day (app/gw_time.h), the computation of the Lua ymd(). */
int64_t gw_api_day(const gw_api *a, int64_t utc_ms);
/* A query's since=: an RFC 3339 time, or a date YYYY-MM-DD (its local midnight). 0 or
 * MC_EINVAL. */
int gw_api_parse_since(const gw_api *a, const char *s, int64_t *ms);

/* ------------------------------------------------------------ ids, masks */

/* n random bytes as 2n lower-case hex digits (out holds 2n+1; n <= 32). */
void gw_api_random_hex(char *out, size_t nbytes);
/* SHA-256 of s as 64 hex digits and a NUL. */
void gw_api_sha256_hex(const char *s, size_t len, char out[GW_API_HASH_HEX]);
/* A user id as a stranger may see it: its first two and last two bytes around
 * "****", only "****" when 6 bytes or fewer. Always NUL-terminated. */
void gw_api_mask_id(const char *s, size_t len, char *out, size_t n);
/* A recipient for display: a phone (leading '+') "+8490****567" (gw_mask_pii),
 * any other id as gw_api_mask_id, "" for "". Always NUL-terminated. */
void gw_api_mask(const char *to, char *out, size_t n);

/* ------------------------------------------------------------ async op */

/*
 * A request on its way through the store. A handler makes one, fills what its
 * callbacks need, and ends it with gw_api_op_send (the framework takes it) or
 * gw_api_op_free. The framework's store callback answers for every endpoint
 * alike: no reply (the connection dropped) 503, a Redis error 500, a reply of
 * another shape than asked 500 — and calls the op's reply function only with a
 * reply of the shape asked. The op is freed when that function returns, unless
 * it sent the op on (gw_api_op_send again); gw_api_op_free there is harmless.
 */
typedef struct gw_api_op gw_api_op;
typedef void gw_api_reply_fn(gw_api_op *o, const redisReply *r);
typedef void gw_api_next_fn(gw_api_op *o);

typedef enum gw_api_want {
    GW_API_ANY,    /* any reply but an error */
    GW_API_INT,    /* an integer */
    GW_API_ARRAY,  /* an array */
    GW_API_STATUS, /* an array led by an integer (a script's status) */
} gw_api_want;

struct gw_api_op {
    const gw_api *api;                /* the module */
    gw_req *rq;                       /* holds a reference */
    const gw_api_token *t;            /* the caller (the op's own copy, freed with it) */
    char dept[GW_API_DEPT_MAX + 1];   /* its department */
    char id[GW_API_NOTIF_ID_MAX + 1]; /* the id of the path, or the one made */
    char code[GW_API_CODE_MAX + 1];   /* a dossier code, when any */
    char hash[GW_API_HASH_HEX];       /* the canonical body's hash (idempotency) */
    char note[GW_API_LOG_NOTE_MAX];   /* what the log line needs */
    int64_t now;                      /* the gateway's clock when the op was made */
    long n;                           /* a count the answer needs (GET /stats: days) */
    unsigned part;                    /* the partition o->id names (gw_api_op_for_id) */
    json_t *body;                     /* owned: the request body, or NULL */
    json_t *keep;                     /* owned: what the answer returns, or NULL */
    void *res;                        /* owned: the resource's own state, or NULL */
    void (*res_clear)(void *res);     /* frees what res holds (then res is freed) */
    /* the framework's */
    gw_api_reply_fn *reply; /* the function the next reply goes to */
    gw_api_want want;       /* the shape it wants */
    bool in_reply;          /* its reply function is running */
    bool sent_on;           /* sent again while in_reply */
    /* gw_api_op_steps's */
    struct {
        size_t n, i;      /* steps, the one in flight */
        gw_api_want want; /* the shape of their replies */
        void (*build)(gw_api_op *o, size_t i, gw_argv *av);
        void (*each)(gw_api_op *o, size_t i, const redisReply *r);
        gw_api_next_fn *done;
        bool failed; /* each answered the request: stop */
    } steps;
    /* the text step's (gw_templates_text) */
    gw_api_message *msg;  /* the message whose text is made, in res */
    gw_api_next_fn *next; /* what follows once it has its text */
    /* gw_templates_fetch_use's */
    gw_api_reply_fn *use_fn; /* gets the template once its first use is checked */
    char *use_rec;           /* owned: the record while its provider link is checked */
    char use_id[64];         /* its template id (GW_TPL_ID_MAX bytes at most) */
    /* the message log's (gw_msglog_note, gw_msglog_then) */
    json_t *log;              /* owned: [{who, id, ms, part}] to index before the write */
    json_t *log_parts;        /* owned: the partitions they live in */
    gw_api_next_fn *log_next; /* the write, once they are indexed */
};

/* A new op for rq and the caller's token t (NULL: nobody yet, the console's sign-in), or
 * NULL when answered 500. */
gw_api_op *gw_api_op_new(const gw_api *a, gw_req *rq, const gw_api_token *t);
/* The same, owning the body (gw_api_body), or NULL when answered 400 or 500. */
gw_api_op *gw_api_op_with_body(const gw_api *a, gw_req *rq, const gw_api_token *t);

/* Checks the body of o into its resource state o->res: 0, or MC_EINVAL with e. */
typedef int gw_api_check_fn(gw_api_op *o, gw_api_err *e);

/*
 * The start of a request with a JSON body: the op owning the body, with res
 * the resource's state (size zeroed bytes, emptied by clear, which may be NULL,
 * when the op goes), checked by check. NULL once answered: 400 for a body that
 * is not an object or that check refuses (e's status), 500.
 */
gw_api_op *gw_api_op_checked(const gw_api *a, gw_req *rq, const gw_api_token *t, size_t size,
                             void (*clear)(void *res), gw_api_check_fn *check);

/*
 * What a resource's body check needs: the state it fills (res_size zeroed bytes,
 * emptied by res_clear, which may be NULL) and the check. Each endpoint with a body has
 * one (gw_notification_body, ...); the handlers judge bodies with it, and so can a test
 * or the fuzz target through gw_api_check_body, without a request or a store.
 */
typedef struct gw_api_body_check {
    const char *name;             /* for people: "notification", "broadcast", ... */
    size_t res_size;              /* bytes of the resource's state */
    void (*res_clear)(void *res); /* frees what the state holds; may be NULL */
    gw_api_check_fn *check;       /* the check */
} gw_api_body_check;

extern const gw_api_body_check gw_notification_body;  /* POST /notifications */
extern const gw_api_body_check gw_batch_body;         /* POST /notifications/batch */
extern const gw_api_body_check gw_broadcast_body;     /* POST /broadcasts (and preview) */
extern const gw_api_body_check gw_subscription_body;  /* POST /subscriptions */
extern const gw_api_body_check gw_dossier_body;       /* PUT /dossiers/{code} */
extern const gw_api_body_check gw_dossier_event_body; /* POST /dossiers/{code}/events */
extern const gw_api_body_check gw_template_body;      /* PUT /templates/{id} */
extern const gw_api_body_check gw_report_event_body;  /* POST /reports/{id}/events */
extern const gw_api_body_check gw_officer_body;       /* POST /officers */
extern const gw_api_body_check gw_apikey_body;        /* POST /keys */

/* Judges body as c's endpoint does for the token t (its department, scopes and
 * areas), and frees what the check made: 0, or MC_EINVAL with e (4xx; 500 on OOM). */
int gw_api_check_body(const gw_api *a, const gw_api_token *t, const gw_api_body_check *c,
                      const json_t *body, gw_api_err *e);

/* The op of a route whose path is prefix then a partitioned id ("<partition>-...") of
 * chars (gw_api_id_ok), the id in o->id and its partition in o->part; NULL once answered
 * (404 "no <what> <id>", 500). */
gw_api_op *gw_api_op_for_id(const gw_api *a, gw_req *rq, const gw_api_token *t, const char *prefix,
                            const char *chars, const char *what);
void gw_api_op_free(gw_api_op *o);

/* Sends av and frees it; fn gets the reply when it has the shape want. When
 * the store cannot take it: answers 503 ("nothing was written") and frees o.
 * Either way the caller forgets o and av. 0 or MC_EUNAVAIL. */
int gw_api_op_send(gw_api_op *o, gw_argv *av, gw_api_want want, gw_api_reply_fn *fn);

/*
 * n commands, one after the other, for one request (a read or a write over every
 * partition, or over the items an index named): build(o, i, av) makes command i in an
 * empty vector; each(o, i, r) gets its reply (of shape want; otherwise the request is
 * answered 500 and the steps end), and may answer the request itself and set
 * o->steps.failed to end them; after the last, done(o) answers. The op is the steps'
 * until then. n = 0 calls done at once: only from a reply function (which frees the op).
 */
typedef void gw_api_step_build_fn(gw_api_op *o, size_t i, gw_argv *av);
typedef void gw_api_step_reply_fn(gw_api_op *o, size_t i, const redisReply *r);
void gw_api_op_steps(gw_api_op *o, size_t n, gw_api_want want, gw_api_step_build_fn *build,
                     gw_api_step_reply_fn *each, gw_api_next_fn *done);

/*
 * Runs work(o) on libuv's thread pool — slow work that touches only o (Argon2id) — then
 * done(o) back on the loop, which owns o from there as a reply function's next step does.
 * From a reply function, the op is the work's once this returns. Without a process (unit
 * tests) both run at once. Answers 500 and frees o when the work cannot be queued.
 */
void gw_api_op_work(gw_api_op *o, gw_api_next_fn *work, gw_api_next_fn *done);

/* The steps over every partition (step i is partition i), with keep (stolen; NULL: the
 * op's own) as what each adds to: answers 500 when keep is NULL (memory ran out). */
void gw_api_op_parts(gw_api_op *o, json_t *keep, gw_api_want want, gw_api_step_build_fn *build,
                     gw_api_step_reply_fn *each, gw_api_next_fn *done);

/* An argument vector that begins EVALSHA of the script made of the keyspace's prelude
 * and lua (a static text: the room keeps one script per text, loaded into the store on
 * first use) and <nkeys>: the keys and arguments follow, then gw_api_op_send. Without a
 * store (unit tests) the vector is marked unusable and the send answers 503. */
gw_argv gw_api_eval(const gw_api *a, const char *lua, const char *name, int nkeys);
#define GW_API_EVAL(a, lua, nkeys) gw_api_eval(a, lua, #lua, nkeys)

/* The keyspace (NULL in unit tests: no key can be built). */
const gw_keyspace *gw_api_keys(const gw_api *a);

/* ------------------------------------------------------------ idempotency */

/* o->hash = SHA-256 of the body's canonical JSON (sorted keys, compact). 0 or MC_ENOMEM. */
int gw_api_op_hash_body(gw_api_op *o);
/* ------------------------------------------------------------------ keys */
/* The partition of an identity (a dossier code, "<channel>:<user>", ...). */
unsigned gw_api_part_of(const gw_api *a, const char *s);
/* The partition of a department's own keys (its index, templates): "dept:<dept>". */
unsigned gw_api_dept_part(const gw_api *a, const char *dept);
/* Appends the key of family f (one part: part) in the partition of identity of. */
void gw_api_add_key(gw_argv *av, const gw_api *a, gw_key_family f, const char *of,
                    const char *part);
/* Appends the department's key of family f (its part: the department). */
void gw_api_add_dept_key(gw_argv *av, const gw_api *a, gw_key_family f, const char *dept);
/* The same for a family of two parts: the department and part (an officer, a key). */
void gw_api_add_dept_key_part(gw_argv *av, const gw_api *a, gw_key_family f, const char *dept,
                              const char *part);
/* The partition of an idempotency key of a department (kind "", "bc:", "batch:"):
 * what it creates lives there with it. */
unsigned gw_api_idem_part(const gw_api *a, const char *dept, const char *kind, const char *key);
/* Appends the idempotency key's key (idem) in partition part. */
void gw_api_add_idem_key(gw_argv *av, const gw_api *a, unsigned part, const char *dept,
                         const char *kind, const char *key);
/*
 * Reads a writing script's {written, "<hash>|<id>", ...} (a GW_API_STATUS reply):
 * 0 with the id kept and *fresh (true: written now; false: the key was known,
 * with the same body); MC_EINVAL once answered (500 for a record of another
 * shape, 409 for a key used with another body).
 */
int gw_api_idem_reply(gw_api_op *o, const redisReply *r, char id[GW_API_NOTIF_ID_MAX + 1],
                      bool *fresh);

/* ------------------------------------------------------- the message log */

#define GW_MSGLOG_WHO_MAX 160 /* a recipient of the log: "+84…" or "<channel>:<user>" */

/* The identities the message log finds a recipient `to` (as a notification stores it) by:
 * its phone and its "<channel>:<user>" (an SMS user is its phone). Returns how many (0..2). */
size_t gw_msglog_whos(const json_t *to, char who[2][GW_MSGLOG_WHO_MAX]);
/* The partition of an identity: the citizen's ("<channel>:<user>"; a phone: of "<sms
 * channel>:<phone>"). */
unsigned gw_msglog_part(const gw_api *a, const char *who);
/* A query's recipient (a phone as people write it, or "<channel>:<user>") as the log's
 * identity into who: 0, or MC_EINVAL. */
int gw_msglog_recipient(const char *q, char *who, size_t n);
/* Notes that the write about to be sent makes notification id (at ms) for recipient to,
 * in o->log. */
void gw_msglog_note(gw_api_op *o, const json_t *to, const char *id, int64_t ms);
/* Writes the entries noted in o->log into the recipients' logs (one step per partition,
 * idempotent), then next(o) — the write itself (the keyspace's rule: what lands in
 * another partition goes first). Without a store next runs at once (it answers 503). */
void gw_msglog_then(gw_api_op *o, gw_api_next_fn *next);
/* ----------------------------------------------------------- audit trail */

/*
 * Appends one entry to dept's audit trail (gw_audit.c): when (the gateway's clock), actor
 * ("officer:USER", "key:NAME", "cli:..."), action ("dossier.event", "key.revoke", ...),
 * target, ip and changes (a JSON object, stolen; NULL: none), sent at once on the store's
 * connection without waiting (a failure is logged as admin.audit_failed). Never put a
 * message text or an unmasked phone number in changes.
 */
void gw_audit(const gw_api *a, const char *dept, const char *actor, const char *action,
              const char *target, const char *ip, json_t *changes);
/* The same for an op: its department, its caller, its request's peer address. */
void gw_audit_op(const gw_api_op *o, const char *action, const char *target, json_t *changes);
/* {"from": from, "to": to} (either NULL: left out), for changes (new reference). */
json_t *gw_audit_change(const char *from, const char *to);

/* ------------------------------------------------ one resource to another */

#define GW_API_CHANNELS_MAX 128 /* a list of channels, comma-separated, with its NUL */

/* One notification of POST /notifications or one row of a batch, checked
 * (gw_notifications.c). */
typedef struct gw_notif {
    gw_api_message msg;                 /* text or template, priority, key, times */
    json_t *to;                         /* owned: the recipient as stored */
    char *to_json;                      /* owned: its compact JSON */
    char channels[GW_API_CHANNELS_MAX]; /* fallback order, comma-separated */
    char id[GW_API_NOTIF_ID_MAX + 1];   /* its id, once made */
    bool chans_given;                   /* the body gave channels (else the default order) */
    bool has_phone;                     /* a phone reaches the recipient */
    bool test_send;                     /* a broadcast's test (POST /broadcasts/test) */
} gw_notif;

/*
 * Checks a POST /notifications body b, exactly as the endpoint does (every rule
 * but the template's existence, which needs the store). 0 with n filled,
 * borrowing from b (keep b alive); or MC_EINVAL with e, n cleared. Clear n with
 * gw_notif_clear.
 */
int gw_notif_parse(const json_t *b, gw_notif *n, gw_api_err *e);
void gw_notif_clear(gw_notif *n);

/* Loads row_errors.txt (the words of a bulk row's errors, Vietnamese and English); 0 with
 * *out, or MC_E* with "path:LINE: reason" (gw_notifications.c). */
int gw_rowerrs_load(const char *path, gw_rowerrs **out, char *err, size_t errlen);
void gw_rowerrs_free(gw_rowerrs *w);

/* The wording of a status id of statuses.txt, or NULL (gw_dossiers.c). */
const char *gw_statuses_text(const gw_statuses *s, const char *status);
size_t gw_statuses_count(const gw_statuses *s);
/* Loads statuses.txt; 0 with *out, or MC_E* with "path:LINE: reason". */
int gw_statuses_load(const char *path, gw_statuses **out, char *err, size_t errlen);
void gw_statuses_free(gw_statuses *s);

/*
 * The text step of POST /notifications, /broadcasts and the preview
 * (gw_templates.c): m->out_text becomes a copy of m->text, or the department's
 * template m->tpl_id rendered with m->tpl_data (read from the store first; 400
 * as gw_templates_use says when they do not fit); then next(o), which owns o
 * from there. On failure the request is answered and o freed.
 */
void gw_templates_text(gw_api_op *o, gw_api_message *m, gw_api_next_fn *next);
/* Asks the store for the department's template id: fn gets a string (the
 * stored record) or nil (GW_API_ANY). As gw_api_op_send. */
int gw_templates_fetch(gw_api_op *o, const char *id, gw_api_reply_fn *fn);
/*
 * The same for a template about to be used to send: a record linked to a provider
 * template (ZNS) that was not used since its link was saved is checked with the provider
 * once more first (issue 14: "before the first use"). Usable, with the same parameters:
 * marked used_at (once), fn gets it. Refused (disabled meanwhile, other parameters): fn
 * gets it without its link (the notification goes by the other channels) and the log says
 * why. No answer from the provider: fn gets it as it is (the send's own errors decide).
 * Unchecked links (no credentials, the outbox: gw_templates.c) are not asked about.
 */
void gw_templates_fetch_use(gw_api_op *o, const char *id, gw_api_reply_fn *fn);
/*
 * Applies a fetched template (r, a reply of gw_templates_fetch) to data: nil →
 * 400 template.id; with need_all, a placeholder without a value → 400
 * <prefix><name>; a value for no placeholder → 400 <prefix><key>; with out, a
 * result that is blank or longer than GW_API_TEXT_MAX → 400 template, else
 * *out (caller frees) the text. out NULL checks only. 0 or MC_EINVAL with e (500
 * for an unreadable record).
 */
int gw_templates_use(const redisReply *r, const json_t *data, const char *prefix, bool need_all,
                     char **out, gw_api_err *e);
/*
 * The provider template message of a fetched template (r) linked to one (ZNS): each of
 * the link's parameters rendered with data, checked against the length the provider
 * allows (400 <prefix><placeholder>), into m->tpl_ch and m->tpl_msg. Nothing when the
 * template has no link. 0 or MC_EINVAL with e.
 */
int gw_templates_provider(const redisReply *r, const json_t *data, const char *prefix,
                          gw_api_message *m, gw_api_err *e);
/*
 * A fetched template's text rendered with data, whose keys need not all be placeholders
 * (a dossier event offers code, procedure, status, note and date to whichever the
 * department's text uses), into *out (caller frees). 400 template for a blank or too long
 * text or a placeholder without a value; 500 unreadable. 0 or MC_EINVAL with e.
 */
int gw_templates_render(const redisReply *r, const json_t *data, char **out, gw_api_err *e);
/* The department template a dossier's status change uses (admin-api.md). */
#define GW_API_STATUS_TPL "dossier_status"
/* ---- gw_cost.c: what sending costs, per channel ---- */

/* The units one text costs on channel ch per recipient (SMS segments of the text as it
 * would go, 1 for a ZNS message, 0 for a free channel or an unknown one). */
long gw_cost_units(const gw_app *app, const char *ch, const char *text, size_t len);
/* Adds recipients × units to cost[ch] ({"recipients","units","cost_vnd" when the channel
 * has a price}). 0 or MC_ENOMEM. */
int gw_cost_add(const gw_app *app, json_t *cost, const char *ch, long long recipients, long units);
/* The sum of cost_vnd over the channels of a cost object. */
json_int_t gw_cost_total(const json_t *cost);

/* The HTTP client the API asks providers with (template checks), or NULL. */
gw_httpc *gw_api_httpc(const gw_api *a);

/* ------------------------------------------------------------- handlers */

gw_api_handler gw_dossiers_list;       /* GET /dossiers?q=&limit= */
gw_api_handler gw_dossiers_item;       /* GET|PUT /dossiers/{code}, POST /dossiers/{code}/events */
gw_api_handler gw_notifications_post;  /* POST /notifications */
gw_api_handler gw_notifications_root;  /* GET (the message log) and POST /notifications */
gw_api_handler gw_notifications_get;   /* GET /notifications/{id} */
gw_api_handler gw_notifications_batch; /* POST /notifications/batch */
gw_api_handler gw_broadcasts_post;     /* POST /broadcasts */
gw_api_handler gw_broadcasts_item;     /* GET|DELETE /broadcasts/{id} */
gw_api_handler gw_broadcasts_preview;  /* POST /broadcasts/preview */
gw_api_handler gw_broadcasts_test;     /* POST /broadcasts/test (gw_notifications.c) */
gw_api_handler gw_subscriptions;       /* POST|DELETE /subscriptions */
gw_api_handler gw_templates_list;      /* GET /templates */
gw_api_handler gw_templates_item;      /* GET|PUT|DELETE /templates/{id} */
gw_api_handler gw_reports_stats;       /* GET /stats?days= */
gw_api_handler gw_reports_dead;        /* GET /dead?limit= */
gw_api_handler gw_reports_retry;       /* POST /dead/{id}/retry */
gw_api_handler gw_msglog_get;          /* GET /notifications?recipient=&since=&status= */
gw_api_handler gw_tickets_list;        /* GET /reports?status=&ward=&category=&since= */
gw_api_handler gw_tickets_item;        /* GET /reports/{id}, POST /reports/{id}/events */
gw_api_handler gw_me;                  /* GET /me */
gw_api_handler gw_wards;               /* GET /wards */
gw_api_handler gw_officers_list;       /* GET|POST /officers */
gw_api_handler gw_officers_item;       /* PUT /officers/{user}, POST /officers/{user}/<action> */
gw_api_handler gw_apikeys_list;        /* GET|POST /keys */
gw_api_handler gw_apikeys_item;        /* DELETE /keys/{name} */
gw_api_handler gw_audit_list;          /* GET /audit */

#endif
