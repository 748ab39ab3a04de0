/*
 * gw_job.c — the state machine of one outbound message (README.md draws it).
 *
 * Big idea: a job is one stream entry. It is rendered by the channel adapter
 * into one or more HTTP requests (Facebook splits long texts), sent in order
 * through gw_httpc, each behind its wire mark (gw_marks.c), and judged by the
 * adapter's classify: sent → the provider id is recorded (its dlv record, which
 * receipts update) and the next part goes, or the entry is acknowledged (gw_ack.c);
 * retry → the same part again after Retry-After or an exponential backoff with
 * jitter, up to [scheduler] max_attempts; permanent → acknowledged with the reason
 * (dead-letter, or the notification's next channel); a token error → once, after
 * the token is refreshed (gw_token.c).
 * An attempt the wire mark could not cover is deferred, not counted. Until
 * acknowledged the entry stays pending in Redis, so a crash hands it to
 * another pass (our own pending list after a restart, or XAUTOCLAIM by
 * another dispatcher), which looks its mark up first.
 */
#include "core/mc.h"
#include "gateway/app/gw_clock.h"
#include "gateway/app/gw_log.h"
#include "gateway/app/gw_metrics.h"
#include "gateway/app/gw_time.h"
#include "gateway/dispatch/gw_job.h"
#include "gateway/store/gw_keys.h"
#include "vi-nlp/vn_norm.h"

#include <inttypes.h>
#include <jansson.h>
#include <openssl/rand.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DLV_TTL_S 604800     /* delivery records kept 7 days */
#define WHO_MAX 320          /* bytes of "<channel>:<recipient>" */
#define DEFER_MIN_MS 50      /* first wait after the mark could not be written */
#define DEFER_MAX_MS 1000    /* longest such wait */
#define RENDER_ERR_MAX 256   /* bytes of a render error */
#define PER_DAY_TTL_S 172800 /* a number's count of one day outlives the day (its key names it) */
#define DAY_MS 86400000LL

/* ---- take ---- */

/* The fields of an outbound entry copied as they are (cut to fit); text and
 * quick are taken apart. A field given twice: the last one counts. */
#define ENTRY_FIELD(name, member)                                                                  \
    { name, offsetof(gw_job, member), sizeof(((gw_job *)0)->member) }
static const struct entry_field {
    const char *name; /* field of the stream entry */
    size_t off, size; /* where it goes in the job, and the room there */
} entry_fields[] = {
    ENTRY_FIELD("to", to),         ENTRY_FIELD("ref", ref),     ENTRY_FIELD("purpose", purpose),
    ENTRY_FIELD("tag", tag),       ENTRY_FIELD("notif", notif), ENTRY_FIELD("bc", bc),
    ENTRY_FIELD("urgent", urgent),
};
#undef ENTRY_FIELD

/* Copies one field's value into the job; 1 when name is one of entry_fields. */
static int copy_field(gw_job *j, const char *name, const redisReply *v) {
    for (size_t i = 0; i < MC_ARRAY_LEN(entry_fields); i++) {
        const struct entry_field *f = &entry_fields[i];
        if (strcmp(name, f->name))
            continue;
        char *dst = (char *)j + f->off;
        size_t l = v->len < f->size - 1 ? v->len : f->size - 1;
        memcpy(dst, v->str, l);
        dst[l] = '\0';
        return 1;
    }
    return 0;
}

gw_job *gw_job_new(gw_sender *s, const char *channel, const char *id, const redisReply *fields,
                   int *valid) {
    gw_job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->s = s;
    j->mark = -1;
    snprintf(j->ch, sizeof j->ch, "%s", channel);
    snprintf(j->id, sizeof j->id, "%s", id);
    snprintf(j->purpose, sizeof j->purpose, "reply");
    j->t0 = gw_now_ms();
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
        const redisReply *k = fields->element[i], *v = fields->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        if (copy_field(j, k->str, v))
            continue;
        if (!strcmp(k->str, "text") && !j->text && v->len <= GW_JOB_MAX_TEXT) {
            j->text = strndup(v->str, v->len);
            j->text_len = v->len;
        } else if (!strcmp(k->str, "quick") && !j->quick)
            j->quick = strndup(v->str, v->len);
        else if (!strcmp(k->str, "data") && !j->data && v->len <= GW_JOB_MAX_TEXT) {
            j->data = strndup(v->str, v->len);
            j->data_len = j->data ? v->len : 0;
        }
    }
    *valid = j->text && *j->to;
    j->seq = ++s->next_seq;
    j->next = s->jobs;
    if (s->jobs)
        s->jobs->prev = j;
    s->jobs = j;
    s->n_jobs++;
    return j;
}

