/*
 * gw_inbound.h — the provider webhooks: verify, parse, persist, answer.
 *
 * POST /webhook/zalo, GET|POST /webhook/facebook, POST|GET /webhook/sms. A
 * webhook is answered 200 only once its messages are in the Redis stream
 * GW_INBOUND_STREAM (accepted == persisted); a provider's retry of the same
 * message id is recognised and not stored twice.
 */
#ifndef GW_INBOUND_H
#define GW_INBOUND_H

#include "gateway/gw_app.h"

#define GW_INBOUND_STREAM "mc:in" /* every accepted provider event */
#define GW_DEDUP_TTL_S "604800"   /* provider ids remembered for 7 days */

/* Registers the webhook routes of the enabled channels. */
int gw_inbound_register(gw_app *app);

#endif
