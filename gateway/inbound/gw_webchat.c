/*
 * gw_webchat.c — the web chat connection: protocol motcua.v1 over lws,
 * sessions and history in Redis, answers from the understanding path.
 *
 * Big idea: a connection is a refcounted wc_conn. lws owns the socket and
 * frees its per-session storage on close; every Redis command in flight holds
 * a reference, so a reply that arrives after the citizen left still finds
 * valid memory, sees `wsi == NULL`, and simply does not send (the reply is in
 * the history and is replayed on reconnect).
 *
 * Redis keys (all expire 24 h after the last activity):
 * Redis keys (store/gw_keys.h, in the partition of "webchat:<token>"; all expire 24 h
 * after the last activity):
 *   wc_session:<token>  hash  seq = last server message number, created = ms
 *   wc_history:<token>  zset  server message frames scored by seq, last 50 kept
 *   wc_id:<token>:<client id>  marks a client message id as accepted, so a
 *                    frame resent after a reconnect is acknowledged, not answered twice
 *   wc_in            stream of accepted citizen messages (accepted == persisted)
 *
 * Order: one Redis connection answers in order, and each step is issued from
 * the previous step's callback, so a citizen's messages are answered in the
 * order they were sent.
 */
#include "gateway/inbound/gw_webchat.h"

#include "channels/webchat.h"
#include "core/mc.h"
#include "gateway/store/gw_keys.h"
#include "gateway/store/gw_store.h"
#include "gateway/app/gw_app.h"
#include "gateway/app/gw_clock.h"
#include "gateway/app/gw_log.h"
#include "gateway/conv/gw_turn.h"
#include "vi-nlp/vn_utf8.h"

#include <jansson.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SESSION_TTL_S 86400            /* sessions and their history live 24 h */
#define HISTORY_KEEP 50                /* server messages kept per session */
#define RATE_PER_SEC 5                 /* citizen frames per second per connection */
#define MAX_QUEUED_BYTES 262144        /* a client this far behind is dropped */
#define INBOUND_STREAM_MAXLEN "100000" /* approximate cap of a partition's wc_in */
/* Bytes of a frame lws hands over per callback: lws keeps a buffer of this size for
 * every connection, idle or not, so it is small; a longer frame comes in pieces and is
 * put together in rx (WEBCHAT_MAX_FRAME still bounds a frame). */
#define WEBCHAT_RX_CHUNK 512

typedef struct outframe {
    struct outframe *next; /* FIFO link */
    size_t len;            /* payload bytes after LWS_PRE */
    unsigned char data[];  /* LWS_PRE + payload */
} outframe;

struct gw_webchat {
    gw_app *app;                   /* borrowed */
    struct lws_protocols protocol; /* motcua.v1, its user this module */
    int open;                      /* open connections */
};

typedef struct wc_conn {
    int refs;                              /* lws + Redis commands in flight */
    struct lws *wsi;                       /* NULL once lws closed the socket */
    gw_app *app;                           /* borrowed */
    int hello_state;                       /* 0 none, 1 in flight, 2 done */
    char session[WEBCHAT_SESSION_HEX + 1]; /* the session token */
    outframe *head, *tail;                 /* frames waiting for WRITEABLE */
    size_t queued;                         /* bytes in the queue */
    unsigned char *rx;                     /* reassembly of a frame that came in pieces,
                                              WEBCHAT_MAX_FRAME bytes, owned; NULL
                                              between such frames (an idle connection
                                              holds no buffer) */
    size_t rx_len;                         /* bytes in rx */
    int rx_overflow;                       /* current frame exceeded the limit */
    uint64_t win_start;                    /* rate window start, ms */
    int win_count;                         /* frames in the window */
} wc_conn;

/* One citizen message on its way through Redis and the conversation turn. */
typedef struct turn {
    wc_conn *c;                  /* holds a reference */
    char id[WEBCHAT_MAX_ID + 1]; /* the client's message id */
    char *text;                  /* the citizen's text, owned */
    size_t text_len;
    char *frame; /* our reply frame, owned, once rendered (in the commit) */
    size_t frame_len;
    const char *kind; /* "message" or "quick_reply" */
    uint64_t t0;      /* loop time when received, ms */
    long long seq;    /* number of our reply */
} turn;

static wc_conn *conn_ref(wc_conn *c) {
    c->refs++;
    return c;
}

