/*
 * gw_worker.c — the conversation worker: takes the entries of the inbound stream
 * (citizen messages and provider receipts) from the reader and runs them.
 *
 * Big idea: an entry is acknowledged only in the same MULTI that records its
 * effects (the turn's commit, gw_turn.h; a receipt's update), so a process killed
 * at any point either did it completely or not at all, and the entry is read
 * again (the reader's pending pass on restart, or a claim by another process).
 * Up to MAX_ACTIVE turns run at once, but never two of the same conversation:
 * an entry waits while an earlier one of the same citizen is in the queue, which
 * keeps each citizen's messages in order. Across processes the order holds because
 * each partition's stream is read by one process at a time (the reader's leases): a
 * partition lost drops its entries not started here; one given back waits for those
 * running.
 */
#include "gateway/conv/gw_worker.h"

#include "core/mc.h"
#include "gateway/app/gw_clock.h"
#include "gateway/app/gw_log.h"
#include "gateway/conv/gw_turn.h"
#include "gateway/store/gw_keys.h"
#include "gateway/store/gw_reader.h"
#include "gateway/store/gw_store.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_INBOUND_QUEUE 256 /* inbound entries read but not done */
#define MAX_ACTIVE 32         /* turns of different conversations run at once */
#define MAX_SCAN 64           /* waiting entries looked at per scheduling pass */
#define RETRY_MS 500          /* a turn that failed (Redis) runs again this much later */
#define MAX_FIELD 16384       /* longest field value we take from an entry */
#define DLV_TTL_S 604800      /* delivery records kept 7 days */

/* One inbound entry, copied out of the reply. */
typedef struct in_msg {
    struct in_msg *next;
    struct gw_worker *w;               /* owner */
    int started;                       /* its turn is running */
    int dropped;                       /* its partition is no longer ours: not run again */
    char id[48];                       /* stream entry id */
    char stream[GW_READER_STREAM_MAX]; /* the inbound stream (partition) it came from */
    unsigned part;                     /* that partition */
    char notif[64];                    /* a receipt: the notification its record names */
    char ch[16];                       /* channel */
    char kind[16];                     /* text, quick_reply, postback, unsupported, follow, ... */
    char pid[128];                     /* provider message id */
    char from[128];                    /* sender in the channel */
    char status[24];                   /* receipt status */
    char *text;                        /* owned, may be NULL */
    size_t text_len;
    char *payload; /* owned, may be NULL */
    int64_t at;    /* accepted at, ms */
} in_msg;

struct gw_worker {
    gw_app *app;                  /* borrowed */
    gw_reader *reader;            /* where the entries come from, borrowed */
    gw_worker_opts o;             /* options */
    in_msg *head, *tail;          /* inbound queue */
    size_t queued;                /* entries in it */
    int active;                   /* turns running (at most MAX_ACTIVE) */
    uv_timer_t timer;             /* runs failed turns again */
    int closing;                  /* free in progress */
    int paused;                   /* gw_worker_pause: takes nothing new */
    char (*streams)[GW_KEYS_MAX]; /* every partition's inbound stream, by partition */
};

static void schedule(gw_worker *w);

/* How the stream transport answers: the reply goes on the outbound stream and the
 * entry is acknowledged in the turn's MULTI. */
static void commit_ack(gw_store *st, const gw_turn *t, void *priv);
static void turn_done_cb(gw_turn *t, int ok, void *priv);
static const gw_turn_ops stream_ops = {commit_ack, turn_done_cb, 1, 1, GW_CONV_TTL_S};

static void in_free(in_msg *m) {
    if (!m)
        return;
    free(m->text);
    free(m->payload);
    free(m);
}

static void copy_field(char *dst, size_t n, const redisReply *v) {
    size_t l = v->len < n - 1 ? v->len : n - 1;
    memcpy(dst, v->str, l);
    dst[l] = '\0';
}

