/*
 * gw_webhooks.c — provider webhooks into the inbound stream.
 *
 * Big idea: the gateway only routes. The channel adapter says whether the
 * request is genuine (verify → 401) and what it carries (parse → 400); this
 * file checks the text is UTF-8, then stores the events of the request with one
 * Lua script per partition (the citizens' partitions: a Facebook request can
 * carry several citizens): for each event, SET its dedup key NX and XADD it to
 * the partition's inbound stream only when the key was new. Only after every
 * script answered does the provider get its 200 (a 503 if any failed, so it
 * retries: what was stored is recognised by its dedup key and not stored
 * twice). The conversation worker takes it from there.
 *
 * Stream entry fields: ch kind pid from to ts text payload status at
 */
#include "gateway/inbound/gw_webhooks.h"

#include "channels/ch.h"
#include "core/mc.h"
#include "gateway/store/gw_keys.h"
#include "gateway/store/gw_script.h"
#include "gateway/store/gw_store.h"
#include "gateway/app/gw_channels.h"
#include "gateway/net/gw_http.h"
#include "gateway/app/gw_clock.h"
#include "gateway/app/gw_log.h"
#include "vi-nlp/vn_utf8.h"
#include "vi-nlp/vn_norm.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define MAX_PARTS CH_MAX_MESSAGES /* partitions one request may touch */

/* KEYS[1] the partition's inbound stream; ARGV: ttl, n, then per event: channel,
 * kind, dedup id ("" = none), field count, fields and values. Returns the number of
 * events added. */
static const char persist_lua[] =
    "local ttl=ARGV[1] local n=tonumber(ARGV[2]) local i=3 local added=0\n"
    "for m=1,n do\n"
    "  local c,k,d,nf=ARGV[i],ARGV[i+1],ARGV[i+2],tonumber(ARGV[i+3]) i=i+4\n"
    "  local fresh=true\n"
    "  if d~='' then fresh=redis.call('SET',K.dedup(c,k,d),'1','NX','EX',ttl) end\n"
    "  if fresh then\n"
    "    local a={'XADD',KEYS[1],'*'}\n"
    "    for j=0,nf*2-1 do a[#a+1]=ARGV[i+j] end\n"
    "    redis.call(unpack(a)) added=added+1\n"
    "  end\n"
    "  i=i+nf*2\n"
    "end\n"
    "return added\n";

static const char *const kind_names[] = {
    [CH_EV_TEXT] = "text",         [CH_EV_QUICK_REPLY] = "quick_reply",
    [CH_EV_POSTBACK] = "postback", [CH_EV_UNSUPPORTED] = "unsupported",
    [CH_EV_FOLLOW] = "follow",     [CH_EV_UNFOLLOW] = "unfollow",
    [CH_EV_DELIVERY] = "delivery", [CH_EV_READ] = "read",
    [CH_EV_ECHO] = "echo",         [CH_EV_STATUS] = "status",
};

/* One webhook waiting for Redis. */
typedef struct hook {
    gw_req *rq;            /* holds a reference */
    const ch_adapter *ad;  /* the channel's adapter (static) */
    const ch_settings *st; /* its settings (the configuration's) */
    size_t events;         /* events sent to the scripts */
    size_t waiting;        /* scripts not answered yet */
    long long added;       /* events the scripts added */
    int failed;            /* a script failed: 503 */
    int short_replicas;    /* written, but fewer replicas than [redis] wait_replicas have it */
} hook;

#define WEBHOOK_PREFIX "/webhook/" /* + the channel's name */

static const char *req_header(void *ctx, const char *name) {
    return gw_req_header(ctx, name);
}

/* What the provider expects back once we have the events. */
static void answer_ok(gw_req *rq, const ch_adapter *ad, const ch_settings *st) {
    ch_ack a = {200, "application/json", "{}"};
    if (ad->ack)
        ad->ack(st, gw_req_method(rq), &a);
    gw_req_respond(rq, a.status, a.ctype, a.body, strlen(a.body), NULL);
}

