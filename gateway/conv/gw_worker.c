/*
 * gw_worker.c — reads the work streams and runs the conversation turn.
 *
 * Big idea: Redis streams are the queue and the journal. An entry is ACKed
 * and deleted only in the same MULTI that records its effects (conversation
 * state, the reply entry on mc:out:<channel>, subscriptions), so a process
 * killed at any point either did the turn completely or not at all, and the
 * entry is read again (own pending list on restart, XAUTOCLAIM by another
 * process). Up to MAX_ACTIVE turns run at once, but never two of the same
 * conversation: an entry waits while an earlier one of the same citizen is in
 * the queue, which keeps each citizen's messages in order. Outbound entries
 * are handed to the sender, which sends many at once, bounded per provider.
 */
#include "gateway/conv/gw_worker.h"

#include "core/mc.h"
#include "gateway/store/gw_keys.h"
#include "gateway/store/gw_store.h"
#include "gateway/app/gw_channels.h"
#include "gateway/app/gw_clock.h"
#include "gateway/app/gw_log.h"
#include "gateway/store/gw_store.h"
#include "intents/nlu.h"
#include "intents/nlu_dialog.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define READ_COUNT 64         /* entries per XREADGROUP */
#define READ_BLOCK_MS "2000"  /* how long one read waits for new entries */
#define MAX_INBOUND_QUEUE 256 /* inbound entries read but not done */
#define MAX_ACTIVE 32         /* turns of different conversations run at once */
#define MAX_SCAN 64           /* waiting entries looked at per scheduling pass */
#define MAX_OUT_BUSY 512      /* outbound entries in the sender */
#define RETRY_MS 500          /* wait after a Redis failure */
#define MAX_FIELD 16384       /* longest field value we take from an entry */

/* One inbound entry, copied out of the reply. */
typedef struct in_msg {
    struct in_msg *next;
    struct gw_worker *w; /* owner */
    int started;         /* its turn is running */
    char id[48];         /* stream entry id */
    char ch[16];         /* channel */
    char kind[16];       /* text, quick_reply, postback, unsupported, follow, ... */
    char pid[128];       /* provider message id */
    char from[128];      /* sender in the channel */
    char status[24];     /* receipt status */
    char *text;          /* owned, may be NULL */
    size_t text_len;
    char *payload; /* owned, may be NULL */
    int64_t at;    /* accepted at, ms */
    /* the turn */
    nlu_reply reply; /* composed answer */
    nlu_result res;  /* classification of the message alone */
    nlu_context ctx; /* conversation context, updated by the turn */
    char ticket[32]; /* report ticket, when the turn files one */
    char **unsub;    /* subscriptions to drop (NLU_ACT_UNSUBSCRIBE), owned */
    size_t n_unsub;
} in_msg;

struct gw_worker {
    gw_app *app;                           /* borrowed */
    gw_store *rd;                          /* the blocking reader connection, owned */
    gw_worker_opts o;                      /* options (consumer copied) */
    char consumer[128];                    /* our consumer name */
    int reading;                           /* an XREADGROUP/XAUTOCLAIM is in flight */
    int groups_ready;                      /* XGROUP CREATE done since the last connect */
    int pending_pass;                      /* 1 while re-reading our own pending entries */
    char pend_from[1 + GW_N_CHANNELS][48]; /* pending pass cursor per stream: entries
                                              after this id (never the same entry twice) */
    in_msg *head, *tail;                   /* inbound queue */
    size_t queued;                         /* entries in it */
    int active;                            /* turns running (at most MAX_ACTIVE) */
    size_t out_busy;                       /* outbound entries in the sender */
    uv_timer_t timer;                      /* retries and periodic claims */
    uint64_t last_claim;                   /* loop time of the last XAUTOCLAIM, ms */
    int closing;                           /* free in progress */
    int paused;                            /* gw_worker_pause: takes nothing new */
};

static void read_more(gw_worker *w);
static void schedule(gw_worker *w);

