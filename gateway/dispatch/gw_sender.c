/*
 * gw_sender.c — the sender: outbound entries of the out streams to the
 * providers, many at once, one recipient's messages in order.
 *
 * Big idea: the sender holds the list of jobs (one per stream entry taken,
 * gw_job.h) and the things they share — the HTTP client, the connection the
 * wire marks go on, the outbox, the provider token — and moves nothing
 * itself: each job goes through the state machine of gw_job.c. What it adds:
 *   - order: a job waits while an earlier job to the same recipient on the
 *     same channel is still here (a batch of replies, the parts of a notice);
 *   - a tick that keeps every job's entry claimed by this process (XCLAIM with
 *     idle 0, so no other dispatcher takes over what is being retried here),
 *     records the outcomes parked while Redis was away (gw_ack.c), and checks
 *     the provider token (gw_token.c);
 *   - the orderly stop: nothing new leaves, the requests already with a
 *     provider get their answer and their outcome is recorded, so that their
 *     wire marks do not count them as sent-unconfirmed after a restart.
 * A job the sender gives up on without an outcome stays pending in Redis for
 * the next pass.
 */
#include "gateway/dispatch/gw_sender.h"

#include "core/mc.h"
#include "gateway/app/gw_log.h"
#include "gateway/dispatch/gw_job.h"
#include "gateway/dispatch/gw_ack_lua.h"
#include "gateway/store/gw_keys.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DRAIN_CHECK_MS 10      /* how often a drain looks whether it is over */
#define TICK_MIN_MS 50         /* shortest tick */
#define TICK_FIRST_MS 1000     /* the first tick comes at the latest after this */
#define TOUCH_STREAMS_FIRST 16 /* room for this many streams' claims, doubled as needed */

unsigned gw_job_notif_part(const gw_job *j) {
    long p = gw_keyspace_part_of_id(j->s->app->keys, j->notif);
    return p < 0 ? j->partition : (unsigned)p;
}

/* ---- the list of jobs, and its two indexes ---- */

/* FNV-1a of a and b (with a separator): a bucket of the indexes. */
static unsigned bucket(const char *a, const char *b) {
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)a; *p; p++)
        h = (h ^ *p) * 16777619u;
    h = (h ^ 0xffu) * 16777619u;
    for (const unsigned char *p = (const unsigned char *)b; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h & (GW_SENDER_BUCKETS - 1);
}

/* Puts j, whose channel, recipient, stream and id are set, into both indexes. */
static void job_index(gw_sender *s, gw_job *j) {
    j->rslot = bucket(j->ch, j->to);
    j->rnext = s->by_rcpt[j->rslot];
    if (j->rnext)
        j->rnext->rprev = j;
    s->by_rcpt[j->rslot] = j;
    j->islot = bucket(j->stream, j->id);
    j->inext = s->by_entry[j->islot];
    if (j->inext)
        j->inext->iprev = j;
    s->by_entry[j->islot] = j;
    j->indexed = 1;
}

static void job_unindex(gw_sender *s, gw_job *j) {
    if (!j->indexed)
        return;
    if (j->rprev)
        j->rprev->rnext = j->rnext;
    else
        s->by_rcpt[j->rslot] = j->rnext;
    if (j->rnext)
        j->rnext->rprev = j->rprev;
    if (j->iprev)
        j->iprev->inext = j->inext;
    else
        s->by_entry[j->islot] = j->inext;
    if (j->inext)
        j->inext->iprev = j->iprev;
    j->indexed = 0;
}

static void on_timer_closed(uv_handle_t *h) {
    free(h);
}

void gw_job_free(gw_job *j) {
    gw_sender *s = j->s;
    job_unindex(s, j);
    if (j->prev)
        j->prev->next = j->next;
    else
        s->jobs = j->next;
    if (j->next)
        j->next->prev = j->prev;
    s->n_jobs--;
    if (j->timer) {
        uv_timer_stop(j->timer);
        uv_close((uv_handle_t *)j->timer, on_timer_closed);
    }
    for (size_t i = 0; i < j->n_parts; i++)
        ch_http_clear(&j->parts[i]);
    free(j->text);
    free(j->quick);
    free(j->data);
    free(j);
}

