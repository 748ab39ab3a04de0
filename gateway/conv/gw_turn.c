/*
 * gw_turn.c — one conversation turn (gw_turn.h), whatever the transport.
 *
 * Redis shapes it reads and writes:
 *   hash   mc:conv:<channel>:<user>   last_in_ms ctx followed, kept conv_ttl_s
 *   hash   mc:dossier:<code>          read for a status question
 *   string mc:report:seq              numbers report tickets
 *   stream mc:reports                 one entry per report: ticket ch from category text
 *   stream mc:handoff                 one entry per hand-off: ch from entry
 *   sets   mc:sub:dossier:<code>, mc:sub:ward:<ward>   "<channel>:<user>" members
 *   set    mc:subs:<channel>:<user>   what the citizen follows ("dossier:<code>",
 *                                     "ward:<id>", "ward:<id>:tag:<tag>")
 *   stream mc:out:<channel>           the reply (to text purpose ref at [quick])
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
    gw_argv_addf(a, GW_OUT_PREFIX "%s", t->channel);
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

/* The lasting effects of the reply's action, inside the turn's transaction. */
static void add_effects(gw_store *st, const gw_turn *t) {
    const nlu_result *r = &t->reply.resolved;
    char who[2 * FIELD_MAX + 2];
    snprintf(who, sizeof who, "%s:%s", t->channel, t->user);
    switch (t->reply.action) {
    case NLU_ACT_SUBSCRIBE:
        if (!t->ops->can_notify)
            break;
        if (*r->dossier_code) {
            gw_store_cmdf(st, NULL, NULL, "SADD mc:sub:dossier:%s %s", r->dossier_code, who);
            gw_store_cmdf(st, NULL, NULL, "SADD mc:subs:%s dossier:%s", who, r->dossier_code);
        } else if (r->ward_id) {
            gw_store_cmdf(st, NULL, NULL, "SADD mc:sub:ward:%s %s", r->ward_id, who);
            gw_store_cmdf(st, NULL, NULL, "SADD mc:subs:%s ward:%s", who, r->ward_id);
        }
        break;
    case NLU_ACT_UNSUBSCRIBE:
        for (size_t i = 0; i < t->n_unsub; i++)
            gw_store_cmdf(st, NULL, NULL, "SREM mc:sub:%s %s", t->unsub[i], who);
        gw_store_cmdf(st, NULL, NULL, "DEL mc:subs:%s", who);
        break;
    case NLU_ACT_REPORT:
        if (*t->ticket) {
            gw_argv a = {0};
            gw_argv_adds(&a, "XADD");
            gw_argv_adds(&a, "mc:reports");
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
        gw_store_cmdf(st, NULL, NULL, "XADD mc:handoff * ch %s from %s entry %s", t->channel,
                      t->user, t->entry);
        break;
    default: break;
    }
}

/* Commits the turn: state, effects, reply, the transport's part — one transaction. */
static void commit(gw_turn *t) {
    gw_store *st = t->app->store;
    char conv[2 * FIELD_MAX + 16];
    snprintf(conv, sizeof conv, "mc:conv:%s:%s", t->channel, t->user);
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
    commit(t);
}

/* The gateway's part of the reply: look up, number, list; then commit. */
static void act(gw_turn *t) {
    gw_store *st = t->app->store;
    const nlu_result *r = &t->reply.resolved;
    int rc;
    switch (t->reply.action) {
    case NLU_ACT_DOSSIER_STATUS:
        if (!*r->dossier_code)
            break;
        rc = gw_store_cmdf(st, on_dossier, t, "HGETALL mc:dossier:%s", r->dossier_code);
        goto sent;
    case NLU_ACT_REPORT: rc = gw_store_cmdf(st, on_ticket, t, "INCR mc:report:seq"); goto sent;
    case NLU_ACT_UNSUBSCRIBE:
        rc = gw_store_cmdf(st, on_subs, t, "SMEMBERS mc:subs:%s:%s", t->channel, t->user);
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
    commit(t);
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
    *out = t;
    int has_text = (t->text && t->in.text_len) || (t->payload && *t->payload);
    if (!strcmp(t->kind, "follow") || !strcmp(t->kind, "unfollow") ||
        (!has_text && strcmp(t->kind, "unsupported"))) {
        commit(t); /* recorded, nothing to say */
        return 0;
    }
    if (!app->store ||
        gw_store_cmdf(app->store, on_context, t, "HGET mc:conv:%s:%s ctx", t->channel, t->user))
        finish(t, 0);
    return 0;
}
