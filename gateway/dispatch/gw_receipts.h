/*
 * gw_receipts.h — what a provider's receipt (delivered, read, failed) does to the
 * notification it is about. The worker finds the notification through the delivery
 * record in the citizen's partition (written when the message was sent); the
 * notification may live in another partition, so this script runs there on its own,
 * before the worker acknowledges the receipt — it is idempotent (a receipt seen again
 * finds the status moved on and changes nothing), so a crash in between is repaired by
 * running it again when the receipt is read again.
 */
#ifndef GW_RECEIPTS_H
#define GW_RECEIPTS_H

#include "gateway/app/gw_app.h"
#include "gateway/store/gw_store.h"

#include <stddef.h>
#include <stdint.h>

typedef struct gw_receipts gw_receipts;

/* Loads the receipt script into app->store. 0, or MC_ENOMEM with err. */
int gw_receipts_open(gw_app *app, gw_receipts **out, char *err, size_t errlen);
/* After the store is gone. NULL is fine. */
void gw_receipts_free(gw_receipts *r);

/*
 * Moves notification `notif` on after a receipt with `status` on `channel` at at_ms:
 * delivered/read → delivered, failed/undelivered → failed. cb(reply) once Redis ran it
 * (NULL reply: the link dropped). 0, or MC_EUNAVAIL / MC_EINVAL (an id that names no
 * partition; cb is then not called).
 */
int gw_receipts_apply(gw_receipts *r, const char *notif, const char *channel, const char *status,
                      int64_t at_ms, gw_store_cb *cb, void *priv);

#endif
