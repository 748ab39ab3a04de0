/*
 * gw_serve.c — the process of `motcua serve`.
 *
 * Big idea (nginx's module list): the modules of a process are one table, in
 * the order they open. A module opens once the ones above it are open; on any
 * failure, and at the end of an orderly stop, the open ones are stopped in
 * reverse order (each takes nothing new; the sender's stop waits for the
 * requests already with a provider, so the stop phase is asynchronous) and then
 * closed in reverse order. The store is high in the table, so it stops late:
 * when it disconnects, the pending Redis callbacks (answered NULL) still find
 * every module alive; nothing is freed before the close phase. There is no
 * other teardown path.
 *
 * Shared read-only data — the understanding engine (with its normalizer,
 * catalog and wards), the ward list, the collator — is built here once, before
 * the first module, and handed down through gw_app.
 */
#include "gateway/gw_serve.h"

#include "core/mc.h"
#include "gateway/api/gw_api.h"
#include "gateway/api/gw_retention.h"
#include "gateway/app/gw_app.h"
#include "gateway/app/gw_log.h"
#include "gateway/app/gw_metrics.h"
#include "gateway/app/gw_shared.h"
#include "gateway/conv/gw_worker.h"
#include "gateway/dispatch/gw_sched.h"
#include "gateway/dispatch/gw_receipts.h"
#include "gateway/dispatch/gw_sender.h"
#include "gateway/gw_boot.h"
#include "gateway/gw_pages.h"
#include "gateway/inbound/gw_webchat.h"
#include "gateway/inbound/gw_webhooks.h"
#include "gateway/net/gw_http.h"
#include "gateway/net/gw_router.h"
#include "gateway/store/gw_keys.h"
#include "gateway/store/gw_reader.h"
#include "gateway/store/gw_store.h"
#include "gateway/app/gw_channels.h"

#include <libwebsockets.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef MOTCUA_VERSION
#define MOTCUA_VERSION "0.0.0"
#endif

#define SHUTDOWN_DRAIN_MS 3000 /* how long a stop waits for the requests with a provider */
#define CONSUMER_MAX 300       /* bytes of the consumer name */
#define SERVE_PATH_MAX 4096    /* a data file's path */

typedef struct serve serve;

/* What the modules of the table hold. */
struct serve {
    gw_app app;                  /* what every module is given */
    unsigned roles;              /* GW_ROLE_* */
    const char *role_name;       /* as given on the command line */
    char consumer[CONSUMER_MAX]; /* this process's consumer name */
    gw_shared *shared;           /* wards, procedures, collation */
    gw_keyspace *keys;           /* partitions and key names */
    gw_router *router;           /* routes, while the role serves HTTP */
    gw_store *store;             /* the main Redis connection */
    gw_sender *sender;           /* outbound to the providers */
    gw_sched *sched;             /* due notifications and broadcasts */
    gw_reader *reader;           /* the work streams */
    struct out_stream *out;      /* the outbound streams the sender reads */
    size_t n_out;                /* entries */
    gw_receipts *receipts;       /* what a provider's receipt does to a notification */
    gw_worker *worker;           /* conversation turns */
    gw_api *api;                 /* the department API and the console's endpoints */
    gw_retention *retention;     /* the retention sweeper */
    gw_webhooks *webhooks;       /* provider webhooks */
    gw_webchat *webchat;         /* the web chat protocol */
    gw_pages *pages;             /* pages, health, metrics */
    gw_http *http;               /* the HTTP server */
    uv_signal_t sigint, sigterm; /* orderly stop */
    int signals_open;            /* the signal handles are initialised */
    size_t n_open;               /* modules of the table opened so far */
    size_t stopping_at;          /* the stop phase is at this module (+1); 0 = not stopping */
    int stopping;                /* the stop phase has begun */
};

/*
 * One row of the table; every function but open is optional.
 *   stop    the module takes nothing new; it calls stop_next(s) when done, at
 *           once or later (the sender waits for its requests in flight);
 *   close   releases what the loop must see go (timers, connections);
 *   release after the loop has ended: memory that libwebsockets may still
 *           touch while it closes its connections (the server, the web chat).
 */
