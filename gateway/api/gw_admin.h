/*
 * gw_admin.h — the department API under /api/v1 (shared/spec/admin-api.md):
 * bearer tokens from [admin] tokens_file, dossiers with their history and the
 * department's list of them, notifications put on the scheduler's queue (their
 * text given, or rendered from a template of gw_console.h), broadcasts,
 * subscriptions.
 *
 * Redis shapes written here (read by the chat worker and the scheduler):
 *   mc:dossier:<code>          hash dept procedure status status_text phone expected_at
 *                              updated agency
 *   mc:dossier:<code>:history  list of JSON events {status,status_text,note,at,dept}
 *   mc:dossiers:<dept>         zset of the department's dossier codes by last change (ms)
 *   mc:notif:<id>              hash dept status text to channels idx send_at_ms
 *                              not_after_ms priority created_ms (+ dossier for events,
 *                              batch for the rows of a batch)
 *   mc:due                     zset of notification ids by send_at_ms
 *   mc:idem:<dept>:<key>       "<sha256 of the canonical body>|<id>" (bc:<key> for
 *                              broadcasts, batch:<key> for batches)
 *   mc:sub:dossier:<code>, mc:sub:ward:<ward id>   sets of "<channel>:<user id>"
 *   mc:sub:ward:<ward id>:tag:<tag>   the same members, for a ward subscription's tags
 *   mc:subs:<channel>:<id>     set of "dossier:<code>" / "ward:<id>" / "ward:<id>:tag:<tag>"
 *                              (each names its set mc:sub:<member>)
 */
#ifndef GW_ADMIN_H
#define GW_ADMIN_H

#include "gateway/app/gw_app.h"
#include "gateway/app/gw_shared.h"
#include "gateway/net/gw_http.h"
#include "gateway/store/gw_store.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define GW_ADMIN_MAX_TOKENS 256      /* lines of the tokens file */
#define GW_ADMIN_MAX_LINE 1024       /* longest line of a data file */
#define GW_ADMIN_DEPT_MAX 64         /* department id, bytes */
#define GW_ADMIN_CODE_MAX 48         /* dossier code, bytes */
#define GW_ADMIN_MAX_STATUSES 64     /* entries of statuses.txt */
#define GW_ADMIN_MAX_TOKEN_BYTES 512 /* a presented bearer token longer than this is wrong */
#define GW_ADMIN_ID_MAX 48           /* status/procedure/ward ids, bytes (with the NUL) */
#define GW_ADMIN_MAX_AREAS 64        /* areas of one token, wards of one broadcast */
#define GW_ADMIN_MAX_TAGS 16         /* tags of a subscription or a broadcast */
#define GW_ADMIN_TEXT_MAX 2000       /* a notification or broadcast text, bytes */
#define GW_ADMIN_NOTIF_ID_MAX 64     /* a notification id, bytes */
#define GW_ADMIN_TPL_ID_MAX 48       /* a template id [a-z0-9_-], bytes */
#define GW_ADMIN_TPL_VALUE_MAX 200   /* one value of template.data, bytes */

/* Scopes of a token. */
#define GW_SCOPE_DOSSIERS_WRITE 1u
#define GW_SCOPE_NOTIFY 2u
#define GW_SCOPE_BROADCAST 4u
#define GW_SCOPE_READ 8u

typedef struct gw_admin gw_admin;

/*
 * Loads tokens_file and <share>/gateway/api/data/statuses.txt; procedures and wards
 * come from data (borrowed: it must outlive the module). NULL with "file:LINE:
 * reason" in err.
 */
gw_admin *gw_admin_new(const gw_shared *data, const char *tokens_file, const char *share_dir,
                       char *err, size_t errlen);
void gw_admin_free(gw_admin *a);

/*
 * Serve's one call: when [admin] tokens_file is set, loads (gw_admin_new) and
 * adds the /api/v1 routes to app->router, each with the module as its pointer;
 * *out is then owned by the caller (free with gw_admin_free after the server
 * stopped). With no tokens_file, *out = NULL and the API is not served. 0, or
 * MC_EPARSE/MC_ETOOBIG with err.
 */
int gw_admin_open(gw_app *app, gw_admin **out, char *err, size_t errlen);

