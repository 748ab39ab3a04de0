/*
 * gw_turn.c — one conversation turn (gw_turn.h), whatever the transport.
 *
 * Keys (store/gw_keys.h), all in the citizen's partition (of "<channel>:<user>") but
 * a dossier's, which live in the partition of its code:
 *   conv:<channel>:<user>   hash: last_in_ms ctx followed, kept conv_ttl_s
 *   dossier:<code>          read for a status question
 *   conv ... rp_draft       a report whose place is being asked (JSON: cat text place
 *                           phone asks ms), kept until it is filed
 *   conv ... rp_open        the ticket this conversation opened (JSON: ticket cat ward ms):
 *                           later words about the same issue are added to it
 *   report_seq:<yymmdd>     numbers a day's tickets (its own tag, used alone): n, and the
 *                           number each filing turn got, so a turn run again gets it again
 *   report:<ticket>         the ticket, report_log:<ticket> its history, in the partition of
 *                           the ticket id; dept_reports:<dept> each department's index, in
 *                           the department's: all written (idempotently) before the commit
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
#include "gateway/app/gw_channels.h"
#include "gateway/app/gw_clock.h"
#include "gateway/app/gw_log.h"
#include "gateway/app/gw_shared.h"
#include "gateway/app/gw_time.h"
#include "gateway/store/gw_keys.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIELD_MAX 128             /* bytes of a channel, user, kind or id copied in */
#define CLAIM_MAX (4 * FIELD_MAX) /* "<channel>:<user>:<entry or message id>" */
#define CAT_MAX 32                /* an issue category id, with its NUL */
#define WARD_MAX 16               /* a ward id, with its NUL */
#define NAMES_MAX 1024            /* department names joined, bytes */
/* Citizens' reports. A draft waits for its place as long as the dialogue's slot does;
 * words sent this long after the last ones about a ticket go into that ticket. */
#define REPORT_DRAFT_MS NLU_CONTEXT_TTL_MS
#define REPORT_FOLLOW_MS (2LL * 3600 * 1000)
#define REPORT_MAX_ASKS 2         /* times the place is asked before filing without a ward */
#define REPORT_TEXT_MAX 4000      /* bytes of a report's words kept (more are not added) */
#define REPORT_DEPTS_MAX 16       /* departments one report goes to */
#define REPORT_SEQ_TTL_S "259200" /* a day's numbering is kept 3 days */

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
    char ticket[GW_TURN_TICKET_MAX]; /* a report's ticket, when one is filed or added to */
    /* a report (NLU_ACT_REPORT): what is filed, added, or kept as a draft */
    char claim[CLAIM_MAX];               /* this turn, for the idempotent steps */
    char rp_cat[CAT_MAX];                /* its category */
    char rp_ward[WARD_MAX];              /* its ward, "" unknown */
    char rp_phone[NLU_PHONE_MAX];        /* a phone the citizen gave, or "" */
    char *rp_words;                      /* owned: the citizen's words */
    char *rp_place;                      /* owned: where, in the citizen's words */
    int rp_asks;                         /* times the place was asked */
    const char *depts[REPORT_DEPTS_MAX]; /* departments it goes to (borrowed, shared data) */
    size_t n_depts;                      /* entries */
    char *conv_open;                     /* owned: rp_open to write in the commit, or NULL */
    char *conv_draft;                    /* owned: rp_draft to write in the commit, or NULL */
    int drop_draft;                      /* 1: the commit deletes rp_draft */
    char **unsub;                        /* subscriptions to drop, owned */
    size_t n_unsub;                      /* entries */
    unsigned part;                       /* the citizen's partition ("<channel>:<user>") */
    int steps;                           /* steps in other partitions not answered yet */
    int step_failed;                     /* one of them failed: nothing is committed */
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
    free(t->rp_words);
    free(t->rp_place);
    free(t->conv_open);
    free(t->conv_draft);
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
        if (t->conv_open) {
            gw_argv_adds(&a, "rp_open");
            gw_argv_adds(&a, t->conv_open);
        }
        if (t->conv_draft) {
            gw_argv_adds(&a, "rp_draft");
            gw_argv_adds(&a, t->conv_draft);
        }
        gw_argv_send(st, &a, NULL, NULL);
        gw_argv_free(&a);
        if (t->drop_draft)
            gw_store_cmdf(st, NULL, NULL, "HDEL %s rp_draft", conv);
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
               gw_keyspace_part_of(ks, r->dossier_code, strlen(r->dossier_code)), r->dossier_code);
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

