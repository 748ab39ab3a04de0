/*
 * gw_worker.h — the conversation worker: the feed of the inbound stream.
 *
 * It takes citizen messages and provider receipts from the reader (gw_reader.h),
 * runs one conversation turn per message (gw_turn.h) — never two of the same
 * citizen at once, and in the order they came — and records each receipt through
 * the dispatcher's hook, acknowledging every entry in the MULTI that records its
 * effects.
 */
#ifndef GW_WORKER_H
#define GW_WORKER_H

#include "gateway/app/gw_app.h"
#include "gateway/store/gw_reader.h"
#include "gateway/store/gw_store.h"

#include <stdint.h>

typedef struct gw_worker gw_worker;

/* What a provider receipt does to the notification `notif` its delivery record names
 * (the dispatcher's business, wired by gw_serve): cb(arg) once Redis has done it. 0, or
 * MC_EUNAVAIL (Redis away: the receipt is read again later), or another error for an
 * id that names no notification (cb not called). */
typedef int gw_worker_receipt_fn(void *priv, const char *notif, const char *channel,
                                 const char *status, int64_t at_ms, gw_store_cb *cb, void *arg);

typedef struct gw_worker_opts {
    gw_worker_receipt_fn *receipt; /* may be NULL: receipts update the record only */
    void *receipt_priv;            /* its priv */
} gw_worker_opts;

/* Registers the inbound stream with reader (borrowed: it must outlive the worker) and
 * starts taking entries. NULL on OOM. */
gw_worker *gw_worker_new(gw_app *app, gw_reader *reader, const gw_worker_opts *o);

/* Takes nothing new (no new turn) while what runs finishes: the first step of an
 * orderly shutdown. What arrives meanwhile stays pending. */
void gw_worker_pause(gw_worker *w);

/* Stops; what is in flight is dropped (it stays pending in Redis). */
void gw_worker_free(gw_worker *w);

#endif