/* 1 when an earlier job to the same recipient on the same channel is still here:
 * a citizen's messages (a batch of replies, the parts of a notice) arrive in order.
 * Only j's bucket of the recipient index is looked at. */
static int held_by_earlier(const gw_sender *s, const gw_job *j) {
    for (const gw_job *x = s->by_rcpt[j->rslot]; x; x = x->rnext)
        if (x != j && x->seq < j->seq && !strcmp(x->to, j->to) && !strcmp(x->ch, j->ch))
            return 1;
    return 0;
}

void gw_job_finish(gw_job *j) {
    gw_sender_done_fn *done = j->done;
    void *arg = j->done_arg;
    gw_sender *s = j->s;
    char ch[sizeof j->ch], to[sizeof j->to];
    unsigned slot = j->rslot;
    int indexed = j->indexed;
    memcpy(ch, j->ch, sizeof ch);
    memcpy(to, j->to, sizeof to);
    gw_job_free(j);
    /* the next held job to this recipient, if any, may go now */
    gw_job *next = NULL;
    for (gw_job *x = indexed ? s->by_rcpt[slot] : NULL; x; x = x->rnext)
        if (x->held && !strcmp(x->to, to) && !strcmp(x->ch, ch) && (!next || x->seq < next->seq))
            next = x;
    if (next && !s->closing && !held_by_earlier(s, next)) {
        next->held = 0;
        gw_job_start(next);
    }
    if (done)
        done(arg);
}

void gw_job_go(gw_job *j) {
    if (held_by_earlier(j->s, j)) {
        j->held = 1; /* gw_job_finish of the earlier one starts it */
        return;
    }
    gw_job_start(j);
}

int gw_sender_take(gw_sender *s, const char *stream, unsigned part, const char *channel,
                   const char *id, const redisReply *fields, int redelivered,
                   gw_sender_done_fn *done, void *arg) {
    if (s->closing || gw_channel_index(channel) < 0 || strlen(stream) >= GW_KEYS_MAX)
        return MC_EINVAL;
    int valid = 0;
    gw_job *j = gw_job_new(s, channel, id, fields, &valid);
    if (!j)
        return MC_ENOMEM;
    snprintf(j->stream, sizeof j->stream, "%s", stream);
    job_index(s, j);
    j->partition = part;
    j->done = done;
    j->done_arg = arg;
    if (!valid) {
        gw_log(GW_WARN, "send.malformed_entry", "{s:s, s:s}", "channel", channel, "entry", id);
        gw_job_ack(j, "malformed entry");
        return 0;
    }
    /* Only an entry read before can have a mark; its lookup is pipelined with
     * the others of the same read. On failure the job goes, done untold, and
     * the entry stays pending for a later pass. */
    if (redelivered) {
        if (gw_mark_lookup(j)) {
            gw_job_free(j);
            return MC_EUNAVAIL;
        }
        return 0;
    }
    gw_job_go(j);
    return 0;
}

int gw_sender_has(const gw_sender *s, const char *stream, const char *id) {
    for (const gw_job *j = s->by_entry[bucket(stream, id)]; j; j = j->inext)
        if (!strcmp(j->id, id) && !strcmp(j->stream, stream))
            return 1;
    return 0;
}

size_t gw_sender_busy(const gw_sender *s) {
    return s->n_jobs;
}

/* ---- the tick ---- */

/* Jobs waiting for a retry stay ours: XCLAIM with idle 0 resets their idle time,
 * so no other process claims (and sends again) what this one is still retrying.
 * One XCLAIM per stream, all built side by side in one walk of the list. */
