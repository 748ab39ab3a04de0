/*
 * gw_admin.h — the department API under /api/v1 (shared/spec/admin-api.md):
 * bearer tokens from [admin] tokens_file, dossiers with their history,
 * notifications put on the scheduler's queue, subscriptions.
 *
 * Redis shapes written here (read by the chat worker and the scheduler):
 *   mc:dossier:<code>          hash dept procedure status status_text phone expected_at
 *                              updated agency
 *   mc:dossier:<code>:history  list of JSON events {status,status_text,note,at,dept}
 *   mc:notif:<id>              hash dept status text to channels idx send_at_ms
 *                              not_after_ms priority created_ms (+ dossier for events)
 *   mc:due                     zset of notification ids by send_at_ms
 *   mc:idem:<dept>:<key>       "<sha256 of the canonical body>|<id>"
 *   mc:sub:dossier:<code>, mc:sub:ward:<ward id>   sets of "<channel>:<user id>"
 *   mc:subs:<channel>:<id>     set of "dossier:<code>" / "ward:<id>"
 */
#ifndef GW_ADMIN_H
#define GW_ADMIN_H

#include "gateway/gw_app.h"

#include <stddef.h>
#include <stdint.h>

#define GW_ADMIN_MAX_TOKENS 256      /* lines of the tokens file */
#define GW_ADMIN_MAX_LINE 1024       /* longest line of a data file */
#define GW_ADMIN_DEPT_MAX 64         /* department id, bytes */
#define GW_ADMIN_CODE_MAX 48         /* dossier code, bytes */
#define GW_ADMIN_MAX_STATUSES 64     /* entries of statuses.txt */
#define GW_ADMIN_MAX_TOKEN_BYTES 512 /* a presented bearer token longer than this is wrong */

/* Scopes of a token. */
#define GW_SCOPE_DOSSIERS_WRITE 1u
#define GW_SCOPE_NOTIFY 2u
#define GW_SCOPE_BROADCAST 4u
#define GW_SCOPE_READ 8u

typedef struct gw_admin gw_admin;

/*
 * Loads tokens_file, <share>/gateway/data/statuses.txt, the procedure ids of
 * <share>/intents/data/procedures.txt and the ward ids of
 * <share>/vi-nlp/data/wards.csv. NULL with "file:LINE: reason" in err.
 */
gw_admin *gw_admin_new(const char *tokens_file, const char *share_dir, char *err, size_t errlen);
void gw_admin_free(gw_admin *a);

/*
 * Serve's one call: when [admin] tokens_file is set, loads (gw_admin_new) and
 * registers the /api/v1 routes; *out is then owned by the caller (free with
 * gw_admin_free after the server stopped). With no tokens_file, *out = NULL
 * and the API is not served. 0, or MC_EPARSE/MC_EIO/MC_ENOMEM with err.
 */
int gw_admin_open(gw_app *app, const char *share_dir, gw_admin **out, char *err, size_t errlen);

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

#endif
