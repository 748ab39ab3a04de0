/*
 * gw_pages.h — the routes every gateway serves besides the API and the webhooks:
 * the web chat page (GET /), the officers' console page (GET /console), /healthz,
 * /metrics, and a plain GET /ws (the WebSocket upgrade itself goes to the web chat).
 */
#ifndef GW_PAGES_H
#define GW_PAGES_H

#include "gateway/app/gw_app.h"

#include <stddef.h>

typedef struct gw_pages gw_pages;

/* Reads <share>/gateway/www/index.html and console.html and adds the routes.
 * 0, or MC_E* with err. Free once the server stopped. */
int gw_pages_open(gw_app *app, gw_pages **out, char *err, size_t errlen);
void gw_pages_free(gw_pages *p);

#endif