static void in_free(in_msg *m) {
    if (!m)
        return;
    for (size_t i = 0; i < m->n_unsub; i++)
        free(m->unsub[i]);
    free(m->unsub);
    free(m->text);
    free(m->payload);
    nlu_reply_free(&m->reply);
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

/* ---- acknowledging ---- */

/* Queues XACK + XDEL of an entry (inside the caller's MULTI or alone). */
static void add_ack(gw_store *st, const char *stream, const char *id) {
    gw_store_cmdf(st, NULL, NULL, "XACK %s " GW_GROUP " %s", stream, id);
    gw_store_cmdf(st, NULL, NULL, "XDEL %s %s", stream, id);
}

/* ---- the conversation turn ---- */

/* A turn failed half-way (Redis): nothing was committed; the timer starts it again. */
static void turn_retry(in_msg *m) {
    m->started = 0;
    m->w->active--;
}

static void turn_done(gw_worker *w, in_msg *m, int ok) {
    if (!ok) {
        turn_retry(m);
        return;
    }
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
    read_more(w);
}

static void on_committed(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    in_msg *m = priv;
    gw_worker *w = m->w;
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        gw_log(GW_ERROR, "worker.commit_failed", "{s:s, s:s}", "entry", m->id, "error",
               r && r->str ? r->str : "connection lost or transaction aborted");
        turn_retry(m); /* the timer tries again */
        return;
    }
    if (m->res.intent)
        gw_metrics_msg_in(w->app->metrics, m->ch, m->res.intent);
    gw_metrics_reply_latency(w->app->metrics, (double)(gw_now_ms() - m->at) / 1000.0);
    turn_done(w, m, 1);
}

/* The reply entry for the sender: fields to, text, quick, purpose, ref. */
static void add_reply_xadd(gw_argv *a, const in_msg *m) {
    gw_argv_adds(a, "XADD");
    gw_argv_addf(a, GW_OUT_PREFIX "%s", m->ch);
    gw_argv_adds(a, "*");
    gw_argv_adds(a, "to");
    gw_argv_adds(a, m->from);
    gw_argv_adds(a, "text");
    gw_argv_add(a, m->reply.text, m->reply.text_len);
    gw_argv_adds(a, "purpose");
    gw_argv_adds(a, "reply");
    gw_argv_adds(a, "ref");
    gw_argv_adds(a, m->pid);
    gw_argv_adds(a, "at");
    gw_argv_addf(a, "%" PRId64, m->at);
    if (m->reply.n_quick) {
        json_t *q = json_array();
        for (size_t i = 0; i < m->reply.n_quick; i++)
            json_array_append_new(q, json_pack("{s:s, s:s}", "title", m->reply.quick[i].title,
                                               "payload", m->reply.quick[i].payload));
        char *qs = json_dumps(q, JSON_COMPACT);
        json_decref(q);
        if (qs) {
            gw_argv_adds(a, "quick");
            gw_argv_addf(a, "%s", qs);
            free(qs);
        }
    }
}

/* The lasting effects of the reply's action, inside the turn's transaction.
 * Subscription keys: mc:sub:dossier:<code> and mc:sub:ward:<ward id> are sets of
 * "<channel>:<id>"; mc:subs:<channel>:<id> lists what a citizen follows. */
