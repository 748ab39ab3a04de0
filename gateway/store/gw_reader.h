/*
 * gw_reader.h — the reader of the work streams: Redis streams read through the
 * consumer group GW_GROUP and handed to the modules that registered them (the
 * conversation worker takes the inbound streams, the sender the outbound ones).
 *
 * It reads on a connection of its own, because XREADGROUP BLOCK would stall
 * every other command. After a (re)connect the same consumer name first
 * re-reads its own pending entries (an entry read before a crash or a lost
 * link), then new ones; entries of a consumer that died for good are claimed
 * (XAUTOCLAIM) once idle for claim_idle_ms. An entry stays pending until the
 * feed that took it acknowledges it (with the effects it recorded, in one
 * MULTI), so a process killed at any point leaves nothing half-done.
 *
 * A feed says when it is full (back-pressure): its streams are then left out
 * of the reads and claims until gw_reader_kick says there is room again.
 */
#ifndef GW_READER_H
#define GW_READER_H

#include "gateway/app/gw_config.h"
#include "gateway/store/gw_store.h"

#include <stddef.h>
#include <uv.h>

#define GW_READER_MAX_STREAMS 8192 /* streams of all feeds of one reader */
#define GW_READER_STREAM_MAX 64    /* bytes of a stream name, NUL included */

typedef struct gw_reader gw_reader;

/* One module's streams. The callbacks run on the loop; `priv` is theirs. */
typedef struct gw_feed {
    const char *const *streams; /* names (copied when added) */
    size_t n_streams;           /* entries */
    /* One entry [id, [field, value, ...]] of `stream`, not already in flight here.
     * redelivered: it was read before (own pending entries, or claimed). */
    void (*take)(void *priv, const char *stream, const redisReply *entry, int redelivered);
    /* 1 when this process holds the entry already (must not be taken twice). */
    int (*has)(void *priv, const char *stream, const char *id);
    /* 1 when the feed takes nothing more for now (optional). */
    int (*full)(void *priv);
    /* After a read's entries were handed over (optional). */
    void (*taken)(void *priv);
    void *priv;
} gw_feed;

typedef struct gw_reader_opts {
    uv_loop_t *loop;           /* borrowed */
    const gw_redis_addr *addr; /* where the reading connection goes */
    gw_store *store;           /* the main connection (pending passes, claims), borrowed */
    const char *consumer;      /* this process's consumer name; stable across restarts */
    long claim_idle_ms;        /* claim other consumers' entries idle this long (0: never) */
} gw_reader_opts;

/* Starts reading at once (and again after Redis comes back). NULL on OOM. */
gw_reader *gw_reader_new(const gw_reader_opts *o);

/* Registers a feed before the first read; 0, or MC_ETOOBIG past GW_READER_MAX_STREAMS
 * streams, MC_EINVAL for a name too long. */
int gw_reader_add(gw_reader *r, const gw_feed *f);

/* A feed has room again: read now. */
void gw_reader_kick(gw_reader *r);

/* Takes nothing new (no read, no claim): the first step of an orderly stop. */
void gw_reader_pause(gw_reader *r);

/* Stops reading; entries in flight stay pending in Redis. */
void gw_reader_free(gw_reader *r);

/* Queues XACK and XDEL of entry id of stream on st (inside the caller's MULTI, or alone). */
void gw_reader_ack(gw_store *st, const char *stream, const char *id);

#endif