/* Appends the template `name` filled with keys/values as a line of its own to the reply
 * (nothing when it cannot be filled). */
static void add_line(gw_turn *t, const char *name, const char *const *k, const char *const *v,
                     size_t n) {
    nlu_reply r;
    if (nlu_render(t->app->nlu, name, k, v, n, &r)) {
        gw_log(GW_WARN, "worker.template_failed", "{s:s}", "template", name);
        return;
    }
    size_t len = t->reply.text_len + 1 + r.text_len;
    char *text = t->reply.text ? realloc(t->reply.text, len + 1) : NULL;
    if (text) {
        text[t->reply.text_len] = '\n';
        memcpy(text + t->reply.text_len + 1, r.text, r.text_len + 1);
        t->reply.text = text;
        t->reply.text_len = len;
    }
    nlu_reply_free(&r);
}

/* The line "Cập nhật lúc <time> ngày <date>." of a change at ms (none for 0). */
static void add_updated(gw_turn *t, int64_t ms) {
    if (ms <= 0 || !t->app->tz)
        return;
    char hm[GW_TIME_HM_MAX], dmy[GW_TIME_DMY_MAX];
    gw_tz_human(t->app->tz, ms, hm, dmy);
    const char *k[] = {"time", "date"}, *v[] = {hm, dmy};
    add_line(t, "status_updated", k, v, 2);
}

/* The officer's note of a status, when there is one: to the citizen it concerns, or a
 * line saying that it went to them (a lookup tells a stranger no more than the status). */
static void add_note(gw_turn *t, const char *note, int own) {
    if (!note || !*note)
        return;
    const char *k[] = {"note"}, *v[] = {note};
    if (own)
        add_line(t, "status_note", k, v, 1);
    else
        add_line(t, "status_note_private", NULL, NULL, 0);
}

/* The names of departments ids (csv) joined with ", "; ids without a name as they are. */
static void dept_names(const gw_turn *t, const char *ids, char *out, size_t n) {
    size_t used = 0;
    out[0] = '\0';
    for (const char *p = ids; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t l = comma ? (size_t)(comma - p) : strlen(p);
        char id[FIELD_MAX];
        snprintf(id, sizeof id, "%.*s", (int)(l < sizeof id ? l : sizeof id - 1), p);
        const char *name = t->app->data ? gw_shared_dept_name(t->app->data, id) : NULL;
        int w = snprintf(out + used, used < n ? n - used : 0, "%s%s", used ? ", " : "",
                         name ? name : id);
        if (w > 0)
            used += (size_t)w;
        p = comma ? comma + 1 : NULL;
    }
    if (used >= n && n) /* cut: whole names only would need more room than a reply has */
        out[n - 1] = '\0';
}

/* The value of field f in an array of field/value pairs, or NULL. */
static const char *pair_get(const redisReply *h, const char *f) {
    for (size_t i = 0; h && h->type == REDIS_REPLY_ARRAY && i + 1 < h->elements; i += 2)
        if (h->element[i]->type == REDIS_REPLY_STRING &&
            h->element[i + 1]->type == REDIS_REPLY_STRING && !strcmp(h->element[i]->str, f))
            return h->element[i + 1]->str;
    return NULL;
}

/* KEYS dossier, its history, its subscribers; ARGV the citizen ("<channel>:<user>"), the
 * channel of phone numbers. {hash pairs, last history event or false, 1 when the citizen
 * is the dossier's (its phone by SMS, or a subscriber)}. */