static void touch_jobs(gw_sender *s) {
    if (!*s->app->consumer || !s->jobs)
        return;
    gw_argv *claims = NULL;
    size_t n = 0, cap = 0;
    for (const gw_job *j = s->jobs; j; j = j->next) {
        size_t k = 0;
        while (k < n && strcmp(claims[k].v[1], j->stream))
            k++;
        if (k == n) {
            if (n == cap) {
                size_t c = cap ? 2 * cap : TOUCH_STREAMS_FIRST;
                gw_argv *v = realloc(claims, c * sizeof *v);
                if (!v)
                    break; /* what was gathered is claimed; the rest on the next tick */
                claims = v;
                cap = c;
            }
            claims[n] = (gw_argv){0};
            gw_argv_adds(&claims[n], "XCLAIM");
            gw_argv_adds(&claims[n], j->stream);
            gw_argv_adds(&claims[n], GW_GROUP);
            gw_argv_adds(&claims[n], s->app->consumer);
            gw_argv_adds(&claims[n], "0");
            if (claims[n].oom) {
                gw_argv_free(&claims[n]);
                break;
            }
            n++;
        }
        gw_argv_adds(&claims[k], j->id);
    }
    for (size_t k = 0; k < n; k++) {
        gw_argv_adds(&claims[k], "JUSTID");
        gw_argv_send(s->app->store, &claims[k], NULL, NULL);
        gw_argv_free(&claims[k]);
    }
    free(claims);
}

/* The refreshable token of a channel, or NULL. */
gw_token *gw_sender_token(const gw_sender *s, const char *channel) {
    const ch_adapter *ad = ch_adapter_find(channel);
    int i = gw_channel_index(ad && ad->token_of ? ad->token_of : channel);
    return i < 0 ? NULL : s->tokens[i];
}

static void on_tick(uv_timer_t *t) {
    gw_sender *s = t->data;
    if (!gw_store_up(s->app->store))
        return;
    touch_jobs(s);
    gw_sender_resume_parked(s);
    for (size_t i = 0; i < CH_MAX_ADAPTERS; i++)
        if (s->tokens[i])
            gw_token_tick(s->tokens[i]);
}

/* ---- open, store up, free ---- */

static void scripts_clear(gw_sender *s) {
    gw_script_clear(&s->sc_sent);
    gw_script_clear(&s->sc_fail);
    gw_script_clear(&s->sc_cancel);
}

int gw_sender_open(gw_app *app, gw_sender **out, char *err, size_t errlen) {
    int rc = MC_ENOMEM;
    gw_httpc_opts ho = {0};
    gw_sender *s = *out = calloc(1, sizeof *s);
    if (!s || !(s->wire = gw_wire_new(app->loop, &app->cfg->redis, app->store)))
        goto oom;
    s->app = app;
    if (!(s->http = gw_httpc_new(app->loop, &ho, err, errlen)))
        goto fail;
    for (size_t i = 0; i < gw_channel_count() && i < CH_MAX_ADAPTERS; i++) {
        const ch_adapter *ad = ch_adapter_at(i);
        if (ad->token_render && ad->token_parse &&
            !(s->tokens[i] = gw_token_new(app, ad, s->http, gw_job_token_fresh, s)))
            goto oom;
    }
    /* the settling scripts run inside the acknowledgement's MULTI: loaded once per connect */
    if (gw_script_load(&s->sc_sent, app->store, "notif_sent", app->keys, gw_lua_notif_sent) ||
        gw_script_load(&s->sc_fail, app->store, "notif_fail", app->keys, gw_lua_notif_fail) ||
        gw_script_load(&s->sc_cancel, app->store, "notif_cancel", app->keys, gw_lua_notif_cancel))
        goto oom;
    if (*app->cfg->outbox_dir &&
        (rc = gw_outbox_open(app->loop, app->cfg->outbox_dir, &s->outbox, err, errlen)) != 0)
        goto fail;
    uv_timer_init(app->loop, &s->tick);
    s->tick.data = s;
    /* a third of the claim time: our retrying jobs never look idle to others */
    uint64_t tick = (uint64_t)app->cfg->worker_claim_idle_ms / 3;
    if (tick > GW_TOKEN_CHECK_MS)
        tick = GW_TOKEN_CHECK_MS;
    if (tick < TICK_MIN_MS)
        tick = TICK_MIN_MS;
    uv_timer_start(&s->tick, on_tick, TICK_FIRST_MS < tick ? TICK_FIRST_MS : tick, tick);
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
fail:
    if (s) {
        for (size_t i = 0; i < CH_MAX_ADAPTERS; i++)
            gw_token_free(s->tokens[i]);
        scripts_clear(s);
        gw_httpc_free(s->http);
        gw_wire_free(s->wire);
    }
    free(s);
    *out = NULL;
    return rc;
}

