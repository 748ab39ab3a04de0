/*
 * gw_webchat.h — web chat connections: the motcua.v1 WebSocket protocol
 * driven over Redis (sessions, history, replay) and the understanding path.
 * The HTTP server (net/gw_http) carries the protocol; this module gives it.
 */
#ifndef GW_WEBCHAT_H
#define GW_WEBCHAT_H

#include "gateway/app/gw_app.h"

#include <libwebsockets.h>

typedef struct gw_webchat gw_webchat;

/* The module; free it once the HTTP server has stopped. 0, or MC_ENOMEM with err. */
int gw_webchat_open(gw_app *app, gw_webchat **out, char *err, size_t errlen);
void gw_webchat_free(gw_webchat *wc);

/* The lws protocol entry of motcua.v1, for gw_http_opts.ws; its user is the module. */
const struct lws_protocols *gw_webchat_protocol(const gw_webchat *wc);

#endif