static const char dossier_lua[] = "local h=redis.call('HGETALL',KEYS[1])\n"
                                  "local last=redis.call('LINDEX',KEYS[2],-1) or false\n"
                                  "local own=redis.call('SISMEMBER',KEYS[3],ARGV[1])\n"
                                  "local ph=redis.call('HGET',KEYS[1],'phone')\n"
                                  "if ph and ph~='' and ARGV[2]..':'..ph==ARGV[1] then own=1 end\n"
                                  "return {h,last,own}\n";

static void on_dossier(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    gw_turn *t = step(r, priv, REDIS_REPLY_ARRAY);
    if (!t)
        return;
    const char *code = t->reply.resolved.dossier_code;
    const redisReply *h = r->elements == 3 ? r->element[0] : NULL;
    if (!h || h->type != REDIS_REPLY_ARRAY || h->elements == 0) {
        const char *k[] = {"code"}, *v[] = {code};
        rerender(t, "dossier_not_found", k, v, 1);
        commit(t);
        return;
    }
    const char *status = pair_get(h, "status"), *status_text = pair_get(h, "status_text");
    const char *k[] = {"code", "status"};
    const char *v[] = {code, status_text ? status_text : status ? status : ""};
    rerender(t, "dossier_status", k, v, 2);
    const char *proc = pair_get(h, "procedure");
    const char *pname =
        proc && t->app->data ? gw_shared_procedure_name_of(t->app->data, proc) : NULL;
    if (pname) {
        const char *pk[] = {"name"}, *pv[] = {pname};
        add_line(t, "status_procedure", pk, pv, 1);
    }
    const char *ums = pair_get(h, "updated_ms");
    add_updated(t, ums ? strtoll(ums, NULL, 10) : 0);
    const char *agency = pair_get(h, "agency");
    if (agency && *agency) {
        char names[NAMES_MAX];
        dept_names(t, agency, names, sizeof names);
        const char *ak[] = {"agency"}, *av[] = {names};
        add_line(t, "status_agency", ak, av, 1);
    }
    /* the note of the last event, when it set the status the dossier has */
    const redisReply *last = r->element[1];
    json_t *ev =
        last->type == REDIS_REPLY_STRING ? json_loadb(last->str, last->len, 0, NULL) : NULL;
    const char *evst = json_string_value(json_object_get(ev, "status"));
    if (evst && status && !strcmp(evst, status))
        add_note(t, json_string_value(json_object_get(ev, "note")),
                 r->element[2]->type == REDIS_REPLY_INTEGER && r->element[2]->integer == 1);
    json_decref(ev);
    commit(t);
}

/* ---- citizens' reports ---- */

/* KEYS[1] report_seq:<yymmdd> (its own tag); ARGV claim, ttl. The number of the day this
 * turn's ticket has: a new one the first time, the same one when the turn runs again. */
static const char seq_lua[] = "local n=redis.call('HGET',KEYS[1],ARGV[1])\n"
                              "if not n then\n"
                              "  n=redis.call('HINCRBY',KEYS[1],'n',1)\n"
                              "  redis.call('HSET',KEYS[1],ARGV[1],n)\n"
                              "  redis.call('EXPIRE',KEYS[1],ARGV[2])\n"
                              "end\n"
                              "return tonumber(n)\n";

/* KEYS report, report_log (the ticket's partition); ARGV id claim category ward place words
 * channel user phone status now depts. Writes the ticket once: 1 filed, 0 there already. */
static const char file_lua[] =
    "if redis.call('EXISTS',KEYS[1])==1 then return 0 end\n"
    "redis.call('HSET',KEYS[1],'id',ARGV[1],'claim',ARGV[2],'category',ARGV[3],'ward',ARGV[4],\n"
    "  'place',ARGV[5],'text',ARGV[6],'ch',ARGV[7],'user',ARGV[8],'phone',ARGV[9],\n"
    "  'status',ARGV[10],'created_ms',ARGV[11],'updated_ms',ARGV[11],'depts',ARGV[12])\n"
    "redis.call('RPUSH',KEYS[2],cjson.encode({kind='citizen',text=ARGV[6],at=tonumber(ARGV[11])}))"
    "\n"
    "redis.call('RPUSH',KEYS[2],cjson.encode({kind='status',status=ARGV[10],\n"
    "  at=tonumber(ARGV[11])}))\n"
    "return 1\n";

