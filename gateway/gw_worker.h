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

#include "gateway/gw_app.h"

#define GW_GROUP "motcua"       /* the consumer group on every work stream */
#define GW_OUT_PREFIX "mc:out:" /* outbound stream of a channel: mc:out:<channel> */
#define GW_CONV_TTL_S "691200"  /* conversation state kept 8 days (Zalo's window) */

typedef struct gw_worker gw_worker;

typedef struct gw_worker_opts {
    const char *consumer; /* this process's consumer name; stable across restarts */
    long claim_idle_ms;   /* claim other consumers' entries idle this long */
    int converse;         /* read the inbound stream */
    int send;             /* read the outbound streams */
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
