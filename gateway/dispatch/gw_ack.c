/*
 * gw_ack.c — a job's outcome into Redis.
 *
 * Big idea: the outcome and the acknowledgement are one atomic step. For a
 * notification (an entry with a `notif` field, put there by gw_sched) it is one script
 * of gw_ack_lua.c — sent, failed on this channel (the next channel of its fallback
 * list, idx+1, back on its partition's due set now for gw_sched to route, or dead),
 * cancelled with its broadcast — which also acknowledges and deletes the entry and its
 * wire mark (inside the script, so that a script Redis lost acknowledges nothing); for
 * a reply, one MULTI: the dead letter when it could not be sent, XACK, XDEL, the wire
 * mark. Until the step is answered the entry stays pending in Redis, so a crash hands
 * it to another pass, and its wire mark keeps that pass from sending it again.
 *
 * Parking: Redis went away before the outcome was recorded, or before we heard
 * that it was. This process knows what the provider said, so the job stays
 * here (its entry counts as in flight for the reader and stays ours through
 * the sender's tick) and the outcome is recorded once Redis answers again —
 * after an XPENDING that tells whether the EXEC ran before the link dropped —
 * instead of letting the entry be read again and the message sent twice.
 *
 * Everything in the step lives in the partition of the job's stream: the entry, its
 * wire mark, and the notification (put on that partition's stream by gw_sched).
 */
#include "core/mc.h"
#include "gateway/app/gw_clock.h"
#include "gateway/app/gw_log.h"
#include "gateway/app/gw_metrics.h"
#include "gateway/app/gw_time.h"
#include "gateway/dispatch/gw_job.h"
#include "gateway/store/gw_keys.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ACK_MAX_ERRORS 20 /* EXECs refused by Redis before a job gives up */

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

/* The notification's outcome for the metrics, from its script's answer. */
static const char *notif_result(const gw_job *j, const redisReply *r) {
    if (j->cancelled)
        return "cancelled";
    if (!j->dead)
        return "sent";
    /* gw_lua_notif_fail's answer: 1 re-routed to the next channel, 2 dead, 0 settled
     * already (an entry delivered twice: counted once, when it died) */
    if (r->type == REDIS_REPLY_INTEGER && r->integer == 0)
        return NULL;
    return r->type == REDIS_REPLY_INTEGER && r->integer == 1 ? "failed" : "dead";
}

static void on_acked(gw_store *st, redisReply *r, void *priv) {
    (void)st;
    gw_job *j = priv;
    j->acking = 0;
    /* a notification's script answers an integer; a reply's MULTI an array */
    if (!r || r->type != (*j->notif ? REDIS_REPLY_INTEGER : REDIS_REPLY_ARRAY)) {
        gw_log(GW_WARN, "send.ack_failed", "{s:s, s:s, s:s}", "channel", j->ch, "entry", j->id,
               "error", r && r->str ? r->str : "connection lost");
        /* lost link, or Redis refused (LOADING...): try again, a refusal not forever */
        if (!r || ++j->ack_errors < ACK_MAX_ERRORS) {
            job_park(j);
            return;
        }
    } else if (*j->notif && notif_result(j, r))
        gw_metrics_notif(j->s->app->metrics, j->ch, notif_result(j, r));
    gw_job_finish(j);
}

/* EVALSHA <script> 3 <the notification's hash> <the stream> <its wire marks>, the start
 * of every settling script's call. */
static void eval_begin(gw_argv *a, const gw_job *j, const gw_script *script) {
    gw_argv_evalsha(a, script);
    gw_argv_adds(a, "3");
    gw_argv_addkey(a, j->s->app->keys, GW_K_NOTIF, gw_job_notif_part(j), j->notif);
    gw_argv_adds(a, j->stream);
    gw_argv_addkey(a, j->s->app->keys, GW_K_WIRE, j->partition, j->ch);
}

void gw_job_note(const gw_job *j, const char *result, const char *error) {
    json_t *o = json_pack("{s:s, s:I, s:s, s:s}", "channel", j->ch, "at", (json_int_t)gw_now_ms(),
                          "result", result, "error", error);
    char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
    char k[GW_KEYS_MAX];
    json_decref(o);
    if (line &&
        gw_key(j->s->app->keys, k, sizeof k, GW_K_ATTEMPTS, gw_job_notif_part(j), j->notif) > 0)
        gw_store_cmdf(j->s->app->store, NULL, NULL, "RPUSH %s %s", k, line);
    free(line);
}