/* KEYS report, report_log; ARGV claim words now phone max_bytes final_statuses(csv). Adds
 * the citizen's words to an open ticket once: 1 added, 0 added already (the turn runs
 * again), -1 no such ticket, -2 closed. */
static const char add_lua[] =
    "local h=redis.call('HMGET',KEYS[1],'status','claim','last_claim','text','phone')\n"
    "if not h[1] then return -1 end\n"
    "for s in string.gmatch(ARGV[6],'[^,]+') do if s==h[1] then return -2 end end\n"
    "if h[2]==ARGV[1] or h[3]==ARGV[1] then return 0 end\n"
    "local t=h[4] or ''\n"
    "if #t+#ARGV[2]+1<=tonumber(ARGV[5]) then\n"
    "  redis.call('HSET',KEYS[1],'text',t..'\\n'..ARGV[2])\n"
    "end\n"
    "redis.call('HSET',KEYS[1],'last_claim',ARGV[1],'citizen_ms',ARGV[3])\n"
    "if ARGV[4]~='' and (not h[5] or h[5]=='') then redis.call('HSET',KEYS[1],'phone',ARGV[4]) "
    "end\n"
    "redis.call('RPUSH',KEYS[2],cjson.encode({kind='citizen',text=ARGV[2],at=tonumber(ARGV[3])}))\n"
    "return 1\n";

/* Sends one step (a command in another partition, before the commit): counted in
 * t->steps, answered in on_step. */
static void send_step(gw_turn *t, gw_argv *a) {
    if (!gw_argv_send(t->app->store, a, on_step, t))
        t->steps++;
    else
        t->step_failed = 1;
    gw_argv_free(a);
}

/* The ticket's keys (hash, history) in the partition of its id. */
static void ticket_keys(gw_argv *a, const gw_turn *t, const char *ticket) {
    unsigned p = gw_keyspace_part_of(t->app->keys, ticket, strlen(ticket));
    gw_argv_addkey(a, t->app->keys, GW_K_REPORT, p, ticket);
    gw_argv_addkey(a, t->app->keys, GW_K_REPORT_LOG, p, ticket);
}

/* "rp_open" of the commit: the ticket the conversation's next words go to. */
static void keep_open(gw_turn *t) {
    json_t *o = json_pack("{s:s, s:s, s:s, s:I}", "ticket", t->ticket, "cat", t->rp_cat, "ward",
                          t->rp_ward, "ms", (json_int_t)gw_now_ms());
    free(t->conv_open);
    t->conv_open = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    t->drop_draft = 1;
    t->ctx.pending[0] = '\0'; /* nothing is asked any more */
}

/* The reply of a filed ticket: its number, who handles it, the promise to tell. */
static void reply_filed(gw_turn *t) {
    const char *cat = t->app->data ? gw_shared_issue_name(t->app->data, t->rp_cat) : NULL;
    const char *k[] = {"ticket", "category"}, *v[] = {t->ticket, cat ? cat : t->rp_cat};
    rerender(t, "report_received", k, v, 2);
    if (t->n_depts) {
        char ids[NAMES_MAX] = "", names[NAMES_MAX];
        for (size_t i = 0; i < t->n_depts; i++)
            snprintf(ids + strlen(ids), sizeof ids - strlen(ids), "%s%s", i ? "," : "",
                     t->depts[i]);
        dept_names(t, ids, names, sizeof names);
        const char *ak[] = {"agency"}, *av[] = {names};
        add_line(t, "report_routed", ak, av, 1);
    }
    if (t->ops->can_notify)
        add_line(t, "report_will_notify", NULL, NULL, 0);
}