/* ---- lookups before the first part ---- */

gw_job *gw_job_looked_up(void *priv, const redisReply *r) {
    gw_job *j = priv;
    j->looking = 0;
    if (!r || r->type == REDIS_REPLY_ERROR) {
        gw_job_finish(j);
        return NULL;
    }
    return j;
}

/* The partition of "<channel>:<recipient>", where the citizen's conversation and the
 * delivery records of what was sent to them live. */
static unsigned who_part(const gw_job *j) {
    char who[WHO_MAX];
    int n = snprintf(who, sizeof who, "%s:%s", j->ch, j->to);
    return gw_keyspace_part_of(j->s->app->keys, who, n > 0 ? (size_t)n : 0);
}

/* The citizen's last message on a chat channel, asked for right before the first part
 * of a notification: outside the channel's window the provider would refuse it, so the
 * notification is acknowledged as skipped there and goes on to its next channel. */
static void on_window(gw_store *st, redisReply *r, void *priv) {
    (void)st;
    gw_job *j = gw_job_looked_up(priv, r);
    if (!j)
        return;
    const ch_adapter *ad = ch_adapter_find(j->ch);
    int64_t last = r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : 0;
    if (ad && ad->policy && ad->policy->window_ms > 0 &&
        (!last || gw_now_ms() - last > ad->policy->window_ms)) {
        gw_log(GW_INFO, "send.outside_window", "{s:s, s:s}", "channel", j->ch, "entry", j->id);
        j->skipped = 1;
        gw_job_ack(j, "outside_window");
        return;
    }
    gw_job_start(j);
}

/* The status of the job's broadcast, asked for right before its first part. */
static void on_bc_status(gw_store *st, redisReply *r, void *priv) {
    (void)st;
    gw_job *j = gw_job_looked_up(priv, r);
    if (!j)
        return;
    if (r->type == REDIS_REPLY_STRING && !strcmp(r->str, "cancelled")) {
        gw_log(GW_INFO, "send.cancelled", "{s:s, s:s}", "channel", j->ch, "entry", j->id);
        j->cancelled = 1;
        gw_job_ack(j, NULL);
        return;
    }
    gw_job_start(j);
}

/* What the channel remembers (ch_policy.remembers), asked for right before the first part
 * of a notification: the citizen it could not reach lately (in the citizen's partition),
 * then whether the whole channel is out of its daily quota (a key of its own). Either
 * acknowledges it as skipped: the notification goes on to its next channel at once,
 * without a request the provider would refuse (and may charge for). */
static void on_hold(gw_store *st, redisReply *r, void *priv) {
    (void)st;
    gw_job *j = gw_job_looked_up(priv, r);
    if (!j)
        return;
    if (r->type == REDIS_REPLY_STRING) {
        gw_log(GW_INFO, "send.channel_held", "{s:s, s:s}", "channel", j->ch, "entry", j->id);
        j->skipped = 1;
        gw_job_ack(j, "quota");
        return;
    }
    gw_job_start(j);
}

static void on_unreach(gw_store *st, redisReply *r, void *priv) {
    (void)st;
    gw_job *j = gw_job_looked_up(priv, r);
    if (!j)
        return;
    if (r->type == REDIS_REPLY_STRING) {
        gw_log(GW_INFO, "send.unreachable_remembered", "{s:s, s:s}", "channel", j->ch, "entry",
               j->id);
        j->skipped = 1;
        gw_job_ack(j, "unreachable");
        return;
    }
    char k[GW_KEYS_MAX];
    gw_key(j->s->app->keys, k, sizeof k, GW_K_HOLD, GW_KEY_OWN, j->ch);
    if (!gw_store_cmdf(j->s->app->store, on_hold, j, "GET %s", k))
        j->looking = 1;
    else
        gw_job_start(j);
}

/* The provider's answer taught something to remember (gw_job.c's on_answer): this
 * citizen is unreachable on the channel for [..] unreachable_days, or the channel is
 * out until its quota resets. Fire and forget: a lost write costs one refused request. */