static void conn_unref(wc_conn *c) {
    if (--c->refs > 0)
        return;
    for (outframe *f = c->head, *n; f; f = n) {
        n = f->next;
        free(f);
    }
    free(c->rx);
    free(c);
}

static void session_tag(const wc_conn *c, char out[9]) {
    memcpy(out, c->session, 8);
    out[8] = '\0';
}

/* Queues a frame (copying it) and asks lws for a write slot. */
static void conn_send(wc_conn *c, const char *data, size_t len) {
    if (!c->wsi || !data)
        return;
    if (c->queued + len > MAX_QUEUED_BYTES) {
        gw_log(GW_WARN, "webchat.slow_client", "{s:i}", "queued", (int)c->queued);
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_ASYNC);
        return;
    }
    outframe *f = malloc(sizeof *f + LWS_PRE + len);
    if (!f)
        return;
    f->next = NULL;
    f->len = len;
    memcpy(f->data + LWS_PRE, data, len);
    if (c->tail)
        c->tail->next = f;
    else
        c->head = f;
    c->tail = f;
    c->queued += len;
    lws_callback_on_writable(c->wsi);
}

/* Sends and frees a rendered frame; `len` is read after render() has set it. */
static void send_owned(wc_conn *c, char *json, const size_t *len) {
    conn_send(c, json, *len);
    free(json);
}

static void send_error(wc_conn *c, const char *code, const char *message) {
    size_t len = 0;
    send_owned(c, webchat_render_error(code, message, &len), &len);
}

/* Redis is away: the frame was not accepted, the citizen may send it again. */
static void send_busy(wc_conn *c) {
    send_error(c, "store_unavailable", "Hệ thống đang bận, vui lòng gửi lại sau giây lát.");
}

/* The partition of the session's keys. */
static unsigned part_of(const wc_conn *c) {
    char who[WEBCHAT_SESSION_HEX + 16];
    int n = snprintf(who, sizeof who, WEBCHAT_CHANNEL ":%s", c->session);
    return gw_keyspace_part_of(c->app->keys, who, (size_t)n);
}

static const char *k_sess(char *buf, size_t n, const wc_conn *c) {
    gw_key(c->app->keys, buf, n, GW_K_WC_SESSION, part_of(c), c->session);
    return buf;
}

static const char *k_hist(char *buf, size_t n, const wc_conn *c) {
    gw_key(c->app->keys, buf, n, GW_K_WC_HISTORY, part_of(c), c->session);
    return buf;
}

/* ---- hello: new session or resume with replay ---- */

static void on_replay(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    wc_conn *c = priv;
    if (r && r->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < r->elements; i++)
            if (r->element[i]->type == REDIS_REPLY_STRING)
                conn_send(c, r->element[i]->str, r->element[i]->len);
    }
    conn_unref(c);
}

typedef struct hello_op {
    wc_conn *c;         /* holds a reference */
    long long last_seq; /* what the client has */
    int resumed;        /* 1 when the session existed */
} hello_op;

static void finish_hello(hello_op *h, long long seq) {
    wc_conn *c = h->c;
    size_t len = 0;
    c->hello_state = 2;
    send_owned(c, webchat_render_welcome(c->session, seq, &len), &len);
    if (h->resumed && h->last_seq < seq) {
        char key[GW_KEYS_MAX], from[32];
        snprintf(from, sizeof from, "(%lld", h->last_seq);
        k_hist(key, sizeof key, c);
        if (gw_store_cmdf(c->app->store, on_replay, conn_ref(c), "ZRANGEBYSCORE %s %s +inf", key,
                          from))
            conn_unref(c);
    }
    char tag[9];
    session_tag(c, tag);
    gw_log(GW_INFO, "webchat.hello", "{s:s, s:b, s:I}", "session", tag, "resumed", h->resumed,
           "seq", (json_int_t)seq);
}

static void on_session_created(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    hello_op *h = priv;
    if (!r || r->type == REDIS_REPLY_ERROR) {
        h->c->hello_state = 0;
        send_busy(h->c);
    } else {
        finish_hello(h, 0);
    }
    conn_unref(h->c);
    free(h);
}