/*
 * Checks an Authorization header value. Compares the SHA-256 of the token with
 * every configured hash in constant time. Returns the department id (owned by
 * a) and its scopes, or NULL.
 */
const char *gw_admin_auth(const gw_admin *a, const char *authorization, unsigned *scopes);
/* 1 when the department of this dept id may address ward_id ('*' or listed). */
int gw_admin_area_ok(const gw_admin *a, const char *dept, const char *ward_id);

/* Validators of the API's fields (length-carrying input). */
/* Canonical dossier code 000.00.25.H29-231122-0001 (upper-case); 1 or 0. */
int gw_admin_code_ok(const char *s, size_t len);
/* Vietnamese mobile in E.164: +84 then 9 digits, the first 3, 5, 7, 8 or 9. */
int gw_admin_phone_ok(const char *s, size_t len);
/* Calendar date YYYY-MM-DD. */
int gw_admin_date_ok(const char *s, size_t len);
/* RFC 3339 date-time with Z or ±HH:MM into ms since the epoch; 0 or MC_EINVAL. */
int gw_admin_parse_time(const char *s, size_t len, int64_t *ms);
/* ms since the epoch as ISO 8601 in Asia/Ho_Chi_Minh ("...T15:04:05+07:00"). */
void gw_admin_format_time(int64_t ms, char *out, size_t n);

/* The wording of a status id of statuses.txt, or NULL. */
const char *gw_admin_status_text(const gw_admin *a, const char *status);

/* ------------------------------------------------------------------------
 * What the console endpoints (gw_console.c) share with the API: the caller's
 * token, the error answers, and the validation and the writing of one
 * notification or broadcast, so that a batch row or a preview is judged
 * exactly like POST /notifications or POST /broadcasts. They use the module
 * loaded by gw_admin_open (one process serves one API).
 */

/* A 4xx answer built by a validator before it is sent, or collected per row. */
typedef struct gw_admin_err {
    int status;        /* HTTP status; 0 while nothing is wrong */
    char code[32];     /* "bad_field", "missing_field", "forbidden", ... */
    char field[160];   /* JSON path of the field at fault, "" when none */
    char message[512]; /* for a human */
} gw_admin_err;

