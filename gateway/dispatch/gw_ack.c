/*
 * gw_ack.c — a job's outcome into Redis.
 *
 * Big idea: the outcome and the acknowledgement are one transaction. One
 * MULTI holds what the outcome changes — for a notification (an entry with a
 * `notif` field, put there by gw_sched) a script of gw_ack_lua.c: sent, failed
 * on this channel (the next channel of its fallback list, idx+1, back on
 * mc:due now for gw_sched to route, or dead), cancelled with its broadcast;
 * for a reply that could not be sent, an entry of mc:dead with the reason —
 * then XACK and XDEL of the entry and the deletion of its wire mark. Until
 * the EXEC is answered the entry stays pending in Redis, so a crash hands it
 * to another pass, and its wire mark keeps that pass from sending it again.
 *
 * Parking: Redis went away before the outcome was recorded, or before we heard
 * that it was. This process knows what the provider said, so the job stays
 * here (its entry counts as in flight for the reader and stays ours through
 * the sender's tick) and the outcome is recorded once Redis answers again —
 * after an XPENDING that tells whether the EXEC ran before the link dropped —
 * instead of letting the entry be read again and the message sent twice.
 *
 * Receipts (delivered, read, failed) find their notification through the
 * delivery record mc:dlv:<channel>:<provider id> written when a part was sent
 * (gw_job.c), and move it on (gw_sender_add_receipt, called by the worker).
 */
#include "core/mc.h"
#include "gateway/app/gw_clock.h"
#include "gateway/app/gw_log.h"
#include "gateway/app/gw_metrics.h"
#include "gateway/dispatch/gw_ack_lua.h"
#include "gateway/dispatch/gw_job.h"
#include "gateway/store/gw_keys.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ACK_MAX_ERRORS 20 /* EXECs refused by Redis before a job gives up */
#define DLV_KEY_MAX 320   /* bytes of a delivery record's key */

static void job_park(gw_job *j) {
    if (!j->parked)
        gw_log(GW_DEBUG, "send.ack_parked", "{s:s, s:s}", "channel", j->ch, "entry", j->id);
    j->parked = 1;
}

/* [] when the entry is no longer pending: the EXEC ran before the link dropped. */
static void on_ack_check(gw_store *st, redisReply *r, void *priv) {
    (void)st;
    gw_job *j = priv;
    j->checking = 0;
    if (j->s->closing || !r)
        return; /* away again: the next tick asks again */
    if (r->type == REDIS_REPLY_ERROR) {
        if (r->str && strstr(r->str, "NOGROUP"))
            gw_job_finish(j); /* the stream is gone: Redis came back without our data */
        return;
    }
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 0) {
        gw_job_finish(j);
        return;
    }
    j->parked = 0;
    gw_job_ack(j, j->dead ? j->ack_reason : NULL);
}

void gw_sender_resume_parked(gw_sender *s) {
    if (s->closing || !gw_store_up(s->app->store))
        return;
    for (gw_job *j = s->jobs; j; j = j->next)
        if (j->parked && !j->checking &&
            !gw_store_cmdf(s->app->store, on_ack_check, j, "XPENDING %s " GW_GROUP " %s %s 1",
                           j->stream, j->id, j->id))
            j->checking = 1;
}

/* The notification's outcome for the metrics, from the EXEC's replies. */
static const char *notif_result(const gw_job *j, const redisReply *r) {
    if (j->cancelled)
        return "cancelled";
    if (!j->dead)
        return "sent";
    /* the first reply is gw_lua_notif_fail's: 1 re-routed to the next channel, 2 dead */
    const redisReply *e = r->elements ? r->element[0] : NULL;
    return e && e->type == REDIS_REPLY_INTEGER && e->integer == 1 ? "failed" : "dead";
}

static void on_acked(gw_store *st, redisReply *r, void *priv) {
    (void)st;
    gw_job *j = priv;
    j->acking = 0;
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        gw_log(GW_WARN, "send.ack_failed", "{s:s, s:s, s:s}", "channel", j->ch, "entry", j->id,
               "error", r && r->str ? r->str : "connection lost");
        /* lost link, or Redis refused (LOADING...): try again, a refusal not forever */
        if (!r || ++j->ack_errors < ACK_MAX_ERRORS) {
            job_park(j);
            return;
        }
    } else if (*j->notif)
        gw_metrics_notif(j->s->app->metrics, j->ch, notif_result(j, r));
    gw_job_finish(j);
}

/* EVAL <script> 0, the start of every script call here. */
static void eval_begin(gw_argv *a, const char *script) {
    gw_argv_adds(a, "EVAL");
    gw_argv_add(a, script, strlen(script));
    gw_argv_adds(a, "0");
}