static char *dup_field(const redisReply *v, size_t *len) {
    size_t l = v->len < MAX_FIELD ? v->len : MAX_FIELD;
    char *s = malloc(l + 1);
    if (s) {
        memcpy(s, v->str, l);
        s[l] = '\0';
        if (len)
            *len = l;
    }
    return s;
}

/* ---- an entry's life ---- */

static void entry_done(in_msg *m);

/* It failed half-way (Redis): nothing was committed; the timer starts it again, unless
 * its partition went to another process meanwhile (which takes it over). */
static void entry_retry(in_msg *m) {
    if (m->dropped) {
        entry_done(m);
        return;
    }
    m->started = 0;
    m->w->active--;
}

/* It is done and acknowledged (or no longer ours): out of the queue; the next entries
 * may run. */
static void entry_done(in_msg *m) {
    gw_worker *w = m->w;
    in_msg **pp = &w->head, *prev = NULL;
    while (*pp && *pp != m) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (*pp)
        *pp = m->next;
    if (w->tail == m)
        w->tail = prev;
    w->queued--;
    w->active--;
    in_free(m);
    schedule(w);
    gw_reader_kick(w->reader);
}

static void commit_ack(gw_store *st, const gw_turn *t, void *priv) {
    (void)t;
    const in_msg *m = priv;
    gw_reader_ack(st, m->stream, m->id);
}

static void turn_done_cb(gw_turn *t, int ok, void *priv) {
    in_msg *m = priv;
    gw_worker *w = m->w;
    if (ok) {
        const nlu_result *res = gw_turn_result(t);
        if (res->intent)
            gw_metrics_msg_in(w->app->metrics, m->ch, res->intent);
        gw_metrics_reply_latency(w->app->metrics, (double)(gw_now_ms() - m->at) / 1000.0);
    }
    gw_turn_free(t);
    if (ok)
        entry_done(m);
    else
        entry_retry(m); /* the timer tries again */
}

static void run_turn(gw_worker *w, in_msg *m) {
    gw_turn_in in = {m->ch,      m->from, m->kind, m->text, m->text_len,
                     m->payload, m->pid,  m->at,   m->id};
    gw_turn *t;
    if (gw_turn_start(w->app, &in, &stream_ops, m, &t))
        entry_retry(m);
    /* done may already have run: t is not kept here but by turn_done_cb */
}

/* ---- a provider receipt: its notification, then its record and the ack ---- */

static const char *receipt_status(const in_msg *m) {
    return !strcmp(m->kind, "read")       ? "read"
           : !strcmp(m->kind, "delivery") ? "delivered"
           : *m->status                   ? m->status
                                          : "unknown";
}

static void on_receipt_done(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    in_msg *m = priv;
    if (!r || r->type == REDIS_REPLY_ERROR) {
        entry_retry(m); /* the timer tries again */
        return;
    }
    entry_done(m);
}

/* The delivery record, then the acknowledgement, in one MULTI of the entry's partition. */
static void receipt_commit(gw_worker *w, in_msg *m) {
    gw_store *st = w->app->store;
    int rc = st ? gw_store_cmdf(st, NULL, NULL, "MULTI") : MC_EUNAVAIL;
    if (!rc && *m->pid) {
        char key[GW_KEYS_MAX];
        gw_key(w->app->keys, key, sizeof key, GW_K_DLV, m->part, m->ch, m->pid);
        gw_store_cmdf(st, NULL, NULL, "HSET %s status %s at %" PRId64, key, receipt_status(m),
                      m->at);
        gw_store_cmdf(st, NULL, NULL, "EXPIRE %s %d", key, DLV_TTL_S);
    }
    if (!rc) {
        gw_reader_ack(st, m->stream, m->id);
        rc = gw_store_cmdf(st, on_receipt_done, m, "EXEC");
    }
    if (rc)
        entry_retry(m); /* the timer tries again */
}

static void on_receipt_applied(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    in_msg *m = priv;
    if (!r || r->type == REDIS_REPLY_ERROR) {
        entry_retry(m);
        return;
    }
    receipt_commit(m->w, m);
}