static void on_number(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    gw_turn *t = step(r, priv, REDIS_REPLY_INTEGER);
    if (!t)
        return;
    char day[11], dept_csv[NAMES_MAX] = "";
    gw_date_of_day(t->app->tz ? gw_tz_day(t->app->tz, t->in.at_ms) : t->in.at_ms / 86400000, day);
    /* PA-yymmdd-nnnn: the number has 4 digits, more past 9999 a day */
    snprintf(t->ticket, sizeof t->ticket, "PA-%.2s%.2s%.2s-%04lld", day + 2, day + 5, day + 8,
             r->integer);
    for (size_t i = 0; i < t->n_depts; i++)
        snprintf(dept_csv + strlen(dept_csv), sizeof dept_csv - strlen(dept_csv), "%s%s",
                 i ? "," : "", t->depts[i]);
    const char *first = t->app->data ? gw_shared_report_first_status(t->app->data) : "received";
    t->steps = 1; /* held until every step is sent */
    gw_argv a = {0};
    gw_argv_adds(&a, "EVAL");
    gw_argv_adds(&a, file_lua);
    gw_argv_adds(&a, "2");
    ticket_keys(&a, t, t->ticket);
    const char *args[] = {t->ticket,
                          t->claim,
                          t->rp_cat,
                          t->rp_ward,
                          t->rp_place ? t->rp_place : "",
                          t->rp_words ? t->rp_words : "",
                          t->channel,
                          t->user,
                          t->rp_phone};
    for (size_t i = 0; i < MC_ARRAY_LEN(args); i++)
        gw_argv_adds(&a, args[i]);
    gw_argv_adds(&a, first);
    gw_argv_addf(&a, "%" PRId64, t->in.at_ms);
    gw_argv_adds(&a, dept_csv);
    send_step(t, &a);
    /* each department's index: the ticket by when it was filed */
    for (size_t i = 0; i < t->n_depts; i++) {
        char who[FIELD_MAX + 8];
        snprintf(who, sizeof who, "dept:%s", t->depts[i]);
        gw_argv z = {0};
        gw_argv_adds(&z, "ZADD");
        gw_argv_addkey(&z, t->app->keys, GW_K_DEPT_REPORTS,
                       gw_keyspace_part_of(t->app->keys, who, strlen(who)), t->depts[i]);
        gw_argv_addf(&z, "%" PRId64, t->in.at_ms);
        gw_argv_adds(&z, t->ticket);
        send_step(t, &z);
    }
    gw_log(GW_INFO, "report.filed", "{s:s, s:s, s:s, s:s, s:I}", "ticket", t->ticket, "category",
           t->rp_cat, "ward", t->rp_ward, "channel", t->channel, "departments",
           (json_int_t)t->n_depts);
    keep_open(t);
    reply_filed(t);
    step_done(t, 1); /* the hold */
}

/* Files the report: its number first (its own tag), then the ticket and the indexes. */
static void file_report(gw_turn *t) {
    t->n_depts = t->app->data
                     ? gw_shared_report_depts(t->app->data, *t->rp_ward ? t->rp_ward : NULL,
                                              t->rp_cat, t->depts, REPORT_DEPTS_MAX)
                     : 0;
    char day[11], key[GW_KEYS_MAX];
    gw_date_of_day(t->app->tz ? gw_tz_day(t->app->tz, t->in.at_ms) : t->in.at_ms / 86400000, day);
    char yymmdd[7];
    snprintf(yymmdd, sizeof yymmdd, "%.2s%.2s%.2s", day + 2, day + 5, day + 8);
    gw_key(t->app->keys, key, sizeof key, GW_K_REPORT_SEQ, GW_KEY_OWN, yymmdd);
    gw_argv a = {0};
    gw_argv_adds(&a, "EVAL");
    gw_argv_adds(&a, seq_lua);
    gw_argv_adds(&a, "1");
    gw_argv_adds(&a, key);
    gw_argv_adds(&a, t->claim);
    gw_argv_adds(&a, REPORT_SEQ_TTL_S);
    int rc = gw_argv_send(t->app->store, &a, on_number, t);
    gw_argv_free(&a);
    if (rc)
        finish(t, 0);
}

