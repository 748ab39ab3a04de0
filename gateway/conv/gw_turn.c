/*
 * gw_turn.c — one conversation turn (gw_turn.h), whatever the transport.
 *
 * Keys (store/gw_keys.h), all in the citizen's partition (of "<channel>:<user>") but
 * a dossier's, which live in the partition of its code:
 *   conv:<channel>:<user>   hash: last_in_ms ctx followed, kept conv_ttl_s
 *   dossier:<code>          read for a status question
 *   report_seq              numbers report tickets (its own tag, used alone)
 *   reports                 stream: one entry per report: ticket ch from category text
 *   handoff                 stream: one entry per hand-off: ch from entry
 *   sub_ward:<ward>         set of "<channel>:<user>": the ward's subscribers
 *   sub_dossier:<code>      the same for a dossier, in the dossier's partition: written
 *                           (and removed) before the commit, idempotently, so that a
 *                           crash in between is repaired when the turn runs again
 *   subs:<channel>:<user>   what the citizen follows ("dossier:<code>", "ward:<id>",
 *                           "ward:<id>:tag:<tag>")
 *   out:<channel>           stream: the reply (to text purpose ref at [quick])
 */
#include "gateway/conv/gw_turn.h"

#include "core/mc.h"
#include "gateway/app/gw_clock.h"
#include "gateway/app/gw_log.h"
#include "gateway/store/gw_keys.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIELD_MAX 128 /* bytes of a channel, user, kind or id copied in */

struct gw_turn {
    gw_app *app;             /* borrowed */
    const gw_turn_ops *ops;  /* borrowed */
    void *priv;              /* the transport's */
    gw_turn_in in;           /* the message; strings point into the fields below */
    char channel[FIELD_MAX]; /* copies */
    char user[FIELD_MAX];
    char kind[FIELD_MAX];
    char provider_id[FIELD_MAX];
    char entry[FIELD_MAX];
    char *text;                      /* owned, may be NULL */
    char *payload;                   /* owned, may be NULL */
    nlu_context ctx;                 /* the conversation's context, updated by the turn */
    nlu_result res;                  /* the message alone */
    nlu_reply reply;                 /* what is answered */
    char ticket[GW_TURN_TICKET_MAX]; /* a report's ticket, when one is filed */
    char **unsub;                    /* subscriptions to drop, owned */
    size_t n_unsub;                  /* entries */
    unsigned part;                   /* the citizen's partition ("<channel>:<user>") */
    int steps;                       /* steps in other partitions not answered yet */
    int step_failed;                 /* one of them failed: nothing is committed */
};

static void finish(gw_turn *t, int ok) {
    t->ops->done(t, ok, t->priv);
}

const nlu_reply *gw_turn_reply(const gw_turn *t) {
    return &t->reply;
}

const nlu_result *gw_turn_result(const gw_turn *t) {
    return &t->res;
}

const gw_turn_in *gw_turn_input(const gw_turn *t) {
    return &t->in;
}

void gw_turn_free(gw_turn *t) {
    if (!t)
        return;
    for (size_t i = 0; i < t->n_unsub; i++)
        free(t->unsub[i]);
    free(t->unsub);
    free(t->text);
    free(t->payload);
    nlu_reply_free(&t->reply);
    free(t);
}

/* ---- the commit ---- */

static void on_committed(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    gw_turn *t = priv;
    int ok = r && r->type == REDIS_REPLY_ARRAY;
    if (!ok)
        gw_log(GW_ERROR, "worker.commit_failed", "{s:s, s:s}", "entry", t->entry, "error",
               r && r->str ? r->str : "connection lost or transaction aborted");
    finish(t, ok);
}