static void remember(gw_job *j, const ch_result *res) {
    const ch_settings *st = gw_channel_conf(j->s->app->cfg, j->ch);
    char k[GW_KEYS_MAX];
    if (res->unreachable && st && st->unreachable_days > 0) {
        gw_key(j->s->app->keys, k, sizeof k, GW_K_UNREACH, who_part(j), j->ch, j->to);
        gw_store_cmdf(j->s->app->store, NULL, NULL, "SET %s %s EX %ld", k, res->reason,
                      st->unreachable_days * 86400L);
    }
    if (res->hold_ms > 0) {
        gw_key(j->s->app->keys, k, sizeof k, GW_K_HOLD, GW_KEY_OWN, j->ch);
        gw_store_cmdf(j->s->app->store, NULL, NULL, "SET %s %s PX %" PRId64, k, res->reason,
                      res->hold_ms);
        gw_log(GW_WARN, "send.channel_hold", "{s:s, s:s, s:I}", "channel", j->ch, "reason",
               res->reason, "ms", (json_int_t)res->hold_ms);
    }
}

/*
 * The number's count of the day came ([sms] max_per_number_per_day, INCR right before the
 * first request; SET NX EX went first so the key always expires). Over the cap the
 * notification waits for the next local day rather than its next channel: the rule is
 * about how often one person is messaged, another channel to the same number (ZNS) would
 * defeat it, and for a citizen known by phone SMS is the last channel anyway. At midnight
 * the scheduler's quiet hours still hold what is not a transaction notice until morning;
 * not_after still expires it.
 */
static void on_day_count(gw_store *st, redisReply *r, void *priv) {
    (void)st;
    gw_job *j = gw_job_looked_up(priv, r);
    if (!j)
        return;
    const ch_settings *cs = gw_channel_conf(j->s->app->cfg, j->ch);
    if (r->type == REDIS_REPLY_INTEGER && cs && r->integer > cs->max_per_day) {
        int64_t now = gw_now_ms();
        int64_t local = now + gw_tz_offset_ms(j->s->app->tz, now);
        j->later_ms = now + (DAY_MS - local % DAY_MS);
        gw_log(GW_INFO, "send.number_capped", "{s:s, s:s, s:I, s:I}", "channel", j->ch, "entry",
               j->id, "count", (json_int_t)r->integer, "until_ms", (json_int_t)j->later_ms);
        gw_job_ack(j, "per_number_day");
        return;
    }
    gw_job_start(j);
}

/* A broadcast recipient that has not left yet first checks that its broadcast
 * was not cancelled meanwhile (DELETE /broadcasts/{id} cancels what the
 * scheduler still holds; this stops what already waits on the stream). A part
 * that may have left (a wire mark) is past cancelling. */
void gw_job_start(gw_job *j) {
    gw_sender *s = j->s;
    const gw_keyspace *ks = s->app->keys;
    long bp = *j->bc ? gw_keyspace_part_of_id(ks, j->bc) : -1;
    if (!j->bc_checked && bp >= 0 && j->part == 0 && j->mark < 0) {
        j->bc_checked = 1;
        char k[GW_KEYS_MAX];
        gw_key(ks, k, sizeof k, GW_K_BC, (unsigned)bp, j->bc);
        if (!gw_store_cmdf(s->app->store, on_bc_status, j, "HGET %s status", k)) {
            j->looking = 1;
            return;
        }
    }
    const ch_adapter *ad = ch_adapter_find(j->ch);
    if (!j->window_checked && *j->notif && ad && ad->policy && ad->policy->window_ms > 0 &&
        j->part == 0 && j->mark < 0) {
        j->window_checked = 1;
        char k[GW_KEYS_MAX];
        gw_key(ks, k, sizeof k, GW_K_CONV, who_part(j), j->ch, j->to);
        if (!gw_store_cmdf(s->app->store, on_window, j, "HGET %s last_in_ms", k)) {
            j->looking = 1;
            return;
        }
    }
    if (!j->remembered_checked && *j->notif && ad && ad->policy && ad->policy->remembers &&
        j->part == 0 && j->mark < 0) {
        j->remembered_checked = 1;
        char k[GW_KEYS_MAX];
        gw_key(ks, k, sizeof k, GW_K_UNREACH, who_part(j), j->ch, j->to);
        if (!gw_store_cmdf(s->app->store, on_unreach, j, "GET %s", k)) {
            j->looking = 1;
            return;
        }
    }
    const ch_settings *cs = gw_channel_conf(s->app->cfg, j->ch);
    if (!j->day_checked && *j->notif && cs && cs->max_per_day > 0 && strcmp(j->urgent, "1") &&
        j->part == 0 && j->mark < 0) {
        j->day_checked = 1;
        char k[GW_KEYS_MAX], day[11];
        int64_t now = gw_now_ms();
        gw_date_of_day(gw_tz_day(s->app->tz, now), day);
        gw_key(ks, k, sizeof k, GW_K_PER_DAY, who_part(j), j->ch, j->to, day);
        gw_store_cmdf(s->app->store, NULL, NULL, "SET %s 0 EX %d NX", k, PER_DAY_TTL_S);
        if (!gw_store_cmdf(s->app->store, on_day_count, j, "INCR %s", k)) {
            j->looking = 1;
            return;
        }
    }
    if (!gw_channel_can_send(s->app->cfg, j->ch)) {
        if (*s->app->cfg->outbox_dir) {
            gw_job_outbox(j);
            return;
        }
        gw_job_ack(j, "channel has no credentials and no outbox");
        return;
    }
    gw_job_send(j);
}