typedef struct module {
    const char *name;
    unsigned roles; /* the roles that run it */
    int (*open)(serve *s, char *err, size_t errlen);
    void (*stop)(serve *s);
    void (*close)(serve *s);
    void (*release)(serve *s);
} module;

static void stop_next(serve *s);

/* ---- store ---- */

static void on_store_state(gw_store *st, int up, void *priv) {
    (void)st;
    serve *s = priv;
    gw_metrics_gauge_set(s->app.metrics, GW_G_REDIS_UP, up);
    if (up && s->sender)
        gw_sender_store_up(s->sender);
}

static int store_open(serve *s, char *err, size_t errlen) {
    s->store = gw_store_new(s->app.loop, &s->app.cfg->redis);
    if (!s->store) {
        snprintf(err, errlen, "out of memory");
        return MC_ENOMEM;
    }
    gw_store_on_state(s->store, on_store_state, s);
    s->app.store = s->store;
    return 0;
}

/* Disconnecting answers every pending command with NULL while all modules are alive. */
static void store_stop(serve *s) {
    /* the NULL answers may still queue commands: the store refuses them (MC_EUNAVAIL) while
     * it closes, so app.store stays valid until its memory goes with the loop */
    gw_store_free(s->store);
    s->app.store = NULL;
    s->store = NULL;
    stop_next(s);
}

/* A module that is one object: opened with gw_<x>_open(&app, &field, err, errlen) and
 * freed with gw_<x>_free(field), in the close phase or after the loop (release). */
#define ONE_OBJECT_MODULE(name, field, open_fn, free_fn)                                           \
    static int name##_open(serve *s, char *err, size_t errlen) {                                   \
        return open_fn(&s->app, &s->field, err, errlen);                                           \
    }                                                                                              \
    static void name##_free(serve *s) {                                                            \
        free_fn(s->field);                                                                         \
        s->field = NULL;                                                                           \
    }

/* ---- dispatcher: sender and scheduler ---- */

static int sender_open(serve *s, char *err, size_t errlen) {
    return gw_sender_open(&s->app, &s->sender, err, errlen);
}

static void sender_drained(void *arg) {
    stop_next(arg);
}

/* Nothing new leaves; the requests already with a provider get their answer. */
static void sender_stop(serve *s) {
    gw_sender_drain(s->sender, SHUTDOWN_DRAIN_MS, sender_drained, s);
}

static void sender_close(serve *s) {
    gw_sender_free(s->sender);
    s->sender = NULL;
}

ONE_OBJECT_MODULE(sched, sched, gw_sched_open, gw_sched_free)

/* ---- the work streams: the reader, the outbound feed, the conversation worker ---- */

#define MAX_OUT_BUSY 512 /* outbound entries in the sender before the reader waits */

static int reader_open(serve *s, char *err, size_t errlen) {
    gw_reader_opts o = {
        s->app.loop, &s->app.cfg->redis, s->store, s->consumer, s->app.cfg->worker_claim_idle_ms,
        s->app.keys};
    s->reader = gw_reader_new(&o);
    if (!s->reader) {
        snprintf(err, errlen, "out of memory");
        return MC_ENOMEM;
    }
    return 0;
}

static void reader_paused(void *arg) {
    stop_next(arg);
}

/* Its partitions go back to the other gateways before the store closes. */
static void reader_stop(serve *s) {
    gw_reader_pause(s->reader, reader_paused, s);
}

static void reader_close(serve *s) {
    gw_reader_free(s->reader);
    s->reader = NULL;
}

static void out_done(void *arg) {
    serve *s = arg;
    if (s->reader)
        gw_reader_kick(s->reader);
}

/* The outbound streams: one per partition and channel. */
typedef struct out_stream {
    char name[GW_KEYS_MAX]; /* its key */
    unsigned part;          /* its partition */
    const char *channel;    /* its channel (the adapter's name) */
} out_stream;

static const out_stream *out_find(const serve *s, const char *name) {
    for (size_t i = 0; i < s->n_out; i++)
        if (!strcmp(s->out[i].name, name))
            return &s->out[i];
    return NULL;
}

