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
 *
 * A leased feed (parts set: the inbound streams) has each stream read by one process at
 * a time: the process holding its partition's lease (store/gw_lease.h). Gaining a
 * partition, the reader first claims every entry pending there (whoever read it: the
 * previous holder stopped before its lease could expire) and hands them over in order,
 * then reads new ones; losing it, it stops reading it and tells the feed to drop what
 * it did not start.
 */
#ifndef GW_READER_H
#define GW_READER_H

#include "gateway/app/gw_config.h"
#include "gateway/store/gw_keys.h"
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
    /* Leased feeds: the partition of each stream (n_streams entries, copied); NULL: every
     * process reads every stream of the feed. */
    const unsigned *parts;
    /* Leased feeds: forget the entries of stream not started yet (the partition is no
     * longer ours: they stay pending for the next holder). */
    void (*drop)(void *priv, const char *stream);
    /* Leased feeds: 1 while entries of stream are still running here (a partition is
     * given back only after). */
    int (*busy)(void *priv, const char *stream);
} gw_feed;

typedef struct gw_reader_opts {
    uv_loop_t *loop;           /* borrowed */
    const gw_redis_addr *addr; /* where the reading connection goes */
    gw_store *store;           /* the main connection (pending passes, claims), borrowed */
    const char *consumer;      /* this process's consumer name; stable across restarts */
    long claim_idle_ms;        /* claim other consumers' entries idle this long (0: never);
                                * also the life of a lease */
    const gw_keyspace *keys;   /* the partitions (leased feeds), borrowed; may be NULL */
} gw_reader_opts;

/* Starts reading at once (and again after Redis comes back). NULL on OOM. */
gw_reader *gw_reader_new(const gw_reader_opts *o);

/* Registers a feed before the first read; 0, or MC_ETOOBIG past GW_READER_MAX_STREAMS
 * streams, MC_EINVAL for a name too long or a leased feed without opts.keys or a second
 * leased feed, MC_ENOMEM. */
int gw_reader_add(gw_reader *r, const gw_feed *f);

/* A feed has room again: read now. */
void gw_reader_kick(gw_reader *r);

/* Takes nothing new (no read, no claim): the first step of an orderly stop. Leased
 * partitions are given back as soon as their entries running here are done; done (may
 * be NULL) is called when they are (gw_lease_release_all), at once without leases. */
void gw_reader_pause(gw_reader *r, void (*done)(void *arg), void *arg);

/* The lease keeper of the leased feed (NULL when none): for tests and logs. */
struct gw_lease *gw_reader_lease(const gw_reader *r);

/* Stops reading; entries in flight stay pending in Redis. */
void gw_reader_free(gw_reader *r);

/* Queues XACK and XDEL of entry id of stream on st (inside the caller's MULTI, or alone). */
void gw_reader_ack(gw_store *st, const char *stream, const char *id);

#endif