static void add_effects(gw_store *st, const in_msg *m) {
    const nlu_result *r = &m->reply.resolved;
    char who[160];
    snprintf(who, sizeof who, "%s:%s", m->ch, m->from);
    switch (m->reply.action) {
    case NLU_ACT_SUBSCRIBE:
        if (*r->dossier_code) {
            gw_store_cmdf(st, NULL, NULL, "SADD mc:sub:dossier:%s %s", r->dossier_code, who);
            gw_store_cmdf(st, NULL, NULL, "SADD mc:subs:%s dossier:%s", who, r->dossier_code);
        } else if (r->ward_id) {
            gw_store_cmdf(st, NULL, NULL, "SADD mc:sub:ward:%s %s", r->ward_id, who);
            gw_store_cmdf(st, NULL, NULL, "SADD mc:subs:%s ward:%s", who, r->ward_id);
        }
        break;
    case NLU_ACT_UNSUBSCRIBE:
        for (size_t i = 0; i < m->n_unsub; i++)
            gw_store_cmdf(st, NULL, NULL, "SREM mc:sub:%s %s", m->unsub[i], who);
        gw_store_cmdf(st, NULL, NULL, "DEL mc:subs:%s", who);
        break;
    case NLU_ACT_REPORT: {
        gw_argv a = {0};
        gw_argv_adds(&a, "XADD");
        gw_argv_adds(&a, "mc:reports");
        gw_argv_adds(&a, "*");
        gw_argv_adds(&a, "ticket");
        gw_argv_adds(&a, m->ticket);
        gw_argv_adds(&a, "ch");
        gw_argv_adds(&a, m->ch);
        gw_argv_adds(&a, "from");
        gw_argv_adds(&a, m->from);
        gw_argv_adds(&a, "category");
        gw_argv_adds(&a, r->issue_category ? r->issue_category : "khac");
        gw_argv_adds(&a, "text");
        gw_argv_add(&a, m->text ? m->text : "", m->text ? m->text_len : 0);
        gw_argv_send(st, &a, NULL, NULL);
        gw_argv_free(&a);
        break;
    }
    case NLU_ACT_HANDOFF:
        gw_store_cmdf(st, NULL, NULL, "XADD mc:handoff * ch %s from %s entry %s", m->ch, m->from,
                      m->id);
        break;
    default: break;
    }
}

/* Commits the turn: state, reply, ack — one transaction. */
static void commit_turn(gw_worker *w, in_msg *m) {
    gw_store *st = w->app->store;
    char conv[320];
    snprintf(conv, sizeof conv, "mc:conv:%s:%s", m->ch, m->from);
    int rc = gw_store_cmdf(st, NULL, NULL, "MULTI");
    if (!rc) {
        gw_argv a = {0};
        gw_argv_adds(&a, "HSET");
        gw_argv_adds(&a, conv);
        gw_argv_adds(&a, "last_in_ms");
        gw_argv_addf(&a, "%" PRId64, m->at);
        char cbuf[NLU_CONTEXT_MAX];
        if (m->ctx.updated_ms && nlu_context_encode(&m->ctx, cbuf, sizeof cbuf) > 0) {
            gw_argv_adds(&a, "ctx");
            gw_argv_adds(&a, cbuf);
        }
        if (!strcmp(m->kind, "follow") || !strcmp(m->kind, "unfollow")) {
            gw_argv_adds(&a, "followed");
            gw_argv_adds(&a, !strcmp(m->kind, "follow") ? "1" : "0");
        }
        gw_argv_send(st, &a, NULL, NULL);
        gw_argv_free(&a);
        gw_store_cmdf(st, NULL, NULL, "EXPIRE %s " GW_CONV_TTL_S, conv);
        add_effects(st, m);
        if (m->reply.text) {
            gw_argv x = {0};
            add_reply_xadd(&x, m);
            gw_argv_send(st, &x, NULL, NULL);
            gw_argv_free(&x);
        }
        add_ack(st, GW_INBOUND_STREAM, m->id);
        rc = gw_store_cmdf(st, on_committed, m, "EXEC");
    }
    if (rc)
        turn_retry(m); /* the timer tries again */
}

/* A provider receipt: record it against our message, then ack. */
static void on_receipt_done(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    in_msg *m = priv;
    if (!r || r->type == REDIS_REPLY_ERROR) {
        turn_retry(m); /* the timer tries again */
        return;
    }
    turn_done(m->w, m, 1);
}

static void do_receipt(gw_worker *w, in_msg *m) {
    gw_store *st = w->app->store;
    const char *status = !strcmp(m->kind, "read")       ? "read"
                         : !strcmp(m->kind, "delivery") ? "delivered"
                                                        : m->status;
    int rc = gw_store_cmdf(st, NULL, NULL, "MULTI");
    if (!rc && *m->pid) {
        char key[256];
        snprintf(key, sizeof key, "mc:dlv:%s:%s", m->ch, m->pid);
        gw_store_cmdf(st, NULL, NULL, "HSET %s status %s at %" PRId64, key,
                      *status ? status : "unknown", m->at);
        gw_store_cmdf(st, NULL, NULL, "EXPIRE %s 604800", key);
        if (w->o.out.receipt)
            w->o.out.receipt(st, m->ch, m->pid, *status ? status : "unknown", m->at);
    }
    if (!rc) {
        add_ack(st, GW_INBOUND_STREAM, m->id);
        rc = gw_store_cmdf(st, on_receipt_done, m, "EXEC");
    }
    if (rc)
        turn_retry(m); /* the timer tries again */
}