/* One script's answer; the last one answers the provider. */
static void on_persisted(gw_store *s, redisReply *r, void *priv) {
    hook *h = priv;
    long long acked = 0;
    if (!r || r->type == REDIS_REPLY_ERROR) {
        gw_log(GW_ERROR, "webhook.persist_failed", "{s:s, s:s}", "channel", h->ad->name, "error",
               r && r->str ? r->str : "connection lost");
        h->failed = 1;
    } else {
        if (r->type == REDIS_REPLY_INTEGER)
            h->added += r->integer;
        if (gw_store_waited_short(s, &acked)) {
            gw_log(GW_WARN, "webhook.replicas_short", "{s:s, s:I}", "channel", h->ad->name, "acked",
                   (json_int_t)acked);
            h->short_replicas = 1;
        }
    }
    if (--h->waiting > 0)
        return;
    if (h->failed)
        gw_req_error(h->rq, 503, "unavailable", "the message store is unavailable; retry");
    else if (h->short_replicas)
        /* the events are stored (a retry is deduplicated): only their copies are missing */
        gw_req_error(h->rq, 503, "replicas",
                     "stored, but fewer replicas than required acknowledged it; retry");
    else {
        gw_log(GW_INFO, "webhook.accepted", "{s:s, s:I, s:I}", "channel", h->ad->name, "events",
               (json_int_t)h->events, "new", (json_int_t)h->added);
        answer_ok(h->rq, h->ad, h->st);
    }
    gw_req_unref(h->rq);
    free(h);
}

/* A subscription handshake (Facebook's GET with hub.* parameters). */
static void handshake(gw_req *rq, const ch_adapter *ad, const ch_settings *st,
                      const ch_request *cr) {
    char challenge[256], err[160];
    if (ad->handshake(st, cr, challenge, sizeof challenge, err, sizeof err)) {
        gw_log(GW_WARN, "webhook.handshake_refused", "{s:s, s:s}", "channel", ad->name, "reason",
               err);
        gw_req_error(rq, 403, "forbidden", "%s", err);
        return;
    }
    gw_req_respond(rq, 200, "text/plain; charset=utf-8", challenge, strlen(challenge), NULL);
}

static int text_ok(gw_req *rq, const ch_message *m) {
    if (m->text && !vn_utf8_valid(m->text, m->text_len, NULL)) {
        gw_req_error(rq, 400, "invalid_utf8", "the message text is not valid UTF-8");
        return 0;
    }
    if (m->payload && !vn_utf8_valid(m->payload, strlen(m->payload), NULL)) {
        gw_req_error(rq, 400, "invalid_utf8", "the payload is not valid UTF-8");
        return 0;
    }
    if (m->text_len > VN_MAX_INPUT) {
        gw_req_error(rq, 413, "text_too_long", "a message text is longer than %d bytes",
                     VN_MAX_INPUT);
        return 0;
    }
    return 1;
}

static void add_event(gw_argv *a, const char *channel, const ch_message *m, int64_t now_ms) {
    const char *kind = kind_names[m->kind];
    gw_argv_adds(a, channel);
    gw_argv_adds(a, kind);
    if (*m->provider_id)
        gw_argv_adds(a, m->provider_id);
    else if (m->kind == CH_EV_FOLLOW || m->kind == CH_EV_UNFOLLOW || m->kind == CH_EV_READ)
        gw_argv_addf(a, "%s:%" PRId64, m->sender, m->ts_ms); /* no id: who and when */
    else
        gw_argv_adds(a, "");
    size_t nf = 8 + (m->text != NULL) + (m->payload != NULL);
    gw_argv_addf(a, "%zu", nf);
    gw_argv_adds(a, "ch");
    gw_argv_adds(a, channel);
    gw_argv_adds(a, "kind");
    gw_argv_adds(a, kind);
    gw_argv_adds(a, "pid");
    gw_argv_adds(a, m->provider_id);
    gw_argv_adds(a, "from");
    gw_argv_adds(a, m->sender);
    gw_argv_adds(a, "to");
    gw_argv_adds(a, m->recipient);
    gw_argv_adds(a, "ts");
    gw_argv_addf(a, "%" PRId64, m->ts_ms ? m->ts_ms : now_ms);
    gw_argv_adds(a, "status");
    gw_argv_adds(a, m->kind == CH_EV_STATUS ? m->status : "");
    gw_argv_adds(a, "at");
    gw_argv_addf(a, "%" PRId64, now_ms);
    if (m->text) {
        gw_argv_adds(a, "text");
        gw_argv_add(a, m->text, m->text_len);
    }
    if (m->payload) {
        gw_argv_adds(a, "payload");
        gw_argv_adds(a, m->payload);
    }
}