/* [notif] of the delivery record: a notification's message moves it on first. */
static void on_dlv(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    in_msg *m = priv;
    gw_worker *w = m->w;
    if (!r || r->type == REDIS_REPLY_ERROR) {
        entry_retry(m);
        return;
    }
    if (r->type == REDIS_REPLY_STRING && strcmp(r->str, "-") && w->o.receipt &&
        r->len < sizeof m->notif) {
        snprintf(m->notif, sizeof m->notif, "%s", r->str);
        int rc = w->o.receipt(w->o.receipt_priv, m->notif, m->ch, receipt_status(m), m->at,
                              on_receipt_applied, m);
        if (rc == MC_EUNAVAIL)
            entry_retry(m);
        else if (rc) /* an id that names no notification of ours: only the record */
            receipt_commit(w, m);
        return;
    }
    receipt_commit(w, m);
}

static void run_receipt(gw_worker *w, in_msg *m) {
    char key[GW_KEYS_MAX];
    if (!*m->pid) {
        receipt_commit(w, m);
        return;
    }
    gw_key(w->app->keys, key, sizeof key, GW_K_DLV, m->part, m->ch, m->pid);
    if (!w->app->store || gw_store_cmdf(w->app->store, on_dlv, m, "HGET %s notif", key))
        entry_retry(m);
}

/* 1 when an earlier entry of the same conversation is still in the queue: a
 * citizen's messages are answered in the order they came. */
static int waits_for_earlier(const gw_worker *w, const in_msg *m) {
    for (const in_msg *x = w->head; x && x != m; x = x->next)
        if (!strcmp(x->from, m->from) && !strcmp(x->ch, m->ch))
            return 1;
    return 0;
}

/* Starts what may run: up to MAX_ACTIVE at once, one per conversation. */
static void schedule(gw_worker *w) {
    if (w->closing || w->paused)
        return;
    int scanned = 0;
    for (in_msg *m = w->head; m && w->active < MAX_ACTIVE && scanned < MAX_SCAN; m = m->next) {
        if (m->started)
            continue;
        scanned++;
        if (waits_for_earlier(w, m))
            continue;
        m->started = 1;
        w->active++;
        if (!strcmp(m->kind, "delivery") || !strcmp(m->kind, "read") || !strcmp(m->kind, "status"))
            run_receipt(w, m);
        else
            run_turn(w, m);
    }
}

/* ---- the feed of the inbound stream ---- */

/* An entry is its stream and its id: each partition's stream makes its own ids, so two
 * partitions' entries of the same millisecond have the same id. */
static int feed_has(void *priv, const char *stream, const char *id) {
    const gw_worker *w = priv;
    for (const in_msg *m = w->head; m; m = m->next)
        if (!strcmp(m->id, id) && !strcmp(m->stream, stream))
            return 1;
    return 0;
}

static int feed_full(void *priv) {
    const gw_worker *w = priv;
    return w->closing || w->paused || w->queued >= MAX_INBOUND_QUEUE;
}

static void feed_taken(void *priv) {
    schedule(priv);
}

/* The partition of stream is no longer ours: what did not start stays pending for the
 * next holder (it takes it over, in order); what runs finishes, or is forgotten if it
 * fails. */
static void feed_drop(void *priv, const char *stream) {
    gw_worker *w = priv;
    in_msg **pp = &w->head, *prev = NULL;
    while (*pp) {
        in_msg *m = *pp;
        if (!strcmp(m->stream, stream))
            m->dropped = 1;
        if (m->started || strcmp(m->stream, stream)) {
            prev = m;
            pp = &m->next;
            continue;
        }
        *pp = m->next;
        if (w->tail == m)
            w->tail = prev;
        w->queued--;
        in_free(m);
    }
}

static int feed_busy(void *priv, const char *stream) {
    const gw_worker *w = priv;
    for (const in_msg *m = w->head; m; m = m->next)
        if (!strcmp(m->stream, stream))
            return 1;
    return 0;
}