/* Replaces the reply with the template `name` filled with keys/values. */
static void rerender(gw_worker *w, in_msg *m, const char *name, const char *const *k,
                     const char *const *v, size_t n) {
    nlu_reply r;
    if (nlu_render(w->app->nlu, name, k, v, n, &r)) {
        gw_log(GW_WARN, "worker.template_failed", "{s:s}", "template", name);
        return; /* the default text stays */
    }
    r.action = m->reply.action;
    r.resolved = m->reply.resolved;
    nlu_reply_free(&m->reply);
    m->reply = r;
}

static void on_dossier(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    in_msg *m = priv;
    gw_worker *w = m->w;
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        turn_retry(m); /* the timer tries again */
        return;
    }
    const char *code = m->reply.resolved.dossier_code;
    if (r->elements == 0) {
        const char *k[] = {"code"}, *v[] = {code};
        rerender(w, m, "dossier_not_found", k, v, 1);
    } else {
        const char *status = "", *status_text = NULL, *updated = "", *agency = "";
        for (size_t i = 0; i + 1 < r->elements; i += 2) {
            const char *f = r->element[i]->str, *val = r->element[i + 1]->str;
            if (!f || !val)
                continue;
            if (!strcmp(f, "status"))
                status = val;
            else if (!strcmp(f, "status_text"))
                status_text = val;
            else if (!strcmp(f, "updated"))
                updated = val;
            else if (!strcmp(f, "agency"))
                agency = val;
        }
        const char *k[] = {"code", "status", "updated", "agency"};
        const char *v[] = {code, status_text ? status_text : status, updated, agency};
        rerender(w, m, "dossier_status", k, v, 4);
    }
    commit_turn(w, m);
}

static void on_ticket(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    in_msg *m = priv;
    gw_worker *w = m->w;
    if (!r || r->type != REDIS_REPLY_INTEGER) {
        turn_retry(m);
        return;
    }
    snprintf(m->ticket, sizeof m->ticket, "PA-%06lld", r->integer);
    const char *k[] = {"ticket"}, *v[] = {m->ticket};
    rerender(w, m, "report_received", k, v, 1);
    commit_turn(w, m);
}

static void on_subs(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    in_msg *m = priv;
    gw_worker *w = m->w;
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        turn_retry(m);
        return;
    }
    m->unsub = calloc(r->elements ? r->elements : 1, sizeof *m->unsub);
    for (size_t i = 0; m->unsub && i < r->elements; i++)
        if (r->element[i]->type == REDIS_REPLY_STRING)
            m->unsub[m->n_unsub++] = strndup(r->element[i]->str, r->element[i]->len);
    rerender(w, m, "unsubscribed", NULL, NULL, 0);
    commit_turn(w, m);
}

/* The gateway's part of the reply: look up, file, subscribe; then commit. */
static void act(gw_worker *w, in_msg *m) {
    gw_store *st = w->app->store;
    const nlu_result *r = &m->reply.resolved;
    char who[160];
    snprintf(who, sizeof who, "%s:%s", m->ch, m->from);
    int rc = 0;
    switch (m->reply.action) {
    case NLU_ACT_DOSSIER_STATUS:
        if (*r->dossier_code) {
            rc = gw_store_cmdf(st, on_dossier, m, "HGETALL mc:dossier:%s", r->dossier_code);
            break;
        }
        commit_turn(w, m);
        return;
    case NLU_ACT_REPORT: rc = gw_store_cmdf(st, on_ticket, m, "INCR mc:report:seq"); break;
    case NLU_ACT_UNSUBSCRIBE: rc = gw_store_cmdf(st, on_subs, m, "SMEMBERS mc:subs:%s", who); break;
    case NLU_ACT_SUBSCRIBE:
        if (*r->dossier_code) {
            const char *k[] = {"code"}, *v[] = {r->dossier_code};
            rerender(w, m, "subscribed", k, v, 1);
        } else if (r->ward_id) {
            const char *k[] = {"ward"}, *v[] = {r->ward_name ? r->ward_name : r->ward_id};
            rerender(w, m, "subscribed_ward", k, v, 1);
        }
        commit_turn(w, m);
        return;
    case NLU_ACT_HANDOFF:
        rerender(w, m, "handoff", NULL, NULL, 0);
        commit_turn(w, m);
        return;
    default: commit_turn(w, m); return;
    }
    if (rc)
        turn_retry(m); /* the timer tries again */
}