static int new_session(hello_op *h) {
    wc_conn *c = h->c;
    unsigned char raw[WEBCHAT_SESSION_HEX / 2];
    if (RAND_bytes(raw, sizeof raw) != 1)
        return MC_EIO;
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(c->session + 2 * i, 3, "%02x", raw[i]);
    h->resumed = 0;
    char key[GW_KEYS_MAX];
    k_sess(key, sizeof key, c);
    /* HSETNX-like safety is unnecessary: 128 random bits do not collide. */
    return gw_store_cmdf(c->app->store, NULL, NULL, "HSET %s seq 0 created %llu", key,
                         (unsigned long long)uv_now(c->app->loop)) ||
                   gw_store_cmdf(c->app->store, on_session_created, h, "EXPIRE %s %d", key,
                                 SESSION_TTL_S)
               ? MC_EUNAVAIL
               : 0;
}

static void on_session_lookup(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    hello_op *h = priv;
    wc_conn *c = h->c;
    if (!r || r->type == REDIS_REPLY_ERROR) {
        c->hello_state = 0;
        send_busy(c);
        goto done;
    }
    if (r->type == REDIS_REPLY_NIL) {
        /* Expired or unknown: start afresh. */
        if (new_session(h) == 0)
            return; /* on_session_created finishes and frees h */
        c->hello_state = 0;
        send_busy(c);
        goto done;
    }
    long long seq = r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : 0;
    h->resumed = 1;
    char k1[GW_KEYS_MAX], k2[GW_KEYS_MAX];
    k_sess(k1, sizeof k1, c);
    k_hist(k2, sizeof k2, c);
    gw_store_cmdf(c->app->store, NULL, NULL, "EXPIRE %s %d", k1, SESSION_TTL_S);
    gw_store_cmdf(c->app->store, NULL, NULL, "EXPIRE %s %d", k2, SESSION_TTL_S);
    finish_hello(h, seq);
done:
    conn_unref(c);
    free(h);
}

static void handle_hello(wc_conn *c, const webchat_frame *f) {
    if (c->hello_state) {
        send_error(c, "bad_state", "hello was already sent on this connection");
        return;
    }
    hello_op *h = calloc(1, sizeof *h);
    if (!h)
        return;
    h->c = conn_ref(c);
    h->last_seq = f->last_seq;
    c->hello_state = 1;
    int rc;
    if (f->session[0]) {
        memcpy(c->session, f->session, sizeof c->session);
        char key[GW_KEYS_MAX];
        k_sess(key, sizeof key, c);
        rc = gw_store_cmdf(c->app->store, on_session_lookup, h, "HGET %s seq", key);
    } else {
        rc = new_session(h);
    }
    if (rc) {
        c->hello_state = 0;
        send_busy(c);
        conn_unref(c);
        free(h);
    }
}

/* ---- a citizen message: persist, ack, understand, reply ---- */

static void turn_free(turn *t) {
    conn_unref(t->c);
    free(t->text);
    free(t->frame);
    free(t);
}

/* The web chat's part of the turn's MULTI: the reply frame into the session's
 * history, trimmed, and the session kept alive — so the history never holds a
 * message without its trim and TTL, nor a context without its reply. */
static void commit_history(gw_store *st, const gw_turn *gt, void *priv) {
    turn *t = priv;
    wc_conn *c = t->c;
    const nlu_reply *rep = gw_turn_reply(gt);
    webchat_quick q[NLU_MAX_QUICK];
    for (size_t i = 0; i < rep->n_quick && i < NLU_MAX_QUICK; i++)
        q[i] = (webchat_quick){rep->quick[i].title, rep->quick[i].payload};
    free(t->frame);
    t->frame_len = 0;
    t->frame = rep->text ? webchat_render_message(t->seq, rep->text, rep->text_len, q, rep->n_quick,
                                                  t->id, &t->frame_len)
                         : NULL;
    if (!t->frame)
        return;
    char kh[GW_KEYS_MAX], ks[GW_KEYS_MAX], score[32];
    k_hist(kh, sizeof kh, c);
    k_sess(ks, sizeof ks, c);
    snprintf(score, sizeof score, "%lld", t->seq);
    const char *zadd[] = {"ZADD", kh, score, t->frame};
    size_t zlen[] = {4, strlen(kh), strlen(score), t->frame_len};
    gw_store_cmd(st, NULL, NULL, 4, zadd, zlen);
    gw_store_cmdf(st, NULL, NULL, "ZREMRANGEBYRANK %s 0 %d", kh, -HISTORY_KEEP - 1);
    gw_store_cmdf(st, NULL, NULL, "EXPIRE %s %d", kh, SESSION_TTL_S);
    gw_store_cmdf(st, NULL, NULL, "EXPIRE %s %d", ks, SESSION_TTL_S);
}