/* The reply entry for the sender: fields to, text, purpose, ref, at, [quick]. */
static void add_reply_xadd(gw_argv *a, const gw_turn *t) {
    gw_argv_adds(a, "XADD");
    gw_argv_addkey(a, t->app->keys, GW_K_OUT, t->part, t->channel);
    gw_argv_adds(a, "*");
    gw_argv_adds(a, "to");
    gw_argv_adds(a, t->user);
    gw_argv_adds(a, "text");
    gw_argv_add(a, t->reply.text, t->reply.text_len);
    gw_argv_adds(a, "purpose");
    gw_argv_adds(a, "reply");
    gw_argv_adds(a, "ref");
    gw_argv_adds(a, t->provider_id);
    gw_argv_adds(a, "at");
    gw_argv_addf(a, "%" PRId64, t->in.at_ms);
    if (t->reply.n_quick) {
        json_t *q = json_array();
        for (size_t i = 0; i < t->reply.n_quick; i++)
            json_array_append_new(q, json_pack("{s:s, s:s}", "title", t->reply.quick[i].title,
                                               "payload", t->reply.quick[i].payload));
        char *qs = json_dumps(q, JSON_COMPACT);
        json_decref(q);
        if (qs) {
            gw_argv_adds(a, "quick");
            gw_argv_addf(a, "%s", qs);
            free(qs);
        }
    }
}

/* "<channel>:<user>" of the citizen, the member of subscription sets. */
static void who_of(const gw_turn *t, char *who, size_t n) {
    snprintf(who, n, "%s:%s", t->channel, t->user);
}

/* The subscription set a member of subs names ("dossier:<code>", "ward:<id>",
 * "ward:<id>:tag:<tag>") into key; its partition into *part (a dossier's may be
 * another than the citizen's). 0, or MC_EINVAL for a member of no known shape. */
static int sub_set(const gw_turn *t, const char *member, char *key, size_t n, unsigned *part) {
    const gw_keyspace *ks = t->app->keys;
    if (!strncmp(member, "dossier:", 8)) {
        const char *code = member + 8;
        *part = gw_keyspace_part_of(ks, code, strlen(code));
        return gw_key(ks, key, n, GW_K_SUB_DOSSIER, *part, code) < 0 ? MC_EINVAL : 0;
    }
    if (strncmp(member, "ward:", 5))
        return MC_EINVAL;
    char ward[FIELD_MAX];
    const char *w = member + 5, *tag = strstr(w, ":tag:");
    snprintf(ward, sizeof ward, "%.*s", (int)(tag ? (size_t)(tag - w) : strlen(w)), w);
    *part = t->part;
    if (tag)
        return gw_key(ks, key, n, GW_K_SUB_WARD_TAG, *part, ward, tag + 5) < 0 ? MC_EINVAL : 0;
    return gw_key(ks, key, n, GW_K_SUB_WARD, *part, ward) < 0 ? MC_EINVAL : 0;
}

/* The lasting effects of the reply's action in the citizen's partition, inside the
 * turn's transaction (what lands in a dossier's partition went before: steps). */
static void add_effects(gw_store *st, const gw_turn *t) {
    const gw_keyspace *ks = t->app->keys;
    const nlu_result *r = &t->reply.resolved;
    char who[2 * FIELD_MAX + 2], subs[GW_KEYS_MAX], key[GW_KEYS_MAX];
    who_of(t, who, sizeof who);
    gw_key(ks, subs, sizeof subs, GW_K_SUBS, t->part, t->channel, t->user);
    switch (t->reply.action) {
    case NLU_ACT_SUBSCRIBE:
        if (!t->ops->can_notify)
            break;
        if (*r->dossier_code) {
            gw_store_cmdf(st, NULL, NULL, "SADD %s dossier:%s", subs, r->dossier_code);
        } else if (r->ward_id) {
            gw_key(ks, key, sizeof key, GW_K_SUB_WARD, t->part, r->ward_id);
            gw_store_cmdf(st, NULL, NULL, "SADD %s %s", key, who);
            gw_store_cmdf(st, NULL, NULL, "SADD %s ward:%s", subs, r->ward_id);
        }
        break;
    case NLU_ACT_UNSUBSCRIBE:
        for (size_t i = 0; i < t->n_unsub; i++) {
            unsigned part;
            if (!sub_set(t, t->unsub[i], key, sizeof key, &part) && part == t->part)
                gw_store_cmdf(st, NULL, NULL, "SREM %s %s", key, who);
        }
        gw_store_cmdf(st, NULL, NULL, "DEL %s", subs);
        break;
    case NLU_ACT_REPORT:
        if (*t->ticket) {
            gw_argv a = {0};
            gw_argv_adds(&a, "XADD");
            gw_argv_addkey(&a, ks, GW_K_REPORTS, t->part);
            gw_argv_adds(&a, "*");
            gw_argv_adds(&a, "ticket");
            gw_argv_adds(&a, t->ticket);
            gw_argv_adds(&a, "ch");
            gw_argv_adds(&a, t->channel);
            gw_argv_adds(&a, "from");
            gw_argv_adds(&a, t->user);
            gw_argv_adds(&a, "category");
            gw_argv_adds(&a, r->issue_category ? r->issue_category : "khac");
            gw_argv_adds(&a, "text");
            gw_argv_add(&a, t->text ? t->text : "", t->text ? t->in.text_len : 0);
            gw_argv_send(st, &a, NULL, NULL);
            gw_argv_free(&a);
        }
        break;
    case NLU_ACT_HANDOFF:
        gw_key(ks, key, sizeof key, GW_K_HANDOFF, t->part);
        gw_store_cmdf(st, NULL, NULL, "XADD %s * ch %s from %s entry %s", key, t->channel, t->user,
                      t->entry);
        break;
    default: break;
    }
}