static void on_context(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    in_msg *m = priv;
    gw_worker *w = m->w;
    if (!r || r->type == REDIS_REPLY_ERROR) {
        turn_retry(m); /* the timer tries again */
        return;
    }
    memset(&m->ctx, 0, sizeof m->ctx);
    if (r->type == REDIS_REPLY_STRING && nlu_context_decode(r->str, r->len, &m->ctx))
        memset(&m->ctx, 0, sizeof m->ctx); /* garbage: start fresh */
    nlu_reply_free(&m->reply);
    memset(&m->res, 0, sizeof m->res);
    int rc;
    if (!strcmp(m->kind, "unsupported"))
        rc = nlu_render(w->app->nlu, "unsupported", NULL, NULL, 0, &m->reply);
    else {
        const char *text = m->payload && *m->payload ? m->payload : m->text;
        size_t len = m->payload && *m->payload ? strlen(m->payload) : m->text_len;
        rc = nlu_converse(w->app->nlu, &m->ctx, gw_now_ms(), text, len, &m->res, &m->reply);
    }
    if (rc) {
        gw_log(GW_WARN, "worker.nlu_failed", "{s:s, s:s, s:s}", "channel", m->ch, "entry", m->id,
               "error", mc_strerror(rc));
        memset(&m->reply, 0, sizeof m->reply);
        commit_turn(w, m); /* nothing to say, but the message is done */
        return;
    }
    act(w, m);
}

static void do_turn(gw_worker *w, in_msg *m) {
    int has_text = (m->text && m->text_len) || (m->payload && *m->payload);
    if (!strcmp(m->kind, "follow") || !strcmp(m->kind, "unfollow") ||
        (!has_text && strcmp(m->kind, "unsupported"))) {
        commit_turn(w, m); /* recorded, nothing to say */
        return;
    }
    if (gw_store_cmdf(w->app->store, on_context, m, "HGET mc:conv:%s:%s ctx", m->ch, m->from))
        turn_retry(m); /* the timer tries again */
}

/* 1 when an earlier entry of the same conversation is still in the queue: a
 * citizen's messages are answered in the order they came. */
static int waits_for_earlier(const gw_worker *w, const in_msg *m) {
    for (const in_msg *x = w->head; x && x != m; x = x->next)
        if (!strcmp(x->from, m->from) && !strcmp(x->ch, m->ch))
            return 1;
    return 0;
}

/* Starts the turns that may run: up to MAX_ACTIVE at once, one per conversation. */
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
            do_receipt(w, m);
        else
            do_turn(w, m);
    }
}

/* ---- reading ---- */

/* 1 when this process already holds the entry (a re-read after a reconnect, or
 * our own entry claimed back): it must not be processed twice. */
static int in_flight(const gw_worker *w, const char *stream, const char *id) {
    if (!strcmp(stream, GW_INBOUND_STREAM)) {
        for (const in_msg *m = w->head; m; m = m->next)
            if (!strcmp(m->id, id))
                return 1;
        return 0;
    }
    return w->o.out.has && w->o.out.has(w->o.out.priv, stream + strlen(GW_OUT_PREFIX), id);
}

