/*
 * gw_token.h — the lifecycle of a provider access token that expires and is
 * refreshed with a single-use refresh token (a channel whose adapter has
 * token_render, today Zalo's): kept in Redis so that every process sends with
 * the same one, refreshed by one process at a time under a Redis lock.
 */
#ifndef GW_TOKEN_H
#define GW_TOKEN_H

#include "channels/ch.h"
#include "gateway/app/gw_app.h"
#include "gateway/net/gw_httpc.h"

#include <stddef.h>
#include <stdint.h>

#define GW_TOKEN_CHECK_MS 60000 /* how often expiry is checked */

typedef struct gw_token gw_token;

/* Called after every reload from Redis (a refresh ends with one): the jobs that
 * waited for a new token may be rendered again. */
typedef void gw_token_fresh_fn(void *priv);

/* The token of ad's channel (an adapter with token_render and token_parse), starting
 * from the configured access token; refresh requests go through http (borrowed; it
 * must outlive the token's requests). NULL on OOM. */
gw_token *gw_token_new(gw_app *app, const ch_adapter *ad, gw_httpc *http, gw_token_fresh_fn *fresh,
                       void *priv);

/* Frees the token once its refresh in flight, if any, has called back (a
 * refresh answered after this is dropped). NULL is fine. */
void gw_token_free(gw_token *t);

/* The current access token, "" when none is known. Borrowed until the next reload. */
const char *gw_token_access(const gw_token *t);

/* The provider refused the token: refresh it (unless a refresh is on its way). */
void gw_token_refresh(gw_token *t);

/* The main Redis connection came (back) up: the configured tokens seed Redis
 * once (HSETNX), then the token is reloaded from there. */
void gw_token_store_up(gw_token *t);

/* Called on the sender's tick: at most every GW_TOKEN_CHECK_MS, refreshes a
 * token close to expiry, or reloads what another process refreshed. */
void gw_token_tick(gw_token *t);

#endif