void gw_sender_add_receipt(gw_store *st, const char *channel, const char *provider_id,
                           const char *status, int64_t at_ms) {
    char key[DLV_KEY_MAX];
    snprintf(key, sizeof key, "mc:dlv:%s:%s", channel, provider_id);
    gw_argv a = {0};
    eval_begin(&a, gw_lua_receipt);
    gw_argv_adds(&a, key);
    gw_argv_adds(&a, channel);
    gw_argv_adds(&a, status);
    gw_argv_addf(&a, "%" PRId64, at_ms);
    gw_argv_send(st, &a, NULL, NULL);
    gw_argv_free(&a);
}

void gw_job_note(const gw_job *j, const char *result, const char *error) {
    json_t *o = json_pack("{s:s, s:I, s:s, s:s}", "channel", j->ch, "at", (json_int_t)gw_now_ms(),
                          "result", result, "error", error);
    char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (line)
        gw_store_cmdf(j->s->app->store, NULL, NULL, "RPUSH " GW_NOTIF_PREFIX "%s:attempts %s",
                      j->notif, line);
    free(line);
}

/* The notification's side of gw_job_ack, inside its MULTI. */
static void notif_outcome(const gw_job *j, const char *dead_reason) {
    gw_argv a = {0};
    if (j->cancelled) {
        eval_begin(&a, gw_lua_notif_cancel);
        gw_argv_adds(&a, j->notif);
        gw_argv_adds(&a, j->ch);
        gw_argv_addf(&a, "%" PRId64, gw_now_ms());
    } else if (!dead_reason) {
        eval_begin(&a, gw_lua_notif_sent);
        gw_argv_adds(&a, j->notif);
        gw_argv_adds(&a, j->ch);
        gw_argv_adds(&a, *j->pid ? j->pid : j->id);
        gw_argv_addf(&a, "%" PRId64, gw_now_ms());
        if (j->unconfirmed)
            gw_argv_adds(&a, GW_UNCONFIRMED_NOTE);
    } else {
        eval_begin(&a, gw_lua_notif_fail);
        gw_argv_adds(&a, j->notif);
        gw_argv_adds(&a, j->ch);
        gw_argv_adds(&a, dead_reason);
        gw_argv_addf(&a, "%" PRId64, gw_now_ms());
        gw_argv_adds(&a, j->id);
        gw_argv_adds(&a, j->to);
        gw_argv_add(&a, j->text ? j->text : "", j->text ? j->text_len : 0);
        gw_argv_addf(&a, "%d", j->attempts);
    }
    gw_argv_send(j->s->app->store, &a, NULL, NULL);
    gw_argv_free(&a);
}

/* A reply that could not be sent: the dead-letter stream, inside the MULTI. */
static void reply_dead(const gw_job *j, const char *reason) {
    gw_argv a = {0};
    gw_argv_adds(&a, "XADD");
    gw_argv_adds(&a, GW_DEAD_STREAM);
    gw_argv_adds(&a, "*");
    gw_argv_adds(&a, "ch");
    gw_argv_adds(&a, j->ch);
    gw_argv_adds(&a, "entry");
    gw_argv_adds(&a, j->id);
    gw_argv_adds(&a, "to");
    gw_argv_adds(&a, j->to);
    gw_argv_adds(&a, "text");
    gw_argv_add(&a, j->text, j->text_len);
    gw_argv_adds(&a, "reason");
    gw_argv_adds(&a, reason);
    gw_argv_adds(&a, "attempts");
    gw_argv_addf(&a, "%d", j->attempts);
    gw_argv_adds(&a, "at");
    gw_argv_addf(&a, "%" PRId64, gw_now_ms());
    gw_argv_send(j->s->app->store, &a, NULL, NULL);
    gw_argv_free(&a);
}

void gw_job_ack(gw_job *j, const char *dead_reason) {
    gw_store *st = j->s->app->store;
    j->dead = dead_reason != NULL;
    if (dead_reason != j->ack_reason)
        snprintf(j->ack_reason, sizeof j->ack_reason, "%s", dead_reason ? dead_reason : "");
    if (gw_store_cmdf(st, NULL, NULL, "MULTI")) {
        job_park(j); /* Redis is away: recorded when it is back */
        return;
    }
    if (*j->notif)
        notif_outcome(j, dead_reason);
    else if (dead_reason)
        reply_dead(j, dead_reason);
    gw_store_cmdf(st, NULL, NULL, "XACK %s " GW_GROUP " %s", j->stream, j->id);
    gw_store_cmdf(st, NULL, NULL, "XDEL %s %s", j->stream, j->id);
    gw_mark_clear(st, j);
    if (gw_store_cmdf(st, on_acked, j, "EXEC"))
        gw_job_finish(j);
    else
        j->acking = 1;
}