/* Commits the turn: state, effects, reply, the transport's part — one transaction. */
static void commit(gw_turn *t) {
    gw_store *st = t->app->store;
    char conv[GW_KEYS_MAX];
    gw_key(t->app->keys, conv, sizeof conv, GW_K_CONV, t->part, t->channel, t->user);
    int rc = st ? gw_store_cmdf(st, NULL, NULL, "MULTI") : MC_EUNAVAIL;
    if (!rc) {
        gw_argv a = {0};
        gw_argv_adds(&a, "HSET");
        gw_argv_adds(&a, conv);
        gw_argv_adds(&a, "last_in_ms");
        gw_argv_addf(&a, "%" PRId64, t->in.at_ms);
        char cbuf[NLU_CONTEXT_MAX];
        if (t->ctx.updated_ms && nlu_context_encode(&t->ctx, cbuf, sizeof cbuf) > 0) {
            gw_argv_adds(&a, "ctx");
            gw_argv_adds(&a, cbuf);
        }
        if (!strcmp(t->kind, "follow") || !strcmp(t->kind, "unfollow")) {
            gw_argv_adds(&a, "followed");
            gw_argv_adds(&a, !strcmp(t->kind, "follow") ? "1" : "0");
        }
        gw_argv_send(st, &a, NULL, NULL);
        gw_argv_free(&a);
        gw_store_cmdf(st, NULL, NULL, "EXPIRE %s %ld", conv, t->ops->conv_ttl_s);
        add_effects(st, t);
        if (t->reply.text && t->ops->reply_on_stream) {
            gw_argv x = {0};
            add_reply_xadd(&x, t);
            gw_argv_send(st, &x, NULL, NULL);
            gw_argv_free(&x);
        }
        if (t->ops->commit)
            t->ops->commit(st, t, t->priv);
        rc = gw_store_cmdf(st, on_committed, t, "EXEC");
    }
    if (rc)
        finish(t, 0);
}

/* ---- steps in another partition, before the commit ---- */

/* One step answered (or, for the hold of steps_then_commit, all sent). */
static void step_done(gw_turn *t, int ok) {
    if (!ok)
        t->step_failed = 1;
    if (--t->steps > 0)
        return;
    if (t->step_failed)
        finish(t, 0); /* nothing committed: the turn runs again, the steps too */
    else
        commit(t);
}

static void on_step(gw_store *st, redisReply *r, void *priv) {
    (void)st;
    step_done(priv, r && r->type != REDIS_REPLY_ERROR);
}

/* The effects that land in a dossier's partition (subscribing to a dossier, dropping
 * it), sent first and answered before the commit; then the commit. */