struct gw_webhooks {
    gw_app *app;       /* borrowed */
    gw_script persist; /* persist_lua with the key helpers */
    ch_message *msgs;  /* CH_MAX_MESSAGES, owned: the parse of the request being handled
                          (taken once: zeroing 30 KB per request was a sixth of its cost;
                          an adapter clears each message it fills) */
};

/* The events of one partition, as the script's arguments. */
typedef struct part_batch {
    unsigned part;   /* the partition */
    size_t events;   /* events in it */
    size_t count_at; /* where the event count goes in argv */
    gw_argv argv;    /* EVALSHA ... */
} part_batch;

static void on_webhook(gw_req *rq, void *priv) {
    gw_webhooks *wh = priv;
    gw_app *app = wh->app;
    const ch_adapter *ad = ch_adapter_find(gw_req_path(rq) + strlen(WEBHOOK_PREFIX));
    const ch_settings *stp = ad ? gw_channel_conf(app->cfg, ad->name) : NULL;
    if (!ad || !stp || !stp->enabled) {
        gw_req_error(rq, 404, "not_found", "this channel is not enabled");
        return;
    }
    const char *channel = ad->name;
    const ch_settings st = *stp;
    int is_get = !strcmp(gw_req_method(rq), "GET") || !strcmp(gw_req_method(rq), "HEAD");

    ch_request cr = {0};
    cr.method = gw_req_method(rq);
    cr.path = gw_req_path(rq);
    cr.query = gw_req_query(rq, &cr.query_len);
    cr.body = gw_req_body(rq, &cr.body_len);
    cr.header = req_header;
    cr.header_ctx = rq;
    cr.remote_addr = gw_req_peer(rq);
    cr.now_ms = gw_now_ms();
    if (is_get && ad->handshake) {
        handshake(rq, ad, &st, &cr);
        return;
    }

    char err[256];
    if (ad->verify(&st, &cr, err, sizeof err)) {
        gw_log(GW_WARN, "webhook.bad_signature", "{s:s, s:s, s:s}", "channel", channel, "peer",
               gw_req_peer(rq), "reason", err);
        gw_req_error(rq, 401, "bad_signature", "%s", err);
        return;
    }
    ch_message *msgs = wh->msgs; /* the handler runs to its end before the next request */
    size_t n = 0;
    part_batch batches[MAX_PARTS]; /* the first n_batches are used (and zeroed) */
    size_t n_batches = 0;
    hook *h = NULL;
    int rc = ad->parse(&st, &cr, msgs, &n, err, sizeof err);
    if (rc) {
        gw_log(GW_INFO, "webhook.malformed", "{s:s, s:s}", "channel", channel, "reason", err);
        gw_req_error(rq, 400, rc == MC_EUTF8 ? "invalid_utf8" : "bad_request", "%s", err);
        goto done;
    }
    size_t events = 0;
    for (size_t i = 0; i < n; i++) {
        if (!text_ok(rq, &msgs[i]))
            goto done;
        if (msgs[i].kind == CH_EV_ECHO) /* our own message coming back */
            continue;
        /* an event may belong to another channel of the same account (a ZNS delivery
         * arrives on Zalo's webhook): it is that channel's, in its citizen's partition */
        const char *ev_ch = msgs[i].channel ? msgs[i].channel : channel;
        char who[2 * CH_MAX_ID + 2];
        int wl = snprintf(who, sizeof who, "%s:%s", ev_ch, msgs[i].sender);
        unsigned part = gw_keyspace_part_of(app->keys, who, (size_t)wl);
        part_batch *pb = NULL;
        for (size_t k = 0; k < n_batches && !pb; k++)
            if (batches[k].part == part)
                pb = &batches[k];
        if (!pb) {
            pb = &batches[n_batches++];
            memset(pb, 0, sizeof *pb);
            pb->part = part;
            gw_argv_evalsha(&pb->argv, &wh->persist);
            gw_argv_adds(&pb->argv, "1");
            gw_argv_addkey(&pb->argv, app->keys, GW_K_IN, part);
            gw_argv_adds(&pb->argv, GW_DEDUP_TTL_S);
            pb->count_at = pb->argv.n;
            gw_argv_adds(&pb->argv, "0"); /* replaced below */
        }
        add_event(&pb->argv, ev_ch, &msgs[i], cr.now_ms);
        pb->events++;
        events++;
    }
    if (events == 0) {
        if (gw_log_enabled(GW_DEBUG))
            gw_log(GW_DEBUG, "webhook.nothing_to_do", "{s:s, s:I}", "channel", channel, "items",
                   (json_int_t)n);
        answer_ok(rq, ad, stp);
        goto done;
    }
    h = calloc(1, sizeof *h);
    if (!h) {
        gw_req_error(rq, 500, "internal", "out of memory");
        goto done;
    }
    h->rq = gw_req_ref(rq);
    h->ad = ad;
    h->st = stp;
    h->events = events;
    h->waiting = n_batches;
    for (size_t k = 0; k < n_batches; k++) {
        part_batch *pb = &batches[k];
        char nbuf[24];
        snprintf(nbuf, sizeof nbuf, "%zu", pb->events);
        if (!pb->argv.oom) {
            pb->argv.v[pb->count_at] = nbuf;
            pb->argv.l[pb->count_at] = strlen(nbuf);
        }
        /* with [redis] wait_replicas, answered once that many replicas have the events */
        if (gw_argv_send_wait(app->store, &pb->argv, (int)app->cfg->redis_wait_replicas,
                              app->cfg->redis_wait_timeout_ms, on_persisted, h)) {
            /* not sent: count it failed, as if answered (the others still answer) */
            h->failed = 1;
            if (--h->waiting == 0) {
                gw_req_unref(h->rq);
                free(h);
                gw_req_error(rq, 503, "unavailable", "the message store is unavailable; retry");
                break;
            }
        }
    }
done:
    for (size_t k = 0; k < n_batches; k++)
        gw_argv_free(&batches[k].argv);
    for (size_t i = 0; i < n; i++)
        ch_message_clear(&msgs[i]);
}

