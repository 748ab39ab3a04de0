/*
 * gw_store.h — the one Redis connection of a process: hiredis async on the
 * libuv loop, reconnecting by itself, with a health flag that /healthz reads.
 */
#ifndef GW_STORE_H
#define GW_STORE_H

#include "gateway/gw_config.h"

#include <hiredis/async.h>
#include <uv.h>

typedef struct gw_store gw_store;

/* Called with the reply (NULL when the connection dropped before it came). */
typedef void gw_store_cb(gw_store *s, redisReply *reply, void *priv);

/* Called when the store goes up (1) or down (0). */
typedef void gw_store_state_cb(gw_store *s, int up, void *priv);

/* Starts connecting at once and keeps reconnecting. NULL on OOM. */
gw_store *gw_store_new(uv_loop_t *loop, const gw_redis_addr *addr);
void gw_store_on_state(gw_store *s, gw_store_state_cb *cb, void *priv);

/* 1 when connected and the last health PING was answered in time. */
int gw_store_up(const gw_store *s);

/*
 * Sends one command (argv form, binary-safe). cb (may be NULL: fire and
 * forget) is called exactly once: with the reply, or with NULL if the
 * connection is lost first. Returns 0, or
 * MC_EUNAVAIL when not connected (cb is then not called).
 */
int gw_store_cmd(gw_store *s, gw_store_cb *cb, void *priv, int argc, const char **argv,
                 const size_t *argvlen);

/* printf-style variant for commands without binary arguments. */
int gw_store_cmdf(gw_store *s, gw_store_cb *cb, void *priv, const char *fmt, ...);

/* Disconnects and releases everything; pending callbacks get NULL. */
void gw_store_free(gw_store *s);

#endif