static void steps_then_commit(gw_turn *t) {
    const gw_keyspace *ks = t->app->keys;
    const nlu_result *r = &t->reply.resolved;
    char who[2 * FIELD_MAX + 2], key[GW_KEYS_MAX];
    who_of(t, who, sizeof who);
    t->steps = 1; /* held until every step is sent */
    if (t->reply.action == NLU_ACT_SUBSCRIBE && t->ops->can_notify && *r->dossier_code) {
        gw_key(ks, key, sizeof key, GW_K_SUB_DOSSIER,
               gw_keyspace_part_of(ks, r->dossier_code, strlen(r->dossier_code)),
               r->dossier_code);
        if (!gw_store_cmdf(t->app->store, on_step, t, "SADD %s %s", key, who))
            t->steps++;
        else
            t->step_failed = 1;
    }
    if (t->reply.action == NLU_ACT_UNSUBSCRIBE)
        for (size_t i = 0; i < t->n_unsub; i++) {
            unsigned part;
            if (sub_set(t, t->unsub[i], key, sizeof key, &part) || part == t->part)
                continue;
            if (!gw_store_cmdf(t->app->store, on_step, t, "SREM %s %s", key, who))
                t->steps++;
            else
                t->step_failed = 1;
        }
    step_done(t, 1); /* the hold */
}

/* ---- the reply's action ---- */

/* Replaces the reply with the template `name` filled with keys/values (the default
 * text stays when the template cannot be filled). */
static void rerender(gw_turn *t, const char *name, const char *const *k, const char *const *v,
                     size_t n) {
    nlu_reply r;
    if (nlu_render(t->app->nlu, name, k, v, n, &r)) {
        gw_log(GW_WARN, "worker.template_failed", "{s:s}", "template", name);
        return;
    }
    r.action = t->reply.action;
    r.resolved = t->reply.resolved;
    nlu_reply_free(&t->reply);
    t->reply = r;
}

/* The prologue of the action callbacks: a failed read ends the turn uncommitted. */
static gw_turn *step(redisReply *r, void *priv, int want_type) {
    gw_turn *t = priv;
    if (!r || r->type != want_type) {
        finish(t, 0);
        return NULL;
    }
    return t;
}

static void on_dossier(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    gw_turn *t = step(r, priv, REDIS_REPLY_ARRAY);
    if (!t)
        return;
    const char *code = t->reply.resolved.dossier_code;
    if (r->elements == 0) {
        const char *k[] = {"code"}, *v[] = {code};
        rerender(t, "dossier_not_found", k, v, 1);
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
        rerender(t, "dossier_status", k, v, 4);
    }
    commit(t);
}

static void on_ticket(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    gw_turn *t = step(r, priv, REDIS_REPLY_INTEGER);
    if (!t)
        return;
    snprintf(t->ticket, sizeof t->ticket, "PA-%06lld", r->integer);
    const char *k[] = {"ticket"}, *v[] = {t->ticket};
    rerender(t, "report_received", k, v, 1);
    commit(t);
}

static void on_subs(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    gw_turn *t = step(r, priv, REDIS_REPLY_ARRAY);
    if (!t)
        return;
    t->unsub = calloc(r->elements ? r->elements : 1, sizeof *t->unsub);
    for (size_t i = 0; t->unsub && i < r->elements; i++)
        if (r->element[i]->type == REDIS_REPLY_STRING)
            t->unsub[t->n_unsub++] = strndup(r->element[i]->str, r->element[i]->len);
    rerender(t, "unsubscribed", NULL, NULL, 0);
    steps_then_commit(t);
}

/* The gateway's part of the reply: look up, number, list; then commit. */
static void act(gw_turn *t) {
    gw_store *st = t->app->store;
    const gw_keyspace *ks = t->app->keys;
    const nlu_result *r = &t->reply.resolved;
    char key[GW_KEYS_MAX];
    int rc;
    switch (t->reply.action) {
    case NLU_ACT_DOSSIER_STATUS:
        if (!*r->dossier_code)
            break;
        gw_key(ks, key, sizeof key, GW_K_DOSSIER,
               gw_keyspace_part_of(ks, r->dossier_code, strlen(r->dossier_code)),
               r->dossier_code);
        rc = gw_store_cmdf(st, on_dossier, t, "HGETALL %s", key);
        goto sent;
    case NLU_ACT_REPORT:
        gw_key(ks, key, sizeof key, GW_K_REPORT_SEQ, GW_KEY_OWN);
        rc = gw_store_cmdf(st, on_ticket, t, "INCR %s", key);
        goto sent;
    case NLU_ACT_UNSUBSCRIBE:
        gw_key(ks, key, sizeof key, GW_K_SUBS, t->part, t->channel, t->user);
        rc = gw_store_cmdf(st, on_subs, t, "SMEMBERS %s", key);
        goto sent;
    case NLU_ACT_SUBSCRIBE:
        if (!t->ops->can_notify) {
            rerender(t, "subscribe_elsewhere", NULL, NULL, 0);
        } else if (*r->dossier_code) {
            const char *k[] = {"code"}, *v[] = {r->dossier_code};
            rerender(t, "subscribed", k, v, 1);
        } else if (r->ward_id) {
            const char *k[] = {"ward"}, *v[] = {r->ward_name ? r->ward_name : r->ward_id};
            rerender(t, "subscribed_ward", k, v, 1);
        }
        break;
    case NLU_ACT_HANDOFF: rerender(t, "handoff", NULL, NULL, 0); break;
    default: break;
    }
    steps_then_commit(t);
    return;
sent:
    if (rc)
        finish(t, 0);
}

