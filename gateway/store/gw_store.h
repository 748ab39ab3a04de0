/*
 * gw_store.h — the one Redis connection of a process: hiredis async on the
 * libuv loop, reconnecting by itself, with a health flag that /healthz reads.
 */
#ifndef GW_STORE_H
#define GW_STORE_H

#include "gateway/app/gw_config.h"

#include <hiredis/async.h>
#include <uv.h>

typedef struct gw_store gw_store;
struct gw_script;

/* Called with the reply (NULL when the connection dropped before it came). */
typedef void gw_store_cb(gw_store *s, redisReply *reply, void *priv);

/* Called when the store goes up (1) or down (0). */
typedef void gw_store_state_cb(gw_store *s, int up, void *priv);

/* Starts connecting at once and keeps reconnecting. NULL on OOM. */
gw_store *gw_store_new(uv_loop_t *loop, const gw_redis_addr *addr);
void gw_store_on_state(gw_store *s, gw_store_state_cb *cb, void *priv);

/* 1 when connected and the last health PING was answered in time (0 for NULL). */
int gw_store_up(const gw_store *s);

/*
 * Sends one command (argv form, binary-safe). cb (may be NULL: fire and
 * forget) is called exactly once: with the reply, or with NULL if the
 * connection is lost first. Returns 0, or
 * MC_EUNAVAIL when not up (gw_store_up; also while closing, and for NULL; cb is then
 * not called).
 */
int gw_store_cmd(gw_store *s, gw_store_cb *cb, void *priv, int argc, const char **argv,
                 const size_t *argvlen);

/* printf-style variant for commands without binary arguments. */
int gw_store_cmdf(gw_store *s, gw_store_cb *cb, void *priv, const char *fmt, ...);

/*
 * An argument vector built piece by piece for gw_store_cmd. Strings are
 * borrowed (hiredis copies them when the command is queued) except those added
 * with gw_argv_addf, which the vector owns. Grows as needed.
 */
typedef struct gw_argv {
    const char **v; /* arguments */
    size_t *l;      /* their lengths */
    char **owned;   /* strings to free with the vector */
    size_t n, cap;  /* used / allocated arguments */
    size_t n_owned; /* entries in owned */
    int oom;        /* an allocation failed: gw_argv_send refuses */
} gw_argv;

void gw_argv_add(gw_argv *a, const char *s, size_t len); /* binary-safe */
void gw_argv_adds(gw_argv *a, const char *s);            /* NUL-terminated */
void gw_argv_addf(gw_argv *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* gw_store_cmd with the vector; MC_ENOMEM when building failed. */
int gw_argv_send(gw_store *s, gw_argv *a, gw_store_cb *cb, void *priv);
void gw_argv_free(gw_argv *a);

/* Registers a script to be loaded (SCRIPT LOAD) now if connected and on every
 * reconnect, before the store says it is up. The store keeps a copy (its name must be
 * static): the caller may clear its own at any time. 0, or MC_ENOMEM. */
int gw_store_load(gw_store *s, const struct gw_script *script);

/* Disconnects and releases everything; pending callbacks get NULL. */
void gw_store_free(gw_store *s);

#endif