static void on_added(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    gw_turn *t = step(r, priv, REDIS_REPLY_INTEGER);
    if (!t)
        return;
    if (r->integer < 0) { /* the ticket is gone or closed: these words are a new report */
        t->ticket[0] = '\0';
        free(t->conv_open);
        t->conv_open = NULL;
        if (*t->rp_ward) {
            file_report(t);
            return;
        }
        t->rp_asks = 0; /* a draft, asked as a new report is */
        json_t *d = json_pack("{s:s, s:s, s:s, s:s, s:i, s:I}", "cat", t->rp_cat, "text",
                              t->rp_words ? t->rp_words : "", "place", "", "phone", t->rp_phone,
                              "asks", 1, "ms", (json_int_t)gw_now_ms());
        t->conv_draft = d ? json_dumps(d, JSON_COMPACT) : NULL;
        json_decref(d);
        commit(t); /* the NLU's text asks where */
        return;
    }
    const char *k[] = {"ticket"}, *v[] = {t->ticket};
    rerender(t, "report_added", k, v, 1);
    keep_open(t);
    commit(t);
}

/* Adds the citizen's words to the ticket the conversation opened. */
static void add_to_ticket(gw_turn *t) {
    gw_argv a = {0};
    gw_argv_adds(&a, "EVAL");
    gw_argv_adds(&a, add_lua);
    gw_argv_adds(&a, "2");
    ticket_keys(&a, t, t->ticket);
    gw_argv_adds(&a, t->claim);
    gw_argv_adds(&a, t->rp_words ? t->rp_words : "");
    gw_argv_addf(&a, "%" PRId64, t->in.at_ms);
    gw_argv_adds(&a, t->rp_phone);
    gw_argv_addf(&a, "%d", REPORT_TEXT_MAX);
    char finals[256] = "";
    if (t->app->data)
        gw_shared_report_finals(t->app->data, finals, sizeof finals);
    gw_argv_adds(&a, finals);
    int rc = gw_argv_send(t->app->store, &a, on_added, t);
    gw_argv_free(&a);
    if (rc)
        finish(t, 0);
}

/* Joins b to *a (owned) with a line break; a copy when *a is NULL. Capped. */
static void join_words(char **a, const char *b) {
    size_t al = *a ? strlen(*a) : 0, bl = strlen(b);
    if (!bl || al + 1 + bl > REPORT_TEXT_MAX)
        return;
    char *n = realloc(*a, al + bl + 2);
    if (!n)
        return;
    if (al)
        n[al++] = '\n';
    memcpy(n + al, b, bl + 1);
    *a = n;
}

/* A draft or an open ticket of the conversation, from its JSON in conv; NULL when absent,
 * unreadable, or older than max_ms. */