/* ---- render ---- */

void gw_job_text(const gw_job *j, const char **text, size_t *len, char **plain) {
    const gw_app *app = j->s->app;
    const ch_adapter *ad = ch_adapter_find(j->ch);
    const ch_settings *st = gw_channel_conf(app->cfg, j->ch);
    size_t plain_len = 0;
    *text = j->text;
    *len = j->text_len;
    *plain = NULL;
    if (ad && ad->policy && ad->policy->unaccent && st && st->unaccented && app->vn &&
        !vn_unaccent(app->vn, j->text, j->text_len, plain, &plain_len)) {
        *text = *plain;
        *len = plain_len;
    }
}

/* Parses the quick-reply JSON of the entry into q (pointing into *root). */
static size_t quick_of(const gw_job *j, ch_quick *q, size_t max, json_t **root) {
    *root = NULL;
    if (!j->quick)
        return 0;
    json_t *a = json_loads(j->quick, 0, NULL);
    if (!json_is_array(a)) {
        json_decref(a);
        return 0;
    }
    size_t n = 0;
    for (size_t i = 0; i < json_array_size(a) && n < max; i++) {
        const char *t = json_string_value(json_object_get(json_array_get(a, i), "title"));
        const char *p = json_string_value(json_object_get(json_array_get(a, i), "payload"));
        if (t && p)
            q[n++] = (ch_quick){t, p};
    }
    *root = a;
    return n;
}

/* The job's requests into j->parts: 0 or the adapter's MC_E* (reason in err). */
static int job_render(gw_job *j, char *err, size_t errlen) {
    gw_sender *s = j->s;
    const ch_adapter *ad = ch_adapter_find(j->ch);
    if (!ad) {
        snprintf(err, errlen, "no adapter");
        return MC_EINVAL;
    }
    ch_settings st;
    gw_channel_settings(s->app->cfg, j->ch, &st);
    const gw_token *tk = gw_sender_token(s, j->ch);
    if (tk && *gw_token_access(tk))
        st.access_token = gw_token_access(tk);
    ch_quick q[CH_MAX_QUICK];
    json_t *qroot = NULL;
    char *plain;
    ch_outgoing o = {0};
    o.recipient = j->to;
    gw_job_text(j, &o.text, &o.text_len, &plain);
    o.quick = q;
    o.n_quick = quick_of(j, q, CH_MAX_QUICK, &qroot);
    o.purpose = !strcmp(j->purpose, "update") ? CH_PURPOSE_UPDATE : CH_PURPOSE_REPLY;
    o.tag = *j->tag ? j->tag : NULL;
    /* the notification id, the same on every attempt and every process (ZNS echoes it in
     * its delivery event; channels/zns.c says why it is no idempotency guarantee) */
    o.tracking_id = *j->notif ? j->notif : j->id;
    o.data = j->data;
    o.data_len = j->data_len;
    o.reply_to = *j->ref ? j->ref : NULL;
    int rc = ad->render(&st, &o, j->parts, GW_JOB_MAX_PARTS, &j->n_parts, err, errlen);
    if (!rc && j->n_parts && j->parts[0].segments)
        gw_log(GW_INFO, "send.segments", "{s:s, s:s, s:s, s:i}", "channel", j->ch, "entry", j->id,
               "encoding", j->parts[0].encoding ? j->parts[0].encoding : "?", "segments",
               j->parts[0].segments);
    free(plain);
    json_decref(qroot);
    return rc;
}