/* The sender takes the entries of the outbound streams. */
static void out_take(void *priv, const char *stream, const redisReply *e, int redelivered) {
    serve *s = priv;
    const out_stream *o = out_find(s, stream);
    if (!o || e->element[1]->type != REDIS_REPLY_ARRAY) {
        gw_reader_ack(s->store, stream, e->element[0]->str);
        return;
    }
    gw_sender_take(s->sender, o->name, o->part, o->channel, e->element[0]->str, e->element[1],
                   redelivered, out_done, s);
}

static int out_has(void *priv, const char *stream, const char *id) {
    serve *s = priv;
    return gw_sender_has(s->sender, stream, id);
}

static int out_full(void *priv) {
    serve *s = priv;
    return gw_sender_busy(s->sender) >= MAX_OUT_BUSY;
}

static int outbound_open(serve *s, char *err, size_t errlen) {
    unsigned parts = gw_keyspace_partitions(s->app.keys);
    size_t n = (size_t)parts * gw_channel_count();
    const char **names = calloc(n ? n : 1, sizeof *names);
    s->out = calloc(n ? n : 1, sizeof *s->out);
    if (!names || !s->out) {
        free(names);
        snprintf(err, errlen, "out of memory");
        return MC_ENOMEM;
    }
    for (unsigned p = 0; p < parts; p++)
        for (size_t c = 0; c < gw_channel_count(); c++) {
            out_stream *o = &s->out[s->n_out];
            o->part = p;
            o->channel = gw_channel_name(c);
            gw_key(s->app.keys, o->name, sizeof o->name, GW_K_OUT, p, o->channel);
            names[s->n_out++] = o->name;
        }
    gw_feed f = {names, n, out_take, out_has, out_full, NULL, s, NULL, NULL, NULL};
    int rc = gw_reader_add(s->reader, &f);
    free(names);
    if (rc) {
        snprintf(err, errlen, "too many streams for one reader");
        return MC_ETOOBIG;
    }
    return 0;
}

static void outbound_release(serve *s) {
    free(s->out);
    s->out = NULL;
    s->n_out = 0;
}

ONE_OBJECT_MODULE(receipts, receipts, gw_receipts_open, gw_receipts_free)

static int apply_receipt(void *priv, const char *notif, const char *channel, const char *status,
                         int64_t at_ms, gw_store_cb *cb, void *arg) {
    serve *s = priv;
    return gw_receipts_apply(s->receipts, notif, channel, status, at_ms, cb, arg);
}

static int worker_open(serve *s, char *err, size_t errlen) {
    /* [worker] converse = false makes an ingest-only gateway: webhooks are accepted
     * and stored; other processes hold the conversations. */
    if (!s->app.cfg->worker_converse)
        return 0;
    gw_worker_opts wo = {apply_receipt, s}; /* receipts update notifications in any role */
    s->worker = gw_worker_new(&s->app, s->reader, &wo);
    if (!s->worker) {
        snprintf(err, errlen, "out of memory");
        return MC_ENOMEM;
    }
    return 0;
}

static void worker_stop(serve *s) {
    gw_worker_pause(s->worker);
    stop_next(s);
}

static void worker_close(serve *s) {
    gw_worker_free(s->worker);
    s->worker = NULL;
}

/* ---- gateway: the API, webhooks, web chat, pages, HTTP ---- */

ONE_OBJECT_MODULE(api, api, gw_api_open, gw_api_free)

/* Its provider client goes while the loop still runs (a template check in flight). */
static void api_close(serve *s) {
    gw_api_close(s->api);
}
ONE_OBJECT_MODULE(webhooks, webhooks, gw_webhooks_open, gw_webhooks_free)
ONE_OBJECT_MODULE(webchat, webchat, gw_webchat_open, gw_webchat_free)
ONE_OBJECT_MODULE(pages, pages, gw_pages_open, gw_pages_free)

static int retention_open(serve *s, char *err, size_t errlen) {
    return gw_retention_open(&s->app, s->api, &s->retention, err, errlen);
}

