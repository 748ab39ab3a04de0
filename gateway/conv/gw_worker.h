/*
 * gw_worker.h — the conversation worker and the reader of the work streams.
 *
 * One reader per process takes entries from Redis streams through the
 * consumer group GW_GROUP: the inbound stream (citizen messages and provider
 * receipts → understood, answered, recorded) and the outbound streams
 * mc:out:<channel> (handed to gw_sender). It reads on its own Redis
 * connection, because XREADGROUP BLOCK would stall every other command.
 * After a crash the same consumer name re-reads its own pending entries; the
 * entries of a consumer that died for good are claimed (XAUTOCLAIM) once idle
 * for claim_idle_ms.
 */
#ifndef GW_WORKER_H
#define GW_WORKER_H

#include "gateway/app/gw_app.h"
#include "gateway/store/gw_keys.h"
#include "gateway/store/gw_store.h"

#include <stdint.h>

typedef struct gw_worker gw_worker;

/* Called when an outbound entry is finished (sent, dead, or given up for now). */
typedef void gw_worker_done_fn(void *arg);

/* Who takes the outbound entries and the provider receipts (the dispatcher, wired
 * by gw_serve), so that the reader knows no module above it. */
typedef struct gw_worker_out {
    /* Takes entry `id` of the outbound stream of `channel`; done(arg) once finished.
     * 0, or a negative MC_E* (done is then not called). */
    int (*take)(void *priv, const char *channel, const char *id, const redisReply *fields,
                int redelivered, gw_worker_done_fn *done, void *arg);
    /* 1 when the entry is being sent by this process already. */
    int (*has)(void *priv, const char *channel, const char *id);
    /* Queues on st (inside the caller's MULTI) what a receipt changes. */
    void (*receipt)(gw_store *st, const char *channel, const char *provider_id, const char *status,
                    int64_t at_ms);
    void *priv; /* the first argument of take and has */
} gw_worker_out;

typedef struct gw_worker_opts {
    const char *consumer; /* this process's consumer name; stable across restarts */
    long claim_idle_ms;   /* claim other consumers' entries idle this long */
    int converse;         /* read the inbound stream */
    int send;             /* read the outbound streams (out must be set) */
    gw_worker_out out;    /* the outbound side */
} gw_worker_opts;

/* Starts reading at once (and again after Redis comes back). NULL on OOM. */
gw_worker *gw_worker_new(gw_app *app, const gw_worker_opts *o);

/* Takes nothing new (no read, no claim, no new turn) while what runs finishes:
 * the first step of an orderly shutdown. What arrives meanwhile stays pending. */
void gw_worker_pause(gw_worker *w);

/* Stops reading; what is in flight is dropped (it stays pending in Redis). */
void gw_worker_free(gw_worker *w);

/* An outbound entry is finished (sent, dead, or given up for now): the reader
 * may take more. Called by gw_sender. */
void gw_worker_out_done(gw_worker *w);

#endif