/* ---- retry, defer ---- */

static int64_t backoff_ms(const gw_sender *s, int attempt) {
    int64_t base = s->app->cfg->scheduler_backoff_base_ms,
            max = s->app->cfg->scheduler_backoff_max_ms;
    int64_t d = base;
    for (int i = 1; i < attempt && d < max; i++)
        d *= 2;
    if (d > max)
        d = max;
    unsigned char r[2];
    RAND_bytes(r, 2);
    /* full jitter on the upper half: [d/2, d) */
    return d / 2 + (d / 2) * ((r[0] << 8) | r[1]) / 65536;
}

static void on_retry_timer(uv_timer_t *t) {
    gw_job_send(t->data);
}

/* gw_job_send again in delay_ms. */
static void job_later(gw_job *j, int64_t delay_ms) {
    if (j->s->draining)
        return; /* stays pending in Redis, unmarked: the next pass sends it */
    if (!j->timer) {
        j->timer = malloc(sizeof *j->timer);
        if (!j->timer) {
            gw_job_finish(j); /* stays pending in Redis: another pass will take it */
            return;
        }
        uv_timer_init(j->s->app->loop, j->timer);
        j->timer->data = j;
    }
    uv_timer_start(j->timer, on_retry_timer, (uint64_t)delay_ms, 0);
}

static void job_retry(gw_job *j, int64_t delay_ms, const char *reason) {
    gw_sender *s = j->s;
    if (j->attempts >= s->app->cfg->scheduler_max_attempts) {
        gw_log(GW_WARN, "send.dead", "{s:s, s:s, s:i, s:s}", "channel", j->ch, "entry", j->id,
               "attempts", j->attempts, "reason", reason);
        gw_job_ack(j, reason);
        return;
    }
    if (delay_ms <= 0)
        delay_ms = backoff_ms(s, j->attempts);
    if (*j->notif) {
        gw_job_note(j, "retry", reason);
        gw_metrics_notif(s->app->metrics, j->ch, "retried");
    }
    gw_log(GW_INFO, "send.retry", "{s:s, s:s, s:i, s:I, s:s}", "channel", j->ch, "entry", j->id,
           "attempt", j->attempts, "delay_ms", (json_int_t)delay_ms, "reason", reason);
    job_later(j, delay_ms);
}

/* The hook stopped the attempt (Redis down or its socket full): not an attempt
 * of the provider, so no retry is counted; again shortly. */
static void job_defer(gw_job *j) {
    j->deferrals++;
    int64_t d = DEFER_MIN_MS;
    for (int i = 1; i < j->deferrals && d < DEFER_MAX_MS; i++)
        d *= 2;
    if (d > DEFER_MAX_MS)
        d = DEFER_MAX_MS;
    gw_log(j->deferrals == 1 ? GW_INFO : GW_DEBUG, "send.deferred", "{s:s, s:s, s:i, s:I}",
           "channel", j->ch, "entry", j->id, "times", j->deferrals, "delay_ms", (json_int_t)d);
    job_later(j, d);
}

/* Every part up to the last was on the wire in an earlier life: done, unconfirmed. */
static void job_unconfirmed(gw_job *j) {
    gw_log(GW_WARN, "send.unconfirmed", "{s:s, s:s, s:i, s:s}", "channel", j->ch, "entry", j->id,
           "parts", (int)j->n_parts, "note", GW_UNCONFIRMED_NOTE);
    j->unconfirmed = 1;
    gw_job_ack(j, NULL);
}

/* ---- send, classify ---- */

/* The provider accepted the current part: its delivery record, then the next. */
static void part_sent(gw_job *j, const ch_result *res, double elapsed_ms) {
    gw_sender *s = j->s;
    j->unsure = 0;
    snprintf(j->pid, sizeof j->pid, "%s", *res->provider_id ? res->provider_id : j->id);
    /* in the citizen's partition, where the receipts for it arrive; written before the
     * acknowledgement, which it does not need to be atomic with (a pass that sends
     * again after a crash writes it again) */
    char dk[GW_KEYS_MAX];
    gw_key(s->app->keys, dk, sizeof dk, GW_K_DLV, who_part(j), j->ch, j->pid);
    gw_store_cmdf(s->app->store, NULL, NULL,
                  "HSET %s status sent entry %s ref %s notif %s at %" PRId64, dk, j->id,
                  *j->ref ? j->ref : "-", *j->notif ? j->notif : "-", gw_now_ms());
    gw_store_cmdf(s->app->store, NULL, NULL, "EXPIRE %s %d", dk, DLV_TTL_S);
    gw_metrics_msg_out(s->app->metrics, j->ch);
    gw_log(GW_INFO, "send.sent", "{s:s, s:s, s:i, s:f}", "channel", j->ch, "entry", j->id, "part",
           (int)j->part, "ms", elapsed_ms);
    j->part++;
    j->attempts = 0;
    if (j->part < j->n_parts)
        gw_job_send(j);
    else
        gw_job_ack(j, NULL);
}