/* Fills e. Returns 0 so that a validator may end with `return gw_admin_err_set(...)`. */
int gw_admin_err_set(gw_admin_err *e, int status, const char *code, const char *field,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* One line of the tokens file: a department, its scopes and its areas. */
typedef struct gw_admin_token gw_admin_token;

/*
 * The caller's token when it carries one of the scopes of the mask (0: any valid
 * token); otherwise answers 401 (no or wrong token) or 403 (scope_name lacking)
 * and returns NULL. The token lives as long as the module.
 */
const gw_admin_token *gw_admin_authorize(const gw_admin *a, gw_req *rq, unsigned scopes,
                                         const char *scope_name);
/* The module that loaded the token. */
const gw_admin *gw_admin_token_module(const gw_admin_token *t);
/* The process the module serves. */
gw_app *gw_admin_app(const gw_admin *a);
const char *gw_admin_token_dept(const gw_admin_token *t);
/* 1 when the token's areas cover ward_id ('*' or listed). */
int gw_admin_token_area_ok(const gw_admin_token *t, const char *ward_id);
/* {"department","scopes":[...],"areas":[...|"*"]} (new reference). */
json_t *gw_admin_token_json(const gw_admin_token *t);

/* Answers {"error","message","field"} (field omitted when NULL). */
void gw_admin_fail(gw_req *rq, int status, const char *code, const char *field, const char *fmt,
                   ...) __attribute__((format(printf, 5, 6)));
void gw_admin_fail_err(gw_req *rq, const gw_admin_err *e);
/* Answers o as JSON with status; steals the reference (NULL → 500). */
void gw_admin_answer(gw_req *rq, int status, json_t *o);
/* The body as a JSON object (new reference), or NULL when answered 400. */
json_t *gw_admin_body(gw_req *rq);
/* 1 when r is no answer (503) or a Redis error (500): then answered and logged. */
int gw_admin_store_failed(gw_req *rq, const char *dept, const redisReply *r);
/* n random bytes as 2n lower-case hex digits (out holds 2n+1). */
void gw_admin_random_hex(char *out, size_t nbytes);
/* SHA-256 of s as 64 hex digits. */
void gw_admin_sha256_hex(const char *s, size_t len, char out[65]);

/* One notification of POST /notifications, checked. */
typedef struct gw_admin_notif {
    json_t *to;                         /* owned: the recipient as stored */
    char *to_json;                      /* owned: its compact JSON */
    char channels[128];                 /* fallback order, comma-separated */
    const char *text;                   /* borrowed from the body, or NULL with a template */
    const char *tpl_id;                 /* borrowed: template.id, or NULL */
    json_t *tpl_data;                   /* borrowed: template.data (object), or NULL */
    const char *priority;               /* "normal" or "urgent" */
    const char *idem_key;               /* borrowed: idempotency_key, or NULL */
    int64_t send_at_ms;                 /* due time */
    int64_t not_after_ms;               /* deadline, 0 = none */
    int64_t created_ms;                 /* the gateway's clock when it was checked */
    char *out_text;                     /* owned: what is stored and sent (set by the caller) */
    char id[GW_ADMIN_NOTIF_ID_MAX + 1]; /* its id (set by the caller) */
} gw_admin_notif;

/*
 * Checks a POST /notifications body b for the token t, exactly as the endpoint
 * does (every rule but the template's existence, which needs the store). On 0,
 * n holds the result and borrows from b (keep b alive); on -1, e says why and
 * n is cleared. Clear n with gw_admin_notif_clear.
 */
int gw_admin_notif_parse(const gw_admin_token *t, json_t *b, gw_admin_notif *n, gw_admin_err *e);
void gw_admin_notif_clear(gw_admin_notif *n);

/*
 * Appends to av the one script that writes notifications rows[0..n) (their id
 * and out_text set) with their place on mc:due, atomically: with idem_key (a
 * Redis key, or NULL) the write happens only when the key is new, and record
 * ("<hash>|<id>") is what the key keeps. With batch_id, every notification
 * carries batch=<batch_id> and mc:batch:<batch_id> keeps the ids.
 */
void gw_admin_notif_argv(gw_argv *av, const char *dept, const gw_admin_notif *rows, size_t n,
                         const char *idem_key, const char *record, const char *batch_id);

/*
 * Reads the script's answer. 1 written; 0 the key was known with the same
 * hash: *id is the id it kept, and *ids the ids of a batch (JSON text) or
 * NULL; -1 answered already (503, 500, or 409 for a key reused with another
 * body). id holds GW_ADMIN_NOTIF_ID_MAX + 1 bytes.
 */
int gw_admin_notif_reply(gw_req *rq, const char *dept, const redisReply *r, const char *hash,
                         char *id, const redisReply **ids);

/* One broadcast of POST /broadcasts, checked. */
typedef struct gw_admin_bc {
    char wards[GW_ADMIN_MAX_AREAS * GW_ADMIN_ID_MAX]; /* canonical ward ids, comma-separated */
    char channels[128];                               /* channels addressed, comma-separated */
    char tags[GW_ADMIN_MAX_TAGS * 40];                /* tags, comma-separated */
    const char *text;                                 /* borrowed, or NULL with a template */
    const char *tpl_id;                               /* borrowed: template.id, or NULL */
    json_t *tpl_data;                                 /* borrowed: template.data, or NULL */
    const char *priority;                             /* "normal" or "urgent" */
    const char *idem_key;                             /* borrowed, or NULL */
    int64_t send_at_ms, not_after_ms, created_ms;     /* as for a notification */
    char *out_text;                                   /* owned: what is stored (the caller's) */
} gw_admin_bc;

/* Checks a POST /broadcasts body as the endpoint does (403 for a ward outside
 * the token's areas); as gw_admin_notif_parse. Clear with gw_admin_bc_clear. */
int gw_admin_bc_parse(const gw_admin_token *t, json_t *b, gw_admin_bc *bc, gw_admin_err *e);
void gw_admin_bc_clear(gw_admin_bc *bc);

/*
 * Appends to av a read-only script counting the recipients of bc exactly as
 * POST /broadcasts does (distinct members of the wards' sets on the channels
 * addressed). Its answer: {total, channel, count, channel, count, ...}.
 */
void gw_admin_bc_count_argv(gw_argv *av, const gw_admin_bc *bc);

#endif
