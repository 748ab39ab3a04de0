/*
 * gw_token.c — a refreshable provider access token's lifecycle (Zalo's today).
 *
 * Big idea: Redis holds the truth (the channel's token hash: access, refresh,
 * expires_ms), so that every process sends with the same token; the
 * configured tokens only seed it, once (HSETNX). A refresh token works once:
 * two processes refreshing at the same moment would burn it and leave the OA
 * without a token until someone authorises it again. So a refresh runs under
 * a Redis lock (the channel's token lock, SET NX PX with a random owner id,
 * released by a compare-and-delete script) and reads the refresh token again under the
 * lock: if another process refreshed meanwhile, it only reloads. The new pair
 * replaces the old one in one HSET. Every process reloads the token on its
 * tick, and jobs that met a token error wait for the next reload
 * (gw_token_fresh_fn) before they are rendered again.
 */
#include "gateway/dispatch/gw_token.h"

#include "core/mc.h"
#include "gateway/app/gw_channels.h"
#include "gateway/app/gw_clock.h"
#include "gateway/app/gw_log.h"
#include "gateway/store/gw_keys.h"
#include "gateway/store/gw_store.h"

#include <inttypes.h>
#include <jansson.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_LOCK_MS 30000       /* lock lifetime */
#define TOKEN_MARGIN_MS 3600000   /* refresh this long before expiry */
#define TOKEN_MAX 1024            /* bytes of a token, NUL included */
#define LOCK_ID_BYTES 16          /* random bytes of a lock owner's id */

struct gw_token {
    gw_app *app;              /* borrowed */
    const ch_adapter *ad;     /* the channel's adapter (static) */
    char key[GW_KEYS_MAX];    /* its token hash: access refresh expires_ms */
    char lock[GW_KEYS_MAX];   /* one refresher at a time */
    char pool[GW_KEYS_TAG_MAX + 16]; /* gw_httpc's pool of the refresh requests */
    gw_httpc *http;           /* borrowed */
    gw_token_fresh_fn *fresh; /* after every reload */
    void *fresh_priv;
    char access[TOKEN_MAX]; /* current access token */
    int64_t expires_ms;     /* 0 = unknown */
    int refreshing;         /* a refresh or reload is in flight here */
    uint64_t last_check;    /* loop time of the last expiry check, ms */
    int refreshes;          /* refresh contexts alive: the token outlives them */
    int closing;            /* gw_token_free was called */
};

/* One refresh, from taking the lock to releasing it. */
typedef struct refresh_ctx {
    gw_token *t;
    char lock_id[2 * LOCK_ID_BYTES + 1];
    char refresh[TOKEN_MAX];
} refresh_ctx;

static const char unlock_lua[] =
    "if redis.call('GET',KEYS[1])==ARGV[1] then return redis.call('DEL',KEYS[1]) end return 0";

gw_token *gw_token_new(gw_app *app, const ch_adapter *ad, gw_httpc *http, gw_token_fresh_fn *fresh,
                       void *priv) {
    gw_token *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    *t = (gw_token){.app = app, .ad = ad, .http = http, .fresh = fresh, .fresh_priv = priv};
    const ch_settings *st = gw_channel_conf(app->cfg, ad->name);
    snprintf(t->access, sizeof t->access, "%s", st ? st->access_token : "");
    snprintf(t->pool, sizeof t->pool, "%s-oauth", ad->name);
    if (gw_key(app->keys, t->key, sizeof t->key, GW_K_TOKEN, GW_KEY_OWN, ad->name) < 0 ||
        gw_key(app->keys, t->lock, sizeof t->lock, GW_K_TOKEN_LOCK, GW_KEY_OWN, ad->name) < 0) {
        free(t);
        return NULL;
    }
    return t;
}

void gw_token_free(gw_token *t) {
    if (t && !(t->closing = t->refreshes > 0)) /* else the last refresh frees it */
        free(t);
}

const char *gw_token_access(const gw_token *t) {
    return t->access;
}

/* Frees a refresh context; the last one of a closing token frees the token. */
static void refresh_free(refresh_ctx *rc) {
    gw_token *t = rc->t;
    free(rc);
    if (--t->refreshes == 0 && t->closing)
        free(t);
}

static void on_loaded(gw_store *st, redisReply *r, void *priv) {
    (void)st;
    gw_token *t = priv;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
        if (r->element[0]->type == REDIS_REPLY_STRING && r->element[0]->len < sizeof t->access)
            snprintf(t->access, sizeof t->access, "%s", r->element[0]->str);
        if (r->element[1]->type == REDIS_REPLY_STRING)
            t->expires_ms = strtoll(r->element[1]->str, NULL, 10);
    }
    t->refreshing = 0;
    t->fresh(t->fresh_priv);
}

static void reload(gw_token *t) {
    if (gw_store_cmdf(t->app->store, on_loaded, t, "HMGET %s access expires_ms", t->key))
        t->refreshing = 0;
}

/* Releases the lock (only if still ours) and reloads what Redis holds now. */
static void refresh_end(refresh_ctx *rc) {
    gw_store_cmdf(rc->t->app->store, NULL, NULL, "EVAL %s 1 %s %s", unlock_lua, rc->t->lock,
                  rc->lock_id);
    reload(rc->t);
    refresh_free(rc);
}