int gw_webhooks_open(gw_app *app, gw_webhooks **out, char *err, size_t errlen) {
    gw_webhooks *wh = calloc(1, sizeof *wh);
    *out = NULL;
    if (!wh) {
        snprintf(err, errlen, "out of memory");
        return MC_ENOMEM;
    }
    wh->app = app;
    if (!(wh->msgs = calloc(CH_MAX_MESSAGES, sizeof *wh->msgs)) ||
        gw_script_load(&wh->persist, app->store, "persist", app->keys, persist_lua)) {
        snprintf(err, errlen, "out of memory");
        gw_webhooks_free(wh);
        return MC_ENOMEM;
    }
    /* one route per enabled channel, at /webhook/<channel>, with the methods its
     * adapter takes with these settings (the router answers 405 with Allow otherwise) */
    for (size_t i = 0; i < gw_channel_count(); i++) {
        const char *name = gw_channel_name(i);
        const ch_adapter *ad = ch_adapter_at(i);
        const ch_settings *st = gw_channel_conf(app->cfg, name);
        char path[96];
        if (!st || !st->enabled || !ad->verify || !ad->parse)
            continue; /* no webhook of its own (ZNS: its events come with Zalo's) */
        unsigned m = ad->methods ? ad->methods(st) : CH_M_POST;
        unsigned methods = (m & CH_M_GET ? GW_M_GET : 0) | (m & CH_M_POST ? GW_M_POST : 0);
        snprintf(path, sizeof path, WEBHOOK_PREFIX "%s", name);
        if (gw_router_add(app->router, path, NULL, methods, on_webhook, wh)) {
            snprintf(err, errlen, "cannot add the route %s", path);
            gw_webhooks_free(wh);
            return MC_ETOOBIG;
        }
    }
    *out = wh;
    return 0;
}

void gw_webhooks_free(gw_webhooks *wh) {
    if (!wh)
        return;
    gw_script_clear(&wh->persist);
    free(wh->msgs);
    free(wh);
}