static void turn_done(gw_turn *gt, int ok, void *priv) {
    turn *t = priv;
    wc_conn *c = t->c;
    const nlu_result *res = gw_turn_result(gt);
    const nlu_reply *rep = gw_turn_reply(gt);
    if (!ok && !t->frame) {
        send_busy(c); /* nothing was understood or recorded: the citizen may send it again */
        goto done;
    }
    if (!ok) /* the link dropped at the commit: deliver what we have; replay will lack it */
        gw_log(GW_WARN, "webchat.history_failed", NULL);
    const char *intent = res->intent ? res->intent : "out_of_scope";
    char tag[9];
    session_tag(c, tag);
    gw_log(GW_INFO, "webchat.reply", "{s:s, s:s, s:f, s:s?, s:I}", "session", tag, "intent", intent,
           "confidence", res->confidence, "procedure", rep->resolved.procedure, "seq",
           (json_int_t)t->seq);
    gw_metrics_msg_in(c->app->metrics, WEBCHAT_CHANNEL, intent);
    if (!t->frame)
        send_error(c, "internal", "Xin lỗi, tôi chưa xử lý được tin nhắn này.");
    else {
        conn_send(c, t->frame, t->frame_len);
        gw_metrics_msg_out(c->app->metrics, WEBCHAT_CHANNEL);
        gw_metrics_reply_latency(c->app->metrics, (double)(uv_now(c->app->loop) - t->t0) / 1000.0);
    }
done:
    gw_turn_free(gt);
    turn_free(t);
}

static const gw_turn_ops webchat_ops = {commit_history, turn_done, 0, 0, SESSION_TTL_S};

/* The number of the reply, then the turn. */
static void on_seq(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    turn *t = priv;
    wc_conn *c = t->c;
    if (!r || r->type != REDIS_REPLY_INTEGER) {
        send_busy(c);
        turn_free(t);
        return;
    }
    t->seq = r->integer;
    gw_turn_in in = {WEBCHAT_CHANNEL,
                     c->session,
                     !strcmp(t->kind, "quick_reply") ? "quick_reply" : "text",
                     t->text,
                     t->text_len,
                     NULL,
                     t->id,
                     (int64_t)gw_now_ms(),
                     ""};
    gw_turn *gt;
    if (gw_turn_start(c->app, &in, &webchat_ops, t, &gt)) {
        send_busy(c);
        turn_free(t);
    }
}

static void on_persisted(gw_store *s, redisReply *r, void *priv) {
    turn *t = priv;
    wc_conn *c = t->c;
    if (!r || r->type == REDIS_REPLY_ERROR) {
        /* Not persisted means not accepted: no ack, the client may resend. */
        send_busy(c);
        turn_free(t);
        return;
    }
    size_t len = 0;
    send_owned(c, webchat_render_ack(t->id, &len), &len);
    static const char typing[] = "{\"type\":\"typing\"}";
    conn_send(c, typing, sizeof typing - 1);
    char key[GW_KEYS_MAX];
    k_sess(key, sizeof key, c);
    if (gw_store_cmdf(s, on_seq, t, "HINCRBY %s seq 1", key)) {
        send_busy(c);
        turn_free(t);
    }
}

static void persist(turn *t) {
    wc_conn *c = t->c;
    char ts[32];
    snprintf(ts, sizeof ts, "%llu", (unsigned long long)t->t0);
    char stream[GW_KEYS_MAX];
    gw_key(c->app->keys, stream, sizeof stream, GW_K_WC_IN, part_of(c));
    const char *argv[] = {"XADD", stream,    "MAXLEN",   "~",  INBOUND_STREAM_MAXLEN,
                          "*",    "session", c->session, "id", t->id,
                          "kind", t->kind,   "ts",       ts,   "text",
                          t->text};
    size_t argl[MC_ARRAY_LEN(argv)];
    for (size_t i = 0; i < MC_ARRAY_LEN(argv); i++)
        argl[i] = strlen(argv[i]);
    argl[MC_ARRAY_LEN(argv) - 1] = t->text_len;
    if (gw_store_cmd(c->app->store, on_persisted, t, (int)MC_ARRAY_LEN(argv), argv, argl)) {
        send_busy(c);
        turn_free(t);
    }
}