static void take_inbound(gw_worker *w, const redisReply *e) {
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 2 ||
        e->element[0]->type != REDIS_REPLY_STRING)
        return;
    const redisReply *f = e->element[1];
    in_msg *m = calloc(1, sizeof *m);
    if (!m)
        return; /* stays pending; read again after a restart or claim */
    m->w = w;
    copy_field(m->id, sizeof m->id, e->element[0]);
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
        add_ack(w->app->store, GW_INBOUND_STREAM, m->id);
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

static void out_done_cb(void *arg) {
    gw_worker_out_done(arg);
}

/* redelivered: read before (pending pass or claim), so the sender looks up its wire mark. */
static void take_outbound(gw_worker *w, const char *stream, const redisReply *e, int redelivered) {
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 2 ||
        e->element[0]->type != REDIS_REPLY_STRING)
        return;
    const char *ch = stream + strlen(GW_OUT_PREFIX);
    if (e->element[1]->type != REDIS_REPLY_ARRAY) {
        add_ack(w->app->store, stream, e->element[0]->str);
        return;
    }
    w->out_busy++;
    if (!w->o.out.take || w->o.out.take(w->o.out.priv, ch, e->element[0]->str, e->element[1],
                                        redelivered, out_done_cb, w))
        w->out_busy--;
}

/* [[stream, [[id, fields]...]]...] */
static void take_streams(gw_worker *w, const redisReply *r) {
    if (r->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *s = r->element[i];
        if (s->type != REDIS_REPLY_ARRAY || s->elements < 2 ||
            s->element[0]->type != REDIS_REPLY_STRING)
            continue;
        const char *name = s->element[0]->str;
        const redisReply *list = s->element[1];
        if (list->type != REDIS_REPLY_ARRAY)
            continue;
        for (size_t j = 0; j < list->elements; j++) {
            const redisReply *e = list->element[j];
            if (e->type == REDIS_REPLY_ARRAY && e->elements >= 1 &&
                e->element[0]->type == REDIS_REPLY_STRING && in_flight(w, name, e->element[0]->str))
                continue;
            if (!strcmp(name, GW_INBOUND_STREAM))
                take_inbound(w, list->element[j]);
            else
                take_outbound(w, name, list->element[j], w->pending_pass);
        }
    }
}

static size_t count_entries(const redisReply *r) {
    size_t n = 0;
    if (r && r->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i < r->elements; i++)
            if (r->element[i]->type == REDIS_REPLY_ARRAY && r->element[i]->elements >= 2 &&
                r->element[i]->element[1]->type == REDIS_REPLY_ARRAY)
                n += r->element[i]->element[1]->elements;
    return n;
}

/* Stream index: 0 the inbound stream, 1.. the outbound ones; -1 unknown. */
static int stream_index(const char *name) {
    if (!strcmp(name, GW_INBOUND_STREAM))
        return 0;
    if (strncmp(name, GW_OUT_PREFIX, strlen(GW_OUT_PREFIX)))
        return -1;
    for (int i = 0; i < GW_N_CHANNELS; i++)
        if (!strcmp(name + strlen(GW_OUT_PREFIX), gw_channel_names[i]))
            return 1 + i;
    return -1;
}

/* Moves the pending-pass cursors past what this reply held. */
static void advance_cursors(gw_worker *w, const redisReply *r) {
    if (r->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *s = r->element[i];
        if (s->type != REDIS_REPLY_ARRAY || s->elements < 2 ||
            s->element[0]->type != REDIS_REPLY_STRING || s->element[1]->type != REDIS_REPLY_ARRAY ||
            s->element[1]->elements == 0)
            continue;
        int k = stream_index(s->element[0]->str);
        const redisReply *last = s->element[1]->element[s->element[1]->elements - 1];
        if (k >= 0 && last->type == REDIS_REPLY_ARRAY && last->elements >= 1 &&
            last->element[0]->type == REDIS_REPLY_STRING)
            snprintf(w->pend_from[k], sizeof w->pend_from[k], "%s", last->element[0]->str);
    }
}

