/*
 * gw_store.h — the Redis of a process: hiredis async on the libuv loop, reconnecting
 * by itself, with a health flag that /healthz reads.
 *
 * One Redis (redis://, unix:) is one connection. A Redis Cluster (redis-cluster://) is
 * one connection per primary, and the store routes each command to the primary of its
 * key's slot (store/gw_cluster.h says which argument is the key), follows MOVED and ASK,
 * retries TRYAGAIN and CLUSTERDOWN a bounded number of times, and finds the new primary
 * after a failover by reading the slot map again from any live node. Callers see the
 * same API either way: a MULTI ... EXEC is held back until EXEC and sent as a whole to
 * the node of its first keyed command, every callback still called once, in order.
 */
#ifndef GW_STORE_H
#define GW_STORE_H

#include "gateway/app/gw_config.h"

#include <hiredis/async.h>
#include <uv.h>

typedef struct gw_store gw_store;
struct gw_script;

/* Called with the reply (NULL when the connection dropped before it came). The reply
 * lives until the callback returns. */
typedef void gw_store_cb(gw_store *s, redisReply *reply, void *priv);

/* Called when the store goes up (1) or down (0). */
typedef void gw_store_state_cb(gw_store *s, int up, void *priv);

/* Starts connecting at once and keeps reconnecting. NULL on OOM. */
gw_store *gw_store_new(uv_loop_t *loop, const gw_redis_addr *addr);
void gw_store_on_state(gw_store *s, gw_store_state_cb *cb, void *priv);

/* 1 when connected and the last health PING was answered in time (0 for NULL). In a
 * cluster: every slot has a primary whose connection is up that way. */
int gw_store_up(const gw_store *s);

/* 1 when the store talks to a Redis Cluster (commands naming keys of different slots
 * cannot go together: a blocking read per slot, gw_reader). */
int gw_store_cluster(const gw_store *s);

/*
 * Sends one command (argv form, binary-safe). cb (may be NULL: fire and
 * forget) is called exactly once: with the reply, or with NULL if the
 * connection is lost first. Returns 0, or
 * MC_EUNAVAIL when not up (gw_store_up; also while closing, and for NULL; cb is then
 * not called).
 *
 * In a cluster the command goes to the primary of its key's slot; a keyless one (PING,
 * INFO...) to the primary of slot 0. What a redirect asks is done before cb sees
 * anything; after GW_STORE_MAX_TRIES sends cb gets the last error (or NULL). MULTI and
 * the commands after it are held until EXEC (or DISCARD), then sent together.
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

/*
 * gw_argv_send for a write that must reach replicas: once its reply came (not an
 * error), WAIT replicas timeout_ms runs on the connection that executed it (the node of
 * its slot, after any redirect), and only then cb gets the write's reply. replicas 0:
 * gw_argv_send.
 */
int gw_argv_send_wait(gw_store *s, gw_argv *a, int replicas, long timeout_ms, gw_store_cb *cb,
                      void *priv);

/* Inside the callback of gw_argv_send_wait: 1 when fewer replicas than asked acknowledged
 * the write in time (*acked, if not NULL: how many did). The write itself is done. 0
 * anywhere else. */
int gw_store_waited_short(const gw_store *s, long long *acked);

/*
 * gw_argv_send on a connection of its own for lane (> 0), for a command that blocks
 * (XREADGROUP BLOCK) and must not hold up others: in a cluster, one connection per lane
 * to the node of the command's slot, opened on first use (a lane is not counted in
 * gw_store_up). On one Redis, and for lane 0, this is gw_argv_send.
 */
int gw_argv_send_lane(gw_store *s, unsigned lane, gw_argv *a, gw_store_cb *cb, void *priv);

/*
 * The address of the primary serving slot, for a connection that routes by itself
 * (gw_wire): host (capacity cap) and *port, 0; MC_EUNAVAIL when the slot has no primary
 * that is up. On one Redis: the configured address, whatever the slot.
 */
int gw_store_slot_addr(const gw_store *s, unsigned slot, char *host, size_t cap, int *port);

/* What the cluster client did, since gw_store_new (for tests and logs). */
typedef struct gw_store_stats {
    unsigned long moved;     /* MOVED redirects followed */
    unsigned long ask;       /* ASK redirects followed */
    unsigned long retried;   /* resends after TRYAGAIN or CLUSTERDOWN, or to a node not up */
    unsigned long refreshes; /* slot maps read */
    unsigned long nodes;     /* primaries in the last map */
} gw_store_stats;
void gw_store_get_stats(const gw_store *s, gw_store_stats *out);

#define GW_STORE_MAX_TRIES 16 /* sends of one command (redirects and retries) at most */

/* Registers a script to be loaded (SCRIPT LOAD) now if connected and on every
 * reconnect (in a cluster: on every primary), before the store says it is up. The store keeps a
 * copy (its name must be static): the caller may clear its own at any time. 0, or MC_ENOMEM. */
int gw_store_load(gw_store *s, const struct gw_script *script);

/* Disconnects and releases everything; pending callbacks get NULL. */
void gw_store_free(gw_store *s);

#endif