static void on_id_claimed(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    turn *t = priv;
    if (!r || r->type == REDIS_REPLY_ERROR) {
        send_busy(t->c);
        turn_free(t);
        return;
    }
    if (r->type == REDIS_REPLY_NIL) {
        /* Seen before: it was accepted then; acknowledge again, answer once. */
        size_t len = 0;
        send_owned(t->c, webchat_render_ack(t->id, &len), &len);
        turn_free(t);
        return;
    }
    persist(t);
}

static void handle_message(wc_conn *c, webchat_frame *f) {
    if (c->hello_state != 2) {
        send_error(c, "hello_required", "send hello first");
        return;
    }
    turn *t = calloc(1, sizeof *t);
    if (!t)
        return;
    t->c = conn_ref(c);
    memcpy(t->id, f->id, sizeof t->id);
    t->text = f->text; /* take ownership */
    t->text_len = f->text_len;
    f->text = NULL;
    t->kind = f->kind == WEBCHAT_QUICK_REPLY ? "quick_reply" : "message";
    t->t0 = uv_now(c->app->loop);
    if (gw_log_enabled(GW_DEBUG))
        gw_log(GW_DEBUG, "webchat.text", "{s:s%}", "text", t->text, t->text_len);
    char key[GW_KEYS_MAX];
    gw_key(c->app->keys, key, sizeof key, GW_K_WC_ID, part_of(c), c->session, t->id);
    const char *argv[] = {"SET", key, "1", "NX", "EX", "86400"};
    size_t argl[MC_ARRAY_LEN(argv)];
    for (size_t i = 0; i < MC_ARRAY_LEN(argv); i++)
        argl[i] = strlen(argv[i]);
    if (gw_store_cmd(c->app->store, on_id_claimed, t, (int)MC_ARRAY_LEN(argv), argv, argl)) {
        send_busy(c);
        turn_free(t);
    }
}

/* ---- frames in ---- */

static int rate_ok(wc_conn *c) {
    uint64_t now = uv_now(c->app->loop);
    if (now - c->win_start >= 1000) {
        c->win_start = now;
        c->win_count = 0;
    }
    return ++c->win_count <= RATE_PER_SEC;
}

static void handle_frame(wc_conn *c, const unsigned char *buf, size_t len) {
    if (!rate_ok(c)) {
        send_error(c, "rate_limited", "Bạn gửi nhanh quá, vui lòng chờ một chút.");
        return;
    }
    if (!vn_utf8_valid((const char *)buf, len, NULL)) {
        send_error(c, "invalid_utf8", "frame is not valid UTF-8");
        return;
    }
    webchat_frame f;
    const char *code = NULL;
    char msg[160];
    if (webchat_parse((const char *)buf, len, &f, &code, msg, sizeof msg)) {
        send_error(c, code, msg);
        return;
    }
    if (f.kind == WEBCHAT_HELLO)
        handle_hello(c, &f);
    else
        handle_message(c, &f);
    webchat_frame_clear(&f);
}

static int origin_allowed(struct lws *wsi, const gw_config *cfg) {
    char origin[256], host[256];
    if (lws_hdr_copy(wsi, origin, sizeof origin, WSI_TOKEN_ORIGIN) <= 0)
        return 1; /* not a browser: Origin protects browsers from other sites */
    const ch_settings *wc = gw_config_channel(cfg, WEBCHAT_CHANNEL);
    const char *list = wc ? wc->allowed_origins : "";
    if (!strcmp(list, "*"))
        return 1;
    if (*list) {
        size_t ol = strlen(origin);
        for (const char *p = list; *p;) {
            while (*p == ' ' || *p == ',')
                p++;
            const char *e = p;
            while (*e && *e != ',')
                e++;
            const char *t = e;
            while (t > p && t[-1] == ' ')
                t--;
            if ((size_t)(t - p) == ol && !strncasecmp(p, origin, ol))
                return 1;
            p = e;
        }
        return 0;
    }
    /* No list: same origin only (the Origin's host:port equals Host). */
    if (lws_hdr_copy(wsi, host, sizeof host, WSI_TOKEN_HOST) <= 0)
        return 0;
    const char *o = strstr(origin, "://");
    return o && !strcasecmp(o + 3, host);
}