static void feed_take(void *priv, const char *stream, const redisReply *e, int redelivered) {
    (void)redelivered;
    gw_worker *w = priv;
    const redisReply *f = e->element[1];
    in_msg *m = calloc(1, sizeof *m);
    if (!m)
        return; /* stays pending; read again after a restart or claim */
    m->w = w;
    copy_field(m->id, sizeof m->id, e->element[0]);
    snprintf(m->stream, sizeof m->stream, "%s", stream);
    for (unsigned p = 0; p < gw_keyspace_partitions(w->app->keys); p++)
        if (!strcmp(w->streams[p], stream))
            m->part = p;
    if (f->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i + 1 < f->elements; i += 2) {
            const redisReply *k = f->element[i], *v = f->element[i + 1];
            if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
                continue;
            if (!strcmp(k->str, "ch"))
                copy_field(m->ch, sizeof m->ch, v);
            else if (!strcmp(k->str, "kind"))
                copy_field(m->kind, sizeof m->kind, v);
            else if (!strcmp(k->str, "pid"))
                copy_field(m->pid, sizeof m->pid, v);
            else if (!strcmp(k->str, "from"))
                copy_field(m->from, sizeof m->from, v);
            else if (!strcmp(k->str, "status"))
                copy_field(m->status, sizeof m->status, v);
            else if (!strcmp(k->str, "at"))
                m->at = strtoll(v->str, NULL, 10);
            else if (!strcmp(k->str, "text") && !m->text)
                m->text = dup_field(v, &m->text_len);
            else if (!strcmp(k->str, "payload") && !m->payload)
                m->payload = dup_field(v, NULL);
        }
    }
    if (!*m->ch || !*m->kind) {
        /* deleted meanwhile, or not ours: acknowledge and forget */
        if (w->app->store)
            gw_reader_ack(w->app->store, stream, m->id);
        in_free(m);
        return;
    }
    if (!m->at)
        m->at = gw_now_ms();
    if (w->tail)
        w->tail->next = m;
    else
        w->head = m;
    w->tail = m;
    w->queued++;
}

/* ---- the module ---- */

static void on_timer(uv_timer_t *t) {
    schedule(t->data);
}

gw_worker *gw_worker_new(gw_app *app, gw_reader *reader, const gw_worker_opts *o) {
    gw_worker *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->app = app;
    w->reader = reader;
    w->o = *o;
    /* every partition's inbound stream */
    unsigned n = gw_keyspace_partitions(app->keys);
    w->streams = calloc(n, sizeof *w->streams);
    const char **streams = calloc(n, sizeof *streams);
    unsigned *parts = calloc(n, sizeof *parts);
    int rc = w->streams && streams && parts ? 0 : MC_ENOMEM;
    for (unsigned p = 0; !rc && p < n; p++) {
        gw_key(app->keys, w->streams[p], sizeof w->streams[p], GW_K_IN, p);
        streams[p] = w->streams[p];
        parts[p] = p;
    }
    /* leased: one process at a time reads a partition, so a citizen's order holds */
    gw_feed f = {streams,    n, feed_take, feed_has,  feed_full,
                 feed_taken, w, parts,     feed_drop, feed_busy};
    if (!rc)
        rc = gw_reader_add(reader, &f); /* copies the names and partitions */
    free(streams);
    free(parts);
    if (rc) {
        free(w->streams);
        free(w);
        return NULL;
    }
    uv_timer_init(app->loop, &w->timer);
    w->timer.data = w;
    uv_timer_start(&w->timer, on_timer, RETRY_MS, RETRY_MS);
    return w;
}

void gw_worker_pause(gw_worker *w) {
    if (w)
        w->paused = 1;
}

static void on_timer_closed(uv_handle_t *h) {
    gw_worker *w = h->data;
    free(w->streams);
    free(w);
}

void gw_worker_free(gw_worker *w) {
    if (!w)
        return;
    w->closing = 1;
    while (w->head) {
        in_msg *m = w->head;
        w->head = m->next;
        in_free(m);
    }
    uv_timer_stop(&w->timer);
    uv_close((uv_handle_t *)&w->timer, on_timer_closed);
}