static void on_read(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    gw_worker *w = priv;
    w->reading = 0;
    if (w->closing || w->paused)
        return; /* what was read stays pending: the next pass takes it */
    if (!r || r->type == REDIS_REPLY_ERROR) {
        if (r && r->str && strstr(r->str, "NOGROUP"))
            w->groups_ready = 0;
        return; /* the timer reads again */
    }
    size_t n = count_entries(r);
    take_streams(w, r);
    if (w->pending_pass) {
        advance_cursors(w, r);
        if (n == 0)
            w->pending_pass = 0; /* our own backlog is done: now new entries */
    }
    schedule(w);
    read_more(w);
}

/* One XAUTOCLAIM in flight: which stream it was for. */
typedef struct claim {
    gw_worker *w;
    char stream[64];
} claim;

static void on_claimed(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    claim *c = priv;
    gw_worker *w = c->w;
    /* XAUTOCLAIM answers [next, [[id, fields]...], [deleted ids]] */
    if (!w->closing && !w->paused && r && r->type == REDIS_REPLY_ARRAY && r->elements >= 2 &&
        r->element[1]->type == REDIS_REPLY_ARRAY) {
        const redisReply *list = r->element[1];
        size_t taken = 0;
        for (size_t j = 0; j < list->elements; j++) {
            const redisReply *e = list->element[j];
            if (e->type != REDIS_REPLY_ARRAY || e->elements < 2 ||
                e->element[0]->type != REDIS_REPLY_STRING ||
                in_flight(w, c->stream, e->element[0]->str))
                continue;
            if (!strcmp(c->stream, GW_INBOUND_STREAM))
                take_inbound(w, e);
            else
                take_outbound(w, c->stream, e, 1);
            taken++;
        }
        if (taken)
            gw_log(GW_INFO, "worker.claimed", "{s:s, s:I}", "stream", c->stream, "entries",
                   (json_int_t)taken);
        schedule(w);
    }
    free(c);
}

/* Takes over entries another consumer left idle (it died), and our own lost ones. */
static void claim_idle(gw_worker *w) {
    if (w->paused)
        return;
    for (size_t i = 0; i < 1 + GW_N_CHANNELS; i++) {
        if ((i == 0 && !w->o.converse) || (i > 0 && !w->o.send))
            continue;
        claim *c = calloc(1, sizeof *c);
        if (!c)
            return;
        c->w = w;
        if (i == 0)
            snprintf(c->stream, sizeof c->stream, "%s", GW_INBOUND_STREAM);
        else
            snprintf(c->stream, sizeof c->stream, GW_OUT_PREFIX "%s", gw_channel_names[i - 1]);
        if (gw_store_cmdf(w->app->store, on_claimed, c,
                          "XAUTOCLAIM %s " GW_GROUP " %s %ld 0-0 COUNT %d", c->stream, w->consumer,
                          w->o.claim_idle_ms, READ_COUNT))
            free(c);
    }
}

/* The streams to read, then one id each: ">" for new entries, or during the
 * pending pass the cursor after the last of our own entries already taken. */
static void add_streams(gw_worker *w, gw_argv *a) {
    int on[1 + GW_N_CHANNELS];
    for (int i = 0; i < 1 + GW_N_CHANNELS; i++)
        on[i] = i == 0 ? w->o.converse : w->o.send;
    for (int i = 0; i < 1 + GW_N_CHANNELS; i++)
        if (on[i]) {
            if (i == 0)
                gw_argv_adds(a, GW_INBOUND_STREAM);
            else
                gw_argv_addf(a, GW_OUT_PREFIX "%s", gw_channel_names[i - 1]);
        }
    for (int i = 0; i < 1 + GW_N_CHANNELS; i++)
        if (on[i])
            gw_argv_adds(a, w->pending_pass ? w->pend_from[i] : ">");
}

static void create_groups(gw_worker *w) {
    if (w->o.converse)
        gw_store_cmdf(w->rd, NULL, NULL,
                      "XGROUP CREATE " GW_INBOUND_STREAM " " GW_GROUP " 0 MKSTREAM");
    if (w->o.send)
        for (size_t i = 0; i < GW_N_CHANNELS; i++)
            gw_store_cmdf(w->rd, NULL, NULL,
                          "XGROUP CREATE " GW_OUT_PREFIX "%s " GW_GROUP " 0 MKSTREAM",
                          gw_channel_names[i]);
    w->groups_ready = 1;
}