static void on_answer(void *arg, const gw_httpc_resp *r) {
    gw_job *j = arg;
    gw_sender *s = j->s;
    j->in_http = 0;
    if (s->closing)
        return;
    if (j->refused) {
        j->refused = 0;
        if (r->on_wire)
            j->unsure = 1; /* refused on curl's second try: the first one had left */
        else
            gw_mark_take_back(j); /* the queued mark may still land: take it back behind it */
        job_defer(j);
        return;
    }
    j->deferrals = 0;
    const ch_adapter *ad = ch_adapter_find(j->ch);
    ch_result res;
    memset(&res, 0, sizeof res);
    ad->classify(r->status, r->body, r->body_len, r->retry_after, &res);
    if (res.verdict == CH_SENT) {
        part_sent(j, &res, r->elapsed_ms);
        return;
    }
    if (r->status > 0 || !r->on_wire)
        gw_mark_take_back(j); /* the provider answered no, or the request never left */
    else
        j->unsure = 1; /* it left and no answer came: the provider may have it */
    j->attempts++;
    if (res.verdict == CH_RETRY) {
        job_retry(j, res.retry_after_ms, *res.reason ? res.reason : "retry");
        return;
    }
    gw_token *tk = gw_sender_token(s, j->ch);
    if (res.token_error && tk && !j->token_retried) {
        j->token_retried = 1;
        j->waiting_token = 1;
        gw_log(GW_WARN, "send.token_error", "{s:s, s:s}", "channel", j->ch, "detail", res.detail);
        gw_token_refresh(tk);
        return;
    }
    gw_log(GW_WARN, "send.permanent", "{s:s, s:s, s:s, s:s}", "channel", j->ch, "entry", j->id,
           "reason", res.reason, "detail", res.detail);
    if (*j->notif)
        remember(j, &res);
    if (res.final && *j->notif) {
        /* the notification itself cannot go (its provider template was disabled): dead,
         * not the next channel; the department sees it in its dead list with the reason */
        j->final = 1;
        gw_log(GW_WARN, "send.notification_dead", "{s:s, s:s, s:s, s:s}", "channel", j->ch, "notif",
               j->notif, "reason", res.reason, "detail", res.detail);
    }
    gw_job_ack(j, *res.reason ? res.reason : "permanent");
}

void gw_job_send(gw_job *j) {
    gw_sender *s = j->s;
    char err[RENDER_ERR_MAX];
    if (j->n_parts == 0) {
        int rc = job_render(j, err, sizeof err);
        if (rc || j->n_parts == 0) {
            gw_log(GW_WARN, "send.render_failed", "{s:s, s:s, s:s}", "channel", j->ch, "entry",
                   j->id, "error", rc ? err : "nothing to send");
            gw_job_ack(j, rc ? err : "empty");
            return;
        }
    }
    if (j->part >= j->n_parts) { /* resumed from a mark on the last part */
        job_unconfirmed(j);
        return;
    }
    if (s->draining)
        return; /* the next part waits for the next pass (the mark names the last sent) */
    if (gw_httpc_send_hooked(s->http, &j->parts[j->part], j->ch, on_answer, gw_mark_before_send,
                             j)) {
        j->attempts++;
        job_retry(j, 0, "local_queue_full");
    } else
        j->in_http = 1;
}

void gw_job_token_fresh(void *sender) {
    gw_sender *s = sender;
    for (gw_job *j = s->jobs, *next; j; j = next) {
        next = j->next;
        if (j->waiting_token) {
            j->waiting_token = 0;
            for (size_t i = 0; i < j->n_parts; i++)
                ch_http_clear(&j->parts[i]);
            j->n_parts = 0; /* render again with the new token */
            gw_job_send(j);
        }
    }
}