void gw_sender_store_up(gw_sender *s) {
    if (s->store_ups++) /* the store came back: the marks' link follows it */
        gw_wire_reset(s->wire);
    for (size_t i = 0; i < CH_MAX_ADAPTERS; i++)
        if (s->tokens[i])
            gw_token_store_up(s->tokens[i]);
    gw_sender_resume_parked(s);
}

void gw_sender_release(gw_sender *s) {
    if (!s->closing || !s->tick_closed || s->writes)
        return;
    scripts_clear(s);
    free(s);
}

static void on_tick_closed(uv_handle_t *h) {
    gw_sender *s = h->data;
    s->tick_closed = 1;
    gw_sender_release(s);
}

/* ---- orderly stop ---- */

/* Over when no request of ours is with the provider and no outcome is on its way
 * to Redis (parked ones only count while Redis is up to take them). */
static int drain_over(const gw_sender *s) {
    int up = gw_store_up(s->app->store);
    for (const gw_job *j = s->jobs; j; j = j->next)
        if (j->in_http || j->acking || j->writing || (up && j->parked))
            return 0;
    return 1;
}

static void on_drain_timer(uv_timer_t *t) {
    gw_sender *s = t->data;
    if (!s->drained)
        return;
    int over = drain_over(s);
    if (!over && uv_now(s->app->loop) < s->drain_deadline)
        return;
    if (!over)
        gw_log(GW_WARN, "send.drain_timeout", "{s:I}", "jobs", (json_int_t)s->n_jobs);
    uv_timer_stop(t);
    gw_sender_done_fn *cb = s->drained;
    s->drained = NULL;
    cb(s->drained_arg);
}

void gw_sender_drain(gw_sender *s, uint64_t timeout_ms, gw_sender_done_fn *done, void *arg) {
    s->draining = 1;
    s->drained = done;
    s->drained_arg = arg;
    s->drain_deadline = uv_now(s->app->loop) + timeout_ms;
    /* retries and deferrals waiting for their timer stay pending in Redis */
    for (gw_job *j = s->jobs; j; j = j->next)
        if (j->timer)
            uv_timer_stop(j->timer);
    if (!s->drain_timer && (s->drain_timer = malloc(sizeof *s->drain_timer)) != NULL) {
        uv_timer_init(s->app->loop, s->drain_timer);
        s->drain_timer->data = s;
    }
    if (!s->drain_timer) {
        s->drained = NULL;
        done(arg);
        return;
    }
    uv_timer_start(s->drain_timer, on_drain_timer, 0, DRAIN_CHECK_MS);
}

void gw_sender_free(gw_sender *s) {
    if (!s)
        return;
    s->closing = 1;
    if (s->drain_timer) {
        uv_timer_stop(s->drain_timer);
        uv_close((uv_handle_t *)s->drain_timer, on_timer_closed);
        s->drain_timer = NULL;
    }
    for (size_t i = 0; i < CH_MAX_ADAPTERS; i++) {
        gw_token_free(s->tokens[i]); /* goes once its refresh in flight is cancelled below */
        s->tokens[i] = NULL;
    }
    gw_outbox_free(s->outbox); /* goes once its writes have called back */
    s->outbox = NULL;
    /* cancelled requests call back now, while their jobs still exist */
    gw_httpc_free(s->http);
    s->http = NULL;
    for (gw_job *j = s->jobs, *next; j; j = next) {
        next = j->next;
        j->done = NULL;
        if (!j->writing)
            gw_job_free(j);
    }
    gw_wire_free(s->wire);
    s->wire = NULL;
    uv_timer_stop(&s->tick);
    uv_close((uv_handle_t *)&s->tick, on_tick_closed);
}