static json_t *fresh_json(const redisReply *v, int64_t max_ms) {
    if (!v || v->type != REDIS_REPLY_STRING)
        return NULL;
    json_t *j = json_loadb(v->str, v->len, 0, NULL);
    json_int_t ms = json_integer_value(json_object_get(j, "ms"));
    if (!json_is_object(j) || gw_now_ms() - ms > max_ms || ms - gw_now_ms() > max_ms) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static const char *jstr(const json_t *o, const char *k) {
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/*
 * The conversation's report state came (rp_open, rp_draft): the words of this message go
 * into the draft waiting for its place, or into the ticket already opened about the same
 * issue, or start a report of their own. A report is filed once its ward is known (or
 * after REPORT_MAX_ASKS questions, without one).
 */
static void on_report_state(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    gw_turn *t = step(r, priv, REDIS_REPLY_ARRAY);
    if (!t)
        return;
    const nlu_result *res = &t->reply.resolved;
    const char *cat = res->issue_category ? res->issue_category : "khac";
    const char *text = t->text ? t->text : t->payload ? t->payload : "";
    int generic = !strcmp(cat, "khac");
    json_t *open = r->elements == 2 ? fresh_json(r->element[0], REPORT_FOLLOW_MS) : NULL;
    json_t *draft = r->elements == 2 ? fresh_json(r->element[1], REPORT_DRAFT_MS) : NULL;
    snprintf(t->rp_ward, sizeof t->rp_ward, "%s", res->ward_id ? res->ward_id : "");
    snprintf(t->rp_phone, sizeof t->rp_phone, "%s", res->phone);
    if (draft && (generic || !strcmp(cat, jstr(draft, "cat")))) {
        /* the answer to "where?" (or more words before it) */
        snprintf(t->rp_cat, sizeof t->rp_cat, "%s", jstr(draft, "cat"));
        if (!strcmp(t->rp_cat, "khac"))
            snprintf(t->rp_cat, sizeof t->rp_cat, "%s", cat);
        if (!*t->rp_phone)
            snprintf(t->rp_phone, sizeof t->rp_phone, "%s", jstr(draft, "phone"));
        join_words(&t->rp_words, jstr(draft, "text"));
        join_words(&t->rp_words, text);
        join_words(&t->rp_place, jstr(draft, "place"));
        join_words(&t->rp_place, text);
        t->rp_asks = (int)json_integer_value(json_object_get(draft, "asks"));
        if (*t->rp_ward || t->rp_asks >= REPORT_MAX_ASKS) {
            json_decref(draft);
            json_decref(open);
            file_report(t);
            return;
        }
        json_t *d =
            json_pack("{s:s, s:s, s:s, s:s, s:i, s:I}", "cat", t->rp_cat, "text",
                      t->rp_words ? t->rp_words : "", "place", t->rp_place ? t->rp_place : "",
                      "phone", t->rp_phone, "asks", t->rp_asks + 1, "ms", (json_int_t)gw_now_ms());
        t->conv_draft = d ? json_dumps(d, JSON_COMPACT) : NULL;
        json_decref(d);
        json_decref(draft);
        json_decref(open);
        rerender(t, "report_ask_ward", NULL, NULL, 0);
        commit(t); /* the slot "place" stays asked */
        return;
    }
    snprintf(t->rp_cat, sizeof t->rp_cat, "%s", cat);
    join_words(&t->rp_words, text);
    if (open && (generic || !strcmp(cat, jstr(open, "cat"))) &&
        (!*t->rp_ward || !strcmp(t->rp_ward, jstr(open, "ward")))) {
        snprintf(t->ticket, sizeof t->ticket, "%s", jstr(open, "ticket"));
        snprintf(t->rp_cat, sizeof t->rp_cat, "%s", jstr(open, "cat"));
        snprintf(t->rp_ward, sizeof t->rp_ward, "%s", jstr(open, "ward"));
        json_decref(draft);
        json_decref(open);
        if (*t->ticket) {
            add_to_ticket(t);
            return;
        }
        commit(t);
        return;
    }
    json_decref(draft);
    json_decref(open);
    if (*t->rp_ward) {
        join_words(&t->rp_place, text);
        file_report(t);
        return;
    }
    /* where? the NLU's reply asks; the words wait in the draft */
    json_t *d = json_pack("{s:s, s:s, s:s, s:s, s:i, s:I}", "cat", t->rp_cat, "text", text, "place",
                          "", "phone", t->rp_phone, "asks", 1, "ms", (json_int_t)gw_now_ms());
    t->conv_draft = d ? json_dumps(d, JSON_COMPACT) : NULL;
    json_decref(d);
    commit(t);
}

/* A question about a ticket: its status, the departments, the last note (the note only
 * to the citizen who filed it). */
static void on_report_status(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    gw_turn *t = step(r, priv, REDIS_REPLY_ARRAY);
    if (!t)
        return;
    const char *ticket = t->reply.resolved.report_ticket;
    const redisReply *e = r->elements >= 7 ? r->element[0] : NULL;
    if (!e || e->type != REDIS_REPLY_STRING) {
        const char *k[] = {"ticket"}, *v[] = {ticket};
        rerender(t, "report_not_found", k, v, 1);
        commit(t);
        return;
    }
#define F(i) (r->element[i]->type == REDIS_REPLY_STRING ? r->element[i]->str : "")
    const char *status = F(0), *cat = F(1), *depts = F(3), *note = F(4);
    char who[2 * FIELD_MAX + 2], owner[2 * FIELD_MAX + 2];
    who_of(t, who, sizeof who);
    snprintf(owner, sizeof owner, "%s:%s", F(5), F(6));
    int64_t updated = strtoll(F(2), NULL, 10);
#undef F
    const gw_shared *d = t->app->data;
    const char *st = d ? gw_shared_report_status_text(d, status) : NULL;
    const char *cn = d ? gw_shared_issue_name(d, cat) : NULL;
    const char *k[] = {"ticket", "status", "category"};
    const char *v[] = {ticket, st ? st : status, cn ? cn : cat};
    rerender(t, "report_status", k, v, 3);
    add_updated(t, updated);
    if (*depts) {
        char names[NAMES_MAX];
        dept_names(t, depts, names, sizeof names);
        const char *ak[] = {"agency"}, *av[] = {names};
        add_line(t, "status_agency", ak, av, 1);
    }
    add_note(t, note, !strcmp(who, owner));
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
        {
            unsigned p = gw_keyspace_part_of(ks, r->dossier_code, strlen(r->dossier_code));
            char who[2 * FIELD_MAX + 2];
            const char *by_phone = gw_channel_for_phone();
            who_of(t, who, sizeof who);
            gw_argv a = {0};
            gw_argv_adds(&a, "EVAL");
            gw_argv_adds(&a, dossier_lua);
            gw_argv_adds(&a, "3");
            gw_argv_addkey(&a, ks, GW_K_DOSSIER, p, r->dossier_code);
            gw_argv_addkey(&a, ks, GW_K_HISTORY, p, r->dossier_code);
            gw_argv_addkey(&a, ks, GW_K_SUB_DOSSIER, p, r->dossier_code);
            gw_argv_adds(&a, who);
            gw_argv_adds(&a, by_phone ? by_phone : "");
            rc = gw_argv_send(st, &a, on_dossier, t);
            gw_argv_free(&a);
        }
        goto sent;
    case NLU_ACT_REPORT_STATUS: {
        gw_argv a = {0};
        gw_argv_adds(&a, "HMGET");
        unsigned p = gw_keyspace_part_of(ks, r->report_ticket, strlen(r->report_ticket));
        gw_argv_addkey(&a, ks, GW_K_REPORT, p, r->report_ticket);
        static const char *const fields[] = {"status", "category", "updated_ms", "depts",
                                             "note",   "ch",       "user"};
        for (size_t i = 0; i < MC_ARRAY_LEN(fields); i++)
            gw_argv_adds(&a, fields[i]);
        rc = gw_argv_send(st, &a, on_report_status, t);
        gw_argv_free(&a);
        goto sent;
    }
    case NLU_ACT_REPORT:
        gw_key(ks, key, sizeof key, GW_K_CONV, t->part, t->channel, t->user);
        rc = gw_store_cmdf(st, on_report_state, t, "HMGET %s rp_open rp_draft", key);
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
    /* what this turn writes elsewhere is keyed by it, so a turn run again writes it once */
    snprintf(t->claim, sizeof t->claim, "%s:%s", who,
             *t->entry         ? t->entry
             : *t->provider_id ? t->provider_id
                               : "");
    if (!*t->entry && !*t->provider_id)
        snprintf(t->claim + strlen(t->claim), sizeof t->claim - strlen(t->claim), "%" PRId64,
                 t->in.at_ms);
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