/* Per-connection storage lws allocates for us. */
typedef struct wc_pss {
    wc_conn *conn; /* our refcounted connection state */
} wc_pss;

static int webchat_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                            size_t len) {
    wc_pss *pss = user;
    const struct lws_protocols *proto = lws_get_protocol(wsi);
    gw_webchat *wc = proto ? proto->user : NULL;
    if (!wc)
        return 0;
    gw_app *app = wc->app;
    wc_conn *c = pss ? pss->conn : NULL;
    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
        char uri[64];
        if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) <= 0 || strcmp(uri, "/ws")) {
            gw_metrics_http(app->metrics, "other", 404);
            return 1;
        }
        const ch_settings *wcs = gw_config_channel(app->cfg, WEBCHAT_CHANNEL);
        if (!wcs || !wcs->enabled || !origin_allowed(wsi, app->cfg)) {
            gw_metrics_http(app->metrics, "/ws", 403);
            gw_log(GW_WARN, "webchat.origin_refused", NULL);
            return 1;
        }
        return 0;
    }
    case LWS_CALLBACK_ESTABLISHED:
        c = calloc(1, sizeof *c);
        if (!c)
            return -1;
        c->refs = 1;
        c->wsi = wsi;
        c->app = app;
        c->win_start = uv_now(app->loop);
        pss->conn = c;
        wc->open++;
        gw_metrics_http(app->metrics, "/ws", 101);
        gw_metrics_gauge_set(app->metrics, GW_G_WS_CONNECTIONS, wc->open);
        return 0;
    case LWS_CALLBACK_RECEIVE:
        if (!c)
            return -1;
        if (lws_frame_is_binary(wsi)) {
            if (lws_is_final_fragment(wsi))
                send_error(c, "bad_frame", "binary frames are not accepted");
            return 0;
        }
        int last = lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi);
        if (last && c->rx_len == 0 && !c->rx_overflow) { /* a whole frame at once */
            if (len > WEBCHAT_MAX_FRAME)
                send_error(c, "too_large", "frame larger than 4 KiB");
            else
                handle_frame(c, in, len);
            return 0;
        }
        if (c->rx_len + len > WEBCHAT_MAX_FRAME)
            c->rx_overflow = 1;
        else if (!c->rx && !(c->rx = malloc(WEBCHAT_MAX_FRAME)))
            c->rx_overflow = 1; /* answered as too large: nothing half-read is run */
        else {
            memcpy(c->rx + c->rx_len, in, len);
            c->rx_len += len;
        }
        if (!last)
            return 0;
        if (c->rx_overflow)
            send_error(c, "too_large", "frame larger than 4 KiB");
        else
            handle_frame(c, c->rx, c->rx_len);
        free(c->rx);
        c->rx = NULL;
        c->rx_len = 0;
        c->rx_overflow = 0;
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE: {
        if (!c || !c->head)
            return 0;
        outframe *f = c->head;
        int n = lws_write(wsi, f->data + LWS_PRE, f->len, LWS_WRITE_TEXT);
        c->head = f->next;
        if (!c->head)
            c->tail = NULL;
        c->queued -= f->len;
        free(f);
        if (n < 0)
            return -1;
        if (c->head)
            lws_callback_on_writable(wsi);
        return 0;
    }
    case LWS_CALLBACK_CLOSED:
        if (c) {
            c->wsi = NULL;
            pss->conn = NULL;
            wc->open--;
            gw_metrics_gauge_set(app->metrics, GW_G_WS_CONNECTIONS, wc->open);
            conn_unref(c);
        }
        return 0;
    default: return 0;
    }
}

int gw_webchat_open(gw_app *app, gw_webchat **out, char *err, size_t errlen) {
    gw_webchat *wc = calloc(1, sizeof *wc);
    *out = NULL;
    if (!wc) {
        snprintf(err, errlen, "out of memory");
        return MC_ENOMEM;
    }
    wc->app = app;
    wc->protocol = (struct lws_protocols){
        WEBCHAT_SUBPROTOCOL, webchat_callback, sizeof(wc_pss), WEBCHAT_RX_CHUNK, 0, wc, 0};
    *out = wc;
    return 0;
}

const struct lws_protocols *gw_webchat_protocol(const gw_webchat *wc) {
    return &wc->protocol;
}

void gw_webchat_free(gw_webchat *wc) {
    free(wc);
}
