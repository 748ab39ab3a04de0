/*
 * gw_sender.h — outbound messages leave here: the channel adapter renders
 * them, gw_httpc sends them on the loop, the adapter classifies the answer:
 * sent (provider id recorded), retry later (backoff, Retry-After), or
 * permanent (dead-letter stream with the reason, or the notification's next
 * channel). Channels without credentials write to the outbox folder instead
 * when [outbox] dir is set. A request that may have reached the provider is
 * never sent again, also after a crash (wire marks). README.md draws the
 * state machine of one message.
 */
#ifndef GW_SENDER_H
#define GW_SENDER_H

#include "gateway/app/gw_app.h"
#include "gateway/store/gw_store.h"

#include <hiredis/hiredis.h>
#include <stdint.h>

typedef struct gw_sender gw_sender;

/* Opens a sender on app (borrowed; its store may be down). 0 and *out; else
 * *out is NULL, the reason in err: MC_EINVAL (the outbox folder cannot be
 * created), MC_ENOMEM. */
int gw_sender_open(gw_app *app, gw_sender **out, char *err, size_t errlen);

/* Jobs in flight stay pending in Redis. After the store is gone (its pending
 * callbacks answered), as gw_serve's module table orders it. NULL is fine. */
void gw_sender_free(gw_sender *s);

typedef void gw_sender_done_fn(void *arg);

/* Orderly shutdown, before gw_sender_free: nothing new leaves (new requests,
 * next parts, retries stay pending in Redis, unmarked), while the requests
 * already with a provider get their answer and their outcome is recorded, so
 * that their wire marks do not count them as sent-unconfirmed after a restart.
 * done(arg) once that is over, or after timeout_ms. */
void gw_sender_drain(gw_sender *s, uint64_t timeout_ms, gw_sender_done_fn *done, void *arg);

/* Takes the outbound entry `id` of stream (the outbound stream of `channel` in
 * partition `part`; fields as Redis gave them). `redelivered`: the entry was read
 * before (our pending list after a restart, or claimed from another consumer), so its
 * wire mark is looked up first and what may already have reached the provider is not
 * sent again. done(arg) runs once the entry is finished (acknowledged or dead).
 * 0, or a negative MC_E* (done is then not called). */
int gw_sender_take(gw_sender *s, const char *stream, unsigned part, const char *channel,
                   const char *id, const redisReply *fields, int redelivered,
                   gw_sender_done_fn *done, void *arg);

/* 1 when the entry of stream is already being sent by this process. */
int gw_sender_has(const gw_sender *s, const char *stream, const char *id);

/* The main Redis connection came (back) up: the wire marks' connection is
 * opened again, the provider token seeded and reloaded, parked outcomes
 * recorded. */
void gw_sender_store_up(gw_sender *s);

/* Entries being sent or waiting for a retry. */
size_t gw_sender_busy(const gw_sender *s);

#endif
