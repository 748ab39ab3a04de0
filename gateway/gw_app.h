/*
 * gw_app.h — what one `motcua serve` process holds: the loop and the modules
 * it wires together. Only gateway/ sees this struct.
 */
#ifndef GW_APP_H
#define GW_APP_H

#include "gateway/gw_config.h"
#include "gateway/gw_metrics.h"
#include "gateway/gw_store.h"
#include "intents/nlu.h"

#include <stddef.h>
#include <uv.h>

struct lws_context;
struct gw_req;

/* A route registered by a module (see gw_http_route). */
typedef struct gw_route_slot {
    const char *path;            /* exact, or a prefix when it ends with '/' */
    const char *label;           /* route label in /metrics */
    unsigned methods;            /* GW_M_* mask */
    void (*fn)(struct gw_req *); /* handler */
} gw_route_slot;

typedef struct gw_app {
    uv_loop_t *loop;          /* the one loop of the process, borrowed */
    const gw_config *cfg;     /* borrowed, read-only */
    gw_store *store;          /* owned by main */
    gw_metrics *metrics;      /* owned by main */
    nlu_engine *nlu;          /* owned by main */
    struct gw_worker *worker; /* stream reader + conversation worker, owned by main */
    struct gw_sender *sender; /* outbound to providers, owned by main */
    char consumer[300];       /* this process's consumer name in the stream groups */
    char *page;               /* the web chat page, read at start-up; owned by main */
    size_t page_len;          /* its length */
    char *console;            /* the officers' console page (GET /console); owned by main */
    size_t console_len;       /* its length */
    struct lws_context *lws;  /* the HTTP server, owned by gw_http */
    int port;                 /* the port actually bound */
    int ws_open;              /* open web chat connections */
    gw_route_slot routes[32]; /* module routes, GW_HTTP_MAX_ROUTES */
    size_t n_routes;          /* used entries */
} gw_app;

#endif