static void retention_close(serve *s) {
    gw_retention_free(s->retention);
    s->retention = NULL;
}

static int http_open(serve *s, char *err, size_t errlen) {
    gw_http_opts o = {s->app.loop, s->app.cfg, s->app.metrics, s->router,
                      gw_webchat_protocol(s->webchat)};
    s->http = gw_http_start(&o, err, errlen);
    return s->http ? 0 : MC_EIO;
}

static void http_stop(serve *s) {
    gw_http_stop(s->http);
    stop_next(s);
}

static void http_release(serve *s) {
    gw_http_free(s->http);
    s->http = NULL;
}

/* ---- signals ---- */

static void begin_stop(serve *s);

/* SIGINT/SIGTERM: the orderly stop. */
static void on_signal(uv_signal_t *h, int signum) {
    serve *s = h->data;
    if (s->stopping)
        return;
    gw_log(GW_INFO, "server.stopping", "{s:i}", "signal", signum);
    begin_stop(s);
}

static int signals_open(serve *s, char *err, size_t errlen) {
    (void)err;
    (void)errlen;
    uv_signal_init(s->app.loop, &s->sigint);
    uv_signal_init(s->app.loop, &s->sigterm);
    s->signals_open = 1;
    s->sigint.data = s->sigterm.data = s;
    uv_signal_start(&s->sigint, on_signal, SIGINT);
    uv_signal_start(&s->sigterm, on_signal, SIGTERM);
    return 0;
}

static void signals_close(serve *s) {
    if (!s->signals_open)
        return;
    uv_close((uv_handle_t *)&s->sigint, NULL);
    uv_close((uv_handle_t *)&s->sigterm, NULL);
    s->signals_open = 0;
}

/* ---- the table ---- */

#define G GW_ROLE_GATEWAY
#define D GW_ROLE_DISPATCHER
static const module modules[] = {
    {"store", G | D, store_open, store_stop, NULL, NULL},
    {"sender", D, sender_open, sender_stop, sender_close, NULL},
    {"scheduler", D, sched_open, NULL, sched_free, NULL},
    {"receipts", G | D, receipts_open, NULL, NULL, receipts_free},
    {"reader", G | D, reader_open, reader_stop, reader_close, NULL},
    {"outbound", D, outbound_open, NULL, NULL, outbound_release},
    {"worker", G, worker_open, worker_stop, worker_close, NULL},
    {"api", G, api_open, NULL, api_close, api_free},
    {"retention", G, retention_open, NULL, retention_close, NULL},
    {"webhooks", G, webhooks_open, NULL, NULL, webhooks_free},
    {"webchat", G, webchat_open, NULL, NULL, webchat_free},
    {"pages", G, pages_open, NULL, NULL, pages_free},
    {"http", G, http_open, http_stop, NULL, http_release},
    {"signals", G | D, signals_open, NULL, signals_close, NULL},
};
#undef G
#undef D

static int runs(const serve *s, size_t i) {
    return (modules[i].roles & s->roles) != 0;
}

/* The close phase: every opened module, last first. */
static void close_all(serve *s) {
    for (size_t i = s->n_open; i-- > 0;)
        if (runs(s, i) && modules[i].close)
            modules[i].close(s);
}

/* After the loop: what libwebsockets may have touched until it was done. */
static void release_all(serve *s) {
    for (size_t i = s->n_open; i-- > 0;)
        if (runs(s, i) && modules[i].release)
            modules[i].release(s);
    s->n_open = 0;
}

/* The stop phase walks up the table, one module at a time. */
static void stop_next(serve *s) {
    while (s->stopping_at > 0) {
        size_t i = --s->stopping_at;
        if (runs(s, i) && modules[i].stop) {
            modules[i].stop(s); /* calls stop_next when it is done */
            return;
        }
    }
    close_all(s);
}

static void begin_stop(serve *s) {
    if (s->stopping)
        return;
    s->stopping = 1;
    s->stopping_at = s->n_open;
    stop_next(s);
}

