/*
 * gw_app.h — what every module of one `motcua serve` process is given when it
 * opens: the loop, the configuration, the metrics, the shared read-only data
 * (built once by gw_serve, never loaded twice), the main Redis connection and
 * the route table. Modules keep a pointer to it; nothing in it changes after
 * the modules are open, except that gw_serve clears `store` and `router` once
 * nothing may use them any more.
 *
 * The store and the router are only forward-declared here: app/ sits below
 * store/ and net/ and never calls them; the modules that do include their
 * headers.
 */
#ifndef GW_APP_H
#define GW_APP_H

#include "gateway/app/gw_config.h"
#include "gateway/app/gw_metrics.h"
#include "gateway/app/gw_time.h"
#include "intents/nlu.h"
#include "vi-nlp/vn_norm.h"

#include <uv.h>

struct gw_store;
struct gw_keyspace;
struct gw_router;
struct gw_shared;

typedef struct gw_app {
    uv_loop_t *loop;              /* the one loop of the process, borrowed */
    const gw_config *cfg;         /* borrowed, read-only */
    const char *share_dir;        /* folder of the data files (intents/data, ...), borrowed */
    gw_metrics *metrics;          /* owned by gw_serve */
    nlu_engine *nlu;              /* the understanding engine, owned by gw_serve */
    const vn_normalizer *vn;      /* the one Vietnamese normalizer (the engine's), borrowed */
    const struct gw_shared *data; /* wards, procedures, collator (app/gw_shared.h) */
    gw_tz *tz;                    /* [scheduler] timezone: the one local clock, owned by gw_serve */
    struct gw_store *store;       /* the main Redis connection, owned by gw_serve */
    const struct gw_keyspace *keys; /* the keyspace: partitions and key names (store/gw_keys.h) */
    struct gw_router *router;       /* routes modules add while they open (NULL: no HTTP) */
    const char *consumer;           /* this process's name in the stream groups */
} gw_app;

#endif