/* What the provider charges for what the job sent: the SMS segments of its parts, else one
 * unit per part on a channel with a price (a ZNS message), else none (free). */
static long job_units(const gw_job *j) {
    long seg = 0;
    for (size_t i = 0; i < j->n_parts; i++)
        seg += j->parts[i].segments;
    if (seg > 0)
        return seg;
    const ch_settings *st = gw_channel_conf(j->s->app->cfg, j->ch);
    return st && st->price_vnd > 0 ? (long)j->n_parts : 0;
}

/* The notification's side of gw_job_ack: its settling script, which acknowledges the
 * entry too. 0, or MC_EUNAVAIL / MC_ENOMEM. */
static int notif_outcome(gw_job *j, const char *dead_reason) {
    gw_sender *s = j->s;
    int64_t now = gw_now_ms();
    int64_t tz = gw_tz_offset_ms(s->app->tz, now);
    gw_argv a = {0};
    if (j->cancelled) {
        eval_begin(&a, j, &s->sc_cancel);
        gw_argv_adds(&a, j->notif);
        gw_argv_adds(&a, j->ch);
        gw_argv_addf(&a, "%" PRId64, now);
        gw_argv_addf(&a, "%" PRId64, tz);
    } else if (!dead_reason) {
        eval_begin(&a, j, &s->sc_sent);
        gw_argv_adds(&a, j->notif);
        gw_argv_adds(&a, j->ch);
        gw_argv_adds(&a, *j->pid ? j->pid : j->id);
        gw_argv_addf(&a, "%" PRId64, now);
        gw_argv_addf(&a, "%" PRId64, tz);
        gw_argv_adds(&a, j->unconfirmed ? GW_UNCONFIRMED_NOTE : "");
        gw_argv_addf(&a, "%ld", job_units(j)); /* an outbox write rendered nothing: 0 */
    } else {
        eval_begin(&a, j, &s->sc_fail);
        gw_argv_adds(&a, j->notif);
        gw_argv_adds(&a, j->ch);
        gw_argv_adds(&a, dead_reason);
        gw_argv_addf(&a, "%" PRId64, now);
        gw_argv_adds(&a, j->id);
        gw_argv_adds(&a, j->to);
        gw_argv_add(&a, j->text ? j->text : "", j->text ? j->text_len : 0);
        gw_argv_addf(&a, "%d", j->attempts);
        gw_argv_addf(&a, "%" PRId64, tz);
        gw_argv_adds(&a, j->later_ms > 0 ? "later" : j->skipped ? "skipped" : "failed");
        gw_argv_adds(&a, j->final ? "1" : "0");
        gw_argv_addf(&a, "%" PRId64, j->later_ms);
    }
    gw_argv_adds(&a, j->id); /* the entry, last: the scripts acknowledge it */
    int rc = gw_argv_send(s->app->store, &a, on_acked, j);
    gw_argv_free(&a);
    return rc;
}

/* A reply that could not be sent: the dead-letter stream, inside the MULTI. */
static void reply_dead(const gw_job *j, const char *reason) {
    gw_argv a = {0};
    gw_argv_adds(&a, "XADD");
    gw_argv_addkey(&a, j->s->app->keys, GW_K_DEAD, j->partition);
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
    if (*j->notif) {
        if (notif_outcome(j, dead_reason))
            job_park(j); /* Redis is away: recorded when it is back */
        else
            j->acking = 1;
        return;
    }
    if (gw_store_cmdf(st, NULL, NULL, "MULTI")) {
        job_park(j); /* Redis is away: recorded when it is back */
        return;
    }
    if (dead_reason)
        reply_dead(j, dead_reason);
    gw_store_cmdf(st, NULL, NULL, "XACK %s " GW_GROUP " %s", j->stream, j->id);
    gw_store_cmdf(st, NULL, NULL, "XDEL %s %s", j->stream, j->id);
    gw_mark_clear(st, j);
    if (gw_store_cmdf(st, on_acked, j, "EXEC"))
        gw_job_finish(j);
    else
        j->acking = 1;
}
