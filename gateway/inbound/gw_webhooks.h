/*
 * gw_webhooks.h — the provider webhooks: verify, parse, persist, answer.
 *
 * POST /webhook/zalo, GET|POST /webhook/facebook, POST|GET /webhook/sms. A
 * webhook is answered 200 only once its messages are in the Redis stream
 * the citizen's partition's inbound stream (accepted == persisted); a provider's retry of the same
 * message id is recognised and not stored twice.
 */
#ifndef GW_INBOUND_H
#define GW_INBOUND_H

#include "gateway/app/gw_app.h"

typedef struct gw_webhooks gw_webhooks;

/* Adds the webhook routes of the enabled channels to app->router. 0, or MC_E* with
 * err. Free with gw_webhooks_free once the server stopped. */
int gw_webhooks_open(gw_app *app, gw_webhooks **out, char *err, size_t errlen);
void gw_webhooks_free(gw_webhooks *wh);

#endif
