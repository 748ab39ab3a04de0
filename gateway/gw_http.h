/*
 * gw_http.h — the HTTP surface: libwebsockets on the app's libuv loop,
 * a route table for plain HTTP, and the web chat WebSocket at /ws.
 */
#ifndef GW_HTTP_H
#define GW_HTTP_H

#include "gateway/gw_app.h"

/* Binds cfg->listen_host:listen_port and starts serving; 0 or MC_EIO with err. */
int gw_http_start(gw_app *app, char *err, size_t errlen);

/* Starts an orderly shutdown; the loop finishes closing lws's handles. */
void gw_http_stop(gw_app *app);

#endif