static void on_refreshed(void *arg, const gw_httpc_resp *r) {
    refresh_ctx *rc = arg;
    gw_token *t = rc->t;
    char access[TOKEN_MAX], refresh[TOKEN_MAX], err[160];
    int64_t expires_in = 0;
    if (t->closing) {
        refresh_free(rc);
        return;
    }
    if (r->status != 200 || t->ad->token_parse(r->body, r->body_len, access, sizeof access,
                                               refresh, sizeof refresh, &expires_in, err,
                                               sizeof err)) {
        gw_log(GW_ERROR, "token.refresh_failed", "{s:s, s:i, s:s}", "channel", t->ad->name,
               "status", r->status, "error",
               r->status == 200 ? err : (r->error ? r->error : "provider refused"));
        refresh_end(rc);
        return;
    }
    int64_t exp = gw_now_ms() + expires_in * 1000;
    /* the new pair replaces the old one atomically */
    gw_argv a = {0};
    gw_argv_adds(&a, "HSET");
    gw_argv_adds(&a, t->key);
    gw_argv_adds(&a, "access");
    gw_argv_adds(&a, access);
    gw_argv_adds(&a, "refresh");
    gw_argv_adds(&a, refresh);
    gw_argv_adds(&a, "expires_ms");
    gw_argv_addf(&a, "%" PRId64, exp);
    gw_argv_send(t->app->store, &a, NULL, NULL);
    gw_argv_free(&a);
    gw_log(GW_INFO, "token.refreshed", "{s:s, s:I}", "channel", t->ad->name, "expires_in_s",
           (json_int_t)expires_in);
    refresh_end(rc);
}

/* Under the lock: [refresh, expires_ms] as Redis holds them now. */
static void on_token_for_refresh(gw_store *st, redisReply *r, void *priv) {
    (void)st;
    refresh_ctx *rc = priv;
    gw_token *t = rc->t;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING) {
        gw_log(GW_ERROR, "token.no_refresh_token", "{s:s, s:s}", "channel", t->ad->name, "hint",
               "set the channel's refresh_token or authorise the account again");
        refresh_end(rc);
        return;
    }
    /* another process may have refreshed just now */
    int64_t exp =
        r->element[1]->type == REDIS_REPLY_STRING ? strtoll(r->element[1]->str, NULL, 10) : 0;
    if (exp > gw_now_ms() + TOKEN_MARGIN_MS && strcmp(t->access, "") && exp != t->expires_ms) {
        refresh_end(rc); /* fresh already: just reload it */
        return;
    }
    snprintf(rc->refresh, sizeof rc->refresh, "%s", r->element[0]->str);
    ch_settings zs;
    gw_channel_settings(t->app->cfg, t->ad->name, &zs);
    ch_http req = {0};
    char err[160] = "";
    int hrc = t->ad->token_render(&zs, rc->refresh, &req, err, sizeof err);
    if (!hrc && (hrc = gw_httpc_send(t->http, &req, t->pool, on_refreshed, rc)) != 0)
        snprintf(err, sizeof err, "%s", mc_strerror(hrc));
    ch_http_clear(&req);
    if (hrc) {
        gw_log(GW_ERROR, "token.refresh_failed", "{s:s, s:s}", "channel", t->ad->name, "error",
               err);
        refresh_end(rc);
    }
}

static void on_lock(gw_store *st, redisReply *r, void *priv) {
    (void)st;
    refresh_ctx *rc = priv;
    if (!r || r->type != REDIS_REPLY_STATUS) {
        /* someone else refreshes: look again shortly */
        rc->t->refreshing = 0;
        refresh_free(rc);
        return;
    }
    if (gw_store_cmdf(rc->t->app->store, on_token_for_refresh, rc, "HMGET %s refresh expires_ms",
                      rc->t->key))
        refresh_end(rc);
}

void gw_token_refresh(gw_token *t) {
    if (t->refreshing || t->closing)
        return;
    refresh_ctx *rc = calloc(1, sizeof *rc);
    if (!rc)
        return;
    unsigned char rnd[LOCK_ID_BYTES];
    RAND_bytes(rnd, sizeof rnd);
    for (int i = 0; i < LOCK_ID_BYTES; i++)
        snprintf(rc->lock_id + i * 2, 3, "%02x", rnd[i]);
    rc->t = t;
    t->refreshes++;
    t->refreshing = 1;
    if (gw_store_cmdf(t->app->store, on_lock, rc, "SET %s %s NX PX %d", t->lock, rc->lock_id,
                      TOKEN_LOCK_MS)) {
        t->refreshing = 0;
        refresh_free(rc);
    }
}

static void on_seeded(gw_store *st, redisReply *r, void *priv) {
    (void)st;
    (void)r;
    gw_token *t = priv;
    t->refreshing = 1;
    reload(t);
}

void gw_token_store_up(gw_token *t) {
    const ch_settings *c = gw_channel_conf(t->app->cfg, t->ad->name);
    gw_store *st = t->app->store;
    if (!c || !c->enabled || (!*c->access_token && !*c->refresh_token))
        return;
    gw_store_cmdf(st, NULL, NULL, "HSETNX %s access %s", t->key, c->access_token);
    gw_store_cmdf(st, NULL, NULL, "HSETNX %s expires_ms 0", t->key);
    gw_store_cmdf(st, on_seeded, t, "HSETNX %s refresh %s", t->key, c->refresh_token);
}

void gw_token_tick(gw_token *t) {
    uint64_t now = uv_now(t->app->loop);
    if (now - t->last_check < GW_TOKEN_CHECK_MS)
        return;
    t->last_check = now;
    if (t->expires_ms && t->expires_ms - gw_now_ms() < TOKEN_MARGIN_MS)
        gw_token_refresh(t);
    else if (!t->refreshing) {
        t->refreshing = 1;
        reload(t); /* pick up what another process refreshed */
    }
}