static void read_more(gw_worker *w) {
    if (w->reading || w->closing || w->paused || !gw_store_up(w->rd) ||
        (!w->o.converse && !w->o.send))
        return;
    if (w->queued >= MAX_INBOUND_QUEUE || w->out_busy >= MAX_OUT_BUSY)
        return; /* back-pressure: read again when work finishes */
    if (!w->groups_ready)
        create_groups(w);
    gw_argv a = {0};
    gw_argv_adds(&a, "XREADGROUP");
    gw_argv_adds(&a, "GROUP");
    gw_argv_adds(&a, GW_GROUP);
    gw_argv_adds(&a, w->consumer);
    gw_argv_adds(&a, "COUNT");
    gw_argv_addf(&a, "%d", READ_COUNT);
    if (!w->pending_pass) {
        gw_argv_adds(&a, "BLOCK");
        gw_argv_adds(&a, READ_BLOCK_MS);
    }
    gw_argv_adds(&a, "STREAMS");
    add_streams(w, &a);
    /* The pending pass may bring back entries this process is acknowledging
     * right now. It goes on the main connection, behind the acknowledgements
     * queued there, so that its answer never holds an entry acknowledged (and
     * gone from the sender) meanwhile, which the in_flight check would miss and
     * send again; it never blocks. The reader's connection would race them. */
    if (!gw_argv_send(w->pending_pass ? w->app->store : w->rd, &a, on_read, w))
        w->reading = 1;
    gw_argv_free(&a);
}

void gw_worker_out_done(gw_worker *w) {
    if (w->out_busy)
        w->out_busy--;
    read_more(w);
}

static void on_timer(uv_timer_t *t) {
    gw_worker *w = t->data;
    schedule(w);
    read_more(w);
    uint64_t now = uv_now(w->app->loop);
    if (w->o.claim_idle_ms > 0 && now - w->last_claim >= (uint64_t)w->o.claim_idle_ms / 2 &&
        w->queued < MAX_INBOUND_QUEUE && w->out_busy < MAX_OUT_BUSY && gw_store_up(w->app->store)) {
        w->last_claim = now;
        claim_idle(w);
    }
}

static void on_reader_state(gw_store *s, int up, void *priv) {
    (void)s;
    gw_worker *w = priv;
    if (up) {
        w->groups_ready = 0;
        w->pending_pass = 1; /* after a reconnect, first our own unacknowledged entries */
        for (int i = 0; i < 1 + GW_N_CHANNELS; i++)
            snprintf(w->pend_from[i], sizeof w->pend_from[i], "0");
        read_more(w);
    } else {
        w->reading = 0;
    }
}

gw_worker *gw_worker_new(gw_app *app, const gw_worker_opts *o) {
    gw_worker *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->app = app;
    w->o = *o;
    snprintf(w->consumer, sizeof w->consumer, "%s", o->consumer);
    w->o.consumer = w->consumer;
    w->pending_pass = 1;
    for (int i = 0; i < 1 + GW_N_CHANNELS; i++)
        snprintf(w->pend_from[i], sizeof w->pend_from[i], "0");
    w->rd = gw_store_new(app->loop, &app->cfg->redis);
    if (!w->rd) {
        free(w);
        return NULL;
    }
    gw_store_on_state(w->rd, on_reader_state, w);
    uv_timer_init(app->loop, &w->timer);
    w->timer.data = w;
    uv_timer_start(&w->timer, on_timer, RETRY_MS, RETRY_MS);
    return w;
}

static void on_timer_closed(uv_handle_t *h) {
    free(h->data);
}

void gw_worker_pause(gw_worker *w) {
    if (w)
        w->paused = 1;
}

void gw_worker_free(gw_worker *w) {
    if (!w)
        return;
    w->closing = 1;
    gw_store_free(w->rd);
    while (w->head) {
        in_msg *m = w->head;
        w->head = m->next;
        in_free(m);
    }
    uv_timer_stop(&w->timer);
    uv_close((uv_handle_t *)&w->timer, on_timer_closed);
}