static void on_context(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    gw_turn *t = priv;
    if (!r || r->type == REDIS_REPLY_ERROR) {
        finish(t, 0);
        return;
    }
    memset(&t->ctx, 0, sizeof t->ctx);
    if (r->type == REDIS_REPLY_STRING && nlu_context_decode(r->str, r->len, &t->ctx))
        memset(&t->ctx, 0, sizeof t->ctx); /* garbage: start fresh */
    nlu_reply_free(&t->reply);
    memset(&t->res, 0, sizeof t->res);
    int rc;
    if (!strcmp(t->kind, "unsupported"))
        rc = nlu_render(t->app->nlu, "unsupported", NULL, NULL, 0, &t->reply);
    else {
        const char *text = t->payload && *t->payload ? t->payload : t->text;
        size_t len = t->payload && *t->payload ? strlen(t->payload) : t->in.text_len;
        rc = nlu_converse(t->app->nlu, &t->ctx, gw_now_ms(), text, len, &t->res, &t->reply);
    }
    if (rc) {
        gw_log(GW_WARN, "worker.nlu_failed", "{s:s, s:s, s:s}", "channel", t->channel, "entry",
               t->entry, "error", mc_strerror(rc));
        memset(&t->reply, 0, sizeof t->reply);
        commit(t); /* nothing to say, but the message is done */
        return;
    }
    act(t);
}

int gw_turn_start(gw_app *app, const gw_turn_in *in, const gw_turn_ops *ops, void *priv,
                  gw_turn **out) {
    gw_turn *t = calloc(1, sizeof *t);
    *out = NULL;
    if (!t)
        return MC_ENOMEM;
    t->app = app;
    t->ops = ops;
    t->priv = priv;
    snprintf(t->channel, sizeof t->channel, "%s", in->channel);
    snprintf(t->user, sizeof t->user, "%s", in->user);
    snprintf(t->kind, sizeof t->kind, "%s", in->kind);
    snprintf(t->provider_id, sizeof t->provider_id, "%s", in->provider_id ? in->provider_id : "");
    snprintf(t->entry, sizeof t->entry, "%s", in->entry ? in->entry : "");
    if ((in->text && !(t->text = strndup(in->text, in->text_len))) ||
        (in->payload && !(t->payload = strdup(in->payload)))) {
        gw_turn_free(t);
        return MC_ENOMEM;
    }
    t->in = *in;
    t->in.channel = t->channel;
    t->in.user = t->user;
    t->in.kind = t->kind;
    t->in.provider_id = t->provider_id;
    t->in.entry = t->entry;
    t->in.text = t->text;
    t->in.payload = t->payload;
    char who[2 * FIELD_MAX + 2];
    who_of(t, who, sizeof who);
    t->part = gw_keyspace_part_of(app->keys, who, strlen(who));
    *out = t;
    int has_text = (t->text && t->in.text_len) || (t->payload && *t->payload);
    if (!strcmp(t->kind, "follow") || !strcmp(t->kind, "unfollow") ||
        (!has_text && strcmp(t->kind, "unsupported"))) {
        commit(t); /* recorded, nothing to say */
        return 0;
    }
    char conv[GW_KEYS_MAX];
    gw_key(app->keys, conv, sizeof conv, GW_K_CONV, t->part, t->channel, t->user);
    if (!app->store || gw_store_cmdf(app->store, on_context, t, "HGET %s ctx", conv))
        finish(t, 0);
    return 0;
}