static void consumer_name(serve *s) {
    const gw_config *cfg = s->app.cfg;
    if (*cfg->worker_consumer) {
        snprintf(s->consumer, sizeof s->consumer, "%s", cfg->worker_consumer);
        return;
    }
    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    snprintf(s->consumer, sizeof s->consumer, "%s:%d", host, cfg->listen_port);
}

int gw_serve(const gw_config *cfg, const char *share, unsigned roles, const char *role_name) {
    int rc = 1;
    char err[600] = "";
    uv_loop_t loop;
    serve *s = calloc(1, sizeof *s);
    if (!s) {
        fprintf(stderr, "motcua serve: out of memory\n");
        return 1;
    }
    uv_loop_init(&loop);
    s->roles = roles;
    s->role_name = role_name;
    s->app.loop = &loop;
    s->app.cfg = cfg;
    s->app.share_dir = share;
    s->app.consumer = s->consumer;
    consumer_name(s);
    s->app.metrics = gw_metrics_new();
    s->app.nlu = gw_boot_nlu(cfg, share, "motcua serve");
    if (!s->app.metrics || !s->app.nlu)
        goto out;
    s->app.vn = nlu_engine_normalizer(s->app.nlu);
    if (!(s->shared = gw_shared_new(s->app.nlu, err, sizeof err))) {
        fprintf(stderr, "motcua serve: %s\n", err);
        goto out;
    }
    s->app.data = s->shared;
    {
        char path[SERVE_PATH_MAX];
        snprintf(path, sizeof path, "%s/gateway/app/data/report_statuses.txt", share);
        if (gw_shared_load_report_statuses(s->shared, path, err, sizeof err) ||
            gw_shared_load_departments(s->shared, cfg->admin_departments_file, err, sizeof err)) {
            fprintf(stderr, "motcua serve: %s\n", err);
            rc = 2;
            goto out;
        }
    }
    if (!(s->keys = gw_keyspace_new((unsigned)cfg->redis_partitions)))
        goto out;
    s->app.keys = s->keys;
    if (!(s->app.tz = gw_tz_new(cfg->scheduler_timezone, err, sizeof err))) {
        fprintf(stderr, "motcua serve: %s\n", err);
        rc = 2;
        goto out;
    }
    if ((roles & GW_ROLE_GATEWAY) && !(s->router = gw_router_new()))
        goto out;
    s->app.router = s->router;

    for (size_t i = 0; i < MC_ARRAY_LEN(modules); i++) {
        if (!runs(s, i)) {
            s->n_open = i + 1;
            continue;
        }
        int mrc = modules[i].open(s, err, sizeof err);
        if (mrc) {
            fprintf(stderr, "motcua serve: %s: %s\n", modules[i].name,
                    *err ? err : mc_strerror(mrc));
            rc = mrc == MC_EPARSE || mrc == MC_EINVAL || mrc == MC_ETOOBIG ? 2 : 1;
            begin_stop(s); /* the same teardown as an orderly stop */
            uv_run(&loop, UV_RUN_DEFAULT);
            goto out;
        }
        s->n_open = i + 1;
    }
    gw_log(GW_INFO, "server.listening", "{s:s, s:i, s:s, s:s, s:s}", "host", cfg->listen_host,
           "port", s->http ? gw_http_port(s->http) : 0, "redis", cfg->redis.host, "role", role_name,
           "version", MOTCUA_VERSION);
    uv_run(&loop, UV_RUN_DEFAULT);
    gw_log(GW_INFO, "server.stopped", NULL);
    rc = 0;
out:
    if (s->n_open && !s->stopping) {
        begin_stop(s);
        uv_run(&loop, UV_RUN_DEFAULT);
    }
    /* libwebsockets finishes destroying a context on a foreign loop only when asked
     * again once that loop has stopped; the loop then closes its last handles. */
    gw_http_stop(s->http);
    if (uv_loop_close(&loop) == UV_EBUSY) {
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
    }
    release_all(s);
    gw_router_free(s->router);
    gw_shared_free(s->shared);
    gw_tz_free(s->app.tz);
    gw_keyspace_free(s->keys);
    nlu_engine_free(s->app.nlu);
    gw_metrics_free(s->app.metrics);
    free(s);
    return rc;
}
